/*
 * resolver.c: the servers of resolve and srv lines, found through DNS.
 *
 * It runs in the checker process (health.c), which already is the one
 * writer of the servers' health: c-ares (non-blocking, its sockets in the
 * checker's epoll, no thread) asks for each line's name again when the
 * smallest TTL of its answer runs out, bounded by dns_min_ttl and
 * dns_max_ttl.  A resolve line asks for the A and AAAA addresses of NAME;
 * a srv line for the SRV records of its name, then for the addresses of
 * each target.
 *
 * A line has a fixed number of slots (max_addresses), servers whose
 * address lives in shared memory (struct shm_dns).  An answer is merged
 * into them: an address that stays keeps its slot (and its counters and
 * health), a gone one empties its slot, a new one takes an empty slot and
 * starts up.  Workers never pick an empty slot, and stop reusing pooled
 * connections of a slot whose address changed (the generation moves on);
 * requests in flight to the old address finish.
 *
 * An answer that the name has no address (NXDOMAIN, or no records) empties
 * the slots: DNS says there are no servers.  A query that fails otherwise
 * (timeout, refused, SERVFAIL) keeps the last good set, and is logged once
 * until the name resolves again.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/nameser.h>
#include <arpa/inet.h>
#include <poll.h>

#include <ares.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/net.h"
#include "common/proc.h"
#include "master/resolver.h"

#define MAX_GOT		256	/* addresses of one answer at most */

/* One address of an answer. */
struct raddr {
	struct sockaddr_storage	 ss;
	socklen_t		 len;
	int			 weight;
	int			 prio;
};

/* One resolve or srv line. */
struct rsrc {
	struct conf_upstream	*up;
	struct conf_server	*slot;		/* slot[0..n) */
	int			 n;
	uint64_t		 next_ms;	/* when to ask again */
	int			 busy;		/* queries in flight */
	int			 failed;	/* a query failed (not "no such name") */
	char			 why[48];
	struct raddr		 got[MAX_GOT];
	int			 ngot;
	int64_t			 ttl;		/* smallest TTL seen, seconds */
	int			 failing;	/* logged as failing already */
	int			 done;		/* answered once (prime) */
};

/* One address lookup: a resolve line's name, or an SRV target. */
struct rquery {
	struct rsrc		*src;
	int			 port;
	int			 weight;
	int			 prio;
};

static ares_channel		 chan;
static int			 chan_ok;
static int			 r_epfd = -1;
static int			 r_prime;	/* resolver_prime(): it logs */
static struct rsrc		*srcs;
static size_t			 nsrcs;
static struct shm_header	*r_shm;
static const struct conf	*r_conf;

static void	 src_start(struct rsrc *, uint64_t);
static void	 src_finish(struct rsrc *, uint64_t);
static int	 sa_equal(const struct sockaddr_storage *,
		    const struct sockaddr_storage *);
static int	 src_count(const struct rsrc *);

int
resolver_needed(const struct conf *conf)
{
	size_t	 u, i;

	for (u = 0; u < conf->nupstreams; u++)
		for (i = 0; i < conf->upstreams[u].nservers; i++)
			if (conf->upstreams[u].servers[i].dns != CONF_DNS_NONE)
				return 1;
	return 0;
}

/* c-ares opens or closes a socket, or wants other events on it. */
static void
sock_state(void *data, ares_socket_t fd, int readable, int writable)
{
	struct epoll_event	 ev;

	(void)data;
	if (r_epfd == -1)
		return;
	if (!readable && !writable) {
		(void)epoll_ctl(r_epfd, EPOLL_CTL_DEL, fd, NULL);
		return;
	}
	memset(&ev, 0, sizeof(ev));
	ev.events = (readable ? EPOLLIN : 0) | (writable ? EPOLLOUT : 0);
	ev.data.u64 = RESOLVER_TAG | (uint64_t)(unsigned)fd;
	if (epoll_ctl(r_epfd, EPOLL_CTL_MOD, fd, &ev) == -1 &&
	    epoll_ctl(r_epfd, EPOLL_CTL_ADD, fd, &ev) == -1)
		log_warn("resolver: epoll_ctl");
}

