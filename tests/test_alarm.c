/* Unit tests for alarms (src/lib/alarm.c): one alarm per condition while it lasts, an outbox
 * row per raise and clear, acknowledgement with its audit row, the list's filter, and the
 * delivery's bookkeeping against receivers that refuse connections or never answer (back-off,
 * the reason kept without the URL, one claim per row across two store handles). Deliveries
 * to a receiver that answers are checked in tests/it/alarms.sh with tests/tools/webhook_sink. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "store_internal.h"
#include "testutil.h"
#include "vmspki/alarm.h"
#include "vmspki/settings.h"
#include "vmspki/util.h"

typedef struct fx {
	char *dir;
	char *db;
	vp_store *s;
	int lfd;          /* a listening socket that never accepts (a receiver that hangs) */
} fx;

static int
setup(void **state)
{
	fx *f = calloc(1, sizeof(*f));
	vp_error e;

	if (f == NULL)
		return -1;
	f->lfd = -1;
	f->dir = vp_test_mkdtemp();
	vp_test_pg_reset();
	f->db = vp_test_store_where(f->dir);
	if (vp_store_open(f->db, &f->s, &e) != VP_OK)
		return -1;
	/* The tests look at the outbox, not at the machine's syslog. */
	if (vp_setting_set(f->s, "alarm.syslog", "off", "test", &e) != VP_OK)
		return -1;
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	fx *f = *state;

	if (f->lfd >= 0)
		close(f->lfd);
	vp_store_close(f->s);
	vp_test_rmdir(f->dir);
	free(f->db);
	free(f);
	return 0;
}

static int64_t
count(vp_store *s, const char *sql)
{
	int64_t n = -1;
	vp_error e;

	if (vp_sql_int(s, "count", sql, VP_SQL_NOARGS, &n, &e) != VP_OK)
		n = -1;
	return n;
}

static vp_err
text_row(const vp_sql_row *row, void *arg, vp_error *e)
{
	char *buf = arg;

	(void)e;
	if (buf[0] == '\0' && vp_sql_col_str(row, 0) != NULL)
		snprintf(buf, 4096, "%s", vp_sql_col_str(row, 0));
	return VP_OK;
}

/* The text of the first column of the first row (static buffer). */
static const char *
text(vp_store *s, const char *sql)
{
	static char buf[4096];
	vp_error e;

	buf[0] = '\0';
	if (vp_sql_run(s, "read", sql, VP_SQL_NOARGS, text_row, buf, NULL, &e) != VP_OK)
		buf[0] = '\0';
	return buf;
}

static void
test_raise_twice_is_one_alarm(void **state)
{
	fx *f = *state;
	int raised = -1;
	vp_error e;
	vp_alarm a;

	assert_int_equal(vp_alarm_raise(f->s, VP_ALARM_CA_EXPIRING, "ca", VP_SEV_WARNING,
	    "the CA ends in 20 days", &raised, &e), VP_OK);
	assert_int_equal(raised, 1);
	assert_int_equal(vp_alarm_raise(f->s, VP_ALARM_CA_EXPIRING, "ca", VP_SEV_CRITICAL,
	    "the CA ends in 5 days", &raised, &e), VP_OK);
	assert_int_equal(raised, 0);
	assert_int_equal(count(f->s, "SELECT count(*) FROM alarms"), 1);
	assert_int_equal(count(f->s, "SELECT count(*) FROM alarm_outbox"), 1);
	/* The repeat brought the words and severity up to date. */
	assert_int_equal(vp_alarm_get(f->s, 1, &a, &e), VP_OK);
	assert_string_equal(a.message, "the CA ends in 5 days");
	assert_int_equal(a.severity, VP_SEV_CRITICAL);
	assert_string_equal(a.state, "raised");
	assert_int_equal(a.acked_at, 0);
	/* Another subject of the same kind is another alarm. */
	assert_int_equal(vp_alarm_raise(f->s, VP_ALARM_DEVICE_UNREACHABLE, "device:7",
	    VP_SEV_WARNING, "no answer", &raised, &e), VP_OK);
	assert_int_equal(raised, 1);
	assert_int_equal(count(f->s, "SELECT count(*) FROM alarms"), 2);
	assert_int_equal(count(f->s, "SELECT count(*) FROM alarm_outbox"), 2);
}

