/* A worker thread: its own libevent loop and evhttp, its own listening sockets (SO_REUSEPORT:
 * the kernel spreads connections over the workers), its own store handle. Every connection
 * is TLS (bufferevent_openssl with the current SSL_CTX), watched for slow clients, and
 * answered by api.c; replies that wait for a commit come back through done_ev. */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/util.h>
#include <openssl/bio.h>
#include <openssl/err.h>

#include "daemon.h"
#include "vmspki/buf.h"
#include "vmspki/render_json.h"
#include "vmspki/util.h"

#define TICK_MS 1000
#define DRAIN_TICK_MS 100

/* What we know about one TLS connection; it lives as long as its SSL (freed by
 * vpd_conn_ex_free when the bufferevent frees the SSL). */
typedef struct conn {
	struct conn *prev, *next;
	vpd_worker *w;
	SSL *ssl;
	struct bufferevent *bev;
	uint64_t mark;           /* bytes read from the socket when the last request was whole */
	int64_t busy_since_ms;   /* since when bytes beyond mark are waiting; 0: idle */
	int hs_done;
	int cert_bad;            /* the client certificate did not verify against the CA */
	int auth_state;          /* client certificate: 0 not looked at, 1 admin, -1 not */
	int closecb_set;
	int no_coalesce;         /* a reply held a secret: its bytes are never copied */
	char cert_actor[128];
} conn;

struct vpd_worker {
	vpd *d;
	int idx;
	pthread_t th;
	int started;
	struct event_base *base;
	struct evhttp *http;
	vp_store *store;
	struct evhttp_bound_socket *bound[VPD_LISTEN_MAX];
	size_t nbound;
	struct event *done_ev, *stop_ev, *tick_ev, *drain_ev;
	pthread_mutex_t mu;        /* guards done_head/done_tail (the committer adds) */
	vpd_job *done_head, *done_tail;
	conn *conns;
	size_t nconns;
	int pending;               /* replies waiting for the committer */
	int draining;
	int64_t drain_deadline_ms;
};

int64_t
vpd_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int64_t
now_ms(void)
{
	return vpd_now_us() / 1000;
}

static conn *
conn_of_ssl(SSL *ssl)
{
	return ssl != NULL ? SSL_get_ex_data(ssl, vpd_tls_conn_index()) : NULL;
}

void
vpd_conn_ex_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
	conn *c = ptr;

	(void)parent;
	(void)ad;
	(void)idx;
	(void)argl;
	(void)argp;
	if (c == NULL)
		return;
	if (c->w != NULL) {
		if (c->prev != NULL)
			c->prev->next = c->next;
		else if (c->w->conns == c)
			c->w->conns = c->next;
		if (c->next != NULL)
			c->next->prev = c->prev;
		c->w->nconns--;
	}
	free(c);
}

void
vpd_conn_cert_bad(SSL *ssl)
{
	conn *c = conn_of_ssl(ssl);

	if (c != NULL)
		c->cert_bad = 1;
}

static uint64_t
bytes_read(conn *c)
{
	BIO *b = SSL_get_rbio(c->ssl);

	return b != NULL ? BIO_number_read(b) : 0;
}

static void
info_cb(const SSL *ssl, int where, int ret)
{
	conn *c = conn_of_ssl((SSL *)ssl);

	(void)ret;
	if (c != NULL && (where & SSL_CB_HANDSHAKE_DONE) && !c->hs_done) {
		c->hs_done = 1;
		c->mark = bytes_read(c);
		c->busy_since_ms = 0;
	}
}

static void
peer_of_fd(evutil_socket_t fd, char *buf, size_t n)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	snprintf(buf, n, "?");
	if (fd >= 0 && getpeername(fd, (struct sockaddr *)&ss, &len) == 0)
		vpd_addr_format(&ss, buf, n, 0);
}

/* A reply reaches the connection's output as two chains, evhttp's headers and our body, and
 * the TLS bufferevent writes each chain as a TLS record of its own with a write(2) of its own.
 * Joined before the write, a reply up to a record's size is one record and one TCP segment:
 * one system call less here, and one read less for the client. */
