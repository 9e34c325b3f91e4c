/*
 * check_metrics.c: unit tests for the metrics region (common/metrics.c):
 * histogram buckets at their bounds, rows keyed by name across
 * configurations, a full table, and the fold of a dead worker's slot.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "common/metrics.h"

static struct metrics	*m;

static void
setup(void)
{
	/* As the daemon maps it: zero-filled, pages only where written. */
	m = mmap(NULL, metrics_size(), PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	ck_assert_ptr_ne(m, MAP_FAILED);
	metrics_init(m);
}

static void
teardown(void)
{
	munmap(m, metrics_size());
}

/* A configuration with the routes (and upstreams of the same names). */
static struct conf *
conf_with(const char *const *names, size_t n)
{
	struct conf	*c = calloc(1, sizeof(*c));
	size_t		 i;

	ck_assert_ptr_nonnull(c);
	c->routes = calloc(n, sizeof(*c->routes));
	c->upstreams = calloc(n, sizeof(*c->upstreams));
	ck_assert(n == 0 || (c->routes != NULL && c->upstreams != NULL));
	for (i = 0; i < n; i++) {
		c->routes[i].name = (char *)names[i];
		c->upstreams[i].name = (char *)names[i];
	}
	c->nroutes = c->nupstreams = n;
	return c;
}

static void
conf_done(struct conf *c)
{
	free(c->routes);
	free(c->upstreams);
	free(c);
}

START_TEST(buckets)
{
	ck_assert_int_eq(metrics_bucket(0), 0);
	ck_assert_int_eq(metrics_bucket(5000), 0);		/* le is inclusive */
	ck_assert_int_eq(metrics_bucket(5001), 1);
	ck_assert_int_eq(metrics_bucket(250000), 5);
	ck_assert_int_eq(metrics_bucket(300000), 6);
	ck_assert_int_eq(metrics_bucket(10000000), 10);
	ck_assert_int_eq(metrics_bucket(10000001), METRICS_BUCKETS - 1);	/* +Inf */
	ck_assert_int_eq(metrics_bucket(UINT64_MAX), METRICS_BUCKETS - 1);
}
END_TEST

START_TEST(keyed_by_name)
{
	static const char *const one[] = { "api", "main" };
	static const char *const two[] = { "new", "main" };
	struct conf	*a = conf_with(one, 2), *b, *c;

	metrics_assign(m, a);
	ck_assert_int_eq(a->routes[0].metrics_idx, 1);	/* row 0: no route */
	ck_assert_int_eq(a->routes[1].metrics_idx, 2);
	ck_assert_int_eq(a->upstreams[0].metrics_idx, 0);
	ck_assert_int_eq(a->upstreams[1].metrics_idx, 1);
	m->retired.route[1].status[2] = 7;
	/* A reload drops api and adds new: main keeps its row, new gets a
	 * free one (not api's), api's counts stay hidden. */
	b = conf_with(two, 2);
	metrics_assign(m, b);
	ck_assert_int_eq(b->routes[1].metrics_idx, 2);
	ck_assert_int_eq(b->routes[0].metrics_idx, 3);
	ck_assert_int_eq(m->route_name[1].used, 0);
	ck_assert_str_eq(m->route_name[1].name, "api");
	/* Back again: api resumes its counts. */
	c = conf_with(one, 2);
	metrics_assign(m, c);
	ck_assert_int_eq(c->routes[0].metrics_idx, 1);
	ck_assert_uint_eq(m->retired.route[1].status[2], 7);
	ck_assert_int_eq(m->route_name[0].used, 1);
	conf_done(a);
	conf_done(b);
	conf_done(c);
}
END_TEST

START_TEST(full_table)
{
	static char	 names[METRICS_ROUTES + 1][16];
	const char	*np[METRICS_ROUTES + 1];
	const char	*late[] = { "late" };
	struct conf	*a, *b;
	int		 i;

	for (i = 0; i <= METRICS_ROUTES; i++) {
		snprintf(names[i], sizeof(names[i]), "r%d", i);
		np[i] = names[i];
	}
	/* 256 routes: 255 rows (row 0 is kept for no route), one left out. */
	a = conf_with(np, METRICS_ROUTES);
	metrics_assign(m, a);
	ck_assert_int_eq(a->routes[METRICS_ROUTES - 2].metrics_idx,
	    METRICS_ROUTES - 1);
	ck_assert_int_eq(a->routes[METRICS_ROUTES - 1].metrics_idx, -1);
	m->retired.route[5].status[4] = 3;
	/* A new configuration with one route: a row nobody names is reused,
	 * from zero. */
	b = conf_with(late, 1);
	m->retired.route[1].status[4] = 9;
	metrics_assign(m, b);
	ck_assert_int_eq(b->routes[0].metrics_idx, 1);
	ck_assert_uint_eq(m->retired.route[1].status[4], 0);
	ck_assert_uint_eq(m->retired.route[5].status[4], 3);
	conf_done(a);
	conf_done(b);
}
END_TEST

START_TEST(slot_fold)
{
	struct metrics_route_row	 rr;
	struct metrics_upstream_row	 ur;

	m->live[3] = 1;
	m->live[7] = 1;
	m->slot[3].connections = 5;
	m->slot[3].route[2].status[2] = 4;
	m->slot[3].route[2].duration.bucket[1] = 4;
	m->slot[3].route[2].duration.sum_us = 30000;
	m->slot[7].route[2].status[5] = 1;
	m->slot[7].route[2].duration.bucket[METRICS_BUCKETS - 1] = 1;
	m->slot[3].upstream[1].time.bucket[0] = 2;
	metrics_route_total(m, 2, &rr);
	ck_assert_uint_eq(rr.status[2], 4);
	ck_assert_uint_eq(rr.status[5], 1);
	ck_assert_uint_eq(rr.duration.bucket[METRICS_BUCKETS - 1], 1);
	/* Slot 3's worker exits: its counts stay, its connections go. */
	metrics_slot_release(m, 3);
	ck_assert_int_eq(m->live[3], 0);
	ck_assert_uint_eq(m->slot[3].connections, 0);
	ck_assert_uint_eq(m->slot[3].route[2].status[2], 0);
	ck_assert_uint_eq(m->retired.connections, 0);
	metrics_route_total(m, 2, &rr);
	ck_assert_uint_eq(rr.status[2], 4);
	ck_assert_uint_eq(rr.status[5], 1);
	ck_assert_uint_eq(rr.duration.bucket[1], 4);
	ck_assert_uint_eq(rr.duration.sum_us, 30000);
	metrics_upstream_total(m, 1, &ur);
	ck_assert_uint_eq(ur.time.bucket[0], 2);
	/* Released twice (the slot is not live any more): nothing doubles. */
	metrics_slot_release(m, 3);
	metrics_route_total(m, 2, &rr);
	ck_assert_uint_eq(rr.status[2], 4);
	/* A slot that is not live is not read. */
	m->slot[9].route[2].status[2] = 100;
	metrics_route_total(m, 2, &rr);
	ck_assert_uint_eq(rr.status[2], 4);
}
END_TEST

static Suite *
metrics_suite(void)
{
	Suite	*s = suite_create("metrics");
	TCase	*tc;

	tc = tcase_create("region");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, buckets);
	tcase_add_test(tc, keyed_by_name);
	tcase_add_test(tc, full_table);
	tcase_add_test(tc, slot_fold);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner	*sr;
	int	 failed;

	sr = srunner_create(metrics_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
