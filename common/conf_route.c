/*
 * conf_route.c: the [route NAME] sections: what a request is matched on
 * (listener, host, path prefix), where it goes (an upstream, or the
 * status handler), who may use it (allow), its caching and its forwarding
 * options; then, once the file is read, the references to listeners and
 * upstreams and the routes that would shadow each other.
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
#include "common/htpasswd.h"
#include "common/http.h"

static void	 key_host(struct loader *, void *, const char *);
static void	 key_path(struct loader *, void *, const char *);
static void	 key_cache(struct loader *, void *, const char *);
static void	 key_handler(struct loader *, void *, const char *);
static void	 key_allow(struct loader *, void *, const char *);
static void	 key_deny(struct loader *, void *, const char *);
static void	 key_cache_set_cookie(struct loader *, void *, const char *);
static void	 key_cache_request_no_cache(struct loader *, void *, const char *);
static void	 key_cache_targeted_fields(struct loader *, void *, const char *);
static void	 targeted_clear(struct conf_route *);
static void	 key_hsts(struct loader *, void *, const char *);
static int	 hsts_age(const char *, int64_t *);
static void	 key_request_buffering(struct loader *, void *, const char *);
static int	 route_defaults(struct loader *, struct conf_route *);
static int	 route_taken(struct loader *, const char *, const char **);
static int	 route_open(struct loader *, char *);
static void	 route_discard(struct loader *);
static void	 route_finish(struct loader *);
static void	 key_upgrade_allow(struct loader *, void *, const char *);
static void	 key_waf(struct loader *, void *, const char *);
static void	 route_listener_finish(struct loader *, size_t);
static void	 route_target_finish(struct loader *, size_t);
static void	 route_unique(struct loader *, size_t);
static void	 key_auth_basic(struct loader *, void *, const char *);
static void	 route_auth_finish(struct loader *, size_t);

#define R(f)	offsetof(struct conf_route, f)

static const struct key route_keys[] = {
	{ "listener", K_STRING, R(listener_name), 0, 0, 0, NULL, NULL },
	{ "host", K_FUNC, 0, 0, 0, 0, key_host, NULL },
	{ "path", K_FUNC, 0, 0, 0, 0, key_path, NULL },
	{ "upstream", K_STRING, R(upstream_name), 0, 0, 0, NULL, NULL },
	{ "cache", K_FUNC, 0, 0, 0, 0, key_cache, NULL },
	{ "handler", K_FUNC, 0, 0, 0, 0, key_handler, NULL },
	{ "allow", K_FUNC, 0, 0, 0, 1, key_allow, NULL },
	{ "deny", K_FUNC, 0, 0, 0, 1, key_deny, NULL },
	{ "cache_set_cookie", K_FUNC, 0, 0, 0, 0, key_cache_set_cookie, NULL },
	{ "cache_request_no_cache", K_FUNC, 0, 0, 0, 0,
	    key_cache_request_no_cache, NULL },
	{ "cache_default_ttl", K_DURATION, R(cache_default_ttl_ms), 0, 0, 0,
	    NULL, NULL },
	{ "cache_stale_if_error", K_DURATION, R(cache_stale_if_error_ms), 0, 0, 0,
	    NULL, NULL },
	{ "cache_targeted_fields", K_FUNC, 0, 0, 0, 0, key_cache_targeted_fields,
	    NULL },
	{ "cache_targeted_strip", K_ONOFF, R(cache_targeted_strip), 0, 0, 0,
	    NULL, NULL },
	{ "normalize_path", K_ONOFF, R(normalize_path), 0, 0, 0, NULL, NULL },
	{ "pass_client_identity_headers", K_ONOFF,
	    R(pass_client_identity_headers), 0, 0, 0, NULL, NULL },
	/* TLS */
	{ "hsts", K_FUNC, 0, 0, 0, 0, key_hsts, NULL },
	{ "request_buffering", K_FUNC, 0, 0, 0, 0, key_request_buffering, NULL },
	/* Upgrades (WebSocket): worker/tunnel.c */
	{ "websocket", K_ONOFF, R(websocket), 0, 0, 0, NULL, NULL },
	{ "upgrade_allow", K_FUNC, 0, 0, 0, 0, key_upgrade_allow, NULL },
	{ "tunnel_idle_timeout", K_DURATION, R(tunnel_idle_timeout_ms), 1, 0, 0,
	    NULL, NULL },
	/* Limits (conf_limit.c) */
	{ "limit", K_FUNC, 0, 0, 0, 0, conf_route_limit_key, NULL },
	/* Basic authentication: worker/auth.c */
	{ "auth_basic", K_FUNC, 0, 0, 0, 0, key_auth_basic, NULL },
	{ "auth_basic_file", K_STRING, R(auth_file), 0, 0, 0, NULL, NULL },
	{ "auth_basic_forward", K_ONOFF, R(auth_forward), 0, 0, 0, NULL, NULL },
	/* The web application firewall: worker/waf.c */
	{ "waf", K_FUNC, 0, 0, 0, 0, key_waf, NULL },
	{ "waf_response_headers", K_ONOFF, R(waf_resp), 0, 0, 0, NULL, NULL },
	/* Rewriting (common/conf_rules.c) */
	{ "request_header_set", K_FUNC, 0, 0, 0, 1,
	    conf_key_request_header_set, NULL },
	{ "request_header_add", K_FUNC, 0, 0, 0, 1,
	    conf_key_request_header_add, NULL },
	{ "request_header_remove", K_FUNC, 0, 0, 0, 1,
	    conf_key_request_header_remove, NULL },
	{ "response_header_set", K_FUNC, 0, 0, 0, 1,
	    conf_key_response_header_set, NULL },
	{ "response_header_add", K_FUNC, 0, 0, 0, 1,
	    conf_key_response_header_add, NULL },
	{ "response_header_remove", K_FUNC, 0, 0, 0, 1,
	    conf_key_response_header_remove, NULL },
	{ "upstream_host", K_FUNC, 0, 0, 0, 0, conf_key_upstream_host, NULL },
	{ "return", K_FUNC, 0, 0, 0, 0, conf_key_return, NULL },
	{ "access_log_format", K_FUNC, 0, 0, 0, 0,
	    conf_key_r_access_log_format, NULL },
	{ "access_log", K_FUNC, 0, 0, 0, 1, conf_key_r_access_log, NULL },
	/* The path forwarded: common/conf_rewrite.c */
	{ "path_strip_prefix", K_FUNC, 0, 0, 0, 0, conf_rewrite_strip, NULL },
	{ "path_rewrite", K_FUNC, 0, 0, 0, 0, conf_rewrite_regex, NULL },
	{ "error_page", K_FUNC, 0, 0, 0, 1, conf_errpage_route, NULL },
	{ "intercept_errors", K_ONOFF, R(intercept_errors), 0, 0, 0, NULL, NULL },
	/* Response compression: common/conf_compress.c, worker/compress.c */
	{ "compress", K_ONOFF, R(compress.on), 0, 0, 0, NULL, NULL },
	{ "compress_level", K_INT, R(compress.level), 1, 9, 0, NULL, NULL },
	{ "compress_brotli_level", K_INT, R(compress.br_level), 0, 11, 0,
	    NULL, NULL },
	{ "compress_min_length", K_SIZE64, R(compress.min_length), 0, INT64_MAX,
	    0, NULL, NULL },
	{ "compress_types", K_FUNC, 0, 0, 0, 0, conf_compress_types, NULL },
	{ "compress_algorithms", K_FUNC, 0, 0, 0, 0, conf_compress_algos, NULL },
};

