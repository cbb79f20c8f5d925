/* Endpoint monitoring (endpoint.h): a TCP connection with a timeout, a TLS handshake with
 * OpenSSL that verifies nothing itself, then our own checks of what was served against the site
 * CA alone; the alarms each check raises or clears. The endpoints table is store_endpoint.c's. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include "internal.h"
#include "vmspki/addr.h"
#include "vmspki/alarm.h"
#include "vmspki/endpoint.h"
#include "vmspki/render_json.h"
#include "vmspki/settings.h"
#include "vmspki/x509info.h"

#define CERT_LIST_MAX (100 * 1024)   /* bytes of certificates a server may send */
#define DAY 86400

/* ---- names and addresses ---- */

static int
printable(const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p < 0x20 || *p >= 0x7f)
			return 0;
	return 1;
}

vp_err
vp_endpoint_parse(const char *in, char *host, size_t n, int *port, vp_error *e)
{
	const char *p, *colon;
	size_t hlen;
	long v;
	char *end;

	*port = 0;
	if (n > 0)
		host[0] = '\0';
	if (in == NULL || in[0] == '\0')
		return vp_error_set(e, VP_ERR_INVALID, "give the endpoint as HOST:PORT (a name or "
		    "an IPv4 address, or [IPv6]:PORT), e.g. nas.site.example:443");
	if (!printable(in) || strlen(in) > VP_ENDPOINT_HOST_MAX + 8)
		return vp_error_set(e, VP_ERR_INVALID, "the endpoint is too long or holds control "
		    "or non-ASCII characters: give HOST:PORT");
	if (in[0] == '[') {
		const char *close = strchr(in, ']');

		if (close == NULL || close[1] != ':')
			return vp_error_set(e, VP_ERR_INVALID, "\"%s\": an IPv6 endpoint is written "
			    "[ADDR]:PORT, e.g. [2001:db8::5]:443", in);
		hlen = (size_t)(close - in - 1);
		p = close + 2;
		in++;
		if (hlen == 0 || hlen >= n || hlen >= 64)
			return vp_error_set(e, VP_ERR_INVALID, "the IPv6 address in brackets is empty "
			    "or too long");
		memcpy(host, in, hlen);
		host[hlen] = '\0';
		if (!vp_addr_is_ipv6(host))
			return vp_error_set(e, VP_ERR_INVALID, "\"%s\" in brackets is not an IPv6 "
			    "address%s", host, strchr(host, '%') != NULL ? " (zones such as %eth0 are "
			    "not supported)" : "");
	} else {
		if ((colon = strrchr(in, ':')) == NULL)
			return vp_error_set(e, VP_ERR_INVALID, "\"%s\" has no port: give HOST:PORT, "
			    "e.g. %s:443", in, in);
		if (strchr(in, ':') != colon)
			return vp_error_set(e, VP_ERR_INVALID, "\"%s\": write an IPv6 endpoint in "
			    "brackets, [ADDR]:PORT", in);
		hlen = (size_t)(colon - in);
		p = colon + 1;
		if (hlen == 0 || hlen >= n || hlen > VP_ENDPOINT_HOST_MAX)
			return vp_error_set(e, VP_ERR_INVALID, "the host before the port is empty or "
			    "too long (at most %d characters)", VP_ENDPOINT_HOST_MAX);
		memcpy(host, in, hlen);
		host[hlen] = '\0';
		if (!vp_addr_is_ipv4(host) && !vp_addr_is_hostname(host, 0))
			return vp_error_set(e, VP_ERR_INVALID, "\"%s\" is neither an IPv4 address nor "
			    "a host name (letters, digits, '-' and '.')", host);
	}
	errno = 0;
	v = strtol(p, &end, 10);
	if (p[0] < '0' || p[0] > '9' || *end != '\0' || errno != 0 || v < 1 || v > 65535)
		return vp_error_set(e, VP_ERR_INVALID, "the port must be a number from 1 to 65535, "
		    "not \"%.16s\"", p);
	*port = (int)v;
	return VP_OK;
}

