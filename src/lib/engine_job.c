/* The per-device step machine of the task engine: what each step asks of the device's driver,
 * what its answer means, and what a failure leads to.
 *
 *   identify -> install-ca -> create-key -> sign -> install-certificate -> bind -> verify
 *   -> cleanup [-> remove-old-ca]
 *
 * A device that resumes (after a crash, a retry or a takeover) starts again from the top,
 * where every step checks first what the device already has: the CA is added only when
 * missing, a key made before the crash (its alias is fixed per task) is reused, the
 * certificate already signed for it is reused rather than signed twice, a certificate already
 * installed is not installed again.
 *
 * Failures. A step that fails leaves the device as it was: once the binding was changed, the
 * old binding and policy are put back. The result records the step, the device's own words
 * and whether a retry may help; an unreachable device is retried twice after a pause within
 * the task, wrong credentials never (cameras lock accounts).
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/pem.h>
#include <openssl/x509.h>

#include "engine_internal.h"
#include "internal.h"
#include "offload.h"
#include "vmspki/addr.h"
#include "vmspki/util.h"

const char *const eng_step_names[] = {
	"identify", "install-ca", "create-key", "sign", "install-certificate", "bind", "verify",
	"cleanup", "remove-old-ca", "configure-8021x", "done"
};

/* A signature made on the worker thread (offload.c): what it needs, copied, since the job may
 * be dropped meanwhile (its task taken over by another engine); kept until the loop's thread
 * takes it back. The worker touches only ca, req, ir and what ir points into, issued, rc, e. */
struct eng_signing {
	engine *g;
	job *j;                       /* NULL once the job is gone */
	const vp_ca *ca;              /* held from the hand-off to signing_free */
	X509_REQ *req;
	vp_issue_req ir;
	char cn[256];
	char address[sizeof(((vp_device *)0)->address)];
	char name[sizeof(((vp_device *)0)->name)];
	const char *ips[1], *dns[2];
	char owner[32];
	vp_issued *issued;
	vp_err rc;
	vp_error e;
};

void
eng_job_free(engine *g, job *j)
{
	if (j == NULL)
		return;
	if (j->xfer != NULL)
		g->net->release(g, j);
	g->net->forget(g, j);
	if (j->signing != NULL)
		j->signing->j = NULL;         /* the signature in flight ends without it */
	vp_dop_free(j->op);
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
	free(j->fg_certs);
	free(j->fg_cas);
	for (int i = 0; i < j->ninter; i++)
		free(j->inter_pem[i]);
	free(j);
}

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
	size_t size;

	if (!vp_size_mul(j->ncleanup + 1, sizeof(*m), &size) ||
	    (m = realloc(j->cleanup, size)) == NULL)
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

static vp_err start_op(engine *g, job *j, vp_dop_kind kind, const vp_dop_args *a,
    vp_error *e);

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
		a.alias = eng_job_ca_alias(g, j);
		a.pem = eng_job_ca_pem(g, j);
		if (j->task->install) {        /* the chain's intermediate CAs (extcert.h) */
			a.alias = j->inter_alias[j->inter_cur];
			a.pem = j->inter_pem[j->inter_cur];
		}
		return start_op(g, j, VP_DOP_CA_ADD, &a, e);
	case ST_KEY:
		if (j->sub == 0 || j->sub == 2)      /* what is there; after making it, its cert */
			return start_op(g, j, VP_DOP_CERT_LIST, &a, e);
		a.alias = j->alias;
		a.key_type = "RSA-2048";
		a.keystore = j->task->keystore[0] != '\0' ? j->task->keystore : NULL;
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
		if (!j->rollback && !j->task->install) {
			cas[0] = g->ca_alias;
			a.ca_aliases = cas;
		}
		if (!j->rollback && j->task->install && j->ninter > 0) {
			static __thread const char *inter[VP_EXT_MAX_INTER + 1];

			for (int i = 0; i < j->ninter; i++)
				inter[i] = j->inter_alias[i];
			inter[j->ninter] = NULL;
			a.ca_aliases = inter;
		}
		return start_op(g, j, VP_DOP_TLS_SET, &a, e);
	case ST_VERIFY: {
		vp_dev_conn c = j->conn;

		/* Against the current CA alone: during a replacement the site still trusts the
		 * old one, but the device must now serve a certificate of the new. */
		c.verify = 1;
		c.ca_file = g->verify_path;
		c.pinned_pubkey = NULL;
		/* An outside certificate was checked against its chain when the task was made
		 * (extcert.c): the handshake shows that the device serves exactly it. */
		if (j->task->install) {
			if (!vp_extcert_pin_of(j->cert_pem, j->ext_pin, sizeof(j->ext_pin)))
				return vp_error_set(e, VP_ERR_INTERNAL, "the certificate to verify "
				    "cannot be read");
			c.verify = 0;
			c.pinned_pubkey = j->ext_pin;
		}
		c.tls_name = j->dev.address;
		j->tls_check = 1;
		return g->net->verify(g, j, &c, e);
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
	case ST_DOT1X: {
		vp_dop_kind kind;
		vp_err rc;

		if ((rc = eng_dot1x_step_start(g, j, &a, &kind, e)) != VP_OK)
			return rc;
		return start_op(g, j, kind, &a, e);
	}
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
	return g->net->send(g, j, &j->conn, req, e);
}

