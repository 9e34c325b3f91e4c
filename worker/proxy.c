/*
 * proxy.c: the proxy state machine.
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
 *
 * client_run() drives a connection as far as it can go with the readiness
 * it has, then sets the one timer the connection waits on.  Sockets are
 * registered once, edge-triggered; readiness is remembered in rd_ready /
 * wr_ready and cleared when a read or write comes back short or EAGAIN.
 *
 * Memory: an idle keep-alive connection holds only its struct client.
 * Buffers (fixed size, conf buffer_size) and the per-request state are
 * taken from free lists when a request starts and given back when it
 * ends, so a 10 GB body moves through the same three buffers.
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
#include "worker/event.h"
#include "common/http.h"
#include "worker/proxy.h"
#include "worker/tls.h"
#include "worker/uri.h"
#include "worker/worker.h"

#define STAT_INC(f)	__atomic_store_n(&worker.stats->f, \
			    __atomic_load_n(&worker.stats->f, __ATOMIC_RELAXED) + 1, \
			    __ATOMIC_RELAXED)
#define FREE_KEEP	512	/* free buffers kept for reuse */
#define MAX_CONN_TOKENS	16
#define LINGER_MS	2000	/* longest lingering close */
#define QUEUE_POLL_MS	20	/* a queued request looks again this often */
#define QUIT_IDLE_GRACE_MS 1000	/* idle connections live on this long at quit */
#define CACHE_POLL_MS	5	/* a collapsed miss looks for the object this often */
#define CACHE_IOV	16	/* body pieces per writev of a hit */
#define CACHE_WRITE_MAX	(256 << 10)	/* bytes per writev of a hit */
#define ACCEPT_PAUSE_MS	500	/* no accept this long when out of fds */

enum cstate { CS_HEAD, CS_PROXY, CS_LOCAL, CS_LINGER, CS_CACHE, CS_CWAIT, CS_BODY };

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
	W_CGROW		/* a hit on an object being stored waits for more of it */
};

enum step { STEP_AGAIN, STEP_DONE, STEP_CLOSED };

struct server_rt;
struct client;

struct upconn {
	struct ev_io		 io;
	struct ev_timer		 timer;		/* idle lifetime in the pool */
	struct server_rt	*srv;
	struct client		*owner;		/* NULL while idle in the pool */
	struct upconn		*next, *prev;	/* pool list */
	unsigned		 rd_ready:1, wr_ready:1, connected:1, reused:1;
	unsigned		 rdhup:1;	/* the peer's FIN is in: read to the end */
	struct tls_conn		*tls;		/* NULL: plain TCP */
};

struct server_rt {
	struct conf_server	*conf;
	struct upstream_rt	*up;
	struct upconn		*idle;		/* most recently used first */
	int			 nidle;
	SSL_SESSION		*tls_session;	/* last TLS session, for resumption */
};

struct upstream_rt {
	struct conf_upstream	*conf;
	struct server_rt	*servers;
	struct balance_server	*bs;
	struct balance		 bal;
	int			 nqueued;	/* requests waiting for max_conns */
	size_t			 n;
};

/* What a request needs while it is under way; released when it ends. */
struct req {
	struct upstream_rt	*upstream;
	struct upconn		*up;
	int			 server;	/* index in upstream, -1 none */
	int			 attempts;
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
	struct http_chunked	 resp_ck;
	int			 status;
	uint64_t		 body_bytes;	/* response body bytes to client */
	uint64_t		 t_start, t_up_start, t_up_end;
	time_t			 wall_start;
	/* Cache (routes with cache = on). */
	const struct conf_route	*route;
	uint32_t		 head_off, head_len; /* request head in c->in */
	unsigned		 cache_on:1;	/* the route caches */
	unsigned		 c_reval:1;	/* asking the origin about cref */
	unsigned		 c_stale:1;	/* cref is a stale object (stale-if-error) */
	unsigned		 c_store:1;	/* the response body goes into cw */
	unsigned		 c_invalidate:1; /* unsafe method: purge on success */
	unsigned		 c_hit:1;	/* answered from the cache */
	unsigned		 c_nobody:1;	/* hit without a body (HEAD, 304) */
	unsigned		 c_ahead:1;	/* storing at the backend's pace: the
						   client is sent the object (cref) */
	unsigned		 c_grow:1;	/* hit on an object still being stored */
	unsigned		 c_chunk:1;	/* the object goes out chunked (its
						   length was not known) */
	unsigned		 c_open:1;	/* ... a chunk was begun */
	unsigned		 c_last:1;	/* ... the last-chunk is queued */
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
	uint64_t		 coff, cend;	/* hit: object bytes to send */
	uint64_t		 cwait_until;	/* collapsed: give up waiting then */
	int64_t			 creq_time;	/* wall time the request went out */
	char			 cstatus[160];	/* Cache-Status value, "" none */
	char			*np;		/* normalized path (a buffer) */
	uint32_t		 np_len;	/* 0: the path as sent is normal */
	char			 line[600];	/* request line, for the log */
	char			 referer[160];
	char			 agent[200];
	const char		*hsts;		/* Strict-Transport-Security to add */
};

struct client {
	struct ev_io		 io;
	struct ev_timer		 timer;
	struct proxy_listener	*ls;
	struct client		*next, *prev;
	char			*in;
	uint32_t		 in_pos, in_end;
	enum cstate		 state;
	enum wait_on		 wait;
	uint64_t		 fixed_deadline;
	struct req		*r;
	unsigned		 rd_ready:1, wr_ready:1, served:1, rdhup:1, nodelay:1;
	unsigned		 bg:1;		/* no socket: a cache refresh behind a hit */
	char			 ip[46];
	struct tls_conn		*tls;		/* NULL: plain TCP (set at accept) */
};

static struct conf		*conf;
static struct upstream_rt	*upstreams;
static size_t			 nupstreams;
static size_t			 bufsize;
static struct http_limits	 req_limits, resp_limits;
static struct http_header	*hdrs;
static struct http_header	*hdrs2;	/* a request head parsed again */
static char			*cscratch; /* cache: two buffers for heads */
/* cache: "ROUTE UPSTREAM", the scope of each route's keys (cache_keys) */
static struct cache_scope {
	char		 s[2 * CONF_MAX_NAME + 2];
	size_t		 len;
}				*cache_scopes;
static char			*fwdbuf;   /* cache: the forwarded head, built again */
static struct http_header	*hdrs3;	   /* ... and parsed */
static struct http_limits	 fwd_limits;
static struct client		*clients;	/* every open client */
static size_t			 nclients, nbusy;
static void			*free_bufs, *free_reqs;
static unsigned			 uri_flags;	/* worker/uri.h, from [global] */
static int			 nfree_bufs, nfree_reqs;
static struct client		*free_clients;
static struct upconn		*free_upconns;
static struct client		*dead_clients;	/* closed this loop turn */
static struct upconn		*dead_upconns;
static uint64_t			 quit_grace;	/* idle connections end by then */
static int			 alog;		/* access log on: keep its fields */

static void	 client_cb(struct ev_io *, uint32_t);
static void	 client_timer_cb(struct ev_timer *);
static void	 client_run(struct client *);
static void	 client_close(struct client *);
static void	 client_abort(struct client *);
static void	 client_cut(struct client *);
static enum step step_head(struct client *);
static enum step step_request(struct client *);
static enum step step_response(struct client *);
static enum step step_local(struct client *);
static enum step request_finish(struct client *);
static enum step local_answer(struct client *, int, int);
static enum step upstream_start(struct client *);
static enum step upstream_failed(struct client *, const char *, unsigned, int, int);
static void	 upconn_cb(struct ev_io *, uint32_t);
static void	 upconn_timer_cb(struct ev_timer *);
static void	 upconn_close(struct upconn *);
static void	 req_drop_up(struct req *);
static void	 upconn_release(struct client *);
static void	 access_log(struct client *);
static void	 log_request_line(char *, size_t, const struct http_request *);
static void	 active_add(struct req *, struct server_rt *, int);
static void	 server_failed(struct server_rt *, int);
static void	 queue_leave(struct req *);
static int	 cache_stale_ok(struct client *);
static enum step cache_serve_stale(struct client *, int);
static enum step request_forward(struct client *, const struct http_request *);
static void	 cache_refresh_behind(struct client *, const struct http_request *);
static void	 cache_ahead_begin(struct client *, const struct http_response *);
static enum step cache_hit(struct client *, const struct http_request *);
static enum step step_handshake(struct client *);
static enum step redirect_answer(struct client *, const struct http_request *);
static enum step body_begin(struct client *, const struct http_request *);
static enum step step_body(struct client *);
static enum step request_start(struct client *, const struct http_request *);
static int	 body_next(struct client *, size_t, const char **, size_t *);
static void	 trailers_filter(struct req *);

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

/* No more output: close_notify for TLS, then the TCP half-close. */
static void
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
	if (u->tls == NULL)
		return writev(u->io.fd, iov, niov);
	return tls_conn_writev(u->tls, iov, niov);
}

