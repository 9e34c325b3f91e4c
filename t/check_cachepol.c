/*
 * check_cachepol.c: unit tests for the HTTP caching rules
 * (worker/cachepol.c).  Heads are built as text and parsed with the real
 * parsers, so the rules are tested on what the HTTP cache
 * (worker/httpcache*.c) will hand them.
 */
#include <check.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cache.h"
#include "common/http.h"
#include "worker/cachepol.h"

#define NHDRS	128

/* Sun, 06 Nov 1994 08:49:37 GMT */
#define T0	INT64_C(784111777)
#define D0	"Sun, 06 Nov 1994 08:49:37 GMT"
/* 2024-01-01T00:00:00Z, "now" for two-digit years. */
#define NOW24	INT64_C(1704067200)

static struct http_limits	 lim = { 8192, 65536, NHDRS };
static char			 qbuf[8192], qbuf2[8192], sbuf[8192];
static struct http_header	 qh[NHDRS], qh2[NHDRS], sh[NHDRS];
static struct http_request	 rq, rq2;
static struct http_response	 rs;
static struct cachepol_req	 cr;
static struct cachepol_opts	 opts;
static struct cache_meta	 meta;
static const char		*why;

static void	 req(const char *, ...)
		    __attribute__((format(printf, 1, 2)));
static void	 req2(const char *, ...)
		    __attribute__((format(printf, 1, 2)));
static void	 resp(const char *, ...)
		    __attribute__((format(printf, 1, 2)));

static void
req(const char *fmt, ...)
{
	va_list	 ap;
	int	 rv;

	va_start(ap, fmt);
	vsnprintf(qbuf, sizeof(qbuf), fmt, ap);
	va_end(ap);
	rv = http_parse_request(qbuf, strlen(qbuf), &lim, &rq, qh);
	ck_assert_msg(rv == HTTP_PARSE_OK, "request %s: %d", qbuf, rv);
	cachepol_request(&rq, &cr);
}

static void
req2(const char *fmt, ...)
{
	va_list	 ap;
	int	 rv;

	va_start(ap, fmt);
	vsnprintf(qbuf2, sizeof(qbuf2), fmt, ap);
	va_end(ap);
	rv = http_parse_request(qbuf2, strlen(qbuf2), &lim, &rq2, qh2);
	ck_assert_msg(rv == HTTP_PARSE_OK, "request %s: %d", qbuf2, rv);
}

static void
resp(const char *fmt, ...)
{
	va_list	 ap;
	int	 rv;

	va_start(ap, fmt);
	vsnprintf(sbuf, sizeof(sbuf), fmt, ap);
	va_end(ap);
	rv = http_parse_response(sbuf, strlen(sbuf), &lim, &rs, sh);
	ck_assert_msg(rv == HTTP_PARSE_OK, "response %s: %d", sbuf, rv);
}

/* Storability of rs for rq (request and response both at T0). */
static int
store(void)
{
	memset(&meta, 0xa5, sizeof(meta));
	return cachepol_storable(&cr, &rs, &opts, T0, T0, &meta, &why);
}

#define STORES() do {							\
	int r_ = store();						\
	ck_assert_msg(r_ == 1, "not stored: %s", why ? why : "?");	\
	ck_assert_ptr_null(why);					\
} while (0)

#define REFUSES(reason) do {						\
	ck_assert_int_eq(store(), 0);					\
	ck_assert_str_eq(why, (reason));				\
} while (0)

/* A response with Date T0 and the given extra fields, stored for GET /. */
#define LIFETIME_OF(fields, want) do {					\
	req("GET / HTTP/1.1\r\nHost: h\r\n\r\n");			\
	resp("HTTP/1.1 200 OK\r\nDate: " D0 "\r\n" fields "\r\n");	\
	STORES();							\
	ck_assert_int_eq(meta.lifetime, (want));			\
} while (0)

static void
mkmeta(int64_t lifetime)
{
	memset(&meta, 0, sizeof(meta));
	meta.request_time = T0;
	meta.response_time = T0;
	meta.date = T0;
	meta.age = 0;
	meta.lifetime = lifetime;
	meta.last_modified = -1;
	meta.swr = -1;
	meta.sie = -1;
	meta.status = 200;
}

static void
set_etag(const char *e)
{
	meta.etag_len = (uint16_t)strlen(e);
	memcpy(meta.etag, e, meta.etag_len);
}

static int
span_eq(const char *p, int n, const char *s)
{
	return n >= 0 && (size_t)n == strlen(s) && memcmp(p, s, (size_t)n) == 0;
}

static void
setup(void)
{
	opts.store_set_cookie = 0;
	opts.ignore_client_no_cache = 0;
	opts.heuristic_max = 86400;
	opts.heuristic_percent = 10;
	opts.default_ttl = 0;
}

/* Cache-Control parsing. */

static void
cc_of(const char *fields, struct cachepol_cc *cc)
{
	req("GET / HTTP/1.1\r\nHost: h\r\n%s\r\n", fields);
	cachepol_cc(rq.headers, rq.nheaders, cc);
}

START_TEST(cc_basic)
{
	struct cachepol_cc	 cc;

	cc_of("", &cc);
	ck_assert_int_eq(cc.max_age, -1);
	ck_assert_int_eq(cc.s_maxage, -1);
	ck_assert_int_eq(cc.max_stale, -1);
	ck_assert_int_eq(cc.min_fresh, -1);
	ck_assert_int_eq(cc.swr, -1);
	ck_assert_int_eq(cc.sie, -1);
	ck_assert(!cc.no_store && !cc.no_cache && !cc.private_ &&
	    !cc.public_ && !cc.must_revalidate && !cc.proxy_revalidate &&
	    !cc.only_if_cached && !cc.bad_max_age);

	cc_of("Cache-Control: public, max-age=60, s-maxage=30, "
	    "must-revalidate, proxy-revalidate, no-cache, no-store, private, "
	    "only-if-cached, max-stale=7, min-fresh=8, "
	    "stale-while-revalidate=9, stale-if-error=10\r\n", &cc);
	ck_assert(cc.public_ && cc.no_store && cc.no_cache && cc.private_ &&
	    cc.must_revalidate && cc.proxy_revalidate && cc.only_if_cached);
	ck_assert_int_eq(cc.max_age, 60);
	ck_assert_int_eq(cc.s_maxage, 30);
	ck_assert_int_eq(cc.max_stale, 7);
	ck_assert_int_eq(cc.min_fresh, 8);
	ck_assert_int_eq(cc.swr, 9);
	ck_assert_int_eq(cc.sie, 10);
	ck_assert(!cc.bad_max_age);

	/* Names are case-insensitive; empty elements are skipped. */
	cc_of("Cache-Control: ,, MAX-AGE=5 ,\tNo-Store,,\r\n", &cc);
	ck_assert_int_eq(cc.max_age, 5);
	ck_assert(cc.no_store);

	/* Bare max-stale: any staleness. */
	cc_of("Cache-Control: max-stale\r\n", &cc);
	ck_assert_int_eq(cc.max_stale, INT64_MAX);
}
END_TEST

START_TEST(cc_multiple_fields)
{
	struct cachepol_cc	 cc;

	cc_of("Cache-Control: max-age=60\r\nX: y\r\n"
	    "cache-control: no-cache\r\nCache-Control: s-maxage=5\r\n", &cc);
	ck_assert_int_eq(cc.max_age, 60);
	ck_assert_int_eq(cc.s_maxage, 5);
	ck_assert(cc.no_cache);

	/* Look-alike names do not count. */
	cc_of("Cache-Controls: no-store\r\nX-Cache-Control: no-store\r\n", &cc);
	ck_assert(!cc.no_store);
}
END_TEST

START_TEST(cc_quoted)
{
	struct cachepol_cc	 cc;

	cc_of("Cache-Control: max-age=\"30\"\r\n", &cc);
	ck_assert_int_eq(cc.max_age, 30);
	ck_assert(!cc.bad_max_age);

	/* Commas inside a quoted argument do not split the list. */
	cc_of("Cache-Control: private=\"Set-Cookie, max-age=1\", "
	    "max-age=9\r\n", &cc);
	ck_assert(cc.private_);
	ck_assert_int_eq(cc.max_age, 9);
	cc_of("Cache-Control: no-cache=\"a,b\"\r\n", &cc);
	ck_assert(cc.no_cache);
	cc_of("Cache-Control: foo=\"x, no-store, \\\" no-store\", public\r\n",
	    &cc);
	ck_assert(!cc.no_store);
	ck_assert(cc.public_);

	/* An escape inside a number makes it invalid. */
	cc_of("Cache-Control: max-age=\"3\\0\"\r\n", &cc);
	ck_assert(cc.bad_max_age);
	ck_assert_int_eq(cc.max_age, -1);

	/* Unterminated: the rest is one bad element. */
	cc_of("Cache-Control: max-age=\"5, no-store\r\n", &cc);
	ck_assert(cc.bad_max_age);
	ck_assert(!cc.no_store);
	cc_of("Cache-Control: private=\"abc\r\n", &cc);
	ck_assert(cc.private_);
}
END_TEST

START_TEST(cc_unknown)
{
	struct cachepol_cc	 cc;

	cc_of("Cache-Control: foo, bar=baz, x-y=\"q\", immutable, "
	    "max-agex=5, s-maxagee=1, max-age=3\r\n", &cc);
	ck_assert_int_eq(cc.max_age, 3);
	ck_assert_int_eq(cc.s_maxage, -1);
	ck_assert(!cc.bad_max_age && !cc.no_store && !cc.public_);

	/* Junk and lone separators are skipped over. */
	cc_of("Cache-Control: =5, @@, \"q\", public\r\n", &cc);
	ck_assert(cc.public_);
}
END_TEST

START_TEST(cc_invalid_numbers)
{
	static const char	*bad[] = {
		"max-age=abc", "max-age=-1", "max-age=", "max-age",
		"max-age = 5", "max-age =5", "max-age= 5", "max-age=5x",
		"max-age=5 x", "max-age=1.5", "max-age=+5", "max-age=\"\"",
		"s-maxage=x", "s-maxage",
	};
	struct cachepol_cc	 cc;
	size_t			 i;
	char			 f[128];

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(f, sizeof(f), "Cache-Control: %s\r\n", bad[i]);
		cc_of(f, &cc);
		ck_assert_msg(cc.bad_max_age, "%s", bad[i]);
		ck_assert_int_eq(cc.max_age, -1);
		ck_assert_int_eq(cc.s_maxage, -1);
	}

	/* Other numeric directives: an invalid one is ignored. */
	cc_of("Cache-Control: min-fresh=x, stale-while-revalidate=-1, "
	    "stale-if-error=, max-stale=z\r\n", &cc);
	ck_assert_int_eq(cc.min_fresh, -1);
	ck_assert_int_eq(cc.swr, -1);
	ck_assert_int_eq(cc.sie, -1);
	ck_assert_int_eq(cc.max_stale, -1);
	ck_assert(!cc.bad_max_age);

	/* Huge values are capped at 2^31 (RFC 9111 1.2.2). */
	cc_of("Cache-Control: max-age=99999999999999999999999999\r\n", &cc);
	ck_assert_int_eq(cc.max_age, INT64_C(2147483648));
	cc_of("Cache-Control: max-age=2147483647\r\n", &cc);
	ck_assert_int_eq(cc.max_age, INT64_C(2147483647));
	cc_of("Cache-Control: max-age=0000000000000000000000000007\r\n", &cc);
	ck_assert_int_eq(cc.max_age, 7);
}
END_TEST

START_TEST(cc_duplicates)
{
	struct cachepol_cc	 cc;

	cc_of("Cache-Control: max-age=10, max-age=5, max-age=7\r\n", &cc);
	ck_assert_int_eq(cc.max_age, 5);
	cc_of("Cache-Control: max-age=5\r\nCache-Control: max-age=10\r\n", &cc);
	ck_assert_int_eq(cc.max_age, 5);
	cc_of("Cache-Control: max-stale, max-stale=5\r\n", &cc);
	ck_assert_int_eq(cc.max_stale, 5);
	cc_of("Cache-Control: stale-if-error=50, stale-if-error=20, "
	    "stale-while-revalidate=3, stale-while-revalidate=30\r\n", &cc);
	ck_assert_int_eq(cc.sie, 20);
	ck_assert_int_eq(cc.swr, 3);
	/* One bad copy marks the whole as bad, keeping the good value. */
	cc_of("Cache-Control: max-age=10, max-age=x\r\n", &cc);
	ck_assert_int_eq(cc.max_age, 10);
	ck_assert(cc.bad_max_age);
}
END_TEST

/* Dates. */

START_TEST(date_formats)
{
	static const char	*ok[] = {
		"Sun, 06 Nov 1994 08:49:37 GMT",
		"Sunday, 06-Nov-94 08:49:37 GMT",
		"Sun Nov  6 08:49:37 1994",
		"Sun Nov 06 08:49:37 1994",
		/* RFC 9111 4.2: a cache matches case-insensitively. */
		"sun, 06 nov 1994 08:49:37 gmt",
		"SUNDAY, 06-NOV-94 08:49:37 GMT",
		"SUN NOV  6 08:49:37 1994",
	};
	size_t	 i;

	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		ck_assert_msg(cachepol_date_at(ok[i], strlen(ok[i]), NOW24) ==
		    T0, "%s", ok[i]);
	ck_assert_int_eq(cachepol_date(D0, strlen(D0)), T0);

	ck_assert_int_eq(cachepol_date_at("Thu, 01 Jan 1970 00:00:00 GMT", 29,
	    NOW24), 0);
	ck_assert_int_eq(cachepol_date_at("Thu, 01 Jan 1970 00:00:01 GMT", 29,
	    NOW24), 1);
	/* Before the epoch: valid, and as far in the past as needed. */
	ck_assert_int_eq(cachepol_date_at("Wed, 31 Dec 1969 23:59:59 GMT", 29,
	    NOW24), 0);
	ck_assert_int_eq(cachepol_date_at("Mon, 01 Jan 0001 00:00:00 GMT", 29,
	    NOW24), 0);
	ck_assert_int_eq(cachepol_date_at("Fri, 31 Dec 9999 23:59:59 GMT", 29,
	    NOW24), INT64_C(253402300799));
	/* Leap days and a leap second. */
	ck_assert_int_eq(cachepol_date_at("Thu, 29 Feb 2024 00:00:00 GMT", 29,
	    NOW24), INT64_C(1709164800));
	ck_assert_int_eq(cachepol_date_at("Tue, 29 Feb 2000 12:00:00 GMT", 29,
	    NOW24), INT64_C(951825600));
	ck_assert_int_eq(cachepol_date_at("Sat, 31 Dec 2016 23:59:60 GMT", 29,
	    NOW24), INT64_C(1483228800));
	ck_assert_int_eq(cachepol_date_at("Mon, 01 Mar 2100 00:00:00 GMT", 29,
	    NOW24), INT64_C(4107542400));
}
END_TEST

