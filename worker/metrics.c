/*
 * metrics.c: the worker's side of the metrics region (common/metrics.h).
 *
 * On the request path a worker adds to its own slot only: plain relaxed
 * loads and stores (one writer), no lock, no allocation, no syscall.
 * The status answer sums the slots of every live worker and the rows of
 * the workers that have exited (retired), and writes them as JSON
 * members or Prometheus families.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/conf.h"
#include "common/metrics.h"
#include "common/shm.h"
#include "common/tls.h"
#include "worker/event.h"
#include "worker/metrics.h"
#include "worker/proxy_int.h"

/* The label/JSON name of route row 0: a route name cannot have '('. */
#define NO_ROUTE	"(none)"

static struct metrics		*reg;	/* the region */
static struct metrics_slot	*mine;	/* this worker's slot; NULL: none */

/* One writer per slot: a relaxed load and store, no locked instruction. */
static inline void
add(uint64_t *p, uint64_t v)
{
	__atomic_store_n(p, __atomic_load_n(p, __ATOMIC_RELAXED) + v,
	    __ATOMIC_RELAXED);
}

static inline uint64_t
get(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

void
metrics_worker_start(struct shm_header *shm, int slot)
{
	if (shm == NULL || slot < 0 || slot >= SHM_SLOTS)
		return;
	reg = shm_metrics(shm);
	mine = &reg->slot[slot];
	__atomic_store_n(&mine->connections, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&mine->pid, (uint64_t)getpid(), __ATOMIC_RELAXED);
	__atomic_store_n(&reg->live[slot], 1, __ATOMIC_RELEASE);
}

void
metrics_conn_opened(void)
{
	if (mine != NULL)
		add(&mine->connections, 1);
}

void
metrics_conn_closed(void)
{
	if (mine != NULL && get(&mine->connections) > 0)
		add(&mine->connections, (uint64_t)-1);
}

static inline void
hist_record(struct metrics_hist *h, uint64_t us)
{
	add(&h->bucket[metrics_bucket(us)], 1);
	add(&h->sum_us, us);
}

void
metrics_record(int route, int upstream, int status, uint64_t dur_us,
    int64_t up_us)
{
	struct metrics_route_row	*rr;

	if (mine == NULL || status <= 0 || status >= 600)
		return;
	if (route >= 0 && route < METRICS_ROUTES) {
		rr = &mine->route[route];
		add(&rr->status[status / 100], 1);
		hist_record(&rr->duration, dur_us);
	}
	if (upstream >= 0 && upstream < METRICS_UPSTREAMS && up_us >= 0)
		hist_record(&mine->upstream[upstream].time, (uint64_t)up_us);
}

void
metrics_request_done(const struct req *r)
{
	uint64_t	 end;
	int64_t		 up_us = -1;
	int		 up = -1;

	/* A request no route took (or refused before one) counts in row 0. */
	if (r->upstream != NULL && r->t_up_start != 0) {
		up = r->upstream->conf->metrics_idx;
		end = r->t_up_end >= r->t_up_start ? r->t_up_end : ev_now;
		up_us = (int64_t)(end - r->t_up_start) * 1000;
	}
	metrics_record(r->route != NULL ? r->route->metrics_idx : 0, up,
	    r->status, (ev_now >= r->t_start ? ev_now - r->t_start : 0) * 1000,
	    up_us);
}

/* Append to the status body (as status.c's sb_printf does). */
static void
mb_printf(struct sbuf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
mb_printf(struct sbuf *b, const char *fmt, ...)
{
	va_list	 ap;
	int	 n;
	char	*np;

	for (;;) {
		if (b->oom)
			return;
		va_start(ap, fmt);
		n = vsnprintf(b->p ? b->p + b->len : NULL,
		    b->p ? b->cap - b->len : 0, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->oom = 1;
			return;
		}
		if (b->p != NULL && (size_t)n < b->cap - b->len) {
			b->len += n;
			return;
		}
		if ((np = realloc(b->p, b->cap + n + 4096)) == NULL) {
			b->oom = 1;
			return;
		}
		b->p = np;
		b->cap += n + 4096;
	}
}

/* s as a Prometheus label value (json 0) or JSON string body (json 1). */
static void
mb_escaped(struct sbuf *b, const char *s, int json)
{
	for (; *s != '\0'; s++) {
		if (*s == '"' || *s == '\\')
			mb_printf(b, "\\%c", *s);
		else if (*s == '\n')
			mb_printf(b, "\\n");
		else if (json && (unsigned char)*s < 0x20)
			mb_printf(b, "\\u%04x", (unsigned char)*s);
		else
			mb_printf(b, "%c", *s);
	}
}

static const char *
row_name(const struct metrics_name *tab, int row, int route)
{
	return route && row == 0 ? NO_ROUTE : tab[row].name;
}

/* The upper bound of bucket i as written in le="..." and JSON keys. */
static void
bound_text(int i, char *out, size_t len)
{
	if (i >= METRICS_BUCKETS - 1)
		snprintf(out, len, "+Inf");
	else
		snprintf(out, len, "%g", (double)metrics_bounds_us[i] / 1e6);
}

static uint64_t
hist_count(const struct metrics_hist *h)
{
	uint64_t	 n = 0;
	int		 i;

	for (i = 0; i < METRICS_BUCKETS; i++)
		n += h->bucket[i];
	return n;
}

static uint64_t
open_connections(const struct metrics *m)
{
	uint64_t	 n = 0;
	int		 s;

	for (s = 0; s < SHM_SLOTS; s++)
		if (__atomic_load_n(&m->live[s], __ATOMIC_ACQUIRE))
			n += get(&m->slot[s].connections);
	return n;
}

/* A histogram as a JSON object: count, sum (seconds), cumulative buckets. */
static void
json_hist(struct sbuf *b, const struct metrics_hist *h)
{
	char		 le[16];
	uint64_t	 cum = 0;
	int		 i;

	mb_printf(b, "{\"count\":%llu,\"sum\":%.6f,\"buckets\":{",
	    (unsigned long long)hist_count(h), (double)h->sum_us / 1e6);
	for (i = 0; i < METRICS_BUCKETS; i++) {
		cum += h->bucket[i];
		bound_text(i, le, sizeof(le));
		mb_printf(b, "%s\"%s\":%llu", i ? "," : "", le,
		    (unsigned long long)cum);
	}
	mb_printf(b, "}}");
}

static void
json_certs(struct sbuf *b)
{
	const struct conf_listener	*l;
	size_t				 i, k;
	int				 n = 0;

	mb_printf(b, ",\"certificates\":[");
	for (i = 0; i < conf->nlisteners; i++) {
		l = &conf->listeners[i];
		for (k = 0; l->tls != NULL && k < l->ntls_cert; k++) {
			mb_printf(b, "%s{\"listener\":\"", n++ ? "," : "");
			mb_escaped(b, l->name, 1);
			mb_printf(b, "\",\"file\":\"");
			mb_escaped(b, l->tls_cert[k].path, 1);
			mb_printf(b, "\",\"not_after\":%lld}",
			    (long long)tls_cert_not_after(l->tls, k));
		}
	}
	mb_printf(b, "]");
}

void
metrics_json(struct sbuf *b, const struct shm_header *shm)
{
	const struct metrics		*m = shm_metrics(shm);
	struct metrics_route_row	 rr;
	struct metrics_upstream_row	 ur;
	int				 j, s, n;

	mb_printf(b, ",\"version\":\"%s\",\"started\":%lld,\"uptime\":%lld,"
	    "\"connections_open\":%llu,\"workers\":[", PACKAGE_VERSION,
	    (long long)m->started, (long long)(ev_wall - m->started),
	    (unsigned long long)open_connections(m));
	for (s = 0, n = 0; s < SHM_SLOTS; s++)
		if (__atomic_load_n(&m->live[s], __ATOMIC_ACQUIRE))
			mb_printf(b, "%s{\"worker\":%d,\"pid\":%llu,"
			    "\"connections\":%llu}", n++ ? "," : "", s,
			    (unsigned long long)get(&m->slot[s].pid),
			    (unsigned long long)get(&m->slot[s].connections));
	mb_printf(b, "],\"routes\":[");
	for (j = 0, n = 0; j < METRICS_ROUTES; j++) {
		if (!m->route_name[j].used)
			continue;
		metrics_route_total(m, j, &rr);
		mb_printf(b, "%s{\"name\":\"%s\",\"requests\":%llu,\"responses\":"
		    "{\"1xx\":%llu,\"2xx\":%llu,\"3xx\":%llu,\"4xx\":%llu,"
		    "\"5xx\":%llu},\"duration\":", n++ ? "," : "",
		    row_name(m->route_name, j, 1),
		    (unsigned long long)hist_count(&rr.duration),
		    (unsigned long long)rr.status[1], (unsigned long long)rr.status[2],
		    (unsigned long long)rr.status[3], (unsigned long long)rr.status[4],
		    (unsigned long long)rr.status[5]);
		json_hist(b, &rr.duration);
		mb_printf(b, "}");
	}
	mb_printf(b, "],\"upstream_times\":[");
	for (j = 0, n = 0; j < METRICS_UPSTREAMS; j++) {
		if (!m->upstream_name[j].used)
			continue;
		metrics_upstream_total(m, j, &ur);
		mb_printf(b, "%s{\"name\":\"%s\",\"time\":", n++ ? "," : "",
		    m->upstream_name[j].name);
		json_hist(b, &ur.time);
		mb_printf(b, "}");
	}
	mb_printf(b, "]");
	json_certs(b);
}

static void
prom_family(struct sbuf *b, const char *name, const char *type,
    const char *help)
{
	mb_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* One histogram's samples: name_bucket{label,le}, name_sum, name_count. */
static void
prom_hist(struct sbuf *b, const char *name, const char *label,
    const char *value, const struct metrics_hist *h)
{
	char		 le[16];
	uint64_t	 cum = 0;
	int		 i;

	for (i = 0; i < METRICS_BUCKETS; i++) {
		cum += h->bucket[i];
		bound_text(i, le, sizeof(le));
		mb_printf(b, "%s_bucket{%s=\"%s\",le=\"%s\"} %llu\n", name,
		    label, value, le, (unsigned long long)cum);
	}
	mb_printf(b, "%s_sum{%s=\"%s\"} %.6f\n%s_count{%s=\"%s\"} %llu\n",
	    name, label, value, (double)h->sum_us / 1e6, name, label, value,
	    (unsigned long long)cum);
}

static void
prom_certs(struct sbuf *b)
{
	const struct conf_listener	*l;
	size_t				 i, k;

	prom_family(b, "portico_tls_certificate_expiry_timestamp_seconds",
	    "gauge", "When each listener certificate expires (its notAfter), "
	    "in seconds since the Unix epoch.");
	for (i = 0; i < conf->nlisteners; i++) {
		l = &conf->listeners[i];
		for (k = 0; l->tls != NULL && k < l->ntls_cert; k++) {
			mb_printf(b, "portico_tls_certificate_expiry_timestamp_"
			    "seconds{listener=\"");
			mb_escaped(b, l->name, 0);
			mb_printf(b, "\",certificate=\"");
			mb_escaped(b, l->tls_cert[k].path, 0);
			mb_printf(b, "\"} %lld\n",
			    (long long)tls_cert_not_after(l->tls, k));
		}
	}
}

static void
prom_routes(struct sbuf *b, const struct metrics *m)
{
	struct metrics_route_row	 rr;
	struct metrics_upstream_row	 ur;
	int				 j, k;

	prom_family(b, "portico_route_responses_total", "counter",
	    "Answers sent per route and status class (route \"" NO_ROUTE
	    "\": requests answered before a route was chosen).");
	for (j = 0; j < METRICS_ROUTES; j++) {
		if (!m->route_name[j].used)
			continue;
		metrics_route_total(m, j, &rr);
		for (k = 1; k <= 5; k++)
			mb_printf(b, "portico_route_responses_total{route=\"%s\","
			    "class=\"%dxx\"} %llu\n", row_name(m->route_name, j, 1),
			    k, (unsigned long long)rr.status[k]);
	}
	prom_family(b, "portico_route_request_duration_seconds", "histogram",
	    "Time from the request head to the end of the exchange, per route.");
	for (j = 0; j < METRICS_ROUTES; j++) {
		if (!m->route_name[j].used)
			continue;
		metrics_route_total(m, j, &rr);
		prom_hist(b, "portico_route_request_duration_seconds", "route",
		    row_name(m->route_name, j, 1), &rr.duration);
	}
	prom_family(b, "portico_upstream_response_duration_seconds",
	    "histogram", "Time from sending a request to an upstream server "
	    "(its last attempt) to the end of its response, per upstream.");
	for (j = 0; j < METRICS_UPSTREAMS; j++) {
		if (!m->upstream_name[j].used)
			continue;
		metrics_upstream_total(m, j, &ur);
		prom_hist(b, "portico_upstream_response_duration_seconds",
		    "upstream", m->upstream_name[j].name, &ur.time);
	}
}

/*
 * The families status.c writes, with their help text: a # HELP line is
 * put before each of their # TYPE lines (prom_help).
 */
static const struct {
	const char	*name, *help;
} old_help[] = {
	{ "portico_connections_total", "Client connections accepted." },
	{ "portico_connections_refused_total",
	    "Client connections refused over worker_connections (503)." },
	{ "portico_requests_total", "Request heads received." },
	{ "portico_responses_total", "Answers sent, by status class." },
	{ "portico_upstream_errors_total",
	    "Upstream connect failures, resets and invalid responses." },
	{ "portico_cache_requests_total",
	    "Requests on caching routes, by cache result (hit, miss, stale)." },
	{ "portico_cache_stored_total", "Objects stored in the cache." },
	{ "portico_cache_evictions_total",
	    "Objects evicted from the cache to make room." },
	{ "portico_cache_objects", "Objects in the cache now." },
	{ "portico_cache_used_bytes", "Bytes of the cache region in use now." },
	{ "portico_cache_size_bytes", "Size of the cache region in bytes." },
	{ "portico_server_up",
	    "1 when the upstream server is up (health state), else 0." },
	{ "portico_server_active_connections",
	    "Connections in use to the upstream server, all workers." },
	{ "portico_server_requests_total",
	    "Requests sent to the upstream server." },
	{ "portico_server_failures_total",
	    "Passive failures of the upstream server (errors, timeouts, "
	    "5xx with fail_on_5xx)." },
	{ "portico_server_retries_total",
	    "Requests moved on from the upstream server to another one." },
	{ "portico_tls_handshakes_total", "Client TLS handshakes completed." },
	{ "portico_tls_resumed_total",
	    "Client TLS handshakes that resumed a session." },
	{ "portico_tls_failed_total",
	    "Client TLS handshakes that failed or timed out." },
	{ "portico_tls_upstream_handshakes_total",
	    "TLS handshakes with upstream servers completed." },
	{ "portico_tls_upstream_resumed_total",
	    "TLS handshakes with upstream servers that resumed a session." },
	{ "portico_tls_upstream_failed_total",
	    "TLS handshakes with upstream servers that failed." },
};

static const char *
help_of(const char *name, size_t len)
{
	size_t	 i;

	for (i = 0; i < sizeof(old_help) / sizeof(old_help[0]); i++)
		if (strlen(old_help[i].name) == len &&
		    memcmp(old_help[i].name, name, len) == 0)
			return old_help[i].help;
	return NULL;
}

/*
 * Copy the body, with a # HELP line before every # TYPE line that has
 * none and whose family is in old_help.
 */
static void
prom_help(struct sbuf *b)
{
	struct sbuf	 o = { NULL, 0, 0, 0 };
	const char	*p, *e, *nl, *name, *help, *prev = NULL;
	size_t		 nlen, prevlen = 0;
	int		 has;

	if (b->oom || b->p == NULL)
		return;
	for (p = b->p, e = b->p + b->len; p < e; prev = p, p = nl) {
		nl = memchr(p, '\n', (size_t)(e - p));
		nl = nl != NULL ? nl + 1 : e;
		if (prev != NULL)
			prevlen = (size_t)(p - prev);
		if (nl - p > 7 && memcmp(p, "# TYPE ", 7) == 0) {
			name = p + 7;
			nlen = strcspn(name, " \n");
			has = prev != NULL && prevlen > 8 + nlen &&
			    memcmp(prev, "# HELP ", 7) == 0 &&
			    memcmp(prev + 7, name, nlen) == 0 &&
			    prev[7 + nlen] == ' ';
			if (!has && (help = help_of(name, nlen)) != NULL)
				mb_printf(&o, "# HELP %.*s %s\n", (int)nlen, name,
				    help);
		}
		mb_printf(&o, "%.*s", (int)(nl - p), p);
	}
	if (o.oom) {
		free(o.p);
		b->oom = 1;
		return;
	}
	free(b->p);
	*b = o;
}

void
metrics_prom(struct sbuf *b, const struct shm_header *shm)
{
	const struct metrics	*m = shm_metrics(shm);
	int			 s;

	prom_help(b);
	prom_family(b, "portico_build_info", "gauge",
	    "Always 1; the version label is the running portico's.");
	mb_printf(b, "portico_build_info{version=\"%s\"} 1\n", PACKAGE_VERSION);
	prom_family(b, "portico_start_time_seconds", "gauge",
	    "When the master process started, in seconds since the Unix epoch.");
	mb_printf(b, "portico_start_time_seconds %lld\n", (long long)m->started);
	prom_family(b, "portico_uptime_seconds", "gauge",
	    "Seconds since the master process started.");
	mb_printf(b, "portico_uptime_seconds %lld\n",
	    (long long)(ev_wall - m->started));
	prom_family(b, "portico_connections_open", "gauge",
	    "Client connections open now, all workers.");
	mb_printf(b, "portico_connections_open %llu\n",
	    (unsigned long long)open_connections(m));
	prom_family(b, "portico_worker_connections_open", "gauge",
	    "Client connections open now, per worker (its slot number, as "
	    "in the error log).");
	for (s = 0; s < SHM_SLOTS; s++)
		if (__atomic_load_n(&m->live[s], __ATOMIC_ACQUIRE))
			mb_printf(b, "portico_worker_connections_open{worker="
			    "\"%d\"} %llu\n", s,
			    (unsigned long long)get(&m->slot[s].connections));
	prom_routes(b, m);
	prom_certs(b);
}
