/* TLS for the daemon: builds an SSL_CTX from certs/server.crt and certs/server.key.pem (TLS
 * 1.2 and 1.3, ECDHE with AES-GCM or ChaCha20, the server's preference, client certificates
 * asked for but optional), keeps the current one behind a mutex for new connections, and
 * runs the watcher thread that swaps in a new context when the files change or the
 * certificate needs renewing. Open connections keep the context they started with. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "daemon.h"
#include "vmspki/servercert.h"
#include "vmspki/util.h"
#include "vmspki/x509info.h"

#define TLS12_CIPHERS \
	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:" \
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:" \
	"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"
#define TLS13_SUITES \
	"TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"
#define WATCH_INTERVAL_S 2

static pthread_once_t conn_once = PTHREAD_ONCE_INIT;
static int conn_idx = -1;

/* Our per-connection state (worker.c) hangs off the SSL; its free function is set there. */
extern void vpd_conn_ex_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl,
    void *argp);
extern void vpd_conn_cert_bad(SSL *ssl);

static void
conn_index_init(void)
{
	conn_idx = SSL_get_ex_new_index(0, NULL, NULL, NULL, vpd_conn_ex_free);
}

int
vpd_tls_conn_index(void)
{
	pthread_once(&conn_once, conn_index_init);
	return conn_idx;
}

/* Client certificates are optional and checked by the API (only an admin certificate of our
 * CA counts): a failed verification is remembered on the connection instead of ending the
 * handshake, so that such a client still reaches /healthz and gets a clear 401. */
static int
verify_cb(int ok, X509_STORE_CTX *x)
{
	SSL *ssl;

	if (!ok && (ssl = X509_STORE_CTX_get_ex_data(x,
	    SSL_get_ex_data_X509_STORE_CTX_idx())) != NULL)
		vpd_conn_cert_bad(ssl);
	return 1;
}

/* HTTP/1.1 only: a browser offering h2 first must not pick it. */
static int
alpn_cb(SSL *ssl, const unsigned char **out, unsigned char *outlen, const unsigned char *in,
    unsigned int inlen, void *arg)
{
	static const unsigned char h11[] = { 8, 'h', 't', 't', 'p', '/', '1', '.', '1' };
	unsigned char *sel = NULL;

	(void)ssl;
	(void)arg;
	if (SSL_select_next_proto(&sel, outlen, h11, sizeof(h11), in, inlen) !=
	    OPENSSL_NPN_NEGOTIATED)
		return SSL_TLSEXT_ERR_NOACK;
	*out = sel;
	return SSL_TLSEXT_ERR_OK;
}

