/*
 * cachepol_head.c: what a hit sends.  The head stored with a response
 * (end-to-end fields only, RFC 9111 3.1), a stored head freshened by a
 * 304 (4.3.4), the client's preconditions against the stored response
 * (If-None-Match, If-Modified-Since: RFC 9110 13.2.2) and single byte
 * ranges with If-Range (RFC 9110 14, 13.1.5).  Pure functions, as in
 * cachepol.c.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <stdint.h>
#include <string.h>

#include "common/cache.h"
#include "worker/cachepol.h"
#include "common/http.h"
#include "common/strbuf.h"
#include "worker/cachepol_int.h"

/*
 * RFC 9110 8.8.2.2: an intermediate cache may take a Last-Modified date
 * as a strong validator only when it is this many seconds before Date.
 */
#define LM_STRONG_GAP		60

static int		 stored_etag(const struct cache_meta *, int *,
			    const char **, size_t *);
static int		 inm_matches(const char *, size_t,
			    const struct cache_meta *);
static int		 if_range_true(const char *, size_t,
			    const struct cache_meta *);
static int		 field_bytes_ok(const struct http_header *);
static int		 stored_excluded(const struct http_response *,
			    const struct http_header *, int);
static int		 merge_excluded(const struct http_response *,
			    const struct http_header *);

/* The stored ETag, parsed.  -1 if there is none or it is not valid. */
static int
stored_etag(const struct cache_meta *m, int *weak, const char **op, size_t *ol)
{
	size_t	 used, n = m->etag_len;

	if (n == 0 || n > sizeof(m->etag))
		return -1;
	if (cachepol_etag_parse(m->etag, n, &used, weak, op, ol) == -1 ||
	    used != n)
		return -1;
	return 0;
}

/* A field safe to write out as a line: token name, no CR, LF or NUL. */
static int
field_bytes_ok(const struct http_header *h)
{
	size_t	 i;

	if (h->name_len == 0 || (h->value_len > 0 && h->value == NULL))
		return 0;
	for (i = 0; i < h->name_len; i++)
		if (!http_tchar[(unsigned char)h->name[i]])
			return 0;
	for (i = 0; i < h->value_len; i++)
		if (!http_fvchar[(unsigned char)h->value[i]])
			return 0;
	return 1;
}

static int
stored_excluded(const struct http_response *rs, const struct http_header *h,
    int keep_set_cookie)
{
	const char	*n = h->name;
	size_t		 l = h->name_len;

	if (http_is_hop_by_hop(n, l) ||
	    http_conn_lists(rs->headers, rs->nheaders, n, l))
		return 1;
	switch (l) {
	case 3:
		return ci_eq(n, l, "age") || ci_eq(n, l, "via");
	case 10:
		/*
		 * Set-Cookie2 (RFC 2965, obsolete) is not Set-Cookie: it is
		 * kept and replayed like any other field.
		 */
		return !keep_set_cookie && ci_eq(n, l, "set-cookie");
	case 14:
		return ci_eq(n, l, "content-length");
	}
	return 0;
}

int
cachepol_stored_head(const struct http_response *rs, int keep_set_cookie,
    char *out, size_t cap)
{
	struct strbuf	 w;
	const char	*reason = rs->reason;
	size_t		 rl = rs->reason_len, i;
	char		 code[4];

	strbuf_init(&w, out, cap);
	if (rs->status < 100 || rs->status > 999)
		return -1;
	for (i = 0; i < rl; i++)
		if (!http_fvchar[(unsigned char)reason[i]])
			return -1;
	if (reason == NULL || rl == 0) {
		reason = http_status_reason(rs->status);
		rl = strlen(reason);
	}
	code[0] = (char)('0' + rs->status / 100);
	code[1] = (char)('0' + rs->status / 10 % 10);
	code[2] = (char)('0' + rs->status % 10);
	code[3] = ' ';
	strbuf_add(&w, "HTTP/1.1 ", 9);
	strbuf_add(&w, code, 4);
	strbuf_add(&w, reason, rl);
	strbuf_add(&w, "\r\n", 2);
	for (i = 0; i < rs->nheaders; i++) {
		if (stored_excluded(rs, &rs->headers[i], keep_set_cookie))
			continue;
		if (!field_bytes_ok(&rs->headers[i]))
			return -1;
		strbuf_field(&w, rs->headers[i].name, rs->headers[i].name_len,
		    rs->headers[i].value, rs->headers[i].value_len);
	}
	strbuf_add(&w, "\r\n", 2);
	return strbuf_result(&w);
}

