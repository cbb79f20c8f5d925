/* The camera inventory: what an operator gives is checked, the camera is probed through the
 * driver (HTTP first, HTTPS without verification when HTTP is refused), and the row is stored
 * with the password sealed under the site data key and the states the seeds show. */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "device_internal.h"
#include "vmspki/addr.h"
#include "vmspki/devhttp.h"
#include "vmspki/device.h"
#include "vmspki/extcert.h"
#include "vmspki/foreign.h"
#include "vmspki/keystore.h"
#include "vmspki/settings.h"
#include "vmspki/util.h"

/* ---- checks ---- */

static int
has_control(const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			return 1;
	return 0;
}

vp_err
vp_device_new_check(const vp_device_new *nd, vp_error *e)
{
	const char *a = nd->address, *cn = nd->cn_mode != NULL ? nd->cn_mode : "";
	int named = nd->name != NULL && nd->name[0] != '\0';
	size_t plen;

	if (a == NULL || a[0] == '\0')
		return vp_error_set(e, VP_ERR_INVALID, "a device needs an address (IP address or "
		    "host name)");
	if (strlen(a) >= sizeof(((vp_device *)0)->address) || has_control(a))
		return vp_error_set(e, VP_ERR_INVALID, "the device address is too long or holds "
		    "control characters");
	if (!vp_addr_is_ip(a) && !vp_addr_is_hostname(a, 0)) {
		const char *colon = strchr(a, ':');

		if (colon != NULL && strchr(colon + 1, ':') == NULL)
			return vp_error_set(e, VP_ERR_INVALID, "\"%s\": give the address without a port "
			    "(the HTTP port is its own field, or ADDR:PORT on the command line)", a);
		if (strchr(a, '%') != NULL)
			return vp_error_set(e, VP_ERR_INVALID, "\"%s\": IPv6 addresses with a zone "
			    "(%%interface) are not supported: give a global or unique-local address",
			    a);
		return vp_error_set(e, VP_ERR_INVALID, "\"%s\" is neither an IP address nor a host "
		    "name (letters, digits, '-' and '.'; IPv6 without brackets here)", a);
	}
	if (nd->http_port < 0 || nd->http_port > 65535)
		return vp_error_set(e, VP_ERR_INVALID, "the HTTP port must be from 1 to 65535, not "
		    "%d", nd->http_port);
	if (nd->https_port < 0 || nd->https_port > 65535)
		return vp_error_set(e, VP_ERR_INVALID, "the HTTPS port must be from 1 to 65535, not "
		    "%d", nd->https_port);
	if ((nd->http_port != 0 ? nd->http_port : 80) == (nd->https_port != 0 ? nd->https_port :
	    443))
		return vp_error_set(e, VP_ERR_INVALID, "the HTTP and HTTPS ports of a device must "
		    "differ (both are %d)", nd->http_port != 0 ? nd->http_port : 80);
	if (nd->username == NULL || nd->username[0] == '\0')
		return vp_error_set(e, VP_ERR_INVALID, "a device needs the user name of an "
		    "administrator account (--user, the CSV's user column)");
	if (strlen(nd->username) >= sizeof(((vp_device *)0)->username) ||
	    has_control(nd->username) || strchr(nd->username, ':') != NULL)
		return vp_error_set(e, VP_ERR_INVALID, "the user name must be 1 to %zu characters "
		    "without ':' or control characters",
		    sizeof(((vp_device *)0)->username) - 1);
	if (nd->password == NULL || nd->password[0] == '\0')
		return vp_error_set(e, VP_ERR_INVALID, "a device needs its password (--password-file "
		    "F, $VMSPKI_DEVICE_PASSWORD, the CSV's password column): it is empty");
	plen = strlen(nd->password);
	if (plen > VP_DEVICE_PASSWORD_MAX || has_control(nd->password))
		return vp_error_set(e, VP_ERR_INVALID, "the device password must be at most %d bytes "
		    "without control characters (line breaks, tabs)", VP_DEVICE_PASSWORD_MAX);
	if (named && (strlen(nd->name) >= sizeof(((vp_device *)0)->name) ||
	    !vp_addr_is_hostname(nd->name, 0)))
		return vp_error_set(e, VP_ERR_INVALID, "the device name must be a host name such as "
		    "cam1.site.example (letters, digits, '-' and '.'), not \"%.*s\"",
		    has_control(nd->name) ? 0 : 253, nd->name);
	if (strcmp(cn, "") != 0 && strcmp(cn, "ip") != 0 && strcmp(cn, "fqdn") != 0)
		return vp_error_set(e, VP_ERR_INVALID, "the common name is \"ip\" (the device's "
		    "address) or \"fqdn\" (its name), not \"%.*s\"", has_control(cn) ? 0 : 32, cn);
	if (strcmp(cn, "fqdn") == 0 && !named && vp_addr_is_ip(a))
		return vp_error_set(e, VP_ERR_INVALID, "the common name \"fqdn\" needs the device's "
		    "name (--name FQDN, the CSV's name column): %s is an address", a);
	if (strcmp(cn, "ip") == 0 && !vp_addr_is_ip(a))
		return vp_error_set(e, VP_ERR_INVALID, "the common name \"ip\" needs the device's "
		    "IP address as its address, not the host name %s", a);
	return VP_OK;
}

