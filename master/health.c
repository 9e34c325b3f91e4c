/*
 * health.c: the checker process.
 *
 * One non-blocking epoll loop, no threads.  Every server of an upstream
 * with an active check is probed every health_interval (the first probe
 * at a random offset within the interval, then the interval +- 10%, so
 * that probes do not all go out at the same instant).  A probe connects,
 * for HTTP sends one request with "Connection: close" and reads at most
 * PROBE_BUF bytes of the answer, all within health_timeout.  The answer
 * goes through the strict parser the workers use (common/http.h): a head
 * it refuses, or a body cut short of its Content-Length or last chunk,
 * fails the probe.  A server that is up goes down after health_fall
 * failed probes in a row; one that is down comes up after health_rise
 * passed probes in a row.
 *
 * Every PASSIVE_TICK_MS the checker also reads the failure counters that
 * workers add to in shared memory.  max_fails failures within fail_timeout
 * take the server down; without an active check it comes back up when
 * fail_timeout is over, with one the probes bring it back.  An upstream
 * with a single server has no passive checks.
 *
 * State lives in shared memory and nowhere else, so a checker that starts
 * after a reload or a crash goes on with the state the last one left.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/http.h"
#include "common/log.h"
#include "common/net.h"
#include "common/proc.h"
#include "common/proctitle.h"
#include "common/proxyproto.h"
#include "master/health.h"
#include "master/health_h2.h"
#include "master/health_tls.h"
#include "master/resolver.h"

#define PROBE_BUF	16384	/* bytes of a probe's answer read at most */
#define PROBE_HEADERS	200	/* header fields in an answer at least allowed */
#define PASSIVE_TICK_MS	100	/* how often the failure counters are read */
#define MAX_EVENTS	64

enum phase {
	PH_IDLE = 0,		/* no probe in flight */
	PH_CONNECT,		/* connect in progress */
	PH_TLS,			/* TLS handshake (a server with tls) */
	PH_SEND,		/* sending the request */
	PH_RECV			/* reading the answer */
};

struct hsrv {
	struct conf_upstream	*up;
	struct conf_server	*cs;
	struct shm_server	*sh;
	/* Active probes. */
	enum phase		 phase;
	int			 fd;
	uint64_t		 next_ms;	/* when the next probe starts */
	uint64_t		 deadline_ms;	/* when the one in flight times out */
	char			*req;		/* the HTTP request, NULL for tcp */
	size_t			 reqlen;
	const char		*host;		/* ... its Host (h2: :authority) */
	SSL			*ssl;		/* a TLS server's connection */
	struct hh2		*h2;		/* protocol = h2: the probe's session */
	const char		*h2out;		/* ... the bytes it sends first */
	size_t			 h2outlen;
	size_t			 sent;
	char			*buf;		/* the answer so far */
	size_t			 len;
	/* The answer, once its head is parsed (head_len 0 until then). */
	size_t			 head_len;
	char			 status_text[48];	/* "200 OK" */
	int64_t			 clen;		/* body length, -1: none given */
	int			 chunked;
	struct http_chunked	 ck;
	size_t			 raw;		/* chunked: first byte not decoded */
	size_t			 dlen;		/* chunked: data bytes decoded */
	int			 oks;		/* probes passed in a row */
	int			 errs;		/* probes failed in a row */
	/* Passive checks. */
	uint64_t		 seen;		/* shm fails already taken in */
	uint64_t		*times;		/* ring: the last max_fails failure times */
	int			 ntimes;
	int			 head;
	int			 passive_down;	/* down because of passive checks */
	uint64_t		 passive_until;	/* then up again, without a probe */
	uint32_t		 dns_gen;	/* DNS slot: the address probed */
};

static struct hsrv	*hs;
static size_t		 nhs;
/* What the workers allow in a backend's answer head, for the parser. */
static struct http_limits	 probe_lim;
static struct http_header	*probe_hdrs;
static int		 epfd = -1;


