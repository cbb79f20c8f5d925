/* Where the CA passphrase comes from: a file, the environment, the remembered file beside the
 * database, or a prompt on the terminal. Never from a command-line argument. */
#ifndef VMSPKI_PASSPHRASE_H
#define VMSPKI_PASSPHRASE_H

#include "vmspki/err.h"

#define VP_PASSPHRASE_ENV "VMSPKI_PASSPHRASE"
#define VP_PASSPHRASE_MIN 8
#define VP_PASSPHRASE_MAX 1024

/* Reads a passphrase from file (first line, without its newline). */
vp_err vp_passphrase_from_file(const char *path, char **out, vp_error *e);

/* Finds the CA passphrase: file if given, else $VMSPKI_PASSPHRASE, else <datadir>/ca.passphrase,
 * else a prompt when stdin is a terminal (prompt text given, NULL = no prompt). VP_ERR_PASSPHRASE
 * with a message naming the options when none is available. *out is wiped/freed by the caller
 * with vp_secret_free_str. */
vp_err vp_passphrase_get(const char *datadir, const char *file, const char *prompt, char **out,
    vp_error *e);

/* Like vp_passphrase_get for a new secret: asks twice on a terminal. Does not look at the
 * remembered file. */
vp_err vp_passphrase_new(const char *file, const char *prompt, char **out, vp_error *e);

/* A random passphrase (32 bytes from the CSPRNG, base64url). */
vp_err vp_passphrase_random(char **out, vp_error *e);

/* Writes the remembered passphrase file (0600, atomic). */
vp_err vp_passphrase_remember(const char *datadir, const char *pass, vp_error *e);

#endif
