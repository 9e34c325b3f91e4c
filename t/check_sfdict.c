/*
 * check_sfdict.c: unit tests for the RFC 8941 Dictionary parser
 * (common/sfdict.c): every item type, parameters and inner lists,
 * duplicate keys, whitespace, the number limits, several field lines read
 * as one value, and the inputs that make a field invalid as a whole.
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/sfdict.h"

/* The members seen, as "key:type:value " text. */
static char	 seen[1024];

static int
collect(const struct sf_member *m, void *arg)
{
	size_t	 l = strlen(seen);

	(void)arg;
	snprintf(seen + l, sizeof(seen) - l, "%s:%d:%lld ", m->key, (int)m->type,
	    (long long)m->value);
	return 0;
}

/* Parse one line; -1 or 0, with the members in seen. */
static int
parse1(const char *s)
{
	struct sf_seg	 g = { s, strlen(s) };

	seen[0] = '\0';
	return sfdict_parse(&g, 1, collect, NULL);
}

static void
ok(const char *in, const char *want)
{
	ck_assert_msg(parse1(in) == 0, "refused: [%s]", in);
	ck_assert_msg(strcmp(seen, want) == 0, "[%s]: got [%s] want [%s]", in,
	    seen, want);
}

static void
bad(const char *in)
{
	ck_assert_msg(parse1(in) == -1, "accepted: [%s] -> [%s]", in, seen);
}

START_TEST(items)
{
	ok("", "");
	ok("a", "a:0:1 ");
	ok("max-age=60", "max-age:1:60 ");
	ok("max-age=60, no-store", "max-age:1:60 no-store:0:1 ");
	ok("a=?0, b=?1", "a:0:0 b:0:1 ");
	ok("a=-5", "a:1:-5 ");
	ok("a=1.5", "a:2:1 ");
	ok("a=-12.125", "a:2:-12 ");
	ok("a=\"x, y\\\"\\\\\"", "a:3:0 ");
	ok("a=tok/en:*x", "a:4:0 ");
	ok("a=*", "a:4:0 ");
	ok("a=:aGVsbG8=:", "a:5:0 ");
	ok("a=::", "a:5:0 ");
	ok("a=(1 2 \"x\");p, b", "a:6:0 b:0:1 ");
	ok("a=()", "a:6:0 ");
	ok("a=(  1  )", "a:6:0 ");
	ok("*k.x_y-z*=1", "*k.x_y-z*:1:1 ");
	ok("a=999999999999999", "a:1:999999999999999 ");
	ok("a=-999999999999999", "a:1:-999999999999999 ");
	ok("a=123456789012.123", "a:2:123456789012 ");
}
END_TEST

START_TEST(params_and_space)
{
	ok("a;x;y=?0, b=1;z=\"q\";w=tok", "a:0:1 b:1:1 ");
	ok("a; x=1", "a:0:1 ");
	ok("  a=1 ,\tb=2  ", "a:1:1 b:1:2 ");
	ok("a=1,b=2", "a:1:1 b:1:2 ");
	/* A key again: each comes, the last is its value. */
	ok("max-age=60, max-age=5", "max-age:1:60 max-age:1:5 ");
}
END_TEST

START_TEST(invalid)
{
	bad("Max-Age=60");
	bad("max-age=60,");
	bad("max-age=60, ");
	bad(",a");
	bad("a,,b");
	bad("a b");
	bad("a=");
	bad("a =1");
	bad("a= 1");
	bad("a=1 ;x");
	bad("a;X=1");
	bad("a=1;");
	bad("1a");
	bad("-a");
	bad("a=1.");
	bad("a=1.1234");
	bad("a=.5");
	bad("a=-");
	bad("a=1234567890123456");
	bad("a=1234567890123.1");
	bad("a=\"x");
	bad("a=\"\\x\"");
	bad("a=\"\xc3\xa9\"");
	bad("a=\"\t\"");
	bad("a=?2");
	bad("a=?");
	bad("a=:abc");
	bad("a=:a=b:");
	bad("a=:a!:");
	bad("a=(1,2)");
	bad("a=(1");
	bad("a=(1)x");
	bad("a=(1\t2)");
	bad("a=@1");
	bad("a=%\"x\"");
	bad("a=1\tb");
	bad("a;\tx");
}
END_TEST

START_TEST(lines)
{
	struct sf_seg	 g[3] = {
		{ "a=1", 3 }, { "b", 1 }, { "c=(1", 4 }
	};
	struct sf_seg	 q[2] = { { "a=\"x", 4 }, { "y\"", 2 } };
	struct sf_seg	 e[2] = { { "a=1", 3 }, { "", 0 } };

	seen[0] = '\0';
	ck_assert_int_eq(sfdict_parse(g, 2, collect, NULL), 0);
	ck_assert_str_eq(seen, "a:1:1 b:0:1 ");
	/* Lines are joined by ", ": an inner list cannot span them. */
	ck_assert_int_eq(sfdict_parse(g, 3, NULL, NULL), -1);
	/* A string can, with the ", " in it. */
	ck_assert_int_eq(sfdict_parse(q, 2, NULL, NULL), 0);
	/* An empty last line leaves a trailing comma. */
	ck_assert_int_eq(sfdict_parse(e, 2, NULL, NULL), -1);
	ck_assert_int_eq(sfdict_parse(e, 1, NULL, NULL), 0);
	ck_assert_int_eq(sfdict_parse(NULL, 0, NULL, NULL), 0);
}
END_TEST

static int
stop_at_b(const struct sf_member *m, void *arg)
{
	(void)arg;
	return strcmp(m->key, "b") == 0 ? 7 : 0;
}

START_TEST(long_keys_and_stop)
{
	char	 k[200];

	memset(k, 'k', 150);
	strcpy(k + 150, "=3");
	ck_assert_int_eq(parse1(k), 0);
	ck_assert_int_eq(strlen(seen), SF_KEY_MAX + strlen(":1:3 "));
	{
		struct sf_seg	 g = { "a, b, c", 7 };

		ck_assert_int_eq(sfdict_parse(&g, 1, stop_at_b, NULL), 7);
	}
}
END_TEST

static Suite *
sfdict_suite(void)
{
	Suite	*s = suite_create("sfdict");
	TCase	*tc;

	tc = tcase_create("sfdict");
	tcase_add_test(tc, items);
	tcase_add_test(tc, params_and_space);
	tcase_add_test(tc, invalid);
	tcase_add_test(tc, lines);
	tcase_add_test(tc, long_keys_and_stop);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner	*sr;
	int	 failed;

	sr = srunner_create(sfdict_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
