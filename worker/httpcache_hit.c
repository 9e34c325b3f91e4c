/*
 * httpcache_hit.c: answering from the cache: the head of a hit (the
 * client's conditions and range), sending the object from shared memory
 * (also as it grows, chunked when its length is not known yet), and
 * stale answers when the origin fails (stale-if-error).
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/epoll.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "common/cache.h"
#include "common/http.h"
#include "common/log.h"
#include "common/net.h"
#include "common/shm.h"
#include "common/strbuf.h"
#include "worker/balance.h"
#include "worker/bodybuf.h"
#include "worker/cachepol.h"
#include "worker/compress.h"
#include "worker/event.h"
#include "worker/hitfile.h"
#include "worker/proxy.h"
#include "worker/proxy_int.h"
#include "worker/reqid.h"
#include "worker/tls.h"
#include "worker/uri.h"
#include "worker/varsrc.h"
#include "worker/worker.h"

static int64_t	 cache_grow_patience(const struct req *r);
static int	 cache_grow_check(struct req *r);

/*
 * Hits on an object still being stored (another request, maybe in another
 * worker, fills it at its backend's pace, cache_ahead_*): the client is
 * sent what is stored and follows the object as it grows (step_cache,
 * W_CGROW), until it is committed (then pinned, as any hit) or given up
 * (the connection is cut: its Content-Length was announced, or, for one
 * whose length is not known yet, a chunked answer gets no last-chunk).
 * An HTTP/1.0 client, which cannot be sent chunks, waits for such an
 * object to be whole, as before (lock_timeout).
 */

/* How long a growing object may stay still before its readers give up. */
static int64_t
cache_grow_patience(const struct req *r)
{
	return r->upstream->conf->read_timeout_ms + 1000;
}

/* Progress of the growing object: -1 when it is gone. */
static int
cache_grow_check(struct req *r)
{
	switch (cache_ref_grow(worker.cache, &r->cref)) {
	case 0:
		return 0;
	case 1:
		/*
		 * Whole now: pinned while it is sent, as any hit (as a
		 * follower it could not be evicted meanwhile; without room
		 * for a pin it stays one).
		 */
		r->c_grow = 0;
		if (r->c_chunk)
			r->cend = r->cref.head_len + r->cref.body_len;
		if (cache_pin(worker.cache, &r->cref, worker.slot) == 0)
			cache_unfollow(worker.cache, &r->cref);
		else if (!cache_ref_valid(worker.cache, &r->cref))
			return -1;
		return 0;
	default:
		return -1;
	}
}

/* How a hit answers: the status, a range of the body, whether a body. */
struct hit_plan {
	int		 status;
	int		 range;		/* cachepol_range: 1 one range, -1 none fits */
	int		 nobody;
	int		 unknown;	/* growing, its length not known yet */
	uint64_t	 blen;		/* body length */
	uint64_t	 first, last;	/* the range */
};

/* The client's conditions and range against the object (rq may be NULL). */
static void
cache_hit_plan(struct req *r, const struct http_request *rq,
    struct hit_plan *hp)
{
	memset(hp, 0, sizeof(*hp));
	hp->status = r->cmeta.status;
	hp->blen = r->c_grow ? r->cexpect : r->cref.body_len;
	hp->unknown = r->c_grow && hp->blen == CACHE_EXPECT_UNKNOWN;
	hp->nobody = r->method == HTTP_M_HEAD;
	if (rq != NULL && hp->status == 200 &&
	    cachepol_not_modified(rq, &r->cmeta)) {
		hp->status = 304;
		hp->nobody = 1;
	} else if (rq != NULL && hp->status == 200 && r->method == HTTP_M_GET &&
	    !hp->unknown)
		hp->range = cachepol_range(rq, &r->cmeta, hp->blen, &hp->first,
		    &hp->last);
	if (hp->range == -1) {
		hp->status = 416;
		hp->nobody = 1;
	} else if (hp->range == 1)
		hp->status = 206;
}

/*
 * The head of a hit into r->hb: the stored head (copied in, with another
 * status line when hp says so), then Age, Via, the range, and the tail
 * (framing, connection fields, Cache-Status) by head_tail().  Returns its
 * length, or -1.
 */
