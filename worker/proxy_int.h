/*
 * proxy_int.h: what the files of the request path share, and nothing
 * else includes: the connection, request and upstream types, the
 * worker-wide state they use, and every function one of them calls in
 * another.  The seam between a front end (h1.c, refresh.c) and the
 * exchange is in exchange.h: the exchange's files reach the client only
 * through r->fe.
 */
/*
 * The request path, file by file (a request walks them in this order):
 *
 *   client.c           accept, TLS handshake, client_run, timers, keep-alive,
 *                      lingering close, close
 *   ppconn.c           a PROXY protocol header first (proxy_protocol = on)
 *   h1.c               the HTTP/1 front end: heads parsed into the exchange,
 *                      request bodies decoded, answers written, what
 *                      follows an exchange (exchange.h: the seam)
 *   h2.c, h2_stream.c  the HTTP/2 front end: the connection's nghttp2
 *                      session (h2_frames.c: frames to stream events,
 *                      limits); each stream an exchange on a carrier with
 *                      no socket; h2_tunnel.c: WebSocket streams (RFC 8441)
 *   request.c          exchange_begin: the real client address (realip.c),
 *                      check the head, normalize, route, ACL
 *   httpcache.c        cache lookup, collapsed misses, PURGE/BAN
 *   httpcache_hit.c    answers from the cache (hits, stale answers)
 *   reply.c            portico's own answers, lingering close
 *   status.c           the status endpoint (JSON, Prometheus)
 *   upstream.c         server pick, connection pool, queue, retries
 *   headers.c          the heads written both ways
 *   forward.c          request body up, response head and body down
 *   httpcache_store.c  storing answers, invalidation
 *   refresh.c          the front end of an exchange no client reads (a
 *                      refresh behind a stale hit)
 *   tunnel.c           Upgrade requests, and the byte tunnel after a 101
 *   accesslog.c        the log line; the front end's finish
 *   proxy.c            the worker-wide state: proxy_init, proxy_fini
 *
 * A client connection is in one of three states:
 *
 *   CS_HEAD   reading (or waiting for) a request head
 *   CS_PROXY  a request is being forwarded: the request direction streams
 *             the head and body to the upstream connection, the response
 *             direction streams the upstream's answer back
 *   CS_LOCAL  writing portico's own answer (an error page)
 *   CS_LINGER the answer is out and the connection is to close: read and
 *             drop what the client still sends for a moment, so that the
 *             close does not turn into a reset that destroys the answer
 *   CS_CACHE  writing an answer from the shared-memory cache
 *   CS_CWAIT  waiting for another request (in any worker) that fetches
 *             the same key, to be answered from what it stores
 *   CS_BODY   reading the whole request body (request_buffering) before
 *             an upstream server is picked
 *   CS_REFRESH a refresh (no client, refresh.c) about to begin
 *   CS_TUNNEL an upgraded connection (WebSocket, tunnel.c): bytes both
 *             ways between client and backend until both sides close
 *   CS_H2     an HTTP/2 connection (h2.c: c->h2), or a stream's carrier
 *             about to begin its exchange (h2_stream.c: c->h2s)
 *
 * client_run() drives a connection as far as it can go with the readiness
 * it has, then sets the one timer the connection waits on.  Each state
 * has its step (step_head, step_body, step_proxy = step_request +
 * step_response, step_local, step_cache, step_linger); every step returns
 * an enum step, and client_run goes on or stops on that alone.  Sockets are
 * registered once, edge-triggered; readiness is remembered in rd_ready /
 * wr_ready and cleared when a read or write comes back short or EAGAIN.
 *
 * Memory: an idle keep-alive connection holds only its struct client.
 * Buffers (fixed size, conf buffer_size) and the per-request state are
 * taken from free lists when a request starts and given back when it
 * ends, so a 10 GB body moves through the same three buffers.
 */
#ifndef PORTICO_PROXY_INT_H
#define PORTICO_PROXY_INT_H

#include <stdint.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "common/cache.h"
#include "common/conf.h"
#include "common/http.h"
#include "common/proxyproto.h"
#include "common/shm.h"
#include "common/strbuf.h"
#include "worker/balance.h"
#include "worker/bodybuf.h"
#include "worker/cachepol.h"
#include "worker/event.h"
#include "worker/exchange.h"
#include "worker/proxy.h"
#include "worker/tls.h"
#include "worker/worker.h"

#define FREE_KEEP	512	/* free buffers kept for reuse */
#define LINGER_MS	2000	/* longest lingering close */
#define QUEUE_POLL_MS	20	/* a queued request looks again this often */
#define QUIT_IDLE_GRACE_MS 1000	/* idle connections live on this long at quit */
#define CACHE_POLL_MS	5	/* without a wake-up eventfd (cache_wait_deadline),
				   a waiting request looks again this often */
