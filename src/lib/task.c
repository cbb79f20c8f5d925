/* Tasks: create, read, cancel, retry, with the rules each follows; their rows are in the
 * store (store_task.c) and the engine (engine.c) runs them. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "device_internal.h"
#include "internal.h"
#include "vmspki/profile.h"
#include "vmspki/render_json.h"
#include "vmspki/settings.h"
#include "vmspki/extcert.h"
#include "vmspki/task.h"

int
vp_task_done(const vp_task *t)
{
	return strcmp(t->state, VP_TASK_FINISHED) == 0 || strcmp(t->state, VP_TASK_FAILED) == 0 ||
	    strcmp(t->state, VP_TASK_CANCELLED) == 0;
}

static vp_err
add_device(vp_store *s, int64_t task, int64_t dev, vp_error *e)
{
	int64_t busy;
	int yes = 0;
	vp_err rc;

	if ((rc = vp_store_device_exists(s, dev, &yes, e)) != VP_OK)
		return rc;
	if (!yes)
		return vp_error_set(e, VP_ERR_NOTFOUND, "there is no device %" PRId64
		    " (vmspki device list shows the devices)", dev);
	if ((rc = vp_store_task_device_busy(s, dev, task, &busy, e)) != VP_OK)
		return rc;
	if (busy != 0)
		return vp_error_set(e, VP_ERR_EXISTS, "device %" PRId64 " is already in task %"
		    PRId64 ", which has not finished; wait for it or cancel it (vmspki task "
		    "cancel %" PRId64 ")", dev, busy, busy);
	return vp_store_task_device_add(s, task, dev, e);
}

/* The audit row of a task change (actor "unknown" when not given), then the commit of the
 * change's transaction. */
static vp_err
audit_commit(vp_store *s, const char *actor, const char *action, const char *detail,
    vp_error *e)
{
	vp_err rc;

	if ((rc = vp_store_audit_append(s, actor != NULL ? actor : "unknown", action, NULL,
	    detail, e)) != VP_OK)
		return rc;
	return vp_store_commit(s, e);
}

/* A task's own validity for its device certificates: within the device-https profile's
 * maximum, and longer than the renewal window (else the nightly job would renew them as soon
 * as they are made). */
static vp_err
check_days(vp_store *s, int days, vp_error *e)
{
	const vp_profile *p = vp_profile_find("device-https", e);
	int warn = 0, renew = 0;

	if (p == NULL)
		return e->code;
	if (days < 1 || days > p->max_days)
		return vp_error_set(e, VP_ERR_INVALID, "a device certificate is valid 1 to %d days "
		    "(the %s profile's maximum), not %d", p->max_days, p->name, days);
	if (vp_lifecycle_windows(s, &warn, &renew, e) != VP_OK)
		return e->code;
	if (days <= renew || days <= warn)
		return vp_error_set(e, VP_ERR_INVALID, "certificates valid %d days would be due "
		    "for renewal as soon as made (lifecycle.warning_days %d, renewal %d days "
		    "before the end): give more days or lower those settings", days, warn, renew);
	return VP_OK;
}

