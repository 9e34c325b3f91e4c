/*
 * conf_upstream.c: the [upstream NAME] sections: the servers with their
 * options (weight, backup, max_conns, tls), balancing, connection pool
 * and timeouts, active health checks, retries, passive checks and TLS to
 * the servers, checked together once the section is read.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <sys/types.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <ctype.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/conf.h"
#include "common/conf_int.h"
#include "common/net.h"

static void	 key_server(struct loader *, void *, const char *);
static int	 server_option(struct loader *, const char *,
		    struct conf_server *, int *);
static int	 server_add(struct loader *, struct conf_upstream *,
		    struct conf_server *);
static int	 server_host(const char *, char **);
static void	 server_dns(struct loader *, struct conf_upstream *,
		    const char *, struct conf_server *);
static int	 dns_name_ok(const char *, size_t);
static void	 key_balance(struct loader *, void *, const char *);
static void	 key_hash_key(struct loader *, void *, const char *);
static void	 key_health_check(struct loader *, void *, const char *);
static void	 key_health_status(struct loader *, void *, const char *);
static void	 key_retry_on(struct loader *, void *, const char *);
static void	 key_fail_on_5xx(struct loader *, void *, const char *);
static void	 key_upstream_tls(struct loader *, void *, const char *);
static void	 key_tls_verify(struct loader *, void *, const char *);
static void	 key_protocol(struct loader *, void *, const char *);
static void	 upstream_defaults(struct conf_upstream *);
static int	 upstream_taken(struct loader *, const char *, const char **);
static int	 upstream_open(struct loader *, char *);
static void	 upstream_discard(struct loader *);
static void	 upstream_finish(struct loader *);
static void	 upstream_tls_finish(struct loader *, struct conf_upstream *,
		    const struct meta *);
static void	 upstream_h2_finish(struct loader *, struct conf_upstream *,
		    const struct meta *);

#define U(f)	offsetof(struct conf_upstream, f)

static const struct key upstream_keys[] = {
	{ "server", K_FUNC, 0, 0, 0, 1, key_server, NULL },
	{ "balance", K_FUNC, 0, 0, 0, 0, key_balance, NULL },
	{ "hash_key", K_FUNC, 0, 0, 0, 0, key_hash_key, NULL },
	{ "slow_start", K_DURATION, U(slow_start_ms), 0, 0, 0, NULL, NULL },
	{ "keepalive", K_INT, U(keepalive), 0, 10000, 0, NULL, NULL },
	{ "keepalive_timeout", K_DURATION, U(keepalive_timeout_ms), 0, 0, 0,
	    NULL, NULL },
	{ "connect_timeout", K_DURATION, U(connect_timeout_ms), 1, 0, 0,
	    NULL, NULL },
	{ "read_timeout", K_DURATION, U(read_timeout_ms), 1, 0, 0,
	    NULL, NULL },
	{ "send_timeout", K_DURATION, U(send_timeout_ms), 1, 0, 0,
	    NULL, NULL },
	{ "health_check", K_FUNC, 0, 0, 0, 0, key_health_check, NULL },
	{ "health_interval", K_DURATION, U(health_interval_ms), 100, 0, 0,
	    NULL, NULL },
	{ "health_timeout", K_DURATION, U(health_timeout_ms), 10, 0, 0,
	    NULL, NULL },
	{ "health_rise", K_INT, U(health_rise), 1, 100, 0, NULL, NULL },
	{ "health_fall", K_INT, U(health_fall), 1, 100, 0, NULL, NULL },
	{ "health_status", K_FUNC, 0, 0, 0, 0, key_health_status, NULL },
	{ "health_body", K_STRING, U(health_body), 0, 0, 0, NULL, NULL },
	{ "health_host", K_STRING, U(health_host), 0, 0, 0, NULL, NULL },
	{ "retries", K_INT, U(retries), 0, 100, 0, NULL, NULL },
	{ "queue", K_INT, U(queue), 0, 100000, 0, NULL, NULL },
	{ "queue_timeout", K_DURATION, U(queue_timeout_ms), 1, 0, 0, NULL, NULL },
	{ "retry_on", K_FUNC, 0, 0, 0, 0, key_retry_on, NULL },
	{ "retry_timeout", K_DURATION, U(retry_timeout_ms), 0, 0, 0, NULL, NULL },
	{ "max_fails", K_INT, U(max_fails), 0, 1000, 0, NULL, NULL },
	{ "fail_on_5xx", K_FUNC, 0, 0, 0, 0, key_fail_on_5xx, NULL },
	{ "fail_timeout", K_DURATION, U(fail_timeout_ms), 1, 0, 0, NULL, NULL },
	/* TLS */
	{ "tls", K_FUNC, 0, 0, 0, 0, key_upstream_tls, NULL },
	{ "tls_ca", K_STRING, U(tls_ca), 0, 0, 0, NULL, NULL },
	{ "tls_server_name", K_STRING, U(tls_server_name), 0, 0, 0, NULL, NULL },
	{ "tls_verify", K_FUNC, 0, 0, 0, 0, key_tls_verify, NULL },
	{ "protocol", K_FUNC, 0, 0, 0, 0, key_protocol, NULL },
};

