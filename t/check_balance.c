/*
 * check_balance.c: unit tests for server selection (worker/balance.c).
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/shm.h"
#include "worker/balance.h"

static struct balance_server	 srv[8];
static uint32_t			 act[8];
static struct balance		 b;

/* Set up n servers with the given weights, all up, active counts in act[]. */
static void
setup(enum balance_kind kind, size_t n, const int *w)
{
	size_t	 i;

	memset(srv, 0, sizeof(srv));
	memset(act, 0, sizeof(act));
	for (i = 0; i < n; i++) {
		srv[i].weight = w[i];
		srv[i].active = &act[i];
	}
	ck_assert_int_eq(balance_init(&b, kind, srv, n, 0, 42), 0);
}

static int
pick(uint64_t now)
{
	int	 full;

	return balance_pick(&b, now, NULL, 0, 0, &full);
}

static int
pick_key(const char *key)
{
	int	 full;

	return balance_pick(&b, 0, NULL, 1, balance_hash(key, strlen(key)), &full);
}

START_TEST(test_rr_smooth_sequence)
{
	static const int	 w[] = { 5, 1, 1 };
	char			 seq[15];
	int			 i;

	/* Weights 5,1,1: the heavy server never gets five in a row. */
	setup(BALANCE_ROUND_ROBIN, 3, w);
	for (i = 0; i < 14; i++)
		seq[i] = 'a' + pick(0);
	seq[14] = '\0';
	ck_assert_str_eq(seq, "aabacaaaabacaa");
	balance_free(&b);
}
END_TEST

START_TEST(test_rr_weights)
{
	static const int	 w[] = { 1, 2, 3 };
	int			 count[3] = { 0, 0, 0 }, i;

	setup(BALANCE_ROUND_ROBIN, 3, w);
	for (i = 0; i < 6000; i++)
		count[pick(0)]++;
	ck_assert_int_eq(count[0], 1000);
	ck_assert_int_eq(count[1], 2000);
	ck_assert_int_eq(count[2], 3000);
	balance_free(&b);
}
END_TEST

START_TEST(test_failed_server_skipped)
{
	static const int	 w[] = { 1, 1, 1 };
	int			 i, count[3] = { 0, 0, 0 };

	setup(BALANCE_ROUND_ROBIN, 3, w);
	balance_fail(&b, 1, 1000, 10000);
	for (i = 0; i < 100; i++)
		count[pick(5000)]++;
	ck_assert_int_eq(count[1], 0);
	ck_assert_int_eq(count[0], 50);
	ck_assert_int_eq(count[2], 50);
	for (i = 0; i < 3; i++)
		count[pick(11001)]++;
	ck_assert_int_eq(count[1], 1);
	balance_free(&b);
}
END_TEST

START_TEST(test_tried_excluded)
{
	static const int	 w[] = { 1, 1, 1 };
	struct balance_tried	 t;
	int			 full;

	setup(BALANCE_ROUND_ROBIN, 3, w);
	balance_tried_clear(&t);
	balance_tried_set(&t, 0);
	balance_tried_set(&t, 2);
	ck_assert_int_eq(balance_pick(&b, 0, &t, 0, 0, &full), 1);
	balance_tried_set(&t, 1);
	ck_assert_int_eq(balance_pick(&b, 0, &t, 0, 0, &full), -1);
	ck_assert_int_eq(full, 0);
	balance_tried_unset(&t, 1);
	ck_assert_int_eq(balance_pick(&b, 0, &t, 0, 0, &full), 1);
	balance_free(&b);
}
END_TEST

START_TEST(test_all_down_fallback)
{
	static const int	 w[] = { 1, 1, 1 };

	/* Every server failed: the one whose back-off ends first is tried. */
	setup(BALANCE_ROUND_ROBIN, 3, w);
	balance_fail(&b, 0, 100, 10000);
	balance_fail(&b, 1, 50, 10000);
	balance_fail(&b, 2, 200, 10000);
	ck_assert_int_eq(pick(300), 1);
	balance_free(&b);
}
END_TEST

