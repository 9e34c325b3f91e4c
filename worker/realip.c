/*
 * realip.c: the real client address behind trusted proxies, as nginx's
 * realip module finds it with real_ip_recursive on.  The chain of a
 * field is read from the right (the hop nearest to portico) and the
 * first address that is not a trusted proxy is the client; the rest
 * of the chain, to its left, is the client's own word and is not used.
 * Strict: a value that is not a list of plain addresses is malformed,
 * and the caller keeps the peer's address.  No state, no allocation:
 * t/check_realip.c and t/fuzz/fuzz_realip.c run it alone.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <stddef.h>
#include <string.h>
#include <strings.h>

#include "worker/realip.h"

/* One address of a chain, parsed. */
struct hop {
	struct sockaddr_storage	 ss;
	int			 none;	/* a Forwarded node that is no address */
};

/* Whether field h is called name (a lowercase name). */
static int
name_is(const struct http_header *h, const char *name)
{
	size_t	 n = strlen(name);

	return h->name_len == n && strncasecmp(h->name, name, n) == 0;
}

/* Parse the address s[0..n) (nothing else) into *hp; -1: not one. */
static int
addr_parse(const char *s, size_t n, struct hop *hp)
{
	char			 buf[INET6_ADDRSTRLEN];
	struct sockaddr_in	*s4 = (struct sockaddr_in *)&hp->ss;
	struct sockaddr_in6	*s6 = (struct sockaddr_in6 *)&hp->ss;

	memset(hp, 0, sizeof(*hp));
	if (n == 0 || n >= sizeof(buf))
		return -1;
	memcpy(buf, s, n);
	buf[n] = '\0';
	if (memchr(buf, '\0', n) != NULL)
		return -1;
	if (inet_pton(AF_INET, buf, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, buf, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		return 0;
	}
	return -1;
}

static int
is_ows(char c)
{
	return c == ' ' || c == '\t';
}

/* Trim blanks around s[0..*n). */
static const char *
trim(const char *s, size_t *n)
{
	while (*n > 0 && is_ows(s[0])) {
		s++;
		(*n)--;
	}
	while (*n > 0 && is_ows(s[*n - 1]))
		(*n)--;
	return s;
}

/* An X-Forwarded-For value: addresses separated by commas. */
static int
xff_add(const char *v, size_t len, struct hop *hops, size_t *nhops)
{
	const char	*p = v, *end = v + len, *e, *s;
	size_t		 n;

	for (;;) {
		if ((e = memchr(p, ',', end - p)) == NULL)
			e = end;
		n = e - p;
		s = trim(p, &n);
		if (n > 0) {	/* empty list elements are allowed */
			if (*nhops == REALIP_MAX_HOPS ||
			    addr_parse(s, n, &hops[*nhops]) == -1)
				return -1;
			(*nhops)++;
		}
		if (e == end)
			return 0;
		p = e + 1;
	}
}

/*
 * A Forwarded node (RFC 7239 6): an IPv4 address or a bracketed IPv6
 * one, with an optional port, or "unknown" or an obfuscated "_name".
 */
static int
node_parse(const char *s, size_t n, struct hop *hp)
{
	const char	*e;
	size_t		 i;

	memset(hp, 0, sizeof(*hp));
	if ((n == 7 && strncasecmp(s, "unknown", 7) == 0) ||
	    (n > 1 && s[0] == '_')) {
		for (i = 1; s[0] == '_' && i < n; i++)
			if (!(s[i] == '.' || s[i] == '_' || s[i] == '-' ||
			    (s[i] >= '0' && s[i] <= '9') ||
			    (s[i] >= 'a' && s[i] <= 'z') ||
			    (s[i] >= 'A' && s[i] <= 'Z')))
				return -1;
		hp->none = 1;
		return 0;
	}
	if (n > 0 && s[0] == '[') {
		if ((e = memchr(s, ']', n)) == NULL)
			return -1;
		if (addr_parse(s + 1, e - s - 1, hp) == -1 ||
		    hp->ss.ss_family != AF_INET6)
			return -1;
		e++;
	} else {
		if ((e = memchr(s, ':', n)) == NULL)
			e = s + n;
		if (addr_parse(s, e - s, hp) == -1 ||
		    hp->ss.ss_family != AF_INET)
			return -1;
	}
	if (e == s + n)
		return 0;
	if (*e != ':' || e + 1 == s + n)
		return -1;
	for (e++; e < s + n; e++)	/* a port, or an obfuscated one */
		if (!((*e >= '0' && *e <= '9') || *e == '_' || *e == '.' ||
		    *e == '-' || (*e >= 'a' && *e <= 'z') ||
		    (*e >= 'A' && *e <= 'Z')))
			return -1;
	return 0;
}

/* A token character (RFC 9110 5.6.2). */
static int
is_tchar(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
	    (c >= 'A' && c <= 'Z') || (c != '\0' && strchr("!#$%&'*+-.^_`|~",
	    c) != NULL);
}

/*
 * One Forwarded element from *pp: pairs separated by ';' up to a ','
 * or the end; its for= node, if any, is added to hops.  Quoted values
 * are unquoted into a buffer the size of the longest node.
 */
static int
fwd_element(const char **pp, const char *end, struct hop *hops,
    size_t *nhops)
{
	const char	*p = *pp, *ns, *vs;
	char		 val[64];
	size_t		 nl, vl;
	int		 isfor;

	for (;;) {
		while (p < end && is_ows(*p))
			p++;
		if (p == end || *p == ',')
			break;	/* an empty element or pair */
		if (*p == ';') {
			p++;
			continue;
		}
		for (ns = p; p < end && is_tchar(*p); p++)
			;
		if ((nl = p - ns) == 0 || p == end || *p != '=')
			return -1;
		isfor = nl == 3 && strncasecmp(ns, "for", 3) == 0;
		p++;
		vl = 0;
		if (p < end && *p == '"') {
			for (p++; p < end && *p != '"'; p++) {
				if (*p == '\\' && ++p == end)
					return -1;
				if ((unsigned char)*p < 0x20 && *p != '\t')
					return -1;
				if (vl == sizeof(val))
					return -1;
				val[vl++] = *p;
			}
			if (p == end)
				return -1;
			p++;
		} else {
			for (vs = p; p < end && is_tchar(*p); p++)
				;
			if ((vl = p - vs) == 0 || vl > sizeof(val))
				return -1;
			memcpy(val, vs, vl);
		}
		while (p < end && is_ows(*p))
			p++;
		if (p < end && *p != ';' && *p != ',')
			return -1;
		if (isfor) {
			if (*nhops == REALIP_MAX_HOPS ||
			    node_parse(val, vl, &hops[*nhops]) == -1)
				return -1;
			(*nhops)++;
		}
	}
	*pp = p;
	return 0;
}

/* A Forwarded value: elements separated by ','. */
static int
fwd_add(const char *v, size_t len, struct hop *hops, size_t *nhops)
{
	const char	*p = v, *end = v + len;

	for (;;) {
		if (fwd_element(&p, end, hops, nhops) == -1)
			return -1;
		if (p == end)
			return 0;
		p++;		/* the ',' */
	}
}

int
realip_pick(enum real_ip_header kind, const struct http_header *h, size_t nh,
    realip_trusted_fn trusted, void *arg, char *out, size_t cap)
{
	struct hop	 hops[REALIP_MAX_HOPS];
	const char	*name;
	size_t		 i, nhops = 0, nfields = 0;
	int		 rc;
	const void	*a;

	name = kind == REAL_IP_FORWARDED ? "forwarded" :
	    kind == REAL_IP_X_REAL_IP ? "x-real-ip" : "x-forwarded-for";
	for (i = 0; i < nh; i++) {
		if (!name_is(&h[i], name))
			continue;
		nfields++;
		if (kind == REAL_IP_FORWARDED)
			rc = fwd_add(h[i].value, h[i].value_len, hops, &nhops);
		else
			rc = xff_add(h[i].value, h[i].value_len, hops, &nhops);
		if (rc == -1)
			return -1;
	}
	if (nfields == 0)
		return 0;
	if (nhops == 0)
		return -1;	/* a field with no address in it */
	if (kind == REAL_IP_X_REAL_IP && (nfields > 1 || nhops > 1))
		return -1;
	/* From the right: the first that is not trusted, or the leftmost. */
	for (i = nhops; i > 1; i--)
		if (hops[i - 1].none ||
		    !trusted((struct sockaddr *)&hops[i - 1].ss, arg))
			break;
	if (kind == REAL_IP_X_REAL_IP)
		i = 1;
	if (hops[i - 1].none)
		return 0;
	if (hops[i - 1].ss.ss_family == AF_INET)
		a = &((struct sockaddr_in *)&hops[i - 1].ss)->sin_addr;
	else
		a = &((struct sockaddr_in6 *)&hops[i - 1].ss)->sin6_addr;
	if (inet_ntop(hops[i - 1].ss.ss_family, a, out, cap) == NULL)
		return -1;
	return 1;
}
