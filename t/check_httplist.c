/*
 * check_httplist.c: unit tests for the list reader of field values
 * (common/httplist.c): #list elements with quoted-strings (RFC 9110
 * 5.6.1, 5.6.4), elements as token [= token / quoted-string] [; params]
 * (Cache-Control directives, transfer codings, parameters), Connection
 * tokens and the hop-by-hop list.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/http.h"

/*
 * What next() gives from v (http_list_next, http_token_next) joined with
 * "|", for comparing in one assertion.
 */
static const char *
joined(const char *v, int (*next)(const char *, size_t, size_t *,
    const char **, size_t *))
{
	static char	 out[512];
	const char	*e;
	size_t		 pos = 0, el, o = 0;

	out[0] = '\0';
	while (next(v, strlen(v), &pos, &e, &el)) {
		ck_assert_uint_lt(o + el + 2, sizeof(out));
		if (o > 0)
			out[o++] = '|';
		memcpy(out + o, e, el);
		o += el;
		out[o] = '\0';
	}
	return out;
}

#define elems(v)	joined((v), http_list_next)
#define tokens(v)	joined((v), http_token_next)

/* One element, as "name", "name=arg", plus flags. */
static const char *
elem(const char *s)
{
	static char		 out[256];
	struct http_elem	 e;

	http_elem_parse(s, strlen(s), &e);
	snprintf(out, sizeof(out), "%.*s%s%.*s%s%s%s%.*s",
	    (int)e.name_len, e.name, e.has_arg ? "=" : "",
	    (int)e.arg_len, e.arg != NULL ? e.arg : "",
	    e.quoted ? " quoted" : "", e.bad ? " bad" : "",
	    e.params != NULL ? " params:" : "",
	    (int)e.params_len, e.params != NULL ? e.params : "");
	return out;
}

START_TEST(list_elements)
{
	ck_assert_str_eq(elems(""), "");
	ck_assert_str_eq(elems(" ,\t, ,"), "");
	ck_assert_str_eq(elems("a"), "a");
	ck_assert_str_eq(elems(" a ,\tb\t,,c "), "a|b|c");
	ck_assert_str_eq(elems("a b, c"), "a b|c");
	/* A comma inside a quoted-string does not split; escapes count. */
	ck_assert_str_eq(elems("a=\"x,y\", b"), "a=\"x,y\"|b");
	ck_assert_str_eq(elems("a=\"x\\\",y\", b"), "a=\"x\\\",y\"|b");
	ck_assert_str_eq(elems("x\"a,b\"y, z"), "x\"a,b\"y|z");
	/* Unclosed: the rest of the value is one element. */
	ck_assert_str_eq(elems("a=\"x, b, c"), "a=\"x, b, c");
	ck_assert_str_eq(elems("a, \"\\"), "a|\"\\");

	ck_assert(http_list_has("close", 5, "close"));
	ck_assert(http_list_has(" a ,\t, CLOSE\t", 13, "close"));
	ck_assert(!http_list_has("a b", 3, "b"));
	ck_assert(!http_list_has("\"a,close\"", 9, "close"));
	ck_assert(!http_list_has("close", 4, "close"));
}
END_TEST

START_TEST(element_parse)
{
	ck_assert_str_eq(elem("no-store"), "no-store");
	ck_assert_str_eq(elem("max-age=60"), "max-age=60");
	ck_assert_str_eq(elem("max-age="), "max-age=");
	ck_assert_str_eq(elem("private=\"a, b\""), "private=a, b quoted");
	ck_assert_str_eq(elem("x=\"a\\\"b\""), "x=a\\\"b quoted");
	ck_assert_str_eq(elem("x=\"\""), "x= quoted");
	/* Bad: no name, an unclosed quote, junk after the argument. */
	ck_assert_str_eq(elem("=5"), "=5 bad");
	ck_assert_str_eq(elem("\"q\""), " bad");
	ck_assert_str_eq(elem("private=\"abc"), "private= quoted bad");
	ck_assert_str_eq(elem("max-age=5x\"a\""), "max-age=5x bad");
	ck_assert_str_eq(elem("max-age=5 x"), "max-age=5 bad");
	ck_assert_str_eq(elem("max-age = 5"), "max-age bad");
	ck_assert_str_eq(elem("a b"), "a bad");
	/* Parameters after OWS ";". */
	ck_assert_str_eq(elem("gzip;q=1"), "gzip params:;q=1");
	ck_assert_str_eq(elem("gzip ;q=1"), "gzip params:;q=1");
	ck_assert_str_eq(elem("a=b;c"), "a=b params:;c");
	ck_assert_str_eq(elem("chunked;"), "chunked params:;");
}
END_TEST

