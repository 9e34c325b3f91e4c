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

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/conf.h"
#include "common/metrics.h"
#include "common/shm.h"
#include "common/strbuf.h"
#include "common/tls.h"
#include "worker/event.h"
#include "worker/metrics.h"
#include "worker/proxy_int.h"

/* The label/JSON name of route row 0: a route name cannot have '('. */
#define NO_ROUTE	"(none)"

static struct metrics		*reg;	/* the region */
static struct metrics_slot	*mine;	/* this worker's slot; NULL: none */

void
metrics_worker_start(struct shm_header *shm, int slot)
{
	if (shm == NULL || slot < 0 || slot >= SHM_SLOTS)
		return;
	reg = shm_metrics(shm);
	mine = &reg->slot[slot];
	shm_write64(&mine->connections, 0);
	shm_write64(&mine->pid, (uint64_t)getpid());
	shm_publish8(&reg->live[slot], 1);
}

void
metrics_conn_opened(void)
{
	if (mine != NULL)
		shm_stat_add(&mine->connections, 1);
}

void
metrics_conn_closed(void)
{
	if (mine != NULL && shm_read64(&mine->connections) > 0)
		shm_stat_add(&mine->connections, (uint64_t)-1);
}

static inline void
hist_record(struct metrics_hist *h, uint64_t us)
{
	shm_stat_add(&h->bucket[metrics_bucket(us)], 1);
	shm_stat_add(&h->sum_us, us);
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
		shm_stat_add(&rr->status[status / 100], 1);
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

/* s as a Prometheus label value (json 0) or JSON string body (json 1). */
static void
mb_escaped(struct strbuf *b, const char *s, int json)
{
	for (; *s != '\0'; s++) {
		if (*s == '"' || *s == '\\') {
			strbuf_add(b, "\\", 1);
			strbuf_add(b, s, 1);
		} else if (*s == '\n')
			strbuf_str(b, "\\n");
		else if (json && (unsigned char)*s < 0x20)
			strbuf_fmt(b, "\\u%04x", (unsigned char)*s);
		else
			strbuf_add(b, s, 1);
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
		if (shm_acquire8(&m->live[s]))
			n += shm_read64(&m->slot[s].connections);
	return n;
}

/* A histogram as a JSON object: count, sum (seconds), cumulative buckets. */
static void
json_hist(struct strbuf *b, const struct metrics_hist *h)
{
	char		 le[16];
	uint64_t	 cum = 0;
	int		 i;

	strbuf_fmt(b, "{\"count\":%llu,\"sum\":%.6f,\"buckets\":{",
	    (unsigned long long)hist_count(h), (double)h->sum_us / 1e6);
	for (i = 0; i < METRICS_BUCKETS; i++) {
		cum += h->bucket[i];
		bound_text(i, le, sizeof(le));
		strbuf_fmt(b, "%s\"%s\":%llu", i ? "," : "", le,
		    (unsigned long long)cum);
	}
	strbuf_fmt(b, "}}");
}

static void
json_certs(struct strbuf *b)
{
	const struct conf_listener	*l;
	size_t				 i, k;
	int				 n = 0;

	strbuf_fmt(b, ",\"certificates\":[");
	for (i = 0; i < conf->nlisteners; i++) {
		l = &conf->listeners[i];
		for (k = 0; l->tls != NULL && k < l->ntls_cert; k++) {
			strbuf_fmt(b, "%s{\"listener\":\"", n++ ? "," : "");
			mb_escaped(b, l->name, 1);
			strbuf_fmt(b, "\",\"file\":\"");
			mb_escaped(b, l->tls_cert[k].path, 1);
			strbuf_fmt(b, "\",\"not_after\":%lld}",
			    (long long)tls_cert_not_after(l->tls, k));
		}
	}
	strbuf_fmt(b, "]");
}

void
metrics_json(struct strbuf *b, const struct shm_header *shm)
{
	const struct metrics		*m = shm_metrics(shm);
	struct metrics_route_row	 rr;
	struct metrics_upstream_row	 ur;
	int				 j, s, n;

	strbuf_fmt(b, ",\"version\":\"%s\",\"started\":%lld,\"uptime\":%lld,"
	    "\"connections_open\":%llu,\"workers\":[", PACKAGE_VERSION,
	    (long long)m->started, (long long)(ev_wall - m->started),
	    (unsigned long long)open_connections(m));
	for (s = 0, n = 0; s < SHM_SLOTS; s++)
		if (shm_acquire8(&m->live[s]))
			strbuf_fmt(b, "%s{\"worker\":%d,\"pid\":%llu,"
			    "\"connections\":%llu}", n++ ? "," : "", s,
			    (unsigned long long)shm_read64(&m->slot[s].pid),
			    (unsigned long long)shm_read64(&m->slot[s].connections));
	strbuf_fmt(b, "],\"routes\":[");
	for (j = 0, n = 0; j < METRICS_ROUTES; j++) {
		if (!m->route_name[j].used)
			continue;
		metrics_route_total(m, j, &rr);
		strbuf_fmt(b, "%s{\"name\":\"%s\",\"requests\":%llu,"
		    "\"responses\":{\"1xx\":%llu,\"2xx\":%llu,\"3xx\":%llu,\"4xx\":%llu,"
		    "\"5xx\":%llu},\"duration\":", n++ ? "," : "",
		    row_name(m->route_name, j, 1),
		    (unsigned long long)hist_count(&rr.duration),
		    (unsigned long long)rr.status[1], (unsigned long long)rr.status[2],
		    (unsigned long long)rr.status[3], (unsigned long long)rr.status[4],
		    (unsigned long long)rr.status[5]);
		json_hist(b, &rr.duration);
		strbuf_fmt(b, "}");
	}
	strbuf_fmt(b, "],\"upstream_times\":[");
	for (j = 0, n = 0; j < METRICS_UPSTREAMS; j++) {
		if (!m->upstream_name[j].used)
			continue;
		metrics_upstream_total(m, j, &ur);
		strbuf_fmt(b, "%s{\"name\":\"%s\",\"time\":", n++ ? "," : "",
		    m->upstream_name[j].name);
		json_hist(b, &ur.time);
		strbuf_fmt(b, "}");
	}
	strbuf_fmt(b, "]");
	json_certs(b);
}

void
metrics_prom_family(struct strbuf *b, const char *name, const char *type,
    const char *help)
{
	strbuf_fmt(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* One histogram's samples: name_bucket{label,le}, name_sum, name_count. */
static void
prom_hist(struct strbuf *b, const char *name, const char *label,
    const char *value, const struct metrics_hist *h)
{
	char		 le[16];
	uint64_t	 cum = 0;
	int		 i;

	for (i = 0; i < METRICS_BUCKETS; i++) {
		cum += h->bucket[i];
		bound_text(i, le, sizeof(le));
		strbuf_fmt(b, "%s_bucket{%s=\"%s\",le=\"%s\"} %llu\n", name,
		    label, value, le, (unsigned long long)cum);
	}
	strbuf_fmt(b, "%s_sum{%s=\"%s\"} %.6f\n%s_count{%s=\"%s\"} %llu\n",
	    name, label, value, (double)h->sum_us / 1e6, name, label, value,
	    (unsigned long long)cum);
}

static void
prom_certs(struct strbuf *b)
{
	const struct conf_listener	*l;
	size_t				 i, k;

	metrics_prom_family(b,
	    "portico_tls_certificate_expiry_timestamp_seconds", "gauge", "When each listener certificate expires (its notAfter), "
	    "in seconds since the Unix epoch.");
	for (i = 0; i < conf->nlisteners; i++) {
		l = &conf->listeners[i];
		for (k = 0; l->tls != NULL && k < l->ntls_cert; k++) {
			strbuf_str(b, "portico_tls_certificate_expiry_"
			    "timestamp_seconds{listener=\"");
			mb_escaped(b, l->name, 0);
			strbuf_fmt(b, "\",certificate=\"");
			mb_escaped(b, l->tls_cert[k].path, 0);
			strbuf_fmt(b, "\"} %lld\n",
			    (long long)tls_cert_not_after(l->tls, k));
		}
	}
}

static void
prom_routes(struct strbuf *b, const struct metrics *m)
{
	struct metrics_route_row	 rr;
	struct metrics_upstream_row	 ur;
	int				 j, k;

	metrics_prom_family(b, "portico_route_responses_total", "counter",
	    "Answers sent per route and status class (route \"" NO_ROUTE
	    "\": requests answered before a route was chosen).");
	for (j = 0; j < METRICS_ROUTES; j++) {
		if (!m->route_name[j].used)
			continue;
		metrics_route_total(m, j, &rr);
		for (k = 1; k <= 5; k++)
			strbuf_fmt(b, "portico_route_responses_total{"
			    "route=\"%s\",class=\"%dxx\"} %llu\n", row_name(m->route_name, j, 1),
			    k, (unsigned long long)rr.status[k]);
	}
	metrics_prom_family(b, "portico_route_request_duration_seconds",
	    "histogram", "Time from the request head to the end of the "
	    "exchange, per route.");
	for (j = 0; j < METRICS_ROUTES; j++) {
		if (!m->route_name[j].used)
			continue;
		metrics_route_total(m, j, &rr);
		prom_hist(b, "portico_route_request_duration_seconds", "route",
		    row_name(m->route_name, j, 1), &rr.duration);
	}
	metrics_prom_family(b, "portico_upstream_response_duration_seconds",
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

void
metrics_prom(struct strbuf *b, const struct shm_header *shm)
{
	const struct metrics	*m = shm_metrics(shm);
	int			 s;

	metrics_prom_family(b, "portico_build_info", "gauge",
	    "Always 1; the version label is the running portico's.");
	strbuf_fmt(b, "portico_build_info{version=\"%s\"} 1\n",
	    PACKAGE_VERSION);
	metrics_prom_family(b, "portico_start_time_seconds", "gauge",
	    "When the master process started, in seconds since the Unix epoch.");
	strbuf_fmt(b, "portico_start_time_seconds %lld\n",
	    (long long)m->started);
	metrics_prom_family(b, "portico_uptime_seconds", "gauge",
	    "Seconds since the master process started.");
	strbuf_fmt(b, "portico_uptime_seconds %lld\n",
	    (long long)(ev_wall - m->started));
	metrics_prom_family(b, "portico_connections_open", "gauge",
	    "Client connections open now, all workers.");
	strbuf_fmt(b, "portico_connections_open %llu\n",
	    (unsigned long long)open_connections(m));
	metrics_prom_family(b, "portico_worker_connections_open", "gauge",
	    "Client connections open now, per worker (its slot number, as "
	    "in the error log).");
	for (s = 0; s < SHM_SLOTS; s++)
		if (shm_acquire8(&m->live[s]))
			strbuf_fmt(b, "portico_worker_connections_open{worker="
			    "\"%d\"} %llu\n", s,
			    (unsigned long long)shm_read64(&m->slot[s].connections));
	prom_routes(b, m);
	prom_certs(b);
}