/* Why a write to an upstream failed: the TLS reason, or errno's. */
static const char *
up_strerror(struct upconn *u, int err)
{
	static char	 buf[200];

	if (u->tls != NULL && u->tls->failed) {
		snprintf(buf, sizeof(buf), "TLS: %s", u->tls->why);
		return buf;
	}
	return strerror(err);
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

/* Buffers and request blocks: free lists, so the request path does not malloc. */
static char *
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

static void
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

static struct req *
req_get(void)
{
	struct req	*r;

	if (free_reqs != NULL) {
		r = free_reqs;
		free_reqs = *(void **)r;
		nfree_reqs--;
	} else if ((r = malloc(sizeof(*r))) == NULL)
		return NULL;
	memset(r, 0, offsetof(struct req, line));
	r->line[0] = r->referer[0] = r->agent[0] = '\0';
	cache_writer_init(&r->cw);
	bodybuf_init(&r->body);
	r->server = -1;
	r->cl = -1;
	return r;
}

static void
req_put(struct req *r)
{
	active_add(r, NULL, -1);
	queue_leave(r);
	free(r->xbody);
	r->xbody = NULL;
	if (cache_writing(&r->cw))
		cache_abort(worker.cache, &r->cw);
	if (r->cref.pin != 0)
		cache_unpin(worker.cache, &r->cref, worker.slot);
	cache_unfollow(worker.cache, &r->cref);
	buf_put(r->ck);
	buf_put(r->np);
	buf_put(r->hb);
	buf_put(r->ub);
	buf_put(r->bb);
	free(r->trb);
	bodybuf_free(&r->body);
	if (nfree_reqs >= FREE_KEEP) {
		free(r);
		return;
	}
	*(void **)r = free_reqs;
	free_reqs = r;
	nfree_reqs++;
}

int
proxy_init(struct conf *c)
{
	size_t			 i, j;
	struct upstream_rt	*u;
	int			 n;

	conf = c;
	alog = worker_access_log_enabled();
	uri_flags = (c->g.merge_slashes ? URI_MERGE_SLASHES : 0) |
	    (c->g.allow_encoded_slash ? URI_ENCODED_SLASH : 0) |
	    (c->g.allow_encoded_nul ? URI_ENCODED_NUL : 0) |
	    (c->g.allow_backslash ? URI_BACKSLASH : 0) |
	    (c->g.allow_dotdot_above_root ? URI_DOT_ABOVE_ROOT : 0);
	bufsize = c->g.buffer_size;
	req_limits.max_request_line = c->g.max_request_line;
	req_limits.max_head = c->g.max_header_size;
	req_limits.max_headers = c->g.max_headers;
	resp_limits.max_request_line = bufsize;
	resp_limits.max_head = bufsize - 1024;
	resp_limits.max_headers = c->g.max_headers > 200 ? c->g.max_headers : 200;
	hdrs = calloc(resp_limits.max_headers, sizeof(*hdrs));
	hdrs2 = calloc(req_limits.max_headers, sizeof(*hdrs2));
	upstreams = calloc(c->nupstreams, sizeof(*upstreams));
	if (hdrs == NULL || hdrs2 == NULL || upstreams == NULL)
		return -1;
	if (worker.cache != NULL && (cscratch = malloc(2 * bufsize)) == NULL)
		return -1;
	/* The forwarded head holds the client's fields and a few of ours. */
	fwd_limits.max_request_line = bufsize;
	fwd_limits.max_head = bufsize;
	fwd_limits.max_headers = req_limits.max_headers + 16;
	if (worker.cache != NULL && ((fwdbuf = malloc(bufsize)) == NULL ||
	    (hdrs3 = calloc(fwd_limits.max_headers, sizeof(*hdrs3))) == NULL))
		return -1;
	if (worker.cache != NULL && c->nroutes > 0) {
		if ((cache_scopes = calloc(c->nroutes,
		    sizeof(*cache_scopes))) == NULL)
			return -1;
		for (i = 0; i < c->nroutes; i++) {
			if (c->routes[i].upstream == NULL)
				continue;
			n = snprintf(cache_scopes[i].s, sizeof(cache_scopes[i].s),
			    "%s %s", c->routes[i].name, c->routes[i].upstream->name);
			if (n < 0 || (size_t)n >= sizeof(cache_scopes[i].s))
				return -1;
			cache_scopes[i].len = (size_t)n;
		}
	}
	nupstreams = c->nupstreams;
	for (i = 0; i < nupstreams; i++) {
		u = &upstreams[i];
		u->conf = &c->upstreams[i];
		u->n = u->conf->nservers;
		if (u->n > BALANCE_MAX_SERVERS) {
			log_errorx("upstream %s: more than %d servers",
			    u->conf->name, BALANCE_MAX_SERVERS);
			return -1;
		}
		u->servers = calloc(u->n, sizeof(*u->servers));
		u->bs = calloc(u->n, sizeof(*u->bs));
		if (u->servers == NULL || u->bs == NULL)
			return -1;
		for (j = 0; j < u->n; j++) {
			struct conf_server *cs = &u->conf->servers[j];

			u->servers[j].conf = cs;
			u->servers[j].up = u;
			u->bs[j].weight = cs->weight;
			u->bs[j].backup = cs->backup;
			u->bs[j].max_conns = cs->max_conns;
			u->bs[j].name = cs->addr.text;
			if (cs->shm_idx >= 0) {
				struct shm_server *ss = &worker.shm->srv[cs->shm_idx];

				u->bs[j].active = &ss->active;
				u->bs[j].state = &ss->state;
				u->bs[j].changed = &ss->changed_ms;
			}
		}
		if (balance_init(&u->bal, u->conf->balance, u->bs, u->n,
		    (uint64_t)u->conf->slow_start_ms,
		    ((uint64_t)getpid() << 32) ^ ev_now ^ (i + 1)) == -1)
			return -1;
	}
	return 0;
}

static struct upstream_rt *
upstream_of(const struct conf_upstream *cu)
{
	return &upstreams[cu - conf->upstreams];
}

/*
 * Whether a path may need normalizing: it has an escape, a backslash, an
 * empty segment or a segment starting with a dot.  Most paths have none.
 */
static int
path_maybe_abnormal(const char *p, size_t n)
{
	size_t	 i;

	for (i = 0; i < n; i++) {
		if (p[i] == '%' || p[i] == '\\')
			return 1;
		if (p[i] == '/' && i + 1 < n && (p[i + 1] == '/' ||
		    p[i + 1] == '.'))
			return 1;
	}
	return 0;
}

/*
 * Normalize the request path (worker/uri.h, flags from [global]) into
 * r->np and point rq->path at it: routes and allow lists see only the
 * normalized path, and build_request_head forwards it unless the route
 * says normalize_path = off.  Returns 0, -1 when out of memory, or 400
 * (logged) for a path that has no safe normal form.
 */
static int
path_normalize(struct client *c, struct http_request *rq)
{
	struct req	*r = c->r;
	const char	*why = NULL;
	size_t		 n;

	r->np_len = 0;
	if (rq->path[0] != '/' || !path_maybe_abnormal(rq->path, rq->path_len))
		return 0;		/* asterisk-form, or normal already */
	if (r->np == NULL && (r->np = buf_get()) == NULL)
		return -1;
	if (rq->path_len > bufsize ||
	    uri_normalize_path(rq->path, rq->path_len, uri_flags, r->np, &n,
	    &why) == -1) {
		log_info("client %s: bad request: %s (400)", c->ip,
		    why != NULL ? why : "path too long");
		buf_put(r->np);
		r->np = NULL;
		return 400;
	}
	r->np_len = (uint32_t)n;
	rq->path = r->np;
	rq->path_len = n;
	return 0;
}

/*
 * Route a request: listener, then the most specific matching host
 * pattern, then the longest path prefix under that host.  Returns the
 * route, or NULL with *status 421 (no host matches) or 404 (no path).
 */
static struct conf_route *
route_find(struct proxy_listener *ls, const struct http_request *rq, int *status)
{
	char			 host[256];
	size_t			 hl = 0, i, best_rank = 0, rank, best_len = 0;
	struct conf_route	*rt, *best = NULL, *hostmatch = NULL;
	const char		*h = rq->host;

	/* Lowercase the host, drop the port and a trailing dot. */
	if (h != NULL) {
		if (rq->host_len > 0 && h[0] == '[') {
			for (; hl < rq->host_len && hl < sizeof(host) - 1; hl++) {
				host[hl] = h[hl];
				if (h[hl] == ']') {
					hl++;
					break;
				}
			}
		} else {
			for (; hl < rq->host_len && hl < sizeof(host) - 1 &&
			    h[hl] != ':'; hl++)
				host[hl] = (h[hl] >= 'A' && h[hl] <= 'Z') ?
				    h[hl] + 32 : h[hl];
		}
		if (hl > 0 && host[hl - 1] == '.')
			hl--;
	}
	host[hl] = '\0';

	/* Pass 1: the best host rank among matching routes. */
	for (i = 0; i < conf->nroutes; i++) {
		rt = &conf->routes[i];
		if (rt->listener != NULL && rt->listener != ls->conf)
			continue;
		switch (rt->host_kind) {
		case HOST_ANY:
			rank = 1;
			break;
		case HOST_WILDCARD:
			{
				size_t sl = strlen(rt->host);
				if (hl <= sl || memcmp(host + hl - sl, rt->host, sl) != 0)
					continue;
				rank = 2 + sl;
			}
			break;
		case HOST_EXACT:
		default:
			if (strcmp(rt->host, host) != 0)
				continue;
			rank = 100000;
			break;
		}
		if (rank > best_rank) {
			best_rank = rank;
			hostmatch = rt;
		}
	}
	if (hostmatch == NULL) {
		*status = 421;
		return NULL;
	}
	/* Pass 2: the longest path prefix among routes of that host. */
	for (i = 0; i < conf->nroutes; i++) {
		rt = &conf->routes[i];
		if (rt->listener != NULL && rt->listener != ls->conf)
			continue;
		if (rt->host_kind != hostmatch->host_kind ||
		    strcmp(rt->host, hostmatch->host) != 0)
			continue;
		if (rt->path_len > rq->path_len ||
		    memcmp(rt->path, rq->path, rt->path_len) != 0)
			continue;
		if (best == NULL || rt->path_len > best_len) {
			best = rt;
			best_len = rt->path_len;
		}
	}
	if (best == NULL)
		*status = 404;
	return best;
}

/* Append to a head being built; 0, or -1 when it does not fit. */
struct hbuild {
	char	*p;
	size_t	 len, cap;
};

static int
hb_add(struct hbuild *b, const char *s, size_t n)
{
	if (b->len + n > b->cap)
		return -1;
	memcpy(b->p + b->len, s, n);
	b->len += n;
	return 0;
}

static int
hb_str(struct hbuild *b, const char *s)
{
	return hb_add(b, s, strlen(s));
}

static int
hb_header(struct hbuild *b, const struct http_header *h)
{
	if (b->len + h->name_len + h->value_len + 4 > b->cap)
		return -1;
	memcpy(b->p + b->len, h->name, h->name_len);
	b->len += h->name_len;
	b->p[b->len++] = ':';
	b->p[b->len++] = ' ';
	memcpy(b->p + b->len, h->value, h->value_len);
	b->len += h->value_len;
	b->p[b->len++] = '\r';
	b->p[b->len++] = '\n';
	return 0;
}

/* Append a decimal number: the hit path has no use for printf. */
static int
hb_num(struct hbuild *b, int64_t v)
{
	char		 d[24];
	int		 n = sizeof(d);
	uint64_t	 u = v < 0 ? -(uint64_t)v : (uint64_t)v;

	do {
		d[--n] = '0' + u % 10;
		u /= 10;
	} while (u > 0);
	if (v < 0)
		d[--n] = '-';
	return hb_add(b, d + n, sizeof(d) - n);
}

static int
hb_fmt(struct hbuild *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int
hb_fmt(struct hbuild *b, const char *fmt, ...)
{
	va_list	 ap;
	int	 n;

	va_start(ap, fmt);
	n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= b->cap - b->len)
		return -1;
	b->len += n;
	return 0;
}

struct conn_tokens {
	const char	*name[MAX_CONN_TOKENS];
	size_t		 len[MAX_CONN_TOKENS];
	int		 n;
};

/* Collect the field names listed in Connection headers. */
static void
conn_tokens_collect(const struct http_header *h, size_t nh, struct conn_tokens *ct)
{
	size_t		 i;
	const char	*p, *end, *s;

	ct->n = 0;
	for (i = 0; i < nh; i++) {
		if (!http_name_eq(&h[i], "connection"))
			continue;
		p = h[i].value;
		end = p + h[i].value_len;
		while (p < end && ct->n < MAX_CONN_TOKENS) {
			while (p < end && (*p == ',' || *p == ' ' || *p == '\t'))
				p++;
			s = p;
			while (p < end && *p != ',' && *p != ' ' && *p != '\t')
				p++;
			if (p > s) {
				ct->name[ct->n] = s;
				ct->len[ct->n++] = p - s;
			}
		}
	}
}

static int
conn_tokens_has(const struct conn_tokens *ct, const struct http_header *h)
{
	int	 i;

	for (i = 0; i < ct->n; i++)
		if (ct->len[i] == h->name_len &&
		    strncasecmp(ct->name[i], h->name, h->name_len) == 0)
			return 1;
	return 0;
}

/* Hop-by-hop and framing fields that are never forwarded as they are. */
static int
is_hop_header(const struct http_header *h)
{
	switch (h->name_len) {
	case 2:
		return http_name_eq(h, "te");
	case 7:
		return http_name_eq(h, "trailer") || http_name_eq(h, "upgrade");
	case 10:
		return http_name_eq(h, "connection") || http_name_eq(h, "keep-alive");
	case 14:
		return http_name_eq(h, "content-length");
	case 17:
		return http_name_eq(h, "transfer-encoding");
	default:
		break;
	}
	if (h->name_len > 6 && (h->name[0] | 0x20) == 'p' &&
	    strncasecmp(h->name, "proxy-", 6) == 0)
		return 1;
	return 0;
}

/*
 * Copy s[0..n) for a quoted access log field: '"', '\\', control bytes
 * and bytes over 0x7e become \\xHH, as nginx writes them.  Stops at the
 * last whole character that fits cap (with its NUL).
 */
static void
copy_field(char *dst, size_t cap, const char *s, size_t n)
{
	size_t	 i, o = 0;

	for (i = 0; i < n && o + 5 < cap; i++) {
		unsigned char ch = s[i];
		if (ch == '"' || ch == '\\' || ch < 0x20 || ch >= 0x7f)
			o += snprintf(dst + o, cap - o, "\\x%02X", ch);
		else
			dst[o++] = ch;
	}
	dst[o] = '\0';
}

/*
 * Whether a field name is name (lowercase, with '-') when '_' counts as
 * '-': backends of the CGI kind fold both to the same variable.
 */
static int
name_eq_any_dash(const struct http_header *h, const char *name)
{
	size_t	 i;
	char	 ch;

	for (i = 0; i < h->name_len; i++) {
		if (name[i] == '\0')
			return 0;
		ch = h->name[i];
		if (ch >= 'A' && ch <= 'Z')
			ch += 'a' - 'A';
		else if (ch == '_')
			ch = '-';
		if (ch != name[i])
			return 0;
	}
	return name[i] == '\0';
}

/*
 * The path of the request-target as the client sent it, without the
 * query ("/" when empty): for routes with normalize_path = off.
 */
static void
raw_path(const struct http_request *rq, const char **pathp, size_t *lenp)
{
	const char	*t = rq->target, *te = t + rq->target_len, *p, *q;

	p = t;
	if (rq->absolute_form) {
		/* Past "scheme://" and the authority. */
		p = memchr(t, ':', rq->target_len);
		for (p = p != NULL ? p + 3 : te; p < te && *p != '/' && *p != '?';
		    p++)
			;
	}
	for (q = p; q < te && *q != '?'; q++)
		;
	if (q == p) {
		*pathp = "/";
		*lenp = 1;
	} else {
		*pathp = p;
		*lenp = (size_t)(q - p);
	}
}

/*
 * Client fields that say who the client is or what it asked for before a
 * proxy rewrote it: backends trust them, so a client must not set them.
 * Names are lowercase with '-' and match in any case, with '-' or '_'
 * (CGI-style servers fold both into one variable).
 *   CF_OURS:     portico sets or vouches for it (X-Forwarded-*, the client
 *		  certificate): the client's is never forwarded;
 *   CF_APPEND:   portico appends to the client's list (X-Forwarded-For):
 *		  forwarded in the plain spelling only;
 *   CF_IDENTITY: dropped unless the route has
 *		  pass_client_identity_headers = on.
 * This is the one list of the client identity fields:
 * client_field_dropped() applies it to every client field that
 * build_request_head() might forward.
 */
#define CF_OURS		1
#define CF_APPEND	2
#define CF_IDENTITY	3

static const struct {
	const char	*name;
	size_t		 len;
	int		 kind;
} client_fields[] = {
#define CF(n, k)	{ n, sizeof(n) - 1, k }
	CF("x-forwarded-for", CF_APPEND),
	CF("x-forwarded-proto", CF_OURS),
	CF("x-forwarded-host", CF_OURS),
	CF("x-client-cert-subject", CF_OURS),
	CF("forwarded", CF_IDENTITY),
	CF("x-real-ip", CF_IDENTITY),
	CF("true-client-ip", CF_IDENTITY),
	CF("x-client-ip", CF_IDENTITY),
	CF("x-cluster-client-ip", CF_IDENTITY),
	CF("x-forwarded-port", CF_IDENTITY),
	CF("x-forwarded-ssl", CF_IDENTITY),
	CF("x-forwarded-scheme", CF_IDENTITY),
	CF("x-forwarded-protocol", CF_IDENTITY),
	CF("x-forwarded-server", CF_IDENTITY),
	CF("x-forwarded-prefix", CF_IDENTITY),
	CF("x-url-scheme", CF_IDENTITY),
	CF("front-end-https", CF_IDENTITY),
	CF("x-original-url", CF_IDENTITY),
	CF("x-rewrite-url", CF_IDENTITY),
	CF("x-original-host", CF_IDENTITY),
	CF("x-host", CF_IDENTITY),
#undef CF
};

/*
 * Whether client field h must not reach the upstream of route rt by the
 * rules of client_fields[].  X-Forwarded-For in its plain spelling is not
 * dropped: build_request_head appends the client address to it.
 */
static int
client_field_dropped(const struct http_header *h, const struct conf_route *rt)
{
	static uint32_t	 first;	/* the first letters of the names, a bit each */
	size_t		 i;
	unsigned char	 ch;

	if (first == 0)
		for (i = 0; i < sizeof(client_fields) / sizeof(client_fields[0]);
		    i++)
			first |= 1u << (client_fields[i].name[0] - 'a');
	/* Most fields start with another letter: one test, not a walk. */
	ch = h->name_len > 0 ? (unsigned char)h->name[0] | 0x20 : 0;
	if (ch < 'a' || ch > 'z' || !(first & 1u << (ch - 'a')))
		return 0;
	for (i = 0; i < sizeof(client_fields) / sizeof(client_fields[0]); i++) {
		if (h->name_len != client_fields[i].len ||
		    !name_eq_any_dash(h, client_fields[i].name))
			continue;
		switch (client_fields[i].kind) {
		case CF_APPEND:
			return !http_name_eq(h, client_fields[i].name);
		case CF_IDENTITY:
			return rt == NULL || !rt->pass_client_identity_headers;
		default:
			return 1;
		}
	}
	return 0;
}

/*
 * Whether build_request_head() forwards client field h of rq as the
 * client sent it (X-Forwarded-For and Via: as the start of the list it
 * appends to).  ct: the tokens of rq's Connection fields; store: the
 * answer is fetched to be stored; reval: portico revalidates with the
 * stored object's validators.  This is the one place that decides it:
 * the Vary matcher (vary_pick) asks it too.
 */
static int
fwd_client_field(const struct req *r, const struct http_request *rq,
    const struct conn_tokens *ct, const struct http_header *h, int store,
    int reval)
{
	int	 host = h->name_len == 4 && http_name_eq(h, "host");

	if (is_hop_header(h) || (conn_tokens_has(ct, h) && !host) ||
	    client_field_dropped(h, r->route))
		return 0;
	if (host)
		return !rq->absolute_form;	/* the target's replaces it */
	if (h->name_len == 6 && http_name_eq(h, "expect"))
		return 0;
	if (store && ((h->name_len == 5 && http_name_eq(h, "range")) ||
	    (h->name_len == 8 && http_name_eq(h, "if-range"))))
		return 0;	/* fetch the whole object to store it */
	if ((reval || store) && ((h->name_len == 13 &&
	    http_name_eq(h, "if-none-match")) || (h->name_len == 17 &&
	    http_name_eq(h, "if-modified-since"))))
		return 0;	/* ours, or none: a whole answer to store */
	return 1;
}

/*
 * The fields build_request_head() may write itself rather than copy
 * from the client (whatever the client sent): a field it adds must be
 * listed here, or Vary on it would be matched against the client's.
 */
static const char *const fwd_own_fields[] = {
	"host", "x-forwarded-for", "x-forwarded-proto", "x-client-cert-subject",
	"x-forwarded-host", "via", "content-length", "transfer-encoding",
	"connection", "if-none-match", "if-modified-since",
};

/* Whether build_request_head() may write a field of lowercase name n. */
static int
fwd_own_field(const char *n, size_t len)
{
	size_t	 i;

	for (i = 0; i < sizeof(fwd_own_fields) / sizeof(fwd_own_fields[0]); i++)
		if (strlen(fwd_own_fields[i]) == len &&
		    memcmp(fwd_own_fields[i], n, len) == 0)
			return 1;
	return 0;
}

/*
 * Build the upstream request head in r->hb.  Returns 0, or -1 when it
 * does not fit the buffer (the client gets 431).
 */
static int
build_request_head(struct client *c, const struct http_request *rq)
{
	struct req		*r = c->r;
	struct hbuild		 b = { r->hb, 0, bufsize };
	struct conn_tokens	 ct;
	const struct http_header *h;
	const char		*xff = NULL, *via = NULL, *p;
	size_t			 i, xff_len = 0, via_len = 0, n;
	int			 rc = 0, store = cache_writing(&r->cw);

	conn_tokens_collect(rq->headers, rq->nheaders, &ct);
	rc |= hb_add(&b, rq->method_str, rq->method_len);
	rc |= hb_add(&b, " ", 1);
	if (rq->absolute_form || r->np_len > 0) {
		if (r->np_len > 0 && !r->route->normalize_path) {
			raw_path(rq, &p, &n);
			rc |= hb_add(&b, p, n);
		} else
			rc |= hb_add(&b, rq->path, rq->path_len);
		if (rq->query != NULL) {
			rc |= hb_add(&b, "?", 1);
			rc |= hb_add(&b, rq->query, rq->query_len);
		}
	} else
		rc |= hb_add(&b, rq->target, rq->target_len);
	rc |= hb_str(&b, " HTTP/1.1\r\n");
	if (rq->absolute_form) {
		rc |= hb_str(&b, "Host: ");
		rc |= hb_add(&b, rq->host, rq->host_len);
		rc |= hb_str(&b, "\r\n");
	} else if (rq->host == NULL) {
		/* HTTP/1.0 without Host: HTTP/1.1 upstream needs one. */
		rc |= hb_str(&b, "Host: ");
		rc |= hb_str(&b, r->upstream->conf->name);
		rc |= hb_str(&b, "\r\n");
	}
	for (i = 0; i < rq->nheaders; i++) {
		h = &rq->headers[i];
		if (!fwd_client_field(r, rq, &ct, h, store, r->c_reval))
			continue;
		if (h->name_len == 15 && http_name_eq(h, "x-forwarded-for")) {
			/* Several fields are one list; keep the span of the last. */
			if (xff != NULL) {
				rc |= hb_str(&b, "X-Forwarded-For: ");
				rc |= hb_add(&b, xff, xff_len);
				rc |= hb_str(&b, "\r\n");
			}
			xff = h->value;
			xff_len = h->value_len;
			continue;
		} else if (h->name_len == 3 && http_name_eq(h, "via")) {
			if (via != NULL) {
				rc |= hb_str(&b, "Via: ");
				rc |= hb_add(&b, via, via_len);
				rc |= hb_str(&b, "\r\n");
			}
			via = h->value;
			via_len = h->value_len;
			continue;
		} else if (alog && h->name_len == 7 && http_name_eq(h, "referer"))
			copy_field(r->referer, sizeof(r->referer), h->value, h->value_len);
		else if (alog && h->name_len == 10 && http_name_eq(h, "user-agent"))
			copy_field(r->agent, sizeof(r->agent), h->value, h->value_len);
		rc |= hb_header(&b, h);
	}
	rc |= hb_str(&b, "X-Forwarded-For: ");
	if (xff != NULL) {
		rc |= hb_add(&b, xff, xff_len);
		rc |= hb_str(&b, ", ");
	}
	rc |= hb_str(&b, c->ip);
	rc |= hb_str(&b, c->ls->conf->tls != NULL ? "\r\nX-Forwarded-Proto: https\r\n" :
	    "\r\nX-Forwarded-Proto: http\r\n");
	if (c->tls != NULL && c->tls->subject != NULL) {
		rc |= hb_str(&b, "X-Client-Cert-Subject: ");
		rc |= hb_str(&b, c->tls->subject);
		rc |= hb_str(&b, "\r\n");
	}
	if (rq->host != NULL) {
		rc |= hb_str(&b, "X-Forwarded-Host: ");
		rc |= hb_add(&b, rq->host, rq->host_len);
		rc |= hb_str(&b, "\r\n");
	}
	rc |= hb_str(&b, "Via: ");
	if (via != NULL) {
		rc |= hb_add(&b, via, via_len);
		rc |= hb_str(&b, ", ");
	}
	rc |= hb_str(&b, rq->version == 10 ? "1.0 portico\r\n" : "1.1 portico\r\n");
	if (r->buffered && !r->out_chunked)
		/* A buffered body goes with its length, chunked or not. */
		rc |= hb_fmt(&b, "Content-Length: %llu\r\n",
		    (unsigned long long)r->body.len);
	else if (rq->chunked || r->out_chunked)
		rc |= hb_str(&b, "Transfer-Encoding: chunked\r\n");
	else if (rq->content_length >= 0)
		rc |= hb_fmt(&b, "Content-Length: %lld\r\n",
		    (long long)rq->content_length);
	if (r->upstream->conf->keepalive == 0)
		rc |= hb_str(&b, "Connection: close\r\n");
	if (r->c_reval) {
		/* Revalidate the stored response with its validators. */
		char	 d[40];

		if (r->cmeta.etag_len > 0) {
			rc |= hb_str(&b, "If-None-Match: ");
			rc |= hb_add(&b, r->cmeta.etag, r->cmeta.etag_len);
			rc |= hb_str(&b, "\r\n");
		}
		if (r->cmeta.last_modified >= 0) {
			cachepol_fmt_date(r->cmeta.last_modified, d);
			rc |= hb_fmt(&b, "If-Modified-Since: %s\r\n", d);
		}
	}
	rc |= hb_str(&b, "\r\n");
	if (rc != 0)
		return -1;
	r->hb_pos = 0;
	r->hb_end = b.len;
	return 0;
}

/*
 * Build the client's response head in r->hb from the upstream's.
 * final: 0 for a forwarded 1xx.  Returns 0 or -1 (too large: 502).
 */
static int
build_response_head(struct client *c, const struct http_response *rs, int final)
{
	struct req		*r = c->r;
	struct hbuild		 b = { r->hb, 0, bufsize };
	struct conn_tokens	 ct;
	const struct http_header *h;
	const char		*via = NULL;
	size_t			 i, via_len = 0;
	int			 rc = 0, nobody;

	conn_tokens_collect(rs->headers, rs->nheaders, &ct);
	nobody = !http_response_has_body(r->method, rs->status);
	rc |= hb_fmt(&b, "HTTP/1.1 %d ", rs->status);
	rc |= hb_add(&b, rs->reason, rs->reason_len);
	rc |= hb_str(&b, "\r\n");
	for (i = 0; i < rs->nheaders; i++) {
		h = &rs->headers[i];
		if (h->name_len == 14 && http_name_eq(h, "content-length") &&
		    nobody && rs->status != 204 && final) {
			/* HEAD and 304 keep the length of what GET would send. */
			rc |= hb_header(&b, h);
			continue;
		}
		if (is_hop_header(h) || conn_tokens_has(&ct, h))
			continue;
		if (h->name_len == 3 && http_name_eq(h, "via")) {
			if (via != NULL) {
				rc |= hb_str(&b, "Via: ");
				rc |= hb_add(&b, via, via_len);
				rc |= hb_str(&b, "\r\n");
			}
			via = h->value;
			via_len = h->value_len;
			continue;
		}
		if (r->hsts != NULL && h->name_len == 25 &&
		    http_name_eq(h, "strict-transport-security"))
			continue;	/* the route's own replaces it */
		rc |= hb_header(&b, h);
	}
	if (final && r->hsts != NULL) {
		rc |= hb_str(&b, "Strict-Transport-Security: ");
		rc |= hb_str(&b, r->hsts);
		rc |= hb_str(&b, "\r\n");
	}
	rc |= hb_str(&b, "Via: ");
	if (via != NULL) {
		rc |= hb_add(&b, via, via_len);
		rc |= hb_str(&b, ", ");
	}
	rc |= hb_str(&b, rs->version == 10 ? "1.0 portico\r\n" : "1.1 portico\r\n");
	if (final) {
		if (nobody)
			;
		else if (r->resp_chunked && (!r->dechunk || r->c_chunk))
			rc |= hb_str(&b, "Transfer-Encoding: chunked\r\n");
		else if (rs->content_length >= 0)
			rc |= hb_fmt(&b, "Content-Length: %lld\r\n",
			    (long long)rs->content_length);
		if (!r->keep_alive)
			rc |= hb_str(&b, "Connection: close\r\n");
		else if (r->version == 10)
			rc |= hb_str(&b, "Connection: keep-alive\r\n");
		if (r->cstatus[0] != '\0')
			rc |= hb_fmt(&b, "Cache-Status: %s\r\n", r->cstatus);
	}
	rc |= hb_str(&b, "\r\n");
	if (rc != 0)
		return -1;
	r->hb_pos = 0;
	r->hb_end = b.len;
	return 0;
}

/* Cached Date value, refreshed once a second. */
static const char *
http_date(void)
{
	static char	 date[40];
	static time_t	 last;
	struct tm	 tm;

	if (ev_wall != last) {
		last = ev_wall;
		gmtime_r(&last, &tm);
		strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
	}
	return date;
}

/*
 * Answer with portico's own page.  It names the status only: never an
 * upstream address or anything the client sent.  close: close the
 * connection afterwards.
 */
static enum step
local_answer(struct client *c, int status, int close_after)
{
	struct req	*r = c->r;
	char		 body[256];
	int		 blen, n;
	const char	*reason = http_status_reason(status);

	if (r == NULL) {
		if ((r = c->r = req_get()) == NULL) {
			client_close(c);
			return STEP_CLOSED;
		}
		r->t_start = ev_now;
		r->wall_start = ev_wall;
		r->method = HTTP_M_GET;
		r->version = 11;
		nbusy++;
	}
	if (r->hb == NULL && (r->hb = buf_get()) == NULL) {
		client_close(c);
		return STEP_CLOSED;
	}
	if (r->resp_head) {
		/* The client already has part of a response: cut it short. */
		client_close(c);
		return STEP_CLOSED;
	}
	if (c->tls != NULL && SSL_want_write(c->tls->ssl)) {
		/*
		 * A record of what was being written (a 1xx) waits inside
		 * OpenSSL and goes out first, whatever comes next: another
		 * answer after it would reach the client torn.
		 */
		client_abort(c);
		return STEP_CLOSED;
	}
	if (r->c_stale && (status == 500 || (status >= 502 && status <= 504)) &&
	    cache_stale_ok(c) && cache_serve_stale(c, status) == STEP_DONE)
		return STEP_DONE;	/* stale-if-error */
	if (close_after || worker.quitting)
		r->keep_alive = 0;
	r->local_close = !r->keep_alive;
	r->status = status;
	blen = snprintf(body, sizeof(body),
	    "<html>\r\n<head><title>%d %s</title></head>\r\n"
	    "<body>\r\n<h1>%d %s</h1>\r\n<hr><p>portico</p>\r\n</body>\r\n</html>\r\n",
	    status, reason, status, reason);
	n = snprintf(r->hb, bufsize,
	    "HTTP/1.1 %d %s\r\nServer: portico\r\nDate: %s\r\n"
	    "Content-Type: text/html\r\nContent-Length: %d\r\n%s%s%s%s%s\r\n%s",
	    status, reason, http_date(), blen,
	    r->local_close ? "Connection: close\r\n" :
	    (r->version == 10 ? "Connection: keep-alive\r\n" : ""),
	    status == 503 ? "Retry-After: 5\r\n" : "",
	    r->cstatus[0] != '\0' ? "Cache-Status: " : "", r->cstatus,
	    r->cstatus[0] != '\0' ? "\r\n" : "",
	    r->method == HTTP_M_HEAD ? "" : body);
	r->hb_pos = 0;
	r->hb_end = n;
	r->body_bytes = r->method == HTTP_M_HEAD ? 0 : (uint64_t)blen;
	r->resp_head = 1;
	req_drop_up(r);
	c->state = CS_LOCAL;
	return STEP_DONE;
}

/*
 * Write two pieces (either may be empty) to the client in one writev.
 * Returns the bytes written (0 and wr_ready cleared when it would block),
 * or -1 when the client is gone (it is closed then).
 */
static ssize_t
client_write2(struct client *c, const char *a, size_t al, const char *b, size_t bl)
{
	struct iovec	 iov[2];
	int		 niov = 0;
	ssize_t		 n;

	if (c->bg)
		return al + bl;		/* a refresh: nobody to tell */
	if (al > 0) {
		iov[niov].iov_base = (void *)a;
		iov[niov++].iov_len = al;
	}
	if (bl > 0) {
		iov[niov].iov_base = (void *)b;
		iov[niov++].iov_len = bl;
	}
	n = cl_writev(c, iov, niov);
	if (n == -1) {
		if (errno == EAGAIN || errno == EINTR) {
			c->wr_ready = 0;
			return 0;
		}
		client_close(c);
		return -1;
	}
	if ((size_t)n < al + bl)
		c->wr_ready = 0;
	return n;
}

/* Write the local answer; then keep-alive or close. */
static enum step
step_local(struct client *c)
{
	struct req	*r = c->r;
	ssize_t		 n;

	size_t		 hl;

	if (c->bg) {
		/* A refresh that failed: nobody waits for the answer. */
		r->resp_done = 1;
		client_close(c);
		return STEP_CLOSED;
	}
	while (r->hb_pos < r->hb_end || r->xbody_pos < r->xbody_len) {
		if (!c->wr_ready) {
			c->wait = W_CL_WRITE;
			return STEP_AGAIN;
		}
		hl = r->hb_end - r->hb_pos;
		n = client_write2(c, r->hb + r->hb_pos, hl, r->xbody + r->xbody_pos,
		    r->xbody_len - r->xbody_pos);
		if (n == -1)
			return STEP_CLOSED;
		if ((size_t)n <= hl) {
			r->hb_pos += n;
			continue;
		}
		r->hb_pos = r->hb_end;
		r->xbody_pos += n - hl;
	}
	if (r->local_close) {
		/* Let the page reach the client before the close. */
		cl_shutdown_wr(c);
		access_log(c);
		req_put(r);
		c->r = NULL;
		nbusy--;
		buf_put(c->in);
		c->in = NULL;
		c->in_pos = c->in_end = 0;
		c->state = CS_LINGER;
		c->fixed_deadline = ev_now + LINGER_MS;
		return STEP_DONE;
	}
	return request_finish(c);
}

/* Drop input until the client closes or the lingering time is over. */
static enum step
step_linger(struct client *c)
{
	static char	 sink[16384];
	ssize_t		 n;

	for (;;) {
		if (!c->rd_ready) {
			c->wait = W_LINGER;
			return STEP_AGAIN;
		}
		n = read(c->io.fd, sink, sizeof(sink));
		if (n == -1 && (errno == EAGAIN || errno == EINTR)) {
			c->rd_ready = 0;
			continue;
		}
		if (n <= 0) {
			client_close(c);
			return STEP_CLOSED;
		}
	}
}

/* A growing text buffer for the status page. */
struct sbuf {
	char	*p;
	size_t	 len, cap;
	int	 oom;
};

static void
sb_printf(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
sb_printf(struct sbuf *b, const char *fmt, ...)
{
	va_list	 ap;
	int	 n;
	char	*np;

	for (;;) {
		if (b->oom)
			return;
		va_start(ap, fmt);
		n = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? b->cap - b->len : 0,
		    fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->oom = 1;
			return;
		}
		if (b->p != NULL && (size_t)n < b->cap - b->len) {
			b->len += n;
			return;
		}
		np = realloc(b->p, b->cap + n + 4096);
		if (np == NULL) {
			b->oom = 1;
			return;
		}
		b->p = np;
		b->cap += n + 4096;
	}
}

static const char *
state_name(uint32_t st)
{
	return st == SHM_DOWN ? "down" : (st == SHM_FAILED ? "failed" : "up");
}

/* Copy a shared probe text, for JSON and label use: printable, no quotes. */
static void
probe_text(const struct shm_server *ss, char *out, size_t len)
{
	size_t	 i;

	for (i = 0; i + 1 < len && i < sizeof(ss->last_probe) && ss->last_probe[i]; i++)
		out[i] = (ss->last_probe[i] >= 0x20 && ss->last_probe[i] < 0x7f &&
		    ss->last_probe[i] != '"' && ss->last_probe[i] != '\\') ?
		    ss->last_probe[i] : '?';
	out[i] = '\0';
}

/* Prometheus families, each as one group of samples over all servers. */
static void
status_metrics(struct sbuf *b, struct shm_header *shm)
{
	static const struct {
		const char	*name, *type;
	} fam[] = {
		{ "portico_server_up", "gauge" },
		{ "portico_server_active_connections", "gauge" },
		{ "portico_server_requests_total", "counter" },
		{ "portico_server_failures_total", "counter" },
		{ "portico_server_retries_total", "counter" },
	};
	const struct conf_upstream	*cu;
	const struct conf_server	*cs;
	const struct shm_server		*ss;
	size_t				 f, u, i;
	unsigned long long		 v;

	for (f = 0; f < sizeof(fam) / sizeof(fam[0]); f++) {
		sb_printf(b, "# TYPE %s %s\n", fam[f].name, fam[f].type);
		for (u = 0; u < conf->nupstreams; u++) {
			cu = &conf->upstreams[u];
			for (i = 0; i < cu->nservers; i++) {
				cs = &cu->servers[i];
				if (cs->shm_idx < 0)
					continue;
				ss = &shm->srv[cs->shm_idx];
				switch (f) {
				case 0:
					v = __atomic_load_n(&ss->state, __ATOMIC_RELAXED) == SHM_UP;
					break;
				case 1:
					v = __atomic_load_n(&ss->active, __ATOMIC_RELAXED);
					break;
				case 2:
					v = __atomic_load_n(&ss->requests, __ATOMIC_RELAXED);
					break;
				case 3:
					v = __atomic_load_n(&ss->fails, __ATOMIC_RELAXED);
					break;
				default:
					v = __atomic_load_n(&ss->retries, __ATOMIC_RELAXED);
					break;
				}
				sb_printf(b, "%s{upstream=\"%s\",server=\"%s\"} %llu\n",
				    fam[f].name, cu->name, cs->addr.text, v);
			}
		}
	}
}

/* TLS handshake counters, all workers: a JSON member or Prometheus lines. */
static void
status_tls(struct sbuf *b, int prom)
{
	static const char *const name[] = {
		"handshakes", "resumed", "failed",
		"upstream_handshakes", "upstream_resumed", "upstream_failed"
	};
	unsigned long long	 v[6] = { 0 };
	int			 i;

	if (tls_shm != NULL) {
		v[0] = __atomic_load_n(&tls_shm->handshakes, __ATOMIC_RELAXED);
		v[1] = __atomic_load_n(&tls_shm->resumed, __ATOMIC_RELAXED);
		v[2] = __atomic_load_n(&tls_shm->failed, __ATOMIC_RELAXED);
		v[3] = __atomic_load_n(&tls_shm->up_handshakes, __ATOMIC_RELAXED);
		v[4] = __atomic_load_n(&tls_shm->up_resumed, __ATOMIC_RELAXED);
		v[5] = __atomic_load_n(&tls_shm->up_failed, __ATOMIC_RELAXED);
	}
	if (!prom) {
		sb_printf(b, ",\"tls\":{");
		for (i = 0; i < 6; i++)
			sb_printf(b, "%s\"%s\":%llu", i ? "," : "", name[i], v[i]);
		sb_printf(b, "}");
		return;
	}
	for (i = 0; i < 6; i++)
		sb_printf(b, "# TYPE portico_tls_%s_total counter\n"
		    "portico_tls_%s_total %llu\n", name[i], name[i], v[i]);
}

/*
 * The status page: every upstream and server with its shared state and
 * counters, summed over all workers from shared memory.  JSON, or the
 * Prometheus text format when the path ends in /metrics.
 */
static enum step
status_answer(struct client *c, const struct http_request *rq)
{
	struct req		*r = c->r;
	struct shm_header	*shm = worker.shm;
	struct sbuf		 b = { NULL, 0, 0, 0 };
	struct shm_stats	 tot;
	struct cache_stats	 cs_;
	const struct conf_upstream *cu;
	const struct conf_server *cs;
	const struct shm_server	*ss;
	char			 probe[64];
	size_t			 u, i;
	int			 prom, k, n;

	prom = rq->path_len >= 8 &&
	    memcmp(rq->path + rq->path_len - 8, "/metrics", 8) == 0;
	shm_stats_total(shm, &tot);
	if (prom) {
		sb_printf(&b, "# TYPE portico_connections_total counter\n"
		    "portico_connections_total %llu\n"
		    "# TYPE portico_connections_refused_total counter\n"
		    "portico_connections_refused_total %llu\n"
		    "# TYPE portico_requests_total counter\n"
		    "portico_requests_total %llu\n"
		    "# TYPE portico_responses_total counter\n",
		    (unsigned long long)tot.connections,
		    (unsigned long long)tot.connections_refused,
		    (unsigned long long)tot.requests);
		for (k = 1; k <= 5; k++)
			sb_printf(&b, "portico_responses_total{class=\"%dxx\"} %llu\n",
			    k, (unsigned long long)tot.status[k]);
		sb_printf(&b, "# TYPE portico_upstream_errors_total counter\n"
		    "portico_upstream_errors_total %llu\n",
		    (unsigned long long)tot.upstream_errors);
		if (worker.cache != NULL) {
			cache_get_stats(worker.cache, &cs_);
			sb_printf(&b, "# TYPE portico_cache_requests_total counter\n"
			    "portico_cache_requests_total{result=\"hit\"} %llu\n"
			    "portico_cache_requests_total{result=\"miss\"} %llu\n"
			    "portico_cache_requests_total{result=\"stale\"} %llu\n"
			    "# TYPE portico_cache_stored_total counter\n"
			    "portico_cache_stored_total %llu\n"
			    "# TYPE portico_cache_evictions_total counter\n"
			    "portico_cache_evictions_total %llu\n"
			    "# TYPE portico_cache_objects gauge\n"
			    "portico_cache_objects %llu\n"
			    "# TYPE portico_cache_used_bytes gauge\n"
			    "portico_cache_used_bytes %llu\n"
			    "# TYPE portico_cache_size_bytes gauge\n"
			    "portico_cache_size_bytes %llu\n",
			    (unsigned long long)tot.cache_hits,
			    (unsigned long long)tot.cache_misses,
			    (unsigned long long)tot.cache_stale,
			    (unsigned long long)tot.cache_stored,
			    (unsigned long long)cs_.evictions,
			    (unsigned long long)cs_.objects,
			    (unsigned long long)cs_.used,
			    (unsigned long long)cs_.size);
		}
		status_metrics(&b, shm);
	} else {
		sb_printf(&b, "{\"connections\":%llu,"
		    "\"connections_refused\":%llu,\"requests\":%llu,"
		    "\"responses\":{\"1xx\":%llu,\"2xx\":%llu,\"3xx\":%llu,"
		    "\"4xx\":%llu,\"5xx\":%llu},\"upstream_errors\":%llu,",
		    (unsigned long long)tot.connections,
		    (unsigned long long)tot.connections_refused,
		    (unsigned long long)tot.requests,
		    (unsigned long long)tot.status[1], (unsigned long long)tot.status[2],
		    (unsigned long long)tot.status[3], (unsigned long long)tot.status[4],
		    (unsigned long long)tot.status[5],
		    (unsigned long long)tot.upstream_errors);
		if (worker.cache != NULL) {
			cache_get_stats(worker.cache, &cs_);
			sb_printf(&b, "\"cache\":{\"hits\":%llu,\"misses\":%llu,"
			    "\"stale\":%llu,\"stored\":%llu,\"evictions\":%llu,"
			    "\"objects\":%llu,\"writing\":%llu,\"used\":%llu,"
			    "\"size\":%llu},",
			    (unsigned long long)tot.cache_hits,
			    (unsigned long long)tot.cache_misses,
			    (unsigned long long)tot.cache_stale,
			    (unsigned long long)tot.cache_stored,
			    (unsigned long long)cs_.evictions,
			    (unsigned long long)cs_.objects,
			    (unsigned long long)cs_.writing,
			    (unsigned long long)cs_.used,
			    (unsigned long long)cs_.size);
		}
		sb_printf(&b, "\"upstreams\":[");
	}
	for (u = 0; u < conf->nupstreams; u++) {
		cu = &conf->upstreams[u];
		if (!prom)
			sb_printf(&b, "%s{\"name\":\"%s\",\"servers\":[",
			    u ? "," : "", cu->name);
		for (i = 0; i < cu->nservers; i++) {
			cs = &cu->servers[i];
			if (cs->shm_idx < 0)
				continue;
			ss = &shm->srv[cs->shm_idx];
			probe_text(ss, probe, sizeof(probe));
			n = (int)__atomic_load_n(&ss->state, __ATOMIC_RELAXED);
			if (prom)
				continue;
			sb_printf(&b, "%s{\"address\":\"%s\",\"weight\":%d,"
			    "\"backup\":%s,\"max_conns\":%d,\"state\":\"%s\","
			    "\"since_ms\":%llu,\"last_probe\":\"%s\",\"probes\":%llu,"
			    "\"active\":%u,\"requests\":%llu,\"failures\":%llu,"
			    "\"retries\":%llu}",
			    i ? "," : "", cs->addr.text, cs->weight,
			    cs->backup ? "true" : "false", cs->max_conns, state_name((uint32_t)n),
			    (unsigned long long)(ev_now - (ss->changed_ms && ss->changed_ms <= ev_now ?
			    ss->changed_ms : ev_now)),
			    probe, (unsigned long long)ss->probes,
			    __atomic_load_n(&ss->active, __ATOMIC_RELAXED),
			    (unsigned long long)__atomic_load_n(&ss->requests, __ATOMIC_RELAXED),
			    (unsigned long long)__atomic_load_n(&ss->fails, __ATOMIC_RELAXED),
			    (unsigned long long)__atomic_load_n(&ss->retries, __ATOMIC_RELAXED));
		}
		if (!prom)
			sb_printf(&b, "]}");
	}
	if (!prom)
		sb_printf(&b, "]");
	status_tls(&b, prom);
	if (!prom)
		sb_printf(&b, "}\n");
	if (b.oom) {
		free(b.p);
		return local_answer(c, 500, 1);
	}
	if (r->hb == NULL && (r->hb = buf_get()) == NULL) {
		free(b.p);
		client_close(c);
		return STEP_CLOSED;
	}
	r->status = 200;
	r->local_close = !r->keep_alive;
	r->hb_pos = 0;
	r->hb_end = snprintf(r->hb, bufsize,
	    "HTTP/1.1 200 OK\r\nServer: portico\r\nDate: %s\r\n"
	    "Content-Type: %s\r\nCache-Control: no-store\r\n"
	    "Content-Length: %zu\r\n%s\r\n", http_date(),
	    prom ? "text/plain; version=0.0.4" : "application/json",
	    b.len, r->local_close ? "Connection: close\r\n" : "");
	if (r->method == HTTP_M_HEAD) {
		free(b.p);
		b.p = NULL;
		b.len = 0;
	}
	r->xbody = b.p;
	r->xbody_len = b.len;
	r->xbody_pos = 0;
	r->body_bytes = b.len;
	r->resp_head = 1;
	c->state = CS_LOCAL;
	return STEP_DONE;
}

/* Whether an address (text, as in c->ip) is in a list of blocks. */
static int
ip_allowed(const char *ip, const struct conf_cidr *list, size_t n)
{
	struct sockaddr_in	 s4;
	struct sockaddr_in6	 s6;

	memset(&s4, 0, sizeof(s4));
	memset(&s6, 0, sizeof(s6));
	if (inet_pton(AF_INET, ip, &s4.sin_addr) == 1) {
		s4.sin_family = AF_INET;
		return conf_cidr_match(list, n, (struct sockaddr *)&s4);
	}
	if (inet_pton(AF_INET6, ip, &s6.sin6_addr) == 1) {
		s6.sin6_family = AF_INET6;
		return conf_cidr_match(list, n, (struct sockaddr *)&s6);
	}
	return 0;
}

/* Whether the client's address is in the route's allow list. */
static int
client_allowed(const struct client *c, const struct conf_route *rt)
{
	return rt->nallow == 0 || ip_allowed(c->ip, rt->allow, rt->nallow);
}

/* Find cookie name in the Cookie fields; *v, *vl its value. */
static int
find_cookie(const struct http_request *rq, const char *name, const char **v,
    size_t *vl)
{
	size_t		 i, nl = strlen(name);
	const char	*p, *end, *e;

	for (i = 0; i < rq->nheaders; i++) {
		if (!http_name_eq(&rq->headers[i], "cookie"))
			continue;
		p = rq->headers[i].value;
		end = p + rq->headers[i].value_len;
		while (p < end) {
			while (p < end && (*p == ' ' || *p == ';'))
				p++;
			e = memchr(p, ';', end - p);
			if (e == NULL)
				e = end;
			if ((size_t)(e - p) > nl && p[nl] == '=' &&
			    memcmp(p, name, nl) == 0) {
				*v = p + nl + 1;
				*vl = e - *v;
				return 1;
			}
			p = e;
		}
	}
	return 0;
}

/* The balancing key of a request, for ip_hash and hash upstreams. */
static void
request_key(struct client *c, const struct http_request *rq)
{
	struct req			*r = c->r;
	const struct conf_upstream	*cu = r->upstream->conf;
	const char			*v = NULL;
	size_t				 vl = 0, i;

	r->keyed = 0;
	if (cu->balance == BALANCE_IP_HASH) {
		v = c->ip;
		vl = strlen(c->ip);
	} else if (cu->balance == BALANCE_HASH) {
		switch (cu->hash_key) {
		case HASH_KEY_HEADER:
			for (i = 0; i < rq->nheaders; i++)
				if (http_name_eq(&rq->headers[i], cu->hash_key_name)) {
					v = rq->headers[i].value;
					vl = rq->headers[i].value_len;
					break;
				}
			break;
		case HASH_KEY_COOKIE:
			find_cookie(rq, cu->hash_key_name, &v, &vl);
			break;
		case HASH_KEY_URI:
		default:
			v = rq->target;
			vl = rq->target_len;
			break;
		}
	}
	if (v == NULL || vl == 0)
		return;		/* no key: round robin */
	r->keyed = 1;
	r->hash = balance_hash(v, vl);
}

/*
 * The response cache.  The RFC 9111 rules live in cachepol.c and the
 * shared-memory store in common/cache.c; this part wires them into the
 * exchange:
 *
 *   step_head -> cache_request: PURGE/BAN, lookup; a fresh object is
 *	answered at once (cache_hit, CS_CACHE); a key another request is
 *	fetching waits for it (CS_CWAIT); else the request goes upstream,
 *	holding a writer for the key (so that concurrent misses collapse
 *	onto it) and, for a stale object, its validators.
 *   response_head -> cache_response: a 304 freshens the stored object and
 *	the client is answered from it; an error with a usable stale object
 *	answers stale (stale-if-error); a storable answer starts storing.
 *   resp_window -> cache_body: body bytes go into the object as they
 *	stream to the client; step_response commits it at the end.
 */

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
	int				 ct_done;
	int				 view;	/* frq: 0 not built, 1 built, -1 failed */
	struct conn_tokens		 ct;	/* of rq, once ct_done */
	struct http_request		 frq;
};


