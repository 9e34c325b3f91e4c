/*
 * check_uri.c: unit tests for the path normalizer (worker/uri.c).  The
 * expected results come from RFC 3986: the remove_dot_segments examples
 * of section 5.2.4, the merged paths of the reference resolution
 * examples in section 5.4 (base "http://a/b/c/d;p?q"), and the
 * normalizations of section 6.2.2.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "worker/uri.h"

#define STRICT	URI_MERGE_SLASHES

static char		 out[1024];
static size_t		 outlen;
static const char	*why;

static int
norm(const char *in, unsigned flags)
{
	size_t	 n = strlen(in);

	ck_assert_uint_le(n, sizeof(out));
	why = NULL;
	return uri_normalize_path(in, n, flags, out, &outlen, &why);
}

#define NORM_EQ(in, flags, want) do {					\
	int rv_ = norm(in, flags);					\
	ck_assert_msg(rv_ == 0, "%s: refused (%s)", in, why ? why : "?");\
	ck_assert_msg(outlen == strlen(want) &&				\
	    memcmp(out, want, outlen) == 0, "%s: got '%.*s', want '%s'",	\
	    in, (int)outlen, out, want);				\
	ck_assert_uint_le(outlen, strlen(in));				\
} while (0)

#define NORM_ERR(in, flags) do {					\
	int rv_ = norm(in, flags);					\
	ck_assert_msg(rv_ == -1, "%s: accepted as '%.*s'", in,		\
	    (int)outlen, out);						\
	ck_assert_ptr_nonnull(why);					\
} while (0)

/* RFC 3986 5.2.4, the two worked examples (the second made absolute). */
START_TEST(rfc_5_2_4)
{
	NORM_EQ("/a/b/c/./../../g", STRICT, "/a/g");
	NORM_EQ("/mid/content=5/../6", STRICT, "/mid/6");
}
END_TEST

/*
 * RFC 3986 5.4.1 and 5.4.2: the path of each resolved reference, from the
 * merged path (base path "/b/c/" plus the reference) to the result.
 */
START_TEST(rfc_5_4_normal)
{
	NORM_EQ("/b/c/g", STRICT, "/b/c/g");		/* "g" */
	NORM_EQ("/b/c/./g", STRICT, "/b/c/g");		/* "./g" */
	NORM_EQ("/b/c/g/", STRICT, "/b/c/g/");		/* "g/" */
	NORM_EQ("/g", STRICT, "/g");			/* "/g" */
	NORM_EQ("/b/c/g;x", STRICT, "/b/c/g;x");	/* "g;x" */
	NORM_EQ("/b/c/.", STRICT, "/b/c/");		/* "." */
	NORM_EQ("/b/c/./", STRICT, "/b/c/");		/* "./" */
	NORM_EQ("/b/c/..", STRICT, "/b/");		/* ".." */
	NORM_EQ("/b/c/../", STRICT, "/b/");		/* "../" */
	NORM_EQ("/b/c/../g", STRICT, "/b/g");		/* "../g" */
	NORM_EQ("/b/c/../..", STRICT, "/");		/* "../.." */
	NORM_EQ("/b/c/../../", STRICT, "/");		/* "../../" */
	NORM_EQ("/b/c/../../g", STRICT, "/g");		/* "../../g" */
}
END_TEST

START_TEST(rfc_5_4_abnormal)
{
	/* "../../../g" and "../../../../g" climb above the root ... */
	NORM_ERR("/b/c/../../../g", STRICT);
	NORM_ERR("/b/c/../../../../g", STRICT);
	NORM_ERR("/../g", STRICT);
	/* ... which RFC 3986 resolves to "/g", as does the relaxed mode. */
	NORM_EQ("/b/c/../../../g", STRICT | URI_DOT_ABOVE_ROOT, "/g");
	NORM_EQ("/b/c/../../../../g", STRICT | URI_DOT_ABOVE_ROOT, "/g");
	NORM_EQ("/../g", STRICT | URI_DOT_ABOVE_ROOT, "/g");
	NORM_EQ("/./g", STRICT, "/g");			/* "/./g" */
	NORM_EQ("/b/c/g.", STRICT, "/b/c/g.");		/* "g." */
	NORM_EQ("/b/c/.g", STRICT, "/b/c/.g");		/* ".g" */
	NORM_EQ("/b/c/g..", STRICT, "/b/c/g..");	/* "g.." */
	NORM_EQ("/b/c/..g", STRICT, "/b/c/..g");	/* "..g" */
	NORM_EQ("/b/c/./../g", STRICT, "/b/g");		/* "./../g" */
	NORM_EQ("/b/c/./g/.", STRICT, "/b/c/g/");	/* "./g/." */
	NORM_EQ("/b/c/g/./h", STRICT, "/b/c/g/h");	/* "g/./h" */
	NORM_EQ("/b/c/g/../h", STRICT, "/b/c/h");	/* "g/../h" */
	NORM_EQ("/b/c/g;x=1/./y", STRICT, "/b/c/g;x=1/y");
	NORM_EQ("/b/c/g;x=1/../y", STRICT, "/b/c/y");
}
END_TEST

