/* Sending a driver's request to a device with one libcurl easy handle: Digest (Basic only when
 * allowed and over HTTPS), a timeout, no proxy and no redirects, an answer bounded at
 * VP_DEVHTTP_MAX_ANSWER, TLS verified against the site CA and the device's name or not at all
 * (factory certificates), and curl's outcome sorted into vp_transport.
 *
 * Easy handles are kept for the next request to the same device. A handle remembers the
 * device's Digest challenge: its next request carries the Authorization answer at once (with
 * the next nonce count, RFC 7616 3.4), where a new handle first sends the request without it,
 * gets a 401 and sends it again. A conversation with a camera is a dozen requests, so this
 * halves what both sides do. A handle is only reused for the same scheme, address, port, TLS
 * settings, user and password (compared as a SHA-256 of them all, the password never kept
 * outside curl); a nonce the device no longer accepts gets a 401 with stale=true, which curl
 * answers with the new nonce; a wrong password still ends in a 401 after one try. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "vmspki/buf.h"
#include "vmspki/devhttp.h"
#include "vmspki/util.h"

#define DEFAULT_TIMEOUT_MS 30000L
#define CONNECT_TIMEOUT_MS 10000L
/* Idle handles kept: enough for the task engine's devices at once over HTTP and HTTPS. */
#define POOL_MAX 256

