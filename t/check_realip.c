/*
 * check_realip.c: unit tests for the real client address picker
 * (worker/realip.c): nginx's realip with real_ip_recursive on, the
 * rightmost untrusted address of X-Forwarded-For, Forwarded for= nodes
 * (RFC 7239) and X-Real-IP, and the malformed values that keep the peer.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/conf.h"
#include "worker/realip.h"

/* The trusted proxies of these tests: 10.0.0.0/8 and 2001:db8:f::/48. */
static int
trusted(const struct sockaddr *sa, void *arg)
{
	const unsigned char	*a;

	(void)arg;
	if (sa->sa_family == AF_INET) {
		a = (const unsigned char *)
		    &((const struct sockaddr_in *)sa)->sin_addr;
		return a[0] == 10;
	}
	a = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
	return a[0] == 0x20 && a[1] == 0x01 && a[2] == 0x0d && a[3] == 0xb8 &&
	    a[4] == 0 && a[5] == 0x0f;
}

static char	 out[64];

/* Pick from up to two fields of name n. */
static int
pick(enum real_ip_header k, const char *n, const char *v1, const char *v2)
{
	struct http_header	 h[3];
	size_t			 nh = 0;

	h[nh].name = "Host";
	h[nh].name_len = 4;
	h[nh].value = "x";
	h[nh++].value_len = 1;
	if (v1 != NULL) {
		h[nh].name = n;
		h[nh].name_len = strlen(n);
		h[nh].value = v1;
		h[nh++].value_len = strlen(v1);
	}
	if (v2 != NULL) {
		h[nh].name = n;
		h[nh].name_len = strlen(n);
		h[nh].value = v2;
		h[nh++].value_len = strlen(v2);
	}
	strcpy(out, "unset");
	return realip_pick(k, h, nh, trusted, NULL, out, sizeof(out));
}

#define PICK(...)	PICK_(__VA_ARGS__)
#define PICK_(k, n, v1, v2, want) do {					\
	int rc_ = pick(k, n, v1, v2);					\
	ck_assert_msg(rc_ == 1, "%s: rc %d", v1, rc_);			\
	ck_assert_str_eq(out, want);					\
} while (0)

#define NONE(...)	NONE_(__VA_ARGS__)
#define NONE_(k, n, v1, v2, wrc) do {					\
	int rc_ = pick(k, n, v1, v2);					\
	ck_assert_msg(rc_ == (wrc), "rc %d (%s)", rc_, out);		\
	ck_assert_str_eq(out, "unset");					\
} while (0)

#define XFF	REAL_IP_XFF, "X-Forwarded-For"
#define FWD	REAL_IP_FORWARDED, "Forwarded"
#define XRI	REAL_IP_X_REAL_IP, "X-Real-IP"

START_TEST(xff_chains)
{
	PICK(XFF, "192.0.2.1", NULL, "192.0.2.1");
	PICK(XFF, "6.6.6.6, 192.0.2.1", NULL, "192.0.2.1");
	PICK(XFF, "6.6.6.6, 192.0.2.1, 10.0.0.1, 10.2.3.4", NULL, "192.0.2.1");
	PICK(XFF, "6.6.6.6, 192.0.2.1", "10.0.0.1", "192.0.2.1");
	PICK(XFF, "10.9.9.9, 10.0.0.1", NULL, "10.9.9.9");
	PICK(XFF, "10.9.9.9", NULL, "10.9.9.9");
	PICK(XFF, " 192.0.2.1 ,,\t10.0.0.1,", NULL, "192.0.2.1");
	PICK(XFF, "2001:DB8::1, 2001:db8:f::1", NULL, "2001:db8::1");
	PICK(XFF, "2001:db8::1, 2001:db8:e::1", NULL, "2001:db8:e::1");
	/* The name in any case; X-Real-IP beside it is not read. */
	PICK(REAL_IP_XFF, "x-forwarded-FOR", "192.0.2.7", NULL, "192.0.2.7");
}
END_TEST

