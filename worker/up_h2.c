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
 * stream turns what the exchange writes (its HTTP/1.1 head, then the
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

#include <nghttp2/nghttp2.h>

#include "common/http.h"
#include "common/log.h"
#include "common/net.h"
#include "worker/proxy_int.h"
#include "worker/upslot.h"

#define UH2_WINDOW	(256 << 10)	/* a stream's receive window */
#define UH2_CONN_WINDOW	(16 << 20)	/* the connection's */
#define UH2_READ	16384		/* bytes per read from the socket */

struct up_h2 {
	struct ev_io		 io;
	struct ev_timer		 timer;		/* idle lifetime in the pool */
	struct ev_timer		 kick;		/* wake exchanges on the next turn */
	struct server_rt	*srv;
	nghttp2_session		*ss;		/* NULL once dead */
	struct tls_conn		*tls;
	struct up_h2		*next, *prev;	/* the server's connections */
	struct up_h2s		*streams;
	uint32_t		 nstreams;
	unsigned		 tcp:1;		/* the socket is connected */
	unsigned		 ready:1;	/* the server's SETTINGS came */
	unsigned		 goaway:1;	/* no new streams */
	unsigned		 dead:1;	/* failed or closed: streams fail */
	unsigned		 rd_ready:1, wr_ready:1;
	int			 in_cb;
	int			 err;		/* errno of a failure */
	uint32_t		 gen;		/* DNS slot: of the address */
	const uint8_t		*pend;		/* nghttp2's output not written */
	size_t			 pend_len;
};

struct up_h2s {
	struct up_h2		*h;
	struct upconn		*u;		/* the exchange's */
	struct up_h2s		*next, *prev;
	int32_t			 id;		/* 0 until submitted */
	unsigned		 wake:1;
	unsigned		 head_done:1;	/* HEADERS submitted */
	unsigned		 has_body:1;	/* ... with a data source */
	unsigned		 chunked:1;	/* the exchange writes chunks */
	unsigned		 body_eof:1;	/* all of the body is in tx */
	unsigned		 deferred:1;	/* the data source waits for tx */
	unsigned		 sent:1;	/* HEADERS went out */
	unsigned		 r_head:1;	/* the final response head came */
	unsigned		 r_cl:1;	/* ... with a content-length */
	unsigned		 r_end:1;	/* END_STREAM came */
	unsigned		 closed:1;	/* nghttp2 closed the stream */
	unsigned		 failed:1;	/* reset, or the connection went */
	unsigned		 refused:1;	/* ... the server did not process it */
	int			 status;
	int64_t			 cl_left;	/* plain request body bytes left */
	struct http_chunked	 ck;
	char			*hd;		/* the request head, as it comes */
	uint32_t		 hd_len;
	char			*tx;		/* request body bytes for DATA */
	uint32_t		 tx_pos, tx_end;
	char			*rf;		/* response fields or trailers */
	size_t			 rf_len, rf_cap;
	char			*rx;		/* the answer as HTTP/1.1 */
	size_t			 rx_pos, rx_end, rx_cap;
	size_t			 unconsumed;	/* DATA bytes not yet read */
	char			*tr;		/* trailer field lines, for h2 */
	size_t			 tr_len;
};

static nghttp2_session_callbacks	*callbacks;
static struct http_header		*rqh;	/* a forwarded head's fields */
static nghttp2_nv			*nv;
static size_t				 nvmax;

static void	 h2c_cb(struct ev_io *io, uint32_t events);
static void	 h2c_timer_cb(struct ev_timer *t);
static void	 h2c_kick_cb(struct ev_timer *t);
static void	 h2c_fail(struct up_h2 *h, int err, const char *why);
static int	 h2c_flush(struct up_h2 *h);

/* The exchange of s may go on (its client runs soon). */
static void
s_wake(struct up_h2s *s, int rd, int wr)
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

static ssize_t
rx_room(struct up_h2s *s, size_t need)
{
	size_t	 cap;
	char	*p;

	if (s->rx_pos == s->rx_end)
		s->rx_pos = s->rx_end = 0;
	if (s->rx_cap - s->rx_end >= need)
		return 0;
	if (s->rx_pos > 0) {
		memmove(s->rx, s->rx + s->rx_pos, s->rx_end - s->rx_pos);
		s->rx_end -= s->rx_pos;
		s->rx_pos = 0;
		if (s->rx_cap - s->rx_end >= need)
			return 0;
	}
	cap = s->rx_cap ? s->rx_cap : 16384;
	while (cap - s->rx_end < need)
		cap *= 2;
	if ((p = realloc(s->rx, cap)) == NULL)
		return -1;
	s->rx = p;
	s->rx_cap = cap;
	return 0;
}

/* Put n bytes on the answer the exchange reads.  -1: no memory. */
static int
rx_put(struct up_h2s *s, const void *p, size_t n)
{
	if (rx_room(s, n) == -1)
		return -1;
	memcpy(s->rx + s->rx_end, p, n);
	s->rx_end += n;
	return 0;
}

/* Add "name: value\r\n" to the fields being collected. */
static int
rf_add(struct up_h2s *s, const uint8_t *n, size_t nl, const uint8_t *v,
    size_t vl)
{
	size_t	 need = nl + vl + 4, cap;
	char	*p;

	if (s->rf_len + need > bufsize)
		return -1;
	if (s->rf_cap - s->rf_len < need) {
		cap = s->rf_cap ? s->rf_cap * 2 : 1024;
		while (cap - s->rf_len < need)
			cap *= 2;
		if ((p = realloc(s->rf, cap)) == NULL)
			return -1;
		s->rf = p;
		s->rf_cap = cap;
	}
	memcpy(s->rf + s->rf_len, n, nl);
	memcpy(s->rf + s->rf_len + nl, ": ", 2);
	memcpy(s->rf + s->rf_len + nl + 2, v, vl);
	memcpy(s->rf + s->rf_len + nl + 2 + vl, "\r\n", 2);
	s->rf_len += need;
	return 0;
}

static int
on_header(nghttp2_session *ss, const nghttp2_frame *f, const uint8_t *name,
    size_t nl, const uint8_t *value, size_t vl, uint8_t flags, void *arg)
{
	struct up_h2s	*s;
	int		 st;

	(void)flags;
	(void)arg;
	if (f->hd.type != NGHTTP2_HEADERS ||
	    (s = nghttp2_session_get_stream_user_data(ss, f->hd.stream_id)) == NULL)
		return 0;
	if (nl == 7 && memcmp(name, ":status", 7) == 0) {
		if (vl != 3 || (st = atoi((const char *)value)) < 100 || st > 599)
			return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
		s->status = st;
		return 0;
	}
	if (nl > 0 && name[0] == ':')
		return 0;
	if (nl == 14 && memcmp(name, "content-length", 14) == 0 && !s->r_head)
		s->r_cl = 1;
	if (rf_add(s, name, nl, value, vl) == -1)
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	return 0;
}

/* A response head is whole: write it as HTTP/1.1 for the exchange. */
static int
head_done(struct up_h2s *s, int end)
{
	char		 line[64];
	int		 n;
	const char	*reason = http_status_reason(s->status);

	n = snprintf(line, sizeof(line), "HTTP/1.1 %d %s\r\n", s->status,
	    reason != NULL && *reason != '\0' ? reason : "Unknown");
	if (rx_put(s, line, (size_t)n) == -1 || rx_put(s, s->rf, s->rf_len) == -1)
		return -1;
	s->rf_len = 0;
	if (s->status < 200)
		return rx_put(s, "\r\n", 2);
	s->r_head = 1;
	if (s->r_cl || (end && (s->status == 204 || s->status == 304 ||
	    (s->u != NULL && s->u->owner != NULL && s->u->owner->r != NULL &&
	    s->u->owner->r->method == HTTP_M_HEAD))))
		return rx_put(s, "\r\n", 2);	/* no body comes */
	if (end) {
		/*
		 * A head alone (gRPC's trailers-only answer): with a length
		 * of 0 an HTTP/2 client gets it as one HEADERS frame with
		 * END_STREAM again, where gRPC looks for its status.
		 */
		s->r_cl = 1;
		return rx_put(s, "Content-Length: 0\r\n\r\n", 21);
	}
	return rx_put(s, "Transfer-Encoding: chunked\r\n\r\n", 30);
}

/* The server's trailer fields came (END_STREAM): the last chunk. */
static int
trailers_done(struct up_h2s *s)
{
	if (!s->r_cl) {
		if (rx_put(s, "0\r\n", 3) == -1 ||
		    rx_put(s, s->rf, s->rf_len) == -1 || rx_put(s, "\r\n", 2) == -1)
			return -1;
	}
	free(s->tr);
	if ((s->tr = malloc(s->rf_len + 1)) == NULL)
		return -1;
	memcpy(s->tr, s->rf, s->rf_len);
	s->tr_len = s->rf_len;
	s->rf_len = 0;
	return 0;
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
			s_wake(s, 0, 1);
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
			rc = head_done(s, end);
		else if (end)
			rc = trailers_done(s);
	} else if (end && !s->r_cl)
		rc = rx_put(s, "0\r\n\r\n", 5);
	if (end)
		s->r_end = 1;
	if (rc == -1) {
		nghttp2_submit_rst_stream(ss, NGHTTP2_FLAG_NONE, s->id,
		    NGHTTP2_INTERNAL_ERROR);
		s->failed = 1;
	}
	s_wake(s, 1, 0);
	return 0;
}

