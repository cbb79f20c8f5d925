/* Task claims and leases, the daemon's heartbeat and taking devices: which tasks this engine
 * runs, and which of their Pending devices it starts now.
 *
 * An engine names itself "host:pid:start" and claims a task by writing that name and a lease
 * (LEASE_SECONDS) into the task's row; it renews its leases every LEASE_RENEW_MS. A task held
 * by an engine whose lease ran out, or by a process of this host that is gone, is taken over,
 * and the devices that engine had Running start again from the top (engine_job.c says why
 * that is safe). A clean stop gives the tasks back at once (eng_release); an engine that finds
 * its task taken (it stalled past its lease) drops it without another write (eng_drop_lost).
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "engine_internal.h"
#include "internal.h"
#include "vmspki/addr.h"
#include "vmspki/settings.h"
#include "vmspki/util.h"

/* "host:pid:boot-relative start" names this engine; a claim by a process of this host that
 * no longer exists can be taken over at once instead of waiting for its lease. */
void
eng_make_instance(engine *g)
{
	char host[64] = "";
	struct timespec ts;

	gethostname(host, sizeof(host) - 1);
	clock_gettime(CLOCK_REALTIME, &ts);
	snprintf(g->instance, sizeof(g->instance), "%s:%ld:%lld", host, (long)getpid(),
	    (long long)ts.tv_sec);
}

/* 1 if the claim owner is a process of this host that is gone. */
static int
owner_dead(const char *owner)
{
	char host[64] = "", ohost[64];
	const char *c1 = strchr(owner, ':');
	long pid;
	char *end;

	if (c1 == NULL || (size_t)(c1 - owner) >= sizeof(ohost))
		return 0;
	memcpy(ohost, owner, (size_t)(c1 - owner));
	ohost[c1 - owner] = '\0';
	gethostname(host, sizeof(host) - 1);
	if (strcmp(host, ohost) != 0)
		return 0;
	errno = 0;
	pid = strtol(c1 + 1, &end, 10);
	if (errno != 0 || *end != ':' || pid <= 0)
		return 0;
	return kill((pid_t)pid, 0) != 0 && errno == ESRCH;
}

int
vp_engine_other_alive(vp_store *s)
{
	unsigned char *v = NULL;
	size_t len = 0;
	char owner[160];
	long long at = 0;
	int alive = 0;

	if (vp_store_kv_get(s, "engine.heartbeat", &v, &len, NULL) != VP_OK)
		return 0;
	if (sscanf((const char *)v, "%159s %lld", owner, &at) == 2 &&
	    (long long)time(NULL) - at < LEASE_SECONDS && !owner_dead(owner))
		alive = 1;
	free(v);
	return alive;
}

static etask *
task_find(engine *g, int64_t id)
{
	for (etask *t = g->tasks; t != NULL; t = t->next)
		if (t->id == id)
			return t;
	return NULL;
}

/* The heartbeat ("engine.heartbeat" = "instance unix-time") tells the command line that an
 * engine runs every task of the store (a daemon), so that a command follows its task instead
 * of running it. Only such an engine writes it: a command's engine runs its one task and
 * nothing else, and another command that took its heartbeat for a daemon's would wait for a
 * task nobody runs. */
static int
serves_all(const engine *g)
{
	return g->cfg->only_task == 0;
}

/* Removes the heartbeat if it is ours (another daemon's stays). In the caller's transaction. */
static vp_err
heartbeat_clear(engine *g, vp_error *e)
{
	unsigned char *v = NULL;
	size_t len = 0, n = strlen(g->instance);
	int ours;
	vp_err rc;

	if ((rc = vp_store_kv_get(g->s, "engine.heartbeat", &v, &len, e)) != VP_OK) {
		if (rc != VP_ERR_NOTFOUND)
			return rc;
		vp_error_clear(e);
		return VP_OK;
	}
	ours = len > n && memcmp(v, g->instance, n) == 0 && v[n] == ' ';
	free(v);
	if (!ours)
		return VP_OK;
	return vp_store_kv_delete(g->s, "engine.heartbeat", e);
}

/* install: the chain's intermediate CAs as the job's, each with its alias on the camera
 * (vmspki-ext-ca- and the start of its SHA-256). */
