/*
 * shm.h: the shared-memory region, created by the master before the first
 * fork and mapped at the same address in every worker.  It outlives a
 * reload.  Layout (types only, both sides include this):
 *
 *   +---------------------------+ 0
 *   | struct shm_header         |  magic, version, size, reload counters
 *   +---------------------------+
 *   | struct shm_stats retired  |  counters of workers that have exited
 *   +---------------------------+
 *   | struct shm_stats slot[N]  |  one per live worker, one cache line each
 *   +---------------------------+
 *   | struct shm_server srv[M]  |  per backend server, keyed "upstream addr",
 *   +---------------------------+  kept across reloads
 *   | uint16_t held[N][M]       |  connections each worker holds per server
 *   +---------------------------+
 *
 * Each worker writes only its own slot (relaxed atomic stores), so there
 * is no contention on the request path; the master sums the slots.  When a
 * worker exits the master folds its slot into `retired` and frees the
 * slot for the next worker.
 *
 * srv[i].active counts the upstream connections in use on server i by all
 * workers (atomic adds); least_conn, random and max_conns read it.  Each
 * worker also records its own share in held[slot][i], so that when a
 * worker dies holding connections the master can take its share back.
 */
#ifndef PORTICO_SHM_H
#define PORTICO_SHM_H

#include <stddef.h>
#include <stdint.h>

#include "common/conf.h"

#define SHM_MAGIC	0x504f5254u	/* "PORT" */
#define SHM_VERSION	2	/* 2: reload counters in the header */
#define SHM_SLOTS	1024
#define SHM_SERVERS	1024	/* distinct upstream servers over the daemon's life */
#define SHM_KEY_LEN	128

struct shm_stats {
	uint64_t	 connections;	/* client connections accepted */
	uint64_t	 requests;	/* requests answered */
	uint64_t	 status[6];	/* answers by class: [1]=1xx .. [5]=5xx */
	uint64_t	 upstream_errors; /* connect failures, resets, invalid responses */
	uint64_t	 cache_hits;	/* answered from the cache */
	uint64_t	 cache_misses;	/* forwarded from a caching route */
	uint64_t	 cache_stale;	/* stale answers for a failed origin */
	uint64_t	 cache_stored;	/* objects stored */
	uint64_t	 connections_refused; /* over worker_connections */
	uint64_t	 pad[2];
} __attribute__((aligned(64)));

/*
 * Health state: written only by the checker process (the master's side),
 * read by workers with relaxed atomic loads.  Workers report passive
 * failures by adding to fails; the checker turns them into state.
 */
enum shm_health {
	SHM_UP = 0,
	SHM_DOWN = 1,		/* failed its active probes: never used */
	SHM_FAILED = 2		/* passive failures (max_fails): used only when
				   no server of the upstream is up */
};

struct shm_server {
	char		 key[SHM_KEY_LEN];	/* "upstream addr"; "" = free */
	uint32_t	 active;		/* connections in use, all workers */
	uint32_t	 used;			/* referenced by the current config */
	uint64_t	 requests;		/* requests sent (workers add) */
	uint64_t	 fails;			/* passive failures (workers add) */
	uint64_t	 retries;		/* requests moved on from it (workers add) */
	uint32_t	 state;			/* enum shm_health (checker writes) */
	uint32_t	 probe_ok;		/* last active probe passed (checker) */
	uint64_t	 changed_ms;		/* CLOCK_MONOTONIC ms of the last change */
	uint64_t	 probes;		/* active probes run (checker) */
	char		 last_probe[64];	/* "200 OK", "connect refused", ... */
} __attribute__((aligned(64)));

struct shm_header {
	uint32_t	 magic;
	uint32_t	 version;
	uint64_t	 size;
	/* Reloads (the master writes, the status page reads; relaxed atomics). */
	uint64_t	 generation;		/* of the serving workers, 1 at start */
	uint64_t	 reloads;		/* HUPs handled, either way */
	uint64_t	 reloads_failed;
	int64_t		 last_reload;		/* Unix time it ended; 0: none yet */
	uint32_t	 last_reload_ok;	/* the last one succeeded */
	uint32_t	 stopping;		/* the master is shutting down */
	struct shm_stats retired;
	struct shm_stats slot[SHM_SLOTS];
	struct shm_server srv[SHM_SERVERS];
	uint16_t	 held[SHM_SLOTS][SHM_SERVERS];
};

/* Map the region (anonymous, shared).  NULL on error with errno set. */
struct shm_header	*shm_create(void);
void			 shm_destroy(struct shm_header *shm);
/* Add src into dst (master). */
void			 shm_stats_add(struct shm_stats *dst, const struct shm_stats *src);
/* Sum retired + every slot (master, for the log). */
void			 shm_stats_total(const struct shm_header *shm, struct shm_stats *out);
/*
 * Give every server of conf its srv[] entry (master, before forking):
 * the entry it had under the same key if any, else a free one.  -1 when
 * the table is full (errbuf filled).
 */
int			 shm_servers_assign(struct shm_header *shm, struct conf *conf,
			    char *errbuf, size_t errlen);
/* A worker in slot died: take back the connections it held (master). */
void			 shm_slot_release(struct shm_header *shm, int slot);

#endif /* PORTICO_SHM_H */
