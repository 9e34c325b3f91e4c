/*
 * httpcache_store.c: the response cache on the response side: storing
 * an answer as it streams (or ahead of a slow client, going on with no
 * client when it leaves: refresh_ops), freshening on 304, invalidation
 * after unsafe methods.  The background refresh is refresh.c's.
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

static void	 cache_ahead_begin(struct client *c, const struct http_response *rs);

/* Purge the URL part url[0..n) ("host/path") under both schemes' prefixes. */
static void
cache_purge_url(struct req *r, const char *url, size_t n)
{
	char		 key[CACHE_KEY_MAX + 2 * CONF_MAX_NAME + 16];
	const char	*p2;
	size_t		 pl;

	pl = r->kurl;
	if (pl + n <= sizeof(key)) {
		memcpy(key, r->ck, pl);
		memcpy(key + pl, url, n);
		cache_purge(worker.cache, key, pl + n);
	}
	if ((p2 = memchr(r->ck + r->k2off, ':', r->k2len)) == NULL)
		return;
	pl = p2 + 3 - (r->ck + r->k2off);
	if (pl + n <= sizeof(key)) {
		memcpy(key, r->ck + r->k2off, pl);
		memcpy(key + pl, url, n);
		cache_purge(worker.cache, key, pl + n);
	}
}

/*
 * An unsafe request succeeded: drop what is stored for its URI (RFC 9111
 * 4.4), in both schemes, and for the URIs of its Location and
 * Content-Location when they name the same host.
 */
static void
cache_invalidate(struct client *c, const struct http_response *rs)
{
	struct req		*r = c->r;
	struct http_request	 frq;
	const struct http_header *h;
	const char		*url = r->ck + r->kurl, *slash;
	size_t			 ulen = r->klen - r->kurl, i;
	char			 key[CACHE_KEY_MAX];
	int			 n;

	cache_purge(worker.cache, r->ck, r->klen);
	cache_purge(worker.cache, r->ck + r->k2off, r->k2len);
	/* Location and Content-Location, on the same host only. */
	if ((slash = memchr(url, '/', ulen)) == NULL)
		return;
	memset(&frq, 0, sizeof(frq));
	frq.host = url;
	frq.host_len = slash - url;
	frq.target = slash;
	frq.target_len = ulen - frq.host_len;
	frq.path = slash;
	frq.path_len = frq.target_len;
	if ((frq.query = memchr(slash, '?', frq.target_len)) != NULL) {
		frq.path_len = frq.query - slash;
		frq.query++;
		frq.query_len = frq.target_len - frq.path_len - 1;
	}
	frq.version = 11;
	for (i = 0; i < rs->nheaders; i++) {
		h = &rs->headers[i];
		if (!(h->name_len == 8 && http_name_eq(h, "location")) &&
		    !(h->name_len == 16 && http_name_eq(h, "content-location")))
			continue;
		n = cachepol_key_of_uri(h->value, h->value_len, &frq, NULL, key,
		    sizeof(key));
		if (n > 0)
			cache_purge_url(r, key, n);
	}
}

/*
 * The origin said 304 to our revalidation: store the object again with
 * the freshened head (the body is copied inside shared memory) and answer
 * the client from it.
 */
