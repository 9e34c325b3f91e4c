/*
 * cache_int.h: what the files of the shared-memory store share, and
 * nothing else includes: the region's layout, its entries, the lock and
 * the index primitives.  The contract with the rest of portico is
 * cache.h.  The store is cut by concern:
 *
 *   cache.c        the region: create, lock, wipe, the entries and the
 *                  index chains, the block allocator and eviction,
 *                  releasing a dead worker's slot
 *   cache_find.c   lookups (complete and growing objects), purge, BAN,
 *                  meta updates
 *   cache_store.c  the writer: begin, append, announce, commit, abort
 *   cache_read.c   the readers: pins, streaming bytes out, followers of
 *                  an object that grows
 *   cache_wake.c   waking the workers whose requests wait for an object
 *   cache_punch.c  objects sent by reference (sendfile from the memfd):
 *                  their blocks punched out of the memfd before reuse
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
 *   |                                |  (DIRTY: free, punch before use)
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
#ifndef PORTICO_CACHE_INT_H
#define PORTICO_CACHE_INT_H

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

#include "common/cache.h"

#define CACHE_MAGIC	0x43414348u	/* "CACH" */
/* Bump on any change to the layout: a new binary then starts empty. */
#define CACHE_VERSION	6	/* 5: refsent in struct cache_entry; 6: DIRTY
				   free blocks in owner[] */
#define CACHE_MIN_SIZE	((size_t)1 << 20)
#define CACHE_PAGE	4096
#define CACHE_BLOCK	4096		/* bytes per data block */
#define CACHE_MAX_BLOCKS ((uint64_t)1 << 31)
#define CACHE_BATCH	16		/* blocks taken per lock for a body */
#define CACHE_WALK_MAX	4096		/* lock-free chain walk bound */
#define CACHE_TRIES	4		/* lookups retried when the object moves */
#define CACHE_VARIANTS	32		/* stored variants of one key, at most */
#define NIL		UINT32_MAX
/*
 * owner[] of a free block whose pages may still be referenced by socket
 * buffers (its last object was sent by reference): whoever takes it
 * punches it out of the memfd before writing into it (cache_punch.c).
 */
#define DIRTY		(UINT32_MAX - 1)

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
	uint32_t	 refsent;	/* sent by reference (sendfile): punch its
					   blocks before they are freed (atomic) */
	uint64_t	 waiters;	/* slots (bit slot % CACHE_WAKE_FDS) with a
					   request waiting for it whole (atomic) */
	uint64_t	 gwaiters;	/* ... with a follower waiting for more */
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
	/* Waking waiters: one eventfd per slot group, made with the region. */
	int32_t		 wake_fd[CACHE_WAKE_FDS];
	uint64_t	 wake_pending;	/* groups to wake at the unlock (locked) */
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

/* Accessors: base plus offset, the same in every process. */
static inline uint32_t *
bucket_at(struct cache *c, uint64_t h)
{
	uint32_t	*b = (uint32_t *)((char *)c + c->off_bucket);

	return &b[mum(h ^ c->seed, H_P2) & (c->nbuckets - 1)];
}

static inline struct cache_entry *
ent(struct cache *c, uint32_t i)
{
	return (struct cache_entry *)((char *)c + c->off_entry) + i;
}

static inline uint32_t *
nextv(struct cache *c)
{
	return (uint32_t *)((char *)c + c->off_next);
}

static inline uint32_t *
ownerv(struct cache *c)
{
	return (uint32_t *)((char *)c + c->off_owner);
}

static inline uint32_t *
pinrow(struct cache *c, int slot)
{
	return (uint32_t *)((char *)c + c->off_pins) + (size_t)slot * CACHE_PIN_MAX * 3;
}

static inline char *
block(struct cache *c, uint32_t b)
{
	return (char *)c + c->off_data + (size_t)b * CACHE_BLOCK;
}