START_TEST(test_backup_only_when_primaries_out)
{
	static const int	 w[] = { 1, 1, 1 };
	int			 i;

	setup(BALANCE_ROUND_ROBIN, 3, w);
	srv[2].backup = 1;
	for (i = 0; i < 20; i++)
		ck_assert_int_ne(pick(0), 2);
	balance_fail(&b, 0, 0, 10000);
	for (i = 0; i < 5; i++)
		ck_assert_int_eq(pick(1), 1);
	balance_fail(&b, 1, 0, 10000);
	for (i = 0; i < 5; i++)
		ck_assert_int_eq(pick(1), 2);
	balance_free(&b);
}
END_TEST

START_TEST(test_max_conns)
{
	static const int	 w[] = { 1, 1 };
	int			 full, i;

	setup(BALANCE_ROUND_ROBIN, 2, w);
	srv[0].max_conns = 2;
	srv[1].max_conns = 1;
	act[0] = 2;
	for (i = 0; i < 5; i++)
		ck_assert_int_eq(pick(0), 1);
	act[1] = 1;
	ck_assert_int_eq(balance_pick(&b, 0, NULL, 0, 0, &full), -1);
	ck_assert_int_eq(full, BALANCE_ALL_FULL);
	act[0] = 1;
	ck_assert_int_eq(pick(0), 0);
	balance_free(&b);
}
END_TEST

START_TEST(test_shared_health_down)
{
	static const int	 w[] = { 1, 1, 1 };
	uint32_t		 st[3] = { 0, 1, 0 };
	uint64_t		 ch[3] = { 0, 0, 0 };
	int			 i, why;

	setup(BALANCE_ROUND_ROBIN, 3, w);
	for (i = 0; i < 3; i++) {
		srv[i].state = &st[i];
		srv[i].changed = &ch[i];
	}
	for (i = 0; i < 20; i++)
		ck_assert_int_ne(pick(0), 1);
	/* Passive failure marks: avoided, but still a last resort. */
	st[0] = 2;
	for (i = 0; i < 10; i++)
		ck_assert_int_eq(pick(0), 2);
	st[2] = 2;
	ck_assert_int_ne(pick(0), 1);
	/* All down by probes: no fallback, and the reason is said. */
	st[0] = st[2] = 1;
	ck_assert_int_eq(balance_pick(&b, 0, NULL, 0, 0, &why), -1);
	ck_assert_int_eq(why, BALANCE_ALL_DOWN);
	balance_free(&b);
}
END_TEST

START_TEST(test_slow_start_shared)
{
	uint32_t	 st[2] = { 0, 0 };
	uint64_t	 ch[2] = { 0, 10000 };	/* server 1 came back at t = 10 s */
	int		 i, count[2] = { 0, 0 };

	memset(srv, 0, sizeof(srv));
	srv[0].weight = srv[1].weight = 10;
	for (i = 0; i < 2; i++) {
		srv[i].state = &st[i];
		srv[i].changed = &ch[i];
	}
	ck_assert_int_eq(balance_init(&b, BALANCE_ROUND_ROBIN, srv, 2, 10000, 1), 0);
	/* 5 s into a 10 s slow start: weight 5 of 10. */
	for (i = 0; i < 1500; i++)
		count[pick(15000)]++;
	ck_assert_int_eq(count[1], 500);
	balance_free(&b);
}
END_TEST

