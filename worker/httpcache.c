/*
 * httpcache.c: the response cache on the request side: keys, lookup,
 * collapsed misses (waiting for another request's fetch, woken by the
 * store), hits on objects still being stored, PURGE and BAN.  Answering
 * from the object is httpcache_hit.c.
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
#include "worker/balance.h"
#include "worker/bodybuf.h"
#include "worker/cachepol.h"
#include "worker/event.h"
#include "worker/proxy.h"
#include "worker/proxy_int.h"
#include "worker/tls.h"
#include "worker/uri.h"
#include "worker/varsrc.h"
#include "worker/worker.h"

static void	 fwd_url(const struct req *r, const struct http_request *rq, struct http_request *v);
static int	 cache_wake_listen(void);
static enum step cache_park(struct client *c);
static void	 cache_wake_cb(struct ev_io *io, uint32_t events);

/* This worker's wake-up eventfd (common/cache_wake.c), once watched. */
static struct ev_io	 wake_io = { -1, NULL };
static int		 wake_failed;

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

void
cache_opts(const struct conf_route *rt, struct cachepol_opts *o)
{
	o->store_set_cookie = rt->cache_set_cookie;
	o->ignore_client_no_cache = rt->cache_ignore_no_cache;
	o->heuristic_max = conf->cache.heuristic_max_ms / 1000;
	o->heuristic_percent = conf->cache.heuristic_percent;
	o->default_ttl = rt->cache_default_ttl_ms / 1000;
	o->targeted = (const char *const *)rt->cache_targeted;
	o->ntargeted = rt->ncache_targeted;
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
	va->view = 0;
}

