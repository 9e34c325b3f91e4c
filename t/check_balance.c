/*
 * check_balance.c: unit tests for the balancer (worker/balance.c).
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "worker/balance.h"

static void
setup3(struct balance_server *s, int a, int b, int c)
{
	memset(s, 0, 3 * sizeof(*s));
	s[0].weight = a;
	s[1].weight = b;
	s[2].weight = c;
}

START_TEST(test_smooth_sequence)
{
	struct balance_server	 s[3];
	char			 seq[15];
	int			 i;

	/* Weights 5,1,1: the heavy server never gets five in a row. */
	setup3(s, 5, 1, 1);
	for (i = 0; i < 14; i++)
		seq[i] = 'a' + balance_pick(s, 3, 0, NULL);
	seq[14] = '\0';
	ck_assert_str_eq(seq, "aabacaaaabacaa");
}
END_TEST

START_TEST(test_weights_distribution)
{
	struct balance_server	 s[3];
	int			 count[3] = { 0, 0, 0 }, i;

	setup3(s, 1, 2, 3);
	for (i = 0; i < 6000; i++)
		count[balance_pick(s, 3, 0, NULL)]++;
	ck_assert_int_eq(count[0], 1000);
	ck_assert_int_eq(count[1], 2000);
	ck_assert_int_eq(count[2], 3000);
}
END_TEST

START_TEST(test_equal_round_robin)
{
	struct balance_server	 s[3];
	int			 i;

	setup3(s, 1, 1, 1);
	for (i = 0; i < 9; i++)
		ck_assert_int_eq(balance_pick(s, 3, 0, NULL), i % 3);
}
END_TEST

START_TEST(test_failed_server_skipped)
{
	struct balance_server	 s[3];
	int			 i, count[3] = { 0, 0, 0 };

	setup3(s, 1, 1, 1);
	balance_fail(&s[1], 1000, 10000);
	for (i = 0; i < 100; i++)
		count[balance_pick(s, 3, 5000, NULL)]++;
	ck_assert_int_eq(count[1], 0);
	ck_assert_int_eq(count[0], 50);
	ck_assert_int_eq(count[2], 50);
	/* After the back-off it is used again. */
	for (i = 0; i < 3; i++)
		count[balance_pick(s, 3, 11001, NULL)]++;
	ck_assert_int_eq(count[1], 1);
}
END_TEST

START_TEST(test_tried_excluded)
{
	struct balance_server	 s[3];
	struct balance_tried	 t;

	setup3(s, 1, 1, 1);
	balance_tried_clear(&t);
	balance_tried_set(&t, 0);
	balance_tried_set(&t, 2);
	ck_assert_int_eq(balance_pick(s, 3, 0, &t), 1);
	balance_tried_set(&t, 1);
	ck_assert_int_eq(balance_pick(s, 3, 0, &t), -1);
}
END_TEST

START_TEST(test_all_down_fallback)
{
	struct balance_server	 s[3];

	/* Every server failed: the one whose back-off ends first is tried. */
	setup3(s, 1, 1, 1);
	balance_fail(&s[0], 100, 10000);
	balance_fail(&s[1], 50, 10000);
	balance_fail(&s[2], 200, 10000);
	ck_assert_int_eq(balance_pick(s, 3, 300, NULL), 1);
}
END_TEST

START_TEST(test_tried_bitmap_high_index)
{
	struct balance_tried	 t;

	balance_tried_clear(&t);
	balance_tried_set(&t, 200);
	ck_assert(balance_tried_has(&t, 200));
	ck_assert(!balance_tried_has(&t, 199));
	ck_assert(!balance_tried_has(&t, 201));
}
END_TEST

static Suite *
balance_suite(void)
{
	Suite	*s = suite_create("balance");
	TCase	*tc = tcase_create("round_robin");

	tcase_add_test(tc, test_smooth_sequence);
	tcase_add_test(tc, test_weights_distribution);
	tcase_add_test(tc, test_equal_round_robin);
	tcase_add_test(tc, test_failed_server_skipped);
	tcase_add_test(tc, test_tried_excluded);
	tcase_add_test(tc, test_all_down_fallback);
	tcase_add_test(tc, test_tried_bitmap_high_index);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner	*sr = srunner_create(balance_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
