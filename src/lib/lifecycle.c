/* The nightly job (lifecycle.h). Each part runs on its own: one that fails is logged and
 * alarmed, and the others still run. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "device_internal.h"
#include "internal.h"
#include "vmspki/buf.h"
#include "vmspki/datadir.h"
#include "vmspki/dot1x.h"
#include "vmspki/alarm.h"
#include "vmspki/component.h"
#include "vmspki/driver.h"
#include "vmspki/endpoint.h"
#include "vmspki/lifecycle.h"
#include "vmspki/servercert.h"
#include "vmspki/settings.h"
#include "vmspki/task.h"
#include "vmspki/util.h"

typedef struct run {
	vp_store *s;
	const vp_ca *ca;
	const char *datadir;
	int64_t now;
	const char *actor;
	vp_lifecycle_log_fn log;
	void *log_arg;
	vp_lifecycle_report *r;
} run;

static void
rlog(run *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
rlog(run *c, const char *fmt, ...)
{
	char line[1200];
	va_list ap;

	if (c->log == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	c->log(c->log_arg, line);
}

static void
raise_alarm(run *c, const char *kind, const char *subject, vp_alarm_severity sev,
    const char *msg)
{
	vp_error e = { 0 };
	int raised = 0;

	if (vp_alarm_raise(c->s, kind, subject, sev, msg, &raised, &e) != VP_OK) {
		rlog(c, "cannot raise the alarm %s for %s: %s", kind, subject, e.msg);
		return;
	}
	if (raised) {
		c->r->alarms_raised++;
		rlog(c, "alarm raised: %s: %s", kind, msg);
	}
}

static void
clear_alarm(run *c, const char *kind, const char *subject)
{
	vp_error e = { 0 };
	int cleared = 0;

	if (vp_alarm_clear(c->s, kind, subject, &cleared, &e) != VP_OK) {
		rlog(c, "cannot clear the alarm %s for %s: %s", kind, subject, e.msg);
		return;
	}
	if (cleared) {
		c->r->alarms_cleared++;
		rlog(c, "alarm cleared: %s for %s", kind, subject);
	}
}

/* The expiry alarms of one certificate: expired (critical), about to expire (warning), or
 * neither. */
static void
expiry_alarms(run *c, const char *kind_expiring, const char *kind_expired, const char *subject,
    const char *what, int64_t not_after)
{
	char msg[400], when[32];
	int64_t left = not_after - c->now;

	vp_time_iso(not_after, when, sizeof(when));
	if (left <= 0) {
		snprintf(msg, sizeof(msg), "%s has expired (it ended %s)", what, when);
		raise_alarm(c, kind_expired, subject, VP_SEV_CRITICAL, msg);
		clear_alarm(c, kind_expiring, subject);
	} else if (left <= (int64_t)c->r->warn_days * 86400) {
		snprintf(msg, sizeof(msg), "%s expires on %s, in %" PRId64 " days", what, when,
		    left / 86400);
		raise_alarm(c, kind_expiring, subject, VP_SEV_WARNING, msg);
		clear_alarm(c, kind_expired, subject);
	} else {
		clear_alarm(c, kind_expiring, subject);
		clear_alarm(c, kind_expired, subject);
	}
}

static void
ca_part(run *c)
{
	X509 *x = vp_ca_cert(c->ca);
	int64_t na = vp_asn1_time_unix(X509_get0_notAfter(x));
	char cn[256], what[320];

	vp_x509_name_cn(X509_get_subject_name(x), cn, sizeof(cn));
	snprintf(what, sizeof(what), "the CA \"%s\"", cn);
	expiry_alarms(c, VP_ALARM_CA_EXPIRING, VP_ALARM_CA_EXPIRED, "ca", what, na);
}

static void
server_part(run *c)
{
	vp_servercert_status st;
	vp_error e = { 0 };
	int renewed = 0;

	memset(&st, 0, sizeof(st));
	if (vp_servercert_ensure(c->s, c->ca, c->datadir, 0, c->actor, &renewed, &st, &e) !=
	    VP_OK) {
		char msg[600];

		snprintf(msg, sizeof(msg), "the API server certificate could not be renewed: %.400s",
		    e.msg);
		raise_alarm(c, VP_ALARM_RENEWAL_FAILED, "server", VP_SEV_CRITICAL, msg);
		return;
	}
	clear_alarm(c, VP_ALARM_RENEWAL_FAILED, "server");
	if (renewed) {
		c->r->server_renewed = 1;
		rlog(c, "renewed the API server certificate: serial %s", st.serial);
	}
	if (st.present)
		expiry_alarms(c, VP_ALARM_CERT_EXPIRING, VP_ALARM_CERT_EXPIRED, "server",
		    st.imported ? "the imported API server certificate" :
		    "the API server certificate", st.not_after);
}

