/*
 * The task engine. One thread drives every device of the tasks it has claimed through the
 * step order of device-api.md:
 *
 *   identify -> install-ca -> create-key -> sign -> install-certificate -> bind -> verify
 *   -> cleanup [-> remove-old-ca]
 *
 * A CA replacement (task kind ca-replace) runs in phases: first the local items (the
 * components are made to trust the new CA, then re-issued; the API server certificate is
 * renewed), then every device through the steps above plus the removal of the old CA from
 * the device, and only when every item and device has a certificate of the new CA is the old
 * CA retired from the site's trust (vp_ca_retire_previous). Each phase is recorded, and each
 * looks at what is done already, so a restarted engine finishes the task.
 *
 * Each step is one or more driver operations (driver.h), each operation a few HTTP requests
 * sent through one curl multi handle, so a thousand cameras need no thousand threads. The
 * engine never blocks on a device: while one camera makes its key, the others go on.
 *
 * Durability. Step results are written to the store in one transaction per turn of the loop
 * (group commit), and a request that depends on a write is only sent after that commit: the
 * certificate signed for a device is recorded before it is installed. A restarted engine
 * starts each unfinished device again from the top, where every step checks first what the
 * device already has: the CA is added only when missing, a key made before the crash (its
 * alias is fixed per task) is reused, the certificate already signed for it is reused rather
 * than signed twice, a certificate already installed is not installed again.
 *
 * Failures. A step that fails leaves the device as it was: once the binding was changed, the
 * old binding and policy are put back. The result records the step, the device's own words
 * and whether a retry may help; an unreachable device is retried twice after a pause within
 * the task, wrong credentials never (cameras lock accounts).
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <curl/curl.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "internal.h"
#include "vmspki/alarm.h"
#include "vmspki/component.h"
#include "vmspki/devhttp.h"
#include "vmspki/engine.h"
#include "vmspki/issue.h"
#include "vmspki/servercert.h"
#include "vmspki/settings.h"
#include "vmspki/task.h"
#include "vmspki/util.h"

#define LEASE_SECONDS 30
#define LEASE_RENEW_MS 10000
#define POLL_MS 1000
#define RETRIES 2                     /* extra attempts for an unreachable device */
#define ALIAS_PREFIX "vmspki-https-"
#define RELISTS 10                    /* looks for a key an earlier attempt is making */
#define RAMP_MS 2000                  /* a task's first devices start over this time */
#define RAMP_STEP_MS 50
#define FLUSH_MS 200                  /* progress written at least this often */
#define WAIT_MAX_MS 3600000
#define RELIST_MS 1000

enum step {
	ST_IDENTIFY, ST_CA, ST_KEY, ST_SIGN, ST_INSTALL, ST_BIND, ST_VERIFY, ST_CLEANUP, ST_OLDCA,
	ST_END
};
static const char *const step_names[] = {
	"identify", "install-ca", "create-key", "sign", "install-certificate", "bind", "verify",
	"cleanup", "remove-old-ca", "done"
};
#define CA_ALIAS_PREFIX "vmspki-ca-"

typedef struct etask etask;

/* One device in the middle of a task. */
typedef struct job {
	struct job *next;
	etask *task;
	int64_t dev_id;
	vp_device dev;
	vp_device seen;               /* a check's device row as it loaded it, or last wrote it */
	vp_device written;            /* what a check writes this turn: seen once committed */
	char *password;
	vp_dev_conn conn;
	char cn[256];
	char subject[300];
	char *sans[3];
	int nsans;
	char pin[128];                /* our expired certificate's key, when it has expired */

	enum step step;
	int sub;                      /* which operation of the step */
	vp_dop *op;
	vp_devhttp *xfer;
	int tls_check;                /* xfer is the verify handshake */
	int ready;                    /* has work to start once the turn's writes are committed */
	int64_t wake_ms;              /* retry pause: nothing before this */
	int attempts;
	int64_t started_ms;

	char alias[128];              /* our key on the device for this task */
	int alias_exists;
	char create_err[512];         /* the device refused to make the key: why */
	int relist;                   /* lists since, waiting for a key in the making */
	char ca_add_err[512];         /* the device refused to add the CA: why (it may have it
	                               * already, added by another task meanwhile) */
	int cert_installed;           /* our certificate is on the device under alias */
	EVP_PKEY *alias_key;          /* the key the device made for alias (from its cert) */
	char *csr_pem;
	vp_issued *issued;            /* signed this turn, to be recorded */
	char serial[64];              /* our certificate for this device, once signed */
	char fp[65];
	char *cert_pem;               /* certificate + chain to install */
	int64_t not_after;
	char old_alias[128];          /* what the web server presented before */
	int have_old;
	vp_dev_policy old_policy;
	int rebound;                  /* the binding was changed: roll back on failure */
	int rollback;                 /* rolling back now */
	char **cleanup;               /* our old aliases (certificates, or CAs) to remove */
	size_t ncleanup, icleanup;

	/* outcome */
	int slot;                     /* counts in its task's and the engine's active devices */
	int ended;                    /* Finished, Failed or Cancelled: remove once written */
	int dirty;                    /* step/status to write */
	enum step fstep;              /* the step that failed (kept through a roll-back) */
	char ferror[1024];
	int fretryable;
	vp_dev_fail ffail;
	char status[16];              /* Running, Finished, Failed, Cancelled */
	char error[1024];
	int retryable;
	vp_dev_fail fail;
	int device_dirty;             /* device row to write */
} job;

struct etask {
	etask *next;
	int64_t id;
	vp_task t;
	int active;
	int done_loading;             /* no Pending devices left in the store */
	int64_t claimed_ms;           /* when this engine took it (the start ramp) */
	int replace;                  /* a CA replacement (VP_TASK_CA_REPLACE) */
	int check;                    /* the nightly check (VP_TASK_DEVICE_CHECK): identify,
	                               * and put the CA back on a device of ours that lost it */
	int retire;                   /* ca-replace: every device done, retire the old CA now */
};

typedef struct engine {
	const vp_engine_cfg *cfg;
	vp_store *s;
	CURLM *multi;
	char instance[160];
	char ca_pem_path[4096];
	etask *tasks;
	job *jobs;
	int active;
	int max_active;
	int ramping;                  /* fill() held devices back: look again soon */
	int64_t last_flush_ms;
	int loaded;                   /* fill() took devices: write their Running now */
	int64_t last_lease_ms;
	int64_t last_poll_ms;
	char *ca_pem;                 /* the CA certificate, to install */
	char ca_alias[64];
	char ca_fp[65];               /* SHA-256 of the CA certificate */
	char *chain_pem;              /* what follows a device certificate: CA if not root, ... */
	char verify_path[4096];       /* the current CA alone (and its issuers): verify step */
	char old_fp[65];              /* the CA being replaced ("" when none) */
} engine;

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
elog(engine *g, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
elog(engine *g, const char *fmt, ...)
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

/* ---- claiming tasks ---- */

/* "host:pid:boot-relative start" names this engine; a claim by a process of this host that
 * no longer exists can be taken over at once instead of waiting for its lease. */
static void
make_instance(engine *g)
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

/* One task of the store's Queued and Running ones: claimed (or its lease renewed) unless
 * another live engine holds it. In claim()'s transaction. */
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
	if (!mine && owner[0] != '\0' && lease >= now && !owner_dead(owner))
		return VP_OK;
	if (!mine) {
		if ((rc = vp_store_claim_resume(g->s, id, e)) != VP_OK)
			return rc;
		if (owner[0] != '\0')
			elog(g, "task %" PRId64 ": taking it over from %s, which stopped; its "
			    "devices resume", id, owner);
	}
	if ((rc = vp_store_lease_take(g->s, id, g->instance, now + LEASE_SECONDS, e)) != VP_OK)
		return rc;
	if ((t = task_find(g, id)) == NULL) {
		if ((t = calloc(1, sizeof(*t))) == NULL)
			return vp_error_set(e, VP_ERR_NOMEM, "out of memory");
		t->id = id;
		t->claimed_ms = now_ms();
		t->next = g->tasks;
		g->tasks = t;
	}
	if ((rc = vp_task_get(g->s, id, &t->t, e)) != VP_OK)
		return rc;
	t->replace = strcmp(t->t.kind, VP_TASK_CA_REPLACE) == 0;
	t->check = strcmp(t->t.kind, VP_TASK_DEVICE_CHECK) == 0;
	t->done_loading = 0;
	return VP_OK;
}

/* Claims every queued or running task nobody live holds, renews our leases, and writes the
 * heartbeat (an engine that serves every task). Devices a dead engine left Running go back to
 * Pending (they resume). */
