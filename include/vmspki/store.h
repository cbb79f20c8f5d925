/* The vmspki store: CA material and settings (key_value), issued certificates, the hash-chained
 * append-only audit log, tokens, components, devices, tasks, alarms and endpoints.
 *
 * This header is the whole interface between vmspki and its database, the way sqlite3_vfs is
 * SQLite's to the OS: every SQL statement lives in a store file behind one of these typed calls,
 * and nothing else in vmspki sees the database. SQLite (WAL) is the embedded default
 * (store_sqlite.c and the store_<tables>.c files beside it, docs/architecture.md lists which
 * table is in which file); another backend implements the same calls in files of its own.
 *
 * The contract every backend keeps:
 * - A vp_store handle belongs to one thread at a time: open one per thread. Handles of one
 *   process, and of several processes, may work on the same store at once.
 * - Each call is atomic: it changes everything it says or nothing. vp_store_begin/commit make
 *   one transaction of several calls; begin takes the write lock at once (SQLite BEGIN
 *   IMMEDIATE), so a read-modify-write between begin and commit cannot interleave with another
 *   writer. Transactions nest by depth; rollback undoes the whole outermost one.
 * - Results: VP_OK; VP_ERR_NOTFOUND for a row that is not there (get, delete, update of one row
 *   by id); VP_ERR_EXISTS for a unique key in use; VP_ERR_INVALID for a value the store cannot
 *   hold; VP_ERR_STORE with a sentence for everything else (busy, read-only, damaged), never
 *   with a value from a secret column in it.
 * - Values: times are seconds since the epoch (UTC) as int64_t; ids are int64_t given by the
 *   store; text is UTF-8 without NUL; blobs are binary-safe. Records that own strings have a
 *   *_clear or *_free.
 * - List calls give rows in the order they document, to a callback that gets a record valid for
 *   the call only; a non-zero return stops the walk and is returned. A callback may call other
 *   calls on the same handle (the backend reads or buffers rows so that this is safe).
 */
#ifndef VMSPKI_STORE_H
#define VMSPKI_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "vmspki/err.h"

typedef struct vp_store vp_store;

/* Opens the store at where (vp_store_locate gives it) and brings its schema up to date: a
 * postgresql:// (or postgres://) URI opens the PostgreSQL backend, anything else is the path
 * of a SQLite store (created 0600 if needed, WAL, synchronous=FULL, a busy timeout). */
vp_err vp_store_open(const char *where, vp_store **out, vp_error *e);
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
/* Calls cb for at most limit Pending devices of the task whose id is above after, by device
 * id, with what an earlier attempt left (key alias, certificate serial: "" when none). cb may
 * call the store. */
typedef vp_err (*vp_store_pending_cb)(int64_t device_id, const char *key_alias,
    const char *cert_serial, int attempts, void *arg, vp_error *e);
vp_err vp_store_claim_pending(vp_store *s, int64_t task_id, int64_t after, int limit,
    vp_store_pending_cb cb, void *arg, vp_error *e);
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

/* ---- tasks and their devices (store_task.c) ---- */
/* The rows of tasks, their devices' results and their local items, as task.h's structs; what
 * may be done to a task is task.c's business. Changes run in the caller's transaction when
 * there is one. Walks call cb with a record valid during the call only; a non-zero return
 * from cb stops the walk and is returned. */
struct vp_task;
struct vp_task_result;
struct vp_task_item;

/* Inserts a Queued task with t's kind, concurrency, created_at and options (cn_mode,
 * https_only, timeout_s; a ca-replace task has none); *id gets its id. */
vp_err vp_store_task_insert(vp_store *s, const struct vp_task *t, int64_t *id, vp_error *e);
/* Fills *out with task id and its devices and items counted by status; VP_ERR_NOTFOUND when
 * there is no such task. */
vp_err vp_store_task_get(vp_store *s, int64_t id, struct vp_task *out, vp_error *e);
/* Every task as vp_store_task_get fills it, ordered by id. */
typedef int (*vp_store_task_cb)(const struct vp_task *t, void *arg);
vp_err vp_store_task_list(vp_store *s, vp_store_task_cb cb, void *arg, vp_error *e);
vp_err vp_store_task_set_phase(vp_store *s, int64_t id, int phase, vp_error *e);
/* Asks task id to stop and cancels its Pending devices ("cancelled before it started"); with
 * end set, the task itself becomes Cancelled, finished now. */
