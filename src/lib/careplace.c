/* The CA replacement's own phases (task kind ca-replace), around the devices that the step
 * machine moves to the new CA (adding it, a new certificate, removing the old CA).
 *
 * First the local items: the components are made to trust the new CA, then re-issued, and
 * the API server certificate is renewed. Then every device. Only when every item and device
 * has a certificate of the new CA is the old CA retired from the site's trust
 * (vp_ca_retire_previous). Each phase is recorded, and each looks at what is done already, so
 * a restarted engine finishes the task.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine_internal.h"
#include "vmspki/component.h"
#include "vmspki/servercert.h"

static void
comp_log(void *arg, const char *line)
{
	eng_log(arg, "%s", line);
}

/* Runs the reload command of every component that has one: after the site's trust file
 * changed (the new CA added, or the old one removed), the components read it again. */
static void
reload_components(engine *g, const char *why)
{
	vp_component_conf *conf = NULL;
	vp_error e = { 0 };

	if (g->cfg->datadir == NULL)
		return;
	if (vp_component_conf_load(g->cfg->datadir, &conf, &e) != VP_OK) {
		eng_log(g, "cannot read the components' reload commands: %s", e.msg);
		return;
	}
	for (size_t i = 0; i < conf->n; i++) {
		char result[200];
		int status;

		if (conf->c[i].reload == NULL)
			continue;
		vp_component_run_reload(conf->c[i].id, conf->c[i].reload,
		    VP_COMPONENT_RELOAD_TIMEOUT, comp_log, g, &status, result, sizeof(result));
		eng_log(g, "component %s: reload command (%s) %s", conf->c[i].id, why, result);
	}
	vp_component_conf_free(conf);
}

/* The API server certificate, renewed by the new CA unless the operator imported it: its
 * item's status, and what happened in srv. e keeps a failure's sentence. */
static const char *
server_cert_move(engine *g, const vp_ca *ca, const char *actor, char *srv, size_t n,
    vp_error *e)
{
	vp_servercert_status st;
	int renewed = 0;

	snprintf(srv, n, "%s", "");
	if (vp_servercert_status_get(ca, g->cfg->datadir, &st, e) != VP_OK) {
		snprintf(srv, n, "%.500s", e->msg);
		return "Failed";
	}
	if (!st.present)
		snprintf(srv, n, "there is none yet: `vmspki serve` makes it from the new CA when "
		    "it starts");
	else if (st.imported)
		snprintf(srv, n, "imported by the operator (serial %s): left in place; import one "
		    "issued by the new CA (`vmspki server-cert import`)", st.serial);
	else if (vp_servercert_ensure(g->s, ca, g->cfg->datadir, 0, actor, &renewed, &st, e) !=
	    VP_OK) {
		snprintf(srv, n, "%.500s", e->msg);
		return "Failed";
	} else
		snprintf(srv, n, "%s serial %s, issued by the new CA", renewed ? "renewed:" :
		    "already", st.serial);
	return "Finished";
}

/* A component's item: its certificates (re-issued by the new CA or not) and its reload
 * command into detail; the item's status. */
static const char *
component_detail(const vp_component_info *ci, const vp_component_outcome *oc, size_t noc,
    char *detail, size_t dlen)
{
	const char *status = "Finished";
	size_t n = 0;

	detail[0] = '\0';
	for (int k = 0; k < 2; k++) {
		const vp_component_cert *c = &ci->cert[k];
		const vp_component_outcome *o = NULL;

		if (!c->wanted)
			continue;
		for (size_t x = 0; x < noc; x++)
			if (strcmp(oc[x].id, ci->id) == 0)
				o = &oc[x];
		if (strcmp(c->status, "OK") != 0 &&
		    strcmp(c->status, "Certificate about to expire") != 0)
			status = "Failed";
		n += (size_t)snprintf(detail + n, n < dlen ? dlen - n : 0, "%s%s certificate %s: %s",
		    n > 0 ? "; " : "", vp_component_kind_name((vp_component_kind)k),
		    c->serial[0] ? c->serial : "-", o != NULL && o->renewed[k] ?
		    "issued by the new CA" : c->status);
	}
	for (size_t x = 0; x < noc; x++)
		if (strcmp(oc[x].id, ci->id) == 0 && oc[x].reload_ran && n < dlen)
			n += (size_t)snprintf(detail + n, dlen - n, "; reload command %s",
			    oc[x].reload_result);
	if (strcmp(status, "Failed") != 0)
		for (size_t x = 0; x < noc; x++)
			if (strcmp(oc[x].id, ci->id) == 0 && oc[x].reload_ran &&
			    oc[x].reload_status != 0)
				status = "Failed";
	return status;
}

