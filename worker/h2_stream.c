/*
 * h2_stream.c: one HTTP/2 request stream as an exchange (worker/h2.h,
 * exchange.h's front end h2_ops).  The request's fields, as nghttp2
 * decoded and checked them (RFC 9113 8.2: no connection-specific fields,
 * pseudo-headers right), are written as an HTTP/1.1 head into the
 * carrier's c->in and parsed there by common/http.c's strict parser, so
 * that the exchange sees a request as it sees any: :authority becomes
 * Host (a Host that names another authority is a 400, RFC 9113 8.3.1),
 * Cookie crumbs are joined (8.2.3), and a body without Content-Length
 * goes upstream chunked (or whole, with request_buffering).  The body is
 * data the client sends under a stream window of buffer_size: it opens
 * again (WINDOW_UPDATE) as the exchange takes bytes, so a backend that
 * reads slowly holds the client back.  The answer's head comes back from
 * the exchange in HTTP/1 syntax; it is parsed, its hop-by-hop fields
 * dropped, and sent as HEADERS; its body goes through one buffer per
 * stream that the session drains as the client's windows allow: a full
 * buffer makes the exchange wait (W_CL_WRITE, send_timeout).
 */
#include "config.h"

#include <ctype.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include <nghttp2/nghttp2.h>

#include "common/http.h"
#include "common/log.h"
#include "common/strbuf.h"
#include "worker/event.h"
#include "worker/h2.h"
#include "worker/h2_data.h"
#include "worker/proxy_int.h"
#include "worker/worker.h"

static struct http_header	*rhdrs;		/* an answer's head, parsed */
static nghttp2_nv		*rnv;		/* ... and encoded */
static size_t			 rmax;

struct h2_stream *
h2_stream_new(struct h2_conn *h, int32_t id)
{
	struct h2_stream	*s;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	if ((s->hd = buf_get()) == NULL || (s->fb = buf_get()) == NULL) {
		buf_put(s->hd);
		free(s);
		return NULL;
	}
	s->id = id;
	s->conn = h;
	s->next = h->streams;
	if (h->streams != NULL)
		h->streams->prev = s;
	h->streams = s;
	h->nstreams++;
	return s;
}

void
h2_stream_free(struct h2_stream *s)
{
	struct h2_conn	*h = s->conn;

	if (s->prev != NULL)
		s->prev->next = s->next;
	else
		h->streams = s->next;
	if (s->next != NULL)
		s->next->prev = s->prev;
	h->nstreams--;
	if (!h->closing && !s->closed)
		nghttp2_session_set_stream_user_data(h->s, s->id, NULL);
	buf_put(s->hd);
	buf_put(s->fb);
	buf_put(s->rb);
	buf_put(s->rh);
	buf_put(s->ob);
	free(s->tr);
	free(s);
}

/*
 * One field of the request's trailers (a HEADERS frame after its DATA):
 * with pass_request_trailers, kept in the exchange's r->trb as h1.c keeps
 * an HTTP/1.1 client's (the exchange filters and forwards them).  Only a
 * body without a content-length goes out chunked and so can carry them
 * to an HTTP/1.1 server: with one, they are dropped.  Returns 0.
 */
int
h2_stream_trailer(struct h2_stream *s, const uint8_t *name, size_t nlen,
    const uint8_t *value, size_t vlen)
{
	struct req	*r;
	size_t		 need = nlen + vlen + 4;

	/* s->has_cl, not r->chunked: h2_stream_start may not have run yet. */
	if (!conf->g.pass_request_trailers || s->carrier == NULL ||
	    (r = s->carrier->r) == NULL || s->has_cl || s->has_proto ||
	    (nlen > 0 && name[0] == ':'))
		return 0;
	if (r->trb == NULL && (r->trb = malloc(REQ_TRAILER_MAX + 2)) == NULL)
		return 0;
	if (r->trb_len + need > REQ_TRAILER_MAX)
		return 0;	/* over the size an HTTP/1.1 client may send */
	memcpy(r->trb + r->trb_len, name, nlen);
	memcpy(r->trb + r->trb_len + nlen, ": ", 2);
	memcpy(r->trb + r->trb_len + nlen + 2, value, vlen);
	memcpy(r->trb + r->trb_len + nlen + 2 + vlen, "\r\n", 2);
	r->trb_len += (uint32_t)need;
	return 0;
}

