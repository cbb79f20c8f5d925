/* Unit tests for endpoint monitoring (src/lib/endpoint.c): HOST:PORT parsing, and the status,
 * detail and alarms a check gives for certificates made here and served by a TLS server in a
 * thread on 127.0.0.1 (site CA, another CA, expired, expiring, wrong name, an intermediate,
 * nothing listening, a port that never answers the handshake). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "internal.h"
#include "testutil.h"
#include "vmspki/alarm.h"
#include "vmspki/endpoint.h"
#include "vmspki/settings.h"
#include "vmspki/store.h"
#include "vmspki/util.h"

#define DAY 86400

/* ---- HOST:PORT ---- */

static void
parse_accepts_names_ipv4_and_bracketed_ipv6(void **state)
{
	static const struct { const char *in, *host; int port; } ok[] = {
		{ "nas.site.example:443", "nas.site.example", 443 },
		{ "NVR-1:8443", "NVR-1", 8443 },
		{ "10.0.0.5:1", "10.0.0.5", 1 },
		{ "[2001:db8::5]:443", "2001:db8::5", 443 },
		{ "[::1]:65535", "::1", 65535 },
	};
	char host[300];
	int port;
	vp_error e;

	(void)state;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		if (vp_endpoint_parse(ok[i].in, host, sizeof(host), &port, &e) != VP_OK)
			fail_msg("%s: %s", ok[i].in, e.msg);
		assert_string_equal(host, ok[i].host);
		assert_int_equal(port, ok[i].port);
	}
}

static void
parse_refuses_bad_endpoints_saying_why(void **state)
{
	static const struct { const char *in, *why; } bad[] = {
		{ "", "HOST:PORT" },
		{ "nas.site.example", "has no port" },
		{ "nas:", "port must be" },
		{ "nas:0", "port must be" },
		{ "nas:65536", "port must be" },
		{ "nas:44x", "port must be" },
		{ "nas:-1", "port must be" },
		{ ":443", "empty" },
		{ "2001:db8::5:443", "in brackets" },
		{ "[2001:db8::5]", "[ADDR]:PORT" },
		{ "[2001:db8::5]443", "[ADDR]:PORT" },
		{ "[nothex]:443", "not an IPv6" },
		{ "[fe80::1%eth0]:443", "zones" },
		{ "[10.0.0.1]:443", "not an IPv6" },
		{ "bad_host:443", "neither" },
		{ "10.0.0.256:443", "neither" },
		{ "-nas.example:443", "neither" },
		{ "nas example:443", "neither" },
		{ "nas\n:443", "control" },
	};
	char host[300];
	int port;
	vp_error e;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&e, 0, sizeof(e));
		if (vp_endpoint_parse(bad[i].in, host, sizeof(host), &port, &e) != VP_ERR_INVALID)
			fail_msg("\"%s\" was accepted", bad[i].in);
		if (strstr(e.msg, bad[i].why) == NULL)
			fail_msg("\"%s\": \"%s\" does not say \"%s\"", bad[i].in, e.msg, bad[i].why);
	}
}

/* ---- certificates ---- */

static void
add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;

	X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
	if ((ext = X509V3_EXT_nconf_nid(NULL, &ctx, nid, value)) == NULL ||
	    !X509_add_ext(x, ext, -1))
		abort();
	X509_EXTENSION_free(ext);
}

/* A server certificate with subjectAltName san, valid from nb to na days from now. */
static X509 *
server_cert(EVP_PKEY *key, const char *cn, const char *san, X509 *ca, EVP_PKEY *ca_key,
    int nb, int na)
{
	X509 *x = vp_test_cert(key, cn, ca, ca_key, 0, "critical,digitalSignature,"
	    "keyEncipherment", nb, na);

	add_ext(x, ca, NID_subject_alt_name, san);
	add_ext(x, ca, NID_ext_key_usage, "serverAuth");
	if (X509_sign(x, ca_key, EVP_sha256()) <= 0)
		abort();
	return x;
}

