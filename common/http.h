/*
 * http.h: strict HTTP/1.x message head (http.c) and chunked body
 * (chunked.c) parsing (RFC 9112), and field-value lists (httplist.c).
 *
 * The parsers never copy and never allocate: results point into the
 * caller's buffer, which must stay unchanged while they are used.  They
 * parse a head from its first byte each time they are called; a head that
 * arrives in pieces is simply parsed again when more bytes are in.
 *
 * Return convention of the head parsers:
 *   HTTP_PARSE_OK     (0)  a whole head was parsed; ->head_len is its size
 *   HTTP_PARSE_AGAIN  (-1) the head is not complete yet and within limits
 *   > 0                    the message is bad: the HTTP status to answer
 *                          with (400, 414, 417, 431, 501, 505 for
 *                          requests; 502 for responses); ->error names
 *                          the reason in a few words, for the log.
 */
#ifndef PORTICO_HTTP_H
#define PORTICO_HTTP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define HTTP_PARSE_OK		0
#define HTTP_PARSE_AGAIN	(-1)

enum http_method {
	HTTP_M_OTHER = 0,
	HTTP_M_GET,
	HTTP_M_HEAD,
	HTTP_M_POST,
	HTTP_M_PUT,
	HTTP_M_DELETE,
	HTTP_M_OPTIONS,
	HTTP_M_PATCH,
	HTTP_M_TRACE,
	HTTP_M_CONNECT
};

struct http_header {
	const char	*name;
	const char	*value;		/* leading and trailing OWS removed */
	uint32_t	 name_len;
	uint32_t	 value_len;
};

struct http_limits {
	size_t		 max_request_line;	/* longer request line: 414 */
	size_t		 max_head;		/* longer head: 431 (502 for responses) */
	size_t		 max_headers;		/* more header fields: 431 (502) */
};

struct http_request {
	enum http_method	 method;
	const char		*method_str;
	size_t			 method_len;
	const char		*target;	/* as sent */
	size_t			 target_len;
	const char		*path;		/* origin-form path (no query); in target */
	size_t			 path_len;
	const char		*query;		/* after '?', NULL if none */
	size_t			 query_len;
	int			 absolute_form;	/* target was http://authority/... */
	int			 version;	/* 10 or 11 */
	const char		*host;		/* Host (or authority of absolute-form), with port */
	size_t			 host_len;
	int64_t			 content_length;	/* -1: none */
	unsigned		 chunked:1;
	unsigned		 keep_alive:1;		/* per version and Connection */
	unsigned		 expect_continue:1;	/* Expect: 100-continue */
	unsigned		 upgrade:1;		/* an Upgrade field was present */
	size_t			 head_len;	/* bytes, incl. leading empty lines and final CRLF CRLF */
	struct http_header	*headers;	/* the caller's array */
	size_t			 nheaders;
	const char		*error;
};

struct http_response {
	int			 version;	/* 10 or 11 */
	int			 status;	/* 100..599 */
	const char		*reason;
	size_t			 reason_len;
	int64_t			 content_length;	/* -1: none */
	unsigned		 chunked:1;
	unsigned		 keep_alive:1;	/* server lets the connection be reused */
	size_t			 head_len;
	struct http_header	*headers;
	size_t			 nheaders;
	const char		*error;
};

/*
 * Parse a request head from buf[0..len).  hdrs has room for
 * lim->max_headers entries.  Checks, among others: token method, target
 * bytes, version, field-name tokens, field-value bytes, obs-fold, bare CR
 * or LF, exactly one Host in HTTP/1.1, Content-Length syntax and
 * conflicts, Transfer-Encoding (chunked only; else 501) and its
 * combination with Content-Length, Expect values (417), the Host syntax
 * (400).  The path is left as sent: worker/uri.h normalizes it.
 */
int	http_parse_request(const char *buf, size_t len, const struct http_limits *lim,
	    struct http_request *req, struct http_header *hdrs);

/*
 * Parse a response head from buf[0..len).  Any error answers 502.
 * Whether a body follows depends on the request method: see
 * http_response_has_body().
 */
int	http_parse_response(const char *buf, size_t len, const struct http_limits *lim,
	    struct http_response *resp, struct http_header *hdrs);

/*
 * Whether a response to req_method with this status carries a body per
 * RFC 9112 section 6.3 (HEAD, 1xx, 204, 304: no).
 */
int	http_response_has_body(enum http_method req_method, int status);

/*
 * Chunked transfer coding, incremental (common/chunked.c).  http_chunked_parse() consumes
 * bytes from buf[0..len) and returns how many it consumed, or -1 on a
 * syntax error (bad hex, size over 64 bits, bad extension, chunk-size
 * line over 4 KiB, missing CRLF, bad trailer field, trailer section over
 * 16 KiB).  ->padding counts the chunk-size line bytes that carry no
 * size (blanks, extensions, leading zeros after the first), over the
 * whole body, for a caller that bounds them.  ->trailer_len counts the trailer section bytes consumed so
 * far (the fields and the final CRLF): they are the last ones of each
 * call's consumed range.  When it stops because it
 * reached chunk data, *data_off and *data_len give the data bytes inside
 * the consumed range (at most one data run per call; *data_len 0 if none).
 * ->done is set once the last chunk and trailer section are consumed; the
 * function then consumes nothing more.
 */
struct http_chunked {
	int		 state;
	uint64_t	 remaining;	/* data bytes left in the current chunk */
	size_t		 nsize;		/* hex digits seen in the size */
	size_t		 line_len;	/* bytes of the chunk-size line so far */
	uint64_t	 padding;	/* framing bytes beyond the minimum: blanks,
					   extensions, leading zeros after the first */
	size_t		 trailer_len;
	unsigned	 done:1;
};

