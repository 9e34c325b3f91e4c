/*
 * check_strbuf.c: unit tests for the bounded string builder
 * (common/strbuf.c): each append, exact fits, overflow that sticks and
 * leaves a prefix, ->need for a second pass, building after existing
 * bytes.
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/strbuf.h"

/* The text built so far, NUL-terminated (the builder does not do that). */
static const char *
text(const struct strbuf *b)
{
	static char	 t[256];

	ck_assert_uint_lt(b->len, sizeof(t));
	memcpy(t, b->p, b->len);
	t[b->len] = '\0';
	return t;
}

START_TEST(appends)
{
	struct strbuf	 b;
	char		 buf[128];

	strbuf_init(&b, buf, sizeof(buf));
	strbuf_add(&b, "GET", 3);
	strbuf_add(&b, NULL, 0);
	strbuf_str(&b, " /a");
	strbuf_str(&b, "");
	strbuf_add(&b, " HTTP/1.1\r\n", 11);
	strbuf_field(&b, "Host", 4, "Example.COM", 11);
	strbuf_field(&b, "X-Empty", 7, NULL, 0);
	strbuf_lower(&b, "Example.COM:80/", 15);
	strbuf_num(&b, 0);
	strbuf_str(&b, ",");
	strbuf_num(&b, -42);
	strbuf_str(&b, ",");
	strbuf_num(&b, INT64_MAX);
	strbuf_str(&b, ",");
	strbuf_num(&b, INT64_MIN);
	ck_assert_str_eq(text(&b), "GET /a HTTP/1.1\r\nHost: Example.COM\r\n"
	    "X-Empty: \r\nexample.com:80/0,-42,9223372036854775807,"
	    "-9223372036854775808");
	ck_assert_int_eq(b.over, 0);
	ck_assert_int_eq(strbuf_result(&b), (int)b.len);
	ck_assert_uint_eq(b.need, b.len);
}
END_TEST

START_TEST(fmt)
{
	struct strbuf	 b;
	char		 buf[64];

	strbuf_init(&b, buf, sizeof(buf));
	strbuf_fmt(&b, "HTTP/1.1 %d ", 200);
	strbuf_fmt(&b, "%s", "");
	strbuf_fmt(&b, "%.*s|%llu", 2, "OKAY", 18446744073709551615ULL);
	ck_assert_str_eq(text(&b), "HTTP/1.1 200 OK|18446744073709551615");
	ck_assert_int_eq(strbuf_result(&b), 36);
}
END_TEST

/* Each append fits exactly, then one byte more is refused. */
START_TEST(exact_fit)
{
	struct strbuf	 b;
	char		 buf[8];

	strbuf_init(&b, buf, 8);
	strbuf_add(&b, "abcdefgh", 8);
	ck_assert_int_eq(strbuf_result(&b), 8);
	strbuf_add(&b, "", 0);
	ck_assert_int_eq(strbuf_result(&b), 8);
	strbuf_add(&b, "i", 1);
	ck_assert_int_eq(strbuf_result(&b), -1);

	strbuf_init(&b, buf, 8);
	strbuf_field(&b, "Ab", 2, "cd", 2);
	ck_assert_int_eq(strbuf_result(&b), 8);
	ck_assert(memcmp(buf, "Ab: cd\r\n", 8) == 0);

	strbuf_init(&b, buf, 7);
	strbuf_field(&b, "Ab", 2, "cd", 2);
	ck_assert_int_eq(b.over, 1);
	ck_assert_uint_eq(b.len, 0);	/* nothing of the line */
	ck_assert_uint_eq(b.need, 8);

	strbuf_init(&b, buf, 3);
	strbuf_num(&b, -12);
	ck_assert_int_eq(strbuf_result(&b), 3);
	strbuf_init(&b, buf, 3);
	strbuf_num(&b, -123);
	ck_assert_int_eq(strbuf_result(&b), -1);
	ck_assert_uint_eq(b.len, 0);

	strbuf_init(&b, buf, 4);
	strbuf_lower(&b, "ABCD", 4);
	ck_assert_int_eq(strbuf_result(&b), 4);
	ck_assert(memcmp(buf, "abcd", 4) == 0);

	/* fmt needs a byte for vsnprintf's NUL. */
	strbuf_init(&b, buf, 8);
	strbuf_fmt(&b, "%s", "abcdefg");
	ck_assert_int_eq(strbuf_result(&b), 7);
	ck_assert_str_eq(buf, "abcdefg");
	strbuf_init(&b, buf, 8);
	strbuf_fmt(&b, "%s", "abcdefgh");
	ck_assert_int_eq(strbuf_result(&b), -1);
	ck_assert_uint_eq(b.len, 0);
	ck_assert_uint_eq(b.need, 8);
}
END_TEST

