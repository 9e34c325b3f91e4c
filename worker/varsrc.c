/*
 * varsrc.c: the variables' values for one exchange (varsrc_get), and the
 * header rules applied to a head being built (hdr_rules_apply): called
 * from headers.c (the backend's request head, the client's response
 * head), httpcache_hit.c (a hit's head) and reply.c (portico's own
 * answers, the "always" rules).  With no rule configured the callers
 * make no call here.
 */
#include "config.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/ssl.h>

#include "common/conf.h"
#include "common/http.h"
#include "common/strbuf.h"
#include "common/vars.h"
#include "worker/h2.h"
#include "worker/proxy_int.h"
#include "worker/varsrc.h"

static int	 field_find(const char *p, size_t len, const char *name,
		    size_t nlen, const char **v, size_t *vl);
static int	 name_match(const char *a, size_t al, const char *b, size_t bl);
static const struct pp_info *conn_pp(const struct client *);
static void	 host_only(const char *h, size_t hl, const char **v, size_t *vl);
static int	 var_exchange(const struct varsrc *, enum var_id, const char *,
		    size_t, const char **, size_t *, char *, size_t);
static void	 fields_drop(struct strbuf *b, size_t start, size_t lim,
		    const char *name, size_t nl);

/* Whether a field name a[0..al) is the rule's or variable's b[0..bl). */
/* The PROXY header's extras of c's connection (an HTTP/2 stream's: its). */
static const struct pp_info *
conn_pp(const struct client *c)
{
	if (c == NULL || !c->pp_src)
		return NULL;
	if (c->h2s != NULL && c->h2s->conn != NULL && c->h2s->conn->c != NULL)
		return c->h2s->conn->c->pp;
	return c->pp;
}

static int
name_match(const char *a, size_t al, const char *b, size_t bl)
{
	size_t	 i;
	char	 x, y;

	if (al != bl)
		return 0;
	for (i = 0; i < al; i++) {
		x = a[i];
		y = b[i];
		if (x >= 'A' && x <= 'Z')
			x += 'a' - 'A';
		if (y >= 'A' && y <= 'Z')
			y += 'a' - 'A';
		if (x != y)
			return 0;
	}
	return 1;
}

/* The host of a Host value: without its port ("[::1]" keeps brackets). */
static void
host_only(const char *h, size_t hl, const char **v, size_t *vl)
{
	size_t	 i;

	*v = h;
	if (hl > 0 && h[0] == '[') {
		for (i = 0; i < hl && h[i] != ']'; i++)
			;
		*vl = i < hl ? i + 1 : hl;
		return;
	}
	for (i = 0; i < hl && h[i] != ':'; i++)
		;
	*vl = i;
}

/*
 * The first field called name[0..nlen) among the "name: value\r\n" lines
 * of p[0..len).  Returns 0 with its value, or -1.
 */
static int
field_find(const char *p, size_t len, const char *name, size_t nlen,
    const char **v, size_t *vl)
{
	const char	*end = p + len, *eol, *colon, *s, *e;

	while (p < end) {
		if ((eol = memchr(p, '\n', end - p)) == NULL)
			return -1;
		colon = memchr(p, ':', eol - p);
		if (colon != NULL && name_match(p, colon - p, name, nlen)) {
			for (s = colon + 1; s < eol && (*s == ' ' || *s == '\t');
			    s++)
				;
			for (e = eol; e > s && (e[-1] == '\r' || e[-1] == ' ' ||
			    e[-1] == '\t'); e--)
				;
			*v = s;
			*vl = e - s;
			return 0;
		}
		p = eol + 1;
	}
	return -1;
}

/*
 * varsrc_get's values that come from the exchange rather than the
 * request: the server used, the route, the answer and the log's times.
 */
