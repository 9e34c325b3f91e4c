/*
 * check_vars.c: unit tests for the variable compiler and expander
 * (common/vars.c): pieces of text and variables, $name and ${name},
 * "$$", $http_NAME folded to a field name, the places a variable may be
 * used, reserved names, errors; expansion with each escaping (header,
 * nginx's log escaping with "-" for empty, JSON), and a buffer too small.
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/strbuf.h"
#include "common/vars.h"

/* A fake exchange: fixed values, the last field name asked kept. */
static char	 asked[64];

static int
get(void *arg, enum var_id id, const char *name, size_t nlen, const char **v,
    size_t *vl, char *scratch, size_t scap)
{
	(void)arg;
	switch (id) {
	case VAR_REMOTE_ADDR:
		*v = "192.0.2.7";
		break;
	case VAR_HOST:
		*v = "www.example.com";
		break;
	case VAR_URI:
		*v = "/a b";
		break;
	case VAR_STATUS:
		snprintf(scratch, scap, "%d", 404);
		*v = scratch;
		break;
	case VAR_HTTP:
		snprintf(asked, sizeof(asked), "%.*s", (int)nlen, name);
		if (nlen == 10 && memcmp(name, "user-agent", 10) == 0)
			*v = "a\"b\\c\x01\n\xc3\xa9\xff";
		else
			return -1;
		break;
	default:
		return -1;
	}
	*vl = strlen(*v);
	return 0;
}

static const char *
expand(const char *s, unsigned ctx, enum vars_esc esc)
{
	static char	 out[512];
	char		 buf[512], err[160];
	struct vars_fmt	 f;
	struct strbuf	 b;

	ck_assert_msg(vars_compile(s, ctx, &f, err, sizeof(err)) == 0,
	    "%s: %s", s, err);
	strbuf_init(&b, buf, sizeof(buf));
	vars_expand(&f, get, NULL, esc, &b);
	ck_assert(!b.over);
	memcpy(out, buf, b.len);
	out[b.len] = '\0';
	vars_free(&f);
	return out;
}

static const char *
refused(const char *s, unsigned ctx)
{
	static char	 err[160];
	struct vars_fmt	 f;

	ck_assert_msg(vars_compile(s, ctx, &f, err, sizeof(err)) == -1,
	    "%s was accepted", s);
	ck_assert_ptr_null(f.p);
	ck_assert_ptr_null(f.text);
	return err;
}

START_TEST(pieces)
{
	struct vars_fmt	 f;
	char		 err[160];

	ck_assert_int_eq(vars_compile("ip=$remote_addr, ${host}x $$5",
	    VARS_REQUEST, &f, err, sizeof(err)), 0);
	ck_assert_uint_eq(f.n, 5);
	ck_assert_int_eq(f.p[0].id, VAR_TEXT);
	ck_assert_int_eq(f.p[1].id, VAR_REMOTE_ADDR);
	ck_assert_int_eq(f.p[2].id, VAR_TEXT);
	ck_assert_int_eq(f.p[3].id, VAR_HOST);
	ck_assert_int_eq(f.p[4].id, VAR_TEXT);	/* "x $5" joined */
	ck_assert_uint_eq(f.p[4].len, 4);
	ck_assert(!vars_constant(&f));
	vars_free(&f);
	ck_assert_int_eq(vars_compile("plain", VARS_REQUEST, &f, err,
	    sizeof(err)), 0);
	ck_assert(vars_constant(&f));
	vars_free(&f);
	ck_assert_int_eq(vars_compile("", VARS_REQUEST, &f, err,
	    sizeof(err)), 0);
	ck_assert_uint_eq(f.n, 0);
	vars_free(&f);
}
END_TEST

