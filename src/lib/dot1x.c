/* IEEE 802.1X for cameras: the EAP CA (which CA the cameras trust for the RADIUS server, kept
 * in key_value "dot1x.eap_ca"; the site CA when unset) and the FreeRADIUS configuration. */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "vmspki/dot1x.h"
#include "vmspki/issue.h"
#include "vmspki/util.h"

#define KV_EAP_CA "dot1x.eap_ca"
#define EAP_CA_MAX (64u * 1024u)

vp_err
vp_dot1x_eap_ca(vp_store *s, char **pem, vp_error *e)
{
	unsigned char *v = NULL;
	size_t len = 0;
	vp_err rc;

	*pem = NULL;
	rc = vp_store_kv_get(s, KV_EAP_CA, &v, &len, e);
	if (rc == VP_ERR_NOTFOUND)
		return VP_OK;
	if (rc != VP_OK)
		return rc;
	if ((*pem = malloc(len + 1)) == NULL) {
		free(v);
		return vp_error_set(e, VP_ERR_NOMEM, "out of memory");
	}
	memcpy(*pem, v, len);
	(*pem)[len] = '\0';
	free(v);
	return VP_OK;
}

vp_err
vp_dot1x_set_eap_ca(vp_store *s, const char *pem, size_t len, const char *actor, vp_error *e)
{
	BIO *b = NULL;
	X509 *x = NULL, *extra = NULL;
	char *norm = NULL, fp[65] = "", detail[160];
	long n;
	vp_err rc;

	if (pem != NULL) {
		if (len == 0 || len > EAP_CA_MAX || (b = BIO_new_mem_buf(pem, (int)len)) == NULL ||
		    (x = PEM_read_bio_X509(b, NULL, NULL, NULL)) == NULL) {
			rc = vp_error_set(e, VP_ERR_INVALID, "the EAP CA file holds no PEM "
			    "certificate: give the CA certificate that signed the RADIUS server's "
			    "certificate");
			goto out;
		}
		if ((extra = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL) {
			rc = vp_error_set(e, VP_ERR_INVALID, "the EAP CA file holds more than one "
			    "certificate: give only the CA that signed the RADIUS server's certificate");
			goto out;
		}
		if (X509_check_ca(x) < 1) {
			rc = vp_error_set(e, VP_ERR_INVALID, "the EAP CA certificate is not a CA "
			    "(no basicConstraints CA:TRUE): give the CA that signed the RADIUS "
			    "server's certificate, not the server certificate itself");
			goto out;
		}
		BIO_free(b);
		if ((b = BIO_new(BIO_s_mem())) == NULL || PEM_write_bio_X509(b, x) != 1 ||
		    (n = BIO_get_mem_data(b, &norm)) <= 0) {
			rc = vp_error_set(e, VP_ERR_NOMEM, "out of memory");
			goto out;
		}
		if ((rc = vp_x509_fingerprint(x, "SHA256", fp, sizeof(fp), e)) != VP_OK)
			goto out;
		len = (size_t)n;
	}
	if ((rc = vp_store_begin(s, e)) != VP_OK)
		goto out;
	rc = pem != NULL ? vp_store_kv_put(s, KV_EAP_CA, norm, len, e) :
	    vp_store_kv_delete(s, KV_EAP_CA, e);
	if (rc == VP_ERR_NOTFOUND && pem == NULL)
		rc = VP_OK;
	snprintf(detail, sizeof(detail), "802.1X EAP CA: %s", pem != NULL ? fp : "the site CA");
	if (rc == VP_OK)
		rc = vp_store_audit_append(s, actor != NULL ? actor : "unknown", "dot1x.eap_ca",
		    NULL, detail, e);
	if (rc == VP_OK)
		rc = vp_store_commit(s, e);
	else
		vp_store_rollback(s);
out:
	ERR_clear_error();
	X509_free(x);
	X509_free(extra);
	BIO_free(b);
	return rc;
}

/* ---- the RADIUS server ---- */

/* Writes name under dir (absolute) from the NUL-terminated text. */
static vp_err
write_in(const char *dir, const char *name, const char *text, mode_t mode, char *path,
    size_t n, vp_error *e)
{
	if ((size_t)snprintf(path, n, "%s/%s", dir, name) >= n)
		return vp_error_set(e, VP_ERR_INVALID, "the output directory's path is too long");
	return vp_file_write_atomic(path, text, strlen(text), mode, e);
}

/* A path inside a FreeRADIUS configuration: no quote, backslash or control character. */
static int
conf_path_ok(const char *p)
{
	for (; *p != '\0'; p++)
		if (*p == '"' || *p == '\\' || *p == '$' || (unsigned char)*p < 0x20 || *p == 0x7f)
			return 0;
	return 1;
}

vp_err
vp_dot1x_radius_config(vp_store *s, const vp_ca *ca, const vp_radius_opts *o,
    const char *actor, char *serial, vp_error *e)
{
	vp_issue_req req;
	vp_issued *is = NULL;
	STACK_OF(X509) *chain = NULL;
	char *leaf = NULL, *chainpem = NULL, *keypem = NULL, *full = NULL, *eap = NULL;
	char dir[PATH_MAX], p_cert[PATH_MAX + 16], p_key[PATH_MAX + 16], p_ca[PATH_MAX + 16];
	char p_eap[PATH_MAX + 16];
	size_t len, keylen = 0, leaflen;
	vp_err rc;
	int n;

	serial[0] = '\0';
	if (o->out_dir == NULL || o->out_dir[0] == '\0')
		return vp_error_set(e, VP_ERR_INVALID, "give the directory to write the FreeRADIUS "
		    "files into (--out DIR)");
	if (o->nnames + o->nips == 0)
		return vp_error_set(e, VP_ERR_INVALID, "give the RADIUS server's names or addresses "
		    "(--name HOST, --ip ADDR): its certificate names them");
	if ((rc = vp_mkdir_p(o->out_dir, 0755, e)) != VP_OK)
		return rc;
	if (realpath(o->out_dir, dir) == NULL)
		return vp_error_set(e, VP_ERR_IO, "cannot resolve the directory %s: %s", o->out_dir,
		    strerror(errno));
	if (!conf_path_ok(dir))
		return vp_error_set(e, VP_ERR_INVALID, "the directory %s has a quote, backslash, $ "
		    "or control character, which a FreeRADIUS configuration cannot name", dir);
	memset(&req, 0, sizeof(req));
	req.profile = "radius-server";
	req.generate_key = 1;
	req.cn = o->nnames > 0 ? o->names[0] : o->ips[0];
	req.dns = o->names;
	req.ndns = o->nnames;
	req.ip = o->ips;
	req.nip = o->nips;
	req.days = o->days;
	req.owner_kind = "radius";
	req.owner_id = req.cn;
	if ((rc = vp_issue_sign(ca, &req, &is, e)) != VP_OK)
		goto out;
	if ((chain = vp_ca_chain_full(ca)) == NULL) {
		rc = vp_error_set(e, VP_ERR_NOMEM, "out of memory");
		goto out;
	}
	if ((rc = vp_x509_chain_to_pem(chain, &chainpem, &len, e)) != VP_OK ||
	    (rc = vp_key_to_pem(is->key, &keypem, &keylen, e)) != VP_OK)
		goto out;
	leaf = is->rec.pem;
	leaflen = strlen(leaf);
	if ((full = malloc(leaflen + len + 1)) == NULL) {
		rc = vp_error_set(e, VP_ERR_NOMEM, "out of memory");
		goto out;
	}
	memcpy(full, leaf, leaflen);
	memcpy(full + leaflen, chainpem, len + 1);
	snprintf(p_cert, sizeof(p_cert), "%s/radius.pem", dir);
	snprintf(p_key, sizeof(p_key), "%s/radius.key", dir);
	snprintf(p_ca, sizeof(p_ca), "%s/ca.pem", dir);
	/* tls-config: EAP-TLS only; the client's chain must end at ca_file, and its CN must be
	 * the identity it gave (User-Name). TLS 1.2: FreeRADIUS 3.2 calls EAP-TLS over 1.3
	 * experimental. */
	n = asprintf(&eap,
	    "# FreeRADIUS 3 eap module written by vmspki dot1x radius-config: EAP-TLS only, for\n"
	    "# cameras holding an 802.1X certificate from the site CA. Replaces\n"
	    "# mods-available/eap; the files it names must be readable by the user radiusd runs as.\n"
	    "eap {\n"
	    "\tdefault_eap_type = tls\n"
	    "\ttimer_expire = 60\n"
	    "\tignore_unknown_eap_types = no\n"
	    "\tcisco_accounting_username_bug = no\n"
	    "\tmax_sessions = ${max_requests}\n"
	    "\ttls-config tls-common {\n"
	    "\t\tprivate_key_file = \"%s\"\n"
	    "\t\tcertificate_file = \"%s\"\n"
	    "\t\tca_file = \"%s\"\n"
	    "\t\tauto_chain = no\n"
	    "\t\tcipher_list = \"DEFAULT\"\n"
	    "\t\tcipher_server_preference = no\n"
	    "\t\ttls_min_version = \"1.2\"\n"
	    "\t\ttls_max_version = \"1.2\"\n"
	    "\t\tecdh_curve = \"\"\n"
	    "\t\tcheck_crl = no\n"
	    "\t\tcheck_cert_cn = %%{User-Name}\n"
	    "\t\trandom_file = /dev/urandom\n"
	    "\t\tfragment_size = 1024\n"
	    "\t\tinclude_length = yes\n"
	    "\t\tcache {\n"
	    "\t\t\tenable = no\n"
	    "\t\t}\n"
	    "\t\tverify {\n"
	    "\t\t}\n"
	    "\t}\n"
	    "\ttls {\n"
	    "\t\ttls = tls-common\n"
	    "\t}\n"
	    "}\n", p_key, p_cert, p_ca);
	if (n < 0) {
		eap = NULL;
		rc = vp_error_set(e, VP_ERR_NOMEM, "out of memory");
		goto out;
	}
	/* The certificate is recorded before any file names it. */
	if ((rc = vp_issue_record(s, &is, 1, actor, e)) != VP_OK)
		goto out;
	snprintf(serial, 64, "%s", is->rec.serial);
	if ((rc = write_in(dir, "radius.key", keypem, 0600, p_key, sizeof(p_key), e)) != VP_OK ||
	    (rc = write_in(dir, "radius.pem", full, 0644, p_cert, sizeof(p_cert), e)) != VP_OK ||
	    (rc = write_in(dir, "ca.pem", chainpem, 0644, p_ca, sizeof(p_ca), e)) != VP_OK ||
	    (rc = write_in(dir, "eap", eap, 0644, p_eap, sizeof(p_eap), e)) != VP_OK)
		goto out;
out:
	if (keypem != NULL)
		vp_secret_free(keypem, keylen);
	sk_X509_free(chain);
	free(chainpem);
	free(full);
	free(eap);
	vp_issued_free(is);
	return rc;
}

/* ---- each device's state ---- */

vp_err
vp_dot1x_states(vp_store *s, vp_dot1x_state **out, size_t *n, vp_error *e)
{
	return vp_store_dot1x_states(s, out, n, e);
}

const vp_dot1x_state *
vp_dot1x_state_find(const vp_dot1x_state *v, size_t n, int64_t id)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (v[mid].device_id == id)
			return &v[mid];
		if (v[mid].device_id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}