_Static_assert(NKEYS(upstream_keys) <= MAX_KEYS, "raise MAX_KEYS");

const struct conf_section conf_sec_upstream = {
	"upstream", SEC_UPSTREAM, 1, upstream_keys, NKEYS(upstream_keys),
	upstream_taken, upstream_open, upstream_discard, upstream_finish
};

static void
upstream_defaults(struct conf_upstream *u)
{
	memset(u, 0, sizeof(*u));
	u->balance = BALANCE_ROUND_ROBIN;
	u->keepalive = 32;
	u->keepalive_timeout_ms = 60 * 1000;
	u->connect_timeout_ms = 5 * 1000;
	u->read_timeout_ms = 60 * 1000;
	u->send_timeout_ms = 60 * 1000;
	u->health_status_min = 200;
	u->health_status_max = 399;
	u->health_interval_ms = 2000;
	u->health_timeout_ms = 1000;
	u->health_rise = 2;
	u->health_fall = 3;
	u->max_fails = 1;
	u->fail_timeout_ms = 10 * 1000;
	u->retries = -1;
	u->retry_on = RETRY_ERROR | RETRY_TIMEOUT;
	u->queue_timeout_ms = 5000;
	u->tls_verify = 1;
}

void
conf_upstream_clear(struct conf_upstream *u)
{
	size_t	 i;

	for (i = 0; i < u->nservers; i++) {
		free(u->servers[i].host);
		free(u->servers[i].dns_name);
	}
	free(u->tls_ca);
	free(u->tls_server_name);
	free(u->name);
	free(u->hash_key_name);
	free(u->health_method);
	free(u->health_path);
	free(u->health_host);
	free(u->health_body);
	free(u->servers);
	memset(u, 0, sizeof(*u));
}

/*
 * server = ADDRESS [weight=N] [backup] [max_conns=N] [tls]; repeatable.
 * server = NAME:PORT resolve [max_addresses=N] [options]
 * server = _SERVICE._PROTO.NAME srv [max_addresses=N] [options]
 */
static void
key_server(struct loader *ld, void *obj, const char *v)
{
	struct conf_upstream	*u = obj;
	struct conf_server	 s;
	char			*copy, *tok, *save, *addr;
	char			 why[WHY_MAX];
	int			 bad = 0, have_weight = 0;

	if ((copy = conf_strdup(ld, v)) == NULL)
		return;
	memset(&s, 0, sizeof(s));
	s.weight = 1;
	s.shm_idx = -1;
	s.file = ld->file;
	s.line = ld->lineno;

	addr = strtok_r(copy, " \t", &save);
	if (addr == NULL) {
		conf_err(ld, ld->lineno, "empty value for 'server'");
		free(copy);
		return;
	}
	while ((tok = strtok_r(NULL, " \t", &save)) != NULL)
		if (server_option(ld, tok, &s, &have_weight) == -1)
			bad = 1;
	if (s.dns_slots != 0 && s.dns == CONF_DNS_NONE) {
		conf_err(ld, ld->lineno, "server option 'max_addresses' needs "
		    "resolve or srv");
		bad = 1;
	}
	if (s.dns == CONF_DNS_SRV && have_weight) {
		conf_err(ld, ld->lineno, "server option 'weight' does not go "
		    "with srv: the weights come from the SRV records");
		bad = 1;
	}
	if (s.dns != CONF_DNS_NONE) {
		if (!bad)
			server_dns(ld, u, addr, &s);
		free(copy);
		return;
	}
	if (conf_addr_parse(addr, 0, &s.addr, why, sizeof(why)) == -1) {
		conf_err(ld, ld->lineno, "bad server address '%s': %s", addr,
		    why);
		bad = 1;
	}
	if (!bad && server_host(addr, &s.host) == -1)
		ld->oom = 1;
	free(copy);
	if (bad)
		return;
	if (server_add(ld, u, &s) == -1)
		free(s.host);
}

