/*
 * up_h2.h: what the two files of HTTP/2 to the servers share (up_h2.c:
 * connections, the session, the pool; up_h2_msg.c: a stream's request
 * and answer, HTTP/1.1 on the exchange's side).  Nothing else includes it.
 */
#ifndef PORTICO_UP_H2_H
#define PORTICO_UP_H2_H

#include <stddef.h>
#include <stdint.h>

#include <nghttp2/nghttp2.h>

#include "common/http.h"
#include "worker/event.h"

struct server_rt;
struct tls_conn;
struct upconn;

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
	char			*qt;		/* the request's trailer section */
	uint32_t		 qt_len;
};

/* up_h2.c */
void	 uh2_wake(struct up_h2s *s, int rd, int wr);
int	 uh2_flush(struct up_h2 *h);

/* up_h2_msg.c: the answer as HTTP/1.1 (the session's callbacks). */
int	 uh2_rx_put(struct up_h2s *s, const void *p, size_t n);
int	 uh2_on_header(nghttp2_session *ss, const nghttp2_frame *f,
	    const uint8_t *name, size_t nl, const uint8_t *value, size_t vl,
	    uint8_t flags, void *arg);
int	 uh2_on_data(nghttp2_session *ss, uint8_t flags, int32_t id,
	    const uint8_t *p, size_t n, void *arg);
int	 uh2_head_done(struct up_h2s *s, int end);
int	 uh2_trailers_done(struct up_h2s *s);
void	 uh2_msg_fini(void);

#endif /* PORTICO_UP_H2_H */