#define CACHE_IOV	16	/* body pieces per writev of a hit */
#define CACHE_WRITE_MAX	(256 << 10)	/* bytes per writev of a hit */
#define ACCEPT_PAUSE_MS	500	/* no accept this long when out of fds */

enum cstate { CS_HEAD, CS_PROXY, CS_LOCAL, CS_LINGER, CS_CACHE, CS_CWAIT, CS_BODY,
    CS_REFRESH, CS_TUNNEL, CS_DELAY, CS_H2, CS_AUTH };

/* Largest request trailer section kept (the parser refuses more). */
#define REQ_TRAILER_MAX	16384
/* The client has body bytes portico did not read (an answer closes then). */
#define BODY_UNREAD(r)	(!(r)->req_done && !(r)->body_in)

enum wait_on {
	W_NONE,
	W_HEAD,		/* client request head (fixed deadline) */
	W_IDLE,		/* keep-alive idle */
	W_CONNECT,	/* upstream connect (fixed deadline) */
	W_UP_WRITE,
	W_UP_READ,
	W_CL_READ,	/* request body from client */
	W_CL_WRITE,
	W_LINGER,	/* discarding input before a close (fixed deadline) */
	W_QUEUE,	/* waiting for a server below max_conns */
	W_CACHE,	/* a collapsed miss waits for another's fetch */
	W_START,	/* a cache refresh starts on the next turn */
	W_HANDSHAKE,	/* client TLS handshake (fixed deadline) */
	W_CGROW,	/* a hit on an object being stored waits for more of it */
	W_TUNNEL,	/* an upgraded connection: idle until a byte moves */
	W_DELAY,	/* a rate limit delays the request (worker/limits.c) */
	W_H2,		/* an HTTP/2 connection (h2_deadline) */
	W_AUTH		/* a password is hashed off the loop (worker/auth.c) */
};

/*
 * What a step of the exchange did: every step function returns one, and
 * client_run dispatches on it (it never compares state before and after
 * a step to find out).
 */
enum step {
	STEP_NEXT,	/* this step is through: go on with what c->state
			   says (for a cache lookup: not answered, go on to
			   the upstream; in CS_PROXY: that direction is done) */
	STEP_WAIT,	/* waiting for readiness or a timer: c->wait says on
			   what, and client_run arms its timer */
	STEP_ANSWERED,	/* portico answers the request itself (its own page,
			   a redirect, the status page, the cache): c->state
			   is CS_LOCAL or CS_CACHE now */
	STEP_RETRY,	/* the request goes again, to another server (or
			   waits in the queue for one): CS_PROXY starts over */
	STEP_CLOSED	/* the connection is closed (client_close): it must
			   not be touched any more */
};

struct server_rt;
struct client;
struct h2_conn;
struct h2_stream;
const char	*h2_subject(const struct client *c);	/* h2_stream.c */
void	 h2_stream_trailers(struct client *c, const char *p, size_t n);
struct upconn;
/* HTTP/2 to the servers (up_h2.c): an upconn with h2s is a stream. */
struct upconn	*up_h2_get(struct server_rt *s, const struct client *c);
ssize_t	 up_h2_read(struct upconn *u, void *buf, size_t len);
ssize_t	 up_h2_writev(struct upconn *u, const struct iovec *iov, int niov);
void	 up_h2_close(struct upconn *u);
int	 up_h2_unsent(const struct upconn *u);
const char	*up_h2_trailers(const struct upconn *u, size_t *len);
void	 up_h2_server_fini(struct server_rt *s);
void	 up_h2_fini(void);
/* gRPC (grpc.c): whether the request is a gRPC call (application/grpc). */
int	 grpc_request(const struct req *r);

struct upconn {
	struct ev_io		 io;
	struct ev_timer		 timer;		/* idle lifetime in the pool */
	struct server_rt	*srv;
	struct client		*owner;		/* NULL while idle in the pool */
	struct upconn		*next, *prev;	/* pool list */
	unsigned		 rd_ready:1, wr_ready:1, connected:1, reused:1;
	unsigned		 rdhup:1;	/* the peer's FIN is in: read to the end */
	struct tls_conn		*tls;		/* NULL: plain TCP */
	uint32_t		 gen;		/* DNS slot: of the address */
	/* send_proxy: the PROXY header still to go out before anything. */
	unsigned char		*pp;
	uint16_t		 pp_len;
	struct up_h2s		*h2s;		/* protocol = h2: a stream, no socket */
};

struct server_rt {
	struct conf_server	*conf;
	struct upstream_rt	*up;
	struct upconn		*idle;		/* most recently used first */
	int			 nidle;
	struct tls_session	*tls_session;	/* opaque (worker/tls.h): the last
						   TLS session, for resumption */
	uint32_t		 gen;		/* DNS slot: of conf->addr */
	struct up_h2		*h2;		/* protocol = h2: its connections */
};