static void
test_payload(void **state)
{
	fx *f = *state;
	json_t *p, *a;
	vp_error e;

	assert_int_equal(vp_alarm_raise(f->s, VP_ALARM_RENEWAL_FAILED, "device:3", VP_SEV_CRITICAL,
	    "the camera refused the CSR\n(step csr)", NULL, &e), VP_OK);
	p = json_loads(text(f->s, "SELECT payload FROM alarm_outbox"), 0, NULL);
	assert_non_null(p);
	assert_string_equal(json_string_value(json_object_get(p, "event")), "raised");
	a = json_object_get(p, "alarm");
	assert_int_equal(json_integer_value(json_object_get(a, "id")), 1);
	assert_string_equal(json_string_value(json_object_get(a, "kind")), "renewal-failed");
	assert_string_equal(json_string_value(json_object_get(a, "subject")), "device:3");
	assert_string_equal(json_string_value(json_object_get(a, "severity")), "critical");
	/* A control character of the message does not reach receivers or terminals. */
	assert_string_equal(json_string_value(json_object_get(a, "message")),
	    "the camera refused the CSR (step csr)");
	assert_string_equal(json_string_value(json_object_get(a, "state")), "raised");
	assert_true(json_is_string(json_object_get(a, "raised_at")));
	assert_true(json_is_null(json_object_get(a, "cleared_at")));
	assert_true(json_is_false(json_object_get(a, "acknowledged")));
	assert_true(json_is_object(json_object_get(p, "site")));
	assert_true(json_is_string(json_object_get(json_object_get(p, "site"), "host")));
	json_decref(p);
}

static void
test_clear_and_raise_again(void **state)
{
	fx *f = *state;
	int raised = 0, cleared = -1;
	vp_error e;
	vp_alarm a;
	json_t *p;

	assert_int_equal(vp_alarm_raise(f->s, VP_ALARM_ENDPOINT_EXPIRING, "endpoint:nas:443",
	    VP_SEV_WARNING, "ends soon", &raised, &e), VP_OK);
	/* Clearing what is not raised does nothing. */
	assert_int_equal(vp_alarm_clear(f->s, VP_ALARM_ENDPOINT_EXPIRING, "endpoint:other:443",
	    &cleared, &e), VP_OK);
	assert_int_equal(cleared, 0);
	assert_int_equal(count(f->s, "SELECT count(*) FROM alarm_outbox"), 1);
	assert_int_equal(vp_alarm_clear(f->s, VP_ALARM_ENDPOINT_EXPIRING, "endpoint:nas:443",
	    &cleared, &e), VP_OK);
	assert_int_equal(cleared, 1);
	assert_int_equal(count(f->s, "SELECT count(*) FROM alarm_outbox"), 2);
	assert_string_equal(text(f->s, "SELECT event FROM alarm_outbox WHERE id = 2"), "cleared");
	p = json_loads(text(f->s, "SELECT payload FROM alarm_outbox WHERE id = 2"), 0, NULL);
	assert_string_equal(json_string_value(json_object_get(p, "event")), "cleared");
	assert_string_equal(json_string_value(json_object_get(json_object_get(p, "alarm"),
	    "state")), "cleared");
	json_decref(p);
	assert_int_equal(vp_alarm_get(f->s, 1, &a, &e), VP_OK);
	assert_string_equal(a.state, "cleared");
	assert_true(a.cleared_at >= a.raised_at);
	/* A second clear: nothing more. */
	assert_int_equal(vp_alarm_clear(f->s, VP_ALARM_ENDPOINT_EXPIRING, "endpoint:nas:443",
	    &cleared, &e), VP_OK);
	assert_int_equal(cleared, 0);
	assert_int_equal(count(f->s, "SELECT count(*) FROM alarm_outbox"), 2);
	/* The condition comes back: a new alarm, delivered again. */
	assert_int_equal(vp_alarm_raise(f->s, VP_ALARM_ENDPOINT_EXPIRING, "endpoint:nas:443",
	    VP_SEV_WARNING, "ends soon again", &raised, &e), VP_OK);
	assert_int_equal(raised, 1);
	assert_int_equal(count(f->s, "SELECT count(*) FROM alarms"), 2);
	assert_int_equal(count(f->s, "SELECT count(*) FROM alarm_outbox"), 3);
	assert_int_equal(vp_alarm_get(f->s, 2, &a, &e), VP_OK);
	assert_string_equal(a.state, "raised");
}

