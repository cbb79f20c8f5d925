/* Certificates from the site's own CA on cameras (issue 19, item 3): the camera makes the key
 * and its CSR goes out (`https csr`); the certificate the company's CA signed comes in and is
 * installed, bound, verified and pinned (`https install`). Both are tasks (task.h). */
#ifndef VMSPKI_EXTCERT_H
#define VMSPKI_EXTCERT_H

#include <stdint.h>

#include "vmspki/err.h"
#include "vmspki/store.h"

#define VP_TASK_HTTPS_CSR     "https-csr"      /* key made on the device, its CSR kept */
#define VP_TASK_HTTPS_INSTALL "https-install"  /* an outside certificate for that key */
#define VP_EXT_ALIAS_PREFIX   "vmspki-ext-"    /* the device's alias of such a key */

/* Creates an https-csr task for device dev_id (timeout_s 0: the default): its result is
 * vp_extcert_csr_get once the task finished. VP_ERR_NOTFOUND for an unknown device. */
vp_err vp_extcert_csr_task(vp_store *s, int64_t dev_id, int timeout_s, const char *actor,
    int64_t *id, vp_error *e);

/* The last CSR an https-csr task got from device dev_id: *csr_pem new (free), alias (the key
 * on the device, 128 bytes). VP_ERR_NOTFOUND when there is none. */
vp_err vp_extcert_csr_get(vp_store *s, int64_t dev_id, char **csr_pem, char *alias, size_t n,
    vp_error *e);

/* Checks cert_pem (the first certificate; later ones are taken as its chain, like chain_pem,
 * which may be NULL) against device dev_id's last CSR (same public key), the device's address
 * or name (in its subject alternative names), its dates and, when a chain is given, a path
 * to a self-signed certificate of the chain; then creates an https-install task for it.
 * VP_ERR_INVALID with what is wrong and nothing made. */
vp_err vp_extcert_install_task(vp_store *s, int64_t dev_id, const char *cert_pem,
    const char *chain_pem, int https_only, int timeout_s, const char *actor, int64_t *id,
    vp_error *e);

/* ---- for the engine ---- */
/* The input of https-install task id: alias (n bytes), *cert_pem new (free), fp (SHA-256 hex of
 * the certificate), *not_after, *inter_pem (new, "" when none: the chain's intermediate CA
 * certificates, at most VP_EXT_MAX_INTER, which the camera gets as CA certificates and sends
 * with its own). */
#define VP_EXT_MAX_INTER 4
vp_err vp_extcert_task_input(vp_store *s, int64_t id, char *alias, size_t n, char **cert_pem,
    char fp[65], int64_t *not_after, char **inter_pem, vp_error *e);
/* Records the CSR device dev_id gave task id for alias (in the caller's transaction). */
vp_err vp_extcert_csr_put(vp_store *s, int64_t dev_id, int64_t task_id, const char *alias,
    const char *csr_pem, vp_error *e);
/* The pin ("sha256//BASE64" of the public key) of the outside certificate verified on device
 * dev_id: put once verified, deleted when a certificate of ours replaces it; get gives
 * VP_ERR_NOTFOUND when there is none. */
vp_err vp_extcert_pin_put(vp_store *s, int64_t dev_id, const char *pin, vp_error *e);
vp_err vp_extcert_pin_get(vp_store *s, int64_t dev_id, char *pin, size_t n, vp_error *e);
vp_err vp_extcert_pin_delete(vp_store *s, int64_t dev_id, vp_error *e);
/* Forgets what is kept for device dev_id (its CSR, its pin): the device is removed and its id
 * may be given again. In the caller's transaction. */
vp_err vp_extcert_forget(vp_store *s, int64_t dev_id, vp_error *e);
/* The pin of certificate pem into pin (n bytes); 0 when pem is not a certificate. */
int vp_extcert_pin_of(const char *pem, char *pin, size_t n);

#endif
