/*
 * cachepol_int.h: what the files of the caching rules (worker/cachepol.c,
 * cachepol_fresh.c, cachepol_key.c, cachepol_head.c) share and nothing
 * else includes: byte tests, case-insensitive comparisons, the field
 * finder, the entity-tag parser and the freshness lifetime.  The
 * public interface is worker/cachepol.h.
 */
#ifndef PORTICO_CACHEPOL_INT_H
#define PORTICO_CACHEPOL_INT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "common/cache.h"
#include "common/http.h"
#include "worker/cachepol.h"

#define IS_WS(c)	((c) == ' ' || (c) == '\t')
#define IS_DIGIT(c)	((unsigned char)((c) - '0') < 10)

/*
 * Short names for the compare of common/http.h (http_lower, http_lc_eq,
 * http_ci_eq), in the forms these files call it.
 */
static inline unsigned char
lower(unsigned char c)
{
	return http_lower(c);
}

/* Whether s[0..n) equals the lower case C string l, ignoring case in s. */
static inline int
ci_eq(const char *s, size_t n, const char *l)
{
	return strlen(l) == n && http_lc_eq(s, l, n);
}

/* Whether a[0..an) and b[0..bn) are equal ignoring ASCII case. */
static inline int
ci_eq2(const char *a, size_t an, const char *b, size_t bn)
{
	return an == bn && http_ci_eq(a, b, an);
}

/* Header name test with the length known, so most fields fail at once. */
static inline int
name_is(const struct http_header *h, const char *l, size_t ln)
{
	return h->name_len == ln && ci_eq(h->name, ln, l);
}

/* The first field named l among h[0..n), and in *count how many there are. */
const struct http_header *cachepol_hfind(const struct http_header *, size_t,
	    const char *, size_t, size_t *);
/*
 * entity-tag at s[0..n): 0 with the bytes used, the weakness and the
 * opaque-tag (quotes included), or -1.
 */
int	 cachepol_etag_parse(const char *, size_t, size_t *, int *,
	    const char **, size_t *);
/*
 * The freshness lifetime of a response about to be stored (RFC 9111
 * 4.2.1, 4.2.2), from its Cache-Control cc, Expires and the meta filled
 * so far (date, last_modified): sets m->lifetime (and CACHE_F_HEURISTIC
 * for a heuristic one) and returns 1, or returns 0 when the response has
 * none and may not be stored.
 */
int	 cachepol_lifetime(const struct http_response *,
	    const struct cachepol_cc *, const struct cachepol_opts *,
	    struct cache_meta *);

#endif /* PORTICO_CACHEPOL_INT_H */
