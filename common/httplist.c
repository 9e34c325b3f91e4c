/*
 * httplist.c: the one reader of HTTP field values made of lists (RFC 9110
 * 5.6.1 #list), for the parser (common/http.c), the caching rules
 * (worker/cachepol.c) and the forwarded-head building: list elements with
 * quoted-strings, an element's token, "=" argument and ";" parameters
 * (Cache-Control directives, transfer codings), the tokens of Connection,
 * and the single list of hop-by-hop fields.
 *
 * Nothing here allocates or copies: results point into the value given,
 * and every scan is bounded by the length given, never by a terminator.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <stdint.h>
#include <string.h>

#include "common/http.h"

#define IS_WS(c)	((c) == ' ' || (c) == '\t')

static int		 has_item(int (*)(const char *, size_t, size_t *,
			    const char **, size_t *), const char *, size_t,
			    const char *);
static size_t		 skip_quoted(const char *, size_t, size_t, int *);
static int		 sep_next(const char *, size_t, size_t *, char,
			    const char **, size_t *);

/*
 * s[i] is the opening DQUOTE of a quoted-string: the index just past its
 * closing DQUOTE, or n when it is not closed (*closed, if given, tells
 * which).  A backslash escapes the next byte (quoted-pair).
 */
static size_t
skip_quoted(const char *s, size_t n, size_t i, int *closed)
{
	for (i++; i < n; i++) {
		if (s[i] == '\\')
			i++;
		else if (s[i] == '"') {
			if (closed != NULL)
				*closed = 1;
			return i + 1;
		}
	}
	if (closed != NULL)
		*closed = 0;
	return n;
}

/*
 * The next element of v[0..n) separated by sep (',' for lists, ';' for
 * parameters), from *pos: OWS around it dropped, empty ones skipped, a
 * separator inside a quoted-string not one; an unclosed quoted-string
 * runs to the end of the value.
 */
static int
sep_next(const char *v, size_t n, size_t *pos, char sep, const char **ep,
    size_t *elen)
{
	size_t	 i = *pos, s, e;

	for (;;) {
		while (i < n && (IS_WS(v[i]) || v[i] == sep))
			i++;
		if (i >= n) {
			*pos = n;
			return 0;
		}
		s = i;
		while (i < n && v[i] != sep) {
			if (v[i] == '"')
				i = skip_quoted(v, n, i, NULL);
			else
				i++;
		}
		e = i;
		while (e > s && IS_WS(v[e - 1]))
			e--;
		if (e > s)
			break;
	}
	*pos = i;
	*ep = v + s;
	*elen = e - s;
	return 1;
}

int
http_list_next(const char *v, size_t n, size_t *pos, const char **ep,
    size_t *elen)
{
	return sep_next(v, n, pos, ',', ep, elen);
}

/*
 * Whether one of the items next() finds in v[0..n) (list elements or
 * tokens) is token, ignoring case.
 */
static int
has_item(int (*next)(const char *, size_t, size_t *, const char **,
    size_t *), const char *v, size_t n, const char *token)
{
	const char	*t;
	size_t		 pos = 0, tl, l = strlen(token);

	while (next(v, n, &pos, &t, &tl))
		if (tl == l && http_ci_eq(t, token, l))
			return 1;
	return 0;
}

int
http_list_has(const char *value, size_t len, const char *token)
{
	return has_item(http_list_next, value, len, token);
}

/*
 * element = token [ "=" ( token / quoted-string ) ] [ OWS ";" params ].
 * No whitespace around "=": the grammars that use it (Cache-Control,
 * parameters) have none.
 */
void
http_elem_parse(const char *s, size_t n, struct http_elem *el)
{
	size_t	 i = 0;
	int	 closed;

	memset(el, 0, sizeof(*el));
	el->name = s;
	while (i < n && http_tchar[(unsigned char)s[i]])
		i++;
	el->name_len = i;
	if (i == 0)
		el->bad = 1;
	if (i < n && s[i] == '=') {
		el->has_arg = 1;
		i++;
		if (i < n && s[i] == '"') {
			el->quoted = 1;
			el->arg = s + i + 1;
			i = skip_quoted(s, n, i, &closed);
			if (closed)
				el->arg_len = (size_t)(s + i - 1 - el->arg);
			else
				el->bad = 1;
		} else {
			el->arg = s + i;
			while (i < n && http_tchar[(unsigned char)s[i]])
				i++;
			el->arg_len = (size_t)(s + i - el->arg);
		}
	}
	while (i < n && IS_WS(s[i]))
		i++;
	if (i < n && s[i] == ';') {
		el->params = s + i;
		el->params_len = n - i;
	} else if (i < n)
		el->bad = 1;
}

