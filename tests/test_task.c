/* Unit tests for tasks in the store (src/lib/task.c) and site settings (src/lib/settings.c):
 * what a task may be made of, that a refused one leaves nothing, the states cancel and
 * retry-failed move through, and the settings' defaults and checks. The engine that runs
 * tasks is tested against camsim (tests/it/devices_*.sh). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "device_internal.h"
#include "store_internal.h"
#include "testutil.h"
#include "vmspki/settings.h"
#include "vmspki/task.h"
#include "vmspki/util.h"

typedef struct fx {
	char *dir;
	vp_store *s;
} fx;

static int
setup(void **state)
{
	fx *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	f->dir = vp_test_mkdtemp();
	vp_test_pg_reset();
	f->s = vp_test_store_open(f->dir);
	/* Three devices, as the inventory would store them (no camera needed here). */
	for (int i = 1; i <= 3; i++) {
		static const unsigned char sealed[1] = { 0 };
		vp_device d;
		vp_error e;

		memset(&d, 0, sizeof(d));
		snprintf(d.address, sizeof(d.address), "10.0.0.%d", i);
		d.http_port = 80;
		d.https_port = 443;
		snprintf(d.username, sizeof(d.username), "root");
		if (vp_store_device_insert(f->s, &d, sealed, sizeof(sealed), &e) != VP_OK ||
		    d.id != i)
			return -1;
	}
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	fx *f = *state;

	vp_store_close(f->s);
	vp_test_rmdir(f->dir);
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

static void
test_create_refusals(void **state)
{
	fx *f = *state;
	vp_task_opts o = { .kind = VP_TASK_HTTPS_ENABLE };
	int64_t ids[] = { 1, 99 }, id = 0;
	vp_error e;

	assert_int_equal(vp_task_create(f->s, &o, NULL, 0, 0, "t", &id, &e), VP_ERR_INVALID);
	assert_non_null(strstr(e.msg, "needs devices"));
	/* An unknown device: refused, naming it, and the half-made task is rolled back. */
	assert_int_equal(vp_task_create(f->s, &o, ids, 2, 0, "t", &id, &e), VP_ERR_NOTFOUND);
	assert_non_null(strstr(e.msg, "99"));
	assert_int_equal(count(f->s, "SELECT count(*) FROM tasks"), 0);
	assert_int_equal(count(f->s, "SELECT count(*) FROM task_devices"), 0);
	o.kind = "make-coffee";
	assert_int_equal(vp_task_create(f->s, &o, ids, 1, 0, "t", &id, &e), VP_ERR_INVALID);
	assert_non_null(strstr(e.msg, VP_TASK_HTTPS_ENABLE));
	o.kind = VP_TASK_HTTPS_ENABLE;
	o.cn_mode = "mac";
	assert_int_equal(vp_task_create(f->s, &o, ids, 1, 0, "t", &id, &e), VP_ERR_INVALID);
	o.cn_mode = NULL;
	o.concurrency = VP_TASK_CONCURRENCY_MAX + 1;
	assert_int_equal(vp_task_create(f->s, &o, ids, 1, 0, "t", &id, &e), VP_ERR_INVALID);
	o.concurrency = 0;
	o.timeout_s = 601;
	assert_int_equal(vp_task_create(f->s, &o, ids, 1, 0, "t", &id, &e), VP_ERR_INVALID);
	assert_int_equal(count(f->s, "SELECT count(*) FROM tasks"), 0);
}

static int
collect(const vp_task_result *r, void *arg)
{
	char *buf = arg;

	strcat(buf, r->status);
	strcat(buf, ",");
	return 0;
}

