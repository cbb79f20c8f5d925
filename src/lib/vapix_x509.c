/* Certificates and CSRs between the VAPIX driver and the device: REST speaks PEM, SOAP base64
 * DER. Whatever the device sends is parsed with OpenSSL and written out again as PEM, so that
 * callers only ever see well-formed PEM.
 *
 * Certificates are read in a library context that holds only the null provider. The
 * structure is checked exactly as d2i_X509 checks it, but OpenSSL 3.0 then finds no decoder
 * for the public key and leaves it as bytes, where the default context builds a decoder
 * context over every provider for each certificate: in `https enable` that was 12 % of
 * vmspki's CPU (certificate lists, the certificate to install), for nothing, since d2i_X509
 * accepts a certificate whose key it cannot decode anyway and callers that need the key parse
 * the PEM again. The PEM written is that of the very bytes checked. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "internal.h"
#include "vapix_internal.h"

/* Whether der..der+len is exactly one X.509 certificate (structure, not the key). */
static int
der_is_cert(const unsigned char *der, size_t len)
{
	const unsigned char *p = der;
	OSSL_LIB_CTX *ctx;
	X509 *x;
	int ok;

	if (len == 0 || len > INT_MAX)
		return 0;
	if ((ctx = vp_nodecode_ctx()) != NULL)
		x = (X509 *)ASN1_item_d2i_ex(NULL, &p, (long)len, ASN1_ITEM_rptr(X509), ctx, NULL);
	else
		x = d2i_X509(NULL, &p, (long)len);
	ok = x != NULL && p == der + len;     /* trailing bytes: not one certificate */
	X509_free(x);
	ERR_clear_error();
	return ok;
}

/* The first certificate of PEM text as DER (OPENSSL_free it), or NULL. */
static unsigned char *
pem_cert_der(const char *text, size_t len, long *der_len)
{
	BIO *b = BIO_new_mem_buf(text, (int)len);
	unsigned char *der = NULL;
	char *name = NULL;

	if (b == NULL || len > INT_MAX ||
	    PEM_bytes_read_bio(&der, der_len, &name, PEM_STRING_X509, b, NULL, NULL) != 1)
		der = NULL;
	OPENSSL_free(name);
	BIO_free(b);
	ERR_clear_error();
	return der;
}

/* PEM of DER bytes under label. */
static char *
der_to_pem(const char *label, const unsigned char *der, size_t len)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *s = NULL, *data;
	long n;

	if (b != NULL && len <= INT_MAX && PEM_write_bio(b, label, "", der, (long)len) > 0 &&
	    (n = BIO_get_mem_data(b, &data)) > 0 && (s = malloc((size_t)n + 1)) != NULL) {
		memcpy(s, data, (size_t)n);
		s[n] = '\0';
	}
	BIO_free(b);
	return s;
}

/* Base64 (whitespace allowed) into a new buffer; NULL on bad input. */
static unsigned char *
b64_decode(const char *text, size_t len, size_t *out_len)
{
	EVP_ENCODE_CTX *ctx = NULL;
	unsigned char *out = NULL;
	int n = 0, fin = 0;

	if (len == 0 || len > VX_MAX_PEM || (ctx = EVP_ENCODE_CTX_new()) == NULL)
		return NULL;
	if ((out = malloc(len / 4 * 3 + 4)) == NULL)
		goto bad;
	EVP_DecodeInit(ctx);
	if (EVP_DecodeUpdate(ctx, out, &n, (const unsigned char *)text, (int)len) < 0)
		goto bad;
	if (EVP_DecodeFinal(ctx, out + n, &fin) < 0)
		goto bad;
	EVP_ENCODE_CTX_free(ctx);
	*out_len = (size_t)n + (size_t)fin;
	return out;
bad:
	EVP_ENCODE_CTX_free(ctx);
	free(out);
	return NULL;
}