vp_err
vp_device_addr_parse(const char *in, char *addr, size_t n, int *port, vp_error *e)
{
	const char *colon, *p = NULL;
	size_t alen;
	long v;
	char *end;

	*port = 0;
	if (in == NULL || in[0] == '\0')
		return vp_error_set(e, VP_ERR_INVALID, "give the device's address (ADDR[:PORT])");
	if (in[0] == '[') {
		const char *close = strchr(in, ']');

		if (close == NULL || (close[1] != '\0' && close[1] != ':'))
			return vp_error_set(e, VP_ERR_INVALID, "\"%s\": an IPv6 address in brackets is "
			    "written [ADDR] or [ADDR]:PORT", in);
		alen = (size_t)(close - in - 1);
		if (close[1] == ':')
			p = close + 2;
		in++;
	} else if ((colon = strchr(in, ':')) != NULL && strchr(colon + 1, ':') == NULL) {
		alen = (size_t)(colon - in);
		p = colon + 1;
	} else {
		alen = strlen(in);   /* no colon, or a bare IPv6 address */
	}
	if (alen == 0 || alen >= n)
		return vp_error_set(e, VP_ERR_INVALID, "the device address is empty or too long");
	memcpy(addr, in, alen);
	addr[alen] = '\0';
	if (p != NULL) {
		errno = 0;
		v = strtol(p, &end, 10);
		if (p[0] < '0' || p[0] > '9' || *end != '\0' || errno != 0 || v < 1 || v > 65535)
			return vp_error_set(e, VP_ERR_INVALID, "the port after the address must be a "
			    "number from 1 to 65535, not \"%.16s\"", p);
		*port = (int)v;
	}
	return VP_OK;
}

/* ---- states ---- */

const char *
vp_device_https_state(const vp_device *d, const char *bound_alias)
{
	if (strcmp(d->api, VP_DEV_API_UNSUPPORTED) == 0)
		return VP_HTTPS_UNSUPPORTED;
	if (bound_alias == NULL || bound_alias[0] == '\0')
		return VP_HTTPS_MISSING;
	/* Enabled only once vmspki installed its certificate, verified it and pinned the device,
	 * and that certificate is still the one the web server presents. */
	if (d->pinned && (d->cert_alias[0] == '\0' || strcmp(d->cert_alias, bound_alias) == 0))
		return VP_HTTPS_ENABLED;
	return VP_HTTPS_DISABLED;
}

void
vp_device_conn(const vp_device *d, const char *password, const char *ca_file,
    vp_dev_conn *conn)
{
	memset(conn, 0, sizeof(*conn));
	conn->address = d->address;
	conn->http_port = d->http_port;
	conn->https_port = d->https_port;
	conn->username = d->username;
	conn->password = password;
	conn->allow_basic = d->allow_basic;
	/* A pinned device is only ever reached over verified HTTPS: that replaces ADM's global
	 * "Ignore certificate validation". */
	conn->use_https = d->pinned || d->https_only;
	conn->verify = d->pinned;
	conn->ca_file = d->pinned ? ca_file : NULL;
	conn->tls_name = NULL;   /* the address: our certificates name it (SAN IP or DNS) */
	conn->timeout_ms = 0;
}

