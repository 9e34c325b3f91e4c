/*
 * check_shm.c: unit tests for what a binary upgrade hands over: the
 * shared regions (common/shm.c, the cache of common/cache.c, the TLS
 * ticket keys of common/tls.c) are memfds that a second mapping sees
 * whole, and a region whose layout is not this binary's (another magic,
 * version, size or geometry) is refused with the reason, so that the new
 * master starts with empty state instead of misreading it.
 */
#include "config.h"

#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/cache.h"
#include "common/shm.h"
#include "common/tls.h"

#define MiB	((size_t)1 << 20)
#define HEAD	"HTTP/1.1 200 OK\r\n\r\n"

START_TEST(test_shm_header)
{
	struct shm_header	*shm;
	char			 why[256];

	shm = shm_create();
	ck_assert_ptr_nonnull(shm);
	ck_assert_int_ge(shm_memfd(), 0);
	ck_assert_int_eq(shm_header_check(shm, shm_map_size(), why, sizeof(why)), 0);

	shm->version = SHM_VERSION + 1;
	ck_assert_int_eq(shm_header_check(shm, shm_map_size(), why, sizeof(why)), -1);
	ck_assert_msg(strstr(why, "layout version") != NULL, "%s", why);
	shm->version = SHM_VERSION;

	shm->magic ^= 1;
	ck_assert_int_eq(shm_header_check(shm, shm_map_size(), why, sizeof(why)), -1);
	ck_assert_str_eq(why, "not a portico region");
	shm->magic ^= 1;

	/* The same version number with another size: a layout change. */
	shm->size += 64;
	ck_assert_int_eq(shm_header_check(shm, shm_map_size(), why, sizeof(why)), -1);
	shm->size -= 64;
	ck_assert_int_eq(shm_header_check(shm, shm_map_size() - 64, why,
	    sizeof(why)), -1);
	ck_assert_int_eq(shm_header_check(shm, 4, why, sizeof(why)), -1);
	ck_assert_int_eq(shm_header_check(shm, shm_map_size(), why, sizeof(why)), 0);
	shm_destroy(shm);
}
END_TEST

START_TEST(test_shm_attach)
{
	struct shm_header	*a, *b;
	char			 why[256];
	int			 fd;

	a = shm_create();
	ck_assert_ptr_nonnull(a);
	fd = dup(shm_memfd());
	a->srv[3].state = SHM_DOWN;
	snprintf(a->srv[3].key, sizeof(a->srv[3].key), "app 10.0.0.1:80");

	/* Another mapping of the handed-over fd sees the same state. */
	b = shm_attach(fd, why, sizeof(why));
	ck_assert_msg(b != NULL, "%s", why);
	ck_assert_ptr_ne(a, b);
	ck_assert_uint_eq(b->srv[3].state, SHM_DOWN);
	ck_assert_str_eq(b->srv[3].key, "app 10.0.0.1:80");
	b->srv[4].requests = 42;
	ck_assert_uint_eq(a->srv[4].requests, 42);

	/* Another version: refused, the caller keeps the fd. */
	fd = dup(shm_memfd());
	a->version = SHM_VERSION + 1;
	ck_assert_ptr_null(shm_attach(fd, why, sizeof(why)));
	ck_assert_msg(strstr(why, "layout version") != NULL, "%s", why);
	close(fd);
	a->version = SHM_VERSION;
	munmap(a, sizeof(*a));
	shm_destroy(b);
}
END_TEST

START_TEST(test_shm_slots)
{
	struct shm_header	*shm;
	int			 s1, s2, stale;

	shm = shm_create();
	ck_assert_ptr_nonnull(shm);
	/* A slot of a master that is gone is taken back only when full. */
	shm->slot_owner[0] = 999999999;
	s1 = shm_slot_claim(shm, &stale);
	ck_assert_int_eq(s1, 1);
	ck_assert_int_eq(stale, 0);
	ck_assert_int_eq(shm->slot_owner[1], (int32_t)getpid());
	shm_slot_unclaim(shm, s1);
	ck_assert_int_eq(shm->slot_owner[1], 0);
	for (s2 = 1; s2 < SHM_SLOTS; s2++)
		shm->slot_owner[s2] = (int32_t)getppid();
	shm->held[0][5] = 3;
	shm->srv[5].active = 3;
	s2 = shm_slot_claim(shm, &stale);
	ck_assert_int_eq(s2, 0);
	ck_assert_int_eq(stale, 1);
	ck_assert_uint_eq(shm->srv[5].active, 0);
	ck_assert_int_eq(shm_slot_claim(shm, &stale), -1);
	shm_destroy(shm);
}
END_TEST

