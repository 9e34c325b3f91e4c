/*
 * compress.c: response compression, gzip (zlib) and brotli, as nginx's
 * gzip and brotli modules do it, at the output of an exchange.
 *
 * The cache keeps what the backend sent; each answer (a miss streamed
 * from the backend, or a hit from shared memory) goes through its own
 * encoder on its way to the client, so one stored object serves every
 * client whatever it accepts, without another fetch.  The decision is
 * made once the answer's head is known (compress_answer), from the
 * request's Accept-Encoding (read when the request is routed:
 * compress_request) and the answer's fields; then the exchange's front
 * end (r->fe) is swapped for a wrapper of it whose send() takes the
 * head's bytes as they are and the body's bytes through the encoder
 * into a buffer of its own (one buffer of bufsize bytes: the answer
 * streams in bounded memory, and what the client does not take holds
 * the exchange as any short send does), framed in chunks for HTTP/1.1
 * clients, as plain DATA for HTTP/2.  compress_end, before the exchange
 * ends, flushes the encoder and writes the last chunk.
 *
 * Never compressed: HTTP/1.0 clients (nginx's gzip_http_version 1.1),
 * HEAD and bodiless answers, requests with Range, statuses other than
 * 200, 403 and 404 (nginx's choice), answers with Content-Encoding or
 * Content-Range, Cache-Control: no-transform, media types not listed,
 * bodies known to be shorter than compress_min_length.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/uio.h>

#include <brotli/encode.h>
#include <zlib.h>

#include "common/acceptenc.h"
#include "common/http.h"
#include "common/log.h"
#include "common/strbuf.h"
#include "worker/compress.h"
#include "worker/proxy_int.h"

#define CZ_HDR	16	/* room in front of the output for a chunk's size line */
#define CZ_TAIL	8	/* ... and behind it for "\r\n" and the last-chunk */
#define CZ_BR_LGWIN 19	/* brotli's window: 512 KiB, nginx's brotli_window */

struct compress {
	const struct front_ops	*fe;		/* the front end's own table */
	int			 coding;	/* CODING_GZIP, CODING_BR */
	z_stream		 z;
	BrotliEncoderState	*br;
	char			*ob;		/* output: a buffer (bufsize) */
	size_t			 ob_pos, ob_end;
	size_t			 head_left;	/* head bytes still to pass as they are */
	unsigned		 chunked:1;	/* HTTP/1.1: framed in chunks */
	unsigned		 zinit:1;
	unsigned		 done:1;	/* the encoder's end is in ob */
	uint64_t		 in, out;	/* bytes into and out of the encoder */
};

static ssize_t	 cz_send(struct client *, const struct iovec *, int);
static int	 cz_chunk_frame(struct req *, uint64_t);
static int	 cz_fill(struct compress *, const char *, size_t, int, size_t *);
static ssize_t	 cz_flush(struct client *, struct compress *);

/* The wrappers of h1_ops and h2_ops: made from them on first use. */
static struct front_ops	 cz_h1_ops, cz_h2_ops;

/* Parsing a stored head on a hit (the hit path's own array). */
static struct http_header *cz_hdrs;

/*
 * The request was routed to a route with compress = on: what its
 * Accept-Encoding asks for, and whether it may be compressed at all.
 */
void
compress_request(struct req *r)
{
	const struct conf_compress	*cc = &r->route->compress;
	const struct http_request	*rq = &r->rq;
	struct acceptenc		 ae;
	size_t				 i;
	int				 range = 0;

	r->cz_ok = 0;
	if (!cc->on || rq->method == HTTP_M_HEAD || !r->fe->reader ||
	    (r->version != 11 && r->version != 20))
		return;
	acceptenc_init(&ae);
	for (i = 0; i < rq->nheaders; i++) {
		const struct http_header *h = &rq->headers[i];

		if (h->name_len == 15 && http_name_eq(h, "accept-encoding"))
			acceptenc_parse(&ae, h->value, h->value_len);
		else if (h->name_len == 5 && http_name_eq(h, "range"))
			range = 1;
	}
	if (range)
		return;
	r->cz_ok = 1;
	r->cz_want = (unsigned)acceptenc_pick(&ae, cc->algos);
}