/* ---- probe ---- */

typedef struct probe_out {
	vp_dev_fail fail;
	char msg[400];
	int https;              /* the answer came over HTTPS (HTTP was unreachable) */
	vp_dop_result r;        /* identity and web server (certs/csr not kept) */
	char api[16];
} probe_out;

static vp_err
probe_with(const vp_driver *drv, const vp_dev_conn *conn, probe_out *po, vp_error *e)
{
	static const vp_dop_args noargs;
	const vp_dop_result *r;
	const char *msg = NULL, *api;
	vp_dop *op = NULL;
	int retryable = 0;
	vp_err rc;

	memset(po, 0, sizeof(*po));
	if ((rc = vp_dop_start(drv, VP_DOP_PROBE, &noargs, "", &op, e)) != VP_OK ||
	    (rc = vp_dop_run(conn, op, e)) != VP_OK)
		goto out;
	po->fail = vp_dop_failed(op, &msg, &retryable);
	snprintf(po->msg, sizeof(po->msg), "%s", msg != NULL ? msg : vp_dev_fail_str(po->fail));
	if ((r = vp_dop_get_result(op)) != NULL) {
		memcpy(po->r.serial, r->serial, sizeof(po->r.serial));
		memcpy(po->r.model, r->model, sizeof(po->r.model));
		memcpy(po->r.firmware, r->firmware, sizeof(po->r.firmware));
		memcpy(po->r.brand, r->brand, sizeof(po->r.brand));
		memcpy(po->r.api, r->api, sizeof(po->r.api));
		memcpy(po->r.bound_alias, r->bound_alias, sizeof(po->r.bound_alias));
		po->r.serial[sizeof(po->r.serial) - 1] = '\0';
		po->r.model[sizeof(po->r.model) - 1] = '\0';
		po->r.firmware[sizeof(po->r.firmware) - 1] = '\0';
		po->r.brand[sizeof(po->r.brand) - 1] = '\0';
		po->r.api[sizeof(po->r.api) - 1] = '\0';
		po->r.bound_alias[sizeof(po->r.bound_alias) - 1] = '\0';
		po->r.policy = r->policy;
	}
	api = vp_dop_api(op);
	snprintf(po->api, sizeof(po->api), "%s", api != NULL && api[0] != '\0' ? api : po->r.api);
out:
	vp_dop_free(op);
	return rc;
}

/* Probes with each driver in turn (driver.c's order) until one knows the device: a device one
 * driver calls unsupported may speak another's API. */
static vp_err
probe_once(const vp_dev_conn *conn, probe_out *po, vp_error *e)
{
	const vp_driver *const *drv;
	size_t i, n;
	vp_err rc = VP_OK;

	drv = vp_drivers(&n);
	for (i = 0; i < n; i++) {
		if ((rc = probe_with(drv[i], conn, po, e)) != VP_OK)
			return rc;
		if (po->fail != VP_DEVF_UNSUPPORTED &&
		    strcmp(po->api, VP_DEV_API_UNSUPPORTED) != 0)
			break;
	}
	return rc;
}

/* Probes d: over HTTP, and when HTTP cannot be reached over HTTPS without verification (the
 * factory certificate of firmware 7.20 and later is self-signed). Credentials refused over
 * HTTP are not tried again over HTTPS: a second refusal could lock the account. */
