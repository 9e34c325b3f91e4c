/*
 * rewrite.h: the path a route forwards (path_strip_prefix, path_rewrite
 * in [route]).  The order: normalize, route match, strip, rewrite, cache
 * key, forward.
 */
#ifndef PORTICO_REWRITE_H
#define PORTICO_REWRITE_H

#include <stddef.h>

struct client;
struct http_request;
struct conf_route;

/*
 * Apply the route's strip and rewrite to rq's path (and its query, when
 * the replacement has a '?'): the result goes in r->np and rq->path.
 * Returns 0, -1 when out of memory, or 500 (logged) when the result is
 * not a valid path.
 */
int	 rewrite_apply(struct client *c, struct http_request *rq);
/*
 * The rewrite of subject[0..n) by route rt's regex and replacement into
 * out[0..cap): its length, 0 when the regex does not match, -1 when the
 * result does not fit or the match failed.
 */
long	 rewrite_regex(const struct conf_route *rt, const char *subject, size_t n,
	    char *out, size_t cap);
/* Whether p[0..n) is a path portico forwards: "/", then URI path bytes. */
int	 rewrite_path_valid(const char *p, size_t n);

#endif /* PORTICO_REWRITE_H */
