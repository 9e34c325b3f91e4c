/*
 * status.c: the status endpoint: JSON and Prometheus text from the
 * shared-memory counters and health state.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/epoll.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "common/cache.h"
#include "common/log.h"
#include "common/net.h"
#include "common/shm.h"
#include "worker/balance.h"
#include "worker/bodybuf.h"
#include "worker/cachepol.h"
#include "worker/event.h"
#include "common/http.h"
#include "worker/metrics.h"
#include "worker/proxy.h"
#include "worker/proxy_int.h"
#include "worker/tls.h"
#include "worker/uri.h"
#include "worker/worker.h"

static void
sb_printf(struct sbuf *b, const char *fmt, ...)
{
	va_list	 ap;
	int	 n;
	char	*np;

	for (;;) {
		if (b->oom)
			return;
		va_start(ap, fmt);
		n = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? b->cap - b->len : 0,
		    fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->oom = 1;
			return;
		}
		if (b->p != NULL && (size_t)n < b->cap - b->len) {
			b->len += n;
			return;
		}
		np = realloc(b->p, b->cap + n + 4096);
		if (np == NULL) {
			b->oom = 1;
			return;
		}
		b->p = np;
		b->cap += n + 4096;
	}
}

static const char *
state_name(uint32_t st)
{
	return st == SHM_DOWN ? "down" : (st == SHM_FAILED ? "failed" : "up");
}

/* Copy a shared probe text, for JSON and label use: printable, no quotes. */
static void
probe_text(const struct shm_server *ss, char *out, size_t len)
{
	size_t	 i;

	for (i = 0; i + 1 < len && i < sizeof(ss->last_probe) && ss->last_probe[i]; i++)
		out[i] = (ss->last_probe[i] >= 0x20 && ss->last_probe[i] < 0x7f &&
		    ss->last_probe[i] != '"' && ss->last_probe[i] != '\\') ?
		    ss->last_probe[i] : '?';
	out[i] = '\0';
}

/* Prometheus families, each as one group of samples over all servers. */
static void
status_metrics(struct sbuf *b, struct shm_header *shm)
{
	static const struct {
		const char	*name, *type;
	} fam[] = {
		{ "portico_server_up", "gauge" },
		{ "portico_server_active_connections", "gauge" },
		{ "portico_server_requests_total", "counter" },
		{ "portico_server_failures_total", "counter" },
		{ "portico_server_retries_total", "counter" },
	};
	const struct conf_upstream	*cu;
	const struct conf_server	*cs;
	const struct shm_server		*ss;
	size_t				 f, u, i;
	unsigned long long		 v;

	for (f = 0; f < sizeof(fam) / sizeof(fam[0]); f++) {
		sb_printf(b, "# TYPE %s %s\n", fam[f].name, fam[f].type);
		for (u = 0; u < conf->nupstreams; u++) {
			cu = &conf->upstreams[u];
			for (i = 0; i < cu->nservers; i++) {
				cs = &cu->servers[i];
				if (cs->shm_idx < 0)
					continue;
				ss = &shm->srv[cs->shm_idx];
				switch (f) {
				case 0:
					v = shm_read32(&ss->state) == SHM_UP;
					break;
				case 1:
					v = shm_read32(&ss->active);
					break;
				case 2:
					v = shm_read64(&ss->requests);
					break;
				case 3:
					v = shm_read64(&ss->fails);
					break;
				default:
					v = shm_read64(&ss->retries);
					break;
				}
				sb_printf(b, "%s{upstream=\"%s\",server=\"%s\"} %llu\n",
				    fam[f].name, cu->name, cs->addr.text, v);
			}
		}
	}
}

/* TLS handshake counters, all workers: a JSON member or Prometheus lines. */
static void
status_tls(struct sbuf *b, int prom)
{
	static const char *const name[] = {
		"handshakes", "resumed", "failed",
		"upstream_handshakes", "upstream_resumed", "upstream_failed"
	};
	unsigned long long	 v[6] = { 0 };
	int			 i;

	if (tls_shm != NULL) {
		v[0] = shm_read64(&tls_shm->handshakes);
		v[1] = shm_read64(&tls_shm->resumed);
		v[2] = shm_read64(&tls_shm->failed);
		v[3] = shm_read64(&tls_shm->up_handshakes);
		v[4] = shm_read64(&tls_shm->up_resumed);
		v[5] = shm_read64(&tls_shm->up_failed);
	}
	if (!prom) {
		sb_printf(b, ",\"tls\":{");
		for (i = 0; i < 6; i++)
			sb_printf(b, "%s\"%s\":%llu", i ? "," : "", name[i], v[i]);
		sb_printf(b, "}");
		return;
	}
	for (i = 0; i < 6; i++)
		sb_printf(b, "# TYPE portico_tls_%s_total counter\n"
		    "portico_tls_%s_total %llu\n", name[i], name[i], v[i]);
}

