/* The SQLite backend of the store (vp_store_sqlite, store_internal.h): one WAL database file, its
 * schema version in PRAGMA user_version, statements prepared once per handle and kept. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "vmspki/store.h"
#include "store_internal.h"

#define BUSY_TIMEOUT_MS 10000

/* Statements vp_sql_run keeps per handle: the store files have about seventy; SQL built at
 * run time (filters) adds a few variants. Past this, a statement is prepared for one call. */
#define SQL_CACHE_MAX 160

/* The connection (vp_store's conn). */
struct sq {
	sqlite3 *db;
	char *path;
	sqlite3_stmt *begin, *commit;
	/* vp_sql_run's statements, kept by the hash of their text */
	struct sql_cached {
		uint32_t hash;
		sqlite3_stmt *st;
	} cache[SQL_CACHE_MAX];
	size_t ncache;
};

/* Turns the handle's last SQLite error into a sentence: what we were doing, and why it failed. */
static vp_err
store_fail(struct sq *c, vp_error *e, const char *what)
{
	int rc = sqlite3_extended_errcode(c->db);
	int prim = rc & 0xff;

	if (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY)
		return vp_error_set(e, VP_ERR_EXISTS, "cannot %s: %s", what,
		    sqlite3_errmsg(c->db));
	if (prim == SQLITE_BUSY || prim == SQLITE_LOCKED)
		return vp_error_set(e, VP_ERR_STORE,
		    "cannot %s: the store %s is busy, another process (a vmspki command or "
		    "the daemon) holds it; try again when it has finished (%s)",
		    what, c->path, sqlite3_errmsg(c->db));
	if (prim == SQLITE_READONLY || prim == SQLITE_PERM || prim == SQLITE_CANTOPEN)
		return vp_error_set(e, VP_ERR_STORE,
		    "cannot %s: the store %s (or its directory) is not writable by this user: %s",
		    what, c->path, sqlite3_errmsg(c->db));
	if (prim == SQLITE_CORRUPT || prim == SQLITE_NOTADB)
		return vp_error_set(e, VP_ERR_STORE,
		    "cannot %s: %s is damaged or not a vmspki store: %s", what, c->path,
		    sqlite3_errmsg(c->db));
	return vp_error_set(e, VP_ERR_STORE, "cannot %s in the store %s: %s", what, c->path,
	    sqlite3_errmsg(c->db));
}

static vp_err
exec_sql(struct sq *c, const char *sql, const char *what, vp_error *e)
{
	if (sqlite3_exec(c->db, sql, NULL, NULL, NULL) != SQLITE_OK)
		return store_fail(c, e, what);
	return VP_OK;
}

/* Runs a kept statement that takes no parameters and returns no rows (transaction control
 * runs for every certificate the daemon records: parsing it each time cost more than the
 * statement itself). */
static vp_err
step_kept(struct sq *c, sqlite3_stmt **st, const char *sql, const char *what, vp_error *e)
{
	vp_err rc = VP_OK;

	if (*st == NULL && sqlite3_prepare_v3(c->db, sql, -1, SQLITE_PREPARE_PERSISTENT, st,
	    NULL) != SQLITE_OK)
		return store_fail(c, e, what);
	if (sqlite3_step(*st) != SQLITE_DONE)
		rc = store_fail(c, e, what);
	sqlite3_reset(*st);
	return rc;
}

/* ---- opening and schema ---- */

