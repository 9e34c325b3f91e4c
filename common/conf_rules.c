/*
 * conf_rules.c: the keys that rewrite an exchange: a route's header rules
 * (request_header_set/add/remove, response_header_set/add/remove with
 * their "always" flag), upstream_host and return; and [global]'s
 * access_log_format.  Their values may hold variables (common/vars.h),
 * compiled here, once, so that a bad one is a file:line error.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <ctype.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/conf.h"
#include "common/conf_int.h"
#include "common/http.h"
#include "common/log.h"
#include "common/vars.h"

static void	 rule_add(struct loader *, struct conf_rules *, int, enum hdr_op,
		    const char *, const char *);
static const char *	rule_refused(const char *, size_t, int);
static void	 cache_warn_fmt(struct loader *, const struct conf_route *,
		    int, const char *, const struct vars_fmt *);

/* The built-in formats of access_log_format (nginx's, and JSON). */
static const char fmt_combined[] = "$remote_addr - $remote_user [$time_local] "
    "\"$request\" $status $body_bytes_sent \"$http_referer\" "
    "\"$http_user_agent\"";
static const char fmt_common[] = "$remote_addr - $remote_user [$time_local] "
    "\"$request\" $status $body_bytes_sent";
static const char fmt_json[] = "{\"time\":\"$time_iso8601\","
    "\"remote_addr\":\"$remote_addr\",\"remote_port\":\"$remote_port\","
    "\"request_method\":\"$request_method\",\"scheme\":\"$scheme\","
    "\"host\":\"$host\",\"request_uri\":\"$request_uri\","
    "\"server_protocol\":\"$server_protocol\",\"status\":$status,"
    "\"body_bytes_sent\":$body_bytes_sent,\"request_time\":$request_time,"
    "\"upstream_addr\":\"$upstream_addr\","
    "\"upstream_response_time\":\"$upstream_response_time\","
    "\"route\":\"$route\",\"cache_status\":\"$cache_status\","
    "\"http_referer\":\"$http_referer\","
    "\"http_user_agent\":\"$http_user_agent\","
    "\"ssl_protocol\":\"$ssl_protocol\"}";

/*
 * Whether a rule may name the field n[0..len): not the framing, the
 * hop-by-hop fields or Host (upstream_host sets that), nor on a request
 * the fields portico writes itself.  Returns why not, or NULL.
 */
static const char *
rule_refused(const char *n, size_t len, int request)
{
	static const char *const framing[] = {
		"content-length", "transfer-encoding", "connection",
		"keep-alive", "proxy-connection", "te", "trailer", "upgrade",
		NULL
	};
	static const char *const ours[] = {
		"x-forwarded-for", "x-forwarded-proto", "x-forwarded-host",
		"x-real-ip", "x-client-cert-subject", "via", NULL
	};
	size_t	 i;

	for (i = 0; framing[i] != NULL; i++)
		if (strlen(framing[i]) == len && strncasecmp(framing[i], n,
		    len) == 0)
			return "it frames the message or is hop-by-hop: "
			    "portico writes it";
	if (len == 4 && strncasecmp(n, "host", 4) == 0)
		return request ? "the backend's Host is set by upstream_host" :
		    "Host is not a response field";
	for (i = 0; request && ours[i] != NULL; i++)
		if (strlen(ours[i]) == len && strncasecmp(ours[i], n, len) == 0)
			return "portico writes it itself";
	return NULL;
}

/*
 * One rule "NAME [VALUE ...] [always]" (always: response rules only, at
 * the end, after a value for set and add) appended to the route's list.
 */
