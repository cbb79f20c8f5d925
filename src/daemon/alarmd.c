/* The daemon's alarm delivery thread: every VPD_ALARM_INTERVAL_S seconds, or at once when
 * nudged, hands what the alarm outbox holds to the webhook and syslog (vp_alarm_deliver_ex)
 * with its own store handle. A receiver that hangs holds this thread only, for at most
 * VPD_ALARM_TIMEOUT_MS per call: the API and the task engine go on. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "daemon.h"
#include "vmspki/alarm.h"
#include "vmspki/util.h"

#define VPD_ALARM_INTERVAL_S 5
#define VPD_ALARM_TIMEOUT_MS 5000L

struct vpd_alarmd {
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int stop;
	int nudge;
	char *ca_file;      /* the site CA, trusted for an https webhook besides the system's */
	vpd *d;
};

/* Waits for the interval, a nudge or the stop. 1 when stopping. */
static int
pause_(struct vpd_alarmd *a, int seconds)
{
	struct timespec until;
	int stop;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += seconds;
	pthread_mutex_lock(&a->mu);
	while (!a->stop && !a->nudge)
		if (pthread_cond_timedwait(&a->cv, &a->mu, &until) == ETIMEDOUT)
			break;
	a->nudge = 0;
	stop = a->stop;
	pthread_mutex_unlock(&a->mu);
	return stop;
}

static void *
alarmd_main(void *arg)
{
	struct vpd_alarmd *a = arg;
	char said[VP_ERROR_MSG_MAX] = "";
	vp_store *s = NULL;
	vp_alarm_delivery r;
	vp_error e = { 0 };
	int more = 0;

	for (;;) {
		if (!more && pause_(a, VPD_ALARM_INTERVAL_S))
			break;
		more = 0;
		if (s == NULL && vp_store_open(a->d->dbpath, &s, &e) != VP_OK) {
			s = NULL;
			if (strcmp(said, e.msg) != 0)
				vpd_log("alarm delivery: %s; trying again", e.msg);
			snprintf(said, sizeof(said), "%s", e.msg);
			continue;
		}
		if (vp_alarm_deliver_ex(s, VPD_ALARM_TIMEOUT_MS, a->ca_file, &r, &e) != VP_OK) {
			/* A busy store, most likely: said once until it changes. */
			if (strcmp(said, e.msg) != 0)
				vpd_log("alarm delivery: %s; trying again", e.msg);
			snprintf(said, sizeof(said), "%s", e.msg);
			continue;
		}
		said[0] = '\0';
		if (r.delivered > 0)
			vpd_log("alarms: %d event%s delivered to the webhook", r.delivered,
			    r.delivered == 1 ? "" : "s");
		if (r.failed > 0)
			vpd_log("alarms: the webhook did not take an event (%s); it is tried again "
			    "later", r.last_error);
		/* A full batch went out: there may be more due now. */
		more = r.failed == 0 && r.delivered >= VP_ALARM_DELIVER_MAX;
	}
	vp_store_close(s);
	return NULL;
}

int
vpd_alarmd_start(vpd *d, vp_error *e)
{
	struct vpd_alarmd *a = calloc(1, sizeof(*a));
	vp_err rc;

	if (a == NULL)
		return vp_error_set(e, VP_ERR_NOMEM, "out of memory");
	a->d = d;
	pthread_mutex_init(&a->mu, NULL);
	pthread_cond_init(&a->cv, NULL);
	if ((a->ca_file = vp_strdup(vp_datadir_path(d->dd, VP_PATH_CA_CERT))) == NULL) {
		rc = vp_error_set(e, VP_ERR_NOMEM, "out of memory");
		goto fail;
	}
	if (pthread_create(&a->thread, NULL, alarmd_main, a) != 0) {
		rc = vp_error_set(e, VP_ERR_INTERNAL, "cannot start the alarm delivery thread");
		goto fail;
	}
	d->alarmd = a;
	return VP_OK;
fail:
	free(a->ca_file);
	pthread_cond_destroy(&a->cv);
	pthread_mutex_destroy(&a->mu);
	free(a);
	return rc;
}

void
vpd_alarmd_nudge(vpd *d)
{
	struct vpd_alarmd *a = d->alarmd;

	if (a == NULL)
		return;
	pthread_mutex_lock(&a->mu);
	a->nudge = 1;
	pthread_cond_signal(&a->cv);
	pthread_mutex_unlock(&a->mu);
}

void
vpd_alarmd_stop(vpd *d)
{
	struct vpd_alarmd *a = d->alarmd;

	if (a == NULL)
		return;
	pthread_mutex_lock(&a->mu);
	a->stop = 1;
	pthread_cond_signal(&a->cv);
	pthread_mutex_unlock(&a->mu);
	pthread_join(a->thread, NULL);   /* at most one attempt's timeout */
	free(a->ca_file);
	pthread_cond_destroy(&a->cv);
	pthread_mutex_destroy(&a->mu);
	free(a);
	d->alarmd = NULL;
}