_Static_assert(NKEYS(route_keys) <= MAX_KEYS, "raise MAX_KEYS");

const struct conf_section conf_sec_route = {
	"route", SEC_ROUTE, 1, route_keys, NKEYS(route_keys),
	route_taken, route_open, route_discard, route_finish
};

static int
route_defaults(struct loader *ld, struct conf_route *r)
{
	memset(r, 0, sizeof(*r));
	r->request_buffering = -1;	/* the global's */
	r->host_kind = HOST_ANY;
	r->host = conf_strdup(ld, "*");
	r->path = conf_strdup(ld, "/");
	r->path_len = 1;
	r->normalize_path = -1;			/* [global]'s */
	r->pass_client_identity_headers = -1;
	r->websocket = 1;
	r->tunnel_idle_timeout_ms = -1;		/* [global]'s */
	conf_compress_defaults(&r->compress);
	return r->host != NULL && r->path != NULL ? 0 : -1;
}

void
conf_route_clear(struct conf_route *r)
{
	size_t	 i;

	free(r->name);
	free(r->listener_name);
	free(r->host);
	free(r->path);
	free(r->upstream_name);
	free(r->allow);
	free(r->hsts);
	free(r->upgrade_allow);
	for (i = 0; i < r->nlimits; i++)
		free(r->limit_names[i]);
	free(r->auth_realm);
	free(r->auth_file);
	htpasswd_free(r->auth_users);
	conf_route_rules_clear(r);
	free(r->strip_prefix);
	conf_rewrite_clear(r);
	conf_errpage_free(r->error_pages, r->nerror_pages);
	targeted_clear(r);
	conf_compress_clear(&r->compress);
	memset(r, 0, sizeof(*r));
}