#define COALESCE_MAX 16384   /* a TLS record's plaintext at most */

static void
coalesce_cb(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
	conn *c = arg;

	if (info->n_added == 0 || c->no_coalesce || evbuffer_get_length(buf) > COALESCE_MAX ||
	    evbuffer_peek(buf, -1, NULL, NULL, 0) < 2)
		return;
	evbuffer_pullup(buf, -1);
}

/* evhttp asks for a bufferevent for each accepted connection: a TLS one on the current
 * context. evhttp would fall back to plain HTTP if we returned NULL, so we never do. */
static struct bufferevent *
bevcb(struct event_base *base, void *arg)
{
	vpd_worker *w = arg;
	SSL_CTX *ctx = vpd_tls_current(w->d);
	struct bufferevent *bev;
	SSL *ssl = ctx != NULL ? SSL_new(ctx) : NULL;
	conn *c = calloc(1, sizeof(*c));

	SSL_CTX_free(ctx);
	if (ssl == NULL || c == NULL || !SSL_set_ex_data(ssl, vpd_tls_conn_index(), c))
		goto fatal;
	c->ssl = ssl;
	SSL_set_info_callback(ssl, info_cb);
	bev = bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING,
	    BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL)
		goto fatal;
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	if (evbuffer_add_cb(bufferevent_get_output(bev), coalesce_cb, c) == NULL)
		goto fatal;
	c->bev = bev;
	c->w = w;
	c->next = w->conns;
	if (w->conns != NULL)
		w->conns->prev = c;
	w->conns = c;
	w->nconns++;
	return bev;
fatal:
	vpd_log("out of memory accepting a connection: stopping");
	abort();
}

/* Closes a connection from under evhttp: it sees EOF and frees the connection itself. */
static void
conn_cut(conn *c, const char *why)
{
	evutil_socket_t fd = bufferevent_getfd(c->bev);
	char peer[64];

	peer_of_fd(fd, peer, sizeof(peer));
	vpd_log("closed the connection from %s: %s", peer, why);
	if (fd >= 0)
		shutdown(fd, SHUT_RDWR);
	c->busy_since_ms = 0;
	c->mark = UINT64_MAX;   /* never again */
}

/* Every second: a connection that has started a request (or the handshake) must finish it
 * within VPD_REQUEST_TIMEOUT, however slowly it trickles bytes in. */
static void
tick_cb(evutil_socket_t fd, short what, void *arg)
{
	vpd_worker *w = arg;
	int64_t now = now_ms();
	conn *c, *next;

	(void)fd;
	(void)what;
	for (c = w->conns; c != NULL; c = next) {
		uint64_t n;

		next = c->next;
		if (c->mark == UINT64_MAX)
			continue;
		n = bytes_read(c);
		if (n <= c->mark) {
			c->busy_since_ms = 0;
		} else if (c->busy_since_ms == 0) {
			c->busy_since_ms = now;
		} else if (now - c->busy_since_ms >= VPD_REQUEST_TIMEOUT * 1000) {
			conn_cut(c, c->hs_done ? "the request did not arrive in time" :
			    "the TLS handshake did not finish in time");
		}
	}
}

/* ---- replies ---- */

static const char *
reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 201: return "Created";
	case 204: return "No Content";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 409: return "Conflict";
	case 413: return "Payload Too Large";
	case 422: return "Unprocessable Entity";
	case 429: return "Too Many Requests";
	case 500: return "Internal Server Error";
	case 503: return "Service Unavailable";
	}
	return "Status";
}

static void
wipe_cleanup(const void *data, size_t len, void *arg)
{
	(void)arg;
	vp_secret_free((void *)data, len);
}

/* Sends the reply; body_owned_secret: body is a malloc'd secret that the buffer takes and
 * wipes once sent. */