static void
test_refusals_change_nothing(void **state)
{
	fx *f = *state;
	char longsub[200];
	vp_error e;

	memset(longsub, 'x', sizeof(longsub) - 1);
	longsub[sizeof(longsub) - 1] = '\0';
	assert_int_equal(vp_alarm_raise(f->s, "", "ca", VP_SEV_WARNING, "m", NULL, &e),
	    VP_ERR_INVALID);
	assert_int_equal(vp_alarm_raise(f->s, "CA Expiring", "ca", VP_SEV_WARNING, "m", NULL, &e),
	    VP_ERR_INVALID);
	assert_non_null(strstr(e.msg, "kind"));
	assert_int_equal(vp_alarm_raise(f->s, VP_ALARM_CA_EXPIRED, "", VP_SEV_WARNING, "m", NULL,
	    &e), VP_ERR_INVALID);
	assert_int_equal(vp_alarm_raise(f->s, VP_ALARM_CA_EXPIRED, longsub, VP_SEV_WARNING, "m",
	    NULL, &e), VP_ERR_INVALID);
	assert_int_equal(vp_alarm_raise(f->s, VP_ALARM_CA_EXPIRED, "a\nb", VP_SEV_WARNING, "m",
	    NULL, &e), VP_ERR_INVALID);
	assert_int_equal(vp_alarm_raise(f->s, VP_ALARM_CA_EXPIRED, "ca", (vp_alarm_severity)7, "m",
	    NULL, &e), VP_ERR_INVALID);
	assert_int_equal(vp_alarm_clear(f->s, "Bad Kind", "ca", NULL, &e), VP_ERR_INVALID);
	assert_int_equal(count(f->s, "SELECT count(*) FROM alarms"), 0);
	assert_int_equal(count(f->s, "SELECT count(*) FROM alarm_outbox"), 0);
}

static void
test_long_message_is_cut_on_a_character(void **state)
{
	fx *f = *state;
	char msg[1200];
	vp_error e;
	vp_alarm a;
	json_t *p;

	/* 600 two-byte characters: cut below 512 bytes, never inside one. */
	for (int i = 0; i < 600; i++)
		memcpy(msg + 2 * i, "\xc3\xa9", 2);
	msg[1200 - 1] = '\0';
	msg[1198] = '\0';
	assert_int_equal(vp_alarm_raise(f->s, VP_ALARM_CA_EXPIRING, "ca", VP_SEV_WARNING, msg,
	    NULL, &e), VP_OK);
	assert_int_equal(vp_alarm_get(f->s, 1, &a, &e), VP_OK);
	assert_true(strlen(a.message) <= sizeof(a.message) - 1);
	assert_int_equal(strlen(a.message) % 2, 0);
	p = json_loads(text(f->s, "SELECT payload FROM alarm_outbox"), 0, NULL);
	assert_non_null(p);      /* valid UTF-8, or jansson would refuse it */
	json_decref(p);
}