void
vp_endpoint_address(const vp_endpoint *ep, char *buf, size_t n)
{
	int v6 = strchr(ep->host, ':') != NULL;

	snprintf(buf, n, "%s%s%s:%d", v6 ? "[" : "", ep->host, v6 ? "]" : "", ep->port);
}

void
vp_endpoint_clear(vp_endpoint *ep)
{
	if (ep == NULL)
		return;
	free(ep->chain_pem);
	memset(ep, 0, sizeof(*ep));
}

/* Checks host, port and sni and writes their stored forms: DNS names in lowercase, IPv6 as
 * inet_ntop writes it (so that one endpoint is not added twice under two spellings). */
static vp_err
normalize(const char *host, int port, const char *sni, vp_endpoint *ep, vp_error *e)
{
	struct in6_addr a6;

	if (host == NULL || host[0] == '\0')
		return vp_error_set(e, VP_ERR_INVALID, "an endpoint needs a host (a name or an IP "
		    "address)");
	if (!printable(host) || strlen(host) > VP_ENDPOINT_HOST_MAX)
		return vp_error_set(e, VP_ERR_INVALID, "the host is too long or holds control or "
		    "non-ASCII characters");
	if (inet_pton(AF_INET6, host, &a6) == 1) {
		if (inet_ntop(AF_INET6, &a6, ep->host, sizeof(ep->host)) == NULL)
			return vp_error_set(e, VP_ERR_INVALID, "cannot write the IPv6 address %s",
			    host);
	} else if (vp_addr_is_ipv4(host) || vp_addr_is_hostname(host, 0)) {
		size_t i;

		for (i = 0; host[i] != '\0'; i++)
			ep->host[i] = (char)tolower((unsigned char)host[i]);
		ep->host[i] = '\0';
	} else {
		return vp_error_set(e, VP_ERR_INVALID, "\"%s\" is neither an IP address nor a host "
		    "name (letters, digits, '-' and '.')", host);
	}
	if (port < 1 || port > 65535)
		return vp_error_set(e, VP_ERR_INVALID, "the port must be from 1 to 65535, not %d",
		    port);
	ep->port = port;
	ep->sni[0] = '\0';
	if (sni != NULL && sni[0] != '\0') {
		size_t i;

		if (!printable(sni) || !vp_addr_is_hostname(sni, 0))
			return vp_error_set(e, VP_ERR_INVALID, "the server name (SNI) must be a host "
			    "name such as nvr.site.example (letters, digits, '-' and '.'; not an IP "
			    "address)");
		for (i = 0; sni[i] != '\0'; i++)
			ep->sni[i] = (char)tolower((unsigned char)sni[i]);
		ep->sni[i] = '\0';
	}
	return VP_OK;
}

/* ---- the probe ---- */

static int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits for events on fd until deadline (monotonic ms). 1 ready, 0 timed out, -1 error. */
static int
wait_fd(int fd, short events, int64_t deadline)
{
	struct pollfd pfd = { .fd = fd, .events = events };
	int64_t left;
	int r;

	for (;;) {
		if ((left = deadline - mono_ms()) <= 0)
			return 0;
		r = poll(&pfd, 1, left > 60000 ? 60000 : (int)left);
		if (r > 0)
			return 1;
		if (r < 0 && errno != EINTR)
			return -1;
	}
}

/* A connected non-blocking socket to host:port (every address of the name in turn) before
 * deadline, or -1 with why filled. The name lookup uses the system's resolver and its own
 * timeouts (resolv.conf): getaddrinfo cannot be given ours. */