int
health_needed(const struct conf *conf, const struct shm_header *shm)
{
	size_t			 u, i;
	const struct conf_upstream *up;
	int			 idx;

	if (resolver_needed(conf))
		return 1;
	for (u = 0; u < conf->nupstreams; u++) {
		up = &conf->upstreams[u];
		if (up->health != HEALTH_NONE ||
		    (up->max_fails > 0 && up->nservers > 1))
			return 1;
		for (i = 0; i < up->nservers; i++) {
			idx = up->servers[i].shm_idx;
			if (idx >= 0 && shm_read32(&shm->srv[idx].state) != SHM_UP)
				return 1;
		}
	}
	return 0;
}

/* A duration as the config would write it: "10s", "2m", "1500ms". */
static void
fmt_duration(int64_t ms, char *buf, size_t len)
{
	if (ms % 60000 == 0 && ms >= 60000)
		snprintf(buf, len, "%lldm", (long long)(ms / 60000));
	else if (ms % 1000 == 0)
		snprintf(buf, len, "%llds", (long long)(ms / 1000));
	else
		snprintf(buf, len, "%lldms", (long long)ms);
}

/* Publish a new state and log it, with why, as one notice line. */
static void
set_state(struct hsrv *h, enum shm_health state, uint64_t now,
    const char *fmt, ...)
{
	char	 why[160];
	va_list	 ap;

	/* An empty DNS slot stays so: only the resolver fills it. */
	if (shm_read32(&h->sh->state) == SHM_EMPTY)
		return;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	shm_server_state_set(h->sh, (uint32_t)state, now);
	log_notice("upstream %s server %s: %s (%s)", h->up->name,
	    h->cs->addr.text, state == SHM_UP ? "up" :
	    (state == SHM_DOWN ? "down" : "failed"), why);
}

/* The next probe: the interval, +- 10%. */
static uint64_t
jittered(int64_t interval)
{
	uint64_t	 span = (uint64_t)interval / 5;

	return (uint64_t)interval - span / 2 + (uint64_t)random() % (span + 1);
}

static void
probe_close(struct hsrv *h)
{
	if (h->fd != -1) {
		(void)epoll_ctl(epfd, EPOLL_CTL_DEL, h->fd, NULL);
		close(h->fd);
		h->fd = -1;
	}
	free(h->buf);
	SSL_free(h->ssl);
	h->ssl = NULL;
	hh2_free(h->h2);
	h->h2 = NULL;
	h->buf = NULL;
	h->len = 0;
	h->head_len = 0;
	h->sent = 0;
	h->phase = PH_IDLE;
}

/*
 * Watch a probe's socket for events (op: EPOLL_CTL_ADD or _MOD).  0, or
 * -1 after closing the probe (logged: the checker's own failure).
 */
static int
probe_watch(struct hsrv *h, int op, uint32_t events)
{
	struct epoll_event	 ev;

	memset(&ev, 0, sizeof(ev));
	ev.events = events;
	ev.data.u64 = (uint64_t)(h - hs) + 1;
	if (epoll_ctl(epfd, op, h->fd, &ev) == -1) {
		log_warn("upstream %s server %s: epoll_ctl", h->up->name,
		    h->cs->addr.text);
		probe_close(h);
		return -1;
	}
	return 0;
}

/* A probe is over: count it, publish it and change state if it is time. */
static void
probe_done(struct hsrv *h, int ok, uint64_t now, const char *fmt, ...)
{
	char		 text[sizeof(h->sh->last_probe)];
	va_list		 ap;
	uint32_t	 state;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	probe_close(h);
	memcpy(h->sh->last_probe, text, sizeof(text));
	shm_server_probed(h->sh, ok);
	state = shm_read32(&h->sh->state);
	log_debug("upstream %s server %s: probe %s: %s", h->up->name,
	    h->cs->addr.text, ok ? "passed" : "failed", text);
	if (ok) {
		h->errs = 0;
		if (h->oks < h->up->health_rise)
			h->oks++;
		if (state != SHM_UP && h->oks >= h->up->health_rise) {
			h->passive_down = 0;
			set_state(h, SHM_UP, now, "%d probe%s passed", h->oks,
			    h->oks == 1 ? "" : "s");
		}
	} else {
		h->oks = 0;
		if (h->errs < h->up->health_fall)
			h->errs++;
		if (state != SHM_DOWN && h->errs >= h->up->health_fall)
			set_state(h, SHM_DOWN, now, "%d probe%s failed: %s",
			    h->errs, h->errs == 1 ? "" : "s", text);
	}
}

