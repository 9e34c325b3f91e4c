/*
 * http.c: strict HTTP/1.x message head parsing (RFC 9112); the chunked
 * body decoder is in chunked.c, field-value lists in httplist.c.
 *
 * The head parsers make one pass over the buffer, left to right.  Every
 * syntax error and every limit is decided by the bytes up to the point
 * where it is found, so a prefix of a message never gives an answer that
 * the whole message would not give: it gives HTTP_PARSE_AGAIN or the same
 * error.  The rules that need the whole head (Host count, Content-Length
 * versus Transfer-Encoding, Expect) are decided once the empty line that
 * ends the head has been seen.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <stdint.h>
#include <string.h>

#include "common/http.h"

/*
 * Character classes.  Each table holds 1 for the bytes in the class and
 * 0 for the others.
 */

/* tchar, RFC 9110 section 5.6.2. */
const uint8_t http_tchar[256] = {
	['!'] = 1, ['#'] = 1, ['$'] = 1, ['%'] = 1, ['&'] = 1, ['\''] = 1,
	['*'] = 1, ['+'] = 1, ['-'] = 1, ['.'] = 1, ['^'] = 1, ['_'] = 1,
	['`'] = 1, ['|'] = 1, ['~'] = 1,
	['0' ... '9'] = 1, ['A' ... 'Z'] = 1, ['a' ... 'z'] = 1
};

/* Field value bytes: HTAB, SP, VCHAR and obs-text. */
const uint8_t http_fvchar[256] = {
	['\t'] = 1, [' ' ... '~'] = 1, [0x80 ... 0xff] = 1
};

/*
 * Request-target bytes: VCHAR except '#', since a fragment is not part of
 * any request-target form.
 */
static const uint8_t target_tab[256] = {
	[0x21 ... 0x22] = 1, [0x24 ... 0x7e] = 1
};

/* Hex digits, stored as their value plus one. */
const uint8_t http_hexval[256] = {
	['0'] = 1, ['1'] = 2, ['2'] = 3, ['3'] = 4, ['4'] = 5,
	['5'] = 6, ['6'] = 7, ['7'] = 8, ['8'] = 9, ['9'] = 10,
	['A'] = 11, ['B'] = 12, ['C'] = 13, ['D'] = 14, ['E'] = 15, ['F'] = 16,
	['a'] = 11, ['b'] = 12, ['c'] = 13, ['d'] = 14, ['e'] = 15, ['f'] = 16
};

/* reg-name bytes but pct-encoded: unreserved and sub-delims (RFC 3986). */
static const uint8_t regname_tab[256] = {
	['0' ... '9'] = 1, ['A' ... 'Z'] = 1, ['a' ... 'z'] = 1,
	['-'] = 1, ['.'] = 1, ['_'] = 1, ['~'] = 1,
	['!'] = 1, ['$'] = 1, ['&'] = 1, ['\''] = 1, ['('] = 1, [')'] = 1,
	['*'] = 1, ['+'] = 1, [','] = 1, [';'] = 1, ['='] = 1
};

#define IS_WS(c)	((c) == ' ' || (c) == '\t')
#define IS_DIGIT(c)	((unsigned char)((c) - '0') < 10)

/*
 * The state of one head parse: where the bytes are, the limits, and what
 * the header fields said so far.
 */
struct head {
	const unsigned char	*b;
	size_t			 len;		/* bytes in the buffer */
	size_t			 end;		/* min(len, max_head) */
	size_t			 max_headers;
	struct http_header	*hdrs;
	size_t			 nh;
	size_t			 head_len;
	const char		*error;
	int			 bad;		/* status for a bad message */
	int			 big;		/* status for one over the limits */

	const char		*host;
	size_t			 host_len;
	unsigned		 nhost;
	unsigned		 host_bad:1;

	int64_t			 cl;		/* -1: no Content-Length */
	unsigned		 cl_bad:1;
	unsigned		 cl_conflict:1;