struct upstream_rt {
	struct conf_upstream	*conf;
	struct server_rt	*servers;
	struct balance_server	*bs;
	struct balance		 bal;
	int			 nqueued;	/* requests waiting for max_conns */
	size_t			 n;
};

/* Longest client address as text, with its NUL (INET6_ADDRSTRLEN). */
#define CLIENT_IP_MAX	46

/* What a request needs while it is under way; released when it ends. */
struct req {
	const struct front_ops	*fe;		/* the client side (exchange.h) */
	struct upstream_rt	*upstream;
	struct upconn		*up;
	int			 server;	/* index in upstream, -1 none */
	int			 fail_status;	/* answer if no server is left */
	int			 retried;	/* retries on other servers so far */
	int			 queued;	/* waiting in the upstream's queue */
	uint64_t		 queue_deadline;
	int			 keyed;		/* hash methods: the request has a key */
	uint32_t		 hash;		/* ... and this is its hash */
	struct server_rt	*counted;	/* server whose active count we hold */
	struct balance_tried	 tried;
	enum http_method	 method;
	int			 version;
	unsigned		 keep_alive:1;	/* client connection stays open */
	unsigned		 chunked:1;	/* request body chunked */
	unsigned		 head_sent:1;	/* request head fully written */
	unsigned		 req_done:1;	/* request body fully forwarded */
	unsigned		 replayable:1;	/* whole request still in buffers */
	unsigned		 resp_started:1; /* a response byte was read */
	unsigned		 resp_head:1;	/* final response head parsed */
	unsigned		 resp_done:1;	/* response fully read */
	unsigned		 resp_chunked:1;
	unsigned		 dechunk:1;	/* chunked upstream, 1.0 client */
	unsigned		 resp_eof:1;	/* body ends at upstream close */
	unsigned		 up_reuse:1;	/* upstream may be pooled after */
	unsigned		 local_close:1;	/* close after the local answer */
	unsigned		 need_more:1;	/* ub holds only a partial unit */
	unsigned		 logged:1;
	unsigned		 parsed:1;	/* a request head was parsed */
	unsigned		 client_ka:1;	/* the client asked for keep-alive */
	unsigned		 body_unread:1;	/* part of the request body was not read */
	unsigned		 interim:1;	/* a 1xx went to the client */
	unsigned		 tp_drop:1;	/* the client's traceparent and
						   tracestate are not forwarded */
	unsigned		 tp_ours:1;	/* tp is portico's (trace = on) */
	unsigned		 rewritten:1;	/* np is rewrite.c's: forwarded */
	unsigned		 xbody_ref:1;	/* xbody is an error_page's: not freed */
	unsigned		 ip_real:1;	/* ip is realip's, not the peer's */
	char			*xbody;		/* a local answer's body (status page) */
	size_t			 xbody_len, xbody_pos;
	int64_t			 cl;		/* request Content-Length, -1 */
	int64_t			 body_left;	/* CL body bytes left to forward */
	int64_t			 body_seen;	/* data bytes decoded so far */
	uint32_t		 body_start;	/* body offset in in-buffer */
	struct http_chunked	 req_ck;
	/*
	 * The request body on its way upstream (body_fill): decoded from
	 * the client's bytes, or read back from the stored body, and encoded
	 * again into bb (chunks without extensions, or plain with a length).
	 */
	unsigned		 buffered:1;	/* read whole into body before forwarding */
	unsigned		 body_in:1;	/* ... and it is all in */
	unsigned		 out_chunked:1;	/* it goes upstream chunked */
	unsigned		 src_done:1;	/* its last bytes are in bb */
	char			*bb;		/* encoded body bytes to send */
	uint32_t		 bb_pos, bb_end;
	char			*trb;		/* trailer section (pass_request_trailers) */
	uint32_t		 trb_len, trb_pos;
	struct bodybuf		 body;
	uint64_t		 body_off;	/* next stored byte to encode */
	uint64_t		 body_t0;	/* when the body began */
	uint64_t		 body_rx;	/* body bytes read from the client */
	char			*hb;		/* head to send (either way) */
	uint32_t		 hb_pos, hb_end;
	char			*ub;		/* bytes from the upstream */
	uint32_t		 ub_pos, ub_end;
	uint32_t		 send_pos, send_end; /* body window in ub */
	int64_t			 resp_left;	/* CL response bytes left */
	unsigned		 splice:1;	/* the body goes by splice (splice.c) */
	struct spipe		*sp;		/* ... through this pipe, */
	uint32_t		 sp_len;	/* ... which holds this many bytes */
	struct http_chunked	 resp_ck;
	int			 status;
	uint64_t		 body_bytes;	/* response body bytes to client
						   (a tunnel's: bytes to the client) */
	/* An Upgrade (tunnel.c): the token forwarded, in rq's field. */
	const char		*upg;
	uint32_t		 upg_len;	/* 0: the request upgrades nothing */
	unsigned		 tunnel:1;	/* CS_TUNNEL: bytes both ways */
	unsigned		 t_up_eof:1, t_cl_eof:1;	/* FIN read from a side */
	unsigned		 t_up_shut:1, t_cl_shut:1;	/* FIN passed on to it */
	uint64_t		 t_last;	/* a byte last moved, ms */
	uint64_t		 t_in;		/* tunnel bytes client to backend */
	uint64_t		 t_start, t_up_start, t_up_end;
	time_t			 wall_start;
	/* Limits (worker/limits.c): entries held + 1, 0 none. */
	int32_t			 lim_held[CONF_ROUTE_LIMITS];
	uint64_t		 delay_until;	/* CS_DELAY: goes on then (ms) */
	/* Basic authentication (worker/auth.c). */
	int32_t			 auth_job;	/* CS_AUTH: its check + 1, 0 none */
	uint64_t		 auth_until;	/* CS_AUTH: 503 then (ms) */
	unsigned		 auth_done:1;	/* the credentials were good */
	uint32_t		 retry_after;	/* a local answer's Retry-After; 0 */
	/* Cache (routes with cache = on). */
	const struct conf_route	*route;
	uint32_t		 head_off, head_len; /* request head in c->in */
	unsigned		 cache_on:1;	/* the route caches */
	unsigned		 c_reval:1;	/* asking the origin about cref */
	unsigned		 c_stale:1;	/* cref is a stale object (stale-if-error) */
	unsigned		 c_store:1;	/* the response body goes into cw */
	unsigned		 c_invalidate:1; /* unsafe method: purge on success */
	unsigned		 c_hit:1;	/* answered from the cache */
	unsigned		 c_sf:1;	/* ... its body by sendfile (hitfile.c) */
	unsigned		 c_nobody:1;	/* hit without a body (HEAD, 304) */
	unsigned		 c_ahead:1;	/* storing at the backend's pace: the
						   client is sent the object (cref) */
	unsigned		 c_grow:1;	/* hit on an object still being stored */
	unsigned		 c_chunk:1;	/* the object goes out chunked (its
						   length was not known) */
	unsigned		 c_open:1;	/* ... a chunk was begun */
	unsigned		 c_last:1;	/* ... the last-chunk is queued */
	unsigned		 c_wake:1;	/* waiting: the object changed as the
						   request parked, look again at once */
	uint64_t		 ck_left;	/* ... body bytes left in this chunk */
	uint64_t		 cexpect;	/* ... its announced body length */
	char			*ck;		/* cache key (then scratch), a buffer */
	uint32_t		 klen;
	uint32_t		 kurl;		/* where the URL (after "://") starts in ck */
	uint32_t		 k2off, k2len;	/* the key in the other scheme, in ck */
	uint32_t		 vlen;		/* vary blob of cref, after the key in ck */
	struct cache_writer	 cw;
	struct cache_ref	 cref;
	struct cache_meta	 cmeta;
	struct cachepol_req	 cpol;		/* the request's cache rules, and */
	struct cachepol_opts	 copts;		/* the route's: set by cache_request */
	uint64_t		 coff, cend;	/* hit: object bytes to send */
	uint64_t		 cwait_until;	/* collapsed: give up waiting then */
	int64_t			 creq_time;	/* wall time the request went out */
	char			 cstatus[160];	/* Cache-Status value, "" none */
	char			*np;		/* normalized path (a buffer) */
	uint32_t		 np_len;	/* 0: the path as sent is normal */
	void			*waf;		/* its firewall transaction (waf.c) */
	unsigned		 waf_flagged:1;	/* ... intervened (waf = detect) */
	/* Response compression (worker/compress.c), on routes with compress = on. */
	unsigned		 cz_ok:1;	/* the request may get a compressed answer */
	unsigned		 cz_want:2;	/* ... in this coding (CODING_*) */
	unsigned		 cz_vary:1;	/* the answer gets Vary: Accept-Encoding */
	struct compress		*cz;		/* its encoder; NULL: none */
	char			 line[600];	/* request line, for the log */
	/* Following a request (reqid.c): "" none.  Not zeroed by req_get. */
	char			 reqid[65];	/* the request id */
	char			 tp[56];	/* traceparent sent upstream */
	char			 auth_user[64];	/* basic auth's user ($remote_user) */
	char			 referer[160];
	char			 agent[200];
	/* The client as text (client_ip): "" not written yet.  Not zeroed. */
	char			 ip[CLIENT_IP_MAX];
	const char		*hsts;		/* Strict-Transport-Security to add */
	/*
	 * The parsed request head, kept for the whole exchange (parsed
	 * straight into rq and fields by the front end: h1.c's step_head,
	 * refresh_start): rq.headers is fields, rq.path is np when the
	 * path was normalized, and the other strings point into c->in,
	 * where the head stays (head_off, head_len) until the exchange
	 * ends.  Only a request body streamed upstream unbuffered may
	 * overwrite it, once its bytes wrap to the start of c->in
	 * (replayable is 0 from then on): the cache, the one reader of rq
	 * after the forward, takes bodiless requests only.
	 */
	struct http_request	 rq;
	struct http_header	 fields[];	/* req_limits.max_headers */
};

