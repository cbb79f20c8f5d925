/* The daemon's task engine thread: runs the engine (engine.h) over the daemon's store until the
 * daemon stops. Devices in the middle when it stops resume at the next start. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "vmspki/device.h"
#include "vmspki/engine.h"
#include "vmspki/util.h"

struct vpd_engine {
	pthread_t thread;
	atomic_int stop;
	atomic_int nudge;
	const vp_sitekey *sitekey;    /* the daemon's (serve.c) */
	char *ca_file;
	vpd *d;
	pthread_mutex_t mu;
	struct held *held;            /* the engine's holds: one per signature in flight (its
	                               * worker signs while its thread holds for other work) */
};

struct held {
	struct held *next;
	vpd_ca_ref *r;
};

static const vp_ca *
hold(void *arg)
{
	struct vpd_engine *g = arg;
	vpd_ca_ref *r = vpd_ca_get(g->d);
	struct held *h;

	if (r == NULL)
		return NULL;
	if ((h = malloc(sizeof(*h))) == NULL) {
		vpd_ca_put(r);
		return NULL;
	}
	h->r = r;
	pthread_mutex_lock(&g->mu);
	h->next = g->held;
	g->held = h;
	pthread_mutex_unlock(&g->mu);
	return r->ca;
}

static void
release(void *arg, const vp_ca *ca)
{
	struct vpd_engine *g = arg;
	struct held **pp, *h = NULL;

	pthread_mutex_lock(&g->mu);
	for (pp = &g->held; *pp != NULL; pp = &(*pp)->next)
		if ((*pp)->r->ca == ca) {
			h = *pp;
			*pp = h->next;
			break;
		}
	pthread_mutex_unlock(&g->mu);
	if (h != NULL) {
		vpd_ca_put(h->r);
		free(h);
	}
}

static void
refresh(void *arg, vp_store *s)
{
	struct vpd_engine *g = arg;

	vpd_ca_refresh(g->d, s);
}

static void
log_line(void *arg, const char *line)
{
	(void)arg;
	vpd_log("%s", line);
}

static void *
engine_main(void *arg)
{
	struct vpd_engine *g = arg;
	vp_error e = { 0 };
	vp_engine_cfg cfg = {
		.db_path = g->d->dbpath, .ca_file = g->ca_file, .sitekey = g->sitekey,
		.ca_hold = hold, .ca_release = release, .ca_refresh = refresh, .ca_arg = g,
		.datadir = g->d->datadir, .stop = &g->stop,
		.nudge = &g->nudge, .log = log_line, .log_arg = g,
		.max_active = g->d->o.max_devices,
	};

	while (!atomic_load(&g->stop)) {
		if (vp_engine_run(&cfg, &e) == VP_OK)
			break;
		/* A store that is busy or a CA not there yet: say so and try again later. */
		vpd_log("task engine: %s; trying again in 10 s", e.msg);
		for (int i = 0; i < 100 && !atomic_load(&g->stop); i++) {
			struct timespec ts = { 0, 100 * 1000 * 1000 };

			nanosleep(&ts, NULL);
		}
	}
	return NULL;
}

int
vpd_engine_start(vpd *d, vp_error *e)
{
	struct vpd_engine *g = calloc(1, sizeof(*g));
	vp_err rc;

	if (g == NULL)
		return vp_error_set(e, VP_ERR_NOMEM, "out of memory");
	g->d = d;
	pthread_mutex_init(&g->mu, NULL);
	if ((g->ca_file = vp_strdup(vp_datadir_path(d->dd, VP_PATH_CA_CERT))) == NULL) {
		rc = vp_error_set(e, VP_ERR_NOMEM, "out of memory");
		goto fail;
	}
	if ((g->sitekey = d->sitekey) == NULL) {
		rc = vp_error_set(e, VP_ERR_PASSPHRASE, "the site data key could not be opened, so "
		    "device passwords cannot be read: tasks cannot run");
		goto fail;
	}
	if (pthread_create(&g->thread, NULL, engine_main, g) != 0) {
		rc = vp_error_set(e, VP_ERR_INTERNAL, "cannot start the task engine thread");
		goto fail;
	}
	d->engine = g;
	return VP_OK;
fail:
	free(g->ca_file);
	pthread_mutex_destroy(&g->mu);
	free(g);
	return rc;
}

void
vpd_engine_nudge(vpd *d)
{
	if (d->engine != NULL)
		atomic_store(&d->engine->nudge, 1);
}

void
vpd_engine_stop(vpd *d)
{
	struct vpd_engine *g = d->engine;

	if (g == NULL)
		return;
	atomic_store(&g->stop, 1);
	pthread_join(g->thread, NULL);
	for (struct held *h = g->held, *n; h != NULL; h = n) {
		n = h->next;
		vpd_ca_put(h->r);
		free(h);
	}
	free(g->ca_file);
	pthread_mutex_destroy(&g->mu);
	free(g);
	d->engine = NULL;
}
