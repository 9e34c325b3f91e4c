/*
 * cachepol.h: the HTTP caching rules of RFC 9111 for a shared cache, as
 * pure functions over parsed heads (common/http.h) and stored metadata
 * (struct cache_meta, common/cache.h).  No I/O, no shared memory, no
 * allocation: the HTTP cache of the request path (worker/httpcache.c,
 * httpcache_hit.c, httpcache_store.c) asks, this file answers, and the
 * unit tests (t/check_cachepol.c) pin every rule down.
 *
 * Times are wall-clock seconds since the epoch (int64_t); -1 = absent.
 */
#ifndef PORTICO_CACHEPOL_H
#define PORTICO_CACHEPOL_H

#include <stddef.h>
#include <stdint.h>

#include "common/cache.h"
#include "common/http.h"

/* Cache-Control directives (request or response).  -1: absent. */
struct cachepol_cc {
	unsigned	 no_store:1;
	unsigned	 no_cache:1;	/* with or without a field list: treated as unqualified */
	unsigned	 private_:1;	/* likewise */
	unsigned	 public_:1;
	unsigned	 must_revalidate:1;
	unsigned	 proxy_revalidate:1;
	unsigned	 only_if_cached:1;
	unsigned	 must_understand:1;	/* store only if the status is understood */
	unsigned	 bad_max_age:1;	/* a max-age/s-maxage that is not a number: stale */
	unsigned	 targeted:1;	/* read from a targeted field (RFC 9213):
					   Cache-Control and Expires do not count */
	int64_t		 max_age;
	int64_t		 s_maxage;
	int64_t		 max_stale;	/* bare max-stale: INT64_MAX */
	int64_t		 min_fresh;
	int64_t		 swr;		/* stale-while-revalidate */
	int64_t		 sie;		/* stale-if-error */
};

/*
 * Parse every Cache-Control field among h[0..n) into *cc (cleared first;
 * several fields are one list).  Unknown directives are ignored; quoted
 * arguments are accepted; a duplicated numeric directive keeps the
 * smallest value (most conservative).
 */
void	 cachepol_cc(const struct http_header *h, size_t n, struct cachepol_cc *cc);

struct cachepol_opts;

/*
 * The Cache-Control directives of a response for this cache (RFC 9213
 * 2.1): the first field of o's target list (in list order) present with
 * a valid, non-empty RFC 8941 Dictionary value (several lines of it are
 * one value), whose directives then replace Cache-Control and Expires
 * (cc->targeted set); without one, cachepol_cc() of the Cache-Control
 * fields.  An invalid targeted field is ignored as a whole (and so is
 * one of more than 32 lines).  In a targeted field max-age, s-maxage,
 * stale-while-revalidate and stale-if-error are Integers (a max-age or
 * s-maxage of another type means stale, as in Cache-Control), the
 * others Booleans (?0: absent; any other value, such as private's
 * field-name String, counts as present); a key given twice counts by its
 * last value.  o may be NULL (no target list).
 */
void	 cachepol_cc_response(const struct http_header *h, size_t n,
	    const struct cachepol_opts *o, struct cachepol_cc *cc);
/* Whether name[0..len) is on the target list names[0..n) (any case). */
int	 cachepol_targeted_name(const char *const *names, size_t n,
	    const char *name, size_t len);
/*
 * Remove the fields on the target list names[0..n) from a stored head
 * (cachepol_stored_head()) at head[0..len), in place.  Returns the new
 * length.
 */
size_t	 cachepol_head_drop(char *head, size_t len, const char *const *names,
	    size_t n);

/*
 * Parse an HTTP-date (IMF-fixdate, RFC 850, asctime; names matched
 * without regard to case, RFC 9111 4.2; no extra whitespace).  -1 if
 * invalid; dates before 1970 give 0.  cachepol_date() resolves the
 * two-digit year of RFC 850 against the clock, cachepol_date_at() against
 * now (a year more than 50 years after now's is in the past century).
 */
