/* The task engine's group commit: every result of a turn of the loop (device steps and
 * outcomes, certificates signed, device rows, the alarms of renewals, the end of a task) is
 * written in one transaction.
 *
 * Durability. A request that depends on a write is only sent after that commit: the
 * certificate signed for a device is recorded before it is installed. Progress is written at
 * least every FLUSH_MS, so that a restarted engine redoes little, and a device resumes from
 * the top (engine_job.c).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine_internal.h"
#include "vmspki/alarm.h"

/* A renewal (https-update) that failed raises an alarm for the device, saying why; one that
 * finished clears it. In the caller's transaction. */
static vp_err
renewal_alarms(engine *g, job *j, vp_error *e)
{
	char subject[48], msg[1200];
	int changed = 0;
	vp_err rc;

	if (strcmp(j->task->t.kind, VP_TASK_HTTPS_UPDATE) != 0 && !j->task->replace)
		return VP_OK;
	snprintf(subject, sizeof(subject), "device:%" PRId64, j->dev_id);
	if (strcmp(j->status, "Finished") == 0) {
		if ((rc = vp_alarm_clear(g->s, VP_ALARM_RENEWAL_FAILED, subject, &changed, e)) !=
		    VP_OK)
			return rc;
		return vp_alarm_clear(g->s, VP_ALARM_DEVICE_UNREACHABLE, subject, &changed, e);
	}
	if (strcmp(j->status, "Failed") != 0)
		return VP_OK;
	snprintf(msg, sizeof(msg), "the certificate of device %" PRId64 " (%s) could not be "
	    "%s (task %" PRId64 ", step %s): %.400s; it keeps its certificate until %s",
	    j->dev_id, j->dev.address, j->task->renew ? "given the renewed CA" :
	    j->task->replace ? "moved to the new CA" : "renewed",
	    j->task->id, eng_step_names[j->fstep], j->ferror,
	    j->dev.cert_serial[0] ? "it ends" : "a renewal works");
	return vp_alarm_raise(g->s, j->ffail == VP_DEVF_UNREACHABLE ?
	    VP_ALARM_DEVICE_UNREACHABLE : VP_ALARM_RENEWAL_FAILED, subject, VP_SEV_CRITICAL, msg,
	    &changed, e);
}

/* 1 if the state columns a task writes (all but the identity) are the same in a and b. */
static int
same_state(const vp_device *a, const vp_device *b)
{
	return strcmp(a->https_state, b->https_state) == 0 && strcmp(a->status, b->status) == 0 &&
	    strcmp(a->status_detail, b->status_detail) == 0 && a->pinned == b->pinned &&
	    a->https_only == b->https_only && strcmp(a->cert_serial, b->cert_serial) == 0 &&
	    strcmp(a->cert_alias, b->cert_alias) == 0 && a->cert_not_after == b->cert_not_after;
}

/* A check does not hold its device against other tasks (task.c): what it writes is put on
 * the row as it is now, so that a task that changed the device meanwhile is not undone.
 * The identity it read is written; its status only if nobody changed the row's state since
 * the check loaded it (or last wrote it): a task that did saw the device later than the
 * check's first look, and its word stands. In the caller's transaction. */
static vp_err
check_write(engine *g, job *j, vp_error *e)
{
	vp_device cur;
	vp_err rc;

	if ((rc = vp_device_get(g->s, j->dev_id, &cur, e)) != VP_OK) {
		if (rc != VP_ERR_NOTFOUND)
			return rc;
		vp_error_clear(e);            /* removed meanwhile */
		return VP_OK;
	}
	snprintf(cur.mac, sizeof(cur.mac), "%s", j->dev.mac);
	snprintf(cur.model, sizeof(cur.model), "%s", j->dev.model);
	snprintf(cur.firmware, sizeof(cur.firmware), "%s", j->dev.firmware);
	snprintf(cur.api, sizeof(cur.api), "%s", j->dev.api);
	if (same_state(&cur, &j->seen)) {
		snprintf(cur.status, sizeof(cur.status), "%s", j->dev.status);
		snprintf(cur.status_detail, sizeof(cur.status_detail), "%s", j->dev.status_detail);
		if (strcmp(j->dev.https_state, VP_HTTPS_UNSUPPORTED) == 0)
			snprintf(cur.https_state, sizeof(cur.https_state), "%s",
			    VP_HTTPS_UNSUPPORTED);
	} else if (strcmp(cur.status, j->dev.status) != 0) {
		eng_log(g, "task %" PRId64 ": device %" PRId64 " (%s) was changed by another task "
		    "while it was checked: it keeps the status that task found (%s), not the "
		    "check's (%s)", j->task->id, j->dev_id, j->dev.address, cur.status,
		    j->dev.status);
	}
	if ((rc = vp_device_update_state(g->s, &cur, e)) != VP_OK)
		return rc;
	j->written = cur;
	return VP_OK;
}