/* Overflow sticks: later appends that would fit are refused too. */
START_TEST(overflow_sticks)
{
	struct strbuf	 b;
	char		 buf[10];

	memset(buf, '#', sizeof(buf));
	strbuf_init(&b, buf, sizeof(buf));
	strbuf_str(&b, "abcd");
	strbuf_str(&b, "0123456789");
	strbuf_str(&b, "e");
	strbuf_lower(&b, "F", 1);
	strbuf_num(&b, 7);
	strbuf_fmt(&b, "%d", 12345);
	strbuf_field(&b, "a", 1, "b", 1);
	ck_assert_int_eq(b.over, 1);
	ck_assert_int_eq(strbuf_result(&b), -1);
	ck_assert_uint_eq(b.len, 4);
	ck_assert(memcmp(buf, "abcd", 4) == 0);
	/* Nothing written past the prefix but fmt's own scratch. */
	ck_assert_int_eq(buf[4], '#');
	ck_assert_uint_eq(b.need, 4 + 10 + 1 + 1 + 1 + 5 + 6);
}
END_TEST

/* A second pass into a buffer of ->need bytes holds all of it. */
START_TEST(second_pass)
{
	struct strbuf	 b;
	char		 small[16], *big;
	int		 i, pass;

	strbuf_init(&b, small, sizeof(small));
	for (pass = 0; pass < 2; pass++) {
		for (i = 0; i < 20; i++)
			strbuf_fmt(&b, "{\"n\":%d},", i);
		strbuf_str(&b, "end");
		if (pass == 0) {
			ck_assert_int_eq(strbuf_result(&b), -1);
			ck_assert_uint_eq(b.need, 10 * 8 + 10 * 9 + 3);
			/* +1: fmt's NUL. */
			big = malloc(b.need + 1);
			ck_assert_ptr_nonnull(big);
			strbuf_init(&b, big, b.need + 1);
		}
	}
	ck_assert_int_eq(strbuf_result(&b), 10 * 8 + 10 * 9 + 3);
	ck_assert(memcmp(b.p, "{\"n\":0},{\"n\":1},", 16) == 0);
	ck_assert(memcmp(b.p + b.len - 12, "{\"n\":19},end", 12) == 0);
	free(big);
}
END_TEST

/* Building after bytes already there, as a cache hit adds its fields. */
START_TEST(init_at)
{
	struct strbuf	 b;
	char		 buf[32] = "HTTP/1.1 200 OK\r\n\r\n";

	strbuf_init_at(&b, buf, sizeof(buf), 17);
	strbuf_str(&b, "Age: ");
	strbuf_num(&b, 5);
	strbuf_str(&b, "\r\n\r\n");
	ck_assert_str_eq(text(&b), "HTTP/1.1 200 OK\r\nAge: 5\r\n\r\n");
	ck_assert_int_eq(strbuf_result(&b), 27);

	strbuf_init_at(&b, buf, 4, 5);
	ck_assert_int_eq(strbuf_result(&b), -1);
	ck_assert_uint_eq(b.len, 4);

	/* A full buffer with no room at all. */
	strbuf_init(&b, NULL, 0);
	strbuf_add(&b, NULL, 0);
	ck_assert_int_eq(strbuf_result(&b), 0);
	strbuf_fmt(&b, "%d", 1);
	ck_assert_int_eq(strbuf_result(&b), -1);
	ck_assert_uint_eq(b.need, 1);
}
END_TEST

static Suite *
strbuf_suite(void)
{
	Suite	*s = suite_create("strbuf");
	TCase	*tc;

	tc = tcase_create("strbuf");
	tcase_add_test(tc, appends);
	tcase_add_test(tc, fmt);
	tcase_add_test(tc, exact_fit);
	tcase_add_test(tc, overflow_sticks);
	tcase_add_test(tc, second_pass);
	tcase_add_test(tc, init_at);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner	*sr;
	int	 failed;

	sr = srunner_create(strbuf_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
