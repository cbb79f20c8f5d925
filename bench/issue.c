/* vmspki-bench-issue: the library path of bench/issue. Loads the CA once, then T threads share
 * it to sign CSRs and record them in batches, each thread with its own store handle.
 *
 *   vmspki-bench-issue [-p PROFILE] [-s SAMPLE_DIR] DATADIR PASSFILE CSRS [THREADS [BATCH]]
 *   vmspki-bench-issue --gen-csrs OUTDIR COUNT [KEYS]
 *   vmspki-bench-issue --sign-loop DATADIR PASSFILE [THREADS [SECONDS]]
 *
 * CSRS is a directory (every *.csr in it) or a file naming one CSR per line. A certificate
 * counts as issued only once the transaction that records it has committed: that is the moment
 * a real caller would be told. The second form writes COUNT RSA-2048 CSRs made from KEYS keys
 * (default 8) with distinct CNs and a matching DNS SAN, and a list of them (OUTDIR/list). The
 * third signs a 1 kB message with the CA key (SHA-256, as for a certificate) on THREADS threads
 * for SECONDS (default 5): the bare signing cost in this process, in CPU time per signature,
 * which stays meaningful when other work shares the cores and wall-clock rates do not. */
#include <dirent.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <pthread.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "vmspki/ca.h"
#include "vmspki/err.h"
#include "vmspki/issue.h"
#include "vmspki/passphrase.h"
#include "vmspki/store.h"
#include "vmspki/util.h"

#define BI_BATCH_DEFAULT 64
#define BI_BATCH_MAX 4096
#define BI_THREADS_MAX 256
#define BI_SAMPLES 4
#define BI_ACTOR "bench"

typedef struct bi_csr {
	char *path;
	char *cn;
	X509_REQ *req;
	char serial[64];   /* of its certificate, once committed */
} bi_csr;

typedef struct bi_shared {
	const char *db_path;
	const char *profile;
	const vp_ca *ca;
	bi_csr *csrs;
	size_t ncsrs;
	size_t batch;
	atomic_size_t next;
	atomic_size_t issued;   /* committed certificates */
	atomic_int failed;
	pthread_mutex_t err_lock;
	vp_error first_err;
	pthread_barrier_t start;
} bi_shared;

typedef struct bi_thread {
	bi_shared *sh;
	pthread_t tid;
	double sign_s, commit_s, end;
	size_t commits, issued;
} bi_thread;