/*
 * What a connection's PROXY header carried besides its source (ppconn.c):
 * the destination and the version 2 TLVs, in one allocation made when the
 * header had an address (not LOCAL nor UNKNOWN).
 */
struct pp_info {
	char			*v[PP_TLV_N];	/* escaped values; NULL: absent */
	char			*log;		/* "pp_alpn=h2 ...", the access log's */
	uint16_t		 dst_port;	/* network order */
	uint8_t			 dst_af;	/* AF_INET, AF_INET6; 0: none */
	uint8_t			 dst_addr[16];
	char			 data[];
};

struct client {
	struct ev_io		 io;
	struct ev_timer		 timer;
	struct proxy_listener	*ls;
	struct client		*next, *prev;
	char			*in;
	uint32_t		 in_pos, in_end;
	uint64_t		 fixed_deadline;
	struct req		*r;
	struct h2_conn		*h2;		/* HTTP/2 connection (worker/h2.h) */
	struct h2_stream	*h2s;		/* ... or a stream's carrier */
	struct pp_info		*pp;		/* PROXY v2 TLVs; NULL: none */
	struct tls_conn		*tls;		/* NULL: plain TCP (set at accept) */
	int32_t			 conn_lim;	/* max_conns_per_ip entry + 1; 0 */
	/*
	 * The connection's peer (the accepted socket's, or the PROXY
	 * header's source), as bytes; client_ip() gives it as text (or
	 * realip's address, r->ip).  No text here: an idle connection is
	 * this struct, 168 bytes (176 with malloc's header).
	 */
	uint16_t		 peer_port;	/* network order (send_proxy) */
	uint8_t			 peer_af;	/* AF_INET, AF_INET6; 0: unix */
	uint8_t			 state;		/* enum cstate */
	uint8_t			 wait;		/* enum wait_on */
	unsigned		 rd_ready:1, wr_ready:1, served:1, rdhup:1, nodelay:1;
	unsigned		 pp_src:1;	/* peer_* came from a PROXY header */
	unsigned		 h2_https:1;	/* a stream of an HTTP/2 TLS connection */
	uint8_t			 peer_addr[16];
};

