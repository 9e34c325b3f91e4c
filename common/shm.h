/*
 * shm.h: the shared-memory region, created by the master before the first
 * fork and mapped at the same address in every worker.  It outlives a
 * reload.  Layout (types only, both sides include this):
 *
 *   +---------------------------+ 0
 *   | struct shm_header         |  magic, version, size
 *   +---------------------------+
 *   | struct shm_stats retired  |  counters of workers that have exited
 *   +---------------------------+
 *   | struct shm_stats slot[N]  |  one per live worker, one cache line each
 *   +---------------------------+
 *
 * Each worker writes only its own slot (relaxed atomic stores), so there
 * is no contention on the request path; the master sums the slots.  When a
 * worker exits the master folds its slot into `retired` and frees the
 * slot for the next worker.
 */
#ifndef PORTICO_SHM_H
#define PORTICO_SHM_H

#include <stdint.h>

#define SHM_MAGIC	0x504f5254u	/* "PORT" */
#define SHM_VERSION	1
#define SHM_SLOTS	1024

struct shm_stats {
	uint64_t	 connections;	/* client connections accepted */
	uint64_t	 requests;	/* requests answered */
	uint64_t	 status[6];	/* answers by class: [1]=1xx .. [5]=5xx */
	uint64_t	 upstream_errors; /* connect failures, resets, invalid responses */
	uint64_t	 pad[7];
} __attribute__((aligned(64)));

struct shm_header {
	uint32_t	 magic;
	uint32_t	 version;
	uint64_t	 size;
	struct shm_stats retired;
	struct shm_stats slot[SHM_SLOTS];
};

/* Map the region (anonymous, shared).  NULL on error with errno set. */
struct shm_header	*shm_create(void);
void			 shm_destroy(struct shm_header *shm);
/* Add src into dst (master). */
void			 shm_stats_add(struct shm_stats *dst, const struct shm_stats *src);
/* Sum retired + every slot (master, for the log). */
void			 shm_stats_total(const struct shm_header *shm, struct shm_stats *out);

#endif /* PORTICO_SHM_H */