static int
on_data(nghttp2_session *ss, uint8_t flags, int32_t id, const uint8_t *p,
    size_t n, void *arg)
{
	struct up_h2s	*s;
	char		 hex[24];
	int		 hl;

	(void)flags;
	(void)arg;
	if ((s = nghttp2_session_get_stream_user_data(ss, id)) == NULL ||
	    !s->r_head) {
		nghttp2_session_consume(ss, id, n);
		return 0;
	}
	if (!s->r_cl) {
		hl = snprintf(hex, sizeof(hex), "%zx\r\n", n);
		if (rx_put(s, hex, (size_t)hl) == -1 || rx_put(s, p, n) == -1 ||
		    rx_put(s, "\r\n", 2) == -1)
			return NGHTTP2_ERR_CALLBACK_FAILURE;
	} else if (rx_put(s, p, n) == -1)
		return NGHTTP2_ERR_CALLBACK_FAILURE;
	s->unconsumed += n;
	s_wake(s, 1, 0);
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
	s_wake(s, 1, 1);
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
	nghttp2_session_callbacks_set_on_header_callback(callbacks, on_header);
	nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks,
	    on_frame_recv);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks,
	    on_data);
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
		s_wake(s, 1, 1);
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
static int
h2c_flush(struct up_h2 *h)
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

