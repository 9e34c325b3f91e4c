/*
 * check_htpasswd.c: unit tests for basic authentication's user files
 * (common/htpasswd.c): the hashes taken (bcrypt, SHA-crypt, yescrypt,
 * scrypt), comments, blank lines and CRLF, lookups, and the lines refused
 * with their number: weak or unknown hashes, plain text, malformed
 * lines, a user named twice; then a file through htpasswd_load, whose
 * hashes libcrypt checks.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/htpasswd.h"

#define BCRYPT	"$2y$05$abcdefghijklmnopqrstuuhBFXJDV6yx5nTCwFTS8uPt0axQ4dFla"
#define SHA256C	"$5$saltsalt$7ZGWkmUoUVzqZ5kmo8BWDCBQyOt9XhvsyWd9nBiCp.B"
#define SHA512C	"$6$rounds=5000$saltsalt$" \
	"kZtQNM.1s5aLhmnsm4vMr0KDzhqOl1FBnxyCCHQMcZe0T1thHJZVaRTw/CqqaU7" \
	"F47R5NaTwfL5YWlXaWZu2A/"
#define YESCRYPT "$y$j9T$3zPz7zEXGrlFIybYZ3Z8m1$874w/kdvbl4dIPUd2NPx.4P5qRkBrl.0B8DpFWi22aD"

static struct htpasswd	 h;
static int		 line;
static const char	*why;
static char		 text[4096];

/* Parse s (copied: the parser cuts it up); h is freed by the next call. */
static int
parse(const char *s)
{
	size_t	 n = strlen(s);

	htpasswd_clear(&h);
	ck_assert_uint_lt(n, sizeof(text));
	memcpy(text, s, n + 1);
	why = NULL;
	return htpasswd_parse(text, n, &h, &line, &why);
}

START_TEST(taken)
{
	ck_assert_int_eq(parse("# users\r\n\r\nalice:" BCRYPT "\r\n"
	    "bob:" SHA256C ":a comment\n  \ncarol:" SHA512C "\n"
	    "dave:" YESCRYPT), 0);
	ck_assert_uint_eq(h.nusers, 4);
	ck_assert_str_eq(htpasswd_find(&h, "alice", 5), BCRYPT);
	ck_assert_str_eq(htpasswd_find(&h, "bob", 3), SHA256C);
	ck_assert_str_eq(htpasswd_find(&h, "carol", 5), SHA512C);
	ck_assert_str_eq(htpasswd_find(&h, "dave", 4), YESCRYPT);
	ck_assert_ptr_null(htpasswd_find(&h, "alic", 4));
	ck_assert_ptr_null(htpasswd_find(&h, "alicee", 6));
	ck_assert_ptr_null(htpasswd_find(&h, "eve", 3));
	ck_assert_ptr_null(htpasswd_find(&h, "", 0));
	ck_assert_int_eq(parse("a:$2b$04$abcdefghijklmnopqrstuuhBFXJDV6yx5nTCwFTS8uPt0axQ4dFla\n"
	    "b:$gy$j9T$salt$874w/kdvbl4dIPUd2NPx.4P5qRkBrl.0B8DpFWi22aD\n"
	    "c:$7$CU..../....abcdefgh$874w/kdvbl4dIPUd2NPx.4P5qRkBrl.0B8DpFWi22aD\n"), 0);
	ck_assert_uint_eq(h.nusers, 3);
}
END_TEST

/* Each refused line is named by its number, with a reason. */
static void
refused(const char *s, int want_line, const char *want)
{
	ck_assert_int_eq(parse(s), -1);
	ck_assert_int_eq(line, want_line);
	ck_assert_ptr_nonnull(why);
	ck_assert_msg(strstr(why, want) != NULL, "'%s' lacks '%s'", why, want);
}

