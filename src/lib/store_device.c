/* The devices table of the SQLite store (migration 4): one row per camera, its password sealed
 * under the site data key (sitekey.c), and the state probes and tasks write back. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#include "device_internal.h"
#include "store_internal.h"

#define DEVICE_COLUMNS \
	"id, address, http_port, https_port, name, username, allow_basic, cn_mode, mac, model, " \
	"firmware, api, https_state, status, status_detail, pinned, https_only, cert_serial, " \
	"cert_alias, cert_not_after, added_at, updated_at"

static void
col_copy(sqlite3_stmt *st, int i, char *dst, size_t n)
{
	const unsigned char *v = sqlite3_column_text(st, i);

	snprintf(dst, n, "%s", v != NULL ? (const char *)v : "");
}

static void
row_read(sqlite3_stmt *st, vp_device *d)
{
	memset(d, 0, sizeof(*d));
	d->id = sqlite3_column_int64(st, 0);
	col_copy(st, 1, d->address, sizeof(d->address));
	d->http_port = sqlite3_column_int(st, 2);
	d->https_port = sqlite3_column_int(st, 3);
	col_copy(st, 4, d->name, sizeof(d->name));
	col_copy(st, 5, d->username, sizeof(d->username));
	d->allow_basic = sqlite3_column_int(st, 6) != 0;
	col_copy(st, 7, d->cn_mode, sizeof(d->cn_mode));
	col_copy(st, 8, d->mac, sizeof(d->mac));
	col_copy(st, 9, d->model, sizeof(d->model));
	col_copy(st, 10, d->firmware, sizeof(d->firmware));
	col_copy(st, 11, d->api, sizeof(d->api));
	col_copy(st, 12, d->https_state, sizeof(d->https_state));
	col_copy(st, 13, d->status, sizeof(d->status));
	col_copy(st, 14, d->status_detail, sizeof(d->status_detail));
	d->pinned = sqlite3_column_int(st, 15) != 0;
	d->https_only = sqlite3_column_int(st, 16) != 0;
	col_copy(st, 17, d->cert_serial, sizeof(d->cert_serial));
	col_copy(st, 18, d->cert_alias, sizeof(d->cert_alias));
	d->cert_not_after = sqlite3_column_int64(st, 19);
	d->added_at = sqlite3_column_int64(st, 20);
	d->updated_at = sqlite3_column_int64(st, 21);
}

static int
bind_str(sqlite3_stmt *st, int i, const char *v)
{
	return sqlite3_bind_text(st, i, v != NULL ? v : "", -1, SQLITE_STATIC);
}

/* Binds the state columns (?3..?16) shared by insert and update. */
static int
bind_state(sqlite3_stmt *st, const vp_device *d)
{
	return bind_str(st, 3, d->mac) != SQLITE_OK || bind_str(st, 4, d->model) != SQLITE_OK ||
	    bind_str(st, 5, d->firmware) != SQLITE_OK || bind_str(st, 6, d->api) != SQLITE_OK ||
	    bind_str(st, 7, d->https_state) != SQLITE_OK ||
	    bind_str(st, 8, d->status) != SQLITE_OK ||
	    bind_str(st, 9, d->status_detail) != SQLITE_OK ||
	    sqlite3_bind_int(st, 10, d->pinned != 0) != SQLITE_OK ||
	    sqlite3_bind_int(st, 11, d->https_only != 0) != SQLITE_OK ||
	    bind_str(st, 12, d->cert_serial) != SQLITE_OK ||
	    bind_str(st, 13, d->cert_alias) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 14, (sqlite3_int64)d->cert_not_after) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 15, (sqlite3_int64)d->updated_at) != SQLITE_OK ?
	    -1 : 0;
}

