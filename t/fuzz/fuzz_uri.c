/*
 * fuzz_uri.c: libFuzzer target for the path normalizer (worker/uri.c).
 *
 * The first input byte picks the flags, the rest is the path.  Besides
 * the sanitizers, it checks what a normalized path promises: it is no
 * longer than the input, starts with '/', has no "." or ".." segment,
 * no empty segment when merging, no '%' escape of an unreserved
 * character or with lowercase hex, nothing refused by the flags; and
 * normalizing it again gives it back unchanged.
 *
 *	clang -g -O1 -fsanitize=fuzzer,address,undefined -I. -Ibuild/check \
 *	    -o fuzz_uri t/fuzz/fuzz_uri.c worker/uri.c
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "worker/uri.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define CHECK(e)	do { if (!(e)) abort(); } while (0)

static int
is_unreserved(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') ||
	    (c >= 'a' && c <= 'z') || c == '-' || c == '.' || c == '_' ||
	    c == '~';
}

static int
hexv(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;	/* lowercase is not normal */
}

static void
check_normal(const char *p, size_t n, unsigned flags)
{
	size_t	 i, s, sl;
	int	 v;

	CHECK(n > 0 && p[0] == '/');
	for (i = 0; i < n; i++) {
		if (p[i] == '\\')
			CHECK(flags & URI_BACKSLASH);
		if (p[i] != '%')
			continue;
		CHECK(n - i >= 3);
		CHECK(hexv((unsigned char)p[i + 1]) >= 0);
		CHECK(hexv((unsigned char)p[i + 2]) >= 0);
		v = hexv((unsigned char)p[i + 1]) * 16 +
		    hexv((unsigned char)p[i + 2]);
		CHECK(!is_unreserved((unsigned char)v));
		if (v == '/')
			CHECK(flags & URI_ENCODED_SLASH);
		if (v == 0)
			CHECK(flags & URI_ENCODED_NUL);
		i += 2;
	}
	for (i = 0; i < n; i = s + sl) {
		s = i + 1;
		for (sl = 0; s + sl < n && p[s + sl] != '/'; sl++)
			;
		CHECK(!(sl == 1 && p[s] == '.'));
		CHECK(!(sl == 2 && p[s] == '.' && p[s + 1] == '.'));
		if ((flags & URI_MERGE_SLASHES) && s + sl < n)
			CHECK(sl > 0);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned	 flags;
	char		*in, *out, *again;
	size_t		 n, ol, ol2;
	const char	*why = NULL;

	if (size < 1)
		return 0;
	flags = data[0] & 0x1f;
	n = size - 1;
	/* Exact-size copies, so that ASan sees any overrun. */
	if ((in = malloc(n ? n : 1)) == NULL || (out = malloc(n ? n : 1)) == NULL)
		abort();
	memcpy(in, data + 1, n);
	if (uri_normalize_path(in, n, flags, out, &ol, &why) == 0) {
		CHECK(ol <= n);
		check_normal(out, ol, flags);
		if ((again = malloc(ol)) == NULL)
			abort();
		CHECK(uri_normalize_path(out, ol, flags, again, &ol2, &why) == 0);
		CHECK(ol2 == ol && memcmp(again, out, ol) == 0);
		free(again);
	} else
		CHECK(why != NULL);
	free(in);
	free(out);
	return 0;
}
