/* Key generation off the event loop: worker threads make the keys devices ask for, so that a
 * slow RSA key on one camera never stalls the others. With --key-pool N the workers also make
 * N RSA-2048 keys ahead of time in DIR/keypool/ (those already there count) when they have
 * nothing else to do; each is handed out once, then deleted, and not replaced: a benchmark of
 * 1,000 cameras then measures vmspki, not this machine's RSA speed, and camsim spends no CPU
 * refilling the pool while it runs. */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include "camsim.h"

struct job {
	struct job *next;
	cs_req *r;
	void (*done)(cs_req *r);
};

struct poolkey {
	struct poolkey *next;
	EVP_PKEY *key;
	char path[600];
};

static struct {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_t *threads;
	int nthreads;
	int stop;
	struct job *queue, *queue_tail;
	struct job *done;
	struct event *done_ev;
	struct poolkey *pool;
	int pool_n, pool_making, pool_target;
	char *pool_dir;
} kg = { .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER };

static void
done_cb(evutil_socket_t fd, short what, void *arg)
{
	struct job *list, *j, *rev = NULL;

	(void)fd;
	(void)what;
	(void)arg;
	pthread_mutex_lock(&kg.mu);
	list = kg.done;
	kg.done = NULL;
	pthread_mutex_unlock(&kg.mu);
	while (list != NULL) {          /* oldest first */
		j = list;
		list = j->next;
		j->next = rev;
		rev = j;
	}
	while (rev != NULL) {
		j = rev;
		rev = j->next;
		j->done(j->r);
		free(j);
	}
}

static void
finish(struct job *j)
{
	pthread_mutex_lock(&kg.mu);
	j->next = kg.done;
	kg.done = j;
	pthread_mutex_unlock(&kg.mu);
	event_active(kg.done_ev, EV_READ, 0);
}

static void
pool_save(EVP_PKEY *k, struct poolkey *pk)
{
	unsigned char rnd[8];
	BIO *b = NULL;
	char *data;
	long n;

	pk->path[0] = '\0';
	if (kg.pool_dir == NULL || RAND_bytes(rnd, sizeof(rnd)) != 1)
		return;
	snprintf(pk->path, sizeof(pk->path), "%s/%02x%02x%02x%02x%02x%02x%02x%02x.pem",
	    kg.pool_dir, rnd[0], rnd[1], rnd[2], rnd[3], rnd[4], rnd[5], rnd[6], rnd[7]);
	if ((b = BIO_new(BIO_s_mem())) == NULL ||
	    PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL) != 1 ||
	    (n = BIO_get_mem_data(b, &data)) <= 0 ||
	    cs_write_atomic(pk->path, data, (size_t)n, 0600) != 0)
		pk->path[0] = '\0';
	BIO_free(b);
	ERR_clear_error();
}

static void *
worker(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&kg.mu);
	while (!kg.stop) {
		struct job *j = kg.queue;

		if (j != NULL) {
			kg.queue = j->next;
			if (kg.queue == NULL)
				kg.queue_tail = NULL;
			pthread_mutex_unlock(&kg.mu);
			j->r->new_key = cs_pki_keygen(j->r->key_type);
			if (j->r->new_key == NULL)
				j->r->key_failed = 1;
			ERR_clear_error();
			finish(j);
			pthread_mutex_lock(&kg.mu);
			continue;
		}
		if (kg.pool_n + kg.pool_making < kg.pool_target) {
			struct poolkey *pk = calloc(1, sizeof(*pk));
			EVP_PKEY *k;

			kg.pool_making++;
			pthread_mutex_unlock(&kg.mu);
			k = pk != NULL ? cs_pki_keygen("RSA-2048") : NULL;
			if (k != NULL)
				pool_save(k, pk);
			ERR_clear_error();
			pthread_mutex_lock(&kg.mu);
			kg.pool_making--;
			if (k != NULL) {
				pk->key = k;
				pk->next = kg.pool;
				kg.pool = pk;
				kg.pool_n++;
				if (kg.pool_n == kg.pool_target)
					cs_logf("camsim: key pool full (%d RSA-2048 keys)", kg.pool_n);
			} else {
				free(pk);
				kg.pool_target = kg.pool_n;   /* do not spin on a failing generator */
			}
			continue;
		}
		pthread_cond_wait(&kg.cv, &kg.mu);
	}
	pthread_mutex_unlock(&kg.mu);
	return NULL;
}