static void
send_common(vpd_worker *w, struct evhttp_request *req, int status, const char *ctype,
    const void *body, size_t len, int body_owned_secret, const char *extra_hdr,
    const char *extra_val)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	struct evbuffer *buf = evbuffer_new();

	if (body_owned_secret) {   /* the secret stays in the chain that wipes it */
		struct evhttp_connection *evcon = evhttp_request_get_connection(req);
		struct bufferevent *bev = evcon != NULL ?
		    evhttp_connection_get_bufferevent(evcon) : NULL;
		conn *c = conn_of_ssl(bev != NULL ? bufferevent_openssl_get_ssl(bev) : NULL);

		if (c != NULL)
			c->no_coalesce = 1;
	}

	if (ctype != NULL)
		evhttp_add_header(h, "Content-Type", ctype);
	evhttp_add_header(h, "Cache-Control", "no-store");
	evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
	evhttp_add_header(h, "Referrer-Policy", "no-referrer");
	/* An API reply opened in a browser runs nothing and is framed nowhere; the web UI's
	 * pages (web.c) set their own policy. */
	if (evhttp_find_header(h, "Content-Security-Policy") == NULL)
		evhttp_add_header(h, "Content-Security-Policy",
		    "default-src 'none'; frame-ancestors 'none'");
	if (extra_hdr != NULL && extra_val != NULL)
		evhttp_add_header(h, extra_hdr, extra_val);
	if (w->draining || w->d->stopping)
		evhttp_add_header(h, "Connection", "close");
	if (buf != NULL && len > 0) {
		if (body_owned_secret) {
			if (evbuffer_add_reference(buf, body, len, wipe_cleanup, NULL) != 0)
				vp_secret_free((void *)body, len);
			body_owned_secret = 0;
		} else {
			evbuffer_add(buf, body, len);
		}
	}
	if (body_owned_secret)
		vp_secret_free((void *)body, len);
	evhttp_send_reply(req, status, reason(status), buf);
	evbuffer_free(buf);
	vpd_metrics_status(&w->d->metrics, status);
}

void
vpd_send(vpd_worker *w, struct evhttp_request *req, int status, const char *ctype,
    const void *body, size_t len, const char *extra_hdr, const char *extra_val)
{
	send_common(w, req, status, ctype, body, len, 0, extra_hdr, extra_val);
}

static const char *
method_name(int m)
{
	switch (m) {
	case EVHTTP_REQ_GET: return "GET";
	case EVHTTP_REQ_POST: return "POST";
	case EVHTTP_REQ_HEAD: return "HEAD";
	case EVHTTP_REQ_PUT: return "PUT";
	case EVHTTP_REQ_DELETE: return "DELETE";
	case EVHTTP_REQ_OPTIONS: return "OPTIONS";
	case EVHTTP_REQ_PATCH: return "PATCH";
	}
	return "?";
}

static void
access_log(vpd_ctx *c, int status)
{
	if (!c->d->o.access_log)
		return;
	vpd_log("%s %s %.200s %d %.1fms%s%s", c->peer, method_name(c->method), c->path, status,
	    (double)(vpd_now_us() - c->t_start_us) / 1000.0, c->actor[0] ? " " : "", c->actor);
}

void
vpd_reply_raw(vpd_ctx *c, int status, const char *ctype, const void *data, size_t len,
    const char *disposition)
{
	send_common(c->w, c->req, status, ctype, data, len, 0,
	    disposition != NULL ? "Content-Disposition" : NULL, disposition);
	access_log(c, status);
	c->req = NULL;
}