/* Cache-Control lists no-transform. */
static int
no_transform(const struct http_header *h)
{
	const char	*v = h->value, *e = h->value + h->value_len;

	for (; e - v >= 12; v++)
		if (strncasecmp(v, "no-transform", 12) == 0)
			return 1;
	return 0;
}

/* Vary lists Accept-Encoding or "*". */
static int
vary_covers(const struct http_header *h)
{
	const char	*v = h->value, *e = h->value + h->value_len;
	const char	*p;

	for (p = v; p < e; p++)
		if (*p == '*')
			return 1;
	for (; e - v >= 15; v++)
		if (strncasecmp(v, "accept-encoding", 15) == 0)
			return 1;
	return 0;
}

/* Start the encoder of coding; -1 when it cannot be had. */
static int
cz_begin(struct compress *cz, const struct conf_compress *cc, int coding,
    int64_t length)
{
	cz->coding = coding;
	if (coding == CODING_GZIP) {
		/* windowBits 15 + 16: a gzip wrapper; memLevel 8 (256 KiB). */
		if (deflateInit2(&cz->z, cc->level, Z_DEFLATED, 15 + 16, 8,
		    Z_DEFAULT_STRATEGY) != Z_OK)
			return -1;
		cz->zinit = 1;
		return 0;
	}
	if ((cz->br = BrotliEncoderCreateInstance(NULL, NULL, NULL)) == NULL)
		return -1;
	(void)BrotliEncoderSetParameter(cz->br, BROTLI_PARAM_QUALITY,
	    (uint32_t)cc->br_level);
	(void)BrotliEncoderSetParameter(cz->br, BROTLI_PARAM_LGWIN, CZ_BR_LGWIN);
	if (length > 0 && length < (1 << 30))
		(void)BrotliEncoderSetParameter(cz->br, BROTLI_PARAM_SIZE_HINT,
		    (uint32_t)length);
	return 0;
}

/*
 * An answer's head is known (fields h, status, body length or -1), the
 * request's r->cz_ok set: whether it gets Vary (r->cz_vary), and
 * whether it is compressed (1: r->cz is its encoder, r->fe the
 * wrapper).  Called before the head is built.
 */
int
compress_answer(struct client *c, const struct http_header *h, size_t nh,
    int status, int64_t length)
{
	struct req			*r = c->r;
	const struct conf_compress	*cc = &r->route->compress;
	struct compress			*cz;
	size_t				 i;
	int				 typed = 0, varied = 0;

	r->cz_vary = 0;
	if (!r->cz_ok || r->cz != NULL || !r->fe->reader ||
	    (status != 200 && status != 403 && status != 404))
		return 0;
	for (i = 0; i < nh; i++) {
		if (h[i].name_len == 16 && http_name_eq(&h[i], "content-encoding")) {
			if (h[i].value_len != 8 ||
			    strncasecmp(h[i].value, "identity", 8) != 0)
				return 0;	/* already encoded */
		} else if (h[i].name_len == 13 &&
		    http_name_eq(&h[i], "content-range"))
			return 0;
		else if (h[i].name_len == 13 && http_name_eq(&h[i], "cache-control") &&
		    no_transform(&h[i]))
			return 0;
		else if (h[i].name_len == 12 && http_name_eq(&h[i], "content-type"))
			typed = conf_compress_type_ok(cc, h[i].value, h[i].value_len);
		else if (h[i].name_len == 4 && http_name_eq(&h[i], "vary") &&
		    vary_covers(&h[i]))
			varied = 1;
	}
	if (!typed || (length >= 0 && length < cc->min_length))
		return 0;
	r->cz_vary = !varied;
	if (r->cz_want == CODING_IDENTITY)
		return 0;
	if ((cz = calloc(1, sizeof(*cz))) == NULL ||
	    (cz->ob = buf_get()) == NULL) {
		free(cz);
		return 0;		/* sent as it is */
	}
	cz->fe = r->fe;
	cz->chunked = c->h2s == NULL;
	if (cz_begin(cz, cc, r->cz_want, length) == -1) {
		log_warnx("client %s: no %s encoder: answered uncompressed",
		    client_ip(c), r->cz_want == CODING_GZIP ? "gzip" : "brotli");
		r->cz = cz;
		compress_free(r);
		return 0;
	}
	if (cz_h1_ops.send == NULL) {
		cz_h1_ops = h1_ops;
		cz_h1_ops.send = cz_send;
		cz_h1_ops.chunk_frame = cz_chunk_frame;
		cz_h2_ops = h2_ops;
		cz_h2_ops.send = cz_send;
		cz_h2_ops.chunk_frame = cz_chunk_frame;
	}
	r->cz = cz;
	r->fe = cz->chunked ? &cz_h1_ops : &cz_h2_ops;
	shm_stat_inc(&worker.stats->compressed);
	return 1;
}

