/* JSON renderings of what the front ends show, made once so that `vmspki ... --json` and the
 * REST API name and format every field alike: the shared values and the certificates here;
 * each module's own objects in its header (vp_json_ca in ca.h, vp_json_device in device.h,
 * vp_json_servercert in servercert.h, vp_json_task in task.h, ...). */
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
/* The end of a renderer that set fields one by one, bad non-zero when one failed: o, or NULL
 * (o freed) when bad. */
json_t *vp_json_done(json_t *o, int bad);
/* Appends v (a new reference, taken; NULL: a rendering that ran out of memory) to array: the
 * row callback of every list. 0, or VP_ERR_NOMEM (v freed). */
int vp_json_append(json_t *array, json_t *v);

/* Objects. The vp_err functions add their fields to o (VP_ERR_NOMEM, or the error of reading
 * the certificate); the others return a new object, NULL when out of memory. */

/* subject, issuer, serial, not_before, not_after, key, sha256, sha1 of x. */
vp_err vp_json_x509(X509 *x, json_t *o, vp_error *e);
/* A stored certificate without its PEM: serial, profile, subject, sans, validity, status at
 * time now (vp_cert_rec_status), fingerprints, owner, issued_at, revocation if revoked. */
json_t *vp_json_cert_rec(const vp_cert_rec *r, int64_t now);
/* The certificates of s that match f, each as vp_json_cert_rec, into *out (a new array). */
vp_err vp_json_cert_list(vp_store *s, const vp_cert_filter *f, int64_t now, json_t **out,
    vp_error *e);
/* A certificate just signed with profile: serial, profile, subject, sans, validity, clamped,
 * fingerprint. */
json_t *vp_json_issued(const vp_issued *is, const char *profile);

#endif
