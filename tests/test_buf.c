/* Unit tests for the growing buffer (src/lib/buf.c): growth, the hard maximum refused with
 * nothing changed, sizes near SIZE_MAX, wiping of secret blocks, printf, taking the contents;
 * and vp_size_mul (src/lib/util.c). free is wrapped (-Wl,--wrap=free) to see freed blocks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "vmspki/buf.h"
#include "vmspki/util.h"

/* ---- a look at the blocks buf.c frees ---- */

void __real_free(void *p);
void __wrap_free(void *p);

static const void *watched;     /* the block to inspect when it is freed */
static size_t watched_len;
static int watched_freed, watched_wiped;

void
__wrap_free(void *p)
{
	if (p != NULL && p == watched) {
		const unsigned char *c = p;
		size_t i;

		watched_freed = 1;
		watched_wiped = 1;
		for (i = 0; i < watched_len; i++)
			if (c[i] != 0)
				watched_wiped = 0;
		watched = NULL;
	}
	__real_free(p);
}

static void
watch(const void *p, size_t len)
{
	watched = p;
	watched_len = len;
	watched_freed = watched_wiped = 0;
}

/* ---- tests ---- */

static void
appends_grow_the_buffer_and_keep_it_nul_terminated(void **state)
{
	vp_buf b;
	size_t i, want = 0;

	(void)state;
	vp_buf_init(&b, "the text", 1024 * 1024, 0);
	assert_string_equal(vp_buf_str(&b), "");
	assert_int_equal(vp_buf_len(&b), 0);
	for (i = 0; i < 10000; i++) {
		assert_int_equal(vp_buf_add(&b, "0123456789", i % 11, NULL), VP_OK);
		want += i % 11;
	}
	assert_int_equal(vp_buf_len(&b), want);
	assert_true(b.cap > vp_buf_len(&b));
	assert_int_equal(vp_buf_str(&b)[vp_buf_len(&b)], '\0');
	assert_memory_equal(vp_buf_str(&b), "0" "01" "012" "0123", 10);
	assert_int_equal(vp_buf_add_str(&b, "end", NULL), VP_OK);
	assert_string_equal(vp_buf_str(&b) + vp_buf_len(&b) - 3, "end");
	assert_int_equal(vp_buf_failed(&b), VP_OK);
	vp_buf_reset(&b);
	assert_string_equal(vp_buf_str(&b), "");
	assert_int_equal(vp_buf_len(&b), 0);
	vp_buf_free(&b);
	vp_buf_free(&b);     /* twice is fine, and so is NULL */
	vp_buf_free(NULL);
}

static void
the_maximum_is_refused_with_nothing_changed(void **state)
{
	vp_error e = { 0 };
	vp_buf b;

	(void)state;
	vp_buf_init(&b, "the camera's answer", 10, 0);
	assert_int_equal(vp_buf_add(&b, "12345678", 8, &e), VP_OK);
	assert_int_equal(vp_buf_add(&b, "abc", 3, &e), VP_ERR_INVALID);
	assert_string_equal(e.msg, "the camera's answer is over 10 bytes");
	assert_string_equal(vp_buf_str(&b), "12345678");
	assert_int_equal(vp_buf_len(&b), 8);
	assert_int_equal(vp_buf_failed(&b), VP_ERR_INVALID);
	assert_int_equal(vp_buf_printf(&b, &e, "%d", 123), VP_ERR_INVALID);
	assert_string_equal(vp_buf_str(&b), "12345678");
	/* what fits still goes in; the indicator stays until a reset */
	assert_int_equal(vp_buf_add(&b, "ab", 2, &e), VP_OK);
	assert_string_equal(vp_buf_str(&b), "12345678ab");
	assert_int_equal(vp_buf_add(&b, "", 0, &e), VP_OK);
	assert_int_equal(vp_buf_add(&b, "c", 1, &e), VP_ERR_INVALID);
	assert_int_equal(b.cap, 11);     /* never more than the maximum and its NUL */
	assert_true(vp_buf_failed(&b));
	vp_buf_reset(&b);
	assert_false(vp_buf_failed(&b));
	vp_buf_free(&b);

	vp_buf_init(&b, "the device's answer", 1024 * 1024, 0);
	assert_int_equal(vp_buf_add(&b, "x", 1024 * 1024 + 1, &e), VP_ERR_INVALID);
	assert_string_equal(e.msg, "the device's answer is over 1 MiB");
	assert_null(b.p);
	vp_buf_init(&b, "the list", 64 * 1024, 0);
	assert_int_equal(vp_buf_printf(&b, &e, "%70000s", ""), VP_ERR_INVALID);
	assert_string_equal(e.msg, "the list is over 64 KiB");
	assert_null(b.p);
	vp_buf_free(&b);
}

