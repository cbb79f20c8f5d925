/* The site data key: 32 random bytes, made on first use, that encrypt device passwords
 * (AES-256-GCM, each ciphertext bound to its device row). It is kept in key_value wrapped
 * under a key derived from the CA passphrase (PBKDF2-HMAC-SHA256), or from a site key file. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include "device_internal.h"
#include "vmspki/ca.h"
#include "vmspki/device.h"
#include "vmspki/util.h"

#define KEY_LEN 32
#define SALT_LEN 16
#define NONCE_LEN 12
#define TAG_LEN 16
#define SEAL_VERSION 1
#define ITER_MIN 100000
#define ITER_MAX 10000000
#define FILE_MAX (64 * 1024)

struct vp_sitekey {
	unsigned char key[KEY_LEN];
};

/* What key_value holds: how the data key is wrapped, and the wrapped key. */
typedef struct wrapped {
	char wrap[16];            /* "passphrase" or "file" */
	long iterations;          /* passphrase: PBKDF2 iterations */
	char key_id[17];          /* file: which file key (hex), to tell a wrong file apart */
	unsigned char salt[SALT_LEN];
	unsigned char nonce[NONCE_LEN];
	unsigned char ct[KEY_LEN + TAG_LEN];
} wrapped;

/* ---- AES-256-GCM ---- */

static vp_err
gcm(int enc, const unsigned char key[KEY_LEN], const unsigned char nonce[NONCE_LEN],
    const void *aad, size_t aadlen, const unsigned char *in, size_t len, unsigned char *out,
    unsigned char tag[TAG_LEN], vp_error *e)
{
	EVP_CIPHER_CTX *ctx;
	vp_err rc = VP_OK;
	int n = 0, fin = 0;

	if (len > INT32_MAX || aadlen > INT32_MAX)
		return vp_error_set(e, VP_ERR_INVALID, "too much data to encrypt at once");
	if ((ctx = EVP_CIPHER_CTX_new()) == NULL)
		return vp_error_ssl(e, VP_ERR_NOMEM, "out of memory for a cipher");
	if (EVP_CipherInit_ex2(ctx, EVP_aes_256_gcm(), key, nonce, enc, NULL) != 1 ||
	    (aadlen > 0 && EVP_CipherUpdate(ctx, NULL, &n, aad, (int)aadlen) != 1) ||
	    (len > 0 && EVP_CipherUpdate(ctx, out, &n, in, (int)len) != 1) ||
	    (!enc && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, TAG_LEN, tag) != 1)) {
		rc = vp_error_ssl(e, VP_ERR_CRYPTO, "AES-256-GCM failed");
		goto out;
	}
	if (EVP_CipherFinal_ex(ctx, out + n, &fin) != 1) {
		/* Decryption: the tag did not match (wrong key, other AAD, altered data). */
		rc = vp_error_ssl(e, VP_ERR_CRYPTO, "the encrypted data does not open with this key "
		    "(wrong key, or the data was altered or moved)");
		goto out;
	}
	if (enc && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, TAG_LEN, tag) != 1)
		rc = vp_error_ssl(e, VP_ERR_CRYPTO, "AES-256-GCM failed to give its tag");
out:
	EVP_CIPHER_CTX_free(ctx);
	return rc;
}

/* ---- key derivation ---- */

static vp_err
kdf_passphrase(const char *pass, const unsigned char salt[SALT_LEN], long iter,
    unsigned char out[KEY_LEN], vp_error *e)
{
	if (PKCS5_PBKDF2_HMAC(pass, (int)strlen(pass), salt, SALT_LEN, (int)iter, EVP_sha256(),
	    KEY_LEN, out) != 1)
		return vp_error_ssl(e, VP_ERR_CRYPTO, "cannot derive a key from the passphrase");
	return VP_OK;
}

