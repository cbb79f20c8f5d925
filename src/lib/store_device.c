/* The devices table of the SQLite store (migration 4): one row per camera, its password sealed
 * under the site data key (sitekey.c), and the state probes and tasks write back. */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>


#include "device_internal.h"
#include "store_internal.h"
#include "vmspki/buf.h"
#include "vmspki/task.h"

#define DEVICE_COLUMNS \
	"id, address, http_port, https_port, name, username, allow_basic, cn_mode, mac, model, " \
	"firmware, api, https_state, status, status_detail, pinned, https_only, cert_serial, " \
	"cert_alias, cert_not_after, added_at, updated_at"

static void
row_read(const vp_sql_row *st, vp_device *d)
{
	memset(d, 0, sizeof(*d));
	d->id = vp_sql_col_int64(st, 0);
	vp_sql_col_text(st, 1, d->address, sizeof(d->address));
	d->http_port = vp_sql_col_int(st, 2);
	d->https_port = vp_sql_col_int(st, 3);
	vp_sql_col_text(st, 4, d->name, sizeof(d->name));
	vp_sql_col_text(st, 5, d->username, sizeof(d->username));
	d->allow_basic = vp_sql_col_int(st, 6) != 0;
	vp_sql_col_text(st, 7, d->cn_mode, sizeof(d->cn_mode));
	vp_sql_col_text(st, 8, d->mac, sizeof(d->mac));
	vp_sql_col_text(st, 9, d->model, sizeof(d->model));
	vp_sql_col_text(st, 10, d->firmware, sizeof(d->firmware));
	vp_sql_col_text(st, 11, d->api, sizeof(d->api));
	vp_sql_col_text(st, 12, d->https_state, sizeof(d->https_state));
	vp_sql_col_text(st, 13, d->status, sizeof(d->status));
	vp_sql_col_text(st, 14, d->status_detail, sizeof(d->status_detail));
	d->pinned = vp_sql_col_int(st, 15) != 0;
	d->https_only = vp_sql_col_int(st, 16) != 0;
	vp_sql_col_text(st, 17, d->cert_serial, sizeof(d->cert_serial));
	vp_sql_col_text(st, 18, d->cert_alias, sizeof(d->cert_alias));
	d->cert_not_after = vp_sql_col_int64(st, 19);
	d->added_at = vp_sql_col_int64(st, 20);
	d->updated_at = vp_sql_col_int64(st, 21);
}

/* The state columns (?3..?15) that insert and update share, in order. */
#define DEVICE_STATE_ARGS(d) \
	VP_SQL_TEXT((d)->mac), VP_SQL_TEXT((d)->model), VP_SQL_TEXT((d)->firmware), \
	VP_SQL_TEXT((d)->api), VP_SQL_TEXT((d)->https_state), VP_SQL_TEXT((d)->status), \
	VP_SQL_TEXT((d)->status_detail), VP_SQL_INT((d)->pinned != 0), \
	VP_SQL_INT((d)->https_only != 0), VP_SQL_TEXT((d)->cert_serial), \
	VP_SQL_TEXT((d)->cert_alias), VP_SQL_INT((d)->cert_not_after), \
	VP_SQL_INT((d)->updated_at)

vp_err
vp_store_device_insert(vp_store *s, vp_device *d, const unsigned char *secret,
    size_t secret_len, vp_error *e)
{
	vp_err rc;

	if (secret_len > INT32_MAX)
		return vp_error_set(e, VP_ERR_INVALID, "the sealed password is too long");
	d->added_at = d->updated_at = (int64_t)time(NULL);
	/* ?1 is bound and unused: the store gives the id. */
	rc = vp_sql_run(s, "add a device", "INSERT INTO devices (added_at, mac, model, "
	    "firmware, api, https_state, status, status_detail, pinned, https_only, cert_serial, "
	    "cert_alias, cert_not_after, updated_at, address, http_port, https_port, name, "
	    "username, secret, allow_basic, cn_mode) VALUES (?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, "
	    "?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23)",
	    VP_SQL_ARGS(VP_SQL_NULL, VP_SQL_INT(d->added_at), DEVICE_STATE_ARGS(d),
	    VP_SQL_TEXT(d->address), VP_SQL_INT(d->http_port), VP_SQL_INT(d->https_port),
	    VP_SQL_TEXT(d->name), VP_SQL_TEXT(d->username), VP_SQL_BLOB(secret, secret_len),
	    VP_SQL_INT(d->allow_basic != 0), VP_SQL_TEXT(d->cn_mode)), NULL, NULL, NULL, e);
	if (rc == VP_OK)
		d->id = vp_sql_last_id(s);
	else if (rc == VP_ERR_EXISTS)
		rc = vp_error_set(e, VP_ERR_EXISTS, "a device at %s with HTTP port %d is already "
		    "in the inventory", d->address, d->http_port);
	return rc;
}

