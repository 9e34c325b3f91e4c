/*
 * check_alog.c: unit tests for access_log lines in every section,
 * log_format and their reload diff (common/conf_alog.c).
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
#include "t/confload.h"

#define LISTENER \
	"[upstream app]\n" \
	"server = 127.0.0.1:9000\n" \
	"[listener web]\n" \
	"listen = 127.0.0.1:8080\n"


START_TEST(test_alog_lines)
{
	struct conf		*c;
	const struct conf_alogset *s;

	c = load_ok("[global]\n"
	    "log_format = main escape=json {\"s\":$status,\"u\":\"$request_uri\"}\n"
	    "log_format = short $status\n"
	    "access_log = /var/log/p/all.log\n"
	    "access_log = syslog:server=127.0.0.1:5514,tag=px combined\n"
	    LISTENER
	    "access_log = /var/log/p/web.log main\n"
	    "[route a]\nupstream = app\npath = /a\n"
	    "access_log = /var/log/p/a.log short\n"
	    "access_log = /var/log/p/all.log\n"
	    "[route b]\nupstream = app\npath = /b\naccess_log = off\n"
	    "[route c]\nupstream = app\n");
	s = &c->g.alogs;
	ck_assert_int_eq(s->set, 1);
	ck_assert_uint_eq(s->n, 2);
	ck_assert_int_eq(s->dst[0].fmt, -1);
	/* The same file from two sections: one target. */
	ck_assert_uint_eq(c->g.nalog_targets, 4);
	ck_assert_str_eq(c->g.alog_targets[0].path, "/var/log/p/all.log");
	ck_assert_uint_ne(c->g.alog_targets[1].syslog_addr.len, 0);
	ck_assert_str_eq(c->g.alog_targets[1].syslog_tag, "px");
	ck_assert_int_eq(c->g.alog_targets[1].syslog_facility, 23);
	ck_assert_int_eq(s->dst[1].target, 1);
	ck_assert_int_ge(s->dst[1].fmt, 0);
	ck_assert_str_eq(c->g.logfmts[s->dst[1].fmt].name, "combined");
	s = &c->listeners[0].alogs;
	ck_assert_uint_eq(s->n, 1);
	ck_assert_str_eq(c->g.logfmts[s->dst[0].fmt].name, "main");
	ck_assert_int_eq(c->g.logfmts[s->dst[0].fmt].f.json, 1);
	ck_assert_int_eq(c->g.logfmts[s->dst[0].fmt].f.kind, ALOG_FMT);
	s = &c->routes[0].alogs;
	ck_assert_uint_eq(s->n, 2);
	ck_assert_str_eq(c->g.logfmts[s->dst[0].fmt].name, "short");
	ck_assert_int_eq(c->g.logfmts[s->dst[0].fmt].f.json, 0);
	ck_assert_int_eq(s->dst[1].target, 0);
	ck_assert_int_eq(c->routes[1].alogs.off, 1);
	ck_assert_uint_eq(c->routes[1].alogs.n, 0);
	ck_assert_int_eq(c->routes[2].alogs.set, 0);
	conf_free(c);

	/* The built-in portico format named. */
	c = load_ok("[global]\naccess_log = /tmp/x.log portico\n" LISTENER
	    "[route r]\nupstream = app\n");
	ck_assert_int_eq(c->g.logfmts[c->g.alogs.dst[0].fmt].f.kind,
	    ALOG_PORTICO);
	conf_free(c);
}
END_TEST

