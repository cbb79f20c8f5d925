/* `vmspki serve`: start-up (the CA, made at first start; its passphrase; the server
 * certificate; the first API token; the listening sockets), the threads, and the orderly stop
 * on SIGTERM/SIGINT (stop accepting, let requests in flight finish, exit 0). SIGHUP reloads
 * the server certificate at once. */
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/thread.h>

#include "daemon.h"
#include "vmspki/passphrase.h"
#include "vmspki/component.h"
#include "vmspki/servercert.h"
#include "vmspki/token.h"
#include "vmspki/util.h"
#include "vmspki/x509info.h"

static const char *const default_listen[] = { "127.0.0.1:8443", "[::1]:8443" };

vpd_ca_ref *
vpd_ca_get(vpd *d)
{
	vpd_ca_ref *r;

	pthread_mutex_lock(&d->ca_mu);
	r = d->ca;
	if (r != NULL)
		atomic_fetch_add(&r->refs, 1);
	pthread_mutex_unlock(&d->ca_mu);
	return r;
}

void
vpd_ca_put(vpd_ca_ref *r)
{
	if (r != NULL && atomic_fetch_sub(&r->refs, 1) == 1) {
		vp_ca_free(r->ca);
		free(atomic_load(&r->chain_pem));
		free(r);
	}
}

void
vpd_ca_set(vpd *d, vp_ca *ca)
{
	vpd_ca_ref *r = calloc(1, sizeof(*r)), *old;

	if (r == NULL) {
		vpd_log("out of memory replacing the CA: stopping");
		abort();
	}
	r->ca = ca;
	atomic_store(&r->refs, 1);
	pthread_mutex_lock(&d->ca_mu);
	old = d->ca;
	d->ca = r;
	pthread_mutex_unlock(&d->ca_mu);
	vpd_ca_put(old);
}

int
vpd_ca_refresh(vpd *d, vp_store *s)
{
	vp_ca_transition tr;
	vp_error e = { 0 };
	vp_ca *pub = NULL, *ca = NULL;
	vpd_ca_ref *cur;
	int same, changed = 0;

	pthread_mutex_lock(&d->ca_refresh_mu);
	if (vp_ca_load(s, NULL, &pub, &e) != VP_OK ||
	    vp_ca_transition_get(s, &tr, &e) != VP_OK)
		goto out;                     /* busy store: next time */
	cur = vpd_ca_get(d);
	same = cur != NULL && strcmp(vp_ca_fingerprint(cur->ca), vp_ca_fingerprint(pub)) == 0;
	vpd_ca_put(cur);
	if (!same) {
		if (vp_ca_load(s, d->passphrase, &ca, &e) != VP_OK) {
			vpd_log("the store holds a new CA (SHA-256 %.16s...) that cannot be loaded: "
			    "%s; still signing with the one loaded at start", vp_ca_fingerprint(pub),
			    e.msg);
			goto out;
		}
		vpd_log("the CA was replaced: signing with the new CA (SHA-256 %.16s...) from now "
		    "on", vp_ca_fingerprint(ca));
		vpd_ca_set(d, ca);
		changed = 1;
	}
	if (tr.task != d->ca_replace_task) {
		if (tr.task == 0)
			vpd_log("the replacement of the CA (task %" PRId64 ") has ended: the old CA is "
			    "no longer trusted", d->ca_replace_task);
		d->ca_replace_task = tr.task;
		changed = 1;
	}
out:
	pthread_mutex_unlock(&d->ca_refresh_mu);
	vp_ca_free(pub);
	/* Client certificates are verified against what the site trusts: new context. */
	if (changed)
		vpd_tls_reload(d, 1);
	return changed;
}

/* Every connection is a file descriptor: take all the system lets us have. */
static void
raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rlim_t was = rl.rlim_cur;

		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
			vpd_log("cannot raise the open-file limit from %llu: %s",
			    (unsigned long long)was, strerror(errno));
	}
}

static int
count_token(const vp_token_rec *t, void *arg)
{
	(void)t;
	(*(int *)arg)++;
	return 0;
}

