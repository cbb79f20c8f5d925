/*
 * The task engine. One thread drives every device of the tasks it has claimed through the
 * step order of device-api.md:
 *
 *   identify -> install-ca -> create-key -> sign -> install-certificate -> bind -> verify
 *   -> cleanup [-> remove-old-ca]
 *
 * Each step is one or more driver operations (driver.h), each operation a few HTTP requests
 * sent through one curl multi handle (engine_net.c, behind the eng_net table that the unit
 * test replaces), so a thousand cameras need no thousand threads. The engine never blocks on
 * a device: while one camera makes its key, the others go on.
 *
 * This file is the loop: each turn it claims tasks and renews its leases (engine_claim.c),
 * takes Pending devices, decides what a failed step leads to, takes back the certificates
 * signed on the worker thread (offload.c: an RSA-4096 signature would stall every other
 * camera) and starts what can go on (engine_job.c, the step machine), writes the turn's
 * results in one transaction (engine_commit.c) and hands the answers that came in back to
 * their devices, whose next requests go out in the same turn; a task that another engine took
 * over (our lease ran out) is dropped without a further write. A CA replacement adds phases of
 * its own before and after the devices (careplace.c).
 */
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "engine_internal.h"
#include "internal.h"
#include "vmspki/datadir.h"
#include "vmspki/issue.h"
#include "vmspki/settings.h"
#include "vmspki/util.h"