static double
bi_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* CPU time (user + system) of the whole process, all threads, in seconds. */
static double
bi_cpu(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru) != 0)
		return 0;
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	    (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static void
bi_fail(bi_shared *sh, const vp_error *e)
{
	pthread_mutex_lock(&sh->err_lock);
	if (atomic_fetch_add(&sh->failed, 1) == 0)
		sh->first_err = *e;
	pthread_mutex_unlock(&sh->err_lock);
}

/* Records certs[0..n) in one transaction; only then are they issued. */
static int
bi_flush(bi_thread *t, vp_store *s, vp_issued **certs, size_t *idx, size_t n)
{
	vp_error e = { 0 };
	double t0 = bi_now();
	size_t i;
	int ret = 0;

	if (n == 0)
		return 0;
	if (vp_issue_record(s, certs, n, BI_ACTOR, &e) != VP_OK) {
		bi_fail(t->sh, &e);
		ret = -1;
	} else {
		for (i = 0; i < n; i++)
			memcpy(t->sh->csrs[idx[i]].serial, certs[i]->rec.serial,
			    sizeof(t->sh->csrs[idx[i]].serial));
		t->issued += n;
		t->commits++;
		atomic_fetch_add(&t->sh->issued, n);
	}
	t->commit_s += bi_now() - t0;
	for (i = 0; i < n; i++) {
		vp_issued_free(certs[i]);
		certs[i] = NULL;
	}
	return ret;
}

static void *
bi_worker(void *arg)
{
	bi_thread *t = arg;
	bi_shared *sh = t->sh;
	vp_store *s = NULL;
	vp_issued **certs = NULL;
	size_t *idx = NULL, n = 0, i;
	vp_error e = { 0 };

	certs = calloc(sh->batch, sizeof(*certs));
	idx = calloc(sh->batch, sizeof(*idx));
	if (certs == NULL || idx == NULL) {
		vp_error_set(&e, VP_ERR_NOMEM, "out of memory for a batch of %zu", sh->batch);
		bi_fail(sh, &e);
	} else if (vp_store_open(sh->db_path, &s, &e) != VP_OK) {
		bi_fail(sh, &e);
	}
	pthread_barrier_wait(&sh->start);

	while (s != NULL && atomic_load(&sh->failed) == 0 &&
	    (i = atomic_fetch_add(&sh->next, 1)) < sh->ncsrs) {
		const char *dns[1] = { sh->csrs[i].cn };
		vp_issue_req r = { 0 };
		double t0 = bi_now();

		r.profile = sh->profile;
		r.csr = sh->csrs[i].req;
		if (strcmp(sh->profile, "client") != 0 && sh->csrs[i].cn != NULL) {
			r.dns = dns;
			r.ndns = 1;
		}
		if (vp_issue_sign(sh->ca, &r, &certs[n], &e) != VP_OK) {
			vp_error_prefix(&e, "signing %s", sh->csrs[i].path);
			bi_fail(sh, &e);
			break;
		}
		t->sign_s += bi_now() - t0;
		idx[n++] = i;
		if (n == sh->batch) {
			(void)bi_flush(t, s, certs, idx, n); /* a failure stops every thread */
			n = 0;
		}
	}
	if (s != NULL && atomic_load(&sh->failed) == 0)
		(void)bi_flush(t, s, certs, idx, n);
	else
		for (i = 0; i < n; i++)
			vp_issued_free(certs[i]);
	t->end = bi_now();
	vp_store_close(s);
	free(certs);
	free(idx);
	return NULL;
}

static int
bi_has_suffix(const char *s, const char *suf)
{
	size_t a = strlen(s), b = strlen(suf);

	return a >= b && strcmp(s + a - b, suf) == 0;
}

static int
bi_cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Fills *paths with the CSR files named by spec (a directory or a list file). */
static int
bi_list_csrs(const char *spec, char ***paths, size_t *n)
{
	struct stat st;
	char **v = NULL;
	size_t cap = 0, k = 0;
	int ret = -1;

	if (stat(spec, &st) != 0) {
		fprintf(stderr, "bench: cannot find the CSRs %s: %s\n", spec, strerror(errno));
		return -1;
	}
	if (S_ISDIR(st.st_mode)) {
		DIR *d = opendir(spec);
		struct dirent *de;

		if (d == NULL) {
			fprintf(stderr, "bench: cannot open %s: %s\n", spec, strerror(errno));
			return -1;
		}
		while ((de = readdir(d)) != NULL) {
			if (!bi_has_suffix(de->d_name, ".csr"))
				continue;
			if (k == cap) {
				char **nv;

				cap = cap ? cap * 2 : 1024;
				if ((nv = realloc(v, cap * sizeof(*v))) == NULL)
					break;
				v = nv;
			}
			if ((v[k] = vp_path_join(spec, de->d_name)) == NULL)
				break;
			k++;
		}
		closedir(d);
		if (de != NULL) {
			fprintf(stderr, "bench: out of memory while listing %s\n", spec);
			goto out;
		}
		qsort(v, k, sizeof(*v), bi_cmp_str);
	} else {
		FILE *f = fopen(spec, "r");
		char line[4096];

		if (f == NULL) {
			fprintf(stderr, "bench: cannot open %s: %s\n", spec, strerror(errno));
			return -1;
		}
		while (fgets(line, sizeof(line), f) != NULL) {
			line[strcspn(line, "\r\n")] = '\0';
			if (line[0] == '\0')
				continue;
			if (k == cap) {
				char **nv;

				cap = cap ? cap * 2 : 1024;
				if ((nv = realloc(v, cap * sizeof(*v))) == NULL)
					break;
				v = nv;
			}
			if ((v[k] = vp_strdup(line)) == NULL)
				break;
			k++;
		}
		if (!feof(f)) {
			fprintf(stderr, "bench: cannot read all of %s\n", spec);
			fclose(f);
			goto out;
		}
		fclose(f);
	}
	if (k == 0) {
		fprintf(stderr, "bench: no CSR in %s\n", spec);
		goto out;
	}
	*paths = v;
	*n = k;
	v = NULL;
	ret = 0;
out:
	if (v != NULL) {
		for (size_t j = 0; j < k; j++)
			free(v[j]);
		free(v);
	}
	return ret;
}

static char *
bi_req_cn(X509_REQ *req)
{
	X509_NAME *name = X509_REQ_get_subject_name(req);
	int len;
	char *cn;

	if (name == NULL || (len = X509_NAME_get_text_by_NID(name, NID_commonName, NULL, 0)) <= 0)
		return NULL;
	if ((cn = malloc((size_t)len + 1)) == NULL)
		return NULL;
	X509_NAME_get_text_by_NID(name, NID_commonName, cn, len + 1);
	return cn;
}

static int
bi_load_csrs(const char *spec, bi_shared *sh)
{
	char **paths = NULL;
	size_t n = 0, i;
	int ret = -1;

	if (bi_list_csrs(spec, &paths, &n) != 0)
		return -1;
	if ((sh->csrs = calloc(n, sizeof(*sh->csrs))) == NULL)
		goto out;
	for (i = 0; i < n; i++) {
		unsigned char *buf = NULL;
		size_t len = 0;
		vp_error e = { 0 };

		sh->csrs[i].path = paths[i];
		paths[i] = NULL;
		sh->ncsrs = i + 1;
		if (vp_file_read(sh->csrs[i].path, VP_FILE_MAX, &buf, &len, &e) != VP_OK ||
		    vp_csr_parse(buf, len, &sh->csrs[i].req, &e) != VP_OK) {
			free(buf);
			fprintf(stderr, "bench: %s: %s\n", sh->csrs[i].path, e.msg);
			goto out;
		}
		free(buf);
		sh->csrs[i].cn = bi_req_cn(sh->csrs[i].req);
	}
	ret = 0;
out:
	for (i = 0; i < n; i++)
		free(paths[i]);
	free(paths);
	return ret;
}

/* Writes a few committed certificates, read back from the store, for openssl verify. */
static int
bi_write_samples(vp_store *s, const bi_shared *sh, const char *dir)
{
	size_t step = sh->ncsrs / BI_SAMPLES ? sh->ncsrs / BI_SAMPLES : 1;
	int written = 0;

	for (size_t i = 0; i < sh->ncsrs && written < BI_SAMPLES; i += step) {
		vp_cert_rec rec = { 0 };
		vp_error e = { 0 };
		char name[64], *path;

		if (sh->csrs[i].serial[0] == '\0')
			continue;
		if (vp_store_cert_get(s, sh->csrs[i].serial, &rec, &e) != VP_OK) {
			fprintf(stderr, "bench: certificate %s is not in the store: %s\n",
			    sh->csrs[i].serial, e.msg);
			return -1;
		}
		snprintf(name, sizeof(name), "lib-%d.pem", written);
		path = vp_path_join(dir, name);
		if (path == NULL || vp_file_write_atomic(path, rec.pem, strlen(rec.pem), 0644,
		    &e) != VP_OK) {
			fprintf(stderr, "bench: cannot write a sample: %s\n", e.msg);
			free(path);
			vp_cert_rec_clear(&rec);
			return -1;
		}
		free(path);
		vp_cert_rec_clear(&rec);
		written++;
	}
	return written;
}

static int
bi_parse_size(const char *s, size_t lo, size_t hi, size_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || end == s || s[0] == '-' || v < lo || v > hi)
		return -1;
	*out = (size_t)v;
	return 0;
}

