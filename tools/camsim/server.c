/* The devices' web servers: per device an HTTP and an HTTPS listener (evhttp) on its own
 * loopback address, opened and closed as its connection policy and certificate allow; every
 * request authenticated, classified into an operation, counted, given the fault it is due,
 * and answered (now, or later for key generation, delays and held "timeouts"). The TLS
 * certificate is chosen per connection, so a new binding serves on the next handshake. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <openssl/err.h>
#include <openssl/rand.h>

#include "camsim.h"

#define TLS12_CIPHERS \
	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:" \
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:" \
	"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"
#define OVERSIZE_DEFAULT (4u * 1024 * 1024)

/* ------------------------------------------------------------------ names */

static const struct opdef {
	const char *name;
	const char *cls[2];
} ops[CS_OP_COUNT] = {
	[CS_OP_UNKNOWN] = { "unknown", { NULL, NULL } },
	[CS_OP_INDEX] = { "index", { NULL, NULL } },
	[CS_OP_BDI] = { "basicdeviceinfo", { "probe", NULL } },
	[CS_OP_PARAM] = { "param", { "probe", NULL } },
	[CS_OP_REST_API] = { "rest_api", { "probe", NULL } },
	[CS_OP_REST_LIST_CERTS] = { "list_certificates", { "cert_list", NULL } },
	[CS_OP_REST_GET_CERT] = { "get_certificate", { "cert_list", NULL } },
	[CS_OP_REST_CREATE] = { "create_certificate", { "key_create", NULL } },
	[CS_OP_REST_CSR] = { "get_csr", { "csr_get", NULL } },
	[CS_OP_REST_REPLACE] = { "replace_certificate", { "cert_install", NULL } },
	[CS_OP_REST_DELETE_CERT] = { "delete_certificate", { "cert_delete", NULL } },
	[CS_OP_REST_LIST_CA] = { "list_ca_certificates", { "ca_list", NULL } },
	[CS_OP_REST_GET_CA] = { "get_ca_certificate", { "ca_list", NULL } },
	[CS_OP_REST_ADD_CA] = { "add_ca_certificate", { "ca_add", NULL } },
	[CS_OP_REST_DELETE_CA] = { "delete_ca_certificate", { "ca_delete", NULL } },
	[CS_OP_REST_SETTINGS] = { "settings", { NULL, NULL } },
	[CS_OP_SOAP_GET_CERTS] = { "GetCertificates", { "cert_list", NULL } },
	[CS_OP_SOAP_GET_CA] = { "GetCACertificates", { "ca_list", NULL } },
	[CS_OP_SOAP_LOAD_CA] = { "LoadCACertificates", { "ca_add", NULL } },
	[CS_OP_SOAP_DELETE] = { "DeleteCertificates", { "cert_delete", "ca_delete" } },
	[CS_OP_SOAP_CREATE] = { "CreateCertificate2", { "key_create", NULL } },
	[CS_OP_SOAP_CSR] = { "GetPkcs10Request2", { "csr_get", NULL } },
	[CS_OP_SOAP_LOAD_CERTS] = { "LoadCertificates", { "cert_install", NULL } },
	[CS_OP_SOAP_TLS_GET] = { "GetWebServerTlsConfiguration", { "tls_get", NULL } },
	[CS_OP_SOAP_TLS_SET] = { "SetWebServerTlsConfiguration", { "tls_set", NULL } },
	[CS_OP_SOAP_OTHER] = { "soap_other", { NULL, NULL } },
	[CS_OP_SOAP_DOT1X_GET] = { "GetDot1XConfigurations", { "dot1x_get", NULL } },
	[CS_OP_SOAP_DOT1X_CREATE] = { "CreateDot1XConfiguration", { "dot1x_set", NULL } },
	[CS_OP_SOAP_DOT1X_SET] = { "SetDot1XConfiguration", { "dot1x_set", NULL } },
	[CS_OP_SOAP_DOT1X_DELETE] = { "DeleteDot1XConfiguration", { "dot1x_set", NULL } },
	[CS_OP_SOAP_NETIF_GET] = { "GetNetworkInterfaces", { "dot1x_get", NULL } },
	[CS_OP_SOAP_NETIF_SET] = { "SetNetworkInterfaces", { "dot1x_set", NULL } },
};

const char *
cs_op_name(cs_op op)
{
	return op < CS_OP_COUNT && ops[op].name != NULL ? ops[op].name : "unknown";
}

