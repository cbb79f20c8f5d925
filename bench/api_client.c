/* Load generator of bench/api: C keep-alive connections (one thread, libcurl's multi_socket
 * interface on epoll) posting CSRs to `vmspki serve` (HTTPS, POST /api/v1/issue) or `cfssl
 * serve` (HTTPS or HTTP, /api/v1/cfssl/sign) and timing each request, so that both daemons see the same
 * client and the same concurrency. It shares the cores with the daemon it measures, so it is
 * kept cheap: about 0.15 ms of CPU per request.
 *
 * usage: vmspki-bench-api [-m vmspki|cfssl] [-c CONNS] [-a CAFILE] [-t TOKENFILE]
 *                         [-s SAMPLEDIR] [-S SERIALFILE] [-L LATFILE] URL CSR_LIST
 *   -m  what answers at URL (default vmspki)
 *   -c  concurrent connections, each reused for request after request (default 8)
 *   -a  the CA certificate to verify an HTTPS server against (full verification); needed
 *       for vmspki
 *   -t  vmspki: a file holding the bearer token (kept off the command line)
 *   -s  the certificates of the first few CSRs are written there (for openssl verify)
 *   -S  the serial of every certificate received, one a line (vmspki: checked in the store)
 *   -L  every request's latency in milliseconds, one a line (for percentiles over several runs)
 * CSR_LIST names one CSR (PEM) per line; its CN goes into "dns" for vmspki. Prints one line
 * "certs=S failed=F seconds=W rate=R connections=K p50_ms=.. p90_ms=.. p99_ms=.. max_ms=..
 * client_cpu_s=..". Counted: vmspki 201 answers with a PEM certificate and a serial; cfssl
 * 2xx answers whose JSON says success with a PEM certificate. Exit status 0 when every CSR got
 * a certificate. Request bodies are built before the clock starts; a request's latency runs
 * from handing it to libcurl to its last byte (monotonic clock). */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#define BA_RESPONSE_MAX (256u * 1024u) /* a certificate answer is a few kB */
#define BA_FILE_MAX (64u * 1024u)      /* a CSR, a token */
#define BA_CONNS_MAX 1024
#define BA_SAMPLES 4

typedef enum ba_mode { BA_VMSPKI, BA_CFSSL } ba_mode;

typedef struct ba_buf {
	char *p;
	size_t len, cap;
	int overflow;
} ba_buf;

typedef struct ba_job {
	char *path;
	char *body;     /* JSON request */
	size_t body_len;
	ba_buf answer;  /* kept until the timed part is over, then checked */
	long status;    /* HTTP status, 0 when the transfer failed */
	double lat;     /* seconds */
} ba_job;

typedef struct ba_slot {
	CURL *h;
	size_t job;
	double t0;
	char errbuf[CURL_ERROR_SIZE];
} ba_slot;

typedef struct ba_run {
	ba_mode mode;
	const char *url;
	const char *cafile;
	const char *sample_dir;
	FILE *serials;
	struct curl_slist *hdr;
	ba_job *jobs;
	size_t njobs;
	double *lat;          /* seconds, one per successful request, after the checks */
	size_t ok, failed;
	long connects;
	int reported;         /* the first failure is printed, the rest counted */
	CURLM *multi;
	int ep;               /* epoll: the sockets libcurl asks us to watch */
	double deadline;      /* libcurl's timer, monotonic seconds; 0 when none */
} ba_run;