struct one_row {
	vp_device *out;
	int found;
};

static vp_err
one_row(const vp_sql_row *row, void *arg, vp_error *e)
{
	struct one_row *a = arg;

	(void)e;
	row_read(row, a->out);
	a->found = 1;
	return VP_OK;
}

/* Runs a SELECT of DEVICE_COLUMNS with the condition where (parameters p[0..np)) that returns
 * at most one row; VP_ERR_NOTFOUND with the sentence notfound when none. */
static vp_err
select_one(vp_store *s, const char *where, const vp_sql_param *p, size_t np, vp_device *out,
    const char *what, const char *notfound, vp_error *e)
{
	char sql[512];
	struct one_row a = { out, 0 };
	vp_err rc;

	snprintf(sql, sizeof(sql), "SELECT " DEVICE_COLUMNS " FROM devices WHERE %s", where);
	if ((rc = vp_sql_run(s, what, sql, p, np, one_row, &a, NULL, e)) != VP_OK)
		return rc;
	if (!a.found)
		return vp_error_set(e, VP_ERR_NOTFOUND, "%s", notfound);
	return VP_OK;
}

vp_err
vp_store_device_get(vp_store *s, int64_t id, vp_device *out, vp_error *e)
{
	char msg[160];

	snprintf(msg, sizeof(msg), "there is no device %" PRId64 " (`vmspki device list` shows "
	    "the devices)", id);
	return select_one(s, "id = ?1", VP_SQL_ARGS(VP_SQL_INT(id)), out, "look up a device",
	    msg, e);
}

vp_err
vp_store_device_find(vp_store *s, const char *address, int http_port, vp_device *out,
    vp_error *e)
{
	/* Port 0 is left unbound (NULL), as it always was: it finds nothing. */
	return select_one(s, "address = ?1 AND http_port = ?2",
	    (const vp_sql_param[]){ VP_SQL_TEXT(address != NULL ? address : ""),
	    VP_SQL_INT(http_port) }, http_port != 0 ? 2 : 1, out, "look up a device",
	    "no device at that address", e);
}

vp_err
vp_store_device_find_mac(vp_store *s, const char *mac, vp_device *out, vp_error *e)
{
	return select_one(s, "mac = ?1 AND mac != '' ORDER BY id LIMIT 1",
	    VP_SQL_ARGS(VP_SQL_TEXT(mac != NULL ? mac : "")), out, "look up a device",
	    "no device with that MAC address", e);
}

struct secret_row {
	vp_device *row;
	unsigned char **secret;
	size_t *len;
	int found;
};

static vp_err
secret_row(const vp_sql_row *st, void *arg, vp_error *e)
{
	struct secret_row *a = arg;
	const void *b;

	a->found = 1;
	row_read(st, a->row);
	b = vp_sql_col_blob(st, 22, a->len);
	if ((*a->secret = malloc(*a->len + 1)) == NULL) {
		*a->len = 0;
		return vp_error_set(e, VP_ERR_NOMEM, "out of memory");
	}
	if (*a->len > 0)
		memcpy(*a->secret, b, *a->len);
	return VP_OK;
}

