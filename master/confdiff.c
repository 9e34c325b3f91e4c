/*
 * confdiff.c: compare two loaded configurations.
 *
 * Objects are matched by section name: a section renamed shows as one
 * removed and one added.  Each difference becomes one item; the reload
 * logs them on one line, `portico -t -d` one per line.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/tls.h"
#include "master/confdiff.h"

static int	 rules_differ(const struct conf_rules *, const struct conf_rules *);
static int	 alog_differ(const struct conf_alogfmt *, const struct conf_alogfmt *);
static int	 cidrs_differ(const struct conf_cidr *, size_t,
		    const struct conf_cidr *, size_t);

static int
vadd(struct confdiff *d, const char *fmt, va_list ap)
{
	char	 *s, **n;

	if (vasprintf(&s, fmt, ap) == -1)
		return -1;
	if ((n = realloc(d->items, (d->n + 1) * sizeof(*n))) == NULL) {
		free(s);
		return -1;
	}
	d->items = n;
	d->items[d->n++] = s;
	return 0;
}

int
confdiff_add(struct confdiff *d, const char *fmt, ...)
{
	va_list	 ap;
	int	 rc;

	va_start(ap, fmt);
	rc = vadd(d, fmt, ap);
	va_end(ap);
	return rc;
}

/* A size as written in the config: 256m, 16k, or bytes. */
static void
size_text(int64_t v, char *buf, size_t len)
{
	if (v != 0 && v % (1LL << 30) == 0)
		snprintf(buf, len, "%lldg", (long long)(v >> 30));
	else if (v != 0 && v % (1LL << 20) == 0)
		snprintf(buf, len, "%lldm", (long long)(v >> 20));
	else if (v != 0 && v % 1024 == 0)
		snprintf(buf, len, "%lldk", (long long)(v >> 10));
	else
		snprintf(buf, len, "%lld", (long long)v);
}

static int
str_differ(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a != b;
	return strcmp(a, b) != 0;
}

/*
 * The sections of one kind in a configuration (listeners, upstreams,
 * routes): n elements of size bytes from base, each beginning with its
 * name (conf_named_find).  Sections are matched by that name.
 */
struct sections {
	const char	*base;
	size_t		 n;
	size_t		 size;
};

static struct sections
listeners_of(const struct conf *c)
{
	return (struct sections){ (const char *)c->listeners, c->nlisteners,
	    sizeof(*c->listeners) };
}

static struct sections
upstreams_of(const struct conf *c)
{
	return (struct sections){ (const char *)c->upstreams, c->nupstreams,
	    sizeof(*c->upstreams) };
}

static struct sections
routes_of(const struct conf *c)
{
	return (struct sections){ (const char *)c->routes, c->nroutes,
	    sizeof(*c->routes) };
}

/* The section of s named name, or NULL. */
static const void *
section_find(const struct sections *s, const char *name)
{
	return conf_named_find(s->base, s->n, s->size, name);
}

/* One item "KIND NAME removed" for each section of o not in n. */
static int
sections_removed(struct confdiff *d, const char *kind,
    const struct sections *o, const struct sections *n)
{
	const char	*name;
	size_t		 i;

	for (i = 0; i < o->n; i++) {
		memcpy(&name, o->base + i * o->size, sizeof(name));
		if (section_find(n, name) == NULL &&
		    confdiff_add(d, "%s %s removed", kind, name) == -1)
			return -1;
	}
	return 0;
}

/* The addresses of l, space-separated. */
static void
addrs_text(const struct conf_listener *l, char *buf, size_t len)
{
	size_t	 i, off = 0;
	int	 n;

	buf[0] = '\0';
	for (i = 0; i < l->naddrs && off < len; i++) {
		n = snprintf(buf + off, len - off, "%s%s", i > 0 ? " " : "",
		    l->addrs[i].text);
		if (n < 0)
			break;
		off += (size_t)n;
	}
}

