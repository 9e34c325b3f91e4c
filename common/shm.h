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
 *   | struct limit_table limits |  [limit] and max_conns_per_ip counts,
 *   +---------------------------+  kept across reloads (common/limit.h)
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
#include <stdio.h>
#include <string.h>

#include "common/conf.h"
#include "common/limit.h"

#define SHM_MAGIC	0x504f5254u	/* "PORT" */
/* Bump on any change to the structures below: a new binary then starts empty. */
#define SHM_VERSION	9	/* 2: reload counters, slot owners; 3: the metrics
				   region; 4: DNS slots in struct shm_server;
				   5: tunnel counters in struct shm_stats;
				   6: the limits table (common/limit.h);
				   7: firewall counters in struct shm_stats;
				   8: compression counters and sendfile_bytes in
				      struct shm_stats;
				   9: basic authentication counters in
				      struct shm_stats */
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
	uint64_t	 tunnels;	/* upgraded connections (101) opened */
	uint64_t	 tunnels_closed; /* ... and closed: open = the difference */
	uint64_t	 tunnel_bytes_in;  /* tunnel bytes client to backend */
	uint64_t	 tunnel_bytes_out; /* tunnel bytes backend to client */
	uint64_t	 realip_malformed; /* trusted proxy's address field bad */
	uint64_t	 pp_refused;	/* PROXY protocol headers refused */
	uint64_t	 waf_inspected;	/* requests the firewall inspected */
	uint64_t	 waf_blocked;	/* ... and answered with its status */
	uint64_t	 waf_detected;	/* ... would have blocked (waf = detect) */
	uint64_t	 spliced_bytes;	/* response body bytes moved by splice() */
	uint64_t	 compressed;	/* answers compressed (worker/compress.c) */
	uint64_t	 compress_in;	/* ... body bytes into the encoders */
	uint64_t	 compress_out;	/* ... and out of them */
	uint64_t	 sendfile_bytes; /* cache hit body bytes sent by sendfile() */
	uint64_t	 auth_hashed;	/* checks given to the hashing thread */
	uint64_t	 auth_cached;	/* ... answered from the worker's table */
	uint64_t	 auth_busy;	/* ... refused 503: queue full or too slow */
} __attribute__((aligned(64)));

/*
 * Health state: written only by the checker process (the master's side),
 * read by workers with relaxed atomic loads.  Workers report passive
 * failures by adding to fails; the checker turns them into state.
 */
enum shm_health {
	SHM_UP = 0,
	SHM_DOWN = 1,		/* failed its active probes: never used */
	SHM_FAILED = 2,		/* passive failures (max_fails): used only when
				   no server of the upstream is up */
	SHM_EMPTY = 3		/* a DNS slot without an address: never used */
};

/*
 * A DNS slot (a server of a resolve or srv line): the checker's resolver
 * writes its address under a sequence count (odd while it writes), so a
 * worker copies it whole or tries again; gen moves on at each change of
 * address, which tells a worker to stop reusing pooled connections.
 */
struct shm_dns {
	uint32_t	 seq;			/* odd while written */
	uint32_t	 gen;			/* address changes */
	uint32_t	 len;			/* of sa; 0: empty */
	uint32_t	 weight;		/* the line's, or the SRV record's */
	uint32_t	 backup;		/* SRV: a priority above the lowest */
	uint32_t	 pad;
	uint8_t		 sa[28];		/* sockaddr_in or sockaddr_in6 */
	char		 text[64];		/* "10.0.0.1:80" */
	/* About the name (each slot of a line holds the same; relaxed). */
	uint64_t	 when;			/* Unix time of the last answer */
	char		 result[64];		/* "2 addresses", "timeout", ... */
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
	struct shm_dns	 dns;			/* DNS slots only */
} __attribute__((aligned(64)));

struct shm_header {
	uint32_t	 magic;
	uint32_t	 version;
	uint64_t	 size;		/* sizeof(struct shm_header) */
	int32_t		 slot_owner[SHM_SLOTS];
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
	struct limit_table limits;
};

_Static_assert(LIMIT_SLOTS == SHM_SLOTS, "a limits row per worker slot");

