/*
 * httpcache.c: the response cache on the request side: keys, lookup,
 * collapsed misses, hits (also on objects still being stored), stale
 * answers, PURGE and BAN.
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
#include "common/log.h"
#include "common/net.h"
#include "common/shm.h"
#include "worker/balance.h"
#include "worker/bodybuf.h"
#include "worker/cachepol.h"
#include "worker/event.h"
#include "common/http.h"
#include "worker/proxy.h"
#include "worker/proxy_int.h"
#include "worker/tls.h"
#include "worker/uri.h"
#include "worker/worker.h"

static void	 fwd_url(const struct req *r, const struct http_request *rq, struct http_request *v);

/*
 * The response cache.  The RFC 9111 rules live in cachepol.c and the
 * shared-memory store in common/cache.c; this part wires them into the
 * exchange:
 *
 *   step_head -> cache_request: PURGE/BAN, lookup; a fresh object is
 *	answered at once (cache_hit, CS_CACHE); a key another request is
 *	fetching waits for it (CS_CWAIT); else the request goes upstream,
 *	holding a writer for the key (so that concurrent misses collapse
 *	onto it) and, for a stale object, its validators.
 *   response_head -> cache_response: a 304 freshens the stored object and
 *	the client is answered from it; an error with a usable stale object
 *	answers stale (stale-if-error); a storable answer starts storing.
 *   resp_window -> cache_body: body bytes go into the object as they
 *	stream to the client; step_response commits it at the end.
 */


/* Requests without any field: the fields vary_pick() finds dropped. */
static const struct http_request no_fields;

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

void
cache_opts(const struct conf_route *rt, struct cachepol_opts *o)
{
	o->store_set_cookie = rt->cache_set_cookie;
	o->ignore_client_no_cache = rt->cache_ignore_no_cache;
	o->heuristic_max = conf->cache.heuristic_max_ms / 1000;
	o->heuristic_percent = conf->cache.heuristic_percent;
	o->default_ttl = rt->cache_default_ttl_ms / 1000;
}

/*
 * The request as portico forwards it to the backend: build_request_head()
 * into a scratch buffer, parsed back into *frq (valid until the next
 * call).  The Vary blob of a stored answer is computed on this view, so
 * that it follows what the backend saw: the fields portico sets
 * (X-Forwarded-*, Via), those it removes (its own, hop-by-hop,
 * Connection-listed).  Lookups build it only for a Vary name portico
 * writes itself (vary_pick), and the key comes from fwd_url(): a hit
 * costs no head built and parsed again.  It is the head of a plain
 * miss: neither the validators of a revalidation nor the fields a store
 * drops (Range, conditionals) change the view.  -1 when it cannot be
 * built.
 */
int
fwd_view(struct client *c, const struct http_request *rq, struct http_request *frq)
{
	struct req		*r = c->r;
	struct cache_writer	 cw = r->cw;
	char			*hb = r->hb;
	uint32_t		 pos = r->hb_pos, end = r->hb_end;
	unsigned		 reval = r->c_reval;
	int			 rc;

	r->hb = fwdbuf;
	r->c_reval = 0;
	cache_writer_init(&r->cw);
	rc = build_request_head(c, rq);
	memset(frq, 0, sizeof(*frq));
	if (rc == 0 && http_parse_request(fwdbuf, r->hb_end, &fwd_limits, frq,
	    hdrs3) != HTTP_PARSE_OK)
		rc = -1;
	r->hb = hb;
	r->hb_pos = pos;
	r->hb_end = end;
	r->c_reval = reval;
	r->cw = cw;
	return rc;
}

static void
vary_arg_init(struct vary_arg *va, struct client *c,
    const struct http_request *rq)
{
	va->c = c;
	va->rq = rq;
	va->out = c->r->ck + c->r->klen;
	va->cap = CACHE_VARY_MAX;
	va->len = 0;
	va->ct_done = 0;
	va->view = 0;
}

