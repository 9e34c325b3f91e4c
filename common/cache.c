/*
 * cache.c: the shared-memory response store (the contract is in cache.h).
 *
 * Layout of the region; every process maps it at the same address, and
 * everything inside refers to everything else by index, never pointer:
 *
 *   +--------------------------------+ 0
 *   | struct cache (one page)        |  magic, geometry, the robust mutex,
 *   |                                |  free lists, CLOCK hand, counters
 *   +--------------------------------+ off_bucket
 *   | uint32_t bucket[nbuckets]      |  first entry of each hash chain
 *   +--------------------------------+ off_entry
 *   | struct cache_entry [nblocks]   |  one per object; there are as many
 *   |                                |  as blocks since each owns >= 1
 *   +--------------------------------+ off_next
 *   | uint32_t next[nblocks]         |  the block after this one, in its
 *   |                                |  object or in the free list
 *   +--------------------------------+ off_owner
 *   | uint32_t owner[nblocks]        |  entry owning the block, or NIL
 *   +--------------------------------+ off_pins
 *   | pins[SLOTS][PIN_MAX][3]        |  entry + 1, count, blocks: what each
 *   |                                |  worker slot has pinned
 *   +--------------------------------+ off_data (page aligned)
 *   | block[nblocks], 4 KiB each     |  key | vary | head | body, streamed
 *   +--------------------------------+ <= size
 *
 * An object's bytes run through a chain of blocks (next[]), the key and
 * vary blob always in the first one (CACHE_KEY_MAX + CACHE_VARY_MAX fits).
 * Links live outside the data so that a run of adjacent blocks is one
 * iovec.  Free blocks form a list through next[] too; a freed chain is
 * spliced onto it whole, keeping its order, so that the next object gets
 * the same adjacent runs back.
 *
 * Entries: FREE -> WRITING (cache_begin, linked in its chain) -> COMPLETE
 * (cache_commit) -> FREE (replaced, purged, evicted).  A WRITING entry
 * may instead become ABANDONED (purged while written, or the index was
 * wiped): unlinked, invisible, but it and its blocks stay with its writer,
 * who may still be copying into them without the lock, until that writer
 * comes back to the lock (append that needs blocks, commit, abort) or the
 * master releases its slot.  Nobody else ever frees a block that a live
 * writer can still write to.
 *
 * Readers take no lock.  Per entry, seq is a seqlock: odd while the entry
 * changes, and changed by every transition, so a reader that saw seq s
 * before and after copying what it needed knows the copy is consistent.
 * Readers bounds-check every index they load and bound every walk, since
 * what they follow may be rewritten under them.  The meta has a seqlock
 * of its own (mseq) so that cache_update_meta does not invalidate the
 * references of those streaming the object.
 *
 * owner[] is what makes a dead mutex holder survivable: the next taker
 * rebuilds both free lists from owner[] and entry states alone (see
 * cache_wipe), without trusting any list the dead process was editing.
 *
 * Pins keep an object whole while a slow client is still being sent it.
 * A reader that could not send a hit in one write pins its entry (a count
 * in the entry, and the entry's index in its slot's row of pins[], so
 * that the master can take the pins of a dead worker back).  Eviction
 * skips pinned entries; a purge or a newer variant makes a pinned entry
 * DOOMED instead of freeing it: unlinked and invisible to lookups, but
 * with its sequence and bytes unchanged for its readers, and freed by the
 * last unpin.  The remover sets the sequence odd, then reads the count;
 * a pinner raises the count, then reads the sequence (both sequentially
 * consistent): one of them always sees the other.
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
#include "common/shm.h"

#define CACHE_MAGIC	0x43414348u	/* "CACH" */
/* Bump on any change to the layout: a new binary then starts empty. */
#define CACHE_VERSION	3
#define CACHE_MIN_SIZE	((size_t)1 << 20)
#define CACHE_PAGE	4096
#define CACHE_BLOCK	4096		/* bytes per data block */
#define CACHE_MAX_BLOCKS ((uint64_t)1 << 31)
#define CACHE_BATCH	16		/* blocks taken per lock for a body */
#define CACHE_WALK_MAX	4096		/* lock-free chain walk bound */
#define CACHE_TRIES	4		/* lookups retried when the object moves */
#define CACHE_VARIANTS	32		/* stored variants of one key, at most */
#define NIL		UINT32_MAX

