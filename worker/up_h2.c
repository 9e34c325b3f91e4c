/*
 * up_h2.c: HTTP/2 to the servers of an upstream with protocol = h2
 * (libnghttp2's client session; gRPC rides on it).
 *
 * The exchange (forward.c) speaks HTTP/1.1 to its upstream connection
 * through up_writev() and up_read() (proxy_int.h).  For an h2 server
 * its connection is a stream: a struct upconn with no socket (io.fd -1)
 * whose h2s is a struct up_h2s here, one stream of a struct up_h2, a
 * real connection shared by up to the server's
 * SETTINGS_MAX_CONCURRENT_STREAMS exchanges of this worker.  The
 * stream (up_h2_msg.c) turns what the exchange writes (its HTTP/1.1 head, then the
 * body, plain or chunked) into HEADERS and DATA, and what the server
 * answers into an HTTP/1.1 answer for the exchange to read: the status
 * line and fields, then the body (chunked when the server sent no
 * content-length, its trailer fields then in the last chunk; they are
 * also kept for an HTTP/2 client, h2_stream_trailers).  So routing,
 * caching, the answer's head rules and logging are the exchange's
 * as for HTTP/1.1.
 *
 * Flow control both ways: the exchange's request bytes are taken only
 * while the stream's buffer (tx) has room, and nghttp2 sends them as
 * the server's windows allow; the server's DATA is given window back
 * (nghttp2_session_consume) only as the exchange reads it (rx).
 *
 * Readiness: the connection's socket has its own callback (h2c_cb);
 * streams whose exchange can go on are flagged (wake) and their
 * clients run once the connection's bytes are processed, or on the
 * next loop turn (the kick timer) when the flag was set from inside
 * another exchange's step.  A connection is freed only once no stream
 * and no callback holds it (dead, in_cb).
 */
#include "config.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "common/http.h"
#include "common/log.h"
#include "common/net.h"
#include "worker/proxy_int.h"
#include "worker/up_h2.h"
#include "worker/upslot.h"

static nghttp2_session_callbacks	*callbacks;

static void	 h2c_cb(struct ev_io *io, uint32_t events);
static void	 h2c_timer_cb(struct ev_timer *t);
static void	 h2c_kick_cb(struct ev_timer *t);
static void	 h2c_fail(struct up_h2 *h, int err, const char *why);

/* The exchange of s may go on (its client runs soon). */
void
uh2_wake(struct up_h2s *s, int rd, int wr)
{
	if (s->u == NULL)
		return;
	if (rd)
		s->u->rd_ready = 1;
	if (wr)
		s->u->wr_ready = 1;
	s->wake = 1;
	if (s->h->in_cb == 0)
		ev_timer_set(&s->h->kick, ev_now);
}

/* Run the clients of flagged streams (each may end its stream). */
static void
h2c_wake(struct up_h2 *h)
{
	struct up_h2s	*s;

	h->in_cb++;
again:
	for (s = h->streams; s != NULL; s = s->next) {
		if (!s->wake)
			continue;
		s->wake = 0;
		if (s->u != NULL && s->u->owner != NULL) {
			client_run(s->u->owner);
			goto again;
		}
	}
	h->in_cb--;
}

static void
h2c_free(struct up_h2 *h)
{
	ev_timer_cancel(&h->timer);
	ev_timer_cancel(&h->kick);
	free(h);
}

/* Free h when nothing holds it any more. */
static void
h2c_maybe_free(struct up_h2 *h)
{
	if (h->dead && h->in_cb == 0 && h->nstreams == 0)
		h2c_free(h);
}