	unsigned		 nte;		/* Transfer-Encoding fields */
	unsigned		 te_chunked;	/* "chunked" codings */
	unsigned		 te_other:1;
	unsigned		 te_bad:1;

	unsigned		 conn_close:1;
	unsigned		 conn_keep_alive:1;
	unsigned		 expect_continue:1;
	unsigned		 expect_other:1;
	unsigned		 upgrade:1;
};

static size_t		 scan_class(const uint8_t *, const unsigned char *,
			    size_t, size_t);
static int		 herr(struct head *, int, const char *);
static int		 head_stop(struct head *, size_t);
static void		 head_init(struct head *, const char *, size_t,
			    const struct http_limits *, struct http_header *,
			    int, int);
static int		 parse_content_length(const char *, size_t, int64_t *);
static void		 note_te(struct head *, const char *, size_t);
static void		 note_field(struct head *, const struct http_header *);
static int		 parse_fields(struct head *, size_t);
static int		 valid_authority(const unsigned char *, size_t);
static enum http_method	 method_lookup(const char *, size_t);
static int		 rl_stop(struct head *, size_t, size_t);
static int		 parse_target(struct head *, struct http_request *);
static int		 parse_request_line(struct head *, struct http_request *,
			    const struct http_limits *, size_t *);
static int		 request_semantics(struct head *, struct http_request *);
static int		 response_semantics(struct head *,
			    struct http_response *);

/*
 * The first byte at or after p, below end, that is not in the class tab;
 * end if there is none.  Field values and targets are the bulk of a
 * head, so this loop is unrolled.
 */
static inline __attribute__((always_inline)) size_t
scan_class(const uint8_t *tab, const unsigned char *b, size_t p, size_t end)
{
	while (end - p >= 8) {
		if (!tab[b[p]])
			return p;
		if (!tab[b[p + 1]])
			return p + 1;
		if (!tab[b[p + 2]])
			return p + 2;
		if (!tab[b[p + 3]])
			return p + 3;
		if (!tab[b[p + 4]])
			return p + 4;
		if (!tab[b[p + 5]])
			return p + 5;
		if (!tab[b[p + 6]])
			return p + 6;
		if (!tab[b[p + 7]])
			return p + 7;
		p += 8;
	}
	while (p < end && tab[b[p]])
		p++;
	return p;
}

static int
herr(struct head *h, int status, const char *error)
{
	h->error = error;
	return status;
}

/*
 * The scan needs byte q but q is at h->end: either the head is over
 * max_head (byte q exists), or more bytes must come.
 */
static int
head_stop(struct head *h, size_t q)
{
	if (q < h->len)
		return herr(h, h->big, "head too large");
	return HTTP_PARSE_AGAIN;
}

static void
head_init(struct head *h, const char *buf, size_t len,
    const struct http_limits *lim, struct http_header *hdrs, int bad, int big)
{
	memset(h, 0, sizeof(*h));
	h->b = (const unsigned char *)buf;
	h->len = len;
	h->end = len < lim->max_head ? len : lim->max_head;
	h->max_headers = lim->max_headers;
	h->hdrs = hdrs;
	h->bad = bad;
	h->big = big;
	h->cl = -1;
}

/*
 * Content-Length = 1*DIGIT, possibly sent as a list of identical values
 * ("5, 5").  Empty elements are refused.  Returns 0 with the value in
 * *out, or -1.
 */
static int
parse_content_length(const char *v, size_t n, int64_t *out)
{
	int64_t	 val = -1, x;
	size_t	 i = 0, s;
	int	 d;

	for (;;) {
		while (i < n && IS_WS(v[i]))
			i++;
		s = i;
		x = 0;
		while (i < n && IS_DIGIT(v[i])) {
			d = v[i] - '0';
			if (x > (INT64_MAX - d) / 10)
				return -1;
			x = x * 10 + d;
			i++;
		}
		if (i == s)
			return -1;
		if (val != -1 && x != val)
			return -1;
		val = x;
		while (i < n && IS_WS(v[i]))
			i++;
		if (i == n)
			break;
		if (v[i] != ',')
			return -1;
		i++;
	}
	*out = val;
	return 0;
}