int
cs_op_matches(cs_op op, const char *t)
{
	if (t[0] == '\0' || strcmp(t, "*") == 0 || strcmp(t, "any") == 0)
		return 1;
	if (op >= CS_OP_COUNT)
		return 0;
	if (strcasecmp(ops[op].name, t) == 0)
		return 1;
	for (int i = 0; i < 2; i++)
		if (ops[op].cls[i] != NULL && strcasecmp(ops[op].cls[i], t) == 0)
			return 1;
	return 0;
}

int
cs_op_known_target(const char *t)
{
	for (int op = 0; op < CS_OP_COUNT; op++)
		if (cs_op_matches((cs_op)op, t))
			return 1;
	return 0;
}

static const char *const fault_names[CS_F_COUNT] = {
	[CS_F_NONE] = "none", [CS_F_TIMEOUT] = "timeout", [CS_F_RESET] = "reset",
	[CS_F_401] = "401", [CS_F_500] = "500", [CS_F_SOAP_FAULT] = "soap_fault",
	[CS_F_WRONG_CSR] = "wrong_csr", [CS_F_REBOOT] = "reboot",
	[CS_F_LOST_ANSWER] = "lost_answer", [CS_F_GARBAGE] = "garbage",
	[CS_F_OVERSIZE] = "oversize", [CS_F_DELAY] = "delay",
};

const char *
cs_fault_kind_name(cs_fault_kind k)
{
	return k < CS_F_COUNT ? fault_names[k] : "?";
}

int
cs_fault_from_json(json_t *o, cs_fault *f, char *err, size_t errlen)
{
	const char *k, *key;
	json_t *v;

	memset(f, 0, sizeof(*f));
	f->count = -1;
	f->seconds = 5;
	f->size = OVERSIZE_DEFAULT;
	f->http_status = 500;
	f->code = 2;
	if (!json_is_object(o)) {
		snprintf(err, errlen, "a fault is a JSON object such as {\"kind\":\"reset\","
		    "\"op\":\"cert_install\",\"count\":1}");
		return -1;
	}
	if ((k = json_string_value(json_object_get(o, "kind"))) == NULL) {
		snprintf(err, errlen, "a fault needs \"kind\"");
		return -1;
	}
	if (strcmp(k, "unauthorized") == 0)
		k = "401";
	if (strcmp(k, "error") == 0)
		k = "soap_fault";
	for (int i = 1; i < CS_F_COUNT; i++)
		if (strcmp(fault_names[i], k) == 0)
			f->kind = (cs_fault_kind)i;
	if (f->kind == CS_F_NONE) {
		snprintf(err, errlen, "unknown fault kind '%.40s' (timeout, reset, 401, 500, "
		    "soap_fault, wrong_csr, reboot, lost_answer, garbage, oversize, delay)", k);
		return -1;
	}
	cs_strlcpy(f->reason, f->kind == CS_F_SOAP_FAULT ? "Internal error" : "", sizeof(f->reason));
	json_object_foreach(o, key, v) {
		if (strcmp(key, "kind") == 0)
			continue;
		if (strcmp(key, "op") == 0) {
			const char *s = json_string_value(v);

			if (s == NULL || strlen(s) >= sizeof(f->op) || !cs_op_known_target(s)) {
				snprintf(err, errlen, "\"op\" must name an operation (e.g. "
				    "create_certificate, CreateCertificate2) or a class (probe, ca_add, "
				    "key_create, csr_get, cert_install, tls_get, tls_set, ...)");
				return -1;
			}
			cs_strlcpy(f->op, s, sizeof(f->op));
		} else if (strcmp(key, "reason") == 0) {
			const char *s = json_string_value(v);

			if (s == NULL || s[0] == '\0' || strlen(s) >= sizeof(f->reason)) {
				snprintf(err, errlen, "\"reason\" must be a text of 1 to %zu bytes",
				    sizeof(f->reason) - 1);
				return -1;
			}
			cs_strlcpy(f->reason, s, sizeof(f->reason));
		} else if (json_is_integer(v)) {
			json_int_t n = json_integer_value(v);

			if (strcmp(key, "count") == 0 && n >= 1 && n <= 1000000)
				f->count = (int)n;
			else if (strcmp(key, "seconds") == 0 && n >= 1 && n <= 3600)
				f->seconds = (int)n;
			else if (strcmp(key, "ms") == 0 && n >= 0 && n <= 600000)
				f->ms = (long)n;
			else if (strcmp(key, "size") == 0 && n >= 1 && n <= 256 * 1024 * 1024)
				f->size = (size_t)n;
			else if (strcmp(key, "http_status") == 0 && n >= 400 && n <= 599)
				f->http_status = (int)n;
			else if (strcmp(key, "code") == 0 && n >= 0 && n <= 100000)
				f->code = (int)n;
			else
				goto badkey;
		} else {
badkey:
			snprintf(err, errlen, "fault field \"%.32s\" is unknown or out of range (count "
			    ">= 1, seconds 1-3600, ms 0-600000, size >= 1, http_status 400-599)", key);
			return -1;
		}
	}
	return 0;
}

