/* API bearer tokens: 32 random bytes shown once as "vmspki_<base64url>", stored only as their
 * SHA-256 hash (a token is a high-entropy secret, so a plain hash suffices: no KDF needed). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "vmspki/token.h"
#include "vmspki/util.h"

#define TOKEN_BYTES 32
#define TOKEN_MAX 128

static vp_err
token_hash(const char *token, char hex[65], vp_error *e)
{
	unsigned char md[32];
	unsigned int n = 0;

	if (!EVP_Digest(token, strlen(token), md, &n, EVP_sha256(), NULL) || n != 32)
		return vp_error_set(e, VP_ERR_CRYPTO, "cannot hash the token");
	vp_hex_encode(md, 32, hex);
	return VP_OK;
}

static int
name_ok(const char *name)
{
	size_t i, n = strlen(name);

	if (n == 0 || n > VP_TOKEN_NAME_MAX)
		return 0;
	for (i = 0; i < n; i++)
		if (!isalnum((unsigned char)name[i]) && strchr("._-", name[i]) == NULL)
			return 0;
	return 1;
}

vp_err
vp_token_create(vp_store *s, const char *name, const char *role, const char *actor,
    char **token, vp_error *e)
{
	char hex[65], detail[128];
	char *t = NULL;
	vp_err rc;

	*token = NULL;
	if (!name_ok(name))
		return vp_error_set(e, VP_ERR_INVALID,
		    "a token name has 1 to %d letters, digits, dots, underscores or hyphens",
		    VP_TOKEN_NAME_MAX);
	if (strcmp(role, "admin") != 0)
		return vp_error_set(e, VP_ERR_INVALID, "unknown role \"%.32s\": use admin", role);
	if ((rc = vp_random_b64url(TOKEN_BYTES, VP_TOKEN_PREFIX, &t, e)) != VP_OK)
		return rc;
	if ((rc = token_hash(t, hex, e)) != VP_OK)
		goto out;
	snprintf(detail, sizeof(detail), "role %s", role);
	if ((rc = vp_store_begin(s, e)) != VP_OK)
		goto out;
	if ((rc = vp_store_token_insert(s, name, hex, role, e)) != VP_OK ||
	    (rc = vp_store_audit_append(s, actor, "token.create", NULL, detail, e)) != VP_OK ||
	    (rc = vp_store_commit(s, e)) != VP_OK) {
		vp_store_rollback(s);
		goto out;
	}
	*token = t;
	t = NULL;
out:
	vp_secret_free_str(t);
	return rc;
}

vp_err
vp_token_check(vp_store *s, const char *token, char *name, size_t name_len, char *role,
    size_t role_len, vp_error *e)
{
	char hex[65];
	vp_err rc;

	if (token == NULL || strlen(token) > TOKEN_MAX ||
	    strncmp(token, VP_TOKEN_PREFIX, strlen(VP_TOKEN_PREFIX)) != 0)
		return vp_error_set(e, VP_ERR_NOTFOUND, "not a vmspki token");
	if ((rc = token_hash(token, hex, e)) != VP_OK)
		return rc;
	/* The lookup is by hash: timing tells nothing about the token itself. */
	return vp_store_token_find(s, hex, name, name_len, role, role_len, e);
}

vp_err
vp_token_revoke(vp_store *s, const char *name, const char *actor, vp_error *e)
{
	char detail[128];
	vp_err rc;

	snprintf(detail, sizeof(detail), "token %.64s", name);
	if ((rc = vp_store_begin(s, e)) != VP_OK)
		return rc;
	if ((rc = vp_store_token_delete(s, name, e)) != VP_OK ||
	    (rc = vp_store_audit_append(s, actor, "token.revoke", NULL, detail, e)) != VP_OK ||
	    (rc = vp_store_commit(s, e)) != VP_OK)
		vp_store_rollback(s);
	return rc;
}

struct list_arg {
	vp_token_cb cb;
	void *arg;
};

static int
list_one(const char *name, const char *role, int64_t created_at, void *arg)
{
	struct list_arg *la = arg;
	vp_token_rec t = { name, role, created_at, 0 };

	return la->cb(&t, la->arg);
}

vp_err
vp_token_list(vp_store *s, vp_token_cb cb, void *arg, vp_error *e)
{
	struct list_arg la = { cb, arg };

	return vp_store_token_list(s, list_one, &la, e);
}
