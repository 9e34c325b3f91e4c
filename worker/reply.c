/*
 * reply.c: every answer portico makes itself (errors, redirects, the
 * status page's bytes), handed to the exchange's front end (r->fe); a
 * local answer that must end the connection asks the front end for a
 * lingering close (exchange_end).
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/epoll.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "common/cache.h"
#include "common/log.h"
#include "common/net.h"
#include "common/shm.h"
#include "worker/balance.h"
#include "worker/bodybuf.h"
#include "worker/cachepol.h"
#include "worker/event.h"
#include "common/http.h"
#include "worker/proxy.h"
#include "worker/proxy_int.h"
#include "worker/tls.h"
#include "worker/uri.h"
#include "worker/varsrc.h"
#include "worker/worker.h"

/* Cached Date value, refreshed once a second. */
const char *
http_date(void)
{
	static char	 date[40];
	static time_t	 last;
	struct tm	 tm;

	if (ev_wall != last) {
		last = ev_wall;
		gmtime_r(&last, &tm);
		strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
	}
	return date;
}

/*
 * Answer with portico's own page.  It names the status only: never an
 * upstream address or anything the client sent.  close: close the
 * connection afterwards.
 */
enum step
local_answer(struct client *c, int status, int close_after)
{
	struct req	*r = c->r;
	struct strbuf	 b;
	char		 body[256];
	int		 blen;
	const char	*reason = http_status_reason(status);
	const struct conf_errpage *pg;

	if (r == NULL) {
		if ((r = c->r = req_get()) == NULL) {
			client_close(c);
			return STEP_CLOSED;
		}
		r->t_start = ev_now;
		r->wall_start = ev_wall;
		r->method = HTTP_M_GET;
		r->version = 11;
		nbusy++;
	}
	if (r->hb == NULL && (r->hb = buf_get()) == NULL) {
		client_close(c);
		return STEP_CLOSED;
	}
	if (r->resp_head) {
		/* The client already has part of a response: cut it short. */
		client_close(c);
		return STEP_CLOSED;
	}
	if (client_out_pending(c)) {
		/*
		 * A record of what was being written (a 1xx) waits inside
		 * OpenSSL and goes out first, whatever comes next: another
		 * answer after it would reach the client torn.
		 */
		client_abort(c);
		return STEP_CLOSED;
	}
	if (r->c_stale && (status == 500 || (status >= 502 && status <= 504)) &&
	    cache_stale_ok(c) && cache_serve_stale(c, status) == STEP_ANSWERED)
		return STEP_ANSWERED;	/* stale-if-error */
	if (r->parsed && grpc_request(r)) {
		enum step	 st = grpc_answer(c, status, close_after);

		if (st != STEP_NEXT)
			return st;	/* gRPC's status fields (grpc.c) */
	}
	if (close_after)
		r->keep_alive = 0;
	r->status = status;
	blen = snprintf(body, sizeof(body),
	    "<html>\r\n<head><title>%d %s</title></head>\r\n"
	    "<body>\r\n<h1>%d %s</h1>\r\n<hr><p>portico</p>\r\n</body>\r\n</html>\r\n",
	    status, reason, status, reason);
	strbuf_init(&b, r->hb, bufsize);
	head_start_local(&b, r, status);
	/* The operator's page (error_page), sent from where it is kept. */
	if ((pg = conf_errpage_find(conf, r->route, status)) != NULL) {
		if (!r->xbody_ref)
			free(r->xbody);
		r->xbody = pg->body;
		r->xbody_ref = 1;
		r->xbody_len = r->method == HTTP_M_HEAD ? 0 : pg->len;
		r->xbody_pos = 0;
		blen = (int)pg->len;
		body[0] = '\0';
	}
	strbuf_str(&b, "Content-Type: ");
	strbuf_str(&b, pg != NULL ? pg->type : "text/html");
	strbuf_str(&b, "\r\n");
	if (r->retry_after > 0)		/* a rate limit's (worker/limits.c) */
		strbuf_fmt(&b, "Retry-After: %u\r\n", r->retry_after);
	else if (status == 503)
		strbuf_str(&b, "Retry-After: 5\r\n");
	if (status == 401 && r->route != NULL && r->route->auth_realm != NULL)
		strbuf_fmt(&b, "WWW-Authenticate: Basic realm=\"%s\"\r\n",
		    r->route->auth_realm);
	r->fe->head_tail(&b, r, blen);
	resp_rules_apply(c, &b, 1);	/* the "always" header rules */
	r->local_close = !r->keep_alive;
	if (r->method != HTTP_M_HEAD)
		strbuf_str(&b, body);
	if (b.over) {
		/* Cannot be: a buffer holds far more than a page. */
		client_close(c);
		return STEP_CLOSED;
	}
	r->hb_pos = 0;
	r->hb_end = b.len;
	r->body_bytes = r->method == HTTP_M_HEAD ? 0 : (uint64_t)blen;
	r->resp_head = 1;
	req_drop_up(r);
	c->state = CS_LOCAL;
	return STEP_ANSWERED;
}

