/*
 * proxy.c: the request path's worker-wide state (proxy_int.h): built
 * from the config at start (proxy_init) and freed at the end (proxy_fini).
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
#include "worker/proxy.h"
#include "worker/proxy_int.h"
#include "worker/tls.h"
#include "worker/uri.h"
#include "worker/worker.h"

struct conf		*conf;
struct upstream_rt	*upstreams;
size_t			 nupstreams;
size_t			 bufsize;
struct http_limits	 req_limits, resp_limits;
struct http_header	*hdrs;
char			*cscratch; /* cache: two buffers for heads */
struct cache_scope	*cache_scopes;
char			*fwdbuf;   /* cache: the forwarded head, built again */
struct http_header	*hdrs3;	   /* ... and parsed */
struct http_limits	 fwd_limits;
struct client		*clients;	/* every open client */
size_t			 nclients, nbusy;
void			*free_bufs, *free_reqs;
unsigned			 uri_flags;	/* worker/uri.h, from [global] */
int			 nfree_bufs, nfree_reqs;
struct client		*free_clients;
struct upconn		*free_upconns;
struct client		*dead_clients;	/* closed this loop turn */
struct upconn		*dead_upconns;
uint64_t			 quit_grace;	/* idle connections end by then */
int			 alog;		/* access log on: keep its fields */

/* Why a write to an upstream failed: the TLS reason, or errno's. */
const char *
up_strerror(struct upconn *u, int err)
{
	static char	 buf[200];

	if (u->tls != NULL && u->tls->failed) {
		snprintf(buf, sizeof(buf), "TLS: %s", u->tls->why);
		return buf;
	}
	return strerror(err);
}

int
proxy_init(struct conf *c)
{
	size_t			 i, j;
	struct upstream_rt	*u;
	int			 n;

	conf = c;
	alog = worker_access_log_enabled();
	uri_flags = (c->g.merge_slashes ? URI_MERGE_SLASHES : 0) |
	    (c->g.allow_encoded_slash ? URI_ENCODED_SLASH : 0) |
	    (c->g.allow_encoded_nul ? URI_ENCODED_NUL : 0) |
	    (c->g.allow_backslash ? URI_BACKSLASH : 0) |
	    (c->g.allow_dotdot_above_root ? URI_DOT_ABOVE_ROOT : 0);
	bufsize = c->g.buffer_size;
	req_limits.max_request_line = c->g.max_request_line;
	req_limits.max_head = c->g.max_header_size;
	req_limits.max_headers = c->g.max_headers;
	resp_limits.max_request_line = bufsize;
	resp_limits.max_head = bufsize - 1024;
	resp_limits.max_headers = c->g.max_headers > 200 ? c->g.max_headers : 200;
	hdrs = calloc(resp_limits.max_headers, sizeof(*hdrs));
	upstreams = calloc(c->nupstreams, sizeof(*upstreams));
	if (hdrs == NULL || upstreams == NULL)
		return -1;
	if (worker.cache != NULL && (cscratch = malloc(2 * bufsize)) == NULL)
		return -1;
	/* The forwarded head holds the client's fields and a few of ours. */
	fwd_limits.max_request_line = bufsize;
	fwd_limits.max_head = bufsize;
	fwd_limits.max_headers = req_limits.max_headers + 16;
	if (worker.cache != NULL && ((fwdbuf = malloc(bufsize)) == NULL ||
	    (hdrs3 = calloc(fwd_limits.max_headers, sizeof(*hdrs3))) == NULL))
		return -1;
	if (worker.cache != NULL && c->nroutes > 0) {
		if ((cache_scopes = calloc(c->nroutes,
		    sizeof(*cache_scopes))) == NULL)
			return -1;
		for (i = 0; i < c->nroutes; i++) {
			if (c->routes[i].upstream == NULL)
				continue;
			n = snprintf(cache_scopes[i].s, sizeof(cache_scopes[i].s),
			    "%s %s", c->routes[i].name, c->routes[i].upstream->name);
			if (n < 0 || (size_t)n >= sizeof(cache_scopes[i].s))
				return -1;
			cache_scopes[i].len = (size_t)n;
		}
	}
	nupstreams = c->nupstreams;
	for (i = 0; i < nupstreams; i++) {
		u = &upstreams[i];
		u->conf = &c->upstreams[i];
		u->n = u->conf->nservers;
		if (u->n > BALANCE_MAX_SERVERS) {
			log_errorx("upstream %s: more than %d servers",
			    u->conf->name, BALANCE_MAX_SERVERS);
			return -1;
		}
		u->servers = calloc(u->n, sizeof(*u->servers));
		u->bs = calloc(u->n, sizeof(*u->bs));
		if (u->servers == NULL || u->bs == NULL)
			return -1;
		for (j = 0; j < u->n; j++) {
			struct conf_server *cs = &u->conf->servers[j];

			u->servers[j].conf = cs;
			u->servers[j].up = u;
			u->bs[j].weight = cs->weight;
			u->bs[j].backup = cs->backup;
			u->bs[j].max_conns = cs->max_conns;
			u->bs[j].name = cs->addr.text;
			if (cs->shm_idx >= 0) {
				struct shm_server *ss = &worker.shm->srv[cs->shm_idx];

				u->bs[j].active = &ss->active;
				u->bs[j].state = &ss->state;
				u->bs[j].changed = &ss->changed_ms;
				if (cs->dns != CONF_DNS_NONE)
					u->bs[j].dns = &ss->dns;
			}
		}
		if (balance_init(&u->bal, u->conf->balance, u->bs, u->n,
		    (uint64_t)u->conf->slow_start_ms,
		    ((uint64_t)getpid() << 32) ^ ev_now ^ (i + 1)) == -1)
			return -1;
	}
	return 0;
}



void
proxy_fini(void)
{
	size_t		 i;
	struct server_rt *s;
	struct upconn	*u;
	struct client	*c;
	void		*p;

	while (clients != NULL)
		client_close(clients);
	for (i = 0; i < nupstreams; i++) {
		for (s = upstreams[i].servers; s < upstreams[i].servers + upstreams[i].n; s++) {
			while (s->idle != NULL)
				upconn_close(s->idle);
			up_h2_server_fini(s);
			tls_session_free(&s->tls_session);
		}
		free(upstreams[i].servers);
		free(upstreams[i].bs);
		balance_free(&upstreams[i].bal);
	}
	free(upstreams);
	upstreams = NULL;
	nupstreams = 0;
	free(cache_scopes);
	cache_scopes = NULL;
	free(hdrs);
	hdrs = NULL;
	free(cscratch);
	cscratch = NULL;
	free(fwdbuf);
	fwdbuf = NULL;
	free(hdrs3);
	up_h2_fini();
	hdrs3 = NULL;
	proxy_recycle();
	while ((u = free_upconns) != NULL) {
		free_upconns = u->next;
		free(u);
	}
	while ((c = free_clients) != NULL) {
		free_clients = c->next;
		free(c);
	}
	while ((p = free_bufs) != NULL) {
		free_bufs = *(void **)p;
		free(p);
	}
	while ((p = free_reqs) != NULL) {
		free_reqs = *(void **)p;
		free(p);
	}
	nfree_bufs = nfree_reqs = 0;
}
