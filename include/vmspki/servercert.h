/* The certificate of vmspki's own HTTPS API and web UI: made by the site CA for every name and
 * address of the host, renewed when a third of its life is left, when the addresses change,
 * when the CA changed, or on demand; or imported by the operator. Files in <datadir>/certs:
 * server.crt (certificate and chain), server.key.pem (0600), public.pem (certificate alone). */
#ifndef VMSPKI_SERVERCERT_H
#define VMSPKI_SERVERCERT_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "vmspki/ca.h"
#include "vmspki/err.h"
#include "vmspki/store.h"

#define VP_SERVERCERT_DAYS 397   /* under every browser's limit (Apple: 825, public CAs: 398) */

typedef struct vp_servercert_status {
	int present;            /* the files exist and the key matches the certificate */
	int imported;           /* put in place by `server-cert import`: not renewed by vmspki */
	char serial[64];
	char fingerprint[65];
	int64_t not_before, not_after;
	int64_t renew_after;    /* when two thirds of its life have passed */
	int from_current_ca;    /* signed by the site CA as it is now */
	int covers_host;        /* names every current name and address of the host */
	char reason[160];       /* why it needs renewing ("" when it does not) */
} vp_servercert_status;

/* The status as JSON: present, imported, serial, fingerprint, validity, renew_after,
 * from_current_ca, covers_host, renewal_due, reason. A new object, NULL when out of memory. */
json_t *vp_json_servercert(const vp_servercert_status *st);

/* Reads the files and compares them with the host and the CA (ca may be loaded without key). */
vp_err vp_servercert_status_get(const vp_ca *ca, const char *datadir,
    vp_servercert_status *st, vp_error *e);

/* Renews the certificate when it needs it (or always with force): issues a new one with
 * profile "server" (RSA 2048, VP_SERVERCERT_DAYS, the host's names and addresses), records it,
 * then replaces the three files atomically (key first, then the certificate files). *renewed
 * tells whether it did. ca must be loaded with its key when a renewal is due. An imported
 * certificate is only replaced with force. */
vp_err vp_servercert_ensure(vp_store *s, const vp_ca *ca, const char *datadir, int force,
    const char *actor, int *renewed, vp_servercert_status *st, vp_error *e);

/* Puts an operator's certificate (PKCS#12 with key, certificate and chain) in place of the
 * generated one. Refuses a certificate that is expired, lacks serverAuth (when it has an EKU),
 * or whose key does not match. */
vp_err vp_servercert_import(vp_store *s, const char *datadir, const unsigned char *p12,
    size_t len, const char *pass, const char *actor, vp_error *e);

#endif