/* JSON replies; a body holding a secret (a PKCS#12) is wiped once sent. */
static void
reply_json_common(vpd_ctx *c, int status, json_t *v, const char *hdr, const char *val,
    int secret)
{
	char *s = v != NULL ? json_dumps(v, JSON_COMPACT) : NULL;

	json_decref(v);
	if (s == NULL) {
		static const char oom[] = "{\"error\":{\"code\":\"internal\",\"message\":"
		    "\"out of memory rendering the reply\"}}\n";

		send_common(c->w, c->req, 500, "application/json", oom, sizeof(oom) - 1, 0, NULL,
		    NULL);
		access_log(c, 500);
		c->req = NULL;
		return;
	}
	{
		size_t n = strlen(s), blen;
		char *body;
		vp_buf b;

		/* the body and a newline in a copy: realloc would leave a secret in the old block */
		vp_buf_init(&b, "the reply", n + 1, secret ? VP_BUF_SECRET : 0);
		if (vp_buf_add(&b, s, n, NULL) != VP_OK || vp_buf_add(&b, "\n", 1, NULL) != VP_OK ||
		    vp_buf_take(&b, &body, &blen, NULL) != VP_OK) {
			body = s;     /* without the newline */
			blen = n;
			s = NULL;
		}
		vp_buf_free(&b);
		if (secret) {
			vp_secret_free(s, n);
			send_common(c->w, c->req, status, "application/json", body, blen, 1, hdr, val);
		} else {
			free(s);
			send_common(c->w, c->req, status, "application/json", body, blen, 0, hdr, val);
			free(body);
		}
	}
	access_log(c, status);
	c->req = NULL;
}

void
vpd_reply_json(vpd_ctx *c, int status, json_t *v)
{
	reply_json_common(c, status, v, NULL, NULL, 0);
}

json_t *
vpd_error_json(const char *code, const char *msg)
{
	return json_pack("{s:{s:s,s:o}}", "error", "code", code, "message", vp_json_str(msg));
}

/* The error body with the headers a status calls for. */
static void
reply_error_v(vpd_ctx *c, int status, const char *code, const char *hdr, const char *val,
    const char *msg)
{
	reply_json_common(c, status, vpd_error_json(code, msg), hdr, val, 0);
}

void
vpd_reply_error(vpd_ctx *c, int status, const char *code, const char *fmt, ...)
{
	char msg[VP_ERROR_MSG_MAX + 200];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	reply_error_v(c, status, code, NULL, NULL, msg);
}

void
vpd_reply_error_hdr(vpd_ctx *c, int status, const char *code, const char *hdr,
    const char *val, const char *msg)
{
	reply_error_v(c, status, code, hdr, val, msg);
}

void
vpd_reply_reqerr(vpd_ctx *c, const vpd_reqerr *re)
{
	reply_error_v(c, re->status, re->code, NULL, NULL, re->msg);
}

char *
vpd_body(vpd_ctx *c, size_t *len)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(c->req);
	size_t n = in != NULL ? evbuffer_get_length(in) : 0;
	char *p;

	*len = 0;
	if (n > VPD_BODY_MAX) {
		vpd_reply_error(c, 413, "body_too_large", "the request body is %zu bytes: at most %d "
		    "are accepted", n, VPD_BODY_MAX);
		return NULL;
	}
	if ((p = malloc(n + 1)) == NULL) {
		vpd_reply_error(c, 500, "internal", "out of memory reading the request");
		return NULL;
	}
	if (n > 0 && evbuffer_copyout(in, p, n) != (ev_ssize_t)n) {
		free(p);
		vpd_reply_error(c, 500, "internal", "cannot read the request body");
		return NULL;
	}
	p[n] = '\0';
	*len = n;
	return p;
}

/* ---- client certificates (auth by an admin certificate of the CA) ---- */

int
vpd_conn_cert_state(vpd_ctx *c, char *actor, size_t n, int set_state, const char *set_actor)
{
	conn *cn = conn_of_ssl(c->ssl);

	if (cn == NULL)
		return 0;
	if (set_state != 0) {
		cn->auth_state = set_state;
		snprintf(cn->cert_actor, sizeof(cn->cert_actor), "%s", set_actor ? set_actor : "");
	}
	if (cn->auth_state == 1)
		snprintf(actor, n, "%s", cn->cert_actor);
	return cn->auth_state;
}

int
vpd_conn_cert_verified(vpd_ctx *c)
{
	conn *cn = conn_of_ssl(c->ssl);

	return cn != NULL && !cn->cert_bad && SSL_get_verify_result(c->ssl) == X509_V_OK;
}

/* ---- deferred replies (issuance waits for the commit) ---- */