static void
targeted_clear(struct conf_route *r)
{
	size_t	 i;

	for (i = 0; i < r->ncache_targeted; i++) {
		free(r->cache_targeted[i]);
		r->cache_targeted[i] = NULL;
	}
	r->ncache_targeted = 0;
}

/*
 * Host patterns: "*", "*.example.com" or an exact name, of [a-z0-9.-]
 * after lowercasing, with no empty labels and no port.
 */
static void
key_host(struct loader *ld, void *obj, const char *v)
{
	struct conf_route	*r = obj;
	enum host_kind		 kind;
	const char		*name, *p;
	char			*h, *q;
	size_t			 len;

	if (strcmp(v, "*") == 0) {
		if ((h = conf_strdup(ld, "*")) == NULL)
			return;
		free(r->host);
		r->host = h;
		r->host_kind = HOST_ANY;
		return;
	}
	if (strchr(v, ':') != NULL) {
		conf_err(ld, ld->lineno, "bad host '%s': a host must not "
		    "include a port", v);
		return;
	}
	if (strncmp(v, "*.", 2) == 0) {
		kind = HOST_WILDCARD;
		name = v + 2;
	} else {
		kind = HOST_EXACT;
		name = v;
	}
	len = strlen(name);
	if (len == 0 || len > 253 || name[0] == '.' || name[len - 1] == '.' ||
	    strstr(name, "..") != NULL) {
		conf_err(ld, ld->lineno, "bad host '%s': expected *, "
		    "*.example.com or a host name", v);
		return;
	}
	for (p = name; *p != '\0'; p++) {
		if (!isalnum((unsigned char)*p) && *p != '.' && *p != '-') {
			conf_err(ld, ld->lineno, "bad host '%s': only "
			    "letters, digits, '.' and '-' are allowed", v);
			return;
		}
	}
	/* A wildcard keeps its leading dot: "*.example.com" -> ".example.com". */
	if ((h = conf_strdup(ld, kind == HOST_WILDCARD ? v + 1 : v)) == NULL)
		return;
	for (q = h; *q != '\0'; q++)
		*q = (char)tolower((unsigned char)*q);
	free(r->host);
	r->host = h;
	r->host_kind = kind;
}

static void
key_path(struct loader *ld, void *obj, const char *v)
{
	struct conf_route	*r = obj;
	const unsigned char	*p;
	char			*np;

	if (*v != '/') {
		conf_err(ld, ld->lineno, "bad path '%s': must start with '/'",
		    v);
		return;
	}
	for (p = (const unsigned char *)v; *p != '\0'; p++) {
		if (*p < 0x21 || *p > 0x7e) {
			conf_err(ld, ld->lineno, "bad path '%s': only "
			    "printable ASCII without blanks is allowed", v);
			return;
		}
	}
	if ((np = conf_strdup(ld, v)) == NULL)
		return;
	free(r->path);
	r->path = np;
	r->path_len = strlen(np);
}

static void
key_cache(struct loader *ld, void *obj, const char *v)
{
	(void)conf_onoff(ld, "cache", v, &((struct conf_route *)obj)->cache);
}

/* handler = proxy | status */
static void
key_handler(struct loader *ld, void *obj, const char *v)
{
	struct conf_route	*r = obj;

	if (strcmp(v, "proxy") == 0)
		r->handler = HANDLER_PROXY;
	else if (strcmp(v, "status") == 0)
		r->handler = HANDLER_STATUS;
	else
		conf_err(ld, ld->lineno, "bad handler '%s' (proxy or status)", v);
}

/* allow = CIDR|all [...]; repeatable; one ordered list with deny. */
static void
key_allow(struct loader *ld, void *obj, const char *v)
{
	struct conf_route	*r = obj;

	conf_access_add(ld, "allow", v, 0, &r->allow, &r->nallow);
}

