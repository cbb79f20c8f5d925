/* vp_buf: the one growing buffer of vmspki (after OpenSSH's sshbuf and curl's dynbuf): a hard
 * maximum given at init, overflow-checked growth, and wiping for buffers that hold secrets. */
#ifndef VMSPKI_BUF_H
#define VMSPKI_BUF_H

#include <stddef.h>
#include <stdint.h>

#include "vmspki/err.h"

/* The contents are secret: every block is wiped before it is freed (on growth, reset, free). */
#define VP_BUF_SECRET 0x1u

/* Use the functions, not the fields (the unit test looks inside). The contents are always
 * NUL-terminated; the NUL is not counted in len and needs no room under max. */
typedef struct vp_buf {
	char *p;            /* NULL until the first byte is added */
	size_t len;         /* bytes held */
	size_t cap;         /* bytes allocated at p */
	size_t max;         /* len never passes it */
	const char *what;   /* names the contents in the error sentence ("the device's answer") */
	unsigned flags;     /* VP_BUF_SECRET */
	vp_err failed;      /* the first refusal since init or the last reset, or VP_OK */
} vp_buf;

/* Makes b an empty buffer that holds at most max bytes (at most SIZE_MAX - 1). what is a
 * static string that names the contents in the sentence of a refusal. Allocates nothing. */
void vp_buf_init(vp_buf *b, const char *what, size_t max, unsigned flags);

/* Appends n bytes of data. Past the maximum: VP_ERR_INVALID ("... is over 1 MiB"); out of
 * memory: VP_ERR_NOMEM. A refused append changes nothing but the vp_buf_failed indicator. */
vp_err vp_buf_add(vp_buf *b, const void *data, size_t n, vp_error *e);

/* vp_buf_add of the string s without its NUL. */
vp_err vp_buf_add_str(vp_buf *b, const char *s, vp_error *e);

/* Appends the printf-style text; errors as vp_buf_add (VP_ERR_INTERNAL if fmt cannot be
 * formatted). */
vp_err vp_buf_printf(vp_buf *b, vp_error *e, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The contents, NUL-terminated; "" when empty. Valid until the next change of b. */
const char *vp_buf_str(const vp_buf *b);
size_t vp_buf_len(const vp_buf *b);

/* The code of the first refused append since init or the last reset, VP_OK if none (like
 * ferror): a run of appends can be checked once at its end. */
vp_err vp_buf_failed(const vp_buf *b);

/* Hands the NUL-terminated contents to the caller (*out, freed by the caller, wiped first
 * when b is VP_BUF_SECRET; *len without the NUL, len may be NULL) and leaves b empty.
 * VP_ERR_NOMEM only when b was empty and "" cannot be allocated; then *out is NULL. */
vp_err vp_buf_take(vp_buf *b, char **out, size_t *len, vp_error *e);

/* Empties b (wiping the contents when secret) and clears the failed indicator; the memory
 * is kept for the next appends. */
void vp_buf_reset(vp_buf *b);

/* Frees the memory (wiped first when secret); b stays an empty buffer with the same maximum
 * and flags. NULL is fine. */
void vp_buf_free(vp_buf *b);

/* vp_ids: a growing list of row ids (what a store query or a selection callback collects).
 * Start it as { 0 } (VP_IDS_INIT); the ids are v[0] .. v[n - 1]. */
typedef struct vp_ids {
	int64_t *v;
	size_t n, cap;
} vp_ids;

#define VP_IDS_INIT { NULL, 0, 0 }

/* Appends id, doubling the block when full (the size checked against SIZE_MAX first). Out of
 * memory: VP_ERR_NOMEM ("out of memory" in e, which may be NULL) and l unchanged. */
vp_err vp_ids_add(vp_ids *l, int64_t id, vp_error *e);

/* Frees the block; l becomes empty. NULL is fine. */
void vp_ids_free(vp_ids *l);

#endif