SSL_CTX *
vpd_tls_build(vpd *d, const vp_ca *ca, vpd_tls_info *info, vp_error *e)
{
	static const unsigned char sid_ctx[] = "vmspki";
	char *crt = vp_strdup(vp_datadir_path(d->dd, VP_PATH_SERVER_CERT));
	char *key = vp_strdup(vp_datadir_path(d->dd, VP_PATH_SERVER_KEY));
	STACK_OF(X509) *chain = vp_ca_chain(ca);
	X509_STORE *store;
	SSL_CTX *ctx = NULL;
	X509 *leaf;
	vp_error ie = { 0 };

	memset(info, 0, sizeof(*info));
	if (crt == NULL || key == NULL) {
		vp_error_set(e, VP_ERR_NOMEM, "out of memory");
		goto fail;
	}
	ERR_clear_error();
	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL) {
		vp_error_ssl(e, VP_ERR_CRYPTO, "cannot make a TLS context");
		goto fail;
	}
	SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_RENEGOTIATION |
	    SSL_OP_NO_COMPRESSION);
	if (!SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) ||
	    !SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) ||
	    !SSL_CTX_set_cipher_list(ctx, TLS12_CIPHERS) ||
	    !SSL_CTX_set_ciphersuites(ctx, TLS13_SUITES) ||
	    !SSL_CTX_set1_groups_list(ctx, "X25519:P-256:P-384") ||
	    !SSL_CTX_set_session_id_context(ctx, sid_ctx, sizeof(sid_ctx) - 1)) {
		vp_error_ssl(e, VP_ERR_CRYPTO, "cannot configure TLS");
		goto fail;
	}
	if (SSL_CTX_use_certificate_chain_file(ctx, crt) != 1) {
		vp_error_ssl(e, VP_ERR_INVALID, "cannot load the server certificate %s", crt);
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
		vp_error_ssl(e, VP_ERR_INVALID, "cannot load the server key %s", key);
		goto fail;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		vp_error_ssl(e, VP_ERR_INVALID, "the server key %s does not match the certificate %s",
		    key, crt);
		goto fail;
	}

	/* Optional client certificates, verified against the site CA (which may be an
	 * intermediate: it is a trust anchor of its own here). */
	store = SSL_CTX_get_cert_store(ctx);
	X509_STORE_set_flags(store, X509_V_FLAG_PARTIAL_CHAIN);
	if (X509_STORE_add_cert(store, vp_ca_cert(ca)) != 1 ||
	    SSL_CTX_add_client_CA(ctx, vp_ca_cert(ca)) != 1) {
		vp_error_ssl(e, VP_ERR_CRYPTO, "cannot trust the CA for client certificates");
		goto fail;
	}
	for (int i = 0; i < sk_X509_num(chain); i++)
		X509_STORE_add_cert(store, sk_X509_value(chain, i));
	/* During a replacement of the CA the site trusts the old one too (certs/ca.cert.pem):
	 * the admins' client certificates of the old CA still work until it is retired. */
	{
		char *trust = vp_strdup(vp_datadir_path(d->dd, VP_PATH_CA_CERT));

		if (trust != NULL && access(trust, R_OK) == 0)
			X509_STORE_load_file(store, trust);
		free(trust);
	}
	ERR_clear_error();
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, verify_cb);
	SSL_CTX_set_verify_depth(ctx, 6);
	SSL_CTX_set_alpn_select_cb(ctx, alpn_cb, NULL);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);

	leaf = SSL_CTX_get0_certificate(ctx);
	if (leaf != NULL) {
		vp_x509_serial_hex(leaf, info->serial, sizeof(info->serial), &ie);
		info->not_after = vp_asn1_time_unix(X509_get0_notAfter(leaf));
	}
	free(crt);
	free(key);
	return ctx;
fail:
	ERR_clear_error();
	SSL_CTX_free(ctx);
	free(crt);
	free(key);
	return NULL;
}

SSL_CTX *
vpd_tls_current(vpd *d)
{
	SSL_CTX *ctx;

	pthread_mutex_lock(&d->tls_mu);
	ctx = d->tls;
	if (ctx != NULL)
		SSL_CTX_up_ref(ctx);
	pthread_mutex_unlock(&d->tls_mu);
	return ctx;
}

static void
stamp_get(vpd *d, struct vpd_filestamp *s)
{
	char *crt = vp_strdup(vp_datadir_path(d->dd, VP_PATH_SERVER_CERT));
	char *key = vp_strdup(vp_datadir_path(d->dd, VP_PATH_SERVER_KEY));
	struct stat st;

	memset(s, 0, sizeof(*s));
	if (crt != NULL && stat(crt, &st) == 0) {
		s->crt_mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
		s->crt_size = (int64_t)st.st_size;
		s->crt_ino = (uint64_t)st.st_ino;
	}
	if (key != NULL && stat(key, &st) == 0) {
		s->key_mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
		s->key_size = (int64_t)st.st_size;
		s->key_ino = (uint64_t)st.st_ino;
	}
	free(crt);
	free(key);
}

static int
stamp_eq(const struct vpd_filestamp *a, const struct vpd_filestamp *b)
{
	return memcmp(a, b, sizeof(*a)) == 0;
}

