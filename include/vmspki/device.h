/* The camera inventory: devices, their credentials (encrypted at rest), their identity and the
 * states the seeds show ("HTTPS: Enabled", "Status: Wrong credentials", ...). */
#ifndef VMSPKI_DEVICE_H
#define VMSPKI_DEVICE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "vmspki/driver.h"
#include "vmspki/err.h"
#include "vmspki/store.h"

/* HTTPS column. */
#define VP_HTTPS_UNSUPPORTED "Unsupported firmware"
#define VP_HTTPS_MISSING     "Disabled (Missing server certificate)"
#define VP_HTTPS_DISABLED    "Disabled"
#define VP_HTTPS_ENABLED     "Enabled"
/* Status column. */
#define VP_STATUS_OK          "OK"
#define VP_STATUS_UNREACHABLE "Unreachable"
#define VP_STATUS_WRONG_CREDS "Wrong credentials"
#define VP_STATUS_EXPIRING    "Certificate about to expire"
#define VP_STATUS_EXPIRED     "Certificate has expired"

/* One device row (its typedef, vp_device, is in store.h). */
struct vp_device {
	int64_t id;
	char address[256];       /* IP address or host name, as given */
	int http_port;           /* default 80 */
	int https_port;          /* default 443 */
	char name[256];          /* FQDN, "" if unknown */
	char username[128];
	int allow_basic;
	char cn_mode[8];         /* "", "ip" or "fqdn": "" follows the site setting */
	char mac[32];
	char model[96];
	char firmware[48];
	char api[16];            /* VP_DEV_API_* */
	char https_state[48];    /* VP_HTTPS_* */
	char status[48];         /* VP_STATUS_* */
	char status_detail[512]; /* the last error in the device's words, "" when OK */
	int pinned;              /* our certificate verified: always verify from now on */
	int https_only;
	char cert_serial[64];    /* our certificate on the device, "" if none */
	char cert_alias[128];    /* its alias on the device */
	int64_t cert_not_after;
	int64_t added_at;
	int64_t updated_at;
	/* The server working on it now (vp_device_list fills it: the engine "host:pid:start" of
	 * the task that has it Running; issue 22), "" when none. */
	char server[160];
};

/* The site's data key unlocks device passwords. It is made on first use, wrapped under the CA
 * passphrase (or under $VMSPKI_SITE_KEY_FILE's key when that is set) and kept in the store. */
typedef struct vp_sitekey vp_sitekey;
vp_err vp_sitekey_open(vp_store *s, const char *passphrase, vp_sitekey **out, vp_error *e);
void vp_sitekey_free(vp_sitekey *k);
/* The environment variable naming the site key file. */
#define VP_SITEKEY_FILE_ENV "VMSPKI_SITE_KEY_FILE"
/* How the stored data key is wrapped: "passphrase", "file", or "" when there is none yet. */
vp_err vp_sitekey_wrapping(vp_store *s, char *buf, size_t n, vp_error *e);

/* What an operator gives to add a device. */
typedef struct vp_device_new {
	const char *address;
	int http_port;           /* 0: 80 */
	int https_port;          /* 0: 443 */
	const char *name;        /* may be NULL */
	const char *username;
	const char *password;    /* secret */
	int allow_basic;
	const char *cn_mode;     /* NULL or "", "ip", "fqdn" */
} vp_device_new;

#define VP_DEVICE_PASSWORD_MAX 256   /* bytes of a device password */

/* Checks what an operator gives (address, ports, user, password, name, cn) without any I/O:
 * VP_ERR_INVALID with what is wrong and what to do. Front ends check before they queue work. */
vp_err vp_device_new_check(const vp_device_new *nd, vp_error *e);
/* ADDR, ADDR:PORT, [V6] or [V6]:PORT into addr (n bytes, without brackets) and *port (0 when
 * absent); a bare IPv6 address has no port. VP_ERR_INVALID if malformed. */
vp_err vp_device_addr_parse(const char *in, char *addr, size_t n, int *port, vp_error *e);

