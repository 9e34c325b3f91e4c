/*
 * cachepol.c: the HTTP caching rules of RFC 9111 for a shared cache:
 * Cache-Control directives, what a request says about the cache, whether
 * a response may be stored (and its metadata), and which responses
 * invalidate.  The other rules are in cachepol_fresh.c (HTTP-dates, age,
 * freshness, stale-while-revalidate/if-error), cachepol_key.c (cache
 * keys, Vary) and cachepol_head.c (the stored head, 304 merging, client
 * preconditions and ranges); cachepol_int.h is what they share.
 *
 * Everything here is a pure function of parsed heads, stored metadata and
 * the caller's clock: no I/O, no allocation, no global state.  Every
 * input byte may come from a client or an origin server, so every scan
 * is bounded by the lengths it is given and never by a terminator.
 *
 * Where the RFCs leave a choice, the rule taken is the one that serves
 * fewer stale or foreign bytes: a malformed max-age makes a response
 * stale, a malformed validator matches nothing, an ambiguous field
 * (several Expires, several ETags) counts as absent or expired.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <limits.h>
#include <stdint.h>
#include <string.h>

#include "common/cache.h"
#include "worker/cachepol.h"
#include "common/http.h"
#include "common/sfdict.h"
#include "worker/cachepol_int.h"

/*
 * The largest delta-seconds kept: RFC 9111 1.2.2 lets a cache cap larger
 * values at 2^31.
 */
#define DELTA_MAX		((int64_t)1 << 31)
/* The most lines of one targeted field read; more make it invalid. */
#define TARGETED_LINES		32

/* etagc, RFC 9110 section 8.8.3: VCHAR but DQUOTE, and obs-text. */
static const uint8_t etagc_tab[256] = {
	[0x21] = 1, [0x23 ... 0x7e] = 1, [0x80 ... 0xff] = 1
};

/* Operator choices when the caller passes none. */
static const struct cachepol_opts default_opts = {
	0, 0, 86400, 10, 0, NULL, 0
};

static int		 parse_delta(const char *, size_t, int64_t *);
static void		 cc_keep_min(int64_t *, int64_t);
static void		 cc_directive(struct cachepol_cc *, const char *,
			    size_t, int, const char *, size_t, int);
static void		 cc_field(const char *, size_t,
			    struct cachepol_cc *);
static void		 cc_init(struct cachepol_cc *);
static int		 tcc_member(const struct sf_member *, void *);
static int		 tcc_field(const struct http_header *, size_t,
			    const char *, struct cachepol_cc *);
enum status_kind {
	STATUS_STORABLE,	/* understood, stored by the usual rules */
	STATUS_NEVER,		/* understood (or invalid), never stored */
	STATUS_UNKNOWN		/* not understood: explicit freshness only */
};

static enum status_kind	 status_kind(int);
static const char	*storable_refusal(const struct cachepol_req *,
			    const struct http_response *,
			    const struct cachepol_opts *, struct cachepol_cc *);
static void		 storable_meta(const struct http_response *,
			    const struct cachepol_cc *, int64_t, int64_t,
			    struct cache_meta *);

/*
 * delta-seconds = 1*DIGIT (RFC 9111 1.2.2), capped at 2^31.  Returns 0
 * with the value in *out, or -1.
 */
static int
parse_delta(const char *s, size_t n, int64_t *out)
{
	int64_t	 v = 0;
	size_t	 i;

	if (n == 0)
		return -1;
	for (i = 0; i < n; i++) {
		if (!IS_DIGIT(s[i]))
			return -1;
		if (v < DELTA_MAX)
			v = v * 10 + (s[i] - '0');
	}
	*out = v < DELTA_MAX ? v : DELTA_MAX;
	return 0;
}

/*
 * A numeric directive seen once more: keep the smallest value, the most
 * conservative reading of a duplicate (RFC 9111 4.2.1).
 */
static void
cc_keep_min(int64_t *slot, int64_t v)
{
	if (*slot < 0 || v < *slot)
		*slot = v;
}

/*
 * One directive: name[0..nl), has_arg with the argument (quotes removed,
 * escapes left in place, so that a number with a backslash is invalid),
 * bad when the element had junk after it.  Boolean directives take
 * effect even when malformed: honouring a damaged no-store is the safe
 * side.  Numeric ones need a clean delta-seconds argument.
 */
