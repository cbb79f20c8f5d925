/* Device discovery (issue 19, item 8): walks an IPv4 range with a bounded pool of threads,
 * each asking one address and port at a time through the drivers (VP_DOP_IDENTIFY, then a
 * probe with credentials when the device wants them and some were given), then records what
 * was found as a finished task. No protocol here: the drivers speak, devhttp carries. */
#include <arpa/inet.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "vmspki/addr.h"
#include "vmspki/devhttp.h"
#include "vmspki/device.h"
#include "vmspki/discover.h"
#include "vmspki/driver.h"
#include "vmspki/task.h"
#include "vmspki/util.h"

const char *
vp_discover_how_name(vp_discover_how h)
{
	switch (h) {
	case VP_DISC_ANONYMOUS:         return "anonymous";
	case VP_DISC_CREDENTIALS:       return "credentials";
	case VP_DISC_NEEDS_CREDENTIALS: return "needs-credentials";
	case VP_DISC_REFUSED:           return "refused";
	}
	return "unknown";
}

/* An IPv4 address (dotted quad, nothing else) into *a in host order. */
static int
ipv4(const char *s, uint32_t *a)
{
	struct in_addr in;

	if (inet_pton(AF_INET, s, &in) != 1)
		return 0;
	*a = ntohl(in.s_addr);
	return 1;
}

vp_err
vp_discover_range(const char *range, uint32_t *first, uint32_t *last, vp_error *e)
{
	char buf[80], *sep, *end;
	uint64_t count;
	long bits;

	if (range == NULL || strlen(range) >= sizeof(buf) || range[0] == '\0')
		return vp_error_set(e, VP_ERR_INVALID, "give the range as a CIDR block "
		    "(10.0.0.0/24) or FIRST-LAST (10.0.0.10-10.0.0.50)");
	snprintf(buf, sizeof(buf), "%s", range);
	if (strchr(buf, ':') != NULL)
		return vp_error_set(e, VP_ERR_INVALID, "\"%s\": discovery walks IPv4 ranges only "
		    "(an IPv6 subnet is too large to walk); add IPv6 devices with `vmspki device "
		    "add`", range);
	if ((sep = strchr(buf, '/')) != NULL) {
		*sep++ = '\0';
		bits = strtol(sep, &end, 10);
		if (!ipv4(buf, first) || *sep == '\0' || *end != '\0' || bits < 0 || bits > 32)
			return vp_error_set(e, VP_ERR_INVALID, "\"%s\" is not a CIDR block such as "
			    "10.0.0.0/24", range);
		count = (uint64_t)1 << (32 - bits);
		*first &= bits == 0 ? 0 : ~(uint32_t)0 << (32 - bits);
		*last = (uint32_t)(*first + count - 1);
		if (bits <= 30) {             /* neither the network nor the broadcast address */
			(*first)++;
			(*last)--;
		}
	} else if ((sep = strchr(buf, '-')) != NULL) {
		*sep++ = '\0';
		if (!ipv4(buf, first))
			return vp_error_set(e, VP_ERR_INVALID, "\"%s\": the first address is not "
			    "an IPv4 address", range);
		bits = strtol(sep, &end, 10);
		if (*sep != '\0' && *end == '\0' && bits >= 0 && bits <= 255)
			*last = (*first & 0xffffff00u) | (uint32_t)bits;   /* 10.0.0.10-50 */
		else if (!ipv4(sep, last))
			return vp_error_set(e, VP_ERR_INVALID, "\"%s\": the last address is not an "
			    "IPv4 address (or the last number of one)", range);
		if (*last < *first)
			return vp_error_set(e, VP_ERR_INVALID, "\"%s\": the last address comes "
			    "before the first", range);
	} else if (ipv4(buf, first)) {
		*last = *first;
	} else {
		return vp_error_set(e, VP_ERR_INVALID, "\"%s\" is neither a CIDR block "
		    "(10.0.0.0/24) nor a range FIRST-LAST (10.0.0.10-10.0.0.50)", range);
	}
	count = (uint64_t)*last - *first + 1;
	if (count > VP_DISCOVER_MAX_ADDRESSES)
		return vp_error_set(e, VP_ERR_INVALID, "\"%s\" holds %" PRIu64 " addresses: "
		    "discovery asks at most %d at once (a /20); give a smaller range, or several",
		    range, count, VP_DISCOVER_MAX_ADDRESSES);
	return VP_OK;
}

