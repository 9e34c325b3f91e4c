/*
 * proxyproto.c: the PROXY protocol header, versions 1 and 2, as HAProxy's
 * proxy-protocol.txt describes them, parsed strictly: a version 1 line of
 * at most 107 bytes, "PROXY TCP4|TCP6 SRC DST SPORT DPORT\r\n" with single
 * spaces, addresses of the family named and ports 0..65535 without leading
 * zeros, or "PROXY UNKNOWN...\r\n"; a version 2 header with its 12-byte
 * signature, version 2, the LOCAL or PROXY command, TCP over IPv4 or IPv6
 * (or UNSPEC, or any family with LOCAL), an address block at least as long
 * as the family needs and a total length of at most PP_V2_MAX.  The TLVs
 * of a PROXY header are checked (pp_tlvs_parse: lengths within their
 * container) and those portico logs kept; others are skipped.  pp_build_v1 and pp_build_v2 write the headers portico sends
 * to a send_proxy server.  No state, no allocation: t/check_proxyproto.c and
 * t/fuzz/fuzz_proxyproto.c run it alone.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "common/proxyproto.h"

static const unsigned char v2sig[12] = {
	0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a
};

/* Whether buf[0..n) agrees with the first n bytes of p[0..pn). */
static int
prefix_ok(const unsigned char *buf, size_t n, const void *p, size_t pn)
{
	return memcmp(buf, p, n < pn ? n : pn) == 0;
}

/* One space-ended field of a v1 line at *pp (before end); its length. */
static size_t
v1_field(const char **pp, const char *end, const char **f)
{
	const char	*p = *pp;

	*f = p;
	while (p < end && *p != ' ')
		p++;
	*pp = p < end ? p + 1 : p;
	return p - *f;
}

static int
v1_addr(const char *f, size_t n, int af, struct sockaddr_storage *ss)
{
	char	 buf[INET6_ADDRSTRLEN];
	void	*a;

	if (n == 0 || n >= sizeof(buf))
		return -1;
	memcpy(buf, f, n);
	buf[n] = '\0';
	memset(ss, 0, sizeof(*ss));
	ss->ss_family = af;
	a = af == AF_INET ? (void *)&((struct sockaddr_in *)ss)->sin_addr :
	    (void *)&((struct sockaddr_in6 *)ss)->sin6_addr;
	return inet_pton(af, buf, a) == 1 ? 0 : -1;
}

static int
v1_port(const char *f, size_t n, struct sockaddr_storage *ss)
{
	unsigned long	 v = 0;
	size_t		 i;

	if (n == 0 || n > 5 || (n > 1 && f[0] == '0'))
		return -1;
	for (i = 0; i < n; i++) {
		if (f[i] < '0' || f[i] > '9')
			return -1;
		v = v * 10 + (f[i] - '0');
	}
	if (v > 65535)
		return -1;
	if (ss->ss_family == AF_INET)
		((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)v);
	else
		((struct sockaddr_in6 *)ss)->sin6_port = htons((uint16_t)v);
	return 0;
}

static ssize_t
v1_parse(const unsigned char *buf, size_t n, struct pp_header *h,
    const char **why)
{
	const unsigned char	*lf;
	const char		*p, *end, *f;
	size_t			 fl, len;
	int			 af;

	if (!prefix_ok(buf, n, "PROXY ", 6)) {
		*why = "not a PROXY protocol header";
		return -1;
	}
	lf = memchr(buf, '\n', n < PP_V1_MAX ? n : PP_V1_MAX);
	if (lf == NULL) {
		if (n >= PP_V1_MAX) {
			*why = "version 1 header longer than 107 bytes";
			return -1;
		}
		return 0;
	}
	len = lf - buf + 1;
	if (len < 8 || lf[-1] != '\r') {
		*why = "version 1 line not ended by CRLF";
		return -1;
	}
	h->version = 1;
	h->len = len;
	p = (const char *)buf + 6;
	end = (const char *)lf - 1;	/* the CR */
	fl = v1_field(&p, end, &f);
	if (fl == 7 && memcmp(f, "UNKNOWN", 7) == 0) {
		h->local = 1;
		return (ssize_t)len;
	}
	if (fl == 4 && memcmp(f, "TCP4", 4) == 0)
		af = AF_INET;
	else if (fl == 4 && memcmp(f, "TCP6", 4) == 0)
		af = AF_INET6;
	else {
		*why = "version 1 protocol not TCP4, TCP6 or UNKNOWN";
		return -1;
	}
	fl = v1_field(&p, end, &f);
	if (v1_addr(f, fl, af, &h->src) == -1) {
		*why = "version 1 source address bad or not of the family";
		return -1;
	}
	fl = v1_field(&p, end, &f);
	if (v1_addr(f, fl, af, &h->dst) == -1) {
		*why = "version 1 destination address bad or not of the family";
		return -1;
	}
	fl = v1_field(&p, end, &f);
	if (v1_port(f, fl, &h->src) == -1) {
		*why = "version 1 source port bad";
		return -1;
	}
	if (p == end || p[-1] != ' ') {
		*why = "version 1 line ends early";
		return -1;
	}
	fl = v1_field(&p, end, &f);
	if (v1_port(f, fl, &h->dst) == -1 || p != end || f + fl != end) {
		*why = "version 1 destination port bad";
		return -1;
	}
	return (ssize_t)len;
}