static int
has_addr(const struct conf_listener *l, const char *text)
{
	size_t	 i;

	for (i = 0; i < l->naddrs; i++)
		if (strcmp(l->addrs[i].text, text) == 0)
			return 1;
	return 0;
}

int
confdiff_certs(const struct conf_listener *l, struct tls_cert_id **out,
    size_t *n)
{
	*out = NULL;
	*n = 0;
	if (l->tls == NULL)
		return 0;
	return tls_server_cert_ids(l->tls, out, n);
}

static int
cert_in(const struct tls_cert_id *id, const struct tls_cert_id *set,
    size_t n)
{
	size_t	 i;

	for (i = 0; i < n; i++)
		if (strcmp(set[i].fp, id->fp) == 0)
			return 1;
	return 0;
}

static int
file_in(const char *path, const struct conf_file *set, size_t n)
{
	size_t	 i;

	for (i = 0; i < n; i++)
		if (strcmp(set[i].path, path) == 0)
			return 1;
	return 0;
}

/* Certificates of a listener TLS in both: by content when loaded. */
static int
diff_certs(struct confdiff *d, const struct conf_listener *o,
    const struct conf_listener *n)
{
	struct tls_cert_id	*oc = NULL, *nc = NULL;
	size_t			 on = 0, nn = 0, i;
	int			 rc = -1;

	if (o->tls == NULL || n->tls == NULL) {
		for (i = 0; i < o->ntls_cert; i++)
			if (!file_in(o->tls_cert[i].path, n->tls_cert, n->ntls_cert) &&
			    confdiff_add(d, "listener %s: certificate %s "
			    "removed", n->name, o->tls_cert[i].path) == -1)
				return -1;
		for (i = 0; i < n->ntls_cert; i++)
			if (!file_in(n->tls_cert[i].path, o->tls_cert, o->ntls_cert) &&
			    confdiff_add(d, "listener %s: certificate %s added",
			    n->name, n->tls_cert[i].path) == -1)
				return -1;
		return 0;
	}
	if (confdiff_certs(o, &oc, &on) == -1 ||
	    confdiff_certs(n, &nc, &nn) == -1)
		goto out;
	for (i = 0; i < on; i++)
		if (!cert_in(&oc[i], nc, nn) && confdiff_add(d, "listener %s: "
		    "certificate removed: %s", n->name, oc[i].text) == -1)
			goto out;
	for (i = 0; i < nn; i++)
		if (!cert_in(&nc[i], oc, on) && confdiff_add(d, "listener %s: "
		    "certificate added: %s", n->name, nc[i].text) == -1)
			goto out;
	rc = 0;
out:
	free(oc);
	free(nc);
	return rc;
}