static void
component_log(void *arg, const char *line)
{
	run *c = arg;

	rlog(c, "%s", line);
}

static void
components_part(run *c)
{
	vp_component_outcome *oc = NULL;
	vp_component_info *all = NULL;
	vp_error e = { 0 };
	size_t n = 0, i;
	char subject[160], what[200], msg[600];

	if (vp_component_renew(c->s, c->ca, c->datadir, NULL, 0, 0, c->actor, component_log, c,
	    &oc, &n, &e) != VP_OK) {
		snprintf(msg, sizeof(msg), "component certificates could not be renewed: %.400s",
		    e.msg);
		raise_alarm(c, VP_ALARM_RENEWAL_FAILED, "components", VP_SEV_CRITICAL, msg);
		return;
	}
	clear_alarm(c, VP_ALARM_RENEWAL_FAILED, "components");
	for (i = 0; i < n; i++)
		for (int k = 0; k < 2; k++)
			if (oc[i].renewed[k]) {
				c->r->components_renewed++;
				rlog(c, "renewed the %s certificate of component %s (%s)",
				    vp_component_kind_name((vp_component_kind)k), oc[i].id,
				    oc[i].reason[k]);
			}
	free(oc);
	if (vp_component_list(c->s, c->ca, c->datadir, &all, &n, &e) != VP_OK) {
		rlog(c, "cannot list the components: %s", e.msg);
		return;
	}
	for (i = 0; i < n; i++)
		for (int k = 0; k < 2; k++) {
			const vp_component_cert *cc = &all[i].cert[k];

			if (!cc->wanted || !cc->present)
				continue;
			snprintf(subject, sizeof(subject), "component:%s:%s", all[i].id,
			    vp_component_kind_name((vp_component_kind)k));
			snprintf(what, sizeof(what), "the %s certificate of component %s",
			    vp_component_kind_name((vp_component_kind)k), all[i].id);
			expiry_alarms(c, VP_ALARM_CERT_EXPIRING, VP_ALARM_CERT_EXPIRED, subject, what,
			    cc->not_after);
		}
	free(all);
}

/* The devices due for renewal that no task holds, counted into the report as they come. */
struct due {
	run *c;
	vp_ids ids;
};

static int
count_device(int64_t id, int busy, void *arg)
{
	(void)id;
	(void)busy;
	(*(int *)arg)++;
	return 0;
}

static int
due_device(int64_t id, int busy, void *arg)
{
	struct due *d = arg;

	d->c->r->devices_due++;
	if (busy) {
		d->c->r->devices_busy++;
		return 0;
	}
	return vp_ids_add(&d->ids, id, NULL);
}

/* One https-update task over the devices whose certificate of ours is within the renewal
 * window and that no task holds. Selection and creation are one transaction. A certificate
 * that a renewal would not extend (the CA ends within a day of it: a new one is clamped to the
 * CA's end) is left as it is, or every run would re-key the camera: the CA gets one alarm. */