/*
 * A backend's field on its way to a compressed answer (the miss path's
 * head): 1 when handled here (ETag weakened, Accept-Ranges dropped).
 */
int
compress_field(struct req *r, struct strbuf *b, const struct http_header *h)
{
	if (r->cz == NULL)
		return 0;
	if (h->name_len == 13 && http_name_eq(h, "accept-ranges"))
		return 1;
	if (h->name_len == 4 && http_name_eq(h, "etag") &&
	    !(h->value_len >= 2 && h->value[0] == 'W' && h->value[1] == '/')) {
		strbuf_str(b, "ETag: W/");
		strbuf_add(b, h->value, h->value_len);
		strbuf_str(b, "\r\n");
		return 1;
	}
	return 0;
}

/*
 * The same for a stored head copied into h[0..hl) (the hit path), room
 * up to cap: the new length.
 */
size_t
compress_head_fix(struct req *r, char *h, size_t hl, size_t cap)
{
	char	*p, *end, *v;

	if (r->cz == NULL)
		return hl;
	for (p = memchr(h, '\n', hl); p != NULL && p + 1 < h + hl;
	    p = memchr(p + 1, '\n', (size_t)(h + hl - p - 1))) {
		p++;
		end = h + hl;
		if (end - p >= 14 && strncasecmp(p, "accept-ranges:", 14) == 0) {
			char *eol = memchr(p, '\n', (size_t)(end - p));

			if (eol == NULL)
				break;
			memmove(p, eol + 1, (size_t)(end - eol - 1));
			hl -= (size_t)(eol + 1 - p);
			p--;		/* look at what moved here */
			continue;
		}
		if (end - p < 5 || strncasecmp(p, "etag:", 5) != 0)
			continue;
		for (v = p + 5; v < end && (*v == ' ' || *v == '\t'); v++)
			;
		if (end - v >= 2 && v[0] == 'W' && v[1] == '/')
			continue;
		if (hl + 2 > cap)
			break;
		memmove(v + 2, v, (size_t)(end - v));
		v[0] = 'W';
		v[1] = '/';
		hl += 2;
	}
	return hl;
}

/* The fields compression adds to a head, before its tail. */
void
compress_fields(struct req *r, struct strbuf *b)
{
	if (r->cz != NULL)
		strbuf_str(b, r->cz->coding == CODING_GZIP ?
		    "Content-Encoding: gzip\r\n" : "Content-Encoding: br\r\n");
	if (r->cz_vary)
		strbuf_str(b, "Vary: Accept-Encoding\r\n");
}

/* The head built for a compressed answer is its next n bytes to send. */
void
compress_head_len(struct req *r, size_t n)
{
	if (r->cz != NULL)
		r->cz->head_left = n;
}