static enum step
cache_refreshed(struct client *c, const struct http_response *rs)
{
	struct req		*r = c->r;
	const struct http_request *rq = &r->rq;
	struct http_response	 mrs;
	struct cache_meta	 m;
	struct iovec		 iov[CACHE_IOV];
	const char		*why;
	char			*merged = cscratch + bufsize;
	uint64_t		 off, end;
	int			 n, k, i, ok = 0, rs_status = rs->status;

	m = r->cmeta;
	/* The 304 ends this exchange with the origin. */
	r->ub_pos += rs->head_len;
	r->resp_done = 1;
	r->up_reuse = rs->keep_alive;
	r->t_up_end = ev_now;
	upconn_release(c);
	active_add(r, NULL, -1);
	if (r->cref.head_len > bufsize ||
	    cache_copy(worker.cache, &r->cref, 0, cscratch, r->cref.head_len) == -1)
		goto gone;
	n = cachepol_merge_304(cscratch, r->cref.head_len, rs, merged, bufsize);
	memset(&mrs, 0, sizeof(mrs));
	if (n < 0 || http_parse_response(merged, n, &resp_limits, &mrs,
	    hdrs) != HTTP_PARSE_OK)
		goto fail;
	if (cachepol_storable(&r->cpol, &mrs, &r->copts, r->creq_time, ev_wall,
	    &m, &why) &&
	    cache_writing(&r->cw) &&
	    cache_append_head(worker.cache, &r->cw, r->ck + r->klen, r->vlen,
	    merged, n, &m) == 0) {
		off = r->cref.head_len;
		end = off + r->cref.body_len;
		ok = 1;
		while (ok && off < end) {
			k = cache_iov(worker.cache, &r->cref, off, CACHE_WRITE_MAX,
			    iov, CACHE_IOV);
			if (k <= 0) {
				ok = 0;
				break;
			}
			for (i = 0; i < k && ok; i++) {
				if (cache_append(worker.cache, &r->cw, iov[i].iov_base,
				    iov[i].iov_len) == -1)
					ok = 0;
				off += iov[i].iov_len;
			}
			if (!cache_ref_valid(worker.cache, &r->cref))
				ok = 0;
		}
		if (ok && cache_commit(worker.cache, &r->cw) == 0) {
			shm_stat_inc(&worker.stats->cache_stored);
			if (cache_find(c, rq) != CACHE_FOUND)
				goto gone;
		} else {
			cache_abort(worker.cache, &r->cw);
			ok = 0;
		}
	}
	if (!ok && cache_writing(&r->cw))
		cache_abort(worker.cache, &r->cw);
	snprintf(r->cstatus, sizeof(r->cstatus), "portico; fwd=stale; "
	    "fwd-status=%d;%s ttl=%lld", rs_status, ok ? " stored;" : "",
	    (long long)cachepol_ttl(ok ? &r->cmeta : &m, ev_wall));
	if (cache_hit(c, rq) == STEP_ANSWERED)
		return STEP_ANSWERED;
gone:
	/*
	 * The object changed meanwhile: another request that revalidated it
	 * too has stored it again.  The origin vouched for it: answer with
	 * what is stored now.
	 */
	if (cache_find(c, rq) == CACHE_FOUND) {
		snprintf(r->cstatus, sizeof(r->cstatus), "portico; fwd=stale; "
		    "fwd-status=304; ttl=%lld",
		    (long long)cachepol_ttl(&r->cmeta, ev_wall));
		if (cache_hit(c, rq) == STEP_ANSWERED)
			return STEP_ANSWERED;
	}
fail:
	log_warnx("cache: object for %.*s went away during its revalidation",
	    (int)r->klen, r->ck);
	r->resp_head = 0;
	r->cstatus[0] = '\0';
	return local_answer(c, 502, 0);
}

/*
 * A final response head from the origin on a caching route.  Returns
 * STEP_NEXT when the origin's answer goes on to the client, else how the
 * client is answered instead (from the cache).
 */