static void
cc_directive(struct cachepol_cc *cc, const char *name, size_t nl, int has_arg,
    const char *arg, size_t al, int bad)
{
	int64_t	 v = 0;
	int	 num_ok;

	num_ok = has_arg && !bad && parse_delta(arg, al, &v) == 0;

	switch (nl) {
	case 6:
		if (ci_eq(name, nl, "public"))
			cc->public_ = 1;
		break;
	case 7:
		if (ci_eq(name, nl, "max-age")) {
			if (num_ok)
				cc_keep_min(&cc->max_age, v);
			else
				cc->bad_max_age = 1;
		} else if (ci_eq(name, nl, "private"))
			cc->private_ = 1;
		break;
	case 8:
		if (ci_eq(name, nl, "no-store"))
			cc->no_store = 1;
		else if (ci_eq(name, nl, "no-cache"))
			cc->no_cache = 1;
		else if (ci_eq(name, nl, "s-maxage")) {
			if (num_ok)
				cc_keep_min(&cc->s_maxage, v);
			else
				cc->bad_max_age = 1;
		}
		break;
	case 9:
		if (ci_eq(name, nl, "max-stale")) {
			/* Bare max-stale: any staleness. */
			if (!has_arg && !bad)
				cc_keep_min(&cc->max_stale, INT64_MAX);
			else if (num_ok)
				cc_keep_min(&cc->max_stale, v);
		} else if (ci_eq(name, nl, "min-fresh")) {
			if (num_ok)
				cc_keep_min(&cc->min_fresh, v);
		}
		break;
	case 14:
		if (ci_eq(name, nl, "only-if-cached"))
			cc->only_if_cached = 1;
		else if (ci_eq(name, nl, "stale-if-error")) {
			if (num_ok)
				cc_keep_min(&cc->sie, v);
		}
		break;
	case 15:
		if (ci_eq(name, nl, "must-revalidate"))
			cc->must_revalidate = 1;
		else if (ci_eq(name, nl, "must-understand"))
			cc->must_understand = 1;
		break;
	case 16:
		if (ci_eq(name, nl, "proxy-revalidate"))
			cc->proxy_revalidate = 1;
		break;
	case 22:
		if (ci_eq(name, nl, "stale-while-revalidate")) {
			if (num_ok)
				cc_keep_min(&cc->swr, v);
		}
		break;
	}
}

/*
 * Cache-Control = #cache-directive, cache-directive = token [ "="
 * ( token / quoted-string ) ] (common/http.h reads the elements).  No
 * whitespace is allowed around "=" by the grammar; an element with
 * anything after its argument (a ";" too) is bad.
 */
static void
cc_field(const char *v, size_t n, struct cachepol_cc *cc)
{
	struct http_elem	 e;
	size_t			 pos = 0;

	while (http_elem_next(v, n, &pos, &e))
		if (e.name_len > 0)
			cc_directive(cc, e.name, e.name_len, e.has_arg, e.arg,
			    e.arg_len, e.bad || e.params != NULL);
}

/* No directive: numbers -1, flags 0. */
static void
cc_init(struct cachepol_cc *cc)
{
	memset(cc, 0, sizeof(*cc));
	cc->max_age = -1;
	cc->s_maxage = -1;
	cc->max_stale = -1;
	cc->min_fresh = -1;
	cc->swr = -1;
	cc->sie = -1;
}

void
cachepol_cc(const struct http_header *h, size_t n, struct cachepol_cc *cc)
{
	size_t	 i;

	cc_init(cc);
	for (i = 0; i < n; i++)
		if (name_is(&h[i], "cache-control", 13))
			cc_field(h[i].value, h[i].value_len, cc);
}

/* A targeted field being read: its directives, and what decides at the end. */
struct tcc {
	struct cachepol_cc	 cc;
	unsigned		 bad_ma:1;	/* the last max-age was no delta */
	unsigned		 bad_sma:1;	/* likewise s-maxage */
	size_t			 members;
};

/*
 * One member of a targeted field (RFC 9213 2.2): each directive's slot
 * takes the member's value, so that the last of a key counts, as in an
 * RFC 8941 Dictionary.  Unknown keys are ignored.
 */
