/*
 * cachepol.c: the HTTP caching rules of RFC 9111 for a shared cache.
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
#include <time.h>

#include "common/cache.h"
#include "worker/cachepol.h"
#include "common/http.h"
#include "common/strbuf.h"

/*
 * The largest delta-seconds kept: RFC 9111 1.2.2 lets a cache cap larger
 * values at 2^31.
 */
#define DELTA_MAX		((int64_t)1 << 31)

/* Latest time an IMF-fixdate can hold: 9999-12-31T23:59:59Z. */
#define DATE_MAX		INT64_C(253402300799)

/* Most distinct field names a Vary blob holds; more are not stored. */
#define VARY_MAX_NAMES		32

/*
 * RFC 9110 8.8.2.2: an intermediate cache may take a Last-Modified date
 * as a strong validator only when it is this many seconds before Date.
 */
#define LM_STRONG_GAP		60

#define IS_WS(c)	((c) == ' ' || (c) == '\t')
#define IS_DIGIT(c)	((unsigned char)((c) - '0') < 10)

/* etagc, RFC 9110 section 8.8.3: VCHAR but DQUOTE, and obs-text. */
static const uint8_t etagc_tab[256] = {
	[0x21] = 1, [0x23 ... 0x7e] = 1, [0x80 ... 0xff] = 1
};

static const char	*const wkday_name[7] = {
	"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"
};
static const char	*const weekday_name[7] = {
	"Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday",
	"Saturday"
};
static const char	*const month_name[12] = {
	"Jan", "Feb", "Mar", "Apr", "May", "Jun",
	"Jul", "Aug", "Sep", "Oct", "Nov", "Dec"
};

/* Operator choices when the caller passes none. */
static const struct cachepol_opts default_opts = {
	0, 0, 86400, 10, 0
};

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

static unsigned char	 lower(unsigned char);
static int		 ci_eq(const char *, size_t, const char *);
static int		 ci_eq2(const char *, size_t, const char *, size_t);
static int		 name_is(const struct http_header *, const char *,
			    size_t);
static int64_t		 sat_add(int64_t, int64_t);
static int64_t		 sat_sub(int64_t, int64_t);
static int		 parse_delta(const char *, size_t, int64_t *);
static void		 cc_keep_min(int64_t *, int64_t);
static void		 cc_directive(struct cachepol_cc *, const char *,
			    size_t, int, const char *, size_t, int);
static void		 cc_field(const char *, size_t,
			    struct cachepol_cc *);
static int64_t		 days_from_civil(int64_t, int, int);
static void		 civil_from_days(int64_t, int64_t *, int *, int *);
static int		 days_in_month(int64_t, int);
static int		 two_digits(const char *);
static int		 match_name(const char *, size_t, const char *const *,
			    int);
static int		 parse_time_of_day(const char *, int *, int *, int *);
static int64_t		 make_time(int64_t, int, int, int, int, int);
static void		 put_2d(char *, int);
static size_t		 strip_default_port(const char *, size_t,
			    unsigned);
static size_t		 remove_dot_segments(char *, size_t);
static int		 status_understood(int);
static int		 status_heuristic(int);
static const struct http_header *hfind(const struct http_header *, size_t,
			    const char *, size_t, size_t *);
static int		 etag_parse(const char *, size_t, size_t *, int *,
			    const char **, size_t *);
static int		 stored_etag(const struct cache_meta *, int *,
			    const char **, size_t *);
static int		 inm_matches(const char *, size_t,
			    const struct cache_meta *);
static int		 if_range_true(const char *, size_t,
			    const struct cache_meta *);
static void		 vsink_put(struct vsink *, const char *, size_t);
static int		 vary_value(const struct http_request *, const char *,
			    size_t, struct vsink *);
static int		 vary_names(const struct http_response *,
			    struct vname *, size_t *);
static int		 field_bytes_ok(const struct http_header *);
static int		 stored_excluded(const struct http_response *,
			    const struct http_header *, int);
static int		 is_alpha(char);
static int		 merge_excluded(const struct http_response *,
			    const struct http_header *);

static unsigned char
lower(unsigned char c)
{
	return (unsigned char)(c - 'A') < 26 ? c | 0x20 : c;
}