/* The totals over all workers, as Prometheus samples. */
static void
status_prom_totals(struct sbuf *b, const struct shm_stats *tot)
{
	struct cache_stats	 cs;
	int			 k;

	sb_printf(b, "# TYPE portico_connections_total counter\n"
	    "portico_connections_total %llu\n"
	    "# TYPE portico_connections_refused_total counter\n"
	    "portico_connections_refused_total %llu\n"
	    "# TYPE portico_requests_total counter\n"
	    "portico_requests_total %llu\n"
	    "# TYPE portico_responses_total counter\n",
	    (unsigned long long)tot->connections,
	    (unsigned long long)tot->connections_refused,
	    (unsigned long long)tot->requests);
	for (k = 1; k <= 5; k++)
		sb_printf(b, "portico_responses_total{class=\"%dxx\"} %llu\n",
		    k, (unsigned long long)tot->status[k]);
	sb_printf(b, "# TYPE portico_upstream_errors_total counter\n"
	    "portico_upstream_errors_total %llu\n",
	    (unsigned long long)tot->upstream_errors);
	if (worker.cache == NULL)
		return;
	cache_get_stats(worker.cache, &cs);
	sb_printf(b, "# TYPE portico_cache_requests_total counter\n"
	    "portico_cache_requests_total{result=\"hit\"} %llu\n"
	    "portico_cache_requests_total{result=\"miss\"} %llu\n"
	    "portico_cache_requests_total{result=\"stale\"} %llu\n"
	    "# TYPE portico_cache_stored_total counter\n"
	    "portico_cache_stored_total %llu\n"
	    "# TYPE portico_cache_evictions_total counter\n"
	    "portico_cache_evictions_total %llu\n"
	    "# TYPE portico_cache_objects gauge\n"
	    "portico_cache_objects %llu\n"
	    "# TYPE portico_cache_used_bytes gauge\n"
	    "portico_cache_used_bytes %llu\n"
	    "# TYPE portico_cache_size_bytes gauge\n"
	    "portico_cache_size_bytes %llu\n",
	    (unsigned long long)tot->cache_hits,
	    (unsigned long long)tot->cache_misses,
	    (unsigned long long)tot->cache_stale,
	    (unsigned long long)tot->cache_stored,
	    (unsigned long long)cs.evictions,
	    (unsigned long long)cs.objects,
	    (unsigned long long)cs.used,
	    (unsigned long long)cs.size);
}

/* The totals over all workers: the first members of the JSON object. */
static void
status_json_totals(struct sbuf *b, const struct shm_stats *tot)
{
	struct cache_stats	 cs;

	sb_printf(b, "{\"connections\":%llu,"
	    "\"connections_refused\":%llu,\"requests\":%llu,"
	    "\"responses\":{\"1xx\":%llu,\"2xx\":%llu,\"3xx\":%llu,"
	    "\"4xx\":%llu,\"5xx\":%llu},\"upstream_errors\":%llu,",
	    (unsigned long long)tot->connections,
	    (unsigned long long)tot->connections_refused,
	    (unsigned long long)tot->requests,
	    (unsigned long long)tot->status[1], (unsigned long long)tot->status[2],
	    (unsigned long long)tot->status[3], (unsigned long long)tot->status[4],
	    (unsigned long long)tot->status[5],
	    (unsigned long long)tot->upstream_errors);
	if (worker.cache == NULL)
		return;
	cache_get_stats(worker.cache, &cs);
	sb_printf(b, "\"cache\":{\"hits\":%llu,\"misses\":%llu,"
	    "\"stale\":%llu,\"stored\":%llu,\"evictions\":%llu,"
	    "\"objects\":%llu,\"writing\":%llu,\"used\":%llu,"
	    "\"size\":%llu},",
	    (unsigned long long)tot->cache_hits,
	    (unsigned long long)tot->cache_misses,
	    (unsigned long long)tot->cache_stale,
	    (unsigned long long)tot->cache_stored,
	    (unsigned long long)cs.evictions,
	    (unsigned long long)cs.objects,
	    (unsigned long long)cs.writing,
	    (unsigned long long)cs.used,
	    (unsigned long long)cs.size);
}

