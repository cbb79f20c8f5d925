/* vmspki serve: the HTTPS REST API daemon. One process, N worker threads each with its own
 * libevent loop and evhttp, a committer thread that records issued certificates in batches,
 * and a watcher thread that reloads the server certificate when it changes. Internal to the
 * daemon: the CLI calls vpd_serve() only. */
#ifndef VMSPKI_DAEMON_H
#define VMSPKI_DAEMON_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <openssl/ssl.h>

#include "vmspki/buf.h"
#include "vmspki/ca.h"
#include "vmspki/datadir.h"
#include "vmspki/device.h"
#include "vmspki/err.h"
#include "vmspki/issue.h"
#include "vmspki/store.h"

struct evhttp_request;
struct event;
struct event_base;
struct evhttp;
struct bufferevent;

/* ---- limits ---- */
#define VPD_BODY_MAX        (64 * 1024)    /* larger request bodies get 413 (JSON) */
#define VPD_BODY_HARD_MAX   (1024 * 1024)  /* evhttp cuts the connection (plain 413) above */
#define VPD_HEADERS_MAX     (16 * 1024)
#define VPD_IDLE_TIMEOUT    30             /* seconds an idle keep-alive connection stays */
#define VPD_REQUEST_TIMEOUT 10             /* seconds from a request's first byte to its end */
#define VPD_DRAIN_TIMEOUT   10             /* seconds SIGTERM waits for requests in flight */
#define VPD_LISTEN_MAX      16
#define VPD_THREADS_MAX     64
#define VPD_BATCH_MAX       256            /* certificates recorded in one transaction */
#define VPD_COMMIT_WAIT_US  8000           /* a commit waits at most this for more */
#define VPD_COMMIT_TARGET   16             /* ... or until it has this many certificates */

/* ---- options (from `vmspki serve`) ---- */
typedef struct vpd_opts {
	const char *datadir;
	const char *listen[VPD_LISTEN_MAX];  /* "ADDR:PORT", "[V6]:PORT" */
	size_t nlisten;
	int threads;                  /* 0: one per core */
	const char *passfile;         /* CA passphrase file */
	const char *ca_key;           /* key type of a CA made at first start ("rsa4096") */
	int renew_check;              /* seconds between renewal checks (0: 300) */
	int access_log;               /* one log line per request */
	int max_devices;              /* task engine: devices at once (0: the default) */
	int no_engine;                /* do not run tasks (another server does) */
	const char *web_dir;          /* the web UI's files (NULL: found next to the binary) */
	int no_web;                   /* do not serve the web UI */
	const char *store;            /* the store to open (vp_store_locate); NULL: vmspki.db */
} vpd_opts;

/* Runs the daemon until SIGTERM/SIGINT; returns the process exit status (0, 1). */
int vpd_serve(const vpd_opts *o);

/* ---- log.c: one line per event on stderr, never a secret ---- */
void vpd_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- ratelimit.c: failed authentications per peer address ---- */
typedef struct vpd_rl vpd_rl;
/* burst failures allowed at once, refilled at per_minute; an address whose bucket runs dry is
 * locked out for lockout_s seconds. At most max_entries addresses are tracked. */
vpd_rl *vpd_rl_new(int burst, int per_minute, int lockout_s, size_t max_entries);
void vpd_rl_free(vpd_rl *rl);
/* 0 if addr may try now, else the seconds it must wait (>= 1). */
int vpd_rl_blocked(vpd_rl *rl, const char *addr, int64_t now_ms);
/* Counts a failed attempt of addr; returns what vpd_rl_blocked would return after it. */
int vpd_rl_fail(vpd_rl *rl, const char *addr, int64_t now_ms);
size_t vpd_rl_count(vpd_rl *rl);

/* ---- reqjson.c: request bodies and query strings, checked at the edge ---- */
typedef enum vpd_ftype {
	VPD_STRING, VPD_BOOL, VPD_INT, VPD_STRINGS
} vpd_ftype;

