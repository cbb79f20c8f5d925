/* A few threads for work too slow to do on an event loop (signing a certificate, generating a
 * key and its PKCS#12, exporting the CA, renewing the server certificate): a loop hands the
 * job over and goes on serving its other connections; the job comes back to it (or goes to
 * the committer) when done. Each thread has its own store handle. One queue for all the
 * loops, so that work spreads evenly over the threads however the connections came. */
#include <stdlib.h>
#include <string.h>

#include "daemon.h"

typedef struct pool_thread {
	struct vpd_pool *p;
	pthread_t th;
	vp_store *s;
	int started;
} pool_thread;

struct vpd_pool {
	vpd *d;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	vpd_job *head, *tail;
	int stop;
	int n;
	pool_thread *t;
};

static void *
pool_main(void *arg)
{
	pool_thread *t = arg;
	vpd_pool *p = t->p;

	for (;;) {
		vpd_job *j;
		int drained;

		pthread_mutex_lock(&p->mu);
		while (p->head == NULL && !p->stop)
			pthread_cond_wait(&p->cv, &p->mu);
		if (p->head == NULL) {
			pthread_mutex_unlock(&p->mu);
			break;
		}
		j = p->head;
		if ((p->head = j->next) == NULL)
			p->tail = NULL;
		j->next = NULL;
		drained = atomic_fetch_sub(&p->d->pool_backlog, 1) == 1;
		pthread_mutex_unlock(&p->mu);
		if (drained)
			vpd_committer_nudge(p->d->committer);

		j->run(j, t->s);
		vpd_job_route(j);
	}
	return NULL;
}

vpd_pool *
vpd_pool_start(vpd *d, int threads, vp_error *e)
{
	vpd_pool *p = calloc(1, sizeof(*p));
	int i, rc;

	if (p == NULL || (p->t = calloc((size_t)threads, sizeof(*p->t))) == NULL) {
		free(p);
		vp_error_set(e, VP_ERR_NOMEM, "out of memory");
		return NULL;
	}
	p->d = d;
	p->n = threads;
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	for (i = 0; i < threads; i++) {
		p->t[i].p = p;
		if (vp_store_open(d->dbpath, &p->t[i].s, e) != VP_OK)
			goto fail;
		if ((rc = pthread_create(&p->t[i].th, NULL, pool_main, &p->t[i])) != 0) {
			vp_error_set(e, VP_ERR_IO, "cannot start a pool thread: %s", strerror(rc));
			goto fail;
		}
		p->t[i].started = 1;
	}
	return p;
fail:
	vpd_pool_stop(p);
	return NULL;
}

void
vpd_pool_submit(vpd_pool *p, vpd_job *j)
{
	j->next = NULL;
	pthread_mutex_lock(&p->mu);
	if (p->tail != NULL)
		p->tail->next = j;
	else
		p->head = j;
	p->tail = j;
	atomic_fetch_add(&p->d->pool_backlog, 1);
	pthread_cond_signal(&p->cv);
	pthread_mutex_unlock(&p->mu);
}

void
vpd_pool_stop(vpd_pool *p)
{
	if (p == NULL)
		return;
	pthread_mutex_lock(&p->mu);
	p->stop = 1;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	for (int i = 0; i < p->n; i++) {
		if (p->t[i].started)
			pthread_join(p->t[i].th, NULL);
		vp_store_close(p->t[i].s);
	}
	pthread_cond_destroy(&p->cv);
	pthread_mutex_destroy(&p->mu);
	free(p->t);
	free(p);
}
