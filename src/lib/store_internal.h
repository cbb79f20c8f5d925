/* What the store's files share: the backend seam (vp_store_backend, after sqlite3_vfs: a table
 * chosen at open time), one way to run a statement and walk its rows (vp_sql_run) and the schema.
 * Only the store_*.c files include this header; nothing else in vmspki sees a database. */
#ifndef VMSPKI_STORE_INTERNAL_H
#define VMSPKI_STORE_INTERNAL_H

#include <sqlite3.h>

#include "vmspki/store.h"

/* A parameter of a statement run by vp_sql_run, bound to ?1, ?2, ... in order. Text and blobs
 * are bound without a copy: they must live until the call returns. */
typedef enum vp_sql_type {
	VP_SQL_T_NULL = 0,
	VP_SQL_T_INT,
	VP_SQL_T_TEXT,           /* NULL text binds SQL NULL */
	VP_SQL_T_BLOB
} vp_sql_type;

typedef struct vp_sql_param {
	vp_sql_type type;
	int64_t i;
	const char *t;
	const void *b;
	size_t n;
} vp_sql_param;

#define VP_SQL_NULL         ((vp_sql_param){ .type = VP_SQL_T_NULL })
#define VP_SQL_INT(v)       ((vp_sql_param){ .type = VP_SQL_T_INT, .i = (int64_t)(v) })
#define VP_SQL_TEXT(v)      ((vp_sql_param){ .type = VP_SQL_T_TEXT, .t = (v) })
#define VP_SQL_BLOB(p, len) ((vp_sql_param){ .type = VP_SQL_T_BLOB, .b = (p), .n = (len) })
/* The parameter list and its length, for vp_sql_run's p and np:
 * vp_sql_run(s, "load a task", SQL, VP_SQL_ARGS(VP_SQL_INT(id)), row_fn, &t, NULL, e). */
#define VP_SQL_ARGS(...) \
	((const vp_sql_param[]){ __VA_ARGS__ }), \
	(sizeof((const vp_sql_param[]){ __VA_ARGS__ }) / sizeof(vp_sql_param))
#define VP_SQL_NOARGS NULL, 0

/* One result row, whatever the backend: read it with vp_sql_col_*. Valid during the row
 * callback only. */
typedef struct vp_sql_row vp_sql_row;

/* Called for each result row. VP_OK goes on to the next row; anything else stops the walk and
 * is vp_sql_run's result (the function has set e). */
typedef vp_err (*vp_sql_row_fn)(const vp_sql_row *row, void *arg, vp_error *e);

/*
 * The SQL dialect every store file writes, which both backends run as it is: parameters ?1,
 * ?2, ... (PostgreSQL's backend renumbers them $1, $2, ...); integers are 64-bit; no SQLite-only
 * functions (strftime, last_insert_rowid: times are bound by the caller, ids come from
 * vp_sql_last_id); a boolean expression read as an integer is 0 or 1; INSERT ... ON CONFLICT.
 * What cannot be written alike asks vp_store_is_pg.
 */

/* Runs sql with the parameters p[0..np) bound in order, calls row (may be NULL) for every result
 * row, and sets *changes (may be NULL) to the rows the statement inserted, updated or deleted.
 * It may be called again from inside a row callback. what names the work in a failure ("load
 * task 5"): VP_ERR_EXISTS for a unique key in use (the backend's message, which names the
 * constraint's columns, in e), VP_ERR_STORE for the rest, VP_ERR_INVALID for a parameter the
 * backend refuses (too long). */
vp_err vp_sql_run(vp_store *s, const char *what, const char *sql, const vp_sql_param *p,
    size_t np, vp_sql_row_fn row, void *arg, int64_t *changes, vp_error *e);

/* The first column of the first row as an integer: VP_OK, or VP_ERR_NOTFOUND (e set to
 * "<what>: not found") when there is no row. */
vp_err vp_sql_int(vp_store *s, const char *what, const char *sql, const vp_sql_param *p,
    size_t np, int64_t *out, vp_error *e);

/* Column i of row: as an integer (0 for NULL; a boolean is 0 or 1), as text (NULL for SQL
 * NULL), as bytes (*n their number; NULL for SQL NULL), and whether it is NULL. */
