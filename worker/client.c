/*
 * client.c: the connection layer: a client connection's life: accept,
 * the TLS handshake, the loop that drives a connection through its
 * states (client_run), timers, lingering close, close, reset and detach,
 * graceful stop; and the free lists of buffers and request blocks.  The
 * bytes of a request and of its answer are the front end's (h1.c).
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
#include "worker/compress.h"
#include "worker/event.h"
#include "common/http.h"
#include "worker/h2.h"
#include "worker/metrics.h"
#include "worker/proxy.h"
#include "worker/auth.h"
#include "worker/limits.h"
#include "worker/proxy_int.h"
#include "worker/splice.h"
#include "worker/reqid.h"
#include "worker/tls.h"
#include "worker/uri.h"
#include "worker/waf.h"
#include "worker/worker.h"

static void	 client_timer(struct client *);

struct req *
req_get(void)
{
	struct req	*r;

	if (free_reqs != NULL) {
		r = free_reqs;
		free_reqs = *(void **)r;
		nfree_reqs--;
	} else if ((r = malloc(sizeof(*r) +
	    req_limits.max_headers * sizeof(r->fields[0]))) == NULL)
		return NULL;
	memset(r, 0, offsetof(struct req, line));
	r->line[0] = r->referer[0] = r->agent[0] = '\0';
	r->reqid[0] = r->tp[0] = r->auth_user[0] = r->ip[0] = '\0';
	cache_writer_init(&r->cw);
	bodybuf_init(&r->body);
	r->fe = &h1_ops;	/* a refresh sets its own */
	r->server = -1;
	r->cl = -1;
	return r;
}

void
req_put(struct req *r)
{
	active_add(r, NULL, -1);
	queue_leave(r);
	if (r->route != NULL && r->route->nlimits > 0)
		limits_release(r);
	if (r->auth_job != 0)
		auth_release(r);
	if (!r->xbody_ref)
		free(r->xbody);
	r->xbody = NULL;
	r->xbody_ref = 0;
	if (cache_writing(&r->cw))
		cache_abort(worker.cache, &r->cw);
	if (r->cref.pin != 0)
		cache_unpin(worker.cache, &r->cref, worker.slot);
	cache_unfollow(worker.cache, &r->cref);
	buf_put(r->ck);
	buf_put(r->np);
	buf_put(r->hb);
	buf_put(r->ub);
	buf_put(r->bb);
	free(r->trb);
	bodybuf_free(&r->body);
	if (r->waf != NULL)
		waf_end(r);
	if (r->sp != NULL)
		splice_put(r);
	if (r->cz != NULL)
		compress_free(r);
	if (nfree_reqs >= FREE_KEEP) {
		free(r);
		return;
	}
	*(void **)r = free_reqs;
	free_reqs = r;
	nfree_reqs++;
}

/*
 * TLS handshake of a new client connection, before its first request
 * head, within the listener's tls_handshake_timeout.  A failed one is
 * counted and logged at info: clients fail handshakes all the time.
 */
enum step
step_handshake(struct client *c)
{
	int	 rc;

	if (c->fixed_deadline == 0)
		c->fixed_deadline = ev_now + c->ls->conf->tls_handshake_timeout_ms;
	rc = tls_conn_handshake(c->tls);
	if (rc == 1) {
		/* The first request may be inside OpenSSL already. */
		c->fixed_deadline = 0;
		c->rd_ready = 1;
		c->wr_ready = 1;
		return STEP_NEXT;
	}
	if (rc == -1) {
		log_info("client %s: TLS handshake failed: %s", client_ip(c), c->tls->why);
		client_close(c);
		return STEP_CLOSED;
	}
	c->wait = W_HANDSHAKE;
	return STEP_WAIT;
}

/*
 * CS_PROXY: both directions of a forwarded request, the request one
 * first (its head and body up), then the response one (the answer
 * down).  STEP_NEXT when the exchange is over and finished (the
 * connection is back in CS_HEAD or lingers), STEP_WAIT when both
 * directions wait (c->wait is the one that bounds the time), else what
 * a direction returned: the request was answered otherwise, retried, or
 * the connection closed.
 */