static int
bi_run(const char *profile, const char *sample_dir, const char *datadir, const char *passfile,
    const char *csrs, size_t nthreads, size_t batch)
{
	bi_shared sh;
	bi_thread *th = NULL;
	vp_store *s = NULL;
	vp_ca *ca = NULL;
	vp_error e = { 0 };
	vp_cert_filter all = { 0 };
	char *pass = NULL, *db = NULL;
	int64_t before = 0, after = 0;
	double t0, t1, tp0, tp1, c0, c1, end = 0, sign_s = 0, commit_s = 0;
	size_t commits = 0, started = 0, i;
	int ret = 1;

	memset(&sh, 0, sizeof(sh));
	pthread_mutex_init(&sh.err_lock, NULL);
	sh.profile = profile;
	sh.batch = batch;
	if ((db = vp_path_join(datadir, "vmspki.db")) == NULL) {
		fprintf(stderr, "bench: out of memory\n");
		goto out;
	}
	sh.db_path = db;
	if (vp_store_open(db, &s, &e) != VP_OK ||
	    vp_passphrase_from_file(passfile, &pass, &e) != VP_OK ||
	    vp_ca_load(s, pass, &ca, &e) != VP_OK ||
	    vp_store_cert_count(s, &all, &before, &e) != VP_OK) {
		fprintf(stderr, "bench: %s\n", e.msg);
		goto out;
	}
	vp_secret_free_str(pass);
	pass = NULL;
	sh.ca = ca;

	tp0 = bi_now();
	if (bi_load_csrs(csrs, &sh) != 0)
		goto out;
	tp1 = bi_now();

	if ((th = calloc(nthreads, sizeof(*th))) == NULL) {
		fprintf(stderr, "bench: out of memory\n");
		goto out;
	}
	pthread_barrier_init(&sh.start, NULL, (unsigned)nthreads + 1);
	for (started = 0; started < nthreads; started++) {
		th[started].sh = &sh;
		if (pthread_create(&th[started].tid, NULL, bi_worker, &th[started]) != 0) {
			fprintf(stderr, "bench: cannot start thread %zu\n", started);
			exit(1); /* the barrier would wait for it forever */
		}
	}
	c0 = bi_cpu();
	t0 = bi_now();
	pthread_barrier_wait(&sh.start);
	for (i = 0; i < started; i++) {
		pthread_join(th[i].tid, NULL);
		if (th[i].end > end)
			end = th[i].end;
		sign_s += th[i].sign_s;
		commit_s += th[i].commit_s;
		commits += th[i].commits;
	}
	t1 = end > t0 ? end : bi_now();
	c1 = bi_cpu(); /* includes the threads' store open and close: a little pessimistic */
	pthread_barrier_destroy(&sh.start);

	if (atomic_load(&sh.failed) != 0) {
		fprintf(stderr, "bench: %s\n", sh.first_err.msg);
		goto out;
	}
	if (vp_store_cert_count(s, &all, &after, &e) != VP_OK) {
		fprintf(stderr, "bench: %s\n", e.msg);
		goto out;
	}
	printf("library: %zu certificates (profile %s) on %zu threads, batches of %zu\n",
	    atomic_load(&sh.issued), profile, nthreads, batch);
	printf("library: CSR parse+check %.3f s (not in the rate), wall %.3f s, %.1f certs/s\n",
	    tp1 - tp0, t1 - t0, (double)atomic_load(&sh.issued) / (t1 - t0));
	printf("library: per-thread time: signing %.1f %%, recording+commit %.1f %% (%zu commits,"
	    " %.1f ms each)\n", 100.0 * sign_s / ((t1 - t0) * (double)nthreads),
	    100.0 * commit_s / ((t1 - t0) * (double)nthreads), commits,
	    commits ? 1000.0 * commit_s / (double)commits : 0.0);
	printf("library: CPU %.3f s, %.2f ms per certificate\n", c1 - c0,
	    1000.0 * (c1 - c0) / (double)(atomic_load(&sh.issued) ? atomic_load(&sh.issued) : 1));
	printf("library: rows in certificates: %lld before, %lld after\n", (long long)before,
	    (long long)after);
	if ((size_t)(after - before) != sh.ncsrs || atomic_load(&sh.issued) != sh.ncsrs) {
		fprintf(stderr, "bench: the store gained %lld certificates for %zu CSRs\n",
		    (long long)(after - before), sh.ncsrs);
		goto out;
	}
	if (sample_dir != NULL && bi_write_samples(s, &sh, sample_dir) < 0)
		goto out;
	printf("certs=%zu seconds=%.3f rate=%.1f commit_share=%.4f commits=%zu parse_seconds=%.3f"
	    " rows=%lld cpu_ms=%.3f\n", atomic_load(&sh.issued), t1 - t0,
	    (double)atomic_load(&sh.issued) / (t1 - t0),
	    commit_s / ((t1 - t0) * (double)nthreads), commits, tp1 - tp0,
	    (long long)(after - before), 1000.0 * (c1 - c0) / (double)atomic_load(&sh.issued));
	ret = 0;
out:
	for (i = 0; i < sh.ncsrs; i++) {
		X509_REQ_free(sh.csrs[i].req);
		free(sh.csrs[i].path);
		free(sh.csrs[i].cn);
	}
	free(sh.csrs);
	free(th);
	vp_ca_free(ca);
	vp_store_close(s);
	vp_secret_free_str(pass);
	free(db);
	pthread_mutex_destroy(&sh.err_lock);
	return ret;
}