static vp_err
probe(const vp_device *d, const char *password, long timeout_ms, probe_out *po, vp_error *e)
{
	probe_out over_https;
	vp_dev_conn conn;
	vp_err rc;

	vp_device_conn(d, password, NULL, &conn);
	conn.timeout_ms = timeout_ms;
	if ((rc = probe_once(&conn, po, e)) != VP_OK || po->fail != VP_DEVF_UNREACHABLE ||
	    conn.use_https)
		return rc;
	conn.use_https = 1;
	conn.verify = 0;
	if ((rc = probe_once(&conn, &over_https, e)) != VP_OK)
		return rc;
	if (over_https.fail == VP_DEVF_UNREACHABLE) {
		char both[sizeof(po->msg)];

		snprintf(both, sizeof(both), "HTTP port %d: %.180s; HTTPS port %d: %.180s",
		    d->http_port, po->msg, d->https_port, over_https.msg);
		memcpy(po->msg, both, sizeof(both));
		return VP_OK;
	}
	*po = over_https;
	po->https = 1;
	return VP_OK;
}

/* Writes what a probe found into d. */
static void
apply_probe(vp_device *d, const probe_out *po)
{
	if (po->fail == VP_DEVF_NONE || po->fail == VP_DEVF_UNSUPPORTED) {
		snprintf(d->mac, sizeof(d->mac), "%s", po->r.serial);
		snprintf(d->model, sizeof(d->model), "%s", po->r.model);
		snprintf(d->firmware, sizeof(d->firmware), "%s", po->r.firmware);
	}
	switch (po->fail) {
	case VP_DEVF_NONE:
		snprintf(d->api, sizeof(d->api), "%s", po->api);
		snprintf(d->status, sizeof(d->status), "%s", VP_STATUS_OK);
		d->status_detail[0] = '\0';
		if (po->https || po->r.policy == VP_POLICY_HTTPS)
			d->https_only = 1;
		snprintf(d->https_state, sizeof(d->https_state), "%s",
		    vp_device_https_state(d, po->r.bound_alias));
		break;
	case VP_DEVF_UNSUPPORTED:
		snprintf(d->api, sizeof(d->api), "%s", VP_DEV_API_UNSUPPORTED);
		snprintf(d->status, sizeof(d->status), "%s", VP_STATUS_OK);
		snprintf(d->status_detail, sizeof(d->status_detail), "%s", po->msg);
		snprintf(d->https_state, sizeof(d->https_state), "%s", VP_HTTPS_UNSUPPORTED);
		d->https_only = po->https;
		break;
	case VP_DEVF_AUTH:
		snprintf(d->status, sizeof(d->status), "%s", VP_STATUS_WRONG_CREDS);
		snprintf(d->status_detail, sizeof(d->status_detail), "%s", po->msg);
		d->https_only = po->https;
		break;
	default:
		/* Unreachable, or it answered but not as a camera should: no usable contact. */
		snprintf(d->status, sizeof(d->status), "%s", VP_STATUS_UNREACHABLE);
		snprintf(d->status_detail, sizeof(d->status_detail), "%s", po->msg);
		d->https_only = po->https;
		break;
	}
}

/* Why a probe refuses the device, as a sentence. */
static vp_err
probe_refusal(const vp_device *d, const probe_out *po, vp_error *e)
{
	switch (po->fail) {
	case VP_DEVF_AUTH:
		return vp_error_set(e, VP_ERR_INVALID, "%s (port %d): %s: the device refused user "
		    "\"%s\" with the password given (%s). Check them; the device was not added, and "
		    "it is not tried again so that the account is not locked", d->address,
		    po->https ? d->https_port : d->http_port, VP_STATUS_WRONG_CREDS, d->username,
		    po->msg);
	case VP_DEVF_UNREACHABLE:
		return vp_error_set(e, VP_ERR_INVALID, "%s: %s: no answer from the device (%s). "
		    "Check the address, the ports and that the device is on; it was not added",
		    d->address, VP_STATUS_UNREACHABLE, po->msg);
	case VP_DEVF_TLS:
		return vp_error_set(e, VP_ERR_INVALID, "%s: HTTP is closed and the HTTPS handshake "
		    "failed (%s); the device was not added", d->address, po->msg);
	default:
		return vp_error_set(e, VP_ERR_INVALID, "%s: the device answered, but not as a "
		    "supported camera does (%s); it was not added", d->address, po->msg);
	}
}

