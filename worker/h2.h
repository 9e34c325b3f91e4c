/*
 * h2.h: the HTTP/2 front end (libnghttp2 for framing, HPACK and flow
 * control).  A connection that speaks HTTP/2 (ALPN h2 on a TLS listener,
 * the prior-knowledge preface on a plain one, both with http2 = on) is
 * a struct client in CS_H2 with its h2_conn (worker/h2.c: the session,
 * the socket, the limits against abuse).  Each request stream becomes one
 * exchange on a carrier of its own: a struct client with no socket, in
 * the clients list as a refresh's is, whose c->h2s is the stream and
 * whose r->fe is h2_ops (worker/h2_stream.c: the request head rewritten
 * as HTTP/1.1 field lines into the carrier's c->in and parsed there, the
 * body as data under flow control, the answer's head encoded back).
 */
#ifndef PORTICO_H2_H
#define PORTICO_H2_H

#include <stdint.h>
#include <stddef.h>

#include <nghttp2/nghttp2.h>

#include "worker/exchange.h"

struct client;
struct h2_conn;
struct http_response;
struct strbuf;

/* CONTINUATION frames after one HEADERS frame before it is a flood. */
#define H2_MAX_CONTINUATIONS	8

struct h2_stream {
	int32_t			 id;
	struct h2_conn		*conn;
	struct client		*carrier;	/* the exchange's; NULL once gone */
	struct h2_stream	*next, *prev;
	/* The request head as it comes (freed once it is assembled). */
	char			*hd;		/* pseudo-header values, Host, Cookie */
	char			*fb;		/* other fields, "name: value\r\n" */
	uint32_t		 hd_len, fb_len;
	uint32_t		 m_off, m_len, p_off, p_len, a_off, a_len;
	uint32_t		 h_off, h_len, k_off, k_len;
	uint32_t		 x_off, x_len;	/* :protocol (RFC 8441) */
	char			 wskey[25];	/* Sec-WebSocket-Key sent upstream */
	uint32_t		 list;		/* header list size (RFC 9113 6.5.2) */
	int			 bad;		/* answer with this status instead */
	unsigned		 has_cl:1, has_host:1, has_auth:1, has_cookie:1;
	unsigned		 has_proto:1;	/* extended CONNECT (RFC 8441) */
	unsigned		 tunnel:1;	/* ... answered: a byte tunnel now */
	unsigned		 in_eof:1;	/* END_STREAM came */
	unsigned		 run:1;		/* the carrier has something to do */
	unsigned		 done:1;	/* the exchange finished its answer */
	unsigned		 head_out:1;	/* the response HEADERS are submitted */
	unsigned		 nobody:1;	/* ... without a body */
	unsigned		 out_eof:1;	/* the answer is all in ob */
	unsigned		 deferred:1;	/* the data source waits for ob */
	unsigned		 closed:1;	/* nghttp2 closed the stream */
	unsigned		 reset:1;	/* the client reset it */
	int			 method;	/* enum http_method, for the answer */
	/* The request body from the client, until the exchange takes it. */
	char			*rb;
	uint32_t		 rb_pos, rb_end;
	/* The answer: its head as written, then body bytes until sent. */
	char			*rh;
	uint32_t		 rh_len;
	char			*ob;
	uint32_t		 ob_pos, ob_end;
	/* Trailer fields to end the answer with (h2_stream_trailers). */
	char			*tr;
	size_t			 tr_len;
};

/* The limits of a connection (conf's http2_*, worker/h2_frames.c). */
struct h2_limits {
	int			 max_resets;
	int			 max_control_frames;
	size_t			 max_header_list_size;
	int			 max_concurrent_streams;
	uint32_t		 window;	/* a stream's (buffer_size) */
};

struct h2_conn {
	nghttp2_session		*s;
	struct h2_limits	 lim;
	char			 ip[46];	/* the client's, for the log */
	struct client		*c;		/* the connection's socket */
	struct h2_stream	*streams;
	int			 nstreams;
	unsigned		 kick:1;	/* run the connection's step soon */
	unsigned		 closing:1;	/* being freed: streams just go */
	unsigned		 noread:1;	/* GOAWAY decided: read no more */
	unsigned		 runs:1;	/* some stream has run set */
	uint32_t		 bad;		/* the GOAWAY error code to end with */
	const char		*why;		/* ... and why, for the log */
	const uint8_t		*pend;		/* nghttp2's output not yet in wb */
	size_t			 pend_n;
	char			*wb;		/* output to the socket */
	uint32_t		 wb_pos, wb_end;
	uint64_t		 wdl;		/* output blocked: give up then */
	uint64_t		 idle_since;	/* no stream since */
	uint32_t		 conts;		/* CONTINUATIONs in this header block */
	double			 resets, ctl;	/* abuse buckets (h2.c) */
	uint64_t		 resets_t, ctl_t;
};

/* h2.c */
int		 h2_detect(struct client *c);
enum step	 step_h2(struct client *c);
uint64_t	 h2_deadline(const struct client *c);
enum step	 h2_timeout(struct client *c);
void		 h2_quit(struct client *c);
void		 h2_conn_closed(struct client *c);
void		 h2_kick(struct h2_conn *h);

/* h2_frames.c */
int		 h2_session_new(struct h2_conn *h);
void		 h2_frames_recv(struct h2_conn *h, const uint8_t *p, size_t n);

/* h2_stream.c (the events of h2_frames.c, with h2_stream_gone) */
struct h2_stream *h2_stream_new(struct h2_conn *h, int32_t id);
void		 h2_stream_free(struct h2_stream *s);
int		 h2_stream_field(struct h2_stream *s, const uint8_t *name,
		    size_t nlen, const uint8_t *value, size_t vlen); /* h2_field.c */
int		 h2_stream_trailer(struct h2_stream *s, const uint8_t *name,
		    size_t nlen, const uint8_t *value, size_t vlen);
int		 h2_stream_ready(struct h2_stream *s);
int		 h2_stream_data(struct h2_stream *s, const uint8_t *p, size_t n);
void		 h2_stream_wake(struct h2_stream *s, int rd, int wr);
void		 h2_stream_gone(struct h2_stream *s);
enum step	 h2_stream_start(struct client *c);
void		 h2_carrier_closed(struct client *c);
const char	*h2_subject(const struct client *c);

/* h2_tunnel.c: extended CONNECT (RFC 8441) */
int		 h2_tunnel_head(struct h2_stream *s, struct strbuf *sb);
int		 h2_tunnel_accept_ok(const struct h2_stream *s,
		    const struct http_response *rs);
void		 h2_tunnel_begin(struct client *c);
ssize_t		 h2_tunnel_read(struct client *c, void *buf, size_t len);
void		 h2_tunnel_shut(struct client *c);

#endif /* PORTICO_H2_H */
