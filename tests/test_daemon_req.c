/* Unit tests for the daemon's request checks (src/daemon/reqjson.c): JSON bodies against
 * their known fields, owners, serials, query numbers, base64 and the Authorization header. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "daemon.h"

static const vpd_field issue_fields[] = {
	{ "profile", VPD_STRING, 1, 32, 0, 0 },
	{ "csr", VPD_STRING, 0, 100, 0, 0 },
	{ "generate_key", VPD_BOOL, 0, 0, 0, 0 },
	{ "dns", VPD_STRINGS, 0, 10, 0, 2 },
	{ "days", VPD_INT, 0, 0, 1, 365 },
	{ NULL, 0, 0, 0, 0, 0 }
};

/* Parses and checks s; returns the status (0 when accepted) and leaves the error in re. */
static int
check(const char *s, vpd_reqerr *re)
{
	json_t *o;
	int rc;

	memset(re, 0, sizeof(*re));
	if ((o = vpd_json_parse(s, strlen(s), re)) == NULL)
		return re->status;
	rc = vpd_json_check(o, issue_fields, re) == 0 ? 0 : re->status;
	json_decref(o);
	return rc;
}

static void
json_body_is_accepted_when_it_fits(void **state)
{
	vpd_reqerr re;
	json_t *o;
	const char **dns = NULL;
	size_t n = 0;
	(void)state;

	assert_int_equal(check("{\"profile\":\"server\",\"csr\":\"x\",\"dns\":[\"a\",\"b\"],"
	    "\"days\":30,\"generate_key\":false}", &re), 0);
	{
		const char *body = "{\"profile\":\"server\",\"dns\":[\"a\",\"b\"],\"days\":7}";

		o = vpd_json_parse(body, strlen(body), &re);
	}
	assert_non_null(o);
	assert_string_equal(vpd_json_str(o, "profile"), "server");
	assert_null(vpd_json_str(o, "csr"));
	assert_int_equal(vpd_json_int(o, "days", 0), 7);
	assert_int_equal(vpd_json_int(o, "nothing", 42), 42);
	assert_false(vpd_json_bool(o, "generate_key"));
	assert_int_equal(vpd_json_strs(o, "dns", &dns, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(dns[1], "b");
	free(dns);
	json_decref(o);
}

static void
json_body_refuses_what_does_not_fit(void **state)
{
	vpd_reqerr re;
	(void)state;

	/* not JSON, not an object, empty, duplicate keys, trailing garbage */
	assert_int_equal(check("{\"profile\":", &re), 400);
	assert_string_equal(re.code, "bad_json");
	assert_int_equal(check("[1,2]", &re), 400);
	assert_string_equal(re.code, "bad_json");
	assert_int_equal(check("", &re), 400);
	assert_int_equal(check("{\"profile\":\"a\",\"profile\":\"b\"}", &re), 400);
	assert_string_equal(re.code, "bad_json");
	assert_int_equal(check("{\"profile\":\"a\"} x", &re), 400);
	/* the text near a syntax error (maybe a password without quotes) is not echoed */
	assert_int_equal(check("{\"p12_password\": hunter2secret}", &re), 400);
	assert_null(strstr(re.msg, "hunter2"));
	/* an unknown field is named, with the ones the request takes */
	assert_int_equal(check("{\"profile\":\"server\",\"bogus\":1}", &re), 400);
	assert_string_equal(re.code, "unknown_field");
	assert_non_null(strstr(re.msg, "\"bogus\""));
	assert_non_null(strstr(re.msg, "profile, csr"));
	/* types, lengths, ranges, element counts */
	assert_int_equal(check("{\"profile\":1}", &re), 400);
	assert_string_equal(re.code, "bad_field");
	assert_int_equal(check("{\"profile\":\"s\",\"generate_key\":\"yes\"}", &re), 400);
	assert_int_equal(check("{\"profile\":\"s\",\"days\":0}", &re), 400);
	assert_int_equal(check("{\"profile\":\"s\",\"days\":366}", &re), 400);
	assert_int_equal(check("{\"profile\":\"s\",\"days\":1.5}", &re), 400);
	assert_int_equal(check("{\"profile\":\"s\",\"dns\":\"a\"}", &re), 400);
	assert_int_equal(check("{\"profile\":\"s\",\"dns\":[1]}", &re), 400);
	assert_int_equal(check("{\"profile\":\"s\",\"dns\":[\"a\",\"b\",\"c\"]}", &re), 400);
	assert_int_equal(check("{\"profile\":\"s\",\"dns\":[\"01234567890\"]}", &re), 400);
	assert_int_equal(check("{\"profile\":\"0123456789012345678901234567890123\"}", &re), 400);
	/* a required field */
	assert_int_equal(check("{\"csr\":\"x\"}", &re), 400);
	assert_string_equal(re.code, "missing_field");
	assert_non_null(strstr(re.msg, "\"profile\""));
	/* a NUL inside a string */
	assert_int_equal(check("{\"profile\":\"a\\u0000b\"}", &re), 400);
}

static void
owner_is_kind_colon_id(void **state)
{
	char kind[32];
	const char *id;
	(void)state;

	assert_int_equal(vpd_owner_parse("device:cam-12", 0, kind, sizeof(kind), &id), 0);
	assert_string_equal(kind, "device");
	assert_string_equal(id, "cam-12");
	assert_int_equal(vpd_owner_parse("admin:Jane Doe", 0, kind, sizeof(kind), &id), 0);
	assert_int_equal(vpd_owner_parse("device", 1, kind, sizeof(kind), &id), 0);
	assert_null(id);
	assert_int_equal(vpd_owner_parse("device", 0, kind, sizeof(kind), &id), -1);
	assert_int_equal(vpd_owner_parse(":x", 0, kind, sizeof(kind), &id), -1);
	assert_int_equal(vpd_owner_parse("Device:x", 0, kind, sizeof(kind), &id), -1);
	assert_int_equal(vpd_owner_parse("1dev:x", 0, kind, sizeof(kind), &id), -1);
	assert_int_equal(vpd_owner_parse("device:", 0, kind, sizeof(kind), &id), -1);
	assert_int_equal(vpd_owner_parse("device:a\nb", 0, kind, sizeof(kind), &id), -1);
	assert_int_equal(vpd_owner_parse("averyveryveryverylongkindnamethatdoesnotfit:x", 0, kind,
	    sizeof(kind), &id), -1);
}

static void
serial_and_numbers_are_normalized(void **state)
{
	char s[64];
	int64_t v = 0;
	(void)state;

	assert_int_equal(vpd_serial_normalize("01:A3:ff", s, sizeof(s)), 0);
	assert_string_equal(s, "1a3ff");
	assert_int_equal(vpd_serial_normalize("0", s, sizeof(s)), 0);
	assert_string_equal(s, "0");
	assert_int_equal(vpd_serial_normalize("xyz", s, sizeof(s)), -1);
	assert_int_equal(vpd_serial_normalize("", s, sizeof(s)), -1);
	assert_int_equal(vpd_serial_normalize("12/34", s, sizeof(s)), -1);
	assert_int_equal(vpd_serial_normalize("123456789", s, 5), -1);

	assert_int_equal(vpd_parse_int("30", 0, 100, &v), 0);
	assert_int_equal(v, 30);
	assert_int_equal(vpd_parse_int("101", 0, 100, &v), -1);
	assert_int_equal(vpd_parse_int("-1", 0, 100, &v), -1);
	assert_int_equal(vpd_parse_int("3x", 0, 100, &v), -1);
	assert_int_equal(vpd_parse_int("", 0, 100, &v), -1);
	assert_int_equal(vpd_parse_int(" 3", 0, 100, &v), -1);
	assert_int_equal(vpd_parse_int("99999999999999999999999", 0, INT64_MAX, &v), -1);
}

static void
base64_round_trips_and_refuses_junk(void **state)
{
	const unsigned char data[] = { 0, 1, 2, 0xfe, 0xff, 'x', 'y' };
	unsigned char *out = NULL;
	size_t len = 0;
	char *b64;
	(void)state;

	for (size_t n = 1; n <= sizeof(data); n++) {
		assert_non_null(b64 = vpd_base64_encode(data, n));
		assert_int_equal(vpd_base64_decode(b64, &out, &len), 0);
		assert_int_equal(len, n);
		assert_memory_equal(out, data, n);
		free(out);
		free(b64);
	}
	assert_int_equal(vpd_base64_decode("aGVs\nbG8=", &out, &len), 0);
	assert_int_equal(len, 5);
	assert_memory_equal(out, "hello", 5);
	free(out);
	assert_int_equal(vpd_base64_decode("aGVsbG8", &out, &len), 0);   /* padding optional */
	free(out);
	assert_int_equal(vpd_base64_decode("aGV*bG8=", &out, &len), -1);
	assert_int_equal(vpd_base64_decode("a", &out, &len), -1);
	assert_int_equal(vpd_base64_decode("aG=Vs", &out, &len), -1);
	assert_int_equal(vpd_base64_decode("", &out, &len), -1);
	assert_null(out);
}

static void
bearer_token_is_taken_from_the_header(void **state)
{
	(void)state;
	assert_string_equal(vpd_bearer("Bearer vmspki_abc"), "vmspki_abc");
	assert_string_equal(vpd_bearer("bearer  vmspki_abc"), "vmspki_abc");
	assert_null(vpd_bearer("Basic dXNlcjpwdw=="));
	assert_null(vpd_bearer("Bearer "));
	assert_null(vpd_bearer("Bearervmspki_abc"));
	assert_null(vpd_bearer(NULL));
}

static void
peer_key_groups_ipv6_by_64(void **state)
{
	char k[80];
	(void)state;

	vpd_peer_key("192.0.2.7", k, sizeof(k));
	assert_string_equal(k, "192.0.2.7");
	vpd_peer_key("2001:db8:1:2:aaaa:bbbb:cccc:dddd", k, sizeof(k));
	assert_string_equal(k, "2001:db8:1:2::/64");
	vpd_peer_key("::1", k, sizeof(k));
	assert_string_equal(k, "::/64");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(json_body_is_accepted_when_it_fits),
		cmocka_unit_test(json_body_refuses_what_does_not_fit),
		cmocka_unit_test(owner_is_kind_colon_id),
		cmocka_unit_test(serial_and_numbers_are_normalized),
		cmocka_unit_test(base64_round_trips_and_refuses_junk),
		cmocka_unit_test(bearer_token_is_taken_from_the_header),
		cmocka_unit_test(peer_key_groups_ipv6_by_64),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
