/*
 * metrics.h: the shared-memory region of the per-route, per-upstream and
 * per-worker metrics of the status endpoint (types only, both sides
 * include this).  It lies in the same mapping as struct shm_header, right
 * after it (shm_metrics() finds it), and like it outlives a reload:
 *
 *   +---------------------------------+ shm + METRICS_OFFSET
 *   | magic, version, started         |  started: when the master made it
 *   | route_name[METRICS_ROUTES]      |  row 0: requests no route took
 *   | upstream_name[METRICS_UPSTREAMS]|
 *   | live[SHM_SLOTS]                 |  a worker in the slot has written
 *   +---------------------------------+
 *   | struct metrics_slot retired     |  rows of workers that have exited
 *   | struct metrics_slot slot[N]     |  one per stats slot (shm.h)
 *   +---------------------------------+
 *
 * A slot holds the worker's open client connections (a gauge), and for
 * every route and upstream row its counters and histograms, each row in
 * cache lines of its own.  A worker writes only its own slot (relaxed
 * loads and stores: one writer, no lock, no syscall); the status answer
 * sums retired and the live slots.  When a worker exits, the master
 * folds its rows into retired (its connection gauge is dropped: they
 * are closed) and zeroes the slot (metrics_slot_release).
 *
 * Rows are keyed by name (metrics_assign, at each configuration the
 * master takes on): a route or upstream keeps its row, and so its
 * counters, across reloads.  A row whose name the configuration no
 * longer has is hidden from the status answer but kept, so that the
 * name coming back resumes its counts; it is given to a new name only
 * when no free row is left, and then zeroed.  At most METRICS_ROUTES - 1
 * routes and METRICS_UPSTREAMS upstreams have rows: the ones after that
 * (in file order) are not counted per route or upstream (the master
 * warns); the totals still count them.
 *
 * The mapping is anonymous and made with MAP_NORESERVE: pages are only
 * used for the slots and rows that are written.
 */
#ifndef PORTICO_METRICS_H
#define PORTICO_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "common/conf.h"
#include "common/shm.h"

#define METRICS_MAGIC		0x4d455452u	/* "METR" */
#define METRICS_VERSION		1
#define METRICS_ROUTES		256	/* route rows, row 0 included */
#define METRICS_UPSTREAMS	128	/* upstream rows */
#define METRICS_BUCKETS		12	/* 11 bounds and +Inf */
/* Where the region starts in the mapping (page-aligned). */
#define METRICS_OFFSET		((sizeof(struct shm_header) + 4095) & ~(size_t)4095)

/*
 * A duration histogram.  bucket[i] counts the durations in
 * (bound[i-1], bound[i]] (not cumulative; the last one is over the
 * last bound), so the total is their sum: the count can never disagree
 * with the buckets, whatever a reader catches mid-update.
 */
struct metrics_hist {
	uint64_t	 bucket[METRICS_BUCKETS];
	uint64_t	 sum_us;	/* total of the durations, microseconds */
};

struct metrics_route_row {
	uint64_t		 status[6];	/* [1]=1xx .. [5]=5xx, [0] other */
	struct metrics_hist	 duration;	/* head received to exchange end */
} __attribute__((aligned(64)));

struct metrics_upstream_row {
	struct metrics_hist	 time;		/* upstream attempt to response end */
} __attribute__((aligned(64)));

struct metrics_slot {
	uint64_t			 connections; /* open client connections now */
	uint64_t			 pid;	/* the worker writing the slot */
	uint64_t			 pad[6];
	struct metrics_route_row	 route[METRICS_ROUTES];
	struct metrics_upstream_row	 upstream[METRICS_UPSTREAMS];
} __attribute__((aligned(64)));

struct metrics_name {
	char		 name[CONF_MAX_NAME + 1];	/* "" = free */
	uint8_t		 used;		/* named by the current configuration */
};

struct metrics {
	uint32_t		 magic;
	uint32_t		 version;
	int64_t			 started;	/* Unix time the master started */
	struct metrics_name	 route_name[METRICS_ROUTES];
	struct metrics_name	 upstream_name[METRICS_UPSTREAMS];
	uint8_t			 live[SHM_SLOTS];
	struct metrics_slot	 retired;
	struct metrics_slot	 slot[SHM_SLOTS];
};

/* The upper bounds of the histogram buckets, microseconds (11 of them). */
extern const uint64_t	 metrics_bounds_us[METRICS_BUCKETS - 1];

/* The region of the mapping that starts with shm. */
static inline struct metrics *
shm_metrics(const struct shm_header *shm)
{
	return (struct metrics *)((char *)(uintptr_t)shm + METRICS_OFFSET);
}

/* Bytes the region needs after METRICS_OFFSET. */
size_t	 metrics_size(void);
/* Master: set up a fresh (zero-filled) region. */
void	 metrics_init(struct metrics *m);
/*
 * Master: give every route and upstream of conf its row (metrics_idx),
 * the one its name had if any; -1 for those over the limits (warned).
 */
void	 metrics_assign(struct metrics *m, struct conf *conf);
/* Master: the worker in slot is gone: fold its rows into retired. */
void	 metrics_slot_release(struct metrics *m, int slot);
/* Readers: a route or upstream row summed over retired and live slots. */
void	 metrics_route_total(const struct metrics *m, int row,
	    struct metrics_route_row *out);
void	 metrics_upstream_total(const struct metrics *m, int row,
	    struct metrics_upstream_row *out);
/* The bucket a duration falls into. */
int	 metrics_bucket(uint64_t us);

#endif /* PORTICO_METRICS_H */