static void
test_ack(void **state)
{
	fx *f = *state;
	int64_t audit0;
	vp_error e;
	vp_alarm a;

	assert_int_equal(vp_alarm_raise(f->s, VP_ALARM_CA_EXPIRING, "ca", VP_SEV_WARNING, "m",
	    NULL, &e), VP_OK);
	audit0 = count(f->s, "SELECT count(*) FROM audit_log");
	assert_int_equal(vp_alarm_ack(f->s, 1, "cli:alice", &e), VP_OK);
	assert_int_equal(vp_alarm_get(f->s, 1, &a, &e), VP_OK);
	assert_true(a.acked_at > 0);
	assert_string_equal(a.acked_by, "cli:alice");
	assert_string_equal(a.state, "raised");       /* acknowledged, still raised */
	assert_int_equal(count(f->s, "SELECT count(*) FROM audit_log"), audit0 + 1);
	assert_string_equal(text(f->s, "SELECT action FROM audit_log ORDER BY id DESC"),
	    "alarm.ack");
	/* Again, by someone else: the first acknowledgement stands, no new audit row. */
	assert_int_equal(vp_alarm_ack(f->s, 1, "cli:bob", &e), VP_OK);
	assert_int_equal(vp_alarm_get(f->s, 1, &a, &e), VP_OK);
	assert_string_equal(a.acked_by, "cli:alice");
	assert_int_equal(count(f->s, "SELECT count(*) FROM audit_log"), audit0 + 1);
	assert_int_equal(vp_alarm_ack(f->s, 99, "cli:alice", &e), VP_ERR_NOTFOUND);
	assert_non_null(strstr(e.msg, "99"));
	/* No delivery for an acknowledgement. */
	assert_int_equal(count(f->s, "SELECT count(*) FROM alarm_outbox"), 1);
}

static int
collect(const vp_alarm *a, void *arg)
{
	char *buf = arg;
	char one[64];

	snprintf(one, sizeof(one), "%lld:%s,", (long long)a->id, a->state);
	strcat(buf, one);
	return 0;
}

static int
stop_at_first(const vp_alarm *a, void *arg)
{
	(void)a;
	(*(int *)arg)++;
	return VP_ERR_NOMEM;
}

static void
test_list_filters(void **state)
{
	fx *f = *state;
	char buf[256] = "";
	int calls = 0;
	vp_error e;

	assert_int_equal(vp_alarm_list(f->s, 1, collect, buf, &e), VP_OK);
	assert_string_equal(buf, "");
	assert_int_equal(vp_alarm_raise(f->s, VP_ALARM_CA_EXPIRING, "ca", VP_SEV_WARNING, "m",
	    NULL, &e), VP_OK);
	assert_int_equal(vp_alarm_raise(f->s, VP_ALARM_DEVICE_UNREACHABLE, "device:1",
	    VP_SEV_WARNING, "m", NULL, &e), VP_OK);
	assert_int_equal(vp_alarm_raise(f->s, VP_ALARM_DEVICE_UNREACHABLE, "device:2",
	    VP_SEV_WARNING, "m", NULL, &e), VP_OK);
	assert_int_equal(vp_alarm_clear(f->s, VP_ALARM_DEVICE_UNREACHABLE, "device:1", NULL, &e),
	    VP_OK);
	assert_int_equal(vp_alarm_ack(f->s, 3, "t", &e), VP_OK);
	/* Active only: raised ones (acknowledged or not), newest first. */
	assert_int_equal(vp_alarm_list(f->s, 1, collect, buf, &e), VP_OK);
	assert_string_equal(buf, "3:raised,1:raised,");
	buf[0] = '\0';
	assert_int_equal(vp_alarm_list(f->s, 0, collect, buf, &e), VP_OK);
	assert_string_equal(buf, "3:raised,2:cleared,1:raised,");
	/* A callback's refusal stops the walk and comes back. */
	assert_int_equal(vp_alarm_list(f->s, 0, stop_at_first, &calls, &e), VP_ERR_NOMEM);
	assert_int_equal(calls, 1);
}

