/* Load generator for the cfssl peer of bench/issue: T threads, each with one reused libcurl
 * handle (one keep-alive connection), POST every CSR to `cfssl serve` /api/v1/cfssl/sign.
 *
 * usage: vmspki-bench-cfssl-client URL CSR_LIST [THREADS [SAMPLE_DIR]]
 *   URL       e.g. http://127.0.0.1:8888/api/v1/cfssl/sign
 *   CSR_LIST  a file naming one CSR (PEM) per line
 *   THREADS   concurrent keep-alive clients (default 2)
 *   SAMPLE_DIR where the certificates of the first few CSRs are written (for openssl verify)
 * Prints one line: "certs=S failed=F seconds=W rate=R connections=C". Only 2xx answers whose
 * JSON says success and carries a PEM certificate count. Exit status 0 when every CSR got a
 * certificate. Request bodies are built before the clock starts. */
#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <pthread.h>

#include <curl/curl.h>
#include <jansson.h>

#define BC_RESPONSE_MAX (256u * 1024u) /* a certificate answer is a few kB */
#define BC_SAMPLES 4
#define BC_THREADS_MAX 64

typedef struct bc_buf {
	char *p;
	size_t len, cap;
	int overflow;
} bc_buf;

typedef struct bc_job {
	char *path;
	char *body;     /* JSON request */
	size_t body_len;
} bc_job;

typedef struct bc_shared {
	const char *url;
	const char *sample_dir;
	bc_job *jobs;
	size_t njobs;
	atomic_size_t next;
	atomic_size_t ok;
	atomic_size_t failed;
	atomic_long connects;
	atomic_int reported; /* first failure is printed, the rest counted */
} bc_shared;

static double
bc_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static size_t
bc_write_cb(char *data, size_t size, size_t nmemb, void *arg)
{
	bc_buf *b = arg;
	size_t n = size * nmemb;

	if (b->overflow || n > BC_RESPONSE_MAX - b->len) {
		b->overflow = 1;
		return 0; /* curl aborts the transfer: a hostile or broken peer cannot grow us */
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
bc_slurp(const char *path, size_t *lenp)
{
	FILE *f;
	char *buf = NULL;
	long sz;

	if ((f = fopen(path, "rb")) == NULL)
		return NULL;
	if (fseek(f, 0, SEEK_END) != 0 || (sz = ftell(f)) < 0 || sz > (long)BC_RESPONSE_MAX ||
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

static void bc_report(bc_shared *sh, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
bc_report(bc_shared *sh, const char *fmt, ...)
{
	int expected = 0;
	va_list ap;

	if (atomic_compare_exchange_strong(&sh->reported, &expected, 1)) {
		fprintf(stderr, "cfssl client: ");
		va_start(ap, fmt);
		vfprintf(stderr, fmt, ap);
		va_end(ap);
		fputc('\n', stderr);
	}
}

/* Writes the certificate of a successful answer for the first BC_SAMPLES CSRs. */
static void
bc_write_sample(const bc_shared *sh, size_t i, const char *pem)
{
	char path[4096];
	FILE *f;

	if (sh->sample_dir == NULL || i >= BC_SAMPLES)
		return;
	snprintf(path, sizeof(path), "%s/cfssl-%zu.pem", sh->sample_dir, i);
	if ((f = fopen(path, "w")) == NULL)
		return;
	fputs(pem, f);
	fclose(f);
}

/* 1 when the answer carries a certificate, 0 otherwise. */
static int
bc_check_answer(bc_shared *sh, size_t i, long status, const bc_buf *resp)
{
	json_t *root = NULL, *succ, *result, *cert;
	json_error_t jerr;
	const char *pem;
	int ok = 0;

	if (status < 200 || status > 299) {
		bc_report(sh, "HTTP status %ld for %s: %.300s", status, sh->jobs[i].path,
		    resp->p ? resp->p : "");
		goto out;
	}
	if (resp->p == NULL ||
	    (root = json_loadb(resp->p, resp->len, 0, &jerr)) == NULL) {
		bc_report(sh, "answer for %s is not JSON", sh->jobs[i].path);
		goto out;
	}
	succ = json_object_get(root, "success");
	result = json_object_get(root, "result");
	cert = result ? json_object_get(result, "certificate") : NULL;
	if (!json_is_true(succ) || !json_is_string(cert) ||
	    strncmp((pem = json_string_value(cert)), "-----BEGIN CERTIFICATE-----", 27) != 0) {
		bc_report(sh, "no certificate in the answer for %s: %.300s", sh->jobs[i].path,
		    resp->p);
		goto out;
	}
	bc_write_sample(sh, i, pem);
	ok = 1;
out:
	json_decref(root);
	return ok;
}

static void *
bc_worker(void *arg)
{
	bc_shared *sh = arg;
	CURL *h;
	struct curl_slist *hdr = NULL;
	bc_buf resp = { 0 };
	char errbuf[CURL_ERROR_SIZE];
	size_t i;

	if ((h = curl_easy_init()) == NULL)
		return NULL;
	hdr = curl_slist_append(hdr, "Content-Type: application/json");
	curl_easy_setopt(h, CURLOPT_URL, sh->url);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, bc_write_cb);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &resp);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
	curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, 60L);

	while ((i = atomic_fetch_add(&sh->next, 1)) < sh->njobs) {
		CURLcode rc;
		long status = 0, nconn = 0;

		resp.len = 0;
		resp.overflow = 0;
		errbuf[0] = '\0';
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, sh->jobs[i].body);
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)sh->jobs[i].body_len);
		rc = curl_easy_perform(h);
		curl_easy_getinfo(h, CURLINFO_NUM_CONNECTS, &nconn);
		atomic_fetch_add(&sh->connects, nconn);
		if (rc != CURLE_OK) {
			bc_report(sh, "request for %s failed: %s", sh->jobs[i].path,
			    errbuf[0] ? errbuf : curl_easy_strerror(rc));
			atomic_fetch_add(&sh->failed, 1);
			continue;
		}
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
		if (bc_check_answer(sh, i, status, &resp))
			atomic_fetch_add(&sh->ok, 1);
		else
			atomic_fetch_add(&sh->failed, 1);
	}
	curl_easy_cleanup(h);
	curl_slist_free_all(hdr);
	free(resp.p);
	return NULL;
}

