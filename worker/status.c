/*
 * status.c: the status endpoint: JSON and Prometheus text from the
 * shared-memory counters and health state.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
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
#include "common/strbuf.h"
#include "worker/balance.h"
#include "worker/bodybuf.h"
#include "worker/cachepol.h"
#include "worker/event.h"
#include "common/http.h"
#include "worker/metrics.h"
#include "worker/proxy.h"
#include "worker/limits.h"
#include "worker/proxy_int.h"
#include "worker/tls.h"
#include "worker/upslot.h"
#include "worker/uri.h"
#include "worker/worker.h"

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
status_metrics(struct strbuf *b, struct shm_header *shm)
{
	static const struct {
		const char	*name, *type, *help;
	} fam[] = {
		{ "portico_server_up", "gauge", "1 when the upstream server "
		    "is up (health state), else 0." },
		{ "portico_server_active_connections", "gauge",
		    "Connections in use to the upstream server, all workers." },
		{ "portico_server_requests_total", "counter",
		    "Requests sent to the upstream server." },
		{ "portico_server_failures_total", "counter",
		    "Passive failures of the upstream server (errors, "
		    "timeouts, 5xx with fail_on_5xx)." },
		{ "portico_server_retries_total", "counter",
		    "Requests moved on from the upstream server to another "
		    "one." },
	};
	const struct conf_upstream	*cu;
	const struct conf_server	*cs;
	const struct shm_server		*ss;
	size_t				 f, u, i;
	unsigned long long		 v;
	const char			*addr;
	char				 abuf[64];

	for (f = 0; f < sizeof(fam) / sizeof(fam[0]); f++) {
		metrics_prom_family(b, fam[f].name, fam[f].type, fam[f].help);
		for (u = 0; u < conf->nupstreams; u++) {
			cu = &conf->upstreams[u];
			for (i = 0; i < cu->nservers; i++) {
				cs = &cu->servers[i];
				if (cs->shm_idx < 0)
					continue;
				ss = &shm->srv[cs->shm_idx];
				if ((addr = upslot_addr(cs, ss, abuf)) == NULL)
					continue;	/* an empty DNS slot */
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
				strbuf_fmt(b, "%s{upstream=\"%s\",server=\"%s\"} "
				    "%llu\n", fam[f].name, cu->name, addr, v);
			}
		}
	}
	upslot_prom(b, conf, shm);
}

/* A family of one sample: its # HELP and # TYPE lines, then "name v". */
static void
prom_one(struct strbuf *b, const char *name, const char *type,
    const char *help, unsigned long long v)
{
	metrics_prom_family(b, name, type, help);
	strbuf_fmt(b, "%s %llu\n", name, v);
}

/* TLS handshake counters, all workers: a JSON member or Prometheus lines. */
static void
status_tls(struct strbuf *b, int prom)
{
	static const struct {
		const char	*name, *prom, *help;
	} t[] = {
		{ "handshakes", "portico_tls_handshakes_total",
		    "Client TLS handshakes completed." },
		{ "resumed", "portico_tls_resumed_total",
		    "Client TLS handshakes that resumed a session." },
		{ "failed", "portico_tls_failed_total",
		    "Client TLS handshakes that failed or timed out." },
		{ "upstream_handshakes",
		    "portico_tls_upstream_handshakes_total",
		    "TLS handshakes with upstream servers completed." },
		{ "upstream_resumed", "portico_tls_upstream_resumed_total",
		    "TLS handshakes with upstream servers that resumed a "
		    "session." },
		{ "upstream_failed", "portico_tls_upstream_failed_total",
		    "TLS handshakes with upstream servers that failed." },
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
		strbuf_fmt(b, ",\"tls\":{");
		for (i = 0; i < 6; i++)
			strbuf_fmt(b, "%s\"%s\":%llu", i ? "," : "", t[i].name,
			    v[i]);
		strbuf_fmt(b, "}");
		return;
	}
	for (i = 0; i < 6; i++)
		prom_one(b, t[i].prom, "counter", t[i].help, v[i]);
}

