/* Unit tests for the task engine (src/lib/engine*.c): real tasks in a real temporary store,
 * run by the real loop and step machine, against a scripted fake camera: a fake vp_driver
 * whose operations act on an in-memory camera and fail where the test's script says, and a
 * fake network that answers in-process (no sockets). The cameras themselves are tested with
 * camsim in tests/it/devices_*.sh. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <openssl/pem.h>

#include "device_internal.h"
#include "driver_impl.h"
#include "engine_internal.h"
#include "testutil.h"
#include "vmspki/ca.h"
#include "vmspki/device.h"
#include "vmspki/issue.h"
#include "vmspki/task.h"

#define PASS "correct horse battery"
#define OTHER_ENGINE "otherhost:4242:1"

/* ---- the fake camera ---- */

#define MAXCERTS 8

typedef struct cam_cert {
	char alias[128];
	char *pem;
} cam_cert;

/* One scripted failure: the nth operation of kind (1 = the first) fails with fail. */
typedef struct cam_fault {
	vp_dop_kind kind;
	int nth;
	vp_dev_fail fail;
	int retryable;
} cam_fault;

typedef struct cam {
	cam_cert cas[MAXCERTS];
	size_t ncas;
	cam_cert keys[MAXCERTS];      /* key aliases; pem: the certificate installed for it */
	size_t nkeys;
	char bound[128];              /* what the web server presents */
	vp_dev_policy policy;
	char ops[1024];               /* every operation started, in order, space-separated */
	char tls_sets[512];           /* every TLS_SET asked: "alias/policy " */
	int started[VP_DOP_DOT1X_DELETE + 1];
	cam_fault faults[4];
	size_t nfaults;
	/* Called when an operation of kind starts (after it is logged). */
	void (*on_start)(vp_dop_kind kind, int nth);
} cam;

static cam CAM;

/* What the tests share with the hooks. */
static struct {
	char *dir;
	vp_store *s;
	vp_ca *ca;
	vp_sitekey *k;
	int64_t dev;
	int64_t task;
	atomic_int nudge;
	atomic_int stop;
	char log[16384];
	int holds, releases;          /* of the CA, by the engine */
	int conns;                    /* devices with connections open (net_job set) */
	int csr_fed;                  /* the camera's CSR went to the engine */
	void (*on_sign)(void);        /* at the CA's hold for a signature */
} F;

static const char *const kind_names[] = {
	"", "PROBE", "CA_LIST", "CA_ADD", "CA_DELETE", "CERT_LIST", "KEY_CREATE", "CSR_GET",
	"CERT_INSTALL", "CERT_DELETE", "TLS_GET", "TLS_SET", "IDENTIFY", "DOT1X_GET", "DOT1X_SET",
	"DOT1X_DELETE"
};

static void
cam_log(const char *word)
{
	size_t n = strlen(CAM.ops);

	snprintf(CAM.ops + n, sizeof(CAM.ops) - n, "%s%s", n > 0 ? " " : "", word);
}

static void
cam_reset(void)
{
	for (size_t i = 0; i < CAM.ncas; i++)
		free(CAM.cas[i].pem);
	for (size_t i = 0; i < CAM.nkeys; i++)
		free(CAM.keys[i].pem);
	memset(&CAM, 0, sizeof(CAM));
	/* A camera out of the box: its factory certificate bound, HTTP allowed. */
	snprintf(CAM.bound, sizeof(CAM.bound), "factory");
	CAM.policy = VP_POLICY_HTTP;
	snprintf(CAM.keys[0].alias, sizeof(CAM.keys[0].alias), "factory");
	/* A key an earlier task of ours left: cleanup removes it. */
	snprintf(CAM.keys[1].alias, sizeof(CAM.keys[1].alias), "vmspki-https-t999");
	CAM.nkeys = 2;
}

static cam_cert *
cam_find(cam_cert *list, size_t n, const char *alias)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(list[i].alias, alias) == 0)
			return &list[i];
	return NULL;
}

