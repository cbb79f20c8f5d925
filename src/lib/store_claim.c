/* Task claims, leases and what the task engine writes back, in the SQLite store: which engine
 * holds a task until when, the devices it takes, their progress and the task's end. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>


#include "store_internal.h"
#include "vmspki/task.h"

vp_err
vp_store_claim_wanted(vp_store *s, const char *owner, int64_t now, int64_t only_task,
    int *any, vp_error *e)
{
	int64_t one = 0;
	vp_err rc;

	*any = 0;
	rc = vp_sql_int(s, "look for tasks to run", "SELECT 1 FROM tasks WHERE state IN "
	    "('Queued', 'Running') AND claimed_by <> ?1 AND (claimed_by = '' OR "
	    "lease_until < ?2) AND (?3 = 0 OR id = ?3) LIMIT 1",
	    VP_SQL_ARGS(VP_SQL_TEXT(owner), VP_SQL_INT(now), VP_SQL_INT(only_task)), &one, e);
	if (rc == VP_ERR_NOTFOUND) {
		vp_error_clear(e);
		return VP_OK;
	}
	if (rc == VP_OK)
		*any = 1;
	return rc;
}

struct walk_arg {
	vp_store_claim_cb cb;
	void *arg;
};

static vp_err
walk_row(const vp_sql_row *row, void *arg, vp_error *e)
{
	struct walk_arg *a = arg;
	const char *owner = vp_sql_col_str(row, 1);

	return a->cb(vp_sql_col_int64(row, 0), owner != NULL ? owner : "",
	    vp_sql_col_int64(row, 2), a->arg, e);
}

vp_err
vp_store_claim_walk(vp_store *s, vp_store_claim_cb cb, void *arg, vp_error *e)
{
	struct walk_arg a = { cb, arg };

	return vp_sql_run(s, "look for tasks to run", "SELECT id, claimed_by, lease_until FROM "
	    "tasks WHERE state IN ('Queued', 'Running') ORDER BY id", VP_SQL_NOARGS, walk_row,
	    &a, NULL, e);
}

/* The unused ?2 = ?2 keeps the statement text the engine has always run. */
vp_err
vp_store_claim_resume(vp_store *s, int64_t task_id, vp_error *e)
{
	return vp_sql_run(s, "resume the task's devices", "UPDATE task_devices SET status = "
	    "'Pending' WHERE task_id = ?1 AND status = 'Running' AND ?2 = ?2",
	    VP_SQL_ARGS(VP_SQL_INT(task_id), VP_SQL_INT(0)), NULL, NULL, NULL, e);
}

vp_err
vp_store_lease_take(vp_store *s, int64_t task_id, const char *owner, int64_t until,
    vp_error *e)
{
	return vp_sql_run(s, "claim a task", "UPDATE tasks SET claimed_by = ?3, lease_until = ?2, "
	    "state = 'Running', started_at = CASE started_at WHEN 0 THEN ?4 ELSE started_at END "
	    "WHERE id = ?1", VP_SQL_ARGS(VP_SQL_INT(task_id), VP_SQL_INT(until),
	    VP_SQL_TEXT(owner), VP_SQL_INT(time(NULL))), NULL, NULL,
	    NULL, e);
}

struct owner_arg {
	char *owner;
	size_t n;
};

static vp_err
owner_row(const vp_sql_row *row, void *arg, vp_error *e)
{
	struct owner_arg *a = arg;

	(void)e;
	vp_sql_col_text(row, 0, a->owner, a->n);
	return VP_OK;
}

vp_err
vp_store_lease_owner(vp_store *s, int64_t task_id, char *owner, size_t n, vp_error *e)
{
	struct owner_arg a = { owner, n };

	if (n > 0)
		owner[0] = '\0';
	return vp_sql_run(s, "read the task's claim", "SELECT claimed_by FROM tasks WHERE id = ?1",
	    VP_SQL_ARGS(VP_SQL_INT(task_id)), owner_row, &a, NULL, e);
}

vp_err
vp_store_lease_release(vp_store *s, int64_t task_id, const char *owner, vp_error *e)
{
	vp_err rc;

	if ((rc = vp_sql_run(s, "release the task", "UPDATE task_devices SET status = 'Pending' "
	    "WHERE task_id = ?1 AND status = 'Running' AND ?2 = ?2",
	    VP_SQL_ARGS(VP_SQL_INT(task_id), VP_SQL_INT(0)), NULL, NULL, NULL, e)) != VP_OK)
		return rc;
	return vp_sql_run(s, "release the task", "UPDATE tasks SET claimed_by = '', "
	    "lease_until = 0 WHERE id = ?1 AND claimed_by = ?3 AND ?2 = ?2",
	    VP_SQL_ARGS(VP_SQL_INT(task_id), VP_SQL_INT(0), VP_SQL_TEXT(owner)), NULL, NULL,
	    NULL, e);
}