static int
cache_hit_head(struct client *c, const struct hit_plan *hp)
{
	struct req	*r = c->r;
	struct strbuf	 b;
	uint32_t	 hl = r->cref.head_len;
	char		*eol;
	size_t		 oldsl, newsl;
	char		 line[64];
	struct strbuf	 sl;
	const char	*reason;
	int64_t		 len = HEAD_NO_LENGTH;	/* for head_tail() */

	if (cache_copy(worker.cache, &r->cref, 0, r->hb, hl) == -1 ||
	    memcmp(r->hb + hl - 4, "\r\n\r\n", 4) != 0)
		return -1;
	if (r->route->cache_targeted_strip)	/* RFC 9213 fields: not for clients */
		hl = (uint32_t)cachepol_head_drop(r->hb, hl,
		    (const char *const *)r->route->cache_targeted,
		    r->route->ncache_targeted);
	if (r->reqid[0] != '\0') {
		/* A stored id field of the backend's: head_tail() writes ours. */
		const char *idn = reqid_header_lc();

		hl = (uint32_t)cachepol_head_drop(r->hb, hl, &idn, 1);
	}
	if (r->cz_ok && hp->status == 200 && !hp->nobody && hp->range == 0)
		hl = (uint32_t)compress_hit(c, r->hb, hl, bufsize - 512,
		    hp->unknown ? -1 : (int64_t)hp->blen);
	if (hp->status != r->cmeta.status) {
		/* A different status line in front of the stored fields. */
		if ((eol = memchr(r->hb, '\n', hl)) == NULL)
			return -1;
		oldsl = eol + 1 - r->hb;
		reason = http_status_reason(hp->status);
		strbuf_init(&sl, line, sizeof(line));
		r->fe->status_line(&sl, hp->status, reason, strlen(reason));
		if (sl.over)
			return -1;
		newsl = sl.len;
		memmove(r->hb + newsl, r->hb + oldsl, hl - oldsl);
		memcpy(r->hb, line, newsl);
		hl = hl - oldsl + newsl;
	}
	/* Go on before the final empty line. */
	strbuf_init_at(&b, r->hb, bufsize, hl - 2);
	strbuf_str(&b, "Age: ");
	strbuf_num(&b, cachepol_age(&r->cmeta, ev_wall));
	strbuf_str(&b, "\r\nVia: 1.1 portico\r\n");
	if (r->cstatus[0] == '\0') {
		/* The plain hit: its value is also kept for the log. */
		struct strbuf	 cs;

		strbuf_init(&cs, r->cstatus, sizeof(r->cstatus) - 1);
		strbuf_str(&cs, "portico; hit; ttl=");
		strbuf_num(&cs, cachepol_ttl(&r->cmeta, ev_wall));
		r->cstatus[cs.len] = '\0';
	}
	if (r->hsts != NULL) {
		strbuf_str(&b, "Strict-Transport-Security: ");
		strbuf_str(&b, r->hsts);
		strbuf_str(&b, "\r\n");
	}
	if (hp->status == 416) {
		strbuf_fmt(&b, "Content-Range: bytes */%llu\r\n",
		    (unsigned long long)hp->blen);
		len = 0;
	} else if (hp->range == 1) {
		strbuf_fmt(&b, "Content-Range: bytes %llu-%llu/%llu\r\n",
		    (unsigned long long)hp->first, (unsigned long long)hp->last,
		    (unsigned long long)hp->blen);
		len = (int64_t)(hp->last - hp->first + 1);
	} else if (hp->unknown) {
		/* Its length is known once it is whole: chunks till then. */
		if (!hp->nobody)
			len = HEAD_CHUNKED;
	} else if (hp->status != 204 && (hp->status != 304 || hp->blen > 0))
		len = (int64_t)hp->blen;
	if (r->cz != NULL || r->cz_vary) {
		compress_fields(r, &b);
		if (r->cz != NULL)
			len = HEAD_CHUNKED;	/* framed by compress.c */
	}
	r->fe->head_tail(&b, r, len);
	return b.over ? -1 : (int)b.len;
}

/*
 * Which object bytes a hit sends (r->coff to r->cend), and how: a body
 * that fits behind the head is copied there (checked against the
 * sequence), so that it goes out from private memory whatever happens
 * to the object meanwhile; a larger one is pinned while it is sent; a
 * growing one is followed by step_cache, and pinned once whole.
 * -1 when the object changed.
 */