vp_err
vp_task_create(vp_store *s, const vp_task_opts *o, const int64_t *ids, size_t n, int all,
    const char *actor, int64_t *id, vp_error *e)
{
	vp_task t;
	char detail[160];
	int conc = o->concurrency > 0 ? o->concurrency : VP_TASK_CONCURRENCY_DEFAULT;
	int64_t *every = NULL;
	size_t nevery = 0;
	vp_err rc;

	int dot1x = o->kind != NULL && (strcmp(o->kind, VP_TASK_DOT1X_ENABLE) == 0 ||
	    strcmp(o->kind, VP_TASK_DOT1X_UPDATE) == 0);

	if (o->kind == NULL || (strcmp(o->kind, VP_TASK_HTTPS_ENABLE) != 0 &&
	    strcmp(o->kind, VP_TASK_HTTPS_UPDATE) != 0 &&
	    strcmp(o->kind, VP_TASK_DEVICE_CHECK) != 0 &&
	    strcmp(o->kind, VP_TASK_HTTPS_CSR) != 0 && strcmp(o->kind, VP_TASK_HTTPS_INSTALL) != 0 &&
	    !dot1x))
		return vp_error_set(e, VP_ERR_INVALID, "unknown task kind \"%.40s\": use %s, %s, "
		    "%s or %s", o->kind != NULL ? o->kind : "", VP_TASK_HTTPS_ENABLE,
		    VP_TASK_HTTPS_UPDATE, VP_TASK_DOT1X_ENABLE, VP_TASK_DOT1X_UPDATE);
	if (dot1x && o->cn_mode != NULL && o->cn_mode[0] != '\0' &&
	    strcmp(o->cn_mode, "mac") != 0 && strcmp(o->cn_mode, "serial") != 0 &&
	    strcmp(o->cn_mode, "name") != 0)
		return vp_error_set(e, VP_ERR_INVALID, "the 802.1X identity is \"mac\" (the "
		    "device's MAC address), \"serial\" (its serial number) or \"name\" (its name, "
		    "else its address), not \"%.40s\"", o->cn_mode);
	if (!dot1x && o->cn_mode != NULL && o->cn_mode[0] != '\0' &&
	    strcmp(o->cn_mode, "ip") != 0 && strcmp(o->cn_mode, "fqdn") != 0)
		return vp_error_set(e, VP_ERR_INVALID, "the common name is \"ip\" (the device's "
		    "address) or \"fqdn\" (its name), not \"%.40s\"", o->cn_mode);
	if (o->concurrency < 0 || conc > VP_TASK_CONCURRENCY_MAX)
		return vp_error_set(e, VP_ERR_INVALID, "the concurrency of a task is 1 to %d "
		    "devices at once, not %d", VP_TASK_CONCURRENCY_MAX, o->concurrency);
	if (o->concurrency == 0) {
		long c = VP_TASK_CONCURRENCY_DEFAULT;

		if (vp_setting_get_int(s, "task.concurrency", &c, e) != VP_OK)
			return e->code;
		conc = (int)c;
	}
	if (!all && n == 0)
		return vp_error_set(e, VP_ERR_INVALID, "a task needs devices: give their ids or "
		    "ask for all of them");
	if (all && n > 0)
		return vp_error_set(e, VP_ERR_INVALID, "give device ids or ask for all devices, "
		    "not both");
	if (o->timeout_s < 0 || o->timeout_s > 600)
		return vp_error_set(e, VP_ERR_INVALID, "the request timeout is 1 to 600 seconds, "
		    "not %d", o->timeout_s);
	if (o->days != 0 && (rc = check_days(s, o->days, e)) != VP_OK)
		return rc;
	memset(&t, 0, sizeof(t));
	t.days = o->days;
	snprintf(t.kind, sizeof(t.kind), "%s", o->kind);
	snprintf(t.cn_mode, sizeof(t.cn_mode), "%s", o->cn_mode != NULL ? o->cn_mode :
	    dot1x ? "mac" : "");
	if (dot1x && t.cn_mode[0] == '\0')
		snprintf(t.cn_mode, sizeof(t.cn_mode), "mac");
	t.https_only = o->https_only != 0;
	t.timeout_s = o->timeout_s;
	t.concurrency = conc;
	t.created_at = (int64_t)time(NULL);

	if ((rc = vp_store_begin(s, e)) != VP_OK)
		goto out;
	if (all) {
		if ((rc = vp_store_device_ids(s, 0, &every, &nevery, e)) != VP_OK)
			goto fail;
		if (nevery == 0) {
			rc = vp_error_set(e, VP_ERR_INVALID, "there are no devices: add some first "
			    "(vmspki device add or device import)");
			goto fail;
		}
		ids = every;
		n = nevery;
	}
	if ((rc = vp_store_task_insert(s, &t, id, e)) != VP_OK)
		goto fail;
	for (size_t i = 0; i < n; i++)
		if ((rc = add_device(s, *id, ids[i], e)) != VP_OK)
			goto fail;
	snprintf(detail, sizeof(detail), "task %" PRId64 ": %s on %zu device%s", *id, o->kind,
	    n, n == 1 ? "" : "s");
	if ((rc = audit_commit(s, actor, "task.create", detail, e)) != VP_OK)
		goto fail;
	goto out;
fail:
	vp_store_rollback(s);
out:
	free(every);
	return rc;
}

vp_err
vp_task_get(vp_store *s, int64_t id, vp_task *out, vp_error *e)
{
	vp_err rc = vp_store_task_get(s, id, out, e);

	if (rc == VP_ERR_NOTFOUND)
		rc = vp_error_set(e, VP_ERR_NOTFOUND, "there is no task %" PRId64
		    " (vmspki task list shows the tasks)", id);
	return rc;
}

