/* X.509 helpers: PEM encoding, fingerprints, serials, times, names, and the translation of a
 * certificate into the record the store keeps. */
#include <arpa/inet.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/provider.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "internal.h"
#include "vmspki/issue.h"
#include "vmspki/util.h"

/* Takes the contents of a memory BIO as a new NUL-terminated string. */
static vp_err
bio_take(BIO *b, char **out, size_t *len, vp_error *e)
{
	char *data;
	long n = BIO_get_mem_data(b, &data);
	char *copy;

	if (n < 0)
		return vp_error_ssl(e, VP_ERR_CRYPTO, "cannot read a memory buffer");
	if ((copy = malloc((size_t)n + 1)) == NULL)
		return vp_error_set(e, VP_ERR_NOMEM, "out of memory");
	if (n > 0)
		memcpy(copy, data, (size_t)n);
	copy[n] = '\0';
	*out = copy;
	if (len != NULL)
		*len = (size_t)n;
	return VP_OK;
}

vp_err
vp_x509_to_pem(X509 *cert, char **out, size_t *len, vp_error *e)
{
	BIO *b = BIO_new(BIO_s_mem());
	vp_err rc;

	if (b == NULL || !PEM_write_bio_X509(b, cert))
		rc = vp_error_ssl(e, VP_ERR_CRYPTO, "cannot encode a certificate as PEM");
	else
		rc = bio_take(b, out, len, e);
	BIO_free(b);
	return rc;
}

vp_err
vp_key_to_pem(EVP_PKEY *key, char **out, size_t *len, vp_error *e)
{
	/* A secure-memory BIO wipes its buffer when freed; the caller wipes *out. */
	BIO *b = BIO_new(BIO_s_secmem());
	vp_err rc;

	if (b == NULL || !PEM_write_bio_PrivateKey(b, key, NULL, NULL, 0, NULL, NULL))
		rc = vp_error_ssl(e, VP_ERR_CRYPTO, "cannot encode a private key as PEM");
	else
		rc = bio_take(b, out, len, e);
	BIO_free(b);
	return rc;
}

