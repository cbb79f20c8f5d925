/* The tasks, task_devices and task_items tables of the SQLite store (migrations 5 and 8): the
 * rows task.c reads and writes; the rules (who may join a task, what cancel does) stay there. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "store_internal.h"
#include "vmspki/task.h"

/* ---- tasks ---- */

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

vp_err
vp_store_task_insert(vp_store *s, const vp_task *t, int64_t *id, vp_error *e)
{
	json_t *o = NULL;
	char *opts = NULL;
	vp_err rc;

	*id = 0;
	/* A CA replacement or renewal, or a discovery, has no options of its own. */
	if (vp_task_kind_is_ca(t->kind) || strcmp(t->kind, VP_TASK_DEVICE_DISCOVER) == 0) {
		rc = vp_sql_run(s, "create the task", "INSERT INTO tasks (kind, state, "
		    "options, concurrency, created_at) VALUES (?1, "
		    "'Queued', '{}', ?2, ?3)", VP_SQL_ARGS(VP_SQL_TEXT(t->kind),
		    VP_SQL_INT(t->concurrency), VP_SQL_INT(t->created_at)), NULL, NULL, NULL, e);
		goto out;
	}
	o = json_pack("{s:s,s:b,s:i}", "cn", t->cn_mode, "https_only", t->https_only != 0,
	    "timeout_s", t->timeout_s);
	/* "days" only when the task names it: older readers see the options they know. */
	if (o != NULL && t->days > 0 && json_object_set_new(o, "days", json_integer(t->days)) != 0) {
		json_decref(o);
		o = NULL;
	}
	if (o == NULL || (opts = json_dumps(o, JSON_COMPACT)) == NULL) {
		rc = vp_error_set(e, VP_ERR_NOMEM, "out of memory");
		goto out;
	}
	rc = vp_sql_run(s, "create the task", "INSERT INTO tasks (kind, state, options, "
	    "concurrency, created_at) VALUES (?1, 'Queued', ?2, ?3, ?4)",
	    VP_SQL_ARGS(VP_SQL_TEXT(t->kind), VP_SQL_TEXT(opts), VP_SQL_INT(t->concurrency),
	    VP_SQL_INT(t->created_at)), NULL, NULL, NULL, e);
out:
	if (rc == VP_OK)
		*id = vp_sql_last_id(s);
	json_decref(o);
	free(opts);
	return rc;
}

/* A row of TASK_SELECT into *t; the options column is JSON ({"cn", "https_only",
 * "timeout_s", "days"}). */
static void
task_read(const vp_sql_row *st, vp_task *t)
{
	const char *opts = vp_sql_col_str(st, 3);
	json_t *o = opts != NULL ? json_loads(opts, 0, NULL) : NULL;
	const char *cn = o != NULL ? json_string_value(json_object_get(o, "cn")) : NULL;

	memset(t, 0, sizeof(*t));
	t->id = vp_sql_col_int64(st, 0);
	vp_sql_col_text(st, 1, t->kind, sizeof(t->kind));
	vp_sql_col_text(st, 2, t->state, sizeof(t->state));
	snprintf(t->cn_mode, sizeof(t->cn_mode), "%s", cn != NULL ? cn : "");
	t->https_only = o != NULL && json_is_true(json_object_get(o, "https_only"));
	t->timeout_s = o != NULL ? (int)json_integer_value(json_object_get(o, "timeout_s")) : 0;
	t->days = o != NULL ? (int)json_integer_value(json_object_get(o, "days")) : 0;
	json_decref(o);
	t->concurrency = vp_sql_col_int(st, 4);
	t->cancel = vp_sql_col_int(st, 5);
	t->created_at = vp_sql_col_int64(st, 6);
	t->started_at = vp_sql_col_int64(st, 7);
	t->finished_at = vp_sql_col_int64(st, 8);
	t->total = vp_sql_col_int64(st, 9);
	t->pending = vp_sql_col_int64(st, 10);
	t->running = vp_sql_col_int64(st, 11);
	t->finished = vp_sql_col_int64(st, 12);
	t->failed = vp_sql_col_int64(st, 13);
	t->cancelled = vp_sql_col_int64(st, 14);
	t->phase = vp_sql_col_int(st, 15);
	t->items = vp_sql_col_int64(st, 16);
	t->items_failed = vp_sql_col_int64(st, 17);
}