/* The totals over all workers, as Prometheus samples. */
static void
status_prom_totals(struct strbuf *b, const struct shm_stats *tot)
{
	struct cache_stats	 cs;
	int			 k;

	prom_one(b, "portico_connections_total", "counter",
	    "Client connections accepted.", tot->connections);
	prom_one(b, "portico_connections_refused_total", "counter",
	    "Client connections refused over worker_connections (503).",
	    tot->connections_refused);
	prom_one(b, "portico_realip_malformed_total", "counter",
	    "Malformed client address fields from trusted proxies (peer kept).",
	    tot->realip_malformed);
	prom_one(b, "portico_proxy_protocol_refused_total", "counter",
	    "Connections closed for a missing, malformed, late or untrusted "
	    "PROXY protocol header.", tot->pp_refused);
	prom_one(b, "portico_waf_inspected_total", "counter",
	    "Requests the web application firewall inspected.",
	    tot->waf_inspected);
	prom_one(b, "portico_waf_blocked_total", "counter",
	    "Requests the web application firewall blocked (waf = on).",
	    tot->waf_blocked);
	prom_one(b, "portico_waf_detected_total", "counter",
	    "Requests the web application firewall would have blocked "
	    "(waf = detect).", tot->waf_detected);
	prom_one(b, "portico_requests_total", "counter",
	    "Request heads received.", tot->requests);
	metrics_prom_family(b, "portico_responses_total", "counter",
	    "Answers sent, by status class.");
	for (k = 1; k <= 5; k++)
		strbuf_fmt(b, "portico_responses_total{class=\"%dxx\"} %llu\n",
		    k, (unsigned long long)tot->status[k]);
	prom_one(b, "portico_upstream_errors_total", "counter",
	    "Upstream connect failures, resets and invalid responses.",
	    tot->upstream_errors);
	prom_one(b, "portico_tunnels_open", "gauge",
	    "Upgraded connections (WebSocket) open now.",
	    tot->tunnels - tot->tunnels_closed);
	prom_one(b, "portico_tunnels_total", "counter",
	    "Upgraded connections (WebSocket) opened.", tot->tunnels);
	metrics_prom_family(b, "portico_tunnel_bytes_total", "counter",
	    "Bytes through upgraded connections, by direction.");
	strbuf_fmt(b, "portico_tunnel_bytes_total{direction=\"to_backend\"} %llu\n"
	    "portico_tunnel_bytes_total{direction=\"to_client\"} %llu\n",
	    (unsigned long long)tot->tunnel_bytes_in,
	    (unsigned long long)tot->tunnel_bytes_out);
	prom_one(b, "portico_spliced_bytes_total", "counter",
	    "Response body bytes moved from backend to client by splice().",
	    tot->spliced_bytes);
	prom_one(b, "portico_compressed_total", "counter",
	    "Answers compressed (gzip or brotli).", tot->compressed);
	metrics_prom_family(b, "portico_compress_bytes_total", "counter",
	    "Body bytes of compressed answers, into and out of the encoders.");
	strbuf_fmt(b, "portico_compress_bytes_total{direction=\"in\"} %llu\n"
	    "portico_compress_bytes_total{direction=\"out\"} %llu\n",
	    (unsigned long long)tot->compress_in,
	    (unsigned long long)tot->compress_out);
	prom_one(b, "portico_sendfile_bytes_total", "counter",
	    "Cache hit body bytes sent by sendfile() from the cache's memfd.",
	    tot->sendfile_bytes);
	metrics_prom_family(b, "portico_auth_checks_total", "counter",
	    "Basic authentication checks: given to the hashing threads, "
	    "answered from the workers' tables, refused 503 (busy).");
	strbuf_fmt(b, "portico_auth_checks_total{result=\"hashed\"} %llu\n"
	    "portico_auth_checks_total{result=\"cache_hit\"} %llu\n"
	    "portico_auth_checks_total{result=\"busy\"} %llu\n",
	    (unsigned long long)tot->auth_hashed,
	    (unsigned long long)tot->auth_cached,
	    (unsigned long long)tot->auth_busy);
	if (worker.cache == NULL)
		return;
	cache_get_stats(worker.cache, &cs);
	metrics_prom_family(b, "portico_cache_requests_total", "counter",
	    "Requests on caching routes, by cache result (hit, miss, stale).");
	strbuf_fmt(b, "portico_cache_requests_total{result=\"hit\"} %llu\n"
	    "portico_cache_requests_total{result=\"miss\"} %llu\n"
	    "portico_cache_requests_total{result=\"stale\"} %llu\n",
	    (unsigned long long)tot->cache_hits,
	    (unsigned long long)tot->cache_misses,
	    (unsigned long long)tot->cache_stale);
	prom_one(b, "portico_cache_stored_total", "counter",
	    "Objects stored in the cache.", tot->cache_stored);
	prom_one(b, "portico_cache_evictions_total", "counter",
	    "Objects evicted from the cache to make room.", cs.evictions);
	prom_one(b, "portico_cache_objects", "gauge",
	    "Objects in the cache now.", cs.objects);
	prom_one(b, "portico_cache_used_bytes", "gauge",
	    "Bytes of the cache region in use now.", cs.used);
	prom_one(b, "portico_cache_size_bytes", "gauge",
	    "Size of the cache region in bytes.", cs.size);
}