/* Pool the connection when it carries nothing, or close it. */
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
			(void)h2c_flush(h);
		}
		h2c_fail(h, ECONNRESET, NULL);
		h2c_maybe_free(h);
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
	if (!h->dead && h->tcp && h2c_input(h) == 0 && h2c_flush(h) == 0 &&
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
		(void)h2c_flush(h);
	}
	h2c_fail(h, ECONNRESET, NULL);
	h2c_maybe_free(h);
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
		return NULL;
	}
	if ((u = free_upconns) != NULL)
		free_upconns = u->next;
	else if ((u = malloc(sizeof(*u))) == NULL) {
		free(st);
		errno = ENOMEM;
		h2c_idle(h);
		return NULL;
	}
	memset(u, 0, sizeof(*u));
	u->io.fd = -1;
	ev_timer_init(&u->timer, h2c_timer_cb);	/* never set */
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

/* Whether the client asked for trailers (te: trailers, h2 only). */
static int
wants_trailers(const struct client *c)
{
	const struct http_request	*rq;
	size_t				 i;

	if (c == NULL || c->r == NULL)
		return 0;
	rq = &c->r->rq;
	for (i = 0; i < rq->nheaders; i++)
		if (http_name_eq(&rq->headers[i], "te") &&
		    memmem(rq->headers[i].value, rq->headers[i].value_len,
		    "trailers", 8) != NULL)
			return 1;
	return 0;
}

