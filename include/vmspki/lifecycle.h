/* The nightly job (and `vmspki lifecycle run`): renew what is due, raise and clear alarms.
 *   - the CA: an alarm when it is about to expire (lifecycle.warning_days) or has expired;
 *   - the API server certificate: renewed by its own rule (servercert.h); an alarm if it is
 *     about to expire anyway (an imported one vmspki does not renew);
 *   - component certificates: renewed within the renewal window (component.h);
 *   - device HTTPS certificates that vmspki installed: within lifecycle.renew_days (by default
 *     the warning plus 7 days, the ADM rule) one https-update task is made over those not
 *     already in a task: the engine makes a new key on each camera, as enable does; a failed
 *     renewal raises an alarm (engine.c);
 *   - every other device not in a task gets a device-check task: identified (its state:
 *     reachable, credentials, firmware), and the site CA installed again where vmspki had
 *     put it and it went missing;
 *   - monitored endpoints that are due are checked (endpoint.h).
 * Running it twice, or on two servers at once, never renews a device twice: the task is made
 * in one transaction that skips devices already in a task, and a renewed device is not due. */
#ifndef VMSPKI_LIFECYCLE_H
#define VMSPKI_LIFECYCLE_H

#include <stdint.h>

#include "vmspki/ca.h"
#include "vmspki/err.h"
#include "vmspki/store.h"

typedef struct vp_lifecycle_report {
	int warn_days, renew_days;
	int64_t renewal_task;      /* the https-update task made (0: none was needed) */
	int64_t check_task;        /* the device-check task made (0: no device to check) */
	int devices_due;           /* devices whose certificate is within the renewal window */
	int devices_busy;          /* of those, already in a task (left to it) */
	int server_renewed;
	int components_renewed;
	int endpoints_checked;
	int alarms_raised, alarms_cleared;
	int devices_blocked;       /* due, but a renewal would not extend them: the CA ends first */
	int certs_watched;         /* issued certificates with an owner or --watch looked at */
	int64_t dot1x_tasks[3];    /* the dot1x-update tasks made, one per identity mode */
	int ndot1x_tasks;          /* (0: no 802.1X certificate due) */
	int dot1x_due;             /* devices whose 802.1X certificate is within the window */
	int dot1x_busy;            /* of those, in another task now (renewed on a later night) */
} vp_lifecycle_report;

typedef void (*vp_lifecycle_log_fn)(void *arg, const char *line);

/* Runs the job at time now (0: the current time). ca needs its key for renewals. Failures of
 * one part are logged and raised as alarms; the others still run. */
vp_err vp_lifecycle_run(vp_store *s, const vp_ca *ca, const char *datadir, int64_t now,
    const char *actor, vp_lifecycle_log_fn log, void *log_arg, vp_lifecycle_report *r,
    vp_error *e);

#endif