START_TEST(date_invalid)
{
	static const char	*bad[] = {
		"", "0", "-1", "now", "1994-11-06T08:49:37Z",
		"Sun, 06 Nov 1994 08:49:37 UTC",
		"Sun, 06 Nov 1994 08:49:37 +0000",
		"Sun, 6 Nov 1994 08:49:37 GMT",
		"Sun, 06 Nov 94 08:49:37 GMT",
		"Sun, 06 Nov 1994 08:49:37 GMT ",
		" Sun, 06 Nov 1994 08:49:37 GMT",
		"Sun,  06 Nov 1994 08:49:37 GMT",
		"Sun, 06 Nov 1994 08:49:37  GMT",
		"Sun 06 Nov 1994 08:49:37 GMT",
		"Xyz, 06 Nov 1994 08:49:37 GMT",
		"Sunday, 06 Nov 1994 08:49:37 GMT",
		"Sun, 06 Foo 1994 08:49:37 GMT",
		"Sun, 06-Nov-1994 08:49:37 GMT",
		"Sun, 00 Nov 1994 08:49:37 GMT",
		"Sun, 31 Nov 1994 08:49:37 GMT",
		"Sun, 29 Feb 2023 08:49:37 GMT",
		"Sun, 29 Feb 1900 08:49:37 GMT",
		"Sun, 06 Nov 1994 24:00:00 GMT",
		"Sun, 06 Nov 1994 08:60:00 GMT",
		"Sun, 06 Nov 1994 08:49:61 GMT",
		"Sun, 06 Nov 1994 08-49-37 GMT",
		"Sun, 06 Nov 1994 8:49:37 GMT ",
		"Sun, 06 Nov 199a 08:49:37 GMT",
		"Sun, 0x Nov 1994 08:49:37 GMT",
		"Sunday, 06-Nov-94 08:49:37 UTC",
		"Sunday,06-Nov-94 08:49:37 GMT",
		"Sunday, 06 Nov 94 08:49:37 GMT",
		"Sunday, 06-Nov-94 08:49:37 GMT ",
		"Sundae, 06-Nov-94 08:49:37 GMT",
		"Sun, 06-Nov-94 08:49:37 GMT",
		"Wednesdays, 06-Nov-94 08:49:37 GMT",
		"Sun Nov 6 08:49:37 1994",
		"Sun Nov  6 08:49:37 94",
		"Sun Nov  6 08:49:37 1994 ",
		"Sun Nov   6 08:49:37 1994",
		"Sun Nov  x 08:49:37 1994",
		"Sun Nov  6 08:49:37 GMT",
		"Sun Nox  6 08:49:37 1994",
		"Sun, 06 Nov 1994 08:49:37 G\0T",
	};
	size_t	 i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(cachepol_date_at(bad[i], strlen(bad[i]), NOW24) ==
		    -1, "%s", bad[i]);
	/* Embedded NUL, and a length shorter than the string. */
	ck_assert_int_eq(cachepol_date_at("Sun, 06 Nov 1994 08:49:37 G\0T", 29,
	    NOW24), -1);
	ck_assert_int_eq(cachepol_date_at(D0, 28, NOW24), -1);
	ck_assert_int_eq(cachepol_date_at(NULL, 0, NOW24), -1);
}
END_TEST

START_TEST(date_two_digit_year)
{
	/* Now 2024: 50 years ahead is fine, 51 is the past century. */
	ck_assert_int_eq(cachepol_date_at("Monday, 01-Jan-74 00:00:00 GMT",
	    30, NOW24), INT64_C(3281990400));	/* 2074 */
	ck_assert_int_eq(cachepol_date_at("Wednesday, 01-Jan-75 00:00:00 GMT",
	    33, NOW24), INT64_C(157766400));	/* 1975 */
	ck_assert_int_eq(cachepol_date_at("Saturday, 01-Jan-00 00:00:00 GMT",
	    32, NOW24), INT64_C(946684800));	/* 2000 */
	ck_assert_int_eq(cachepol_date_at("Monday, 01-Jan-24 00:00:00 GMT",
	    30, NOW24), NOW24);
	/* Now 2099: "00" is 2100, not 2000 (99 years back). */
	ck_assert_int_eq(cachepol_date_at("Friday, 01-Jan-00 00:00:00 GMT",
	    30, INT64_C(4070908800)), INT64_C(4102444800));
	/* The weekday is not checked against the date. */
	ck_assert_int_eq(cachepol_date_at("Monday, 06-Nov-94 08:49:37 GMT",
	    30, NOW24), T0);
}
END_TEST

START_TEST(date_fmt)
{
	char	 b[30];
	int64_t	 t;

	ck_assert_uint_eq(cachepol_fmt_date(T0, b), 29);
	ck_assert_str_eq(b, D0);
	cachepol_fmt_date(0, b);
	ck_assert_str_eq(b, "Thu, 01 Jan 1970 00:00:00 GMT");
	cachepol_fmt_date(-5, b);
	ck_assert_str_eq(b, "Thu, 01 Jan 1970 00:00:00 GMT");
	cachepol_fmt_date(INT64_C(1709164800), b);
	ck_assert_str_eq(b, "Thu, 29 Feb 2024 00:00:00 GMT");
	cachepol_fmt_date(INT64_C(253402300799), b);
	ck_assert_str_eq(b, "Fri, 31 Dec 9999 23:59:59 GMT");
	cachepol_fmt_date(INT64_MAX, b);
	ck_assert_str_eq(b, "Fri, 31 Dec 9999 23:59:59 GMT");

	/* Round trip over 1970..2500 with an odd stride. */
	for (t = 0; t < INT64_C(16725225600); t += 7777777 + t / 1000)
		ck_assert_int_eq(cachepol_date_at(b, cachepol_fmt_date(t, b),
		    NOW24), t);
}
END_TEST

/* Freshness lifetime. */