/* One listener in both configurations. */
static int
diff_listener(struct confdiff *d, const struct conf_listener *o,
    const struct conf_listener *n, int flags)
{
	size_t	 i;
	int	 otls = o->ntls_cert > 0, ntls = n->ntls_cert > 0;

	for (i = 0; i < o->naddrs; i++)
		if (!has_addr(n, o->addrs[i].text) &&
		    confdiff_add(d, "listener %s: "
		    "address %s removed", n->name, o->addrs[i].text) == -1)
			return -1;
	for (i = 0; i < n->naddrs; i++)
		if (!has_addr(o, n->addrs[i].text) &&
		    confdiff_add(d, "listener %s: "
		    "address %s added", n->name, n->addrs[i].text) == -1)
			return -1;
	if (otls != ntls)
		return confdiff_add(d, "listener %s: TLS %s",
		    n->name, ntls ? "on" : "off");
	if (ntls && !(flags & CONFDIFF_NO_CERTS) && diff_certs(d, o, n) == -1)
		return -1;
	if (ntls && (o->tls_protocols != n->tls_protocols ||
	    str_differ(o->tls_ciphers, n->tls_ciphers) ||
	    str_differ(o->tls_ciphersuites, n->tls_ciphersuites) ||
	    str_differ(o->tls_client_ca.path, n->tls_client_ca.path) ||
	    o->tls_verify_client != n->tls_verify_client ||
	    o->tls_handshake_timeout_ms != n->tls_handshake_timeout_ms) &&
	    confdiff_add(d, "listener %s: TLS settings changed", n->name) == -1)
		return -1;
	if ((o->backlog != n->backlog || o->defer_accept != n->defer_accept ||
	    o->redirect_https != n->redirect_https ||
	    o->redirect_port != n->redirect_port ||
	    cidrs_differ(o->trusted, o->ntrusted, n->trusted, n->ntrusted) ||
	    o->real_ip_header != n->real_ip_header ||
	    o->proxy_protocol != n->proxy_protocol ||
	    o->proxy_protocol_timeout_ms != n->proxy_protocol_timeout_ms ||
	    o->max_conns_per_ip != n->max_conns_per_ip ||
	    alog_differ(&o->alog, &n->alog) ||
	    conf_alogset_differ(&o->alogs, &n->alogs) ||
	    o->http2 != n->http2) &&
	    confdiff_add(d, "listener %s: settings changed", n->name) == -1)
		return -1;
	if (cidrs_differ(o->access, o->naccess, n->access, n->naccess) &&
	    confdiff_add(d, "listener %s: allow/deny changed", n->name) == -1)
		return -1;
	if (rules_differ(&o->rules, &n->rules) &&
	    confdiff_add(d, "listener %s: header rules changed", n->name) == -1)
		return -1;
	return 0;
}

static int
diff_listeners(struct confdiff *d, const struct conf *o, const struct conf *n,
    int flags)
{
	const struct conf_listener	*ol, *nl;
	struct sections			 os = listeners_of(o);
	struct sections			 ns = listeners_of(n);
	char				 addrs[512];
	size_t				 i;

	if (sections_removed(d, "listener", &os, &ns) == -1)
		return -1;
	for (i = 0; i < n->nlisteners; i++) {
		nl = &n->listeners[i];
		if ((ol = section_find(&os, nl->name)) == NULL) {
			addrs_text(nl, addrs, sizeof(addrs));
			if (confdiff_add(d, "listener %s added (%s)",
			    nl->name, addrs) == -1)
				return -1;
		} else if (diff_listener(d, ol, nl, flags) == -1)
			return -1;
	}
	return 0;
}

static const struct conf_server *
find_server(const struct conf_upstream *u, const char *text)
{
	size_t	 i;

	for (i = 0; i < u->nservers; i++)
		if (strcmp(u->servers[i].addr.text, text) == 0)
			return &u->servers[i];
	return NULL;
}

/* The servers of an upstream in both configurations. */
static int
diff_servers(struct confdiff *d, const struct conf_upstream *o,
    const struct conf_upstream *n)
{
	const struct conf_server	*os, *ns;
	size_t				 i;

	for (i = 0; i < o->nservers; i++)
		/* A resolve or srv line: its first slot stands for it. */
		if (o->servers[i].dns_slot == 0 &&
		    find_server(n, o->servers[i].addr.text) == NULL &&
		    confdiff_add(d, "upstream %s: server %s removed", n->name,
		    o->servers[i].addr.text) == -1)
			return -1;
	for (i = 0; i < n->nservers; i++) {
		ns = &n->servers[i];
		if (ns->dns_slot != 0)
			continue;
		if ((os = find_server(o, ns->addr.text)) == NULL) {
			if (confdiff_add(d, "upstream %s: server %s added",
			    n->name, ns->addr.text) == -1)
				return -1;
			continue;
		}
		if (os->weight != ns->weight &&
		    confdiff_add(d, "upstream %s: server %s "
		    "weight %d -> %d", n->name, ns->addr.text, os->weight,
		    ns->weight) == -1)
			return -1;
		if ((os->backup != ns->backup || os->max_conns != ns->max_conns ||
		    os->tls != ns->tls || os->send_proxy != ns->send_proxy ||
		    str_differ(os->host, ns->host)) &&
		    confdiff_add(d, "upstream %s: server %s options changed",
		    n->name, ns->addr.text) == -1)
			return -1;
	}
	return 0;
}