static int
tcp_connect(const char *host, int port, int64_t deadline, long timeout_ms, char *why,
    size_t n)
{
	struct addrinfo hints, *res = NULL, *ai;
	char portstr[8];
	int fd = -1, r, err = 0, timed_out = 0;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV | (vp_addr_is_ip(host) ? AI_NUMERICHOST : 0);
	snprintf(portstr, sizeof(portstr), "%d", port);
	if ((r = getaddrinfo(host, portstr, &hints, &res)) != 0) {
		snprintf(why, n, "cannot resolve %s: %s", host, r == EAI_SYSTEM ? strerror(errno) :
		    gai_strerror(r));
		return -1;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		socklen_t len = sizeof(err);

		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    ai->ai_protocol);
		if (fd < 0) {
			err = errno;
			continue;
		}
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		err = errno;
		if (err == EINPROGRESS) {
			r = wait_fd(fd, POLLOUT, deadline);
			if (r > 0 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 &&
			    err == 0)
				break;
			if (r == 0) {
				timed_out = 1;
				err = ETIMEDOUT;
			} else if (r < 0) {
				err = errno;
			}
		}
		close(fd);
		fd = -1;
		if (timed_out)
			break;
	}
	freeaddrinfo(res);
	if (fd >= 0)
		return fd;
	if (timed_out)
		snprintf(why, n, "no answer from port %d within %ld s (connection timed out)", port,
		    (timeout_ms + 999) / 1000);
	else
		snprintf(why, n, "cannot connect to port %d: %s", port, strerror(err));
	return -1;
}

/* Appends src to the string in dst (n bytes in all), cut to fit. */
static void
str_append(char *dst, size_t n, const char *src)
{
	size_t len = strnlen(dst, n), k;

	if (len + 1 >= n)
		return;
	k = strnlen(src, n - len - 1);
	memcpy(dst + len, src, k);
	dst[len + k] = '\0';
}

/* The reasons on OpenSSL's queue (emptied) after prefix, into why. */
static void
ssl_why(char *why, size_t n, const char *prefix)
{
	vp_error e = { 0 };

	vp_error_ssl(&e, VP_ERR_CRYPTO, "%s", prefix);
	why[0] = '\0';
	str_append(why, n, e.msg);
}

/* TLS handshake on fd before deadline. 0 done, -1 with why. */
static int
handshake(SSL *ssl, int fd, int64_t deadline, long timeout_ms, char *why, size_t n)
{
	for (;;) {
		int r, w;

		ERR_clear_error();
		errno = 0;
		if ((r = SSL_connect(ssl)) == 1)
			return 0;
		switch (SSL_get_error(ssl, r)) {
		case SSL_ERROR_WANT_READ:
			w = wait_fd(fd, POLLIN, deadline);
			break;
		case SSL_ERROR_WANT_WRITE:
			w = wait_fd(fd, POLLOUT, deadline);
			break;
		case SSL_ERROR_SYSCALL:
			if (ERR_peek_error() != 0)
				ssl_why(why, n, "TLS handshake failed");
			else if (errno != 0)
				snprintf(why, n, "TLS handshake failed: %s", strerror(errno));
			else
				snprintf(why, n, "TLS handshake failed: the server closed the "
				    "connection (is this port TLS?)");
			return -1;
		default:
			ssl_why(why, n, "TLS handshake failed (TLS 1.2 or 1.3 needed)");
			return -1;
		}
		if (w == 0) {
			snprintf(why, n, "TLS handshake not finished within %ld s",
			    (timeout_ms + 999) / 1000);
			return -1;
		}
		if (w < 0) {
			snprintf(why, n, "TLS handshake failed: %s", strerror(errno));
			return -1;
		}
	}
}

/* The leaf's own expiry is a status of its own (expired), not a reason to call the chain
 * untrusted: every other verification error stands. */
static int
verify_cb(int ok, X509_STORE_CTX *ctx)
{
	if (!ok && X509_STORE_CTX_get_error(ctx) == X509_V_ERR_CERT_HAS_EXPIRED &&
	    X509_STORE_CTX_get_error_depth(ctx) == 0)
		return 1;
	return ok;
}

/* Does chain (leaf first) verify at now against ca_file's certificates alone? 1 yes, 0 no with
 * why filled, -1 out of memory. */
