/* What the store's table modules (store_device.c, store_task.c) share with store_sqlite.c:
 * the SQLite handle and the error sentence. Not part of the public API: the PostgreSQL store
 * will implement the same public calls its own way. */
#ifndef VMSPKI_STORE_INTERNAL_H
#define VMSPKI_STORE_INTERNAL_H

#include <sqlite3.h>

#include "vmspki/store.h"

/* The handle's connection (owned by the store). */
sqlite3 *vp_store_db(vp_store *s);

/* Turns the connection's last SQLite error into a sentence ("cannot <what> ...: why") in e,
 * telling busy, read-only and damaged stores apart. Returns VP_ERR_STORE. */
vp_err vp_store_fail(vp_store *s, vp_error *e, const char *what);

/* The integers of the one column of sql's rows (no parameters) into *ids (free()), *n of
 * them; what names the work for vp_store_fail. */
vp_err vp_store_ids(vp_store *s, const char *sql, const char *what, int64_t **ids, size_t *n,
    vp_error *e);

#endif
