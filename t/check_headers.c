/*
 * check_headers.c: unit tests for the heads portico writes
 * (worker/headers.c): the request head forwarded to a backend
 * (request_head_build: hop-by-hop and Connection-listed fields removed,
 * the client identity fields dropped or kept per route, X-Forwarded-*,
 * Via and Host, the body's framing) and the response head sent to a
 * client (response_head_build and head_tail: hop-by-hop removal, Via,
 * HSTS, framing, Connection for HTTP/1.0 and HTTP/1.1 clients,
 * Cache-Status).  Inputs come from the real parser (worker/http.h);
 * every test asserts the exact bytes.
 */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "worker/event.h"
#include "common/http.h"
#include "worker/proxy_int.h"
#include "worker/worker.h"

static struct conf_route	 route;
static struct conf_upstream	 upconf;
static struct upstream_rt	 ups;
static struct req		*r;
static struct http_header	 hdrs_[64];
static struct http_request	 rq;
static struct http_response	 rs;
static struct http_limits	 lim = { 8192, 16384, 64 };
static char			 out[8192];
static size_t			 outlen;
static const struct fwd_peer	 plain_peer = { "192.0.2.1", 0, NULL, NULL, 0 };

static void
setup(void)
{
	memset(&route, 0, sizeof(route));
	memset(&upconf, 0, sizeof(upconf));
	memset(&ups, 0, sizeof(ups));
	upconf.name = "app";
	upconf.keepalive = 32;
	ups.conf = &upconf;
	ck_assert_ptr_nonnull(r = calloc(1, sizeof(*r)));
	r->fe = &h1_ops;	/* the client side: HTTP/1 */
	r->route = &route;
	r->upstream = &ups;
	cache_writer_init(&r->cw);
	r->method = HTTP_M_GET;
	r->version = 11;
	r->keep_alive = 1;
	worker.quitting = 0;
}

static void
teardown(void)
{
	free(r);
	r = NULL;
}

/* Parse the client's head and build the forwarded one: 0 or -1. */
static int
fwd(const char *in, const struct fwd_peer *peer, size_t cap)
{
	struct strbuf	 b;
	int		 rc;

	strbuf_init(&b, out, cap);

	ck_assert_int_eq(http_parse_request(in, strlen(in), &lim, &rq, hdrs_),
	    HTTP_PARSE_OK);
	r->method = rq.method;
	r->version = rq.version;
	rc = request_head_build(r, peer, &rq, &b);
	outlen = b.len;
	return rc;
}

/* Parse the upstream's head and build the client's: 0 or -1. */
static int
back(const char *in, int final)
{
	struct strbuf	 b;
	int		 rc;

	strbuf_init(&b, out, sizeof(out));

	ck_assert_int_eq(http_parse_response(in, strlen(in), &lim, &rs, hdrs_),
	    HTTP_PARSE_OK);
	rc = response_head_build(r, &rs, final, &b);
	outlen = b.len;
	return rc;
}

#define OUT_EQ(want) do {						\
	ck_assert_msg(outlen == strlen(want) &&				\
	    memcmp(out, want, outlen) == 0, "got\n%.*s\nwant\n%s",	\
	    (int)outlen, out, want);					\
} while (0)

/* The fields portico appends for a plain client 192.0.2.1. */
#define OURS(host)	"X-Forwarded-For: 192.0.2.1\r\n"			\
	"X-Forwarded-Proto: http\r\nX-Forwarded-Host: " host "\r\n"	\
	"Via: 1.1 portico\r\n"

START_TEST(req_plain)
{
	ck_assert_int_eq(fwd("GET /a/b?x=1 HTTP/1.1\r\nHost: example.com\r\n"
	    "User-Agent: t/1\r\nAccept: */*\r\n\r\n", &plain_peer,
	    sizeof(out)), 0);
	OUT_EQ("GET /a/b?x=1 HTTP/1.1\r\nHost: example.com\r\n"
	    "User-Agent: t/1\r\nAccept: */*\r\n" OURS("example.com") "\r\n");
}
END_TEST

