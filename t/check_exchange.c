/*
 * check_exchange.c: the seam between a front end and the exchange
 * (worker/exchange.h), driven through a test front end with no socket
 * and no HTTP/1 of its own: its status starts ":status N\n", its head
 * ends "--tail (keep-alive|close)--\n", and it records what the exchange
 * hands it (send) and how the exchange ends (finish).  The exchange must
 * reach the client through that table alone: answers portico makes
 * itself (no route: 404 or 421; redirect = https: 301) arrive in the
 * test front end's syntax, whole, and the end says whether the
 * connection may carry another request.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <arpa/inet.h>
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/conf.h"
#include "common/http.h"
#include "common/shm.h"
#include "worker/exchange.h"
#include "worker/proxy.h"
#include "worker/proxy_int.h"
#include "worker/worker.h"

static const char cfg[] =
	"[listener web]\n"
	"listen = 127.0.0.1:8080\n"
	"[listener plain]\n"
	"listen = 127.0.0.1:8081\n"
	"redirect = https\n"
	"[upstream app]\n"
	"server = 127.0.0.1:9000\n"
	"[route app]\n"
	"listener = web\n"
	"host = app.test\n"
	"path = /app/\n"
	"upstream = app\n";

static struct conf		*cf;
static struct proxy_listener	 ls_web, ls_plain;
static struct shm_stats		*stats;

/* What the test front end saw. */
static char	 out[65536];
static size_t	 outlen;
static int	 finished, fin_keep, fin_unread;

static void
t_status_line(struct strbuf *b, int status, const char *reason, size_t rl)
{
	(void)reason;
	(void)rl;
	strbuf_fmt(b, ":status %d\n", status);
}

static void
t_head_tail(struct strbuf *b, struct req *r, int64_t length)
{
	if (length >= 0)
		strbuf_fmt(b, "--length %lld--\n", (long long)length);
	strbuf_str(b, r->keep_alive ? "--tail keep-alive--\n" :
	    "--tail close--\n");
}

static int
t_chunk_frame(struct req *r, uint64_t n)
{
	r->ck_left = n;
	r->c_open = 1;
	if (n == 0)
		r->c_last = 1;
	return 0;
}

static int
t_body_next(struct client *c, size_t max, const char **p, size_t *n)
{
	(void)c;
	(void)max;
	*p = NULL;
	*n = 0;
	return 0;
}

static int
t_body_src_end(const struct client *c)
{
	(void)c;
	return 1;
}

static int
t_body_more(struct client *c, int keep_head)
{
	(void)c;
	(void)keep_head;
	return BODY_MORE_WAIT;
}

static void
t_nop(struct client *c)
{
	(void)c;
}

static int
t_want_body(struct client *c)
{
	(void)c;
	return 0;
}

/* Takes at most 7 bytes a call: the exchange must carry on piece by piece. */
static ssize_t
t_send(struct client *c, const struct iovec *iov, int niov)
{
	size_t	 n = 0, k;
	int	 i;

	for (i = 0; i < niov && n < 7; i++) {
		k = iov[i].iov_len < 7 - n ? iov[i].iov_len : 7 - n;
		ck_assert_uint_lt(outlen + k, sizeof(out));
		memcpy(out + outlen, iov[i].iov_base, k);
		outlen += k;
		n += k;
	}
	(void)c;
	return (ssize_t)n;
}

static enum step
t_finish(struct client *c, int keep_alive, int body_unread)
{
	ck_assert_ptr_null(c->r);	/* the exchange gave its block back */
	finished++;
	fin_keep = keep_alive;
	fin_unread = body_unread;
	client_close(c);
	return STEP_CLOSED;
}

static const struct front_ops test_ops = {
	.name = "test",
	.reader = 1,
	.body_next = t_body_next,
	.body_src_end = t_body_src_end,
	.body_more = t_body_more,
	.body_rest = t_nop,
	.body_rewind = t_nop,
	.want_body = t_want_body,
	.status_line = t_status_line,
	.head_tail = t_head_tail,
	.chunk_frame = t_chunk_frame,
	.send = t_send,
	.finish = t_finish,
};

static void
setup(void)
{
	char	 path[] = "/tmp/check_exchange.XXXXXX";
	char	*errors = NULL;
	size_t	 len = strlen(cfg), i;
	int	 fd;

	fd = mkstemp(path);
	ck_assert_int_ne(fd, -1);
	ck_assert_int_eq(write(fd, cfg, len), (ssize_t)len);
	close(fd);
	cf = conf_load(path, &errors);
	unlink(path);
	ck_assert_msg(cf != NULL, "config refused: %s", errors ? errors : "?");
	for (i = 0; i < cf->nlisteners; i++) {
		if (strcmp(cf->listeners[i].name, "web") == 0)
			ls_web.conf = &cf->listeners[i];
		else
			ls_plain.conf = &cf->listeners[i];
	}
	ck_assert_ptr_nonnull(stats = calloc(1, sizeof(*stats)));
	worker.stats = stats;
	ck_assert_int_eq(proxy_init(cf), 0);
	outlen = 0;
	finished = fin_keep = fin_unread = 0;
}