static void
cam_remove(cam_cert *list, size_t *n, const char *alias)
{
	cam_cert *c = cam_find(list, *n, alias);

	if (c == NULL)
		return;
	free(c->pem);
	*c = list[*n - 1];
	(*n)--;
}

/* ---- the fake driver: each operation is one request, answered by the fake camera ---- */

typedef struct fop {
	struct vp_dop head;
	vp_dop_kind kind;
	char alias[128];
	char *pem;
	vp_dev_policy policy;
	int sent;
	vp_http_req req;
	vp_dev_fail fail;
	int retryable;
	char msg[128];
	vp_dop_result res;
} fop;

static int
fake_owns_api(const char *api)
{
	return strcmp(api, "fake") == 0;
}

static unsigned
fake_caps(const char *api, const char *firmware)
{
	(void)firmware;
	return fake_owns_api(api) ? VP_DCAP_HTTPS | VP_DCAP_KEYGEN : 0;
}

static vp_err
fake_start(vp_dop_kind kind, const vp_dop_args *a, const char *api, vp_dop **out, vp_error *e)
{
	fop *op = calloc(1, sizeof(*op));

	(void)api;
	if (op == NULL)
		return vp_error_set(e, VP_ERR_NOMEM, "out of memory");
	op->kind = kind;
	if (a->alias != NULL)
		snprintf(op->alias, sizeof(op->alias), "%s", a->alias);
	if (a->pem != NULL && (op->pem = strdup(a->pem)) == NULL) {
		free(op);
		return vp_error_set(e, VP_ERR_NOMEM, "out of memory");
	}
	op->policy = a->policy;
	op->req.method = "GET";
	snprintf(op->req.path, sizeof(op->req.path), "/fake/%s", kind_names[kind]);
	CAM.started[kind]++;
	cam_log(kind_names[kind]);
	if (CAM.on_start != NULL)
		CAM.on_start(kind, CAM.started[kind]);
	*out = &op->head;
	return VP_OK;
}

static vp_err
fake_next(vp_dop *d, const vp_http_req **req, vp_error *e)
{
	fop *op = (fop *)d;

	(void)e;
	*req = op->sent ? NULL : &op->req;
	op->sent = 1;
	return VP_OK;
}

static void
list_into(fop *op, const cam_cert *list, size_t n)
{
	op->res.certs = calloc(n + 1, sizeof(*op->res.certs));
	assert_non_null(op->res.certs);
	for (size_t i = 0; i < n; i++) {
		snprintf(op->res.certs[i].alias, sizeof(op->res.certs[i].alias), "%s",
		    list[i].alias);
		op->res.certs[i].pem = list[i].pem != NULL ? strdup(list[i].pem) : NULL;
	}
	op->res.ncerts = n;
}

