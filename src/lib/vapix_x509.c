/* Certificates and CSRs between the VAPIX driver and the device: REST speaks PEM, SOAP base64
 * DER. Whatever the device sends is parsed with OpenSSL and written out again as PEM, so that
 * callers only ever see well-formed PEM. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "vapix_internal.h"

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

static char *
x509_to_pem(X509 *x)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *s = NULL;

	if (b != NULL && PEM_write_bio_X509(b, x) == 1)
		s = bio_string(b);
	BIO_free(b);
	return s;
}

static char *
x509_to_b64(X509 *x)
{
	unsigned char *der = NULL;
	char *s = NULL;
	int n = i2d_X509(x, &der);

	if (n > 0 && (s = malloc(((size_t)n + 2) / 3 * 4 + 1)) != NULL)
		EVP_EncodeBlock((unsigned char *)s, der, n);
	OPENSSL_free(der);
	return s;
}

vp_err
vx_pem_first_cert(const char *pem, char **pem_out, char **b64_out, vp_error *e)
{
	BIO *b = NULL;
	X509 *x = NULL;
	vp_err rc = VP_OK;

	if (pem_out != NULL)
		*pem_out = NULL;
	if (b64_out != NULL)
		*b64_out = NULL;
	if (pem == NULL || strlen(pem) > VX_MAX_PEM * 4) {
		rc = vp_error_set(e, VP_ERR_INVALID, "no certificate PEM was given");
		goto out;
	}
	if ((b = BIO_new_mem_buf(pem, -1)) == NULL) {
		rc = vp_error_set(e, VP_ERR_NOMEM, "out of memory");
		goto out;
	}
	if ((x = PEM_read_bio_X509(b, NULL, NULL, NULL)) == NULL) {
		rc = vp_error_ssl(e, VP_ERR_INVALID,
		    "the certificate to send to the device is not a PEM certificate");
		goto out;
	}
	if ((pem_out != NULL && (*pem_out = x509_to_pem(x)) == NULL) ||
	    (b64_out != NULL && (*b64_out = x509_to_b64(x)) == NULL)) {
		rc = vp_error_ssl(e, VP_ERR_CRYPTO, "cannot encode the certificate");
		goto out;
	}
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
	ERR_clear_error();
	X509_free(x);
	BIO_free(b);
	return rc;
}

char *
vx_cert_pem(const char *text, size_t len, int is_b64)
{
	unsigned char *der = NULL;
	const unsigned char *p;
	size_t dlen = 0;
	BIO *b = NULL;
	X509 *x = NULL;
	char *s = NULL;

	if (len == 0 || len > VX_MAX_PEM)
		return NULL;
	if (is_b64) {
		if ((der = b64_decode(text, len, &dlen)) == NULL || dlen > INT_MAX)
			goto out;
		p = der;
		x = d2i_X509(NULL, &p, (long)dlen);
		if (x != NULL && p != der + dlen) {     /* trailing bytes: not one certificate */
			X509_free(x);
			x = NULL;
		}
	} else if ((b = BIO_new_mem_buf(text, (int)len)) != NULL) {
		x = PEM_read_bio_X509(b, NULL, NULL, NULL);
	}
	if (x != NULL)
		s = x509_to_pem(x);
out:
	ERR_clear_error();
	X509_free(x);
	BIO_free(b);
	free(der);
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
