/*
 * ppconn.c: the PROXY protocol header on a listener with proxy_protocol
 * = on.  Before anything else (before TLS on a TLS listener) the header
 * is read within proxy_protocol_timeout, only from trusted_proxies when
 * they are set; its source address becomes the client's (LOCAL and
 * UNKNOWN keep the peer's).  The header is looked at with MSG_PEEK and
 * then only its own bytes are taken, so what follows it (a TLS
 * ClientHello, a request) stays in the socket for client_start().  A
 * missing, malformed, late or untrusted header closes the connection:
 * counted and logged at info, once a second at most.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/epoll.h>

#include <netinet/in.h>

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "common/net.h"
#include "common/proxyproto.h"
#include "common/shm.h"
#include "worker/event.h"
#include "common/http.h"
#include "worker/proxy.h"
#include "worker/proxy_int.h"
#include "worker/worker.h"

/* Close a connection whose header is refused: counted, logged. */
static void
pp_refuse(struct client *c, const char *why)
{
	static struct ratelimit	 rl;
	unsigned long		 skipped;

	shm_stat_inc(&worker.stats->pp_refused);
	if (ratelimit_ok(&rl, &skipped))
		log_info("client %s: PROXY protocol header refused: %s; %lu "
		    "more since the last message", client_ip(c), why, skipped);
	client_close(c);
}

/*
 * A header's destination and its kept TLVs, escaped for a log line (bytes
 * outside '!' to '~', '"' and '\\' as \xHH), in one allocation; NULL when
 * out of memory (the connection goes on without them).
 */
static struct pp_info *
pp_info_make(const struct pp_header *h)
{
	const struct pp_tlvs	*t = &h->tlvs;
	const struct sockaddr	*sa = (const struct sockaddr *)&h->dst;
	static const char *const names[PP_TLV_N] = { "pp_alpn", "pp_authority",
	    "pp_unique_id", "pp_ssl_version", "pp_ssl_cipher" };
	struct pp_info	*pi;
	size_t		 k, i, need = 0, o = 0, lo;
	char		*d;
	unsigned char	 ch;

	for (k = 0; k < PP_TLV_N; k++)
		if (t->v[k] != NULL)
			need += 2 * (4 * t->len[k] + 1) + strlen(names[k]) + 2;
	if ((pi = calloc(1, sizeof(*pi) + need + 1)) == NULL)
		return NULL;
	if (sa->sa_family == AF_INET) {
		pi->dst_af = AF_INET;
		memcpy(pi->dst_addr,
		    &((const struct sockaddr_in *)sa)->sin_addr, 4);
		pi->dst_port = ((const struct sockaddr_in *)sa)->sin_port;
	} else if (sa->sa_family == AF_INET6) {
		pi->dst_af = AF_INET6;
		memcpy(pi->dst_addr,
		    &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
		pi->dst_port = ((const struct sockaddr_in6 *)sa)->sin6_port;
	}
	d = pi->data;
	for (k = 0; k < PP_TLV_N; k++) {
		if (t->v[k] == NULL)
			continue;
		pi->v[k] = d + o;
		for (i = 0; i < t->len[k]; i++) {
			ch = t->v[k][i];
			if (ch <= 0x20 || ch >= 0x7f || ch == '"' || ch == '\\')
				o += (size_t)snprintf(d + o, 5, "\\x%02X", ch);
			else
				d[o++] = (char)ch;
		}
		d[o++] = '\0';
	}
	pi->log = d + o;
	lo = o;
	for (k = 0; k < PP_TLV_N; k++)
		if (pi->v[k] != NULL)
			o += (size_t)snprintf(d + o, need - o, "%s%s=%s",
			    o > lo ? " " : "", names[k], pi->v[k]);
	return pi;
}

/* Look at what came in: a whole header, more to wait for, or a refusal. */
static void
pp_try(struct client *c, uint32_t events)
{
	unsigned char		 buf[PP_MAX];
	struct pp_header	 h;
	const char		*why;
	ssize_t			 n, len;

	n = recv(c->io.fd, buf, sizeof(buf), MSG_PEEK);
	if (n == -1) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return;
		pp_refuse(c, strerror(errno));
		return;
	}
	if (n == 0) {
		pp_refuse(c, "closed before the header");
		return;
	}
	len = pp_parse(buf, (size_t)n, &h, &why);
	if (len == -1) {
		pp_refuse(c, why);
		return;
	}
	if (len == 0) {
		/* Peeked bytes stay: only new ones or the FIN wake us. */
		if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))
			pp_refuse(c, "closed within the header");
		return;
	}
	if (recv(c->io.fd, buf, (size_t)len, 0) != len) {
		pp_refuse(c, "header could not be read");
		return;
	}
	if (!h.local) {
		client_peer_set(c, (struct sockaddr *)&h.src);
		c->pp_src = 1;
		/* The TLVs point into buf: the bytes read are the peeked. */
		c->pp = pp_info_make(&h);
	}
	ev_timer_cancel(&c->timer);
	client_start(c);
}

static void
pp_io_cb(struct ev_io *io, uint32_t events)
{
	pp_try((struct client *)io, events);
}

static void
pp_timer_cb(struct ev_timer *t)
{
	struct client	*c = (struct client *)((char *)t -
	    offsetof(struct client, timer));

	pp_refuse(c, "none within proxy_protocol_timeout");
}

/*
 * A connection accepted on a proxy_protocol listener: from a peer that
 * trusted_proxies (the listener's, else [global]'s) leaves out it is
 * closed at once; else its header is awaited.
 */
void
ppconn_start(struct client *c)
{
	const struct conf_listener	*ls = c->ls->conf;
	const struct conf_cidr		*t = ls->trusted;
	size_t				 nt = ls->ntrusted;

	if (nt == 0) {
		t = conf->g.trusted;
		nt = conf->g.ntrusted;
	}
	if (nt > 0 && !ip_allowed(client_ip(c), t, nt)) {
		pp_refuse(c, "peer not in trusted_proxies");
		return;
	}
	c->io.cb = pp_io_cb;
	ev_timer_init(&c->timer, pp_timer_cb);
	ev_timer_set(&c->timer, ev_now + ls->proxy_protocol_timeout_ms);
	pp_try(c, 0);
}