static int
on_frame_recv(nghttp2_session *ss, const nghttp2_frame *f, void *arg)
{
	struct up_h2	*h = arg;
	struct up_h2s	*s;
	int		 end = (f->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0, rc = 0;

	if (f->hd.type == NGHTTP2_SETTINGS && f->hd.stream_id == 0 &&
	    !(f->hd.flags & NGHTTP2_FLAG_ACK) && !h->ready) {
		h->ready = 1;
		for (s = h->streams; s != NULL; s = s->next)
			uh2_wake(s, 0, 1);
		return 0;
	}
	if (f->hd.type == NGHTTP2_GOAWAY) {
		h->goaway = 1;
		return 0;
	}
	if ((f->hd.type != NGHTTP2_HEADERS && f->hd.type != NGHTTP2_DATA) ||
	    (s = nghttp2_session_get_stream_user_data(ss, f->hd.stream_id)) == NULL)
		return 0;
	if (f->hd.type == NGHTTP2_HEADERS) {
		if (!s->r_head)
			rc = uh2_head_done(s, end);
		else if (end)
			rc = uh2_trailers_done(s);
	} else if (end && !s->r_cl)
		rc = uh2_rx_put(s, "0\r\n\r\n", 5);
	if (end)
		s->r_end = 1;
	if (rc == -1) {
		nghttp2_submit_rst_stream(ss, NGHTTP2_FLAG_NONE, s->id,
		    NGHTTP2_INTERNAL_ERROR);
		s->failed = 1;
	}
	uh2_wake(s, 1, 0);
	return 0;
}

static int
on_stream_close(nghttp2_session *ss, int32_t id, uint32_t code, void *arg)
{
	struct up_h2s	*s;

	(void)arg;
	if ((s = nghttp2_session_get_stream_user_data(ss, id)) == NULL)
		return 0;
	s->closed = 1;
	if (!s->r_end) {
		s->failed = 1;
		s->refused = code == NGHTTP2_REFUSED_STREAM;
		if (s->refused && s->u != NULL)
			s->u->reused = 1;	/* not the server's failure */
	}
	nghttp2_session_set_stream_user_data(ss, id, NULL);
	uh2_wake(s, 1, 1);
	return 0;
}

static int
on_frame_send(nghttp2_session *ss, const nghttp2_frame *f, void *arg)
{
	struct up_h2s	*s;

	(void)arg;
	if (f->hd.type == NGHTTP2_HEADERS &&
	    (s = nghttp2_session_get_stream_user_data(ss, f->hd.stream_id)) != NULL)
		s->sent = 1;
	return 0;
}

static int
callbacks_init(void)
{
	if (callbacks != NULL)
		return 0;
	if (nghttp2_session_callbacks_new(&callbacks) != 0)
		return -1;
	nghttp2_session_callbacks_set_on_header_callback(callbacks, uh2_on_header);
	nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks,
	    on_frame_recv);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks,
	    uh2_on_data);
	nghttp2_session_callbacks_set_on_stream_close_callback(callbacks,
	    on_stream_close);
	nghttp2_session_callbacks_set_on_frame_send_callback(callbacks,
	    on_frame_send);
	return 0;
}

/* A new connection to server s; NULL with errno. */
static struct up_h2 *
h2c_new(struct server_rt *s)
{
	struct up_h2		*h;
	nghttp2_option		*opt;
	nghttp2_settings_entry	 set[2];
	int			 fd, rc;

	if (callbacks_init() == -1 || (h = calloc(1, sizeof(*h))) == NULL) {
		errno = ENOMEM;
		return NULL;
	}
	if (nghttp2_option_new(&opt) != 0) {
		free(h);
		errno = ENOMEM;
		return NULL;
	}
	nghttp2_option_set_no_auto_window_update(opt, 1);
	rc = nghttp2_session_client_new2(&h->ss, callbacks, h, opt);
	nghttp2_option_del(opt);
	if (rc != 0) {
		free(h);
		errno = ENOMEM;
		return NULL;
	}
	set[0].settings_id = NGHTTP2_SETTINGS_ENABLE_PUSH;
	set[0].value = 0;
	set[1].settings_id = NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE;
	set[1].value = UH2_WINDOW;
	if (nghttp2_submit_settings(h->ss, NGHTTP2_FLAG_NONE, set, 2) != 0 ||
	    nghttp2_session_set_local_window_size(h->ss, NGHTTP2_FLAG_NONE, 0,
	    UH2_CONN_WINDOW) != 0 || (fd = net_connect(&s->conf->addr)) == -1) {
		nghttp2_session_del(h->ss);
		free(h);
		if (errno == 0)
			errno = ENOMEM;
		return NULL;
	}
	h->io.fd = fd;
	h->io.cb = h2c_cb;
	ev_timer_init(&h->timer, h2c_timer_cb);
	ev_timer_init(&h->kick, h2c_kick_cb);
	h->srv = s;
	h->gen = s->gen;
	if (ev_add(&h->io) == -1)
		goto fail;
	if (s->conf->tls && (h->tls = tls_conn_connect(s->up->conf->tls_ctx, fd,
	    s->conf, &s->tls_session)) == NULL)
		goto fail;
	h->next = s->h2;
	if (s->h2 != NULL)
		s->h2->prev = h;
	s->h2 = h;
	return h;
fail:
	nghttp2_session_del(h->ss);
	close(fd);
	free(h);
	errno = ENOMEM;
	return NULL;
}