START_TEST(test_cache_attach)
{
	struct cache		*a, *b;
	struct cache_writer	 w;
	struct cache_meta	 m;
	struct cache_ref	 ref;
	char			 why[256], body[6];
	int			 fd;

	a = cache_create(2 * MiB);
	ck_assert_ptr_nonnull(a);
	ck_assert_int_ge(cache_memfd(a), 0);
	ck_assert_int_eq(cache_check(a, 2 * MiB, why, sizeof(why)), 0);
	memset(&m, 0, sizeof(m));
	m.lifetime = 60;
	m.status = 200;
	m.last_modified = m.swr = m.sie = -1;
	ck_assert_int_eq(cache_begin(a, "k", 1, 0, 1000, MiB, &w), 0);
	ck_assert_int_eq(cache_append_head(a, &w, "", 0, HEAD, strlen(HEAD), &m), 0);
	ck_assert_int_eq(cache_append(a, &w, "hello", 5), 0);
	ck_assert_int_eq(cache_commit(a, &w), 0);

	/* The new master's mapping finds the object the old one stored. */
	fd = dup(cache_memfd(a));
	b = cache_attach(fd, why, sizeof(why));
	ck_assert_msg(b != NULL, "%s", why);
	ck_assert_uint_eq(cache_size(b), 2 * MiB);
	ck_assert_int_eq(cache_memfd(b), fd);
	ck_assert_int_eq(cache_lookup(b, "k", 1, NULL, NULL, 1000, 30, &ref, &m),
	    CACHE_FOUND);
	ck_assert_int_eq(cache_copy(b, &ref, ref.head_len, body, 5), 0);
	ck_assert_int_eq(memcmp(body, "hello", 5), 0);
	cache_destroy(b);

	/* Another version, another size: refused with the reason. */
	((uint32_t *)(void *)a)[1] += 1;
	ck_assert_int_eq(cache_check(a, 2 * MiB, why, sizeof(why)), -1);
	ck_assert_msg(strstr(why, "cache layout version") != NULL, "%s", why);
	fd = dup(cache_memfd(a));
	ck_assert_ptr_null(cache_attach(fd, why, sizeof(why)));
	close(fd);
	((uint32_t *)(void *)a)[1] -= 1;
	ck_assert_int_eq(cache_check(a, 4 * MiB, why, sizeof(why)), -1);
	ck_assert_msg(strstr(why, "geometry") != NULL, "%s", why);
	((uint32_t *)(void *)a)[0] ^= 1;
	ck_assert_int_eq(cache_check(a, 2 * MiB, why, sizeof(why)), -1);
	ck_assert_str_eq(why, "not a portico cache region");
	((uint32_t *)(void *)a)[0] ^= 1;
	ck_assert_int_eq(cache_check(a, 2 * MiB, why, sizeof(why)), 0);
	cache_destroy(a);
}
END_TEST

START_TEST(test_tls_keys)
{
	struct tls_ticket_key	 k;
	char			 why[256];
	int			 fd;

	ck_assert_int_eq(tls_shm_create(), 0);
	ck_assert_int_ge(tls_shm_memfd(), 0);
	ck_assert_int_eq(tls_shm_check(tls_shm, sizeof(*tls_shm), why,
	    sizeof(why)), 0);
	k = tls_shm->key[0];
	fd = dup(tls_shm_memfd());
	tls_shm->version++;
	ck_assert_int_eq(tls_shm_check(tls_shm, sizeof(*tls_shm), why,
	    sizeof(why)), -1);
	ck_assert_msg(strstr(why, "ticket key layout version") != NULL, "%s", why);
	tls_shm->version--;
	ck_assert_int_eq(tls_shm_check(tls_shm, 16, why, sizeof(why)), -1);
	tls_shm_destroy();

	/* The keys survive their first mapping: a new master keeps them. */
	ck_assert_int_eq(tls_shm_attach(fd, why, sizeof(why)), 0);
	ck_assert_int_eq(memcmp(&tls_shm->key[0], &k, sizeof(k)), 0);
	tls_shm_destroy();
}
END_TEST

static Suite *
shm_suite(void)
{
	Suite	*s = suite_create("shm");
	TCase	*tc = tcase_create("handover");

	tcase_add_test(tc, test_shm_header);
	tcase_add_test(tc, test_shm_attach);
	tcase_add_test(tc, test_shm_slots);
	tcase_add_test(tc, test_cache_attach);
	tcase_add_test(tc, test_tls_keys);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner	*sr = srunner_create(shm_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