static void
test_create_cancel_retry(void **state)
{
	fx *f = *state;
	vp_task_opts o = { .kind = VP_TASK_HTTPS_ENABLE, .https_only = 1, .cn_mode = "fqdn" };
	int64_t ids[] = { 1, 2 }, one[] = { 2 }, id = 0, id2 = 0, audit0;
	char res[200] = "";
	vp_error e;
	vp_task t;

	audit0 = count(f->s, "SELECT count(*) FROM audit_log");
	assert_int_equal(vp_task_create(f->s, &o, ids, 2, 0, "tester", &id, &e), VP_OK);
	assert_int_equal(count(f->s, "SELECT count(*) FROM audit_log"), audit0 + 1);
	assert_int_equal(vp_task_get(f->s, id, &t, &e), VP_OK);
	assert_string_equal(t.state, VP_TASK_QUEUED);
	assert_string_equal(t.cn_mode, "fqdn");
	assert_int_equal(t.https_only, 1);
	assert_int_equal(t.concurrency, VP_TASK_CONCURRENCY_DEFAULT);
	assert_int_equal(t.total, 2);
	assert_int_equal(t.pending, 2);
	assert_false(vp_task_done(&t));

	/* A device of a task not done cannot be in another one. */
	assert_int_equal(vp_task_create(f->s, &o, one, 1, 0, "tester", &id2, &e), VP_ERR_EXISTS);
	assert_non_null(strstr(e.msg, "already in task"));
	assert_int_equal(count(f->s, "SELECT count(*) FROM tasks"), 1);
	/* Retrying a task that has not ended is refused. */
	assert_int_equal(vp_task_retry_failed(f->s, id, "tester", &e), VP_ERR_INVALID);

	/* Cancelled before any engine took it: it ends at once, every device Cancelled. */
	assert_int_equal(vp_task_cancel(f->s, id, "tester", &e), VP_OK);
	assert_int_equal(vp_task_get(f->s, id, &t, &e), VP_OK);
	assert_string_equal(t.state, VP_TASK_CANCELLED);
	assert_int_equal(t.cancelled, 2);
	assert_true(vp_task_done(&t));
	assert_int_equal(vp_task_results(f->s, id, collect, res, &e), VP_OK);
	assert_string_equal(res, "Cancelled,Cancelled,");
	assert_int_equal(vp_task_cancel(f->s, id, "tester", &e), VP_ERR_INVALID);

	/* Now device 2 is free for another task. */
	assert_int_equal(vp_task_create(f->s, &o, one, 1, 0, "tester", &id2, &e), VP_OK);
	assert_int_equal(vp_task_cancel(f->s, id2, "tester", &e), VP_OK);

	/* Retry-failed puts the cancelled devices back and queues the task. */
	assert_int_equal(vp_task_retry_failed(f->s, id, "tester", &e), VP_OK);
	assert_int_equal(vp_task_get(f->s, id, &t, &e), VP_OK);
	assert_string_equal(t.state, VP_TASK_QUEUED);
	assert_int_equal(t.pending, 2);
	assert_int_equal(t.cancel, 0);
	assert_int_equal(vp_task_get(f->s, 77, &t, &e), VP_ERR_NOTFOUND);
}

static void
test_all_devices(void **state)
{
	fx *f = *state;
	vp_task_opts o = { .kind = VP_TASK_HTTPS_UPDATE };
	int64_t id = 0;
	vp_error e;
	vp_task t;

	assert_int_equal(vp_task_create(f->s, &o, NULL, 0, 1, "tester", &id, &e), VP_OK);
	assert_int_equal(vp_task_get(f->s, id, &t, &e), VP_OK);
	assert_int_equal(t.total, 3);
	assert_string_equal(t.kind, VP_TASK_HTTPS_UPDATE);
}

static void
test_settings(void **state)
{
	fx *f = *state;
	char v[64];
	long n = 0;
	vp_error e;
	vp_task_opts o = { .kind = VP_TASK_HTTPS_ENABLE };
	int64_t ids[] = { 3 }, id;
	vp_task t;

	assert_int_equal(vp_setting_get(f->s, "device.cn", v, sizeof(v), &e), VP_OK);
	assert_string_equal(v, "ip");
	assert_false(vp_setting_is_set(f->s, "device.cn"));
	assert_int_equal(vp_setting_set(f->s, "device.cn", "serial", "t", &e), VP_ERR_INVALID);
	assert_non_null(strstr(e.msg, "fqdn"));
	assert_false(vp_setting_is_set(f->s, "device.cn"));
	assert_int_equal(vp_setting_set(f->s, "device.cn", "fqdn", "t", &e), VP_OK);
	assert_int_equal(vp_setting_get(f->s, "device.cn", v, sizeof(v), &e), VP_OK);
	assert_string_equal(v, "fqdn");
	assert_int_equal(vp_setting_set(f->s, "device.cn", NULL, "t", &e), VP_OK);
	assert_int_equal(vp_setting_get(f->s, "device.cn", v, sizeof(v), &e), VP_OK);
	assert_string_equal(v, "ip");
	assert_int_equal(vp_setting_get(f->s, "no.such", v, sizeof(v), &e), VP_ERR_NOTFOUND);
	assert_non_null(strstr(e.msg, "device.cn"));
	assert_int_equal(vp_setting_set(f->s, "task.concurrency", "0", "t", &e), VP_ERR_INVALID);
	assert_int_equal(vp_setting_set(f->s, "task.concurrency", "12x", "t", &e), VP_ERR_INVALID);
	assert_int_equal(vp_setting_set(f->s, "task.concurrency", "7", "t", &e), VP_OK);
	assert_int_equal(vp_setting_get_int(f->s, "task.concurrency", &n, &e), VP_OK);
	assert_int_equal(n, 7);
	/* A task without its own concurrency takes the setting. */
	assert_int_equal(vp_task_create(f->s, &o, ids, 1, 0, "t", &id, &e), VP_OK);
	assert_int_equal(vp_task_get(f->s, id, &t, &e), VP_OK);
	assert_int_equal(t.concurrency, 7);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_create_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_create_cancel_retry, setup, teardown),
		cmocka_unit_test_setup_teardown(test_all_devices, setup, teardown),
		cmocka_unit_test_setup_teardown(test_settings, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