/* ---- asking ---- */

typedef struct walk {
	const vp_discover_opts *o;
	const int *ports;
	size_t nports;
	uint32_t first;
	uint64_t total;               /* addresses x ports */
	pthread_mutex_t mu;
	uint64_t next;                /* the next pair to ask */
	vp_discovered *found;         /* total slots; port 0 = nothing there */
	size_t other;
	int oom;
} walk;

/* Runs one operation of drv against conn: the failure (VP_DEVF_NONE on success) and, on
 * success or with a probe's identity, the result into d. */
static vp_dev_fail
ask(const vp_driver *drv, vp_dop_kind kind, const vp_dev_conn *conn, vp_discovered *d,
    int *oom)
{
	vp_dop *op = NULL;
	vp_error e = { 0 };
	vp_dev_fail f;
	const vp_dop_result *r;

	if (vp_dop_start(drv, kind, NULL, "", &op, &e) != VP_OK) {
		*oom |= e.code == VP_ERR_NOMEM;
		return VP_DEVF_PROTOCOL;
	}
	if (vp_dop_run(conn, op, &e) != VP_OK) {
		*oom |= e.code == VP_ERR_NOMEM;
		vp_dop_free(op);
		return VP_DEVF_PROTOCOL;
	}
	f = vp_dop_failed(op, NULL, NULL);
	r = vp_dop_get_result(op);
	if (r != NULL && r->serial[0] != '\0' && (f == VP_DEVF_NONE || f == VP_DEVF_UNSUPPORTED)) {
		snprintf(d->serial, sizeof(d->serial), "%s", r->serial);
		snprintf(d->model, sizeof(d->model), "%s", r->model);
		snprintf(d->firmware, sizeof(d->firmware), "%s", r->firmware);
		snprintf(d->brand, sizeof(d->brand), "%s", r->brand);
		f = VP_DEVF_NONE;             /* identified, whatever it supports */
	}
	vp_dop_free(op);
	return f;
}

/* One address and port: 1 when a device was found (d filled), 0 when nothing or nothing a
 * driver knows answered (*other set when something did). */
static int
ask_one(walk *w, const char *addr, int port, vp_discovered *d, int *other)
{
	const vp_driver *const *drv;
	vp_dev_conn conn;
	size_t ndrv;
	int have_creds = w->o->username != NULL && w->o->username[0] != '\0';

	memset(&conn, 0, sizeof(conn));
	conn.address = addr;
	conn.http_port = port;
	conn.https_port = 443;
	conn.timeout_ms = w->o->timeout_ms > 0 ? w->o->timeout_ms : VP_DISCOVER_TIMEOUT_MS;
	drv = vp_drivers(&ndrv);
	*other = 0;
	for (size_t i = 0; i < ndrv; i++) {
		vp_dev_fail f;

		conn.username = conn.password = NULL;
		f = ask(drv[i], VP_DOP_IDENTIFY, &conn, d, &w->oom);
		if (f == VP_DEVF_NONE) {
			d->how = VP_DISC_ANONYMOUS;
			return 1;
		}
		if (f == VP_DEVF_UNREACHABLE || f == VP_DEVF_TLS)
			return 0;             /* nobody there: no driver would do better */
		*other = 1;
		if (have_creds) {
			vp_dev_fail g;

			conn.username = w->o->username;
			conn.password = w->o->password;
			g = ask(drv[i], VP_DOP_PROBE, &conn, d, &w->oom);
			if (g == VP_DEVF_NONE) {
				d->how = VP_DISC_CREDENTIALS;
				return 1;
			}
			if (g == VP_DEVF_AUTH && f == VP_DEVF_AUTH) {
				d->how = VP_DISC_REFUSED;
				return 1;
			}
		} else if (f == VP_DEVF_AUTH) {
			d->how = VP_DISC_NEEDS_CREDENTIALS;
			return 1;
		}
	}
	return 0;
}

/* The reverse DNS name of addr into d->name ("" when there is none). */
static void
reverse_name(const char *addr, vp_discovered *d)
{
	struct sockaddr_in sa;
	char host[NI_MAXHOST];

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	d->name[0] = '\0';
	if (inet_pton(AF_INET, addr, &sa.sin_addr) != 1)
		return;
	if (getnameinfo((struct sockaddr *)&sa, sizeof(sa), host, sizeof(host), NULL, 0,
	    NI_NAMEREQD) == 0 && strlen(host) < sizeof(d->name) && vp_addr_is_hostname(host, 0))
		memcpy(d->name, host, strlen(host) + 1);
}