/* Write the local answer; then keep-alive or close. */
enum step
step_local(struct client *c)
{
	struct req	*r = c->r;
	ssize_t		 n;

	size_t		 hl;

	while (r->hb_pos < r->hb_end || r->xbody_pos < r->xbody_len) {
		if (!c->wr_ready) {
			c->wait = W_CL_WRITE;
			return STEP_WAIT;
		}
		hl = r->hb_end - r->hb_pos;
		n = fe_send2(c, r->hb + r->hb_pos, hl, r->xbody + r->xbody_pos,
		    r->xbody_len - r->xbody_pos);
		if (n == -1)
			return STEP_CLOSED;
		if ((size_t)n <= hl) {
			r->hb_pos += n;
			continue;
		}
		r->hb_pos = r->hb_end;
		r->xbody_pos += n - hl;
	}
	if (r->local_close)
		/* Let the page reach the client before the close. */
		return exchange_end(c, 0, 1);
	return request_finish(c);
}

/* redirect = https: send the client to the same host and target on https. */
enum step
redirect_answer(struct client *c, const struct http_request *rq)
{
	struct req	*r = c->r;
	char		 host[260], port[16];
	const char	*t = rq->target;
	size_t		 hl = 0, tl = rq->target_len, ql = 0;
	const char	*q = NULL;
	struct strbuf	 b;
	static const char body[] = "<html>\r\n<head><title>301 Moved "
	    "Permanently</title></head>\r\n<body>\r\n<h1>301 Moved "
	    "Permanently</h1>\r\n<hr><p>portico</p>\r\n</body>\r\n</html>\r\n";

	if (rq->host == NULL || rq->host_len == 0 || rq->host_len >= sizeof(host))
		return local_answer(c, 400, BODY_UNREAD(r));
	if (rq->host[0] == '[') {
		for (; hl < rq->host_len && rq->host[hl] != ']'; hl++)
			host[hl] = rq->host[hl];
		host[hl++] = ']';
	} else
		for (; hl < rq->host_len && rq->host[hl] != ':'; hl++)
			host[hl] = rq->host[hl];
	host[hl] = '\0';
	if (rq->absolute_form) {
		/* The path, then ?query: "http://h?q" has a path of "/" apart. */
		t = rq->path;
		tl = rq->path_len;
		q = rq->query;
		ql = rq->query != NULL ? rq->query_len : 0;
	}
	port[0] = '\0';
	if (c->ls->conf->redirect_port != 443)
		snprintf(port, sizeof(port), ":%d", c->ls->conf->redirect_port);
	if ((r->hb = buf_get()) == NULL) {
		client_close(c);
		return STEP_CLOSED;
	}
	if (BODY_UNREAD(r))
		r->keep_alive = 0;	/* the body is not read */
	strbuf_init(&b, r->hb, bufsize);
	head_start_local(&b, r, 301);
	strbuf_fmt(&b, "Location: https://%s%s%.*s%s%.*s\r\n", host, port,
	    (int)tl, t, q != NULL ? "?" : "", (int)ql, q != NULL ? q : "");
	strbuf_str(&b, "Content-Type: text/html\r\n");
	r->fe->head_tail(&b, r, sizeof(body) - 1);
	resp_rules_apply(c, &b, 1);	/* the "always" header rules */
	if (r->method != HTTP_M_HEAD)
		strbuf_str(&b, body);
	if (b.over) {
		buf_put(r->hb);
		r->hb = NULL;
		return local_answer(c, 414, 1);
	}
	r->local_close = !r->keep_alive;
	r->status = 301;
	r->hb_pos = 0;
	r->hb_end = b.len;
	r->body_bytes = r->method == HTTP_M_HEAD ? 0 : sizeof(body) - 1;
	r->resp_head = 1;
	c->state = CS_LOCAL;
	return STEP_ANSWERED;
}