/* Sends a job's prepared reply on its request. */
static void
job_reply(vpd_worker *w, vpd_job *j)
{
	if (j->status == 0 || j->body == NULL)
		vpd_job_error(j, 500, "internal", "the server prepared no reply for this request");
	send_common(w, j->req, j->status, "application/json", j->body, j->body_len,
	    j->body_secret, NULL, NULL);
	if (j->body_secret)
		j->body = NULL;   /* the reply's buffer owns it and wipes it */
	j->req = NULL;
}

void
vpd_defer(vpd_ctx *c, vpd_job *job)
{
	job->w = c->w;
	job->req = c->req;
	c->req = NULL;
	if (job->run == NULL && !(job->status == 0 && job->is != NULL)) {
		/* Nothing left to do elsewhere: answer now. */
		job_reply(c->w, job);
		if (c->d->o.access_log)
			vpd_log("%s %s %d %.1fms %s", c->peer, c->path, job->status,
			    (double)(vpd_now_us() - c->t_start_us) / 1000.0, c->actor);
		vpd_job_free(job);
		return;
	}
	c->w->pending++;
	if (job->run != NULL)
		vpd_pool_submit(c->d->pool, job);
	else
		vpd_committer_submit(c->d->committer, job);
}

void
vpd_worker_jobs_done(vpd_worker *w, vpd_job *head, vpd_job *tail)
{
	int wake;

	tail->next = NULL;
	pthread_mutex_lock(&w->mu);
	wake = w->done_head == NULL;   /* else the loop has been woken and not yet run done_cb */
	if (w->done_tail != NULL)
		w->done_tail->next = head;
	else
		w->done_head = head;
	w->done_tail = tail;
	pthread_mutex_unlock(&w->mu);
	if (wake)
		event_active(w->done_ev, EV_READ, 1);
}

void
vpd_worker_job_done(vpd_worker *w, vpd_job *job)
{
	vpd_worker_jobs_done(w, job, job);
}

static void
done_cb(evutil_socket_t fd, short what, void *arg)
{
	vpd_worker *w = arg;
	vpd_job *j, *next;

	(void)fd;
	(void)what;
	pthread_mutex_lock(&w->mu);
	j = w->done_head;
	w->done_head = w->done_tail = NULL;
	pthread_mutex_unlock(&w->mu);
	for (; j != NULL; j = next) {
		int issued = j->status == 0 && j->is != NULL && j->rc == VP_OK;

		next = j->next;
		if (j->status == 0 && j->is != NULL) {
			if (j->rc == VP_OK) {
				j->status = 201;
			} else {
				vpd_log("could not record a %s certificate for %s: %s", j->profile,
				    j->actor, j->err.msg);
				vpd_job_error(j, 500, "store_failed", "the certificate could not be "
				    "recorded, so it was not issued: %s", j->err.msg);
			}
		}
		job_reply(w, j);
		if (issued) {
			vpd_metrics_issued(&w->d->metrics, j->profile,
			    (double)(vpd_now_us() - j->t_start_us) / 1e6);
			vpd_log("issued %s certificate serial %s to %s", j->profile, j->is->rec.serial,
			    j->actor);
		}
		if (w->d->o.access_log)
			vpd_log("%s (deferred) %d %.1fms %s", j->peer, j->status,
			    (double)(vpd_now_us() - j->t_start_us) / 1000.0, j->actor);
		w->pending--;
		vpd_job_free(j);
	}
}

/* ---- requests ---- */

/* evhttp is about to close the connection (after "Connection: close", a timeout, the peer
 * leaving, or the drain at exit): end TLS properly with close_notify first, so that a client
 * can tell the end of the response from a cut connection. */
static void
close_cb(struct evhttp_connection *evcon, void *arg)
{
	struct bufferevent *bev = evhttp_connection_get_bufferevent(evcon);
	SSL *ssl = bev != NULL ? bufferevent_openssl_get_ssl(bev) : NULL;

	(void)arg;
	if (ssl != NULL && SSL_is_init_finished(ssl) &&
	    !(SSL_get_shutdown(ssl) & SSL_SENT_SHUTDOWN)) {
		SSL_shutdown(ssl);
		ERR_clear_error();
	}
}

