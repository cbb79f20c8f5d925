/* /api/v1/devices: the camera inventory.
 *   GET    /api/v1/devices           every device, or a page of them: ?limit=&offset=&sort=
 *                                     &order=asc|desc&q=TEXT&status=&https= (web UI)
 *   GET    /api/v1/devices/summary   counts by status and HTTPS state, certificate ends by week
 *   POST   /api/v1/devices           {"address","http_port","https_port","user","password",
 *                                     "name","cn","allow_basic","keep_unreachable"} -> 201
 *   POST   /api/v1/devices/import    a CSV body (text/csv): a report per line
 *   GET    /api/v1/devices/{id}      one device
 *   DELETE /api/v1/devices/{id}      forget it
 * Work runs in the pool with the thread's own store handle. Adding probes the camera (up to
 * two requests' timeouts), so at most a few adds or imports run at once and at least one pool
 * thread stays free for certificates. Passwords are wiped from every buffer this file sees
 * and never appear in a reply or the log. */
#include <inttypes.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <openssl/crypto.h>

#include "daemon.h"
#include "vmspki/device.h"
#include "vmspki/render_json.h"
#include "vmspki/util.h"

#define DEVICE_JOBS_MAX 4      /* adds and imports at once (bounded by the pool's size too) */
#define IMPORT_BODY_MAX VPD_BODY_HARD_MAX
#define LIST_PAGE_MAX 1000     /* devices in one page */

static atomic_int device_jobs;

/* Wipes the request's input buffer (it held a password or a CSV list with passwords). */
static void
wipe_input(vpd_ctx *c)
{
	struct evbuffer *in = c->req != NULL ? evhttp_request_get_input_buffer(c->req) : NULL;
	size_t n = in != NULL ? evbuffer_get_length(in) : 0;
	unsigned char *p;

	if (n > 0 && (p = evbuffer_pullup(in, -1)) != NULL)
		OPENSSL_cleanse(p, n);
}

/* Takes a slot for an add or an import; 0 when replied with 503. */
static int
device_job_slot(vpd_ctx *c)
{
	int pool = c->d->nworkers > 2 ? c->d->nworkers : 2;   /* as serve.c sizes the pool */
	int max = pool - 1 < DEVICE_JOBS_MAX ? pool - 1 : DEVICE_JOBS_MAX;

	if (max < 1)
		max = 1;
	if (atomic_fetch_add(&device_jobs, 1) >= max) {
		atomic_fetch_sub(&device_jobs, 1);
		vpd_reply_error_hdr(c, 503, "busy", "Retry-After", "5", "other device additions "
		    "are running (each probes its cameras): try again in a few seconds");
		return 0;
	}
	return 1;
}

static char *
ca_file(vpd *d)
{
	return vp_strdup(vp_datadir_path(d->dd, VP_PATH_CA_CERT));
}

static void
job_oom(vpd_job *j)
{
	vpd_job_error(j, 500, "internal", "out of memory");
}

/* ---- pool stages ---- */

static const char *const sort_names[VP_DEVSORT_COUNT] = {
	[VP_DEVSORT_ID] = "id", [VP_DEVSORT_ADDRESS] = "address", [VP_DEVSORT_NAME] = "name",
	[VP_DEVSORT_MAC] = "mac", [VP_DEVSORT_MODEL] = "model", [VP_DEVSORT_FIRMWARE] = "firmware",
	[VP_DEVSORT_STATUS] = "status", [VP_DEVSORT_HTTPS] = "https",
	[VP_DEVSORT_EXPIRY] = "expiry",
};

/* The list, whole or a page (the query as h_list checked it, in j->in). */
static void
run_list(vpd_job *j, vp_store *s)
{
	vp_device_query q = {
		.text = vpd_json_str(j->in, "q"),
		.status = vpd_json_str(j->in, "status"),
		.https_state = vpd_json_str(j->in, "https"),
		.sort = (vp_device_sort)vpd_json_int(j->in, "sort", VP_DEVSORT_ID),
		.desc = vpd_json_bool(j->in, "desc"),
		.limit = vpd_json_int(j->in, "limit", 0),
		.offset = vpd_json_int(j->in, "offset", 0),
	};
	json_t *a = json_array(), *o;
	vp_error e = { 0 };
	int64_t total = 0;
	vp_err r;

	if (a == NULL) {
		job_oom(j);
		return;
	}
	if ((r = vp_device_page_json(s, &q, a, &total, &e)) != VP_OK) {
		json_decref(a);
		if (r == VP_ERR_NOMEM)
			job_oom(j);
		else
			vpd_job_vp_error(j, &e);
		return;
	}
	o = json_pack("{s:I,s:I,s:o,s:o}", "total", (json_int_t)total, "offset",
	    (json_int_t)q.offset, "limit", q.limit > 0 ? json_integer((json_int_t)q.limit) :
	    json_null(), "devices", a);
	if (o == NULL)
		job_oom(j);
	else
		vpd_job_json(j, 200, o, 0);
}

