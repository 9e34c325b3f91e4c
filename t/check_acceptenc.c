/*
 * check_acceptenc.c: unit tests for the Accept-Encoding reader
 * (common/acceptenc.c): weights, "*", x-gzip, case, malformed elements,
 * several field lines, and the pick among the codings a route allows.
 */
#include <check.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "common/acceptenc.h"

#define BOTH	(1u << CODING_GZIP | 1u << CODING_BR)

/* The pick for the field lines given (NULL-terminated), allowed codings. */
static int
pick(unsigned allowed, const char *v, ...)
{
	struct acceptenc	 ae;
	va_list			 ap;
	const char		*p;

	acceptenc_init(&ae);
	va_start(ap, v);
	for (p = v; p != NULL; p = va_arg(ap, const char *))
		acceptenc_parse(&ae, p, strlen(p));
	va_end(ap);
	return acceptenc_pick(&ae, allowed);
}

/* Weights of one field line. */
static struct acceptenc
weights(const char *v)
{
	struct acceptenc	 ae;

	acceptenc_init(&ae);
	acceptenc_parse(&ae, v, strlen(v));
	return ae;
}

START_TEST(picks)
{
	ck_assert_int_eq(pick(BOTH, "gzip", NULL), CODING_GZIP);
	ck_assert_int_eq(pick(BOTH, "br", NULL), CODING_BR);
	ck_assert_int_eq(pick(BOTH, "gzip, deflate, br", NULL), CODING_BR);
	ck_assert_int_eq(pick(BOTH, "br;q=0.5, gzip;q=1", NULL), CODING_GZIP);
	ck_assert_int_eq(pick(BOTH, "br;q=0.5, gzip;q=0.4", NULL), CODING_BR);
	ck_assert_int_eq(pick(BOTH, "gzip;q=0, br;q=0", NULL), CODING_IDENTITY);
	ck_assert_int_eq(pick(BOTH, "*", NULL), CODING_BR);
	ck_assert_int_eq(pick(BOTH, "*;q=0", NULL), CODING_IDENTITY);
	ck_assert_int_eq(pick(BOTH, "br;q=0, *", NULL), CODING_GZIP);
	ck_assert_int_eq(pick(BOTH, "*;q=0.1, gzip;q=0.2", NULL), CODING_GZIP);
	ck_assert_int_eq(pick(BOTH, "identity", NULL), CODING_IDENTITY);
	ck_assert_int_eq(pick(BOTH, "", NULL), CODING_IDENTITY);
	ck_assert_int_eq(pick(BOTH, "deflate", NULL), CODING_IDENTITY);
	ck_assert_int_eq(pick(BOTH, "x-gzip", NULL), CODING_GZIP);
	ck_assert_int_eq(pick(BOTH, "GZip ;  Q=0.9", NULL), CODING_GZIP);
	/* Only what the route allows. */
	ck_assert_int_eq(pick(1u << CODING_GZIP, "br, gzip;q=0.1", NULL), CODING_GZIP);
	ck_assert_int_eq(pick(1u << CODING_BR, "gzip", NULL), CODING_IDENTITY);
	ck_assert_int_eq(pick(0, "gzip, br", NULL), CODING_IDENTITY);
	/* Several field lines make one list. */
	ck_assert_int_eq(pick(BOTH, "gzip;q=0.5", "br;q=0.8", NULL), CODING_BR);
	ck_assert_int_eq(pick(BOTH, "br;q=0", "gzip", NULL), CODING_GZIP);
}
END_TEST

START_TEST(qvalues)
{
	ck_assert_int_eq(weights("gzip;q=0.5").gzip, 500);
	ck_assert_int_eq(weights("gzip;q=0.123").gzip, 123);
	ck_assert_int_eq(weights("gzip;q=1.000").gzip, 1000);
	ck_assert_int_eq(weights("gzip;q=0").gzip, 0);
	ck_assert_int_eq(weights("gzip;q=1.").gzip, 1000);
	ck_assert_int_eq(weights("gzip").gzip, 1000);
	ck_assert_int_eq(weights("gzip;level=1;q=0.2").gzip, 200);
	/* Malformed: the element is dropped. */
	ck_assert_int_eq(weights("gzip;q=2").gzip, -1);
	ck_assert_int_eq(weights("gzip;q=1.5").gzip, -1);
	ck_assert_int_eq(weights("gzip;q=0.1234").gzip, -1);
	ck_assert_int_eq(weights("gzip;q=").gzip, -1);
	ck_assert_int_eq(weights("gzip;q=abc").gzip, -1);
	ck_assert_int_eq(weights("gzip junk").gzip, -1);
	ck_assert_int_eq(weights("gzip;=1").gzip, -1);
	ck_assert_int_eq(weights("gzip;q=-1").gzip, -1);
	/* The rest of the list is still read. */
	ck_assert_int_eq(weights("gzip;q=2, br").br, 1000);
	ck_assert_int_eq(weights(",,, br;q=0.3 ,").br, 300);
	ck_assert_int_eq(weights("gzipx, brr, xgzip").gzip, -1);
	ck_assert_int_eq(weights("x-gzip;q=0.3, gzip;q=0.6").gzip, 600);
	ck_assert_int_eq(weights("gzip;q=0.6, x-gzip;q=0.3").gzip, 600);
}
END_TEST

static Suite *
acceptenc_suite(void)
{
	Suite	*s = suite_create("acceptenc");
	TCase	*tc;

	tc = tcase_create("acceptenc");
	tcase_add_test(tc, picks);
	tcase_add_test(tc, qvalues);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner	*sr;
	int	 failed;

	sr = srunner_create(acceptenc_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