struct pending_arg {
	vp_store_pending_cb cb;
	void *arg;
};

static vp_err
pending_row(const vp_sql_row *row, void *arg, vp_error *e)
{
	struct pending_arg *a = arg;
	const char *alias = vp_sql_col_str(row, 1);
	const char *serial = vp_sql_col_str(row, 2);

	return a->cb(vp_sql_col_int64(row, 0), alias != NULL ? alias : "",
	    serial != NULL ? serial : "", vp_sql_col_int(row, 3), a->arg, e);
}

vp_err
vp_store_claim_pending(vp_store *s, int64_t task_id, int64_t after, int limit,
    vp_store_pending_cb cb, void *arg, vp_error *e)
{
	struct pending_arg a = { cb, arg };

	/* The primary key (task_id, device_id) starts the walk at after: the devices already
	 * taken are not read again on every fill (they made a fill cost O(task size)). */
	return vp_sql_run(s, "read the task's devices", "SELECT device_id, key_alias, "
	    "cert_serial, attempts FROM task_devices WHERE task_id = ?1 AND device_id > ?3 AND "
	    "status = 'Pending' ORDER BY device_id LIMIT ?2",
	    VP_SQL_ARGS(VP_SQL_INT(task_id), VP_SQL_INT(limit), VP_SQL_INT(after)), pending_row,
	    &a, NULL, e);
}

vp_err
vp_store_claim_busy(vp_store *s, int64_t device_id, int64_t self, int64_t *task_id,
    vp_error *e)
{
	vp_err rc;

	rc = vp_sql_int(s, "look for the device's other tasks", "SELECT t.id FROM tasks t JOIN "
	    "task_devices r ON r.task_id = t.id WHERE r.device_id = ?1 AND t.id <> ?2 AND "
	    "t.state IN ('Queued', 'Running') AND r.status IN ('Pending', 'Running') AND "
	    "t.kind <> '" VP_TASK_DEVICE_CHECK "' LIMIT 1",
	    VP_SQL_ARGS(VP_SQL_INT(device_id), VP_SQL_INT(self)), task_id, e);
	if (rc == VP_ERR_NOTFOUND) {
		vp_error_clear(e);
		return VP_OK;
	}
	return rc;
}

vp_err
vp_store_result_write(vp_store *s, const vp_store_result *r, vp_error *e)
{
	return vp_sql_run(s, "record the task's progress", "UPDATE task_devices SET status = ?3, "
	    "step = ?4, error = ?5, retryable = ?6, attempts = ?7, key_alias = ?8, "
	    "cert_serial = ?9, started_at = CASE started_at WHEN 0 THEN ?10 ELSE started_at END, "
	    "finished_at = ?11, duration_ms = ?12 WHERE task_id = ?1 AND device_id = ?2",
	    VP_SQL_ARGS(VP_SQL_INT(r->task_id), VP_SQL_INT(r->device_id), VP_SQL_TEXT(r->status),
	    VP_SQL_TEXT(r->step), VP_SQL_TEXT(r->error), VP_SQL_INT(r->retryable),
	    VP_SQL_INT(r->attempts), VP_SQL_TEXT(r->key_alias), VP_SQL_TEXT(r->cert_serial),
	    VP_SQL_INT(r->started_at), VP_SQL_INT(r->finished_at), VP_SQL_INT(r->duration_ms)),
	    NULL, NULL, NULL, e);
}

vp_err
vp_store_claim_finish(vp_store *s, int64_t task_id, const char *state, int64_t now,
    vp_error *e)
{
	return vp_sql_run(s, "end the task", "UPDATE tasks SET state = ?3, finished_at = ?2, "
	    "claimed_by = '', lease_until = 0 WHERE id = ?1",
	    VP_SQL_ARGS(VP_SQL_INT(task_id), VP_SQL_INT(now), VP_SQL_TEXT(state)), NULL, NULL,
	    NULL, e);
}

vp_err
vp_store_claim_components_failed(vp_store *s, int64_t task_id, const char *detail,
    int64_t now, vp_error *e)
{
	return vp_sql_run(s, "record the components' outcome", "UPDATE task_items SET status = "
	    "'Failed', detail = ?3, finished_at = ?2 WHERE task_id = ?1 AND item LIKE "
	    "'component %'", VP_SQL_ARGS(VP_SQL_INT(task_id), VP_SQL_INT(now),
	    VP_SQL_TEXT(detail)), NULL, NULL, NULL, e);
}
