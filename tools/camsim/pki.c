/* camsim's cryptography: keys of the types the REST API names, the self-signed certificate a
 * camera makes with a new key, CSRs, subject strings, PEM / base64-DER in and out. */
#include <string.h>
#include <stdlib.h>
#include <stdio.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "camsim.h"

static const struct {
	const char *name;
	int rsa_bits;
	const char *curve;
} key_types[] = {
	{ "RSA-2048", 2048, NULL },
	{ "RSA-3072", 3072, NULL },
	{ "RSA-4096", 4096, NULL },
	{ "EC-P256", 0, "P-256" },
	{ "EC-P384", 0, "P-384" },
	{ "EC-P521", 0, "P-521" },
};

int
cs_key_type_ok(const char *key_type)
{
	for (size_t i = 0; i < sizeof(key_types) / sizeof(key_types[0]); i++)
		if (strcmp(key_types[i].name, key_type) == 0)
			return 1;
	return 0;
}

EVP_PKEY *
cs_pki_keygen(const char *key_type)
{
	for (size_t i = 0; i < sizeof(key_types) / sizeof(key_types[0]); i++) {
		if (strcmp(key_types[i].name, key_type) != 0)
			continue;
		if (key_types[i].rsa_bits > 0)
			return EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)key_types[i].rsa_bits);
		return EVP_PKEY_Q_keygen(NULL, NULL, "EC", key_types[i].curve);
	}
	return NULL;
}

const char *
cs_pki_key_type(EVP_PKEY *k)
{
	char group[32];
	size_t glen = 0;

	if (EVP_PKEY_is_a(k, "RSA")) {
		switch (EVP_PKEY_get_bits(k)) {
		case 2048: return "RSA-2048";
		case 3072: return "RSA-3072";
		case 4096: return "RSA-4096";
		default: return "RSA";
		}
	}
	if (EVP_PKEY_is_a(k, "EC") &&
	    EVP_PKEY_get_utf8_string_param(k, "group", group, sizeof(group), &glen) == 1) {
		if (strcmp(group, "prime256v1") == 0 || strcmp(group, "P-256") == 0)
			return "EC-P256";
		if (strcmp(group, "secp384r1") == 0 || strcmp(group, "P-384") == 0)
			return "EC-P384";
		if (strcmp(group, "secp521r1") == 0 || strcmp(group, "P-521") == 0)
			return "EC-P521";
	}
	return "unknown";
}

/* "CN=10.0.0.5,O=Site" (RFC 4514 as cameras take it: attribute=value pairs separated by
 * commas, a backslash escapes the next character). Attribute names are OpenSSL's short or
 * long names. */
X509_NAME *
cs_pki_name_parse(const char *s, char *err, size_t errlen)
{
	X509_NAME *n = X509_NAME_new();
	char *buf = NULL, *val = NULL;
	size_t len = strlen(s), bi = 0;

	if (n == NULL || (buf = malloc(len + 1)) == NULL || (val = malloc(len + 1)) == NULL)
		goto nomem;
	if (len == 0 || len > 1024) {
		snprintf(err, errlen, "the subject must be 1 to 1024 characters");
		goto fail;
	}
	for (size_t i = 0; i <= len; i++) {
		char c = s[i];

		if (c == '\\' && i + 1 < len) {
			buf[bi++] = s[++i];
			continue;
		}
		if (c != ',' && c != '\0') {
			buf[bi++] = c;
			continue;
		}
		buf[bi] = '\0';
		{
			char *eq = strchr(buf, '='), *k = buf, *v;
			size_t vl;

			while (*k == ' ')
				k++;
			if (eq == NULL || eq == k) {
				snprintf(err, errlen, "'%.64s' in the subject is not ATTRIBUTE=value", buf);
				goto fail;
			}
			*eq = '\0';
			for (char *t = eq - 1; t > k && *t == ' '; t--)
				*t = '\0';
			v = eq + 1;
			vl = strlen(v);
			if (vl == 0 || vl > 256) {
				snprintf(err, errlen, "the subject's %.32s has an empty or too long value", k);
				goto fail;
			}
			memcpy(val, v, vl + 1);
			if (OBJ_txt2nid(k) == NID_undef) {
				snprintf(err, errlen, "unknown subject attribute '%.32s'", k);
				goto fail;
			}
			if (X509_NAME_add_entry_by_txt(n, k, MBSTRING_UTF8, (unsigned char *)val, -1,
			    -1, 0) != 1) {
				ERR_clear_error();
				snprintf(err, errlen, "the subject's %.32s value is not acceptable", k);
				goto fail;
			}
		}
		bi = 0;
	}
	free(buf);
	free(val);
	return n;
nomem:
	snprintf(err, errlen, "out of memory");
fail:
	X509_NAME_free(n);
	free(buf);
	free(val);
	return NULL;
}

