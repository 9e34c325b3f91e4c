/*
 * fuzz_cachepol.c: libFuzzer target for the caching rules (worker/cachepol*.c),
 * which read Cache-Control, dates, Vary, Range and validators from untrusted
 * heads.
 *
 * The input is a request head and a response head separated by a NUL byte.
 * Whatever parses goes through every cachepol function.  Besides the
 * sanitizers, it checks that a request matches the vary blob built from
 * it, that a stored head parses again as a response with the same status,
 * that a 304 merged into it parses too, that ranges stay inside the body,
 * and that keys fit their buffers.
 *
 *	clang -g -O1 -fsanitize=fuzzer,address,undefined -I. \
 *	    -o fuzz_cachepol t/fuzz/fuzz_cachepol.c worker/cachepol.c \
 *	    worker/cachepol_fresh.c worker/cachepol_head.c worker/cachepol_key.c \
 *	    common/http.c common/httplist.c common/sfdict.c common/strbuf.c
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "worker/cachepol.h"
#include "common/http.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define CHECK(e)	do { if (!(e)) abort(); } while (0)
#define NH		200
#define CAP		(32 << 10)

/*
 * The daemon's default limits (common/conf_global.c, worker/proxy.c:
 * proxy_init).
 */
static const struct http_limits lim = { 8 << 10, 16 << 10, 100 };
static const struct http_limits rlim = { 32 << 10, (32 << 10) - 1024, NH };

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct http_header rqh[NH], rsh[NH], mh[NH];
	static char		 blob[CAP], head[CAP], merged[CAP], key[CAP];
	struct http_request	 rq;
	struct http_response	 rs, ms;
	struct cachepol_req	 cr;
	struct cachepol_cc	 cc;
	static const char *const tl[] = {
		"portico-cache-control", "cdn-cache-control"
	};
	struct cachepol_opts	 o = { 0, 0, 86400, 10, 0, tl, 2 };
	struct cache_meta	 m;
	const uint8_t		*sep;
	const char		*why = NULL, *req, *resp;
	size_t			 rlen, slen, i;
	uint64_t		 first, last;
	int64_t			 now = 1700000000;
	int			 n, hl, rc;

	if ((sep = memchr(data, 0, size)) == NULL)
		return 0;
	req = (const char *)data;
	rlen = sep - data;
	resp = (const char *)sep + 1;
	slen = size - rlen - 1;
	memset(&rq, 0, sizeof(rq));
	if (http_parse_request(req, rlen, &lim, &rq, rqh) != HTTP_PARSE_OK)
		return 0;
	cachepol_request(&rq, &cr);
	n = cachepol_key(&rq, "fallback", key, sizeof(key));
	CHECK(n <= (int)sizeof(key));
	n = cachepol_key(&rq, "fallback", key, 16);
	CHECK(n <= 16);
	n = cachepol_key_scoped(&rq, "fallback", "route up", rlen & 1, key, sizeof(key));
	CHECK(n <= (int)sizeof(key));
	n = cachepol_key_scoped(&rq, NULL, NULL, 1, key, 20);
	CHECK(n <= 20);
	for (i = 0; i < rq.nheaders; i++) {
		(void)cachepol_date(rqh[i].value, rqh[i].value_len);
		n = cachepol_key_of_uri(rqh[i].value, rqh[i].value_len, &rq, "f",
		    key, sizeof(key));
		CHECK(n <= (int)sizeof(key));
	}

	memset(&rs, 0, sizeof(rs));
	if (http_parse_response(resp, slen, &rlim, &rs, rsh) != HTTP_PARSE_OK)
		return 0;
	cachepol_cc(rs.headers, rs.nheaders, &cc);
	(void)cachepol_invalidates(rq.method, rs.status);
	memset(&m, 0, sizeof(m));
	o.store_set_cookie = size & 1;
	o.default_ttl = (size & 2) ? 60 : 0;
	rc = cachepol_storable(&cr, &rs, &o, now - 1, now, &m, &why);
	CHECK(rc == 1 || (rc == 0 && why != NULL));
	if (rc == 1) {
		CHECK(m.etag_len <= sizeof(m.etag));
		(void)cachepol_age(&m, now + 5);
		(void)cachepol_ttl(&m, now + 5);
		(void)cachepol_use(&m, &cr, &o, now + 5);
		(void)cachepol_stale_if_error(&m, &cr, now + 5);
		(void)cachepol_not_modified(&rq, &m);
		rc = cachepol_range(&rq, &m, 1000, &first, &last);
		CHECK(rc >= -1 && rc <= 1);
		if (rc == 1)
			CHECK(first <= last && last < 1000);
	}
	n = cachepol_vary_blob(&rs, &rq, blob, sizeof(blob));
	if (n >= 0)
		CHECK(cachepol_vary_match(blob, n, &rq) == 1);
	hl = cachepol_stored_head(&rs, (int)(size & 1), head, sizeof(head));
	if (hl > 0) {
		/* A stored head is a response head again, with the same status. */
		memset(&ms, 0, sizeof(ms));
		CHECK(http_parse_response(head, hl, &rlim, &ms, mh) ==
		    HTTP_PARSE_OK);
		CHECK(ms.status == rs.status && (int)ms.head_len == hl);
		/* Without its targeted fields it is one still. */
		memcpy(merged, head, hl);
		n = (int)cachepol_head_drop(merged, hl, tl, 2);
		memset(&ms, 0, sizeof(ms));
		CHECK(n <= hl && http_parse_response(merged, n, &rlim, &ms,
		    mh) == HTTP_PARSE_OK && ms.status == rs.status);
		/* The response as a 304 to it: the merge must parse as well. */
		n = cachepol_merge_304(head, hl, &rs, merged, sizeof(merged));
		if (n > 0) {
			memset(&ms, 0, sizeof(ms));
			CHECK(http_parse_response(merged, n, &rlim, &ms, mh) ==
			    HTTP_PARSE_OK);
		}
	}
	return 0;
}