/*
 * Note the codings of one Transfer-Encoding field.  A coding is a token
 * with optional parameters; "chunked" takes none.
 */
static void
note_te(struct head *h, const char *v, size_t n)
{
	struct http_elem	 e;
	size_t			 pos = 0;
	int			 chunked;

	h->nte++;
	while (http_elem_next(v, n, &pos, &e)) {
		if (e.bad || e.has_arg) {
			h->te_bad = 1;
			continue;
		}
		chunked = e.name_len == 7 && http_lc_eq(e.name, "chunked", 7);
		if (e.params != NULL && chunked)
			h->te_bad = 1;
		else if (chunked)
			h->te_chunked++;
		else
			h->te_other = 1;
	}
}

/*
 * Note what a header field means for the message.  The decisions are
 * taken once the whole head is in, by request_semantics() or
 * response_semantics(), so that they do not depend on field order.
 */
static void
note_field(struct head *h, const struct http_header *f)
{
	const char	*n = f->name, *v = f->value, *t;
	size_t		 vl = f->value_len, pos, tl;
	int64_t		 cl;

	switch (f->name_len) {
	case 4:
		if (!http_lc_eq(n, "host", 4))
			break;
		if (h->nhost++ == 0) {
			h->host = v;
			h->host_len = vl;
		}
		if (!valid_authority((const unsigned char *)v, vl))
			h->host_bad = 1;
		break;
	case 6:
		if (!http_lc_eq(n, "expect", 6))
			break;
		if (vl == 12 && http_lc_eq(v, "100-continue", 12))
			h->expect_continue = 1;
		else
			h->expect_other = 1;
		break;
	case 7:
		if (http_lc_eq(n, "upgrade", 7))
			h->upgrade = 1;
		break;
	case 10:
		if (!http_lc_eq(n, "connection", 10))
			break;
		/* One walk for both options. */
		pos = 0;
		while (http_token_next(v, vl, &pos, &t, &tl))
			if (tl == 5 && http_lc_eq(t, "close", 5))
				h->conn_close = 1;
			else if (tl == 10 && http_lc_eq(t, "keep-alive", 10))
				h->conn_keep_alive = 1;
		break;
	case 14:
		if (!http_lc_eq(n, "content-length", 14))
			break;
		if (parse_content_length(v, vl, &cl) == -1)
			h->cl_bad = 1;
		else if (h->cl != -1 && h->cl != cl)
			h->cl_conflict = 1;
		else
			h->cl = cl;
		break;
	case 17:
		if (http_lc_eq(n, "transfer-encoding", 17))
			note_te(h, v, vl);
		break;
	}
}

/*
 * Parse the field lines from p up to and including the empty line that
 * ends the head: field-name ":" OWS field-value OWS CRLF.  Sets
 * h->head_len.
 */
