/*
 * reqid.h: following a request (request_id, trace in [global]): the
 * request id and the W3C trace context of each exchange, chosen when it
 * begins and kept in its struct req (reqid, tp), where the access log,
 * the error log and the heads both ways read them.
 */
#ifndef PORTICO_REQID_H
#define PORTICO_REQID_H

#include <stddef.h>
#include <stdint.h>

#include "common/strbuf.h"

#define REQID_MAX	64	/* longest id taken from a trusted proxy */
#define TRACEPARENT_LEN	55	/* "00-" 32 hex "-" 16 hex "-" 2 hex */

struct client;
struct req;
struct http_request;
struct http_header;

/* Whether v[0..n) is an id portico takes: 1..64 of [A-Za-z0-9._:+/=-]. */
int	 reqid_valid(const char *v, size_t n);
/*
 * Whether v[0..n) is a valid traceparent (W3C Trace Context level 1,
 * version 00 or a later version's prefix); 1 or 0.
 */
int	 reqid_traceparent_valid(const char *v, size_t n);
/* Fill out[0..2n) with n random bytes in lowercase hex (no NUL). */
void	 reqid_random_hex(char *out, size_t n);
/* The exchange of c begins: its id and trace context (exchange_begin). */
void	 reqid_begin(struct client *c, const struct http_request *rq);
/*
 * Whether the client's field h is replaced by reqid_fields() (the id
 * field, traceparent, a tracestate whose traceparent is gone).
 */
int	 reqid_field_ours(const struct req *r, const struct http_header *h);
/* Whether h is a field of the request id's name (request_id_header). */
int	 reqid_id_field(const struct http_header *h);
/* The fields of the id and trace context for the backend, into b. */
void	 reqid_fields(const struct req *r, struct strbuf *b);
/* The request id header's name, and its length. */
const char	*reqid_header(size_t *len);
/* The same, lowercase (the worker's configuration does not change). */
const char	*reqid_header_lc(void);
/* The error log's context (log.h): the id of c's exchange, or NULL. */
const char	*reqid_log_context(void *c);

#endif /* PORTICO_REQID_H */
