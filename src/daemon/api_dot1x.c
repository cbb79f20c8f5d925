/* /api/v1/dot1x: IEEE 802.1X on cameras (dot1x.h, task.h), as `vmspki dot1x` does.
 *   GET  /api/v1/dot1x           {"eap_ca": PEM or null (the site CA serves)}
 *   POST /api/v1/dot1x/enable    {"devices":[ids] | "all":true, "identity":"mac"|"serial"|"name",
 *   POST /api/v1/dot1x/update     "eap_ca": PEM, "concurrency", "request_timeout"}
 *                                -> 201 the task (GET /api/v1/tasks/{id} follows it)
 * An eap_ca given is kept for the site (later renewals install the same). */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <event2/http.h>

#include "daemon.h"
#include "vmspki/dot1x.h"
#include "vmspki/task.h"

static void
run_get(vpd_job *j, vp_store *s)
{
	vp_error e = { 0 };
	char *pem = NULL;
	json_t *o;

	if (vp_dot1x_eap_ca(s, &pem, &e) != VP_OK) {
		vpd_job_vp_error(j, &e);
		return;
	}
	o = json_pack("{s:o}", "eap_ca", pem != NULL ? json_string(pem) : json_null());
	free(pem);
	if (o == NULL)
		vpd_job_error(j, 500, "internal", "out of memory");
	else
		vpd_job_json(j, 200, o, 0);
}

static void
run_create(vpd_job *j, vp_store *s)
{
	json_t *devs = json_object_get(j->in, "devices"), *v;
	const char *eap = vpd_json_str(j->in, "eap_ca");
	vp_task_opts o = {
		.kind = vpd_json_str(j->in, "kind"),
		.cn_mode = vpd_json_str(j->in, "identity"),
		.concurrency = (int)vpd_json_int(j->in, "concurrency", 0),
		.timeout_s = (int)vpd_json_int(j->in, "request_timeout", 0),
		.days = (int)vpd_json_int(j->in, "days", 0),
	};
	vp_error e = { 0 };
	int64_t *ids = NULL, id;
	size_t n = json_array_size(devs), i;
	json_t *out = NULL;
	vp_err r;

	if (devs != NULL && !json_is_array(devs)) {
		vpd_job_error(j, 422, "bad_devices", "devices is a list of device ids");
		return;
	}
	if (n > 0 && (ids = calloc(n, sizeof(*ids))) == NULL) {
		vpd_job_error(j, 500, "internal", "out of memory");
		return;
	}
	json_array_foreach(devs, i, v) {
		if (!json_is_integer(v) || json_integer_value(v) < 1) {
			free(ids);
			vpd_job_error(j, 422, "bad_devices", "devices holds device ids (positive "
			    "integers); element %zu is not one", i);
			return;
		}
		ids[i] = json_integer_value(v);
	}
	if (o.cn_mode == NULL)
		o.cn_mode = "mac";
	if ((eap != NULL && vp_dot1x_set_eap_ca(s, eap, strlen(eap), j->actor, &e) != VP_OK) ||
	    vp_task_create(s, &o, ids, n, vpd_json_bool(j->in, "all"), j->actor, &id, &e) !=
	    VP_OK) {
		free(ids);
		vpd_job_vp_error(j, &e);
		return;
	}
	free(ids);
	vpd_log("task %" PRId64 " (%s) created by %s", id, o.kind, j->actor);
	vpd_engine_nudge(j->d);
	if ((r = vp_task_show_json(s, id, &out, &e)) == VP_ERR_NOMEM)
		vpd_job_error(j, 500, "internal", "out of memory");
	else if (r != VP_OK)
		vpd_job_vp_error(j, &e);
	else
		vpd_job_json(j, 201, out, 0);
}

/* GET /api/v1/dot1x */
void
vpd_h_dot1x(vpd_ctx *c)
{
	vpd_job_start(c, 0, json_object(), run_get);
}

/* POST /api/v1/dot1x/enable, /api/v1/dot1x/update */
void
vpd_h_dot1x_item(vpd_ctx *c, const char *arg)
{
	static const vpd_field fields[] = {
		{ "all", VPD_BOOL, 0, 0, 0, 0 },
		{ "identity", VPD_STRING, 0, 8, 0, 0 },
		{ "eap_ca", VPD_STRING, 0, 64 * 1024, 0, 0 },
		{ "concurrency", VPD_INT, 0, 0, 1, VP_TASK_CONCURRENCY_MAX },
		{ "request_timeout", VPD_INT, 0, 0, 1, 600 },
		{ "days", VPD_INT, 0, 0, 1, 825 },     /* the library checks the window too */
		{ NULL, 0, 0, 0, 0, 0 }
	};
	const char *kind;
	vpd_reqerr re;
	char *body;
	size_t len = 0;
	json_t *b, *devs;

	if (strcmp(arg, "enable") == 0)
		kind = VP_TASK_DOT1X_ENABLE;
	else if (strcmp(arg, "update") == 0)
		kind = VP_TASK_DOT1X_UPDATE;
	else {
		vpd_reply_error(c, 404, "not_found", "there is no %.200s here: use "
		    "/api/v1/dot1x/enable or /api/v1/dot1x/update", c->path);
		return;
	}
	if (c->method != EVHTTP_REQ_POST) {
		vpd_reply_error(c, 405, "method_not_allowed", "%.200s takes POST", c->path);
		return;
	}
	/* "devices" is a list of integers, which the field table cannot say: it is taken out
	 * before the check and checked by run_create. */
	memset(&re, 0, sizeof(re));
	if ((body = vpd_body(c, &len)) == NULL)
		return;
	b = vpd_json_parse(body, len, &re);
	free(body);
	if (b == NULL) {
		vpd_reply_reqerr(c, &re);
		return;
	}
	devs = json_incref(json_object_get(b, "devices"));
	json_object_del(b, "devices");
	if (vpd_json_check(b, fields, &re) != 0) {
		json_decref(devs);
		json_decref(b);
		vpd_reply_reqerr(c, &re);
		return;
	}
	if (devs != NULL)
		json_object_set_new(b, "devices", devs);
	json_object_set_new(b, "kind", json_string(kind));
	vpd_job_start(c, 0, b, run_create);
}
