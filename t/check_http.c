/*
 * check_http.c: unit tests for the HTTP/1.x parsers (common/http.c).
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/http.h"

#define NHDRS	128

static struct http_limits	 lim = { 8192, 16384, 100 };
static struct http_header	 hdrs[NHDRS];
static struct http_request	 req;
static struct http_response	 resp;

static int
preq(const char *s)
{
	return http_parse_request(s, strlen(s), &lim, &req, hdrs);
}

static int
presp(const char *s)
{
	return http_parse_response(s, strlen(s), &lim, &resp, hdrs);
}

static int
span_eq(const char *p, size_t n, const char *s)
{
	return p != NULL && n == strlen(s) && memcmp(p, s, n) == 0;
}

#define REQ_OK(s) do {							\
	int rv_ = preq(s);						\
	ck_assert_msg(rv_ == HTTP_PARSE_OK, "%s: got %d (%s)", #s, rv_,	\
	    req.error ? req.error : "");				\
	ck_assert_uint_eq(req.head_len, strlen(s));			\
} while (0)

#define REQ_ERR(s, code) do {						\
	int rv_ = preq(s);						\
	ck_assert_msg(rv_ == (code), "%s: got %d, want %d", #s, rv_,	\
	    (code));							\
	ck_assert_ptr_nonnull(req.error);				\
} while (0)

#define RESP_OK(s) do {							\
	int rv_ = presp(s);						\
	ck_assert_msg(rv_ == HTTP_PARSE_OK, "%s: got %d (%s)", #s, rv_,	\
	    resp.error ? resp.error : "");				\
	ck_assert_uint_eq(resp.head_len, strlen(s));			\
} while (0)

#define RESP_ERR(s) do {						\
	int rv_ = presp(s);						\
	ck_assert_msg(rv_ == 502, "%s: got %d, want 502", #s, rv_);	\
	ck_assert_ptr_nonnull(resp.error);				\
} while (0)

static void
setup(void)
{
	lim.max_request_line = 8192;
	lim.max_head = 16384;
	lim.max_headers = 100;
}

/* Requests: the basics. */

START_TEST(req_basic)
{
	REQ_OK("GET /a/b?x=1&y HTTP/1.1\r\nHost: example.com:8080\r\n"
	    "Accept: */*\r\n\r\n");
	ck_assert_int_eq(req.method, HTTP_M_GET);
	ck_assert(span_eq(req.method_str, req.method_len, "GET"));
	ck_assert(span_eq(req.target, req.target_len, "/a/b?x=1&y"));
	ck_assert(span_eq(req.path, req.path_len, "/a/b"));
	ck_assert(span_eq(req.query, req.query_len, "x=1&y"));
	ck_assert_int_eq(req.absolute_form, 0);
	ck_assert_int_eq(req.version, 11);
	ck_assert(span_eq(req.host, req.host_len, "example.com:8080"));
	ck_assert_int_eq(req.content_length, -1);
	ck_assert_int_eq(req.chunked, 0);
	ck_assert_int_eq(req.keep_alive, 1);
	ck_assert_int_eq(req.expect_continue, 0);
	ck_assert_int_eq(req.upgrade, 0);
	ck_assert_ptr_eq(req.headers, hdrs);
	ck_assert_uint_eq(req.nheaders, 2);
	ck_assert(span_eq(hdrs[0].name, hdrs[0].name_len, "Host"));
	ck_assert(span_eq(hdrs[1].name, hdrs[1].name_len, "Accept"));
	ck_assert(span_eq(hdrs[1].value, hdrs[1].value_len, "*/*"));
	ck_assert_ptr_null(req.error);

	REQ_OK("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
	ck_assert_ptr_null(req.query);
	REQ_OK("GET /? HTTP/1.1\r\nHost: h\r\n\r\n");
	ck_assert_ptr_nonnull(req.query);
	ck_assert_uint_eq(req.query_len, 0);
	ck_assert(span_eq(req.path, req.path_len, "/"));
}
END_TEST

START_TEST(req_methods)
{
	static const struct {
		const char		*s;
		enum http_method	 m;
	} t[] = {
		{ "GET", HTTP_M_GET }, { "HEAD", HTTP_M_HEAD },
		{ "POST", HTTP_M_POST }, { "PUT", HTTP_M_PUT },
		{ "DELETE", HTTP_M_DELETE }, { "OPTIONS", HTTP_M_OPTIONS },
		{ "PATCH", HTTP_M_PATCH }, { "TRACE", HTTP_M_TRACE },
		{ "PURGE", HTTP_M_OTHER }, { "get", HTTP_M_OTHER },
		{ "GETS", HTTP_M_OTHER }, { "M-SEARCH", HTTP_M_OTHER },
		{ "!#$%&'*+-.^_`|~", HTTP_M_OTHER }, { "DELETX", HTTP_M_OTHER },
		{ "OPTIONX", HTTP_M_OTHER }, { "CONNECX", HTTP_M_OTHER },
	};
	char	 buf[256];
	size_t	 i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		snprintf(buf, sizeof(buf), "%s / HTTP/1.1\r\nHost: h\r\n\r\n",
		    t[i].s);
		ck_assert_int_eq(preq(buf), HTTP_PARSE_OK);
		ck_assert_int_eq(req.method, t[i].m);
		ck_assert(span_eq(req.method_str, req.method_len, t[i].s));
	}
	REQ_ERR("CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\n\r\n", 501);
	REQ_ERR(" / HTTP/1.1\r\nHost: h\r\n\r\n", 400);
	REQ_ERR("GE(T / HTTP/1.1\r\nHost: h\r\n\r\n", 400);
	REQ_ERR("GE\x80T / HTTP/1.1\r\nHost: h\r\n\r\n", 400);
	REQ_ERR("GET\t/ HTTP/1.1\r\nHost: h\r\n\r\n", 400);
}
END_TEST

START_TEST(req_leading_crlf)
{
	REQ_OK("\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n");
	ck_assert_int_eq(req.method, HTTP_M_GET);
	ck_assert_ptr_eq(req.method_str, req.target - 4);
	ck_assert_int_eq(preq("\r\n"), HTTP_PARSE_AGAIN);
	ck_assert_int_eq(preq("\r"), HTTP_PARSE_AGAIN);
	REQ_ERR("\nGET / HTTP/1.1\r\nHost: h\r\n\r\n", 400);
	REQ_ERR("\r\rGET / HTTP/1.1\r\nHost: h\r\n\r\n", 400);
	REQ_ERR("\r\n GET / HTTP/1.1\r\nHost: h\r\n\r\n", 400);
}
END_TEST

START_TEST(req_line_terminators)
{
	REQ_ERR("GET / HTTP/1.1\nHost: h\r\n\r\n", 400);
	REQ_ERR("GET / HTTP/1.1\rHost: h\r\n\r\n", 400);
	REQ_ERR("GET / HTTP/1.1\r\nHost: h\n\r\n", 400);
	REQ_ERR("GET / HTTP/1.1\r\nHost: h\r\n\n", 400);
	REQ_ERR("GET / HTTP/1.1\r\nHost: h\r\n\r\r", 400);
	REQ_ERR("GET / HTTP/1.1\r\nHost: h\r\nA: b\rc\r\n\r\n", 400);
	REQ_ERR("GET / HTTP/1.1\r\nHost: h\r\nA: b\nc\r\n\r\n", 400);
	REQ_ERR("GET / HTTP/1.1\r\nHost: h\r\nA\r\n\r\n", 400);
}
END_TEST