static void
write_pem(const char *path, X509 *x)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(PEM_write_X509(f, x), 1);
	assert_int_equal(fclose(f), 0);
}

/* ---- a TLS server in a thread ---- */

typedef struct server {
	int lfd;
	int port;
	SSL_CTX *ctx;
	pthread_t th;
	atomic_int stop;
	int handshake;   /* 0: accept and close without TLS (a port that is not TLS) */
} server;

static void *
server_main(void *arg)
{
	server *sv = arg;

	for (;;) {
		int fd = accept(sv->lfd, NULL, NULL);
		SSL *ssl;

		if (fd < 0)
			continue;
		if (sv->stop) {
			close(fd);
			break;
		}
		if (!sv->handshake) {
			close(fd);
			continue;
		}
		if ((ssl = SSL_new(sv->ctx)) != NULL && SSL_set_fd(ssl, fd) == 1 &&
		    SSL_accept(ssl) == 1)
			(void)SSL_shutdown(ssl);
		ERR_clear_error();
		SSL_free(ssl);
		close(fd);
	}
	return NULL;
}

static int
listen_any(int *port)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;

	assert_true(fd >= 0);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)), 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(fd, 16), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	*port = ntohs(a.sin_port);
	return fd;
}

/* Serves leaf (and chain_extra, when not NULL, after it) with key. */
static void
server_start(server *sv, X509 *leaf, EVP_PKEY *key, X509 *chain_extra)
{
	memset(sv, 0, sizeof(*sv));
	sv->handshake = leaf != NULL;
	if (leaf != NULL) {
		assert_non_null(sv->ctx = SSL_CTX_new(TLS_server_method()));
		assert_int_equal(SSL_CTX_use_certificate(sv->ctx, leaf), 1);
		assert_int_equal(SSL_CTX_use_PrivateKey(sv->ctx, key), 1);
		if (chain_extra != NULL)
			assert_int_equal(SSL_CTX_add1_chain_cert(sv->ctx, chain_extra), 1);
	}
	sv->lfd = listen_any(&sv->port);
	assert_int_equal(pthread_create(&sv->th, NULL, server_main, sv), 0);
}

static void
server_stop(server *sv)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	sv->stop = 1;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a.sin_port = htons((uint16_t)sv->port);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);   /* wakes accept */
	pthread_join(sv->th, NULL);
	close(fd);
	close(sv->lfd);
	SSL_CTX_free(sv->ctx);
}

/* ---- fixture: a store, the site CA in ca.cert.pem, another CA ---- */

struct fx {
	char *dir, *db, *ca_file;
	vp_store *s;
	EVP_PKEY *ca_key, *other_key, *key;
	X509 *ca, *other;
	int64_t now;
};

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	vp_error e;

	assert_non_null(f);
	f->dir = vp_test_mkdtemp();
	vp_test_pg_reset();
	f->db = vp_test_store_where(f->dir);
	assert_non_null(f->ca_file = vp_path_join(f->dir, "ca.cert.pem"));
	if (vp_store_open(f->db, &f->s, &e) != VP_OK)
		fail_msg("open: %s", e.msg);
	f->ca_key = vp_test_key("ec-p256");
	f->other_key = vp_test_key("ec-p384");
	f->key = vp_test_key("rsa2048");
	f->ca = vp_test_cert(f->ca_key, "Site CA", NULL, NULL, 1, "critical,keyCertSign,cRLSign",
	    -1, 3650);
	f->other = vp_test_cert(f->other_key, "Other CA", NULL, NULL, 1,
	    "critical,keyCertSign,cRLSign", -1, 3650);
	write_pem(f->ca_file, f->ca);
	f->now = (int64_t)time(NULL);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	vp_store_close(f->s);
	X509_free(f->ca);
	X509_free(f->other);
	EVP_PKEY_free(f->ca_key);
	EVP_PKEY_free(f->other_key);
	EVP_PKEY_free(f->key);
	free(f->db);
	free(f->ca_file);
	vp_test_rmdir(f->dir);
	free(f);
	return 0;
}

