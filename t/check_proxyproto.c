/*
 * check_proxyproto.c: unit tests for the PROXY protocol parser
 * (common/proxyproto.c): the examples of HAProxy's proxy-protocol.txt,
 * every prefix of a valid header (more wanted, never refused), and the
 * headers a strict parser refuses.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/proxyproto.h"

static const unsigned char sig[12] = "\r\n\r\n\0\r\nQUIT\n";

static struct pp_header	 h;
static const char	*why;

static ssize_t
parse(const void *b, size_t n)
{
	return pp_parse(b, n, &h, &why);
}

static const char *
src_text(void)
{
	static char	 buf[INET6_ADDRSTRLEN];
	const void	*a = h.src.ss_family == AF_INET ?
	    (const void *)&((struct sockaddr_in *)&h.src)->sin_addr :
	    (const void *)&((struct sockaddr_in6 *)&h.src)->sin6_addr;

	return inet_ntop(h.src.ss_family, a, buf, sizeof(buf));
}

static unsigned
src_port(void)
{
	return ntohs(h.src.ss_family == AF_INET ?
	    ((struct sockaddr_in *)&h.src)->sin_port :
	    ((struct sockaddr_in6 *)&h.src)->sin6_port);
}

/* Every strict prefix of a header wants more; the whole of it parses. */
static void
prefixes(const unsigned char *b, size_t n)
{
	size_t	 i;

	for (i = 0; i < n; i++)
		ck_assert_msg(parse(b, i) == 0, "prefix %zu: %s", i,
		    why ? why : "?");
	ck_assert_int_eq(parse(b, n), (ssize_t)n);
}

START_TEST(v1_valid)
{
	const char	*l = "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n";
	char		 buf[200];

	prefixes((const unsigned char *)l, strlen(l));
	ck_assert_int_eq(h.version, 1);
	ck_assert_int_eq(h.local, 0);
	ck_assert_str_eq(src_text(), "192.168.0.1");
	ck_assert_uint_eq(src_port(), 56324);
	/* What follows the header is not its business. */
	snprintf(buf, sizeof(buf), "%sGET / HTTP/1.1\r\n", l);
	ck_assert_int_eq(parse(buf, strlen(buf)), (ssize_t)strlen(l));
	l = "PROXY TCP6 2001:db8::1 ::1 0 65535\r\n";
	ck_assert_int_eq(parse(l, strlen(l)), (ssize_t)strlen(l));
	ck_assert_str_eq(src_text(), "2001:db8::1");
	ck_assert_uint_eq(src_port(), 0);
	l = "PROXY UNKNOWN\r\n";
	ck_assert_int_eq(parse(l, strlen(l)), (ssize_t)strlen(l));
	ck_assert_int_eq(h.local, 1);
	/* The longest: TCP6, two full-length addresses, 5-digit ports. */
	l = "PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
	    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n";
	ck_assert_uint_eq(strlen(l), PP_V1_MAX - 3);
	ck_assert_int_eq(parse(l, strlen(l)), (ssize_t)strlen(l));
	l = "PROXY UNKNOWN ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
	    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n";
	ck_assert_uint_eq(strlen(l), PP_V1_MAX);
	ck_assert_int_eq(parse(l, strlen(l)), PP_V1_MAX);
}
END_TEST

START_TEST(v1_refused)
{
	static const char *const bad[] = {
		"GET / HTTP/1.1\r\n",
		"proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n",
		"PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 1 65536\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n",
		"PROXY TCP4 ::1 5.6.7.8 1 2\r\n",
		"PROXY TCP6 1.2.3.4 ::1 1 2\r\n",
		"PROXY TCP6 ::1 1.2.3.4 1 2\r\n",
		"PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n",
		"PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n",
		"PROXY TCP4\r\n",
		"PROXY \r\n",
		"PROXY UNKNOWNX\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\0\r\n",
	};
	char	 buf[256];
	size_t	 i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		size_t n = strlen(bad[i]) + (strchr(bad[i], '\0')[-1] == '2' ? 3 : 0);
		ck_assert_msg(parse(bad[i], n) == -1, "%s: accepted", bad[i]);
		ck_assert_ptr_nonnull(why);
	}
	/* No CRLF within 107 bytes. */
	memset(buf, '1', sizeof(buf));
	memcpy(buf, "PROXY TCP4 ", 11);
	ck_assert_int_eq(parse(buf, PP_V1_MAX - 1), 0);
	ck_assert_int_eq(parse(buf, PP_V1_MAX), -1);
	ck_assert_int_eq(parse(buf, sizeof(buf)), -1);
}
END_TEST