static void
cache_opts(const struct conf_route *rt, struct cachepol_opts *o)
{
	o->store_set_cookie = rt->cache_set_cookie;
	o->ignore_client_no_cache = rt->cache_ignore_no_cache;
	o->heuristic_max = conf->cache.heuristic_max_ms / 1000;
	o->heuristic_percent = conf->cache.heuristic_percent;
	o->default_ttl = rt->cache_default_ttl_ms / 1000;
}

/*
 * The request head is still in c->in (a request on a caching route that
 * is looked up or stored has no body, so nothing overwrites it): parse it
 * again when the cache needs its fields after step_head.
 */
static int
req_reparse(struct client *c, struct http_request *rq)
{
	struct req	*r = c->r;

	memset(rq, 0, sizeof(*rq));
	if (c->in == NULL || r->head_len == 0 ||
	    (size_t)r->head_off + r->head_len > c->in_end)
		return -1;
	if (http_parse_request(c->in + r->head_off, r->head_len, &req_limits,
	    rq, hdrs2) != HTTP_PARSE_OK)
		return -1;
	if (r->np_len > 0) {
		rq->path = r->np;
		rq->path_len = r->np_len;
	}
	return 0;
}

/*
 * The request as portico forwards it to the backend: build_request_head()
 * into a scratch buffer, parsed back into *frq (valid until the next
 * call).  The Vary blob of a stored answer is computed on this view, so
 * that it follows what the backend saw: the fields portico sets
 * (X-Forwarded-*, Via), those it removes (its own, hop-by-hop,
 * Connection-listed).  Lookups build it only for a Vary name portico
 * writes itself (vary_pick), and the key comes from fwd_url(): a hit
 * costs no head built and parsed again.  It is the head of a plain
 * miss: neither the validators of a revalidation nor the fields a store
 * drops (Range, conditionals) change the view.  -1 when it cannot be
 * built.
 */