/* Adds 127.0.0.1:port (sni may be NULL) and returns the result of its first check. */
static vp_endpoint
add_at(struct fx *f, int port, const char *sni, int64_t now)
{
	vp_endpoint ep;
	vp_error e;

	if (vp_endpoint_add(f->s, f->ca_file, "127.0.0.1", port, sni, "test", now, 2000, &ep,
	    &e) != VP_OK)
		fail_msg("add: %s", e.msg);
	return ep;
}

struct seen {
	char kinds[8][40];
	vp_alarm_severity sev[8];
	int n;
	char subject[48];
};

static int
collect(const vp_alarm *a, void *arg)
{
	struct seen *s = arg;

	if (strcmp(a->subject, s->subject) == 0 && s->n < 8) {
		snprintf(s->kinds[s->n], sizeof(s->kinds[0]), "%s", a->kind);
		s->sev[s->n++] = a->severity;
	}
	return 0;
}

/* The active alarms of endpoint id, joined by ','. */
static void
active(struct fx *f, int64_t id, char *buf, size_t n, vp_alarm_severity *sev)
{
	struct seen s;
	vp_error e;

	memset(&s, 0, sizeof(s));
	snprintf(s.subject, sizeof(s.subject), "endpoint:%lld", (long long)id);
	if (vp_alarm_list(f->s, 1, collect, &s, &e) != VP_OK)
		fail_msg("alarm list: %s", e.msg);
	buf[0] = '\0';
	for (int i = 0; i < s.n; i++)
		snprintf(buf + strlen(buf), n - strlen(buf), "%s%s", i ? "," : "", s.kinds[i]);
	if (sev != NULL)
		*sev = s.n > 0 ? s.sev[0] : 0;
}

/* ---- statuses ---- */

static void
certificate_from_the_site_ca_is_ok(void **state)
{
	struct fx *f = *state;
	X509 *leaf = server_cert(f->key, "nvr.site.example", "DNS:nvr.site.example,IP:127.0.0.1",
	    f->ca, f->ca_key, -1, 365);
	vp_endpoint ep, got;
	server sv;
	char al[200];
	vp_error e;

	server_start(&sv, leaf, f->key, NULL);
	ep = add_at(f, sv.port, NULL, f->now);
	assert_string_equal(ep.status, VP_EP_OK);
	assert_string_equal(ep.detail, "");
	assert_true(ep.verified);
	assert_true(ep.name_ok);
	assert_non_null(strstr(ep.subject, "CN=nvr.site.example"));
	assert_non_null(strstr(ep.issuer, "CN=Site CA"));
	assert_int_equal(ep.not_after, vp_asn1_time_unix(X509_get0_notAfter(leaf)));
	assert_int_equal(strlen(ep.fingerprint), 64);
	assert_int_equal(ep.checked_at, f->now);
	/* Stored: the chain as served, PEM. */
	if (vp_endpoint_get(f->s, ep.id, &got, &e) != VP_OK)
		fail_msg("get: %s", e.msg);
	assert_non_null(got.chain_pem);
	assert_non_null(strstr(got.chain_pem, "-----BEGIN CERTIFICATE-----"));
	assert_string_equal(got.status, VP_EP_OK);
	assert_string_equal(got.fingerprint, ep.fingerprint);
	active(f, ep.id, al, sizeof(al), NULL);
	assert_string_equal(al, "");
	vp_endpoint_clear(&got);
	vp_endpoint_clear(&ep);

	/* The name sent (SNI) is the one checked. */
	ep = add_at(f, sv.port, "NVR.site.example", f->now);
	assert_string_equal(ep.sni, "nvr.site.example");
	assert_string_equal(ep.status, VP_EP_OK);
	vp_endpoint_clear(&ep);
	server_stop(&sv);
	X509_free(leaf);
}