static int
verify_chain(STACK_OF(X509) *chain, const char *ca_file, int64_t now, char *why, size_t n)
{
	X509_STORE *st = NULL;
	X509_STORE_CTX *ctx = NULL;
	X509_VERIFY_PARAM *p;
	int rc = -1, err;

	if (ca_file == NULL || ca_file[0] == '\0') {
		snprintf(why, n, "no site CA to verify against (vmspki ca init or ca import)");
		return 0;
	}
	if ((st = X509_STORE_new()) == NULL || (ctx = X509_STORE_CTX_new()) == NULL)
		goto out;
	if (X509_STORE_load_file(st, ca_file) != 1) {
		ERR_clear_error();
		snprintf(why, n, "the site CA certificate %s cannot be read", ca_file);
		rc = 0;
		goto out;
	}
	if (X509_STORE_CTX_init(ctx, st, sk_X509_value(chain, 0), chain) != 1)
		goto out;
	p = X509_STORE_CTX_get0_param(ctx);
	X509_VERIFY_PARAM_set_time(p, (time_t)now);
	/* Only the site CA is an anchor: an intermediate or the leaf itself is not. */
	X509_VERIFY_PARAM_clear_flags(p, X509_V_FLAG_PARTIAL_CHAIN);
	X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_SERVER);
	X509_STORE_CTX_set_verify_cb(ctx, verify_cb);
	if (X509_verify_cert(ctx) == 1) {
		rc = 1;
	} else {
		err = X509_STORE_CTX_get_error(ctx);
		snprintf(why, n, "does not verify against the site CA: %s (depth %d)",
		    X509_verify_cert_error_string(err), X509_STORE_CTX_get_error_depth(ctx));
		rc = 0;
	}
	ERR_clear_error();
out:
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(st);
	return rc;
}

/* Joins part to detail ("a; b"). */
static void
detail_add(char *detail, size_t n, const char *part)
{
	if (detail[0] != '\0')
		str_append(detail, n, "; ");
	str_append(detail, n, part);
}

/* Fills ep's certificate fields and status from what the server sent. */
static vp_err
assess(vp_endpoint *ep, STACK_OF(X509) *served, const char *ca_file, int64_t now,
    long warning_days, vp_error *e)
{
	STACK_OF(X509) *chain = NULL;
	vp_x509_info info;
	X509 *leaf = sk_X509_value(served, 0);
	const char *name = ep->sni[0] != '\0' ? ep->sni : vp_addr_is_ip(ep->host) ? NULL : ep->host;
	char why[1024], when[32], *pem = NULL;
	size_t pemlen = 0;
	int64_t left;
	vp_err rc;
	int v;

	memset(&info, 0, sizeof(info));
	if ((chain = sk_X509_new_null()) == NULL) {
		rc = vp_error_set(e, VP_ERR_NOMEM, "out of memory");
		goto out;
	}
	for (int i = 0; i < sk_X509_num(served) && i < VP_ENDPOINT_CHAIN_MAX; i++)
		if (!sk_X509_push(chain, sk_X509_value(served, i))) {
			rc = vp_error_set(e, VP_ERR_NOMEM, "out of memory");
			goto out;
		}
	if ((rc = vp_x509_info_get(leaf, &info, e)) != VP_OK ||
	    (rc = vp_x509_chain_to_pem(chain, &pem, &pemlen, e)) != VP_OK)
		goto out;
	free(ep->chain_pem);
	ep->chain_pem = pem;
	pem = NULL;
	snprintf(ep->subject, sizeof(ep->subject), "%s", info.subject != NULL ? info.subject : "");
	snprintf(ep->issuer, sizeof(ep->issuer), "%s", info.issuer != NULL ? info.issuer : "");
	snprintf(ep->fingerprint, sizeof(ep->fingerprint), "%s", info.sha256);
	ep->not_after = info.not_after;
	ep->detail[0] = '\0';

	/* Expiry first: it is what the status says first. */
	vp_time_iso(ep->not_after, when, sizeof(when));
	left = ep->not_after - now;
	if (left <= 0) {
		snprintf(why, sizeof(why), "the certificate expired on %s", when);
		detail_add(ep->detail, sizeof(ep->detail), why);
	} else if (left <= (int64_t)warning_days * DAY) {
		if (left < DAY)
			snprintf(why, sizeof(why), "the certificate expires on %s (in less than a "
			    "day)", when);
		else
			snprintf(why, sizeof(why), "the certificate expires on %s (in %" PRId64
			    " day%s)", when, left / DAY, left / DAY == 1 ? "" : "s");
		detail_add(ep->detail, sizeof(ep->detail), why);
	}

	why[0] = '\0';
	if ((v = verify_chain(chain, ca_file, now, why, sizeof(why))) < 0) {
		rc = vp_error_ssl(e, VP_ERR_NOMEM, "out of memory");
		goto out;
	}
	ep->verified = v;
	if (!v)
		detail_add(ep->detail, sizeof(ep->detail), why);

	if (name != NULL)
		ep->name_ok = X509_check_host(leaf, name, strlen(name), 0, NULL) == 1;
	else
		ep->name_ok = X509_check_ip_asc(leaf, ep->host, 0) == 1;
	ERR_clear_error();
	if (!ep->name_ok) {
		snprintf(why, sizeof(why), "the certificate is not for %s (%s %.300s)",
		    name != NULL ? name : ep->host, info.sans != NULL && info.sans[0] != '\0' ?
		    "it names" : "it has no subjectAltName; subject", info.sans != NULL &&
		    info.sans[0] != '\0' ? info.sans : ep->subject);
		detail_add(ep->detail, sizeof(ep->detail), why);
	}

	if (left <= 0)
		snprintf(ep->status, sizeof(ep->status), "%s", VP_EP_EXPIRED);
	else if (!ep->verified || !ep->name_ok)
		snprintf(ep->status, sizeof(ep->status), "%s", VP_EP_UNTRUSTED);
	else if (left <= (int64_t)warning_days * DAY)
		snprintf(ep->status, sizeof(ep->status), "%s", VP_EP_EXPIRING);
	else
		snprintf(ep->status, sizeof(ep->status), "%s", VP_EP_OK);
out:
	free(pem);
	vp_x509_info_clear(&info);
	sk_X509_free(chain);   /* the certificates belong to served */
	return rc;
}

