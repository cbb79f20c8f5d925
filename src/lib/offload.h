/* One worker thread that runs CPU-bound pieces of work (a certificate's signature) off an event
 * loop's thread; the loop takes back the finished ones (internal to the library). */
#ifndef VMSPKI_OFFLOAD_H
#define VMSPKI_OFFLOAD_H

#include "vmspki/err.h"

typedef struct vp_offload vp_offload;

/* Starts the worker. notify(arg) is called on the worker's thread after each piece of work
 * is done (e.g. curl_multi_wakeup), so that the loop comes to take it. */
vp_err vp_offload_new(void (*notify)(void *arg), void *notify_arg, vp_offload **out,
    vp_error *e);

/* Queues run(work) for the worker; work comes back from vp_offload_take once run. */
vp_err vp_offload_submit(vp_offload *o, void (*run)(void *work), void *work, vp_error *e);

/* A piece of work that has run (oldest first), or NULL if none is done yet. */
void *vp_offload_take(vp_offload *o);

/* Runs what is queued, stops the worker and frees o; what was done and not taken is handed
 * to dispose(work) (NULL: left alone). Accepts NULL. */
void vp_offload_free(vp_offload *o, void (*dispose)(void *work));

#endif
