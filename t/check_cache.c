/*
 * check_cache.c: unit tests for the shared-memory response store
 * (common/cache.c), single-process behaviour first, then several
 * processes at once, then processes killed at awkward moments.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/cache.h"

#define MiB		((size_t)1 << 20)
#define NOW		1000000
#define HEAD		"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n"

/* Body byte i of an object seeded with seed: every byte depends on both. */
static unsigned char
pat(uint64_t seed, uint64_t i)
{
	return (unsigned char)((seed >> ((i & 7) * 8)) + i * 131 + (i >> 12));
}

static void
fill(unsigned char *p, size_t len, uint64_t seed)
{
	size_t	 i;

	for (i = 0; i < len; i++)
		p[i] = pat(seed, i);
}

static void
mkmeta(struct cache_meta *m, int64_t v)
{
	memset(m, 0, sizeof(*m));
	m->request_time = m->response_time = m->date = v;
	m->age = 0;
	m->lifetime = 60;
	m->last_modified = m->swr = m->sie = -1;
	m->status = 200;
	m->etag_len = (uint16_t)snprintf(m->etag, sizeof(m->etag), "\"%lld\"",
	    (long long)v);
}

/* Match the blob against the string arg. */
static int
match_str(const char *blob, size_t len, void *arg)
{
	const char	*want = arg;

	return strlen(want) == len && memcmp(blob, want, len) == 0;
}

static int
match_any(const char *blob, size_t len, void *arg)
{
	return 1;
}

static int	 match_calls;

static int
match_count(const char *blob, size_t len, void *arg)
{
	match_calls++;
	return 0;
}

/*
 * Store key (vary blob, HEAD, body of len pattern bytes from seed) in
 * pieces of piece bytes; 0 or -1.
 */
static int
store(struct cache *c, const char *key, const char *vary, size_t len,
    uint64_t seed, size_t piece, int64_t mv)
{
	struct cache_writer	 w;
	struct cache_meta	 m;
	unsigned char		*body;
	size_t			 off, n;
	int			 rc = -1;

	if ((body = malloc(len + 1)) == NULL)
		return -1;
	fill(body, len, seed);
	mkmeta(&m, mv);
	if (cache_begin(c, key, strlen(key), 0, NOW, 64 * MiB, &w) == -1)
		goto out;
	if (cache_append_head(c, &w, vary, strlen(vary), HEAD, strlen(HEAD),
	    &m) == -1)
		goto out;
	for (off = 0; off < len; off += n) {
		n = len - off < piece ? len - off : piece;
		if (cache_append(c, &w, body + off, n) == -1)
			goto out;
	}
	rc = cache_commit(c, &w);
out:
	cache_abort(c, &w);
	free(body);
	return rc;
}

static enum cache_lookup_rc
find(struct cache *c, const char *key, const char *vary, struct cache_ref *ref,
    struct cache_meta *m)
{
	return cache_lookup(c, key, strlen(key), match_str, (void *)vary, NOW,
	    5, ref, m);
}

/*
 * Read the object behind ref back through cache_iov (at most niov
 * iovecs and max bytes a call) and check head and body against seed.
 */
static void
check_object(struct cache *c, const struct cache_ref *cref, size_t len,
    uint64_t seed, int niov, size_t max)
{
	struct cache_ref rr = *cref, *ref = &rr;
	struct iovec	 iov[64];
	unsigned char	*buf, *p;
	uint64_t	 off = 0, total = ref->head_len + ref->body_len;
	int		 n, i;

	ck_assert_uint_eq(ref->head_len, strlen(HEAD));
	ck_assert_uint_eq(ref->body_len, len);
	buf = malloc(total + 1);
	ck_assert_ptr_nonnull(buf);
	while ((n = cache_iov(c, ref, off, max, iov, niov)) > 0) {
		ck_assert_int_le(n, niov);
		for (i = 0; i < n; i++) {
			ck_assert_uint_le(off + iov[i].iov_len, total);
			memcpy(buf + off, iov[i].iov_base, iov[i].iov_len);
			off += iov[i].iov_len;
		}
	}
	ck_assert_int_eq(n, 0);
	ck_assert_uint_eq(off, total);
	ck_assert(cache_ref_valid(c, ref));
	ck_assert(memcmp(buf, HEAD, strlen(HEAD)) == 0);
	/* (Check asserts write to a pipe: none in byte loops.) */
	for (p = buf + ref->head_len, off = 0; off < len; off++)
		if (p[off] != pat(seed, off))
			ck_abort_msg("body byte %llu differs",
			    (unsigned long long)off);
	/* cache_copy agrees, from the start and from odd places. */
	memset(buf, 0, total);
	ck_assert_int_eq(cache_copy(c, ref, 0, buf, total), 0);
	ck_assert(memcmp(buf, HEAD, strlen(HEAD)) == 0);
	if (len > 0) {
		ck_assert_int_eq(cache_copy(c, ref, ref->head_len + len / 3,
		    buf, len - len / 3), 0);
		for (off = 0; off < len - len / 3; off++)
			if (buf[off] != pat(seed, len / 3 + off))
				ck_abort_msg("copied byte %llu differs",
				    (unsigned long long)off);
	}
	ck_assert_int_eq(cache_copy(c, ref, total, buf, 0), 0);
	ck_assert_int_eq(cache_copy(c, ref, 1, buf, total), -1);
	free(buf);
}

/* How many times the eventfd of slot was written since the last call. */
static uint64_t
wakes(struct cache *c, int slot)
{
	uint64_t	 n = 0;

	if (read(cache_wake_fd(c, slot), &n, sizeof(n)) != sizeof(n))
		return 0;
	return n;
}

START_TEST(test_wake)
{
	struct cache		*c = cache_create(2 * MiB);
	struct cache_writer	 w, w2;
	struct cache_ref	 r;
	struct cache_meta	 m, got;
	static unsigned char	 body[20000];
	uint64_t		 expect;
	int			 s;

	ck_assert_ptr_nonnull(c);
	fill(body, sizeof(body), 5);
	mkmeta(&m, 9);
	for (s = 0; s < CACHE_WAKE_FDS; s++)
		(void)wakes(c, s);
	/* Nothing being written: nothing to wait for. */
	ck_assert_int_eq(cache_wait(c, "/k", 2, 3), 0);
	ck_assert_int_eq(cache_begin(c, "/k", 2, 0, NOW, 1 << 20, &w), 0);
	/* Two slots wait; a third slot of the same group is the same fd. */
	ck_assert_int_eq(cache_wait(c, "/k", 2, 3), 1);
	ck_assert_int_eq(cache_wait(c, "/k", 2, 5), 1);
	ck_assert_int_eq(cache_append_head(c, &w, "", 0, HEAD, strlen(HEAD),
	    &m), 0);
	ck_assert_uint_eq(wakes(c, 3), 0);
	/* The length announced: followers may come, the waiters are told. */
	ck_assert_int_eq(cache_writer_expect(c, &w, sizeof(body)), 0);
	ck_assert_uint_eq(wakes(c, 3), 1);
	ck_assert_uint_eq(wakes(c, 5), 1);
	ck_assert_uint_eq(wakes(c, 4), 0);
	/* Told once: the bits went with the wake. */
	ck_assert_int_eq(cache_append(c, &w, body, 50), 0);
	ck_assert_uint_eq(wakes(c, 3), 0);
	/* Appends wake followers only, not who waits for the whole object. */
	ck_assert_int_eq(cache_wait(c, "/k", 2, 3), 1);
	ck_assert_int_eq(cache_append(c, &w, body + 50, 50), 0);
	ck_assert_uint_eq(wakes(c, 3), 0);
	/* A follower that has it all waits for more: an append wakes it. */
	ck_assert_int_eq(cache_lookup_growing(c, "/k", 2, match_any, NULL, &r,
	    &got, &expect), 0);
	ck_assert_int_eq(cache_ref_wait(c, &r, 7), 1);
	ck_assert_int_eq(cache_append(c, &w, body + 100, 100), 0);
	ck_assert_uint_eq(wakes(c, 7), 1);
	/* Not up to date any more: look again at once, no wait. */
	ck_assert_int_eq(cache_ref_wait(c, &r, 7), 0);
	ck_assert_int_eq(cache_ref_grow(c, &r), 0);
	ck_assert_int_eq(cache_ref_wait(c, &r, 7), 1);
	(void)wakes(c, 7);
	/* The commit wakes both kinds of waiter, the slot group of 3 + 32 too. */
	ck_assert_int_eq(cache_wait(c, "/k", 2, 3 + CACHE_WAKE_FDS), 1);
	ck_assert_int_eq(cache_append(c, &w, body + 200, sizeof(body) - 200), 0);
	(void)wakes(c, 7);
	ck_assert_int_eq(cache_ref_wait(c, &r, 7), 0);
	ck_assert_int_eq(cache_ref_grow(c, &r), 0);
	ck_assert_int_eq(cache_ref_wait(c, &r, 7), 1);
	ck_assert_int_eq(cache_commit(c, &w), 0);
	ck_assert_uint_eq(wakes(c, 3), 1);
	ck_assert_uint_eq(wakes(c, 7), 1);
	cache_unfollow(c, &r);
	ck_assert_int_eq(cache_wait(c, "/k", 2, 3), 0);
	/* An abort and a purge wake the waiters too. */
	ck_assert_int_eq(cache_begin(c, "/a", 2, 0, NOW, 1 << 20, &w), 0);
	ck_assert_int_eq(cache_wait(c, "/a", 2, 9), 1);
	cache_abort(c, &w);
	ck_assert_uint_eq(wakes(c, 9), 1);
	ck_assert_int_eq(cache_begin(c, "/p", 2, 0, NOW, 1 << 20, &w2), 0);
	ck_assert_int_eq(cache_wait(c, "/p", 2, 10), 1);
	ck_assert_int_eq(cache_purge(c, "/p", 2), 0);
	ck_assert_uint_eq(wakes(c, 10), 1);
	ck_assert_int_eq(cache_wait(c, "/p", 2, 10), 0);
	cache_abort(c, &w2);
	/* The master releasing a dead writer's slot wakes its waiters. */
	ck_assert_int_eq(cache_begin(c, "/d", 2, 1, NOW, 1 << 20, &w), 0);
	ck_assert_int_eq(cache_wait(c, "/d", 2, 11), 1);
	cache_slot_release(c, 1);
	ck_assert_uint_eq(wakes(c, 11), 1);
	ck_assert_uint_eq(wakes(c, 3), 0);
	cache_destroy(c);
}
END_TEST