vp_err
vp_endpoint_probe(vp_endpoint *ep, const char *ca_file, int64_t now, long warning_days,
    long timeout_ms, vp_error *e)
{
	SSL_CTX *ctx = NULL;
	SSL *ssl = NULL;
	STACK_OF(X509) *served;
	const char *name = ep->sni[0] != '\0' ? ep->sni : vp_addr_is_ip(ep->host) ? NULL : ep->host;
	char why[600];
	int fd = -1;
	vp_err rc = VP_OK;

	if (timeout_ms <= 0)
		timeout_ms = VP_ENDPOINT_TIMEOUT_MS;
	why[0] = '\0';
	if ((fd = tcp_connect(ep->host, ep->port, mono_ms() + timeout_ms, timeout_ms, why,
	    sizeof(why))) < 0)
		goto down;
	if ((ctx = SSL_CTX_new(TLS_client_method())) == NULL ||
	    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
	    (ssl = SSL_new(ctx)) == NULL || SSL_set_fd(ssl, fd) != 1) {
		rc = vp_error_ssl(e, VP_ERR_CRYPTO, "cannot set up a TLS connection");
		goto out;
	}
	/* We verify what is served ourselves, against the site CA only (assess). */
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	SSL_set_max_cert_list(ssl, CERT_LIST_MAX);
	if (name != NULL && SSL_set_tlsext_host_name(ssl, name) != 1) {
		rc = vp_error_ssl(e, VP_ERR_CRYPTO, "cannot set the server name %s", name);
		goto out;
	}
	if (handshake(ssl, fd, mono_ms() + timeout_ms, timeout_ms, why, sizeof(why)) != 0)
		goto down;
	if ((served = SSL_get_peer_cert_chain(ssl)) == NULL || sk_X509_num(served) < 1) {
		snprintf(why, sizeof(why), "the server sent no certificate");
		goto down;
	}
	rc = assess(ep, served, ca_file, now, warning_days, e);
	(void)SSL_shutdown(ssl);   /* close_notify, once; we do not wait for the answer */
	goto out;
down:
	snprintf(ep->status, sizeof(ep->status), "%s", VP_EP_UNREACHABLE);
	snprintf(ep->detail, sizeof(ep->detail), "%.*s", (int)sizeof(ep->detail) - 1, why);
out:
	ERR_clear_error();
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	if (fd >= 0)
		close(fd);
	return rc;
}

