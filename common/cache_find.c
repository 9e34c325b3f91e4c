/*
 * cache_find.c: finding objects by key, lock-free (complete ones, and
 * ones still being written that readers may follow), and removing them
 * by key or prefix (PURGE, BAN, invalidation); meta updates after a 304.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/cache.h"
#include "common/cache_int.h"

static int		 purge_one(struct cache *, uint32_t);
static int		 entry_meta(struct cache *, uint32_t, uint64_t,
			    struct cache_meta *);

/*
 * Copy entry i's meta out under its own seqlock, then check that the
 * entry is still at seq.  0, or -1 if it moved (or a meta update would
 * not let go).
 */
static int
entry_meta(struct cache *c, uint32_t i, uint64_t seq, struct cache_meta *meta)
{
	struct cache_entry	*e = ent(c, i);
	uint32_t		 m;
	int			 n;

	for (n = 0; meta != NULL && n < 64; n++) {
		if ((m = LOAD_ACQ(&e->mseq)) & 1)
			continue;
		memcpy(meta, &e->meta, sizeof(*meta));
		FENCE_ACQ();
		if (LOAD(&e->mseq) == m)
			break;
	}
	if (n == 64)
		return -1;
	FENCE_ACQ();
	return LOAD(&e->seq) == seq ? 0 : -1;
}

/*
 * Lock-free: walk the key's chain (bounded; every index checked), and for
 * each candidate copy its key and vary blob out, then confirm its sequence
 * before comparing or showing them to match().  A candidate that moved is
 * skipped: at worst a miss, never a wrong object.
 */
enum cache_lookup_rc
cache_lookup(struct cache *c, const char *key, size_t klen,
    int (*match)(const char *blob, size_t len, void *arg), void *arg,
    int64_t now, int64_t busy_timeout_s, struct cache_ref *ref,
    struct cache_meta *meta)
{
	char			 buf[CACHE_KEY_MAX + CACHE_VARY_MAX];
	struct cache_entry	*e;
	struct cache_ref	 best;
	uint64_t		 h, born, best_born, body_len, s;
	uint32_t		*bk, i, nx, st, vl, first, head_len, steps;
	int			 tries, busy;

	if (klen > CACHE_KEY_MAX)
		return CACHE_MISS;
	h = cache_hash(key, klen);
	bk = bucket_at(c, h);
	for (tries = 0; tries < CACHE_TRIES; tries++) {
		best.idx = NIL;
		best_born = 0;
		busy = 0;
		for (i = LOAD_ACQ(bk), steps = 0; i < c->nblocks &&
		    steps < CACHE_WALK_MAX; i = nx, steps++) {
			e = ent(c, i);
			s = LOAD_ACQ(&e->seq);
			nx = LOAD_ACQ(&e->next);
			if ((s & 1) || LOAD(&e->hash) != h ||
			    LOAD(&e->key_len) != klen)
				continue;
			st = LOAD(&e->state);
			if (st == E_COMPLETE)
				vl = LOAD(&e->vary_len);
			else if (st == E_WRITING && !busy && now -
			    LOAD(&e->begin) < busy_timeout_s)
				vl = 0;
			else
				continue;
			first = LOAD(&e->first);
			head_len = LOAD(&e->head_len);
			body_len = LOAD(&e->body_len);
			born = LOAD(&e->born);
			if (first >= c->nblocks || vl > CACHE_VARY_MAX)
				continue;
			/* The key first: other keys cost no vary copy. */
			memcpy(buf, block(c, first), klen);
			if (memcmp(buf, key, klen) != 0)
				continue;
			memcpy(buf + klen, block(c, first) + klen, vl);
			FENCE_ACQ();
			if (LOAD(&e->seq) != s)
				continue;
			if (st == E_WRITING) {
				busy = 1;
				continue;
			}
			if (best.idx != NIL && born <= best_born)
				continue;
			if (vl > 0 && (match == NULL ||
			    match(buf + klen, vl, arg) != 1))
				continue;
			best.idx = i;
			best.seq = s;
			best.head_len = head_len;
			best.body_len = body_len;
			best.first = first;
			best.skip = (uint32_t)klen + vl;
			best.pin = 0;
			best.follow = 0;
			best.cur_block = first;
			best.cur_pos = 0;
			best_born = born;
		}
		if (best.idx == NIL)
			return busy ? CACHE_BUSY : CACHE_MISS;
		if (entry_meta(c, best.idx, best.seq, meta) == 0) {
			*ref = best;
			/* Mark it used, without dirtying the line when it is. */
			e = ent(c, best.idx);
			if (LOAD(&e->used) != CLOCK_HIT)
				STORE(&e->used, CLOCK_HIT);
			return CACHE_FOUND;
		}
	}
	return CACHE_MISS;
}