struct cache_scope {
	char		 s[2 * CONF_MAX_NAME + 2];
	size_t		 len;
};

/* Who the client is, for the fields build_request_head() vouches for. */
struct fwd_peer {
	const char	*ip;		/* its address, as text */
	int		 https;		/* it came in on a TLS listener */
	const char	*cert_subject;	/* its verified certificate's, or NULL */
	const char	*hop;		/* the connection's peer; NULL: ip */
	int		 real_ip;	/* write X-Real-IP (trusted_proxies set) */
};

/* head_tail()'s length when there is no Content-Length to write. */
#define HEAD_NO_LENGTH	(-1)	/* no framing field */
#define HEAD_CHUNKED	(-2)	/* Transfer-Encoding: chunked */
#define HEAD_INTERIM	(-3)	/* a 1xx: the end of the head alone */

/*
 * What the vary callback of a lookup sees and keeps.  Vary is matched
 * against the request as forwarded (fwd_view); vary_pick() builds that
 * view only for the fields portico writes itself, and takes the others
 * from the client's request (rq) as fwd_client_field() forwards them.
 */
struct vary_arg {
	struct client			*c;
	const struct http_request	*rq;	/* the client's */
	char				*out;	/* the matching blob is copied here */
	size_t				 cap, len;
	int				 view;	/* frq: 0 not built, 1 built, -1 failed */
	struct http_request		 frq;
};

/*
 * A log line that an attacker can repeat at will is written at most once
 * a second.  Returns 1 when it may be written now, with *skipped the
 * number of times it was held back since the last one.
 */
struct ratelimit {
	time_t		 last;
	unsigned long	 skipped;
};