/* Whether an upstream's settings other than its servers differ. */
static int
upstream_settings_differ(const struct conf_upstream *o,
    const struct conf_upstream *n)
{
	return o->balance != n->balance || o->hash_key != n->hash_key ||
	    str_differ(o->hash_key_name, n->hash_key_name) ||
	    o->slow_start_ms != n->slow_start_ms ||
	    o->keepalive != n->keepalive ||
	    o->keepalive_timeout_ms != n->keepalive_timeout_ms ||
	    o->connect_timeout_ms != n->connect_timeout_ms ||
	    o->read_timeout_ms != n->read_timeout_ms ||
	    o->send_timeout_ms != n->send_timeout_ms ||
	    o->queue != n->queue || o->queue_timeout_ms != n->queue_timeout_ms ||
	    o->retries != n->retries || o->retry_on != n->retry_on ||
	    o->retry_timeout_ms != n->retry_timeout_ms ||
	    o->max_fails != n->max_fails || o->fail_on_5xx != n->fail_on_5xx ||
	    o->fail_timeout_ms != n->fail_timeout_ms || o->tls != n->tls ||
	    str_differ(o->tls_ca, n->tls_ca) ||
	    str_differ(o->tls_server_name, n->tls_server_name) ||
	    o->tls_verify != n->tls_verify;
}

static int
health_differ(const struct conf_upstream *o, const struct conf_upstream *n)
{
	return o->health != n->health ||
	    str_differ(o->health_method, n->health_method) ||
	    str_differ(o->health_path, n->health_path) ||
	    str_differ(o->health_host, n->health_host) ||
	    str_differ(o->health_body, n->health_body) ||
	    o->health_status_min != n->health_status_min ||
	    o->health_status_max != n->health_status_max ||
	    o->health_interval_ms != n->health_interval_ms ||
	    o->health_timeout_ms != n->health_timeout_ms ||
	    o->health_rise != n->health_rise || o->health_fall != n->health_fall;
}

/* An upstream's protocol as the configuration names it. */
static const char *
proto_name(int protocol)
{
	return protocol == UP_PROTO_H2 ? "h2" : "http1";
}

static int
diff_upstreams(struct confdiff *d, const struct conf *o, const struct conf *n)
{
	const struct conf_upstream	*ou, *nu;
	struct sections			 os = upstreams_of(o);
	struct sections			 ns = upstreams_of(n);
	size_t				 i;

	if (sections_removed(d, "upstream", &os, &ns) == -1)
		return -1;
	for (i = 0; i < n->nupstreams; i++) {
		nu = &n->upstreams[i];
		if ((ou = section_find(&os, nu->name)) == NULL) {
			if (confdiff_add(d, "upstream %s added (%zu server%s)",
			    nu->name, nu->nservers,
			    nu->nservers == 1 ? "" : "s") == -1)
				return -1;
			continue;
		}
		if (diff_servers(d, ou, nu) == -1)
			return -1;
		if (upstream_settings_differ(ou, nu) &&
		    confdiff_add(d, "upstream %s: "
		    "settings changed", nu->name) == -1)
			return -1;
		if (ou->protocol != nu->protocol &&
		    confdiff_add(d, "upstream %s: protocol %s -> %s", nu->name,
		    proto_name(ou->protocol), proto_name(nu->protocol)) == -1)
			return -1;
		if (health_differ(ou, nu) &&
		    confdiff_add(d, "upstream %s: health check "
		    "changed", nu->name) == -1)
			return -1;
	}
	return 0;
}

static int
cidrs_differ(const struct conf_cidr *a, size_t na, const struct conf_cidr *b,
    size_t nb)
{
	return na != nb || (na > 0 && memcmp(a, b, na * sizeof(*a)) != 0);
}

