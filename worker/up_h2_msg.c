/*
 * up_h2_msg.c: one stream of HTTP/2 to a server (up_h2.c has the
 * connection), as the exchange sees it: what it writes to its upstream
 * (an HTTP/1.1 head, then the body, plain or chunked) becomes HEADERS
 * and DATA, and the trailer section of a chunked body (what the exchange
 * kept of the client's, pass_request_trailers) a trailing HEADERS frame
 * after the last DATA; the server's HEADERS, DATA and trailers become an HTTP/1.1
 * answer for it to read (chunked when the server gave no
 * content-length, the trailer fields then in the last chunk).  Request
 * bytes are taken only while the stream's buffer has room; the
 * server's DATA gets its window back only as the exchange reads it.
 */
#include "config.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "common/http.h"
#include "worker/h2_data.h"
#include "worker/proxy_int.h"
#include "worker/up_h2.h"

static struct http_header	*rqh;	/* a forwarded head's fields */
static nghttp2_nv		*nv;
static size_t			 nvmax;

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
int
uh2_rx_put(struct up_h2s *s, const void *p, size_t n)
{
	if (n == 0)
		return 0;	/* p may be NULL: no fields came */
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

int
uh2_on_header(nghttp2_session *ss, const nghttp2_frame *f, const uint8_t *name,
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
int
uh2_head_done(struct up_h2s *s, int end)
{
	char		 line[64];
	int		 n;
	const char	*reason = http_status_reason(s->status);

	n = snprintf(line, sizeof(line), "HTTP/1.1 %d %s\r\n", s->status,
	    reason != NULL && *reason != '\0' ? reason : "Unknown");
	if (uh2_rx_put(s, line, (size_t)n) == -1 || uh2_rx_put(s, s->rf, s->rf_len) == -1)
		return -1;
	s->rf_len = 0;
	if (s->status < 200)
		return uh2_rx_put(s, "\r\n", 2);
	s->r_head = 1;
	if (s->r_cl || (end && (s->status == 204 || s->status == 304 ||
	    (s->u != NULL && s->u->owner != NULL && s->u->owner->r != NULL &&
	    s->u->owner->r->method == HTTP_M_HEAD))))
		return uh2_rx_put(s, "\r\n", 2);	/* no body comes */
	if (end) {
		/*
		 * A head alone (gRPC's trailers-only answer): with a length
		 * of 0 an HTTP/2 client gets it as one HEADERS frame with
		 * END_STREAM again, where gRPC looks for its status.
		 */
		s->r_cl = 1;
		return uh2_rx_put(s, "Content-Length: 0\r\n\r\n", 21);
	}
	return uh2_rx_put(s, "Transfer-Encoding: chunked\r\n\r\n", 30);
}

/* The server's trailer fields came (END_STREAM): the last chunk. */
int
uh2_trailers_done(struct up_h2s *s)
{
	if (!s->r_cl) {
		if (uh2_rx_put(s, "0\r\n", 3) == -1 ||
		    uh2_rx_put(s, s->rf, s->rf_len) == -1 || uh2_rx_put(s, "\r\n", 2) == -1)
			return -1;
	}
	free(s->tr);
	if ((s->tr = malloc(s->rf_len + 1)) == NULL)
		return -1;
	if (s->rf_len > 0)
		memcpy(s->tr, s->rf, s->rf_len);
	s->tr_len = s->rf_len;
	s->rf_len = 0;
	return 0;
}

int
uh2_on_data(nghttp2_session *ss, uint8_t flags, int32_t id, const uint8_t *p,
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
		if (uh2_rx_put(s, hex, (size_t)hl) == -1 || uh2_rx_put(s, p, n) == -1 ||
		    uh2_rx_put(s, "\r\n", 2) == -1)
			return NGHTTP2_ERR_CALLBACK_FAILURE;
	} else if (uh2_rx_put(s, p, n) == -1)
		return NGHTTP2_ERR_CALLBACK_FAILURE;
	s->unconsumed += n;
	uh2_wake(s, 1, 0);
	return 0;
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

/* The session asks for the request's next DATA bytes (then its trailers). */
static ssize_t
up_source(nghttp2_session *ss, int32_t id, uint8_t *buf, size_t len,
    uint32_t *flags, nghttp2_data_source *src, void *arg)
{
	struct up_h2s	*s = src->ptr;
	ssize_t		 n;

	(void)id;
	(void)arg;
	n = h2_data_drain(buf, len, s->tx, &s->tx_pos, &s->tx_end, s->body_eof,
	    flags);
	if (n > 0 && s->u != NULL && !s->u->wr_ready)
		uh2_wake(s, 0, 1);
	if (n == NGHTTP2_ERR_DEFERRED)
		s->deferred = 1;
	else if ((*flags & NGHTTP2_DATA_FLAG_EOF) && s->qt_len > 2 &&
	    h2_trailers_submit(ss, s->id, s->qt, s->qt_len) == 0)
		*flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
	return n;
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
	    nv_add(&k, ":authority", 10, rq.host_len > 0 ? rq.host :
	    s->h->srv->conf->addr.text, rq.host_len > 0 ? rq.host_len :
	    strlen(s->h->srv->conf->addr.text)) == -1 ||
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

/*
 * Keep the request's trailer section (what the exchange kept of the
 * client's, pass_request_trailers: field lines, then CRLF) as the chunk
 * parser consumes it: up_source sends it after the last DATA.
 */
static int
qt_keep(struct up_h2s *s, const char *p, size_t n)
{
	if (s->qt == NULL && (s->qt = malloc(REQ_TRAILER_MAX + 2)) == NULL)
		return -1;
	if (s->qt_len + n > REQ_TRAILER_MAX + 2)
		return -1;	/* the chunk parser allows no more */
	memcpy(s->qt + s->qt_len, p, n);
	s->qt_len += (uint32_t)n;
	return 0;
}

/* Take body bytes (decoding chunks) into tx, as far as it has room. */
static ssize_t
body_take(struct up_h2s *s, const char *p, size_t n)
{
	size_t	 room, off, dlen, tl;
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
	tl = s->ck.trailer_len;
	used = http_chunked_parse(&s->ck, p, n, &off, &dlen);
	if (used < 0)
		return -1;
	if (s->ck.trailer_len > tl && qt_keep(s, p + used -
	    (s->ck.trailer_len - tl), s->ck.trailer_len - tl) == -1)
		return -1;
	memcpy(s->tx + s->tx_end, p + off, dlen);
	s->tx_end += (uint32_t)dlen;
	if (s->ck.done)
		s->body_eof = 1;
	return used;
}

/* Take what fits of the exchange's bytes.  0, or -1 (a bad head). */
static int
take(struct up_h2s *s, const struct iovec *iov, int niov, size_t *total)
{
	const char	*p;
	size_t		 n;
	ssize_t		 k;
	int		 i;

	for (i = 0; i < niov; i++) {
		p = iov[i].iov_base;
		n = iov[i].iov_len;
		while (n > 0) {
			k = s->head_done ? body_take(s, p, n) : head_take(s, p, n);
			if (k == -1)
				return -1;
			if (k == 0)
				return 0;	/* full */
			p += k;
			n -= (size_t)k;
			*total += (size_t)k;
		}
	}
	return 0;
}

/*
 * up_writev() of a stream: the exchange's HTTP/1.1 request, as HEADERS
 * and DATA.  Bytes taken, or -1 with errno (EAGAIN: no room, or the
 * connection is not up yet).  A flush may drain tx while the exchange
 * still counts as writable (no wake-up comes then): when nothing was
 * taken and the flush made room, take again before saying EAGAIN.
 */
ssize_t
up_h2_writev(struct upconn *u, const struct iovec *iov, int niov)
{
	struct up_h2s	*s = u->h2s;
	struct up_h2	*h = s->h;
	size_t		 total = 0;
	int		 pass;

	if (h->dead || s->failed || s->closed) {
		errno = h->dead && !h->ready && h->err != 0 ? h->err :
		    s->closed || s->failed ? EPIPE : ECONNRESET;
		return -1;
	}
	if (!h->ready) {
		if (!h->tcp || h->tls != NULL)
			(void)uh2_flush(h);	/* the preface (TLS: the handshake) */
		errno = EAGAIN;
		return -1;
	}
	for (pass = 0; pass < 2 && total == 0 && !h->dead; pass++) {
		if (take(s, iov, niov, &total) == -1) {
			if (s->id > 0)
				nghttp2_submit_rst_stream(h->ss, NGHTTP2_FLAG_NONE,
				    s->id, NGHTTP2_INTERNAL_ERROR);
			errno = EPROTO;
			return -1;
		}
		if (s->deferred && (s->tx_end > s->tx_pos || s->body_eof)) {
			s->deferred = 0;
			nghttp2_session_resume_data(h->ss, s->id);
		}
		h->in_cb++;
		(void)uh2_flush(h);
		h->in_cb--;
		if (s->tx_end - s->tx_pos == bufsize)
			break;		/* still full: a drain wakes it */
	}
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
			(void)uh2_flush(h);
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


void
uh2_msg_fini(void)
{
	free(rqh);
	free(nv);
	rqh = NULL;
	nv = NULL;
	nvmax = 0;
}