/* Writes what job j has to write: the certificate signed for it, its device row, the alarm
 * of a renewal, its progress or outcome. In eng_flush's transaction. */
/* What a finished job records about outside certificates (extcert.h): the CSR of an
 * https-csr, the pin of an https-install; a certificate of ours replaces a pin. */
static vp_err
ext_write(engine *g, job *j, vp_error *e)
{
	vp_err rc;

	if (strcmp(j->status, "Finished") != 0 || j->task->check)
		return VP_OK;
	if (j->task->csr)
		return vp_extcert_csr_put(g->s, j->dev_id, j->task->id, j->alias, j->csr_pem, e);
	if (j->task->install)
		return vp_extcert_pin_put(g->s, j->dev_id, j->ext_pin, e);
	if ((rc = vp_extcert_pin_delete(g->s, j->dev_id, e)) == VP_ERR_NOTFOUND) {
		vp_error_clear(e);
		rc = VP_OK;
	}
	return rc;
}

static vp_err
flush_job(engine *g, job *j, int64_t now, vp_error *e)
{
	char actor[48];
	vp_err rc;

	if (j->issued != NULL) {
		snprintf(actor, sizeof(actor), "task %" PRId64, j->task->id);
		if ((rc = vp_issue_record(g->s, &j->issued, 1, actor, e)) != VP_OK)
			return rc;
	}
	if (j->device_dirty && (rc = j->task->check ? check_write(g, j, e) :
	    vp_device_update_state(g->s, &j->dev, e)) != VP_OK)
		return rc;
	if (j->dirty && j->ended && (rc = renewal_alarms(g, j, e)) != VP_OK)
		return rc;
	if (j->dirty && j->ended && (rc = ext_write(g, j, e)) != VP_OK)
		return rc;
	if (j->dirty && j->ended && strcmp(j->status, "Finished") == 0 &&
	    j->keystore_seen[0] != '\0' && (rc = vp_keystore_record(g->s, j->dev_id,
	    j->keystore_seen, e)) != VP_OK)
		return rc;
	if ((j->fg_certs != NULL || j->fg_cas != NULL) && !j->task->lost[0]) {
		if ((rc = vp_foreign_record(g->s, j->dev_id, j->fg_certs, j->fg_cas, e)) != VP_OK)
			return rc;
		free(j->fg_certs);
		free(j->fg_cas);
		j->fg_certs = j->fg_cas = NULL;
	}
	if (!j->dirty)
		return VP_OK;
	int failed = strcmp(j->status, "Failed") == 0;
	vp_store_result r = {
		.task_id = j->task->id, .device_id = j->dev_id, .status = j->status,
		.step = failed || strcmp(j->status, "Cancelled") == 0 ?
		    eng_step_names[j->fstep] : eng_step_names[j->step],
		.error = j->ended ? j->ferror : "",
		.retryable = failed && j->fretryable, .attempts = j->attempts + 1,
		.key_alias = j->alias, .cert_serial = j->serial, .started_at = now,
		.finished_at = j->ended ? now : 0, .duration_ms = eng_now_ms() - j->started_ms
	};

	return vp_store_result_write(g->s, &r, e);
}

/* Ends task t if none of its devices is left, in the state its results make; a CA
 * replacement whose devices are all done is marked to retire the old CA after the commit
 * instead. In eng_flush's transaction. */