static void
run_summary(vpd_job *j, vp_store *s)
{
	vp_error e = { 0 };
	json_t *o = NULL;
	vp_err r;

	if ((r = vp_device_summary_json(s, (int64_t)time(NULL), &o, &e)) == VP_ERR_NOMEM)
		job_oom(j);
	else if (r != VP_OK)
		vpd_job_vp_error(j, &e);
	else
		vpd_job_json(j, 200, o, 0);
}

static void
run_show(vpd_job *j, vp_store *s)
{
	vp_error e = { 0 };
	vp_device d;
	json_t *o;

	if (vp_device_get(s, vpd_json_int(j->in, "id", 0), &d, &e) != VP_OK) {
		vpd_job_vp_error(j, &e);
		return;
	}
	if ((o = vp_json_device(&d)) == NULL)
		job_oom(j);
	else
		vpd_job_json(j, 200, o, 0);
}

static void
run_remove(vpd_job *j, vp_store *s)
{
	int64_t id = vpd_json_int(j->in, "id", 0);
	vp_error e = { 0 };
	json_t *o;

	if (vp_device_remove(s, id, j->actor, &e) != VP_OK) {
		vpd_job_vp_error(j, &e);
		return;
	}
	vpd_log("device %" PRId64 " removed by %s", id, j->actor);
	if ((o = json_pack("{s:I,s:b}", "id", (json_int_t)id, "removed", 1)) == NULL)
		job_oom(j);
	else
		vpd_job_json(j, 200, o, 0);
}

/* The password inside j->in, wiped in place once used. */
static void
wipe_in_password(vpd_job *j)
{
	json_t *pw = json_object_get(j->in, "password");
	char *p = (char *)json_string_value(pw);

	if (p != NULL)
		OPENSSL_cleanse(p, strlen(p));
}

static void
run_add(vpd_job *j, vp_store *s)
{
	vp_device_new nd = {
		.address = vpd_json_str(j->in, "address"),
		.http_port = (int)vpd_json_int(j->in, "http_port", 0),
		.https_port = (int)vpd_json_int(j->in, "https_port", 0),
		.name = vpd_json_str(j->in, "name"),
		.username = vpd_json_str(j->in, "user"),
		.password = vpd_json_str(j->in, "password"),
		.allow_basic = vpd_json_bool(j->in, "allow_basic"),
		.cn_mode = vpd_json_str(j->in, "cn"),
	};
	vp_error e = { 0 };
	vp_device d;
	char *caf = ca_file(j->d);
	json_t *o;
	vp_err r;

	r = caf == NULL ? vp_error_set(&e, VP_ERR_NOMEM, "out of memory") :
	    vp_device_add(s, j->d->sitekey, caf, &nd, vpd_json_bool(j->in, "keep_unreachable"),
	    j->actor, &d, &e);
	wipe_in_password(j);
	free(caf);
	atomic_fetch_sub(&device_jobs, 1);
	if (r != VP_OK) {
		vpd_job_vp_error(j, &e);
		return;
	}
	vpd_log("device %" PRId64 " (%s:%d, %s) added by %s: %s, HTTPS %s", d.id, d.address,
	    d.http_port, d.mac[0] ? d.mac : "MAC unknown", j->actor, d.status,
	    d.https_state[0] ? d.https_state : "unknown");
	if ((o = vp_json_device(&d)) == NULL)
		job_oom(j);
	else
		vpd_job_json(j, 201, o, 0);
}

typedef struct import_out {
	vp_store *s;
	json_t *lines;
	int oom;
} import_out;

static void
import_report(int line, int64_t id, const vp_error *err, void *arg)
{
	import_out *io = arg;
	vp_error e = { 0 };
	vp_device d;
	json_t *o;

	if (err != NULL)
		o = json_pack("{s:i,s:s,s:o}", "line", line, "result", "refused", "error",
		    vp_json_str(err->msg));
	else
		o = json_pack("{s:i,s:s,s:I,s:o}", "line", line, "result", "added", "id",
		    (json_int_t)id, "device", vp_device_get(io->s, id, &d, &e) == VP_OK ?
		    vp_json_device(&d) : json_null());
	if (o == NULL || json_array_append_new(io->lines, o) != 0)
		io->oom = 1;
}