START_TEST(req_hop_by_hop)
{
	/* Hop-by-hop fields and those Connection lists go; Host stays. */
	ck_assert_int_eq(fwd("GET / HTTP/1.1\r\nHost: h\r\n"
	    "Connection: keep-alive, X-Trace, host\r\nKeep-Alive: 300\r\n"
	    "TE: trailers\r\nTrailer: X-Sum\r\nProxy-Authorization: Basic x\r\n"
	    "Proxy-Connection: keep-alive\r\nX-Trace: 1\r\nx-trace: 2\r\n"
	    "X-Kept: yes\r\nExpect: 100-continue\r\nContent-Length: 0\r\n\r\n",
	    &plain_peer, sizeof(out)), 0);
	OUT_EQ("GET / HTTP/1.1\r\nHost: h\r\nX-Kept: yes\r\n" OURS("h")
	    "Content-Length: 0\r\n\r\n");
}
END_TEST

START_TEST(req_conn_many)
{
	/*
	 * Every field the Connection fields name goes, however many: 17
	 * names over two fields (there used to be a cap at 16), and a
	 * response the same.
	 */
	static const char	 list[] = "X-A, X-B, X-C, X-D, X-E, X-F, X-G, "
	    "X-H, X-I, X-J, X-K, X-L, X-M, X-N, X-O, X-P";
	static const char	 fields[] = "X-A: 1\r\nX-B: 1\r\nX-C: 1\r\n"
	    "X-D: 1\r\nX-E: 1\r\nX-F: 1\r\nX-G: 1\r\nX-H: 1\r\n"
	    "X-I: 1\r\nX-J: 1\r\nX-K: 1\r\nX-L: 1\r\nX-M: 1\r\n"
	    "X-N: 1\r\nX-O: 1\r\nX-P: 1\r\nX-Q: 1\r\n";
	char			 in[1024];

	snprintf(in, sizeof(in), "GET / HTTP/1.1\r\nHost: h\r\n"
	    "Connection: %s\r\n%sConnection: x-q\r\nX-Kept: 1\r\n\r\n",
	    list, fields);
	ck_assert_int_eq(fwd(in, &plain_peer, sizeof(out)), 0);
	OUT_EQ("GET / HTTP/1.1\r\nHost: h\r\nX-Kept: 1\r\n" OURS("h")
	    "\r\n");
	snprintf(in, sizeof(in), "HTTP/1.1 200 OK\r\nConnection: %s\r\n"
	    "%sConnection: X-Q\r\nX-Kept: 1\r\nContent-Length: 0\r\n\r\n",
	    list, fields);
	ck_assert_int_eq(back(in, 1), 0);
	OUT_EQ("HTTP/1.1 200 OK\r\nX-Kept: 1\r\nVia: 1.1 portico\r\n"
	    "Content-Length: 0\r\n\r\n");
}
END_TEST

START_TEST(req_forwarded_for)
{
	/*
	 * Several X-Forwarded-For fields are one list: the last is appended
	 * to; the underscore spelling never passes.
	 */
	ck_assert_int_eq(fwd("GET / HTTP/1.1\r\nHost: h\r\n"
	    "X-Forwarded-For: 10.0.0.1\r\nX-A: 1\r\n"
	    "X-Forwarded-For: 10.0.0.2, 10.0.0.3\r\nX_Forwarded_For: 6.6.6.6\r\n"
	    "\r\n", &plain_peer, sizeof(out)), 0);
	OUT_EQ("GET / HTTP/1.1\r\nHost: h\r\nX-A: 1\r\n"
	    "X-Forwarded-For: 10.0.0.1\r\n"
	    "X-Forwarded-For: 10.0.0.2, 10.0.0.3, 192.0.2.1\r\n"
	    "X-Forwarded-Proto: http\r\nX-Forwarded-Host: h\r\n"
	    "Via: 1.1 portico\r\n\r\n");
}
END_TEST

START_TEST(req_ours_replaced)
{
	static const struct fwd_peer tls_peer = { "2001:db8::1", 1, "CN=alice", NULL, 0 };

	/* The client's X-Forwarded-Proto/Host and certificate are not kept. */
	ck_assert_int_eq(fwd("GET / HTTP/1.1\r\nHost: site\r\n"
	    "X-Forwarded-Proto: https\r\nx_forwarded_proto: https\r\n"
	    "X-Forwarded-Host: evil\r\nX-Client-Cert-Subject: CN=admin\r\n"
	    "X_Client_Cert_Subject: CN=admin\r\n\r\n", &tls_peer,
	    sizeof(out)), 0);
	OUT_EQ("GET / HTTP/1.1\r\nHost: site\r\n"
	    "X-Forwarded-For: 2001:db8::1\r\nX-Forwarded-Proto: https\r\n"
	    "X-Client-Cert-Subject: CN=alice\r\nX-Forwarded-Host: site\r\n"
	    "Via: 1.1 portico\r\n\r\n");
}
END_TEST

