/*
 * shm.c: creation of the shared-memory region and counter arithmetic.
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/metrics.h"
#include "common/shm.h"

/* The memfd behind this process's region, for a binary upgrade. */
static int	shm_fd = -1;

/*
 * A shared mapping of size bytes, zero-filled, backed by a memfd named
 * name so that its fd can be handed to a new binary.  The fd (close on
 * exec) goes to *fdp.  NULL with errno set.
 */
void *
shm_map_new(const char *name, size_t size, int *fdp)
{
	void	*p;
	int	 fd, saved;

	if ((fd = memfd_create(name, MFD_CLOEXEC)) == -1)
		return NULL;
	if (ftruncate(fd, (off_t)size) == -1)
		goto fail;
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		goto fail;
	*fdp = fd;
	return p;
fail:
	saved = errno;
	close(fd);
	errno = saved;
	return NULL;
}

/*
 * Map all of the memfd fd (one a previous binary made with shm_map_new);
 * its size goes to *sizep.  The caller checks what is in it.  NULL with
 * errno set; fd stays open either way.
 */
void *
shm_map_fd(int fd, size_t *sizep)
{
	struct stat	 st;
	void		*p;

	if (fstat(fd, &st) == -1)
		return NULL;
	if (!S_ISREG(st.st_mode) || st.st_size <= 0) {
		errno = EINVAL;
		return NULL;
	}
	p = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED,
	    fd, 0);
	if (p == MAP_FAILED)
		return NULL;
	*sizep = (size_t)st.st_size;
	return p;
}

/* The mapping: the header, then the metrics region (common/metrics.h). */
#define SHM_MAP_SIZE	(METRICS_OFFSET + metrics_size())

struct shm_header *
shm_create(void)
{
	struct shm_header	*shm;
	int			 fd;

	if ((shm = shm_map_new("portico-shm", SHM_MAP_SIZE, &fd)) == NULL)
		return NULL;
	shm->magic = SHM_MAGIC;
	shm->version = SHM_VERSION;
	shm->size = SHM_MAP_SIZE;
	if (limit_table_init(&shm->limits) == -1) {
		munmap(shm, SHM_MAP_SIZE);
		close(fd);
		errno = ENOMEM;
		return NULL;
	}
	if (shm_fd != -1)
		close(shm_fd);
	shm_fd = fd;
	metrics_init(shm_metrics(shm));
	return shm;
}

size_t
shm_map_size(void)
{
	return SHM_MAP_SIZE;
}

int
shm_header_check(const struct shm_header *shm, size_t maplen, char *why,
    size_t whylen)
{
	if (maplen < sizeof(shm->magic) + sizeof(shm->version) +
	    sizeof(shm->size) || shm->magic != SHM_MAGIC) {
		snprintf(why, whylen, "not a portico region");
		return -1;
	}
	if (shm->version != SHM_VERSION) {
		snprintf(why, whylen, "layout version %u, this binary has %u",
		    shm->version, SHM_VERSION);
		return -1;
	}
	if (shm->size != SHM_MAP_SIZE || maplen != SHM_MAP_SIZE) {
		snprintf(why, whylen, "%llu bytes (mapped %zu), this binary's "
		    "layout has %zu", (unsigned long long)shm->size, maplen,
		    (size_t)SHM_MAP_SIZE);
		return -1;
	}
	return 0;
}

struct shm_header *
shm_attach(int fd, char *why, size_t whylen)
{
	struct shm_header	*shm;
	size_t			 len;

	if ((shm = shm_map_fd(fd, &len)) == NULL) {
		snprintf(why, whylen, "cannot map it: %s", strerror(errno));
		return NULL;
	}
	if (shm_header_check(shm, len, why, whylen) == -1) {
		munmap(shm, len);
		return NULL;
	}
	if (shm_fd != -1)
		close(shm_fd);
	shm_fd = fd;
	return shm;
}

int
shm_memfd(void)
{
	return shm_fd;
}

/*
 * Only unmapped: after a binary upgrade the other master and its
 * workers still use the region, which goes when the last one unmaps it.
 */
void
shm_destroy(struct shm_header *shm)
{
	if (shm != NULL)
		munmap(shm, SHM_MAP_SIZE);
	if (shm_fd != -1)
		close(shm_fd);
	shm_fd = -1;
}

