/* The SQLite implementation of store.h: key_value, certificates and the hash-chained audit log
 * in one WAL database, with a versioned schema (PRAGMA user_version + ordered migrations). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <sqlite3.h>

#include "vmspki/store.h"
#include "store_internal.h"
#include "vmspki/util.h"

#define BUSY_TIMEOUT_MS 10000
#define ZERO_HASH "0000000000000000000000000000000000000000000000000000000000000000"

/*
 * Schema migrations, applied in order: migration i brings the database to user_version i + 1.
 * Never edit a released entry; append a new one (in parentheses, so that clang does not take
 * the concatenated literals for a missing comma).
 */
static const char *const migrations[] = {
	/* 1: key_value, certificates, audit log (append-only by trigger, chained by hash). */
	("CREATE TABLE key_value ("
	"  key TEXT PRIMARY KEY,"
	"  value BLOB NOT NULL,"
	"  updated_at INTEGER NOT NULL);"
	"CREATE TABLE certificates ("
	"  id INTEGER PRIMARY KEY,"
	"  serial TEXT NOT NULL UNIQUE,"
	"  fingerprint TEXT NOT NULL UNIQUE,"
	"  issuer_fp TEXT NOT NULL,"
	"  profile TEXT NOT NULL,"
	"  status TEXT NOT NULL CHECK (status IN ('valid', 'revoked')),"
	"  subject TEXT NOT NULL,"
	"  sans TEXT NOT NULL DEFAULT '',"
	"  owner_kind TEXT NOT NULL DEFAULT '',"
	"  owner_id TEXT NOT NULL DEFAULT '',"
	"  pem TEXT NOT NULL,"
	"  not_before INTEGER NOT NULL,"
	"  not_after INTEGER NOT NULL,"
	"  issued_at INTEGER NOT NULL,"
	"  revoked_at INTEGER NOT NULL DEFAULT 0,"
	"  revocation_reason INTEGER NOT NULL DEFAULT -1);"
	"CREATE INDEX certificates_not_after ON certificates (not_after, serial);"
	"CREATE INDEX certificates_profile ON certificates (profile);"
	"CREATE INDEX certificates_owner ON certificates (owner_kind, owner_id);"
	"CREATE INDEX certificates_issuer ON certificates (issuer_fp);"
	"CREATE TABLE audit_log ("
	"  id INTEGER PRIMARY KEY,"
	"  at INTEGER NOT NULL,"
	"  actor TEXT,"
	"  action TEXT,"
	"  serial TEXT,"
	"  detail TEXT,"
	"  prev_hash TEXT NOT NULL,"
	"  hash TEXT NOT NULL);"
	/* The id and hash of the newest audit row, so that rows removed from the end show too. */
	"CREATE TABLE audit_head ("
	"  one INTEGER PRIMARY KEY CHECK (one = 1),"
	"  id INTEGER NOT NULL,"
	"  hash TEXT NOT NULL);"
	"CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log BEGIN"
	"  SELECT RAISE(ABORT, 'audit_log is append-only: its rows cannot be changed');"
	"END;"
	"CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log BEGIN"
	"  SELECT RAISE(ABORT, 'audit_log is append-only: its rows cannot be deleted');"
	"END;"),
	/* 2: API tokens, kept as SHA-256 hashes only. */
	("CREATE TABLE tokens ("
	"  name TEXT PRIMARY KEY,"
	"  hash TEXT NOT NULL UNIQUE,"
	"  role TEXT NOT NULL,"
	"  created_at INTEGER NOT NULL);"),
	/* 3: internal components (NATS broker and clients) and which certificates each has. */
	("CREATE TABLE components ("
	"  id TEXT PRIMARY KEY,"
	"  server INTEGER NOT NULL DEFAULT 0,"
	"  client INTEGER NOT NULL DEFAULT 0,"
	"  created_at INTEGER NOT NULL);"),
	/* 4: cameras and their state. The password is AES-256-GCM under the site data key
	 * (devcred.c); it is never stored or shown in clear. */
	("CREATE TABLE devices ("
	"  id INTEGER PRIMARY KEY,"
	"  address TEXT NOT NULL,"
	"  http_port INTEGER NOT NULL,"
	"  https_port INTEGER NOT NULL,"
	"  name TEXT NOT NULL DEFAULT '',"
	"  username TEXT NOT NULL,"
	"  secret BLOB NOT NULL,"
	"  allow_basic INTEGER NOT NULL DEFAULT 0,"
	"  cn_mode TEXT NOT NULL DEFAULT '',"
	"  mac TEXT NOT NULL DEFAULT '',"
	"  model TEXT NOT NULL DEFAULT '',"
	"  firmware TEXT NOT NULL DEFAULT '',"
	"  api TEXT NOT NULL DEFAULT '',"
	"  https_state TEXT NOT NULL DEFAULT '',"
	"  status TEXT NOT NULL DEFAULT '',"
	"  status_detail TEXT NOT NULL DEFAULT '',"
	"  pinned INTEGER NOT NULL DEFAULT 0,"
	"  https_only INTEGER NOT NULL DEFAULT 0,"
	"  cert_serial TEXT NOT NULL DEFAULT '',"
	"  cert_alias TEXT NOT NULL DEFAULT '',"
	"  cert_not_after INTEGER NOT NULL DEFAULT 0,"
	"  added_at INTEGER NOT NULL,"
	"  updated_at INTEGER NOT NULL,"
	"  UNIQUE (address, http_port));"),
	/* 5: tasks over devices, and one result row per device. A task is claimed by one engine
	 * at a time through a lease (claimed_by, lease_until). */
	("CREATE TABLE tasks ("
	"  id INTEGER PRIMARY KEY,"
	"  kind TEXT NOT NULL,"
	"  state TEXT NOT NULL,"
	"  options TEXT NOT NULL DEFAULT '{}',"
	"  concurrency INTEGER NOT NULL DEFAULT 0,"
	"  created_at INTEGER NOT NULL,"
	"  started_at INTEGER NOT NULL DEFAULT 0,"
	"  finished_at INTEGER NOT NULL DEFAULT 0,"
	"  claimed_by TEXT NOT NULL DEFAULT '',"
	"  lease_until INTEGER NOT NULL DEFAULT 0,"
	"  cancel INTEGER NOT NULL DEFAULT 0);"
	"CREATE TABLE task_devices ("
	"  task_id INTEGER NOT NULL REFERENCES tasks (id),"
	"  device_id INTEGER NOT NULL,"
	"  status TEXT NOT NULL DEFAULT 'Pending',"
	"  step TEXT NOT NULL DEFAULT '',"
	"  error TEXT NOT NULL DEFAULT '',"
	"  retryable INTEGER NOT NULL DEFAULT 0,"
	"  attempts INTEGER NOT NULL DEFAULT 0,"
	"  key_alias TEXT NOT NULL DEFAULT '',"
	"  cert_serial TEXT NOT NULL DEFAULT '',"
	"  started_at INTEGER NOT NULL DEFAULT 0,"
	"  finished_at INTEGER NOT NULL DEFAULT 0,"
	"  duration_ms INTEGER NOT NULL DEFAULT 0,"
	"  PRIMARY KEY (task_id, device_id));"
	"CREATE INDEX tasks_state ON tasks (state);"),
	/* 6: alarms, and the outbox of their deliveries (webhook, syslog): one row per raise or
	 * clear, marked delivered once the receiver took it. */
	("CREATE TABLE alarms ("
	"  id INTEGER PRIMARY KEY,"
	"  kind TEXT NOT NULL,"
	"  subject TEXT NOT NULL,"
	"  severity INTEGER NOT NULL,"
	"  message TEXT NOT NULL,"
	"  state TEXT NOT NULL CHECK (state IN ('raised', 'cleared')),"
	"  raised_at INTEGER NOT NULL,"
	"  cleared_at INTEGER NOT NULL DEFAULT 0,"
	"  acked_at INTEGER NOT NULL DEFAULT 0,"
	"  acked_by TEXT NOT NULL DEFAULT '');"
	"CREATE UNIQUE INDEX alarms_active ON alarms (kind, subject) WHERE state = 'raised';"
	"CREATE TABLE alarm_outbox ("
	"  id INTEGER PRIMARY KEY,"
	"  alarm_id INTEGER NOT NULL,"
	"  event TEXT NOT NULL,"
	"  payload TEXT NOT NULL,"
	"  created_at INTEGER NOT NULL,"
	"  attempts INTEGER NOT NULL DEFAULT 0,"
	"  next_at INTEGER NOT NULL DEFAULT 0,"
	"  webhook_done INTEGER NOT NULL DEFAULT 0,"
	"  syslog_done INTEGER NOT NULL DEFAULT 0,"
	"  last_error TEXT NOT NULL DEFAULT '');"),
	/* 7: endpoints vmspki watches but did not install (a recording server, a NAS, a proxy). */
	("CREATE TABLE endpoints ("
	"  id INTEGER PRIMARY KEY,"
	"  host TEXT NOT NULL,"
	"  port INTEGER NOT NULL,"
	"  sni TEXT NOT NULL DEFAULT '',"
	"  added_at INTEGER NOT NULL,"
	"  checked_at INTEGER NOT NULL DEFAULT 0,"
	"  status TEXT NOT NULL DEFAULT '',"
	"  detail TEXT NOT NULL DEFAULT '',"
	"  verified INTEGER NOT NULL DEFAULT 0,"
	"  name_ok INTEGER NOT NULL DEFAULT 0,"
	"  subject TEXT NOT NULL DEFAULT '',"
	"  issuer TEXT NOT NULL DEFAULT '',"
	"  not_after INTEGER NOT NULL DEFAULT 0,"
	"  fingerprint TEXT NOT NULL DEFAULT '',"
	"  chain_pem TEXT NOT NULL DEFAULT '',"
	"  UNIQUE (host, port, sni));"),
	/* 8: a task's local items (components, the server certificate, the old CA of a CA
	 * replacement) with a result each, and the phase a multi-phase task has reached. */
	("ALTER TABLE tasks ADD COLUMN phase INTEGER NOT NULL DEFAULT 0;"
	"CREATE TABLE task_items ("
	"  task_id INTEGER NOT NULL REFERENCES tasks (id),"
	"  seq INTEGER NOT NULL,"
	"  item TEXT NOT NULL,"
	"  status TEXT NOT NULL DEFAULT 'Pending',"
	"  detail TEXT NOT NULL DEFAULT '',"
	"  finished_at INTEGER NOT NULL DEFAULT 0,"
	"  PRIMARY KEY (task_id, item));"),
	/* 9: the devices table read a page at a time in the order of a column (the web UI). */
	("CREATE INDEX devices_name ON devices (name);"
	"CREATE INDEX devices_mac ON devices (mac);"
	"CREATE INDEX devices_model ON devices (model);"
	"CREATE INDEX devices_https_state ON devices (https_state);"
	"CREATE INDEX devices_cert_not_after ON devices (cert_not_after);"),
};
#define SCHEMA_VERSION ((int)(sizeof(migrations) / sizeof(migrations[0])))