/*
 * Encode in[0..len) (finish: the end) into cz->ob, which is empty: at
 * most one chunk of output.  *used: input bytes taken.  0, or -1 when the
 * encoder failed.
 */
static int
cz_fill(struct compress *cz, const char *in, size_t len, int finish,
    size_t *used)
{
	size_t		 avail = bufsize - CZ_HDR - CZ_TAIL, out, left = len;
	const uint8_t	*nin = (const uint8_t *)in;
	uint8_t		*nout = (uint8_t *)cz->ob + CZ_HDR;
	char		 hex[CZ_HDR];
	int		 rc, hl;

	if (cz->coding == CODING_GZIP) {
		cz->z.next_in = (Bytef *)(uintptr_t)in;
		cz->z.avail_in = (uInt)len;
		cz->z.next_out = nout;
		cz->z.avail_out = (uInt)avail;
		rc = deflate(&cz->z, finish ? Z_FINISH : Z_NO_FLUSH);
		if (rc == Z_STREAM_END)
			cz->done = 1;
		else if (rc != Z_OK && rc != Z_BUF_ERROR)
			return -1;
		left = cz->z.avail_in;
		out = avail - cz->z.avail_out;
	} else {
		size_t	 ao = avail;

		if (!BrotliEncoderCompressStream(cz->br, finish ?
		    BROTLI_OPERATION_FINISH : BROTLI_OPERATION_PROCESS,
		    &left, &nin, &ao, &nout, NULL))
			return -1;
		if (finish && BrotliEncoderIsFinished(cz->br))
			cz->done = 1;
		out = avail - ao;
	}
	*used = len - left;
	cz->in += *used;
	cz->out += out;
	cz->ob_pos = cz->ob_end = CZ_HDR;
	if (out > 0) {
		cz->ob_end += out;
		if (cz->chunked) {
			hl = snprintf(hex, sizeof(hex), "%zx\r\n", out);
			cz->ob_pos -= (size_t)hl;
			memcpy(cz->ob + cz->ob_pos, hex, (size_t)hl);
			memcpy(cz->ob + cz->ob_end, "\r\n", 2);
			cz->ob_end += 2;
		}
	}
	if (cz->done && cz->chunked) {
		memcpy(cz->ob + cz->ob_end, "0\r\n\r\n", 5);
		cz->ob_end += 5;
	}
	return 0;
}

/* Send what ob holds: what is left in it (0: all sent), or -1 (gone). */
static ssize_t
cz_flush(struct client *c, struct compress *cz)
{
	struct iovec	 iov;
	ssize_t		 n;

	if (cz->ob_pos == cz->ob_end)
		return 0;
	iov.iov_base = cz->ob + cz->ob_pos;
	iov.iov_len = cz->ob_end - cz->ob_pos;
	if ((n = cz->fe->send(c, &iov, 1)) == -1)
		return -1;
	cz->ob_pos += (size_t)n;
	return (ssize_t)(cz->ob_end - cz->ob_pos);
}

/*
 * The wrapper's send: the head's bytes (cz->head_left) as they are,
 * then the body's through the encoder.  Returns the bytes taken (fewer
 * than offered only when the front end took less of ours: c->wr_ready
 * is 0 then), or -1.
 */