static vp_err
start_op(engine *g, job *j, vp_dop_kind kind, const vp_dop_args *a, vp_error *e)
{
	const vp_driver *drv = g->driver != NULL ? g->driver : vp_driver_for_api(j->dev.api);
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

void
eng_job_set_step(job *j, enum step s)
{
	set_step(j, s);
}

/* On the worker thread. */
static void
signing_run(void *arg)
{
	eng_signing *w = arg;

	w->rc = vp_issue_sign(w->ca, &w->ir, &w->issued, &w->e);
}

static void
signing_free(engine *g, eng_signing *w)
{
	if (w->ca != NULL)
		g->cfg->ca_release(g->cfg->ca_arg, w->ca);
	vp_issued_free(w->issued);
	X509_REQ_free(w->req);
	free(w);
}

/* The certificate to install: leaf (the job's certificate) and the chain; then the next step. */
static void
sign_chain(engine *g, job *j, const char *leaf)
{
	size_t leaflen = strlen(leaf), chainlen = strlen(g->chain_pem);

	free(j->cert_pem);
	if ((j->cert_pem = malloc(leaflen + chainlen + 1)) == NULL) {
		job_fail(j, VP_DEVF_NONE, 1, "out of memory");
		return;
	}
	memcpy(j->cert_pem, leaf, leaflen);
	memcpy(j->cert_pem + leaflen, g->chain_pem, chainlen + 1);
	set_step(j, !j->cert_installed ? ST_INSTALL : j->task->dot1x ? ST_DOT1X : ST_BIND);
}

/* Back on the loop's thread: the signed certificate is recorded by the next write of progress
 * (before it is installed), as when it was signed there. */
static void
signing_done(engine *g, eng_signing *w)
{
	job *j = w->j;

	if (j == NULL)
		goto out;                     /* dropped meanwhile: nothing waits for it */
	j->signing = NULL;
	if (w->rc != VP_OK) {
		job_fail(j, VP_DEVF_NONE, 0, "cannot sign the device's certificate: %s", w->e.msg);
		goto out;
	}
	j->issued = w->issued;
	w->issued = NULL;
	snprintf(j->serial, sizeof(j->serial), "%s", j->issued->rec.serial);
	snprintf(j->fp, sizeof(j->fp), "%s", j->issued->rec.fingerprint);
	j->not_after = j->issued->rec.not_after;
	sign_chain(g, j, j->issued->rec.pem);
	if (j->error[0] == '\0')
		j->ready = 1;
out:
	signing_free(g, w);
}

/* On the worker thread, a signature done: the loop's wait ends, so that it takes it. */
static void
signing_wake(void *arg)
{
	engine *g = arg;

	g->net->wake(g);
}

/* A signature the loop will not take (it is stopping). */
static void
signing_dispose(void *arg)
{
	eng_signing *w = arg;

	if (w->j != NULL)
		w->j->signing = NULL;
	signing_free(w->g, w);
}

void
eng_signer_start(engine *g)
{
	vp_error e = { 0 };

	if (vp_offload_new(signing_wake, g, &g->signer, &e) != VP_OK)
		eng_log(g, "signing on the engine's thread: %s", e.msg);
}

/* Before the jobs go: the worker may still hold one of theirs. */
void
eng_signer_stop(engine *g)
{
	vp_offload_free(g->signer, signing_dispose);
	g->signer = NULL;
}

void
eng_signed_take(engine *g)
{
	eng_signing *w;

	if (g->signer == NULL)
		return;
	while ((w = vp_offload_take(g->signer)) != NULL)
		signing_done(g, w);
}

/* Signs the device's CSR (or reuses the certificate already signed for this key). The
 * signature (RSA-4096: milliseconds) is made on the worker thread when there is one: the job
 * waits (j->signing) while the loop goes on with the other devices. */
static void
sign_csr(engine *g, job *j)
{
	X509_REQ *req = NULL;
	EVP_PKEY *csrkey;
	vp_cert_rec old;
	vp_error e = { 0 };
	eng_signing *w = NULL;
	size_t nip = 0, ndns = 0;

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
			j->not_after = old.not_after;
			snprintf(j->fp, sizeof(j->fp), "%s", old.fingerprint);
			sign_chain(g, j, old.pem);
			goto out;
		}
	}
	if ((w = calloc(1, sizeof(*w))) == NULL) {
		job_fail(j, VP_DEVF_NONE, 1, "out of memory");
		goto out;
	}
	w->g = g;
	w->j = j;
	w->req = req;
	req = NULL;
	snprintf(w->cn, sizeof(w->cn), "%s", j->cn);
	snprintf(w->address, sizeof(w->address), "%s", j->dev.address);
	snprintf(w->name, sizeof(w->name), "%s", j->dev.name);
	w->ir.profile = j->task->dot1x ? "device-8021x" : "device-https";
	w->ir.csr = w->req;
	w->ir.cn = w->cn;
	/* An 802.1X certificate names the identity only (CN). */
	if (j->task->dot1x)
		;
	else if (vp_addr_is_ip(w->address))
		w->ips[nip++] = w->address;
	else
		w->dns[ndns++] = w->address;
	if (!j->task->dot1x && w->name[0] != '\0' && strcmp(w->name, w->address) != 0)
		w->dns[ndns++] = w->name;
	w->ir.ip = w->ips;
	w->ir.nip = nip;
	w->ir.dns = w->dns;
	w->ir.ndns = ndns;
	w->ir.days = j->days;
	w->ir.owner_kind = "device";
	snprintf(w->owner, sizeof(w->owner), "%" PRId64, j->dev_id);
	w->ir.owner_id = w->owner;
	if ((w->ca = g->cfg->ca_hold(g->cfg->ca_arg)) == NULL) {
		job_fail(j, VP_DEVF_NONE, 1, "the CA is not loaded: nothing was signed");
		signing_free(g, w);
		goto out;
	}
	/* No certificate past the CA's end: a validity that would pass it is clamped to it, as
	 * the profile's default is (an explicit --days is refused by `vmspki issue`, but a task
	 * over many cameras would fail every one of them). */
	if (w->ir.days > 0 && (int64_t)time(NULL) + (int64_t)w->ir.days * 86400 >
	    vp_asn1_time_unix(X509_get0_notAfter(vp_ca_cert(w->ca))))
		w->ir.days = 0;
	j->signing = w;
	if (g->signer == NULL || vp_offload_submit(g->signer, signing_run, w, &e) != VP_OK) {
		signing_run(w);               /* no worker: here, as before */
		signing_done(g, w);
	}
