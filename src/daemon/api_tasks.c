/* /api/v1/tasks: tasks over devices.
 *   GET  /api/v1/tasks                      every task
 *   POST /api/v1/tasks                      {"kind","devices":[ids] | "all":true, "cn",
 *                                            "https_only","concurrency","days"} -> 201
 *   GET  /api/v1/tasks/{id}                 the task and a result per device
 *   POST /api/v1/tasks/{id}/cancel          stop it
 *   POST /api/v1/tasks/{id}/retry-failed    run its failed and cancelled devices again
 * The engine thread (engine.h) runs the tasks; a new one wakes it. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <event2/http.h>

#include "daemon.h"
#include "vmspki/render_json.h"
#include "vmspki/task.h"

static vp_err
fetch_tasks(vp_store *s, vpd_job *j, json_t *array, vp_error *e)
{
	(void)j;
	return vp_task_list_json(s, array, e);
}

/* The task (with results) as the reply of j. */
static void
reply_task(vpd_job *j, vp_store *s, int64_t id, int status)
{
	vp_error e = { 0 };
	json_t *o;
	vp_err r;

	if ((r = vp_task_show_json(s, id, &o, &e)) == VP_ERR_NOMEM)
		vpd_job_error(j, 500, "internal", "out of memory");
	else if (r != VP_OK)
		vpd_job_vp_error(j, &e);
	else
		vpd_job_json(j, status, o, 0);
}

static void
run_list(vpd_job *j, vp_store *s)
{
	vpd_job_list(j, s, "tasks", fetch_tasks);
}

static void
run_create(vpd_job *j, vp_store *s)
{
	json_t *devs = json_object_get(j->in, "devices"), *v;
	vp_task_opts o = {
		.kind = vpd_json_str(j->in, "kind"),
		.cn_mode = vpd_json_str(j->in, "cn"),
		.https_only = vpd_json_bool(j->in, "https_only"),
		.concurrency = (int)vpd_json_int(j->in, "concurrency", 0),
		.timeout_s = (int)vpd_json_int(j->in, "request_timeout", 0),
		.days = (int)vpd_json_int(j->in, "days", 0),
	};
	vp_error e = { 0 };
	int64_t *ids = NULL, id;
	size_t n = json_array_size(devs), i;

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
	if (vp_task_create(s, &o, ids, n, vpd_json_bool(j->in, "all"), j->actor, &id, &e) !=
	    VP_OK) {
		free(ids);
		vpd_job_vp_error(j, &e);
		return;
	}
	free(ids);
	vpd_log("task %" PRId64 " (%s) created by %s", id, o.kind, j->actor);
	vpd_engine_nudge(j->d);
	reply_task(j, s, id, 201);
}

static void
run_show(vpd_job *j, vp_store *s)
{
	reply_task(j, s, vpd_json_int(j->in, "id", 0), 200);
}

static void
run_cancel(vpd_job *j, vp_store *s)
{
	int64_t id = vpd_json_int(j->in, "id", 0);
	vp_error e = { 0 };

	if (vp_task_cancel(s, id, j->actor, &e) != VP_OK) {
		vpd_job_vp_error(j, &e);
		return;
	}
	vpd_log("task %" PRId64 " cancelled by %s", id, j->actor);
	vpd_engine_nudge(j->d);
	reply_task(j, s, id, 200);
}

static void
run_retry(vpd_job *j, vp_store *s)
{
	int64_t id = vpd_json_int(j->in, "id", 0);
	vp_error e = { 0 };

	if (vp_task_retry_failed(s, id, j->actor, &e) != VP_OK) {
		vpd_job_vp_error(j, &e);
		return;
	}
	vpd_log("task %" PRId64 ": failed devices retried by %s", id, j->actor);
	vpd_engine_nudge(j->d);
	reply_task(j, s, id, 200);
}

void
vpd_h_tasks(vpd_ctx *c)
{
	static const vpd_field fields[] = {
		{ "kind", VPD_STRING, 1, 32, 0, 0 },
		{ "all", VPD_BOOL, 0, 0, 0, 0 },
		{ "cn", VPD_STRING, 0, 8, 0, 0 },
		{ "https_only", VPD_BOOL, 0, 0, 0, 0 },
		{ "concurrency", VPD_INT, 0, 0, 1, VP_TASK_CONCURRENCY_MAX },
		{ "request_timeout", VPD_INT, 0, 0, 1, 600 },
		{ "days", VPD_INT, 0, 0, 1, 825 },     /* the library checks the window too */
		{ NULL, 0, 0, 0, 0, 0 }
	};
	vpd_reqerr re;
	char *body;
	size_t len = 0;
	json_t *b, *devs;

	if (c->method != EVHTTP_REQ_POST) {
		vpd_job_start(c, 0, json_object(), run_list);
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
	vpd_job_start(c, 0, b, run_create);
}

void
vpd_h_task_item(vpd_ctx *c, const char *arg)
{
	const char *slash = strchr(arg, '/');
	size_t idlen = slash != NULL ? (size_t)(slash - arg) : strlen(arg);
	void (*run)(vpd_job *, vp_store *) = run_show;

	if (slash != NULL) {
		if (strcmp(slash, "/cancel") == 0)
			run = run_cancel;
		else if (strcmp(slash, "/retry-failed") == 0)
			run = run_retry;
		else {
			vpd_reply_error(c, 404, "not_found", "there is no %.200s here: a task has "
			    "/api/v1/tasks/ID, ID/cancel and ID/retry-failed", c->path);
			return;
		}
	}
	vpd_item_job(c, arg, idlen, run == run_show, "a task", run);
}