START_TEST(test_least_conn)
{
	static const int	 w[] = { 1, 1, 2 };

	setup(BALANCE_LEAST_CONN, 3, w);
	act[0] = 5;
	act[1] = 2;
	act[2] = 6;		/* 6 / 2 = 3 per weight */
	ck_assert_int_eq(pick(0), 1);
	act[1] = 4;		/* now 4 > 3 */
	ck_assert_int_eq(pick(0), 2);
	/* Ties are shared out, not always the first server. */
	act[0] = act[1] = 0;
	act[2] = 0;
	{
		int	 seen[3] = { 0, 0, 0 }, i;

		for (i = 0; i < 30; i++)
			seen[pick(0)]++;
		ck_assert_int_gt(seen[0], 0);
		ck_assert_int_gt(seen[1], 0);
		ck_assert_int_gt(seen[2], 0);
	}
	balance_free(&b);
}
END_TEST

START_TEST(test_random_two_choices)
{
	static const int	 w[] = { 1, 1, 1, 1 };
	int			 i, count[4] = { 0, 0, 0, 0 };

	setup(BALANCE_RANDOM, 4, w);
	/* Server 3 is loaded: of two picks the other one almost always wins. */
	act[3] = 100;
	for (i = 0; i < 4000; i++)
		count[pick(0)]++;
	ck_assert_int_lt(count[3], 400);	/* ~ 1/16 when both picks hit it */
	for (i = 0; i < 3; i++)
		ck_assert_int_gt(count[i], 1000);
	balance_free(&b);
}
END_TEST

START_TEST(test_hash_consistent_on_removal)
{
	static const int	 w[] = { 1, 1, 1, 1, 1 };
	int			 before[2000], i, moved = 0, moved_other = 0, count[5] = { 0 };
	char			 key[32];

	setup(BALANCE_HASH, 5, w);
	for (i = 0; i < 2000; i++) {
		snprintf(key, sizeof(key), "/item/%d", i);
		before[i] = pick_key(key);
		count[before[i]]++;
	}
	/* Spread: every server gets a fair share (400 each ideally). */
	for (i = 0; i < 5; i++)
		ck_assert_msg(count[i] > 250 && count[i] < 550, "server %d: %d", i, count[i]);
	/* Server 2 fails: only its keys move. */
	balance_fail(&b, 2, 0, 10000);
	for (i = 0; i < 2000; i++) {
		snprintf(key, sizeof(key), "/item/%d", i);
		int now = pick_key(key);
		ck_assert_int_ne(now, 2);
		if (before[i] == 2)
			moved++;
		else if (now != before[i])
			moved_other++;
	}
	ck_assert_int_eq(moved, count[2]);
	ck_assert_int_eq(moved_other, 0);
	balance_free(&b);
}
END_TEST

START_TEST(test_hash_ring_by_name)
{
	static const char *const names3[] = { "10.0.0.1:80", "10.0.0.2:80", "10.0.0.3:80" };
	struct balance_server	 s3[3], s2[2];
	struct balance		 b3, b2;
	int			 i, full, moved_other = 0, a, c;
	char			 key[32];
	uint32_t		 h;

	/* Removing the middle server from the config (a reload): only its keys move. */
	memset(s3, 0, sizeof(s3));
	memset(s2, 0, sizeof(s2));
	for (i = 0; i < 3; i++) {
		s3[i].weight = 1;
		s3[i].name = names3[i];
	}
	s2[0] = s3[0];
	s2[1] = s3[2];
	ck_assert_int_eq(balance_init(&b3, BALANCE_HASH, s3, 3, 0, 1), 0);
	ck_assert_int_eq(balance_init(&b2, BALANCE_HASH, s2, 2, 0, 1), 0);
	for (i = 0; i < 3000; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		h = balance_hash(key, strlen(key));
		a = balance_pick(&b3, 0, NULL, 1, h, &full);
		c = balance_pick(&b2, 0, NULL, 1, h, &full);
		if (a == 0 && c != 0)
			moved_other++;
		if (a == 2 && c != 1)
			moved_other++;
	}
	ck_assert_int_eq(moved_other, 0);
	balance_free(&b3);
	balance_free(&b2);
}
END_TEST