static vp_err
ext_job_inter(job *j, const char *pem, vp_error *e)
{
	STACK_OF(X509) *sk = NULL;
	vp_err rc;

	if (pem[0] == '\0')
		return VP_OK;
	if ((rc = vp_chain_from_pem((const unsigned char *)pem, strlen(pem), &sk, e)) != VP_OK)
		return rc;
	for (int i = 0; i < sk_X509_num(sk) && i < VP_EXT_MAX_INTER; i++) {
		X509 *x = sk_X509_value(sk, i);
		char fp[65];
		size_t len;

		if ((rc = vp_x509_fingerprint(x, "SHA256", fp, sizeof(fp), e)) != VP_OK ||
		    (rc = vp_x509_to_pem(x, &j->inter_pem[i], &len, e)) != VP_OK)
			break;
		snprintf(j->inter_alias[i], sizeof(j->inter_alias[i]), VP_EXT_ALIAS_PREFIX "ca-%.24s",
		    fp);
		j->ninter = i + 1;
	}
	vp_x509_stack_free(sk);
	return rc;
}

/* An outside-certificate task (extcert.h): what it needs from the store, once. */
static vp_err
ext_task_load(engine *g, etask *t, vp_error *e)
{
	char *pem = NULL, *inter = NULL;
	vp_err rc;

	t->clean = vp_foreign_clean_wanted(g->s, t->id);
	if (vp_setting_get(g->s, "device.keystore", t->keystore, sizeof(t->keystore), e) !=
	    VP_OK)
		return e->code;
	if (strcmp(t->keystore, "auto") == 0)
		t->keystore[0] = '\0';
	t->csr = strcmp(t->t.kind, VP_TASK_HTTPS_CSR) == 0;
	t->install = strcmp(t->t.kind, VP_TASK_HTTPS_INSTALL) == 0;
	if (!t->install || t->ext_cert[0] != '\0')
		return VP_OK;
	if ((rc = vp_extcert_task_input(g->s, t->id, t->ext_alias, sizeof(t->ext_alias), &pem,
	    t->ext_fp, &t->ext_not_after, &inter, e)) != VP_OK)
		goto out;
	if (strlen(pem) >= sizeof(t->ext_cert) || strlen(inter) >= sizeof(t->ext_inter))
		rc = vp_error_set(e, VP_ERR_INVALID, "the certificates of task %" PRId64 " are "
		    "larger than %zu bytes", t->id, sizeof(t->ext_cert) - 1);
	else {
		memcpy(t->ext_cert, pem, strlen(pem) + 1);
		memcpy(t->ext_inter, inter, strlen(inter) + 1);
	}
out:
	free(pem);
	free(inter);
	return rc;
}

/* One task of the store's Queued and Running ones: claimed (or its lease renewed) unless
 * another live engine holds it. In eng_claim()'s transaction. */
typedef struct claim_walk {
	engine *g;
	int64_t now;
} claim_walk;

static vp_err
claim_one(int64_t id, const char *owner, int64_t lease, void *arg, vp_error *e)
{
	claim_walk *w = arg;
	engine *g = w->g;
	int64_t now = w->now;
	int mine = strcmp(owner, g->instance) == 0;
	etask *t;
	vp_err rc;

	if (g->cfg->only_task != 0 && id != g->cfg->only_task)
		return VP_OK;
	if (!mine && owner[0] != '\0' && lease >= now && !owner_dead(owner)) {
		/* Ours until our lease ran out (this engine stalled): the other one's now. */
		if ((t = task_find(g, id)) != NULL)
			snprintf(t->lost, sizeof(t->lost), "%s", owner);
		return VP_OK;
	}
	if (!mine) {
		if ((rc = vp_store_claim_resume(g->s, id, e)) != VP_OK)
			return rc;
		if (owner[0] != '\0')
			eng_log(g, "task %" PRId64 ": taking it over from %s, which stopped; its "
			    "devices resume", id, owner);
	}
	if ((rc = vp_store_lease_take(g->s, id, g->instance, now + LEASE_SECONDS, e)) != VP_OK)
		return rc;
	if ((t = task_find(g, id)) == NULL) {
		if ((t = calloc(1, sizeof(*t))) == NULL)
			return vp_error_set(e, VP_ERR_NOMEM, "out of memory");
		t->id = id;
		t->claimed_ms = eng_now_ms();
		t->next = g->tasks;
		g->tasks = t;
	}
	if ((rc = vp_task_get(g->s, id, &t->t, e)) != VP_OK)
		return rc;
	t->renew = strcmp(t->t.kind, VP_TASK_CA_RENEW) == 0;
	t->replace = strcmp(t->t.kind, VP_TASK_CA_REPLACE) == 0 || t->renew;
	t->check = strcmp(t->t.kind, VP_TASK_DEVICE_CHECK) == 0;
	t->dot1x = strcmp(t->t.kind, VP_TASK_DOT1X_ENABLE) == 0 ||
	    strcmp(t->t.kind, VP_TASK_DOT1X_UPDATE) == 0;
	if ((rc = ext_task_load(g, t, e)) != VP_OK)
		return rc;
	if (t->dot1x && (rc = eng_dot1x_task_setup(g, t, e)) != VP_OK)
		return rc;
	t->done_loading = 0;
	t->fill_after = 0;
	return VP_OK;
}