static int
parse_fields(struct head *h, size_t p)
{
	const unsigned char	*b = h->b;
	struct http_header	*f;
	size_t			 end = h->end, ns, ne, vs, ve;

	for (;;) {
		if (p >= end)
			return head_stop(h, p);
		if (b[p] == '\r') {
			if (p + 1 >= end)
				return head_stop(h, p + 1);
			if (b[p + 1] != '\n')
				return herr(h, h->bad, "bare CR in header");
			h->head_len = p + 2;
			return HTTP_PARSE_OK;
		}
		if (b[p] == '\n')
			return herr(h, h->bad, "bare LF in header");
		if (IS_WS(b[p]))
			return herr(h, h->bad, "obs-fold in header");
		if (h->nh >= h->max_headers)
			return herr(h, h->big, "too many header fields");

		ns = p;
		p = scan_class(http_tchar, b, p, end);
		if (p == end)
			return head_stop(h, p);
		if (b[p] != ':') {
			if (IS_WS(b[p]))
				return herr(h, h->bad,
				    "whitespace before colon");
			if (b[p] == '\r' || b[p] == '\n')
				return herr(h, h->bad,
				    "header without colon");
			return herr(h, h->bad, "bad byte in field name");
		}
		if (p == ns)
			return herr(h, h->bad, "empty field name");
		ne = p++;

		/* The value scan takes in the leading OWS; it is cut after. */
		p = scan_class(http_fvchar, b, p, end);
		if (p == end)
			return head_stop(h, p);
		if (b[p] != '\r') {
			if (b[p] == '\n')
				return herr(h, h->bad, "bare LF in header");
			return herr(h, h->bad, "bad byte in field value");
		}
		if (p + 1 >= end)
			return head_stop(h, p + 1);
		if (b[p + 1] != '\n')
			return herr(h, h->bad, "bare CR in header");
		vs = ne + 1;
		ve = p;
		while (vs < ve && IS_WS(b[vs]))
			vs++;
		while (ve > vs && IS_WS(b[ve - 1]))
			ve--;
		if (ve - vs > UINT32_MAX || ne - ns > UINT32_MAX)
			return herr(h, h->big, "header field too large");

		f = &h->hdrs[h->nh++];
		f->name = (const char *)b + ns;
		f->name_len = (uint32_t)(ne - ns);
		f->value = (const char *)b + vs;
		f->value_len = (uint32_t)(ve - vs);
		note_field(h, f);
		p += 2;
	}
}

/*
 * authority = host [ ":" port ] without userinfo, host being a reg-name
 * or an IP literal in brackets.  The reg-name is unreserved and
 * sub-delims bytes in labels separated by single dots: no empty label, but
 * one final dot (the same name, as in DNS); no percent-encoding, which no
 * DNS name needs and which would let two spellings name one host.  The
 * port, when there is a colon, must be 1 to 5 digits up to 65535.
 */
static int
valid_authority(const unsigned char *s, size_t n)
{
	size_t		 i = 0, ds;
	unsigned	 port = 0, colons = 0;

	if (n == 0)
		return 0;
	if (s[0] == '[') {
		for (i = 1; i < n && (http_hexval[s[i]] || s[i] == ':' ||
		    s[i] == '.'); i++)
			colons += s[i] == ':';
		if (i == n || s[i] != ']' || colons == 0)
			return 0;
		i++;
	} else {
		while (i < n && regname_tab[s[i]]) {
			/* A dot starts the host or follows another: empty label. */
			if (s[i] == '.' && (i == 0 || s[i - 1] == '.'))
				return 0;
			i++;
		}
		if (i == 0)
			return 0;
	}
	if (i == n)
		return 1;
	if (s[i++] != ':')
		return 0;
	for (ds = i; i < n && IS_DIGIT(s[i]) && i - ds < 5; i++)
		port = port * 10 + (s[i] - '0');
	return i == n && i > ds && port <= 65535;
}

static enum http_method
method_lookup(const char *m, size_t n)
{
	switch (n) {
	case 3:
		if (memcmp(m, "GET", 3) == 0)
			return HTTP_M_GET;
		if (memcmp(m, "PUT", 3) == 0)
			return HTTP_M_PUT;
		break;
	case 4:
		if (memcmp(m, "HEAD", 4) == 0)
			return HTTP_M_HEAD;
		if (memcmp(m, "POST", 4) == 0)
			return HTTP_M_POST;
		break;
	case 5:
		if (memcmp(m, "PATCH", 5) == 0)
			return HTTP_M_PATCH;
		if (memcmp(m, "TRACE", 5) == 0)
			return HTTP_M_TRACE;
		break;
	case 6:
		if (memcmp(m, "DELETE", 6) == 0)
			return HTTP_M_DELETE;
		break;
	case 7:
		if (memcmp(m, "OPTIONS", 7) == 0)
			return HTTP_M_OPTIONS;
		if (memcmp(m, "CONNECT", 7) == 0)
			return HTTP_M_CONNECT;
		break;
	}
	return HTTP_M_OTHER;
}

