/* Small helpers used across libvmspki: bounded file reads, atomic file writes, hex, wiping. */
#ifndef VMSPKI_UTIL_H
#define VMSPKI_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "vmspki/err.h"

/* Largest file any vmspki command reads (CSRs, PKCS#12, PEM bundles, CSV lists). */
#define VP_FILE_MAX (4u * 1024u * 1024u)

/* Reads at most max bytes of path into a new NUL-terminated buffer (*out, freed by the caller,
 * *len excludes the NUL). A larger file is refused with VP_ERR_INVALID. */
vp_err vp_file_read(const char *path, size_t max, unsigned char **out, size_t *len, vp_error *e);

/* Writes data to path atomically: a temporary file in the same directory, fsync, rename,
 * fsync of the directory. mode is applied to the temporary file before any byte is written,
 * so a key never exists with wider permissions. On failure nothing is left behind. */
vp_err vp_file_write_atomic(const char *path, const void *data, size_t len, mode_t mode,
    vp_error *e);

/* Creates dir and its parents with mode (like mkdir -p). Existing directories are fine. */
vp_err vp_mkdir_p(const char *dir, mode_t mode, vp_error *e);

/* Joins dir and name into a new string ("dir/name"); NULL on allocation failure. */
char *vp_path_join(const char *dir, const char *name);

/* Writes 2*len lowercase hex digits and a NUL to out (which holds at least 2*len+1 bytes). */
void vp_hex_encode(const unsigned char *in, size_t len, char *out);

/* Wipes and frees a secret buffer of len bytes; NULL is fine. vp_secret_free_str uses strlen. */
void vp_secret_free(void *p, size_t len);
void vp_secret_free_str(char *s);

/* prefix followed by nbytes (at most 64) from the CSPRNG in base64url without padding; a
 * secret: the caller wipes it (vp_secret_free_str). */
vp_err vp_random_b64url(size_t nbytes, const char *prefix, char **out, vp_error *e);

/* Time t (seconds since the epoch, UTC) as "2036-11-21T10:00:00Z" into buf (at least 21
 * bytes); a time gmtime cannot represent is written as its decimal number. */
void vp_time_iso(int64_t t, char *buf, size_t len);

/* Duplicates s (NULL gives NULL). */
char *vp_strdup(const char *s);

/* *out = a * b for the size of an array allocation: 1, or 0 (and *out untouched) when the
 * product does not fit in a size_t. */
int vp_size_mul(size_t a, size_t b, size_t *out);

#endif