static int
var_exchange(const struct varsrc *vs, enum var_id id, const char *name,
    size_t nlen, const char **v, size_t *vl, char *scratch, size_t scap)
{
	const struct client	*c = vs->c;
	const struct req	*r = vs->r;
	const struct http_request *rq = vs->rq;
	const struct http_header *h;
	const struct pp_info	*pp;
	const char		*s;
	struct tm		 tm;
	size_t			 i;
	int			 n = -1;
	time_t			 t;

	switch (id) {
	case VAR_UPSTREAM_ADDR:
		if (r == NULL || r->server < 0 || r->upstream == NULL)
			return -1;
		*v = r->upstream->servers[r->server].conf->addr.text;
		*vl = strlen(*v);
		return 0;
	case VAR_ROUTE:
		if (r == NULL || r->route == NULL)
			return -1;
		*v = r->route->name;
		*vl = strlen(*v);
		return 0;
	case VAR_LISTENER:
		if (c == NULL || c->ls == NULL)
			return -1;
		*v = c->ls->conf->name;
		*vl = strlen(*v);
		return 0;
	case VAR_HTTP:
		if (rq == NULL)
			return -1;
		for (i = 0; i < rq->nheaders; i++) {
			h = &rq->headers[i];
			if (name_match(h->name, h->name_len, name, nlen)) {
				*v = h->value;
				*vl = h->value_len;
				return 0;
			}
		}
		return -1;
	case VAR_STATUS:
		/* 0 before any answer: a number still (JSON logs). */
		n = snprintf(scratch, scap, "%d", r != NULL && r->status > 0 ?
		    r->status : 0);
		break;
	case VAR_SENT_HTTP:
		if (vs->head == NULL || (s = memchr(vs->head->p, '\n',
		    vs->head->len)) == NULL)
			return -1;
		s++;
		return field_find(s, vs->head->len - (s - vs->head->p), name,
		    nlen, v, vl);
	case VAR_TIME_LOCAL:
	case VAR_TIME_ISO8601:
		t = r != NULL ? r->wall_start : ev_wall;
		gmtime_r(&t, &tm);
		n = (int)strftime(scratch, scap, id == VAR_TIME_LOCAL ?
		    "%d/%b/%Y:%H:%M:%S +0000" : "%Y-%m-%dT%H:%M:%S+00:00", &tm);
		break;
	case VAR_MSEC:
		n = snprintf(scratch, scap, "%lld.%03d", (long long)ev_wall,
		    (int)(ev_now % 1000));
		break;
	case VAR_BODY_BYTES_SENT:
		n = snprintf(scratch, scap, "%llu", r != NULL ?
		    (unsigned long long)r->body_bytes : 0ULL);
		break;
	case VAR_REQUEST_TIME:
		n = snprintf(scratch, scap, "%.3f", r != NULL ?
		    (double)(ev_now - r->t_start) / 1000.0 : 0.0);
		break;
	case VAR_UPSTREAM_RESPONSE_TIME:
		if (r == NULL || r->server < 0 || r->upstream == NULL)
			return -1;
		n = snprintf(scratch, scap, "%.3f", (double)((r->t_up_end ?
		    r->t_up_end : ev_now) - r->t_up_start) / 1000.0);
		break;
	case VAR_CACHE_STATUS:
		if (r == NULL || r->cstatus[0] == '\0')
			return -1;
		*v = r->cstatus;
		*vl = strlen(r->cstatus);
		return 0;
	case VAR_REMOTE_USER:
		/* The user an Authorization: Basic named (auth_basic routes). */
		if (r == NULL || r->auth_user[0] == '\0')
			return -1;
		*v = r->auth_user;
		*vl = strlen(r->auth_user);
		return 0;
	case VAR_REQUEST_ID:
		if (r == NULL || r->reqid[0] == '\0')
			return -1;
		*v = r->reqid;
		*vl = strlen(r->reqid);
		return 0;
	case VAR_PROXY_PROTOCOL_ADDR:
		/* The source a PROXY header announced; empty without one. */
		if (c == NULL || !c->pp_src || c->peer_af == 0 ||
		    inet_ntop(c->peer_af, c->peer_addr, scratch,
		    (socklen_t)scap) == NULL)
			return -1;
		n = (int)strlen(scratch);
		break;
	case VAR_PROXY_PROTOCOL_PORT:
		if (c == NULL || !c->pp_src || c->peer_af == 0)
			return -1;
		n = snprintf(scratch, scap, "%u", ntohs(c->peer_port));
		break;
	case VAR_PROXY_PROTOCOL_SERVER_ADDR:
		/* The destination a PROXY header announced. */
		if ((pp = conn_pp(c)) == NULL || pp->dst_af == 0 ||
		    inet_ntop(pp->dst_af, pp->dst_addr, scratch,
		    (socklen_t)scap) == NULL)
			return -1;
		n = (int)strlen(scratch);
		break;
	case VAR_PROXY_PROTOCOL_SERVER_PORT:
		if ((pp = conn_pp(c)) == NULL || pp->dst_af == 0)
			return -1;
		n = snprintf(scratch, scap, "%u", ntohs(pp->dst_port));
		break;
	default:
		return -1;
	}
	if (n <= 0 || (size_t)n >= scap)
		return -1;
	*v = scratch;
	*vl = (size_t)n;
	return 0;
}

