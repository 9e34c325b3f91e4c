/*
 * h2.c: an HTTP/2 connection (worker/h2.h): the nghttp2 server session
 * over the client's socket (plain or TLS, through cl_read/cl_writev),
 * its step in the connection's loop (read, run the streams' exchanges
 * that have something to do, write), its timer, graceful stop (GOAWAY,
 * open streams finish), and the limits against the known attacks:
 *
 *  - rapid reset (CVE-2023-44487): a client's RST_STREAM for a stream
 *    portico is working on cancels that work (the carrier closes, its
 *    upstream connection with it) and costs a token of a bucket of
 *    http2_max_resets that refills by a tenth of that a second; an empty
 *    bucket ends the connection with GOAWAY ENHANCE_YOUR_CALM;
 *  - SETTINGS, PING, PRIORITY and empty DATA frames take from a bucket
 *    of http2_max_control_frames the same way;
 *  - more than H2_MAX_CONTINUATIONS CONTINUATION frames in one header
 *    block, or a header list over http2_max_header_list_size (an HPACK
 *    bomb decodes into one), end it with ENHANCE_YOUR_CALM too;
 *  - http2_max_concurrent_streams is announced, and a stream beyond it
 *    is refused (REFUSED_STREAM, by nghttp2);
 *  - a reader that does not read: each stream's answer waits at most
 *    send_timeout for room (then the stream is reset), the connection's
 *    output too (then it closes).
 * Every violation is logged at info with the GOAWAY's error code.
 */
#include "config.h"

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <nghttp2/nghttp2.h>

#include "common/log.h"
#include "common/shm.h"
#include "worker/event.h"
#include "worker/h2.h"
#include "worker/proxy_int.h"
#include "worker/tls.h"
#include "worker/worker.h"

static const char	 preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

static nghttp2_session_callbacks	*callbacks;

#define H2_STEP_TURNS	64	/* read/run/write rounds before yielding */

/* Run the connection's step on the next loop turn. */
void
h2_kick(struct h2_conn *h)
{
	if (h->kick || h->closing)
		return;
	h->kick = 1;
	ev_timer_set(&h->c->timer, ev_now);
}

/*
 * One more event of a kind a client is limited in (a bucket of max
 * tokens that refills by max/10 a second).  Returns 0, or -1 when the
 * bucket is empty: the connection is abusive.
 */
static int
bucket_take(double *level, uint64_t *last, int max)
{
	double	 drain = (double)(ev_now - *last) * max / 10000.0;

	*last = ev_now;
	*level = *level > drain ? *level - drain : 0;
	*level += 1;
	return *level > max ? -1 : 0;
}

/* A violation: the connection ends with GOAWAY code (h2_step). */
static int
h2_abuse(struct h2_conn *h, uint32_t code, const char *why)
{
	if (h->bad == 0) {
		h->bad = code;
		h->why = why;
	}
	return NGHTTP2_ERR_CALLBACK_FAILURE;
}

static int
on_begin_frame(nghttp2_session *ss, const nghttp2_frame_hd *hd, void *arg)
{
	struct h2_conn	*h = arg;
	int		 ctl = 0;

	(void)ss;
	switch (hd->type) {
	case NGHTTP2_HEADERS:
		h->conts = 0;
		break;
	case NGHTTP2_CONTINUATION:
		if (++h->conts > H2_MAX_CONTINUATIONS)
			return h2_abuse(h, NGHTTP2_ENHANCE_YOUR_CALM,
			    "CONTINUATION flood");
		break;
	case NGHTTP2_PING:
	case NGHTTP2_SETTINGS:
		ctl = (hd->flags & NGHTTP2_FLAG_ACK) == 0;
		break;
	case NGHTTP2_PRIORITY:
		ctl = 1;
		break;
	case NGHTTP2_DATA:
		ctl = hd->length == 0 && (hd->flags & NGHTTP2_FLAG_END_STREAM) == 0;
		break;
	default:
		break;
	}
	if (ctl && bucket_take(&h->ctl, &h->ctl_t,
	    conf->g.http2_max_control_frames) == -1)
		return h2_abuse(h, NGHTTP2_ENHANCE_YOUR_CALM,
		    "control frame flood (http2_max_control_frames)");
	return 0;
}