static void
run_import(vpd_job *j, vp_store *s)
{
	json_t *csv = json_object_get(j->in, "csv");
	char *text = (char *)json_string_value(csv), *caf = ca_file(j->d);
	size_t len = json_string_length(csv), added = 0, failed = 0;
	import_out io = { .s = s, .lines = json_array() };
	vp_error e = { 0 };
	json_t *o = NULL;
	vp_err r = VP_ERR_NOMEM;

	if (caf != NULL && io.lines != NULL)
		r = vp_device_import_csv(s, j->d->sitekey, caf, text, len, j->actor, import_report,
		    &io, &added, &failed, &e);
	if (text != NULL)
		OPENSSL_cleanse(text, len);
	free(caf);
	atomic_fetch_sub(&device_jobs, 1);
	vpd_log("device import by %s: %zu added, %zu line%s refused", j->actor, added, failed,
	    failed == 1 ? "" : "s");
	if (r != VP_OK && r != VP_ERR_NOMEM && added == 0 && failed == 0) {
		json_decref(io.lines);
		vpd_job_vp_error(j, &e);
		return;
	}
	if (r == VP_ERR_NOMEM || io.oom || (o = json_pack("{s:I,s:I,s:O}", "added",
	    (json_int_t)added, "failed", (json_int_t)failed, "lines", io.lines)) == NULL) {
		json_decref(io.lines);
		job_oom(j);
		return;
	}
	/* A store failure in the middle: what was done is reported, and the reason. */
	if (r != VP_OK && json_object_set_new(o, "stopped", vp_json_str(e.msg)) != 0) {
		json_decref(o);
		json_decref(io.lines);
		job_oom(j);
		return;
	}
	json_decref(io.lines);
	vpd_job_json(j, 200, o, 0);
}

/* Hands c's request to the pool with in (stolen) as its input. */
static void
device_job(vpd_ctx *c, json_t *in, void (*run)(vpd_job *, vp_store *))
{
	if (vpd_job_start(c, 0, in, run) != 0 && (run == run_add || run == run_import))
		atomic_fetch_sub(&device_jobs, 1);
}

/* ---- handlers ---- */

static int
sitekey_ready(vpd_ctx *c)
{
	if (c->d->sitekey != NULL)
		return 1;
	vpd_reply_error(c, 503, "site_key_unavailable", "the site data key that protects device "
	    "passwords could not be opened when the daemon started (its log says why): devices "
	    "cannot be added until it is restarted with the right CA passphrase or $%s",
	    VP_SITEKEY_FILE_ENV);
	return 0;
}

static void
h_add(vpd_ctx *c)
{
	static const vpd_field fields[] = {
		{ "address", VPD_STRING, 1, 255, 0, 0 },
		{ "http_port", VPD_INT, 0, 0, 1, 65535 },
		{ "https_port", VPD_INT, 0, 0, 1, 65535 },
		{ "user", VPD_STRING, 1, 127, 0, 0 },
		{ "password", VPD_STRING, 1, VP_DEVICE_PASSWORD_MAX, 0, 0 },
		{ "name", VPD_STRING, 0, 253, 0, 0 },
		{ "cn", VPD_STRING, 0, 8, 0, 0 },
		{ "allow_basic", VPD_BOOL, 0, 0, 0, 0 },
		{ "keep_unreachable", VPD_BOOL, 0, 0, 0, 0 },
		{ NULL, 0, 0, 0, 0, 0 }
	};
	struct evbuffer *in = evhttp_request_get_input_buffer(c->req);
	size_t n = in != NULL ? evbuffer_get_length(in) : 0;
	vp_device_new nd;
	vp_error e = { 0 };
	vpd_reqerr re;
	char *body;
	json_t *b;

	/* The body holds a password: read here (not with vpd_body_json) so that the request's
	 * buffer is wiped before any reply, whatever the reply is. */
	if (n > VPD_BODY_MAX) {
		wipe_input(c);
		vpd_reply_error(c, 413, "body_too_large", "the request body is %zu bytes: at most "
		    "%d are accepted", n, VPD_BODY_MAX);
		return;
	}
	if ((body = malloc(n + 1)) == NULL) {
		wipe_input(c);
		vpd_reply_oom(c);
		return;
	}
	if (n > 0 && evbuffer_copyout(in, body, n) != (ev_ssize_t)n) {
		wipe_input(c);
		free(body);
		vpd_reply_error(c, 500, "internal", "cannot read the request body");
		return;
	}
	body[n] = '\0';
	wipe_input(c);
	memset(&re, 0, sizeof(re));
	b = vpd_json_parse(body, n, &re);
	vp_secret_free(body, n + 1);
	if (b == NULL || vpd_json_check(b, fields, &re) != 0) {
		if (b != NULL) {
			char *p = (char *)json_string_value(json_object_get(b, "password"));

			if (p != NULL)
				OPENSSL_cleanse(p, strlen(p));
		}
		json_decref(b);
		vpd_reply_reqerr(c, &re);
		return;
	}
	memset(&nd, 0, sizeof(nd));
	nd.address = vpd_json_str(b, "address");
	nd.http_port = (int)vpd_json_int(b, "http_port", 0);
	nd.https_port = (int)vpd_json_int(b, "https_port", 0);
	nd.name = vpd_json_str(b, "name");
	nd.username = vpd_json_str(b, "user");
	nd.password = vpd_json_str(b, "password");
	nd.cn_mode = vpd_json_str(b, "cn");
	/* Bad input is refused at once, before a slot or a probe. */
	if (vp_device_new_check(&nd, &e) != VP_OK || !sitekey_ready(c) || !device_job_slot(c)) {
		char *p = (char *)json_string_value(json_object_get(b, "password"));

		if (p != NULL)
			OPENSSL_cleanse(p, strlen(p));
		json_decref(b);
		if (e.code != VP_OK)
			vpd_reply_vp_error(c, &e);
		return;
	}
	device_job(c, b, run_add);
}