static void
certificate_from_another_ca_is_untrusted(void **state)
{
	struct fx *f = *state;
	X509 *leaf = server_cert(f->key, "nvr", "IP:127.0.0.1", f->other, f->other_key, -1, 365);
	vp_endpoint ep;
	vp_alarm_severity sev;
	server sv;
	char al[200];

	server_start(&sv, leaf, f->key, NULL);
	ep = add_at(f, sv.port, NULL, f->now);
	assert_string_equal(ep.status, VP_EP_UNTRUSTED);
	assert_false(ep.verified);
	assert_true(ep.name_ok);
	assert_non_null(strstr(ep.detail, "does not verify against the site CA"));
	assert_non_null(strstr(ep.detail, X509_verify_cert_error_string(
	    X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY)));
	active(f, ep.id, al, sizeof(al), &sev);
	assert_string_equal(al, VP_ALARM_ENDPOINT_UNTRUSTED);
	assert_int_equal(sev, VP_SEV_WARNING);
	vp_endpoint_clear(&ep);
	server_stop(&sv);
	X509_free(leaf);
}

static void
self_signed_certificate_is_untrusted(void **state)
{
	struct fx *f = *state;
	X509 *leaf = server_cert(f->key, "nas", "IP:127.0.0.1", NULL, f->key, -1, 365);
	vp_endpoint ep;
	server sv;

	server_start(&sv, leaf, f->key, NULL);
	ep = add_at(f, sv.port, NULL, f->now);
	assert_string_equal(ep.status, VP_EP_UNTRUSTED);
	assert_false(ep.verified);
	assert_non_null(strstr(ep.detail, "does not verify against the site CA"));
	vp_endpoint_clear(&ep);
	server_stop(&sv);
	X509_free(leaf);
}

static void
wrong_name_is_untrusted_and_says_which_names(void **state)
{
	struct fx *f = *state;
	X509 *leaf = server_cert(f->key, "other", "DNS:other.site.example", f->ca, f->ca_key, -1,
	    365);
	vp_endpoint ep;
	server sv;
	char al[200];

	server_start(&sv, leaf, f->key, NULL);
	ep = add_at(f, sv.port, NULL, f->now);
	assert_string_equal(ep.status, VP_EP_UNTRUSTED);
	assert_true(ep.verified);
	assert_false(ep.name_ok);
	assert_non_null(strstr(ep.detail, "not for 127.0.0.1"));
	assert_non_null(strstr(ep.detail, "DNS:other.site.example"));
	active(f, ep.id, al, sizeof(al), NULL);
	assert_string_equal(al, VP_ALARM_ENDPOINT_UNTRUSTED);
	vp_endpoint_clear(&ep);

	ep = add_at(f, sv.port, "nvr.site.example", f->now);
	assert_string_equal(ep.status, VP_EP_UNTRUSTED);
	assert_non_null(strstr(ep.detail, "not for nvr.site.example"));
	vp_endpoint_clear(&ep);

	ep = add_at(f, sv.port, "other.site.example", f->now);
	assert_string_equal(ep.status, VP_EP_OK);
	vp_endpoint_clear(&ep);
	server_stop(&sv);
	X509_free(leaf);
}

static void
expired_certificate_has_expired_and_is_critical(void **state)
{
	struct fx *f = *state;
	X509 *leaf = server_cert(f->key, "nvr", "IP:127.0.0.1", f->ca, f->ca_key, -30, -1);
	vp_endpoint ep;
	vp_alarm_severity sev;
	server sv;
	char al[200];

	server_start(&sv, leaf, f->key, NULL);
	ep = add_at(f, sv.port, NULL, f->now);
	assert_string_equal(ep.status, VP_EP_EXPIRED);
	assert_true(ep.verified);     /* its chain is the site's: only its time is up */
	assert_non_null(strstr(ep.detail, "expired on"));
	active(f, ep.id, al, sizeof(al), &sev);
	assert_string_equal(al, VP_ALARM_ENDPOINT_EXPIRED);
	assert_int_equal(sev, VP_SEV_CRITICAL);
	vp_endpoint_clear(&ep);
	server_stop(&sv);
	X509_free(leaf);
}

