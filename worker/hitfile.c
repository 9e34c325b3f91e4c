/*
 * hitfile.c: a large cache hit sent by reference.  The cache region is a
 * memfd mapped at offset 0 (common/cache.c), so the bytes of a run of
 * adjacent blocks are one range of the file, which sendfile(2) moves to
 * the client socket as page references: no copy through user space.  The
 * head (r->hb) goes first with send(MSG_MORE), then one sendfile per run.
 *
 * Correctness when the object's blocks are reused while the socket still
 * holds their pages is the store's (common/cache_punch.c): the object is
 * pinned while it is sent, marked (cache_ref_sendable) before the first
 * sendfile, and its blocks are punched out of the memfd before they are
 * freed, so those pages keep its bytes.
 *
 * Only where nothing needs the bytes (hitfile_wanted): a plain HTTP/1
 * client, a complete pinned object (not one that grows, not chunked),
 * HITFILE_MIN_LENGTH bytes or more to send.  Everything else, HEAD and
 * ranges that fit behind the head included, takes the copy path in
 * httpcache_hit.c.
 */
#include "config.h"

#include <errno.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "common/cache.h"
#include "common/shm.h"
#include "worker/event.h"
#include "worker/hitfile.h"
#include "worker/proxy.h"
#include "worker/proxy_int.h"
#include "worker/worker.h"

static int	 hitfile_fd = -1;	/* the cache's memfd; -1: copies only */

void
hitfile_init(void)
{
	hitfile_fd = worker.conf->cache.sendfile ?
	    cache_sendfile_fd(worker.cache) : -1;
}

/*
 * Nothing between the cache and the client needs the body's bytes: the
 * one place that says so for hits.  A feature that reads or rewrites
 * response bodies (compression, inspection) adds its condition here.
 */
int
hitfile_wanted(const struct client *c, const struct req *r)
{
	if (hitfile_fd == -1 || r->cend - r->coff < HITFILE_MIN_LENGTH)
		return 0;
	if (r->fe != &h1_ops || client_https(c) || c->tls != NULL)
		return 0;
	if (r->c_grow || r->c_chunk || r->cref.pin == 0)
		return 0;
	if (r->cz != NULL)
		return 0;	/* compressed: the body goes through compress.c */
	return cache_ref_sendable(worker.cache, &r->cref) == 0;
}

/* The head: what is left of r->hb, held back for the body (MSG_MORE). */
static int
head_send(struct client *c)
{
	struct req	*r = c->r;
	ssize_t		 n;

	while (r->hb_pos < r->hb_end) {
		n = send(c->io.fd, r->hb + r->hb_pos, r->hb_end - r->hb_pos,
		    MSG_MORE | MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				c->wr_ready = 0;
				return 0;
			}
			return -1;
		}
		r->hb_pos += (uint32_t)n;
	}
	return 1;
}

int
hitfile_send(struct client *c)
{
	struct req	*r = c->r;
	struct iovec	 iov[CACHE_IOV];
	uint64_t	 want;
	ssize_t		 n;
	off_t		 off;
	size_t		 left;
	int		 k, i, rc;

	if ((rc = head_send(c)) != 1)
		return rc;
	if (r->coff >= r->cend)
		return 1;
	want = r->cend - r->coff;
	if (want > CACHE_WRITE_MAX)
		want = CACHE_WRITE_MAX;
	if ((k = cache_iov(worker.cache, &r->cref, r->coff, want, iov,
	    CACHE_IOV)) <= 0)
		return -2;
	for (i = 0; i < k; i++) {
		off = (off_t)((char *)iov[i].iov_base - (char *)worker.cache);
		left = iov[i].iov_len;
		while (left > 0) {
			n = sendfile(c->io.fd, hitfile_fd, &off, left);
			if (n == -1 && errno == EINTR)
				continue;
			if (n == -1 && errno == EAGAIN) {
				c->wr_ready = 0;
				return 0;
			}
			if (n <= 0)
				return -1;
			left -= (size_t)n;
			r->coff += (uint64_t)n;
			r->body_bytes += (uint64_t)n;
			shm_stat_add(&worker.stats->sendfile_bytes, (uint64_t)n);
		}
	}
	/* Pinned, it cannot change but by a wipe: then the bytes are not its. */
	return cache_ref_valid(worker.cache, &r->cref) ? 1 : -2;
}