static vp_err
claim(engine *g, int renew, vp_error *e)
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
		g->last_lease_ms = now_ms();
	return VP_OK;
fail:
	vp_store_rollback(g->s);
	return rc;
}

/* ---- starting a device ---- */

static int
is_ip(const char *s)
{
	unsigned char buf[16];

	return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

static void job_free(job *j);

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
	if (strcmp(mode, "fqdn") == 0 && j->dev.name[0] != '\0')
		snprintf(j->cn, sizeof(j->cn), "%s", j->dev.name);
	else
		snprintf(j->cn, sizeof(j->cn), "%s", j->dev.address);
	snprintf(j->subject, sizeof(j->subject), "CN=%s", j->cn);
	if (is_ip(j->dev.address)) {
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
	j->started_ms = now_ms();
	j->attempts = attempts;
	snprintf(j->status, sizeof(j->status), "Running");
	snprintf(j->serial, sizeof(j->serial), "%s", serial);
	if (key_alias[0] != '\0')
		snprintf(j->alias, sizeof(j->alias), "%s", key_alias);
	else
		snprintf(j->alias, sizeof(j->alias), ALIAS_PREFIX "t%" PRId64, t->id);
	if ((rc = vp_device_get(g->s, dev_id, &j->dev, e)) != VP_OK ||
	    (rc = vp_device_password(g->s, g->cfg->sitekey, dev_id, &j->password, e)) != VP_OK ||
	    (rc = job_names(g, j, e)) != VP_OK) {
		job_free(j);
		return rc;
	}
	j->seen = j->dev;
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

static void
job_free(job *j)
{
	if (j == NULL)
		return;
	vp_dop_free(j->op);
	vp_devhttp_free(j->xfer);
	if (j->password != NULL)
		vp_secret_free(j->password, strlen(j->password));
	for (int i = 0; i < j->nsans; i++)
		free(j->sans[i]);
	EVP_PKEY_free(j->alias_key);
	free(j->csr_pem);
	vp_issued_free(j->issued);
	free(j->cert_pem);
	for (size_t i = 0; i < j->ncleanup; i++)
		free(j->cleanup[i]);
	free(j->cleanup);
	free(j);
}

/* ---- outcomes ---- */

static void
job_fail(job *j, vp_dev_fail f, int retryable, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Records why the current step failed; the loop decides between a retry, a roll-back and the
 * end. */
static void
job_fail(job *j, vp_dev_fail f, int retryable, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(j->error, sizeof(j->error), fmt, ap);
	va_end(ap);
	j->fail = f;
	j->retryable = retryable;
}

/* ---- steps ---- */

static vp_err start_op(engine *g, job *j, vp_dop_kind kind, const vp_dop_args *a,
    vp_error *e);

static const char *const *
sans_list(job *j)
{
	static __thread const char *l[4];

	for (int i = 0; i < j->nsans; i++)
		l[i] = j->sans[i];
	l[j->nsans] = NULL;
	return l;
}

/* The PEM of a device certificate's public key, to compare keys. */
static EVP_PKEY *
pem_cert_key(const char *pem)
{
	BIO *b = BIO_new_mem_buf(pem, -1);
	X509 *x = b != NULL ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
	EVP_PKEY *k = x != NULL ? X509_get_pubkey(x) : NULL;

	X509_free(x);
	BIO_free(b);
	return k;
}

static int
pem_fingerprint(const char *pem, char fp[65])
{
	BIO *b = BIO_new_mem_buf(pem, -1);
	X509 *x = b != NULL ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
	int ok = x != NULL && vp_x509_fingerprint(x, "SHA256", fp, 65, NULL) == VP_OK;

	X509_free(x);
	BIO_free(b);
	return ok;
}

/* The connection policy to set: the task's, except that a CA replacement keeps the device's. */
static int
job_https_only(const job *j)
{
	return j->task->replace ? j->dev.https_only : j->task->t.https_only;
}

/* Adds alias to the job's list of aliases to remove. */
static int
cleanup_add(job *j, const char *alias)
{
	char **m;

	if ((m = realloc(j->cleanup, (j->ncleanup + 1) * sizeof(*m))) == NULL)
		return 0;
	j->cleanup = m;
	if ((m[j->ncleanup] = strdup(alias)) == NULL)
		return 0;
	j->ncleanup++;
	return 1;
}

static void
cleanup_reset(job *j)
{
	for (size_t i = 0; i < j->ncleanup; i++)
		free(j->cleanup[i]);
	free(j->cleanup);
	j->cleanup = NULL;
	j->ncleanup = j->icleanup = 0;
}

/* Starts the next operation of the job's current step (or moves on when a step needs none).
 * Called only after the turn's writes are committed. */
static vp_err
step_start(engine *g, job *j, vp_error *e)
{
	static __thread const char *cas[2];
	vp_dop_args a;

	memset(&a, 0, sizeof(a));
	switch (j->step) {
	case ST_IDENTIFY:
		return start_op(g, j, VP_DOP_PROBE, &a, e);
	case ST_CA:
		if (j->sub == 0)
			return start_op(g, j, VP_DOP_CA_LIST, &a, e);
		a.alias = g->ca_alias;
		a.pem = g->ca_pem;
		return start_op(g, j, VP_DOP_CA_ADD, &a, e);
	case ST_KEY:
		if (j->sub == 0 || j->sub == 2)      /* what is there; after making it, its cert */
			return start_op(g, j, VP_DOP_CERT_LIST, &a, e);
		a.alias = j->alias;
		a.key_type = "RSA-2048";
		a.subject = j->subject;
		a.sans = sans_list(j);
		return start_op(g, j, VP_DOP_KEY_CREATE, &a, e);
	case ST_SIGN:
		a.alias = j->alias;
		return start_op(g, j, VP_DOP_CSR_GET, &a, e);
	case ST_INSTALL:
		a.alias = j->alias;
		a.pem = j->cert_pem;
		return start_op(g, j, VP_DOP_CERT_INSTALL, &a, e);
	case ST_BIND:
		/* Once the request is out the binding may have changed, answer or not (a lost
		 * answer): from here a failure rolls it back. */
		if (!j->rollback)
			j->rebound = 1;
		a.alias = j->rollback ? (j->old_alias[0] ? j->old_alias : j->alias) : j->alias;
		a.policy = j->rollback ? j->old_policy : job_https_only(j) ? VP_POLICY_HTTPS :
		    VP_POLICY_BOTH;
		/* The web server sends our CA with the certificate (it matters for an
		 * intermediate CA); a roll-back keeps what the device had. */
		if (!j->rollback) {
			cas[0] = g->ca_alias;
			a.ca_aliases = cas;
		}
		return start_op(g, j, VP_DOP_TLS_SET, &a, e);
	case ST_VERIFY: {
		vp_dev_conn c = j->conn;

		/* Against the current CA alone: during a replacement the site still trusts the
		 * old one, but the device must now serve a certificate of the new. */
		c.verify = 1;
		c.ca_file = g->verify_path;
		c.pinned_pubkey = NULL;
		c.tls_name = j->dev.address;
		j->tls_check = 1;
		if (vp_devhttp_new_tls_check(&c, &j->xfer, e) != VP_OK)
			return e->code;
		if (curl_multi_add_handle(g->multi, vp_devhttp_easy(j->xfer)) != CURLM_OK)
			return vp_error_set(e, VP_ERR_INTERNAL, "cannot start a transfer");
		return VP_OK;
	}
	case ST_CLEANUP:
		if (j->sub == 0)
			return start_op(g, j, VP_DOP_CERT_LIST, &a, e);
		a.alias = j->cleanup[j->icleanup];
		return start_op(g, j, VP_DOP_CERT_DELETE, &a, e);
	case ST_OLDCA:
		if (j->sub == 0)
			return start_op(g, j, VP_DOP_CA_LIST, &a, e);
		a.alias = j->cleanup[j->icleanup];
		return start_op(g, j, VP_DOP_CA_DELETE, &a, e);
	case ST_END:
		break;
	}
	return VP_OK;
}

/* Sends the first request of op for j. */
static vp_err
send_next(engine *g, job *j, vp_error *e)
{
	const vp_http_req *req = NULL;
	vp_err rc;

	if ((rc = vp_dop_next(j->op, &req, e)) != VP_OK)
		return rc;
	if (req == NULL)
		return VP_OK;           /* finished without a request: handled by the caller */
	if ((rc = vp_devhttp_new(&j->conn, req, &j->xfer, e)) != VP_OK)
		return rc;
	if (curl_multi_add_handle(g->multi, vp_devhttp_easy(j->xfer)) != CURLM_OK)
		return vp_error_set(e, VP_ERR_INTERNAL, "cannot start a transfer");
	return VP_OK;
}

static vp_err
start_op(engine *g, job *j, vp_dop_kind kind, const vp_dop_args *a, vp_error *e)
{
	const vp_driver *drv = vp_driver_for_api(j->dev.api);
	const char *api = j->dev.api;
	vp_err rc;

	vp_dop_free(j->op);
	j->op = NULL;
	/* A device no driver owns (its probe found it unsupported) is identified again from
	 * scratch: its firmware may have been upgraded since. */
	if (drv == NULL && kind == VP_DOP_PROBE) {
		drv = vp_driver_for_api("");
		api = "";
	}
	if ((rc = vp_dop_start(drv, kind, a, api, &j->op, e)) != VP_OK)
		return rc;
	return send_next(g, j, e);
}

static void
set_step(job *j, enum step s)
{
	j->step = s;
	j->sub = 0;
	j->dirty = 1;
}

/* Signs the device's CSR (or reuses the certificate already signed for this key). */
static void
sign_csr(engine *g, job *j)
{
	X509_REQ *req = NULL;
	EVP_PKEY *csrkey;
	vp_cert_rec old;
	vp_error e = { 0 };
	const vp_ca *ca;
	const char *ips[1], *dns[2];
	size_t nip = 0, ndns = 0;
	vp_issue_req ir;
	char *leaf = NULL;
	size_t leaflen = 0;

	memset(&old, 0, sizeof(old));
	if (vp_csr_parse((const unsigned char *)j->csr_pem, strlen(j->csr_pem), &req, &e) !=
	    VP_OK) {
		job_fail(j, VP_DEVF_PROTOCOL, 0, "the device's CSR was refused: %s", e.msg);
		return;
	}
	csrkey = X509_REQ_get0_pubkey(req);
	if (j->alias_key != NULL && (csrkey == NULL || EVP_PKEY_eq(csrkey, j->alias_key) != 1)) {
		job_fail(j, VP_DEVF_DEVICE, 1, "the device's CSR is not for the key it made for %s "
		    "(its public key differs): nothing was signed", j->alias);
		goto out;
	}
	/* Signed before a crash for this same key: install that one, do not sign again. */
	if (j->serial[0] != '\0' && vp_store_cert_get(g->s, j->serial, &old, &e) == VP_OK) {
		EVP_PKEY *k = pem_cert_key(old.pem);
		int same = k != NULL && csrkey != NULL && EVP_PKEY_eq(k, csrkey) == 1;

		EVP_PKEY_free(k);
		if (same) {
			leaf = strdup(old.pem);
			j->not_after = old.not_after;
			snprintf(j->fp, sizeof(j->fp), "%s", old.fingerprint);
			goto chain;
		}
	}
	memset(&ir, 0, sizeof(ir));
	ir.profile = "device-https";
	ir.csr = req;
	ir.cn = j->cn;
	if (is_ip(j->dev.address))
		ips[nip++] = j->dev.address;
	else
		dns[ndns++] = j->dev.address;
	if (j->dev.name[0] != '\0' && strcmp(j->dev.name, j->dev.address) != 0)
		dns[ndns++] = j->dev.name;
	ir.ip = ips;
	ir.nip = nip;
	ir.dns = dns;
	ir.ndns = ndns;
	ir.owner_kind = "device";
	char owner[32];
	snprintf(owner, sizeof(owner), "%" PRId64, j->dev_id);
	ir.owner_id = owner;
	if ((ca = g->cfg->ca_hold(g->cfg->ca_arg)) == NULL) {
		job_fail(j, VP_DEVF_NONE, 1, "the CA is not loaded: nothing was signed");
		goto out;
	}
	if (vp_issue_sign(ca, &ir, &j->issued, &e) != VP_OK) {
		g->cfg->ca_release(g->cfg->ca_arg, ca);
		job_fail(j, VP_DEVF_NONE, 0, "cannot sign the device's certificate: %s", e.msg);
		goto out;
	}
	g->cfg->ca_release(g->cfg->ca_arg, ca);
	snprintf(j->serial, sizeof(j->serial), "%s", j->issued->rec.serial);
	snprintf(j->fp, sizeof(j->fp), "%s", j->issued->rec.fingerprint);
	j->not_after = j->issued->rec.not_after;
	if ((leaf = strdup(j->issued->rec.pem)) == NULL)
		goto oom;
chain:
	leaflen = strlen(leaf);
	free(j->cert_pem);
	if ((j->cert_pem = malloc(leaflen + strlen(g->chain_pem) + 1)) == NULL)
		goto oom;
	memcpy(j->cert_pem, leaf, leaflen);
	strcpy(j->cert_pem + leaflen, g->chain_pem);
	set_step(j, j->cert_installed ? ST_BIND : ST_INSTALL);
	goto out;
oom:
	job_fail(j, VP_DEVF_NONE, 1, "out of memory");
out:
	free(leaf);
	vp_cert_rec_clear(&old);
	X509_REQ_free(req);
}

/* Does the step cleanup (our certificates but the one just installed) or remove-old-ca (the
 * CA being replaced, under whatever alias, and every CA of ours but the current one) remove
 * the device's certificate c? */
static int
to_remove(engine *g, const job *j, const vp_dev_cert *c)
{
	char fp[65];

	if (j->step == ST_CLEANUP)
		return strncmp(c->alias, ALIAS_PREFIX, strlen(ALIAS_PREFIX)) == 0 &&
		    strcmp(c->alias, j->alias) != 0;
	if (strncmp(c->alias, CA_ALIAS_PREFIX, strlen(CA_ALIAS_PREFIX)) == 0 &&
	    strcmp(c->alias, g->ca_alias) != 0)
		return 1;
	return c->pem != NULL && g->old_fp[0] != '\0' && pem_fingerprint(c->pem, fp) &&
	    strcmp(fp, g->old_fp) == 0;
}

/* cleanup and remove-old-ca: the list (sub 0) says what to remove, then one removal each;
 * then the step next. */
static void
removal_done(engine *g, job *j, const vp_dop_result *r, enum step next)
{
	if (j->sub == 0) {
		for (size_t i = 0; i < r->ncerts; i++)
			if (to_remove(g, j, &r->certs[i]) && !cleanup_add(j, r->certs[i].alias)) {
				job_fail(j, VP_DEVF_NONE, 1, "out of memory");
				return;
			}
		j->sub = 1;
	} else {
		j->icleanup++;
	}
	if (j->icleanup >= j->ncleanup) {
		cleanup_reset(j);
		set_step(j, next);
	}
}

/* What a finished driver operation means for the job. */
static void
op_done(engine *g, job *j)
{
	const char *msg = NULL;
	int retryable = 0;
	vp_dev_fail f = vp_dop_failed(j->op, &msg, &retryable);
	const vp_dop_result *r = vp_dop_get_result(j->op);
	const char *api = vp_dop_api(j->op);

	if (api != NULL && strcmp(api, j->dev.api) != 0) {
		snprintf(j->dev.api, sizeof(j->dev.api), "%s", api);
		j->device_dirty = 1;
	}
	if (f == VP_DEVF_UNSUPPORTED && j->step == ST_IDENTIFY) {
		/* The probe still says what the device is. */
		snprintf(j->dev.mac, sizeof(j->dev.mac), "%s", r->serial);
		snprintf(j->dev.model, sizeof(j->dev.model), "%s", r->model);
		snprintf(j->dev.firmware, sizeof(j->dev.firmware), "%s", r->firmware);
		snprintf(j->dev.api, sizeof(j->dev.api), "%s", VP_DEV_API_UNSUPPORTED);
		snprintf(j->dev.https_state, sizeof(j->dev.https_state), "%s", VP_HTTPS_UNSUPPORTED);
		j->device_dirty = 1;
		job_fail(j, f, 0, "Unsupported firmware: %s", msg != NULL ? msg :
		    "HTTPS certificates need firmware 5.70 or later");
		return;
	}
	if (f == VP_DEVF_DEVICE && j->step == ST_CA && j->sub == 1 && j->ca_add_err[0] == '\0') {
		/* Refused to add the CA: perhaps because it has it now (another task added it
		 * since the list). The list says; if it is not there, this is the answer. */
		snprintf(j->ca_add_err, sizeof(j->ca_add_err), "%s", msg != NULL ? msg :
		    vp_dev_fail_str(f));
		j->sub = 0;
		return;
	}
	if (f == VP_DEVF_DEVICE && j->step == ST_KEY && j->sub == 1 && j->create_err[0] == '\0') {
		/* Refused to make the key: perhaps because an earlier attempt made it (its alias
		 * is taken). The list says; if it is not there, this is the answer. */
		snprintf(j->create_err, sizeof(j->create_err), "%s", msg != NULL ? msg :
		    vp_dev_fail_str(f));
		j->sub = 2;
		return;
	}
	if (f != VP_DEVF_NONE) {
		/* A device that refuses HTTP may still speak HTTPS (policy HTTPS only). */
		if (j->step == ST_IDENTIFY && f == VP_DEVF_UNREACHABLE && !j->conn.use_https &&
		    !j->dev.pinned && j->sub == 0) {
			j->conn.use_https = 1;
			j->sub = 1;
			j->ready = 1;
			return;
		}
		job_fail(j, f, retryable, "%s", msg != NULL ? msg : vp_dev_fail_str(f));
		return;
	}
	switch (j->step) {
	case ST_IDENTIFY:
		snprintf(j->dev.mac, sizeof(j->dev.mac), "%s", r->serial);
		snprintf(j->dev.model, sizeof(j->dev.model), "%s", r->model);
		snprintf(j->dev.firmware, sizeof(j->dev.firmware), "%s", r->firmware);
		snprintf(j->dev.api, sizeof(j->dev.api), "%s", r->api);
		j->device_dirty = 1;
		if (strcmp(r->api, VP_DEV_API_UNSUPPORTED) == 0) {
			snprintf(j->dev.https_state, sizeof(j->dev.https_state), "%s",
			    VP_HTTPS_UNSUPPORTED);
			job_fail(j, VP_DEVF_UNSUPPORTED, 0, "Unsupported firmware: %s runs %s and "
			    "HTTPS certificates need firmware 5.70 or later", r->model, r->firmware);
			return;
		}
		/* What to put back if a later step fails: what the device had before this job
		 * touched it (a retry's identify sees our own binding already). */
		if (!j->have_old) {
			snprintf(j->old_alias, sizeof(j->old_alias), "%s", r->bound_alias);
			j->old_policy = r->policy;
			j->have_old = 1;
		}
		/* The check puts our CA back only where we installed it. */
		set_step(j, j->task->check && !j->dev.pinned ? ST_END : ST_CA);
		break;
	case ST_CA:
		if (j->sub == 0) {
			for (size_t i = 0; i < r->ncerts; i++) {
				char fp[65];

				if (r->certs[i].pem != NULL && pem_fingerprint(r->certs[i].pem, fp) &&
				    strcmp(fp, g->ca_fp) == 0) {
					/* already there */
					set_step(j, j->task->check ? ST_END : ST_KEY);
					return;
				}
			}
			if (j->ca_add_err[0] != '\0') {
				job_fail(j, VP_DEVF_DEVICE, 1, "%s", j->ca_add_err);
				return;
			}
			j->sub = 1;
		} else {
			if (j->task->check)
				elog(g, "task %" PRId64 ": device %" PRId64 " (%s): the site CA was "
				    "missing: installed it again", j->task->id, j->dev_id,
				    j->dev.address);
			set_step(j, j->task->check ? ST_END : ST_KEY);
		}
		break;
	case ST_KEY:
		if (j->sub == 0 || j->sub == 2) {
			const vp_dev_cert *mine = NULL;

			for (size_t i = 0; i < r->ncerts; i++)
				if (strcmp(r->certs[i].alias, j->alias) == 0)
					mine = &r->certs[i];
			if (mine == NULL && j->sub == 2) {
				/* A key an earlier attempt asked for (before a crash or a lost
				 * answer) may still be in the making: look again a few times. */
				if (j->create_err[0] != '\0' && j->relist < RELISTS) {
					j->relist++;
					j->wake_ms = now_ms() + RELIST_MS;
					break;
				}
				if (j->create_err[0] != '\0')
					job_fail(j, VP_DEVF_DEVICE, 1, "%s", j->create_err);
				else
					job_fail(j, VP_DEVF_PROTOCOL, 1, "the device said it made the key "
					    "%s but does not list it", j->alias);
				return;
			}
			if (mine == NULL) {
				j->sub = 1;            /* make it */
				break;
			}
			/* The device's own certificate for the key tells us the key, so that the
			 * CSR can be checked; ours there means it was installed before a crash. */
			EVP_PKEY_free(j->alias_key);
			j->alias_key = mine->pem != NULL ? pem_cert_key(mine->pem) : NULL;
			if (mine->pem != NULL && j->serial[0] != '\0') {
				char fp[65];

				j->cert_installed = pem_fingerprint(mine->pem, fp) &&
				    j->fp[0] != '\0' && strcmp(fp, j->fp) == 0;
			}
			j->alias_exists = 1;
			set_step(j, ST_SIGN);
		} else {
			j->sub = 2;                    /* made: read its certificate */
		}
		break;
	case ST_SIGN:
		free(j->csr_pem);
		j->csr_pem = r->csr_pem != NULL ? strdup(r->csr_pem) : NULL;
		if (j->csr_pem == NULL) {
			job_fail(j, VP_DEVF_PROTOCOL, 1, "the device sent no CSR");
			return;
		}
		sign_csr(g, j);
		break;
	case ST_INSTALL:
		set_step(j, ST_BIND);
		break;
	case ST_BIND:
		if (j->rollback) {
			j->rollback = 2;               /* rolled back: the loop ends the job */
			break;
		}
		j->rebound = 1;
		/* HTTPS only closes HTTP: from now on speak HTTPS (verified after verify). The
		 * device serves the new certificate now: the old one's key is no longer it. */
		j->conn.use_https = 1;
		j->conn.pinned_pubkey = NULL;
		set_step(j, ST_VERIFY);
		break;
	case ST_CLEANUP:
		removal_done(g, j, r, j->task->replace ? ST_OLDCA : ST_END);
		break;
	case ST_OLDCA:
		removal_done(g, j, r, ST_END);
		break;
	default:
		break;
	}
}

/* The verify handshake ended. */
static void
verify_done(engine *g, job *j, const vp_http_resp *resp)
{
	char fp[65];
	vp_error e = { 0 };

	(void)g;
	if (resp->transport != VP_TRANSPORT_OK) {
		job_fail(j, resp->transport == VP_TRANSPORT_TLS ? VP_DEVF_TLS : VP_DEVF_UNREACHABLE,
		    resp->transport != VP_TRANSPORT_TLS, "the TLS check of https://%s:%d/ failed: %s",
		    j->dev.address, j->dev.https_port, resp->transport_msg != NULL ?
		    resp->transport_msg : "no answer");
		return;
	}
	if (vp_devhttp_peer_fingerprint(j->xfer, fp, &e) != VP_OK) {
		job_fail(j, VP_DEVF_TLS, 1, "the TLS check of https://%s:%d/ saw no certificate",
		    j->dev.address, j->dev.https_port);
		return;
	}
	if (strcmp(fp, j->fp) != 0) {
		job_fail(j, VP_DEVF_TLS, 1, "https://%s:%d/ verifies, but serves another "
		    "certificate (SHA-256 %.16s...) than the one just installed (%.16s...)",
		    j->dev.address, j->dev.https_port, fp, j->fp);
		return;
	}
	/* Verified: the device is pinned to the site CA from now on. */
	j->dev.pinned = 1;
	j->dev.https_only = job_https_only(j);
	j->rebound = 0;               /* verified: nothing to roll back from here on */
	snprintf(j->dev.https_state, sizeof(j->dev.https_state), "%s", VP_HTTPS_ENABLED);
	snprintf(j->dev.cert_serial, sizeof(j->dev.cert_serial), "%s", j->serial);
	snprintf(j->dev.cert_alias, sizeof(j->dev.cert_alias), "%s", j->alias);
	j->dev.cert_not_after = j->not_after;
	j->device_dirty = 1;
	j->conn.verify = 1;
	j->conn.ca_file = g->ca_pem_path;
	j->conn.tls_name = j->dev.address;
	set_step(j, ST_CLEANUP);
}

/* ---- the loop's phases ---- */

/* A transfer of j ended with cc. */
static void
xfer_done(engine *g, job *j, CURLcode cc)
{
	vp_http_resp resp;
	vp_error e = { 0 };

	curl_multi_remove_handle(g->multi, vp_devhttp_easy(j->xfer));
	vp_devhttp_finish(j->xfer, cc, &resp);
	if (j->tls_check) {
		j->tls_check = 0;
		verify_done(g, j, &resp);
	} else if (vp_dop_feed(j->op, &resp, &e) != VP_OK) {
		job_fail(j, VP_DEVF_NONE, 1, "%s", e.msg);
	} else {
		vp_devhttp_free(j->xfer);
		j->xfer = NULL;
		if (send_next(g, j, &e) != VP_OK) {
			job_fail(j, VP_DEVF_NONE, 1, "%s", e.msg);
		} else if (j->xfer != NULL) {
			return;                   /* the operation goes on */
		} else {
			op_done(g, j);
		}
	}
	vp_devhttp_free(j->xfer);
	j->xfer = NULL;
	if (j->fail == VP_DEVF_NONE && j->error[0] == '\0')
		j->ready = 1;
}

static const char *
dev_status_for(vp_dev_fail f)
{
	switch (f) {
	case VP_DEVF_AUTH:
		return VP_STATUS_WRONG_CREDS;
	case VP_DEVF_UNREACHABLE:
		return VP_STATUS_UNREACHABLE;
	default:
		return NULL;
	}
}

/* The job no longer counts against the concurrency limits (its result may still wait for
 * the next write): another device may start at once. */
static void
job_release_slot(engine *g, job *j)
{
	if (!j->slot)
		return;
	j->slot = 0;
	j->task->active--;
	g->active--;
}

static void
job_end(engine *g, job *j, const char *status)
{
	job_release_slot(g, j);
	snprintf(j->status, sizeof(j->status), "%s", status);
	j->ended = 1;
	j->ready = 0;
	j->dirty = 1;
	if (strcmp(status, "Finished") == 0) {
		snprintf(j->dev.status, sizeof(j->dev.status), "%s", VP_STATUS_OK);
		j->dev.status_detail[0] = '\0';
		j->device_dirty = 1;
		if (j->task->check)
			elog(g, "task %" PRId64 ": device %" PRId64 " (%s): checked in %.1f s",
			    j->task->id, j->dev_id, j->dev.address,
			    (double)(now_ms() - j->started_ms) / 1000.0);
		else
			elog(g, "task %" PRId64 ": device %" PRId64 " (%s): %s with certificate %s "
			    "in %.1f s", j->task->id, j->dev_id, j->dev.address, j->task->replace ?
			    "moved to the new CA" : strcmp(j->task->t.kind, VP_TASK_HTTPS_UPDATE) ==
			    0 ? "HTTPS certificate renewed" : "HTTPS enabled", j->serial,
			    (double)(now_ms() - j->started_ms) / 1000.0);
	} else if (strcmp(status, "Failed") == 0) {
		const char *st = dev_status_for(j->ffail);

		if (st != NULL)
			snprintf(j->dev.status, sizeof(j->dev.status), "%s", st);
		snprintf(j->dev.status_detail, sizeof(j->dev.status_detail), "%.500s", j->ferror);
		j->device_dirty = 1;
		elog(g, "task %" PRId64 ": device %" PRId64 " (%s) failed at %s: %s", j->task->id,
		    j->dev_id, j->dev.address, step_names[j->fstep], j->ferror);
	} else {
		elog(g, "task %" PRId64 ": device %" PRId64 " (%s): cancelled", j->task->id,
		    j->dev_id, j->dev.address);
	}
}

/* Decides what a failed step leads to: a retry after a pause, a roll-back of the binding, or
 * the end. */
static void
job_decide(engine *g, job *j)
{
	int64_t now = now_ms();

	if (j->ended)
		return;
	if (j->rollback == 2) {               /* roll-back done */
		job_end(g, j, j->task->t.cancel && j->ffail == VP_DEVF_NONE ? "Cancelled" :
		    "Failed");
		return;
	}
	if (j->error[0] != '\0' && j->rollback) {
		/* The roll-back itself failed: say both. */
		size_t n = strlen(j->ferror);

		snprintf(j->ferror + n, sizeof(j->ferror) - n, "; putting the old binding back "
		    "failed too: %s", j->error);
		job_end(g, j, "Failed");
		return;
	}
	if (j->error[0] != '\0') {
		/* Cleanup after a verified install: the device is enabled, say what is left. */
		if (j->step == ST_CLEANUP) {
			elog(g, "task %" PRId64 ": device %" PRId64 " (%s): an old certificate could "
			    "not be removed: %s", j->task->id, j->dev_id, j->dev.address, j->error);
			j->error[0] = '\0';
			j->fail = VP_DEVF_NONE;
			cleanup_reset(j);
			set_step(j, j->task->replace ? ST_OLDCA : ST_END);
			j->ready = 1;
		} else if (j->retryable && j->fail == VP_DEVF_UNREACHABLE &&
		    j->attempts < RETRIES && !j->task->t.cancel) {
			j->attempts++;
			j->ca_add_err[0] = '\0';
			cleanup_reset(j);
			elog(g, "task %" PRId64 ": device %" PRId64 " (%s): %s at %s, trying again "
			    "(attempt %d)", j->task->id, j->dev_id, j->dev.address, j->error,
			    step_names[j->step], j->attempts + 1);
			j->error[0] = '\0';
			j->fail = VP_DEVF_NONE;
			j->wake_ms = now + 2000 * j->attempts;
			j->conn.use_https = j->dev.pinned || j->rebound || j->dev.https_only;
			set_step(j, ST_IDENTIFY);
			j->ready = 1;
			return;
		} else {
			j->fstep = j->step;
			snprintf(j->ferror, sizeof(j->ferror), "%s", j->error);
			j->fretryable = j->retryable;
			j->ffail = j->fail;
			j->error[0] = '\0';
			if (j->rebound) {
				j->rollback = 1;
				j->step = ST_BIND;
				j->sub = 0;
				j->ready = 1;
				return;
			}
			job_end(g, j, "Failed");
			return;
		}
	}
	if (j->step == ST_END && !j->ended) {
		job_end(g, j, "Finished");
		return;
	}
	if (j->ready && j->task->t.cancel && !j->rollback) {
		snprintf(j->ferror, sizeof(j->ferror), "cancelled at %s", step_names[j->step]);
		j->fstep = j->step;
		j->ffail = VP_DEVF_NONE;
		if (j->rebound && j->step != ST_CLEANUP && j->step != ST_END) {
			j->rollback = 1;
			j->step = ST_BIND;
			j->sub = 0;
			return;
		}
		if (j->step == ST_CLEANUP || j->step == ST_OLDCA)
			return;                   /* enabled already: finish */
		job_end(g, j, "Cancelled");
	}
}

/* A renewal (https-update) that failed raises an alarm for the device, saying why; one that
 * finished clears it. In the caller's transaction. */
static vp_err
renewal_alarms(engine *g, job *j, vp_error *e)
{
	char subject[48], msg[1200];
	int changed = 0;
	vp_err rc;

	if (strcmp(j->task->t.kind, VP_TASK_HTTPS_UPDATE) != 0 && !j->task->replace)
		return VP_OK;
	snprintf(subject, sizeof(subject), "device:%" PRId64, j->dev_id);
	if (strcmp(j->status, "Finished") == 0) {
		if ((rc = vp_alarm_clear(g->s, VP_ALARM_RENEWAL_FAILED, subject, &changed, e)) !=
		    VP_OK)
			return rc;
		return vp_alarm_clear(g->s, VP_ALARM_DEVICE_UNREACHABLE, subject, &changed, e);
	}
	if (strcmp(j->status, "Failed") != 0)
		return VP_OK;
	snprintf(msg, sizeof(msg), "the certificate of device %" PRId64 " (%s) could not be "
	    "%s (task %" PRId64 ", step %s): %.400s; it keeps its certificate until %s",
	    j->dev_id, j->dev.address, j->task->replace ? "moved to the new CA" : "renewed",
	    j->task->id, step_names[j->fstep], j->ferror,
	    j->dev.cert_serial[0] ? "it ends" : "a renewal works");
	return vp_alarm_raise(g->s, j->ffail == VP_DEVF_UNREACHABLE ?
	    VP_ALARM_DEVICE_UNREACHABLE : VP_ALARM_RENEWAL_FAILED, subject, VP_SEV_CRITICAL, msg,
	    &changed, e);
}

/* 1 if the state columns a task writes (all but the identity) are the same in a and b. */
static int
same_state(const vp_device *a, const vp_device *b)
{
	return strcmp(a->https_state, b->https_state) == 0 && strcmp(a->status, b->status) == 0 &&
	    strcmp(a->status_detail, b->status_detail) == 0 && a->pinned == b->pinned &&
	    a->https_only == b->https_only && strcmp(a->cert_serial, b->cert_serial) == 0 &&
	    strcmp(a->cert_alias, b->cert_alias) == 0 && a->cert_not_after == b->cert_not_after;
}

/* A check does not hold its device against other tasks (task.c): what it writes is put on
 * the row as it is now, so that a task that changed the device meanwhile is not undone.
 * The identity it read is written; its status only if nobody changed the row's state since
 * the check loaded it (or last wrote it): a task that did saw the device later than the
 * check's first look, and its word stands. In the caller's transaction. */
static vp_err
check_write(engine *g, job *j, vp_error *e)
{
	vp_device cur;
	vp_err rc;

	if ((rc = vp_device_get(g->s, j->dev_id, &cur, e)) != VP_OK) {
		if (rc != VP_ERR_NOTFOUND)
			return rc;
		vp_error_clear(e);            /* removed meanwhile */
		return VP_OK;
	}
	snprintf(cur.mac, sizeof(cur.mac), "%s", j->dev.mac);
	snprintf(cur.model, sizeof(cur.model), "%s", j->dev.model);
	snprintf(cur.firmware, sizeof(cur.firmware), "%s", j->dev.firmware);
	snprintf(cur.api, sizeof(cur.api), "%s", j->dev.api);
	if (same_state(&cur, &j->seen)) {
		snprintf(cur.status, sizeof(cur.status), "%s", j->dev.status);
		snprintf(cur.status_detail, sizeof(cur.status_detail), "%s", j->dev.status_detail);
		if (strcmp(j->dev.https_state, VP_HTTPS_UNSUPPORTED) == 0)
			snprintf(cur.https_state, sizeof(cur.https_state), "%s",
			    VP_HTTPS_UNSUPPORTED);
	} else if (strcmp(cur.status, j->dev.status) != 0) {
		elog(g, "task %" PRId64 ": device %" PRId64 " (%s) was changed by another task "
		    "while it was checked: it keeps the status that task found (%s), not the "
		    "check's (%s)", j->task->id, j->dev_id, j->dev.address, cur.status,
		    j->dev.status);
	}
	if ((rc = vp_device_update_state(g->s, &cur, e)) != VP_OK)
		return rc;
	j->written = cur;
	return VP_OK;
}

/* Writes every dirty job, the certificates signed this turn and the device rows, and ends the
 * tasks that have nothing left, in one transaction. */
static vp_err
flush(engine *g, vp_error *e)
{
	int64_t now = (int64_t)time(NULL);
	int any = 0;
	vp_err rc;

	for (job *j = g->jobs; j != NULL; j = j->next)
		any |= j->dirty | j->device_dirty | (j->issued != NULL);
	for (etask *t = g->tasks; t != NULL; t = t->next)
		any |= t->done_loading && t->active == 0;
	if (!any)
		return VP_OK;
	if ((rc = vp_store_begin(g->s, e)) != VP_OK)
		return rc;
	for (job *j = g->jobs; j != NULL; j = j->next) {
		char actor[48];

		if (j->issued != NULL) {
			snprintf(actor, sizeof(actor), "task %" PRId64, j->task->id);
			if ((rc = vp_issue_record(g->s, &j->issued, 1, actor, e)) != VP_OK)
				goto fail;
		}
		if (j->device_dirty && (rc = j->task->check ? check_write(g, j, e) :
		    vp_device_update_state(g->s, &j->dev, e)) != VP_OK)
			goto fail;
		if (j->dirty && j->ended && (rc = renewal_alarms(g, j, e)) != VP_OK)
			goto fail;
		if (!j->dirty)
			continue;
		int failed = strcmp(j->status, "Failed") == 0;
		const char *stepname = failed || strcmp(j->status, "Cancelled") == 0 ?
		    step_names[j->fstep] : step_names[j->step];

		vp_store_result r = {
			.task_id = j->task->id, .device_id = j->dev_id, .status = j->status,
			.step = stepname, .error = j->ended ? j->ferror : "",
			.retryable = failed && j->fretryable, .attempts = j->attempts + 1,
			.key_alias = j->alias, .cert_serial = j->serial, .started_at = now,
			.finished_at = j->ended ? now : 0, .duration_ms = now_ms() - j->started_ms
		};

		if ((rc = vp_store_result_write(g->s, &r, e)) != VP_OK)
			goto fail;
	}
	for (etask *t = g->tasks; t != NULL; t = t->next) {
		vp_task now_t;
		const char *state;

		if (!t->done_loading || t->active != 0)
			continue;
		if ((rc = vp_task_get(g->s, t->id, &now_t, e)) != VP_OK)
			goto fail;
		if (now_t.pending + now_t.running > 0)
			continue;
		if (t->replace && now_t.phase == VP_TASK_PHASE_DEVICES) {
			char why[300];

			if (now_t.failed + now_t.cancelled + now_t.items_failed == 0 &&
			    !now_t.cancel) {
				t->retire = 1;        /* after this commit: retire_old_ca() */
				t->t = now_t;
				continue;
			}
			snprintf(why, sizeof(why), "still trusted: %" PRId64 " device%s and %" PRId64
			    " other item%s have no certificate of the new CA yet; `vmspki task "
			    "retry-failed %" PRId64 "` finishes the replacement", now_t.failed +
			    now_t.cancelled, now_t.failed + now_t.cancelled == 1 ? "" : "s",
			    now_t.items_failed, now_t.items_failed == 1 ? "" : "s", t->id);
			if ((rc = vp_task_item_set(g->s, t->id, VP_TASK_ITEM_OLD_CA, "Pending", why,
			    e)) != VP_OK)
				goto fail;
		}
		if (now_t.failed > 0 || now_t.items_failed > 0)
			state = VP_TASK_FAILED;
		else if (now_t.cancelled > 0 || t->replace)
			state = VP_TASK_CANCELLED;   /* a replacement here did not retire the old CA */
		else
			state = VP_TASK_FINISHED;
		if ((rc = vp_store_claim_finish(g->s, t->id, state, now, e)) != VP_OK)
			goto fail;
		t->t = now_t;
		snprintf(t->t.state, sizeof(t->t.state), "%s", state);
	}
	if ((rc = vp_store_commit(g->s, e)) != VP_OK)
		goto fail;
	for (job *j = g->jobs; j != NULL; j = j->next) {
		vp_issued_free(j->issued);
		j->issued = NULL;
		if (j->device_dirty && j->task->check)
			j->seen = j->written;
		j->dirty = j->device_dirty = 0;
	}
	return VP_OK;
fail:
	vp_store_rollback(g->s);
	return rc;
}

/* Removes ended tasks and their bookkeeping. */
static void
tasks_reap(engine *g)
{
	etask **pp = &g->tasks;

	while (*pp != NULL) {
		etask *t = *pp;

		if (vp_task_done(&t->t) && t->active == 0) {
			elog(g, "task %" PRId64 ": %s (%" PRId64 " finished, %" PRId64 " failed, %"
			    PRId64 " cancelled)", t->id, t->t.state, t->t.finished, t->t.failed,
			    t->t.cancelled);
			*pp = t->next;
			free(t);
		} else {
			pp = &t->next;
		}
	}
}

/* ---- CA replacement: the local items and the end ---- */

static vp_err engine_ca_setup(engine *g, vp_error *e);

/* Makes sure the engine signs with, installs and verifies against the CA the store holds now
 * (a replacement may have changed it since the engine started). */
static vp_err
engine_ca_check(engine *g, vp_error *e)
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
	return engine_ca_setup(g, e);
}

static void
comp_log(void *arg, const char *line)
{
	elog(arg, "%s", line);
}

/* Runs the reload command of every component that has one: after the site's trust file
 * changed (the new CA added, or the old one removed), the components read it again. */
static void
reload_components(engine *g, const char *why)
{
	vp_component_conf *conf = NULL;
	vp_error e = { 0 };

	if (g->cfg->datadir == NULL)
		return;
	if (vp_component_conf_load(g->cfg->datadir, &conf, &e) != VP_OK) {
		elog(g, "cannot read the components' reload commands: %s", e.msg);
		return;
	}
	for (size_t i = 0; i < conf->n; i++) {
		char result[200];
		int status;

		if (conf->c[i].reload == NULL)
			continue;
		vp_component_run_reload(conf->c[i].id, conf->c[i].reload,
		    VP_COMPONENT_RELOAD_TIMEOUT, comp_log, g, &status, result, sizeof(result));
		elog(g, "component %s: reload command (%s) %s", conf->c[i].id, why, result);
	}
	vp_component_conf_free(conf);
}

/* Phase 1 of a replacement: every component is made to trust the new CA (the trust file
 * holds both CAs since the replacement began), then gets certificates of the new CA; the API
 * server certificate is renewed by the new CA. Each item's result is recorded and the task
 * moves on to its devices, whatever failed: the old CA stays trusted until all are done. */
static void
replace_local(engine *g, etask *t)
{
	vp_component_outcome *oc = NULL;
	vp_component_info *ci = NULL;
	size_t noc = 0, nci = 0;
	vp_servercert_status st;
	vp_error e = { 0 };
	const vp_ca *ca = NULL;
	char actor[48], detail[512], item[96], srv[512];
	const char *srv_status = "Finished";
	int renewed = 0, comp_err = 0;

	snprintf(actor, sizeof(actor), "task %" PRId64, t->id);
	if (g->cfg->datadir == NULL) {
		elog(g, "task %" PRId64 ": no data directory to find the components in", t->id);
		return;
	}
	if (engine_ca_check(g, &e) != VP_OK || (ca = g->cfg->ca_hold(g->cfg->ca_arg)) == NULL) {
		elog(g, "task %" PRId64 ": cannot load the new CA (will retry): %s", t->id, e.msg);
		return;
	}
	elog(g, "task %" PRId64 ": moving the components and the server certificate to the new "
	    "CA", t->id);
	reload_components(g, "to trust the new CA");
	if (vp_component_renew(g->s, ca, g->cfg->datadir, NULL, 0, 0, actor, comp_log, g, &oc,
	    &noc, &e) != VP_OK || vp_component_list(g->s, ca, g->cfg->datadir, &ci, &nci, &e) !=
	    VP_OK) {
		comp_err = 1;
		elog(g, "task %" PRId64 ": the components could not be re-issued: %s", t->id,
		    e.msg);
	}
	snprintf(srv, sizeof(srv), "%s", "");
	if (vp_servercert_status_get(ca, g->cfg->datadir, &st, &e) != VP_OK) {
		srv_status = "Failed";
		snprintf(srv, sizeof(srv), "%.500s", e.msg);
	} else if (!st.present) {
		snprintf(srv, sizeof(srv), "there is none yet: `vmspki serve` makes it from the new "
		    "CA when it starts");
	} else if (st.imported) {
		snprintf(srv, sizeof(srv), "imported by the operator (serial %s): left in place; "
		    "import one issued by the new CA (`vmspki server-cert import`)", st.serial);
	} else if (vp_servercert_ensure(g->s, ca, g->cfg->datadir, 0, actor, &renewed, &st, &e) !=
	    VP_OK) {
		srv_status = "Failed";
		snprintf(srv, sizeof(srv), "%.500s", e.msg);
	} else {
		snprintf(srv, sizeof(srv), "%s serial %s, issued by the new CA", renewed ?
		    "renewed:" : "already", st.serial);
	}
	g->cfg->ca_release(g->cfg->ca_arg, ca);

	if (vp_store_begin(g->s, &e) != VP_OK)
		goto out;
	for (size_t i = 0; i < nci || (comp_err && i == 0); i++) {
		const char *status = "Finished";
		size_t n = 0;

		if (comp_err) {
			/* Every component item fails with the reason. */
			if (vp_store_claim_components_failed(g->s, t->id, e.msg,
			    (int64_t)time(NULL), &e) != VP_OK)
				goto fail;
			break;
		}
		detail[0] = '\0';
		for (int k = 0; k < 2; k++) {
			const vp_component_cert *c = &ci[i].cert[k];
			const vp_component_outcome *o = NULL;

			if (!c->wanted)
				continue;
			for (size_t x = 0; x < noc; x++)
				if (strcmp(oc[x].id, ci[i].id) == 0)
					o = &oc[x];
			if (strcmp(c->status, "OK") != 0 &&
			    strcmp(c->status, "Certificate about to expire") != 0)
				status = "Failed";
			n += (size_t)snprintf(detail + n, n < sizeof(detail) ? sizeof(detail) - n : 0,
			    "%s%s certificate %s: %s", n > 0 ? "; " : "",
			    vp_component_kind_name((vp_component_kind)k), c->serial[0] ?
			    c->serial : "-", o != NULL && o->renewed[k] ? "issued by the new CA" :
			    c->status);
		}
		for (size_t x = 0; x < noc; x++)
			if (strcmp(oc[x].id, ci[i].id) == 0 && oc[x].reload_ran &&
			    n < sizeof(detail))
				n += (size_t)snprintf(detail + n, sizeof(detail) - n,
				    "; reload command %s", oc[x].reload_result);
		if (strcmp(status, "Failed") != 0)
			for (size_t x = 0; x < noc; x++)
				if (strcmp(oc[x].id, ci[i].id) == 0 && oc[x].reload_ran &&
				    oc[x].reload_status != 0)
					status = "Failed";
		snprintf(item, sizeof(item), "component %s", ci[i].id);
		if (vp_task_item_set(g->s, t->id, item, status, detail, &e) != VP_OK)
			goto fail;
	}
	if (vp_task_item_set(g->s, t->id, VP_TASK_ITEM_SERVER, srv_status, srv, &e) != VP_OK ||
	    vp_task_set_phase(g->s, t->id, VP_TASK_PHASE_DEVICES, &e) != VP_OK ||
	    vp_store_commit(g->s, &e) != VP_OK)
		goto fail;
	t->t.phase = VP_TASK_PHASE_DEVICES;
	t->claimed_ms = now_ms();             /* the devices' start ramp begins now */
	elog(g, "task %" PRId64 ": components and server certificate done; now the devices",
	    t->id);
	goto out;
fail:
	vp_store_rollback(g->s);
out:
	if (e.code != VP_OK)
		elog(g, "task %" PRId64 ": cannot record the components' outcome (will retry): %s",
		    t->id, e.msg);
	free(oc);
	free(ci);
}

/* Counts the certificates of the old CA that vmspki did not install (made with `vmspki issue`
 * for holders it cannot reach) and that are still in force. */
typedef struct outside_count {
	int64_t now;
	int n;
} outside_count;

static int
count_outside(const vp_cert_rec *r, void *arg)
{
	outside_count *c = arg;
	const char *k = r->owner_kind != NULL ? r->owner_kind : "";

	if (r->not_after > c->now && strcmp(r->status, "revoked") != 0 &&
	    strcmp(k, "device") != 0 && strcmp(k, "component") != 0 && strcmp(k, "server") != 0)
		c->n++;
	return 0;
}

/* The last phase of a replacement, once every item and device has a certificate of the new
 * CA: the old CA leaves the site's trust file and the store, the components read the trust
 * file again, and the task ends. */
static void
retire_old_ca(engine *g, etask *t)
{
	vp_error e = { 0 };
	char actor[48], detail[500];
	int64_t now = (int64_t)time(NULL);
	const char *state = VP_TASK_FINISHED;
	outside_count oc = { now, 0 };
	vp_cert_filter f = { 0 };

	t->retire = 0;
	if (g->old_fp[0] != '\0') {
		f.issuer_fp = g->old_fp;
		if (vp_store_cert_list(g->s, &f, count_outside, &oc, &e) != VP_OK)
			elog(g, "task %" PRId64 ": cannot count the old CA's other certificates: %s",
			    t->id, e.msg);
		vp_error_clear(&e);
	}
	snprintf(actor, sizeof(actor), "task %" PRId64, t->id);
	if (vp_ca_retire_previous(g->s, g->cfg->datadir != NULL ? g->cfg->datadir : ".", t->id,
	    actor, &e) != VP_OK) {
		state = VP_TASK_FAILED;
		snprintf(detail, sizeof(detail), "could not be retired: %.250s", e.msg);
	} else {
		if (oc.n > 0)
			snprintf(detail, sizeof(detail), "retired: certs/ca.cert.pem holds the new CA "
			    "alone; %d certificate%s of the old CA made with `vmspki issue` (not "
			    "installed by vmspki) %s still in force: %s (`vmspki cert list`)", oc.n,
			    oc.n == 1 ? "" : "s", oc.n == 1 ? "is" : "are", oc.n == 1 ?
			    "its holder needs a new one" : "their holders need new ones");
		else
			snprintf(detail, sizeof(detail), "retired: certs/ca.cert.pem holds the new CA "
			    "alone");
		g->old_fp[0] = '\0';
		reload_components(g, "to stop trusting the old CA");
	}
	vp_error_clear(&e);
	if (vp_store_begin(g->s, &e) != VP_OK ||
	    vp_task_item_set(g->s, t->id, VP_TASK_ITEM_OLD_CA, strcmp(state, VP_TASK_FINISHED) ==
	    0 ? "Finished" : "Failed", detail, &e) != VP_OK ||
	    vp_task_set_phase(g->s, t->id, strcmp(state, VP_TASK_FINISHED) == 0 ?
	    VP_TASK_PHASE_DONE : VP_TASK_PHASE_DEVICES, &e) != VP_OK ||
	    vp_store_claim_finish(g->s, t->id, state, now, &e) != VP_OK ||
	    vp_store_commit(g->s, &e) != VP_OK) {
		vp_store_rollback(g->s);
		elog(g, "task %" PRId64 ": cannot record its end (will retry): %s", t->id, e.msg);
		t->done_loading = 0;          /* looked at again: the retirement is idempotent */
		return;
	}
	elog(g, "task %" PRId64 ": the old CA %s", t->id, detail);
	snprintf(t->t.state, sizeof(t->t.state), "%s", state);
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
	j->started_ms = now_ms();
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
	int64_t el = now_ms() - t->claimed_ms;

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
static vp_err
fill(engine *g, vp_error *e)
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
			replace_local(g, t);
			continue;
		}
		if (t->retire)
			continue;
		if (t->done_loading || want <= 0 || vp_task_done(&t->t))
			continue;
		if ((rc = vp_store_claim_pending(g->s, t->id, want, fill_one, &w, e)) != VP_OK)
			return rc;
		if (w.got < want)
			t->done_loading = 1;
	}
	return VP_OK;
}