enum step
cache_response(struct client *c, const struct http_response *rs)
{
	struct req		*r = c->r;
	struct http_request	 frq;
	struct cache_meta	 m;
	const char		*why = NULL;
	size_t			 len;
	int			 vlen, hlen;

	if (r->c_invalidate) {
		if (cachepol_invalidates(r->method, rs->status))
			cache_invalidate(c, rs);
		return STEP_NEXT;
	}
	if (r->c_reval && rs->status == 304)
		return cache_refreshed(c, rs);
	if (r->c_stale && rs->status >= 500 && rs->status <= 504 &&
	    cache_stale_ok(c)) {
		if (cache_serve_stale(c, rs->status) == STEP_ANSWERED)
			return STEP_ANSWERED;
	}
	if (!cache_writing(&r->cw))
		return STEP_NEXT;
	len = strlen(r->cstatus);
	if (fwd_view(c, &r->rq, &frq) == -1)
		why = "request";
	else {
		if (!cachepol_storable(&r->cpol, rs, &r->copts, r->creq_time,
		    ev_wall, &m, &why))
			;
		else if (rs->content_length > conf->cache.max_object_size)
			why = "too-large";
		else if (http_response_has_body(r->method, rs->status) &&
		    rs->content_length < 0 && !rs->chunked)
			/* Its end is a close: a cut one would look whole. */
			why = "close-delimited";
		else if ((vlen = cachepol_vary_blob(rs, &frq, r->ck + r->klen,
		    CACHE_VARY_MAX)) < 0)
			why = "vary";
		else if ((hlen = cachepol_stored_head(rs, r->route->cache_set_cookie,
		    cscratch, bufsize)) < 0)
			why = "head-too-large";
		else if (cache_append_head(worker.cache, &r->cw, r->ck + r->klen,
		    vlen, cscratch, hlen, &m) == -1)
			why = "no-room";
		else {
			r->c_store = 1;
			cache_ahead_begin(c, rs);
			snprintf(r->cstatus + len, sizeof(r->cstatus) - len,
			    "; stored; ttl=%lld", (long long)cachepol_ttl(&m, ev_wall));
			return STEP_NEXT;
		}
	}
	cache_abort(worker.cache, &r->cw);
	r->c_store = 0;
	snprintf(r->cstatus + len, sizeof(r->cstatus) - len, "; detail=%s", why);
	return STEP_NEXT;
}

/* Response body bytes on their way to the client: into the object too. */
void
cache_body(struct req *r, const char *p, size_t n)
{
	if (!r->c_store || n == 0)
		return;
	if (r->c_ahead) {
		if (cache_append_keep(worker.cache, &r->cw, p, n) == 0)
			r->cref.body_len = r->cw.body_len;
		else
			r->c_store = 0;	/* the client drains the object, then streams */
		return;
	}
	if (cache_append(worker.cache, &r->cw, p, n) == -1)
		r->c_store = 0;		/* too large, or no room: it streams on */
}

/*
 * Storing ahead of the client.  An answer with a Content-Length that is
 * being stored is read at the backend's pace, whatever the client's: each
 * piece goes into the object, and the client is sent the object as it
 * grows (r->cref, the writer's own view of it; r->coff, the next object
 * byte for the client).  A slow first client then holds neither the
 * backend connection nor the others waiting for the object, and one that
 * goes away does not stop the store (the request goes on without a
 * socket).  Memory stays bounded: one upstream buffer, the object in
 * shared memory (max_object_size).  When the object cannot grow (no room
 * left), the client is sent what is stored, the object is given up, and
 * the rest streams through at the client's pace as without the cache.
 * A chunked answer is stored de-chunked (its trailers dropped) and the
 * client, HTTP/1.1 only, is sent chunks made here (c_chunk: one per piece
 * of the object sent, the last-chunk once it is whole; what streams
 * through after an object that stopped growing is re-chunked the same
 * way).  A chunked answer to an HTTP/1.0 client is stored at its pace,
 * as before.
 */
static void
cache_ahead_begin(struct client *c, const struct http_response *rs)
{
	struct req	*r = c->r;

	if (!http_response_has_body(r->method, rs->status) ||
	    (rs->chunked ? r->version == 10 : rs->content_length <= 0))
		return;
	if (r->cref.pin != 0)
		cache_unpin(worker.cache, &r->cref, worker.slot);
	cache_unfollow(worker.cache, &r->cref);
	if (cache_writer_ref(worker.cache, &r->cw, &r->cref) == -1)
		return;
	r->c_ahead = 1;
	r->c_chunk = rs->chunked;
	r->coff = r->cref.head_len;
	/* Others asking for it meanwhile follow it as it grows. */
	(void)cache_writer_expect(worker.cache, &r->cw, rs->chunked ?
	    CACHE_EXPECT_UNKNOWN : (uint64_t)rs->content_length);
}