vp_err vp_store_task_cancel(vp_store *s, int64_t id, int end, vp_error *e);
/* Puts task id's Failed and Cancelled devices back to Pending and the task back in the queue
 * (Queued, no cancel request, claimed by no engine). */
vp_err vp_store_task_requeue(vp_store *s, int64_t id, vp_error *e);

/* Adds device dev to task (nothing happens when it is there already). */
vp_err vp_store_task_device_add(vp_store *s, int64_t task, int64_t dev, vp_error *e);
/* *task gets a Queued or Running task other than except, device checks aside, in which
 * device dev is Pending or Running; 0 when there is none. */
vp_err vp_store_task_device_busy(vp_store *s, int64_t dev, int64_t except, int64_t *task,
    vp_error *e);
/* The results of task id's devices, ordered by device id (address and MAC "" for a device
 * removed since). */
typedef int (*vp_store_task_result_cb)(const struct vp_task_result *r, void *arg);
vp_err vp_store_task_device_list(vp_store *s, int64_t id, vp_store_task_result_cb cb,
    void *arg, vp_error *e);
/* The ids of task id's Failed and Cancelled devices. */
typedef int (*vp_store_task_id_cb)(int64_t id, void *arg);
vp_err vp_store_task_device_failed(vp_store *s, int64_t id, vp_store_task_id_cb cb, void *arg,
    vp_error *e);

/* Adds item to task at position seq, Pending; an item the task has already is VP_ERR_STORE. */
vp_err vp_store_task_item_add(vp_store *s, int64_t task, int seq, const char *item,
    vp_error *e);
/* Records item's status, detail (NULL: "") and finished_at (0: not finished); an unknown item
 * is not an error. */
vp_err vp_store_task_item_set(vp_store *s, int64_t task, const char *item, const char *status,
    const char *detail, int64_t finished_at, vp_error *e);
/* Task id's items, in the order they were added. */
typedef int (*vp_store_task_item_cb)(const struct vp_task_item *it, void *arg);
vp_err vp_store_task_item_list(vp_store *s, int64_t id, vp_store_task_item_cb cb, void *arg,
    vp_error *e);
/* Puts task id's Failed items back to Pending and the task back to its first phase. */
vp_err vp_store_task_item_retry(vp_store *s, int64_t id, vp_error *e);

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

/* ---- devices (store_device.c) ---- */
/* The devices table (device.h has the row, vp_device, and its callback type; repeated here so
 * that store.h stands alone). insert sets d's id and times and stores the sealed password:
 * VP_ERR_EXISTS when the address and HTTP port are taken. get, find (by address:http_port),
 * find_mac, secret, update_state and delete: VP_ERR_NOTFOUND when there is no such row. */
typedef struct vp_device vp_device;
typedef int (*vp_device_cb)(const vp_device *d, void *arg);
vp_err vp_store_device_insert(vp_store *s, vp_device *d, const unsigned char *secret,
    size_t secret_len, vp_error *e);
vp_err vp_store_device_get(vp_store *s, int64_t id, vp_device *out, vp_error *e);
vp_err vp_store_device_find(vp_store *s, const char *address, int http_port, vp_device *out,
    vp_error *e);
vp_err vp_store_device_find_mac(vp_store *s, const char *mac, vp_device *out, vp_error *e);
/* The row and its sealed password (*secret, *len: freed by the caller). */
vp_err vp_store_device_secret(vp_store *s, int64_t id, vp_device *row, unsigned char **secret,
    size_t *len, vp_error *e);
/* Every row by id; a non-zero return from cb stops the walk and is returned. */
vp_err vp_store_device_list(vp_store *s, vp_device_cb cb, void *arg, vp_error *e);
vp_err vp_store_device_update_state(vp_store *s, const vp_device *d, vp_error *e);
vp_err vp_store_device_delete(vp_store *s, int64_t id, vp_error *e);
/* The id of a queued or running task that holds device id, 0 if none. */
vp_err vp_store_device_task(vp_store *s, int64_t id, int64_t *task, vp_error *e);
/* *yes tells whether there is a device id. */
vp_err vp_store_device_exists(vp_store *s, int64_t id, int *yes, vp_error *e);
/* The ids of every device, or (ours set) of those that hold a certificate of ours, in order,
 * into *ids (free(); NULL when none) and *n. */
