/* Keys: generation, strength rules, encryption at rest (PKCS#8 PBES2: AES-256-CBC with
 * PBKDF2-HMAC-SHA256) and PKCS#12 files for moving keys (AES-256, PBKDF2, SHA-256 MAC). */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/x509.h>

#include "internal.h"
#include "vmspki/ca.h"
#include "vmspki/issue.h"
#include "vmspki/passphrase.h"
#include "vmspki/util.h"

static const struct {
	vp_keytype type;
	const char *name;
	const char *alg;
	size_t bits;
	const char *curve;
} keytypes[] = {
	{ VP_KEY_RSA2048, "rsa2048", "RSA", 2048, NULL },
	{ VP_KEY_RSA3072, "rsa3072", "RSA", 3072, NULL },
	{ VP_KEY_RSA4096, "rsa4096", "RSA", 4096, NULL },
	{ VP_KEY_EC_P256, "ec-p256", "EC", 0, "P-256" },
	{ VP_KEY_EC_P384, "ec-p384", "EC", 0, "P-384" },
};
#define NKEYTYPES (sizeof(keytypes) / sizeof(keytypes[0]))

vp_err
vp_keytype_parse(const char *s, vp_keytype *out, vp_error *e)
{
	size_t i;

	for (i = 0; i < NKEYTYPES; i++) {
		if (s != NULL && strcmp(s, keytypes[i].name) == 0) {
			*out = keytypes[i].type;
			return VP_OK;
		}
	}
	return vp_error_set(e, VP_ERR_INVALID,
	    "unknown key type \"%s\": use rsa2048, rsa3072, rsa4096, ec-p256 or ec-p384",
	    s != NULL ? s : "");
}

const char *
vp_keytype_name(vp_keytype t)
{
	size_t i;

	for (i = 0; i < NKEYTYPES; i++)
		if (keytypes[i].type == t)
			return keytypes[i].name;
	return "unknown";
}

vp_err
vp_key_generate(vp_keytype t, EVP_PKEY **out, vp_error *e)
{
	size_t i;

	*out = NULL;
	for (i = 0; i < NKEYTYPES; i++) {
		if (keytypes[i].type != t)
			continue;
		if (keytypes[i].curve != NULL)
			*out = EVP_PKEY_Q_keygen(NULL, NULL, "EC", keytypes[i].curve);
		else
			*out = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", keytypes[i].bits);
		if (*out == NULL)
			return vp_error_ssl(e, VP_ERR_CRYPTO, "cannot generate a %s key",
			    keytypes[i].name);
		return VP_OK;
	}
	return vp_error_set(e, VP_ERR_INVALID, "unknown key type");
}

vp_err
vp_key_check_strength(EVP_PKEY *key, const char *what, vp_error *e)
{
	char group[64] = "";

	if (key == NULL)
		return vp_error_set(e, VP_ERR_INVALID, "%s has no public key", what);
	if (EVP_PKEY_is_a(key, "RSA")) {
		int bits = EVP_PKEY_get_bits(key);

		if (bits < 2048)
			return vp_error_set(e, VP_ERR_INVALID,
			    "%s has a %d-bit RSA key: at least 2048 bits are required", what, bits);
		if (bits > 16384)
			return vp_error_set(e, VP_ERR_INVALID,
			    "%s has a %d-bit RSA key: more than 16384 bits is not accepted", what, bits);
		return VP_OK;
	}
	if (EVP_PKEY_is_a(key, "EC")) {
		if (!EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group,
		    sizeof(group), NULL)) {
			ERR_clear_error();
			return vp_error_set(e, VP_ERR_INVALID,
			    "%s has an EC key with explicit or unknown curve parameters: use a named "
			    "curve (P-256, P-384 or P-521)", what);
		}
		if (strcmp(group, "prime256v1") == 0 || strcmp(group, "secp384r1") == 0 ||
		    strcmp(group, "secp521r1") == 0 || strcmp(group, "P-256") == 0 ||
		    strcmp(group, "P-384") == 0 || strcmp(group, "P-521") == 0)
			return VP_OK;
		return vp_error_set(e, VP_ERR_INVALID,
		    "%s has an EC key on curve %s: only P-256, P-384 and P-521 are accepted", what,
		    group);
	}
	return vp_error_set(e, VP_ERR_INVALID,
	    "%s has a %s key: only RSA (2048 bits or more) and EC P-256/P-384/P-521 are accepted",
	    what, EVP_PKEY_get0_type_name(key) != NULL ? EVP_PKEY_get0_type_name(key) : "unknown");
}

