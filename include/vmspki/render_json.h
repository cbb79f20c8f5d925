/* JSON renderings of what the front ends show (a certificate's facts, a stored certificate, the
 * CA, a new certificate, the server certificate), made here once so that `vmspki ... --json`
 * and the REST API name and format every field alike. */
#ifndef VMSPKI_RENDER_JSON_H
#define VMSPKI_RENDER_JSON_H

#include <stdint.h>

#include <jansson.h>
#include <openssl/x509.h>

#include "vmspki/ca.h"
#include "vmspki/device.h"
#include "vmspki/err.h"
#include "vmspki/issue.h"
#include "vmspki/servercert.h"
#include "vmspki/store.h"

/* Values. Each returns a new reference, NULL only when out of memory. */
json_t *vp_json_str(const char *s);          /* s, or null for NULL; bytes not UTF-8 become '?' */
json_t *vp_json_str_or_null(const char *s);  /* like vp_json_str, and "" is null too */
json_t *vp_json_time(int64_t t);             /* "2036-11-21T10:00:00Z" */
json_t *vp_json_sans(const char *sans);      /* "DNS:a, IP Address:b" -> ["DNS:a", "IP Address:b"] */

/* Objects. The vp_err functions add their fields to o (VP_ERR_NOMEM, or the error of reading
 * the certificate); the others return a new object, NULL when out of memory. */

/* subject, issuer, serial, not_before, not_after, key, sha256, sha1 of x. */
vp_err vp_json_x509(X509 *x, json_t *o, vp_error *e);
/* The CA certificate's fields (vp_json_x509), root, chain_length and certificates_issued
 * (issued: how many certificates the store holds from this CA). */
vp_err vp_json_ca(const vp_ca *ca, int64_t issued, json_t *o, vp_error *e);
/* A stored certificate without its PEM: serial, profile, subject, sans, validity, status at
 * time now (vp_cert_rec_status), fingerprints, owner, issued_at, revocation if revoked. */
json_t *vp_json_cert_rec(const vp_cert_rec *r, int64_t now);
/* The certificates of s that match f, each as vp_json_cert_rec, into *out (a new array). */
vp_err vp_json_cert_list(vp_store *s, const vp_cert_filter *f, int64_t now, json_t **out,
    vp_error *e);
/* A certificate just signed with profile: serial, profile, subject, sans, validity, clamped,
 * fingerprint. */
json_t *vp_json_issued(const vp_issued *is, const char *profile);
/* The server certificate's status: present, imported, serial, fingerprint, validity,
 * renew_after, from_current_ca, covers_host, renewal_due, reason. */
json_t *vp_json_servercert(const vp_servercert_status *st);
/* A device of the inventory (never its password): id, address, ports, name, username,
 * allow_basic, cn, mac, model, firmware, api, https, status, status_detail, pinned,
 * https_only, certificate (serial, alias, not_after; null when none), added_at, updated_at. */
json_t *vp_json_device(const vp_device *d);

#endif
