/* API bearer tokens: created once (shown to the operator once), kept in the store only as a
 * SHA-256 hash, checked on every API call. */
#ifndef VMSPKI_TOKEN_H
#define VMSPKI_TOKEN_H

#include <stddef.h>

#include "vmspki/err.h"
#include "vmspki/store.h"

#define VP_TOKEN_PREFIX "vmspki_"
#define VP_TOKEN_NAME_MAX 64

/* Makes a token for name (letters, digits, '.', '_', '-'; unique) with role ("admin").
 * *token (freed by the caller with vp_secret_free_str) is the only copy of the secret. */
vp_err vp_token_create(vp_store *s, const char *name, const char *role, const char *actor,
    char **token, vp_error *e);

/* Checks a presented token. VP_OK fills name and role; VP_ERR_NOTFOUND for an unknown one. */
vp_err vp_token_check(vp_store *s, const char *token, char *name, size_t name_len, char *role,
    size_t role_len, vp_error *e);

/* Removes the token called name; VP_ERR_NOTFOUND if there is none. */
vp_err vp_token_revoke(vp_store *s, const char *name, const char *actor, vp_error *e);

typedef struct vp_token_rec {
	const char *name, *role;
	int64_t created_at;
	int64_t last_used_at;   /* not tracked yet: 0 */
} vp_token_rec;
typedef int (*vp_token_cb)(const vp_token_rec *t, void *arg);
vp_err vp_token_list(vp_store *s, vp_token_cb cb, void *arg, vp_error *e);

#endif