/* The contents of a memory BIO as a new NUL-terminated string. */
static char *
bio_string(BIO *b)
{
	char *data, *s;
	long n = BIO_get_mem_data(b, &data);

	if (n <= 0 || (s = malloc((size_t)n + 1)) == NULL)
		return NULL;
	memcpy(s, data, (size_t)n);
	s[n] = '\0';
	return s;
}

vp_err
vx_pem_first_cert(const char *pem, char **pem_out, char **b64_out, vp_error *e)
{
	unsigned char *der = NULL;
	long len = 0;
	vp_err rc = VP_OK;

	if (pem_out != NULL)
		*pem_out = NULL;
	if (b64_out != NULL)
		*b64_out = NULL;
	if (pem == NULL || strlen(pem) > VX_MAX_PEM * 4) {
		rc = vp_error_set(e, VP_ERR_INVALID, "no certificate PEM was given");
		goto out;
	}
	if ((der = pem_cert_der(pem, strlen(pem), &len)) == NULL ||
	    !der_is_cert(der, (size_t)len)) {
		rc = vp_error_set(e, VP_ERR_INVALID,
		    "the certificate to send to the device is not a PEM certificate");
		goto out;
	}
	if ((pem_out != NULL && (*pem_out = der_to_pem(PEM_STRING_X509, der, (size_t)len)) ==
	    NULL) || (b64_out != NULL && (*b64_out = malloc(((size_t)len + 2) / 3 * 4 + 1)) ==
	    NULL)) {
		rc = vp_error_set(e, VP_ERR_NOMEM, "out of memory");
		goto out;
	}
	if (b64_out != NULL)
		EVP_EncodeBlock((unsigned char *)*b64_out, der, (int)len);
out:
	if (rc != VP_OK) {
		if (pem_out != NULL) {
			free(*pem_out);
			*pem_out = NULL;
		}
		if (b64_out != NULL) {
			free(*b64_out);
			*b64_out = NULL;
		}
	}
	OPENSSL_free(der);
	return rc;
}

char *
vx_cert_pem(const char *text, size_t len, int is_b64)
{
	unsigned char *der = NULL, *pder = NULL;
	size_t dlen = 0;
	long plen = 0;
	char *s = NULL;

	if (len == 0 || len > VX_MAX_PEM)
		return NULL;
	if (is_b64) {
		if ((der = b64_decode(text, len, &dlen)) != NULL && der_is_cert(der, dlen))
			s = der_to_pem(PEM_STRING_X509, der, dlen);
	} else if ((pder = pem_cert_der(text, len, &plen)) != NULL &&
	    der_is_cert(pder, (size_t)plen)) {
		s = der_to_pem(PEM_STRING_X509, pder, (size_t)plen);
	}
	ERR_clear_error();
	free(der);
	OPENSSL_free(pder);
	return s;
}

char *
vx_csr_pem(const char *text, size_t len, int is_b64)
{
	unsigned char *der = NULL;
	const unsigned char *p;
	size_t dlen = 0;
	BIO *b = NULL, *o = NULL;
	X509_REQ *r = NULL;
	char *s = NULL;

	if (len == 0 || len > VX_MAX_PEM)
		return NULL;
	if (is_b64) {
		if ((der = b64_decode(text, len, &dlen)) == NULL || dlen > INT_MAX)
			goto out;
		p = der;
		r = d2i_X509_REQ(NULL, &p, (long)dlen);
		if (r != NULL && p != der + dlen) {
			X509_REQ_free(r);
			r = NULL;
		}
	} else if ((b = BIO_new_mem_buf(text, (int)len)) != NULL) {
		r = PEM_read_bio_X509_REQ(b, NULL, NULL, NULL);
	}
	/* A request without a readable public key is no use to the CA. */
	if (r == NULL || X509_REQ_get0_pubkey(r) == NULL)
		goto out;
	if ((o = BIO_new(BIO_s_mem())) != NULL && PEM_write_bio_X509_REQ(o, r) == 1)
		s = bio_string(o);
out:
	ERR_clear_error();
	X509_REQ_free(r);
	BIO_free(b);
	BIO_free(o);
	free(der);
	return s;
}
