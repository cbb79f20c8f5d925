/* vmspki error reporting: every library call returns a vp_err and fills a vp_error with a
 * sentence for a human. Messages never contain secrets (keys, passphrases, tokens). */
#ifndef VMSPKI_ERR_H
#define VMSPKI_ERR_H

#include <stddef.h>

typedef enum vp_err {
	VP_OK = 0,
	VP_ERR_INVALID,     /* bad input from the caller or a file: refused, nothing changed */
	VP_ERR_PASSPHRASE,  /* wrong or missing passphrase */
	VP_ERR_NOTFOUND,    /* no such object (CA, certificate, key) */
	VP_ERR_EXISTS,      /* object already exists */
	VP_ERR_IO,          /* file system or OS failure */
	VP_ERR_CRYPTO,      /* OpenSSL failed for a reason other than bad input */
	VP_ERR_STORE,       /* database failure */
	VP_ERR_NOMEM,       /* allocation failed */
	VP_ERR_INTERNAL     /* a bug: should not happen */
} vp_err;

#define VP_ERROR_MSG_MAX 1024

typedef struct vp_error {
	vp_err code;
	char msg[VP_ERROR_MSG_MAX];
} vp_error;

/* Sets e (may be NULL) to code and a printf-style message; returns code. */
vp_err vp_error_set(vp_error *e, vp_err code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Like vp_error_set, then appends the reasons on OpenSSL's error queue (": reason; reason")
 * and empties the queue. Returns code. */
vp_err vp_error_ssl(vp_error *e, vp_err code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prepends "prefix: " to e's message, keeping its code. Returns e->code. */
vp_err vp_error_prefix(vp_error *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

void vp_error_clear(vp_error *e);

/* A short name for a code ("invalid input", "wrong passphrase", ...). */
const char *vp_err_str(vp_err code);

#endif
