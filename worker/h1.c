/*
 * h1.c: the HTTP/1 front end (codec) of the client side, over
 * common/http.c's parser and common/chunked.c: request heads read from
 * the connection's bytes (c->in) and parsed straight into the
 * exchange's request; the request body decoded (Content-Length or
 * chunked, trailers kept or dropped) and handed to the exchange as data;
 * 100 Continue; the answer's bytes written (plain or TLS, through
 * cl_writev); and the end of an exchange: the next request on the same
 * connection, a lingering close, or the close.  Its table is h1_ops
 * (worker/exchange.h).  What is still HTTP/1 in the exchange: the
 * response head is built in HTTP/1 syntax (headers.c, reply.c, the
 * cache's stored heads), and chunks of a chunked backend answer go
 * through as they came (exchange.h says why).
 */
#include "config.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "common/http.h"
#include "common/log.h"
#include "common/shm.h"
#include "common/strbuf.h"
#include "worker/event.h"
#include "worker/exchange.h"
#include "worker/h2.h"
#include "worker/proxy_int.h"
#include "worker/reqid.h"
#include "worker/tls.h"
#include "worker/worker.h"

/*
 * Take the request block a head is parsed into (r->rq, r->fields): the
 * connection's, or a fresh one.  NULL when out of memory (closed then).
 */
static struct req *
head_req(struct client *c)
{
	if (c->r == NULL) {
		if ((c->r = req_get()) == NULL) {
			client_close(c);
			return NULL;
		}
		c->r->t_start = ev_now;
		c->r->wall_start = ev_wall;
		c->r->method = HTTP_M_GET;
		c->r->version = 11;
		nbusy++;
	}
	return c->r;
}

/* A head is not whole yet: the connection holds no request block. */
static void
head_req_put(struct client *c)
{
	if (c->r != NULL && !c->r->parsed) {
		req_put(c->r);
		c->r = NULL;
		nbusy--;
	}
}

/*
 * Read until a whole request head is in c->in, and parse it straight into
 * the request's block (r->rq, its fields in r->fields: no copy).
 * STEP_NEXT when one is in, STEP_WAIT for more bytes (an idle connection,
 * or one with half a head, holds no request block; an idle one no buffer
 * either), else the answer to a bad head, or the close.
 */
static enum step
head_read(struct client *c)
{
	struct req	*r;
	ssize_t		 n;
	int		 rc;

	for (;;) {
		if (c->in_pos < c->in_end) {
			if ((r = head_req(c)) == NULL)
				return STEP_CLOSED;
			memset(&r->rq, 0, sizeof(r->rq));
			rc = http_parse_request(c->in + c->in_pos,
			    c->in_end - c->in_pos, &req_limits, &r->rq, r->fields);
			if (rc == HTTP_PARSE_OK)
				return STEP_NEXT;
			if (rc > 0) {
				log_info("client %s: bad request: %s (%d)",
				    client_ip(c),
				        r->rq.error ? r->rq.error : "?", rc);
				memset(&r->rq, 0, sizeof(r->rq));
				return local_answer(c, rc, 1);
			}
			head_req_put(c);
			/* Not complete: make room at the front if needed. */
			if (c->in_pos > 0) {
				memmove(c->in, c->in + c->in_pos, c->in_end - c->in_pos);
				c->in_end -= c->in_pos;
				c->in_pos = 0;
			}
			if (c->in_end >= bufsize)
				return local_answer(c, 431, 1);
		}
		if (!c->rd_ready) {
			if (c->in_end == c->in_pos && c->in != NULL) {
				/* Idle: hold no buffer. */
				buf_put(c->in);
				c->in = NULL;
				c->in_pos = c->in_end = 0;
			}
			c->wait = c->in_end > 0 ? W_HEAD : (c->served ? W_IDLE : W_HEAD);
			if (c->wait == W_HEAD && c->fixed_deadline == 0)
				c->fixed_deadline = ev_now + conf->g.client_header_timeout_ms;
			return STEP_WAIT;
		}
		if (c->in == NULL) {
			if ((c->in = buf_get()) == NULL) {
				client_close(c);
				return STEP_CLOSED;
			}
			c->in_pos = c->in_end = 0;
		}
		n = cl_read(c, c->in + c->in_end, bufsize - c->in_end);
		if (n == -1) {
			if (errno == EAGAIN || errno == EINTR) {
				c->rd_ready = 0;
				continue;
			}
			client_close(c);
			return STEP_CLOSED;
		}
		if (n == 0) {
			/* Closed between requests, or in the middle of a head. */
			client_close(c);
			return STEP_CLOSED;
		}
		if ((size_t)n < bufsize - c->in_end && !c->rdhup)
			c->rd_ready = 0;
		if (c->in_end == 0 && c->fixed_deadline == 0)
			c->fixed_deadline = ev_now + conf->g.client_header_timeout_ms;
		c->in_end += n;
	}
}