/*
 * One option after a server's address into s; have_weight tells whether
 * weight= came already.  0, or -1 when reported as bad.
 */
static int
server_option(struct loader *ld, const char *tok, struct conf_server *s,
    int *have_weight)
{
	int64_t	 n;
	int	 bad = 0;

	if (strncmp(tok, "weight=", 7) == 0) {
		if (*have_weight) {
			conf_err(ld, ld->lineno, "server option "
			    "'weight' given twice");
			bad = 1;
		} else if (conf_number(tok + 7, 1, 1000, &n) == -1) {
			conf_err(ld, ld->lineno, "bad server option "
			    "'%s': weight must be 1..1000", tok);
			bad = 1;
		} else
			s->weight = (int)n;
		*have_weight = 1;
	} else if (strcmp(tok, "backup") == 0) {
		if (s->backup) {
			conf_err(ld, ld->lineno, "server option "
			    "'backup' given twice");
			bad = 1;
		}
		s->backup = 1;
	} else if (strncmp(tok, "max_conns=", 10) == 0) {
		if (s->max_conns) {
			conf_err(ld, ld->lineno, "server option "
			    "'max_conns' given twice");
			bad = 1;
		} else if (conf_number(tok + 10, 1, 1000000, &n) == -1) {
			conf_err(ld, ld->lineno, "bad server option "
			    "'%s': max_conns must be 1..1000000", tok);
			bad = 1;
		} else
			s->max_conns = (int)n;
	} else if (strcmp(tok, "tls") == 0) {
		if (s->tls) {
			conf_err(ld, ld->lineno, "server option "
			    "'tls' given twice");
			bad = 1;
		}
		s->tls = 1;
	} else if (strncmp(tok, "send_proxy=", 11) == 0) {
		if (s->send_proxy) {
			conf_err(ld, ld->lineno, "server option "
			    "'send_proxy' given twice");
			bad = 1;
		} else if (strcmp(tok + 11, "v1") == 0)
			s->send_proxy = 1;
		else if (strcmp(tok + 11, "v2") == 0)
			s->send_proxy = 2;
		else {
			conf_err(ld, ld->lineno, "bad server option "
			    "'%s': send_proxy must be v1 or v2", tok);
			bad = 1;
		}
	} else if (strcmp(tok, "resolve") == 0 || strcmp(tok, "srv") == 0) {
		if (s->dns != CONF_DNS_NONE) {
			conf_err(ld, ld->lineno, "server option '%s' after "
			    "resolve or srv", tok);
			bad = 1;
		}
		s->dns = tok[0] == 'r' ? CONF_DNS_RESOLVE : CONF_DNS_SRV;
	} else if (strncmp(tok, "max_addresses=", 14) == 0) {
		if (s->dns_slots) {
			conf_err(ld, ld->lineno, "server option "
			    "'max_addresses' given twice");
			bad = 1;
		} else if (conf_number(tok + 14, 1, CONF_MAX_SERVERS, &n) == -1) {
			conf_err(ld, ld->lineno, "bad server option '%s': "
			    "max_addresses must be 1..%d", tok, CONF_MAX_SERVERS);
			bad = 1;
		} else
			s->dns_slots = (int)n;
	} else {
		conf_err(ld, ld->lineno, "unknown server option '%s' "
		    "(expected weight=N, backup, max_conns=N, tls, "
		    "send_proxy=v1|v2, resolve, srv or max_addresses=N)", tok);
		bad = 1;
	}
	return bad ? -1 : 0;
}

/*
 * Append a parsed server to the upstream, unless its address is there
 * already or the upstream is full.  0, or -1 (s->host is the caller's).
 */
