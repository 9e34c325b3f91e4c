/*
 * exchange.h: the seam between a front end (the client side's codec:
 * HTTP/1 in worker/h1.c, HTTP/2 in worker/h2.c and h2_stream.c, a
 * cache refresh with no client in worker/refresh.c) and the exchange
 * (route, ACL, cache, upstream, deliver, log: request.c, httpcache*.c, upstream.c,
 * forward.c, reply.c, status.c, accesslog.c).  Included by proxy_int.h.
 *
 * One exchange is one request and its answer: a struct req (proxy_int.h).
 * A front end makes one per request it decodes (HTTP/1: one at a time per
 * connection; HTTP/2: one per stream, several at once), sets r->fe to its
 * table below, and the exchange reaches the client only through that
 * table.  The carrier of an exchange is a struct client (its state, the
 * timer it waits on, client_ip(c), c->ls): the HTTP/2 front end gives each
 * stream's exchange such a carrier with no socket of its own (c->h2s,
 * io.fd -1), as the refresh front end does, and runs it from the
 * connection's step when its stream has bytes or room for it.
 *
 * The internal message, and who owns what:
 *
 * Request head.  r->rq (struct http_request, common/http.h) and its
 * fields r->fields[], filled by the front end before the exchange
 * begins; names and values are validated (common/http.c's strict rules),
 * and rq's strings point into memory the front end keeps unchanged for
 * the exchange's life (HTTP/1: the head stays in c->in at r->head_off,
 * r->head_len; only an unbuffered body streamed upstream may overwrite
 * it once r->replayable is 0; HTTP/2: the stream's fields, checked by
 * nghttp2, are written as an HTTP/1.1 head into the carrier's c->in and
 * parsed there, rq.version 20).  The exchange reads them and never frees
 * them; rq.path may point to r->np, the normalized path, the exchange's.
 * The field-line syntax is thus still the exchange's one request syntax
 * (the cache keeps and re-parses request heads in it).
 *
 * Request body.  A stream of decoded data bytes (no transfer framing)
 * taken with fe->body_next(); fe->body_src_end() says the end is in;
 * its trailer fields, when kept (pass_request_trailers), are in r->trb
 * as field lines ("Name: value\r\n" each, then "\r\n"; malloc'ed, the
 * exchange's, freed by req_put), r->trb_len bytes.  The bytes fe->
 * body_next() returns stay valid until the next call to the table.
 *
 * Response.  The head is built into r->hb (a buffer of the exchange,
 * given back by req_put): the front end writes the status
 * (fe->status_line), the exchange the field block, hop-by-hop fields
 * already removed (headers.c's one list) and validated, as field lines
 * ("Name: value\r\n", the syntax the cache stores them in), and the
 * front end ends it (fe->head_tail: framing, the connection's fate, the
 * end of the head).  The HTTP/2 front end writes an HTTP/1.1 status line
 * too, and its send() parses the whole head back (common/http.c's
 * response parser), drops the hop-by-hop fields and encodes the rest as
 * HEADERS.  A stored head replayed from the cache comes with the status
 * line it was stored with; the exchange puts another one in front
 * (fe->status_line) when the status differs.  The body follows as data
 * bytes the exchange owns (its upstream buffer r->ub, or the shared
 * cache object, pinned until req_put) and hands to fe->send() with the
 * head's unsent rest in front; what fe->send() took is the front end's
 * (copied to the kernel or TLS, or to an HTTP/2 stream's buffer).  Two
 * pieces of HTTP/1 framing still come with the body, both for HTTP/1.1
 * clients only (r->version 11): a chunked backend
 * answer goes through as the backend framed it (r->resp_chunked without
 * r->dechunk: chunk lines, extensions and trailers pass unchanged, in
 * one copy-free window of r->ub), and an object of unknown length sent
 * from the cache as it grows is framed by chunk_frame() into r->hb
 * (r->c_chunk; HTTP/2's chunk_frame writes nothing: DATA frames are the
 * framing).  Otherwise (r->dechunk: an HTTP/1.0 or HTTP/2 client) the
 * body is plain data.  The end of the answer: fe->finish().  Trailer
 * fields of an answer from an HTTP/2 server (protocol = h2, up_h2*.c)
 * reach an HTTP/2 client through h2_stream_trailers(), called as the
 * exchange gives its upstream stream back (upconn_release), before
 * fe->finish(); an HTTP/1.1 client gets them in the chunked body.
 *
 * Backpressure.  fe->send() takes what it can now and says how much; a
 * short count means "wait": the front end has cleared c->wr_ready and
 * the exchange waits for W_CL_WRITE.
 */
