/*
 * http.h: strict HTTP/1.x message head and chunked body parsing (RFC 9112).
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
 * Chunked transfer coding, incremental.  http_chunked_parse() consumes
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

/* Case-insensitive comparisons for header names and list tokens. */
int	http_name_eq(const struct http_header *h, const char *name);
/*
 * The next element of a comma-separated field value v[0..n) from *pos:
 * empty elements and the blanks around elements are skipped.  Returns 1
 * with the element in *ep, *elen, or 0 at the end.
 */
int	http_list_next(const char *v, size_t n, size_t *pos, const char **ep,
	    size_t *elen);
/* Whether a comma-separated field value lists token (case-insensitive). */
int	http_list_has(const char *value, size_t len, const char *token);

const char	*http_method_name(enum http_method m);
const char	*http_status_reason(int status);

#endif /* PORTICO_HTTP_H */
