/*
 * accesslog.c: the end of an exchange: the access log line and the
 * counters; then the exchange's front end decides what follows (h1.c:
 * keep-alive, lingering close or close).
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
#include "worker/alogsink.h"
#include "worker/balance.h"
#include "worker/bodybuf.h"
#include "worker/cachepol.h"
#include "worker/compress.h"
#include "worker/event.h"
#include "common/http.h"
#include "worker/metrics.h"
#include "worker/proxy.h"
#include "worker/proxy_int.h"
#include "worker/tls.h"
#include "worker/uri.h"
#include "worker/varsrc.h"
#include "worker/worker.h"

/*
 * The request line for the access log, "METHOD target HTTP/1.x", its
 * target escaped as the other quoted fields are.
 */
void
log_request_line(char *line, size_t cap, const struct http_request *rq)
{
	int	 n;
	size_t	 o;

	n = snprintf(line, cap, "%.*s ", (int)(rq->method_len > 32 ? 32 :
	    rq->method_len), rq->method_str);
	if (n < 0 || (size_t)n >= cap)
		return;
	o = (size_t)n;
	/* Leave room for " HTTP/1.x". */
	copy_field(line + o, cap - o - 9, rq->target, rq->target_len);
	o += strlen(line + o);
	snprintf(line + o, cap - o, " HTTP/%s", rq->version == 20 ? "2.0" :
	    rq->version == 10 ? "1.0" : "1.1");
}

/*
 * Format one access log line (man/portico.ini.5, ACCESS LOG) into
 * buf[0..cap): the client, the time the request began, the request line,
 * the status, the body bytes sent, referer and user agent, the server
 * used and the times.  The quoted fields come escaped (log_request_line,
 * copy_field); an empty one is written "-", as is a NULL upstream.  A
 * line longer than cap is cut to cap - 1 bytes, still ending in a
 * newline.  Returns its length, 0 when none could be made.
 */
size_t
accesslog_format(char *buf, size_t cap, const struct accesslog_entry *e)
{
	static char	 tbuf[40];
	static time_t	 tlast = -1;
	struct tm	 tm;
	char		 tin[768] = "";
	int		 n, o = 0;

	/*
	 * After the fields every line has, those a line may have: a tunnel's
	 * bytes from the client, the request id, the trace context (its
	 * trace-id and portico's span, or the client's parent-id), the
	 * PROXY v2 TLVs.
	 */
	if (e->tunnel)
		o += snprintf(tin + o, sizeof(tin) - o, " tunnel_bytes_in=%llu",
		    (unsigned long long)e->tunnel_in);
	if (e->request_id != NULL && e->request_id[0] != '\0')
		o += snprintf(tin + o, sizeof(tin) - o, " request_id=%s",
		    e->request_id);
	if (e->traceparent != NULL && e->traceparent[0] != '\0')
		o += snprintf(tin + o, sizeof(tin) - o,
		    " trace_id=%.32s span_id=%.16s", e->traceparent + 3,
		    e->traceparent + 36);
	if (e->pp_tlvs != NULL && e->pp_tlvs[0] != '\0')
		snprintf(tin + o, sizeof(tin) - o, " %s", e->pp_tlvs);

	if (e->wall != tlast) {
		tlast = e->wall;
		gmtime_r(&tlast, &tm);
		strftime(tbuf, sizeof(tbuf), "%d/%b/%Y:%H:%M:%S +0000", &tm);
	}
	n = snprintf(buf, cap,
	    "%s - - [%s] \"%s\" %d %llu \"%s\" \"%s\" upstream=%s "
	    "upstream_time=%.3f request_time=%.3f%s\n",
	    e->ip, tbuf, e->line[0] ? e->line : "-", e->status,
	    (unsigned long long)e->bytes,
	    e->referer[0] ? e->referer : "-", e->agent[0] ? e->agent : "-",
	    e->upstream != NULL ? e->upstream : "-",
	    (double)e->upstream_ms / 1000.0, (double)e->total_ms / 1000.0, tin);
	if (n <= 0 || cap < 2)
		return 0;
	if ((size_t)n >= cap) {
		n = cap - 1;
		buf[n - 1] = '\n';
	}
	return (size_t)n;
}