static int
fwd_view(struct client *c, const struct http_request *rq, struct http_request *frq)
{
	struct req		*r = c->r;
	struct cache_writer	 cw = r->cw;
	char			*hb = r->hb;
	uint32_t		 pos = r->hb_pos, end = r->hb_end;
	unsigned		 reval = r->c_reval;
	int			 rc;

	r->hb = fwdbuf;
	r->c_reval = 0;
	cache_writer_init(&r->cw);
	rc = build_request_head(c, rq);
	memset(frq, 0, sizeof(*frq));
	if (rc == 0 && http_parse_request(fwdbuf, r->hb_end, &fwd_limits, frq,
	    hdrs3) != HTTP_PARSE_OK)
		rc = -1;
	r->hb = hb;
	r->hb_pos = pos;
	r->hb_end = end;
	r->c_reval = reval;
	r->cw = cw;
	return rc;
}

static void
vary_arg_init(struct vary_arg *va, struct client *c,
    const struct http_request *rq)
{
	va->c = c;
	va->rq = rq;
	va->out = c->r->ck + c->r->klen;
	va->cap = CACHE_VARY_MAX;
	va->len = 0;
	va->ct_done = 0;
	va->view = 0;
}

/* Requests without any field: the fields vary_pick() finds dropped. */
static const struct http_request no_fields;

/* The request whose fields named n (lowercase) are those forwarded. */
static const struct http_request *
vary_pick(const char *n, size_t len, void *arg)
{
	struct vary_arg		*va = arg;
	struct http_header	 h;

	if (fwd_own_field(n, len)) {
		if (va->view == 0)
			va->view = fwd_view(va->c, va->rq, &va->frq) == 0 ? 1 : -1;
		return va->view == 1 ? &va->frq : NULL;
	}
	if (!va->ct_done) {
		conn_tokens_collect(va->rq->headers, va->rq->nheaders, &va->ct);
		va->ct_done = 1;
	}
	memset(&h, 0, sizeof(h));
	h.name = n;
	h.name_len = len;
	/* As in fwd_view: the head of a plain miss. */
	return fwd_client_field(va->c->r, va->rq, &va->ct, &h, 0, 0) ?
	    va->rq : &no_fields;
}

static int
vary_cb(const char *blob, size_t len, void *arg)
{
	struct vary_arg	*va = arg;

	if (!cachepol_vary_match_by(blob, len, vary_pick, va))
		return 0;
	if (len <= va->cap) {
		memcpy(va->out, blob, len);
		va->len = len;
	}
	return 1;
}

/* Look the request's key up; *ok and the vary blob of what was found. */
static enum cache_lookup_rc
cache_find(struct client *c, const struct http_request *rq)
{
	struct req		*r = c->r;
	struct vary_arg		 va;
	enum cache_lookup_rc	 rc;

	vary_arg_init(&va, c, rq);
	if (r->cref.pin != 0)
		cache_unpin(worker.cache, &r->cref, worker.slot);
	cache_unfollow(worker.cache, &r->cref);
	rc = cache_lookup(worker.cache, r->ck, r->klen, vary_cb, &va, ev_wall,
	    (conf->cache.lock_timeout_ms + 999) / 1000, &r->cref, &r->cmeta);
	/* The blob of the object found (older variants may have matched too). */
	r->vlen = rc == CACHE_FOUND ? r->cref.skip - r->klen : 0;
	if (r->vlen > va.len)
		r->vlen = 0;
	return rc;
}

/*
 * Hits on an object still being stored (another request, maybe in another
 * worker, fills it at its backend's pace, cache_ahead_*): the client is
 * sent what is stored and follows the object as it grows (step_cache,
 * W_CGROW), until it is committed (then pinned, as any hit) or given up
 * (the connection is cut: its Content-Length was announced, or, for one
 * whose length is not known yet, a chunked answer gets no last-chunk).
 * An HTTP/1.0 client, which cannot be sent chunks, waits for such an
 * object to be whole, as before (lock_timeout).
 */

/* How long a growing object may stay still before its readers give up. */
static int64_t
cache_grow_patience(const struct req *r)
{
	return r->upstream->conf->read_timeout_ms + 1000;
}

/* Progress of the growing object: -1 when it is gone. */
static int
cache_grow_check(struct req *r)
{
	switch (cache_ref_grow(worker.cache, &r->cref)) {
	case 0:
		return 0;
	case 1:
		/*
		 * Whole now: pinned while it is sent, as any hit (as a
		 * follower it could not be evicted meanwhile; without room
		 * for a pin it stays one).
		 */
		r->c_grow = 0;
		if (r->c_chunk)
			r->cend = r->cref.head_len + r->cref.body_len;
		if (cache_pin(worker.cache, &r->cref, worker.slot) == 0)
			cache_unfollow(worker.cache, &r->cref);
		else if (!cache_ref_valid(worker.cache, &r->cref))
			return -1;
		return 0;
	default:
		return -1;
	}
}

/*
 * A key another request is storing: answer from its object as it grows
 * when that one announced its length and is fresh for this request.
 * Returns 1 when answered (*st set).
 */
static int
cache_grow_hit(struct client *c, const struct http_request *rq,
    const struct cachepol_req *cr, const struct cachepol_opts *o, enum step *st)
{
	struct req	*r = c->r;
	struct vary_arg	 va;

	vary_arg_init(&va, c, rq);
	if (r->cref.pin != 0)
		cache_unpin(worker.cache, &r->cref, worker.slot);
	cache_unfollow(worker.cache, &r->cref);
	if (cache_lookup_growing(worker.cache, r->ck, r->klen, vary_cb, &va,
	    &r->cref, &r->cmeta, &r->cexpect) == -1)
		return 0;
	if (cachepol_use(&r->cmeta, cr, o, ev_wall) != CACHEPOL_FRESH ||
	    (r->cexpect == CACHE_EXPECT_UNKNOWN && r->version == 10)) {
		/* An HTTP/1.0 client waits for the whole object instead. */
		cache_unfollow(worker.cache, &r->cref);
		return 0;
	}
	r->vlen = va.len;
	r->c_grow = 1;
	snprintf(r->cstatus, sizeof(r->cstatus),
	    "portico; fwd=miss; collapsed; ttl=%lld",
	    (long long)cachepol_ttl(&r->cmeta, ev_wall));
	*st = cache_hit(c, rq);
	if (*st == STEP_AGAIN) {
		r->c_grow = 0;
		r->cstatus[0] = '\0';
		return 0;
	}
	STAT_INC(cache_hits);
	return 1;
}

/*
 * Answer from the found object (r->cref): the client's own conditions
 * and a single range are honoured.  rq may be NULL (then neither is).
 * Returns STEP_DONE with c->state CS_CACHE, or STEP_AGAIN when the
 * object changed under us (the caller goes upstream instead).
 */
static enum step
cache_hit(struct client *c, const struct http_request *rq)
{
	struct req	*r = c->r;
	struct hbuild	 b;
	uint32_t	 hl = r->cref.head_len;
	uint64_t	 blen = r->c_grow ? r->cexpect : r->cref.body_len;
	uint64_t	 first = 0, last = 0;
	char		*eol;
	int		 rc = 0, range = 0, status = r->cmeta.status, nobody;
	int		 unknown = r->c_grow && blen == CACHE_EXPECT_UNKNOWN;
	size_t		 oldsl, newsl;
	char		 line[64];

	if (hl < 16 || hl > bufsize - 1024)
		return STEP_AGAIN;
	if (r->hb == NULL && (r->hb = buf_get()) == NULL)
		return STEP_AGAIN;
	if (cache_copy(worker.cache, &r->cref, 0, r->hb, hl) == -1 ||
	    memcmp(r->hb + hl - 4, "\r\n\r\n", 4) != 0)
		return STEP_AGAIN;
	nobody = r->method == HTTP_M_HEAD;
	if (rq != NULL && status == 200 && cachepol_not_modified(rq, &r->cmeta)) {
		status = 304;
		nobody = 1;
	} else if (rq != NULL && status == 200 && r->method == HTTP_M_GET &&
	    !unknown)
		range = cachepol_range(rq, &r->cmeta, blen, &first, &last);
	if (range == -1) {
		status = 416;
		nobody = 1;
	} else if (range == 1)
		status = 206;
	if (status != r->cmeta.status) {
		/* A different status line in front of the stored fields. */
		eol = memchr(r->hb, '\n', hl);
		if (eol == NULL)
			return STEP_AGAIN;
		oldsl = eol + 1 - r->hb;
		newsl = snprintf(line, sizeof(line), "HTTP/1.1 %d %s\r\n", status,
		    http_status_reason(status));
		memmove(r->hb + newsl, r->hb + oldsl, hl - oldsl);
		memcpy(r->hb, line, newsl);
		hl = hl - oldsl + newsl;
	}
	b.p = r->hb;
	b.len = hl - 2;		/* before the final empty line */
	b.cap = bufsize;
	rc |= hb_str(&b, "Age: ");
	rc |= hb_num(&b, cachepol_age(&r->cmeta, ev_wall));
	rc |= hb_str(&b, "\r\nVia: 1.1 portico\r\nCache-Status: ");
	if (r->cstatus[0] == '\0') {
		/* The plain hit: its value is also kept for the log. */
		struct hbuild	 cs = { r->cstatus, 0, sizeof(r->cstatus) - 1 };

		(void)hb_str(&cs, "portico; hit; ttl=");
		(void)hb_num(&cs, cachepol_ttl(&r->cmeta, ev_wall));
		r->cstatus[cs.len] = '\0';
	}
	rc |= hb_str(&b, r->cstatus);
	rc |= hb_str(&b, "\r\n");
	if (r->hsts != NULL) {
		rc |= hb_str(&b, "Strict-Transport-Security: ");
		rc |= hb_str(&b, r->hsts);
		rc |= hb_str(&b, "\r\n");
	}
	if (status == 416)
		rc |= hb_fmt(&b, "Content-Range: bytes */%llu\r\nContent-Length: 0\r\n",
		    (unsigned long long)blen);
	else if (range == 1)
		rc |= hb_fmt(&b, "Content-Range: bytes %llu-%llu/%llu\r\n"
		    "Content-Length: %llu\r\n", (unsigned long long)first,
		    (unsigned long long)last, (unsigned long long)blen,
		    (unsigned long long)(last - first + 1));
	else if (unknown) {
		/* Its length is known once it is whole: chunks till then. */
		if (!nobody)
			rc |= hb_str(&b, "Transfer-Encoding: chunked\r\n");
	} else if (status != 204 && (status != 304 || blen > 0)) {
		rc |= hb_str(&b, "Content-Length: ");
		rc |= hb_num(&b, (int64_t)blen);
		rc |= hb_str(&b, "\r\n");
	}
	if (worker.quitting)
		r->keep_alive = 0;
	if (!r->keep_alive)
		rc |= hb_str(&b, "Connection: close\r\n");
	else if (r->version == 10)
		rc |= hb_str(&b, "Connection: keep-alive\r\n");
	rc |= hb_str(&b, "\r\n");
	if (rc != 0)
		return STEP_AGAIN;
	r->hb_pos = 0;
	r->hb_end = b.len;
	r->c_chunk = unknown && !nobody;
	if (nobody)
		r->coff = r->cend = 0;
	else if (unknown) {
		r->coff = r->cref.head_len;
		r->cend = UINT64_MAX;	/* set at the commit */
	} else if (range == 1) {
		r->coff = r->cref.head_len + first;
		r->cend = r->cref.head_len + last + 1;
	} else {
		r->coff = r->cref.head_len;
		r->cend = r->cref.head_len + blen;
	}
	/*
	 * A body that fits behind the head is copied there (checked against
	 * the sequence): it goes out from private memory, whatever happens
	 * to the object meanwhile.  A larger one is pinned while it is sent.
	 */
	if (r->c_grow) {
		/* step_cache follows it as it grows, and pins it once whole. */
		r->cwait_until = ev_now + cache_grow_patience(r);
	} else if (r->cend - r->coff <= bufsize - r->hb_end) {
		if (r->cend > r->coff && cache_copy(worker.cache, &r->cref, r->coff,
		    r->hb + r->hb_end, r->cend - r->coff) == -1)
			return STEP_AGAIN;
		r->hb_end += r->cend - r->coff;
		r->body_bytes = r->cend - r->coff;
		r->coff = r->cend;
	} else if (r->cref.pin == 0 &&
	    cache_pin(worker.cache, &r->cref, worker.slot) == -1 &&
	    !cache_ref_valid(worker.cache, &r->cref))
		return STEP_AGAIN;
	r->status = status;
	r->resp_head = 1;
	r->c_hit = 1;
	req_drop_up(r);
	active_add(r, NULL, -1);	/* no server is busy with this any more */
	if (cache_writing(&r->cw))
		cache_abort(worker.cache, &r->cw);
	r->c_store = 0;
	c->state = CS_CACHE;
	return STEP_DONE;
}

/*
 * Chunked framing for a client sent body bytes of unknown length (an
 * object as it grows, or what streams through after it): the chunk
 * header (after the previous chunk's CRLF) for the next n body bytes,
 * or the last-chunk (n == 0), goes behind what is left of r->hb.
 * Returns -1 when hb has no room yet (it has once drained).
 */
static int
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

/*
 * The iovec of the next write of an object to the client: what is left of
 * r->hb, then the object's bytes from r->coff up to end, at most
 * CACHE_WRITE_MAX and, when c_chunk, within the current chunk.  Sets
 * *niov, *hl (bytes of hb) and *total.  -1 when the object's bytes could
 * not be had (it changed, or is not stored that far), else 0.
 */
static int
obj_iov(struct req *r, uint64_t end, struct iovec *iov, int *niov,
    size_t *hl, size_t *total)
{
	uint64_t	 want;
	int		 k;

	*niov = 0;
	*total = *hl = r->hb_end - r->hb_pos;
	if (*hl > 0) {
		iov[0].iov_base = r->hb + r->hb_pos;
		iov[0].iov_len = *hl;
		*niov = 1;
	}
	if (r->coff >= end || (r->c_chunk && r->ck_left == 0))
		return 0;
	want = end - r->coff;
	if (want > CACHE_WRITE_MAX)
		want = CACHE_WRITE_MAX;
	if (r->c_chunk && want > r->ck_left)
		want = r->ck_left;
	k = cache_iov(worker.cache, &r->cref, r->coff, want, iov + *niov,
	    CACHE_IOV);
	if (k <= 0)
		return -1;
	for (; k > 0; k--)
		*total += iov[(*niov)++].iov_len;
	return 0;
}

/* Account n bytes written of an obj_iov() write with hl bytes of hb. */
static void
obj_sent(struct req *r, size_t n, size_t hl)
{
	if (n <= hl) {
		r->hb_pos += n;
		return;
	}
	r->hb_pos = r->hb_end;
	r->coff += n - hl;
	r->body_bytes += n - hl;
	if (r->c_chunk)
		r->ck_left -= n - hl;
}

/* Write a hit: the built head, then the object's bytes straight from shared memory. */
static enum step
step_cache(struct client *c)
{
	struct req	*r = c->r;
	struct iovec	 iov[1 + CACHE_IOV];
	int		 niov;
	ssize_t		 n;
	size_t		 hl, total, want;
	uint64_t	 avail;

	if (c->bg)
		return request_finish(c);	/* a refresh: it is stored */
	while (r->hb_pos < r->hb_end || r->coff < r->cend ||
	    (r->c_chunk && !r->c_last)) {
		avail = r->cref.head_len + r->cref.body_len;
		if (r->c_grow && r->coff >= avail && r->hb_pos == r->hb_end) {
			/* All that is stored yet went out: is there more? */
			if (cache_grow_check(r) == -1)
				goto changed;
			if (r->coff >= r->cref.head_len + r->cref.body_len) {
				c->wait = W_CGROW;
				return STEP_AGAIN;
			}
			r->cwait_until = ev_now + cache_grow_patience(r);
			continue;
		}
		if (!c->wr_ready) {
			c->wait = W_CL_WRITE;
			return STEP_AGAIN;
		}
		if (r->c_chunk && r->ck_left == 0 && !r->c_last) {
			if (r->coff < r->cend && r->coff < avail) {
				want = (r->cend < avail ? r->cend : avail) - r->coff;
				(void)chunk_frame(r, want > CACHE_WRITE_MAX ?
				    CACHE_WRITE_MAX : want);
			} else if (r->coff >= r->cend)
				(void)chunk_frame(r, 0);
		}
		if (obj_iov(r, r->cend < avail ? r->cend : avail, iov, &niov,
		    &hl, &total) == -1) {
			if (r->c_grow && cache_grow_check(r) != -1 && !r->c_grow)
				continue;	/* committed meanwhile */
			goto changed;
		}
		n = cl_writev(c, iov, niov);
		if (n == -1) {
			if (errno == EAGAIN || errno == EINTR) {
				c->wr_ready = 0;
				continue;
			}
			client_close(c);
			return STEP_CLOSED;
		}
		/* Were the bytes copied (to the kernel, or to TLS records) still the object's? */
		if ((size_t)n > hl && !cache_ref_valid(worker.cache, &r->cref) &&
		    (!r->c_grow || cache_grow_check(r) == -1))
			goto changed;
		if ((size_t)n < total)
			c->wr_ready = 0;
		obj_sent(r, (size_t)n, hl);
	}
	return request_finish(c);
changed:
	/* Evicted or replaced while being sent: never finish it wrongly. */
	log_warnx("client %s: cached object changed while being sent: "
	    "connection cut", c->ip);
	client_abort(c);
	return STEP_CLOSED;
}

/* Whether the stale object may answer for a failed origin (stale-if-error). */
static int
cache_stale_ok(struct client *c)
{
	struct req		*r = c->r;
	struct http_request	 rq;
	struct cachepol_req	 cr;
	int64_t			 ms = r->route->cache_stale_if_error_ms;

	if (!r->c_stale || !cache_ref_valid(worker.cache, &r->cref) ||
	    req_reparse(c, &rq) == -1)
		return 0;
	cachepol_request(&rq, &cr);
	if (cachepol_stale_if_error(&r->cmeta, &cr, ev_wall))
		return 1;
	/* The operator's default, for responses that did not say. */
	return ms > 0 && r->cmeta.sie < 0 &&
	    !(r->cmeta.flags & (CACHE_F_MUST_REVAL | CACHE_F_NO_CACHE)) &&
	    -cachepol_ttl(&r->cmeta, ev_wall) <= ms / 1000;
}

/* The origin failed with status: answer with the stale object instead. */
static enum step
cache_serve_stale(struct client *c, int status)
{
	struct req		*r = c->r;
	struct http_request	 rq;
	char			 saved[sizeof(r->cstatus)];
	enum step		 st;

	memcpy(saved, r->cstatus, sizeof(saved));
	snprintf(r->cstatus, sizeof(r->cstatus), "portico; fwd=stale; "
	    "fwd-status=%d; ttl=%lld; detail=stale-if-error", status,
	    (long long)cachepol_ttl(&r->cmeta, ev_wall));
	r->c_stale = 0;
	r->up_reuse = 0;
	st = cache_hit(c, req_reparse(c, &rq) == 0 ? &rq : NULL);
	if (st == STEP_DONE)
		STAT_INC(cache_stale);
	else
		memcpy(r->cstatus, saved, sizeof(saved));
	return st;
}

/*
 * The host, path and query of rq as build_request_head() forwards them,
 * into *v (its other members zero): the target as sent, or the
 * normalized path, or the raw one for normalize_path = off, and the
 * Host as sent (the authority of an absolute-form target; none for an
 * HTTP/1.0 request without Host, which gets the upstream's name).
 */
static void
fwd_url(const struct req *r, const struct http_request *rq,
    struct http_request *v)
{
	*v = (struct http_request){ .host = rq->host,
	    .host_len = rq->host_len, .path = rq->path,
	    .path_len = rq->path_len, .query = rq->query,
	    .query_len = rq->query_len };
	if (r->np_len > 0 && !r->route->normalize_path)
		raw_path(rq, &v->path, &v->path_len);
}

/*
 * The keys of a request, from the request as forwarded (fwd_url):
 * "ROUTE UPSTREAM SCHEME://HOST/TARGET" (cachepol_key_scoped), so that
 * listeners, routes and upstreams never share objects, nor http and
 * https.  The same URL in the other scheme goes after the vary blob
 * area of r->ck: PURGE, BAN and invalidation drop both.  Only they use
 * it, so it is made only for methods other than GET and HEAD (k2len 0
 * otherwise: no hit pays for it).  -1 when the keys do not fit (the
 * request is not cached).
 */
static int
cache_keys(struct client *c, const struct http_request *rq)
{
	struct req		*r = c->r;
	struct http_request	 v;
	const struct cache_scope *sc = &cache_scopes[r->route - conf->routes];
	const char		*un = r->upstream->conf->name, *scope = sc->s;
	size_t			 cap = (bufsize - CACHE_VARY_MAX) / 2;
	int			 https = c->ls->conf->tls != NULL, n, n2;
	char			*u;

	if (cap > CACHE_KEY_MAX)
		cap = CACHE_KEY_MAX;
	fwd_url(r, rq, &v);
	n = cachepol_key_scoped(&v, un, scope, https, r->ck, cap);
	r->k2off = cap + CACHE_VARY_MAX;
	if (rq->method == HTTP_M_GET || rq->method == HTTP_M_HEAD)
		n2 = 0;
	else
		n2 = cachepol_key_scoped(&v, un, scope, !https, r->ck + r->k2off,
		    cap);
	/* Names hold no ':': the first one ends the scheme. */
	if (n < 0 || n2 < 0 || (size_t)n < sc->len ||
	    (u = memchr(r->ck + sc->len, ':', n - sc->len)) == NULL)
		return -1;
	r->klen = n;
	r->k2len = n2;
	r->kurl = u + 3 - r->ck;
	return 0;
}