/* The c-ares channel for conf: its name servers and timeout. */
static int
chan_open(const struct conf *conf, int epfd)
{
	struct ares_options	 opt;
	int			 mask, rc;
	static char		 lookups[] = "b";

	if ((rc = ares_library_init(ARES_LIB_INIT_ALL)) != ARES_SUCCESS) {
		log_warnx("resolver: %s", ares_strerror(rc));
		return -1;
	}
	memset(&opt, 0, sizeof(opt));
	opt.sock_state_cb = sock_state;
	opt.timeout = (int)(conf->g.resolver_timeout_ms / 2 > 0 ?
	    conf->g.resolver_timeout_ms / 2 : 1);
	opt.tries = 2;
	mask = ARES_OPT_SOCK_STATE_CB | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES;
	if (conf->g.resolver != NULL) {
		/* Named name servers only: not /etc/hosts. */
		opt.lookups = lookups;
		mask |= ARES_OPT_LOOKUPS;
	}
	r_epfd = epfd;
	if ((rc = ares_init_options(&chan, &opt, mask)) != ARES_SUCCESS) {
		log_warnx("resolver: %s", ares_strerror(rc));
		ares_library_cleanup();
		return -1;
	}
	if (conf->g.resolver != NULL &&
	    (rc = ares_set_servers_ports_csv(chan, conf->g.resolver)) !=
	    ARES_SUCCESS) {
		log_warnx("resolver: %s: %s", conf->g.resolver, ares_strerror(rc));
		ares_destroy(chan);
		ares_library_cleanup();
		return -1;
	}
	chan_ok = 1;
	return 0;
}

static void
chan_close(void)
{
	if (chan_ok) {
		/* Pending queries end with ARES_EDESTRUCTION: they free their own. */
		ares_destroy(chan);
		ares_library_cleanup();
		chan_ok = 0;
	}
	r_epfd = -1;
}

/* One source per resolve or srv line (its slot 0 starts it). */
static int
srcs_build(struct conf *conf)
{
	struct conf_upstream	*up;
	size_t			 u, i, n = 0;

	for (u = 0; u < conf->nupstreams; u++)
		for (i = 0; i < conf->upstreams[u].nservers; i++)
			n += conf->upstreams[u].servers[i].dns != CONF_DNS_NONE &&
			    conf->upstreams[u].servers[i].dns_slot == 0;
	nsrcs = 0;
	if (n == 0)
		return 0;
	if ((srcs = calloc(n, sizeof(*srcs))) == NULL)
		return -1;
	for (u = 0; u < conf->nupstreams; u++) {
		up = &conf->upstreams[u];
		for (i = 0; i < up->nservers; i++) {
			if (up->servers[i].dns == CONF_DNS_NONE ||
			    up->servers[i].dns_slot != 0)
				continue;
			srcs[nsrcs].up = up;
			srcs[nsrcs].slot = &up->servers[i];
			srcs[nsrcs].n = up->servers[i].dns_slots;
			nsrcs++;
		}
	}
	return 0;
}

/* The shared slot of server cs, or NULL. */
static struct shm_server *
slot_shm(const struct conf_server *cs)
{
	if (r_shm == NULL || cs->shm_idx < 0)
		return NULL;
	return &r_shm->srv[cs->shm_idx];
}

/* This process's copy of a slot's address, from shared memory. */
static void
slot_load(struct conf_server *cs)
{
	struct shm_server	*sh = slot_shm(cs);
	uint32_t		 len;

	if (sh == NULL)
		return;
	memset(&cs->addr.ss, 0, sizeof(cs->addr.ss));
	(void)shm_dns_read(&sh->dns, &cs->addr.ss, &len, cs->addr.text);
	cs->addr.len = len;
	if (len == 0)
		cs->addr.ss.ss_family = AF_UNSPEC;
}

int
resolver_init(struct conf *conf, struct shm_header *shm, int epfd)
{
	size_t	 i;
	int	 k;

	r_shm = shm;
	r_conf = conf;
	if (srcs_build(conf) == -1) {
		log_warnx("resolver: out of memory");
		return -1;
	}
	if (nsrcs == 0)
		return 0;
	if (chan_open(conf, epfd) == -1)
		return -1;
	for (i = 0; i < nsrcs; i++)
		for (k = 0; k < srcs[i].n; k++)
			slot_load(&srcs[i].slot[k]);
	return 0;
}

void
resolver_free(void)
{
	chan_close();
	free(srcs);
	srcs = NULL;
	nsrcs = 0;
}