static void
teardown(void)
{
	proxy_fini();
	worker.stats = NULL;
	free(stats);
	conf_free(cf);
	cf = NULL;
}

/*
 * One exchange through the test front end: the head parsed into the
 * exchange's block as a front end does, exchange_begin, then the
 * connection's loop until the front end's finish.
 */
static void
run(struct proxy_listener *ls, const char *head)
{
	struct client	*c;
	struct req	*r;
	size_t		 n = strlen(head);

	ck_assert_ptr_nonnull(c = calloc(1, sizeof(*c)));
	c->io.fd = -1;
	c->ls = ls;
	c->wr_ready = c->rd_ready = 1;
	c->timer.idx = -1;
	c->peer_af = AF_INET;
	ck_assert_int_eq(inet_pton(AF_INET, "192.0.2.7", c->peer_addr), 1);
	ck_assert_ptr_nonnull(c->in = buf_get());
	memcpy(c->in, head, n);
	c->in_end = n;
	clients = c;
	nclients = 1;
	ck_assert_ptr_nonnull(r = c->r = req_get());
	nbusy++;
	r->fe = &test_ops;
	ck_assert_int_eq(http_parse_request(c->in, n, &req_limits, &r->rq,
	    r->fields), HTTP_PARSE_OK);
	c->in_pos = r->head_len = r->rq.head_len;
	r->body_start = r->rq.head_len;
	r->req_done = 1;
	r->replayable = 1;
	c->state = CS_HEAD;
	if (exchange_begin(c) != STEP_CLOSED)
		client_run(c);
	out[outlen] = '\0';
	ck_assert_int_eq(finished, 1);
	proxy_recycle();
	while (free_clients != NULL) {
		c = free_clients;
		free_clients = c->next;
		free(c);
	}
}

/* The head's end: what the test front end wrote after the fields. */
static const char *
body_of(void)
{
	const char	*p = strstr(out, "--tail ");

	ck_assert_ptr_nonnull(p);
	return strchr(p, '\n') + 1;
}

START_TEST(no_route_404)
{
	run(&ls_web, "GET /nothing HTTP/1.1\r\nHost: app.test\r\n\r\n");
	ck_assert_msg(strncmp(out, ":status 404\nServer: portico\r\n",
	    strlen(":status 404\nServer: portico\r\n")) == 0, "got: %s", out);
	ck_assert_ptr_null(strstr(out, "HTTP/1"));
	ck_assert_ptr_nonnull(strstr(out, "Content-Type: text/html\r\n"));
	ck_assert_ptr_nonnull(strstr(out, "--tail keep-alive--\n"));
	ck_assert_ptr_nonnull(strstr(body_of(), "<h1>404 Not Found</h1>"));
	ck_assert_int_eq(fin_keep, 1);
	ck_assert_int_eq(fin_unread, 0);
	ck_assert_uint_eq(stats->requests, 1);
}
END_TEST

START_TEST(unknown_host_421_close)
{
	run(&ls_web, "GET / HTTP/1.1\r\nHost: other.test\r\n"
	    "Connection: close\r\n\r\n");
	ck_assert_msg(strncmp(out, ":status 421\n", 12) == 0, "got: %s", out);
	ck_assert_ptr_nonnull(strstr(out, "--tail close--\n"));
	ck_assert_int_eq(fin_keep, 0);
}
END_TEST

START_TEST(head_has_no_body)
{
	run(&ls_web, "HEAD /nothing HTTP/1.1\r\nHost: app.test\r\n\r\n");
	ck_assert_msg(strncmp(out, ":status 404\n", 12) == 0, "got: %s", out);
	ck_assert_str_eq(body_of(), "");
	ck_assert_int_eq(fin_keep, 1);
}
END_TEST

START_TEST(redirect_https_301)
{
	run(&ls_plain, "GET /a/b?x=1 HTTP/1.1\r\nHost: app.test\r\n\r\n");
	ck_assert_msg(strncmp(out, ":status 301\n", 12) == 0, "got: %s", out);
	ck_assert_ptr_nonnull(strstr(out,
	    "Location: https://app.test/a/b?x=1\r\n"));
	ck_assert_ptr_nonnull(strstr(body_of(), "301 Moved Permanently"));
	ck_assert_int_eq(fin_keep, 1);
}
END_TEST

static Suite *
exchange_suite(void)
{
	Suite	*s = suite_create("exchange");
	TCase	*tc = tcase_create("front_ops");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, no_route_404);
	tcase_add_test(tc, unknown_host_421_close);
	tcase_add_test(tc, head_has_no_body);
	tcase_add_test(tc, redirect_https_301);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner	*sr = srunner_create(exchange_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
