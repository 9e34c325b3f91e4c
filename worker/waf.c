/*
 * waf.c: the web application firewall of the exchange (waf.h).  As the
 * ModSecurity-nginx connector does: one transaction per request, fed
 * phase by phase, the intervention looked at after each phase.  With
 * waf = on an intervention is answered from the one reply path
 * (local_answer) with the rule's status, and the request never reaches
 * the cache or a backend; with waf = detect it is logged and counted,
 * and the request goes on.  Each rule that matches is logged at warning
 * by ModSecurity's log callback, with its id and message.
 */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <modsecurity/intervention.h>
#include <modsecurity/modsecurity.h>
#include <modsecurity/transaction.h>

#include "common/log.h"
#include "common/net.h"
#include "common/shm.h"
#include "common/waf.h"
#include "worker/proxy_int.h"
#include "worker/waf.h"

/*
 * The client whose request the rules are looking at, for the log
 * callback: set around the request phases only, so that rules of the
 * logging phase (at the exchange's end, when the client may be gone)
 * write nothing to the error log (the CRS's 980 correlation rule says
 * again what the blocking evaluation said).
 */
static struct client	*waf_cur;

static void	 waf_log_cb(void *, const void *);
static int	 waf_field(const char *, const char *, char *, size_t);
static enum step waf_verdict(struct client *, int);
static int	 waf_connection(struct client *, Transaction *);

/*
 * The value of the field [name "value"] of a ModSecurity message into
 * out (cut to cap); 0 when it has none.
 */
static int
waf_field(const char *msg, const char *name, char *out, size_t cap)
{
	char		 pat[16];
	const char	*p, *e;
	size_t		 n;

	snprintf(pat, sizeof(pat), "[%s \"", name);
	if ((p = strstr(msg, pat)) == NULL)
		return 0;
	p += strlen(pat);
	if ((e = strstr(p, "\"]")) == NULL)
		e = p + strlen(p);
	n = (size_t)(e - p) < cap - 1 ? (size_t)(e - p) : cap - 1;
	memcpy(out, p, n);
	out[n] = '\0';
	/* Rule text, but it may quote the request: no control bytes. */
	for (p = out; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			out[p - out] = '?';
	return 1;
}

/*
 * ModSecurity's log callback: a rule matched in the request phases of
 * waf_cur's transaction.  One line at warning: the client, the route,
 * the rule's id and message.
 */
static void
waf_log_cb(void *data, const void *msg)
{
	struct client	*c = waf_cur;
	char		 id[32], text[256];

	(void)data;
	if (c == NULL || msg == NULL || c->r == NULL)
		return;
	if (!waf_field(msg, "id", id, sizeof(id)))
		snprintf(id, sizeof(id), "-");
	if (!waf_field(msg, "msg", text, sizeof(text)))
		snprintf(text, sizeof(text), "(no message)");
	log_warnx("client %s: waf%s: route %s: rule %s: %s", client_ip(c),
	    c->r->route != NULL && c->r->route->waf == WAF_DETECT ?
	    " (detect)" : "", c->r->route != NULL ? c->r->route->name : "-",
	    id, text);
}

/*
 * After a phase: whether the rules intervened.  waf = on answers with
 * the rule's status (an error status, else 403); waf = detect logs and
 * goes on.  413 for a body over waf_body_limit comes as status with
 * over set.
 */
static enum step
waf_verdict(struct client *c, int over)
{
	struct req			*r = c->r;
	ModSecurityIntervention		 it;
	int				 status;
	char				 why[300], id[32], text[256];

	memset(&it, 0, sizeof(it));
	it.status = 200;
	if (over) {
		status = 413;
		snprintf(why, sizeof(why), "the body is over waf_body_limit");
	} else {
		if (msc_intervention(r->waf, &it) == 0)
			return STEP_NEXT;
		status = it.status >= 400 && it.status <= 599 ? it.status : 403;
		if (it.log != NULL && waf_field(it.log, "id", id, sizeof(id))) {
			if (!waf_field(it.log, "msg", text, sizeof(text)))
				text[0] = '\0';
			snprintf(why, sizeof(why), "rule %s: %s", id, text);
		} else
			snprintf(why, sizeof(why), "an intervention");
		free(it.url);
		free(it.log);
	}
	if (r->route->waf == WAF_DETECT) {
		if (!r->waf_flagged)
			shm_stat_inc(&worker.stats->waf_detected);
		r->waf_flagged = 1;
		log_warnx("client %s: waf (detect): route %s: would answer %d "
		    "(%s); forwarded", client_ip(c), r->route->name, status,
		        why);
		return STEP_NEXT;
	}
	shm_stat_inc(&worker.stats->waf_blocked);
	log_warnx("client %s: waf: route %s: blocked with %d (%s)",
	    client_ip(c),
	    r->route->name, status, why);
	return local_answer(c, status, BODY_UNREAD(r));
}

/* The connection of the transaction: client (real) and local address. */
static int
waf_connection(struct client *c, Transaction *tx)
{
	struct sockaddr_storage	 ss;
	socklen_t		 sl = sizeof(ss);
	char			 local[INET6_ADDRSTRLEN] = "0.0.0.0";
	int			 lport = 0, cport = 0;

	if (getsockname(c->io.fd, (struct sockaddr *)&ss, &sl) == 0) {
		if (ss.ss_family == AF_INET) {
			inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr,
			    local, sizeof(local));
			lport = ntohs(((struct sockaddr_in *)&ss)->sin_port);
		} else if (ss.ss_family == AF_INET6) {
			inet_ntop(AF_INET6,
			    &((struct sockaddr_in6 *)&ss)->sin6_addr, local,
			    sizeof(local));
			lport = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
		}
	}
	if (c->r == NULL || !c->r->ip_real)
		cport = ntohs(c->peer_port);
	return msc_process_connection(tx, client_ip(c), cport, local, lport);
}