/* deny = CIDR|all [...]; repeatable; one ordered list with allow. */
static void
key_deny(struct loader *ld, void *obj, const char *v)
{
	struct conf_route	*r = obj;

	conf_access_add(ld, "deny", v, 1, &r->allow, &r->nallow);
}

static void
key_request_buffering(struct loader *ld, void *obj, const char *v)
{
	(void)conf_onoff(ld, "request_buffering", v,
	    &((struct conf_route *)obj)->request_buffering);
}

static void
key_cache_set_cookie(struct loader *ld, void *obj, const char *v)
{
	(void)conf_onoff(ld, "cache_set_cookie", v,
	    &((struct conf_route *)obj)->cache_set_cookie);
}

/* cache_request_no_cache = honor | ignore */
static void
key_cache_request_no_cache(struct loader *ld, void *obj, const char *v)
{
	struct conf_route	*r = obj;

	if (strcmp(v, "honor") == 0)
		r->cache_ignore_no_cache = 0;
	else if (strcmp(v, "ignore") == 0)
		r->cache_ignore_no_cache = 1;
	else
		conf_err(ld, ld->lineno, "bad cache_request_no_cache '%s': "
		    "expected honor or ignore", v);
}

/*
 * cache_targeted_fields = none | FIELD [FIELD ...]: the RFC 9213 target
 * list, first match wins.  Field names (tokens), lowercased, at most
 * CONF_TARGETED_MAX, no repeats, not Cache-Control itself.
 */
static void
key_cache_targeted_fields(struct loader *ld, void *obj, const char *v)
{
	struct conf_route	*r = obj;
	char			*copy, *tok, *save, *q, *names[CONF_TARGETED_MAX];
	size_t			 n = 0, i;
	const char		*bad = NULL;

	if ((copy = conf_strdup(ld, v)) == NULL)
		return;
	if (strcmp(v, "none") == 0) {
		free(copy);
		targeted_clear(r);
		return;
	}
	for (tok = strtok_r(copy, " \t", &save); tok != NULL && bad == NULL;
	    tok = strtok_r(NULL, " \t", &save)) {
		for (q = tok; *q != '\0'; q++) {
			if (!http_tchar[(unsigned char)*q])
				bad = "not a field name";
			*q = (char)tolower((unsigned char)*q);
		}
		if (bad == NULL && strcmp(tok, "cache-control") == 0)
			bad = "Cache-Control is not a targeted field";
		for (i = 0; bad == NULL && i < n; i++)
			if (strcmp(names[i], tok) == 0)
				bad = "named twice";
		if (bad == NULL && n == CONF_TARGETED_MAX)
			bad = "too many fields (at most 8)";
		if (bad == NULL)
			names[n++] = tok;
	}
	if (bad == NULL && n == 0)
		bad = "no field named (none turns RFC 9213 off)";
	if (bad != NULL) {
		conf_err(ld, ld->lineno, "bad cache_targeted_fields '%s': %s",
		    v, bad);
		free(copy);
		return;
	}
	targeted_clear(r);
	for (i = 0; i < n; i++) {
		if ((r->cache_targeted[i] = conf_strdup(ld, names[i])) == NULL)
			break;
		r->ncache_targeted = i + 1;
	}
	free(copy);
}

/* An HSTS max-age: seconds, or a number with s, m, h or d; up to 10 years. */
static int
hsts_age(const char *s, int64_t *secs)
{
	int64_t		 mult;
	const char	*p;

	if (!isdigit((unsigned char)*s))
		return -1;
	for (p = s; isdigit((unsigned char)*p); p++)
		if (p - s > 9)
			return -1;
	if (*p == '\0' || strcmp(p, "s") == 0)
		mult = 1;
	else if (strcmp(p, "m") == 0)
		mult = 60;
	else if (strcmp(p, "h") == 0)
		mult = 3600;
	else if (strcmp(p, "d") == 0)
		mult = 86400;
	else
		return -1;
	*secs = strtoll(s, NULL, 10) * mult;
	return *secs >= 1 && *secs <= 10LL * 366 * 86400 ? 0 : -1;
}

/*
 * upgrade_allow = TOKEN... : Upgrade protocols other than websocket that
 * pass through (tokens of RFC 9110 5.6.2; any case, kept lowercase).
 * h2c never does: portico does not speak HTTP/2 to backends that way.
 */
