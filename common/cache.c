/*
 * cache.c: the shared-memory response store (the contract is in cache.h,
 * the layout in cache_int.h): the region, its robust mutex and the wipe
 * after a holder died, the entries and the index chains, the block
 * allocator and CLOCK eviction, and taking back what a dead worker held.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "common/cache.h"
#include "common/cache_int.h"
#include "common/shm.h"

static void		 cache_wipe(struct cache *);
static void		 cache_evict(struct cache *, uint32_t);

static inline uint64_t
rd64(const unsigned char *p)
{
	uint64_t	 v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static inline uint64_t
rd32(const unsigned char *p)
{
	uint32_t	 v;

	memcpy(&v, p, sizeof(v));
	return v;
}

uint64_t
cache_hash(const char *key, size_t len)
{
	const unsigned char	*p = (const unsigned char *)key;
	uint64_t		 h = H_P0 ^ (uint64_t)len, a, b;
	size_t			 n = len;

	while (n > 16) {
		h = mum(rd64(p) ^ H_P1, rd64(p + 8) ^ h);
		p += 16;
		n -= 16;
	}
	/* 0..16 bytes left (0 only for an empty key): overlapping reads. */
	if (n >= 8) {
		a = rd64(p);
		b = rd64(p + n - 8);
	} else if (n >= 4) {
		a = rd32(p);
		b = rd32(p + n - 4);
	} else if (n > 0) {
		a = (uint64_t)p[0] << 16 | (uint64_t)p[n >> 1] << 8 | p[n - 1];
		b = 0;
	} else
		a = b = 0;
	return mum(mum(a ^ H_P1, b ^ h) ^ H_P2, (uint64_t)len ^ H_P3);
}

/* Where everything goes in a region of a given size. */
struct geometry {
	uint64_t	 nblocks, nbuckets;
	uint64_t	 ob, oe, on, oo, op, od;
};

/*
 * Lay out a region of size bytes.  Refuses less than 1 MiB and more
 * blocks than 32-bit indices can name: -1 with errno set.
 */
static int
geometry(size_t size, struct geometry *g)
{
	uint64_t	 n, nbk, hdr, per, pinb;

	if (size < CACHE_MIN_SIZE) {
		errno = EINVAL;
		return -1;
	}
	/*
	 * Per block: the data, an entry, next and owner, and up to two
	 * buckets (their count is rounded up to a power of two).
	 */
	hdr = CACHE_PAGE;
	pinb = (uint64_t)CACHE_PIN_SLOTS * CACHE_PIN_MAX * 3 * sizeof(uint32_t);
	per = CACHE_BLOCK + sizeof(struct cache_entry) + 2 * sizeof(uint32_t) +
	    2 * sizeof(uint32_t);
	n = ((uint64_t)size - hdr - CACHE_PAGE - pinb) / per;
	if (n >= CACHE_MAX_BLOCKS || n < 64) {
		errno = EINVAL;
		return -1;
	}
	for (nbk = 1; nbk < n; nbk <<= 1)
		;
	for (;; n--) {
		g->ob = hdr;
		g->oe = (g->ob + nbk * sizeof(uint32_t) + 63) & ~(uint64_t)63;
		g->on = g->oe + n * sizeof(struct cache_entry);
		g->oo = g->on + n * sizeof(uint32_t);
		g->op = g->oo + n * sizeof(uint32_t);
		g->od = (g->op + pinb + CACHE_PAGE - 1) &
		    ~(uint64_t)(CACHE_PAGE - 1);
		if (g->od + n * CACHE_BLOCK <= size)
			break;
	}
	g->nblocks = n;
	g->nbuckets = nbk;
	return 0;
}

/*
 * The memfd behind each region this process created or attached (the
 * master has two at most, during a reload that changes the size), so
 * that a binary upgrade can hand it over; wake: this mapping closes the
 * region's wake-up eventfds when it goes (not a second mapping of a
 * region this process already has).
 */
#define CACHE_FDS	8
static struct {
	struct cache	*c;
	int		 fd;
	int		 wake;
} cache_fds[CACHE_FDS];