START_TEST(req_identity)
{
	static const char in[] = "GET / HTTP/1.1\r\nHost: h\r\n"
	    "Forwarded: for=6.6.6.6\r\nX-Real-IP: 6.6.6.6\r\n"
	    "True_Client_IP: 6.6.6.6\r\nX-Original-URL: /admin\r\n\r\n";

	/* Dropped by default... */
	ck_assert_int_eq(fwd(in, &plain_peer, sizeof(out)), 0);
	OUT_EQ("GET / HTTP/1.1\r\nHost: h\r\n" OURS("h") "\r\n");
	/* ... kept with pass_client_identity_headers = on. */
	route.pass_client_identity_headers = 1;
	ck_assert_int_eq(fwd(in, &plain_peer, sizeof(out)), 0);
	OUT_EQ("GET / HTTP/1.1\r\nHost: h\r\n"
	    "Forwarded: for=6.6.6.6\r\nX-Real-IP: 6.6.6.6\r\n"
	    "True_Client_IP: 6.6.6.6\r\nX-Original-URL: /admin\r\n"
	    OURS("h") "\r\n");
}
END_TEST

START_TEST(req_via)
{
	ck_assert_int_eq(fwd("GET / HTTP/1.1\r\nHost: h\r\nVia: 1.0 a\r\n"
	    "Via: 1.1 b, 1.1 c\r\n\r\n", &plain_peer, sizeof(out)), 0);
	OUT_EQ("GET / HTTP/1.1\r\nHost: h\r\nVia: 1.0 a\r\n"
	    "X-Forwarded-For: 192.0.2.1\r\nX-Forwarded-Proto: http\r\n"
	    "X-Forwarded-Host: h\r\nVia: 1.1 b, 1.1 c, 1.1 portico\r\n\r\n");
}
END_TEST

START_TEST(req_http10)
{
	/* No Host: the upstream's name; Via names the client's version. */
	ck_assert_int_eq(fwd("GET /x HTTP/1.0\r\nConnection: keep-alive\r\n"
	    "Accept: */*\r\n\r\n", &plain_peer, sizeof(out)), 0);
	OUT_EQ("GET /x HTTP/1.1\r\nHost: app\r\nAccept: */*\r\n"
	    "X-Forwarded-For: 192.0.2.1\r\nX-Forwarded-Proto: http\r\n"
	    "Via: 1.0 portico\r\n\r\n");
	/* With Host: as sent. */
	ck_assert_int_eq(fwd("GET /x HTTP/1.0\r\nHost: h:81\r\n\r\n",
	    &plain_peer, sizeof(out)), 0);
	OUT_EQ("GET /x HTTP/1.1\r\nHost: h:81\r\n"
	    "X-Forwarded-For: 192.0.2.1\r\nX-Forwarded-Proto: http\r\n"
	    "X-Forwarded-Host: h:81\r\nVia: 1.0 portico\r\n\r\n");
}
END_TEST

START_TEST(req_absolute_form)
{
	/* The target's authority replaces Host; the target goes origin-form. */
	ck_assert_int_eq(fwd("GET http://t.example:8080/p/q?s=1 HTTP/1.1\r\n"
	    "Host: other\r\n\r\n", &plain_peer, sizeof(out)), 0);
	OUT_EQ("GET /p/q?s=1 HTTP/1.1\r\nHost: t.example:8080\r\n"
	    OURS("t.example:8080") "\r\n");
}
END_TEST