/*
 * Assemble the HTTP/1.1 head into b (a buffer of bufsize).  Returns its
 * length, 0 when it does not fit.
 */
static size_t
head_assemble(struct h2_stream *s, char *b)
{
	struct strbuf	 sb;
	int		 connect;

	strbuf_init(&sb, b, bufsize);
	connect = s->m_len == 7 && memcmp(s->hd + s->m_off, "CONNECT", 7) == 0;
	if (!connect)
		s->has_proto = 0;
	if (s->has_proto) {
		/* Extended CONNECT: an HTTP/1.1 upgrade upstream (h2_tunnel.c). */
		strbuf_str(&sb, "GET ");
		strbuf_add(&sb, s->hd + s->p_off, s->p_len);
	} else if (connect) {
		strbuf_add(&sb, s->hd + s->m_off, s->m_len);
		strbuf_str(&sb, " ");
		strbuf_add(&sb, s->hd + s->a_off, s->a_len);
	} else {
		strbuf_add(&sb, s->hd + s->m_off, s->m_len);
		strbuf_str(&sb, " ");
		strbuf_add(&sb, s->hd + s->p_off, s->p_len);
	}
	strbuf_str(&sb, " HTTP/1.1\r\n");
	if (s->has_auth || s->has_host) {
		strbuf_str(&sb, "Host: ");
		if (s->has_auth)
			strbuf_add(&sb, s->hd + s->a_off, s->a_len);
		else
			strbuf_add(&sb, s->hd + s->h_off, s->h_len);
		strbuf_str(&sb, "\r\n");
	}
	strbuf_add(&sb, s->fb, s->fb_len);
	if (s->has_cookie) {
		strbuf_str(&sb, "Cookie: ");
		strbuf_add(&sb, s->hd + s->k_off, s->k_len);
		strbuf_str(&sb, "\r\n");
	}
	if (s->has_proto) {
		if (h2_tunnel_head(s, &sb) == -1)
			return 0;
	} else if (!s->in_eof && !s->has_cl)
		strbuf_str(&sb, "Transfer-Encoding: chunked\r\n");
	strbuf_str(&sb, "\r\n");
	return sb.over ? 0 : sb.len;
}

/*
 * The request's head is in: its carrier (a struct client with no
 * socket) is made, and runs from the connection's step.  Returns 0, or
 * -1 when there is no room for it (the stream is refused).
 */
int
h2_stream_ready(struct h2_stream *s)
{
	struct client	*pc = s->conn->c, *c;
	size_t		 n;

	if (nclients >= (size_t)conf->g.worker_connections)
		return -1;
	if ((c = free_clients) != NULL)
		free_clients = c->next;
	else if ((c = malloc(sizeof(*c))) == NULL)
		return -1;
	memset(c, 0, sizeof(*c));
	if ((c->in = buf_get()) == NULL || (c->r = req_get()) == NULL) {
		buf_put(c->in);
		c->next = free_clients;
		free_clients = c;
		return -1;
	}
	if (s->has_auth && s->has_host && (s->a_len != s->h_len ||
	    strncasecmp(s->hd + s->a_off, s->hd + s->h_off, s->a_len) != 0))
		s->bad = 400;	/* RFC 9113 8.3.1 */
	if ((n = head_assemble(s, c->in)) == 0 && s->bad == 0)
		s->bad = 431;
	c->in_end = (uint32_t)n;
	buf_put(s->hd);
	buf_put(s->fb);
	s->hd = s->fb = NULL;
	c->r->fe = &h2_ops;
	nbusy++;
	c->io.fd = -1;
	c->io.cb = client_cb;
	c->ls = pc->ls;
	c->state = CS_H2;
	c->rd_ready = c->wr_ready = 1;
	c->h2s = s;
	c->h2_https = pc->tls != NULL;
	c->pp_src = pc->pp_src;
	c->peer_af = pc->peer_af;
	c->peer_port = pc->peer_port;
	memcpy(c->peer_addr, pc->peer_addr, sizeof(c->peer_addr));
	ev_timer_init(&c->timer, client_timer_cb);
	c->next = clients;
	if (clients != NULL)
		clients->prev = c;
	clients = c;
	nclients++;
	s->carrier = c;
	h2_stream_wake(s, 1, 1);
	return 0;
}