/* Statements used on every call, prepared once per handle. */
enum stmt_id {
	ST_KV_GET,
	ST_KV_PUT,
	ST_KV_DELETE,
	ST_CERT_INSERT,
	ST_CERT_GET,
	ST_AUDIT_LAST,
	ST_AUDIT_HEAD_GET,
	ST_AUDIT_INSERT,
	ST_AUDIT_HEAD_PUT,
	ST_TOKEN_FIND,
	ST_BEGIN,
	ST_COMMIT,
	ST_SAVEPOINT,
	ST_RELEASE,
	ST_COUNT
};

#define CERT_COLUMNS \
	"serial, fingerprint, issuer_fp, profile, status, subject, sans, owner_kind, owner_id, " \
	"pem, not_before, not_after, issued_at, revoked_at, revocation_reason"

static const char *const stmt_sql[ST_COUNT] = {
	[ST_KV_GET] = "SELECT value FROM key_value WHERE key = ?1",
	[ST_KV_PUT] = ("INSERT INTO key_value (key, value, updated_at) VALUES (?1, ?2, ?3) "
	    "ON CONFLICT (key) DO UPDATE SET value = excluded.value, "
	    "updated_at = excluded.updated_at"),
	[ST_KV_DELETE] = "DELETE FROM key_value WHERE key = ?1",
	[ST_CERT_INSERT] = ("INSERT INTO certificates (" CERT_COLUMNS ") VALUES "
	    "(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)"),
	[ST_CERT_GET] = "SELECT " CERT_COLUMNS " FROM certificates WHERE serial = ?1",
	[ST_AUDIT_LAST] = "SELECT id, hash FROM audit_log ORDER BY id DESC LIMIT 1",
	[ST_AUDIT_HEAD_GET] = "SELECT id, hash FROM audit_head WHERE one = 1",
	[ST_AUDIT_INSERT] = ("INSERT INTO audit_log "
	    "(id, at, actor, action, serial, detail, prev_hash, hash) "
	    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"),
	[ST_AUDIT_HEAD_PUT] = ("INSERT INTO audit_head (one, id, hash) VALUES (1, ?1, ?2) "
	    "ON CONFLICT (one) DO UPDATE SET id = excluded.id, hash = excluded.hash"),
	[ST_TOKEN_FIND] = "SELECT name, role FROM tokens WHERE hash = ?1",
	/* Transaction control runs for every certificate the daemon records: parsing these
	 * each time cost more than the statements themselves. */
	[ST_BEGIN] = "BEGIN IMMEDIATE",
	[ST_COMMIT] = "COMMIT",
	[ST_SAVEPOINT] = "SAVEPOINT vp_op",
	[ST_RELEASE] = "RELEASE vp_op",
};

/* Statements vp_sql_run keeps per handle: the store files have about sixty; SQL built at run
 * time (filters) adds a few variants. Past this, a statement is prepared for one call. */
#define SQL_CACHE_MAX 160

struct vp_store {
	sqlite3 *db;
	char *path;
	int depth;              /* nesting depth of vp_store_begin */
	int savepoints;         /* internal savepoints open inside the caller's transaction */
	sqlite3_stmt *stmt[ST_COUNT];
	/* vp_sql_run's statements, kept by the hash of their text (store_internal.h) */
	struct sql_cached {
		uint32_t hash;
		sqlite3_stmt *st;
	} cache[SQL_CACHE_MAX];
	size_t ncache;
};

/* Turns the handle's last SQLite error into a sentence: what we were doing, and why it failed. */
static vp_err
store_fail(vp_store *s, vp_error *e, const char *what)
{
	int rc = sqlite3_extended_errcode(s->db);
	int prim = rc & 0xff;

	if (prim == SQLITE_BUSY || prim == SQLITE_LOCKED)
		return vp_error_set(e, VP_ERR_STORE,
		    "cannot %s: the store %s is busy, another process (a vmspki command or "
		    "the daemon) holds it; try again when it has finished (%s)",
		    what, s->path, sqlite3_errmsg(s->db));
	if (prim == SQLITE_READONLY || prim == SQLITE_PERM || prim == SQLITE_CANTOPEN)
		return vp_error_set(e, VP_ERR_STORE,
		    "cannot %s: the store %s (or its directory) is not writable by this user: %s",
		    what, s->path, sqlite3_errmsg(s->db));
	if (prim == SQLITE_CORRUPT || prim == SQLITE_NOTADB)
		return vp_error_set(e, VP_ERR_STORE,
		    "cannot %s: %s is damaged or not a vmspki store: %s", what, s->path,
		    sqlite3_errmsg(s->db));
	return vp_error_set(e, VP_ERR_STORE, "cannot %s in the store %s: %s", what, s->path,
	    sqlite3_errmsg(s->db));
}

static vp_err
stmt_get(vp_store *s, enum stmt_id id, sqlite3_stmt **st, vp_error *e)
{
	if (s->stmt[id] == NULL &&
	    sqlite3_prepare_v3(s->db, stmt_sql[id], -1, SQLITE_PREPARE_PERSISTENT, &s->stmt[id],
	    NULL) != SQLITE_OK)
		return store_fail(s, e, "prepare a query");
	*st = s->stmt[id];
	return VP_OK;
}

/* Resets a cached statement so that it holds no lock and no pointer to the caller's data. */
static void
stmt_done(sqlite3_stmt *st)
{
	if (st == NULL)
		return;
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
}

static vp_err
exec_sql(vp_store *s, const char *sql, const char *what, vp_error *e)
{
	if (sqlite3_exec(s->db, sql, NULL, NULL, NULL) != SQLITE_OK)
		return store_fail(s, e, what);
	return VP_OK;
}

/* Runs one of the cached statements that take no parameters and return no rows. */
static vp_err
step_sql(vp_store *s, enum stmt_id id, const char *what, vp_error *e)
{
	sqlite3_stmt *st = NULL;
	vp_err rc;

	if ((rc = stmt_get(s, id, &st, e)) != VP_OK)
		return rc;
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = store_fail(s, e, what);
	stmt_done(st);
	return rc;
}

/* Text binding: NULL stays NULL (an optional audit field); the caller keeps the string alive
 * until the statement is reset. */
static int
bind_text(sqlite3_stmt *st, int i, const char *v)
{
	if (v == NULL)
		return sqlite3_bind_null(st, i);
	return sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC);
}

