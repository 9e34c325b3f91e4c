/*
 * shm.c: creation of the shared-memory region and counter arithmetic.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include "common/metrics.h"
#include "common/shm.h"

/* The mapping: the header, then the metrics region (common/metrics.h). */
#define SHM_MAP_SIZE	(METRICS_OFFSET + metrics_size())

struct shm_header *
shm_create(void)
{
	struct shm_header	*shm;

	/* NORESERVE: the metrics slots take memory only once written. */
	shm = mmap(NULL, SHM_MAP_SIZE, PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (shm == MAP_FAILED)
		return NULL;
	memset(shm, 0, sizeof(*shm));
	shm->magic = SHM_MAGIC;
	shm->version = SHM_VERSION;
	shm->size = SHM_MAP_SIZE;
	metrics_init(shm_metrics(shm));
	return shm;
}

void
shm_destroy(struct shm_header *shm)
{
	if (shm != NULL)
		munmap(shm, SHM_MAP_SIZE);
}

static uint64_t
load64(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

void
shm_stats_add(struct shm_stats *dst, const struct shm_stats *src)
{
	int	 i;

	dst->connections += load64(&src->connections);
	dst->requests += load64(&src->requests);
	for (i = 0; i < 6; i++)
		dst->status[i] += load64(&src->status[i]);
	dst->upstream_errors += load64(&src->upstream_errors);
	dst->cache_hits += load64(&src->cache_hits);
	dst->cache_misses += load64(&src->cache_misses);
	dst->cache_stale += load64(&src->cache_stale);
	dst->cache_stored += load64(&src->cache_stored);
	dst->connections_refused += load64(&src->connections_refused);
}

void
shm_stats_total(const struct shm_header *shm, struct shm_stats *out)
{
	int	 i;

	memset(out, 0, sizeof(*out));
	shm_stats_add(out, &shm->retired);
	for (i = 0; i < SHM_SLOTS; i++)
		shm_stats_add(out, &shm->slot[i]);
}

static void
server_key(const struct conf *conf, size_t u, size_t i, char *key)
{
	snprintf(key, SHM_KEY_LEN, "%s %s", conf->upstreams[u].name,
	    conf->upstreams[u].servers[i].addr.text);
}

int
shm_servers_assign(struct shm_header *shm, struct conf *conf, char *errbuf,
    size_t errlen)
{
	char			 key[SHM_KEY_LEN];
	size_t			 u, i;
	int			 j;
	struct conf_server	*s;

	/* Pass 1: servers that had an entry keep it (and its counters). */
	for (j = 0; j < SHM_SERVERS; j++)
		shm->srv[j].used = 0;
	for (u = 0; u < conf->nupstreams; u++)
		for (i = 0; i < conf->upstreams[u].nservers; i++) {
			s = &conf->upstreams[u].servers[i];
			server_key(conf, u, i, key);
			s->shm_idx = -1;
			for (j = 0; j < SHM_SERVERS; j++)
				if (strcmp(shm->srv[j].key, key) == 0) {
					s->shm_idx = j;
					shm->srv[j].used = 1;
					break;
				}
		}
	/* Pass 2: new servers take a free entry, or one nothing uses now. */
	for (u = 0; u < conf->nupstreams; u++)
		for (i = 0; i < conf->upstreams[u].nservers; i++) {
			s = &conf->upstreams[u].servers[i];
			if (s->shm_idx != -1)
				continue;
			server_key(conf, u, i, key);
			for (j = 0; j < SHM_SERVERS; j++)
				if (shm->srv[j].key[0] == '\0')
					break;
			for (j = j < SHM_SERVERS ? j : 0; j < SHM_SERVERS; j++)
				if (!shm->srv[j].used &&
				    __atomic_load_n(&shm->srv[j].active,
				    __ATOMIC_RELAXED) == 0)
					break;
			if (j == SHM_SERVERS) {
				snprintf(errbuf, errlen, "more than %d upstream "
				    "servers in shared memory", SHM_SERVERS);
				return -1;
			}
			memset(&shm->srv[j], 0, sizeof(shm->srv[j]));
			snprintf(shm->srv[j].key, SHM_KEY_LEN, "%s", key);
			shm->srv[j].used = 1;
			s->shm_idx = j;
		}
	/* The routes and upstreams get their metrics rows by name too. */
	metrics_assign(shm_metrics(shm), conf);
	return 0;
}

void
shm_slot_release(struct shm_header *shm, int slot)
{
	int	 j;

	for (j = 0; j < SHM_SERVERS; j++) {
		if (shm->held[slot][j] == 0)
			continue;
		uint32_t cur = __atomic_load_n(&shm->srv[j].active, __ATOMIC_RELAXED);
		uint32_t sub;

		/* Never below zero, whatever the row says. */
		do {
			sub = shm->held[slot][j] < cur ? shm->held[slot][j] : cur;
		} while (!__atomic_compare_exchange_n(&shm->srv[j].active, &cur,
		    cur - sub, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED));
		shm->held[slot][j] = 0;
	}
	/* Its per-route counters go to retired, its connections to 0. */
	metrics_slot_release(shm_metrics(shm), slot);
}
