/*
 * upstream.c: the backend side: picking a server, the keep-alive pool
 * of upstream connections, active counts, the max_conns queue, retries
 * and failures.
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
#include "common/proxyproto.h"
#include "common/shm.h"
#include "worker/balance.h"
#include "worker/bodybuf.h"
#include "worker/cachepol.h"
#include "worker/event.h"
#include "common/http.h"
#include "worker/proxy.h"
#include "worker/proxy_int.h"
#include "worker/tls.h"
#include "worker/upslot.h"
#include "worker/uri.h"
#include "worker/waf.h"
#include "worker/worker.h"

static void	 upconn_timer_cb(struct ev_timer *t);

static void	 upconn_cb(struct ev_io *io, uint32_t events);

static struct upstream_rt *
upstream_of(const struct conf_upstream *cu)
{
	return &upstreams[cu - conf->upstreams];
}

/* The request is whole (or streams): cache, then the upstream. */
enum step
request_start(struct client *c)
{
	struct req		*r = c->r;
	const struct conf_route	*rt = r->route;
	enum step		 st;

	/* The firewall's body phase comes before the cache, as in front of one. */
	if (r->waf != NULL && (st = waf_body(c)) != STEP_NEXT)
		return st;
	r->hsts = client_https(c) ? rt->hsts : NULL;
	r->upstream = upstream_of(rt->upstream);
	if (r->rq.upgrade && tunnel_request(c) == -1)
		return local_answer(c, 501, 1);	/* an HTTP/2 CONNECT */
	if ((r->hb = buf_get()) == NULL) {
		client_close(c);
		return STEP_CLOSED;
	}
	if (rt->cache && worker.cache != NULL) {
		r->cache_on = 1;
		if ((st = cache_request(c, &r->rq)) != STEP_NEXT)
			return st;	/* answered, waits, or closed */
	}
	return request_forward(c);
}

/* Send the request on to the route's upstream. */
enum step
request_forward(struct client *c)
{
	struct req			*r = c->r;
	const struct http_request	*rq = &r->rq;

	if (build_request_head(c, rq) == -1)
		return local_answer(c, 431, 1);
	if (rq->expect_continue && !r->req_done && !r->buffered &&
	    r->fe->want_body(c) == -1)
		return STEP_CLOSED;
	request_key(c, rq);
	balance_tried_clear(&r->tried);
	c->state = CS_PROXY;
	return upstream_start(c);
}

/*
 * The PROXY header of a new connection to a send_proxy server, made for
 * client c: its peer (the accepted socket's, or the PROXY header it came
 * with) and the listener address it connected to.  When the two are not
 * of one IP family (a unix listener, a v4 client on a v6 listener), the
 * header carries no address (version 1 UNKNOWN, version 2 LOCAL).  Kept
 * in u->pp until up_writev sends it ahead of everything, TLS included.
 * 0, or -1 out of memory.
 */
static int
upconn_pp(struct upconn *u, const struct client *c, int version)
{
	struct sockaddr_storage	 src, dst;
	struct sockaddr		*sp = NULL, *dp = NULL;
	socklen_t		 dl = sizeof(dst);
	unsigned char		 b[PP_V1_MAX];
	ssize_t			 n;

	memset(&src, 0, sizeof(src));
	if (c->peer_af != 0 &&
	    getsockname(c->io.fd, (struct sockaddr *)&dst, &dl) == 0 &&
	    dst.ss_family == c->peer_af) {
		src.ss_family = c->peer_af;
		if (c->peer_af == AF_INET) {
			memcpy(&((struct sockaddr_in *)&src)->sin_addr,
			    c->peer_addr, 4);
			((struct sockaddr_in *)&src)->sin_port = c->peer_port;
		} else {
			memcpy(&((struct sockaddr_in6 *)&src)->sin6_addr,
			    c->peer_addr, 16);
			((struct sockaddr_in6 *)&src)->sin6_port = c->peer_port;
		}
		sp = (struct sockaddr *)&src;
		dp = (struct sockaddr *)&dst;
	}
	n = version == 1 ? pp_build_v1((char *)b, sizeof(b), sp, dp) :
	    pp_build_v2(b, sizeof(b), sp, dp);
	if (n <= 0 && sp != NULL)	/* cannot be: say no address */
		n = version == 1 ? pp_build_v1((char *)b, sizeof(b), NULL, NULL) :
		    pp_build_v2(b, sizeof(b), NULL, NULL);
	if (n <= 0 || (u->pp = malloc((size_t)n)) == NULL)
		return -1;
	memcpy(u->pp, b, (size_t)n);
	u->pp_len = (uint16_t)n;
	return 0;
}

