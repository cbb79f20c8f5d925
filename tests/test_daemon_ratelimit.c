/* Unit tests for the daemon's rate limiter of failed authentications (src/daemon/ratelimit.c):
 * a burst is allowed, then the address is locked out, others are not, and the table stays
 * bounded without lifting lock-outs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

#include "daemon.h"

static void
ratelimit_locks_out_after_the_burst(void **state)
{
	vpd_rl *rl = vpd_rl_new(10, 10, 60, 100);
	int64_t t = 1000000;
	(void)state;

	assert_non_null(rl);
	assert_int_equal(vpd_rl_blocked(rl, "10.0.0.1", t), 0);
	for (int i = 0; i < 9; i++)
		assert_int_equal(vpd_rl_fail(rl, "10.0.0.1", t + i), 0);
	assert_int_equal(vpd_rl_blocked(rl, "10.0.0.1", t + 10), 0);
	/* the tenth failure in a row empties the bucket: a minute's lock-out */
	assert_int_equal(vpd_rl_fail(rl, "10.0.0.1", t + 10), 60);
	assert_true(vpd_rl_blocked(rl, "10.0.0.1", t + 1000) >= 58);
	assert_true(vpd_rl_blocked(rl, "10.0.0.1", t + 59000) >= 1);
	/* another address is not affected */
	assert_int_equal(vpd_rl_blocked(rl, "10.0.0.2", t + 1000), 0);
	assert_int_equal(vpd_rl_fail(rl, "10.0.0.2", t + 1000), 0);
	/* after the lock-out the bucket has refilled */
	assert_int_equal(vpd_rl_blocked(rl, "10.0.0.1", t + 61000), 0);
	for (int i = 0; i < 9; i++)
		assert_int_equal(vpd_rl_fail(rl, "10.0.0.1", t + 61000 + i), 0);
	vpd_rl_free(rl);
}

static void
ratelimit_refills_at_its_rate(void **state)
{
	vpd_rl *rl = vpd_rl_new(10, 10, 60, 100);
	int64_t t = 5000;
	(void)state;

	/* one failure every 6 s is the steady rate: never locked out */
	for (int i = 0; i < 50; i++)
		assert_int_equal(vpd_rl_fail(rl, "::1", t + (int64_t)i * 6000), 0);
	/* one every second is not: locked out within a minute */
	{
		int locked = 0;

		for (int i = 0; i < 60 && !locked; i++)
			locked = vpd_rl_fail(rl, "::1", t + 300000 + (int64_t)i * 1000) > 0;
		assert_true(locked);
	}
	vpd_rl_free(rl);
}

static void
ratelimit_table_is_bounded_and_keeps_lockouts(void **state)
{
	vpd_rl *rl = vpd_rl_new(3, 3, 60, 8);
	char addr[32];
	int64_t t = 1;
	(void)state;

	for (int i = 0; i < 3; i++)
		vpd_rl_fail(rl, "192.0.2.66", t);
	assert_true(vpd_rl_blocked(rl, "192.0.2.66", t) > 0);
	/* a flood of other addresses, each failing once */
	for (int i = 0; i < 1000; i++) {
		snprintf(addr, sizeof(addr), "198.51.100.%d", i % 250);
		vpd_rl_fail(rl, addr, t + i);
		assert_true(vpd_rl_count(rl) <= 8);
	}
	assert_true(vpd_rl_blocked(rl, "192.0.2.66", t + 1000) > 0);
	vpd_rl_free(rl);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(ratelimit_locks_out_after_the_burst),
		cmocka_unit_test(ratelimit_refills_at_its_rate),
		cmocka_unit_test(ratelimit_table_is_bounded_and_keeps_lockouts),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