static vp_err
hkdf(const unsigned char *ikm, size_t ikmlen, const unsigned char *salt, size_t saltlen,
    const char *info, unsigned char *out, size_t outlen, vp_error *e)
{
	EVP_KDF *kdf;
	EVP_KDF_CTX *ctx = NULL;
	OSSL_PARAM p[5];
	vp_err rc = VP_OK;

	if ((kdf = EVP_KDF_fetch(NULL, "HKDF", NULL)) == NULL ||
	    (ctx = EVP_KDF_CTX_new(kdf)) == NULL) {
		rc = vp_error_ssl(e, VP_ERR_CRYPTO, "HKDF is not available");
		goto out;
	}
	p[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0);
	p[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)ikm, ikmlen);
	p[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)salt, saltlen);
	p[3] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)info,
	    strlen(info));
	p[4] = OSSL_PARAM_construct_end();
	if (EVP_KDF_derive(ctx, out, outlen, p) != 1)
		rc = vp_error_ssl(e, VP_ERR_CRYPTO, "cannot derive a key from the site key file");
out:
	EVP_KDF_CTX_free(ctx);
	EVP_KDF_free(kdf);
	return rc;
}

/* The site key file named by the environment: NULL path when it is not set. */
static vp_err
file_read(const char *path, unsigned char **buf, size_t *len, vp_error *e)
{
	struct stat st;
	vp_err rc;

	*buf = NULL;
	if (stat(path, &st) == -1)
		return vp_error_set(e, VP_ERR_IO, "cannot read the site key file %s ($%s): %s", path,
		    VP_SITEKEY_FILE_ENV, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return vp_error_set(e, VP_ERR_INVALID, "the site key file %s ($%s) is not a regular "
		    "file", path, VP_SITEKEY_FILE_ENV);
	if ((st.st_mode & 0007) != 0)
		return vp_error_set(e, VP_ERR_INVALID, "the site key file %s ($%s) can be read by "
		    "every user: chmod 600 it (or 640 for a group) and make a new one, since others "
		    "may have a copy", path, VP_SITEKEY_FILE_ENV);
	if ((rc = vp_file_read(path, FILE_MAX, buf, len, e)) != VP_OK)
		return vp_error_prefix(e, "site key file ($%s)", VP_SITEKEY_FILE_ENV);
	if (*len < VP_SITEKEY_FILE_MIN) {
		vp_secret_free(*buf, *len);
		*buf = NULL;
		return vp_error_set(e, VP_ERR_INVALID, "the site key file %s ($%s) holds %zu bytes: "
		    "it needs at least %d random bytes (e.g. `head -c 32 /dev/urandom > FILE`)", path,
		    VP_SITEKEY_FILE_ENV, *len, VP_SITEKEY_FILE_MIN);
	}
	return VP_OK;
}

/* The wrapping key from the site key file, and the file key's id. */
static vp_err
kdf_file(const char *path, const unsigned char salt[SALT_LEN], unsigned char out[KEY_LEN],
    char key_id[17], vp_error *e)
{
	static const unsigned char no_salt[1] = { 0 };
	unsigned char *buf = NULL, id[8];
	size_t len = 0;
	vp_err rc;

	if ((rc = file_read(path, &buf, &len, e)) != VP_OK)
		return rc;
	if ((rc = hkdf(buf, len, salt, SALT_LEN, "vmspki site data key wrap v1", out, KEY_LEN,
	    e)) == VP_OK &&
	    (rc = hkdf(buf, len, no_salt, sizeof(no_salt), "vmspki site key file id v1", id,
	    sizeof(id), e)) == VP_OK)
		vp_hex_encode(id, sizeof(id), key_id);
	vp_secret_free(buf, len);
	return rc;
}

/* ---- the stored form ---- */

static void
wrap_aad(const wrapped *w, char *buf, size_t n)
{
	snprintf(buf, n, "vmspki-site-datakey:v1:%s:%ld:%s", w->wrap, w->iterations, w->key_id);
}

static int
hex_decode(const char *s, unsigned char *out, size_t n)
{
	if (s == NULL || strlen(s) != 2 * n)
		return -1;
	for (size_t i = 0; i < n; i++) {
		unsigned v = 0;

		for (int k = 0; k < 2; k++) {
			char c = s[2 * i + (size_t)k];

			v <<= 4;
			if (c >= '0' && c <= '9')
				v |= (unsigned)(c - '0');
			else if (c >= 'a' && c <= 'f')
				v |= (unsigned)(c - 'a' + 10);
			else
				return -1;
		}
		out[i] = (unsigned char)v;
	}
	return 0;
}

static vp_err
wrapped_encode(const wrapped *w, char **out, vp_error *e)
{
	char salt[2 * SALT_LEN + 1], nonce[2 * NONCE_LEN + 1], ct[2 * sizeof(w->ct) + 1];
	json_t *o;

	vp_hex_encode(w->salt, SALT_LEN, salt);
	vp_hex_encode(w->nonce, NONCE_LEN, nonce);
	vp_hex_encode(w->ct, sizeof(w->ct), ct);
	if (strcmp(w->wrap, "passphrase") == 0)
		o = json_pack("{s:i,s:s,s:s,s:I,s:s,s:s,s:s,s:s}", "version", 1, "wrap", w->wrap,
		    "kdf", "pbkdf2-hmac-sha256", "iterations", (json_int_t)w->iterations, "salt", salt,
		    "cipher", "aes-256-gcm", "nonce", nonce, "wrapped_key", ct);
	else
		o = json_pack("{s:i,s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "version", 1, "wrap", w->wrap,
		    "kdf", "hkdf-sha256", "key_id", w->key_id, "salt", salt, "cipher", "aes-256-gcm",
		    "nonce", nonce, "wrapped_key", ct);
	if (o == NULL || (*out = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS)) == NULL) {
		json_decref(o);
		return vp_error_set(e, VP_ERR_NOMEM, "out of memory");
	}
	json_decref(o);
	return VP_OK;
}