json_t *
cs_fault_to_json(const cs_fault *f)
{
	json_t *o = json_pack("{s:s,s:s,s:I,s:I}", "kind", cs_fault_kind_name(f->kind), "op",
	    f->op[0] != '\0' ? f->op : "*", "count", (json_int_t)f->count, "hits",
	    (json_int_t)f->hits);

	if (o == NULL)
		return NULL;
	if (f->kind == CS_F_REBOOT)
		json_object_set_new(o, "seconds", json_integer(f->seconds));
	if (f->kind == CS_F_DELAY)
		json_object_set_new(o, "ms", json_integer(f->ms));
	if (f->kind == CS_F_OVERSIZE)
		json_object_set_new(o, "size", json_integer((json_int_t)f->size));
	if (f->kind == CS_F_SOAP_FAULT) {
		json_object_set_new(o, "reason", json_string(f->reason));
		json_object_set_new(o, "http_status", json_integer(f->http_status));
		json_object_set_new(o, "code", json_integer(f->code));
	}
	return o;
}

const char *
cs_policy_soap(cs_policy p)
{
	switch (p) {
	case CS_POLICY_HTTPS: return "Https";
	case CS_POLICY_BOTH: return "HttpAndHttps";
	case CS_POLICY_HTTP:
	default: return "Http";
	}
}

int
cs_policy_parse(const char *s, cs_policy *p)
{
	if (strcmp(s, "http") == 0 || strcmp(s, "Http") == 0)
		*p = CS_POLICY_HTTP;
	else if (strcmp(s, "https") == 0 || strcmp(s, "Https") == 0)
		*p = CS_POLICY_HTTPS;
	else if (strcmp(s, "both") == 0 || strcmp(s, "HttpAndHttps") == 0)
		*p = CS_POLICY_BOTH;
	else
		return -1;
	return 0;
}

/* ------------------------------------------------------------------ requests */

static const char *
method_name(enum evhttp_cmd_type m)
{
	switch (m) {
	case EVHTTP_REQ_GET: return "GET";
	case EVHTTP_REQ_POST: return "POST";
	case EVHTTP_REQ_PUT: return "PUT";
	case EVHTTP_REQ_PATCH: return "PATCH";
	case EVHTTP_REQ_DELETE: return "DELETE";
	case EVHTTP_REQ_HEAD: return "HEAD";
	default: return "OTHER";
	}
}

void
cs_log_req(const cs_req *r, int status, const char *note)
{
	if (cs_quiet)
		return;
	cs_logf("camsim: %s %s %s %s %s %d%s%s", r->dev->address, r->tls ? "https" : "http",
	    method_name(r->method), r->path, cs_op_name(r->op), status, note ? " " : "",
	    note ? note : "");
}

static void
pending_unlink(cs_req *r)
{
	if (!r->pending)
		return;
	if (r->prev != NULL)
		r->prev->next = r->next;
	else
		r->dev->pending = r->next;
	if (r->next != NULL)
		r->next->prev = r->prev;
	r->next = r->prev = NULL;
	r->pending = 0;
}

void
cs_req_free(cs_req *r)
{
	if (r == NULL)
		return;
	if (r->in_keygen) {
		/* A worker thread still writes into r: keygen's done callback frees it later
		 * (this only happens at shutdown, after the workers were joined). */
		return;
	}
	pending_unlink(r);
	if (r->timer != NULL)
		event_free(r->timer);
	if (r->creating)
		r->dev->reserved_slots--;
	free(r->body);
	free(r->query);
	X509_NAME_free(r->subject);
	for (size_t i = 0; i < r->nsans; i++)
		free(r->sans[i]);
	free(r->sans);
	EVP_PKEY_free(r->new_key);
	free(r);
}

static void
conn_closed(struct evhttp_connection *conn, void *arg)
{
	cs_device *d = arg;

	for (cs_req *r = d->pending; r != NULL; r = r->next)
		if (r->req != NULL && evhttp_request_get_connection(r->req) == conn)
			r->req = NULL;
}