START_TEST(test_create_sizes)
{
	struct cache		*c;
	struct cache_stats	 st;

	errno = 0;
	ck_assert_ptr_null(cache_create(MiB - 1));
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_ptr_null(cache_create(0));
	ck_assert_ptr_null(cache_create(SIZE_MAX));
	ck_assert_ptr_null(cache_create((size_t)1 << 46));
	ck_assert_ptr_null(cache_create(SIZE_MAX / 2));

	c = cache_create(MiB);
	ck_assert_ptr_nonnull(c);
	ck_assert_uint_eq(cache_size(c), MiB);
	cache_get_stats(c, &st);
	ck_assert_uint_eq(st.size, MiB);
	ck_assert_uint_eq(st.used, 0);
	ck_assert_uint_eq(st.objects, 0);
	ck_assert_uint_eq(st.writing, 0);
	ck_assert_uint_eq(st.evictions, 0);
	ck_assert_uint_eq(st.wipes, 0);
	ck_assert_int_eq(store(c, "/x", "", 100, 1, 100, 1), 0);
	cache_destroy(c);

	/* Not a multiple of anything. */
	c = cache_create(3 * MiB + 12345);
	ck_assert_ptr_nonnull(c);
	ck_assert_int_eq(store(c, "/x", "", 100000, 1, 7777, 1), 0);
	cache_destroy(c);
	cache_destroy(NULL);
}
END_TEST

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t	 x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

START_TEST(test_hash)
{
	char		 buf[64 + 8];
	static uint64_t	 hs[20000];
	char		 key[32];
	uint64_t	 a, d, flips = 0;
	size_t		 i, j, n, off;

	/*
	 * The same bytes give the same hash wherever they are (the reads are
	 * unaligned and overlap), for every length across the 8 and 16 byte
	 * steps.
	 */
	for (n = 0; n <= 40; n++) {
		for (i = 0; i < n; i++)
			buf[i] = (char)('a' + (i * 7) % 26);
		a = cache_hash(buf, n);
		for (off = 1; off < 8; off++) {
			memmove(buf + off, buf + off - 1, n);
			ck_assert_uint_eq(cache_hash(buf + off, n), a);
		}
	}
	/* Distinct keys, distinct hashes (20000 of them, 64 bits). */
	for (i = 0; i < sizeof(hs) / sizeof(hs[0]); i++) {
		n = (size_t)snprintf(key, sizeof(key), "/k/%zu", i);
		hs[i] = cache_hash(key, n);
	}
	qsort(hs, sizeof(hs) / sizeof(hs[0]), sizeof(hs[0]), cmp_u64);
	for (j = 1; j < sizeof(hs) / sizeof(hs[0]); j++)
		ck_assert_uint_ne(hs[j], hs[j - 1]);
	/* One bit changed: about half the hash bits change, on average. */
	memset(buf, 'x', 24);
	for (i = 0; i < 24 * 8; i++) {
		a = cache_hash(buf, 24);
		buf[i / 8] ^= (char)(1 << (i % 8));
		d = a ^ cache_hash(buf, 24);
		buf[i / 8] ^= (char)(1 << (i % 8));
		ck_assert_uint_ne(d, 0);
		flips += (uint64_t)__builtin_popcountll(d);
	}
	ck_assert_uint_gt(flips / (24 * 8), 24);
	ck_assert_uint_lt(flips / (24 * 8), 40);
	ck_assert_uint_ne(cache_hash("abc", 3), cache_hash("abd", 3));
	ck_assert_uint_ne(cache_hash("abc", 3), cache_hash("abc", 2));
	ck_assert_uint_ne(cache_hash("", 0), cache_hash("a", 1));
	ck_assert_uint_ne(cache_hash("/0123456789abcdef/x", 19),
	    cache_hash("/0123456789abcdef/y", 19));
	ck_assert_uint_ne(cache_hash("/0123456789abcdef", 17),
	    cache_hash("/0123456789abcdeF", 17));
}
END_TEST

START_TEST(test_store_find)
{
	struct cache		*c = cache_create(4 * MiB);
	struct cache_ref	 ref;
	struct cache_meta	 m, want;
	struct cache_stats	 st;
	struct iovec		 iov[4];

	ck_assert_int_eq(store(c, "/a", "", 5000, 42, 999, 7), 0);
	memset(&m, 0xa5, sizeof(m));
	ck_assert_int_eq(find(c, "/a", "", &ref, &m), CACHE_FOUND);
	mkmeta(&want, 7);
	ck_assert(memcmp(&m, &want, sizeof(m)) == 0);
	check_object(c, &ref, 5000, 42, 4, SIZE_MAX);
	check_object(c, &ref, 5000, 42, 1, 100);
	/* max and niov bound what one call gives. */
	ck_assert_int_eq(cache_iov(c, &ref, 0, 10, iov, 4), 1);
	ck_assert_uint_eq(iov[0].iov_len, 10);
	ck_assert_int_eq(cache_iov(c, &ref, 3, 0, iov, 4), 0);
	ck_assert_int_eq(cache_iov(c, &ref, ref.head_len + ref.body_len,
	    100, iov, 4), 0);

	ck_assert_int_eq(find(c, "/b", "", &ref, NULL), CACHE_MISS);
	ck_assert_int_eq(find(c, "/a/", "", &ref, NULL), CACHE_MISS);
	ck_assert_int_eq(find(c, "/", "", &ref, NULL), CACHE_MISS);

	/* An empty key and an empty body are objects like any other. */
	ck_assert_int_eq(store(c, "", "", 0, 1, 1, 1), 0);
	ck_assert_int_eq(find(c, "", "", &ref, NULL), CACHE_FOUND);
	check_object(c, &ref, 0, 1, 4, SIZE_MAX);

	cache_get_stats(c, &st);
	ck_assert_uint_eq(st.objects, 2);
	ck_assert_uint_eq(st.writing, 0);
	ck_assert_uint_eq(st.used, 3 * 4096);
	cache_destroy(c);
}
END_TEST

START_TEST(test_key_limits)
{
	struct cache		*c = cache_create(2 * MiB);
	struct cache_writer	 w;
	struct cache_ref	 ref;
	char			 key[CACHE_KEY_MAX + 2], vary[CACHE_VARY_MAX + 2];
	struct cache_meta	 m;

	memset(key, 'k', sizeof(key));
	memset(vary, 'v', sizeof(vary));
	mkmeta(&m, 1);
	ck_assert_int_eq(cache_begin(c, key, CACHE_KEY_MAX + 1, 0, NOW, MiB,
	    &w), -1);
	ck_assert(!cache_writing(&w));
	ck_assert_int_eq(cache_lookup(c, key, CACHE_KEY_MAX + 1, NULL, NULL,
	    NOW, 5, &ref, NULL), CACHE_MISS);
	/* The longest key with the longest vary blob. */
	ck_assert_int_eq(cache_begin(c, key, CACHE_KEY_MAX, 0, NOW, MiB, &w),
	    0);
	ck_assert_int_eq(cache_append_head(c, &w, vary, CACHE_VARY_MAX + 1,
	    HEAD, strlen(HEAD), &m), -1);
	ck_assert(!cache_writing(&w));
	ck_assert_int_eq(cache_begin(c, key, CACHE_KEY_MAX, 0, NOW, MiB, &w),
	    0);
	ck_assert_int_eq(cache_append_head(c, &w, vary, CACHE_VARY_MAX,
	    HEAD, strlen(HEAD), &m), 0);
	/* Only once. */
	ck_assert_int_eq(cache_append_head(c, &w, vary, 1, HEAD, 3, &m), -1);
	ck_assert(!cache_writing(&w));
	ck_assert_int_eq(cache_begin(c, key, CACHE_KEY_MAX, 0, NOW, MiB, &w),
	    0);
	ck_assert_int_eq(cache_append_head(c, &w, vary, CACHE_VARY_MAX,
	    HEAD, strlen(HEAD), &m), 0);
	ck_assert_int_eq(cache_append(c, &w, "hello", 5), 0);
	ck_assert_int_eq(cache_commit(c, &w), 0);
	ck_assert(!cache_writing(&w));
	ck_assert_int_eq(cache_lookup(c, key, CACHE_KEY_MAX, match_any, NULL,
	    NOW, 5, &ref, NULL), CACHE_FOUND);
	ck_assert_uint_eq(ref.body_len, 5);

	/* No body before the head, no commit without a head. */
	ck_assert_int_eq(cache_begin(c, "/h", 2, 0, NOW, MiB, &w), 0);
	ck_assert_int_eq(cache_append(c, &w, "x", 1), -1);
	ck_assert(!cache_writing(&w));
	ck_assert_int_eq(cache_begin(c, "/h", 2, 0, NOW, MiB, &w), 0);
	ck_assert_int_eq(cache_commit(c, &w), -1);
	ck_assert(!cache_writing(&w));
	ck_assert_int_eq(cache_lookup(c, "/h", 2, NULL, NULL, NOW, 5, &ref,
	    NULL), CACHE_MISS);
	ck_assert_int_eq(cache_commit(c, &w), -1);
	cache_destroy(c);
}
END_TEST