/*
 * Send what is left of the PROXY header (up_writev, before any byte of
 * the connection's own).  0 when it is all out, -1 with errno (EAGAIN:
 * the connect is not done or the socket is full; wait for writable).
 */
int
upconn_send_pp(struct upconn *u)
{
	ssize_t	 n;

	n = send(u->io.fd, u->pp, u->pp_len, MSG_NOSIGNAL);
	if (n == -1)
		return -1;
	if ((size_t)n < u->pp_len) {
		memmove(u->pp, u->pp + n, u->pp_len - (size_t)n);
		u->pp_len -= (uint16_t)n;
		errno = EAGAIN;
		return -1;
	}
	free(u->pp);
	u->pp = NULL;
	u->pp_len = 0;
	return 0;
}

/* Take a pooled connection to server s, or open a new one for client c. */
static struct upconn *
upconn_get(struct server_rt *s, const struct client *c)
{
	struct upconn	*u;
	int		 fd;

	if (s->up->conf->protocol == UP_PROTO_H2)
		return up_h2_get(s, c);		/* a stream (up_h2.c) */
	if (upslot_sync(s) == -1)	/* a DNS slot: its address now */
		return NULL;
	if ((u = s->idle) != NULL) {
		s->idle = u->next;
		if (s->idle != NULL)
			s->idle->prev = NULL;
		s->nidle--;
		ev_timer_cancel(&u->timer);
		u->next = u->prev = NULL;
		u->reused = 1;
		u->rd_ready = 0;
		u->rdhup = 0;
		u->wr_ready = 1;
		return u;
	}
	if ((fd = net_connect(&s->conf->addr)) == -1)
		return NULL;
	if ((u = free_upconns) != NULL)
		free_upconns = u->next;
	else if ((u = malloc(sizeof(*u))) == NULL) {
		close(fd);
		errno = ENOMEM;
		return NULL;
	}
	memset(u, 0, sizeof(*u));
	u->io.fd = fd;
	u->io.cb = upconn_cb;
	ev_timer_init(&u->timer, upconn_timer_cb);
	u->srv = s;
	u->gen = s->gen;
	/* Optimistic: on loopback the connect is usually done already. */
	u->wr_ready = 1;
	if (ev_add(&u->io) == -1) {
		close(fd);
		u->next = free_upconns;
		free_upconns = u;
		return NULL;
	}
	if (s->conf->tls && (u->tls = tls_conn_connect(s->up->conf->tls_ctx, fd,
	    s->conf, &s->tls_session)) == NULL) {
		/* The handshake itself runs in the first write (up_writev). */
		u->srv = NULL;		/* never pooled: nothing to unlink */
		upconn_close(u);
		errno = ENOMEM;
		return NULL;
	}
	if (s->conf->send_proxy && upconn_pp(u, c, s->conf->send_proxy) == -1) {
		u->srv = NULL;
		upconn_close(u);
		errno = ENOMEM;
		return NULL;
	}
	return u;
}

void
upconn_close(struct upconn *u)
{
	if (u->h2s != NULL) {
		up_h2_close(u);
		return;
	}
	if (u->owner == NULL && u->srv != NULL) {
		/* In the pool: unlink. */
		if (u->prev != NULL)
			u->prev->next = u->next;
		else if (u->srv->idle == u)
			u->srv->idle = u->next;
		if (u->next != NULL)
			u->next->prev = u->prev;
		u->srv->nidle--;
	}
	ev_timer_cancel(&u->timer);
	if (u->tls != NULL) {
		tls_conn_free(u->tls);
		u->tls = NULL;
	}
	free(u->pp);
	u->pp = NULL;
	u->pp_len = 0;
	close(u->io.fd);
	u->io.fd = -1;
	u->owner = NULL;
	u->srv = NULL;
	/* Reused only after this loop turn: a stale event may still name it. */
	u->next = dead_upconns;
	dead_upconns = u;
}

/* Close the request's upstream connection (it is owned, so not in a pool). */
void
req_drop_up(struct req *r)
{
	if (r->up != NULL) {
		upconn_close(r->up);
		r->up = NULL;
	}
}