static void *
worker(void *arg)
{
	walk *w = arg;

	for (;;) {
		uint64_t k;
		struct in_addr in;
		char addr[INET_ADDRSTRLEN];
		vp_discovered d;
		int port, other = 0;

		pthread_mutex_lock(&w->mu);
		k = w->next < w->total && !w->oom ? w->next++ : w->total;
		pthread_mutex_unlock(&w->mu);
		if (k >= w->total)
			break;
		in.s_addr = htonl(w->first + (uint32_t)(k / w->nports));
		port = w->ports[k % w->nports];
		if (inet_ntop(AF_INET, &in, addr, sizeof(addr)) == NULL)
			continue;
		memset(&d, 0, sizeof(d));
		if (ask_one(w, addr, port, &d, &other)) {
			snprintf(d.address, sizeof(d.address), "%s", addr);
			d.port = port;
			if (!w->o->no_dns)
				reverse_name(addr, &d);
			w->found[k] = d;      /* each slot is this thread's alone */
		} else if (other) {
			pthread_mutex_lock(&w->mu);
			w->other++;
			pthread_mutex_unlock(&w->mu);
		}
	}
	return NULL;
}

typedef struct inv_walk {
	vp_discovered *d;
	size_t n;
} inv_walk;

static int
mark_known(const vp_device *dev, void *arg)
{
	inv_walk *iw = arg;

	for (size_t i = 0; i < iw->n; i++)
		if (strcmp(iw->d[i].address, dev->address) == 0 && iw->d[i].port == dev->http_port)
			iw->d[i].device_id = dev->id;
	return 0;
}