static void
rule_add(struct loader *ld, struct conf_rules *r, int request, enum hdr_op op,
    const char *key, const char *v)
{
	struct conf_hdr_rule	 rule, *nr;
	char			 err[160], *val = NULL;
	const char		*p, *why;
	size_t			 nl, vl;

	memset(&rule, 0, sizeof(rule));
	for (nl = 0; v[nl] != '\0' && v[nl] != ' ' && v[nl] != '\t'; nl++)
		if (!http_tchar[(unsigned char)v[nl]]) {
			conf_err(ld, ld->lineno, "%s: bad field name in '%s'",
			    key, v);
			return;
		}
	if (nl == 0) {
		conf_err(ld, ld->lineno, "%s needs a field name", key);
		return;
	}
	if ((why = rule_refused(v, nl, request)) != NULL) {
		conf_err(ld, ld->lineno, "%s: cannot change %.*s: %s", key,
		    (int)nl, v, why);
		return;
	}
	for (p = v + nl; *p == ' ' || *p == '\t'; p++)
		;
	vl = strlen(p);
	while (vl > 0 && (p[vl - 1] == ' ' || p[vl - 1] == '\t'))
		vl--;
	/* A last word "always": the response rule holds for portico's own. */
	if (!request && vl >= 6 && strncmp(p + vl - 6, "always", 6) == 0 &&
	    (vl == 6 || p[vl - 7] == ' ' || p[vl - 7] == '\t') &&
	    (op == HDR_REMOVE || vl > 6)) {
		rule.always = 1;
		vl -= 6;
		while (vl > 0 && (p[vl - 1] == ' ' || p[vl - 1] == '\t'))
			vl--;
	}
	if (op == HDR_REMOVE && vl > 0) {
		conf_err(ld, ld->lineno, "%s takes a field name only%s", key,
		    request ? "" : " (and always)");
		return;
	}
	if (op != HDR_REMOVE && vl == 0) {
		conf_err(ld, ld->lineno, "%s needs a value after the name",
		    key);
		return;
	}
	if ((val = malloc(vl + 1)) == NULL || (rule.name = malloc(nl + 1)) ==
	    NULL) {
		free(val);
		conf_err(ld, ld->lineno, "out of memory");
		return;
	}
	memcpy(val, p, vl);
	val[vl] = '\0';
	memcpy(rule.name, v, nl);
	rule.name[nl] = '\0';
	rule.name_len = nl;
	rule.op = op;
	rule.line = ld->lineno;
	if (vars_compile(val, request ? VARS_REQUEST : VARS_REQUEST |
	    VARS_RESPONSE, &rule.value, err, sizeof(err)) == -1) {
		conf_err(ld, ld->lineno, "%s: %s", key, err);
		free(val);
		free(rule.name);
		return;
	}
	free(val);
	nr = reallocarray(request ? r->req : r->resp,
	    (request ? r->nreq : r->nresp) + 1, sizeof(*nr));
	if (nr == NULL) {
		conf_err(ld, ld->lineno, "out of memory");
		vars_free(&rule.value);
		free(rule.name);
		return;
	}
	if (request) {
		r->req = nr;
		r->req[r->nreq++] = rule;
	} else {
		r->resp = nr;
		r->resp[r->nresp++] = rule;
		if (rule.always)
			r->resp_always = 1;
	}
}

/*
 * The six keys, on a route (conf_key_*) and on a listener
 * (conf_key_l_*): the same rules, in their object's list.
 */
#define RULE_KEYS(fn, req, op, key)					\
void									\
conf_key_##fn(struct loader *ld, void *obj, const char *v)		\
{									\
	rule_add(ld, &((struct conf_route *)obj)->rules, req, op, key, v); \
}									\
void									\
conf_key_l_##fn(struct loader *ld, void *obj, const char *v)		\
{									\
	rule_add(ld, &((struct conf_listener *)obj)->rules, req, op, key, v); \
}
RULE_KEYS(request_header_set, 1, HDR_SET, "request_header_set")
RULE_KEYS(request_header_add, 1, HDR_ADD, "request_header_add")
RULE_KEYS(request_header_remove, 1, HDR_REMOVE, "request_header_remove")
RULE_KEYS(response_header_set, 0, HDR_SET, "response_header_set")
RULE_KEYS(response_header_add, 0, HDR_ADD, "response_header_add")
RULE_KEYS(response_header_remove, 0, HDR_REMOVE, "response_header_remove")
#undef RULE_KEYS

