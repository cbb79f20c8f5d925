/* Unit tests for replacing the CA (src/lib/ca.c with replace, task.c's ca-replace task):
 * what is refused and leaves everything as it was, what one replacement stores (the new CA,
 * the old one kept and trusted, one task with its items, one audit row), and the end of the
 * transition (vp_ca_retire_previous). The task's run is tested with real cameras, components
 * and the daemon in tests/it/ca_replace.sh. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "internal.h"
#include "testutil.h"
#include "vmspki/ca.h"
#include "vmspki/component.h"
#include "vmspki/issue.h"
#include "vmspki/store.h"
#include "vmspki/task.h"
#include "vmspki/util.h"

#define PASS "correct horse battery"

struct fx {
	char *dir;
	vp_store *s;
	char old_fp[65];
};

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	vp_ca_init_opts o = { .cn = "Old CA", .key = VP_KEY_EC_P256, .actor = "test" };
	vp_ca *ca = NULL;
	vp_error e;

	f->dir = vp_test_mkdtemp();
	f->s = vp_test_store_open(f->dir);
	assert_int_equal(vp_ca_init(f->s, f->dir, &o, PASS, &e), VP_OK);
	assert_int_equal(vp_ca_load(f->s, PASS, &ca, &e), VP_OK);
	snprintf(f->old_fp, sizeof(f->old_fp), "%s", vp_ca_fingerprint(ca));
	assert_int_equal(vp_component_add(f->s, ca, f->dir, "broker", 1, 0, "test", NULL, &e),
	    VP_OK);
	vp_ca_free(ca);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	vp_store_close(f->s);
	vp_test_rmdir(f->dir);
	free(f);
	return 0;
}

static int
count_task(const vp_task *t, void *arg)
{
	(void)t;
	(*(int *)arg)++;
	return 0;
}

static int
tasks(vp_store *s)
{
	int n = 0;
	vp_error e;

	assert_int_equal(vp_task_list(s, count_task, &n, &e), VP_OK);
	return n;
}

static int64_t
audit_rows(vp_store *s)
{
	int64_t rows = -1, bad = -1;
	vp_error e;

	assert_int_equal(vp_store_audit_verify(s, &rows, &bad, &e), VP_OK);
	assert_int_equal(bad, 0);
	return rows;
}

static char *
current_fp(vp_store *s)
{
	static char fp[65];
	vp_ca *ca = NULL;
	vp_error e;

	assert_int_equal(vp_ca_load(s, NULL, &ca, &e), VP_OK);
	snprintf(fp, sizeof(fp), "%s", vp_ca_fingerprint(ca));
	vp_ca_free(ca);
	return fp;
}

/* The SHA-256 fingerprints of the certificates of a PEM file, in order ("a,b"). */
static void
file_fps(const char *dir, const char *name, char *out, size_t n)
{
	char *path = vp_path_join(dir, name);
	unsigned char *pem = NULL;
	size_t len = 0;
	STACK_OF(X509) *sk = NULL;
	vp_error e;

	assert_int_equal(vp_file_read(path, 1 << 20, &pem, &len, &e), VP_OK);
	assert_int_equal(vp_chain_from_pem(pem, len, &sk, &e), VP_OK);
	out[0] = '\0';
	for (int i = 0; i < sk_X509_num(sk); i++) {
		char fp[65];
		size_t l = strlen(out);

		assert_int_equal(vp_x509_fingerprint(sk_X509_value(sk, i), "SHA256", fp,
		    sizeof(fp), &e), VP_OK);
		snprintf(out + l, n - l, "%s%s", i > 0 ? "," : "", fp);
	}
	vp_x509_stack_free(sk);
	free(pem);
	free(path);
}

static int
item_cb(const vp_task_item *it, void *arg)
{
	char *list = arg;
	size_t l = strlen(list);

	snprintf(list + l, 1024 - l, "%s%s=%s", l > 0 ? "|" : "", it->item, it->status);
	return 0;
}

static void
replace_without_a_ca_is_refused(void **state)
{
	vp_ca_init_opts o = { .key = VP_KEY_EC_P256, .replace = 1, .actor = "test" };
	vp_store *s = NULL;
	char *dir = vp_test_mkdtemp();
	vp_error e;

	(void)state;
	s = vp_test_store_open(dir);
	assert_int_equal(vp_ca_init(s, dir, &o, PASS, &e), VP_ERR_NOTFOUND);
	assert_non_null(strstr(e.msg, "no CA to replace"));
	assert_int_equal(tasks(s), 0);
	vp_store_close(s);
	vp_test_rmdir(dir);
}