static vp_err
wrapped_decode(const unsigned char *val, size_t len, wrapped *w, vp_error *e)
{
	const char *wrap = NULL, *kdf = NULL, *cipher = NULL, *salt = NULL, *nonce = NULL,
	    *ct = NULL, *key_id = NULL;
	json_int_t version = 0, iter = 0;
	json_error_t je;
	json_t *o;
	vp_err rc = VP_OK;

	memset(w, 0, sizeof(*w));
	if ((o = json_loadb((const char *)val, len, JSON_REJECT_DUPLICATES, &je)) == NULL ||
	    json_unpack(o, "{s:I,s:s,s:s,s:s,s:s,s:s,s?I,s?s}", "version", &version,
	    "wrap", &wrap, "kdf", &kdf, "cipher", &cipher, "salt", &salt, "nonce", &nonce,
	    "iterations", &iter, "key_id", &key_id) != 0 ||
	    json_unpack(o, "{s:s}", "wrapped_key", &ct) != 0 || version != 1 ||
	    strcmp(cipher, "aes-256-gcm") != 0 ||
	    hex_decode(salt, w->salt, SALT_LEN) != 0 || hex_decode(nonce, w->nonce, NONCE_LEN) != 0 ||
	    hex_decode(ct, w->ct, sizeof(w->ct)) != 0) {
		rc = vp_error_set(e, VP_ERR_INVALID, "the stored site data key (key_value %s) is "
		    "damaged or of an unknown version: device passwords cannot be read",
		    VP_SITEKEY_KV);
		goto out;
	}
	if (strcmp(wrap, "passphrase") == 0 && strcmp(kdf, "pbkdf2-hmac-sha256") == 0 &&
	    iter >= ITER_MIN && iter <= ITER_MAX) {
		w->iterations = (long)iter;
	} else if (strcmp(wrap, "file") == 0 && strcmp(kdf, "hkdf-sha256") == 0 &&
	    key_id != NULL && strlen(key_id) == 16) {
		snprintf(w->key_id, sizeof(w->key_id), "%s", key_id);
	} else {
		rc = vp_error_set(e, VP_ERR_INVALID, "the stored site data key (key_value %s) is "
		    "wrapped in a way this vmspki does not know", VP_SITEKEY_KV);
		goto out;
	}
	snprintf(w->wrap, sizeof(w->wrap), "%s", wrap);
out:
	json_decref(o);
	return rc;
}