START_TEST(expansion)
{
	ck_assert_str_eq(expand("ip=$remote_addr, ${host}x $$5", VARS_REQUEST,
	    VARS_ESC_HEADER), "ip=192.0.2.7, www.example.comx $5");
	/* A name ends at the first byte that cannot be in one. */
	ck_assert_str_eq(expand("$host.$host-$uri/", VARS_REQUEST,
	    VARS_ESC_HEADER), "www.example.com.www.example.com-/a b/");
	/* $http_ names fold to a field name: lowercase, '-'. */
	expand("[$http_User_Agent]", VARS_REQUEST, VARS_ESC_HEADER);
	ck_assert_str_eq(asked, "user-agent");
	/* An unknown field is empty; "-" in a log. */
	ck_assert_str_eq(expand("[$http_x_none]", VARS_REQUEST,
	    VARS_ESC_HEADER), "[]");
	ck_assert_str_eq(expand("[$http_x_none]", VARS_REQUEST | VARS_LOG,
	    VARS_ESC_LOG), "[-]");
	ck_assert_str_eq(expand("$status", VARS_RESPONSE, VARS_ESC_HEADER),
	    "404");
}
END_TEST

START_TEST(escaping)
{
	/* Header values: control bytes dropped, so no field can be added. */
	ck_assert_str_eq(expand("$http_user_agent", VARS_REQUEST,
	    VARS_ESC_HEADER), "a\"b\\c\xc3\xa9\xff");
	/* nginx's log escaping. */
	ck_assert_str_eq(expand("\"$http_user_agent\"", VARS_LOG,
	    VARS_ESC_LOG), "\"a\\x22b\\x5Cc\\x01\\x0A\\xC3\\xA9\\xFF\"");
	/* JSON: UTF-8 kept, a stray byte as \u00XX. */
	ck_assert_str_eq(expand("{\"a\":\"$http_user_agent\"}", VARS_LOG,
	    VARS_ESC_JSON),
	    "{\"a\":\"a\\\"b\\\\c\\u0001\\n\xc3\xa9\\u00ff\"}");
}
END_TEST

START_TEST(errors)
{
	ck_assert_str_eq(refused("x $nosuch y", VARS_REQUEST),
	    "unknown variable $nosuch");
	ck_assert_str_eq(refused("${host", VARS_REQUEST),
	    "'${' without a name and its '}'");
	ck_assert_str_eq(refused("${}", VARS_REQUEST),
	    "'${' without a name and its '}'");
	ck_assert_str_eq(refused("a $ b", VARS_REQUEST),
	    "'$' without a variable name (write $$ for a '$')");
	ck_assert_str_eq(refused("50$", VARS_REQUEST),
	    "'$' without a variable name (write $$ for a '$')");
	ck_assert_str_eq(refused("$status", VARS_REQUEST),
	    "$status cannot be used here (not known before the answer)");
	ck_assert_str_eq(refused("$time_local", VARS_REQUEST | VARS_RESPONSE),
	    "$time_local cannot be used here (access log formats only)");
	ck_assert_str_eq(refused("$sent_http_server", VARS_REQUEST),
	    "$sent_http_server: response fields are only known to response "
	    "header rules");
	ck_assert_str_eq(refused("$http_", VARS_REQUEST),
	    "unknown variable $http_");
}
END_TEST

START_TEST(too_small)
{
	struct vars_fmt	 f;
	struct strbuf	 b;
	char		 buf[8], err[160];

	ck_assert_int_eq(vars_compile("$host!", VARS_REQUEST, &f, err,
	    sizeof(err)), 0);
	strbuf_init(&b, buf, sizeof(buf));
	vars_expand(&f, get, NULL, VARS_ESC_HEADER, &b);
	ck_assert(b.over);
	ck_assert_uint_le(b.len, sizeof(buf));
	vars_free(&f);
}
END_TEST

static Suite *
vars_suite(void)
{
	Suite	*s = suite_create("vars");
	TCase	*tc;

	tc = tcase_create("vars");
	tcase_add_test(tc, pieces);
	tcase_add_test(tc, expansion);
	tcase_add_test(tc, escaping);
	tcase_add_test(tc, errors);
	tcase_add_test(tc, too_small);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner	*sr;
	int	 failed;

	sr = srunner_create(vars_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