/* The camera does what op asks, unless the script says this one fails. */
static vp_err
fake_feed(vp_dop *d, const vp_http_resp *resp, vp_error *e)
{
	fop *op = (fop *)d;
	vp_dop_result *r = &op->res;
	EVP_PKEY *key;
	char *csr;

	(void)e;
	assert_int_equal(resp->transport, VP_TRANSPORT_OK);
	for (size_t i = 0; i < CAM.nfaults; i++)
		if (CAM.faults[i].kind == op->kind && CAM.faults[i].nth == CAM.started[op->kind]) {
			op->fail = CAM.faults[i].fail;
			op->retryable = CAM.faults[i].retryable;
			snprintf(op->msg, sizeof(op->msg), "scripted %s failure",
			    kind_names[op->kind]);
			return VP_OK;
		}
	switch (op->kind) {
	case VP_DOP_PROBE:
	case VP_DOP_TLS_GET:
		snprintf(r->serial, sizeof(r->serial), "ACCC8E000001");
		snprintf(r->model, sizeof(r->model), "FakeCam");
		snprintf(r->firmware, sizeof(r->firmware), "11.0.1");
		snprintf(r->brand, sizeof(r->brand), "Fake");
		snprintf(r->api, sizeof(r->api), "fake");
		r->policy = CAM.policy;
		snprintf(r->bound_alias, sizeof(r->bound_alias), "%s", CAM.bound);
		break;
	case VP_DOP_CA_LIST:
		list_into(op, CAM.cas, CAM.ncas);
		break;
	case VP_DOP_CA_ADD:
		assert_true(CAM.ncas < MAXCERTS);
		snprintf(CAM.cas[CAM.ncas].alias, sizeof(CAM.cas[0].alias), "%s", op->alias);
		CAM.cas[CAM.ncas++].pem = strdup(op->pem);
		break;
	case VP_DOP_CA_DELETE:
		cam_remove(CAM.cas, &CAM.ncas, op->alias);
		break;
	case VP_DOP_CERT_LIST:
		list_into(op, CAM.keys, CAM.nkeys);
		break;
	case VP_DOP_KEY_CREATE:
		assert_true(CAM.nkeys < MAXCERTS);
		snprintf(CAM.keys[CAM.nkeys++].alias, sizeof(CAM.keys[0].alias), "%s", op->alias);
		break;
	case VP_DOP_CSR_GET:
		assert_non_null(cam_find(CAM.keys, CAM.nkeys, op->alias));
		key = vp_test_key("ec-p256");
		csr = vp_test_csr_pem(key, "10.0.0.1", "IP:10.0.0.1", NULL);
		EVP_PKEY_free(key);
		r->csr_pem = csr;
		F.csr_fed = 1;
		break;
	case VP_DOP_CERT_INSTALL: {
		cam_cert *c = cam_find(CAM.keys, CAM.nkeys, op->alias);

		assert_non_null(c);
		free(c->pem);
		c->pem = strdup(op->pem);
		break;
	}
	case VP_DOP_CERT_DELETE:
		cam_remove(CAM.keys, &CAM.nkeys, op->alias);
		break;
	case VP_DOP_TLS_SET: {
		size_t n = strlen(CAM.tls_sets);

		snprintf(CAM.tls_sets + n, sizeof(CAM.tls_sets) - n, "%s/%d ", op->alias,
		    (int)op->policy);
		snprintf(CAM.bound, sizeof(CAM.bound), "%s", op->alias);
		if (op->policy != VP_POLICY_UNKNOWN)
			CAM.policy = op->policy;
		break;
	}
	case VP_DOP_IDENTIFY:         /* discovery: never asked by the engine */
	default:
		break;
	}
	return VP_OK;
}

static vp_dev_fail
fake_failed(const vp_dop *d, const char **msg, int *retryable)
{
	const fop *op = (const fop *)d;

	*msg = op->fail != VP_DEVF_NONE ? op->msg : NULL;
	*retryable = op->retryable;
	return op->fail;
}

static const vp_dop_result *
fake_result(const vp_dop *d)
{
	return &((const fop *)d)->res;
}

static const char *
fake_api(const vp_dop *d)
{
	(void)d;
	return "fake";
}

static void
fake_free(vp_dop *d)
{
	fop *op = (fop *)d;

	for (size_t i = 0; i < op->res.ncerts; i++)
		free(op->res.certs[i].pem);
	free(op->res.certs);
	free(op->res.csr_pem);
	free(op->pem);
	free(op);
}

static const vp_driver fake_driver = {
	.name = "fake",
	.owns_api = fake_owns_api,
	.start = fake_start,
	.next = fake_next,
	.feed = fake_feed,
	.failed = fake_failed,
	.result = fake_result,
	.api = fake_api,
	.free = fake_free,
	.caps = fake_caps,
};

/* ---- the fake network: every request is answered on the loop's next turn ----
 *
 * As over a real network, a request goes out with one deliver (curl_multi_perform) and its
 * answer comes back with a later one: a request sent after a turn's answers (the follow-up in
 * the same turn) is answered in the next turn, after the loop has looked at the store again. */

#define MAXQ 16

static struct {
	struct {
		job *j;
		int out;              /* sent by a deliver: the next one answers it */
	} q[MAXQ];
	size_t n;
} NET;

