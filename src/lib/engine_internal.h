/* What the task engine's files share (engine.c, engine_claim.c, engine_job.c, engine_commit.c,
 * careplace.c, engine_net.c): the engine, its tasks and jobs, the network it sends through, the
 * worker thread it signs on (offload.h) and the calls between them. Engine files and the
 * engine's unit test only. */
#ifndef VMSPKI_ENGINE_INTERNAL_H
#define VMSPKI_ENGINE_INTERNAL_H

#include <stdint.h>

#include <openssl/evp.h>

#include "vmspki/device.h"
#include "vmspki/driver.h"
#include "vmspki/engine.h"
#include "vmspki/extcert.h"
#include "vmspki/foreign.h"
#include "vmspki/keystore.h"
#include "vmspki/issue.h"
#include "vmspki/task.h"

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

/* The steps of a device, in order (device-api.md); eng_step_names says them. */
enum step {
	ST_IDENTIFY, ST_CA, ST_KEY, ST_SIGN, ST_INSTALL, ST_BIND, ST_VERIFY, ST_CLEANUP, ST_OLDCA,
	ST_DOT1X,     /* 802.1X tasks instead of bind and verify (engine_dot1x.c) */
	ST_END
};
extern const char *const eng_step_names[];
#define CA_ALIAS_PREFIX "vmspki-ca-"
#define DOT1X_ALIAS_PREFIX "vmspki-8021x-"   /* the 802.1X client keys: never the HTTPS ones */
#define DOT1X_TOKEN "vmspki-8021x"           /* our 802.1X configuration on the device */
#define EAPCA_ALIAS_PREFIX "vmspki-eapca-"   /* an EAP CA other than the site CA */

typedef struct etask etask;
typedef struct eng_signing eng_signing;

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
	int days;                     /* validity of its certificate: the task's, else device.days */

	enum step step;
	int sub;                      /* which operation of the step */
	vp_dop *op;
	void *xfer;                   /* the request or handshake in flight (the eng_net's) */
	void *net_job;                /* the eng_net's state for the device (curl: its own
	                               * connection cache), kept from one request to the next */
	int tls_check;                /* xfer is the verify handshake */
	eng_signing *signing;         /* its certificate is being signed on the worker thread */
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
	/* 802.1X tasks: what the device had, to put back on failure */
	vp_dot1x_conf d1x_old;        /* the interface's switch and token and that configuration */
	int d1x_have_old;
	int d1x_old_found;            /* d1x_old's token named a configuration */
	int d1x_ours_existed;         /* our configuration (DOT1X_TOKEN) was there before */
	int d1x_ours_now;             /* ... and is there now (this attempt's read) */
	int d1x_rb_tries;             /* roll-backs tried again after the device was unreachable */

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
	char ext_pin[128];            /* install: the pin of the outside certificate, verified */
	char *fg_certs;               /* other tools' certificates seen (foreign.h), to record */
	char *fg_cas;                 /* ... and CA certificates */
	char keystore_seen[16];       /* where the device says our key is, to record */
	/* install: the intermediate CAs the camera gets as CA certificates, to send them */
	char *inter_pem[VP_EXT_MAX_INTER];
	char inter_alias[VP_EXT_MAX_INTER][48];
	int inter_have[VP_EXT_MAX_INTER];
	int ninter, inter_cur;
} job;

struct etask {
	etask *next;
	int64_t id;
	vp_task t;
	int active;
	int done_loading;             /* no Pending devices left in the store */
	int64_t fill_after;           /* the highest device id a fill took: the next looks past it */
	int64_t claimed_ms;           /* when this engine took it (the start ramp) */
	int replace;                  /* a CA replacement (VP_TASK_CA_REPLACE), or a renewal */
	int renew;                    /* a CA renewal (VP_TASK_CA_RENEW): the phases of a
	                               * replacement, but each device keeps its certificate and
	                               * only the CA beside it changes (issue 19, item 5) */
	int check;                    /* the nightly check (VP_TASK_DEVICE_CHECK): identify,
	                               * and put the CA back on a device of ours that lost it */
	int retire;                   /* ca-replace: every device done, retire the old CA now */
	int dot1x;                    /* an 802.1X task (VP_TASK_DOT1X_*) */
	char eap_alias[64];           /* 802.1X: the EAP CA's alias, PEM and fingerprint (the */
	char *eap_pem;                /* site CA's unless one was set: vp_dot1x_eap_ca) */
	char eap_fp[65];
	char lost[160];               /* another engine took it (its name): drop it, write
	                               * nothing more */

	/* outside certificates (extcert.h) */
	int csr;                      /* https-csr: identify, create-key, the CSR kept */
	int install;                  /* https-install: identify, install, bind, verify (the
	                               * served certificate is the one given), cleanup */
	char ext_alias[128];          /* install: the key the CSR was for */
	char ext_cert[16384];         /* install: the certificate, PEM */
	char ext_fp[65];
	int64_t ext_not_after;
	char ext_inter[16384];        /* install: the chain's intermediate CAs, PEM ("" none) */

	/* other tools' certificates (foreign.h) */
	int clean;                    /* https update --clean: remove them too */

	/* key stores (device.keystore) */
	char keystore[16];            /* where keys are made; "" the device's default */
};