/* Whether s[0..n) equals the lower case string l, ignoring case in s. */
static int
ci_eq(const char *s, size_t n, const char *l)
{
	size_t	 i;

	for (i = 0; i < n; i++)
		if (l[i] == '\0' || lower((unsigned char)s[i]) !=
		    (unsigned char)l[i])
			return 0;
	return l[i] == '\0';
}

/* Whether a[0..an) and b[0..bn) are equal ignoring ASCII case. */
static int
ci_eq2(const char *a, size_t an, const char *b, size_t bn)
{
	size_t	 i;

	if (an != bn)
		return 0;
	for (i = 0; i < an; i++)
		if (lower((unsigned char)a[i]) != lower((unsigned char)b[i]))
			return 0;
	return 1;
}

/* Header name test with the length known, so most fields fail at once. */
static int
name_is(const struct http_header *h, const char *l, size_t ln)
{
	return h->name_len == ln && ci_eq(h->name, ln, l);
}

static int64_t
sat_add(int64_t a, int64_t b)
{
	int64_t	 r;

	if (__builtin_add_overflow(a, b, &r))
		return b > 0 ? INT64_MAX : INT64_MIN;
	return r;
}

static int64_t
sat_sub(int64_t a, int64_t b)
{
	int64_t	 r;

	if (__builtin_sub_overflow(a, b, &r))
		return b < 0 ? INT64_MAX : INT64_MIN;
	return r;
}

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

void
cachepol_cc(const struct http_header *h, size_t n, struct cachepol_cc *cc)
{
	size_t	 i;

	memset(cc, 0, sizeof(*cc));
	cc->max_age = -1;
	cc->s_maxage = -1;
	cc->max_stale = -1;
	cc->min_fresh = -1;
	cc->swr = -1;
	cc->sie = -1;
	for (i = 0; i < n; i++)
		if (name_is(&h[i], "cache-control", 13))
			cc_field(h[i].value, h[i].value_len, cc);
}

/*
 * Dates.  Proleptic Gregorian calendar arithmetic on days since
 * 1970-01-01 (H. Hinnant's algorithms), so that nothing depends on TZ or
 * on the C library's timegm.
 */
static int64_t
days_from_civil(int64_t y, int m, int d)
{
	int64_t	 era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static void
civil_from_days(int64_t z, int64_t *yp, int *mp, int *dp)
{
	int64_t	 era, doe, yoe, doy, mm;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mm = (5 * doy + 2) / 153;
	*dp = (int)(doy - (153 * mm + 2) / 5 + 1);
	*mp = (int)(mm < 10 ? mm + 3 : mm - 9);
	*yp = yoe + era * 400 + (*mp <= 2);
}

static int
days_in_month(int64_t y, int m)
{
	static const int	 dim[12] = {
		31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31
	};

	if (m == 2 && y % 4 == 0 && (y % 100 != 0 || y % 400 == 0))
		return 29;
	return dim[m - 1];
}

/* Two ASCII digits at s, or -1. */
static int
two_digits(const char *s)
{
	if (!IS_DIGIT(s[0]) || !IS_DIGIT(s[1]))
		return -1;
	return (s[0] - '0') * 10 + (s[1] - '0');
}

/*
 * Index of s[0..n) among names[0..count), compared without regard to
 * case: RFC 9111 4.2 asks a cache recipient to match dates
 * case-insensitively although the grammar is case-sensitive.  -1 if
 * none.
 */
static int
match_name(const char *s, size_t n, const char *const *names, int count)
{
	int	 i;

	for (i = 0; i < count; i++)
		if (strlen(names[i]) == n && ci_eq2(s, n, names[i], n))
			return i;
	return -1;
}

/* time-of-day = hour ":" minute ":" second, 8 bytes at s. */
static int
parse_time_of_day(const char *s, int *h, int *mi, int *se)
{
	if (s[2] != ':' || s[5] != ':')
		return -1;
	*h = two_digits(s);
	*mi = two_digits(s + 3);
	*se = two_digits(s + 6);
	/* Second 60 is a leap second (RFC 9110 5.6.7). */
	if (*h < 0 || *h > 23 || *mi < 0 || *mi > 59 || *se < 0 || *se > 60)
		return -1;
	return 0;
}

/*
 * Seconds since the epoch for a checked calendar date, or -1 if the day
 * does not exist.  Dates before 1970 give 0: still valid, and as far in
 * the past as the callers need.
 */
static int64_t
make_time(int64_t y, int mo, int d, int h, int mi, int se)
{
	int64_t	 t;

	if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo))
		return -1;
	t = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se;
	return t < 0 ? 0 : t;
}