START_TEST(req_framing)
{
	/* Chunked goes chunked. */
	ck_assert_int_eq(fwd("POST /u HTTP/1.1\r\nHost: h\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n", &plain_peer, sizeof(out)), 0);
	OUT_EQ("POST /u HTTP/1.1\r\nHost: h\r\n" OURS("h")
	    "Transfer-Encoding: chunked\r\n\r\n");
	/* A buffered chunked body goes with its length. */
	r->buffered = 1;
	r->body.len = 12345;
	ck_assert_int_eq(fwd("POST /u HTTP/1.1\r\nHost: h\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n", &plain_peer, sizeof(out)), 0);
	OUT_EQ("POST /u HTTP/1.1\r\nHost: h\r\n" OURS("h")
	    "Content-Length: 12345\r\n\r\n");
	/* A length as sent, after portico's fields; keepalive = 0: close. */
	r->buffered = 0;
	upconf.keepalive = 0;
	ck_assert_int_eq(fwd("PUT /u HTTP/1.1\r\nContent-Length: 7\r\nHost: h\r\n"
	    "\r\n", &plain_peer, sizeof(out)), 0);
	OUT_EQ("PUT /u HTTP/1.1\r\nHost: h\r\n" OURS("h")
	    "Content-Length: 7\r\nConnection: close\r\n\r\n");
}
END_TEST

START_TEST(req_too_large)
{
	static const char in[] = "GET / HTTP/1.1\r\nHost: h\r\n\r\n";
	size_t	 whole;

	ck_assert_int_eq(fwd(in, &plain_peer, sizeof(out)), 0);
	whole = outlen;
	ck_assert_int_eq(fwd(in, &plain_peer, whole), 0);
	ck_assert_uint_eq(outlen, whole);
	ck_assert_int_eq(fwd(in, &plain_peer, whole - 1), -1);
}
END_TEST

START_TEST(resp_plain)
{
	ck_assert_int_eq(back("HTTP/1.1 200 OK\r\nServer: s\r\nContent-Length: 3\r\n"
	    "Connection: keep-alive, X-Hop\r\nKeep-Alive: timeout=5\r\n"
	    "X-Hop: 1\r\nProxy-Authenticate: Basic\r\nUpgrade: h2c\r\n"
	    "X-End: 2\r\n\r\n", 1), 0);
	OUT_EQ("HTTP/1.1 200 OK\r\nServer: s\r\nX-End: 2\r\nVia: 1.1 portico\r\n"
	    "Content-Length: 3\r\n\r\n");
}
END_TEST

START_TEST(resp_http10_client)
{
	/* An HTTP/1.0 client that keeps the connection is told so. */
	r->version = 10;
	ck_assert_int_eq(back("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n", 1), 0);
	OUT_EQ("HTTP/1.1 200 OK\r\nVia: 1.1 portico\r\nContent-Length: 3\r\n"
	    "Connection: keep-alive\r\n\r\n");
	/* A chunked answer to it is de-chunked and ends with the close. */
	r->keep_alive = 0;
	r->resp_chunked = 1;
	r->dechunk = 1;
	ck_assert_int_eq(back("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
	    "\r\n", 1), 0);
	OUT_EQ("HTTP/1.1 200 OK\r\nVia: 1.1 portico\r\nConnection: close\r\n\r\n");
}
END_TEST

START_TEST(resp_chunked_close)
{
	r->resp_chunked = 1;
	ck_assert_int_eq(back("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
	    "\r\n", 1), 0);
	OUT_EQ("HTTP/1.1 200 OK\r\nVia: 1.1 portico\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n");
	/* An HTTP/1.1 client that said close; a quitting worker likewise. */
	r->resp_chunked = 0;
	r->keep_alive = 0;
	ck_assert_int_eq(back("HTTP/1.0 200 OK\r\nVia: 1.0 up\r\n"
	    "Content-Length: 1\r\n\r\n", 1), 0);
	OUT_EQ("HTTP/1.1 200 OK\r\nVia: 1.0 up, 1.0 portico\r\nContent-Length: 1\r\n"
	    "Connection: close\r\n\r\n");
	r->keep_alive = 1;
	worker.quitting = 1;
	ck_assert_int_eq(back("HTTP/1.1 204 No Content\r\n\r\n", 1), 0);
	OUT_EQ("HTTP/1.1 204 No Content\r\nVia: 1.1 portico\r\n"
	    "Connection: close\r\n\r\n");
	ck_assert_int_eq(r->keep_alive, 0);
}
END_TEST