/* upstream_host = NAME (variables allowed): the Host the backend gets. */
void
conf_key_upstream_host(struct loader *ld, void *obj, const char *v)
{
	struct conf_route	*r = obj;
	struct vars_fmt		 f;
	char			 err[160];
	const char		*p;

	for (p = v; *p != '\0'; p++)
		if ((unsigned char)*p <= 0x20 || *p == 0x7f) {
			conf_err(ld, ld->lineno, "bad upstream_host '%s': "
			    "no blanks or control bytes", v);
			return;
		}
	if (*v == '\0') {
		conf_err(ld, ld->lineno, "upstream_host needs a name");
		return;
	}
	if (vars_compile(v, VARS_REQUEST, &f, err, sizeof(err)) == -1) {
		conf_err(ld, ld->lineno, "upstream_host: %s", err);
		return;
	}
	vars_free(&r->upstream_host);
	r->upstream_host = f;
}

/*
 * return = STATUS [TEXT|URL]: 200..599 with a text/plain body, or
 * 301, 302, 303, 307, 308 with the URL for Location (needed).
 */
void
conf_key_return(struct loader *ld, void *obj, const char *v)
{
	struct conf_route	*r = obj;
	struct vars_fmt		 f;
	char			 err[160], *end;
	const char		*p;
	long			 st;
	int			 redirect;

	st = strtol(v, &end, 10);
	if (end == v || (*end != '\0' && *end != ' ' && *end != '\t') ||
	    st < 200 || st > 599 || (st >= 300 && st < 400 && st != 301 &&
	    st != 302 && st != 303 && st != 307 && st != 308)) {
		conf_err(ld, ld->lineno, "bad return '%s': expected a status "
		    "(2xx, 4xx, 5xx, or 301, 302, 303, 307, 308) and a text "
		    "or URL", v);
		return;
	}
	for (p = end; *p == ' ' || *p == '\t'; p++)
		;
	redirect = st >= 300 && st < 400;
	if (redirect && *p == '\0') {
		conf_err(ld, ld->lineno, "return %ld needs the URL to send "
		    "the client to", st);
		return;
	}
	if ((st == 204 || st == 205) && *p != '\0') {
		conf_err(ld, ld->lineno, "return %ld has no body: a text after "
		    "it cannot be sent", st);
		return;
	}
	if (vars_compile(p, VARS_REQUEST, &f, err, sizeof(err)) == -1) {
		conf_err(ld, ld->lineno, "return: %s", err);
		return;
	}
	vars_free(&r->ret_text);
	r->ret_text = f;
	r->ret_status = (int)st;
}

/* Free a list of rules. */
void
conf_rules_clear(struct conf_rules *r)
{
	size_t	 i;

	for (i = 0; i < r->nreq; i++) {
		free(r->req[i].name);
		vars_free(&r->req[i].value);
	}
	for (i = 0; i < r->nresp; i++) {
		free(r->resp[i].name);
		vars_free(&r->resp[i].value);
	}
	free(r->req);
	free(r->resp);
	memset(r, 0, sizeof(*r));
}

/* Free what a route's keys of this file took. */
void
conf_route_rules_clear(struct conf_route *r)
{
	conf_rules_clear(&r->rules);
	vars_free(&r->alog.fmt);
	conf_alogset_clear(&r->alogs);
	vars_free(&r->upstream_host);
	vars_free(&r->ret_text);
}

/*
 * access_log_format = portico | combined | common | json | FORMAT (a
 * string with variables, escaped as nginx's escape=default), into
 * *kind, *json and *fmt (freed first).  Returns 0, or -1 after conf_err.
 */
int
conf_alog_format(struct loader *ld, const char *v, int *kind, int *json,
    struct vars_fmt *fmt)
{
	struct vars_fmt	 f;
	const char	*s = v;
	char		 err[160];
	int		 js = 0;