static void
certificate_ending_in_five_days_is_about_to_expire(void **state)
{
	struct fx *f = *state;
	X509 *leaf = server_cert(f->key, "nvr", "IP:127.0.0.1", f->ca, f->ca_key, -1, 5);
	vp_endpoint ep;
	vp_alarm_severity sev;
	vp_error e;
	server sv;
	char al[200];

	server_start(&sv, leaf, f->key, NULL);
	ep = add_at(f, sv.port, NULL, f->now);
	assert_string_equal(ep.status, VP_EP_EXPIRING);
	assert_non_null(strstr(ep.detail, "expires on"));
	active(f, ep.id, al, sizeof(al), &sev);
	assert_string_equal(al, VP_ALARM_ENDPOINT_EXPIRING);
	assert_int_equal(sev, VP_SEV_WARNING);
	vp_endpoint_clear(&ep);

	/* Below the threshold it is OK, and the alarm is cleared. */
	if (vp_setting_set(f->s, "lifecycle.warning_days", "3", "test", &e) != VP_OK)
		fail_msg("set: %s", e.msg);
	if (vp_endpoint_check(f->s, f->ca_file, 1, f->now + 60, 2000, &ep, &e) != VP_OK)
		fail_msg("check: %s", e.msg);
	assert_string_equal(ep.status, VP_EP_OK);
	active(f, ep.id, al, sizeof(al), NULL);
	assert_string_equal(al, "");
	vp_endpoint_clear(&ep);
	server_stop(&sv);
	X509_free(leaf);
}

static void
clock_moves_status_from_ok_to_expiring_to_expired(void **state)
{
	struct fx *f = *state;
	X509 *leaf = server_cert(f->key, "nvr", "IP:127.0.0.1", f->ca, f->ca_key, -1, 100);
	vp_endpoint ep;
	vp_error e;
	server sv;
	char al[200];

	server_start(&sv, leaf, f->key, NULL);
	ep = add_at(f, sv.port, NULL, f->now);
	assert_string_equal(ep.status, VP_EP_OK);
	vp_endpoint_clear(&ep);
	if (vp_endpoint_check(f->s, f->ca_file, 1, f->now + 80 * DAY, 2000, &ep, &e) != VP_OK)
		fail_msg("check: %s", e.msg);
	assert_string_equal(ep.status, VP_EP_EXPIRING);
	active(f, 1, al, sizeof(al), NULL);
	assert_string_equal(al, VP_ALARM_ENDPOINT_EXPIRING);
	vp_endpoint_clear(&ep);
	if (vp_endpoint_check(f->s, f->ca_file, 1, f->now + 101 * DAY, 2000, &ep, &e) != VP_OK)
		fail_msg("check: %s", e.msg);
	assert_string_equal(ep.status, VP_EP_EXPIRED);
	active(f, 1, al, sizeof(al), NULL);
	assert_string_equal(al, VP_ALARM_ENDPOINT_EXPIRED);   /* expiring cleared */
	vp_endpoint_clear(&ep);
	server_stop(&sv);
	X509_free(leaf);
}