typedef struct vpd_field {
	const char *name;
	vpd_ftype type;
	int required;
	size_t max_len;     /* strings: bytes; string arrays: bytes of each element */
	int64_t min, max;   /* integers: range; string arrays: element count (max) */
} vpd_field;

/* What was wrong with a request, for the error body. */
typedef struct vpd_reqerr {
	int status;          /* 400, 413, 422 */
	char code[40];       /* snake_case */
	char msg[400];
} vpd_reqerr;

/* Parses body as one JSON object (duplicate keys refused). NULL body/len 0 is refused. */
json_t *vpd_json_parse(const char *body, size_t len, vpd_reqerr *re);
/* Checks that obj has only the fields listed (terminated by name NULL), each of its type and
 * within its limits, and every required one. 0 or -1 with re filled. */
int vpd_json_check(json_t *obj, const vpd_field *fields, vpd_reqerr *re);
/* Helpers once checked: the string (NULL if absent), the bool, the integer. */
const char *vpd_json_str(json_t *obj, const char *name);
int vpd_json_bool(json_t *obj, const char *name);
int64_t vpd_json_int(json_t *obj, const char *name, int64_t dflt);
/* The elements of a string array as a new array of borrowed pointers (*n set; NULL with
 * n == 0 when absent). Returns -1 on allocation failure. */
int vpd_json_strs(json_t *obj, const char *name, const char ***out, size_t *n);

/* "KIND:ID" (or "KIND" alone when id_optional) into kind/id; -1 if malformed. */
int vpd_owner_parse(const char *s, int id_optional, char *kind, size_t kind_len,
    const char **id);
/* A decimal integer in [min, max]; -1 if it is not one. */
int vpd_parse_int(const char *s, int64_t min, int64_t max, int64_t *out);
/* The id at the head of a path tail (its first len bytes) in [1, max]: copied into num (cut to
 * fit, for the caller's 404 sentence) and parsed into *id. -1 if it is not one. */
int vpd_path_id(const char *arg, size_t len, int64_t max, char *num, size_t num_len,
    int64_t *id);
/* A serial as a client may write it ("01:A3:..", "1a3") into the store's form. -1 if bad. */
int vpd_serial_normalize(const char *in, char *out, size_t n);
/* Strict base64 (standard alphabet, padding optional, whitespace ignored). *out freed by the
 * caller (wipe it when it holds a secret). -1 if s is not base64. */
int vpd_base64_decode(const char *s, unsigned char **out, size_t *len);
/* Base64 of data as a new NUL-terminated string, or NULL. */
char *vpd_base64_encode(const unsigned char *data, size_t len);
/* The rate limiter's key for a peer address: IPv4 as it is, IPv6 by its /64 (one host or
 * site usually owns a whole /64, and can pick any address in it). */
void vpd_peer_key(const char *peer, char *out, size_t n);
/* "Bearer TOKEN" (scheme case-insensitive) -> TOKEN, or NULL. */
const char *vpd_bearer(const char *authorization);

/* ---- metrics.c ---- */
#define VPD_HIST_BUCKETS 12
typedef struct vpd_metrics {
	_Atomic uint64_t issued[16];         /* by profile index (vp_profile_all order) */
	_Atomic uint64_t hist[VPD_HIST_BUCKETS + 1];   /* last one is +Inf */
	_Atomic uint64_t hist_sum_us;
	_Atomic uint64_t hist_count;
	_Atomic uint64_t codes[600];         /* HTTP responses by status */
	_Atomic uint64_t auth_failures;
} vpd_metrics;

void vpd_metrics_issued(vpd_metrics *m, const char *profile, double seconds);
void vpd_metrics_status(vpd_metrics *m, int code);
/* Appends the Prometheus text to t: expiring_30d and server_not_after come from the
 * caller. 0, or -1 when t refused it (then the caller drops t). */
int vpd_metrics_render(const vpd_metrics *m, int64_t expiring_30d, int64_t server_not_after,
    vp_buf *t);

/* ---- the shared state ---- */

/* The CA as loaded with its key, shared by every thread (signing is thread-safe). Held by
 * reference so that an import through the API can replace it under running requests. */
