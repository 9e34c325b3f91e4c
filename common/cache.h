/*
 * cache.h: the shared-memory response store.
 *
 * The master maps one region of [cache] size bytes (a memfd, shared)
 * before the first fork; every worker inherits it at the same address,
 * and it outlives reloads.  A binary upgrade hands the memfd to the new
 * master, which maps it (cache_attach) when its layout is the same.  It
 * holds an index and the stored objects.
 * This module knows nothing about HTTP: an object is
 *
 *	key | vary blob | stored head | body
 *
 * plus a fixed-size struct cache_meta that the HTTP side fills in (see
 * worker/cachepol.h).  Who decides what may be stored and served is the
 * worker's HTTP code; this file only stores, finds, streams and evicts.
 *
 * Concurrency:
 *   - Readers take no lock.  Each entry has a sequence number (seqlock):
 *     odd while an entry changes, bumped whenever it is freed or replaced.
 *     A reader notes the sequence in a struct cache_ref at lookup and
 *     checks it again after using the bytes (cache_ref_valid); bytes read
 *     under a sequence that has since changed must be thrown away (before
 *     they reach a client, or by cutting the connection).
 *   - Writers (begin, append, commit, abort, purge, eviction) take one
 *     robust process-shared mutex for short index/allocation work only;
 *     body bytes are copied outside it.  A worker killed while holding
 *     the mutex leaves it EOWNERDEAD: the next taker wipes the index (the
 *     cache empties, nothing corrupt is ever served) and goes on.
 *   - A worker killed while writing an object leaves an entry in the
 *     WRITING state; the master calls cache_slot_release() when it reaps
 *     the worker, and writing entries older than the lock timeout are
 *     treated as abandoned anyway.
 *   - Eviction is CLOCK (second chance) over the entries, using the
 *     last-used stamp that hits refresh with a relaxed store: no lock on
 *     the hit path.  A new object survives one turn of the hand, one
 *     that was hit since the hand last passed survives two.
 *
 * Storage: the region is cut into 4 KiB blocks; an object is a chain of
 * them (key, vary blob, head and body back to back), and one object may
 * take at most half of the region.  The layout is drawn in cache.c.
 */
#ifndef PORTICO_CACHE_H
#define PORTICO_CACHE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#define CACHE_KEY_MAX	2048	/* longest key; longer requests are not cached */
#define CACHE_VARY_MAX	1024	/* longest vary blob */
#define CACHE_EXPECT_UNKNOWN	UINT64_MAX /* cache_writer_expect: length not known */
#define CACHE_PIN_SLOTS	1024	/* worker slots (shm.h SHM_SLOTS) */
#define CACHE_PIN_MAX	32	/* distinct objects one worker may pin at once */
#define CACHE_WAKE_FDS	32	/* eventfds that wake waiting workers (cache_wake.c) */

/*
 * What the HTTP side knows about a stored response, kept next to it so a
 * hit needs no parsing.  Times are wall-clock seconds (time_t); -1 means
 * absent.  The store copies it in and out verbatim.
 */
struct cache_meta {
	int64_t		 request_time;	/* when the request that got it was sent */
	int64_t		 response_time;	/* when its head arrived */
	int64_t		 date;		/* Date field (response_time if none) */
	int64_t		 age;		/* Age field, 0 if none */
	int64_t		 lifetime;	/* freshness lifetime, seconds */
	int64_t		 last_modified;	/* Last-Modified, -1 */
	int64_t		 swr;		/* stale-while-revalidate, -1 */
	int64_t		 sie;		/* stale-if-error, -1 */
	uint32_t	 flags;		/* CACHE_F_* below */
	uint16_t	 status;	/* response status code */
	uint16_t	 etag_len;	/* 0: no ETag */
	char		 etag[128];	/* ETag field value as sent, e.g. W/"x" */
};

#define CACHE_F_NO_CACHE	0x0001	/* revalidate before every use */
#define CACHE_F_MUST_REVAL	0x0002	/* must-revalidate / proxy-revalidate / s-maxage */
#define CACHE_F_AUTH_OK		0x0004	/* may answer requests with Authorization */
#define CACHE_F_HEURISTIC	0x0008	/* lifetime is heuristic */
#define CACHE_F_CHUNKED_SRC	0x0010	/* (informational) body came chunked */