/* ---- the table (store_endpoint.c) ---- */

static vp_err
not_found(int64_t id, vp_error *e)
{
	return vp_error_set(e, VP_ERR_NOTFOUND, "there is no endpoint %" PRId64 " (`vmspki "
	    "endpoint list` shows them)", id);
}

vp_err
vp_endpoint_get(vp_store *s, int64_t id, vp_endpoint *out, vp_error *e)
{
	vp_err rc = vp_store_endpoint_get(s, id, out, e);

	return rc == VP_ERR_NOTFOUND ? not_found(id, e) : rc;
}

vp_err
vp_endpoint_list(vp_store *s, vp_endpoint_cb cb, void *arg, vp_error *e)
{
	return vp_store_endpoint_list(s, cb, arg, e);
}

/* A row of vp_endpoint_list_json. */
static int
append_endpoint(const vp_endpoint *ep, void *arg)
{
	return vp_json_append(arg, vp_json_endpoint(ep, 0));
}

vp_err
vp_endpoint_list_json(vp_store *s, json_t *array, vp_error *e)
{
	return vp_endpoint_list(s, append_endpoint, array, e);
}

/* Writes what a check found. VP_ERR_NOTFOUND if the row is gone. */
static vp_err
update_row(vp_store *s, const vp_endpoint *ep, vp_error *e)
{
	vp_err rc = vp_store_endpoint_update(s, ep, e);

	if (rc == VP_ERR_NOTFOUND)
		rc = vp_error_set(e, VP_ERR_NOTFOUND, "endpoint %" PRId64 " was removed while it "
		    "was checked", ep->id);
	return rc;
}

static vp_err
delete_row(vp_store *s, int64_t id, vp_error *e)
{
	vp_err rc = vp_store_endpoint_delete(s, id, e);

	return rc == VP_ERR_NOTFOUND ? not_found(id, e) : rc;
}

/* "nas.example:443" or "10.0.0.5:443 (SNI nvr.example)". */
static void
label(const vp_endpoint *ep, char *buf, size_t n)
{
	char a[VP_ENDPOINT_HOST_MAX + 16];

	vp_endpoint_address(ep, a, sizeof(a));
	if (ep->sni[0] != '\0')
		snprintf(buf, n, "%s (SNI %s)", a, ep->sni);
	else
		snprintf(buf, n, "%s", a);
}

vp_err
vp_endpoint_add(vp_store *s, const char *ca_file, const char *host, int port,
    const char *sni, const char *actor, int64_t now, long timeout_ms, vp_endpoint *out,
    vp_error *e)
{
	vp_endpoint ep;
	char what[600];
	int64_t other = 0;
	vp_err rc;

	memset(&ep, 0, sizeof(ep));
	if (out != NULL)
		memset(out, 0, sizeof(*out));
	if ((rc = normalize(host, port, sni, &ep, e)) != VP_OK)
		return rc;
	ep.added_at = now;
	label(&ep, what, sizeof(what));
	if ((rc = vp_store_begin(s, e)) != VP_OK)
		return rc;
	if ((rc = vp_store_endpoint_find(s, &ep, &other, e)) != VP_OK)
		goto fail;
	if (other != 0) {
		rc = vp_error_set(e, VP_ERR_EXISTS, "%s is watched already, as endpoint %" PRId64,
		    what, other);
		goto fail;
	}
	if ((rc = vp_store_endpoint_insert(s, &ep, e)) != VP_OK)
		goto fail;
	snprintf(what + strlen(what), sizeof(what) - strlen(what), " as endpoint %" PRId64,
	    ep.id);
	if ((rc = vp_store_audit_append(s, actor != NULL ? actor : "unknown", "endpoint.add",
	    NULL, what, e)) != VP_OK || (rc = vp_store_commit(s, e)) != VP_OK)
		goto fail;
	/* Added: the first check's own failure (a store error) is the caller's to tell. */
	return vp_endpoint_check(s, ca_file, ep.id, now, timeout_ms, out, e);
fail:
	vp_store_rollback(s);
	return rc;
}