static int
on_begin_headers(nghttp2_session *ss, const nghttp2_frame *f, void *arg)
{
	struct h2_conn		*h = arg;
	struct h2_stream	*s;

	if (f->hd.type != NGHTTP2_HEADERS ||
	    f->headers.cat != NGHTTP2_HCAT_REQUEST)
		return 0;
	if ((s = h2_stream_new(h, f->hd.stream_id)) == NULL)
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	nghttp2_session_set_stream_user_data(ss, f->hd.stream_id, s);
	return 0;
}

static int
on_header(nghttp2_session *ss, const nghttp2_frame *f, const uint8_t *name,
    size_t nlen, const uint8_t *value, size_t vlen, uint8_t flags, void *arg)
{
	struct h2_conn		*h = arg;
	struct h2_stream	*s;

	(void)flags;
	if (f->hd.type != NGHTTP2_HEADERS ||
	    (s = nghttp2_session_get_stream_user_data(ss, f->hd.stream_id)) == NULL)
		return 0;
	s->list += nlen + vlen + 32;
	if (s->list > conf->g.http2_max_header_list_size)
		return h2_abuse(h, NGHTTP2_ENHANCE_YOUR_CALM,
		    "header list over http2_max_header_list_size");
	if (f->headers.cat != NGHTTP2_HCAT_REQUEST)
		return 0;	/* trailers: dropped */
	return h2_stream_field(s, name, nlen, value, vlen);
}

static int
on_frame_recv(nghttp2_session *ss, const nghttp2_frame *f, void *arg)
{
	struct h2_conn		*h = arg;
	struct h2_stream	*s;

	if (f->hd.stream_id == 0)
		return 0;
	s = nghttp2_session_get_stream_user_data(ss, f->hd.stream_id);
	if (s == NULL)
		return 0;
	switch (f->hd.type) {
	case NGHTTP2_HEADERS:
		if (f->hd.flags & NGHTTP2_FLAG_END_STREAM)
			s->in_eof = 1;
		if (f->headers.cat == NGHTTP2_HCAT_REQUEST) {
			if (h->bad)
				return 0;
			if (h2_stream_ready(s) == -1)
				nghttp2_submit_rst_stream(ss, NGHTTP2_FLAG_NONE,
				    s->id, NGHTTP2_REFUSED_STREAM);
		} else
			h2_stream_wake(s, 1, 0);
		break;
	case NGHTTP2_DATA:
		if (f->hd.flags & NGHTTP2_FLAG_END_STREAM) {
			s->in_eof = 1;
			h2_stream_wake(s, 1, 0);
		}
		break;
	case NGHTTP2_RST_STREAM:
		s->reset = 1;
		if (s->carrier != NULL && !s->done &&
		    bucket_take(&h->resets, &h->resets_t,
		    conf->g.http2_max_resets) == -1)
			return h2_abuse(h, NGHTTP2_ENHANCE_YOUR_CALM,
			    "rapid reset (http2_max_resets)");
		break;
	default:
		break;
	}
	return 0;
}

static int
on_data(nghttp2_session *ss, uint8_t flags, int32_t id, const uint8_t *p,
    size_t n, void *arg)
{
	struct h2_stream	*s;

	(void)flags;
	(void)arg;
	s = nghttp2_session_get_stream_user_data(ss, id);
	if (s == NULL || h2_stream_data(s, p, n) == -1)
		nghttp2_session_consume(ss, id, n);	/* nobody takes it */
	return 0;
}

static int
on_stream_close(nghttp2_session *ss, int32_t id, uint32_t code, void *arg)
{
	struct h2_stream	*s;

	(void)arg;
	if ((s = nghttp2_session_get_stream_user_data(ss, id)) == NULL)
		return 0;
	s->closed = 1;
	if (code != NGHTTP2_NO_ERROR)
		s->reset = 1;
	if (s->carrier != NULL)
		client_close(s->carrier);	/* frees s (h2_carrier_closed) */
	else
		h2_stream_free(s);
	return 0;
}