/*
 * CS_HEAD: read and parse a request head (after the TLS handshake of a
 * new connection), set up the body's decoding, then hand the request to
 * the exchange (exchange_begin).
 */
enum step
step_head(struct client *c)
{
	struct req			*r;
	const struct http_request	*rq;
	enum step			 st;
	int				 rc;

	if (c->tls != NULL && !c->tls->done)
		return step_handshake(c);
	if (c->ls->conf->http2 > 0 && !c->served && c->r == NULL &&
	    (rc = h2_detect(c)) != 0)	/* HTTP/2 (worker/h2.c) */
		return rc == 1 ? STEP_NEXT : rc == 2 ? STEP_WAIT : STEP_CLOSED;
	if ((st = head_read(c)) != STEP_NEXT)
		return st;
	r = c->r;
	rq = &r->rq;
	c->fixed_deadline = 0;
	r->chunked = rq->chunked;
	r->out_chunked = rq->chunked;
	r->cl = rq->content_length;
	r->body_left = rq->chunked ? 0 :
	    (rq->content_length > 0 ? rq->content_length : 0);
	c->in_pos += rq->head_len;
	r->body_start = c->in_pos;
	r->head_off = r->body_start - rq->head_len;
	r->head_len = rq->head_len;
	r->body_t0 = ev_now;
	r->body_rx = c->in_end - c->in_pos;
	r->replayable = 1;
	if (rq->chunked)
		http_chunked_init(&r->req_ck);
	else
		r->req_done = r->body_left == 0;
	return exchange_begin(c);
}

/*
 * Read more of the request body into c->in after c->in_end.  Returns 1
 * when bytes came, 0 when there are none for now (rd_ready cleared), -1
 * when the client is gone (it is closed then).
 */
static int
h1_read(struct client *c)
{
	ssize_t		 n;

	n = cl_read(c, c->in + c->in_end, bufsize - c->in_end);
	if (n == -1) {
		if (errno == EAGAIN || errno == EINTR) {
			c->rd_ready = 0;
			return 0;
		}
		client_close(c);
		return -1;
	}
	if (n == 0) {
		log_info("client %s: closed during the request body",
		    client_ip(c));
		client_close(c);
		return -1;
	}
	if ((size_t)n < bufsize - c->in_end && !c->rdhup)
		c->rd_ready = 0;
	c->in_end += n;
	c->r->body_rx += n;
	return 1;
}

/*
 * Read more of the request body: first make room in c->in (keep_head:
 * after the head, which stays; else from the start, the head may go).
 */
static int
h1_body_more(struct client *c, int keep_head)
{
	struct req	*r = c->r;

	if (keep_head)
		c->in_pos = c->in_end = r->body_start;
	else if (c->in_pos == c->in_end) {
		c->in_pos = c->in_end = 0;
		r->replayable = 0;
	} else if (c->in_end == bufsize) {
		if (c->in_pos == 0)
			return 400;
		memmove(c->in, c->in + c->in_pos, c->in_end - c->in_pos);
		c->in_end -= c->in_pos;
		c->in_pos = 0;
		r->replayable = 0;
	}
	if (!c->rd_ready)
		return BODY_MORE_WAIT;
	return h1_read(c) == -1 ? BODY_MORE_CLOSED : BODY_MORE_GOT;
}

/* The whole body is in r->body: keep what follows (pipelined) after the head. */
static void
h1_body_rest(struct client *c)
{
	struct req	*r = c->r;

	if (c->in_pos > r->body_start) {
		memmove(c->in + r->body_start, c->in + c->in_pos, c->in_end - c->in_pos);
		c->in_end -= c->in_pos - r->body_start;
		c->in_pos = r->body_start;
	}
}

/*
 * The request goes again (to another server): decode its body again from
 * its start, still in c->in (r->replayable).
 */
static void
h1_body_rewind(struct client *c)
{
	struct req	*r = c->r;

	c->in_pos = r->body_start;
	r->body_left = r->chunked ? 0 : (r->cl > 0 ? r->cl : 0);
	r->req_done = !r->chunked && r->body_left == 0;
	r->body_seen = 0;
	r->trb_len = 0;
	if (r->chunked)
		http_chunked_init(&r->req_ck);
}