/* Claims every queued or running task nobody live holds, renews our leases, and writes the
 * heartbeat (an engine that serves every task). Devices a dead engine left Running go back to
 * Pending (they resume). */
vp_err
eng_claim(engine *g, int renew, vp_error *e)
{
	int64_t now = (int64_t)time(NULL);
	claim_walk w = { g, now };
	char hb[200];
	vp_err rc;
	int any;

	/* Between renewals, write only when there is something to take. */
	if (!renew) {
		if ((rc = vp_store_claim_wanted(g->s, g->instance, now, g->cfg->only_task, &any,
		    e)) != VP_OK)
			return rc;
		if (!any)
			return VP_OK;
	}
	if ((rc = vp_store_begin(g->s, e)) != VP_OK)
		return rc;
	if ((rc = vp_store_claim_walk(g->s, claim_one, &w, e)) != VP_OK)
		goto fail;
	snprintf(hb, sizeof(hb), "%s %lld", g->instance, (long long)now);
	if ((serves_all(g) && (rc = vp_store_kv_put(g->s, "engine.heartbeat", hb, strlen(hb),
	    e)) != VP_OK) || (rc = vp_store_commit(g->s, e)) != VP_OK)
		goto fail;
	if (renew)
		g->last_lease_ms = eng_now_ms();
	return VP_OK;
fail:
	vp_store_rollback(g->s);
	return rc;
}

/* On a clean stop, give our tasks back: their Running devices resume in the next engine. */
void
eng_release(engine *g)
{
	vp_error e = { 0 };

	if (vp_store_begin(g->s, &e) != VP_OK)
		return;
	for (etask *t = g->tasks; t != NULL; t = t->next)
		if (vp_store_lease_release(g->s, t->id, g->instance, &e) != VP_OK) {
			vp_store_rollback(g->s);
			return;
		}
	if (serves_all(g) && heartbeat_clear(g, &e) != VP_OK) {
		vp_store_rollback(g->s);
		return;
	}
	vp_store_commit(g->s, &e);
}

/* The subject and names of the device's certificate: CN the IP or the FQDN (task option, else
 * the device's, else the site's setting), the SAN both where known. */
static vp_err
job_names(engine *g, job *j, vp_error *e)
{
	const char *mode = j->task->t.cn_mode[0] ? j->task->t.cn_mode :
	    j->dev.cn_mode[0] ? j->dev.cn_mode : NULL;
	char site[16] = "ip";
	char buf[300];

	if (mode == NULL) {
		if (vp_setting_get(g->s, "device.cn", site, sizeof(site), e) != VP_OK)
			return e->code;
		mode = site;
	}
	if (j->task->t.days > 0) {
		j->days = j->task->t.days;
	} else {
		long d = 0;

		if (vp_setting_get_int(g->s, "device.days", &d, e) != VP_OK)
			return e->code;
		j->days = (int)d;
	}
	if (strcmp(mode, "fqdn") == 0 && j->dev.name[0] != '\0')
		snprintf(j->cn, sizeof(j->cn), "%s", j->dev.name);
	else
		snprintf(j->cn, sizeof(j->cn), "%s", j->dev.address);
	snprintf(j->subject, sizeof(j->subject), "CN=%s", j->cn);
	if (vp_addr_is_ip(j->dev.address)) {
		snprintf(buf, sizeof(buf), "IP:%s", j->dev.address);
		j->sans[j->nsans++] = strdup(buf);
	} else {
		snprintf(buf, sizeof(buf), "DNS:%s", j->dev.address);
		j->sans[j->nsans++] = strdup(buf);
	}
	if (j->dev.name[0] != '\0' && strcmp(j->dev.name, j->dev.address) != 0) {
		snprintf(buf, sizeof(buf), "DNS:%s", j->dev.name);
		j->sans[j->nsans++] = strdup(buf);
	}
	for (int i = 0; i < j->nsans; i++)
		if (j->sans[i] == NULL)
			return vp_error_set(e, VP_ERR_NOMEM, "out of memory");
	return VP_OK;
}