struct task_one {
	vp_task *out;
	int found;
};

static vp_err
task_one_row(const vp_sql_row *row, void *arg, vp_error *e)
{
	struct task_one *a = arg;

	(void)e;
	task_read(row, a->out);
	a->found = 1;
	return VP_OK;
}

vp_err
vp_store_task_get(vp_store *s, int64_t id, vp_task *out, vp_error *e)
{
	struct task_one a = { out, 0 };
	vp_err rc;

	if ((rc = vp_sql_run(s, "look up a task", TASK_SELECT "WHERE t.id = ?1",
	    VP_SQL_ARGS(VP_SQL_INT(id)), task_one_row, &a, NULL, e)) != VP_OK)
		return rc;
	if (!a.found)
		return vp_error_set(e, VP_ERR_NOTFOUND, "there is no task %" PRId64, id);
	return VP_OK;
}

struct task_walk {
	vp_store_task_cb cb;
	void *arg;
};

static vp_err
task_walk_row(const vp_sql_row *row, void *arg, vp_error *e)
{
	struct task_walk *w = arg;
	vp_task t;

	(void)e;
	task_read(row, &t);
	return (vp_err)w->cb(&t, w->arg);
}

vp_err
vp_store_task_list(vp_store *s, vp_store_task_cb cb, void *arg, vp_error *e)
{
	struct task_walk w = { cb, arg };

	return vp_sql_run(s, "list the tasks", TASK_SELECT "ORDER BY t.id", VP_SQL_NOARGS,
	    task_walk_row, &w, NULL, e);
}

vp_err
vp_store_task_set_phase(vp_store *s, int64_t id, int phase, vp_error *e)
{
	return vp_sql_run(s, "record the task's phase", "UPDATE tasks SET phase = ?2 WHERE id = ?1",
	    VP_SQL_ARGS(VP_SQL_INT(id), VP_SQL_INT(phase)), NULL, NULL, NULL, e);
}

vp_err
vp_store_task_cancel(vp_store *s, int64_t id, int end, vp_error *e)
{
	vp_err rc;

	if ((rc = vp_sql_run(s, "cancel the task", "UPDATE tasks SET cancel = 1 WHERE id = ?1",
	    VP_SQL_ARGS(VP_SQL_INT(id)), NULL, NULL, NULL, e)) != VP_OK ||
	    (rc = vp_sql_run(s, "cancel the task", "UPDATE task_devices SET status = 'Cancelled', "
	    "error = 'cancelled before it started' WHERE task_id = ?1 AND status = 'Pending'",
	    VP_SQL_ARGS(VP_SQL_INT(id)), NULL, NULL, NULL, e)) != VP_OK)
		return rc;
	if (end)
		rc = vp_sql_run(s, "cancel the task", "UPDATE tasks SET state = 'Cancelled', "
		    "finished_at = ?2 WHERE id = ?1",
		    VP_SQL_ARGS(VP_SQL_INT(id), VP_SQL_INT(time(NULL))), NULL, NULL, NULL, e);
	return rc;
}