/*
 * Expect: 100-continue: tell the client to send its body, unless bytes
 * of it are in already.  Nothing else is queued to this client now: the
 * interim answer fits.
 */
static int
h1_want_body(struct client *c)
{
	static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";

	if (c->in_pos != c->in_end)
		return 0;
	if (cl_write(c, cont, sizeof(cont) - 1) != sizeof(cont) - 1) {
		client_close(c);
		return -1;
	}
	return 0;
}

/*
 * Where the request body ends in what the client sends: the chunked
 * last-chunk and trailers are in, or the Content-Length bytes are.
 */
static int
h1_body_src_end(const struct client *c)
{
	const struct req	*r = c->r;

	return r->chunked ? r->req_ck.done : r->body_left == 0;
}

/*
 * Take the next run of request body data from the client's bytes at
 * c->in + c->in_pos: framing (chunk-size lines with their extensions,
 * trailers) is consumed and checked, at most max data bytes come back in
 * *p, *n (consumed too; they stay in c->in until it is compacted).  *n 0:
 * more bytes are needed, or the body is all in.  Trailer fields are kept
 * in r->trb with pass_request_trailers, and dropped otherwise.  Returns 0,
 * or the status to answer with: 400 for bad framing (a chunk-size line
 * over 4 KiB included), 413 over max_body_size, 500 out of memory.
 */
static int
h1_body_next(struct client *c, size_t max, const char **p, size_t *n)
{
	struct req	*r = c->r;
	size_t		 avail, off, dlen, tr;
	ssize_t		 used;
	uint64_t	 before;

	*p = NULL;
	*n = 0;
	if (max == 0)
		return 0;
	if (!r->chunked) {
		avail = c->in_end - c->in_pos;
		if (avail > (uint64_t)r->body_left)
			avail = (size_t)r->body_left;
		if (avail > max)
			avail = max;
		*p = c->in + c->in_pos;
		*n = avail;
		c->in_pos += avail;
		r->body_left -= avail;
		r->body_seen += avail;
		return 0;
	}
	while (c->in_pos < c->in_end && !r->req_ck.done) {
		avail = c->in_end - c->in_pos;
		if (avail > max)
			avail = max;
		before = r->req_ck.trailer_len;
		used = http_chunked_parse(&r->req_ck, c->in + c->in_pos, avail,
		    &off, &dlen);
		if (used < 0) {
			log_info("client %s: bad chunked body", client_ip(c));
			return 400;
		}
		tr = r->req_ck.trailer_len - before;
		if (tr > 0 && conf->g.pass_request_trailers) {
			if (r->trb == NULL && (r->trb = malloc(REQ_TRAILER_MAX + 2)) == NULL)
				return 500;
			if (r->trb_len + tr > REQ_TRAILER_MAX)
				return 400;	/* the parser refuses it first */
			memcpy(r->trb + r->trb_len, c->in + c->in_pos + used - tr, tr);
			r->trb_len += tr;
		}
		c->in_pos += used;
		/*
		 * Chunk extensions, blanks and padding zeros count toward
		 * max_body_size: they are bytes the client makes portico read.
		 */
		if ((uint64_t)r->body_seen + dlen + r->req_ck.padding >
		    req_body_cap(r)) {
			log_info("client %s: request body over %s",
			    client_ip(c),
			    req_body_cap_name(r));
			return 413;
		}
		if (dlen > 0) {
			r->body_seen += dlen;
			*p = c->in + c->in_pos - used + off;
			*n = dlen;
			return 0;
		}
		if (used == 0)
			break;
	}
	return 0;
}

/*
 * Write the answer's pieces to the client in one writev.  Returns the
 * bytes written (fewer than offered, 0 included, and wr_ready cleared
 * when it would block), or -1 when the client is gone.
 */
static ssize_t
h1_send(struct client *c, const struct iovec *iov, int niov)
{
	ssize_t	 n;
	size_t	 total = 0;
	int	 i;

	n = cl_writev(c, iov, niov);
	if (n == -1) {
		if (errno == EAGAIN || errno == EINTR) {
			c->wr_ready = 0;
			return 0;
		}
		return -1;
	}
	for (i = 0; i < niov; i++)
		total += iov[i].iov_len;
	if ((size_t)n < total)
		c->wr_ready = 0;
	return n;
}

/*
 * The exchange is over: wait for the next request on this connection,
 * or end it (lingering when the client may still be sending).
 */