#ifndef PORTICO_EXCHANGE_H
#define PORTICO_EXCHANGE_H

#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

struct client;
struct req;
struct strbuf;
enum step;

/* fe->body_more()'s answers other than a status to answer with. */
#define BODY_MORE_GOT	 1	/* bytes came: body_next() again */
#define BODY_MORE_WAIT	 0	/* none for now: wait for W_CL_READ */
#define BODY_MORE_CLOSED (-1)	/* the client is gone (closed) */

struct front_ops {
	const char	*name;		/* "h1", "h2", "refresh" */
	/*
	 * Someone reads the answer.  0: the answer is for the cache alone
	 * (send() takes and drops everything; a delivery with nothing left
	 * to store may stop early; no access log line, no request count).
	 */
	unsigned	 reader:1;

	/*
	 * Request body.  body_next: at most max decoded data bytes in *p,
	 * *n (*n 0: more are needed, or the body is all in); 0, or the
	 * status to answer with (400 bad framing, 413 over max_body_size,
	 * 500).  body_src_end: the whole body is decoded.  body_more: read
	 * more from the client; keep_head 1 while the request head must
	 * stay where it is (buffering a body), 0 when it may go (streaming:
	 * r->replayable is cleared then); BODY_MORE_* or a status.
	 * body_rest: the whole body was taken before the exchange went on
	 * (request_buffering): what the client sent after it is kept for
	 * the next request.  body_rewind: the request goes again, its body
	 * not buffered but still whole in the front end's buffer
	 * (r->replayable): decode it again from its start.  want_body: the client waits to be told to send
	 * its body (Expect: 100-continue): tell it; 0, or -1 when it is
	 * gone (closed).
	 */
	int	 (*body_next)(struct client *c, size_t max, const char **p,
		    size_t *n);
	int	 (*body_src_end)(const struct client *c);
	int	 (*body_more)(struct client *c, int keep_head);
	void	 (*body_rest)(struct client *c);
	void	 (*body_rewind)(struct client *c);
	int	 (*want_body)(struct client *c);

	/*
	 * Response head.  The exchange writes the fields; the front end the
	 * rest.  status_line: what starts a head (HTTP/1: "HTTP/1.1 200
	 * OK\r\n"), into b.  head_tail: what ends a final one, after the
	 * exchange's fields: the framing for length (>= 0 a Content-Length,
	 * or HEAD_CHUNKED, HEAD_NO_LENGTH, HEAD_INTERIM for a 1xx,
	 * proxy_int.h), the connection's fate (r->keep_alive, which it may
	 * clear: a worker that quits), Cache-Status (r->cstatus) and the end
	 * of the head.  chunk_frame: the framing in front of the next n body
	 * bytes of an answer of unknown length (0: the last), put behind
	 * what is left of r->hb; it sets r->ck_left, r->c_open, r->c_last;
	 * -1 when hb has no room yet.
	 */
	void	 (*status_line)(struct strbuf *b, int status, const char *reason,
		    size_t reason_len);
	void	 (*head_tail)(struct strbuf *b, struct req *r, int64_t length);
	int	 (*chunk_frame)(struct req *r, uint64_t n);

	/*
	 * Response.  send: the head's rest and body pieces, in order;
	 * returns the bytes taken (fewer than offered: wait, c->wr_ready is
	 * 0), or -1 when the client is gone (not closed: the caller ends
	 * the exchange, or goes on storing without it).
	 */
	ssize_t	 (*send)(struct client *c, const struct iovec *iov, int niov);

	/*
	 * The exchange is over and logged, its block given back (c->r is
	 * NULL): keep_alive says the answer allows another request,
	 * body_unread that the client may still be sending this one's body.
	 * The front end decides: next request, lingering close, or close.
	 */
	enum step (*finish)(struct client *c, int keep_alive, int body_unread);
};

extern const struct front_ops	 h1_ops;	/* worker/h1.c */
extern const struct front_ops	 refresh_ops;	/* worker/refresh.c */
extern const struct front_ops	 h2_ops;	/* worker/h2_stream.c */

#endif /* PORTICO_EXCHANGE_H */