vp_err
vp_discover_run(vp_store *s, const vp_discover_opts *o, vp_discovered **out, size_t *n,
    size_t *answered_other, vp_error *e)
{
	static const int port80[] = { 80 };
	pthread_t th[VP_DISCOVER_CONCURRENCY_MAX];
	uint32_t first, last;
	size_t size, nth, started = 0, k;
	walk w;
	vp_err rc;

	*out = NULL;
	*n = 0;
	*answered_other = 0;
	if ((rc = vp_discover_range(o->range, &first, &last, e)) != VP_OK)
		return rc;
	if (o->nports > VP_DISCOVER_MAX_PORTS)
		return vp_error_set(e, VP_ERR_INVALID, "at most %d ports (--port) at once",
		    VP_DISCOVER_MAX_PORTS);
	for (size_t i = 0; i < o->nports; i++)
		if (o->ports[i] < 1 || o->ports[i] > 65535)
			return vp_error_set(e, VP_ERR_INVALID, "port %d is out of range",
			    o->ports[i]);
	if (o->concurrency < 0 || o->concurrency > VP_DISCOVER_CONCURRENCY_MAX)
		return vp_error_set(e, VP_ERR_INVALID, "the concurrency must be 1 to %d",
		    VP_DISCOVER_CONCURRENCY_MAX);
	memset(&w, 0, sizeof(w));
	w.o = o;
	w.ports = o->nports > 0 ? o->ports : port80;
	w.nports = o->nports > 0 ? o->nports : 1;
	w.first = first;
	w.total = ((uint64_t)last - first + 1) * w.nports;
	if (!vp_size_mul((size_t)w.total, sizeof(*w.found), &size) ||
	    (w.found = calloc(1, size)) == NULL)
		return vp_error_set(e, VP_ERR_NOMEM, "out of memory");
	pthread_mutex_init(&w.mu, NULL);
	nth = (size_t)(o->concurrency > 0 ? o->concurrency : VP_DISCOVER_CONCURRENCY);
	if (nth > w.total)
		nth = (size_t)w.total;
	for (size_t i = 0; i < nth; i++) {
		if (pthread_create(&th[i], NULL, worker, &w) != 0)
			break;
		started++;
	}
	if (started == 0)
		worker(&w);                   /* no thread at all: here, one at a time */
	for (size_t i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	pthread_mutex_destroy(&w.mu);
	vp_devhttp_pool_clear();
	if (w.oom) {
		free(w.found);
		return vp_error_set(e, VP_ERR_NOMEM, "out of memory");
	}
	/* The found ones, in the walk's order (address, then port). */
	for (k = 0; k < w.total; k++)
		if (w.found[k].port != 0)
			w.found[(*n)++] = w.found[k];
	*answered_other = w.other;
	*out = w.found;
	if (s != NULL && *n > 0) {
		inv_walk iw = { *out, *n };

		if ((rc = vp_device_list(s, mark_known, &iw, e)) != VP_OK) {
			free(*out);
			*out = NULL;
			*n = 0;
			return rc;
		}
	}
	return VP_OK;
}

/* ---- the record ---- */

static void
detail_of(const vp_discovered *d, char *buf, size_t n)
{
	size_t l;
	/* "AXIS P1367", not "AXIS AXIS P1367": the product name often starts with the brand. */
	int branded = d->brand[0] != '\0' && strncmp(d->model, d->brand, strlen(d->brand)) != 0;

	if (d->serial[0] != '\0')
		snprintf(buf, n, "%s%s%s, serial %s, firmware %s", branded ? d->brand : "",
		    branded ? " " : "", d->model, d->serial, d->firmware);
	else if (d->how == VP_DISC_REFUSED)
		snprintf(buf, n, "a device that refused the credentials given");
	else
		snprintf(buf, n, "a device that identifies itself only to a user: give --user and "
		    "--password-file");
	l = strlen(buf);
	if (d->how == VP_DISC_CREDENTIALS && l < n)
		l += (size_t)snprintf(buf + l, n - l, " (identified with the credentials given)");
	if (d->name[0] != '\0' && l < n)
		l += (size_t)snprintf(buf + l, n - l, "; name %s", d->name);
	if (d->device_id > 0 && l < n)
		snprintf(buf + l, n - l, "; in the inventory as device %" PRId64, d->device_id);
	else if (l < n)
		snprintf(buf + l, n - l, "; not in the inventory (`vmspki device add %s:%d`)",
		    d->address, d->port);
}

vp_err
vp_discover_record(vp_store *s, const char *actor, const vp_discover_opts *o,
    const vp_discovered *d, size_t n, int64_t *task, vp_error *e)
{
	vp_task t;
	char item[96], detail[512], audit[300];
	int64_t now = (int64_t)time(NULL);
	vp_err rc;

	*task = 0;
	memset(&t, 0, sizeof(t));
	snprintf(t.kind, sizeof(t.kind), "%s", VP_TASK_DEVICE_DISCOVER);
	t.concurrency = o->concurrency > 0 ? o->concurrency : VP_DISCOVER_CONCURRENCY;
	t.created_at = now;
	if ((rc = vp_store_begin(s, e)) != VP_OK)
		return rc;
	if ((rc = vp_store_task_insert(s, &t, task, e)) != VP_OK)
		goto fail;
	for (size_t i = 0; i < n; i++) {
		snprintf(item, sizeof(item), "%s:%d", d[i].address, d[i].port);
		detail_of(&d[i], detail, sizeof(detail));
		if ((rc = vp_store_task_item_add(s, *task, (int)i, item, e)) != VP_OK ||
		    (rc = vp_task_item_set(s, *task, item, "Finished", detail, e)) != VP_OK)
			goto fail;
	}
	snprintf(audit, sizeof(audit), "task %" PRId64 ": " VP_TASK_DEVICE_DISCOVER " of %.80s: "
	    "%zu device%s found", *task, o->range, n, n == 1 ? "" : "s");
	if ((rc = vp_store_claim_finish(s, *task, VP_TASK_FINISHED, now, e)) != VP_OK ||
	    (rc = vp_store_audit_append(s, actor != NULL ? actor : "unknown", "device.discover",
	    NULL, audit, e)) != VP_OK || (rc = vp_store_commit(s, e)) != VP_OK)
		goto fail;
	return VP_OK;
fail:
	*task = 0;
	vp_store_rollback(s);
	return rc;
}

json_t *
vp_json_discovered(const vp_discovered *d)
{
	return json_pack("{s:s,s:i,s:s?,s:s?,s:s?,s:s?,s:s?,s:s,s:o}", "address", d->address,
	    "port", d->port, "name", d->name[0] ? d->name : NULL, "serial",
	    d->serial[0] ? d->serial : NULL, "model", d->model[0] ? d->model : NULL,
	    "firmware", d->firmware[0] ? d->firmware : NULL, "brand",
	    d->brand[0] ? d->brand : NULL, "identified", vp_discover_how_name(d->how),
	    "device_id", d->device_id > 0 ? json_integer(d->device_id) : json_null());
}