vp_err
vp_store_device_secret(vp_store *s, int64_t id, vp_device *row, unsigned char **secret,
    size_t *len, vp_error *e)
{
	struct secret_row a = { row, secret, len, 0 };
	vp_err rc;

	*secret = NULL;
	*len = 0;
	if ((rc = vp_sql_run(s, "read a device's password", "SELECT " DEVICE_COLUMNS ", secret "
	    "FROM devices WHERE id = ?1", VP_SQL_ARGS(VP_SQL_INT(id)), secret_row, &a, NULL,
	    e)) != VP_OK)
		return rc;
	if (!a.found)
		return vp_error_set(e, VP_ERR_NOTFOUND, "there is no device %" PRId64, id);
	return VP_OK;
}

struct device_walk {
	vp_device_cb cb;
	void *arg;
};

static vp_err
device_walk_row(const vp_sql_row *row, void *arg, vp_error *e)
{
	struct device_walk *w = arg;
	vp_device d;

	(void)e;
	row_read(row, &d);
	return (vp_err)w->cb(&d, w->arg);
}

vp_err
vp_store_device_list(vp_store *s, vp_device_cb cb, void *arg, vp_error *e)
{
	struct device_walk w = { cb, arg };

	return vp_sql_run(s, "list the devices", "SELECT " DEVICE_COLUMNS " FROM devices ORDER BY "
	    "id", VP_SQL_NOARGS, device_walk_row, &w, NULL, e);
}

vp_err
vp_store_device_update_state(vp_store *s, const vp_device *d, vp_error *e)
{
	vp_device t = *d;
	int64_t changes = 0;
	vp_err rc;

	t.updated_at = (int64_t)time(NULL);
	if ((rc = vp_sql_run(s, "update a device", "UPDATE devices SET mac = ?3, model = ?4, "
	    "firmware = ?5, api = ?6, https_state = ?7, status = ?8, status_detail = ?9, "
	    "pinned = ?10, https_only = ?11, cert_serial = ?12, cert_alias = ?13, "
	    "cert_not_after = ?14, updated_at = ?15 WHERE id = ?1",
	    VP_SQL_ARGS(VP_SQL_INT(d->id), VP_SQL_NULL, DEVICE_STATE_ARGS(&t)), NULL, NULL,
	    &changes, e)) != VP_OK)
		return rc;
	if (changes == 0)
		return vp_error_set(e, VP_ERR_NOTFOUND, "there is no device %" PRId64 " (it was "
		    "removed?)", d->id);
	return VP_OK;
}

vp_err
vp_store_device_delete(vp_store *s, int64_t id, vp_error *e)
{
	int64_t changes = 0;
	vp_err rc;

	if ((rc = vp_sql_run(s, "remove a device", "DELETE FROM devices WHERE id = ?1",
	    VP_SQL_ARGS(VP_SQL_INT(id)), NULL, NULL, &changes, e)) != VP_OK)
		return rc;
	if (changes == 0)
		return vp_error_set(e, VP_ERR_NOTFOUND, "there is no device %" PRId64 " (`vmspki "
		    "device list` shows the devices)", id);
	return VP_OK;
}

static vp_err
first_id_row(const vp_sql_row *row, void *arg, vp_error *e)
{
	(void)e;
	*(int64_t *)arg = vp_sql_col_int64(row, 0);
	return VP_OK;
}

vp_err
vp_store_device_task(vp_store *s, int64_t id, int64_t *task, vp_error *e)
{
	*task = 0;
	return vp_sql_run(s, "look for the device's tasks", "SELECT t.id FROM tasks t JOIN "
	    "task_devices r ON r.task_id = t.id WHERE r.device_id = ?1 AND t.state IN ('Queued', "
	    "'Running') AND t.kind <> 'device-check' ORDER BY t.id LIMIT 1",
	    VP_SQL_ARGS(VP_SQL_INT(id)), first_id_row, task, NULL, e);
}

vp_err
vp_store_device_exists(vp_store *s, int64_t id, int *yes, vp_error *e)
{
	int64_t one = 0;
	vp_err rc;

	*yes = 0;
	if ((rc = vp_sql_run(s, "look up a device", "SELECT 1 FROM devices WHERE id = ?1",
	    VP_SQL_ARGS(VP_SQL_INT(id)), first_id_row, &one, NULL, e)) == VP_OK)
		*yes = one == 1;
	return rc;
}