	if (strcmp(v, "portico") == 0) {
		vars_free(fmt);
		*kind = ALOG_PORTICO;
		*json = 0;
		return 0;
	}
	if (strcmp(v, "combined") == 0)
		s = fmt_combined;
	else if (strcmp(v, "common") == 0)
		s = fmt_common;
	else if (strcmp(v, "json") == 0) {
		s = fmt_json;
		js = 1;
	}
	if (vars_compile(s, VARS_REQUEST | VARS_LOG | VARS_RESPONSE, &f, err,
	    sizeof(err)) == -1) {
		conf_err(ld, ld->lineno, "access_log_format: %s", err);
		return -1;
	}
	if (f.uses & ((uint64_t)1 << VAR_SENT_HTTP)) {
		vars_free(&f);
		conf_err(ld, ld->lineno, "access_log_format: $sent_http_ "
		    "fields are only known to response header rules");
		return -1;
	}
	vars_free(fmt);
	*fmt = f;
	*kind = ALOG_FMT;
	*json = js;
	return 0;
}

void
conf_key_access_log_format(struct loader *ld, void *obj, const char *v)
{
	struct conf_global	*g = obj;

	(void)conf_alog_format(ld, v, &g->alog_kind, &g->alog_json, &g->alog_fmt);
}

/* The same on a listener and on a route: for their requests only. */
void
conf_key_l_access_log_format(struct loader *ld, void *obj, const char *v)
{
	struct conf_alogfmt	*a = &((struct conf_listener *)obj)->alog;

	if (conf_alog_format(ld, v, &a->kind, &a->json, &a->fmt) == 0)
		a->set = 1;
}

void
conf_key_r_access_log_format(struct loader *ld, void *obj, const char *v)
{
	struct conf_alogfmt	*a = &((struct conf_route *)obj)->alog;

	if (conf_alog_format(ld, v, &a->kind, &a->json, &a->fmt) == 0)
		a->set = 1;
}

/*
 * A request field ($http_NAME) put by a cached route into what its backend
 * sees: the cache key leaves that field out, so the variant made for one
 * client would be served to others.  A warning, not an error (the backend
 * may send Vary): on stderr for portico -t, in the error log on a reload.
 */
static void
cache_warn_fmt(struct loader *ld, const struct conf_route *r, int line,
    const char *key, const struct vars_fmt *f)
{
	char		 vn[128];
	const char	*n;
	size_t		 i, k, len;

	for (i = 0; i < f->n; i++) {
		if (f->p[i].id != VAR_HTTP)
			continue;
		n = f->text + f->p[i].off;
		len = f->p[i].len;
		for (k = 0; k < len && k < sizeof(vn) - 1; k++)
			vn[k] = n[k] == '-' ? '_' : n[k];
		vn[k] = '\0';
		log_warnx("%s:%d: warning: route '%s': %s uses $http_%s but "
		    "the cache key leaves the request's %.*s field out, so one "
		    "client's variant would be served to others: have the "
		    "backend send Vary: %.*s, or set cache = off", ld->file,
		    line, r->name, key, vn, (int)len, n, (int)len, n);
	}
}

/*
 * Warn about a route with cache = on whose request rules (its listener's
 * too) or upstream_host change what its backend sees by a request field.
 * upstream_line: the line of upstream_host (0: none).
 */
void
conf_rules_cache_warn(struct loader *ld, const struct conf_route *r,
    int upstream_line)
{
	const struct conf_rules	*rs[2];
	size_t			 j, k;

	if (!r->cache)
		return;
	rs[0] = r->listener != NULL ? &r->listener->rules : NULL;
	rs[1] = &r->rules;
	for (k = 0; k < 2; k++)
		for (j = 0; rs[k] != NULL && j < rs[k]->nreq; j++)
			cache_warn_fmt(ld, r, rs[k]->req[j].line,
			    rs[k]->req[j].op == HDR_ADD ? "request_header_add" :
			    "request_header_set", &rs[k]->req[j].value);
	if (upstream_line > 0)
		cache_warn_fmt(ld, r, upstream_line, "upstream_host",
		    &r->upstream_host);
}