struct cache;			/* the mapped region (opaque) */

/* A found object: valid for as long as the entry's sequence holds. */
struct cache_ref {
	uint32_t	 idx;		/* entry index */
	uint64_t	 seq;		/* entry sequence seen at lookup */
	uint32_t	 head_len;	/* stored head bytes */
	uint64_t	 body_len;	/* body bytes */
	uint32_t	 first;		/* (private) first block */
	uint32_t	 skip;		/* (private) key + vary bytes before the head */
	uint32_t	 pin;		/* (private) 0, or this worker's pin + 1 */
	uint32_t	 cur_block;	/* (private) where the last read was ... */
	uint64_t	 cur_pos;	/* (private) ... and its offset */
	uint32_t	 follow;	/* (private) 1: counted as a follower */
};

/* An object being written by this worker. */
struct cache_writer {
	uint32_t	 idx;		/* entry index; UINT32_MAX: none */
	uint64_t	 seq;
	uint32_t	 block;		/* block being filled */
	uint32_t	 fill;		/* bytes used in it */
	uint32_t	 head_len;	/* set by cache_append_head */
	uint64_t	 body_len;	/* body bytes appended so far */
	uint64_t	 max_body;	/* abort when the body would exceed this */
};

enum cache_lookup_rc {
	CACHE_MISS = 0,		/* nothing usable, nobody fetching it */
	CACHE_FOUND,		/* a complete object (fresh or not: the caller decides) */
	CACHE_BUSY		/* no complete object, another writer is fetching the key */
};

struct cache_stats {
	uint64_t	 size;		/* region bytes */
	uint64_t	 used;		/* bytes in blocks holding objects */
	uint64_t	 objects;	/* complete objects */
	uint64_t	 writing;	/* objects being written */
	uint64_t	 evictions;	/* objects evicted for room, since creation */
	uint64_t	 wipes;		/* index wiped after a worker died holding the lock */
};

/*
 * Master: map a region of size bytes (at least 1 MiB) and lay it out.
 * NULL on error (errno set).
 */
struct cache	*cache_create(size_t size);
/*
 * Master: map the region of memfd fd, handed over by a previous binary,
 * if its layout is this binary's (cache_check) and the region's wake-up
 * eventfds came with it under the numbers it names; the fd is then the
 * region's.  NULL with why filled, fd left to the caller.
 */
struct cache	*cache_attach(int fd, char *why, size_t whylen);
/* 0 when a region mapped over maplen bytes has this binary's layout; else -1, why. */
int		 cache_check(const struct cache *c, size_t maplen, char *why,
		    size_t whylen);
/* The memfd of a region this process created or attached; -1: none. */
int		 cache_memfd(const struct cache *c);
/* Unmap (the region lives on while another process maps it). */
void		 cache_destroy(struct cache *c);
size_t		 cache_size(const struct cache *c);
/*
 * Master: the worker in slot died; drop the objects it was writing and
 * the pins it held.
 */
void		 cache_slot_release(struct cache *c, int slot);
void		 cache_get_stats(struct cache *c, struct cache_stats *st);

/* 64-bit hash of a key (the index hash; also for logs). */
uint64_t	 cache_hash(const char *key, size_t len);

/*
 * Find the newest complete object for key whose vary blob the callback
 * accepts (match(blob, len, arg) returns 1; an object stored with an
 * empty blob matches without a call).  The callback gets a private copy,
 * never shared memory.  On CACHE_FOUND fill *ref and *meta, and mark the
 * entry used (for eviction).  CACHE_BUSY when no object matches but an
 * entry for the key is being written by a live writer (collapsing: wait
 * and look again); busy_timeout_s: writing entries older than this count
 * as abandoned.  A FOUND result takes precedence over BUSY.
 */
enum cache_lookup_rc cache_lookup(struct cache *c, const char *key, size_t klen,
		    int (*match)(const char *blob, size_t len, void *arg), void *arg,
		    int64_t now, int64_t busy_timeout_s,
		    struct cache_ref *ref, struct cache_meta *meta);