START_TEST(test_busy)
{
	struct cache		*c = cache_create(2 * MiB);
	struct cache_writer	 w, w2;
	struct cache_ref	 ref;
	struct cache_meta	 m;
	struct cache_stats	 st;

	mkmeta(&m, 1);
	ck_assert_int_eq(cache_begin(c, "/k", 2, 1, NOW, MiB, &w), 0);
	ck_assert(cache_writing(&w));
	cache_get_stats(c, &st);
	ck_assert_uint_eq(st.writing, 1);
	ck_assert_uint_eq(st.objects, 0);
	ck_assert_int_eq(cache_lookup(c, "/k", 2, NULL, NULL, NOW, 5, &ref,
	    NULL), CACHE_BUSY);
	ck_assert_int_eq(cache_lookup(c, "/j", 2, NULL, NULL, NOW, 5, &ref,
	    NULL), CACHE_MISS);
	/* One writer per key. */
	ck_assert_int_eq(cache_begin(c, "/k", 2, 2, NOW, MiB, &w2), -1);
	ck_assert(!cache_writing(&w2));
	/* Still busy once the head is in, whatever the vary blob. */
	ck_assert_int_eq(cache_append_head(c, &w, "v", 1, HEAD, strlen(HEAD),
	    &m), 0);
	ck_assert_int_eq(cache_append(c, &w, "0123456789", 10), 0);
	ck_assert_int_eq(cache_lookup(c, "/k", 2, match_any, NULL, NOW + 4, 5,
	    &ref, NULL), CACHE_BUSY);
	/* Older than busy_timeout_s: abandoned as far as lookups go. */
	ck_assert_int_eq(cache_lookup(c, "/k", 2, match_any, NULL, NOW + 5, 5,
	    &ref, NULL), CACHE_MISS);
	ck_assert_int_eq(cache_lookup(c, "/k", 2, match_any, NULL, NOW, 0,
	    &ref, NULL), CACHE_MISS);
	ck_assert_int_eq(cache_commit(c, &w), 0);
	ck_assert_int_eq(cache_lookup(c, "/k", 2, match_any, NULL, NOW, 5,
	    &ref, NULL), CACHE_FOUND);
	ck_assert_uint_eq(ref.body_len, 10);

	/* A complete object beats a writer of the same key. */
	ck_assert_int_eq(cache_begin(c, "/k", 2, 2, NOW, MiB, &w2), 0);
	ck_assert_int_eq(cache_lookup(c, "/k", 2, match_any, NULL, NOW, 5,
	    &ref, NULL), CACHE_FOUND);
	/* ... but not when the vary blob does not match. */
	ck_assert_int_eq(cache_lookup(c, "/k", 2, match_str, "w", NOW, 5,
	    &ref, NULL), CACHE_BUSY);
	cache_abort(c, &w2);
	ck_assert_int_eq(cache_lookup(c, "/k", 2, match_str, "w", NOW, 5,
	    &ref, NULL), CACHE_MISS);
	cache_get_stats(c, &st);
	ck_assert_uint_eq(st.writing, 0);
	ck_assert_uint_eq(st.objects, 1);
	cache_destroy(c);
}
END_TEST

START_TEST(test_abort)
{
	struct cache		*c = cache_create(2 * MiB);
	struct cache_writer	 w;
	struct cache_ref	 ref;
	struct cache_meta	 m;
	struct cache_stats	 st;
	static char		 big[50000];

	mkmeta(&m, 1);
	ck_assert_int_eq(cache_begin(c, "/k", 2, 1, NOW, MiB, &w), 0);
	ck_assert_int_eq(cache_append_head(c, &w, "", 0, HEAD, strlen(HEAD),
	    &m), 0);
	ck_assert_int_eq(cache_append(c, &w, big, sizeof(big)), 0);
	cache_get_stats(c, &st);
	ck_assert_uint_ge(st.used, sizeof(big));
	cache_abort(c, &w);
	ck_assert(!cache_writing(&w));
	cache_abort(c, &w);
	ck_assert_int_eq(cache_append(c, &w, big, 10), -1);
	ck_assert_int_eq(cache_commit(c, &w), -1);
	ck_assert_int_eq(cache_lookup(c, "/k", 2, NULL, NULL, NOW, 5, &ref,
	    NULL), CACHE_MISS);
	cache_get_stats(c, &st);
	ck_assert_uint_eq(st.used, 0);
	ck_assert_uint_eq(st.writing, 0);
	ck_assert_uint_eq(st.objects, 0);
	/* The key can be written again. */
	ck_assert_int_eq(store(c, "/k", "", 10, 3, 10, 1), 0);
	cache_destroy(c);
}
END_TEST

START_TEST(test_vary)
{
	struct cache		*c = cache_create(2 * MiB);
	struct cache_ref	 rg, rb, r;
	struct cache_meta	 m;
	struct cache_stats	 st;

	ck_assert_int_eq(store(c, "/v", "gzip", 100, 1, 100, 1), 0);
	ck_assert_int_eq(store(c, "/v", "br", 200, 2, 100, 2), 0);
	ck_assert_int_eq(find(c, "/v", "gzip", &rg, &m), CACHE_FOUND);
	check_object(c, &rg, 100, 1, 4, SIZE_MAX);
	ck_assert_int_eq(find(c, "/v", "br", &rb, &m), CACHE_FOUND);
	check_object(c, &rb, 200, 2, 4, SIZE_MAX);
	ck_assert_int_eq(find(c, "/v", "zstd", &r, &m), CACHE_MISS);
	ck_assert_int_eq(cache_lookup(c, "/v", 2, NULL, NULL, NOW, 5, &r, &m),
	    CACHE_MISS);
	/* Every variant acceptable: the newest wins. */
	ck_assert_int_eq(cache_lookup(c, "/v", 2, match_any, NULL, NOW, 5, &r,
	    &m), CACHE_FOUND);
	ck_assert_int_eq(m.date, 2);

	/* Same key and blob: the new object replaces the old one only. */
	ck_assert_int_eq(store(c, "/v", "gzip", 300, 3, 100, 3), 0);
	ck_assert(!cache_ref_valid(c, &rg));
	ck_assert_int_eq(cache_copy(c, &rg, 0, &m, 1), -1);
	ck_assert(cache_ref_valid(c, &rb));
	check_object(c, &rb, 200, 2, 4, SIZE_MAX);
	ck_assert_int_eq(find(c, "/v", "gzip", &rg, &m), CACHE_FOUND);
	check_object(c, &rg, 300, 3, 4, SIZE_MAX);
	ck_assert_int_eq(m.date, 3);
	ck_assert_int_eq(cache_lookup(c, "/v", 2, match_any, NULL, NOW, 5, &r,
	    &m), CACHE_FOUND);
	ck_assert_int_eq(m.date, 3);
	cache_get_stats(c, &st);
	ck_assert_uint_eq(st.objects, 2);

	/* An object stored with no blob matches without a call. */
	ck_assert_int_eq(store(c, "/e", "", 10, 4, 100, 4), 0);
	match_calls = 0;
	ck_assert_int_eq(cache_lookup(c, "/e", 2, match_count, NULL, NOW, 5,
	    &r, &m), CACHE_FOUND);
	ck_assert_int_eq(match_calls, 0);
	ck_assert_int_eq(cache_lookup(c, "/v", 2, match_count, NULL, NOW, 5,
	    &r, &m), CACHE_MISS);
	ck_assert_int_eq(match_calls, 2);
	/* A blob-less object replaces only the blob-less one. */
	ck_assert_int_eq(store(c, "/v", "", 10, 5, 100, 5), 0);
	ck_assert(cache_ref_valid(c, &rb));
	ck_assert(cache_ref_valid(c, &rg));
	cache_get_stats(c, &st);
	ck_assert_uint_eq(st.objects, 4);
	cache_destroy(c);
}
END_TEST

START_TEST(test_purge)
{
	struct cache		*c = cache_create(4 * MiB);
	struct cache_writer	 w;
	struct cache_ref	 r1, r2, r3;
	struct cache_meta	 m;
	struct cache_stats	 st;

	ck_assert_int_eq(store(c, "/a/1", "x", 10, 1, 100, 1), 0);
	ck_assert_int_eq(store(c, "/a/1", "y", 10, 1, 100, 1), 0);
	ck_assert_int_eq(store(c, "/a/1", "", 10, 1, 100, 1), 0);
	ck_assert_int_eq(store(c, "/a/2", "", 10, 1, 100, 1), 0);
	ck_assert_int_eq(store(c, "/a/22", "", 10, 1, 100, 1), 0);
	ck_assert_int_eq(store(c, "/b/1", "", 10, 1, 100, 1), 0);
	ck_assert_int_eq(store(c, "/b/2", "", 10, 1, 100, 1), 0);
	ck_assert_int_eq(find(c, "/a/1", "x", &r1, &m), CACHE_FOUND);
	ck_assert_int_eq(find(c, "/a/2", "", &r2, &m), CACHE_FOUND);
	ck_assert_int_eq(find(c, "/b/1", "", &r3, &m), CACHE_FOUND);

	ck_assert_int_eq(cache_purge(c, "/a/1", 4), 3);
	ck_assert(!cache_ref_valid(c, &r1));
	ck_assert(cache_ref_valid(c, &r2));
	ck_assert_int_eq(find(c, "/a/1", "x", &r1, &m), CACHE_MISS);
	ck_assert_int_eq(cache_purge(c, "/a/1", 4), 0);
	ck_assert_int_eq(cache_purge(c, "/a/", 3), 0);

	/* A writer of a purged prefix does not get to store its object. */
	ck_assert_int_eq(cache_begin(c, "/a/3", 4, 0, NOW, MiB, &w), 0);
	ck_assert_int_eq(cache_purge_prefix(c, "/a/", 3), 2);
	ck_assert(!cache_ref_valid(c, &r2));
	ck_assert(cache_ref_valid(c, &r3));
	ck_assert_int_eq(cache_lookup(c, "/a/3", 4, NULL, NULL, NOW, 5, &r1,
	    NULL), CACHE_MISS);
	mkmeta(&m, 1);
	ck_assert_int_eq(cache_append_head(c, &w, "", 0, HEAD, strlen(HEAD),
	    &m), -1);
	ck_assert(!cache_writing(&w));
	ck_assert_int_eq(cache_commit(c, &w), -1);
	/* Same for a plain purge, caught at commit. */
	ck_assert_int_eq(cache_begin(c, "/b/3", 4, 0, NOW, MiB, &w), 0);
	ck_assert_int_eq(cache_append_head(c, &w, "", 0, HEAD, strlen(HEAD),
	    &m), 0);
	ck_assert_int_eq(cache_purge(c, "/b/3", 4), 0);
	ck_assert_int_eq(cache_commit(c, &w), -1);
	ck_assert_int_eq(cache_lookup(c, "/b/3", 4, NULL, NULL, NOW, 5, &r1,
	    NULL), CACHE_MISS);

	ck_assert_int_eq(cache_purge_prefix(c, "/c", 2), 0);
	ck_assert_int_eq(cache_purge_prefix(c, "", 0), 2);
	ck_assert(!cache_ref_valid(c, &r3));
	cache_get_stats(c, &st);
	ck_assert_uint_eq(st.objects, 0);
	ck_assert_uint_eq(st.writing, 0);
	ck_assert_uint_eq(st.used, 0);
	cache_destroy(c);
}
END_TEST