typedef struct bi_loop {
	EVP_PKEY *key;
	const char *md;
	double deadline;
	pthread_t tid;
	size_t signs;
	int failed;
} bi_loop;

static void *
bi_loop_worker(void *arg)
{
	bi_loop *l = arg;
	unsigned char msg[1024], sig[1024];
	EVP_MD_CTX *mctx = EVP_MD_CTX_new();

	memset(msg, 0xa5, sizeof(msg));
	if (mctx == NULL) {
		l->failed = 1;
		return NULL;
	}
	while (bi_now() < l->deadline) {
		size_t siglen = sizeof(sig);

		/* a fresh init per signature, as X509_sign does for every certificate */
		if (EVP_DigestSignInit_ex(mctx, NULL, l->md, NULL, NULL, l->key, NULL) != 1 ||
		    EVP_DigestSign(mctx, sig, &siglen, msg, sizeof(msg)) != 1) {
			l->failed = 1;
			break;
		}
		l->signs++;
	}
	EVP_MD_CTX_free(mctx);
	return NULL;
}

/* --sign-loop: the bare cost of the CA's signature, measured in this process. */
static int
bi_sign_loop(const char *datadir, const char *passfile, size_t nthreads, size_t seconds)
{
	vp_store *s = NULL;
	vp_ca *ca = NULL;
	vp_error e = { 0 };
	char *pass = NULL, *db = NULL;
	bi_loop *l = NULL;
	size_t i, started = 0, signs = 0;
	double t0, t1, c0, c1;
	int ret = 1, failed = 0;

	if ((db = vp_path_join(datadir, "vmspki.db")) == NULL ||
	    (l = calloc(nthreads, sizeof(*l))) == NULL) {
		fprintf(stderr, "bench: out of memory\n");
		goto out;
	}
	if (vp_store_open(db, &s, &e) != VP_OK ||
	    vp_passphrase_from_file(passfile, &pass, &e) != VP_OK ||
	    vp_ca_load(s, pass, &ca, &e) != VP_OK) {
		fprintf(stderr, "bench: %s\n", e.msg);
		goto out;
	}
	c0 = bi_cpu();
	t0 = bi_now();
	for (started = 0; started < nthreads; started++) {
		l[started].key = vp_ca_key(ca);
		l[started].md = "SHA256";
		l[started].deadline = t0 + (double)seconds;
		if (pthread_create(&l[started].tid, NULL, bi_loop_worker, &l[started]) != 0) {
			fprintf(stderr, "bench: cannot start a thread\n");
			break;
		}
	}
	for (i = 0; i < started; i++) {
		pthread_join(l[i].tid, NULL);
		signs += l[i].signs;
		failed |= l[i].failed;
	}
	t1 = bi_now();
	c1 = bi_cpu();
	if (failed || started < nthreads || signs == 0) {
		fprintf(stderr, "bench: signing with the CA key failed\n");
		goto out;
	}
	printf("signs=%zu seconds=%.3f rate=%.1f cpu_ms=%.3f\n", signs, t1 - t0,
	    (double)signs / (t1 - t0), 1000.0 * (c1 - c0) / (double)signs);
	ret = 0;
out:
	free(l);
	vp_ca_free(ca);
	vp_store_close(s);
	vp_secret_free_str(pass);
	free(db);
	return ret;
}

