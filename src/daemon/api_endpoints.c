/* /api/v1/endpoints: TLS servers vmspki did not install, watched for their certificates.
 *   GET    /api/v1/endpoints              every endpoint
 *   POST   /api/v1/endpoints              {"address":"HOST:PORT"} or {"host","port"}, and
 *                                          "sni" -> 201 the endpoint, checked once
 *   GET    /api/v1/endpoints/{id}         one endpoint, with the chain it served (PEM)
 *   DELETE /api/v1/endpoints/{id}         stop watching it (its alarms are cleared)
 *   POST   /api/v1/endpoints/{id}/check   check it now -> the endpoint
 * Work runs in the pool with the thread's own store handle. An add or a check connects to the
 * endpoint (up to twice VP_ENDPOINT_TIMEOUT_MS), so only a few run at once and at least one
 * pool thread stays free for certificates. The scheduler (scheduler.c) checks those due. */
#include <inttypes.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/http.h>

#include "daemon.h"
#include "vmspki/endpoint.h"
#include "vmspki/render_json.h"
#include "vmspki/util.h"

#define ENDPOINT_JOBS_MAX 2    /* adds and checks at once (bounded by the pool's size too) */

static atomic_int endpoint_jobs;

/* Takes a slot for an add or a check; 0 when replied with 503. */
static int
probe_slot(vpd_ctx *c)
{
	int pool = c->d->nworkers > 2 ? c->d->nworkers : 2;   /* as serve.c sizes the pool */
	int max = pool - 1 < ENDPOINT_JOBS_MAX ? pool - 1 : ENDPOINT_JOBS_MAX;

	if (max < 1)
		max = 1;
	if (atomic_fetch_add(&endpoint_jobs, 1) >= max) {
		atomic_fetch_sub(&endpoint_jobs, 1);
		vpd_reply_error_hdr(c, 503, "busy", "Retry-After", "5", "other endpoint checks "
		    "are running (each connects to its server): try again in a few seconds");
		return 0;
	}
	return 1;
}

static void
job_oom(vpd_job *j)
{
	vpd_job_error(j, 500, "internal", "out of memory");
}

/* ---- pool stages ---- */

static vp_err
fetch_endpoints(vp_store *s, vpd_job *j, json_t *array, vp_error *e)
{
	(void)j;
	return vp_endpoint_list_json(s, array, e);
}

static void
run_list(vpd_job *j, vp_store *s)
{
	vpd_job_list(j, s, "endpoints", fetch_endpoints);
}

/* The endpoint as the job's reply (status), with its chain when with_chain. */
static void
reply_endpoint(vpd_job *j, const vp_endpoint *ep, int status, int with_chain)
{
	json_t *o = vp_json_endpoint(ep, with_chain);

	if (o == NULL)
		job_oom(j);
	else
		vpd_job_json(j, status, o, 0);
}

static void
run_show(vpd_job *j, vp_store *s)
{
	vp_error e = { 0 };
	vp_endpoint ep;

	if (vp_endpoint_get(s, vpd_json_int(j->in, "id", 0), &ep, &e) != VP_OK) {
		vpd_job_vp_error(j, &e);
		return;
	}
	reply_endpoint(j, &ep, 200, 1);
	vp_endpoint_clear(&ep);
}

static void
run_remove(vpd_job *j, vp_store *s)
{
	int64_t id = vpd_json_int(j->in, "id", 0);
	vp_error e = { 0 };
	json_t *o;

	if (vp_endpoint_remove(s, id, j->actor, &e) != VP_OK) {
		vpd_job_vp_error(j, &e);
		return;
	}
	vpd_log("endpoint %" PRId64 " removed by %s", id, j->actor);
	if ((o = json_pack("{s:I,s:b}", "id", (json_int_t)id, "removed", 1)) == NULL)
		job_oom(j);
	else
		vpd_job_json(j, 200, o, 0);
}

static void
run_add(vpd_job *j, vp_store *s)
{
	const char *addr = vpd_json_str(j->in, "address");
	char host[VP_ENDPOINT_HOST_MAX + 1], label[VP_ENDPOINT_HOST_MAX + 16];
	char *caf = vp_strdup(vp_datadir_path(j->d->dd, VP_PATH_CA_CERT));
	int port = (int)vpd_json_int(j->in, "port", 0);
	vp_error e = { 0 };
	vp_endpoint ep;
	vp_err r;

	memset(&ep, 0, sizeof(ep));
	if (caf == NULL)
		r = vp_error_set(&e, VP_ERR_NOMEM, "out of memory");
	else if (addr != NULL)
		r = vp_endpoint_parse(addr, host, sizeof(host), &port, &e);
	else
		r = snprintf(host, sizeof(host), "%s", vpd_json_str(j->in, "host")) <
		    (int)sizeof(host) ? VP_OK : vp_error_set(&e, VP_ERR_INVALID, "the host is too "
		    "long");
	if (r == VP_OK)
		r = vp_endpoint_add(s, caf, host, port, vpd_json_str(j->in, "sni"), j->actor,
		    (int64_t)time(NULL), 0, &ep, &e);
	free(caf);
	atomic_fetch_sub(&endpoint_jobs, 1);
	if (r != VP_OK) {
		vpd_job_vp_error(j, &e);
		return;
	}
	vp_endpoint_address(&ep, label, sizeof(label));
	vpd_log("endpoint %" PRId64 " (%s%s%s) added by %s: %s", ep.id, label,
	    ep.sni[0] ? ", SNI " : "", ep.sni, j->actor, ep.status);
	reply_endpoint(j, &ep, 201, 0);
	vp_endpoint_clear(&ep);
}