/* Wraps key under the passphrase (file NULL) or the site key file. */
static vp_err
wrap_key(const unsigned char key[KEY_LEN], const char *passphrase, const char *file,
    wrapped *w, vp_error *e)
{
	unsigned char kek[KEY_LEN];
	char aad[128];
	vp_err rc;

	memset(w, 0, sizeof(*w));
	if (RAND_bytes(w->salt, SALT_LEN) != 1 || RAND_bytes(w->nonce, NONCE_LEN) != 1)
		return vp_error_ssl(e, VP_ERR_CRYPTO, "the random generator failed");
	if (file != NULL) {
		snprintf(w->wrap, sizeof(w->wrap), "file");
		rc = kdf_file(file, w->salt, kek, w->key_id, e);
	} else {
		snprintf(w->wrap, sizeof(w->wrap), "passphrase");
		w->iterations = VP_SITEKEY_ITERATIONS;
		rc = kdf_passphrase(passphrase, w->salt, w->iterations, kek, e);
	}
	if (rc == VP_OK) {
		wrap_aad(w, aad, sizeof(aad));
		rc = gcm(1, kek, w->nonce, aad, strlen(aad), key, KEY_LEN, w->ct, w->ct + KEY_LEN,
		    e);
	}
	OPENSSL_cleanse(kek, sizeof(kek));
	return rc;
}

static vp_err
unwrap_key(const wrapped *w, const char *passphrase, const char *file,
    unsigned char key[KEY_LEN], vp_error *e)
{
	unsigned char kek[KEY_LEN], tag[TAG_LEN];
	char aad[128], key_id[17] = "";
	vp_err rc;

	if (strcmp(w->wrap, "file") == 0) {
		if (file == NULL)
			return vp_error_set(e, VP_ERR_PASSPHRASE, "the device passwords are locked with "
			    "a site key file: set $%s to its path", VP_SITEKEY_FILE_ENV);
		if ((rc = kdf_file(file, w->salt, kek, key_id, e)) != VP_OK)
			return rc;
		if (strcmp(key_id, w->key_id) != 0) {
			OPENSSL_cleanse(kek, sizeof(kek));
			return vp_error_set(e, VP_ERR_PASSPHRASE, "the site key file %s ($%s) is not "
			    "the one the device passwords were locked with (its id is %s, the store "
			    "wants %s)", file, VP_SITEKEY_FILE_ENV, key_id, w->key_id);
		}
	} else {
		if (passphrase == NULL)
			return vp_error_set(e, VP_ERR_PASSPHRASE, "the device passwords are locked with "
			    "the CA passphrase: give it (--passphrase-file F, $VMSPKI_PASSPHRASE, or "
			    "the remembered passphrase)");
		if ((rc = kdf_passphrase(passphrase, w->salt, w->iterations, kek, e)) != VP_OK)
			return rc;
	}
	wrap_aad(w, aad, sizeof(aad));
	memcpy(tag, w->ct + KEY_LEN, TAG_LEN);
	rc = gcm(0, kek, w->nonce, aad, strlen(aad), w->ct, KEY_LEN, key, tag, e);
	OPENSSL_cleanse(kek, sizeof(kek));
	if (rc != VP_OK) {
		OPENSSL_cleanse(key, KEY_LEN);
		if (strcmp(w->wrap, "file") == 0)
			return vp_error_set(e, VP_ERR_PASSPHRASE, "the site key file %s ($%s) does "
			    "not unlock the site data key (the stored key was altered?)", file,
			    VP_SITEKEY_FILE_ENV);
		return vp_error_set(e, VP_ERR_PASSPHRASE, "wrong passphrase: the CA passphrase "
		    "given does not unlock the site data key that protects device passwords");
	}
	return VP_OK;
}

/* Stores w as the site key: only if the row still holds old (NULL: only if there is none).
 * *raced is set when another process got there first (nothing stored). */