/* The CA at first start: made here, with a passphrase given by the site or a random one that
 * is remembered (0600) beside the database. */
static int
first_start(vpd *d, vp_store *s, vp_ca **ca)
{
	vp_ca_init_opts o = { 0 };
	const char *env = getenv(VP_PASSPHRASE_ENV);
	int given = d->o.passfile != NULL || (env != NULL && env[0] != '\0');
	vp_error e = { 0 };
	vp_x509_info info;
	int rc = -1;

	o.actor = "daemon";
	o.key = VP_KEY_RSA4096;
	if (d->o.ca_key != NULL && vp_keytype_parse(d->o.ca_key, &o.key, &e) != VP_OK)
		goto fail;
	if (given) {
		if (d->o.passfile != NULL) {
			if (vp_passphrase_from_file(d->o.passfile, &d->passphrase, &e) != VP_OK)
				goto fail;
		} else if ((d->passphrase = vp_strdup(env)) == NULL) {
			vp_error_set(&e, VP_ERR_NOMEM, "out of memory");
			goto fail;
		}
		if (strlen(d->passphrase) < VP_PASSPHRASE_MIN) {
			vp_error_set(&e, VP_ERR_PASSPHRASE, "the CA passphrase needs at least %d "
			    "characters", VP_PASSPHRASE_MIN);
			goto fail;
		}
	} else {
		/* Remembered before the CA exists: a CA whose passphrase was lost is worse than a
		 * passphrase file left behind by a failed start. */
		if (vp_passphrase_random(&d->passphrase, &e) != VP_OK ||
		    vp_passphrase_remember(d->datadir, d->passphrase, &e) != VP_OK)
			goto fail;
	}
	vpd_log("no CA in %s: creating one (%s)", d->datadir, vp_keytype_name(o.key));
	if (vp_ca_init(s, d->datadir, &o, d->passphrase, &e) != VP_OK ||
	    vp_ca_load(s, d->passphrase, ca, &e) != VP_OK)
		goto fail;
	if (vp_x509_info_get(vp_ca_cert(*ca), &info, &e) == VP_OK) {
		vpd_log("created the CA \"%s\" (SHA-256 %s); its key passphrase is %s", info.subject,
		    info.sha256, given ? "the one given (not stored: give it at every start)" :
		    "random and remembered in the 0600 file beside the database");
		vp_x509_info_clear(&info);
	}
	return 0;
fail:
	fprintf(stderr, "vmspki: cannot create the CA: %s\n", e.msg);
	return rc;
}

static int
load_ca(vpd *d, vp_store *s, vp_ca **ca)
{
	vp_error e = { 0 };
	vp_ca *pub = NULL;
	vp_err r;

	if ((r = vp_ca_load(s, NULL, &pub, &e)) == VP_ERR_NOTFOUND)
		return first_start(d, s, ca);
	if (r != VP_OK)
		goto fail;
	vp_ca_free(pub);
	if (vp_passphrase_get(d->datadir, d->o.passfile, isatty(STDIN_FILENO) ?
	    "CA key passphrase: " : NULL, &d->passphrase, &e) != VP_OK ||
	    vp_ca_load(s, d->passphrase, ca, &e) != VP_OK)
		goto fail;
	/* A server of a shared (PostgreSQL) store may be new to the site, or another server
	 * may have replaced the CA: its data directory's public CA files come from the store. */
	if (vp_store_where_is_pg(d->dbpath) && vp_ca_write_files(s, d->datadir, &e) != VP_OK)
		goto fail;
	return 0;
fail:
	fprintf(stderr, "vmspki: %s\n", e.msg);
	return -1;
}

/* The host part of an address for a URL a user can open: 0.0.0.0 and [::] listen everywhere
 * but are not addresses to connect to. */