vp_err
vp_device_add(vp_store *s, const vp_sitekey *k, const char *ca_file,
    const vp_device_new *nd, int keep_unreachable, const char *actor, vp_device *out,
    vp_error *e)
{
	unsigned char *secret = NULL;
	size_t secret_len = 0;
	char aad[300], detail[600];
	probe_out po;
	vp_device d, other;
	vp_err rc;

	(void)ca_file;   /* a new device is never pinned: its first contact does not verify */
	memset(&d, 0, sizeof(d));
	if ((rc = vp_device_new_check(nd, e)) != VP_OK)
		return rc;
	if (k == NULL)
		return vp_error_set(e, VP_ERR_PASSPHRASE, "the site data key is not open: device "
		    "passwords cannot be stored");
	snprintf(d.address, sizeof(d.address), "%s", nd->address);
	d.http_port = nd->http_port != 0 ? nd->http_port : 80;
	d.https_port = nd->https_port != 0 ? nd->https_port : 443;
	snprintf(d.name, sizeof(d.name), "%s", nd->name != NULL ? nd->name : "");
	snprintf(d.username, sizeof(d.username), "%s", nd->username);
	d.allow_basic = nd->allow_basic != 0;
	snprintf(d.cn_mode, sizeof(d.cn_mode), "%s", nd->cn_mode != NULL ? nd->cn_mode : "");

	/* Known already? Said before the device is asked anything. */
	rc = vp_store_device_find(s, d.address, d.http_port, &other, e);
	if (rc == VP_OK)
		return vp_error_set(e, VP_ERR_EXISTS, "%s (HTTP port %d) is already in the "
		    "inventory as device %" PRId64, d.address, d.http_port, other.id);
	if (rc != VP_ERR_NOTFOUND)
		return rc;

	if ((rc = probe(&d, nd->password, VP_DEVICE_PROBE_TIMEOUT_MS, &po, e)) != VP_OK)
		return rc;
	apply_probe(&d, &po);
	if (po.fail != VP_DEVF_NONE && po.fail != VP_DEVF_UNSUPPORTED && !keep_unreachable)
		return probe_refusal(&d, &po, e);
	if (d.mac[0] != '\0') {
		rc = vp_store_device_find_mac(s, d.mac, &other, e);
		if (rc == VP_OK)
			return vp_error_set(e, VP_ERR_EXISTS, "the device at %s is the camera %s, "
			    "already in the inventory as device %" PRId64 " at %s: remove that one "
			    "first if its address changed", d.address, d.mac, other.id, other.address);
		if (rc != VP_ERR_NOTFOUND)
			return rc;
	}

	vp_device_aad(d.address, d.http_port, aad, sizeof(aad));
	if ((rc = vp_sitekey_seal(k, aad, (const unsigned char *)nd->password,
	    strlen(nd->password), &secret, &secret_len, e)) != VP_OK)
		return rc;
	if ((rc = vp_store_begin(s, e)) != VP_OK)
		goto out;
	if ((rc = vp_store_device_insert(s, &d, secret, secret_len, e)) != VP_OK) {
		vp_store_rollback(s);
		goto out;
	}
	snprintf(detail, sizeof(detail), "device %" PRId64 " at %.255s:%d (MAC %s, %s, firmware "
	    "%s): %s, HTTPS %s", d.id, d.address, d.http_port, d.mac[0] ? d.mac : "unknown",
	    d.model[0] ? d.model : "model unknown", d.firmware[0] ? d.firmware : "unknown",
	    d.status, d.https_state[0] ? d.https_state : "unknown");
	if ((rc = vp_store_audit_append(s, actor != NULL ? actor : "unknown", "device.add", NULL,
	    detail, e)) != VP_OK || (rc = vp_store_commit(s, e)) != VP_OK) {
		vp_store_rollback(s);
		goto out;
	}
	if (out != NULL)
		*out = d;
out:
	free(secret);   /* ciphertext: no secret */
	return rc;
}

/* ---- rows ---- */