/* --gen-csrs: COUNT CSRs "cam-<i>.bench.local" (CN and DNS SAN) from nkeys RSA-2048 keys. */
static int
bi_gen_csrs(const char *outdir, size_t count, size_t nkeys)
{
	EVP_PKEY **keys = NULL;
	char *listpath = NULL;
	FILE *list = NULL;
	size_t i;
	int ret = 1;

	if (mkdir(outdir, 0755) != 0 && errno != EEXIST) {
		fprintf(stderr, "bench: cannot create %s: %s\n", outdir, strerror(errno));
		return 1;
	}
	if ((keys = calloc(nkeys, sizeof(*keys))) == NULL ||
	    (listpath = vp_path_join(outdir, "list")) == NULL ||
	    (list = fopen(listpath, "w")) == NULL) {
		fprintf(stderr, "bench: cannot create the CSR list in %s\n", outdir);
		goto out;
	}
	for (i = 0; i < nkeys; i++) {
		if ((keys[i] = EVP_RSA_gen(2048)) == NULL) {
			fprintf(stderr, "bench: RSA key generation failed\n");
			goto out;
		}
	}
	for (i = 0; i < count; i++) {
		X509_REQ *req = X509_REQ_new();
		X509_NAME *name = X509_NAME_new();
		STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
		X509_EXTENSION *san = NULL;
		char cn[64], san_txt[80], file[64], *path = NULL;
		FILE *f = NULL;
		int ok;

		snprintf(cn, sizeof(cn), "cam-%zu.bench.local", i);
		snprintf(san_txt, sizeof(san_txt), "DNS:%s", cn);
		snprintf(file, sizeof(file), "%06zu.csr", i);
		ok = req != NULL && name != NULL && exts != NULL &&
		    X509_REQ_set_version(req, X509_REQ_VERSION_1) &&
		    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
		    (const unsigned char *)cn, -1, -1, 0) &&
		    X509_REQ_set_subject_name(req, name) &&
		    X509_REQ_set_pubkey(req, keys[i % nkeys]) &&
		    (san = X509V3_EXT_nconf_nid(NULL, NULL, NID_subject_alt_name, san_txt)) != NULL &&
		    sk_X509_EXTENSION_push(exts, san) &&
		    X509_REQ_add_extensions(req, exts) &&
		    X509_REQ_sign(req, keys[i % nkeys], EVP_sha256()) > 0 &&
		    (path = vp_path_join(outdir, file)) != NULL &&
		    (f = fopen(path, "w")) != NULL &&
		    PEM_write_X509_REQ(f, req) == 1;
		if (f != NULL && fclose(f) != 0)
			ok = 0;
		if (ok)
			fprintf(list, "%s\n", path);
		else
			fprintf(stderr, "bench: cannot make the CSR %s\n", path ? path : file);
		free(path);
		sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
		X509_NAME_free(name);
		X509_REQ_free(req);
		if (!ok)
			goto out;
	}
	ret = 0;
