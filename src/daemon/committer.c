/* Group commit: issued certificates wait here until they are recorded, and the reply that
 * tells a client it has its certificate is sent only after the transaction committed (so a
 * crash never loses a certificate a client was given). One thread takes every certificate
 * queued while the previous transaction was on disk and records them in one transaction,
 * then hands them back to the loops that own their requests, one wake-up per loop.
 *
 * A transaction's cost is mostly fixed (the WAL's sync), so when the pool's threads are all
 * signing and more requests wait for them, the committer waits for the certificates being
 * signed rather than commit one at a time: until no request waits for a pool thread any
 * more (committing then keeps the pool busy: its clients' next requests arrive while it
 * signs the last ones), the batch holds VPD_COMMIT_TARGET, or VPD_COMMIT_WAIT_US passed.
 * When nothing waits for the pool, a certificate is committed at once. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "vmspki/util.h"

struct vpd_committer {
	vpd *d;
	pthread_t th;
	pthread_mutex_t mu;
	pthread_cond_t cv;           /* CLOCK_MONOTONIC */
	vpd_job *head, *tail;
	size_t n;                    /* jobs queued */
	size_t target;               /* a batch this large is committed without waiting */
	int waiting;                 /* 1: for a first job, 2: for more (until target) */
	int stop;
	vp_store *s;
};

vpd_job *
vpd_job_new(vpd_ctx *c)
{
	vpd_job *j = calloc(1, sizeof(*j));

	if (j == NULL)
		return NULL;
	j->d = c->d;
	j->t_start_us = c->t_start_us;
	snprintf(j->actor, sizeof(j->actor), "%s", c->actor);
	snprintf(j->peer, sizeof(j->peer), "%s", c->peer);
	return j;
}

int
vpd_job_start(vpd_ctx *c, int with_ca, json_t *in, void (*run)(vpd_job *, vp_store *))
{
	vpd_job *j;

	if (in == NULL || (j = vpd_job_new(c)) == NULL) {
		json_decref(in);
		vpd_reply_oom(c);
		return -1;
	}
	j->in = in;
	if (with_ca)
		j->ca = vpd_ca_get(c->d);
	j->run = run;
	vpd_defer(c, j);
	return 0;
}

void
vpd_job_free(vpd_job *j)
{
	if (j == NULL)
		return;
	vp_issued_free(j->is);
	X509_REQ_free(j->csr);
	json_decref(j->in);
	vpd_ca_put(j->ca);
	if (j->body != NULL) {
		if (j->body_secret)
			vp_secret_free(j->body, j->body_len);
		else
			free(j->body);
	}
	free(j);
}

void
vpd_job_json(vpd_job *j, int status, json_t *v, int secret)
{
	char *s = v != NULL ? json_dumps(v, JSON_COMPACT) : NULL;

	json_decref(v);
	if (j->body != NULL) {
		if (j->body_secret)
			vp_secret_free(j->body, j->body_len);
		else
			free(j->body);
	}
	j->body = NULL;
	j->body_len = 0;
	j->body_secret = 0;
	if (s == NULL) {
		static const char oom[] = "{\"error\":{\"code\":\"internal\",\"message\":"
		    "\"out of memory rendering the reply\"}}";

		j->status = 500;
		j->body = vp_strdup(oom);
		j->body_len = j->body != NULL ? strlen(j->body) : 0;
		return;
	}
	j->status = status;
	j->body = s;
	j->body_len = strlen(s);
	j->body_secret = secret;
}

void
vpd_job_error(vpd_job *j, int status, const char *code, const char *fmt, ...)
{
	char msg[VP_ERROR_MSG_MAX + 200];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	vpd_job_json(j, status, vpd_error_json(code, msg), 0);
}

void
vpd_job_route(vpd_job *j)
{
	if (j->status == 0 && j->is != NULL)
		vpd_committer_submit(j->d->committer, j);
	else
		vpd_worker_job_done(j->w, j);
}

/* Records jobs[0..n) in one transaction; if that fails, each on its own so that one bad
 * record does not take the others down. Each job's rc says how it went. */
static void
record(vpd_committer *c, vpd_job **jobs, size_t n)
{
	vp_error e = { 0 };
	size_t i;
	vp_err rc;

	if (n > 1) {
		if ((rc = vp_store_begin(c->s, &e)) == VP_OK) {
			for (i = 0; i < n && rc == VP_OK; i++)
				rc = vp_issue_record(c->s, &jobs[i]->is, 1, jobs[i]->actor, &e);
			if (rc == VP_OK)
				rc = vp_store_commit(c->s, &e);
			else
				vp_store_rollback(c->s);
			if (rc == VP_OK) {
				for (i = 0; i < n; i++)
					jobs[i]->rc = VP_OK;
				return;
			}
		}
		vp_store_rollback(c->s);
	}
	for (i = 0; i < n; i++) {
		vp_error_clear(&jobs[i]->err);
		jobs[i]->rc = vp_issue_record(c->s, &jobs[i]->is, 1, jobs[i]->actor, &jobs[i]->err);
	}
}