static void
intermediate_is_verified_only_up_to_the_site_root(void **state)
{
	struct fx *f = *state;
	EVP_PKEY *ikey = vp_test_key("ec-p256");
	X509 *inter = vp_test_cert(ikey, "Site Issuing CA", f->ca, f->ca_key, 1,
	    "critical,keyCertSign,cRLSign", -1, 1000);
	X509 *leaf = server_cert(f->key, "nvr", "IP:127.0.0.1", inter, ikey, -1, 365);
	vp_endpoint ep;
	vp_error e;
	server sv;

	server_start(&sv, leaf, f->key, inter);
	ep = add_at(f, sv.port, NULL, f->now);
	assert_string_equal(ep.status, VP_EP_OK);
	assert_true(ep.verified);
	vp_endpoint_clear(&ep);
	if (vp_endpoint_get(f->s, 1, &ep, &e) != VP_OK)
		fail_msg("get: %s", e.msg);
	/* Both certificates served are kept. */
	assert_non_null(strstr(strstr(ep.chain_pem, "-----END CERTIFICATE-----"),
	    "-----BEGIN CERTIFICATE-----"));
	vp_endpoint_clear(&ep);

	/* An intermediate alone is not an anchor (no partial chains). */
	write_pem(f->ca_file, inter);
	if (vp_endpoint_check(f->s, f->ca_file, 1, f->now, 2000, &ep, &e) != VP_OK)
		fail_msg("check: %s", e.msg);
	assert_string_equal(ep.status, VP_EP_UNTRUSTED);
	assert_false(ep.verified);
	vp_endpoint_clear(&ep);
	server_stop(&sv);
	X509_free(leaf);
	X509_free(inter);
	EVP_PKEY_free(ikey);
}

static void
closed_port_is_unreachable_not_expired(void **state)
{
	struct fx *f = *state;
	vp_endpoint ep;
	vp_alarm_severity sev;
	int port, fd = listen_any(&port);
	char al[200];

	close(fd);   /* nothing listens there now */
	ep = add_at(f, port, NULL, f->now);
	assert_string_equal(ep.status, VP_EP_UNREACHABLE);
	assert_non_null(strstr(ep.detail, "Connection refused"));
	assert_int_equal(ep.not_after, 0);
	assert_int_equal(ep.checked_at, f->now);
	active(f, ep.id, al, sizeof(al), &sev);
	assert_string_equal(al, VP_ALARM_ENDPOINT_DOWN);
	assert_int_equal(sev, VP_SEV_WARNING);
	vp_endpoint_clear(&ep);
}

static void
port_that_is_not_tls_is_unreachable(void **state)
{
	struct fx *f = *state;
	vp_endpoint ep;
	server sv;

	server_start(&sv, NULL, NULL, NULL);   /* accepts and closes */
	ep = add_at(f, sv.port, NULL, f->now);
	assert_string_equal(ep.status, VP_EP_UNREACHABLE);
	assert_non_null(strstr(ep.detail, "TLS handshake failed"));
	vp_endpoint_clear(&ep);
	server_stop(&sv);
}

static void
handshake_that_never_ends_times_out(void **state)
{
	struct fx *f = *state;
	vp_endpoint ep;
	vp_error e;
	int port, fd = listen_any(&port);   /* listens, never accepts nor answers */

	if (vp_endpoint_add(f->s, f->ca_file, "127.0.0.1", port, NULL, "test", f->now, 200, &ep,
	    &e) != VP_OK)
		fail_msg("add: %s", e.msg);
	assert_string_equal(ep.status, VP_EP_UNREACHABLE);
	assert_non_null(strstr(ep.detail, "not finished within"));
	vp_endpoint_clear(&ep);
	close(fd);
}