static int
on_frame_send(nghttp2_session *ss, const nghttp2_frame *f, void *arg)
{
	struct h2_conn	*h = arg;

	(void)ss;
	if (f->hd.type == NGHTTP2_GOAWAY &&
	    f->goaway.error_code != NGHTTP2_NO_ERROR)
		log_info("client %s: HTTP/2: %s: GOAWAY %s", client_ip(h->c),
		    h->why != NULL ? h->why : "protocol error",
		    nghttp2_http2_strerror(f->goaway.error_code));
	return 0;
}

static int
callbacks_init(void)
{
	nghttp2_session_callbacks	*cb;

	if (callbacks != NULL)
		return 0;
	if (nghttp2_session_callbacks_new(&cb) != 0)
		return -1;
	nghttp2_session_callbacks_set_on_begin_frame_callback(cb, on_begin_frame);
	nghttp2_session_callbacks_set_on_begin_headers_callback(cb,
	    on_begin_headers);
	nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame_recv);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data);
	nghttp2_session_callbacks_set_on_stream_close_callback(cb,
	    on_stream_close);
	nghttp2_session_callbacks_set_on_frame_send_callback(cb, on_frame_send);
	callbacks = cb;
	return 0;
}

/*
 * The connection speaks HTTP/2 from now on: a session with portico's
 * SETTINGS queued.  Returns 0, or -1 out of memory.
 */
static int
h2_start(struct client *c)
{
	struct h2_conn	*h;
	nghttp2_option	*opt;
	nghttp2_settings_entry	 set[3];
	int		 rc;
	int64_t		 win;

	if (callbacks_init() == -1 || (h = calloc(1, sizeof(*h))) == NULL)
		return -1;
	if (nghttp2_option_new(&opt) != 0) {
		free(h);
		return -1;
	}
	nghttp2_option_set_no_auto_window_update(opt, 1);
	/* portico's own limits act first: these are only a backstop. */
	nghttp2_option_set_max_continuations(opt, 2 * H2_MAX_CONTINUATIONS);
	nghttp2_option_set_stream_reset_rate_limit(opt,
	    2 * (uint64_t)conf->g.http2_max_resets,
	    (uint64_t)conf->g.http2_max_resets);
	rc = nghttp2_session_server_new2(&h->s, callbacks, h, opt);
	nghttp2_option_del(opt);
	if (rc != 0) {
		free(h);
		return -1;
	}
	set[0].settings_id = NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS;
	set[0].value = (uint32_t)conf->g.http2_max_concurrent_streams;
	set[1].settings_id = NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE;
	set[1].value = (uint32_t)bufsize;
	set[2].settings_id = NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE;
	set[2].value = (uint32_t)conf->g.http2_max_header_list_size;
	win = (int64_t)bufsize * conf->g.http2_max_concurrent_streams;
	if (win > NGHTTP2_MAX_WINDOW_SIZE)
		win = NGHTTP2_MAX_WINDOW_SIZE;
	if (nghttp2_submit_settings(h->s, NGHTTP2_FLAG_NONE, set, 3) != 0 ||
	    nghttp2_session_set_local_window_size(h->s, NGHTTP2_FLAG_NONE, 0,
	    (int32_t)win) != 0) {
		nghttp2_session_del(h->s);
		free(h);
		return -1;
	}
	if (!c->nodelay) {
		/* Frames are small and interleaved: Nagle would hold them. */
		int on = 1;

		(void)setsockopt(c->io.fd, IPPROTO_TCP, TCP_NODELAY, &on,
		    sizeof(on));
		c->nodelay = 1;
	}
	h->c = c;
	h->idle_since = ev_now;
	h->ctl_t = h->resets_t = ev_now;
	c->h2 = h;
	c->state = CS_H2;
	c->fixed_deadline = 0;
	if (worker.quitting)
		h2_quit(c);
	return 0;
}

/*
 * CS_HEAD of a new connection on a listener with http2: does it speak
 * HTTP/2?  TLS: ALPN chose h2.  Plain: its first bytes are the preface
 * (looked at without reading them).  Returns 1 when it does (CS_H2
 * now), 0 when it is HTTP/1 (or may be: h1 reads on), 2 to wait for the
 * rest of a preface begun, -1 when closed.
 */