static int
server_add(struct loader *ld, struct conf_upstream *u, struct conf_server *s)
{
	struct conf_server	*ns;
	size_t			 k;

	for (k = 0; k < u->nservers; k++)
		if (s->dns == CONF_DNS_NONE &&
		    u->servers[k].dns == CONF_DNS_NONE &&
		    net_addr_equal(&u->servers[k].addr, &s->addr)) {
			conf_err(ld, ld->lineno, "server %s is already in upstream "
			    "'%s' (line %d); use weight=N", s->addr.text, u->name,
			    u->servers[k].line);
			return -1;
		}
	if (u->nservers >= CONF_MAX_SERVERS) {
		conf_err(ld, ld->lineno, "upstream '%s' has more than %d servers",
		    u->name, CONF_MAX_SERVERS);
		return -1;
	}
	if ((ns = conf_grow(ld, u->servers, u->nservers, sizeof(*ns))) == NULL)
		return -1;
	u->servers = ns;
	u->servers[u->nservers++] = *s;
	return 0;
}

/*
 * Whether name[0..len) is a DNS name: labels of letters, digits, '-' and
 * '_' (SRV labels), 1..63 bytes each, 253 in all, an optional final dot.
 */
static int
dns_name_ok(const char *name, size_t len)
{
	size_t	 i, label = 0;

	if (len > 0 && name[len - 1] == '.')
		len--;
	if (len == 0 || len > 253)
		return 0;
	for (i = 0; i < len; i++) {
		if (name[i] == '.') {
			if (label == 0)
				return 0;
			label = 0;
			continue;
		}
		if (!isalnum((unsigned char)name[i]) && name[i] != '-' &&
		    name[i] != '_')
			return 0;
		if (++label > 63)
			return 0;
	}
	return 1;
}

/*
 * A resolve or srv line (s has its options): max_addresses servers, the
 * slots the checker fills from DNS.  Each starts empty (never picked).
 */
static void
server_dns(struct loader *ld, struct conf_upstream *u, const char *addr,
    struct conf_server *s)
{
	struct conf_server	 slot;
	struct in_addr		 in;
	const char		*colon = NULL;
	char			 host[256];
	size_t			 hlen, k;
	in_port_t		 port = 0;
	int			 i, n = s->dns_slots ? s->dns_slots : CONF_DNS_SLOTS;

	if (s->dns == CONF_DNS_RESOLVE) {
		if ((colon = strrchr(addr, ':')) == NULL ||
		    conf_port(colon + 1, &port) == -1) {
			conf_err(ld, ld->lineno, "bad server address '%s': "
			    "resolve needs NAME:PORT", addr);
			return;
		}
		hlen = (size_t)(colon - addr);
	} else {
		hlen = strlen(addr);
		if (strchr(addr, ':') != NULL || addr[0] != '_') {
			conf_err(ld, ld->lineno, "bad server address '%s': "
			    "srv needs a name like _http._tcp.example.com, "
			    "without a port", addr);
			return;
		}
	}
	if (hlen >= sizeof(host) || !dns_name_ok(addr, hlen)) {
		conf_err(ld, ld->lineno, "bad server address '%s': not a "
		    "host name", addr);
		return;
	}
	for (k = 0; k < hlen; k++)
		host[k] = (char)tolower((unsigned char)addr[k]);
	host[hlen] = '\0';
	if (inet_pton(AF_INET, host, &in) == 1) {
		conf_err(ld, ld->lineno, "bad server address '%s': resolve "
		    "needs a host name, not an IP address", addr);
		return;
	}
	for (k = 0; k < u->nservers; k++)
		if (u->servers[k].dns == s->dns && u->servers[k].dns_slot == 0 &&
		    u->servers[k].dns_port == (int)port &&
		    strcmp(u->servers[k].dns_name, host) == 0) {
			conf_err(ld, ld->lineno, "server %s is already in "
			    "upstream '%s' (line %d)", addr, u->name,
			    u->servers[k].line);
			return;
		}
	if (u->nservers + (size_t)n > CONF_MAX_SERVERS) {
		conf_err(ld, ld->lineno, "upstream '%s' has more than %d "
		    "servers (max_addresses counts)", u->name, CONF_MAX_SERVERS);
		return;
	}
	for (i = 0; i < n; i++) {
		slot = *s;
		slot.dns_port = (int)port;
		slot.dns_slot = i;
		slot.dns_slots = n;
		slot.addr.ss.ss_family = AF_UNSPEC;
		if (port != 0)
			snprintf(slot.addr.text, sizeof(slot.addr.text), "%.40s:%d#%d",
			    host, (int)port, i);
		else
			snprintf(slot.addr.text, sizeof(slot.addr.text), "%.48s#%d",
			    host, i);
		slot.dns_name = strdup(host);
		/* TLS: SNI and verification with the name of a resolve line. */
		slot.host = s->dns == CONF_DNS_RESOLVE ? strdup(host) : NULL;
		if (slot.dns_name == NULL || (s->dns == CONF_DNS_RESOLVE &&
		    slot.host == NULL)) {
			ld->oom = 1;
			free(slot.dns_name);
			free(slot.host);
			return;
		}
		if (server_add(ld, u, &slot) == -1) {
			free(slot.dns_name);
			free(slot.host);
			return;
		}
	}
}

