/* Internals of the device inventory (device.c, store_device.c, sitekey.c, device_csv.c) that
 * its unit tests use; not part of the public API (device.h; the devices table: store.h). */
#ifndef VMSPKI_DEVICE_INTERNAL_H
#define VMSPKI_DEVICE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "vmspki/device.h"
#include "vmspki/driver.h"
#include "vmspki/err.h"
#include "vmspki/store.h"

#define VP_DEVICE_PROBE_TIMEOUT_MS 10000  /* each request of the probe made by `device add` */
#define VP_DEVICE_EXPIRY_WARN_DAYS 30     /* default of lifecycle.warning_days */

/* ---- sitekey.c ---- */
#define VP_SITEKEY_KV "site.datakey"             /* key_value row of the wrapped data key */
#define VP_SITEKEY_ITERATIONS 600000             /* PBKDF2-HMAC-SHA256 over the passphrase */
#define VP_SITEKEY_FILE_MIN 32                   /* bytes a site key file holds at least */

/* AES-256-GCM of pt under the site data key with aad; *out is 1 version byte, the 12-byte
 * nonce, the ciphertext and the 16-byte tag (free with vp_secret_free or free: no secret). */
vp_err vp_sitekey_seal(const vp_sitekey *k, const char *aad, const unsigned char *pt,
    size_t len, unsigned char **out, size_t *outlen, vp_error *e);
/* The reverse: a new NUL-terminated buffer (a secret: vp_secret_free(*out, *outlen)). A blob
 * sealed for another aad, or altered, is VP_ERR_CRYPTO. */
vp_err vp_sitekey_unseal(const vp_sitekey *k, const char *aad, const unsigned char *blob,
    size_t len, unsigned char **out, size_t *outlen, vp_error *e);
/* "vmspki-device:<address>:<http_port>": a device password's ciphertext is bound to its row. */
void vp_device_aad(const char *address, int http_port, char *buf, size_t n);

/* ---- device.c ---- */
/* The HTTPS column for a device in state d after a probe that found bound_alias bound to its
 * web server (VP_HTTPS_*). */
const char *vp_device_https_state(const vp_device *d, const char *bound_alias);
/* The status column at time now: a device whose status is OK (or an expiry status) and that
 * holds our certificate shows "Certificate about to expire" within VP_DEVICE_EXPIRY_WARN_DAYS
 * of its end and "Certificate has expired" after it; other statuses stay. */
void vp_device_status_at(vp_device *d, int64_t now, int warn_days);

/* ---- device_csv.c ---- */
#define VP_CSV_FIELDS_MAX 6
#define VP_CSV_FIELD_MAX 1024   /* bytes of one field */

/* One physical line of a CSV file: either its fields (error NULL) or why it is malformed
 * (fields NULL). Blank lines and lines starting with '#' are not reported. A non-zero return
 * stops the reading and is returned. */
typedef int (*vp_csv_line_cb)(int line, char *const *fields, size_t nfields,
    const char *error, void *arg);
/* Reads csv (RFC 4180 quoting, LF or CRLF line ends, a UTF-8 BOM allowed; a record is one line:
 * a quoted field may not hold a line break) and calls cb for each line. Field buffers are wiped
 * after the call (they may hold passwords). VP_OK, VP_ERR_NOMEM, or cb's non-zero return. */
vp_err vp_csv_read_lines(const char *csv, size_t len, vp_csv_line_cb cb, void *arg,
    vp_error *e);

#endif
