/* What the SQLite store's table files (store_*.c) share with store_sqlite.c: the connection,
 * the error sentence and one way to run a statement and walk its rows (vp_sql_run). Only the
 * store_*.c files include this header; nothing else in vmspki sees SQLite. A PostgreSQL store
 * implements the public calls of store.h in files of its own. */
#ifndef VMSPKI_STORE_INTERNAL_H
#define VMSPKI_STORE_INTERNAL_H

#include <sqlite3.h>

#include "vmspki/store.h"

/* The handle's connection (owned by the store). */
sqlite3 *vp_store_db(vp_store *s);

/* Turns the connection's last SQLite error into a sentence ("cannot <what> ...: why") in e,
 * telling busy, read-only and damaged stores apart. Returns VP_ERR_STORE. */
vp_err vp_store_fail(vp_store *s, vp_error *e, const char *what);

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

/* Called for each result row with the statement positioned on it (read it with
 * sqlite3_column_*). VP_OK goes on to the next row; anything else stops the walk and is
 * vp_sql_run's result (the function has set e). */
typedef vp_err (*vp_sql_row_fn)(sqlite3_stmt *row, void *arg, vp_error *e);

/* Runs sql with the parameters p[0..np) bound in order, calls row (may be NULL) for every result
 * row, and sets *changes (may be NULL) to the rows the statement inserted, updated or deleted.
 * The statement is prepared once per handle and kept (keyed by its text), so SQL built at run
 * time is fine too. It may be called again from inside a row callback. what names the work in a
 * failure ("load task 5"): VP_ERR_STORE through vp_store_fail; VP_ERR_INVALID for a parameter
 * that SQLite refuses (too long). */
vp_err vp_sql_run(vp_store *s, const char *what, const char *sql, const vp_sql_param *p,
    size_t np, vp_sql_row_fn row, void *arg, int64_t *changes, vp_error *e);

/* The first column of the first row as an integer: VP_OK, or VP_ERR_NOTFOUND (e set to
 * "<what>: not found") when there is no row. */
vp_err vp_sql_int(vp_store *s, const char *what, const char *sql, const vp_sql_param *p,
    size_t np, int64_t *out, vp_error *e);

/* Column i of row as text into dst (at most n - 1 bytes, always terminated; NULL gives ""). */
void vp_sql_col_text(sqlite3_stmt *row, int i, char *dst, size_t n);
/* Column i of row as a new string (NULL for SQL NULL or out of memory: check with
 * sqlite3_column_type when NULL matters). */
char *vp_sql_col_dup(sqlite3_stmt *row, int i);

/* The id of the row the last INSERT on this handle made. */
int64_t vp_sql_last_id(vp_store *s);

#endif