/* The request whose fields named n (lowercase) are those forwarded. */
const struct http_request *
vary_pick(const char *n, size_t len, void *arg)
{
	struct vary_arg		*va = arg;
	struct http_header	 h;

	if (fwd_own_field(n, len)) {
		if (va->view == 0)
			va->view = fwd_view(va->c, va->rq, &va->frq) == 0 ? 1 : -1;
		return va->view == 1 ? &va->frq : NULL;
	}
	if (!va->ct_done) {
		conn_tokens_collect(va->rq->headers, va->rq->nheaders, &va->ct);
		va->ct_done = 1;
	}
	memset(&h, 0, sizeof(h));
	h.name = n;
	h.name_len = len;
	/* As in fwd_view: the head of a plain miss. */
	return fwd_client_field(va->c->r, va->rq, &va->ct, &h, 0, 0) ?
	    va->rq : &no_fields;
}

static int
vary_cb(const char *blob, size_t len, void *arg)
{
	struct vary_arg	*va = arg;

	if (!cachepol_vary_match_by(blob, len, vary_pick, va))
		return 0;
	if (len <= va->cap) {
		memcpy(va->out, blob, len);
		va->len = len;
	}
	return 1;
}

/* Look the request's key up; *ok and the vary blob of what was found. */
enum cache_lookup_rc
cache_find(struct client *c, const struct http_request *rq)
{
	struct req		*r = c->r;
	struct vary_arg		 va;
	enum cache_lookup_rc	 rc;

	vary_arg_init(&va, c, rq);
	if (r->cref.pin != 0)
		cache_unpin(worker.cache, &r->cref, worker.slot);
	cache_unfollow(worker.cache, &r->cref);
	rc = cache_lookup(worker.cache, r->ck, r->klen, vary_cb, &va, ev_wall,
	    (conf->cache.lock_timeout_ms + 999) / 1000, &r->cref, &r->cmeta);
	/* The blob of the object found (older variants may have matched too). */
	r->vlen = rc == CACHE_FOUND ? r->cref.skip - r->klen : 0;
	if (r->vlen > va.len)
		r->vlen = 0;
	return rc;
}

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

/*
 * A key another request is storing: answer from its object as it grows
 * when that one announced its length and is fresh for this request.
 * Returns STEP_ANSWERED when answered, STEP_NEXT when not.
 */