void
vp_device_status_at(vp_device *d, int64_t now, int warn_days)
{
	const char *st;

	if (d->cert_serial[0] == '\0' || d->cert_not_after <= 0 ||
	    (strcmp(d->status, VP_STATUS_OK) != 0 && strcmp(d->status, VP_STATUS_EXPIRING) != 0 &&
	    strcmp(d->status, VP_STATUS_EXPIRED) != 0))
		return;
	if (now >= d->cert_not_after)
		st = VP_STATUS_EXPIRED;
	else if (d->cert_not_after - now <= (int64_t)warn_days * 86400)
		st = VP_STATUS_EXPIRING;
	else
		st = VP_STATUS_OK;
	snprintf(d->status, sizeof(d->status), "%s", st);
}

vp_err
vp_device_get(vp_store *s, int64_t id, vp_device *out, vp_error *e)
{
	vp_err rc = vp_store_device_get(s, id, out, e);
	int warn = VP_DEVICE_EXPIRY_WARN_DAYS, renew;

	if (rc == VP_OK && (rc = vp_lifecycle_windows(s, &warn, &renew, e)) == VP_OK)
		vp_device_status_at(out, (int64_t)time(NULL), warn);
	return rc;
}

/* Which server works on which device, by device id (vp_store_device_servers). */
typedef struct dev_server {
	int64_t id;
	char server[160];
} dev_server;

typedef struct list_arg {
	vp_device_cb cb;
	void *arg;
	int64_t now;
	int warn_days;
	dev_server *sv;
	size_t nsv, capsv, at;
} list_arg;

static int
server_add(int64_t id, const char *server, void *arg)
{
	list_arg *la = arg;

	if (la->nsv == la->capsv) {
		size_t cap = la->capsv == 0 ? 64 : la->capsv * 2;
		dev_server *n = cap > SIZE_MAX / sizeof(*n) ? NULL : realloc(la->sv, cap * sizeof(*n));

		if (n == NULL)
			return VP_ERR_NOMEM;
		la->sv = n;
		la->capsv = cap;
	}
	la->sv[la->nsv].id = id;
	snprintf(la->sv[la->nsv].server, sizeof(la->sv[la->nsv].server), "%s", server);
	la->nsv++;
	return 0;
}

static int
list_one(const vp_device *d, void *arg)
{
	list_arg *la = arg;
	vp_device c = *d;

	vp_device_status_at(&c, la->now, la->warn_days);
	/* Both walks go by device id: one pass. */
	while (la->at < la->nsv && la->sv[la->at].id < c.id)
		la->at++;
	c.server[0] = '\0';
	if (la->at < la->nsv && la->sv[la->at].id == c.id)
		memcpy(c.server, la->sv[la->at].server, sizeof(c.server));
	return la->cb(&c, la->arg);
}

vp_err
vp_device_list(vp_store *s, vp_device_cb cb, void *arg, vp_error *e)
{
	list_arg la = { cb, arg, (int64_t)time(NULL), VP_DEVICE_EXPIRY_WARN_DAYS, NULL, 0, 0, 0 };
	int renew;
	vp_err rc;

	if ((rc = vp_lifecycle_windows(s, &la.warn_days, &renew, e)) != VP_OK)
		return rc;
	if ((rc = vp_store_device_servers(s, server_add, &la, e)) == VP_ERR_NOMEM)
		rc = vp_error_set(e, VP_ERR_NOMEM, "out of memory listing the devices");
	if (rc == VP_OK)
		rc = vp_store_device_list(s, list_one, &la, e);
	free(la.sv);
	return rc;
}

/* A row of a page: in the page's order, not by id, so its server is looked up. */
static int
page_one(const vp_device *d, void *arg)
{
	list_arg *la = arg;
	vp_device c = *d;
	size_t lo = 0, hi = la->nsv;

	vp_device_status_at(&c, la->now, la->warn_days);
	c.server[0] = '\0';
	while (lo < hi) {                 /* la->sv is by device id */
		size_t mid = lo + (hi - lo) / 2;

		if (la->sv[mid].id < c.id)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < la->nsv && la->sv[lo].id == c.id)
		memcpy(c.server, la->sv[lo].server, sizeof(c.server));
	return la->cb(&c, la->arg);
}