static enum step
h1_finish(struct client *c, int keep_alive, int body_unread)
{
	c->served = 1;
	c->state = CS_HEAD;
	c->fixed_deadline = 0;
	if (!keep_alive || worker.quitting) {
		if (body_unread || c->in_pos < c->in_end) {
			/*
			 * The client may still be sending (the answer came
			 * before the whole body): closing now would reset the
			 * connection and lose the end of the answer.
			 */
			linger_start(c);
			return STEP_NEXT;
		}
		client_close(c);
		return STEP_CLOSED;
	}
	if (!c->nodelay) {
		/*
		 * A connection that carries a second exchange must not have its
		 * small writes held back by Nagle; one that closes after its
		 * first never needs the syscall.
		 */
		int on = 1;

		(void)setsockopt(c->io.fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
		c->nodelay = 1;
	}
	return STEP_NEXT;
}

/* The status line of an answer: "HTTP/1.1 200 OK". */
void
h1_status_line(struct strbuf *b, int status, const char *reason,
    size_t reason_len)
{
	strbuf_str(b, "HTTP/1.1 ");
	strbuf_num(b, status);
	strbuf_str(b, " ");
	strbuf_add(b, reason, reason_len);
	strbuf_str(b, "\r\n");
}

/*
 * The tail of every final response head a client gets, forwarded, from
 * the cache or portico's own; the one place that writes it:
 *  - the framing: Content-Length when length >= 0, Transfer-Encoding:
 *    chunked for HEAD_CHUNKED, neither for HEAD_NO_LENGTH (no body, or
 *    one the close delimits);
 *  - Connection: close when the connection ends after this answer (the
 *    client's choice, a body left unread, or a worker that is quitting:
 *    r->keep_alive is cleared then), and Connection: keep-alive to an
 *    HTTP/1.0 client that keeps it open, since HTTP/1.0 closes by
 *    default;
 *  - Cache-Status when the request has one;
 *  - the empty line that ends the head (alone for HEAD_INTERIM: a 1xx
 *    has no framing of its own).
 * The caller checks b->over.
 */
void
head_tail(struct strbuf *b, struct req *r, int64_t length)
{
	size_t	 len;

	if (length == HEAD_INTERIM) {
		strbuf_str(b, "\r\n");
		return;
	}
	if (length >= 0) {
		strbuf_str(b, "Content-Length: ");
		strbuf_num(b, length);
		strbuf_str(b, "\r\n");
	} else if (length == HEAD_CHUNKED)
		strbuf_str(b, "Transfer-Encoding: chunked\r\n");
	if (worker.quitting)
		r->keep_alive = 0;
	if (!r->keep_alive)
		strbuf_str(b, "Connection: close\r\n");
	else if (r->version == 10)
		strbuf_str(b, "Connection: keep-alive\r\n");
	if (r->reqid[0] != '\0') {
		const char *n = reqid_header(&len);

		strbuf_field(b, n, len, r->reqid, strlen(r->reqid));
	}
	if (r->cstatus[0] != '\0') {
		strbuf_str(b, "Cache-Status: ");
		strbuf_str(b, r->cstatus);
		strbuf_str(b, "\r\n");
	}
	strbuf_str(b, "\r\n");
}

/*
 * Chunked framing for a client sent body bytes of unknown length (an
 * object as it grows, or what streams through after it): the chunk
 * header (after the previous chunk's CRLF) for the next n body bytes,
 * or the last-chunk (n == 0), goes behind what is left of r->hb.
 * Returns -1 when hb has no room yet (it has once drained).
 */
int
chunk_frame(struct req *r, uint64_t n)
{
	int	 len;

	if (r->hb_pos == r->hb_end)
		r->hb_pos = r->hb_end = 0;
	if (bufsize - r->hb_end < 32)
		return -1;
	len = snprintf(r->hb + r->hb_end, 32, "%s%llx\r\n%s",
	    r->c_open ? "\r\n" : "", (unsigned long long)n, n == 0 ? "\r\n" : "");
	r->hb_end += len;
	r->c_open = 1;
	r->ck_left = n;
	if (n == 0)
		r->c_last = 1;
	return 0;
}

const struct front_ops h1_ops = {
	.name = "h1",
	.reader = 1,
	.body_next = h1_body_next,
	.body_src_end = h1_body_src_end,
	.body_more = h1_body_more,
	.body_rest = h1_body_rest,
	.body_rewind = h1_body_rewind,
	.want_body = h1_want_body,
	.status_line = h1_status_line,
	.head_tail = head_tail,
	.chunk_frame = chunk_frame,
	.send = h1_send,
	.finish = h1_finish,
};