/* The carrier has something to do: the connection's step runs it. */
void
h2_stream_wake(struct h2_stream *s, int rd, int wr)
{
	if (s->carrier == NULL)
		return;
	if (rd)
		s->carrier->rd_ready = 1;
	if (wr)
		s->carrier->wr_ready = 1;
	s->run = 1;
	s->conn->runs = 1;
	h2_kick(s->conn);
}

/* nghttp2 closed the stream: its exchange ends, then the stream goes. */
void
h2_stream_gone(struct h2_stream *s)
{
	if (s->carrier != NULL)
		client_close(s->carrier);	/* frees s (h2_carrier_closed) */
	else
		h2_stream_free(s);
}

/*
 * Request body bytes came.  Returns 0, or -1 when nobody takes them (the
 * caller gives their window back).
 */
int
h2_stream_data(struct h2_stream *s, const uint8_t *p, size_t n)
{
	if (s->carrier == NULL || (s->done && !s->tunnel) ||
	    s->carrier->r == NULL)
		return -1;
	if (s->rb == NULL && (s->rb = buf_get()) == NULL)
		return -1;
	if (s->rb_pos == s->rb_end)
		s->rb_pos = s->rb_end = 0;
	if (n > bufsize - s->rb_end) {
		memmove(s->rb, s->rb + s->rb_pos, s->rb_end - s->rb_pos);
		s->rb_end -= s->rb_pos;
		s->rb_pos = 0;
	}
	if (n > bufsize - s->rb_end)
		return -1;	/* over its window: nghttp2 refuses that first */
	memcpy(s->rb + s->rb_end, p, n);
	s->rb_end += n;
	s->carrier->r->body_rx += n;
	h2_stream_wake(s, 1, 0);
	return 0;
}

/*
 * CS_H2 of a carrier: the head is parsed into the exchange's block, as
 * h1.c's step_head does, and the exchange begins.
 */
enum step
h2_stream_start(struct client *c)
{
	struct h2_stream	*s = c->h2s;
	struct req		*r = c->r;
	int			 rc;

	c->state = CS_HEAD;
	r->t_start = ev_now;
	r->wall_start = ev_wall;
	s->method = HTTP_M_GET;
	memset(&r->rq, 0, sizeof(r->rq));
	rc = s->bad ? s->bad : http_parse_request(c->in, c->in_end,
	    &req_limits, &r->rq, r->fields);
	if (rc != HTTP_PARSE_OK) {
		if (rc <= 0)
			rc = 400;
		log_info("client %s: bad HTTP/2 request: %s (%d)", client_ip(c),
		    r->rq.error ? r->rq.error : "?", rc);
		memset(&r->rq, 0, sizeof(r->rq));
		return local_answer(c, rc, 1);
	}
	r->rq.version = 20;
	s->method = r->rq.method;
	c->in_pos = c->in_end;
	r->chunked = r->out_chunked = r->rq.chunked;
	r->cl = r->rq.content_length;
	r->body_left = r->rq.chunked ? 0 :
	    (r->rq.content_length > 0 ? r->rq.content_length : 0);
	r->head_off = 0;
	r->head_len = r->rq.head_len;
	r->body_start = r->rq.head_len;
	r->body_t0 = ev_now;
	r->replayable = 1;
	r->req_done = !r->chunked && r->body_left == 0;
	return exchange_begin(c);
}

/* The client reset the stream, or the connection is going: no more body. */
static int
stream_gone(const struct h2_stream *s)
{
	return s->reset || s->closed || s->conn->closing;
}

