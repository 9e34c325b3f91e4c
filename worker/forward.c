/*
 * forward.c: streaming an exchange both ways: the request body, as the
 * front end decodes it (buffered or not), to the backend in HTTP/1.1
 * framing; the response head and body from the backend, handed to the
 * front end (r->fe->send).  The client side's framing is the front
 * end's (h1.c); the backend side's is here and in headers.c.
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
#include "worker/proxy.h"
#include "worker/proxy_int.h"
#include "worker/splice.h"
#include "worker/tls.h"
#include "worker/uri.h"
#include "worker/waf.h"
#include "worker/worker.h"

/*
 * Reads of an upstream answer before its head is parsed take at most
 * this much: the head and a small body come in one read as before, and
 * the rest of a large body stays in the socket for splice.c instead of
 * being copied through the worker (64 KiB answers: about a fifth less
 * worker CPU per request).
 */
#define HEAD_READ_MAX	(8 * 1024)

/*
 * request_buffering: read the whole body before an upstream server is
 * picked, so that a slow client holds no server.  Interim 100 Continue
 * comes from portico, as the body is wanted whatever the server says.
 */
enum step
body_begin(struct client *c)
{
	struct req	*r = c->r;

	if (r->body_start >= bufsize)
		return local_answer(c, 431, 1);	/* no room left after the head */
	r->buffered = 1;
	if (r->rq.expect_continue && r->fe->want_body(c) == -1)
		return STEP_CLOSED;
	c->state = CS_BODY;
	return step_body(c);
}

/*
 * Read the request body into r->body, as the front end decodes it (its
 * bytes pass the front end's buffer after the head, which stays where
 * it is); at the end the front end keeps what followed the body.
 */
enum step
step_body(struct client *c)
{
	struct req		*r = c->r;
	const char		*p;
	size_t			 n;
	int			 st;

	for (;;) {
		for (;;) {
			if ((st = r->fe->body_next(c, SIZE_MAX, &p, &n)) != 0)
				return local_answer(c, st, 1);
			if (n == 0)
				break;
			if (bodybuf_append(&r->body, conf->g.client_body_temp_path,
			    conf->g.client_body_buffer_size, p, n) == -1) {
				log_warn("client %s: request body to a temporary file in %s",
				    client_ip(c),
				        conf->g.client_body_temp_path);
				return local_answer(c, 500, 1);
			}
		}
		if (r->fe->body_src_end(c))
			break;
		st = r->fe->body_more(c, 1);
		if (st == BODY_MORE_WAIT) {
			c->wait = W_CL_READ;
			return STEP_WAIT;
		}
		if (st == BODY_MORE_CLOSED)
			return STEP_CLOSED;
		if (st != BODY_MORE_GOT)
			return local_answer(c, st, 1);
	}

	/* All in: keep what follows, then go on as with a bodiless request. */
	r->fe->body_rest(c);
	r->body_in = 1;
	trailers_filter(r);
	/* Sent with a length, as nginx does; chunked only to carry trailers. */
	r->out_chunked = r->trb_len > 2;
	c->state = CS_HEAD;
	return request_start(c);
}

/*
 * Fill r->bb with the next request body bytes in the upstream's framing:
 * read back from the stored body (buffered), or decoded from the client's
 * bytes (streaming).  Chunks go out again without their extensions; the
 * body ends with the filtered trailers (r->trb) or none.  Returns 0, or
 * the status to answer with.
 */