vp_err
vp_store_device_insert(vp_store *s, vp_device *d, const unsigned char *secret,
    size_t secret_len, vp_error *e)
{
	sqlite3 *db = vp_store_db(s);
	sqlite3_stmt *st = NULL;
	vp_err rc = VP_OK;
	int r;

	if (secret_len > INT32_MAX)
		return vp_error_set(e, VP_ERR_INVALID, "the sealed password is too long");
	d->added_at = d->updated_at = (int64_t)time(NULL);
	if (sqlite3_prepare_v2(db, "INSERT INTO devices (id, added_at, mac, model, firmware, api, "
	    "https_state, status, status_detail, pinned, https_only, cert_serial, cert_alias, "
	    "cert_not_after, updated_at, address, http_port, https_port, name, username, secret, "
	    "allow_basic, cn_mode) VALUES (NULL, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, "
	    "?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23)", -1, &st, NULL) != SQLITE_OK)
		return vp_store_fail(s, e, "add a device");
	if (sqlite3_bind_int64(st, 2, (sqlite3_int64)d->added_at) != SQLITE_OK ||
	    bind_state(st, d) != 0 ||
	    bind_str(st, 16, d->address) != SQLITE_OK ||
	    sqlite3_bind_int(st, 17, d->http_port) != SQLITE_OK ||
	    sqlite3_bind_int(st, 18, d->https_port) != SQLITE_OK ||
	    bind_str(st, 19, d->name) != SQLITE_OK ||
	    bind_str(st, 20, d->username) != SQLITE_OK ||
	    sqlite3_bind_blob(st, 21, secret, (int)secret_len, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_int(st, 22, d->allow_basic != 0) != SQLITE_OK ||
	    bind_str(st, 23, d->cn_mode) != SQLITE_OK) {
		rc = vp_store_fail(s, e, "add a device");
		goto out;
	}
	if ((r = sqlite3_step(st)) == SQLITE_DONE)
		d->id = (int64_t)sqlite3_last_insert_rowid(db);
	else if (sqlite3_extended_errcode(db) == SQLITE_CONSTRAINT_UNIQUE)
		rc = vp_error_set(e, VP_ERR_EXISTS, "a device at %s with HTTP port %d is already in "
		    "the inventory", d->address, d->http_port);
	else
		rc = vp_store_fail(s, e, "add a device");
out:
	sqlite3_finalize(st);
	return rc;
}

/* Runs a SELECT of DEVICE_COLUMNS that returns at most one row, bound by bind(). */
static vp_err
select_one(vp_store *s, const char *where, const char *t1, int64_t i1, int i2, vp_device *out,
    const char *what, const char *notfound, vp_error *e)
{
	char sql[512];
	sqlite3_stmt *st = NULL;
	vp_err rc = VP_OK;
	int r, bad;

	snprintf(sql, sizeof(sql), "SELECT " DEVICE_COLUMNS " FROM devices WHERE %s", where);
	if (sqlite3_prepare_v2(vp_store_db(s), sql, -1, &st, NULL) != SQLITE_OK)
		return vp_store_fail(s, e, what);
	if (t1 != NULL)
		bad = bind_str(st, 1, t1) != SQLITE_OK ||
		    (i2 != 0 && sqlite3_bind_int(st, 2, i2) != SQLITE_OK);
	else
		bad = sqlite3_bind_int64(st, 1, (sqlite3_int64)i1) != SQLITE_OK;
	if (bad) {
		rc = vp_store_fail(s, e, what);
		goto out;
	}
	if ((r = sqlite3_step(st)) == SQLITE_ROW)
		row_read(st, out);
	else if (r == SQLITE_DONE)
		rc = vp_error_set(e, VP_ERR_NOTFOUND, "%s", notfound);
	else
		rc = vp_store_fail(s, e, what);
out:
	sqlite3_finalize(st);
	return rc;
}

vp_err
vp_store_device_get(vp_store *s, int64_t id, vp_device *out, vp_error *e)
{
	char msg[160];

	snprintf(msg, sizeof(msg), "there is no device %" PRId64 " (`vmspki device list` shows "
	    "the devices)", id);
	return select_one(s, "id = ?1", NULL, id, 0, out, "look up a device", msg, e);
}

vp_err
vp_store_device_find(vp_store *s, const char *address, int http_port, vp_device *out,
    vp_error *e)
{
	return select_one(s, "address = ?1 AND http_port = ?2", address, 0, http_port, out,
	    "look up a device", "no device at that address", e);
}

vp_err
vp_store_device_find_mac(vp_store *s, const char *mac, vp_device *out, vp_error *e)
{
	return select_one(s, "mac = ?1 AND mac != '' ORDER BY id LIMIT 1", mac, 0, 0, out,
	    "look up a device", "no device with that MAC address", e);
}

vp_err
vp_store_device_secret(vp_store *s, int64_t id, vp_device *row, unsigned char **secret,
    size_t *len, vp_error *e)
{
	sqlite3_stmt *st = NULL;
	const void *b;
	vp_err rc = VP_OK;
	int r;

	*secret = NULL;
	*len = 0;
	if (sqlite3_prepare_v2(vp_store_db(s), "SELECT " DEVICE_COLUMNS ", secret FROM devices "
	    "WHERE id = ?1", -1, &st, NULL) != SQLITE_OK)
		return vp_store_fail(s, e, "read a device's password");
	if (sqlite3_bind_int64(st, 1, (sqlite3_int64)id) != SQLITE_OK) {
		rc = vp_store_fail(s, e, "read a device's password");
		goto out;
	}
	if ((r = sqlite3_step(st)) == SQLITE_DONE) {
		rc = vp_error_set(e, VP_ERR_NOTFOUND, "there is no device %" PRId64, id);
		goto out;
	}
	if (r != SQLITE_ROW) {
		rc = vp_store_fail(s, e, "read a device's password");
		goto out;
	}
	row_read(st, row);
	b = sqlite3_column_blob(st, 22);
	*len = (size_t)sqlite3_column_bytes(st, 22);
	if ((*secret = malloc(*len + 1)) == NULL) {
		*len = 0;
		rc = vp_error_set(e, VP_ERR_NOMEM, "out of memory");
		goto out;
	}
	if (*len > 0)
		memcpy(*secret, b, *len);
out:
	sqlite3_finalize(st);
	return rc;
}

vp_err
vp_store_device_list(vp_store *s, vp_device_cb cb, void *arg, vp_error *e)
{
	sqlite3_stmt *st = NULL;
	vp_device d;
	vp_err rc = VP_OK;
	int r;

	if (sqlite3_prepare_v2(vp_store_db(s), "SELECT " DEVICE_COLUMNS " FROM devices ORDER BY id",
	    -1, &st, NULL) != SQLITE_OK)
		return vp_store_fail(s, e, "list the devices");
	while ((r = sqlite3_step(st)) == SQLITE_ROW) {
		int cbr;

		row_read(st, &d);
		if ((cbr = cb(&d, arg)) != 0) {
			rc = (vp_err)cbr;
			goto out;
		}
	}
	if (r != SQLITE_DONE)
		rc = vp_store_fail(s, e, "list the devices");
out:
	sqlite3_finalize(st);
	return rc;
}

vp_err
vp_store_device_update_state(vp_store *s, const vp_device *d, vp_error *e)
{
	sqlite3_stmt *st = NULL;
	vp_device t = *d;
	vp_err rc = VP_OK;

	t.updated_at = (int64_t)time(NULL);
	if (sqlite3_prepare_v2(vp_store_db(s), "UPDATE devices SET mac = ?3, model = ?4, "
	    "firmware = ?5, api = ?6, https_state = ?7, status = ?8, status_detail = ?9, "
	    "pinned = ?10, https_only = ?11, cert_serial = ?12, cert_alias = ?13, "
	    "cert_not_after = ?14, updated_at = ?15 WHERE id = ?1", -1, &st, NULL) != SQLITE_OK)
		return vp_store_fail(s, e, "update a device");
	if (sqlite3_bind_int64(st, 1, (sqlite3_int64)d->id) != SQLITE_OK ||
	    bind_state(st, &t) != 0 || sqlite3_step(st) != SQLITE_DONE) {
		rc = vp_store_fail(s, e, "update a device");
		goto out;
	}
	if (sqlite3_changes(vp_store_db(s)) == 0)
		rc = vp_error_set(e, VP_ERR_NOTFOUND, "there is no device %" PRId64 " (it was "
		    "removed?)", d->id);
out:
	sqlite3_finalize(st);
	return rc;
}

vp_err
vp_store_device_delete(vp_store *s, int64_t id, vp_error *e)
{
	sqlite3_stmt *st = NULL;
	vp_err rc = VP_OK;

	if (sqlite3_prepare_v2(vp_store_db(s), "DELETE FROM devices WHERE id = ?1", -1, &st,
	    NULL) != SQLITE_OK)
		return vp_store_fail(s, e, "remove a device");
	if (sqlite3_bind_int64(st, 1, (sqlite3_int64)id) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_DONE)
		rc = vp_store_fail(s, e, "remove a device");
	else if (sqlite3_changes(vp_store_db(s)) == 0)
		rc = vp_error_set(e, VP_ERR_NOTFOUND, "there is no device %" PRId64 " (`vmspki "
		    "device list` shows the devices)", id);
	sqlite3_finalize(st);
	return rc;
}

vp_err
vp_store_device_task(vp_store *s, int64_t id, int64_t *task, vp_error *e)
{
	sqlite3_stmt *st = NULL;
	vp_err rc = VP_OK;
	int r;

	*task = 0;
	if (sqlite3_prepare_v2(vp_store_db(s), "SELECT t.id FROM tasks t JOIN task_devices r ON "
	    "r.task_id = t.id WHERE r.device_id = ?1 AND t.state IN ('Queued', 'Running') "
	    "AND t.kind <> 'device-check' ORDER BY t.id LIMIT 1", -1, &st, NULL) != SQLITE_OK)
		return vp_store_fail(s, e, "look for the device's tasks");
	if (sqlite3_bind_int64(st, 1, (sqlite3_int64)id) != SQLITE_OK ||
	    ((r = sqlite3_step(st)) != SQLITE_ROW && r != SQLITE_DONE))
		rc = vp_store_fail(s, e, "look for the device's tasks");
	else if (r == SQLITE_ROW)
		*task = (int64_t)sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return rc;
}
