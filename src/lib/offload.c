/* One worker thread for an event loop's CPU-bound work: the task engine signs device certificates
 * here (RSA-4096: milliseconds each) while its own thread goes on serving the other cameras. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#ifdef __linux__
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

#include "offload.h"

/* The worker yields to the loop's thread when both want the same core (vmspki confined to one
 * core, or a busy machine): the loop's latency is every camera's, a signature is one device's.
 * bench/fleet N=1000 on one core: the engine thread's run-queue wait 4.1-1.6 s instead of
 * 6.2-4.5 s, device time 2.06-2.32 s instead of 2.16-2.35 s. */
#define WORKER_NICE 10

struct piece {
	struct piece *next;
	void (*run)(void *work);
	void *work;
};

/* A FIFO of pieces. */
struct fifo {
	struct piece *head, *tail;
};

struct vp_offload {
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct fifo queued, done;       /* signatures to make; signatures made */
	int stop;
	void (*notify)(void *arg);
	void *notify_arg;
};

static void
fifo_put(struct fifo *f, struct piece *p)
{
	p->next = NULL;
	if (f->tail != NULL)
		f->tail->next = p;
	else
		f->head = p;
	f->tail = p;
}

static struct piece *
fifo_get(struct fifo *f)
{
	struct piece *p = f->head;

	if (p != NULL && (f->head = p->next) == NULL)
		f->tail = NULL;
	return p;
}

static void *
worker(void *arg)
{
	vp_offload *o = arg;
	struct piece *p;

#ifdef __linux__
	{
		/* Linux: a thread's nice value is its own (PRIO_PROCESS with its thread id). */
		id_t tid = (id_t)syscall(SYS_gettid);
		int nice;

		errno = 0;
		nice = getpriority(PRIO_PROCESS, tid);
		if (errno == 0)
			(void)setpriority(PRIO_PROCESS, tid, nice + WORKER_NICE);
	}
#endif
	pthread_mutex_lock(&o->mu);
	for (;;) {
		while (o->queued.head == NULL && !o->stop)
			pthread_cond_wait(&o->cv, &o->mu);
		if ((p = fifo_get(&o->queued)) == NULL)
			break;                 /* stopping, nothing left */
		pthread_mutex_unlock(&o->mu);
		p->run(p->work);
		pthread_mutex_lock(&o->mu);
		fifo_put(&o->done, p);
		pthread_mutex_unlock(&o->mu);
		if (o->notify != NULL)
			o->notify(o->notify_arg);
		pthread_mutex_lock(&o->mu);
	}
	pthread_mutex_unlock(&o->mu);
	return NULL;
}

vp_err
vp_offload_new(void (*notify)(void *arg), void *notify_arg, vp_offload **out, vp_error *e)
{
	vp_offload *o;

	*out = NULL;
	if ((o = calloc(1, sizeof(*o))) == NULL)
		return vp_error_set(e, VP_ERR_NOMEM, "out of memory");
	o->notify = notify;
	o->notify_arg = notify_arg;
	if (pthread_mutex_init(&o->mu, NULL) != 0) {
		free(o);
		return vp_error_set(e, VP_ERR_INTERNAL, "cannot make a mutex");
	}
	if (pthread_cond_init(&o->cv, NULL) != 0) {
		pthread_mutex_destroy(&o->mu);
		free(o);
		return vp_error_set(e, VP_ERR_INTERNAL, "cannot make a condition variable");
	}
	if (pthread_create(&o->thread, NULL, worker, o) != 0) {
		pthread_cond_destroy(&o->cv);
		pthread_mutex_destroy(&o->mu);
		free(o);
		return vp_error_set(e, VP_ERR_INTERNAL, "cannot start a worker thread");
	}
	*out = o;
	return VP_OK;
}

vp_err
vp_offload_submit(vp_offload *o, void (*run)(void *work), void *work, vp_error *e)
{
	struct piece *p = malloc(sizeof(*p));

	if (p == NULL)
		return vp_error_set(e, VP_ERR_NOMEM, "out of memory");
	p->run = run;
	p->work = work;
	pthread_mutex_lock(&o->mu);
	fifo_put(&o->queued, p);
	pthread_cond_signal(&o->cv);
	pthread_mutex_unlock(&o->mu);
	return VP_OK;
}

void *
vp_offload_take(vp_offload *o)
{
	struct piece *p;
	void *work = NULL;

	pthread_mutex_lock(&o->mu);
	p = fifo_get(&o->done);
	pthread_mutex_unlock(&o->mu);
	if (p != NULL) {
		work = p->work;
		free(p);
	}
	return work;
}

void
vp_offload_free(vp_offload *o, void (*dispose)(void *work))
{
	void *work;

	if (o == NULL)
		return;
	pthread_mutex_lock(&o->mu);
	o->stop = 1;
	pthread_cond_signal(&o->cv);
	pthread_mutex_unlock(&o->mu);
	pthread_join(o->thread, NULL);
	while ((work = vp_offload_take(o)) != NULL)
		if (dispose != NULL)
			dispose(work);
	pthread_cond_destroy(&o->cv);
	pthread_mutex_destroy(&o->mu);
	free(o);
}