static void
url_of(const char *addr, char *buf, size_t n)
{
	if (strncmp(addr, "0.0.0.0:", 8) == 0)
		snprintf(buf, n, "https://127.0.0.1:%s", addr + 8);
	else if (strncmp(addr, "[::]:", 5) == 0)
		snprintf(buf, n, "https://[::1]:%s", addr + 5);
	else
		snprintf(buf, n, "https://%s", addr);
}

/* Checks that nobody listens on the addresses yet (a socket with SO_REUSEPORT would share the
 * port silently with another daemon), and turns port 0 into the port the system picks. The
 * reserve sockets keep those ports until the workers have bound theirs. */
static int
resolve_addrs(char **addrs, size_t *np, int *reserve, int defaults)
{
	vp_error e = { 0 };
	size_t n = *np;
	int picked = 0;   /* the first port the system chose: the others try it too */

	for (size_t i = 0; i < n; i++) {
		struct sockaddr_storage ss;
		unsigned len;
		int fd;

		reserve[i] = -1;
		if (vpd_addr_parse(addrs[i], &ss, &len, &e) != 0)
			goto fail;
		if (picked != 0 && (ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port :
		    ((struct sockaddr_in *)&ss)->sin_port) == 0) {
			char host[80], *nw;

			vpd_addr_format(&ss, host, sizeof(host), 0);
			if ((nw = malloc(strlen(host) + 16)) == NULL) {
				vp_error_set(&e, VP_ERR_NOMEM, "out of memory");
				goto fail;
			}
			sprintf(nw, ss.ss_family == AF_INET6 ? "[%s]:%d" : "%s:%d", host, picked);
			if ((fd = vpd_listen_socket(nw, 1, 0, &e)) >= 0) {
				reserve[i] = fd;
				free(addrs[i]);
				addrs[i] = nw;
				continue;
			}
			free(nw);   /* taken on that address: let the system choose another */
		}
		for (size_t j = 0; j < i; j++)
			if (strcmp(addrs[i], addrs[j]) == 0) {
				vp_error_set(&e, VP_ERR_INVALID, "--listen %s is given twice", addrs[i]);
				goto fail;
			}
		if ((ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port :
		    ((struct sockaddr_in *)&ss)->sin_port) != 0) {
			if ((fd = vpd_listen_socket(addrs[i], 0, 0, &e)) < 0) {
				/* A host without IPv6 still starts on the default addresses. */
				if (defaults && ss.ss_family == AF_INET6 && n > 1 &&
				    (errno == EADDRNOTAVAIL || errno == EAFNOSUPPORT)) {
					vpd_log("not listening on %s: %s", addrs[i], e.msg);
					free(addrs[i]);
					memmove(&addrs[i], &addrs[i + 1], (n - i - 1) * sizeof(addrs[0]));
					addrs[--n] = NULL;
					*np = n;
					i--;
					continue;
				}
				goto fail;
			}
			close(fd);
		} else {
			char host[80], *nw;
			int port;

			if ((fd = vpd_listen_socket(addrs[i], 1, 0, &e)) < 0)
				goto fail;
			reserve[i] = fd;
			port = vpd_socket_port(fd);
			if (picked == 0)
				picked = port;
			vpd_addr_format(&ss, host, sizeof(host), 0);
			if ((nw = malloc(strlen(host) + 16)) == NULL) {
				vp_error_set(&e, VP_ERR_NOMEM, "out of memory");
				goto fail;
			}
			if (ss.ss_family == AF_INET6)
				sprintf(nw, "[%s]:%d", host, port);
			else
				sprintf(nw, "%s:%d", host, port);
			free(addrs[i]);
			addrs[i] = nw;
		}
	}
	return 0;
fail:
	fprintf(stderr, "vmspki: %s\n", e.msg);
	return -1;
}