static int
upgrade_token_ok(const char *tok)
{
	const char	*p;

	for (p = tok; *p != '\0'; p++)
		if (strchr("!#$%&'*+-.^_`|~/", *p) == NULL &&
		    !(*p >= 'a' && *p <= 'z') && !(*p >= '0' && *p <= '9'))
			return 0;
	return strcmp(tok, "h2c") != 0 && strncmp(tok, "h2c/", 4) != 0;
}

static void
key_upgrade_allow(struct loader *ld, void *obj, const char *v)
{
	static const struct conf_tokens tk = { "upgrade_allow", "token",
	    "protocol names such as 'foo' or 'foo/2'; h2c is never allowed",
	    "token", upgrade_token_ok };
	struct conf_route	*r = obj;

	free(r->upgrade_allow);
	r->upgrade_allow = conf_token_list(ld, &tk, v);
}

/* hsts = off | MAX-AGE [includeSubDomains] [preload] */
static void
key_hsts(struct loader *ld, void *obj, const char *v)
{
	struct conf_route	*r = obj;
	char			*copy, *tok, *save, buf[128];
	int64_t			 secs;
	int			 sub = 0, pre = 0, bad = 0;

	free(r->hsts);
	r->hsts = NULL;
	if (strcmp(v, "off") == 0)
		return;
	if ((copy = conf_strdup(ld, v)) == NULL)
		return;
	tok = strtok_r(copy, " \t", &save);
	if (tok == NULL || hsts_age(tok, &secs) == -1)
		bad = 1;
	while (!bad && (tok = strtok_r(NULL, " \t", &save)) != NULL) {
		if (strcmp(tok, "includeSubDomains") == 0)
			sub = 1;
		else if (strcmp(tok, "preload") == 0)
			pre = 1;
		else
			bad = 1;
	}
	free(copy);
	if (bad) {
		conf_err(ld, ld->lineno, "bad hsts '%s' (off, or a max-age such "
		    "as 31536000, 180d or 12h, then includeSubDomains and "
		    "preload if wanted)", v);
		return;
	}
	snprintf(buf, sizeof(buf), "max-age=%lld%s%s", (long long)secs,
	    sub ? "; includeSubDomains" : "", pre ? "; preload" : "");
	r->hsts = conf_strdup(ld, buf);
}

/* The line of the route called name, or 0. */
static int
route_taken(struct loader *ld, const char *name, const char **file)
{
	const struct conf_route	*r;

	if ((r = conf_named_find(ld->conf->routes, ld->conf->nroutes,
	    sizeof(*r), name)) == NULL)
		return 0;
	*file = r->file;
	return r->line;
}

/* A new route at the end of the array, or the scratch one. */
static int
route_open(struct loader *ld, char *name)
{
	struct conf		*conf = ld->conf;
	struct conf_route	*nr;

	if (ld->scratch)
		ld->obj = &ld->sr;
	else {
		if ((nr = conf_append(ld, conf->routes, &conf->nroutes,
		    sizeof(*nr), &ld->rmeta)) == NULL)
			return -1;
		conf->routes = nr;
	}
	nr = ld->obj;
	(void)route_defaults(ld, nr);
	nr->name = name;
	nr->file = ld->file;
	nr->line = ld->lineno;
	return 0;
}

/* waf = on | detect | off */
static void
key_waf(struct loader *ld, void *obj, const char *v)
{
	struct conf_route	*r = obj;

	if (strcmp(v, "on") == 0)
		r->waf = WAF_ON;
	else if (strcmp(v, "detect") == 0)
		r->waf = WAF_DETECT;
	else if (strcmp(v, "off") == 0)
		r->waf = WAF_OFF;
	else
		conf_err(ld, ld->lineno, "bad waf '%s': expected on, detect "
		    "or off", v);
}

static void
route_discard(struct loader *ld)
{
	conf_route_clear(&ld->sr);
}

/*
 * Take [global]'s defaults where the route set none, then resolve and
 * check each route in file order.
 */