/* "sha256//BASE64" of the SubjectPublicKeyInfo of the certificate pem (curl's pin form). */
static int
pin_of(const char *pem, char *out, size_t n)
{
	BIO *b = BIO_new_mem_buf(pem, -1);
	X509 *x = b != NULL ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
	unsigned char *der = NULL, md[32], b64[64];
	int len = x != NULL ? i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x), &der) : -1, ok = 0;

	if (len > 0 && EVP_Digest(der, (size_t)len, md, NULL, EVP_sha256(), NULL) == 1 &&
	    EVP_EncodeBlock(b64, md, 32) > 0) {
		snprintf(out, n, "sha256//%s", (const char *)b64);
		ok = 1;
	}
	OPENSSL_free(der);
	X509_free(x);
	BIO_free(b);
	return ok;
}

static void
job_conn(engine *g, job *j)
{
	vp_device_conn(&j->dev, j->password, g->ca_pem_path, &j->conn);
	/* A pinned device whose certificate of ours has expired can no longer be verified by
	 * its chain: it is recognised by that certificate's key (the renewal replaces it). */
	if (j->dev.pinned && j->dev.cert_serial[0] != '\0' && j->dev.cert_not_after > 0 &&
	    j->dev.cert_not_after <= (int64_t)time(NULL)) {
		vp_cert_rec rec;

		memset(&rec, 0, sizeof(rec));
		if (vp_store_cert_get(g->s, j->dev.cert_serial, &rec, NULL) == VP_OK &&
		    pin_of(rec.pem, j->pin, sizeof(j->pin)))
			j->conn.pinned_pubkey = j->pin;
		vp_cert_rec_clear(&rec);
	}
	/* A device serving an outside certificate verified by an https-install: its key. */
	if (!j->dev.pinned && vp_extcert_pin_get(g->s, j->dev_id, j->pin, sizeof(j->pin), NULL) ==
	    VP_OK) {
		j->conn.use_https = 1;
		j->conn.pinned_pubkey = j->pin;
	}
	j->conn.timeout_ms = j->task->t.timeout_s > 0 ? j->task->t.timeout_s * 1000L :
	    g->cfg->request_timeout_ms;
}