void
cs_req_hold(cs_req *r)
{
	struct evhttp_connection *conn;

	if (r->pending)
		return;
	r->pending = 1;
	r->prev = NULL;
	r->next = r->dev->pending;
	if (r->next != NULL)
		r->next->prev = r;
	r->dev->pending = r;
	if (r->req != NULL && (conn = evhttp_request_get_connection(r->req)) != NULL)
		evhttp_connection_set_closecb(conn, conn_closed, r->dev);
}

/* Connection faults happen on the next turn of the loop, never inside libevent's own
 * callback for the request. rst: a TCP reset; else a plain close. */
static void
drop_cb(evutil_socket_t fd0, short what, void *arg)
{
	cs_req *r = arg;
	struct evhttp_connection *conn;

	(void)fd0;
	(void)what;
	if (r->req != NULL) {
		if ((conn = evhttp_request_get_connection(r->req)) == NULL) {
			evhttp_send_reply(r->req, 500, NULL, NULL);   /* frees an orphan request */
		} else {
			if (r->fault == CS_F_RESET) {
				struct bufferevent *bev = evhttp_connection_get_bufferevent(conn);
				evutil_socket_t fd = bev != NULL ? bufferevent_getfd(bev) : -1;
				struct linger lg = { 1, 0 };
				int ph;

				/* Linger 0 and close: the kernel sends RST. libevent keeps its
				 * descriptor number, now a fresh unconnected socket it closes. */
				if (fd >= 0 && setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg,
				    sizeof(lg)) == 0 && (ph = socket(AF_INET, SOCK_STREAM, 0)) >= 0) {
					dup2(ph, fd);
					close(ph);
				}
			}
			r->req = NULL;
			evhttp_connection_free(conn);
		}
	}
	cs_req_free(r);
}

static void
drop_later(cs_req *r)
{
	struct timeval zero = { 0, 0 };

	cs_req_hold(r);
	if (r->timer != NULL) {
		event_free(r->timer);
		r->timer = NULL;
	}
	if ((r->timer = evtimer_new(r->dev->cs->base, drop_cb, r)) == NULL ||
	    evtimer_add(r->timer, &zero) != 0)
		cs_logf("camsim: %s: cannot schedule a connection fault", r->dev->address);
}

static const char *
content_type(cs_style s)
{
	switch (s) {
	case CS_STYLE_JSON: return "application/json";
	case CS_STYLE_SOAP: return "application/soap+xml; charset=utf-8";
	case CS_STYLE_TEXT: return "text/plain";
	case CS_STYLE_HTML:
	default: return "text/html";
	}
}

static void
apply_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	cs_dev_open(arg);
}

void
cs_dev_apply_later(cs_device *d)
{
	struct timeval zero = { 0, 0 };

	if (d->apply_ev == NULL)
		d->apply_ev = evtimer_new(d->cs->base, apply_cb, d);
	if (d->apply_ev != NULL)
		evtimer_add(d->apply_ev, &zero);
}

/* After the answer that changed the policy or binding went out: the listeners follow. */
static void
sent_cb(struct evhttp_request *req, void *arg)
{
	(void)req;
	cs_dev_apply_later(arg);
}

void
cs_reply(cs_req *r, int status, const char *reason, struct evbuffer *body)
{
	cs_device *d = r->dev;
	int apply = d->apply_wanted;

	d->apply_wanted = 0;
	if (r->fault == CS_F_LOST_ANSWER) {
		/* The change is made; the answer never leaves. */
		cs_log_req(r, 0, "(lost_answer fault: closed without answering)");
		if (body != NULL)
			evbuffer_free(body);
		if (apply)
			cs_dev_apply_later(d);
		drop_later(r);
		return;
	}
	if (r->req != NULL) {
		struct evkeyvalq *h = evhttp_request_get_output_headers(r->req);

		evhttp_add_header(h, "Content-Type", content_type(r->style));
		if (apply)
			evhttp_request_set_on_complete_cb(r->req, sent_cb, d);
		evhttp_send_reply(r->req, status, reason, body);
		r->req = NULL;
		cs_log_req(r, status, r->fault != CS_F_NONE ? cs_fault_kind_name(r->fault) : NULL);
	} else {
		cs_log_req(r, status, "(client gone)");
		if (apply)
			cs_dev_apply_later(d);
	}
	if (body != NULL)
		evbuffer_free(body);
	cs_req_free(r);
}

void
cs_reply_str(cs_req *r, int status, const char *text)
{
	struct evbuffer *b = evbuffer_new();

	if (b != NULL && text != NULL)
		evbuffer_add(b, text, strlen(text));
	cs_reply(r, status, NULL, b);
}