static int
nv_add(size_t *k, const char *n, size_t nl, const char *v, size_t vl)
{
	if (*k >= nvmax)
		return -1;
	nv[*k].name = (uint8_t *)n;
	nv[*k].namelen = nl;
	nv[*k].value = (uint8_t *)v;
	nv[*k].valuelen = vl;
	nv[*k].flags = NGHTTP2_NV_FLAG_NONE;
	(*k)++;
	return 0;
}

/* Fields HTTP/2 does not carry (RFC 9113 8.2.2); Host is :authority. */
static int
h2_drop(const struct http_header *f)
{
	static const char *const drop[] = { "connection", "keep-alive",
	    "proxy-connection", "transfer-encoding", "upgrade", "te", "host" };
	size_t	 i;

	for (i = 0; i < sizeof(drop) / sizeof(drop[0]); i++)
		if (http_name_eq(f, drop[i]))
			return 1;
	return 0;
}

static ssize_t
up_source(nghttp2_session *ss, int32_t id, uint8_t *buf, size_t len,
    uint32_t *flags, nghttp2_data_source *src, void *arg)
{
	struct up_h2s	*s = src->ptr;
	size_t		 n = s->tx_end - s->tx_pos;

	(void)ss;
	(void)id;
	(void)arg;
	if (n > len)
		n = len;
	if (n > 0) {
		memcpy(buf, s->tx + s->tx_pos, n);
		s->tx_pos += n;
		if (s->u != NULL && !s->u->wr_ready)
			s_wake(s, 0, 1);
	}
	if (s->tx_pos == s->tx_end) {
		s->tx_pos = s->tx_end = 0;
		if (s->body_eof)
			*flags |= NGHTTP2_DATA_FLAG_EOF;
		else if (n == 0) {
			s->deferred = 1;
			return NGHTTP2_ERR_DEFERRED;
		}
	}
	return (ssize_t)n;
}

/* The request head is whole in s->hd: submit it as HEADERS.  -1: bad. */
static int
head_submit(struct up_h2s *s)
{
	struct http_limits		 lim;
	struct http_request		 rq;
	nghttp2_data_provider		 prd;
	size_t				 i, k = 0, j;
	int32_t				 id;
	const char			*scheme;

	if (rqh == NULL) {
		nvmax = fwd_limits.max_headers + 8;
		rqh = calloc(fwd_limits.max_headers, sizeof(*rqh));
		nv = calloc(nvmax, sizeof(*nv));
		if (rqh == NULL || nv == NULL) {
			free(rqh);
			free(nv);
			rqh = NULL;
			nv = NULL;
			return -1;
		}
	}
	lim = fwd_limits;
	memset(&rq, 0, sizeof(rq));
	if (http_parse_request(s->hd, s->hd_len, &lim, &rq, rqh) != HTTP_PARSE_OK)
		return -1;
	scheme = s->h->tls != NULL ? "https" : "http";
	if (nv_add(&k, ":method", 7, rq.method_str, rq.method_len) == -1 ||
	    nv_add(&k, ":scheme", 7, scheme, strlen(scheme)) == -1 ||
	    nv_add(&k, ":authority", 10, rq.host, rq.host_len) == -1 ||
	    nv_add(&k, ":path", 5, rq.target, rq.target_len) == -1)
		return -1;
	for (i = 0; i < rq.nheaders; i++) {
		if (h2_drop(&rqh[i]))
			continue;
		for (j = 0; j < rqh[i].name_len; j++)
			((char *)rqh[i].name)[j] =
			    (char)http_lower((unsigned char)rqh[i].name[j]);
		if (nv_add(&k, rqh[i].name, rqh[i].name_len, rqh[i].value,
		    rqh[i].value_len) == -1)
			return -1;
	}
	if (wants_trailers(s->u->owner) && nv_add(&k, "te", 2, "trailers", 8) == -1)
		return -1;
	s->chunked = rq.chunked;
	s->cl_left = rq.content_length > 0 ? rq.content_length : 0;
	s->has_body = s->chunked || s->cl_left > 0;
	if (s->chunked)
		http_chunked_init(&s->ck);
	if (!s->has_body)
		s->body_eof = 1;
	prd.source.ptr = s;
	prd.read_callback = up_source;
	id = nghttp2_submit_request(s->h->ss, NULL, nv, k,
	    s->has_body ? &prd : NULL, s);
	if (id < 0)
		return -1;
	s->id = id;
	s->head_done = 1;
	buf_put(s->hd);
	s->hd = NULL;
	return 0;
}