/* What one access log line says (accesslog_format). */
struct accesslog_entry {
	const char	*ip;		/* the client */
	time_t		 wall;		/* when the request began */
	const char	*line;		/* request line, escaped; "": none */
	int		 status;
	uint64_t	 bytes;		/* response body bytes sent */
	const char	*referer;	/* escaped; "": none */
	const char	*agent;		/* escaped; "": none */
	const char	*upstream;	/* the server's address; NULL: none */
	uint64_t	 upstream_ms;	/* time with the server */
	uint64_t	 total_ms;	/* time of the whole exchange */
	int		 tunnel;	/* an upgraded connection (101): */
	uint64_t	 tunnel_in;	/* ... its bytes from the client */
	const char	*request_id;	/* NULL or "": none */
	const char	*traceparent;	/* sent upstream; NULL or "": none */
	const char	*pp_tlvs;	/* PROXY v2 TLV fields; NULL: none */
};

/* Worker-wide state of the request path (proxy.c owns it). */
extern struct conf		*conf;
extern struct upstream_rt	*upstreams;
extern size_t			 nupstreams;
extern size_t			 bufsize;
extern struct http_limits	 req_limits, resp_limits;
extern struct http_header	*hdrs;	/* a response head being parsed (a request is parsed into r->fields) */
extern char			*cscratch;	/* cache: two buffers for heads */
/* cache: "ROUTE UPSTREAM", the scope of each route's keys (cache_keys) */
extern struct cache_scope	*cache_scopes;
extern char			*fwdbuf;	/* cache: the forwarded head, built again */
extern struct http_header	*hdrs3;	/* ... and parsed */
extern struct http_limits	 fwd_limits;
extern struct client		*clients;	/* every open client */
extern size_t			 nclients, nbusy;
extern void			*free_bufs, *free_reqs;
extern unsigned			 uri_flags;	/* worker/uri.h, from [global] */
extern int			 nfree_bufs, nfree_reqs;
extern struct client		*free_clients;
extern struct upconn		*free_upconns;
extern struct client		*dead_clients;	/* closed this loop turn */
extern struct upconn		*dead_upconns;
extern uint64_t			 quit_grace;	/* idle connections end by then */
extern int			 alog;	/* access log on: keep its fields */