static const char *const all_kinds[] = {
	VP_ALARM_ENDPOINT_EXPIRING, VP_ALARM_ENDPOINT_EXPIRED, VP_ALARM_ENDPOINT_UNTRUSTED,
	VP_ALARM_ENDPOINT_DOWN
};

vp_err
vp_endpoint_remove(vp_store *s, int64_t id, const char *actor, vp_error *e)
{
	vp_endpoint ep;
	char subject[48], what[600];
	vp_err rc;

	snprintf(subject, sizeof(subject), "endpoint:%" PRId64, id);
	if ((rc = vp_store_begin(s, e)) != VP_OK)
		return rc;
	if ((rc = vp_endpoint_get(s, id, &ep, e)) != VP_OK)
		goto fail;
	label(&ep, what, sizeof(what));
	snprintf(what + strlen(what), sizeof(what) - strlen(what), ", endpoint %" PRId64, id);
	vp_endpoint_clear(&ep);
	if ((rc = delete_row(s, id, e)) != VP_OK)
		goto fail;
	for (size_t i = 0; i < sizeof(all_kinds) / sizeof(all_kinds[0]); i++)
		if ((rc = vp_alarm_clear(s, all_kinds[i], subject, NULL, e)) != VP_OK)
			goto fail;
	if ((rc = vp_store_audit_append(s, actor != NULL ? actor : "unknown", "endpoint.remove",
	    NULL, what, e)) != VP_OK || (rc = vp_store_commit(s, e)) != VP_OK)
		goto fail;
	return VP_OK;
fail:
	vp_store_rollback(s);
	return rc;
}

static vp_err
alarm_set(vp_store *s, int on, const char *kind, const char *subject, vp_alarm_severity sev,
    const char *msg, vp_error *e)
{
	if (on)
		return vp_alarm_raise(s, kind, subject, sev, msg, NULL, e);
	return vp_alarm_clear(s, kind, subject, NULL, e);
}

/* Raises and clears ep's alarms for what its check found. An endpoint that is down says
 * nothing new about its certificate: those alarms stay as they were. */
static vp_err
alarms_update(vp_store *s, const vp_endpoint *ep, int64_t now, long warning_days,
    vp_error *e)
{
	char subject[48], name[600], msg[1400];
	int down = strcmp(ep->status, VP_EP_UNREACHABLE) == 0;
	int expired, expiring, untrusted;
	vp_err rc;

	snprintf(subject, sizeof(subject), "endpoint:%" PRId64, ep->id);
	label(ep, name, sizeof(name));
	snprintf(msg, sizeof(msg), "endpoint %s is unreachable: %s", name, ep->detail);
	if ((rc = alarm_set(s, down, VP_ALARM_ENDPOINT_DOWN, subject, VP_SEV_WARNING, msg, e)) !=
	    VP_OK || down)
		return rc;
	expired = ep->not_after <= now;
	expiring = !expired && ep->not_after - now <= (int64_t)warning_days * DAY;
	untrusted = !ep->verified || !ep->name_ok;
	snprintf(msg, sizeof(msg), "endpoint %s: %s: %s", name, expired ? VP_EP_EXPIRED :
	    expiring ? VP_EP_EXPIRING : untrusted ? VP_EP_UNTRUSTED : VP_EP_OK, ep->detail);
	if ((rc = alarm_set(s, expired, VP_ALARM_ENDPOINT_EXPIRED, subject, VP_SEV_CRITICAL, msg,
	    e)) != VP_OK ||
	    (rc = alarm_set(s, expiring, VP_ALARM_ENDPOINT_EXPIRING, subject, VP_SEV_WARNING, msg,
	    e)) != VP_OK)
		return rc;
	snprintf(msg, sizeof(msg), "endpoint %s: %s: %s", name, VP_EP_UNTRUSTED, ep->detail);
	return alarm_set(s, untrusted, VP_ALARM_ENDPOINT_UNTRUSTED, subject, VP_SEV_WARNING, msg,
	    e);
}