void
cs_reply_json(cs_req *r, int status, json_t *o)
{
	char *s = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;

	json_decref(o);
	if (s == NULL) {
		r->style = CS_STYLE_HTML;
		cs_reply_str(r, 500, "<html><body><h1>500 Internal Server Error</h1></body></html>\n");
		return;
	}
	r->style = CS_STYLE_JSON;
	cs_reply_str(r, status, s);
	free(s);
}

void
cs_reply_rest_error(cs_req *r, int status, int code, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	cs_reply_json(r, status, json_pack("{s:s,s:{s:i,s:s}}", "status", "error", "error", "code",
	    code, "message", msg));
}

static void
reply_html(cs_req *r, int status, const char *title)
{
	char page[256];

	r->style = CS_STYLE_HTML;
	snprintf(page, sizeof(page), "<html><head><title>%d %s</title></head><body><h1>%s</h1>"
	    "</body></html>\n", status, title, title);
	cs_reply_str(r, status, page);
}

static void
reply_garbage(cs_req *r)
{
	static const char *const junk[] = {
		[CS_STYLE_HTML] = "<html><body>\x01\x02 garbage",
		[CS_STYLE_JSON] = "{\"status\":\"success\",\"data\":[{\"alias\":\"\x7f\x01 ]]}",
		[CS_STYLE_SOAP] = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<SOAP-ENV:Envelope "
		    "xmlns:SOAP-ENV=\"http://www.w3.org/2003/05/soap-envelope\"><SOAP-ENV:Body>"
		    "<tds:Broken><</SOAP-ENV:Envelope",
		[CS_STYLE_TEXT] = "root.Brand.Brand\x01\x02=\n\xff\xfe garbage",
	};

	cs_reply_str(r, 200, junk[r->style]);
}

static void
reply_oversize(cs_req *r, size_t size)
{
	struct evbuffer *b = evbuffer_new();
	char chunk[4096];
	const char *head = r->style == CS_STYLE_JSON ? "{\"status\":\"success\",\"data\":\"" :
	    r->style == CS_STYLE_SOAP ? "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	    "<SOAP-ENV:Envelope xmlns:SOAP-ENV=\"http://www.w3.org/2003/05/soap-envelope\">"
	    "<SOAP-ENV:Body><x>" : "";
	size_t left = size;

	if (b == NULL) {
		cs_reply(r, 500, NULL, NULL);
		return;
	}
	memset(chunk, 'A', sizeof(chunk));
	evbuffer_add(b, head, strlen(head));
	while (left > 0) {
		size_t n = left < sizeof(chunk) ? left : sizeof(chunk);

		if (evbuffer_add(b, chunk, n) != 0)
			break;
		left -= n;
	}
	cs_reply(r, 200, NULL, b);
}

/* The first fault of the device that covers op, consumed. */
static cs_fault_kind
fault_take(cs_device *d, cs_op op, cs_fault *out)
{
	for (size_t i = 0; i < d->nfaults; i++) {
		cs_fault *f = &d->faults[i];

		if (!cs_op_matches(op, f->op) || f->count == 0)
			continue;
		f->hits++;
		*out = *f;
		if (f->count > 0 && --f->count == 0) {
			memmove(&d->faults[i], &d->faults[i + 1], (d->nfaults - i - 1) * sizeof(*f));
			d->nfaults--;
		}
		return out->kind;
	}
	return CS_F_NONE;
}

static void
reboot_cb(evutil_socket_t fd, short what, void *arg)
{
	cs_req *r = arg;
	cs_device *d = r->dev;
	int secs = r->fault_copy.seconds;

	(void)fd;
	(void)what;
	cs_req_free(r);
	cs_dev_reboot(d, secs);
}

static void
dispatch(cs_req *r)
{
	if (r->style == CS_STYLE_SOAP || strcmp(r->path, "/vapix/services") == 0)
		cs_soap_handle(r);
	else
		cs_axis_handle(r);
}

static void
hang_cb(evutil_socket_t fd, short what, void *arg)
{
	cs_req *r = arg;

	(void)fd;
	(void)what;
	cs_log_req(r, 0, "(timeout fault: held request closed)");
	r->fault = CS_F_NONE;
	drop_later(r);
}

static void
delay_cb(evutil_socket_t fd, short what, void *arg)
{
	cs_req *r = arg;

	(void)fd;
	(void)what;
	event_free(r->timer);
	r->timer = NULL;
	dispatch(r);
}

/* A basicdeviceinfo getAllUnrestrictedProperties that this device answers without
 * credentials? */
