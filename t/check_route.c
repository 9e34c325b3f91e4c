/*
 * check_route.c: unit tests for request routing (route_find in
 * worker/request.c), on configurations loaded as the daemon loads them
 * and requests parsed as the daemon parses them.  The rules are those of
 * ROUTING in man/portico.ini.5: the routes of the listener and those
 * without one; the most specific host pattern (exact, the longest
 * wildcard, then *), lowercased, without port or trailing dot; then the
 * longest path prefix under that very pattern, the first in the file on
 * a tie; 421 when no host matches, 404 when no path does.  The path is
 * routed after normalization (worker/uri.c), as step_head does.  And
 * the balancing key of a request (request_key), for ip_hash and hash.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/conf.h"
#include "common/http.h"
#include "worker/proxy_int.h"
#include "worker/uri.h"

#define BASE \
	"[listener web]\n" \
	"listen = 127.0.0.1:8080\n" \
	"[listener admin]\n" \
	"listen = 127.0.0.1:8081\n" \
	"[upstream app]\n" \
	"server = 127.0.0.1:9000\n"
#define HOSTS \
	"[route wild]\n" \
	"host = *.example.com\n" \
	"path = /\n" \
	"upstream = app\n" \
	"[route wild_deep]\n" \
	"host = *.shop.example.com\n" \
	"path = /\n" \
	"upstream = app\n" \
	"[route www_app]\n" \
	"host = www.example.com\n" \
	"path = /app/\n" \
	"upstream = app\n" \
	"[route www_app_sub]\n" \
	"host = www.example.com\n" \
	"path = /app/sub/\n" \
	"upstream = app\n" \
	"[route admin_only]\n" \
	"listener = admin\n" \
	"host = admin.test\n" \
	"path = /\n" \
	"upstream = app\n"

/* The * routes come first: host patterns, not the order, decide. */
static const char cfg[] = BASE
	"[route any]\n"
	"upstream = app\n"
	"[route any_api]\n"
	"path = /api/\n"
	"upstream = app\n"
	"[route any_api_v2]\n"
	"path = /api/v2/\n"
	"upstream = app\n"
	HOSTS;

static struct conf		*cf;
static struct conf_listener	*web, *admin;
static struct http_header	 fields[100];
static struct http_limits	 lim = { .max_request_line = 8192,
				    .max_head = 16384, .max_headers = 100 };
static char			 normbuf[1024];

/* Load a config as the daemon does; web and admin are its listeners. */
static void
load(const char *text)
{
	char	 path[] = "/tmp/check_route.XXXXXX";
	char	*errors = NULL;
	size_t	 i, len = strlen(text);
	int	 fd;

	if (cf != NULL)
		conf_free(cf);
	fd = mkstemp(path);
	ck_assert_int_ne(fd, -1);
	ck_assert_int_eq(write(fd, text, len), (ssize_t)len);
	close(fd);
	cf = conf_load(path, &errors);
	unlink(path);
	ck_assert_msg(cf != NULL, "config refused: %s", errors ? errors : "?");
	web = admin = NULL;
	for (i = 0; i < cf->nlisteners; i++) {
		if (strcmp(cf->listeners[i].name, "web") == 0)
			web = &cf->listeners[i];
		else if (strcmp(cf->listeners[i].name, "admin") == 0)
			admin = &cf->listeners[i];
	}
	ck_assert_ptr_nonnull(web);
	ck_assert_ptr_nonnull(admin);
}

static void
setup(void)
{
	load(cfg);
}

static void
teardown(void)
{
	conf_free(cf);
	cf = NULL;
}

/*
 * Route a request head as step_head does: parse it, normalize its path
 * (flags as from [global]), find the route.  Returns the route's name,
 * or "421"/"404" (or "400" for a path without a normal form).
 */
static const char *
route(const struct conf_listener *ls, const char *head, unsigned flags)
{
	static char		 st[8];
	struct http_request	 rq;
	struct conf_route	*rt;
	const char		*why = NULL;
	size_t			 n;
	int			 status = 0;

	memset(&rq, 0, sizeof(rq));
	ck_assert_int_eq(http_parse_request(head, strlen(head), &lim, &rq,
	    fields), HTTP_PARSE_OK);
	if (rq.path[0] == '/') {
		if (uri_normalize_path(rq.path, rq.path_len, flags, normbuf,
		    &n, &why) == -1)
			return "400";
		rq.path = normbuf;
		rq.path_len = n;
	}
	rt = route_find(cf, ls, &rq, &status);
	if (rt != NULL) {
		ck_assert_int_eq(status, 0);
		return rt->name;
	}
	snprintf(st, sizeof(st), "%d", status);
	return st;
}

#define GET(host, path)	"GET " path " HTTP/1.1\r\nHost: " host "\r\n\r\n"
#define ROUTE_EQ(ls, head, want) \
	ck_assert_str_eq(route(ls, head, URI_MERGE_SLASHES), want)