static int
h2_body_next(struct client *c, size_t max, const char **p, size_t *n)
{
	struct h2_stream	*s = c->h2s;
	struct req		*r = c->r;
	size_t			 k = s->rb_end - s->rb_pos;

	*p = NULL;
	*n = 0;
	if (k > max)
		k = max;
	if (!r->chunked && (uint64_t)k > (uint64_t)r->body_left)
		k = (size_t)r->body_left;
	if (k == 0)
		return 0;
	if ((uint64_t)r->body_seen + k > req_body_cap(r)) {
		log_info("client %s: request body over %s", client_ip(c),
		    req_body_cap_name(r));
		return 413;
	}
	*p = s->rb + s->rb_pos;
	*n = k;
	s->rb_pos += k;
	r->body_seen += k;
	if (!r->chunked)
		r->body_left -= k;
	r->replayable = 0;	/* its bytes are not kept */
	if (!stream_gone(s)) {
		nghttp2_session_consume(s->conn->s, s->id, k);
		h2_kick(s->conn);
	}
	return 0;
}

static int
h2_body_src_end(const struct client *c)
{
	const struct h2_stream	*s = c->h2s;

	return s->in_eof && s->rb_pos == s->rb_end;
}

static int
h2_body_more(struct client *c, int keep_head)
{
	struct h2_stream	*s = c->h2s;

	(void)keep_head;
	if (s->rb_pos < s->rb_end || s->in_eof)
		return BODY_MORE_GOT;
	if (stream_gone(s)) {
		client_close(c);
		return BODY_MORE_CLOSED;
	}
	c->rd_ready = 0;
	return BODY_MORE_WAIT;
}

static void
h2_body_nop(struct client *c)
{
	(void)c;
}

/* Nothing of the body was taken yet (r->replayable): from its start again. */
static void
h2_body_rewind(struct client *c)
{
	struct req	*r = c->r;

	r->body_left = r->chunked ? 0 : (r->cl > 0 ? r->cl : 0);
	r->req_done = !r->chunked && r->body_left == 0;
	r->body_seen = 0;
}

/* An HTTP/2 client sends its body without waiting for 100 Continue. */
static int
h2_want_body(struct client *c)
{
	(void)c;
	return 0;
}

/*
 * The tail of a final head: the length when known (a client checks the
 * DATA against it), Cache-Status, the end.  No connection fields: the
 * stream's end is END_STREAM.
 */
static void
h2_head_tail(struct strbuf *b, struct req *r, int64_t length)
{
	if (length >= 0) {
		strbuf_str(b, "Content-Length: ");
		strbuf_num(b, length);
		strbuf_str(b, "\r\n");
	}
	if (length != HEAD_INTERIM && r->cstatus[0] != '\0') {
		strbuf_str(b, "Cache-Status: ");
		strbuf_str(b, r->cstatus);
		strbuf_str(b, "\r\n");
	}
	strbuf_str(b, "\r\n");
}

/* DATA frames are the framing: nothing goes in front of a piece. */
static int
h2_chunk_frame(struct req *r, uint64_t n)
{
	r->c_open = 1;
	r->ck_left = n;
	if (n == 0)
		r->c_last = 1;
	return 0;
}

/*
 * The answer's trailer fields, from an HTTP/2 server (up_h2.c): kept
 * until the last DATA, then sent as a trailing HEADERS frame
 * (grpc-status, grpc-message).  Field lines "name: value\r\n".
 */
void
h2_stream_trailers(struct client *c, const char *p, size_t n)
{
	struct h2_stream	*s = c->h2s;

	if (s == NULL || s->nobody || n == 0 || s->tr != NULL ||
	    (s->tr = malloc(n)) == NULL)
		return;
	memcpy(s->tr, p, n);
	s->tr_len = n;
}

/* The session asks for the answer's next DATA bytes (then its trailers). */
static ssize_t
h2_source(nghttp2_session *ss, int32_t id, uint8_t *buf, size_t len,
    uint32_t *flags, nghttp2_data_source *src, void *arg)
{
	struct h2_stream	*s = src->ptr;
	ssize_t			 n;
	int			 rc;

	(void)id;
	(void)arg;
	n = h2_data_drain(buf, len, s->ob, &s->ob_pos, &s->ob_end, s->out_eof,
	    flags);
	if (n > 0 && s->carrier != NULL && !s->carrier->wr_ready)
		h2_stream_wake(s, 0, 1);
	if (n == NGHTTP2_ERR_DEFERRED)
		s->deferred = 1;
	else if ((*flags & NGHTTP2_DATA_FLAG_EOF) && s->tr != NULL) {
		rc = h2_trailers_submit(ss, s->id, s->tr, s->tr_len);
		free(s->tr);
		s->tr = NULL;
		if (rc == 0)
			*flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
	}
	return n;
}