/* Refreshes our tasks (cancel requests) from the store. */
static void
tasks_refresh(engine *g)
{
	for (etask *t = g->tasks; t != NULL; t = t->next) {
		vp_task now_t;

		if (vp_task_get(g->s, t->id, &now_t, NULL) == VP_OK)
			t->t = now_t;
	}
}

/* Removes ended jobs that are written. */
static void
jobs_reap(engine *g)
{
	job **pp = &g->jobs;

	while (*pp != NULL) {
		job *j = *pp;

		if (j->ended && !j->dirty && !j->device_dirty && j->issued == NULL) {
			*pp = j->next;
			job_release_slot(g, j);
			job_free(j);
		} else {
			pp = &j->next;
		}
	}
}

/* Starts what ready jobs do next. */
static void
jobs_start(engine *g)
{
	int64_t now = now_ms();

	for (job *j = g->jobs; j != NULL; j = j->next) {
		vp_error e = { 0 };

		/* A certificate signed for the device is installed only once it is recorded. */
		if (!j->ready || j->ended || j->wake_ms > now || j->issued != NULL)
			continue;
		j->ready = 0;
		if (step_start(g, j, &e) != VP_OK) {
			job_fail(j, VP_DEVF_NONE, 1, "%s", e.msg);
			continue;
		}
		/* An operation that finished without a request (none needed). */
		if (j->xfer == NULL && j->op != NULL) {
			op_done(g, j);
			if (j->error[0] == '\0')
				j->ready = 1;
		}
	}
}

