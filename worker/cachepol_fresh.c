/*
 * cachepol_fresh.c: time in the caching rules.  HTTP-dates parsed and
 * formatted without the C library's time zone code, the current age of
 * a stored response (RFC 9111 4.2.3), and how a stored response may be
 * used at a given time: fresh, stale within stale-while-revalidate or
 * stale-if-error (RFC 5861), or to be revalidated (RFC 9111 4.2, 4.2.4).
 * Pure functions, as in cachepol.c.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <stdint.h>
#include <string.h>
#include <time.h>

#include "common/cache.h"
#include "worker/cachepol.h"
#include "worker/cachepol_int.h"

/* Latest time an IMF-fixdate can hold: 9999-12-31T23:59:59Z. */
#define DATE_MAX		INT64_C(253402300799)

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

static int		 status_heuristic(int);
static int64_t		 sat_add(int64_t, int64_t);
static int64_t		 sat_sub(int64_t, int64_t);
static int64_t		 days_from_civil(int64_t, int, int);
static void		 civil_from_days(int64_t, int64_t *, int *, int *);
static int		 days_in_month(int64_t, int);
static int		 two_digits(const char *);
static int		 match_name(const char *, size_t, const char *const *,
			    int);
static int		 parse_time_of_day(const char *, int *, int *, int *);
static int64_t		 make_time(int64_t, int, int, int, int, int);
static void		 put_2d(char *, int);

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

int
cachepol_lifetime(const struct http_response *rs, const struct cachepol_cc *cc,
    const struct cachepol_opts *o, struct cache_meta *m)
{
	const struct http_header	*f;
	size_t				 cnt;
	int64_t				 exp, life, pct, span;
	int				 heuristic;

	/* Heuristic lifetimes: for these statuses, or public (4.2.2). */
	heuristic = status_heuristic(rs->status) || cc->public_;
	/* Freshness lifetime, RFC 9111 4.2.1, first match wins. */
	if (cc->bad_max_age) {
		/* 4.2.1: invalid freshness information means stale. */
		life = 0;
	} else if (cc->s_maxage >= 0)
		life = cc->s_maxage;
	else if (cc->max_age >= 0)
		life = cc->max_age;
	else if (!cc->targeted && (f = cachepol_hfind(rs->headers,
	    rs->nheaders, "expires", 7, &cnt)) != NULL) {
		/*
		 * An invalid date ("0") is in the past (5.3); several
		 * Expires fields are as good as stale (4.2.1).
		 */
		exp = cnt == 1 ? cachepol_date(f->value, f->value_len) : -1;
		life = exp > m->date ? exp - m->date : 0;
	} else if (heuristic && m->last_modified >= 0) {
		/* 4.2.2: a fraction of the time since the last change. */
		pct = o->heuristic_percent;
		if (pct < 0)
			pct = 0;
		if (pct > 100)
			pct = 100;
		span = m->date > m->last_modified ?
		    m->date - m->last_modified : 0;
		life = span / 100 * pct + span % 100 * pct / 100;
		if (life > o->heuristic_max)
			life = o->heuristic_max > 0 ? o->heuristic_max : 0;
		m->flags |= CACHE_F_HEURISTIC;
	} else if (heuristic && o->default_ttl > 0)
		life = o->default_ttl;
	else if (heuristic && cc->no_cache) {
		/* Stored only to be revalidated on every use. */
		life = 0;
	} else
		return 0;
	m->lifetime = life;
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