int
http_elem_next(const char *v, size_t n, size_t *pos, struct http_elem *el)
{
	const char	*e;
	size_t		 elen;

	if (!http_list_next(v, n, pos, &e, &elen))
		return 0;
	http_elem_parse(e, elen, el);
	return 1;
}

int
http_param_next(const char *p, size_t n, size_t *pos, struct http_elem *el)
{
	const char	*e;
	size_t		 elen;

	if (!sep_next(p, n, pos, ';', &e, &elen))
		return 0;
	http_elem_parse(e, elen, el);
	/* A parameter has no parameters: a ";" would have split it. */
	return 1;
}

/*
 * Connection = #connection-option, connection-option = token.  The
 * tokens are split at commas and at blanks alike ("a b" names a and b),
 * the reading that removes the most: a field named in a malformed
 * Connection value is still not forwarded or stored.  A quote is an
 * ordinary byte here, since no token holds one: a piece with a quote
 * matches no field name.
 */
int
http_token_next(const char *v, size_t n, size_t *pos, const char **tp,
    size_t *tl)
{
	size_t	 i = *pos, s;

	while (i < n && (IS_WS(v[i]) || v[i] == ','))
		i++;
	if (i >= n) {
		*pos = n;
		return 0;
	}
	s = i;
	while (i < n && !IS_WS(v[i]) && v[i] != ',')
		i++;
	*pos = i;
	*tp = v + s;
	*tl = i - s;
	return 1;
}

int
http_token_has(const char *v, size_t n, const char *token)
{
	return has_item(http_token_next, v, n, token);
}

int
http_conn_next(const struct http_header *h, size_t n,
    struct http_conn_iter *it, const char **tp, size_t *tl)
{
	for (; it->field < n; it->field++, it->pos = 0) {
		if (h[it->field].name_len != 10 ||
		    !http_lc_eq(h[it->field].name, "connection", 10))
			continue;
		if (http_token_next(h[it->field].value, h[it->field].value_len,
		    &it->pos, tp, tl))
			return 1;
	}
	return 0;
}

int
http_conn_lists(const struct http_header *h, size_t n, const char *name,
    size_t len)
{
	struct http_conn_iter	 it = HTTP_CONN_ITER_INIT;
	const char		*t;
	size_t			 tl;

	while (http_conn_next(h, n, &it, &t, &tl))
		if (tl == len && http_ci_eq(t, name, len))
			return 1;
	return 0;
}

/*
 * The hop-by-hop fields: the union of the two lists portico had, one in
 * the forwarded-head building and one in the caching rules.
 *   Connection, Keep-Alive, TE, Transfer-Encoding, Upgrade (RFC 9110
 *   7.6.1, 7.8; RFC 9112 6.1, 9.3) and Trailer (its fields are not
 *   forwarded: trailers are dropped or filtered on their own);
 *   Proxy-Connection (RFC 9112 C.2.2: the old Connection of proxies);
 *   every other Proxy-* field: Proxy-Authenticate, Proxy-Authorization and
 *   Proxy-Authentication-Info (RFC 9110 11.7) are for the proxy next to
 *   the sender, never stored (RFC 9111 3.1) nor passed on, and the
 *   forwarding side has always dropped any field starting with "Proxy-"
 *   (t/integration/02-proxy-basic.t), so that a hit sends what a miss
 *   sends.
 * Content-Length is not in it: it is framing, not hop-by-hop; a caller
 * that re-frames a message drops it itself.
 */
int
http_is_hop_by_hop(const char *n, size_t l)
{
	switch (l) {
	case 2:
		return http_lc_eq(n, "te", 2);
	case 7:
		return http_lc_eq(n, "trailer", 7) || http_lc_eq(n, "upgrade", 7);
	case 10:
		return http_lc_eq(n, "connection", 10) || http_lc_eq(n, "keep-alive", 10);
	case 17:
		return http_lc_eq(n, "transfer-encoding", 17);
	}
	return l > 6 && http_lc_eq(n, "proxy-", 6);
}