static void
test_no_webhook_no_syslog(void **state)
{
	fx *f = *state;
	int n = -1;
	vp_error e;

	assert_int_equal(vp_alarm_raise(f->s, VP_ALARM_CA_EXPIRING, "ca", VP_SEV_WARNING, "m",
	    NULL, &e), VP_OK);
	assert_int_equal(vp_alarm_deliver(f->s, 1000, &n, &e), VP_OK);
	assert_int_equal(n, 0);
	/* Nothing to send them to: marked so, not retried for ever. */
	assert_int_equal(count(f->s, "SELECT webhook_done FROM alarm_outbox"), 2);
	assert_int_equal(count(f->s, "SELECT syslog_done FROM alarm_outbox"), 2);
	assert_int_equal(count(f->s, "SELECT attempts FROM alarm_outbox"), 0);
	assert_non_null(strstr(text(f->s, "SELECT last_error FROM alarm_outbox"), "no webhook"));
	assert_int_equal(vp_alarm_deliver(f->s, 0, &n, &e), VP_OK);
	assert_int_equal(vp_alarm_deliver(f->s, -5, &n, &e), VP_ERR_INVALID);
}

static void
test_syslog_once(void **state)
{
	fx *f = *state;
	vp_alarm_delivery d;
	vp_error e;

	assert_int_equal(vp_setting_set(f->s, "alarm.syslog", "on", "test", &e), VP_OK);
	assert_int_equal(vp_alarm_raise(f->s, VP_ALARM_CA_EXPIRED, "ca", VP_SEV_CRITICAL, "ended",
	    NULL, &e), VP_OK);
	assert_int_equal(vp_alarm_clear(f->s, VP_ALARM_CA_EXPIRED, "ca", NULL, &e), VP_OK);
	assert_int_equal(vp_alarm_deliver_ex(f->s, 1000, NULL, &d, &e), VP_OK);
	assert_int_equal(d.logged, 2);
	assert_int_equal(count(f->s, "SELECT count(*) FROM alarm_outbox WHERE syslog_done = 1"),
	    2);
	assert_int_equal(vp_alarm_deliver_ex(f->s, 1000, NULL, &d, &e), VP_OK);
	assert_int_equal(d.logged, 0);
}

/* A URL with credentials, to a port where nothing listens. */
#define REFUSED_URL "http://hookuser:hook-secret-pw@127.0.0.1:1/alarm?token=tok-secret-123"