static void
replace_with_a_wrong_passphrase_changes_nothing(void **state)
{
	struct fx *f = *state;
	vp_ca_init_opts o = { .key = VP_KEY_EC_P256, .replace = 1, .actor = "test" };
	vp_ca_transition tr;
	int64_t rows = audit_rows(f->s);
	char before[300], after[300];
	vp_error e;

	file_fps(f->dir, "certs/ca.cert.pem", before, sizeof(before));
	assert_int_equal(vp_ca_init(f->s, f->dir, &o, "not the passphrase", &e),
	    VP_ERR_PASSPHRASE);
	assert_non_null(strstr(e.msg, "passphrase of the current one"));
	assert_null(strstr(e.msg, "not the passphrase"));
	assert_string_equal(current_fp(f->s), f->old_fp);
	assert_int_equal(vp_ca_transition_get(f->s, &tr, &e), VP_OK);
	assert_int_equal(tr.task, 0);
	assert_int_equal(tasks(f->s), 0);
	assert_int_equal(audit_rows(f->s), rows);
	file_fps(f->dir, "certs/ca.cert.pem", after, sizeof(after));
	assert_string_equal(before, after);
}

static void
replace_keeps_the_old_ca_trusted_and_makes_one_task(void **state)
{
	struct fx *f = *state;
	vp_ca_init_opts o = { .cn = "New CA", .key = VP_KEY_EC_P256, .replace = 1,
	    .actor = "test" };
	vp_ca_transition tr;
	vp_ca *prev = NULL, *ca = NULL;
	vp_task t;
	int64_t rows = audit_rows(f->s);
	char fps[300], want[300], items[1024] = "";
	vp_error e;

	assert_int_equal(vp_ca_init(f->s, f->dir, &o, PASS, &e), VP_OK);
	/* The new CA issues, under the same passphrase. */
	assert_int_equal(vp_ca_load(f->s, PASS, &ca, &e), VP_OK);
	assert_string_not_equal(vp_ca_fingerprint(ca), f->old_fp);
	/* The old one is kept, public part, and named by the transition. */
	assert_int_equal(vp_ca_previous_load(f->s, &prev, &e), VP_OK);
	assert_string_equal(vp_ca_fingerprint(prev), f->old_fp);
	assert_int_equal(vp_ca_transition_get(f->s, &tr, &e), VP_OK);
	assert_true(tr.task > 0);
	assert_string_equal(tr.fingerprint, f->old_fp);
	assert_non_null(strstr(tr.subject, "Old CA"));
	/* What the site trusts: new then old; the chain file: the new CA alone. */
	snprintf(want, sizeof(want), "%s,%s", vp_ca_fingerprint(ca), f->old_fp);
	file_fps(f->dir, "certs/ca.cert.pem", fps, sizeof(fps));
	assert_string_equal(fps, want);
	file_fps(f->dir, "certs/ca.chain.pem", fps, sizeof(fps));
	assert_string_equal(fps, vp_ca_fingerprint(ca));
	/* One task, with its items, in the same transaction as one audit row for the CA. */
	assert_int_equal(tasks(f->s), 1);
	assert_int_equal(vp_task_get(f->s, tr.task, &t, &e), VP_OK);
	assert_string_equal(t.kind, VP_TASK_CA_REPLACE);
	assert_string_equal(t.state, VP_TASK_QUEUED);
	assert_int_equal(t.phase, VP_TASK_PHASE_LOCAL);
	assert_int_equal(t.total, 0);              /* no device has a certificate of ours */
	assert_int_equal(vp_task_items(f->s, tr.task, item_cb, items, &e), VP_OK);
	assert_string_equal(items, "component broker=Pending|server certificate=Pending|"
	    "old CA=Pending");
	assert_int_equal(audit_rows(f->s), rows + 2);   /* ca.replace, task.create */
	vp_ca_free(prev);
	vp_ca_free(ca);
}