static int
cache_hit_body(struct req *r, const struct hit_plan *hp)
{
	r->c_chunk = hp->unknown && !hp->nobody;
	if (hp->nobody)
		r->coff = r->cend = 0;
	else if (hp->unknown) {
		r->coff = r->cref.head_len;
		r->cend = UINT64_MAX;	/* set at the commit */
	} else if (hp->range == 1) {
		r->coff = r->cref.head_len + hp->first;
		r->cend = r->cref.head_len + hp->last + 1;
	} else {
		r->coff = r->cref.head_len;
		r->cend = r->cref.head_len + hp->blen;
	}
	if (r->c_grow) {
		r->cwait_until = ev_now + cache_grow_patience(r);
	} else if (r->cend - r->coff <= bufsize - r->hb_end) {
		if (r->cend > r->coff && cache_copy(worker.cache, &r->cref, r->coff,
		    r->hb + r->hb_end, r->cend - r->coff) == -1)
			return -1;
		r->hb_end += r->cend - r->coff;
		r->body_bytes = r->cend - r->coff;
		r->coff = r->cend;
	} else if (r->cref.pin == 0 &&
	    cache_pin(worker.cache, &r->cref, worker.slot) == -1 &&
	    !cache_ref_valid(worker.cache, &r->cref))
		return -1;
	return 0;
}

/*
 * Answer from the found object (r->cref): the client's own conditions
 * and a single range are honoured.  rq may be NULL (then neither is).
 * Returns STEP_ANSWERED with c->state CS_CACHE, or STEP_NEXT when the
 * object changed under us (the caller goes upstream instead).
 */
enum step
cache_hit(struct client *c, const struct http_request *rq)
{
	struct req	*r = c->r;
	struct hit_plan	 hp;
	int		 len;

	if (r->cref.head_len < 16 || r->cref.head_len > bufsize - 1024)
		return STEP_NEXT;
	if (r->hb == NULL && (r->hb = buf_get()) == NULL)
		return STEP_NEXT;
	cache_hit_plan(r, rq, &hp);
	if ((len = cache_hit_head(c, &hp)) == -1)
		goto fail;
	if (resp_rules_any(c)) {
		/* Response rules hold on delivery, not on what is stored. */
		struct strbuf	 b;

		r->status = hp.status;
		strbuf_init_at(&b, r->hb, bufsize, (size_t)len);
		resp_rules_apply(c, &b, 0);
		if (b.over)
			goto fail;
		len = (int)b.len;
	}
	r->hb_pos = 0;
	r->hb_end = (uint32_t)len;
	compress_head_len(r, (size_t)len);
	if (cache_hit_body(r, &hp) == -1)
		goto fail;
	r->c_sf = hitfile_wanted(c, r);
	r->status = hp.status;
	r->resp_head = 1;
	r->c_hit = 1;
	req_drop_up(r);
	active_add(r, NULL, -1);	/* no server is busy with this any more */
	if (cache_writing(&r->cw))
		cache_abort(worker.cache, &r->cw);
	r->c_store = 0;
	c->state = CS_CACHE;
	return STEP_ANSWERED;
fail:
	compress_free(r);	/* the upstream's answer decides again */
	r->cz_vary = 0;
	return STEP_NEXT;
}

/*
 * The iovec of the next write of an object to the client: what is left of
 * r->hb, then the object's bytes from r->coff up to end, at most
 * CACHE_WRITE_MAX and, when c_chunk, within the current chunk.  Sets
 * *niov, *hl (bytes of hb) and *total.  -1 when the object's bytes could
 * not be had (it changed, or is not stored that far), else 0.
 */
int
obj_iov(struct req *r, uint64_t end, struct iovec *iov, int *niov,
    size_t *hl, size_t *total)
{
	uint64_t	 want;
	int		 k;

	*niov = 0;
	*total = *hl = r->hb_end - r->hb_pos;
	if (*hl > 0) {
		iov[0].iov_base = r->hb + r->hb_pos;
		iov[0].iov_len = *hl;
		*niov = 1;
	}
	if (r->coff >= end || (r->c_chunk && r->ck_left == 0))
		return 0;
	want = end - r->coff;
	if (want > CACHE_WRITE_MAX)
		want = CACHE_WRITE_MAX;
	if (r->c_chunk && want > r->ck_left)
		want = r->ck_left;
	k = cache_iov(worker.cache, &r->cref, r->coff, want, iov + *niov,
	    CACHE_IOV);
	if (k <= 0)
		return -1;
	for (; k > 0; k--)
		*total += iov[(*niov)++].iov_len;
	return 0;
}

/* Account n bytes written of an obj_iov() write with hl bytes of hb. */
void
obj_sent(struct req *r, size_t n, size_t hl)
{
	if (n <= hl) {
		r->hb_pos += n;
		return;
	}
	r->hb_pos = r->hb_end;
	r->coff += n - hl;
	r->body_bytes += n - hl;
	if (r->c_chunk)
		r->ck_left -= n - hl;
}