vp_err
vp_store_task_requeue(vp_store *s, int64_t id, vp_error *e)
{
	vp_err rc;

	if ((rc = vp_sql_run(s, "retry the task", "UPDATE task_devices SET status = 'Pending', "
	    "retryable = 0, finished_at = 0 WHERE task_id = ?1 AND status IN ('Failed', "
	    "'Cancelled')", VP_SQL_ARGS(VP_SQL_INT(id)), NULL, NULL, NULL, e)) != VP_OK)
		return rc;
	return vp_sql_run(s, "retry the task", "UPDATE tasks SET state = 'Queued', cancel = 0, "
	    "finished_at = 0, claimed_by = '', lease_until = 0 WHERE id = ?1",
	    VP_SQL_ARGS(VP_SQL_INT(id)), NULL, NULL, NULL, e);
}

/* ---- task_devices ---- */

vp_err
vp_store_task_device_add(vp_store *s, int64_t task, int64_t dev, vp_error *e)
{
	return vp_sql_run(s, "add a device to the task", "INSERT INTO task_devices (task_id, "
	    "device_id) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
	    VP_SQL_ARGS(VP_SQL_INT(task), VP_SQL_INT(dev)), NULL, NULL, NULL, e);
}

static vp_err
first_id_row(const vp_sql_row *row, void *arg, vp_error *e)
{
	(void)e;
	*(int64_t *)arg = vp_sql_col_int64(row, 0);
	return VP_OK;
}

vp_err
vp_store_task_device_busy(vp_store *s, int64_t dev, int64_t except, int64_t *task,
    vp_error *e)
{
	*task = 0;
	return vp_sql_run(s, "look for the device's running tasks", "SELECT t.id FROM tasks t "
	    "JOIN task_devices r ON r.task_id = t.id WHERE r.device_id = ?1 AND t.id <> ?2 AND "
	    "t.state IN ('Queued', 'Running') AND r.status IN ('Pending', 'Running') AND "
	    "t.kind <> '" VP_TASK_DEVICE_CHECK "' LIMIT 1",
	    VP_SQL_ARGS(VP_SQL_INT(dev), VP_SQL_INT(except)), first_id_row, task, NULL, e);
}

struct result_walk {
	vp_store_task_result_cb cb;
	void *arg;
};

static vp_err
result_row(const vp_sql_row *st, void *arg, vp_error *e)
{
	struct result_walk *w = arg;
	vp_task_result res;

	(void)e;
	memset(&res, 0, sizeof(res));
	res.task_id = vp_sql_col_int64(st, 0);
	res.device_id = vp_sql_col_int64(st, 1);
	vp_sql_col_text(st, 2, res.address, sizeof(res.address));
	vp_sql_col_text(st, 3, res.mac, sizeof(res.mac));
	vp_sql_col_text(st, 4, res.status, sizeof(res.status));
	vp_sql_col_text(st, 5, res.step, sizeof(res.step));
	vp_sql_col_text(st, 6, res.error, sizeof(res.error));
	res.retryable = vp_sql_col_int(st, 7);
	res.attempts = vp_sql_col_int(st, 8);
	vp_sql_col_text(st, 9, res.cert_serial, sizeof(res.cert_serial));
	vp_sql_col_text(st, 10, res.key_alias, sizeof(res.key_alias));
	res.started_at = vp_sql_col_int64(st, 11);
	res.finished_at = vp_sql_col_int64(st, 12);
	res.duration_ms = vp_sql_col_int64(st, 13);
	return (vp_err)w->cb(&res, w->arg);
}

vp_err
vp_store_task_device_list(vp_store *s, int64_t id, vp_store_task_result_cb cb, void *arg,
    vp_error *e)
{
	struct result_walk w = { cb, arg };

	return vp_sql_run(s, "read the task's results", "SELECT r.task_id, r.device_id, "
	    "coalesce(d.address, ''), coalesce(d.mac, ''), r.status, r.step, r.error, "
	    "r.retryable, r.attempts, r.cert_serial, r.key_alias, r.started_at, r.finished_at, "
	    "r.duration_ms FROM task_devices r LEFT JOIN devices d ON d.id = r.device_id "
	    "WHERE r.task_id = ?1 ORDER BY r.device_id", VP_SQL_ARGS(VP_SQL_INT(id)), result_row,
	    &w, NULL, e);
}