static int token;                     /* what job.xfer points at while a transfer is queued */

/* The loop's wait, ended early by the engine's signing thread (eng_net.wake). */
static struct {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int woken;
} WAKE = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0 };

static vp_err
net_open(engine *g, vp_error *e)
{
	(void)g;
	(void)e;
	NET.n = 0;
	WAKE.woken = 0;
	return VP_OK;
}

static void
net_close(engine *g)
{
	(void)g;
	assert_int_equal(NET.n, 0);
}

static vp_err
net_queue(job *j, vp_error *e)
{
	if (NET.n == MAXQ)
		return vp_error_set(e, VP_ERR_INTERNAL, "fake network full");
	NET.q[NET.n].j = j;
	NET.q[NET.n++].out = 0;
	j->xfer = &token;
	if (j->net_job == NULL) {
		j->net_job = &token;          /* the device's connection is open */
		F.conns++;
	}
	return VP_OK;
}

static vp_err
net_send(engine *g, job *j, const vp_dev_conn *conn, const vp_http_req *req, vp_error *e)
{
	(void)g;
	(void)conn;
	assert_non_null(req);
	return net_queue(j, e);
}

static vp_err
net_verify(engine *g, job *j, const vp_dev_conn *conn, vp_error *e)
{
	(void)g;
	assert_true(conn->verify);
	cam_log("VERIFY");
	return net_queue(j, e);
}

/* The certificate the camera's web server presents: the first of what is installed for the
 * bound alias. */
static vp_err
net_peer_fp(engine *g, job *j, char fp[65], vp_error *e)
{
	cam_cert *c = cam_find(CAM.keys, CAM.nkeys, CAM.bound);
	BIO *b;
	X509 *x;
	vp_err rc;

	(void)g;
	(void)j;
	if (c == NULL || c->pem == NULL)
		return vp_error_set(e, VP_ERR_NOTFOUND, "no certificate");
	b = BIO_new_mem_buf(c->pem, -1);
	x = PEM_read_bio_X509(b, NULL, NULL, NULL);
	rc = x != NULL ? vp_x509_fingerprint(x, "SHA256", fp, 65, e) :
	    vp_error_set(e, VP_ERR_INVALID, "bad certificate");
	X509_free(x);
	BIO_free(b);
	return rc;
}

static void
net_release(engine *g, job *j)
{
	(void)g;
	for (size_t i = 0; i < NET.n; i++)
		if (NET.q[i].j == j) {
			NET.q[i] = NET.q[--NET.n];
			break;
		}
	j->xfer = NULL;
}

/* The job is over: its device's connection closes. */
static void
net_forget(engine *g, job *j)
{
	(void)g;
	assert_null(j->xfer);
	if (j->net_job != NULL)
		F.conns--;
	j->net_job = NULL;
}

/* Answers what went out with the previous deliver; sends what was queued since. */
static int
net_deliver(engine *g)
{
	job *now[MAXQ];
	size_t n = 0, kept = 0;
	vp_http_resp ok = { .transport = VP_TRANSPORT_OK, .status = 200 };

	for (size_t i = 0; i < NET.n; i++) {
		if (NET.q[i].out) {
			now[n++] = NET.q[i].j;
		} else {
			NET.q[kept].j = NET.q[i].j;
			NET.q[kept++].out = 1;
		}
	}
	NET.n = kept;
	for (size_t i = 0; i < n; i++)
		eng_xfer_done(g, now[i], &ok);
	return (int)n;
}

/* Returns at once when requests are out (their answers are there), else sleeps ms or until
 * woken. */
static void
net_wait(engine *g, int ms)
{
	struct timespec until;

	(void)g;
	if (NET.n > 0)
		return;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += ms / 1000;
	until.tv_nsec += (long)(ms % 1000) * 1000000;
	if (until.tv_nsec >= 1000000000) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&WAKE.mu);
	while (!WAKE.woken && pthread_cond_timedwait(&WAKE.cv, &WAKE.mu, &until) == 0)
		;
	WAKE.woken = 0;
	pthread_mutex_unlock(&WAKE.mu);
}