static void
pool_load(const char *dir)
{
	DIR *dh = opendir(dir);
	struct dirent *de;

	if (dh == NULL)
		return;
	while ((de = readdir(dh)) != NULL && kg.pool_n < kg.pool_target) {
		struct poolkey *pk;
		size_t l = strlen(de->d_name);
		FILE *f;

		if (l < 5 || strcmp(de->d_name + l - 4, ".pem") != 0 ||
		    (pk = calloc(1, sizeof(*pk))) == NULL)
			continue;
		snprintf(pk->path, sizeof(pk->path), "%s/%s", dir, de->d_name);
		if ((f = fopen(pk->path, "r")) != NULL) {
			pk->key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
			fclose(f);
		}
		ERR_clear_error();
		if (pk->key == NULL || strcmp(cs_pki_key_type(pk->key), "RSA-2048") != 0) {
			EVP_PKEY_free(pk->key);
			unlink(pk->path);
			free(pk);
			continue;
		}
		pk->next = kg.pool;
		kg.pool = pk;
		kg.pool_n++;
	}
	closedir(dh);
}

int
cs_keygen_init(camsim *cs, int threads)
{
	if (threads < 1)
		threads = 1;
	if ((kg.done_ev = event_new(cs->base, -1, 0, done_cb, NULL)) == NULL)
		return -1;
	kg.pool_target = cs->key_pool;
	if (cs->key_pool > 0) {
		size_t l = strlen(cs->state_dir) + 16;

		if ((kg.pool_dir = malloc(l)) == NULL)
			return -1;
		snprintf(kg.pool_dir, l, "%s/keypool", cs->state_dir);
		if (mkdir(kg.pool_dir, 0700) != 0 && errno != EEXIST) {
			cs_logf("camsim: cannot make %s: %s", kg.pool_dir, strerror(errno));
			return -1;
		}
		pool_load(kg.pool_dir);
		cs_logf("camsim: key pool: %d of %d RSA-2048 keys ready", kg.pool_n, kg.pool_target);
	}
	if ((kg.threads = calloc((size_t)threads, sizeof(pthread_t))) == NULL)
		return -1;
	for (int i = 0; i < threads; i++) {
		if (pthread_create(&kg.threads[i], NULL, worker, NULL) != 0)
			return -1;
		kg.nthreads++;
	}
	return 0;
}

int
cs_keygen_submit(cs_req *r, void (*done)(cs_req *r))
{
	struct job *j = calloc(1, sizeof(*j));

	if (j == NULL)
		return -1;
	j->r = r;
	j->done = done;
	pthread_mutex_lock(&kg.mu);
	if (strcmp(r->key_type, "RSA-2048") == 0 && kg.pool != NULL) {
		struct poolkey *pk = kg.pool;

		kg.pool = pk->next;
		kg.pool_n--;
		kg.pool_target--;                 /* used, not replaced */
		pthread_mutex_unlock(&kg.mu);
		if (pk->path[0] != '\0')
			unlink(pk->path);
		r->new_key = pk->key;
		free(pk);
		finish(j);
		return 0;
	}
	if (kg.queue_tail != NULL)
		kg.queue_tail->next = j;
	else
		kg.queue = j;
	kg.queue_tail = j;
	pthread_cond_signal(&kg.cv);
	pthread_mutex_unlock(&kg.mu);
	return 0;
}

void
cs_keygen_shutdown(void)
{
	struct job *j;
	struct poolkey *pk;

	pthread_mutex_lock(&kg.mu);
	kg.stop = 1;
	pthread_cond_broadcast(&kg.cv);
	pthread_mutex_unlock(&kg.mu);
	for (int i = 0; i < kg.nthreads; i++)
		pthread_join(kg.threads[i], NULL);
	free(kg.threads);
	kg.threads = NULL;
	kg.nthreads = 0;
	/* Jobs not started or not delivered: their requests are freed by the server. */
	while ((j = kg.queue) != NULL) {
		kg.queue = j->next;
		free(j);
	}
	kg.queue_tail = NULL;
	while ((j = kg.done) != NULL) {
		kg.done = j->next;
		free(j);
	}
	while ((pk = kg.pool) != NULL) {      /* the files stay for the next start */
		kg.pool = pk->next;
		EVP_PKEY_free(pk->key);
		free(pk);
	}
	if (kg.done_ev != NULL)
		event_free(kg.done_ev);
	kg.done_ev = NULL;
	free(kg.pool_dir);
	kg.pool_dir = NULL;
}
