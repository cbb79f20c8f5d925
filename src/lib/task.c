/* Tasks in the store: create, read, cancel, retry. The engine (engine.c) runs them. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"
#include "store_internal.h"
#include "vmspki/settings.h"
#include "vmspki/task.h"

static void
copy_col(sqlite3_stmt *st, int col, char *buf, size_t n)
{
	const unsigned char *t = sqlite3_column_text(st, col);

	snprintf(buf, n, "%s", t != NULL ? (const char *)t : "");
}

int
vp_task_done(const vp_task *t)
{
	return strcmp(t->state, VP_TASK_FINISHED) == 0 || strcmp(t->state, VP_TASK_FAILED) == 0 ||
	    strcmp(t->state, VP_TASK_CANCELLED) == 0;
}

/* Is device id busy in a task that is not done? *task gets that task. */
static vp_err
device_busy(vp_store *s, int64_t dev, int64_t self, int64_t *task, vp_error *e)
{
	sqlite3_stmt *st = NULL;
	vp_err rc = VP_OK;
	int r;

	*task = 0;
	if (sqlite3_prepare_v2(vp_store_db(s), "SELECT t.id FROM tasks t JOIN task_devices r "
	    "ON r.task_id = t.id WHERE r.device_id = ?1 AND t.id <> ?2 AND t.state IN "
	    "('Queued', 'Running') AND r.status IN ('Pending', 'Running') AND "
	    "t.kind <> '" VP_TASK_DEVICE_CHECK "' LIMIT 1", -1, &st,
	    NULL) != SQLITE_OK || sqlite3_bind_int64(st, 1, dev) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 2, self) != SQLITE_OK)
		rc = vp_store_fail(s, e, "look for the device's running tasks");
	else if ((r = sqlite3_step(st)) == SQLITE_ROW)
		*task = sqlite3_column_int64(st, 0);
	else if (r != SQLITE_DONE)
		rc = vp_store_fail(s, e, "look for the device's running tasks");
	sqlite3_finalize(st);
	return rc;
}

static vp_err
device_exists(vp_store *s, int64_t dev, int *yes, vp_error *e)
{
	sqlite3_stmt *st = NULL;
	vp_err rc = VP_OK;
	int r;

	if (sqlite3_prepare_v2(vp_store_db(s), "SELECT 1 FROM devices WHERE id = ?1", -1, &st,
	    NULL) != SQLITE_OK || sqlite3_bind_int64(st, 1, dev) != SQLITE_OK)
		rc = vp_store_fail(s, e, "look up a device");
	else if ((r = sqlite3_step(st)) == SQLITE_ROW || r == SQLITE_DONE)
		*yes = r == SQLITE_ROW;
	else
		rc = vp_store_fail(s, e, "look up a device");
	sqlite3_finalize(st);
	return rc;
}

static vp_err
add_device(vp_store *s, int64_t task, int64_t dev, vp_error *e)
{
	sqlite3_stmt *st = NULL;
	int64_t busy;
	int yes = 0;
	vp_err rc;

	if ((rc = device_exists(s, dev, &yes, e)) != VP_OK)
		return rc;
	if (!yes)
		return vp_error_set(e, VP_ERR_NOTFOUND, "there is no device %" PRId64
		    " (vmspki device list shows the devices)", dev);
	if ((rc = device_busy(s, dev, task, &busy, e)) != VP_OK)
		return rc;
	if (busy != 0)
		return vp_error_set(e, VP_ERR_EXISTS, "device %" PRId64 " is already in task %"
		    PRId64 ", which has not finished; wait for it or cancel it (vmspki task "
		    "cancel %" PRId64 ")", dev, busy, busy);
	if (sqlite3_prepare_v2(vp_store_db(s), "INSERT INTO task_devices (task_id, device_id) "
	    "VALUES (?1, ?2) ON CONFLICT DO NOTHING", -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 1, task) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 2, dev) != SQLITE_OK || sqlite3_step(st) != SQLITE_DONE)
		rc = vp_store_fail(s, e, "add a device to the task");
	sqlite3_finalize(st);
	return rc;
}