/* Pinned objects: kept through eviction, purge and replacement, until unpinned. */
START_TEST(test_pins)
{
	struct cache		*c = cache_create(2 * MiB);
	struct cache_ref	 r, r2, rs[CACHE_PIN_MAX + 1];
	struct cache_meta	 m;
	struct cache_stats	 st;
	char			 key[32];
	int			 i, gone;

	/* Eviction skips a pinned object, however cold. */
	ck_assert_int_eq(store(c, "/pinned", "", 100000, 7, 4096, 1), 0);
	ck_assert_int_eq(find(c, "/pinned", "", &r, &m), CACHE_FOUND);
	ck_assert_int_eq(cache_pin(c, &r, 3), 0);
	ck_assert_uint_ne(r.pin, 0);
	ck_assert_int_eq(cache_pin(c, &r, 3), -1);	/* once per ref */
	for (i = 0; i < 200; i++) {
		snprintf(key, sizeof(key), "/fill/%d", i);
		ck_assert_int_eq(store(c, key, "", 60000, i, 8192, 1), 0);
	}
	cache_get_stats(c, &st);
	ck_assert_uint_gt(st.evictions, 0);
	ck_assert(cache_ref_valid(c, &r));
	check_object(c, &r, 100000, 7, 64, 1 << 20);

	/* A purge hides it from lookups but leaves its bytes to the reader. */
	ck_assert_int_eq(cache_purge(c, "/pinned", 7), 1);
	ck_assert_int_eq(find(c, "/pinned", "", &r2, &m), CACHE_MISS);
	ck_assert(cache_ref_valid(c, &r));
	for (i = 200; i < 400; i++) {
		snprintf(key, sizeof(key), "/fill/%d", i);
		ck_assert_int_eq(store(c, key, "", 60000, i, 8192, 1), 0);
	}
	check_object(c, &r, 100000, 7, 64, 1 << 20);
	/* The last unpin frees it. */
	cache_unpin(c, &r, 3);
	ck_assert_uint_eq(r.pin, 0);
	ck_assert(!cache_ref_valid(c, &r));
	ck_assert_int_eq(cache_purge_prefix(c, "", 0) >= 0, 1);
	cache_get_stats(c, &st);
	ck_assert_uint_eq(st.used, 0);

	/* A newer variant replaces a pinned one the same way. */
	ck_assert_int_eq(store(c, "/v", "", 5000, 1, 4096, 1), 0);
	ck_assert_int_eq(find(c, "/v", "", &r, &m), CACHE_FOUND);
	ck_assert_int_eq(cache_pin(c, &r, 4), 0);
	ck_assert_int_eq(store(c, "/v", "", 5000, 2, 4096, 2), 0);
	ck_assert_int_eq(find(c, "/v", "", &r2, &m), CACHE_FOUND);
	check_object(c, &r2, 5000, 2, 64, 1 << 20);
	check_object(c, &r, 5000, 1, 64, 1 << 20);
	/* The master takes a dead worker's pins back. */
	cache_slot_release(c, 4);
	ck_assert(!cache_ref_valid(c, &r));
	cache_unpin(c, &r, 4);		/* harmless after the release */
	ck_assert(cache_ref_valid(c, &r2));

	/* Many readers of one object share a pin; distinct objects don't. */
	for (i = 0; i <= CACHE_PIN_MAX; i++) {
		ck_assert_int_eq(find(c, "/v", "", &rs[i], &m), CACHE_FOUND);
		ck_assert_int_eq(cache_pin(c, &rs[i], 5), 0);
	}
	for (i = 0; i <= CACHE_PIN_MAX; i++)
		cache_unpin(c, &rs[i], 5);
	for (i = 0; i <= CACHE_PIN_MAX; i++) {
		snprintf(key, sizeof(key), "/d/%d", i);
		ck_assert_int_eq(store(c, key, "", 100, i, 4096, 1), 0);
		ck_assert_int_eq(find(c, key, "", &rs[i], &m), CACHE_FOUND);
		ck_assert_int_eq(cache_pin(c, &rs[i], 5), i < CACHE_PIN_MAX ? 0 : -1);
	}
	for (i = 0; i < CACHE_PIN_MAX; i++)
		cache_unpin(c, &rs[i], 5);
	/* At most a quarter of the region is pinned. */
	ck_assert_int_eq(store(c, "/big", "", 300000, 9, 65536, 1), 0);
	ck_assert_int_eq(find(c, "/big", "", &rs[0], &m), CACHE_FOUND);
	ck_assert_int_eq(find(c, "/big", "", &rs[1], &m), CACHE_FOUND);
	ck_assert_int_eq(cache_pin(c, &rs[0], 6), 0);
	ck_assert_int_eq(cache_pin(c, &rs[1], 7), -1);
	ck_assert(cache_ref_valid(c, &rs[1]));	/* (streams unpinned) */
	cache_unpin(c, &rs[0], 6);
	ck_assert_int_eq(cache_pin(c, &rs[1], 7), 0);
	cache_unpin(c, &rs[1], 7);
	ck_assert_int_eq(cache_purge(c, "/v", 2), 1);
	gone = cache_pin(c, &r2, 5);
	ck_assert_int_eq(gone, -1);
	cache_get_stats(c, &st);
	ck_assert_uint_eq(st.objects, cache_purge_prefix(c, "", 0));
	cache_get_stats(c, &st);
	ck_assert_uint_eq(st.used, 0);
	cache_destroy(c);
}
END_TEST

/*
 * An object sent by reference keeps its bytes in the pipe (or socket)
 * that holds its pages, after it was purged and every block refilled:
 * its blocks were punched out of the memfd before reuse.
 */
START_TEST(test_sendfile_punch)
{
	struct cache		*c = cache_create(2 * MiB);
	struct cache_ref	 r;
	struct cache_meta	 m;
	struct iovec		 iov[4];
	unsigned char		 want[16384], got[16384];
	char			 key[32];
	loff_t			 off;
	ssize_t			 n;
	int			 pp[2], fd, i;

	ck_assert_ptr_nonnull(c);
	fd = cache_memfd(c);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pipe(pp), 0);
	ck_assert_int_eq(store(c, "/sf", "", 40000, 7, 4096, 1), 0);
	ck_assert_int_eq(find(c, "/sf", "", &r, &m), CACHE_FOUND);
	/* Only a pinned reference may be sent so. */
	ck_assert_int_eq(cache_ref_sendable(c, &r), -1);
	ck_assert_int_eq(cache_pin(c, &r, 2), 0);
	ck_assert_int_eq(cache_ref_sendable(c, &r), 0);
	ck_assert_int_ge(cache_iov(c, &r, r.head_len, sizeof(want), iov, 4), 1);
	off = (loff_t)((char *)iov[0].iov_base - (char *)c);
	n = splice(fd, &off, pp[1], NULL, iov[0].iov_len, 0);
	ck_assert_int_gt(n, 0);
	memcpy(want, iov[0].iov_base, (size_t)n);
	/* Purged, freed at the unpin, every block refilled. */
	ck_assert_int_eq(cache_purge(c, "/sf", 3), 1);
	cache_unpin(c, &r, 2);
	ck_assert(!cache_ref_valid(c, &r));
	for (i = 0; i < 300; i++) {
		snprintf(key, sizeof(key), "/fill/%d", i);
		ck_assert_int_eq(store(c, key, "", 8000, 1000 + i, 8192, 1), 0);
	}
	ck_assert_int_ne(memcmp(iov[0].iov_base, want, (size_t)n), 0);
	ck_assert_int_eq(read(pp[0], got, (size_t)n), n);
	ck_assert_int_eq(memcmp(got, want, (size_t)n), 0);
	close(pp[0]);
	close(pp[1]);
	cache_destroy(c);
}
END_TEST

START_TEST(test_variant_cap)
{
	struct cache		*c = cache_create(8 * MiB);
	struct cache_ref	 r;
	struct cache_stats	 st;
	char			 vary[16];
	int			 i;

	for (i = 0; i < 40; i++) {
		snprintf(vary, sizeof(vary), "v%d", i);
		ck_assert_int_eq(store(c, "/many", vary, 10, i, 4096, 1), 0);
	}
	cache_get_stats(c, &st);
	ck_assert_uint_eq(st.objects, 32);	/* CACHE_VARIANTS */
	for (i = 0; i < 40; i++) {
		snprintf(vary, sizeof(vary), "v%d", i);
		ck_assert_int_eq(find(c, "/many", vary, &r, NULL),
		    i < 8 ? CACHE_MISS : CACHE_FOUND);
	}
	cache_destroy(c);
}
END_TEST

START_TEST(test_update_meta)
{
	struct cache		*c = cache_create(2 * MiB);
	struct cache_ref	 r, r2;
	struct cache_meta	 m, m2;

	ck_assert_int_eq(store(c, "/m", "", 10, 1, 100, 1), 0);
	ck_assert_int_eq(find(c, "/m", "", &r, &m), CACHE_FOUND);
	mkmeta(&m2, 99);
	m2.flags = CACHE_F_MUST_REVAL;
	ck_assert_int_eq(cache_update_meta(c, &r, &m2), 0);
	/* The object itself did not change: those streaming it go on. */
	ck_assert(cache_ref_valid(c, &r));
	ck_assert_int_eq(find(c, "/m", "", &r2, &m), CACHE_FOUND);
	ck_assert(memcmp(&m, &m2, sizeof(m)) == 0);
	ck_assert_uint_eq(r2.seq, r.seq);
	ck_assert_int_eq(cache_purge(c, "/m", 2), 1);
	ck_assert_int_eq(cache_update_meta(c, &r, &m2), -1);
	cache_destroy(c);
}
END_TEST

