/*
 * check_retry.c: unit tests for the retry policy (worker/upstream.c):
 * which upstream statuses retry_on can name (retry_status_bit), which
 * methods may be sent twice (retry_idempotent), and whether a failed
 * attempt may go to another server (retry_allowed): the kind of failure
 * listed in the upstream's retry_on, the request still whole in the
 * buffers, idempotent unless nothing of it reached the server, attempts
 * left under retries, time left under retry_timeout.  Upstreams come
 * from configurations loaded as the daemon loads them.
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
#include "worker/event.h"
#include "common/http.h"
#include "worker/proxy_int.h"

static struct conf		*cf;
static struct upstream_rt	 ups;
static struct req		*r;

/* Load a config with one upstream, whose keys are given. */
static void
load_upstream(const char *keys)
{
	char	 path[] = "/tmp/check_retry.XXXXXX";
	char	 text[1024];
	char	*errors = NULL;
	int	 fd, len;

	len = snprintf(text, sizeof(text), "[listener web]\n"
	    "listen = 127.0.0.1:8080\n[upstream app]\n"
	    "server = 127.0.0.1:9000\nserver = 127.0.0.1:9001\n%s"
	    "[route main]\nupstream = app\n", keys);
	ck_assert_int_lt(len, (int)sizeof(text));
	fd = mkstemp(path);
	ck_assert_int_ne(fd, -1);
	ck_assert_int_eq(write(fd, text, len), len);
	close(fd);
	if (cf != NULL)
		conf_free(cf);
	cf = conf_load(path, &errors);
	unlink(path);
	ck_assert_msg(cf != NULL, "config refused: %s", errors ? errors : "?");
	ck_assert_int_eq(cf->nupstreams, 1);
	memset(&ups, 0, sizeof(ups));
	ups.conf = &cf->upstreams[0];
}

/* A fresh GET, begun now, on the loaded upstream. */
static void
setup(void)
{
	cf = NULL;
	load_upstream("");
	r = calloc(1, sizeof(*r));
	ck_assert_ptr_nonnull(r);
	r->upstream = &ups;
	r->method = HTTP_M_GET;
	r->replayable = 1;
	ev_now = 1000000;
	r->t_start = ev_now;
}

static void
teardown(void)
{
	free(r);
	conf_free(cf);
	cf = NULL;
}

START_TEST(status_bits)
{
	ck_assert_uint_eq(retry_status_bit(500), RETRY_500);
	ck_assert_uint_eq(retry_status_bit(502), RETRY_502);
	ck_assert_uint_eq(retry_status_bit(503), RETRY_503);
	ck_assert_uint_eq(retry_status_bit(504), RETRY_504);
	/* Nothing else is ever retried on, whatever retry_on says. */
	ck_assert_uint_eq(retry_status_bit(501), 0);
	ck_assert_uint_eq(retry_status_bit(505), 0);
	ck_assert_uint_eq(retry_status_bit(404), 0);
	ck_assert_uint_eq(retry_status_bit(200), 0);
	ck_assert_uint_eq(retry_status_bit(0), 0);
	/* Distinct from the failure kinds. */
	ck_assert_uint_eq(retry_status_bit(502) & (RETRY_ERROR | RETRY_TIMEOUT), 0);
}
END_TEST

START_TEST(methods)
{
	ck_assert_int_eq(retry_idempotent(HTTP_M_GET), 1);
	ck_assert_int_eq(retry_idempotent(HTTP_M_HEAD), 1);
	ck_assert_int_eq(retry_idempotent(HTTP_M_PUT), 1);
	ck_assert_int_eq(retry_idempotent(HTTP_M_DELETE), 1);
	ck_assert_int_eq(retry_idempotent(HTTP_M_OPTIONS), 1);
	ck_assert_int_eq(retry_idempotent(HTTP_M_TRACE), 1);
	ck_assert_int_eq(retry_idempotent(HTTP_M_POST), 0);
	ck_assert_int_eq(retry_idempotent(HTTP_M_PATCH), 0);
	ck_assert_int_eq(retry_idempotent(HTTP_M_CONNECT), 0);
	/* A method portico does not know might not be safe to repeat. */
	ck_assert_int_eq(retry_idempotent(HTTP_M_OTHER), 0);
}
END_TEST

