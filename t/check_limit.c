/*
 * check_limit.c: unit tests for the shared table of the limits
 * (common/limit.c): the rate arithmetic (GCRA, as nginx's limit_req),
 * least-recently-used eviction in a tiny table, concurrency counts and
 * what the master takes back from a dead worker's slot, and a set lock
 * left held by a process that died.
 */
#include "config.h"

#include <check.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/conf.h"
#include "common/limit.h"

static struct limit_table *
table_new(int size)
{
	struct limit_table	*t;
	struct conf		 conf;
	char			 err[128];

	t = mmap(NULL, sizeof(*t), PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ck_assert_ptr_ne(t, MAP_FAILED);
	ck_assert_int_eq(limit_table_init(t), 0);
	memset(&conf, 0, sizeof(conf));
	conf.g.limit_table_size = size;
	ck_assert_int_eq(limit_assign(t, &conf, err, sizeof(err)), 0);
	return t;
}

static uint64_t
key(struct limit_table *t, const char *k)
{
	return limit_hash(t, 'L', "l", k, strlen(k));
}

START_TEST(test_rate)
{
	struct limit_table	*t = table_new(64);
	uint64_t		 h = key(t, "a"), w, now = 1000000000;

	/* 1/s, burst 2: three at once pass (two of them late), the 4th not. */
	ck_assert_int_eq(limit_rate(t, h, now, 1000000, 2,
	    UINT64_MAX, 1, &w), LIMIT_PASS);
	ck_assert_int_eq(limit_rate(t, h, now, 1000000, 2,
	    UINT64_MAX, 1, &w), LIMIT_DELAY);
	ck_assert_uint_eq(w, 1000000);
	ck_assert_int_eq(limit_rate(t, h, now, 1000000, 2,
	    UINT64_MAX, 1, &w), LIMIT_DELAY);
	ck_assert_uint_eq(w, 2000000);
	ck_assert_int_eq(limit_rate(t, h, now, 1000000, 2,
	    UINT64_MAX, 1, &w), LIMIT_REJECT);
	ck_assert_uint_eq(w, 1000000);		/* a second until one passes */
	/* A rejection takes nothing: a second later one passes (delayed 2 s). */
	ck_assert_int_eq(limit_rate(t, h, now + 1000000, 1000000, 2,
	    UINT64_MAX, 1, &w),
	    LIMIT_DELAY);
	ck_assert_uint_eq(w, 2000000);
	/* Long after, the bucket is full again. */
	ck_assert_int_eq(limit_rate(t, h, now + 60000000, 1000000, 2,
	    UINT64_MAX, 1, &w),
	    LIMIT_PASS);
	/* Another key has its own bucket. */
	ck_assert_int_eq(limit_rate(t, key(t, "b"), now, 1000000, 0,
	    UINT64_MAX, 1, &w),
	    LIMIT_PASS);
	munmap(t, sizeof(*t));
}
END_TEST

START_TEST(test_max_delay)
{
	struct limit_table	*t = table_new(64);
	uint64_t		 h = key(t, "m"), w, now = 1000000000;

	/* 1/s, burst 10, delays capped at 2 s: 0, 1 and 2 s, then 429. */
	ck_assert_int_eq(limit_rate(t, h, now, 1000000, 10, 2000000, 1, &w),
	    LIMIT_PASS);
	ck_assert_int_eq(limit_rate(t, h, now, 1000000, 10, 2000000, 1, &w),
	    LIMIT_DELAY);
	ck_assert_int_eq(limit_rate(t, h, now, 1000000, 10, 2000000, 1, &w),
	    LIMIT_DELAY);
	ck_assert_uint_eq(w, 2000000);
	ck_assert_int_eq(limit_rate(t, h, now, 1000000, 10, 2000000, 1, &w),
	    LIMIT_REJECT);
	ck_assert_uint_eq(w, 1000000);	/* a second until a 2 s wait */
	/* The rejection took nothing: a second later the wait is 2 s. */
	ck_assert_int_eq(limit_rate(t, h, now + 1000000, 1000000, 10, 2000000,
	    1, &w), LIMIT_DELAY);
	ck_assert_uint_eq(w, 2000000);
	munmap(t, sizeof(*t));
}
END_TEST

START_TEST(test_size_kept)
{
	struct limit_table	*t = table_new(64);
	struct conf		 conf;
	char			 err[128];
	uint64_t		 h = key(t, "k"), w, now = 1000000000;

	/* A later assign with another size keeps the first one (and keys). */
	ck_assert_uint_eq(t->nsets, 64 / LIMIT_WAYS);
	ck_assert_int_eq(limit_rate(t, h, now, 60000000, 0, UINT64_MAX, 1,
	    &w), LIMIT_PASS);
	memset(&conf, 0, sizeof(conf));
	conf.g.limit_table_size = 16384;
	ck_assert_int_eq(limit_assign(t, &conf, err, sizeof(err)), 0);
	ck_assert_uint_eq(t->nsets, 64 / LIMIT_WAYS);
	ck_assert_int_eq(limit_rate(t, h, now, 60000000, 0, UINT64_MAX, 1,
	    &w), LIMIT_REJECT);
	munmap(t, sizeof(*t));
}
END_TEST

START_TEST(test_stat_rows)
{
	struct limit_table	*t = table_new(64);
	struct conf		 conf;
	struct conf_limit	 a, b;
	char			 err[128];
	int			 row_a;

	/* A row a reload lets go is not the next new name's. */
	memset(&conf, 0, sizeof(conf));
	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	a.name = "a";
	b.name = "b";
	conf.g.limit_table_size = 64;
	conf.limits = &a;
	conf.nlimits = 1;
	ck_assert_int_eq(limit_assign(t, &conf, err, sizeof(err)), 0);
	row_a = a.stat_idx;
	ck_assert_int_ge(row_a, 0);
	conf.limits = &b;
	ck_assert_int_eq(limit_assign(t, &conf, err, sizeof(err)), 0);
	ck_assert_int_ge(b.stat_idx, 0);
	ck_assert_int_ne(b.stat_idx, row_a);
	munmap(t, sizeof(*t));
}
END_TEST

START_TEST(test_evict)
{
	struct limit_table	*t = table_new(8);	/* one set */
	uint64_t		 w, now = 5000000000ULL;
	char			 k[16];
	int			 i, idx;

	ck_assert_int_eq(limit_rate(t, key(t, "old"), now, 60000000, 0,
	    UINT64_MAX, 1, &w),
	    LIMIT_PASS);
	ck_assert_int_eq(limit_rate(t, key(t, "old"), now, 60000000, 0,
	    UINT64_MAX, 1, &w),
	    LIMIT_REJECT);
	usleep(2000);		/* "old" is the least recently used */
	for (i = 0; i < 8; i++) {
		snprintf(k, sizeof(k), "k%d", i);
		ck_assert_int_eq(limit_rate(t, key(t, k), now, 60000000, 0,
		    UINT64_MAX, 1,
		    &w), LIMIT_PASS);
	}
	ck_assert_uint_eq(t->evictions, 1);
	ck_assert_int_eq(limit_rate(t, key(t, "old"), now, 60000000, 0,
	    UINT64_MAX, 1, &w),
	    LIMIT_PASS);
	/* Entries that hold something are never taken: a full set lets through. */
	for (i = 0; i < 8; i++) {
		snprintf(k, sizeof(k), "c%d", i);
		ck_assert_int_eq(limit_acquire(t, 0, key(t, k), 1, &idx), 1);
	}
	ck_assert_int_eq(limit_acquire(t, 0, key(t, "c8"), 1, &idx), -1);
	ck_assert_int_eq(limit_rate(t, key(t, "new"), now, 60000000, 0,
	    UINT64_MAX, 1, &w),
	    LIMIT_FULL);
	ck_assert_uint_eq(t->full, 2);
	munmap(t, sizeof(*t));
}
END_TEST

START_TEST(test_concurrency)
{
	struct limit_table	*t = table_new(64);
	uint64_t		 h = key(t, "c");
	int			 a, b, c;

	ck_assert_int_eq(limit_acquire(t, 3, h, 2, &a), 1);
	ck_assert_int_eq(limit_acquire(t, 4, h, 2, &b), 1);
	ck_assert_int_eq(a, b);
	ck_assert_int_eq(limit_acquire(t, 4, h, 2, &c), 0);	/* over 2 */
	limit_release(t, 4, b);
	ck_assert_int_eq(limit_acquire(t, 4, h, 2, &c), 1);
	ck_assert_int_eq(limit_acquire(t, 4, h, 3, &c), 1);
	/* Slot 4 dies holding two: the master takes them back, not slot 3's. */
	limit_slot_release(t, 4);
	ck_assert_uint_eq(t->set[a / LIMIT_WAYS].e[a % LIMIT_WAYS].conc, 1);
	ck_assert_int_eq(limit_acquire(t, 5, h, 2, &c), 1);
	ck_assert_int_eq(limit_acquire(t, 5, h, 2, &c), 0);
	munmap(t, sizeof(*t));
}
END_TEST

START_TEST(test_dead_holder)
{
	struct limit_table	*t = table_new(8);
	uint64_t		 w;
	pid_t			 pid;
	int			 st;

	/* A child takes the set's lock and dies with it. */
	if ((pid = fork()) == 0) {
		pthread_mutex_lock(&t->set[0].mu);
		_exit(0);
	}
	ck_assert_int_gt(pid, 0);
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert_int_eq(limit_rate(t, key(t, "x"), 1000000, 1000, 0,
	    UINT64_MAX, 1, &w),
	    LIMIT_PASS);
	ck_assert_int_eq(limit_rate(t, key(t, "x"), 1000000, 1000, 0,
	    UINT64_MAX, 1, &w),
	    LIMIT_REJECT);
	munmap(t, sizeof(*t));
}
END_TEST

static Suite *
limit_suite(void)
{
	Suite	*s = suite_create("limit");
	TCase	*tc = tcase_create("table");

	tcase_add_test(tc, test_rate);
	tcase_add_test(tc, test_max_delay);
	tcase_add_test(tc, test_size_kept);
	tcase_add_test(tc, test_stat_rows);
	tcase_add_test(tc, test_evict);
	tcase_add_test(tc, test_concurrency);
	tcase_add_test(tc, test_dead_holder);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner	*sr = srunner_create(limit_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