/*
 * The request line scan needs byte q, but q is at its bound: the end of
 * the buffer, max_head, or rl_e, the first byte past max_request_line.
 * A byte at rl_e other than the CR that ends the line makes the line too
 * long; when rl_e and max_head coincide, 414 wins.  A CR there ends the
 * line too early.
 */
static int
rl_stop(struct head *h, size_t q, size_t rl_e)
{
	if (q >= h->len)
		return HTTP_PARSE_AGAIN;
	if (q == rl_e && h->b[q] != '\r')
		return herr(h, 414, "request line too long");
	if (q >= h->end)
		return herr(h, h->big, "head too large");
	return herr(h, 400, "malformed request line");
}

/*
 * Split the request-target into its form, path and query.  In
 * absolute-form without a path, the path is the static string "/" (not in
 * the buffer).  In asterisk-form the path is the "*" of the target.
 */
static int
parse_target(struct head *h, struct http_request *req)
{
	const char	*t = req->target, *q, *a, *ae, *te = t + req->target_len;
	size_t		 tl = req->target_len, skip;

	if (t[0] == '*') {
		if (tl != 1 || req->method != HTTP_M_OPTIONS)
			return herr(h, 400, "bad asterisk-form target");
		req->path = t;
		req->path_len = 1;
		return HTTP_PARSE_OK;
	}
	if (t[0] != '/') {
		if (tl > 7 && http_lc_eq(t, "http://", 7))
			skip = 7;
		else if (tl > 8 && http_lc_eq(t, "https://", 8))
			skip = 8;
		else
			return herr(h, 400, "bad request target");
		a = t + skip;
		for (ae = a; ae < te && *ae != '/' && *ae != '?'; ae++)
			if (*ae == '@')
				return herr(h, 400, "userinfo in target");
		if (!valid_authority((const unsigned char *)a,
		    (size_t)(ae - a)))
			return herr(h, 400, "bad authority in target");
		req->absolute_form = 1;
		req->host = a;
		req->host_len = (size_t)(ae - a);
		t = ae;
		tl = (size_t)(te - ae);
	}
	q = tl > 0 ? memchr(t, '?', tl) : NULL;
	if (q != NULL) {
		req->query = q + 1;
		req->query_len = (size_t)(te - q - 1);
		tl = (size_t)(q - t);
	}
	if (tl == 0) {
		/* Absolute-form with no path: "http://host" or "http://host?q". */
		req->path = "/";
		req->path_len = 1;
		return HTTP_PARSE_OK;
	}
	req->path = t;
	req->path_len = tl;
	return HTTP_PARSE_OK;
}

/*
 * request-line = method SP request-target SP HTTP-version CRLF.  *posp is
 * the start of the line, and on return the start of the field lines.
 */