vp_err vp_store_device_ids(vp_store *s, int ours, int64_t **ids, size_t *n, vp_error *e);
/* The ids, in order, of the devices the nightly device check looks at: a supported API and
 * not Pending or Running in a Queued or Running task (*ids as for vp_store_device_ids). */
vp_err vp_store_device_to_check(vp_store *s, int64_t **ids, size_t *n, vp_error *e);
/* Calls cb, in order of id, for each pinned device whose certificate of ours ends at or before
 * before; busy says another task (device checks aside) still holds it. A non-zero return from
 * cb stops the walk and is returned. */
typedef int (*vp_store_device_due_cb)(int64_t id, int busy, void *arg);
vp_err vp_store_device_to_renew(vp_store *s, int64_t before, vp_store_device_due_cb cb,
    void *arg, vp_error *e);

/* ---- alarms and their outbox (store_alarm.c) ---- */
/* alarm.h's vp_alarm is a row of the alarms table; an outbox row is one event (raised,
 * cleared) of an alarm still to be delivered to the webhook or to syslog. These calls store
 * what they are given: alarm.c checks it and decides, and runs in one transaction whatever
 * must change together. A non-zero return from a callback stops the walk and is returned (e
 * untouched). */
typedef struct vp_alarm vp_alarm;
typedef int (*vp_store_alarm_cb)(const vp_alarm *a, void *arg);

/* Alarm id into *out; VP_ERR_NOTFOUND when there is none. */
vp_err vp_store_alarm_get(vp_store *s, int64_t id, vp_alarm *out, vp_error *e);
/* The raised alarm of (kind, subject) into *out and *found 1; *found 0 when none is raised. */
vp_err vp_store_alarm_find_raised(vp_store *s, const char *kind, const char *subject,
    vp_alarm *out, int *found, vp_error *e);
/* Every alarm, or the raised ones only (active_only), newest first. */
vp_err vp_store_alarm_list(vp_store *s, int active_only, vp_store_alarm_cb cb, void *arg,
    vp_error *e);
/* Inserts a raised alarm (a's kind, subject, severity, message and raised_at); a->id gets its
 * id. Two raised alarms of one (kind, subject) are refused (VP_ERR_STORE). */
vp_err vp_store_alarm_insert(vp_store *s, vp_alarm *a, vp_error *e);
/* Writes a's message and severity onto alarm a->id. */
vp_err vp_store_alarm_reword(vp_store *s, const vp_alarm *a, vp_error *e);
/* Alarm id is cleared since at. */
vp_err vp_store_alarm_set_cleared(vp_store *s, int64_t id, int64_t at, vp_error *e);
/* Alarm id was acknowledged at at by by. */
vp_err vp_store_alarm_set_acked(vp_store *s, int64_t id, int64_t at, const char *by,
    vp_error *e);

/* One outbox row. */
typedef struct vp_store_alarm_event {
	int64_t id;
	int attempts;           /* webhook attempts made so far */
	char event[16];         /* "raised", "cleared" */
	char *payload;          /* the JSON to send; who owns it: see each call */
} vp_store_alarm_event;
typedef int (*vp_store_alarm_event_cb)(const vp_store_alarm_event *ev, void *arg);

/* Queues event of alarm alarm_id, payload its JSON (copied), to be sent and logged. */
vp_err vp_store_alarm_outbox_add(vp_store *s, int64_t alarm_id, const char *event,
    const char *payload, int64_t created_at, vp_error *e);
/* Syslog's side. pending: *any 1 when some row is still to be logged (a read only). list: those
 * rows, oldest first, at most limit (payload valid during the call only). done: row id was
 * logged. skip: every row still to be logged will not be (syslog is off). */
vp_err vp_store_alarm_outbox_syslog_pending(vp_store *s, int *any, vp_error *e);
vp_err vp_store_alarm_outbox_syslog_list(vp_store *s, int limit, vp_store_alarm_event_cb cb,
    void *arg, vp_error *e);
vp_err vp_store_alarm_outbox_syslog_done(vp_store *s, int64_t id, vp_error *e);
vp_err vp_store_alarm_outbox_syslog_skip(vp_store *s, vp_error *e);
/* The webhook's side. due: *any 1 when some row is to be sent and due at now (a read only).
 * next: the oldest row due at now whose alarm has no earlier row still to send into *out
 * (payload a new string: free() it) and *found 1; *found 0 when there is none. */