typedef struct vpd_ca_ref {
	vp_ca *ca;
	_Atomic int refs;
	_Atomic(char *) chain_pem;   /* the CA and its issuers in PEM, made once (api.c) */
} vpd_ca_ref;

/* What the TLS context was built from, for status and metrics. */
typedef struct vpd_tls_info {
	char serial[64];
	int64_t not_after;
} vpd_tls_info;

typedef struct vpd_worker vpd_worker;
typedef struct vpd_committer vpd_committer;
typedef struct vpd_ctx vpd_ctx;
typedef struct vpd_pool vpd_pool;

typedef struct vpd {
	vpd_opts o;
	char *datadir;
	vp_datadir *dd;              /* the paths in datadir */
	char *dbpath;
	char *passphrase;            /* CA key passphrase, to protect a CA made through the API */
	vp_sitekey *sitekey;         /* unlocks device passwords (api_devices.c); NULL if it
	                              * could not be opened at start (logged) */

	pthread_mutex_t ca_mu;
	vpd_ca_ref *ca;
	pthread_mutex_t ca_refresh_mu;   /* one CA reload at a time (vpd_ca_refresh) */
	int64_t ca_replace_task;         /* the replacement in progress when last looked */

	pthread_mutex_t tls_mu;      /* the current SSL_CTX: every new connection takes it */
	SSL_CTX *tls;
	vpd_tls_info tls_info;
	pthread_mutex_t reload_mu;   /* one reload at a time (watcher, API renewal) */
	struct vpd_filestamp {
		int64_t crt_mtime_ns, key_mtime_ns;
		int64_t crt_size, key_size;
		uint64_t crt_ino, key_ino;
	} loaded_stamp, failed_stamp;
	int failed_once;

	vpd_rl *rl;
	vpd_metrics metrics;
	vpd_committer *committer;
	vpd_pool *pool;
	atomic_int pool_backlog;     /* jobs waiting for a pool thread (the committer looks) */
	vpd_worker **workers;
	int nworkers;

	pthread_t watcher;
	pthread_mutex_t watch_mu;
	pthread_cond_t watch_cv;
	int watch_stop;
	int watch_now;               /* SIGHUP: reload at once */

	struct vpd_engine *engine;   /* the task engine thread (tasks.c) */
	struct vpd_alarmd *alarmd;   /* the alarm delivery thread (alarmd.c) */
	struct vpd_sched *sched;     /* the scheduler thread (scheduler.c) */

	atomic_int stopping;
	int64_t started_at;
	struct vpd_web *web;         /* the web UI's files (web.c); NULL: not served */
} vpd;

/* ---- scheduler.c: endpoint checks and the nightly job ---- */
int vpd_sched_start(vpd *d, vp_error *e);
void vpd_sched_stop(vpd *d);            /* NULL scheduler is fine */

/* ---- tasks.c: the task engine thread ---- */
int vpd_engine_start(vpd *d, vp_error *e);
void vpd_engine_nudge(vpd *d);          /* a task was created or changed */
void vpd_engine_stop(vpd *d);           /* NULL engine is fine */

/* ---- alarmd.c: the alarm delivery thread (webhook, syslog) ---- */
int vpd_alarmd_start(vpd *d, vp_error *e);
void vpd_alarmd_nudge(vpd *d);          /* alarms were raised or cleared: deliver now */
void vpd_alarmd_stop(vpd *d);           /* NULL thread is fine */

/* ca.c-like helpers (serve.c) */
vpd_ca_ref *vpd_ca_get(vpd *d);
void vpd_ca_put(vpd_ca_ref *r);
/* Replaces the shared CA (takes ownership of ca). */
void vpd_ca_set(vpd *d, vp_ca *ca);
/* Loads the CA again when the store holds another one (`ca init|import --replace` by the
 * command line) and rebuilds the TLS context when the CAs the site trusts changed (the start
 * or the end of a replacement). Returns 1 when something changed. */