void	http_chunked_init(struct http_chunked *ck);
ssize_t	http_chunked_parse(struct http_chunked *ck, const char *buf, size_t len,
	    size_t *data_off, size_t *data_len);

/* Whether the field is named name (a C string), ignoring case. */
int	http_name_eq(const struct http_header *h, const char *name);

/*
 * The one ASCII case-insensitive compare of portico (field names, tokens,
 * directives, schemes: HTTP's case-insensitive parts are ASCII only, so
 * no locale).  Inline: the parser and the caching rules call them on
 * every field of every head.
 */
static inline unsigned char
http_lower(unsigned char c)
{
	return (unsigned char)(c - 'A') < 26 ? c | 0x20 : c;
}

/*
 * Whether a[0..n) equals l[0..n), ignoring case in a; l is already lower
 * case (a literal), so only a is folded.
 */
static inline int
http_lc_eq(const char *a, const char *l, size_t n)
{
	size_t	 i;

	for (i = 0; i < n; i++)
		if (http_lower((unsigned char)a[i]) != (unsigned char)l[i])
			return 0;
	return 1;
}

/* Whether a[0..n) and b[0..n) are equal ignoring case in both. */
static inline int
http_ci_eq(const char *a, const char *b, size_t n)
{
	size_t	 i;

	for (i = 0; i < n; i++)
		if (http_lower((unsigned char)a[i]) !=
		    http_lower((unsigned char)b[i]))
			return 0;
	return 1;
}

/* Byte classes: 1 for the bytes in the class, else 0. */
extern const uint8_t	 http_tchar[256];	/* tchar, RFC 9110 5.6.2 */
extern const uint8_t	 http_fvchar[256];	/* field-value bytes: HTAB, SP,
						   VCHAR, obs-text */
/* Hex digits: their value plus one; 0 for other bytes. */
extern const uint8_t	 http_hexval[256];

/*
 * Lists in field values (common/httplist.c): RFC 9110 5.6.1 #list.
 *
 * http_list_next() gives the next element of the comma-separated value
 * v[0..n) from *pos (0 at first): the blanks around elements are dropped,
 * empty elements skipped, and a comma inside a quoted-string does not
 * split (an unclosed quoted-string runs to the end of the value).
 * Returns 1 with the element in *ep, *elen, or 0 at the end.
 */
int	http_list_next(const char *v, size_t n, size_t *pos, const char **ep,
	    size_t *elen);
/* Whether a list element equals token (a C string), ignoring case. */
int	http_list_has(const char *value, size_t len, const char *token);

/*
 * One list element read as token [ "=" ( token / quoted-string ) ]
 * [ OWS ";" parameters ]: a Cache-Control directive, a transfer coding,
 * a parameter.
 */
struct http_elem {
	const char	*name;		/* the leading token (name_len 0: none) */
	size_t		 name_len;
	const char	*arg;		/* after "=": the token, or what is between
					   the quotes, escapes left as sent */
	size_t		 arg_len;
	const char	*params;	/* from the first ";" to the end, or NULL */
	size_t		 params_len;
	unsigned	 has_arg:1;	/* there was a "=" */
	unsigned	 quoted:1;	/* the argument was a quoted-string */
	unsigned	 bad:1;		/* no name, an unclosed quoted-string, or
					   other bytes after name [= arg] */
};

/* Read s[0..n) (one element, its blanks dropped) into *el. */
void	http_elem_parse(const char *s, size_t n, struct http_elem *el);
/* http_list_next(), the element read by http_elem_parse(). */
int	http_elem_next(const char *v, size_t n, size_t *pos,
	    struct http_elem *el);
/*
 * The next ";"-separated parameter of el->params[0..params_len) from
 * *pos (0 at first), read like an element.  Returns 1, or 0 at the end.
 */
int	http_param_next(const char *p, size_t n, size_t *pos,
	    struct http_elem *el);

/*
 * The tokens of a #token list such as Connection, from *pos (0 at
 * first): split at commas and at blanks, so "a b" gives a and b.
 * Returns 1 with the token in *tp, *tl, or 0 at the end.
 */
int	http_token_next(const char *v, size_t n, size_t *pos, const char **tp,
	    size_t *tl);
/* Whether such a list holds token (a C string), ignoring case. */
int	http_token_has(const char *v, size_t n, const char *token);

/*
 * The options of every Connection field among h[0..n), in order:
 *	struct http_conn_iter it = HTTP_CONN_ITER_INIT;
 *	while (http_conn_next(h, n, &it, &t, &tl)) ...
 */
struct http_conn_iter {
	size_t		 field;		/* the field being read */
	size_t		 pos;		/* in its value */
};
#define HTTP_CONN_ITER_INIT	{ 0, 0 }
int	http_conn_next(const struct http_header *h, size_t n,
	    struct http_conn_iter *it, const char **tp, size_t *tl);
/* Whether a Connection field among h[0..n) names name[0..len). */
int	http_conn_lists(const struct http_header *h, size_t n, const char *name,
	    size_t len);
/*
 * Whether name[0..len) is a hop-by-hop field, never forwarded nor stored
 * as it is: Connection, Keep-Alive, TE, Trailer, Transfer-Encoding,
 * Upgrade, and every Proxy-* field (Proxy-Connection, the proxy
 * authentication fields...); httplist.c says why each.  Not
 * Content-Length: that is framing, for a re-framing caller to drop.
 * Fields a Connection field names are hop-by-hop too: http_conn_lists().
 */
int	http_is_hop_by_hop(const char *name, size_t len);

const char	*http_method_name(enum http_method m);
const char	*http_status_reason(int status);

#endif /* PORTICO_HTTP_H */