static void
devices_part(run *c)
{
	struct due d = { c, VP_IDS_INIT };
	vp_error e = { 0 };
	vp_task_opts o = { .kind = VP_TASK_HTTPS_UPDATE };
	int64_t id = 0, window = c->now + (int64_t)c->r->renew_days * 86400, before = window;
	int64_t ca_end = vp_asn1_time_unix(X509_get0_notAfter(vp_ca_cert(c->ca))), new_end;
	long days = 365;
	int all = 0;
	vp_err rc;

	if (vp_setting_get_int(c->s, "device.days", &days, &e) != VP_OK)
		rlog(c, "cannot read device.days (%s): renewals are taken as 365 days", e.msg);
	new_end = c->now + (int64_t)days * 86400;
	if (new_end > ca_end)
		new_end = ca_end;
	if (before > new_end - 86400)
		before = new_end - 86400;
	if (vp_store_begin(c->s, &e) != VP_OK) {
		rlog(c, "cannot look for devices to renew: %s", e.msg);
		return;
	}
	if (before < window && (rc = vp_store_device_to_renew(c->s, window, count_device, &all,
	    &e)) != VP_OK)
		goto fail;
	if ((rc = vp_store_device_to_renew(c->s, before, due_device, &d, &e)) != VP_OK) {
		if (rc == VP_ERR_NOMEM)
			vp_error_set(&e, VP_ERR_NOMEM, "out of memory");
		goto fail;
	}
	if (d.ids.n > 0 && vp_task_create(c->s, &o, d.ids.v, d.ids.n, 0, c->actor, &id, &e) !=
	    VP_OK)
		goto fail;
	if (vp_store_commit(c->s, &e) != VP_OK)
		goto fail;
	c->r->devices_blocked = all > c->r->devices_due ? all - c->r->devices_due : 0;
	if (c->r->devices_blocked > 0) {
		char msg[600], when[32];

		vp_time_iso(ca_end, when, sizeof(when));
		snprintf(msg, sizeof(msg), "%d device certificate%s due for renewal cannot be "
		    "extended: the CA ends on %s, and a renewed certificate would end then too; "
		    "renew or replace the CA (vmspki ca init --replace), then the devices get "
		    "certificates from it", c->r->devices_blocked, c->r->devices_blocked == 1 ?
		    " is" : "s are", when);
		raise_alarm(c, VP_ALARM_CA_LIMITS_RENEWAL, "ca", VP_SEV_CRITICAL, msg);
		rlog(c, "%d device%s not renewed: a renewal would not extend %s (the CA ends %s)",
		    c->r->devices_blocked, c->r->devices_blocked == 1 ? "" : "s",
		    c->r->devices_blocked == 1 ? "it" : "them", when);
	} else {
		clear_alarm(c, VP_ALARM_CA_LIMITS_RENEWAL, "ca");
	}
	if (d.ids.n > 0) {
		c->r->renewal_task = id;
		rlog(c, "task %" PRId64 ": renewing the certificates of %zu device%s (within %d days "
		    "of their end)", id, d.ids.n, d.ids.n == 1 ? "" : "s", c->r->renew_days);
	}
	if (c->r->devices_busy > 0)
		rlog(c, "%d device%s due for renewal %s already in a task", c->r->devices_busy,
		    c->r->devices_busy == 1 ? "" : "s", c->r->devices_busy == 1 ? "is" : "are");
	vp_ids_free(&d.ids);
	return;
fail:
	vp_store_rollback(c->s);
	vp_ids_free(&d.ids);
	rlog(c, "cannot make the device renewal task: %s", e.msg);
	{
		char msg[600];

		snprintf(msg, sizeof(msg), "device certificates could not be renewed: %.400s", e.msg);
		raise_alarm(c, VP_ALARM_RENEWAL_FAILED, "devices", VP_SEV_CRITICAL, msg);
	}
}

/* One dot1x-update task over the devices whose 802.1X certificate (the latest a dot1x task
 * installed) is within the renewal window and whose identity mode is mode, by the same rule as
 * HTTPS. A device another task holds now (often the HTTPS renewal just made) is left to a later
 * night. In the caller's transaction. */
static vp_err
dot1x_mode(run *c, const vp_dot1x_state *st, size_t n, const char *mode, vp_error *e)
{
	vp_task_opts o = { .kind = VP_TASK_DOT1X_UPDATE, .cn_mode = mode };
	vp_ids ids = VP_IDS_INIT;
	int64_t id = 0, limit = c->now + (int64_t)c->r->renew_days * 86400;
	vp_err rc = VP_OK;

	for (size_t i = 0; i < n; i++) {
		int64_t busy = 0;

		if (!st[i].enabled || st[i].not_after <= 0 || st[i].not_after > limit ||
		    strcmp(st[i].identity[0] != '\0' ? st[i].identity : "mac", mode) != 0)
			continue;
		c->r->dot1x_due++;
		if ((rc = vp_store_claim_busy(c->s, st[i].device_id, 0, &busy, e)) != VP_OK)
			goto out;
		if (busy != 0) {
			c->r->dot1x_busy++;
			continue;
		}
		if (vp_ids_add(&ids, st[i].device_id, NULL) != 0) {
			rc = vp_error_set(e, VP_ERR_NOMEM, "out of memory");
			goto out;
		}
	}
	if (ids.n == 0)
		goto out;
	if ((rc = vp_task_create(c->s, &o, ids.v, ids.n, 0, c->actor, &id, e)) != VP_OK)
		goto out;
	if (c->r->ndot1x_tasks < 3)
		c->r->dot1x_tasks[c->r->ndot1x_tasks++] = id;
	rlog(c, "task %" PRId64 ": renewing the 802.1X certificates of %zu device%s (identity %s)",
	    id, ids.n, ids.n == 1 ? "" : "s", mode);
out:
	vp_ids_free(&ids);
	return rc;
}