START_TEST(resp_head_and_1xx)
{
	/* HEAD keeps the length GET would send, in its place. */
	r->method = HTTP_M_HEAD;
	ck_assert_int_eq(back("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n"
	    "ETag: \"e\"\r\n\r\n", 1), 0);
	OUT_EQ("HTTP/1.1 200 OK\r\nContent-Length: 10\r\nETag: \"e\"\r\n"
	    "Via: 1.1 portico\r\n\r\n");
	/* A forwarded 1xx: no framing, no Connection, no Cache-Status. */
	r->method = HTTP_M_GET;
	r->version = 10;
	snprintf(r->cstatus, sizeof(r->cstatus), "portico; fwd=miss");
	ck_assert_int_eq(back("HTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n"
	    "\r\n", 0), 0);
	OUT_EQ("HTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n"
	    "Via: 1.1 portico\r\n\r\n");
}
END_TEST

START_TEST(resp_hsts_cache_status)
{
	r->hsts = "max-age=100";
	snprintf(r->cstatus, sizeof(r->cstatus), "portico; fwd=miss; stored");
	ck_assert_int_eq(back("HTTP/1.1 200 OK\r\n"
	    "Strict-Transport-Security: max-age=1\r\nContent-Length: 0\r\n\r\n",
	    1), 0);
	OUT_EQ("HTTP/1.1 200 OK\r\nStrict-Transport-Security: max-age=100\r\n"
	    "Via: 1.1 portico\r\nContent-Length: 0\r\n"
	    "Cache-Status: portico; fwd=miss; stored\r\n\r\n");
}
END_TEST

START_TEST(tail_cases)
{
	struct strbuf	 b;

	/* HTTP/1.0 keep-alive, no length (a body that the close ends). */
	r->version = 10;
	strbuf_init(&b, out, sizeof(out));
	head_tail(&b, r, HEAD_NO_LENGTH);
	ck_assert_int_eq(b.over, 0);
	outlen = b.len;
	OUT_EQ("Connection: keep-alive\r\n\r\n");
	/* HTTP/1.1: nothing to say but the framing. */
	r->version = 11;
	strbuf_init(&b, out, sizeof(out));
	head_tail(&b, r, 0);
	ck_assert_int_eq(b.over, 0);
	outlen = b.len;
	OUT_EQ("Content-Length: 0\r\n\r\n");
	strbuf_init(&b, out, sizeof(out));
	head_tail(&b, r, HEAD_CHUNKED);
	ck_assert_int_eq(b.over, 0);
	outlen = b.len;
	OUT_EQ("Transfer-Encoding: chunked\r\n\r\n");
	/* Too small a buffer. */
	strbuf_init(&b, out, 10);
	head_tail(&b, r, 1234567);
	ck_assert_int_eq(b.over, 1);
}
END_TEST

START_TEST(local_start)
{
	struct strbuf	 b;

	ev_wall = 1700000000;	/* the event loop's clock: Date comes from it */
	strbuf_init(&b, out, sizeof(out));
	head_start_local(&b, r, 503);
	ck_assert_int_eq(b.over, 0);
	outlen = b.len;
	OUT_EQ("HTTP/1.1 503 Service Unavailable\r\nServer: portico\r\n"
	    "Date: Tue, 14 Nov 2023 22:13:20 GMT\r\n");
}
END_TEST

static Suite *
headers_suite(void)
{
	Suite	*s = suite_create("headers");
	TCase	*tc = tcase_create("request");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, req_plain);
	tcase_add_test(tc, req_hop_by_hop);
	tcase_add_test(tc, req_conn_many);
	tcase_add_test(tc, req_forwarded_for);
	tcase_add_test(tc, req_ours_replaced);
	tcase_add_test(tc, req_identity);
	tcase_add_test(tc, req_via);
	tcase_add_test(tc, req_http10);
	tcase_add_test(tc, req_absolute_form);
	tcase_add_test(tc, req_framing);
	tcase_add_test(tc, req_too_large);
	suite_add_tcase(s, tc);
	tc = tcase_create("response");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, resp_plain);
	tcase_add_test(tc, resp_http10_client);
	tcase_add_test(tc, resp_chunked_close);
	tcase_add_test(tc, resp_head_and_1xx);
	tcase_add_test(tc, resp_hsts_cache_status);
	tcase_add_test(tc, tail_cases);
	tcase_add_test(tc, local_start);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner	*sr = srunner_create(headers_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