struct req *	req_get(void);
void	 req_put(struct req *r);
/* fwd_client_field()'s conn when any field may be Connection-listed. */
#define CONN_ANY	(~(uint64_t)0)
void	 copy_field(char *dst, size_t cap, const char *s, size_t n);
void	 raw_path(const struct http_request *rq, const char **pathp, size_t *lenp);
int	 fwd_client_field(const struct req *r, const struct http_request *rq, uint64_t conn, const struct http_header *h, int store, int reval);
int	 fwd_own_field(const char *n, size_t len);
int	 request_head_build(struct req *r, const struct fwd_peer *peer, const struct http_request *rq, struct strbuf *b);
int	 build_request_head(struct client *c, const struct http_request *rq);
int	 response_head_build(struct req *r, const struct http_response *rs, int final, struct strbuf *b);
int	 build_response_head(struct client *c, const struct http_response *rs, int final);
void	 head_start_local(struct strbuf *b, const struct req *r, int status);
void	 head_tail(struct strbuf *b, struct req *r, int64_t length);
void	 h1_status_line(struct strbuf *b, int status, const char *reason, size_t reason_len);
const char *	http_date(void);
enum step	 local_answer(struct client *c, int status, int close_after);
enum step	 grpc_answer(struct client *c, int status, int close_after);
enum step	 step_local(struct client *c);
enum step	 step_linger(struct client *c);
void	 linger_start(struct client *c);
enum step	 status_answer(struct client *c, const struct http_request *rq);
int	 ip_allowed(const char *ip, const struct conf_cidr *list, size_t n);
void	 request_key(struct client *c, const struct http_request *rq);
int	 find_cookie(const struct http_request *rq, const char *name, const char **v, size_t *vl);
enum step	 request_routed(struct client *c);
struct conf_route *	route_find(const struct conf *cf, const struct conf_listener *ls, const struct http_request *rq, int *status);
void	 cache_opts(const struct conf_route *rt, struct cachepol_opts *o);
int	 fwd_view(struct client *c, const struct http_request *rq, struct http_request *frq);
const struct http_request *	vary_pick(const char *n, size_t len, void *arg);
enum cache_lookup_rc	 cache_find(struct client *c, const struct http_request *rq);
enum step	 cache_hit(struct client *c, const struct http_request *rq);
int	 chunk_frame(struct req *r, uint64_t n);
int	 obj_iov(struct req *r, uint64_t end, struct iovec *iov, int *niov, size_t *hl, size_t *total);
void	 obj_sent(struct req *r, size_t n, size_t hl);
enum step	 step_cache(struct client *c);
int	 cache_stale_ok(struct client *c);
enum step	 cache_serve_stale(struct client *c, int status);
enum step	 cache_request(struct client *c, const struct http_request *rq);
enum step	 cache_response(struct client *c, const struct http_response *rs);
void	 cache_body(struct req *r, const char *p, size_t n);
enum step	 cache_ahead_write(struct client *c);
enum step	 cache_ahead_done(struct client *c);
void	 cache_done(struct req *r);
void	 cache_refresh_behind(struct client *c, const struct http_request *rq);
enum step	 refresh_start(struct client *c);
enum step	 cache_wait_again(struct client *c);
uint64_t	 cache_wait_deadline(struct client *c);
int	 cache_grow_park(struct client *c);
enum step	 step_handshake(struct client *c);
enum step	 redirect_answer(struct client *c, const struct http_request *rq);
enum step	 step_head(struct client *c);
enum step	 exchange_begin(struct client *c);
enum step	 body_begin(struct client *c);
enum step	 step_body(struct client *c);
enum step	 request_start(struct client *c);
enum step	 request_forward(struct client *c);
void	 upconn_close(struct upconn *u);
int	 upconn_send_pp(struct upconn *u);
void	 req_drop_up(struct req *r);
void	 upconn_release(struct client *c);
void	 active_add(struct req *r, struct server_rt *s, int delta);
void	 server_failed(struct server_rt *s, int i);
void	 queue_leave(struct req *r);
enum step	 upstream_start(struct client *c);
unsigned	 retry_status_bit(int status);
int	 retry_idempotent(enum http_method m);
int	 retry_allowed(const struct req *r, unsigned kind, int nothing_sent);
enum step	 request_retry(struct client *c, int same_server, int status);
enum step	 upstream_failed(struct client *c, const char *why, unsigned kind, int nothing_sent, int status);
void	 trailers_filter(struct req *r);
enum step	 step_request(struct client *c);
int	 resp_window(struct client *c);
enum step	 response_head(struct client *c, const struct http_response *rs);
enum step	 upstream_broke(struct client *c, const char *why);
enum step	 step_response(struct client *c);
void	 log_request_line(char *line, size_t cap, const struct http_request *rq);
size_t	 accesslog_format(char *buf, size_t cap, const struct accesslog_entry *e);
void	 access_log(struct client *c);
enum step	 request_finish(struct client *c);
enum step	 exchange_end(struct client *c, int keep_alive, int body_unread);
int	 tunnel_request(struct client *c);
void	 tunnel_head_end(struct strbuf *b, const struct req *r);
enum step	 tunnel_begin(struct client *c, const struct http_response *rs);
enum step	 step_tunnel(struct client *c);
uint64_t	 tunnel_deadline(const struct client *c);
void	 tunnel_closed(struct req *r);
void	 client_run(struct client *c);
void	 client_start(struct client *c);
void	 client_begin(struct client *c, int readable);
void	 ppconn_start(struct client *c);	/* ppconn.c */
void	 client_timer_cb(struct ev_timer *t);
void	 client_cb(struct ev_io *io, uint32_t events);
void	 client_close(struct client *c);
int	 ratelimit_ok(struct ratelimit *rl, unsigned long *skipped);
void	 client_peer_set(struct client *c, const struct sockaddr *sa);
const char *	client_peer(const struct client *c, char *buf, size_t cap);
const char *	client_ip_text(const struct client *c);
/* The client as text (client.c: client_ip_text). */
static inline const char *
client_ip(const struct client *c)
{
	if (c->r != NULL && c->r->ip[0] != '\0')
		return c->r->ip;
	return client_ip_text(c);
}
void	 client_abort(struct client *c);
void	 client_cut(struct client *c);
void	 client_detach(struct client *c);
const char *	up_strerror(struct upconn *u, int err);

/*
 * Socket I/O of both sides goes through these: plain read/writev, or TLS
 * when the connection has it (one branch on the plain path).
 */
static inline ssize_t
cl_read(struct client *c, void *buf, size_t len)
{
	ssize_t	 n;

	if (c->tls == NULL)
		return read(c->io.fd, buf, len);
	n = tls_conn_read(c->tls, buf, len);
	/*
	 * The peer's close_notify (or an error) came with these bytes: it is
	 * inside OpenSSL now, and epoll will not tell again.  As after a FIN,
	 * the next read must not wait.
	 */
	if (n > 0 && (c->tls->eof || c->tls->failed))
		c->rdhup = 1;
	return n;
}

static inline ssize_t
cl_writev(struct client *c, const struct iovec *iov, int niov)
{
	if (c->tls == NULL)
		return writev(c->io.fd, iov, niov);
	return tls_conn_writev(c->tls, iov, niov);
}

static inline ssize_t
cl_write(struct client *c, const void *buf, size_t len)
{
	struct iovec	 iov = { (void *)buf, len };

	return cl_writev(c, &iov, 1);
}