/* Phase 1 of a replacement: every component is made to trust the new CA (the trust file
 * holds both CAs since the replacement began), then gets certificates of the new CA; the API
 * server certificate is renewed by the new CA. Each item's result is recorded and the task
 * moves on to its devices, whatever failed: the old CA stays trusted until all are done. */
void
eng_replace_local(engine *g, etask *t)
{
	vp_component_outcome *oc = NULL;
	vp_component_info *ci = NULL;
	size_t noc = 0, nci = 0;
	vp_error e = { 0 };
	const vp_ca *ca = NULL;
	char actor[48], detail[512], item[96], srv[512];
	const char *srv_status;
	int comp_err = 0;

	snprintf(actor, sizeof(actor), "task %" PRId64, t->id);
	if (g->cfg->datadir == NULL) {
		eng_log(g, "task %" PRId64 ": no data directory to find the components in", t->id);
		return;
	}
	if (eng_ca_check(g, &e) != VP_OK || (ca = g->cfg->ca_hold(g->cfg->ca_arg)) == NULL) {
		eng_log(g, "task %" PRId64 ": cannot load the new CA (will retry): %s", t->id, e.msg);
		return;
	}
	eng_log(g, "task %" PRId64 ": moving the components and the server certificate to the new "
	    "CA", t->id);
	reload_components(g, "to trust the new CA");
	if (vp_component_renew(g->s, ca, g->cfg->datadir, NULL, 0, 0, actor, comp_log, g, &oc,
	    &noc, &e) != VP_OK || vp_component_list(g->s, ca, g->cfg->datadir, &ci, &nci, &e) !=
	    VP_OK) {
		comp_err = 1;
		eng_log(g, "task %" PRId64 ": the components could not be re-issued: %s", t->id,
		    e.msg);
	}
	srv_status = server_cert_move(g, ca, actor, srv, sizeof(srv), &e);
	g->cfg->ca_release(g->cfg->ca_arg, ca);

	if (vp_store_begin(g->s, &e) != VP_OK)
		goto out;
	if (comp_err) {
		/* Every component item fails with the reason. */
		if (vp_store_claim_components_failed(g->s, t->id, e.msg, (int64_t)time(NULL),
		    &e) != VP_OK)
			goto fail;
	} else {
		for (size_t i = 0; i < nci; i++) {
			const char *status = component_detail(&ci[i], oc, noc, detail,
			    sizeof(detail));

			snprintf(item, sizeof(item), "component %s", ci[i].id);
			if (vp_task_item_set(g->s, t->id, item, status, detail, &e) != VP_OK)
				goto fail;
		}
	}
	if (vp_task_item_set(g->s, t->id, VP_TASK_ITEM_SERVER, srv_status, srv, &e) != VP_OK ||
	    vp_task_set_phase(g->s, t->id, VP_TASK_PHASE_DEVICES, &e) != VP_OK ||
	    vp_store_commit(g->s, &e) != VP_OK)
		goto fail;
	t->t.phase = VP_TASK_PHASE_DEVICES;
	t->claimed_ms = eng_now_ms();             /* the devices' start ramp begins now */
	eng_log(g, "task %" PRId64 ": components and server certificate done; now the devices",
	    t->id);
	goto out;
fail:
	vp_store_rollback(g->s);
out:
	if (e.code != VP_OK)
		eng_log(g, "task %" PRId64 ": cannot record the components' outcome (will retry): %s",
		    t->id, e.msg);
	free(oc);
	free(ci);
}

/* Counts the certificates of the old CA that vmspki did not install (made with `vmspki issue`
 * for holders it cannot reach) and that are still in force. */
