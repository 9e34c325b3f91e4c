/*
 * fuzz_acceptenc.c: libFuzzer target for the Accept-Encoding reader
 * (common/acceptenc.c), which reads a field every client sends.
 *
 * The input is split at LF into field lines (at most 8), parsed as one
 * list.  Besides the sanitizers, it checks that every weight is -1 or in
 * 0..1000, that the pick is one the allowed set permits and has a
 * weight above 0, and that the lines give the same weights as the one
 * value they make when joined with ", ".
 *
 *	clang -g -O1 -fsanitize=fuzzer,address,undefined -I. \
 *	    -o fuzz_acceptenc t/fuzz/fuzz_acceptenc.c common/acceptenc.c
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/acceptenc.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define CHECK(e)	do { if (!(e)) abort(); } while (0)
#define NSEG		8

static void
sane(const struct acceptenc *ae)
{
	unsigned	 a;
	int		 c, q;

	CHECK(ae->gzip >= -1 && ae->gzip <= 1000);
	CHECK(ae->br >= -1 && ae->br <= 1000);
	CHECK(ae->star >= -1 && ae->star <= 1000);
	for (a = 0; a < 8; a++) {
		c = acceptenc_pick(ae, a);
		CHECK(c == CODING_IDENTITY || c == CODING_GZIP || c == CODING_BR);
		if (c == CODING_IDENTITY)
			continue;
		CHECK(a & (1u << c));
		q = c == CODING_GZIP ? ae->gzip : ae->br;
		if (q == -1)
			q = ae->star;
		CHECK(q > 0);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct acceptenc	 one, many;
	const char		*s = (const char *)data, *e;
	char			*joined;
	size_t			 off = 0, n, jl = 0;
	int			 seg = 0;

	if ((joined = malloc(size + 2 * NSEG + 1)) == NULL)
		return 0;
	acceptenc_init(&many);
	while (off <= size && seg < NSEG) {
		e = memchr(s + off, '\n', size - off);
		n = e != NULL ? (size_t)(e - (s + off)) : size - off;
		acceptenc_parse(&many, s + off, n);
		if (jl > 0) {
			memcpy(joined + jl, ", ", 2);
			jl += 2;
		}
		memcpy(joined + jl, s + off, n);
		jl += n;
		seg++;
		off += n + 1;
		if (e == NULL)
			break;
	}
	sane(&many);
	acceptenc_init(&one);
	acceptenc_parse(&one, joined, jl);
	sane(&one);
	CHECK(one.gzip == many.gzip);
	CHECK(one.br == many.br);
	CHECK(one.star == many.star);
	free(joined);
	return 0;
}