/* From the signing thread. */
static void
net_wake(engine *g)
{
	(void)g;
	pthread_mutex_lock(&WAKE.mu);
	WAKE.woken = 1;
	pthread_cond_signal(&WAKE.cv);
	pthread_mutex_unlock(&WAKE.mu);
}

static const eng_net fake_net = {
	.open = net_open,
	.close = net_close,
	.send = net_send,
	.verify = net_verify,
	.peer_fp = net_peer_fp,
	.release = net_release,
	.forget = net_forget,
	.deliver = net_deliver,
	.wait = net_wait,
	.wake = net_wake,
};

/* ---- running a task ---- */

static const vp_ca *
ca_hold(void *arg)
{
	(void)arg;
	F.holds++;
	/* The engine holds the CA right after it took the CSR only to sign with it. */
	if (F.csr_fed && F.on_sign != NULL) {
		F.on_sign();
		F.on_sign = NULL;
	}
	F.csr_fed = 0;
	return F.ca;
}

static void
ca_release(void *arg, const vp_ca *ca)
{
	(void)arg;
	assert_ptr_equal(ca, F.ca);
	F.releases++;
}

static void
log_line(void *arg, const char *line)
{
	size_t n = strlen(F.log);

	(void)arg;
	snprintf(F.log + n, sizeof(F.log) - n, "%s\n", line);
	if (getenv("VP_TEST_ENGINE_LOG") != NULL)
		fprintf(stderr, "engine: %s\n", line);
}

static int
setup(void **state)
{
	vp_ca_init_opts o = { .key = VP_KEY_EC_P256, .actor = "test", .cn = "Engine Test CA" };
	const char *pw = "camera password";
	vp_task_opts to = { .kind = VP_TASK_HTTPS_ENABLE, .https_only = 1 };
	unsigned char *sec = NULL;
	size_t len = 0;
	char aad[300];
	vp_device d;
	vp_error e = { 0 };

	(void)state;
	memset(&F, 0, sizeof(F));
	cam_reset();
	unsetenv(VP_SITEKEY_FILE_ENV);
	F.dir = vp_test_mkdtemp();
	vp_test_pg_reset();
	F.s = vp_test_store_open(F.dir);
	if (vp_ca_init(F.s, F.dir, &o, PASS, &e) != VP_OK ||
	    vp_ca_load(F.s, PASS, &F.ca, &e) != VP_OK ||
	    vp_sitekey_open(F.s, PASS, &F.k, &e) != VP_OK) {
		fprintf(stderr, "%s\n", e.msg);
		return -1;
	}
	memset(&d, 0, sizeof(d));
	snprintf(d.address, sizeof(d.address), "10.0.0.1");
	d.http_port = 80;
	d.https_port = 443;
	snprintf(d.username, sizeof(d.username), "root");
	snprintf(d.status, sizeof(d.status), "%s", VP_STATUS_OK);
	snprintf(d.https_state, sizeof(d.https_state), "%s", VP_HTTPS_MISSING);
	snprintf(d.api, sizeof(d.api), "fake");
	vp_device_aad(d.address, d.http_port, aad, sizeof(aad));
	if (vp_sitekey_seal(F.k, aad, (const unsigned char *)pw, strlen(pw), &sec, &len,
	    &e) != VP_OK || vp_store_device_insert(F.s, &d, sec, len, &e) != VP_OK ||
	    vp_task_create(F.s, &to, &d.id, 1, 0, "test", &F.task, &e) != VP_OK) {
		fprintf(stderr, "%s\n", e.msg);
		free(sec);
		return -1;
	}
	free(sec);
	F.dev = d.id;
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	vp_sitekey_free(F.k);
	vp_ca_free(F.ca);
	vp_store_close(F.s);
	vp_test_rmdir(F.dir);
	cam_reset();
	return 0;
}

