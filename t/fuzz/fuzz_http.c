/*
 * fuzz_http.c: libFuzzer target for the HTTP/1.x parsers.
 *
 * The input goes whole to http_parse_request(), http_parse_response() and
 * http_chunked_parse(), under the limits the daemon uses by default
 * (worker/proxy.c: proxy_init; requests: max_request_line 8k, 16k of head,
 * 100 fields; responses: a 32k buffer less 1k, 200 fields) and under small
 * limits.  Besides
 * the sanitizers, it checks that results point inside the input, that a
 * prefix of the input gives HTTP_PARSE_AGAIN or the answer of the whole,
 * and that chunked decoding gives the same data and result whatever the
 * pieces the body arrives in.
 *
 *	clang -g -O1 -fsanitize=fuzzer,address,undefined -I. \
 *	    -o fuzz_http t/fuzz/fuzz_http.c common/http.c common/chunked.c \
 *	    common/httplist.c
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/http.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define CHECK(e)	do { if (!(e)) abort(); } while (0)

/* Whether [p, p + n) is inside [lo, lo + len). */
static int
inside(const char *p, size_t n, const char *lo, size_t len)
{
	return p >= lo && p <= lo + len && n <= (size_t)(lo + len - p);
}

/* A copy of buf[0..n) in a buffer of exactly n bytes, for ASan. */
static char *
dup_exact(const char *buf, size_t n)
{
	char	*p;

	if ((p = malloc(n ? n : 1)) == NULL)
		abort();
	memcpy(p, buf, n);
	return p;
}

static void
check_headers(const struct http_header *h, size_t nh, const char *buf,
    size_t len, const struct http_limits *lim)
{
	size_t	 i;

	CHECK(nh <= lim->max_headers);
	for (i = 0; i < nh; i++) {
		CHECK(h[i].name_len > 0);
		CHECK(inside(h[i].name, h[i].name_len, buf, len));
		CHECK(inside(h[i].value, h[i].value_len, buf, len));
		CHECK(h[i].value >= h[i].name + h[i].name_len);
	}
}

static int
request(const char *buf, size_t len, const struct http_limits *lim,
    struct http_request *req, struct http_header *hdrs)
{
	char	*copy = dup_exact(buf, len);
	int	 rv;

	rv = http_parse_request(copy, len, lim, req, hdrs);
	CHECK(rv == HTTP_PARSE_OK || rv == HTTP_PARSE_AGAIN || rv == 400 ||
	    rv == 414 || rv == 417 || rv == 431 || rv == 501 || rv == 505);
	CHECK((rv > 0) == (req->error != NULL));
	check_headers(hdrs, req->nheaders, copy, len, lim);
	if (rv == HTTP_PARSE_OK) {
		CHECK(req->head_len <= len);
		CHECK(req->head_len <= lim->max_head);
		CHECK(req->head_len >= 4);
		CHECK(memcmp(copy + req->head_len - 4, "\r\n\r\n", 4) == 0);
		check_headers(hdrs, req->nheaders, copy, req->head_len, lim);
		CHECK(req->version == 10 || req->version == 11);
		CHECK(req->method != HTTP_M_CONNECT);
		CHECK(req->method_len > 0);
		CHECK(inside(req->method_str, req->method_len, copy,
		    req->head_len));
		CHECK(inside(req->target, req->target_len, copy,
		    req->head_len));
		CHECK(req->path_len > 0);
		CHECK(inside(req->path, req->path_len, req->target,
		    req->target_len) || (req->absolute_form &&
		    req->path_len == 1 && req->path[0] == '/'));
		CHECK(req->query == NULL || inside(req->query, req->query_len,
		    req->target, req->target_len));
		CHECK(req->host != NULL || req->version == 10);
		CHECK(req->host == NULL || (req->host_len > 0 &&
		    inside(req->host, req->host_len, copy, req->head_len)));
		CHECK(req->content_length >= -1);
		CHECK(!(req->chunked && req->content_length != -1));
		CHECK(!req->chunked || req->version == 11);
		CHECK(!req->expect_continue || req->version == 11);
		CHECK(strcmp(http_method_name(req->method), "") != 0);
	}
	free(copy);
	return rv;
}