/*
 * The host of a server address as written, lowercased, when it is a name
 * (for TLS: SNI and the name to verify); NULL for an IP address.  -1 when
 * memory runs out.
 */
static int
server_host(const char *addr, char **host)
{
	const char	*colon;
	char		 buf[256];
	struct in_addr	 in;
	size_t		 i, n;

	*host = NULL;
	if (*addr == '[' || (colon = strrchr(addr, ':')) == NULL)
		return 0;
	n = (size_t)(colon - addr);
	if (n == 0 || n >= sizeof(buf))
		return 0;
	for (i = 0; i < n; i++)
		buf[i] = (char)tolower((unsigned char)addr[i]);
	buf[n] = '\0';
	if (inet_pton(AF_INET, buf, &in) == 1)
		return 0;
	if ((*host = strdup(buf)) == NULL)
		return -1;
	return 0;
}

static void
key_balance(struct loader *ld, void *obj, const char *v)
{
	struct conf_upstream	*u = obj;
	static const struct {
		const char		*name;
		enum balance_kind	 kind;
	} kinds[] = {
		{ "round_robin", BALANCE_ROUND_ROBIN },
		{ "least_conn", BALANCE_LEAST_CONN },
		{ "ip_hash", BALANCE_IP_HASH },
		{ "hash", BALANCE_HASH },
		{ "random", BALANCE_RANDOM },
	};
	size_t			 i;

	for (i = 0; i < NKEYS(kinds); i++) {
		if (strcmp(v, kinds[i].name) == 0) {
			u->balance = kinds[i].kind;
			return;
		}
	}
	conf_err(ld, ld->lineno, "unknown balance '%s' (round_robin, "
	    "least_conn, ip_hash, hash or random)", v);
}

/* protocol = http1 | h2 */
static void
key_protocol(struct loader *ld, void *obj, const char *v)
{
	struct conf_upstream	*u = obj;

	if (strcmp(v, "http1") == 0)
		u->protocol = UP_PROTO_HTTP1;
	else if (strcmp(v, "h2") == 0)
		u->protocol = UP_PROTO_H2;
	else
		conf_err(ld, ld->lineno, "unknown protocol '%s' (http1 or h2)", v);
}

/* hash_key = uri | header:NAME | cookie:NAME */
static void
key_hash_key(struct loader *ld, void *obj, const char *v)
{
	struct conf_upstream	*u = obj;
	const char		*name = NULL;

	if (strcmp(v, "uri") == 0)
		u->hash_key = HASH_KEY_URI;
	else if (strncmp(v, "header:", 7) == 0) {
		u->hash_key = HASH_KEY_HEADER;
		name = v + 7;
	} else if (strncmp(v, "cookie:", 7) == 0) {
		u->hash_key = HASH_KEY_COOKIE;
		name = v + 7;
	} else {
		conf_err(ld, ld->lineno, "bad hash_key '%s' (uri, header:NAME "
		    "or cookie:NAME)", v);
		return;
	}
	if (name != NULL) {
		if (*name == '\0' || !conf_valid_name(name)) {
			conf_err(ld, ld->lineno, "bad hash_key '%s': the name "
			    "must be a header or cookie name", v);
			return;
		}
		free(u->hash_key_name);
		u->hash_key_name = conf_strdup(ld, name);
	}
}

/* fail_on_5xx = on | off */
static void
key_fail_on_5xx(struct loader *ld, void *obj, const char *v)
{
	(void)conf_onoff(ld, "fail_on_5xx", v,
	    &((struct conf_upstream *)obj)->fail_on_5xx);
}