struct vp_devhttp {
	CURL *h;
	unsigned char key[32];   /* which device and settings h may be reused for */
	int keep;                /* h may go back to the pool (not a TLS check) */
	int done;                /* the transfer ended with an HTTP answer */
	struct curl_slist *headers;
	struct curl_slist *connect_to;
	char *body;              /* copy of the request body */
	vp_buf ans;              /* the answer, at most VP_DEVHTTP_MAX_ANSWER */
	int too_big;
	char *ctype;
	char *password;          /* only to keep it out of messages; wiped on free */
	char errbuf[CURL_ERROR_SIZE];
	char msg[CURL_ERROR_SIZE + 64];
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

/* Idle easy handles, most recently used first. */
struct pooled {
	struct pooled *next;
	CURL *h;
	unsigned char key[32];
};
static pthread_mutex_t pool_mu = PTHREAD_MUTEX_INITIALIZER;
static struct pooled *pool;
static int pool_n;

static void
curl_init(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

static size_t
on_data(char *p, size_t size, size_t n, void *arg)
{
	vp_devhttp *t = arg;
	size_t add;
	vp_err rc;

	if (!vp_size_mul(size, n, &add)) {
		t->too_big = 1;
		return 0;                      /* curl aborts with CURLE_WRITE_ERROR */
	}
	if ((rc = vp_buf_add(&t->ans, p, add, NULL)) != VP_OK) {
		if (rc == VP_ERR_INVALID)      /* past the maximum; else out of memory */
			t->too_big = 1;
		return 0;
	}
	return add;
}

/* host as it goes into a URL: IPv6 literals in brackets. */
static void
url_host(char *dst, size_t n, const char *host)
{
	if (strchr(host, ':') != NULL)
		snprintf(dst, n, "[%s]", host);
	else
		snprintf(dst, n, "%s", host);
}

static int
host_ok(const char *h)
{
	size_t n = h != NULL ? strlen(h) : 0;

	if (n == 0 || n > 253)
		return 0;
	/* characters that could change the URL or curl's connect-to syntax */
	return strpbrk(h, "/?#@[] \t\r\n\\%") == NULL;
}

/* The reuse key: SHA-256 over everything that must match for a handle's remembered
 * challenge and options to be right for the next request. 0 if it cannot be made. */
static int
pool_key(const vp_dev_conn *c, int https, int verify, const char *name, int port,
    unsigned char key[32])
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	char head[64];
	unsigned int n = 0;
	const char *parts[6] = { c->address, name, c->username != NULL ? c->username : "",
	    c->password != NULL ? c->password : "", verify && c->ca_file != NULL ? c->ca_file : "",
	    c->pinned_pubkey != NULL ? c->pinned_pubkey : "" };
	int ok;

	snprintf(head, sizeof(head), "vmspki-devhttp\n%d %d %d %d\n", https, verify, port,
	    c->allow_basic);
	ok = md != NULL && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1 &&
	    EVP_DigestUpdate(md, head, strlen(head)) == 1;
	/* each part with its length, so that no two different settings hash alike */
	for (int i = 0; ok && i < 6; i++) {
		size_t l = strlen(parts[i]);

		ok = EVP_DigestUpdate(md, &l, sizeof(l)) == 1 &&
		    EVP_DigestUpdate(md, parts[i], l) == 1;
	}
	ok = ok && EVP_DigestFinal_ex(md, key, &n) == 1 && n == 32;
	EVP_MD_CTX_free(md);
	return ok;
}

/* An idle handle for key, or NULL. */
static CURL *
pool_take(const unsigned char key[32])
{
	struct pooled **pp, *p;
	CURL *h = NULL;

	pthread_mutex_lock(&pool_mu);
	for (pp = &pool; (p = *pp) != NULL; pp = &p->next)
		if (memcmp(p->key, key, 32) == 0) {
			*pp = p->next;
			pool_n--;
			h = p->h;
			free(p);
			break;
		}
	pthread_mutex_unlock(&pool_mu);
	return h;
}

/* Keeps h for the next request with key; the least recently used goes when full. */
static void
pool_put(CURL *h, const unsigned char key[32])
{
	struct pooled *p = malloc(sizeof(*p)), **pp, *old = NULL;

	if (p == NULL) {
		curl_easy_cleanup(h);
		return;
	}
	p->h = h;
	memcpy(p->key, key, 32);
	pthread_mutex_lock(&pool_mu);
	p->next = pool;
	pool = p;
	if (++pool_n > POOL_MAX) {
		for (pp = &pool; (*pp)->next != NULL; pp = &(*pp)->next)
			;
		old = *pp;
		*pp = NULL;
		pool_n--;
	}
	pthread_mutex_unlock(&pool_mu);
	if (old != NULL) {
		curl_easy_cleanup(old->h);
		free(old);
	}
}

void
vp_devhttp_pool_clear(void)
{
	struct pooled *p;

	pthread_mutex_lock(&pool_mu);
	p = pool;
	pool = NULL;
	pool_n = 0;
	pthread_mutex_unlock(&pool_mu);
	while (p != NULL) {
		struct pooled *n = p->next;

		curl_easy_cleanup(p->h);
		free(p);
		p = n;
	}
}

#define SET(opt, val) do { if (curl_easy_setopt(t->h, opt, val) != CURLE_OK) goto fail; } while (0)

static vp_err
setup(const vp_dev_conn *c, const vp_http_req *req, int tls_check, vp_devhttp **out,
    vp_error *e)
{
	vp_devhttp *t = NULL;
	char host[300], addr[300], url[1024], line[700], ct[256];
	const char *name;
	/* A TLS check with a pin (an outside certificate, extcert.h) proves the key, not a
	 * chain to the site CA. */
	int pinned = c->pinned_pubkey != NULL && c->pinned_pubkey[0] != '\0';
	int https = tls_check || c->use_https, verify = (tls_check && !pinned) || c->verify;
	int port = https ? c->https_port : c->http_port;
	long timeout = c->timeout_ms > 0 ? c->timeout_ms : DEFAULT_TIMEOUT_MS;
	long auth;

	*out = NULL;
	pthread_once(&curl_once, curl_init);
	name = c->tls_name != NULL && c->tls_name[0] != '\0' ? c->tls_name : c->address;
	if (!host_ok(c->address) || !host_ok(name))
		return vp_error_set(e, VP_ERR_INVALID, "the device address is not a host name or "
		    "an IP address");
	if (port < 1 || port > 65535)
		return vp_error_set(e, VP_ERR_INVALID, "the device port %d is out of range", port);
	if (req->path[0] != '/' || strpbrk(req->path, " \t\r\n#") != NULL)
		return vp_error_set(e, VP_ERR_INTERNAL, "bad device request path");
	if (verify && https && (c->ca_file == NULL || c->ca_file[0] == '\0'))
		return vp_error_set(e, VP_ERR_INVALID, "no site CA file to verify the device with");
	if ((t = calloc(1, sizeof(*t))) == NULL)
		goto nomem;
	vp_buf_init(&t->ans, "the device's answer", VP_DEVHTTP_MAX_ANSWER, 0);
	/* A TLS check never reuses anything (a fresh connection and handshake, see below). */
	t->keep = !tls_check && pool_key(c, https, verify && https, name, port, t->key);
	if ((!t->keep || (t->h = pool_take(t->key)) == NULL) && (t->h = curl_easy_init()) == NULL)
		goto nomem;
	if (c->password != NULL && c->password[0] != '\0' &&
	    (t->password = vp_strdup(c->password)) == NULL)
		goto nomem;

	/* With verification the URL names what the certificate must match and curl connects to
	 * the address instead; without, the URL is the address. */
	url_host(host, sizeof(host), verify && https ? name : c->address);
	snprintf(url, sizeof(url), "%s://%s:%d%s", https ? "https" : "http", host, port,
	    req->path);
	SET(CURLOPT_URL, url);
	if (verify && https && strcmp(name, c->address) != 0) {
		url_host(addr, sizeof(addr), c->address);
		snprintf(line, sizeof(line), "%s:%d:%s:%d", host, port, addr, port);
		if ((t->connect_to = curl_slist_append(NULL, line)) == NULL)
			goto nomem;
	}
	SET(CURLOPT_CONNECT_TO, t->connect_to);
	SET(CURLOPT_PROTOCOLS_STR, "http,https");
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_PROXY, "");
	SET(CURLOPT_NOPROXY, "*");
	SET(CURLOPT_FOLLOWLOCATION, 0L);
	SET(CURLOPT_TIMEOUT_MS, timeout);
	SET(CURLOPT_CONNECTTIMEOUT_MS, timeout < CONNECT_TIMEOUT_MS ? timeout : CONNECT_TIMEOUT_MS);
	SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)VP_DEVHTTP_MAX_ANSWER);
	SET(CURLOPT_WRITEFUNCTION, on_data);
	SET(CURLOPT_WRITEDATA, t);
	SET(CURLOPT_ERRORBUFFER, t->errbuf);
	SET(CURLOPT_USERAGENT, "vmspki");
	if (https && pinned && (!tls_check || !verify)) {
		/* Our certificate on the device has expired: its key, which we know, is the
		 * proof of identity (curl checks the pin even without chain verification). */
		SET(CURLOPT_SSL_VERIFYPEER, 0L);
		SET(CURLOPT_SSL_VERIFYHOST, 0L);
		SET(CURLOPT_PINNEDPUBLICKEY, c->pinned_pubkey);
	} else if (https) {
		SET(CURLOPT_SSL_VERIFYPEER, verify ? 1L : 0L);
		SET(CURLOPT_SSL_VERIFYHOST, verify ? 2L : 0L);
		if (verify) {
			SET(CURLOPT_CAINFO, c->ca_file);
			SET(CURLOPT_CAPATH, NULL);
#if LIBCURL_VERSION_NUM >= 0x075700
			/* The site's trust file changes (a CA replacement adds the new CA, then
			 * removes the old one): read it for every new connection, never from a
			 * store curl would otherwise keep for a day under the same file name. */
			SET(CURLOPT_CA_CACHE_TIMEOUT, 0L);
#endif
		}
	}
	if (tls_check) {
		/* A real handshake every time: a connection or TLS session kept from an earlier
		 * request would prove nothing about the certificate served now (and carries no
		 * certificate information). The connection itself, verified, may serve the next
		 * request with the same TLS settings (one handshake less per device). */
		SET(CURLOPT_CERTINFO, 1L);
		SET(CURLOPT_FRESH_CONNECT, 1L);
		SET(CURLOPT_SSL_SESSIONID_CACHE, 0L);
	}
	if (c->username != NULL && c->username[0] != '\0') {
		auth = CURLAUTH_DIGEST;
		if (c->allow_basic && https)
			auth |= CURLAUTH_BASIC;
		SET(CURLOPT_HTTPAUTH, auth);
		SET(CURLOPT_USERNAME, c->username);
		SET(CURLOPT_PASSWORD, c->password != NULL ? c->password : "");
	}
	/* No "Expect: 100-continue" round trip: cameras answer the whole request. */
	if ((t->headers = curl_slist_append(NULL, "Expect:")) == NULL)
		goto nomem;
	if (req->content_type != NULL) {
		snprintf(ct, sizeof(ct), "Content-Type: %s", req->content_type);
		if ((t->headers = curl_slist_append(t->headers, ct)) == NULL)
			goto nomem;
	}
	SET(CURLOPT_HTTPHEADER, t->headers);
	/* A reused handle still points at the last request's body (freed with its vp_devhttp)
	 * and method: forget both before this request sets its own. */
	SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)-1);
	SET(CURLOPT_POSTFIELDS, NULL);
	SET(CURLOPT_HTTPGET, 1L);
	SET(CURLOPT_CUSTOMREQUEST, NULL);
	if (strcmp(req->method, "GET") != 0) {
		if (req->body_len > 0) {
			if ((t->body = malloc(req->body_len)) == NULL)
				goto nomem;
			memcpy(t->body, req->body, req->body_len);
			SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
			SET(CURLOPT_POSTFIELDS, t->body);
		} else if (strcmp(req->method, "DELETE") != 0) {
			SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)0);
			SET(CURLOPT_POSTFIELDS, "");
		}
		if (strcmp(req->method, "POST") != 0)
			SET(CURLOPT_CUSTOMREQUEST, req->method);
	}
	*out = t;
	return VP_OK;