/* ---- opening and schema ---- */

static vp_err
migrate(vp_store *s, vp_error *e)
{
	sqlite3_stmt *st = NULL;
	char sql[64];
	int version, i;
	vp_err rc;

	/* Take the write lock first so that two processes opening a new store do not both
	 * create the schema. */
	if ((rc = exec_sql(s, "BEGIN IMMEDIATE", "start the schema check", e)) != VP_OK)
		return rc;
	if (sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW) {
		rc = store_fail(s, e, "read the schema version");
		goto out;
	}
	version = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	st = NULL;
	if (version > SCHEMA_VERSION) {
		rc = vp_error_set(e, VP_ERR_STORE,
		    "the store %s has schema version %d but this vmspki knows only up to %d: "
		    "use a newer vmspki", s->path, version, SCHEMA_VERSION);
		goto out;
	}
	if (version < 0) {
		rc = vp_error_set(e, VP_ERR_STORE,
		    "the store %s has an invalid schema version %d: it is not a vmspki store",
		    s->path, version);
		goto out;
	}
	for (i = version; i < SCHEMA_VERSION; i++) {
		if ((rc = exec_sql(s, migrations[i], "create or upgrade the schema", e)) != VP_OK)
			goto out;
	}
	if (version != SCHEMA_VERSION) {
		snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", SCHEMA_VERSION);
		if ((rc = exec_sql(s, sql, "record the schema version", e)) != VP_OK)
			goto out;
	}
	rc = exec_sql(s, "COMMIT", "commit the schema", e);
out:
	sqlite3_finalize(st);
	if (rc != VP_OK && !sqlite3_get_autocommit(s->db))
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
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

vp_err
vp_store_open(const char *db_path, vp_store **out, vp_error *e)
{
	vp_store *s = NULL;
	sqlite3_stmt *st = NULL;
	const char *mode;
	vp_err rc;

	*out = NULL;
	if (db_path == NULL || *db_path == '\0')
		return vp_error_set(e, VP_ERR_INVALID, "no store path given");
	if ((rc = create_db_file(db_path, e)) != VP_OK)
		return rc;
	if ((s = calloc(1, sizeof(*s))) == NULL || (s->path = strdup(db_path)) == NULL) {
		rc = vp_error_set(e, VP_ERR_NOMEM, "out of memory opening the store");
		goto out;
	}
	if (sqlite3_open_v2(db_path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_FULLMUTEX,
	    NULL) != SQLITE_OK) {
		if (s->db == NULL) {
			rc = vp_error_set(e, VP_ERR_NOMEM, "out of memory opening the store");
			goto out;
		}
		rc = store_fail(s, e, "open the store");
		goto out;
	}
	sqlite3_extended_result_codes(s->db, 1);
	sqlite3_busy_timeout(s->db, BUSY_TIMEOUT_MS);
	/* Nothing in the schema needs functions from outside: refuse them (hardening). */
	sqlite3_db_config(s->db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, (int *)NULL);
	sqlite3_db_config(s->db, SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION, 0, (int *)NULL);

	if (sqlite3_prepare_v2(s->db, "PRAGMA journal_mode = WAL", -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW) {
		rc = store_fail(s, e, "switch the store to WAL mode");
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
	if ((rc = exec_sql(s, "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;",
	    "set the store's options", e)) != VP_OK)
		goto out;
	if ((rc = migrate(s, e)) != VP_OK)
		goto out;
	*out = s;
	s = NULL;
out:
	sqlite3_finalize(st);
	vp_store_close(s);
	return rc;
}

void
vp_store_close(vp_store *s)
{
	int i;

	if (s == NULL)
		return;
	for (i = 0; i < ST_COUNT; i++)
		sqlite3_finalize(s->stmt[i]);
	for (size_t c = 0; c < s->ncache; c++)
		sqlite3_finalize(s->cache[c].st);
	if (s->db != NULL && !sqlite3_get_autocommit(s->db))
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	sqlite3_close_v2(s->db);
	free(s->path);
	free(s);
}

/* ---- transactions ---- */

vp_err
vp_store_begin(vp_store *s, vp_error *e)
{
	vp_err rc;

	if (s->depth == 0 && (rc = step_sql(s, ST_BEGIN, "start a transaction", e)) != VP_OK)
		return rc;
	s->depth++;
	return VP_OK;
}

vp_err
vp_store_commit(vp_store *s, vp_error *e)
{
	vp_err rc;

	if (s->depth == 0)
		return vp_error_set(e, VP_ERR_INTERNAL,
		    "commit without a transaction (it was rolled back earlier)");
	if (s->depth > 1) {
		s->depth--;
		return VP_OK;
	}
	if ((rc = step_sql(s, ST_COMMIT, "commit the transaction", e)) != VP_OK) {
		vp_store_rollback(s);
		return rc;
	}
	s->depth = 0;
	return VP_OK;
}

void
vp_store_rollback(vp_store *s)
{
	int i;

	if (s == NULL || s->depth == 0)
		return;
	for (i = 0; i < ST_COUNT; i++)
		stmt_done(s->stmt[i]);
	if (!sqlite3_get_autocommit(s->db))
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	s->depth = 0;
	s->savepoints = 0;
}

/*
 * Multi-statement operations inside the library run in an internal transaction: their own
 * when the caller has none, else a savepoint, so that a failure undoes only the operation and
 * leaves the caller's transaction for the caller to commit or roll back.
 */
static vp_err
op_begin(vp_store *s, vp_error *e)
{
	vp_err rc;

	if (s->depth == 0)
		return vp_store_begin(s, e);
	if ((rc = step_sql(s, ST_SAVEPOINT, "start a savepoint", e)) != VP_OK)
		return rc;
	s->savepoints++;
	return VP_OK;
}

static vp_err
op_end(vp_store *s, vp_err rc, vp_error *e)
{
	if (s->savepoints > 0) {
		s->savepoints--;
		if (rc != VP_OK) {
			sqlite3_exec(s->db, "ROLLBACK TO vp_op", NULL, NULL, NULL);
			sqlite3_exec(s->db, "RELEASE vp_op", NULL, NULL, NULL);
			return rc;
		}
		return step_sql(s, ST_RELEASE, "release a savepoint", e);
	}
	if (rc != VP_OK) {
		vp_store_rollback(s);
		return rc;
	}
	return vp_store_commit(s, e);
}

/* ---- key_value ---- */

static vp_err
check_key(const char *key, vp_error *e)
{
	if (key == NULL || *key == '\0')
		return vp_error_set(e, VP_ERR_INVALID, "empty setting name");
	return VP_OK;
}

vp_err
vp_store_kv_get(vp_store *s, const char *key, unsigned char **val, size_t *len, vp_error *e)
{
	sqlite3_stmt *st = NULL;
	const void *blob;
	int n, r;
	vp_err rc;

	*val = NULL;
	*len = 0;
	if ((rc = check_key(key, e)) != VP_OK || (rc = stmt_get(s, ST_KV_GET, &st, e)) != VP_OK)
		return rc;
	if (bind_text(st, 1, key) != SQLITE_OK) {
		rc = store_fail(s, e, "read a setting");
		goto out;
	}
	if ((r = sqlite3_step(st)) == SQLITE_DONE) {
		rc = vp_error_set(e, VP_ERR_NOTFOUND, "no setting named %s in the store", key);
		goto out;
	}
	if (r != SQLITE_ROW) {
		rc = store_fail(s, e, "read a setting");
		goto out;
	}
	blob = sqlite3_column_blob(st, 0);
	n = sqlite3_column_bytes(st, 0);
	if (blob == NULL && n != 0) {
		rc = vp_error_set(e, VP_ERR_NOMEM, "out of memory reading setting %s", key);
		goto out;
	}
	if ((*val = malloc((size_t)n + 1)) == NULL) {
		rc = vp_error_set(e, VP_ERR_NOMEM, "out of memory reading setting %s", key);
		goto out;
	}
	if (n > 0)
		memcpy(*val, blob, (size_t)n);
	(*val)[n] = '\0';
	*len = (size_t)n;
out:
	stmt_done(st);
	return rc;
}

vp_err
vp_store_kv_put(vp_store *s, const char *key, const void *val, size_t len, vp_error *e)
{
	sqlite3_stmt *st = NULL;
	int r;
	vp_err rc;

	if ((rc = check_key(key, e)) != VP_OK)
		return rc;
	if (val == NULL && len != 0)
		return vp_error_set(e, VP_ERR_INTERNAL, "setting %s: no value given", key);
	if (len > (size_t)INT32_MAX)
		return vp_error_set(e, VP_ERR_INVALID, "setting %s: value of %zu bytes is too large",
		    key, len);
	if ((rc = stmt_get(s, ST_KV_PUT, &st, e)) != VP_OK)
		return rc;
	/* A zero-length value is an empty blob, not NULL. */
	r = bind_text(st, 1, key);
	if (r == SQLITE_OK)
		r = len == 0 ? sqlite3_bind_zeroblob(st, 2, 0) :
		    sqlite3_bind_blob64(st, 2, val, len, SQLITE_STATIC);
	if (r == SQLITE_OK)
		r = sqlite3_bind_int64(st, 3, (sqlite3_int64)time(NULL));
	if (r != SQLITE_OK || sqlite3_step(st) != SQLITE_DONE)
		rc = store_fail(s, e, "save a setting");
	stmt_done(st);
	return rc;
}

vp_err
vp_store_kv_delete(vp_store *s, const char *key, vp_error *e)
{
	sqlite3_stmt *st = NULL;
	vp_err rc;

	if ((rc = check_key(key, e)) != VP_OK || (rc = stmt_get(s, ST_KV_DELETE, &st, e)) != VP_OK)
		return rc;
	if (bind_text(st, 1, key) != SQLITE_OK || sqlite3_step(st) != SQLITE_DONE)
		rc = store_fail(s, e, "delete a setting");
	stmt_done(st);
	return rc;
}

/* ---- certificates ---- */

void
vp_cert_rec_clear(vp_cert_rec *r)
{
	if (r == NULL)
		return;
	free(r->subject);
	free(r->sans);
	free(r->owner_kind);
	free(r->owner_id);
	free(r->pem);
	memset(r, 0, sizeof(*r));
}

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * Canonical form of a serial number: lowercase hex without leading zeros. Accepts what people
 * paste: any case, an optional 0x, colons between bytes (openssl x509 -text), spaces around.
 */
static vp_err
serial_normalize(const char *in, char out[64], vp_error *e)
{
	const char *p = in, *end;
	size_t n = 0;
	int digits = 0;

	if (in == NULL)
		return vp_error_set(e, VP_ERR_INVALID, "no serial number given");
	while (*p == ' ' || *p == '\t')
		p++;
	end = p + strlen(p);
	while (end > p && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\n' || end[-1] == '\r'))
		end--;
	if (end - p >= 2 && p[0] == '0' && (p[1] == 'x' || p[1] == 'X'))
		p += 2;
	for (; p < end; p++) {
		int v = hexval((unsigned char)*p);

		if (*p == ':' && digits > 0 && p + 1 < end && hexval((unsigned char)p[1]) >= 0)
			continue;
		if (v < 0) {
			unsigned char c = (unsigned char)*p;

			if (c >= 0x21 && c < 0x7f)
				return vp_error_set(e, VP_ERR_INVALID,
				    "serial number is not hexadecimal (unexpected '%c'): give it as "
				    "`vmspki cert list` prints it", c);
			return vp_error_set(e, VP_ERR_INVALID,
			    "serial number is not hexadecimal (unexpected character 0x%02x): give it "
			    "as `vmspki cert list` prints it", c);
		}
		digits++;
		if (n == 0 && v == 0)
			continue;
		if (n >= 63)
			return vp_error_set(e, VP_ERR_INVALID,
			    "serial number is too long: a certificate serial has at most 40 hex "
			    "digits");
		out[n++] = "0123456789abcdef"[v];
	}
	if (digits == 0)
		return vp_error_set(e, VP_ERR_INVALID, "empty serial number");
	if (n == 0)
		out[n++] = '0';
	out[n] = '\0';
	return VP_OK;
}

/* Checks one fixed-size field of a record: NUL-terminated within its array and not empty. */
static vp_err
check_field(const char *v, size_t size, const char *name, vp_error *e)
{
	if (memchr(v, '\0', size) == NULL)
		return vp_error_set(e, VP_ERR_INTERNAL, "certificate record: %s is not terminated",
		    name);
	if (*v == '\0')
		return vp_error_set(e, VP_ERR_INVALID, "certificate record: %s is empty", name);
	return VP_OK;
}

static vp_err
fingerprint_normalize(const char *in, size_t size, const char *name, char out[65],
    vp_error *e)
{
	size_t i;
	vp_err rc;

	if ((rc = check_field(in, size, name, e)) != VP_OK)
		return rc;
	for (i = 0; i < 64; i++) {
		int v = hexval((unsigned char)in[i]);

		if (v < 0)
			break;
		out[i] = "0123456789abcdef"[v];
	}
	if (i != 64 || in[64] != '\0')
		return vp_error_set(e, VP_ERR_INVALID,
		    "certificate record: %s is not a SHA-256 fingerprint (64 hex digits)", name);
	out[64] = '\0';
	return VP_OK;
}

vp_err
vp_store_cert_insert(vp_store *s, const vp_cert_rec *r, vp_error *e)
{
	sqlite3_stmt *st = NULL;
	char serial[64], fp[65], ifp[65];
	int b = SQLITE_OK, step, ext;
	vp_err rc;

	if ((rc = check_field(r->serial, sizeof(r->serial), "serial", e)) != VP_OK ||
	    (rc = serial_normalize(r->serial, serial, e)) != VP_OK ||
	    (rc = fingerprint_normalize(r->fingerprint, sizeof(r->fingerprint), "fingerprint",
	    fp, e)) != VP_OK ||
	    (rc = fingerprint_normalize(r->issuer_fp, sizeof(r->issuer_fp), "issuer fingerprint",
	    ifp, e)) != VP_OK ||
	    (rc = check_field(r->profile, sizeof(r->profile), "profile", e)) != VP_OK ||
	    (rc = check_field(r->status, sizeof(r->status), "status", e)) != VP_OK)
		return rc;
	if (strcmp(r->status, "valid") != 0 && strcmp(r->status, "revoked") != 0)
		return vp_error_set(e, VP_ERR_INVALID,
		    "certificate record: status must be \"valid\" or \"revoked\"");
	if (r->subject == NULL || r->pem == NULL || *r->pem == '\0')
		return vp_error_set(e, VP_ERR_INVALID,
		    "certificate record: subject and PEM are required");
	if ((rc = stmt_get(s, ST_CERT_INSERT, &st, e)) != VP_OK)
		return rc;
	b |= bind_text(st, 1, serial);
	b |= bind_text(st, 2, fp);
	b |= bind_text(st, 3, ifp);
	b |= bind_text(st, 4, r->profile);
	b |= bind_text(st, 5, r->status);
	b |= bind_text(st, 6, r->subject);
	b |= bind_text(st, 7, r->sans != NULL ? r->sans : "");
	b |= bind_text(st, 8, r->owner_kind != NULL ? r->owner_kind : "");
	b |= bind_text(st, 9, r->owner_id != NULL ? r->owner_id : "");
	b |= bind_text(st, 10, r->pem);
	b |= sqlite3_bind_int64(st, 11, r->not_before);
	b |= sqlite3_bind_int64(st, 12, r->not_after);
	b |= sqlite3_bind_int64(st, 13, r->issued_at);
	b |= sqlite3_bind_int64(st, 14, r->revoked_at);
	b |= sqlite3_bind_int(st, 15, r->revocation_reason);
	if (b != SQLITE_OK) {
		rc = store_fail(s, e, "record a certificate");
		goto out;
	}
	if ((step = sqlite3_step(st)) == SQLITE_DONE)
		goto out;
	ext = sqlite3_extended_errcode(s->db);
	if (ext == SQLITE_CONSTRAINT_UNIQUE || ext == SQLITE_CONSTRAINT_PRIMARYKEY) {
		if (strstr(sqlite3_errmsg(s->db), "fingerprint") != NULL)
			rc = vp_error_set(e, VP_ERR_EXISTS,
			    "a certificate with fingerprint %s is already recorded", fp);
		else
			rc = vp_error_set(e, VP_ERR_EXISTS,
			    "a certificate with serial %s is already recorded", serial);
	} else
		rc = store_fail(s, e, "record a certificate");
out:
	stmt_done(st);
	return rc;
}

/* Copies a text column into a fixed field; a value that does not fit is a damaged row. */
static int
col_fixed(sqlite3_stmt *st, int i, char *dst, size_t size)
{
	const unsigned char *v = sqlite3_column_text(st, i);
	size_t n = (size_t)sqlite3_column_bytes(st, i);

	if (v == NULL || n >= size)
		return -1;
	memcpy(dst, v, n);
	dst[n] = '\0';
	return 0;
}

static char *
col_dup(sqlite3_stmt *st, int i)
{
	const unsigned char *v = sqlite3_column_text(st, i);

	return strdup(v != NULL ? (const char *)v : "");
}

/* Fills r from a row of CERT_COLUMNS. r starts zeroed; on failure it is cleared again. */
static vp_err
row_to_rec(vp_store *s, sqlite3_stmt *st, vp_cert_rec *r, vp_error *e)
{
	memset(r, 0, sizeof(*r));
	if (col_fixed(st, 0, r->serial, sizeof(r->serial)) != 0 ||
	    col_fixed(st, 1, r->fingerprint, sizeof(r->fingerprint)) != 0 ||
	    col_fixed(st, 2, r->issuer_fp, sizeof(r->issuer_fp)) != 0 ||
	    col_fixed(st, 3, r->profile, sizeof(r->profile)) != 0 ||
	    col_fixed(st, 4, r->status, sizeof(r->status)) != 0) {
		vp_cert_rec_clear(r);
		return vp_error_set(e, VP_ERR_STORE,
		    "a certificate row in %s has an over-long or missing field: the store was "
		    "changed outside vmspki", s->path);
	}
	r->subject = col_dup(st, 5);
	r->sans = col_dup(st, 6);
	r->owner_kind = col_dup(st, 7);
	r->owner_id = col_dup(st, 8);
	r->pem = col_dup(st, 9);
	if (r->subject == NULL || r->sans == NULL || r->owner_kind == NULL ||
	    r->owner_id == NULL || r->pem == NULL) {
		vp_cert_rec_clear(r);
		return vp_error_set(e, VP_ERR_NOMEM, "out of memory reading a certificate");
	}
	r->not_before = sqlite3_column_int64(st, 10);
	r->not_after = sqlite3_column_int64(st, 11);
	r->issued_at = sqlite3_column_int64(st, 12);
	r->revoked_at = sqlite3_column_int64(st, 13);
	r->revocation_reason = sqlite3_column_int(st, 14);
	return VP_OK;
}

vp_err
vp_store_cert_get(vp_store *s, const char *serial, vp_cert_rec *out, vp_error *e)
{
	sqlite3_stmt *st = NULL;
	char norm[64];
	int r;
	vp_err rc;

	memset(out, 0, sizeof(*out));
	if ((rc = serial_normalize(serial, norm, e)) != VP_OK ||
	    (rc = stmt_get(s, ST_CERT_GET, &st, e)) != VP_OK)
		return rc;
	if (bind_text(st, 1, norm) != SQLITE_OK) {
		rc = store_fail(s, e, "look up a certificate");
		goto out;
	}
	if ((r = sqlite3_step(st)) == SQLITE_DONE)
		rc = vp_error_set(e, VP_ERR_NOTFOUND, "no certificate with serial %s in the store",
		    norm);
	else if (r != SQLITE_ROW)
		rc = store_fail(s, e, "look up a certificate");
	else
		rc = row_to_rec(s, st, out, e);
out:
	stmt_done(st);
	return rc;
}

/*
 * Prepares "SELECT <what> FROM certificates WHERE <filter> [ORDER/LIMIT]" with only the
 * conditions the filter sets, so that SQLite can pick the matching index.
 */
static vp_err
prepare_filtered(vp_store *s, const vp_cert_filter *f, int listing, sqlite3_stmt **out,
    vp_error *e)
{
	char sql[512];
	const char *glue = " WHERE ";
	sqlite3_stmt *st = NULL;
	int b = SQLITE_OK;

	*out = NULL;
	if (f != NULL && (f->limit < 0 || f->offset < 0 || f->not_after_before < 0))
		return vp_error_set(e, VP_ERR_INVALID,
		    "certificate filter: limit, offset and date must not be negative");
	snprintf(sql, sizeof(sql), "SELECT %s FROM certificates",
	    listing ? CERT_COLUMNS : "count(*)");
#define ADD(glue_, cond) do { \
	strncat(sql, glue_, sizeof(sql) - strlen(sql) - 1); \
	strncat(sql, cond, sizeof(sql) - strlen(sql) - 1); \
	glue = " AND "; \
} while (0)
	if (f != NULL && f->not_after_before != 0)
		ADD(glue, "not_after < ?1");
	if (f != NULL && f->profile != NULL)
		ADD(glue, "profile = ?2");
	if (f != NULL && f->owner_kind != NULL)
		ADD(glue, "owner_kind = ?3");
	if (f != NULL && f->owner_id != NULL)
		ADD(glue, "owner_id = ?4");
	if (f != NULL && f->issuer_fp != NULL)
		ADD(glue, "issuer_fp = ?5");
	if (listing)
		ADD(" ", "ORDER BY not_after, serial LIMIT ?6 OFFSET ?7");
#undef ADD
	if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
		return store_fail(s, e, "prepare a certificate query");
	/* Parameters are numbered, so each keeps its number whichever others are present. */
	if (f != NULL && f->not_after_before != 0)
		b |= sqlite3_bind_int64(st, 1, f->not_after_before);
	if (f != NULL && f->profile != NULL)
		b |= bind_text(st, 2, f->profile);
	if (f != NULL && f->owner_kind != NULL)
		b |= bind_text(st, 3, f->owner_kind);
	if (f != NULL && f->owner_id != NULL)
		b |= bind_text(st, 4, f->owner_id);
	if (f != NULL && f->issuer_fp != NULL)
		b |= bind_text(st, 5, f->issuer_fp);
	if (listing) {
		b |= sqlite3_bind_int64(st, 6, f != NULL && f->limit > 0 ? f->limit : -1);
		b |= sqlite3_bind_int64(st, 7, f != NULL ? f->offset : 0);
	}
	if (b != SQLITE_OK) {
		sqlite3_finalize(st);
		return store_fail(s, e, "prepare a certificate query");
	}
	*out = st;
	return VP_OK;
}

vp_err
vp_store_cert_list(vp_store *s, const vp_cert_filter *f, vp_cert_cb cb, void *arg,
    vp_error *e)
{
	sqlite3_stmt *st = NULL;
	vp_cert_rec rec;
	int r;
	vp_err rc;

	memset(&rec, 0, sizeof(rec));
	if ((rc = prepare_filtered(s, f, 1, &st, e)) != VP_OK)
		return rc;
	while ((r = sqlite3_step(st)) == SQLITE_ROW) {
		int cbr;

		if ((rc = row_to_rec(s, st, &rec, e)) != VP_OK)
			goto out;
		cbr = cb(&rec, arg);
		vp_cert_rec_clear(&rec);
		if (cbr != 0) {
			rc = (vp_err)cbr;
			goto out;
		}
	}
	if (r != SQLITE_DONE)
		rc = store_fail(s, e, "list certificates");
out:
	sqlite3_finalize(st);
	return rc;
}

vp_err
vp_store_cert_count(vp_store *s, const vp_cert_filter *f, int64_t *n, vp_error *e)
{
	sqlite3_stmt *st = NULL;
	vp_err rc;

	*n = 0;
	if ((rc = prepare_filtered(s, f, 0, &st, e)) != VP_OK)
		return rc;
	if (sqlite3_step(st) != SQLITE_ROW)
		rc = store_fail(s, e, "count certificates");
	else
		*n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return rc;
}

/* ---- audit log ---- */

static int
hash_u64(EVP_MD_CTX *md, uint64_t v)
{
	unsigned char b[8];
	int i;

	for (i = 7; i >= 0; i--) {
		b[i] = (unsigned char)(v & 0xff);
		v >>= 8;
	}
	return EVP_DigestUpdate(md, b, sizeof(b));
}

/* A field is a presence byte, then (if present) its length and bytes: no two different rows
 * encode alike, and NULL differs from "". */
static int
hash_text(EVP_MD_CTX *md, const char *v)
{
	unsigned char present = v != NULL;
	size_t n = v != NULL ? strlen(v) : 0;

	if (!EVP_DigestUpdate(md, &present, 1))
		return 0;
	if (v == NULL)
		return 1;
	return hash_u64(md, (uint64_t)n) && EVP_DigestUpdate(md, v, n);
}

/* hex = SHA-256("vmspki-audit-v1" || prev_hash || id || at || actor || action || serial ||
 * detail), each field encoded as above. */
static vp_err
audit_hash(const char *prev, int64_t id, int64_t at, const char *actor, const char *action,
    const char *serial, const char *detail, char hex[65], vp_error *e)
{
	static const char tag[] = "vmspki-audit-v1";
	unsigned char dig[EVP_MAX_MD_SIZE];
	unsigned int dlen = 0;
	EVP_MD_CTX *md;
	int ok;

	if ((md = EVP_MD_CTX_new()) == NULL)
		return vp_error_ssl(e, VP_ERR_NOMEM, "cannot hash an audit row");
	ok = EVP_DigestInit_ex(md, EVP_sha256(), NULL) &&
	    EVP_DigestUpdate(md, tag, sizeof(tag)) &&
	    hash_text(md, prev) &&
	    hash_u64(md, (uint64_t)id) &&
	    hash_u64(md, (uint64_t)at) &&
	    hash_text(md, actor) &&
	    hash_text(md, action) &&
	    hash_text(md, serial) &&
	    hash_text(md, detail) &&
	    EVP_DigestFinal_ex(md, dig, &dlen) && dlen == 32;
	EVP_MD_CTX_free(md);
	if (!ok)
		return vp_error_ssl(e, VP_ERR_CRYPTO, "cannot hash an audit row");
	vp_hex_encode(dig, 32, hex);
	return VP_OK;
}

/* Reads (id, hash) from a one-row statement; found = 0 when there is no row. */
static vp_err
read_id_hash(vp_store *s, enum stmt_id which, int *found, int64_t *id, char hash[65],
    vp_error *e)
{
	sqlite3_stmt *st = NULL;
	int r;
	vp_err rc;

	*found = 0;
	*id = 0;
	if ((rc = stmt_get(s, which, &st, e)) != VP_OK)
		return rc;
	if ((r = sqlite3_step(st)) == SQLITE_ROW) {
		*found = 1;
		*id = sqlite3_column_int64(st, 0);
		if (col_fixed(st, 1, hash, 65) != 0)
			hash[0] = '\0'; /* a damaged hash: the chain check will say so */
	} else if (r != SQLITE_DONE)
		rc = store_fail(s, e, "read the audit log");
	stmt_done(st);
	return rc;
}

vp_err
vp_store_audit_append(vp_store *s, const char *actor, const char *action,
    const char *serial, const char *detail, vp_error *e)
{
	sqlite3_stmt *st = NULL;
	char prev[65] = ZERO_HASH, head_hash[65], hash[65];
	int64_t last_id, head_id, id, at = (int64_t)time(NULL);
	int have_last, have_head, b = SQLITE_OK;
	vp_err rc;

	if ((rc = op_begin(s, e)) != VP_OK)
		return rc;
	if ((rc = read_id_hash(s, ST_AUDIT_LAST, &have_last, &last_id, prev, e)) != VP_OK ||
	    (rc = read_id_hash(s, ST_AUDIT_HEAD_GET, &have_head, &head_id, head_hash, e)) != VP_OK)
		goto out;
	if (!have_last) {
		last_id = 0;
		memcpy(prev, ZERO_HASH, sizeof(prev));
	}
	/* If rows were cut from the end, chain to the recorded head rather than to the last
	 * surviving row: the gap then stays visible to vp_store_audit_verify. */
	if (have_head && head_id > last_id) {
		last_id = head_id;
		memcpy(prev, head_hash, sizeof(prev));
	}
	if (last_id == INT64_MAX) {
		rc = vp_error_set(e, VP_ERR_STORE, "the audit log is full");
		goto out;
	}
	id = last_id + 1;
	if ((rc = audit_hash(prev, id, at, actor, action, serial, detail, hash, e)) != VP_OK ||
	    (rc = stmt_get(s, ST_AUDIT_INSERT, &st, e)) != VP_OK)
		goto out;
	b |= sqlite3_bind_int64(st, 1, id);
	b |= sqlite3_bind_int64(st, 2, at);
	b |= bind_text(st, 3, actor);
	b |= bind_text(st, 4, action);
	b |= bind_text(st, 5, serial);
	b |= bind_text(st, 6, detail);
	b |= bind_text(st, 7, prev);
	b |= bind_text(st, 8, hash);
	if (b != SQLITE_OK || sqlite3_step(st) != SQLITE_DONE) {
		rc = store_fail(s, e, "append to the audit log");
		goto out;
	}
	stmt_done(st);
	if ((rc = stmt_get(s, ST_AUDIT_HEAD_PUT, &st, e)) != VP_OK)
		goto out;
	if (sqlite3_bind_int64(st, 1, id) != SQLITE_OK || bind_text(st, 2, hash) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_DONE)
		rc = store_fail(s, e, "append to the audit log");
out:
	stmt_done(st);
	return op_end(s, rc, e);
}

static vp_err
audit_verify_rows(vp_store *s, int64_t *rows, int64_t *bad_id, vp_error *e)
{
	sqlite3_stmt *st = NULL;
	char expect[65] = ZERO_HASH, hash[65], head_hash[65];
	int64_t prev_id = 0, head_id;
	int r, have_head;
	vp_err rc;

	if ((rc = read_id_hash(s, ST_AUDIT_HEAD_GET, &have_head, &head_id, head_hash, e)) != VP_OK)
		return rc;
	if (sqlite3_prepare_v2(s->db, "SELECT id, at, actor, action, serial, detail, prev_hash, "
	    "hash FROM audit_log ORDER BY id", -1, &st, NULL) != SQLITE_OK)
		return store_fail(s, e, "read the audit log");
	while ((r = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t id = sqlite3_column_int64(st, 0);
		const char *ph = (const char *)sqlite3_column_text(st, 6);
		const char *h;

		(*rows)++;
		if ((rc = audit_hash(ph != NULL ? ph : "", id, sqlite3_column_int64(st, 1),
		    (const char *)sqlite3_column_text(st, 2),
		    (const char *)sqlite3_column_text(st, 3),
		    (const char *)sqlite3_column_text(st, 4),
		    (const char *)sqlite3_column_text(st, 5), hash, e)) != VP_OK)
			goto out;
		h = (const char *)sqlite3_column_text(st, 7);
		if (id != prev_id + 1) {
			*bad_id = prev_id + 1;
			if (id == prev_id + 2)
				rc = vp_error_set(e, VP_ERR_INVALID,
				    "the audit log is broken at row %lld: that row was removed",
				    (long long)prev_id + 1);
			else
				rc = vp_error_set(e, VP_ERR_INVALID,
				    "the audit log is broken at row %lld: rows %lld to %lld were "
				    "removed", (long long)prev_id + 1, (long long)prev_id + 1,
				    (long long)id - 1);
			goto out;
		}
		if (ph == NULL || strcmp(ph, expect) != 0) {
			*bad_id = id;
			rc = vp_error_set(e, VP_ERR_INVALID,
			    "the audit log is broken at row %lld: it does not follow row %lld "
			    "(rows were removed or changed before it)", (long long)id,
			    (long long)prev_id);
			goto out;
		}
		if (h == NULL || strcmp(h, hash) != 0) {
			*bad_id = id;
			rc = vp_error_set(e, VP_ERR_INVALID,
			    "the audit log is broken at row %lld: its content does not match its "
			    "hash (the row was changed)", (long long)id);
			goto out;
		}
		memcpy(expect, hash, sizeof(expect));
		prev_id = id;
	}
	if (r != SQLITE_DONE) {
		rc = store_fail(s, e, "read the audit log");
		goto out;
	}
	/* The head records the newest row written: rows cut from the end, or added by hand,
	 * show here. */
	if (!have_head && prev_id != 0) {
		*bad_id = prev_id;
		rc = vp_error_set(e, VP_ERR_INVALID,
		    "the audit log is broken at row %lld: the record of its newest row is missing",
		    (long long)prev_id);
	} else if (have_head && head_id > prev_id) {
		*bad_id = prev_id + 1;
		rc = vp_error_set(e, VP_ERR_INVALID,
		    "the audit log is broken at row %lld: it ends at row %lld but rows up to %lld "
		    "were written (rows were removed from the end)", (long long)prev_id + 1,
		    (long long)prev_id, (long long)head_id);
	} else if (have_head && head_id < prev_id) {
		*bad_id = head_id + 1;
		rc = vp_error_set(e, VP_ERR_INVALID,
		    "the audit log is broken at row %lld: rows after %lld were not written by "
		    "vmspki", (long long)head_id + 1, (long long)head_id);
	} else if (have_head && strcmp(head_hash, expect) != 0) {
		*bad_id = prev_id;
		rc = vp_error_set(e, VP_ERR_INVALID,
		    "the audit log is broken at row %lld: it is not the row vmspki wrote last",
		    (long long)prev_id);
	}
out:
	sqlite3_finalize(st);
	return rc;
}

vp_err
vp_store_audit_verify(vp_store *s, int64_t *rows, int64_t *bad_id, vp_error *e)
{
	int own = 0;
	vp_err rc;

	*rows = 0;
	*bad_id = 0;
	/* One read transaction: a consistent snapshot even while another process appends. */
	if (s->depth == 0) {
		if ((rc = exec_sql(s, "BEGIN", "read the audit log", e)) != VP_OK)
			return rc;
		own = 1;
	}
	rc = audit_verify_rows(s, rows, bad_id, e);
	if (own)
		sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
	return rc;
}

struct audit_walk {
	vp_audit_cb cb;
	void *arg;
};

static vp_err
audit_walk_row(sqlite3_stmt *st, void *arg, vp_error *e)
{
	struct audit_walk *w = arg;
	vp_audit_rec rec;

	(void)e;
	rec.id = sqlite3_column_int64(st, 0);
	rec.at = sqlite3_column_int64(st, 1);
	rec.actor = (const char *)sqlite3_column_text(st, 2);
	rec.action = (const char *)sqlite3_column_text(st, 3);
	rec.serial = (const char *)sqlite3_column_text(st, 4);
	rec.detail = (const char *)sqlite3_column_text(st, 5);
	rec.hash = (const char *)sqlite3_column_text(st, 6);
	return (vp_err)w->cb(&rec, w->arg);
}

vp_err
vp_store_audit_list(vp_store *s, vp_audit_cb cb, void *arg, vp_error *e)
{
	struct audit_walk w = { cb, arg };

	return vp_sql_run(s, "read the audit log", "SELECT id, at, actor, action, serial, detail, "
	    "hash FROM audit_log ORDER BY id", VP_SQL_NOARGS, audit_walk_row, &w, NULL, e);
}

/* ---- API tokens ---- */

vp_err
vp_store_token_insert(vp_store *s, const char *name, const char *hash, const char *role,
    vp_error *e)
{
	sqlite3_stmt *st = NULL;
	int r;
	vp_err rc = VP_OK;

	if (sqlite3_prepare_v2(s->db, "INSERT INTO tokens (name, hash, role, created_at) "
	    "VALUES (?1, ?2, ?3, ?4)", -1, &st, NULL) != SQLITE_OK)
		return store_fail(s, e, "save a token");
	if (bind_text(st, 1, name) != SQLITE_OK || bind_text(st, 2, hash) != SQLITE_OK ||
	    bind_text(st, 3, role) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 4, (sqlite3_int64)time(NULL)) != SQLITE_OK) {
		rc = store_fail(s, e, "save a token");
		goto out;
	}
	r = sqlite3_step(st);
	if ((sqlite3_extended_errcode(s->db) & 0xff) == SQLITE_CONSTRAINT && r != SQLITE_DONE)
		rc = vp_error_set(e, VP_ERR_EXISTS, "a token named %s exists already", name);
	else if (r != SQLITE_DONE)
		rc = store_fail(s, e, "save a token");
out:
	sqlite3_finalize(st);
	return rc;
}

vp_err
vp_store_token_find(vp_store *s, const char *hash, char *name, size_t name_len, char *role,
    size_t role_len, vp_error *e)
{
	sqlite3_stmt *st = NULL;
	int r;
	vp_err rc = VP_OK;

	/* Every API request looks its token up: the statement is prepared once per handle. */
	if ((rc = stmt_get(s, ST_TOKEN_FIND, &st, e)) != VP_OK)
		return rc;
	if (bind_text(st, 1, hash) != SQLITE_OK) {
		rc = store_fail(s, e, "look up a token");
		goto out;
	}
	if ((r = sqlite3_step(st)) == SQLITE_ROW) {
		snprintf(name, name_len, "%s", (const char *)sqlite3_column_text(st, 0));
		snprintf(role, role_len, "%s", (const char *)sqlite3_column_text(st, 1));
	} else if (r == SQLITE_DONE)
		rc = vp_error_set(e, VP_ERR_NOTFOUND, "unknown token");
	else
		rc = store_fail(s, e, "look up a token");
out:
	stmt_done(st);
	return rc;
}

/* Runs a DELETE of at most one row keyed by ?1; *deleted tells whether a row went. */
static vp_err
delete_one(vp_store *s, const char *sql, const char *key, const char *what, int *deleted,
    vp_error *e)
{
	sqlite3_stmt *st = NULL;
	vp_err rc = VP_OK;

	*deleted = 0;
	if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
		return store_fail(s, e, what);
	if (bind_text(st, 1, key) != SQLITE_OK || sqlite3_step(st) != SQLITE_DONE)
		rc = store_fail(s, e, what);
	else
		*deleted = sqlite3_changes(s->db) > 0;
	sqlite3_finalize(st);
	return rc;
}

vp_err
vp_store_token_delete(vp_store *s, const char *name, vp_error *e)
{
	int deleted;
	vp_err rc = delete_one(s, "DELETE FROM tokens WHERE name = ?1", name, "delete a token",
	    &deleted, e);

	if (rc == VP_OK && !deleted)
		rc = vp_error_set(e, VP_ERR_NOTFOUND, "no token named %s", name);
	return rc;
}

struct token_walk {
	vp_store_token_cb cb;
	void *arg;
};

static vp_err
token_walk_row(sqlite3_stmt *st, void *arg, vp_error *e)
{
	struct token_walk *w = arg;

	(void)e;
	return (vp_err)w->cb((const char *)sqlite3_column_text(st, 0),
	    (const char *)sqlite3_column_text(st, 1), sqlite3_column_int64(st, 2), w->arg);
}

vp_err
vp_store_token_list(vp_store *s, vp_store_token_cb cb, void *arg, vp_error *e)
{
	struct token_walk w = { cb, arg };

	return vp_sql_run(s, "list the tokens", "SELECT name, role, created_at FROM tokens ORDER BY "
	    "name", VP_SQL_NOARGS, token_walk_row, &w, NULL, e);
}

/* ---- components ---- */

static void
component_row_read(sqlite3_stmt *st, vp_store_component *r)
{
	memset(r, 0, sizeof(*r));
	snprintf(r->id, sizeof(r->id), "%s", (const char *)sqlite3_column_text(st, 0));
	r->server = sqlite3_column_int(st, 1) != 0;
	r->client = sqlite3_column_int(st, 2) != 0;
	r->created_at = sqlite3_column_int64(st, 3);
}

vp_err
vp_store_component_get(vp_store *s, const char *id, vp_store_component *out, vp_error *e)
{
	sqlite3_stmt *st = NULL;
	int r;
	vp_err rc = VP_OK;

	if (sqlite3_prepare_v2(s->db, "SELECT id, server, client, created_at FROM components "
	    "WHERE id = ?1", -1, &st, NULL) != SQLITE_OK)
		return store_fail(s, e, "look up a component");
	if (bind_text(st, 1, id) != SQLITE_OK) {
		rc = store_fail(s, e, "look up a component");
		goto out;
	}
	if ((r = sqlite3_step(st)) == SQLITE_ROW)
		component_row_read(st, out);
	else if (r == SQLITE_DONE)
		rc = vp_error_set(e, VP_ERR_NOTFOUND, "there is no component called %s", id);
	else
		rc = store_fail(s, e, "look up a component");
out:
	sqlite3_finalize(st);
	return rc;
}

vp_err
vp_store_component_put(vp_store *s, const vp_store_component *c, vp_error *e)
{
	sqlite3_stmt *st = NULL;
	vp_err rc = VP_OK;

	if (sqlite3_prepare_v2(s->db, "INSERT INTO components (id, server, client, created_at) "
	    "VALUES (?1, ?2, ?3, ?4) ON CONFLICT (id) DO UPDATE SET server = excluded.server, "
	    "client = excluded.client", -1, &st, NULL) != SQLITE_OK)
		return store_fail(s, e, "save a component");
	if (bind_text(st, 1, c->id) != SQLITE_OK ||
	    sqlite3_bind_int(st, 2, c->server != 0) != SQLITE_OK ||
	    sqlite3_bind_int(st, 3, c->client != 0) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 4, (sqlite3_int64)(c->created_at > 0 ? c->created_at :
	    (int64_t)time(NULL))) != SQLITE_OK || sqlite3_step(st) != SQLITE_DONE)
		rc = store_fail(s, e, "save a component");
	sqlite3_finalize(st);
	return rc;
}

vp_err
vp_store_component_delete(vp_store *s, const char *id, vp_error *e)
{
	int deleted;
	vp_err rc = delete_one(s, "DELETE FROM components WHERE id = ?1", id,
	    "delete a component", &deleted, e);

	if (rc == VP_OK && !deleted)
		rc = vp_error_set(e, VP_ERR_NOTFOUND, "there is no component called %s", id);
	return rc;
}

struct component_walk {
	vp_store_component_cb cb;
	void *arg;
};

static vp_err
component_walk_row(sqlite3_stmt *st, void *arg, vp_error *e)
{
	struct component_walk *w = arg;
	vp_store_component row;

	(void)e;
	component_row_read(st, &row);
	return (vp_err)w->cb(&row, w->arg);
}

vp_err
vp_store_component_list(vp_store *s, vp_store_component_cb cb, void *arg, vp_error *e)
{
	struct component_walk w = { cb, arg };

	return vp_sql_run(s, "list the components", "SELECT id, server, client, created_at FROM "
	    "components ORDER BY id", VP_SQL_NOARGS, component_walk_row, &w, NULL, e);
}

/* ---- for the table modules (store_internal.h) ---- */

sqlite3 *
vp_store_db(vp_store *s)
{
	return s->db;
}

vp_err
vp_store_fail(vp_store *s, vp_error *e, const char *what)
{
	return store_fail(s, e, what);
}

/* ---- vp_sql_run: one way to run a statement and walk its rows (store_internal.h) ---- */

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
sql_prepare(vp_store *s, const char *sql, const char *what, sqlite3_stmt **st, int *once,
    vp_error *e)
{
	uint32_t h = sql_hash(sql);
	size_t i;
	int free_slot;

	*st = NULL;
	*once = 0;
	for (i = 0; i < s->ncache; i++) {
		if (s->cache[i].hash != h || strcmp(sqlite3_sql(s->cache[i].st), sql) != 0)
			continue;
		if (!sqlite3_stmt_busy(s->cache[i].st)) {
			*st = s->cache[i].st;
			return VP_OK;
		}
		break;          /* in use further up the stack: a statement of its own */
	}
	free_slot = i == s->ncache && s->ncache < SQL_CACHE_MAX;
	if (sqlite3_prepare_v3(s->db, sql, -1, free_slot ? SQLITE_PREPARE_PERSISTENT : 0, st,
	    NULL) != SQLITE_OK || *st == NULL) {
		sqlite3_finalize(*st);
		*st = NULL;
		return store_fail(s, e, what);
	}
	if (free_slot) {
		s->cache[s->ncache].hash = h;
		s->cache[s->ncache].st = *st;
		s->ncache++;
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

vp_err
vp_sql_run(vp_store *s, const char *what, const char *sql, const vp_sql_param *p, size_t np,
    vp_sql_row_fn row, void *arg, int64_t *changes, vp_error *e)
{
	sqlite3_stmt *st = NULL;
	vp_err rc;
	size_t i;
	int once, r = SQLITE_OK;

	if (changes != NULL)
		*changes = 0;
	if ((rc = sql_prepare(s, sql, what, &st, &once, e)) != VP_OK)
		return rc;
	for (i = 0; i < np; i++) {
		if (i >= INT_MAX || (r = sql_bind(st, (int)i + 1, &p[i])) != SQLITE_OK) {
			if (r == SQLITE_TOOBIG)
				rc = vp_error_set(e, VP_ERR_INVALID,
				    "cannot %s: parameter %zu is too long for the store", what, i + 1);
			else
				rc = store_fail(s, e, what);
			goto out;
		}
	}
	while ((r = sqlite3_step(st)) == SQLITE_ROW) {
		if (row != NULL && (rc = row(st, arg, e)) != VP_OK)
			goto out;
	}
	if (r != SQLITE_DONE) {
		rc = store_fail(s, e, what);
		goto out;
	}
	if (changes != NULL)
		*changes = sqlite3_changes64(s->db);
out:
	if (once) {
		sqlite3_finalize(st);
	} else {
		sqlite3_reset(st);
		sqlite3_clear_bindings(st);
	}
	return rc;
}

struct sql_int_arg {
	int found;
	int64_t v;
};

static vp_err
sql_int_row(sqlite3_stmt *row, void *arg, vp_error *e)
{
	struct sql_int_arg *a = arg;

	(void)e;
	if (!a->found) {
		a->found = 1;
		a->v = sqlite3_column_int64(row, 0);
	}
	return VP_OK;
}

vp_err
vp_sql_int(vp_store *s, const char *what, const char *sql, const vp_sql_param *p, size_t np,
    int64_t *out, vp_error *e)
{
	struct sql_int_arg a = { 0, 0 };
	vp_err rc;

	*out = 0;
	if ((rc = vp_sql_run(s, what, sql, p, np, sql_int_row, &a, NULL, e)) != VP_OK)
		return rc;
	if (!a.found)
		return vp_error_set(e, VP_ERR_NOTFOUND, "cannot %s: not found", what);
	*out = a.v;
	return VP_OK;
}

void
vp_sql_col_text(sqlite3_stmt *row, int i, char *dst, size_t n)
{
	const unsigned char *v = sqlite3_column_text(row, i);

	if (n == 0)
		return;
	snprintf(dst, n, "%s", v != NULL ? (const char *)v : "");
}

char *
vp_sql_col_dup(sqlite3_stmt *row, int i)
{
	const unsigned char *v = sqlite3_column_text(row, i);

	return v != NULL ? strdup((const char *)v) : NULL;
}

int64_t
vp_sql_last_id(vp_store *s)
{
	return sqlite3_last_insert_rowid(s->db);
}

/* ---- CA renewal (issue 19, item 5) ---- */

vp_err
vp_store_cert_move_issuer(vp_store *s, const char *from_fp, const char *to_fp, vp_error *e)
{
	return vp_sql_run(s, "record the renewed CA as the certificates' issuer",
	    "UPDATE certificates SET issuer_fp = ?2 WHERE issuer_fp = ?1",
	    VP_SQL_ARGS(VP_SQL_TEXT(from_fp), VP_SQL_TEXT(to_fp)), NULL, NULL, NULL, e);
}
