/*
 * cachepol_key.c: which stored response a request may get.  Cache keys
 * (host without the default port, then the target as sent, optionally
 * scoped and with the scheme), the keys that Location and
 * Content-Location name for invalidation (RFC 9111 4.4, RFC 3986 5.2),
 * and Vary: the blob of request values stored with a response and the
 * match of a later request against it (RFC 9111 4.1).  Pure functions,
 * as in cachepol.c.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <stdint.h>
#include <string.h>

#include "worker/cachepol.h"
#include "common/http.h"
#include "common/strbuf.h"
#include "worker/cachepol_int.h"

/* Most distinct field names a Vary blob holds; more are not stored. */
#define VARY_MAX_NAMES		32

/*
 * Where the normalised value of a Vary field goes: written to out, or
 * compared with cmp[0..cap) (out NULL).
 */
struct vsink {
	char		*out;
	const char	*cmp;
	size_t		 cap;
	size_t		 len;
	int		 bad;
};

struct vname {
	const char	*p;
	size_t		 len;
};

static size_t		 strip_default_port(const char *, size_t,
			    unsigned);
static size_t		 remove_dot_segments(char *, size_t);
static void		 vsink_put(struct vsink *, const char *, size_t);
static int		 vary_value(const struct http_request *, const char *,
			    size_t, struct vsink *);
static int		 vary_names(const struct http_response *,
			    struct vname *, size_t *);
static int		 is_alpha(char);

/*
 * The length of authority a[0..n) without a port equal to defport, or
 * an empty port (RFC 3986 6.2.3: both mean the default).  Leading zeros
 * do not change the port.  An IPv6 literal keeps its colons.
 */
static size_t
strip_default_port(const char *a, size_t n, unsigned defport)
{
	size_t		 i = n, j;
	unsigned	 port = 0;

	while (i > 0 && IS_DIGIT(a[i - 1]))
		i--;
	if (i == 0 || a[i - 1] != ':')
		return n;
	if (a[0] == '[' && (i < 2 || a[i - 2] != ']'))
		return n;
	for (j = i; j < n && a[j] == '0'; j++)
		continue;
	if (n - j > 5)
		return n;
	for (; j < n; j++)
		port = port * 10 + (unsigned)(a[j] - '0');
	if (i < n && port != defport)
		return n;
	return i - 1;
}

/*
 * RFC 3986 5.2.4 remove_dot_segments on p[0..n), in place: the output
 * never runs ahead of the input, so one buffer does.  Returns the new
 * length.
 */
static size_t
remove_dot_segments(char *p, size_t n)
{
	size_t	 i = 0, o = 0, r;

	while (i < n) {
		r = n - i;
		if (r >= 3 && memcmp(p + i, "../", 3) == 0)
			i += 3;
		else if (r >= 2 && memcmp(p + i, "./", 2) == 0)
			i += 2;
		else if (r >= 3 && memcmp(p + i, "/./", 3) == 0)
			i += 2;
		else if (r == 2 && memcmp(p + i, "/.", 2) == 0) {
			p[i + 1] = '/';
			i += 1;
		} else if ((r >= 4 && memcmp(p + i, "/../", 4) == 0) ||
		    (r == 3 && memcmp(p + i, "/..", 3) == 0)) {
			/* Replace the prefix with "/", drop a segment. */
			if (r == 3)
				p[i + 2] = '/';
			i += r == 3 ? 2 : 3;
			while (o > 0 && p[o - 1] != '/')
				o--;
			if (o > 0)
				o--;
		} else if ((r == 1 && p[i] == '.') ||
		    (r == 2 && p[i] == '.' && p[i + 1] == '.'))
			i = n;
		else {
			do
				p[o++] = p[i++];
			while (i < n && p[i] != '/');
		}
	}
	return o;
}

/* Host (without the default port defport) and target of rq, into w. */
static void
key_url(struct strbuf *w, const struct http_request *rq, const char *fallback_host,
    unsigned defport)
{
	const char	*host = rq->host;
	size_t		 hl = rq->host_len;

	if (host == NULL || hl == 0) {
		if (fallback_host == NULL) {
			w->over = 1;
			return;
		}
		host = fallback_host;
		hl = strlen(fallback_host);
	}
	hl = strip_default_port(host, hl, defport);
	if (hl == 0 || rq->path == NULL || rq->path_len == 0) {
		w->over = 1;
		return;
	}
	strbuf_lower(w, host, hl);
	/*
	 * In origin-form this is the target as sent; in absolute-form the
	 * path and query after the authority, with "/" for an empty path.
	 */
	strbuf_add(w, rq->path, rq->path_len);
	if (rq->query != NULL) {
		strbuf_add(w, "?", 1);
		strbuf_add(w, rq->query, rq->query_len);
	}
}

int
cachepol_key(const struct http_request *rq, const char *fallback_host,
    char *out, size_t cap)
{
	struct strbuf	 w;

	strbuf_init(&w, out, cap);
	key_url(&w, rq, fallback_host, 80);
	return strbuf_result(&w);
}

