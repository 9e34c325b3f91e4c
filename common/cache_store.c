/*
 * cache_store.c: the writer of an object: begin (a WRITING entry that
 * collapses concurrent misses onto it), append the head and body,
 * announce its length for readers that follow it, commit or abort.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/cache.h"
#include "common/cache_int.h"

static int		 writer_owns(struct cache *, const struct cache_writer *);
static int		 writer_grow(struct cache *, struct cache_writer *,
			    size_t, uint64_t);
static int		 writer_append(struct cache *, struct cache_writer *,
			    const void *, size_t, int);
static int		 writer_put(struct cache *, struct cache_writer *,
			    const char *, size_t, uint64_t);

/* The writer's entry is still its own, WRITING or ABANDONED (locked). */
static int
writer_owns(struct cache *c, const struct cache_writer *w)
{
	struct cache_entry	*e;

	if (w->idx >= c->nblocks)
		return 0;
	e = ent(c, w->idx);
	return e->wseq == w->seq &&
	    (e->state == E_WRITING || e->state == E_ABANDONED);
}

/*
 * Begin an object: one block for the key, a WRITING entry linked at once
 * so that lookups of the key see BUSY.  Fails while another entry for the
 * key is being written (dead writers are released by the master).
 */
int
cache_begin(struct cache *c, const char *key, size_t klen, int slot,
    int64_t now, uint64_t max_body, struct cache_writer *w)
{
	struct cache_entry	*e;
	uint64_t		 h;
	uint32_t		 i, b, n;

	cache_writer_init(w);
	if (klen > CACHE_KEY_MAX || slot < 0) {
		errno = EINVAL;
		return -1;
	}
	h = cache_hash(key, klen);
	if (cache_lock(c) == -1)
		return -1;
	for (i = *bucket_at(c, h), n = 0; i != NIL; i = e->next, n++) {
		CACHE_ASSERT(i < c->nblocks && n < c->nblocks);
		e = ent(c, i);
		if (e->state == E_WRITING && e->hash == h &&
		    e->key_len == klen &&
		    memcmp(block(c, e->first), key, klen) == 0)
			goto busy;
	}
	if ((i = cache_entry_get(c)) == NIL)
		goto full;
	/* NULL: a DIRTY block is punched here, the key goes in now. */
	if (cache_blocks_alloc(c, i, 1, &b, NULL) == -1) {
		cache_entry_put(c, i);
		goto full;
	}
	e = ent(c, i);
	seq_begin(e);
	STORE(&e->hash, h);
	STORE(&e->first, b);
	STORE(&e->key_len, (uint32_t)klen);
	STORE(&e->vary_len, 0);
	STORE(&e->head_len, 0);
	STORE(&e->body_len, 0);
	STORE(&e->expect, 0);
	STORE(&e->followers, 0);
	STORE(&e->waiters, 0);
	STORE(&e->gwaiters, 0);
	STORE(&e->born, 0);
	STORE(&e->begin, now);
	STORE(&e->used, CLOCK_NEW);
	/* A meta update killed halfway must not leave it odd forever. */
	STORE(&e->mseq, (e->mseq + 1) & ~1u);
	e->nblocks = 1;
	e->slot = slot;
	e->wseq = (e->seq | 1) + 1;
	memcpy(block(c, b), key, klen);
	STORE(&e->state, E_WRITING);
	seq_end(e);
	cache_link(c, i);
	STORE(&c->writing, c->writing + 1);
	cache_unlock(c);

	w->idx = i;
	w->seq = e->wseq;
	w->block = b;
	w->fill = (uint32_t)klen;
	w->head_len = 0;
	w->body_len = 0;
	w->max_body = max_body;
	return 0;

busy:
	cache_unlock(c);
	errno = EBUSY;
	return -1;
full:
	cache_unlock(c);
	errno = ENOSPC;
	return -1;
}

/*
 * The writer's tail block is full and len bytes remain to be written, of
 * at most cap still allowed: link more blocks (locked).  A body takes up
 * to CACHE_BATCH at a time, so long bodies lock once per batch.  One
 * object may not take more than half the blocks (it would flush the rest).
 */
static int
writer_grow(struct cache *c, struct cache_writer *w, size_t len, uint64_t cap)
{
	struct cache_entry	*e;
	struct punch_runs	 pr;
	uint64_t		 need, k, most;
	uint32_t		 first;

	need = (len + CACHE_BLOCK - 1) / CACHE_BLOCK;
	most = (cap + CACHE_BLOCK - 1) / CACHE_BLOCK;
	k = need > CACHE_BATCH ? need : CACHE_BATCH;
	if (k > most)
		k = most;
	if (k < need)
		k = need;
	if (cache_lock(c) == -1)
		return -1;
	if (!writer_owns(c, w) || ent(c, w->idx)->state != E_WRITING)
		goto fail;
	e = ent(c, w->idx);
	if (e->nblocks + need > c->nblocks / 2)
		goto fail;
	if (e->nblocks + k > c->nblocks / 2)
		k = c->nblocks / 2 - e->nblocks;
	/* Evict for what is needed, never for blocks taken ahead. */
	if (k > need && k > c->nfree)
		k = c->nfree > need ? c->nfree : need;
	pr.n = 0;
	if (cache_blocks_alloc(c, w->idx, (uint32_t)k, &first, &pr) == -1)
		goto fail;
	STORE(&nextv(c)[w->block], first);
	e->nblocks += (uint32_t)k;
	cache_unlock(c);
	/* Before the first write into them, and outside the mutex. */
	cache_punch_runs(c, &pr);
	return 0;

fail:
	cache_unlock(c);
	return -1;
}