/* Reads the CSR list and builds each request body: {"certificate_request": "<PEM>"}. */
static int
bc_load_jobs(const char *list, bc_shared *sh)
{
	FILE *f;
	char line[4096];
	size_t cap = 0;
	int ret = -1;

	if ((f = fopen(list, "r")) == NULL) {
		fprintf(stderr, "cfssl client: cannot open the CSR list %s: %s\n", list,
		    strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		size_t n = strcspn(line, "\r\n"), pem_len = 0;
		char *pem = NULL;
		json_t *o;

		line[n] = '\0';
		if (n == 0)
			continue;
		if (sh->njobs == cap) {
			size_t ncap = cap ? cap * 2 : 1024;
			bc_job *j;

			if ((j = realloc(sh->jobs, ncap * sizeof(*j))) == NULL)
				goto out;
			sh->jobs = j;
			cap = ncap;
		}
		if ((pem = bc_slurp(line, &pem_len)) == NULL) {
			fprintf(stderr, "cfssl client: cannot read the CSR %s\n", line);
			goto out;
		}
		o = json_pack("{s:s%}", "certificate_request", pem, pem_len);
		free(pem);
		if (o == NULL) {
			fprintf(stderr, "cfssl client: cannot build the request for %s\n", line);
			goto out;
		}
		sh->jobs[sh->njobs].body = json_dumps(o, JSON_COMPACT);
		json_decref(o);
		if (sh->jobs[sh->njobs].body == NULL ||
		    (sh->jobs[sh->njobs].path = strdup(line)) == NULL) {
			free(sh->jobs[sh->njobs].body);
			goto out;
		}
		sh->jobs[sh->njobs].body_len = strlen(sh->jobs[sh->njobs].body);
		sh->njobs++;
	}
	if (sh->njobs == 0) {
		fprintf(stderr, "cfssl client: the CSR list %s is empty\n", list);
		goto out;
	}
	ret = 0;
out:
	fclose(f);
	return ret;
}

int
main(int argc, char **argv)
{
	bc_shared sh = { 0 };
	pthread_t tid[BC_THREADS_MAX];
	long nthreads = 2;
	int started = 0, ret = 1;
	double t0, t1;
	size_t i;

	if (argc < 3 || argc > 5) {
		fprintf(stderr, "usage: %s URL CSR_LIST [THREADS [SAMPLE_DIR]]\n", argv[0]);
		return 2;
	}
	sh.url = argv[1];
	if (argc >= 4) {
		char *end;

		nthreads = strtol(argv[3], &end, 10);
		if (*end != '\0' || nthreads < 1 || nthreads > BC_THREADS_MAX) {
			fprintf(stderr, "cfssl client: THREADS must be 1..%d\n", BC_THREADS_MAX);
			return 2;
		}
	}
	if (argc == 5)
		sh.sample_dir = argv[4];
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		fprintf(stderr, "cfssl client: libcurl failed to initialise\n");
		return 1;
	}
	if (bc_load_jobs(argv[2], &sh) != 0)
		goto out;

	t0 = bc_now();
	for (started = 0; started < nthreads; started++) {
		if (pthread_create(&tid[started], NULL, bc_worker, &sh) != 0) {
			fprintf(stderr, "cfssl client: cannot start a thread\n");
			break;
		}
	}
	for (int k = 0; k < started; k++)
		pthread_join(tid[k], NULL);
	t1 = bc_now();
	if (started == 0)
		goto out;

	printf("certs=%zu failed=%zu seconds=%.3f rate=%.1f connections=%ld\n",
	    atomic_load(&sh.ok), atomic_load(&sh.failed), t1 - t0,
	    (double)atomic_load(&sh.ok) / (t1 - t0), atomic_load(&sh.connects));
	ret = atomic_load(&sh.ok) == sh.njobs ? 0 : 1;
out:
	for (i = 0; i < sh.njobs; i++) {
		free(sh.jobs[i].body);
		free(sh.jobs[i].path);
	}
	free(sh.jobs);
	curl_global_cleanup();
	return ret;
}
