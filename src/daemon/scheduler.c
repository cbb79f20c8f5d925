/* The daemon's scheduler thread: every half minute it checks the monitored endpoints that are
 * due (endpoint.interval), and once a day, at lifecycle.time (local time), it runs the nightly
 * job (lifecycle.h). The day's run is claimed in the store first, so that two daemons on one
 * store, or a restart, never run it twice the same day. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "daemon.h"
#include "vmspki/endpoint.h"
#include "vmspki/lifecycle.h"
#include "vmspki/settings.h"
#include "vmspki/util.h"

#define TICK_S 30
#define LAST_RUN_KEY "lifecycle.last_run"

struct vpd_sched {
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int stop;
	vpd *d;
	char *ca_file;
};

static void
log_line(void *arg, const char *line)
{
	(void)arg;
	vpd_log("nightly job: %s", line);
}

/* Is the nightly job due now, and not run today? Claims today's run when it is (1). */
static int
nightly_claim(vp_store *s, time_t now)
{
	char at[8], today[16], *last = NULL;
	unsigned char *v = NULL;
	size_t len = 0;
	struct tm tm;
	vp_error e = { 0 };
	int due = 0;

	localtime_r(&now, &tm);
	if (vp_setting_get(s, "lifecycle.time", at, sizeof(at), &e) != VP_OK)
		return 0;
	if (tm.tm_hour * 60 + tm.tm_min < atoi(at) * 60 + atoi(at + 3))
		return 0;
	strftime(today, sizeof(today), "%Y-%m-%d", &tm);
	if (vp_store_begin(s, &e) != VP_OK)
		return 0;
	if (vp_store_kv_get(s, LAST_RUN_KEY, &v, &len, &e) == VP_OK)
		last = (char *)v;
	if (last == NULL || strcmp(last, today) != 0) {
		if (vp_store_kv_put(s, LAST_RUN_KEY, today, strlen(today), &e) == VP_OK &&
		    vp_store_commit(s, &e) == VP_OK)
			due = 1;
		else
			vp_store_rollback(s);
	} else {
		vp_store_rollback(s);
	}
	free(v);
	return due;
}

static void
tick(struct vpd_sched *g, vp_store *s)
{
	vp_error e = { 0 };
	time_t now = time(NULL);
	int checked = 0;

	if (vp_endpoint_check_due(s, g->ca_file, (int64_t)now, &checked, &e) != VP_OK)
		vpd_log("cannot check the monitored endpoints: %s", e.msg);
	if (nightly_claim(s, now)) {
		vpd_ca_ref *ca = vpd_ca_get(g->d);
		vp_lifecycle_report r;

		vpd_log("nightly job: starting");
		if (ca == NULL) {
			vpd_log("nightly job: there is no CA");
			return;
		}
		if (vp_lifecycle_run(s, ca->ca, g->d->datadir, (int64_t)now, "daemon", log_line,
		    NULL, &r, &e) != VP_OK)
			vpd_log("nightly job: %s", e.msg);
		else
			vpd_log("nightly job: done (%d device%s due, %d in a task already; %d alarm%s "
			    "raised, %d cleared)", r.devices_due, r.devices_due == 1 ? "" : "s",
			    r.devices_busy, r.alarms_raised, r.alarms_raised == 1 ? "" : "s",
			    r.alarms_cleared);
		vpd_ca_put(ca);
		vpd_engine_nudge(g->d);
		vpd_alarmd_nudge(g->d);
	}
}

static void *
sched_main(void *arg)
{
	struct vpd_sched *g = arg;
	vp_store *s = NULL;
	vp_error e = { 0 };

	if (vp_store_open(g->d->dbpath, &s, &e) != VP_OK) {
		vpd_log("scheduler: %s; the nightly job will not run", e.msg);
		return NULL;
	}
	pthread_mutex_lock(&g->mu);
	while (!g->stop) {
		struct timespec ts;

		pthread_mutex_unlock(&g->mu);
		tick(g, s);
		pthread_mutex_lock(&g->mu);
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += TICK_S;
		while (!g->stop && pthread_cond_timedwait(&g->cv, &g->mu, &ts) == 0)
			;
	}
	pthread_mutex_unlock(&g->mu);
	vp_store_close(s);
	return NULL;
}

int
vpd_sched_start(vpd *d, vp_error *e)
{
	struct vpd_sched *g = calloc(1, sizeof(*g));

	if (g == NULL ||
	    (g->ca_file = vp_strdup(vp_datadir_path(d->dd, VP_PATH_CA_CERT))) == NULL) {
		free(g);
		return vp_error_set(e, VP_ERR_NOMEM, "out of memory");
	}
	g->d = d;
	pthread_mutex_init(&g->mu, NULL);
	pthread_cond_init(&g->cv, NULL);
	if (pthread_create(&g->thread, NULL, sched_main, g) != 0) {
		pthread_cond_destroy(&g->cv);
		pthread_mutex_destroy(&g->mu);
		free(g->ca_file);
		free(g);
		return vp_error_set(e, VP_ERR_INTERNAL, "cannot start the scheduler thread");
	}
	d->sched = g;
	return VP_OK;
}

void
vpd_sched_stop(vpd *d)
{
	struct vpd_sched *g = d->sched;

	if (g == NULL)
		return;
	pthread_mutex_lock(&g->mu);
	g->stop = 1;
	pthread_cond_signal(&g->cv);
	pthread_mutex_unlock(&g->mu);
	pthread_join(g->thread, NULL);
	pthread_cond_destroy(&g->cv);
	pthread_mutex_destroy(&g->mu);
	free(g->ca_file);
	free(g);
	d->sched = NULL;
}
