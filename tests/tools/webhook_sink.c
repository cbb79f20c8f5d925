/*
 * A webhook receiver for the integration tests (tests/it/alarms.sh), written with libevent's
 * evhttp (and OpenSSL for --tls-cert). It listens on 127.0.0.1 and takes POSTs:
 *
 *   vmspki-test-webhook-sink --out FILE [--port N] [--port-file F] [--requests FILE]
 *       [--hang N] [--fail N] [--fail-status CODE] [--tls-cert C.pem --tls-key K.pem]
 *
 *   --out FILE       each accepted POST body is appended to FILE as one line (newlines in
 *                    it become spaces); the body must be JSON sent as application/json
 *                    (else 415 or 400, and nothing is written).
 *   --port N         the port (default 0: any free one); --port-file F gets the port bound.
 *   --requests FILE  one line per request: "N METHOD PATH delivery=D event=E -> OUTCOME",
 *                    D and E from the X-Vmspki-Delivery and X-Vmspki-Event headers.
 *   --hang N         the first N POSTs get no answer at all (the connection stays open).
 *   --fail N         the N POSTs after those get --fail-status (default 500).
 *   --tls-cert/--tls-key  serve HTTPS with this certificate and key (PEM).
 *
 * Accepted POSTs get 204. It runs until killed. Exit status 1 on bad usage or a failure to
 * start (said on stderr).
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#define BODY_MAX (1024 * 1024)

static FILE *out, *reqlog;
static long nreq, hang, fail, fail_status = 500;

static void
usage(void)
{
	fprintf(stderr, "usage: vmspki-test-webhook-sink --out FILE [--port N] [--port-file F] "
	    "[--requests FILE]\n           [--hang N] [--fail N] [--fail-status CODE] "
	    "[--tls-cert C.pem --tls-key K.pem]\n");
	exit(1);
}

static long
number(const char *opt, const char *s, long min, long max)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (s[0] == '\0' || *end != '\0' || errno != 0 || v < min || v > max) {
		fprintf(stderr, "webhook-sink: %s is a number from %ld to %ld\n", opt, min, max);
		exit(1);
	}
	return v;
}

static void
log_request(struct evhttp_request *req, long n, const char *outcome)
{
	struct evkeyvalq *h = evhttp_request_get_input_headers(req);
	const char *d = evhttp_find_header(h, "X-Vmspki-Delivery");
	const char *ev = evhttp_find_header(h, "X-Vmspki-Event");
	int m = evhttp_request_get_command(req);

	if (reqlog == NULL)
		return;
	fprintf(reqlog, "%ld %s %s delivery=%s event=%s -> %s\n", n, m == EVHTTP_REQ_POST ?
	    "POST" : m == EVHTTP_REQ_GET ? "GET" : "OTHER", evhttp_request_get_uri(req),
	    d != NULL ? d : "-", ev != NULL ? ev : "-", outcome);
	fflush(reqlog);
}

static void
on_request(struct evhttp_request *req, void *arg)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	const char *ct = evhttp_find_header(evhttp_request_get_input_headers(req),
	    "Content-Type");
	size_t len = evbuffer_get_length(in);
	json_t *doc = NULL;
	char *body = NULL;
	long n;

	(void)arg;
	if (evhttp_request_get_command(req) != EVHTTP_REQ_POST) {
		log_request(req, 0, "405");
		evhttp_send_reply(req, 405, "Method Not Allowed", NULL);
		return;
	}
	n = ++nreq;
	if (n <= hang) {
		log_request(req, n, "no answer");
		return;                /* never answered: the client gives up */
	}
	if (n <= hang + fail) {
		char st[16];

		snprintf(st, sizeof(st), "%ld", fail_status);
		log_request(req, n, st);
		evhttp_send_reply(req, (int)fail_status, "Failing On Purpose", NULL);
		return;
	}
	if (ct == NULL || strncmp(ct, "application/json", 16) != 0) {
		log_request(req, n, "415");
		evhttp_send_reply(req, 415, "Unsupported Media Type", NULL);
		return;
	}
	if (len > BODY_MAX || (body = malloc(len + 1)) == NULL ||
	    evbuffer_remove(in, body, len) != (int)len) {
		free(body);
		log_request(req, n, "500");
		evhttp_send_reply(req, 500, "Internal Server Error", NULL);
		return;
	}
	body[len] = '\0';
	if ((doc = json_loadb(body, len, 0, NULL)) == NULL) {
		free(body);
		log_request(req, n, "400");
		evhttp_send_reply(req, 400, "Bad Request", NULL);
		return;
	}
	json_decref(doc);
	for (size_t i = 0; i < len; i++)
		if (body[i] == '\n' || body[i] == '\r')
			body[i] = ' ';
	fprintf(out, "%s\n", body);
	fflush(out);
	free(body);
	log_request(req, n, "204");
	evhttp_send_reply(req, 204, "No Content", NULL);
}