/* Keep TLV value v[0..len) as kind k: -1 (with *why) when seen already. */
static int
tlv_keep(struct pp_tlvs *t, int k, const unsigned char *v, size_t len,
    const char **why)
{
	if (t->v[k] != NULL) {
		*why = "version 2 TLV repeated";
		return -1;
	}
	t->v[k] = v;
	t->len[k] = len;
	return 0;
}

/* One level of TLVs (ssl: the sub-TLVs of an SSL TLV). */
static int
tlvs_level(const unsigned char *p, size_t n, struct pp_tlvs *t, int ssl,
    const char **why)
{
	size_t			 len;
	const unsigned char	*v;
	unsigned		 type;

	while (n > 0) {
		if (n < 3) {
			*why = "version 2 TLV truncated";
			return -1;
		}
		type = p[0];
		len = (size_t)p[1] << 8 | p[2];
		if (len > n - 3) {
			*why = "version 2 TLV longer than the header";
			return -1;
		}
		v = p + 3;
		if (ssl && (type == 0x21 || type == 0x23)) {
			if (len == 0 || len > 255) {
				*why = "version 2 SSL sub-TLV of a bad length";
				return -1;
			}
			if (tlv_keep(t, type == 0x21 ? PP_TLV_SSL_VERSION :
			    PP_TLV_SSL_CIPHER, v, len, why) == -1)
				return -1;
		} else if (!ssl && (type == 0x01 || type == 0x02)) {
			if (len == 0 || len > 255) {
				*why = "version 2 ALPN or AUTHORITY of a bad length";
				return -1;
			}
			if (tlv_keep(t, type == 0x01 ? PP_TLV_ALPN :
			    PP_TLV_AUTHORITY, v, len, why) == -1)
				return -1;
		} else if (!ssl && type == 0x05) {
			if (len == 0 || len > 128) {
				*why = "version 2 UNIQUE_ID of a bad length";
				return -1;
			}
			if (tlv_keep(t, PP_TLV_UNIQUE_ID, v, len, why) == -1)
				return -1;
		} else if (!ssl && type == 0x20) {
			if (len < 5 || t->ssl) {
				*why = "version 2 SSL TLV too short or repeated";
				return -1;
			}
			t->ssl = 1;
			t->ssl_client = v[0];
			if (tlvs_level(v + 5, len - 5, t, 1, why) == -1)
				return -1;
		}
		/* Other types (CRC32C, NOOP, NETNS, vendors'): skipped. */
		p += 3 + len;
		n -= 3 + len;
	}
	return 0;
}

int
pp_tlvs_parse(const unsigned char *p, size_t n, struct pp_tlvs *t,
    const char **why)
{
	memset(t, 0, sizeof(*t));
	return tlvs_level(p, n, t, 0, why);
}

static ssize_t
v2_parse(const unsigned char *buf, size_t n, struct pp_header *h,
    const char **why)
{
	struct sockaddr_in	*s4, *d4;
	struct sockaddr_in6	*s6, *d6;
	size_t			 alen, len;

	if (n < PP_V2_HEAD)
		return 0;
	if ((buf[12] & 0xf0) != 0x20) {
		*why = "version 2 header of another version";
		return -1;
	}
	if ((buf[12] & 0x0f) > 1) {
		*why = "version 2 command neither LOCAL nor PROXY";
		return -1;
	}
	alen = (size_t)buf[14] << 8 | buf[15];
	len = PP_V2_HEAD + alen;
	if (len > PP_V2_MAX) {
		*why = "version 2 header longer than portico takes";
		return -1;
	}
	h->version = 2;
	h->len = len;
	if ((buf[12] & 0x0f) == 0) {
		/* LOCAL: the balancer's own connection (a health check). */
		if (n < len)
			return 0;
		h->local = 1;
		return (ssize_t)len;
	}
	switch (buf[13]) {
	case 0x00:		/* UNSPEC */
		if (n < len)
			return 0;
		h->local = 1;
		return (ssize_t)len;
	case 0x11:		/* TCP over IPv4 */
		if (alen < 12) {
			*why = "version 2 IPv4 address block too short";
			return -1;
		}
		if (n < len)
			return 0;
		memset(&h->src, 0, sizeof(h->src));
		memset(&h->dst, 0, sizeof(h->dst));
		s4 = (struct sockaddr_in *)&h->src;
		d4 = (struct sockaddr_in *)&h->dst;
		s4->sin_family = d4->sin_family = AF_INET;
		memcpy(&s4->sin_addr, buf + 16, 4);
		memcpy(&d4->sin_addr, buf + 20, 4);
		memcpy(&s4->sin_port, buf + 24, 2);
		memcpy(&d4->sin_port, buf + 26, 2);
		if (pp_tlvs_parse(buf + 28, len - 28, &h->tlvs, why) == -1)
			return -1;
		return (ssize_t)len;
	case 0x21:		/* TCP over IPv6 */
		if (alen < 36) {
			*why = "version 2 IPv6 address block too short";
			return -1;
		}
		if (n < len)
			return 0;
		memset(&h->src, 0, sizeof(h->src));
		memset(&h->dst, 0, sizeof(h->dst));
		s6 = (struct sockaddr_in6 *)&h->src;
		d6 = (struct sockaddr_in6 *)&h->dst;
		s6->sin6_family = d6->sin6_family = AF_INET6;
		memcpy(&s6->sin6_addr, buf + 16, 16);
		memcpy(&d6->sin6_addr, buf + 32, 16);
		memcpy(&s6->sin6_port, buf + 48, 2);
		memcpy(&d6->sin6_port, buf + 50, 2);
		if (pp_tlvs_parse(buf + 52, len - 52, &h->tlvs, why) == -1)
			return -1;
		return (ssize_t)len;
	default:
		*why = "version 2 family not TCP over IPv4 or IPv6";
		return -1;
	}
}