static const char *
connect_error(int err)
{
	switch (err) {
	case ECONNREFUSED:
		return "connect refused";
	case ETIMEDOUT:
		return "connect timed out";
	case EHOSTUNREACH:
		return "host unreachable";
	case ENETUNREACH:
		return "network unreachable";
	case ECONNRESET:
		return "connection reset";
	default:
		return strerror(err);
	}
}

static void
probe_start(struct hsrv *h, uint64_t now)
{

	h->next_ms = now + jittered(h->up->health_interval_ms);
	if (shm_read32(&h->sh->state) == SHM_EMPTY)
		return;		/* a DNS slot without an address */
	h->fd = net_connect(&h->cs->addr);
	if (h->fd == -1) {
		if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
		    errno == ENOMEM) {
			/* Our trouble, not the server's: try again later. */
			log_warn("upstream %s server %s: cannot probe",
			    h->up->name, h->cs->addr.text);
			return;
		}
		probe_done(h, 0, now, "%s", connect_error(errno));
		return;
	}
	if (h->req != NULL && (h->buf = malloc(PROBE_BUF)) == NULL) {
		log_warnx("upstream %s server %s: cannot probe: out of memory",
		    h->up->name, h->cs->addr.text);
		probe_close(h);
		return;
	}
	if (probe_watch(h, EPOLL_CTL_ADD, EPOLLOUT) == -1)
		return;
	h->phase = PH_CONNECT;
	h->deadline_ms = now + (uint64_t)h->up->health_timeout_ms;
}

/*
 * Parse the answer's head with the strict parser of common/http.h once it
 * is whole: an answer it refuses fails the probe, as it would fail a
 * request.  eof: nothing more will come.  Returns 1 when the head is in
 * (its status judged), 0 to read on, -1 when the probe is over.
 */
static int
probe_head(struct hsrv *h, int eof, uint64_t now)
{
	const struct conf_upstream *up = h->up;
	struct http_response	 rs;
	int			 rv, n;

	rv = http_parse_response(h->buf, h->len, &probe_lim, &rs, probe_hdrs);
	if (rv == HTTP_PARSE_AGAIN) {
		if (!eof)
			return 0;
		probe_done(h, 0, now, "%s", h->len == 0 ?
		    "closed without an answer" : h->len == PROBE_BUF ?
		    "invalid answer: head too large" :
		    "invalid answer: head cut short");
		return -1;
	}
	if (rv != HTTP_PARSE_OK) {
		probe_done(h, 0, now, "invalid answer: %s", rs.error);
		return -1;
	}
	if (rs.status < up->health_status_min ||
	    rs.status > up->health_status_max) {
		probe_done(h, 0, now, "status %d", rs.status);
		return -1;
	}
	/* "200 OK": the status line after the version. */
	n = rs.reason_len > 0 ? (int)(rs.reason_len < 40 ? rs.reason_len : 40) : 0;
	snprintf(h->status_text, sizeof(h->status_text), "%d%s%.*s", rs.status,
	    n > 0 ? " " : "", n, rs.reason);
	h->head_len = rs.head_len;
	h->raw = rs.head_len;
	h->dlen = 0;
	h->clen = http_response_has_body(HTTP_M_GET, rs.status) ?
	    rs.content_length : 0;
	h->chunked = rs.chunked && h->clen != 0;
	http_chunked_init(&h->ck);
	return 1;
}

/*
 * Decode the chunked body bytes read since the last call, in place: the
 * data moves down over the framing, to h->head_len + h->dlen.  Returns 0,
 * or -1 on a framing error.
 */
static int
probe_dechunk(struct hsrv *h)
{
	size_t	 off, dlen;
	ssize_t	 n;

	while (h->raw < h->len && !h->ck.done) {
		n = http_chunked_parse(&h->ck, h->buf + h->raw, h->len - h->raw,
		    &off, &dlen);
		if (n == -1)
			return -1;
		memmove(h->buf + h->head_len + h->dlen, h->buf + h->raw + off,
		    dlen);
		h->dlen += dlen;
		h->raw += (size_t)n;
		if (n == 0)
			break;
	}
	/* Bytes after the last chunk are ignored, like a body's excess. */
	h->len = h->raw = h->head_len + h->dlen;
	return 0;
}