/* Take head bytes until the blank line.  Bytes taken, or -1. */
static ssize_t
head_take(struct up_h2s *s, const char *p, size_t n)
{
	size_t	 from, k;
	char	*e;

	if (s->hd == NULL && (s->hd = buf_get()) == NULL)
		return -1;
	from = s->hd_len > 3 ? s->hd_len - 3 : 0;
	k = bufsize - s->hd_len < n ? bufsize - s->hd_len : n;
	if (k == 0)
		return -1;
	memcpy(s->hd + s->hd_len, p, k);
	e = memmem(s->hd + from, s->hd_len + k - from, "\r\n\r\n", 4);
	if (e == NULL) {
		s->hd_len += (uint32_t)k;
		return (ssize_t)k;
	}
	k = (size_t)(e + 4 - s->hd) - s->hd_len;
	s->hd_len += (uint32_t)k;
	if (head_submit(s) == -1)
		return -1;
	return (ssize_t)k;
}

/* Take body bytes (decoding chunks) into tx, as far as it has room. */
static ssize_t
body_take(struct up_h2s *s, const char *p, size_t n)
{
	size_t	 room, off, dlen;
	ssize_t	 used;

	if (s->body_eof)
		return (ssize_t)n;	/* nothing more is a body: dropped */
	if (s->tx == NULL && (s->tx = buf_get()) == NULL)
		return -1;
	if (s->tx_pos > 0) {
		memmove(s->tx, s->tx + s->tx_pos, s->tx_end - s->tx_pos);
		s->tx_end -= s->tx_pos;
		s->tx_pos = 0;
	}
	room = bufsize - s->tx_end;
	if (n > room)
		n = room;
	if (n == 0)
		return 0;
	if (!s->chunked) {
		if ((int64_t)n > s->cl_left)
			n = (size_t)s->cl_left;
		memcpy(s->tx + s->tx_end, p, n);
		s->tx_end += (uint32_t)n;
		s->cl_left -= (int64_t)n;
		if (s->cl_left == 0)
			s->body_eof = 1;
		return (ssize_t)n;
	}
	used = http_chunked_parse(&s->ck, p, n, &off, &dlen);
	if (used < 0)
		return -1;
	memcpy(s->tx + s->tx_end, p + off, dlen);
	s->tx_end += (uint32_t)dlen;
	if (s->ck.done)
		s->body_eof = 1;
	return used;
}

/*
 * up_writev() of a stream: the exchange's HTTP/1.1 request, as HEADERS
 * and DATA.  Bytes taken, or -1 with errno (EAGAIN: no room, or the
 * connection is not up yet).
 */
