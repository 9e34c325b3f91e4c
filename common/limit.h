/*
 * limit.h: the table of the limits in shared memory ([limit NAME] rates
 * and concurrencies, listeners' max_conns_per_ip), counted across every
 * worker.  It is part of struct shm_header (common/shm.h), so it lives
 * as long as the region: across reloads and binary upgrades.
 *
 *   +-------------------------------+
 *   | seed, nsets, counters         |
 *   | struct limit_stat stat[64]    |  hits per limit (and listener), by name
 *   | struct limit_set set[2048]    |  8 entries each, a robust mutex
 *   | uint16_t held[1024][16384]    |  what each worker slot holds
 *   +-------------------------------+
 *
 * An entry is found by a 64-bit keyed hash of "kind, limit name, key":
 * its set is hash % nsets (nsets from limit_table_size), and within the
 * set the entry with that hash.  A new key takes a free entry of the set,
 * else the least recently used one that holds nothing (conc == 0): that
 * is the eviction.  A set whose eight entries all hold requests lets the
 * new key through (fail open) and counts it as "full".
 *
 * Each set has a process-shared robust mutex, held for a few loads and
 * stores (no system call under it).  A worker that dies holding it
 * leaves it to the next locker with EOWNERDEAD, which marks it
 * consistent and goes on: the entries are valid at every store.
 *
 * A rate is a GCRA (the virtual-scheduling form of a token bucket):
 * tat_us is the theoretical arrival time of the next request, on the
 * monotonic clock (system-wide, so shared by the processes).  A request
 * at now is within the burst when tat - now <= burst * interval; it
 * moves tat to max(tat, now) + interval, and may be delayed by
 * max(tat, now) - now.  This is what nginx's limit_req computes; a
 * delay is also capped (max_delay): a request that would wait longer is
 * rejected, as if the burst ended there.
 *
 * A concurrency (and a connection count) is conc, with the worker's own
 * share in held[slot][entry]: the worker's row goes up first and down
 * last, so when a worker dies the master takes back its share
 * (limit_slot_release) and nothing stays held for ever.
 */
#ifndef PORTICO_LIMIT_H
#define PORTICO_LIMIT_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "common/conf.h"

#define LIMIT_ENTRIES	16384		/* the most limit_table_size allows */
#define LIMIT_WAYS	8		/* entries per set */
#define LIMIT_SETS	(LIMIT_ENTRIES / LIMIT_WAYS)
#define LIMIT_SLOTS	1024		/* = SHM_SLOTS */
#define LIMIT_STATS	64		/* limits and listeners with counters */

struct limit_entry {
	uint64_t	 hash;		/* 0: free */
	uint64_t	 tat_us;	/* rate: theoretical arrival time */
	uint64_t	 used_ms;	/* last use, for the LRU */
	uint32_t	 conc;		/* concurrency: held now, all workers */
	uint32_t	 pad;
};

struct limit_set {
	pthread_mutex_t		 mu;
	struct limit_entry	 e[LIMIT_WAYS];
} __attribute__((aligned(64)));

/* Counters of one limit or listener (atomic adds by the workers). */
struct limit_stat {
	char		 name[CONF_MAX_NAME + 2];	/* "" free; 'L' or 'C' + name */
	uint32_t	 used;		/* named by the current config */
	uint64_t	 passed;	/* let through at once */
	uint64_t	 delayed;	/* let through late (rate, within the burst) */
	uint64_t	 rejected;	/* answered with the limit's status / closed */
	uint64_t	 dry_run;	/* would have been delayed or rejected */
} __attribute__((aligned(64)));

struct limit_table {
	uint64_t		 seed;		/* of the hash, set at creation */
	uint32_t		 nsets;		/* limit_table_size / 8 at the first start */
	uint32_t		 init;		/* the mutexes are set up */
	uint64_t		 evictions;	/* entries taken from another key */
	uint64_t		 full;		/* keys let through: set all held */
	struct limit_stat	 stat[LIMIT_STATS];
	struct limit_set	 set[LIMIT_SETS];
	uint16_t		 held[LIMIT_SLOTS][LIMIT_ENTRIES];
};

/* What a rate check found. */
enum limit_rc {
	LIMIT_PASS = 0,		/* within the rate */
	LIMIT_DELAY,		/* within the burst: *wait_us later */
	LIMIT_REJECT,		/* beyond the burst: *wait_us until it would pass */
	LIMIT_FULL		/* no entry free in its set: let through */
};

/* Set up a new zeroed table (master, at creation).  -1 on error. */
int		 limit_table_init(struct limit_table *t);
/*
 * Size the table (the first time only: a later other size is logged and
 * not taken) and give each limit and listener with max_conns_per_ip of
 * conf its counters row (the one it had under the same name if any).
 * -1 with errbuf filled when there are too many.  (Master.)
 */
int		 limit_assign(struct limit_table *t, struct conf *conf,
		    char *errbuf, size_t errlen);
/* The hash of kind ('L' limit, 'C' listener), name and key (n bytes). */
uint64_t	 limit_hash(const struct limit_table *t, int kind, const char *name,
		    const char *key, size_t n);
/*
 * A request of the rate limit at now_us (monotonic, µs) with interval
 * and burst: when commit (not a dry run that would not pass), the entry
 * moves on for PASS and DELAY.  A delay over max_wait_us (the limit's
 * max_delay; UINT64_MAX: none) is a REJECT, and the entry stays.
 * *wait_us: the delay, or for REJECT the time until a request would pass.
 */
enum limit_rc	 limit_rate(struct limit_table *t, uint64_t hash, uint64_t now_us,
		    uint64_t interval_us, uint64_t burst, uint64_t max_wait_us,
		    int commit, uint64_t *wait_us);
/*
 * One more held on the key (for worker slot) when fewer than max are:
 * 1 with *idx the entry (for limit_release), 0 over the limit, -1 when
 * its set is full (let through, nothing held).
 */
int		 limit_acquire(struct limit_table *t, int slot, uint64_t hash,
		    uint32_t max, int *idx);
/* Give back one held on entry idx by worker slot. */
void		 limit_release(struct limit_table *t, int slot, int idx);
/* Worker slot died: take back everything it held (master). */
void		 limit_slot_release(struct limit_table *t, int slot);

#endif /* PORTICO_LIMIT_H */