int vpd_ca_refresh(vpd *d, vp_store *s);

/* ---- tls.c ---- */
/* Builds an SSL_CTX from <datadir>/certs/server.crt and server.key.pem, trusting the CA for
 * client certificates. */
SSL_CTX *vpd_tls_build(vpd *d, const vp_ca *ca, vpd_tls_info *info, vp_error *e);
/* The current context with a reference taken (SSL_CTX_free it). */
SSL_CTX *vpd_tls_current(vpd *d);
/* Reloads when the files changed since the last load (or always with force). 1 reloaded,
 * 0 nothing to do, -1 failed (the old context stays; logged). */
int vpd_tls_reload(vpd *d, int force);
/* The watcher thread: file changes every 2 s, renewal needs every renew_check seconds. */
int vpd_watcher_start(vpd *d, vp_error *e);
void vpd_watcher_stop(vpd *d);
/* The index for our per-connection state in SSL ex_data. */
int vpd_tls_conn_index(void);

/* ---- jobs: work that leaves the loop (a pool thread, the committer) and comes back ---- */
typedef struct vpd_job {
	struct vpd_job *next;
	vpd *d;
	vpd_worker *w;               /* whose loop sends the reply */
	struct evhttp_request *req;
	int64_t t_start_us;
	char actor[128];
	char peer[64];

	/* Pool stage (optional): run in a pool thread with its own store handle. */
	void (*run)(struct vpd_job *j, vp_store *s);
	json_t *in;                  /* the checked request body */
	vpd_ca_ref *ca;
	X509_REQ *csr;

	/* The reply: status 0 with a certificate to record means "201 once committed". */
	int status;
	char *body;
	size_t body_len;
	int body_secret;             /* holds a PKCS#12: wiped once sent */

	/* Issuance */
	vp_issued *is;
	char profile[32];
	vp_err rc;                   /* the commit's result */
	vp_error err;
} vpd_job;

/* A job for c's request (actor, peer, clock taken from c). NULL when out of memory. */
vpd_job *vpd_job_new(vpd_ctx *c);
/* Hands c's request to the pool stage run with in (stolen) as its input, and a reference to
 * the CA when with_ca. Returns 0, or -1 when out of memory (in freed, 500 replied). */
