/*
 * reqid.c: the request id (request_id = on) and the W3C trace context
 * (traceparent, tracestate; trace = on) of each exchange.
 *
 * An id is taken from the client's request_id_header only when the peer
 * is a trusted proxy (trusted_proxies) and the value is sane; otherwise
 * it is made here: 128 bits in 32 lowercase hex digits, the first 64 a
 * random number drawn once per worker process (getrandom), the last 64 a
 * per-process counter started at another random number.  No system call
 * per request, and two workers, or a worker and its successor after a
 * restart, share an id only if they drew the same 64 random bits.
 *
 * The trace context: a client's traceparent is checked (W3C Trace
 * Context level 1); an invalid one is dropped with its tracestate.  With
 * trace = on portico takes part in the trace: it starts one when there
 * is none (a new trace-id, flags 01) and sends the backend a child of
 * the client's span (the same trace-id, a new parent-id: portico's
 * span).  The traceparent sent upstream is kept in r->tp, for the log.
 */
#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "common/http.h"
#include "common/strbuf.h"
#include "worker/proxy_int.h"
#include "worker/reqid.h"

static int	 seeded;
static uint64_t	 id_hi, id_lo;		/* the id's halves: fixed, counter */
static uint64_t	 rng;			/* splitmix64 state: trace and span ids */

static const char hexd[] = "0123456789abcdef";

/* Draw the worker's random numbers, once. */
static void
reqid_seed(void)
{
	uint64_t	 s[3];
	struct timespec	 ts;

	if (seeded)
		return;
	if (getrandom(s, sizeof(s), GRND_NONBLOCK) != (ssize_t)sizeof(s)) {
		/* No entropy yet (early boot): the clock and pid, mixed. */
		clock_gettime(CLOCK_REALTIME, &ts);
		s[0] = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
		s[1] = s[0] ^ ((uint64_t)getpid() << 32);
		s[2] = s[1] * 0x9e3779b97f4a7c15ull;
	}
	id_hi = s[0];
	id_lo = s[1];
	rng = s[2];
	seeded = 1;
}