ssize_t
up_h2_writev(struct upconn *u, const struct iovec *iov, int niov)
{
	struct up_h2s	*s = u->h2s;
	struct up_h2	*h = s->h;
	size_t		 total = 0, n;
	ssize_t		 k;
	const char	*p;
	int		 i;

	if (h->dead || s->failed || s->closed) {
		errno = h->dead && !h->ready && h->err != 0 ? h->err :
		    s->closed || s->failed ? EPIPE : ECONNRESET;
		return -1;
	}
	if (!h->ready) {
		if (!h->tcp || h->tls != NULL)
			(void)h2c_flush(h);	/* the preface (TLS: the handshake) */
		errno = EAGAIN;
		return -1;
	}
	for (i = 0; i < niov; i++) {
		p = iov[i].iov_base;
		n = iov[i].iov_len;
		while (n > 0) {
			k = s->head_done ? body_take(s, p, n) : head_take(s, p, n);
			if (k == -1) {
				nghttp2_submit_rst_stream(h->ss, NGHTTP2_FLAG_NONE,
				    s->id, NGHTTP2_INTERNAL_ERROR);
				errno = EPROTO;
				return -1;
			}
			if (k == 0)
				goto full;
			p += k;
			n -= (size_t)k;
			total += (size_t)k;
		}
	}
full:
	if (s->deferred && (s->tx_end > s->tx_pos || s->body_eof)) {
		s->deferred = 0;
		nghttp2_session_resume_data(h->ss, s->id);
	}
	h->in_cb++;
	(void)h2c_flush(h);
	h->in_cb--;
	if (total == 0) {
		errno = EAGAIN;
		return -1;
	}
	return (ssize_t)total;
}

/*
 * up_read() of a stream: the answer as HTTP/1.1.  Bytes, 0 at a clean
 * end, or -1 with errno (EAGAIN: nothing yet).
 */
ssize_t
up_h2_read(struct upconn *u, void *buf, size_t len)
{
	struct up_h2s	*s = u->h2s;
	struct up_h2	*h = s->h;
	size_t		 n = s->rx_end - s->rx_pos, c;

	if (n > 0) {
		if (n > len)
			n = len;
		memcpy(buf, s->rx + s->rx_pos, n);
		s->rx_pos += n;
		c = s->rx_pos == s->rx_end || n > s->unconsumed ? s->unconsumed : n;
		if (c > 0 && !h->dead) {
			if (s->closed)
				nghttp2_session_consume_connection(h->ss, c);
			else
				nghttp2_session_consume(h->ss, s->id, c);
			h->in_cb++;
			(void)h2c_flush(h);
			h->in_cb--;
		}
		s->unconsumed -= c;
		return (ssize_t)n;
	}
	if (s->failed || (h->dead && !s->r_end)) {
		errno = ECONNRESET;
		return -1;
	}
	if (s->r_end)
		return 0;
	errno = EAGAIN;
	return -1;
}

/* The server never processed the stream: safe to send again anywhere. */
int
up_h2_unsent(const struct upconn *u)
{
	return u->h2s != NULL && u->h2s->failed && u->h2s->refused;
}

/* The answer's trailer fields (field lines), or NULL. */
const char *
up_h2_trailers(const struct upconn *u, size_t *len)
{
	if (u->h2s == NULL || u->h2s->tr == NULL || u->h2s->failed)
		return NULL;
	*len = u->h2s->tr_len;
	return u->h2s->tr;
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
	free(s);
	u->h2s = NULL;
	u->owner = NULL;
	u->srv = NULL;
	u->next = dead_upconns;
	dead_upconns = u;
	if (!h->dead) {
		h->in_cb++;
		(void)h2c_flush(h);
		h->in_cb--;
	}
	if (h->nstreams == 0 && h->in_cb == 0)
		h2c_idle(h);
	h2c_maybe_free(h);
}