/*
 * Copy len bytes onto the end of the writer's object, without the lock
 * unless blocks run out.  cap: bytes the object may still take, len
 * included (sizes the batches).
 */
static int
writer_put(struct cache *c, struct cache_writer *w, const char *p, size_t len,
    uint64_t cap)
{
	uint32_t	*nx = nextv(c);
	size_t		 n;

	while (len > 0) {
		if (w->fill == CACHE_BLOCK) {
			if (nx[w->block] == NIL &&
			    writer_grow(c, w, len, cap) == -1)
				return -1;
			w->block = nx[w->block];
			w->fill = 0;
		}
		n = CACHE_BLOCK - w->fill < len ? CACHE_BLOCK - w->fill : len;
		memcpy(block(c, w->block) + w->fill, p, n);
		w->fill += (uint32_t)n;
		p += n;
		len -= n;
		cap -= n;
	}
	return 0;
}

int
cache_append_head(struct cache *c, struct cache_writer *w, const char *vary,
    size_t vlen, const char *head, size_t hlen, const struct cache_meta *meta)
{
	struct cache_entry	*e;

	if (!cache_writing(w))
		return -1;
	e = ent(c, w->idx);
	if (vlen > CACHE_VARY_MAX || hlen == 0 || hlen > UINT32_MAX / 2 ||
	    meta == NULL || w->head_len != 0 || w->body_len != 0 ||
	    LOAD(&e->seq) != w->seq || w->block != e->first ||
	    w->fill + vlen > CACHE_BLOCK)
		goto fail;
	/* Nobody reads these before the commit publishes them. */
	memcpy(block(c, w->block) + w->fill, vary, vlen);
	w->fill += (uint32_t)vlen;
	STORE(&e->vary_len, (uint32_t)vlen);
	memcpy(&e->meta, meta, sizeof(*meta));
	if (writer_put(c, w, head, hlen, hlen) == -1)
		goto fail;
	w->head_len = (uint32_t)hlen;
	return 0;

fail:
	cache_abort(c, w);
	return -1;
}

/*
 * Append data to the body of w's object.  When it does not fit (the
 * object's limit, the cache's space), keep set: the object stays as it
 * was, readers following it stop, ENOSPC; keep clear: it is abandoned.
 * Purged or wiped meanwhile: abandoned either way.
 */
static int
writer_append(struct cache *c, struct cache_writer *w, const void *data,
    size_t len, int keep)
{
	if (!cache_writing(w))
		return -1;
	if (len == 0)
		return 0;
	/* Purged or wiped meanwhile: stop copying into what nobody will see. */
	if (w->head_len == 0 || LOAD(&ent(c, w->idx)->seq) != w->seq) {
		cache_abort(c, w);
		return -1;
	}
	if (len > w->max_body - w->body_len ||
	    writer_put(c, w, data, len, w->max_body - w->body_len) == -1) {
		if (!keep) {
			cache_abort(c, w);
			return -1;
		}
		/*
		 * What did not fit is not counted; it will not be whole:
		 * readers following it stop now.
		 */
		STORE(&ent(c, w->idx)->expect, 0);
		cache_wake_now(c, ent(c, w->idx), 1);
		errno = ENOSPC;
		return -1;
	}
	w->body_len += len;
	/* For readers that follow it (cache_lookup_growing): bytes first. */
	STORE_REL(&ent(c, w->idx)->body_len, w->body_len);
	cache_wake_now(c, ent(c, w->idx), 1);
	return 0;
}

int
cache_append(struct cache *c, struct cache_writer *w, const void *data,
    size_t len)
{
	return writer_append(c, w, data, len, 0);
}

/*
 * The writer's own object as it grows: its bytes are the writer's, and
 * stay where they are until it commits or aborts.  A purge meanwhile
 * changes the sequence (the reads then fail).
 */
int
cache_writer_ref(struct cache *c, const struct cache_writer *w,
    struct cache_ref *ref)
{
	struct cache_entry	*e;