/* retry_on = off | list of error timeout 500 502 503 504 */
static void
key_retry_on(struct loader *ld, void *obj, const char *v)
{
	static const struct {
		const char	*name;
		unsigned	 bit;
	} names[] = {
		{ "error", RETRY_ERROR }, { "timeout", RETRY_TIMEOUT },
		{ "500", RETRY_500 }, { "502", RETRY_502 },
		{ "503", RETRY_503 }, { "504", RETRY_504 },
	};
	struct conf_upstream	*u = obj;
	char			*copy, *tok, *save;
	unsigned		 mask = 0;
	size_t			 i;

	if (strcmp(v, "off") == 0) {
		u->retry_on = 0;
		return;
	}
	if ((copy = conf_strdup(ld, v)) == NULL)
		return;
	for (tok = strtok_r(copy, " \t,", &save); tok != NULL;
	    tok = strtok_r(NULL, " \t,", &save)) {
		for (i = 0; i < NKEYS(names); i++)
			if (strcmp(tok, names[i].name) == 0)
				break;
		if (i == NKEYS(names)) {
			conf_err(ld, ld->lineno, "bad retry_on '%s' (off, or any of "
			    "error timeout 500 502 503 504)", tok);
			free(copy);
			return;
		}
		mask |= names[i].bit;
	}
	free(copy);
	u->retry_on = mask;
}

/* health_check = tcp | GET /path | HEAD /path */
static void
key_health_check(struct loader *ld, void *obj, const char *v)
{
	struct conf_upstream	*u = obj;
	const char		*sp, *p;

	if (strcmp(v, "tcp") == 0) {
		u->health = HEALTH_TCP;
		return;
	}
	sp = strchr(v, ' ');
	if (sp == NULL || (((size_t)(sp - v) != 3 || strncmp(v, "GET", 3) != 0) &&
	    ((size_t)(sp - v) != 4 || strncmp(v, "HEAD", 4) != 0))) {
		conf_err(ld, ld->lineno, "bad health_check '%s' (tcp, GET /path "
		    "or HEAD /path)", v);
		return;
	}
	while (*sp == ' ')
		sp++;
	if (*sp != '/') {
		conf_err(ld, ld->lineno, "bad health_check '%s': the path must "
		    "start with /", v);
		return;
	}
	for (p = sp; *p != '\0'; p++)
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f) {
			conf_err(ld, ld->lineno, "bad health_check '%s': invalid "
			    "character in the path", v);
			return;
		}
	free(u->health_method);
	free(u->health_path);
	u->health_method = conf_strdup(ld, v[0] == 'G' ? "GET" : "HEAD");
	u->health_path = conf_strdup(ld, sp);
	u->health = HEALTH_HTTP;
}

/* health_status = 200 | 200-399 */
static void
key_health_status(struct loader *ld, void *obj, const char *v)
{
	struct conf_upstream	*u = obj;
	char			 a[8], b[8];
	int64_t			 lo, hi;
	const char		*dash = strchr(v, '-');

	if (dash == NULL) {
		if (conf_number(v, 100, 599, &lo) == -1)
			goto bad;
		u->health_status_min = u->health_status_max = (int)lo;
		return;
	}
	if ((size_t)(dash - v) >= sizeof(a) || strlen(dash + 1) >= sizeof(b))
		goto bad;
	memcpy(a, v, dash - v);
	a[dash - v] = '\0';
	snprintf(b, sizeof(b), "%s", dash + 1);
	if (conf_number(a, 100, 599, &lo) == -1 ||
	    conf_number(b, 100, 599, &hi) == -1 || lo > hi)
		goto bad;
	u->health_status_min = (int)lo;
	u->health_status_max = (int)hi;
	return;
bad:
	conf_err(ld, ld->lineno, "bad health_status '%s' (a status 100..599 "
	    "or a range like 200-399)", v);
}

static void
key_upstream_tls(struct loader *ld, void *obj, const char *v)
{
	struct conf_upstream	*u = obj;

	(void)conf_onoff(ld, "tls", v, &u->tls);
}

static void
key_tls_verify(struct loader *ld, void *obj, const char *v)
{
	struct conf_upstream	*u = obj;

	(void)conf_onoff(ld, "tls_verify", v, &u->tls_verify);
}

