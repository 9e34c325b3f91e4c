/*
 * fuzz_realip.c: libFuzzer target for the real client address picker
 * (worker/realip.c): X-Forwarded-For lists, Forwarded elements and
 * X-Real-IP values.
 *
 * The first input byte picks the field (X-Forwarded-For, Forwarded,
 * X-Real-IP) and whether 10.0.0.0/8 and fd00::/8 or every address is
 * trusted; the rest is split at LF into up to 8 fields of that name.
 * Besides the sanitizers, it checks what realip_pick() promises: the
 * result is -1, 0 or 1; with 1 the output is an address inet_pton()
 * reads, otherwise the output is untouched; and the same input gives
 * the same answer twice.
 *
 *	clang -g -O1 -fsanitize=fuzzer,address,undefined -I. -Ibuild/check \
 *	    -o fuzz_realip t/fuzz/fuzz_realip.c worker/realip.c
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "worker/realip.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define CHECK(e)	do { if (!(e)) abort(); } while (0)
#define MAXF		8

static int
trusted(const struct sockaddr *sa, void *arg)
{
	int	 mode = *(const int *)arg;

	if (mode == 1)
		return 1;
	if (mode == 2)
		return 0;
	if (sa->sa_family == AF_INET)
		return ((const unsigned char *)&((const struct sockaddr_in *)
		    sa)->sin_addr)[0] == 10;
	return ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr[0] == 0xfd;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const names[] = {
		"X-Forwarded-For", "Forwarded", "X-Real-IP"
	};
	static const enum real_ip_header kinds[] = {
		REAL_IP_XFF, REAL_IP_FORWARDED, REAL_IP_X_REAL_IP
	};
	struct http_header	 h[MAXF + 1];
	char			 out[INET6_ADDRSTRLEN], out2[INET6_ADDRSTRLEN];
	unsigned char		 buf[16];
	const char		*p, *end, *e;
	size_t			 nh = 0;
	int			 k, mode, rc, rc2;

	if (size < 1)
		return 0;
	k = data[0] % 3;
	mode = (data[0] / 3) % 3;
	p = (const char *)data + 1;
	end = (const char *)data + size;
	/* A field of another name first: it must be passed over. */
	h[nh].name = "Host";
	h[nh].name_len = 4;
	h[nh].value = "x";
	h[nh++].value_len = 1;
	while (nh <= MAXF) {
		if ((e = memchr(p, '\n', end - p)) == NULL)
			e = end;
		h[nh].name = names[k];
		h[nh].name_len = strlen(names[k]);
		h[nh].value = p;
		h[nh++].value_len = e - p;
		if (e == end)
			break;
		p = e + 1;
	}
	memset(out, 'u', sizeof(out));
	rc = realip_pick(kinds[k], h, nh, trusted, &mode, out, sizeof(out));
	CHECK(rc == -1 || rc == 0 || rc == 1);
	if (rc == 1) {
		CHECK(memchr(out, '\0', sizeof(out)) != NULL);
		CHECK(inet_pton(AF_INET, out, buf) == 1 ||
		    inet_pton(AF_INET6, out, buf) == 1);
	} else {
		for (size_t i = 0; i < sizeof(out); i++)
			CHECK(out[i] == 'u');
	}
	rc2 = realip_pick(kinds[k], h, nh, trusted, &mode, out2, sizeof(out2));
	CHECK(rc2 == rc);
	if (rc == 1)
		CHECK(strcmp(out, out2) == 0);
	return 0;
}