START_TEST(elements_and_params)
{
	const char		*v = "max-age=5, private=\"x, y\", no-store;p, , =3";
	struct http_elem	 e;
	size_t			 pos = 0, ppos = 0;
	int			 n = 0;

	while (http_elem_next(v, strlen(v), &pos, &e)) {
		switch (n++) {
		case 0:
			ck_assert(e.name_len == 7 && memcmp(e.name, "max-age", 7) == 0);
			ck_assert(e.arg_len == 1 && e.arg[0] == '5' && !e.bad);
			break;
		case 1:
			ck_assert(e.quoted && e.arg_len == 4 &&
			    memcmp(e.arg, "x, y", 4) == 0);
			break;
		case 2:
			ck_assert(e.params != NULL && e.params_len == 2 && !e.bad);
			break;
		case 3:
			ck_assert(e.name_len == 0 && e.bad);
			break;
		}
	}
	ck_assert_int_eq(n, 4);

	v = ";a=1 ; b=\"x;y\";;c";
	n = 0;
	while (http_param_next(v, strlen(v), &ppos, &e)) {
		switch (n++) {
		case 0:
			ck_assert(e.name_len == 1 && e.name[0] == 'a' &&
			    e.arg_len == 1 && e.arg[0] == '1' && !e.bad);
			break;
		case 1:
			ck_assert(e.quoted && e.arg_len == 3 &&
			    memcmp(e.arg, "x;y", 3) == 0 && !e.bad);
			break;
		case 2:
			ck_assert(e.name_len == 1 && e.name[0] == 'c' &&
			    !e.has_arg);
			break;
		}
	}
	ck_assert_int_eq(n, 3);
}
END_TEST

START_TEST(connection_tokens)
{
	struct http_header	 h[] = {
		{ "Connection", "close, X-A", 10, 10 },
		{ "Host", "x", 4, 1 },
		{ "connection", " x-b\tX-C ,", 10, 10 },
		{ "Connections", "x-d", 11, 3 },
		{ "CONNECTION", "", 10, 0 },
	};
	struct http_conn_iter	 it = HTTP_CONN_ITER_INIT;
	const char		*t, *want[] = { "close", "X-A", "x-b", "X-C" };
	size_t			 tl, n = 0;

	ck_assert_str_eq(tokens("a, b c\t,d"), "a|b|c|d");
	ck_assert_str_eq(tokens(" , "), "");
	ck_assert_str_eq(tokens("\"a, b\""), "\"a|b\"");
	ck_assert(http_token_has("keep-alive, Close", 17, "close"));
	ck_assert(http_token_has("foo close", 9, "close"));
	ck_assert(!http_token_has("closed", 6, "close"));

	while (http_conn_next(h, 5, &it, &t, &tl)) {
		ck_assert_uint_lt(n, 4);
		ck_assert_uint_eq(tl, strlen(want[n]));
		ck_assert(memcmp(t, want[n], tl) == 0);
		n++;
	}
	ck_assert_uint_eq(n, 4);
	ck_assert(http_conn_lists(h, 5, "x-a", 3));
	ck_assert(http_conn_lists(h, 5, "X-C", 3));
	ck_assert(!http_conn_lists(h, 5, "x-d", 3));
	ck_assert(!http_conn_lists(h, 5, "x", 1));
	ck_assert(!http_conn_lists(h, 0, "close", 5));
}
END_TEST

START_TEST(hop_by_hop)
{
	static const char	*hop[] = {
		"Connection", "keep-alive", "TE", "Trailer", "Transfer-Encoding",
		"Upgrade", "Proxy-Connection", "Proxy-Authenticate",
		"Proxy-Authorization", "Proxy-Authentication-Info", "proxy-foo",
	};
	static const char	*end2end[] = {
		"Content-Length", "Host", "Trailers", "TEE", "Upgrade-Insecure-Requests",
		"Proxy", "Proxy-", "X-Proxy-Connection", "Keep-Alives", "Via", "",
	};
	size_t			 i;

	for (i = 0; i < sizeof(hop) / sizeof(hop[0]); i++)
		ck_assert_msg(http_is_hop_by_hop(hop[i], strlen(hop[i])), "%s",
		    hop[i]);
	for (i = 0; i < sizeof(end2end) / sizeof(end2end[0]); i++)
		ck_assert_msg(!http_is_hop_by_hop(end2end[i],
		    strlen(end2end[i])), "%s", end2end[i]);
}
END_TEST

static Suite *
httplist_suite(void)
{
	Suite	*s = suite_create("httplist");
	TCase	*tc;

	tc = tcase_create("lists");
	tcase_add_test(tc, list_elements);
	tcase_add_test(tc, element_parse);
	tcase_add_test(tc, elements_and_params);
	tcase_add_test(tc, connection_tokens);
	tcase_add_test(tc, hop_by_hop);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner	*sr;
	int	 failed;

	sr = srunner_create(httplist_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
