/* Alarms: conditions an operator must see (a CA near its end, a renewal that failed, a device
 * unreachable for renewal, an endpoint's certificate about to expire). An alarm is raised once
 * per (kind, subject) while the condition lasts, cleared when it ends, and acknowledged by an
 * operator. Each raise and clear is delivered to the configured webhook (JSON POST, retried,
 * from an outbox in the store) and to syslog, exactly once. */
#ifndef VMSPKI_ALARM_H
#define VMSPKI_ALARM_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "vmspki/err.h"
#include "vmspki/store.h"

/* Kinds. */
#define VP_ALARM_CA_EXPIRING        "ca-expiring"
#define VP_ALARM_CA_EXPIRED         "ca-expired"
#define VP_ALARM_RENEWAL_FAILED     "renewal-failed"
#define VP_ALARM_DEVICE_UNREACHABLE "device-unreachable"
#define VP_ALARM_ENDPOINT_EXPIRING  "endpoint-expiring"
#define VP_ALARM_ENDPOINT_EXPIRED   "endpoint-expired"
#define VP_ALARM_ENDPOINT_UNTRUSTED "endpoint-untrusted"
#define VP_ALARM_ENDPOINT_DOWN      "endpoint-unreachable"
#define VP_ALARM_CERT_EXPIRING      "certificate-expiring"   /* server, component */
#define VP_ALARM_CERT_EXPIRED       "certificate-expired"
#define VP_ALARM_CA_LIMITS_RENEWAL  "ca-limits-renewal"      /* device certificates due that
                                                              * a renewal would not extend */

typedef enum vp_alarm_severity { VP_SEV_WARNING = 1, VP_SEV_CRITICAL } vp_alarm_severity;

typedef struct vp_alarm {
	int64_t id;
	char kind[40];
	char subject[160];        /* what it is about: "ca", "device:7", "endpoint:nas:443" */
	vp_alarm_severity severity;
	char message[512];
	char state[16];           /* "raised", "cleared" */
	int64_t raised_at, cleared_at, acked_at;
	char acked_by[128];
} vp_alarm;

/* Raises (kind, subject) unless it is already raised, in which case only its message and
 * severity are brought up to date (no new delivery). *raised tells whether it was new. */
vp_err vp_alarm_raise(vp_store *s, const char *kind, const char *subject,
    vp_alarm_severity sev, const char *message, int *raised, vp_error *e);
/* Clears (kind, subject) if raised (a delivery is queued); nothing if it is not. */
vp_err vp_alarm_clear(vp_store *s, const char *kind, const char *subject, int *cleared,
    vp_error *e);
vp_err vp_alarm_ack(vp_store *s, int64_t id, const char *actor, vp_error *e);
typedef int (*vp_alarm_cb)(const vp_alarm *a, void *arg);
/* active_only: raised ones only; else every alarm, newest first. */
vp_err vp_alarm_list(vp_store *s, int active_only, vp_alarm_cb cb, void *arg, vp_error *e);
json_t *vp_json_alarm(const vp_alarm *a);
/* The alarms of vp_alarm_list as vp_json_alarm appended to array (the CLI's --json and the
 * API's list). VP_ERR_NOMEM when out of memory (e not set), else the store's. */
vp_err vp_alarm_list_json(vp_store *s, int active_only, json_t *array, vp_error *e);
/* One alarm by id into *out; VP_ERR_NOTFOUND when there is none. */
vp_err vp_alarm_get(vp_store *s, int64_t id, vp_alarm *out, vp_error *e);
/* "warning", "critical". */
const char *vp_alarm_severity_name(vp_alarm_severity sev);

/* Delivers what the outbox holds to the webhook (setting alarm.webhook, "" = none) and syslog:
 * each event once, retried with back-off when the receiver fails or times out (timeout_ms per
 * attempt, so that a dead receiver never blocks the caller for long). Returns how many were
 * delivered. */
vp_err vp_alarm_deliver(vp_store *s, long timeout_ms, int *delivered, vp_error *e);

/* The same with more said: ca_file (may be NULL), a PEM file of CA certificates trusted for
 * an https webhook in addition to the system's (the site CA, DATADIR/certs/ca.cert.pem), and
 * what happened in *out. Each due row is claimed in a transaction before it is sent, so two
 * processes on one store never send it twice; events of one alarm go out in order. A call
 * makes at most VP_ALARM_DELIVER_MAX attempts and stops at the first that fails, so that a
 * dead receiver costs it at most timeout_ms. Never call it inside a transaction. */
#define VP_ALARM_DELIVER_MAX 50
typedef struct vp_alarm_delivery {
	int delivered;          /* events the webhook took (2xx) */
	int failed;             /* attempts that failed (retried after a back-off) */
	int logged;             /* events written to syslog */
	char last_error[256];   /* why the last failed attempt failed (never the URL) */
} vp_alarm_delivery;
vp_err vp_alarm_deliver_ex(vp_store *s, long timeout_ms, const char *ca_file,
    vp_alarm_delivery *out, vp_error *e);

#endif
