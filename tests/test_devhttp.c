#define _GNU_SOURCE
/* Unit tests for the device transport (src/lib/devhttp.c) against a tiny server on 127.0.0.1
 * in a thread: Digest answered correctly and without the password in sight, timeouts, refused
 * and reset connections, answers over the size limit, TLS verified against a CA and a name
 * (and refused otherwise), the served certificate's fingerprint. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "testutil.h"
#include "vmspki/devhttp.h"
#include "vmspki/util.h"

enum mode { M_DIGEST, M_SILENT, M_BIG_CHUNKED, M_BIG_LENGTH, M_RESET, M_TLS };

typedef struct srv {
	int lfd, port;
	enum mode mode;
	pthread_t th;
	SSL_CTX *ctx;
	char first[8192];        /* the first request as received */
	char last[8192];         /* the last one */
	char auth[1024];         /* the Authorization header of the last request */
	int requests;
} srv;

static const char PASSWORD[] = "s3cret-Pa55";

/* ---- the server ---- */

static ssize_t
io_read(int fd, SSL *ssl, char *p, size_t n)
{
	return ssl != NULL ? SSL_read(ssl, p, (int)n) : recv(fd, p, n, 0);
}

static void
io_write(int fd, SSL *ssl, const char *p, size_t n)
{
	if (ssl != NULL)
		SSL_write(ssl, p, (int)n);
	else
		(void)send(fd, p, n, MSG_NOSIGNAL);
}

/* Reads one request (headers and Content-Length body) into buf; its length or -1. */
static ssize_t
read_request(int fd, SSL *ssl, char *buf, size_t cap)
{
	size_t len = 0, want = 0;
	char *end, *cl;
	ssize_t n;

	for (;;) {
		if (len + 1 >= cap)
			return -1;
		if ((n = io_read(fd, ssl, buf + len, cap - 1 - len)) <= 0)
			return -1;
		len += (size_t)n;
		buf[len] = '\0';
		if ((end = strstr(buf, "\r\n\r\n")) == NULL)
			continue;
		if (want == 0) {
			cl = strcasestr(buf, "\r\nContent-Length:");
			want = (size_t)(end + 4 - buf) + (cl != NULL && cl < end ? strtoul(cl + 17, NULL,
			    10) : 0);
		}
		if (len >= want)
			return (ssize_t)len;
	}
}

static void
header(const char *req, const char *name, char *dst, size_t n)
{
	const char *p = strcasestr(req, name), *e;

	dst[0] = '\0';
	if (p == NULL)
		return;
	p += strlen(name);
	while (*p == ' ')
		p++;
	if ((e = strstr(p, "\r\n")) == NULL)
		return;
	snprintf(dst, n, "%.*s", (int)(e - p), p);
}

static void
serve_one(srv *s, int fd)
{
	char req[8192], body[256];
	SSL *ssl = NULL;
	char *big;
	size_t i;

	if (s->mode == M_TLS) {
		ssl = SSL_new(s->ctx);
		SSL_set_fd(ssl, fd);
		if (SSL_accept(ssl) != 1)
			goto out;
	}
	if (read_request(fd, ssl, req, sizeof(req)) < 0)
		goto out;
	if (s->requests++ == 0)
		snprintf(s->first, sizeof(s->first), "%s", req);
	snprintf(s->last, sizeof(s->last), "%s", req);
	header(req, "\r\nAuthorization:", s->auth, sizeof(s->auth));
	switch (s->mode) {
	case M_DIGEST:
		if (s->auth[0] == '\0') {
			static const char chal[] = "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Digest "
			    "realm=\"AXIS_ACCC8E26DA33\", nonce=\"0a1b2c3d4e5f\", algorithm=MD5, "
			    "qop=\"auth\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
			io_write(fd, ssl, chal, strlen(chal));
		} else {
			static const char ok[] = "{\"status\":\"success\"}";
			snprintf(body, sizeof(body), "HTTP/1.1 200 OK\r\nContent-Type: application/json"
			    "\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n%s", strlen(ok), ok);
			io_write(fd, ssl, body, strlen(body));
		}
		break;
	case M_SILENT: {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		(void)poll(&p, 1, 10000);        /* until the client gives up */
		break;
	}
	case M_BIG_CHUNKED:
	case M_BIG_LENGTH:
		if (s->mode == M_BIG_LENGTH)
			snprintf(body, sizeof(body), "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
			    "Content-Length: 2000000\r\nConnection: close\r\n\r\n");
		else
			snprintf(body, sizeof(body), "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
			    "Connection: close\r\n\r\n");
		io_write(fd, ssl, body, strlen(body));
		big = malloc(65536);
		memset(big, 'x', 65536);
		for (i = 0; i < 32; i++)          /* 2 MiB, until the client stops reading */
			io_write(fd, ssl, big, 65536);
		free(big);
		break;
	case M_RESET:
		break;                             /* close without a word */
	case M_TLS: {
		static const char nf[] = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n"
		    "Connection: close\r\n\r\n";
		io_write(fd, ssl, nf, strlen(nf));
		break;
	}
	}
out:
	if (ssl != NULL) {
		SSL_shutdown(ssl);
		SSL_free(ssl);
	}
	close(fd);
}