vp_err vp_store_alarm_outbox_webhook_due(vp_store *s, int64_t now, int *any, vp_error *e);
vp_err vp_store_alarm_outbox_next(vp_store *s, int64_t now, vp_store_alarm_event *out,
    int *found, vp_error *e);
/* Row id is not to be tried before next_at (a claim's lease; 0: due now). */
vp_err vp_store_alarm_outbox_lease(vp_store *s, int64_t id, int64_t next_at, vp_error *e);
/* An attempt on row id, counted: sent (the receiver took it), or failed for why (tried again
 * from next_at). */
vp_err vp_store_alarm_outbox_sent(vp_store *s, int64_t id, vp_error *e);
vp_err vp_store_alarm_outbox_failed(vp_store *s, int64_t id, int64_t next_at, const char *why,
    vp_error *e);
/* Every row still to be sent will not be, for why (no webhook is configured). */
vp_err vp_store_alarm_outbox_webhook_skip(vp_store *s, const char *why, vp_error *e);
/* Removes the rows sent (or skipped) and logged (or skipped) that were queued before before. */
vp_err vp_store_alarm_outbox_purge(vp_store *s, int64_t before, vp_error *e);

/* ---- monitored endpoints (store_endpoint.c) ---- */
/* endpoint.h's vp_endpoint is a row of the endpoints table; chain_pem is read by get only.
 * endpoint.c checks what is stored and writes a check's result with its alarms in one
 * transaction. */
typedef struct vp_endpoint vp_endpoint;
typedef int (*vp_store_endpoint_cb)(const vp_endpoint *ep, void *arg);

/* Endpoint id into *out (cleared first), chain_pem a new string or NULL when none was stored
 * (vp_endpoint_clear frees it); VP_ERR_NOTFOUND when there is none. */
vp_err vp_store_endpoint_get(vp_store *s, int64_t id, vp_endpoint *out, vp_error *e);
/* Every endpoint by id, without chain_pem; a non-zero return from cb stops the walk and is
 * returned (e untouched). */
vp_err vp_store_endpoint_list(vp_store *s, vp_store_endpoint_cb cb, void *arg, vp_error *e);
/* The id of the endpoint at ep's host, port and sni into *id; 0 when there is none. */
vp_err vp_store_endpoint_find(vp_store *s, const vp_endpoint *ep, int64_t *id, vp_error *e);
/* Inserts ep's host, port, sni and added_at; ep->id gets its id. */
vp_err vp_store_endpoint_insert(vp_store *s, vp_endpoint *ep, vp_error *e);
/* Writes what a check found (checked_at to chain_pem) onto row ep->id; VP_ERR_NOTFOUND when
 * the row is gone. */
vp_err vp_store_endpoint_update(vp_store *s, const vp_endpoint *ep, vp_error *e);
/* VP_ERR_NOTFOUND when there is no endpoint id. */
vp_err vp_store_endpoint_delete(vp_store *s, int64_t id, vp_error *e);
/* The ids of the endpoints with checked_at + interval <= now, least recently checked first,
 * into *ids (free() it), *n of them. */
vp_err vp_store_endpoint_due(vp_store *s, int64_t interval, int64_t now, int64_t **ids,
    size_t *n, vp_error *e);

/* ---- CA renewal (issue 19, item 5; store_sqlite.c) ---- */
/* Every certificate recorded as issued by the CA certificate with fingerprint from_fp is
 * recorded as issued by to_fp (the renewed certificate of the same key and subject, which
 * they verify against). In the caller's transaction. */
vp_err vp_store_cert_move_issuer(vp_store *s, const char *from_fp, const char *to_fp,
    vp_error *e);

/* ---- devices, a page at a time, and their summary (store_device.c, for the web UI) ---- */
/* What a page of the inventory holds: the devices that match every filter given, sorted by one
 * column (then by id, so that pages do not overlap), limit of them from offset. */