/*
 * Judge what the answer holds so far; eof: nothing more will come.
 * Returns 1 when the probe is decided (and done), 0 to read on.
 */
static int
probe_judge(struct hsrv *h, int eof, uint64_t now)
{
	const struct conf_upstream *up = h->up;
	size_t		 blen;
	int		 full, whole;

	full = h->len == PROBE_BUF;	/* all we will look at */
	if (full)
		eof = 1;
	if (h->head_len == 0) {
		switch (probe_head(h, eof, now)) {
		case 0:
			return 0;
		case -1:
			return 1;
		}
	}
	if (up->health_body == NULL || strcmp(up->health_method, "HEAD") == 0) {
		probe_done(h, 1, now, "%s", h->status_text);
		return 1;
	}
	if (h->chunked) {
		if (probe_dechunk(h) == -1) {
			probe_done(h, 0, now, "%s, invalid answer: bad chunk",
			    h->status_text);
			return 1;
		}
		blen = h->dlen;
		whole = h->ck.done;
	} else {
		blen = h->len - h->head_len;
		if (h->clen >= 0 && (uint64_t)h->clen < blen)
			blen = (size_t)h->clen;
		whole = h->clen >= 0 && (uint64_t)h->clen == blen;
	}
	if (!whole && !eof)
		return 0;
	/* Cut short (not merely past the bytes read): a broken answer. */
	if (!whole && !full && (h->chunked || h->clen >= 0)) {
		probe_done(h, 0, now, "%s, invalid answer: body cut short",
		    h->status_text);
		return 1;
	}
	if (memmem(h->buf + h->head_len, blen, up->health_body,
	    strlen(up->health_body)) != NULL)
		probe_done(h, 1, now, "%s", h->status_text);
	else
		probe_done(h, 0, now, "%s, body mismatch", h->status_text);
	return 1;
}

static void
probe_send(struct hsrv *h, uint64_t now)
{
	ssize_t			 n;

	const char		*q = h->h2 != NULL ? h->h2out : h->req;
	size_t			 ql = h->h2 != NULL ? h->h2outlen : h->reqlen;

	while (h->sent < ql) {
		n = hio_send(h->ssl, h->fd, q + h->sent, ql - h->sent,
		    MSG_NOSIGNAL);
		if (n == -1) {
			if ((errno == EAGAIN || errno == EWOULDBLOCK) &&
			    h->ssl != NULL)	/* TLS may want to read first */
				(void)probe_watch(h, EPOLL_CTL_MOD,
				    hio_events(h->ssl, EPOLLOUT));
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			if (errno == EINTR)
				continue;
			probe_done(h, 0, now, "%s", connect_error(errno));
			return;
		}
		h->sent += (size_t)n;
	}
	if (probe_watch(h, EPOLL_CTL_MOD, EPOLLIN) == -1)
		return;
	h->phase = PH_RECV;
}

/*
 * protocol = h2: the server's frames go through the probe's session
 * (health_h2.c), which writes the whole answer as HTTP/1.1 into h->buf
 * for probe_judge.
 */
static void
probe_recv_h2(struct hsrv *h, uint64_t now)
{
	char		 in[4096];
	const char	*out, *why;
	size_t		 outlen;
	ssize_t		 n;
	int		 rc;

	for (;;) {
		n = hio_read(h->ssl, h->fd, in, sizeof(in));
		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				probe_done(h, 0, now, "%s", connect_error(errno));
			else if (h->ssl != NULL)
				(void)probe_watch(h, EPOLL_CTL_MOD,
				    hio_events(h->ssl, EPOLLIN));
			return;
		}
		if (n == 0) {
			probe_done(h, 0, now, "closed before the answer ended");
			return;
		}
		rc = hh2_recv(h->h2, in, (size_t)n, h->buf, PROBE_BUF, &h->len,
		    &out, &outlen, &why);
		if (rc == -1) {
			probe_done(h, 0, now, "invalid answer: %s", why);
			return;
		}
		/* SETTINGS ACK and the like: best effort, the probe ends soon. */
		if (outlen > 0 && hio_send(h->ssl, h->fd, out, outlen,
		    MSG_NOSIGNAL | MSG_DONTWAIT) == -1 && errno != EAGAIN &&
		    errno != EWOULDBLOCK) {
			probe_done(h, 0, now, "%s", connect_error(errno));
			return;
		}
		if (rc == 1) {
			(void)probe_judge(h, 1, now);
			return;
		}
	}
}

