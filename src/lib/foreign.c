/* Other tools' certificates on cameras: recognised by the bracketed header ACS and ADM put in
 * their names, recorded as tasks see them, removed on request (`https update --clean`). */
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "vmspki/foreign.h"
#include "vmspki/x509info.h"

int
vp_foreign_alias(const char *alias)
{
	size_t i;

	if (alias == NULL || alias[0] != '[')
		return 0;
	for (i = 1; i <= 4 && isalpha((unsigned char)alias[i]); i++)
		;
	return i > 1 && alias[i] == ']';
}

static void
name_line(const X509_NAME *n, char *buf, size_t len)
{
	BIO *b = BIO_new(BIO_s_mem());
	int r;

	buf[0] = '\0';
	if (b == NULL)
		return;
	if (X509_NAME_print_ex(b, n, 0, XN_FLAG_RFC2253) >= 0 &&
	    (r = BIO_read(b, buf, (int)len - 1)) > 0)
		buf[r] = '\0';
	BIO_free(b);
}

char *
vp_foreign_from_list(const vp_dev_cert *certs, size_t n, const char *const *skip)
{
	json_t *a = json_array();
	char *out = NULL;

	if (a == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		const vp_dev_cert *c = &certs[i];
		char subj[256] = "", iss[256] = "";
		int64_t na = 0;
		int skipped = 0;

		if (!vp_foreign_alias(c->alias))
			continue;
		for (size_t k = 0; skip != NULL && skip[k] != NULL; k++)
			skipped |= strcmp(skip[k], c->alias) == 0;
		if (skipped)
			continue;
		if (c->pem != NULL) {
			BIO *b = BIO_new_mem_buf(c->pem, -1);
			X509 *x = b != NULL ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;

			if (x != NULL) {
				name_line(X509_get_subject_name(x), subj, sizeof(subj));
				name_line(X509_get_issuer_name(x), iss, sizeof(iss));
				na = vp_asn1_time_unix(X509_get0_notAfter(x));
			}
			X509_free(x);
			BIO_free(b);
			ERR_clear_error();
		}
		if (json_array_append_new(a, json_pack("{s:s, s:s, s:s, s:I}", "alias", c->alias,
		    "subject", subj, "issuer", iss, "not_after", (json_int_t)na)) != 0)
			goto out;
	}
	out = json_dumps(a, JSON_COMPACT);
out:
	json_decref(a);
	return out;
}

vp_err
vp_foreign_record(vp_store *s, int64_t dev_id, const char *certs_json, const char *cas_json,
    vp_error *e)
{
	char k[64];
	vp_err rc = VP_OK;

	if (certs_json != NULL) {
		snprintf(k, sizeof(k), "foreign.certs.%" PRId64, dev_id);
		rc = vp_store_kv_put(s, k, certs_json, strlen(certs_json), e);
	}
	if (rc == VP_OK && cas_json != NULL) {
		snprintf(k, sizeof(k), "foreign.cas.%" PRId64, dev_id);
		rc = vp_store_kv_put(s, k, cas_json, strlen(cas_json), e);
	}
	return rc;
}

vp_err
vp_foreign_forget(vp_store *s, int64_t dev_id, vp_error *e)
{
	char k[64];
	vp_err rc;

	snprintf(k, sizeof(k), "foreign.certs.%" PRId64, dev_id);
	if ((rc = vp_store_kv_delete(s, k, e)) != VP_OK)
		return rc;
	snprintf(k, sizeof(k), "foreign.cas.%" PRId64, dev_id);
	return vp_store_kv_delete(s, k, e);
}

static json_t *
recorded(vp_store *s, const char *what, int64_t dev_id, int *seen)
{
	char k[64];
	unsigned char *v = NULL;
	size_t len = 0;
	json_t *a = NULL;

	snprintf(k, sizeof(k), "foreign.%s.%" PRId64, what, dev_id);
	if (vp_store_kv_get(s, k, &v, &len, NULL) == VP_OK) {
		a = json_loadb((const char *)v, len, 0, NULL);
		*seen = 1;
	}
	free(v);
	if (!json_is_array(a)) {
		json_decref(a);
		a = json_array();
	}
	return a;
}

json_t *
vp_foreign_json(vp_store *s, int64_t dev_id)
{
	int seen = 0;
	json_t *c = recorded(s, "certs", dev_id, &seen);
	json_t *a = recorded(s, "cas", dev_id, &seen);

	if (c == NULL || a == NULL) {
		json_decref(c);
		json_decref(a);
		return NULL;
	}
	return json_pack("{s:o, s:o, s:b}", "certificates", c, "ca_certificates", a, "seen", seen);
}

vp_err
vp_foreign_clean_task(vp_store *s, const vp_task_opts *o, const int64_t *ids, size_t n,
    int all, const char *actor, int64_t *id, vp_error *e)
{
	char k[64];
	vp_err rc;

	if ((rc = vp_store_begin(s, e)) != VP_OK)
		return rc;
	if ((rc = vp_task_create(s, o, ids, n, all, actor, id, e)) != VP_OK)
		goto fail;
	snprintf(k, sizeof(k), "foreign.clean.%" PRId64, *id);
	if ((rc = vp_store_kv_put(s, k, "1", 1, e)) != VP_OK)
		goto fail;
	return vp_store_commit(s, e);
fail:
	vp_store_rollback(s);
	return rc;
}

int
vp_foreign_clean_wanted(vp_store *s, int64_t id)
{
	char k[64];
	unsigned char *v = NULL;
	size_t len = 0;
	int yes;

	snprintf(k, sizeof(k), "foreign.clean.%" PRId64, id);
	yes = vp_store_kv_get(s, k, &v, &len, NULL) == VP_OK;
	free(v);
	return yes;
}