static void
sizes_near_size_max_are_refused_without_wrapping(void **state)
{
	vp_error e = { 0 };
	vp_buf b;
	size_t out = 7;

	(void)state;
	vp_buf_init(&b, "the big one", SIZE_MAX, 0);
	assert_int_equal(b.max, SIZE_MAX - 1);   /* room for the NUL */
	assert_int_equal(vp_buf_add(&b, "0123456789abcdef", 16, &e), VP_OK);
	/* len + n and len + n + 1 would wrap around to a small allocation */
	assert_int_equal(vp_buf_add(&b, "x", SIZE_MAX, &e), VP_ERR_INVALID);
	assert_int_equal(vp_buf_add(&b, "x", SIZE_MAX - 16, &e), VP_ERR_INVALID);
	assert_int_equal(vp_buf_add(&b, "x", SIZE_MAX - 1 - 15, &e), VP_ERR_INVALID);
	assert_int_equal(vp_buf_len(&b), 16);
	assert_string_equal(vp_buf_str(&b), "0123456789abcdef");
	vp_buf_free(&b);

	assert_int_equal(vp_size_mul(SIZE_MAX / 2 + 1, 2, &out), 0);
	assert_int_equal(out, 7);
	assert_int_equal(vp_size_mul(SIZE_MAX, SIZE_MAX, &out), 0);
	assert_int_equal(vp_size_mul((SIZE_MAX / 8) + 1, sizeof(int64_t), &out), 0);
	assert_int_equal(vp_size_mul(SIZE_MAX / 8, 8, &out), 1);
	assert_int_equal(out, SIZE_MAX / 8 * 8);
	assert_int_equal(vp_size_mul(SIZE_MAX, 1, &out), 1);
	assert_int_equal(out, SIZE_MAX);
	assert_int_equal(vp_size_mul(0, SIZE_MAX, &out), 1);
	assert_int_equal(out, 0);
	assert_int_equal(vp_size_mul(SIZE_MAX, 0, &out), 1);
	assert_int_equal(out, 0);
}

static void
secret_blocks_are_wiped_when_grown_reset_and_freed(void **state)
{
	static const char secret[] = "-----BEGIN PRIVATE KEY-----";
	vp_buf b;
	const char *old;
	size_t i;

	(void)state;
	vp_buf_init(&b, "the key", 1024 * 1024, VP_BUF_SECRET);
	assert_int_equal(vp_buf_add_str(&b, secret, NULL), VP_OK);
	old = b.p;
	watch(old, b.cap);
	while (b.p == old)      /* until the block is replaced by a larger one */
		assert_int_equal(vp_buf_add_str(&b, secret, NULL), VP_OK);
	assert_true(watched_freed);
	assert_true(watched_wiped);
	assert_memory_equal(vp_buf_str(&b), secret, sizeof(secret) - 1);

	vp_buf_reset(&b);
	for (i = 0; i < b.cap; i++)
		assert_int_equal(b.p[i], 0);

	assert_int_equal(vp_buf_printf(&b, NULL, "%s %s", secret, secret), VP_OK);
	watch(b.p, b.cap);
	vp_buf_free(&b);
	assert_true(watched_freed);
	assert_true(watched_wiped);
}

static void
ordinary_blocks_are_not_wiped_so_the_watch_sees_the_difference(void **state)
{
	vp_buf b;

	(void)state;
	vp_buf_init(&b, "the text", 1024, 0);
	assert_int_equal(vp_buf_add_str(&b, "not a secret", NULL), VP_OK);
	watch(b.p, b.cap);
	vp_buf_free(&b);
	assert_true(watched_freed);
	assert_false(watched_wiped);
}