fail:
	vp_devhttp_free(t);
	return vp_error_set(e, VP_ERR_INTERNAL, "libcurl refused an option for the device request");
nomem:
	vp_devhttp_free(t);
	return vp_error_set(e, VP_ERR_NOMEM, "out of memory");
}

#undef SET

vp_err
vp_devhttp_new(const vp_dev_conn *conn, const vp_http_req *req, vp_devhttp **out, vp_error *e)
{
	return setup(conn, req, 0, out, e);
}

vp_err
vp_devhttp_new_tls_check(const vp_dev_conn *conn, vp_devhttp **out, vp_error *e)
{
	vp_http_req req = { .method = "GET", .path = "/" };

	return setup(conn, &req, 1, out, e);
}

CURL *
vp_devhttp_easy(vp_devhttp *t)
{
	return t->h;
}

static vp_transport
classify(CURLcode cc, int too_big)
{
	switch (cc) {
	case CURLE_OK:
		return VP_TRANSPORT_OK;
	case CURLE_OPERATION_TIMEDOUT:
		return VP_TRANSPORT_TIMEOUT;
	case CURLE_COULDNT_CONNECT:
	case CURLE_COULDNT_RESOLVE_HOST:
		return VP_TRANSPORT_REFUSED;
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
		return VP_TRANSPORT_RESET;
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
	case CURLE_SSL_INVALIDCERTSTATUS:
	case CURLE_SSL_CRL_BADFILE:
	case CURLE_SSL_SHUTDOWN_FAILED:
	case CURLE_SSL_ENGINE_INITFAILED:
		return VP_TRANSPORT_TLS;
	case CURLE_FILESIZE_EXCEEDED:
		return VP_TRANSPORT_TOO_BIG;
	case CURLE_WRITE_ERROR:
		return too_big ? VP_TRANSPORT_TOO_BIG : VP_TRANSPORT_OTHER;
	default:
		return VP_TRANSPORT_OTHER;
	}
}