static void *
srv_main(void *arg)
{
	srv *s = arg;
	struct pollfd p = { .fd = s->lfd, .events = POLLIN };
	int fd;

	/* serve connections until none comes for a while */
	while (poll(&p, 1, 3000) == 1) {
		if ((fd = accept(s->lfd, NULL, NULL)) < 0)
			break;
		serve_one(s, fd);
	}
	return NULL;
}

static int
listen_any(int *port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t al = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;

	assert_true(fd >= 0);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(fd, 8), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &al), 0);
	*port = ntohs(a.sin_port);
	return fd;
}

static srv *
srv_start(enum mode m, SSL_CTX *ctx)
{
	srv *s = calloc(1, sizeof(*s));

	s->mode = m;
	s->ctx = ctx;
	s->lfd = listen_any(&s->port);
	assert_int_equal(pthread_create(&s->th, NULL, srv_main, s), 0);
	return s;
}

static void
srv_stop(srv *s)
{
	shutdown(s->lfd, SHUT_RDWR);
	pthread_join(s->th, NULL);
	close(s->lfd);
}

/* ---- the client ---- */

static vp_dev_conn
conn_to(int port)
{
	vp_dev_conn c = { .address = "127.0.0.1", .http_port = port, .https_port = port,
	    .username = "root", .password = PASSWORD, .timeout_ms = 5000 };
	return c;
}

/* One transfer of req; fills resp (valid until *tp is freed). */
static void
run(const vp_dev_conn *c, const vp_http_req *req, vp_devhttp **tp, vp_http_resp *resp)
{
	vp_error e;

	assert_int_equal(vp_devhttp_new(c, req, tp, &e), VP_OK);
	vp_devhttp_finish(*tp, curl_easy_perform(vp_devhttp_easy(*tp)), resp);
}

static void
md5_hex(const char *s, char out[33])
{
	unsigned char md[16];
	unsigned int n = 0;

	assert_int_equal(EVP_Digest(s, strlen(s), md, &n, EVP_md5(), NULL), 1);
	vp_hex_encode(md, 16, out);
}

/* The value of name="..." or name=... in a Digest header. */
static void
param(const char *h, const char *name, char *dst, size_t n)
{
	char key[32];
	const char *p, *e;

	snprintf(key, sizeof(key), " %s=", name);
	if ((p = strstr(h, key)) == NULL) {
		snprintf(key, sizeof(key), ",%s=", name);
		assert_non_null(p = strstr(h, key));
	}
	p += strlen(key);
	if (*p == '"') {
		p++;
		e = strchr(p, '"');
	} else {
		e = p + strcspn(p, ",");
	}
	assert_non_null(e);
	snprintf(dst, n, "%.*s", (int)(e - p), p);
}

