/*
 * limits.c: the limits as a worker applies them, counted across every
 * worker in the shared table (common/limit.h).
 *
 * A route's "limit = NAME..." applies each [limit NAME] in order to a
 * request once it is routed and allowed:
 *
 *	rate	a token bucket (GCRA) per key, as nginx limit_req: within
 *		the rate the request goes on; within the burst it waits
 *		(parked on its timer in CS_DELAY, the worker serving the
 *		others) until it conforms to the rate, or goes on at once
 *		with nodelay; a wait would be longer than max_delay (30 s)
 *		counts as beyond the burst; beyond the burst it is answered with the
 *		limit's status (429) and a Retry-After of the seconds until
 *		a request would pass.  It never reaches the backend.
 *	concurrency
 *		requests of the key under way at once, as nginx limit_conn:
 *		beyond it the limit's status (503); what a request holds is
 *		given back when its exchange ends, however it ends (req_put).
 *
 * A key that is absent (no such header or cookie) is not limited, as
 * nginx does with an empty key.  dry_run lets every request through at
 * once, and counts and logs what would have been delayed or rejected.
 * A listener's max_conns_per_ip counts the connections of each client
 * address (the peer, or the PROXY header's source) and closes one over
 * it right after the accept.
 *
 * Every hit is counted per limit (status page, /metrics) and logged at
 * info at most once a second.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/limit.h"
#include "common/log.h"
#include "worker/limits.h"
#include "worker/metrics.h"
#include "worker/proxy_int.h"

static int	 limit_key(struct client *, const struct conf_limit *,
		    const char **, size_t *);
static uint64_t	 now_us(void);
static void	 hit_log(struct client *, const struct conf_limit *,
		    const char *, uint64_t);
static enum step limits_reject(struct client *, const struct conf_limit *,
		    uint64_t);

static struct limit_table *
table(void)
{
	return &worker.shm->limits;
}

static struct limit_stat *
stat_of(int idx)
{
	return idx >= 0 && idx < LIMIT_STATS ? &table()->stat[idx] : NULL;
}

static void
stat_count(int idx, size_t field)
{
	struct limit_stat	*st = stat_of(idx);

	if (st != NULL)
		shm_count((uint64_t *)((char *)st + field));
}

static uint64_t
now_us(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/* The key of the request for limit l: 1 with *v, *vl, or 0 when absent. */
static int
limit_key(struct client *c, const struct conf_limit *l, const char **v,
    size_t *vl)
{
	const struct http_request	*rq = &c->r->rq;
	size_t				 i;

	switch (l->key) {
	case LIMIT_KEY_HEADER:
		for (i = 0; i < rq->nheaders; i++)
			if (http_name_eq(&rq->headers[i], l->key_name)) {
				*v = rq->headers[i].value;
				*vl = rq->headers[i].value_len;
				return *vl > 0;
			}
		return 0;
	case LIMIT_KEY_COOKIE:
		return find_cookie(rq, l->key_name, v, vl) && *vl > 0;
	case LIMIT_KEY_ROUTE:
		*v = c->r->route->name;
		*vl = strlen(*v);
		return 1;
	case LIMIT_KEY_ADDR:
	default:
		*v = client_ip(c);
		*vl = strlen(*v);
		return 1;
	}
}

/* One log line per second at most for all the limits' hits. */
static void
hit_log(struct client *c, const struct conf_limit *l, const char *what,
    uint64_t ms)
{
	static struct ratelimit	 rl;
	unsigned long		 skipped;

	if (!ratelimit_ok(&rl, &skipped))
		return;
	log_info("client %s: limit %s: %s%s (%llu ms); %lu more limit hits "
	    "since the last message", client_ip(c), l->name, what,
	    l->dry_run ? " (dry run: let through)" : "",
	    (unsigned long long)ms, skipped);
}

/* Over limit l: its status, with Retry-After for a rate. */
static enum step
limits_reject(struct client *c, const struct conf_limit *l, uint64_t wait_us)
{
	struct req	*r = c->r;

	if (l->concurrency == 0)
		r->retry_after = (uint32_t)((wait_us + 999999) / 1000000);
	if (l->concurrency == 0 && r->retry_after == 0)
		r->retry_after = 1;
	return local_answer(c, l->status, BODY_UNREAD(r));
}