out:
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

	const char *prefix = j->task->dot1x ? DOT1X_ALIAS_PREFIX : ALIAS_PREFIX;

	/* Other tools' (ACS, ADM) when asked, never the one bound now: the bound certificate is
	 * ours once verified, and a factory certificate has no bracketed header. */
	if (j->task->clean && vp_foreign_alias(c->alias) && strcmp(c->alias, j->alias) != 0 &&
	    (j->step == ST_CLEANUP || j->step == ST_OLDCA))
		return 1;
	if (j->step == ST_CLEANUP)
		return (strncmp(c->alias, prefix, strlen(prefix)) == 0 ||
		    (j->task->install && strncmp(c->alias, VP_EXT_ALIAS_PREFIX,
		    strlen(VP_EXT_ALIAS_PREFIX)) == 0)) && strcmp(c->alias, j->alias) != 0;
	if (strncmp(c->alias, CA_ALIAS_PREFIX, strlen(CA_ALIAS_PREFIX)) == 0 &&
	    strcmp(c->alias, g->ca_alias) != 0)
		return 1;
	return c->pem != NULL && g->old_fp[0] != '\0' && pem_fingerprint(c->pem, fp) &&
	    strcmp(fp, g->old_fp) == 0;
}

/* Other tools' certificates (cas: CA certificates) in a list the device gave, but those about
 * to be removed: the commit records them for `device show` (foreign.h). */
static void
foreign_seen(job *j, int cas, const vp_dop_result *r, const char *const *skip, size_t nskip)
{
	const char *none[1] = { NULL };
	const char **sk = NULL;
	char *txt;

	if (nskip > 0 && (sk = calloc(nskip + 1, sizeof(*sk))) != NULL)
		memcpy(sk, skip, nskip * sizeof(*sk));
	txt = vp_foreign_from_list(r->certs, r->ncerts, sk != NULL ? sk : none);
	free(sk);
	if (txt == NULL)
		return;                       /* out of memory: the record waits for a next list */
	if (cas) {
		free(j->fg_cas);
		j->fg_cas = txt;
	} else {
		free(j->fg_certs);
		j->fg_certs = txt;
	}
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
		foreign_seen(j, j->step == ST_OLDCA, r, (const char *const *)j->cleanup, j->ncleanup);
		j->sub = 1;
	} else {
		j->icleanup++;
	}
	if (j->icleanup >= j->ncleanup) {
		cleanup_reset(j);
		set_step(j, next);
	}
}