/* Runs the engine on the fixture's task until it has nothing left to do. */
static void
run_engine(void)
{
	char db[4096], cafile[4096];
	vp_engine_cfg cfg;
	vp_error e = { 0 };

	if (vp_test_pg() != NULL)
		snprintf(db, sizeof(db), "%s", vp_test_pg());
	else
		snprintf(db, sizeof(db), "%s/vmspki.db", F.dir);
	snprintf(cafile, sizeof(cafile), "%s/certs/ca.cert.pem", F.dir);
	memset(&cfg, 0, sizeof(cfg));
	cfg.db_path = db;
	cfg.ca_file = cafile;
	cfg.sitekey = F.k;
	cfg.ca_hold = ca_hold;
	cfg.ca_release = ca_release;
	cfg.only_task = F.task;
	cfg.exit_when_idle = 1;
	cfg.nudge = &F.nudge;
	cfg.stop = &F.stop;
	cfg.log = log_line;
	if (eng_run(&cfg, &fake_net, &fake_driver, &e) != VP_OK)
		fail_msg("the engine stopped: %s", e.msg);
	/* Each hold of the CA was given back, a signature's on the worker thread too; every
	 * device's connections were closed when its job ended. */
	assert_int_equal(F.holds, F.releases);
	assert_int_equal(F.conns, 0);
}

static int
one_result(const vp_task_result *r, void *arg)
{
	*(vp_task_result *)arg = *r;
	return 0;
}

static vp_task_result
result_of_device(void)
{
	vp_task_result r;
	vp_error e = { 0 };

	memset(&r, 0, sizeof(r));
	assert_int_equal(vp_task_results(F.s, F.task, one_result, &r, &e), VP_OK);
	return r;
}

static void
add_fault(vp_dop_kind kind, int nth, vp_dev_fail fail, int retryable)
{
	CAM.faults[CAM.nfaults++] = (cam_fault){ kind, nth, fail, retryable };
}

/* ---- the tests ---- */

/* The group commit: the certificate signed for the device is in the store (and named in its
 * result) before the device is asked to install it. */
static void
signed_is_recorded_before_install(vp_dop_kind kind, int nth)
{
	vp_task_result r;
	vp_cert_rec rec;
	vp_error e = { 0 };

	if (kind != VP_DOP_CERT_INSTALL || nth != 1)
		return;
	r = result_of_device();
	assert_string_not_equal(r.cert_serial, "");
	memset(&rec, 0, sizeof(rec));
	assert_int_equal(vp_store_cert_get(F.s, r.cert_serial, &rec, &e), VP_OK);
	assert_string_equal(rec.owner_kind, "device");
	vp_cert_rec_clear(&rec);
	cam_log("(recorded)");
}

static void
https_enable_runs_the_steps_in_order(void **state)
{
	vp_task_result r;
	vp_device d;
	vp_task t;
	vp_error e = { 0 };
	char want[160];

	(void)state;
	CAM.on_start = signed_is_recorded_before_install;
	run_engine();
	/* Signed on the engine's worker thread, its end seen through the loop's wait. */
	assert_null(strstr(F.log, "signing on the engine's thread"));
	assert_string_equal(CAM.ops, "PROBE CA_LIST CA_ADD CERT_LIST KEY_CREATE CERT_LIST CSR_GET "
	    "CERT_INSTALL (recorded) TLS_SET VERIFY CERT_LIST CERT_DELETE");
	r = result_of_device();
	assert_string_equal(r.status, "Finished");
	assert_int_equal(r.attempts, 1);
	assert_int_equal(vp_task_get(F.s, F.task, &t, &e), VP_OK);
	assert_string_equal(t.state, VP_TASK_FINISHED);
	/* The device: our CA added, our key bound over HTTPS only, the certificate that was
	 * signed and recorded for it installed, the old key of ours removed. */
	assert_int_equal(CAM.ncas, 1);
	snprintf(want, sizeof(want), "vmspki-https-t%lld/%d ", (long long)F.task,
	    (int)VP_POLICY_HTTPS);
	assert_string_equal(CAM.tls_sets, want);
	assert_null(cam_find(CAM.keys, CAM.nkeys, "vmspki-https-t999"));
	assert_int_equal(vp_device_get(F.s, F.dev, &d, &e), VP_OK);
	assert_string_equal(d.https_state, VP_HTTPS_ENABLED);
	assert_true(d.pinned);
	assert_true(d.https_only);
	assert_string_equal(d.cert_serial, r.cert_serial);
	assert_string_equal(d.cert_alias, r.key_alias);
}