vp_err
vp_key_encrypt_pem(EVP_PKEY *key, const char *passphrase, char **pem, size_t *len, vp_error *e)
{
	PKCS8_PRIV_KEY_INFO *p8 = NULL;
	X509_ALGOR *pbe = NULL;
	X509_SIG *enc = NULL;
	EVP_CIPHER *aes = NULL;
	BIO *b = NULL;
	char *data;
	long n;
	vp_err rc = VP_OK;

	*pem = NULL;
	if (strlen(passphrase) > INT_MAX)
		return vp_error_set(e, VP_ERR_INVALID, "passphrase too long");
	if ((p8 = EVP_PKEY2PKCS8(key)) == NULL ||
	    (aes = EVP_CIPHER_fetch(NULL, "AES-256-CBC", NULL)) == NULL ||
	    (pbe = PKCS5_pbe2_set_iv_ex(aes, VP_KDF_ITER, NULL, 0, NULL, NID_hmacWithSHA256,
	    NULL)) == NULL) {
		rc = vp_error_ssl(e, VP_ERR_CRYPTO, "cannot prepare the key encryption");
		goto out;
	}
	if ((enc = PKCS8_set0_pbe_ex(passphrase, (int)strlen(passphrase), p8, pbe, NULL,
	    NULL)) == NULL) {
		rc = vp_error_ssl(e, VP_ERR_CRYPTO, "cannot encrypt the key");
		goto out;
	}
	pbe = NULL;	/* owned by enc now */
	if ((b = BIO_new(BIO_s_mem())) == NULL || !PEM_write_bio_PKCS8(b, enc)) {
		rc = vp_error_ssl(e, VP_ERR_CRYPTO, "cannot encode the encrypted key");
		goto out;
	}
	if ((n = BIO_get_mem_data(b, &data)) <= 0 || (*pem = malloc((size_t)n + 1)) == NULL) {
		rc = vp_error_set(e, VP_ERR_NOMEM, "out of memory");
		goto out;
	}
	memcpy(*pem, data, (size_t)n);
	(*pem)[n] = '\0';
	*len = (size_t)n;
out:
	BIO_free(b);
	X509_SIG_free(enc);
	X509_ALGOR_free(pbe);
	EVP_CIPHER_free(aes);
	PKCS8_PRIV_KEY_INFO_free(p8);
	return rc;
}

vp_err
vp_key_decrypt_pem(const char *pem, size_t len, const char *passphrase, EVP_PKEY **out,
    vp_error *e)
{
	X509_SIG *enc = NULL;
	PKCS8_PRIV_KEY_INFO *p8 = NULL;
	BIO *b = NULL;
	vp_err rc = VP_OK;

	*out = NULL;
	if (len > INT_MAX || strlen(passphrase) > INT_MAX)
		return vp_error_set(e, VP_ERR_INVALID, "encrypted key or passphrase too long");
	if ((b = BIO_new_mem_buf(pem, (int)len)) == NULL ||
	    (enc = PEM_read_bio_PKCS8(b, NULL, NULL, NULL)) == NULL) {
		rc = vp_error_ssl(e, VP_ERR_INVALID,
		    "the encrypted key is damaged (not an ENCRYPTED PRIVATE KEY PEM)");
		goto out;
	}
	if ((p8 = PKCS8_decrypt_ex(enc, passphrase, (int)strlen(passphrase), NULL, NULL)) ==
	    NULL) {
		ERR_clear_error();
		rc = vp_error_set(e, VP_ERR_PASSPHRASE,
		    "wrong passphrase: the key could not be decrypted");
		goto out;
	}
	if ((*out = EVP_PKCS82PKEY_ex(p8, NULL, NULL)) == NULL)
		rc = vp_error_ssl(e, VP_ERR_PASSPHRASE,
		    "wrong passphrase or damaged key: the decrypted key is not readable");
out:
	PKCS8_PRIV_KEY_INFO_free(p8);
	X509_SIG_free(enc);
	BIO_free(b);
	return rc;
}

vp_err
vp_p12_build(EVP_PKEY *key, X509 *cert, STACK_OF(X509) *chain, const char *name,
    const char *pass, unsigned char **out, size_t *len, vp_error *e)
{
	return vp_p12_build_ex(key, cert, chain, name, pass, 0, out, len, e);
}

vp_err
vp_p12_build_ex(EVP_PKEY *key, X509 *cert, STACK_OF(X509) *chain, const char *name,
    const char *pass, int flags, unsigned char **out, size_t *len, vp_error *e)
{
	/* Legacy: what Windows before 10 1709 / Server 2019 imports, and `openssl pkcs12
	 * -legacy` reads: both bags pbeWithSHA1And3-KeyTripleDES-CBC, a SHA-1 MAC, 2048 rounds
	 * (OpenSSL's own legacy defaults, but 3DES for the certificates too instead of RC2-40). */
	int legacy = (flags & VP_P12_LEGACY) != 0;
	int nid = legacy ? NID_pbe_WithSHA1And3_Key_TripleDES_CBC : NID_aes_256_cbc;
	int iter = legacy ? 2048 : VP_KDF_ITER;
	PKCS12 *p12 = NULL;
	EVP_MD *sha256 = NULL;
	unsigned char *der = NULL;
	int n;
	vp_err rc = VP_OK;

	*out = NULL;
	if (strlen(pass) > INT_MAX)
		return vp_error_set(e, VP_ERR_INVALID, "PKCS#12 password too long");
	/* Both bags AES-256-CBC with PBKDF2 at the strong count, and the MAC too: a weaker part
	 * would let an attacker test guesses of the password cheaply. mac_iter -1: no MAC yet. */
	if ((p12 = PKCS12_create_ex((char *)pass, (char *)name, key, cert, chain,
	    nid, nid, iter, -1, 0, NULL, NULL)) == NULL) {
		rc = vp_error_ssl(e, VP_ERR_CRYPTO, "cannot build the PKCS#12 file");
		goto out;
	}
	if ((sha256 = EVP_MD_fetch(NULL, legacy ? "SHA1" : "SHA256", NULL)) == NULL ||
	    !PKCS12_set_mac(p12, pass, -1, NULL, 0, iter, sha256)) {
		rc = vp_error_ssl(e, VP_ERR_CRYPTO, "cannot protect the PKCS#12 file with a MAC");
		goto out;
	}
	if ((n = i2d_PKCS12(p12, &der)) <= 0) {
		rc = vp_error_ssl(e, VP_ERR_CRYPTO, "cannot encode the PKCS#12 file");
		goto out;
	}
	*out = der;
	*len = (size_t)n;
out:
	EVP_MD_free(sha256);
	PKCS12_free(p12);
	return rc;
}