static enum step
cache_grow_hit(struct client *c, const struct http_request *rq,
    const struct cachepol_req *cr, const struct cachepol_opts *o)
{
	struct req	*r = c->r;
	struct vary_arg	 va;
	enum step	 st;

	vary_arg_init(&va, c, rq);
	if (r->cref.pin != 0)
		cache_unpin(worker.cache, &r->cref, worker.slot);
	cache_unfollow(worker.cache, &r->cref);
	if (cache_lookup_growing(worker.cache, r->ck, r->klen, vary_cb, &va,
	    &r->cref, &r->cmeta, &r->cexpect) == -1)
		return STEP_NEXT;
	if (cachepol_use(&r->cmeta, cr, o, ev_wall) != CACHEPOL_FRESH ||
	    (r->cexpect == CACHE_EXPECT_UNKNOWN && r->version == 10)) {
		/* An HTTP/1.0 client waits for the whole object instead. */
		cache_unfollow(worker.cache, &r->cref);
		return STEP_NEXT;
	}
	r->vlen = va.len;
	r->c_grow = 1;
	snprintf(r->cstatus, sizeof(r->cstatus),
	    "portico; fwd=miss; collapsed; ttl=%lld",
	    (long long)cachepol_ttl(&r->cmeta, ev_wall));
	st = cache_hit(c, rq);
	if (st == STEP_NEXT) {
		r->c_grow = 0;
		r->cstatus[0] = '\0';
		return STEP_NEXT;
	}
	shm_stat_inc(&worker.stats->cache_hits);
	return st;
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
	struct hbuild	 b;
	uint32_t	 hl = r->cref.head_len;
	uint64_t	 blen = r->c_grow ? r->cexpect : r->cref.body_len;
	uint64_t	 first = 0, last = 0;
	int64_t		 len = HEAD_NO_LENGTH;	/* for head_tail() */
	char		*eol;
	int		 rc = 0, range = 0, status = r->cmeta.status, nobody;
	int		 unknown = r->c_grow && blen == CACHE_EXPECT_UNKNOWN;
	size_t		 oldsl, newsl;
	char		 line[64];

	if (hl < 16 || hl > bufsize - 1024)
		return STEP_NEXT;
	if (r->hb == NULL && (r->hb = buf_get()) == NULL)
		return STEP_NEXT;
	if (cache_copy(worker.cache, &r->cref, 0, r->hb, hl) == -1 ||
	    memcmp(r->hb + hl - 4, "\r\n\r\n", 4) != 0)
		return STEP_NEXT;
	nobody = r->method == HTTP_M_HEAD;
	if (rq != NULL && status == 200 && cachepol_not_modified(rq, &r->cmeta)) {
		status = 304;
		nobody = 1;
	} else if (rq != NULL && status == 200 && r->method == HTTP_M_GET &&
	    !unknown)
		range = cachepol_range(rq, &r->cmeta, blen, &first, &last);
	if (range == -1) {
		status = 416;
		nobody = 1;
	} else if (range == 1)
		status = 206;
	if (status != r->cmeta.status) {
		/* A different status line in front of the stored fields. */
		eol = memchr(r->hb, '\n', hl);
		if (eol == NULL)
			return STEP_NEXT;
		oldsl = eol + 1 - r->hb;
		newsl = snprintf(line, sizeof(line), "HTTP/1.1 %d %s\r\n", status,
		    http_status_reason(status));
		memmove(r->hb + newsl, r->hb + oldsl, hl - oldsl);
		memcpy(r->hb, line, newsl);
		hl = hl - oldsl + newsl;
	}
	b.p = r->hb;
	b.len = hl - 2;		/* before the final empty line */
	b.cap = bufsize;
	rc |= hb_str(&b, "Age: ");
	rc |= hb_num(&b, cachepol_age(&r->cmeta, ev_wall));
	rc |= hb_str(&b, "\r\nVia: 1.1 portico\r\n");
	if (r->cstatus[0] == '\0') {
		/* The plain hit: its value is also kept for the log. */
		struct hbuild	 cs = { r->cstatus, 0, sizeof(r->cstatus) - 1 };

		(void)hb_str(&cs, "portico; hit; ttl=");
		(void)hb_num(&cs, cachepol_ttl(&r->cmeta, ev_wall));
		r->cstatus[cs.len] = '\0';
	}
	if (r->hsts != NULL) {
		rc |= hb_str(&b, "Strict-Transport-Security: ");
		rc |= hb_str(&b, r->hsts);
		rc |= hb_str(&b, "\r\n");
	}
	if (status == 416) {
		rc |= hb_fmt(&b, "Content-Range: bytes */%llu\r\n",
		    (unsigned long long)blen);
		len = 0;
	} else if (range == 1) {
		rc |= hb_fmt(&b, "Content-Range: bytes %llu-%llu/%llu\r\n",
		    (unsigned long long)first, (unsigned long long)last,
		    (unsigned long long)blen);
		len = (int64_t)(last - first + 1);
	} else if (unknown) {
		/* Its length is known once it is whole: chunks till then. */
		if (!nobody)
			len = HEAD_CHUNKED;
	} else if (status != 204 && (status != 304 || blen > 0))
		len = (int64_t)blen;
	rc |= head_tail(&b, r, len);
	if (rc != 0)
		return STEP_NEXT;
	r->hb_pos = 0;
	r->hb_end = b.len;
	r->c_chunk = unknown && !nobody;
	if (nobody)
		r->coff = r->cend = 0;
	else if (unknown) {
		r->coff = r->cref.head_len;
		r->cend = UINT64_MAX;	/* set at the commit */
	} else if (range == 1) {
		r->coff = r->cref.head_len + first;
		r->cend = r->cref.head_len + last + 1;
	} else {
		r->coff = r->cref.head_len;
		r->cend = r->cref.head_len + blen;
	}
	/*
	 * A body that fits behind the head is copied there (checked against
	 * the sequence): it goes out from private memory, whatever happens
	 * to the object meanwhile.  A larger one is pinned while it is sent.
	 */
	if (r->c_grow) {
		/* step_cache follows it as it grows, and pins it once whole. */
		r->cwait_until = ev_now + cache_grow_patience(r);
	} else if (r->cend - r->coff <= bufsize - r->hb_end) {
		if (r->cend > r->coff && cache_copy(worker.cache, &r->cref, r->coff,
		    r->hb + r->hb_end, r->cend - r->coff) == -1)
			return STEP_NEXT;
		r->hb_end += r->cend - r->coff;
		r->body_bytes = r->cend - r->coff;
		r->coff = r->cend;
	} else if (r->cref.pin == 0 &&
	    cache_pin(worker.cache, &r->cref, worker.slot) == -1 &&
	    !cache_ref_valid(worker.cache, &r->cref))
		return STEP_NEXT;
	r->status = status;
	r->resp_head = 1;
	r->c_hit = 1;
	req_drop_up(r);
	active_add(r, NULL, -1);	/* no server is busy with this any more */
	if (cache_writing(&r->cw))
		cache_abort(worker.cache, &r->cw);
	r->c_store = 0;
	c->state = CS_CACHE;
	return STEP_ANSWERED;
}