/* Whether two lists of header rules differ (common/conf_rules.c). */
static int
rules_differ(const struct conf_rules *a, const struct conf_rules *b)
{
	const struct conf_hdr_rule	*x, *y;
	size_t				 i;

	if (a->nreq != b->nreq || a->nresp != b->nresp)
		return 1;
	for (i = 0; i < a->nreq + a->nresp; i++) {
		x = i < a->nreq ? &a->req[i] : &a->resp[i - a->nreq];
		y = i < b->nreq ? &b->req[i] : &b->resp[i - b->nreq];
		if (x->op != y->op || x->always != y->always ||
		    strcmp(x->name, y->name) != 0 ||
		    !vars_equal(&x->value, &y->value))
			return 1;
	}
	return 0;
}

/* Whether two access_log_format settings differ. */
static int
alog_differ(const struct conf_alogfmt *a, const struct conf_alogfmt *b)
{
	return a->set != b->set || a->kind != b->kind || a->json != b->json ||
	    !vars_equal(&a->fmt, &b->fmt);
}

/* The names of what differs between two routes, into buf. */
static void
route_changes(const struct conf_route *o, const struct conf_route *n,
    char *buf, size_t len)
{
	static const char	*names[] = { "listener", "host", "path",
	    "upstream", "handler", "allow/deny", "cache", "hsts", "normalize_path",
	    "pass_client_identity_headers", "request_buffering", "websocket",
	    "upgrade_allow", "tunnel_idle_timeout", "limit", "auth_basic",
	    "waf", "header rules", "upstream_host", "return",
	    "access_log_format", "path_strip_prefix/path_rewrite",
	    "error_page/intercept_errors", "compress", "access_log" };
	int			 diff[sizeof(names) / sizeof(names[0])];
	size_t			 i, off = 0;
	int			 k;

	diff[0] = str_differ(o->listener_name, n->listener_name);
	diff[1] = o->host_kind != n->host_kind || str_differ(o->host, n->host);
	diff[2] = str_differ(o->path, n->path);
	diff[3] = str_differ(o->upstream_name, n->upstream_name);
	diff[4] = o->handler != n->handler;
	diff[5] = cidrs_differ(o->allow, o->nallow, n->allow, n->nallow);
	diff[6] = o->cache != n->cache || o->cache_set_cookie != n->cache_set_cookie ||
	    o->cache_ignore_no_cache != n->cache_ignore_no_cache ||
	    o->cache_default_ttl_ms != n->cache_default_ttl_ms ||
	    o->cache_stale_if_error_ms != n->cache_stale_if_error_ms ||
	    o->cache_targeted_strip != n->cache_targeted_strip ||
	    o->ncache_targeted != n->ncache_targeted;
	for (i = 0; !diff[6] && i < n->ncache_targeted; i++)
		diff[6] = strcmp(o->cache_targeted[i], n->cache_targeted[i]) != 0;
	diff[7] = str_differ(o->hsts, n->hsts);
	diff[8] = o->normalize_path != n->normalize_path;
	diff[9] = o->pass_client_identity_headers != n->pass_client_identity_headers;
	diff[10] = o->request_buffering != n->request_buffering;
	diff[11] = o->websocket != n->websocket;
	diff[12] = str_differ(o->upgrade_allow, n->upgrade_allow);
	diff[13] = o->tunnel_idle_timeout_ms != n->tunnel_idle_timeout_ms;
	diff[14] = o->nlimits != n->nlimits;
	for (i = 0; !diff[14] && i < n->nlimits; i++)
		diff[14] = strcmp(o->limit_names[i], n->limit_names[i]) != 0;
	diff[15] = str_differ(o->auth_realm, n->auth_realm) ||
	    str_differ(o->auth_file, n->auth_file) ||
	    o->auth_forward != n->auth_forward;
	diff[16] = o->waf != n->waf || o->waf_resp != n->waf_resp;
	diff[17] = rules_differ(&o->rules, &n->rules);
	diff[18] = !vars_equal(&o->upstream_host, &n->upstream_host);
	diff[19] = o->ret_status != n->ret_status ||
	    !vars_equal(&o->ret_text, &n->ret_text);
	diff[20] = alog_differ(&o->alog, &n->alog);
	diff[21] = str_differ(o->strip_prefix, n->strip_prefix) ||
	    str_differ(o->rw_src, n->rw_src) || str_differ(o->rw_repl, n->rw_repl);
	diff[22] = o->intercept_errors != n->intercept_errors ||
	    conf_errpage_differ(o->error_pages, o->nerror_pages,
	    n->error_pages, n->nerror_pages);
	diff[23] = o->compress.on != n->compress.on ||
	    o->compress.level != n->compress.level ||
	    o->compress.br_level != n->compress.br_level ||
	    o->compress.min_length != n->compress.min_length ||
	    o->compress.algos != n->compress.algos ||
	    str_differ(o->compress.types, n->compress.types);
	diff[24] = conf_alogset_differ(&o->alogs, &n->alogs);
	buf[0] = '\0';
	for (i = 0; i < sizeof(names) / sizeof(names[0]) && off < len; i++) {
		if (!diff[i])
			continue;
		k = snprintf(buf + off, len - off, "%s%s", off > 0 ? ", " : "",
		    names[i]);
		if (k < 0)
			break;
		off += (size_t)k;
	}
}