/* Give the request's upstream connection back to the pool, or close it. */
void
upconn_release(struct client *c)
{
	struct req	*r = c->r;
	struct upconn	*u = r->up;
	struct server_rt *s;

	if (u == NULL)
		return;
	r->up = NULL;
	s = u->srv;
	if (u->h2s != NULL) {
		const char	*tr;
		size_t		 tl;

		/* An HTTP/2 client gets the server's trailers (grpc-status). */
		if (r->resp_done && c->h2s != NULL &&
		    (tr = up_h2_trailers(u, &tl)) != NULL)
			h2_stream_trailers(c, tr, tl);
		up_h2_close(u);
		return;
	}
	if (u->rd_ready && !u->rdhup) {
		/* Bytes or a FIN may be waiting: a pooled one must hold neither. */
		char	 b;
		ssize_t	 n = recv(u->io.fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);

		if (n == -1 && (errno == EAGAIN || errno == EINTR))
			u->rd_ready = 0;
		else
			u->rdhup = 1;
	}
	if (u->tls != NULL && (tls_conn_pending(u->tls) || u->tls->eof))
		u->rdhup = 1;	/* TLS bytes left over: not clean to pool */
	if (!r->up_reuse || !r->req_done || !r->resp_done || u->rdhup ||
	    r->ub_pos < r->ub_end || s->nidle >= s->up->conf->keepalive ||
	    s->conf->send_proxy ||	/* its header names this client */
	    worker.quitting || upslot_stale(u)) {
		upconn_close(u);
		return;
	}
	u->owner = NULL;
	u->prev = NULL;
	u->next = s->idle;
	if (s->idle != NULL)
		s->idle->prev = u;
	s->idle = u;
	s->nidle++;
	ev_timer_set(&u->timer, ev_now + s->up->conf->keepalive_timeout_ms);
}

static void
upconn_cb(struct ev_io *io, uint32_t events)
{
	struct upconn	*u = (struct upconn *)io;

	if (u->owner == NULL) {
		char	 b;
		ssize_t	 n;

		/*
		 * Idle in the pool.  Edge events can be stale (data that was
		 * read already, send space freed by an ACK), so look before
		 * closing: EOF or junk from the server ends the connection.
		 */
		if ((events & (EPOLLERR | EPOLLHUP | EPOLLRDHUP)) == 0) {
			if ((events & EPOLLIN) == 0)
				return;
			n = recv(u->io.fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
			if (n == -1 && (errno == EAGAIN || errno == EINTR))
				return;
		}
		upconn_close(u);
		return;
	}
	if (events & (EPOLLIN | EPOLLRDHUP | EPOLLERR | EPOLLHUP))
		u->rd_ready = 1;
	if (events & (EPOLLRDHUP | EPOLLERR | EPOLLHUP))
		u->rdhup = 1;
	if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))
		u->wr_ready = 1;
	if (u->tls != NULL) {
		int rd = u->rd_ready, wr = u->wr_ready;

		tls_events(u->tls, events, &rd, &wr);
		u->rd_ready = rd;
		u->wr_ready = wr;
	}
	client_run(u->owner);
}

static void
upconn_timer_cb(struct ev_timer *t)
{
	struct upconn	*u = (struct upconn *)((char *)t - offsetof(struct upconn, timer));

	if (u->owner == NULL)
		upconn_close(u);
}

/*
 * Count (delta 1) or uncount (-1) the request's connection in its
 * server's active total, shared by all workers, and in this worker's own
 * row, which the master takes back if the worker dies.
 */
void
active_add(struct req *r, struct server_rt *s, int delta)
{
	int	 idx;

	if (delta < 0) {
		if ((s = r->counted) == NULL)
			return;
		r->counted = NULL;
	} else {
		if (r->counted != NULL)
			active_add(r, NULL, -1);
		r->counted = s;
	}
	if ((idx = s->conf->shm_idx) < 0)
		return;
	shm_server_active_add(worker.shm, worker.slot, idx, delta);
	if (delta > 0)
		shm_count(&worker.shm->srv[idx].requests);
}

/*
 * A server failed a request (connect refused or timed out, reset or
 * timeout before an answer).  The failure goes to the shared count the
 * checker process turns into health state (max_fails within
 * fail_timeout).  With max_fails = 1 one failure is enough, so this
 * worker also leaves the server out at once, not waiting for the checker.
 */