int
h2_detect(struct client *c)
{
	char	 buf[sizeof(preface) - 1];
	ssize_t	 n;
	int	 yes;

	if (c->in_pos < c->in_end)
		return 0;
	if (c->tls != NULL)
		yes = tls_conn_alpn_h2(c->tls);
	else {
		n = recv(c->io.fd, buf, sizeof(buf), MSG_PEEK);
		if (n <= 0)
			return 0;	/* h1's read sees what it is */
		if (memcmp(buf, preface, n) != 0)
			return 0;
		if ((size_t)n < sizeof(buf)) {
			c->rd_ready = 0;
			c->wait = W_HEAD;
			if (c->fixed_deadline == 0)
				c->fixed_deadline = ev_now +
				    conf->g.client_header_timeout_ms;
			return 2;
		}
		yes = 1;
	}
	if (!yes)
		return 0;
	if (h2_start(c) == -1) {
		client_close(c);
		return -1;
	}
	return 1;
}

/*
 * Read what the client sent and feed it to the session.  Returns 1 when
 * bytes came, 0 when none, -1 when the connection is closed.
 */
static int
h2_read(struct h2_conn *h)
{
	struct client	*c = h->c;
	ssize_t		 n, rv;

	if (!c->rd_ready || h->noread || h->pend_n > 0)
		return 0;
	if (c->in == NULL && (c->in = buf_get()) == NULL) {
		client_close(c);
		return -1;
	}
	n = cl_read(c, c->in, bufsize);
	if (n == -1) {
		if (errno == EAGAIN || errno == EINTR) {
			c->rd_ready = 0;
			return 0;
		}
		client_close(c);
		return -1;
	}
	if (n == 0) {
		client_close(c);
		return -1;
	}
	if ((size_t)n < bufsize && !c->rdhup)
		c->rd_ready = 0;
	rv = nghttp2_session_mem_recv(h->s, (const uint8_t *)c->in, (size_t)n);
	if (rv < 0 || h->bad) {
		if (h->bad == 0) {
			h->bad = rv == NGHTTP2_ERR_FLOODED ?
			    NGHTTP2_ENHANCE_YOUR_CALM : NGHTTP2_PROTOCOL_ERROR;
			h->why = nghttp2_strerror((int)rv);
		}
		nghttp2_session_terminate_session(h->s, h->bad);
		h->noread = 1;
	}
	return 1;
}

/* Run the exchanges of the streams that have something to do. */
static void
h2_runs(struct h2_conn *h)
{
	struct h2_stream	*s, *next;

	while (h->runs) {
		h->runs = 0;
		for (s = h->streams; s != NULL; s = next) {
			next = s->next;
			if (s->run && s->carrier != NULL) {
				s->run = 0;
				client_run(s->carrier);
			}
		}
	}
}

/*
 * Write the session's output.  Returns 1 when bytes went out, 0 when
 * none did, -1 when the connection is closed.
 */
static int
h2_write(struct h2_conn *h)
{
	struct client	*c = h->c;
	ssize_t		 n;
	size_t		 k;
	int		 moved = 0;

	for (;;) {
		if (h->wb == NULL && (h->wb = buf_get()) == NULL) {
			client_close(c);
			return -1;
		}
		if (h->wb_pos == h->wb_end)
			h->wb_pos = h->wb_end = 0;
		while (h->wb_end < bufsize) {
			if (h->pend_n == 0) {
				n = nghttp2_session_mem_send(h->s, &h->pend);
				if (n < 0) {
					log_info("client %s: HTTP/2: %s",
					    client_ip(c),
					    nghttp2_strerror((int)n));
					client_close(c);
					return -1;
				}
				if (n == 0)
					break;
				h->pend_n = (size_t)n;
			}
			k = bufsize - h->wb_end < h->pend_n ?
			    bufsize - h->wb_end : h->pend_n;
			memcpy(h->wb + h->wb_end, h->pend, k);
			h->pend += k;
			h->pend_n -= k;
			h->wb_end += k;
		}
		if (h->wb_pos == h->wb_end)
			break;
		if (!c->wr_ready)
			break;
		n = cl_write(c, h->wb + h->wb_pos, h->wb_end - h->wb_pos);
		if (n == -1) {
			if (errno == EAGAIN || errno == EINTR) {
				c->wr_ready = 0;
				break;
			}
			client_close(c);
			return -1;
		}
		if ((size_t)n < h->wb_end - h->wb_pos)
			c->wr_ready = 0;
		h->wb_pos += n;
		moved = 1;
	}
	if (h->wb_pos < h->wb_end || h->pend_n > 0) {
		if (moved || h->wdl == 0)
			h->wdl = ev_now + conf->g.send_timeout_ms;
	} else {
		h->wdl = 0;
		if (h->wb != NULL) {
			buf_put(h->wb);
			h->wb = NULL;
		}
	}
	return moved;
}