/* Adds the first column to the vp_ids at arg. */
static vp_err
id_row(const vp_sql_row *row, void *arg, vp_error *e)
{
	return vp_ids_add(arg, vp_sql_col_int64(row, 0), e);
}

/* Runs sql (no parameters) and hands its ids over in *ids and *n, or nothing on failure. */
static vp_err
select_ids(vp_store *s, const char *what, const char *sql, int64_t **ids, size_t *n,
    vp_error *e)
{
	vp_ids l = VP_IDS_INIT;
	vp_err rc;

	*ids = NULL;
	*n = 0;
	if ((rc = vp_sql_run(s, what, sql, VP_SQL_NOARGS, id_row, &l, NULL, e)) != VP_OK) {
		vp_ids_free(&l);
		return rc;
	}
	*ids = l.v;
	*n = l.n;
	return VP_OK;
}

vp_err
vp_store_device_ids(vp_store *s, int ours, int64_t **ids, size_t *n, vp_error *e)
{
	if (ours)
		return select_ids(s, "list the devices", "SELECT id FROM devices WHERE cert_serial "
		    "<> '' ORDER BY id", ids, n, e);
	return select_ids(s, "list the devices", "SELECT id FROM devices ORDER BY id", ids, n, e);
}

vp_err
vp_store_device_to_check(vp_store *s, int64_t **ids, size_t *n, vp_error *e)
{
	return select_ids(s, "look for devices to check", "SELECT d.id FROM devices d WHERE "
	    "d.api <> '" VP_DEV_API_UNSUPPORTED "' AND NOT EXISTS (SELECT 1 FROM task_devices r "
	    "JOIN tasks t ON t.id = r.task_id WHERE r.device_id = d.id AND t.state IN ('Queued', "
	    "'Running') AND r.status IN ('Pending', 'Running')) ORDER BY d.id", ids, n, e);
}

struct renew_walk {
	vp_store_device_due_cb cb;
	void *arg;
};

static vp_err
renew_row(const vp_sql_row *row, void *arg, vp_error *e)
{
	struct renew_walk *w = arg;

	(void)e;
	return (vp_err)w->cb(vp_sql_col_int64(row, 0), vp_sql_col_int(row, 1) != 0,
	    w->arg);
}

vp_err
vp_store_device_to_renew(vp_store *s, int64_t before, vp_store_device_due_cb cb, void *arg,
    vp_error *e)
{
	struct renew_walk w = { cb, arg };

	return vp_sql_run(s, "look for devices to renew", "SELECT d.id, EXISTS (SELECT 1 FROM "
	    "task_devices r JOIN tasks t ON t.id = r.task_id WHERE r.device_id = d.id AND "
	    "t.state IN ('Queued', 'Running') AND r.status IN ('Pending', 'Running') AND "
	    "t.kind <> '" VP_TASK_DEVICE_CHECK "') FROM devices d WHERE d.pinned = 1 AND "
	    "d.cert_serial <> '' AND d.cert_not_after <= ?1 ORDER BY d.id",
	    VP_SQL_ARGS(VP_SQL_INT(before)), renew_row, &w, NULL, e);
}

/* ---- which server works on a device (issue 22) ---- */

struct server_walk {
	vp_store_device_server_cb cb;
	void *arg;
};

static vp_err
server_row(const vp_sql_row *row, void *arg, vp_error *e)
{
	struct server_walk *w = arg;
	const char *server = vp_sql_col_str(row, 1);

	(void)e;
	return (vp_err)w->cb(vp_sql_col_int64(row, 0), server != NULL ? server : "", w->arg);
}

vp_err
vp_store_device_servers(vp_store *s, vp_store_device_server_cb cb, void *arg, vp_error *e)
{
	struct server_walk w = { cb, arg };

	/* tasks_state narrows to the running tasks; their devices by the primary key. */
	return vp_sql_run(s, "look for the servers at work", "SELECT r.device_id, t.claimed_by "
	    "FROM tasks t JOIN task_devices r ON r.task_id = t.id WHERE t.state = 'Running' AND "
	    "t.claimed_by <> '' AND r.status = 'Running' ORDER BY r.device_id",
	    VP_SQL_NOARGS, server_row, &w, NULL, e);
}