static void
run_check(vpd_job *j, vp_store *s)
{
	char *caf = vp_strdup(vp_datadir_path(j->d->dd, VP_PATH_CA_CERT));
	vp_error e = { 0 };
	vp_endpoint ep;
	vp_err r;

	memset(&ep, 0, sizeof(ep));
	r = caf == NULL ? vp_error_set(&e, VP_ERR_NOMEM, "out of memory") :
	    vp_endpoint_check(s, caf, vpd_json_int(j->in, "id", 0), (int64_t)time(NULL), 0, &ep,
	    &e);
	free(caf);
	atomic_fetch_sub(&endpoint_jobs, 1);
	if (r != VP_OK) {
		vpd_job_vp_error(j, &e);
		return;
	}
	reply_endpoint(j, &ep, 200, 0);
	vp_endpoint_clear(&ep);
}

/* Hands c's request to the pool with in (stolen) as its input. */
static void
endpoint_job(vpd_ctx *c, json_t *in, void (*run)(vpd_job *, vp_store *))
{
	if (vpd_job_start(c, 0, in, run) != 0 && (run == run_add || run == run_check))
		atomic_fetch_sub(&endpoint_jobs, 1);
}

/* ---- handlers ---- */

static void
h_add(vpd_ctx *c)
{
	static const vpd_field fields[] = {
		{ "address", VPD_STRING, 0, VP_ENDPOINT_HOST_MAX + 8, 0, 0 },
		{ "host", VPD_STRING, 0, VP_ENDPOINT_HOST_MAX, 0, 0 },
		{ "port", VPD_INT, 0, 0, 1, 65535 },
		{ "sni", VPD_STRING, 0, VP_ENDPOINT_HOST_MAX, 0, 0 },
		{ NULL, 0, 0, 0, 0, 0 }
	};
	json_t *b;
	char *raw = NULL;
	size_t rawlen = 0;
	int has_addr, has_host, has_port;

	if ((b = vpd_body_json(c, fields, 0, &raw, &rawlen)) == NULL)
		return;
	free(raw);
	has_addr = json_object_get(b, "address") != NULL;
	has_host = json_object_get(b, "host") != NULL;
	has_port = json_object_get(b, "port") != NULL;
	if (has_addr ? has_host || has_port : !has_host || !has_port) {
		json_decref(b);
		vpd_reply_error(c, 422, "bad_address", "give the endpoint as \"address\": "
		    "\"HOST:PORT\" ([IPv6]:PORT), or as \"host\" and \"port\", not both");
		return;
	}
	if (!probe_slot(c)) {
		json_decref(b);
		return;
	}
	endpoint_job(c, b, run_add);
}

/* GET /api/v1/endpoints (list), POST /api/v1/endpoints (add). */
void
vpd_h_endpoints(vpd_ctx *c)
{
	if (c->method == EVHTTP_REQ_POST) {
		h_add(c);
		return;
	}
	endpoint_job(c, json_object(), run_list);
}

/* /api/v1/endpoints/{id}: GET, HEAD, DELETE; /api/v1/endpoints/{id}/check: POST. */
void
vpd_h_endpoint_item(vpd_ctx *c, const char *arg)
{
	const char *slash = strchr(arg, '/');
	size_t idlen = slash != NULL ? (size_t)(slash - arg) : strlen(arg);
	int check = slash != NULL && strcmp(slash, "/check") == 0;
	char num[24];
	int64_t id;

	if (slash != NULL && !check) {
		vpd_reply_error(c, 404, "not_found", "there is no %.200s here: an endpoint is "
		    "/api/v1/endpoints/ID, and ID/check checks it", c->path);
		return;
	}
	if (check ? c->method != EVHTTP_REQ_POST : c->method != EVHTTP_REQ_GET &&
	    c->method != EVHTTP_REQ_HEAD && c->method != EVHTTP_REQ_DELETE) {
		vpd_reply_not_allowed(c, c->path, check ? "POST" : "GET, HEAD, DELETE");
		return;
	}
	if (vpd_path_id(arg, idlen, INT64_MAX, num, sizeof(num), &id) != 0) {
		vpd_reply_error(c, 404, "not_found", "there is no %.200s here: an endpoint is "
		    "/api/v1/endpoints/ID with ID a positive number (GET /api/v1/endpoints lists "
		    "them)", c->path);
		return;
	}
	if (check && !probe_slot(c))
		return;
	endpoint_job(c, json_pack("{s:I}", "id", (json_int_t)id), check ? run_check :
	    c->method == EVHTTP_REQ_DELETE ? run_remove : run_show);
}