/* CLOCK weights: a new object survives one turn of the hand, a hit two. */
#define CLOCK_NEW	1
#define CLOCK_HIT	2

_Static_assert(CACHE_KEY_MAX + CACHE_VARY_MAX <= CACHE_BLOCK,
    "the key and vary blob must fit in an object's first block");

enum entry_state {
	E_FREE = 0,
	E_WRITING,		/* linked; its writer fills it */
	E_COMPLETE,		/* linked; served */
	E_ABANDONED,		/* unlinked; still its writer's */
	E_RELEASING,		/* only inside cache_slot_release */
	E_DOOMED		/* unlinked; complete, kept for its pinned readers */
};

struct cache_entry {
	uint64_t	 seq;		/* seqlock: odd while changing; 64 bits
					   never wrap back to a value a ref holds */
	uint32_t	 state;		/* enum entry_state */
	uint64_t	 hash;		/* cache_hash of the key */
	uint32_t	 next;		/* hash chain */
	uint32_t	 fnext;		/* free-entry list (under the mutex) */
	uint32_t	 first;		/* first block */
	uint32_t	 nblocks;	/* blocks in its chain (under the mutex) */
	uint32_t	 key_len;
	uint32_t	 vary_len;
	uint32_t	 head_len;
	uint32_t	 used;		/* CLOCK weight: hits raise, the hand lowers */
	uint64_t	 body_len;	/* (while WRITING: appended so far) */
	uint64_t	 expect;	/* WRITING: announced body length, 0: none */
	uint32_t	 followers;	/* readers following it as it grows (atomic):
					   not evicted while there are any */
	uint64_t	 born;		/* commit order: the newest variant wins */
	int64_t		 begin;		/* when writing began */
	int32_t		 slot;		/* writer's slot */
	uint64_t	 wseq;		/* seq at begin: the writer's claim */
	uint32_t	 mseq;		/* seqlock of meta alone */
	uint32_t	 pins;		/* readers streaming it (atomic) */
	struct cache_meta meta;
};

struct cache {
	uint32_t	 magic;
	uint32_t	 version;
	uint64_t	 size;		/* region bytes */
	uint64_t	 seed;		/* bucket hash seed, random per region */
	uint32_t	 nbuckets;	/* power of two */
	uint32_t	 nblocks;	/* == entries */
	uint64_t	 entry_size;	/* sizeof(struct cache_entry) */
	uint64_t	 off_bucket;
	uint64_t	 off_entry;
	uint64_t	 off_next;
	uint64_t	 off_owner;
	uint64_t	 off_pins;
	uint64_t	 off_data;
	pthread_mutex_t	 mtx __attribute__((aligned(64)));
	/* Under the mutex (the counters are read without it for stats). */
	uint32_t	 free_block;	/* head of the free-block list */
	uint32_t	 nfree;		/* blocks on it */
	uint32_t	 free_entry;	/* head of the free-entry list */
	uint32_t	 hand;		/* CLOCK hand, an entry index */
	uint64_t	 born;		/* commits so far */
	uint64_t	 objects;	/* COMPLETE entries */
	uint64_t	 writing;	/* WRITING entries */
	uint64_t	 evictions;
	uint64_t	 wipes;		/* index wiped after a holder died */
	/* Bytes pinned by readers, all workers (atomic, on its own line). */
	uint64_t	 pinned __attribute__((aligned(64)));
};

_Static_assert(sizeof(struct cache) <= CACHE_PAGE, "cache header too big");

#define LOAD(p)		__atomic_load_n((p), __ATOMIC_RELAXED)
#define LOAD_ACQ(p)	__atomic_load_n((p), __ATOMIC_ACQUIRE)
#define STORE(p, v)	__atomic_store_n((p), (v), __ATOMIC_RELAXED)
#define STORE_REL(p, v)	__atomic_store_n((p), (v), __ATOMIC_RELEASE)
#define FENCE_ACQ()	__atomic_thread_fence(__ATOMIC_ACQUIRE)
#define FENCE_REL()	__atomic_thread_fence(__ATOMIC_RELEASE)