/*
 * Pin the object for as long as it is being sent (a hit that did not go
 * out in one write): eviction skips it, and a purge or a newer variant
 * leave its bytes alone until cache_unpin.  slot: the worker's, so that
 * the master takes the pins of a dead worker back (cache_slot_release).
 * -1 when the object already changed (the send must be cut), when the
 * worker pins CACHE_PIN_MAX other objects already, or when a quarter of
 * the region is pinned (it streams unpinned then).
 */
int		 cache_pin(struct cache *c, struct cache_ref *ref, int slot);
void		 cache_unpin(struct cache *c, struct cache_ref *ref, int slot);

/* Whether the object behind ref is still the one looked up. */
int		 cache_ref_valid(struct cache *c, const struct cache_ref *ref);

/*
 * Point up to niov iovecs at the object's head+body bytes starting at
 * offset off (0 = first head byte; head_len = first body byte), at most
 * max bytes in all.  Returns the number of iovecs filled (0 at the end),
 * or -1 if the object has changed.  The bytes are shared memory: check
 * cache_ref_valid() after using them.
 */
int		 cache_iov(struct cache *c, struct cache_ref *ref,
		    uint64_t off, size_t max, struct iovec *iov, int niov);
/*
 * Sending by reference (cache_punch.c).  cache_sendfile_fd: the memfd
 * to sendfile(2) the region's bytes from, or -1 where that is not safe
 * (no memfd, or shmem on huge pages); the region is mapped from its
 * offset 0, so a byte at p in it is at file offset p - (char *)c.
 * cache_ref_sendable: the object behind ref, which the caller has pinned
 * and keeps pinned until the send is done, is about to be sent by
 * reference; its blocks will be punched out of the memfd before they are
 * reused, so that the pages the socket holds keep its bytes.  -1 when
 * not pinned or no longer valid (copy instead).
 */
int		 cache_sendfile_fd(struct cache *c);
int		 cache_ref_sendable(struct cache *c, const struct cache_ref *ref);
/* Copy len bytes from offset off into dst; -1 if the object changed. */
int		 cache_copy(struct cache *c, struct cache_ref *ref,
		    uint64_t off, void *dst, size_t len);

/*
 * Start writing an object for key (creates a WRITING entry at once, so
 * that concurrent lookups of the key return CACHE_BUSY).  slot: the
 * worker's slot, for cache_slot_release.  max_body: larger bodies abort.
 * Returns 0, or -1 with errno EBUSY (another live writer already writes
 * this key) or ENOSPC (no room): the caller fetches without storing.  Every WRITING
 * entry counts as live here, whatever its age: dead writers' entries are
 * dropped by cache_slot_release().
 */
int		 cache_begin(struct cache *c, const char *key, size_t klen,
		    int slot, int64_t now, uint64_t max_body, struct cache_writer *w);
/*
 * Once the response head is known: store the vary blob (may be empty),
 * the head to replay on hits (not empty), and the meta.  Once, before any
 * body.  -1: no room, or misuse (the writer is aborted).
 */
int		 cache_append_head(struct cache *c, struct cache_writer *w,
		    const char *vary, size_t vlen, const char *head, size_t hlen,
		    const struct cache_meta *meta);
/*
 * Append body bytes (after the head).  -1: no room, over max_body, or the
 * object was purged meanwhile (the writer is aborted).
 */
int		 cache_append(struct cache *c, struct cache_writer *w,
		    const void *data, size_t len);
/*
 * Make the object visible to lookups, replacing the older complete
 * objects of the same key and vary blob.  -1 if the entry was lost
 * meanwhile (wiped, purged, or released as abandoned) or has no head;
 * the writer is then done with, as after cache_abort().
 */
int		 cache_commit(struct cache *c, struct cache_writer *w);
/*
 * cache_commit, and on success *ref names the complete object (as a
 * lookup would have found it), so that its writer goes on sending it.
 */
int		 cache_commit_ref(struct cache *c, struct cache_writer *w,
		    struct cache_ref *ref);
/*
 * A reference to the object being written, as far as it is written
 * (body_len: the body bytes appended so far), for the writer itself to
 * read back with cache_iov while it goes on appending: refresh body_len
 * from w->body_len before each read.  -1 before the head, or when the
 * object was purged or wiped meanwhile.
 */
int		 cache_writer_ref(struct cache *c, const struct cache_writer *w,
		    struct cache_ref *ref);
