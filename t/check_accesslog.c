/*
 * check_accesslog.c: unit tests for the access log line
 * (worker/accesslog.c): the fields in the order man/portico.ini.5
 * documents (ACCESS LOG), with the request line, the referer and the
 * user agent escaped as they are captured (log_request_line,
 * copy_field), so that hostile bytes can neither end the line nor break
 * out of a quoted field; and the line cut to the buffer, still one line.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <check.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/http.h"
#include "worker/proxy_int.h"

/* 24/Nov/2026:19:03:41 +0000, the time of README's example lines. */
#define T_README	1795547021

static char			 line[1400];
static struct accesslog_entry	 e;

static void
setup(void)
{
	memset(&e, 0, sizeof(e));
	e.ip = "127.0.0.1";
	e.wall = T_README;
	e.line = "GET /a HTTP/1.1";
	e.status = 200;
	e.bytes = 80;
	e.referer = "";
	e.agent = "curl/7.88.1";
	e.upstream = "127.0.0.1:8081";
	e.upstream_ms = 1;
	e.total_ms = 1;
}

static const char *
fmt(void)
{
	size_t	 n;

	n = accesslog_format(line, sizeof(line), &e);
	ck_assert_uint_gt(n, 0);
	ck_assert_uint_eq(n, strlen(line));
	return line;
}

/* The two example lines of README.md, byte for byte. */
START_TEST(readme_examples)
{
	ck_assert_str_eq(fmt(), "127.0.0.1 - - [24/Nov/2026:19:03:41 +0000] "
	    "\"GET /a HTTP/1.1\" 200 80 \"-\" \"curl/7.88.1\" "
	    "upstream=127.0.0.1:8081 upstream_time=0.001 request_time=0.001\n");
	e.line = "GET /x HTTP/1.1";
	e.status = 404;
	e.bytes = 121;
	e.agent = "";
	e.upstream = NULL;
	e.upstream_ms = 0;
	e.total_ms = 0;
	ck_assert_str_eq(fmt(), "127.0.0.1 - - [24/Nov/2026:19:03:41 +0000] "
	    "\"GET /x HTTP/1.1\" 404 121 \"-\" \"-\" upstream=- "
	    "upstream_time=0.000 request_time=0.000\n");
}
END_TEST

/*
 * The documented format, as a pattern: CLIENT - - [DD/Mon/YYYY:HH:MM:SS
 * +0000] "REQUEST LINE" STATUS BYTES "REFERER" "USER-AGENT"
 * upstream=SERVER upstream_time=SEC request_time=SEC.
 */
/*
 * A tunnel's line (status 101): the same fields, the bytes to the client
 * where every line has its body bytes, then tunnel_bytes_in; no other
 * line has it.
 */
START_TEST(tunnel_line)
{
	e.line = "GET /ws HTTP/1.1";
	e.status = 101;
	e.bytes = 1234;
	e.tunnel = 1;
	e.tunnel_in = 5678;
	e.total_ms = 61500;
	ck_assert_str_eq(fmt(), "127.0.0.1 - - [24/Nov/2026:19:03:41 +0000] "
	    "\"GET /ws HTTP/1.1\" 101 1234 \"-\" \"curl/7.88.1\" "
	    "upstream=127.0.0.1:8081 upstream_time=0.001 request_time=61.500 "
	    "tunnel_bytes_in=5678\n");
	e.tunnel = 0;
	ck_assert_ptr_null(strstr(fmt(), "tunnel_bytes_in"));
}
END_TEST

START_TEST(documented_order)
{
	regex_t		 re;
	regmatch_t	 m[10];
	const char	*l;

	ck_assert_int_eq(regcomp(&re, "^([^ ]+) - - \\[([0-9]{2}/[A-Z][a-z]{2}/"
	    "[0-9]{4}:[0-9]{2}:[0-9]{2}:[0-9]{2} \\+0000)\\] \"([^\"]*)\" "
	    "([0-9]{3}) ([0-9]+) \"([^\"]*)\" \"([^\"]*)\" upstream=([^ ]+) "
	    "upstream_time=([0-9]+\\.[0-9]{3}) request_time=[0-9]+\\.[0-9]{3}\n$",
	    REG_EXTENDED), 0);
	e.ip = "2001:db8::1";
	e.wall = 0;
	e.status = 502;
	e.bytes = 12345678901ULL;
	e.referer = "http://a.test/";
	e.upstream_ms = 1234567;
	e.total_ms = 2000;
	l = fmt();
	ck_assert_msg(regexec(&re, l, 10, m, 0) == 0, "no match: %s", l);
	ck_assert_int_eq(strncmp(l + m[1].rm_so, "2001:db8::1 ", 12), 0);
	ck_assert_int_eq(strncmp(l + m[2].rm_so, "01/Jan/1970:00:00:00", 20), 0);
	ck_assert_int_eq(strncmp(l + m[4].rm_so, "502 12345678901 ", 16), 0);
	ck_assert_int_eq(strncmp(l + m[6].rm_so, "http://a.test/\"", 15), 0);
	ck_assert_int_eq(strncmp(l + m[9].rm_so, "1234.567 request_time=2.000\n",
	    28), 0);
	regfree(&re);
}
END_TEST

/* Parse a request head for log_request_line. */
static void
parse(const char *head, size_t len, struct http_request *rq)
{
	static struct http_header	 fields[32];
	static struct http_limits	 lim = { .max_request_line = 8192,
	    .max_head = 16384, .max_headers = 32 };

	memset(rq, 0, sizeof(*rq));
	ck_assert_int_eq(http_parse_request(head, len, &lim, rq, fields),
	    HTTP_PARSE_OK);
}

