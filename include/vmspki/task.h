/* Tasks: one operation (enable or update HTTPS) over a set of devices, with a result per
 * device. A task lives in the store, so it survives a restart; the engine (engine.h) runs it. */
#ifndef VMSPKI_TASK_H
#define VMSPKI_TASK_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "vmspki/err.h"
#include "vmspki/store.h"

#define VP_TASK_HTTPS_ENABLE "https-enable"
#define VP_TASK_HTTPS_UPDATE "https-update"
#define VP_TASK_CA_REPLACE   "ca-replace"    /* made by vp_ca_init/import with replace */
#define VP_TASK_DEVICE_CHECK "device-check"  /* the nightly job: identify each device (its
                                              * state), re-install the CA where missing */
#define VP_TASK_DOT1X_ENABLE "dot1x-enable"  /* IEEE 802.1X: a client certificate made on the
                                              * device, the EAP CA, 802.1X configured and on */
#define VP_TASK_DOT1X_UPDATE "dot1x-update"  /* the same with a new certificate */

/* Phases of a ca-replace task (vp_task.phase). */
#define VP_TASK_PHASE_LOCAL   0   /* components and the server certificate: new CA trusted,
                                   * then re-issued */
#define VP_TASK_PHASE_DEVICES 1   /* devices: new CA added, new certificate, old CA removed */
#define VP_TASK_PHASE_DONE    2   /* the old CA retired from the site's trust */

/* The local items of a ca-replace task, besides "component <id>". */
#define VP_TASK_ITEM_SERVER "server certificate"
#define VP_TASK_ITEM_OLD_CA "old CA"

/* Task states; a device result is Pending, Running, Finished, Failed or Cancelled. */
#define VP_TASK_QUEUED    "Queued"
#define VP_TASK_RUNNING   "Running"
#define VP_TASK_FINISHED  "Finished"   /* every device Finished */
#define VP_TASK_FAILED    "Failed"     /* done, with at least one device Failed */
#define VP_TASK_CANCELLED "Cancelled"

#define VP_TASK_CONCURRENCY_DEFAULT 50
#define VP_TASK_CONCURRENCY_MAX 1000

typedef struct vp_task_opts {
	const char *kind;         /* VP_TASK_HTTPS_ENABLE or VP_TASK_HTTPS_UPDATE */
	const char *cn_mode;      /* NULL: per device, else the site setting; "ip" or "fqdn";
	                           * 802.1X tasks: the identity, "mac" (default), "serial" or
	                           * "name" */
	int https_only;           /* set the connection policy to HTTPS only */
	int concurrency;          /* devices at once; 0: VP_TASK_CONCURRENCY_DEFAULT */
	int timeout_s;            /* each request to a device; 0: the engine's default (30 s) */
	int days;                 /* validity of the device certificates; 0: device.days */
} vp_task_opts;

typedef struct vp_task {
	int64_t id;
	char kind[32];
	char state[16];
	char cn_mode[8];          /* 802.1X tasks: the identity mode */
	int https_only;
	int concurrency;
	int timeout_s;
	int cancel;
	int phase;                /* VP_TASK_PHASE_* for ca-replace; 0 for the others */
	int64_t created_at, started_at, finished_at;
	/* device results by status */
	int64_t total, pending, running, finished, failed, cancelled;
	/* local items (ca-replace): how many, how many failed */
	int64_t items, items_failed;
	int days;                 /* vp_task_opts.days (0: the device.days setting) */
} vp_task;

/* A local item of a task (a component, the server certificate, the old CA). */
typedef struct vp_task_item {
	char item[96];
	char status[16];          /* Pending, Finished, Failed */
	char detail[512];
	int64_t finished_at;
} vp_task_item;

typedef struct vp_task_result {
	int64_t task_id;
	int64_t device_id;
	char address[256];        /* of the device, for display ("" if it was removed) */
	char mac[32];
	char status[16];
	char step[24];            /* last step completed, or the step that failed */
	char error[1024];         /* the device's own words, or ours */
	int retryable;
	int attempts;
	char cert_serial[64];
	char key_alias[128];
	int64_t started_at, finished_at, duration_ms;
} vp_task_result;