static int
parse_request_line(struct head *h, struct http_request *req,
    const struct http_limits *lim, size_t *posp)
{
	const unsigned char	*b = h->b;
	size_t			 p = *posp, rl_e, l, ms, ts, q, i;

	/* The request line ends in a CR at rl_e at the latest. */
	if (lim->max_request_line < h->len - p)
		rl_e = p + lim->max_request_line;
	else
		rl_e = h->len;
	l = rl_e < h->end ? rl_e : h->end;

	ms = p;
	while (p < l && http_tchar[b[p]])
		p++;
	if (p == l)
		return rl_stop(h, p, rl_e);
	if (b[p] != ' ' || p == ms)
		return herr(h, 400, p == ms ? "bad method" :
		    "malformed request line");
	req->method_str = (const char *)b + ms;
	req->method_len = p - ms;
	req->method = method_lookup(req->method_str, req->method_len);
	if (req->method == HTTP_M_CONNECT)
		return herr(h, 501, "CONNECT not supported");
	p++;

	ts = p;
	p = scan_class(target_tab, b, p, l);
	if (p == l)
		return rl_stop(h, p, rl_e);
	if (b[p] != ' ' || p == ts)
		return herr(h, 400, p == ts ? "bad request target" :
		    b[p] == '\r' ? "malformed request line" :
		    "bad byte in request target");
	req->target = (const char *)b + ts;
	req->target_len = p - ts;
	p++;

	for (i = 0; i < 8; i++) {
		q = p + i;
		if (q >= l)
			return rl_stop(h, q, rl_e);
		if (i < 5 ? b[q] != "HTTP/"[i] :
		    i == 6 ? b[q] != '.' : !IS_DIGIT(b[q]))
			return herr(h, 400, "bad HTTP version");
	}
	q = p + 8;
	if (q >= h->end)
		return head_stop(h, q);
	if (b[q] != '\r') {
		if (q >= rl_e)
			return herr(h, 414, "request line too long");
		return herr(h, 400, b[q] == '\n' ? "bare LF in request line" :
		    "bad HTTP version");
	}
	if (q + 1 >= h->end)
		return head_stop(h, q + 1);
	if (b[q + 1] != '\n')
		return herr(h, 400, "bare CR in request line");
	*posp = q + 2;

	if (b[p + 5] == '1')
		req->version = b[p + 7] == '0' ? 10 : 11;
	else if (b[p + 5] == '0')
		return herr(h, 400, "bad HTTP version");
	else
		return herr(h, 505, "HTTP version not supported");

	return parse_target(h, req);
}

/* The rules that need the whole request head. */
static int
request_semantics(struct head *h, struct http_request *req)
{
	if (h->nhost > 1)
		return herr(h, 400, "repeated Host");
	if (h->host_bad)
		return herr(h, 400, "invalid Host");
	if (h->nhost == 0 && req->version == 11)
		return herr(h, 400, "missing Host");
	if (h->cl_bad)
		return herr(h, 400, "bad Content-Length");
	if (h->cl_conflict)
		return herr(h, 400, "conflicting Content-Length");
	if (h->nte > 0) {
		if (req->version == 10)
			return herr(h, 400, "Transfer-Encoding in HTTP/1.0");
		if (h->cl != -1)
			return herr(h, 400,
			    "Transfer-Encoding with Content-Length");
		if (h->te_bad)
			return herr(h, 400, "bad Transfer-Encoding");
		if (h->te_chunked > 1)
			return herr(h, 400, "chunked applied twice");
		if (h->te_other)
			return herr(h, 501, "unsupported transfer coding");
		if (h->te_chunked == 0)
			return herr(h, 400, "empty Transfer-Encoding");
		req->chunked = 1;
	}
	if (h->expect_other)
		return herr(h, 417, "unsupported expectation");

	if (!req->absolute_form && h->nhost == 1) {
		req->host = h->host;
		req->host_len = h->host_len;
	}
	req->content_length = h->cl;
	req->expect_continue = h->expect_continue && req->version == 11;
	req->upgrade = h->upgrade;
	req->keep_alive = !h->conn_close &&
	    (req->version == 11 || h->conn_keep_alive);
	return HTTP_PARSE_OK;
}

int
http_parse_request(const char *buf, size_t len, const struct http_limits *lim,
    struct http_request *req, struct http_header *hdrs)
{
	struct head	 h;
	size_t		 p = 0;
	int		 rv;

	memset(req, 0, sizeof(*req));
	req->content_length = -1;
	req->headers = hdrs;
	head_init(&h, buf, len, lim, hdrs, 400, 431);