/*
 * CS_H2: the connection (read, run the streams, write, until nothing
 * moves), or a stream's carrier about to begin its exchange.
 */
enum step
step_h2(struct client *c)
{
	struct h2_conn	*h = c->h2;
	int		 i, rd, wr;

	if (h == NULL)
		return h2_stream_start(c);
	h->kick = 0;
	for (i = 0; i < H2_STEP_TURNS; i++) {
		if ((rd = h2_read(h)) == -1)
			return STEP_CLOSED;
		h2_runs(h);
		if ((wr = h2_write(h)) == -1)
			return STEP_CLOSED;
		if (!rd && !wr && !h->runs)
			break;
	}
	if (i == H2_STEP_TURNS)
		h->kick = 1;	/* others have a turn first */
	if (h->nstreams > 0)
		h->idle_since = ev_now;
	if (h->wb == NULL && !nghttp2_session_want_read(h->s) &&
	    !nghttp2_session_want_write(h->s)) {
		client_close(c);
		return STEP_CLOSED;
	}
	c->wait = W_H2;
	return STEP_WAIT;
}

/* What the connection waits for (W_H2); its streams have their own timers. */
uint64_t
h2_deadline(const struct client *c)
{
	const struct h2_conn	*h = c->h2;
	uint64_t		 d;

	if (h->kick)
		return ev_now;
	if (h->wb != NULL)
		return h->wdl;
	if (h->nstreams == 0) {
		d = h->idle_since + (uint64_t)conf->g.keepalive_timeout_ms;
		if (worker.quitting && d > quit_grace)
			d = quit_grace;
		return d;
	}
	return ev_now + 3600 * 1000;
}

enum step
h2_timeout(struct client *c)
{
	struct h2_conn	*h = c->h2;

	if (h->kick)
		return STEP_NEXT;
	if (h->wb != NULL && h->wdl != 0 && ev_now >= h->wdl) {
		log_info("client %s: send timed out", client_ip(c));
		client_close(c);
		return STEP_CLOSED;
	}
	if (h->nstreams == 0 && ev_now >= h2_deadline(c)) {
		/* Idle: GOAWAY, then the close once it is out. */
		nghttp2_session_terminate_session(h->s, NGHTTP2_NO_ERROR);
		h->noread = 1;
	}
	return STEP_NEXT;
}

/*
 * Graceful stop: GOAWAY (NO_ERROR) names the last stream taken; those
 * finish, newer ones are refused, and the connection closes when the
 * last is done (within shutdown_timeout, the worker's).
 */
void
h2_quit(struct client *c)
{
	struct h2_conn	*h = c->h2;

	(void)nghttp2_submit_goaway(h->s, NGHTTP2_FLAG_NONE,
	    nghttp2_session_get_last_proc_stream_id(h->s), NGHTTP2_NO_ERROR,
	    NULL, 0);
	h2_kick(h);
}

/* The connection closes (client_close): its streams' exchanges end. */
void
h2_conn_closed(struct client *c)
{
	struct h2_conn		*h = c->h2;
	struct h2_stream	*s;

	h->closing = 1;
	while ((s = h->streams) != NULL) {
		if (s->carrier != NULL)
			client_close(s->carrier);
		h2_stream_free(s);
	}
	nghttp2_session_del(h->s);
	buf_put(h->wb);
	free(h);
	c->h2 = NULL;
}
