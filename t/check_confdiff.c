/*
 * check_confdiff.c: unit tests for the configuration comparison behind
 * the reload summary and `portico -t -d`.
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
#include "master/confdiff.h"

#define BASE \
	"[global]\n" \
	"workers = 2\n" \
	"[listener web]\n" \
	"listen = 127.0.0.1:8080\n" \
	"[upstream app]\n" \
	"server = 127.0.0.1:9000\n" \
	"server = 127.0.0.1:9001\n" \
	"[route main]\n" \
	"path = /\n" \
	"upstream = app\n"

static struct conf *
load(const char *text)
{
	char		 path[64], *errors = NULL;
	struct conf	*c;
	int		 fd;
	size_t		 len = strlen(text);

	snprintf(path, sizeof(path), "/tmp/check_confdiff.XXXXXX");
	fd = mkstemp(path);
	ck_assert_int_ne(fd, -1);
	ck_assert_int_eq(write(fd, text, len), (ssize_t)len);
	close(fd);
	c = conf_load(path, &errors);
	unlink(path);
	if (c == NULL)
		ck_abort_msg("config did not load: %s", errors);
	return c;
}

/* The changes from old to new text, joined by " | ". */
static char *
diff(const char *old, const char *new, size_t *n)
{
	struct conf	*o = load(old), *c = load(new);
	struct confdiff	 d;
	char		*s;

	ck_assert_int_eq(confdiff_run(o, c, 0, &d), 0);
	*n = d.n;
	s = confdiff_join(&d, " | ");
	ck_assert_ptr_nonnull(s);
	confdiff_free(&d);
	conf_free(o);
	conf_free(c);
	return s;
}

START_TEST(test_same)
{
	size_t	 n;
	char	*s = diff(BASE, BASE "\n; a comment only\n", &n);

	ck_assert_uint_eq(n, 0);
	ck_assert_str_eq(s, "no changes");
	free(s);
}
END_TEST

START_TEST(test_listeners)
{
	size_t	 n;
	char	*s;

	s = diff(BASE, BASE "[listener api]\nlisten = 127.0.0.1:8081\n"
	    "listen = [::1]:8081\n", &n);
	ck_assert_uint_eq(n, 1);
	ck_assert_str_eq(s, "listener api added (127.0.0.1:8081 [::1]:8081)");
	free(s);
	s = diff(BASE "[listener api]\nlisten = 127.0.0.1:8081\n", BASE, &n);
	ck_assert_str_eq(s, "listener api removed");
	free(s);
	s = diff(BASE, "[listener web]\nlisten = 127.0.0.1:8082\n"
	    "[upstream app]\nserver = 127.0.0.1:9000\nserver = 127.0.0.1:9001\n"
	    "[route main]\npath = /\nupstream = app\n[global]\nworkers = 2\n", &n);
	ck_assert_str_eq(s, "listener web: address 127.0.0.1:8080 removed | "
	    "listener web: address 127.0.0.1:8082 added");
	free(s);
}
END_TEST

START_TEST(test_routes)
{
	size_t	 n;
	char	*s;

	s = diff(BASE, BASE "[route api]\nhost = *.example.com\npath = /api\n"
	    "upstream = app\n", &n);
	ck_assert_str_eq(s, "route api added (*.example.com /api -> app)");
	free(s);
	s = diff(BASE "[route api]\npath = /api\nupstream = app\n", BASE, &n);
	ck_assert_str_eq(s, "route api removed");
	free(s);
	s = diff(BASE "[route api]\npath = /api\nupstream = app\n",
	    BASE "[route api]\npath = /v2\nhost = a.example\nupstream = app\n",
	    &n);
	ck_assert_str_eq(s, "route api: host, path changed");
	free(s);
}
END_TEST

START_TEST(test_upstreams)
{
	size_t	 n;
	char	*s;

	s = diff(BASE, "[global]\nworkers = 2\n[listener web]\n"
	    "listen = 127.0.0.1:8080\n[upstream app]\n"
	    "server = 127.0.0.1:9001 weight=3\nserver = 127.0.0.1:9002\n"
	    "balance = least_conn\n[route main]\npath = /\nupstream = app\n", &n);
	ck_assert_uint_eq(n, 4);
	ck_assert_str_eq(s, "upstream app: server 127.0.0.1:9000 removed | "
	    "upstream app: server 127.0.0.1:9001 weight 1 -> 3 | "
	    "upstream app: server 127.0.0.1:9002 added | "
	    "upstream app: settings changed");
	free(s);
	s = diff(BASE, BASE "[upstream new]\nserver = 127.0.0.1:9100\n"
	    "health_check = GET /h\n", &n);
	ck_assert_str_eq(s, "upstream new added (1 server)");
	free(s);
	s = diff(BASE "[upstream old]\nserver = 127.0.0.1:9100\n", BASE, &n);
	ck_assert_str_eq(s, "upstream old removed");
	free(s);
	s = diff(BASE "[upstream g]\nserver = 127.0.0.1:9100\n",
	    BASE "[upstream g]\nserver = 127.0.0.1:9100\nprotocol = h2\n", &n);
	ck_assert_uint_eq(n, 1);
	ck_assert_str_eq(s, "upstream g: protocol http1 -> h2");
	free(s);
}
END_TEST

START_TEST(test_cache_global)
{
	size_t	 n;
	char	*s;

	s = diff(BASE "[cache]\nsize = 64m\n", BASE "[cache]\nsize = 128m\n"
	    "max_object_size = 1m\n", &n);
	ck_assert_str_eq(s, "cache size 64m -> 128m | cache max_object_size "
	    "8m -> 1m");
	free(s);
	s = diff(BASE, "[global]\nworkers = 3\nlog_level = debug\n"
	    "[listener web]\nlisten = 127.0.0.1:8080\n[upstream app]\n"
	    "server = 127.0.0.1:9000\nserver = 127.0.0.1:9001\n[route main]\n"
	    "path = /\nupstream = app\n", &n);
	ck_assert_str_eq(s, "workers 2 -> 3 | log_level info -> debug");
	free(s);
}
END_TEST

START_TEST(test_certificate_files)
{
	size_t	 n;
	char	*s;

	/* Not loaded (no TLS contexts): compared by file name. */
	s = diff(BASE "[listener tls]\nlisten = 127.0.0.1:8443\n"
	    "tls_certificate = /etc/a.pem\ntls_key = /etc/a.key\n",
	    BASE "[listener tls]\nlisten = 127.0.0.1:8443\n"
	    "tls_certificate = /etc/b.pem\ntls_key = /etc/b.key\n", &n);
	ck_assert_str_eq(s, "listener tls: certificate /etc/a.pem removed | "
	    "listener tls: certificate /etc/b.pem added");
	free(s);
	s = diff(BASE "[listener tls]\nlisten = 127.0.0.1:8443\n",
	    BASE "[listener tls]\nlisten = 127.0.0.1:8443\n"
	    "tls_certificate = /etc/b.pem\ntls_key = /etc/b.key\n", &n);
	ck_assert_str_eq(s, "listener tls: TLS on");
	free(s);
}
END_TEST

static Suite *
confdiff_suite(void)
{
	Suite	*s = suite_create("confdiff");
	TCase	*tc = tcase_create("core");

	tcase_add_test(tc, test_same);
	tcase_add_test(tc, test_listeners);
	tcase_add_test(tc, test_routes);
	tcase_add_test(tc, test_upstreams);
	tcase_add_test(tc, test_cache_global);
	tcase_add_test(tc, test_certificate_files);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner	*sr;
	int	 failed;

	sr = srunner_create(confdiff_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