/*
 * Chunked framing for a client sent body bytes of unknown length (an
 * object as it grows, or what streams through after it): the chunk
 * header (after the previous chunk's CRLF) for the next n body bytes,
 * or the last-chunk (n == 0), goes behind what is left of r->hb.
 * Returns -1 when hb has no room yet (it has once drained).
 */
int
chunk_frame(struct req *r, uint64_t n)
{
	int	 len;

	if (r->hb_pos == r->hb_end)
		r->hb_pos = r->hb_end = 0;
	if (bufsize - r->hb_end < 32)
		return -1;
	len = snprintf(r->hb + r->hb_end, 32, "%s%llx\r\n%s",
	    r->c_open ? "\r\n" : "", (unsigned long long)n, n == 0 ? "\r\n" : "");
	r->hb_end += len;
	r->c_open = 1;
	r->ck_left = n;
	if (n == 0)
		r->c_last = 1;
	return 0;
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

	if (c->bg)
		return request_finish(c);	/* a refresh: it is stored */
	while (r->hb_pos < r->hb_end || r->coff < r->cend ||
	    (r->c_chunk && !r->c_last)) {
		avail = r->cref.head_len + r->cref.body_len;
		if (r->c_grow && r->coff >= avail && r->hb_pos == r->hb_end) {
			/* All that is stored yet went out: is there more? */
			if (cache_grow_check(r) == -1)
				goto changed;
			if (r->coff >= r->cref.head_len + r->cref.body_len) {
				c->wait = W_CGROW;
				return STEP_WAIT;
			}
			r->cwait_until = ev_now + cache_grow_patience(r);
			continue;
		}
		if (!c->wr_ready) {
			c->wait = W_CL_WRITE;
			return STEP_WAIT;
		}
		if (r->c_chunk && r->ck_left == 0 && !r->c_last) {
			if (r->coff < r->cend && r->coff < avail) {
				want = (r->cend < avail ? r->cend : avail) - r->coff;
				(void)chunk_frame(r, want > CACHE_WRITE_MAX ?
				    CACHE_WRITE_MAX : want);
			} else if (r->coff >= r->cend)
				(void)chunk_frame(r, 0);
		}
		if (obj_iov(r, r->cend < avail ? r->cend : avail, iov, &niov,
		    &hl, &total) == -1) {
			if (r->c_grow && cache_grow_check(r) != -1 && !r->c_grow)
				continue;	/* committed meanwhile */
			goto changed;
		}
		n = cl_writev(c, iov, niov);
		if (n == -1) {
			if (errno == EAGAIN || errno == EINTR) {
				c->wr_ready = 0;
				continue;
			}
			client_close(c);
			return STEP_CLOSED;
		}
		/* Were the bytes copied (to the kernel, or to TLS records) still the object's? */
		if ((size_t)n > hl && !cache_ref_valid(worker.cache, &r->cref) &&
		    (!r->c_grow || cache_grow_check(r) == -1))
			goto changed;
		if ((size_t)n < total)
			c->wr_ready = 0;
		obj_sent(r, (size_t)n, hl);
	}
	return request_finish(c);
changed:
	/* Evicted or replaced while being sent: never finish it wrongly. */
	log_warnx("client %s: cached object changed while being sent: "
	    "connection cut", c->ip);
	client_abort(c);
	return STEP_CLOSED;
}