int64_t	 cachepol_date(const char *s, size_t n);
int64_t	 cachepol_date_at(const char *s, size_t n, int64_t now);
/*
 * Format t as IMF-fixdate into out (at least 30 bytes, NUL-terminated;
 * t clamped to 1970..9999).  Returns the length (29).
 */
size_t	 cachepol_fmt_date(int64_t t, char *out);

/*
 * The cache key of a request: lowercased host without a default ":80",
 * then the path and query exactly as sent ("example.com/a?b").  For
 * absolute-form targets the authority is the host.  fallback_host is
 * used for HTTP/1.0 requests without Host.  Returns the length, or -1
 * when it does not fit cap.
 */
int	 cachepol_key(const struct http_request *rq, const char *fallback_host,
	    char *out, size_t cap);
/*
 * The key under which worker/httpcache.c stores: "SCOPE SCHEME://HOST/PATH?QUERY",
 * where SCOPE (the route and upstream names, no spaces) is left out with
 * its space when NULL or empty, SCHEME is http or https, and HOST is
 * lowercased without the scheme's own default port only (80 for http,
 * 443 for https: "x:80" over https stays "x:80").  rq is the request as
 * forwarded upstream.  Returns the length, or -1 when it does not fit.
 */
int	 cachepol_key_scoped(const struct http_request *rq, const char *fallback_host,
	    const char *scope, int https, char *out, size_t cap);
/*
 * The key of a URI reference from a Location or Content-Location field,
 * for invalidation: only when it names the same host as the request (or
 * is relative); a relative path is resolved against the request path.
 * http and https URIs and network-path references ("//host/p") count;
 * their authority must equal the request's host once lowercased and
 * without the scheme's default port.  The fragment is dropped, and dot
 * segments are removed from the path (RFC 3986 5.2.4) since request
 * paths never hold any.  Returns the length, or -1 (other host, other
 * scheme, userinfo, bytes outside VCHAR, too long; cap must also hold
 * the merged path before its dot segments go).
 */
int	 cachepol_key_of_uri(const char *uri, size_t ulen, const struct http_request *rq,
	    const char *fallback_host, char *out, size_t cap);

/* What the request says about using the cache. */
struct cachepol_req {
	struct cachepol_cc cc;
	unsigned	 cacheable:1;	/* GET or HEAD, no body, no Upgrade */
	/* (an invalid request max-age is ignored: cc.max_age stays -1) */
	unsigned	 auth:1;	/* Authorization present */
	unsigned	 no_cache:1;	/* Cache-Control no-cache, max-age=0, or Pragma: no-cache
					   (the last only without Cache-Control) */
	unsigned	 no_store:1;	/* request Cache-Control no-store: do not store the answer */
	unsigned	 conditional:1;	/* If-None-Match or If-Modified-Since */
	unsigned	 other_precond:1; /* If-Match, If-Unmodified-Since, If-Range: not
					    answered from cache when no entry is fresh */
	unsigned	 range:1;	/* a Range field */
};

void	 cachepol_request(const struct http_request *rq, struct cachepol_req *cr);

/* Operator choices that change the rules (per route). */
struct cachepol_opts {
	int		 store_set_cookie;	/* store responses with Set-Cookie */
	int		 ignore_client_no_cache; /* treat request no-cache/max-age=0 as absent */
	int64_t		 heuristic_max;		/* cap on heuristic lifetime (s), default 86400 */
	int		 heuristic_percent;	/* of (Date - Last-Modified), default 10 */
	int64_t		 default_ttl;		/* lifetime for storable responses with none
						   (0: none; RFC rules only) */
	const char *const *targeted;		/* RFC 9213 target list, lower case, in
						   order of precedence (NULL: none) */
	size_t		 ntargeted;
};
/*
 * (default_ttl applies where the RFC heuristic could but finds no
 * Last-Modified: heuristically cacheable statuses, or public.  A NULL
 * opts pointer means all zero but heuristic_max 86400, percent 10.)
 */