int
cs_pki_san_ok(const char *san)
{
	unsigned char ip[16];

	if (strncmp(san, "DNS:", 4) == 0) {
		size_t l = strlen(san + 4);

		if (l == 0 || l > 253)
			return 0;
		for (const char *p = san + 4; *p; p++)
			if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
			    (*p >= '0' && *p <= '9') || *p == '-' || *p == '.' || *p == '*'))
				return 0;
		return 1;
	}
	if (strncmp(san, "IP:", 3) == 0) {
		ASN1_OCTET_STRING *o = a2i_IPADDRESS(san + 3);
		int ok = o != NULL && o->length <= (int)sizeof(ip);

		ASN1_OCTET_STRING_free(o);
		ERR_clear_error();
		return ok;
	}
	return 0;
}

static GENERAL_NAMES *
sans_make(char *const *sans, size_t n)
{
	GENERAL_NAMES *gens = GENERAL_NAMES_new();

	if (gens == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		GENERAL_NAME *g = GENERAL_NAME_new();

		if (g == NULL)
			goto fail;
		if (strncmp(sans[i], "DNS:", 4) == 0) {
			ASN1_IA5STRING *s = ASN1_IA5STRING_new();

			if (s == NULL || ASN1_STRING_set(s, sans[i] + 4, -1) != 1) {
				ASN1_IA5STRING_free(s);
				GENERAL_NAME_free(g);
				goto fail;
			}
			GENERAL_NAME_set0_value(g, GEN_DNS, s);
		} else {
			ASN1_OCTET_STRING *o = a2i_IPADDRESS(sans[i] + 3);

			if (o == NULL) {
				GENERAL_NAME_free(g);
				goto fail;
			}
			GENERAL_NAME_set0_value(g, GEN_IPADD, o);
		}
		if (sk_GENERAL_NAME_push(gens, g) == 0) {
			GENERAL_NAME_free(g);
			goto fail;
		}
	}
	return gens;
fail:
	GENERAL_NAMES_free(gens);
	ERR_clear_error();
	return NULL;
}

static int
add_ext(X509 *x, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;
	int ok;

	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
	if ((ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value)) == NULL)
		return 0;
	ok = X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	return ok;
}

X509 *
cs_pki_selfsigned(EVP_PKEY *key, const X509_NAME *subject, char *const *sans, size_t nsans,
    time_t not_before, time_t not_after)
{
	X509 *x = X509_new();
	ASN1_INTEGER *serial = NULL;
	BIGNUM *bn = BN_new();
	GENERAL_NAMES *gens = NULL;

	if (x == NULL || bn == NULL || BN_rand(bn, 63, BN_RAND_TOP_ONE, BN_RAND_BOTTOM_ANY) != 1 ||
	    (serial = BN_to_ASN1_INTEGER(bn, NULL)) == NULL ||
	    X509_set_version(x, X509_VERSION_3) != 1 ||
	    X509_set_serialNumber(x, serial) != 1 ||
	    X509_set_subject_name(x, subject) != 1 || X509_set_issuer_name(x, subject) != 1 ||
	    X509_time_adj_ex(X509_getm_notBefore(x), 0, 0, &not_before) == NULL ||
	    X509_time_adj_ex(X509_getm_notAfter(x), 0, 0, &not_after) == NULL ||
	    X509_set_pubkey(x, key) != 1)
		goto fail;
	if (nsans > 0) {
		if ((gens = sans_make(sans, nsans)) == NULL ||
		    X509_add1_ext_i2d(x, NID_subject_alt_name, gens, 0, 0) != 1)
			goto fail;
	}
	if (!add_ext(x, NID_basic_constraints, "CA:FALSE") ||
	    !add_ext(x, NID_subject_key_identifier, "hash") ||
	    !add_ext(x, NID_ext_key_usage, "serverAuth,clientAuth"))
		goto fail;
	if (X509_sign(x, key, EVP_sha256()) == 0)
		goto fail;
	GENERAL_NAMES_free(gens);
	ASN1_INTEGER_free(serial);
	BN_free(bn);
	return x;
fail:
	ERR_clear_error();
	GENERAL_NAMES_free(gens);
	ASN1_INTEGER_free(serial);
	BN_free(bn);
	X509_free(x);
	return NULL;
}

/* A CSR with subject (or from's subject) and from's subjectAltName, signed by key. */
X509_REQ *
cs_pki_csr(EVP_PKEY *key, const X509_NAME *subject, const X509 *from)
{
	X509_REQ *r = X509_REQ_new();
	STACK_OF(X509_EXTENSION) *exts = NULL;
	int i;

	if (r == NULL || X509_REQ_set_version(r, X509_REQ_VERSION_1) != 1)
		goto fail;
	if (subject == NULL)
		subject = X509_get_subject_name(from);
	if (X509_REQ_set_subject_name(r, subject) != 1 || X509_REQ_set_pubkey(r, key) != 1)
		goto fail;
	if (from != NULL && (i = X509_get_ext_by_NID(from, NID_subject_alt_name, -1)) >= 0) {
		X509_EXTENSION *ext = X509_EXTENSION_dup(X509_get_ext(from, i));

		if (ext == NULL || (exts = sk_X509_EXTENSION_new_null()) == NULL ||
		    sk_X509_EXTENSION_push(exts, ext) == 0) {
			X509_EXTENSION_free(ext);
			goto fail;
		}
		if (X509_REQ_add_extensions(r, exts) != 1)
			goto fail;
	}
	if (X509_REQ_sign(r, key, EVP_sha256()) == 0)
		goto fail;
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	return r;
fail:
	ERR_clear_error();
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	X509_REQ_free(r);
	return NULL;
}