static int
anonymous_bdi(const cs_device *d, const cs_req *r)
{
	json_t *in;
	const char *m;
	int yes;

	if (r->op != CS_OP_BDI || r->method != EVHTTP_REQ_POST || !d->bdi_anonymous)
		return 0;
	if ((in = json_loadb((const char *)r->body, r->body_len, 0, NULL)) == NULL)
		return 0;
	m = json_string_value(json_object_get(in, "method"));
	yes = m != NULL && strcmp(m, "getAllUnrestrictedProperties") == 0;
	json_decref(in);
	return yes;
}

static void
on_request(struct evhttp_request *req, cs_device *d, int tls)
{
	cs_req *r = calloc(1, sizeof(*r));
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;
	const char *q = uri != NULL ? evhttp_uri_get_query(uri) : NULL;
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	size_t blen = evbuffer_get_length(in);
	cs_auth auth;
	struct timeval tv;

	if (r == NULL) {
		evhttp_send_error(req, 500, NULL);
		return;
	}
	r->dev = d;
	r->req = req;
	r->tls = tls;
	r->method = evhttp_request_get_command(req);
	cs_strlcpy(r->path, path != NULL && path[0] != '\0' ? path : "/", sizeof(r->path));
	if (path != NULL && strlen(path) >= sizeof(r->path)) {
		reply_html(r, 414, "Request-URI Too Long");
		return;
	}
	if (q != NULL && (r->query = cs_strdup(q)) == NULL)
		goto nomem;
	if (blen > CS_BODY_MAX) {
		reply_html(r, 413, "Request Entity Too Large");
		return;
	}
	if ((r->body = malloc(blen + 1)) == NULL)
		goto nomem;
	evbuffer_copyout(in, r->body, blen);
	r->body[blen] = '\0';
	r->body_len = blen;

	/* The start page answers without credentials, as on a camera. */
	if ((strcmp(r->path, "/") == 0 || strcmp(r->path, "/index.html") == 0) &&
	    (r->method == EVHTTP_REQ_GET || r->method == EVHTTP_REQ_HEAD)) {
		r->op = CS_OP_INDEX;
		d->counters[CS_OP_INDEX]++;
		r->style = CS_STYLE_HTML;
		cs_reply_str(r, 200, "<html><head><title>AXIS</title></head><body>"
		    "<p>AXIS network camera</p></body></html>\n");
		return;
	}
	if (strcmp(r->path, "/vapix/services") == 0 && r->method == EVHTTP_REQ_POST &&
	    cs_dev_https_capable(d)) {
		r->style = CS_STYLE_SOAP;
		r->op = cs_soap_classify(d, r->body, r->body_len);
	} else {
		r->op = cs_axis_classify(d, r->method, r->path, &r->style);
	}

	/* The unrestricted identity answers anyone, unless the device was told otherwise
	 * (developer.axis.com/vapix/device-configuration/basic-device-info-api). */
	auth = anonymous_bdi(d, r) ? CS_AUTH_OK : cs_auth_check(d, req, tls);
	if (auth != CS_AUTH_OK) {
		d->unauthorized++;
		cs_auth_challenge(d, req, tls, auth == CS_AUTH_STALE);
		reply_html(r, 401, "401 Unauthorized");
		return;
	}
	d->counters[r->op]++;
	r->fault = fault_take(d, r->op, &r->fault_copy);
	switch (r->fault) {
	case CS_F_TIMEOUT:
		cs_log_req(r, 0, "(timeout fault: held, no answer)");
		cs_req_hold(r);
		tv.tv_sec = d->cs->hang_s;
		tv.tv_usec = 0;
		if ((r->timer = evtimer_new(d->cs->base, hang_cb, r)) != NULL)
			evtimer_add(r->timer, &tv);
		return;
	case CS_F_RESET:
		cs_log_req(r, 0, "(reset fault: connection reset)");
		drop_later(r);
		return;
	case CS_F_401:
		d->unauthorized++;
		cs_auth_challenge(d, req, tls, 0);
		reply_html(r, 401, "401 Unauthorized");
		return;
	case CS_F_500:
		reply_html(r, 500, "500 Internal Server Error");
		return;
	case CS_F_SOAP_FAULT:
		if (r->style == CS_STYLE_SOAP)
			cs_soap_fault(r, 500, "SOAP-ENV:Receiver", "ter:Action", NULL,
			    r->fault_copy.reason);
		else if (r->style == CS_STYLE_JSON)
			cs_reply_rest_error(r, r->fault_copy.http_status, r->fault_copy.code, "%s",
			    r->fault_copy.reason);
		else
			reply_html(r, r->fault_copy.http_status, r->fault_copy.reason);
		return;
	case CS_F_REBOOT:
		/* The device goes down with this request unanswered. */
		cs_log_req(r, 0, "(reboot fault)");
		cs_req_hold(r);
		tv.tv_sec = 0;
		tv.tv_usec = 0;
		if ((r->timer = evtimer_new(d->cs->base, reboot_cb, r)) != NULL)
			evtimer_add(r->timer, &tv);
		return;
	case CS_F_GARBAGE:
		reply_garbage(r);
		return;
	case CS_F_OVERSIZE:
		reply_oversize(r, r->fault_copy.size);
		return;
	case CS_F_DELAY:
		cs_req_hold(r);
		tv.tv_sec = r->fault_copy.ms / 1000;
		tv.tv_usec = (r->fault_copy.ms % 1000) * 1000;
		if ((r->timer = evtimer_new(d->cs->base, delay_cb, r)) == NULL ||
		    evtimer_add(r->timer, &tv) != 0)
			dispatch(r);
		return;
	default:
		break;
	}
	dispatch(r);
	return;
nomem:
	r->style = CS_STYLE_HTML;
	reply_html(r, 500, "500 Internal Server Error");
}