static int
body_fill(struct client *c)
{
	struct req	*r = c->r;
	const char	*p;
	size_t		 room, max, n, hl;
	ssize_t		 got;
	int		 st;
	char		 hex[24];

	if (r->bb_pos == r->bb_end)
		r->bb_pos = r->bb_end = 0;
	if (!r->src_done && !r->buffered && !r->chunked && r->body_left == 0) {
		r->src_done = 1;	/* no body, or all of it went out */
		return 0;
	}
	while (!r->src_done) {
		if (r->bb == NULL && (r->bb = buf_get()) == NULL)
			return 500;
		room = bufsize - r->bb_end;
		if (room < 64)
			break;		/* room for a chunk's framing and the end */
		max = r->out_chunked ? room - sizeof(hex) - 2 : room;
		if (r->buffered) {
			n = r->body.len - r->body_off < max ?
			    (size_t)(r->body.len - r->body_off) : max;
			p = NULL;
		} else {
			if ((st = r->fe->body_next(c, max, &p, &n)) != 0)
				return st;
		}
		if (n == 0) {
			if (!r->buffered && !r->fe->body_src_end(c))
				break;	/* more from the client */
			if (r->out_chunked) {
				if (!r->buffered)
					trailers_filter(r);
				memcpy(r->bb + r->bb_end, r->trb_len > 0 ?
				    "0\r\n" : "0\r\n\r\n", r->trb_len > 0 ? 3 : 5);
				r->bb_end += r->trb_len > 0 ? 3 : 5;
			}
			r->src_done = 1;
			break;
		}
		hl = 0;
		if (r->out_chunked) {
			hl = (size_t)snprintf(hex, sizeof(hex), "%zx\r\n", n);
			memcpy(r->bb + r->bb_end, hex, hl);
		}
		if (p != NULL)
			memcpy(r->bb + r->bb_end + hl, p, n);
		else {
			got = bodybuf_read(&r->body, r->body_off,
			    r->bb + r->bb_end + hl, n);
			if (got != (ssize_t)n) {
				log_warn("client %s: reading the request body back", client_ip(c));
				return 500;
			}
			r->body_off += n;
		}
		r->bb_end += hl + n;
		if (r->out_chunked) {
			memcpy(r->bb + r->bb_end, "\r\n", 2);
			r->bb_end += 2;
		}
	}
	return 0;
}

/*
 * Request direction: the head, then the body (body_fill), then the
 * trailers, to the upstream.  Returns STEP_NEXT when all is sent (or
 * cannot be), STEP_WAIT when waiting, else how the request was answered
 * otherwise, retried, or the connection closed.
 */
enum step
step_request(struct client *c)
{
	struct req	*r = c->r;
	struct upconn	*u = r->up;
	struct iovec	 iov[3];
	int		 niov, st;
	size_t		 hl, bl, tl;
	ssize_t		 n;

	for (;;) {
		if (r->req_done && r->head_sent)
			return STEP_NEXT;
		if ((st = body_fill(c)) != 0)
			return local_answer(c, st, 1);
		hl = r->head_sent ? 0 : r->hb_end - r->hb_pos;
		bl = r->bb_end - r->bb_pos;
		tl = r->src_done ? r->trb_len - r->trb_pos : 0;
		if (hl + bl + tl == 0) {
			if (r->src_done) {
				r->req_done = 1;
				return STEP_NEXT;
			}
			/* Everything decoded went out: more from the client. */
			st = r->fe->body_more(c, 0);
			if (st == BODY_MORE_WAIT) {
				c->wait = W_CL_READ;
				return STEP_WAIT;
			}
			if (st == BODY_MORE_CLOSED)
				return STEP_CLOSED;
			if (st != BODY_MORE_GOT)
				return local_answer(c, st, 1);
			continue;
		}
		if (!u->wr_ready) {
			c->wait = u->connected ? W_UP_WRITE : W_CONNECT;
			return STEP_WAIT;
		}
		niov = 0;
		if (hl > 0) {
			iov[niov].iov_base = r->hb + r->hb_pos;
			iov[niov++].iov_len = hl;
		}
		if (bl > 0) {
			iov[niov].iov_base = r->bb + r->bb_pos;
			iov[niov++].iov_len = bl;
		}
		if (tl > 0) {
			iov[niov].iov_base = r->trb + r->trb_pos;
			iov[niov++].iov_len = tl;
		}
		n = up_writev(u, iov, niov);
		if (n == -1) {
			if (errno == EAGAIN || errno == EINTR) {
				u->wr_ready = 0;
				continue;
			}
			if (r->resp_head) {
				/* The server answered and stopped reading: fine. */
				r->req_done = 1;
				if (!r->body_in)
					r->body_unread = 1;
				r->up_reuse = 0;
				if (!r->body_in)
					r->keep_alive = 0;
				return STEP_NEXT;
			}
			if (!u->connected)
				return upstream_failed(c, up_strerror(u, errno),
				    RETRY_ERROR, 1, 502);
			return upstream_failed(c, "send failed", RETRY_ERROR, 0, 502);
		}
		if (!u->connected) {
			u->connected = 1;
			c->fixed_deadline = 0;
		}
		if ((size_t)n < hl + bl + tl)
			u->wr_ready = 0;
		if (hl > 0) {
			if ((size_t)n < hl) {
				r->hb_pos += n;
				continue;
			}
			n -= hl;
			r->hb_pos = r->hb_end;
			r->head_sent = 1;
		}
		if (bl > 0) {
			if ((size_t)n < bl) {
				r->bb_pos += n;
				continue;
			}
			n -= bl;
			r->bb_pos = r->bb_end;
		}
		r->trb_pos += n;
	}
}