int
varsrc_get(void *arg, enum var_id id, const char *name, size_t nlen,
    const char **v, size_t *vl, char *scratch, size_t scap)
{
	const struct varsrc		*vs = arg;
	const struct client		*c = vs->c;
	const struct req		*r = vs->r;
	const struct http_request	*rq = vs->rq;
	const char			*s;
	int				 n = -1;

	switch (id) {
	case VAR_REMOTE_ADDR:
		*v = vs->ip != NULL ? vs->ip : c != NULL ? client_ip(c) : NULL;
		*vl = *v != NULL ? strlen(*v) : 0;
		return 0;
	case VAR_REMOTE_PORT:
		/* The realip address comes without a port. */
		if (c == NULL || (c->r != NULL && c->r->ip_real) || c->peer_af == 0)
			return -1;
		n = snprintf(scratch, scap, "%u", ntohs(c->peer_port));
		break;
	case VAR_SCHEME:
		*v = (c != NULL ? client_https(c) : vs->https) ? "https" : "http";
		*vl = strlen(*v);
		return 0;
	case VAR_HOST:
	case VAR_HTTP_HOST:
		if (rq == NULL || rq->host == NULL)
			return -1;
		if (id == VAR_HTTP_HOST) {
			*v = rq->host;
			*vl = rq->host_len;
		} else
			host_only(rq->host, rq->host_len, v, vl);
		return 0;
	case VAR_REQUEST_METHOD:
		if (rq == NULL)
			return -1;
		*v = rq->method_str;
		*vl = rq->method_len;
		return 0;
	case VAR_URI:
		if (rq == NULL)
			return -1;
		*v = rq->path;
		*vl = rq->path_len;
		return 0;
	case VAR_ARGS:
		if (rq == NULL || rq->query == NULL)
			return -1;
		*v = rq->query;
		*vl = rq->query_len;
		return 0;
	case VAR_IS_ARGS:
		if (rq == NULL || rq->query == NULL)
			return -1;
		*v = "?";
		*vl = 1;
		return 0;
	case VAR_REQUEST_URI:
		if (rq == NULL)
			return -1;
		*v = rq->target;
		*vl = rq->target_len;
		return 0;
	case VAR_REQUEST:
		if (rq == NULL && r != NULL && r->line[0] != '\0') {
			*v = r->line;	/* kept for the log, escaped */
			*vl = strlen(r->line);
			return 0;
		}
		if (rq == NULL)
			return -1;
		n = snprintf(scratch, scap, "%.*s %.*s HTTP/%s",
		    (int)rq->method_len, rq->method_str, (int)rq->target_len,
		    rq->target, rq->version == 20 ? "2.0" :
		    rq->version == 10 ? "1.0" : "1.1");
		break;
	case VAR_SERVER_PROTOCOL:
		if (r == NULL || !r->parsed)
			return -1;
		*v = r->version == 20 ? "HTTP/2.0" :
		    r->version == 10 ? "HTTP/1.0" : "HTTP/1.1";
		*vl = 8;
		return 0;
	case VAR_SSL_PROTOCOL:
	case VAR_SSL_CIPHER:
	case VAR_SSL_SERVER_NAME:
		if (c == NULL || c->tls == NULL || c->tls->ssl == NULL)
			return -1;
		s = id == VAR_SSL_PROTOCOL ? SSL_get_version(c->tls->ssl) :
		    id == VAR_SSL_CIPHER ? SSL_get_cipher_name(c->tls->ssl) :
		    SSL_get_servername(c->tls->ssl, TLSEXT_NAMETYPE_host_name);
		if (s == NULL)
			return -1;
		*v = s;
		*vl = strlen(s);
		return 0;
	case VAR_SSL_CLIENT_S_DN:
		if (c == NULL || (s = client_cert_subject(c)) == NULL)
			return -1;
		*v = s;
		*vl = strlen(s);
		return 0;
	default:
		return var_exchange(vs, id, name, nlen, v, vl, scratch, scap);
	}
	if (n <= 0 || (size_t)n >= scap)
		return -1;
	*v = scratch;
	*vl = (size_t)n;
	return 0;
}

/*
 * Drop every field called name[0..nl) from the head in b between start
 * and lim (what follows lim moves up).
 */