/* A failed operation that the step explains or works around: 1 when handled (the caller is
 * done), 0 when it is the step's failure. */
static int
op_failed_handled(job *j, vp_dev_fail f, const char *msg, const vp_dop_result *r)
{
	if (f == VP_DEVF_UNSUPPORTED && j->step == ST_IDENTIFY) {
		/* The probe still says what the device is. */
		snprintf(j->dev.mac, sizeof(j->dev.mac), "%s", r->serial);
		snprintf(j->dev.model, sizeof(j->dev.model), "%s", r->model);
		snprintf(j->dev.firmware, sizeof(j->dev.firmware), "%s", r->firmware);
		snprintf(j->dev.api, sizeof(j->dev.api), "%s", VP_DEV_API_UNSUPPORTED);
		snprintf(j->dev.https_state, sizeof(j->dev.https_state), "%s", VP_HTTPS_UNSUPPORTED);
		j->device_dirty = 1;
		job_fail(j, f, 0, "Unsupported firmware: %s", msg != NULL ? msg :
		    "its product or firmware cannot have HTTPS certificates managed");
		return 1;
	}
	if (f == VP_DEVF_DEVICE && j->step == ST_CA && j->sub == 1 && j->ca_add_err[0] == '\0') {
		/* Refused to add the CA: perhaps because it has it now (another task added it
		 * since the list). The list says; if it is not there, this is the answer. */
		snprintf(j->ca_add_err, sizeof(j->ca_add_err), "%s", msg != NULL ? msg :
		    vp_dev_fail_str(f));
		j->sub = 0;
		return 1;
	}
	if (f == VP_DEVF_DEVICE && j->step == ST_KEY && j->sub == 1 && j->create_err[0] == '\0') {
		/* Refused to make the key: perhaps because an earlier attempt made it (its alias
		 * is taken). The list says; if it is not there, this is the answer. */
		snprintf(j->create_err, sizeof(j->create_err), "%s", msg != NULL ? msg :
		    vp_dev_fail_str(f));
		j->sub = 2;
		return 1;
	}
	/* A device that refuses HTTP may still speak HTTPS (policy HTTPS only). */
	if (j->step == ST_IDENTIFY && f == VP_DEVF_UNREACHABLE && !j->conn.use_https &&
	    !j->dev.pinned && j->sub == 0) {
		j->conn.use_https = 1;
		j->sub = 1;
		j->ready = 1;
		return 1;
	}
	return 0;
}

/* identify: what the device is, and what to put back if a later step fails. */
static void
identified(job *j, const vp_dop_result *r)
{
	snprintf(j->dev.mac, sizeof(j->dev.mac), "%s", r->serial);
	snprintf(j->dev.model, sizeof(j->dev.model), "%s", r->model);
	snprintf(j->dev.firmware, sizeof(j->dev.firmware), "%s", r->firmware);
	snprintf(j->dev.api, sizeof(j->dev.api), "%s", r->api);
	j->device_dirty = 1;
	if (strcmp(r->api, VP_DEV_API_UNSUPPORTED) == 0) {
		snprintf(j->dev.https_state, sizeof(j->dev.https_state), "%s", VP_HTTPS_UNSUPPORTED);
		job_fail(j, VP_DEVF_UNSUPPORTED, 0, "Unsupported firmware: %s runs %s, which the "
		    "driver's product rules do not allow", r->model, r->firmware);
		return;
	}
	/* A key store was asked for (device.keystore) and the device cannot choose: say so
	 * before anything is written to it. */
	if (j->task->keystore[0] != '\0' && !j->task->check && !j->task->install &&
	    !(vp_dev_caps(r->api, r->firmware) & VP_DCAP_KEYSTORES)) {
		job_fail(j, VP_DEVF_UNSUPPORTED, 0, "device.keystore asks for key store %s, but %s "
		    "runs firmware %s, which cannot choose where it makes a key (AXIS OS 11 and "
		    "later can): set device.keystore to auto or upgrade the firmware",
		    j->task->keystore, r->model, r->firmware);
		return;
	}
	/* What to put back if a later step fails: what the device had before this job touched
	 * it (a retry's identify sees our own binding already). */
	if (!j->have_old) {
		snprintf(j->old_alias, sizeof(j->old_alias), "%s", r->bound_alias);
		j->old_policy = r->policy;
		j->have_old = 1;
	}
	/* A CA renewal needs the device's certificate of ours, to keep it. */
	if (j->task->renew && (j->serial[0] == '\0' || j->fp[0] == '\0' || j->alias[0] == '\0')) {
		job_fail(j, VP_DEVF_NONE, 0, "vmspki has no record of a certificate of ours on "
		    "this device: enable HTTPS on it (`vmspki https enable`) instead");
		return;
	}
	if (j->task->dot1x)
		eng_dot1x_identified(j);
	/* The check puts our CA back only where we installed it. */
	set_step(j, j->task->check && !j->dev.pinned ? ST_END : ST_CA);
	/* An outside certificate: the key is made (csr), or its certificate installed. */
	if (j->task->csr)
		set_step(j, ST_KEY);
	else if (j->task->install)
		set_step(j, j->ninter > 0 ? ST_CA : ST_INSTALL);
}