/* PURGE (one key, all its variants) and BAN (every key under a prefix). */
static enum step
cache_purge_request(struct client *c, int ban)
{
	struct req		*r = c->r;
	int			 n;

	if (!ip_allowed(c->ip, conf->cache.purge_allow, conf->cache.npurge_allow)) {
		log_info("client %s: %s not allowed", c->ip, ban ? "BAN" : "PURGE");
		return local_answer(c, 403, BODY_UNREAD(r));
	}
	/* Both schemes: the resource changed, whoever asks for it. */
	if (ban)
		n = cache_purge_prefix(worker.cache, r->ck, r->klen) +
		    cache_purge_prefix(worker.cache, r->ck + r->k2off, r->k2len);
	else
		n = cache_purge(worker.cache, r->ck, r->klen) +
		    cache_purge(worker.cache, r->ck + r->k2off, r->k2len);
	log_notice("cache: %s %.*s by %s: %d object%s removed", ban ? "BAN" : "PURGE",
	    (int)r->klen, r->ck, c->ip, n, n == 1 ? "" : "s");
	return local_answer(c, n > 0 || ban ? 200 : 404, BODY_UNREAD(r));
}

/*
 * A request on a caching route, before any upstream work.  Returns 1 when
 * it is answered or waits (*st set), 0 when it goes upstream.
 */
static int
cache_request(struct client *c, const struct http_request *rq, enum step *st)
{
	struct req		*r = c->r;
	struct cachepol_req	 cr;
	struct cachepol_opts	 o;
	enum cache_lookup_rc	 lrc;
	const char		*fwd = "miss";
	int			 collapsed = r->cwait_until != 0;

	if (r->ck == NULL && (r->ck = buf_get()) == NULL) {
		client_close(c);
		*st = STEP_CLOSED;
		return 1;
	}
	r->c_stale = r->c_reval = 0;
	r->cstatus[0] = '\0';
	if (cache_keys(c, rq) == -1) {
		snprintf(r->cstatus, sizeof(r->cstatus),
		    "portico; fwd=bypass; detail=key-too-long");
		return 0;
	}
	if (rq->method == HTTP_M_OTHER && ((rq->method_len == 5 &&
	    memcmp(rq->method_str, "PURGE", 5) == 0) || (rq->method_len == 3 &&
	    memcmp(rq->method_str, "BAN", 3) == 0))) {
		*st = cache_purge_request(c, rq->method_len == 3);
		return 1;
	}
	cachepol_request(rq, &cr);
	if (!cr.cacheable) {
		r->c_invalidate = cachepol_invalidates(rq->method, 200) &&
		    (conf->cache.invalidate_unsafe == CACHE_UNSAFE_ON ||
		    (conf->cache.invalidate_unsafe == CACHE_UNSAFE_PURGE_ALLOW &&
		    ip_allowed(c->ip, conf->cache.purge_allow,
		    conf->cache.npurge_allow)));
		snprintf(r->cstatus, sizeof(r->cstatus), "portico; fwd=method");
		return 0;
	}
	cache_opts(r->route, &o);
	lrc = cache_find(c, rq);
	if (lrc == CACHE_BUSY && c->bg) {
		client_close(c);	/* someone refreshes it already */
		*st = STEP_CLOSED;
		return 1;
	}
	if (lrc == CACHE_FOUND && c->bg) {
		/* A refresh behind a stale hit: ask the origin, store the answer. */
		fwd = "stale";
		if (r->cmeta.etag_len > 0 || r->cmeta.last_modified >= 0)
			r->c_reval = 1;
	} else if (lrc == CACHE_FOUND) {
		switch (cachepol_use(&r->cmeta, &cr, &o, ev_wall)) {
		case CACHEPOL_FRESH:
			if (collapsed)
				snprintf(r->cstatus, sizeof(r->cstatus),
				    "portico; fwd=miss; collapsed; ttl=%lld",
				    (long long)cachepol_ttl(&r->cmeta, ev_wall));
			*st = cache_hit(c, rq);
			if (*st == STEP_AGAIN)
				break;	/* it changed: fetch it */
			STAT_INC(cache_hits);
			return 1;
		case CACHEPOL_STALE_SWR:
			snprintf(r->cstatus, sizeof(r->cstatus), "portico; hit; "
			    "ttl=%lld; detail=stale-while-revalidate",
			    (long long)cachepol_ttl(&r->cmeta, ev_wall));
			cache_refresh_behind(c, rq);
			*st = cache_hit(c, rq);
			if (*st == STEP_AGAIN)
				break;
			STAT_INC(cache_hits);
			return 1;
		case CACHEPOL_BYPASS:
			snprintf(r->cstatus, sizeof(r->cstatus),
			    "portico; fwd=bypass; detail=authorization");
			STAT_INC(cache_misses);
			return 0;
		case CACHEPOL_REVALIDATE:
		default:
			r->c_stale = 1;
			fwd = cr.no_cache && !o.ignore_client_no_cache ? "request" : "stale";
			if (rq->method == HTTP_M_GET &&
			    (r->cmeta.etag_len > 0 || r->cmeta.last_modified >= 0))
				r->c_reval = 1;
			break;
		}
	} else if (lrc == CACHE_BUSY && !cr.no_store) {
		/* Someone stores it: follow it as it grows, if it can be. */
		if (cache_grow_hit(c, rq, &cr, &o, st))
			return 1;
		/* Else wait for that answer, up to lock_timeout. */
		if (r->cwait_until == 0)
			r->cwait_until = ev_now + conf->cache.lock_timeout_ms;
		if (ev_now < r->cwait_until) {
			c->state = CS_CWAIT;
			*st = STEP_DONE;
			return 1;
		}
		fwd = "miss";
	}
	if (cr.cc.only_if_cached) {
		/* Nothing usable without asking the origin (RFC 9111 5.2.1.7). */
		snprintf(r->cstatus, sizeof(r->cstatus), "portico; fwd=miss; "
		    "detail=only-if-cached");
		r->c_stale = 0;
		*st = local_answer(c, 504, BODY_UNREAD(r));
		return 1;
	}
	/*
	 * A GET fetches for the cache: others asking meanwhile wait for it.
	 * Not one that waited in vain (the answer could not be stored): the
	 * other waiters would queue behind it one by one.
	 */
	if (rq->method == HTTP_M_GET && !cr.no_store && !cache_writing(&r->cw) &&
	    !collapsed &&
	    cache_begin(worker.cache, r->ck, r->klen, worker.slot, ev_wall,
	    (uint64_t)conf->cache.max_object_size, &r->cw) == -1) {
		if (c->bg) {
			/* Someone else refreshes it already. */
			client_close(c);
			*st = STEP_CLOSED;
			return 1;
		}
		if (errno == EBUSY) {
			/*
			 * Another request fetches or revalidates it (it began
			 * after our lookup): wait for its answer.
			 */
			r->cwait_until = ev_now + conf->cache.lock_timeout_ms;
			r->c_stale = r->c_reval = 0;
			c->state = CS_CWAIT;
			*st = STEP_DONE;
			return 1;
		}
	}
	STAT_INC(cache_misses);
	snprintf(r->cstatus, sizeof(r->cstatus), "portico; fwd=%s%s", fwd,
	    collapsed ? "; collapsed" : "");
	r->creq_time = ev_wall;
	return 0;
}

/* Purge the URL part url[0..n) ("host/path") under both schemes' prefixes. */
static void
cache_purge_url(struct req *r, const char *url, size_t n)
{
	char		 key[CACHE_KEY_MAX + 2 * CONF_MAX_NAME + 16];
	const char	*p2;
	size_t		 pl;

	pl = r->kurl;
	if (pl + n <= sizeof(key)) {
		memcpy(key, r->ck, pl);
		memcpy(key + pl, url, n);
		cache_purge(worker.cache, key, pl + n);
	}
	if ((p2 = memchr(r->ck + r->k2off, ':', r->k2len)) == NULL)
		return;
	pl = p2 + 3 - (r->ck + r->k2off);
	if (pl + n <= sizeof(key)) {
		memcpy(key, r->ck + r->k2off, pl);
		memcpy(key + pl, url, n);
		cache_purge(worker.cache, key, pl + n);
	}
}

/*
 * An unsafe request succeeded: drop what is stored for its URI (RFC 9111
 * 4.4), in both schemes, and for the URIs of its Location and
 * Content-Location when they name the same host.
 */
static void
cache_invalidate(struct client *c, const struct http_response *rs)
{
	struct req		*r = c->r;
	struct http_request	 frq;
	const struct http_header *h;
	const char		*url = r->ck + r->kurl, *slash;
	size_t			 ulen = r->klen - r->kurl, i;
	char			 key[CACHE_KEY_MAX];
	int			 n;

	cache_purge(worker.cache, r->ck, r->klen);
	cache_purge(worker.cache, r->ck + r->k2off, r->k2len);
	/* Location and Content-Location, on the same host only. */
	if ((slash = memchr(url, '/', ulen)) == NULL)
		return;
	memset(&frq, 0, sizeof(frq));
	frq.host = url;
	frq.host_len = slash - url;
	frq.target = slash;
	frq.target_len = ulen - frq.host_len;
	frq.path = slash;
	frq.path_len = frq.target_len;
	if ((frq.query = memchr(slash, '?', frq.target_len)) != NULL) {
		frq.path_len = frq.query - slash;
		frq.query++;
		frq.query_len = frq.target_len - frq.path_len - 1;
	}
	frq.version = 11;
	for (i = 0; i < rs->nheaders; i++) {
		h = &rs->headers[i];
		if (!(h->name_len == 8 && http_name_eq(h, "location")) &&
		    !(h->name_len == 16 && http_name_eq(h, "content-location")))
			continue;
		n = cachepol_key_of_uri(h->value, h->value_len, &frq, NULL, key,
		    sizeof(key));
		if (n > 0)
			cache_purge_url(r, key, n);
	}
}

/*
 * The origin said 304 to our revalidation: store the object again with
 * the freshened head (the body is copied inside shared memory) and answer
 * the client from it.
 */
static enum step
cache_refreshed(struct client *c, const struct http_response *rs)
{
	struct req		*r = c->r;
	struct http_request	 rq;
	struct http_response	 mrs;
	struct cachepol_req	 cr;
	struct cachepol_opts	 o;
	struct cache_meta	 m;
	struct iovec		 iov[CACHE_IOV];
	const char		*why;
	char			*merged = cscratch + bufsize;
	uint64_t		 off, end;
	int			 n, k, i, ok = 0, rs_status = rs->status;

	m = r->cmeta;
	/* The 304 ends this exchange with the origin. */
	r->ub_pos += rs->head_len;
	r->resp_done = 1;
	r->up_reuse = rs->keep_alive;
	r->t_up_end = ev_now;
	upconn_release(c);
	active_add(r, NULL, -1);
	if (req_reparse(c, &rq) == -1)
		goto fail;
	if (r->cref.head_len > bufsize ||
	    cache_copy(worker.cache, &r->cref, 0, cscratch, r->cref.head_len) == -1)
		goto gone;
	n = cachepol_merge_304(cscratch, r->cref.head_len, rs, merged, bufsize);
	memset(&mrs, 0, sizeof(mrs));
	if (n < 0 || http_parse_response(merged, n, &resp_limits, &mrs,
	    hdrs) != HTTP_PARSE_OK)
		goto fail;
	cachepol_request(&rq, &cr);
	cache_opts(r->route, &o);
	if (cachepol_storable(&cr, &mrs, &o, r->creq_time, ev_wall, &m, &why) &&
	    cache_writing(&r->cw) &&
	    cache_append_head(worker.cache, &r->cw, r->ck + r->klen, r->vlen,
	    merged, n, &m) == 0) {
		off = r->cref.head_len;
		end = off + r->cref.body_len;
		ok = 1;
		while (ok && off < end) {
			k = cache_iov(worker.cache, &r->cref, off, CACHE_WRITE_MAX,
			    iov, CACHE_IOV);
			if (k <= 0) {
				ok = 0;
				break;
			}
			for (i = 0; i < k && ok; i++) {
				if (cache_append(worker.cache, &r->cw, iov[i].iov_base,
				    iov[i].iov_len) == -1)
					ok = 0;
				off += iov[i].iov_len;
			}
			if (!cache_ref_valid(worker.cache, &r->cref))
				ok = 0;
		}
		if (ok && cache_commit(worker.cache, &r->cw) == 0) {
			STAT_INC(cache_stored);
			if (cache_find(c, &rq) != CACHE_FOUND)
				goto gone;
		} else {
			cache_abort(worker.cache, &r->cw);
			ok = 0;
		}
	}
	if (!ok && cache_writing(&r->cw))
		cache_abort(worker.cache, &r->cw);
	snprintf(r->cstatus, sizeof(r->cstatus), "portico; fwd=stale; "
	    "fwd-status=%d;%s ttl=%lld", rs_status, ok ? " stored;" : "",
	    (long long)cachepol_ttl(ok ? &r->cmeta : &m, ev_wall));
	if (cache_hit(c, &rq) == STEP_DONE)
		return STEP_DONE;
gone:
	/*
	 * The object changed meanwhile: another request that revalidated it
	 * too has stored it again.  The origin vouched for it: answer with
	 * what is stored now.
	 */
	if (cache_find(c, &rq) == CACHE_FOUND) {
		snprintf(r->cstatus, sizeof(r->cstatus), "portico; fwd=stale; "
		    "fwd-status=304; ttl=%lld",
		    (long long)cachepol_ttl(&r->cmeta, ev_wall));
		if (cache_hit(c, &rq) == STEP_DONE)
			return STEP_DONE;
	}
fail:
	log_warnx("cache: object for %.*s went away during its revalidation",
	    (int)r->klen, r->ck);
	r->resp_head = 0;
	r->cstatus[0] = '\0';
	return local_answer(c, 502, 0);
}

/*
 * A final response head from the origin on a caching route.  Returns 1
 * when the client is answered from the cache instead (*st set).
 */
static int
cache_response(struct client *c, const struct http_response *rs, enum step *st)
{
	struct req		*r = c->r;
	struct http_request	 rq, frq;
	struct cachepol_req	 cr;
	struct cachepol_opts	 o;
	struct cache_meta	 m;
	const char		*why = NULL;
	size_t			 len;
	int			 vlen, hlen;

	if (r->c_invalidate) {
		if (cachepol_invalidates(r->method, rs->status))
			cache_invalidate(c, rs);
		return 0;
	}
	if (r->c_reval && rs->status == 304) {
		*st = cache_refreshed(c, rs);
		return 1;
	}
	if (r->c_stale && rs->status >= 500 && rs->status <= 504 &&
	    cache_stale_ok(c)) {
		*st = cache_serve_stale(c, rs->status);
		if (*st == STEP_DONE)
			return 1;
	}
	if (!cache_writing(&r->cw))
		return 0;
	len = strlen(r->cstatus);
	if (req_reparse(c, &rq) == -1 || fwd_view(c, &rq, &frq) == -1)
		why = "request";
	else {
		cachepol_request(&rq, &cr);
		cache_opts(r->route, &o);
		if (!cachepol_storable(&cr, rs, &o, r->creq_time, ev_wall, &m, &why))
			;
		else if (rs->content_length > conf->cache.max_object_size)
			why = "too-large";
		else if (http_response_has_body(r->method, rs->status) &&
		    rs->content_length < 0 && !rs->chunked)
			/* Its end is a close: a cut one would look whole. */
			why = "close-delimited";
		else if ((vlen = cachepol_vary_blob(rs, &frq, r->ck + r->klen,
		    CACHE_VARY_MAX)) < 0)
			why = "vary";
		else if ((hlen = cachepol_stored_head(rs, r->route->cache_set_cookie,
		    cscratch, bufsize)) < 0)
			why = "head-too-large";
		else if (cache_append_head(worker.cache, &r->cw, r->ck + r->klen,
		    vlen, cscratch, hlen, &m) == -1)
			why = "no-room";
		else {
			r->c_store = 1;
			cache_ahead_begin(c, rs);
			snprintf(r->cstatus + len, sizeof(r->cstatus) - len,
			    "; stored; ttl=%lld", (long long)cachepol_ttl(&m, ev_wall));
			return 0;
		}
	}
	cache_abort(worker.cache, &r->cw);
	r->c_store = 0;
	snprintf(r->cstatus + len, sizeof(r->cstatus) - len, "; detail=%s", why);
	return 0;
}

/* Response body bytes on their way to the client: into the object too. */
static void
cache_body(struct req *r, const char *p, size_t n)
{
	if (!r->c_store || n == 0)
		return;
	if (r->c_ahead) {
		if (cache_append_keep(worker.cache, &r->cw, p, n) == 0)
			r->cref.body_len = r->cw.body_len;
		else
			r->c_store = 0;	/* the client drains the object, then streams */
		return;
	}
	if (cache_append(worker.cache, &r->cw, p, n) == -1)
		r->c_store = 0;		/* too large, or no room: it streams on */
}

/*
 * Storing ahead of the client.  An answer with a Content-Length that is
 * being stored is read at the backend's pace, whatever the client's: each
 * piece goes into the object, and the client is sent the object as it
 * grows (r->cref, the writer's own view of it; r->coff, the next object
 * byte for the client).  A slow first client then holds neither the
 * backend connection nor the others waiting for the object, and one that
 * goes away does not stop the store (the request goes on without a
 * socket).  Memory stays bounded: one upstream buffer, the object in
 * shared memory (max_object_size).  When the object cannot grow (no room
 * left), the client is sent what is stored, the object is given up, and
 * the rest streams through at the client's pace as without the cache.
 * A chunked answer is stored de-chunked (its trailers dropped) and the
 * client, HTTP/1.1 only, is sent chunks made here (c_chunk: one per piece
 * of the object sent, the last-chunk once it is whole; what streams
 * through after an object that stopped growing is re-chunked the same
 * way).  A chunked answer to an HTTP/1.0 client is stored at its pace,
 * as before.
 */
static void
cache_ahead_begin(struct client *c, const struct http_response *rs)
{
	struct req	*r = c->r;

	if (!http_response_has_body(r->method, rs->status) ||
	    (rs->chunked ? r->version == 10 : rs->content_length <= 0))
		return;
	if (r->cref.pin != 0)
		cache_unpin(worker.cache, &r->cref, worker.slot);
	cache_unfollow(worker.cache, &r->cref);
	if (cache_writer_ref(worker.cache, &r->cw, &r->cref) == -1)
		return;
	r->c_ahead = 1;
	r->c_chunk = rs->chunked;
	r->coff = r->cref.head_len;
	/* Others asking for it meanwhile follow it as it grows. */
	(void)cache_writer_expect(worker.cache, &r->cw, rs->chunked ?
	    CACHE_EXPECT_UNKNOWN : (uint64_t)rs->content_length);
}

/* The client went away while the object is stored: go on without it. */
static void
cache_ahead_detach(struct client *c)
{
	log_info("client %s closed the connection; storing the answer goes on",
	    c->ip);
	if (c->tls != NULL) {
		c->tls->failed = 1;
		tls_conn_free(c->tls);
		c->tls = NULL;
	}
	close(c->io.fd);
	c->io.fd = -1;
	c->bg = 1;
	c->in_pos = c->in_end;
	c->r->keep_alive = 0;
}

/*
 * Send the client what it can take: the rest of its head, then object
 * bytes up to what is stored.  STEP_AGAIN, or STEP_CLOSED when the object
 * went away under the client (cut).  When the object could not grow and
 * the client has it all, the object is given up and c_ahead ends.
 */
static enum step
cache_ahead_write(struct client *c)
{
	struct req	*r = c->r;
	struct iovec	 iov[1 + CACHE_IOV];
	uint64_t	 have = r->cref.head_len + r->cref.body_len;
	size_t		 hl, total;
	ssize_t		 n;
	int		 niov;

	while (!c->bg && c->wr_ready &&
	    (r->hb_pos < r->hb_end || r->coff < have)) {
		if (r->c_chunk && r->ck_left == 0 && r->coff < have)
			(void)chunk_frame(r, have - r->coff > CACHE_WRITE_MAX ?
			    CACHE_WRITE_MAX : have - r->coff);
		if (obj_iov(r, have, iov, &niov, &hl, &total) == -1)
			goto lost;
		n = cl_writev(c, iov, niov);
		if (n == -1) {
			if (errno == EAGAIN || errno == EINTR) {
				c->wr_ready = 0;
				break;
			}
			if (!r->c_store) {
				client_close(c);	/* nothing is stored for it */
				return STEP_CLOSED;
			}
			cache_ahead_detach(c);
			break;
		}
		if ((size_t)n > hl && !cache_ref_valid(worker.cache, &r->cref))
			goto lost;
		if ((size_t)n < total)
			c->wr_ready = 0;
		obj_sent(r, (size_t)n, hl);
	}
	if (!r->c_store && (c->bg || (r->hb_pos == r->hb_end && r->coff >= have))) {
		if (c->bg) {
			client_close(c);	/* nobody left to send the rest to */
			return STEP_CLOSED;
		}
		/* It has all that was stored: the rest streams through. */
		cache_abort(worker.cache, &r->cw);
		r->c_ahead = 0;
	}
	return STEP_AGAIN;
lost:
	log_warnx("client %s: object being stored was removed while being "
	    "sent: connection cut", c->ip);
	client_abort(c);
	return STEP_CLOSED;
}