static void
digest_is_answered_without_showing_the_password(void **state)
{
	static const char body[] = "{\"data\":{\"alias\":\"x\"}}";
	srv *s = srv_start(M_DIGEST, NULL);
	vp_dev_conn c = conn_to(s->port);
	vp_http_req req = { .method = "PATCH", .content_type = "application/json",
	    .body = (char *)body, .body_len = sizeof(body) - 1 };
	char ha1[33], ha2[33], want[33], buf[512], nonce[64], nc[16], cnonce[64], resp_d[64],
	    uri[256], user[64];
	vp_http_resp resp;
	vp_devhttp *t;
	(void)state;

	vp_devhttp_pool_clear();      /* a handle kept from another test must not answer first */
	snprintf(req.path, sizeof(req.path), "/config/rest/cert/v1/certificates/My%%20Cert");
	run(&c, &req, &t, &resp);
	assert_int_equal(resp.transport, VP_TRANSPORT_OK);
	assert_int_equal(resp.status, 200);
	assert_string_equal(resp.content_type, "application/json");
	assert_int_equal(resp.len, strlen("{\"status\":\"success\"}"));
	assert_memory_equal(resp.body, "{\"status\":\"success\"}", resp.len);
	vp_devhttp_free(t);
	srv_stop(s);

	/* request line, content type, no Expect, and the body (curl holds it back while it
	 * learns the challenge, then sends it with the authenticated request) */
	assert_int_equal(s->requests, 2);
	assert_non_null(strstr(s->last, "PATCH /config/rest/cert/v1/certificates/My%20Cert "
	    "HTTP/1.1\r\n"));
	assert_non_null(strcasestr(s->last, "\r\nContent-Type: application/json\r\n"));
	assert_null(strcasestr(s->last, "\r\nExpect:"));
	assert_non_null(strstr(s->last, body));
	assert_null(strstr(s->last, PASSWORD));
	/* the Digest answer is right for this password, which appears nowhere */
	assert_int_equal(strncmp(s->auth, "Digest ", 7), 0);
	assert_null(strstr(s->auth, PASSWORD));
	assert_null(strstr(s->first, PASSWORD));
	param(s->auth, "username", user, sizeof(user));
	param(s->auth, "nonce", nonce, sizeof(nonce));
	param(s->auth, "nc", nc, sizeof(nc));
	param(s->auth, "cnonce", cnonce, sizeof(cnonce));
	param(s->auth, "response", resp_d, sizeof(resp_d));
	param(s->auth, "uri", uri, sizeof(uri));
	assert_string_equal(user, "root");
	assert_string_equal(nonce, "0a1b2c3d4e5f");
	snprintf(buf, sizeof(buf), "root:AXIS_ACCC8E26DA33:%s", PASSWORD);
	md5_hex(buf, ha1);
	snprintf(buf, sizeof(buf), "PATCH:%s", uri);
	md5_hex(buf, ha2);
	snprintf(buf, sizeof(buf), "%s:%s:%s:%s:auth:%s", ha1, nonce, nc, cnonce, ha2);
	md5_hex(buf, want);
	assert_string_equal(resp_d, want);
	free(s);
}

/* The Digest answer in s->auth is right for method and PASSWORD; its nc in nc_out. */
static void
check_digest(const srv *s, const char *method, char nc_out[16])
{
	char ha1[33], ha2[33], want[33], buf[512], nonce[64], cnonce[64], resp_d[64], uri[256];

	assert_int_equal(strncmp(s->auth, "Digest ", 7), 0);
	assert_null(strstr(s->auth, PASSWORD));
	param(s->auth, "nonce", nonce, sizeof(nonce));
	param(s->auth, "nc", nc_out, 16);
	param(s->auth, "cnonce", cnonce, sizeof(cnonce));
	param(s->auth, "response", resp_d, sizeof(resp_d));
	param(s->auth, "uri", uri, sizeof(uri));
	assert_string_equal(nonce, "0a1b2c3d4e5f");
	snprintf(buf, sizeof(buf), "root:AXIS_ACCC8E26DA33:%s", PASSWORD);
	md5_hex(buf, ha1);
	snprintf(buf, sizeof(buf), "%s:%s", method, uri);
	md5_hex(buf, ha2);
	snprintf(buf, sizeof(buf), "%s:%s:%s:%s:auth:%s", ha1, nonce, nc_out, cnonce, ha2);
	md5_hex(buf, want);
	assert_string_equal(resp_d, want);
}