/* After install-ca: a check is done; a CA renewal binds the device's certificate again with
 * the renewed CA beside it (no new key); the others make a key. */
static enum step
ca_next(const job *j)
{
	return j->task->check ? ST_END : j->task->renew ? ST_BIND : ST_KEY;
}

/* install-ca: the list (sub 0) says whether the CA is there; else it is added (sub 1). */
static void
ca_installed(engine *g, job *j, const vp_dop_result *r)
{
	if (j->sub != 0) {
		if (j->task->check)
			eng_log(g, "task %" PRId64 ": device %" PRId64 " (%s): the site CA was "
			    "missing: installed it again", j->task->id, j->dev_id, j->dev.address);
		set_step(j, ca_next(j));
		return;
	}
	foreign_seen(j, 1, r, NULL, 0);
	for (size_t i = 0; i < r->ncerts; i++) {
		char fp[65];

		if (r->certs[i].pem != NULL && pem_fingerprint(r->certs[i].pem, fp) &&
		    strcmp(fp, eng_job_ca_fp(g, j)) == 0) {
			/* already there */
			set_step(j, ca_next(j));
			return;
		}
	}
	if (j->ca_add_err[0] != '\0') {
		job_fail(j, VP_DEVF_DEVICE, 1, "%s", j->ca_add_err);
		return;
	}
	j->sub = 1;
}

/* create-key: the list (sub 0) says whether our key is there; else it is made (sub 1) and
 * the list read again (sub 2) for its certificate. */
static void
key_made(job *j, const vp_dop_result *r)
{
	const vp_dev_cert *mine = NULL;

	if (j->sub == 1) {
		j->sub = 2;                    /* made: read its certificate */
		return;
	}
	if (j->sub == 0)
		foreign_seen(j, 0, r, NULL, 0);
	for (size_t i = 0; i < r->ncerts; i++)
		if (strcmp(r->certs[i].alias, j->alias) == 0)
			mine = &r->certs[i];
	if (mine == NULL && j->sub == 2) {
		/* A key an earlier attempt asked for (before a crash or a lost answer) may still
		 * be in the making: look again a few times. */
		if (j->create_err[0] != '\0' && j->relist < RELISTS) {
			j->relist++;
			j->wake_ms = eng_now_ms() + RELIST_MS;
			return;
		}
		if (j->create_err[0] != '\0')
			job_fail(j, VP_DEVF_DEVICE, 1, "%s", j->create_err);
		else
			job_fail(j, VP_DEVF_PROTOCOL, 1, "the device said it made the key %s but "
			    "does not list it", j->alias);
		return;
	}
	if (mine == NULL) {
		j->sub = 1;                    /* make it */
		return;
	}
	snprintf(j->keystore_seen, sizeof(j->keystore_seen), "%s", mine->keystore[0] != '\0' ?
	    mine->keystore : "default");
	/* The device's own certificate for the key tells us the key, so that the CSR can be
	 * checked; ours there means it was installed before a crash. */
	EVP_PKEY_free(j->alias_key);
	j->alias_key = mine->pem != NULL ? pem_cert_key(mine->pem) : NULL;
	if (mine->pem != NULL && j->serial[0] != '\0') {
		char fp[65];

		j->cert_installed = pem_fingerprint(mine->pem, fp) && j->fp[0] != '\0' &&
		    strcmp(fp, j->fp) == 0;
	}
	j->alias_exists = 1;
	set_step(j, ST_SIGN);
}

/* bind: the new binding is set (or the old one put back by a roll-back). */
static void
bound(job *j)
{
	if (j->rollback) {
		j->rollback = 2;               /* rolled back: the loop ends the job */
		return;
	}
	j->rebound = 1;
	/* HTTPS only closes HTTP: from now on speak HTTPS (verified after verify). The device
	 * serves the new certificate now: the old one's key is no longer it. */
	j->conn.use_https = 1;
	j->conn.pinned_pubkey = NULL;
	set_step(j, ST_VERIFY);
}