/* Loads a device of task t (row of task_devices) and makes it a job. */
static vp_err
job_new(engine *g, etask *t, int64_t dev_id, const char *key_alias, const char *serial,
    int attempts, job **out, vp_error *e)
{
	job *j = calloc(1, sizeof(*j));
	vp_err rc;

	*out = NULL;
	if (j == NULL)
		return vp_error_set(e, VP_ERR_NOMEM, "out of memory");
	j->task = t;
	j->dev_id = dev_id;
	j->started_ms = eng_now_ms();
	j->attempts = attempts;
	snprintf(j->status, sizeof(j->status), "Running");
	snprintf(j->serial, sizeof(j->serial), "%s", serial);
	if (key_alias[0] != '\0')
		snprintf(j->alias, sizeof(j->alias), "%s", key_alias);
	else
		snprintf(j->alias, sizeof(j->alias), "%st%" PRId64, t->dot1x ?
		    DOT1X_ALIAS_PREFIX : ALIAS_PREFIX, t->id);
	if (t->csr && key_alias[0] == '\0')
		snprintf(j->alias, sizeof(j->alias), VP_EXT_ALIAS_PREFIX "t%" PRId64, t->id);
	if (t->install) {
		snprintf(j->alias, sizeof(j->alias), "%s", t->ext_alias);
		snprintf(j->fp, sizeof(j->fp), "%s", t->ext_fp);
		j->not_after = t->ext_not_after;
		if ((j->cert_pem = strdup(t->ext_cert)) == NULL)
			rc = vp_error_set(e, VP_ERR_NOMEM, "out of memory");
		else
			rc = ext_job_inter(j, t->ext_inter, e);
		if (rc != VP_OK) {
			eng_job_free(g, j);
			return rc;
		}
	}
	if ((rc = vp_device_get(g->s, dev_id, &j->dev, e)) != VP_OK ||
	    (rc = vp_device_password(g->s, g->cfg->sitekey, dev_id, &j->password, e)) != VP_OK ||
	    (rc = job_names(g, j, e)) != VP_OK) {
		eng_job_free(g, j);
		return rc;
	}
	j->seen = j->dev;
	/* A CA renewal keeps the device's certificate: the job binds it again beside the
	 * renewed CA and checks that it verifies against it. */
	if (t->renew && key_alias[0] == '\0') {
		snprintf(j->alias, sizeof(j->alias), "%s", j->dev.cert_alias);
		snprintf(j->serial, sizeof(j->serial), "%s", j->dev.cert_serial);
	}
	if (t->renew)
		j->not_after = j->dev.cert_not_after;
	if (j->serial[0] != '\0') {
		vp_cert_rec rec;

		memset(&rec, 0, sizeof(rec));
		if (vp_store_cert_get(g->s, j->serial, &rec, NULL) == VP_OK)
			snprintf(j->fp, sizeof(j->fp), "%s", rec.fingerprint);
		else
			j->serial[0] = '\0';
		vp_cert_rec_clear(&rec);
	}
	job_conn(g, j);
	*out = j;
	return VP_OK;
}

/* A job of task t that ends at once, with status and why, without a word to device dev; it
 * is recorded like any other. 0 when out of memory. */
static int
job_ended(engine *g, etask *t, int64_t dev, const char *status, const char *why)
{
	job *j = calloc(1, sizeof(*j));

	if (j == NULL)
		return 0;
	j->task = t;
	j->dev_id = dev;
	j->started_ms = eng_now_ms();
	j->fstep = ST_IDENTIFY;
	snprintf(j->ferror, sizeof(j->ferror), "%s", why);
	snprintf(j->status, sizeof(j->status), "%s", status);
	j->ended = j->dirty = 1;
	j->next = g->jobs;
	g->jobs = j;
	return 1;
}

/* The task other than self (and other than a check) that has device dev in hand, or 0. */
static int64_t
busy_elsewhere(engine *g, int64_t dev, int64_t self)
{
	int64_t id = 0;

	if (vp_store_claim_busy(g->s, dev, self, &id, NULL) != VP_OK)
		return 0;
	return id;
}

/* How many Pending devices task t may take now: within the task's and the engine's limits
 * and, just after the claim, the start ramp. */
static int
fill_want(engine *g, etask *t)
{
	int want = t->t.concurrency - t->active;
	int64_t el = eng_now_ms() - t->claimed_ms;

	if (g->max_active - g->active < want)
		want = g->max_active - g->active;
	/* The first devices start over RAMP_MS, not all in one turn: started together they
	 * would wait for their cameras together and then queue together on this one
	 * thread, wave after wave. Spread, their answers come in one after another. */
	if (el < RAMP_MS) {
		int cap = (int)((int64_t)t->t.concurrency * (el + RAMP_STEP_MS) / RAMP_MS);

		if (cap < 1)
			cap = 1;
		if (cap - t->active < want)
			want = cap - t->active;
		if (want <= 0)
			g->ramping = 1;
	}
	return want;
}

typedef struct fill_walk {
	engine *g;
	etask *t;
	int got;
} fill_walk;

/* One Pending device of the task: a job, or a result at once (a check leaves it to another
 * task; it was removed meanwhile or its password cannot be read). */