/* Checks nd (address, ports, user), probes the device (basicdeviceinfo, web server TLS
 * configuration), and stores it with its encrypted password and the states the probe found.
 * A device that cannot be reached or refuses the credentials is not added (VP_ERR_INVALID with
 * the reason) unless keep_unreachable is set, in which case it is stored with that status. */
vp_err vp_device_add(vp_store *s, const vp_sitekey *k, const char *ca_file,
    const vp_device_new *nd, int keep_unreachable, const char *actor, vp_device *out,
    vp_error *e);

vp_err vp_device_get(vp_store *s, int64_t id, vp_device *out, vp_error *e);
vp_err vp_device_list(vp_store *s, vp_device_cb cb, void *arg, vp_error *e);
/* The page q of the inventory (vp_store_device_page; q->now and q->warn_s are set here from
 * the clock and the warning window) as vp_device_list gives each device: its status as shown
 * now, the server working on it. *total: how many match the filters. */
struct vp_device_query;
vp_err vp_device_page(vp_store *s, const struct vp_device_query *q, vp_device_cb cb,
    void *arg, int64_t *total, vp_error *e);
vp_err vp_device_remove(vp_store *s, int64_t id, const char *actor, vp_error *e);

/* A device as JSON (never its password): id, address, ports, name, username, allow_basic, cn,
 * mac, model, firmware, api, https, status, status_detail, pinned, https_only, certificate
 * (serial, alias, not_after; null when none), added_at, updated_at. A new object, NULL when
 * out of memory (device_json.c). */
json_t *vp_json_device(const vp_device *d);
/* Every device (vp_device_list) as vp_json_device appended to array, for `device list --json`
 * and GET /api/v1/devices. VP_ERR_NOMEM when out of memory (e not set), else the store's. */
vp_err vp_device_list_json(vp_store *s, json_t *array, vp_error *e);

/* Writes back what tasks and probes learn: identity, api, https_state, status, status_detail,
 * pinned, https_only, cert_serial, cert_alias, cert_not_after (not address or credentials). */
vp_err vp_device_update_state(vp_store *s, const vp_device *d, vp_error *e);

/* The device's password, decrypted into a new buffer (free with vp_secret_free(p, strlen(p))). */
vp_err vp_device_password(vp_store *s, const vp_sitekey *k, int64_t id, char **out,
    vp_error *e);

/* Fills conn to reach d (pointers into d and password; ca_file for pinned devices). Pinned
 * devices are reached over HTTPS with verification; others over HTTP, or HTTPS without
 * verification when https_only is set. */
void vp_device_conn(const vp_device *d, const char *password, const char *ca_file,
    vp_dev_conn *conn);

/* CSV import: address,http_port,https_port,user,password,name (a header line is allowed).
 * Each line is added on its own; report gets one line per input line ("line 3: added as 7",
 * "line 4: refused: ..."). Returns VP_OK if the file could be read; *added and *failed count. */
typedef void (*vp_device_report_cb)(int line, int64_t id, const vp_error *err, void *arg);
vp_err vp_device_import_csv(vp_store *s, const vp_sitekey *k, const char *ca_file,
    const char *csv, size_t len, const char *actor, vp_device_report_cb cb, void *arg,
    size_t *added, size_t *failed, vp_error *e);


/* ---- the web UI's views of the inventory (device_json.c) ---- */
/* The page q of the inventory (vp_store_device_page) as vp_json_device appended to array,
 * *total the devices that match its filters. VP_ERR_NOMEM when out of memory. */
vp_err vp_device_page_json(vp_store *s, const vp_device_query *q, json_t *array, int64_t *total,
    vp_error *e);
/* The weeks of certificate ends the summary counts. */
#define VP_DEVICE_SUMMARY_WEEKS 52
/* {"total", "by_status": {STATUS: n}, "by_https": {STATE: n}, "expiry": {"from", "expired",
 * "weeks": [n x VP_DEVICE_SUMMARY_WEEKS], "later"}} of the devices at time now ("unknown" for
 * a device never probed), into *out (a new object). */
vp_err vp_device_summary_json(vp_store *s, int64_t now, json_t **out, vp_error *e);

#endif