int
vpd_tls_reload(vpd *d, int force)
{
	struct vpd_filestamp now;
	vpd_tls_info info;
	vp_error e = { 0 };
	vpd_ca_ref *ca;
	SSL_CTX *ctx, *old;
	char until[32];
	int rc = 0;

	pthread_mutex_lock(&d->reload_mu);
	stamp_get(d, &now);
	if (!force && stamp_eq(&now, &d->loaded_stamp))
		goto out;
	if (!stamp_eq(&now, &d->failed_stamp))
		d->failed_once = 0;
	if (!force && d->failed_once >= 2)
		goto out;   /* already said why; wait for the files to change again */
	ca = vpd_ca_get(d);
	ctx = vpd_tls_build(d, ca->ca, &info, &e);
	vpd_ca_put(ca);
	if (ctx == NULL) {
		/* A renewal replaces the key first, then the certificate: one failed look in
		 * between is expected, so a failure is only reported when it lasts. */
		d->failed_stamp = now;
		d->failed_once++;
		if (force || d->failed_once >= 2) {
			vpd_log("keeping the current server certificate: %s", e.msg);
			rc = -1;
		}
		goto out;
	}
	pthread_mutex_lock(&d->tls_mu);
	old = d->tls;
	d->tls = ctx;
	d->tls_info = info;
	pthread_mutex_unlock(&d->tls_mu);
	SSL_CTX_free(old);
	d->loaded_stamp = now;
	d->failed_once = 0;
	vp_time_iso(info.not_after, until, sizeof(until));
	vpd_log("server certificate serial %s (valid until %s) in use for new connections",
	    info.serial, until);
	rc = 1;
out:
	pthread_mutex_unlock(&d->reload_mu);
	return rc;
}

/* Renews the server certificate when the library says it is due (a third of its life left,
 * the host's addresses changed, another CA), then loads it. */
static void
renew_if_needed(vpd *d, vp_store *s, char *last_err, size_t last_err_len)
{
	vp_servercert_status st;
	vp_error e = { 0 };
	vpd_ca_ref *ca = vpd_ca_get(d);
	int renewed = 0;

	if (vp_servercert_ensure(s, ca->ca, d->datadir, 0, "daemon", &renewed, &st, &e) != VP_OK) {
		if (strcmp(last_err, e.msg) != 0) {   /* say it once, not every few minutes */
			vpd_log("cannot renew the server certificate: %s", e.msg);
			snprintf(last_err, last_err_len, "%s", e.msg);
		}
	} else {
		last_err[0] = '\0';
		if (renewed) {
			vpd_log("renewed the server certificate: serial %s", st.serial);
			vpd_tls_reload(d, 1);
		}
	}
	vpd_ca_put(ca);
}

static void *
watcher_main(void *arg)
{
	vpd *d = arg;
	vp_store *s = NULL;
	vp_error e = { 0 };
	int64_t last_check = (int64_t)time(NULL);
	int interval = d->o.renew_check > 0 ? d->o.renew_check : 300;
	char last_err[VP_ERROR_MSG_MAX] = "";

	if (vp_store_open(d->dbpath, &s, &e) != VP_OK)
		vpd_log("renewal checks are off: %s", e.msg);
	for (;;) {
		struct timespec ts;
		int stop, now_flag;

		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += WATCH_INTERVAL_S;
		pthread_mutex_lock(&d->watch_mu);
		while (!d->watch_stop && !d->watch_now) {
			if (pthread_cond_timedwait(&d->watch_cv, &d->watch_mu, &ts) == ETIMEDOUT)
				break;
		}
		stop = d->watch_stop;
		now_flag = d->watch_now;
		d->watch_now = 0;
		pthread_mutex_unlock(&d->watch_mu);
		if (stop)
			break;
		vpd_tls_reload(d, now_flag);
		if (s != NULL)
			vpd_ca_refresh(d, s);
		if (s != NULL && (now_flag || (int64_t)time(NULL) - last_check >= interval)) {
			last_check = (int64_t)time(NULL);
			renew_if_needed(d, s, last_err, sizeof(last_err));
		}
	}
	vp_store_close(s);
	return NULL;
}

int
vpd_watcher_start(vpd *d, vp_error *e)
{
	int rc = pthread_create(&d->watcher, NULL, watcher_main, d);

	if (rc != 0)
		return vp_error_set(e, VP_ERR_IO, "cannot start the certificate watcher: %s",
		    strerror(rc));
	return VP_OK;
}

void
vpd_watcher_stop(vpd *d)
{
	pthread_mutex_lock(&d->watch_mu);
	d->watch_stop = 1;
	pthread_cond_signal(&d->watch_cv);
	pthread_mutex_unlock(&d->watch_mu);
	pthread_join(d->watcher, NULL);
}