ssize_t
pp_parse(const unsigned char *buf, size_t n, struct pp_header *h,
    const char **why)
{
	memset(h, 0, sizeof(*h));
	*why = NULL;
	if (n == 0)
		return 0;
	if (buf[0] == 'P')
		return v1_parse(buf, n, h, why);
	if (!prefix_ok(buf, n, v2sig, sizeof(v2sig))) {
		*why = "no PROXY protocol signature";
		return -1;
	}
	return v2_parse(buf, n, h, why);
}

/* The families of src and dst, when both are AF_INET or both AF_INET6. */
static int
build_family(const struct sockaddr *src, const struct sockaddr *dst)
{
	if (src->sa_family != dst->sa_family)
		return -1;
	if (src->sa_family != AF_INET && src->sa_family != AF_INET6)
		return -1;
	return src->sa_family;
}

ssize_t
pp_build_v1(char *buf, size_t cap, const struct sockaddr *src,
    const struct sockaddr *dst)
{
	char	 sa[INET6_ADDRSTRLEN], da[INET6_ADDRSTRLEN];
	int	 af, n;
	unsigned sp, dp;

	if (src == NULL)
		n = snprintf(buf, cap, "PROXY UNKNOWN\r\n");
	else {
		if ((af = build_family(src, dst)) == -1)
			return -1;
		if (af == AF_INET) {
			const struct sockaddr_in *s4 = (const void *)src;
			const struct sockaddr_in *d4 = (const void *)dst;

			inet_ntop(af, &s4->sin_addr, sa, sizeof(sa));
			inet_ntop(af, &d4->sin_addr, da, sizeof(da));
			sp = ntohs(s4->sin_port);
			dp = ntohs(d4->sin_port);
		} else {
			const struct sockaddr_in6 *s6 = (const void *)src;
			const struct sockaddr_in6 *d6 = (const void *)dst;

			inet_ntop(af, &s6->sin6_addr, sa, sizeof(sa));
			inet_ntop(af, &d6->sin6_addr, da, sizeof(da));
			sp = ntohs(s6->sin6_port);
			dp = ntohs(d6->sin6_port);
		}
		n = snprintf(buf, cap, "PROXY %s %s %s %u %u\r\n",
		    af == AF_INET ? "TCP4" : "TCP6", sa, da, sp, dp);
	}
	if (n < 0 || (size_t)n >= cap)
		return -1;
	return n;
}

ssize_t
pp_build_v2(unsigned char *buf, size_t cap, const struct sockaddr *src,
    const struct sockaddr *dst)
{
	size_t	 alen = 0;
	int	 af = 0;

	if (src != NULL) {
		if ((af = build_family(src, dst)) == -1)
			return -1;
		alen = af == AF_INET ? 12 : 36;
	}
	if (cap < PP_V2_HEAD + alen)
		return -1;
	memcpy(buf, v2sig, sizeof(v2sig));
	buf[12] = src == NULL ? 0x20 : 0x21;	/* version 2, LOCAL or PROXY */
	buf[13] = af == 0 ? 0x00 : af == AF_INET ? 0x11 : 0x21;	/* STREAM */
	buf[14] = (unsigned char)(alen >> 8);
	buf[15] = (unsigned char)alen;
	if (af == AF_INET) {
		const struct sockaddr_in *s4 = (const void *)src;
		const struct sockaddr_in *d4 = (const void *)dst;

		memcpy(buf + 16, &s4->sin_addr, 4);
		memcpy(buf + 20, &d4->sin_addr, 4);
		memcpy(buf + 24, &s4->sin_port, 2);
		memcpy(buf + 26, &d4->sin_port, 2);
	} else if (af == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)src;
		const struct sockaddr_in6 *d6 = (const void *)dst;

		memcpy(buf + 16, &s6->sin6_addr, 16);
		memcpy(buf + 32, &d6->sin6_addr, 16);
		memcpy(buf + 48, &s6->sin6_port, 2);
		memcpy(buf + 50, &d6->sin6_port, 2);
	}
	return (ssize_t)(PP_V2_HEAD + alen);
}
