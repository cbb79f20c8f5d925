/* The alarms and alarm_outbox tables of the SQLite store (migration 6): one row per alarm while
 * it lasts and after, and one outbox row per raise or clear until the webhook and syslog had it. */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


#include "store_internal.h"
#include "vmspki/alarm.h"
#include "vmspki/util.h"

#define ALARM_COLS \
	"id, kind, subject, severity, message, state, raised_at, cleared_at, acked_at, acked_by"

/* ---- alarms ---- */

static void
alarm_read(const vp_sql_row *st, vp_alarm *a)
{
	int sev = vp_sql_col_int(st, 3);

	memset(a, 0, sizeof(*a));
	a->id = vp_sql_col_int64(st, 0);
	vp_sql_col_text(st, 1, a->kind, sizeof(a->kind));
	vp_sql_col_text(st, 2, a->subject, sizeof(a->subject));
	a->severity = sev == VP_SEV_CRITICAL ? VP_SEV_CRITICAL : VP_SEV_WARNING;
	vp_sql_col_text(st, 4, a->message, sizeof(a->message));
	vp_sql_col_text(st, 5, a->state, sizeof(a->state));
	a->raised_at = vp_sql_col_int64(st, 6);
	a->cleared_at = vp_sql_col_int64(st, 7);
	a->acked_at = vp_sql_col_int64(st, 8);
	vp_sql_col_text(st, 9, a->acked_by, sizeof(a->acked_by));
}

/* A lookup of one alarm: the first row, if any. */
struct alarm_one {
	vp_alarm *out;
	int found;
};

static vp_err
alarm_one_row(const vp_sql_row *row, void *arg, vp_error *e)
{
	struct alarm_one *o = arg;

	(void)e;
	if (!o->found) {
		alarm_read(row, o->out);
		o->found = 1;
	}
	return VP_OK;
}

vp_err
vp_store_alarm_get(vp_store *s, int64_t id, vp_alarm *out, vp_error *e)
{
	struct alarm_one o = { out, 0 };
	vp_err rc;

	if ((rc = vp_sql_run(s, "look up an alarm", "SELECT " ALARM_COLS " FROM alarms WHERE "
	    "id = ?1", VP_SQL_ARGS(VP_SQL_INT(id)), alarm_one_row, &o, NULL, e)) != VP_OK)
		return rc;
	if (!o.found)
		return vp_error_set(e, VP_ERR_NOTFOUND, "no alarm %" PRId64, id);
	return VP_OK;
}

vp_err
vp_store_alarm_find_raised(vp_store *s, const char *kind, const char *subject, vp_alarm *out,
    int *found, vp_error *e)
{
	struct alarm_one o = { out, 0 };
	vp_err rc;

	*found = 0;
	if ((rc = vp_sql_run(s, "look up an alarm", "SELECT " ALARM_COLS " FROM alarms WHERE "
	    "kind = ?1 AND subject = ?2 AND state = 'raised'", VP_SQL_ARGS(VP_SQL_TEXT(kind),
	    VP_SQL_TEXT(subject)), alarm_one_row, &o, NULL, e)) != VP_OK)
		return rc;
	*found = o.found;
	return VP_OK;
}

struct alarm_walk {
	vp_store_alarm_cb cb;
	void *arg;
};

static vp_err
alarm_list_row(const vp_sql_row *row, void *arg, vp_error *e)
{
	struct alarm_walk *w = arg;
	vp_alarm a;

	(void)e;
	alarm_read(row, &a);
	return (vp_err)w->cb(&a, w->arg);
}

vp_err
vp_store_alarm_list(vp_store *s, int active_only, vp_store_alarm_cb cb, void *arg, vp_error *e)
{
	struct alarm_walk w = { cb, arg };

	return vp_sql_run(s, "list the alarms", "SELECT " ALARM_COLS " FROM alarms WHERE ?1 = 0 "
	    "OR state = 'raised' ORDER BY id DESC", VP_SQL_ARGS(VP_SQL_INT(active_only != 0)),
	    alarm_list_row, &w, NULL, e);
}

vp_err
vp_store_alarm_insert(vp_store *s, vp_alarm *a, vp_error *e)
{
	vp_err rc;

	if ((rc = vp_sql_run(s, "raise an alarm", "INSERT INTO alarms (kind, subject, severity, "
	    "message, state, raised_at) VALUES (?1, ?2, ?3, ?4, 'raised', ?5)",
	    VP_SQL_ARGS(VP_SQL_TEXT(a->kind), VP_SQL_TEXT(a->subject), VP_SQL_INT(a->severity),
	    VP_SQL_TEXT(a->message), VP_SQL_INT(a->raised_at)), NULL, NULL, NULL, e)) != VP_OK)
		return rc;
	a->id = vp_sql_last_id(s);
	return VP_OK;
}