/* The connection is over: unlink it; its streams fail as they look. */
static void
h2c_fail(struct up_h2 *h, int err, const char *why)
{
	struct up_h2s	*s;

	if (h->dead)
		return;
	if (why != NULL)
		log_warnx("upstream %s server %s: HTTP/2: %s",
		    h->srv->up->conf->name, h->srv->conf->addr.text, why);
	h->dead = 1;
	h->err = err;
	if (h->prev != NULL)
		h->prev->next = h->next;
	else if (h->srv->h2 == h)
		h->srv->h2 = h->next;
	if (h->next != NULL)
		h->next->prev = h->prev;
	h->next = h->prev = NULL;
	for (s = h->streams; s != NULL; s = s->next) {
		if (!s->closed && !s->r_end) {
			s->failed = 1;
			s->refused = h->ready && !s->sent;
			if (s->refused && s->u != NULL)
				s->u->reused = 1;
		}
		uh2_wake(s, 1, 1);
	}
	if (h->tls != NULL) {
		tls_conn_free(h->tls);
		h->tls = NULL;
	}
	nghttp2_session_del(h->ss);
	h->ss = NULL;
	h->pend = NULL;
	h->pend_len = 0;
	ev_timer_cancel(&h->timer);
	close(h->io.fd);
	h->io.fd = -1;
}

static ssize_t
h2c_write(struct up_h2 *h, const void *p, size_t n)
{
	struct iovec	 iov = { (void *)p, n };

	if (h->tls == NULL)
		return send(h->io.fd, p, n, MSG_NOSIGNAL);
	return tls_conn_writev(h->tls, &iov, 1);
}

static ssize_t
h2c_read(struct up_h2 *h, void *p, size_t n)
{
	if (h->tls == NULL)
		return read(h->io.fd, p, n);
	return tls_conn_read(h->tls, p, n);
}

/* Write what nghttp2 has to send, as far as the socket takes it.  -1: failed. */
int
uh2_flush(struct up_h2 *h)
{
	ssize_t	 n;

	if (h->dead)
		return -1;
	for (;;) {
		if (h->pend_len == 0) {
			n = nghttp2_session_mem_send(h->ss, &h->pend);
			if (n < 0) {
				h2c_fail(h, EPROTO, nghttp2_strerror((int)n));
				return -1;
			}
			if (n == 0)
				return 0;
			h->pend_len = (size_t)n;
		}
		if (!h->tcp || !h->wr_ready)
			return 0;
		n = h2c_write(h, h->pend, h->pend_len);
		if (n == -1) {
			if (errno == EAGAIN || errno == EINTR) {
				h->wr_ready = 0;
				return 0;
			}
			h2c_fail(h, errno, h->tls != NULL && h->tls->failed ?
			    h->tls->why : strerror(errno));
			return -1;
		}
		h->pend += n;
		h->pend_len -= (size_t)n;
	}
}

/* Read and process what the server sent.  -1: the connection failed. */
static int
h2c_input(struct up_h2 *h)
{
	static uint8_t	 b[UH2_READ];
	ssize_t		 n, rv;

	while (h->rd_ready && !h->dead) {
		n = h2c_read(h, b, sizeof(b));
		if (n == -1) {
			if (errno == EAGAIN || errno == EINTR) {
				h->rd_ready = 0;
				break;
			}
			h2c_fail(h, errno, h->tls != NULL && h->tls->failed ?
			    h->tls->why : strerror(errno));
			return -1;
		}
		if (n == 0) {
			h2c_fail(h, h->ready ? ECONNRESET : EPROTO,
			    h->ready ? (h->nstreams > 0 && !h->goaway ?
			    "the server closed the connection" : NULL) :
			    "the server closed the connection before its SETTINGS "
			    "(does it speak HTTP/2?)");
			return -1;
		}
		rv = nghttp2_session_mem_recv(h->ss, b, (size_t)n);
		if (rv < 0) {
			h2c_fail(h, EPROTO, nghttp2_strerror((int)rv));
			return -1;
		}
	}
	return 0;
}