/*
 * The whole body is stored: publish it and send the client the rest from
 * the complete object (CS_CACHE), with the backend connection released.
 */
static enum step
cache_ahead_done(struct client *c)
{
	struct req	*r = c->r;

	r->c_store = 0;
	r->c_ahead = 0;
	if (cache_commit_ref(worker.cache, &r->cw, &r->cref) == -1 ||
	    (cache_pin(worker.cache, &r->cref, worker.slot) == -1 &&
	    !cache_ref_valid(worker.cache, &r->cref))) {
		log_warnx("client %s: object being stored was removed before "
		    "it was sent: connection cut", c->ip);
		client_abort(c);
		return STEP_CLOSED;
	}
	STAT_INC(cache_stored);
	r->cend = r->cref.head_len + r->cref.body_len;
	r->t_up_end = ev_now;
	upconn_release(c);
	active_add(r, NULL, -1);
	c->state = CS_CACHE;
	return STEP_DONE;
}

/* The whole body is in: make the object visible. */
static void
cache_done(struct req *r)
{
	if (!r->c_store)
		return;
	r->c_store = 0;
	if (cache_commit(worker.cache, &r->cw) == 0)
		STAT_INC(cache_stored);
}

/*
 * stale-while-revalidate: the client got the stale object; a request
 * without a client socket now asks the origin and stores the answer.  It
 * starts on the next loop turn (this one is in the middle of parsing).
 */
static void
cache_refresh_behind(struct client *c, const struct http_request *rq)
{
	struct req	*r = c->r;
	struct client	*bg;

	if (rq->method != HTTP_M_GET || c->bg ||
	    nclients >= (size_t)conf->g.worker_connections ||
	    worker.quitting || r->head_len > bufsize)
		return;
	if ((bg = free_clients) != NULL)
		free_clients = bg->next;
	else if ((bg = malloc(sizeof(*bg))) == NULL)
		return;
	memset(bg, 0, sizeof(*bg));
	if ((bg->in = buf_get()) == NULL) {
		bg->next = free_clients;
		free_clients = bg;
		return;
	}
	memcpy(bg->in, c->in + r->head_off, r->head_len);
	bg->in_end = r->head_len;
	bg->io.fd = -1;
	bg->io.cb = client_cb;
	bg->ls = c->ls;
	bg->bg = 1;
	bg->state = CS_HEAD;
	bg->wr_ready = 1;
	bg->wait = W_START;
	memcpy(bg->ip, c->ip, sizeof(bg->ip));
	ev_timer_init(&bg->timer, client_timer_cb);
	bg->next = clients;
	if (clients != NULL)
		clients->prev = bg;
	clients = bg;
	nclients++;
	ev_timer_set(&bg->timer, ev_now);
}

/* A collapsed miss looks again: answered from the cache, or fetched itself. */
static enum step
cache_wait_again(struct client *c)
{
	struct http_request	 rq;
	enum step		 st;

	if (req_reparse(c, &rq) == -1)
		return local_answer(c, 500, 1);
	if (cache_request(c, &rq, &st))
		return st;
	return request_forward(c, &rq);
}

/*
 * TLS handshake of a new client connection, before its first request
 * head, within the listener's tls_handshake_timeout.  A failed one is
 * counted and logged at info: clients fail handshakes all the time.
 */
static enum step
step_handshake(struct client *c)
{
	int	 rc;

	if (c->fixed_deadline == 0)
		c->fixed_deadline = ev_now + c->ls->conf->tls_handshake_timeout_ms;
	rc = tls_conn_handshake(c->tls);
	if (rc == 1) {
		/* The first request may be inside OpenSSL already. */
		c->fixed_deadline = 0;
		c->rd_ready = 1;
		c->wr_ready = 1;
		return STEP_DONE;
	}
	if (rc == -1) {
		log_info("client %s: TLS handshake failed: %s", c->ip, c->tls->why);
		client_close(c);
		return STEP_CLOSED;
	}
	c->wait = W_HANDSHAKE;
	return STEP_AGAIN;
}

/* redirect = https: send the client to the same host and target on https. */
static enum step
redirect_answer(struct client *c, const struct http_request *rq)
{
	struct req	*r = c->r;
	char		 host[260], port[16];
	const char	*t = rq->target;
	size_t		 hl = 0, tl = rq->target_len, ql = 0;
	const char	*q = NULL;
	int		 n;
	static const char body[] = "<html>\r\n<head><title>301 Moved "
	    "Permanently</title></head>\r\n<body>\r\n<h1>301 Moved "
	    "Permanently</h1>\r\n<hr><p>portico</p>\r\n</body>\r\n</html>\r\n";

	if (rq->host == NULL || rq->host_len == 0 || rq->host_len >= sizeof(host))
		return local_answer(c, 400, BODY_UNREAD(r));
	if (rq->host[0] == '[') {
		for (; hl < rq->host_len && rq->host[hl] != ']'; hl++)
			host[hl] = rq->host[hl];
		host[hl++] = ']';
	} else
		for (; hl < rq->host_len && rq->host[hl] != ':'; hl++)
			host[hl] = rq->host[hl];
	host[hl] = '\0';
	if (rq->absolute_form) {
		/* The path, then ?query: "http://h?q" has a path of "/" apart. */
		t = rq->path;
		tl = rq->path_len;
		q = rq->query;
		ql = rq->query != NULL ? rq->query_len : 0;
	}
	port[0] = '\0';
	if (c->ls->conf->redirect_port != 443)
		snprintf(port, sizeof(port), ":%d", c->ls->conf->redirect_port);
	if ((r->hb = buf_get()) == NULL) {
		client_close(c);
		return STEP_CLOSED;
	}
	if (BODY_UNREAD(r))
		r->keep_alive = 0;	/* the body is not read */
	r->local_close = !r->keep_alive;
	n = snprintf(r->hb, bufsize, "HTTP/1.1 301 Moved Permanently\r\n"
	    "Server: portico\r\nDate: %s\r\nLocation: https://%s%s%.*s%s%.*s\r\n"
	    "Content-Type: text/html\r\nContent-Length: %zu\r\n%s\r\n%s",
	    http_date(), host, port, (int)tl, t, q != NULL ? "?" : "", (int)ql,
	    q != NULL ? q : "", sizeof(body) - 1,
	    r->local_close ? "Connection: close\r\n" :
	    (r->version == 10 ? "Connection: keep-alive\r\n" : ""),
	    r->method == HTTP_M_HEAD ? "" : body);
	if (n < 0 || (size_t)n >= bufsize) {
		buf_put(r->hb);
		r->hb = NULL;
		return local_answer(c, 414, 1);
	}
	r->status = 301;
	r->hb_pos = 0;
	r->hb_end = n;
	r->body_bytes = r->method == HTTP_M_HEAD ? 0 : sizeof(body) - 1;
	r->resp_head = 1;
	c->state = CS_LOCAL;
	return STEP_DONE;
}

/*
 * Read and parse a request head; on success route it and start the
 * upstream side.
 */
