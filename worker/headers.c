/*
 * headers.c: the heads portico writes: the request head forwarded to a
 * backend (which client fields pass, which are ours, hop-by-hop removal)
 * and the response fields sent to a client (their status line and tail,
 * framing and Connection, are the front end's: r->fe->status_line and
 * r->fe->head_tail, h1.c).  The
 * builders work from explicit inputs (request_head_build,
 * response_head_build) so t/check_headers.c tests them without a
 * connection.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
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
#include "common/strbuf.h"
#include "worker/balance.h"
#include "worker/bodybuf.h"
#include "worker/cachepol.h"
#include "worker/compress.h"
#include "worker/event.h"
#include "common/http.h"
#include "worker/proxy.h"
#include "worker/proxy_int.h"
#include "worker/reqid.h"
#include "worker/tls.h"
#include "worker/uri.h"
#include "worker/varsrc.h"
#include "worker/worker.h"

static int	 client_field_dropped(const struct http_header *h, const struct conf_route *rt);
static void	 request_head_end(struct strbuf *b, const struct req *r, const struct http_request *rq);

/*
 * Whether field h is named lit (lower case): the length first, then an
 * inline compare that folds h's name only (these run on every field).
 */
#define NAME_IS(h, lit)	((h)->name_len == sizeof(lit) - 1 && \
	    http_lc_eq((h)->name, lit, sizeof(lit) - 1))

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
 * The fields build_request_head() may write itself rather than copy
 * from the client (whatever the client sent): a field it adds must be
 * listed here, or Vary on it would be matched against the client's.
 */
static const char *const fwd_own_fields[] = {
	"host", "x-forwarded-for", "x-forwarded-proto", "x-client-cert-subject",
	"x-forwarded-host", "via", "content-length", "transfer-encoding",
	"connection", "if-none-match", "if-modified-since", "x-real-ip",
};

/*
 * Copy s[0..n) for a quoted access log field: '"', '\\', control bytes
 * and bytes over 0x7e become \\xHH, as nginx writes them.  Stops at the
 * last whole character that fits cap (with its NUL).
 */
void
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
 * A sketch of the names the Connection fields among h[0..n) list: a bit
 * per name length and first letter (any case).  A field whose bit is
 * clear is not listed, so most fields skip the exact look-up
 * (http_conn_lists), which walks every field.
 */
static inline unsigned
conn_bit(const char *name, size_t len)
{
	return (unsigned)((len * 7 + (len > 0 ?
	    ((unsigned char)name[0] | 0x20) : 0)) & 63);
}

static uint64_t
conn_sketch(const struct http_header *h, size_t n)
{
	struct http_conn_iter	 it = HTTP_CONN_ITER_INIT;
	const char		*t;
	size_t			 tl;
	uint64_t		 s = 0;

	while (http_conn_next(h, n, &it, &t, &tl))
		s |= (uint64_t)1 << conn_bit(t, tl);
	return s;
}

/* Whether a Connection field among all[0..n) names field h. */
static int
conn_listed(uint64_t sketch, const struct http_header *all, size_t n,
    const struct http_header *h)
{
	return (sketch & (uint64_t)1 << conn_bit(h->name, h->name_len)) != 0 &&
	    http_conn_lists(all, n, h->name, h->name_len);
}

/*
 * Whether build_request_head() forwards client field h of rq as the
 * client sent it (X-Forwarded-For and Via: as the start of the list it
 * appends to).  Hop-by-hop fields go, and those rq's Connection fields
 * name (but Host); Content-Length too: request_head_end() writes the
 * framing.  conn: conn_sketch() of rq's fields, or CONN_ANY; store: the
 * answer is fetched to be stored; reval: portico revalidates with the
 * stored object's validators.  This is the one
 * place that decides it: the Vary matcher (vary_pick) asks it too.
 */