static vp_err
flush_task_end(engine *g, etask *t, int64_t now, vp_error *e)
{
	vp_task now_t;
	const char *state;
	vp_err rc;

	if ((rc = vp_task_get(g->s, t->id, &now_t, e)) != VP_OK)
		return rc;
	if (now_t.pending + now_t.running > 0)
		return VP_OK;
	if (t->replace && now_t.phase == VP_TASK_PHASE_DEVICES) {
		char why[300];

		if (now_t.failed + now_t.cancelled + now_t.items_failed == 0 && !now_t.cancel) {
			t->retire = 1;        /* after this commit: eng_retire_old_ca() */
			t->t = now_t;
			return VP_OK;
		}
		snprintf(why, sizeof(why), "still trusted: %" PRId64 " device%s and %" PRId64
		    " other item%s have no certificate of the new CA yet; `vmspki task "
		    "retry-failed %" PRId64 "` finishes the replacement", now_t.failed +
		    now_t.cancelled, now_t.failed + now_t.cancelled == 1 ? "" : "s",
		    now_t.items_failed, now_t.items_failed == 1 ? "" : "s", t->id);
		if ((rc = vp_task_item_set(g->s, t->id, VP_TASK_ITEM_OLD_CA, "Pending", why,
		    e)) != VP_OK)
			return rc;
	}
	if (now_t.failed > 0 || now_t.items_failed > 0)
		state = VP_TASK_FAILED;
	else if (now_t.cancelled > 0 || t->replace)
		state = VP_TASK_CANCELLED;   /* a replacement here did not retire the old CA */
	else
		state = VP_TASK_FINISHED;
	if ((rc = vp_store_claim_finish(g->s, t->id, state, now, e)) != VP_OK)
		return rc;
	t->t = now_t;
	snprintf(t->t.state, sizeof(t->t.state), "%s", state);
	return VP_OK;
}

/* Is task t still ours? Another engine takes it over once our lease has run out (this one
 * stalled for LEASE_SECONDS): from then on nothing of ours is written for it (t->lost, and
 * the loop drops it). In eng_flush's transaction, so no write slips in between. */
static vp_err
flush_owned(engine *g, etask *t, vp_error *e)
{
	char owner[sizeof(t->lost)];
	vp_err rc;

	if (t->lost[0] != '\0')
		return VP_OK;
	if ((rc = vp_store_lease_owner(g->s, t->id, owner, sizeof(owner), e)) != VP_OK)
		return rc;
	if (owner[0] != '\0' && strcmp(owner, g->instance) != 0)
		snprintf(t->lost, sizeof(t->lost), "%s", owner);
	return VP_OK;
}

/* Writes every dirty job, the certificates signed this turn and the device rows, and ends the
 * tasks that have nothing left, in one transaction. */
vp_err
eng_flush(engine *g, vp_error *e)
{
	int64_t now = (int64_t)time(NULL);
	int any = 0;
	vp_err rc;

	for (job *j = g->jobs; j != NULL; j = j->next)
		any |= j->dirty | j->device_dirty | (j->issued != NULL);
	for (etask *t = g->tasks; t != NULL; t = t->next)
		any |= t->done_loading && t->active == 0;
	if (!any)
		return VP_OK;
	if ((rc = vp_store_begin(g->s, e)) != VP_OK)
		return rc;
	for (etask *t = g->tasks; t != NULL; t = t->next)
		if ((rc = flush_owned(g, t, e)) != VP_OK)
			goto fail;
	for (job *j = g->jobs; j != NULL; j = j->next)
		if (j->task->lost[0] == '\0' && (rc = flush_job(g, j, now, e)) != VP_OK)
			goto fail;
	for (etask *t = g->tasks; t != NULL; t = t->next)
		if (t->lost[0] == '\0' && t->done_loading && t->active == 0 &&
		    (rc = flush_task_end(g, t, now, e)) != VP_OK)
			goto fail;
	if ((rc = vp_store_commit(g->s, e)) != VP_OK)
		goto fail;
	for (job *j = g->jobs; j != NULL; j = j->next) {
		vp_issued_free(j->issued);
		j->issued = NULL;
		if (j->device_dirty && j->task->check)
			j->seen = j->written;
		j->dirty = j->device_dirty = 0;
	}
	return VP_OK;
fail:
	vp_store_rollback(g->s);
	return rc;
}

/* Removes ended jobs that are written. */
void
eng_jobs_reap(engine *g)
{
	job **pp = &g->jobs;

	while (*pp != NULL) {
		job *j = *pp;

		if (j->ended && !j->dirty && !j->device_dirty && j->issued == NULL) {
			*pp = j->next;
			eng_job_release_slot(g, j);
			eng_job_free(g, j);
		} else {
			pp = &j->next;
		}
	}
}

/* Removes ended tasks and their bookkeeping. */
void
eng_tasks_reap(engine *g)
{
	etask **pp = &g->tasks;

	while (*pp != NULL) {
		etask *t = *pp;

		if (vp_task_done(&t->t) && t->active == 0) {
			eng_log(g, "task %" PRId64 ": %s (%" PRId64 " finished, %" PRId64 " failed, %"
			    PRId64 " cancelled)", t->id, t->t.state, t->t.finished, t->t.failed,
			    t->t.cancelled);
			*pp = t->next;
			eng_dot1x_task_free(t);
			free(t);
		} else {
			pp = &t->next;
		}
	}
}