/* One server of the JSON "upstreams" list, with its shared state. */
static void
status_json_server(struct sbuf *b, const struct conf_server *cs,
    const struct shm_server *ss, int first)
{
	char		 probe[64];
	uint64_t	 since = shm_read64(&ss->changed_ms);

	probe_text(ss, probe, sizeof(probe));
	if (since == 0 || since > ev_now)
		since = ev_now;
	sb_printf(b, "%s{\"address\":\"%s\",\"weight\":%d,"
	    "\"backup\":%s,\"max_conns\":%d,\"state\":\"%s\","
	    "\"since_ms\":%llu,\"last_probe\":\"%s\",\"probes\":%llu,"
	    "\"active\":%u,\"requests\":%llu,\"failures\":%llu,"
	    "\"retries\":%llu}",
	    first ? "" : ",", cs->addr.text, cs->weight,
	    cs->backup ? "true" : "false", cs->max_conns,
	    state_name(shm_read32(&ss->state)),
	    (unsigned long long)(ev_now - since), probe,
	    (unsigned long long)shm_read64(&ss->probes),
	    shm_read32(&ss->active),
	    (unsigned long long)shm_read64(&ss->requests),
	    (unsigned long long)shm_read64(&ss->fails),
	    (unsigned long long)shm_read64(&ss->retries));
}

/* The JSON "upstreams" member: every upstream with its servers. */
static void
status_json_upstreams(struct sbuf *b, struct shm_header *shm)
{
	const struct conf_upstream	*cu;
	const struct conf_server	*cs;
	size_t				 u, i;

	sb_printf(b, "\"upstreams\":[");
	for (u = 0; u < conf->nupstreams; u++) {
		cu = &conf->upstreams[u];
		sb_printf(b, "%s{\"name\":\"%s\",\"servers\":[",
		    u ? "," : "", cu->name);
		for (i = 0; i < cu->nservers; i++) {
			cs = &cu->servers[i];
			if (cs->shm_idx >= 0)
				status_json_server(b, cs, &shm->srv[cs->shm_idx],
				    i == 0);
		}
		sb_printf(b, "]}");
	}
	sb_printf(b, "]");
}

/*
 * Answer with the page built in b (taken: freed here or with the
 * request) as content type.
 */
static enum step
status_reply(struct client *c, struct sbuf *b, const char *type)
{
	struct req	*r = c->r;
	struct hbuild	 h;
	int		 rc = 0;

	if (b->oom) {
		free(b->p);
		return local_answer(c, 500, 1);
	}
	if (r->hb == NULL && (r->hb = buf_get()) == NULL) {
		free(b->p);
		client_close(c);
		return STEP_CLOSED;
	}
	h = (struct hbuild){ r->hb, 0, bufsize };
	rc |= head_start_local(&h, 200);
	rc |= hb_str(&h, "Content-Type: ");
	rc |= hb_str(&h, type);
	rc |= hb_str(&h, "\r\nCache-Control: no-store\r\n");
	rc |= head_tail(&h, r, (int64_t)b->len);
	if (rc != 0) {
		free(b->p);
		return local_answer(c, 500, 1);
	}
	r->status = 200;
	r->local_close = !r->keep_alive;
	r->hb_pos = 0;
	r->hb_end = h.len;
	if (r->method == HTTP_M_HEAD) {
		free(b->p);
		b->p = NULL;
		b->len = 0;
	}
	r->xbody = b->p;
	r->xbody_len = b->len;
	r->xbody_pos = 0;
	r->body_bytes = b->len;
	r->resp_head = 1;
	c->state = CS_LOCAL;
	return STEP_ANSWERED;
}

/*
 * The status page: every upstream and server with its shared state and
 * counters, summed over all workers from shared memory.  JSON, or the
 * Prometheus text format when the path ends in /metrics.
 */
enum step
status_answer(struct client *c, const struct http_request *rq)
{
	struct sbuf		 b = { NULL, 0, 0, 0 };
	struct shm_stats	 tot;
	int			 prom;

	prom = rq->path_len >= 8 &&
	    memcmp(rq->path + rq->path_len - 8, "/metrics", 8) == 0;
	shm_stats_total(worker.shm, &tot);
	if (prom) {
		status_prom_totals(&b, &tot);
		status_metrics(&b, worker.shm);
		status_tls(&b, 1);
		metrics_prom(&b, worker.shm);	/* last: it adds # HELP lines */
		return status_reply(c, &b, "text/plain; version=0.0.4");
	}
	status_json_totals(&b, &tot);
	status_json_upstreams(&b, worker.shm);
	status_tls(&b, 0);
	metrics_json(&b, worker.shm);
	sb_printf(&b, "}\n");
	return status_reply(c, &b, "application/json");
}