int64_t vp_sql_col_int64(const vp_sql_row *row, int i);
int vp_sql_col_int(const vp_sql_row *row, int i);
const char *vp_sql_col_str(const vp_sql_row *row, int i);
const void *vp_sql_col_blob(const vp_sql_row *row, int i, size_t *n);
int vp_sql_col_null(const vp_sql_row *row, int i);
/* Column i of row as text into dst (at most n - 1 bytes, always terminated; NULL gives ""). */
void vp_sql_col_text(const vp_sql_row *row, int i, char *dst, size_t n);
/* Column i of row as a new string (NULL for SQL NULL or out of memory: check with
 * vp_sql_col_null when NULL matters). */
char *vp_sql_col_dup(const vp_sql_row *row, int i);

/* The id of the row the last INSERT on this handle made. */
int64_t vp_sql_last_id(vp_store *s);

/* Multi-statement operations inside the store run in an internal transaction: their own when
 * the caller has none, else a savepoint, so that a failure undoes only the operation. op_end
 * commits (rc VP_OK) or undoes, and returns rc or the commit's failure. */
vp_err vp_store_op_begin(vp_store *s, vp_error *e);
vp_err vp_store_op_end(vp_store *s, vp_err rc, vp_error *e);

/* 1 when the handle's backend is PostgreSQL (for the few statements written per dialect). */
int vp_store_is_pg(const vp_store *s);

/* The handle's SQLite connection (tests look at the file with it); NULL on another backend. */
sqlite3 *vp_store_db(vp_store *s);

/* ---- the backend seam ---- */

struct vp_sql_row {
	const struct vp_store_backend *b;
	void *h;                /* the backend's statement or result */
	int r;                  /* the row's index in it */
};

/* One backend: vp_store_open picks it by the store's location and every call of store.h goes
 * through it. conn is the backend's own state, in vp_store. */
typedef struct vp_store_backend {
	const char *name;       /* "sqlite", "postgresql" */
	/* Connects to where (a file path, a postgresql:// URI) into *conn. */
	vp_err (*open)(vp_store *s, const char *where, void **conn, vp_error *e);
	void (*close)(void *conn);
	/* Brings the schema to the newest version of the migration list (store_schema.c). */
	vp_err (*migrate)(vp_store *s, vp_error *e);
	/* The transaction statements: begin takes the site's write lock at once. */
	vp_err (*begin)(vp_store *s, vp_error *e);
	vp_err (*commit)(vp_store *s, vp_error *e);
	void (*rollback)(vp_store *s);
	vp_err (*savepoint)(vp_store *s, vp_error *e);
	vp_err (*release)(vp_store *s, vp_err rc, vp_error *e);
	/* A read transaction with one snapshot (audit verify): begin and end. */
	vp_err (*snapshot)(vp_store *s, int end, vp_error *e);
	vp_err (*run)(vp_store *s, const char *what, const char *sql, const vp_sql_param *p,
	    size_t np, vp_sql_row_fn row, void *arg, int64_t *changes, vp_error *e);
	int64_t (*last_id)(vp_store *s);
	int64_t (*col_int)(const vp_sql_row *row, int i);
	const char *(*col_str)(const vp_sql_row *row, int i);
	const void *(*col_blob)(const vp_sql_row *row, int i, size_t *n);
	int (*col_null)(const vp_sql_row *row, int i);
} vp_store_backend;

struct vp_store {
	const vp_store_backend *b;
	void *conn;
	char *where;            /* the location as it may be shown (no password) */
	int depth;              /* nesting depth of vp_store_begin */
	int savepoints;         /* internal savepoints open inside the caller's transaction */
};

extern const vp_store_backend vp_store_sqlite;
extern const vp_store_backend vp_store_pg;

/* ---- the schema (store_schema.c): one migration list for both backends ---- */
/* Migration i brings a store to version i + 1: sql in the common dialect, with INTEGER and
 * BLOB columns that the PostgreSQL backend writes BIGINT and BYTEA ("INTEGER PRIMARY KEY":
 * an identity column), then what only one backend runs (triggers). */
typedef struct vp_store_migration {
	const char *sql;
	const char *sqlite_only;
	const char *pg_only;
} vp_store_migration;
extern const vp_store_migration vp_store_migrations[];
extern const int vp_store_schema_version;

#endif