/* The totals over all workers: the first members of the JSON object. */
static void
status_json_totals(struct strbuf *b, const struct shm_stats *tot)
{
	struct cache_stats	 cs;

	strbuf_fmt(b, "\"connections\":%llu,"
	    "\"connections_refused\":%llu,\"realip_malformed\":%llu,"
	    "\"proxy_protocol_refused\":%llu,\"requests\":%llu,\"responses\":{\"1xx\":%llu,\"2xx\":%llu,\"3xx\":%llu,"
	    "\"4xx\":%llu,\"5xx\":%llu},\"upstream_errors\":%llu,",
	    (unsigned long long)tot->connections,
	    (unsigned long long)tot->connections_refused,
	    (unsigned long long)tot->realip_malformed,
	    (unsigned long long)tot->pp_refused,
	    (unsigned long long)tot->requests,
	    (unsigned long long)tot->status[1], (unsigned long long)tot->status[2],
	    (unsigned long long)tot->status[3], (unsigned long long)tot->status[4],
	    (unsigned long long)tot->status[5],
	    (unsigned long long)tot->upstream_errors);
	strbuf_fmt(b, "\"tunnels\":{\"open\":%llu,\"total\":%llu,"
	    "\"bytes_to_backend\":%llu,\"bytes_to_client\":%llu},",
	    (unsigned long long)(tot->tunnels - tot->tunnels_closed),
	    (unsigned long long)tot->tunnels,
	    (unsigned long long)tot->tunnel_bytes_in,
	    (unsigned long long)tot->tunnel_bytes_out);
	strbuf_fmt(b, "\"waf\":{\"inspected\":%llu,\"blocked\":%llu,"
	    "\"detected\":%llu},",
	    (unsigned long long)tot->waf_inspected,
	    (unsigned long long)tot->waf_blocked,
	    (unsigned long long)tot->waf_detected);
	strbuf_fmt(b, "\"spliced_bytes\":%llu,\"sendfile_bytes\":%llu,",
	    (unsigned long long)tot->spliced_bytes,
	    (unsigned long long)tot->sendfile_bytes);
	strbuf_fmt(b, "\"auth\":{\"hashed\":%llu,\"cache_hits\":%llu,"
	    "\"busy\":%llu},",
	    (unsigned long long)tot->auth_hashed,
	    (unsigned long long)tot->auth_cached,
	    (unsigned long long)tot->auth_busy);
	strbuf_fmt(b, "\"compress\":{\"answers\":%llu,\"bytes_in\":%llu,"
	    "\"bytes_out\":%llu},",
	    (unsigned long long)tot->compressed,
	    (unsigned long long)tot->compress_in,
	    (unsigned long long)tot->compress_out);
	if (worker.cache == NULL)
		return;
	cache_get_stats(worker.cache, &cs);
	strbuf_fmt(b, "\"cache\":{\"hits\":%llu,\"misses\":%llu,"
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

/* One server of the JSON "upstreams" list, with its shared state; 1 if shown. */
static int
status_json_server(struct strbuf *b, const struct conf_server *cs,
    const struct shm_server *ss, int first)
{
	char		 probe[64], abuf[64];
	const char	*addr;
	uint64_t	 since = shm_read64(&ss->changed_ms);
	int		 weight = cs->weight, backup = cs->backup;

	if ((addr = upslot_addr(cs, ss, abuf)) == NULL)
		return 0;	/* an empty DNS slot */
	if (cs->dns != CONF_DNS_NONE) {
		weight = (int)shm_read32(&ss->dns.weight);
		backup |= (int)shm_read32(&ss->dns.backup);
	}

	probe_text(ss, probe, sizeof(probe));
	if (since == 0 || since > ev_now)
		since = ev_now;
	strbuf_fmt(b, "%s{\"address\":\"%s\",\"weight\":%d,"
	    "\"backup\":%s,\"max_conns\":%d,\"state\":\"%s\","
	    "\"since_ms\":%llu,\"last_probe\":\"%s\",\"probes\":%llu,"
	    "\"active\":%u,\"requests\":%llu,\"failures\":%llu,"
	    "\"retries\":%llu",
	    first ? "" : ",", addr, weight,
	    backup ? "true" : "false", cs->max_conns,
	    state_name(shm_read32(&ss->state)),
	    (unsigned long long)(ev_now - since), probe,
	    (unsigned long long)shm_read64(&ss->probes),
	    shm_read32(&ss->active),
	    (unsigned long long)shm_read64(&ss->requests),
	    (unsigned long long)shm_read64(&ss->fails),
	    (unsigned long long)shm_read64(&ss->retries));
	/* A DNS slot: which line's name it came from. */
	if (cs->dns != CONF_DNS_NONE)
		strbuf_fmt(b, ",\"source\":\"%s\"", cs->dns_name);
	strbuf_fmt(b, "}");
	return 1;
}

/* The JSON "upstreams" member: every upstream with its servers. */
static void
status_json_upstreams(struct strbuf *b, struct shm_header *shm)
{
	const struct conf_upstream	*cu;
	const struct conf_server	*cs;
	size_t				 u, i;
	int				 n;

	strbuf_fmt(b, "\"upstreams\":[");
	for (u = 0; u < conf->nupstreams; u++) {
		cu = &conf->upstreams[u];
		strbuf_fmt(b, "%s{\"name\":\"%s\",\"servers\":[",
		    u ? "," : "", cu->name);
		for (i = 0, n = 0; i < cu->nservers; i++) {
			cs = &cu->servers[i];
			if (cs->shm_idx >= 0)
				n += status_json_server(b, cs,
				    &shm->srv[cs->shm_idx], n == 0);
		}
		strbuf_fmt(b, "]");
		upslot_json(b, cu, shm);
		strbuf_fmt(b, "}");
	}
	strbuf_fmt(b, "]");
}

/*
 * Answer with the page p[0..len) (taken: freed here or with the
 * request) as content type.
 */
static enum step
status_reply(struct client *c, char *p, size_t len, const char *type)
{
	struct req	*r = c->r;
	struct strbuf	 h;

	if (r->hb == NULL && (r->hb = buf_get()) == NULL) {
		free(p);
		client_close(c);
		return STEP_CLOSED;
	}
	strbuf_init(&h, r->hb, bufsize);
	head_start_local(&h, r, 200);
	strbuf_str(&h, "Content-Type: ");
	strbuf_str(&h, type);
	strbuf_str(&h, "\r\nCache-Control: no-store\r\n");
	r->fe->head_tail(&h, r, (int64_t)len);
	if (h.over) {
		free(p);
		return local_answer(c, 500, 1);
	}
	r->status = 200;
	r->local_close = !r->keep_alive;
	r->hb_pos = 0;
	r->hb_end = h.len;
	if (r->method == HTTP_M_HEAD) {
		free(p);
		p = NULL;
		len = 0;
	}
	r->xbody = p;
	r->xbody_len = len;
	r->xbody_pos = 0;
	r->body_bytes = len;
	r->resp_head = 1;
	c->state = CS_LOCAL;
	return STEP_ANSWERED;
}

/*
 * The generation and the reloads, from the master's fields of the shm
 * header: Prometheus lines, or the head of the JSON object.
 */
static void
status_reloads(struct strbuf *b, struct shm_header *shm, int prom)
{
	unsigned long long	 gen, ok, failed;
	long long		 last;
	const char		*result;

	gen = shm_read64(&shm->generation);
	ok = shm_read64(&shm->reloads);
	failed = shm_read64(&shm->reloads_failed);
	last = (long long)shm_read64((const uint64_t *)&shm->last_reload);
	result = last == 0 ? "none" :
	    shm_read32(&shm->last_reload_ok) ? "ok" : "failed";
	ok -= failed;
	if (!prom) {
		strbuf_fmt(b, "\"generation\":%llu,\"reloads\":{\"ok\":%llu,"
		    "\"failed\":%llu,\"last_time\":%lld,\"last_result\":"
		    "\"%s\"},", gen, ok, failed, last, result);
		return;
	}
	metrics_prom_family(b, "portico_config_generation", "gauge",
	    "Configuration generation serving: 1 at start, +1 per successful "
	    "reload.");
	strbuf_fmt(b, "portico_config_generation %llu\n", gen);
	metrics_prom_family(b, "portico_reloads_total", "counter",
	    "Reloads (HUP) by result.");
	strbuf_fmt(b, "portico_reloads_total{result=\"ok\"} %llu\n"
	    "portico_reloads_total{result=\"failed\"} %llu\n", ok, failed);
	metrics_prom_family(b, "portico_last_reload_timestamp_seconds", "gauge",
	    "When the last reload ended (0: none).");
	strbuf_fmt(b, "portico_last_reload_timestamp_seconds %lld\n", last);
	metrics_prom_family(b, "portico_last_reload_success", "gauge",
	    "Whether the last reload succeeded (1 when there was none).");
	strbuf_fmt(b, "portico_last_reload_success %d\n",
	    strcmp(result, "failed") != 0);
}

/* The whole page into b: JSON, or the Prometheus text format (prom). */
static void
status_page(struct strbuf *b, int prom, const struct shm_stats *tot)
{
	if (prom) {
		status_prom_totals(b, tot);
		status_metrics(b, worker.shm);
		status_tls(b, 1);
		status_reloads(b, worker.shm, 1);
		limits_status(b, 1);
		metrics_prom(b, worker.shm);
		return;
	}
	strbuf_str(b, "{");
	status_reloads(b, worker.shm, 0);
	status_json_totals(b, tot);
	limits_status(b, 0);
	status_json_upstreams(b, worker.shm);
	status_tls(b, 0);
	metrics_json(b, worker.shm);
	strbuf_str(b, "}\n");
}

/*
 * The status page: every upstream and server with its shared state and
 * counters, summed over all workers from shared memory.  JSON, or the
 * Prometheus text format when the path ends in /metrics.  It is built
 * into a buffer of the size the last page needed; when it does not fit
 * (more servers, larger counters), again into one of the size it asked
 * for, with room for counters that grow meanwhile.
 */
enum step
status_answer(struct client *c, const struct http_request *rq)
{
	static size_t		 cap = 16384;
	struct strbuf		 b;
	struct shm_stats	 tot;
	char			*p;
	int			 prom, tries;

	prom = rq->path_len >= 8 &&
	    memcmp(rq->path + rq->path_len - 8, "/metrics", 8) == 0;
	shm_stats_total(worker.shm, &tot);
	for (tries = 0; ; tries++) {
		if ((p = malloc(cap)) == NULL)
			return local_answer(c, 500, 1);
		strbuf_init(&b, p, cap);
		status_page(&b, prom, &tot);
		if (!b.over)
			break;
		free(p);
		if (tries == 3 || b.need > SIZE_MAX / 2)
			return local_answer(c, 500, 1);
		cap = b.need + b.need / 8 + 1024;
	}
	return status_reply(c, p, b.len, prom ? "text/plain; version=0.0.4" :
	    "application/json");
}
