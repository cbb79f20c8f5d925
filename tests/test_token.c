#define _GNU_SOURCE
/* Unit tests for API tokens (src/lib/token.c): shown once, stored as a hash, checked,
 * revoked. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "testutil.h"
#include "vmspki/store.h"
#include "vmspki/token.h"
#include "vmspki/util.h"

static void
token_is_checked_by_hash_and_never_stored(void **state)
{
	char *dir = vp_test_mkdtemp(), *db = vp_path_join(dir, "vmspki.db");
	char name[80], role[32], *t = NULL, *t2 = NULL;
	unsigned char *content = NULL;
	size_t len = 0;
	vp_store *s = NULL;
	vp_error e;
	(void)state;

	assert_int_equal(vp_store_open(db, &s, &e), VP_OK);
	assert_int_equal(vp_token_create(s, "admin", "admin", "test", &t, &e), VP_OK);
	assert_int_equal(strncmp(t, VP_TOKEN_PREFIX, strlen(VP_TOKEN_PREFIX)), 0);
	assert_true(strlen(t) >= strlen(VP_TOKEN_PREFIX) + 43);
	assert_int_equal(vp_token_check(s, t, name, sizeof(name), role, sizeof(role), &e), VP_OK);
	assert_string_equal(name, "admin");
	assert_string_equal(role, "admin");
	/* a different token, a truncated one, and junk are unknown */
	assert_int_equal(vp_token_create(s, "ci-bot", "admin", "test", &t2, &e), VP_OK);
	assert_string_not_equal(t, t2);
	t2[strlen(t2) - 1] ^= 1;
	assert_int_equal(vp_token_check(s, t2, name, sizeof(name), role, sizeof(role), &e),
	    VP_ERR_NOTFOUND);
	assert_int_equal(vp_token_check(s, "Bearer x", name, sizeof(name), role, sizeof(role), &e),
	    VP_ERR_NOTFOUND);
	vp_secret_free_str(t2);
	t2 = NULL;
	/* names: unique and plain */
	assert_int_equal(vp_token_create(s, "admin", "admin", "test", &t2, &e), VP_ERR_EXISTS);
	assert_int_equal(vp_token_create(s, "../x", "admin", "test", &t2, &e), VP_ERR_INVALID);
	assert_int_equal(vp_token_create(s, "x", "root", "test", &t2, &e), VP_ERR_INVALID);
	/* the secret is nowhere in the database */
	vp_store_close(s);
	assert_int_equal(vp_file_read(db, 64 << 20, &content, &len, &e), VP_OK);
	assert_null(memmem(content, len, t, strlen(t)));
	free(content);
	assert_int_equal(vp_store_open(db, &s, &e), VP_OK);
	/* revoked: refused */
	assert_int_equal(vp_token_revoke(s, "admin", "test", &e), VP_OK);
	assert_int_equal(vp_token_check(s, t, name, sizeof(name), role, sizeof(role), &e),
	    VP_ERR_NOTFOUND);
	assert_int_equal(vp_token_revoke(s, "admin", "test", &e), VP_ERR_NOTFOUND);
	vp_store_close(s);
	vp_secret_free_str(t);
	vp_secret_free_str(t2);
	free(db);
	vp_test_rmdir(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(token_is_checked_by_hash_and_never_stored),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