static void
printf_appends_formatted_text_of_any_length(void **state)
{
	char big[5000];
	vp_buf b;

	(void)state;
	memset(big, 'y', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	vp_buf_init(&b, "the metrics", 1024 * 1024, 0);
	assert_int_equal(vp_buf_printf(&b, NULL, "%s=%d;", "a", 1), VP_OK);
	assert_int_equal(vp_buf_printf(&b, NULL, "%s", ""), VP_OK);
	assert_int_equal(vp_buf_printf(&b, NULL, "[%s]", big), VP_OK);   /* past the first block */
	assert_int_equal(vp_buf_printf(&b, NULL, "%.3f", 1.5), VP_OK);
	assert_int_equal(vp_buf_len(&b), 4 + 2 + 4999 + 5);
	assert_memory_equal(vp_buf_str(&b), "a=1;[yyy", 8);
	assert_string_equal(vp_buf_str(&b) + 4 + 1 + 4999, "]1.500");
	vp_buf_free(&b);
}

static void
take_hands_over_the_contents_and_empties_the_buffer(void **state)
{
	vp_buf b;
	char *s = NULL;
	size_t len = 99;

	(void)state;
	vp_buf_init(&b, "the text", 100, 0);
	assert_int_equal(vp_buf_take(&b, &s, &len, NULL), VP_OK);   /* empty: "" */
	assert_non_null(s);
	assert_string_equal(s, "");
	assert_int_equal(len, 0);
	free(s);

	assert_int_equal(vp_buf_add_str(&b, "hello", NULL), VP_OK);
	assert_int_equal(vp_buf_take(&b, &s, &len, NULL), VP_OK);
	assert_string_equal(s, "hello");
	assert_int_equal(len, 5);
	assert_null(b.p);
	assert_int_equal(vp_buf_len(&b), 0);
	/* the buffer is usable again, with its limit */
	assert_int_equal(vp_buf_add(&b, "x", 101, NULL), VP_ERR_INVALID);
	assert_int_equal(vp_buf_add_str(&b, "again", NULL), VP_OK);
	assert_string_equal(vp_buf_str(&b), "again");
	assert_string_equal(s, "hello");
	free(s);
	assert_int_equal(vp_buf_take(&b, &s, NULL, NULL), VP_OK);
	assert_string_equal(s, "again");
	free(s);
	vp_buf_free(&b);
}

static void
ids_keep_every_id_in_order_and_refuse_a_wrapping_size(void **state)
{
	vp_ids l = VP_IDS_INIT;
	vp_error e = { 0 };
	int64_t *keep;
	size_t i;

	(void)state;
	for (i = 0; i < 1000; i++)
		assert_int_equal(vp_ids_add(&l, (int64_t)i * 3, &e), VP_OK);
	assert_int_equal(l.n, 1000);
	assert_true(l.cap >= l.n);
	for (i = 0; i < l.n; i++)
		assert_int_equal(l.v[i], (int64_t)i * 3);

	/* A full list whose doubled size would wrap is refused and left as it was. */
	keep = l.v;
	l.n = l.cap = SIZE_MAX / 2;
	assert_int_equal(vp_ids_add(&l, 7, &e), VP_ERR_NOMEM);
	assert_string_equal(e.msg, "out of memory");
	assert_ptr_equal(l.v, keep);
	assert_int_equal(l.n, SIZE_MAX / 2);

	vp_ids_free(&l);
	assert_null(l.v);
	assert_int_equal(l.n, 0);
	vp_ids_free(NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(appends_grow_the_buffer_and_keep_it_nul_terminated),
		cmocka_unit_test(the_maximum_is_refused_with_nothing_changed),
		cmocka_unit_test(sizes_near_size_max_are_refused_without_wrapping),
		cmocka_unit_test(secret_blocks_are_wiped_when_grown_reset_and_freed),
		cmocka_unit_test(ordinary_blocks_are_not_wiped_so_the_watch_sees_the_difference),
		cmocka_unit_test(printf_appends_formatted_text_of_any_length),
		cmocka_unit_test(take_hands_over_the_contents_and_empties_the_buffer),
		cmocka_unit_test(ids_keep_every_id_in_order_and_refuse_a_wrapping_size),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