/*
 * The 304's fields that do not replace stored ones: Content-Length (RFC
 * 9111 3.2: MUST NOT), Content-Range (3.2 lets it be skipped; only whole
 * responses are stored), framing and hop-by-hop fields, and what
 * cachepol_stored_head() never stores (Age, Via, Set-Cookie: a cookie
 * sent with a 304 is for the client that triggered the revalidation).
 */
static int
merge_excluded(const struct http_response *r, const struct http_header *h)
{
	const char	*n = h->name;
	size_t		 l = h->name_len;

	if (stored_excluded(r, h, 0))
		return 1;
	return l == 13 && ci_eq(n, l, "content-range");
}

int
cachepol_merge_304(const char *stored, size_t slen,
    const struct http_response *r304, char *out, size_t cap)
{
	struct strbuf	 w;
	const char	*nl, *line, *colon;
	size_t		 p, ll, i;
	int		 replaced;

	strbuf_init(&w, out, cap);
	if (stored == NULL)
		return -1;
	/* The status line, as stored. */
	nl = memchr(stored, '\n', slen);
	if (nl == NULL || nl == stored || nl[-1] != '\r')
		return -1;
	p = (size_t)(nl - stored) + 1;
	strbuf_add(&w, stored, p);
	for (;;) {
		if (p >= slen)
			return -1;
		line = stored + p;
		nl = memchr(line, '\n', slen - p);
		if (nl == NULL || nl == line || nl[-1] != '\r')
			return -1;
		ll = (size_t)(nl - line) - 1;
		p += ll + 2;
		if (ll == 0)
			break;
		colon = memchr(line, ':', ll);
		if (colon == NULL || colon == line)
			return -1;
		replaced = 0;
		for (i = 0; i < r304->nheaders && !replaced; i++)
			if (ci_eq2(line, (size_t)(colon - line),
			    r304->headers[i].name, r304->headers[i].name_len) &&
			    !merge_excluded(r304, &r304->headers[i]))
				replaced = 1;
		if (!replaced)
			strbuf_add(&w, line, ll + 2);
	}
	for (i = 0; i < r304->nheaders; i++) {
		if (merge_excluded(r304, &r304->headers[i]))
			continue;
		if (!field_bytes_ok(&r304->headers[i]))
			return -1;
		strbuf_field(&w, r304->headers[i].name,
		    r304->headers[i].name_len, r304->headers[i].value,
		    r304->headers[i].value_len);
	}
	strbuf_add(&w, "\r\n", 2);
	return strbuf_result(&w);
}

/*
 * Whether an If-None-Match value matches the stored response: "*" or a
 * weakly equal entity-tag in the list (RFC 9110 13.1.2, 8.8.3.2).  A
 * malformed list matches nothing.  Not read with http_list_next(): an
 * entity-tag is no quoted-string (a backslash in it escapes nothing), so
 * the list is walked tag by tag with cachepol_etag_parse().
 */
static int
inm_matches(const char *v, size_t n, const struct cache_meta *m)
{
	const char	*op, *sop = NULL;
	size_t		 i = 0, used, ol, sol = 0;
	int		 weak, sweak, have;

	have = stored_etag(m, &sweak, &sop, &sol) == 0;
	for (;;) {
		while (i < n && (IS_WS(v[i]) || v[i] == ','))
			i++;
		if (i == n)
			return 0;
		if (v[i] == '*') {
			i++;
			/* "*" stands alone; the stored response exists. */
			while (i < n && IS_WS(v[i]))
				i++;
			return i == n;
		}
		if (cachepol_etag_parse(v + i, n - i, &used, &weak, &op,
		    &ol) == -1)
			return 0;
		if (have && ol == sol && memcmp(op, sop, ol) == 0)
			return 1;
		i += used;
		while (i < n && IS_WS(v[i]))
			i++;
		if (i < n && v[i] != ',')
			return 0;
	}
}

int
cachepol_not_modified(const struct http_request *rq, const struct cache_meta *m)
{
	const struct http_header	*h;
	size_t				 i, cnt;
	int64_t				 ims, lm;
	int				 inm = 0;

	/* Other methods get 412, never 304: not for the cache to answer. */
	if (rq->method != HTTP_M_GET && rq->method != HTTP_M_HEAD)
		return 0;
	for (i = 0; i < rq->nheaders; i++) {
		h = &rq->headers[i];
		if (!name_is(h, "if-none-match", 13))
			continue;
		inm = 1;
		if (inm_matches(h->value, h->value_len, m))
			return 1;
	}
	if (inm)
		return 0;
	/* RFC 9110 13.1.3: one valid HTTP-date, else ignored. */
	h = cachepol_hfind(rq->headers, rq->nheaders, "if-modified-since", 17,
	    &cnt);
	if (h == NULL || cnt != 1)
		return 0;
	if ((ims = cachepol_date(h->value, h->value_len)) < 0)
		return 0;
	lm = m->last_modified >= 0 ? m->last_modified : m->date;
	return lm >= 0 && lm <= ims;
}

