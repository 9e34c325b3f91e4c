/*
 * varsrc.h: the values of the variables (common/vars.h) for one exchange,
 * and what uses them in the worker: the header rules applied to a head
 * being built, the Host of upstream_host, return's answer and the access
 * log formats.
 */
#ifndef PORTICO_VARSRC_H
#define PORTICO_VARSRC_H

#include <stddef.h>

#include "common/conf.h"
#include "common/http.h"
#include "common/strbuf.h"
#include "common/vars.h"
#include "worker/proxy_int.h"

struct client;
struct req;

/* Where the values come from: any pointer may be NULL (none known). */
struct varsrc {
	const struct client		*c;
	const struct req		*r;
	const struct http_request	*rq;	/* the client's request */
	const char			*ip;	/* the client; NULL: c's */
	int				 https;	/* without c */
	const struct strbuf		*head;	/* $sent_http_: a head being built */
};

/* The vars_get_fn of an exchange (arg: a struct varsrc). */
int	 varsrc_get(void *arg, enum var_id id, const char *name, size_t nlen,
	    const char **v, size_t *vl, char *scratch, size_t scap);
/*
 * Apply rules[0..n) in order to the head in b (its start line, then
 * fields, each "name: value\r\n"; no empty line yet): set and remove
 * drop every field of the name, set and add then append theirs.  With
 * always_only, only the rules marked always.
 */
void	 hdr_rules_apply(struct strbuf *b, const struct conf_hdr_rule *rules,
	    size_t n, int always_only, struct varsrc *vs);
/*
 * The response rules of the listener and the route of c's request for
 * the whole head in b (ending in its empty line): the answer is portico's own (local: the always rules only), or the
 * backend's or the cache's.
 */
void	 resp_rules_apply(struct client *c, struct strbuf *b, int local);
/*
 * The request rules of the listener and the route, and upstream_host,
 * applied to the request head for the backend in b (whole, with its
 * empty line); rq is the client's request.
 */
void	 req_rules_apply(struct client *c, const struct http_request *rq,
	    struct strbuf *b);
/*
 * return = STATUS [TEXT|URL] of c's route: a redirect to the URL, or
 * the status with the text as a text/plain body; no backend.
 */
enum step	 return_answer(struct client *c, const struct http_request *rq);
/*
 * The access log line of c's exchange in the format f (escaped as JSON
 * when json is set) into line[0..cap), cut to fit and ending in a
 * newline.  Returns its length, newline included.
 */
size_t	 accesslog_vars(struct client *c, const struct vars_fmt *f, int json,
	    char *line, size_t cap);
/* Whether those may change the request field n (lowercase). */
int	 req_rules_name(const struct client *c, const char *n, size_t len);

/*
 * Whether c's listener or route has request rules (or upstream_host),
 * response rules: inline, so that the path without rules pays a test.
 */
static inline int
req_rules_on(const struct client *c)
{
	const struct conf_route	*rt = c->r->route;

	return c->ls->conf->rules.nreq > 0 || (rt != NULL &&
	    (rt->rules.nreq > 0 || rt->upstream_host.n > 0));
}

static inline int
resp_rules_any(const struct client *c)
{
	const struct conf_route	*rt = c->r->route;

	return c->ls->conf->rules.nresp > 0 || (rt != NULL &&
	    rt->rules.nresp > 0);
}

#endif /* PORTICO_VARSRC_H */