static void
request_cb(struct evhttp_request *req, void *arg)
{
	vpd_worker *w = arg;
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	vpd_ctx c;
	conn *cn;
	char *addr = NULL;
	ev_uint16_t port = 0;

	memset(&c, 0, sizeof(c));
	c.d = w->d;
	c.w = w;
	c.store = w->store;
	c.req = req;
	c.t_start_us = vpd_now_us();
	c.method = (int)evhttp_request_get_command(req);
	if (evcon != NULL) {
		struct bufferevent *bev = evhttp_connection_get_bufferevent(evcon);

		c.ssl = bev != NULL ? bufferevent_openssl_get_ssl(bev) : NULL;
		evhttp_connection_get_peer(evcon, &addr, &port);
	}
	snprintf(c.peer, sizeof(c.peer), "%s", addr != NULL ? addr : "?");
	if ((cn = conn_of_ssl(c.ssl)) != NULL) {
		/* The request is whole: the clock for the next one starts with its first byte. */
		cn->mark = bytes_read(cn);
		cn->busy_since_ms = 0;
		if (!cn->closecb_set && evcon != NULL) {
			evhttp_connection_set_closecb(evcon, close_cb, NULL);
			cn->closecb_set = 1;
		}
	}
	c.path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;
	c.query = uri != NULL ? evhttp_uri_get_query(uri) : NULL;
	if (c.path == NULL || c.path[0] == '\0')
		c.path = "/";
	vpd_api_dispatch(&c);
	if (c.req != NULL) {   /* a handler forgot to answer: a bug */
		vpd_log("no reply for %s %.200s: answering 500", method_name(c.method), c.path);
		vpd_reply_error(&c, 500, "internal", "the server did not answer this request");
	}
}

/* ---- shutdown ---- */

static int
conn_busy(conn *c)
{
	if (c->mark != UINT64_MAX && bytes_read(c) > c->mark)
		return 1;
	return evbuffer_get_length(bufferevent_get_output(c->bev)) > 0;
}

static void
drain_cb(evutil_socket_t fd, short what, void *arg)
{
	vpd_worker *w = arg;
	int busy = 0;

	(void)fd;
	(void)what;
	for (conn *c = w->conns; c != NULL && !busy; c = c->next)
		busy = conn_busy(c);
	/* Replies waiting for a commit are always waited for: their certificate is being
	 * recorded and the client must hear about it. */
	if (w->pending > 0 || (busy && now_ms() < w->drain_deadline_ms))
		return;
	event_del(w->drain_ev);
	event_del(w->tick_ev);
	evhttp_free(w->http);
	w->http = NULL;
	event_base_loopexit(w->base, NULL);
}

static void
stop_cb(evutil_socket_t fd, short what, void *arg)
{
	vpd_worker *w = arg;
	struct timeval tv = { 0, DRAIN_TICK_MS * 1000 };

	(void)fd;
	(void)what;
	if (w->draining)
		return;
	w->draining = 1;
	for (size_t i = 0; i < w->nbound; i++)
		evhttp_del_accept_socket(w->http, w->bound[i]);
	w->nbound = 0;
	w->drain_deadline_ms = now_ms() + VPD_DRAIN_TIMEOUT * 1000;
	event_add(w->drain_ev, &tv);
	drain_cb(-1, 0, w);
}

/* ---- life cycle ---- */

/* An epoll loop that hands its changes to the kernel once per turn: evhttp switches a
 * connection between reading and writing for every request, and without the change list each
 * switch is an epoll_ctl(2) of its own. (Its caveat, file descriptors shared through dup(2),
 * does not arise: every socket here is evhttp's alone.) */