/*
 * Pool the connection when it carries nothing, or close it (then the
 * caller frees it: h2c_maybe_free).
 */
static void
h2c_idle(struct up_h2 *h)
{
	struct up_h2	*o;
	struct upconn	 probe;
	int		 nidle = 0;

	if (h->dead || h->nstreams > 0)
		return;
	memset(&probe, 0, sizeof(probe));
	probe.srv = h->srv;
	probe.gen = h->gen;
	for (o = h->srv->h2; o != NULL; o = o->next)
		nidle += o != h && o->nstreams == 0;
	if (h->goaway || worker.quitting || nidle >= h->srv->up->conf->keepalive ||
	    upslot_stale(&probe) || !nghttp2_session_check_request_allowed(h->ss)) {
		if (h->ready && !h->goaway) {
			nghttp2_submit_goaway(h->ss, NGHTTP2_FLAG_NONE, 0,
			    NGHTTP2_NO_ERROR, NULL, 0);
			(void)uh2_flush(h);
		}
		h2c_fail(h, ECONNRESET, NULL);	/* the caller frees it */
		return;
	}
	ev_timer_set(&h->timer, ev_now + h->srv->up->conf->keepalive_timeout_ms);
}

static void
h2c_cb(struct ev_io *io, uint32_t events)
{
	struct up_h2	*h = (struct up_h2 *)io;
	int		 err = 0;
	socklen_t	 el = sizeof(err);

	h->in_cb++;
	if (events & (EPOLLIN | EPOLLRDHUP | EPOLLERR | EPOLLHUP))
		h->rd_ready = 1;
	if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))
		h->wr_ready = 1;
	if (h->tls != NULL) {
		int rd = h->rd_ready, wr = h->wr_ready;

		tls_events(h->tls, events, &rd, &wr);
		h->rd_ready = rd;
		h->wr_ready = wr;
	}
	if (!h->dead && !h->tcp && (h->wr_ready || h->rd_ready)) {
		if (getsockopt(h->io.fd, SOL_SOCKET, SO_ERROR, &err, &el) == -1)
			err = errno;
		if (err != 0)
			h2c_fail(h, err, NULL);
		else
			h->tcp = 1;
	}
	if (!h->dead && h->tcp && h2c_input(h) == 0 && uh2_flush(h) == 0 &&
	    !nghttp2_session_want_read(h->ss) && !nghttp2_session_want_write(h->ss) &&
	    h->pend_len == 0)
		h2c_fail(h, ECONNRESET, NULL);
	h2c_wake(h);
	h->in_cb--;
	if (h->nstreams == 0)
		h2c_idle(h);
	h2c_maybe_free(h);
}

static void
h2c_kick_cb(struct ev_timer *t)
{
	struct up_h2	*h = (struct up_h2 *)((char *)t - offsetof(struct up_h2, kick));

	h->in_cb++;
	h2c_wake(h);
	h->in_cb--;
	if (h->nstreams == 0)
		h2c_idle(h);
	h2c_maybe_free(h);
}

static void
h2c_timer_cb(struct ev_timer *t)
{
	struct up_h2	*h = (struct up_h2 *)((char *)t - offsetof(struct up_h2, timer));

	if (h->nstreams > 0 || h->dead)
		return;
	h->goaway = 1;
	if (h->ready) {
		nghttp2_submit_goaway(h->ss, NGHTTP2_FLAG_NONE, 0,
		    NGHTTP2_NO_ERROR, NULL, 0);
		(void)uh2_flush(h);
	}
	h2c_fail(h, ECONNRESET, NULL);
	h2c_maybe_free(h);
}

/* A stream's upconn is never pooled: its timer never fires. */
static void
upconn_timer_nop(struct ev_timer *t)
{
	(void)t;
}