vp_err
vp_store_alarm_reword(vp_store *s, const vp_alarm *a, vp_error *e)
{
	return vp_sql_run(s, "update an alarm", "UPDATE alarms SET message = ?1, severity = ?2 "
	    "WHERE id = ?3", VP_SQL_ARGS(VP_SQL_TEXT(a->message), VP_SQL_INT(a->severity),
	    VP_SQL_INT(a->id)), NULL, NULL, NULL, e);
}

vp_err
vp_store_alarm_set_cleared(vp_store *s, int64_t id, int64_t at, vp_error *e)
{
	return vp_sql_run(s, "clear an alarm", "UPDATE alarms SET state = 'cleared', "
	    "cleared_at = ?1 WHERE id = ?2", VP_SQL_ARGS(VP_SQL_INT(at), VP_SQL_INT(id)), NULL,
	    NULL, NULL, e);
}

vp_err
vp_store_alarm_set_acked(vp_store *s, int64_t id, int64_t at, const char *by, vp_error *e)
{
	return vp_sql_run(s, "acknowledge the alarm", "UPDATE alarms SET acked_at = ?1, "
	    "acked_by = ?2 WHERE id = ?3", VP_SQL_ARGS(VP_SQL_INT(at), VP_SQL_TEXT(by),
	    VP_SQL_INT(id)), NULL, NULL, NULL, e);
}

/* ---- the outbox ---- */

/* webhook_done values: 0 to send, 1 sent (the receiver answered 2xx), 2 not sent because no
 * webhook was configured when its turn came. syslog_done: 0 to log, 1 logged, 2 syslog off. */

vp_err
vp_store_alarm_outbox_add(vp_store *s, int64_t alarm_id, const char *event, const char *payload,
    int64_t created_at, vp_error *e)
{
	return vp_sql_run(s, "queue the alarm's delivery", "INSERT INTO alarm_outbox (alarm_id, "
	    "event, payload, created_at) VALUES (?1, ?2, ?3, ?4)", VP_SQL_ARGS(VP_SQL_INT(alarm_id),
	    VP_SQL_TEXT(event), VP_SQL_TEXT(payload), VP_SQL_INT(created_at)), NULL, NULL, NULL,
	    e);
}

static vp_err
any_row(const vp_sql_row *row, void *arg, vp_error *e)
{
	(void)row;
	(void)e;
	*(int *)arg = 1;
	return VP_OK;
}

vp_err
vp_store_alarm_outbox_syslog_pending(vp_store *s, int *any, vp_error *e)
{
	*any = 0;
	return vp_sql_run(s, "read the alarm outbox", "SELECT 1 FROM alarm_outbox WHERE "
	    "syslog_done = 0 LIMIT 1", VP_SQL_NOARGS, any_row, any, NULL, e);
}

struct event_walk {
	vp_store_alarm_event_cb cb;
	void *arg;
};

static vp_err
event_row(const vp_sql_row *row, void *arg, vp_error *e)
{
	struct event_walk *w = arg;
	vp_store_alarm_event ev;
	const char *pl = vp_sql_col_str(row, 2);

	(void)e;
	memset(&ev, 0, sizeof(ev));
	ev.id = vp_sql_col_int64(row, 0);
	vp_sql_col_text(row, 1, ev.event, sizeof(ev.event));
	ev.payload = (char *)(pl != NULL ? (const char *)pl : "{}");
	return (vp_err)w->cb(&ev, w->arg);
}

vp_err
vp_store_alarm_outbox_syslog_list(vp_store *s, int limit, vp_store_alarm_event_cb cb, void *arg,
    vp_error *e)
{
	struct event_walk w = { cb, arg };

	return vp_sql_run(s, "read the alarms to log", "SELECT id, event, payload FROM "
	    "alarm_outbox WHERE syslog_done = 0 ORDER BY id LIMIT ?1", VP_SQL_ARGS(VP_SQL_INT(limit)),
	    event_row, &w, NULL, e);
}

vp_err
vp_store_alarm_outbox_syslog_done(vp_store *s, int64_t id, vp_error *e)
{
	return vp_sql_run(s, "mark an alarm as logged", "UPDATE alarm_outbox SET syslog_done = 1 "
	    "WHERE id = ?1", VP_SQL_ARGS(VP_SQL_INT(id)), NULL, NULL, NULL, e);
}

vp_err
vp_store_alarm_outbox_syslog_skip(vp_store *s, vp_error *e)
{
	return vp_sql_run(s, "mark the alarms syslog need not get", "UPDATE alarm_outbox SET "
	    "syslog_done = 2 WHERE syslog_done = 0", VP_SQL_NOARGS, NULL, NULL, NULL, e);
}