/* Make the next window of response body bytes in ub ready to send. */
int
resp_window(struct client *c)
{
	struct req	*r = c->r;
	size_t		 avail = r->ub_end - r->ub_pos, off, dlen;
	ssize_t		 used;
	uint32_t	 before = r->ub_pos;

	r->send_pos = r->send_end = r->ub_pos;
	if (avail == 0)
		return 0;
	if (r->resp_chunked) {
		if (r->dechunk) {
			used = http_chunked_parse(&r->resp_ck, r->ub + r->ub_pos,
			    avail, &off, &dlen);
			if (used < 0)
				return -1;
			r->send_pos = r->ub_pos + off;
			r->send_end = r->send_pos + dlen;
			r->ub_pos += used;
			cache_body(r, r->ub + r->send_pos, dlen);
		} else {
			size_t	 total = 0;

			while (total < avail && !r->resp_ck.done) {
				used = http_chunked_parse(&r->resp_ck,
				    r->ub + r->ub_pos + total, avail - total,
				    &off, &dlen);
				if (used < 0)
					return -1;
				if (used == 0)
					break;
				cache_body(r, r->ub + r->ub_pos + total + off, dlen);
				total += used;
			}
			r->send_end = r->ub_pos + total;
			r->ub_pos += total;
		}
		if (r->resp_ck.done) {
			r->resp_done = 1;
			if (r->ub_pos < r->ub_end) {
				r->up_reuse = 0;	/* junk after the body */
				r->ub_pos = r->ub_end;
			}
		}
		return r->ub_pos != before || r->send_end > r->send_pos;
	}
	if (r->resp_eof) {
		cache_body(r, r->ub + r->ub_pos, avail);
		r->send_end = r->ub_end;
		r->ub_pos = r->ub_end;
		return 1;
	}
	if ((uint64_t)avail > (uint64_t)r->resp_left)
		avail = (size_t)r->resp_left;
	cache_body(r, r->ub + r->ub_pos, avail);
	r->send_end = r->ub_pos + avail;
	r->ub_pos += avail;
	r->resp_left -= avail;
	if (r->resp_left == 0) {
		r->resp_done = 1;
		if (r->ub_pos < r->ub_end) {
			r->up_reuse = 0;
			r->ub_pos = r->ub_end;
		}
	}
	return 1;
}

/*
 * A final response head was parsed: decide the framing and build the
 * head.  STEP_NEXT, or how the client is answered instead (from the
 * cache, or portico's own 502).
 */