enum step
limits_apply(struct client *c)
{
	struct req		*r = c->r;
	const struct conf_route	*rt = r->route;
	const struct conf_limit	*l;
	const char		*v;
	size_t			 vl, i;
	uint64_t		 h, wait, delay = 0, now = now_us();
	enum limit_rc		 rc;
	int			 idx, held;

	/*
	 * portico's own requests (cache refreshes) are not limited; an
	 * HTTP/2 stream (no socket of its own either) is.
	 */
	if (r->fe == &refresh_ops || worker.shm == NULL)
		return request_routed(c);
	for (i = 0; i < rt->nlimits; i++) {
		l = rt->limits[i];
		if (!limit_key(c, l, &v, &vl))
			continue;
		h = limit_hash(table(), 'L', l->name, v, vl);
		if (l->concurrency > 0) {
			held = limit_acquire(table(), worker.slot, h,
			    (uint32_t)l->concurrency, &idx);
			if (held == 1) {
				r->lim_held[i] = idx + 1;
				stat_count(l->stat_idx, offsetof(struct limit_stat,
				    passed));
				continue;
			}
			if (held == -1)
				continue;	/* set full: let through */
			if (l->dry_run) {
				stat_count(l->stat_idx, offsetof(struct
				    limit_stat, dry_run));
				hit_log(c, l, "too many requests at once", 0);
				continue;
			}
			stat_count(l->stat_idx, offsetof(struct limit_stat,
			    rejected));
			hit_log(c, l, "too many requests at once", 0);
			return limits_reject(c, l, 0);
		}
		rc = limit_rate(table(), h, now, l->interval_us,
		    (uint64_t)l->burst, l->nodelay ? UINT64_MAX :
		    (uint64_t)l->max_delay_ms * 1000, 1, &wait);
		if (rc == LIMIT_REJECT && l->dry_run) {
			stat_count(l->stat_idx, offsetof(struct limit_stat,
			    dry_run));
			hit_log(c, l, "over the rate and burst", wait / 1000);
			continue;
		}
		if (rc == LIMIT_REJECT) {
			stat_count(l->stat_idx, offsetof(struct limit_stat,
			    rejected));
			hit_log(c, l, "over the rate and burst: rejected",
			    wait / 1000);
			return limits_reject(c, l, wait);
		}
		if (rc == LIMIT_DELAY && l->dry_run) {
			stat_count(l->stat_idx, offsetof(struct limit_stat,
			    dry_run));
			hit_log(c, l, "over the rate: would wait", wait / 1000);
			continue;
		}
		if (rc == LIMIT_DELAY && !l->nodelay) {
			stat_count(l->stat_idx, offsetof(struct limit_stat,
			    delayed));
			hit_log(c, l, "over the rate: delayed", wait / 1000);
			if (wait > delay)
				delay = wait;
			continue;
		}
		stat_count(l->stat_idx, offsetof(struct limit_stat, passed));
	}
	if (delay == 0)
		return request_routed(c);
	r->delay_until = ev_now + (delay + 999) / 1000;
	c->state = CS_DELAY;
	c->wait = W_DELAY;
	return STEP_WAIT;
}

enum step
limits_step_delay(struct client *c)
{
	struct req	*r = c->r;

	/* Gone while it waited (a FIN from a keep-alive client, a reset). */
	if (c->rdhup && r->client_ka) {
		log_info("client %s closed the connection while its request "
		    "was delayed by a limit", client_ip(c));
		r->status = 499;
		client_close(c);
		return STEP_CLOSED;
	}
	if (ev_now < r->delay_until) {
		c->wait = W_DELAY;
		return STEP_WAIT;
	}
	c->state = CS_HEAD;
	return request_routed(c);
}

void
limits_release(struct req *r)
{
	size_t	 i;

	for (i = 0; i < CONF_ROUTE_LIMITS; i++)
		if (r->lim_held[i] != 0) {
			limit_release(table(), worker.slot, r->lim_held[i] - 1);
			r->lim_held[i] = 0;
		}
}