static int
response(const char *buf, size_t len, const struct http_limits *lim,
    struct http_response *resp, struct http_header *hdrs)
{
	char	*copy = dup_exact(buf, len);
	int	 rv;

	rv = http_parse_response(copy, len, lim, resp, hdrs);
	CHECK(rv == HTTP_PARSE_OK || rv == HTTP_PARSE_AGAIN || rv == 502);
	CHECK((rv > 0) == (resp->error != NULL));
	check_headers(hdrs, resp->nheaders, copy, len, lim);
	if (rv == HTTP_PARSE_OK) {
		CHECK(resp->head_len <= len);
		CHECK(resp->head_len <= lim->max_head);
		CHECK(memcmp(copy + resp->head_len - 4, "\r\n\r\n", 4) == 0);
		check_headers(hdrs, resp->nheaders, copy, resp->head_len, lim);
		CHECK(resp->version == 10 || resp->version == 11);
		CHECK(resp->status >= 100 && resp->status <= 599);
		CHECK(inside(resp->reason, resp->reason_len, copy,
		    resp->head_len));
		CHECK(resp->content_length >= -1);
		CHECK(!(resp->chunked && resp->content_length != -1));
		CHECK(strcmp(http_status_reason(resp->status), "") != 0);
		(void)http_response_has_body(HTTP_M_GET, resp->status);
	}
	free(copy);
	return rv;
}

/*
 * A prefix of the input answers AGAIN, or what the whole input answers
 * (with the same head length when that is OK).
 */
static void
check_prefix(int full, size_t full_head, int part, size_t part_head,
    size_t n)
{
	if (full == HTTP_PARSE_OK && n >= full_head) {
		CHECK(part == HTTP_PARSE_OK && part_head == full_head);
		return;
	}
	CHECK(part == HTTP_PARSE_AGAIN || part == full);
}

static void
heads(const char *buf, size_t len, const struct http_limits *lim,
    const struct http_limits *rlim, const size_t *cuts, size_t ncuts)
{
	struct http_request	 req;
	struct http_response	 resp;
	struct http_header	*hdrs;
	size_t			 i, head;
	int			 rv, prv;

	i = lim->max_headers > rlim->max_headers ? lim->max_headers :
	    rlim->max_headers;
	if ((hdrs = malloc((i ? i : 1) * sizeof(*hdrs))) == NULL)
		abort();

	rv = request(buf, len, lim, &req, hdrs);
	head = req.head_len;
	for (i = 0; i < ncuts; i++) {
		prv = request(buf, cuts[i], lim, &req, hdrs);
		check_prefix(rv, head, prv, req.head_len, cuts[i]);
	}

	rv = response(buf, len, rlim, &resp, hdrs);
	head = resp.head_len;
	for (i = 0; i < ncuts; i++) {
		prv = response(buf, cuts[i], rlim, &resp, hdrs);
		check_prefix(rv, head, prv, resp.head_len, cuts[i]);
	}
	free(hdrs);
}

struct dechunked {
	ssize_t		 consumed;	/* -1 on error */
	int		 done;
	size_t		 outlen;
};

/*
 * Decode buf[0..len) arriving in pieces of the sizes given by steps
 * (cycled; 0 means all at once).  Unconsumed bytes stay for the next call,
 * as in a receive buffer.
 */