	/* Empty lines before the request line are skipped (RFC 9112 2.2). */
	for (;;) {
		if (p >= h.end) {
			rv = head_stop(&h, p);
			goto out;
		}
		if (h.b[p] == '\n') {
			rv = herr(&h, 400, "bare LF in request line");
			goto out;
		}
		if (h.b[p] != '\r')
			break;
		if (p + 1 >= h.end) {
			rv = head_stop(&h, p + 1);
			goto out;
		}
		if (h.b[p + 1] != '\n') {
			rv = herr(&h, 400, "bare CR in request line");
			goto out;
		}
		p += 2;
	}

	if ((rv = parse_request_line(&h, req, lim, &p)) != HTTP_PARSE_OK)
		goto out;
	if ((rv = parse_fields(&h, p)) != HTTP_PARSE_OK)
		goto out;
	if ((rv = request_semantics(&h, req)) != HTTP_PARSE_OK)
		goto out;
	req->head_len = h.head_len;
 out:
	req->nheaders = h.nh;
	req->error = h.error;
	return rv;
}

/* The rules that need the whole response head. */
static int
response_semantics(struct head *h, struct http_response *resp)
{
	if (h->cl_bad)
		return herr(h, 502, "bad Content-Length");
	if (h->cl_conflict)
		return herr(h, 502, "conflicting Content-Length");
	if (h->nte > 0) {
		if (resp->version == 10)
			return herr(h, 502, "Transfer-Encoding in HTTP/1.0");
		if (h->cl != -1)
			return herr(h, 502,
			    "Transfer-Encoding with Content-Length");
		if (h->te_bad || h->te_other || h->te_chunked != 1)
			return herr(h, 502, "unsupported Transfer-Encoding");
		resp->chunked = 1;
	}
	resp->content_length = h->cl;
	resp->keep_alive = !h->conn_close &&
	    (resp->version == 11 || h->conn_keep_alive);
	return HTTP_PARSE_OK;
}

/*
 * status-line = HTTP-version SP 3DIGIT [ SP reason-phrase ] CRLF.  The
 * missing SP and reason are accepted; reason then points at the CR, with
 * reason_len 0.
 */
int
http_parse_response(const char *buf, size_t len, const struct http_limits *lim,
    struct http_response *resp, struct http_header *hdrs)
{
	struct head		 h;
	const unsigned char	*b;
	size_t			 p, rs, i;
	int			 rv;

	memset(resp, 0, sizeof(*resp));
	resp->content_length = -1;
	resp->headers = hdrs;
	head_init(&h, buf, len, lim, hdrs, 502, 502);
	b = h.b;

	/* "HTTP/" DIGIT "." DIGIT SP 3DIGIT */
	for (i = 0; i < 12; i++) {
		if (i >= h.end) {
			rv = head_stop(&h, i);
			goto out;
		}
		if (i < 5 ? b[i] != "HTTP/"[i] : i == 6 ? b[i] != '.' :
		    i == 8 ? b[i] != ' ' : !IS_DIGIT(b[i])) {
			rv = herr(&h, 502, "bad status line");
			goto out;
		}
	}
	if (b[5] != '1') {
		rv = herr(&h, 502, "bad HTTP version");
		goto out;
	}
	resp->version = b[7] == '0' ? 10 : 11;
	resp->status = (b[9] - '0') * 100 + (b[10] - '0') * 10 + (b[11] - '0');
	if (resp->status < 100 || resp->status > 599) {
		rv = herr(&h, 502, "bad status code");
		goto out;
	}
	p = 12;
	if (p >= h.end) {
		rv = head_stop(&h, p);
		goto out;
	}
	if (b[p] == ' ')
		p++;
	else if (b[p] != '\r') {
		rv = herr(&h, 502, "bad status line");
		goto out;
	}
	rs = p;
	p = scan_class(http_fvchar, b, p, h.end);
	if (p >= h.end) {
		rv = head_stop(&h, p);
		goto out;
	}
	if (b[p] != '\r') {
		rv = herr(&h, 502, b[p] == '\n' ? "bare LF in status line" :
		    "bad byte in reason");
		goto out;
	}
	if (p + 1 >= h.end) {
		rv = head_stop(&h, p + 1);
		goto out;
	}
	if (b[p + 1] != '\n') {
		rv = herr(&h, 502, "bare CR in status line");
		goto out;
	}
	resp->reason = buf + rs;
	resp->reason_len = p - rs;