static void
h_import(vpd_ctx *c)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(c->req);
	const char *ct = evhttp_find_header(evhttp_request_get_input_headers(c->req),
	    "Content-Type");
	size_t n = in != NULL ? evbuffer_get_length(in) : 0;
	json_t *csv, *o;
	char *body;

	if (ct != NULL && strncasecmp(ct, "text/csv", 8) != 0 &&
	    strncasecmp(ct, "text/plain", 10) != 0) {
		wipe_input(c);
		vpd_reply_error(c, 415, "unsupported_media_type", "the import takes a CSV body "
		    "(Content-Type: text/csv): address,http_port,https_port,user,password,name");
		return;
	}
	if (n == 0 || n > IMPORT_BODY_MAX) {
		wipe_input(c);
		vpd_reply_error(c, n == 0 ? 400 : 413, n == 0 ? "empty_body" : "body_too_large",
		    n == 0 ? "the import needs a CSV body: address,http_port,https_port,user,"
		    "password,name, one device a line" : "the CSV list is %zu bytes: at most %d are "
		    "accepted; split it", n, IMPORT_BODY_MAX);
		return;
	}
	if (!sitekey_ready(c)) {
		wipe_input(c);
		return;
	}
	if ((body = malloc(n + 1)) == NULL) {
		wipe_input(c);
		vpd_reply_oom(c);
		return;
	}
	if (evbuffer_copyout(in, body, n) != (ev_ssize_t)n) {
		wipe_input(c);
		vp_secret_free(body, n + 1);
		vpd_reply_error(c, 500, "internal", "cannot read the request body");
		return;
	}
	body[n] = '\0';
	wipe_input(c);
	/* The CSV travels to the pool inside the job's input (a JSON string holds any bytes
	 * with json_stringn_nocheck; the library reads it as bytes). */
	csv = json_stringn_nocheck(body, n);
	vp_secret_free(body, n + 1);
	if (csv == NULL || (o = json_object()) == NULL) {
		if (csv != NULL)
			OPENSSL_cleanse((char *)json_string_value(csv), n);
		json_decref(csv);
		vpd_reply_oom(c);
		return;
	}
	if (json_object_set_new(o, "csv", csv) != 0) {
		json_decref(o);
		vpd_reply_oom(c);
		return;
	}
	if (!device_job_slot(c)) {
		OPENSSL_cleanse((char *)json_string_value(csv), n);
		json_decref(o);
		return;
	}
	device_job(c, o, run_import);
}