int
cachepol_key_scoped(const struct http_request *rq, const char *fallback_host,
    const char *scope, int https, char *out, size_t cap)
{
	struct strbuf	 w;

	strbuf_init(&w, out, cap);
	if (scope != NULL && *scope != '\0') {
		strbuf_add(&w, scope, strlen(scope));
		strbuf_add(&w, " ", 1);
	}
	if (https)
		strbuf_add(&w, "https://", 8);
	else
		strbuf_add(&w, "http://", 7);
	key_url(&w, rq, fallback_host, https ? 443 : 80);
	return strbuf_result(&w);
}

static int
is_alpha(char c)
{
	return (unsigned char)((c | 0x20) - 'a') < 26;
}

int
cachepol_key_of_uri(const char *uri, size_t ulen, const struct http_request *rq,
    const char *fallback_host, char *out, size_t cap)
{
	struct strbuf	 w;
	const char	*host = rq->host, *a = NULL, *ae, *q, *ue, *bp;
	size_t		 hl = rq->host_len, al, i, ps, plen, bl;
	unsigned	 defport = 80;

	strbuf_init(&w, out, cap);
	if (uri == NULL)
		return -1;
	for (i = 0; i < ulen; i++)
		if ((unsigned char)uri[i] <= 0x20 || uri[i] == 0x7f)
			return -1;
	/* A fragment is never part of a key. */
	if ((q = memchr(uri, '#', ulen)) != NULL)
		ulen = (size_t)(q - uri);
	/* An empty reference is the request's own URI (RFC 3986 5.2.2). */
	if (ulen == 0)
		return cachepol_key(rq, fallback_host, out, cap);
	ue = uri + ulen;

	if (host == NULL || hl == 0) {
		if (fallback_host == NULL)
			return -1;
		host = fallback_host;
		hl = strlen(fallback_host);
	}
	hl = strip_default_port(host, hl, 80);
	if (hl == 0)
		return -1;

	/* scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) ":" */
	i = 0;
	if (is_alpha(uri[0]))
		for (i = 1; i < ulen && (is_alpha(uri[i]) || IS_DIGIT(uri[i]) ||
		    uri[i] == '+' || uri[i] == '-' || uri[i] == '.'); i++)
			continue;
	if (i > 0 && i < ulen && uri[i] == ':') {
		if (ci_eq(uri, i, "http"))
			defport = 80;
		else if (ci_eq(uri, i, "https"))
			defport = 443;
		else
			return -1;
		if (ulen - i < 3 || uri[i + 1] != '/' || uri[i + 2] != '/')
			return -1;
		a = uri + i + 3;
	} else if (ulen >= 2 && uri[0] == '/' && uri[1] == '/')
		a = uri + 2;	/* network-path reference */

	strbuf_lower(&w, host, hl);
	ps = w.len;
	if (a != NULL) {
		/* Same host only: another host's keys are not ours to drop. */
		for (ae = a; ae < ue && *ae != '/' && *ae != '?'; ae++)
			if (*ae == '@')
				return -1;
		al = strip_default_port(a, (size_t)(ae - a), defport);
		if (al == 0 || !ci_eq2(a, al, host, hl))
			return -1;
		uri = ae;
		ulen = (size_t)(ue - ae);
	} else if (uri[0] != '/') {
		/*
		 * Relative: merged with the request's path (RFC 3986 5.2.3),
		 * all of it for a query alone, else up to its last "/".
		 */
		bp = rq->path;
		bl = rq->path_len;
		if (bp == NULL || bl == 0 || bp[0] != '/')
			return -1;
		if (uri[0] != '?')
			while (bl > 0 && bp[bl - 1] != '/')
				bl--;
		strbuf_add(&w, bp, bl);
	}
	q = memchr(uri, '?', ulen);
	plen = q != NULL ? (size_t)(q - uri) : ulen;
	strbuf_add(&w, uri, plen);
	if (w.over)
		return -1;
	w.len = ps + remove_dot_segments(out + ps, w.len - ps);
	if (w.len == ps || out[ps] != '/') {
		/* An empty path is "/"; so is what dots left rootless. */
		if (w.len == ps)
			strbuf_add(&w, "/", 1);
		else
			return -1;
	}
	strbuf_add(&w, uri + plen, ulen - plen);
	return strbuf_result(&w);
}

static void
vsink_put(struct vsink *s, const char *p, size_t n)
{
	if (s->bad)
		return;
	if (n > s->cap - s->len) {
		s->bad = 1;
		return;
	}
	if (s->out != NULL)
		memcpy(s->out + s->len, p, n);
	else if (memcmp(s->cmp + s->len, p, n) != 0) {
		s->bad = 1;
		return;
	}
	s->len += n;
}

/*
 * The normalised value of the request's fields named name[0..nl): the
 * list elements of all of them in order, OWS around them dropped, empty
 * ones skipped, joined with ", ".  Returns whether any such field is
 * present.
 */
static int
vary_value(const struct http_request *rq, const char *name, size_t nl,
    struct vsink *s)
{
	const struct http_header	*h;
	const char			*e;
	size_t				 i, pos, el;
	int				 present = 0, first = 1;