/* A new zeroed shared mapping backed by a memfd (fd to *fdp); NULL, errno. */
void			*shm_map_new(const char *name, size_t size, int *fdp);
/* Map the whole memfd fd; its size to *sizep.  NULL with errno set. */
void			*shm_map_fd(int fd, size_t *sizep);
/* Map a new region (memfd, shared).  NULL on error with errno set. */
struct shm_header	*shm_create(void);
/*
 * Map the region a previous binary handed over in fd, if its layout is
 * this binary's (shm_header_check); then fd is the region's.  NULL with
 * why filled otherwise (fd is left to the caller).
 */
struct shm_header	*shm_attach(int fd, char *why, size_t whylen);
/* 0 when a region of maplen bytes has this binary's layout; else -1, why. */
/* Bytes of the whole mapping: the header, then the metrics region. */
size_t			 shm_map_size(void);
int			 shm_header_check(const struct shm_header *shm, size_t maplen,
			    char *why, size_t whylen);
/* The memfd of the region this process created or attached; -1: none. */
int			 shm_memfd(void);
/* Unmap (the region lives on while another process maps it). */
void			 shm_destroy(struct shm_header *shm);
/*
 * Take a free worker slot for this master (or one whose master died:
 * *stale is then 1 and its connection counts were given back; the caller
 * releases its cache pins too).  -1 when none is left.
 */
int			 shm_slot_claim(struct shm_header *shm, int *stale);
void			 shm_slot_unclaim(struct shm_header *shm, int slot);
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

/*
 * Access to shared counters.  Every read or write of a field of the region
 * that another process may touch at the same time goes through these, so
 * the memory order is chosen in one place.
 */