void
server_failed(struct server_rt *s, int i)
{
	const struct conf_upstream	*cu = s->up->conf;

	if (cu->max_fails == 0)
		return;
	if (s->conf->shm_idx >= 0)
		shm_count(&worker.shm->srv[s->conf->shm_idx].fails);
	if (cu->max_fails == 1)
		balance_fail(&s->up->bal, i, ev_now, (uint64_t)cu->fail_timeout_ms);
}

/*
 * max_conns queue: when every server is full, a request may wait (per
 * worker at most the upstream's queue, each at most queue_timeout),
 * looking again every QUEUE_POLL_MS, for a connection to free up in any
 * worker.  Returns 1 while it waits.
 */
static int
queue_wait(struct client *c)
{
	struct req		*r = c->r;
	struct upstream_rt	*ups = r->upstream;

	if (!r->queued) {
		if (ups->conf->queue == 0 || ups->nqueued >= ups->conf->queue)
			return 0;
		r->queued = 1;
		ups->nqueued++;
		r->queue_deadline = ev_now + (uint64_t)ups->conf->queue_timeout_ms;
	} else if (ev_now >= r->queue_deadline)
		return 0;
	c->wait = W_QUEUE;
	return 1;
}

void
queue_leave(struct req *r)
{
	if (r->queued) {
		r->queued = 0;
		r->upstream->nqueued--;
	}
}

/*
 * Pick a server and start sending the request to it: STEP_NEXT with
 * r->up set, STEP_WAIT when queued for max_conns, or the answer when no
 * server is left.
 */
enum step
upstream_start(struct client *c)
{
	struct req		*r = c->r;
	struct upstream_rt	*ups = r->upstream;
	struct upconn		*u;
	int			 i, why;

	for (;;) {
		i = balance_pick(&ups->bal, ev_now, &r->tried, r->keyed, r->hash, &why);
		if (i == -1) {
			if (why == BALANCE_ALL_FULL && queue_wait(c))
				return STEP_WAIT;
			shm_stat_inc(&worker.stats->upstream_errors);
			if (why == BALANCE_ALL_FULL) {
				log_warnx("upstream %s: every server is at max_conns%s",
				    ups->conf->name, r->queued ? " (queue timeout)" :
				    (ups->conf->queue > 0 ? " (queue full)" : ""));
				queue_leave(r);
				return local_answer(c, 503, BODY_UNREAD(r));
			}
			if (why == BALANCE_ALL_DOWN) {
				log_warnx("upstream %s: no server is up", ups->conf->name);
				return local_answer(c, 503, BODY_UNREAD(r));
			}
			return local_answer(c, r->fail_status ? r->fail_status : 502,
			    BODY_UNREAD(r));
		}
		balance_tried_set(&r->tried, i);
		r->server = i;
		if ((u = upconn_get(&ups->servers[i], c)) != NULL)
			break;
		if (ups->servers[i].conf->addr.len == 0)
			continue;	/* a DNS slot emptied since the pick */
		log_warn("upstream %s server %s: connect",
		    ups->conf->name, ups->servers[i].conf->addr.text);
		server_failed(&ups->servers[i], i);
		shm_stat_inc(&worker.stats->upstream_errors);
	}
	queue_leave(r);
	u->owner = c;
	r->up = u;
	active_add(r, &ups->servers[i], 1);
	r->t_up_start = ev_now;
	if (!u->reused)
		c->fixed_deadline = ev_now + ups->conf->connect_timeout_ms;
	return STEP_NEXT;
}

/* The retry_on bit of an upstream status, 0 for one it never covers. */
unsigned
retry_status_bit(int status)
{
	switch (status) {
	case 500:
		return RETRY_500;
	case 502:
		return RETRY_502;
	case 503:
		return RETRY_503;
	case 504:
		return RETRY_504;
	default:
		return 0;
	}
}

/*
 * Whether a method may be sent again after it may have reached a server
 * (RFC 9110 9.2.2): not POST, PATCH, CONNECT nor an unknown one.
 */
int
retry_idempotent(enum http_method m)
{
	return m != HTTP_M_POST && m != HTTP_M_PATCH && m != HTTP_M_OTHER &&
	    m != HTTP_M_CONNECT;
}

