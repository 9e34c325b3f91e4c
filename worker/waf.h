/*
 * waf.h: the web application firewall of the exchange: one libmodsecurity
 * transaction per request on a route with waf = on or detect, fed the
 * connection, the request line and head (waf_request, before the body is
 * read), then the body, buffered up to waf_body_limit (waf_body, before
 * the cache lookup and the backend).  The rules are the configuration's,
 * compiled by the master (common/waf.h).
 */
#ifndef PORTICO_WORKER_WAF_H
#define PORTICO_WORKER_WAF_H

struct client;
struct http_response;
struct req;

/*
 * Phase 1: the connection, URI and request head.  STEP_NEXT to go on,
 * else what local_answer() returned (the rule's status, 403 by default,
 * or 413 for a Content-Length over waf_body_limit), or STEP_CLOSED.
 */
enum step	 waf_request(struct client *c);
/* Phase 2: the request body, when waf_request() began a transaction. */
enum step	 waf_body(struct client *c);
/*
 * Phase 3, with waf_response_headers = on: the backend's response head,
 * before anything of it reaches the client.  STEP_NEXT, or the firewall's
 * answer (the upstream connection is then not reused: its body is
 * dropped with it).
 */
enum step	 waf_response(struct client *c, const struct http_response *rs);
/* The end of the exchange: the transaction's logging phase, then freed. */
void		 waf_end(struct req *r);

#endif /* PORTICO_WORKER_WAF_H */