START_TEST(xff_malformed)
{
	NONE(XFF, (const char *)NULL, NULL, 0);
	NONE(XFF, "", NULL, -1);
	NONE(XFF, " , ", NULL, -1);
	NONE(XFF, "192.0.2.1:80", NULL, -1);
	NONE(XFF, "[2001:db8::1]", NULL, -1);
	NONE(XFF, "192.0.2.1 10.0.0.1", NULL, -1);
	NONE(XFF, "1.2.3.256", NULL, -1);
	NONE(XFF, "unknown", NULL, -1);
	NONE(XFF, "192.0.2.1", "junk", -1);
	NONE(XFF, "2001:db8::1%eth0", NULL, -1);
	NONE(XFF, "0x7f.1", NULL, -1);
}
END_TEST

START_TEST(xff_too_long)
{
	char	 v[REALIP_MAX_HOPS * 10 + 16];
	size_t	 i, o = 0;

	for (i = 0; i < REALIP_MAX_HOPS; i++)
		o += (size_t)snprintf(v + o, sizeof(v) - o, "%s10.0.0.%zu",
		    i ? "," : "", i % 250);
	PICK(XFF, v, NULL, "10.0.0.0");
	strcat(v, ",10.0.0.1");
	NONE(XFF, v, NULL, -1);
}
END_TEST

START_TEST(forwarded)
{
	PICK(FWD, "for=192.0.2.60;proto=http;by=203.0.113.43", NULL,
	    "192.0.2.60");
	PICK(FWD, "for=6.6.6.6, for=\"[2001:db8::7]:4711\", for=10.0.0.9", NULL,
	    "2001:db8::7");
	PICK(FWD, "For=\"192.0.2.43:47011\"", "for=10.0.0.1", "192.0.2.43");
	PICK(FWD, "by=10.0.0.1;for=192.0.2.5", NULL, "192.0.2.5");
	PICK(FWD, "for=192.0.2.5, proto=https", NULL, "192.0.2.5");
	PICK(FWD, "for=\"\\192.0.2.9\"", NULL, "192.0.2.9");
	PICK(FWD, "for=10.0.0.2;host=\"a;b,c\", for=10.0.0.1", NULL,
	    "10.0.0.2");
	/* No address where the client is: the peer, not an error. */
	NONE(FWD, "for=unknown", NULL, 0);
	NONE(FWD, "for=192.0.2.1, for=_hidden, for=10.0.0.1", NULL, 0);
	NONE(FWD, "for=\"192.0.2.1", NULL, -1);
	NONE(FWD, "for=192.0.2.1:80", NULL, -1);	/* ':' is no tchar */
	NONE(FWD, "for=\"[192.0.2.1]\"", NULL, -1);
	NONE(FWD, "for=\"2001:db8::1\"", NULL, -1);
	NONE(FWD, "for=\"[2001:db8::1]:\"", NULL, -1);
	NONE(FWD, "for=\"[2001:db8::1\"", NULL, -1);
	NONE(FWD, "for", NULL, -1);
	NONE(FWD, "for=", NULL, -1);
	NONE(FWD, "=1.2.3.4", NULL, -1);
	NONE(FWD, "for=1.2.3.4 x", NULL, -1);
	NONE(FWD, "proto=http", NULL, -1);
	NONE(FWD, "for=_bad!name", NULL, -1);
}
END_TEST

START_TEST(x_real_ip)
{
	PICK(XRI, "192.0.2.3", NULL, "192.0.2.3");
	PICK(XRI, "10.0.0.3", NULL, "10.0.0.3");
	NONE(XRI, "192.0.2.3, 10.0.0.1", NULL, -1);
	NONE(XRI, "192.0.2.3", "192.0.2.4", -1);
	NONE(XRI, "host.example", NULL, -1);
}
END_TEST

static Suite *
realip_suite(void)
{
	Suite	*s = suite_create("realip");
	TCase	*tc;

	tc = tcase_create("pick");
	tcase_add_test(tc, xff_chains);
	tcase_add_test(tc, xff_malformed);
	tcase_add_test(tc, xff_too_long);
	tcase_add_test(tc, forwarded);
	tcase_add_test(tc, x_real_ip);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner	*sr;
	int	 failed;

	sr = srunner_create(realip_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