/* Seqlock writer side (under the mutex): odd, change, even again. */
static inline void
seq_begin(struct cache_entry *e)
{
	STORE(&e->seq, e->seq | 1);
	FENCE_REL();
}

static inline void
seq_end(struct cache_entry *e)
{
	STORE_REL(&e->seq, (e->seq | 1) + 1);
}

/*
 * A lock-free walk over the entries of a key's bucket that are being
 * written and carry the key's hash and length (cache_lookup_growing,
 * cache_wait).  cache_walk_writing() gives the next such entry, with its
 * index in w->i and the (even) sequence it had in w->seq, or NULL at the
 * end of the chain or after CACHE_WALK_MAX steps.  What the caller reads
 * of the entry is to be checked against w->seq.
 */
struct cache_walk {
	uint64_t	 h;
	size_t		 klen;
	uint32_t	 next;		/* the entry to look at next */
	uint32_t	 steps;
	uint32_t	 i;		/* the entry given */
	uint64_t	 seq;
};

static inline void
cache_walk_init(struct cache *c, struct cache_walk *w, const char *key,
    size_t klen)
{
	w->h = cache_hash(key, klen);
	w->klen = klen;
	w->next = LOAD_ACQ(bucket_at(c, w->h));
	w->steps = 0;
}

static inline struct cache_entry *
cache_walk_writing(struct cache *c, struct cache_walk *w)
{
	struct cache_entry	*e;

	while (w->next < c->nblocks && w->steps < CACHE_WALK_MAX) {
		w->i = w->next;
		w->steps++;
		e = ent(c, w->i);
		w->seq = LOAD_ACQ(&e->seq);
		w->next = LOAD_ACQ(&e->next);
		if ((w->seq & 1) == 0 && LOAD(&e->hash) == w->h &&
		    LOAD(&e->key_len) == w->klen &&
		    LOAD(&e->state) == E_WRITING)
			return e;
	}
	return NULL;
}

/* cache.c */
int		 cache_lock(struct cache *);
void		 cache_unlock(struct cache *);
void		 cache_link(struct cache *, uint32_t);
void		 cache_unlink(struct cache *, uint32_t);
uint32_t	 cache_entry_get(struct cache *);
void		 cache_entry_put(struct cache *, uint32_t);
void		 cache_entry_free(struct cache *, uint32_t);
void		 cache_entry_abandon(struct cache *, uint32_t);
int		 cache_entry_retire(struct cache *, uint32_t, int);
void		 cache_doomed_free(struct cache *, uint32_t);
/*
 * Runs of DIRTY blocks a cache_blocks_alloc handed out, to punch once the
 * mutex is let go and before the first write into them.
 */
#define PUNCH_RUNS	8
struct punch_runs {
	uint32_t	 start[PUNCH_RUNS];
	uint32_t	 len[PUNCH_RUNS];
	int		 n;
};
int		 cache_blocks_alloc(struct cache *, uint32_t, uint32_t,
		    uint32_t *, struct punch_runs *);
void		 cache_blocks_free(struct cache *, uint32_t, uint32_t,
		    uint32_t, uint32_t);
/* cache_wake.c */
int		 cache_wake_create(struct cache *);
void		 cache_wake_destroy(struct cache *);
int		 cache_wake_attach(struct cache *, char *, size_t);
void		 cache_wake_take(struct cache *, struct cache_entry *);
void		 cache_wake_now(struct cache *, struct cache_entry *, int);
void		 cache_wake_groups(struct cache *, uint64_t);
/* cache_punch.c */
void		 cache_punch_add(struct cache *, struct punch_runs *, uint32_t);
void		 cache_punch_runs(struct cache *, struct punch_runs *);
void		 cache_punch_free(struct cache *);
/* cache_read.c */
void		 cache_unpin_entry(struct cache *, uint32_t, int);
void		 cache_pinned_sub(struct cache *, uint64_t);
void		 cache_follow_drop(struct cache_entry *);

#endif /* PORTICO_CACHE_INT_H */
