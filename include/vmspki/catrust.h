/* The site CA in this host's own trust store (Debian: /usr/local/share/ca-certificates and
 * update-ca-certificates), as ACS puts its CA there at install and takes it out at uninstall. */
#ifndef VMSPKI_CATRUST_H
#define VMSPKI_CATRUST_H

#include <stddef.h>

#include "vmspki/ca.h"
#include "vmspki/err.h"

#define VP_CATRUST_DIR "/usr/local/share/ca-certificates"

typedef struct vp_catrust_result {
	char path[1024];          /* the certificate file written or removed */
	int changed;              /* 0: it was already there (install) or already gone (remove) */
} vp_catrust_result;

/* Writes the CA certificate (PEM, 0644) to ROOT/usr/local/share/ca-certificates/
 * vmspki-<first 16 hex of its SHA-256>.crt and runs update-ca-certificates (with --sysroot
 * ROOT when root is not "/" or NULL). Its hooks run as Debian's do. VP_ERR_IO when the file
 * cannot be written (not root: the sentence says so) or the tool fails. */
vp_err vp_catrust_install(const vp_ca *ca, const char *root, vp_catrust_result *r,
    vp_error *e);
/* Removes that file and runs update-ca-certificates --fresh, so that the bundle and the
 * hashed links no longer hold the CA. Nothing installed: VP_OK with changed 0. */
vp_err vp_catrust_remove(const vp_ca *ca, const char *root, vp_catrust_result *r,
    vp_error *e);

#endif
