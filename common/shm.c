/*
 * shm.c: creation of the shared-memory region and counter arithmetic.
 */
#include "config.h"

#include <string.h>
#include <sys/mman.h>

#include "common/shm.h"

struct shm_header *
shm_create(void)
{
	struct shm_header	*shm;

	shm = mmap(NULL, sizeof(*shm), PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (shm == MAP_FAILED)
		return NULL;
	memset(shm, 0, sizeof(*shm));
	shm->magic = SHM_MAGIC;
	shm->version = SHM_VERSION;
	shm->size = sizeof(*shm);
	return shm;
}

void
shm_destroy(struct shm_header *shm)
{
	if (shm != NULL)
		munmap(shm, sizeof(*shm));
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