vp_err
vp_p12_parse(const unsigned char *der, size_t len, const char *pass, EVP_PKEY **key,
    X509 **cert, STACK_OF(X509) **chain, vp_error *e)
{
	const unsigned char *p = der;
	PKCS12 *p12 = NULL;
	vp_err rc = VP_OK;

	*key = NULL;
	*cert = NULL;
	*chain = NULL;
	if (len > LONG_MAX || (p12 = d2i_PKCS12(NULL, &p, (long)len)) == NULL) {
		ERR_clear_error();
		return vp_error_set(e, VP_ERR_INVALID,
		    "not a PKCS#12 file (expected a binary .p12/.pfx, not PEM)");
	}
	if (!PKCS12_mac_present(p12)) {
		rc = vp_error_set(e, VP_ERR_INVALID,
		    "the PKCS#12 file has no integrity MAC: it cannot be checked, refused");
		goto out;
	}
	/* An empty password may have been encoded as absent: try both, as OpenSSL's tool does. */
	if (!PKCS12_verify_mac(p12, pass, -1)) {
		if (*pass != '\0' || !PKCS12_verify_mac(p12, NULL, 0)) {
			ERR_clear_error();
			rc = vp_error_set(e, VP_ERR_PASSPHRASE,
			    "wrong PKCS#12 password (or a damaged file): its MAC does not verify");
			goto out;
		}
		pass = NULL;
	}
	if (!PKCS12_parse(p12, pass, key, cert, chain)) {
		unsigned long err = ERR_peek_last_error();

		if (ERR_GET_REASON(err) == ERR_R_UNSUPPORTED ||
		    ERR_GET_REASON(err) == EVP_R_UNSUPPORTED_ALGORITHM)
			rc = vp_error_ssl(e, VP_ERR_INVALID,
			    "the PKCS#12 file uses a legacy cipher (such as RC2): export it again "
			    "with AES-256 or 3DES");
		else
			rc = vp_error_ssl(e, VP_ERR_INVALID, "cannot read the PKCS#12 contents");
		goto out;
	}
	if (*chain == NULL && (*chain = sk_X509_new_null()) == NULL)
		rc = vp_error_set(e, VP_ERR_NOMEM, "out of memory");
out:
	if (rc != VP_OK) {
		EVP_PKEY_free(*key);
		X509_free(*cert);
		vp_x509_stack_free(*chain);
		*key = NULL;
		*cert = NULL;
		*chain = NULL;
	}
	PKCS12_free(p12);
	return rc;
}

vp_err
vp_p12_pass_check(const char *pass, const char *what, vp_error *e)
{
	if (strlen(pass) < VP_PASSPHRASE_MIN)
		return vp_error_set(e, VP_ERR_INVALID, "the PKCS#12 password protects %s: it needs "
		    "at least %d characters", what, VP_PASSPHRASE_MIN);
	return VP_OK;
}

vp_err
vp_issued_p12(const vp_issued *is, const vp_ca *ca, const char *pass, unsigned char **out,
    size_t *len, vp_error *e)
{
	return vp_issued_p12_ex(is, ca, pass, 0, out, len, e);
}

vp_err
vp_issued_p12_ex(const vp_issued *is, const vp_ca *ca, const char *pass, int flags,
    unsigned char **out, size_t *len, vp_error *e)
{
	STACK_OF(X509) *chain = vp_ca_chain_full(ca);
	char cn[256];
	vp_err rc;

	*out = NULL;
	*len = 0;
	if (chain == NULL)
		return vp_error_set(e, VP_ERR_NOMEM, "out of memory");
	vp_x509_name_cn(X509_get_subject_name(is->cert), cn, sizeof(cn));   /* friendly name */
	rc = vp_p12_build_ex(is->key, is->cert, chain, cn[0] != '\0' ? cn : NULL, pass, flags,
	    out, len, e);
	sk_X509_free(chain);   /* the certificates are the CA's */
	return rc;
}