/* The line of the upstream called name, or 0. */
static int
upstream_taken(struct loader *ld, const char *name, const char **file)
{
	struct conf	*conf = ld->conf;
	size_t		 i;
	int		 first = 0;

	for (i = 0; i < conf->nupstreams; i++)
		if (strcmp(conf->upstreams[i].name, name) == 0) {
			*file = conf->upstreams[i].file;
			first = conf->upstreams[i].line;
		}
	return first;
}

/* A new upstream at the end of the array, or the scratch one. */
static int
upstream_open(struct loader *ld, char *name)
{
	struct conf		*conf = ld->conf;
	struct conf_upstream	*nu;
	struct meta		*nm;

	if (ld->scratch)
		ld->obj = &ld->su;
	else {
		if ((nu = conf_grow(ld, conf->upstreams, conf->nupstreams,
		    sizeof(*nu))) == NULL)
			return -1;
		conf->upstreams = nu;
		if ((nm = conf_grow(ld, ld->umeta, conf->nupstreams,
		    sizeof(*nm))) == NULL)
			return -1;
		ld->umeta = nm;
		ld->obj = &conf->upstreams[conf->nupstreams];
		ld->meta = &ld->umeta[conf->nupstreams];
		conf->nupstreams++;
	}
	upstream_defaults(ld->obj);
	nu = ld->obj;
	nu->name = name;
	nu->file = ld->file;
	nu->line = ld->lineno;
	return 0;
}

static void
upstream_discard(struct loader *ld)
{
	conf_upstream_clear(&ld->su);
}

/* Every upstream has a server; hash_key goes with balance = hash. */
static void
upstream_finish(struct loader *ld)
{
	struct conf		*conf = ld->conf;
	struct conf_upstream	*u;
	size_t			 i;

	for (i = 0; i < conf->nupstreams; i++) {
		u = &conf->upstreams[i];
		if (u->nservers == 0 && conf_key_line(ld, SEC_UPSTREAM,
		    &ld->umeta[i], "server") == 0)
			conf_err(ld, u->line, "upstream '%s' has no server",
			    u->name);
		if (conf_key_line(ld, SEC_UPSTREAM, &ld->umeta[i],
		    "hash_key") != 0 && u->balance != BALANCE_HASH)
			conf_err(ld, conf_key_line(ld, SEC_UPSTREAM,
			    &ld->umeta[i], "hash_key"), "upstream '%s': "
			    "hash_key needs balance = hash", u->name);
		upstream_tls_finish(ld, u, &ld->umeta[i]);
		upstream_h2_finish(ld, u, &ld->umeta[i]);
	}
}

/*
 * protocol = h2: a pooled HTTP/2 connection carries many clients'
 * requests, so a PROXY header (naming one client) cannot go in front of
 * it.  (HTTP health checks speak HTTP/2 to it: master/health_h2.c.)
 */
static void
upstream_h2_finish(struct loader *ld, struct conf_upstream *u,
    const struct meta *m)
{
	size_t	 k;

	if (u->protocol != UP_PROTO_H2)
		return;
	for (k = 0; k < u->nservers; k++)
		if (u->servers[k].send_proxy)
			conf_err(ld, conf_key_line(ld, SEC_UPSTREAM, m, "protocol"),
			    "upstream '%s': protocol = h2 cannot send_proxy "
			    "(one connection carries many clients)", u->name);
}

/* The TLS keys of an upstream: tls = on makes every server speak TLS. */
static void
upstream_tls_finish(struct loader *ld, struct conf_upstream *u,
    const struct meta *m)
{
	static const char *const needs_tls[] = {
		"tls_ca", "tls_server_name", "tls_verify"
	};
	size_t	 k;
	int	 any = 0, line;

	for (k = 0; k < u->nservers; k++) {
		if (u->tls)
			u->servers[k].tls = 1;
		any |= u->servers[k].tls;
	}
	if (any)
		return;
	for (k = 0; k < NKEYS(needs_tls); k++)
		if ((line = conf_key_line(ld, SEC_UPSTREAM, m,
		    needs_tls[k])) != 0)
			conf_err(ld, line, "upstream '%s': %s needs tls = on or "
			    "a server with the tls option", u->name, needs_tls[k]);
}