/* The client came in on a TLS listener (https). */
static inline int
client_https(const struct client *c)
{
	return c->tls != NULL || c->h2_https;
}

/*
 * Output the client was offered is held back below the socket (a TLS
 * record OpenSSL could not write yet): whatever comes next must follow
 * it, so another answer cannot replace it.
 */
static inline int
client_out_pending(const struct client *c)
{
	return c->tls != NULL && tls_conn_want_write(c->tls);
}

/* Its verified certificate's subject, or NULL. */
static inline const char *
client_cert_subject(const struct client *c)
{
	if (c->h2s != NULL)
		return h2_subject(c);
	return c->tls != NULL ? c->tls->subject : NULL;
}

/*
 * Two pieces of the answer (either may be empty) to the exchange's front
 * end (exchange.h).  Returns the bytes it took (fewer: wait), or -1 when
 * the client is gone: the connection is closed then.
 */
static inline ssize_t
fe_send2(struct client *c, const char *a, size_t al, const char *b, size_t bl)
{
	struct iovec	 iov[2];
	int		 niov = 0;
	ssize_t		 n;

	if (al > 0) {
		iov[niov].iov_base = (void *)a;
		iov[niov++].iov_len = al;
	}
	if (bl > 0) {
		iov[niov].iov_base = (void *)b;
		iov[niov++].iov_len = bl;
	}
	if ((n = c->r->fe->send(c, iov, niov)) == -1)
		client_close(c);
	return n;
}

/* No more output: close_notify for TLS, then the TCP half-close. */
static inline void
cl_shutdown_wr(struct client *c)
{
	if (c->tls != NULL)
		tls_conn_shutdown(c->tls);
	shutdown(c->io.fd, SHUT_WR);
}

static inline ssize_t
up_read(struct upconn *u, void *buf, size_t len)
{
	ssize_t	 n;

	if (u->h2s != NULL)
		return up_h2_read(u, buf, len);
	if (u->tls == NULL)
		return read(u->io.fd, buf, len);
	n = tls_conn_read(u->tls, buf, len);
	if (n > 0 && (u->tls->eof || u->tls->failed))
		u->rdhup = 1;		/* as in cl_read */
	return n;
}

static inline ssize_t
up_writev(struct upconn *u, const struct iovec *iov, int niov)
{
	if (u->h2s != NULL)
		return up_h2_writev(u, iov, niov);
	if (u->pp != NULL && upconn_send_pp(u) == -1)
		return -1;
	if (u->tls == NULL)
		return writev(u->io.fd, iov, niov);
	return tls_conn_writev(u->tls, iov, niov);
}


/*
 * OpenSSL may need the other direction than the one the caller waits on
 * (a write that must first read, a read that must first write): turn the
 * readiness that came into the one the waiting side looks at.
 */
static inline void
tls_events(struct tls_conn *t, uint32_t events, int *rd, int *wr)
{
	if ((events & (EPOLLIN | EPOLLRDHUP | EPOLLERR | EPOLLHUP)) && t->wr_wants_rd)
		*wr = 1;
	if ((events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) && t->rd_wants_wr)
		*rd = 1;
}

/* Buffers: a free list, so the request path does not malloc (inline: hot). */
static inline char *
buf_get(void)
{
	void	*b;

	if (free_bufs != NULL) {
		b = free_bufs;
		free_bufs = *(void **)b;
		nfree_bufs--;
		return b;
	}
	return malloc(bufsize);
}

static inline void
buf_put(char *b)
{
	if (b == NULL)
		return;
	if (nfree_bufs >= FREE_KEEP) {
		free(b);
		return;
	}
	*(void **)b = free_bufs;
	free_bufs = b;
	nfree_bufs++;
}

/*
 * The most request body bytes a client may make portico read for r:
 * max_body_size, and on a route with waf = on waf_body_limit too (a body
 * the firewall cannot inspect whole is refused, so reading stops there:
 * a chunked body is not spooled past it).
 */
static inline int
req_body_waf_capped(const struct req *r)
{
	return r->route != NULL && r->route->waf == WAF_ON &&
	    (conf->g.max_body_size <= 0 ||
	    conf->g.waf_body_limit < conf->g.max_body_size);
}

static inline uint64_t
req_body_cap(const struct req *r)
{
	if (req_body_waf_capped(r))
		return (uint64_t)conf->g.waf_body_limit;
	return conf->g.max_body_size > 0 ?
	    (uint64_t)conf->g.max_body_size : UINT64_MAX;
}

/* The key that req_body_cap(r) comes from, for the log. */
static inline const char *
req_body_cap_name(const struct req *r)
{
	return req_body_waf_capped(r) ? "waf_body_limit" : "max_body_size";
}

#endif /* PORTICO_PROXY_INT_H */