static void
next_request_answers_the_challenge_at_once(void **state)
{
	static const char body[] = "{\"data\":{\"certificate\":\"x\"}}";
	srv *s = srv_start(M_DIGEST, NULL);
	vp_dev_conn c = conn_to(s->port), other;
	vp_http_req patch = { .method = "PATCH", .path = "/config/rest/cert/v1/certificates/a",
	    .content_type = "application/json", .body = (char *)body, .body_len = sizeof(body) - 1 };
	vp_http_req del = { .method = "DELETE", .path = "/config/rest/cert/v1/certificates/b" };
	vp_http_req get = { .method = "GET", .path = "/config/rest/cert/v1" };
	vp_http_resp resp;
	vp_devhttp *t;
	char nc[16];
	(void)state;

	vp_devhttp_pool_clear();
	/* first request: challenge, then the answer */
	run(&c, &patch, &t, &resp);
	assert_int_equal(resp.status, 200);
	vp_devhttp_free(t);
	assert_int_equal(s->requests, 2);
	check_digest(s, "PATCH", nc);
	assert_string_equal(nc, "00000001");

	/* the next one to the same device is answered at once, with the next nonce count; the
	 * kept handle forgot the last request's body and method */
	run(&c, &del, &t, &resp);
	assert_int_equal(resp.status, 200);
	vp_devhttp_free(t);
	assert_int_equal(s->requests, 3);
	assert_non_null(strstr(s->last, "DELETE /config/rest/cert/v1/certificates/b HTTP/1.1\r\n"));
	assert_null(strstr(s->last, body));
	assert_null(strcasestr(s->last, "\r\nContent-Type:"));
	check_digest(s, "DELETE", nc);
	assert_string_equal(nc, "00000002");
	run(&c, &get, &t, &resp);
	assert_int_equal(resp.status, 200);
	vp_devhttp_free(t);
	assert_int_equal(s->requests, 4);
	assert_non_null(strstr(s->last, "GET /config/rest/cert/v1 HTTP/1.1\r\n"));
	check_digest(s, "GET", nc);
	assert_string_equal(nc, "00000003");

	/* another password (or user, port, scheme, TLS setting) starts afresh: no answer is
	 * sent before the device's own challenge */
	other = c;
	other.password = "another-Pa55";
	run(&other, &get, &t, &resp);
	vp_devhttp_free(t);
	assert_int_equal(s->requests, 6);
	other = c;
	other.username = "operator";
	run(&other, &get, &t, &resp);
	vp_devhttp_free(t);
	assert_int_equal(s->requests, 8);

	/* a handle whose transfer did not end with an answer is not kept */
	assert_int_equal(vp_devhttp_new(&c, &get, &t, &(vp_error){ 0 }), VP_OK);
	vp_devhttp_free(t);
	run(&c, &get, &t, &resp);
	vp_devhttp_free(t);
	assert_int_equal(s->requests, 10);         /* challenged again */
	run(&c, &get, &t, &resp);
	vp_devhttp_free(t);
	assert_int_equal(s->requests, 11);         /* then answered at once */
	vp_devhttp_pool_clear();
	run(&c, &get, &t, &resp);
	vp_devhttp_free(t);
	assert_int_equal(s->requests, 13);         /* cleared: challenged again */
	vp_devhttp_pool_clear();
	srv_stop(s);
	free(s);
}

static void
transport_failures_are_told_apart(void **state)
{
	vp_http_req get = { .method = "GET", .path = "/axis-cgi/param.cgi" };
	vp_http_resp resp;
	vp_devhttp *t;
	vp_dev_conn c;
	srv *s;
	int fd, port;
	(void)state;

	/* no answer within the timeout */
	s = srv_start(M_SILENT, NULL);
	c = conn_to(s->port);
	c.timeout_ms = 300;
	run(&c, &get, &t, &resp);
	assert_int_equal(resp.transport, VP_TRANSPORT_TIMEOUT);
	assert_non_null(resp.transport_msg);
	assert_null(strstr(resp.transport_msg, PASSWORD));
	vp_devhttp_free(t);
	srv_stop(s);
	free(s);

	/* nobody listening */
	fd = listen_any(&port);
	close(fd);
	c = conn_to(port);
	run(&c, &get, &t, &resp);
	assert_int_equal(resp.transport, VP_TRANSPORT_REFUSED);
	vp_devhttp_free(t);

	/* closed without an answer */
	s = srv_start(M_RESET, NULL);
	c = conn_to(s->port);
	run(&c, &get, &t, &resp);
	assert_int_equal(resp.transport, VP_TRANSPORT_RESET);
	vp_devhttp_free(t);
	srv_stop(s);
	free(s);

	/* over the limit, announced or not */
	s = srv_start(M_BIG_CHUNKED, NULL);
	c = conn_to(s->port);
	run(&c, &get, &t, &resp);
	assert_int_equal(resp.transport, VP_TRANSPORT_TOO_BIG);
	vp_devhttp_free(t);
	srv_stop(s);
	free(s);
	s = srv_start(M_BIG_LENGTH, NULL);
	c = conn_to(s->port);
	run(&c, &get, &t, &resp);
	assert_int_equal(resp.transport, VP_TRANSPORT_TOO_BIG);
	vp_devhttp_free(t);
	srv_stop(s);
	free(s);
}

static void
bad_addresses_are_refused(void **state)
{
	vp_http_req get = { .method = "GET", .path = "/" };
	vp_dev_conn c = conn_to(80);
	vp_devhttp *t = NULL;
	vp_error e;
	(void)state;

	c.address = "10.0.0.5/evil?";
	assert_int_equal(vp_devhttp_new(&c, &get, &t, &e), VP_ERR_INVALID);
	c.address = "user@10.0.0.5";
	assert_int_equal(vp_devhttp_new(&c, &get, &t, &e), VP_ERR_INVALID);
	c = conn_to(70000);
	assert_int_equal(vp_devhttp_new(&c, &get, &t, &e), VP_ERR_INVALID);
	c = conn_to(443);
	assert_int_equal(vp_devhttp_new_tls_check(&c, &t, &e), VP_ERR_INVALID);   /* no CA file */
	assert_null(t);
	assert_null(strstr(e.msg, PASSWORD));
}