static char *
bio_take(BIO *b)
{
	char *data, *out;
	long n = BIO_get_mem_data(b, &data);

	if (n < 0 || (out = malloc((size_t)n + 1)) == NULL)
		return NULL;
	memcpy(out, data, (size_t)n);
	out[n] = '\0';
	return out;
}

char *
cs_pki_cert_pem(X509 *x)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *out = NULL;

	if (b != NULL && PEM_write_bio_X509(b, x) == 1)
		out = bio_take(b);
	BIO_free(b);
	return out;
}

char *
cs_pki_req_pem(X509_REQ *r)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *out = NULL;

	if (b != NULL && PEM_write_bio_X509_REQ(b, r) == 1)
		out = bio_take(b);
	BIO_free(b);
	return out;
}

static char *
b64(const unsigned char *der, int len)
{
	char *out;

	if (len <= 0 || (out = malloc(((size_t)len + 2) / 3 * 4 + 1)) == NULL)
		return NULL;
	EVP_EncodeBlock((unsigned char *)out, der, len);
	return out;
}

char *
cs_pki_b64_der_cert(X509 *x)
{
	unsigned char *der = NULL;
	int len = i2d_X509(x, &der);
	char *out = b64(der, len);

	OPENSSL_free(der);
	return out;
}

char *
cs_pki_b64_der_req(X509_REQ *r)
{
	unsigned char *der = NULL;
	int len = i2d_X509_REQ(r, &der);
	char *out = b64(der, len);

	OPENSSL_free(der);
	return out;
}

/* Every certificate of a PEM text (at most max); NULL when there is none, one does not parse,
 * or there is anything but certificates. */
STACK_OF(X509) *
cs_pki_pem_certs(const char *pem, size_t len, size_t max)
{
	BIO *b;
	STACK_OF(X509) *sk = NULL;
	X509 *x;

	if (len == 0 || len > CS_CERT_PEM_MAX * 4 || (b = BIO_new_mem_buf(pem, (int)len)) == NULL)
		return NULL;
	if ((sk = sk_X509_new_null()) == NULL)
		goto fail;
	while ((x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL) {
		if ((size_t)sk_X509_num(sk) >= max || sk_X509_push(sk, x) == 0) {
			X509_free(x);
			goto fail;
		}
	}
	/* The loop ends on "no start line" when the text is used up; anything else is bad. */
	if (ERR_GET_REASON(ERR_peek_last_error()) != PEM_R_NO_START_LINE || sk_X509_num(sk) == 0)
		goto fail;
	ERR_clear_error();
	BIO_free(b);
	return sk;
fail:
	ERR_clear_error();
	BIO_free(b);
	sk_X509_pop_free(sk, X509_free);
	return NULL;
}

/* base64 of a DER certificate (XML base64Binary: white space allowed). */
X509 *
cs_pki_b64_cert(const char *s)
{
	EVP_ENCODE_CTX *ctx = EVP_ENCODE_CTX_new();
	size_t len = strlen(s);
	unsigned char *der = NULL;
	const unsigned char *p;
	int outl = 0, fin = 0;
	X509 *x = NULL;

	if (ctx == NULL || len == 0 || len > CS_CERT_PEM_MAX * 2 || len > INT32_MAX / 2 ||
	    (der = malloc(len)) == NULL)
		goto out;
	EVP_DecodeInit(ctx);
	if (EVP_DecodeUpdate(ctx, der, &outl, (const unsigned char *)s, (int)len) < 0 ||
	    EVP_DecodeFinal(ctx, der + outl, &fin) != 1)
		goto out;
	outl += fin;
	p = der;
	x = d2i_X509(NULL, &p, outl);
	if (x != NULL && p != der + outl) {   /* trailing bytes */
		X509_free(x);
		x = NULL;
	}
out:
	ERR_clear_error();
	EVP_ENCODE_CTX_free(ctx);
	free(der);
	return x;
}

void
cs_pki_fingerprint(X509 *x, char out[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	static const char hex[] = "0123456789abcdef";

	out[0] = '\0';
	if (X509_digest(x, EVP_sha256(), md, &n) != 1 || n != 32)
		return;
	for (unsigned i = 0; i < n; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 15];
	}
	out[64] = '\0';
}