/* ---- a page at a time, and the summary (the web UI's devices table and overview) ---- */

/* The status a device shows at time NOW with the warning window WARN (seconds): what
 * vp_device_status_at (device.c) makes of the stored one, in SQL, so that the status filter,
 * the status order and the counts see what the table shows. Keep the two together. */
#define SHOWN_STATUS(NOW, WARN) \
	"(CASE WHEN cert_serial <> '' AND cert_not_after > 0 AND status IN ('" VP_STATUS_OK "', '" \
	VP_STATUS_EXPIRING "', '" VP_STATUS_EXPIRED "') THEN CASE WHEN " NOW " >= cert_not_after " \
	"THEN '" VP_STATUS_EXPIRED "' WHEN cert_not_after - " NOW " <= " WARN " THEN '" \
	VP_STATUS_EXPIRING "' ELSE '" VP_STATUS_OK "' END ELSE status END)"

/* The ORDER BY of each vp_device_sort; every column but the firmware and the status has an
 * index (migration 9), which holds the id after the column, so a page is read off the index;
 * the status is the one shown (SHOWN_STATUS), a sort of the rows that match. */
static const char *const page_order[VP_DEVSORT_COUNT][2] = {
	[VP_DEVSORT_ID] = { "id", "id DESC" },
	[VP_DEVSORT_ADDRESS] = { "address, http_port, id", "address DESC, http_port DESC, id DESC" },
	[VP_DEVSORT_NAME] = { "name, id", "name DESC, id DESC" },
	[VP_DEVSORT_MAC] = { "mac, id", "mac DESC, id DESC" },
	[VP_DEVSORT_MODEL] = { "model, id", "model DESC, id DESC" },
	[VP_DEVSORT_FIRMWARE] = { "firmware, id", "firmware DESC, id DESC" },
	[VP_DEVSORT_STATUS] = { SHOWN_STATUS("?4", "?5") ", id",
	    SHOWN_STATUS("?4", "?5") " DESC, id DESC" },
	[VP_DEVSORT_HTTPS] = { "https_state, id", "https_state DESC, id DESC" },
	[VP_DEVSORT_EXPIRY] = { "cert_not_after, id", "cert_not_after DESC, id DESC" },
};

/* One WHERE for every filter (?1 the LIKE pattern, ?2 the status, ?3 the HTTPS state; NULL
 * is "any"), so that the statements a handle keeps are one per order, not per filter. */
#define PAGE_WHERE \
	"(?1 IS NULL OR address LIKE ?1 ESCAPE '\\' OR name LIKE ?1 ESCAPE '\\' OR " \
	"mac LIKE ?1 ESCAPE '\\' OR model LIKE ?1 ESCAPE '\\' OR firmware LIKE ?1 ESCAPE '\\') " \
	"AND (?2 IS NULL OR " SHOWN_STATUS("?4", "?5") " = ?2) AND (?3 IS NULL OR https_state = ?3)"

static vp_err
count_row(const vp_sql_row *row, void *arg, vp_error *e)
{
	(void)e;
	*(int64_t *)arg = vp_sql_col_int64(row, 0);
	return VP_OK;
}