int
shm_slot_claim(struct shm_header *shm, int *stale)
{
	int32_t	 me = (int32_t)getpid(), cur;
	int	 i;

	*stale = 0;
	for (i = 0; i < SHM_SLOTS; i++) {
		cur = 0;
		if (__atomic_compare_exchange_n(&shm->slot_owner[i], &cur, me,
		    0, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
			return i;
	}
	/* A master that died without giving its slots back. */
	for (i = 0; i < SHM_SLOTS; i++) {
		cur = __atomic_load_n(&shm->slot_owner[i], __ATOMIC_RELAXED);
		if (cur == me || cur <= 0 || kill(cur, 0) == 0 || errno != ESRCH)
			continue;
		if (__atomic_compare_exchange_n(&shm->slot_owner[i], &cur, me,
		    0, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED)) {
			shm_slot_release(shm, i);
			*stale = 1;
			return i;
		}
	}
	return -1;
}

void
shm_slot_unclaim(struct shm_header *shm, int slot)
{
	__atomic_store_n(&shm->slot_owner[slot], 0, __ATOMIC_RELEASE);
}

static void
add64(uint64_t *p, uint64_t v)
{
	__atomic_fetch_add(p, v, __ATOMIC_RELAXED);
}

void
shm_stats_add(struct shm_stats *dst, const struct shm_stats *src)
{
	int	 i;

	/* Atomic: after an upgrade two masters may fold into retired. */
	add64(&dst->connections, shm_read64(&src->connections));
	add64(&dst->requests, shm_read64(&src->requests));
	for (i = 0; i < 6; i++)
		add64(&dst->status[i], shm_read64(&src->status[i]));
	add64(&dst->upstream_errors, shm_read64(&src->upstream_errors));
	add64(&dst->cache_hits, shm_read64(&src->cache_hits));
	add64(&dst->cache_misses, shm_read64(&src->cache_misses));
	add64(&dst->cache_stale, shm_read64(&src->cache_stale));
	add64(&dst->cache_stored, shm_read64(&src->cache_stored));
	add64(&dst->connections_refused, shm_read64(&src->connections_refused));
	add64(&dst->tunnels, shm_read64(&src->tunnels));
	add64(&dst->tunnels_closed, shm_read64(&src->tunnels_closed));
	add64(&dst->tunnel_bytes_in, shm_read64(&src->tunnel_bytes_in));
	add64(&dst->tunnel_bytes_out, shm_read64(&src->tunnel_bytes_out));
	add64(&dst->realip_malformed, shm_read64(&src->realip_malformed));
	add64(&dst->pp_refused, shm_read64(&src->pp_refused));
	add64(&dst->waf_inspected, shm_read64(&src->waf_inspected));
	add64(&dst->waf_blocked, shm_read64(&src->waf_blocked));
	add64(&dst->waf_detected, shm_read64(&src->waf_detected));
	add64(&dst->spliced_bytes, shm_read64(&src->spliced_bytes));
	add64(&dst->compressed, shm_read64(&src->compressed));
	add64(&dst->compress_in, shm_read64(&src->compress_in));
	add64(&dst->compress_out, shm_read64(&src->compress_out));
	add64(&dst->sendfile_bytes, shm_read64(&src->sendfile_bytes));
	add64(&dst->auth_hashed, shm_read64(&src->auth_hashed));
	add64(&dst->auth_cached, shm_read64(&src->auth_cached));
	add64(&dst->auth_busy, shm_read64(&src->auth_busy));
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
	const struct conf_server	*s = &conf->upstreams[u].servers[i];

	/* A DNS slot keeps its entry (and address) across a reload. */
	if (s->dns != CONF_DNS_NONE)
		snprintf(key, SHM_KEY_LEN, "%s %s %s:%d#%d",
		    conf->upstreams[u].name, s->dns == CONF_DNS_SRV ? "srv" :
		    "resolve", s->dns_name, s->dns_port, s->dns_slot);
	else
		snprintf(key, SHM_KEY_LEN, "%s %s", conf->upstreams[u].name,
		    s->addr.text);
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
				    shm_read32(&shm->srv[j].active) == 0)
					break;
			if (j == SHM_SERVERS) {
				snprintf(errbuf, errlen, "more than %d upstream "
				    "servers in shared memory", SHM_SERVERS);
				return -1;
			}
			memset(&shm->srv[j], 0, sizeof(shm->srv[j]));
			snprintf(shm->srv[j].key, SHM_KEY_LEN, "%s", key);
			shm->srv[j].used = 1;
			/* Empty until the resolver gives it an address. */
			if (s->dns != CONF_DNS_NONE)
				shm->srv[j].state = SHM_EMPTY;
			s->shm_idx = j;
		}
	/* The routes and upstreams get their metrics rows by name too. */
	metrics_assign(shm_metrics(shm), conf);
	/* And the limits their counters, the table its size. */
	return limit_assign(&shm->limits, conf, errbuf, errlen);
}

void
shm_slot_release(struct shm_header *shm, int slot)
{
	int	 j;

	for (j = 0; j < SHM_SERVERS; j++) {
		if (shm->held[slot][j] == 0)
			continue;
		uint32_t cur = shm_read32(&shm->srv[j].active);
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
	/* And what it held of the limits (requests, connections) too. */
	limit_slot_release(&shm->limits, slot);
}