START_TEST(fresh_sources)
{
	char	 f[256], d[30];

	/* max-age */
	LIFETIME_OF("Cache-Control: max-age=60\r\n", 60);
	ck_assert_uint_eq(meta.flags, 0);
	ck_assert_int_eq(meta.date, T0);
	ck_assert_int_eq(meta.request_time, T0);
	ck_assert_int_eq(meta.response_time, T0);
	ck_assert_int_eq(meta.age, 0);
	ck_assert_int_eq(meta.last_modified, -1);
	ck_assert_int_eq(meta.swr, -1);
	ck_assert_int_eq(meta.sie, -1);
	ck_assert_uint_eq(meta.status, 200);
	ck_assert_uint_eq(meta.etag_len, 0);

	/* s-maxage, which also means proxy-revalidate. */
	LIFETIME_OF("Cache-Control: s-maxage=30\r\n", 30);
	ck_assert(meta.flags & CACHE_F_MUST_REVAL);

	/* Expires - Date */
	cachepol_fmt_date(T0 + 3600, d);
	snprintf(f, sizeof(f), "Expires: %s\r\n", d);
	req("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
	resp("HTTP/1.1 200 OK\r\nDate: " D0 "\r\n%s\r\n", f);
	STORES();
	ck_assert_int_eq(meta.lifetime, 3600);

	/* Expires without Date: the time the response arrived. */
	resp("HTTP/1.1 200 OK\r\n%s\r\n", f);
	ck_assert_int_eq(cachepol_storable(&cr, &rs, &opts, T0 + 100, T0 + 100,
	    &meta, &why), 1);
	ck_assert_int_eq(meta.date, T0 + 100);
	ck_assert_int_eq(meta.lifetime, 3500);

	/* An invalid Date is no Date either. */
	resp("HTTP/1.1 200 OK\r\nDate: yesterday\r\n%s\r\n", f);
	ck_assert_int_eq(cachepol_storable(&cr, &rs, &opts, T0 + 100, T0 + 100,
	    &meta, &why), 1);
	ck_assert_int_eq(meta.date, T0 + 100);

	/* Expires in the past, or invalid ("0"): stored, already stale. */
	LIFETIME_OF("Expires: Sun, 06 Nov 1994 07:49:37 GMT\r\n", 0);
	LIFETIME_OF("Expires: 0\r\n", 0);
	LIFETIME_OF("Expires: -1\r\n", 0);
	LIFETIME_OF("Expires: " D0 "\r\n", 0);
	/* Several Expires fields count as stale. */
	LIFETIME_OF("Expires: Sun, 06 Nov 1994 09:49:37 GMT\r\n"
	    "Expires: Sun, 06 Nov 1994 09:49:37 GMT\r\n", 0);

	/* Explicit zero. */
	LIFETIME_OF("Cache-Control: max-age=0\r\n", 0);
	/* Invalid max-age: stale, even with a valid Expires. */
	LIFETIME_OF("Cache-Control: max-age=x\r\n"
	    "Expires: Sun, 06 Nov 1994 09:49:37 GMT\r\n", 0);
}
END_TEST

START_TEST(fresh_precedence)
{
	LIFETIME_OF("Cache-Control: max-age=60, s-maxage=10\r\n"
	    "Expires: Sun, 06 Nov 1994 09:49:37 GMT\r\n", 10);
	LIFETIME_OF("Cache-Control: s-maxage=100, max-age=10\r\n", 100);
	LIFETIME_OF("Cache-Control: max-age=60\r\n"
	    "Expires: Sun, 06 Nov 1994 09:49:37 GMT\r\n", 60);
	LIFETIME_OF("Expires: Sun, 06 Nov 1994 09:49:37 GMT\r\n"
	    "Cache-Control: max-age=0\r\n", 0);
	/* Explicit beats heuristic. */
	LIFETIME_OF("Last-Modified: Sun, 06 Oct 1994 08:49:37 GMT\r\n"
	    "Expires: Sun, 06 Nov 1994 08:59:37 GMT\r\n", 600);
	ck_assert(!(meta.flags & CACHE_F_HEURISTIC));
	/* Explicit beats default_ttl. */
	opts.default_ttl = 999;
	LIFETIME_OF("Cache-Control: max-age=5\r\n", 5);
}
END_TEST

START_TEST(fresh_heuristic)
{
	static const int	 heur[] = {
		200, 203, 204, 300, 301, 308, 404, 405, 410, 414, 501
	};
	static const int	 other[] = {
		201, 202, 205, 302, 303, 307, 400, 401, 403, 406, 409, 415,
		422, 451, 500, 502, 503, 504, 505
	};
	size_t			 i;

	/* 10% of 10000 s. */
	LIFETIME_OF("Last-Modified: Sun, 06 Nov 1994 06:02:57 GMT\r\n", 1000);
	ck_assert(meta.flags & CACHE_F_HEURISTIC);
	ck_assert_int_eq(meta.last_modified, T0 - 10000);
	/* Capped at heuristic_max: 10% of 60 days is 6 days. */
	LIFETIME_OF("Last-Modified: Wed, 07 Sep 1994 08:49:37 GMT\r\n", 86400);
	opts.heuristic_max = 3600;
	LIFETIME_OF("Last-Modified: Sun, 06 Nov 1994 06:02:57 GMT\r\n", 1000);
	LIFETIME_OF("Last-Modified: Sat, 05 Nov 1994 08:49:37 GMT\r\n", 3600);
	opts.heuristic_max = 0;
	LIFETIME_OF("Last-Modified: Sat, 05 Nov 1994 08:49:37 GMT\r\n", 0);
	opts.heuristic_max = 86400;
	opts.heuristic_percent = 50;
	LIFETIME_OF("Last-Modified: Sun, 06 Nov 1994 08:48:37 GMT\r\n", 30);
	opts.heuristic_percent = 10;
	/* Last-Modified after Date: nothing to go on, lifetime 0. */
	LIFETIME_OF("Last-Modified: Sun, 06 Nov 1994 09:49:37 GMT\r\n", 0);
	ck_assert(meta.flags & CACHE_F_HEURISTIC);

	/* Heuristically cacheable statuses only (or public). */
	req("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
	for (i = 0; i < sizeof(heur) / sizeof(heur[0]); i++) {
		resp("HTTP/1.1 %d X\r\nDate: " D0 "\r\nLast-Modified: "
		    "Sun, 06 Nov 1994 06:02:57 GMT\r\n\r\n", heur[i]);
		ck_assert_msg(store() == 1, "%d", heur[i]);
		ck_assert_int_eq(meta.lifetime, 1000);
	}
	for (i = 0; i < sizeof(other) / sizeof(other[0]); i++) {
		resp("HTTP/1.1 %d X\r\nDate: " D0 "\r\nLast-Modified: "
		    "Sun, 06 Nov 1994 06:02:57 GMT\r\n\r\n", other[i]);
		ck_assert_msg(store() == 0, "%d", other[i]);
		ck_assert_str_eq(why, "no-lifetime");
		resp("HTTP/1.1 %d X\r\nDate: " D0 "\r\nLast-Modified: "
		    "Sun, 06 Nov 1994 06:02:57 GMT\r\nCache-Control: public"
		    "\r\n\r\n", other[i]);
		ck_assert_msg(store() == 1, "%d public", other[i]);
		ck_assert_int_eq(meta.lifetime, 1000);
		resp("HTTP/1.1 %d X\r\nDate: " D0 "\r\nCache-Control: "
		    "max-age=7\r\n\r\n", other[i]);
		ck_assert_msg(store() == 1, "%d max-age", other[i]);
		ck_assert_int_eq(meta.lifetime, 7);
	}
	/* No Last-Modified, no explicit lifetime: not stored. */
	resp("HTTP/1.1 200 OK\r\nDate: " D0 "\r\n\r\n");
	REFUSES("no-lifetime");
	/* An invalid Last-Modified is none. */
	resp("HTTP/1.1 200 OK\r\nDate: " D0 "\r\nLast-Modified: 0\r\n\r\n");
	REFUSES("no-lifetime");
}
END_TEST

START_TEST(fresh_default_ttl)
{
	opts.default_ttl = 300;
	LIFETIME_OF("", 300);
	ck_assert(!(meta.flags & CACHE_F_HEURISTIC));
	/* The RFC heuristic first, when it can. */
	LIFETIME_OF("Last-Modified: Sun, 06 Nov 1994 06:02:57 GMT\r\n", 1000);
	/* Not for statuses that need an explicit lifetime... */
	resp("HTTP/1.1 302 Found\r\nDate: " D0 "\r\nLocation: /x\r\n\r\n");
	REFUSES("no-lifetime");
	resp("HTTP/1.1 503 Busy\r\nDate: " D0 "\r\n\r\n");
	REFUSES("no-lifetime");
	/* ...unless public. */
	resp("HTTP/1.1 302 Found\r\nDate: " D0 "\r\nCache-Control: public\r\n"
	    "\r\n");
	STORES();
	ck_assert_int_eq(meta.lifetime, 300);
	/* public alone, no default: nothing to compute a lifetime from. */
	opts.default_ttl = 0;
	REFUSES("no-lifetime");
}
END_TEST

/* Age. */

START_TEST(age_calc)
{
	mkmeta(100);
	ck_assert_int_eq(cachepol_age(&meta, T0), 0);
	ck_assert_int_eq(cachepol_age(&meta, T0 + 10), 10);
	ck_assert_int_eq(cachepol_ttl(&meta, T0 + 10), 90);
	ck_assert_int_eq(cachepol_ttl(&meta, T0 + 150), -50);
	/* The clock went back: no negative resident time. */
	ck_assert_int_eq(cachepol_age(&meta, T0 - 10), 0);

	/* Age field plus the request's round trip. */
	meta.request_time = T0 - 5;
	meta.age = 30;
	ck_assert_int_eq(cachepol_age(&meta, T0), 35);
	ck_assert_int_eq(cachepol_age(&meta, T0 + 10), 45);

	/* The apparent age wins when larger. */
	meta.date = T0 - 50;
	ck_assert_int_eq(cachepol_age(&meta, T0), 50);
	ck_assert_int_eq(cachepol_age(&meta, T0 + 1), 51);

	/* A Date in the future: apparent age 0. */
	meta.date = T0 + 500;
	meta.age = 0;
	meta.request_time = T0;
	ck_assert_int_eq(cachepol_age(&meta, T0 + 3), 3);

	/* A request_time after response_time does not go negative. */
	meta.date = T0;
	meta.request_time = T0 + 20;
	ck_assert_int_eq(cachepol_age(&meta, T0), 0);

	/* Extreme values saturate instead of overflowing. */
	meta.age = INT64_MAX;
	ck_assert_int_eq(cachepol_age(&meta, INT64_MAX), INT64_MAX);
	meta.age = 0;
	meta.date = INT64_MIN;
	meta.lifetime = INT64_MIN;
	ck_assert_int_eq(cachepol_age(&meta, T0), INT64_MAX);
	ck_assert_int_eq(cachepol_ttl(&meta, T0), INT64_MIN);
}
END_TEST

START_TEST(age_from_response)
{
	req("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
	resp("HTTP/1.1 200 OK\r\nDate: " D0 "\r\nAge: 40\r\n"
	    "Cache-Control: max-age=100\r\n\r\n");
	ck_assert_int_eq(cachepol_storable(&cr, &rs, &opts, T0 - 2, T0 + 3,
	    &meta, &why), 1);
	ck_assert_int_eq(meta.age, 40);
	/* corrected_age_value 45 beats apparent_age 3 */
	ck_assert_int_eq(cachepol_age(&meta, T0 + 3), 45);
	ck_assert_int_eq(cachepol_age(&meta, T0 + 13), 55);
	ck_assert_int_eq(cachepol_ttl(&meta, T0 + 13), 45);

	/* Apparent age from a Date far behind. */
	resp("HTTP/1.1 200 OK\r\nDate: Sun, 06 Nov 1994 08:48:37 GMT\r\n"
	    "Age: 10\r\nCache-Control: max-age=100\r\n\r\n");
	ck_assert_int_eq(cachepol_storable(&cr, &rs, &opts, T0, T0, &meta,
	    &why), 1);
	ck_assert_int_eq(cachepol_age(&meta, T0), 60);

	/* An invalid Age counts as 0; a huge one is capped. */
	resp("HTTP/1.1 200 OK\r\nDate: " D0 "\r\nAge: -3\r\n"
	    "Cache-Control: max-age=100\r\n\r\n");
	STORES();
	ck_assert_int_eq(meta.age, 0);
	resp("HTTP/1.1 200 OK\r\nDate: " D0 "\r\nAge: 1.5\r\n"
	    "Cache-Control: max-age=100\r\n\r\n");
	STORES();
	ck_assert_int_eq(meta.age, 0);
	/* A list: its first member (RFC 9111 5.1). */
	resp("HTTP/1.1 200 OK\r\nDate: " D0 "\r\nAge: 7200, 0\r\n"
	    "Cache-Control: max-age=100\r\n\r\n");
	STORES();
	ck_assert_int_eq(meta.age, 7200);
	ck_assert_int_eq(cachepol_use(&meta, &cr, &opts, T0),
	    CACHEPOL_REVALIDATE);
	resp("HTTP/1.1 200 OK\r\nDate: " D0 "\r\nAge: 30 ,7200\r\n"
	    "Age: 9000\r\nCache-Control: max-age=100\r\n\r\n");
	STORES();
	ck_assert_int_eq(meta.age, 30);
	resp("HTTP/1.1 200 OK\r\nDate: " D0 "\r\nAge: , 50\r\n"
	    "Cache-Control: max-age=100\r\n\r\n");
	STORES();
	ck_assert_int_eq(meta.age, 50);
	resp("HTTP/1.1 200 OK\r\nDate: " D0 "\r\nAge: x, 50\r\n"
	    "Cache-Control: max-age=100\r\n\r\n");
	STORES();
	ck_assert_int_eq(meta.age, 0);
	resp("HTTP/1.1 200 OK\r\nDate: " D0 "\r\nAge: 99999999999999999999\r\n"
	    "Cache-Control: max-age=100\r\n\r\n");
	STORES();
	ck_assert_int_eq(meta.age, INT64_C(2147483648));
	ck_assert_int_eq(cachepol_use(&meta, &cr, &opts, T0),
	    CACHEPOL_REVALIDATE);
}
END_TEST

/* Storing. */

START_TEST(store_reasons)
{
	/* The request. */
	req("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n");
	resp("HTTP/1.1 200 OK\r\nCache-Control: max-age=60\r\n\r\n");
	REFUSES("method");
	req("GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\n");
	REFUSES("method");
	req("GET / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n");
	REFUSES("method");
	req("GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n"
	    "Connection: upgrade\r\n\r\n");
	REFUSES("method");
	req("GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n");
	STORES();
	req("HEAD / HTTP/1.1\r\nHost: h\r\n\r\n");
	STORES();
	req("GET / HTTP/1.1\r\nHost: h\r\nCache-Control: no-store\r\n\r\n");
	REFUSES("no-store");

	/* The status. */
	req("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
	resp("HTTP/1.1 206 Partial Content\r\nCache-Control: max-age=60\r\n"
	    "Content-Range: bytes 0-1/10\r\n\r\n");
	REFUSES("status");
	resp("HTTP/1.1 304 Not Modified\r\nCache-Control: max-age=60\r\n\r\n");
	REFUSES("status");
	resp("HTTP/1.1 100 Continue\r\nCache-Control: max-age=60\r\n\r\n");
	REFUSES("status");
	resp("HTTP/1.1 103 Early Hints\r\nCache-Control: max-age=60\r\n\r\n");
	REFUSES("status");
	resp("HTTP/1.1 407 Auth\r\nCache-Control: max-age=60\r\n\r\n");
	REFUSES("status");
	resp("HTTP/1.1 416 Range\r\nCache-Control: max-age=60\r\n\r\n");
	REFUSES("status");
	resp("HTTP/1.1 412 Failed\r\nCache-Control: max-age=60\r\n\r\n");
	REFUSES("status");
	resp("HTTP/1.1 429 Slow\r\nCache-Control: max-age=60\r\n\r\n");
	REFUSES("status");
	/* Unknown statuses: with explicit freshness only (RFC 9111 3). */
	resp("HTTP/1.1 299 Odd\r\nCache-Control: max-age=60\r\n\r\n");
	STORES();
	ck_assert_int_eq(meta.lifetime, 60);
	ck_assert_int_eq(meta.status, 299);
	resp("HTTP/1.1 499 Odd\r\nCache-Control: s-maxage=5\r\n\r\n");
	STORES();
	resp("HTTP/1.1 599 Odd\r\nDate: " D0 "\r\nExpires: "
	    "Sun, 06 Nov 1994 08:50:37 GMT\r\n\r\n");
	STORES();
	ck_assert_int_eq(meta.lifetime, 60);
	resp("HTTP/1.1 299 Odd\r\nCache-Control: public\r\n"
	    "Last-Modified: Sun, 06 Nov 1994 06:02:57 GMT\r\n\r\n");
	REFUSES("no-lifetime");
	resp("HTTP/1.1 299 Odd\r\nCache-Control: max-age=x\r\n\r\n");
	REFUSES("no-lifetime");
	/* must-understand: only an understood status, ignoring no-store. */
	resp("HTTP/1.1 299 Odd\r\nCache-Control: max-age=60, "
	    "must-understand, no-store\r\n\r\n");
	REFUSES("status");
	resp("HTTP/1.1 299 Odd\r\nCache-Control: max-age=60, "
	    "must-understand\r\n\r\n");
	REFUSES("status");
	resp("HTTP/1.1 200 OK\r\nCache-Control: max-age=60, "
	    "must-understand, no-store\r\n\r\n");
	STORES();
	ck_assert_int_eq(meta.lifetime, 60);
	resp("HTTP/1.1 200 OK\r\nCache-Control: max-age=60, no-store\r\n"
	    "Cache-Control: MUST-UNDERSTAND\r\n\r\n");
	STORES();
	resp("HTTP/1.1 404 Not Found\r\nCache-Control: max-age=60, "
	    "private, must-understand\r\n\r\n");
	REFUSES("private");

	/* The response's directives. */
	resp("HTTP/1.1 200 OK\r\nCache-Control: max-age=60, no-store\r\n\r\n");
	REFUSES("no-store");
	resp("HTTP/1.1 200 OK\r\nCache-Control: max-age=60, private\r\n\r\n");
	REFUSES("private");
	resp("HTTP/1.1 200 OK\r\nCache-Control: max-age=60, "
	    "private=\"Set-Cookie\"\r\n\r\n");
	REFUSES("private");
	resp("HTTP/1.1 200 OK\r\nCache-Control: public, max-age=60\r\n"
	    "Cache-Control: PRIVATE\r\n\r\n");
	REFUSES("private");

	/* Set-Cookie. */
	resp("HTTP/1.1 200 OK\r\nCache-Control: max-age=60\r\n"
	    "Set-Cookie: a=b\r\n\r\n");
	REFUSES("set-cookie");
	opts.store_set_cookie = 1;
	STORES();
	opts.store_set_cookie = 0;

	/* Vary: *. */
	resp("HTTP/1.1 200 OK\r\nCache-Control: max-age=60\r\nVary: *\r\n\r\n");
	REFUSES("vary-star");
	resp("HTTP/1.1 200 OK\r\nCache-Control: max-age=60\r\n"
	    "Vary: Accept\r\nVary: accept-encoding , *\r\n\r\n");
	REFUSES("vary-star");
	resp("HTTP/1.1 200 OK\r\nCache-Control: max-age=60\r\n"
	    "Vary: Accept\r\n\r\n");
	STORES();

	/* A Range request's full answer may be stored. */
	req("GET / HTTP/1.1\r\nHost: h\r\nRange: bytes=0-1\r\n\r\n");
	STORES();
	/* A NULL opts pointer: the defaults. */
	resp("HTTP/1.1 200 OK\r\nDate: " D0 "\r\nLast-Modified: "
	    "Sun, 06 Nov 1994 06:02:57 GMT\r\n\r\n");
	ck_assert_int_eq(cachepol_storable(&cr, &rs, NULL, T0, T0, &meta,
	    &why), 1);
	ck_assert_int_eq(meta.lifetime, 1000);
}
END_TEST

/* Targeted cache fields (RFC 9213). */
static const char *const tnames[] = {
	"portico-cache-control", "cdn-cache-control"
};

START_TEST(targeted_fields)
{
	char	 head[512];
	size_t	 n;

	opts.targeted = tnames;
	opts.ntargeted = 2;
	/* It replaces Cache-Control, both ways. */
	LIFETIME_OF("CDN-Cache-Control: max-age=600\r\n"
	    "Cache-Control: no-store\r\n", 600);
	resp("HTTP/1.1 200 OK\r\nCache-Control: max-age=60\r\n"
	    "CDN-Cache-Control: no-store\r\n\r\n");
	REFUSES("no-store");
	resp("HTTP/1.1 200 OK\r\nCache-Control: max-age=60\r\n"
	    "cdn-CACHE-control: private=\"set-cookie\"\r\n\r\n");
	REFUSES("private");
	/* The list's order, not the response's. */
	LIFETIME_OF("CDN-Cache-Control: max-age=600\r\n"
	    "Portico-Cache-Control: max-age=5\r\n", 5);
	/* An invalid or empty one is skipped as a whole. */
	LIFETIME_OF("Portico-Cache-Control: Max-Age=5\r\n"
	    "CDN-Cache-Control: max-age=600\r\n", 600);
	LIFETIME_OF("Portico-Cache-Control: max-age=5, no-store,\r\n"
	    "CDN-Cache-Control: max-age=600\r\n", 600);
	LIFETIME_OF("Portico-Cache-Control: max-age=5\r\n"
	    "Portico-Cache-Control: \r\nCDN-Cache-Control: max-age=600\r\n", 5);
	LIFETIME_OF("Portico-Cache-Control: \r\n"
	    "CDN-Cache-Control: max-age=600\r\nCache-Control: max-age=60\r\n",
	    600);
	LIFETIME_OF("Portico-Cache-Control: max-age=(1)x\r\n"
	    "CDN-Cache-Control: max-age=60 ;\r\nCache-Control: max-age=70\r\n",
	    70);
	/* Several lines are one value. */
	resp("HTTP/1.1 200 OK\r\nCDN-Cache-Control: max-age=600\r\n"
	    "Cache-Control: max-age=60\r\nCDN-Cache-Control: no-store\r\n\r\n");
	REFUSES("no-store");
	/* Types: a max-age that is no Integer is stale; ?0 is absent. */
	LIFETIME_OF("CDN-Cache-Control: max-age=?1\r\n", 0);
	LIFETIME_OF("CDN-Cache-Control: max-age=\"60\"\r\n", 0);
	LIFETIME_OF("CDN-Cache-Control: max-age=1.5\r\n", 0);
	LIFETIME_OF("CDN-Cache-Control: max-age=-1\r\n", 0);
	LIFETIME_OF("CDN-Cache-Control: max-age=x, max-age=30\r\n", 30);
	LIFETIME_OF("CDN-Cache-Control: max-age=60, no-store=?0, "
	    "private=?0\r\n", 60);
	LIFETIME_OF("CDN-Cache-Control: max-age=60;x=1, s-maxage=9\r\n", 9);
	ck_assert(meta.flags & CACHE_F_MUST_REVAL);
	LIFETIME_OF("CDN-Cache-Control: max-age=99999999999, "
	    "stale-while-revalidate=30, stale-if-error=90\r\n",
	    INT64_C(2147483648));
	ck_assert_int_eq(meta.swr, 30);
	ck_assert_int_eq(meta.sie, 90);
	/* Expires does not count beside it. */
	resp("HTTP/1.1 200 OK\r\nDate: " D0 "\r\nCDN-Cache-Control: public\r\n"
	    "Expires: Sun, 06 Nov 1994 09:49:37 GMT\r\n\r\n");
	REFUSES("no-lifetime");
	resp("HTTP/1.1 299 Odd\r\nDate: " D0 "\r\nCDN-Cache-Control: public\r\n"
	    "Expires: Sun, 06 Nov 1994 09:49:37 GMT\r\n\r\n");
	REFUSES("no-lifetime");
	resp("HTTP/1.1 299 Odd\r\nCDN-Cache-Control: must-understand, "
	    "no-store, max-age=60\r\n\r\n");
	REFUSES("status");
	/* Without a target list it is just another field. */
	opts.targeted = NULL;
	opts.ntargeted = 0;
	LIFETIME_OF("CDN-Cache-Control: max-age=600\r\n"
	    "Cache-Control: max-age=60\r\n", 60);

	ck_assert(cachepol_targeted_name(tnames, 2, "CDN-Cache-Control", 17));
	ck_assert(!cachepol_targeted_name(tnames, 2, "CDN-Cache-Contro", 16));
	ck_assert(!cachepol_targeted_name(tnames, 1, "CDN-Cache-Control", 17));
	ck_assert(!cachepol_targeted_name(NULL, 0, "x", 1));
	strcpy(head, "HTTP/1.1 200 OK\r\nCDN-Cache-Control: max-age=6\r\n"
	    "X-A: 1\r\nportico-cache-control: a\r\nCache-Control: b\r\n"
	    "CDN-Cache-Control: c\r\n\r\n");
	n = cachepol_head_drop(head, strlen(head), tnames, 2);
	ck_assert(span_eq(head, (int)n, "HTTP/1.1 200 OK\r\nX-A: 1\r\n"
	    "Cache-Control: b\r\n\r\n"));
	n = cachepol_head_drop(head, n, tnames, 0);
	ck_assert(span_eq(head, (int)n, "HTTP/1.1 200 OK\r\nX-A: 1\r\n"
	    "Cache-Control: b\r\n\r\n"));
}
END_TEST

START_TEST(store_flags)
{
	req("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
	resp("HTTP/1.1 200 OK\r\nCache-Control: max-age=60, no-cache\r\n\r\n");
	STORES();
	ck_assert_uint_eq(meta.flags, CACHE_F_NO_CACHE);
	/* no-cache alone on a heuristically cacheable status: stored. */
	resp("HTTP/1.1 200 OK\r\nCache-Control: no-cache\r\nETag: \"x\"\r\n"
	    "\r\n");
	STORES();
	ck_assert_int_eq(meta.lifetime, 0);
	ck_assert(meta.flags & CACHE_F_NO_CACHE);
	resp("HTTP/1.1 200 OK\r\nCache-Control: no-cache=\"Set-Cookie\", "
	    "max-age=5\r\n\r\n");
	STORES();
	ck_assert(meta.flags & CACHE_F_NO_CACHE);
	resp("HTTP/1.1 200 OK\r\nCache-Control: max-age=60, "
	    "must-revalidate\r\n\r\n");
	STORES();
	ck_assert_uint_eq(meta.flags, CACHE_F_MUST_REVAL | CACHE_F_AUTH_OK);
	resp("HTTP/1.1 200 OK\r\nCache-Control: max-age=60, "
	    "proxy-revalidate\r\n\r\n");
	STORES();
	ck_assert_uint_eq(meta.flags, CACHE_F_MUST_REVAL);
	resp("HTTP/1.1 200 OK\r\nCache-Control: s-maxage=60\r\n\r\n");
	STORES();
	ck_assert_uint_eq(meta.flags, CACHE_F_MUST_REVAL | CACHE_F_AUTH_OK);
	resp("HTTP/1.1 200 OK\r\nCache-Control: max-age=60, public\r\n\r\n");
	STORES();
	ck_assert_uint_eq(meta.flags, CACHE_F_AUTH_OK);

	/* stale-while-revalidate and stale-if-error are kept. */
	resp("HTTP/1.1 200 OK\r\nCache-Control: max-age=60, "
	    "stale-while-revalidate=30, stale-if-error=600\r\n\r\n");
	STORES();
	ck_assert_int_eq(meta.swr, 30);
	ck_assert_int_eq(meta.sie, 600);
	ck_assert_uint_eq(meta.status, 200);
}
END_TEST

START_TEST(store_etag)
{
	char	 big[300];

	req("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
	resp("HTTP/1.1 200 OK\r\nCache-Control: max-age=60\r\n"
	    "ETag: \"abc\"\r\n\r\n");
	STORES();
	ck_assert(span_eq(meta.etag, meta.etag_len, "\"abc\""));
	resp("HTTP/1.1 200 OK\r\nCache-Control: max-age=60\r\n"
	    "ETag: W/\"a,b\"\r\n\r\n");
	STORES();
	ck_assert(span_eq(meta.etag, meta.etag_len, "W/\"a,b\""));
	resp("HTTP/1.1 200 OK\r\nCache-Control: max-age=60\r\n"
	    "ETag: \"\"\r\n\r\n");
	STORES();
	ck_assert(span_eq(meta.etag, meta.etag_len, "\"\""));
	/* Invalid, several, or too long: none. */
	resp("HTTP/1.1 200 OK\r\nCache-Control: max-age=60\r\n"
	    "ETag: abc\r\n\r\n");
	STORES();
	ck_assert_uint_eq(meta.etag_len, 0);
	resp("HTTP/1.1 200 OK\r\nCache-Control: max-age=60\r\n"
	    "ETag: w/\"abc\"\r\n\r\n");
	STORES();
	ck_assert_uint_eq(meta.etag_len, 0);
	resp("HTTP/1.1 200 OK\r\nCache-Control: max-age=60\r\n"
	    "ETag: \"a\" \"b\"\r\n\r\n");
	STORES();
	ck_assert_uint_eq(meta.etag_len, 0);
	resp("HTTP/1.1 200 OK\r\nCache-Control: max-age=60\r\n"
	    "ETag: \"a\"\r\nETag: \"a\"\r\n\r\n");
	STORES();
	ck_assert_uint_eq(meta.etag_len, 0);
	memset(big, 'x', sizeof(big));
	big[0] = '"';
	big[128] = '"';
	big[129] = '\0';
	resp("HTTP/1.1 200 OK\r\nCache-Control: max-age=60\r\nETag: %s\r\n"
	    "\r\n", big);
	STORES();
	ck_assert_uint_eq(meta.etag_len, 0);
	big[127] = '"';
	big[128] = '\0';
	resp("HTTP/1.1 200 OK\r\nCache-Control: max-age=60\r\nETag: %s\r\n"
	    "\r\n", big);
	STORES();
	ck_assert_uint_eq(meta.etag_len, 128);
}
END_TEST

START_TEST(store_auth)
{
	req("GET / HTTP/1.1\r\nHost: h\r\nAuthorization: Basic eDp5\r\n\r\n");
	ck_assert(cr.auth);
	resp("HTTP/1.1 200 OK\r\nCache-Control: max-age=60\r\n\r\n");
	REFUSES("authorization");
	resp("HTTP/1.1 200 OK\r\nCache-Control: max-age=60, "
	    "proxy-revalidate\r\n\r\n");
	REFUSES("authorization");
	resp("HTTP/1.1 200 OK\r\nCache-Control: max-age=60, public\r\n\r\n");
	STORES();
	ck_assert(meta.flags & CACHE_F_AUTH_OK);
	resp("HTTP/1.1 200 OK\r\nCache-Control: s-maxage=60\r\n\r\n");
	STORES();
	ck_assert(meta.flags & CACHE_F_AUTH_OK);
	resp("HTTP/1.1 200 OK\r\nCache-Control: max-age=60, must-revalidate"
	    "\r\n\r\n");
	STORES();
	ck_assert(meta.flags & CACHE_F_AUTH_OK);
	/* public does not beat private or no-store. */
	resp("HTTP/1.1 200 OK\r\nCache-Control: public, private, max-age=60"
	    "\r\n\r\n");
	REFUSES("private");

	/* Without Authorization: stored, but not for requests with it. */
	req("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
	resp("HTTP/1.1 200 OK\r\nCache-Control: max-age=60\r\n\r\n");
	STORES();
	ck_assert(!(meta.flags & CACHE_F_AUTH_OK));
	ck_assert_int_eq(cachepol_use(&meta, &cr, &opts, T0), CACHEPOL_FRESH);
	req("GET / HTTP/1.1\r\nHost: h\r\nauthorization: Bearer x\r\n\r\n");
	ck_assert_int_eq(cachepol_use(&meta, &cr, &opts, T0), CACHEPOL_BYPASS);
	ck_assert_int_eq(cachepol_stale_if_error(&meta, &cr, T0), 0);
	meta.flags |= CACHE_F_AUTH_OK;
	ck_assert_int_eq(cachepol_use(&meta, &cr, &opts, T0), CACHEPOL_FRESH);
}
END_TEST

START_TEST(request_fields)
{
	req("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
	ck_assert(cr.cacheable && !cr.auth && !cr.no_cache && !cr.no_store &&
	    !cr.conditional && !cr.other_precond && !cr.range);
	req("GET / HTTP/1.1\r\nHost: h\r\nPragma: no-cache\r\n\r\n");
	ck_assert(cr.no_cache);
	req("GET / HTTP/1.1\r\nHost: h\r\nPragma: x, No-Cache\r\n\r\n");
	ck_assert(cr.no_cache);
	/* Pragma is ignored next to Cache-Control (RFC 9111 5.4). */
	req("GET / HTTP/1.1\r\nHost: h\r\nPragma: no-cache\r\n"
	    "Cache-Control: max-stale\r\n\r\n");
	ck_assert(!cr.no_cache);
	req("GET / HTTP/1.1\r\nHost: h\r\nCache-Control: no-cache\r\n\r\n");
	ck_assert(cr.no_cache);
	req("GET / HTTP/1.1\r\nHost: h\r\nCache-Control: max-age=0\r\n\r\n");
	ck_assert(cr.no_cache);
	req("GET / HTTP/1.1\r\nHost: h\r\nCache-Control: max-age=1\r\n\r\n");
	ck_assert(!cr.no_cache);
	ck_assert_int_eq(cr.cc.max_age, 1);
	req("GET / HTTP/1.1\r\nHost: h\r\nCache-Control: no-store\r\n\r\n");
	ck_assert(cr.no_store && !cr.no_cache);
	req("GET / HTTP/1.1\r\nHost: h\r\nIf-None-Match: \"a\"\r\n\r\n");
	ck_assert(cr.conditional && !cr.other_precond);
	req("GET / HTTP/1.1\r\nHost: h\r\nIf-Modified-Since: " D0 "\r\n\r\n");
	ck_assert(cr.conditional && !cr.other_precond);
	req("GET / HTTP/1.1\r\nHost: h\r\nIf-Match: \"a\"\r\n\r\n");
	ck_assert(!cr.conditional && cr.other_precond);
	req("GET / HTTP/1.1\r\nHost: h\r\nIf-Unmodified-Since: " D0 "\r\n\r\n");
	ck_assert(cr.other_precond);
	req("GET / HTTP/1.1\r\nHost: h\r\nIf-Range: \"a\"\r\nRange: bytes=0-1"
	    "\r\n\r\n");
	ck_assert(cr.other_precond && cr.range);
	req("HEAD / HTTP/1.1\r\nHost: h\r\n\r\n");
	ck_assert(cr.cacheable);
	req("OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n");
	ck_assert(!cr.cacheable);
	req("DELETE / HTTP/1.1\r\nHost: h\r\n\r\n");
	ck_assert(!cr.cacheable);
}
END_TEST

/* Using a stored response. */

START_TEST(use_basic)
{
	req("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
	mkmeta(60);
	ck_assert_int_eq(cachepol_use(&meta, &cr, &opts, T0), CACHEPOL_FRESH);
	ck_assert_int_eq(cachepol_use(&meta, &cr, &opts, T0 + 59),
	    CACHEPOL_FRESH);
	/* Fresh while lifetime > age (RFC 9111 4.2). */
	ck_assert_int_eq(cachepol_use(&meta, &cr, &opts, T0 + 60),
	    CACHEPOL_REVALIDATE);
	ck_assert_int_eq(cachepol_use(&meta, &cr, &opts, T0 + 600),
	    CACHEPOL_REVALIDATE);
	mkmeta(0);
	ck_assert_int_eq(cachepol_use(&meta, &cr, &opts, T0),
	    CACHEPOL_REVALIDATE);
	/* NULL opts: nothing ignored. */
	mkmeta(60);
	ck_assert_int_eq(cachepol_use(&meta, &cr, NULL, T0), CACHEPOL_FRESH);
	/* A request the cache cannot answer at all. */
	req("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\n\r\n");
	ck_assert_int_eq(cachepol_use(&meta, &cr, &opts, T0), CACHEPOL_BYPASS);
}
END_TEST

START_TEST(use_request_no_cache)
{
	mkmeta(60);
	req("GET / HTTP/1.1\r\nHost: h\r\nCache-Control: no-cache\r\n\r\n");
	ck_assert_int_eq(cachepol_use(&meta, &cr, &opts, T0),
	    CACHEPOL_REVALIDATE);
	opts.ignore_client_no_cache = 1;
	ck_assert_int_eq(cachepol_use(&meta, &cr, &opts, T0), CACHEPOL_FRESH);
	opts.ignore_client_no_cache = 0;

	req("GET / HTTP/1.1\r\nHost: h\r\nPragma: no-cache\r\n\r\n");
	ck_assert_int_eq(cachepol_use(&meta, &cr, &opts, T0),
	    CACHEPOL_REVALIDATE);
	opts.ignore_client_no_cache = 1;
	ck_assert_int_eq(cachepol_use(&meta, &cr, &opts, T0), CACHEPOL_FRESH);
	opts.ignore_client_no_cache = 0;

	req("GET / HTTP/1.1\r\nHost: h\r\nCache-Control: max-age=0\r\n\r\n");
	ck_assert_int_eq(cachepol_use(&meta, &cr, &opts, T0 + 1),
	    CACHEPOL_REVALIDATE);
	opts.ignore_client_no_cache = 1;
	ck_assert_int_eq(cachepol_use(&meta, &cr, &opts, T0 + 1),
	    CACHEPOL_FRESH);
	/* Ignoring the client never makes a stale response fresh. */
	ck_assert_int_eq(cachepol_use(&meta, &cr, &opts, T0 + 61),
	    CACHEPOL_REVALIDATE);
}
END_TEST

START_TEST(use_max_age_min_fresh)
{
	mkmeta(60);
	req("GET / HTTP/1.1\r\nHost: h\r\nCache-Control: max-age=10\r\n\r\n");
	ck_assert_int_eq(cachepol_use(&meta, &cr, &opts, T0 + 10),
	    CACHEPOL_FRESH);
	ck_assert_int_eq(cachepol_use(&meta, &cr, &opts, T0 + 11),
	    CACHEPOL_REVALIDATE);
	/* Only max-age=0 is what ignore_client_no_cache drops. */
	opts.ignore_client_no_cache = 1;
	ck_assert_int_eq(cachepol_use(&meta, &cr, &opts, T0 + 11),
	    CACHEPOL_REVALIDATE);
	opts.ignore_client_no_cache = 0;

	/* An invalid request max-age is ignored. */
	req("GET / HTTP/1.1\r\nHost: h\r\nCache-Control: max-age=zz\r\n\r\n");
	ck_assert_int_eq(cachepol_use(&meta, &cr, &opts, T0 + 30),
	    CACHEPOL_FRESH);

	req("GET / HTTP/1.1\r\nHost: h\r\nCache-Control: min-fresh=20\r\n\r\n");
	ck_assert_int_eq(cachepol_use(&meta, &cr, &opts, T0 + 40),
	    CACHEPOL_FRESH);
	ck_assert_int_eq(cachepol_use(&meta, &cr, &opts, T0 + 41),
	    CACHEPOL_REVALIDATE);
	/* min-fresh refuses the stale-while-revalidate window too. */
	meta.swr = 1000;
	ck_assert_int_eq(cachepol_use(&meta, &cr, &opts, T0 + 70),
	    CACHEPOL_REVALIDATE);
}
END_TEST

START_TEST(use_max_stale)
{
	mkmeta(60);
	req("GET / HTTP/1.1\r\nHost: h\r\nCache-Control: max-stale=20\r\n\r\n");
	ck_assert_int_eq(cachepol_use(&meta, &cr, &opts, T0 + 30),
	    CACHEPOL_FRESH);
	ck_assert_int_eq(cachepol_use(&meta, &cr, &opts, T0 + 80),
	    CACHEPOL_FRESH);
	ck_assert_int_eq(cachepol_use(&meta, &cr, &opts, T0 + 81),
	    CACHEPOL_REVALIDATE);
	req("GET / HTTP/1.1\r\nHost: h\r\nCache-Control: max-stale\r\n\r\n");
	ck_assert_int_eq(cachepol_use(&meta, &cr, &opts, T0 + 100000000),
	    CACHEPOL_FRESH);

	/* Never past must-revalidate, proxy-revalidate, s-maxage. */
	meta.flags = CACHE_F_MUST_REVAL;
	ck_assert_int_eq(cachepol_use(&meta, &cr, &opts, T0 + 61),
	    CACHEPOL_REVALIDATE);
	ck_assert_int_eq(cachepol_use(&meta, &cr, &opts, T0 + 59),
	    CACHEPOL_FRESH);
	req("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
	resp("HTTP/1.1 200 OK\r\nDate: " D0 "\r\n"
	    "Cache-Control: s-maxage=60\r\n\r\n");
	STORES();
	req("GET / HTTP/1.1\r\nHost: h\r\nCache-Control: max-stale\r\n\r\n");
	ck_assert_int_eq(cachepol_use(&meta, &cr, &opts, T0 + 61),
	    CACHEPOL_REVALIDATE);

	/* Nor past response no-cache, even while fresh. */
	mkmeta(60);
	meta.flags = CACHE_F_NO_CACHE;
	ck_assert_int_eq(cachepol_use(&meta, &cr, &opts, T0),
	    CACHEPOL_REVALIDATE);
}
END_TEST

START_TEST(use_swr)
{
	req("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
	resp("HTTP/1.1 200 OK\r\nDate: " D0 "\r\n"
	    "Cache-Control: max-age=60, stale-while-revalidate=30\r\n\r\n");
	STORES();
	ck_assert_int_eq(cachepol_use(&meta, &cr, &opts, T0 + 59),
	    CACHEPOL_FRESH);
	ck_assert_int_eq(cachepol_use(&meta, &cr, &opts, T0 + 60),
	    CACHEPOL_STALE_SWR);
	ck_assert_int_eq(cachepol_use(&meta, &cr, &opts, T0 + 90),
	    CACHEPOL_STALE_SWR);
	ck_assert_int_eq(cachepol_use(&meta, &cr, &opts, T0 + 91),
	    CACHEPOL_REVALIDATE);
	/* The client's max-stale comes first: a plain hit. */
	req("GET / HTTP/1.1\r\nHost: h\r\nCache-Control: max-stale=5\r\n\r\n");
	ck_assert_int_eq(cachepol_use(&meta, &cr, &opts, T0 + 62),
	    CACHEPOL_FRESH);
	ck_assert_int_eq(cachepol_use(&meta, &cr, &opts, T0 + 70),
	    CACHEPOL_STALE_SWR);
	/* The client's no-cache or max-age wins over the window. */
	req("GET / HTTP/1.1\r\nHost: h\r\nCache-Control: no-cache\r\n\r\n");
	ck_assert_int_eq(cachepol_use(&meta, &cr, &opts, T0 + 70),
	    CACHEPOL_REVALIDATE);
	req("GET / HTTP/1.1\r\nHost: h\r\nCache-Control: max-age=65\r\n\r\n");
	ck_assert_int_eq(cachepol_use(&meta, &cr, &opts, T0 + 70),
	    CACHEPOL_REVALIDATE);
	/* Not with must-revalidate. */
	req("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
	resp("HTTP/1.1 200 OK\r\nDate: " D0 "\r\n"
	    "Cache-Control: max-age=60, stale-while-revalidate=30, "
	    "must-revalidate\r\n\r\n");
	STORES();
	ck_assert_int_eq(cachepol_use(&meta, &cr, &opts, T0 + 70),
	    CACHEPOL_REVALIDATE);
}
END_TEST

START_TEST(use_stale_if_error)
{
	req("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
	resp("HTTP/1.1 200 OK\r\nDate: " D0 "\r\n"
	    "Cache-Control: max-age=60, stale-if-error=100\r\n\r\n");
	STORES();
	ck_assert_int_eq(cachepol_stale_if_error(&meta, &cr, T0 + 10), 1);
	ck_assert_int_eq(cachepol_stale_if_error(&meta, &cr, T0 + 160), 1);
	ck_assert_int_eq(cachepol_stale_if_error(&meta, &cr, T0 + 161), 0);
	/* The request directive widens the window (RFC 5861 4). */
	req("GET / HTTP/1.1\r\nHost: h\r\nCache-Control: stale-if-error=500"
	    "\r\n\r\n");
	ck_assert_int_eq(cachepol_stale_if_error(&meta, &cr, T0 + 500), 1);
	ck_assert_int_eq(cachepol_stale_if_error(&meta, &cr, T0 + 561), 0);
	/* ...but a smaller one does not narrow it. */
	req("GET / HTTP/1.1\r\nHost: h\r\nCache-Control: stale-if-error=1"
	    "\r\n\r\n");
	ck_assert_int_eq(cachepol_stale_if_error(&meta, &cr, T0 + 150), 1);

	/* Request directive alone. */
	mkmeta(60);
	req("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
	ck_assert_int_eq(cachepol_stale_if_error(&meta, &cr, T0 + 61), 0);
	req("GET / HTTP/1.1\r\nHost: h\r\nCache-Control: stale-if-error=30"
	    "\r\n\r\n");
	ck_assert_int_eq(cachepol_stale_if_error(&meta, &cr, T0 + 90), 1);
	ck_assert_int_eq(cachepol_stale_if_error(&meta, &cr, T0 + 91), 0);

	/* Never with must-revalidate or no-cache. */
	meta.sie = 1000;
	meta.flags = CACHE_F_MUST_REVAL;
	ck_assert_int_eq(cachepol_stale_if_error(&meta, &cr, T0 + 61), 0);
	ck_assert_int_eq(cachepol_stale_if_error(&meta, &cr, T0 + 1), 1);
	meta.flags = CACHE_F_NO_CACHE;
	ck_assert_int_eq(cachepol_stale_if_error(&meta, &cr, T0 + 1), 0);
}
END_TEST

/* Vary. */

START_TEST(vary_none)
{
	char	 blob[256];

	req("GET / HTTP/1.1\r\nHost: h\r\nAccept: x\r\n\r\n");
	resp("HTTP/1.1 200 OK\r\n\r\n");
	ck_assert_int_eq(cachepol_vary_blob(&rs, &rq, blob, sizeof(blob)), 0);
	ck_assert_int_eq(cachepol_vary_match(blob, 0, &rq), 1);
	resp("HTTP/1.1 200 OK\r\nVary: \r\nVary: , ,\r\n\r\n");
	ck_assert_int_eq(cachepol_vary_blob(&rs, &rq, blob, 0), 0);
}
END_TEST

START_TEST(vary_basic)
{
	char	 blob[256];
	int	 n;

	req("GET / HTTP/1.1\r\nHost: h\r\nAccept-Encoding: gzip,  br\r\n\r\n");
	resp("HTTP/1.1 200 OK\r\nVary: Accept-Encoding\r\n\r\n");
	n = cachepol_vary_blob(&rs, &rq, blob, sizeof(blob));
	ck_assert_int_eq(n, 1 + 15 + 3 + 8);
	ck_assert_int_eq(memcmp(blob, "\x0f" "accept-encoding" "\x01\x00\x08"
	    "gzip, br", (size_t)n), 0);
	ck_assert_int_eq(cachepol_vary_match(blob, (size_t)n, &rq), 1);

	req2("GET / HTTP/1.1\r\nHost: h\r\naccept-encoding:gzip,br\r\n\r\n");
	ck_assert_int_eq(cachepol_vary_match(blob, (size_t)n, &rq2), 1);
	req2("GET / HTTP/1.1\r\nHost: h\r\nACCEPT-ENCODING: gzip ,\t br ,\r\n"
	    "\r\n");
	ck_assert_int_eq(cachepol_vary_match(blob, (size_t)n, &rq2), 1);
	req2("GET / HTTP/1.1\r\nHost: h\r\nAccept-Encoding: gzip\r\n"
	    "Accept-Encoding: br\r\n\r\n");
	ck_assert_int_eq(cachepol_vary_match(blob, (size_t)n, &rq2), 1);
	/* Order of values matters; so does case in values. */
	req2("GET / HTTP/1.1\r\nHost: h\r\nAccept-Encoding: br, gzip\r\n\r\n");
	ck_assert_int_eq(cachepol_vary_match(blob, (size_t)n, &rq2), 0);
	req2("GET / HTTP/1.1\r\nHost: h\r\nAccept-Encoding: GZIP, br\r\n\r\n");
	ck_assert_int_eq(cachepol_vary_match(blob, (size_t)n, &rq2), 0);
	req2("GET / HTTP/1.1\r\nHost: h\r\nAccept-Encoding: gzip\r\n\r\n");
	ck_assert_int_eq(cachepol_vary_match(blob, (size_t)n, &rq2), 0);
	req2("GET / HTTP/1.1\r\nHost: h\r\nAccept-Encoding: gzip, br, x\r\n"
	    "\r\n");
	ck_assert_int_eq(cachepol_vary_match(blob, (size_t)n, &rq2), 0);
	req2("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
	ck_assert_int_eq(cachepol_vary_match(blob, (size_t)n, &rq2), 0);

	/* Too small a buffer. */
	ck_assert_int_eq(cachepol_vary_blob(&rs, &rq, blob, (size_t)n - 1), -1);
	ck_assert_int_eq(cachepol_vary_blob(&rs, &rq, blob, (size_t)n), n);
	ck_assert_int_eq(cachepol_vary_blob(&rs, &rq, blob, 3), -1);
}
END_TEST

START_TEST(vary_absent)
{
	char	 blob[256];
	int	 n;

	req("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
	resp("HTTP/1.1 200 OK\r\nVary: Cookie\r\n\r\n");
	n = cachepol_vary_blob(&rs, &rq, blob, sizeof(blob));
	ck_assert_int_eq(n, 1 + 6 + 3);
	ck_assert_int_eq(memcmp(blob, "\x06" "cookie" "\x00\x00\x00", 10), 0);
	req2("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
	ck_assert_int_eq(cachepol_vary_match(blob, (size_t)n, &rq2), 1);
	/* Present but empty is not absent. */
	req2("GET / HTTP/1.1\r\nHost: h\r\nCookie:\r\n\r\n");
	ck_assert_int_eq(cachepol_vary_match(blob, (size_t)n, &rq2), 0);
	req2("GET / HTTP/1.1\r\nHost: h\r\nCookie: a=b\r\n\r\n");
	ck_assert_int_eq(cachepol_vary_match(blob, (size_t)n, &rq2), 0);

	req("GET / HTTP/1.1\r\nHost: h\r\nCookie:\r\n\r\n");
	n = cachepol_vary_blob(&rs, &rq, blob, sizeof(blob));
	ck_assert_int_eq(memcmp(blob, "\x06" "cookie" "\x01\x00\x00", 10), 0);
	req2("GET / HTTP/1.1\r\nHost: h\r\nCookie: ,\r\n\r\n");
	ck_assert_int_eq(cachepol_vary_match(blob, (size_t)n, &rq2), 1);
	req2("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
	ck_assert_int_eq(cachepol_vary_match(blob, (size_t)n, &rq2), 0);
}
END_TEST

START_TEST(vary_multiple)
{
	char	 b1[256], b2[256];
	int	 n1, n2;

	req("GET / HTTP/1.1\r\nHost: h\r\nAccept: text/html\r\n"
	    "Accept-Language: en\r\nX-B: 1\r\n\r\n");
	/* Names sorted, lowercased, duplicates dropped, fields merged. */
	resp("HTTP/1.1 200 OK\r\nVary: X-B, accept\r\n"
	    "vary: ACCEPT-LANGUAGE, Accept, x-b\r\n\r\n");
	n1 = cachepol_vary_blob(&rs, &rq, b1, sizeof(b1));
	resp("HTTP/1.1 200 OK\r\nVary: accept-language,accept,x-b\r\n\r\n");
	n2 = cachepol_vary_blob(&rs, &rq, b2, sizeof(b2));
	ck_assert_int_gt(n1, 0);
	ck_assert_int_eq(n1, n2);
	ck_assert_int_eq(memcmp(b1, b2, (size_t)n1), 0);
	ck_assert_int_eq(memcmp(b1, "\x06" "accept" "\x01\x00\x09" "text/html"
	    "\x0f" "accept-language" "\x01\x00\x02" "en"
	    "\x03" "x-b" "\x01\x00\x01" "1", (size_t)n1), 0);

	req2("GET / HTTP/1.1\r\nHost: h\r\nx-b: 1\r\nACCEPT: text/html\r\n"
	    "accept-language:  en \r\nOther: z\r\n\r\n");
	ck_assert_int_eq(cachepol_vary_match(b1, (size_t)n1, &rq2), 1);
	req2("GET / HTTP/1.1\r\nHost: h\r\nx-b: 2\r\nACCEPT: text/html\r\n"
	    "accept-language: en\r\n\r\n");
	ck_assert_int_eq(cachepol_vary_match(b1, (size_t)n1, &rq2), 0);
	req2("GET / HTTP/1.1\r\nHost: h\r\nx-b: 1\r\nACCEPT: text/html\r\n"
	    "\r\n");
	ck_assert_int_eq(cachepol_vary_match(b1, (size_t)n1, &rq2), 0);

	/* Quoted commas are not list separators. */
	req("GET / HTTP/1.1\r\nHost: h\r\nX: a;q=\"1 , 2\", b\r\n\r\n");
	resp("HTTP/1.1 200 OK\r\nVary: x\r\n\r\n");
	n1 = cachepol_vary_blob(&rs, &rq, b1, sizeof(b1));
	ck_assert_int_eq(n1, 1 + 1 + 3 + 14);
	ck_assert_int_eq(memcmp(b1, "\x01" "x" "\x01\x00\x0e"
	    "a;q=\"1 , 2\", b", (size_t)n1), 0);
	req2("GET / HTTP/1.1\r\nHost: h\r\nX: a;q=\"1, 2\", b\r\n\r\n");
	ck_assert_int_eq(cachepol_vary_match(b1, (size_t)n1, &rq2), 0);
	req2("GET / HTTP/1.1\r\nHost: h\r\nX: a;q=\"1 , 2\" ,b\r\n\r\n");
	ck_assert_int_eq(cachepol_vary_match(b1, (size_t)n1, &rq2), 1);
}
END_TEST

START_TEST(vary_star_and_bad)
{
	char	 blob[256];
	int	 i;
	size_t	 n;
	char	 f[4096];

	req("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
	resp("HTTP/1.1 200 OK\r\nVary: *\r\n\r\n");
	ck_assert_int_eq(cachepol_vary_blob(&rs, &rq, blob, sizeof(blob)), -1);
	resp("HTTP/1.1 200 OK\r\nVary: accept\r\nVary: x, *\r\n\r\n");
	ck_assert_int_eq(cachepol_vary_blob(&rs, &rq, blob, sizeof(blob)), -1);
	resp("HTTP/1.1 200 OK\r\nVary: a b\r\n\r\n");
	ck_assert_int_eq(cachepol_vary_blob(&rs, &rq, blob, sizeof(blob)), -1);
	resp("HTTP/1.1 200 OK\r\nVary: a;b\r\n\r\n");
	ck_assert_int_eq(cachepol_vary_blob(&rs, &rq, blob, sizeof(blob)), -1);

	/* 32 names fit, 33 do not. */
	n = (size_t)snprintf(f, sizeof(f), "HTTP/1.1 200 OK\r\nVary: x0");
	for (i = 1; i < 32; i++)
		n += (size_t)snprintf(f + n, sizeof(f) - n, ", x%d", i);
	snprintf(f + n, sizeof(f) - n, "\r\n\r\n");
	resp("%s", f);
	ck_assert_int_gt(cachepol_vary_blob(&rs, &rq, blob, sizeof(blob)), 0);
	snprintf(f + n, sizeof(f) - n, ", x99\r\n\r\n");
	resp("%s", f);
	ck_assert_int_eq(cachepol_vary_blob(&rs, &rq, blob, sizeof(blob)), -1);
	/* But the same name again and again is one. */
	n = (size_t)snprintf(f, sizeof(f), "HTTP/1.1 200 OK\r\nVary: x");
	for (i = 1; i < 100; i++)
		n += (size_t)snprintf(f + n, sizeof(f) - n, ", X");
	snprintf(f + n, sizeof(f) - n, "\r\n\r\n");
	resp("%s", f);
	ck_assert_int_eq(cachepol_vary_blob(&rs, &rq, blob, sizeof(blob)), 5);
}
END_TEST

START_TEST(vary_match_malformed)
{
	static const struct {
		const char	*b;
		size_t		 n;
	} bad[] = {
		{ "\x00", 1 },
		{ "\x05" "ab", 3 },
		{ "\x01" "x", 2 },
		{ "\x01" "x\x00\x00", 4 },
		{ "\x01" "x\x02\x00\x00", 5 },
		{ "\x01" "x\x00\x00\x01" "a", 6 },
		{ "\x01" "x\x01\x00\x05" "abc", 8 },
		{ "\x01" "x\x00\x00\x00\x01", 6 },
	};
	size_t	 i;

	req("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(cachepol_vary_match(bad[i].b, bad[i].n, &rq) == 0,
		    "blob %zu", i);
	ck_assert_int_eq(cachepol_vary_match("\x01" "x\x00\x00\x00", 5, &rq),
	    1);
}
END_TEST

/* Stored heads and 304s. */

START_TEST(head_filter)
{
	char	 out[1024];
	int	 n;

	resp("HTTP/1.1 200 OK\r\nDate: " D0 "\r\nConnection: X-Hop, close\r\n"
	    "Keep-Alive: timeout=5\r\nProxy-Connection: keep-alive\r\n"
	    "TE: trailers\r\nTrailer: X-T\r\nUpgrade: h2c\r\n"
	    "Proxy-Authenticate: Basic\r\nProxy-Authorization: x\r\n"
	    "Proxy-Authentication-Info: y\r\nContent-Length: 5\r\n"
	    "Age: 10\r\nVia: 1.1 other\r\nX-Hop: 1\r\nx-hop: 2\r\n"
	    "Set-Cookie: a=b\r\nContent-Type: text/plain\r\n"
	    "Cache-Control: max-age=60\r\nX-Keep: kept\r\n\r\n");
	n = cachepol_stored_head(&rs, 0, out, sizeof(out));
	ck_assert(span_eq(out, n, "HTTP/1.1 200 OK\r\nDate: " D0 "\r\n"
	    "Content-Type: text/plain\r\nCache-Control: max-age=60\r\n"
	    "X-Keep: kept\r\n\r\n"));
	n = cachepol_stored_head(&rs, 1, out, sizeof(out));
	ck_assert(span_eq(out, n, "HTTP/1.1 200 OK\r\nDate: " D0 "\r\n"
	    "Set-Cookie: a=b\r\nContent-Type: text/plain\r\n"
	    "Cache-Control: max-age=60\r\nX-Keep: kept\r\n\r\n"));

	/*
	 * The one hop-by-hop list (common/httplist.c): any Proxy-* field,
	 * and Connection tokens split at blanks too, as when forwarding.
	 */
	resp("HTTP/1.1 200 OK\r\nProxy-Status: p\r\nConnection: X-A X-B\r\n"
	    "X-A: 1\r\nX-B: 2\r\nX-C: 3\r\nProxy: 4\r\n\r\n");
	n = cachepol_stored_head(&rs, 0, out, sizeof(out));
	ck_assert(span_eq(out, n, "HTTP/1.1 200 OK\r\nX-C: 3\r\nProxy: 4\r\n\r\n"));

	/* Set-Cookie2 is not Set-Cookie: kept. */
	resp("HTTP/1.1 200 OK\r\nSet-Cookie2: a=b; Version=1\r\n"
	    "Set-Cookie: c=d\r\n\r\n");
	n = cachepol_stored_head(&rs, 0, out, sizeof(out));
	ck_assert(span_eq(out, n, "HTTP/1.1 200 OK\r\n"
	    "Set-Cookie2: a=b; Version=1\r\n\r\n"));

	resp("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-A: 1\r\n\r\n");
	n = cachepol_stored_head(&rs, 0, out, sizeof(out));
	ck_assert(span_eq(out, n, "HTTP/1.1 200 OK\r\nX-A: 1\r\n\r\n"));
	/* Exactly enough room, and one byte less. */
	ck_assert_int_eq(cachepol_stored_head(&rs, 0, out, 27), 27);
	ck_assert_int_eq(cachepol_stored_head(&rs, 0, out, 26), -1);
	ck_assert_int_eq(cachepol_stored_head(&rs, 0, out, 0), -1);
}
END_TEST

START_TEST(head_status_line)
{
	char	 out[256];
	int	 n;

	resp("HTTP/1.0 404 Nope Not Here\r\nX: y\r\n\r\n");
	n = cachepol_stored_head(&rs, 0, out, sizeof(out));
	ck_assert(span_eq(out, n,
	    "HTTP/1.1 404 Nope Not Here\r\nX: y\r\n\r\n"));
	resp("HTTP/1.1 301\r\nLocation: /a\r\n\r\n");
	n = cachepol_stored_head(&rs, 0, out, sizeof(out));
	ck_assert(span_eq(out, n, "HTTP/1.1 301 Moved Permanently\r\n"
	    "Location: /a\r\n\r\n"));
	resp("HTTP/1.1 200 \r\nX:\r\n\r\n");
	n = cachepol_stored_head(&rs, 0, out, sizeof(out));
	ck_assert(span_eq(out, n, "HTTP/1.1 200 OK\r\nX: \r\n\r\n"));
}
END_TEST

START_TEST(head_bad_bytes)
{
	struct http_response	 r;
	struct http_header	 h[1] = {
		{ "X", "a\r\nInjected: 1", 1, 15 }
	};
	char			 out[256];

	memset(&r, 0, sizeof(r));
	r.status = 200;
	r.reason = "OK";
	r.reason_len = 2;
	r.headers = h;
	r.nheaders = 1;
	ck_assert_int_eq(cachepol_stored_head(&r, 0, out, sizeof(out)), -1);
	h[0].name = "X Y";
	h[0].name_len = 3;
	h[0].value = "a";
	h[0].value_len = 1;
	ck_assert_int_eq(cachepol_stored_head(&r, 0, out, sizeof(out)), -1);
	h[0].name = "X";
	h[0].name_len = 1;
	ck_assert_int_gt(cachepol_stored_head(&r, 0, out, sizeof(out)), 0);
	r.reason = "O\nK";
	r.reason_len = 3;
	ck_assert_int_eq(cachepol_stored_head(&r, 0, out, sizeof(out)), -1);
	r.reason_len = 0;
	r.status = 1000;
	ck_assert_int_eq(cachepol_stored_head(&r, 0, out, sizeof(out)), -1);
}
END_TEST

START_TEST(merge_304)
{
	static const char	 stored[] = "HTTP/1.1 200 OK\r\n"
	    "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
	    "ETag: \"v1\"\r\nContent-Type: text/plain\r\n"
	    "X-A: 1\r\nCache-Control: max-age=60\r\nx-a: 2\r\n"
	    "Content-Encoding: gzip\r\nSet-Cookie: s=1\r\nX-Keep: k\r\n\r\n";
	char			 out[1024];
	int			 n;

	resp("HTTP/1.1 304 Not Modified\r\n"
	    "Date: Sun, 06 Nov 1994 09:49:37 GMT\r\n"
	    "Cache-Control: max-age=120\r\nX-A: 3\r\nContent-Length: 999\r\n"
	    "Content-Range: bytes 0-1/2\r\nConnection: close, X-Hop\r\n"
	    "X-Hop: h\r\nKeep-Alive: timeout=1\r\nAge: 5\r\nVia: 1.1 p\r\n"
	    "Set-Cookie: s=2\r\nContent-Type: text/html\r\n\r\n");
	n = cachepol_merge_304(stored, strlen(stored), &rs, out, sizeof(out));
	ck_assert_msg(span_eq(out, n, "HTTP/1.1 200 OK\r\n"
	    "ETag: \"v1\"\r\nContent-Encoding: gzip\r\nSet-Cookie: s=1\r\n"
	    "X-Keep: k\r\n"
	    "Date: Sun, 06 Nov 1994 09:49:37 GMT\r\n"
	    "Cache-Control: max-age=120\r\nX-A: 3\r\n"
	    "Content-Type: text/html\r\n\r\n"), "%.*s", n, out);

	/* The merged head parses again, and freshens the meta. */
	memcpy(sbuf, out, (size_t)n);
	ck_assert_int_eq(http_parse_response(sbuf, (size_t)n, &lim, &rs, sh),
	    HTTP_PARSE_OK);
	req("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
	ck_assert_int_eq(cachepol_storable(&cr, &rs, &opts, T0 + 3600,
	    T0 + 3600, &meta, &why), 0);	/* the kept Set-Cookie */
	opts.store_set_cookie = 1;
	ck_assert_int_eq(cachepol_storable(&cr, &rs, &opts, T0 + 3600,
	    T0 + 3600, &meta, &why), 1);
	ck_assert_int_eq(meta.lifetime, 120);
	ck_assert_int_eq(meta.date, T0 + 3600);
	ck_assert(span_eq(meta.etag, meta.etag_len, "\"v1\""));

	/* Framing of the 304 itself never lands in the stored head. */
	resp("HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n"
	    "X-Keep: k2\r\n\r\n");
	n = cachepol_merge_304(stored, strlen(stored), &rs, out, sizeof(out));
	ck_assert_msg(span_eq(out, n, "HTTP/1.1 200 OK\r\n"
	    "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
	    "ETag: \"v1\"\r\nContent-Type: text/plain\r\n"
	    "X-A: 1\r\nCache-Control: max-age=60\r\nx-a: 2\r\n"
	    "Content-Encoding: gzip\r\nSet-Cookie: s=1\r\nX-Keep: k2\r\n"
	    "\r\n"), "%.*s", n, out);

	/* A 304 with nothing new changes nothing. */
	resp("HTTP/1.1 304 Not Modified\r\nConnection: close\r\n\r\n");
	n = cachepol_merge_304(stored, strlen(stored), &rs, out, sizeof(out));
	ck_assert(span_eq(out, n, stored));
	ck_assert_int_eq(cachepol_merge_304(stored, strlen(stored), &rs, out,
	    strlen(stored) - 1), -1);
}
END_TEST

START_TEST(merge_304_malformed)
{
	char	 out[256];

	resp("HTTP/1.1 304 Not Modified\r\nX: 1\r\n\r\n");
	ck_assert_int_eq(cachepol_merge_304("", 0, &rs, out, sizeof(out)), -1);
	ck_assert_int_eq(cachepol_merge_304(NULL, 0, &rs, out, sizeof(out)),
	    -1);
	ck_assert_int_eq(cachepol_merge_304("HTTP/1.1 200 OK\r\n", 17, &rs,
	    out, sizeof(out)), -1);
	ck_assert_int_eq(cachepol_merge_304("HTTP/1.1 200 OK\r\nA: b\r\n", 24,
	    &rs, out, sizeof(out)), -1);
	ck_assert_int_eq(cachepol_merge_304("HTTP/1.1 200 OK\r\nA: b\n\r\n", 24,
	    &rs, out, sizeof(out)), -1);
	ck_assert_int_eq(cachepol_merge_304("HTTP/1.1 200 OK\r\nAb\r\n\r\n", 23,
	    &rs, out, sizeof(out)), -1);
	ck_assert_int_eq(cachepol_merge_304("HTTP/1.1 200 OK\r\n: b\r\n\r\n",
	    24, &rs, out, sizeof(out)), -1);
	ck_assert_int_eq(cachepol_merge_304("HTTP/1.1 200 OK\n\r\n", 18, &rs,
	    out, sizeof(out)), -1);
	ck_assert_int_eq(cachepol_merge_304("HTTP/1.1 200 OK\r\n\r\n", 19, &rs,
	    out, sizeof(out)), 25);
	ck_assert(span_eq(out, 25, "HTTP/1.1 200 OK\r\nX: 1\r\n\r\n"));
}
END_TEST

/* Conditional requests. */

static int
nm(const char *fields)
{
	req("GET / HTTP/1.1\r\nHost: h\r\n%s\r\n", fields);
	return cachepol_not_modified(&rq, &meta);
}

START_TEST(not_modified_inm)
{
	mkmeta(60);
	set_etag("\"a\"");
	ck_assert_int_eq(nm(""), 0);
	ck_assert_int_eq(nm("If-None-Match: \"a\"\r\n"), 1);
	ck_assert_int_eq(nm("If-None-Match: W/\"a\"\r\n"), 1);
	ck_assert_int_eq(nm("If-None-Match: \"b\"\r\n"), 0);
	ck_assert_int_eq(nm("If-None-Match: \"A\"\r\n"), 0);
	ck_assert_int_eq(nm("If-None-Match: \"b\", W/\"a\"\r\n"), 1);
	ck_assert_int_eq(nm("If-None-Match: \"b\"\r\nIf-None-Match: \"a\"\r\n"),
	    1);
	ck_assert_int_eq(nm("If-None-Match: ,\"b\" ,, \"a\" ,\r\n"), 1);
	ck_assert_int_eq(nm("If-None-Match: *\r\n"), 1);
	/* Malformed lists match nothing. */
	ck_assert_int_eq(nm("If-None-Match: a\r\n"), 0);
	ck_assert_int_eq(nm("If-None-Match: \"a\r\n"), 0);
	ck_assert_int_eq(nm("If-None-Match: w/\"a\"\r\n"), 0);
	ck_assert_int_eq(nm("If-None-Match: \"b\" \"a\"\r\n"), 0);
	ck_assert_int_eq(nm("If-None-Match: \"b\", a, \"a\"\r\n"), 0);
	ck_assert_int_eq(nm("If-None-Match: *, \"a\"\r\n"), 0);

	/* A weak stored tag matches weakly. */
	set_etag("W/\"a\"");
	ck_assert_int_eq(nm("If-None-Match: \"a\"\r\n"), 1);
	ck_assert_int_eq(nm("If-None-Match: W/\"a\"\r\n"), 1);
	ck_assert_int_eq(nm("If-None-Match: W/\"b\"\r\n"), 0);
	/* Commas inside a tag. */
	set_etag("\"a,b\"");
	ck_assert_int_eq(nm("If-None-Match: \"a,b\"\r\n"), 1);
	ck_assert_int_eq(nm("If-None-Match: \"a\", \"b\"\r\n"), 0);

	/* No stored tag: only "*". */
	meta.etag_len = 0;
	ck_assert_int_eq(nm("If-None-Match: \"a\"\r\n"), 0);
	ck_assert_int_eq(nm("If-None-Match: *\r\n"), 1);
	/* A corrupt stored tag is no tag. */
	set_etag("abc");
	ck_assert_int_eq(nm("If-None-Match: \"abc\"\r\n"), 0);
	meta.etag_len = 500;
	ck_assert_int_eq(nm("If-None-Match: \"abc\"\r\n"), 0);

	/* Not for other methods. */
	set_etag("\"a\"");
	req("DELETE / HTTP/1.1\r\nHost: h\r\nIf-None-Match: \"a\"\r\n\r\n");
	ck_assert_int_eq(cachepol_not_modified(&rq, &meta), 0);
	req("HEAD / HTTP/1.1\r\nHost: h\r\nIf-None-Match: \"a\"\r\n\r\n");
	ck_assert_int_eq(cachepol_not_modified(&rq, &meta), 1);
}
END_TEST

START_TEST(not_modified_ims)
{
	mkmeta(60);
	meta.last_modified = T0 - 100;
	ck_assert_int_eq(nm("If-Modified-Since: " D0 "\r\n"), 1);
	ck_assert_int_eq(nm("If-Modified-Since: Sun, 06 Nov 1994 08:47:57 GMT"
	    "\r\n"), 1);
	ck_assert_int_eq(nm("If-Modified-Since: Sun, 06 Nov 1994 08:47:56 GMT"
	    "\r\n"), 0);
	ck_assert_int_eq(nm("If-Modified-Since: Sunday, 06-Nov-94 08:49:37 GMT"
	    "\r\n"), 1);
	/* Invalid, or more than one: ignored. */
	ck_assert_int_eq(nm("If-Modified-Since: tomorrow\r\n"), 0);
	ck_assert_int_eq(nm("If-Modified-Since: " D0 "\r\n"
	    "If-Modified-Since: " D0 "\r\n"), 0);
	/* No Last-Modified: the Date. */
	meta.last_modified = -1;
	ck_assert_int_eq(nm("If-Modified-Since: " D0 "\r\n"), 1);
	ck_assert_int_eq(nm("If-Modified-Since: Sun, 06 Nov 1994 08:49:36 GMT"
	    "\r\n"), 0);
	/* If-None-Match present: If-Modified-Since is ignored. */
	meta.last_modified = T0 - 100;
	set_etag("\"a\"");
	ck_assert_int_eq(nm("If-None-Match: \"b\"\r\nIf-Modified-Since: " D0
	    "\r\n"), 0);
	ck_assert_int_eq(nm("If-None-Match: \"a\"\r\nIf-Modified-Since: "
	    "Sun, 06 Nov 1990 08:49:36 GMT\r\n"), 1);
	req("POST / HTTP/1.1\r\nHost: h\r\nIf-Modified-Since: " D0 "\r\n"
	    "Content-Length: 0\r\n\r\n");
	ck_assert_int_eq(cachepol_not_modified(&rq, &meta), 0);
}
END_TEST

/* Ranges. */

static int
rg(uint64_t len, uint64_t *f, uint64_t *l, const char *fields)
{
	req("GET / HTTP/1.1\r\nHost: h\r\n%s\r\n", fields);
	*f = *l = 77777;
	return cachepol_range(&rq, &meta, len, f, l);
}

#define RANGE_IS(len, fields, rv, ef, el) do {				\
	uint64_t f_, l_;						\
	int r_ = rg((len), &f_, &l_, (fields));				\
	ck_assert_msg(r_ == (rv), "%s: %d", (fields), r_);		\
	if (r_ == 1) {							\
		ck_assert_uint_eq(f_, (ef));				\
		ck_assert_uint_eq(l_, (el));				\
	}								\
} while (0)

START_TEST(range_forms)
{
	mkmeta(60);
	RANGE_IS(1000, "", 0, 0, 0);
	RANGE_IS(1000, "Range: bytes=0-99\r\n", 1, 0, 99);
	RANGE_IS(1000, "Range: bytes=100-\r\n", 1, 100, 999);
	RANGE_IS(1000, "Range: bytes=-100\r\n", 1, 900, 999);
	RANGE_IS(1000, "Range: bytes=999-999\r\n", 1, 999, 999);
	RANGE_IS(1000, "Range: BYTES=5-5\r\n", 1, 5, 5);
	RANGE_IS(1000, "Range: bytes= 1-2 ,\r\n", 1, 1, 2);
	/* Clamping. */
	RANGE_IS(1000, "Range: bytes=0-5000\r\n", 1, 0, 999);
	RANGE_IS(1000, "Range: bytes=-5000\r\n", 1, 0, 999);
	RANGE_IS(1000, "Range: bytes=10-99999999999999999999999\r\n", 1, 10,
	    999);
	/* Unsatisfiable. */
	RANGE_IS(1000, "Range: bytes=1000-\r\n", -1, 0, 0);
	RANGE_IS(1000, "Range: bytes=1000-2000\r\n", -1, 0, 0);
	RANGE_IS(1000, "Range: bytes=-0\r\n", -1, 0, 0);
	RANGE_IS(1000, "Range: bytes=99999999999999999999999-\r\n", -1, 0, 0);
	/* An empty body: the whole (empty) response. */
	RANGE_IS(0, "Range: bytes=0-\r\n", 0, 0, 0);
	RANGE_IS(0, "Range: bytes=-5\r\n", 0, 0, 0);
	RANGE_IS(1, "Range: bytes=0-\r\n", 1, 0, 0);
}
END_TEST

START_TEST(range_ignored)
{
	static const char	*ign[] = {
		"Range: bytes=0-1,5-6\r\n",
		"Range: bytes=0-1, 0-1\r\n",
		"Range: bytes=0-1\r\nRange: bytes=2-3\r\n",
		"Range: items=0-1\r\n",
		"Range: bytes 0-1\r\n",
		"Range: bytes=\r\n",
		"Range: bytes=,\r\n",
		"Range: bytes=5-2\r\n",
		"Range: bytes=abc\r\n",
		"Range: bytes=1\r\n",
		"Range: bytes=-\r\n",
		"Range: bytes=--5\r\n",
		"Range: bytes=1-2-3\r\n",
		"Range: bytes=1 -2\r\n",
		"Range: bytes=0x1-2\r\n",
		"Range: bytes=-5a\r\n",
		"Range: bytes==0-1\r\n",
		"Range: bytesx=0-1\r\n",
		"Range: byte=0-1\r\n",
	};
	size_t	 i;

	mkmeta(60);
	for (i = 0; i < sizeof(ign) / sizeof(ign[0]); i++)
		RANGE_IS(1000, ign[i], 0, 0, 0);
	{
		uint64_t f, l;

		req("HEAD / HTTP/1.1\r\nHost: h\r\nRange: bytes=0-1\r\n\r\n");
		ck_assert_int_eq(cachepol_range(&rq, &meta, 10, &f, &l), 0);
	}
}
END_TEST

START_TEST(range_if_range)
{
	mkmeta(60);
	set_etag("\"v1\"");
	meta.last_modified = T0 - 3600;
	RANGE_IS(100, "Range: bytes=0-9\r\nIf-Range: \"v1\"\r\n", 1, 0, 9);
	RANGE_IS(100, "Range: bytes=0-9\r\nIf-Range: \"v2\"\r\n", 0, 0, 0);
	RANGE_IS(100, "Range: bytes=0-9\r\nIf-Range: W/\"v1\"\r\n", 0, 0, 0);
	RANGE_IS(100, "Range: bytes=0-9\r\nIf-Range: \"v1\" x\r\n", 0, 0, 0);
	RANGE_IS(100, "Range: bytes=0-9\r\nIf-Range: \"v1\r\n", 0, 0, 0);
	RANGE_IS(100, "Range: bytes=0-9\r\nIf-Range: \"v1\"\r\n"
	    "If-Range: \"v1\"\r\n", 0, 0, 0);
	/* A mismatch sends everything, even when unsatisfiable. */
	RANGE_IS(100, "Range: bytes=500-\r\nIf-Range: \"v2\"\r\n", 0, 0, 0);
	RANGE_IS(100, "Range: bytes=500-\r\nIf-Range: \"v1\"\r\n", -1, 0, 0);
	/* Dates: exactly Last-Modified, which must be strong. */
	RANGE_IS(100, "Range: bytes=0-9\r\nIf-Range: Sun, 06 Nov 1994 07:49:37 "
	    "GMT\r\n", 1, 0, 9);
	RANGE_IS(100, "Range: bytes=0-9\r\nIf-Range: Sun, 06 Nov 1994 07:49:38 "
	    "GMT\r\n", 0, 0, 0);
	RANGE_IS(100, "Range: bytes=0-9\r\nIf-Range: Sun, 06 Nov 1994 07:49:36 "
	    "GMT\r\n", 0, 0, 0);
	RANGE_IS(100, "Range: bytes=0-9\r\nIf-Range: yesterday\r\n", 0, 0, 0);
	meta.last_modified = T0 - 59;
	RANGE_IS(100, "Range: bytes=0-9\r\nIf-Range: Sun, 06 Nov 1994 08:48:38 "
	    "GMT\r\n", 0, 0, 0);
	meta.last_modified = T0 - 60;
	RANGE_IS(100, "Range: bytes=0-9\r\nIf-Range: Sun, 06 Nov 1994 08:48:37 "
	    "GMT\r\n", 1, 0, 9);
	meta.last_modified = -1;
	RANGE_IS(100, "Range: bytes=0-9\r\nIf-Range: Sun, 06 Nov 1994 08:48:37 "
	    "GMT\r\n", 0, 0, 0);
	/* A weak stored tag never matches. */
	set_etag("W/\"v1\"");
	RANGE_IS(100, "Range: bytes=0-9\r\nIf-Range: \"v1\"\r\n", 0, 0, 0);
	meta.etag_len = 0;
	RANGE_IS(100, "Range: bytes=0-9\r\nIf-Range: \"v1\"\r\n", 0, 0, 0);
}
END_TEST

/* Keys. */

static int
key(const char *r, const char *fb, char *out, size_t cap)
{
	req("%s", r);
	return cachepol_key(&rq, fb, out, cap);
}

static int
skey(const char *r, const char *scope, int https, char *out, size_t cap)
{
	req("%s", r);
	return cachepol_key_scoped(&rq, NULL, scope, https, out, cap);
}

START_TEST(key_scoped)
{
	char	 k[256];
	int	 n;

	/* Scope, scheme, host without the scheme's own default port. */
	n = skey("GET /a?b HTTP/1.1\r\nHost: X.example:80\r\n\r\n", "r u", 0,
	    k, sizeof(k));
	ck_assert(span_eq(k, n, "r u http://x.example/a?b"));
	n = skey("GET /a HTTP/1.1\r\nHost: x:80\r\n\r\n", "r u", 1, k, sizeof(k));
	ck_assert(span_eq(k, n, "r u https://x:80/a"));
	n = skey("GET /a HTTP/1.1\r\nHost: x:443\r\n\r\n", "r u", 1, k, sizeof(k));
	ck_assert(span_eq(k, n, "r u https://x/a"));
	n = skey("GET /a HTTP/1.1\r\nHost: x:443\r\n\r\n", "r u", 0, k, sizeof(k));
	ck_assert(span_eq(k, n, "r u http://x:443/a"));
	n = skey("GET /a HTTP/1.1\r\nHost: [::1]:443\r\n\r\n", NULL, 1, k,
	    sizeof(k));
	ck_assert(span_eq(k, n, "https://[::1]/a"));
	n = skey("GET /a HTTP/1.1\r\nHost: x\r\n\r\n", "", 0, k, sizeof(k));
	ck_assert(span_eq(k, n, "http://x/a"));
	/* Different scopes or schemes never give the same key. */
	n = skey("GET /a HTTP/1.1\r\nHost: x\r\n\r\n", "pub app", 0, k,
	    sizeof(k));
	ck_assert(span_eq(k, n, "pub app http://x/a"));
	/* Room, and no host at all. */
	ck_assert_int_eq(skey("GET /a HTTP/1.1\r\nHost: x\r\n\r\n", "s", 0, k,
	    12), 12);
	ck_assert_int_eq(skey("GET /a HTTP/1.1\r\nHost: x\r\n\r\n", "s", 0, k,
	    11), -1);
	ck_assert_int_eq(skey("GET /a HTTP/1.0\r\n\r\n", "s", 0, k, sizeof(k)),
	    -1);
}
END_TEST

START_TEST(key_build)
{
	char	 k[256];
	int	 n;

	n = key("GET /a/B?x=1&Y HTTP/1.1\r\nHost: Example.COM\r\n\r\n", "fb",
	    k, sizeof(k));
	ck_assert(span_eq(k, n, "example.com/a/B?x=1&Y"));
	n = key("GET /a HTTP/1.1\r\nHost: example.com:80\r\n\r\n", NULL, k,
	    sizeof(k));
	ck_assert(span_eq(k, n, "example.com/a"));
	n = key("GET /a HTTP/1.1\r\nHost: example.com:080\r\n\r\n", NULL, k,
	    sizeof(k));
	ck_assert(span_eq(k, n, "example.com/a"));
	n = key("GET /a HTTP/1.1\r\nHost: example.com:8080\r\n\r\n", NULL, k,
	    sizeof(k));
	ck_assert(span_eq(k, n, "example.com:8080/a"));
	n = key("GET /a HTTP/1.1\r\nHost: example.com:443\r\n\r\n", NULL, k,
	    sizeof(k));
	ck_assert(span_eq(k, n, "example.com:443/a"));
	n = key("GET /a HTTP/1.1\r\nHost: example.com:180\r\n\r\n", NULL, k,
	    sizeof(k));
	ck_assert(span_eq(k, n, "example.com:180/a"));
	n = key("GET / HTTP/1.1\r\nHost: [::1]:80\r\n\r\n", NULL, k, sizeof(k));
	ck_assert(span_eq(k, n, "[::1]/"));
	n = key("GET / HTTP/1.1\r\nHost: [::80]\r\n\r\n", NULL, k, sizeof(k));
	ck_assert(span_eq(k, n, "[::80]/"));
	n = key("GET /? HTTP/1.1\r\nHost: h\r\n\r\n", NULL, k, sizeof(k));
	ck_assert(span_eq(k, n, "h/?"));
	n = key("GET /%41 HTTP/1.1\r\nHost: h\r\n\r\n", NULL, k, sizeof(k));
	ck_assert(span_eq(k, n, "h/%41"));

	/* Absolute-form: the authority is the host. */
	n = key("GET http://Example.com:80/x?y HTTP/1.1\r\nHost: other\r\n\r\n",
	    NULL, k, sizeof(k));
	ck_assert(span_eq(k, n, "example.com/x?y"));
	n = key("GET http://h HTTP/1.1\r\nHost: h\r\n\r\n", NULL, k, sizeof(k));
	ck_assert(span_eq(k, n, "h/"));
	n = key("GET http://h?q HTTP/1.1\r\nHost: h\r\n\r\n", NULL, k,
	    sizeof(k));
	ck_assert(span_eq(k, n, "h/?q"));
	n = key("GET https://h:8443/p HTTP/1.1\r\nHost: h\r\n\r\n", NULL, k,
	    sizeof(k));
	ck_assert(span_eq(k, n, "h:8443/p"));

	/* HTTP/1.0 without Host. */
	n = key("GET /p HTTP/1.0\r\n\r\n", "Fall.Back:80", k, sizeof(k));
	ck_assert(span_eq(k, n, "fall.back/p"));
	ck_assert_int_eq(key("GET /p HTTP/1.0\r\n\r\n", NULL, k, sizeof(k)),
	    -1);
	n = key("GET /p HTTP/1.0\r\nHost: h\r\n\r\n", "fb", k, sizeof(k));
	ck_assert(span_eq(k, n, "h/p"));

	/* Room. */
	ck_assert_int_eq(key("GET /abc HTTP/1.1\r\nHost: h\r\n\r\n", NULL, k,
	    5), 5);
	ck_assert(span_eq(k, 5, "h/abc"));
	ck_assert_int_eq(key("GET /abc HTTP/1.1\r\nHost: h\r\n\r\n", NULL, k,
	    4), -1);
	ck_assert_int_eq(key("GET /abc?q HTTP/1.1\r\nHost: h\r\n\r\n", NULL, k,
	    6), -1);
	ck_assert_int_eq(key("GET /abc HTTP/1.1\r\nHost: h\r\n\r\n", NULL, k,
	    0), -1);
}
END_TEST

static int
kou(const char *uri, char *out, size_t cap)
{
	return cachepol_key_of_uri(uri, strlen(uri), &rq, "fb", out, cap);
}

#define KOU(uri, want) do {						\
	char k_[256];							\
	int n_ = kou((uri), k_, sizeof(k_));				\
	ck_assert_msg(span_eq(k_, n_, (want)), "%s: %d %.*s", (uri),	\
	    n_, n_ > 0 ? n_ : 0, k_);					\
} while (0)

#define KOU_NONE(uri) do {						\
	char k_[256];							\
	ck_assert_msg(kou((uri), k_, sizeof(k_)) == -1, "%s", (uri));	\
} while (0)

START_TEST(key_of_uri)
{
	char	 k[64];

	req("GET /a/b/c?q=1 HTTP/1.1\r\nHost: Example.com\r\n\r\n");
	/* Absolute, same host. */
	KOU("http://example.com/x", "example.com/x");
	KOU("http://EXAMPLE.com:80/x?y#frag", "example.com/x?y");
	KOU("HTTP://example.com:/x", "example.com/x");
	KOU("https://example.com/x", "example.com/x");
	KOU("https://example.com:443/x", "example.com/x");
	KOU("http://example.com", "example.com/");
	KOU("http://example.com?z", "example.com/?z");
	KOU("http://example.com/p/../q/./r", "example.com/q/r");
	KOU("//example.com/n", "example.com/n");
	/* Other host, port, scheme, userinfo. */
	KOU_NONE("http://other.com/x");
	KOU_NONE("http://example.com.evil/x");
	KOU_NONE("http://example.co/x");
	KOU_NONE("http://example.com:8080/x");
	KOU_NONE("https://example.com:80/x");
	KOU_NONE("http://user@example.com/x");
	KOU_NONE("ftp://example.com/x");
	KOU_NONE("mailto:a@example.com");
	KOU_NONE("http:/x");
	KOU_NONE("http://");
	KOU_NONE("//other/n");
	/* Absolute path. */
	KOU("/abs/path?q", "example.com/abs/path?q");
	KOU("/", "example.com/");
	KOU("/a/./b/../c", "example.com/a/c");
	KOU("/a/b/..", "example.com/a/");
	KOU("/a/b/.", "example.com/a/b/");
	KOU("/../../x", "example.com/x");
	KOU("/x?a/../b", "example.com/x?a/../b");
	/* Relative to /a/b/c. */
	KOU("rel", "example.com/a/b/rel");
	KOU("rel/x?y", "example.com/a/b/rel/x?y");
	KOU("./x", "example.com/a/b/x");
	KOU("../x", "example.com/a/x");
	KOU("../../../../x", "example.com/x");
	KOU(".", "example.com/a/b/");
	KOU("..", "example.com/a/");
	KOU("?q2", "example.com/a/b/c?q2");
	KOU("", "example.com/a/b/c?q=1");
	KOU("#f", "example.com/a/b/c?q=1");
	/* Bytes that no URI holds. */
	KOU_NONE("/a b");
	KOU_NONE("/a\tb");
	KOU_NONE("/a\x7f");
	ck_assert_int_eq(cachepol_key_of_uri(NULL, 0, &rq, NULL, k, sizeof(k)),
	    -1);
	ck_assert_int_eq(cachepol_key_of_uri("/a\0b", 4, &rq, NULL, k,
	    sizeof(k)), -1);
	/* Room. */
	ck_assert_int_eq(kou("/xyz", k, 15), 15);
	ck_assert_int_eq(kou("/xyz", k, 14), -1);
	/* The room must hold the merged path before dots are removed. */
	ck_assert_int_eq(kou("../../../../../../xy", k, 14), -1);
	ck_assert_int_eq(kou("../../../../../../xy", k, 36), 14);
	ck_assert(span_eq(k, 14, "example.com/xy"));

	/* The request's port is part of the host. */
	req("GET / HTTP/1.1\r\nHost: h:8080\r\n\r\n");
	KOU("http://h:8080/x", "h:8080/x");
	KOU_NONE("http://h/x");
	req("GET / HTTP/1.0\r\n\r\n");
	KOU("http://fb/x", "fb/x");
	KOU("x", "fb/x");
}
END_TEST

START_TEST(invalidates)
{
	static const enum http_method	 unsafe[] = {
		HTTP_M_POST, HTTP_M_PUT, HTTP_M_DELETE, HTTP_M_PATCH,
		HTTP_M_OTHER
	};
	static const enum http_method	 safe[] = {
		HTTP_M_GET, HTTP_M_HEAD, HTTP_M_OPTIONS, HTTP_M_TRACE
	};
	size_t				 i;

	for (i = 0; i < sizeof(unsafe) / sizeof(unsafe[0]); i++) {
		ck_assert(cachepol_invalidates(unsafe[i], 200));
		ck_assert(cachepol_invalidates(unsafe[i], 201));
		ck_assert(cachepol_invalidates(unsafe[i], 204));
		ck_assert(cachepol_invalidates(unsafe[i], 302));
		ck_assert(cachepol_invalidates(unsafe[i], 399));
		ck_assert(!cachepol_invalidates(unsafe[i], 100));
		ck_assert(!cachepol_invalidates(unsafe[i], 400));
		ck_assert(!cachepol_invalidates(unsafe[i], 404));
		ck_assert(!cachepol_invalidates(unsafe[i], 500));
	}
	for (i = 0; i < sizeof(safe) / sizeof(safe[0]); i++) {
		ck_assert(!cachepol_invalidates(safe[i], 200));
		ck_assert(!cachepol_invalidates(safe[i], 302));
	}
}
END_TEST

/*
 * Arbitrary bytes everywhere: nothing may read or write out of bounds
 * (this is what the sanitizer build is for) and the few invariants that
 * hold for any input must hold.
 */
static uint32_t	 rnd_state = 12345;

static uint32_t
rnd(void)
{
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 17;
	rnd_state ^= rnd_state << 5;
	return rnd_state;
}

START_TEST(robustness)
{
	static const char	*names[] = {
		"Cache-Control", "Vary", "ETag", "Date", "Expires", "Age",
		"Last-Modified", "Set-Cookie", "Connection", "If-None-Match",
		"If-Modified-Since", "Range", "If-Range", "Pragma",
		"Authorization", "Accept", "Content-Length",
	};
	static const char	 alpha[] =
	    "\"\\,;= \t*-/Wbytes0123456789aZ:\r\n\x00\x80\xff";
	struct http_header	 h[8];
	struct http_request	 r;
	struct http_response	 s;
	struct cachepol_req	 c;
	struct cachepol_cc	 cc;
	struct cache_meta	 m;
	char			*vals, out[512], blob[256];
	const char		*w;
	uint64_t		 f, l;
	size_t			 vl[8], i, j;
	int			 iter, n;

	for (iter = 0; iter < 20000; iter++) {
		/* Each value in its own heap block, for ASan's sake. */
		for (i = 0; i < 8; i++) {
			vl[i] = rnd() % 40;
			vals = malloc(vl[i] + 1);
			ck_assert_ptr_nonnull(vals);
			for (j = 0; j < vl[i]; j++)
				vals[j] = alpha[rnd() % (sizeof(alpha) - 1)];
			h[i].name = names[rnd() % (sizeof(names) /
			    sizeof(names[0]))];
			h[i].name_len = (uint32_t)strlen(h[i].name);
			h[i].value = vals;
			h[i].value_len = (uint32_t)vl[i];
		}
		memset(&r, 0, sizeof(r));
		r.method = rnd() % 2 ? HTTP_M_GET : HTTP_M_POST;
		r.host = "h";
		r.host_len = 1;
		r.path = "/p/q";
		r.path_len = 4;
		r.content_length = -1;
		r.headers = h;
		r.nheaders = rnd() % 9;
		memset(&s, 0, sizeof(s));
		s.status = 200;
		s.reason = "OK";
		s.reason_len = 2;
		s.headers = h;
		s.nheaders = rnd() % 9;

		cachepol_cc(h, s.nheaders, &cc);
		cachepol_request(&r, &c);
		memset(&m, 0, sizeof(m));
		if (cachepol_storable(&c, &s, &opts, T0, T0, &m, &w) == 1) {
			ck_assert_ptr_null(w);
			ck_assert_int_ge(m.lifetime, 0);
			ck_assert_uint_le(m.etag_len, sizeof(m.etag));
			(void)cachepol_use(&m, &c, &opts, T0 + (rnd() % 1000));
			(void)cachepol_stale_if_error(&m, &c, T0 + 5);
		} else
			ck_assert_ptr_nonnull(w);
		n = cachepol_vary_blob(&s, &r, blob, rnd() % sizeof(blob));
		if (n >= 0)
			ck_assert_int_eq(cachepol_vary_match(blob, (size_t)n,
			    &r), 1);
		(void)cachepol_vary_match(h[0].value, h[0].value_len, &r);
		for (i = 0; i < 8; i++) {
			(void)cachepol_date_at(h[i].value, h[i].value_len,
			    NOW24);
			(void)cachepol_key_of_uri(h[i].value, h[i].value_len,
			    &r, "fb", out, rnd() % sizeof(out));
		}
		(void)cachepol_not_modified(&r, &m);
		(void)cachepol_range(&r, &m, rnd() % 100, &f, &l);
		(void)cachepol_stored_head(&s, 1, out, rnd() % sizeof(out));
		(void)cachepol_merge_304(h[1].value, h[1].value_len, &s, out,
		    rnd() % sizeof(out));
		for (i = 0; i < 8; i++)
			free((void *)(uintptr_t)h[i].value);
	}
}
END_TEST

static Suite *
cachepol_suite(void)
{
	Suite	*s = suite_create("cachepol");
	TCase	*tc;

	tc = tcase_create("parse");
	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, cc_basic);
	tcase_add_test(tc, cc_multiple_fields);
	tcase_add_test(tc, cc_quoted);
	tcase_add_test(tc, cc_unknown);
	tcase_add_test(tc, cc_invalid_numbers);
	tcase_add_test(tc, cc_duplicates);
	tcase_add_test(tc, date_formats);
	tcase_add_test(tc, date_invalid);
	tcase_add_test(tc, date_two_digit_year);
	tcase_add_test(tc, date_fmt);
	tcase_add_test(tc, request_fields);
	suite_add_tcase(s, tc);

	tc = tcase_create("freshness");
	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, fresh_sources);
	tcase_add_test(tc, fresh_precedence);
	tcase_add_test(tc, fresh_heuristic);
	tcase_add_test(tc, fresh_default_ttl);
	tcase_add_test(tc, age_calc);
	tcase_add_test(tc, age_from_response);
	suite_add_tcase(s, tc);

	tc = tcase_create("store");
	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, store_reasons);
	tcase_add_test(tc, targeted_fields);
	tcase_add_test(tc, store_flags);
	tcase_add_test(tc, store_etag);
	tcase_add_test(tc, store_auth);
	suite_add_tcase(s, tc);

	tc = tcase_create("use");
	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, use_basic);
	tcase_add_test(tc, use_request_no_cache);
	tcase_add_test(tc, use_max_age_min_fresh);
	tcase_add_test(tc, use_max_stale);
	tcase_add_test(tc, use_swr);
	tcase_add_test(tc, use_stale_if_error);
	suite_add_tcase(s, tc);

	tc = tcase_create("vary");
	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, vary_none);
	tcase_add_test(tc, vary_basic);
	tcase_add_test(tc, vary_absent);
	tcase_add_test(tc, vary_multiple);
	tcase_add_test(tc, vary_star_and_bad);
	tcase_add_test(tc, vary_match_malformed);
	suite_add_tcase(s, tc);

	tc = tcase_create("head");
	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, head_filter);
	tcase_add_test(tc, head_status_line);
	tcase_add_test(tc, head_bad_bytes);
	tcase_add_test(tc, merge_304);
	tcase_add_test(tc, merge_304_malformed);
	suite_add_tcase(s, tc);

	tc = tcase_create("conditional");
	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, not_modified_inm);
	tcase_add_test(tc, not_modified_ims);
	tcase_add_test(tc, range_forms);
	tcase_add_test(tc, range_ignored);
	tcase_add_test(tc, range_if_range);
	suite_add_tcase(s, tc);

	tc = tcase_create("keys");
	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, key_build);
	tcase_add_test(tc, key_scoped);
	tcase_add_test(tc, key_of_uri);
	tcase_add_test(tc, invalidates);
	suite_add_tcase(s, tc);

	tc = tcase_create("robustness");
	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, robustness);
	suite_add_tcase(s, tc);

	return s;
}

int
main(void)
{
	SRunner	*sr;
	int	 failed;

	sr = srunner_create(cachepol_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