static vp_err
store_wrapped(vp_store *s, const wrapped *w, const unsigned char *old, size_t oldlen,
    const char *actor_detail, int *raced, vp_error *e)
{
	unsigned char *cur = NULL;
	size_t curlen = 0;
	char *txt = NULL;
	vp_err rc;

	*raced = 0;
	if ((rc = wrapped_encode(w, &txt, e)) != VP_OK)
		return rc;
	if ((rc = vp_store_begin(s, e)) != VP_OK)
		goto out;
	rc = vp_store_kv_get(s, VP_SITEKEY_KV, &cur, &curlen, e);
	if (old == NULL ? rc != VP_ERR_NOTFOUND :
	    rc != VP_OK || curlen != oldlen || memcmp(cur, old, oldlen) != 0) {
		vp_store_rollback(s);
		if (rc == VP_OK || rc == VP_ERR_NOTFOUND) {
			*raced = 1;
			rc = VP_OK;
		}
		goto out;
	}
	if ((rc = vp_store_kv_put(s, VP_SITEKEY_KV, txt, strlen(txt), e)) != VP_OK ||
	    (rc = vp_store_audit_append(s, "vmspki", "sitekey.wrap", NULL, actor_detail,
	    e)) != VP_OK ||
	    (rc = vp_store_commit(s, e)) != VP_OK)
		vp_store_rollback(s);
out:
	free(cur);
	free(txt);
	return rc;
}

static const char *
file_env(void)
{
	const char *f = getenv(VP_SITEKEY_FILE_ENV);

	return f != NULL && f[0] != '\0' ? f : NULL;
}

vp_err
vp_sitekey_open(vp_store *s, const char *passphrase, vp_sitekey **out, vp_error *e)
{
	const char *file = file_env();
	unsigned char *val = NULL;
	size_t len = 0;
	vp_sitekey *k;
	vp_ca *ca = NULL;
	wrapped w;
	int raced = 0, tries;
	vp_err rc = VP_OK;

	*out = NULL;
	if ((k = calloc(1, sizeof(*k))) == NULL)
		return vp_error_set(e, VP_ERR_NOMEM, "out of memory");
	for (tries = 0; tries < 3; tries++) {
		free(val);
		val = NULL;
		rc = vp_store_kv_get(s, VP_SITEKEY_KV, &val, &len, e);
		if (rc == VP_OK) {
			if ((rc = wrapped_decode(val, len, &w, e)) != VP_OK ||
			    (rc = unwrap_key(&w, passphrase, file, k->key, e)) != VP_OK)
				goto out;
			if (file == NULL || strcmp(w.wrap, "file") == 0)
				goto out;
			/* $VMSPKI_SITE_KEY_FILE was set on a site whose key the passphrase wraps:
			 * from now on the file wraps it. */
			if ((rc = wrap_key(k->key, NULL, file, &w, e)) != VP_OK ||
			    (rc = store_wrapped(s, &w, val, len, "the site data key is now wrapped "
			    "under the site key file", &raced, e)) != VP_OK || !raced)
				goto out;
			continue;
		}
		if (rc != VP_ERR_NOTFOUND)
			goto out;
		/* First use: the passphrase must be the CA's, or the key would be lost with it. */
		if (file == NULL) {
			if (passphrase == NULL) {
				rc = vp_error_set(e, VP_ERR_PASSPHRASE, "the CA passphrase is needed to "
				    "make the site data key that protects device passwords");
				goto out;
			}
			rc = vp_ca_load(s, passphrase, &ca, e);
			vp_ca_free(ca);
			ca = NULL;
			if (rc == VP_ERR_NOTFOUND) {
				rc = vp_error_set(e, VP_ERR_NOTFOUND, "no CA: device passwords are "
				    "protected under the CA passphrase, so make the CA first (`vmspki ca "
				    "init`), or set $%s", VP_SITEKEY_FILE_ENV);
				goto out;
			}
			if (rc != VP_OK)
				goto out;
		}
		if (RAND_bytes(k->key, KEY_LEN) != 1) {
			rc = vp_error_ssl(e, VP_ERR_CRYPTO, "the random generator failed");
			goto out;
		}
		if ((rc = wrap_key(k->key, passphrase, file, &w, e)) != VP_OK ||
		    (rc = store_wrapped(s, &w, NULL, 0, file != NULL ? "made the site data key, "
		    "wrapped under the site key file" : "made the site data key, wrapped under "
		    "the CA passphrase", &raced, e)) != VP_OK || !raced)
			goto out;
		/* Another process made it at the same time: use theirs. */
	}
	if (tries == 3)
		rc = vp_error_set(e, VP_ERR_STORE, "the site data key kept changing while it was "
		    "opened: try again");
out:
	free(val);
	OPENSSL_cleanse(&w, sizeof(w));
	if (rc != VP_OK) {
		vp_sitekey_free(k);
		return rc;
	}
	*out = k;
	return VP_OK;
}