static char *
write_pem(const char *dir, const char *name, X509 *x)
{
	char *path = vp_path_join(dir, name);
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	PEM_write_X509(f, x);
	fclose(f);
	return path;
}

static void
tls_check_verifies_chain_and_name(void **state)
{
	EVP_PKEY *cak = vp_test_key("ec-p256"), *k = vp_test_key("ec-p256"),
	    *otherk = vp_test_key("ec-p384");
	X509 *ca = vp_test_cert(cak, "Site CA", NULL, NULL, 1, "keyCertSign", -1, 365);
	X509 *other = vp_test_cert(otherk, "Other CA", NULL, NULL, 1, "keyCertSign", -1, 365);
	X509 *leaf = vp_test_cert(k, "cam1.site", ca, cak, 0, "digitalSignature", -1, 365);
	char *dir = vp_test_mkdtemp(), *ca_file = write_pem(dir, "ca.pem", ca);
	char *other_file = write_pem(dir, "other.pem", other), fp[65], want[65];
	unsigned char md[32], *der = NULL;
	unsigned int mdlen = 0;
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	vp_http_resp resp;
	vp_devhttp *t;
	vp_dev_conn c;
	vp_error e;
	srv *s;
	int n;
	(void)state;

	assert_int_equal(SSL_CTX_use_certificate(ctx, leaf), 1);
	assert_int_equal(SSL_CTX_use_PrivateKey(ctx, k), 1);
	n = i2d_X509(leaf, &der);
	EVP_Digest(der, (size_t)n, md, &mdlen, EVP_sha256(), NULL);
	vp_hex_encode(md, 32, want);
	OPENSSL_free(der);

	s = srv_start(M_TLS, ctx);
	c = conn_to(s->port);
	c.ca_file = ca_file;
	c.tls_name = "cam1.site";          /* connects to 127.0.0.1, checks the name */
	assert_int_equal(vp_devhttp_new_tls_check(&c, &t, &e), VP_OK);
	vp_devhttp_finish(t, curl_easy_perform(vp_devhttp_easy(t)), &resp);
	assert_int_equal(resp.transport, VP_TRANSPORT_OK);
	assert_int_equal(resp.status, 404);
	assert_int_equal(vp_devhttp_peer_fingerprint(t, fp, &e), VP_OK);
	assert_string_equal(fp, want);
	vp_devhttp_free(t);

	/* another name, another CA: TLS failures */
	c.tls_name = "cam2.site";
	assert_int_equal(vp_devhttp_new_tls_check(&c, &t, &e), VP_OK);
	vp_devhttp_finish(t, curl_easy_perform(vp_devhttp_easy(t)), &resp);
	assert_int_equal(resp.transport, VP_TRANSPORT_TLS);
	vp_devhttp_free(t);
	c.tls_name = "cam1.site";
	c.ca_file = other_file;
	assert_int_equal(vp_devhttp_new_tls_check(&c, &t, &e), VP_OK);
	vp_devhttp_finish(t, curl_easy_perform(vp_devhttp_easy(t)), &resp);
	assert_int_equal(resp.transport, VP_TRANSPORT_TLS);
	vp_devhttp_free(t);

	/* without verification (a factory certificate) the same server is fine */
	c = conn_to(s->port);
	c.use_https = 1;
	{
		vp_http_req get = { .method = "GET", .path = "/" };
		run(&c, &get, &t, &resp);
		assert_int_equal(resp.transport, VP_TRANSPORT_OK);
		assert_int_equal(resp.status, 404);
		vp_devhttp_free(t);
	}
	srv_stop(s);
	free(s);

	SSL_CTX_free(ctx);
	X509_free(ca);
	X509_free(other);
	X509_free(leaf);
	EVP_PKEY_free(cak);
	EVP_PKEY_free(k);
	EVP_PKEY_free(otherk);
	free(ca_file);
	free(other_file);
	vp_test_rmdir(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(digest_is_answered_without_showing_the_password),
		cmocka_unit_test(next_request_answers_the_challenge_at_once),
		cmocka_unit_test(transport_failures_are_told_apart),
		cmocka_unit_test(bad_addresses_are_refused),
		cmocka_unit_test(tls_check_verifies_chain_and_name),
	};

	/* the test server's TLS writes to a client that has gone must not end the test */
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