START_TEST(test_max_body)
{
	struct cache		*c = cache_create(2 * MiB);
	struct cache_writer	 w;
	struct cache_ref	 r;
	struct cache_meta	 m;
	struct cache_stats	 st;
	static char		 body[1000];

	mkmeta(&m, 1);
	ck_assert_int_eq(cache_begin(c, "/m", 2, 0, NOW, 1000, &w), 0);
	ck_assert_int_eq(cache_append_head(c, &w, "", 0, HEAD, strlen(HEAD),
	    &m), 0);
	ck_assert_int_eq(cache_append(c, &w, body, 600), 0);
	ck_assert_int_eq(cache_append(c, &w, body, 401), -1);
	ck_assert(!cache_writing(&w));
	ck_assert_int_eq(cache_lookup(c, "/m", 2, NULL, NULL, NOW, 5, &r,
	    NULL), CACHE_MISS);
	cache_get_stats(c, &st);
	ck_assert_uint_eq(st.used, 0);

	/* Exactly max_body is fine. */
	ck_assert_int_eq(cache_begin(c, "/m", 2, 0, NOW, 1000, &w), 0);
	ck_assert_int_eq(cache_append_head(c, &w, "", 0, HEAD, strlen(HEAD),
	    &m), 0);
	ck_assert_int_eq(cache_append(c, &w, body, 600), 0);
	ck_assert_int_eq(cache_append(c, &w, body, 400), 0);
	ck_assert_int_eq(cache_commit(c, &w), 0);
	ck_assert_int_eq(cache_lookup(c, "/m", 2, NULL, NULL, NOW, 5, &r,
	    NULL), CACHE_FOUND);
	ck_assert_uint_eq(r.body_len, 1000);

	/* max_body 0: only empty bodies. */
	ck_assert_int_eq(cache_begin(c, "/z", 2, 0, NOW, 0, &w), 0);
	ck_assert_int_eq(cache_append_head(c, &w, "", 0, HEAD, strlen(HEAD),
	    &m), 0);
	ck_assert_int_eq(cache_append(c, &w, body, 0), 0);
	ck_assert_int_eq(cache_append(c, &w, body, 1), -1);
	cache_destroy(c);
}
END_TEST

/*
 * The writer reads its object back as it grows (cache_writer_ref), its
 * commit gives a reference to the complete object (cache_commit_ref), and
 * cache_append_keep leaves the writer whole when the object cannot grow.
 */
START_TEST(test_writer_reads_back)
{
	struct cache		*c = cache_create(1 * MiB);
	struct cache_writer	 w;
	struct cache_ref	 wr, r;
	struct cache_meta	 m;
	struct iovec		 iov[8];
	static unsigned char	 body[700000], back[700000];
	uint64_t		 off, got;
	size_t			 piece = 10000;
	int			 n, i;

	fill(body, sizeof(body), 7);
	mkmeta(&m, 1);
	ck_assert_int_eq(cache_begin(c, "/g", 2, 0, NOW, 1 << 20, &w), 0);
	/* No head yet: nothing to read back. */
	ck_assert_int_eq(cache_writer_ref(c, &w, &wr), -1);
	ck_assert_int_eq(cache_append_head(c, &w, "v", 1, HEAD, strlen(HEAD),
	    &m), 0);
	ck_assert_int_eq(cache_writer_ref(c, &w, &wr), 0);
	ck_assert_uint_eq(wr.head_len, strlen(HEAD));
	ck_assert_uint_eq(wr.body_len, 0);
	/* Append and read back in turns: every byte as written. */
	got = 0;
	for (off = 0; off < 150000; off += piece) {
		ck_assert_int_eq(cache_append_keep(c, &w, body + off, piece), 0);
		wr.body_len = w.body_len;
		while ((n = cache_iov(c, &wr, wr.head_len + got, 5000, iov, 8)) > 0)
			for (i = 0; i < n; i++) {
				memcpy(back + got, iov[i].iov_base, iov[i].iov_len);
				got += iov[i].iov_len;
			}
		ck_assert_int_eq(n, 0);
		ck_assert_uint_eq(got, off + piece);
	}
	ck_assert(memcmp(back, body, got) == 0);
	/* Still invisible to lookups: busy. */
	ck_assert_int_eq(cache_lookup(c, "/g", 2, match_any, NULL, NOW, 5, &r,
	    NULL), CACHE_BUSY);
	/* More than half the region does not fit: the writer stays. */
	ck_assert_int_eq(cache_append_keep(c, &w, body + got,
	    sizeof(body) - got), -1);
	ck_assert(cache_writing(&w));
	ck_assert_uint_eq(w.body_len, got);
	ck_assert_int_eq(cache_iov(c, &wr, wr.head_len, 100, iov, 8), 1);
	/* Committing what is there gives a reference to the complete object. */
	ck_assert_int_eq(cache_commit_ref(c, &w, &r), 0);
	ck_assert(!cache_writing(&w));
	ck_assert_uint_eq(r.body_len, got);
	ck_assert(cache_ref_valid(c, &r));
	ck_assert(!cache_ref_valid(c, &wr));	/* the writer's view is over */
	ck_assert_int_eq(cache_copy(c, &r, r.head_len, back, got), 0);
	ck_assert(memcmp(back, body, got) == 0);
	ck_assert_int_eq(cache_lookup(c, "/g", 2, match_any, NULL, NOW, 5, &wr,
	    NULL), CACHE_FOUND);
	ck_assert_uint_eq(wr.idx, r.idx);
	ck_assert_uint_eq(wr.seq, r.seq);

	/* A purge while writing: the writer's view fails, keep aborts. */
	ck_assert_int_eq(cache_begin(c, "/p", 2, 0, NOW, 1 << 20, &w), 0);
	ck_assert_int_eq(cache_append_head(c, &w, "", 0, HEAD, strlen(HEAD),
	    &m), 0);
	ck_assert_int_eq(cache_append_keep(c, &w, body, 5000), 0);
	ck_assert_int_eq(cache_writer_ref(c, &w, &wr), 0);
	cache_purge(c, "/p", 2);
	ck_assert_int_eq(cache_iov(c, &wr, 0, 100, iov, 8), -1);
	ck_assert_int_eq(cache_append_keep(c, &w, body, 5000), -1);
	ck_assert(!cache_writing(&w));
	cache_destroy(c);
}
END_TEST

/*
 * Readers follow an object being written once its length is announced
 * (cache_lookup_growing, cache_ref_grow), see its commit as such, and
 * keep it from eviction while they follow it.
 */
START_TEST(test_growing)
{
	struct cache		*c = cache_create(2 * MiB);
	struct cache_writer	 w;
	struct cache_ref	 r, r2;
	struct cache_meta	 m, got;
	static unsigned char	 body[40000], back[40000];
	uint64_t		 expect;

	fill(body, sizeof(body), 3);
	mkmeta(&m, 9);
	ck_assert_int_eq(cache_begin(c, "/w", 2, 0, NOW, 1 << 20, &w), 0);
	/* Nothing to follow before the head and the length. */
	ck_assert_int_eq(cache_lookup_growing(c, "/w", 2, match_any, NULL, &r,
	    &got, &expect), -1);
	ck_assert_int_eq(cache_writer_expect(c, &w, sizeof(body)), -1);
	ck_assert_int_eq(cache_append_head(c, &w, "a", 1, HEAD, strlen(HEAD),
	    &m), 0);
	ck_assert_int_eq(cache_lookup_growing(c, "/w", 2, match_any, NULL, &r,
	    &got, &expect), -1);
	ck_assert_int_eq(cache_writer_expect(c, &w, (1 << 20) + 1), -1);
	ck_assert_int_eq(cache_writer_expect(c, &w, sizeof(body)), 0);
	/* The vary blob must match; the meta and the length come along. */
	ck_assert_int_eq(cache_lookup_growing(c, "/w", 2, match_str, "b", &r,
	    &got, &expect), -1);
	ck_assert_int_eq(cache_lookup_growing(c, "/w", 2, match_str, "a", &r,
	    &got, &expect), 0);
	ck_assert_uint_eq(expect, sizeof(body));
	ck_assert_uint_eq(r.body_len, 0);
	ck_assert_int_eq(got.date, 9);
	ck_assert_int_eq(cache_copy(c, &r, 0, back, strlen(HEAD)), 0);
	ck_assert(memcmp(back, HEAD, strlen(HEAD)) == 0);
	/* It grows. */
	ck_assert_int_eq(cache_append(c, &w, body, 10000), 0);
	ck_assert_int_eq(cache_ref_grow(c, &r), 0);
	ck_assert_uint_eq(r.body_len, 10000);
	ck_assert_int_eq(cache_append_keep(c, &w, body + 10000, 30000), 0);
	ck_assert_int_eq(cache_ref_grow(c, &r), 0);
	ck_assert_uint_eq(r.body_len, 40000);
	ck_assert_int_eq(cache_copy(c, &r, r.head_len, back, 40000), 0);
	ck_assert(memcmp(back, body, 40000) == 0);
	/* Committed: the reference carries over to the complete object. */
	ck_assert_int_eq(cache_commit(c, &w), 0);
	ck_assert(!cache_ref_valid(c, &r));
	ck_assert_int_eq(cache_ref_grow(c, &r), 1);
	ck_assert(cache_ref_valid(c, &r));
	ck_assert_uint_eq(r.body_len, 40000);
	ck_assert_int_eq(cache_copy(c, &r, r.head_len, back, 40000), 0);
	ck_assert(memcmp(back, body, 40000) == 0);
	/* A follower keeps it from eviction: fill the region with others. */
	{
		char	 k[16];
		int	 j;

		for (j = 0; j < 100; j++) {
			snprintf(k, sizeof(k), "/o%d", j);
			(void)store(c, k, "", 30000, j, 7000, j);
		}
	}
	ck_assert(cache_ref_valid(c, &r));
	ck_assert_int_eq(cache_copy(c, &r, r.head_len, back, 40000), 0);
	ck_assert(memcmp(back, body, 40000) == 0);
	cache_unfollow(c, &r);
	cache_unfollow(c, &r);		/* idempotent */
	{
		char	 k[16];
		int	 j;

		for (j = 100; j < 200; j++) {
			snprintf(k, sizeof(k), "/o%d", j);
			(void)store(c, k, "", 30000, j, 7000, j);
		}
	}
	ck_assert(!cache_ref_valid(c, &r));	/* evicted once let go */

	/* An aborted or ungrowable object: its followers learn it. */
	ck_assert_int_eq(cache_begin(c, "/x", 2, 0, NOW, 1 << 20, &w), 0);
	ck_assert_int_eq(cache_append_head(c, &w, "", 0, HEAD, strlen(HEAD),
	    &m), 0);
	ck_assert_int_eq(cache_writer_expect(c, &w, 100), 0);
	ck_assert_int_eq(cache_lookup_growing(c, "/x", 2, NULL, NULL, &r, NULL,
	    &expect), 0);
	ck_assert_int_eq(cache_lookup_growing(c, "/x", 2, NULL, NULL, &r2, NULL,
	    &expect), 0);
	ck_assert_int_eq(cache_append_keep(c, &w, body, sizeof(body)), 0);
	ck_assert_int_eq(cache_append_keep(c, &w, body, 1 << 20), -1);
	ck_assert(cache_writing(&w));
	ck_assert_int_eq(cache_ref_grow(c, &r), -1);	/* given up */
	cache_abort(c, &w);
	ck_assert_int_eq(cache_ref_grow(c, &r2), -1);
	ck_assert(!cache_ref_valid(c, &r2));
	cache_unfollow(c, &r);
	cache_unfollow(c, &r2);

	/*
	 * A length not known (a chunked answer): followed all the same, the
	 * length learnt at the commit; one that outgrows max_body is given up.
	 */
	ck_assert_int_eq(cache_begin(c, "/u", 2, 0, NOW, 100000, &w), 0);
	ck_assert_int_eq(cache_append_head(c, &w, "", 0, HEAD, strlen(HEAD),
	    &m), 0);
	ck_assert_int_eq(cache_writer_expect(c, &w, CACHE_EXPECT_UNKNOWN), 0);
	ck_assert_int_eq(cache_lookup_growing(c, "/u", 2, NULL, NULL, &r, NULL,
	    &expect), 0);
	ck_assert(expect == CACHE_EXPECT_UNKNOWN);
	ck_assert_int_eq(cache_append_keep(c, &w, body, 30000), 0);
	ck_assert_int_eq(cache_ref_grow(c, &r), 0);
	ck_assert_uint_eq(r.body_len, 30000);
	ck_assert_int_eq(cache_append_keep(c, &w, body + 30000, 10000), 0);
	ck_assert_int_eq(cache_commit(c, &w), 0);
	ck_assert_int_eq(cache_ref_grow(c, &r), 1);
	ck_assert_uint_eq(r.body_len, 40000);
	ck_assert_int_eq(cache_copy(c, &r, r.head_len, back, 40000), 0);
	ck_assert(memcmp(back, body, 40000) == 0);
	cache_unfollow(c, &r);
	ck_assert_int_eq(cache_begin(c, "/v", 2, 0, NOW, 50000, &w), 0);
	ck_assert_int_eq(cache_append_head(c, &w, "", 0, HEAD, strlen(HEAD),
	    &m), 0);
	ck_assert_int_eq(cache_writer_expect(c, &w, CACHE_EXPECT_UNKNOWN), 0);
	ck_assert_int_eq(cache_lookup_growing(c, "/v", 2, NULL, NULL, &r, NULL,
	    &expect), 0);
	ck_assert_int_eq(cache_append_keep(c, &w, body, 40000), 0);
	ck_assert_int_eq(cache_append_keep(c, &w, body, 20000), -1);
	ck_assert_int_eq(cache_ref_grow(c, &r), -1);	/* given up */
	cache_abort(c, &w);
	cache_unfollow(c, &r);
	cache_destroy(c);
}
END_TEST