static double
ba_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void ba_report(ba_run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
ba_report(ba_run *r, const char *fmt, ...)
{
	va_list ap;

	if (r->reported)
		return;
	r->reported = 1;
	fprintf(stderr, "api client: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static size_t
ba_write_cb(char *data, size_t size, size_t nmemb, void *arg)
{
	ba_buf *b = arg;
	size_t n = size * nmemb;

	if (b->overflow || n > BA_RESPONSE_MAX - b->len) {
		b->overflow = 1;
		return 0; /* curl aborts the transfer: a broken peer cannot grow us */
	}
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 8192;
		char *p;

		while (cap < b->len + n + 1)
			cap *= 2;
		if ((p = realloc(b->p, cap)) == NULL)
			return 0;
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, data, n);
	b->len += n;
	b->p[b->len] = '\0';
	return n;
}

static char *
ba_slurp(const char *path, size_t *lenp)
{
	FILE *f;
	char *buf = NULL;
	long sz;

	if ((f = fopen(path, "rb")) == NULL)
		return NULL;
	if (fseek(f, 0, SEEK_END) != 0 || (sz = ftell(f)) < 0 || sz > (long)BA_FILE_MAX ||
	    fseek(f, 0, SEEK_SET) != 0)
		goto out;
	if ((buf = malloc((size_t)sz + 1)) == NULL)
		goto out;
	if (fread(buf, 1, (size_t)sz, f) != (size_t)sz) {
		free(buf);
		buf = NULL;
		goto out;
	}
	buf[sz] = '\0';
	*lenp = (size_t)sz;
out:
	fclose(f);
	return buf;
}

/* The CSR's subject CN as UTF-8 (malloc'd), or NULL. */
static char *
ba_csr_cn(const char *pem, size_t len)
{
	BIO *bio = BIO_new_mem_buf(pem, (int)len);
	X509_REQ *req = bio != NULL ? PEM_read_bio_X509_REQ(bio, NULL, NULL, NULL) : NULL;
	const X509_NAME *name = req != NULL ? X509_REQ_get_subject_name(req) : NULL;
	unsigned char *utf8 = NULL;
	char *cn = NULL;
	int i, n;

	if (name == NULL || (i = X509_NAME_get_index_by_NID(name, NID_commonName, -1)) < 0)
		goto out;
	n = ASN1_STRING_to_UTF8(&utf8,
	    X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i)));
	if (n > 0 && (cn = malloc((size_t)n + 1)) != NULL) {
		memcpy(cn, utf8, (size_t)n);
		cn[n] = '\0';
	}
out:
	OPENSSL_free(utf8);
	X509_REQ_free(req);
	BIO_free(bio);
	return cn;
}