/*
 * If-Range (RFC 9110 13.1.5): an entity-tag matches by strong comparison
 * only; a date only when it is exactly the stored Last-Modified and that
 * is a strong validator, at least 60 s before the stored Date (8.8.2.2,
 * the rule for an intermediate cache).
 */
static int
if_range_true(const char *v, size_t n, const struct cache_meta *m)
{
	const char	*op, *sop;
	size_t		 used, ol, sol;
	int		 weak, sweak;
	int64_t		 d;

	if (n >= 1 && (v[0] == '"' || (n >= 2 && v[0] == 'W' && v[1] == '/'))) {
		if (cachepol_etag_parse(v, n, &used, &weak, &op, &ol) == -1 ||
		    used != n || weak)
			return 0;
		if (stored_etag(m, &sweak, &sop, &sol) == -1 || sweak)
			return 0;
		return ol == sol && memcmp(op, sop, ol) == 0;
	}
	if ((d = cachepol_date(v, n)) < 0 || m->last_modified < 0 ||
	    d != m->last_modified)
		return 0;
	return m->date >= 0 && m->last_modified <= m->date - LM_STRONG_GAP;
}

int
cachepol_range(const struct http_request *rq, const struct cache_meta *m,
    uint64_t len, uint64_t *first, uint64_t *last)
{
	const struct http_header	*h;
	const char			*v, *e;
	size_t				 n, cnt, pos, el, i, ne = 0;
	uint64_t			 a = 0, b = 0;
	int				 suffix = 0, has_b = 0, d;

	/* GET is the only method with ranges (RFC 9110 14.2). */
	if (rq->method != HTTP_M_GET)
		return 0;
	h = cachepol_hfind(rq->headers, rq->nheaders, "range", 5, &cnt);
	if (h == NULL || cnt != 1)
		return 0;
	v = h->value;
	n = h->value_len;
	if (n < 6 || !ci_eq(v, 6, "bytes="))
		return 0;

	pos = 6;
	while (http_list_next(v, n, &pos, &e, &el)) {
		if (++ne > 1)
			return 0;
		i = 0;
		if (e[0] == '-') {
			suffix = 1;
			i = 1;
		} else {
			for (d = 0; i < el && IS_DIGIT(e[i]); i++, d++)
				a = a > (UINT64_MAX - 9) / 10 ? UINT64_MAX :
				    a * 10 + (uint64_t)(e[i] - '0');
			if (d == 0 || i == el || e[i] != '-')
				return 0;
			i++;
		}
		for (d = 0; i < el && IS_DIGIT(e[i]); i++, d++)
			b = b > (UINT64_MAX - 9) / 10 ? UINT64_MAX :
			    b * 10 + (uint64_t)(e[i] - '0');
		if (i != el || (suffix && d == 0))
			return 0;
		has_b = d > 0;
	}
	if (ne == 0 || (!suffix && has_b && b < a))
		return 0;

	h = cachepol_hfind(rq->headers, rq->nheaders, "if-range", 8, &cnt);
	if (h != NULL &&
	    (cnt != 1 || !if_range_true(h->value, h->value_len, m)))
		return 0;

	if (len == 0)
		return 0;
	if (suffix) {
		if (b == 0)
			return -1;
		*first = b >= len ? 0 : len - b;
		*last = len - 1;
		return 1;
	}
	if (a >= len)
		return -1;
	*first = a;
	*last = has_b && b < len - 1 ? b : len - 1;
	return 1;
}

size_t
cachepol_head_drop(char *head, size_t len, const char *const *names,
    size_t n)
{
	const char	*nl, *colon;
	size_t		 p, w, ll;

	if (n == 0 || (nl = memchr(head, '\n', len)) == NULL)
		return len;
	/* The status line stays; then each field line, kept or not. */
	p = w = (size_t)(nl - head) + 1;
	while (p < len) {
		nl = memchr(head + p, '\n', len - p);
		ll = nl != NULL ? (size_t)(nl - (head + p)) + 1 : len - p;
		colon = memchr(head + p, ':', ll);
		if (colon == NULL || !cachepol_targeted_name(names, n, head + p,
		    (size_t)(colon - (head + p)))) {
			memmove(head + w, head + p, ll);
			w += ll;
		}
		p += ll;
	}
	return w;
}