	for (i = 0; i < rq->nheaders; i++) {
		h = &rq->headers[i];
		if (!ci_eq2(h->name, h->name_len, name, nl))
			continue;
		present = 1;
		pos = 0;
		while (http_list_next(h->value, h->value_len, &pos, &e, &el)) {
			if (!first)
				vsink_put(s, ", ", 2);
			vsink_put(s, e, el);
			first = 0;
		}
	}
	return present;
}

/*
 * The field names of the response's Vary fields, lowercase order
 * without duplicates, into names[0..*count).  -1 for "*", a name that is
 * not a token or longer than 255 bytes, or too many names.
 */
static int
vary_names(const struct http_response *rs, struct vname *names, size_t *count)
{
	const struct http_header	*h;
	const char			*e;
	size_t				 i, j, k, pos, el, nn = 0, ml;
	int				 c = 1;

	for (i = 0; i < rs->nheaders; i++) {
		h = &rs->headers[i];
		if (!name_is(h, "vary", 4))
			continue;
		pos = 0;
		while (http_list_next(h->value, h->value_len, &pos, &e, &el)) {
			if (el == 1 && e[0] == '*')
				return -1;
			if (el > 255)
				return -1;
			for (j = 0; j < el; j++)
				if (!http_tchar[(unsigned char)e[j]])
					return -1;
			/* Insertion point, comparing lowercased bytes. */
			for (j = 0; j < nn; j++) {
				ml = el < names[j].len ? el : names[j].len;
				c = 0;
				for (k = 0; k < ml && c == 0; k++)
					c = lower((unsigned char)e[k]) -
					    lower((unsigned char)names[j].p[k]);
				if (c == 0)
					c = el < names[j].len ? -1 :
					    el > names[j].len;
				if (c <= 0)
					break;
			}
			if (j < nn && c == 0)
				continue;
			if (nn == VARY_MAX_NAMES)
				return -1;
			memmove(&names[j + 1], &names[j],
			    (nn - j) * sizeof(names[0]));
			names[j].p = e;
			names[j].len = el;
			nn++;
		}
	}
	*count = nn;
	return 0;
}

/*
 * Blob layout, one record per name in order:
 *	u8 name length | name (lowercase) | u8 present (0/1) |
 *	u16 value length (big-endian) | normalised value
 * Lengths make it binary-safe and unambiguous whatever the bytes.
 */
int
cachepol_vary_blob(const struct http_response *rs,
    const struct http_request *rq, char *out, size_t cap)
{
	struct vname	 names[VARY_MAX_NAMES];
	struct strbuf	 w;
	struct vsink	 s;
	size_t		 nn, i, hdr;
	unsigned char	 b[3];

	strbuf_init(&w, out, cap);
	if (vary_names(rs, names, &nn) == -1)
		return -1;
	for (i = 0; i < nn; i++) {
		b[0] = (unsigned char)names[i].len;
		strbuf_add(&w, (const char *)b, 1);
		strbuf_lower(&w, names[i].p, names[i].len);
		hdr = w.len;
		strbuf_add(&w, "\0\0\0", 3);
		if (w.over)
			return -1;
		s.out = out + w.len;
		s.cmp = NULL;
		s.cap = w.cap - w.len;
		if (s.cap > 0xffff)
			s.cap = 0xffff;
		s.len = 0;
		s.bad = 0;
		out[hdr] = (char)vary_value(rq, names[i].p, names[i].len, &s);
		if (s.bad)
			return -1;
		out[hdr + 1] = (char)(s.len >> 8);
		out[hdr + 2] = (char)(s.len & 0xff);
		w.len += s.len;
	}
	return strbuf_result(&w);
}

static const struct http_request *
pick_same(const char *name, size_t nl, void *arg)
{
	(void)name;
	(void)nl;
	return arg;
}

int
cachepol_vary_match(const char *blob, size_t len, const struct http_request *rq)
{
	return cachepol_vary_match_by(blob, len, pick_same, (void *)(uintptr_t)rq);
}

int
cachepol_vary_match_by(const char *blob, size_t len,
    const struct http_request *(*pick)(const char *, size_t, void *), void *arg)
{
	const unsigned char	*b = (const unsigned char *)blob;
	const struct http_request *rq;
	const char		*name;
	struct vsink		 s;
	size_t			 i = 0, nl, vl;
	int			 present;

	while (i < len) {
		nl = b[i++];
		if (nl == 0 || nl > len - i)
			return 0;
		name = blob + i;
		i += nl;
		if (len - i < 3)
			return 0;
		present = b[i];
		vl = (size_t)b[i + 1] << 8 | b[i + 2];
		i += 3;
		if (present > 1 || vl > len - i || (!present && vl != 0))
			return 0;
		s.out = NULL;
		s.cmp = blob + i;
		s.cap = vl;
		s.len = 0;
		s.bad = 0;
		if ((rq = pick(name, nl, arg)) == NULL ||
		    vary_value(rq, name, nl, &s) != present || s.bad ||
		    s.len != vl)
			return 0;
		i += vl;
	}
	return 1;
}