vp_err
vp_store_alarm_outbox_webhook_due(vp_store *s, int64_t now, int *any, vp_error *e)
{
	*any = 0;
	return vp_sql_run(s, "read the alarm outbox", "SELECT 1 FROM alarm_outbox WHERE "
	    "webhook_done = 0 AND next_at <= ?1 LIMIT 1", VP_SQL_ARGS(VP_SQL_INT(now)), any_row,
	    any, NULL, e);
}

struct event_one {
	vp_store_alarm_event *out;
	int found;
};

static vp_err
next_row(const vp_sql_row *row, void *arg, vp_error *e)
{
	struct event_one *o = arg;
	const char *pl = vp_sql_col_str(row, 3);

	if (o->found)
		return VP_OK;
	o->out->id = vp_sql_col_int64(row, 0);
	o->out->attempts = vp_sql_col_int(row, 1);
	vp_sql_col_text(row, 2, o->out->event, sizeof(o->out->event));
	if ((o->out->payload = vp_strdup(pl != NULL ? (const char *)pl : "{}")) == NULL)
		return vp_error_set(e, VP_ERR_NOMEM, "out of memory");
	o->found = 1;
	return VP_OK;
}

vp_err
vp_store_alarm_outbox_next(vp_store *s, int64_t now, vp_store_alarm_event *out, int *found,
    vp_error *e)
{
	struct event_one o = { out, 0 };
	vp_err rc;

	*found = 0;
	memset(out, 0, sizeof(*out));
	if ((rc = vp_sql_run(s, "read the alarms to deliver", "SELECT o.id, o.attempts, o.event, "
	    "o.payload FROM alarm_outbox o WHERE o.webhook_done = 0 AND o.next_at <= ?1 AND NOT "
	    "EXISTS (SELECT 1 FROM alarm_outbox p WHERE p.alarm_id = o.alarm_id AND "
	    "p.webhook_done = 0 AND p.id < o.id) ORDER BY o.id LIMIT 1",
	    VP_SQL_ARGS(VP_SQL_INT(now)), next_row, &o, NULL, e)) != VP_OK) {
		free(out->payload);
		memset(out, 0, sizeof(*out));
		return rc;
	}
	*found = o.found;
	return VP_OK;
}

vp_err
vp_store_alarm_outbox_lease(vp_store *s, int64_t id, int64_t next_at, vp_error *e)
{
	return vp_sql_run(s, "claim an alarm to deliver", "UPDATE alarm_outbox SET next_at = ?2 "
	    "WHERE id = ?1", VP_SQL_ARGS(VP_SQL_INT(id), VP_SQL_INT(next_at)), NULL, NULL, NULL,
	    e);
}

vp_err
vp_store_alarm_outbox_sent(vp_store *s, int64_t id, vp_error *e)
{
	return vp_sql_run(s, "mark an alarm as delivered", "UPDATE alarm_outbox SET webhook_done "
	    "= 1, attempts = attempts + 1, last_error = '' WHERE id = ?1",
	    VP_SQL_ARGS(VP_SQL_INT(id)), NULL, NULL, NULL, e);
}

vp_err
vp_store_alarm_outbox_failed(vp_store *s, int64_t id, int64_t next_at, const char *why,
    vp_error *e)
{
	return vp_sql_run(s, "record a failed alarm delivery", "UPDATE alarm_outbox SET attempts "
	    "= attempts + 1, next_at = ?2, last_error = ?3 WHERE id = ?1",
	    VP_SQL_ARGS(VP_SQL_INT(id), VP_SQL_INT(next_at), VP_SQL_TEXT(why != NULL ? why : "")),
	    NULL, NULL, NULL, e);
}

vp_err
vp_store_alarm_outbox_webhook_skip(vp_store *s, const char *why, vp_error *e)
{
	/* The statement's one parameter is ?3 (its text is as it always was): ?1 and ?2 are
	 * bound and unused. */
	return vp_sql_run(s, "mark the alarms no webhook gets", "UPDATE alarm_outbox SET "
	    "webhook_done = 2, last_error = ?3 WHERE webhook_done = 0", VP_SQL_ARGS(VP_SQL_INT(0),
	    VP_SQL_INT(0), VP_SQL_TEXT(why != NULL ? why : "")), NULL, NULL, NULL, e);
}

vp_err
vp_store_alarm_outbox_purge(vp_store *s, int64_t before, vp_error *e)
{
	return vp_sql_run(s, "remove delivered alarms from the outbox", "DELETE FROM alarm_outbox "
	    "WHERE webhook_done != 0 AND syslog_done != 0 AND created_at < ?1",
	    VP_SQL_ARGS(VP_SQL_INT(before)), NULL, NULL, NULL, e);
}