/* The certificate of the CA and what follows a device certificate in its chain. */
static vp_err
engine_ca_setup(engine *g, vp_error *e)
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
		rc = vp_chain_to_pem(chain, &g->chain_pem, &len, e);
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

/* On a clean stop, give our tasks back: their Running devices resume in the next engine. */
static void
release_all(engine *g)
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

vp_err
vp_engine_run(const vp_engine_cfg *cfg, vp_error *e)
{
	engine g;
	vp_err rc;

	memset(&g, 0, sizeof(g));
	g.cfg = cfg;
	g.max_active = cfg->max_active > 0 ? cfg->max_active : VP_ENGINE_MAX_ACTIVE_DEFAULT;
	snprintf(g.ca_pem_path, sizeof(g.ca_pem_path), "%s", cfg->ca_file);
	if (cfg->datadir != NULL)
		snprintf(g.verify_path, sizeof(g.verify_path), "%s/certs/ca.chain.pem", cfg->datadir);
	else
		snprintf(g.verify_path, sizeof(g.verify_path), "%s", cfg->ca_file);
	make_instance(&g);
	if ((rc = vp_store_open(cfg->db_path, &g.s, e)) != VP_OK)
		return rc;
	if (cfg->max_active <= 0) {
		long m = VP_ENGINE_MAX_ACTIVE_DEFAULT;

		if ((rc = vp_setting_get_int(g.s, "engine.max_devices", &m, e)) != VP_OK)
			goto out;
		g.max_active = (int)m;
	}
	if ((rc = engine_ca_setup(&g, e)) != VP_OK)
		goto out;
	if ((g.multi = curl_multi_init()) == NULL) {
		rc = vp_error_set(e, VP_ERR_NOMEM, "cannot start libcurl");
		goto out;
	}
	curl_multi_setopt(g.multi, CURLMOPT_MAX_HOST_CONNECTIONS, 2L);
	/* Keep a connection per active device between its requests (over HTTPS a new one costs
	 * the camera a handshake); curl's default keeps four per handle in transfer only. */
	curl_multi_setopt(g.multi, CURLMOPT_MAXCONNECTS, (long)(2 * g.max_active + 16));
	if ((rc = claim(&g, 1, e)) != VP_OK)
		goto out;
	while (cfg->stop == NULL || !atomic_load(cfg->stop)) {
		int64_t now = now_ms();
		int running = 0, left = 0;
		CURLMsg *m;

		if (now - g.last_poll_ms >= POLL_MS || (cfg->nudge != NULL &&
		    atomic_exchange(cfg->nudge, 0))) {
			if ((rc = claim(&g, now - g.last_lease_ms >= LEASE_RENEW_MS, e)) != VP_OK)
				elog(&g, "cannot claim tasks: %s", e->msg);
			tasks_refresh(&g);
			if (engine_ca_check(&g, e) != VP_OK)
				elog(&g, "cannot reload the CA: %s", e->msg);
			g.last_poll_ms = now;
		}
		if ((rc = fill(&g, e)) != VP_OK)
			elog(&g, "cannot read the tasks: %s", e->msg);
		for (job *j = g.jobs; j != NULL; j = j->next)
			job_decide(&g, j);
		/* Progress is written in one transaction every FLUSH_MS (a step a device resumes
		 * from is redone safely); a signed certificate, which must be recorded before it
		 * is installed, is written at once. */
		int urgent = 0;
		for (job *j = g.jobs; j != NULL; j = j->next)
			urgent |= j->issued != NULL;
		for (etask *t = g.tasks; t != NULL; t = t->next)
			urgent |= t->done_loading && t->active == 0;
		urgent |= g.loaded;
		g.loaded = 0;
		if (urgent || now_ms() - g.last_flush_ms >= FLUSH_MS) {
			if ((rc = flush(&g, e)) != VP_OK) {
				/* What depends on the write waits; try again next turn. */
				elog(&g, "cannot record the tasks' progress (will retry): %s", e->msg);
			} else {
				g.last_flush_ms = now_ms();
				for (etask *t = g.tasks; t != NULL; t = t->next)
					if (t->retire)
						retire_old_ca(&g, t);
				jobs_reap(&g);
				tasks_reap(&g);
			}
		}
		jobs_start(&g);
		/* The command's engine ends as soon as its task has: nothing left to claim. */
		if (g.tasks == NULL && g.jobs == NULL && cfg->exit_when_idle) {
			if ((rc = claim(&g, 1, e)) != VP_OK)
				goto out;
			if (g.tasks == NULL)
				break;
		}
		curl_multi_perform(g.multi, &running);
		while ((m = curl_multi_info_read(g.multi, &left)) != NULL) {
			if (m->msg != CURLMSG_DONE)
				continue;
			for (job *j = g.jobs; j != NULL; j = j->next)
				if (j->xfer != NULL && vp_devhttp_easy(j->xfer) == m->easy_handle) {
					xfer_done(&g, j, m->data.result);
					break;
				}
		}
		/* Wake for answers; for a job that can go on (now, or after its pause); for the
		 * next write of progress; or for the next poll. */
		int wait = POLL_MS;
		int64_t tnow = now_ms();
		for (job *j = g.jobs; j != NULL; j = j->next) {
			int64_t d = WAIT_MAX_MS;

			if (j->error[0] != '\0' || (j->ready && !j->ended))
				d = j->wake_ms - tnow;
			if ((j->dirty || j->device_dirty || j->ended) &&
			    g.last_flush_ms + FLUSH_MS - tnow < d)
				d = g.last_flush_ms + FLUSH_MS - tnow;
			if (d < wait)
				wait = d > 0 ? (int)d : 0;
		}
		if (g.ramping && wait > RAMP_STEP_MS)
			wait = RAMP_STEP_MS;
		g.ramping = 0;
		if (wait > 0)
			curl_multi_poll(g.multi, NULL, 0, wait, NULL);
	}
	rc = VP_OK;
out:
	for (job *j = g.jobs, *n; j != NULL; j = n) {
		n = j->next;
		if (j->xfer != NULL)
			curl_multi_remove_handle(g.multi, vp_devhttp_easy(j->xfer));
		job_free(j);
	}
	g.jobs = NULL;
	if (g.s != NULL && g.multi != NULL)
		release_all(&g);
	for (etask *t = g.tasks, *n; t != NULL; t = n) {
		n = t->next;
		free(t);
	}
	curl_multi_cleanup(g.multi);
	free(g.ca_pem);
	free(g.chain_pem);
	vp_store_close(g.s);
	return rc;
}