/*
 * Whether the response rs to the request (cr) may be stored by a shared
 * cache, and if so its metadata: returns 1 and fills *m, or 0 and sets
 * *why to a short reason for Cache-Status/logs ("no-store", "private",
 * "set-cookie", "status", "vary-star", "no-lifetime", "authorization",
 * "method", ...).  request_time/response_time per RFC 9111 4.2.3.
 * Storable: request cacheable and without no-store; a final status that
 * is not one of those never stored (1xx, 206, 304, 407, 408, 411-413,
 * 416, 417, 421, 426, 428, 429, 431, outside 100..599); a status this
 * cache does not know (299, 499, 599...) only with explicit freshness
 * (s-maxage, max-age, Expires) and without must-understand; no no-store
 * (but must-understand with an understood status ignores it, RFC 9111
 * 5.2.2.3) or private; Authorization only with public,
 * s-maxage or must-revalidate; explicit lifetime (s-maxage, max-age,
 * Expires) or, for heuristically cacheable statuses, Last-Modified
 * (heuristic_percent of Date - Last-Modified, at most heuristic_max), or
 * public / default_ttl; Set-Cookie only if opts allow; not Vary: *.
 * The directives are those of cachepol_cc_response(): a targeted field
 * of o's target list (RFC 9213) when there is a valid one, in place of
 * Cache-Control and Expires.
 * An explicit lifetime of 0 (or no-cache) is still storable: every use
 * revalidates.  An invalid max-age/s-maxage, several Expires fields or
 * an invalid Expires mean lifetime 0.  Reasons: "method", "no-store"
 * (request or response), "status", "private", "authorization",
 * "set-cookie", "vary-star", "no-lifetime"; *why is NULL on success.
 * Flags: CACHE_F_AUTH_OK whenever the response has public, s-maxage or
 * must-revalidate, whether or not this request had Authorization (a
 * response without them never answers a request with Authorization);
 * CACHE_F_MUST_REVAL for must-revalidate, proxy-revalidate, s-maxage.
 * The ETag is kept only if there is exactly one, valid, of at most 128
 * bytes.  To refresh meta after a 304, parse the merged head
 * (cachepol_merge_304) and call this again.
 */
int	 cachepol_storable(const struct cachepol_req *cr, const struct http_response *rs,
	    const struct cachepol_opts *o, int64_t request_time, int64_t response_time,
	    struct cache_meta *m, const char **why);

/* RFC 9111 4.2.3 current_age of a stored response at now. */
int64_t	 cachepol_age(const struct cache_meta *m, int64_t now);

enum cachepol_use_rc {
	CACHEPOL_FRESH = 0,	/* serve it */
	CACHEPOL_STALE_SWR,	/* stale within stale-while-revalidate: serve it, refresh behind */
	CACHEPOL_REVALIDATE,	/* ask the origin (conditionally if it has validators) */
	CACHEPOL_BYPASS		/* may not answer this request at all (Authorization) */
};

/*
 * How a stored response may be used for a request at now (RFC 9111 4.2,
 * 4.2.4, 5.2.1; RFC 5861): request no-cache (unless the opts ignore it),
 * max-age, min-fresh, max-stale (never past must-revalidate /
 * proxy-revalidate / s-maxage), response no-cache, stale-while-revalidate.
 * BYPASS also for a request that is not cacheable.  FRESH covers a stale
 * response the request's max-stale accepts.
 */
enum cachepol_use_rc cachepol_use(const struct cache_meta *m, const struct cachepol_req *cr,
	    const struct cachepol_opts *o, int64_t now);
/*
 * Whether a stored response may be served because the origin failed
 * (stale-if-error, RFC 5861 4): yes while fresh; once stale, within the
 * larger of the response's and the request's stale-if-error, never with
 * CACHE_F_MUST_REVAL; never with response no-cache, nor for a request
 * cachepol_use() would BYPASS.
 */
int	 cachepol_stale_if_error(const struct cache_meta *m, const struct cachepol_req *cr,
	    int64_t now);
/* Remaining freshness (lifetime - current age) in seconds; negative when stale. */
int64_t	 cachepol_ttl(const struct cache_meta *m, int64_t now);