static ssize_t
cz_send(struct client *c, const struct iovec *iov, int niov)
{
	struct compress	*cz = c->r->cz;
	struct iovec	 hv[2];
	size_t		 taken = 0, off = 0, k, used;
	ssize_t		 n, left;
	int		 i = 0, nh = 0;

	/* The head, as it is (in at most the first two pieces). */
	for (k = cz->head_left; k > 0 && nh < niov && nh < 2; nh++) {
		hv[nh].iov_base = iov[nh].iov_base;
		hv[nh].iov_len = iov[nh].iov_len < k ? iov[nh].iov_len : k;
		k -= hv[nh].iov_len;
	}
	if (nh > 0) {
		if ((n = cz->fe->send(c, hv, nh)) == -1)
			return -1;
		cz->head_left -= (size_t)n;
		taken = (size_t)n;
		if (cz->head_left > 0)
			return (ssize_t)taken;
		/* Where the body starts in iov. */
		for (k = taken; i < niov && k >= iov[i].iov_len; i++)
			k -= iov[i].iov_len;
		off = k;
	}
	for (; i < niov; i++, off = 0) {
		const char *p = (const char *)iov[i].iov_base;

		for (;;) {
			if ((left = cz_flush(c, cz)) == -1)
				return -1;
			if (left > 0)
				return (ssize_t)taken;	/* wr_ready is 0 */
			if (off == iov[i].iov_len)
				break;
			if (cz_fill(cz, p + off, iov[i].iov_len - off, 0, &used) == -1) {
				log_warnx("client %s: compressing the answer failed",
				    client_ip(c));
				return -1;
			}
			if (used == 0 && cz->ob_pos == cz->ob_end)
				return -1;	/* no progress: cannot be */
			off += used;
			taken += used;
		}
	}
	return (ssize_t)taken;
}

/* As HTTP/2's: the chunks are made by cz_send, nothing goes in front. */
static int
cz_chunk_frame(struct req *r, uint64_t n)
{
	r->c_open = 1;
	r->ck_left = n;
	if (n == 0)
		r->c_last = 1;
	return 0;
}

/*
 * The body is all through the encoder: its end (and the last chunk) to
 * the client.  STEP_NEXT when out (the front end's own table is back
 * in r->fe), STEP_WAIT, or STEP_CLOSED.
 */
enum step
compress_end(struct client *c)
{
	struct req	*r = c->r;
	struct compress	*cz = r->cz;
	ssize_t		 left;
	size_t		 used;

	if (r->fe->send != cz_send)
		return STEP_NEXT;	/* nobody reads it any more */
	for (;;) {
		if (cz->ob_pos < cz->ob_end && !c->wr_ready) {
			c->wait = W_CL_WRITE;
			return STEP_WAIT;
		}
		if ((left = cz_flush(c, cz)) == -1) {
			client_close(c);
			return STEP_CLOSED;
		}
		if (left > 0) {
			c->wait = W_CL_WRITE;
			return STEP_WAIT;
		}
		if (cz->done)
			break;
		if (cz_fill(cz, NULL, 0, 1, &used) == -1) {
			log_warnx("client %s: compressing the answer failed", client_ip(c));
			client_close(c);
			return STEP_CLOSED;
		}
	}
	r->fe = cz->fe;
	return STEP_NEXT;
}

void
compress_free(struct req *r)
{
	struct compress	*cz = r->cz;

	if (cz == NULL)
		return;
	if (r->fe->send == cz_send)
		r->fe = cz->fe;
	if (cz->in > 0) {
		shm_stat_add(&worker.stats->compress_in, cz->in);
		shm_stat_add(&worker.stats->compress_out, cz->out);
	}
	if (cz->zinit)
		deflateEnd(&cz->z);
	if (cz->br != NULL)
		BrotliEncoderDestroyInstance(cz->br);
	buf_put(cz->ob);
	free(cz);
	r->cz = NULL;
}

/*
 * A hit: the stored head in h[0..hl) (room up to cap) is the answer's;
 * decide as compress_answer does, and fix the head for a compressed
 * answer.  Returns its new length.
 */
size_t
compress_hit(struct client *c, char *h, size_t hl, size_t cap, int64_t length)
{
	struct http_response	 rs;

	if (cz_hdrs == NULL && (cz_hdrs = calloc(resp_limits.max_headers,
	    sizeof(*cz_hdrs))) == NULL)
		return hl;
	memset(&rs, 0, sizeof(rs));
	if (http_parse_response(h, hl, &resp_limits, &rs, cz_hdrs) != 0)
		return hl;
	if (compress_answer(c, rs.headers, rs.nheaders, rs.status, length) == 1)
		hl = compress_head_fix(c->r, h, hl, cap);
	return hl;
}