static int
tcc_member(const struct sf_member *m, void *arg)
{
	struct tcc		*t = arg;
	struct cachepol_cc	*cc = &t->cc;
	int64_t			 v = -1;
	int			 on, num;

	t->members++;
	on = m->type != SF_BOOL || m->value != 0;
	num = m->type == SF_INT && m->value >= 0;
	if (num)
		v = m->value < DELTA_MAX ? m->value : DELTA_MAX;
	if (strcmp(m->key, "max-age") == 0) {
		cc->max_age = v;
		t->bad_ma = !num;
	} else if (strcmp(m->key, "s-maxage") == 0) {
		cc->s_maxage = v;
		t->bad_sma = !num;
	} else if (strcmp(m->key, "stale-while-revalidate") == 0)
		cc->swr = v;
	else if (strcmp(m->key, "stale-if-error") == 0)
		cc->sie = v;
	else if (strcmp(m->key, "no-store") == 0)
		cc->no_store = on;
	else if (strcmp(m->key, "no-cache") == 0)
		cc->no_cache = on;
	else if (strcmp(m->key, "private") == 0)
		cc->private_ = on;
	else if (strcmp(m->key, "public") == 0)
		cc->public_ = on;
	else if (strcmp(m->key, "must-revalidate") == 0)
		cc->must_revalidate = on;
	else if (strcmp(m->key, "proxy-revalidate") == 0)
		cc->proxy_revalidate = on;
	else if (strcmp(m->key, "must-understand") == 0)
		cc->must_understand = on;
	return 0;
}

/*
 * The targeted field name (lower case) among h[0..n) into *cc: 1 when it
 * is present, valid and not empty, else 0 (*cc then undefined).
 */
static int
tcc_field(const struct http_header *h, size_t n, const char *name,
    struct cachepol_cc *cc)
{
	struct sf_seg	 segs[TARGETED_LINES];
	struct tcc	 t;
	size_t		 i, ns = 0, len = strlen(name);

	for (i = 0; i < n; i++) {
		if (!name_is(&h[i], name, len) || h[i].value_len == 0)
			continue;
		if (ns == TARGETED_LINES)
			return 0;
		segs[ns].p = h[i].value;
		segs[ns].n = h[i].value_len;
		ns++;
	}
	if (ns == 0)
		return 0;
	memset(&t, 0, sizeof(t));
	cc_init(&t.cc);
	if (sfdict_parse(segs, ns, tcc_member, &t) != 0 || t.members == 0)
		return 0;
	t.cc.bad_max_age = t.bad_ma || t.bad_sma;
	t.cc.targeted = 1;
	*cc = t.cc;
	return 1;
}

void
cachepol_cc_response(const struct http_header *h, size_t n,
    const struct cachepol_opts *o, struct cachepol_cc *cc)
{
	size_t	 j;

	for (j = 0; o != NULL && o->targeted != NULL && j < o->ntargeted; j++)
		if (tcc_field(h, n, o->targeted[j], cc))
			return;
	cachepol_cc(h, n, cc);
}

int
cachepol_targeted_name(const char *const *names, size_t n, const char *name,
    size_t len)
{
	size_t	 j;

	for (j = 0; names != NULL && j < n; j++)
		if (ci_eq(name, len, names[j]))
			return 1;
	return 0;
}

/* The first field named l among h[0..n), and in *count how many there are. */
const struct http_header *
cachepol_hfind(const struct http_header *h, size_t n, const char *l, size_t ln,
    size_t *count)
{
	const struct http_header	*f = NULL;
	size_t				 i, c = 0;

	for (i = 0; i < n; i++)
		if (name_is(&h[i], l, ln)) {
			if (c++ == 0)
				f = &h[i];
		}
	if (count != NULL)
		*count = c;
	return f;
}

void
cachepol_request(const struct http_request *rq, struct cachepol_req *cr)
{
	const struct http_header	*h;
	size_t				 i;
	int				 pragma = 0, has_cc = 0;

	memset(cr, 0, sizeof(*cr));
	cachepol_cc(rq->headers, rq->nheaders, &cr->cc);
	cr->cacheable = (rq->method == HTTP_M_GET ||
	    rq->method == HTTP_M_HEAD) && !rq->chunked &&
	    rq->content_length <= 0 && !rq->upgrade;

	for (i = 0; i < rq->nheaders; i++) {
		h = &rq->headers[i];
		switch (h->name_len) {
		case 5:
			if (ci_eq(h->name, 5, "range"))
				cr->range = 1;
			break;
		case 6:
			if (ci_eq(h->name, 6, "pragma") &&
			    http_list_has(h->value, h->value_len, "no-cache"))
				pragma = 1;
			break;
		case 8:
			if (ci_eq(h->name, 8, "if-match") ||
			    ci_eq(h->name, 8, "if-range"))
				cr->other_precond = 1;
			break;
		case 13:
			if (ci_eq(h->name, 13, "authorization"))
				cr->auth = 1;
			else if (ci_eq(h->name, 13, "cache-control"))
				has_cc = 1;
			else if (ci_eq(h->name, 13, "if-none-match"))
				cr->conditional = 1;
			break;
		case 17:
			if (ci_eq(h->name, 17, "if-modified-since"))
				cr->conditional = 1;
			break;
		case 19:
			if (ci_eq(h->name, 19, "if-unmodified-since"))
				cr->other_precond = 1;
			break;
		}
	}
	/* Pragma only counts without Cache-Control (RFC 9111 5.4). */
	cr->no_cache = cr->cc.no_cache || cr->cc.max_age == 0 ||
	    (pragma && !has_cc);
	cr->no_store = cr->cc.no_store;
}