/* RFC 3986 6.2.2.1 (case), 6.2.2.2 (percent-encoding), 2.3, 6.2.2. */
START_TEST(rfc_6_2_2)
{
	NORM_EQ("/%3a", STRICT, "/%3A");
	NORM_EQ("/%7euser", STRICT, "/~user");
	NORM_EQ("/%7Euser", STRICT, "/~user");
	NORM_EQ("/%41%5a%61%7A%30%39%2D%2E%5F%7E", STRICT, "/AZaz09-._~");
	NORM_EQ("/%7bfoo%7d", STRICT, "/%7Bfoo%7D");
	/* The example of 6.2.2: "eXAMPLE://a/./b/../b/%63/%7bfoo%7d". */
	NORM_EQ("/./b/../b/%63/%7bfoo%7d", STRICT, "/b/c/%7Bfoo%7D");
	/* Reserved characters stay encoded, as their meaning differs. */
	NORM_EQ("/a%3fb%23c%40%25", STRICT, "/a%3Fb%23c%40%25");
	NORM_EQ("/%C3%A9t%c3%a9", STRICT, "/%C3%A9t%C3%A9");
}
END_TEST

/* Encoded dot segments resolve like literal ones (6.2.2.3 after 6.2.2.2). */
START_TEST(encoded_dots)
{
	NORM_EQ("/x/%2e%2e/admin/", STRICT, "/admin/");
	NORM_EQ("/%2e/admin/", STRICT, "/admin/");
	NORM_EQ("/x/%2E%2E/admin/", STRICT, "/admin/");
	NORM_EQ("/x/.%2e/admin", STRICT, "/admin");
	NORM_EQ("/%61dmin/", STRICT, "/admin/");
	NORM_ERR("/%2E%2E/admin/", STRICT);
	NORM_ERR("/%2e%2e", STRICT);
	NORM_EQ("/%2e%2e%2e/", STRICT, "/.../");
}
END_TEST

START_TEST(slashes)
{
	NORM_EQ("//admin/", STRICT, "/admin/");
	NORM_EQ("/a//b///c//", STRICT, "/a/b/c/");
	NORM_EQ("//", STRICT, "/");
	NORM_EQ("/", STRICT, "/");
	NORM_EQ("//admin/", 0, "//admin/");
	NORM_EQ("/a//b", 0, "/a//b");
	/* Unmerged, ".." removes the empty segment, as 5.2.4 does. */
	NORM_EQ("/a//..", 0, "/a/");
	NORM_EQ("//../x", 0, "/x");
	NORM_ERR("//../x", STRICT);
}
END_TEST

START_TEST(refused)
{
	NORM_ERR("/admin%2Fx", STRICT);
	NORM_ERR("/admin%2fx", STRICT);
	NORM_EQ("/admin%2fx", STRICT | URI_ENCODED_SLASH, "/admin%2Fx");
	/* A kept %2F is no segment boundary for dot segments. */
	NORM_EQ("/a/..%2F..%2Fb", STRICT | URI_ENCODED_SLASH, "/a/..%2F..%2Fb");
	NORM_ERR("/admin%00/", STRICT);
	NORM_EQ("/admin%00/", STRICT | URI_ENCODED_NUL, "/admin%00/");
	NORM_ERR("/a\\b", STRICT);
	NORM_ERR("/..\\admin", STRICT);
	NORM_EQ("/a\\b", STRICT | URI_BACKSLASH, "/a\\b");
	NORM_ERR("/%", STRICT);
	NORM_ERR("/%4", STRICT);
	NORM_ERR("/%4g", STRICT);
	NORM_ERR("/%%41", STRICT);
	NORM_ERR("admin", STRICT);
	NORM_ERR("", STRICT);
	NORM_ERR("/a/../..", STRICT);
}
END_TEST

static Suite *
uri_suite(void)
{
	Suite	*s = suite_create("uri");
	TCase	*tc;

	tc = tcase_create("normalize");
	tcase_add_test(tc, rfc_5_2_4);
	tcase_add_test(tc, rfc_5_4_normal);
	tcase_add_test(tc, rfc_5_4_abnormal);
	tcase_add_test(tc, rfc_6_2_2);
	tcase_add_test(tc, encoded_dots);
	tcase_add_test(tc, slashes);
	tcase_add_test(tc, refused);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner	*sr;
	int	 failed;

	sr = srunner_create(uri_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
