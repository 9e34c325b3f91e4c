/*
 * refresh.c: the front end of an exchange no client reads (exchange.h,
 * refresh_ops): a refresh behind a stale hit (stale-while-revalidate),
 * and an answer still being stored after its client went away
 * (cache_ahead_detach).  It has no socket: what the exchange delivers
 * is dropped, the exchange writes no access log line, and its end closes
 * the carrier.  A refresh's carrier (a struct client with no socket, for
 * the exchange's state and timer) starts in CS_REFRESH: refresh_start
 * takes the head it was given and begins the exchange.
 */
#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "common/http.h"
#include "common/log.h"
#include "worker/event.h"
#include "worker/exchange.h"
#include "worker/proxy_int.h"
#include "worker/worker.h"

/* No request body: the refresh of a GET has none. */
static int
refresh_body_next(struct client *c, size_t max, const char **p, size_t *n)
{
	(void)c;
	(void)max;
	*p = NULL;
	*n = 0;
	return 0;
}

/*
 * A refresh's body (none) is all in from the start; an answer stored
 * after its client left may have had the client's body cut short: that
 * one never ends.
 */
static int
refresh_body_src_end(const struct client *c)
{
	return c->r->req_done;
}

/* Nobody sends more: a body still expected ends the exchange. */
static int
refresh_body_more(struct client *c, int keep_head)
{
	(void)keep_head;
	client_close(c);
	return BODY_MORE_CLOSED;
}

static void
refresh_body_nop(struct client *c)
{
	(void)c;
}

static int
refresh_want_body(struct client *c)
{
	(void)c;
	return 0;
}

/* Delivery: everything is taken, and dropped. */
static ssize_t
refresh_send(struct client *c, const struct iovec *iov, int niov)
{
	size_t	 total = 0;
	int	 i;

	(void)c;
	for (i = 0; i < niov; i++)
		total += iov[i].iov_len;
	return (ssize_t)total;
}

/* The exchange is over (stored, or not): the carrier goes. */
static enum step
refresh_finish(struct client *c, int keep_alive, int body_unread)
{
	(void)keep_alive;
	(void)body_unread;
	client_close(c);
	return STEP_CLOSED;
}

const struct front_ops refresh_ops = {
	.name = "refresh",
	.reader = 0,
	.body_next = refresh_body_next,
	.body_src_end = refresh_body_src_end,
	.body_more = refresh_body_more,
	.body_rest = refresh_body_nop,
	.body_rewind = refresh_body_nop,
	.want_body = refresh_want_body,
	.status_line = h1_status_line,	/* (dropped: any syntax does) */
	.head_tail = head_tail,
	.chunk_frame = chunk_frame,
	.send = refresh_send,
	.finish = refresh_finish,
};

/*
 * CS_REFRESH: the refresh's turn came.  Its head (a copy of the client's,
 * in c->in) is parsed into the exchange's block, and the exchange begins
 * as the client's did: route, cache (which sees a refresh: no reader),
 * upstream.
 */
enum step
refresh_start(struct client *c)
{
	struct req	*r = c->r;

	memset(&r->rq, 0, sizeof(r->rq));
	if (http_parse_request(c->in, c->in_end, &req_limits, &r->rq,
	    r->fields) != HTTP_PARSE_OK || r->rq.chunked ||
	    r->rq.content_length > 0) {
		client_close(c);	/* (it parsed once: cannot happen) */
		return STEP_CLOSED;
	}
	c->in_pos = c->in_end;
	r->cl = r->rq.content_length;
	r->head_off = 0;
	r->head_len = r->rq.head_len;
	r->body_start = r->rq.head_len;
	r->body_t0 = ev_now;
	r->replayable = 1;
	r->req_done = 1;
	c->state = CS_HEAD;
	return exchange_begin(c);
}

/*
 * stale-while-revalidate: the client got the stale object; an exchange
 * with no client (refresh_ops) now asks the origin and stores the
 * answer.  It starts on the next loop turn (this one is in the middle of
 * parsing).
 */
void
cache_refresh_behind(struct client *c, const struct http_request *rq)
{
	struct req	*r = c->r;
	struct client	*bg;

	if (rq->method != HTTP_M_GET || !r->fe->reader || rq->chunked ||
	    rq->content_length > 0 ||
	    nclients >= (size_t)conf->g.worker_connections ||
	    worker.quitting || r->head_len > bufsize)
		return;
	if ((bg = free_clients) != NULL)
		free_clients = bg->next;
	else if ((bg = malloc(sizeof(*bg))) == NULL)
		return;
	memset(bg, 0, sizeof(*bg));
	if ((bg->in = buf_get()) == NULL || (bg->r = req_get()) == NULL) {
		buf_put(bg->in);
		bg->next = free_clients;
		free_clients = bg;
		return;
	}
	bg->r->fe = &refresh_ops;
	nbusy++;
	memcpy(bg->in, c->in + r->head_off, r->head_len);
	bg->in_end = r->head_len;
	bg->io.fd = -1;
	bg->io.cb = client_cb;
	bg->ls = c->ls;
	bg->state = CS_REFRESH;
	bg->wr_ready = 1;
	bg->wait = W_START;
	bg->peer_af = c->peer_af;
	bg->peer_port = c->peer_port;
	memcpy(bg->peer_addr, c->peer_addr, sizeof(bg->peer_addr));
	if (r->ip_real) {
		memcpy(bg->r->ip, r->ip, sizeof(bg->r->ip));
		bg->r->ip_real = 1;
	}
	ev_timer_init(&bg->timer, client_timer_cb);
	bg->next = clients;
	if (clients != NULL)
		clients->prev = bg;
	clients = bg;
	nclients++;
	ev_timer_set(&bg->timer, ev_now);
}