/*
 * Whether the upstream's retry policy lets this request try another
 * server after a failure of this kind (a RETRY_ bit): the kind is listed
 * in retry_on, attempts and time are left, and the request can be sent
 * again: still whole in the buffers, and idempotent unless nothing of it
 * reached the server.
 */
int
retry_allowed(const struct req *r, unsigned kind, int nothing_sent)
{
	const struct conf_upstream	*cu = r->upstream->conf;

	if ((cu->retry_on & kind) == 0 || !r->replayable)
		return 0;
	if (!nothing_sent && !retry_idempotent(r->method))
		return 0;
	if (cu->retries >= 0 && r->retried >= cu->retries)
		return 0;
	if (cu->retry_timeout_ms > 0 &&
	    ev_now - r->t_start >= (uint64_t)cu->retry_timeout_ms)
		return 0;
	return 1;
}

/*
 * Rewind the request to send it again, and pick the next server:
 * STEP_RETRY (sent anew, or queued for max_conns), or the answer when no
 * server is left.
 */
enum step
request_retry(struct client *c, int same_server, int status)
{
	struct req		*r = c->r;
	struct upstream_rt	*ups = r->upstream;
	enum step		 st;

	if (ups->servers[r->server].conf->shm_idx >= 0)
		shm_count(&worker.shm->srv[ups->servers[r->server].conf->shm_idx].retries);
	if (same_server)
		balance_tried_unset(&r->tried, r->server);
	r->hb_pos = 0;
	r->head_sent = 0;
	r->bb_pos = r->bb_end = 0;
	r->src_done = 0;
	r->trb_pos = 0;
	if (r->buffered) {
		r->body_off = 0;
		r->req_done = 0;
	} else
		r->fe->body_rewind(c);
	r->ub_pos = r->ub_end = 0;
	r->need_more = 0;
	r->resp_started = 0;
	r->fail_status = status;
	st = upstream_start(c);
	return st == STEP_NEXT || st == STEP_WAIT ? STEP_RETRY : st;
}

/*
 * The upstream failed before any response byte: try another server when
 * the retry policy and the request allow it, else answer status.  kind is
 * RETRY_ERROR or RETRY_TIMEOUT; nothing_sent: the connection never came
 * up, so the request cannot have reached the server.
 */
enum step
upstream_failed(struct client *c, const char *why, unsigned kind, int nothing_sent,
    int status)
{
	struct req		*r = c->r;
	struct upstream_rt	*ups = r->upstream;
	struct upconn		*u = r->up;
	int			 reused = u != NULL && u->reused;

	log_warnx("upstream %s server %s: %s%s", ups->conf->name,
	    ups->servers[r->server].conf->addr.text, why,
	    reused ? " (pooled connection)" : "");
	req_drop_up(r);
	c->fixed_deadline = 0;
	if (!reused) {
		server_failed(&ups->servers[r->server], r->server);
		shm_stat_inc(&worker.stats->upstream_errors);
	}
	if (r->resp_started || r->interim)
		return local_answer(c, status, BODY_UNREAD(r));
	/*
	 * A pooled connection that the server had closed is not the
	 * server's failure: an idempotent request goes again on a fresh
	 * connection to the same server, whatever retry_on says.
	 */
	if (reused && kind == RETRY_ERROR && r->replayable &&
	    (retry_idempotent(r->method) || nothing_sent))
		return request_retry(c, 1, status);
	if (retry_allowed(r, kind, nothing_sent)) {
		r->retried++;
		return request_retry(c, 0, status);
	}
	return local_answer(c, status, BODY_UNREAD(r));
}

/*
 * The upstream failed after some of its response was read: log it, count
 * it against the server, and end the exchange.  Before the whole head the
 * client gets 502; after it, the connection is cut (with a reset for a
 * close-delimited body, which a plain close would make look complete).
 */
enum step
upstream_broke(struct client *c, const char *why)
{
	struct req	*r = c->r;

	log_errorx("upstream %s server %s: %s", r->upstream->conf->name,
	    r->upstream->servers[r->server].conf->addr.text, why);
	shm_stat_inc(&worker.stats->upstream_errors);
	server_failed(&r->upstream->servers[r->server], r->server);
	if (!r->resp_head)
		return local_answer(c, 502, 1);
	client_cut(c);
	return STEP_CLOSED;
}