/* Whether the stale object may answer for a failed origin (stale-if-error). */
int
cache_stale_ok(struct client *c)
{
	struct req		*r = c->r;
	struct cachepol_req	 cr;
	int64_t			 ms = r->route->cache_stale_if_error_ms;

	if (!r->c_stale || !cache_ref_valid(worker.cache, &r->cref))
		return 0;
	cachepol_request(&r->rq, &cr);
	if (cachepol_stale_if_error(&r->cmeta, &cr, ev_wall))
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

/*
 * The host, path and query of rq as build_request_head() forwards them,
 * into *v (its other members zero): the target as sent, or the
 * normalized path, or the raw one for normalize_path = off, and the
 * Host as sent (the authority of an absolute-form target; none for an
 * HTTP/1.0 request without Host, which gets the upstream's name).
 */
static void
fwd_url(const struct req *r, const struct http_request *rq,
    struct http_request *v)
{
	*v = (struct http_request){ .host = rq->host,
	    .host_len = rq->host_len, .path = rq->path,
	    .path_len = rq->path_len, .query = rq->query,
	    .query_len = rq->query_len };
	if (r->np_len > 0 && !r->route->normalize_path)
		raw_path(rq, &v->path, &v->path_len);
}

/*
 * The keys of a request, from the request as forwarded (fwd_url):
 * "ROUTE UPSTREAM SCHEME://HOST/TARGET" (cachepol_key_scoped), so that
 * listeners, routes and upstreams never share objects, nor http and
 * https.  The same URL in the other scheme goes after the vary blob
 * area of r->ck: PURGE, BAN and invalidation drop both.  Only they use
 * it, so it is made only for methods other than GET and HEAD (k2len 0
 * otherwise: no hit pays for it).  -1 when the keys do not fit (the
 * request is not cached).
 */
static int
cache_keys(struct client *c, const struct http_request *rq)
{
	struct req		*r = c->r;
	struct http_request	 v;
	const struct cache_scope *sc = &cache_scopes[r->route - conf->routes];
	const char		*un = r->upstream->conf->name, *scope = sc->s;
	size_t			 cap = (bufsize - CACHE_VARY_MAX) / 2;
	int			 https = c->ls->conf->tls != NULL, n, n2;
	char			*u;

	if (cap > CACHE_KEY_MAX)
		cap = CACHE_KEY_MAX;
	fwd_url(r, rq, &v);
	n = cachepol_key_scoped(&v, un, scope, https, r->ck, cap);
	r->k2off = cap + CACHE_VARY_MAX;
	if (rq->method == HTTP_M_GET || rq->method == HTTP_M_HEAD)
		n2 = 0;
	else
		n2 = cachepol_key_scoped(&v, un, scope, !https, r->ck + r->k2off,
		    cap);
	/* Names hold no ':': the first one ends the scheme. */
	if (n < 0 || n2 < 0 || (size_t)n < sc->len ||
	    (u = memchr(r->ck + sc->len, ':', n - sc->len)) == NULL)
		return -1;
	r->klen = n;
	r->k2len = n2;
	r->kurl = u + 3 - r->ck;
	return 0;
}

/* PURGE (one key, all its variants) and BAN (every key under a prefix). */
static enum step
cache_purge_request(struct client *c, int ban)
{
	struct req		*r = c->r;
	int			 n;

	if (!ip_allowed(c->ip, conf->cache.purge_allow, conf->cache.npurge_allow)) {
		log_info("client %s: %s not allowed", c->ip, ban ? "BAN" : "PURGE");
		return local_answer(c, 403, BODY_UNREAD(r));
	}
	/* Both schemes: the resource changed, whoever asks for it. */
	if (ban)
		n = cache_purge_prefix(worker.cache, r->ck, r->klen) +
		    cache_purge_prefix(worker.cache, r->ck + r->k2off, r->k2len);
	else
		n = cache_purge(worker.cache, r->ck, r->klen) +
		    cache_purge(worker.cache, r->ck + r->k2off, r->k2len);
	log_notice("cache: %s %.*s by %s: %d object%s removed", ban ? "BAN" : "PURGE",
	    (int)r->klen, r->ck, c->ip, n, n == 1 ? "" : "s");
	return local_answer(c, n > 0 || ban ? 200 : 404, BODY_UNREAD(r));
}

/*
 * A request on a caching route, before any upstream work.  Returns
 * STEP_NEXT when it goes upstream, else how it is answered or waits.
 */
enum step
cache_request(struct client *c, const struct http_request *rq)
{
	struct req		*r = c->r;
	struct cachepol_req	 cr;
	struct cachepol_opts	 o;
	enum cache_lookup_rc	 lrc;
	const char		*fwd = "miss";
	int			 collapsed = r->cwait_until != 0;
	enum step		 st;

	if (r->ck == NULL && (r->ck = buf_get()) == NULL) {
		client_close(c);
		return STEP_CLOSED;
	}
	r->c_stale = r->c_reval = 0;
	r->cstatus[0] = '\0';
	if (cache_keys(c, rq) == -1) {
		snprintf(r->cstatus, sizeof(r->cstatus),
		    "portico; fwd=bypass; detail=key-too-long");
		return STEP_NEXT;
	}
	if (rq->method == HTTP_M_OTHER && ((rq->method_len == 5 &&
	    memcmp(rq->method_str, "PURGE", 5) == 0) || (rq->method_len == 3 &&
	    memcmp(rq->method_str, "BAN", 3) == 0))) {
		return cache_purge_request(c, rq->method_len == 3);
	}
	cachepol_request(rq, &cr);
	if (!cr.cacheable) {
		r->c_invalidate = cachepol_invalidates(rq->method, 200) &&
		    (conf->cache.invalidate_unsafe == CACHE_UNSAFE_ON ||
		    (conf->cache.invalidate_unsafe == CACHE_UNSAFE_PURGE_ALLOW &&
		    ip_allowed(c->ip, conf->cache.purge_allow,
		    conf->cache.npurge_allow)));
		snprintf(r->cstatus, sizeof(r->cstatus), "portico; fwd=method");
		return STEP_NEXT;
	}
	cache_opts(r->route, &o);
	lrc = cache_find(c, rq);
	if (lrc == CACHE_BUSY && c->bg) {
		client_close(c);	/* someone refreshes it already */
		return STEP_CLOSED;
	}
	if (lrc == CACHE_FOUND && c->bg) {
		/* A refresh behind a stale hit: ask the origin, store the answer. */
		fwd = "stale";
		if (r->cmeta.etag_len > 0 || r->cmeta.last_modified >= 0)
			r->c_reval = 1;
	} else if (lrc == CACHE_FOUND) {
		switch (cachepol_use(&r->cmeta, &cr, &o, ev_wall)) {
		case CACHEPOL_FRESH:
			if (collapsed)
				snprintf(r->cstatus, sizeof(r->cstatus),
				    "portico; fwd=miss; collapsed; ttl=%lld",
				    (long long)cachepol_ttl(&r->cmeta, ev_wall));
			st = cache_hit(c, rq);
			if (st == STEP_NEXT)
				break;	/* it changed: fetch it */
			shm_stat_inc(&worker.stats->cache_hits);
			return st;
		case CACHEPOL_STALE_SWR:
			snprintf(r->cstatus, sizeof(r->cstatus), "portico; hit; "
			    "ttl=%lld; detail=stale-while-revalidate",
			    (long long)cachepol_ttl(&r->cmeta, ev_wall));
			cache_refresh_behind(c, rq);
			st = cache_hit(c, rq);
			if (st == STEP_NEXT)
				break;
			shm_stat_inc(&worker.stats->cache_hits);
			return st;
		case CACHEPOL_BYPASS:
			snprintf(r->cstatus, sizeof(r->cstatus),
			    "portico; fwd=bypass; detail=authorization");
			shm_stat_inc(&worker.stats->cache_misses);
			return STEP_NEXT;
		case CACHEPOL_REVALIDATE:
		default:
			r->c_stale = 1;
			fwd = cr.no_cache && !o.ignore_client_no_cache ? "request" : "stale";
			if (rq->method == HTTP_M_GET &&
			    (r->cmeta.etag_len > 0 || r->cmeta.last_modified >= 0))
				r->c_reval = 1;
			break;
		}
	} else if (lrc == CACHE_BUSY && !cr.no_store) {
		/* Someone stores it: follow it as it grows, if it can be. */
		if ((st = cache_grow_hit(c, rq, &cr, &o)) != STEP_NEXT)
			return st;
		/* Else wait for that answer, up to lock_timeout. */
		if (r->cwait_until == 0)
			r->cwait_until = ev_now + conf->cache.lock_timeout_ms;
		if (ev_now < r->cwait_until) {
			c->state = CS_CWAIT;
			c->wait = W_CACHE;
			return STEP_WAIT;
		}
		fwd = "miss";
	}
	if (cr.cc.only_if_cached) {
		/* Nothing usable without asking the origin (RFC 9111 5.2.1.7). */
		snprintf(r->cstatus, sizeof(r->cstatus), "portico; fwd=miss; "
		    "detail=only-if-cached");
		r->c_stale = 0;
		return local_answer(c, 504, BODY_UNREAD(r));
	}
	/*
	 * A GET fetches for the cache: others asking meanwhile wait for it.
	 * Not one that waited in vain (the answer could not be stored): the
	 * other waiters would queue behind it one by one.
	 */
	if (rq->method == HTTP_M_GET && !cr.no_store && !cache_writing(&r->cw) &&
	    !collapsed &&
	    cache_begin(worker.cache, r->ck, r->klen, worker.slot, ev_wall,
	    (uint64_t)conf->cache.max_object_size, &r->cw) == -1) {
		if (c->bg) {
			/* Someone else refreshes it already. */
			client_close(c);
			return STEP_CLOSED;
		}
		if (errno == EBUSY) {
			/*
			 * Another request fetches or revalidates it (it began
			 * after our lookup): wait for its answer.
			 */
			r->cwait_until = ev_now + conf->cache.lock_timeout_ms;
			r->c_stale = r->c_reval = 0;
			c->state = CS_CWAIT;
			c->wait = W_CACHE;
			return STEP_WAIT;
		}
	}
	shm_stat_inc(&worker.stats->cache_misses);
	snprintf(r->cstatus, sizeof(r->cstatus), "portico; fwd=%s%s", fwd,
	    collapsed ? "; collapsed" : "");
	r->creq_time = ev_wall;
	return STEP_NEXT;
}

/* A collapsed miss looks again: answered from the cache, or fetched itself. */
enum step
cache_wait_again(struct client *c)
{
	enum step		 st;

	if ((st = cache_request(c, &c->r->rq)) != STEP_NEXT)
		return st;
	return request_forward(c);
}