enum step
response_head(struct client *c, const struct http_response *rs)
{
	struct req	*r = c->r;
	enum step	 st;

	if (r->waf != NULL && (st = waf_response(c, rs)) != STEP_NEXT)
		return st;	/* the firewall's answer; the backend's is dropped */
	if (r->route != NULL && r->route->intercept_errors && rs->status >= 300 &&
	    conf_errpage_find(conf, r->route, rs->status) != NULL) {
		/*
		 * intercept_errors: the operator's page replaces the body,
		 * the status stays; the backend's body is not read, and
		 * local_answer closes its connection (never pooled with it).
		 */
		r->up_reuse = 0;
		return local_answer(c, rs->status, BODY_UNREAD(r));
	}
	if (r->cache_on && (st = cache_response(c, rs)) != STEP_NEXT)
		return st;
	r->resp_head = 1;
	r->status = rs->status;
	r->up_reuse = rs->keep_alive;
	if (rs->status >= 500 && r->upstream->conf->fail_on_5xx)
		server_failed(&r->upstream->servers[r->server], r->server);
	if (r->cz_ok && http_response_has_body(r->method, rs->status))
		(void)compress_answer(c, rs->headers, rs->nheaders, rs->status,
		    rs->chunked ? -1 : rs->content_length);
	if (!http_response_has_body(r->method, rs->status)) {
		r->resp_done = 1;
	} else if (rs->chunked) {
		r->resp_chunked = 1;
		http_chunked_init(&r->resp_ck);
		if (r->version != 11) {		/* 1.0, or 2.0 (h2.c) */
			r->dechunk = 1;
			r->keep_alive = 0;
		} else if (r->c_chunk || r->cz != NULL)
			r->dechunk = 1;	/* the client's chunks are made here */
	} else if (rs->content_length >= 0) {
		r->resp_left = rs->content_length;
		r->resp_done = rs->content_length == 0;
	} else {
		r->resp_eof = 1;
		r->up_reuse = 0;
		r->keep_alive = 0;
	}
	if (BODY_UNREAD(r))
		/* The server answered before the body was all read. */
		r->keep_alive = 0;
	if (build_response_head(c, rs, 1) == -1) {
		log_errorx("upstream %s server %s: invalid response: head too large",
		    r->upstream->conf->name,
		    r->upstream->servers[r->server].conf->addr.text);
		r->resp_head = 0;
		compress_free(r);
		return local_answer(c, 502, 1);
	}
	compress_head_len(r, r->hb_end - r->hb_pos);
	r->ub_pos += rs->head_len;
	r->send_pos = r->send_end = r->ub_pos;
	r->splice = splice_wanted(c, r);
	return STEP_NEXT;
}


/*
 * Frame the body bytes read (those that came with the head too, so that
 * one writev sends both).  STEP_NEXT, or the end of the exchange when
 * the upstream's chunked framing is bad: a 502 while nothing of the
 * answer has reached the client, else the connection is closed.
 */
static enum step
resp_frame(struct client *c)
{
	struct req	*r = c->r;
	int		 rc;

	rc = resp_window(c);
	if (rc == -1) {
		log_errorx("upstream %s server %s: invalid response: "
		    "bad chunked body", r->upstream->conf->name,
		    r->upstream->servers[r->server].conf->addr.text);
		shm_stat_inc(&worker.stats->upstream_errors);
		if (!r->c_open && r->hb_pos == 0 && r->body_bytes == 0) {
			/*
			 * The bad chunk came with the head: nothing of the
			 * answer has reached the client, who is owed a 502
			 * rather than a bare close (hb is reused for chunk
			 * headers only once the head is out: c_open).
			 */
			if (cache_writing(&r->cw))
				cache_abort(worker.cache, &r->cw);
			r->c_store = 0;
			r->c_ahead = 0;
			r->c_chunk = 0;
			r->up_reuse = 0;
			r->resp_head = 0;
			return local_answer(c, 502, 1);
		}
		client_close(c);
		return STEP_CLOSED;
	}
	if (rc == 0)
		r->need_more = 1;
	if (r->c_ahead && r->c_store)
		r->send_pos = r->send_end;	/* in the object */
	return STEP_NEXT;
}

/*
 * Read more from the upstream into ub.  STEP_NEXT when bytes came (or
 * the read would block, or a close ended a close-delimited body): look
 * at them; STEP_WAIT for more; else how the exchange ends after the
 * upstream failed.
 */