int64_t
eng_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
eng_log(engine *g, const char *fmt, ...)
{
	char line[1400];
	va_list ap;

	if (g->cfg->log == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	g->cfg->log(g->cfg->log_arg, line);
}

/* Makes sure the engine signs with, installs and verifies against the CA the store holds now
 * (a replacement may have changed it since the engine started). */
vp_err
eng_ca_check(engine *g, vp_error *e)
{
	const vp_ca *ca;
	int same;

	if (g->cfg->ca_refresh != NULL)
		g->cfg->ca_refresh(g->cfg->ca_arg, g->s);
	if ((ca = g->cfg->ca_hold(g->cfg->ca_arg)) == NULL)
		return vp_error_set(e, VP_ERR_NOTFOUND, "the CA is not loaded");
	same = strcmp(vp_ca_fingerprint(ca), g->ca_fp) == 0;
	g->cfg->ca_release(g->cfg->ca_arg, ca);
	if (same)
		return VP_OK;
	free(g->ca_pem);
	free(g->chain_pem);
	g->ca_pem = g->chain_pem = NULL;
	return eng_ca_setup(g, e);
}

/* The certificate of the CA and what follows a device certificate in its chain. */
vp_err
eng_ca_setup(engine *g, vp_error *e)
{
	const vp_ca *ca = g->cfg->ca_hold(g->cfg->ca_arg);
	STACK_OF(X509) *chain;
	size_t len;
	vp_err rc;

	if (ca == NULL)
		return vp_error_set(e, VP_ERR_NOTFOUND, "there is no CA to sign device "
		    "certificates with: create or import one first");
	if ((rc = vp_x509_to_pem(vp_ca_cert(ca), &g->ca_pem, &len, e)) != VP_OK)
		goto out;
	snprintf(g->ca_fp, sizeof(g->ca_fp), "%s", vp_ca_fingerprint(ca));
	snprintf(g->ca_alias, sizeof(g->ca_alias), "vmspki-ca-%.12s", g->ca_fp);
	/* A root is not sent by servers; an intermediate CA is, with what is above it but the
	 * root. */
	if (vp_ca_is_root(ca)) {
		g->chain_pem = strdup("");
	} else {
		if ((chain = sk_X509_new_null()) == NULL ||
		    sk_X509_push(chain, vp_ca_cert(ca)) <= 0) {
			sk_X509_free(chain);
			rc = vp_error_set(e, VP_ERR_NOMEM, "out of memory");
			goto out;
		}
		for (int i = 0; i < sk_X509_num(vp_ca_chain(ca)); i++) {
			X509 *x = sk_X509_value(vp_ca_chain(ca), i);

			if (X509_check_issued(x, x) != X509_V_OK)
				sk_X509_push(chain, x);
		}
		rc = vp_x509_chain_to_pem(chain, &g->chain_pem, &len, e);
		sk_X509_free(chain);
		if (rc != VP_OK)
			goto out;
	}
	if (g->chain_pem == NULL) {
		rc = vp_error_set(e, VP_ERR_NOMEM, "out of memory");
		goto out;
	}
	/* The CA being replaced, if any: the devices are rid of it. */
	{
		vp_ca *prev = NULL;
		vp_error pe = { 0 };

		g->old_fp[0] = '\0';
		if (vp_ca_previous_load(g->s, &prev, &pe) == VP_OK)
			snprintf(g->old_fp, sizeof(g->old_fp), "%s", vp_ca_fingerprint(prev));
		vp_ca_free(prev);
	}
out:
	g->cfg->ca_release(g->cfg->ca_arg, ca);
	return rc;
}

/* Opens the store, loads the CA and the settings, opens the network and makes the first
 * claim. */
static vp_err
engine_open(engine *g, const vp_engine_cfg *cfg, const eng_net *net, const vp_driver *drv,
    vp_error *e)
{
	vp_err rc;

	memset(g, 0, sizeof(*g));
	g->cfg = cfg;
	g->net = net;
	g->driver = drv;
	g->max_active = cfg->max_active > 0 ? cfg->max_active : VP_ENGINE_MAX_ACTIVE_DEFAULT;
	snprintf(g->ca_pem_path, sizeof(g->ca_pem_path), "%s", cfg->ca_file);
	if (cfg->datadir != NULL) {
		char *chain = vp_datadir_join(cfg->datadir, VP_PATH_CA_CHAIN);

		if (chain == NULL)
			return vp_error_set(e, VP_ERR_NOMEM, "out of memory");
		snprintf(g->verify_path, sizeof(g->verify_path), "%s", chain);
		free(chain);
	} else {
		snprintf(g->verify_path, sizeof(g->verify_path), "%s", cfg->ca_file);
	}
	eng_make_instance(g);
	if ((rc = vp_store_open(cfg->db_path, &g->s, e)) != VP_OK)
		return rc;
	if (cfg->max_active <= 0) {
		long m = VP_ENGINE_MAX_ACTIVE_DEFAULT;

		if ((rc = vp_setting_get_int(g->s, "engine.max_devices", &m, e)) != VP_OK)
			return rc;
		g->max_active = (int)m;
	}
	if ((rc = eng_ca_setup(g, e)) != VP_OK)
		return rc;
	if ((rc = g->net->open(g, e)) != VP_OK)
		return rc;
	g->net_open = 1;
	eng_signer_start(g);
	return eng_claim(g, 1, e);
}

/* Writes the turn's progress when it is due or something waits for it. */
static void
engine_commit(engine *g)
{
	vp_error e = { 0 };
	int urgent = 0;

	/* Progress is written in one transaction every FLUSH_MS (a step a device resumes from
	 * is redone safely); a signed certificate, which must be recorded before it is
	 * installed, is written at once. */
	for (job *j = g->jobs; j != NULL; j = j->next)
		urgent |= j->issued != NULL;
	for (etask *t = g->tasks; t != NULL; t = t->next)
		urgent |= t->done_loading && t->active == 0;
	urgent |= g->loaded;
	g->loaded = 0;
	if (!urgent && eng_now_ms() - g->last_flush_ms < FLUSH_MS)
		return;
	if (eng_flush(g, &e) != VP_OK) {
		/* What depends on the write waits; try again next turn. */
		eng_log(g, "cannot record the tasks' progress (will retry): %s", e.msg);
		return;
	}
	g->last_flush_ms = eng_now_ms();
	eng_drop_lost(g);
	for (etask *t = g->tasks; t != NULL; t = t->next)
		if (t->retire)
			eng_retire_old_ca(g, t);
	eng_jobs_reap(g);
	eng_tasks_reap(g);
}

/* How long the loop may sleep: until answers come, a job can go on (now, or after its pause),
 * progress is due to be written, or the next poll. */
static int
engine_wait_ms(engine *g)
{
	int wait = POLL_MS;
	int64_t tnow = eng_now_ms();

	for (job *j = g->jobs; j != NULL; j = j->next) {
		int64_t d = WAIT_MAX_MS;

		if (j->error[0] != '\0' || (j->ready && !j->ended))
			d = j->wake_ms - tnow;
		if ((j->dirty || j->device_dirty || j->ended) &&
		    g->last_flush_ms + FLUSH_MS - tnow < d)
			d = g->last_flush_ms + FLUSH_MS - tnow;
		if (d < wait)
			wait = d > 0 ? (int)d : 0;
	}
	if (g->ramping && wait > RAMP_STEP_MS)
		wait = RAMP_STEP_MS;
	g->ramping = 0;
	return wait;
}

/* Gives the tasks back and frees what the engine holds. */
static void
engine_close(engine *g)
{
	eng_signer_stop(g);
	for (job *j = g->jobs, *n; j != NULL; j = n) {
		n = j->next;
		eng_job_free(g, j);
	}
	g->jobs = NULL;
	if (g->s != NULL && g->net_open)
		eng_release(g);
	for (etask *t = g->tasks, *n; t != NULL; t = n) {
		n = t->next;
		eng_dot1x_task_free(t);
		free(t);
	}
	if (g->net_open)
		g->net->close(g);
	free(g->ca_pem);
	free(g->chain_pem);
	vp_store_close(g->s);
}

vp_err
vp_engine_run(const vp_engine_cfg *cfg, vp_error *e)
{
	return eng_run(cfg, &eng_net_curl, NULL, e);
}

vp_err
eng_run(const vp_engine_cfg *cfg, const eng_net *net, const vp_driver *drv, vp_error *e)
{
	engine g;
	vp_err rc;

	if ((rc = engine_open(&g, cfg, net, drv, e)) != VP_OK)
		goto out;
	while (cfg->stop == NULL || !atomic_load(cfg->stop)) {
		int64_t now = eng_now_ms();
		int wait;

		if (now - g.last_poll_ms >= POLL_MS || (cfg->nudge != NULL &&
		    atomic_exchange(cfg->nudge, 0))) {
			int renew = now - g.last_lease_ms >= LEASE_RENEW_MS;

			if ((rc = eng_claim(&g, renew, e)) != VP_OK)
				eng_log(&g, "cannot claim tasks: %s", e->msg);
			eng_drop_lost(&g);
			eng_tasks_refresh(&g);
			if (eng_ca_check(&g, e) != VP_OK)
				eng_log(&g, "cannot reload the CA: %s", e->msg);
			g.last_poll_ms = now;
		}
		if ((rc = eng_fill(&g, e)) != VP_OK)
			eng_log(&g, "cannot read the tasks: %s", e->msg);
		for (job *j = g.jobs; j != NULL; j = j->next)
			eng_job_decide(&g, j);
		eng_signed_take(&g);
		engine_commit(&g);
		eng_jobs_start(&g);
		/* The command's engine ends as soon as its task has: nothing left to claim. */
		if (g.tasks == NULL && g.jobs == NULL && cfg->exit_when_idle) {
			if ((rc = eng_claim(&g, 1, e)) != VP_OK)
				goto out;
			if (g.tasks == NULL)
				break;
		}
		/* The answers' next requests go out in this turn, not after the next wait and
		 * write of progress: a device's dozen exchanges each wait for one turn, not three. */
		if (g.net->deliver(&g) > 0) {
			for (job *j = g.jobs; j != NULL; j = j->next)
				eng_job_decide(&g, j);   /* a failure, a cancel: as at a turn's start */
			eng_jobs_start(&g);
			g.net->deliver(&g);
		}
		if ((wait = engine_wait_ms(&g)) > 0)
			g.net->wait(&g, wait);
	}
	rc = VP_OK;
out:
	engine_close(&g);
	return rc;
}