static void
test_unreachable_backs_off(void **state)
{
	fx *f = *state;
	vp_alarm_delivery d;
	int64_t now, next;
	vp_error e;
	const char *err;

	assert_int_equal(vp_setting_set(f->s, "alarm.webhook", REFUSED_URL, "test", &e), VP_OK);
	assert_int_equal(vp_alarm_raise(f->s, VP_ALARM_CA_EXPIRING, "ca", VP_SEV_WARNING, "m",
	    NULL, &e), VP_OK);
	assert_int_equal(vp_alarm_raise(f->s, VP_ALARM_DEVICE_UNREACHABLE, "device:1",
	    VP_SEV_WARNING, "m", NULL, &e), VP_OK);
	now = (int64_t)time(NULL);
	assert_int_equal(vp_alarm_deliver_ex(f->s, 2000, NULL, &d, &e), VP_OK);
	assert_int_equal(d.delivered, 0);
	assert_int_equal(d.failed, 1);
	/* The first row failed; the call stopped there, the second was not tried. */
	assert_int_equal(count(f->s, "SELECT attempts FROM alarm_outbox WHERE id = 1"), 1);
	assert_int_equal(count(f->s, "SELECT webhook_done FROM alarm_outbox WHERE id = 1"), 0);
	assert_int_equal(count(f->s, "SELECT attempts FROM alarm_outbox WHERE id = 2"), 0);
	next = count(f->s, "SELECT next_at FROM alarm_outbox WHERE id = 1");
	assert_true(next >= now + 10 && next <= (int64_t)time(NULL) + 10);
	err = text(f->s, "SELECT last_error FROM alarm_outbox WHERE id = 1");
	assert_non_null(strstr(err, "cannot connect"));
	assert_string_equal(err, d.last_error);
	/* Neither the reason nor the payload holds the URL or its secrets. */
	assert_null(strstr(err, "hook-secret-pw"));
	assert_null(strstr(err, "tok-secret-123"));
	assert_int_equal(count(f->s, "SELECT count(*) FROM alarm_outbox WHERE payload LIKE "
	    "'%secret%' OR last_error LIKE '%secret%'"), 0);

	/* Not due yet: the next call tries the other alarm's row only. */
	assert_int_equal(vp_alarm_deliver_ex(f->s, 2000, NULL, &d, &e), VP_OK);
	assert_int_equal(count(f->s, "SELECT attempts FROM alarm_outbox WHERE id = 1"), 1);
	assert_int_equal(count(f->s, "SELECT attempts FROM alarm_outbox WHERE id = 2"), 1);

	/* Due again and failing again: the wait doubles, up to an hour. */
	assert_int_equal(vp_store_alarm_outbox_lease(f->s, 1, 0, &e), VP_OK);
	now = (int64_t)time(NULL);
	assert_int_equal(vp_alarm_deliver_ex(f->s, 2000, NULL, &d, &e), VP_OK);
	assert_int_equal(count(f->s, "SELECT attempts FROM alarm_outbox WHERE id = 1"), 2);
	next = count(f->s, "SELECT next_at FROM alarm_outbox WHERE id = 1");
	assert_true(next >= now + 20 && next <= (int64_t)time(NULL) + 20);
	/* 28 failures more (30 in all), the last one due now. */
	for (int i = 0; i < 28; i++)
		assert_int_equal(vp_store_alarm_outbox_failed(f->s, 1, 0, "test", &e), VP_OK);
	now = (int64_t)time(NULL);
	assert_int_equal(vp_alarm_deliver_ex(f->s, 2000, NULL, &d, &e), VP_OK);
	next = count(f->s, "SELECT next_at FROM alarm_outbox WHERE id = 1");
	assert_true(next >= now + 3600 && next <= (int64_t)time(NULL) + 3600);
}

static void
test_clear_waits_for_its_raise(void **state)
{
	fx *f = *state;
	vp_alarm_delivery d;
	vp_error e;

	assert_int_equal(vp_setting_set(f->s, "alarm.webhook", REFUSED_URL, "test", &e), VP_OK);
	assert_int_equal(vp_alarm_raise(f->s, VP_ALARM_CA_EXPIRING, "ca", VP_SEV_WARNING, "m",
	    NULL, &e), VP_OK);
	assert_int_equal(vp_alarm_clear(f->s, VP_ALARM_CA_EXPIRING, "ca", NULL, &e), VP_OK);
	assert_int_equal(vp_alarm_deliver_ex(f->s, 2000, NULL, &d, &e), VP_OK);
	assert_int_equal(count(f->s, "SELECT attempts FROM alarm_outbox WHERE id = 1"), 1);
	/* The raise is backing off: its clear is not sent before it, even on later calls. */
	assert_int_equal(vp_alarm_deliver_ex(f->s, 2000, NULL, &d, &e), VP_OK);
	assert_int_equal(d.failed, 0);
	assert_int_equal(count(f->s, "SELECT attempts FROM alarm_outbox WHERE id = 2"), 0);
}

/* A receiver that takes the connection (the kernel's backlog) and never answers. */
static int
hanging_url(fx *f, char *url, size_t n)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((f->lfd = socket(AF_INET, SOCK_STREAM, 0)) < 0 ||
	    bind(f->lfd, (struct sockaddr *)&sin, sizeof(sin)) != 0 || listen(f->lfd, 16) != 0 ||
	    getsockname(f->lfd, (struct sockaddr *)&sin, &len) != 0)
		return -1;
	snprintf(url, n, "http://127.0.0.1:%u/hook", (unsigned)ntohs(sin.sin_port));
	return 0;
}