enum step
waf_request(struct client *c)
{
	static int			 cb_set;
	struct req			*r = c->r;
	const struct http_request	*rq = &r->rq;
	const struct http_header	*h;
	char				 method[32], *uri;
	size_t				 i, ml;

	if (conf->waf == NULL || waf_engine() == NULL)
		return STEP_NEXT;	/* cannot be: the route needs waf_rules */
	if (!cb_set) {
		msc_set_log_cb(waf_engine(), waf_log_cb);
		cb_set = 1;
	}
	if ((r->waf = msc_new_transaction(waf_engine(), conf->waf, NULL)) == NULL ||
	    (uri = buf_get()) == NULL) {
		log_warnx("client %s: waf: out of memory", client_ip(c));
		return local_answer(c, 500, 1);
	}
	shm_stat_inc(&worker.stats->waf_inspected);
	ml = rq->method_len < sizeof(method) - 1 ? rq->method_len :
	    sizeof(method) - 1;
	memcpy(method, rq->method_str, ml);
	method[ml] = '\0';
	i = rq->target_len < bufsize - 1 ? rq->target_len : bufsize - 1;
	memcpy(uri, rq->target, i);
	uri[i] = '\0';
	waf_cur = c;
	(void)waf_connection(c, r->waf);
	(void)msc_process_uri(r->waf, uri, method,
	    rq->version == 20 ? "2.0" : rq->version == 10 ? "1.0" : "1.1");
	buf_put(uri);
	for (i = 0; i < rq->nheaders; i++) {
		h = &rq->headers[i];
		(void)msc_add_n_request_header(r->waf,
		    (const unsigned char *)h->name, h->name_len,
		    (const unsigned char *)h->value, h->value_len);
	}
	(void)msc_process_request_headers(r->waf);
	waf_cur = NULL;
	/* A body known to be over the limit is not read (waf = on). */
	return waf_verdict(c, r->route->waf == WAF_ON && !r->req_done &&
	    rq->content_length > conf->g.waf_body_limit);
}

enum step
waf_body(struct client *c)
{
	struct req	*r = c->r;
	uint64_t	 off = 0, limit = (uint64_t)conf->g.waf_body_limit;
	ssize_t		 n;
	char		*b;

	if (r->waf == NULL)
		return STEP_NEXT;
	if (r->buffered && r->body.len > 0) {
		if (r->body.len > limit && r->route->waf == WAF_ON)
			return waf_verdict(c, 1);
		/* waf = detect: the first waf_body_limit bytes. */
		if ((b = buf_get()) == NULL) {
			client_close(c);
			return STEP_CLOSED;
		}
		while (off < r->body.len && off < limit) {
			n = bodybuf_read(&r->body, off, b, off + bufsize <= limit ?
			    bufsize : (size_t)(limit - off));
			if (n <= 0)
				break;
			(void)msc_append_request_body(r->waf,
			    (const unsigned char *)b, (size_t)n);
			off += (uint64_t)n;
		}
		buf_put(b);
	}
	waf_cur = c;
	(void)msc_process_request_body(r->waf);
	waf_cur = NULL;
	return waf_verdict(c, 0);
}

enum step
waf_response(struct client *c, const struct http_response *rs)
{
	struct req			*r = c->r;
	const struct http_header	*h;
	size_t				 i;

	if (r->waf == NULL || !r->route->waf_resp)
		return STEP_NEXT;
	waf_cur = c;
	for (i = 0; i < rs->nheaders; i++) {
		h = &rs->headers[i];
		(void)msc_add_n_response_header(r->waf,
		    (const unsigned char *)h->name, h->name_len,
		    (const unsigned char *)h->value, h->value_len);
	}
	(void)msc_process_response_headers(r->waf, rs->status,
	    rs->version == 10 ? "HTTP 1.0" : "HTTP 1.1");
	waf_cur = NULL;
	r->up_reuse = 0;	/* set again by response_head() if it goes on */
	return waf_verdict(c, 0);
}

void
waf_end(struct req *r)
{
	if (r->waf == NULL)
		return;
	if (r->status != 0)
		(void)msc_update_status_code(r->waf, r->status);
	(void)msc_process_logging(r->waf);
	msc_transaction_cleanup(r->waf);
	r->waf = NULL;
}