static void
an_unreachable_device_is_retried_then_succeeds(void **state)
{
	vp_task_result r;

	(void)state;
	add_fault(VP_DOP_CA_LIST, 1, VP_DEVF_UNREACHABLE, 1);
	run_engine();
	/* The attempt stopped at install-ca and the device was identified again. */
	assert_string_equal(CAM.ops, "PROBE CA_LIST PROBE CA_LIST CA_ADD CERT_LIST KEY_CREATE "
	    "CERT_LIST CSR_GET CERT_INSTALL TLS_SET VERIFY CERT_LIST CERT_DELETE");
	r = result_of_device();
	assert_string_equal(r.status, "Finished");
	assert_int_equal(r.attempts, 2);
	assert_non_null(strstr(F.log, "trying again (attempt 2)"));
}

static void
a_failed_bind_puts_the_old_binding_back(void **state)
{
	vp_task_result r;
	vp_device d;
	vp_error e = { 0 };
	char want[200];

	(void)state;
	add_fault(VP_DOP_TLS_SET, 1, VP_DEVF_DEVICE, 0);
	run_engine();
	/* Asked to bind ours (HTTPS only), refused; then the factory binding and HTTP put back. */
	snprintf(want, sizeof(want), "factory/%d ", (int)VP_POLICY_HTTP);
	assert_string_equal(CAM.tls_sets, want);      /* only the successful TLS_SET acts */
	assert_int_equal(CAM.started[VP_DOP_TLS_SET], 2);
	assert_string_equal(CAM.bound, "factory");
	assert_int_equal(CAM.policy, VP_POLICY_HTTP);
	assert_null(strstr(CAM.ops, "VERIFY"));
	r = result_of_device();
	assert_string_equal(r.status, "Failed");
	assert_string_equal(r.step, "bind");
	assert_non_null(strstr(r.error, "scripted TLS_SET failure"));
	assert_int_equal(r.retryable, 0);
	assert_int_equal(vp_device_get(F.s, F.dev, &d, &e), VP_OK);
	assert_false(d.pinned);
	assert_string_equal(d.cert_serial, "");
}

/* Another engine takes the task while the key is made. */
static void
take_lease(vp_dop_kind kind, int nth)
{
	vp_error e = { 0 };

	if (kind != VP_DOP_KEY_CREATE || nth != 1)
		return;
	assert_int_equal(vp_store_lease_take(F.s, F.task, OTHER_ENGINE, (int64_t)time(NULL) +
	    600, &e), VP_OK);
	atomic_store(&F.nudge, 1);
}

static void
a_lost_lease_stops_the_device_and_writes_nothing_over_the_new_owner(void **state)
{
	vp_task_result r;
	vp_task t;
	vp_error e = { 0 };
	char owner[160];

	(void)state;
	CAM.on_start = take_lease;
	run_engine();
	/* Nothing signed was installed or bound once the task was someone else's. */
	assert_null(strstr(CAM.ops, "CERT_INSTALL"));
	assert_null(strstr(CAM.ops, "TLS_SET"));
	assert_int_equal(vp_store_lease_owner(F.s, F.task, owner, sizeof(owner), &e), VP_OK);
	assert_string_equal(owner, OTHER_ENGINE);
	assert_int_equal(vp_task_get(F.s, F.task, &t, &e), VP_OK);
	assert_string_equal(t.state, VP_TASK_RUNNING);
	r = result_of_device();
	assert_string_equal(r.status, "Running");     /* as the new owner will find it */
	assert_string_equal(r.cert_serial, "");
	assert_non_null(strstr(F.log, OTHER_ENGINE));
}

