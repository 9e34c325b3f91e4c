/*
 * cache_punch.c: sending objects by reference (sendfile(2) from the
 * region's memfd) without ever letting a client see another object's
 * bytes.
 *
 * sendfile from the memfd puts references to the region's pages in the
 * socket's buffers, not copies: on loopback they even sit in the
 * receiver's queue until the client reads them.  If the object is then
 * evicted and its blocks refilled through the mapping, those pages would
 * change under the socket and a slow client would read the new object.
 * So an entry that was ever sent by reference is marked (refsent), its
 * blocks go back to the free list marked DIRTY (owner[]), and whoever
 * takes a DIRTY block punches it out of the memfd (fallocate PUNCH_HOLE)
 * before writing into it: shmem drops the pages from the file (and from
 * every process's mapping), the pages still referenced by socket buffers
 * live on, alone, with the old bytes, and the next write into the range
 * faults in a fresh zeroed page.  Only blocks of marked entries pay the
 * syscall (one per contiguous run of blocks) and the page faults when
 * they are filled again.  A writer growing its object punches after it
 * let the mutex go (the blocks are its own by then: nobody else writes
 * or frees them); only an object's first block, which takes the key
 * under the mutex, is punched there.  A worker that dies before punching
 * what it took: the master frees those blocks DIRTY again, and a wipe
 * punches every free block.
 *
 * A huge page cannot be punched in part (the kernel zeroes the range in
 * place instead, in the very page the socket holds), so sending by
 * reference is only allowed when shmem does not use huge pages
 * (cache_sendfile_probe).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include "common/cache.h"
#include "common/cache_int.h"

/*
 * Whether shmem may back the region with huge (or large) pages: the
 * global setting, or one of the per-size ones ("inherit" follows the
 * global one).  "advise" means only where MADV_HUGEPAGE asked for them,
 * which portico never does.
 */
static int
shmem_huge(void)
{
	static const char *top = "/sys/kernel/mm/transparent_hugepage/shmem_enabled";
	char		 buf[256], *sel;
	glob_t		 g;
	FILE		*f;
	size_t		 i;
	int		 huge = 0;

	memset(&g, 0, sizeof(g));
	if (glob("/sys/kernel/mm/transparent_hugepage/hugepages-*/shmem_enabled",
	    0, NULL, &g) != 0)
		g.gl_pathc = 0;
	for (i = 0; i <= g.gl_pathc && !huge; i++) {
		if ((f = fopen(i == 0 ? top : g.gl_pathv[i - 1], "r")) == NULL)
			continue;	/* no THP: no huge pages */
		sel = fgets(buf, sizeof(buf), f) != NULL ? strchr(buf, '[') : NULL;
		fclose(f);
		if (sel != NULL && (strncmp(sel, "[always]", 8) == 0 ||
		    strncmp(sel, "[within_size]", 13) == 0 ||
		    strncmp(sel, "[force]", 7) == 0))
			huge = 1;
	}
	if (g.gl_pathc > 0)
		globfree(&g);
	return huge;
}

/*
 * The memfd to send the region's bytes from, or -1 when sending by
 * reference is not safe here (no memfd, or shmem uses huge pages).  A
 * worker asks once, at its start.  (Punching holes in shmem is older
 * than memfd_create: a region that has a memfd can be punched.)
 */
int
cache_sendfile_fd(struct cache *c)
{
	int	 fd;

	if (c == NULL || (fd = cache_memfd(c)) == -1 || shmem_huge())
		return -1;
	/* Not on huge pages even where MADV_HUGEPAGE would be honoured. */
	(void)madvise(c, c->size, MADV_NOHUGEPAGE);
	return fd;
}

/* Punch blocks [b, b + n) out of the memfd. */
static void
punch_run(struct cache *c, int fd, uint32_t b, uint32_t n)
{
	(void)fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
	    (off_t)(c->off_data + (uint64_t)b * CACHE_BLOCK),
	    (off_t)n * CACHE_BLOCK);
}

/*
 * DIRTY block b was just taken (locked): note it in pr, extending the
 * last run when b follows it.  With pr full, what it holds is punched
 * now, under the mutex (a chain of more than PUNCH_RUNS runs is rare:
 * freed chains go back whole, in order).
 */
void
cache_punch_add(struct cache *c, struct punch_runs *pr, uint32_t b)
{
	if (pr->n > 0 && pr->start[pr->n - 1] + pr->len[pr->n - 1] == b) {
		pr->len[pr->n - 1]++;
		return;
	}
	if (pr->n == PUNCH_RUNS)
		cache_punch_runs(c, pr);
	pr->start[pr->n] = b;
	pr->len[pr->n] = 1;
	pr->n++;
}

/*
 * Punch the runs of pr, one fallocate each, and empty it.  The caller
 * owns those blocks and has not written into them yet: nobody else
 * writes or frees them meanwhile (a wipe leaves a writer's blocks to it),
 * so this needs no lock, and the mutex is not held for the syscalls.
 */
void
cache_punch_runs(struct cache *c, struct punch_runs *pr)
{
	int	 fd, i;

	if (pr->n == 0)
		return;
	if ((fd = cache_memfd(c)) != -1)
		for (i = 0; i < pr->n; i++)
			punch_run(c, fd, pr->start[i], pr->len[i]);
	pr->n = 0;
}

/* After a wipe: punch every free block, run by run (locked; rare). */
void
cache_punch_free(struct cache *c)
{
	uint32_t	*ow = ownerv(c), b, start = 0;
	int		 fd = cache_memfd(c), in = 0;

	if (fd == -1)
		return;
	for (b = 0; b <= c->nblocks; b++) {
		if (b < c->nblocks && ow[b] == NIL) {
			if (!in)
				start = b;
			in = 1;
		} else if (in) {
			punch_run(c, fd, start, b - start);
			in = 0;
		}
	}
}

/*
 * The object behind ref is about to be sent by reference: from now on
 * its blocks are punched before they are freed.  The caller holds a pin,
 * which it lets go only after the send, so whoever frees the entry
 * (after the last pin, seen with sequential consistency) sees the mark.
 */
int
cache_ref_sendable(struct cache *c, const struct cache_ref *ref)
{
	struct cache_entry	*e;

	if (ref->pin == 0 || ref->idx >= c->nblocks)
		return -1;
	e = ent(c, ref->idx);
	if (LOAD(&e->refsent) == 0)
		__atomic_store_n(&e->refsent, 1, __ATOMIC_SEQ_CST);
	return cache_ref_valid(c, ref) ? 0 : -1;
}
