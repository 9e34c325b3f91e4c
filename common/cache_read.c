/*
 * cache_read.c: the readers of an object: pins that keep it whole while
 * a slow client is sent it, the checks that what was read is still the
 * object, streaming its bytes out (iovecs, copies), and followers of an
 * object that is still being written.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/cache.h"
#include "common/cache_int.h"

static int		 stream_seek(struct cache *, struct cache_ref *,
			    uint64_t, uint32_t *, uint32_t *);

/* Drop one pin of entry i; locked: the caller holds the mutex. */
void
cache_unpin_entry(struct cache *c, uint32_t i, int locked)
{
	struct cache_entry	*e = ent(c, i);
	uint32_t		 cur = LOAD(&e->pins);

	do {
		if (cur == 0)
			return;		/* never below zero */
	} while (!__atomic_compare_exchange_n(&e->pins, &cur, cur - 1, 0,
	    __ATOMIC_SEQ_CST, __ATOMIC_RELAXED));
	if (cur != 1 || __atomic_load_n(&e->state, __ATOMIC_SEQ_CST) != E_DOOMED)
		return;
	if (locked)
		cache_doomed_free(c, i);
	else if (cache_lock(c) == 0) {
		cache_doomed_free(c, i);
		cache_unlock(c);
	}
}

/*
 * A worker's row of pins holds (entry + 1, count, blocks) triples: many
 * readers of one object take one triple.  Bytes pinned by all workers
 * together stay under a quarter of the region, so that slow clients
 * cannot hold the whole cache; past that, hits stream unpinned.
 */
int
cache_pin(struct cache *c, struct cache_ref *ref, int slot)
{
	struct cache_entry	*e;
	uint32_t		*row, *t = NULL, nb;
	uint64_t		 bytes;
	int			 k;

	if (ref->pin != 0 || slot < 0 || slot >= CACHE_PIN_SLOTS ||
	    ref->idx >= c->nblocks)
		return -1;
	e = ent(c, ref->idx);
	nb = (uint32_t)((ref->skip + ref->head_len + ref->body_len +
	    CACHE_BLOCK - 1) / CACHE_BLOCK);
	bytes = (uint64_t)nb * CACHE_BLOCK;
	if (LOAD(&c->pinned) + bytes > c->size / 4)
		return -1;
	row = pinrow(c, slot);
	for (k = 0; k < CACHE_PIN_MAX; k++)
		if (row[3 * k] == ref->idx + 1 && row[3 * k + 2] == nb) {
			t = &row[3 * k];
			break;
		}
	if (t == NULL) {
		for (k = 0; k < CACHE_PIN_MAX && row[3 * k] != 0; k++)
			;
		if (k == CACHE_PIN_MAX)
			return -1;
		t = &row[3 * k];
		STORE(&t[1], 0);
		STORE(&t[2], nb);
		STORE(&t[0], ref->idx + 1);
	}
	/*
	 * Recorded before counted: a worker killed in between costs one pin
	 * too few (a reader may be cut), never one that stays forever.
	 */
	STORE(&t[1], t[1] + 1);
	__atomic_add_fetch(&c->pinned, bytes, __ATOMIC_RELAXED);
	__atomic_add_fetch(&e->pins, 1, __ATOMIC_SEQ_CST);
	if (__atomic_load_n(&e->seq, __ATOMIC_SEQ_CST) != ref->seq) {
		ref->pin = (uint32_t)k + 1;
		cache_unpin(c, ref, slot);
		return -1;
	}
	ref->pin = (uint32_t)k + 1;
	return 0;
}

