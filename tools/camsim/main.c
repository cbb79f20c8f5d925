/* camsim: a fleet of simulated Axis cameras in one process, for vmspki's tests, demos and
 * benchmarks. Reads its options, loads the fleet and each device's state, opens the ports and
 * runs the event loop until SIGTERM (then exit 0). See tools/camsim/README.md. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <event2/event.h>
#include <event2/http.h>
#include <event2/thread.h>
#include <libxml/parser.h>
#include <openssl/crypto.h>

#include "camsim.h"

int cs_quiet;

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: camsim --state DIR (--count N [--first 127.20.0.1] [--firmware V] | --fleet FILE)\n"
	    "              [--keygen-delay-ms N] [--csv-out FILE] [--http-port N] [--https-port N]\n"
	    "              [--control ADDR:PORT] [--user U] [--password P] [--nonce-lifetime S]\n"
	    "              [--hang S] [--keygen-threads N] [--key-pool N] [--quiet]\n"
	    "Simulates Axis cameras on loopback addresses until SIGTERM. See tools/camsim/README.md.\n");
}

static int
num(const char *opt, const char *s, long min, long max, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || end == s || v < min || v > max) {
		fprintf(stderr, "camsim: %s must be a number from %ld to %ld\n", opt, min, max);
		return -1;
	}
	*out = v;
	return 0;
}

static void
on_signal(evutil_socket_t sig, short what, void *arg)
{
	camsim *cs = arg;

	(void)what;
	cs_logf("camsim: signal %d: stopping", (int)sig);
	event_base_loopexit(cs->base, NULL);
}

static int
mkdir_p(const char *dir)
{
	char *p = cs_strdup(dir);
	int rc = 0;

	if (p == NULL)
		return -1;
	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, 0755) != 0 && errno != EEXIST)
			rc = -1;
		*s = '/';
	}
	if (mkdir(p, 0755) != 0 && errno != EEXIST)
		rc = -1;
	free(p);
	return rc;
}

static void
devices_free(camsim *cs)
{
	for (size_t i = 0; i < cs->ndevs; i++) {
		cs_device *d = &cs->devs[i];

		for (size_t k = 0; k < d->ncerts; k++) {
			EVP_PKEY_free(d->certs[k].key);
			X509_free(d->certs[k].cert);
			sk_X509_pop_free(d->certs[k].chain, X509_free);
		}
		free(d->certs);
		for (size_t k = 0; k < d->ncas; k++)
			X509_free(d->cas[k].cert);
		free(d->cas);
		for (size_t k = 0; k < d->nbound_cas; k++)
			free(d->bound_cas[k]);
		free(d->bound_cas);
		OPENSSL_cleanse(d->password, sizeof(d->password));
		OPENSSL_cleanse(d->nonce_key, sizeof(d->nonce_key));
	}
	free(cs->devs);
	cs->devs = NULL;
	cs->ndevs = 0;
}

int
main(int argc, char **argv)
{
	enum { O_STATE = 256, O_COUNT, O_FIRST, O_FIRMWARE, O_FLEET, O_DELAY, O_CSV, O_HTTP,
		O_HTTPS, O_CONTROL, O_USER, O_PASSWORD, O_NONCE, O_HANG, O_THREADS, O_POOL,
		O_QUIET, O_HELP };
	static const struct option longopts[] = {
		{ "state", required_argument, NULL, O_STATE },
		{ "count", required_argument, NULL, O_COUNT },
		{ "first", required_argument, NULL, O_FIRST },
		{ "firmware", required_argument, NULL, O_FIRMWARE },
		{ "fleet", required_argument, NULL, O_FLEET },
		{ "keygen-delay-ms", required_argument, NULL, O_DELAY },
		{ "csv-out", required_argument, NULL, O_CSV },
		{ "http-port", required_argument, NULL, O_HTTP },
		{ "https-port", required_argument, NULL, O_HTTPS },
		{ "control", required_argument, NULL, O_CONTROL },
		{ "user", required_argument, NULL, O_USER },
		{ "password", required_argument, NULL, O_PASSWORD },
		{ "nonce-lifetime", required_argument, NULL, O_NONCE },
		{ "hang", required_argument, NULL, O_HANG },
		{ "keygen-threads", required_argument, NULL, O_THREADS },
		{ "key-pool", required_argument, NULL, O_POOL },
		{ "quiet", no_argument, NULL, O_QUIET },
		{ "help", no_argument, NULL, O_HELP },
		{ NULL, 0, NULL, 0 },
	};
	cs_opts o = { .keygen_delay_ms = 2000, .http_port = 80, .https_port = 443,
		.user = "root", .password = "camsim", .nonce_lifetime_s = 300, .hang_s = 300,
		.keygen_threads = 2 };
	camsim cs = { 0 };
	char err[512];
	struct rlimit rl;
	long v, pool = 0;
	int c, rc = 1;
	size_t listeners = 0;

	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case O_STATE: o.state_dir = optarg; break;
		case O_COUNT:
			if (num("--count", optarg, 1, 100000, &o.count) != 0)
				return 2;
			break;
		case O_FIRST: o.first = optarg; break;
		case O_FIRMWARE: o.firmware = optarg; break;
		case O_FLEET: o.fleet = optarg; break;
		case O_DELAY:
			if (num("--keygen-delay-ms", optarg, 0, 600000, &o.keygen_delay_ms) != 0)
				return 2;
			break;
		case O_CSV: o.csv_out = optarg; break;
		case O_HTTP:
			if (num("--http-port", optarg, 1, 65535, &v) != 0)
				return 2;
			o.http_port = (int)v;
			break;
		case O_HTTPS:
			if (num("--https-port", optarg, 1, 65535, &v) != 0)
				return 2;
			o.https_port = (int)v;
			break;
		case O_CONTROL: o.control = optarg; break;
		case O_USER: o.user = optarg; break;
		case O_PASSWORD: o.password = optarg; break;
		case O_NONCE:
			if (num("--nonce-lifetime", optarg, 1, 86400, &o.nonce_lifetime_s) != 0)
				return 2;
			break;
		case O_HANG:
			if (num("--hang", optarg, 1, 86400, &v) != 0)
				return 2;
			o.hang_s = (int)v;
			break;
		case O_THREADS:
			if (num("--keygen-threads", optarg, 1, 64, &v) != 0)
				return 2;
			o.keygen_threads = (int)v;
			break;
		case O_POOL:
			if (num("--key-pool", optarg, 0, 100000, &pool) != 0)
				return 2;
			break;
		case O_QUIET: cs_quiet = 1; break;
		case O_HELP: usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc || o.state_dir == NULL || (o.count > 0) == (o.fleet != NULL) ||
	    (o.fleet != NULL && (o.first != NULL || o.firmware != NULL))) {
		fprintf(stderr, "camsim: give --state DIR and either --count N (with --first and "
		    "--firmware if wanted) or --fleet FILE\n");
		usage(stderr);
		return 2;
	}
	if (o.http_port == o.https_port) {
		fprintf(stderr, "camsim: --http-port and --https-port must differ\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	cs.keygen_delay_ms = o.keygen_delay_ms;
	cs.nonce_lifetime_s = o.nonce_lifetime_s;
	cs.hang_s = o.hang_s;
	cs.key_pool = (int)pool;
	if ((cs.state_dir = cs_strdup(o.state_dir)) == NULL || mkdir_p(cs.state_dir) != 0) {
		fprintf(stderr, "camsim: cannot make the state directory %s: %s\n", o.state_dir,
		    strerror(errno));
		goto out;
	}
	if (cs_fleet_build(&cs, &o, err, sizeof(err)) != 0) {
		fprintf(stderr, "camsim: %s\n", err);
		goto out;
	}
	/* Two listeners a device, plus their connections: raise the descriptor limit. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	listeners = cs.ndevs * 2;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    rl.rlim_cur < listeners + 256) {
		fprintf(stderr, "camsim: %zu devices need about %zu file descriptors; the limit is "
		    "%llu (raise it with ulimit -n)\n", cs.ndevs, listeners + 256,
		    (unsigned long long)rl.rlim_cur);
		goto out;
	}
	if (evthread_use_pthreads() != 0 || (cs.base = event_base_new()) == NULL) {
		fprintf(stderr, "camsim: cannot make the event loop\n");
		goto out;
	}
	xmlInitParser();
	for (size_t i = 0; i < cs.ndevs; i++) {
		if (cs_state_load(&cs.devs[i], err, sizeof(err)) != 0) {
			fprintf(stderr, "camsim: %s\n", err);
			goto out;
		}
	}
	if (cs_keygen_init(&cs, o.keygen_threads) != 0) {
		fprintf(stderr, "camsim: cannot start the key generation threads\n");
		goto out;
	}
	if (cs_server_init(&cs) != 0) {
		fprintf(stderr, "camsim: cannot open the devices' ports (is another camsim or "
		    "server using them? tests run as root for ports below 1024)\n");
		goto out;
	}
	if (o.control != NULL && cs_control_start(&cs, o.control, err, sizeof(err)) != 0) {
		fprintf(stderr, "camsim: %s\n", err);
		goto out;
	}
	if (o.csv_out != NULL && cs_fleet_csv_out(&cs, o.csv_out, err, sizeof(err)) != 0) {
		fprintf(stderr, "camsim: %s\n", err);
		goto out;
	}
	cs.sig_term = evsignal_new(cs.base, SIGTERM, on_signal, &cs);
	cs.sig_int = evsignal_new(cs.base, SIGINT, on_signal, &cs);
	if (cs.sig_term == NULL || cs.sig_int == NULL || evsignal_add(cs.sig_term, NULL) != 0 ||
	    evsignal_add(cs.sig_int, NULL) != 0) {
		fprintf(stderr, "camsim: cannot catch signals\n");
		goto out;
	}
	cs_logf("camsim: ready: %zu devices (%s to %s), HTTP port %d, HTTPS port %d%s%s",
	    cs.ndevs, cs.devs[0].address, cs.devs[cs.ndevs - 1].address, cs.devs[0].http_port,
	    cs.devs[0].https_port, o.control != NULL ? ", control on " : "",
	    o.control != NULL ? o.control : "");
	if (event_base_dispatch(cs.base) != 0) {
		fprintf(stderr, "camsim: the event loop failed\n");
		goto out;
	}
	rc = 0;
out:
	cs_keygen_shutdown();
	if (cs.tls_ctx != NULL || cs.ndevs > 0)
		cs_server_shutdown(&cs);
	if (cs.control != NULL)
		evhttp_free(cs.control);
	if (cs.sig_term != NULL)
		event_free(cs.sig_term);
	if (cs.sig_int != NULL)
		event_free(cs.sig_int);
	devices_free(&cs);
	if (cs.base != NULL)
		event_base_free(cs.base);
	free(cs.state_dir);
	xmlCleanupParser();
	return rc;
}