static void
probe_recv(struct hsrv *h, uint64_t now)
{
	ssize_t	 n;

	if (h->h2 != NULL) {
		probe_recv_h2(h, now);
		return;
	}
	for (;;) {
		n = hio_read(h->ssl, h->fd, h->buf + h->len, PROBE_BUF - h->len);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				if (!probe_judge(h, 0, now) && h->ssl != NULL)
					(void)probe_watch(h, EPOLL_CTL_MOD,
					    hio_events(h->ssl, EPOLLIN));
				return;
			}
			if (h->len > 0 && probe_judge(h, 1, now))
				return;
			probe_done(h, 0, now, "%s", connect_error(errno));
			return;
		}
		h->len += (size_t)n;
		if (n == 0 || h->len == PROBE_BUF) {
			(void)probe_judge(h, 1, now);
			return;
		}
	}
}

/*
 * A send_proxy server expects a PROXY header on every connection: a
 * probe's carries no address (version 2 LOCAL, version 1 UNKNOWN), so
 * the server takes the probe's own.  Written into buf; its length.
 */
static size_t
probe_pp(const struct conf_server *cs, char *buf, size_t cap)
{
	ssize_t	 n = 0;

	if (cs->send_proxy == 1)
		n = pp_build_v1(buf, cap, NULL, NULL);
	else if (cs->send_proxy == 2)
		n = pp_build_v2((unsigned char *)buf, cap, NULL, NULL);
	return n > 0 ? (size_t)n : 0;
}

/* A tcp probe connected: send the PROXY header first if the server wants one. */
static void
probe_tcp_done(struct hsrv *h, uint64_t now)
{
	char	 pp[PP_V1_MAX];
	size_t	 n;

	n = probe_pp(h->cs, pp, sizeof(pp));
	if (n > 0 && send(h->fd, pp, n, MSG_NOSIGNAL | MSG_DONTWAIT) !=
	    (ssize_t)n) {
		probe_done(h, 0, now, "PROXY header not sent");
		return;
	}
	probe_done(h, 1, now, "connected");
}

/* Connected (TLS: handshaken): send the request. */
static void
probe_request(struct hsrv *h, uint64_t now)
{
	if (h->up->protocol == UP_PROTO_H2 && (h->h2 = hh2_new(
	    h->up->health_method, h->up->health_path, h->host,
	    h->ssl != NULL, &h->h2out, &h->h2outlen)) == NULL) {
		log_warnx("upstream %s server %s: cannot probe: out of "
		    "memory, or health_path too long", h->up->name,
		    h->cs->addr.text);
		probe_close(h);
		return;
	}
	h->phase = PH_SEND;
	probe_send(h, now);
}

/* The TLS handshake of a probe: on, done, or failed. */
static void
probe_tls(struct hsrv *h, uint64_t now)
{
	const char		*why;
	uint32_t		 events;

	switch (htls_handshake(h->ssl, &events, &why)) {
	case -1:
		probe_done(h, 0, now, "TLS handshake: %s", why);
		return;
	case 0:
		(void)probe_watch(h, EPOLL_CTL_MOD, events);
		return;
	}
	if (h->up->protocol == UP_PROTO_H2 && !htls_alpn_h2(h->ssl)) {
		probe_done(h, 0, now, "the server did not choose h2 (ALPN)");
		return;
	}
	/* The request goes out next: wait for room, not for bytes. */
	if (probe_watch(h, EPOLL_CTL_MOD, EPOLLOUT) == -1)
		return;
	probe_request(h, now);
}