/* GET /api/v1/devices: the query checked here, the list made in the pool. */
static void
h_list(vpd_ctx *c)
{
	static const char *const params[] = {
		"limit", "offset", "sort", "order", "q", "status", "https", NULL
	};
	json_t *in = json_object();
	const char *v;
	int64_t n;
	int sort = VP_DEVSORT_ID, bad = in == NULL;
	vpd_query q;

	if (bad) {
		vpd_reply_oom(c);
		return;
	}
	if (vpd_query_parse(c, &q, params) != 0) {
		json_decref(in);
		return;
	}
	if ((v = vpd_query_get(&q, "limit")) != NULL) {
		if (vpd_parse_int(v, 1, LIST_PAGE_MAX, &n) != 0) {
			vpd_reply_error(c, 400, "bad_parameter", "limit must be from 1 to %d",
			    LIST_PAGE_MAX);
			goto out;
		}
		bad |= json_object_set_new(in, "limit", json_integer((json_int_t)n));
	}
	if ((v = vpd_query_get(&q, "offset")) != NULL) {
		if (vpd_parse_int(v, 0, INT32_MAX, &n) != 0) {
			vpd_reply_error(c, 400, "bad_parameter", "offset must be a whole number from 0");
			goto out;
		}
		bad |= json_object_set_new(in, "offset", json_integer((json_int_t)n));
	}
	if ((v = vpd_query_get(&q, "sort")) != NULL) {
		for (sort = 0; sort < VP_DEVSORT_COUNT && strcmp(v, sort_names[sort]) != 0; sort++)
			;
		if (sort == VP_DEVSORT_COUNT) {
			vpd_reply_error(c, 400, "bad_parameter", "sort must be one of id, address, name, "
			    "mac, model, firmware, status, https, expiry");
			goto out;
		}
	}
	bad |= json_object_set_new(in, "sort", json_integer(sort));
	if ((v = vpd_query_get(&q, "order")) != NULL) {
		if (strcmp(v, "asc") != 0 && strcmp(v, "desc") != 0) {
			vpd_reply_error(c, 400, "bad_parameter", "order must be asc or desc");
			goto out;
		}
		bad |= json_object_set_new(in, "desc", json_boolean(strcmp(v, "desc") == 0));
	}
	for (size_t i = 4; params[i] != NULL; i++) {
		if ((v = vpd_query_get(&q, params[i])) == NULL)
			continue;
		if (strlen(v) > 256) {
			vpd_reply_error(c, 400, "bad_parameter", "%s is longer than 256 bytes",
			    params[i]);
			goto out;
		}
		/* "unknown" is a device never probed, as the summary counts it */
		if (i >= 5 && strcmp(v, "unknown") == 0)
			v = "";
		bad |= json_object_set_new(in, params[i], vp_json_str(v));
	}
	if (bad) {
		vpd_reply_oom(c);
		goto out;
	}
	vpd_query_free(&q);
	device_job(c, in, run_list);
	return;
out:
	vpd_query_free(&q);
	json_decref(in);
}

/* GET /api/v1/devices (list), POST /api/v1/devices (add). */
void
vpd_h_devices(vpd_ctx *c)
{
	if (c->method == EVHTTP_REQ_POST) {
		h_add(c);
		return;
	}
	h_list(c);
}

/* /api/v1/devices/import: POST; /api/v1/devices/summary: GET, HEAD;
 * /api/v1/devices/{id}: GET, HEAD, DELETE. */
void
vpd_h_device_item(vpd_ctx *c, const char *arg)
{
	int import = strcmp(arg, "import") == 0;
	int64_t id;

	if (strcmp(arg, "summary") == 0) {
		if (c->method != EVHTTP_REQ_GET && c->method != EVHTTP_REQ_HEAD) {
			if (c->method == EVHTTP_REQ_POST)
				wipe_input(c);
			vpd_reply_not_allowed(c, c->path, "GET, HEAD");
			return;
		}
		device_job(c, json_object(), run_summary);
		return;
	}

	if (import ? c->method != EVHTTP_REQ_POST : c->method != EVHTTP_REQ_GET &&
	    c->method != EVHTTP_REQ_HEAD && c->method != EVHTTP_REQ_DELETE) {
		const char *allow = import ? "POST" : "GET, HEAD, DELETE";

		if (c->method == EVHTTP_REQ_POST)
			wipe_input(c);
		vpd_reply_not_allowed(c, c->path, allow);
		return;
	}
	if (import) {
		h_import(c);
		return;
	}
	if (strchr(arg, '/') != NULL || vpd_parse_int(arg, 1, INT64_MAX, &id) != 0) {
		vpd_reply_error(c, 404, "not_found", "there is no %.200s here: a device is "
		    "/api/v1/devices/ID with ID a positive number (GET /api/v1/devices lists them)",
		    c->path);
		return;
	}
	device_job(c, json_pack("{s:I}", "id", (json_int_t)id), c->method == EVHTTP_REQ_DELETE ?
	    run_remove : run_show);
}
