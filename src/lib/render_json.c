/* JSON renderings shared by the CLI (--json) and the REST API: the values every module's
 * renderer uses, and the certificates (facts, stored, just issued) that several resources
 * show. The modules render their own objects (vp_json_device in device_json.c, ...). */
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "vmspki/render_json.h"
#include "vmspki/util.h"
#include "vmspki/x509info.h"

json_t *
vp_json_str(const char *s)
{
	json_t *v;
	char *copy;

	if (s == NULL)
		return json_null();
	if ((v = json_string(s)) != NULL)
		return v;
	/* Not UTF-8 (a subject from an odd CSR): keep the ASCII, replace the rest. */
	if ((copy = vp_strdup(s)) == NULL)
		return NULL;
	for (unsigned char *p = (unsigned char *)copy; *p; p++)
		if (*p >= 0x80)
			*p = '?';
	v = json_string(copy);
	free(copy);
	return v;
}

json_t *
vp_json_str_or_null(const char *s)
{
	return s != NULL && s[0] != '\0' ? vp_json_str(s) : json_null();
}

json_t *
vp_json_time(int64_t t)
{
	char buf[40];

	vp_time_iso(t, buf, sizeof(buf));
	return json_string(buf);
}

json_t *
vp_json_sans(const char *sans)
{
	json_t *a = json_array();
	const char *p = sans != NULL ? sans : "";

	if (a == NULL)
		return NULL;
	while (*p != '\0') {
		const char *end = strstr(p, ", ");
		size_t n = end != NULL ? (size_t)(end - p) : strlen(p);
		char *one = strndup(p, n);

		if (one == NULL || json_array_append_new(a, vp_json_str(one)) != 0) {
			free(one);
			json_decref(a);
			return NULL;
		}
		free(one);
		p += n;
		if (end != NULL)
			p += 2;
	}
	return a;
}

vp_err
vp_json_x509(X509 *x, json_t *o, vp_error *e)
{
	vp_x509_info i;
	vp_err rc;
	int bad = 0;

	if ((rc = vp_x509_info_get(x, &i, e)) != VP_OK)
		return rc;
	bad |= json_object_set_new(o, "subject", vp_json_str(i.subject));
	bad |= json_object_set_new(o, "issuer", vp_json_str(i.issuer));
	bad |= json_object_set_new(o, "serial", json_string(i.serial));
	bad |= json_object_set_new(o, "not_before", vp_json_time(i.not_before));
	bad |= json_object_set_new(o, "not_after", vp_json_time(i.not_after));
	bad |= json_object_set_new(o, "key", json_string(i.key));
	bad |= json_object_set_new(o, "sha256", json_string(i.sha256));
	bad |= json_object_set_new(o, "sha1", json_string(i.sha1));
	vp_x509_info_clear(&i);
	return bad ? vp_error_set(e, VP_ERR_NOMEM, "out of memory") : VP_OK;
}

int
vp_json_append(json_t *array, json_t *v)
{
	return json_array_append_new(array, v) != 0 ? VP_ERR_NOMEM : 0;
}

json_t *
vp_json_done(json_t *o, int bad)
{
	if (!bad)
		return o;
	json_decref(o);
	return NULL;
}

/* The fields a stored and a new certificate start with: non-zero when out of memory. */
static int
rec_head(json_t *o, const vp_cert_rec *r, const char *profile)
{
	int bad = 0;

	bad |= json_object_set_new(o, "serial", json_string(r->serial));
	bad |= json_object_set_new(o, "profile", vp_json_str(profile));
	bad |= json_object_set_new(o, "subject", vp_json_str(r->subject));
	bad |= json_object_set_new(o, "sans", vp_json_sans(r->sans));
	bad |= json_object_set_new(o, "not_before", vp_json_time(r->not_before));
	bad |= json_object_set_new(o, "not_after", vp_json_time(r->not_after));
	return bad;
}

json_t *
vp_json_cert_rec(const vp_cert_rec *r, int64_t now)
{
	json_t *o = json_object();
	int bad = o == NULL;

	bad |= rec_head(o, r, r->profile);
	bad |= json_object_set_new(o, "status", json_string(vp_cert_rec_status(r, now)));
	bad |= json_object_set_new(o, "fingerprint", json_string(r->fingerprint));
	bad |= json_object_set_new(o, "issuer_fingerprint", json_string(r->issuer_fp));
	bad |= json_object_set_new(o, "owner_kind", vp_json_str_or_null(r->owner_kind));
	bad |= json_object_set_new(o, "owner_id", vp_json_str_or_null(r->owner_id));
	bad |= json_object_set_new(o, "issued_at", vp_json_time(r->issued_at));
	if (r->revoked_at != 0) {
		bad |= json_object_set_new(o, "revoked_at", vp_json_time(r->revoked_at));
		bad |= json_object_set_new(o, "revocation_reason", json_integer(r->revocation_reason));
	}
	return vp_json_done(o, bad);
}

typedef struct cert_list {
	json_t *array;
	int64_t now;
	vp_error *e;
} cert_list;

static int
cert_list_add(const vp_cert_rec *r, void *arg)
{
	cert_list *l = arg;

	if (json_array_append_new(l->array, vp_json_cert_rec(r, l->now)) != 0)
		return vp_error_set(l->e, VP_ERR_NOMEM, "out of memory");
	return 0;
}

vp_err
vp_json_cert_list(vp_store *s, const vp_cert_filter *f, int64_t now, json_t **out,
    vp_error *e)
{
	cert_list l = { json_array(), now, e };
	vp_err rc;

	*out = NULL;
	if (l.array == NULL)
		return vp_error_set(e, VP_ERR_NOMEM, "out of memory");
	if ((rc = vp_store_cert_list(s, f, cert_list_add, &l, e)) != VP_OK) {
		json_decref(l.array);
		return rc;
	}
	*out = l.array;
	return VP_OK;
}

json_t *
vp_json_issued(const vp_issued *is, const char *profile)
{
	json_t *o = json_object();
	int bad = o == NULL;

	bad |= rec_head(o, &is->rec, profile);
	bad |= json_object_set_new(o, "clamped", json_boolean(is->clamped));
	bad |= json_object_set_new(o, "fingerprint", json_string(is->rec.fingerprint));
	return vp_json_done(o, bad);
}