/* A v2 header: command, family, an address block of n bytes of fill. */
static size_t
v2(unsigned char *b, int cmd, int fam, size_t n, unsigned char fill)
{
	memcpy(b, sig, 12);
	b[12] = 0x20 | cmd;
	b[13] = fam;
	b[14] = n >> 8;
	b[15] = n & 0xff;
	memset(b + 16, fill, n);
	return 16 + n;
}

START_TEST(v2_valid)
{
	unsigned char	 b[PP_V2_MAX + 16];
	size_t		 n;

	n = v2(b, 1, 0x11, 12, 0);
	memcpy(b + 16, "\xc0\x00\x02\x01" "\x7f\x00\x00\x01" "\x9c\x40\x00\x50", 12);
	prefixes(b, n);
	ck_assert_int_eq(h.version, 2);
	ck_assert_str_eq(src_text(), "192.0.2.1");
	ck_assert_uint_eq(src_port(), 40000);
	/* TLVs portico does not keep are skipped (NOOP here). */
	n = v2(b, 1, 0x11, 12 + 7, 1);
	memcpy(b + 28, "\x04\x00\x04", 3);
	ck_assert_int_eq(parse(b, n), (ssize_t)n);
	ck_assert_str_eq(src_text(), "1.1.1.1");
	n = v2(b, 1, 0x21, 36, 0x20);
	prefixes(b, n);
	ck_assert_str_eq(src_text(), "2020:2020:2020:2020:2020:2020:2020:2020");
	n = v2(b, 0, 0x00, 0, 0);
	ck_assert_int_eq(parse(b, n), 16);
	ck_assert_int_eq(h.local, 1);
	n = v2(b, 0, 0x31, 216, 0);	/* LOCAL: any family, ignored */
	ck_assert_int_eq(parse(b, n), (ssize_t)n);
	ck_assert_int_eq(h.local, 1);
	n = v2(b, 1, 0x00, 0, 0);
	ck_assert_int_eq(parse(b, n), 16);
	ck_assert_int_eq(h.local, 1);
	n = v2(b, 1, 0x11, PP_V2_MAX - 16, 0);
	b[28] = 0x04;			/* one NOOP TLV fills the rest */
	b[29] = (PP_V2_MAX - 28 - 3) >> 8;
	b[30] = (PP_V2_MAX - 28 - 3) & 0xff;
	ck_assert_int_eq(parse(b, n), PP_V2_MAX);
}
END_TEST

/* A v2 TCP4 header with tlv[0..tl) after its addresses. */
static size_t
v2_tlv(unsigned char *b, const char *tlv, size_t tl)
{
	size_t	 n = v2(b, 1, 0x11, 12 + tl, 0);

	memcpy(b + 28, tlv, tl);
	return n;
}

#define TLV(s)	s, sizeof(s) - 1