struct id_walk {
	vp_store_task_id_cb cb;
	void *arg;
};

static vp_err
id_walk_row(const vp_sql_row *row, void *arg, vp_error *e)
{
	struct id_walk *w = arg;

	(void)e;
	return (vp_err)w->cb(vp_sql_col_int64(row, 0), w->arg);
}

vp_err
vp_store_task_device_failed(vp_store *s, int64_t id, vp_store_task_id_cb cb, void *arg,
    vp_error *e)
{
	struct id_walk w = { cb, arg };

	return vp_sql_run(s, "read the task's devices", "SELECT device_id FROM task_devices WHERE "
	    "task_id = ?1 AND status IN ('Failed', 'Cancelled')", VP_SQL_ARGS(VP_SQL_INT(id)),
	    id_walk_row, &w, NULL, e);
}

/* ---- task_items ---- */

vp_err
vp_store_task_item_add(vp_store *s, int64_t task, int seq, const char *item, vp_error *e)
{
	return vp_sql_run(s, "add an item to the task", "INSERT INTO task_items (task_id, seq, "
	    "item) VALUES (?1, ?2, ?3)", VP_SQL_ARGS(VP_SQL_INT(task), VP_SQL_INT(seq),
	    VP_SQL_TEXT(item)), NULL, NULL, NULL, e);
}

vp_err
vp_store_task_item_set(vp_store *s, int64_t task, const char *item, const char *status,
    const char *detail, int64_t finished_at, vp_error *e)
{
	return vp_sql_run(s, "record the outcome of a task item", "UPDATE task_items SET "
	    "status = ?3, detail = ?4, finished_at = ?5 WHERE task_id = ?1 AND item = ?2",
	    VP_SQL_ARGS(VP_SQL_INT(task), VP_SQL_TEXT(item), VP_SQL_TEXT(status),
	    VP_SQL_TEXT(detail != NULL ? detail : ""), VP_SQL_INT(finished_at)), NULL, NULL, NULL,
	    e);
}

struct item_walk {
	vp_store_task_item_cb cb;
	void *arg;
};

static vp_err
item_row(const vp_sql_row *st, void *arg, vp_error *e)
{
	struct item_walk *w = arg;
	vp_task_item it;

	(void)e;
	memset(&it, 0, sizeof(it));
	vp_sql_col_text(st, 0, it.item, sizeof(it.item));
	vp_sql_col_text(st, 1, it.status, sizeof(it.status));
	vp_sql_col_text(st, 2, it.detail, sizeof(it.detail));
	it.finished_at = vp_sql_col_int64(st, 3);
	return (vp_err)w->cb(&it, w->arg);
}

vp_err
vp_store_task_item_list(vp_store *s, int64_t id, vp_store_task_item_cb cb, void *arg,
    vp_error *e)
{
	struct item_walk w = { cb, arg };

	return vp_sql_run(s, "read the task's items", "SELECT item, status, detail, finished_at "
	    "FROM task_items WHERE task_id = ?1 ORDER BY seq", VP_SQL_ARGS(VP_SQL_INT(id)),
	    item_row, &w, NULL, e);
}

vp_err
vp_store_task_item_retry(vp_store *s, int64_t id, vp_error *e)
{
	vp_err rc;

	if ((rc = vp_sql_run(s, "retry the task", "UPDATE task_items SET status = 'Pending', "
	    "detail = '', finished_at = 0 WHERE task_id = ?1 AND status = 'Failed'",
	    VP_SQL_ARGS(VP_SQL_INT(id)), NULL, NULL, NULL, e)) != VP_OK)
		return rc;
	return vp_sql_run(s, "retry the task", "UPDATE tasks SET phase = 0 WHERE id = ?1",
	    VP_SQL_ARGS(VP_SQL_INT(id)), NULL, NULL, NULL, e);
}