static int
fd_remember(struct cache *c, int fd, int wake)
{
	int	 i;

	for (i = 0; i < CACHE_FDS; i++)
		if (cache_fds[i].c == NULL) {
			cache_fds[i].c = c;
			cache_fds[i].fd = fd;
			cache_fds[i].wake = wake;
			return 0;
		}
	errno = EMFILE;
	return -1;
}

int
cache_memfd(const struct cache *c)
{
	int	 i;

	for (i = 0; i < CACHE_FDS; i++)
		if (cache_fds[i].c == c && c != NULL)
			return cache_fds[i].fd;
	return -1;
}

/*
 * Master: map and lay out a region of size bytes.  Refuses less than
 * 1 MiB, more than physical memory, and more blocks than 32-bit indices
 * can name.  NULL with errno set.
 */
struct cache *
cache_create(size_t size)
{
	struct cache		*c;
	struct cache_entry	*e;
	struct geometry		 g;
	pthread_mutexattr_t	 ma;
	uint32_t		*bk, *nx, *ow, i, n;
	long			 pages, psz;
	int			 rc, fd;

	if (geometry(size, &g) == -1)
		return NULL;
	pages = sysconf(_SC_PHYS_PAGES);
	psz = sysconf(_SC_PAGESIZE);
	if (pages > 0 && psz > 0 &&
	    (uint64_t)size / (uint64_t)psz > (uint64_t)pages) {
		errno = ENOMEM;
		return NULL;
	}
	if ((c = shm_map_new("portico-cache", size, &fd)) == NULL)
		return NULL;
	/* The mapping is zero: FREE entries with seq 0.  Set what is not. */
	c->magic = CACHE_MAGIC;
	c->version = CACHE_VERSION;
	c->size = size;
	if (getrandom(&c->seed, sizeof(c->seed), GRND_NONBLOCK) !=
	    (ssize_t)sizeof(c->seed))
		c->seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32) ^
		    (uint64_t)(uintptr_t)c;
	n = (uint32_t)g.nblocks;
	c->nbuckets = (uint32_t)g.nbuckets;
	c->nblocks = n;
	c->entry_size = sizeof(struct cache_entry);
	c->off_bucket = g.ob;
	c->off_entry = g.oe;
	c->off_next = g.on;
	c->off_owner = g.oo;
	c->off_pins = g.op;
	c->off_data = g.od;

	if ((rc = pthread_mutexattr_init(&ma)) != 0)
		goto fail;
	if ((rc = pthread_mutexattr_setpshared(&ma, PTHREAD_PROCESS_SHARED)) ||
	    (rc = pthread_mutexattr_setrobust(&ma, PTHREAD_MUTEX_ROBUST)) ||
	    (rc = pthread_mutex_init(&c->mtx, &ma))) {
		pthread_mutexattr_destroy(&ma);
		goto fail;
	}
	pthread_mutexattr_destroy(&ma);
	if (cache_wake_create(c) == -1) {
		rc = errno;
		pthread_mutex_destroy(&c->mtx);
		goto fail;
	}

	bk = (uint32_t *)((char *)c + g.ob);
	memset(bk, 0xff, g.nbuckets * sizeof(uint32_t));
	nx = nextv(c);
	ow = ownerv(c);
	for (i = 0; i < n; i++) {
		nx[i] = i + 1 < n ? i + 1 : NIL;
		ow[i] = NIL;
		e = ent(c, i);
		e->next = NIL;
		e->fnext = i + 1 < n ? i + 1 : NIL;
		e->slot = -1;
	}
	c->free_block = 0;
	c->nfree = n;
	c->free_entry = 0;
	if (fd_remember(c, fd, 1) == -1) {
		rc = errno;
		cache_wake_destroy(c);
		goto fail;
	}
	return c;

fail:
	munmap(c, size);
	close(fd);
	errno = rc;
	return NULL;
}

int
cache_check(const struct cache *c, size_t maplen, char *why, size_t whylen)
{
	struct geometry	 g;

	if (maplen < CACHE_PAGE || c->magic != CACHE_MAGIC) {
		snprintf(why, whylen, "not a portico cache region");
		return -1;
	}
	if (c->version != CACHE_VERSION) {
		snprintf(why, whylen, "cache layout version %u, this binary "
		    "has %u", c->version, CACHE_VERSION);
		return -1;
	}
	if (c->size != maplen || geometry(maplen, &g) == -1 ||
	    c->entry_size != sizeof(struct cache_entry) ||
	    c->nblocks != g.nblocks || c->nbuckets != g.nbuckets ||
	    c->off_bucket != g.ob || c->off_entry != g.oe ||
	    c->off_next != g.on || c->off_owner != g.oo ||
	    c->off_pins != g.op || c->off_data != g.od) {
		snprintf(why, whylen, "cache geometry differs from this "
		    "binary's layout");
		return -1;
	}
	return 0;
}