/*
 * What this cache makes of a status code (RFC 9111 3): STATUS_STORABLE
 * for the final codes whose meaning it knows and that describe the
 * resource rather than the request that got them; STATUS_NEVER for
 * those it knows not to store: 1xx, 206 (only whole responses are
 * stored), 304 (it freshens, 4.3.4), 407, 408, 411-413, 416, 417, 421,
 * 426, 428, 429, 431 (they answer something about one request or
 * connection), and codes outside 100..599; STATUS_UNKNOWN for the other
 * final codes (299, 499, 599...), storable only with explicit freshness
 * and never with must-understand (5.2.2.3).
 */
static enum status_kind
status_kind(int s)
{
	switch (s) {
	case 200: case 201: case 202: case 203: case 204: case 205:
	case 300: case 301: case 302: case 303: case 307: case 308:
	case 400: case 401: case 403: case 404: case 405: case 406:
	case 409: case 410: case 414: case 415: case 422: case 451:
	case 500: case 501: case 502: case 503: case 504: case 505:
		return STATUS_STORABLE;
	case 206: case 304: case 407: case 408: case 411: case 412:
	case 413: case 416: case 417: case 421: case 426: case 428:
	case 429: case 431:
		return STATUS_NEVER;
	}
	return s >= 200 && s <= 599 ? STATUS_UNKNOWN : STATUS_NEVER;
}

/*
 * entity-tag = [ weak ] opaque-tag, weak = %s"W/", opaque-tag = DQUOTE
 * *etagc DQUOTE (RFC 9110 8.8.3), at s[0..n).  Returns 0 with the bytes
 * used in *used, the weakness and the opaque-tag (quotes included), or
 * -1.
 */
int
cachepol_etag_parse(const char *s, size_t n, size_t *used, int *weak,
    const char **op, size_t *ol)
{
	size_t	 i = 0, st;

	*weak = 0;
	if (n >= 2 && s[0] == 'W' && s[1] == '/') {
		*weak = 1;
		i = 2;
	}
	if (i >= n || s[i] != '"')
		return -1;
	st = i++;
	while (i < n && etagc_tab[(unsigned char)s[i]])
		i++;
	if (i >= n || s[i] != '"')
		return -1;
	i++;
	*op = s + st;
	*ol = i - st;
	*used = i;
	return 0;
}

/*
 * Why a response may not be stored, whatever its lifetime (RFC 9111 3):
 * the request, the status, Cache-Control (parsed into *cc on the way),
 * Authorization (3.5), Set-Cookie unless the opts allow it, Vary: *.
 * Returns the reason for Cache-Status, or NULL.
 */