int
fwd_client_field(const struct req *r, const struct http_request *rq,
    uint64_t conn, const struct http_header *h, int store, int reval)
{
	int	 host = NAME_IS(h, "host");

	if (http_is_hop_by_hop(h->name, h->name_len) ||
	    NAME_IS(h, "content-length") ||
	    client_field_dropped(h, r->route) ||
	    (!host && conn_listed(conn, rq->headers, rq->nheaders, h)))
		return 0;
	if (host)
		return !rq->absolute_form;	/* the target's replaces it */
	if (NAME_IS(h, "expect"))
		return 0;
	if (r->route != NULL && r->route->auth_users != NULL &&
	    !r->route->auth_forward && NAME_IS(h, "authorization"))
		return 0;	/* basic authentication's: portico's own */
	if (store && (NAME_IS(h, "range") || NAME_IS(h, "if-range")))
		return 0;	/* fetch the whole object to store it */
	if ((reval || store) && (NAME_IS(h, "if-none-match") ||
	    NAME_IS(h, "if-modified-since")))
		return 0;	/* ours, or none: a whole answer to store */
	return 1;
}

/* Whether build_request_head() may write a field of lowercase name n. */
int
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
 * A list field portico appends to (X-Forwarded-For, Via): several fields
 * of it are one list, so the ones before the last go as they are (in
 * portico's spelling) and the last is held back for list_end().
 */
struct list_field {
	const char	*name;
	size_t		 name_len;
	const char	*last;		/* the value held back; NULL: none */
	size_t		 last_len;
};

static inline void
list_hold(struct strbuf *b, struct list_field *l, const struct http_header *h)
{
	if (l->last != NULL)
		strbuf_field(b, l->name, l->name_len, l->last, l->last_len);
	l->last = h->value;
	l->last_len = h->value_len;
}

/* The list's last field: the value held back, then ours. */
static inline void
list_end(struct strbuf *b, const struct list_field *l, const char *ours)
{
	strbuf_add(b, l->name, l->name_len);
	strbuf_add(b, ": ", 2);
	if (l->last != NULL) {
		strbuf_add(b, l->last, l->last_len);
		strbuf_add(b, ", ", 2);
	}
	strbuf_str(b, ours);
	strbuf_add(b, "\r\n", 2);
}

/*
 * The end of a request head for a backend: the body's framing, close
 * when the upstream keeps no connections, the stored object's validators
 * when portico revalidates it, and the empty line.
 */
static void
request_head_end(struct strbuf *b, const struct req *r,
    const struct http_request *rq)
{
	if (r->buffered && !r->out_chunked) {
		/* A buffered body goes with its length, chunked or not. */
		strbuf_fmt(b, "Content-Length: %llu\r\n",
		    (unsigned long long)r->body.len);
	} else if (rq->chunked || r->out_chunked)
		strbuf_str(b, "Transfer-Encoding: chunked\r\n");
	else if (rq->content_length >= 0) {
		strbuf_str(b, "Content-Length: ");
		strbuf_num(b, rq->content_length);
		strbuf_str(b, "\r\n");
	}
	if (r->upg_len > 0)
		tunnel_head_end(b, r);	/* an Upgrade that passes (tunnel.c) */
	else if (r->upstream->conf->keepalive == 0)
		strbuf_str(b, "Connection: close\r\n");
	if (r->c_reval) {
		/* Revalidate the stored response with its validators. */
		char	 d[40];

		if (r->cmeta.etag_len > 0) {
			strbuf_str(b, "If-None-Match: ");
			strbuf_add(b, r->cmeta.etag, r->cmeta.etag_len);
			strbuf_str(b, "\r\n");
		}
		if (r->cmeta.last_modified >= 0) {
			cachepol_fmt_date(r->cmeta.last_modified, d);
			strbuf_fmt(b, "If-Modified-Since: %s\r\n", d);
		}
	}
	strbuf_str(b, "\r\n");
}

/*
 * Build the upstream request head for rq into b, from explicit inputs:
 * r (route, upstream, body framing, cache state; its referer and agent
 * are filled for the access log) and peer (who the client is).  No
 * connection is needed, so it can be unit-tested.  Returns 0, or -1 when
 * it does not fit b.
 */
int
request_head_build(struct req *r, const struct fwd_peer *peer,
    const struct http_request *rq, struct strbuf *b)
{
	const struct http_header *h;
	struct list_field	 xff = { "X-Forwarded-For", 15, NULL, 0 };
	struct list_field	 via = { "Via", 3, NULL, 0 };
	const char		*p;
	size_t			 i, n;
	int			 store = cache_writing(&r->cw);
	/* A request id or trace context of portico's (worker/reqid.c). */
	int			 ids = r->reqid[0] != '\0' || r->tp_drop ||
				    r->tp_ours;
	uint64_t		 conn = conn_sketch(rq->headers, rq->nheaders);

	strbuf_add(b, rq->method_str, rq->method_len);
	strbuf_add(b, " ", 1);
	if (rq->absolute_form || r->np_len > 0) {
		if (r->np_len > 0 && !r->route->normalize_path &&
		    !r->rewritten) {
			raw_path(rq, &p, &n);
			strbuf_add(b, p, n);
		} else
			strbuf_add(b, rq->path, rq->path_len);
		if (rq->query != NULL) {
			strbuf_add(b, "?", 1);
			strbuf_add(b, rq->query, rq->query_len);
		}
	} else
		strbuf_add(b, rq->target, rq->target_len);
	strbuf_str(b, " HTTP/1.1\r\n");
	if (rq->absolute_form)
		strbuf_field(b, "Host", 4, rq->host, rq->host_len);
	else if (rq->host == NULL)
		/* HTTP/1.0 without Host: HTTP/1.1 upstream needs one. */
		strbuf_field(b, "Host", 4, r->upstream->conf->name,
		    strlen(r->upstream->conf->name));
	for (i = 0; i < rq->nheaders; i++) {
		h = &rq->headers[i];
		if (!fwd_client_field(r, rq, conn, h, store, r->c_reval) ||
		    (ids && reqid_field_ours(r, h)))
			continue;
		if (NAME_IS(h, "x-forwarded-for")) {
			list_hold(b, &xff, h);
			continue;
		} else if (peer->real_ip && NAME_IS(h, "x-real-ip"))
			continue;	/* ours below */
		else if (NAME_IS(h, "via")) {
			list_hold(b, &via, h);
			continue;
		} else if (alog && NAME_IS(h, "referer"))
			copy_field(r->referer, sizeof(r->referer), h->value, h->value_len);
		else if (alog && NAME_IS(h, "user-agent"))
			copy_field(r->agent, sizeof(r->agent), h->value, h->value_len);
		strbuf_field(b, h->name, h->name_len, h->value, h->value_len);
	}
	list_end(b, &xff, peer->hop != NULL ? peer->hop : peer->ip);
	if (peer->real_ip)
		strbuf_field(b, "X-Real-IP", 9, peer->ip, strlen(peer->ip));
	strbuf_str(b, peer->https ? "X-Forwarded-Proto: https\r\n" :
	    "X-Forwarded-Proto: http\r\n");
	if (peer->cert_subject != NULL)
		strbuf_field(b, "X-Client-Cert-Subject", 21, peer->cert_subject,
		    strlen(peer->cert_subject));
	if (rq->host != NULL)
		strbuf_field(b, "X-Forwarded-Host", 16, rq->host, rq->host_len);
	list_end(b, &via, rq->version == 20 ? "2 portico" :
	    rq->version == 10 ? "1.0 portico" : "1.1 portico");
	if (ids)
		reqid_fields(r, b);
	request_head_end(b, r, rq);
	return b->over ? -1 : 0;
}

/*
 * Build the upstream request head of client c in r->hb.  Returns 0, or
 * -1 when it does not fit the buffer (the client gets 431).
 */
int
build_request_head(struct client *c, const struct http_request *rq)
{
	struct req		*r = c->r;
	struct strbuf		 b;
	char			 hop[CLIENT_IP_MAX];
	struct fwd_peer		 peer = { client_ip(c),
	    c->ls->conf->tls != NULL, client_cert_subject(c),
	    r->ip_real ? client_peer(c, hop, sizeof(hop)) : NULL,
	    c->ls->conf->ntrusted > 0 || conf->g.ntrusted > 0 };

	strbuf_init(&b, r->hb, bufsize);
	if (request_head_build(r, &peer, rq, &b) == -1)
		return -1;
	if (req_rules_on(c)) {
		req_rules_apply(c, rq, &b);	/* header rules, upstream_host */
		if (b.over)
			return -1;
	}
	r->hb_pos = 0;
	r->hb_end = b.len;
	return 0;
}

/*
 * Build the client's response head into b from the upstream's rs, for
 * the request r (method, version, keep-alive, HSTS, framing, cache
 * status); no connection needed.  final: 0 for a forwarded 1xx.
 * Returns 0 or -1 (too large).
 */
int
response_head_build(struct req *r, const struct http_response *rs, int final,
    struct strbuf *b)
{
	const struct http_header *h;
	struct list_field	 via = { "Via", 3, NULL, 0 };
	size_t			 i;
	int			 nobody, cl;
	uint64_t		 conn = conn_sketch(rs->headers, rs->nheaders);

	nobody = !http_response_has_body(r->method, rs->status);
	r->fe->status_line(b, rs->status, rs->reason, rs->reason_len);
	for (i = 0; i < rs->nheaders; i++) {
		h = &rs->headers[i];
		cl = NAME_IS(h, "content-length");
		if (cl && nobody && rs->status != 204 && final) {
			/* HEAD and 304 keep the length of what GET would send. */
			strbuf_field(b, h->name, h->name_len, h->value,
			    h->value_len);
			continue;
		}
		/* Content-Length: head_tail() writes the framing. */
		if (cl || http_is_hop_by_hop(h->name, h->name_len) ||
		    conn_listed(conn, rs->headers, rs->nheaders, h))
			continue;
		if (NAME_IS(h, "via")) {
			list_hold(b, &via, h);
			continue;
		}
		if (r->reqid[0] != '\0' && reqid_id_field(h))
			continue;	/* head_tail() writes ours */
		if (r->hsts != NULL && NAME_IS(h, "strict-transport-security"))
			continue;	/* the route's own replaces it */
		if (r->route != NULL && r->route->cache &&
		    r->route->cache_targeted_strip && cachepol_targeted_name(
		    (const char *const *)r->route->cache_targeted,
		    r->route->ncache_targeted, h->name, h->name_len))
			continue;	/* RFC 9213 fields: not for clients */
		if (final && r->cz != NULL && compress_field(r, b, h))
			continue;	/* a compressed answer's (compress.c) */
		strbuf_field(b, h->name, h->name_len, h->value, h->value_len);
	}
	if (final && r->hsts != NULL)
		strbuf_field(b, "Strict-Transport-Security", 25, r->hsts,
		    strlen(r->hsts));
	list_end(b, &via, rs->version == 10 ? "1.0 portico" : "1.1 portico");
	if (final && !nobody && (r->cz != NULL || r->cz_vary))
		compress_fields(r, b);
	if (!final)
		r->fe->head_tail(b, r, HEAD_INTERIM);
	else if (nobody)
		r->fe->head_tail(b, r, HEAD_NO_LENGTH);
	else if (r->cz != NULL)
		r->fe->head_tail(b, r, HEAD_CHUNKED);	/* framed by compress.c */
	else if (r->resp_chunked && (!r->dechunk || r->c_chunk))
		r->fe->head_tail(b, r, HEAD_CHUNKED);
	else
		r->fe->head_tail(b, r, rs->content_length >= 0 ?
		    rs->content_length : HEAD_NO_LENGTH);
	return b->over ? -1 : 0;
}

/*
 * Build the client's response head in r->hb from the upstream's.
 * final: 0 for a forwarded 1xx.  Returns 0 or -1 (too large: 502).
 */
int
build_response_head(struct client *c, const struct http_response *rs, int final)
{
	struct req	*r = c->r;
	struct strbuf	 b;

	strbuf_init(&b, r->hb, bufsize);
	if (response_head_build(r, rs, final, &b) == -1)
		return -1;
	if (final && resp_rules_any(c)) {
		resp_rules_apply(c, &b, 0);	/* header rules */
		if (b.over)
			return -1;
	}
	r->hb_pos = 0;
	r->hb_end = b.len;
	return 0;
}

/*
 * The start of a head portico writes itself (errors, redirects, status):
 * the status (in the front end's syntax), Server and Date.
 */
void
head_start_local(struct strbuf *b, const struct req *r, int status)
{
	const char	*reason = http_status_reason(status);

	r->fe->status_line(b, status, reason, strlen(reason));
	strbuf_str(b, "Server: portico\r\nDate: ");
	strbuf_str(b, http_date());
	strbuf_str(b, "\r\n");
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
void
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