typedef struct engine {
	const vp_engine_cfg *cfg;
	vp_store *s;
	const struct eng_net *net;    /* how requests reach the devices */
	void *net_ctx;                /* the net's own (curl: the multi handle) */
	int net_open;
	const vp_driver *driver;      /* every device's driver (a test's); NULL: by its API */
	char instance[160];
	char ca_pem_path[4096];
	etask *tasks;
	job *jobs;
	int active;
	int max_active;
	int ramping;                  /* eng_fill() held devices back: look again soon */
	int64_t last_flush_ms;
	int loaded;                   /* eng_fill() took devices: write their Running now */
	int64_t last_lease_ms;
	int64_t last_poll_ms;
	char *ca_pem;                 /* the CA certificate, to install */
	char ca_alias[64];
	char ca_fp[65];               /* SHA-256 of the CA certificate */
	char *chain_pem;              /* what follows a device certificate: CA if not root, ... */
	char verify_path[4096];       /* the current CA alone (and its issuers): verify step */
	char old_fp[65];              /* the CA being replaced ("" when none) */
	struct vp_offload *signer;    /* signs device certificates off the loop's thread (NULL:
	                               * on it) */
} engine;

/* What the step machine needs from the network: a driver's request sent to a device, and the
 * verify handshake, both ending later in eng_xfer_done. A job has at most one transfer
 * (job.xfer, set by send and verify, owned by the net). engine_net.c does it with libcurl
 * multi; the unit test answers in-process. */
typedef struct eng_net {
	vp_err (*open)(engine *g, vp_error *e);
	void (*close)(engine *g);
	/* Sends req (valid during the call) to the device conn describes. */
	vp_err (*send)(engine *g, job *j, const vp_dev_conn *conn, const vp_http_req *req,
	    vp_error *e);
	/* A TLS handshake with conn's HTTPS port, verifying the chain against conn->ca_file and
	 * the name conn->tls_name, then a GET of "/" whose status does not matter. */
	vp_err (*verify)(engine *g, job *j, const vp_dev_conn *conn, vp_error *e);
	/* After a handshake that ended with transport OK: the SHA-256 fingerprint (lowercase hex)
	 * of the certificate the device presented; VP_ERR_NOTFOUND if none. */
	vp_err (*peer_fp)(engine *g, job *j, char fp[65], vp_error *e);
	/* Ends j's transfer (j->xfer not NULL), answered (its answer goes with it) or still in
	 * flight; sets j->xfer to NULL. */
	void (*release)(engine *g, job *j);
	/* The device's job ends (j->xfer is NULL): closes what the net keeps for it between
	 * requests (its connections) and sets j->net_job to NULL. */
	void (*forget)(engine *g, job *j);
	/* Sends what is queued and hands every transfer that ended to eng_xfer_done; how many
	 * ended. Does not block. */
	int (*deliver)(engine *g);
	/* Sleeps until a transfer may have moved, wake is called, or ms have passed. */
	void (*wait)(engine *g, int ms);
	/* Ends the wait now, or the next one if none is under way. Called from the signer's
	 * thread (a signature is done). */
	void (*wake)(engine *g);
} eng_net;

extern const eng_net eng_net_curl;

/* Runs the engine as vp_engine_run does, with net and, when drv is not NULL, drv as every
 * device's driver (the unit test). */
vp_err eng_run(const vp_engine_cfg *cfg, const eng_net *net, const vp_driver *drv,
    vp_error *e);

/* engine.c: the loop and its configuration */
int64_t eng_now_ms(void);
void eng_log(engine *g, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The CA the engine signs with, installs and verifies against; check loads it again when the
 * store holds another one now. */
vp_err eng_ca_setup(engine *g, vp_error *e);
vp_err eng_ca_check(engine *g, vp_error *e);

/* engine_claim.c: claims, leases, the heartbeat and taking devices */
void eng_make_instance(engine *g);
vp_err eng_claim(engine *g, int renew, vp_error *e);
void eng_release(engine *g);
vp_err eng_fill(engine *g, vp_error *e);
void eng_tasks_refresh(engine *g);
void eng_drop_lost(engine *g);

/* engine_job.c: the per-device step machine */
void eng_jobs_start(engine *g);
void eng_job_decide(engine *g, job *j);
/* j's transfer ended with resp (valid during the call). */
void eng_xfer_done(engine *g, job *j, const vp_http_resp *resp);
void eng_job_release_slot(engine *g, job *j);
void eng_job_free(engine *g, job *j);
/* Starts the thread device certificates are signed on; without it they are signed on the
 * loop's thread, as before. */
void eng_signer_start(engine *g);
/* The signatures the worker thread has finished go back to their jobs. */
void eng_signed_take(engine *g);
/* Stops the worker thread (what it has queued is signed first) and frees what it signed. */
void eng_signer_stop(engine *g);

/* engine_commit.c: the group commit */
vp_err eng_flush(engine *g, vp_error *e);
void eng_jobs_reap(engine *g);
void eng_tasks_reap(engine *g);

/* engine_dot1x.c: the 802.1X step (ST_DOT1X) and what 802.1X tasks do differently */
vp_err eng_dot1x_task_setup(engine *g, etask *t, vp_error *e);
void eng_dot1x_task_free(etask *t);
void eng_dot1x_identified(job *j);            /* identity, subject, no SANs */
vp_err eng_dot1x_step_start(engine *g, job *j, vp_dop_args *a, vp_dop_kind *kind,
    vp_error *e);
void eng_dot1x_done(engine *g, job *j, const vp_dop_result *r);
/* The CA step's CA for j's task: alias, PEM and fingerprint. */
const char *eng_job_ca_alias(const engine *g, const job *j);
const char *eng_job_ca_pem(const engine *g, const job *j);
const char *eng_job_ca_fp(const engine *g, const job *j);
void eng_job_set_step(job *j, enum step s);

/* careplace.c: the CA replacement's own phases */
void eng_replace_local(engine *g, etask *t);
void eng_retire_old_ca(engine *g, etask *t);
/* careplace.c: a renewal's local phase (the components' files get the renewed CA) */
void eng_renew_local(engine *g, etask *t);

#endif