START_TEST(test_large_objects)
{
	static const size_t	 sizes[] = { 1, 4000, 4095, 4096, 4097, 12293,
	    300000, 1 << 20, 0 };
	struct cache		*c = cache_create(8 * MiB);
	struct cache_writer	 w;
	struct cache_ref	 r;
	struct cache_meta	 m;
	struct cache_stats	 st;
	struct iovec		 iov[8];
	char			 key[32];
	size_t			 i;
	static char		 chunk[65536];

	/* On a fresh cache a big object is one run of blocks: one iovec. */
	ck_assert_int_eq(store(c, "/big", "", 2 * MiB, 77, 65536, 1), 0);
	ck_assert_int_eq(find(c, "/big", "", &r, &m), CACHE_FOUND);
	ck_assert_int_eq(cache_iov(c, &r, 0, SIZE_MAX, iov, 8), 1);
	ck_assert_uint_eq(iov[0].iov_len, r.head_len + r.body_len);
	check_object(c, &r, 2 * MiB, 77, 3, 10000);

	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		snprintf(key, sizeof(key), "/obj/%zu", sizes[i]);
		ck_assert_int_eq(store(c, key, "", sizes[i], i, 1000 + i * 3001,
		    1), 0);
	}
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		snprintf(key, sizeof(key), "/obj/%zu", sizes[i]);
		ck_assert_int_eq(find(c, key, "", &r, &m), CACHE_FOUND);
		check_object(c, &r, sizes[i], i, 8, SIZE_MAX);
		check_object(c, &r, sizes[i], i, 2, 5000);
	}

	/* An object may not take more than half the region. */
	mkmeta(&m, 1);
	ck_assert_int_eq(cache_begin(c, "/huge", 5, 0, NOW, 64 * MiB, &w), 0);
	ck_assert_int_eq(cache_append_head(c, &w, "", 0, HEAD, strlen(HEAD),
	    &m), 0);
	for (i = 0; i < 5 * MiB / sizeof(chunk); i++)
		if (cache_append(c, &w, chunk, sizeof(chunk)) == -1)
			break;
	ck_assert(!cache_writing(&w));
	ck_assert_uint_lt(i, 4 * MiB / sizeof(chunk));
	/* ... and trying did not throw out what was there. */
	cache_get_stats(c, &st);
	ck_assert_uint_eq(st.objects, 1 + sizeof(sizes) / sizeof(sizes[0]));
	ck_assert_uint_eq(st.evictions, 0);
	ck_assert_int_eq(find(c, "/big", "", &r, &m), CACHE_FOUND);
	cache_destroy(c);
}
END_TEST

START_TEST(test_eviction_clock)
{
	struct cache		*c = cache_create(2 * MiB);
	struct cache_ref	 r;
	struct cache_stats	 st;
	char			 key[32];
	int			 i, touched = 0, gone = 0;
	const size_t		 len = 3 * 4096 - 200;	/* 3 blocks */

	for (i = 0; i < 100; i++) {
		snprintf(key, sizeof(key), "/o/%d", i);
		ck_assert_int_eq(store(c, key, "", len, i, 4096, 1), 0);
	}
	cache_get_stats(c, &st);
	ck_assert_uint_eq(st.evictions, 0);
	ck_assert_uint_eq(st.objects, 100);
	ck_assert_uint_eq(st.used, 100 * 3 * 4096);
	for (i = 0; i < 100; i += 4) {
		snprintf(key, sizeof(key), "/o/%d", i);
		ck_assert_int_eq(find(c, key, "", &r, NULL), CACHE_FOUND);
	}
	/* Much more than fits: the untouched go first. */
	for (i = 100; i < 200; i++) {
		snprintf(key, sizeof(key), "/o/%d", i);
		ck_assert_int_eq(store(c, key, "", len, i, 4096, 1), 0);
	}
	cache_get_stats(c, &st);
	ck_assert_uint_gt(st.evictions, 40);
	ck_assert_uint_eq(st.objects + st.evictions, 200);
	ck_assert_uint_le(st.used, 2 * MiB);
	for (i = 0; i < 100; i++) {
		snprintf(key, sizeof(key), "/o/%d", i);
		if (find(c, key, "", &r, NULL) == CACHE_FOUND) {
			check_object(c, &r, len, i, 8, SIZE_MAX);
			if (i % 4 == 0)
				touched++;
		} else
			gone++;
	}
	ck_assert_int_eq(touched, 25);
	ck_assert_int_ge(gone, 40);
	/* The newest are there too. */
	for (i = 190; i < 200; i++) {
		snprintf(key, sizeof(key), "/o/%d", i);
		ck_assert_int_eq(find(c, key, "", &r, NULL), CACHE_FOUND);
		check_object(c, &r, len, i, 8, SIZE_MAX);
	}
	cache_destroy(c);
}
END_TEST

START_TEST(test_eviction_spares_writers)
{
	struct cache		*c = cache_create(2 * MiB);
	struct cache_writer	 w;
	struct cache_ref	 r;
	struct cache_meta	 m;
	struct cache_stats	 st;
	char			 key[32];
	int			 i;
	static unsigned char	 body[100000];

	/* A writer's blocks are never taken for anyone else's object. */
	fill(body, sizeof(body), 5);
	mkmeta(&m, 1);
	ck_assert_int_eq(cache_begin(c, "/w", 2, 0, NOW, MiB, &w), 0);
	ck_assert_int_eq(cache_append_head(c, &w, "", 0, HEAD, strlen(HEAD),
	    &m), 0);
	ck_assert_int_eq(cache_append(c, &w, body, 50000), 0);
	for (i = 0; i < 300; i++) {
		snprintf(key, sizeof(key), "/o/%d", i);
		ck_assert_int_eq(store(c, key, "", 10000, i, 4096, 1), 0);
	}
	ck_assert_int_eq(cache_append(c, &w, body + 50000, 50000), 0);
	ck_assert_int_eq(cache_commit(c, &w), 0);
	ck_assert_int_eq(find(c, "/w", "", &r, &m), CACHE_FOUND);
	check_object(c, &r, sizeof(body), 5, 8, SIZE_MAX);
	cache_get_stats(c, &st);
	ck_assert_uint_gt(st.evictions, 100);
	cache_destroy(c);
}
END_TEST

/* --- Processes killed at awkward moments. --- */

static void
read_byte(int fd)
{
	char	 b;

	alarm(10);
	ck_assert_int_eq(read(fd, &b, 1), 1);
	alarm(0);
}

static void
kill_wait(pid_t pid)
{
	int	 status;

	ck_assert_int_eq(kill(pid, SIGKILL), 0);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
}