/* The next number of the worker's generator (splitmix64). */
static uint64_t
rng_next(void)
{
	uint64_t	 z = (rng += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static void
hex64(char *out, uint64_t v)
{
	int	 i;

	for (i = 15; i >= 0; i--) {
		out[i] = hexd[v & 15];
		v >>= 4;
	}
}

void
reqid_random_hex(char *out, size_t n)
{
	uint64_t	 v = 0;
	size_t		 i;

	reqid_seed();
	for (i = 0; i < n; i++) {
		if ((i & 7) == 0)
			v = rng_next();
		out[2 * i] = hexd[(v >> 4) & 15];
		out[2 * i + 1] = hexd[v & 15];
		v >>= 8;
	}
}

int
reqid_valid(const char *v, size_t n)
{
	size_t	 i;
	char	 ch;

	if (n == 0 || n > REQID_MAX)
		return 0;
	for (i = 0; i < n; i++) {
		ch = v[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' ||
		    ch == '.' || ch == ':' || ch == '+' || ch == '/' || ch == '='))
			return 0;
	}
	return 1;
}

/* Whether v[0..n) is lowercase hex, and not all zeros. */
static int
hex_nonzero(const char *v, size_t n)
{
	size_t	 i;
	int	 nz = 0;

	for (i = 0; i < n; i++) {
		if (!((v[i] >= '0' && v[i] <= '9') || (v[i] >= 'a' && v[i] <= 'f')))
			return 0;
		nz |= v[i] != '0';
	}
	return nz;
}

int
reqid_traceparent_valid(const char *v, size_t n)
{
	/* W3C Trace Context 3.2: version "-" trace-id "-" parent-id "-" flags. */
	if (n < TRACEPARENT_LEN || v[2] != '-' || v[35] != '-' || v[52] != '-')
		return 0;
	if (!hex_nonzero(v, 2) && !(v[0] == '0' && v[1] == '0'))
		return 0;		/* not hex (00 is the one zero version) */
	if (memcmp(v, "ff", 2) == 0)
		return 0;		/* version 255 is invalid */
	if (memcmp(v, "00", 2) == 0 && n != TRACEPARENT_LEN)
		return 0;		/* version 00 has nothing more */
	if (n > TRACEPARENT_LEN && v[TRACEPARENT_LEN] != '-')
		return 0;		/* a later version: more after a dash */
	if (!hex_nonzero(v + 3, 32) || !hex_nonzero(v + 36, 16))
		return 0;
	if (!hex_nonzero(v + 53, 2) && memcmp(v + 53, "00", 2) != 0)
		return 0;
	return 1;
}

const char *
reqid_header(size_t *len)
{
	const char	*h = conf->g.request_id_header != NULL ?
	    conf->g.request_id_header : "X-Request-ID";

	*len = strlen(h);
	return h;
}

const char *
reqid_header_lc(void)
{
	static char	 lc[65];
	const char	*h;
	size_t		 n, i;

	if (lc[0] == '\0') {
		h = reqid_header(&n);
		for (i = 0; i < n && i < sizeof(lc) - 1; i++)
			lc[i] = (char)http_lower((unsigned char)h[i]);
		lc[i] = '\0';
	}
	return lc;
}

/* Whether the connection's peer is a trusted proxy (trusted_proxies). */
static int
peer_trusted(const struct client *c)
{
	const struct conf_listener	*ls = c->ls->conf;
	char				 ip[CLIENT_IP_MAX];

	if (c->r != NULL && c->r->ip_real)
		return 1;	/* realip took its word: it is trusted */
	if (ls->ntrusted > 0)
		return ip_allowed(client_peer(c, ip, sizeof(ip)), ls->trusted,
		    ls->ntrusted);
	return conf->g.ntrusted > 0 && ip_allowed(client_peer(c, ip,
	    sizeof(ip)), conf->g.trusted, conf->g.ntrusted);
}

/*
 * The exchange of c begins: its id (request_id = on), and the
 * traceparent it sends upstream (r->tp, "" none; r->tp_drop: the
 * client's is not forwarded).
 */
void
reqid_begin(struct client *c, const struct http_request *rq)
{
	struct req			*r = c->r;
	const struct http_header	*h, *id = NULL, *tp = NULL;
	const char			*name = NULL;
	size_t				 i, nl = 0;
	int				 ntp = 0;

	r->reqid[0] = '\0';
	r->tp[0] = '\0';
	r->tp_drop = 0;
	r->tp_ours = 0;
	if (conf->g.request_id)
		name = reqid_header(&nl);
	for (i = 0; i < rq->nheaders; i++) {
		h = &rq->headers[i];
		if (h->name_len == 11 && http_name_eq(h, "traceparent")) {
			tp = h;
			ntp++;
		} else if (name != NULL && h->name_len == nl &&
		    strncasecmp(h->name, name, nl) == 0)
			id = h;
	}
	if (name != NULL) {
		if (id != NULL && reqid_valid(id->value, id->value_len) &&
		    peer_trusted(c)) {
			memcpy(r->reqid, id->value, id->value_len);
			r->reqid[id->value_len] = '\0';
		} else {
			reqid_seed();
			hex64(r->reqid, id_hi);
			hex64(r->reqid + 16, id_lo++);
			r->reqid[32] = '\0';
		}
	}
	if (tp != NULL && (ntp > 1 || !reqid_traceparent_valid(tp->value,
	    tp->value_len))) {
		r->tp_drop = 1;		/* and its tracestate */
		tp = NULL;
	}
	if (!conf->g.trace) {
		if (tp != NULL) {
			/* Passed on as it is; its first 55 bytes for the log. */
			memcpy(r->tp, tp->value, TRACEPARENT_LEN);
			r->tp[TRACEPARENT_LEN] = '\0';
		}
		return;
	}
	/* A child of the client's span, or a new trace (sampled). */
	memcpy(r->tp, "00-", 3);
	if (tp != NULL)
		memcpy(r->tp + 3, tp->value + 3, 32);
	else
		reqid_random_hex(r->tp + 3, 16);
	r->tp[35] = '-';
	reqid_random_hex(r->tp + 36, 8);
	r->tp[52] = '-';
	memcpy(r->tp + 53, tp != NULL ? tp->value + 53 : "01", 2);
	r->tp[TRACEPARENT_LEN] = '\0';
	r->tp_ours = 1;
	if (tp == NULL)
		r->tp_drop = 1;		/* a tracestate alone belongs to no trace */
}

int
reqid_field_ours(const struct req *r, const struct http_header *h)
{
	if (h->name_len == 11 && http_name_eq(h, "traceparent"))
		return r->tp_drop || r->tp_ours;
	if (h->name_len == 10 && http_name_eq(h, "tracestate"))
		return r->tp_drop;
	return r->reqid[0] != '\0' && reqid_id_field(h);
}

int
reqid_id_field(const struct http_header *h)
{
	size_t		 nl;
	const char	*name = reqid_header(&nl);

	return h->name_len == nl && strncasecmp(h->name, name, nl) == 0;
}

void
reqid_fields(const struct req *r, struct strbuf *b)
{
	const char	*name;
	size_t		 nl;

	if (r->reqid[0] != '\0') {
		name = reqid_header(&nl);
		strbuf_field(b, name, nl, r->reqid, strlen(r->reqid));
	}
	if (r->tp_ours)
		strbuf_field(b, "traceparent", 11, r->tp, TRACEPARENT_LEN);
}

const char *
reqid_log_context(void *arg)
{
	const struct client	*c = arg;

	return c->r != NULL && c->r->reqid[0] != '\0' ? c->r->reqid : NULL;
}