/* The 802.1X renewals: a task per identity mode (each device keeps the identity it has). */
static void
dot1x_part(run *c)
{
	static const char *const modes[] = { "mac", "serial", "name" };
	vp_dot1x_state *st = NULL;
	vp_error e = { 0 };
	size_t n = 0;

	if (vp_store_begin(c->s, &e) != VP_OK)
		goto fail;
	if (vp_dot1x_states(c->s, &st, &n, &e) != VP_OK)
		goto fail;
	for (size_t m = 0; m < sizeof(modes) / sizeof(modes[0]); m++)
		if (dot1x_mode(c, st, n, modes[m], &e) != VP_OK)
			goto fail;
	if (vp_store_commit(c->s, &e) != VP_OK)
		goto fail;
	if (c->r->dot1x_busy > 0)
		rlog(c, "%d device%s due for an 802.1X renewal %s in another task: on a later "
		    "night", c->r->dot1x_busy, c->r->dot1x_busy == 1 ? "" : "s",
		    c->r->dot1x_busy == 1 ? "is" : "are");
	free(st);
	return;
fail:
	vp_store_rollback(c->s);
	free(st);
	rlog(c, "cannot make the 802.1X renewal task: %s", e.msg);
	{
		char msg[600];

		snprintf(msg, sizeof(msg), "802.1X certificates could not be renewed: %.400s", e.msg);
		raise_alarm(c, VP_ALARM_RENEWAL_FAILED, "dot1x", VP_SEV_CRITICAL, msg);
	}
}

/* The devices not in a task (the renewal task was just made) are identified, and get the
 * site CA again where we had installed it and it is gone: one device-check task. */
static void
check_part(run *c)
{
	vp_task_opts o = { .kind = VP_TASK_DEVICE_CHECK };
	vp_error e = { 0 };
	int64_t *ids = NULL, id = 0;
	size_t n = 0;

	if (vp_store_begin(c->s, &e) != VP_OK)
		goto fail;
	if (vp_store_device_to_check(c->s, &ids, &n, &e) != VP_OK ||
	    (n > 0 && vp_task_create(c->s, &o, ids, n, 0, c->actor, &id, &e) != VP_OK) ||
	    vp_store_commit(c->s, &e) != VP_OK)
		goto fail;
	if (n > 0) {
		c->r->check_task = id;
		rlog(c, "task %" PRId64 ": checking %zu device%s (state, site CA installed)", id,
		    n, n == 1 ? "" : "s");
	}
	free(ids);
	return;
fail:
	vp_store_rollback(c->s);
	free(ids);
	rlog(c, "cannot make the device check task: %s", e.msg);
}

/* ---- issue 19, item 4: certificates issued to holders vmspki does not renew itself ---- */

/* The newest certificate of each owner: renewing one (cert renew keeps the owner) moves the
 * owner's alarm to the new certificate. */
struct owned {
	char *key;                /* "KIND:ID" */
	char serial[64];
	char *subject;
	int64_t not_after;
};

struct owned_list {
	struct owned *v;
	size_t n, cap;
	int nomem;
};