static void
probe_event(struct hsrv *h, uint32_t events, uint64_t now)
{
	int		 err = 0;
	socklen_t	 len = sizeof(err);

	switch (h->phase) {
	case PH_CONNECT:
		if (getsockopt(h->fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
			err = errno;
		if (err == 0 && (events & (EPOLLERR | EPOLLHUP)) != 0)
			err = ECONNREFUSED;
		if (err != 0) {
			probe_done(h, 0, now, "%s", connect_error(err));
			return;
		}
		if (h->req == NULL) {
			probe_tcp_done(h, now);
			return;
		}
		if (h->cs->tls) {
			if ((h->ssl = htls_new(h->up, h->cs, h->fd)) == NULL) {
				probe_done(h, 0, now, "cannot start TLS");
				return;
			}
			h->phase = PH_TLS;
			probe_tls(h, now);
			return;
		}
		probe_request(h, now);
		break;
	case PH_TLS:
		probe_tls(h, now);
		break;
	case PH_SEND:
		probe_send(h, now);
		break;
	case PH_RECV:
		probe_recv(h, now);
		break;
	default:
		break;
	}
}

/*
 * A DNS slot whose address changed (the resolver wrote it): the probe in
 * flight was for the old one, and the counts start again.
 */
static int
slot_follow(struct hsrv *h, uint64_t now)
{
	uint32_t	 gen;

	if (h->cs->dns == CONF_DNS_NONE ||
	    (gen = shm_dns_gen(&h->sh->dns)) ==
	    h->dns_gen)
		return 0;
	h->dns_gen = gen;
	probe_close(h);
	h->oks = h->errs = 0;
	h->ntimes = h->head = 0;
	h->passive_down = 0;
	h->seen = shm_read64(&h->sh->fails);
	if (h->up->health != HEALTH_NONE)
		h->next_ms = now;
	return 1;
}

/* Take in the failures workers counted; decide passive state changes. */
static void
passive_tick(uint64_t now)
{
	struct hsrv	*h;
	uint64_t	 cur, d, oldest;
	size_t		 i;
	char		 dur[32];

	for (i = 0; i < nhs; i++) {
		h = &hs[i];
		if (h->times == NULL)
			continue;
		cur = shm_read64(&h->sh->fails);
		d = cur - h->seen;
		h->seen = cur;
		if (shm_read32(&h->sh->state) != SHM_UP) {
			if (h->passive_down && h->up->health == HEALTH_NONE &&
			    now >= h->passive_until) {
				h->passive_down = 0;
				set_state(h, SHM_UP, now, "fail_timeout over");
			}
			continue;
		}
		if (d > (uint64_t)h->up->max_fails)
			d = (uint64_t)h->up->max_fails;
		for (; d > 0; d--) {
			h->times[h->head] = now;
			h->head = (h->head + 1) % h->up->max_fails;
			if (h->ntimes < h->up->max_fails)
				h->ntimes++;
		}
		if (h->ntimes < h->up->max_fails)
			continue;
		/* When the ring is full, head is the oldest entry. */
		oldest = h->times[h->head];
		if (now - oldest >= (uint64_t)h->up->fail_timeout_ms)
			continue;
		fmt_duration(h->up->fail_timeout_ms, dur, sizeof(dur));
		h->ntimes = 0;
		h->head = 0;
		h->passive_down = 1;
		h->passive_until = now + (uint64_t)h->up->fail_timeout_ms;
		h->oks = 0;
		/*
		 * Passive marks are soft (SHM_FAILED): workers avoid the
		 * server but still use it when nothing else is up.
		 */
		set_state(h, SHM_FAILED, now, "%d failure%s within %s: passive",
		    h->up->max_fails, h->up->max_fails == 1 ? "" : "s", dur);
	}
}

static void
servers_free(void)
{
	size_t	 i;

	for (i = 0; i < nhs; i++) {
		probe_close(&hs[i]);
		free(hs[i].req);
		free(hs[i].times);
	}
	free(hs);
	hs = NULL;
	nhs = 0;
	free(probe_hdrs);
	probe_hdrs = NULL;
}

/* One entry per server that has a check; -1 when out of memory. */
static int
servers_init(struct conf *conf, struct shm_header *shm, uint64_t now)
{
	struct conf_upstream	*up;
	struct hsrv		*h;
	const char		*host;
	size_t			 u, i, n = 0, len;

	for (u = 0; u < conf->nupstreams; u++)
		n += conf->upstreams[u].nservers;
	if (n > 0 && (hs = calloc(n, sizeof(*hs))) == NULL)
		return -1;
	/* As many header fields as a worker takes in a backend's answer. */
	probe_lim.max_request_line = 0;
	probe_lim.max_head = PROBE_BUF;
	probe_lim.max_headers = conf->g.max_headers > PROBE_HEADERS ?
	    (size_t)conf->g.max_headers : PROBE_HEADERS;
	if ((probe_hdrs = calloc(probe_lim.max_headers,
	    sizeof(*probe_hdrs))) == NULL)
		return -1;
	for (u = 0; u < conf->nupstreams; u++) {
		up = &conf->upstreams[u];
		for (i = 0; i < up->nservers; i++) {
			if (up->servers[i].shm_idx < 0)
				continue;
			h = &hs[nhs++];
			h->fd = -1;
			h->up = up;
			h->cs = &up->servers[i];
			h->sh = &shm->srv[up->servers[i].shm_idx];
			h->seen = shm_read64(&h->sh->fails);
			h->dns_gen = shm_dns_gen(&h->sh->dns);
			if (up->health == HEALTH_HTTP) {
				host = up->health_host != NULL ? up->health_host :
				    h->cs->addr.text;
				/* A DNS slot: the name, not a placeholder. */
				if (up->health_host == NULL &&
				    h->cs->dns != CONF_DNS_NONE)
					host = h->cs->dns_name;
				h->host = host;
				len = strlen(up->health_method) +
				    strlen(up->health_path) + strlen(host) + 100 +
				    PP_V1_MAX;
				if ((h->req = malloc(len)) == NULL)
					return -1;
				h->reqlen = probe_pp(h->cs, h->req, len);
				h->reqlen += (size_t)snprintf(h->req + h->reqlen,
				    len - h->reqlen,
				    "%s %s HTTP/1.1\r\nHost: %s\r\n"
				    "User-Agent: portico-health\r\n"
				    "Connection: close\r\n\r\n",
				    up->health_method, up->health_path, host);
			}
			if (up->health != HEALTH_NONE)
				h->next_ms = now + (uint64_t)random() %
				    (uint64_t)up->health_interval_ms;
			/*
			 * As in nginx, the only server of an upstream is never
			 * taken out by passive checks: there is nowhere else to
			 * send its requests, and a 503 for fail_timeout would
			 * only stretch one error into many.
			 */
			if (up->max_fails > 0 && up->nservers > 1 &&
			    (h->times = calloc((size_t)up->max_fails,
			    sizeof(*h->times))) == NULL)
				return -1;
			if (shm_read32(&h->sh->state) == SHM_UP ||
			    shm_read32(&h->sh->state) == SHM_EMPTY)
				continue;
			/* Down before this checker started: who brings it back? */
			if (up->health != HEALTH_NONE)
				continue;
			if (h->times != NULL) {
				h->passive_down = 1;
				h->passive_until = shm_read64(&h->sh->changed_ms) +
				    (uint64_t)up->fail_timeout_ms;
			} else
				set_state(h, SHM_UP, now, "health checks off");
		}
	}
	return 0;
}

/* The signals that came in: TERM, INT and QUIT set *stop; USR1 reopens logs. */
static void
signals_read(int sfd, int *stop)
{
	struct signalfd_siginfo	 si;

	while (read(sfd, &si, sizeof(si)) == sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGTERM:
		case SIGINT:
		case SIGQUIT:
			*stop = 1;
			break;
		case SIGUSR1:
			log_reopen();
			break;
		default:
			break;
		}
	}
}

static void __attribute__((noreturn))
checker_main(struct conf *conf, struct shm_header *shm, pid_t master)
{
	struct epoll_event	 evs[MAX_EVENTS], ev;
	sigset_t		 set;
	uint64_t		 now, next_tick, due;
	size_t			 i, j;
	int			 sfd, n, k, wait, stop = 0;
	struct hsrv		*h;

	log_set_role("checker");
	/* Told apart from the workers in ps(1) and /proc/PID/comm. */
	(void)prctl(PR_SET_NAME, "portico-checker");
	proctitle_set("portico: checker");
	signal(SIGPIPE, SIG_IGN);
	proc_block_signals(&set);
	/* The checker accepts nothing: let go of the listening sockets. */
	for (i = 0; i < conf->nlisteners; i++)
		for (j = 0; j < conf->listeners[i].naddrs; j++)
			if (conf->listeners[i].fds[j] != -1) {
				close(conf->listeners[i].fds[j]);
				conf->listeners[i].fds[j] = -1;
			}
	/* Give up root, like the workers: the checker needs no privilege. */
	if (proc_drop_privileges(conf) == -1)
		exit(HEALTH_EXIT_FATAL);
	/* After the uid change, which clears it: die with the master. */
	(void)prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() != master)
		exit(0);	/* the master is gone already */
	srandom((unsigned int)(getpid() ^ proc_now_ms()));

	if ((epfd = epoll_create1(EPOLL_CLOEXEC)) == -1)
		fatal("epoll_create1");
	if ((sfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC)) == -1)
		fatal("signalfd");
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN;
	ev.data.u64 = 0;
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, sfd, &ev) == -1)
		fatal("epoll_ctl signalfd");
	now = proc_now_ms();
	if (servers_init(conf, shm, now) == -1) {
		servers_free();
		fatalx("out of memory");
	}
	/* Servers from DNS: asked for again as their TTLs run out. */
	if (resolver_init(conf, shm, epfd) == -1)
		log_warnx("servers from DNS are not resolved again");
	for (i = 0; i < nhs; i++)
		(void)slot_follow(&hs[i], now);
	log_info("started: %zu servers to watch", nhs);
	next_tick = now + PASSIVE_TICK_MS;

	while (!stop) {
		now = proc_now_ms();
		due = next_tick;
		for (i = 0; i < nhs; i++) {
			h = &hs[i];
			if (h->phase != PH_IDLE && h->deadline_ms < due)
				due = h->deadline_ms;
			else if (h->phase == PH_IDLE &&
			    h->up->health != HEALTH_NONE && h->next_ms < due)
				due = h->next_ms;
		}
		due = resolver_due(due, now);
		wait = due > now ? (int)(due - now) : 0;
		n = epoll_wait(epfd, evs, MAX_EVENTS, wait);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			fatal("epoll_wait");
		}
		now = proc_now_ms();
		for (k = 0; k < n; k++) {
			if (evs[k].data.u64 & RESOLVER_TAG) {
				resolver_event(evs[k].data.u64, evs[k].events);
				continue;
			}
			if (evs[k].data.u64 != 0) {
				h = &hs[evs[k].data.u64 - 1];
				if (slot_follow(h, now))
					continue;
				if (h->fd != -1)
					probe_event(h, evs[k].events, now);
				continue;
			}
			signals_read(sfd, &stop);
		}
		resolver_tick(now);
		for (i = 0; i < nhs; i++) {
			h = &hs[i];
			(void)slot_follow(h, now);
			if (h->phase != PH_IDLE && now >= h->deadline_ms)
				probe_done(h, 0, now, "timeout");
			else if (h->phase == PH_IDLE &&
			    h->up->health != HEALTH_NONE && now >= h->next_ms)
				probe_start(h, now);
		}
		if (now >= next_tick) {
			passive_tick(now);
			next_tick = now + PASSIVE_TICK_MS;
		}
	}
	log_debug("exiting");
	resolver_free();
	servers_free();
	close(sfd);
	close(epfd);
	conf_free(conf);
	exit(0);
}

pid_t
health_start(struct conf *conf, struct shm_header *shm)
{
	pid_t	 pid, master = getpid();

	pid = fork();
	if (pid == -1) {
		log_error("fork");
		return -1;
	}
	if (pid == 0)
		checker_main(conf, shm, master);
	log_info("started checker (pid %d)", (int)pid);
	return pid;
}
