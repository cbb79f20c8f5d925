/* IEEE 802.1X for cameras: the EAP CA (which CA the cameras trust for the RADIUS server, kept
 * in key_value "dot1x.eap_ca"; the site CA when unset) and the FreeRADIUS configuration. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "vmspki/dot1x.h"
#include "vmspki/issue.h"

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