static struct bufferevent *
tls_bev(struct event_base *base, void *arg)
{
	SSL *ssl = SSL_new((SSL_CTX *)arg);

	if (ssl == NULL)
		return NULL;
	return bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING,
	    BEV_OPT_CLOSE_ON_FREE);
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "out", required_argument, NULL, 'o' },
		{ "port", required_argument, NULL, 'p' },
		{ "port-file", required_argument, NULL, 'P' },
		{ "requests", required_argument, NULL, 'r' },
		{ "hang", required_argument, NULL, 'H' },
		{ "fail", required_argument, NULL, 'f' },
		{ "fail-status", required_argument, NULL, 's' },
		{ "tls-cert", required_argument, NULL, 'c' },
		{ "tls-key", required_argument, NULL, 'k' },
		{ NULL, 0, NULL, 0 }
	};
	const char *outp = NULL, *portfile = NULL, *reqp = NULL, *cert = NULL, *key = NULL;
	struct evhttp_bound_socket *bound;
	struct sockaddr_in sin;
	socklen_t slen = sizeof(sin);
	struct event_base *base;
	struct evhttp *http;
	SSL_CTX *ctx = NULL;
	long port = 0;
	int ch;

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'o': outp = optarg; break;
		case 'p': port = number("--port", optarg, 0, 65535); break;
		case 'P': portfile = optarg; break;
		case 'r': reqp = optarg; break;
		case 'H': hang = number("--hang", optarg, 0, 1000000); break;
		case 'f': fail = number("--fail", optarg, 0, 1000000); break;
		case 's': fail_status = number("--fail-status", optarg, 100, 599); break;
		case 'c': cert = optarg; break;
		case 'k': key = optarg; break;
		default: usage();
		}
	}
	if (optind != argc || outp == NULL || (cert == NULL) != (key == NULL))
		usage();
	signal(SIGPIPE, SIG_IGN);
	if ((out = fopen(outp, "a")) == NULL || (reqp != NULL && (reqlog = fopen(reqp, "a")) ==
	    NULL)) {
		fprintf(stderr, "webhook-sink: cannot open %s: %s\n", out == NULL ? outp : reqp,
		    strerror(errno));
		return 1;
	}
	if (cert != NULL) {
		if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL ||
		    SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 ||
		    SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
		    SSL_CTX_check_private_key(ctx) != 1) {
			fprintf(stderr, "webhook-sink: cannot use %s and %s: %s\n", cert, key,
			    ERR_reason_error_string(ERR_get_error()));
			return 1;
		}
	}
	if ((base = event_base_new()) == NULL || (http = evhttp_new(base)) == NULL) {
		fprintf(stderr, "webhook-sink: cannot set up libevent\n");
		return 1;
	}
	evhttp_set_allowed_methods(http, EVHTTP_REQ_GET | EVHTTP_REQ_POST);
	evhttp_set_max_body_size(http, BODY_MAX);
	evhttp_set_gencb(http, on_request, NULL);
	if (ctx != NULL)
		evhttp_set_bevcb(http, tls_bev, ctx);
	if ((bound = evhttp_bind_socket_with_handle(http, "127.0.0.1", (unsigned short)port)) ==
	    NULL || getsockname(evhttp_bound_socket_get_fd(bound), (struct sockaddr *)&sin,
	    &slen) != 0) {
		fprintf(stderr, "webhook-sink: cannot listen on 127.0.0.1:%ld: %s\n", port,
		    strerror(errno));
		return 1;
	}
	if (portfile != NULL) {
		char tmp[4096];
		FILE *f;

		snprintf(tmp, sizeof(tmp), "%s.tmp", portfile);
		if ((f = fopen(tmp, "w")) == NULL || fprintf(f, "%u\n",
		    (unsigned)ntohs(sin.sin_port)) < 0 || fclose(f) != 0 || rename(tmp, portfile)
		    != 0) {
			fprintf(stderr, "webhook-sink: cannot write %s: %s\n", portfile,
			    strerror(errno));
			return 1;
		}
	}
	event_base_dispatch(base);
	return 0;
}
