/*
 * fuzz_proxyproto.c: libFuzzer target for the PROXY protocol parser
 * (common/proxyproto.c).
 *
 * Besides the sanitizers, it checks what pp_parse() promises: a length
 * it returns is within the input and the bounds (107 bytes for version
 * 1, PP_V2_MAX for version 2), with a reason only on -1; a version 1
 * header ends in CRLF; a header that is not LOCAL has an IPv4 or IPv6
 * source; the header alone parses to the same length, and each prefix
 * of it wants more rather than being refused.
 *
 *	clang -g -O1 -fsanitize=fuzzer,address,undefined -I. -Ibuild/check \
 *	    -o fuzz_proxyproto t/fuzz/fuzz_proxyproto.c common/proxyproto.c
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/proxyproto.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define CHECK(e)	do { if (!(e)) abort(); } while (0)

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pp_header	 h, h2;
	const char		*why;
	ssize_t			 n;
	size_t			 i;

	n = pp_parse(data, size, &h, &why);
	CHECK(n >= -1 && n <= (ssize_t)size);
	CHECK((n == -1) == (why != NULL));
	if (n <= 0)
		return 0;
	CHECK((size_t)n == h.len);
	if (h.version == 1) {
		CHECK(n <= PP_V1_MAX);
		CHECK(data[n - 2] == '\r' && data[n - 1] == '\n');
	} else {
		CHECK(h.version == 2 && n >= PP_V2_HEAD && n <= PP_V2_MAX);
	}
	if (!h.local)
		CHECK(h.src.ss_family == AF_INET || h.src.ss_family == AF_INET6);
	CHECK(pp_parse(data, (size_t)n, &h2, &why) == n);
	CHECK(h2.local == h.local && memcmp(&h2.src, &h.src, sizeof(h.src)) == 0);
	for (i = 0; i < (size_t)n; i++)
		CHECK(pp_parse(data, i, &h2, &why) == 0);
	return 0;
}