START_TEST(exact_host_wins)
{
	ROUTE_EQ(web, GET("www.example.com", "/app/x"), "www_app");
	/* Case, port and a trailing dot do not matter. */
	ROUTE_EQ(web, GET("WWW.Example.COM:8080", "/app/x"), "www_app");
	ROUTE_EQ(web, GET("www.example.com.", "/app/"), "www_app");
	ROUTE_EQ(web, GET("www.example.com", "/app/sub/x"), "www_app_sub");
	ROUTE_EQ(web, GET("www.example.com", "/app/sub"), "www_app");
}
END_TEST

START_TEST(no_fallback_from_exact_host)
{
	/* The exact host has no route for "/": 404, not the wildcard's. */
	ROUTE_EQ(web, GET("www.example.com", "/"), "404");
	ROUTE_EQ(web, GET("www.example.com", "/application"), "404");
	ROUTE_EQ(web, GET("www.example.com", "/ap"), "404");
}
END_TEST

START_TEST(wildcard_hosts)
{
	ROUTE_EQ(web, GET("a.example.com", "/"), "wild");
	ROUTE_EQ(web, GET("a.b.example.com", "/x"), "wild");
	/* The longest wildcard domain wins. */
	ROUTE_EQ(web, GET("x.shop.example.com", "/"), "wild_deep");
	ROUTE_EQ(web, GET("shop.example.com", "/"), "wild");
	/* "*.example.com" does not match example.com itself. */
	ROUTE_EQ(web, GET("example.com", "/"), "any");
	ROUTE_EQ(web, GET("badexample.com", "/"), "any");
}
END_TEST

START_TEST(default_route_and_prefixes)
{
	ROUTE_EQ(web, GET("other.test", "/"), "any");
	ROUTE_EQ(web, GET("other.test", "/x/y?q=1"), "any");
	ROUTE_EQ(web, GET("other.test", "/api"), "any");
	ROUTE_EQ(web, GET("other.test", "/api/"), "any_api");
	ROUTE_EQ(web, GET("other.test", "/api/v1/x"), "any_api");
	/* The longest prefix wins, whatever the order in the file. */
	ROUTE_EQ(web, GET("other.test", "/api/v2/x"), "any_api_v2");
	/* Prefixes are compared byte by byte: no case folding. */
	ROUTE_EQ(web, GET("other.test", "/API/v2/x"), "any");
	/* An HTTP/1.0 request without Host takes the * routes. */
	ROUTE_EQ(web, "GET /api/x HTTP/1.0\r\n\r\n", "any_api");
	/* An absolute-form target: its authority is the host. */
	ROUTE_EQ(web, "GET http://www.example.com/app/z HTTP/1.1\r\n"
	    "Host: www.example.com\r\n\r\n", "www_app");
}
END_TEST

START_TEST(listeners)
{
	/* A route of another listener is not seen. */
	ROUTE_EQ(web, GET("admin.test", "/"), "any");
	ROUTE_EQ(admin, GET("admin.test", "/"), "admin_only");
	ROUTE_EQ(admin, GET("admin.test", "/api/v2/"), "admin_only");
	/* Routes without listener serve every listener. */
	ROUTE_EQ(admin, GET("other.test", "/api/"), "any_api");
}
END_TEST

START_TEST(misdirected)
{
	/* Without * routes, a host that no pattern names is 421. */
	load(BASE HOSTS);
	ROUTE_EQ(web, GET("other.test", "/"), "421");
	ROUTE_EQ(web, GET("example.com", "/"), "421");
	ROUTE_EQ(web, GET("[::1]:8080", "/"), "421");
	ROUTE_EQ(web, GET("a.example.com", "/"), "wild");
	ROUTE_EQ(admin, GET("admin.test", "/"), "admin_only");
	ROUTE_EQ(web, GET("admin.test", "/"), "421");
}
END_TEST

/*
 * The path is routed after normalization: dot segments and escapes
 * cannot reach a route by a detour, nor leave the one they name.
 */
START_TEST(route_after_normalize)
{
	ROUTE_EQ(web, GET("other.test", "/x/../api/v2/a"), "any_api_v2");
	ROUTE_EQ(web, GET("other.test", "/api/v2/../../a"), "any");
	ROUTE_EQ(web, GET("other.test", "/api/./v2/a"), "any_api_v2");
	ROUTE_EQ(web, GET("other.test", "/%61pi/v2/a"), "any_api_v2");
	ROUTE_EQ(web, GET("other.test", "//api//v2/a"), "any_api_v2");
	ROUTE_EQ(web, GET("www.example.com", "/app/../x"), "404");
	ROUTE_EQ(web, GET("www.example.com", "/x/../app/y"), "www_app");
	ROUTE_EQ(web, GET("www.example.com", "/x/%2e%2e/app/y"), "www_app");
	ROUTE_EQ(web, GET("www.example.com", "/%2e%2e/app/y"), "400");
	/* Above the root: refused (400) before any route is looked at. */
	ROUTE_EQ(web, GET("other.test", "/../api/"), "400");
	/* Without merge_slashes, "//api/" is not under "/api/". */
	ck_assert_str_eq(route(web, GET("other.test", "//api/v2/"), 0), "any");
}
END_TEST