vp_err
vp_task_list(vp_store *s, vp_task_cb cb, void *arg, vp_error *e)
{
	return vp_store_task_list(s, cb, arg, e);
}

/* A row of vp_task_list_json. */
static int
append_task(const vp_task *t, void *arg)
{
	return vp_json_append(arg, vp_json_task(t));
}

vp_err
vp_task_list_json(vp_store *s, json_t *array, vp_error *e)
{
	return vp_task_list(s, append_task, array, e);
}

vp_err
vp_task_results(vp_store *s, int64_t id, vp_task_result_cb cb, void *arg, vp_error *e)
{
	return vp_store_task_device_list(s, id, cb, arg, e);
}

/* Opens the transaction of a change to task id and reads the task into *t; on failure nothing
 * stays open. */
static vp_err
begin_get(vp_store *s, int64_t id, vp_task *t, vp_error *e)
{
	vp_err rc;

	if ((rc = vp_store_begin(s, e)) != VP_OK)
		return rc;
	if ((rc = vp_task_get(s, id, t, e)) != VP_OK)
		vp_store_rollback(s);
	return rc;
}

vp_err
vp_task_cancel(vp_store *s, int64_t id, const char *actor, vp_error *e)
{
	char detail[64];
	vp_task t;
	vp_err rc;

	if ((rc = begin_get(s, id, &t, e)) != VP_OK)
		return rc;
	if (vp_task_done(&t)) {
		rc = vp_error_set(e, VP_ERR_INVALID, "task %" PRId64 " has already ended (%s): "
		    "there is nothing to cancel", id, t.state);
		goto fail;
	}
	/* Devices not started are cancelled here; the engine stops the running ones. A task no
	 * engine has picked up yet ends at once. */
	if ((rc = vp_store_task_cancel(s, id, strcmp(t.state, VP_TASK_QUEUED) == 0 &&
	    t.running == 0, e)) != VP_OK)
		goto fail;
	snprintf(detail, sizeof(detail), "task %" PRId64, id);
	if ((rc = audit_commit(s, actor, "task.cancel", detail, e)) != VP_OK)
		goto fail;
	return VP_OK;
fail:
	vp_store_rollback(s);
	return rc;
}

struct retry_check {
	vp_store *s;
	int64_t task;
	vp_error *e;
};

/* VP_ERR_EXISTS if failed or cancelled device dev of the task is busy in another task. */
static int
retry_busy(int64_t dev, void *arg)
{
	struct retry_check *c = arg;
	int64_t busy = 0;
	vp_err rc;

	if ((rc = vp_store_task_device_busy(c->s, dev, c->task, &busy, c->e)) != VP_OK)
		return rc;
	if (busy != 0)
		return vp_error_set(c->e, VP_ERR_EXISTS, "device %" PRId64 " of task %" PRId64
		    " is in task %" PRId64 " now, which has not finished; retry once it has "
		    "(or cancel it: vmspki task cancel %" PRId64 ")", dev, c->task, busy, busy);
	return 0;
}

vp_err
vp_task_retry_failed(vp_store *s, int64_t id, const char *actor, vp_error *e)
{
	struct retry_check chk = { s, id, e };
	char detail[64];
	vp_task t;
	vp_err rc;

	if ((rc = begin_get(s, id, &t, e)) != VP_OK)
		return rc;
	if (!vp_task_done(&t)) {
		rc = vp_error_set(e, VP_ERR_INVALID, "task %" PRId64 " is still %s: retry its "
		    "failed devices once it has ended", id, t.state);
		goto fail;
	}
	if (t.failed + t.cancelled + t.items_failed == 0) {
		rc = vp_error_set(e, VP_ERR_INVALID, "task %" PRId64 " has no failed or cancelled "
		    "devices to retry", id);
		goto fail;
	}
	/* A CA replacement whose components or server certificate failed does its local part
	 * again (what is done already is seen and kept). */
	if (t.items_failed > 0 && (rc = vp_store_task_item_retry(s, id, e)) != VP_OK)
		goto fail;
	/* A failed device may have gone into another task meanwhile: not two at once. */
	if ((rc = vp_store_task_device_failed(s, id, retry_busy, &chk, e)) != VP_OK ||
	    (rc = vp_store_task_requeue(s, id, e)) != VP_OK)
		goto fail;
	snprintf(detail, sizeof(detail), "task %" PRId64, id);
	if ((rc = audit_commit(s, actor, "task.retry", detail, e)) != VP_OK)
		goto fail;
	return VP_OK;
fail:
	vp_store_rollback(s);
	return rc;
}