/* Reads the CSR list and builds each request body. */
static int
ba_load_jobs(ba_run *r, const char *list)
{
	FILE *f;
	char line[4096];
	size_t cap = 0;
	int ret = -1;

	if ((f = fopen(list, "r")) == NULL) {
		fprintf(stderr, "api client: cannot open the CSR list %s: %s\n", list,
		    strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		size_t n = strcspn(line, "\r\n"), pem_len = 0;
		char *pem = NULL, *cn = NULL;
		json_t *o = NULL;
		ba_job *j;

		line[n] = '\0';
		if (n == 0)
			continue;
		if (r->njobs == cap) {
			size_t ncap = cap ? cap * 2 : 1024;

			if ((j = realloc(r->jobs, ncap * sizeof(*j))) == NULL)
				goto out;
			r->jobs = j;
			cap = ncap;
		}
		j = &r->jobs[r->njobs];
		memset(j, 0, sizeof(*j));
		if ((pem = ba_slurp(line, &pem_len)) == NULL) {
			fprintf(stderr, "api client: cannot read the CSR %s\n", line);
			goto out;
		}
		if (r->mode == BA_CFSSL) {
			o = json_pack("{s:s%}", "certificate_request", pem, pem_len);
		} else if ((cn = ba_csr_cn(pem, pem_len)) == NULL) {
			fprintf(stderr, "api client: %s is not a PEM CSR with a CN\n", line);
			free(pem);
			goto out;
		} else {
			o = json_pack("{s:s,s:s%,s:[s]}", "profile", "server", "csr", pem, pem_len,
			    "dns", cn);
		}
		free(pem);
		free(cn);
		if (o == NULL) {
			fprintf(stderr, "api client: cannot build the request for %s\n", line);
			goto out;
		}
		j->body = json_dumps(o, JSON_COMPACT);
		json_decref(o);
		if (j->body == NULL || (j->path = strdup(line)) == NULL) {
			free(j->body);
			goto out;
		}
		j->body_len = strlen(j->body);
		r->njobs++;
	}
	if (r->njobs == 0) {
		fprintf(stderr, "api client: the CSR list %s is empty\n", list);
		goto out;
	}
	ret = 0;
out:
	fclose(f);
	return ret;
}

static void
ba_write_sample(const ba_run *r, size_t i, const char *pem)
{
	char path[4096];
	FILE *f;

	if (r->sample_dir == NULL || i >= BA_SAMPLES)
		return;
	snprintf(path, sizeof(path), "%s/%s-%zu.pem", r->sample_dir,
	    r->mode == BA_CFSSL ? "cfssl" : "vmspki", i);
	if ((f = fopen(path, "w")) == NULL)
		return;
	fputs(pem, f);
	fclose(f);
}

/* 1 when the answer carries a certificate, 0 otherwise. */
static int
ba_check_answer(ba_run *r, size_t i, long status, const ba_buf *resp)
{
	json_t *root = NULL, *cert, *serial = NULL;
	json_error_t jerr;
	const char *pem;
	int ok = 0;

	if (r->mode == BA_VMSPKI ? status != 201 : (status < 200 || status > 299)) {
		ba_report(r, "HTTP status %ld for %s: %.300s", status, r->jobs[i].path,
		    resp->p ? resp->p : "");
		goto out;
	}
	if (resp->p == NULL || (root = json_loadb(resp->p, resp->len, 0, &jerr)) == NULL) {
		ba_report(r, "the answer for %s is not JSON", r->jobs[i].path);
		goto out;
	}
	if (r->mode == BA_CFSSL) {
		json_t *result = json_object_get(root, "result");

		cert = result != NULL ? json_object_get(result, "certificate") : NULL;
		if (!json_is_true(json_object_get(root, "success")))
			cert = NULL;
	} else {
		cert = json_object_get(root, "certificate");
		serial = json_object_get(root, "serial");
		if (!json_is_string(serial) || json_string_length(serial) == 0)
			cert = NULL;
	}
	if (!json_is_string(cert) || strncmp((pem = json_string_value(cert)),
	    "-----BEGIN CERTIFICATE-----", 27) != 0) {
		ba_report(r, "no certificate in the answer for %s: %.300s", r->jobs[i].path,
		    resp->p);
		goto out;
	}
	ba_write_sample(r, i, pem);
	if (r->serials != NULL && serial != NULL)
		fprintf(r->serials, "%s\n", json_string_value(serial));
	ok = 1;
out:
	json_decref(root);
	return ok;
}

/* libcurl's socket callback: which events of which socket to wait for (multi_socket API, so
 * that libcurl does not poll every transfer itself on each turn). */
static int
ba_socket_cb(CURL *h, curl_socket_t fd, int what, void *arg, void *sockp)
{
	ba_run *r = arg;
	struct epoll_event ev;

	(void)h;
	if (what == CURL_POLL_REMOVE) {
		if (sockp != NULL)
			epoll_ctl(r->ep, EPOLL_CTL_DEL, fd, NULL);
		return 0;
	}
	memset(&ev, 0, sizeof(ev));
	ev.data.fd = fd;
	ev.events = (what & CURL_POLL_IN ? EPOLLIN : 0) | (what & CURL_POLL_OUT ? EPOLLOUT : 0);
	if (sockp == NULL) {
		if (epoll_ctl(r->ep, EPOLL_CTL_ADD, fd, &ev) != 0)
			return -1;
		curl_multi_assign(r->multi, fd, r);   /* marks fd as watched */
	} else if (epoll_ctl(r->ep, EPOLL_CTL_MOD, fd, &ev) != 0) {
		return -1;
	}
	return 0;
}

static int
ba_timer_cb(CURLM *m, long ms, void *arg)
{
	ba_run *r = arg;

	(void)m;
	r->deadline = ms < 0 ? 0 : ba_now() + (double)ms / 1000.0;
	return 0;
}

static int
ba_slot_init(ba_run *r, ba_slot *s)
{
	if ((s->h = curl_easy_init()) == NULL)
		return -1;
	curl_easy_setopt(s->h, CURLOPT_URL, r->url);
	curl_easy_setopt(s->h, CURLOPT_HTTPHEADER, r->hdr);
	curl_easy_setopt(s->h, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
	curl_easy_setopt(s->h, CURLOPT_WRITEFUNCTION, ba_write_cb);
	curl_easy_setopt(s->h, CURLOPT_ERRORBUFFER, s->errbuf);
	curl_easy_setopt(s->h, CURLOPT_PRIVATE, s);
	curl_easy_setopt(s->h, CURLOPT_TCP_NODELAY, 1L);
	curl_easy_setopt(s->h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(s->h, CURLOPT_TIMEOUT, 120L);
	if (r->cafile != NULL) {
		/* Full verification: the chain to the CA and the name in the URL. */
		curl_easy_setopt(s->h, CURLOPT_CAINFO, r->cafile);
		curl_easy_setopt(s->h, CURLOPT_SSL_VERIFYPEER, 1L);
		curl_easy_setopt(s->h, CURLOPT_SSL_VERIFYHOST, 2L);
	}
	return 0;
}

static void
ba_slot_start(ba_run *r, CURLM *m, ba_slot *s, size_t job)
{
	s->job = job;
	s->errbuf[0] = '\0';
	curl_easy_setopt(s->h, CURLOPT_WRITEDATA, &r->jobs[job].answer);
	curl_easy_setopt(s->h, CURLOPT_POSTFIELDS, r->jobs[job].body);
	curl_easy_setopt(s->h, CURLOPT_POSTFIELDSIZE, (long)r->jobs[job].body_len);
	s->t0 = ba_now();
	curl_multi_add_handle(m, s->h);
}

/* A transfer ended: records its status and latency. Its answer is checked after the timed
 * part (ba_check_all), so that parsing it does not take the cores from the server. */
static void
ba_slot_done(ba_run *r, ba_slot *s, CURLcode rc, double t1)
{
	ba_job *j = &r->jobs[s->job];
	long nconn = 0;

	curl_easy_getinfo(s->h, CURLINFO_NUM_CONNECTS, &nconn);
	r->connects += nconn;
	j->lat = t1 - s->t0;
	if (rc != CURLE_OK) {
		ba_report(r, "the request for %s failed: %s", j->path,
		    s->errbuf[0] ? s->errbuf : curl_easy_strerror(rc));
		j->status = 0;
		return;
	}
	curl_easy_getinfo(s->h, CURLINFO_RESPONSE_CODE, &j->status);
}

/* Every answer checked, in the order of the list; the latencies of the good ones kept. */
static void
ba_check_all(ba_run *r)
{
	for (size_t i = 0; i < r->njobs; i++) {
		ba_job *j = &r->jobs[i];

		if (j->status != 0 && ba_check_answer(r, i, j->status, &j->answer))
			r->lat[r->ok++] = j->lat;
		else
			r->failed++;
	}
}

static int
ba_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Nearest-rank percentile of sorted v[0..n), in milliseconds. */
static double
ba_pct(const double *v, size_t n, double p)
{
	size_t k;

	if (n == 0)
		return 0;
	k = (size_t)(p / 100.0 * (double)n + 0.999999);
	if (k < 1)
		k = 1;
	if (k > n)
		k = n;
	return v[k - 1] * 1000.0;
}

static double
ba_cpu_seconds(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru) != 0)
		return 0;
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	    (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* Token file to "Authorization: Bearer ..." (the token's trailing newline dropped). */
static int
ba_auth_header(ba_run *r, const char *tokenfile)
{
	char *tok, *hdr;
	size_t len, n;
	struct curl_slist *l;

	if ((tok = ba_slurp(tokenfile, &len)) == NULL) {
		fprintf(stderr, "api client: cannot read the token file %s\n", tokenfile);
		return -1;
	}
	n = strcspn(tok, "\r\n");
	tok[n] = '\0';
	if (n == 0 || (hdr = malloc(n + 32)) == NULL) {
		fprintf(stderr, "api client: the token file %s is empty\n", tokenfile);
		OPENSSL_cleanse(tok, len);
		free(tok);
		return -1;
	}
	snprintf(hdr, n + 32, "Authorization: Bearer %s", tok);
	l = curl_slist_append(r->hdr, hdr);
	OPENSSL_cleanse(hdr, n + 32);
	OPENSSL_cleanse(tok, len);
	free(hdr);
	free(tok);
	if (l == NULL)
		return -1;
	r->hdr = l;
	return 0;
}

static void
usage(const char *argv0)
{
	fprintf(stderr, "usage: %s [-m vmspki|cfssl] [-c CONNS] [-a CAFILE] [-t TOKENFILE] "
	    "[-s SAMPLEDIR] [-S SERIALFILE] [-L LATFILE] URL CSR_LIST\n", argv0);
}

/* -L: the latencies of the successful requests, in milliseconds, one a line. */
static int
ba_write_latencies(const char *path, const double *lat, size_t n)
{
	FILE *f = fopen(path, "w");
	size_t i;

	if (f == NULL) {
		fprintf(stderr, "api client: cannot write %s: %s\n", path, strerror(errno));
		return -1;
	}
	for (i = 0; i < n; i++)
		fprintf(f, "%.3f\n", lat[i] * 1000.0);
	if (fclose(f) != 0) {
		fprintf(stderr, "api client: cannot write %s\n", path);
		return -1;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	ba_run r;
	ba_slot *slots = NULL;
	CURLM *m = NULL;
	const char *tokenfile = NULL, *serialfile = NULL, *latfile = NULL;
	long conns = 8;
	size_t next = 0, active = 0, i;
	double t0, t1, cpu0, cpu1;
	int opt, ret = 1, running;

	memset(&r, 0, sizeof(r));
	r.ep = -1;
	while ((opt = getopt(argc, argv, "m:c:a:t:s:S:L:h")) != -1) {
		char *end;

		switch (opt) {
		case 'm':
			if (strcmp(optarg, "vmspki") == 0)
				r.mode = BA_VMSPKI;
			else if (strcmp(optarg, "cfssl") == 0)
				r.mode = BA_CFSSL;
			else {
				fprintf(stderr, "api client: -m takes vmspki or cfssl\n");
				return 2;
			}
			break;
		case 'c':
			conns = strtol(optarg, &end, 10);
			if (*end != '\0' || conns < 1 || conns > BA_CONNS_MAX) {
				fprintf(stderr, "api client: -c takes 1..%d connections\n",
				    BA_CONNS_MAX);
				return 2;
			}
			break;
		case 'a': r.cafile = optarg; break;
		case 't': tokenfile = optarg; break;
		case 's': r.sample_dir = optarg; break;
		case 'S': serialfile = optarg; break;
		case 'L': latfile = optarg; break;
		default:
			usage(argv[0]);
			return 2;
		}
	}
	if (argc - optind != 2) {
		usage(argv[0]);
		return 2;
	}
	r.url = argv[optind];
	if (r.mode == BA_VMSPKI && (r.cafile == NULL || tokenfile == NULL)) {
		fprintf(stderr, "api client: vmspki needs -a CAFILE and -t TOKENFILE\n");
		return 2;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		fprintf(stderr, "api client: libcurl failed to initialise\n");
		return 1;
	}
	/* "Expect:" off: no 100-continue round trip before a body of a kB or two. */
	if ((r.hdr = curl_slist_append(NULL, "Content-Type: application/json")) == NULL ||
	    curl_slist_append(r.hdr, "Expect:") == NULL ||
	    (tokenfile != NULL && ba_auth_header(&r, tokenfile) != 0))
		goto out;
	if (ba_load_jobs(&r, argv[optind + 1]) != 0)
		goto out;
	if (serialfile != NULL && (r.serials = fopen(serialfile, "w")) == NULL) {
		fprintf(stderr, "api client: cannot write %s: %s\n", serialfile, strerror(errno));
		goto out;
	}
	if ((size_t)conns > r.njobs)
		conns = (long)r.njobs;
	if ((r.lat = calloc(r.njobs, sizeof(*r.lat))) == NULL ||
	    (slots = calloc((size_t)conns, sizeof(*slots))) == NULL ||
	    (m = curl_multi_init()) == NULL) {
		fprintf(stderr, "api client: out of memory\n");
		goto out;
	}
	/* One connection per slot, kept: the cache holds all of them and a host gets no more. */
	curl_multi_setopt(m, CURLMOPT_MAXCONNECTS, conns);
	curl_multi_setopt(m, CURLMOPT_MAX_HOST_CONNECTIONS, conns);
	curl_multi_setopt(m, CURLMOPT_PIPELINING, (long)CURLPIPE_NOTHING);
	r.multi = m;
	if ((r.ep = epoll_create1(EPOLL_CLOEXEC)) < 0) {
		fprintf(stderr, "api client: epoll_create1: %s\n", strerror(errno));
		goto out;
	}
	curl_multi_setopt(m, CURLMOPT_SOCKETFUNCTION, ba_socket_cb);
	curl_multi_setopt(m, CURLMOPT_SOCKETDATA, &r);
	curl_multi_setopt(m, CURLMOPT_TIMERFUNCTION, ba_timer_cb);
	curl_multi_setopt(m, CURLMOPT_TIMERDATA, &r);
	for (i = 0; i < (size_t)conns; i++) {
		if (ba_slot_init(&r, &slots[i]) != 0) {
			fprintf(stderr, "api client: libcurl cannot make a handle\n");
			goto out;
		}
	}

	cpu0 = ba_cpu_seconds();
	t0 = ba_now();
	for (i = 0; i < (size_t)conns; i++, active++)
		ba_slot_start(&r, m, &slots[i], next++);
	while (active > 0) {
		struct epoll_event ev[64];
		CURLMsg *msg;
		int n, left, wait_ms = 1000;
		double now = ba_now();

		if (r.deadline > 0) {
			double d = (r.deadline - now) * 1000.0;

			wait_ms = d <= 0 ? 0 : d >= 1000 ? 1000 : (int)d + 1;
		}
		if ((n = epoll_wait(r.ep, ev, 64, wait_ms)) < 0 && errno != EINTR) {
			fprintf(stderr, "api client: epoll_wait: %s\n", strerror(errno));
			goto out;
		}
		for (int k = 0; k < n; k++) {
			int what = (ev[k].events & EPOLLIN ? CURL_CSELECT_IN : 0) |
			    (ev[k].events & EPOLLOUT ? CURL_CSELECT_OUT : 0) |
			    (ev[k].events & (EPOLLERR | EPOLLHUP) ? CURL_CSELECT_ERR : 0);

			if (curl_multi_socket_action(m, ev[k].data.fd, what, &running) != CURLM_OK)
				goto multi_failed;
		}
		if (r.deadline > 0 && ba_now() >= r.deadline) {
			r.deadline = 0;
			if (curl_multi_socket_action(m, CURL_SOCKET_TIMEOUT, 0, &running) != CURLM_OK)
				goto multi_failed;
		}
		while ((msg = curl_multi_info_read(m, &left)) != NULL) {
			ba_slot *s;

			if (msg->msg != CURLMSG_DONE)
				continue;
			now = ba_now();
			curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&s);
			ba_slot_done(&r, s, msg->data.result, now);
			curl_multi_remove_handle(m, s->h);
			active--;
			if (next < r.njobs) {
				ba_slot_start(&r, m, s, next++);
				active++;
			}
		}
	}
	t1 = ba_now();
	cpu1 = ba_cpu_seconds();
	ba_check_all(&r);

	qsort(r.lat, r.ok, sizeof(*r.lat), ba_cmp_double);
	printf("certs=%zu failed=%zu seconds=%.3f rate=%.1f connections=%ld p50_ms=%.1f "
	    "p90_ms=%.1f p99_ms=%.1f max_ms=%.1f client_cpu_s=%.3f\n", r.ok, r.failed, t1 - t0,
	    (double)r.ok / (t1 - t0), r.connects, ba_pct(r.lat, r.ok, 50), ba_pct(r.lat, r.ok, 90),
	    ba_pct(r.lat, r.ok, 99), r.ok ? r.lat[r.ok - 1] * 1000.0 : 0.0, cpu1 - cpu0);
	ret = r.ok == r.njobs ? 0 : 1;
	if (latfile != NULL && ba_write_latencies(latfile, r.lat, r.ok) != 0)
		ret = 1;
	goto out;
multi_failed:
	fprintf(stderr, "api client: libcurl's multi interface failed\n");
out:
	if (r.serials != NULL && fclose(r.serials) != 0) {
		fprintf(stderr, "api client: cannot write %s\n", serialfile);
		ret = 1;
	}
	if (slots != NULL) {
		for (i = 0; i < (size_t)conns; i++) {
			if (slots[i].h != NULL) {
				curl_multi_remove_handle(m, slots[i].h);
				curl_easy_cleanup(slots[i].h);
			}
		}
	}
	curl_multi_cleanup(m);
	if (r.ep >= 0)
		close(r.ep);
	free(slots);
	free(r.lat);
	for (i = 0; i < r.njobs; i++) {
		free(r.jobs[i].body);
		free(r.jobs[i].path);
		free(r.jobs[i].answer.p);
	}
	free(r.jobs);
	for (struct curl_slist *l = r.hdr; l != NULL; l = l->next)
		OPENSSL_cleanse(l->data, strlen(l->data));   /* the token */
	curl_slist_free_all(r.hdr);
	curl_global_cleanup();
	return ret;
}