/* The answer's head is whole in s->rh: send it as HEADERS.  -1: bad. */
static int
head_submit(struct h2_stream *s)
{
	struct http_limits	 lim;
	struct http_response	 rs;
	nghttp2_data_provider	 prd;
	char			 st[4];
	size_t			 i, k, j;

	if (rhdrs == NULL || rmax < req_limits.max_headers + 32) {
		rmax = req_limits.max_headers + resp_limits.max_headers + 32;
		free(rhdrs);
		free(rnv);
		rhdrs = calloc(rmax, sizeof(*rhdrs));
		rnv = calloc(rmax + 1, sizeof(*rnv));
		if (rhdrs == NULL || rnv == NULL) {
			rmax = 0;
			return -1;
		}
	}
	lim.max_request_line = bufsize;
	lim.max_head = bufsize;
	lim.max_headers = rmax;
	memset(&rs, 0, sizeof(rs));
	if (http_parse_response(s->rh, s->rh_len, &lim, &rs, rhdrs) !=
	    HTTP_PARSE_OK)
		return -1;
	snprintf(st, sizeof(st), "%03d", rs.status);
	rnv[0].name = (uint8_t *)":status";
	rnv[0].namelen = 7;
	rnv[0].value = (uint8_t *)st;
	rnv[0].valuelen = 3;
	rnv[0].flags = NGHTTP2_NV_FLAG_NONE;
	for (i = 0, k = 1; i < rs.nheaders; i++) {
		if (h2_hop_field(rhdrs[i].name, rhdrs[i].name_len))
			continue;
		for (j = 0; j < rhdrs[i].name_len; j++)
			((char *)rhdrs[i].name)[j] =
			    (char)tolower((unsigned char)rhdrs[i].name[j]);
		rnv[k].name = (uint8_t *)rhdrs[i].name;
		rnv[k].namelen = rhdrs[i].name_len;
		rnv[k].value = (uint8_t *)rhdrs[i].value;
		rnv[k].valuelen = rhdrs[i].value_len;
		rnv[k++].flags = NGHTTP2_NV_FLAG_NONE;
	}
	s->nobody = !http_response_has_body(s->method, rs.status) ||
	    rs.content_length == 0;
	prd.source.ptr = s;
	prd.read_callback = h2_source;
	if (nghttp2_submit_response(s->conn->s, s->id, rnv, k,
	    s->nobody ? NULL : &prd) != 0)
		return -1;
	s->head_out = 1;
	buf_put(s->rh);
	s->rh = NULL;
	h2_kick(s->conn);
	return 0;
}

/*
 * Take the answer's head bytes (into s->rh until its blank line) from
 * p, n.  Returns the bytes taken, or -1.
 */
static ssize_t
head_take(struct h2_stream *s, const char *p, size_t n)
{
	size_t	 from, k;
	char	*e;

	if (s->rh == NULL && (s->rh = buf_get()) == NULL)
		return -1;
	from = s->rh_len > 3 ? s->rh_len - 3 : 0;
	k = bufsize - s->rh_len < n ? bufsize - s->rh_len : n;
	if (k == 0)
		return -1;
	memcpy(s->rh + s->rh_len, p, k);
	e = memmem(s->rh + from, s->rh_len + k - from, "\r\n\r\n", 4);
	if (e == NULL) {
		s->rh_len += k;
		return (ssize_t)k;
	}
	k = (size_t)(e + 4 - s->rh) - s->rh_len;
	s->rh_len += k;
	if (head_submit(s) == -1)
		return -1;
	return (ssize_t)k;
}

