/* The vmspki store: CA material and settings (key_value), issued certificates, and the
 * hash-chained append-only audit log. SQLite (WAL) is the embedded default; PostgreSQL will
 * sit behind the same calls. A vp_store handle belongs to one thread at a time: open one per
 * thread. Writes outside vp_store_begin/commit are each their own transaction. */
#ifndef VMSPKI_STORE_H
#define VMSPKI_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "vmspki/err.h"

typedef struct vp_store vp_store;

/* Opens (creating if needed) the SQLite store at db_path with WAL, synchronous=FULL, a busy
 * timeout and the schema. The database file is created 0600. */
vp_err vp_store_open(const char *db_path, vp_store **out, vp_error *e);
void vp_store_close(vp_store *s);

/* Transactions nest by depth: only the outermost begin/commit touch the database. begin takes
 * the write lock at once (BEGIN IMMEDIATE) so that read-modify-write sequences are safe across
 * processes. rollback undoes the whole outermost transaction. */
vp_err vp_store_begin(vp_store *s, vp_error *e);
vp_err vp_store_commit(vp_store *s, vp_error *e);
void vp_store_rollback(vp_store *s);

/* key_value: binary-safe values. get returns VP_ERR_NOTFOUND when key is absent; *val is a new
 * NUL-terminated buffer (freed by the caller, *len excludes the NUL). */
vp_err vp_store_kv_get(vp_store *s, const char *key, unsigned char **val, size_t *len,
    vp_error *e);
vp_err vp_store_kv_put(vp_store *s, const char *key, const void *val, size_t len, vp_error *e);
vp_err vp_store_kv_delete(vp_store *s, const char *key, vp_error *e);

/* ---- task claims, leases and results (store_claim.c) ---- */
/* What the task engine (engine*.c) reads and writes of the tasks it runs. An engine names itself
 * by an owner string; a task it claims is its own until lease_until (unix seconds), renewed while
 * it runs. All of these run in the caller's transaction when there is one. */

/* *any = 1 if a Queued or Running task (only_task 0: any, else only that one) is claimed by
 * nobody, or by another owner whose lease ended before now. */
vp_err vp_store_claim_wanted(vp_store *s, const char *owner, int64_t now, int64_t only_task,
    int *any, vp_error *e);
/* Calls cb for every Queued or Running task, by id, with its owner ("" when unclaimed) and
 * lease. cb may call the store; a return other than VP_OK stops the walk and is returned. */
typedef vp_err (*vp_store_claim_cb)(int64_t task_id, const char *owner, int64_t lease_until,
    void *arg, vp_error *e);
vp_err vp_store_claim_walk(vp_store *s, vp_store_claim_cb cb, void *arg, vp_error *e);
/* The task's Running devices go back to Pending (an engine that stopped left them). */
vp_err vp_store_claim_resume(vp_store *s, int64_t task_id, vp_error *e);
/* Claims task_id for owner until until (or renews the lease): the task is Running from then,
 * its started_at set the first time. */
vp_err vp_store_lease_take(vp_store *s, int64_t task_id, const char *owner, int64_t until,
    vp_error *e);
/* Who holds the task now: its owner into owner (n bytes; "" when unclaimed or unknown). */
vp_err vp_store_lease_owner(vp_store *s, int64_t task_id, char *owner, size_t n, vp_error *e);
/* Gives a task back: its Running devices to Pending, and the claim if owner holds it. */
vp_err vp_store_lease_release(vp_store *s, int64_t task_id, const char *owner, vp_error *e);
/* Calls cb for at most limit Pending devices of the task, by device id, with what an earlier
 * attempt left (key alias, certificate serial: "" when none). cb may call the store. */
typedef vp_err (*vp_store_pending_cb)(int64_t device_id, const char *key_alias,
    const char *cert_serial, int attempts, void *arg, vp_error *e);
vp_err vp_store_claim_pending(vp_store *s, int64_t task_id, int limit, vp_store_pending_cb cb,
    void *arg, vp_error *e);
/* *task_id = a Queued or Running task other than self (and not a device check) that has the
 * device Pending or Running, or 0. */
vp_err vp_store_claim_busy(vp_store *s, int64_t device_id, int64_t self, int64_t *task_id,
    vp_error *e);
/* The progress or the outcome of one device of a task. Strings are not copied. */
typedef struct vp_store_result {
	int64_t task_id, device_id;
	const char *status;       /* Running, Finished, Failed, Cancelled */
	const char *step;         /* the step reached, or the step that failed */
	const char *error;        /* "" unless ended */
	int retryable;
	int attempts;
	const char *key_alias, *cert_serial;
	int64_t started_at;       /* kept when the row has one already */
	int64_t finished_at;      /* 0 while running */
	int64_t duration_ms;
} vp_store_result;
vp_err vp_store_result_write(vp_store *s, const vp_store_result *r, vp_error *e);
/* Ends the task in state (Finished, Failed, Cancelled) at now, and drops its claim. */
vp_err vp_store_claim_finish(vp_store *s, int64_t task_id, const char *state, int64_t now,
    vp_error *e);
/* Every "component <id>" item of a ca-replace task Failed, with detail, at now. */
vp_err vp_store_claim_components_failed(vp_store *s, int64_t task_id, const char *detail,
    int64_t now, vp_error *e);