void
vp_devhttp_finish(vp_devhttp *t, CURLcode cc, vp_http_resp *resp)
{
	char *ct = NULL;
	long status = 0;

	memset(resp, 0, sizeof(*resp));
	resp->transport = classify(cc, t->too_big);
	/* Only a handle that got an answer is kept: after a timeout, a reset or a TLS failure
	 * the next request starts afresh. */
	t->done = resp->transport == VP_TRANSPORT_OK;
	if (resp->transport != VP_TRANSPORT_OK) {
		snprintf(t->msg, sizeof(t->msg), "%s",
		    t->errbuf[0] != '\0' ? t->errbuf : curl_easy_strerror(cc));
		/* curl never puts credentials in its words; make sure of it */
		if (t->password != NULL && strstr(t->msg, t->password) != NULL)
			snprintf(t->msg, sizeof(t->msg), "%s", curl_easy_strerror(cc));
		resp->transport_msg = t->msg;
		return;
	}
	curl_easy_getinfo(t->h, CURLINFO_RESPONSE_CODE, &status);
	if (curl_easy_getinfo(t->h, CURLINFO_CONTENT_TYPE, &ct) == CURLE_OK && ct != NULL) {
		free(t->ctype);
		t->ctype = vp_strdup(ct);
	}
	resp->status = status;
	resp->content_type = t->ctype;
	resp->body = (const unsigned char *)vp_buf_str(&t->ans);
	resp->len = vp_buf_len(&t->ans);
}