typedef struct outside_count {
	int64_t now;
	int n;
} outside_count;

static int
count_outside(const vp_cert_rec *r, void *arg)
{
	outside_count *c = arg;
	const char *k = r->owner_kind != NULL ? r->owner_kind : "";

	if (r->not_after > c->now && strcmp(r->status, "revoked") != 0 &&
	    strcmp(k, "device") != 0 && strcmp(k, "component") != 0 && strcmp(k, "server") != 0)
		c->n++;
	return 0;
}

/* The last phase of a replacement, once every item and device has a certificate of the new
 * CA: the old CA leaves the site's trust file and the store, the components read the trust
 * file again, and the task ends. */
void
eng_retire_old_ca(engine *g, etask *t)
{
	vp_error e = { 0 };
	char actor[48], detail[500];
	int64_t now = (int64_t)time(NULL);
	const char *state = VP_TASK_FINISHED;
	outside_count oc = { now, 0 };
	vp_cert_filter f = { 0 };

	t->retire = 0;
	if (g->old_fp[0] != '\0' && !t->renew) {
		f.issuer_fp = g->old_fp;
		if (vp_store_cert_list(g->s, &f, count_outside, &oc, &e) != VP_OK)
			eng_log(g, "task %" PRId64 ": cannot count the old CA's other certificates: %s",
			    t->id, e.msg);
		vp_error_clear(&e);
	}
	snprintf(actor, sizeof(actor), "task %" PRId64, t->id);
	if (vp_ca_retire_previous(g->s, g->cfg->datadir != NULL ? g->cfg->datadir : ".", t->id,
	    actor, &e) != VP_OK) {
		state = VP_TASK_FAILED;
		snprintf(detail, sizeof(detail), "could not be retired: %.250s", e.msg);
	} else {
		if (t->renew)
			snprintf(detail, sizeof(detail), "retired: certs/ca.cert.pem holds the "
			    "renewed CA alone, which every certificate already issued verifies "
			    "against (the same key and subject)");
		else if (oc.n > 0)
			snprintf(detail, sizeof(detail), "retired: certs/ca.cert.pem holds the new CA "
			    "alone; %d certificate%s of the old CA made with `vmspki issue` (not "
			    "installed by vmspki) %s still in force: %s (`vmspki cert list`)", oc.n,
			    oc.n == 1 ? "" : "s", oc.n == 1 ? "is" : "are", oc.n == 1 ?
			    "its holder needs a new one" : "their holders need new ones");
		else
			snprintf(detail, sizeof(detail), "retired: certs/ca.cert.pem holds the new CA "
			    "alone");
		g->old_fp[0] = '\0';
		reload_components(g, "to stop trusting the old CA");
	}
	vp_error_clear(&e);
	if (vp_store_begin(g->s, &e) != VP_OK ||
	    vp_task_item_set(g->s, t->id, VP_TASK_ITEM_OLD_CA, strcmp(state, VP_TASK_FINISHED) ==
	    0 ? "Finished" : "Failed", detail, &e) != VP_OK ||
	    vp_task_set_phase(g->s, t->id, strcmp(state, VP_TASK_FINISHED) == 0 ?
	    VP_TASK_PHASE_DONE : VP_TASK_PHASE_DEVICES, &e) != VP_OK ||
	    vp_store_claim_finish(g->s, t->id, state, now, &e) != VP_OK ||
	    vp_store_commit(g->s, &e) != VP_OK) {
		vp_store_rollback(g->s);
		eng_log(g, "task %" PRId64 ": cannot record its end (will retry): %s", t->id, e.msg);
		t->done_loading = 0;          /* looked at again: the retirement is idempotent */
		return;
	}
	eng_log(g, "task %" PRId64 ": the old CA %s", t->id, detail);
	snprintf(t->t.state, sizeof(t->t.state), "%s", state);
}

/* ---- CA renewal (issue 19, item 5) ----
 * The local phase of a renewal: each component's certificate files get the renewed CA after
 * the certificate (the certificates and keys stay), and its reload command runs, so that it
 * reads them and the trust file (the renewed CA, and the old one until the task ends). The API
 * server certificate is left alone: the same key signed it. Then the devices. */
