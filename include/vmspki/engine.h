/* The task engine: runs the devices of queued tasks through the steps of device-api.md, many
 * at once from one thread (libcurl multi), and records each step in the store so that a task
 * survives a crash. The daemon runs it in a thread; `vmspki https enable --wait` runs it in
 * the command when no daemon serves the data directory. */
#ifndef VMSPKI_ENGINE_H
#define VMSPKI_ENGINE_H

#include <stdatomic.h>
#include <stdint.h>

#include "vmspki/ca.h"
#include "vmspki/device.h"
#include "vmspki/err.h"
#include "vmspki/store.h"

#define VP_ENGINE_MAX_ACTIVE_DEFAULT 100

typedef struct vp_engine_cfg {
	const char *db_path;
	const char *ca_file;          /* what the site trusts (PEM): pins devices */
	const char *datadir;          /* certs/ca.chain.pem (the verify step), components, the
	                               * server certificate (CA replacement); NULL: ca_file */
	const vp_sitekey *sitekey;    /* unlocks device passwords */
	/* The CA that signs, held while a certificate is signed (the daemon may swap it); each
	 * hold is released once, and several may be held at once (a signature on the engine's
	 * worker thread while its own thread holds the CA for other work). */
	const vp_ca *(*ca_hold)(void *arg);
	void (*ca_release)(void *arg, const vp_ca *ca);
	/* Optional: loads the CA again if the store holds another one now (a replacement made
	 * by another process); called about once a second. */
	void (*ca_refresh)(void *arg, vp_store *s);
	void *ca_arg;
	int max_active;               /* devices at once over all tasks; 0: the default */
	int64_t only_task;            /* 0: every task; else only this one */
	int exit_when_idle;           /* return once no task is left to run (the CLI) */
	atomic_int *stop;             /* set to stop: devices in the middle resume later */
	atomic_int *nudge;            /* set when a task was created or changed: look now */
	void (*log)(void *arg, const char *line);
	void *log_arg;
	long request_timeout_ms;      /* per device request; 0: 30 s */
} vp_engine_cfg;

/* Runs until *stop is set (or, with exit_when_idle, nothing is left). */
vp_err vp_engine_run(const vp_engine_cfg *cfg, vp_error *e);

/* Is another live engine (a running daemon) serving this store? 1 yes, 0 no. */
int vp_engine_other_alive(vp_store *s);

#endif