static void
route_finish(struct loader *ld)
{
	struct conf		*conf = ld->conf;
	struct conf_global	*g = &conf->g;
	struct conf_route	*r;
	size_t			 i;

	for (i = 0; i < conf->nroutes; i++)
		if (conf->routes[i].request_buffering == -1)
			conf->routes[i].request_buffering = g->request_buffering;
	for (i = 0; i < conf->nroutes; i++) {
		r = &conf->routes[i];
		if (r->normalize_path == -1)
			r->normalize_path = g->normalize_path;
		if (r->pass_client_identity_headers == -1)
			r->pass_client_identity_headers =
			    g->pass_client_identity_headers;
		if (r->tunnel_idle_timeout_ms == -1)
			r->tunnel_idle_timeout_ms = g->tunnel_idle_timeout_ms;
		/* RFC 9213: CDN-Cache-Control unless the route says. */
		if (conf_key_line(ld, SEC_ROUTE, &ld->rmeta[i],
		    "cache_targeted_fields") == 0 && r->ncache_targeted == 0 &&
		    (r->cache_targeted[0] = conf_strdup(ld,
		    "cdn-cache-control")) != NULL)
			r->ncache_targeted = 1;
		if (r->waf != WAF_OFF && g->nwaf_rules == 0)
			conf_err(ld, conf_key_line(ld, SEC_ROUTE, &ld->rmeta[i],
			    "waf"), "route '%s': waf needs waf_rules in "
			    "[global]", r->name);
		route_listener_finish(ld, i);
		conf_rules_cache_warn(ld, r, conf_key_line(ld, SEC_ROUTE,
		    &ld->rmeta[i], "upstream_host"));
		route_target_finish(ld, i);
		route_unique(ld, i);
		conf_route_limit_finish(ld, r, &ld->rmeta[i]);
		route_auth_finish(ld, i);
	}
}

/* listener = NAME names a listener; cache = on needs a proxy route. */
static void
route_listener_finish(struct loader *ld, size_t i)
{
	struct conf		*conf = ld->conf;
	struct conf_route	*r = &conf->routes[i];
	size_t			 j;

	if (r->listener_name != NULL) {
		for (j = 0; j < conf->nlisteners; j++)
			if (strcmp(conf->listeners[j].name,
			    r->listener_name) == 0)
				r->listener = &conf->listeners[j];
		if (r->listener == NULL)
			conf_err(ld, conf_key_line(ld, SEC_ROUTE,
			    &ld->rmeta[i], "listener"), "route '%s': "
			    "no listener named '%s'", r->name,
			    r->listener_name);
	}
	if (r->cache) {
		if (r->handler == HANDLER_STATUS)
			conf_err(ld, conf_key_line(ld, SEC_ROUTE, &ld->rmeta[i],
			    "cache"), "route '%s': a status route cannot "
			    "be cached", r->name);
		conf->cache_used = 1;
	}
}

/* Where the route goes: the status handler, or a named upstream. */
static void
route_target_finish(struct loader *ld, size_t i)
{
	struct conf		*conf = ld->conf;
	struct conf_route	*r = &conf->routes[i];
	size_t			 j;

	if (r->handler == HANDLER_STATUS) {
		if (r->upstream_name != NULL)
			conf_err(ld, conf_key_line(ld, SEC_ROUTE, &ld->rmeta[i],
			    "upstream"), "route '%s': a status route has "
			    "no upstream", r->name);
		if (conf_key_line(ld, SEC_ROUTE, &ld->rmeta[i],
		    "allow") == 0) {
			/*
			 * Status is for the operator: loopback only by
			 * default, after any deny rules written.
			 */
			key_allow(ld, r, "127.0.0.0/8 ::1");
		}
	} else if (r->upstream_name == NULL) {
		if (r->ret_status != 0)
			return;		/* return = ...: no backend */
		if (conf_key_line(ld, SEC_ROUTE, &ld->rmeta[i],
		    "upstream") == 0)
			conf_err(ld, r->line, "route '%s' has no "
			    "upstream", r->name);
	} else {
		for (j = 0; j < conf->nupstreams; j++)
			if (strcmp(conf->upstreams[j].name,
			    r->upstream_name) == 0)
				r->upstream = &conf->upstreams[j];
		if (r->upstream == NULL)
			conf_err(ld, conf_key_line(ld, SEC_ROUTE,
			    &ld->rmeta[i], "upstream"), "route '%s': "
			    "no upstream named '%s'", r->name,
			    r->upstream_name);
	}
}