static enum step
step_proxy(struct client *c)
{
	struct req	*r = c->r;
	enum wait_on	 wreq;
	enum step	 st;

	if (r->up == NULL) {
		/* Queued for max_conns: the timer looks again. */
		c->wait = W_QUEUE;
		return STEP_WAIT;
	}
	st = step_request(c);
	if (st != STEP_NEXT && st != STEP_WAIT)
		return st;
	wreq = c->wait;
	st = step_response(c);
	if (st != STEP_NEXT && st != STEP_WAIT)
		return st;
	if (st == STEP_NEXT) {
		if (!r->req_done) {
			/* Answered early: drop the rest of the body. */
			r->req_done = 1;
			r->up_reuse = 0;
			if (!r->body_in) {
				r->body_unread = 1;
				r->keep_alive = 0;
			}
		}
		return request_finish(c);
	}
	/* Both directions wait: which one bounds the time? */
	if (!r->resp_started && wreq != W_NONE)
		c->wait = wreq;
	else if (c->wait == W_NONE)
		c->wait = W_UP_READ;
	return STEP_WAIT;
}

/* The step of the connection's state. */
static enum step
client_step(struct client *c)
{
	switch (c->state) {
	case CS_HEAD:
		return step_head(c);
	case CS_LOCAL:
		return step_local(c);
	case CS_LINGER:
		return step_linger(c);
	case CS_CACHE:
		return step_cache(c);
	case CS_CWAIT:
		c->wait = W_CACHE;
		return STEP_WAIT;
	case CS_BODY:
		return step_body(c);
	case CS_REFRESH:
		return refresh_start(c);
	case CS_TUNNEL:
		return step_tunnel(c);
	case CS_DELAY:
		return limits_step_delay(c);
	case CS_AUTH:
		return auth_step(c);
	case CS_H2:
		return step_h2(c);
	case CS_PROXY:
	default:
		return step_proxy(c);
	}
}

/* Waiting: arm the one timer for what the connection waits on. */
static void
client_arm_timer(struct client *c)
{
	uint64_t	 deadline;

	switch (c->wait) {
	case W_HEAD:
	case W_LINGER:
	case W_HANDSHAKE:
		/*
		 * At a graceful stop too: a connection waiting for its first
		 * request keeps its client_header_timeout (and the worker its
		 * shutdown_timeout), as the client may just be slow to send.
		 */
		deadline = c->fixed_deadline;
		break;
	case W_IDLE:
		deadline = ev_now + conf->g.keepalive_timeout_ms;
		if (worker.quitting && deadline > quit_grace)
			deadline = quit_grace;
		break;
	case W_CONNECT:
		deadline = c->fixed_deadline ? c->fixed_deadline :
		    ev_now + c->r->upstream->conf->connect_timeout_ms;
		break;
	case W_UP_WRITE:
		deadline = ev_now + c->r->upstream->conf->send_timeout_ms;
		break;
	case W_UP_READ:
		deadline = ev_now + c->r->upstream->conf->read_timeout_ms;
		break;
	case W_CL_READ:
		/*
		 * Between reads at most client_body_timeout; and over the
		 * whole body at least client_body_min_rate bytes a second
		 * after the first client_body_timeout.
		 */
		deadline = ev_now + conf->g.client_body_timeout_ms;
		if (conf->g.client_body_min_rate > 0 && c->r != NULL) {
			uint64_t d = c->r->body_t0 + conf->g.client_body_timeout_ms +
			    c->r->body_rx * 1000 / (uint64_t)conf->g.client_body_min_rate;
			if (d < deadline)
				deadline = d;
		}
		break;
	case W_QUEUE:
		deadline = ev_now + QUEUE_POLL_MS;
		if (deadline > c->r->queue_deadline)
			deadline = c->r->queue_deadline;
		break;
	case W_CACHE:
	case W_CGROW:
		deadline = cache_wait_deadline(c);
		break;
	case W_TUNNEL:
		deadline = tunnel_deadline(c);
		break;
	case W_DELAY:
		deadline = c->r->delay_until;
		break;
	case W_AUTH:
		deadline = c->r->auth_until;
		break;
	case W_H2:
		deadline = h2_deadline(c);
		break;
	case W_CL_WRITE:
	default:
		deadline = ev_now + conf->g.send_timeout_ms;
		break;
	}
	ev_timer_set(&c->timer, deadline);
}