/* A broken invariant under the mutex: die holding it, the next taker wipes. */
#define CACHE_ASSERT(x)	do { if (!(x)) abort(); } while (0)

static uint32_t		*bucket_at(struct cache *, uint64_t);
static struct cache_entry *ent(struct cache *, uint32_t);
static uint32_t		*nextv(struct cache *);
static uint32_t		*ownerv(struct cache *);
static uint32_t		*pinrow(struct cache *, int);
static int		 entry_retire(struct cache *, uint32_t, int);
static void		 unpin_entry(struct cache *, uint32_t, int);
static void		 pinned_sub(struct cache *, uint64_t);
static char		*block(struct cache *, uint32_t);
static int		 cache_lock(struct cache *);
static void		 cache_unlock(struct cache *);
static void		 cache_wipe(struct cache *);
static void		 seq_begin(struct cache_entry *);
static void		 seq_end(struct cache_entry *);
static void		 link_entry(struct cache *, uint32_t);
static void		 unlink_entry(struct cache *, uint32_t);
static uint32_t		 entry_get(struct cache *);
static void		 entry_put(struct cache *, uint32_t);
static void		 entry_free(struct cache *, uint32_t);
static void		 entry_abandon(struct cache *, uint32_t);
static int		 blocks_alloc(struct cache *, uint32_t, uint32_t,
			    uint32_t *);
static void		 blocks_free(struct cache *, uint32_t, uint32_t,
			    uint32_t);
static void		 cache_evict(struct cache *, uint32_t);
static int		 writer_owns(struct cache *, const struct cache_writer *);
static int		 writer_grow(struct cache *, struct cache_writer *,
			    size_t, uint64_t);
static int		 writer_put(struct cache *, struct cache_writer *,
			    const char *, size_t, uint64_t);
static int		 entry_meta(struct cache *, uint32_t, uint64_t,
			    struct cache_meta *);
static int		 stream_seek(struct cache *, struct cache_ref *,
			    uint64_t, uint32_t *, uint32_t *);
static void		 follow_drop(struct cache_entry *);

/*
 * Hashing: a wyhash-style mix of 64-bit words (128-bit multiply, fold).
 * Chains are picked by the hash mixed with a per-region random seed, so
 * that nobody outside can aim many keys at one chain.
 */
#define H_P0	0xa0761d6478bd642fULL
#define H_P1	0xe7037ed1a0b428dbULL
#define H_P2	0x8ebc6af09c88c6e3ULL
#define H_P3	0x589965cc75374cc3ULL

static inline uint64_t
mum(uint64_t a, uint64_t b)
{
	__uint128_t	 r = (__uint128_t)a * b;

	return (uint64_t)r ^ (uint64_t)(r >> 64);
}

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

/* Accessors: base plus offset, the same in every process. */
static uint32_t *
bucket_at(struct cache *c, uint64_t h)
{
	uint32_t	*b = (uint32_t *)((char *)c + c->off_bucket);

	return &b[mum(h ^ c->seed, H_P2) & (c->nbuckets - 1)];
}

static struct cache_entry *
ent(struct cache *c, uint32_t i)
{
	return (struct cache_entry *)((char *)c + c->off_entry) + i;
}

static uint32_t *
nextv(struct cache *c)
{
	return (uint32_t *)((char *)c + c->off_next);
}

static uint32_t *
ownerv(struct cache *c)
{
	return (uint32_t *)((char *)c + c->off_owner);
}

static uint32_t *
pinrow(struct cache *c, int slot)
{
	return (uint32_t *)((char *)c + c->off_pins) + (size_t)slot * CACHE_PIN_MAX * 3;
}