vp_err
vp_device_page(vp_store *s, const vp_device_query *q, vp_device_cb cb, void *arg,
    int64_t *total, vp_error *e)
{
	list_arg la = { cb, arg, (int64_t)time(NULL), VP_DEVICE_EXPIRY_WARN_DAYS, NULL, 0, 0, 0 };
	vp_device_query sq = *q;
	int renew;
	vp_err rc;

	*total = 0;
	if ((rc = vp_lifecycle_windows(s, &la.warn_days, &renew, e)) != VP_OK)
		return rc;
	sq.now = la.now;
	sq.warn_s = (int64_t)la.warn_days * 86400;
	if ((rc = vp_store_device_servers(s, server_add, &la, e)) == VP_ERR_NOMEM)
		rc = vp_error_set(e, VP_ERR_NOMEM, "out of memory listing the devices");
	if (rc == VP_OK)
		rc = vp_store_device_page(s, &sq, page_one, &la, total, e);
	free(la.sv);
	return rc;
}

vp_err
vp_device_update_state(vp_store *s, const vp_device *d, vp_error *e)
{
	return vp_store_device_update_state(s, d, e);
}

vp_err
vp_device_remove(vp_store *s, int64_t id, const char *actor, vp_error *e)
{
	char detail[400];
	int64_t task = 0;
	vp_device d;
	vp_err rc;

	if ((rc = vp_store_begin(s, e)) != VP_OK)
		return rc;
	if ((rc = vp_store_device_get(s, id, &d, e)) != VP_OK ||
	    (rc = vp_store_device_task(s, id, &task, e)) != VP_OK)
		goto fail;
	if (task != 0) {
		rc = vp_error_set(e, VP_ERR_EXISTS, "device %" PRId64 " is in task %" PRId64 ", "
		    "which has not finished: cancel the task or wait for it, then remove the device",
		    id, task);
		goto fail;
	}
	snprintf(detail, sizeof(detail), "device %" PRId64 " at %.255s:%d (MAC %s)", id, d.address,
	    d.http_port, d.mac[0] ? d.mac : "unknown");
	/* What other modules keep per device (issue 19): device ids are given again. */
	if ((rc = vp_extcert_forget(s, id, e)) != VP_OK ||
	    (rc = vp_foreign_forget(s, id, e)) != VP_OK ||
	    (rc = vp_keystore_forget(s, id, e)) != VP_OK)
		goto fail;
	if ((rc = vp_store_device_delete(s, id, e)) != VP_OK ||
	    (rc = vp_store_audit_append(s, actor != NULL ? actor : "unknown", "device.remove",
	    NULL, detail, e)) != VP_OK || (rc = vp_store_commit(s, e)) != VP_OK)
		goto fail;
	return VP_OK;
fail:
	vp_store_rollback(s);
	return rc;
}

vp_err
vp_device_password(vp_store *s, const vp_sitekey *k, int64_t id, char **out, vp_error *e)
{
	unsigned char *secret = NULL, *pw = NULL;
	size_t len = 0, pwlen = 0;
	char aad[300];
	vp_device d;
	vp_err rc;

	*out = NULL;
	if (k == NULL)
		return vp_error_set(e, VP_ERR_PASSPHRASE, "the site data key is not open: device "
		    "passwords cannot be read");
	if ((rc = vp_store_device_secret(s, id, &d, &secret, &len, e)) != VP_OK)
		return rc;
	vp_device_aad(d.address, d.http_port, aad, sizeof(aad));
	if ((rc = vp_sitekey_unseal(k, aad, secret, len, &pw, &pwlen, e)) != VP_OK) {
		vp_error_prefix(e, "device %" PRId64, id);
		goto out;
	}
	if (strlen((char *)pw) != pwlen) {
		vp_secret_free(pw, pwlen + 1);
		rc = vp_error_set(e, VP_ERR_INVALID, "device %" PRId64 ": the stored password holds "
		    "a NUL byte", id);
		goto out;
	}
	*out = (char *)pw;
out:
	free(secret);
	return rc;
}