/*
 * Drive a client connection as far as it can go: step after step while
 * they go on (a step that answered or retried is followed by the step of
 * the state it left the connection in), until one waits (then the timer
 * is armed) or the connection is closed.
 */
void
client_run(struct client *c)
{
	log_set_context(reqid_log_context, c);
	for (;;) {
		c->wait = W_NONE;
		switch (client_step(c)) {
		case STEP_CLOSED:
			log_set_context(NULL, NULL);
			return;
		case STEP_WAIT:
			client_arm_timer(c);
			log_set_context(NULL, NULL);
			return;
		case STEP_NEXT:
		case STEP_ANSWERED:
		case STEP_RETRY:
		default:
			break;
		}
	}
}

/* A client's timer: its lines name its request (log_set_context). */
void
client_timer_cb(struct ev_timer *t)
{
	struct client	*c = (struct client *)((char *)t - offsetof(struct client, timer));

	log_set_context(reqid_log_context, c);
	client_timer(c);
	log_set_context(NULL, NULL);
}

static void
client_timer(struct client *c)
{
	struct req	*r = c->r;
	enum step	 st = STEP_NEXT;

	switch (c->wait) {
	case W_IDLE:
	case W_LINGER:
		client_close(c);
		return;
	case W_HANDSHAKE:
		tls_conn_timed_out(c->tls);
		log_info("client %s: TLS handshake timed out", client_ip(c));
		client_close(c);
		return;
	case W_HEAD:
		if (c->in_end > c->in_pos) {
			log_info("client %s: request head timed out",
			    client_ip(c));
			st = local_answer(c, 408, 1);
		} else {
			client_close(c);
			return;
		}
		break;
	case W_CONNECT:
		st = upstream_failed(c, "connect timed out", RETRY_TIMEOUT, 1, 504);
		break;
	case W_QUEUE:
		st = upstream_start(c);
		break;
	case W_CACHE:
		st = cache_wait_again(c);
		break;
	case W_CGROW:
		if (ev_now >= r->cwait_until) {
			log_warnx("client %s: the object being stored stopped "
			    "growing: connection cut", client_ip(c));
			client_abort(c);
			return;
		}
		st = STEP_NEXT;		/* look for more of it */
		break;
	case W_START:
		st = STEP_NEXT;		/* a refresh begins */
		break;
	case W_DELAY:
		st = STEP_NEXT;		/* limits_step_delay looks at the time */
		break;
	case W_AUTH:
		st = STEP_NEXT;		/* auth_step looks for its outcome */
		break;
	case W_H2:
		st = h2_timeout(c);
		break;
	case W_TUNNEL:
		if (ev_now >= tunnel_deadline(c)) {
			log_info("client %s: tunnel idle for tunnel_idle_timeout: "
			    "closed", client_ip(c));
			client_close(c);
			return;
		}
		st = STEP_NEXT;
		break;
	case W_UP_WRITE:
	case W_UP_READ:
		if (r->resp_head) {
			log_errorx("upstream %s server %s: timed out in the middle of the body",
			    r->upstream->conf->name,
			    r->upstream->servers[r->server].conf->addr.text);
			server_failed(&r->upstream->servers[r->server], r->server);
			client_cut(c);
			return;
		}
		if (!r->resp_started && !r->interim && c->wait == W_UP_READ &&
		    retry_allowed(r, RETRY_TIMEOUT, 0)) {
			st = upstream_failed(c, "timed out waiting for the response",
			    RETRY_TIMEOUT, 0, 504);
			break;
		}
		log_errorx("upstream %s server %s: timed out waiting for the response",
		    r->upstream->conf->name,
		    r->upstream->servers[r->server].conf->addr.text);
		shm_stat_inc(&worker.stats->upstream_errors);
		server_failed(&r->upstream->servers[r->server], r->server);
		st = local_answer(c, 504, 1);
		break;
	case W_CL_READ:
		log_info("client %s: request body timed out", client_ip(c));
		st = local_answer(c, 408, 1);
		break;
	case W_CL_WRITE:
	default:
		log_info("client %s: send timed out", client_ip(c));
		client_close(c);
		return;
	}
	if (st != STEP_CLOSED)
		client_run(c);
}