static void
down_after_up_keeps_the_certificate_and_its_alarms(void **state)
{
	struct fx *f = *state;
	X509 *leaf = server_cert(f->key, "nvr", "IP:127.0.0.1", f->ca, f->ca_key, -1, 5);
	vp_endpoint ep;
	vp_error e;
	server sv;
	char al[200], fp[65];

	server_start(&sv, leaf, f->key, NULL);
	ep = add_at(f, sv.port, NULL, f->now);
	assert_string_equal(ep.status, VP_EP_EXPIRING);
	snprintf(fp, sizeof(fp), "%s", ep.fingerprint);
	vp_endpoint_clear(&ep);
	server_stop(&sv);
	if (vp_endpoint_check(f->s, f->ca_file, 1, f->now + 10 * DAY, 2000, &ep, &e) != VP_OK)
		fail_msg("check: %s", e.msg);
	/* Down: Unreachable, even though the last certificate seen has ended by now. */
	assert_string_equal(ep.status, VP_EP_UNREACHABLE);
	assert_string_equal(ep.fingerprint, fp);
	active(f, 1, al, sizeof(al), NULL);
	assert_non_null(strstr(al, VP_ALARM_ENDPOINT_DOWN));
	assert_non_null(strstr(al, VP_ALARM_ENDPOINT_EXPIRING));
	assert_null(strstr(al, VP_ALARM_ENDPOINT_EXPIRED));
	vp_endpoint_clear(&ep);
	X509_free(leaf);
}

/* ---- the table ---- */

static void
duplicate_is_refused_and_remove_clears_alarms(void **state)
{
	struct fx *f = *state;
	vp_endpoint ep;
	vp_error e;
	int port, fd = listen_any(&port), n = 0;
	char al[200];

	close(fd);
	ep = add_at(f, port, NULL, f->now);
	vp_endpoint_clear(&ep);
	memset(&e, 0, sizeof(e));
	assert_int_equal(vp_endpoint_add(f->s, f->ca_file, "127.0.0.1", port, NULL, "test",
	    f->now, 2000, &ep, &e), VP_ERR_EXISTS);
	assert_non_null(strstr(e.msg, "watched already, as endpoint 1"));
	/* Another spelling of the same IPv6 address is the same endpoint. */
	assert_int_equal(vp_endpoint_add(f->s, f->ca_file, "::1", port, NULL, "test", f->now, 2000,
	    &ep, &e), VP_OK);
	vp_endpoint_clear(&ep);
	assert_int_equal(vp_endpoint_add(f->s, f->ca_file, "0:0::1", port, NULL, "test", f->now,
	    2000, &ep, &e), VP_ERR_EXISTS);
	assert_int_equal(vp_endpoint_add(f->s, f->ca_file, "bad host", port, NULL, "test", f->now,
	    2000, &ep, &e), VP_ERR_INVALID);
	assert_int_equal(vp_endpoint_add(f->s, f->ca_file, "nas.example", port, "10.0.0.1",
	    "test", f->now, 2000, &ep, &e), VP_ERR_INVALID);

	active(f, 1, al, sizeof(al), NULL);
	assert_string_equal(al, VP_ALARM_ENDPOINT_DOWN);
	if (vp_endpoint_remove(f->s, 1, "test", &e) != VP_OK)
		fail_msg("remove: %s", e.msg);
	active(f, 1, al, sizeof(al), NULL);
	assert_string_equal(al, "");
	assert_int_equal(vp_endpoint_get(f->s, 1, &ep, &e), VP_ERR_NOTFOUND);
	assert_int_equal(vp_endpoint_remove(f->s, 1, "test", &e), VP_ERR_NOTFOUND);
	assert_int_equal(vp_endpoint_check(f->s, f->ca_file, 1, f->now, 2000, NULL, &e),
	    VP_ERR_NOTFOUND);
	(void)n;
}

static int
count(const vp_endpoint *ep, void *arg)
{
	(void)ep;
	(*(int *)arg)++;
	return 0;
}