/* One issued certificate. Strings are owned by the record (vp_cert_rec_clear frees them). */
typedef struct vp_cert_rec {
	char serial[64];        /* lowercase hex of the serial number, no leading zeros */
	char fingerprint[65];   /* SHA-256 of the DER, lowercase hex */
	char issuer_fp[65];     /* SHA-256 fingerprint of the issuing CA certificate */
	char profile[32];       /* profile name: server, client, device-https, ... */
	char status[16];        /* "valid" or "revoked" */
	char *subject;          /* RFC 2253 one-line subject */
	char *sans;             /* "DNS:a, IP Address:1.2.3.4" (may be "") */
	char *owner_kind;       /* who it belongs to: "", "device", "component", "server", ... */
	char *owner_id;
	char *pem;              /* the certificate alone, PEM */
	int64_t not_before;     /* seconds since the epoch, UTC */
	int64_t not_after;
	int64_t issued_at;
	int64_t revoked_at;     /* 0 unless revoked */
	int revocation_reason;  /* RFC 5280 CRLReason, -1 unless revoked */
} vp_cert_rec;

void vp_cert_rec_clear(vp_cert_rec *r);

/* Inserts a certificate row. A duplicate serial or fingerprint gives VP_ERR_EXISTS. */
vp_err vp_store_cert_insert(vp_store *s, const vp_cert_rec *r, vp_error *e);

/* Fills *out (which the caller clears) for serial (hex, case-insensitive, leading zeros
 * ignored); VP_ERR_NOTFOUND if there is none. */
vp_err vp_store_cert_get(vp_store *s, const char *serial, vp_cert_rec *out, vp_error *e);

typedef struct vp_cert_filter {
	int64_t not_after_before; /* only certificates with not_after < this; 0 = no limit */
	const char *profile;      /* NULL = any */
	const char *owner_kind;   /* NULL = any */
	const char *owner_id;     /* NULL = any */
	const char *issuer_fp;    /* NULL = any */
	int64_t limit;            /* 0 = no limit */
	int64_t offset;
} vp_cert_filter;

/* Calls cb for each matching certificate, ordered by not_after then serial. The record is
 * valid during the call only. A non-zero return from cb stops the walk and is returned. */
typedef int (*vp_cert_cb)(const vp_cert_rec *r, void *arg);
vp_err vp_store_cert_list(vp_store *s, const vp_cert_filter *f, vp_cert_cb cb, void *arg,
    vp_error *e);

/* Number of certificates matching f (limit/offset ignored). */
vp_err vp_store_cert_count(vp_store *s, const vp_cert_filter *f, int64_t *n, vp_error *e);

/* Appends an audit row (actor, action, serial may be NULL, detail may be NULL) whose hash
 * covers its fields and the previous row's hash. Must not contain secrets. Runs in the
 * caller's transaction when there is one. */
vp_err vp_store_audit_append(vp_store *s, const char *actor, const char *action,
    const char *serial, const char *detail, vp_error *e);

/* Recomputes the audit chain. *rows gets the number of rows checked. A broken chain gives
 * VP_ERR_INVALID with the first bad row id in the message and in *bad_id (0 if intact). */
vp_err vp_store_audit_verify(vp_store *s, int64_t *rows, int64_t *bad_id, vp_error *e);

typedef struct vp_audit_rec {
	int64_t id;
	int64_t at;
	const char *actor, *action, *serial, *detail, *hash;
} vp_audit_rec;
typedef int (*vp_audit_cb)(const vp_audit_rec *r, void *arg);
vp_err vp_store_audit_list(vp_store *s, vp_audit_cb cb, void *arg, vp_error *e);

/* API tokens by SHA-256 hash (hex). insert: VP_ERR_EXISTS for a name in use; find and delete:
 * VP_ERR_NOTFOUND. */
vp_err vp_store_token_insert(vp_store *s, const char *name, const char *hash, const char *role,
    vp_error *e);
vp_err vp_store_token_find(vp_store *s, const char *hash, char *name, size_t name_len,
    char *role, size_t role_len, vp_error *e);
vp_err vp_store_token_delete(vp_store *s, const char *name, vp_error *e);
typedef int (*vp_store_token_cb)(const char *name, const char *role, int64_t created_at,
    void *arg);
vp_err vp_store_token_list(vp_store *s, vp_store_token_cb cb, void *arg, vp_error *e);

/* Components (component.h): which certificates each has. get and delete: VP_ERR_NOTFOUND for
 * an unknown id; put inserts or updates (created_at 0: now; an update keeps the first one);
 * list is ordered by id, and a non-zero return from cb stops it and is returned. */
typedef struct vp_store_component {
	char id[65];            /* at most 64 characters (component.h) */
	int server, client;
	int64_t created_at;
} vp_store_component;
vp_err vp_store_component_get(vp_store *s, const char *id, vp_store_component *out,
    vp_error *e);
vp_err vp_store_component_put(vp_store *s, const vp_store_component *c, vp_error *e);
vp_err vp_store_component_delete(vp_store *s, const char *id, vp_error *e);
typedef int (*vp_store_component_cb)(const vp_store_component *c, void *arg);
vp_err vp_store_component_list(vp_store *s, vp_store_component_cb cb, void *arg, vp_error *e);

#endif