/*
 * Hostile bytes: quotes, backslashes, control bytes (a CR, LF, NUL or
 * ESC would forge or hide lines on a terminal) and bytes over 0x7e are
 * written \xHH in every quoted field.  The parser refuses most of them
 * in a target; the request line is escaped all the same.
 */
START_TEST(hostile_bytes)
{
	static const char	 target[] = "/a\"b\\c%22?q=\xff\xfe\r\n\x00";
	static const char	 agent[] = "x\" 200 0 \"-\r\nforged\x1b[2J\x7f\x00z";
	static const char	 ref[] = "\\\"";
	struct http_request	 rq;
	char			 rl[600], ag[200], rf[160];

	memset(&rq, 0, sizeof(rq));
	rq.method = HTTP_M_GET;
	rq.method_str = "GET";
	rq.method_len = 3;
	rq.target = target;
	rq.target_len = sizeof(target) - 1;
	rq.version = 10;
	log_request_line(rl, sizeof(rl), &rq);
	ck_assert_str_eq(rl, "GET /a\\x22b\\x5Cc%22?q=\\xFF\\xFE\\x0D\\x0A"
	    "\\x00 HTTP/1.0");
	copy_field(ag, sizeof(ag), agent, sizeof(agent) - 1);
	ck_assert_str_eq(ag, "x\\x22 200 0 \\x22-\\x0D\\x0Aforged\\x1B[2J"
	    "\\x7F\\x00z");
	copy_field(rf, sizeof(rf), ref, sizeof(ref) - 1);
	e.line = rl;
	e.agent = ag;
	e.referer = rf;
	ck_assert_str_eq(fmt(), "127.0.0.1 - - [24/Nov/2026:19:03:41 +0000] "
	    "\"GET /a\\x22b\\x5Cc%22?q=\\xFF\\xFE\\x0D\\x0A\\x00 HTTP/1.0\" 200 80 "
	    "\"\\x5C\\x22\" \"x\\x22 200 0 \\x22-\\x0D\\x0Aforged\\x1B[2J"
	    "\\x7F\\x00z\" upstream=127.0.0.1:8081 upstream_time=0.001 "
	    "request_time=0.001\n");
	/* One line: its only newline ends it. */
	ck_assert_ptr_eq(strchr(line, '\n'), line + strlen(line) - 1);
	ck_assert_ptr_null(strchr(line, '\r'));
}
END_TEST

/* A target as a client may send it: kept as sent (escapes too). */
START_TEST(parsed_target)
{
	static const char	 head[] = "GET /a%22b%0D%0A?q=%FF HTTP/1.1\r\n"
	    "Host: a\r\n\r\n";
	struct http_request	 rq;
	char			 rl[600];

	parse(head, sizeof(head) - 1, &rq);
	log_request_line(rl, sizeof(rl), &rq);
	ck_assert_str_eq(rl, "GET /a%22b%0D%0A?q=%FF HTTP/1.1");
}
END_TEST

/* A long escaped field stops at a whole \xHH, within its buffer. */
START_TEST(field_caps)
{
	char			 big[1000], ag[200], rl[600], head[1200];
	struct http_request	 rq;
	int			 n;

	memset(big, '"', sizeof(big));
	copy_field(ag, sizeof(ag), big, sizeof(big));
	ck_assert_uint_lt(strlen(ag), sizeof(ag));
	ck_assert_uint_eq(strlen(ag) % 4, 0);
	memset(big, 'a', 900);
	n = snprintf(head, sizeof(head), "GET /%.*s HTTP/1.1\r\nHost: a\r\n\r\n",
	    900, big);
	parse(head, (size_t)n, &rq);
	log_request_line(rl, sizeof(rl), &rq);
	ck_assert_uint_lt(strlen(rl), sizeof(rl));
	ck_assert_uint_gt(strlen(rl), sizeof(rl) - 16);
	/* The version stays at the end of a cut target. */
	ck_assert_str_eq(rl + strlen(rl) - 9, " HTTP/1.1");
}
END_TEST

/* A line longer than the buffer is cut, and still ends in a newline. */
START_TEST(cut_line)
{
	char	 big[2000], small[64];
	size_t	 n;

	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	e.agent = big;
	n = accesslog_format(line, sizeof(line), &e);
	ck_assert_uint_eq(n, sizeof(line) - 1);
	ck_assert_uint_eq(strlen(line), n);
	ck_assert_int_eq(line[n - 1], '\n');
	ck_assert_ptr_eq(strchr(line, '\n'), line + n - 1);
	e.agent = "a";
	n = accesslog_format(small, sizeof(small), &e);
	ck_assert_uint_eq(n, sizeof(small) - 1);
	ck_assert_int_eq(small[n - 1], '\n');
	ck_assert_int_eq(strncmp(small, "127.0.0.1 - - [24/Nov/2026:19:03:41 "
	    "+0000] \"GET /a", 47), 0);
}
END_TEST

static Suite *
accesslog_suite(void)
{
	Suite	*s = suite_create("accesslog");
	TCase	*tc = tcase_create("line");

	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, readme_examples);
	tcase_add_test(tc, documented_order);
	tcase_add_test(tc, hostile_bytes);
	tcase_add_test(tc, parsed_target);
	tcase_add_test(tc, field_caps);
	tcase_add_test(tc, cut_line);
	tcase_add_test(tc, tunnel_line);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner	*sr;
	int	 failed;

	sr = srunner_create(accesslog_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