/* https-csr: the CSR is checked to be for the key the device made, and kept (the commit
 * records it, extcert.h); nothing is signed here. */
static void
ext_csr_taken(job *j)
{
	X509_REQ *req = NULL;
	EVP_PKEY *k;
	vp_error e = { 0 };

	if (vp_csr_parse((const unsigned char *)j->csr_pem, strlen(j->csr_pem), &req, &e) !=
	    VP_OK) {
		job_fail(j, VP_DEVF_PROTOCOL, 0, "the device's CSR was refused: %s", e.msg);
		return;
	}
	k = X509_REQ_get0_pubkey(req);
	if (j->alias_key != NULL && (k == NULL || EVP_PKEY_eq(k, j->alias_key) != 1))
		job_fail(j, VP_DEVF_DEVICE, 1, "the device's CSR is not for the key it made for %s",
		    j->alias);
	else
		set_step(j, ST_END);
	X509_REQ_free(req);
}

/* install, step install-ca: the list (sub 0) says which of the chain's intermediate CAs the
 * camera has (by fingerprint, under any alias); each missing one is added (sub 1), then the
 * certificate is installed. */
static void
ext_inter_installed(job *j, const vp_dop_result *r)
{
	if (j->sub == 0) {
		for (int i = 0; i < j->ninter; i++) {
			char want[65], fp[65];

			if (!pem_fingerprint(j->inter_pem[i], want))
				continue;
			for (size_t k = 0; k < r->ncerts; k++)
				if (r->certs[k].pem != NULL && pem_fingerprint(r->certs[k].pem, fp) &&
				    strcmp(fp, want) == 0 &&
				    strlen(r->certs[k].alias) < sizeof(j->inter_alias[i])) {
					j->inter_have[i] = 1;
					/* bound under the alias the camera knows it by */
					memcpy(j->inter_alias[i], r->certs[k].alias,
					    strlen(r->certs[k].alias) + 1);
				}
		}
	} else {
		j->inter_have[j->inter_cur] = 1;
	}
	for (j->inter_cur = 0; j->inter_cur < j->ninter; j->inter_cur++)
		if (!j->inter_have[j->inter_cur])
			break;
	if (j->inter_cur >= j->ninter) {
		set_step(j, ST_INSTALL);
		return;
	}
	if (j->ca_add_err[0] != '\0') {
		job_fail(j, VP_DEVF_DEVICE, 1, "%s", j->ca_add_err);
		return;
	}
	j->sub = 1;
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
	if (f != VP_DEVF_NONE) {
		if (!op_failed_handled(j, f, msg, r))
			job_fail(j, f, retryable, "%s", msg != NULL ? msg : vp_dev_fail_str(f));
		return;
	}
	switch (j->step) {
	case ST_IDENTIFY:
		identified(j, r);
		break;
	case ST_CA:
		if (j->task->install)
			ext_inter_installed(j, r);
		else
			ca_installed(g, j, r);
		break;
	case ST_KEY:
		key_made(j, r);
		break;
	case ST_SIGN:
		free(j->csr_pem);
		j->csr_pem = r->csr_pem != NULL ? strdup(r->csr_pem) : NULL;
		if (j->csr_pem == NULL) {
			job_fail(j, VP_DEVF_PROTOCOL, 1, "the device sent no CSR");
			return;
		}
		if (j->task->csr) {
			ext_csr_taken(j);
			break;
		}
		sign_csr(g, j);
		break;
	case ST_INSTALL:
		set_step(j, j->task->dot1x ? ST_DOT1X : ST_BIND);
		break;
	case ST_DOT1X:
		eng_dot1x_done(g, j, r);
		break;
	case ST_BIND:
		bound(j);
		break;
	case ST_CLEANUP:
		removal_done(g, j, r, j->task->replace || j->task->clean ? ST_OLDCA : ST_END);
		break;
	case ST_OLDCA:
		removal_done(g, j, r, ST_END);
		break;
	default:
		break;
	}
}

/* https-install verified: the device serves the outside certificate; from now on it is
 * reached over HTTPS and recognised by that certificate's key (the pin, recorded by the
 * commit), not by the site CA. */