static char *
block(struct cache *c, uint32_t b)
{
	return (char *)c + c->off_data + (size_t)b * CACHE_BLOCK;
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
 * that a binary upgrade can hand it over.
 */
#define CACHE_FDS	8
static struct {
	struct cache	*c;
	int		 fd;
} cache_fds[CACHE_FDS];

static int
fd_remember(struct cache *c, int fd)
{
	int	 i;

	for (i = 0; i < CACHE_FDS; i++)
		if (cache_fds[i].c == NULL) {
			cache_fds[i].c = c;
			cache_fds[i].fd = fd;
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
	if (fd_remember(c, fd) == -1) {
		rc = errno;
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

	why[0] = '\0';
	if ((c = shm_map_fd(fd, &len)) == NULL) {
		snprintf(why, whylen, "cannot map it: %s", strerror(errno));
		return NULL;
	}
	if (cache_check(c, len, why, whylen) == -1 ||
	    fd_remember(c, fd) == -1) {
		if (why[0] == '\0')
			snprintf(why, whylen, "too many cache regions");
		munmap(c, len);
		return NULL;
	}
	return c;
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
static int
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

static void
cache_unlock(struct cache *c)
{
	pthread_mutex_unlock(&c->mtx);
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

	for (i = 0; i < c->nblocks; i++) {
		e = ent(c, i);
		s = e->seq;
		st = e->state;
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
		ow[i] = NIL;
		STORE(&nx[i], c->free_block);
		c->free_block = i;
		c->nfree++;
	}
	STORE(&c->objects, 0);
	STORE(&c->writing, 0);
	c->hand = 0;
	STORE(&c->wipes, c->wipes + 1);
}

/* Seqlock writer side (under the mutex): odd, change, even again. */
static void
seq_begin(struct cache_entry *e)
{
	STORE(&e->seq, e->seq | 1);
	FENCE_REL();
}

static void
seq_end(struct cache_entry *e)
{
	STORE_REL(&e->seq, (e->seq | 1) + 1);
}

/* Put entry i at the head of its chain (locked). */
static void
link_entry(struct cache *c, uint32_t i)
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
static void
unlink_entry(struct cache *c, uint32_t i)
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
static uint32_t
entry_get(struct cache *c)
{
	uint32_t	 i = c->free_entry;

	if (i == NIL)
		return NIL;
	CACHE_ASSERT(i < c->nblocks && ent(c, i)->state == E_FREE);
	c->free_entry = ent(c, i)->fnext;
	return i;
}

static void
entry_put(struct cache *c, uint32_t i)
{
	ent(c, i)->fnext = c->free_entry;
	c->free_entry = i;
}

/*
 * Free entry i and its blocks (locked): out of its chain, every reference
 * to it invalid.  Walks its block chain, which is consistent under the
 * mutex; stops at a block it does not own rather than free someone else's.
 */
static void
entry_free(struct cache *c, uint32_t i)
{
	struct cache_entry	*e = ent(c, i);
	uint32_t		 st = e->state;

	seq_begin(e);
	if (st == E_WRITING || st == E_COMPLETE)
		unlink_entry(c, i);
	blocks_free(c, i, e->first, e->nblocks);
	e->nblocks = 0;
	if (st == E_COMPLETE)
		STORE(&c->objects, c->objects - 1);
	else if (st == E_WRITING)
		STORE(&c->writing, c->writing - 1);
	STORE(&e->state, E_FREE);
	seq_end(e);
	entry_put(c, i);
}

/*
 * A WRITING entry nobody may find any more (locked): unlinked, and its
 * writer's commit will fail; the blocks stay its writer's to free.
 */
static void
entry_abandon(struct cache *c, uint32_t i)
{
	struct cache_entry	*e = ent(c, i);

	seq_begin(e);
	unlink_entry(c, i);
	STORE(&e->state, E_ABANDONED);
	seq_end(e);
	STORE(&c->writing, c->writing - 1);
}

/*
 * Take complete entry i out of service (locked).  Unpinned, it is freed.
 * Pinned by readers still sending it: with evict, it stays; otherwise it
 * is unlinked and DOOMED, its sequence and bytes left as they were for
 * those readers, and the last of them frees it.  Returns 1 if removed.
 */
static int
entry_retire(struct cache *c, uint32_t i, int evict)
{
	struct cache_entry	*e = ent(c, i);
	uint64_t		 s = e->seq;

	__atomic_store_n(&e->seq, s | 1, __ATOMIC_SEQ_CST);
	if (__atomic_load_n(&e->pins, __ATOMIC_SEQ_CST) == 0) {
		entry_free(c, i);
		return 1;
	}
	if (evict) {
		STORE_REL(&e->seq, s);
		return 0;
	}
	unlink_entry(c, i);
	STORE(&c->objects, c->objects - 1);
	__atomic_store_n(&e->state, E_DOOMED, __ATOMIC_SEQ_CST);
	STORE_REL(&e->seq, s);
	/* Its last reader may have let go before it could see DOOMED. */
	if (__atomic_load_n(&e->pins, __ATOMIC_SEQ_CST) == 0)
		entry_free(c, i);
	return 1;
}

/* A DOOMED entry's last pin went (locked): free it unless pinned again. */
static void
doomed_free(struct cache *c, uint32_t i)
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
	entry_free(c, i);
}

/* Drop one pin of entry i; locked: the caller holds the mutex. */
static void
unpin_entry(struct cache *c, uint32_t i, int locked)
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
		doomed_free(c, i);
	else if (cache_lock(c) == 0) {
		doomed_free(c, i);
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
static void
pinned_sub(struct cache *c, uint64_t bytes)
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
	unpin_entry(c, ref->idx, 0);
	pinned_sub(c, (uint64_t)t[2] * CACHE_BLOCK);
	STORE(&t[1], t[1] - 1);
	if (t[1] == 0)
		STORE(&t[0], 0);
}

/*
 * Take k blocks for entry o off the free list (locked), evicting first if
 * needed; *first heads them, linked in order and ended by NIL.  owner[] is
 * set before the list moves: a wipe trusts owner[], not the list.
 */
static int
blocks_alloc(struct cache *c, uint32_t o, uint32_t k, uint32_t *first)
{
	uint32_t	*nx = nextv(c), *ow = ownerv(c), b, n;

	if (c->nfree < k)
		cache_evict(c, k);
	if (c->nfree < k || k == 0)
		return -1;
	*first = b = c->free_block;
	for (n = 1;; n++) {
		CACHE_ASSERT(b < c->nblocks && ow[b] == NIL);
		ow[b] = o;
		if (n == k)
			break;
		b = nx[b];
	}
	c->free_block = nx[b];
	STORE(&nx[b], NIL);
	c->nfree -= k;
	return 0;
}

/* Return up to count blocks of entry o's chain from first (locked). */
static void
blocks_free(struct cache *c, uint32_t o, uint32_t first, uint32_t count)
{
	uint32_t	*nx = nextv(c), *ow = ownerv(c), b, last = NIL, n;

	for (b = first, n = 0; n < count && b < c->nblocks && ow[b] == o;
	    n++, b = nx[b]) {
		ow[b] = NIL;
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
		if (entry_retire(c, i, 1))	/* not while a reader streams it */
			STORE(&c->evictions, c->evictions + 1);
	}
}

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
					unpin_entry(c, t[0] - 1, 1);
				pinned_sub(c, (uint64_t)t[1] * t[2] * CACHE_BLOCK);
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
			unlink_entry(c, i);
			STORE(&c->writing, c->writing - 1);
		}
		STORE(&e->state, E_RELEASING);
		n++;
	}
	if (n > 0) {
		for (i = c->nblocks; i-- > 0;) {
			o = ow[i];
			if (o >= c->nblocks || ent(c, o)->state != E_RELEASING)
				continue;
			ow[i] = NIL;
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
			entry_put(c, i);
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
	if ((i = entry_get(c)) == NIL)
		goto full;
	if (blocks_alloc(c, i, 1, &b) == -1) {
		entry_put(c, i);
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
	link_entry(c, i);
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
	if (blocks_alloc(c, w->idx, (uint32_t)k, &first) == -1)
		goto fail;
	STORE(&nextv(c)[w->block], first);
	e->nblocks += (uint32_t)k;
	cache_unlock(c);
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

int
cache_append(struct cache *c, struct cache_writer *w, const void *data,
    size_t len)
{
	if (!cache_writing(w))
		return -1;
	if (len == 0)
		return 0;
	/* Purged or wiped meanwhile: stop copying into what nobody will see. */
	if (w->head_len == 0 || len > w->max_body - w->body_len ||
	    LOAD(&ent(c, w->idx)->seq) != w->seq ||
	    writer_put(c, w, data, len, w->max_body - w->body_len) == -1) {
		cache_abort(c, w);
		return -1;
	}
	w->body_len += len;
	/* For readers that follow it (cache_lookup_growing): bytes first. */
	STORE_REL(&ent(c, w->idx)->body_len, w->body_len);
	return 0;
}

/*
 * Publish the object (locked): blocks taken ahead and unused go back,
 * the entry turns COMPLETE under its seqlock, and older complete objects
 * with the same key and vary blob are freed.
 */
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
	if (!cache_writing(w))
		return -1;
	if (len == 0)
		return 0;
	if (w->head_len == 0 || LOAD(&ent(c, w->idx)->seq) != w->seq) {
		cache_abort(c, w);
		return -1;
	}
	/* What did not fit is not counted: the object stays as it was. */
	if (len > w->max_body - w->body_len ||
	    writer_put(c, w, data, len, w->max_body - w->body_len) == -1) {
		/* It will not be whole: readers following it stop now. */
		STORE(&ent(c, w->idx)->expect, 0);
		errno = ENOSPC;
		return -1;
	}
	w->body_len += len;
	STORE_REL(&ent(c, w->idx)->body_len, w->body_len);
	return 0;
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
	return 0;
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
	struct cache_entry	*e;
	uint64_t		 h, s, body_len, ex;
	uint32_t		*bk, i, nx, vl, first, head_len, steps;

	if (klen > CACHE_KEY_MAX)
		return -1;
	h = cache_hash(key, klen);
	bk = bucket_at(c, h);
	for (i = LOAD_ACQ(bk), steps = 0; i < c->nblocks &&
	    steps < CACHE_WALK_MAX; i = nx, steps++) {
		e = ent(c, i);
		s = LOAD_ACQ(&e->seq);
		nx = LOAD_ACQ(&e->next);
		if ((s & 1) || LOAD(&e->hash) != h || LOAD(&e->key_len) != klen ||
		    LOAD(&e->state) != E_WRITING)
			continue;
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
			follow_drop(e);
			continue;
		}
		memset(ref, 0, sizeof(*ref));
		ref->follow = 1;
		ref->idx = i;
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

/* One follower less, never below zero. */
static void
follow_drop(struct cache_entry *e)
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
		follow_drop(ent(c, ref->idx));
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

int
cache_commit(struct cache *c, struct cache_writer *w)
{
	return cache_commit_ref(c, w, NULL);
}

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
			entry_free(c, i);
		goto fail;
	}
	e = ent(c, i);
	for (spare = nx[w->block], n = 0; spare != NIL; spare = nx[spare]) {
		CACHE_ASSERT(spare < c->nblocks && n < e->nblocks);
		n++;
	}
	if (n > 0) {
		blocks_free(c, i, nx[w->block], n);
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
				entry_retire(c, j, 0);	/* p->next survives this */
				continue;
			}
			nvar++;
			if (old == NIL || p->born < ent(c, old)->born)
				old = j;
		}
		if (nvar + 1 <= CACHE_VARIANTS)
			break;
		entry_retire(c, old, 0);
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
			entry_free(c, w->idx);
		cache_unlock(c);
	}
	cache_writer_init(w);
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
		if (e->state == E_COMPLETE) {
			entry_retire(c, i, 0);
			count++;
		} else if (e->state == E_WRITING)
			entry_abandon(c, i);
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
		if (e->state == E_COMPLETE) {
			entry_retire(c, i, 0);
			count++;
		} else
			entry_abandon(c, i);
	}
	cache_unlock(c);
	return count;
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
