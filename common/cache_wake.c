/*
 * cache_wake.c: waking the workers whose requests wait for an object
 * (a collapsed miss waiting for another request's fetch, or a hit on an
 * object still being written waiting for more of it), in any worker.
 *
 * The region comes with CACHE_WAKE_FDS eventfds, made by cache_create
 * before any worker that uses the region is forked, so that every
 * process using it holds them under the same numbers.  A binary upgrade
 * hands them to the new master with the region's memfd, under the same
 * numbers too (cache_wake_attach checks them).  The worker in
 * slot s listens on wake_fd[s % CACHE_WAKE_FDS]: slots share an eventfd
 * only when more than CACHE_WAKE_FDS workers live at once, and a shared
 * wake only costs the other worker a look at its waiters.
 *
 * A waiter sets its slot's bit in the entry it waits for (waiters for
 * the whole object, gwaiters for more of it), then looks at the entry
 * again; whoever changes the entry in a way a waiter cares about
 * changes it first, then takes the bits: commit, abort, purge, release
 * both kinds; the length announced the first (they may follow it now);
 * more body appended, or the writer giving up following, the second.  Both sides put
 * a sequentially consistent fence between their store and their load, so
 * that either the waiter sees the change (and does not wait) or the
 * changer sees the bit (and wakes it): no wake is lost.
 *
 * The workers never read their eventfd: every write to it is one edge
 * for each epoll set that watches it (EPOLLET), so one worker's read
 * cannot swallow another's wake-up.  The counter (2^64 - 2 writes) does
 * not fill up in practice.
 *
 * Changes made under the mutex gather their bits in wake_pending, and
 * cache_unlock() writes the eventfds once the mutex is free.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "common/cache.h"
#include "common/cache_int.h"

/* Master, in cache_create: make the eventfds.  -1 with errno set. */
int
cache_wake_create(struct cache *c)
{
	int	 i, fd, saved;

	for (i = 0; i < CACHE_WAKE_FDS; i++)
		c->wake_fd[i] = -1;
	for (i = 0; i < CACHE_WAKE_FDS; i++) {
		if ((fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) == -1) {
			saved = errno;
			cache_wake_destroy(c);
			for (i = 0; i < CACHE_WAKE_FDS; i++)
				c->wake_fd[i] = -1;
			errno = saved;
			return -1;
		}
		c->wake_fd[i] = fd;
	}
	return 0;
}

/*
 * New master of a binary upgrade, in cache_attach: the old master
 * handed the region's eventfds over under the numbers the region names
 * (the old workers, still running, write and watch the same ones).  -1
 * with why filled when one is not an eventfd here.
 */
int
cache_wake_attach(struct cache *c, char *why, size_t whylen)
{
	char	 path[64], link[64];
	ssize_t	 n;
	int	 i;

	for (i = 0; i < CACHE_WAKE_FDS; i++) {
		snprintf(path, sizeof(path), "/proc/self/fd/%d",
		    (int)c->wake_fd[i]);
		n = c->wake_fd[i] < 0 ? -1 :
		    readlink(path, link, sizeof(link) - 1);
		if (n > 0)
			link[n] = '\0';
		if (n <= 0 || strcmp(link, "anon_inode:[eventfd]") != 0) {
			snprintf(why, whylen, "its wake-up eventfds were "
			    "not handed over");
			return -1;
		}
	}
	/* The next binary gets them anew; nothing else does. */
	for (i = 0; i < CACHE_WAKE_FDS; i++)
		fcntl(c->wake_fd[i], F_SETFD, FD_CLOEXEC);
	return 0;
}

/*
 * Master, in cache_destroy: close this process's eventfds.  The numbers
 * stay in the region: after a binary upgrade the other master's workers
 * still wake each other through them.
 */
void
cache_wake_destroy(struct cache *c)
{
	int	 i;

	for (i = 0; i < CACHE_WAKE_FDS; i++)
		if (c->wake_fd[i] != -1)
			close(c->wake_fd[i]);
}

int
cache_wake_fd(struct cache *c, int slot)
{
	if (slot < 0)
		return -1;
	return c->wake_fd[slot % CACHE_WAKE_FDS];
}

/* Write the eventfd of every group in mask. */
void
cache_wake_groups(struct cache *c, uint64_t mask)
{
	uint64_t	 one = 1;
	int		 i;

	for (i = 0; i < CACHE_WAKE_FDS && mask != 0; i++, mask >>= 1) {
		if (!(mask & 1) || c->wake_fd[i] == -1)
			continue;
		/*
		 * The only failure, EAGAIN (the counter is full), leaves it
		 * readable: the wake is there already.
		 */
		if (write(c->wake_fd[i], &one, sizeof(one)) == -1)
			continue;
	}
}

/*
 * Entry e changed (locked, after the change): its waiters are woken
 * when the mutex is let go.
 */
void
cache_wake_take(struct cache *c, struct cache_entry *e)
{
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (LOAD(&e->waiters) != 0)
		c->wake_pending |= __atomic_exchange_n(&e->waiters, 0,
		    __ATOMIC_SEQ_CST);
	if (LOAD(&e->gwaiters) != 0)
		c->wake_pending |= __atomic_exchange_n(&e->gwaiters, 0,
		    __ATOMIC_SEQ_CST);
}

/*
 * Entry e changed (lock-free, after the change): wake its waiters now,
 * those for the whole object, or (grow) the followers.
 */
void
cache_wake_now(struct cache *c, struct cache_entry *e, int grow)
{
	uint64_t	*wp = grow ? &e->gwaiters : &e->waiters, m;

	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (LOAD(wp) == 0)
		return;
	if ((m = __atomic_exchange_n(wp, 0, __ATOMIC_SEQ_CST)) != 0)
		cache_wake_groups(c, m);
}

static uint64_t
slot_bit(int slot)
{
	return (uint64_t)1 << (slot % CACHE_WAKE_FDS);
}

/*
 * Lock-free: mark every entry of key being written as waited for by
 * slot, then look whether one still is.  Keys are told by their 64-bit
 * hash alone here: another key's writer at worst wakes us for nothing.
 */
int
cache_wait(struct cache *c, const char *key, size_t klen, int slot)
{
	struct cache_walk	 w;
	struct cache_entry	*e;
	int			 writing = 0;

	if (slot < 0 || klen > CACHE_KEY_MAX)
		return 0;
	cache_walk_init(c, &w, key, klen);
	while ((e = cache_walk_writing(c, &w)) != NULL) {
		__atomic_fetch_or(&e->waiters, slot_bit(slot), __ATOMIC_SEQ_CST);
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		if (LOAD(&e->seq) == w.seq && LOAD(&e->state) == E_WRITING)
			writing = 1;
	}
	return writing;
}

/*
 * Lock-free: mark the object a follower reads as waited for by slot,
 * then look whether it is still as the follower last saw it.
 */
int
cache_ref_wait(struct cache *c, const struct cache_ref *ref, int slot)
{
	struct cache_entry	*e;

	if (slot < 0 || ref->idx >= c->nblocks)
		return 0;
	e = ent(c, ref->idx);
	__atomic_fetch_or(&e->gwaiters, slot_bit(slot), __ATOMIC_SEQ_CST);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return LOAD(&e->seq) == ref->seq && LOAD(&e->state) == E_WRITING &&
	    LOAD(&e->expect) != 0 && LOAD(&e->body_len) == ref->body_len;
}
