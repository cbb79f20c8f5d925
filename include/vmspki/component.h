/* Certificates of the site's internal components (a NATS broker and the services that talk
 * through it with mutual TLS): a server and/or a client certificate per component id, kept as
 * PEM files in <datadir>/components/certificates, renewed when due, and a nats-server
 * configuration that maps each client certificate to a user with its permissions. */
#ifndef VMSPKI_COMPONENT_H
#define VMSPKI_COMPONENT_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "vmspki/ca.h"
#include "vmspki/err.h"
#include "vmspki/store.h"

#define VP_COMPONENT_ID_MAX 64
#define VP_COMPONENT_RENEW_DAYS 37        /* the 30-day expiry warning + 7, as ADM renews */
#define VP_COMPONENT_RENEW_SETTING "component.renew_days" /* the setting overriding it (0:
                                                            * lifecycle.renew_days) */
#define VP_COMPONENT_RENEW_KEY "component.renew_days"   /* the bare store key older versions
                                                         * read, still honoured when the
                                                         * setting is not set */
#define VP_COMPONENT_RELOAD_TIMEOUT 30    /* seconds a reload command may run */
#define VP_COMPONENT_EMAIL_DOMAIN "natsbroker.localhost"

typedef enum vp_component_kind { VP_COMPONENT_SERVER = 0, VP_COMPONENT_CLIENT = 1 } vp_component_kind;

/* "server", "client". */
const char *vp_component_kind_name(vp_component_kind k);

/* An id is 1-64 characters of [a-z0-9._-], not starting with '.' or '-'. VP_ERR_INVALID
 * with a sentence naming the rule otherwise (never echoes bytes it cannot print). */
vp_err vp_component_id_check(const char *id, vp_error *e);

/* <datadir>/components/certificates, and the file of one certificate (key: its key) in it.
 * New strings (free()); NULL when out of memory. The id is not checked here. */
char *vp_component_dir(const char *datadir);
char *vp_component_file(const char *datadir, const char *id, vp_component_kind k, int key);

/* A line for the log (what was recovered, renewed, what a reload command printed). */
typedef void (*vp_component_log_fn)(void *arg, const char *line);

/* Finishes or undoes every key/certificate pair that a killed run left half-replaced
 * (<pair>.cert.pem.new: rename key.new then cert.new into place; key.new alone: deleted) and
 * removes stale temporary files. Every function below does this first. */
vp_err vp_component_recover(const char *datadir, vp_component_log_fn log, void *log_arg,
    vp_error *e);

/* What is known of one certificate of a component. */
typedef struct vp_component_cert {
	int wanted;               /* the component has this kind of certificate */
	int present;              /* both files are there and the key matches the certificate */
	char serial[64];          /* "" unless present */
	int64_t not_before, not_after;
	const char *status;       /* "OK", "Certificate about to expire", "Certificate has
	                           * expired", "Issued by another CA", "Missing" (NULL if !wanted) */
	char reason[160];         /* why it is due for renewal; "" when it is not */
} vp_component_cert;

typedef struct vp_component_info {
	char id[VP_COMPONENT_ID_MAX + 1];
	int64_t created_at;
	vp_component_cert cert[2];   /* by vp_component_kind */
} vp_component_info;

/* The components and the state of their certificates (ca may be loaded without its key).
 * *out (free()) gets *n entries ordered by id. */
vp_err vp_component_list(vp_store *s, const vp_ca *ca, const char *datadir,
    vp_component_info **out, size_t *n, vp_error *e);
/* One component; VP_ERR_NOTFOUND if there is none called id. */
vp_err vp_component_get(vp_store *s, const vp_ca *ca, const char *datadir, const char *id,
    vp_component_info *out, vp_error *e);

/* Adds component id with the kinds asked for (server and/or client; both 0: both), issuing
 * each new certificate (RSA 2048, profiles component-server / component-client, owner
 * "component" id) and writing its files. VP_ERR_EXISTS when the component already has every
 * kind asked for; otherwise only the missing kinds are issued. ca needs its key. */
vp_err vp_component_add(vp_store *s, const vp_ca *ca, const char *datadir, const char *id,
    int server, int client, const char *actor, vp_component_info *out, vp_error *e);

/* Removes the component's files and its row (its certificates stay recorded).
 * VP_ERR_NOTFOUND if there is none called id. */
vp_err vp_component_remove(vp_store *s, const char *datadir, const char *id,
    const char *actor, vp_error *e);