START_TEST(v2_tlvs)
{
	unsigned char	 b[PP_V2_MAX + 16];
	size_t		 n;

	n = v2_tlv(b, TLV("\x01\x00\x02h2" "\x02\x00\x03" "a.b"
	    "\x20\x00\x17\x01\x00\x00\x00\x00" "\x21\x00\x07TLSv1.3"
	    "\x23\x00\x05" "C-AES" "\x05\x00\x01Z"));
	ck_assert_int_eq(parse(b, n), (ssize_t)n);
	ck_assert_uint_eq(h.tlvs.len[PP_TLV_ALPN], 2);
	ck_assert(memcmp(h.tlvs.v[PP_TLV_ALPN], "h2", 2) == 0);
	ck_assert(memcmp(h.tlvs.v[PP_TLV_AUTHORITY], "a.b", 3) == 0);
	ck_assert(memcmp(h.tlvs.v[PP_TLV_SSL_VERSION], "TLSv1.3", 7) == 0);
	ck_assert(memcmp(h.tlvs.v[PP_TLV_SSL_CIPHER], "C-AES", 5) == 0);
	ck_assert(memcmp(h.tlvs.v[PP_TLV_UNIQUE_ID], "Z", 1) == 0);
	ck_assert_int_eq(h.tlvs.ssl, 1);
	ck_assert_uint_eq(h.tlvs.ssl_client, 1);
	/* Refused: past the header, truncated, repeated, bad lengths. */
	n = v2_tlv(b, TLV("\x01\x00\x09h2"));
	ck_assert_int_eq(parse(b, n), -1);
	n = v2_tlv(b, TLV("\x01\x00"));
	ck_assert_int_eq(parse(b, n), -1);
	n = v2_tlv(b, TLV("\x01\x00\x02h2" "\x01\x00\x02h3"));
	ck_assert_int_eq(parse(b, n), -1);
	n = v2_tlv(b, TLV("\x02\x00\x00"));
	ck_assert_int_eq(parse(b, n), -1);
	n = v2_tlv(b, TLV("\x20\x00\x04\x01\x00\x00\x00"));
	ck_assert_int_eq(parse(b, n), -1);
	/* A sub-TLV past its SSL TLV, though within the header. */
	n = v2_tlv(b, TLV("\x20\x00\x08\x01\x00\x00\x00\x00\x21\x00\x05" "ABCDE"));
	ck_assert_int_eq(parse(b, n), -1);
	/* LOCAL: the block is not looked at. */
	n = v2(b, 0, 0x11, 12 + 2, 0xff);
	ck_assert_int_eq(parse(b, n), (ssize_t)n);
}
END_TEST

START_TEST(v2_refused)
{
	unsigned char	 b[PP_V2_MAX + 16];
	size_t		 n;

	n = v2(b, 1, 0x11, 12, 0);
	b[11] = 'X';
	ck_assert_int_eq(parse(b, 12), -1);
	ck_assert_int_eq(parse(b, 11), 0);
	b[11] = '\n';
	b[0] = '\n';
	ck_assert_int_eq(parse(b, 1), -1);
	n = v2(b, 1, 0x11, 12, 0);
	b[12] = 0x11;				/* version 1 */
	ck_assert_int_eq(parse(b, n), -1);
	b[12] = 0x31;				/* version 3 */
	ck_assert_int_eq(parse(b, n), -1);
	b[12] = 0x22;				/* command 2 */
	ck_assert_int_eq(parse(b, n), -1);
	n = v2(b, 1, 0x21, 12, 0);		/* IPv6 with an IPv4 block */
	ck_assert_int_eq(parse(b, 16), -1);
	n = v2(b, 1, 0x11, 11, 0);
	ck_assert_int_eq(parse(b, n), -1);
	n = v2(b, 1, 0x12, 12, 0);		/* UDP */
	ck_assert_int_eq(parse(b, n), -1);
	n = v2(b, 1, 0x31, 216, 0);		/* AF_UNIX with PROXY */
	ck_assert_int_eq(parse(b, n), -1);
	n = v2(b, 1, 0x11, PP_V2_MAX - 15, 0);	/* over the bound */
	ck_assert_int_eq(parse(b, 16), -1);
	(void)n;
}
END_TEST

/* Fill an address of family af from text and port. */
static void
mkaddr(struct sockaddr_storage *ss, int af, const char *ip, int port)
{
	memset(ss, 0, sizeof(*ss));
	ss->ss_family = af;
	if (af == AF_INET) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;

		ck_assert_int_eq(inet_pton(af, ip, &s4->sin_addr), 1);
		s4->sin_port = htons(port);
	} else {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

		ck_assert_int_eq(inet_pton(af, ip, &s6->sin6_addr), 1);
		s6->sin6_port = htons(port);
	}
}