/*
 * HTTP-date (RFC 9110 5.6.7): IMF-fixdate, RFC 850 and asctime formats,
 * nothing else, and no extra whitespace.  now resolves the two-digit year
 * of the RFC 850 format: a year more than 50 years in the future is taken
 * from the century before.
 */
int64_t
cachepol_date_at(const char *s, size_t n, int64_t now)
{
	int64_t	 y, ny;
	int	 mo, d, h, mi, se, yy, nm, nd, i;
	size_t	 c;

	if (s == NULL)
		return -1;
	if (n == 29 && s[3] == ',') {
		/* Sun, 06 Nov 1994 08:49:37 GMT */
		if (match_name(s, 3, wkday_name, 7) < 0 || s[4] != ' ' ||
		    s[7] != ' ' || s[11] != ' ' || s[16] != ' ' ||
		    s[25] != ' ' || !ci_eq(s + 26, 3, "gmt"))
			return -1;
		if ((d = two_digits(s + 5)) < 0 ||
		    (mo = match_name(s + 8, 3, month_name, 12)) < 0 ||
		    (yy = two_digits(s + 12)) < 0 ||
		    (i = two_digits(s + 14)) < 0 ||
		    parse_time_of_day(s + 17, &h, &mi, &se) == -1)
			return -1;
		return make_time(yy * 100 + i, mo + 1, d, h, mi, se);
	}
	if (n == 24 && s[3] == ' ') {
		/* Sun Nov  6 08:49:37 1994 */
		if (match_name(s, 3, wkday_name, 7) < 0 ||
		    (mo = match_name(s + 4, 3, month_name, 12)) < 0 ||
		    s[7] != ' ' || s[10] != ' ' || s[19] != ' ')
			return -1;
		if (s[8] == ' ') {
			if (!IS_DIGIT(s[9]))
				return -1;
			d = s[9] - '0';
		} else if ((d = two_digits(s + 8)) < 0)
			return -1;
		if (parse_time_of_day(s + 11, &h, &mi, &se) == -1 ||
		    (yy = two_digits(s + 20)) < 0 ||
		    (i = two_digits(s + 22)) < 0)
			return -1;
		return make_time(yy * 100 + i, mo + 1, d, h, mi, se);
	}
	/* Sunday, 06-Nov-94 08:49:37 GMT */
	for (c = 6; c <= 9 && c < n && s[c] != ','; c++)
		continue;
	if (c > 9 || c >= n || n - c != 24)
		return -1;
	if (match_name(s, c, weekday_name, 7) < 0)
		return -1;
	s += c + 1;
	if (s[0] != ' ' || s[3] != '-' || s[7] != '-' || s[10] != ' ' ||
	    s[19] != ' ' || !ci_eq(s + 20, 3, "gmt"))
		return -1;
	if ((d = two_digits(s + 1)) < 0 ||
	    (mo = match_name(s + 4, 3, month_name, 12)) < 0 ||
	    (yy = two_digits(s + 8)) < 0 ||
	    parse_time_of_day(s + 11, &h, &mi, &se) == -1)
		return -1;
	civil_from_days((now > 0 ? now : 0) / 86400, &ny, &nm, &nd);
	y = ny - ny % 100 + yy;
	if (y > ny + 50)
		y -= 100;
	else if (y <= ny - 50)
		y += 100;
	return make_time(y, mo + 1, d, h, mi, se);
}

int64_t
cachepol_date(const char *s, size_t n)
{
	return cachepol_date_at(s, n, (int64_t)time(NULL));
}

static void
put_2d(char *p, int v)
{
	p[0] = (char)('0' + v / 10);
	p[1] = (char)('0' + v % 10);
}