static int
owned_row(const vp_cert_rec *r, void *arg)
{
	struct owned_list *l = arg;
	const char *k = r->owner_kind != NULL ? r->owner_kind : "";
	size_t klen;
	char *key;

	/* Devices, components and the API certificate have their own alarms and renewals. */
	if (k[0] == '\0' || strcmp(k, "device") == 0 || strcmp(k, "component") == 0 ||
	    strcmp(k, "server") == 0 || strcmp(r->status, "revoked") == 0)
		return 0;
	klen = strlen(k) + 1 + strlen(r->owner_id != NULL ? r->owner_id : "") + 1;
	if ((key = malloc(klen)) == NULL)
		goto nomem;
	snprintf(key, klen, "%s:%s", k, r->owner_id != NULL ? r->owner_id : "");
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->v[i].key, key) == 0) {
			free(key);
			if (r->not_after > l->v[i].not_after) {
				char *subj = vp_strdup(r->subject != NULL ? r->subject : "");

				if (subj == NULL)
					goto nomem;
				free(l->v[i].subject);
				l->v[i].subject = subj;
				l->v[i].not_after = r->not_after;
				snprintf(l->v[i].serial, sizeof(l->v[i].serial), "%s", r->serial);
			}
			return 0;
		}
	if (l->n == l->cap) {
		size_t cap = l->cap > 0 ? l->cap * 2 : 16;
		struct owned *v = cap < SIZE_MAX / sizeof(*v) ? realloc(l->v, cap * sizeof(*v)) :
		    NULL;

		if (v == NULL) {
			free(key);
			goto nomem;
		}
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n].key = key;
	l->v[l->n].subject = vp_strdup(r->subject != NULL ? r->subject : "");
	l->v[l->n].not_after = r->not_after;
	snprintf(l->v[l->n].serial, sizeof(l->v[l->n].serial), "%s", r->serial);
	if (l->v[l->n].subject == NULL) {
		free(key);
		goto nomem;
	}
	l->n++;
	return 0;
nomem:
	l->nomem = 1;
	return 1;
}

static void
issued_part(run *c)
{
	struct owned_list l = { NULL, 0, 0, 0 };
	vp_cert_filter f = { 0 };
	vp_error e = { 0 };
	char subject[600], what[900];
	size_t i;

	if (vp_store_cert_list(c->s, &f, owned_row, &l, &e) != VP_OK || l.nomem) {
		rlog(c, "cannot look at the issued certificates: %s", l.nomem ? "out of memory" :
		    e.msg);
		goto out;
	}
	for (i = 0; i < l.n; i++) {
		snprintf(subject, sizeof(subject), "cert:%.500s", l.v[i].key);
		snprintf(what, sizeof(what), "the certificate of %.300s (%.300s, serial %s; "
		    "vmspki cert renew %s makes its successor)", l.v[i].key, l.v[i].subject,
		    l.v[i].serial, l.v[i].serial);
		expiry_alarms(c, VP_ALARM_CERT_EXPIRING, VP_ALARM_CERT_EXPIRED, subject, what,
		    l.v[i].not_after);
	}
	c->r->certs_watched = (int)l.n;
out:
	for (i = 0; i < l.n; i++) {
		free(l.v[i].key);
		free(l.v[i].subject);
	}
	free(l.v);
}

static void
endpoints_part(run *c)
{
	vp_error e = { 0 };
	char *cafile = vp_datadir_join(c->datadir, VP_PATH_CA_CERT);
	int checked = 0;

	if (cafile == NULL) {
		rlog(c, "out of memory");
		return;
	}
	if (vp_endpoint_check_due(c->s, cafile, c->now, &checked, &e) != VP_OK)
		rlog(c, "cannot check the monitored endpoints: %s", e.msg);
	c->r->endpoints_checked = checked;
	free(cafile);
}

vp_err
vp_lifecycle_run(vp_store *s, const vp_ca *ca, const char *datadir, int64_t now,
    const char *actor, vp_lifecycle_log_fn log, void *log_arg, vp_lifecycle_report *r,
    vp_error *e)
{
	run c = { s, ca, datadir, now > 0 ? now : (int64_t)time(NULL), actor != NULL ? actor :
	    "lifecycle", log, log_arg, r };
	vp_err rc;

	memset(r, 0, sizeof(*r));
	if ((rc = vp_lifecycle_windows(s, &r->warn_days, &r->renew_days, e)) != VP_OK)
		return rc;
	{
		/* Settings stored before they were checked against each other: a window as long
		 * as the validity would renew every camera every night. */
		long days = 365;

		if (vp_setting_get_int(s, "device.days", &days, e) != VP_OK)
			return e->code;
		if (r->renew_days >= days) {
			rlog(&c, "the renewal window (%d days) is not below device.days (%ld): "
			    "renewing at %ld days instead; correct the settings (vmspki settings)",
			    r->renew_days, days, days / 2);
			r->renew_days = (int)(days / 2);
		}
	}
	ca_part(&c);
	server_part(&c);
	components_part(&c);
	issued_part(&c);
	devices_part(&c);
	dot1x_part(&c);
	check_part(&c);
	endpoints_part(&c);
	return VP_OK;
}