/* Hands the recorded jobs back, one list and one wake-up per loop. */
static void
hand_back(vpd_job **jobs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		vpd_job *head, *tail;

		if (jobs[i] == NULL)
			continue;
		head = tail = jobs[i];
		for (size_t k = i + 1; k < n; k++) {
			if (jobs[k] != NULL && jobs[k]->w == head->w) {
				tail->next = jobs[k];
				tail = jobs[k];
				jobs[k] = NULL;
			}
		}
		tail->next = NULL;
		vpd_worker_jobs_done(head->w, head, tail);
	}
}

static void
deadline_after(struct timespec *ts, long us)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_nsec += (us % 1000000) * 1000;
	ts->tv_sec += us / 1000000 + ts->tv_nsec / 1000000000;
	ts->tv_nsec %= 1000000000;
}

static void *
committer_main(void *arg)
{
	vpd_committer *c = arg;
	vpd_job *batch[VPD_BATCH_MAX];

	for (;;) {
		size_t n = 0;

		pthread_mutex_lock(&c->mu);
		c->waiting = 1;
		while (c->head == NULL && !c->stop)
			pthread_cond_wait(&c->cv, &c->mu);
		if (c->head == NULL && c->stop) {
			pthread_mutex_unlock(&c->mu);
			break;
		}
		/* Group commit: wait while the pool is saturated (see the top). */
		if (c->n < c->target && !c->stop && atomic_load(&c->d->pool_backlog) > 0) {
			struct timespec until;

			deadline_after(&until, VPD_COMMIT_WAIT_US);
			c->waiting = 2;
			while (c->n < c->target && !c->stop && atomic_load(&c->d->pool_backlog) > 0 &&
			    pthread_cond_timedwait(&c->cv, &c->mu, &until) != ETIMEDOUT)
				;
		}
		c->waiting = 0;
		while (c->head != NULL && n < VPD_BATCH_MAX) {
			batch[n++] = c->head;
			c->head = c->head->next;
			c->n--;
		}
		if (c->head == NULL)
			c->tail = NULL;
		pthread_mutex_unlock(&c->mu);

		record(c, batch, n);
		hand_back(batch, n);
	}
	return NULL;
}

vpd_committer *
vpd_committer_start(vpd *d, vp_error *e)
{
	vpd_committer *c = calloc(1, sizeof(*c));
	pthread_condattr_t ca;
	int rc;

	if (c == NULL) {
		vp_error_set(e, VP_ERR_NOMEM, "out of memory");
		return NULL;
	}
	c->d = d;
	c->target = VPD_COMMIT_TARGET;
	pthread_mutex_init(&c->mu, NULL);
	if ((rc = pthread_condattr_init(&ca)) != 0 ||
	    (rc = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC)) != 0 ||
	    (rc = pthread_cond_init(&c->cv, &ca)) != 0) {
		pthread_condattr_destroy(&ca);
		pthread_mutex_destroy(&c->mu);
		free(c);
		vp_error_set(e, VP_ERR_IO, "cannot make the committer's condition variable: %s",
		    strerror(rc));
		return NULL;
	}
	pthread_condattr_destroy(&ca);
	if (vp_store_open(d->dbpath, &c->s, e) != VP_OK)
		goto fail;
	if ((rc = pthread_create(&c->th, NULL, committer_main, c)) != 0) {
		vp_error_set(e, VP_ERR_IO, "cannot start the committer thread: %s", strerror(rc));
		goto fail;
	}
	return c;
fail:
	vp_store_close(c->s);
	pthread_cond_destroy(&c->cv);
	pthread_mutex_destroy(&c->mu);
	free(c);
	return NULL;
}

void
vpd_committer_submit(vpd_committer *c, vpd_job *job)
{
	job->next = NULL;
	pthread_mutex_lock(&c->mu);
	if (c->tail != NULL)
		c->tail->next = job;
	else
		c->head = job;
	c->tail = job;
	c->n++;
	/* Wake the committer for a first job, or when the batch it waits for is complete. */
	if (c->waiting == 1 || (c->waiting == 2 && c->n >= c->target))
		pthread_cond_signal(&c->cv);
	pthread_mutex_unlock(&c->mu);
}

void
vpd_committer_nudge(vpd_committer *c)
{
	if (c == NULL)
		return;
	pthread_mutex_lock(&c->mu);
	if (c->waiting == 2)
		pthread_cond_signal(&c->cv);
	pthread_mutex_unlock(&c->mu);
}

/* Finishes what is queued, then ends the thread. */
void
vpd_committer_stop(vpd_committer *c)
{
	if (c == NULL)
		return;
	pthread_mutex_lock(&c->mu);
	c->stop = 1;
	pthread_cond_signal(&c->cv);
	pthread_mutex_unlock(&c->mu);
	pthread_join(c->th, NULL);
	vp_store_close(c->s);
	pthread_cond_destroy(&c->cv);
	pthread_mutex_destroy(&c->mu);
	free(c);
}