/* What renewal did to one component. */
typedef struct vp_component_outcome {
	char id[VP_COMPONENT_ID_MAX + 1];
	int wanted[2];
	int renewed[2];
	char reason[2][160];         /* why it was renewed ("forced" with force) */
	char serial[2][64];          /* the certificate in place afterwards */
	int64_t not_after[2];
	int reload_ran;              /* a reload command is configured and was run */
	int reload_status;           /* its exit status; -1 when it did not exit by itself */
	char reload_result[200];     /* "exited with status 0", "timed out after 30 s", ... */
} vp_component_outcome;

/* Checks the certificates of the components ids (n of them; 0: every component) and renews
 * each that is due (always with force): missing or not matching its key, not issued by the
 * current CA, within the renewal window (the setting VP_COMPONENT_RENEW_SETTING, else
 * the lifecycle window) and not already ending with the CA, or (server) not naming every current name and address. Then runs
 * the reload command (components.json) of each component that got a new certificate; its
 * failure is reported in the outcome, never fatal. *out (free()) gets one outcome per
 * component. ca needs its key only when something is due (else VP_ERR_PASSPHRASE). An unknown
 * id gives VP_ERR_NOTFOUND before anything is done. */
vp_err vp_component_renew(vp_store *s, const vp_ca *ca, const char *datadir,
    const char *const *ids, size_t n, int force, const char *actor, vp_component_log_fn log,
    void *log_arg, vp_component_outcome **out, size_t *nout, vp_error *e);

/* The renewal window in days (the setting, else VP_COMPONENT_RENEW_DAYS); VP_ERR_INVALID if
 * the setting is not a whole number from 1 to 36500. */
vp_err vp_component_renew_days(vp_store *s, int *days, vp_error *e);

/* <datadir>/components.json, checked (unknown keys, ids, NATS subjects, types refused with a
 * sentence saying what and where). A missing file is an empty configuration. */
typedef struct vp_component_conf_entry {
	char id[VP_COMPONENT_ID_MAX + 1];
	char **publish;
	size_t npublish;
	char **subscribe;
	size_t nsubscribe;
	char *reload;                /* NULL: none */
} vp_component_conf_entry;

typedef struct vp_component_conf {
	vp_component_conf_entry *c;
	size_t n;
} vp_component_conf;

vp_err vp_component_conf_load(const char *datadir, vp_component_conf **out, vp_error *e);
/* The same from a buffer (what names the source in messages). */
vp_err vp_component_conf_parse(const char *text, size_t len, const char *what,
    vp_component_conf **out, vp_error *e);
void vp_component_conf_free(vp_component_conf *c);
/* The entry of id, or NULL. */
const vp_component_conf_entry *vp_component_conf_find(const vp_component_conf *c,
    const char *id);

/* 1 if s is a NATS subject a permission may name: tokens of printable characters without
 * whitespace separated by single dots, '*' a whole token, '>' only as the whole last one. */
int vp_nats_subject_ok(const char *s);

/* The nats-server configuration (tls block with verify_and_map, authorization with one user
 * per component that has a client certificate) for broker id, which must have a server
 * certificate. *out is a new NUL-terminated string (free()). */
vp_err vp_component_nats_config(vp_store *s, const char *datadir, const char *id, char **out,
    size_t *len, vp_error *e);

/* Runs cmd with /bin/sh -c for component id: stdin /dev/null, stdout and stderr to log line
 * by line, without the passphrase variables in its environment (VMSPKI_COMPONENT=id is
 * added), killed (its process group) after timeout_s seconds. *status gets the exit status,
 * or -1 when it was killed or could not start; result a sentence. */
void vp_component_run_reload(const char *id, const char *cmd, int timeout_s,
    vp_component_log_fn log, void *log_arg, int *status, char *result, size_t result_len);

/* JSON shared by the CLI and the API: a component (id, kinds, created_at, certificates with
 * kind, serial, not_before, not_after, status, renewal_due, cert_file, key_file) and a
 * renewal outcome (id, certificates with kind, renewed, reason, serial, not_after; reload).
 * NULL when out of memory. */
json_t *vp_json_component(const vp_component_info *c, const char *datadir);
/* The n components of all as an array of vp_json_component (`component list --json`, GET
 * /api/v1/components). NULL when out of memory. */
json_t *vp_json_components(const vp_component_info *all, size_t n, const char *datadir);
json_t *vp_json_component_outcome(const vp_component_outcome *o);

/* ---- CA renewal (issue 19, item 5) ---- */
/* After a CA renewal: the certificate files of component id that the CA's key signed are
 * written again, the same certificate followed by the renewed CA (and its chain), under the
 * components' lock; the keys are not touched. *files: how many were rewritten.
 * VP_ERR_NOTFOUND for an unknown id. */
vp_err vp_component_rechain(vp_store *s, const vp_ca *ca, const char *datadir, const char *id,
    int *files, vp_error *e);

#endif