vp_err
vp_endpoint_check(vp_store *s, const char *ca_file, int64_t id, int64_t now,
    long timeout_ms, vp_endpoint *out, vp_error *e)
{
	vp_endpoint ep;
	long warning_days = 30;
	vp_err rc;

	if (out != NULL)
		memset(out, 0, sizeof(*out));
	if ((rc = vp_setting_get_int(s, "lifecycle.warning_days", &warning_days, e)) != VP_OK ||
	    (rc = vp_endpoint_get(s, id, &ep, e)) != VP_OK)
		return rc;
	/* The network part holds no lock: other writers go on meanwhile. */
	if ((rc = vp_endpoint_probe(&ep, ca_file, now, warning_days, timeout_ms, e)) != VP_OK)
		goto out;
	ep.checked_at = now;
	if ((rc = vp_store_begin(s, e)) != VP_OK)
		goto out;
	if ((rc = update_row(s, &ep, e)) != VP_OK ||
	    (rc = alarms_update(s, &ep, now, warning_days, e)) != VP_OK ||
	    (rc = vp_store_commit(s, e)) != VP_OK) {
		vp_store_rollback(s);
		goto out;
	}
	if (out != NULL) {
		*out = ep;
		memset(&ep, 0, sizeof(ep));
	}
out:
	vp_endpoint_clear(&ep);
	return rc;
}

vp_err
vp_endpoint_check_due(vp_store *s, const char *ca_file, int64_t now, int *checked,
    vp_error *e)
{
	int64_t *ids = NULL;
	size_t n = 0;
	long interval = 3600;
	vp_error one = { 0 };
	vp_err rc, first = VP_OK;

	if (checked != NULL)
		*checked = 0;
	if ((rc = vp_setting_get_int(s, "endpoint.interval", &interval, e)) != VP_OK)
		return rc;
	/* The ids first: no statement stays open across the checks' transactions. */
	if ((rc = vp_store_endpoint_due(s, interval, now, &ids, &n, e)) != VP_OK)
		return rc;
	for (size_t i = 0; i < n; i++) {
		vp_err r1 = vp_endpoint_check(s, ca_file, ids[i], now, 0, NULL, &one);

		if (r1 == VP_ERR_NOTFOUND)   /* removed meanwhile */
			continue;
		if (r1 != VP_OK) {
			if (first == VP_OK) {
				first = r1;
				if (e != NULL)
					*e = one;
			}
			continue;
		}
		if (checked != NULL)
			(*checked)++;
	}
	free(ids);
	return first;
}

/* ---- JSON ---- */

json_t *
vp_json_endpoint(const vp_endpoint *ep, int with_chain)
{
	char addr[VP_ENDPOINT_HOST_MAX + 16];
	json_t *o;

	vp_endpoint_address(ep, addr, sizeof(addr));
	o = json_pack("{s:I,s:o,s:i,s:o,s:o,s:o,s:o,s:b,s:b,s:o,s:o,s:o,s:o,s:o,s:o}",
	    "id", (json_int_t)ep->id,
	    "host", vp_json_str(ep->host),
	    "port", ep->port,
	    "sni", vp_json_str_or_null(ep->sni),
	    "address", vp_json_str(addr),
	    "status", vp_json_str_or_null(ep->status),
	    "detail", vp_json_str(ep->detail),
	    "verified", ep->verified,
	    "name_ok", ep->name_ok,
	    "subject", vp_json_str_or_null(ep->subject),
	    "issuer", vp_json_str_or_null(ep->issuer),
	    "not_after", ep->not_after != 0 ? vp_json_time(ep->not_after) : json_null(),
	    "fingerprint", vp_json_str_or_null(ep->fingerprint),
	    "checked_at", ep->checked_at != 0 ? vp_json_time(ep->checked_at) : json_null(),
	    "added_at", vp_json_time(ep->added_at));
	if (o != NULL && with_chain && ep->chain_pem != NULL &&
	    json_object_set_new(o, "chain_pem", vp_json_str(ep->chain_pem)) != 0) {
		json_decref(o);
		return NULL;
	}
	return o;
}
