/* Unit tests for device discovery's range rules (src/lib/discover.c): what a range is, which
 * addresses it covers, and the size limit. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "vmspki/discover.h"

#define A(a, b, c, d) (((uint32_t)(a) << 24) | ((uint32_t)(b) << 16) | ((uint32_t)(c) << 8) | (d))

static void
range_ok(const char *r, uint32_t first, uint32_t last)
{
	uint32_t f = 0, l = 0;
	vp_error e = { 0 };

	if (vp_discover_range(r, &f, &l, &e) != VP_OK)
		fail_msg("%s refused: %s", r, e.msg);
	assert_int_equal(f, first);
	assert_int_equal(l, last);
}

static void
range_refused(const char *r, const char *why)
{
	uint32_t f, l;
	vp_error e = { 0 };

	assert_int_equal(vp_discover_range(r, &f, &l, &e), VP_ERR_INVALID);
	if (strstr(e.msg, why) == NULL)
		fail_msg("%s: message \"%s\" lacks \"%s\"", r, e.msg, why);
}

static void
cidr_blocks_leave_out_network_and_broadcast(void **state)
{
	(void)state;
	range_ok("10.0.0.0/24", A(10, 0, 0, 1), A(10, 0, 0, 254));
	range_ok("10.0.0.77/24", A(10, 0, 0, 1), A(10, 0, 0, 254));   /* host bits ignored */
	range_ok("192.168.4.0/30", A(192, 168, 4, 1), A(192, 168, 4, 2));
	range_ok("192.168.4.8/31", A(192, 168, 4, 8), A(192, 168, 4, 9));
	range_ok("192.168.4.9/32", A(192, 168, 4, 9), A(192, 168, 4, 9));
	range_ok("10.16.0.0/20", A(10, 16, 0, 1), A(10, 16, 15, 254));
}

static void
first_last_ranges_and_single_addresses(void **state)
{
	(void)state;
	range_ok("10.0.0.10-10.0.0.50", A(10, 0, 0, 10), A(10, 0, 0, 50));
	range_ok("10.0.0.10-50", A(10, 0, 0, 10), A(10, 0, 0, 50));
	range_ok("10.0.0.250-10.0.1.5", A(10, 0, 0, 250), A(10, 0, 1, 5));
	range_ok("10.0.0.7", A(10, 0, 0, 7), A(10, 0, 0, 7));
	range_ok("10.0.0.7-7", A(10, 0, 0, 7), A(10, 0, 0, 7));
}

static void
bad_and_oversized_ranges_are_refused(void **state)
{
	(void)state;
	range_refused("10.0.0.0/16", "65534 addresses");
	range_refused("0.0.0.0/0", "addresses");
	range_refused("10.0.0.1-10.0.16.1", "4097 addresses");
	range_refused("10.0.0.50-10.0.0.10", "before the first");
	range_refused("10.0.0.50-10", "before the first");
	range_refused("fd00::/120", "IPv4");
	range_refused("10.0.0.0/33", "CIDR");
	range_refused("10.0.0.0/", "CIDR");
	range_refused("10.0.0/24", "CIDR");
	range_refused("10.0.0.1-cam", "last address");
	range_refused("cam1.site", "neither");
	range_refused("", "CIDR");
	range_ok("10.16.0.0-10.16.15.255", A(10, 16, 0, 0), A(10, 16, 15, 255));   /* 4096 */
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(cidr_blocks_leave_out_network_and_broadcast),
		cmocka_unit_test(first_last_ranges_and_single_addresses),
		cmocka_unit_test(bad_and_oversized_ranges_are_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
