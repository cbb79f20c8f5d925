/* Internals of the device inventory (device.c, store_device.c, sitekey.c, device_csv.c) that
 * its front ends' checks and its unit tests use; not part of the public API (device.h). */
#ifndef VMSPKI_DEVICE_INTERNAL_H
#define VMSPKI_DEVICE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "vmspki/device.h"
#include "vmspki/driver.h"
#include "vmspki/err.h"
#include "vmspki/store.h"

#define VP_DEVICE_PASSWORD_MAX 256        /* bytes of a device password */
#define VP_DEVICE_PROBE_TIMEOUT_MS 10000  /* each request of the probe made by `device add` */
#define VP_DEVICE_EXPIRY_WARN_DAYS 30     /* default of lifecycle.warning_days */

/* ---- sitekey.c ---- */
#define VP_SITEKEY_KV "site.datakey"             /* key_value row of the wrapped data key */
#define VP_SITEKEY_FILE_ENV "VMSPKI_SITE_KEY_FILE"
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
/* How the stored data key is wrapped: "passphrase", "file", or "" when there is none yet. */
vp_err vp_sitekey_wrapping(vp_store *s, char *buf, size_t n, vp_error *e);

/* ---- store_device.c: the devices table (SQLite) ---- */
/* Inserts d (its id and times are set here) with the sealed password. VP_ERR_EXISTS when the
 * address and HTTP port are taken. */
vp_err vp_store_device_insert(vp_store *s, vp_device *d, const unsigned char *secret,
    size_t secret_len, vp_error *e);
vp_err vp_store_device_get(vp_store *s, int64_t id, vp_device *out, vp_error *e);
/* The device at address:http_port, or with that MAC; VP_ERR_NOTFOUND when none. */
vp_err vp_store_device_find(vp_store *s, const char *address, int http_port, vp_device *out,
    vp_error *e);
vp_err vp_store_device_find_mac(vp_store *s, const char *mac, vp_device *out, vp_error *e);
/* The row and its sealed password (*secret freed by the caller). */
vp_err vp_store_device_secret(vp_store *s, int64_t id, vp_device *row, unsigned char **secret,
    size_t *len, vp_error *e);
vp_err vp_store_device_list(vp_store *s, vp_device_cb cb, void *arg, vp_error *e);
vp_err vp_store_device_update_state(vp_store *s, const vp_device *d, vp_error *e);
vp_err vp_store_device_delete(vp_store *s, int64_t id, vp_error *e);
/* The id of a queued or running task that holds device id, 0 if none. */
vp_err vp_store_device_task(vp_store *s, int64_t id, int64_t *task, vp_error *e);
/* *yes tells whether there is a device id. */
vp_err vp_store_device_exists(vp_store *s, int64_t id, int *yes, vp_error *e);
/* The ids of every device, or (ours set) of those that hold a certificate of ours, in order,
 * into *ids (free(); NULL when none) and *n. */
vp_err vp_store_device_ids(vp_store *s, int ours, int64_t **ids, size_t *n, vp_error *e);
/* The ids, in order, of the devices the nightly device check looks at: a supported API and
 * not Pending or Running in a Queued or Running task (*ids as for vp_store_device_ids). */
vp_err vp_store_device_to_check(vp_store *s, int64_t **ids, size_t *n, vp_error *e);
/* Calls cb, in order of id, for each pinned device whose certificate of ours ends at or before
 * before; busy says another task (device checks aside) still holds it. A non-zero return from
 * cb stops the walk and is returned. */
typedef int (*vp_store_device_due_cb)(int64_t id, int busy, void *arg);
vp_err vp_store_device_to_renew(vp_store *s, int64_t before, vp_store_device_due_cb cb,
    void *arg, vp_error *e);

/* ---- device.c ---- */
/* Checks what an operator gives (address, ports, user, password, name, cn) without any I/O:
 * VP_ERR_INVALID with what is wrong and what to do. */
vp_err vp_device_new_check(const vp_device_new *nd, vp_error *e);
/* The HTTPS column for a device in state d after a probe that found bound_alias bound to its
 * web server (VP_HTTPS_*). */
const char *vp_device_https_state(const vp_device *d, const char *bound_alias);
/* The status column at time now: a device whose status is OK (or an expiry status) and that
 * holds our certificate shows "Certificate about to expire" within VP_DEVICE_EXPIRY_WARN_DAYS
 * of its end and "Certificate has expired" after it; other statuses stay. */
void vp_device_status_at(vp_device *d, int64_t now, int warn_days);
/* ADDR, ADDR:PORT, [V6] or [V6]:PORT into addr (without brackets) and *port (0 when absent);
 * a bare IPv6 address has no port. VP_ERR_INVALID if malformed. */
vp_err vp_device_addr_parse(const char *in, char *addr, size_t n, int *port, vp_error *e);

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