/* An ISO 8601 time, or null for 0 (not yet). */
static json_t *
json_time(int64_t t)
{
	char buf[32];

	if (t <= 0)
		return json_null();
	vp_time_iso(t, buf, sizeof(buf));
	return json_string(buf);
}

json_t *
vp_json_task(const vp_task *t)
{
	json_t *o = json_pack("{s:I,s:s,s:s,s:s,s:b,s:i,s:i,s:b,s:o,s:o,s:o,s:{s:I,s:I,s:I,s:I,"
	    "s:I,s:I}}",
	    "id", (json_int_t)t->id, "kind", t->kind, "state", t->state, "cn", t->cn_mode,
	    "https_only", t->https_only, "concurrency", t->concurrency, "timeout_s",
	    t->timeout_s, "cancel_requested", t->cancel, "created_at", json_time(t->created_at),
	    "started_at", json_time(t->started_at), "finished_at", json_time(t->finished_at),
	    "devices", "total", (json_int_t)t->total, "pending", (json_int_t)t->pending,
	    "running", (json_int_t)t->running, "finished", (json_int_t)t->finished, "failed",
	    (json_int_t)t->failed, "cancelled", (json_int_t)t->cancelled);

	if (o != NULL && t->days > 0 && json_object_set_new(o, "days", json_integer(t->days)) !=
	    0) {
		json_decref(o);
		return NULL;
	}
	if (o != NULL && vp_task_kind_is_ca(t->kind) &&
	    json_object_set_new(o, "phase", json_string(t->phase == VP_TASK_PHASE_LOCAL ?
	    "components" : t->phase == VP_TASK_PHASE_DEVICES ? "devices" : "done")) != 0) {
		json_decref(o);
		return NULL;
	}
	return o;
}

json_t *
vp_json_task_item(const vp_task_item *it)
{
	return json_pack("{s:s,s:s,s:s,s:o}", "item", it->item, "status", it->status, "detail",
	    it->detail, "finished_at", json_time(it->finished_at));
}

static int
item_to_json(const vp_task_item *it, void *arg)
{
	return json_array_append_new((json_t *)arg, vp_json_task_item(it)) != 0 ? VP_ERR_NOMEM :
	    0;
}

json_t *
vp_json_task_items(vp_store *s, int64_t id, vp_error *e)
{
	json_t *a = json_array();

	if (a == NULL) {
		vp_error_set(e, VP_ERR_NOMEM, "out of memory");
		return NULL;
	}
	if (vp_task_items(s, id, item_to_json, a, e) != VP_OK) {
		json_decref(a);
		return NULL;
	}
	return a;
}

/* A row of the "results" of vp_task_show_json. */
static int
append_result(const vp_task_result *r, void *arg)
{
	return vp_json_append(arg, vp_json_task_result(r));
}

vp_err
vp_task_show_json(vp_store *s, int64_t id, json_t **out, vp_error *e)
{
	json_t *o = NULL, *a;
	vp_task t;
	vp_err rc;

	*out = NULL;
	if ((rc = vp_task_get(s, id, &t, e)) != VP_OK)
		return rc;
	if ((o = vp_json_task(&t)) == NULL || (a = json_array()) == NULL ||
	    json_object_set_new(o, "results", a) != 0) {
		rc = vp_error_set(e, VP_ERR_NOMEM, "out of memory");
		goto out;
	}
	if ((rc = vp_task_results(s, id, append_result, a, e)) != VP_OK)
		goto out;
	/* The components, server certificate and old CA of a CA replacement. */
	if (t.items > 0 && ((a = vp_json_task_items(s, id, e)) == NULL ||
	    json_object_set_new(o, "items", a) != 0)) {
		rc = e->code != VP_OK ? e->code : VP_ERR_NOMEM;
		goto out;
	}
	*out = o;
	o = NULL;
out:
	json_decref(o);
	return rc;
}

vp_err
vp_task_items(vp_store *s, int64_t id, vp_task_item_cb cb, void *arg, vp_error *e)
{
	return vp_store_task_item_list(s, id, cb, arg, e);
}

vp_err
vp_task_item_set(vp_store *s, int64_t id, const char *item, const char *status,
    const char *detail, vp_error *e)
{
	int done = strcmp(status, "Pending") != 0;

	return vp_store_task_item_set(s, id, item, status, detail, done ? (int64_t)time(NULL) : 0,
	    e);
}