static struct event_base *
new_base(void)
{
	struct event_config *cfg = event_config_new();
	struct event_base *b;

	if (cfg == NULL)
		return NULL;
	event_config_set_flag(cfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
	b = event_base_new_with_config(cfg);
	event_config_free(cfg);
	return b;
}

vpd_worker *
vpd_worker_new(vpd *d, int idx, vp_error *e)
{
	vpd_worker *w = calloc(1, sizeof(*w));
	struct timeval tick = { TICK_MS / 1000, (TICK_MS % 1000) * 1000 };

	if (w == NULL) {
		vp_error_set(e, VP_ERR_NOMEM, "out of memory");
		return NULL;
	}
	w->d = d;
	w->idx = idx;
	pthread_mutex_init(&w->mu, NULL);
	if ((w->base = new_base()) == NULL || (w->http = evhttp_new(w->base)) == NULL) {
		vp_error_set(e, VP_ERR_NOMEM, "cannot make an event loop");
		goto fail;
	}
	if (vp_store_open(d->dbpath, &w->store, e) != VP_OK)
		goto fail;
	evhttp_set_bevcb(w->http, bevcb, w);
	evhttp_set_gencb(w->http, request_cb, w);
	evhttp_set_timeout(w->http, VPD_IDLE_TIMEOUT);
	evhttp_set_max_headers_size(w->http, VPD_HEADERS_MAX);
	evhttp_set_max_body_size(w->http, VPD_BODY_HARD_MAX);
	evhttp_set_flags(w->http, EVHTTP_SERVER_LINGERING_CLOSE);
	/* Every method reaches us, so that a wrong one gets a JSON 405 rather than evhttp's 501. */
	evhttp_set_allowed_methods(w->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
	    EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS | EVHTTP_REQ_PATCH);
	w->done_ev = event_new(w->base, -1, 0, done_cb, w);
	w->stop_ev = event_new(w->base, -1, 0, stop_cb, w);
	w->tick_ev = event_new(w->base, -1, EV_PERSIST, tick_cb, w);
	w->drain_ev = event_new(w->base, -1, EV_PERSIST, drain_cb, w);
	if (w->done_ev == NULL || w->stop_ev == NULL || w->tick_ev == NULL || w->drain_ev == NULL ||
	    event_add(w->tick_ev, &tick) != 0) {
		vp_error_set(e, VP_ERR_NOMEM, "cannot make the loop's events");
		goto fail;
	}
	return w;
fail:
	vpd_worker_free(w);
	return NULL;
}

int
vpd_worker_listen(vpd_worker *w, const char *const *addrs, size_t n, vp_error *e)
{
	for (size_t i = 0; i < n; i++) {
		struct evhttp_bound_socket *b;
		int fd = vpd_listen_socket(addrs[i], 1, 1, e);

		if (fd < 0)
			return -1;
		if ((b = evhttp_accept_socket_with_handle(w->http, fd)) == NULL) {
			close(fd);
			vp_error_set(e, VP_ERR_IO, "cannot listen on %s", addrs[i]);
			return -1;
		}
		w->bound[w->nbound++] = b;
	}
	return 0;
}

static void *
worker_main(void *arg)
{
	vpd_worker *w = arg;

	event_base_dispatch(w->base);
	return NULL;
}

int
vpd_worker_start(vpd_worker *w, vp_error *e)
{
	int rc = pthread_create(&w->th, NULL, worker_main, w);

	if (rc != 0)
		return vp_error_set(e, VP_ERR_IO, "cannot start a worker thread: %s", strerror(rc));
	w->started = 1;
	return VP_OK;
}

void
vpd_worker_stop(vpd_worker *w)
{
	if (w != NULL && w->started)
		event_active(w->stop_ev, EV_READ, 1);
}

void
vpd_worker_join(vpd_worker *w)
{
	if (w != NULL && w->started) {
		pthread_join(w->th, NULL);
		w->started = 0;
	}
}

void
vpd_worker_free(vpd_worker *w)
{
	if (w == NULL)
		return;
	if (w->http != NULL)
		evhttp_free(w->http);
	if (w->done_ev != NULL)
		event_free(w->done_ev);
	if (w->stop_ev != NULL)
		event_free(w->stop_ev);
	if (w->tick_ev != NULL)
		event_free(w->tick_ev);
	if (w->drain_ev != NULL)
		event_free(w->drain_ev);
	if (w->base != NULL)
		event_base_free(w->base);
	vp_store_close(w->store);
	pthread_mutex_destroy(&w->mu);
	free(w);
}