	if ((rv = parse_fields(&h, p + 2)) != HTTP_PARSE_OK)
		goto out;
	if ((rv = response_semantics(&h, resp)) != HTTP_PARSE_OK)
		goto out;
	resp->head_len = h.head_len;
 out:
	resp->nheaders = h.nh;
	resp->error = h.error;
	return rv;
}

int
http_response_has_body(enum http_method req_method, int status)
{
	if (req_method == HTTP_M_HEAD)
		return 0;
	if ((status >= 100 && status < 200) || status == 204 || status == 304)
		return 0;
	return 1;
}

int
http_name_eq(const struct http_header *h, const char *name)
{
	size_t	 i;

	for (i = 0; i < h->name_len; i++)
		if (name[i] == '\0' || http_lower((unsigned char)h->name[i]) !=
		    http_lower((unsigned char)name[i]))
			return 0;
	return name[i] == '\0';
}

const char *
http_method_name(enum http_method m)
{
	switch (m) {
	case HTTP_M_GET:	return "GET";
	case HTTP_M_HEAD:	return "HEAD";
	case HTTP_M_POST:	return "POST";
	case HTTP_M_PUT:	return "PUT";
	case HTTP_M_DELETE:	return "DELETE";
	case HTTP_M_OPTIONS:	return "OPTIONS";
	case HTTP_M_PATCH:	return "PATCH";
	case HTTP_M_TRACE:	return "TRACE";
	case HTTP_M_CONNECT:	return "CONNECT";
	case HTTP_M_OTHER:	break;
	}
	return "OTHER";
}

const char *
http_status_reason(int status)
{
	switch (status) {
	case 100:	return "Continue";
	case 101:	return "Switching Protocols";
	case 102:	return "Processing";
	case 103:	return "Early Hints";
	case 200:	return "OK";
	case 201:	return "Created";
	case 202:	return "Accepted";
	case 203:	return "Non-Authoritative Information";
	case 204:	return "No Content";
	case 205:	return "Reset Content";
	case 206:	return "Partial Content";
	case 300:	return "Multiple Choices";
	case 301:	return "Moved Permanently";
	case 302:	return "Found";
	case 303:	return "See Other";
	case 304:	return "Not Modified";
	case 307:	return "Temporary Redirect";
	case 308:	return "Permanent Redirect";
	case 400:	return "Bad Request";
	case 401:	return "Unauthorized";
	case 403:	return "Forbidden";
	case 404:	return "Not Found";
	case 405:	return "Method Not Allowed";
	case 406:	return "Not Acceptable";
	case 408:	return "Request Timeout";
	case 409:	return "Conflict";
	case 410:	return "Gone";
	case 411:	return "Length Required";
	case 412:	return "Precondition Failed";
	case 413:	return "Content Too Large";
	case 414:	return "URI Too Long";
	case 415:	return "Unsupported Media Type";
	case 416:	return "Range Not Satisfiable";
	case 417:	return "Expectation Failed";
	case 421:	return "Misdirected Request";
	case 422:	return "Unprocessable Content";
	case 426:	return "Upgrade Required";
	case 428:	return "Precondition Required";
	case 429:	return "Too Many Requests";
	case 431:	return "Request Header Fields Too Large";
	case 500:	return "Internal Server Error";
	case 501:	return "Not Implemented";
	case 502:	return "Bad Gateway";
	case 503:	return "Service Unavailable";
	case 504:	return "Gateway Timeout";
	case 505:	return "HTTP Version Not Supported";
	}
	return "Unknown";
}