/*
 * cache_append, except that running out of room (no blocks, or over
 * max_body) leaves the writer as it was (-1, errno ENOSPC): the bytes
 * already appended can still be read back before the caller aborts.
 * A purge meanwhile aborts it as cache_append does (-1, errno other).
 */
int		 cache_append_keep(struct cache *c, struct cache_writer *w,
		    const void *data, size_t len);
/*
 * Announce the final body length (after cache_append_head): from then on
 * the object may be read as it grows by other readers, in any worker
 * (cache_lookup_growing).  CACHE_EXPECT_UNKNOWN: not known yet (a
 * chunked answer; readers learn the length at the commit).  -1 if not
 * writing, no head, or 0 or over max_body.
 */
int		 cache_writer_expect(struct cache *c, struct cache_writer *w,
		    uint64_t body_len);
/*
 * Find an object of key being written whose length was announced and
 * whose vary blob match() accepts (as cache_lookup).  0 with *ref (its
 * body_len: what is appended so far), *meta and *expect (the announced
 * body length), or -1.  The reader follows it with cache_ref_grow.
 */
int		 cache_lookup_growing(struct cache *c, const char *key, size_t klen,
		    int (*match)(const char *blob, size_t len, void *arg), void *arg,
		    struct cache_ref *ref, struct cache_meta *meta, uint64_t *expect);
/*
 * A growing object's progress: 0 (still written; ref->body_len updated),
 * 1 (it was committed: ref now names the complete object, with its final
 * body_len, and may be pinned), or -1 (aborted, purged or gone: what was
 * read under ref since its last check must be thrown away).  A reader
 * whose cache_ref_valid() fails calls this to tell a commit from a loss.
 */
int		 cache_ref_grow(struct cache *c, struct cache_ref *ref);
/*
 * A reference from cache_lookup_growing counts as a follower of its
 * object, which is not evicted while it has any (commit and pin leave no
 * gap for eviction): let go once pinned, or when done with it.
 * Idempotent.
 */
void		 cache_unfollow(struct cache *c, struct cache_ref *ref);
/* Give up the object (waiters then fetch on their own).  Idempotent. */
void		 cache_abort(struct cache *c, struct cache_writer *w);
static inline int
cache_writing(const struct cache_writer *w)
{
	return w->idx != UINT32_MAX;
}
static inline void
cache_writer_init(struct cache_writer *w)
{
	w->idx = UINT32_MAX;
}

/* Replace the meta of a stored object (after a 304).  -1 if it changed. */
int		 cache_update_meta(struct cache *c, const struct cache_ref *ref,
		    const struct cache_meta *meta);
/*
 * Remove every object stored under key (all variants).  Returns how many.
 * Objects being written under key are abandoned too (their commit fails)
 * but not counted.
 */
int		 cache_purge(struct cache *c, const char *key, size_t klen);
/* Remove every object whose key starts with prefix.  Returns how many. */
int		 cache_purge_prefix(struct cache *c, const char *prefix, size_t plen);

/*
 * Waiting for an object without polling.  The region comes with
 * CACHE_WAKE_FDS eventfds (cache_create makes them, every process forked
 * after holds them, a binary upgrade hands them to the new master with
 * the memfd): the worker in slot watches cache_wake_fd() in its
 * epoll set, edge-triggered, and never reads it.  An edge means: some
 * object one of its requests waits for changed; look again.
 */
int		 cache_wake_fd(struct cache *c, int slot);
/*
 * A collapsed miss is about to wait for key: be woken when an object of
 * key being written is committed, given up, purged, released, or
 * announces its length.  1: wait (an edge will come); 0: no object of
 * key is being written any more, look again now.
 */
int		 cache_wait(struct cache *c, const char *key, size_t klen,
		    int slot);
/*
 * A follower of a growing object (cache_lookup_growing) has sent all it
 * has: be woken when more is appended or the object ends (committed or
 * not).  1: wait; 0: it changed already, look again now.
 */
int		 cache_ref_wait(struct cache *c, const struct cache_ref *ref,
		    int slot);

/*
 * Tests only: take the mutex and return holding it, so that a test can
 * kill the holder.  scramble: also leave an update half done.
 */
void		 cache_test_lock(struct cache *c, int scramble);

#endif /* PORTICO_CACHE_H */