static void
print_banner(vpd *d, char **addrs, size_t n, const char *token)
{
	char url[128], *ca = vp_strdup(vp_datadir_path(d->dd, VP_PATH_CA_CERT));

	printf("vmspki serve: listening on");
	for (size_t i = 0; i < n; i++) {
		url_of(addrs[i], url, sizeof(url));
		printf(" %s", url);
	}
	printf(" (%d threads)\n", d->nworkers);
	url_of(addrs[0], url, sizeof(url));
	printf("CA certificate: %s\n", ca != NULL ? ca : "?");
	printf("Trust it, for example: curl --cacert %s %s/healthz\n", ca != NULL ? ca : "?", url);
	if (token != NULL) {
		printf("admin token: %s\n", token);
		printf("(the token is shown only this once: keep it; use it as \"Authorization: "
		    "Bearer TOKEN\"; `vmspki token create NAME` makes others)\n");
	}
	fflush(stdout);
	free(ca);
}

static int
nproc(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n < 1 ? 1 : n > VPD_THREADS_MAX ? VPD_THREADS_MAX : (int)n;
}

static void
log_line(void *arg, const char *line)
{
	(void)arg;
	vpd_log("%s", line);
}

/* At start-up, component certificates that are due are renewed and their components told
 * (reload commands). A failure is logged: the API is still served. */
static void
check_components(vpd *d, vp_store *s, vp_ca *ca)
{
	vp_component_outcome *oc = NULL;
	vp_error e = { 0 };
	size_t n = 0, i, renewed = 0;

	if (vp_component_renew(s, ca, d->datadir, NULL, 0, 0, "daemon", log_line, NULL, &oc, &n,
	    &e) != VP_OK) {
		vpd_log("components: the certificate check failed: %s", e.msg);
		return;
	}
	for (i = 0; i < n; i++)
		renewed += oc[i].renewed[0] || oc[i].renewed[1];
	if (n > 0)
		vpd_log("components: %zu checked, %zu renewed", n, renewed);
	free(oc);
}