/*
 * Vary.  cachepol_vary_blob() writes what must match for a later request
 * to reuse this response: the field names listed in the response's Vary
 * fields (lowercased, sorted, duplicates removed) each with the request's
 * value(s) of that field (several fields joined with ", ", whitespace
 * around commas normalised).  Returns its length (0: no Vary), or -1 for
 * "Vary: *" (never reusable) or when it does not fit cap.
 * cachepol_vary_match() says whether another request selects the same
 * variant (absent fields match only absent fields).
 * Blob layout, per name: u8 name length, name, u8 present (0/1), u16
 * value length (big-endian), value.  Commas inside quoted-strings do not
 * split; empty list elements are dropped; a present but empty field is
 * not an absent one.  Vary with more than 32 names, or a name that is
 * not a token: -1.
 */
int	 cachepol_vary_blob(const struct http_response *rs, const struct http_request *rq,
	    char *out, size_t cap);
int	 cachepol_vary_match(const char *blob, size_t len, const struct http_request *rq);
/*
 * The same, with the request to take each name's fields from chosen per
 * name: pick(name, name_len, arg) returns it (name is lowercase, not
 * NUL-terminated), or NULL for no match.
 */
int	 cachepol_vary_match_by(const char *blob, size_t len,
	    const struct http_request *(*pick)(const char *, size_t, void *),
	    void *arg);

/*
 * The head stored with a response and replayed on hits: the status line
 * and the end-to-end fields of rs, without hop-by-hop fields and those
 * named in Connection, Content-Length, Transfer-Encoding, Age (computed
 * on every hit), Via, and Set-Cookie unless keep_set_cookie; ends with
 * the empty line.  Returns its length, or -1 if it does not fit cap.
 */
int	 cachepol_stored_head(const struct http_response *rs, int keep_set_cookie,
	    char *out, size_t cap);
/*
 * Freshen a stored head with a 304 (RFC 9111 4.3.4, 3.2): every field
 * named in the 304 replaces all the stored fields of that name (the new
 * ones go at the end), except Content-Length (3.2), Content-Range,
 * Transfer-Encoding, hop-by-hop fields and those named in the 304's
 * Connection, and what stored heads never hold (Age, Via, Set-Cookie:
 * the stored ones stay).  Other Content-* fields are replaced, as 3.2
 * says, since the body is stored as received.  stored is a head from
 * cachepol_stored_head(); out must not overlap it.  Returns the new
 * head's length, or -1.
 */
int	 cachepol_merge_304(const char *stored, size_t slen, const struct http_response *r304,
	    char *out, size_t cap);

/*
 * Client preconditions against a stored response (RFC 9110 13.2.2):
 * If-None-Match (weak comparison, "*", lists) and, only without it,
 * If-Modified-Since (against Last-Modified, else Date).  Returns 1 when
 * the client should get 304, 0 otherwise (always 0 but for GET and HEAD;
 * a malformed If-None-Match matches nothing; several If-Modified-Since
 * fields are ignored).
 */
int	 cachepol_not_modified(const struct http_request *rq, const struct cache_meta *m);

/*
 * Range (RFC 9110 14): one "bytes=" range against a body of len bytes,
 * honouring If-Range (strong ETag or exact Last-Modified date; the date
 * only when Last-Modified is at least 60 s before Date, as 8.8.2.2 asks of
 * an intermediate cache).  GET only; len 0 always gives 0.  Returns
 * 0 to send the whole response (no Range, several ranges, another unit,
 * If-Range not matching), 1 with first and last (inclusive) for a 206, or
 * -1 for 416 (unsatisfiable).
 */
int	 cachepol_range(const struct http_request *rq, const struct cache_meta *m,
	    uint64_t len, uint64_t *first, uint64_t *last);

/* Whether a response with this status to this method invalidates the URI (RFC 9111 4.4). */
int	 cachepol_invalidates(enum http_method method, int status);

#endif /* PORTICO_CACHEPOL_H */