static void
ext_verified(engine *g, job *j)
{
	(void)g;
	j->dev.pinned = 0;
	j->dev.https_only = job_https_only(j);
	j->rebound = 0;
	snprintf(j->dev.https_state, sizeof(j->dev.https_state), "%s", VP_HTTPS_ENABLED);
	j->dev.cert_serial[0] = '\0';        /* not one of ours */
	snprintf(j->dev.cert_alias, sizeof(j->dev.cert_alias), "%s", j->alias);
	j->dev.cert_not_after = j->not_after;
	j->device_dirty = 1;
	snprintf(j->pin, sizeof(j->pin), "%s", j->ext_pin);
	j->conn.use_https = 1;
	j->conn.verify = 0;
	j->conn.pinned_pubkey = j->pin;
	set_step(j, ST_CLEANUP);
}

/* The verify handshake ended. */
static void
verify_done(engine *g, job *j, const vp_http_resp *resp)
{
	char fp[65];
	vp_error e = { 0 };

	if (resp->transport != VP_TRANSPORT_OK) {
		job_fail(j, resp->transport == VP_TRANSPORT_TLS ? VP_DEVF_TLS : VP_DEVF_UNREACHABLE,
		    resp->transport != VP_TRANSPORT_TLS, "the TLS check of https://%s:%d/ failed: %s",
		    j->dev.address, j->dev.https_port, resp->transport_msg != NULL ?
		    resp->transport_msg : "no answer");
		return;
	}
	if (g->net->peer_fp(g, j, fp, &e) != VP_OK) {
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
	if (j->task->install) {
		ext_verified(g, j);
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
	/* A conversation that was not verified until now (HTTP, a factory certificate) goes on
	 * against the file the check used: the same TLS settings let curl reuse the check's
	 * connection (one handshake per device). One that was (a pinned device: a replacement, a
	 * renewal) keeps its settings, its easy handle and its connection. */
	if (!j->conn.verify)
		j->conn.ca_file = g->verify_path;
	j->conn.verify = 1;
	j->conn.tls_name = j->dev.address;
	/* A renewal leaves the device's certificates alone: only the old CA goes. */
	set_step(j, j->task->renew ? ST_OLDCA : ST_CLEANUP);
}

/* The transfer of j ended (engine_internal.h: eng_net). */
void
eng_xfer_done(engine *g, job *j, const vp_http_resp *resp)
{
	vp_error e = { 0 };

	if (j->tls_check) {
		j->tls_check = 0;
		verify_done(g, j, resp);
	} else if (vp_dop_feed(j->op, resp, &e) != VP_OK) {
		job_fail(j, VP_DEVF_NONE, 1, "%s", e.msg);
	} else {
		/* Released before the next request: curl hands its connection on (devhttp.c). */
		if (j->xfer != NULL)
			g->net->release(g, j);
		if (send_next(g, j, &e) != VP_OK) {
			job_fail(j, VP_DEVF_NONE, 1, "%s", e.msg);
		} else if (j->xfer != NULL) {
			return;                   /* the operation goes on */
		} else {
			op_done(g, j);
		}
	}
	if (j->xfer != NULL)
		g->net->release(g, j);
	/* A certificate being signed makes the job ready when it is done (signing_done). */
	if (j->fail == VP_DEVF_NONE && j->error[0] == '\0' && j->signing == NULL)
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
void
eng_job_release_slot(engine *g, job *j)
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
	eng_job_release_slot(g, j);
	snprintf(j->status, sizeof(j->status), "%s", status);
	j->ended = 1;
	j->ready = 0;
	j->dirty = 1;
	if (strcmp(status, "Finished") == 0) {
		snprintf(j->dev.status, sizeof(j->dev.status), "%s", VP_STATUS_OK);
		j->dev.status_detail[0] = '\0';
		j->device_dirty = 1;
		if (j->task->check)
			eng_log(g, "task %" PRId64 ": device %" PRId64 " (%s): checked in %.1f s",
			    j->task->id, j->dev_id, j->dev.address,
			    (double)(eng_now_ms() - j->started_ms) / 1000.0);
		else
			eng_log(g, "task %" PRId64 ": device %" PRId64 " (%s): %s with certificate %s "
			    "in %.1f s", j->task->id, j->dev_id, j->dev.address, j->task->renew ?
			    "given the renewed CA, still" : j->task->replace ?
			    "moved to the new CA" : strcmp(j->task->t.kind, VP_TASK_HTTPS_UPDATE) ==
			    0 ? "HTTPS certificate renewed" : strcmp(j->task->t.kind,
			    VP_TASK_DOT1X_ENABLE) == 0 ? "802.1X enabled" : j->task->dot1x ?
			    "802.1X certificate renewed" : "HTTPS enabled", j->serial,
			    (double)(eng_now_ms() - j->started_ms) / 1000.0);
	} else if (strcmp(status, "Failed") == 0) {
		const char *st = dev_status_for(j->ffail);

		if (st != NULL)
			snprintf(j->dev.status, sizeof(j->dev.status), "%s", st);
		snprintf(j->dev.status_detail, sizeof(j->dev.status_detail), "%.500s", j->ferror);
		j->device_dirty = 1;
		eng_log(g, "task %" PRId64 ": device %" PRId64 " (%s) failed at %s: %s", j->task->id,
		    j->dev_id, j->dev.address, eng_step_names[j->fstep], j->ferror);
	} else {
		eng_log(g, "task %" PRId64 ": device %" PRId64 " (%s): cancelled", j->task->id,
		    j->dev_id, j->dev.address);
	}
}

/* Decides what a failed step leads to: a retry after a pause, a roll-back of the binding, or
 * the end. */
void
eng_job_decide(engine *g, job *j)
{
	int64_t now = eng_now_ms();

	if (j->ended)
		return;
	if (j->rollback == 2) {               /* roll-back done */
		job_end(g, j, j->task->t.cancel && j->ffail == VP_DEVF_NONE ? "Cancelled" :
		    "Failed");
		return;
	}
	if (j->error[0] != '\0' && j->rollback && j->task->dot1x &&
	    j->fail == VP_DEVF_UNREACHABLE && j->d1x_rb_tries < RETRIES) {
		/* An 802.1X roll-back that could not reach the device (rebooting, or cut off by
		 * the change) is tried again after a pause: giving up leaves it half done. */
		j->d1x_rb_tries++;
		eng_log(g, "task %" PRId64 ": device %" PRId64 " (%s): putting the old 802.1X "
		    "configuration back: %s; trying again", j->task->id, j->dev_id, j->dev.address,
		    j->error);
		j->error[0] = '\0';
		j->fail = VP_DEVF_NONE;
		j->sub = 0;
		j->wake_ms = now + 2000 * j->d1x_rb_tries;
		j->ready = 1;
		return;
	}
	if (j->error[0] != '\0' && j->rollback) {
		/* The roll-back itself failed: say both. */
		size_t n = strlen(j->ferror);

		snprintf(j->ferror + n, sizeof(j->ferror) - n, "; putting the old %s back "
		    "failed too: %s", j->task->dot1x ? "802.1X configuration" : "binding", j->error);
		job_end(g, j, "Failed");
		return;
	}
	if (j->error[0] != '\0') {
		/* Cleanup after a verified install: the device is enabled, say what is left. */
		if (j->step == ST_CLEANUP) {
			eng_log(g, "task %" PRId64 ": device %" PRId64 " (%s): an old certificate could "
			    "not be removed: %s", j->task->id, j->dev_id, j->dev.address, j->error);
			j->error[0] = '\0';
			j->fail = VP_DEVF_NONE;
			cleanup_reset(j);
			set_step(j, j->task->replace || j->task->clean ? ST_OLDCA : ST_END);
			j->ready = 1;
		} else if (j->retryable && j->fail == VP_DEVF_UNREACHABLE &&
		    j->attempts < RETRIES && !j->task->t.cancel &&
		    !(j->task->dot1x && j->rebound)) {
			/* (An 802.1X change half made is rolled back at once, not tried again: the
			 * camera may be off the network until it has its old configuration.) */
			j->attempts++;
			j->ca_add_err[0] = '\0';
			cleanup_reset(j);
			eng_log(g, "task %" PRId64 ": device %" PRId64 " (%s): %s at %s, trying again "
			    "(attempt %d)", j->task->id, j->dev_id, j->dev.address, j->error,
			    eng_step_names[j->step], j->attempts + 1);
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
				j->step = j->task->dot1x ? ST_DOT1X : ST_BIND;
				j->sub = 0;
				j->ready = 1;
				/* The 802.1X roll-back takes several requests: each must find the
				 * job ready (eng_xfer_done), as the failure is kept in ffail. */
				if (j->task->dot1x)
					j->fail = VP_DEVF_NONE;
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
		snprintf(j->ferror, sizeof(j->ferror), "cancelled at %s", eng_step_names[j->step]);
		j->fstep = j->step;
		j->ffail = VP_DEVF_NONE;
		if (j->rebound && j->step != ST_CLEANUP && j->step != ST_END) {
			j->rollback = 1;
			j->step = j->task->dot1x ? ST_DOT1X : ST_BIND;
			j->sub = 0;
			return;
		}
		if (j->step == ST_CLEANUP || j->step == ST_OLDCA)
			return;                   /* enabled already: finish */
		job_end(g, j, "Cancelled");
	}
}

/* Starts what ready jobs do next. */
void
eng_jobs_start(engine *g)
{
	int64_t now = eng_now_ms();

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
			if (j->error[0] == '\0' && j->signing == NULL)
				j->ready = 1;
		}
	}
}
