/* /api/v1/alarms: the site's alarms.
 *   GET  /api/v1/alarms[?all=true]      the raised ones (all: cleared ones too), newest first
 *   GET  /api/v1/alarms/{id}            one alarm
 *   POST /api/v1/alarms/{id}/ack        acknowledge it (an audit row names the caller)
 * and the alarms_active gauges of /metrics. The delivery thread is alarmd.c. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/http.h>

#include "daemon.h"
#include "vmspki/alarm.h"
#include "vmspki/render_json.h"

static vp_err
fetch_alarms(vp_store *s, vpd_job *j, json_t *array, vp_error *e)
{
	return vp_alarm_list_json(s, !vpd_json_bool(j->in, "all"), array, e);
}

static void
run_list(vpd_job *j, vp_store *s)
{
	vpd_job_list(j, s, "alarms", fetch_alarms);
}

static void
reply_alarm(vpd_job *j, vp_store *s, int64_t id)
{
	vp_error e = { 0 };
	vp_alarm a;
	json_t *o;

	if (vp_alarm_get(s, id, &a, &e) != VP_OK) {
		vpd_job_vp_error(j, &e);
		return;
	}
	if ((o = vp_json_alarm(&a)) == NULL) {
		vpd_job_error(j, 500, "internal", "out of memory");
		return;
	}
	vpd_job_json(j, 200, o, 0);
}

static void
run_show(vpd_job *j, vp_store *s)
{
	reply_alarm(j, s, vpd_json_int(j->in, "id", 0));
}

static void
run_ack(vpd_job *j, vp_store *s)
{
	int64_t id = vpd_json_int(j->in, "id", 0);
	vp_error e = { 0 };

	if (vp_alarm_ack(s, id, j->actor, &e) != VP_OK) {
		vpd_job_vp_error(j, &e);
		return;
	}
	vpd_log("alarm %" PRId64 " acknowledged by %s", id, j->actor);
	reply_alarm(j, s, id);
}

void
vpd_h_alarms(vpd_ctx *c)
{
	static const char *const params[] = { "all", NULL };
	const char *v;
	vpd_query q;
	int all = 0;

	if (vpd_query_parse(c, &q, params) != 0)
		return;
	if ((v = vpd_query_get(&q, "all")) != NULL) {
		if (strcmp(v, "true") == 0 || strcmp(v, "1") == 0) {
			all = 1;
		} else if (strcmp(v, "false") != 0 && strcmp(v, "0") != 0) {
			vpd_reply_error(c, 400, "bad_parameter", "all is true or false (true: cleared "
			    "alarms too)");
			vpd_query_free(&q);
			return;
		}
	}
	vpd_query_free(&q);
	vpd_job_start(c, 0, json_pack("{s:b}", "all", all), run_list);
}

void
vpd_h_alarm_item(vpd_ctx *c, const char *arg)
{
	const char *slash = strchr(arg, '/');
	size_t idlen = slash != NULL ? (size_t)(slash - arg) : strlen(arg);
	void (*run)(vpd_job *, vp_store *) = run_show;

	if (slash != NULL) {
		if (strcmp(slash, "/ack") != 0) {
			vpd_reply_error(c, 404, "not_found", "there is no %.200s here: an alarm has "
			    "/api/v1/alarms/ID and ID/ack", c->path);
			return;
		}
		run = run_ack;
	}
	vpd_item_job(c, arg, idlen, run == run_show, "an alarm", run);
}

/* ---- /metrics ---- */

#define KINDS_MAX 32

typedef struct kind_count {
	char kind[40];
	int64_t n;
} kind_count;

typedef struct kinds {
	kind_count k[KINDS_MAX];
	size_t n;
} kinds;

static int
count_kind(const vp_alarm *a, void *arg)
{
	kinds *ks = arg;
	size_t i;

	for (i = 0; i < ks->n; i++)
		if (strcmp(ks->k[i].kind, a->kind) == 0)
			break;
	if (i == ks->n) {
		if (ks->n == KINDS_MAX)
			return 0;         /* more kinds than anyone makes: not shown */
		snprintf(ks->k[ks->n++].kind, sizeof(ks->k[0].kind), "%s", a->kind);
	}
	ks->k[i].n++;
	return 0;
}

int
vpd_alarm_metrics(vp_store *s, vp_buf *text)
{
	static const char *const known[] = {
		VP_ALARM_CA_EXPIRING, VP_ALARM_CA_EXPIRED, VP_ALARM_RENEWAL_FAILED,
		VP_ALARM_DEVICE_UNREACHABLE, VP_ALARM_ENDPOINT_EXPIRING, VP_ALARM_ENDPOINT_EXPIRED,
		VP_ALARM_ENDPOINT_UNTRUSTED, VP_ALARM_ENDPOINT_DOWN, VP_ALARM_CERT_EXPIRING,
		VP_ALARM_CERT_EXPIRED,
	};
	static const char head[] = "# HELP vmspki_alarms_active Alarms raised and not cleared "
	    "yet, by kind.\n# TYPE vmspki_alarms_active gauge\n";
	kinds ks;
	vp_error e = { 0 };
	vp_buf t;
	int rc = -1;

	memset(&ks, 0, sizeof(ks));
	/* Every kind shows, 0 when none is raised: a missing series is not a zero. */
	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		snprintf(ks.k[ks.n++].kind, sizeof(ks.k[0].kind), "%s", known[i]);
	if (vp_alarm_list(s, 1, count_kind, &ks, &e) != VP_OK) {
		vpd_log("metrics: cannot count the alarms: %s", e.msg);
		return -1;
	}
	/* rendered apart, so that text gets all the lines or none */
	vp_buf_init(&t, "the alarm gauges", sizeof(head) + KINDS_MAX * 96, 0);
	vp_buf_add_str(&t, head, NULL);
	for (size_t i = 0; i < ks.n; i++)
		vp_buf_printf(&t, NULL, "vmspki_alarms_active{kind=\"%s\"} %lld\n", ks.k[i].kind,
		    (long long)ks.k[i].n);
	if (!vp_buf_failed(&t) && vp_buf_add(text, vp_buf_str(&t), vp_buf_len(&t), NULL) == VP_OK)
		rc = 0;
	vp_buf_free(&t);
	return rc;
}