/* The request whose fields named n (lowercase) are those forwarded. */
const struct http_request *
vary_pick(const char *n, size_t len, void *arg)
{
	struct vary_arg		*va = arg;
	struct http_header	 h;

	if (fwd_own_field(n, len) || req_rules_name(va->c, n, len)) {
		if (va->view == 0)
			va->view = fwd_view(va->c, va->rq, &va->frq) == 0 ? 1 : -1;
		return va->view == 1 ? &va->frq : NULL;
	}
	memset(&h, 0, sizeof(h));
	h.name = n;
	h.name_len = len;
	/* As in fwd_view: the head of a plain miss. */
	return fwd_client_field(va->c->r, va->rq, CONN_ANY, &h, 0, 0) ?
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

/*
 * A key another request is storing: answer from its object as it grows
 * when that one announced its length and is fresh for this request.
 * Returns STEP_ANSWERED when answered, STEP_NEXT when not.
 */
static enum step
cache_grow_hit(struct client *c, const struct http_request *rq)
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
	if (cachepol_use(&r->cmeta, &r->cpol, &r->copts, ev_wall) != CACHEPOL_FRESH ||
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
	if (r->np_len > 0 && !r->route->normalize_path && !r->rewritten)
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

	if (!ip_allowed(client_ip(c), conf->cache.purge_allow, conf->cache.npurge_allow)) {
		log_info("client %s: %s not allowed", client_ip(c), ban ? "BAN" : "PURGE");
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
	    (int)r->klen, r->ck, client_ip(c), n, n == 1 ? "" : "s");
	return local_answer(c, n > 0 || ban ? 200 : 404, BODY_UNREAD(r));
}

/* PURGE and BAN, which the cache answers itself. */
static int
cache_is_purge(const struct http_request *rq)
{
	return rq->method == HTTP_M_OTHER && ((rq->method_len == 5 &&
	    memcmp(rq->method_str, "PURGE", 5) == 0) || (rq->method_len == 3 &&
	    memcmp(rq->method_str, "BAN", 3) == 0));
}

/*
 * A method the cache does not answer goes upstream; its success may
 * invalidate what is stored for its URI (RFC 9111 4.4).
 */
static void
cache_uncacheable(struct client *c, const struct http_request *rq)
{
	struct req	*r = c->r;

	r->c_invalidate = cachepol_invalidates(rq->method, 200) &&
	    (conf->cache.invalidate_unsafe == CACHE_UNSAFE_ON ||
	    (conf->cache.invalidate_unsafe == CACHE_UNSAFE_PURGE_ALLOW &&
	    ip_allowed(client_ip(c), conf->cache.purge_allow,
	    conf->cache.npurge_allow)));
	snprintf(r->cstatus, sizeof(r->cstatus), "portico; fwd=method");
}

/*
 * A complete object was found (r->cref) for a client's request: answer
 * from it (how it is answered), or go upstream (STEP_NEXT, with *fwd the
 * Cache-Status reason and c_stale / c_reval set for a stale object).
 */
static enum step
cache_found(struct client *c, const struct http_request *rq, int collapsed,
    const char **fwd)
{
	struct req	*r = c->r;
	enum step	 st;

	switch (cachepol_use(&r->cmeta, &r->cpol, &r->copts, ev_wall)) {
	case CACHEPOL_FRESH:
		if (collapsed)
			snprintf(r->cstatus, sizeof(r->cstatus),
			    "portico; fwd=miss; collapsed; ttl=%lld",
			    (long long)cachepol_ttl(&r->cmeta, ev_wall));
		st = cache_hit(c, rq);
		if (st == STEP_NEXT)
			return STEP_NEXT;	/* it changed: fetch it */
		shm_stat_inc(&worker.stats->cache_hits);
		return st;
	case CACHEPOL_STALE_SWR:
		snprintf(r->cstatus, sizeof(r->cstatus), "portico; hit; "
		    "ttl=%lld; detail=stale-while-revalidate",
		    (long long)cachepol_ttl(&r->cmeta, ev_wall));
		cache_refresh_behind(c, rq);
		st = cache_hit(c, rq);
		if (st == STEP_NEXT)
			return STEP_NEXT;
		shm_stat_inc(&worker.stats->cache_hits);
		return st;
	case CACHEPOL_BYPASS:
		snprintf(r->cstatus, sizeof(r->cstatus),
		    "portico; fwd=bypass; detail=authorization");
		shm_stat_inc(&worker.stats->cache_misses);
		*fwd = NULL;
		return STEP_NEXT;
	case CACHEPOL_REVALIDATE:
	default:
		r->c_stale = 1;
		*fwd = r->cpol.no_cache && !r->copts.ignore_client_no_cache ?
		    "request" : "stale";
		if (rq->method == HTTP_M_GET &&
		    (r->cmeta.etag_len > 0 || r->cmeta.last_modified >= 0))
			r->c_reval = 1;
		return STEP_NEXT;
	}
}

/*
 * Nothing to answer from: a GET fetches for the cache, and others asking
 * meanwhile wait for it.  Not one that waited in vain (the answer could
 * not be stored): the other waiters would queue behind it one by one.
 * Returns STEP_NEXT when it goes upstream, else how it waits or ends.
 */
static enum step
cache_fetch_begin(struct client *c, const struct http_request *rq,
    int collapsed)
{
	struct req	*r = c->r;

	if (rq->method != HTTP_M_GET || r->cpol.no_store ||
	    cache_writing(&r->cw) || collapsed ||
	    cache_begin(worker.cache, r->ck, r->klen, worker.slot, ev_wall,
	    (uint64_t)conf->cache.max_object_size, &r->cw) == 0)
		return STEP_NEXT;
	if (!r->fe->reader) {
		/* Someone else refreshes it already. */
		client_close(c);
		return STEP_CLOSED;
	}
	if (errno != EBUSY)
		return STEP_NEXT;
	/*
	 * Another request fetches or revalidates it (it began after our
	 * lookup, or it began longer than lock_timeout ago): look again at
	 * once, to wait for its answer, or to fetch uncached.
	 */
	r->cwait_until = ev_now + conf->cache.lock_timeout_ms;
	r->c_stale = r->c_reval = 0;
	r->c_wake = 1;
	c->state = CS_CWAIT;
	c->wait = W_CACHE;
	return STEP_WAIT;
}

/*
 * A request on a caching route, before any upstream work: keys, PURGE /
 * BAN, the request's cache rules (kept in r->cpol and r->copts for the
 * response side), lookup, then a hit, a wait for another's fetch, or a
 * fetch of its own.  Returns STEP_NEXT when it goes upstream, else how
 * it is answered or waits.
 */
enum step
cache_request(struct client *c, const struct http_request *rq)
{
	struct req		*r = c->r;
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
	if (cache_is_purge(rq))
		return cache_purge_request(c, rq->method_len == 3);
	cachepol_request(rq, &r->cpol);
	cache_opts(r->route, &r->copts);
	if (!r->cpol.cacheable) {
		cache_uncacheable(c, rq);
		return STEP_NEXT;
	}
	lrc = cache_find(c, rq);
	if (lrc == CACHE_BUSY && !r->fe->reader) {
		client_close(c);	/* someone refreshes it already */
		return STEP_CLOSED;
	}
	if (lrc == CACHE_FOUND && !r->fe->reader) {
		/* A refresh behind a stale hit: ask the origin, store the answer. */
		fwd = "stale";
		if (r->cmeta.etag_len > 0 || r->cmeta.last_modified >= 0)
			r->c_reval = 1;
	} else if (lrc == CACHE_FOUND) {
		if ((st = cache_found(c, rq, collapsed, &fwd)) != STEP_NEXT)
			return st;
		if (fwd == NULL)
			return STEP_NEXT;	/* bypassed */
	} else if (lrc == CACHE_BUSY && !r->cpol.no_store) {
		/* Someone stores it: follow it as it grows, if it can be. */
		if ((st = cache_grow_hit(c, rq)) != STEP_NEXT)
			return st;
		/* Else wait for that answer, up to lock_timeout. */
		if (r->cwait_until == 0)
			r->cwait_until = ev_now + conf->cache.lock_timeout_ms;
		if (ev_now < r->cwait_until)
			return cache_park(c);
		fwd = "miss";
	}
	if (r->cpol.cc.only_if_cached) {
		/* Nothing usable without asking the origin (RFC 9111 5.2.1.7). */
		snprintf(r->cstatus, sizeof(r->cstatus), "portico; fwd=miss; "
		    "detail=only-if-cached");
		r->c_stale = 0;
		return local_answer(c, 504, BODY_UNREAD(r));
	}
	if ((st = cache_fetch_begin(c, rq, collapsed)) != STEP_NEXT)
		return st;
	shm_stat_inc(&worker.stats->cache_misses);
	snprintf(r->cstatus, sizeof(r->cstatus), "portico; fwd=%s%s", fwd,
	    collapsed ? "; collapsed" : "");
	r->creq_time = ev_wall;
	return STEP_NEXT;
}

/*
 * Waiting for another request's object, woken rather than polled: the
 * worker watches its eventfd (common/cache_wake.c) from the first wait
 * on.  Every waiting request marks the object it waits for; an edge on
 * the eventfd makes each of them look again on this loop turn (an edge
 * may be for another request of this worker, or of another worker that
 * shares the eventfd: they then wait on).  Each keeps one timer, its
 * deadline (lock_timeout for a collapsed miss, the read timeout for a
 * follower of a growing object).
 */
static int
cache_wake_listen(void)
{
	if (wake_io.cb != NULL)
		return 0;
	if (wake_failed)
		return -1;
	wake_io.fd = cache_wake_fd(worker.cache, worker.slot);
	wake_io.cb = cache_wake_cb;
	if (wake_io.fd == -1 || ev_add(&wake_io) == -1) {
		log_warn("cache: cannot watch the wake-up eventfd; "
		    "waiting requests poll every %d ms", CACHE_POLL_MS);
		wake_io.fd = -1;
		wake_io.cb = NULL;
		wake_failed = 1;
		return -1;
	}
	return 0;
}

/* An object some request of this worker waits for changed: all look again. */
static void
cache_wake_cb(struct ev_io *io, uint32_t events)
{
	struct client	*c;

	(void)io;
	if (!(events & EPOLLIN))
		return;
	for (c = clients; c != NULL; c = c->next)
		if (c->r != NULL && (c->wait == W_CACHE || c->wait == W_CGROW))
			ev_timer_set(&c->timer, ev_now);
}

/*
 * Park a collapsed miss (CS_CWAIT) until the object it waits for changes
 * or lock_timeout.  Returns STEP_WAIT.
 */
static enum step
cache_park(struct client *c)
{
	struct req	*r = c->r;

	r->c_wake = cache_wake_listen() == 0 &&
	    cache_wait(worker.cache, r->ck, r->klen, worker.slot) == 0;
	c->state = CS_CWAIT;
	c->wait = W_CACHE;
	return STEP_WAIT;
}

/*
 * A follower of a growing object sent all there is (W_CGROW): 1 when it
 * waits to be woken, 0 when it is to look again now.
 */
int
cache_grow_park(struct client *c)
{
	if (cache_wake_listen() == -1)
		return 1;
	return cache_ref_wait(worker.cache, &c->r->cref, worker.slot);
}

/*
 * When a request waiting on the cache (W_CACHE, W_CGROW) looks again:
 * at its deadline, or at once when it was woken as it parked; without
 * the eventfd, every CACHE_POLL_MS.
 */
uint64_t
cache_wait_deadline(struct client *c)
{
	struct req	*r = c->r;
	uint64_t	 d = r->cwait_until;

	if (wake_io.cb == NULL && ev_now + CACHE_POLL_MS < d)
		d = ev_now + CACHE_POLL_MS;
	if (r->c_wake)
		d = ev_now;
	return d;
}

/* A collapsed miss looks again: answered from the cache, or fetched itself. */
enum step
cache_wait_again(struct client *c)
{
	enum step		 st;

	c->r->c_wake = 0;
	if ((st = cache_request(c, &c->r->rq)) != STEP_NEXT)
		return st;
	return request_forward(c);
}