/* No two routes on the same listener, host and path. */
static void
route_unique(struct loader *ld, size_t i)
{
	struct conf		*conf = ld->conf;
	struct conf_route	*r = &conf->routes[i], *r2;
	size_t			 j;

	if (r->host == NULL || r->path == NULL)
		return;
	for (j = 0; j < i; j++) {
		r2 = &conf->routes[j];
		if (r2->host == NULL || r2->path == NULL)
			continue;
		if ((r->listener_name == NULL) != (r2->listener_name == NULL))
			continue;
		if (r->listener_name != NULL &&
		    strcmp(r->listener_name, r2->listener_name) != 0)
			continue;
		if (r->host_kind != r2->host_kind ||
		    strcmp(r->host, r2->host) != 0 ||
		    strcmp(r->path, r2->path) != 0)
			continue;
		conf_err(ld, r->line, "duplicate route: '%s' has the "
		    "same listener, host and path as '%s' (%s:%d)",
		    r->name, r2->name, r2->file, r2->line);
		break;
	}
}

/*
 * auth_basic = REALM | off: the realm of the WWW-Authenticate challenge,
 * printable ASCII without '"' or '\\' (it goes into a quoted string);
 * double quotes around it are taken off.
 */
static void
key_auth_basic(struct loader *ld, void *obj, const char *v)
{
	struct conf_route	*r = obj;
	const char		*p = v;
	size_t			 n = strlen(v), i;

	free(r->auth_realm);
	r->auth_realm = NULL;
	if (strcmp(v, "off") == 0)
		return;
	if (n >= 2 && v[0] == '"' && v[n - 1] == '"') {
		p++;		/* nginx users quote it: "Staff only" */
		n -= 2;
	}
	if (n == 0 || n > 200) {
		conf_err(ld, ld->lineno, "bad auth_basic: a realm of 1 to "
		    "200 characters, or off");
		return;
	}
	for (i = 0; i < n; i++) {
		if ((unsigned char)p[i] < 0x20 || (unsigned char)p[i] > 0x7e ||
		    p[i] == '"' || p[i] == '\\') {
			conf_err(ld, ld->lineno, "bad auth_basic '%s': the "
			    "realm is printable ASCII without '\"' or '\\'",
			    v);
			return;
		}
	}
	if ((r->auth_realm = conf_strdup(ld, p)) != NULL)
		r->auth_realm[n] = '\0';
}

/*
 * auth_basic and auth_basic_file go together; the file is read now (at
 * every load and reload), its faults reported at its own file:line.
 */
static void
route_auth_finish(struct loader *ld, size_t i)
{
	struct conf_route	*r = &ld->conf->routes[i];
	int			 kline, fline;
	char			 why[WHY_MAX];

	kline = conf_key_line(ld, SEC_ROUTE, &ld->rmeta[i], "auth_basic");
	if (r->auth_realm != NULL && r->auth_file == NULL) {
		conf_err(ld, kline, "route '%s': auth_basic needs "
		    "auth_basic_file", r->name);
		return;
	}
	if (r->auth_file == NULL || r->auth_realm == NULL) {
		if (r->auth_file != NULL && kline == 0)
			conf_err(ld, conf_key_line(ld, SEC_ROUTE,
			    &ld->rmeta[i], "auth_basic_file"), "route '%s': "
			    "auth_basic_file needs auth_basic = REALM",
			    r->name);
		return;
	}
	if (r->auth_file[0] != '/') {
		conf_err(ld, conf_key_line(ld, SEC_ROUTE, &ld->rmeta[i],
		    "auth_basic_file"), "route '%s': auth_basic_file must be "
		    "an absolute path (the daemon runs from /)", r->name);
		return;
	}
	if ((r->auth_users = htpasswd_load(r->auth_file, &fline, why,
	    sizeof(why))) != NULL)
		return;
	if (fline > 0) {
		ld->nerrors++;
		if (conf_errtext_add(&ld->errors, &ld->errlen, &ld->errcap,
		    r->auth_file, fline, why) == -1)
			ld->oom = 1;
		conf_err(ld, conf_key_line(ld, SEC_ROUTE, &ld->rmeta[i],
		    "auth_basic_file"), "route '%s': the auth_basic_file "
		    "above is refused", r->name);
		return;
	}
	conf_err(ld, conf_key_line(ld, SEC_ROUTE, &ld->rmeta[i],
	    "auth_basic_file"), "route '%s': auth_basic_file %s: %s", r->name,
	    r->auth_file, why);
}
