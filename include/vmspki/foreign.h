/* Certificates and CA certificates other tools left on cameras (issue 19, item 11): AXIS Camera
 * Station and AXIS Device Manager name theirs with a header in brackets ("[GS] ...", "[CA] ...",
 * "[T] ..."). Tasks record the ones they see (`device show` lists them) and `https update
 * --clean` removes them, never the bound certificate and never the factory one. */
#ifndef VMSPKI_FOREIGN_H
#define VMSPKI_FOREIGN_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "vmspki/driver.h"
#include "vmspki/err.h"
#include "vmspki/store.h"
#include "vmspki/task.h"

/* 1 when alias is another tool's: "[" 1 to 4 letters "]" at its start (ACS, ADM). */
int vp_foreign_alias(const char *alias);

/* The other tools' entries of a device's list (cas: CA certificates, else certificates with
 * keys), leaving out the aliases in skip (NULL-terminated, may be NULL), as a JSON array of
 * {alias, subject, issuer, not_after}: a new string to record, NULL when out of memory. */
char *vp_foreign_from_list(const vp_dev_cert *certs, size_t n, const char *const *skip);

/* Records what a task saw on device dev_id (JSON from vp_foreign_from_list, or NULL to keep
 * what was recorded), in the caller's transaction. */
vp_err vp_foreign_record(vp_store *s, int64_t dev_id, const char *certs_json,
    const char *cas_json, vp_error *e);

/* Forgets what was recorded for device dev_id (removed; its id may be given again). */
vp_err vp_foreign_forget(vp_store *s, int64_t dev_id, vp_error *e);

/* What the last task saw on device dev_id: {"certificates":[...],"ca_certificates":[...],
 * "seen":true|false}; NULL when out of memory. */
json_t *vp_foreign_json(vp_store *s, int64_t dev_id);

/* Creates a task like vp_task_create that also removes the other tools' certificates and CA
 * certificates from each device (`https update --clean`). */
vp_err vp_foreign_clean_task(vp_store *s, const vp_task_opts *o, const int64_t *ids, size_t n,
    int all, const char *actor, int64_t *id, vp_error *e);
/* 1 when task id was made by vp_foreign_clean_task. */
int vp_foreign_clean_wanted(vp_store *s, int64_t id);

#endif