static void
test_hanging_receiver_times_out(void **state)
{
	fx *f = *state;
	vp_alarm_delivery d;
	char url[100];
	vp_error e;

	assert_int_equal(hanging_url(f, url, sizeof(url)), 0);
	assert_int_equal(vp_setting_set(f->s, "alarm.webhook", url, "test", &e), VP_OK);
	for (int i = 0; i < 5; i++) {
		char subject[32];

		snprintf(subject, sizeof(subject), "device:%d", i + 1);
		assert_int_equal(vp_alarm_raise(f->s, VP_ALARM_DEVICE_UNREACHABLE, subject,
		    VP_SEV_WARNING, "m", NULL, &e), VP_OK);
	}
	assert_int_equal(vp_alarm_deliver_ex(f->s, 300, NULL, &d, &e), VP_OK);
	/* One attempt, timed out; the four others wait for the next call. */
	assert_int_equal(d.failed, 1);
	assert_int_equal(d.delivered, 0);
	assert_non_null(strstr(d.last_error, "did not answer within 300 ms"));
	assert_int_equal(count(f->s, "SELECT sum(attempts) FROM alarm_outbox"), 1);
	assert_int_equal(count(f->s, "SELECT count(*) FROM alarm_outbox WHERE webhook_done = 0"),
	    5);
}

/* Two processes on one store: while one is sending a row, the other does not take it. */
typedef struct sender {
	const char *db;
	vp_err rc;
	vp_alarm_delivery d;
} sender;

static void *
send_thread(void *arg)
{
	sender *t = arg;
	vp_store *s = NULL;
	vp_error e;

	if ((t->rc = vp_store_open(t->db, &s, &e)) == VP_OK)
		t->rc = vp_alarm_deliver_ex(s, 1500, NULL, &t->d, &e);
	vp_store_close(s);
	return NULL;
}

static void
test_claimed_row_is_not_sent_twice(void **state)
{
	fx *f = *state;
	sender t = { 0 };
	vp_alarm_delivery d;
	pthread_t th;
	char url[100];
	vp_error e;
	int i;

	assert_int_equal(hanging_url(f, url, sizeof(url)), 0);
	assert_int_equal(vp_setting_set(f->s, "alarm.webhook", url, "test", &e), VP_OK);
	assert_int_equal(vp_alarm_raise(f->s, VP_ALARM_CA_EXPIRING, "ca", VP_SEV_WARNING, "m",
	    NULL, &e), VP_OK);
	t.db = f->db;
	assert_int_equal(pthread_create(&th, NULL, send_thread, &t), 0);
	/* Wait until the other handle has claimed the row (its lease is in the future). */
	for (i = 0; i < 2000; i++) {
		struct timespec ts = { 0, 5 * 1000 * 1000 };

		if (count(f->s, "SELECT next_at FROM alarm_outbox WHERE id = 1") >
		    (int64_t)time(NULL) + 30)
			break;
		nanosleep(&ts, NULL);
	}
	assert_true(i < 2000);
	assert_int_equal(vp_alarm_deliver_ex(f->s, 200, NULL, &d, &e), VP_OK);
	assert_int_equal(d.failed, 0);          /* nothing was due for this handle */
	pthread_join(th, NULL);
	assert_int_equal(t.rc, VP_OK);
	assert_int_equal(t.d.failed, 1);
	assert_int_equal(count(f->s, "SELECT attempts FROM alarm_outbox WHERE id = 1"), 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_raise_twice_is_one_alarm, setup, teardown),
		cmocka_unit_test_setup_teardown(test_payload, setup, teardown),
		cmocka_unit_test_setup_teardown(test_clear_and_raise_again, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refusals_change_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_long_message_is_cut_on_a_character, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_ack, setup, teardown),
		cmocka_unit_test_setup_teardown(test_list_filters, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_webhook_no_syslog, setup, teardown),
		cmocka_unit_test_setup_teardown(test_syslog_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unreachable_backs_off, setup, teardown),
		cmocka_unit_test_setup_teardown(test_clear_waits_for_its_raise, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hanging_receiver_times_out, setup, teardown),
		cmocka_unit_test_setup_teardown(test_claimed_row_is_not_sent_twice, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