/* Answers go out at once, as a camera's web server (Apache, with TCP_NODELAY) sends them: an
 * answer of several TLS records would otherwise wait for the client's delayed ACK (~40 ms). */
static void
no_delay(struct evhttp_request *req)
{
	struct evhttp_connection *conn = evhttp_request_get_connection(req);
	struct bufferevent *bev = conn != NULL ? evhttp_connection_get_bufferevent(conn) : NULL;
	evutil_socket_t fd = bev != NULL ? bufferevent_getfd(bev) : -1;
	int one = 1;

	if (fd >= 0)
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

static void
on_http(struct evhttp_request *req, void *arg)
{
	no_delay(req);
	on_request(req, arg, 0);
}

static void
on_https(struct evhttp_request *req, void *arg)
{
	no_delay(req);
	on_request(req, arg, 1);
}

/* ------------------------------------------------------------------ listeners */

/* The certificate the web server presents, chosen at each new connection. */
static struct bufferevent *
tls_bev(struct event_base *base, void *arg)
{
	cs_device *d = arg;
	cs_cert *c = d->bound[0] != '\0' ? cs_dev_cert(d, d->bound) : NULL;
	SSL *ssl = SSL_new(d->cs->tls_ctx);
	STACK_OF(X509) *chain = NULL;

	if (ssl == NULL)
		return NULL;
	/* A camera below 6.10 speaks TLS 1.1 at most (ACS seed): what a TLS 1.2 client meets. */
	if (cs_dev_tls11_only(d) && (SSL_set_min_proto_version(ssl, TLS1_VERSION) != 1 ||
	    SSL_set_max_proto_version(ssl, TLS1_1_VERSION) != 1 ||
	    SSL_set_cipher_list(ssl, "ECDHE-RSA-AES128-SHA:ECDHE-ECDSA-AES128-SHA:AES128-SHA:"
	    "@SECLEVEL=0") != 1))
		ERR_clear_error();
	if (c != NULL && (chain = sk_X509_new_null()) != NULL) {
		for (int i = 0; c->chain != NULL && i < sk_X509_num(c->chain); i++)
			sk_X509_push(chain, sk_X509_value(c->chain, i));
		for (size_t i = 0; i < d->nbound_cas; i++) {
			cs_cacert *a = cs_dev_ca(d, d->bound_cas[i]);
			int dup = 0;

			for (int k = 0; a != NULL && k < sk_X509_num(chain); k++)
				dup |= X509_cmp(sk_X509_value(chain, k), a->cert) == 0;
			if (a != NULL && !dup && X509_cmp(a->cert, c->cert) != 0)
				sk_X509_push(chain, a->cert);
		}
		if (SSL_use_cert_and_key(ssl, c->cert, c->key, chain, 1) != 1)
			ERR_clear_error();
	}
	sk_X509_free(chain);        /* SSL_use_cert_and_key took its own references */
	return bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING,
	    BEV_OPT_CLOSE_ON_FREE);
}