void
eng_renew_local(engine *g, etask *t)
{
	vp_component_info *ci = NULL;
	vp_component_conf *conf = NULL;
	size_t nci = 0;
	vp_error e = { 0 };
	const vp_ca *ca = NULL;
	char **details = NULL;
	const char **status = NULL;
	int err = 0;

	if (g->cfg->datadir == NULL) {
		eng_log(g, "task %" PRId64 ": no data directory to find the components in", t->id);
		return;
	}
	if (eng_ca_check(g, &e) != VP_OK || (ca = g->cfg->ca_hold(g->cfg->ca_arg)) == NULL) {
		eng_log(g, "task %" PRId64 ": cannot load the renewed CA (will retry): %s", t->id,
		    e.msg);
		return;
	}
	if (vp_component_list(g->s, ca, g->cfg->datadir, &ci, &nci, &e) != VP_OK ||
	    vp_component_conf_load(g->cfg->datadir, &conf, &e) != VP_OK) {
		err = 1;
		eng_log(g, "task %" PRId64 ": the components could not be read: %s", t->id, e.msg);
	} else if (nci > 0 && ((details = calloc(nci, sizeof(*details))) == NULL ||
	    (status = calloc(nci, sizeof(*status))) == NULL)) {
		err = 1;
		vp_error_set(&e, VP_ERR_NOMEM, "out of memory");
	}
	for (size_t i = 0; !err && i < nci; i++) {
		const vp_component_conf_entry *ce = vp_component_conf_find(conf, ci[i].id);
		char d[512], result[200];
		int files = 0, rstatus = 0;
		vp_error ce_e = { 0 };

		status[i] = "Finished";
		if (vp_component_rechain(g->s, ca, g->cfg->datadir, ci[i].id, &files, &ce_e) !=
		    VP_OK) {
			status[i] = "Failed";
			snprintf(d, sizeof(d), "its certificate files could not be rewritten: %.400s",
			    ce_e.msg);
		} else {
			snprintf(d, sizeof(d), "%d certificate file%s now carr%s the renewed CA "
			    "(certificates and keys kept)", files, files == 1 ? "" : "s",
			    files == 1 ? "ies" : "y");
		}
		if (ce != NULL && ce->reload != NULL) {
			size_t l = strlen(d);

			vp_component_run_reload(ci[i].id, ce->reload, VP_COMPONENT_RELOAD_TIMEOUT,
			    comp_log, g, &rstatus, result, sizeof(result));
			snprintf(d + l, sizeof(d) - l, "; reload command %s", result);
			if (rstatus != 0)
				status[i] = "Failed";
		}
		details[i] = strdup(d);
	}
	g->cfg->ca_release(g->cfg->ca_arg, ca);

	if (vp_store_begin(g->s, &e) != VP_OK)
		goto out;
	if (err) {
		if (vp_store_claim_components_failed(g->s, t->id, e.msg, (int64_t)time(NULL),
		    &e) != VP_OK)
			goto fail;
	} else {
		for (size_t i = 0; i < nci; i++) {
			char item[96];

			snprintf(item, sizeof(item), "component %s", ci[i].id);
			if (vp_task_item_set(g->s, t->id, item, status[i], details[i] != NULL ?
			    details[i] : "out of memory", &e) != VP_OK)
				goto fail;
		}
	}
	if (vp_task_set_phase(g->s, t->id, VP_TASK_PHASE_DEVICES, &e) != VP_OK ||
	    vp_store_commit(g->s, &e) != VP_OK)
		goto fail;
	vp_error_clear(&e);
	t->t.phase = VP_TASK_PHASE_DEVICES;
	t->claimed_ms = eng_now_ms();
	eng_log(g, "task %" PRId64 ": components given the renewed CA; now the devices", t->id);
	goto out;
fail:
	vp_store_rollback(g->s);
	eng_log(g, "task %" PRId64 ": cannot record the components' outcome (will retry): %s",
	    t->id, e.msg);
out:
	for (size_t i = 0; details != NULL && i < nci; i++)
		free(details[i]);
	free(details);
	free(status);
	vp_component_conf_free(conf);
	free(ci);
}