/* The defaults: retry_on = error timeout, each server once, no time limit. */
START_TEST(defaults)
{
	ck_assert_int_eq(retry_allowed(r, RETRY_ERROR, 0), 1);
	ck_assert_int_eq(retry_allowed(r, RETRY_TIMEOUT, 0), 1);
	ck_assert_int_eq(retry_allowed(r, RETRY_502, 0), 0);
	ck_assert_int_eq(retry_allowed(r, RETRY_503, 0), 0);
	r->retried = 50;
	ck_assert_int_eq(retry_allowed(r, RETRY_ERROR, 0), 1);
	ev_now += 3600 * 1000;
	ck_assert_int_eq(retry_allowed(r, RETRY_TIMEOUT, 0), 1);
}
END_TEST

START_TEST(nothing_sent)
{
	/* A POST that may have reached the server is not sent again ... */
	r->method = HTTP_M_POST;
	ck_assert_int_eq(retry_allowed(r, RETRY_ERROR, 0), 0);
	ck_assert_int_eq(retry_allowed(r, RETRY_TIMEOUT, 0), 0);
	/* ... one that cannot have (the connection never came up) is. */
	ck_assert_int_eq(retry_allowed(r, RETRY_ERROR, 1), 1);
	ck_assert_int_eq(retry_allowed(r, RETRY_TIMEOUT, 1), 1);
	r->method = HTTP_M_OTHER;
	ck_assert_int_eq(retry_allowed(r, RETRY_ERROR, 0), 0);
	ck_assert_int_eq(retry_allowed(r, RETRY_ERROR, 1), 1);
	/* Still only for the kinds retry_on lists. */
	ck_assert_int_eq(retry_allowed(r, RETRY_502, 1), 0);
}
END_TEST

START_TEST(not_replayable)
{
	/* Body bytes that were overwritten cannot be sent again. */
	r->replayable = 0;
	ck_assert_int_eq(retry_allowed(r, RETRY_ERROR, 0), 0);
	ck_assert_int_eq(retry_allowed(r, RETRY_ERROR, 1), 0);
	ck_assert_int_eq(retry_allowed(r, RETRY_TIMEOUT, 1), 0);
}
END_TEST

START_TEST(retry_on_statuses)
{
	load_upstream("retry_on = 502 503\n");
	ck_assert_int_eq(retry_allowed(r, RETRY_502, 0), 1);
	ck_assert_int_eq(retry_allowed(r, RETRY_503, 0), 1);
	ck_assert_int_eq(retry_allowed(r, RETRY_500, 0), 0);
	ck_assert_int_eq(retry_allowed(r, RETRY_504, 0), 0);
	/* Not listed any more: errors and timeouts are not retried. */
	ck_assert_int_eq(retry_allowed(r, RETRY_ERROR, 1), 0);
	ck_assert_int_eq(retry_allowed(r, RETRY_TIMEOUT, 0), 0);
	/* A 502 to a POST: it reached the server. */
	r->method = HTTP_M_POST;
	ck_assert_int_eq(retry_allowed(r, RETRY_502, 0), 0);
	r->method = HTTP_M_PUT;
	ck_assert_int_eq(retry_allowed(r, RETRY_502, 0), 1);
}
END_TEST

START_TEST(retries_count)
{
	load_upstream("retries = 2\nretry_on = error 500\n");
	ck_assert_int_eq(retry_allowed(r, RETRY_ERROR, 0), 1);
	r->retried = 1;
	ck_assert_int_eq(retry_allowed(r, RETRY_500, 0), 1);
	r->retried = 2;
	ck_assert_int_eq(retry_allowed(r, RETRY_ERROR, 0), 0);
	ck_assert_int_eq(retry_allowed(r, RETRY_500, 1), 0);
	load_upstream("retries = 0\n");
	r->retried = 0;
	ck_assert_int_eq(retry_allowed(r, RETRY_ERROR, 1), 0);
}
END_TEST

START_TEST(retry_timeout)
{
	load_upstream("retry_timeout = 2s\n");
	ev_now = r->t_start + 1999;
	ck_assert_int_eq(retry_allowed(r, RETRY_ERROR, 0), 1);
	ev_now = r->t_start + 2000;
	ck_assert_int_eq(retry_allowed(r, RETRY_ERROR, 0), 0);
	ck_assert_int_eq(retry_allowed(r, RETRY_TIMEOUT, 1), 0);
}
END_TEST

static Suite *
retry_suite(void)
{
	Suite	*s = suite_create("retry");
	TCase	*tc = tcase_create("policy");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, status_bits);
	tcase_add_test(tc, methods);
	tcase_add_test(tc, defaults);
	tcase_add_test(tc, nothing_sent);
	tcase_add_test(tc, not_replayable);
	tcase_add_test(tc, retry_on_statuses);
	tcase_add_test(tc, retries_count);
	tcase_add_test(tc, retry_timeout);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner	*sr;
	int	 failed;

	sr = srunner_create(retry_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