static enum step
resp_read(struct client *c)
{
	struct req	*r = c->r;
	struct upconn	*u = r->up;
	ssize_t		 n;
	size_t		 room;

	if (r->ub == NULL) {
		if ((r->ub = buf_get()) == NULL) {
			client_close(c);
			return STEP_CLOSED;
		}
		r->ub_pos = r->ub_end = 0;
	}
	if (r->ub_pos == r->ub_end)
		r->ub_pos = r->ub_end = 0;
	else if (r->ub_end == bufsize && r->ub_pos > 0) {
		memmove(r->ub, r->ub + r->ub_pos, r->ub_end - r->ub_pos);
		r->ub_end -= r->ub_pos;
		r->ub_pos = 0;
	}
	if (!u->rd_ready) {
		c->wait = W_UP_READ;
		return STEP_WAIT;
	}
	room = bufsize - r->ub_end;
	if (!r->resp_head && room > HEAD_READ_MAX)
		room = HEAD_READ_MAX;
	n = up_read(u, r->ub + r->ub_end, room);
	if (n == -1) {
		if (errno == EAGAIN || errno == EINTR) {
			u->rd_ready = 0;
			return STEP_NEXT;
		}
		if (!r->resp_started)
			return upstream_failed(c, up_h2_unsent(u) ?
			    "HTTP/2 stream refused" : "connection reset",
			    RETRY_ERROR, up_h2_unsent(u), 502);
		return upstream_broke(c, "connection reset in the middle of "
		    "the response");
	}
	if (n == 0) {
		if (!r->resp_started)
			return upstream_failed(c,
			    "closed the connection before answering", RETRY_ERROR, 0, 502);
		if (r->resp_head && r->resp_eof) {
			r->resp_done = 1;
			return STEP_NEXT;
		}
		return upstream_broke(c, r->resp_head ?
		    "closed the connection in the middle of the body" :
		    "invalid response: closed inside the head");
	}
	if ((size_t)n < room && !u->rdhup)
		u->rd_ready = 0;
	r->ub_end += n;
	r->resp_started = 1;
	r->need_more = 0;
	return STEP_NEXT;
}

/*
 * Storing ahead of the client (c_ahead): the client is sent the object
 * as it grows, and the upstream is read at its own pace.  STEP_NEXT to
 * look again, else what step_response returns.
 */
static enum step
resp_ahead(struct client *c)
{
	struct req	*r = c->r;

	if (r->resp_done && r->c_store)
		return cache_ahead_done(c);
	if (cache_ahead_write(c) == STEP_CLOSED)
		return STEP_CLOSED;
	if (r->c_ahead && !r->c_store) {
		/* The object stopped growing: the client drains it first. */
		c->wait = W_CL_WRITE;
		return STEP_WAIT;
	}
	if (!r->c_ahead)
		return STEP_NEXT;
	if (r->ub_pos < r->ub_end && !r->need_more)
		return STEP_NEXT;	/* more chunks already read */
	return resp_read(c);
}

/* Send the client what is ready: STEP_NEXT, STEP_WAIT or STEP_CLOSED. */
static enum step
resp_send(struct client *c)
{
	struct req	*r = c->r;
	ssize_t		 n;
	size_t		 hl;

	if (!c->wr_ready) {
		c->wait = W_CL_WRITE;
		return STEP_WAIT;
	}
	hl = r->hb_end - r->hb_pos;
	n = fe_send2(c, r->hb + r->hb_pos, hl, r->ub + r->send_pos,
	    r->c_chunk && r->ck_left < r->send_end - r->send_pos ?
	    r->ck_left : r->send_end - r->send_pos);
	if (n == -1)
		return STEP_CLOSED;
	if ((size_t)n <= hl) {
		r->hb_pos += n;
		return STEP_NEXT;
	}
	r->hb_pos = r->hb_end;
	r->send_pos += n - hl;
	r->body_bytes += n - hl;
	if (r->c_chunk)
		r->ck_left -= n - hl;
	return STEP_NEXT;
}

/*
 * A response head is in ub: parse it.  A bad one is answered with 502; a
 * 5xx the retry policy covers goes to another server; an interim one is
 * passed on to HTTP/1.1 clients (except 100, which portico's own
 * Expect handling covers).  STEP_NEXT to go on streaming, else how the
 * exchange goes on.
 */