/* Another engine takes the task while the device's certificate is signed. */
static void
take_lease_now(void)
{
	vp_error e = { 0 };

	assert_int_equal(vp_store_lease_take(F.s, F.task, OTHER_ENGINE, (int64_t)time(NULL) +
	    600, &e), VP_OK);
	atomic_store(&F.nudge, 1);
}

static void
a_task_lost_while_signing_records_nothing(void **state)
{
	vp_task_result r;
	char owner[160];
	vp_error e = { 0 };

	(void)state;
	F.on_sign = take_lease_now;
	run_engine();
	/* The task went while its certificate was being signed on the worker thread: the
	 * certificate was neither recorded nor installed. */
	assert_null(F.on_sign);
	assert_null(strstr(CAM.ops, "CERT_INSTALL"));
	assert_int_equal(vp_store_lease_owner(F.s, F.task, owner, sizeof(owner), &e), VP_OK);
	assert_string_equal(owner, OTHER_ENGINE);
	r = result_of_device();
	assert_string_equal(r.status, "Running");
	assert_string_equal(r.cert_serial, "");
	assert_non_null(strstr(F.log, OTHER_ENGINE));
}

/* The engine is stopped (the daemon shuts down) while the device's certificate is signed. */
static void
stop_now(void)
{
	atomic_store(&F.stop, 1);
}

static void
stopping_while_signing_drops_the_signature_and_the_device_resumes(void **state)
{
	vp_task_result r;

	(void)state;
	F.on_sign = stop_now;
	run_engine();
	/* The loop stopped before the worker thread's signature came back: it was dropped
	 * with the job, unrecorded. */
	assert_null(strstr(CAM.ops, "CERT_INSTALL"));
	r = result_of_device();
	assert_string_equal(r.status, "Pending");     /* given back for the next engine */
	assert_string_equal(r.cert_serial, "");
	/* The next engine resumes the device from the top and signs again. */
	atomic_store(&F.stop, 0);
	CAM.ops[0] = '\0';
	run_engine();
	assert_string_equal(CAM.ops, "PROBE CA_LIST CERT_LIST CSR_GET CERT_INSTALL TLS_SET VERIFY "
	    "CERT_LIST CERT_DELETE");
	r = result_of_device();
	assert_string_equal(r.status, "Finished");
	assert_string_not_equal(r.cert_serial, "");
}

/* The operator cancels the task while the key is made. */
static void
cancel_task(vp_dop_kind kind, int nth)
{
	vp_error e = { 0 };

	if (kind != VP_DOP_KEY_CREATE || nth != 1)
		return;
	assert_int_equal(vp_task_cancel(F.s, F.task, "test", &e), VP_OK);
	atomic_store(&F.nudge, 1);
}

static void
cancelling_ends_a_running_device_as_cancelled(void **state)
{
	vp_task_result r;
	vp_task t;
	vp_error e = { 0 };

	(void)state;
	CAM.on_start = cancel_task;
	run_engine();
	assert_string_equal(CAM.ops, "PROBE CA_LIST CA_ADD CERT_LIST KEY_CREATE");
	assert_string_equal(CAM.tls_sets, "");
	r = result_of_device();
	assert_string_equal(r.status, "Cancelled");
	assert_string_equal(r.step, "create-key");
	assert_int_equal(vp_task_get(F.s, F.task, &t, &e), VP_OK);
	assert_string_equal(t.state, VP_TASK_CANCELLED);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(https_enable_runs_the_steps_in_order, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(an_unreachable_device_is_retried_then_succeeds,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(a_failed_bind_puts_the_old_binding_back, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    a_lost_lease_stops_the_device_and_writes_nothing_over_the_new_owner, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(a_task_lost_while_signing_records_nothing,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    stopping_while_signing_drops_the_signature_and_the_device_resumes, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(cancelling_ends_a_running_device_as_cancelled,
		    setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