static void
a_second_replacement_waits_for_the_first_to_retire(void **state)
{
	struct fx *f = *state;
	vp_ca_init_opts o = { .key = VP_KEY_EC_P256, .replace = 1, .actor = "test" };
	vp_ca_transition tr;
	vp_ca *prev = NULL;
	char newfp[65], fps[300];
	vp_error e;

	assert_int_equal(vp_ca_init(f->s, f->dir, &o, PASS, &e), VP_OK);
	snprintf(newfp, sizeof(newfp), "%s", current_fp(f->s));
	assert_int_equal(vp_ca_transition_get(f->s, &tr, &e), VP_OK);
	assert_int_equal(vp_ca_init(f->s, f->dir, &o, PASS, &e), VP_ERR_EXISTS);
	assert_non_null(strstr(e.msg, "has not finished"));
	assert_string_equal(current_fp(f->s), newfp);
	assert_int_equal(tasks(f->s), 1);
	/* Another task's id does not retire it. */
	assert_int_equal(vp_ca_retire_previous(f->s, f->dir, tr.task + 1, "test", &e),
	    VP_ERR_INVALID);
	assert_int_equal(vp_ca_retire_previous(f->s, f->dir, tr.task, "test", &e), VP_OK);
	file_fps(f->dir, "certs/ca.cert.pem", fps, sizeof(fps));
	assert_string_equal(fps, newfp);
	assert_int_equal(vp_ca_previous_load(f->s, &prev, &e), VP_ERR_NOTFOUND);
	assert_int_equal(vp_ca_transition_get(f->s, &tr, &e), VP_OK);
	assert_int_equal(tr.task, 0);
	/* Retiring again is nothing to do; a new replacement may start. */
	assert_int_equal(vp_ca_retire_previous(f->s, f->dir, 1, "test", &e), VP_OK);
	assert_int_equal(vp_ca_init(f->s, f->dir, &o, PASS, &e), VP_OK);
	assert_int_equal(tasks(f->s), 2);
}

static void
importing_the_current_ca_as_its_replacement_is_refused(void **state)
{
	struct fx *f = *state;
	vp_ca *ca = NULL;
	unsigned char *p12 = NULL;
	size_t len = 0;
	int64_t rows;
	vp_error e;

	assert_int_equal(vp_ca_load(f->s, PASS, &ca, &e), VP_OK);
	assert_int_equal(vp_ca_export_p12(ca, "p12 password 1", &p12, &len, &e), VP_OK);
	rows = audit_rows(f->s);
	assert_int_equal(vp_ca_import(f->s, f->dir, p12, len, "p12 password 1", NULL, 0, PASS, 1,
	    "test", &e), VP_ERR_INVALID);
	assert_non_null(strstr(e.msg, "site's CA already"));
	assert_int_equal(tasks(f->s), 0);
	assert_int_equal(audit_rows(f->s), rows);
	assert_string_equal(current_fp(f->s), f->old_fp);
	vp_secret_free(p12, len);
	vp_ca_free(ca);
}

static void
retry_failed_redoes_the_failed_items(void **state)
{
	struct fx *f = *state;
	vp_ca_init_opts o = { .key = VP_KEY_EC_P256, .replace = 1, .actor = "test" };
	vp_ca_transition tr;
	vp_task t;
	char items[1024] = "";
	vp_error e;

	assert_int_equal(vp_ca_init(f->s, f->dir, &o, PASS, &e), VP_OK);
	assert_int_equal(vp_ca_transition_get(f->s, &tr, &e), VP_OK);
	assert_int_equal(vp_task_item_set(f->s, tr.task, "component broker", "Failed",
	    "disk full", &e), VP_OK);
	assert_int_equal(vp_task_item_set(f->s, tr.task, VP_TASK_ITEM_SERVER, "Finished", "ok",
	    &e), VP_OK);
	assert_int_equal(vp_task_set_phase(f->s, tr.task, VP_TASK_PHASE_DEVICES, &e), VP_OK);
	/* A task that has not ended is not retried. */
	assert_int_equal(vp_task_retry_failed(f->s, tr.task, "test", &e), VP_ERR_INVALID);
	assert_int_equal(vp_task_cancel(f->s, tr.task, "test", &e), VP_OK);
	assert_int_equal(vp_task_get(f->s, tr.task, &t, &e), VP_OK);
	assert_string_equal(t.state, VP_TASK_CANCELLED);
	assert_int_equal(t.items_failed, 1);
	assert_int_equal(vp_task_retry_failed(f->s, tr.task, "test", &e), VP_OK);
	assert_int_equal(vp_task_get(f->s, tr.task, &t, &e), VP_OK);
	assert_string_equal(t.state, VP_TASK_QUEUED);
	assert_int_equal(t.phase, VP_TASK_PHASE_LOCAL);
	assert_int_equal(t.items_failed, 0);
	assert_int_equal(vp_task_items(f->s, tr.task, item_cb, items, &e), VP_OK);
	assert_string_equal(items, "component broker=Pending|server certificate=Finished|"
	    "old CA=Pending");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(replace_without_a_ca_is_refused),
		cmocka_unit_test_setup_teardown(replace_with_a_wrong_passphrase_changes_nothing,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(replace_keeps_the_old_ca_trusted_and_makes_one_task,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(a_second_replacement_waits_for_the_first_to_retire,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(importing_the_current_ca_as_its_replacement_is_refused,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(retry_failed_redoes_the_failed_items, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