static struct evhttp *
listener_open(cs_device *d, int tls)
{
	struct evhttp *h = evhttp_new(d->cs->base);
	int port = tls ? d->https_port : d->http_port;

	if (h == NULL)
		return NULL;
	evhttp_set_max_body_size(h, CS_BODY_MAX);
	evhttp_set_max_headers_size(h, 16384);
	evhttp_set_timeout(h, 60);
	evhttp_set_allowed_methods(h, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_PUT |
	    EVHTTP_REQ_PATCH | EVHTTP_REQ_DELETE | EVHTTP_REQ_HEAD);
	evhttp_set_default_content_type(h, "text/html");
	evhttp_set_gencb(h, tls ? on_https : on_http, d);
	if (tls)
		evhttp_set_bevcb(h, tls_bev, d);
	if (evhttp_bind_socket_with_handle(h, d->address, (ev_uint16_t)port) == NULL) {
		cs_logf("camsim: %s: cannot listen on %s port %d: %s", d->address, d->address, port,
		    strerror(errno));
		evhttp_free(h);
		return NULL;
	}
	return h;
}

/* Before an evhttp is freed: its connections go, and with them the requests we hold. */
static void
forget_requests(cs_device *d, int tls)
{
	for (cs_req *r = d->pending; r != NULL; r = r->next)
		if (r->req != NULL && r->tls == tls && evhttp_request_get_connection(r->req) != NULL)
			r->req = NULL;
}

void
cs_dev_close(cs_device *d, int http, int https)
{
	if (http && d->http != NULL) {
		forget_requests(d, 0);
		evhttp_free(d->http);
		d->http = NULL;
	}
	if (https && d->https != NULL) {
		forget_requests(d, 1);
		evhttp_free(d->https);
		d->https = NULL;
	}
}

int
cs_dev_open(cs_device *d)
{
	int want_http, want_https, rc = 0;

	if (d->down)
		return 0;
	want_http = d->policy != CS_POLICY_HTTPS;
	want_https = d->tls && d->bound[0] != '\0' && d->policy != CS_POLICY_HTTP &&
	    cs_dev_https_capable(d);
	cs_dev_close(d, !want_http, !want_https);
	if (want_http && d->http == NULL && (d->http = listener_open(d, 0)) == NULL)
		rc = -1;
	if (want_https && d->https == NULL && (d->https = listener_open(d, 1)) == NULL)
		rc = -1;
	return rc;
}

static void
reboot_done(evutil_socket_t fd, short what, void *arg)
{
	cs_device *d = arg;

	(void)fd;
	(void)what;
	d->down = 0;
	cs_logf("camsim: %s: up again after a reboot", d->address);
	cs_dev_open(d);
}

void
cs_dev_reboot(cs_device *d, int seconds)
{
	struct timeval tv = { seconds, 0 };

	cs_logf("camsim: %s: rebooting (ports down for %d s)", d->address, seconds);
	d->down = 1;
	d->boot_id++;
	cs_dev_close(d, 1, 1);
	/* Nonces do not survive a restart of the web server. */
	if (RAND_bytes(d->nonce_key, sizeof(d->nonce_key)) != 1)
		d->nonce_key[0] ^= 0x5a;
	cs_auth_expire_nonces(d);
	if (d->reboot_ev == NULL)
		d->reboot_ev = evtimer_new(d->cs->base, reboot_done, d);
	if (d->reboot_ev != NULL)
		evtimer_add(d->reboot_ev, &tv);
}

int
cs_server_init(camsim *cs)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

	if (ctx == NULL || !SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) ||
	    !SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) ||
	    !SSL_CTX_set_cipher_list(ctx, TLS12_CIPHERS)) {
		ERR_clear_error();
		SSL_CTX_free(ctx);
		cs_logf("camsim: cannot make the TLS context");
		return -1;
	}
	SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_RENEGOTIATION |
	    SSL_OP_NO_COMPRESSION);
	/* No session resumption: every connection shows the certificate bound now. */
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
	SSL_CTX_set_num_tickets(ctx, 0);
	cs->tls_ctx = ctx;
	for (size_t i = 0; i < cs->ndevs; i++)
		if (cs_dev_open(&cs->devs[i]) != 0)
			return -1;
	return 0;
}

void
cs_server_shutdown(camsim *cs)
{
	for (size_t i = 0; i < cs->ndevs; i++) {
		cs_device *d = &cs->devs[i];

		cs_dev_close(d, 1, 1);
		while (d->pending != NULL) {
			cs_req *r = d->pending;

			r->in_keygen = 0;       /* the workers are joined by now */
			if (r->req != NULL) {
				evhttp_send_reply(r->req, 500, NULL, NULL);  /* orphan: freed */
				r->req = NULL;
			}
			cs_req_free(r);
		}
		if (d->reboot_ev != NULL)
			event_free(d->reboot_ev);
		if (d->apply_ev != NULL)
			event_free(d->apply_ev);
	}
	SSL_CTX_free(cs->tls_ctx);
	cs->tls_ctx = NULL;
}