static void
check_due_takes_only_endpoints_past_their_interval(void **state)
{
	struct fx *f = *state;
	vp_endpoint ep;
	vp_error e;
	int port, fd = listen_any(&port), checked = -1, n = 0;

	close(fd);
	ep = add_at(f, port, NULL, f->now);
	vp_endpoint_clear(&ep);
	ep = add_at(f, port, "nvr.site.example", f->now + 600);
	vp_endpoint_clear(&ep);
	assert_int_equal(vp_endpoint_list(f->s, count, &n, &e), VP_OK);
	assert_int_equal(n, 2);
	assert_int_equal(vp_endpoint_check_due(f->s, f->ca_file, f->now + 3599, &checked, &e),
	    VP_OK);
	assert_int_equal(checked, 0);
	assert_int_equal(vp_endpoint_check_due(f->s, f->ca_file, f->now + 3600, &checked, &e),
	    VP_OK);
	assert_int_equal(checked, 1);
	assert_int_equal(vp_endpoint_get(f->s, 1, &ep, &e), VP_OK);
	assert_int_equal(ep.checked_at, f->now + 3600);
	vp_endpoint_clear(&ep);
	assert_int_equal(vp_endpoint_check_due(f->s, f->ca_file, f->now + 4200, &checked, &e),
	    VP_OK);
	assert_int_equal(checked, 1);   /* the second one */
	if (vp_setting_set(f->s, "endpoint.interval", "60", "test", &e) != VP_OK)
		fail_msg("set: %s", e.msg);
	assert_int_equal(vp_endpoint_check_due(f->s, f->ca_file, f->now + 4260, &checked, &e),
	    VP_OK);
	assert_int_equal(checked, 2);
}

static void
json_names_every_field(void **state)
{
	vp_endpoint ep;
	json_t *o;

	(void)state;
	memset(&ep, 0, sizeof(ep));
	ep.id = 3;
	snprintf(ep.host, sizeof(ep.host), "2001:db8::5");
	ep.port = 443;
	snprintf(ep.status, sizeof(ep.status), "%s", VP_EP_UNREACHABLE);
	ep.added_at = 1;
	ep.chain_pem = strdup("PEM");
	assert_non_null(o = vp_json_endpoint(&ep, 1));
	assert_string_equal(json_string_value(json_object_get(o, "address")), "[2001:db8::5]:443");
	assert_true(json_is_null(json_object_get(o, "sni")));
	assert_true(json_is_null(json_object_get(o, "not_after")));
	assert_true(json_is_null(json_object_get(o, "checked_at")));
	assert_string_equal(json_string_value(json_object_get(o, "status")), "Unreachable");
	assert_string_equal(json_string_value(json_object_get(o, "chain_pem")), "PEM");
	json_decref(o);
	assert_non_null(o = vp_json_endpoint(&ep, 0));
	assert_null(json_object_get(o, "chain_pem"));
	json_decref(o);
	vp_endpoint_clear(&ep);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(parse_accepts_names_ipv4_and_bracketed_ipv6),
		cmocka_unit_test(parse_refuses_bad_endpoints_saying_why),
		cmocka_unit_test(json_names_every_field),
		cmocka_unit_test_setup_teardown(certificate_from_the_site_ca_is_ok, setup, teardown),
		cmocka_unit_test_setup_teardown(certificate_from_another_ca_is_untrusted, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(self_signed_certificate_is_untrusted, setup, teardown),
		cmocka_unit_test_setup_teardown(wrong_name_is_untrusted_and_says_which_names, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(expired_certificate_has_expired_and_is_critical, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(certificate_ending_in_five_days_is_about_to_expire,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(clock_moves_status_from_ok_to_expiring_to_expired,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(intermediate_is_verified_only_up_to_the_site_root,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(closed_port_is_unreachable_not_expired, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(port_that_is_not_tls_is_unreachable, setup, teardown),
		cmocka_unit_test_setup_teardown(handshake_that_never_ends_times_out, setup, teardown),
		cmocka_unit_test_setup_teardown(down_after_up_keeps_the_certificate_and_its_alarms,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(duplicate_is_refused_and_remove_clears_alarms, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(check_due_takes_only_endpoints_past_their_interval,
		    setup, teardown),
	};

	signal(SIGPIPE, SIG_IGN);   /* as the CLI and the daemon: a peer's close fails a write */
	return cmocka_run_group_tests(tests, NULL, NULL);
}