void
vp_sitekey_free(vp_sitekey *k)
{
	if (k == NULL)
		return;
	OPENSSL_cleanse(k, sizeof(*k));
	free(k);
}

vp_err
vp_sitekey_wrapping(vp_store *s, char *buf, size_t n, vp_error *e)
{
	unsigned char *val = NULL;
	size_t len = 0;
	wrapped w;
	vp_err rc;

	buf[0] = '\0';
	if ((rc = vp_store_kv_get(s, VP_SITEKEY_KV, &val, &len, e)) == VP_ERR_NOTFOUND)
		return VP_OK;
	if (rc == VP_OK && (rc = wrapped_decode(val, len, &w, e)) == VP_OK)
		snprintf(buf, n, "%s", w.wrap);
	free(val);
	return rc;
}

void
vp_device_aad(const char *address, int http_port, char *buf, size_t n)
{
	snprintf(buf, n, "vmspki-device:%s:%d", address, http_port);
}

vp_err
vp_sitekey_seal(const vp_sitekey *k, const char *aad, const unsigned char *pt, size_t len,
    unsigned char **out, size_t *outlen, vp_error *e)
{
	unsigned char *b;
	size_t n;
	vp_err rc;

	*out = NULL;
	*outlen = 0;
	if (len > 64 * 1024)
		return vp_error_set(e, VP_ERR_INVALID, "a secret of %zu bytes is too long", len);
	n = 1 + NONCE_LEN + len + TAG_LEN;
	if ((b = malloc(n)) == NULL)
		return vp_error_set(e, VP_ERR_NOMEM, "out of memory");
	b[0] = SEAL_VERSION;
	if (RAND_bytes(b + 1, NONCE_LEN) != 1) {
		free(b);
		return vp_error_ssl(e, VP_ERR_CRYPTO, "the random generator failed");
	}
	if ((rc = gcm(1, k->key, b + 1, aad, strlen(aad), pt, len, b + 1 + NONCE_LEN,
	    b + 1 + NONCE_LEN + len, e)) != VP_OK) {
		vp_secret_free(b, n);
		return rc;
	}
	*out = b;
	*outlen = n;
	return VP_OK;
}

vp_err
vp_sitekey_unseal(const vp_sitekey *k, const char *aad, const unsigned char *blob, size_t len,
    unsigned char **out, size_t *outlen, vp_error *e)
{
	unsigned char *p, tag[TAG_LEN];
	size_t n;
	vp_err rc;

	*out = NULL;
	*outlen = 0;
	if (len < 1 + NONCE_LEN + TAG_LEN || blob[0] != SEAL_VERSION)
		return vp_error_set(e, VP_ERR_CRYPTO, "a stored device password is damaged or of "
		    "an unknown version");
	n = len - 1 - NONCE_LEN - TAG_LEN;
	if ((p = malloc(n + 1)) == NULL)
		return vp_error_set(e, VP_ERR_NOMEM, "out of memory");
	memcpy(tag, blob + 1 + NONCE_LEN + n, TAG_LEN);
	if ((rc = gcm(0, k->key, blob + 1, aad, strlen(aad), blob + 1 + NONCE_LEN, n, p, tag,
	    e)) != VP_OK) {
		vp_secret_free(p, n + 1);
		return vp_error_set(e, VP_ERR_CRYPTO, "a stored device password does not open with "
		    "the site data key: it was altered, or moved from another device's row");
	}
	p[n] = '\0';
	*out = p;
	*outlen = n;
	return VP_OK;
}