void
client_cb(struct ev_io *io, uint32_t events)
{
	struct client	*c = (struct client *)io;
	struct req	*r = c->r;

	/*
	 * The client hung up while its answer is being fetched.  A reset, or
	 * a FIN from a client that asked for keep-alive, means it is gone:
	 * stop (logged as 499).  A client that said Connection: close may
	 * just have shut down its sending side, and still gets its answer.
	 */
	if (((c->state == CS_PROXY && r != NULL && (r->req_done || r->body_in) &&
	    !r->resp_head) ||
	    c->state == CS_CWAIT) && ((events & (EPOLLERR | EPOLLHUP)) ||
	    ((events & EPOLLRDHUP) && r->client_ka))) {
		log_info("client %s closed the connection before the answer", client_ip(c));
		r->status = 499;
		client_close(c);
		return;
	}

	if (events & (EPOLLIN | EPOLLRDHUP | EPOLLERR | EPOLLHUP))
		c->rd_ready = 1;
	if (events & (EPOLLRDHUP | EPOLLERR | EPOLLHUP))
		c->rdhup = 1;
	if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))
		c->wr_ready = 1;
	if (c->tls != NULL) {
		int rd = c->rd_ready, wr = c->wr_ready;

		tls_events(c->tls, events, &rd, &wr);
		c->rd_ready = rd;
		c->wr_ready = wr;
	}
	client_run(c);
}

void
client_close(struct client *c)
{
	struct req	*r = c->r;

	if (c->h2s != NULL)
		h2_carrier_closed(c);	/* (c->h2s is NULL after) */
	if (c->h2 != NULL)
		h2_conn_closed(c);
	if (r != NULL) {
		if (!r->logged && r->parsed) {
			/* Gone before the answer was complete. */
			if (r->status == 0 || !r->resp_done)
				r->status = r->resp_head ? r->status : 499;
			access_log(c);
		}
		tunnel_closed(r);
		req_drop_up(r);
		req_put(r);
		c->r = NULL;
		nbusy--;
	}
	limits_conn_close(c);
	buf_put(c->in);
	c->in = NULL;
	ev_timer_cancel(&c->timer);
	free(c->pp);
	c->pp = NULL;
	if (c->tls != NULL) {
		tls_conn_free(c->tls);
		c->tls = NULL;
	}
	if (c->io.fd != -1) {
		close(c->io.fd);
		worker_accept_resume();	/* an fd is free again */
	}
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		clients = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	nclients--;
	if (c->io.fd != -1)
		metrics_conn_closed();	/* (a refresh has no socket) */
	c->io.fd = -1;
	c->next = dead_clients;
	dead_clients = c;
}

/*
 * The connection's peer is sa: kept as bytes; client_ip() writes it as
 * text when something asks (the client's address until realip_apply
 * finds a real one).
 */