/* Write a hit: the built head, then the object's bytes straight from shared memory. */
enum step
step_cache(struct client *c)
{
	struct req	*r = c->r;
	struct iovec	 iov[1 + CACHE_IOV];
	int		 niov;
	ssize_t		 n;
	size_t		 hl, total, want;
	uint64_t	 avail;

	if (!r->fe->reader)
		return request_finish(c);	/* a refresh: it is stored */
	while (r->hb_pos < r->hb_end || r->coff < r->cend ||
	    (r->c_chunk && !r->c_last)) {
		avail = r->cref.head_len + r->cref.body_len;
		if (r->c_grow && r->coff >= avail && r->hb_pos == r->hb_end) {
			/* All that is stored yet went out: is there more? */
			if (cache_grow_check(r) == -1)
				goto changed;
			if (r->coff >= r->cref.head_len + r->cref.body_len &&
			    cache_grow_park(c)) {
				c->wait = W_CGROW;
				return STEP_WAIT;
			}
			if (r->coff >= r->cref.head_len + r->cref.body_len)
				continue;	/* it changed as we parked */
			r->cwait_until = ev_now + cache_grow_patience(r);
			continue;
		}
		if (!c->wr_ready) {
			c->wait = W_CL_WRITE;
			return STEP_WAIT;
		}
		if (r->c_sf) {
			/* By reference, from the cache's memfd (hitfile.c). */
			switch (hitfile_send(c)) {
			case -1:
				client_close(c);
				return STEP_CLOSED;
			case -2:
				goto changed;
			default:
				continue;
			}
		}
		if (r->c_chunk && r->ck_left == 0 && !r->c_last) {
			if (r->coff < r->cend && r->coff < avail) {
				want = (r->cend < avail ? r->cend : avail) - r->coff;
				(void)r->fe->chunk_frame(r, want > CACHE_WRITE_MAX ?
				    CACHE_WRITE_MAX : want);
			} else if (r->coff >= r->cend)
				(void)r->fe->chunk_frame(r, 0);
		}
		if (obj_iov(r, r->cend < avail ? r->cend : avail, iov, &niov,
		    &hl, &total) == -1) {
			if (r->c_grow && cache_grow_check(r) != -1 && !r->c_grow)
				continue;	/* committed meanwhile */
			goto changed;
		}
		n = r->fe->send(c, iov, niov);
		if (n == 0)
			continue;	/* (wr_ready is 0) */
		if (n == -1) {
			client_close(c);
			return STEP_CLOSED;
		}
		/* Were the bytes copied (to the kernel, or to TLS records) still the object's? */
		if ((size_t)n > hl && !cache_ref_valid(worker.cache, &r->cref) &&
		    (!r->c_grow || cache_grow_check(r) == -1))
			goto changed;
		obj_sent(r, (size_t)n, hl);
	}
	return request_finish(c);
changed:
	/* Evicted or replaced while being sent: never finish it wrongly. */
	log_warnx("client %s: cached object changed while being sent: "
	    "connection cut", client_ip(c));
	client_abort(c);
	return STEP_CLOSED;
}

/* Whether the stale object may answer for a failed origin (stale-if-error). */
int
cache_stale_ok(struct client *c)
{
	struct req		*r = c->r;
	int64_t			 ms = r->route->cache_stale_if_error_ms;

	if (!r->c_stale || !cache_ref_valid(worker.cache, &r->cref))
		return 0;
	if (cachepol_stale_if_error(&r->cmeta, &r->cpol, ev_wall))
		return 1;
	/* The operator's default, for responses that did not say. */
	return ms > 0 && r->cmeta.sie < 0 &&
	    !(r->cmeta.flags & (CACHE_F_MUST_REVAL | CACHE_F_NO_CACHE)) &&
	    -cachepol_ttl(&r->cmeta, ev_wall) <= ms / 1000;
}

/* The origin failed with status: answer with the stale object instead. */
enum step
cache_serve_stale(struct client *c, int status)
{
	struct req		*r = c->r;
	char			 saved[sizeof(r->cstatus)];
	enum step		 st;

	memcpy(saved, r->cstatus, sizeof(saved));
	snprintf(r->cstatus, sizeof(r->cstatus), "portico; fwd=stale; "
	    "fwd-status=%d; ttl=%lld; detail=stale-if-error", status,
	    (long long)cachepol_ttl(&r->cmeta, ev_wall));
	r->c_stale = 0;
	r->up_reuse = 0;
	st = cache_hit(c, &r->rq);
	if (st == STEP_ANSWERED)
		shm_stat_inc(&worker.stats->cache_stale);
	else
		memcpy(r->cstatus, saved, sizeof(saved));
	return st;
}
