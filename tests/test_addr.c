/* Unit tests for the address checks (src/lib/addr.c) that devices, endpoints and certificate
 * names share. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "vmspki/addr.h"

static void
ip_addresses_are_told_apart(void **state)
{
	(void)state;
	assert_true(vp_addr_is_ipv4("10.0.0.3"));
	assert_false(vp_addr_is_ipv4("10.0.0.256"));
	assert_false(vp_addr_is_ipv4("fd00::3"));
	assert_true(vp_addr_is_ipv6("fd00::3"));
	assert_false(vp_addr_is_ipv6("[fd00::3]"));
	assert_false(vp_addr_is_ipv6("fe80::1%eth0"));
	assert_true(vp_addr_is_ip("192.0.2.1"));
	assert_true(vp_addr_is_ip("::1"));
	assert_false(vp_addr_is_ip("cam1.site.example"));
	assert_false(vp_addr_is_ip(""));
}

static void
hostnames_follow_rfc_1123(void **state)
{
	char label[80], longname[300];

	(void)state;
	assert_true(vp_addr_is_hostname("cam1.site.example", 0));
	assert_true(vp_addr_is_hostname("a-b.c", 0));
	assert_false(vp_addr_is_hostname("", 0));
	assert_false(vp_addr_is_hostname("-cam.site", 0));
	assert_false(vp_addr_is_hostname("cam-.site", 0));
	assert_false(vp_addr_is_hostname("cam..site", 0));
	assert_false(vp_addr_is_hostname("cam.site.", 0));
	assert_false(vp_addr_is_hostname(".cam", 0));
	assert_false(vp_addr_is_hostname("cam_1.site", 0));
	assert_false(vp_addr_is_hostname("cam1:80", 0));
	memset(label, 'a', 64);
	label[64] = '\0';
	assert_false(vp_addr_is_hostname(label, 0));
	label[63] = '\0';
	assert_true(vp_addr_is_hostname(label, 0));
	/* 253 bytes in all at most */
	memset(longname, 'a', 253);
	for (size_t i = 50; i < 253; i += 51)
		longname[i] = '.';
	longname[253] = '\0';
	assert_true(vp_addr_is_hostname(longname, 0));
	longname[253] = 'a';
	longname[254] = '\0';
	assert_false(vp_addr_is_hostname(longname, 0));
}

static void
numeric_names_and_wildcards_only_when_asked(void **state)
{
	(void)state;
	assert_false(vp_addr_is_hostname("10.0.0.256", 0));
	assert_true(vp_addr_is_hostname("10.0.0.256", VP_ADDR_NUMERIC));
	assert_false(vp_addr_is_hostname("*.site.example", 0));
	assert_true(vp_addr_is_hostname("*.site.example", VP_ADDR_WILDCARD));
	assert_false(vp_addr_is_hostname("*.", VP_ADDR_SAN));
	assert_false(vp_addr_is_hostname("a.*.site", VP_ADDR_SAN));
	assert_true(vp_addr_is_hostname("123", VP_ADDR_SAN));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(ip_addresses_are_told_apart),
		cmocka_unit_test(hostnames_follow_rfc_1123),
		cmocka_unit_test(numeric_names_and_wildcards_only_when_asked),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