vp_err
vp_devhttp_peer_fingerprint(vp_devhttp *t, char fp[65], vp_error *e)
{
	struct curl_certinfo *ci = NULL;
	struct curl_slist *s;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	unsigned char *der = NULL;
	X509 *x = NULL;
	BIO *b = NULL;
	int n;
	vp_err rc = VP_OK;

	fp[0] = '\0';
	if (curl_easy_getinfo(t->h, CURLINFO_CERTINFO, &ci) != CURLE_OK || ci == NULL ||
	    ci->num_of_certs < 1)
		return vp_error_set(e, VP_ERR_NOTFOUND, "the device presented no certificate");
	/* certinfo[0] is the leaf; its "Cert:" entry holds the PEM (OpenSSL backend). */
	for (s = ci->certinfo[0]; s != NULL; s = s->next)
		if (strncmp(s->data, "Cert:", 5) == 0)
			break;
	if (s == NULL || (b = BIO_new_mem_buf(s->data + 5, -1)) == NULL ||
	    (x = PEM_read_bio_X509(b, NULL, NULL, NULL)) == NULL) {
		rc = vp_error_ssl(e, VP_ERR_NOTFOUND, "the device's certificate cannot be read");
		goto out;
	}
	if ((n = i2d_X509(x, &der)) <= 0 ||
	    EVP_Digest(der, (size_t)n, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != 32) {
		rc = vp_error_ssl(e, VP_ERR_CRYPTO, "cannot hash the device's certificate");
		goto out;
	}
	vp_hex_encode(md, mdlen, fp);
out:
	OPENSSL_free(der);
	X509_free(x);
	BIO_free(b);
	return rc;
}

void
vp_devhttp_free(vp_devhttp *t)
{
	if (t == NULL)
		return;
	if (t->h != NULL && t->keep && t->done &&
	    /* nothing in the idle handle may point at what is freed below */
	    curl_easy_setopt(t->h, CURLOPT_ERRORBUFFER, NULL) == CURLE_OK &&
	    curl_easy_setopt(t->h, CURLOPT_WRITEDATA, NULL) == CURLE_OK &&
	    curl_easy_setopt(t->h, CURLOPT_HTTPHEADER, NULL) == CURLE_OK &&
	    curl_easy_setopt(t->h, CURLOPT_CONNECT_TO, NULL) == CURLE_OK &&
	    curl_easy_setopt(t->h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)-1) == CURLE_OK &&
	    curl_easy_setopt(t->h, CURLOPT_POSTFIELDS, NULL) == CURLE_OK)
		pool_put(t->h, t->key);
	else if (t->h != NULL)
		curl_easy_cleanup(t->h);
	curl_slist_free_all(t->headers);
	curl_slist_free_all(t->connect_to);
	free(t->body);
	vp_buf_free(&t->ans);
	free(t->ctype);
	vp_secret_free_str(t->password);
	free(t);
}

vp_err
vp_dop_run(const vp_dev_conn *conn, vp_dop *op, vp_error *e)
{
	const vp_http_req *req;
	vp_http_resp resp;
	vp_devhttp *t = NULL;
	CURLcode cc;
	vp_err rc;
	int i;

	/* No operation needs more than a handful of requests; a loop is a bug. */
	for (i = 0; i < 16; i++) {
		if ((rc = vp_dop_next(op, &req, e)) != VP_OK)
			return rc;
		if (req == NULL)
			return VP_OK;
		if ((rc = vp_devhttp_new(conn, req, &t, e)) != VP_OK)
			return rc;
		cc = curl_easy_perform(t->h);
		vp_devhttp_finish(t, cc, &resp);
		rc = vp_dop_feed(op, &resp, e);
		vp_devhttp_free(t);
		if (rc != VP_OK)
			return rc;
	}
	return vp_error_set(e, VP_ERR_INTERNAL, "the device conversation did not end");
}