START_TEST(req_spaces)
{
	REQ_ERR("GET  / HTTP/1.1\r\nHost: h\r\n\r\n", 400);
	REQ_ERR("GET /  HTTP/1.1\r\nHost: h\r\n\r\n", 400);
	REQ_ERR("GET / HTTP/1.1 \r\nHost: h\r\n\r\n", 400);
	REQ_ERR("GET /\r\nHost: h\r\n\r\n", 400);
	REQ_ERR("GET\r\n\r\n", 400);
	REQ_ERR("GET / HTTP/1.1\r\n Host: h\r\n\r\n", 400);
}
END_TEST

START_TEST(req_target_bytes)
{
	static const char	 nul[] = "GET /a\0 HTTP/1.1\r\nHost: h\r\n\r\n";

	REQ_OK("GET /!$&'()*+,;=:@-._~%20\"<>[]\\^`{|} HTTP/1.1\r\n"
	    "Host: h\r\n\r\n");
	REQ_ERR("GET /a\x80 HTTP/1.1\r\nHost: h\r\n\r\n", 400);
	REQ_ERR("GET /a\xff HTTP/1.1\r\nHost: h\r\n\r\n", 400);
	REQ_ERR("GET /a\x01 HTTP/1.1\r\nHost: h\r\n\r\n", 400);
	REQ_ERR("GET /a\x7f HTTP/1.1\r\nHost: h\r\n\r\n", 400);
	REQ_ERR("GET /a\tb HTTP/1.1\r\nHost: h\r\n\r\n", 400);
	REQ_ERR("GET /a#frag HTTP/1.1\r\nHost: h\r\n\r\n", 400);
	ck_assert_int_eq(http_parse_request(nul, sizeof(nul) - 1, &lim, &req,
	    hdrs), 400);
}
END_TEST

START_TEST(req_absolute_form)
{
	REQ_OK("GET http://Example.com:8080/p/q?x=y HTTP/1.1\r\n"
	    "Host: other\r\n\r\n");
	ck_assert_int_eq(req.absolute_form, 1);
	ck_assert(span_eq(req.host, req.host_len, "Example.com:8080"));
	ck_assert(span_eq(req.path, req.path_len, "/p/q"));
	ck_assert(span_eq(req.query, req.query_len, "x=y"));
	ck_assert(span_eq(req.target, req.target_len,
	    "http://Example.com:8080/p/q?x=y"));

	REQ_OK("GET HTTPS://h/ HTTP/1.1\r\nHost: h\r\n\r\n");
	ck_assert_int_eq(req.absolute_form, 1);
	ck_assert(span_eq(req.path, req.path_len, "/"));

	REQ_OK("GET hTTp://h HTTP/1.1\r\nHost: h\r\n\r\n");
	ck_assert(span_eq(req.host, req.host_len, "h"));
	ck_assert(span_eq(req.path, req.path_len, "/"));
	ck_assert_ptr_null(req.query);

	REQ_OK("GET http://h?a=b HTTP/1.1\r\nHost: h\r\n\r\n");
	ck_assert(span_eq(req.path, req.path_len, "/"));
	ck_assert(span_eq(req.query, req.query_len, "a=b"));

	REQ_OK("GET http://[::1]:80/ HTTP/1.0\r\n\r\n");
	ck_assert(span_eq(req.host, req.host_len, "[::1]:80"));

	REQ_ERR("GET http://u@h/ HTTP/1.1\r\nHost: h\r\n\r\n", 400);
	REQ_ERR("GET http://u:p@h/ HTTP/1.1\r\nHost: h\r\n\r\n", 400);
	REQ_ERR("GET http:/// HTTP/1.1\r\nHost: h\r\n\r\n", 400);
	REQ_ERR("GET http:// HTTP/1.1\r\nHost: h\r\n\r\n", 400);
	REQ_ERR("GET http://h:x/ HTTP/1.1\r\nHost: h\r\n\r\n", 400);
	REQ_ERR("GET ftp://h/ HTTP/1.1\r\nHost: h\r\n\r\n", 400);
	REQ_ERR("GET http:h/ HTTP/1.1\r\nHost: h\r\n\r\n", 400);
	REQ_ERR("GET h:80 HTTP/1.1\r\nHost: h\r\n\r\n", 400);
	REQ_ERR("GET a/b HTTP/1.1\r\nHost: h\r\n\r\n", 400);
	/* Dot segments are left to worker/uri.c, which refuses this one. */
	REQ_OK("GET http://h/../x HTTP/1.1\r\nHost: h\r\n\r\n");
	ck_assert(span_eq(req.path, req.path_len, "/../x"));
	/* The Host field must still be valid, and still be there in 1.1. */
	REQ_ERR("GET http://h/ HTTP/1.1\r\nHost: a@b\r\n\r\n", 400);
	REQ_ERR("GET http://h/ HTTP/1.1\r\n\r\n", 400);
}
END_TEST

START_TEST(req_asterisk_form)
{
	REQ_OK("OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n");
	ck_assert_int_eq(req.method, HTTP_M_OPTIONS);
	ck_assert(span_eq(req.target, req.target_len, "*"));
	REQ_ERR("GET * HTTP/1.1\r\nHost: h\r\n\r\n", 400);
	REQ_ERR("OPTIONS *x HTTP/1.1\r\nHost: h\r\n\r\n", 400);
	REQ_ERR("OPTIONS ** HTTP/1.1\r\nHost: h\r\n\r\n", 400);
}
END_TEST

START_TEST(req_dot_segments)
{
	/* The parser leaves dot segments to worker/uri.c (check_uri.c). */
	REQ_OK("GET /a/.b/..c/.../d./e../ HTTP/1.1\r\nHost: h\r\n\r\n");
	REQ_OK("GET /a?x=/../y/. HTTP/1.1\r\nHost: h\r\n\r\n");
	REQ_OK("GET /.well-known/x HTTP/1.1\r\nHost: h\r\n\r\n");
	REQ_OK("GET /a/../b HTTP/1.1\r\nHost: h\r\n\r\n");
	ck_assert(span_eq(req.path, req.path_len, "/a/../b"));
	REQ_OK("GET /a/..?x HTTP/1.1\r\nHost: h\r\n\r\n");
	ck_assert(span_eq(req.path, req.path_len, "/a/.."));
}
END_TEST