int
vpd_serve(const vpd_opts *o)
{
	vpd d;
	vp_store *s = NULL;
	vp_ca *ca = NULL;
	vp_error e = { 0 };
	vp_servercert_status st;
	sigset_t sigs;
	char *addrs[VPD_LISTEN_MAX], *token = NULL;
	int reserve[VPD_LISTEN_MAX];
	size_t naddrs = 0, i;
	int rc = 1, renewed = 0, ntokens = 0, committer_up = 0, watcher_up = 0;

	memset(&d, 0, sizeof(d));
	memset(addrs, 0, sizeof(addrs));
	for (i = 0; i < VPD_LISTEN_MAX; i++)
		reserve[i] = -1;
	d.o = *o;
	d.started_at = (int64_t)time(NULL);
	pthread_mutex_init(&d.ca_mu, NULL);
	pthread_mutex_init(&d.ca_refresh_mu, NULL);
	pthread_mutex_init(&d.tls_mu, NULL);
	pthread_mutex_init(&d.reload_mu, NULL);
	pthread_mutex_init(&d.watch_mu, NULL);
	pthread_cond_init(&d.watch_cv, NULL);

	/* Signals are taken by sigwait in this thread alone: block them before any thread. */
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	raise_nofile();
	if (evthread_use_pthreads() != 0) {
		fprintf(stderr, "vmspki: libevent has no thread support\n");
		goto out;
	}

	if ((d.datadir = vp_strdup(o->datadir)) == NULL ||
	    vp_datadir_open(o->datadir, &d.dd, &e) != VP_OK ||
	    (d.dbpath = vp_strdup(o->store != NULL ? o->store :
	    vp_datadir_path(d.dd, VP_PATH_DB))) == NULL ||
	    (d.rl = vpd_rl_new(10, 10, 60, 4096)) == NULL) {
		fprintf(stderr, "vmspki: out of memory\n");
		goto out;
	}
	for (i = 0; i < (o->nlisten > 0 ? o->nlisten : 2); i++) {
		if ((addrs[i] = vp_strdup(o->nlisten > 0 ? o->listen[i] : default_listen[i])) ==
		    NULL) {
			fprintf(stderr, "vmspki: out of memory\n");
			goto out;
		}
		naddrs++;
	}
	if (resolve_addrs(addrs, &naddrs, reserve, o->nlisten == 0) != 0)
		goto out;
	if (vp_mkdir_p(d.datadir, 0700, &e) != VP_OK || vp_store_open(d.dbpath, &s, &e) != VP_OK) {
		fprintf(stderr, "vmspki: %s\n", e.msg);
		goto out;
	}
	if (load_ca(&d, s, &ca) != 0)
		goto out;
	if (vp_servercert_ensure(s, ca, d.datadir, 0, "daemon", &renewed, &st, &e) != VP_OK) {
		fprintf(stderr, "vmspki: cannot make the server certificate: %s\n", e.msg);
		goto out;
	}
	if (renewed)
		vpd_log("made a new server certificate, serial %s", st.serial);
	else if (st.reason[0] != '\0')
		vpd_log("the server certificate is kept although %s (it was imported: `vmspki "
		    "server-cert renew` replaces it)", st.reason);
	check_components(&d, s, ca);
	/* The device inventory stores passwords under the site data key: opened once here. */
	if (vp_sitekey_open(s, d.passphrase, &d.sitekey, &e) != VP_OK)
		vpd_log("devices cannot be added: %s", e.msg);
	vpd_ca_set(&d, ca);
	{
		vp_ca_transition tr;
		vp_error te = { 0 };

		if (vp_ca_transition_get(s, &tr, &te) == VP_OK)
			d.ca_replace_task = tr.task;
	}
	ca = NULL;
	if (vpd_tls_reload(&d, 1) != 1) {
		fprintf(stderr, "vmspki: cannot serve HTTPS with the server certificate in %s/certs\n",
		    d.datadir);
		goto out;
	}
	if (vp_token_list(s, count_token, &ntokens, &e) != VP_OK) {
		fprintf(stderr, "vmspki: %s\n", e.msg);
		goto out;
	}
	if (ntokens == 0) {
		if (vp_token_create(s, "admin", "admin", "daemon", &token, &e) != VP_OK) {
			fprintf(stderr, "vmspki: cannot make the first API token: %s\n", e.msg);
			goto out;
		}
		vpd_log("made the first API token, \"admin\" (printed once on standard output)");
	}
	vp_store_close(s);
	s = NULL;
	/* The web UI: a directory given must be right; the default one may be missing. */
	if (!o->no_web) {
		if ((d.web = vpd_web_load(o->web_dir, &e)) != NULL) {
			vpd_log("web UI: %zu files from %s", vpd_web_count(d.web), vpd_web_dir(d.web));
		} else if (o->web_dir != NULL) {
			fprintf(stderr, "vmspki: %s\n", e.msg);
			goto out;
		} else {
			vpd_log("the web UI is not served: %s", e.msg);
		}
	}

	d.nworkers = o->threads > 0 ? (o->threads > VPD_THREADS_MAX ? VPD_THREADS_MAX :
	    o->threads) : nproc();
	if ((d.workers = calloc((size_t)d.nworkers, sizeof(*d.workers))) == NULL) {
		fprintf(stderr, "vmspki: out of memory\n");
		goto out;
	}
	for (int k = 0; k < d.nworkers; k++) {
		if ((d.workers[k] = vpd_worker_new(&d, k, &e)) == NULL ||
		    vpd_worker_listen(d.workers[k], (const char *const *)addrs, naddrs, &e) != 0) {
			fprintf(stderr, "vmspki: %s\n", e.msg);
			goto out;
		}
	}
	for (i = 0; i < naddrs; i++)
		if (reserve[i] >= 0) {
			close(reserve[i]);
			reserve[i] = -1;
		}
	if ((d.committer = vpd_committer_start(&d, &e)) == NULL) {
		fprintf(stderr, "vmspki: %s\n", e.msg);
		goto out;
	}
	committer_up = 1;
	if ((d.pool = vpd_pool_start(&d, d.nworkers > 2 ? d.nworkers : 2, &e)) == NULL) {
		fprintf(stderr, "vmspki: %s\n", e.msg);
		goto out;
	}
	if (vpd_watcher_start(&d, &e) != VP_OK) {
		fprintf(stderr, "vmspki: %s\n", e.msg);
		goto out;
	}
	watcher_up = 1;
	if (!o->no_engine && vpd_engine_start(&d, &e) != VP_OK)
		vpd_log("tasks will not run: %s", e.msg);
	if (vpd_alarmd_start(&d, &e) != VP_OK)
		vpd_log("alarms will not be delivered: %s", e.msg);
	if (vpd_sched_start(&d, &e) != VP_OK)
		vpd_log("the nightly job and endpoint checks will not run: %s", e.msg);
	for (int k = 0; k < d.nworkers; k++)
		if (vpd_worker_start(d.workers[k], &e) != VP_OK) {
			fprintf(stderr, "vmspki: %s\n", e.msg);
			goto out;
		}
	print_banner(&d, addrs, naddrs, token);
	if (token != NULL) {
		vp_secret_free_str(token);
		token = NULL;
	}
	{
		char list[600] = "";

		for (i = 0; i < naddrs; i++) {
			strncat(list, i > 0 ? " " : "", sizeof(list) - strlen(list) - 1);
			strncat(list, addrs[i], sizeof(list) - strlen(list) - 1);
		}
		vpd_log("serving HTTPS on %s with %d threads (pid %ld)", list, d.nworkers,
		    (long)getpid());
	}

	for (;;) {
		int sig = 0;

		if (sigwait(&sigs, &sig) != 0)
			continue;
		if (sig == SIGHUP) {
			vpd_log("SIGHUP: reloading the server certificate");
			pthread_mutex_lock(&d.watch_mu);
			d.watch_now = 1;
			pthread_cond_signal(&d.watch_cv);
			pthread_mutex_unlock(&d.watch_mu);
			continue;
		}
		vpd_log("%s: no new connections; finishing the requests in flight (at most %d s)",
		    sig == SIGTERM ? "SIGTERM" : "SIGINT", VPD_DRAIN_TIMEOUT);
		break;
	}
	rc = 0;
out:
	atomic_store(&d.stopping, 1);
	for (int k = 0; d.workers != NULL && k < d.nworkers; k++)
		vpd_worker_stop(d.workers[k]);
	for (int k = 0; d.workers != NULL && k < d.nworkers; k++)
		vpd_worker_join(d.workers[k]);
	vpd_sched_stop(&d);
	vpd_alarmd_stop(&d);     /* at most one webhook attempt to wait for */
	vpd_engine_stop(&d);     /* devices in the middle resume at the next start */
	vpd_pool_stop(d.pool);   /* idle: the workers waited for their jobs */
	if (committer_up)
		vpd_committer_stop(d.committer);
	if (watcher_up)
		vpd_watcher_stop(&d);
	for (int k = 0; d.workers != NULL && k < d.nworkers; k++)
		vpd_worker_free(d.workers[k]);
	free(d.workers);
	for (i = 0; i < VPD_LISTEN_MAX; i++) {
		if (reserve[i] >= 0)
			close(reserve[i]);
		free(addrs[i]);
	}
	if (token != NULL)
		vp_secret_free_str(token);
	vp_store_close(s);
	vp_ca_free(ca);
	vpd_ca_put(d.ca);
	SSL_CTX_free(d.tls);
	vpd_rl_free(d.rl);
	vpd_web_free(d.web);
	vp_sitekey_free(d.sitekey);
	if (d.passphrase != NULL)
		vp_secret_free_str(d.passphrase);
	free(d.datadir);
	vp_datadir_close(d.dd);
	vp_secret_free_str(d.dbpath);   /* a store URI may hold a password */
	pthread_cond_destroy(&d.watch_cv);
	pthread_mutex_destroy(&d.watch_mu);
	pthread_mutex_destroy(&d.reload_mu);
	pthread_mutex_destroy(&d.tls_mu);
	pthread_mutex_destroy(&d.ca_mu);
	pthread_mutex_destroy(&d.ca_refresh_mu);
	libevent_global_shutdown();
	if (rc == 0)
		vpd_log("stopped");
	return rc;
}