static vp_err
sq_migrate(vp_store *s, vp_error *e)
{
	struct sq *c = s->conn;
	sqlite3_stmt *st = NULL;
	char sql[64];
	int version, i;
	vp_err rc;

	/* Take the write lock first so that two processes opening a new store do not both
	 * create the schema. */
	if ((rc = exec_sql(c, "BEGIN IMMEDIATE", "start the schema check", e)) != VP_OK)
		return rc;
	if (sqlite3_prepare_v2(c->db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW) {
		rc = store_fail(c, e, "read the schema version");
		goto out;
	}
	version = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	st = NULL;
	if (version > vp_store_schema_version) {
		rc = vp_error_set(e, VP_ERR_STORE,
		    "the store %s has schema version %d but this vmspki knows only up to %d: "
		    "use a newer vmspki", c->path, version, vp_store_schema_version);
		goto out;
	}
	if (version < 0) {
		rc = vp_error_set(e, VP_ERR_STORE,
		    "the store %s has an invalid schema version %d: it is not a vmspki store",
		    c->path, version);
		goto out;
	}
	for (i = version; i < vp_store_schema_version; i++) {
		const vp_store_migration *m = &vp_store_migrations[i];

		if ((rc = exec_sql(c, m->sql, "create or upgrade the schema", e)) != VP_OK ||
		    (m->sqlite_only != NULL && (rc = exec_sql(c, m->sqlite_only,
		    "create or upgrade the schema", e)) != VP_OK))
			goto out;
	}
	if (version != vp_store_schema_version) {
		snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", vp_store_schema_version);
		if ((rc = exec_sql(c, sql, "record the schema version", e)) != VP_OK)
			goto out;
	}
	rc = exec_sql(c, "COMMIT", "commit the schema", e);
out:
	sqlite3_finalize(st);
	if (rc != VP_OK && !sqlite3_get_autocommit(c->db))
		sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
	return rc;
}

/* Creates the file 0600 if it does not exist yet, so that SQLite never creates it (or its
 * -wal and -shm files, which copy its mode) with the umask's permissions. */
static vp_err
create_db_file(const char *path, vp_error *e)
{
	struct stat sb;
	int fd;

	/* An existing store is only examined, never opened here: closing a descriptor of a file
	 * drops every POSIX lock this process holds on it, including those of SQLite connections
	 * already open on it (another thread's handle), and SQLite would then believe it is the
	 * last user and remove the WAL under them. */
	if (stat(path, &sb) == 0) {
		if (S_ISDIR(sb.st_mode))
			return vp_error_set(e, VP_ERR_INVALID,
			    "%s is a directory: give the path of a vmspki store file", path);
		if (!S_ISREG(sb.st_mode))
			return vp_error_set(e, VP_ERR_INVALID,
			    "%s is not a regular file: give the path of a vmspki store", path);
		return VP_OK;
	}
	if (errno != ENOENT)
		return vp_error_set(e, VP_ERR_IO, "cannot examine the store %s: %s", path,
		    strerror(errno));
	/* A new store: create it 0600 before SQLite does, so that it never has wider modes. */
	if ((fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOCTTY, 0600)) == -1 &&
	    errno != EEXIST)
		return vp_error_set(e, errno == ENOENT ? VP_ERR_NOTFOUND : VP_ERR_IO,
		    "cannot create the store %s: %s", path, strerror(errno));
	if (fd != -1)
		close(fd);
	return VP_OK;
}

static void
sq_close(void *conn)
{
	struct sq *c = conn;

	if (c == NULL)
		return;
	sqlite3_finalize(c->begin);
	sqlite3_finalize(c->commit);
	for (size_t i = 0; i < c->ncache; i++)
		sqlite3_finalize(c->cache[i].st);
	if (c->db != NULL && !sqlite3_get_autocommit(c->db))
		sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
	sqlite3_close_v2(c->db);
	free(c->path);
	free(c);
}