static int
diff_routes(struct confdiff *d, const struct conf *o, const struct conf *n)
{
	const struct conf_route	*or, *nr;
	struct sections		 os = routes_of(o), ns = routes_of(n);
	char			 what[256];
	size_t			 i;

	if (sections_removed(d, "route", &os, &ns) == -1)
		return -1;
	for (i = 0; i < n->nroutes; i++) {
		nr = &n->routes[i];
		if ((or = section_find(&os, nr->name)) == NULL) {
			if (confdiff_add(d, "route %s added (%s%s %s -> %s)",
			    nr->name, nr->host_kind == HOST_WILDCARD ? "*" : "",
			    nr->host_kind == HOST_ANY ? "*" : nr->host, nr->path,
			    nr->handler == HANDLER_STATUS ? "status" :
			    nr->upstream_name) == -1)
				return -1;
			continue;
		}
		route_changes(or, nr, what, sizeof(what));
		if (what[0] != '\0' &&
		    confdiff_add(d, "route %s: %s changed", nr->name,
		    what) == -1)
			return -1;
	}
	return 0;
}

/* [limit NAME] sections added, removed, or with other settings. */
static int
diff_limits(struct confdiff *d, const struct conf *o, const struct conf *n)
{
	struct sections		 os = { (const char *)o->limits, o->nlimits,
				    sizeof(*o->limits) };
	struct sections		 ns = { (const char *)n->limits, n->nlimits,
				    sizeof(*n->limits) };
	const struct conf_limit	*ol, *nl;
	size_t			 i;

	if (sections_removed(d, "limit", &os, &ns) == -1)
		return -1;
	for (i = 0; i < n->nlimits; i++) {
		nl = &n->limits[i];
		if ((ol = section_find(&os, nl->name)) == NULL) {
			if (confdiff_add(d, "limit %s added", nl->name) == -1)
				return -1;
			continue;
		}
		if ((ol->key != nl->key || str_differ(ol->key_name,
		    nl->key_name) || ol->interval_us != nl->interval_us ||
		    ol->burst != nl->burst || ol->nodelay != nl->nodelay ||
		    ol->max_delay_ms != nl->max_delay_ms ||
		    ol->dry_run != nl->dry_run || ol->status != nl->status ||
		    ol->concurrency != nl->concurrency) &&
		    confdiff_add(d, "limit %s changed (counts kept)",
		    nl->name) == -1)
			return -1;
	}
	return 0;
}