int
limits_conn_open(struct client *c)
{
	static struct ratelimit		 rl;
	const struct conf_listener	*ls = c->ls->conf;
	const char			*ip;
	unsigned long			 skipped;
	uint64_t			 h;
	int				 idx, rc;

	c->conn_lim = 0;
	if (ls->max_conns_per_ip == 0 || worker.shm == NULL)
		return 0;
	ip = client_ip(c);
	h = limit_hash(table(), 'C', ls->name, ip, strlen(ip));
	rc = limit_acquire(table(), worker.slot, h,
	    (uint32_t)ls->max_conns_per_ip, &idx);
	if (rc == 1)
		c->conn_lim = idx + 1;
	if (rc != 0)
		return 0;
	stat_count(ls->limit_stat_idx, offsetof(struct limit_stat, rejected));
	if (ratelimit_ok(&rl, &skipped))
		log_info("client %s: connection closed: max_conns_per_ip (%d) "
		    "of listener %s reached; %lu more since the last message",
		    ip, ls->max_conns_per_ip, ls->name, skipped);
	return -1;
}

void
limits_conn_close(struct client *c)
{
	if (c->conn_lim != 0) {
		limit_release(table(), worker.slot, c->conn_lim - 1);
		c->conn_lim = 0;
	}
}

/* One Prometheus family of the limits' counters. */
static void
prom_family(struct strbuf *b, const char *name, const char *help,
    size_t field, int conns)
{
	const struct limit_stat	*st;
	int			 i;

	metrics_prom_family(b, name, "counter", help);
	for (i = 0; i < LIMIT_STATS; i++) {
		st = &table()->stat[i];
		if (!st->used || st->name[0] != (conns ? 'C' : 'L'))
			continue;
		strbuf_fmt(b, "%s{%s=\"%s\"} %llu\n", name,
		    conns ? "listener" : "limit", st->name + 1,
		    (unsigned long long)shm_read64((const uint64_t *)
		    ((const char *)st + field)));
	}
}

void
limits_status(struct strbuf *b, int prom)
{
	const struct limit_stat	*st;
	int			 i, n = 0;

	if (worker.shm == NULL)
		return;
	if (prom) {
		prom_family(b, "portico_limit_passed_total", "Requests a limit "
		    "let through at once.", offsetof(struct limit_stat, passed), 0);
		prom_family(b, "portico_limit_delayed_total", "Requests a rate "
		    "limit delayed (within its burst).",
		    offsetof(struct limit_stat, delayed), 0);
		prom_family(b, "portico_limit_rejected_total", "Requests a limit "
		    "answered with its status (429, 503).",
		    offsetof(struct limit_stat, rejected), 0);
		prom_family(b, "portico_limit_dry_run_total", "Requests a "
		    "dry-run limit would have delayed or rejected.",
		    offsetof(struct limit_stat, dry_run), 0);
		prom_family(b, "portico_max_conns_per_ip_refused_total",
		    "Connections closed over max_conns_per_ip.",
		    offsetof(struct limit_stat, rejected), 1);
		metrics_prom_family(b, "portico_limit_table_evictions_total",
		    "counter", "Limit table entries taken from another key.");
		strbuf_fmt(b, "portico_limit_table_evictions_total %llu\n",
		    (unsigned long long)shm_read64(&table()->evictions));
		return;
	}
	strbuf_str(b, "\"limits\":{");
	for (i = 0; i < LIMIT_STATS; i++) {
		st = &table()->stat[i];
		if (!st->used || st->name[0] != 'L')
			continue;
		strbuf_fmt(b, "%s\"%s\":{\"passed\":%llu,\"delayed\":%llu,"
		    "\"rejected\":%llu,\"dry_run\":%llu}", n++ ? "," : "",
		    st->name + 1, (unsigned long long)shm_read64(&st->passed),
		    (unsigned long long)shm_read64(&st->delayed),
		    (unsigned long long)shm_read64(&st->rejected),
		    (unsigned long long)shm_read64(&st->dry_run));
	}
	strbuf_str(b, "},\"max_conns_per_ip\":{");
	for (i = 0, n = 0; i < LIMIT_STATS; i++) {
		st = &table()->stat[i];
		if (!st->used || st->name[0] != 'C')
			continue;
		strbuf_fmt(b, "%s\"%s\":{\"refused\":%llu}", n++ ? "," : "",
		    st->name + 1, (unsigned long long)shm_read64(&st->rejected));
	}
	strbuf_fmt(b, "},\"limit_table\":{\"size\":%u,\"evictions\":%llu,"
	    "\"full\":%llu},",
	    (unsigned)(shm_read32(&table()->nsets) * LIMIT_WAYS),
	    (unsigned long long)shm_read64(&table()->evictions),
	    (unsigned long long)shm_read64(&table()->full));
}