/* A relaxed read of a shared counter or state word. */
static inline uint64_t
shm_read64(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

static inline uint32_t
shm_read32(const uint32_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

/* A relaxed write of a word only one process (the master) writes. */
static inline void
shm_write64(uint64_t *p, uint64_t v)
{
	__atomic_store_n(p, v, __ATOMIC_RELAXED);
}

static inline void
shm_write32(uint32_t *p, uint32_t v)
{
	__atomic_store_n(p, v, __ATOMIC_RELAXED);
}

/*
 * One more in a counter of the worker's own stats slot.  Only this worker
 * writes the slot, so a relaxed load and store suffice (no locked add);
 * the master reads it with shm_read64.
 */
static inline void
shm_stat_inc(uint64_t *p)
{
	__atomic_store_n(p, __atomic_load_n(p, __ATOMIC_RELAXED) + 1,
	    __ATOMIC_RELAXED);
}

/* v more in a counter only this process writes (as shm_stat_inc). */
static inline void
shm_stat_add(uint64_t *p, uint64_t v)
{
	__atomic_store_n(p, __atomic_load_n(p, __ATOMIC_RELAXED) + v,
	    __ATOMIC_RELAXED);
}

/*
 * A flag that publishes what was written before it (release), and its
 * reading (acquire): who sees the flag set sees those writes too.
 */
static inline void
shm_publish8(uint8_t *p, uint8_t v)
{
	__atomic_store_n(p, v, __ATOMIC_RELEASE);
}

static inline uint8_t
shm_acquire8(const uint8_t *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

/* One more in a counter several processes add to (atomic add). */
static inline void
shm_count(uint64_t *p)
{
	__atomic_add_fetch(p, 1, __ATOMIC_RELAXED);
}

/*
 * The worker in slot takes (delta > 0) or gives back (delta < 0) one
 * upstream connection of server idx.  The worker's own row moves first
 * when taking, last when giving back: if it dies in between, the master
 * (shm_slot_release) takes back at most what really was added.
 */
static inline void
shm_server_active_add(struct shm_header *shm, int slot, int idx, int delta)
{
	uint16_t	*held = &shm->held[slot][idx];

	if (delta > 0) {
		__atomic_store_n(held, (uint16_t)(*held + 1), __ATOMIC_RELEASE);
		__atomic_add_fetch(&shm->srv[idx].active, 1, __ATOMIC_RELAXED);
	} else {
		__atomic_sub_fetch(&shm->srv[idx].active, 1, __ATOMIC_RELAXED);
		__atomic_store_n(held, (uint16_t)(*held - 1), __ATOMIC_RELEASE);
	}
}

/*
 * The checker publishes a server's health state: the time of the change
 * first, then the state, both with release order, so a worker that sees
 * the new state also sees when it changed.
 */
static inline void
shm_server_state_set(struct shm_server *s, uint32_t state, uint64_t now_ms)
{
	__atomic_store_n(&s->changed_ms, now_ms, __ATOMIC_RELEASE);
	__atomic_store_n(&s->state, state, __ATOMIC_RELEASE);
}

/* The checker counts an active probe and publishes whether it passed. */
static inline void
shm_server_probed(struct shm_server *s, int ok)
{
	__atomic_store_n(&s->probe_ok, ok ? 1u : 0u, __ATOMIC_RELAXED);
	__atomic_add_fetch(&s->probes, 1, __ATOMIC_RELAXED);
}

/*
 * The checker publishes a DNS slot's address (len 0: empty), with the
 * weight and backup flag in force and text for logs.
 */
static inline void
shm_dns_write(struct shm_dns *d, const void *sa, uint32_t len, const char *text,
    uint32_t weight, uint32_t backup)
{
	uint32_t	 seq = __atomic_load_n(&d->seq, __ATOMIC_RELAXED);

	/* Odd: a checker died while writing; this one starts over. */
	seq += seq & 1;
	__atomic_store_n(&d->seq, seq + 1, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_RELEASE);
	if (len > sizeof(d->sa))
		len = 0;
	memset(d->sa, 0, sizeof(d->sa));
	if (len > 0)
		memcpy(d->sa, sa, len);
	snprintf(d->text, sizeof(d->text), "%s", len > 0 ? text : "");
	__atomic_store_n(&d->len, len, __ATOMIC_RELAXED);
	__atomic_store_n(&d->weight, weight, __ATOMIC_RELAXED);
	__atomic_store_n(&d->backup, backup, __ATOMIC_RELAXED);
	__atomic_store_n(&d->gen, __atomic_load_n(&d->gen, __ATOMIC_RELAXED) + 1,
	    __ATOMIC_RELAXED);
	__atomic_store_n(&d->seq, seq + 2, __ATOMIC_RELEASE);
}

/* The checker changes a slot's weight or backup flag, not its address. */
static inline void
shm_dns_set_weight(struct shm_dns *d, uint32_t weight, uint32_t backup)
{
	__atomic_store_n(&d->weight, weight, __ATOMIC_RELAXED);
	__atomic_store_n(&d->backup, backup, __ATOMIC_RELAXED);
}

/* A slot's generation: it moves on at each change of address. */
static inline uint32_t
shm_dns_gen(const struct shm_dns *d)
{
	return __atomic_load_n(&d->gen, __ATOMIC_ACQUIRE);
}

/*
 * A worker copies a slot's address: sa (at least 28 bytes) and text (64),
 * and returns its generation; *lenp is 0 for an empty slot.  A writer
 * that never finishes (a checker killed in the middle) does not wedge the
 * reader: after many tries the slot reads as empty.
 */
static inline uint32_t
shm_dns_read(const struct shm_dns *d, void *sa, uint32_t *lenp, char *text)
{
	uint32_t	 s1, s2, gen;
	int		 tries = 0;

	for (;; tries++) {
		s1 = __atomic_load_n(&d->seq, __ATOMIC_ACQUIRE);
		if (tries == 100000) {
			memset(sa, 0, sizeof(d->sa));
			text[0] = '\0';
			*lenp = 0;
			return __atomic_load_n(&d->gen, __ATOMIC_RELAXED);
		}
		if (s1 & 1)
			continue;
		memcpy(sa, d->sa, sizeof(d->sa));
		memcpy(text, d->text, sizeof(d->text));
		*lenp = __atomic_load_n(&d->len, __ATOMIC_RELAXED);
		gen = __atomic_load_n(&d->gen, __ATOMIC_RELAXED);
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		s2 = __atomic_load_n(&d->seq, __ATOMIC_RELAXED);
		if (s1 == s2)
			break;
	}
	text[63] = '\0';
	if (*lenp > sizeof(d->sa))
		*lenp = 0;
	return gen;
}

#endif /* PORTICO_SHM_H */