static int
diff_cache(struct confdiff *d, const struct conf *o, const struct conf *n)
{
	char	 a[32], b[32];

	if (o->cache_used != n->cache_used)
		return confdiff_add(d, "cache %s",
		    n->cache_used ? "on" : "off");
	if (o->cache.size != n->cache.size) {
		size_text((int64_t)o->cache.size, a, sizeof(a));
		size_text((int64_t)n->cache.size, b, sizeof(b));
		if (confdiff_add(d, "cache size %s -> %s%s",
		    a, b, n->cache_used ?
		    " (the cache starts empty)" : "") == -1)
			return -1;
	}
	if (o->cache.max_object_size != n->cache.max_object_size) {
		size_text(o->cache.max_object_size, a, sizeof(a));
		size_text(n->cache.max_object_size, b, sizeof(b));
		if (confdiff_add(d, "cache max_object_size %s -> %s",
		    a, b) == -1)
			return -1;
	}
	if ((o->cache.lock_timeout_ms != n->cache.lock_timeout_ms ||
	    o->cache.heuristic_max_ms != n->cache.heuristic_max_ms ||
	    o->cache.heuristic_percent != n->cache.heuristic_percent ||
	    o->cache.invalidate_unsafe != n->cache.invalidate_unsafe ||
	    o->cache.sendfile != n->cache.sendfile ||
	    cidrs_differ(o->cache.purge_allow, o->cache.npurge_allow,
	    n->cache.purge_allow, n->cache.npurge_allow)) &&
	    confdiff_add(d, "cache settings changed") == -1)
		return -1;
	return 0;
}

/* Whether the waf_rules file lists differ (their contents are not read). */
static int
waf_files_differ(const struct conf_global *o, const struct conf_global *n)
{
	size_t	 i;

	if (o->nwaf_rules != n->nwaf_rules)
		return 1;
	for (i = 0; i < n->nwaf_rules; i++)
		if (strcmp(o->waf_rules[i].path, n->waf_rules[i].path) != 0)
			return 1;
	return 0;
}