struct cache *
cache_attach(int fd, char *why, size_t whylen)
{
	struct cache	*c;
	size_t		 len;
	int		 i, own;

	why[0] = '\0';
	if ((c = shm_map_fd(fd, &len)) == NULL) {
		snprintf(why, whylen, "cannot map it: %s", strerror(errno));
		return NULL;
	}
	if (cache_check(c, len, why, whylen) == -1)
		goto fail;
	/*
	 * Another mapping of a region this process has already holds its
	 * eventfds; else they must have been handed over with the memfd.
	 */
	for (i = 0, own = 1; i < CACHE_FDS; i++)
		if (cache_fds[i].c != NULL && cache_fds[i].wake &&
		    cache_fds[i].c->seed == c->seed &&
		    cache_fds[i].c->wake_fd[0] == c->wake_fd[0])
			own = 0;
	if (own && cache_wake_attach(c, why, whylen) == -1)
		goto fail;
	if (fd_remember(c, fd, own) == -1) {
		snprintf(why, whylen, "too many cache regions");
		goto fail;
	}
	return c;

fail:
	munmap(c, len);
	return NULL;
}

/*
 * Unmap c and close its memfd.  The mutex is left alone: after a binary
 * upgrade the other master's workers still use the region, which goes
 * when the last process unmaps it.
 */
void
cache_destroy(struct cache *c)
{
	int	 i;

	if (c == NULL)
		return;
	for (i = 0; i < CACHE_FDS; i++)
		if (cache_fds[i].c == c) {
			if (cache_fds[i].wake)
				cache_wake_destroy(c);
			close(cache_fds[i].fd);
			cache_fds[i].c = NULL;
		}
	munmap(c, c->size);
}

size_t
cache_size(const struct cache *c)
{
	return c->size;
}

/*
 * Take the mutex.  If its holder died, whatever it was editing is suspect:
 * rebuild the index before going on.  -1 only if the mutex is unusable.
 */
int
cache_lock(struct cache *c)
{
	int	 rc;

	rc = pthread_mutex_lock(&c->mtx);
	if (rc == EOWNERDEAD) {
		/* Dying in here again just repeats this in the next taker. */
		cache_wipe(c);
		if ((rc = pthread_mutex_consistent(&c->mtx)) != 0)
			pthread_mutex_unlock(&c->mtx);
	}
	if (rc != 0) {
		errno = rc;
		return -1;
	}
	return 0;
}

/* Let the mutex go, then wake the waiters of what changed under it. */
void
cache_unlock(struct cache *c)
{
	uint64_t	 wake = c->wake_pending;

	c->wake_pending = 0;
	pthread_mutex_unlock(&c->mtx);
	if (wake != 0)
		cache_wake_groups(c, wake);
}

/*
 * The holder of the mutex died (locked): empty the index.  Every entry
 * changes sequence, so no reference survives; COMPLETE ones are dropped;
 * WRITING ones become ABANDONED but keep their blocks, because their
 * writers may be alive and copying into them.  Both free lists are
 * rebuilt from entry states and owner[] only.
 */