vp_err
vp_task_set_phase(vp_store *s, int64_t id, int phase, vp_error *e)
{
	return vp_store_task_set_phase(s, id, phase, e);
}

struct ca_replace_items {
	vp_store *s;
	int64_t task;
	int seq, ncomp;
	vp_error *e;
};

/* An item "component <id>" for each component, in the order of their ids. */
static int
add_component_item(const vp_store_component *c, void *arg)
{
	struct ca_replace_items *a = arg;
	char item[96];

	snprintf(item, sizeof(item), "component %s", c->id);
	a->ncomp++;
	return vp_store_task_item_add(a->s, a->task, a->seq++, item, a->e);
}

/* The CA's own task of kind (a replacement or a renewal): the devices with a certificate of
 * ours, an item per component and, for a replacement, the server certificate; the old CA. */
static vp_err
create_ca_task(vp_store *s, const char *kind, const char *actor, int64_t *id, vp_error *e)
{
	struct ca_replace_items ci = { s, 0, 0, 0, e };
	int64_t *devs = NULL;
	size_t ndev = 0;
	long conc = VP_TASK_CONCURRENCY_DEFAULT;
	char detail[160];
	vp_task t;
	vp_err rc;

	if ((rc = vp_setting_get_int(s, "task.concurrency", &conc, e)) != VP_OK)
		return rc;
	if ((rc = vp_store_begin(s, e)) != VP_OK)
		return rc;
	/* The devices that serve a certificate of ours; the others have none to replace. */
	if ((rc = vp_store_device_ids(s, 1, &devs, &ndev, e)) != VP_OK)
		goto fail;
	memset(&t, 0, sizeof(t));
	snprintf(t.kind, sizeof(t.kind), "%s", kind);
	t.concurrency = (int)conc;
	t.created_at = (int64_t)time(NULL);
	if ((rc = vp_store_task_insert(s, &t, id, e)) != VP_OK)
		goto fail;
	for (size_t i = 0; i < ndev; i++)
		if ((rc = add_device(s, *id, devs[i], e)) != VP_OK)
			goto fail;
	ci.task = *id;
	/* A renewal leaves the server certificate as it is (the same key signed it). */
	if ((rc = vp_store_component_list(s, add_component_item, &ci, e)) != VP_OK ||
	    (strcmp(kind, VP_TASK_CA_REPLACE) == 0 && (rc = vp_store_task_item_add(s, *id,
	    ci.seq++, VP_TASK_ITEM_SERVER, e)) != VP_OK) ||
	    (rc = vp_store_task_item_add(s, *id, ci.seq++, VP_TASK_ITEM_OLD_CA, e)) != VP_OK)
		goto fail;
	snprintf(detail, sizeof(detail), "task %" PRId64 ": %s on %zu "
	    "device%s and %d component%s", *id, kind, ndev, ndev == 1 ? "" : "s", ci.ncomp,
	    ci.ncomp == 1 ? "" : "s");
	if ((rc = audit_commit(s, actor, "task.create", detail, e)) != VP_OK)
		goto fail;
	free(devs);
	return VP_OK;
fail:
	vp_store_rollback(s);
	free(devs);
	return rc;
}

vp_err
vp_task_create_ca_replace(vp_store *s, const char *actor, int64_t *id, vp_error *e)
{
	return create_ca_task(s, VP_TASK_CA_REPLACE, actor, id, e);
}

vp_err
vp_task_create_ca_renew(vp_store *s, const char *actor, int64_t *id, vp_error *e)
{
	return create_ca_task(s, VP_TASK_CA_RENEW, actor, id, e);
}

int
vp_task_kind_is_ca(const char *kind)
{
	return strcmp(kind, VP_TASK_CA_REPLACE) == 0 || strcmp(kind, VP_TASK_CA_RENEW) == 0;
}

json_t *
vp_json_task_result(const vp_task_result *r)
{
	return json_pack("{s:I,s:s,s:s,s:s,s:s,s:s,s:b,s:i,s:s,s:o,s:o,s:I}",
	    "device_id", (json_int_t)r->device_id, "address", r->address, "mac", r->mac,
	    "status", r->status, "step", r->step, "error", r->error, "retryable", r->retryable,
	    "attempts", r->attempts, "certificate_serial", r->cert_serial, "started_at",
	    json_time(r->started_at), "finished_at", json_time(r->finished_at), "duration_ms",
	    (json_int_t)r->duration_ms);
}