int vpd_job_start(vpd_ctx *c, int with_ca, json_t *in, void (*run)(vpd_job *, vp_store *));
void vpd_job_free(vpd_job *j);
/* Sets the job's reply: an error body, or a JSON value (stolen). */
void vpd_job_error(vpd_job *j, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void vpd_job_json(vpd_job *j, int status, json_t *v, int secret);
/* After a job's pool stage: to the committer when it has a certificate to record, else back
 * to its loop. */
void vpd_job_route(vpd_job *j);

/* ---- committer.c: issued certificates recorded in batches, replies after the commit ---- */
vpd_committer *vpd_committer_start(vpd *d, vp_error *e);
/* Queues job; the committer hands it back to job->w (vpd_worker_jobs_done) once recorded. */
void vpd_committer_submit(vpd_committer *c, vpd_job *job);
/* The pool's backlog ran dry: a commit waiting for more goes ahead. */
void vpd_committer_nudge(vpd_committer *c);
void vpd_committer_stop(vpd_committer *c);

/* ---- pool.c: threads for work too slow for a loop (signatures, keys, PKCS#12, renewal) ---- */
vpd_pool *vpd_pool_start(vpd *d, int threads, vp_error *e);
void vpd_pool_submit(vpd_pool *p, vpd_job *j);
void vpd_pool_stop(vpd_pool *p);   /* finishes what is queued */

/* ---- worker.c ---- */
vpd_worker *vpd_worker_new(vpd *d, int idx, vp_error *e);
/* Binds the worker's listening sockets (SO_REUSEPORT). */
int vpd_worker_listen(vpd_worker *w, const char *const *addrs, size_t n, vp_error *e);
int vpd_worker_start(vpd_worker *w, vp_error *e);
void vpd_worker_stop(vpd_worker *w);        /* asks: stop accepting, drain, exit */
void vpd_worker_join(vpd_worker *w);
void vpd_worker_free(vpd_worker *w);
/* From the committer or the pool: job (or the list head..tail linked by next) is ready to
 * be answered on w's loop. */
void vpd_worker_job_done(vpd_worker *w, vpd_job *job);
void vpd_worker_jobs_done(vpd_worker *w, vpd_job *head, vpd_job *tail);

/* What a handler knows about the request it serves. */
struct vpd_ctx {
	vpd *d;
	vpd_worker *w;
	vp_store *store;             /* the worker's own handle */
	struct evhttp_request *req;
	const char *path;
	const char *query;           /* may be NULL */
	int method;                  /* EVHTTP_REQ_* */
	char peer[64];
	char actor[128];             /* "token:NAME" or "cert:NAME" once authenticated */
	int64_t t_start_us;
	SSL *ssl;
};

/* Replies (the only way responses leave): JSON value (stolen), an error, raw bytes. */
void vpd_reply_json(vpd_ctx *c, int status, json_t *v);
void vpd_reply_error(vpd_ctx *c, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void vpd_reply_reqerr(vpd_ctx *c, const vpd_reqerr *re);
void vpd_reply_raw(vpd_ctx *c, int status, const char *ctype, const void *data, size_t len,
    const char *disposition);
/* Low level, for deferred replies: sends status and body on req of worker w. */
void vpd_send(vpd_worker *w, struct evhttp_request *req, int status, const char *ctype,
    const void *body, size_t len, const char *extra_hdr, const char *extra_val);
/* The request body (NUL-terminated copy) or a 400/413 reply; NULL when replied. */
char *vpd_body(vpd_ctx *c, size_t *len);
/* Hands c's request to job: to the pool when job->run is set, else to the committer when it
 * has a certificate to record, else the job's reply is sent now. c->req is then NULL. */
void vpd_defer(vpd_ctx *c, vpd_job *job);
/* Takes the TLS context again now (after an API renewal). */
int64_t vpd_now_us(void);

void vpd_reply_error_hdr(vpd_ctx *c, int status, const char *code, const char *hdr,
    const char *val, const char *msg);
/* The connection's client-certificate verdict, cached: 0 not looked at, 1 admin (actor
 * copied out), -1 not an admin. set_state != 0 records a verdict. */
int vpd_conn_cert_state(vpd_ctx *c, char *actor, size_t n, int set_state,
    const char *set_actor);
/* 1 if the client presented a certificate that verified against the CA. */
int vpd_conn_cert_verified(vpd_ctx *c);

/* ---- listen.c ---- */
struct sockaddr_storage;
/* "ADDR:PORT" or "[V6]:PORT" (numeric addresses) into *ss. -1 with e filled if malformed. */
int vpd_addr_parse(const char *s, struct sockaddr_storage *ss, unsigned *len, vp_error *e);
/* "1.2.3.4", "::1" or with_port "1.2.3.4:8443", "[::1]:8443". */
void vpd_addr_format(const struct sockaddr_storage *ss, char *buf, size_t n, int with_port);
/* A non-blocking socket bound to addr, listening if do_listen; reuseport sets SO_REUSEPORT.
 * -1 on failure. */
int vpd_listen_socket(const char *addr, int reuseport, int do_listen, vp_error *e);
/* The port a socket is bound to (for --listen ADDR:0). */
int vpd_socket_port(int fd);

/* ---- api.c ---- */
/* Routes c to its handler (auth included); always replies or defers. */
void vpd_api_dispatch(vpd_ctx *c);
/* Authentication for /api calls: 1 ok (c->actor set), 0 replied with 401/429. */
int vpd_auth(vpd_ctx *c);

/* ---- the error body of every refusal (worker.c); values are rendered by render_json.h ---- */
/* {"error":{"code":code,"message":msg}}; NULL when out of memory. */
json_t *vpd_error_json(const char *code, const char *msg);

/* ---- helpers the API's handler files share (api.c) ---- */

/* A parsed query string. */
typedef struct vpd_query {
	struct evkeyvalq kv;
	int parsed;
} vpd_query;

/* Parses c->query and refuses names not in allowed (NULL-terminated). 0 ok, -1 replied. */
int vpd_query_parse(vpd_ctx *c, vpd_query *q, const char *const *allowed);
const char *vpd_query_get(vpd_query *q, const char *name);
void vpd_query_free(vpd_query *q);

/* The body as a JSON object checked against fields; NULL when already replied. An empty body
 * counts as {} when empty_ok. *raw is the body (wipe with vp_secret_free: it may hold secrets). */
json_t *vpd_body_json(vpd_ctx *c, const vpd_field *fields, int empty_ok, char **raw,
    size_t *rawlen);

/* Replies with the status and code that fit a library error (4xx for the caller's mistakes). */
void vpd_reply_vp_error(vpd_ctx *c, const vp_error *e);
void vpd_job_vp_error(vpd_job *j, const vp_error *e);
void vpd_reply_oom(vpd_ctx *c);
/* 405 with the Allow header: "<path> takes <allow>". */
void vpd_reply_not_allowed(vpd_ctx *c, const char *path, const char *allow);
/* /api/v1/<resource>/ID[/action] once the action is known: show (GET, HEAD) when show, else an
 * action (POST), on the ID in the first idlen bytes of arg (a 404 naming what, "an alarm",
 * when it is not one), handed to the pool stage run with {"id": ID}. */
void vpd_item_job(vpd_ctx *c, const char *arg, size_t idlen, int show, const char *what,
    void (*run)(vpd_job *, vp_store *));

/* Every list resource has one shape: the job's reply is {"<key>": [rows]}, where fetch walks
 * the store with a row callback that renders each row into array (vp_json_append). Out of
 * memory is a 500 "internal", the store's failure the reply vpd_job_vp_error gives. */
typedef vp_err (*vpd_list_fetch)(vp_store *s, vpd_job *j, json_t *array, vp_error *e);
void vpd_job_list(vpd_job *j, vp_store *s, const char *key, vpd_list_fetch fetch);

/* Device and task endpoints (api_devices.c, api_tasks.c). */
void vpd_h_devices(vpd_ctx *c);
void vpd_h_device_item(vpd_ctx *c, const char *arg);
void vpd_h_tasks(vpd_ctx *c);
void vpd_h_task_item(vpd_ctx *c, const char *arg);
/* Monitored endpoints (api_endpoints.c). */
void vpd_h_endpoints(vpd_ctx *c);
void vpd_h_endpoint_item(vpd_ctx *c, const char *arg);
/* Alarm endpoints and the alarms_active gauges of /metrics (api_alarms.c); the gauges are
 * appended to text: 0, or -1 with nothing appended. */
void vpd_h_alarms(vpd_ctx *c);
void vpd_h_alarm_item(vpd_ctx *c, const char *arg);
int vpd_alarm_metrics(vp_store *s, vp_buf *text);

/* ---- web.c: the web UI's static files, served at / ---- */
typedef struct vpd_web vpd_web;
/* Reads every file of dir (NULL: <bin>/../share/vmspki/web, <bin>/web, then the configured
 * prefix's) into memory. NULL with e filled when there is none or it cannot be read. */
vpd_web *vpd_web_load(const char *dir, vp_error *e);
void vpd_web_free(vpd_web *w);
const char *vpd_web_dir(const vpd_web *w);
size_t vpd_web_count(const vpd_web *w);
/* Replies with the file at c->path ("/" is /index.html) for GET and HEAD: 1 when it did. */
int vpd_web_serve(vpd_ctx *c);
/* The site settings (api_settings.c). */
void vpd_h_settings(vpd_ctx *c);
void vpd_h_setting_item(vpd_ctx *c, const char *arg);
/* ---- IEEE 802.1X (api_dot1x.c) ---- */
void vpd_h_dot1x(vpd_ctx *c);
void vpd_h_dot1x_item(vpd_ctx *c, const char *arg);

#endif