/* Take bytes off the pinned total, never below zero. */
void
cache_pinned_sub(struct cache *c, uint64_t bytes)
{
	uint64_t	 cur = LOAD(&c->pinned);

	while (!__atomic_compare_exchange_n(&c->pinned, &cur,
	    cur > bytes ? cur - bytes : 0, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		;
}

void
cache_unpin(struct cache *c, struct cache_ref *ref, int slot)
{
	uint32_t	*t;

	if (ref->pin == 0 || slot < 0 || slot >= CACHE_PIN_SLOTS ||
	    ref->pin > CACHE_PIN_MAX || ref->idx >= c->nblocks)
		return;
	t = &pinrow(c, slot)[3 * (ref->pin - 1)];
	ref->pin = 0;
	if (LOAD(&t[0]) != ref->idx + 1 || LOAD(&t[1]) == 0)
		return;		/* taken back by a wipe or the master already */
	/* Uncounted before unrecorded, for the same reason. */
	cache_unpin_entry(c, ref->idx, 0);
	cache_pinned_sub(c, (uint64_t)t[2] * CACHE_BLOCK);
	STORE(&t[1], t[1] - 1);
	if (t[1] == 0)
		STORE(&t[0], 0);
}

int
cache_ref_valid(struct cache *c, const struct cache_ref *ref)
{
	uint64_t	 s;

	if (ref->idx >= c->nblocks)
		return 0;
	FENCE_ACQ();
	s = LOAD(&ent(c, ref->idx)->seq);
	/*
	 * A remover that finds the entry pinned sets its sequence odd for a
	 * moment and back: nothing changes then, so a pinned reader that
	 * sees the odd value is still reading the same bytes.
	 */
	return s == ref->seq || (ref->pin != 0 && s == (ref->seq | 1));
}

/*
 * Find the block holding object offset off (lock-free): *b and the offset
 * *in inside it.  -1 if a link is out of range (the object moved).
 */
static int
stream_seek(struct cache *c, struct cache_ref *ref, uint64_t off,
    uint32_t *b, uint32_t *in)
{
	uint32_t	*nx = nextv(c);
	uint64_t	 pos = ref->skip + off, n, at = 0;
	uint32_t	 cur = ref->first;

	if (pos / CACHE_BLOCK >= c->nblocks)
		return -1;
	/* Go on from where the last call was: a long send walks the chain once. */
	if (ref->cur_block < c->nblocks && ref->cur_pos <= pos) {
		cur = ref->cur_block;
		at = ref->cur_pos / CACHE_BLOCK;
	}
	for (n = pos / CACHE_BLOCK - at; n > 0 && cur < c->nblocks; n--)
		cur = LOAD(&nx[cur]);
	if (cur >= c->nblocks)
		return -1;
	ref->cur_block = cur;
	ref->cur_pos = pos - pos % CACHE_BLOCK;
	*b = cur;
	*in = (uint32_t)(pos % CACHE_BLOCK);
	return 0;
}

int
cache_iov(struct cache *c, struct cache_ref *ref, uint64_t off,
    size_t max, struct iovec *iov, int niov)
{
	uint32_t	*nx = nextv(c), b, in;
	uint64_t	 total = ref->head_len + ref->body_len, rem, len;
	char		*p;
	int		 n = 0;

	if (!cache_ref_valid(c, ref))
		return -1;
	if (off >= total || max == 0 || niov <= 0)
		return 0;
	rem = total - off < max ? total - off : max;
	if (stream_seek(c, ref, off, &b, &in) == -1)
		return -1;
	for (;;) {
		len = CACHE_BLOCK - in < rem ? CACHE_BLOCK - in : rem;
		p = block(c, b) + in;
		if (n > 0 && (char *)iov[n - 1].iov_base +
		    iov[n - 1].iov_len == p)
			iov[n - 1].iov_len += len;
		else if (n == niov)
			break;
		else {
			iov[n].iov_base = p;
			iov[n].iov_len = len;
			n++;
		}
		if ((rem -= len) == 0)
			break;
		in = 0;
		if ((b = LOAD(&nx[b])) >= c->nblocks)
			return -1;
	}
	return cache_ref_valid(c, ref) ? n : -1;
}

int
cache_copy(struct cache *c, struct cache_ref *ref, uint64_t off,
    void *dst, size_t len)
{
	uint32_t	*nx = nextv(c), b, in;
	uint64_t	 total = ref->head_len + ref->body_len;
	size_t		 n;
	char		*d = dst;

	if (off > total || len > total - off)
		return -1;
	if (len > 0) {
		if (stream_seek(c, ref, off, &b, &in) == -1)
			return -1;
		for (;;) {
			n = CACHE_BLOCK - in < len ? CACHE_BLOCK - in : len;
			memcpy(d, block(c, b) + in, n);
			d += n;
			if ((len -= n) == 0)
				break;
			in = 0;
			if ((b = LOAD(&nx[b])) >= c->nblocks)
				return -1;
		}
	}
	return cache_ref_valid(c, ref) ? 0 : -1;
}

/* One follower less, never below zero. */
void
cache_follow_drop(struct cache_entry *e)
{
	uint32_t	 cur = LOAD(&e->followers);

	do {
		if (cur == 0)
			return;
	} while (!__atomic_compare_exchange_n(&e->followers, &cur, cur - 1, 0,
	    __ATOMIC_SEQ_CST, __ATOMIC_RELAXED));
}

void
cache_unfollow(struct cache *c, struct cache_ref *ref)
{
	if (!ref->follow)
		return;
	ref->follow = 0;
	if (ref->idx < c->nblocks)
		cache_follow_drop(ent(c, ref->idx));
}

int
cache_ref_grow(struct cache *c, struct cache_ref *ref)
{
	struct cache_entry	*e;
	uint64_t		 s, n;
	uint32_t		 st;

	if (ref->idx >= c->nblocks)
		return -1;
	e = ent(c, ref->idx);
	s = LOAD_ACQ(&e->seq);
	st = LOAD(&e->state);
	n = LOAD_ACQ(&e->body_len);
	FENCE_ACQ();
	if (LOAD(&e->seq) != s || n < ref->body_len)
		return -1;
	if (s == ref->seq && st == E_WRITING) {
		if (LOAD(&e->expect) == 0)
			return -1;	/* its writer gave up */
		ref->body_len = n;
		return 0;
	}
	/*
	 * The commit is the one transition between the two (each moves the
	 * sequence by 2) and leaves every byte where it was.
	 */
	if (s == ref->seq + 2 && st == E_COMPLETE) {
		ref->seq = s;
		ref->body_len = n;
		return 1;
	}
	return -1;
}