vp_err
vp_task_create(vp_store *s, const vp_task_opts *o, const int64_t *ids, size_t n, int all,
    const char *actor, int64_t *id, vp_error *e)
{
	sqlite3_stmt *st = NULL;
	json_t *opt = NULL;
	char *opts = NULL, detail[160];
	int conc = o->concurrency > 0 ? o->concurrency : VP_TASK_CONCURRENCY_DEFAULT;
	int64_t *every = NULL;
	size_t nevery = 0;
	vp_err rc;

	if (o->kind == NULL || (strcmp(o->kind, VP_TASK_HTTPS_ENABLE) != 0 &&
	    strcmp(o->kind, VP_TASK_HTTPS_UPDATE) != 0 &&
	    strcmp(o->kind, VP_TASK_DEVICE_CHECK) != 0))
		return vp_error_set(e, VP_ERR_INVALID, "unknown task kind \"%.40s\": use %s or %s",
		    o->kind != NULL ? o->kind : "", VP_TASK_HTTPS_ENABLE, VP_TASK_HTTPS_UPDATE);
	if (o->cn_mode != NULL && o->cn_mode[0] != '\0' && strcmp(o->cn_mode, "ip") != 0 &&
	    strcmp(o->cn_mode, "fqdn") != 0)
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
	opt = json_pack("{s:s,s:b,s:i}", "cn", o->cn_mode != NULL ? o->cn_mode : "", "https_only",
	    o->https_only != 0, "timeout_s", o->timeout_s);
	if (opt == NULL || (opts = json_dumps(opt, JSON_COMPACT)) == NULL) {
		json_decref(opt);
		return vp_error_set(e, VP_ERR_NOMEM, "out of memory");
	}
	json_decref(opt);

	if ((rc = vp_store_begin(s, e)) != VP_OK)
		goto out;
	if (all) {
		if ((rc = vp_store_ids(s, "SELECT id FROM devices ORDER BY id", "list the devices",
		    &every, &nevery, e)) != VP_OK)
			goto fail;
		if (nevery == 0) {
			rc = vp_error_set(e, VP_ERR_INVALID, "there are no devices: add some first "
			    "(vmspki device add or device import)");
			goto fail;
		}
		ids = every;
		n = nevery;
	}
	if (sqlite3_prepare_v2(vp_store_db(s), "INSERT INTO tasks (kind, state, options, "
	    "concurrency, created_at) VALUES (?1, 'Queued', ?2, ?3, ?4)", -1, &st,
	    NULL) != SQLITE_OK ||
	    sqlite3_bind_text(st, 1, o->kind, -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_text(st, 2, opts, -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_int(st, 3, conc) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 4, (sqlite3_int64)time(NULL)) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_DONE) {
		rc = vp_store_fail(s, e, "create the task");
		goto fail;
	}
	*id = sqlite3_last_insert_rowid(vp_store_db(s));
	for (size_t i = 0; i < n; i++)
		if ((rc = add_device(s, *id, ids[i], e)) != VP_OK)
			goto fail;
	snprintf(detail, sizeof(detail), "task %" PRId64 ": %s on %zu device%s", *id, o->kind,
	    n, n == 1 ? "" : "s");
	if ((rc = vp_store_audit_append(s, actor != NULL ? actor : "unknown", "task.create",
	    NULL, detail, e)) != VP_OK || (rc = vp_store_commit(s, e)) != VP_OK)
		goto fail;
	goto out;
fail:
	vp_store_rollback(s);
out:
	sqlite3_finalize(st);
	free(every);
	free(opts);
	return rc;
}

#define TASK_SELECT \
	"SELECT t.id, t.kind, t.state, t.options, t.concurrency, t.cancel, t.created_at, " \
	"t.started_at, t.finished_at, " \
	"(SELECT count(*) FROM task_devices r WHERE r.task_id = t.id), " \
	"(SELECT count(*) FROM task_devices r WHERE r.task_id = t.id AND r.status = 'Pending'), " \
	"(SELECT count(*) FROM task_devices r WHERE r.task_id = t.id AND r.status = 'Running'), " \
	"(SELECT count(*) FROM task_devices r WHERE r.task_id = t.id AND r.status = 'Finished'), "\
	"(SELECT count(*) FROM task_devices r WHERE r.task_id = t.id AND r.status = 'Failed'), " \
	"(SELECT count(*) FROM task_devices r WHERE r.task_id = t.id AND r.status = 'Cancelled'), "\
	"t.phase, (SELECT count(*) FROM task_items i WHERE i.task_id = t.id), " \
	"(SELECT count(*) FROM task_items i WHERE i.task_id = t.id AND i.status = 'Failed') " \
	"FROM tasks t "

static void
task_read(sqlite3_stmt *st, vp_task *t)
{
	const char *opts = (const char *)sqlite3_column_text(st, 3);
	json_t *o = opts != NULL ? json_loads(opts, 0, NULL) : NULL;
	const char *cn = o != NULL ? json_string_value(json_object_get(o, "cn")) : NULL;

	memset(t, 0, sizeof(*t));
	t->id = sqlite3_column_int64(st, 0);
	copy_col(st, 1, t->kind, sizeof(t->kind));
	copy_col(st, 2, t->state, sizeof(t->state));
	snprintf(t->cn_mode, sizeof(t->cn_mode), "%s", cn != NULL ? cn : "");
	t->https_only = o != NULL && json_is_true(json_object_get(o, "https_only"));
	t->timeout_s = o != NULL ? (int)json_integer_value(json_object_get(o, "timeout_s")) : 0;
	json_decref(o);
	t->concurrency = sqlite3_column_int(st, 4);
	t->cancel = sqlite3_column_int(st, 5);
	t->created_at = sqlite3_column_int64(st, 6);
	t->started_at = sqlite3_column_int64(st, 7);
	t->finished_at = sqlite3_column_int64(st, 8);
	t->total = sqlite3_column_int64(st, 9);
	t->pending = sqlite3_column_int64(st, 10);
	t->running = sqlite3_column_int64(st, 11);
	t->finished = sqlite3_column_int64(st, 12);
	t->failed = sqlite3_column_int64(st, 13);
	t->cancelled = sqlite3_column_int64(st, 14);
	t->phase = sqlite3_column_int(st, 15);
	t->items = sqlite3_column_int64(st, 16);
	t->items_failed = sqlite3_column_int64(st, 17);
}

vp_err
vp_task_get(vp_store *s, int64_t id, vp_task *out, vp_error *e)
{
	sqlite3_stmt *st = NULL;
	vp_err rc = VP_OK;
	int r;

	if (sqlite3_prepare_v2(vp_store_db(s), TASK_SELECT "WHERE t.id = ?1", -1, &st,
	    NULL) != SQLITE_OK || sqlite3_bind_int64(st, 1, id) != SQLITE_OK)
		rc = vp_store_fail(s, e, "look up a task");
	else if ((r = sqlite3_step(st)) == SQLITE_ROW)
		task_read(st, out);
	else if (r == SQLITE_DONE)
		rc = vp_error_set(e, VP_ERR_NOTFOUND, "there is no task %" PRId64
		    " (vmspki task list shows the tasks)", id);
	else
		rc = vp_store_fail(s, e, "look up a task");
	sqlite3_finalize(st);
	return rc;
}

vp_err
vp_task_list(vp_store *s, vp_task_cb cb, void *arg, vp_error *e)
{
	sqlite3_stmt *st = NULL;
	vp_task t;
	vp_err rc = VP_OK;
	int r;

	if (sqlite3_prepare_v2(vp_store_db(s), TASK_SELECT "ORDER BY t.id", -1, &st,
	    NULL) != SQLITE_OK) {
		rc = vp_store_fail(s, e, "list the tasks");
		goto out;
	}
	while ((r = sqlite3_step(st)) == SQLITE_ROW) {
		int cbr;

		task_read(st, &t);
		if ((cbr = cb(&t, arg)) != 0) {
			rc = (vp_err)cbr;
			goto out;
		}
	}
	if (r != SQLITE_DONE)
		rc = vp_store_fail(s, e, "list the tasks");
out:
	sqlite3_finalize(st);
	return rc;
}

vp_err
vp_task_results(vp_store *s, int64_t id, vp_task_result_cb cb, void *arg, vp_error *e)
{
	sqlite3_stmt *st = NULL;
	vp_task_result res;
	vp_err rc = VP_OK;
	int r;

	if (sqlite3_prepare_v2(vp_store_db(s), "SELECT r.task_id, r.device_id, "
	    "coalesce(d.address, ''), coalesce(d.mac, ''), r.status, r.step, r.error, "
	    "r.retryable, r.attempts, r.cert_serial, r.key_alias, r.started_at, r.finished_at, "
	    "r.duration_ms FROM task_devices r LEFT JOIN devices d ON d.id = r.device_id "
	    "WHERE r.task_id = ?1 ORDER BY r.device_id", -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 1, id) != SQLITE_OK) {
		rc = vp_store_fail(s, e, "read the task's results");
		goto out;
	}
	while ((r = sqlite3_step(st)) == SQLITE_ROW) {
		int cbr;

		memset(&res, 0, sizeof(res));
		res.task_id = sqlite3_column_int64(st, 0);
		res.device_id = sqlite3_column_int64(st, 1);
		copy_col(st, 2, res.address, sizeof(res.address));
		copy_col(st, 3, res.mac, sizeof(res.mac));
		copy_col(st, 4, res.status, sizeof(res.status));
		copy_col(st, 5, res.step, sizeof(res.step));
		copy_col(st, 6, res.error, sizeof(res.error));
		res.retryable = sqlite3_column_int(st, 7);
		res.attempts = sqlite3_column_int(st, 8);
		copy_col(st, 9, res.cert_serial, sizeof(res.cert_serial));
		copy_col(st, 10, res.key_alias, sizeof(res.key_alias));
		res.started_at = sqlite3_column_int64(st, 11);
		res.finished_at = sqlite3_column_int64(st, 12);
		res.duration_ms = sqlite3_column_int64(st, 13);
		if ((cbr = cb(&res, arg)) != 0) {
			rc = (vp_err)cbr;
			goto out;
		}
	}
	if (r != SQLITE_DONE)
		rc = vp_store_fail(s, e, "read the task's results");
out:
	sqlite3_finalize(st);
	return rc;
}

/* Runs sql (binding the task id as ?1) inside the caller's transaction. */
static vp_err
task_exec(vp_store *s, const char *sql, int64_t id, const char *what, vp_error *e)
{
	sqlite3_stmt *st = NULL;
	vp_err rc = VP_OK;

	if (sqlite3_prepare_v2(vp_store_db(s), sql, -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 1, id) != SQLITE_OK || sqlite3_step(st) != SQLITE_DONE)
		rc = vp_store_fail(s, e, what);
	sqlite3_finalize(st);
	return rc;
}

vp_err
vp_task_cancel(vp_store *s, int64_t id, const char *actor, vp_error *e)
{
	char detail[64];
	vp_task t;
	vp_err rc;

	if ((rc = vp_store_begin(s, e)) != VP_OK)
		return rc;
	if ((rc = vp_task_get(s, id, &t, e)) != VP_OK)
		goto fail;
	if (vp_task_done(&t)) {
		rc = vp_error_set(e, VP_ERR_INVALID, "task %" PRId64 " has already ended (%s): "
		    "there is nothing to cancel", id, t.state);
		goto fail;
	}
	/* Devices not started are cancelled here; the engine stops the running ones. A task no
	 * engine has picked up yet ends at once. */
	if ((rc = task_exec(s, "UPDATE tasks SET cancel = 1 WHERE id = ?1", id,
	    "cancel the task", e)) != VP_OK ||
	    (rc = task_exec(s, "UPDATE task_devices SET status = 'Cancelled', "
	    "error = 'cancelled before it started' WHERE task_id = ?1 AND status = 'Pending'", id,
	    "cancel the task", e)) != VP_OK)
		goto fail;
	if (strcmp(t.state, VP_TASK_QUEUED) == 0 && t.running == 0 &&
	    (rc = task_exec(s, "UPDATE tasks SET state = 'Cancelled', finished_at = "
	    "CAST(strftime('%s', 'now') AS INTEGER) WHERE id = ?1", id, "cancel the task",
	    e)) != VP_OK)
		goto fail;
	snprintf(detail, sizeof(detail), "task %" PRId64, id);
	if ((rc = vp_store_audit_append(s, actor != NULL ? actor : "unknown", "task.cancel", NULL,
	    detail, e)) != VP_OK || (rc = vp_store_commit(s, e)) != VP_OK)
		goto fail;
	return VP_OK;
fail:
	vp_store_rollback(s);
	return rc;
}

/* VP_ERR_EXISTS if a failed or cancelled device of task id is busy in another task. */
static vp_err
retry_busy(vp_store *s, int64_t id, vp_error *e)
{
	sqlite3_stmt *st = NULL;
	int64_t busy = 0, dev = 0;
	vp_err rc = VP_OK;
	int r;

	if (sqlite3_prepare_v2(vp_store_db(s), "SELECT device_id FROM task_devices WHERE "
	    "task_id = ?1 AND status IN ('Failed', 'Cancelled')", -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 1, id) != SQLITE_OK)
		return vp_store_fail(s, e, "read the task's devices");
	while ((r = sqlite3_step(st)) == SQLITE_ROW) {
		dev = sqlite3_column_int64(st, 0);
		if ((rc = device_busy(s, dev, id, &busy, e)) != VP_OK)
			break;
		if (busy != 0) {
			rc = vp_error_set(e, VP_ERR_EXISTS, "device %" PRId64 " of task %" PRId64
			    " is in task %" PRId64 " now, which has not finished; retry once it has "
			    "(or cancel it: vmspki task cancel %" PRId64 ")", dev, id, busy, busy);
			break;
		}
	}
	if (rc == VP_OK && r != SQLITE_DONE)
		rc = vp_store_fail(s, e, "read the task's devices");
	sqlite3_finalize(st);
	return rc;
}

vp_err
vp_task_retry_failed(vp_store *s, int64_t id, const char *actor, vp_error *e)
{
	char detail[64];
	vp_task t;
	vp_err rc;

	if ((rc = vp_store_begin(s, e)) != VP_OK)
		return rc;
	if ((rc = vp_task_get(s, id, &t, e)) != VP_OK)
		goto fail;
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
	if (t.items_failed > 0 && ((rc = task_exec(s, "UPDATE task_items SET status = "
	    "'Pending', detail = '', finished_at = 0 WHERE task_id = ?1 AND status = 'Failed'",
	    id, "retry the task", e)) != VP_OK || (rc = task_exec(s, "UPDATE tasks SET phase = 0 "
	    "WHERE id = ?1", id, "retry the task", e)) != VP_OK))
		goto fail;
	/* A failed device may have gone into another task meanwhile: not two at once. */
	if ((rc = retry_busy(s, id, e)) != VP_OK)
		goto fail;
	if ((rc = task_exec(s, "UPDATE task_devices SET status = 'Pending', retryable = 0, "
	    "finished_at = 0 WHERE task_id = ?1 AND status IN ('Failed', 'Cancelled')", id,
	    "retry the task", e)) != VP_OK ||
	    (rc = task_exec(s, "UPDATE tasks SET state = 'Queued', cancel = 0, finished_at = 0, "
	    "claimed_by = '', lease_until = 0 WHERE id = ?1", id, "retry the task", e)) != VP_OK)
		goto fail;
	snprintf(detail, sizeof(detail), "task %" PRId64, id);
	if ((rc = vp_store_audit_append(s, actor != NULL ? actor : "unknown", "task.retry", NULL,
	    detail, e)) != VP_OK || (rc = vp_store_commit(s, e)) != VP_OK)
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

	if (o != NULL && strcmp(t->kind, VP_TASK_CA_REPLACE) == 0 &&
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

vp_err
vp_task_items(vp_store *s, int64_t id, vp_task_item_cb cb, void *arg, vp_error *e)
{
	sqlite3_stmt *st = NULL;
	vp_task_item it;
	vp_err rc = VP_OK;
	int r;

	if (sqlite3_prepare_v2(vp_store_db(s), "SELECT item, status, detail, finished_at FROM "
	    "task_items WHERE task_id = ?1 ORDER BY seq", -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 1, id) != SQLITE_OK) {
		rc = vp_store_fail(s, e, "read the task's items");
		goto out;
	}
	while ((r = sqlite3_step(st)) == SQLITE_ROW) {
		int cbr;

		memset(&it, 0, sizeof(it));
		copy_col(st, 0, it.item, sizeof(it.item));
		copy_col(st, 1, it.status, sizeof(it.status));
		copy_col(st, 2, it.detail, sizeof(it.detail));
		it.finished_at = sqlite3_column_int64(st, 3);
		if ((cbr = cb(&it, arg)) != 0) {
			rc = (vp_err)cbr;
			goto out;
		}
	}
	if (r != SQLITE_DONE)
		rc = vp_store_fail(s, e, "read the task's items");
out:
	sqlite3_finalize(st);
	return rc;
}

vp_err
vp_task_item_set(vp_store *s, int64_t id, const char *item, const char *status,
    const char *detail, vp_error *e)
{
	sqlite3_stmt *st = NULL;
	vp_err rc = VP_OK;
	int done = strcmp(status, "Pending") != 0;

	if (sqlite3_prepare_v2(vp_store_db(s), "UPDATE task_items SET status = ?3, detail = ?4, "
	    "finished_at = ?5 WHERE task_id = ?1 AND item = ?2", -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 1, id) != SQLITE_OK ||
	    sqlite3_bind_text(st, 2, item, -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_text(st, 3, status, -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_text(st, 4, detail != NULL ? detail : "", -1, SQLITE_STATIC) !=
	    SQLITE_OK ||
	    sqlite3_bind_int64(st, 5, done ? (sqlite3_int64)time(NULL) : 0) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_DONE)
		rc = vp_store_fail(s, e, "record the outcome of a task item");
	sqlite3_finalize(st);
	return rc;
}

vp_err
vp_task_set_phase(vp_store *s, int64_t id, int phase, vp_error *e)
{
	sqlite3_stmt *st = NULL;
	vp_err rc = VP_OK;

	if (sqlite3_prepare_v2(vp_store_db(s), "UPDATE tasks SET phase = ?2 WHERE id = ?1", -1,
	    &st, NULL) != SQLITE_OK || sqlite3_bind_int64(st, 1, id) != SQLITE_OK ||
	    sqlite3_bind_int(st, 2, phase) != SQLITE_OK || sqlite3_step(st) != SQLITE_DONE)
		rc = vp_store_fail(s, e, "record the task's phase");
	sqlite3_finalize(st);
	return rc;
}

static vp_err
add_item(vp_store *s, int64_t task, int seq, const char *item, vp_error *e)
{
	sqlite3_stmt *st = NULL;
	vp_err rc = VP_OK;

	if (sqlite3_prepare_v2(vp_store_db(s), "INSERT INTO task_items (task_id, seq, item) "
	    "VALUES (?1, ?2, ?3)", -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 1, task) != SQLITE_OK ||
	    sqlite3_bind_int(st, 2, seq) != SQLITE_OK ||
	    sqlite3_bind_text(st, 3, item, -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_DONE)
		rc = vp_store_fail(s, e, "add an item to the task");
	sqlite3_finalize(st);
	return rc;
}

vp_err
vp_task_create_ca_replace(vp_store *s, const char *actor, int64_t *id, vp_error *e)
{
	sqlite3_stmt *st = NULL;
	int64_t *devs = NULL;
	size_t ndev = 0;
	long conc = VP_TASK_CONCURRENCY_DEFAULT;
	char detail[160], item[96];
	int seq = 0, ncomp = 0, r;
	vp_err rc;

	if ((rc = vp_setting_get_int(s, "task.concurrency", &conc, e)) != VP_OK)
		return rc;
	if ((rc = vp_store_begin(s, e)) != VP_OK)
		return rc;
	/* The devices that serve a certificate of ours; the others have none to replace. */
	if ((rc = vp_store_ids(s, "SELECT id FROM devices WHERE cert_serial <> '' ORDER BY id",
	    "list the devices", &devs, &ndev, e)) != VP_OK)
		goto fail;
	if (sqlite3_prepare_v2(vp_store_db(s), "INSERT INTO tasks (kind, state, options, "
	    "concurrency, created_at) VALUES ('" VP_TASK_CA_REPLACE "', 'Queued', '{}', ?1, ?2)",
	    -1, &st, NULL) != SQLITE_OK || sqlite3_bind_int(st, 1, (int)conc) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 2, (sqlite3_int64)time(NULL)) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_DONE) {
		rc = vp_store_fail(s, e, "create the task");
		goto fail;
	}
	sqlite3_finalize(st);
	st = NULL;
	*id = sqlite3_last_insert_rowid(vp_store_db(s));
	for (size_t i = 0; i < ndev; i++)
		if ((rc = add_device(s, *id, devs[i], e)) != VP_OK)
			goto fail;
	if (sqlite3_prepare_v2(vp_store_db(s), "SELECT id FROM components ORDER BY id", -1, &st,
	    NULL) != SQLITE_OK) {
		rc = vp_store_fail(s, e, "list the components");
		goto fail;
	}
	while ((r = sqlite3_step(st)) == SQLITE_ROW) {
		snprintf(item, sizeof(item), "component %s", (const char *)sqlite3_column_text(st,
		    0));
		if ((rc = add_item(s, *id, seq++, item, e)) != VP_OK)
			goto fail;
		ncomp++;
	}
	if (r != SQLITE_DONE) {
		rc = vp_store_fail(s, e, "list the components");
		goto fail;
	}
	sqlite3_finalize(st);
	st = NULL;
	if ((rc = add_item(s, *id, seq++, VP_TASK_ITEM_SERVER, e)) != VP_OK ||
	    (rc = add_item(s, *id, seq++, VP_TASK_ITEM_OLD_CA, e)) != VP_OK)
		goto fail;
	snprintf(detail, sizeof(detail), "task %" PRId64 ": " VP_TASK_CA_REPLACE " on %zu "
	    "device%s and %d component%s", *id, ndev, ndev == 1 ? "" : "s", ncomp,
	    ncomp == 1 ? "" : "s");
	if ((rc = vp_store_audit_append(s, actor != NULL ? actor : "unknown", "task.create",
	    NULL, detail, e)) != VP_OK || (rc = vp_store_commit(s, e)) != VP_OK)
		goto fail;
	free(devs);
	return VP_OK;
fail:
	sqlite3_finalize(st);
	vp_store_rollback(s);
	free(devs);
	return rc;
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