typedef enum vp_device_sort {
	VP_DEVSORT_ID = 0, VP_DEVSORT_ADDRESS, VP_DEVSORT_NAME, VP_DEVSORT_MAC, VP_DEVSORT_MODEL,
	VP_DEVSORT_FIRMWARE, VP_DEVSORT_STATUS, VP_DEVSORT_HTTPS, VP_DEVSORT_EXPIRY,
	VP_DEVSORT_COUNT
} vp_device_sort;

typedef struct vp_device_query {
	const char *text;        /* in the address, name, MAC, model or firmware (any case);
	                          * NULL or "": any */
	const char *status;      /* the status exactly; NULL: any ("" those never probed) */
	const char *https_state; /* the HTTPS state exactly; NULL: any */
	vp_device_sort sort;
	int desc;
	int64_t limit;           /* 0: all */
	int64_t offset;
	int64_t now;             /* the status filtered, sorted and counted is the one shown at */
	int64_t warn_s;          /* now with this warning window (vp_device_status_at) */
} vp_device_query;

/* Calls cb for the devices of the page q in its order (a non-zero return stops the walk and
 * is returned) and sets *total to how many match the filters, the page aside. */
vp_err vp_store_device_page(vp_store *s, const vp_device_query *q, vp_device_cb cb, void *arg,
    int64_t *total, vp_error *e);
/* Calls cb once for each (status shown at now with the warning window warn_s, HTTPS state)
 * pair the inventory holds, with its count. */
typedef int (*vp_store_device_count_cb)(const char *status, const char *https_state,
    int64_t n, void *arg);
vp_err vp_store_device_counts(vp_store *s, int64_t now, int64_t warn_s,
    vp_store_device_count_cb cb, void *arg, vp_error *e);
/* The devices holding a certificate of ours by when it ends: *expired at or before now,
 * week[i] in (now + i weeks, now + i + 1 weeks] for i < weeks, *later beyond. */
vp_err vp_store_device_expiry_weeks(vp_store *s, int64_t now, int weeks, int64_t *week,
    int64_t *expired, int64_t *later, vp_error *e);
/* ---- where the store is: SQLite or PostgreSQL (store_core.c, issue 22) ---- */
/* A site keeps its store in its data directory (SQLite, the default) or in a PostgreSQL
 * database that several vmspki servers share. */
/* 1 when where names a PostgreSQL store (postgresql:// or postgres://). */
int vp_store_where_is_pg(const char *where);
/* 1 when where is a PostgreSQL URI that holds a password (user:password@ or password=). */
int vp_store_where_has_password(const char *where);
/* where as it may be shown in a log, an error or a listing: a URI's password as ***. A new
 * string (NULL when out of memory). */
char *vp_store_where_show(const char *where);
/* The store to open, into *where (a new string: vp_secret_free_str it): given (--store:
 * postgresql://... without a password, or sqlite:FILE) when not NULL, else the one line of
 * setting_file (the data directory's "store": it may hold a password, being 0600) when it
 * exists, else sqlite_path. */
vp_err vp_store_locate(const char *given, const char *setting_file, const char *sqlite_path,
    char **where, vp_error *e);
/* "sqlite" or "postgresql". */
const char *vp_store_backend_name(const vp_store *s);

/* ---- which server works on a device (store_device.c, issue 22) ---- */
/* Calls cb, by device id, for every device Running in a Running task, with the engine that
 * holds the task ("host:pid:start", vp_store_lease_owner's words). A non-zero return from cb
 * stops the walk and is returned. */
typedef int (*vp_store_device_server_cb)(int64_t device_id, const char *server, void *arg);
vp_err vp_store_device_servers(vp_store *s, vp_store_device_server_cb cb, void *arg,
    vp_error *e);

/* ---- moving a site between stores (store_copy.c, issue 22) ---- */
/* Copies every row of from into to (both opened, so both at this schema version) in one
 * transaction of to: VP_ERR_EXISTS, nothing copied, when to has any row already; the audit
 * chain is verified in to before the commit. *rows gets the rows copied. */
vp_err vp_store_copy(vp_store *from, vp_store *to, int64_t *rows, vp_error *e);

/* ---- IEEE 802.1X (store_dot1x.c) ---- */
/* Every device's 802.1X as the dot1x tasks left it (dot1x.h: vp_dot1x_state), by device id. */
struct vp_dot1x_state;
vp_err vp_store_dot1x_states(vp_store *s, struct vp_dot1x_state **out, size_t *n,
    vp_error *e);

#endif