static void
cache_wipe(struct cache *c)
{
	struct cache_entry	*e;
	uint32_t		*bk, *nx, *ow, i, st, o;
	uint64_t		 s;
	int			 punch = 0;

	for (i = 0; i < c->nblocks; i++) {
		e = ent(c, i);
		s = e->seq;
		st = e->state;
		if (LOAD(&e->refsent)) {
			punch = 1;
			STORE(&e->refsent, 0);
		}
		STORE(&e->seq, s | 1);
		FENCE_REL();
		STORE(&e->next, NIL);
		STORE(&e->state, st == E_WRITING || st == E_ABANDONED ?
		    E_ABANDONED : E_FREE);
		STORE_REL(&e->seq, (s | 1) + 1);
	}
	bk = (uint32_t *)((char *)c + c->off_bucket);
	for (i = 0; i < c->nbuckets; i++)
		STORE(&bk[i], NIL);
	c->free_entry = NIL;
	for (i = c->nblocks; i-- > 0;) {
		e = ent(c, i);
		if (e->state == E_FREE) {
			e->fnext = c->free_entry;
			c->free_entry = i;
		}
	}
	nx = nextv(c);
	ow = ownerv(c);
	c->free_block = NIL;
	c->nfree = 0;
	for (i = c->nblocks; i-- > 0;) {
		o = ow[i];
		if (o < c->nblocks && ent(c, o)->state == E_ABANDONED)
			continue;
		if (o == DIRTY)
			punch = 1;
		ow[i] = NIL;
		STORE(&nx[i], c->free_block);
		c->free_block = i;
		c->nfree++;
	}
	/* Some object was sent by reference: no freed page may be reused. */
	if (punch)
		cache_punch_free(c);
	STORE(&c->objects, 0);
	STORE(&c->writing, 0);
	c->hand = 0;
	STORE(&c->wipes, c->wipes + 1);
	/* Whoever waited for an object looks again. */
	c->wake_pending = ~(uint64_t)0;
}

/* Put entry i at the head of its chain (locked). */
void
cache_link(struct cache *c, uint32_t i)
{
	struct cache_entry	*e = ent(c, i);
	uint32_t		*bk = bucket_at(c, e->hash);

	STORE(&e->next, *bk);
	STORE_REL(bk, i);
}

/*
 * Take entry i out of its chain (locked).  Its own next link stays, so a
 * reader standing on it walks on into the chain.
 */
void
cache_unlink(struct cache *c, uint32_t i)
{
	struct cache_entry	*e = ent(c, i), *p;
	uint32_t		*bk = bucket_at(c, e->hash), j, n;

	if (*bk == i) {
		STORE_REL(bk, e->next);
		return;
	}
	for (j = *bk, n = 0; j != NIL && n < c->nblocks; j = p->next, n++) {
		CACHE_ASSERT(j < c->nblocks);
		p = ent(c, j);
		if (p->next == i) {
			STORE_REL(&p->next, e->next);
			return;
		}
	}
	CACHE_ASSERT(0);
}

/* A free entry, off the list (locked); NIL if none. */
uint32_t
cache_entry_get(struct cache *c)
{
	uint32_t	 i = c->free_entry;

	if (i == NIL)
		return NIL;
	CACHE_ASSERT(i < c->nblocks && ent(c, i)->state == E_FREE);
	c->free_entry = ent(c, i)->fnext;
	return i;
}

void
cache_entry_put(struct cache *c, uint32_t i)
{
	ent(c, i)->fnext = c->free_entry;
	c->free_entry = i;
}

/*
 * Free entry i and its blocks (locked): out of its chain, every reference
 * to it invalid.  Walks its block chain, which is consistent under the
 * mutex; stops at a block it does not own rather than free someone else's.
 */
void
cache_entry_free(struct cache *c, uint32_t i)
{
	struct cache_entry	*e = ent(c, i);
	uint32_t		 st = e->state;

	seq_begin(e);
	if (st == E_WRITING || st == E_COMPLETE)
		cache_unlink(c, i);
	/*
	 * Socket buffers may hold its pages: the blocks go back DIRTY, and
	 * the next owner punches them (outside the mutex) before writing.
	 */
	cache_blocks_free(c, i, e->first, e->nblocks,
	    __atomic_load_n(&e->refsent, __ATOMIC_SEQ_CST) ? DIRTY : NIL);
	STORE(&e->refsent, 0);
	e->nblocks = 0;
	if (st == E_COMPLETE)
		STORE(&c->objects, c->objects - 1);
	else if (st == E_WRITING)
		STORE(&c->writing, c->writing - 1);
	STORE(&e->state, E_FREE);
	seq_end(e);
	if (st == E_WRITING || st == E_ABANDONED)
		cache_wake_take(c, e);
	cache_entry_put(c, i);
}

/*
 * A WRITING entry nobody may find any more (locked): unlinked, and its
 * writer's commit will fail; the blocks stay its writer's to free.
 */