START_TEST(test_hash_same_key_same_server)
{
	static const int	 w[] = { 1, 2, 1 };
	int			 first, i;

	setup(BALANCE_IP_HASH, 3, w);
	first = pick_key("192.0.2.7");
	for (i = 0; i < 50; i++)
		ck_assert_int_eq(pick_key("192.0.2.7"), first);
	balance_free(&b);
}
END_TEST

START_TEST(test_slow_start)
{
	static const int	 w[] = { 10, 10 };
	int			 i, count[2] = { 0, 0 };

	memset(srv, 0, sizeof(srv));
	srv[0].weight = srv[1].weight = 10;
	(void)w;
	ck_assert_int_eq(balance_init(&b, BALANCE_ROUND_ROBIN, srv, 2, 30000, 1), 0);
	balance_fail(&b, 1, 0, 1000);	/* back at t = 1000 */
	/* 3 s into a 30 s slow start: weight 1 of 10. */
	for (i = 0; i < 1100; i++)
		count[pick(4000)]++;
	ck_assert_int_eq(count[1], 100);
	/* After the slow start: even. */
	count[0] = count[1] = 0;
	for (i = 0; i < 1000; i++)
		count[pick(40000)]++;
	ck_assert_int_eq(count[1], 500);
	balance_free(&b);
}
END_TEST

/*
 * DNS slots: an empty one is never picked (all empty: "all down"), the
 * weight and backup flag come from the slot, as the resolver sets them.
 */
START_TEST(test_dns_slots)
{
	static const int	 w[] = { 1, 1, 1 };
	static struct shm_dns	 dns[3];
	uint32_t		 state[3] = { SHM_UP, SHM_EMPTY, SHM_UP };
	int			 count[3] = { 0, 0, 0 }, i, why;

	setup(BALANCE_ROUND_ROBIN, 3, w);
	memset(dns, 0, sizeof(dns));
	for (i = 0; i < 3; i++) {
		srv[i].dns = &dns[i];
		srv[i].state = &state[i];
	}
	dns[0].weight = 3;
	dns[2].weight = 1;
	for (i = 0; i < 400; i++)
		count[pick(0)]++;
	ck_assert_int_eq(count[0], 300);
	ck_assert_int_eq(count[1], 0);
	ck_assert_int_eq(count[2], 100);
	/* SRV priority: slot 0 a backup, used only when 2 is out. */
	dns[0].backup = 1;
	for (i = 0; i < 10; i++)
		ck_assert_int_eq(pick(0), 2);
	state[2] = SHM_EMPTY;
	ck_assert_int_eq(pick(0), 0);
	state[0] = SHM_EMPTY;
	ck_assert_int_eq(balance_pick(&b, 0, NULL, 0, 0, &why), -1);
	ck_assert_int_eq(why, BALANCE_ALL_DOWN);
	balance_free(&b);
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
	TCase	*tc = tcase_create("balance");

	tcase_add_test(tc, test_rr_smooth_sequence);
	tcase_add_test(tc, test_rr_weights);
	tcase_add_test(tc, test_failed_server_skipped);
	tcase_add_test(tc, test_tried_excluded);
	tcase_add_test(tc, test_all_down_fallback);
	tcase_add_test(tc, test_backup_only_when_primaries_out);
	tcase_add_test(tc, test_max_conns);
	tcase_add_test(tc, test_least_conn);
	tcase_add_test(tc, test_shared_health_down);
	tcase_add_test(tc, test_slow_start_shared);
	tcase_add_test(tc, test_random_two_choices);
	tcase_add_test(tc, test_hash_consistent_on_removal);
	tcase_add_test(tc, test_hash_same_key_same_server);
	tcase_add_test(tc, test_hash_ring_by_name);
	tcase_add_test(tc, test_slow_start);
	tcase_add_test(tc, test_tried_bitmap_high_index);
	tcase_add_test(tc, test_dns_slots);
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
