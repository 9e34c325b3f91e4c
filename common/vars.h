/*
 * vars.h: strings with variables ("$name" or "${name}"), as header rules,
 * upstream_host, return and access_log_format write them.  A string is
 * compiled once, when the configuration is loaded, into a list of pieces
 * (literal text, or a variable); it is expanded for each exchange into
 * the caller's strbuf, without allocating, by asking the caller's
 * callback for each variable's value (worker/varsrc.c answers for a
 * request).  The names are nginx's where nginx has one; the list is in
 * portico.ini(5), VARIABLES.
 */
#ifndef PORTICO_VARS_H
#define PORTICO_VARS_H

#include <stddef.h>
#include <stdint.h>

#include "common/strbuf.h"

enum var_id {
	VAR_TEXT = 0,		/* a literal piece, not a variable */
	VAR_REMOTE_ADDR,	/* the client address (realip's when trusted) */
	VAR_REMOTE_PORT,
	VAR_SCHEME,		/* http or https */
	VAR_HOST,		/* the request's host, without port */
	VAR_HTTP_HOST,		/* the Host field as sent (with port) */
	VAR_REQUEST_METHOD,
	VAR_URI,		/* the path (normalized) */
	VAR_ARGS,		/* the query, without '?' */
	VAR_IS_ARGS,		/* "?" when there is a query, else "" */
	VAR_REQUEST_URI,	/* the target as sent */
	VAR_REQUEST,		/* the request line */
	VAR_SERVER_PROTOCOL,	/* HTTP/1.0 or HTTP/1.1 */
	VAR_SSL_PROTOCOL,
	VAR_SSL_CIPHER,
	VAR_SSL_SERVER_NAME,
	VAR_SSL_CLIENT_S_DN,
	VAR_UPSTREAM_ADDR,	/* the server used; empty: none */
	VAR_ROUTE,		/* the route's name */
	VAR_LISTENER,		/* the listener's name */
	VAR_HTTP,		/* $http_NAME: a request field */
	/* Answers: response rules and logs only (VARS_RESPONSE). */
	VAR_STATUS,
	VAR_SENT_HTTP,		/* $sent_http_NAME: a response field */
	/* Logs only (VARS_LOG). */
	VAR_TIME_LOCAL,		/* 02/Dec/2026:16:30:02 +0000 */
	VAR_TIME_ISO8601,	/* 2026-12-02T16:30:02+00:00 */
	VAR_MSEC,		/* seconds since the epoch, with ms */
	VAR_BODY_BYTES_SENT,
	VAR_REQUEST_TIME,	/* seconds, with ms */
	VAR_UPSTREAM_RESPONSE_TIME,
	VAR_REMOTE_USER,	/* always empty: portico does no auth */
	VAR_CACHE_STATUS,	/* the Cache-Status value; empty: none */
	/*
	 * Reserved: known names that nothing fills yet.  The compiler
	 * refuses them (vars_table's avail 0) until the request id and the
	 * PROXY protocol fields are wired in: set avail and answer them in
	 * worker/varsrc.c.
	 */
	VAR_REQUEST_ID,
	VAR_PROXY_PROTOCOL_ADDR,
	VAR_PROXY_PROTOCOL_PORT,
	VAR_PROXY_PROTOCOL_SERVER_ADDR,	/* the PROXY header's destination */
	VAR_PROXY_PROTOCOL_SERVER_PORT,
	VAR_MAX
};

/* Where a string is used: what it may name (vars_compile's ctx). */
#define VARS_REQUEST	0x01	/* request rules, upstream_host, return */
#define VARS_RESPONSE	0x02	/* response rules: + $status, $sent_http_ */
#define VARS_LOG	0x04	/* access log formats: + the log fields */

/* How values are written (vars_expand's esc). */
enum vars_esc {
	VARS_ESC_HEADER = 0,	/* a field value: control bytes dropped */
	VARS_ESC_LOG,		/* nginx's: '"', '\\', controls, >0x7e as \xHH;
				   an empty variable as "-" */
	VARS_ESC_JSON		/* a JSON string's: \" \\ \n \uXXXX */
};

struct var_piece {
	uint8_t		 id;		/* enum var_id */
	uint32_t	 off, len;	/* VAR_TEXT: the text; VAR_HTTP and
					   VAR_SENT_HTTP: the field name
					   (lowercase, '-'), in text */
};

struct vars_fmt {
	struct var_piece	*p;
	size_t			 n;
	char			*text;		/* the pieces' bytes */
	uint64_t		 uses;		/* bit (1 << id) per variable used */
};

/*
 * A variable's value for vars_expand: set *v and *vl (which may point into
 * scratch[0..scap)), return 0; -1: empty.  For VAR_HTTP and VAR_SENT_HTTP
 * name is the field's name (lowercase).
 */
typedef int	(*vars_get_fn)(void *arg, enum var_id id, const char *name,
		    size_t nlen, const char **v, size_t *vl, char *scratch,
		    size_t scap);

/*
 * Compile s (NUL-terminated) into f, for a use of ctx (VARS_* bits).
 * Returns 0, or -1 with a message in err (an unknown or misplaced
 * variable, a "${" without its "}", out of memory); f is then empty.
 */
int	 vars_compile(const char *s, unsigned ctx, struct vars_fmt *f,
	    char *err, size_t errcap);
void	 vars_free(struct vars_fmt *f);
/* Whether a and b were compiled from the same string. */
int	 vars_equal(const struct vars_fmt *a, const struct vars_fmt *b);
/* Whether f is nothing but text (no variable). */
int	 vars_constant(const struct vars_fmt *f);
/* Append f's expansion to b, each value escaped as esc says. */
void	 vars_expand(const struct vars_fmt *f, vars_get_fn get, void *arg,
	    enum vars_esc esc, struct strbuf *b);
/* The name of a variable, for the docs and messages ("remote_addr"). */
const char *	vars_name(enum var_id id);

#endif /* PORTICO_VARS_H */
