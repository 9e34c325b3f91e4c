/*
 * request.c: the exchange begins (exchange_begin, once a front end has
 * decoded a request head): the head checked (limits, path
 * normalization), its route found, its access checked, its balancing key
 * computed; then it is handed to the cache, a local answer or a backend.
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
#include "worker/compress.h"
#include "worker/event.h"
#include "common/http.h"
#include "worker/proxy.h"
#include "worker/auth.h"
#include "worker/limits.h"
#include "worker/proxy_int.h"
#include "worker/realip.h"
#include "worker/reqid.h"
#include "worker/rewrite.h"
#include "worker/tls.h"
#include "worker/uri.h"
#include "worker/varsrc.h"
#include "worker/waf.h"
#include "worker/worker.h"

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
		log_info("client %s: bad request: %s (400)", client_ip(c),
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
 * Route a request that came in on listener ls: of the routes of cf on
 * that listener (or on all), the most specific matching host pattern
 * (exact, then the longest wildcard suffix, then any), then the longest
 * path prefix under that host.  The host is compared lowercased, without
 * its port and a trailing dot.  Returns the route, or NULL with *status
 * 421 (no host matches) or 404 (no path prefix does).
 */
struct conf_route *
route_find(const struct conf *cf, const struct conf_listener *ls,
    const struct http_request *rq, int *status)
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
	for (i = 0; i < cf->nroutes; i++) {
		rt = &cf->routes[i];
		if (rt->listener != NULL && rt->listener != ls)
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
	for (i = 0; i < cf->nroutes; i++) {
		rt = &cf->routes[i];
		if (rt->listener != NULL && rt->listener != ls)
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

/*
 * The path of the request-target as the client sent it, without the
 * query ("/" when empty): for routes with normalize_path = off.
 */
void
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
 * Whether an address (text, as in client_ip(c)) is in a list of blocks, or with
 * rules set, whether the list's access rules (allow/deny) let it in.
 */
static int
ip_check(const char *ip, const struct conf_cidr *list, size_t n, int rules)
{
	struct sockaddr_in	 s4;
	struct sockaddr_in6	 s6;
	struct sockaddr		*sa;

	memset(&s4, 0, sizeof(s4));
	memset(&s6, 0, sizeof(s6));
	if (inet_pton(AF_INET, ip, &s4.sin_addr) == 1) {
		s4.sin_family = AF_INET;
		sa = (struct sockaddr *)&s4;
	} else if (inet_pton(AF_INET6, ip, &s6.sin6_addr) == 1) {
		s6.sin6_family = AF_INET6;
		sa = (struct sockaddr *)&s6;
	} else
		return rules ? n == 0 : 0;
	return rules ? conf_access_check(list, n, sa) :
	    conf_cidr_match(list, n, sa);
}

/* Whether an address (text, as in client_ip(c)) is in a list of blocks. */
int
ip_allowed(const char *ip, const struct conf_cidr *list, size_t n)
{
	return ip_check(ip, list, n, 0);
}

/* realip_pick()'s test: whether an address is a trusted proxy. */
static int
realip_trusted(const struct sockaddr *sa, void *arg)
{
	const struct conf_listener	*ls = arg;

	return ls->ntrusted > 0 ? conf_cidr_match(ls->trusted, ls->ntrusted, sa) :
	    conf_cidr_match(conf->g.trusted, conf->g.ntrusted, sa);
}

/*
 * Who the client of this request is: the peer, or when the peer is a
 * trusted proxy (trusted_proxies of the listener, else of [global]) the
 * address it vouches for in real_ip_header.  A malformed value keeps
 * the peer's address; it is counted and logged (once a second at most).
 */
static void
realip_apply(struct client *c, const struct http_request *rq)
{
	static struct ratelimit		 rl;
	const struct conf_listener	*ls = c->ls->conf;
	const struct conf_cidr		*t = ls->trusted;
	size_t				 nt = ls->ntrusted;
	enum real_ip_header		 kind = ls->real_ip_header;
	char				 ip[CLIENT_IP_MAX];
	unsigned long			 skipped;
	int				 rc;

	if (c->r->ip_real) {
		/* Already a real client (a retry): back to the peer. */
		c->r->ip_real = 0;
		c->r->ip[0] = '\0';
	}
	if (nt == 0) {
		t = conf->g.trusted;
		nt = conf->g.ntrusted;
	}
	if (kind == REAL_IP_INHERIT)
		kind = conf->g.real_ip_header;
	if (nt == 0 || !ip_allowed(client_ip(c), t, nt))
		return;
	rc = realip_pick(kind, rq->headers, rq->nheaders, realip_trusted,
	    (void *)ls, ip, sizeof(ip));
	if (rc == 1) {
		memcpy(c->r->ip, ip, sizeof(c->r->ip));
		c->r->ip_real = 1;
	}
	else if (rc == -1) {
		shm_stat_inc(&worker.stats->realip_malformed);
		if (ratelimit_ok(&rl, &skipped))
			log_info("client %s: malformed %s from a trusted proxy: "
			    "keeping its address; %lu more since the last "
			    "message", client_ip(c), kind == REAL_IP_FORWARDED ?
			    "Forwarded" : kind == REAL_IP_X_REAL_IP ?
			    "X-Real-IP" : "X-Forwarded-For", skipped);
	}
}

/*
 * Whether the access rules (allow/deny) of the listener, then of the
 * route when there is one, let the client's (real) address in.
 */
static int
client_allowed(const struct client *c, const struct conf_route *rt)
{
	const struct conf_listener	*ls = c->ls->conf;

	if (rt == NULL)
		return ls->naccess == 0 ||
		    ip_check(client_ip(c), ls->access, ls->naccess, 1);
	return rt->nallow == 0 || ip_check(client_ip(c), rt->allow, rt->nallow,
	    1);
}

/* Find cookie name in the Cookie fields; *v, *vl its value. */
int
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
void
request_key(struct client *c, const struct http_request *rq)
{
	struct req			*r = c->r;
	const struct conf_upstream	*cu = r->upstream->conf;
	const char			*v = NULL;
	size_t				 vl = 0, i;

	r->keyed = 0;
	if (cu->balance == BALANCE_IP_HASH) {
		v = client_ip(c);
		vl = strlen(client_ip(c));
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
 * The checks of a parsed request (r->rq), its route and its access:
 * answered here (an error, the https redirect, the status page), or
 * handed on to the body reader (request_buffering) or to request_start.
 */
static enum step
request_route(struct client *c)
{
	struct req		*r = c->r;
	struct http_request	*rq = &r->rq;
	struct conf_route	*rt;
	int			 rc, status;

	if (rq->host_len > 255) {
		log_info("client %s: bad request: Host longer than 255 bytes", client_ip(c));
		return local_answer(c, 400, 1);
	}
	if ((rc = path_normalize(c, rq)) != 0) {
		if (rc == -1) {
			client_close(c);
			return STEP_CLOSED;
		}
		return local_answer(c, rc, !r->req_done);
	}
	if (!client_allowed(c, NULL)) {
		log_info("client %s: not allowed on listener %s", client_ip(c),
		    c->ls->conf->name);
		return local_answer(c, 403, BODY_UNREAD(r));
	}
	if (c->ls->conf->redirect_https && !client_https(c))
		return redirect_answer(c, rq);
	rt = route_find(conf, c->ls->conf, rq, &status);
	if (rt == NULL)
		return local_answer(c, status, BODY_UNREAD(r));
	r->route = rt;		/* (the metrics count refusals on it too) */
	if (!client_allowed(c, rt)) {
		log_info("client %s: not allowed on route %s", client_ip(c),
		    rt->name);
		return local_answer(c, 403, BODY_UNREAD(r));
	}
	if (rt->ret_status != 0)
		return return_answer(c, rq);	/* return = (varsrc.c) */
	if (rt->nlimits > 0)
		return limits_apply(c);		/* then request_routed */
	return request_routed(c);
}

/*
 * A request routed, allowed and within its limits (which come first, as
 * nginx's limit_req before auth_basic: a password guesser is limited
 * before it costs a hash): basic authentication, then the status page,
 * or on to the body reader (request_buffering) or to request_start.
 */
enum step
request_routed(struct client *c)
{
	struct req		*r = c->r;
	struct http_request	*rq = &r->rq;
	const struct conf_route	*rt = r->route;
	enum step		 st;
	int			 rc;

	if (rt->auth_users != NULL && !r->auth_done)
		return auth_begin(c);	/* then here again */
	if (rt->compress.on)
		compress_request(r);	/* Accept-Encoding, read while rq is whole */
	if (rt->handler == HANDLER_STATUS) {
		if (rq->method != HTTP_M_GET && rq->method != HTTP_M_HEAD)
			return local_answer(c, 405, BODY_UNREAD(r));
		if (!r->req_done)
			r->keep_alive = 0;
		return status_answer(c, rq);
	}
	if (conf->g.max_body_size > 0 && rq->content_length > conf->g.max_body_size)
		return local_answer(c, 413, 1);
	if ((rt->strip_prefix != NULL || rt->rw_re != NULL) &&
	    (rc = rewrite_apply(c, rq)) != 0) {
		if (rc == -1) {
			client_close(c);
			return STEP_CLOSED;
		}
		return local_answer(c, rc, BODY_UNREAD(r));
	}
	/* The firewall sees the head before the body is read, then the body. */
	if (rt->waf != WAF_OFF && (st = waf_request(c)) != STEP_NEXT)
		return st;
	if (!r->req_done && (rt->request_buffering || rt->waf != WAF_OFF))
		return body_begin(c);
	return request_start(c);
}

/*
 * A front end decoded a request head into the request's block (r->rq and
 * r->fields, exchange.h): the exchange begins, and is routed.
 */
enum step
exchange_begin(struct client *c)
{
	struct req			*r = c->r;
	const struct http_request	*rq = &r->rq;

	r->t_start = ev_now;
	r->wall_start = ev_wall;
	r->method = rq->method;
	r->version = rq->version;
	r->keep_alive = rq->keep_alive && !worker.quitting &&
	    conf->g.keepalive_timeout_ms > 0;
	r->client_ka = rq->keep_alive;
	r->parsed = 1;
	if (alog)
		log_request_line(r->line, sizeof(r->line), rq);
	shm_stat_inc(&worker.stats->requests);
	realip_apply(c, rq);
	reqid_begin(c, rq);
	return request_route(c);
}