/*
 * A stream for client c's exchange to server s, on a connection with
 * room for one more, or a new one.  Returns its upconn (io.fd -1), or
 * NULL with errno.
 */
struct upconn *
up_h2_get(struct server_rt *s, const struct client *c)
{
	struct up_h2	*h;
	struct up_h2s	*st;
	struct upconn	*u;
	uint32_t	 max;

	(void)c;
	if (upslot_sync(s) == -1)
		return NULL;
	for (h = s->h2; h != NULL; h = h->next) {
		if (h->dead || h->goaway || !nghttp2_session_check_request_allowed(h->ss))
			continue;
		max = nghttp2_session_get_remote_settings(h->ss,
		    NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS);
		if (h->nstreams < max)
			break;
	}
	if (h == NULL && (h = h2c_new(s)) == NULL)
		return NULL;
	if ((st = calloc(1, sizeof(*st))) == NULL) {
		errno = ENOMEM;
		h2c_idle(h);
		h2c_maybe_free(h);
		return NULL;
	}
	if ((u = free_upconns) != NULL)
		free_upconns = u->next;
	else if ((u = malloc(sizeof(*u))) == NULL) {
		free(st);
		errno = ENOMEM;
		h2c_idle(h);
		h2c_maybe_free(h);
		return NULL;
	}
	memset(u, 0, sizeof(*u));
	u->io.fd = -1;
	ev_timer_init(&u->timer, upconn_timer_nop);	/* never set */
	u->srv = s;
	u->gen = s->gen;
	u->h2s = st;
	u->reused = h->ready;
	u->connected = 0;
	u->wr_ready = h->ready;
	st->h = h;
	st->u = u;
	st->next = h->streams;
	if (h->streams != NULL)
		h->streams->prev = st;
	h->streams = st;
	h->nstreams++;
	ev_timer_cancel(&h->timer);
	return u;
}

/*
 * The exchange is done with its stream: reset it if it is still open,
 * free it, and pool or close the connection.  The upconn goes on the
 * dead list as upconn_close's do.
 */
void
up_h2_close(struct upconn *u)
{
	struct up_h2s	*s = u->h2s;
	struct up_h2	*h = s->h;

	if (!h->dead && s->unconsumed > 0) {
		if (s->closed || s->id <= 0)
			nghttp2_session_consume_connection(h->ss, s->unconsumed);
		else
			nghttp2_session_consume(h->ss, s->id, s->unconsumed);
	}
	if (!h->dead && s->id > 0 && !s->closed) {
		nghttp2_session_set_stream_user_data(h->ss, s->id, NULL);
		nghttp2_submit_rst_stream(h->ss, NGHTTP2_FLAG_NONE, s->id,
		    NGHTTP2_CANCEL);
	} else if (!h->dead && s->id > 0)
		nghttp2_session_set_stream_user_data(h->ss, s->id, NULL);
	if (s->prev != NULL)
		s->prev->next = s->next;
	else
		h->streams = s->next;
	if (s->next != NULL)
		s->next->prev = s->prev;
	h->nstreams--;
	buf_put(s->hd);
	buf_put(s->tx);
	free(s->rf);
	free(s->rx);
	free(s->tr);
	free(s->qt);
	free(s);
	u->h2s = NULL;
	u->owner = NULL;
	u->srv = NULL;
	u->next = dead_upconns;
	dead_upconns = u;
	if (!h->dead) {
		h->in_cb++;
		(void)uh2_flush(h);
		h->in_cb--;
	}
	if (h->nstreams == 0 && h->in_cb == 0)
		h2c_idle(h);
	h2c_maybe_free(h);
}

/* The worker ends: close server s's HTTP/2 connections. */
void
up_h2_server_fini(struct server_rt *s)
{
	struct up_h2	*h;

	while ((h = s->h2) != NULL) {
		h2c_fail(h, ECONNRESET, NULL);	/* unlinks it */
		h2c_maybe_free(h);
	}
}

/* The worker ends: what the module keeps. */
void
up_h2_fini(void)
{
	if (callbacks != NULL)
		nghttp2_session_callbacks_del(callbacks);
	callbacks = NULL;
	uh2_msg_fini();
}