	if (!cache_writing(w) || w->head_len == 0 || w->idx >= c->nblocks)
		return -1;
	e = ent(c, w->idx);
	memset(ref, 0, sizeof(*ref));
	ref->idx = w->idx;
	ref->seq = w->seq;
	ref->head_len = w->head_len;
	ref->body_len = w->body_len;
	ref->first = LOAD(&e->first);
	ref->skip = LOAD(&e->key_len) + LOAD(&e->vary_len);
	ref->cur_block = NIL;
	FENCE_ACQ();
	return LOAD(&e->seq) == w->seq ? 0 : -1;
}

int
cache_append_keep(struct cache *c, struct cache_writer *w, const void *data,
    size_t len)
{
	return writer_append(c, w, data, len, 1);
}

int
cache_writer_expect(struct cache *c, struct cache_writer *w, uint64_t body_len)
{
	struct cache_entry	*e;

	if (!cache_writing(w) || w->head_len == 0 || body_len == 0 ||
	    (body_len > w->max_body && body_len != CACHE_EXPECT_UNKNOWN))
		return -1;
	e = ent(c, w->idx);
	if (LOAD(&e->seq) != w->seq)
		return -1;
	/* The vary blob, head and meta are written: readers may come. */
	STORE(&e->expect, body_len);
	STORE_REL(&e->head_len, w->head_len);
	/* Waiters for the whole object may follow it now. */
	cache_wake_now(c, e, 0);
	return 0;
}

int
cache_commit(struct cache *c, struct cache_writer *w)
{
	return cache_commit_ref(c, w, NULL);
}

/*
 * Publish the object (locked): blocks taken ahead and unused go back,
 * the entry turns COMPLETE under its seqlock, and older complete objects
 * with the same key and vary blob are freed.
 */
int
cache_commit_ref(struct cache *c, struct cache_writer *w, struct cache_ref *ref)
{
	struct cache_entry	*e, *p;
	uint32_t		*nx = nextv(c), i, j, n, spare, len, old, nvar;

	if (!cache_writing(w))
		return -1;
	if (cache_lock(c) == -1) {
		cache_writer_init(w);
		return -1;
	}
	i = w->idx;
	if (!writer_owns(c, w) || ent(c, i)->state != E_WRITING ||
	    w->head_len == 0) {
		if (writer_owns(c, w))
			cache_entry_free(c, i);
		goto fail;
	}
	e = ent(c, i);
	for (spare = nx[w->block], n = 0; spare != NIL; spare = nx[spare]) {
		CACHE_ASSERT(spare < c->nblocks && n < e->nblocks);
		n++;
	}
	if (n > 0) {
		cache_blocks_free(c, i, nx[w->block], n, NIL);	/* punched */
		STORE(&nx[w->block], NIL);
		e->nblocks -= n;
	}
	seq_begin(e);
	STORE(&e->head_len, w->head_len);
	STORE(&e->body_len, w->body_len);
	STORE(&e->born, ++c->born);
	STORE(&e->used, CLOCK_NEW);
	STORE(&e->state, E_COMPLETE);
	seq_end(e);
	cache_wake_take(c, e);
	STORE(&c->writing, c->writing - 1);
	STORE(&c->objects, c->objects + 1);

	len = e->key_len + e->vary_len;
	do {
		/*
		 * Older objects of the same variant go; so do the oldest
		 * variants beyond CACHE_VARIANTS, so that a Vary on a field
		 * with countless values cannot grow one chain without end.
		 */
		old = NIL;
		nvar = 0;
		for (j = *bucket_at(c, e->hash), n = 0; j != NIL; j = p->next, n++) {
			CACHE_ASSERT(j < c->nblocks && n < c->nblocks);
			p = ent(c, j);
			if (j == i || p->state != E_COMPLETE || p->hash != e->hash ||
			    p->key_len != e->key_len ||
			    memcmp(block(c, p->first), block(c, e->first),
			    e->key_len) != 0)
				continue;
			if (p->vary_len == e->vary_len &&
			    memcmp(block(c, p->first), block(c, e->first), len) == 0) {
				cache_entry_retire(c, j, 0);	/* p->next survives this */
				continue;
			}
			nvar++;
			if (old == NIL || p->born < ent(c, old)->born)
				old = j;
		}
		if (nvar + 1 <= CACHE_VARIANTS)
			break;
		cache_entry_retire(c, old, 0);
	} while (nvar + 1 > CACHE_VARIANTS + 1);
	if (ref != NULL) {
		memset(ref, 0, sizeof(*ref));
		ref->idx = i;
		ref->seq = e->seq;
		ref->head_len = e->head_len;
		ref->body_len = e->body_len;
		ref->first = e->first;
		ref->skip = e->key_len + e->vary_len;
		ref->cur_block = NIL;
	}
	cache_unlock(c);
	cache_writer_init(w);
	return 0;

fail:
	cache_unlock(c);
	cache_writer_init(w);
	return -1;
}

void
cache_abort(struct cache *c, struct cache_writer *w)
{
	if (!cache_writing(w))
		return;
	if (cache_lock(c) == 0) {
		if (writer_owns(c, w))
			cache_entry_free(c, w->idx);
		cache_unlock(c);
	}
	cache_writer_init(w);
}