vp_err
vp_store_device_page(vp_store *s, const vp_device_query *q, vp_device_cb cb, void *arg,
    int64_t *total, vp_error *e)
{
	struct device_walk w = { cb, arg };
	char pat[2 * 256 + 3], sql[4096];
	const char *like = NULL;
	vp_err rc;

	*total = 0;
	if ((unsigned)q->sort >= VP_DEVSORT_COUNT || q->limit < 0 || q->offset < 0)
		return vp_error_set(e, VP_ERR_INVALID, "a page of devices needs a known order and "
		    "a limit and offset from 0");
	if (q->text != NULL && q->text[0] != '\0') {
		size_t k = 0;

		if (strlen(q->text) > 256)
			return vp_error_set(e, VP_ERR_INVALID, "the text to look for is longer than "
			    "256 bytes");
		/* "%text%" with LIKE's own characters taken as they are */
		pat[k++] = '%';
		for (const char *c = q->text; *c != '\0'; c++) {
			if (*c == '%' || *c == '_' || *c == '\\')
				pat[k++] = '\\';
			pat[k++] = *c;
		}
		pat[k++] = '%';
		pat[k] = '\0';
		like = pat;
	}
	if ((rc = vp_sql_run(s, "count the devices", "SELECT count(*) FROM devices WHERE "
	    PAGE_WHERE, VP_SQL_ARGS(VP_SQL_TEXT(like), VP_SQL_TEXT(q->status),
	    VP_SQL_TEXT(q->https_state), VP_SQL_INT(q->now), VP_SQL_INT(q->warn_s)), count_row,
	    total, NULL, e)) != VP_OK)
		return rc;
	if ((size_t)snprintf(sql, sizeof(sql), "SELECT " DEVICE_COLUMNS " FROM devices WHERE "
	    PAGE_WHERE " ORDER BY %s LIMIT ?6 OFFSET ?7", page_order[q->sort][q->desc ? 1 : 0]) >=
	    sizeof(sql))
		return vp_error_set(e, VP_ERR_INTERNAL, "the statement for a page of devices is too "
		    "long");
	return vp_sql_run(s, "list the devices", sql, VP_SQL_ARGS(VP_SQL_TEXT(like),
	    VP_SQL_TEXT(q->status), VP_SQL_TEXT(q->https_state), VP_SQL_INT(q->now),
	    VP_SQL_INT(q->warn_s), VP_SQL_INT(q->limit > 0 ? q->limit : INT64_MAX),
	    VP_SQL_INT(q->offset)), device_walk_row, &w, NULL, e);
}

struct count_walk {
	vp_store_device_count_cb cb;
	void *arg;
};

static vp_err
counts_row(const vp_sql_row *row, void *arg, vp_error *e)
{
	struct count_walk *w = arg;
	char status[64], https[64];

	(void)e;
	vp_sql_col_text(row, 0, status, sizeof(status));
	vp_sql_col_text(row, 1, https, sizeof(https));
	return (vp_err)w->cb(status, https, vp_sql_col_int64(row, 2), w->arg);
}

vp_err
vp_store_device_counts(vp_store *s, int64_t now, int64_t warn_s, vp_store_device_count_cb cb,
    void *arg, vp_error *e)
{
	struct count_walk w = { cb, arg };

	return vp_sql_run(s, "count the devices", "SELECT " SHOWN_STATUS("?1", "?2") " AS st, "
	    "https_state, count(*) FROM devices GROUP BY st, https_state",
	    VP_SQL_ARGS(VP_SQL_INT(now), VP_SQL_INT(warn_s)), counts_row, &w, NULL, e);
}

struct week_walk {
	int64_t *week, *expired, *later;
	int weeks;
};

static vp_err
week_row(const vp_sql_row *row, void *arg, vp_error *e)
{
	struct week_walk *w = arg;
	int64_t i = vp_sql_col_int64(row, 0), n = vp_sql_col_int64(row, 1);

	(void)e;
	if (i < 0)
		*w->expired += n;
	else if (i < w->weeks)
		w->week[i] += n;
	else
		*w->later += n;
	return VP_OK;
}

vp_err
vp_store_device_expiry_weeks(vp_store *s, int64_t now, int weeks, int64_t *week,
    int64_t *expired, int64_t *later, vp_error *e)
{
	struct week_walk w = { week, expired, later, weeks };

	*expired = *later = 0;
	for (int i = 0; i < weeks; i++)
		week[i] = 0;
	/* -1 for what has ended; weeks counted from now, a week's last second in it */
	return vp_sql_run(s, "count the certificates by week", "SELECT CASE WHEN cert_not_after "
	    "<= ?1 THEN -1 ELSE (cert_not_after - ?1 - 1) / 604800 END AS w, count(*) FROM "
	    "devices WHERE cert_serial <> '' GROUP BY w", VP_SQL_ARGS(VP_SQL_INT(now)), week_row,
	    &w, NULL, e);
}