void
cache_entry_abandon(struct cache *c, uint32_t i)
{
	struct cache_entry	*e = ent(c, i);

	seq_begin(e);
	cache_unlink(c, i);
	STORE(&e->state, E_ABANDONED);
	seq_end(e);
	STORE(&c->writing, c->writing - 1);
	cache_wake_take(c, e);
}

/*
 * Take complete entry i out of service (locked).  Unpinned, it is freed.
 * Pinned by readers still sending it: with evict, it stays; otherwise it
 * is unlinked and DOOMED, its sequence and bytes left as they were for
 * those readers, and the last of them frees it.  Returns 1 if removed.
 */
int
cache_entry_retire(struct cache *c, uint32_t i, int evict)
{
	struct cache_entry	*e = ent(c, i);
	uint64_t		 s = e->seq;

	__atomic_store_n(&e->seq, s | 1, __ATOMIC_SEQ_CST);
	if (__atomic_load_n(&e->pins, __ATOMIC_SEQ_CST) == 0) {
		cache_entry_free(c, i);
		return 1;
	}
	if (evict) {
		STORE_REL(&e->seq, s);
		return 0;
	}
	cache_unlink(c, i);
	STORE(&c->objects, c->objects - 1);
	__atomic_store_n(&e->state, E_DOOMED, __ATOMIC_SEQ_CST);
	STORE_REL(&e->seq, s);
	/* Its last reader may have let go before it could see DOOMED. */
	if (__atomic_load_n(&e->pins, __ATOMIC_SEQ_CST) == 0)
		cache_entry_free(c, i);
	return 1;
}

/* A DOOMED entry's last pin went (locked): free it unless pinned again. */
void
cache_doomed_free(struct cache *c, uint32_t i)
{
	struct cache_entry	*e = ent(c, i);
	uint64_t		 s = e->seq;

	if (e->state != E_DOOMED)
		return;
	__atomic_store_n(&e->seq, s | 1, __ATOMIC_SEQ_CST);
	if (__atomic_load_n(&e->pins, __ATOMIC_SEQ_CST) > 0) {
		STORE_REL(&e->seq, s);
		return;
	}
	cache_entry_free(c, i);
}

/*
 * Take k blocks for entry o off the free list (locked), evicting first if
 * needed; *first heads them, linked in order and ended by NIL.  owner[] is
 * set before the list moves: a wipe trusts owner[], not the list.
 */
int
cache_blocks_alloc(struct cache *c, uint32_t o, uint32_t k, uint32_t *first,
    struct punch_runs *pr)
{
	struct punch_runs	 local;
	uint32_t		*nx = nextv(c), *ow = ownerv(c), b, n;

	if (pr == NULL) {
		local.n = 0;
		pr = &local;
	}
	if (c->nfree < k)
		cache_evict(c, k);
	if (c->nfree < k || k == 0)
		return -1;
	*first = b = c->free_block;
	for (n = 1;; n++) {
		CACHE_ASSERT(b < c->nblocks && (ow[b] == NIL || ow[b] == DIRTY));
		if (ow[b] == DIRTY)
			cache_punch_add(c, pr, b);
		ow[b] = o;
		if (n == k)
			break;
		b = nx[b];
	}
	c->free_block = nx[b];
	STORE(&nx[b], NIL);
	c->nfree -= k;
	if (pr == &local)
		cache_punch_runs(c, &local);	/* the caller writes at once */
	return 0;
}

/*
 * Return up to count blocks of entry o's chain from first (locked), as
 * mark: NIL, or DIRTY when socket buffers may still hold their pages.
 */
void
cache_blocks_free(struct cache *c, uint32_t o, uint32_t first, uint32_t count,
    uint32_t mark)
{
	uint32_t	*nx = nextv(c), *ow = ownerv(c), b, last = NIL, n;

	for (b = first, n = 0; n < count && b < c->nblocks && ow[b] == o;
	    n++, b = nx[b]) {
		ow[b] = mark;
		last = b;
	}
	if (n == 0)
		return;
	/* Splice the run on whole: its order, hence adjacency, is kept. */
	STORE(&nx[last], c->free_block);
	c->free_block = first;
	c->nfree += n;
}

/*
 * CLOCK (locked): until need blocks are free, the hand visits entries;
 * a complete one with weight left loses one, one without is evicted.
 * Three turns bring every complete entry to zero; after that, what is
 * left is being written and cannot go.
 */