void
client_peer_set(struct client *c, const struct sockaddr *sa)
{
	c->peer_af = 0;
	if (sa->sa_family == AF_INET) {
		c->peer_af = AF_INET;
		memcpy(c->peer_addr, &((const struct sockaddr_in *)sa)->sin_addr, 4);
		c->peer_port = ((const struct sockaddr_in *)sa)->sin_port;
	} else if (sa->sa_family == AF_INET6) {
		c->peer_af = AF_INET6;
		memcpy(c->peer_addr, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
		c->peer_port = ((const struct sockaddr_in6 *)sa)->sin6_port;
	}
	if (c->r != NULL) {
		c->r->ip[0] = '\0';
		c->r->ip_real = 0;
	}
}

/* The peer's address as text into buf (cap >= CLIENT_IP_MAX). */
static const char *
peer_text(const struct client *c, char *buf, size_t cap)
{
	static char	 dec[256][4];	/* "0." to "255.", once */
	static uint8_t	 declen[256];
	static uint32_t	 last;		/* the last address written, */
	static char	 last_txt[16];	/* ... as text ("" none) */
	const uint8_t	*a = c->peer_addr;
	char		*p = buf, t[8];
	uint32_t	 a4;
	int		 i;

	if (c->peer_af == AF_INET) {
		/*
		 * Per request: inet_ntop goes through sprintf, and most
		 * requests come from the address before (keep-alive, a
		 * load balancer in front).
		 */
		memcpy(&a4, a, 4);
		if (a4 == last && last_txt[0] != '\0') {
			memcpy(buf, last_txt, sizeof(last_txt));
			return buf;
		}
		if (declen[0] == 0)
			for (i = 0; i < 256; i++) {
				declen[i] = (uint8_t)snprintf(t, sizeof(t),
				    "%d.", i);
				memcpy(dec[i], t, sizeof(dec[i]));
			}
		for (i = 0; i < 4; i++) {
			memcpy(p, dec[a[i]], 4);
			p += declen[a[i]];
		}
		p[-1] = '\0';
		last = a4;
		memcpy(last_txt, buf, sizeof(last_txt));
	} else if (c->peer_af == 0)
		snprintf(buf, cap, "unix");
	else if (inet_ntop(c->peer_af, c->peer_addr, buf, cap) == NULL)
		snprintf(buf, cap, "?");
	return buf;
}

/*
 * The client as text: realip's address for this exchange, or the
 * connection's peer.  Kept in the exchange (r->ip) once written; without
 * one (a log line between requests), in one of a few static buffers,
 * good until a few more calls.
 */
const char *
client_ip_text(const struct client *c)
{
	static char	 tmp[4][CLIENT_IP_MAX];
	static unsigned	 next;

	if (c->r != NULL)
		return peer_text(c, c->r->ip, sizeof(c->r->ip));
	return peer_text(c, tmp[next++ % 4], CLIENT_IP_MAX);
}

/*
 * The connection's peer as text: client_ip(c), unless a trusted proxy's
 * field put the real client there; then written into buf (cap >= 46).
 */
const char *
client_peer(const struct client *c, char *buf, size_t cap)
{
	if (c->r == NULL || !c->r->ip_real)
		return client_ip(c);
	return peer_text(c, buf, cap);
}

/*
 * Close with a reset: the client must not take a cut-short body for a
 * whole one (a close-delimited body would otherwise look complete).
 */
void
client_abort(struct client *c)
{
	if (c->tls != NULL)
		c->tls->failed = 1;	/* no close_notify: that would say "complete" */
	struct linger	 l = { 1, 0 };

	if (c->tls != NULL)
		c->tls->failed = 1;	/* no close_notify: it would say "complete" */
	(void)setsockopt(c->io.fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
	client_close(c);
}

/*
 * The client went away, its exchange goes on without it (storing an
 * answer): the socket is closed now, the carrier stays until the
 * exchange ends.
 */
void
client_detach(struct client *c)
{
	free(c->pp);
	c->pp = NULL;
	if (c->tls != NULL) {
		c->tls->failed = 1;
		tls_conn_free(c->tls);
		c->tls = NULL;
	}
	if (c->io.fd != -1) {
		close(c->io.fd);
		c->io.fd = -1;
		worker_accept_resume();
		metrics_conn_closed();
	}
	c->in_pos = c->in_end;
}

/*
 * A response ends before its end: a body whose end is the close itself
 * (close-delimited, or de-chunked for HTTP/1.0) must end in a reset, or
 * the client would take it for whole; others carry their own length.
 */
void
client_cut(struct client *c)
{
	if (c->r != NULL && (c->r->resp_eof || c->r->dechunk))
		client_abort(c);
	else
		client_close(c);
}

/*
 * End the connection after an answer gently: close the write side and
 * drop input until the client closes or LINGER_MS pass (step_linger),
 * so that a client still sending is not reset before it reads the end
 * of the answer.
 */
void
linger_start(struct client *c)
{
	cl_shutdown_wr(c);
	buf_put(c->in);
	c->in = NULL;
	c->in_pos = c->in_end = 0;
	c->state = CS_LINGER;
	c->fixed_deadline = ev_now + LINGER_MS;
}

/* Drop input until the client closes or the lingering time is over. */
enum step
step_linger(struct client *c)
{
	static char	 sink[16384];
	ssize_t		 n;

	for (;;) {
		if (!c->rd_ready) {
			c->wait = W_LINGER;
			return STEP_WAIT;
		}
		n = read(c->io.fd, sink, sizeof(sink));
		if (n == -1 && (errno == EAGAIN || errno == EINTR)) {
			c->rd_ready = 0;
			continue;
		}
		if (n <= 0) {
			client_close(c);
			return STEP_CLOSED;
		}
	}
}

/*
 * End of a loop turn: objects closed during it may be reused now (no
 * event of this turn can name them any more).
 */
void
proxy_recycle(void)
{
	struct client	*c;
	struct upconn	*u;

	while ((c = dead_clients) != NULL) {
		dead_clients = c->next;
		c->next = free_clients;
		free_clients = c;
	}
	while ((u = dead_upconns) != NULL) {
		dead_upconns = u->next;
		u->next = free_upconns;
		free_upconns = u;
	}
}

int
ratelimit_ok(struct ratelimit *rl, unsigned long *skipped)
{
	if (rl->last == ev_wall) {
		rl->skipped++;
		return 0;
	}
	rl->last = ev_wall;
	*skipped = rl->skipped;
	rl->skipped = 0;
	return 1;
}

/*
 * A connection over worker_connections: counted, logged (at most once a
 * second), and closed at once.  A plain HTTP client gets a 503 first: its
 * request, if in already, is read and dropped so that the close sends a
 * FIN, not a reset that could destroy the answer on its way.  A TLS client
 * only sees the close: an answer would cost a handshake.
 */
static void
accept_refuse(struct proxy_listener *ls, int fd,
    const struct sockaddr_storage *ss)
{
	static const char	 resp[] = "HTTP/1.1 503 Service Unavailable\r\n"
	    "Content-Type: text/plain\r\nContent-Length: 20\r\n"
	    "Connection: close\r\n\r\nService Unavailable\n";
	static struct ratelimit	 rl;
	char			 buf[4096], ip[INET6_ADDRSTRLEN];
	unsigned long		 skipped;
	int			 i;

	shm_stat_inc(&worker.stats->connections_refused);
	if (ratelimit_ok(&rl, &skipped)) {
		net_ntop((const struct sockaddr *)ss, ip, sizeof(ip));
		log_warnx("client %s: connection refused: worker_connections "
		    "(%d) reached; %lu more refused since the last message", ip,
		    conf->g.worker_connections, skipped);
	}
	for (i = 0; i < 4 && recv(fd, buf, sizeof(buf), MSG_DONTWAIT) > 0; i++)
		;
	if (ls->conf->tls == NULL)
		(void)send(fd, resp, sizeof(resp) - 1, MSG_DONTWAIT | MSG_NOSIGNAL);
	close(fd);
}

void
proxy_accept(struct ev_io *io, uint32_t events)
{
	struct proxy_listener	*ls = (struct proxy_listener *)io;
	struct sockaddr_storage	 ss;
	socklen_t		 sl;
	struct client		*c;
	static struct ratelimit	 rl_fds;
	unsigned long		 skipped;
	int			 fd, i, err;

	/*
	 * One accept per wakeup, as nginx does by default: the listener is
	 * level-triggered, so epoll reports it again while connections wait,
	 * and no accept4() is spent just to learn the queue is empty.
	 */
	for (i = 0; i < 1; i++) {
		sl = sizeof(ss);
		fd = accept4(io->fd, (struct sockaddr *)&ss, &sl,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1) {
			if (errno == EAGAIN || errno == EINTR || errno == ECONNABORTED)
				return;
			err = errno;
			if (err == EMFILE || err == ENFILE) {
				/* Retried after a pause: no spinning. */
				worker_accept_pause(ACCEPT_PAUSE_MS);
				if (!ratelimit_ok(&rl_fds, &skipped))
					return;
				errno = err;
				log_warn("accept: out of file descriptors (raise "
				    "the fd limit or lower worker_connections), "
				    "pausing accept for %d ms; %lu more since the "
				    "last message", ACCEPT_PAUSE_MS, skipped);
			} else
				log_warn("accept");
			return;
		}
		if (worker.quitting) {
			close(fd);
			continue;
		}
		if (nclients >= (size_t)conf->g.worker_connections) {
			accept_refuse(ls, fd, &ss);
			continue;
		}
		if ((c = free_clients) != NULL)
			free_clients = c->next;
		else if ((c = malloc(sizeof(*c))) == NULL) {
			close(fd);
			continue;
		}
		memset(c, 0, offsetof(struct client, peer_addr));
		c->io.fd = fd;
		c->io.cb = client_cb;
		c->ls = ls;
		c->state = CS_HEAD;
		ev_timer_init(&c->timer, client_timer_cb);
		client_peer_set(c, (struct sockaddr *)&ss);
		if (ev_add(&c->io) == -1) {
			log_warn("epoll_ctl");
			close(fd);
			c->next = free_clients;
			free_clients = c;
			continue;
		}
		c->next = clients;
		if (clients != NULL)
			clients->prev = c;
		clients = c;
		metrics_conn_opened();
		nclients++;
		shm_stat_inc(&worker.stats->connections);
		if (ls->conf->proxy_protocol)
			ppconn_start(c);	/* client_start() after it */
		else
			client_begin(c, ls->conf->defer_accept > 0);
	}
}

/*
 * A connection begins (after its PROXY protocol header, if any): its
 * TLS, then its first request.
 */
void
client_start(struct client *c)
{
	client_begin(c, 1);
}

/*
 * readable: whether to read at once.  A connection just accepted
 * usually has not sent its request yet (the handshake completes before
 * the client's first write): reading would only return EAGAIN, so it
 * waits for epoll, as nginx does.  The edge-triggered registration
 * reports data that came before it.  With defer_accept the kernel hands
 * it over once its first bytes are there; after a PROXY header the rest
 * usually came with it.
 */
void
client_begin(struct client *c, int readable)
{
	const struct conf_listener	*ls = c->ls->conf;

	c->io.cb = client_cb;
	ev_timer_init(&c->timer, client_timer_cb);
	if (limits_conn_open(c) == -1) {	/* max_conns_per_ip */
		client_close(c);
		return;
	}
	if (ls->tls != NULL &&
	    (c->tls = tls_conn_accept(ls->tls, c->io.fd)) == NULL) {
		client_close(c);
		return;
	}
	c->rd_ready = readable;
	c->wr_ready = 1;
	client_run(c);
}

/*
 * Graceful stop.  A connection between requests may have a request on
 * its way: closing it at once would fail that request.  So idle
 * keep-alive connections get a short grace period (an answer in it says
 * Connection: close), and busy ones finish their exchange and then close.
 * A connection accepted that has not had its first request yet is
 * answered (with Connection: close) whenever the request comes, within
 * client_header_timeout and shutdown_timeout: the client connected to
 * this worker and has no reason to think it is going away (nginx too
 * closes only the idle keep-alive connections at once).
 */
size_t
proxy_quit(void)
{
	struct client	*c;
	size_t		 i;
	struct server_rt *s;
	uint64_t	 grace = ev_now + QUIT_IDLE_GRACE_MS;

	worker.quitting = 1;
	quit_grace = grace;
	for (c = clients; c != NULL; c = c->next) {
		if (c->h2 != NULL)
			h2_quit(c);
		else if (c->r != NULL)
			c->r->keep_alive = 0;
		else if (c->state == CS_HEAD && c->served &&
		    c->in_end == c->in_pos && c->timer.deadline > grace)
			ev_timer_set(&c->timer, grace);
	}
	for (i = 0; i < nupstreams; i++)
		for (s = upstreams[i].servers; s < upstreams[i].servers + upstreams[i].n; s++)
			while (s->idle != NULL)
				upconn_close(s->idle);
	return nclients;
}

size_t
proxy_active(void)
{
	return nclients;
}