out:
	if (list != NULL && fclose(list) != 0)
		ret = 1;
	for (i = 0; keys != NULL && i < nkeys; i++)
		EVP_PKEY_free(keys[i]);
	free(keys);
	free(listpath);
	return ret;
}

static void
usage(const char *argv0)
{
	fprintf(stderr,
	    "usage: %s [-p PROFILE] [-s SAMPLE_DIR] DATADIR PASSFILE CSRS [THREADS [BATCH]]\n"
	    "       %s --gen-csrs OUTDIR COUNT [KEYS]\n"
	    "       %s --sign-loop DATADIR PASSFILE [THREADS [SECONDS]]\n"
	    "PROFILE: server (default) or client; THREADS: default the number of cores;\n"
	    "BATCH: certificates per commit per thread (default %d)\n",
	    argv0, argv0, argv0, BI_BATCH_DEFAULT);
}

int
main(int argc, char **argv)
{
	const char *profile = "server", *sample_dir = NULL;
	size_t nthreads, batch = BI_BATCH_DEFAULT, count, nkeys = 8;
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	int opt;

	if (argc >= 2 && strcmp(argv[1], "--gen-csrs") == 0) {
		if (argc < 4 || argc > 5 || bi_parse_size(argv[3], 1, 10000000, &count) != 0 ||
		    (argc == 5 && bi_parse_size(argv[4], 1, 1024, &nkeys) != 0)) {
			usage(argv[0]);
			return 2;
		}
		return bi_gen_csrs(argv[2], count, nkeys);
	}
	nthreads = ncpu > 0 ? (size_t)ncpu : 1;
	if (argc >= 2 && strcmp(argv[1], "--sign-loop") == 0) {
		size_t seconds = 5;

		if (argc < 4 || argc > 6 ||
		    (argc >= 5 && bi_parse_size(argv[4], 1, BI_THREADS_MAX, &nthreads) != 0) ||
		    (argc == 6 && bi_parse_size(argv[5], 1, 3600, &seconds) != 0)) {
			usage(argv[0]);
			return 2;
		}
		return bi_sign_loop(argv[2], argv[3], nthreads, seconds);
	}
	while ((opt = getopt(argc, argv, "p:s:h")) != -1) {
		switch (opt) {
		case 'p':
			profile = optarg;
			break;
		case 's':
			sample_dir = optarg;
			break;
		default:
			usage(argv[0]);
			return 2;
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 3 || argc > 5 ||
	    (argc >= 4 && bi_parse_size(argv[3], 1, BI_THREADS_MAX, &nthreads) != 0) ||
	    (argc == 5 && bi_parse_size(argv[4], 1, BI_BATCH_MAX, &batch) != 0)) {
		usage(argv[-optind]);
		return 2;
	}
	return bi_run(profile, sample_dir, argv[0], argv[1], argv[2], nthreads, batch);
}