static void
fields_drop(struct strbuf *b, size_t start, size_t lim, const char *name,
    size_t nl)
{
	char	*p = b->p + start, *eol, *colon;
	size_t	 ll;

	while (p < b->p + lim) {
		if ((eol = memchr(p, '\n', b->p + lim - p)) == NULL)
			return;
		ll = eol + 1 - p;
		colon = memchr(p, ':', eol - p);
		if (colon != NULL && name_match(p, colon - p, name, nl)) {
			memmove(p, eol + 1, b->p + b->len - (eol + 1));
			lim -= ll;
			b->len -= ll;
			b->need -= ll;
			continue;
		}
		p = eol + 1;
	}
}

void
hdr_rules_apply(struct strbuf *b, const struct conf_hdr_rule *rules,
    size_t n, int always_only, struct varsrc *vs)
{
	const struct conf_hdr_rule	*ru;
	const char			*sl;
	size_t				 i, start, lim;

	if (b->over || n == 0 || (sl = memchr(b->p, '\n', b->len)) == NULL)
		return;
	start = sl + 1 - b->p;
	vs->head = b;
	for (i = 0; i < n; i++) {
		ru = &rules[i];
		if (always_only && !ru->always)
			continue;
		lim = b->len;
		if (ru->op != HDR_REMOVE) {
			/* The value first: it may name the field it replaces. */
			strbuf_add(b, ru->name, ru->name_len);
			strbuf_add(b, ": ", 2);
			vars_expand(&ru->value, varsrc_get, vs, VARS_ESC_HEADER, b);
			strbuf_add(b, "\r\n", 2);
			if (b->over)
				return;
		}
		if (ru->op != HDR_ADD)
			fields_drop(b, start, lim, ru->name, ru->name_len);
	}
}

/*
 * A whole head in b (ending in its empty line) opened again for fields:
 * 0, or -1 when it is not one.
 */
static int
head_reopen(struct strbuf *b)
{
	if (b->over || b->len < 4 || memcmp(b->p + b->len - 4, "\r\n\r\n",
	    4) != 0)
		return -1;
	b->len -= 2;
	b->need -= 2;
	return 0;
}

void
resp_rules_apply(struct client *c, struct strbuf *b, int local)
{
	struct req		*r = c->r;
	const struct conf_rules	*lr = &c->ls->conf->rules;
	const struct conf_rules	*rr = r->route != NULL ? &r->route->rules : NULL;
	struct varsrc		 vs;

	if (local ? !lr->resp_always && (rr == NULL || !rr->resp_always) :
	    lr->nresp == 0 && (rr == NULL || rr->nresp == 0))
		return;
	if (head_reopen(b) == -1)
		return;
	memset(&vs, 0, sizeof(vs));
	vs.c = c;
	vs.r = r;
	/* The head stays in c->in unless a streamed body wrapped over it. */
	vs.rq = r->parsed && r->replayable ? &r->rq : NULL;
	hdr_rules_apply(b, lr->resp, lr->nresp, local, &vs);
	if (rr != NULL)
		hdr_rules_apply(b, rr->resp, rr->nresp, local, &vs);
	strbuf_add(b, "\r\n", 2);
}

void
req_rules_apply(struct client *c, const struct http_request *rq,
    struct strbuf *b)
{
	struct req		*r = c->r;
	const struct conf_rules	*lr = &c->ls->conf->rules;
	const struct conf_route	*rt = r->route;
	struct varsrc		 vs;

	if (lr->nreq == 0 && (rt == NULL || (rt->rules.nreq == 0 &&
	    rt->upstream_host.n == 0)))
		return;
	if (head_reopen(b) == -1)
		return;
	memset(&vs, 0, sizeof(vs));
	vs.c = c;
	vs.r = r;
	vs.rq = rq;
	if (rt != NULL && rt->upstream_host.n > 0) {
		size_t	 lim = b->len;

		strbuf_add(b, "Host: ", 6);
		vars_expand(&rt->upstream_host, varsrc_get, &vs,
		    VARS_ESC_HEADER, b);
		strbuf_add(b, "\r\n", 2);
		fields_drop(b, (const char *)memchr(b->p, '\n', b->len) + 1 -
		    b->p, lim, "host", 4);
	}
	hdr_rules_apply(b, lr->req, lr->nreq, 0, &vs);
	if (rt != NULL)
		hdr_rules_apply(b, rt->rules.req, rt->rules.nreq, 0, &vs);
	strbuf_add(b, "\r\n", 2);
}