size_t
cachepol_fmt_date(int64_t t, char *out)
{
	int64_t	 days, y;
	int	 secs, mo, d, wd;

	if (t < 0)
		t = 0;
	if (t > DATE_MAX)
		t = DATE_MAX;
	days = t / 86400;
	secs = (int)(t % 86400);
	civil_from_days(days, &y, &mo, &d);
	wd = (int)((days + 4) % 7);	/* 1970-01-01 was a Thursday */

	memcpy(out, wkday_name[wd], 3);
	out[3] = ',';
	out[4] = ' ';
	put_2d(out + 5, d);
	out[7] = ' ';
	memcpy(out + 8, month_name[mo - 1], 3);
	out[11] = ' ';
	put_2d(out + 12, (int)(y / 100));
	put_2d(out + 14, (int)(y % 100));
	out[16] = ' ';
	put_2d(out + 17, secs / 3600);
	out[19] = ':';
	put_2d(out + 20, secs / 60 % 60);
	out[22] = ':';
	put_2d(out + 23, secs % 60);
	memcpy(out + 25, " GMT", 5);	/* with the NUL */
	return 29;
}

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

/* The first field named l among h[0..n), and in *count how many there are. */
static const struct http_header *
hfind(const struct http_header *h, size_t n, const char *l, size_t ln,
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
 * Final status codes whose meaning this cache knows and that describe
 * the resource rather than the request that got them: not 206 (only
 * whole responses are stored), 304 (it freshens, RFC 9111 4.3.4), 407,
 * nor 408, 411-413, 416, 417, 421, 426, 428, 429, 431, which answer
 * something about one request or connection.
 */
static int
status_understood(int s)
{
	switch (s) {
	case 200: case 201: case 202: case 203: case 204: case 205:
	case 300: case 301: case 302: case 303: case 307: case 308:
	case 400: case 401: case 403: case 404: case 405: case 406:
	case 409: case 410: case 414: case 415: case 422: case 451:
	case 500: case 501: case 502: case 503: case 504: case 505:
		return 1;
	}
	return 0;
}

/* Heuristically cacheable status codes (RFC 9110 15.1). */
static int
status_heuristic(int s)
{
	switch (s) {
	case 200: case 203: case 204: case 206: case 300: case 301:
	case 308: case 404: case 405: case 410: case 414: case 501:
		return 1;
	}
	return 0;
}

/*
 * entity-tag = [ weak ] opaque-tag, weak = %s"W/", opaque-tag = DQUOTE
 * *etagc DQUOTE (RFC 9110 8.8.3), at s[0..n).  Returns 0 with the bytes
 * used in *used, the weakness and the opaque-tag (quotes included), or
 * -1.
 */
static int
etag_parse(const char *s, size_t n, size_t *used, int *weak, const char **op,
    size_t *ol)
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

/* The stored ETag, parsed.  -1 if there is none or it is not valid. */
static int
stored_etag(const struct cache_meta *m, int *weak, const char **op, size_t *ol)
{
	size_t	 used, n = m->etag_len;

	if (n == 0 || n > sizeof(m->etag))
		return -1;
	if (etag_parse(m->etag, n, &used, weak, op, ol) == -1 || used != n)
		return -1;
	return 0;
}

int
cachepol_storable(const struct cachepol_req *cr, const struct http_response *rs,
    const struct cachepol_opts *o, int64_t request_time, int64_t response_time,
    struct cache_meta *m, const char **why)
{
	const struct http_header	*h = rs->headers, *f;
	struct cachepol_cc		 cc;
	struct cache_meta		 nm;
	const char			*e, *op;
	size_t				 n = rs->nheaders, i, pos, el;
	size_t				 cnt, used;
	int64_t				 date, exp, lm, life, pct, span;
	int64_t				 age;
	int				 weak, have_life = 0;

	if (o == NULL)
		o = &default_opts;
	if (!cr->cacheable) {
		*why = "method";
		return 0;
	}
	if (cr->no_store) {
		*why = "no-store";
		return 0;
	}
	if (!status_understood(rs->status)) {
		*why = "status";
		return 0;
	}
	cachepol_cc(h, n, &cc);
	if (cc.no_store) {
		*why = "no-store";
		return 0;
	}
	if (cc.private_) {
		*why = "private";
		return 0;
	}
	/* RFC 9111 3.5. */
	if (cr->auth && !cc.public_ && cc.s_maxage < 0 &&
	    !cc.must_revalidate) {
		*why = "authorization";
		return 0;
	}
	if (!o->store_set_cookie &&
	    hfind(h, n, "set-cookie", 10, NULL) != NULL) {
		*why = "set-cookie";
		return 0;
	}
	for (i = 0; i < n; i++) {
		if (!name_is(&h[i], "vary", 4))
			continue;
		pos = 0;
		while (http_list_next(h[i].value, h[i].value_len, &pos, &e, &el))
			if (el == 1 && e[0] == '*') {
				*why = "vary-star";
				return 0;
			}
	}

	memset(&nm, 0, sizeof(nm));
	nm.request_time = request_time;
	nm.response_time = response_time;
	nm.status = (uint16_t)rs->status;
	nm.swr = cc.swr;
	nm.sie = cc.sie;

	f = hfind(h, n, "date", 4, NULL);
	date = f != NULL ? cachepol_date(f->value, f->value_len) : -1;
	nm.date = date >= 0 ? date : response_time;

	f = hfind(h, n, "age", 3, NULL);
	if (f == NULL || parse_delta(f->value, f->value_len, &age) == -1)
		age = 0;
	nm.age = age;

	f = hfind(h, n, "last-modified", 13, NULL);
	lm = f != NULL ? cachepol_date(f->value, f->value_len) : -1;
	nm.last_modified = lm;

	/* One syntactically valid ETag that fits, else none. */
	f = hfind(h, n, "etag", 4, &cnt);
	if (f != NULL && cnt == 1 && f->value_len <= sizeof(nm.etag) &&
	    etag_parse(f->value, f->value_len, &used, &weak, &op, &el) == 0 &&
	    used == f->value_len) {
		memcpy(nm.etag, f->value, f->value_len);
		nm.etag_len = (uint16_t)f->value_len;
	}

	if (cc.no_cache)
		nm.flags |= CACHE_F_NO_CACHE;
	if (cc.must_revalidate || cc.proxy_revalidate || cc.s_maxage >= 0)
		nm.flags |= CACHE_F_MUST_REVAL;
	if (cc.public_ || cc.s_maxage >= 0 || cc.must_revalidate)
		nm.flags |= CACHE_F_AUTH_OK;

	/* Freshness lifetime, RFC 9111 4.2.1, first match wins. */
	if (cc.bad_max_age) {
		/* 4.2.1: invalid freshness information means stale. */
		life = 0;
		have_life = 1;
	} else if (cc.s_maxage >= 0) {
		life = cc.s_maxage;
		have_life = 1;
	} else if (cc.max_age >= 0) {
		life = cc.max_age;
		have_life = 1;
	} else if ((f = hfind(h, n, "expires", 7, &cnt)) != NULL) {
		/*
		 * An invalid date ("0") is in the past (5.3); several
		 * Expires fields are as good as stale (4.2.1).
		 */
		exp = cnt == 1 ? cachepol_date(f->value, f->value_len) : -1;
		life = exp > nm.date ? exp - nm.date : 0;
		have_life = 1;
	} else if ((status_heuristic(rs->status) || cc.public_) && lm >= 0) {
		/* 4.2.2: a fraction of the time since the last change. */
		pct = o->heuristic_percent;
		if (pct < 0)
			pct = 0;
		if (pct > 100)
			pct = 100;
		span = nm.date > lm ? nm.date - lm : 0;
		life = span / 100 * pct + span % 100 * pct / 100;
		if (life > o->heuristic_max)
			life = o->heuristic_max > 0 ? o->heuristic_max : 0;
		nm.flags |= CACHE_F_HEURISTIC;
		have_life = 1;
	} else if ((status_heuristic(rs->status) || cc.public_) &&
	    o->default_ttl > 0) {
		life = o->default_ttl;
		have_life = 1;
	} else if ((status_heuristic(rs->status) || cc.public_) &&
	    cc.no_cache) {
		/* Stored only to be revalidated on every use. */
		life = 0;
		have_life = 1;
	} else
		life = 0;
	if (!have_life) {
		*why = "no-lifetime";
		return 0;
	}
	nm.lifetime = life;
	*m = nm;
	*why = NULL;
	return 1;
}

int64_t
cachepol_age(const struct cache_meta *m, int64_t now)
{
	int64_t	 apparent, delay, corrected, initial, resident;

	apparent = sat_sub(m->response_time, m->date);
	if (apparent < 0)
		apparent = 0;
	delay = sat_sub(m->response_time, m->request_time);
	if (delay < 0)
		delay = 0;
	corrected = sat_add(m->age > 0 ? m->age : 0, delay);
	initial = apparent > corrected ? apparent : corrected;
	resident = sat_sub(now, m->response_time);
	if (resident < 0)
		resident = 0;
	return sat_add(initial, resident);
}

int64_t
cachepol_ttl(const struct cache_meta *m, int64_t now)
{
	return sat_sub(m->lifetime, cachepol_age(m, now));
}

enum cachepol_use_rc
cachepol_use(const struct cache_meta *m, const struct cachepol_req *cr,
    const struct cachepol_opts *o, int64_t now)
{
	int64_t	 age, ttl, stale;
	int	 ignore;

	if (!cr->cacheable || (cr->auth && !(m->flags & CACHE_F_AUTH_OK)))
		return CACHEPOL_BYPASS;
	ignore = o != NULL && o->ignore_client_no_cache;
	age = cachepol_age(m, now);
	ttl = sat_sub(m->lifetime, age);

	if (m->flags & CACHE_F_NO_CACHE)
		return CACHEPOL_REVALIDATE;
	if (cr->no_cache && !ignore)
		return CACHEPOL_REVALIDATE;
	if (cr->cc.max_age >= 0 && !(ignore && cr->cc.max_age == 0) &&
	    age > cr->cc.max_age)
		return CACHEPOL_REVALIDATE;
	if (cr->cc.min_fresh >= 0 && ttl < cr->cc.min_fresh)
		return CACHEPOL_REVALIDATE;
	if (ttl > 0)
		return CACHEPOL_FRESH;

	/* Stale: only where nothing forbids it (RFC 9111 4.2.4). */
	if (m->flags & CACHE_F_MUST_REVAL)
		return CACHEPOL_REVALIDATE;
	stale = -ttl;
	if (cr->cc.max_stale >= 0 && stale <= cr->cc.max_stale)
		return CACHEPOL_FRESH;
	if (m->swr >= 0 && stale <= m->swr)
		return CACHEPOL_STALE_SWR;
	return CACHEPOL_REVALIDATE;
}

int
cachepol_stale_if_error(const struct cache_meta *m,
    const struct cachepol_req *cr, int64_t now)
{
	int64_t	 ttl, win;

	if (!cr->cacheable || (cr->auth && !(m->flags & CACHE_F_AUTH_OK)))
		return 0;
	/* No in-protocol directive may forbid it (RFC 9111 4.2.4). */
	if (m->flags & CACHE_F_NO_CACHE)
		return 0;
	ttl = cachepol_ttl(m, now);
	if (ttl > 0)
		return 1;
	if (m->flags & CACHE_F_MUST_REVAL)
		return 0;
	/* RFC 5861 4: the response's and the request's windows both allow. */
	win = m->sie > cr->cc.sie ? m->sie : cr->cc.sie;
	return win >= 0 && -ttl <= win;
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
		return !keep_set_cookie && ci_eq(n, l, "set-cookie");
	case 11:
		return !keep_set_cookie && ci_eq(n, l, "set-cookie2");
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
 * the list is walked tag by tag with etag_parse().
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
		if (etag_parse(v + i, n - i, &used, &weak, &op, &ol) == -1)
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
	h = hfind(rq->headers, rq->nheaders, "if-modified-since", 17, &cnt);
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
		if (etag_parse(v, n, &used, &weak, &op, &ol) == -1 ||
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
	h = hfind(rq->headers, rq->nheaders, "range", 5, &cnt);
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

	h = hfind(rq->headers, rq->nheaders, "if-range", 8, &cnt);
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