/* The client went away while the object is stored: go on without it. */
static void
cache_ahead_detach(struct client *c)
{
	log_info("client %s closed the connection; storing the answer goes on",
	    client_ip(c));
	client_detach(c);
	c->r->fe = &refresh_ops;	/* nobody reads the rest */
	c->r->keep_alive = 0;
}

/*
 * Send the client what it can take: the rest of its head, then object
 * bytes up to what is stored.  STEP_NEXT, or STEP_CLOSED when the object
 * went away under the client (cut).  When the object could not grow and
 * the client has it all, the object is given up and c_ahead ends.
 */
enum step
cache_ahead_write(struct client *c)
{
	struct req	*r = c->r;
	struct iovec	 iov[1 + CACHE_IOV];
	uint64_t	 have = r->cref.head_len + r->cref.body_len;
	size_t		 hl, total;
	ssize_t		 n;
	int		 niov;

	while (r->fe->reader && c->wr_ready &&
	    (r->hb_pos < r->hb_end || r->coff < have)) {
		if (r->c_chunk && r->ck_left == 0 && r->coff < have)
			(void)r->fe->chunk_frame(r, have - r->coff > CACHE_WRITE_MAX ?
			    CACHE_WRITE_MAX : have - r->coff);
		if (obj_iov(r, have, iov, &niov, &hl, &total) == -1)
			goto lost;
		n = r->fe->send(c, iov, niov);
		if (n == 0)
			break;		/* (wr_ready is 0) */
		if (n == -1) {
			if (!r->c_store) {
				client_close(c);	/* nothing is stored for it */
				return STEP_CLOSED;
			}
			cache_ahead_detach(c);
			break;
		}
		if ((size_t)n > hl && !cache_ref_valid(worker.cache, &r->cref))
			goto lost;
		obj_sent(r, (size_t)n, hl);
	}
	if (!r->c_store && (!r->fe->reader ||
	    (r->hb_pos == r->hb_end && r->coff >= have))) {
		if (!r->fe->reader) {
			client_close(c);	/* nobody left to send the rest to */
			return STEP_CLOSED;
		}
		/* It has all that was stored: the rest streams through. */
		cache_abort(worker.cache, &r->cw);
		r->c_ahead = 0;
	}
	return STEP_NEXT;
lost:
	log_warnx("client %s: object being stored was removed while being "
	    "sent: connection cut", client_ip(c));
	client_abort(c);
	return STEP_CLOSED;
}

/*
 * The whole body is stored: publish it and send the client the rest from
 * the complete object (CS_CACHE), with the backend connection released.
 */
enum step
cache_ahead_done(struct client *c)
{
	struct req	*r = c->r;

	r->c_store = 0;
	r->c_ahead = 0;
	if (cache_commit_ref(worker.cache, &r->cw, &r->cref) == -1 ||
	    (cache_pin(worker.cache, &r->cref, worker.slot) == -1 &&
	    !cache_ref_valid(worker.cache, &r->cref))) {
		log_warnx("client %s: object being stored was removed before "
		    "it was sent: connection cut", client_ip(c));
		client_abort(c);
		return STEP_CLOSED;
	}
	shm_stat_inc(&worker.stats->cache_stored);
	r->cend = r->cref.head_len + r->cref.body_len;
	r->t_up_end = ev_now;
	upconn_release(c);
	active_add(r, NULL, -1);
	c->state = CS_CACHE;
	return STEP_ANSWERED;
}

/* The whole body is in: make the object visible. */
void
cache_done(struct req *r)
{
	if (!r->c_store)
		return;
	r->c_store = 0;
	if (cache_commit(worker.cache, &r->cw) == 0)
		shm_stat_inc(&worker.stats->cache_stored);
}