START_TEST(req_version)
{
	REQ_OK("GET / HTTP/1.0\r\n\r\n");
	ck_assert_int_eq(req.version, 10);
	REQ_OK("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
	ck_assert_int_eq(req.version, 11);
	REQ_OK("GET / HTTP/1.2\r\nHost: h\r\n\r\n");
	ck_assert_int_eq(req.version, 11);
	REQ_OK("GET / HTTP/1.9\r\nHost: h\r\n\r\n");
	ck_assert_int_eq(req.version, 11);
	REQ_ERR("GET / HTTP/2.0\r\nHost: h\r\n\r\n", 505);
	REQ_ERR("GET / HTTP/3.1\r\nHost: h\r\n\r\n", 505);
	REQ_ERR("GET / HTTP/9.9\r\n\r\n", 505);
	REQ_ERR("GET / HTTP/0.9\r\n\r\n", 400);
	REQ_ERR("GET / http/1.1\r\nHost: h\r\n\r\n", 400);
	REQ_ERR("GET / HTTP/1.10\r\nHost: h\r\n\r\n", 400);
	REQ_ERR("GET / HTTP/11\r\nHost: h\r\n\r\n", 400);
	REQ_ERR("GET / HTTP/1\r\nHost: h\r\n\r\n", 400);
	REQ_ERR("GET / HTTP/1.x\r\nHost: h\r\n\r\n", 400);
	REQ_ERR("GET / HTTP/2\r\nHost: h\r\n\r\n", 400);
	REQ_ERR("GET / HTTPS/1.1\r\nHost: h\r\n\r\n", 400);
}
END_TEST

START_TEST(req_fields)
{
	static const char	 nul[] = "GET / HTTP/1.1\r\nHost: h\r\nA: \0\r\n\r\n";

	REQ_OK("GET / HTTP/1.1\r\nHost: h\r\nX-A:  \t v a l \t \r\n"
	    "X-Empty:\r\nX-Ws: \t \r\nX-Obs: \x80\xff\r\n"
	    "!#$%&'*+-.^_`|~0aZ: x\r\n\r\n");
	ck_assert_uint_eq(req.nheaders, 6);
	ck_assert(span_eq(hdrs[1].name, hdrs[1].name_len, "X-A"));
	ck_assert(span_eq(hdrs[1].value, hdrs[1].value_len, "v a l"));
	ck_assert_uint_eq(hdrs[2].value_len, 0);
	ck_assert_uint_eq(hdrs[3].value_len, 0);
	ck_assert(span_eq(hdrs[4].value, hdrs[4].value_len, "\x80\xff"));
	ck_assert(span_eq(hdrs[5].name, hdrs[5].name_len, "!#$%&'*+-.^_`|~0aZ"));

	REQ_ERR("GET / HTTP/1.1\r\nHost : h\r\n\r\n", 400);
	REQ_ERR("GET / HTTP/1.1\r\nHost\t: h\r\n\r\n", 400);
	REQ_ERR("GET / HTTP/1.1\r\nHost: h\r\n: v\r\n\r\n", 400);
	REQ_ERR("GET / HTTP/1.1\r\nHost: h\r\nA(b: v\r\n\r\n", 400);
	REQ_ERR("GET / HTTP/1.1\r\nHost: h\r\nA\x80: v\r\n\r\n", 400);
	REQ_ERR("GET / HTTP/1.1\r\nHost: h\r\nA: v\x7f\r\n\r\n", 400);
	REQ_ERR("GET / HTTP/1.1\r\nHost: h\r\nA: v\x01w\r\n\r\n", 400);
	REQ_ERR("GET / HTTP/1.1\r\nHost: h\r\nA: v\x1f\r\n\r\n", 400);
	ck_assert_int_eq(http_parse_request(nul, sizeof(nul) - 1, &lim, &req,
	    hdrs), 400);
}
END_TEST

START_TEST(req_obs_fold)
{
	REQ_ERR("GET / HTTP/1.1\r\nHost: h\r\nA: b\r\n c\r\n\r\n", 400);
	REQ_ERR("GET / HTTP/1.1\r\nHost: h\r\nA: b\r\n\tc\r\n\r\n", 400);
	REQ_ERR("GET / HTTP/1.1\r\n\tHost: h\r\n\r\n", 400);
}
END_TEST

START_TEST(req_host)
{
	REQ_OK("GET / HTTP/1.1\r\nhOST: www.example.com\r\n\r\n");
	ck_assert(span_eq(req.host, req.host_len, "www.example.com"));
	REQ_OK("GET / HTTP/1.1\r\nHost: [2001:db8::1]:443\r\n\r\n");
	REQ_OK("GET / HTTP/1.1\r\nHost: [::ffff:1.2.3.4]\r\n\r\n");
	REQ_OK("GET / HTTP/1.1\r\nHost: a-b.c:65535\r\n\r\n");
	REQ_OK("GET / HTTP/1.1\r\nHost: admin.example.com.\r\n\r\n");
	REQ_OK("GET / HTTP/1.1\r\nHost: admin.example.com.:80\r\n\r\n");
	REQ_OK("GET / HTTP/1.1\r\nHost: 10.0.0.1:8080\r\n\r\n");
	REQ_OK("GET / HTTP/1.1\r\nHost: a_b-c~d!$&'()*+,;=\r\n\r\n");
	REQ_OK("GET / HTTP/1.0\r\n\r\n");
	ck_assert_ptr_null(req.host);
	ck_assert_uint_eq(req.host_len, 0);
	REQ_OK("GET / HTTP/1.0\r\nHost: h\r\n\r\n");
	ck_assert(span_eq(req.host, req.host_len, "h"));

	REQ_ERR("GET / HTTP/1.1\r\n\r\n", 400);
	REQ_ERR("GET / HTTP/1.1\r\nHost: h\r\nHost: h\r\n\r\n", 400);
	REQ_ERR("GET / HTTP/1.1\r\nHost:\r\n\r\n", 400);
	REQ_ERR("GET / HTTP/1.1\r\nHost: u@h\r\n\r\n", 400);
	REQ_ERR("GET / HTTP/1.1\r\nHost: h:\r\n\r\n", 400);
	REQ_ERR("GET / HTTP/1.1\r\nHost: h:65536\r\n\r\n", 400);
	REQ_ERR("GET / HTTP/1.1\r\nHost: h:123456\r\n\r\n", 400);
	REQ_ERR("GET / HTTP/1.1\r\nHost: h:8x\r\n\r\n", 400);
	REQ_ERR("GET / HTTP/1.1\r\nHost: :80\r\n\r\n", 400);
	REQ_ERR("GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400);
	REQ_ERR("GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400);
	REQ_ERR("GET / HTTP/1.1\r\nHost: h, h\r\n\r\n", 400);
	REQ_ERR("GET / HTTP/1.1\r\nHost: %zz\r\n\r\n", 400);
	REQ_ERR("GET / HTTP/1.1\r\nHost: a%2Db.c\r\n\r\n", 400);
	REQ_ERR("GET / HTTP/1.1\r\nHost: %61dmin.example.com\r\n\r\n", 400);
	REQ_ERR("GET / HTTP/1.1\r\nHost: admin.example.com..\r\n\r\n", 400);
	REQ_ERR("GET / HTTP/1.1\r\nHost: admin..example.com\r\n\r\n", 400);
	REQ_ERR("GET / HTTP/1.1\r\nHost: .example.com\r\n\r\n", 400);
	REQ_ERR("GET / HTTP/1.1\r\nHost: .\r\n\r\n", 400);
	REQ_ERR("GET / HTTP/1.1\r\nHost: h..:80\r\n\r\n", 400);
	REQ_ERR("GET http://h../ HTTP/1.1\r\nHost: h\r\n\r\n", 400);
	REQ_ERR("GET http://%68/ HTTP/1.1\r\nHost: h\r\n\r\n", 400);
	REQ_ERR("GET / HTTP/1.1\r\nHost: [::1\r\n\r\n", 400);
	REQ_ERR("GET / HTTP/1.1\r\nHost: []\r\n\r\n", 400);
	REQ_ERR("GET / HTTP/1.1\r\nHost: [::1]x\r\n\r\n", 400);
	REQ_ERR("GET / HTTP/1.1\r\nHost: h\xc3\xa9\r\n\r\n", 400);
	REQ_ERR("GET / HTTP/1.0\r\nHost: h\r\nHost: h\r\n\r\n", 400);
	REQ_ERR("GET / HTTP/1.0\r\nHost: a@b\r\n\r\n", 400);
	REQ_ERR("GET / HTTP/1.0\r\nHost:\r\n\r\n", 400);
}
END_TEST

START_TEST(req_content_length)
{
	REQ_OK("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 42\r\n\r\n");
	ck_assert_int_eq(req.content_length, 42);
	REQ_OK("POST / HTTP/1.1\r\nHost: h\r\ncontent-length: 0\r\n\r\n");
	ck_assert_int_eq(req.content_length, 0);
	REQ_OK("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5, 5\r\n\r\n");
	ck_assert_int_eq(req.content_length, 5);
	REQ_OK("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n"
	    "Content-Length: 5\r\n\r\n");
	ck_assert_int_eq(req.content_length, 5);
	REQ_OK("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5,5 ,\t5\r\n"
	    "Content-Length: 005\r\n\r\n");
	ck_assert_int_eq(req.content_length, 5);
	REQ_OK("POST / HTTP/1.1\r\nHost: h\r\n"
	    "Content-Length: 9223372036854775807\r\n\r\n");
	ck_assert_int_eq(req.content_length, INT64_MAX);

	REQ_ERR("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n"
	    "Content-Length: 6\r\n\r\n", 400);
	ck_assert_str_eq(req.error, "conflicting Content-Length");
	REQ_ERR("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5, 6\r\n\r\n",
	    400);
	REQ_ERR("POST / HTTP/1.1\r\nHost: h\r\n"
	    "Content-Length: 9223372036854775808\r\n\r\n", 400);
	REQ_ERR("POST / HTTP/1.1\r\nHost: h\r\n"
	    "Content-Length: 99999999999999999999999\r\n\r\n", 400);
	REQ_ERR("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: +5\r\n\r\n", 400);
	REQ_ERR("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: -5\r\n\r\n", 400);
	REQ_ERR("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5 5\r\n\r\n", 400);
	REQ_ERR("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0x5\r\n\r\n", 400);
	REQ_ERR("POST / HTTP/1.1\r\nHost: h\r\nContent-Length:\r\n\r\n", 400);
	REQ_ERR("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5,\r\n\r\n", 400);
	REQ_ERR("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1.0\r\n\r\n", 400);
}
END_TEST

START_TEST(req_transfer_encoding)
{
	REQ_OK("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n");
	ck_assert_int_eq(req.chunked, 1);
	ck_assert_int_eq(req.content_length, -1);
	REQ_OK("POST / HTTP/1.1\r\nHost: h\r\ntransfer-encoding: ChUnKeD\r\n\r\n");
	ck_assert_int_eq(req.chunked, 1);
	REQ_OK("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: , chunked ,\r\n\r\n");
	ck_assert_int_eq(req.chunked, 1);

	REQ_ERR("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400);
	REQ_ERR("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
	    501);
	REQ_ERR("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: identity\r\n\r\n",
	    501);
	REQ_ERR("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n", 501);
	REQ_ERR("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: foo;q=1, chunked\r\n\r\n",
	    501);
	REQ_ERR("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, chunked\r\n\r\n",
	    400);
	REQ_ERR("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n", 400);
	REQ_ERR("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n"
	    "Content-Length: 5\r\n\r\n", 400);
	ck_assert_str_eq(req.error, "Transfer-Encoding with Content-Length");
	REQ_ERR("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n", 400);
	REQ_ERR("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding:\r\n\r\n", 400);
	REQ_ERR("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked;x=1\r\n\r\n",
	    400);
	REQ_ERR("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chun ked\r\n\r\n",
	    400);
	REQ_ERR("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: \"chunked\"\r\n\r\n",
	    400);
}
END_TEST

START_TEST(req_connection)
{
	REQ_OK("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
	ck_assert_int_eq(req.keep_alive, 1);
	REQ_OK("GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
	ck_assert_int_eq(req.keep_alive, 0);
	REQ_OK("GET / HTTP/1.1\r\nHost: h\r\nConnection: foo ,, CLOSE\r\n\r\n");
	ck_assert_int_eq(req.keep_alive, 0);
	REQ_OK("GET / HTTP/1.1\r\nHost: h\r\nConnection: closed\r\n\r\n");
	ck_assert_int_eq(req.keep_alive, 1);
	REQ_OK("GET / HTTP/1.1\r\nHost: h\r\nConnection: keep-alive\r\n"
	    "Connection: close\r\n\r\n");
	ck_assert_int_eq(req.keep_alive, 0);
	REQ_OK("GET / HTTP/1.0\r\n\r\n");
	ck_assert_int_eq(req.keep_alive, 0);
	REQ_OK("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n");
	ck_assert_int_eq(req.keep_alive, 1);
	REQ_OK("GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n");
	ck_assert_int_eq(req.keep_alive, 0);
}
END_TEST

START_TEST(req_expect)
{
	REQ_OK("POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\n\r\n");
	ck_assert_int_eq(req.expect_continue, 1);
	REQ_OK("POST / HTTP/1.1\r\nHost: h\r\nexpect:  100-Continue \r\n\r\n");
	ck_assert_int_eq(req.expect_continue, 1);
	REQ_OK("POST / HTTP/1.0\r\nExpect: 100-continue\r\n\r\n");
	ck_assert_int_eq(req.expect_continue, 0);
	REQ_ERR("POST / HTTP/1.1\r\nHost: h\r\nExpect: 200-ok\r\n\r\n", 417);
	REQ_ERR("POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue, x\r\n\r\n",
	    417);
	REQ_ERR("POST / HTTP/1.1\r\nHost: h\r\nExpect:\r\n\r\n", 417);
	REQ_ERR("POST / HTTP/1.0\r\nExpect: foo\r\n\r\n", 417);
}
END_TEST

START_TEST(req_lookalike_fields)
{
	/* Names of the same length as the ones that mean something. */
	REQ_OK("POST / HTTP/1.1\r\nHost: h\r\nHosx: a@b\r\n"
	    "Expecx: 1\r\nUpgradx: 1\r\nConnectiox: close\r\n"
	    "Content-Lengtx: x\r\nTransfer-Encodinx: gzip\r\n\r\n");
	ck_assert_int_eq(req.keep_alive, 1);
	ck_assert_int_eq(req.upgrade, 0);
	ck_assert_int_eq(req.content_length, -1);
	ck_assert_int_eq(req.chunked, 0);
	ck_assert_uint_eq(req.nheaders, 7);
}
END_TEST

START_TEST(req_upgrade)
{
	REQ_OK("GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n"
	    "Connection: Upgrade\r\n\r\n");
	ck_assert_int_eq(req.upgrade, 1);
	REQ_OK("GET / HTTP/1.1\r\nHost: h\r\nUpgrades: x\r\n\r\n");
	ck_assert_int_eq(req.upgrade, 0);
}
END_TEST

/* Requests: limits, pipelining, incremental input. */

START_TEST(req_limit_request_line)
{
	char	 buf[256];
	size_t	 n;

	/* "GET /aaa HTTP/1.1" is 17 bytes. */
	lim.max_request_line = 17;
	REQ_OK("GET /aaa HTTP/1.1\r\nHost: h\r\n\r\n");
	REQ_ERR("GET /aaaa HTTP/1.1\r\nHost: h\r\n\r\n", 414);
	ck_assert_int_eq(preq("GET /aaa HTTP/1.1"), HTTP_PARSE_AGAIN);
	ck_assert_int_eq(preq("GET /aaa HTTP/1.1\r"), HTTP_PARSE_AGAIN);
	REQ_ERR("GET /aaaaaaaaaaaaaaaaaaaaaaaaaa", 414);
	REQ_ERR("GET /aaaaaaaaaaaaaaa", 414);
	REQ_ERR("GETGETGETGETGETGETGET", 414);
	REQ_ERR("GET /aaa HTTP/1.11", 414);
	/* Leading empty lines do not count. */
	REQ_OK("\r\n\r\nGET /aaa HTTP/1.1\r\nHost: h\r\n\r\n");
	/* A line that ends right at the limit is not too long. */
	lim.max_request_line = 5;
	REQ_ERR("GET /\r\nHost: h\r\n\r\n", 400);
	ck_assert_str_eq(req.error, "malformed request line");
	lim.max_request_line = 17;
	/* A bad byte before the limit is a 400. */
	REQ_ERR("GET /a\x01" "aaaaaaaaaaaaaaaaaaaaaa", 400);

	lim.max_request_line = 8192;
	n = (size_t)snprintf(buf, sizeof(buf), "GET /");
	memset(buf + n, 'a', 200);
	buf[n + 200] = '\0';
	lim.max_request_line = 100;
	REQ_ERR(buf, 414);
}
END_TEST

START_TEST(req_limit_head_size)
{
	static char	 buf[20000];
	size_t		 n;

	n = (size_t)snprintf(buf, sizeof(buf), "GET / HTTP/1.1\r\nHost: h\r\n"
	    "X: ");
	memset(buf + n, 'x', 17000);
	buf[n + 17000] = '\0';
	REQ_ERR(buf, 431);
	memcpy(buf + n + 17000, "\r\n\r\n", 5);
	REQ_ERR(buf, 431);

	lim.max_head = 64;
	/* Exactly 64 bytes, then 65. */
	REQ_OK("GET / HTTP/1.1\r\nHost: h\r\nX: "
	    "01234567890123456789012345678901\r\n\r\n");
	REQ_ERR("GET / HTTP/1.1\r\nHost: h\r\nX: "
	    "012345678901234567890123456789012\r\n\r\n", 431);
	REQ_ERR("GET / HTTP/1.1\r\nHost: h\r\nX: "
	    "0123456789012345678901234567890123\r\n\r", 431);
	ck_assert_int_eq(preq("GET / HTTP/1.1\r\nHost: h\r\nX: "
	    "01234567890123456789012345678901\r\n\r"), HTTP_PARSE_AGAIN);
	/* Leading empty lines count in the head. */
	REQ_ERR("\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n"
	    "\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n"
	    "\r\n\r\n\r\n\r\n", 431);
	/* A request line within its limit but past max_head. */
	lim.max_head = 10;
	REQ_ERR("GET /aaaaaaaaaaaa HTTP/1.1\r\nHost: h\r\n\r\n", 431);
	REQ_ERR("GET /aaaaaa", 431);
	ck_assert_int_eq(preq("GET /aaaaa"), HTTP_PARSE_AGAIN);
	/* The 414 rule comes first. */
	lim.max_request_line = 20;
	lim.max_head = 20;
	REQ_ERR("GET /aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa HTTP/1.1\r\n\r\n", 414);
}
END_TEST

START_TEST(req_limit_header_count)
{
	lim.max_headers = 3;
	REQ_OK("GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\n\r\n");
	ck_assert_uint_eq(req.nheaders, 3);
	REQ_ERR("GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", 431);
	REQ_ERR("GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\nC", 431);
	ck_assert_int_eq(preq("GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\n"),
	    HTTP_PARSE_AGAIN);
	lim.max_headers = 0;
	REQ_OK("GET / HTTP/1.0\r\n\r\n");
	REQ_ERR("GET / HTTP/1.1\r\nHost: h\r\n\r\n", 431);
}
END_TEST

START_TEST(req_pipelined)
{
	const char	*s = "GET /1 HTTP/1.1\r\nHost: h\r\n\r\n"
	    "POST /2 HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n";
	size_t		 first = strlen("GET /1 HTTP/1.1\r\nHost: h\r\n\r\n");

	ck_assert_int_eq(http_parse_request(s, strlen(s), &lim, &req, hdrs),
	    HTTP_PARSE_OK);
	ck_assert_uint_eq(req.head_len, first);
	ck_assert_int_eq(req.method, HTTP_M_GET);
	ck_assert_uint_eq(req.nheaders, 1);
	ck_assert_int_eq(http_parse_request(s + first, strlen(s) - first, &lim,
	    &req, hdrs), HTTP_PARSE_OK);
	ck_assert_uint_eq(req.head_len, strlen(s) - first);
	ck_assert_int_eq(req.method, HTTP_M_POST);
	ck_assert_int_eq(req.content_length, 0);
}
END_TEST

START_TEST(req_incremental)
{
	static const char *const good[] = {
		"GET /a?b HTTP/1.1\r\nHost: h\r\nX:  y \r\nZ:\r\n\r\n",
		"\r\n\r\nPOST http://h:1/ HTTP/1.0\r\nContent-Length: 3\r\n\r\n",
		"OPTIONS * HTTP/1.1\r\nHost: [::1]\r\nTransfer-Encoding: chunked\r\n\r\n",
	};
	static const struct {
		const char	*s;
		int		 code;
	} bad[] = {
		{ "GET / HTTP/1.1\r\nHost: h\r\nA: b\r\n c\r\n\r\n", 400 },
		{ "GET / HTTP/1.1\r\nHost: h\r\nHost: h\r\n\r\n", 400 },
		{ "GET / HTTP/2.0\r\nHost: h\r\n\r\n", 505 },
		{ "GET / HTTP/1.1\r\nHost: h\r\nExpect: x\r\n\r\n", 417 },
	};
	size_t	 i, n, len;
	int	 rv = 0;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		len = strlen(good[i]);
		for (n = 0; n < len; n++)
			ck_assert_msg(http_parse_request(good[i], n, &lim, &req,
			    hdrs) == HTTP_PARSE_AGAIN, "%zu: prefix %zu", i, n);
		ck_assert_int_eq(http_parse_request(good[i], len, &lim, &req,
		    hdrs), HTTP_PARSE_OK);
		ck_assert_uint_eq(req.head_len, len);
	}
	/* A prefix gives AGAIN or the error of the whole. */
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		len = strlen(bad[i].s);
		for (n = 0; n <= len; n++) {
			rv = http_parse_request(bad[i].s, n, &lim, &req, hdrs);
			ck_assert(rv == HTTP_PARSE_AGAIN || rv == bad[i].code);
		}
		ck_assert_int_eq(rv, bad[i].code);
	}
}
END_TEST

/* Helpers. */

START_TEST(helpers)
{
	struct http_header	 h = { "Content-Length", "5", 14, 1 };

	ck_assert(http_name_eq(&h, "content-length"));
	ck_assert(http_name_eq(&h, "CONTENT-LENGTH"));
	ck_assert(!http_name_eq(&h, "content-lengt"));
	ck_assert(!http_name_eq(&h, "content-lengths"));
	ck_assert(!http_name_eq(&h, "content_length"));

	ck_assert(http_list_has("close", 5, "close"));
	ck_assert(http_list_has(" a ,\t, CLOSE\t", 13, "close"));
	ck_assert(http_list_has("a,close", 7, "Close"));
	ck_assert(!http_list_has("closed", 6, "close"));
	ck_assert(!http_list_has("a, b", 4, "close"));
	ck_assert(!http_list_has("", 0, "close"));
	ck_assert(!http_list_has("close", 4, "close"));
	ck_assert(!http_list_has("clo se", 6, "close"));

	ck_assert_str_eq(http_method_name(HTTP_M_GET), "GET");
	ck_assert_str_eq(http_method_name(HTTP_M_HEAD), "HEAD");
	ck_assert_str_eq(http_method_name(HTTP_M_POST), "POST");
	ck_assert_str_eq(http_method_name(HTTP_M_PUT), "PUT");
	ck_assert_str_eq(http_method_name(HTTP_M_DELETE), "DELETE");
	ck_assert_str_eq(http_method_name(HTTP_M_PATCH), "PATCH");
	ck_assert_str_eq(http_method_name(HTTP_M_TRACE), "TRACE");
	ck_assert_str_eq(http_method_name(HTTP_M_CONNECT), "CONNECT");
	ck_assert_str_eq(http_method_name(HTTP_M_OPTIONS), "OPTIONS");
	ck_assert_str_eq(http_method_name(HTTP_M_OTHER), "OTHER");

	ck_assert_str_eq(http_status_reason(100), "Continue");
	ck_assert_str_eq(http_status_reason(200), "OK");
	ck_assert_str_eq(http_status_reason(304), "Not Modified");
	ck_assert_str_eq(http_status_reason(400), "Bad Request");
	ck_assert_str_eq(http_status_reason(417), "Expectation Failed");
	ck_assert_str_eq(http_status_reason(404), "Not Found");
	ck_assert_str_eq(http_status_reason(414), "URI Too Long");
	ck_assert_str_eq(http_status_reason(431),
	    "Request Header Fields Too Large");
	ck_assert_str_eq(http_status_reason(502), "Bad Gateway");
	ck_assert_str_eq(http_status_reason(505), "HTTP Version Not Supported");
	ck_assert_str_eq(http_status_reason(299), "Unknown");
	ck_assert_str_eq(http_status_reason(-1), "Unknown");

	ck_assert_int_eq(http_response_has_body(HTTP_M_HEAD, 200), 0);
	ck_assert_int_eq(http_response_has_body(HTTP_M_GET, 100), 0);
	ck_assert_int_eq(http_response_has_body(HTTP_M_GET, 101), 0);
	ck_assert_int_eq(http_response_has_body(HTTP_M_GET, 204), 0);
	ck_assert_int_eq(http_response_has_body(HTTP_M_GET, 304), 0);
	ck_assert_int_eq(http_response_has_body(HTTP_M_GET, 200), 1);
	ck_assert_int_eq(http_response_has_body(HTTP_M_POST, 404), 1);
	ck_assert_int_eq(http_response_has_body(HTTP_M_OTHER, 205), 1);
}
END_TEST

/* Responses. */

START_TEST(resp_basic)
{
	RESP_OK("HTTP/1.1 200 OK\r\nContent-Length: 12\r\nServer: x\r\n\r\n");
	ck_assert_int_eq(resp.version, 11);
	ck_assert_int_eq(resp.status, 200);
	ck_assert(span_eq(resp.reason, resp.reason_len, "OK"));
	ck_assert_int_eq(resp.content_length, 12);
	ck_assert_int_eq(resp.chunked, 0);
	ck_assert_int_eq(resp.keep_alive, 1);
	ck_assert_uint_eq(resp.nheaders, 2);
	ck_assert_ptr_eq(resp.headers, hdrs);
	ck_assert_ptr_null(resp.error);

	RESP_OK("HTTP/1.0 404 Not \t Found \x80\r\n\r\n");
	ck_assert_int_eq(resp.version, 10);
	ck_assert_int_eq(resp.status, 404);
	ck_assert(span_eq(resp.reason, resp.reason_len, "Not \t Found \x80"));
	ck_assert_int_eq(resp.content_length, -1);
	ck_assert_int_eq(resp.keep_alive, 0);

	RESP_OK("HTTP/1.1 200\r\n\r\n");
	ck_assert_uint_eq(resp.reason_len, 0);
	RESP_OK("HTTP/1.1 204 \r\n\r\n");
	ck_assert_uint_eq(resp.reason_len, 0);
	RESP_OK("HTTP/1.2 599 x\r\n\r\n");
	ck_assert_int_eq(resp.version, 11);
	ck_assert_int_eq(resp.status, 599);
	RESP_OK("HTTP/1.1 100 Continue\r\n\r\n");
	ck_assert_int_eq(resp.status, 100);
	RESP_OK("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
	    "Connection: Upgrade\r\n\r\n");
	ck_assert_int_eq(resp.status, 101);
	RESP_OK("HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\n\r\n");
	ck_assert_int_eq(resp.chunked, 1);
	ck_assert_int_eq(resp.content_length, -1);
	RESP_OK("HTTP/1.1 200 OK\r\nContent-Length: 7, 7\r\n"
	    "Content-Length: 7\r\n\r\n");
	ck_assert_int_eq(resp.content_length, 7);
}
END_TEST

START_TEST(resp_keep_alive)
{
	RESP_OK("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n");
	ck_assert_int_eq(resp.keep_alive, 0);
	RESP_OK("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n\r\n");
	ck_assert_int_eq(resp.keep_alive, 1);
	RESP_OK("HTTP/1.0 200 OK\r\nConnection: keep-alive,close\r\n\r\n");
	ck_assert_int_eq(resp.keep_alive, 0);
	RESP_OK("HTTP/1.0 200 OK\r\n\r\n");
	ck_assert_int_eq(resp.keep_alive, 0);
}
END_TEST

START_TEST(resp_bad_status_line)
{
	RESP_ERR("HTTP/1.1 20 OK\r\n\r\n");
	RESP_ERR("HTTP/1.1 2000 OK\r\n\r\n");
	RESP_ERR("HTTP/1.1 099 OK\r\n\r\n");
	RESP_ERR("HTTP/1.1 600 OK\r\n\r\n");
	RESP_ERR("HTTP/1.1 abc OK\r\n\r\n");
	RESP_ERR("HTTP/1.1  200 OK\r\n\r\n");
	RESP_ERR("HTTP/2.0 200 OK\r\n\r\n");
	RESP_ERR("HTTP/0.9 200 OK\r\n\r\n");
	RESP_ERR("http/1.1 200 OK\r\n\r\n");
	RESP_ERR("HTTP/1.1 200 OK\n\r\n");
	RESP_ERR("HTTP/1.1 200 OK\rX: y\r\n\r\n");
	RESP_ERR("HTTP/1.1 200 O\x01K\r\n\r\n");
	RESP_ERR("HTTP/1.1 200 O\x7fK\r\n\r\n");
	RESP_ERR("HTTP/1.1 200\tOK\r\n\r\n");
	RESP_ERR("\r\nHTTP/1.1 200 OK\r\n\r\n");
	RESP_ERR("HTTP/1.1\r\n\r\n");
	RESP_ERR("ICY 200 OK\r\n\r\n");
}
END_TEST

START_TEST(resp_bad_fields)
{
	RESP_ERR("HTTP/1.1 200 OK\r\nA: b\r\n c\r\n\r\n");
	RESP_ERR("HTTP/1.1 200 OK\r\nA : b\r\n\r\n");
	RESP_ERR("HTTP/1.1 200 OK\r\nA: b\nB: c\r\n\r\n");
	RESP_ERR("HTTP/1.1 200 OK\r\nA: b\rB: c\r\n\r\n");
	RESP_ERR("HTTP/1.1 200 OK\r\nA: \x01\r\n\r\n");
	RESP_ERR("HTTP/1.1 200 OK\r\n: b\r\n\r\n");
	RESP_ERR("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n"
	    "Content-Length: 2\r\n\r\n");
	RESP_ERR("HTTP/1.1 200 OK\r\nContent-Length: 1, 2\r\n\r\n");
	RESP_ERR("HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n");
	RESP_ERR("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n");
	RESP_ERR("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n");
	RESP_ERR("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n");
	RESP_ERR("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n");
	RESP_ERR("HTTP/1.1 200 OK\r\nTransfer-Encoding:\r\n\r\n");
	RESP_ERR("HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
}
END_TEST

START_TEST(resp_limits)
{
	lim.max_headers = 2;
	RESP_OK("HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\n\r\n");
	RESP_ERR("HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n");
	lim.max_headers = 100;
	lim.max_head = 30;
	RESP_OK("HTTP/1.1 200 OK\r\nA: 123456\r\n\r\n");
	RESP_ERR("HTTP/1.1 200 OK\r\nA: 1234567\r\n\r\n");
	RESP_ERR("HTTP/1.1 200 OK\r\nA: 1234567890123");
}
END_TEST

START_TEST(resp_incremental)
{
	const char	*s = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc";
	size_t		 head = strlen(s) - 3, n;

	for (n = 0; n < head; n++)
		ck_assert_int_eq(http_parse_response(s, n, &lim, &resp, hdrs),
		    HTTP_PARSE_AGAIN);
	for (; n <= strlen(s); n++) {
		ck_assert_int_eq(http_parse_response(s, n, &lim, &resp, hdrs),
		    HTTP_PARSE_OK);
		ck_assert_uint_eq(resp.head_len, head);
	}
}
END_TEST

/* Chunked bodies. */

/*
 * Decode s, handing the parser at most step new bytes at a time as a
 * receiver would: unconsumed bytes stay in the buffer.  Returns the
 * consumed count, or -1; the data goes to out.
 */
static ssize_t
dechunk(const char *s, size_t len, size_t step, char *out, size_t *outlen,
    int *done)
{
	struct http_chunked	 ck;
	size_t			 off = 0, avail = 0, doff, dlen;
	ssize_t			 n;

	http_chunked_init(&ck);
	*outlen = 0;
	do {
		avail = avail + step < len ? avail + step : len;
		while (!ck.done) {
			n = http_chunked_parse(&ck, s + off, avail - off, &doff,
			    &dlen);
			if (n == -1)
				return -1;
			ck_assert((size_t)n <= avail - off);
			ck_assert(doff + dlen <= (size_t)n);
			memcpy(out + *outlen, s + off + doff, dlen);
			*outlen += dlen;
			off += (size_t)n;
			if (n == 0)
				break;
		}
	} while (!ck.done && avail < len);
	*done = ck.done;
	return (ssize_t)off;
}

/* Piece sizes to try: 1 to 32, then doubling, and the whole input last. */
static size_t
next_step(size_t step, size_t len)
{
	if (step == len)
		return len + 1;
	step = step < 32 ? step + 1 : step * 2;
	return step < len ? step : len;
}

static void
chunk_ok(const char *s, const char *want, size_t body_len)
{
	char	 out[4096];
	size_t	 outlen, len = strlen(s), step;
	ssize_t	 n;
	int	 done;

	for (step = 1; step <= len; step = next_step(step, len)) {
		n = dechunk(s, len, step, out, &outlen, &done);
		ck_assert_msg(n == (ssize_t)body_len, "%s step %zu: %zd", s,
		    step, n);
		ck_assert_int_eq(done, 1);
		ck_assert_uint_eq(outlen, strlen(want));
		ck_assert(memcmp(out, want, outlen) == 0);
	}
}

static void
chunk_bad(const char *s)
{
	char	 out[4096];
	size_t	 outlen, len = strlen(s), step;
	int	 done;

	for (step = 1; step <= len; step = next_step(step, len))
		ck_assert_msg(dechunk(s, len, step, out, &outlen, &done) == -1,
		    "%s step %zu", s, step);
}

#define CHUNK_OK(s, want)	chunk_ok(s, want, strlen(s))

START_TEST(chunked_basic)
{
	CHUNK_OK("5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", "hello world");
	CHUNK_OK("0\r\n\r\n", "");
	CHUNK_OK("000\r\n\r\n", "");
	CHUNK_OK("a\r\n0123456789\r\nA\r\n0123456789\r\n0\r\n\r\n",
	    "01234567890123456789");
	CHUNK_OK("0001\r\nx\r\n0\r\n\r\n", "x");
	CHUNK_OK("1\r\n\r\r\n1\r\n\n\r\n0\r\n\r\n", "\r\n");
	/* Bytes after the body are not consumed. */
	chunk_ok("1\r\nx\r\n0\r\n\r\nGET / HTTP/1.1\r\n", "x",
	    strlen("1\r\nx\r\n0\r\n\r\n"));
}
END_TEST

START_TEST(chunked_one_call)
{
	struct http_chunked	 ck;
	const char		*s = "3\r\nabc\r\n2\r\nde\r\n0\r\n\r\nXYZ";
	size_t			 off, len;
	ssize_t			 n;

	http_chunked_init(&ck);
	n = http_chunked_parse(&ck, s, strlen(s), &off, &len);
	ck_assert_int_eq(n, 6);
	ck_assert_uint_eq(off, 3);
	ck_assert_uint_eq(len, 3);
	n = http_chunked_parse(&ck, s + 6, strlen(s) - 6, &off, &len);
	ck_assert_int_eq(n, 7);
	ck_assert_uint_eq(off, 5);
	ck_assert_uint_eq(len, 2);
	n = http_chunked_parse(&ck, s + 13, strlen(s) - 13, &off, &len);
	ck_assert_int_eq(n, 7);
	ck_assert_uint_eq(len, 0);
	ck_assert_int_eq(ck.done, 1);
	n = http_chunked_parse(&ck, s + 20, strlen(s) - 20, &off, &len);
	ck_assert_int_eq(n, 0);
	ck_assert_uint_eq(len, 0);
	/* Data split over calls. */
	http_chunked_init(&ck);
	n = http_chunked_parse(&ck, "a\r\n01234", 8, &off, &len);
	ck_assert_int_eq(n, 8);
	ck_assert_uint_eq(off, 3);
	ck_assert_uint_eq(len, 5);
	ck_assert_uint_eq(ck.remaining, 5);
	n = http_chunked_parse(&ck, "56789\r\n0\r\n\r\n", 12, &off, &len);
	ck_assert_int_eq(n, 5);
	ck_assert_uint_eq(off, 0);
	ck_assert_uint_eq(len, 5);
	ck_assert_int_eq(http_chunked_parse(&ck, "", 0, &off, &len), 0);
	/* Large sizes. */
	http_chunked_init(&ck);
	n = http_chunked_parse(&ck, "ffffffffffffffff\r\nab", 20, &off, &len);
	ck_assert_int_eq(n, 20);
	ck_assert_uint_eq(len, 2);
	ck_assert(ck.remaining == UINT64_MAX - 2);
	/* Errors stick. */
	http_chunked_init(&ck);
	ck_assert_int_eq(http_chunked_parse(&ck, "x", 1, &off, &len), -1);
	ck_assert_int_eq(http_chunked_parse(&ck, "0\r\n\r\n", 5, &off, &len),
	    -1);
}
END_TEST

START_TEST(chunked_extensions)
{
	CHUNK_OK("5;a\r\nhello\r\n0\r\n\r\n", "hello");
	CHUNK_OK("5 ; a = b ; c\r\nhello\r\n0;x=y\r\n\r\n", "hello");
	CHUNK_OK("5;a=\"q \\\" ;\tx\"\r\nhello\r\n0\r\n\r\n", "hello");
	CHUNK_OK("5;a=\"\";b=c;d\r\nhello\r\n0\r\n\r\n", "hello");
	CHUNK_OK("5;\ta\t=\t\"x\"\t;b\r\nhello\r\n0\r\n\r\n", "hello");
	CHUNK_OK("5;a=\"\xe9\"\r\nhello\r\n0\r\n\r\n", "hello");
	CHUNK_OK("5;name=value;foo-bar=\"\\\\x\"\r\nhello\r\n"
	    "0;last=yes\r\n\r\n", "hello");
	chunk_bad("5;\r\nhello\r\n0\r\n\r\n");
	chunk_bad("5;ab@\r\nhello\r\n0\r\n\r\n");
	chunk_bad("5;ab=cd@\r\nhello\r\n0\r\n\r\n");
	chunk_bad("5;a=\"\\\x01\"\r\nhello\r\n0\r\n\r\n");
	chunk_bad("5;a=\"\\\r\nhello\r\n0\r\n\r\n");
	chunk_bad("5;a=\r\nhello\r\n0\r\n\r\n");
	chunk_bad("5;a \r\nhello\r\n0\r\n\r\n");
	chunk_bad("5 \r\nhello\r\n0\r\n\r\n");
	chunk_bad("5;a=b c\r\nhello\r\n0\r\n\r\n");
	chunk_bad("5;a=\"b\r\nhello\r\n0\r\n\r\n");
	chunk_bad("5;a=\"b\"c\r\nhello\r\n0\r\n\r\n");
	chunk_bad("5;a=(b)\r\nhello\r\n0\r\n\r\n");
	chunk_bad("5;@\r\nhello\r\n0\r\n\r\n");
	chunk_bad("5,a\r\nhello\r\n0\r\n\r\n");
	chunk_bad("5;a=\"\x01\"\r\nhello\r\n0\r\n\r\n");
}
END_TEST

START_TEST(chunked_trailers)
{
	static char	 big[20000];
	size_t		 n;

	CHUNK_OK("5\r\nhello\r\n0\r\nX-Sum: abc\r\nX-B:\r\n\r\n", "hello");
	CHUNK_OK("0\r\nA: \t b \x80\r\n\r\n", "");
	chunk_bad("0\r\nA : b\r\n\r\n");
	chunk_bad("0\r\n b: c\r\n\r\n");
	chunk_bad("0\r\nA: b\r\n c\r\n\r\n");
	chunk_bad("0\r\n: b\r\n\r\n");
	chunk_bad("0\r\nA\r\n\r\n");
	chunk_bad("0\r\nA: \x01\r\n\r\n");
	chunk_bad("0\r\nA: b\n\r\n");
	chunk_bad("0\r\nA: b\r\n\n");
	chunk_bad("0\r\nA: b\r\r\n\r\n");

	/* A trailer section over 16 KiB. */
	n = (size_t)snprintf(big, sizeof(big), "0\r\nX: ");
	memset(big + n, 'x', 16384);
	memcpy(big + n + 16384, "\r\n\r\n", 5);
	chunk_bad(big);
	n = (size_t)snprintf(big, sizeof(big), "0\r\nX: ");
	memset(big + n, 'x', 16384 - 7);
	memcpy(big + n + 16384 - 7, "\r\n\r\n", 5);
	CHUNK_OK(big, "");
}
END_TEST

START_TEST(chunked_errors)
{
	chunk_bad("g\r\nhello\r\n0\r\n\r\n");
	chunk_bad("\r\nhello\r\n0\r\n\r\n");
	chunk_bad("-5\r\nhello\r\n0\r\n\r\n");
	chunk_bad("0x5\r\nhello\r\n0\r\n\r\n");
	chunk_bad(" 5\r\nhello\r\n0\r\n\r\n");
	chunk_bad("5\r\nhelloX\r\n0\r\n\r\n");
	chunk_bad("5\r\nhello\n0\r\n\r\n");
	chunk_bad("5\r\nhello\r0\r\n\r\n");
	chunk_bad("5\r\nhello0\r\n\r\n");
	chunk_bad("5\nhello\r\n0\r\n\r\n");
	chunk_bad("5\r\rhello\r\n0\r\n\r\n");
	chunk_bad("0\r\n\n");
	chunk_bad("0\r\n\r\r");
	chunk_bad("0\n\r\n");
	chunk_bad("10000000000000000\r\n");
	chunk_bad("fffffffffffffffff\r\n");
	CHUNK_OK("0000000000000001\r\nx\r\n0\r\n\r\n", "x");
	/*
	 * chunk-size = 1*HEXDIG (RFC 9112 7.1): leading zeros are valid,
	 * whatever their number; only the value is bounded.
	 */
	CHUNK_OK("00000000000000001\r\nx\r\n0\r\n\r\n", "x");
	CHUNK_OK("000000000000000000000000000000001\r\nx\r\n0000\r\n\r\n", "x");
	CHUNK_OK("0000\r\n\r\n", "");
	CHUNK_OK("00000000000000000000\r\n\r\n", "");
	chunk_bad("0000000000000000000010000000000000000\r\n");
}
END_TEST

START_TEST(chunked_line_limit)
{
	static char	 big[9000];
	size_t		 n;

	/* A chunk-size line of exactly 4096 bytes passes, one more does not. */
	n = (size_t)snprintf(big, sizeof(big), "1;a=");
	memset(big + n, 'v', 4096 - n - 2);
	memcpy(big + 4094, "\r\nx\r\n0\r\n\r\n", 11);
	CHUNK_OK(big, "x");
	n = (size_t)snprintf(big, sizeof(big), "1;a=");
	memset(big + n, 'v', 4097 - n - 2);
	memcpy(big + 4095, "\r\nx\r\n0\r\n\r\n", 11);
	chunk_bad(big);
	/* Each line has its own bound; the last-chunk line too. */
	n = (size_t)snprintf(big, sizeof(big), "1;a=");
	memset(big + n, 'v', 4096 - n - 2);
	memcpy(big + 4094, "\r\nx\r\n0;", 7);
	memset(big + 4101, 'w', 4100);
	big[4101 + 4100] = '\0';
	chunk_bad(big);
	/* Blanks, extensions and extra leading zeros are counted. */
	{
		struct http_chunked	 ck;
		const char		*in = "003 ;a=b\r\nxyz\r\n0\r\n\r\n";
		size_t			 off, len, pos = 0;
		ssize_t			 r;

		http_chunked_init(&ck);
		while (!ck.done) {
			r = http_chunked_parse(&ck, in + pos, strlen(in) - pos,
			    &off, &len);
			ck_assert_int_gt(r, 0);
			pos += (size_t)r;
		}
		/*
		 * One extra zero, then " ;a=b" up to its CR (the blank before
		 * ';' is read in the size state, the CR in the extension's).
		 */
		ck_assert_uint_eq(ck.padding, 6);
	}
}
END_TEST

static Suite *
http_suite(void)
{
	Suite	*s = suite_create("http");
	TCase	*tc;

	tc = tcase_create("request");
	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, req_basic);
	tcase_add_test(tc, req_methods);
	tcase_add_test(tc, req_leading_crlf);
	tcase_add_test(tc, req_line_terminators);
	tcase_add_test(tc, req_spaces);
	tcase_add_test(tc, req_target_bytes);
	tcase_add_test(tc, req_absolute_form);
	tcase_add_test(tc, req_asterisk_form);
	tcase_add_test(tc, req_dot_segments);
	tcase_add_test(tc, req_version);
	tcase_add_test(tc, req_fields);
	tcase_add_test(tc, req_obs_fold);
	tcase_add_test(tc, req_host);
	tcase_add_test(tc, req_content_length);
	tcase_add_test(tc, req_transfer_encoding);
	tcase_add_test(tc, req_connection);
	tcase_add_test(tc, req_expect);
	tcase_add_test(tc, req_upgrade);
	tcase_add_test(tc, req_lookalike_fields);
	tcase_add_test(tc, req_limit_request_line);
	tcase_add_test(tc, req_limit_head_size);
	tcase_add_test(tc, req_limit_header_count);
	tcase_add_test(tc, req_pipelined);
	tcase_add_test(tc, req_incremental);
	tcase_add_test(tc, helpers);
	suite_add_tcase(s, tc);

	tc = tcase_create("response");
	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, resp_basic);
	tcase_add_test(tc, resp_keep_alive);
	tcase_add_test(tc, resp_bad_status_line);
	tcase_add_test(tc, resp_bad_fields);
	tcase_add_test(tc, resp_limits);
	tcase_add_test(tc, resp_incremental);
	suite_add_tcase(s, tc);

	tc = tcase_create("chunked");
	/*
	 * Each input is parsed in every piece size from 1 byte up: tens of
	 * thousands of calls, which take seconds under the sanitizers on a
	 * busy machine (the default timeout is 4 s).
	 */
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, chunked_basic);
	tcase_add_test(tc, chunked_one_call);
	tcase_add_test(tc, chunked_extensions);
	tcase_add_test(tc, chunked_line_limit);
	tcase_add_test(tc, chunked_trailers);
	tcase_add_test(tc, chunked_errors);
	suite_add_tcase(s, tc);

	return s;
}

int
main(void)
{
	SRunner	*sr;
	int	 failed;

	sr = srunner_create(http_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