static enum step
step_head(struct client *c)
{
	struct http_request	 rq;
	struct conf_route	*rt;
	struct req		*r;
	ssize_t			 n;
	int			 rc, status;

	if (c->tls != NULL && !c->tls->done)
		return step_handshake(c);
	for (;;) {
		if (c->in_pos < c->in_end) {
			memset(&rq, 0, sizeof(rq));
			rc = http_parse_request(c->in + c->in_pos,
			    c->in_end - c->in_pos, &req_limits, &rq, hdrs);
			if (rc == HTTP_PARSE_OK)
				break;
			if (rc > 0) {
				log_info("client %s: bad request: %s (%d)",
				    c->ip, rq.error ? rq.error : "?", rc);
				if (c->r == NULL && (c->r = req_get()) != NULL) {
					c->r->t_start = ev_now;
					c->r->wall_start = ev_wall;
					c->r->method = HTTP_M_GET;
					c->r->version = 11;
					nbusy++;
				}
				return local_answer(c, rc, 1);
			}
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
			return STEP_AGAIN;
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

	/* A whole head is in. */
	c->fixed_deadline = 0;
	if (c->r == NULL) {
		if ((c->r = req_get()) == NULL) {
			client_close(c);
			return STEP_CLOSED;
		}
		nbusy++;
	}
	r = c->r;
	r->t_start = ev_now;
	r->wall_start = ev_wall;
	r->method = rq.method;
	r->version = rq.version;
	r->keep_alive = rq.keep_alive && !worker.quitting &&
	    conf->g.keepalive_timeout_ms > 0;
	r->client_ka = rq.keep_alive;
	r->parsed = 1;
	if (alog)
		log_request_line(r->line, sizeof(r->line), &rq);
	STAT_INC(requests);

	r->chunked = rq.chunked;
	r->out_chunked = rq.chunked;
	r->cl = rq.content_length;
	r->body_left = rq.chunked ? 0 : (rq.content_length > 0 ? rq.content_length : 0);
	c->in_pos += rq.head_len;
	r->body_start = c->in_pos;
	r->body_t0 = ev_now;
	r->body_rx = c->in_end - c->in_pos;
	r->replayable = 1;
	if (rq.chunked)
		http_chunked_init(&r->req_ck);
	else
		r->req_done = r->body_left == 0;

	if (rq.host_len > 255) {
		log_info("client %s: bad request: Host longer than 255 bytes", c->ip);
		return local_answer(c, 400, 1);
	}
	if ((rc = path_normalize(c, &rq)) != 0) {
		if (rc == -1) {
			client_close(c);
			return STEP_CLOSED;
		}
		return local_answer(c, rc, !r->req_done);
	}
	if (c->ls->conf->redirect_https && c->tls == NULL)
		return redirect_answer(c, &rq);
	rt = route_find(c->ls, &rq, &status);
	if (rt == NULL)
		return local_answer(c, status, BODY_UNREAD(r));
	if (!client_allowed(c, rt)) {
		log_info("client %s: not allowed on route %s", c->ip, rt->name);
		return local_answer(c, 403, BODY_UNREAD(r));
	}
	if (rt->handler == HANDLER_STATUS) {
		if (rq.method != HTTP_M_GET && rq.method != HTTP_M_HEAD)
			return local_answer(c, 405, BODY_UNREAD(r));
		if (!r->req_done)
			r->keep_alive = 0;
		return status_answer(c, &rq);
	}
	if (conf->g.max_body_size > 0 && rq.content_length > conf->g.max_body_size)
		return local_answer(c, 413, 1);
	r->route = rt;
	r->head_off = r->body_start - rq.head_len;
	r->head_len = rq.head_len;
	if (!r->req_done && rt->request_buffering)
		return body_begin(c, &rq);
	return request_start(c, &rq);
}

/*
 * request_buffering: read the whole body before an upstream server is
 * picked, so that a slow client holds no server.  Interim 100 Continue
 * comes from portico, as the body is wanted whatever the server says.
 */
static enum step
body_begin(struct client *c, const struct http_request *rq)
{
	struct req	*r = c->r;

	if (r->body_start >= bufsize)
		return local_answer(c, 431, 1);	/* no room left after the head */
	r->buffered = 1;
	if (rq->expect_continue && c->in_pos == c->in_end) {
		static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
		/* Nothing else is queued to this client now: it fits. */
		if (cl_write(c, cont, sizeof(cont) - 1) != sizeof(cont) - 1) {
			client_close(c);
			return STEP_CLOSED;
		}
	}
	c->state = CS_BODY;
	return step_body(c);
}

/*
 * Read more of the request body into c->in after c->in_end.  Returns 1
 * when bytes came, 0 when there are none for now (rd_ready cleared), -1
 * when the client is gone (it is closed then).
 */
static int
body_read(struct client *c)
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
		log_info("client %s: closed during the request body", c->ip);
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
 * Read the request body into r->body.  Its bytes pass through c->in
 * after the head, which stays where it is; what follows the body (a
 * pipelined request) is moved up to just after the head at the end.
 */
static enum step
step_body(struct client *c)
{
	struct req		*r = c->r;
	struct http_request	 rq;
	const char		*p;
	size_t			 n;
	int			 st;

	for (;;) {
		for (;;) {
			if ((st = body_next(c, SIZE_MAX, &p, &n)) != 0)
				return local_answer(c, st, 1);
			if (n == 0)
				break;
			if (bodybuf_append(&r->body, conf->g.client_body_temp_path,
			    conf->g.client_body_buffer_size, p, n) == -1) {
				log_warn("client %s: request body to a temporary file in %s",
				    c->ip, conf->g.client_body_temp_path);
				return local_answer(c, 500, 1);
			}
		}
		if (r->chunked ? r->req_ck.done : r->body_left == 0)
			break;
		c->in_pos = c->in_end = r->body_start;
		if (!c->rd_ready) {
			c->wait = W_CL_READ;
			return STEP_AGAIN;
		}
		if (body_read(c) == -1)
			return STEP_CLOSED;
	}

	/* All in: keep what follows, then go on as with a bodiless request. */
	if (c->in_pos > r->body_start) {
		memmove(c->in + r->body_start, c->in + c->in_pos, c->in_end - c->in_pos);
		c->in_end -= c->in_pos - r->body_start;
		c->in_pos = r->body_start;
	}
	r->body_in = 1;
	trailers_filter(r);
	/* Sent with a length, as nginx does; chunked only to carry trailers. */
	r->out_chunked = r->trb_len > 2;
	c->state = CS_HEAD;
	if (req_reparse(c, &rq) == -1)
		return local_answer(c, 500, 1);
	return request_start(c, &rq);
}

/* The request is whole (or streams): cache, then the upstream. */
static enum step
request_start(struct client *c, const struct http_request *rq)
{
	struct req		*r = c->r;
	const struct conf_route	*rt = r->route;

	r->hsts = c->tls != NULL ? rt->hsts : NULL;
	r->upstream = upstream_of(rt->upstream);
	if ((r->hb = buf_get()) == NULL) {
		client_close(c);
		return STEP_CLOSED;
	}
	if (rt->cache && worker.cache != NULL) {
		enum step	 st;

		r->cache_on = 1;
		if (cache_request(c, rq, &st))
			return st;
	}
	return request_forward(c, rq);
}

/* Send the request on to the route's upstream. */
static enum step
request_forward(struct client *c, const struct http_request *rq)
{
	struct req	*r = c->r;

	if (build_request_head(c, rq) == -1)
		return local_answer(c, 431, 1);
	if (rq->expect_continue && !r->req_done && !r->buffered &&
	    c->in_pos == c->in_end) {
		static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
		/* Nothing else is queued to this client now: it fits. */
		if (cl_write(c, cont, sizeof(cont) - 1) != sizeof(cont) - 1) {
			client_close(c);
			return STEP_CLOSED;
		}
	}
	request_key(c, rq);
	balance_tried_clear(&r->tried);
	c->state = CS_PROXY;
	return upstream_start(c);
}

/* Take a pooled connection to server s, or open a new one. */
static struct upconn *
upconn_get(struct server_rt *s)
{
	struct upconn	*u;
	int		 fd;

	if ((u = s->idle) != NULL) {
		s->idle = u->next;
		if (s->idle != NULL)
			s->idle->prev = NULL;
		s->nidle--;
		ev_timer_cancel(&u->timer);
		u->next = u->prev = NULL;
		u->reused = 1;
		u->rd_ready = 0;
		u->rdhup = 0;
		u->wr_ready = 1;
		return u;
	}
	if ((fd = net_connect(&s->conf->addr)) == -1)
		return NULL;
	if ((u = free_upconns) != NULL)
		free_upconns = u->next;
	else if ((u = malloc(sizeof(*u))) == NULL) {
		close(fd);
		errno = ENOMEM;
		return NULL;
	}
	memset(u, 0, sizeof(*u));
	u->io.fd = fd;
	u->io.cb = upconn_cb;
	ev_timer_init(&u->timer, upconn_timer_cb);
	u->srv = s;
	/* Optimistic: on loopback the connect is usually done already. */
	u->wr_ready = 1;
	if (ev_add(&u->io) == -1) {
		close(fd);
		u->next = free_upconns;
		free_upconns = u;
		return NULL;
	}
	if (s->conf->tls && (u->tls = tls_conn_connect(s->up->conf->tls_ctx, fd,
	    s->conf, &s->tls_session)) == NULL) {
		/* The handshake itself runs in the first write (up_writev). */
		u->srv = NULL;		/* never pooled: nothing to unlink */
		upconn_close(u);
		errno = ENOMEM;
		return NULL;
	}
	return u;
}

static void
upconn_close(struct upconn *u)
{
	if (u->owner == NULL && u->srv != NULL) {
		/* In the pool: unlink. */
		if (u->prev != NULL)
			u->prev->next = u->next;
		else if (u->srv->idle == u)
			u->srv->idle = u->next;
		if (u->next != NULL)
			u->next->prev = u->prev;
		u->srv->nidle--;
	}
	ev_timer_cancel(&u->timer);
	if (u->tls != NULL) {
		tls_conn_free(u->tls);
		u->tls = NULL;
	}
	close(u->io.fd);
	u->io.fd = -1;
	u->owner = NULL;
	u->srv = NULL;
	/* Reused only after this loop turn: a stale event may still name it. */
	u->next = dead_upconns;
	dead_upconns = u;
}

/* Close the request's upstream connection (it is owned, so not in a pool). */
static void
req_drop_up(struct req *r)
{
	if (r->up != NULL) {
		upconn_close(r->up);
		r->up = NULL;
	}
}

/* Give the request's upstream connection back to the pool, or close it. */
static void
upconn_release(struct client *c)
{
	struct req	*r = c->r;
	struct upconn	*u = r->up;
	struct server_rt *s;

	if (u == NULL)
		return;
	r->up = NULL;
	s = u->srv;
	if (u->rd_ready && !u->rdhup) {
		/* Bytes or a FIN may be waiting: a pooled one must hold neither. */
		char	 b;
		ssize_t	 n = recv(u->io.fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);

		if (n == -1 && (errno == EAGAIN || errno == EINTR))
			u->rd_ready = 0;
		else
			u->rdhup = 1;
	}
	if (u->tls != NULL && (tls_conn_pending(u->tls) || u->tls->eof))
		u->rdhup = 1;	/* TLS bytes left over: not clean to pool */
	if (!r->up_reuse || !r->req_done || !r->resp_done || u->rdhup ||
	    r->ub_pos < r->ub_end || s->nidle >= s->up->conf->keepalive ||
	    worker.quitting) {
		upconn_close(u);
		return;
	}
	u->owner = NULL;
	u->prev = NULL;
	u->next = s->idle;
	if (s->idle != NULL)
		s->idle->prev = u;
	s->idle = u;
	s->nidle++;
	ev_timer_set(&u->timer, ev_now + s->up->conf->keepalive_timeout_ms);
}

static void
upconn_cb(struct ev_io *io, uint32_t events)
{
	struct upconn	*u = (struct upconn *)io;

	if (u->owner == NULL) {
		char	 b;
		ssize_t	 n;

		/*
		 * Idle in the pool.  Edge events can be stale (data that was
		 * read already, send space freed by an ACK), so look before
		 * closing: EOF or junk from the server ends the connection.
		 */
		if ((events & (EPOLLERR | EPOLLHUP | EPOLLRDHUP)) == 0) {
			if ((events & EPOLLIN) == 0)
				return;
			n = recv(u->io.fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
			if (n == -1 && (errno == EAGAIN || errno == EINTR))
				return;
		}
		upconn_close(u);
		return;
	}
	if (events & (EPOLLIN | EPOLLRDHUP | EPOLLERR | EPOLLHUP))
		u->rd_ready = 1;
	if (events & (EPOLLRDHUP | EPOLLERR | EPOLLHUP))
		u->rdhup = 1;
	if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))
		u->wr_ready = 1;
	if (u->tls != NULL) {
		int rd = u->rd_ready, wr = u->wr_ready;

		tls_events(u->tls, events, &rd, &wr);
		u->rd_ready = rd;
		u->wr_ready = wr;
	}
	client_run(u->owner);
}

static void
upconn_timer_cb(struct ev_timer *t)
{
	struct upconn	*u = (struct upconn *)((char *)t - offsetof(struct upconn, timer));

	if (u->owner == NULL)
		upconn_close(u);
}

/*
 * Count (delta 1) or uncount (-1) the request's connection in its
 * server's active total, shared by all workers, and in this worker's own
 * row, which the master takes back if the worker dies.
 */
static void
active_add(struct req *r, struct server_rt *s, int delta)
{
	int	 idx;

	if (delta < 0) {
		if ((s = r->counted) == NULL)
			return;
		r->counted = NULL;
	} else {
		if (r->counted != NULL)
			active_add(r, NULL, -1);
		r->counted = s;
	}
	if ((idx = s->conf->shm_idx) < 0)
		return;
	/*
	 * The worker's own row moves first when taking, last when giving
	 * back: if it dies in between, the master takes back at most what
	 * really was added.
	 */
	if (delta > 0) {
		__atomic_store_n(&worker.shm->held[worker.slot][idx],
		    (uint16_t)(worker.shm->held[worker.slot][idx] + 1),
		    __ATOMIC_RELEASE);
		__atomic_add_fetch(&worker.shm->srv[idx].active, 1, __ATOMIC_RELAXED);
	} else {
		__atomic_sub_fetch(&worker.shm->srv[idx].active, 1, __ATOMIC_RELAXED);
		__atomic_store_n(&worker.shm->held[worker.slot][idx],
		    (uint16_t)(worker.shm->held[worker.slot][idx] - 1),
		    __ATOMIC_RELEASE);
	}
	if (delta > 0)
		__atomic_add_fetch(&worker.shm->srv[idx].requests, 1,
		    __ATOMIC_RELAXED);
}

/*
 * A server failed a request (connect refused or timed out, reset or
 * timeout before an answer).  The failure goes to the shared count the
 * checker process turns into health state (max_fails within
 * fail_timeout).  With max_fails = 1 one failure is enough, so this
 * worker also leaves the server out at once, not waiting for the checker.
 */
static void
server_failed(struct server_rt *s, int i)
{
	const struct conf_upstream	*cu = s->up->conf;

	if (cu->max_fails == 0)
		return;
	if (s->conf->shm_idx >= 0)
		__atomic_add_fetch(&worker.shm->srv[s->conf->shm_idx].fails, 1,
		    __ATOMIC_RELAXED);
	if (cu->max_fails == 1)
		balance_fail(&s->up->bal, i, ev_now, (uint64_t)cu->fail_timeout_ms);
}

/*
 * max_conns queue: when every server is full, a request may wait (per
 * worker at most the upstream's queue, each at most queue_timeout),
 * looking again every QUEUE_POLL_MS, for a connection to free up in any
 * worker.  Returns 1 while it waits.
 */
static int
queue_wait(struct client *c)
{
	struct req		*r = c->r;
	struct upstream_rt	*ups = r->upstream;

	if (!r->queued) {
		if (ups->conf->queue == 0 || ups->nqueued >= ups->conf->queue)
			return 0;
		r->queued = 1;
		ups->nqueued++;
		r->queue_deadline = ev_now + (uint64_t)ups->conf->queue_timeout_ms;
	} else if (ev_now >= r->queue_deadline)
		return 0;
	c->wait = W_QUEUE;
	return 1;
}

static void
queue_leave(struct req *r)
{
	if (r->queued) {
		r->queued = 0;
		r->upstream->nqueued--;
	}
}

/* Pick a server and start sending the request to it. */
static enum step
upstream_start(struct client *c)
{
	struct req		*r = c->r;
	struct upstream_rt	*ups = r->upstream;
	struct upconn		*u;
	int			 i, why;

	for (;;) {
		i = balance_pick(&ups->bal, ev_now, &r->tried, r->keyed, r->hash, &why);
		if (i == -1) {
			if (why == BALANCE_ALL_FULL && queue_wait(c))
				return STEP_AGAIN;
			STAT_INC(upstream_errors);
			if (why == BALANCE_ALL_FULL) {
				log_warnx("upstream %s: every server is at max_conns%s",
				    ups->conf->name, r->queued ? " (queue timeout)" :
				    (ups->conf->queue > 0 ? " (queue full)" : ""));
				queue_leave(r);
				return local_answer(c, 503, BODY_UNREAD(r));
			}
			if (why == BALANCE_ALL_DOWN) {
				log_warnx("upstream %s: no server is up", ups->conf->name);
				return local_answer(c, 503, BODY_UNREAD(r));
			}
			return local_answer(c, r->fail_status ? r->fail_status : 502,
			    BODY_UNREAD(r));
		}
		balance_tried_set(&r->tried, i);
		r->server = i;
		r->attempts++;
		if ((u = upconn_get(&ups->servers[i])) != NULL)
			break;
		log_warn("upstream %s server %s: connect",
		    ups->conf->name, ups->servers[i].conf->addr.text);
		server_failed(&ups->servers[i], i);
		STAT_INC(upstream_errors);
	}
	queue_leave(r);
	u->owner = c;
	r->up = u;
	active_add(r, &ups->servers[i], 1);
	r->t_up_start = ev_now;
	if (!u->reused)
		c->fixed_deadline = ev_now + ups->conf->connect_timeout_ms;
	return STEP_DONE;
}

static unsigned
retry_status_bit(int status)
{
	switch (status) {
	case 500:
		return RETRY_500;
	case 502:
		return RETRY_502;
	case 503:
		return RETRY_503;
	case 504:
		return RETRY_504;
	default:
		return 0;
	}
}

static int
idempotent(enum http_method m)
{
	return m != HTTP_M_POST && m != HTTP_M_PATCH && m != HTTP_M_OTHER &&
	    m != HTTP_M_CONNECT;
}

/*
 * Whether the upstream's retry policy lets this request try another
 * server after a failure of this kind (a RETRY_ bit): the kind is listed
 * in retry_on, attempts and time are left, and the request can be sent
 * again: still whole in the buffers, and idempotent unless nothing of it
 * reached the server.
 */
static int
retry_allowed(const struct req *r, unsigned kind, int nothing_sent)
{
	const struct conf_upstream	*cu = r->upstream->conf;

	if ((cu->retry_on & kind) == 0 || !r->replayable)
		return 0;
	if (!nothing_sent && !idempotent(r->method))
		return 0;
	if (cu->retries >= 0 && r->retried >= cu->retries)
		return 0;
	if (cu->retry_timeout_ms > 0 &&
	    ev_now - r->t_start >= (uint64_t)cu->retry_timeout_ms)
		return 0;
	return 1;
}

/* Rewind the request to send it again, and pick the next server. */
static enum step
request_retry(struct client *c, int same_server, int status)
{
	struct req		*r = c->r;
	struct upstream_rt	*ups = r->upstream;

	if (ups->servers[r->server].conf->shm_idx >= 0)
		__atomic_add_fetch(&worker.shm->srv[ups->servers[r->server].conf->shm_idx].retries,
		    1, __ATOMIC_RELAXED);
	if (same_server)
		balance_tried_unset(&r->tried, r->server);
	r->hb_pos = 0;
	r->head_sent = 0;
	r->bb_pos = r->bb_end = 0;
	r->src_done = 0;
	r->trb_pos = 0;
	if (r->buffered) {
		r->body_off = 0;
		r->req_done = 0;
	} else {
		c->in_pos = r->body_start;
		r->body_left = r->chunked ? 0 : (r->cl > 0 ? r->cl : 0);
		r->req_done = !r->chunked && r->body_left == 0;
		r->body_seen = 0;
		r->trb_len = 0;
		if (r->chunked)
			http_chunked_init(&r->req_ck);
	}
	r->ub_pos = r->ub_end = 0;
	r->need_more = 0;
	r->resp_started = 0;
	r->fail_status = status;
	return upstream_start(c);
}

/*
 * The upstream failed before any response byte: try another server when
 * the retry policy and the request allow it, else answer status.  kind is
 * RETRY_ERROR or RETRY_TIMEOUT; nothing_sent: the connection never came
 * up, so the request cannot have reached the server.
 */
static enum step
upstream_failed(struct client *c, const char *why, unsigned kind, int nothing_sent,
    int status)
{
	struct req		*r = c->r;
	struct upstream_rt	*ups = r->upstream;
	struct upconn		*u = r->up;
	int			 reused = u != NULL && u->reused;

	log_warnx("upstream %s server %s: %s%s", ups->conf->name,
	    ups->servers[r->server].conf->addr.text, why,
	    reused ? " (pooled connection)" : "");
	req_drop_up(r);
	c->fixed_deadline = 0;
	if (!reused) {
		server_failed(&ups->servers[r->server], r->server);
		STAT_INC(upstream_errors);
	}
	if (r->resp_started || r->interim)
		return local_answer(c, status, BODY_UNREAD(r));
	/*
	 * A pooled connection that the server had closed is not the
	 * server's failure: an idempotent request goes again on a fresh
	 * connection to the same server, whatever retry_on says.
	 */
	if (reused && kind == RETRY_ERROR && r->replayable && idempotent(r->method))
		return request_retry(c, 1, status);
	if (retry_allowed(r, kind, nothing_sent)) {
		r->retried++;
		return request_retry(c, 0, status);
	}
	return local_answer(c, status, BODY_UNREAD(r));
}

/*
 * Whether a field name begins with prefix (lowercase, with '-') when '_'
 * counts as '-'.
 */
static int
name_prefix_any_dash(const struct http_header *h, const char *prefix)
{
	struct http_header	 t = *h;
	size_t			 n = strlen(prefix);

	if (h->name_len < n)
		return 0;
	t.name_len = (uint32_t)n;
	return name_eq_any_dash(&t, prefix);
}

/*
 * Whether a request trailer field may go upstream (pass_request_trailers):
 * never the fields portico sets or vouches for (the X-Forwarded-* family,
 * Forwarded, X-Real-IP, X-Client-Cert-*, ...), in any case and with '_'
 * for '-', nor those a trailer must not carry (RFC 9110 6.5.1: framing,
 * routing, authentication, request modifiers).
 */
static int
trailer_allowed(const struct http_header *h)
{
	static const char *const deny[] = {
		"via", "host", "content-length",
		"transfer-encoding", "trailer", "te", "connection", "keep-alive",
		"upgrade", "expect", "authorization", "cookie", "content-type",
		"content-encoding", "content-range", "range", "cache-control",
		"max-forwards", "if-match", "if-none-match", "if-modified-since",
		"if-unmodified-since", "if-range", "pragma", NULL
	};
	size_t	 i;

	if (name_prefix_any_dash(h, "x-forwarded-") ||
	    name_prefix_any_dash(h, "x-client-cert-") ||
	    name_prefix_any_dash(h, "proxy-"))
		return 0;
	for (i = 0; deny[i] != NULL; i++)
		if (name_eq_any_dash(h, deny[i]))
			return 0;
	/* Every field of client_fields[], whatever the route passes. */
	for (i = 0; i < sizeof(client_fields) / sizeof(client_fields[0]); i++)
		if (h->name_len == client_fields[i].len &&
		    name_eq_any_dash(h, client_fields[i].name))
			return 0;
	return 1;
}

/*
 * Keep the allowed fields of the trailer section in r->trb (validated by
 * the chunked parser: "name:value CRLF" lines, then CRLF), in place.
 * Without pass_request_trailers there is nothing (r->trb_len 0).
 */
static void
trailers_filter(struct req *r)
{
	struct http_header	 h;
	char			*t = r->trb, *line, *colon, *end;
	size_t			 o = 0, len;

	if (t == NULL)
		return;
	line = t;
	end = t + r->trb_len;
	while (line < end && *line != '\r') {
		char *lf = memchr(line, '\n', end - line);

		if (lf == NULL)
			break;		/* cannot be: the parser saw it whole */
		len = lf + 1 - line;
		colon = memchr(line, ':', len);
		h.name = line;
		h.name_len = colon != NULL ? (uint32_t)(colon - line) : 0;
		h.value = NULL;
		h.value_len = 0;
		if (colon != NULL && trailer_allowed(&h)) {
			memmove(t + o, line, len);
			o += len;
		}
		line = lf + 1;
	}
	memcpy(t + o, "\r\n", 2);
	r->trb_len = (uint32_t)(o + 2);
}

/*
 * Where the request body ends in what the client sends: the chunked
 * last-chunk and trailers are in, or the Content-Length bytes are.
 */
static int
body_src_end(const struct req *r)
{
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
body_next(struct client *c, size_t max, const char **p, size_t *n)
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
			log_info("client %s: bad chunked body", c->ip);
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
		if (conf->g.max_body_size > 0 && (uint64_t)r->body_seen + dlen +
		    r->req_ck.padding > (uint64_t)conf->g.max_body_size) {
			log_info("client %s: request body over max_body_size", c->ip);
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
			if ((st = body_next(c, max, &p, &n)) != 0)
				return st;
		}
		if (n == 0) {
			if (!r->buffered && !body_src_end(r))
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
				log_warn("client %s: reading the request body back", c->ip);
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
 * trailers, to the upstream.  Returns STEP_DONE when all is sent (or
 * cannot be), AGAIN when waiting, CLOSED when the client is gone.
 */
static enum step
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
			return STEP_DONE;
		if ((st = body_fill(c)) != 0)
			return local_answer(c, st, 1);
		hl = r->head_sent ? 0 : r->hb_end - r->hb_pos;
		bl = r->bb_end - r->bb_pos;
		tl = r->src_done ? r->trb_len - r->trb_pos : 0;
		if (hl + bl + tl == 0) {
			if (r->src_done) {
				r->req_done = 1;
				return STEP_DONE;
			}
			/* Everything decoded went out: more from the client. */
			if (c->in_pos == c->in_end) {
				c->in_pos = c->in_end = 0;
				r->replayable = 0;
			} else if (c->in_end == bufsize) {
				if (c->in_pos == 0)
					return local_answer(c, 400, 1);
				memmove(c->in, c->in + c->in_pos, c->in_end - c->in_pos);
				c->in_end -= c->in_pos;
				c->in_pos = 0;
				r->replayable = 0;
			}
			if (!c->rd_ready) {
				c->wait = W_CL_READ;
				return STEP_AGAIN;
			}
			if (body_read(c) == -1)
				return STEP_CLOSED;
			continue;
		}
		if (!u->wr_ready) {
			c->wait = u->connected ? W_UP_WRITE : W_CONNECT;
			return STEP_AGAIN;
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
				return STEP_DONE;
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
static int
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

/* A final response head was parsed: decide the framing and build the head. */
static enum step
response_head(struct client *c, const struct http_response *rs)
{
	struct req	*r = c->r;
	enum step	 st;

	if (r->cache_on && cache_response(c, rs, &st))
		return st;
	r->resp_head = 1;
	r->status = rs->status;
	r->up_reuse = rs->keep_alive;
	if (rs->status >= 500 && r->upstream->conf->fail_on_5xx)
		server_failed(&r->upstream->servers[r->server], r->server);
	if (!http_response_has_body(r->method, rs->status)) {
		r->resp_done = 1;
	} else if (rs->chunked) {
		r->resp_chunked = 1;
		http_chunked_init(&r->resp_ck);
		if (r->version == 10) {
			r->dechunk = 1;
			r->keep_alive = 0;
		} else if (r->c_chunk)
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
		return local_answer(c, 502, 1);
	}
	r->ub_pos += rs->head_len;
	r->send_pos = r->send_end = r->ub_pos;
	return STEP_DONE;
}

/*
 * The upstream failed after some of its response was read: log it, count
 * it against the server, and end the exchange.  Before the whole head the
 * client gets 502; after it, the connection is cut (with a reset for a
 * close-delimited body, which a plain close would make look complete).
 */
static enum step
upstream_broke(struct client *c, const char *why)
{
	struct req	*r = c->r;

	log_errorx("upstream %s server %s: %s", r->upstream->conf->name,
	    r->upstream->servers[r->server].conf->addr.text, why);
	STAT_INC(upstream_errors);
	server_failed(&r->upstream->servers[r->server], r->server);
	if (!r->resp_head)
		return local_answer(c, 502, 1);
	client_cut(c);
	return STEP_CLOSED;
}

/*
 * Response direction: read the upstream's head, answer 502 for a bad one,
 * then stream head and body to the client.
 */
static enum step
step_response(struct client *c)
{
	struct req		*r = c->r;
	struct upconn		*u = r->up;
	struct http_response	 rs;
	int			 rc;
	ssize_t			 n;
	size_t			 hl;
	enum step		 st;

	/* Until the request head is out, hb holds it: nothing is the client's. */
	if (!r->head_sent)
		return STEP_AGAIN;
	for (;;) {
		/* Frame the body bytes that came with the head: one writev for both. */
		if (r->resp_head && r->send_pos == r->send_end &&
		    r->ub_pos < r->ub_end && !r->need_more) {
			rc = resp_window(c);
			if (rc == -1) {
				log_errorx("upstream %s server %s: invalid response: "
				    "bad chunked body", r->upstream->conf->name,
				    r->upstream->servers[r->server].conf->addr.text);
				STAT_INC(upstream_errors);
				if (!r->c_open && r->hb_pos == 0 &&
				    r->body_bytes == 0) {
					/*
					 * The bad chunk came with the head: nothing
					 * of the answer has reached the client, who
					 * is owed a 502 rather than a bare close
					 * (hb is reused for chunk headers only once
					 * the head is out: c_open).
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
		}
		if (r->c_ahead) {
			if (r->resp_done && r->c_store)
				return cache_ahead_done(c);
			if (cache_ahead_write(c) == STEP_CLOSED)
				return STEP_CLOSED;
			if (r->c_ahead && !r->c_store) {
				/* The object stopped growing: the client drains it first. */
				c->wait = W_CL_WRITE;
				return STEP_AGAIN;
			}
			if (!r->c_ahead)
				continue;
			if (r->ub_pos < r->ub_end && !r->need_more)
				continue;	/* more chunks already read */
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
		if (!r->c_ahead && r->c_chunk && r->ck_left == 0 && !r->c_last) {
			if (r->send_pos < r->send_end)
				(void)chunk_frame(r, r->send_end - r->send_pos);
			else if (r->resp_done)
				(void)chunk_frame(r, 0);
		}
		/* Send whatever is ready for the client. */
		if (!r->c_ahead && (r->hb_pos < r->hb_end || r->send_pos < r->send_end)) {
			if (!c->wr_ready) {
				c->wait = W_CL_WRITE;
				return STEP_AGAIN;
			}
			hl = r->hb_end - r->hb_pos;
			n = client_write2(c, r->hb + r->hb_pos, hl, r->ub + r->send_pos,
			    r->c_chunk && r->ck_left < r->send_end - r->send_pos ?
			    r->ck_left : r->send_end - r->send_pos);
			if (n == -1)
				return STEP_CLOSED;
			if ((size_t)n <= hl) {
				r->hb_pos += n;
				continue;
			}
			r->hb_pos = r->hb_end;
			r->send_pos += n - hl;
			r->body_bytes += n - hl;
			if (r->c_chunk)
				r->ck_left -= n - hl;
			continue;
		}
		if (r->resp_done) {
			r->t_up_end = ev_now;
			return STEP_DONE;	/* (stored above, before the last send) */
		}

		/* A head read and not yet parsed. */
		if (r->ub != NULL && r->ub_pos < r->ub_end && !r->need_more &&
		    !r->resp_head) {
			memset(&rs, 0, sizeof(rs));
			rc = http_parse_response(r->ub + r->ub_pos, r->ub_end - r->ub_pos,
			    &resp_limits, &rs, hdrs);
			if (rc == HTTP_PARSE_AGAIN) {
				if (r->ub_end - r->ub_pos < bufsize) {
					r->need_more = 1;
					continue;
				}
				rc = 502;
				rs.error = "head too large";
			}
			if (rc > 0 || rs.status == 101) {
				log_errorx("upstream %s server %s: invalid response: %s",
				    r->upstream->conf->name,
				    r->upstream->servers[r->server].conf->addr.text,
				    rc > 0 ? (rs.error ? rs.error : "malformed") :
				    "101 to a request without Upgrade");
				STAT_INC(upstream_errors);
				return local_answer(c, 502, 1);
			}
			if (rs.status >= 500 && rs.status <= 504 && !r->interim &&
			    retry_status_bit(rs.status) != 0 &&
			    retry_allowed(r, retry_status_bit(rs.status), 0) &&
			    balance_left(&r->upstream->bal, ev_now, &r->tried)) {
				/*
				 * Another server may answer better.  With no
				 * server left the answer goes to the client
				 * as it is (response_head counts it then).
				 */
				if (r->upstream->conf->fail_on_5xx)
					server_failed(&r->upstream->servers[r->server],
					    r->server);
				r->retried++;
				/* Move on; this answer (and its connection) is dropped. */
				log_warnx("upstream %s server %s: answered %d, retrying",
				    r->upstream->conf->name,
				    r->upstream->servers[r->server].conf->addr.text,
				    rs.status);
				req_drop_up(r);
				return request_retry(c, 0, rs.status);
			}
			if (rs.status >= 200) {
				st = response_head(c, &rs);
				if (st != STEP_DONE || c->state != CS_PROXY)
					return st;	/* or answered otherwise */
				continue;
			}
			/* Interim: forward to HTTP/1.1 clients, except our own 100. */
			if (rs.status != 100 && r->version == 11) {
				if (build_response_head(c, &rs, 0) == -1)
					return local_answer(c, 502, 1);
				r->interim = 1;
			}
			r->ub_pos += rs.head_len;
			continue;
		}

		/* Read more from the upstream. */
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
			return STEP_AGAIN;
		}
		n = up_read(u, r->ub + r->ub_end, bufsize - r->ub_end);
		if (n == -1) {
			if (errno == EAGAIN || errno == EINTR) {
				u->rd_ready = 0;
				continue;
			}
			if (!r->resp_started)
				return upstream_failed(c, "connection reset", RETRY_ERROR, 0, 502);
			return upstream_broke(c, "connection reset in the middle of "
			    "the response");
		}
		if (n == 0) {
			if (!r->resp_started)
				return upstream_failed(c,
				    "closed the connection before answering", RETRY_ERROR, 0, 502);
			if (r->resp_head && r->resp_eof) {
				r->resp_done = 1;
				continue;
			}
			return upstream_broke(c, r->resp_head ?
			    "closed the connection in the middle of the body" :
			    "invalid response: closed inside the head");
		}
		if ((size_t)n < bufsize - r->ub_end && !u->rdhup)
			u->rd_ready = 0;
		r->ub_end += n;
		r->resp_started = 1;
		r->need_more = 0;
	}
}

/*
 * The request line for the access log, "METHOD target HTTP/1.x", its
 * target escaped as the other quoted fields are.
 */
static void
log_request_line(char *line, size_t cap, const struct http_request *rq)
{
	int	 n;
	size_t	 o;

	n = snprintf(line, cap, "%.*s ", (int)(rq->method_len > 32 ? 32 :
	    rq->method_len), rq->method_str);
	if (n < 0 || (size_t)n >= cap)
		return;
	o = (size_t)n;
	/* Leave room for " HTTP/1.x". */
	copy_field(line + o, cap - o - 9, rq->target, rq->target_len);
	o += strlen(line + o);
	snprintf(line + o, cap - o, " HTTP/1.%d", rq->version == 10 ? 0 : 1);
}

/* Write one access log line for the request that just ended. */
static void
access_log(struct client *c)
{
	static char	 tbuf[40];
	static time_t	 tlast;
	struct req	*r = c->r;
	struct tm	 tm;
	char		 line[1400];
	int		 n;
	const char	*ups = "-";
	double		 ut = 0, tt;

	if (r == NULL || r->logged)
		return;
	r->logged = 1;
	if (c->bg)
		return;		/* a cache refresh: no client asked */
	if (r->status > 0 && r->status < 600)
		STAT_INC(status[r->status / 100]);
	if (!worker_access_log_enabled())
		return;
	if (r->wall_start != tlast) {
		tlast = r->wall_start;
		gmtime_r(&tlast, &tm);
		strftime(tbuf, sizeof(tbuf), "%d/%b/%Y:%H:%M:%S +0000", &tm);
	}
	if (r->server >= 0 && r->upstream != NULL) {
		ups = r->upstream->servers[r->server].conf->addr.text;
		ut = (double)((r->t_up_end ? r->t_up_end : ev_now) - r->t_up_start) / 1000.0;
	}
	tt = (double)(ev_now - r->t_start) / 1000.0;
	n = snprintf(line, sizeof(line),
	    "%s - - [%s] \"%s\" %d %llu \"%s\" \"%s\" upstream=%s "
	    "upstream_time=%.3f request_time=%.3f\n",
	    c->ip, tbuf, r->line[0] ? r->line : "-", r->status,
	    (unsigned long long)r->body_bytes,
	    r->referer[0] ? r->referer : "-", r->agent[0] ? r->agent : "-",
	    ups, ut, tt);
	if (n > 0) {
		if ((size_t)n >= sizeof(line)) {
			n = sizeof(line) - 1;
			line[n - 1] = '\n';
		}
		worker_access_log(line, n);
	}
}

/*
 * The exchange is over on both sides: log it, pool the upstream
 * connection, and go back to reading heads (or close).
 */
static enum step
request_finish(struct client *c)
{
	struct req	*r = c->r;
	int		 keep = r->keep_alive && !worker.quitting && !c->bg;
	int		 body_unread = r->body_unread && !c->bg;

	access_log(c);
	upconn_release(c);
	req_put(r);
	c->r = NULL;
	nbusy--;
	c->served = 1;
	c->state = CS_HEAD;
	c->fixed_deadline = 0;
	if (!keep) {
		if (body_unread || c->in_pos < c->in_end) {
			/*
			 * The client may still be sending (the answer came
			 * before the whole body): closing now would reset the
			 * connection and lose the end of the answer.
			 */
			cl_shutdown_wr(c);
			buf_put(c->in);
			c->in = NULL;
			c->in_pos = c->in_end = 0;
			c->state = CS_LINGER;
			c->fixed_deadline = ev_now + LINGER_MS;
			return STEP_DONE;
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
	return STEP_DONE;
}

/* Drive a client connection as far as it can go. */
static void
client_run(struct client *c)
{
	enum step	 st;
	enum wait_on	 wreq;
	struct req	*r;
	uint64_t	 deadline;
	int		 attempts;

	for (;;) {
		c->wait = W_NONE;
		switch (c->state) {
		case CS_HEAD:
			st = step_head(c);
			break;
		case CS_LOCAL:
			st = step_local(c);
			break;
		case CS_LINGER:
			st = step_linger(c);
			break;
		case CS_CACHE:
			st = step_cache(c);
			break;
		case CS_CWAIT:
			c->wait = W_CACHE;
			st = STEP_AGAIN;
			break;
		case CS_BODY:
			st = step_body(c);
			break;
		case CS_PROXY:
		default:
			r = c->r;
			if (r->up == NULL) {
				/* Queued for max_conns: the timer looks again. */
				c->wait = W_QUEUE;
				st = STEP_AGAIN;
				break;
			}
			attempts = r->attempts;
			st = step_request(c);
			if (st == STEP_CLOSED)
				return;
			if (c->state != CS_PROXY || r->attempts != attempts)
				continue;	/* answered locally, or retried */
			wreq = c->wait;
			st = step_response(c);
			if (st == STEP_CLOSED)
				return;
			if (c->state != CS_PROXY || r->attempts != attempts)
				continue;
			if (st == STEP_DONE) {
				if (!r->req_done) {
					/* Answered early: drop the rest of the body. */
					r->req_done = 1;
					r->up_reuse = 0;
					if (!r->body_in) {
						r->body_unread = 1;
						r->keep_alive = 0;
					}
				}
				st = request_finish(c);
				break;
			}
			/* Both directions wait: which one bounds the time? */
			if (!r->resp_started && wreq != W_NONE)
				c->wait = wreq;
			else if (c->wait == W_NONE)
				c->wait = W_UP_READ;
			st = STEP_AGAIN;
			break;
		}
		if (st == STEP_CLOSED)
			return;
		if (st == STEP_AGAIN)
			break;
	}

	/* Waiting: arm the one timer for what we wait on. */
	switch (c->wait) {
	case W_HEAD:
	case W_LINGER:
	case W_HANDSHAKE:
		/*
		 * At a graceful stop too: a connection waiting for its first
		 * request keeps its client_header_timeout (and the worker its
		 * shutdown_timeout), as the client may just be slow to send.
		 */
		deadline = c->fixed_deadline;
		break;
	case W_IDLE:
		deadline = ev_now + conf->g.keepalive_timeout_ms;
		if (worker.quitting && deadline > quit_grace)
			deadline = quit_grace;
		break;
	case W_CONNECT:
		deadline = c->fixed_deadline ? c->fixed_deadline :
		    ev_now + c->r->upstream->conf->connect_timeout_ms;
		break;
	case W_UP_WRITE:
		deadline = ev_now + c->r->upstream->conf->send_timeout_ms;
		break;
	case W_UP_READ:
		deadline = ev_now + c->r->upstream->conf->read_timeout_ms;
		break;
	case W_CL_READ:
		/*
		 * Between reads at most client_body_timeout; and over the
		 * whole body at least client_body_min_rate bytes a second
		 * after the first client_body_timeout.
		 */
		deadline = ev_now + conf->g.client_body_timeout_ms;
		if (conf->g.client_body_min_rate > 0 && c->r != NULL) {
			uint64_t d = c->r->body_t0 + conf->g.client_body_timeout_ms +
			    c->r->body_rx * 1000 / (uint64_t)conf->g.client_body_min_rate;
			if (d < deadline)
				deadline = d;
		}
		break;
	case W_QUEUE:
		deadline = ev_now + QUEUE_POLL_MS;
		if (deadline > c->r->queue_deadline)
			deadline = c->r->queue_deadline;
		break;
	case W_CACHE:
	case W_CGROW:
		deadline = ev_now + CACHE_POLL_MS;
		if (deadline > c->r->cwait_until)
			deadline = c->r->cwait_until;
		break;
	case W_CL_WRITE:
	default:
		deadline = ev_now + conf->g.send_timeout_ms;
		break;
	}
	ev_timer_set(&c->timer, deadline);
}

static void
client_timer_cb(struct ev_timer *t)
{
	struct client	*c = (struct client *)((char *)t - offsetof(struct client, timer));
	struct req	*r = c->r;
	enum step	 st = STEP_DONE;

	switch (c->wait) {
	case W_IDLE:
	case W_LINGER:
		client_close(c);
		return;
	case W_HANDSHAKE:
		tls_conn_timed_out(c->tls);
		log_info("client %s: TLS handshake timed out", c->ip);
		client_close(c);
		return;
	case W_HEAD:
		if (c->in_end > c->in_pos) {
			log_info("client %s: request head timed out", c->ip);
			st = local_answer(c, 408, 1);
		} else {
			client_close(c);
			return;
		}
		break;
	case W_CONNECT:
		st = upstream_failed(c, "connect timed out", RETRY_TIMEOUT, 1, 504);
		break;
	case W_QUEUE:
		st = upstream_start(c);
		break;
	case W_CACHE:
		st = cache_wait_again(c);
		break;
	case W_CGROW:
		if (ev_now >= r->cwait_until) {
			log_warnx("client %s: the object being stored stopped "
			    "growing: connection cut", c->ip);
			client_abort(c);
			return;
		}
		st = STEP_DONE;		/* look for more of it */
		break;
	case W_START:
		st = STEP_DONE;		/* a refresh begins */
		break;
	case W_UP_WRITE:
	case W_UP_READ:
		if (r->resp_head) {
			log_errorx("upstream %s server %s: timed out in the middle of the body",
			    r->upstream->conf->name,
			    r->upstream->servers[r->server].conf->addr.text);
			server_failed(&r->upstream->servers[r->server], r->server);
			client_cut(c);
			return;
		}
		if (!r->resp_started && !r->interim && c->wait == W_UP_READ &&
		    retry_allowed(r, RETRY_TIMEOUT, 0)) {
			st = upstream_failed(c, "timed out waiting for the response",
			    RETRY_TIMEOUT, 0, 504);
			break;
		}
		log_errorx("upstream %s server %s: timed out waiting for the response",
		    r->upstream->conf->name,
		    r->upstream->servers[r->server].conf->addr.text);
		STAT_INC(upstream_errors);
		server_failed(&r->upstream->servers[r->server], r->server);
		st = local_answer(c, 504, 1);
		break;
	case W_CL_READ:
		log_info("client %s: request body timed out", c->ip);
		st = local_answer(c, 408, 1);
		break;
	case W_CL_WRITE:
	default:
		log_info("client %s: send timed out", c->ip);
		client_close(c);
		return;
	}
	if (st != STEP_CLOSED)
		client_run(c);
}

static void
client_cb(struct ev_io *io, uint32_t events)
{
	struct client	*c = (struct client *)io;
	struct req	*r = c->r;

	/*
	 * The client hung up while its answer is being fetched.  A reset, or
	 * a FIN from a client that asked for keep-alive, means it is gone:
	 * stop (logged as 499).  A client that said Connection: close may
	 * just have shut down its sending side, and still gets its answer.
	 */
	if (((c->state == CS_PROXY && r != NULL && (r->req_done || r->body_in) &&
	    !r->resp_head) ||
	    c->state == CS_CWAIT) && ((events & (EPOLLERR | EPOLLHUP)) ||
	    ((events & EPOLLRDHUP) && r->client_ka))) {
		log_info("client %s closed the connection before the answer", c->ip);
		r->status = 499;
		client_close(c);
		return;
	}

	if (events & (EPOLLIN | EPOLLRDHUP | EPOLLERR | EPOLLHUP))
		c->rd_ready = 1;
	if (events & (EPOLLRDHUP | EPOLLERR | EPOLLHUP))
		c->rdhup = 1;
	if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))
		c->wr_ready = 1;
	if (c->tls != NULL) {
		int rd = c->rd_ready, wr = c->wr_ready;

		tls_events(c->tls, events, &rd, &wr);
		c->rd_ready = rd;
		c->wr_ready = wr;
	}
	client_run(c);
}

static void
client_close(struct client *c)
{
	struct req	*r = c->r;

	if (r != NULL) {
		if (!r->logged && r->parsed) {
			/* Gone before the answer was complete. */
			if (r->status == 0 || !r->resp_done)
				r->status = r->resp_head ? r->status : 499;
			access_log(c);
		}
		req_drop_up(r);
		req_put(r);
		c->r = NULL;
		nbusy--;
	}
	buf_put(c->in);
	c->in = NULL;
	ev_timer_cancel(&c->timer);
	if (c->tls != NULL) {
		tls_conn_free(c->tls);
		c->tls = NULL;
	}
	close(c->io.fd);
	if (c->io.fd != -1)
		worker_accept_resume();	/* an fd is free again */
	c->io.fd = -1;
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		clients = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	nclients--;
	c->next = dead_clients;
	dead_clients = c;
}

/*
 * End of a loop turn: objects closed during it may be reused now (no
 * event of this turn can name them any more).
 */
/*
 * Close with a reset: the client must not take a cut-short body for a
 * whole one (a close-delimited body would otherwise look complete).
 */
static void
client_abort(struct client *c)
{
	if (c->tls != NULL)
		c->tls->failed = 1;	/* no close_notify: that would say "complete" */
	struct linger	 l = { 1, 0 };

	if (c->tls != NULL)
		c->tls->failed = 1;	/* no close_notify: it would say "complete" */
	(void)setsockopt(c->io.fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
	client_close(c);
}

/*
 * A response ends before its end: a body whose end is the close itself
 * (close-delimited, or de-chunked for HTTP/1.0) must end in a reset, or
 * the client would take it for whole; others carry their own length.
 */
static void
client_cut(struct client *c)
{
	if (c->r != NULL && (c->r->resp_eof || c->r->dechunk))
		client_abort(c);
	else
		client_close(c);
}

void
proxy_recycle(void)
{
	struct client	*c;
	struct upconn	*u;

	while ((c = dead_clients) != NULL) {
		dead_clients = c->next;
		c->next = free_clients;
		free_clients = c;
	}
	while ((u = dead_upconns) != NULL) {
		dead_upconns = u->next;
		u->next = free_upconns;
		free_upconns = u;
	}
}

/*
 * A log line that an attacker can repeat at will is written at most once
 * a second.  Returns 1 when it may be written now, with *skipped the
 * number of times it was held back since the last one.
 */
struct ratelimit {
	time_t		 last;
	unsigned long	 skipped;
};

static int
ratelimit_ok(struct ratelimit *rl, unsigned long *skipped)
{
	if (rl->last == ev_wall) {
		rl->skipped++;
		return 0;
	}
	rl->last = ev_wall;
	*skipped = rl->skipped;
	rl->skipped = 0;
	return 1;
}

/*
 * A connection over worker_connections: counted, logged (at most once a
 * second), and closed at once.  A plain HTTP client gets a 503 first: its
 * request, if in already, is read and dropped so that the close sends a
 * FIN, not a reset that could destroy the answer on its way.  A TLS client
 * only sees the close: an answer would cost a handshake.
 */
static void
accept_refuse(struct proxy_listener *ls, int fd,
    const struct sockaddr_storage *ss)
{
	static const char	 resp[] = "HTTP/1.1 503 Service Unavailable\r\n"
	    "Content-Type: text/plain\r\nContent-Length: 20\r\n"
	    "Connection: close\r\n\r\nService Unavailable\n";
	static struct ratelimit	 rl;
	char			 buf[4096], ip[INET6_ADDRSTRLEN];
	unsigned long		 skipped;
	int			 i;

	STAT_INC(connections_refused);
	if (ratelimit_ok(&rl, &skipped)) {
		net_ntop((const struct sockaddr *)ss, ip, sizeof(ip));
		log_warnx("client %s: connection refused: worker_connections "
		    "(%d) reached; %lu more refused since the last message", ip,
		    conf->g.worker_connections, skipped);
	}
	for (i = 0; i < 4 && recv(fd, buf, sizeof(buf), MSG_DONTWAIT) > 0; i++)
		;
	if (ls->conf->tls == NULL)
		(void)send(fd, resp, sizeof(resp) - 1, MSG_DONTWAIT | MSG_NOSIGNAL);
	close(fd);
}

void
proxy_accept(struct ev_io *io, uint32_t events)
{
	struct proxy_listener	*ls = (struct proxy_listener *)io;
	struct sockaddr_storage	 ss;
	socklen_t		 sl;
	struct client		*c;
	static struct ratelimit	 rl_fds;
	unsigned long		 skipped;
	int			 fd, i, err;

	/*
	 * One accept per wakeup, as nginx does by default: the listener is
	 * level-triggered, so epoll reports it again while connections wait,
	 * and no accept4() is spent just to learn the queue is empty.
	 */
	for (i = 0; i < 1; i++) {
		sl = sizeof(ss);
		fd = accept4(io->fd, (struct sockaddr *)&ss, &sl,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1) {
			if (errno == EAGAIN || errno == EINTR || errno == ECONNABORTED)
				return;
			err = errno;
			if (err == EMFILE || err == ENFILE) {
				/* Retried after a pause: no spinning. */
				worker_accept_pause(ACCEPT_PAUSE_MS);
				if (!ratelimit_ok(&rl_fds, &skipped))
					return;
				errno = err;
				log_warn("accept: out of file descriptors (raise "
				    "the fd limit or lower worker_connections), "
				    "pausing accept for %d ms; %lu more since the "
				    "last message", ACCEPT_PAUSE_MS, skipped);
			} else
				log_warn("accept");
			return;
		}
		if (worker.quitting) {
			close(fd);
			continue;
		}
		if (nclients >= (size_t)conf->g.worker_connections) {
			accept_refuse(ls, fd, &ss);
			continue;
		}
		if ((c = free_clients) != NULL)
			free_clients = c->next;
		else if ((c = malloc(sizeof(*c))) == NULL) {
			close(fd);
			continue;
		}
		memset(c, 0, offsetof(struct client, ip));
		c->tls = NULL;
		c->io.fd = fd;
		c->io.cb = client_cb;
		c->ls = ls;
		c->state = CS_HEAD;
		ev_timer_init(&c->timer, client_timer_cb);
		net_ntop((struct sockaddr *)&ss, c->ip, sizeof(c->ip));
		if (ev_add(&c->io) == -1) {
			log_warn("epoll_ctl");
			close(fd);
			c->next = free_clients;
			free_clients = c;
			continue;
		}
		c->next = clients;
		if (clients != NULL)
			clients->prev = c;
		clients = c;
		nclients++;
		STAT_INC(connections);
		if (ls->conf->tls != NULL &&
		    (c->tls = tls_conn_accept(ls->conf->tls, fd)) == NULL) {
			client_close(c);
			continue;
		}
		/* The request usually arrives with the connection: try now. */
		c->rd_ready = 1;
		c->wr_ready = 1;
		client_run(c);
	}
}

/*
 * Graceful stop.  A connection between requests may have a request on
 * its way: closing it at once would fail that request.  So idle
 * keep-alive connections get a short grace period (an answer in it says
 * Connection: close), and busy ones finish their exchange and then close.
 * A connection accepted that has not had its first request yet is
 * answered (with Connection: close) whenever the request comes, within
 * client_header_timeout and shutdown_timeout: the client connected to
 * this worker and has no reason to think it is going away (nginx too
 * closes only the idle keep-alive connections at once).
 */
size_t
proxy_quit(void)
{
	struct client	*c;
	size_t		 i;
	struct server_rt *s;
	uint64_t	 grace = ev_now + QUIT_IDLE_GRACE_MS;

	worker.quitting = 1;
	quit_grace = grace;
	for (c = clients; c != NULL; c = c->next) {
		if (c->r != NULL)
			c->r->keep_alive = 0;
		else if (c->state == CS_HEAD && c->served &&
		    c->in_end == c->in_pos && c->timer.deadline > grace)
			ev_timer_set(&c->timer, grace);
	}
	for (i = 0; i < nupstreams; i++)
		for (s = upstreams[i].servers; s < upstreams[i].servers + upstreams[i].n; s++)
			while (s->idle != NULL)
				upconn_close(s->idle);
	return nclients;
}

size_t
proxy_active(void)
{
	return nclients;
}

void
proxy_fini(void)
{
	size_t		 i;
	struct server_rt *s;
	struct upconn	*u;
	struct client	*c;
	void		*p;

	while (clients != NULL)
		client_close(clients);
	for (i = 0; i < nupstreams; i++) {
		for (s = upstreams[i].servers; s < upstreams[i].servers + upstreams[i].n; s++) {
			while (s->idle != NULL)
				upconn_close(s->idle);
			if (s->tls_session != NULL)
				SSL_SESSION_free(s->tls_session);
		}
		free(upstreams[i].servers);
		free(upstreams[i].bs);
		balance_free(&upstreams[i].bal);
	}
	free(upstreams);
	upstreams = NULL;
	nupstreams = 0;
	free(cache_scopes);
	cache_scopes = NULL;
	free(hdrs);
	hdrs = NULL;
	free(hdrs2);
	hdrs2 = NULL;
	free(cscratch);
	cscratch = NULL;
	free(fwdbuf);
	fwdbuf = NULL;
	free(hdrs3);
	hdrs3 = NULL;
	proxy_recycle();
	while ((u = free_upconns) != NULL) {
		free_upconns = u->next;
		free(u);
	}
	while ((c = free_clients) != NULL) {
		free_clients = c->next;
		free(c);
	}
	while ((p = free_bufs) != NULL) {
		free_bufs = *(void **)p;
		free(p);
	}
	while ((p = free_reqs) != NULL) {
		free_reqs = *(void **)p;
		free(p);
	}
	nfree_bufs = nfree_reqs = 0;
}