/* Built headers parse back to the same addresses. */
START_TEST(build_roundtrip)
{
	static const struct { int af; const char *s, *d; } cases[] = {
		{ AF_INET, "192.0.2.7", "127.0.0.1" },
		{ AF_INET6, "2001:db8::1", "::1" },
	};
	struct sockaddr_storage	 src, dst, other;
	struct pp_header	 ph;
	unsigned char		 b[PP_MAX];
	const char		*w;
	ssize_t			 n;
	size_t			 i, sl;
	int			 v;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		mkaddr(&src, cases[i].af, cases[i].s, 54321);
		mkaddr(&dst, cases[i].af, cases[i].d, 0 + 8080);
		sl = cases[i].af == AF_INET ? sizeof(struct sockaddr_in) :
		    sizeof(struct sockaddr_in6);
		for (v = 1; v <= 2; v++) {
			n = v == 1 ? pp_build_v1((char *)b, sizeof(b),
			    (struct sockaddr *)&src, (struct sockaddr *)&dst) :
			    pp_build_v2(b, sizeof(b), (struct sockaddr *)&src,
			    (struct sockaddr *)&dst);
			ck_assert_int_gt(n, 0);
			memset(&ph, 0, sizeof(h));
			ck_assert_int_eq(pp_parse(b, n, &ph, &w), n);
			ck_assert_int_eq(ph.version, v);
			ck_assert_int_eq(ph.local, 0);
			ck_assert_int_eq(memcmp(&ph.src, &src, sl), 0);
			ck_assert_int_eq(memcmp(&ph.dst, &dst, sl), 0);
			/* Short of room: refused, not cut. */
			n = v == 1 ? pp_build_v1((char *)b, 20,
			    (struct sockaddr *)&src, (struct sockaddr *)&dst) :
			    pp_build_v2(b, 20, (struct sockaddr *)&src,
			    (struct sockaddr *)&dst);
			ck_assert_int_eq(n, -1);
		}
	}
	/* Mixed families: no header. */
	mkaddr(&other, AF_INET6, "::1", 1);
	ck_assert_int_eq(pp_build_v1((char *)b, sizeof(b),
	    (struct sockaddr *)&src, (struct sockaddr *)&dst) > 0, 1);
	mkaddr(&src, AF_INET, "192.0.2.7", 1);
	ck_assert_int_eq(pp_build_v1((char *)b, sizeof(b),
	    (struct sockaddr *)&src, (struct sockaddr *)&other), -1);
	ck_assert_int_eq(pp_build_v2(b, sizeof(b),
	    (struct sockaddr *)&src, (struct sockaddr *)&other), -1);
	/* No address: UNKNOWN and LOCAL, which keep the peer. */
	n = pp_build_v1((char *)b, sizeof(b), NULL, NULL);
	ck_assert_int_eq(n, 15);
	ck_assert_int_eq(memcmp(b, "PROXY UNKNOWN\r\n", 15), 0);
	ck_assert_int_eq(pp_parse(b, n, &ph, &w), n);
	ck_assert_int_eq(ph.local, 1);
	n = pp_build_v2(b, sizeof(b), NULL, NULL);
	ck_assert_int_eq(n, PP_V2_HEAD);
	ck_assert_int_eq(pp_parse(b, n, &ph, &w), n);
	ck_assert_int_eq(ph.version, 2);
	ck_assert_int_eq(ph.local, 1);
}
END_TEST

static Suite *
pp_suite(void)
{
	Suite	*s = suite_create("proxyproto");
	TCase	*tc;

	tc = tcase_create("parse");
	tcase_add_test(tc, v1_valid);
	tcase_add_test(tc, v1_refused);
	tcase_add_test(tc, v2_valid);
	tcase_add_test(tc, v2_refused);
	tcase_add_test(tc, v2_tlvs);
	suite_add_tcase(s, tc);
	tc = tcase_create("build");
	tcase_add_test(tc, build_roundtrip);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner	*sr;
	int	 failed;

	sr = srunner_create(pp_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
