/* What the front ends show about a certificate: names, serial, validity, key and fingerprints,
 * computed once here so that the REST API and the CLI say the same thing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/x509v3.h>

#include "vmspki/issue.h"
#include "vmspki/util.h"
#include "vmspki/x509info.h"

void
vp_key_describe(EVP_PKEY *key, char *buf, size_t n)
{
	char group[64];
	size_t glen = 0;

	if (key == NULL) {
		snprintf(buf, n, "unknown");
		return;
	}
	switch (EVP_PKEY_get_base_id(key)) {
	case EVP_PKEY_RSA:
	case EVP_PKEY_RSA_PSS:
		snprintf(buf, n, "RSA %d", EVP_PKEY_get_bits(key));
		return;
	case EVP_PKEY_EC:
		if (EVP_PKEY_get_group_name(key, group, sizeof(group), &glen) != 1)
			snprintf(buf, n, "EC %d", EVP_PKEY_get_bits(key));
		else if (strcmp(group, "prime256v1") == 0 || strcmp(group, "P-256") == 0)
			snprintf(buf, n, "EC P-256");
		else if (strcmp(group, "secp384r1") == 0 || strcmp(group, "P-384") == 0)
			snprintf(buf, n, "EC P-384");
		else if (strcmp(group, "secp521r1") == 0 || strcmp(group, "P-521") == 0)
			snprintf(buf, n, "EC P-521");
		else
			snprintf(buf, n, "EC %s", group);
		return;
	case EVP_PKEY_ED25519:
		snprintf(buf, n, "Ed25519");
		return;
	case EVP_PKEY_ED448:
		snprintf(buf, n, "Ed448");
		return;
	default:
		snprintf(buf, n, "%s", EVP_PKEY_get0_type_name(key) != NULL ?
		    EVP_PKEY_get0_type_name(key) : "unknown");
	}
}

vp_err
vp_x509_serial_hex(const X509 *x, char *buf, size_t n, vp_error *e)
{
	BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
	char *hex = NULL, *p;
	vp_err rc = VP_OK;
	size_t i;

	if (bn == NULL || (hex = BN_bn2hex(bn)) == NULL) {
		rc = vp_error_ssl(e, VP_ERR_CRYPTO, "cannot read the serial number");
		goto out;
	}
	for (p = hex; *p == '0' && p[1] != '\0'; p++)
		;
	if (strlen(p) >= n) {
		rc = vp_error_set(e, VP_ERR_INVALID, "serial number longer than 20 octets");
		goto out;
	}
	for (i = 0; p[i] != '\0'; i++)
		buf[i] = (char)(p[i] >= 'A' && p[i] <= 'F' ? p[i] - 'A' + 'a' : p[i]);
	buf[i] = '\0';
out:
	OPENSSL_free(hex);
	BN_free(bn);
	return rc;
}

char *
vp_x509_name_str(const X509_NAME *name)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *p, *out = NULL;
	long len;

	if (b == NULL)
		return NULL;
	if (X509_NAME_print_ex(b, name, 0, XN_FLAG_RFC2253) >= 0 &&
	    (len = BIO_get_mem_data(b, &p)) >= 0 && (out = malloc((size_t)len + 1)) != NULL) {
		memcpy(out, p, (size_t)len);
		out[len] = '\0';
	}
	BIO_free(b);
	return out;
}

void
vp_x509_info_clear(vp_x509_info *i)
{
	if (i == NULL)
		return;
	free(i->subject);
	free(i->issuer);
	free(i->sans);
	memset(i, 0, sizeof(*i));
}

vp_err
vp_x509_info_get(X509 *x, vp_x509_info *out, vp_error *e)
{
	vp_cert_rec r;
	vp_err rc;

	memset(out, 0, sizeof(*out));
	if ((rc = vp_cert_rec_from_x509(x, &r, e)) != VP_OK)
		return rc;
	memcpy(out->serial, r.serial, sizeof(out->serial));
	memcpy(out->sha256, r.fingerprint, sizeof(out->sha256));
	out->not_before = r.not_before;
	out->not_after = r.not_after;
	out->subject = r.subject;
	out->sans = r.sans;
	r.subject = NULL;
	r.sans = NULL;
	vp_cert_rec_clear(&r);
	if ((out->issuer = vp_x509_name_str(X509_get_issuer_name(x))) == NULL) {
		rc = vp_error_set(e, VP_ERR_NOMEM, "out of memory");
		goto out;
	}
	if ((rc = vp_x509_fingerprint(x, "SHA1", out->sha1, sizeof(out->sha1), e)) != VP_OK)
		goto out;
	vp_key_describe(X509_get0_pubkey(x), out->key, sizeof(out->key));
	out->is_ca = X509_check_ca(x) == 1;
	out->self_signed = X509_check_issued(x, x) == X509_V_OK;
out:
	if (rc != VP_OK)
		vp_x509_info_clear(out);
	return rc;
}

const char *
vp_cert_rec_status(const vp_cert_rec *r, int64_t now)
{
	if (strcmp(r->status, "revoked") == 0)
		return "revoked";
	return r->not_after <= now ? "expired" : "valid";
}