/*
 * The balancing key (request_key): the client address for ip_hash; for
 * hash, the target, a header or a cookie as hash_key says.  No key (an
 * absent or empty field) means round robin, as for the other methods.
 * Returns whether the request is keyed, with the hash in *h.
 */
static int
key_of(const char *keys, const char *ip, const char *head, uint32_t *h)
{
	char			 text[1024];
	struct http_request	 rq;
	struct upstream_rt	 ups;
	struct client		*c;
	struct req		*r;
	int			 keyed;

	snprintf(text, sizeof(text), BASE "[upstream h]\n"
	    "server = 127.0.0.1:9002\n%s[route main]\nupstream = h\n", keys);
	load(text);
	c = calloc(1, sizeof(*c));
	r = calloc(1, sizeof(*r));
	ck_assert_ptr_nonnull(c);
	ck_assert_ptr_nonnull(r);
	memset(&ups, 0, sizeof(ups));
	ups.conf = cf->routes[0].upstream;
	ck_assert_str_eq(ups.conf->name, "h");
	r->upstream = &ups;
	r->keyed = 1;
	c->r = r;
	snprintf(r->ip, sizeof(r->ip), "%s", ip);
	memset(&rq, 0, sizeof(rq));
	ck_assert_int_eq(http_parse_request(head, strlen(head), &lim, &rq,
	    fields), HTTP_PARSE_OK);
	request_key(c, &rq);
	keyed = r->keyed;
	*h = r->hash;
	free(r);
	free(c);
	return keyed;
}

#define HASH(s)	balance_hash(s, strlen(s))

START_TEST(balancing_key)
{
	uint32_t	 h;

	ck_assert_int_eq(key_of("", "10.1.2.3", GET("a", "/x"), &h), 0);
	ck_assert_int_eq(key_of("balance = least_conn\n", "10.1.2.3",
	    GET("a", "/x"), &h), 0);
	ck_assert_int_eq(key_of("balance = ip_hash\n", "10.1.2.3",
	    GET("a", "/x"), &h), 1);
	ck_assert_uint_eq(h, HASH("10.1.2.3"));
	ck_assert_int_eq(key_of("balance = ip_hash\n", "2001:db8::7",
	    GET("a", "/x"), &h), 1);
	ck_assert_uint_eq(h, HASH("2001:db8::7"));
	/* hash_key = uri: the target as sent, query included. */
	ck_assert_int_eq(key_of("balance = hash\nhash_key = uri\n", "10.1.2.3",
	    GET("a", "/x/../y?q=1"), &h), 1);
	ck_assert_uint_eq(h, HASH("/x/../y?q=1"));
}
END_TEST

START_TEST(balancing_key_fields)
{
	uint32_t	 h;

	ck_assert_int_eq(key_of("balance = hash\nhash_key = header:x-user\n",
	    "10.1.2.3", "GET / HTTP/1.1\r\nHost: a\r\nX-User: alice\r\n\r\n",
	    &h), 1);
	ck_assert_uint_eq(h, HASH("alice"));
	/* Absent or empty: round robin. */
	ck_assert_int_eq(key_of("balance = hash\nhash_key = header:x-user\n",
	    "10.1.2.3", GET("a", "/"), &h), 0);
	ck_assert_int_eq(key_of("balance = hash\nhash_key = header:x-user\n",
	    "10.1.2.3", "GET / HTTP/1.1\r\nHost: a\r\nX-User:\r\n\r\n", &h), 0);
	/* A cookie, in any Cookie field, not one whose name it starts. */
	ck_assert_int_eq(key_of("balance = hash\nhash_key = cookie:sid\n",
	    "10.1.2.3", "GET / HTTP/1.1\r\nHost: a\r\nCookie: sidx=1; a=2\r\n"
	    "Cookie: b=3; sid=xyz; c=4\r\n\r\n", &h), 1);
	ck_assert_uint_eq(h, HASH("xyz"));
	ck_assert_int_eq(key_of("balance = hash\nhash_key = cookie:sid\n",
	    "10.1.2.3", "GET / HTTP/1.1\r\nHost: a\r\nCookie: sidx=1\r\n\r\n",
	    &h), 0);
}
END_TEST

static Suite *
route_suite(void)
{
	Suite	*s = suite_create("route");
	TCase	*tc = tcase_create("route_find");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, exact_host_wins);
	tcase_add_test(tc, no_fallback_from_exact_host);
	tcase_add_test(tc, wildcard_hosts);
	tcase_add_test(tc, default_route_and_prefixes);
	tcase_add_test(tc, listeners);
	tcase_add_test(tc, misdirected);
	tcase_add_test(tc, route_after_normalize);
	suite_add_tcase(s, tc);
	tc = tcase_create("request_key");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, balancing_key);
	tcase_add_test(tc, balancing_key_fields);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner	*sr;
	int	 failed;

	sr = srunner_create(route_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