/* [global]: the settings an operator names, then the rest together. */
static int
diff_global(struct confdiff *d, const struct conf *oc, const struct conf *nc)
{
	const struct conf_global	*o = &oc->g, *n = &nc->g;
	char				 ot[512], nt[512];

	if (o->workers != n->workers &&
	    confdiff_add(d, "workers %d -> %d", o->workers,
	    n->workers) == -1)
		return -1;
	if (o->log_level != n->log_level &&
	    confdiff_add(d, "log_level %s -> %s",
	    conf_log_level_name(o->log_level),
	    conf_log_level_name(n->log_level)) == -1)
		return -1;
	if (str_differ(o->error_log, n->error_log) &&
	    confdiff_add(d, "error_log %s -> %s",
	    o->error_log, n->error_log) == -1)
		return -1;
	if (conf_alogset_differ(&o->alogs, &n->alogs)) {
		conf_alogset_text(&o->alogs, ot, sizeof(ot));
		conf_alogset_text(&n->alogs, nt, sizeof(nt));
		if (confdiff_add(d, "access_log %s -> %s", ot, nt) == -1)
			return -1;
	}
	if (conf_logfmts_differ(o, n) &&
	    confdiff_add(d, "log_format changed") == -1)
		return -1;
	if ((o->alog_kind != n->alog_kind || o->alog_json != n->alog_json ||
	    !vars_equal(&o->alog_fmt, &n->alog_fmt)) &&
	    confdiff_add(d, "access_log_format changed") == -1)
		return -1;
	/* The built-in default user (conf_check) counts as none written. */
	if ((str_differ(o->user_default ? NULL : o->user,
	    n->user_default ? NULL : n->user) ||
	    str_differ(o->user_default ? NULL : o->group,
	    n->user_default ? NULL : n->group)) &&
	    confdiff_add(d, "user or group changed") == -1)
		return -1;
	if (str_differ(o->pid_file, n->pid_file) &&
	    confdiff_add(d, "pid_file %s -> %s "
	    "(applies at the next start)", o->pid_file, n->pid_file) == -1)
		return -1;
	if (o->limit_table_size != n->limit_table_size &&
	    confdiff_add(d, "limit_table_size %d -> %d (applies at the next "
	    "start)", o->limit_table_size, n->limit_table_size) == -1)
		return -1;
	if ((o->worker_connections != n->worker_connections ||
	    o->shutdown_timeout_ms != n->shutdown_timeout_ms ||
	    o->client_header_timeout_ms != n->client_header_timeout_ms ||
	    o->client_body_timeout_ms != n->client_body_timeout_ms ||
	    o->keepalive_timeout_ms != n->keepalive_timeout_ms ||
	    o->send_timeout_ms != n->send_timeout_ms ||
	    o->max_request_line != n->max_request_line ||
	    o->max_header_size != n->max_header_size ||
	    o->max_headers != n->max_headers ||
	    o->max_body_size != n->max_body_size ||
	    o->buffer_size != n->buffer_size ||
	    o->request_buffering != n->request_buffering ||
	    o->client_body_buffer_size != n->client_body_buffer_size ||
	    str_differ(o->client_body_temp_path, n->client_body_temp_path) ||
	    o->client_body_min_rate != n->client_body_min_rate ||
	    o->pass_request_trailers != n->pass_request_trailers ||
	    o->tls_ticket_rotation_ms != n->tls_ticket_rotation_ms ||
	    o->merge_slashes != n->merge_slashes ||
	    o->allow_encoded_slash != n->allow_encoded_slash ||
	    o->allow_encoded_nul != n->allow_encoded_nul ||
	    o->allow_backslash != n->allow_backslash ||
	    o->allow_dotdot_above_root != n->allow_dotdot_above_root ||
	    o->normalize_path != n->normalize_path ||
	    o->pass_client_identity_headers != n->pass_client_identity_headers ||
	    cidrs_differ(o->trusted, o->ntrusted, n->trusted, n->ntrusted) ||
	    o->real_ip_header != n->real_ip_header ||
	    o->waf_body_limit != n->waf_body_limit ||
	    o->request_id != n->request_id || o->trace != n->trace ||
	    str_differ(o->request_id_header, n->request_id_header) ||
	    conf_errpage_differ(o->error_pages, o->nerror_pages,
	    n->error_pages, n->nerror_pages)) &&
	    confdiff_add(d, "global settings changed") == -1)
		return -1;
	if (waf_files_differ(o, n) &&
	    confdiff_add(d, "waf_rules changed") == -1)
		return -1;
	return 0;
}

int
confdiff_run(const struct conf *old, const struct conf *new, int flags,
    struct confdiff *d)
{
	d->items = NULL;
	d->n = 0;
	if (diff_global(d, old, new) == -1 ||
	    diff_listeners(d, old, new, flags) == -1 ||
	    diff_routes(d, old, new) == -1 ||
	    diff_upstreams(d, old, new) == -1 ||
	    diff_limits(d, old, new) == -1 ||
	    diff_cache(d, old, new) == -1) {
		confdiff_free(d);
		return -1;
	}
	return 0;
}

char *
confdiff_join(const struct confdiff *d, const char *sep)
{
	size_t	 i, len = 1, seplen = strlen(sep);
	char	*s, *p;

	if (d->n == 0)
		return strdup("no changes");
	for (i = 0; i < d->n; i++)
		len += strlen(d->items[i]) + seplen;
	if ((s = malloc(len)) == NULL)
		return NULL;
	p = s;
	for (i = 0; i < d->n; i++) {
		if (i > 0) {
			memcpy(p, sep, seplen);
			p += seplen;
		}
		len = strlen(d->items[i]);
		memcpy(p, d->items[i], len);
		p += len;
	}
	*p = '\0';
	return s;
}

void
confdiff_free(struct confdiff *d)
{
	size_t	 i;

	for (i = 0; i < d->n; i++)
		free(d->items[i]);
	free(d->items);
	d->items = NULL;
	d->n = 0;
}