static void
cache_evict(struct cache *c, uint32_t need)
{
	struct cache_entry	*e;
	uint64_t		 steps, limit = 3 * (uint64_t)c->nblocks;
	uint32_t		 i, u;

	for (steps = 0; c->nfree < need && steps < limit; steps++) {
		i = c->hand;
		c->hand = i + 1 < c->nblocks ? i + 1 : 0;
		e = ent(c, i);
		if (e->state != E_COMPLETE ||
		    __atomic_load_n(&e->followers, __ATOMIC_SEQ_CST) > 0)
			continue;
		if ((u = LOAD(&e->used)) > 0) {
			STORE(&e->used, u - 1);
			continue;
		}
		if (cache_entry_retire(c, i, 1))	/* not while a reader streams it */
			STORE(&c->evictions, c->evictions + 1);
	}
}

/*
 * Master: the worker in slot died.  Its entries go, WRITING or ABANDONED;
 * their blocks are found through owner[], since the worker may have died
 * halfway through linking one.
 */
void
cache_slot_release(struct cache *c, int slot)
{
	struct cache_entry	*e;
	uint32_t		*nx = nextv(c), *ow = ownerv(c), i, o, n = 0;

	if (cache_lock(c) == -1)
		return;
	if (slot >= 0 && slot < CACHE_PIN_SLOTS) {
		uint32_t	*t = pinrow(c, slot), k, j;

		for (k = 0; k < CACHE_PIN_MAX; k++, t += 3) {
			if (t[0] != 0 && t[0] <= c->nblocks) {
				for (j = 0; j < t[1]; j++)
					cache_unpin_entry(c, t[0] - 1, 1);
				cache_pinned_sub(c, (uint64_t)t[1] * t[2] * CACHE_BLOCK);
			}
			t[0] = t[1] = t[2] = 0;
		}
	}
	for (i = 0; i < c->nblocks; i++) {
		e = ent(c, i);
		if (e->slot != slot ||
		    (e->state != E_WRITING && e->state != E_ABANDONED))
			continue;
		seq_begin(e);
		if (e->state == E_WRITING) {
			cache_unlink(c, i);
			STORE(&c->writing, c->writing - 1);
		}
		STORE(&e->state, E_RELEASING);
		cache_wake_take(c, e);
		n++;
	}
	if (n > 0) {
		for (i = c->nblocks; i-- > 0;) {
			o = ow[i];
			if (o >= c->nblocks || ent(c, o)->state != E_RELEASING)
				continue;
			/* It may have died before punching what it took. */
			ow[i] = cache_memfd(c) != -1 ? DIRTY : NIL;
			STORE(&nx[i], c->free_block);
			c->free_block = i;
			c->nfree++;
		}
		for (i = 0; i < c->nblocks; i++) {
			e = ent(c, i);
			if (e->state != E_RELEASING)
				continue;
			e->nblocks = 0;
			STORE(&e->state, E_FREE);
			seq_end(e);
			cache_entry_put(c, i);
		}
	}
	cache_unlock(c);
}

void
cache_get_stats(struct cache *c, struct cache_stats *st)
{
	st->size = c->size;
	st->used = (uint64_t)(c->nblocks - LOAD(&c->nfree)) * CACHE_BLOCK;
	st->objects = LOAD(&c->objects);
	st->writing = LOAD(&c->writing);
	st->evictions = LOAD(&c->evictions);
	st->wipes = LOAD(&c->wipes);
}

/*
 * Tests only: take the mutex and keep it.  With scramble, also stop the
 * way an eviction killed halfway would: a complete entry odd, its first
 * block pushed on the free list though still chained, counters stale.
 */
void
cache_test_lock(struct cache *c, int scramble)
{
	struct cache_entry	*e;
	uint32_t		 i, b;

	if (cache_lock(c) == -1 || !scramble)
		return;
	for (i = 0; i < c->nblocks; i++) {
		e = ent(c, i);
		if (e->state != E_COMPLETE)
			continue;
		seq_begin(e);
		b = e->first;
		ownerv(c)[b] = NIL;
		STORE(&nextv(c)[b], c->free_block);
		c->free_block = b;
		c->nfree++;
		break;
	}
}
