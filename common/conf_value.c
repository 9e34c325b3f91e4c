/*
 * conf_value.c: the value parsers of the configuration loader.
 *
 * Plain numbers, sizes ("16k"), durations ("500ms"), on/off, ports,
 * socket addresses ("1.2.3.4:80", "[::1]:80", "host:80", a bare port for
 * listeners) and address blocks ("10.0.0.0/8", "2001:db8::/32") with the
 * match against a client address.  The pure parsers return 0 or -1; the
 * ones taking a loader also report the error at the current line.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/conf.h"
#include "common/conf_int.h"

static const char	*leading_number(const char *, int64_t *);
static int	 addr_finish(struct conf_addr *, in_port_t, char *, size_t);
static int	 addr_any(const char *, struct conf_addr *, char *, size_t);
static int	 addr_bracketed(const char *, struct conf_addr *, char *,
		    size_t);
static int	 addr_name(const char *, int, struct conf_addr *, char *,
		    size_t);

/* Section names: one or more of [A-Za-z0-9_.-]. */
int
conf_valid_name(const char *s)
{
	if (*s == '\0')
		return 0;
	for (; *s != '\0'; s++)
		if (!isalnum((unsigned char)*s) && *s != '_' && *s != '.' &&
		    *s != '-')
			return 0;
	return 1;
}

/*
 * A plain decimal number in min..max: digits only, no sign, no blanks.
 */