START_TEST(refused_lines)
{
	refused("alice:" BCRYPT "\nbob:$apr1$abcdefgh$IQtUouv7y7Q9dRWkQEPCc.\n",
	    2, "$apr1$");
	refused("bob:$1$abcdefgh$IQtUouv7y7Q9dRWkQEPCc.\n", 1, "MD5-crypt");
	refused("bob:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=\n", 1, "SHA-1");
	refused("#\n\nbob:abzlUXK5ed5rs\n", 3, "DES");
	refused("bob:secret\n", 1, "plain text");
	refused("bob\n", 1, "user:hash");
	refused(":" BCRYPT "\n", 1, "empty user");
	refused("b\001b:" BCRYPT "\n", 1, "control");
	refused("bob:$2y$05$short\n", 1, "malformed bcrypt");
	refused("bob:$2y$03$abcdefghijklmnopqrstuuhBFXJDV6yx5nTCwFTS8uPt0axQ4dFla\n",
	    1, "malformed bcrypt");
	refused("bob:$5$salt$short\n", 1, "malformed SHA-crypt");
	refused("bob:$5$rounds=$salt$7ZGWkmUoUVzqZ5kmo8BWDCBQyOt9XhvsyWd9nBiCp.B\n",
	    1, "malformed SHA-crypt");
	refused("bob:$6$saltsalt$7ZGWkmUoUVzqZ5kmo8BWDCBQyOt9XhvsyWd9nBiCp.B\n",
	    1, "malformed SHA-crypt");
	refused("bob:$y$j9T$874w/kdvbl4dIPUd2NPx.4P5qRkBrl.0B8DpFWi22aD\n", 1,
	    "malformed yescrypt");
	refused("bob:$y$j9T$$874w/kdvbl4dIPUd2NPx.4P5qRkBrl.0B8DpFWi22aD\n", 1,
	    "malformed yescrypt");
	refused("bob:" BCRYPT "\nal:" SHA256C "\nbob:" SHA256C "\n", 3,
	    "twice");
	refused("# nobody\n\n", 0, "no user");
	refused("", 0, "no user");
}
END_TEST

START_TEST(nul_byte)
{
	char	 b[] = "bob:" BCRYPT "\n\0x";

	htpasswd_clear(&h);
	ck_assert_int_eq(htpasswd_parse(b, sizeof(b) - 1, &h, &line, &why), -1);
	ck_assert_ptr_nonnull(strstr(why, "NUL"));
}
END_TEST

START_TEST(load)
{
	char		 path[] = "/tmp/check_htpasswd.XXXXXX", err[256];
	struct htpasswd	*lh;
	FILE		*fp;
	int		 fd;

	ck_assert_int_ne(fd = mkstemp(path), -1);
	ck_assert_ptr_nonnull(fp = fdopen(fd, "w"));
	fprintf(fp, "alice:%s\nbob:%s\n", BCRYPT, YESCRYPT);
	fclose(fp);
	ck_assert_ptr_nonnull(lh = htpasswd_load(path, &line, err, sizeof(err)));
	ck_assert_uint_eq(lh->nusers, 2);
	ck_assert_str_eq(htpasswd_find(lh, "bob", 3), YESCRYPT);
	htpasswd_free(lh);
	ck_assert_ptr_nonnull(fp = fopen(path, "w"));
	fprintf(fp, "alice:%s\nbob:plain\n", BCRYPT);
	fclose(fp);
	ck_assert_ptr_null(htpasswd_load(path, &line, err, sizeof(err)));
	ck_assert_int_eq(line, 2);
	unlink(path);
	ck_assert_ptr_null(htpasswd_load(path, &line, err, sizeof(err)));
	ck_assert_int_eq(line, 0);
	ck_assert_ptr_nonnull(strstr(err, "cannot open"));
	ck_assert_ptr_null(htpasswd_load("/tmp", &line, err, sizeof(err)));
	ck_assert_ptr_nonnull(strstr(err, "regular file"));
}
END_TEST

static Suite *
htpasswd_suite(void)
{
	Suite	*s = suite_create("htpasswd");
	TCase	*tc;

	tc = tcase_create("parse");
	tcase_add_test(tc, taken);
	tcase_add_test(tc, refused_lines);
	tcase_add_test(tc, nul_byte);
	tcase_add_test(tc, load);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner	*sr;
	int	 failed;

	sr = srunner_create(htpasswd_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	htpasswd_clear(&h);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