/* Creates a task over n devices (all devices when all is set) and returns its id. Unknown
 * device ids are refused (VP_ERR_NOTFOUND names the first); a device with a task still
 * running is refused too (VP_ERR_EXISTS names the task). One transaction, one audit row. */
vp_err vp_task_create(vp_store *s, const vp_task_opts *o, const int64_t *ids, size_t n, int all,
    const char *actor, int64_t *id, vp_error *e);

vp_err vp_task_get(vp_store *s, int64_t id, vp_task *out, vp_error *e);
typedef int (*vp_task_cb)(const vp_task *t, void *arg);
vp_err vp_task_list(vp_store *s, vp_task_cb cb, void *arg, vp_error *e);
typedef int (*vp_task_result_cb)(const vp_task_result *r, void *arg);
vp_err vp_task_results(vp_store *s, int64_t id, vp_task_result_cb cb, void *arg, vp_error *e);

/* Creates the ca-replace task, inside the caller's transaction (vp_ca_init/import with
 * replace): every device with a certificate of ours (HTTPS enabled by vmspki), an item per
 * component, the server certificate and the old CA. VP_ERR_EXISTS when a device is in another
 * unfinished task. */
vp_err vp_task_create_ca_replace(vp_store *s, const char *actor, int64_t *id, vp_error *e);

typedef int (*vp_task_item_cb)(const vp_task_item *it, void *arg);
vp_err vp_task_items(vp_store *s, int64_t id, vp_task_item_cb cb, void *arg, vp_error *e);
/* Records the outcome of one item (status Finished, Failed or Pending), in its own
 * transaction or the caller's. */
vp_err vp_task_item_set(vp_store *s, int64_t id, const char *item, const char *status,
    const char *detail, vp_error *e);
/* Moves task id to phase (in its own transaction or the caller's). */
vp_err vp_task_set_phase(vp_store *s, int64_t id, int phase, vp_error *e);

/* Asks the engine to stop the task: devices not started become Cancelled, devices in the middle
 * stop at the next step and are put back as they were. */
vp_err vp_task_cancel(vp_store *s, int64_t id, const char *actor, vp_error *e);
/* Puts the task's Failed (and Cancelled) devices back to Pending and queues the task again. */
vp_err vp_task_retry_failed(vp_store *s, int64_t id, const char *actor, vp_error *e);

/* Is the task done (Finished, Failed or Cancelled)? */
int vp_task_done(const vp_task *t);

/* JSON for the CLI and the API. */
json_t *vp_json_task(const vp_task *t);
/* Every task as vp_json_task appended to array (the CLI's --json and the API's list).
 * VP_ERR_NOMEM when out of memory (e not set), else the store's. */
vp_err vp_task_list_json(vp_store *s, json_t *array, vp_error *e);
json_t *vp_json_task_result(const vp_task_result *r);
json_t *vp_json_task_item(const vp_task_item *it);
/* The task's items as a JSON array (empty for tasks without any); NULL on error. */
json_t *vp_json_task_items(vp_store *s, int64_t id, vp_error *e);
/* Task id as vp_json_task with its "results" (vp_json_task_result per device) and, for a task
 * with items, its "items" (vp_json_task_items): `task show --json` and GET /api/v1/tasks/ID.
 * *out is the caller's. VP_ERR_NOMEM when out of memory (e not always set), else the error
 * of the task's lookup (VP_ERR_NOTFOUND) or of the store. */
vp_err vp_task_show_json(vp_store *s, int64_t id, json_t **out, vp_error *e);

/* ---- CA renewal (issue 19, item 5) ---- */
#define VP_TASK_CA_RENEW "ca-renew"    /* made by vp_ca_renew: the renewed CA certificate
                                        * to the devices and components of the old one */
/* Creates the ca-renew task, inside the caller's transaction (vp_ca_renew): every device with
 * a certificate of ours and an item per component and for the old CA certificate. */
vp_err vp_task_create_ca_renew(vp_store *s, const char *actor, int64_t *id, vp_error *e);
/* Is kind one of the CA's own tasks (a replacement or a renewal, with phases and items)? */
int vp_task_kind_is_ca(const char *kind);

/* ---- device discovery (issue 19, item 8; discover.h) ---- */
#define VP_TASK_DEVICE_DISCOVER "device-discover"   /* a discovery's record: finished when
                                                     * made, one item per device found */

#endif