int
conf_number(const char *s, int64_t min, int64_t max, int64_t *out)
{
	long long	 v;
	char		*end;

	if (!isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

/* Write a byte count the way a user would: "16k" rather than "16384". */
void
conf_fmt_size(int64_t v, char *buf, size_t len)
{
	if (v != 0 && v % (1 << 30) == 0)
		snprintf(buf, len, "%lldg", (long long)(v >> 30));
	else if (v != 0 && v % (1 << 20) == 0)
		snprintf(buf, len, "%lldm", (long long)(v >> 20));
	else if (v != 0 && v % (1 << 10) == 0)
		snprintf(buf, len, "%lldk", (long long)(v >> 10));
	else
		snprintf(buf, len, "%lld", (long long)v);
}

/*
 * The decimal number s starts with (at least one digit, no sign) in *v,
 * and what follows it (its unit); NULL when there is none or it
 * overflows.
 */
static const char *
leading_number(const char *s, int64_t *v)
{
	const char	*p = s;

	if (s == NULL || !isdigit((unsigned char)*p))
		return NULL;
	for (*v = 0; isdigit((unsigned char)*p); p++) {
		if (*v > (INT64_MAX - (*p - '0')) / 10)
			return NULL;
		*v = *v * 10 + (*p - '0');
	}
	return p;
}

int
conf_parse_duration(const char *s, int64_t *ms)
{
	int64_t		 v, mult;
	const char	*p;

	if ((p = leading_number(s, &v)) == NULL)
		return -1;
	if (*p == '\0' || strcmp(p, "s") == 0)
		mult = 1000;
	else if (strcmp(p, "ms") == 0)
		mult = 1;
	else if (strcmp(p, "m") == 0)
		mult = 60 * 1000;
	else if (strcmp(p, "h") == 0)
		mult = 60 * 60 * 1000;
	else
		return -1;
	if (v > DURATION_MAX_MS / mult)
		return -1;
	*ms = v * mult;
	return 0;
}

int
conf_parse_size(const char *s, int64_t *bytes)
{
	int64_t		 v;
	int		 shift;
	const char	*p;

	if ((p = leading_number(s, &v)) == NULL)
		return -1;
	switch (*p) {
	case '\0':
		shift = 0;
		break;
	case 'k':
	case 'K':
		shift = 10;
		break;
	case 'm':
	case 'M':
		shift = 20;
		break;
	case 'g':
	case 'G':
		shift = 30;
		break;
	default:
		return -1;
	}
	if (shift != 0 && p[1] != '\0')
		return -1;
	if (v > (INT64_MAX >> shift))
		return -1;
	*bytes = v << shift;
	return 0;
}

/* on or off into *out; anything else is reported as "bad KEY 'v'". */
int
conf_onoff(struct loader *ld, const char *key, const char *v, int *out)
{
	if (strcmp(v, "on") == 0)
		*out = 1;
	else if (strcmp(v, "off") == 0)
		*out = 0;
	else {
		conf_err(ld, ld->lineno, "bad %s '%s' (on or off)", key, v);
		return -1;
	}
	return 0;
}

int
conf_port(const char *s, in_port_t *port)
{
	int64_t	 v;

	if (conf_number(s, 1, 65535, &v) == -1)
		return -1;
	*port = (in_port_t)v;
	return 0;
}

/*
 * Set the port and build the normalised text: "1.2.3.4:80", "[::1]:80".
 */
static int
addr_finish(struct conf_addr *a, in_port_t port, char *why, size_t whylen)
{
	char	 host[NI_MAXHOST];
	int	 n;

	if (a->ss.ss_family == AF_INET)
		((struct sockaddr_in *)&a->ss)->sin_port = htons(port);
	else
		((struct sockaddr_in6 *)&a->ss)->sin6_port = htons(port);
	if (getnameinfo((struct sockaddr *)&a->ss, a->len, host, sizeof(host),
	    NULL, 0, NI_NUMERICHOST) != 0) {
		snprintf(why, whylen, "cannot format address");
		return -1;
	}
	if (a->ss.ss_family == AF_INET)
		n = snprintf(a->text, sizeof(a->text), "%s:%u", host,
		    (unsigned)port);
	else
		n = snprintf(a->text, sizeof(a->text), "[%s]:%u", host,
		    (unsigned)port);
	if (n < 0 || (size_t)n >= sizeof(a->text)) {
		snprintf(why, whylen, "address too long");
		return -1;
	}
	return 0;
}

/* Every IPv4 address at the port in s (a bare port, or after "*:"). */
static int
addr_any(const char *s, struct conf_addr *a, char *why, size_t whylen)
{
	struct sockaddr_in	*sin = (struct sockaddr_in *)&a->ss;
	in_port_t		 port;

	if (conf_port(s, &port) == -1) {
		snprintf(why, whylen, "port must be 1..65535");
		return -1;
	}
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = htonl(INADDR_ANY);
	a->len = sizeof(*sin);
	return addr_finish(a, port, why, whylen);
}

/* "[IPv6]:PORT". */
static int
addr_bracketed(const char *s, struct conf_addr *a, char *why, size_t whylen)
{
	struct addrinfo		 hints, *res;
	char			 host[256];
	const char		*end;
	size_t			 hlen;
	in_port_t		 port;

	if ((end = strchr(s, ']')) == NULL) {
		snprintf(why, whylen, "missing ']'");
		return -1;
	}
	if (end[1] != ':') {
		snprintf(why, whylen, "missing port after ']'");
		return -1;
	}
	hlen = (size_t)(end - (s + 1));
	if (hlen == 0 || hlen >= sizeof(host)) {
		snprintf(why, whylen, "bad IPv6 address");
		return -1;
	}
	memcpy(host, s + 1, hlen);
	host[hlen] = '\0';
	if (conf_port(end + 2, &port) == -1) {
		snprintf(why, whylen, "port must be 1..65535");
		return -1;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_INET6;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICHOST;
	if (getaddrinfo(host, NULL, &hints, &res) != 0) {
		snprintf(why, whylen, "bad IPv6 address '%s'", host);
		return -1;
	}
	if (res->ai_addrlen > sizeof(a->ss)) {
		freeaddrinfo(res);
		snprintf(why, whylen, "bad IPv6 address '%s'", host);
		return -1;
	}
	memcpy(&a->ss, res->ai_addr, res->ai_addrlen);
	a->len = res->ai_addrlen;
	freeaddrinfo(res);
	return addr_finish(a, port, why, whylen);
}

/*
 * A host that is neither "*" nor an IPv4 address: a name, resolved now,
 * and only for an active (connecting) address.
 */
static int
addr_name(const char *host, int passive, struct conf_addr *a, char *why,
    size_t whylen)
{
	struct addrinfo		 hints, *res;
	const char		*p;
	int			 rc, numeric = 1;

	for (p = host; *p != '\0'; p++) {
		if (!isalnum((unsigned char)*p) && *p != '.' && *p != '-') {
			snprintf(why, whylen, "bad host '%s'", host);
			return -1;
		}
		if (!isdigit((unsigned char)*p) && *p != '.')
			numeric = 0;
	}
	if (numeric) {
		snprintf(why, whylen, "bad IPv4 address '%s'", host);
		return -1;
	}
	if (passive) {
		snprintf(why, whylen, "use an IP address, '*' or a bare port, "
		    "not a host name");
		return -1;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	if ((rc = getaddrinfo(host, NULL, &hints, &res)) != 0) {
		snprintf(why, whylen, "cannot resolve '%s': %s", host,
		    gai_strerror(rc));
		return -1;
	}
	if ((res->ai_family != AF_INET && res->ai_family != AF_INET6) ||
	    res->ai_addrlen > sizeof(a->ss)) {
		freeaddrinfo(res);
		snprintf(why, whylen, "cannot resolve '%s': no IP address",
		    host);
		return -1;
	}
	memcpy(&a->ss, res->ai_addr, res->ai_addrlen);
	a->len = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

/*
 * The work behind conf_parse_addr(), with a reason for the caller's
 * message in why on failure.  passive: an address to listen on.
 */
int
conf_addr_parse(const char *s, int passive, struct conf_addr *a, char *why,
    size_t whylen)
{
	struct sockaddr_in	*sin;
	char			 host[256];
	const char		*colon;
	size_t			 hlen;
	in_port_t		 port;

	memset(a, 0, sizeof(*a));
	sin = (struct sockaddr_in *)&a->ss;

	/* A bare port: every IPv4 address. */
	if (passive && isdigit((unsigned char)*s) && strchr(s, ':') == NULL &&
	    strchr(s, '.') == NULL)
		return addr_any(s, a, why, whylen);
	if (*s == '[')
		return addr_bracketed(s, a, why, whylen);

	if ((colon = strrchr(s, ':')) == NULL) {
		snprintf(why, whylen, "missing ':PORT'");
		return -1;
	}
	if (memchr(s, ':', (size_t)(colon - s)) != NULL) {
		snprintf(why, whylen, "write IPv6 addresses in brackets, "
		    "as in [::1]:80");
		return -1;
	}
	hlen = (size_t)(colon - s);
	if (hlen == 0) {
		snprintf(why, whylen, "missing host before ':'");
		return -1;
	}
	if (hlen >= sizeof(host)) {
		snprintf(why, whylen, "host name too long");
		return -1;
	}
	memcpy(host, s, hlen);
	host[hlen] = '\0';
	if (conf_port(colon + 1, &port) == -1) {
		snprintf(why, whylen, "port must be 1..65535");
		return -1;
	}

	if (passive && strcmp(host, "*") == 0)
		return addr_any(colon + 1, a, why, whylen);
	if (inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		a->len = sizeof(*sin);
		return addr_finish(a, port, why, whylen);
	}
	if (addr_name(host, passive, a, why, whylen) == -1)
		return -1;
	return addr_finish(a, port, why, whylen);
}

int
conf_parse_addr(const char *s, int passive, struct conf_addr *a)
{
	char	 why[WHY_MAX];

	if (s == NULL || a == NULL)
		return -1;
	return conf_addr_parse(s, passive, a, why, sizeof(why));
}

/* One "ADDR[/PREFIX]" into c.  0, or -1. */
int
conf_parse_cidr(const char *s, struct conf_cidr *c)
{
	char		 buf[64];
	const char	*slash = strchr(s, '/');
	int64_t		 n;
	size_t		 len = slash ? (size_t)(slash - s) : strlen(s);
	int		 max;

	if (len == 0 || len >= sizeof(buf))
		return -1;
	memcpy(buf, s, len);
	buf[len] = '\0';
	memset(c, 0, sizeof(*c));
	if (inet_pton(AF_INET, buf, c->addr) == 1) {
		c->family = AF_INET;
		max = 32;
	} else if (inet_pton(AF_INET6, buf, c->addr) == 1) {
		c->family = AF_INET6;
		max = 128;
	} else
		return -1;
	c->prefix = max;
	if (slash != NULL) {
		if (conf_number(slash + 1, 0, max, &n) == -1)
			return -1;
		c->prefix = (int)n;
	}
	return 0;
}

/* real_ip_header = X-Forwarded-For | Forwarded | X-Real-IP (any case). */
void
conf_real_ip_header(struct loader *ld, const char *v, enum real_ip_header *h)
{
	if (strcasecmp(v, "X-Forwarded-For") == 0)
		*h = REAL_IP_XFF;
	else if (strcasecmp(v, "Forwarded") == 0)
		*h = REAL_IP_FORWARDED;
	else if (strcasecmp(v, "X-Real-IP") == 0)
		*h = REAL_IP_X_REAL_IP;
	else
		conf_err(ld, ld->lineno, "bad real_ip_header '%s': expected "
		    "X-Forwarded-For, Forwarded or X-Real-IP", v);
}

/*
 * Add the blocks of v (separated by blanks or commas) to a list, for the
 * key what (allow, purge_allow); each bad one is reported.
 */
void
conf_cidr_list_add(struct loader *ld, const char *what, const char *v,
    struct conf_cidr **list, size_t *n)
{
	struct conf_cidr	 c, *nc;
	char			*copy, *tok, *save;
	int			 added = 0, bad = 0;

	if ((copy = conf_strdup(ld, v)) == NULL)
		return;
	for (tok = strtok_r(copy, " \t,", &save); tok != NULL;
	    tok = strtok_r(NULL, " \t,", &save)) {
		if (conf_parse_cidr(tok, &c) == -1) {
			conf_err(ld, ld->lineno, "bad %s address '%s' "
			    "(expected an address or address/prefix)", what, tok);
			bad = 1;
			continue;
		}
		if ((nc = conf_grow(ld, *list, *n, sizeof(*nc))) == NULL)
			break;
		*list = nc;
		(*list)[(*n)++] = c;
		added++;
	}
	free(copy);
	if (added == 0 && !bad)
		conf_err(ld, ld->lineno, "%s lists no address", what);
}

/*
 * Add the access rules of v (blocks separated by blanks or commas, or
 * "all": every IPv4 and IPv6 address) to an ordered list, each an allow
 * or (deny) a deny rule, for the key what; each bad one is reported.
 */
void
conf_access_add(struct loader *ld, const char *what, const char *v,
    int deny, struct conf_cidr **list, size_t *n)
{
	struct conf_cidr	 c[2], *nc;
	char			*copy, *tok, *save;
	int			 added = 0, bad = 0, k, nb;

	if ((copy = conf_strdup(ld, v)) == NULL)
		return;
	for (tok = strtok_r(copy, " \t,", &save); tok != NULL;
	    tok = strtok_r(NULL, " \t,", &save)) {
		nb = 1;
		if (strcasecmp(tok, "all") == 0) {
			(void)conf_parse_cidr("0.0.0.0/0", &c[0]);
			(void)conf_parse_cidr("::/0", &c[1]);
			nb = 2;
		} else if (conf_parse_cidr(tok, &c[0]) == -1) {
			conf_err(ld, ld->lineno, "bad %s address '%s' "
			    "(expected an address, address/prefix or all)",
			    what, tok);
			bad = 1;
			continue;
		}
		for (k = 0; k < nb; k++) {
			if ((nc = conf_grow(ld, *list, *n, sizeof(*nc))) == NULL)
				goto out;
			*list = nc;
			c[k].deny = deny;
			(*list)[(*n)++] = c[k];
			added++;
		}
	}
out:
	free(copy);
	if (added == 0 && !bad)
		conf_err(ld, ld->lineno, "%s lists no address", what);
}

/* Whether the address bytes a of family fam are in the block c. */
static int
cidr_has(const struct conf_cidr *c, int fam, const unsigned char *a)
{
	int	 full = c->prefix / 8, rest = c->prefix % 8;

	if (c->family != fam || memcmp(a, c->addr, full) != 0)
		return 0;
	return rest == 0 || ((a[full] ^ c->addr[full]) &
	    (0xff << (8 - rest)) & 0xff) == 0;
}

/* The family and address bytes of an AF_INET/AF_INET6 sockaddr, or NULL. */
static const unsigned char *
sa_bytes(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return (const unsigned char *)
		    &((const struct sockaddr_in *)sa)->sin_addr;
	if (sa->sa_family == AF_INET6)
		return (const unsigned char *)
		    &((const struct sockaddr_in6 *)sa)->sin6_addr;
	return NULL;
}

int
conf_cidr_match(const struct conf_cidr *c, size_t n, const struct sockaddr *sa)
{
	const unsigned char	*a;
	size_t			 i;

	if ((a = sa_bytes(sa)) == NULL)
		return 0;
	for (i = 0; i < n; i++)
		if (cidr_has(&c[i], sa->sa_family, a))
			return 1;
	return 0;
}

/*
 * Access rules, as nginx's allow/deny: the first rule whose block holds
 * the address decides.  When none does, the address is refused if any
 * rule is an allow (an allow list means "only these", as portico's allow
 * lists always did) and let in otherwise (a deny-only list).  No rules:
 * everyone.
 */
int
conf_access_check(const struct conf_cidr *c, size_t n,
    const struct sockaddr *sa)
{
	const unsigned char	*a = sa_bytes(sa);
	size_t			 i;
	int			 any_allow = 0;

	for (i = 0; i < n; i++) {
		if (a != NULL && cidr_has(&c[i], sa->sa_family, a))
			return !c[i].deny;
		if (!c[i].deny)
			any_allow = 1;
	}
	return !any_allow;
}

/*
 * The blank-separated tokens of v, lowercased, each one tk->ok accepts,
 * joined by single spaces in a new string.  NULL after an error at the
 * current line: a token refused, none at all, or no memory.
 */
char *
conf_token_list(struct loader *ld, const struct conf_tokens *tk,
    const char *v)
{
	char		*copy, *tok, *save, *p, *out;
	size_t		 o = 0, n;

	if ((copy = conf_strdup(ld, v)) == NULL)
		return NULL;
	if ((out = calloc(1, strlen(v) + 1)) == NULL) {
		free(copy);
		conf_err(ld, ld->lineno, "out of memory");
		return NULL;
	}
	for (tok = strtok_r(copy, " \t", &save); tok != NULL;
	    tok = strtok_r(NULL, " \t", &save)) {
		for (p = tok; *p != '\0'; p++)
			if (*p >= 'A' && *p <= 'Z')
				*p += 'a' - 'A';
		if (!tk->ok(tok)) {
			conf_err(ld, ld->lineno, "bad %s %s '%s' (%s)", tk->key,
			    tk->word, tok, tk->hint);
			free(copy);
			free(out);
			return NULL;
		}
		if (o > 0)
			out[o++] = ' ';
		n = strlen(tok);
		memcpy(out + o, tok, n);
		o += n;
	}
	free(copy);
	if (o == 0) {
		conf_err(ld, ld->lineno, "%s needs at least one %s", tk->key,
		    tk->noun);
		free(out);
		return NULL;
	}
	return out;
}