void
resolver_event(uint64_t data, uint32_t events)
{
	ares_socket_t	 fd = (ares_socket_t)(data & ~RESOLVER_TAG);

	if (!chan_ok)
		return;
	ares_process_fd(chan,
	    (events & (EPOLLIN | EPOLLERR | EPOLLHUP)) ? fd : ARES_SOCKET_BAD,
	    (events & (EPOLLOUT | EPOLLERR)) ? fd : ARES_SOCKET_BAD);
}

void
resolver_tick(uint64_t now)
{
	size_t	 i;

	if (!chan_ok)
		return;
	/* Timeouts: c-ares looks at the clock itself. */
	ares_process_fd(chan, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
	for (i = 0; i < nsrcs; i++)
		if (srcs[i].busy == 0 && srcs[i].next_ms <= now)
			src_start(&srcs[i], now);
}

uint64_t
resolver_due(uint64_t best, uint64_t now)
{
	struct timeval	 tv, *tp;
	uint64_t	 t;
	size_t		 i;

	if (!chan_ok)
		return best;
	for (i = 0; i < nsrcs; i++)
		if (srcs[i].busy == 0 && srcs[i].next_ms < best)
			best = srcs[i].next_ms;
	if ((tp = ares_timeout(chan, NULL, &tv)) != NULL) {
		t = now + (uint64_t)tp->tv_sec * 1000 +
		    (uint64_t)(tp->tv_usec + 999) / 1000;
		if (t < best)
			best = t;
	}
	return best;
}

/* The text of an address with its port: "10.0.0.1:80", "[::1]:80". */
static void
addr_text(const struct sockaddr *sa, char *buf, size_t len)
{
	char	 ip[INET6_ADDRSTRLEN];
	int	 port;

	net_ntop(sa, ip, sizeof(ip));
	port = sa->sa_family == AF_INET6 ?
	    ntohs(((const struct sockaddr_in6 *)sa)->sin6_port) :
	    ntohs(((const struct sockaddr_in *)sa)->sin_port);
	snprintf(buf, len, sa->sa_family == AF_INET6 ? "[%s]:%d" : "%s:%d",
	    ip, port);
}

/* Keep one address of an answer (once), with the port of the query. */
static void
got_add(struct rsrc *src, const struct sockaddr *sa, int ttl,
    const struct rquery *q)
{
	struct raddr	*g;
	socklen_t	 len;
	int		 i;

	if (sa->sa_family == AF_INET)
		len = sizeof(struct sockaddr_in);
	else if (sa->sa_family == AF_INET6)
		len = sizeof(struct sockaddr_in6);
	else
		return;
	if (ttl >= 0 && (src->ttl < 0 || ttl < src->ttl))
		src->ttl = ttl;
	if (src->ngot == MAX_GOT)
		return;
	g = &src->got[src->ngot];
	memset(g, 0, sizeof(*g));
	memcpy(&g->ss, sa, len);
	g->len = len;
	if (sa->sa_family == AF_INET)
		((struct sockaddr_in *)&g->ss)->sin_port = htons((uint16_t)q->port);
	else
		((struct sockaddr_in6 *)&g->ss)->sin6_port = htons((uint16_t)q->port);
	g->weight = q->weight;
	g->prio = q->prio;
	for (i = 0; i < src->ngot; i++)
		if (src->got[i].len == len &&
		    sa_equal(&src->got[i].ss, &g->ss))
			return;
	src->ngot++;
}

/* Same family, address and port. */
static int
sa_equal(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	const struct sockaddr_in	*a4 = (const void *)a, *b4 = (const void *)b;
	const struct sockaddr_in6	*a6 = (const void *)a, *b6 = (const void *)b;

	if (a->ss_family != b->ss_family)
		return 0;
	if (a->ss_family == AF_INET)
		return a4->sin_port == b4->sin_port &&
		    a4->sin_addr.s_addr == b4->sin_addr.s_addr;
	return a6->sin6_port == b6->sin6_port &&
	    memcmp(&a6->sin6_addr, &b6->sin6_addr, sizeof(a6->sin6_addr)) == 0;
}

/* How many slots of the line have an address. */
static int
src_count(const struct rsrc *src)
{
	int	 k, n = 0;

	for (k = 0; k < src->n; k++)
		n += src->slot[k].addr.len != 0;
	return n;
}

/* Whether status says the name has no address, rather than a failure. */
static int
status_none(int status)
{
	return status == ARES_ENOTFOUND || status == ARES_ENODATA;
}

/* The addresses of a resolve line's name, or of an SRV target. */
static void
addrinfo_cb(void *arg, int status, int timeouts, struct ares_addrinfo *res)
{
	struct rquery			*q = arg;
	struct rsrc			*src = q->src;
	struct ares_addrinfo_node	*node;

	(void)timeouts;
	if (status == ARES_EDESTRUCTION) {
		free(q);
		return;
	}
	if (status == ARES_SUCCESS && res != NULL) {
		for (node = res->nodes; node != NULL; node = node->ai_next)
			got_add(src, node->ai_addr, node->ai_ttl, q);
	} else if (!status_none(status)) {
		src->failed = 1;
		snprintf(src->why, sizeof(src->why), "%s", ares_strerror(status));
	}
	if (res != NULL)
		ares_freeaddrinfo(res);
	free(q);
	if (--src->busy == 0)
		src_finish(src, proc_now_ms());
}

/* Ask for the addresses of name (the port, weight, priority go with them). */
static void
lookup(struct rsrc *src, const char *name, int port, int weight, int prio)
{
	struct ares_addrinfo_hints	 hints;
	struct rquery			*q;

	if ((q = calloc(1, sizeof(*q))) == NULL) {
		src->failed = 1;
		snprintf(src->why, sizeof(src->why), "out of memory");
		return;
	}
	q->src = src;
	q->port = port;
	q->weight = weight;
	q->prio = prio;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_flags = ARES_AI_NOSORT;
	src->busy++;
	ares_getaddrinfo(chan, name, NULL, &hints, addrinfo_cb, q);
}

/* An SRV answer: the addresses of each target next. */
static void
srv_cb(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
	struct rsrc		*src = arg;
	struct ares_srv_reply	*reply = NULL, *r;
	int			 rc, w;

	(void)timeouts;
	if (status == ARES_EDESTRUCTION)
		return;
	if (status == ARES_SUCCESS) {
		if ((rc = ares_parse_srv_reply(abuf, alen, &reply)) !=
		    ARES_SUCCESS && !status_none(rc)) {
			src->failed = 1;
			snprintf(src->why, sizeof(src->why), "%s",
			    ares_strerror(rc));
		}
		for (r = reply; r != NULL; r = r->next) {
			/* "." as the target: the service is not offered. */
			if (r->host == NULL || r->host[0] == '\0' ||
			    strcmp(r->host, ".") == 0)
				continue;
			/* SRV weight 0..65535 to a server weight 1..1000. */
			w = r->weight < 1 ? 1 : (r->weight > 1000 ? 1000 :
			    r->weight);
			lookup(src, r->host, r->port, w, r->priority);
		}
		if (reply != NULL)
			ares_free_data(reply);
	} else if (!status_none(status)) {
		src->failed = 1;
		snprintf(src->why, sizeof(src->why), "%s", ares_strerror(status));
	}
	if (--src->busy == 0)
		src_finish(src, proc_now_ms());
}

static void
src_start(struct rsrc *src, uint64_t now)
{
	struct conf_server	*cs = &src->slot[0];

	src->failed = 0;
	src->why[0] = '\0';
	src->ngot = 0;
	src->ttl = -1;
	src->next_ms = now + (uint64_t)r_conf->g.dns_max_ttl_ms;
	src->busy = 1;		/* held until every query is sent */
	if (cs->dns == CONF_DNS_SRV) {
		src->busy++;
		ares_query(chan, cs->dns_name, ns_c_in, ns_t_srv, srv_cb, src);
	} else
		lookup(src, cs->dns_name, cs->dns_port, cs->weight, 0);
	if (--src->busy == 0)
		src_finish(src, now);
}

/* Publish when and how the name was last resolved, in every slot. */
static void
src_result(struct rsrc *src, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
src_result(struct rsrc *src, const char *fmt, ...)
{
	struct shm_server	*sh;
	char			 text[64];
	va_list			 ap;
	int			 k;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	for (k = 0; k < src->n; k++) {
		if ((sh = slot_shm(&src->slot[k])) == NULL)
			continue;
		shm_write64(&sh->dns.when, (uint64_t)time(NULL));
		memcpy(sh->dns.result, text, sizeof(text));
	}
}

/* Empty a slot whose address went away: no new request picks it. */
static void
slot_clear(struct rsrc *src, struct conf_server *cs, struct shm_server *sh,
    uint64_t now)
{
	log_notice("upstream %s: %s: server %s is gone from DNS (drains)",
	    src->up->name, cs->dns_name, cs->addr.text);
	shm_server_state_set(sh, SHM_EMPTY, now);
	shm_dns_write(&sh->dns, NULL, 0, "", 0, 0);
	memset(&cs->addr.ss, 0, sizeof(cs->addr.ss));
	cs->addr.len = 0;
}

/* Give an empty slot an address: it starts up. */
static void
slot_fill(struct rsrc *src, struct conf_server *cs, struct shm_server *sh,
    const struct raddr *g, int backup, uint64_t now)
{
	memset(&cs->addr.ss, 0, sizeof(cs->addr.ss));
	memcpy(&cs->addr.ss, &g->ss, g->len);
	cs->addr.len = g->len;
	addr_text((struct sockaddr *)&g->ss, cs->addr.text, sizeof(cs->addr.text));
	shm_dns_write(&sh->dns, &g->ss, g->len, cs->addr.text,
	    (uint32_t)g->weight, (uint32_t)backup);
	memset(sh->last_probe, 0, sizeof(sh->last_probe));
	shm_server_state_set(sh, SHM_UP, now);
	log_notice("upstream %s: %s: server %s from DNS%s", src->up->name,
	    cs->dns_name, cs->addr.text, backup ? " (backup)" : "");
}

/* Merge the answer into the slots (see the top of the file). */
static void
src_commit(struct rsrc *src, uint64_t now)
{
	struct conf_server	*cs;
	struct shm_server	*sh;
	unsigned char		 taken[MAX_GOT];
	int			 i, k, lowest = -1, dropped = 0, backup;

	memset(taken, 0, sizeof(taken));
	for (i = 0; i < src->ngot; i++)
		if (lowest == -1 || src->got[i].prio < lowest)
			lowest = src->got[i].prio;
	for (k = 0; k < src->n; k++) {
		cs = &src->slot[k];
		if ((sh = slot_shm(cs)) == NULL || cs->addr.len == 0)
			continue;
		for (i = 0; i < src->ngot; i++)
			if (!taken[i] && src->got[i].len == cs->addr.len &&
			    sa_equal(&src->got[i].ss, &cs->addr.ss))
				break;
		if (i == src->ngot) {
			slot_clear(src, cs, sh, now);
			continue;
		}
		taken[i] = 1;
		shm_dns_set_weight(&sh->dns, (uint32_t)src->got[i].weight,
		    src->got[i].prio > lowest);
	}
	for (i = 0; i < src->ngot; i++) {
		if (taken[i])
			continue;
		backup = src->got[i].prio > lowest;
		cs = NULL;
		sh = NULL;
		for (k = 0; k < src->n; k++) {
			cs = &src->slot[k];
			if ((sh = slot_shm(cs)) != NULL && cs->addr.len == 0)
				break;
		}
		if (k == src->n || cs == NULL || sh == NULL) {
			dropped++;
			continue;
		}
		slot_fill(src, cs, sh, &src->got[i], backup, now);
	}
	if (dropped > 0)
		log_warnx("upstream %s: %s: %d address%s left out: more than "
		    "max_addresses=%d", src->up->name, src->slot[0].dns_name,
		    dropped, dropped == 1 ? "" : "es", src->n);
}

/* Every query of a round has ended: take in the answer. */
static void
src_finish(struct rsrc *src, uint64_t now)
{
	const struct conf_server	*cs = &src->slot[0];
	uint64_t			 ttl_ms;

	src->done = 1;
	if (src->failed) {
		/* The resolver is in trouble, not the servers: keep them. */
		if (!src->failing && !r_prime && src_count(src) > 0)
			log_warnx("upstream %s: %s does not resolve (%s): "
			    "keeping the last %d address%s", src->up->name,
			    cs->dns_name, src->why, src_count(src),
			    src_count(src) == 1 ? "" : "es");
		else if (!src->failing && !r_prime)
			log_warnx("upstream %s: %s does not resolve (%s)",
			    src->up->name, cs->dns_name, src->why);
		src->failing = 1;
		src_result(src, "failed: %s", src->why);
		src->next_ms = now + (uint64_t)r_conf->g.dns_min_ttl_ms;
		return;
	}
	if (r_prime)
		;	/* resolver_prime() says it */
	else if (src->ngot == 0 && (!src->failing || src_count(src) > 0))
		log_warnx("upstream %s: %s has no address in DNS",
		    src->up->name, cs->dns_name);
	else if (src->ngot > 0 && src->failing)
		log_notice("upstream %s: %s resolves again", src->up->name,
		    cs->dns_name);
	src->failing = src->ngot == 0;
	if (r_shm != NULL)
		src_commit(src, now);
	src_result(src, "%d address%s", src->ngot, src->ngot == 1 ? "" : "es");
	ttl_ms = src->ttl < 0 ? 0 : (uint64_t)src->ttl * 1000;
	if (src->ngot == 0 || ttl_ms < (uint64_t)r_conf->g.dns_min_ttl_ms)
		ttl_ms = (uint64_t)r_conf->g.dns_min_ttl_ms;
	if (ttl_ms > (uint64_t)r_conf->g.dns_max_ttl_ms)
		ttl_ms = (uint64_t)r_conf->g.dns_max_ttl_ms;
	src->next_ms = now + ttl_ms;
}

/*
 * The addresses of conf's DNS slots: saved (a new array) when back is
 * NULL, else put back from it.
 */
static struct conf_addr *
slots_save(struct conf *conf, struct conf_addr *back)
{
	struct conf_addr	*a = back;
	struct conf_server	*cs;
	size_t			 u, i, n = 0;

	if (a == NULL) {
		for (u = 0; u < conf->nupstreams; u++)
			n += conf->upstreams[u].nservers;
		if ((a = calloc(n + 1, sizeof(*a))) == NULL)
			return NULL;
	}
	for (u = 0, n = 0; u < conf->nupstreams; u++)
		for (i = 0; i < conf->upstreams[u].nservers; i++, n++) {
			cs = &conf->upstreams[u].servers[i];
			if (back != NULL)
				cs->addr = a[n];
			else
				a[n] = cs->addr;
		}
	return a;
}

int
resolver_prime(struct conf *conf, struct shm_header *shm, FILE *out)
{
	struct epoll_event	 evs[16];
	struct rsrc		*src;
	struct conf_addr	*saved;
	uint64_t		 now, end, due;
	size_t			 i, left;
	int			 epfd, n, k, bad = 0;
	char			 line[512];

	if (!resolver_needed(conf))
		return 0;
	if ((epfd = epoll_create1(EPOLL_CLOEXEC)) == -1) {
		log_warn("resolver: epoll_create1");
		return 0;
	}
	/* The caller's config keeps its slots' addresses as written. */
	if ((saved = slots_save(conf, NULL)) == NULL ||
	    resolver_init(conf, shm, epfd) == -1) {
		resolver_free();
		free(saved);
		close(epfd);
		return 0;
	}
	r_prime = 1;
	now = proc_now_ms();
	end = now + (uint64_t)conf->g.resolver_timeout_ms;
	for (i = 0; i < nsrcs; i++)
		src_start(&srcs[i], now);
	for (;;) {
		for (i = 0, left = 0; i < nsrcs; i++)
			left += !srcs[i].done;
		if (left == 0 || now >= end)
			break;
		due = resolver_due(end, now);
		n = epoll_wait(epfd, evs, 16, due > now ? (int)(due - now) : 0);
		for (k = 0; k < n; k++)
			resolver_event(evs[k].data.u64, evs[k].events);
		ares_process_fd(chan, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
		now = proc_now_ms();
	}
	for (i = 0; i < nsrcs; i++) {
		src = &srcs[i];
		if (src->done && !src->failed && src->ngot > 0)
			continue;
		bad++;
		snprintf(line, sizeof(line), "%s:%d: upstream '%s': %s does not "
		    "resolve (%s): the upstream starts without its servers and "
		    "keeps asking", src->slot[0].file, src->slot[0].line,
		    src->up->name, src->slot[0].dns_name, !src->done ?
		    "no answer in time" : (src->failed ? src->why :
		    "no address"));
		if (out != NULL)
			fprintf(out, "warning: %s\n", line);
		else
			log_warnx("%s", line);
	}
	(void)slots_save(conf, saved);
	free(saved);
	r_prime = 0;
	resolver_free();
	close(epfd);
	return bad;
}