static ssize_t
h2_send(struct client *c, const struct iovec *iov, int niov)
{
	struct h2_stream	*s = c->h2s;
	const char		*p;
	size_t			 n, room, total = 0;
	ssize_t			 k;
	int			 i;

	if (stream_gone(s))
		return -1;
	for (i = 0; i < niov; i++) {
		p = iov[i].iov_base;
		n = iov[i].iov_len;
		while (n > 0 && !s->head_out) {
			if ((k = head_take(s, p, n)) == -1) {
				log_errorx("client %s: HTTP/2: an answer's head "
				    "could not be encoded", client_ip(c));
				return -1;
			}
			p += k;
			n -= (size_t)k;
			total += (size_t)k;
		}
		if (n == 0)
			continue;
		if (s->nobody) {
			total += n;	/* a HEAD's or a 304's: none goes */
			continue;
		}
		if (s->ob == NULL && (s->ob = buf_get()) == NULL)
			return -1;
		if (s->ob_pos > 0 && s->ob_pos == s->ob_end)
			s->ob_pos = s->ob_end = 0;
		room = bufsize - s->ob_end;
		if (room < n && s->ob_pos > 0) {
			memmove(s->ob, s->ob + s->ob_pos, s->ob_end - s->ob_pos);
			s->ob_end -= s->ob_pos;
			s->ob_pos = 0;
			room = bufsize - s->ob_end;
		}
		k = (ssize_t)(room < n ? room : n);
		memcpy(s->ob + s->ob_end, p, (size_t)k);
		s->ob_end += (uint32_t)k;
		total += (size_t)k;
		if (s->deferred && k > 0) {
			s->deferred = 0;
			nghttp2_session_resume_data(s->conn->s, s->id);
			h2_kick(s->conn);
		}
		if ((size_t)k < n) {
			c->wr_ready = 0;
			break;
		}
	}
	return (ssize_t)total;
}

/*
 * The exchange is over: the answer ends with the last of ob (END_STREAM),
 * and the carrier goes.  A client still sending a body it does not need
 * any more gets its window back as the bytes come (h2.c's on_data).
 */
static enum step
h2_finish(struct client *c, int keep_alive, int body_unread)
{
	struct h2_stream	*s = c->h2s;

	(void)keep_alive;
	(void)body_unread;
	s->done = 1;
	s->out_eof = 1;
	if (!s->head_out && !stream_gone(s))
		nghttp2_submit_rst_stream(s->conn->s, NGHTTP2_FLAG_NONE, s->id,
		    NGHTTP2_INTERNAL_ERROR);
	else if (s->deferred && !stream_gone(s)) {
		s->deferred = 0;
		nghttp2_session_resume_data(s->conn->s, s->id);
	}
	h2_kick(s->conn);
	client_close(c);
	return STEP_CLOSED;
}

/*
 * client_close() of a carrier: the stream loses its exchange.  Cut short
 * (not finished): the client is told with RST_STREAM.  The stream itself
 * goes when nghttp2 is done with it, or now if it was.
 */
void
h2_carrier_closed(struct client *c)
{
	struct h2_stream	*s = c->h2s;
	struct h2_conn		*h = s->conn;

	c->h2s = NULL;
	s->carrier = NULL;
	if (s->closed) {
		h2_stream_free(s);
		return;
	}
	if (h->closing)
		return;
	if (s->rb_end > s->rb_pos)
		nghttp2_session_consume(h->s, s->id, s->rb_end - s->rb_pos);
	s->rb_pos = s->rb_end = 0;
	if (!s->done)
		nghttp2_submit_rst_stream(h->s, NGHTTP2_FLAG_NONE, s->id,
		    s->reset ? NGHTTP2_CANCEL : NGHTTP2_INTERNAL_ERROR);
	h2_kick(h);
}

/* The client certificate's subject, for a stream's exchange. */
const char *
h2_subject(const struct client *c)
{
	const struct client	*pc = c->h2s->conn->c;

	return pc->tls != NULL ? pc->tls->subject : NULL;
}

const struct front_ops h2_ops = {
	.name = "h2",
	.reader = 1,
	.body_next = h2_body_next,
	.body_src_end = h2_body_src_end,
	.body_more = h2_body_more,
	.body_rest = h2_body_nop,
	.body_rewind = h2_body_rewind,
	.want_body = h2_want_body,
	.status_line = h1_status_line,
	.head_tail = h2_head_tail,
	.chunk_frame = h2_chunk_frame,
	.send = h2_send,
	.finish = h2_finish,
};