static vp_err
fill_one(int64_t dev, const char *alias, const char *serial, int attempts, void *arg,
    vp_error *e)
{
	fill_walk *w = arg;
	engine *g = w->g;
	etask *t = w->t;
	vp_error je = { 0 };
	job *j = NULL, *x;
	int64_t busy;

	(void)attempts;               /* a device taken again counts its attempts from 1 */
	w->got++;
	if (dev > t->fill_after)
		t->fill_after = dev;
	/* Taken already, its Running not written yet (progress is written every FLUSH_MS): one
	 * job per device. */
	for (x = g->jobs; x != NULL; x = x->next)
		if (x->task == t && x->dev_id == dev)
			return VP_OK;
	/* A check leaves a device another task is working on to that task. */
	if (t->check && (busy = busy_elsewhere(g, dev, t->id)) != 0) {
		char why[96];

		snprintf(why, sizeof(why), "not checked: task %" PRId64 " is working on this "
		    "device", busy);
		if (!job_ended(g, t, dev, "Finished", why))
			return vp_error_set(e, VP_ERR_NOMEM, "out of memory");
		return VP_OK;
	}
	if (job_new(g, t, dev, alias, serial, 0, &j, &je) != VP_OK) {
		if (je.code == VP_ERR_NOMEM) {
			*e = je;
			return je.code;
		}
		if (!job_ended(g, t, dev, "Failed", je.msg))
			return vp_error_set(e, VP_ERR_NOMEM, "out of memory");
		return VP_OK;
	}
	j->ready = 1;
	j->dirty = 1;
	j->next = g->jobs;
	g->jobs = j;
	j->slot = 1;
	t->active++;
	g->active++;
	g->loaded = 1;                /* written at once: the next fill must not take it */
	return VP_OK;
}

/* Takes Pending devices of our tasks, within the task's and the engine's limits. */
vp_err
eng_fill(engine *g, vp_error *e)
{
	for (etask *t = g->tasks; t != NULL; t = t->next) {
		int want = fill_want(g, t);
		fill_walk w = { g, t, 0 };
		vp_err rc;

		/* A cancelled task takes nothing new (its Pending devices were cancelled). */
		if (t->t.cancel)
			t->done_loading = 1;
		/* A CA replacement moves the components and the server certificate first. */
		if (t->replace && t->t.phase == VP_TASK_PHASE_LOCAL && !t->t.cancel &&
		    !vp_task_done(&t->t)) {
			if (t->renew)
				eng_renew_local(g, t);
			else
				eng_replace_local(g, t);
			continue;
		}
		if (t->retire)
			continue;
		if (t->done_loading || want <= 0 || vp_task_done(&t->t))
			continue;
		if ((rc = vp_store_claim_pending(g->s, t->id, t->fill_after, want, fill_one, &w,
		    e)) != VP_OK)
			return rc;
		/* Fewer than wanted past the last device taken: before the task counts as loaded,
		 * look once from its start, for a device set back to Pending below it. */
		if (w.got < want && t->fill_after > 0 &&
		    (rc = vp_store_claim_pending(g->s, t->id, 0, want - w.got, fill_one, &w,
		    e)) != VP_OK)
			return rc;
		if (w.got < want)
			t->done_loading = 1;
	}
	return VP_OK;
}

/* Drops the tasks another engine took over, with their devices where they are: the new owner
 * starts those again from the top, and nothing of ours is written over its work. */
void
eng_drop_lost(engine *g)
{
	etask **pp = &g->tasks;

	for (job **jp = &g->jobs; *jp != NULL;) {
		job *j = *jp;

		if (j->task->lost[0] == '\0') {
			jp = &j->next;
			continue;
		}
		*jp = j->next;
		eng_job_release_slot(g, j);
		eng_job_free(g, j);
	}
	while (*pp != NULL) {
		etask *t = *pp;

		if (t->lost[0] == '\0') {
			pp = &t->next;
			continue;
		}
		eng_log(g, "task %" PRId64 ": %s runs it now (this engine's lease ran out); its "
		    "devices stop here and resume there", t->id, t->lost);
		*pp = t->next;
		eng_dot1x_task_free(t);
		free(t);
	}
}

/* Refreshes our tasks (cancel requests) from the store. */
void
eng_tasks_refresh(engine *g)
{
	for (etask *t = g->tasks; t != NULL; t = t->next) {
		vp_task now_t;

		if (vp_task_get(g->s, t->id, &now_t, NULL) == VP_OK)
			t->t = now_t;
	}
}