vp_err
vp_x509_chain_to_pem(STACK_OF(X509) *chain, char **out, size_t *len, vp_error *e)
{
	BIO *b = BIO_new(BIO_s_mem());
	vp_err rc;
	int i;

	if (b == NULL) {
		rc = vp_error_ssl(e, VP_ERR_NOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i < sk_X509_num(chain); i++) {
		if (!PEM_write_bio_X509(b, sk_X509_value(chain, i))) {
			rc = vp_error_ssl(e, VP_ERR_CRYPTO, "cannot encode a certificate as PEM");
			goto out;
		}
	}
	rc = bio_take(b, out, len, e);
out:
	BIO_free(b);
	return rc;
}

vp_err
vp_chain_from_pem(const unsigned char *pem, size_t len, STACK_OF(X509) **out, vp_error *e)
{
	STACK_OF(X509) *sk = sk_X509_new_null();
	BIO *b = NULL;
	X509 *x;
	vp_err rc = VP_OK;

	*out = NULL;
	if (sk == NULL)
		return vp_error_set(e, VP_ERR_NOMEM, "out of memory");
	if (len > INT32_MAX) {
		rc = vp_error_set(e, VP_ERR_INVALID, "certificate bundle too large");
		goto out;
	}
	if (len > 0 && (b = BIO_new_mem_buf(pem, (int)len)) == NULL) {
		rc = vp_error_ssl(e, VP_ERR_NOMEM, "out of memory");
		goto out;
	}
	while (b != NULL && (x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL) {
		if (!sk_X509_push(sk, x)) {
			X509_free(x);
			rc = vp_error_set(e, VP_ERR_NOMEM, "out of memory");
			goto out;
		}
	}
	/* The loop ends on "no start line" at the end of the data; anything else is damage. */
	unsigned long err = ERR_peek_last_error();
	if (err != 0 && ERR_GET_REASON(err) != PEM_R_NO_START_LINE) {
		rc = vp_error_ssl(e, VP_ERR_INVALID, "a certificate in the PEM bundle is damaged");
		goto out;
	}
	ERR_clear_error();
	if (len > 0 && sk_X509_num(sk) == 0) {
		rc = vp_error_set(e, VP_ERR_INVALID, "no PEM certificate found");
		goto out;
	}
	*out = sk;
	sk = NULL;
out:
	vp_x509_stack_free(sk);
	BIO_free(b);
	return rc;
}

vp_err
vp_x509_add_ext(X509 *x, X509 *issuer, int nid, const char *value, vp_error *e)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;

	X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
	if ((ext = X509V3_EXT_nconf_nid(NULL, &ctx, nid, value)) == NULL)
		return vp_error_ssl(e, VP_ERR_CRYPTO, "cannot make the %s extension", OBJ_nid2sn(nid));
	if (!X509_add_ext(x, ext, -1)) {
		X509_EXTENSION_free(ext);
		return vp_error_ssl(e, VP_ERR_CRYPTO, "cannot add the %s extension", OBJ_nid2sn(nid));
	}
	X509_EXTENSION_free(ext);
	return VP_OK;
}

void
vp_x509_stack_free(STACK_OF(X509) *sk)
{
	sk_X509_pop_free(sk, X509_free);
}

static const char *const md_names[] = { "SHA1", "SHA256", "SHA384", "SHA512" };
static EVP_MD *md_fetched[sizeof(md_names) / sizeof(md_names[0])];
static pthread_once_t md_once = PTHREAD_ONCE_INIT;

/* At exit, before OpenSSL's own clean-up (registered earlier, so run later). */
static void
md_free_all(void)
{
	for (size_t i = 0; i < sizeof(md_names) / sizeof(md_names[0]); i++) {
		EVP_MD_free(md_fetched[i]);
		md_fetched[i] = NULL;
	}
}

static void
md_fetch_all(void)
{
	for (size_t i = 0; i < sizeof(md_names) / sizeof(md_names[0]); i++)
		md_fetched[i] = EVP_MD_fetch(NULL, md_names[i], NULL);
	atexit(md_free_all);
}

const EVP_MD *
vp_md(const char *name)
{
	pthread_once(&md_once, md_fetch_all);
	for (size_t i = 0; i < sizeof(md_names) / sizeof(md_names[0]); i++)
		if (strcmp(name, md_names[i]) == 0)
			return md_fetched[i];
	return NULL;
}

static OSSL_LIB_CTX *nodecode_ctx;
static pthread_once_t nodecode_once = PTHREAD_ONCE_INIT;

static void
nodecode_init(void)
{
	OSSL_LIB_CTX *c = OSSL_LIB_CTX_new();

	if (c != NULL && OSSL_PROVIDER_load(c, "null") == NULL) {
		OSSL_LIB_CTX_free(c);
		c = NULL;
	}
	nodecode_ctx = c;   /* kept for the life of the process */
}

OSSL_LIB_CTX *
vp_nodecode_ctx(void)
{
	pthread_once(&nodecode_once, nodecode_init);
	return nodecode_ctx;
}

vp_err
vp_x509_fingerprint(X509 *cert, const char *md, char *hex, size_t hexlen, vp_error *e)
{
	unsigned char buf[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	const EVP_MD *m = vp_md(md);

	if (m == NULL || !X509_digest(cert, m, buf, &n))
		return vp_error_ssl(e, VP_ERR_CRYPTO, "cannot compute the %s fingerprint", md);
	if (hexlen < 2 * (size_t)n + 1)
		return vp_error_set(e, VP_ERR_INTERNAL, "fingerprint buffer too small");
	vp_hex_encode(buf, n, hex);
	return VP_OK;
}

vp_err
vp_serial_random(ASN1_INTEGER **out, vp_error *e)
{
	unsigned char raw[20];
	BIGNUM *bn = NULL;
	vp_err rc = VP_OK;

	*out = NULL;
	do {
		if (RAND_bytes(raw, sizeof(raw)) != 1)
			return vp_error_ssl(e, VP_ERR_CRYPTO, "the random generator failed");
		raw[0] &= 0x7f;	/* 159 bits: positive and at most 20 octets in DER */
	} while (raw[0] == 0 && raw[1] == 0);	/* keep it long: 2^-16 chance of a retry */
	if ((bn = BN_bin2bn(raw, sizeof(raw), NULL)) == NULL ||
	    (*out = BN_to_ASN1_INTEGER(bn, NULL)) == NULL)
		rc = vp_error_ssl(e, VP_ERR_CRYPTO, "cannot make a serial number");
	BN_free(bn);
	return rc;
}

int64_t
vp_asn1_time_unix(const ASN1_TIME *t)
{
	struct tm tm;

	memset(&tm, 0, sizeof(tm));
	if (t == NULL || !ASN1_TIME_to_tm(t, &tm))
		return -1;
	return (int64_t)timegm(&tm);
}

void
vp_time_iso(int64_t t, char *buf, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (gmtime_r(&tt, &tm) == NULL || strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, len, "%lld", (long long)t);
}

void
vp_x509_name_cn(const X509_NAME *name, char *buf, size_t len)
{
	int i = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
	unsigned char *utf8 = NULL;
	int n;

	buf[0] = '\0';
	if (i < 0)
		return;
	n = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i)));
	if (n >= 0)
		snprintf(buf, len, "%.*s", n, (const char *)utf8);
	OPENSSL_free(utf8);
}