static const char *
storable_refusal(const struct cachepol_req *cr, const struct http_response *rs,
    const struct cachepol_opts *o, struct cachepol_cc *cc)
{
	const struct http_header	*h = rs->headers;
	const char			*e;
	size_t				 n = rs->nheaders, i, pos, el;
	enum status_kind		 kind;

	if (!cr->cacheable)
		return "method";
	if (cr->no_store)
		return "no-store";
	if ((kind = status_kind(rs->status)) == STATUS_NEVER)
		return "status";
	cachepol_cc_response(h, n, o, cc);
	/*
	 * must-understand: stored only by a cache that understands the
	 * status, which then ignores no-store (RFC 9111 5.2.2.3).
	 */
	if (cc->must_understand && kind != STATUS_STORABLE)
		return "status";
	if (cc->no_store && !cc->must_understand)
		return "no-store";
	/* Unknown statuses: explicit freshness only (3, 4.2.1). */
	if (kind == STATUS_UNKNOWN && cc->s_maxage < 0 && cc->max_age < 0 &&
	    (cc->targeted || cachepol_hfind(h, n, "expires", 7, NULL) == NULL))
		return "no-lifetime";
	if (cc->private_)
		return "private";
	/* RFC 9111 3.5. */
	if (cr->auth && !cc->public_ && cc->s_maxage < 0 &&
	    !cc->must_revalidate)
		return "authorization";
	if (!o->store_set_cookie &&
	    cachepol_hfind(h, n, "set-cookie", 10, NULL) != NULL)
		return "set-cookie";
	for (i = 0; i < n; i++) {
		if (!name_is(&h[i], "vary", 4))
			continue;
		pos = 0;
		while (http_list_next(h[i].value, h[i].value_len, &pos, &e,
		    &el))
			if (el == 1 && e[0] == '*')
				return "vary-star";
	}
	return NULL;
}

/*
 * The metadata of a storable response but its lifetime: times, status,
 * Date, Age, Last-Modified, the ETag, the stale-* windows and the flags
 * its Cache-Control (cc) sets.
 */
static void
storable_meta(const struct http_response *rs, const struct cachepol_cc *cc,
    int64_t request_time, int64_t response_time, struct cache_meta *nm)
{
	const struct http_header	*h = rs->headers, *f;
	const char			*op;
	size_t				 n = rs->nheaders, el, cnt, used, pos;
	int64_t				 date, lm, age;
	int				 weak;

	memset(nm, 0, sizeof(*nm));
	nm->request_time = request_time;
	nm->response_time = response_time;
	nm->status = (uint16_t)rs->status;
	nm->swr = cc->swr;
	nm->sie = cc->sie;

	f = cachepol_hfind(h, n, "date", 4, NULL);
	date = f != NULL ? cachepol_date(f->value, f->value_len) : -1;
	nm->date = date >= 0 ? date : response_time;

	/*
	 * Age is a singleton, but a list ("7200, 0") counts by its first
	 * member (RFC 9111 5.1); an invalid one is no Age.
	 */
	f = cachepol_hfind(h, n, "age", 3, NULL);
	pos = 0;
	if (f == NULL || !http_list_next(f->value, f->value_len, &pos, &op,
	    &el) || parse_delta(op, el, &age) == -1)
		age = 0;
	nm->age = age;

	f = cachepol_hfind(h, n, "last-modified", 13, NULL);
	lm = f != NULL ? cachepol_date(f->value, f->value_len) : -1;
	nm->last_modified = lm;

	/* One syntactically valid ETag that fits, else none. */
	f = cachepol_hfind(h, n, "etag", 4, &cnt);
	if (f != NULL && cnt == 1 && f->value_len <= sizeof(nm->etag) &&
	    cachepol_etag_parse(f->value, f->value_len, &used, &weak, &op,
	    &el) == 0 && used == f->value_len) {
		memcpy(nm->etag, f->value, f->value_len);
		nm->etag_len = (uint16_t)f->value_len;
	}

	if (cc->no_cache)
		nm->flags |= CACHE_F_NO_CACHE;
	if (cc->must_revalidate || cc->proxy_revalidate || cc->s_maxage >= 0)
		nm->flags |= CACHE_F_MUST_REVAL;
	if (cc->public_ || cc->s_maxage >= 0 || cc->must_revalidate)
		nm->flags |= CACHE_F_AUTH_OK;
}

int
cachepol_storable(const struct cachepol_req *cr, const struct http_response *rs,
    const struct cachepol_opts *o, int64_t request_time, int64_t response_time,
    struct cache_meta *m, const char **why)
{
	struct cachepol_cc	 cc;
	struct cache_meta	 nm;

	if (o == NULL)
		o = &default_opts;
	if ((*why = storable_refusal(cr, rs, o, &cc)) != NULL)
		return 0;
	storable_meta(rs, &cc, request_time, response_time, &nm);
	if (!cachepol_lifetime(rs, &cc, o, &nm)) {
		*why = "no-lifetime";
		return 0;
	}
	*m = nm;
	return 1;
}

int
cachepol_invalidates(enum http_method method, int status)
{
	switch (method) {
	case HTTP_M_GET:
	case HTTP_M_HEAD:
	case HTTP_M_OPTIONS:
	case HTTP_M_TRACE:
		return 0;
	default:
		break;
	}
	return status >= 200 && status < 400;
}