START_TEST(test_kill_writer)
{
	struct cache		*c = cache_create(4 * MiB);
	struct cache_writer	 w;
	struct cache_ref	 r;
	struct cache_meta	 m;
	struct cache_stats	 st;
	int			 p[2];
	pid_t			 pid;
	static unsigned char	 body[40000];

	ck_assert_int_eq(store(c, "/other", "", 5000, 9, 4096, 1), 0);
	ck_assert_int_eq(pipe(p), 0);
	fill(body, sizeof(body), 1);
	mkmeta(&m, 1);
	if ((pid = fork()) == 0) {
		alarm(20);
		close(p[0]);
		if (cache_begin(c, "/k", 2, 7, NOW, MiB, &w) == -1 ||
		    cache_append_head(c, &w, "", 0, HEAD, strlen(HEAD),
		    &m) == -1 ||
		    cache_append(c, &w, body, sizeof(body) / 2) == -1 ||
		    write(p[1], "x", 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	ck_assert_int_ne(pid, -1);
	close(p[1]);
	read_byte(p[0]);
	close(p[0]);
	ck_assert_int_eq(cache_lookup(c, "/k", 2, NULL, NULL, NOW, 30, &r,
	    NULL), CACHE_BUSY);
	ck_assert_int_eq(cache_begin(c, "/k", 2, 1, NOW, MiB, &w), -1);
	cache_get_stats(c, &st);
	ck_assert_uint_eq(st.writing, 1);
	ck_assert_uint_gt(st.used, 5 * 4096);

	kill_wait(pid);
	/* Dead but not reaped by the master yet: still busy. */
	ck_assert_int_eq(cache_lookup(c, "/k", 2, NULL, NULL, NOW, 30, &r,
	    NULL), CACHE_BUSY);
	cache_slot_release(c, 6);
	ck_assert_int_eq(cache_lookup(c, "/k", 2, NULL, NULL, NOW, 30, &r,
	    NULL), CACHE_BUSY);
	cache_slot_release(c, 7);
	ck_assert_int_eq(cache_lookup(c, "/k", 2, NULL, NULL, NOW, 30, &r,
	    NULL), CACHE_MISS);
	cache_get_stats(c, &st);
	ck_assert_uint_eq(st.writing, 0);
	ck_assert_uint_eq(st.objects, 1);
	ck_assert_uint_eq(st.used, 2 * 4096);

	/* Stored anew, by another slot. */
	ck_assert_int_eq(store(c, "/k", "", sizeof(body), 1, 3000, 2), 0);
	ck_assert_int_eq(find(c, "/k", "", &r, &m), CACHE_FOUND);
	check_object(c, &r, sizeof(body), 1, 8, SIZE_MAX);
	ck_assert_int_eq(find(c, "/other", "", &r, &m), CACHE_FOUND);
	check_object(c, &r, 5000, 9, 8, SIZE_MAX);
	cache_destroy(c);
}
END_TEST

/* Fork a child that takes the mutex and waits to be killed. */
static pid_t
lock_holder(struct cache *c, int scramble)
{
	int	 p[2];
	pid_t	 pid;

	ck_assert_int_eq(pipe(p), 0);
	if ((pid = fork()) == 0) {
		alarm(20);
		close(p[0]);
		cache_test_lock(c, scramble);
		if (write(p[1], "x", 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	ck_assert_int_ne(pid, -1);
	close(p[1]);
	read_byte(p[0]);
	close(p[0]);
	return pid;
}

START_TEST(test_kill_lock_holder)
{
	struct cache		*c = cache_create(2 * MiB);
	struct cache_ref	 r, ra;
	struct cache_meta	 m;
	struct cache_stats	 st;
	char			 key[32];
	int			 i, round;
	pid_t			 pid;

	for (round = 0; round < 2; round++) {
		ck_assert_int_eq(store(c, "/a", "", 10000, 1, 4096, 1), 0);
		ck_assert_int_eq(store(c, "/b", "", 20000, 2, 4096, 1), 0);
		ck_assert_int_eq(find(c, "/a", "", &ra, &m), CACHE_FOUND);
		pid = lock_holder(c, round == 0);
		/*
		 * Until someone locks, what is served is whole: the entry the
		 * scrambling holder was changing (the first complete one, /a)
		 * is not served at all, the others are, intact.
		 */
		ck_assert_int_eq(find(c, "/a", "", &r, &m),
		    round == 0 ? CACHE_MISS : CACHE_FOUND);
		if (round == 1)
			check_object(c, &r, 10000, 1, 8, SIZE_MAX);
		ck_assert_int_eq(find(c, "/b", "", &r, &m), CACHE_FOUND);
		check_object(c, &r, 20000, 2, 8, SIZE_MAX);
		kill_wait(pid);

		/* The next taker wipes the index and goes on. */
		ck_assert_int_eq(store(c, "/c", "", 30000, 3, 4096, 1), 0);
		ck_assert(!cache_ref_valid(c, &ra));
		ck_assert_int_eq(find(c, "/a", "", &r, &m), CACHE_MISS);
		ck_assert_int_eq(find(c, "/b", "", &r, &m), CACHE_MISS);
		ck_assert_int_eq(find(c, "/c", "", &r, &m), CACHE_FOUND);
		check_object(c, &r, 30000, 3, 8, SIZE_MAX);
		cache_get_stats(c, &st);
		ck_assert_uint_eq(st.objects, 1);
		ck_assert_uint_eq(st.writing, 0);
		ck_assert_uint_eq(st.used, 8 * 4096);
		ck_assert_uint_eq(st.wipes, (uint64_t)round + 1);

		/* Free lists rebuilt right: fill it twice over, all intact. */
		for (i = 0; i < 200; i++) {
			snprintf(key, sizeof(key), "/f/%d", i);
			ck_assert_int_eq(store(c, key, "", 9000 + i, i, 4096,
			    1), 0);
		}
		for (i = 150; i < 200; i++) {
			snprintf(key, sizeof(key), "/f/%d", i);
			ck_assert_int_eq(find(c, key, "", &r, &m), CACHE_FOUND);
			check_object(c, &r, 9000 + i, i, 8, SIZE_MAX);
		}
		cache_purge_prefix(c, "", 0);
		cache_get_stats(c, &st);
		ck_assert_uint_eq(st.objects, 0);
		ck_assert_uint_eq(st.used, 0);
	}
	/* The master's release recovers the mutex as well. */
	pid = lock_holder(c, 0);
	kill_wait(pid);
	cache_slot_release(c, 3);
	ck_assert_int_eq(store(c, "/a", "", 10000, 1, 4096, 1), 0);
	cache_destroy(c);
}
END_TEST

START_TEST(test_wipe_keeps_live_writer)
{
	struct cache		*c = cache_create(2 * MiB);
	struct cache_writer	 w;
	struct cache_ref	 r;
	struct cache_meta	 m;
	struct cache_stats	 st, st2;
	pid_t			 pid;
	static unsigned char	 body[30000];

	/*
	 * A writer alive through a wipe keeps its blocks (it may be
	 * copying into them), loses its object, and gives them back itself.
	 */
	mkmeta(&m, 1);
	ck_assert_int_eq(cache_begin(c, "/w", 2, 0, NOW, MiB, &w), 0);
	ck_assert_int_eq(cache_append_head(c, &w, "", 0, HEAD, strlen(HEAD),
	    &m), 0);
	ck_assert_int_eq(cache_append(c, &w, body, sizeof(body)), 0);
	cache_get_stats(c, &st);
	pid = lock_holder(c, 0);
	kill_wait(pid);
	ck_assert_int_eq(store(c, "/x", "", 100000, 4, 4096, 1), 0);
	cache_get_stats(c, &st2);
	ck_assert_uint_eq(st2.writing, 0);
	ck_assert_uint_eq(st2.objects, 1);
	ck_assert_uint_eq(st2.used, st.used + 25 * 4096);
	ck_assert_int_eq(cache_lookup(c, "/w", 2, NULL, NULL, NOW, 5, &r,
	    NULL), CACHE_MISS);
	ck_assert_int_eq(cache_append(c, &w, body, 10), -1);
	ck_assert(!cache_writing(&w));
	cache_get_stats(c, &st2);
	ck_assert_uint_eq(st2.used, 25 * 4096);
	ck_assert_int_eq(find(c, "/x", "", &r, &m), CACHE_FOUND);
	check_object(c, &r, 100000, 4, 8, SIZE_MAX);

	/* Same with commit as the first thing after the wipe. */
	ck_assert_int_eq(cache_begin(c, "/w", 2, 0, NOW, MiB, &w), 0);
	ck_assert_int_eq(cache_append_head(c, &w, "", 0, HEAD, strlen(HEAD),
	    &m), 0);
	pid = lock_holder(c, 1);
	kill_wait(pid);
	ck_assert_int_eq(cache_commit(c, &w), -1);
	ck_assert(!cache_writing(&w));
	cache_get_stats(c, &st2);
	ck_assert_uint_eq(st2.used, 0);
	cache_destroy(c);
}
END_TEST

/* --- Several processes at once. --- */

#define NKEYS		160
#define NWORKERS	4
#define RUN_MS		2500

struct counts {
	uint64_t	 hits, stores, misses, busy, changed, corrupt, ops;
} __attribute__((aligned(64)));

static uint64_t
now_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint64_t
rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* Everything about version v of a key follows from (key, v). */
static uint64_t
obj_seed(const char *key, uint32_t v)
{
	return cache_hash(key, strlen(key)) ^ ((uint64_t)v * 0x9e3779b97f4a7c15ULL);
}

static size_t
obj_len(uint64_t seed)
{
	return (seed >> 20) % 8 == 0 ? (seed >> 8) % 120000 : (seed >> 8) % 20000;
}

static int
obj_head(char *buf, size_t size, const char *key, const char *vary,
    uint32_t v)
{
	return snprintf(buf, size, "HTTP/1.1 200 OK\r\nX-Key: %s %u [%s]\r\n\r\n",
	    key, v, vary);
}

static void
obj_meta(struct cache_meta *m, uint32_t v, int64_t lifetime)
{
	memset(m, 0, sizeof(*m));
	m->request_time = m->response_time = m->date = v;
	m->age = v * 3;
	m->lifetime = lifetime;
	m->status = 200;
	m->etag_len = (uint16_t)snprintf(m->etag, sizeof(m->etag),
	    "\"%u-%lld\"", v, (long long)lifetime);
}

/*
 * A found object: the meta must be whole (it was checked at lookup), and
 * every byte right unless the object changed meanwhile.
 */
static void
verify(struct cache *c, struct cache_ref *r, const struct cache_meta *m,
    const char *key, const char *vary, struct counts *k, uint64_t *rs,
    unsigned char *buf)
{
	struct cache_meta	 want;
	struct iovec		 iov[8];
	char			 head[256];
	uint64_t		 seed, off = 0, total, i;
	uint32_t		 v = (uint32_t)m->date;
	size_t			 len;
	int			 hl, n, j, bad = 0;

	obj_meta(&want, v, m->lifetime);
	if (memcmp(&want, m, sizeof(want)) != 0) {
		k->corrupt++;
		return;
	}
	seed = obj_seed(key, v);
	len = obj_len(seed);
	hl = obj_head(head, sizeof(head), key, vary, v);
	if (r->head_len != (uint32_t)hl || r->body_len != len) {
		k->corrupt++;
		return;
	}
	total = r->head_len + r->body_len;
	while ((n = cache_iov(c, r, off, 1 + rnd(rs) % 30000, iov, 1 +
	    (int)(rnd(rs) % 8))) > 0)
		for (j = 0; j < n; j++) {
			if (off + iov[j].iov_len > total) {
				k->corrupt++;
				return;
			}
			memcpy(buf + off, iov[j].iov_base, iov[j].iov_len);
			off += iov[j].iov_len;
		}
	if (n == -1) {
		k->changed++;
		return;
	}
	if (off != total || memcmp(buf, head, hl) != 0)
		bad = 1;
	for (i = 0; !bad && i < len; i++)
		if (buf[hl + i] != pat(seed, i))
			bad = 1;
	/* A slice through cache_copy too. */
	if (!bad && total > 0) {
		off = rnd(rs) % total;
		if (cache_copy(c, r, off, buf, total - off) == 0)
			for (i = off; !bad && i < total; i++)
				bad = buf[i - off] != (i < (uint64_t)hl ?
				    (unsigned char)head[i] : pat(seed, i - hl));
	}
	if (!cache_ref_valid(c, r))
		k->changed++;
	else if (bad)
		k->corrupt++;
	else
		k->hits++;
}

static void
hammer(struct cache *c, int slot, uint64_t seed, uint64_t until,
    struct counts *k)
{
	struct cache_writer	 w;
	struct cache_ref	 r;
	struct cache_meta	 m;
	char			 key[32], head[256];
	const char		*vary;
	unsigned char		*buf, *body;
	uint64_t		 s = seed | 1, os;
	uint32_t		 v;
	size_t			 len, off, n;
	int			 kn, hl;

	buf = malloc(200000);
	body = malloc(200000);
	if (buf == NULL || body == NULL)
		_exit(3);
	while (now_ms() < until) {
		k->ops++;
		kn = (int)(rnd(&s) % NKEYS);
		snprintf(key, sizeof(key), "/obj/%d", kn);
		vary = kn % 3 != 0 ? "" : rnd(&s) % 2 ? "enc=gzip" : "enc=br";
		switch (cache_lookup(c, key, strlen(key), match_str,
		    (void *)vary, time(NULL), 5, &r, &m)) {
		case CACHE_FOUND:
			verify(c, &r, &m, key, vary, k, &s, buf);
			if (rnd(&s) % 50 == 0) {
				obj_meta(&m, (uint32_t)m.date, rnd(&s) % 1000);
				(void)cache_update_meta(c, &r, &m);
			}
			break;
		case CACHE_BUSY:
			k->busy++;
			break;
		case CACHE_MISS:
			k->misses++;
			if (cache_begin(c, key, strlen(key), slot, time(NULL),
			    150000, &w) == -1)
				break;
			v = (uint32_t)rnd(&s);
			os = obj_seed(key, v);
			len = obj_len(os);
			fill(body, len, os);
			hl = obj_head(head, sizeof(head), key, vary, v);
			obj_meta(&m, v, 60);
			if (cache_append_head(c, &w, vary, strlen(vary), head,
			    (size_t)hl, &m) == -1)
				break;
			for (off = 0; off < len; off += n) {
				n = 1 + rnd(&s) % 9000;
				if (n > len - off)
					n = len - off;
				if (cache_append(c, &w, body + off, n) == -1)
					break;
			}
			if (rnd(&s) % 20 == 0)
				cache_abort(c, &w);
			else if (cache_writing(&w) && cache_commit(c, &w) == 0)
				k->stores++;
			break;
		}
		if (rnd(&s) % 100 == 0)
			cache_purge(c, key, strlen(key));
		if (rnd(&s) % 3000 == 0)
			cache_purge_prefix(c, "/obj/1", 6);
	}
	free(buf);
	free(body);
}

START_TEST(test_concurrent)
{
	struct cache		*c = cache_create(2 * MiB);
	struct cache_stats	 st;
	struct cache_ref	 r;
	struct counts		*k, sum;
	pid_t			 pid[NWORKERS], victim;
	uint64_t		 start = now_ms(), until = start + RUN_MS, t;
	int			 i, status, left, kills = 0, holder;
	int			 held[2];
	const int		 vslot = NWORKERS;

	k = mmap(NULL, sizeof(*k) * (NWORKERS + 1), PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ck_assert(k != MAP_FAILED);
	memset(k, 0, sizeof(*k) * (NWORKERS + 1));
	for (i = 0; i < NWORKERS; i++) {
		if ((pid[i] = fork()) == 0) {
			alarm(20);
			hammer(c, i, 0x1234567ULL * (i + 1), until, &k[i]);
			_exit(0);
		}
		ck_assert_int_ne(pid[i], -1);
	}
	/*
	 * Meanwhile, as the master would: a worker killed at random points
	 * (holding the mutex, sometimes), reaped, its slot released.
	 */
	ck_assert_int_eq(pipe(held), 0);
	while (now_ms() < until - 100) {
		t = now_ms() * 7919;
		/*
		 * A third of them, the first one included, die holding the
		 * mutex: such a victim says when it holds it, and is killed
		 * only then, so that the run sees wipes however slow the
		 * machine is.
		 */
		holder = kills % 3 == 0;
		if ((victim = fork()) == 0) {
			alarm(20);
			hammer(c, vslot, t, holder ? now_ms() + 3 + t % 20 :
			    until, &k[NWORKERS]);
			if (holder) {
				cache_test_lock(c, (int)(t & 1));
				if (write(held[1], "", 1) != 1)
					_exit(1);
			}
			for (;;)
				pause();
		}
		ck_assert_int_ne(victim, -1);
		if (holder) {
			struct pollfd	 pfd = { held[0], POLLIN, 0 };
			char		 x;

			ck_assert_int_eq(poll(&pfd, 1, 15000), 1);
			ck_assert_int_eq(read(held[0], &x, 1), 1);
		} else
			usleep(5000 + (unsigned)(now_ms() % 50) * 1000);
		kill(victim, SIGKILL);
		ck_assert_int_eq(waitpid(victim, &status, 0), victim);
		/* Killed as meant, not dead earlier of a cache assertion. */
		ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
		    "victim %d: status 0x%x, not SIGKILL", (int)victim, status);
		cache_slot_release(c, vslot);
		kills++;
	}
	/* Wait for the others, within bounds. */
	for (left = NWORKERS; left > 0;) {
		for (i = 0; i < NWORKERS; i++) {
			if (pid[i] == 0 || waitpid(pid[i], &status, WNOHANG) !=
			    pid[i])
				continue;
			ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
			pid[i] = 0;
			left--;
		}
		if (left > 0 && (t = now_ms()) > start + 15000) {
			for (i = 0; i < NWORKERS; i++)
				if (pid[i] != 0)
					kill(pid[i], SIGKILL);
			ck_abort_msg("workers did not finish");
		}
		usleep(10000);
	}
	memset(&sum, 0, sizeof(sum));
	for (i = 0; i <= NWORKERS; i++) {
		sum.hits += k[i].hits;
		sum.stores += k[i].stores;
		sum.misses += k[i].misses;
		sum.busy += k[i].busy;
		sum.changed += k[i].changed;
		sum.corrupt += k[i].corrupt;
		sum.ops += k[i].ops;
	}
	cache_get_stats(c, &st);
	fprintf(stderr, "concurrent: %llu ops, %llu hits, %llu stores, "
	    "%llu misses, %llu busy, %llu changed under the reader, "
	    "%llu corrupt; %llu evictions, %d kills, %llu wipes\n",
	    (unsigned long long)sum.ops, (unsigned long long)sum.hits,
	    (unsigned long long)sum.stores, (unsigned long long)sum.misses,
	    (unsigned long long)sum.busy, (unsigned long long)sum.changed,
	    (unsigned long long)sum.corrupt, (unsigned long long)st.evictions,
	    kills, (unsigned long long)st.wipes);
	close(held[0]);
	close(held[1]);
	ck_assert_uint_eq(sum.corrupt, 0);
	ck_assert_uint_gt(sum.hits, 100);
	ck_assert_uint_gt(sum.stores, 100);
	ck_assert_uint_gt(st.evictions, 0);
	ck_assert_uint_gt(st.wipes, 0);
	ck_assert_uint_eq(st.writing, 0);
	/* Nothing leaked: with every object purged, every block is free. */
	cache_purge_prefix(c, "", 0);
	cache_get_stats(c, &st);
	ck_assert_uint_eq(st.objects, 0);
	ck_assert_uint_eq(st.used, 0);
	ck_assert_int_eq(store(c, "/after", "", 50000, 1, 4096, 1), 0);
	ck_assert_int_eq(find(c, "/after", "", &r, NULL), CACHE_FOUND);
	check_object(c, &r, 50000, 1, 8, SIZE_MAX);
	munmap(k, sizeof(*k) * (NWORKERS + 1));
	cache_destroy(c);
}
END_TEST

static Suite *
cache_suite(void)
{
	Suite	*s = suite_create("cache");
	TCase	*tc = tcase_create("cache");
	TCase	*tp = tcase_create("processes");

	tcase_add_test(tc, test_create_sizes);
	tcase_add_test(tc, test_hash);
	tcase_add_test(tc, test_store_find);
	tcase_add_test(tc, test_writer_reads_back);
	tcase_add_test(tc, test_growing);
	tcase_add_test(tc, test_wake);
	tcase_add_test(tc, test_key_limits);
	tcase_add_test(tc, test_busy);
	tcase_add_test(tc, test_abort);
	tcase_add_test(tc, test_vary);
	tcase_add_test(tc, test_purge);
	tcase_add_test(tc, test_pins);
	tcase_add_test(tc, test_sendfile_punch);
	tcase_add_test(tc, test_variant_cap);
	tcase_add_test(tc, test_update_meta);
	tcase_add_test(tc, test_max_body);
	tcase_add_test(tc, test_large_objects);
	tcase_add_test(tc, test_eviction_clock);
	tcase_add_test(tc, test_eviction_spares_writers);
	tcase_set_timeout(tc, 10);
	suite_add_tcase(s, tc);

	tcase_add_test(tp, test_kill_writer);
	tcase_add_test(tp, test_kill_lock_holder);
	tcase_add_test(tp, test_wipe_keeps_live_writer);
	tcase_add_test(tp, test_concurrent);
	tcase_set_timeout(tp, 20);
	suite_add_tcase(s, tp);
	return s;
}

int
main(void)
{
	SRunner	*sr = srunner_create(cache_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