const char *
vp_sign_md(EVP_PKEY *key)
{
	return EVP_PKEY_get_bits(key) > 256 && EVP_PKEY_is_a(key, "EC") ? "SHA384" : "SHA256";
}

/* "DNS:a, IP Address:10.0.0.1, email:x@y" for the SANs of cert. */
static vp_err
sans_text(X509 *cert, char **out, vp_error *e)
{
	GENERAL_NAMES *gens = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
	BIO *b = BIO_new(BIO_s_mem());
	vp_err rc = VP_OK;
	int i;

	if (b == NULL) {
		rc = vp_error_set(e, VP_ERR_NOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i < sk_GENERAL_NAME_num(gens); i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
		const char *sep = i > 0 ? ", " : "";
		char ip[INET6_ADDRSTRLEN];

		switch (g->type) {
		case GEN_DNS:
			BIO_printf(b, "%sDNS:%.*s", sep, ASN1_STRING_length(g->d.dNSName),
			    (const char *)ASN1_STRING_get0_data(g->d.dNSName));
			break;
		case GEN_EMAIL:
			BIO_printf(b, "%semail:%.*s", sep, ASN1_STRING_length(g->d.rfc822Name),
			    (const char *)ASN1_STRING_get0_data(g->d.rfc822Name));
			break;
		case GEN_IPADD:
			if (ASN1_STRING_length(g->d.iPAddress) == 4)
				inet_ntop(AF_INET, ASN1_STRING_get0_data(g->d.iPAddress), ip, sizeof(ip));
			else if (ASN1_STRING_length(g->d.iPAddress) == 16)
				inet_ntop(AF_INET6, ASN1_STRING_get0_data(g->d.iPAddress), ip, sizeof(ip));
			else
				snprintf(ip, sizeof(ip), "?");
			BIO_printf(b, "%sIP Address:%s", sep, ip);
			break;
		default:
			BIO_printf(b, "%sother", sep);
			break;
		}
	}
	rc = bio_take(b, out, NULL, e);
out:
	BIO_free(b);
	GENERAL_NAMES_free(gens);
	return rc;
}

/* A record's SHA-256 fingerprint and PEM, both from one DER encoding of the certificate
 * (vp_x509_fingerprint and vp_x509_to_pem would each encode it again). */
static vp_err
fingerprint_and_pem(X509 *cert, char *hex, size_t hexlen, char **pem, vp_error *e)
{
	unsigned char *der = NULL, md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	const EVP_MD *sha256 = vp_md("SHA256");
	BIO *b = NULL;
	int derlen;
	vp_err rc;

	if ((derlen = i2d_X509(cert, &der)) <= 0)
		return vp_error_ssl(e, VP_ERR_CRYPTO, "cannot encode a certificate (DER)");
	if (sha256 == NULL || !EVP_Digest(der, (size_t)derlen, md, &mdlen, sha256, NULL))
		rc = vp_error_ssl(e, VP_ERR_CRYPTO, "cannot compute the SHA256 fingerprint");
	else if (hexlen < 2 * (size_t)mdlen + 1)
		rc = vp_error_set(e, VP_ERR_INTERNAL, "fingerprint buffer too small");
	else if ((b = BIO_new(BIO_s_mem())) == NULL ||
	    !PEM_write_bio(b, PEM_STRING_X509, "", der, derlen))
		rc = vp_error_ssl(e, VP_ERR_CRYPTO, "cannot encode a certificate as PEM");
	else {
		vp_hex_encode(md, mdlen, hex);
		rc = bio_take(b, pem, NULL, e);
	}
	BIO_free(b);
	OPENSSL_free(der);
	return rc;
}

vp_err
vp_cert_rec_from_x509(X509 *cert, vp_cert_rec *r, vp_error *e)
{
	BIGNUM *bn = NULL;
	char *hex = NULL, *p;
	BIO *b = NULL;
	vp_err rc;

	memset(r, 0, sizeof(*r));
	r->revocation_reason = -1;
	snprintf(r->status, sizeof(r->status), "valid");
	if ((bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), NULL)) == NULL ||
	    (hex = BN_bn2hex(bn)) == NULL) {
		rc = vp_error_ssl(e, VP_ERR_CRYPTO, "cannot read the serial number");
		goto out;
	}
	for (p = hex; *p == '0' && p[1] != '\0'; p++)
		;
	if (strlen(p) >= sizeof(r->serial)) {
		rc = vp_error_set(e, VP_ERR_INVALID, "serial number longer than 20 octets");
		goto out;
	}
	for (size_t i = 0; p[i] != '\0'; i++)
		r->serial[i] = (char)(p[i] >= 'A' && p[i] <= 'F' ? p[i] - 'A' + 'a' : p[i]);
	if ((rc = fingerprint_and_pem(cert, r->fingerprint, sizeof(r->fingerprint), &r->pem,
	    e)) != VP_OK)
		goto out;
	if ((b = BIO_new(BIO_s_mem())) == NULL ||
	    X509_NAME_print_ex(b, X509_get_subject_name(cert), 0, XN_FLAG_RFC2253) < 0) {
		rc = vp_error_ssl(e, VP_ERR_CRYPTO, "cannot print the subject");
		goto out;
	}
	if ((rc = bio_take(b, &r->subject, NULL, e)) != VP_OK ||
	    (rc = sans_text(cert, &r->sans, e)) != VP_OK)
		goto out;
	r->not_before = vp_asn1_time_unix(X509_get0_notBefore(cert));
	r->not_after = vp_asn1_time_unix(X509_get0_notAfter(cert));
	r->issued_at = (int64_t)time(NULL);
	if ((r->owner_kind = vp_strdup("")) == NULL || (r->owner_id = vp_strdup("")) == NULL)
		rc = vp_error_set(e, VP_ERR_NOMEM, "out of memory");
out:
	if (rc != VP_OK)
		vp_cert_rec_clear(r);
	OPENSSL_free(hex);
	BN_free(bn);
	BIO_free(b);
	return rc;
}