START_TEST(test_alog_errors)
{
	char	 text[4096];
	size_t	 off;
	int	 i;

	expect_only_error("[global]\naccess_log = logs/a.log\n" LISTENER
	    "[route r]\nupstream = app\n", 2,
	    "access_log 'logs/a.log' must be an absolute path");
	expect_only_error("[global]\n" LISTENER
	    "[route r]\nupstream = app\naccess_log = a.log\n", 8,
	    "must be an absolute path");
	expect_only_error("[global]\n" LISTENER "access_log = /tmp/a nosuch\n"
	    "[route r]\nupstream = app\n", 6,
	    "access_log: unknown log_format 'nosuch'");
	expect_only_error("[global]\naccess_log = /tmp/a x y\n" LISTENER
	    "[route r]\nupstream = app\n", 2, "bad access_log '/tmp/a x y'");
	expect_only_error("[global]\n" LISTENER "[route r]\nupstream = app\n"
	    "access_log = /tmp/a\naccess_log = off\n", 9,
	    "access_log = off with other access_log lines");
	expect_only_error("[global]\naccess_log = syslog:server=\n" LISTENER
	    "[route r]\nupstream = app\n", 2, "bad syslog server");
	expect_only_error("[global]\nlog_format = json $status\n" LISTENER
	    "[route r]\nupstream = app\n", 2, "a built-in format's name");
	expect_only_error("[global]\nlog_format = a $status\n"
	    "log_format = a $status\n" LISTENER
	    "[route r]\nupstream = app\n", 3, "log_format a: defined twice");
	expect_only_error("[global]\nlog_format = a escape=xml $status\n"
	    LISTENER "[route r]\nupstream = app\n", 2,
	    "escape must be json or default");
	expect_only_error("[global]\nlog_format = a\n" LISTENER
	    "[route r]\nupstream = app\n", 2, "bad log_format 'a'");
	expect_only_error("[global]\nlog_format = a $nosuchvar\n" LISTENER
	    "[route r]\nupstream = app\n", 2, "access_log_format");

	/* At most CONF_ALOG_MAX lines a section. */
	off = (size_t)snprintf(text, sizeof(text), "[global]\n");
	for (i = 0; i <= CONF_ALOG_MAX; i++)
		off += (size_t)snprintf(text + off, sizeof(text) - off,
		    "access_log = /tmp/a%d.log\n", i);
	snprintf(text + off, sizeof(text) - off, "%s[route r]\nupstream = app\n",
	    LISTENER);
	expect_only_error(text, CONF_ALOG_MAX + 2, "too many access_log lines");
}
END_TEST

START_TEST(test_alog_diff)
{
	struct conf	*a, *b, *c;
	char		 buf[256];

	a = load_ok("[global]\nlog_format = f $status\naccess_log = /tmp/a.log\n"
	    LISTENER "[route r]\nupstream = app\naccess_log = /tmp/r.log f\n");
	b = load_ok("[global]\nlog_format = f $status\naccess_log = /tmp/a.log\n"
	    LISTENER "[route r]\nupstream = app\naccess_log = /tmp/r.log f\n");
	c = load_ok("[global]\nlog_format = f $request\n"
	    "access_log = /tmp/a.log\naccess_log = /tmp/b.log\n"
	    LISTENER "[route r]\nupstream = app\naccess_log = /tmp/r.log\n");
	ck_assert_int_eq(conf_alogset_differ(&a->g.alogs, &b->g.alogs), 0);
	ck_assert_int_eq(conf_alogset_differ(&a->routes[0].alogs,
	    &b->routes[0].alogs), 0);
	ck_assert_int_eq(conf_logfmts_differ(&a->g, &b->g), 0);
	ck_assert_int_eq(conf_alogset_differ(&a->g.alogs, &c->g.alogs), 1);
	ck_assert_int_eq(conf_alogset_differ(&a->routes[0].alogs,
	    &c->routes[0].alogs), 1);
	ck_assert_int_eq(conf_logfmts_differ(&a->g, &c->g), 1);
	conf_alogset_text(&c->g.alogs, buf, sizeof(buf));
	ck_assert_str_eq(buf, "/tmp/a.log; /tmp/b.log");
	conf_alogset_text(&a->listeners[0].alogs, buf, sizeof(buf));
	ck_assert_str_eq(buf, "off");
	conf_free(a);
	conf_free(b);
	conf_free(c);
}
END_TEST

static Suite *
alog_suite(void)
{
	Suite	*s;
	TCase	*tc;

	s = suite_create("alog");
	tc = tcase_create("alog");
	tcase_add_test(tc, test_alog_lines);
	tcase_add_test(tc, test_alog_errors);
	tcase_add_test(tc, test_alog_diff);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner	*sr;
	int	 failed;

	sr = srunner_create(alog_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