static void
dechunk(const char *buf, size_t len, const uint8_t *steps, size_t nsteps,
    char *out, struct dechunked *r)
{
	struct http_chunked	 ck;
	size_t			 off = 0, avail = 0, doff, dlen, k = 0, step;
	ssize_t			 n;
	char			*copy;

	http_chunked_init(&ck);
	r->outlen = 0;
	r->consumed = -1;
	do {
		step = nsteps ? (size_t)steps[k++ % nsteps] % 64 + 1 : len;
		avail = len - avail > step ? avail + step : len;
		while (!ck.done) {
			/* The bytes in, in a buffer of their exact size. */
			copy = dup_exact(buf + off, avail - off);
			n = http_chunked_parse(&ck, copy, avail - off, &doff,
			    &dlen);
			free(copy);
			if (n == -1) {
				CHECK(dlen == 0);
				/* Errors stick. */
				CHECK(http_chunked_parse(&ck, buf, len, &doff,
				    &dlen) == -1);
				r->done = 0;
				return;
			}
			CHECK(n >= 0 && (size_t)n <= avail - off);
			CHECK(doff <= (size_t)n && dlen <= (size_t)n - doff);
			CHECK(dlen == 0 || doff + dlen == (size_t)n);
			memcpy(out + r->outlen, buf + off + doff, dlen);
			r->outlen += dlen;
			off += (size_t)n;
			if (n == 0)
				break;
		}
	} while (!ck.done && avail < len);
	CHECK(ck.done || off == len);
	if (ck.done) {
		CHECK(http_chunked_parse(&ck, buf + off, len - off, &doff,
		    &dlen) == 0);
		CHECK(dlen == 0);
	}
	r->consumed = (ssize_t)off;
	r->done = ck.done;
}

static void
chunked(const char *buf, size_t len, const uint8_t *steps, size_t nsteps)
{
	static const uint8_t	 one = 0;
	struct dechunked	 a, b;
	char			*out1, *out2;

	if ((out1 = malloc(len + 1)) == NULL || (out2 = malloc(len + 1)) == NULL)
		abort();
	dechunk(buf, len, NULL, 0, out1, &a);
	dechunk(buf, len, steps, nsteps, out2, &b);
	CHECK(a.consumed == b.consumed && a.done == b.done);
	if (a.consumed != -1) {
		CHECK(a.outlen == b.outlen);
		CHECK(memcmp(out1, out2, a.outlen) == 0);
	}
	if (len <= 4096) {
		/* One byte at a time. */
		dechunk(buf, len, &one, 1, out2, &b);
		CHECK(a.consumed == b.consumed && a.done == b.done);
		if (a.consumed != -1) {
			CHECK(a.outlen == b.outlen);
			CHECK(memcmp(out1, out2, a.outlen) == 0);
		}
	}
	free(out1);
	free(out2);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char		*buf = (const char *)data;
	static struct http_header hdrs[200];
	/*
	 * The daemon's defaults (common/conf_global.c, worker/proxy.c:
	 * proxy_init).
	 */
	static const struct http_limits reqlim = { 8 << 10, 16 << 10, 100 };
	static const struct http_limits resplim = { 32 << 10, (32 << 10) - 1024,
	    200 };
	struct http_limits	 lim;
	struct http_request	 req;
	struct http_response	 resp;
	size_t			 cuts[8], ncuts = 0, i;

	/* Prefixes: the last few, and some spread over the input. */
	for (i = 1; i <= 4 && i <= size; i++)
		cuts[ncuts++] = size - i;
	for (i = 0; i < 4 && size > 0; i++)
		cuts[ncuts++] = (size_t)data[i % size] * size / 256;

	heads(buf, size, &reqlim, &resplim, cuts, ncuts);

	/* Small limits, drawn from the last bytes. */
	if (size >= 3) {
		lim.max_request_line = data[size - 1] % 64;
		lim.max_head = data[size - 2] % 128;
		lim.max_headers = data[size - 3] % 6;
		heads(buf, size, &lim, &lim, cuts, ncuts);
	}

	chunked(buf, size, data, size < 16 ? size : 16);

	/* A body after a head that announces chunked coding. */
	if (http_parse_request(buf, size, &reqlim, &req, hdrs) == HTTP_PARSE_OK &&
	    req.chunked)
		chunked(buf + req.head_len, size - req.head_len, data,
		    size < 16 ? size : 16);
	else if (http_parse_response(buf, size, &resplim, &resp, hdrs) ==
	    HTTP_PARSE_OK && resp.chunked)
		chunked(buf + resp.head_len, size - resp.head_len, data,
		    size < 16 ? size : 16);
	return 0;
}