/* portico's own line for c's exchange into line[0..cap): its length. */
static size_t
accesslog_portico(struct client *c, char *line, size_t cap)
{
	struct req		*r = c->r;
	struct accesslog_entry	 e;

	e.ip = client_ip(c);
	e.wall = r->wall_start;
	e.line = r->line;
	e.status = r->status;
	e.bytes = r->body_bytes;
	e.referer = r->referer;
	e.agent = r->agent;
	e.upstream = NULL;
	e.upstream_ms = 0;
	if (r->server >= 0 && r->upstream != NULL) {
		e.upstream = r->upstream->servers[r->server].conf->addr.text;
		e.upstream_ms = (r->t_up_end ? r->t_up_end : ev_now) - r->t_up_start;
	}
	e.total_ms = ev_now - r->t_start;
	e.tunnel = r->status == 101 || r->tunnel;	/* (HTTP/2: 200) */
	e.tunnel_in = r->t_in;
	e.request_id = r->reqid;
	e.traceparent = r->tp;
	e.pp_tlvs = c->pp != NULL ? c->pp->log : NULL;
	return accesslog_format(line, cap, &e);
}

/*
 * The access_log lines in effect for c's exchange: its route's, else its
 * listener's, else [global]'s; and the access_log_format in effect for
 * the lines that name no format, into *dflt.
 */
static const struct conf_alogset *
accesslog_set(const struct client *c, struct conf_alogfmt *dflt)
{
	const struct req		*r = c->r;
	const struct conf_listener	*l = c->ls->conf;

	if (r->route != NULL && r->route->alog.set)
		*dflt = r->route->alog;
	else if (l->alog.set)
		*dflt = l->alog;
	else {
		dflt->kind = conf->g.alog_kind;
		dflt->json = conf->g.alog_json;
		dflt->fmt = conf->g.alog_fmt;
	}
	if (r->route != NULL && r->route->alogs.set)
		return &r->route->alogs;
	if (l->alogs.set)
		return &l->alogs;
	return &conf->g.alogs;
}

/*
 * Write the access log lines of the request that just ended, one to each
 * of its destinations; a line is made once for all that share a format.
 */
void
access_log(struct client *c)
{
	struct req			*r = c->r;
	const struct conf_alogset	*set;
	const struct conf_alogfmt	*a, *last = NULL;
	struct conf_alogfmt		 dflt;
	char				 pline[2048], vline[8192];
	size_t				 i, plen = 0, vlen = 0;

	if (r == NULL || r->logged)
		return;
	r->logged = 1;
	if (!r->fe->reader)
		return;		/* a cache refresh: no client asked */
	metrics_request_done(r);
	if (r->status > 0 && r->status < 600)
		shm_stat_inc(&worker.stats->status[r->status / 100]);
	if (!worker_access_log_enabled())
		return;
	set = accesslog_set(c, &dflt);
	for (i = 0; i < set->n; i++) {
		a = set->dst[i].fmt >= 0 ? &conf->g.logfmts[set->dst[i].fmt].f :
		    &dflt;
		if (a->kind != ALOG_FMT) {
			if (plen == 0 && (plen = accesslog_portico(c, pline,
			    sizeof(pline))) == 0)
				continue;
			alogsink_write(set->dst[i].target, pline, plen);
			continue;
		}
		/* access_log_format or log_format (varsrc.c) */
		if (a != last) {
			vlen = accesslog_vars(c, &a->fmt, a->json, vline,
			    sizeof(vline));
			last = a;
		}
		alogsink_write(set->dst[i].target, vline, vlen);
	}
}

/*
 * The exchange is over on both sides: log it, pool the upstream
 * connection, give its block back, and let the front end go on (the next
 * request, or the close).
 */
enum step
request_finish(struct client *c)
{
	enum step	 st;

	if (c->r->cz != NULL && (st = compress_end(c)) != STEP_NEXT)
		return st;	/* the encoder's end is not out yet */
	return exchange_end(c, c->r->keep_alive, c->r->body_unread);
}

/*
 * The same, with what the answer allows said by the caller: another
 * request on the connection (keep_alive), and whether the client may
 * still be sending this one's body (body_unread: a lingering close).
 */
enum step
exchange_end(struct client *c, int keep_alive, int body_unread)
{
	struct req		*r = c->r;
	const struct front_ops	*fe = r->fe;

	access_log(c);
	upconn_release(c);
	req_put(r);
	c->r = NULL;
	nbusy--;
	return fe->finish(c, keep_alive, body_unread);
}