/*
 * Lock-free, like cache_lookup, over the WRITING entries of the key that
 * announced their length.
 */
int
cache_lookup_growing(struct cache *c, const char *key, size_t klen,
    int (*match)(const char *blob, size_t len, void *arg), void *arg,
    struct cache_ref *ref, struct cache_meta *meta, uint64_t *expect)
{
	char			 buf[CACHE_KEY_MAX + CACHE_VARY_MAX];
	struct cache_walk	 w;
	struct cache_entry	*e;
	uint64_t		 s, body_len, ex;
	uint32_t		 vl, first, head_len;

	if (klen > CACHE_KEY_MAX)
		return -1;
	cache_walk_init(c, &w, key, klen);
	while ((e = cache_walk_writing(c, &w)) != NULL) {
		s = w.seq;
		head_len = LOAD_ACQ(&e->head_len);
		ex = LOAD(&e->expect);
		body_len = LOAD_ACQ(&e->body_len);
		vl = LOAD(&e->vary_len);
		first = LOAD(&e->first);
		if (head_len == 0 || ex == 0 || body_len > ex ||
		    first >= c->nblocks || vl > CACHE_VARY_MAX)
			continue;
		memcpy(buf, block(c, first), klen);
		if (memcmp(buf, key, klen) != 0)
			continue;
		memcpy(buf + klen, block(c, first) + klen, vl);
		if (meta != NULL)
			memcpy(meta, &e->meta, sizeof(*meta));
		FENCE_ACQ();
		if (LOAD(&e->seq) != s)
			continue;
		if (vl > 0 && (match == NULL || match(buf + klen, vl, arg) != 1))
			continue;
		/* Counted before checked: its commit cannot slip in between. */
		__atomic_add_fetch(&e->followers, 1, __ATOMIC_SEQ_CST);
		if (__atomic_load_n(&e->seq, __ATOMIC_SEQ_CST) != s) {
			cache_follow_drop(e);
			continue;
		}
		memset(ref, 0, sizeof(*ref));
		ref->follow = 1;
		ref->idx = w.i;
		ref->seq = s;
		ref->head_len = head_len;
		ref->body_len = body_len;
		ref->first = first;
		ref->skip = (uint32_t)klen + vl;
		ref->cur_block = NIL;
		*expect = ex;
		return 0;
	}
	return -1;
}

int
cache_update_meta(struct cache *c, const struct cache_ref *ref,
    const struct cache_meta *meta)
{
	struct cache_entry	*e;
	int			 rc = -1;

	if (ref->idx >= c->nblocks || cache_lock(c) == -1)
		return -1;
	e = ent(c, ref->idx);
	if (e->seq == ref->seq && e->state == E_COMPLETE) {
		STORE(&e->mseq, e->mseq | 1);
		FENCE_REL();
		memcpy(&e->meta, meta, sizeof(*meta));
		STORE_REL(&e->mseq, (e->mseq | 1) + 1);
		rc = 0;
	}
	cache_unlock(c);
	return rc;
}

/*
 * Under the lock: retire entry i when it is complete (1), abandon it
 * when it is being written (0).
 */
static int
purge_one(struct cache *c, uint32_t i)
{
	struct cache_entry	*e = ent(c, i);

	if (e->state == E_COMPLETE) {
		cache_entry_retire(c, i, 0);
		return 1;
	}
	if (e->state == E_WRITING)
		cache_entry_abandon(c, i);
	return 0;
}

int
cache_purge(struct cache *c, const char *key, size_t klen)
{
	struct cache_entry	*e;
	uint64_t		 h;
	uint32_t		 i, nx, n;
	int			 count = 0;

	if (klen > CACHE_KEY_MAX)
		return 0;
	h = cache_hash(key, klen);
	if (cache_lock(c) == -1)
		return 0;
	for (i = *bucket_at(c, h), n = 0; i != NIL; i = nx, n++) {
		CACHE_ASSERT(i < c->nblocks && n < c->nblocks);
		e = ent(c, i);
		nx = e->next;
		if (e->hash != h || e->key_len != klen ||
		    memcmp(block(c, e->first), key, klen) != 0)
			continue;
		count += purge_one(c, i);
	}
	cache_unlock(c);
	return count;
}

int
cache_purge_prefix(struct cache *c, const char *prefix, size_t plen)
{
	struct cache_entry	*e;
	uint32_t		 i;
	int			 count = 0;

	if (plen > CACHE_KEY_MAX || cache_lock(c) == -1)
		return 0;
	for (i = 0; i < c->nblocks; i++) {
		e = ent(c, i);
		if ((e->state != E_COMPLETE && e->state != E_WRITING) ||
		    e->key_len < plen ||
		    memcmp(block(c, e->first), prefix, plen) != 0)
			continue;
		count += purge_one(c, i);
	}
	cache_unlock(c);
	return count;
}