static enum step
resp_head_parse(struct client *c)
{
	struct req		*r = c->r;
	struct http_response	 rs;
	int			 rc;

	memset(&rs, 0, sizeof(rs));
	rc = http_parse_response(r->ub + r->ub_pos, r->ub_end - r->ub_pos,
	    &resp_limits, &rs, hdrs);
	if (rc == HTTP_PARSE_AGAIN) {
		if (r->ub_end - r->ub_pos < bufsize) {
			r->need_more = 1;
			return STEP_NEXT;
		}
		rc = 502;
		rs.error = "head too large";
	}
	if (rc == 0 && rs.status == 101)
		return tunnel_begin(c, &rs);	/* WebSocket: tunnel.c */
	if (rc > 0) {
		log_errorx("upstream %s server %s: invalid response: %s",
		    r->upstream->conf->name,
		    r->upstream->servers[r->server].conf->addr.text,
		    rs.error ? rs.error : "malformed");
		shm_stat_inc(&worker.stats->upstream_errors);
		return local_answer(c, 502, 1);
	}
	if (rs.status >= 500 && rs.status <= 504 && !r->interim &&
	    retry_status_bit(rs.status) != 0 &&
	    retry_allowed(r, retry_status_bit(rs.status), 0) &&
	    balance_left(&r->upstream->bal, ev_now, &r->tried)) {
		/*
		 * Another server may answer better.  With no server left
		 * the answer goes to the client as it is (response_head
		 * counts it then).
		 */
		if (r->upstream->conf->fail_on_5xx)
			server_failed(&r->upstream->servers[r->server], r->server);
		r->retried++;
		/* Move on; this answer (and its connection) is dropped. */
		log_warnx("upstream %s server %s: answered %d, retrying",
		    r->upstream->conf->name,
		    r->upstream->servers[r->server].conf->addr.text, rs.status);
		req_drop_up(r);
		return request_retry(c, 0, rs.status);
	}
	if (rs.status >= 200)
		return response_head(c, &rs);
	/* Interim: forward to HTTP/1.1 clients, except our own 100. */
	if (rs.status != 100 && r->version == 11) {
		if (build_response_head(c, &rs, 0) == -1)
			return local_answer(c, 502, 1);
		r->interim = 1;
	}
	r->ub_pos += rs.head_len;
	return STEP_NEXT;
}

/*
 * Response direction: read the upstream's head, answer 502 for a bad one,
 * then stream head and body to the client.  STEP_NEXT when the whole
 * answer is out, STEP_WAIT when waiting, else how the exchange goes on
 * (answered otherwise, retried, closed).
 */
enum step
step_response(struct client *c)
{
	struct req	*r = c->r;
	enum step	 st;

	/* Until the request head is out, hb holds it: nothing is the client's. */
	if (!r->head_sent)
		return STEP_WAIT;
	for (;;) {
		if (r->resp_head && r->send_pos == r->send_end &&
		    r->ub_pos < r->ub_end && !r->need_more &&
		    (st = resp_frame(c)) != STEP_NEXT)
			return st;
		if (r->c_ahead) {
			if ((st = resp_ahead(c)) != STEP_NEXT)
				return st;
			continue;
		}
		/*
		 * A whole stored body is visible before its last bytes reach
		 * the client, so that the client's next request finds it.
		 */
		if (r->resp_done) {
			cache_done(r);
			/*
			 * The server is done with this answer: uncount it now,
			 * not after its last bytes reach the client, who may
			 * ask again (through another worker) before that.
			 */
			active_add(r, NULL, -1);
		}
		/*
		 * After an object that stopped growing, the rest of a chunked
		 * answer streams through re-chunked (the client had chunks
		 * of the object).
		 */
		if (r->c_chunk && r->ck_left == 0 && !r->c_last) {
			if (r->send_pos < r->send_end)
				(void)r->fe->chunk_frame(r, r->send_end - r->send_pos);
			else if (r->resp_done)
				(void)r->fe->chunk_frame(r, 0);
		}
		if (r->hb_pos < r->hb_end || r->send_pos < r->send_end) {
			if ((st = resp_send(c)) != STEP_NEXT)
				return st;
			continue;
		}
		if (r->splice && !r->resp_done && r->ub_pos == r->ub_end) {
			/* The rest of the body by splice (splice.c). */
			if ((st = splice_body(c)) != STEP_NEXT)
				return st;
			continue;
		}
		if (r->resp_done) {
			r->t_up_end = ev_now;
			return STEP_NEXT;	/* (stored above, before the last send) */
		}
		if (r->ub != NULL && r->ub_pos < r->ub_end && !r->need_more &&
		    !r->resp_head)
			st = resp_head_parse(c);
		else
			st = resp_read(c);
		if (st != STEP_NEXT)
			return st;
	}
}
