/*
 * grpc.c: portico's own error answers to gRPC requests.  A gRPC client
 * reads the call's status from the grpc-status field, not from the
 * HTTP status, and an HTML page means nothing to it: a request whose
 * Content-Type begins with application/grpc that portico answers with
 * one of the errors below gets, as nginx's grpc_pass and Envoy do, an
 * HTTP 200 "trailers-only" answer (a head with no body, which HTTP/2
 * sends as one HEADERS frame with END_STREAM) carrying grpc-status and
 * grpc-message.  The access log and the status counters keep the HTTP
 * status portico would have answered (502, 503, 504, ...), so that
 * failures stay visible there.
 */
#include "config.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "common/http.h"
#include "common/strbuf.h"
#include "worker/proxy_int.h"
#include "worker/varsrc.h"

/* gRPC status codes (grpc/status.h). */
#define GRPC_DEADLINE_EXCEEDED	4
#define GRPC_PERMISSION_DENIED	7
#define GRPC_RESOURCE_EXHAUSTED	8
#define GRPC_UNIMPLEMENTED	12
#define GRPC_INTERNAL		13
#define GRPC_UNAVAILABLE	14
#define GRPC_UNAUTHENTICATED	16

/* Whether the request is a gRPC call (Content-Type application/grpc...). */
int
grpc_request(const struct req *r)
{
	size_t	 i;

	for (i = 0; i < r->rq.nheaders; i++)
		if (http_name_eq(&r->rq.headers[i], "content-type"))
			return r->rq.headers[i].value_len >= 16 &&
			    http_lc_eq(r->rq.headers[i].value,
			    "application/grpc", 16) &&
			    (r->rq.headers[i].value_len == 16 ||
			    r->rq.headers[i].value[16] == '+' ||
			    r->rq.headers[i].value[16] == ';');
	return 0;
}

/* The gRPC status for an HTTP status portico answers with; 0: none. */
static int
grpc_status(int status, const char **msg)
{
	switch (status) {
	case 401:
		*msg = "portico: authentication required";
		return GRPC_UNAUTHENTICATED;
	case 403:
		*msg = "portico: forbidden";
		return GRPC_PERMISSION_DENIED;
	case 413:
		*msg = "portico: request too large";
		return GRPC_RESOURCE_EXHAUSTED;
	case 429:
		*msg = "portico: too many requests";
		return GRPC_RESOURCE_EXHAUSTED;
	case 500:
		*msg = "portico: internal error";
		return GRPC_INTERNAL;
	case 501:
		*msg = "portico: not implemented";
		return GRPC_UNIMPLEMENTED;
	case 502:
		*msg = "portico: upstream unavailable";
		return GRPC_UNAVAILABLE;
	case 503:
		*msg = "portico: no upstream server available";
		return GRPC_UNAVAILABLE;
	case 504:
		*msg = "portico: upstream timed out";
		return GRPC_DEADLINE_EXCEEDED;
	default:
		return 0;
	}
}

/*
 * Answer a gRPC request's error as gRPC does (local_answer's part for
 * such requests, after its checks).  STEP_ANSWERED, STEP_CLOSED, or
 * STEP_NEXT when status has no gRPC form (local_answer goes on).
 */
enum step
grpc_answer(struct client *c, int status, int close_after)
{
	struct req	*r = c->r;
	struct strbuf	 b;
	const char	*msg = NULL;
	int		 gs;

	if ((gs = grpc_status(status, &msg)) == 0)
		return STEP_NEXT;
	if (close_after)
		r->keep_alive = 0;
	r->status = status;		/* for the log: what went wrong */
	strbuf_init(&b, r->hb, bufsize);
	head_start_local(&b, r, 200);
	strbuf_fmt(&b, "Content-Type: application/grpc\r\n"
	    "Grpc-Status: %d\r\nGrpc-Message: %s\r\n", gs, msg);
	r->fe->head_tail(&b, r, 0);
	resp_rules_apply(c, &b, 1);
	r->local_close = !r->keep_alive;
	if (b.over) {
		client_close(c);
		return STEP_CLOSED;
	}
	r->hb_pos = 0;
	r->hb_end = b.len;
	r->body_bytes = 0;
	r->resp_head = 1;
	req_drop_up(r);
	c->state = CS_LOCAL;
	return STEP_ANSWERED;
}