static vp_err
sq_open(vp_store *s, const char *db_path, void **conn, vp_error *e)
{
	struct sq *c = NULL;
	sqlite3_stmt *st = NULL;
	const char *mode;
	vp_err rc;

	(void)s;
	*conn = NULL;
	if ((rc = create_db_file(db_path, e)) != VP_OK)
		return rc;
	if ((c = calloc(1, sizeof(*c))) == NULL || (c->path = strdup(db_path)) == NULL) {
		rc = vp_error_set(e, VP_ERR_NOMEM, "out of memory opening the store");
		goto out;
	}
	if (sqlite3_open_v2(db_path, &c->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_FULLMUTEX,
	    NULL) != SQLITE_OK) {
		if (c->db == NULL) {
			rc = vp_error_set(e, VP_ERR_NOMEM, "out of memory opening the store");
			goto out;
		}
		rc = store_fail(c, e, "open the store");
		goto out;
	}
	sqlite3_extended_result_codes(c->db, 1);
	sqlite3_busy_timeout(c->db, BUSY_TIMEOUT_MS);
	/* Nothing in the schema needs functions from outside: refuse them (hardening). */
	sqlite3_db_config(c->db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, (int *)NULL);
	sqlite3_db_config(c->db, SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION, 0, (int *)NULL);

	if (sqlite3_prepare_v2(c->db, "PRAGMA journal_mode = WAL", -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW) {
		rc = store_fail(c, e, "switch the store to WAL mode");
		goto out;
	}
	mode = (const char *)sqlite3_column_text(st, 0);
	if (mode == NULL || strcmp(mode, "wal") != 0) {
		rc = vp_error_set(e, VP_ERR_STORE,
		    "cannot switch the store %s to WAL mode (it stays in %s mode): is it on a "
		    "network file system?", db_path, mode != NULL ? mode : "an unknown");
		goto out;
	}
	sqlite3_finalize(st);
	st = NULL;
	if ((rc = exec_sql(c, "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;",
	    "set the store's options", e)) != VP_OK)
		goto out;
	*conn = c;
	c = NULL;
out:
	sqlite3_finalize(st);
	sq_close(c);
	return rc;
}

/* ---- transactions ---- */

static vp_err
sq_begin(vp_store *s, vp_error *e)
{
	struct sq *c = s->conn;

	/* IMMEDIATE: the write lock at once, so that read-modify-write sequences are safe
	 * across processes. */
	return step_kept(c, &c->begin, "BEGIN IMMEDIATE", "start a transaction", e);
}

static vp_err
sq_commit(vp_store *s, vp_error *e)
{
	struct sq *c = s->conn;

	return step_kept(c, &c->commit, "COMMIT", "commit the transaction", e);
}

static void
sq_rollback(vp_store *s)
{
	struct sq *c = s->conn;

	if (!sqlite3_get_autocommit(c->db))
		sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
}

static vp_err
sq_savepoint(vp_store *s, vp_error *e)
{
	return exec_sql(s->conn, "SAVEPOINT vp_op", "start a savepoint", e);
}

static vp_err
sq_release(vp_store *s, vp_err rc, vp_error *e)
{
	struct sq *c = s->conn;

	if (rc != VP_OK) {
		sqlite3_exec(c->db, "ROLLBACK TO vp_op", NULL, NULL, NULL);
		sqlite3_exec(c->db, "RELEASE vp_op", NULL, NULL, NULL);
		return rc;
	}
	return exec_sql(c, "RELEASE vp_op", "release a savepoint", e);
}

static vp_err
sq_snapshot(vp_store *s, int end, vp_error *e)
{
	struct sq *c = s->conn;

	if (end) {
		sqlite3_exec(c->db, "COMMIT", NULL, NULL, NULL);
		return VP_OK;
	}
	return exec_sql(c, "BEGIN", "read the audit log", e);
}

/* ---- statements ---- */

/* FNV-1a of the statement text: finds the kept statement without comparing every text. */
static uint32_t
sql_hash(const char *sql)
{
	uint32_t h = 2166136261u;

	for (; *sql != '\0'; sql++)
		h = (h ^ (unsigned char)*sql) * 16777619u;
	return h;
}

/* A statement for sql: the kept one when it is not in use (a row callback may run the same
 * SQL again), else a new one, kept when there is room. *once says the caller must finalize. */
static vp_err
sql_prepare(struct sq *c, const char *sql, const char *what, sqlite3_stmt **st, int *once,
    vp_error *e)
{
	uint32_t h = sql_hash(sql);
	size_t i;
	int free_slot;

	*st = NULL;
	*once = 0;
	for (i = 0; i < c->ncache; i++) {
		if (c->cache[i].hash != h || strcmp(sqlite3_sql(c->cache[i].st), sql) != 0)
			continue;
		if (!sqlite3_stmt_busy(c->cache[i].st)) {
			*st = c->cache[i].st;
			return VP_OK;
		}
		break;          /* in use further up the stack: a statement of its own */
	}
	free_slot = i == c->ncache && c->ncache < SQL_CACHE_MAX;
	if (sqlite3_prepare_v3(c->db, sql, -1, free_slot ? SQLITE_PREPARE_PERSISTENT : 0, st,
	    NULL) != SQLITE_OK || *st == NULL) {
		sqlite3_finalize(*st);
		*st = NULL;
		return store_fail(c, e, what);
	}
	if (free_slot) {
		c->cache[c->ncache].hash = h;
		c->cache[c->ncache].st = *st;
		c->ncache++;
	} else {
		*once = 1;
	}
	return VP_OK;
}

static int
sql_bind(sqlite3_stmt *st, int i, const vp_sql_param *p)
{
	switch (p->type) {
	case VP_SQL_T_INT:
		return sqlite3_bind_int64(st, i, p->i);
	case VP_SQL_T_TEXT:
		return p->t == NULL ? sqlite3_bind_null(st, i) :
		    sqlite3_bind_text(st, i, p->t, -1, SQLITE_STATIC);
	case VP_SQL_T_BLOB:
		if (p->n > INT_MAX)
			return SQLITE_TOOBIG;
		return sqlite3_bind_blob(st, i, p->b != NULL ? p->b : "", (int)p->n,
		    SQLITE_STATIC);
	case VP_SQL_T_NULL:
	default:
		return sqlite3_bind_null(st, i);
	}
}

static vp_err
sq_run(vp_store *s, const char *what, const char *sql, const vp_sql_param *p, size_t np,
    vp_sql_row_fn row, void *arg, int64_t *changes, vp_error *e)
{
	sqlite3_stmt *st = NULL;
	vp_err rc;
	size_t i;
	int once, r = SQLITE_OK;
	struct sq *c = s->conn;
	vp_sql_row r1 = { &vp_store_sqlite, NULL, 0 };

	if ((rc = sql_prepare(c, sql, what, &st, &once, e)) != VP_OK)
		return rc;
	for (i = 0; i < np; i++) {
		if (i >= INT_MAX || (r = sql_bind(st, (int)i + 1, &p[i])) != SQLITE_OK) {
			if (r == SQLITE_TOOBIG)
				rc = vp_error_set(e, VP_ERR_INVALID,
				    "cannot %s: parameter %zu is too long for the store", what, i + 1);
			else
				rc = store_fail(c, e, what);
			goto out;
		}
	}
	r1.h = st;
	while ((r = sqlite3_step(st)) == SQLITE_ROW) {
		if (row != NULL && (rc = row(&r1, arg, e)) != VP_OK)
			goto out;
	}
	if (r != SQLITE_DONE) {
		rc = store_fail(c, e, what);
		goto out;
	}
	if (changes != NULL)
		*changes = sqlite3_changes64(c->db);
out:
	if (once) {
		sqlite3_finalize(st);
	} else {
		sqlite3_reset(st);
		sqlite3_clear_bindings(st);
	}
	return rc;
}

static int64_t
sq_last_id(vp_store *s)
{
	return sqlite3_last_insert_rowid(((struct sq *)s->conn)->db);
}

static int64_t
sq_col_int(const vp_sql_row *row, int i)
{
	return sqlite3_column_int64(row->h, i);
}

static const char *
sq_col_str(const vp_sql_row *row, int i)
{
	return (const char *)sqlite3_column_text(row->h, i);
}

static const void *
sq_col_blob(const vp_sql_row *row, int i, size_t *n)
{
	const void *b = sqlite3_column_blob(row->h, i);

	*n = (size_t)sqlite3_column_bytes(row->h, i);
	return b;
}

static int
sq_col_null(const vp_sql_row *row, int i)
{
	return sqlite3_column_type(row->h, i) == SQLITE_NULL;
}

sqlite3 *
vp_store_db(vp_store *s)
{
	return s->b == &vp_store_sqlite ? ((struct sq *)s->conn)->db : NULL;
}

const vp_store_backend vp_store_sqlite = {
	.name = "sqlite",
	.open = sq_open,
	.close = sq_close,
	.migrate = sq_migrate,
	.begin = sq_begin,
	.commit = sq_commit,
	.rollback = sq_rollback,
	.savepoint = sq_savepoint,
	.release = sq_release,
	.snapshot = sq_snapshot,
	.run = sq_run,
	.last_id = sq_last_id,
	.col_int = sq_col_int,
	.col_str = sq_col_str,
	.col_blob = sq_col_blob,
	.col_null = sq_col_null,
};
