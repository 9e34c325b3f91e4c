/*
 * rewrite.c: the path a route forwards.  After the path is normalized
 * and the route found, path_strip_prefix takes the prefix off (at a
 * segment boundary: /api strips /api and /api/x, not /apix), then
 * path_rewrite's regex (PCRE2, compiled at load: common/conf_rewrite.c)
 * rewrites it, $0..$9 in the replacement naming its groups.  The cache
 * key is made from the result, and the result is forwarded.  The query
 * stays as the client sent it unless the replacement has a '?': then
 * what follows it is the query.  A result that is not a valid path is
 * answered 500 and logged; it never reaches the backend.
 */
#include "config.h"

#define PCRE2_CODE_UNIT_WIDTH 8

#include <pcre2.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "common/conf.h"
#include "common/log.h"
#include "worker/proxy_int.h"
#include "worker/rewrite.h"

static pcre2_match_data	*md;	/* the worker's, for $0..$9 */

int
rewrite_path_valid(const char *p, size_t n)
{
	static const char	 hex[] = "0123456789abcdefABCDEF";
	size_t			 i;
	unsigned char		 ch;

	if (n == 0 || p[0] != '/')
		return 0;
	for (i = 0; i < n; i++) {
		ch = (unsigned char)p[i];
		if (ch <= 0x20 || ch >= 0x7f || strchr("\"#<>\\^`{|}", ch) != NULL)
			return 0;
		if (ch == '%' && (i + 2 >= n || strchr(hex, p[i + 1]) == NULL ||
		    strchr(hex, p[i + 2]) == NULL || p[i + 1] == '\0' ||
		    p[i + 2] == '\0'))
			return 0;
	}
	return 1;
}

long
rewrite_regex(const struct conf_route *rt, const char *subject, size_t n,
    char *out, size_t cap)
{
	PCRE2_SIZE	*ov;
	const char	*s;
	size_t		 o = 0, g, gl;
	int		 rc;

	if (md == NULL && (md = pcre2_match_data_create(10, NULL)) == NULL)
		return -1;
	rc = pcre2_match(rt->rw_re, (PCRE2_SPTR)subject, n, 0, 0, md, NULL);
	if (rc == PCRE2_ERROR_NOMATCH)
		return 0;
	if (rc < 0)
		return -1;
	ov = pcre2_get_ovector_pointer(md);
	for (s = rt->rw_repl; *s != '\0'; s++) {
		if (*s == '$' && s[1] == '$')
			s++;
		else if (*s == '$') {
			g = (size_t)(*++s - '0');	/* checked at load */
			if ((int)g >= rc || ov[2 * g] == PCRE2_UNSET)
				continue;
			gl = ov[2 * g + 1] - ov[2 * g];
			if (o + gl >= cap)
				return -1;
			memcpy(out + o, subject + ov[2 * g], gl);
			o += gl;
			continue;
		}
		if (o + 1 >= cap)
			return -1;
		out[o++] = *s;
	}
	return (long)o;
}

int
rewrite_apply(struct client *c, struct http_request *rq)
{
	struct req		*r = c->r;
	const struct conf_route	*rt = r->route;
	const char		*p = rq->path, *q;
	size_t			 n = rq->path_len, sl = rt->strip_len;
	char			*a = NULL, *b;
	long			 m;
	int			 changed = 0;
	size_t			 i;

	if ((rt->strip_prefix == NULL && rt->rw_re == NULL) || p[0] != '/')
		return 0;
	if ((a = buf_get()) == NULL)
		return -1;
	if (sl > 0 && n >= sl && memcmp(p, rt->strip_prefix, sl) == 0 &&
	    (n == sl || p[sl] == '/' || rt->strip_prefix[sl - 1] == '/')) {
		p += sl;
		n -= sl;
		changed = 1;
		a[0] = '/';
		if (n > 0 && p[0] == '/') {
			memcpy(a, p, n);
		} else {
			memcpy(a + 1, p, n);	/* n < path_len: it fits */
			n++;
		}
	} else
		memcpy(a, p, n);
	if (rt->rw_re != NULL) {
		if ((b = buf_get()) == NULL) {
			buf_put(a);
			return -1;
		}
		m = rewrite_regex(rt, a, n, b, bufsize);
		if (m > 0) {
			buf_put(a);
			a = b;
			n = (size_t)m;
			changed = 1;
		} else
			buf_put(b);
		if (m == -1) {
			buf_put(a);
			log_warnx("client %s: route %s: path_rewrite failed (too "
			    "long, or the match failed): 500", client_ip(c),
			        rt->name);
			return 500;
		}
	}
	if (!changed) {
		buf_put(a);
		return 0;		/* the path as it was */
	}
	if (rt->rw_re != NULL && (q = memchr(a, '?', n)) != NULL) {
		/* The replacement's query replaces the client's. */
		for (i = (size_t)(q + 1 - a); i < n; i++)
			if ((unsigned char)a[i] <= 0x20 ||
			    (unsigned char)a[i] >= 0x7f || a[i] == '#')
				break;
		if (i == n) {
			rq->query = q + 1;
			rq->query_len = n - (size_t)(q + 1 - a);
		}
		n = i < (size_t)(n) ? 0 : (size_t)(q - a);	/* 0: invalid */
	}
	if (!rewrite_path_valid(a, n)) {
		log_warnx("client %s: route %s: the rewritten path is not a "
		    "valid path: 500", client_ip(c), rt->name);
		buf_put(a);
		return 500;
	}
	buf_put(r->np);
	r->np = a;
	r->np_len = (uint32_t)n;
	r->rewritten = 1;
	rq->path = a;
	rq->path_len = n;
	return 0;
}
