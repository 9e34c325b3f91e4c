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
 * Every violation is logged at info with the GOAWAY's error code.  The
 * session's callbacks, which turn frames into stream events and enforce
 * these limits, are in h2_frames.c.
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
 * The connection speaks HTTP/2 from now on: a session with portico's
 * SETTINGS queued.  Returns 0, or -1 out of memory.
 */
static int
h2_start(struct client *c)
{
	struct h2_conn	*h;

	if ((h = calloc(1, sizeof(*h))) == NULL)
		return -1;
	h->lim.max_resets = conf->g.http2_max_resets;
	h->lim.max_control_frames = conf->g.http2_max_control_frames;
	h->lim.max_header_list_size = conf->g.http2_max_header_list_size;
	h->lim.max_concurrent_streams = conf->g.http2_max_concurrent_streams;
	h->lim.window = (uint32_t)bufsize;
	(void)snprintf(h->ip, sizeof(h->ip), "%s", client_ip(c));
	if (h2_session_new(h) == -1) {
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
		if (n == 0 || (n == -1 && errno != EAGAIN && errno != EINTR))
			return 0;	/* h1's read sees what it is */
		/*
		 * Nothing yet: wait here, not in h1's read, which would take
		 * a preface arriving just after this look as HTTP/1 (505).
		 */
		if (n > 0 && memcmp(buf, preface, n) != 0)
			return 0;
		if (n == -1 || (size_t)n < sizeof(buf)) {
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
	ssize_t		 n;

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
	h2_frames_recv(h, (const uint8_t *)c->in, (size_t)n);
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