/*
 * Whether the request rules (or upstream_host) of c's listener or route
 * may change the field named n[0..len) (lowercase) on its way to the
 * backend: the Vary matcher then looks at the head as forwarded.
 */
int
req_rules_name(const struct client *c, const char *n, size_t len)
{
	const struct conf_rules	*lr = &c->ls->conf->rules;
	const struct conf_route	*rt = c->r != NULL ? c->r->route : NULL;
	size_t			 i;

	if (rt != NULL && rt->upstream_host.n > 0 && len == 4 &&
	    memcmp(n, "host", 4) == 0)
		return 1;
	for (i = 0; i < lr->nreq; i++)
		if (name_match(lr->req[i].name, lr->req[i].name_len, n, len))
			return 1;
	for (i = 0; rt != NULL && i < rt->rules.nreq; i++)
		if (name_match(rt->rules.req[i].name, rt->rules.req[i].name_len,
		    n, len))
			return 1;
	return 0;
}

enum step
return_answer(struct client *c, const struct http_request *rq)
{
	struct req		*r = c->r;
	const struct conf_route	*rt = r->route;
	struct strbuf		 b, tb;
	struct varsrc		 vs;
	char			 text[2048];
	int			 st = rt->ret_status;
	int			 redirect = st >= 300 && st < 400;
	const char		*reason = http_status_reason(st);

	if (r->hb == NULL && (r->hb = buf_get()) == NULL) {
		client_close(c);
		return STEP_CLOSED;
	}
	if (BODY_UNREAD(r))
		r->keep_alive = 0;	/* the body is not read */
	memset(&vs, 0, sizeof(vs));
	vs.c = c;
	vs.r = r;
	vs.rq = rq;
	r->status = st;
	strbuf_init(&tb, text, sizeof(text));
	strbuf_init(&b, r->hb, bufsize);
	head_start_local(&b, r, st);
	if (redirect) {
		strbuf_str(&b, "Location: ");
		vars_expand(&rt->ret_text, varsrc_get, &vs, VARS_ESC_HEADER, &b);
		strbuf_str(&b, "\r\nContent-Type: text/html\r\n");
		strbuf_fmt(&tb, "<html>\r\n<head><title>%d %s</title></head>"
		    "\r\n<body>\r\n<h1>%d %s</h1>\r\n<hr><p>portico</p>\r\n"
		    "</body>\r\n</html>\r\n", st, reason, st, reason);
	} else if (st != 204 && st != 205) {
		strbuf_str(&b, "Content-Type: text/plain\r\n");
		vars_expand(&rt->ret_text, varsrc_get, &vs, VARS_ESC_HEADER, &tb);
	}
	if (tb.over) {
		buf_put(r->hb);
		r->hb = NULL;
		return local_answer(c, 500, BODY_UNREAD(r));
	}
	/* 204 has no body and no Content-Length (RFC 9110 8.6); 205 none. */
	r->fe->head_tail(&b, r, st == 204 ? HEAD_NO_LENGTH : (int64_t)tb.len);
	resp_rules_apply(c, &b, 0);	/* an answer of the route's own */
	if (r->method != HTTP_M_HEAD)
		strbuf_add(&b, text, tb.len);
	if (b.over) {
		buf_put(r->hb);
		r->hb = NULL;
		return local_answer(c, 500, BODY_UNREAD(r));
	}
	r->local_close = !r->keep_alive;
	r->hb_pos = 0;
	r->hb_end = b.len;
	r->body_bytes = r->method == HTTP_M_HEAD ? 0 : tb.len;
	r->resp_head = 1;
	c->state = CS_LOCAL;
	return STEP_ANSWERED;
}

size_t
accesslog_vars(struct client *c, const struct vars_fmt *f, int json,
    char *line, size_t cap)
{
	struct req		*r = c->r;
	struct varsrc		 vs;
	struct strbuf		 b;

	if (cap < 2)
		return 0;
	memset(&vs, 0, sizeof(vs));
	vs.c = c;
	vs.r = r;
	/* The head stays in c->in unless a streamed body wrapped over it. */
	vs.rq = r->parsed && r->replayable ? &r->rq : NULL;
	strbuf_init(&b, line, cap - 1);
	vars_expand(f, varsrc_get, &vs, json ? VARS_ESC_JSON : VARS_ESC_LOG,
	    &b);
	/* A line too long is cut, still ending in a newline. */
	line[b.len] = '\n';
	return b.len + 1;
}
