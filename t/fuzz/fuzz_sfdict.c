/*
 * fuzz_sfdict.c: libFuzzer target for the RFC 8941 Dictionary parser
 * (common/sfdict.c), which reads CDN-Cache-Control and the other
 * targeted cache fields from untrusted responses.
 *
 * The input is split at LF into field lines (at most 16).  Besides the
 * sanitizers, it checks that each key is NUL-terminated within its
 * buffer and made of key bytes, that the lines parse exactly as the one
 * value they make when joined with ", " (same result, same members), and
 * that a member's value fits its type.
 *
 *	clang -g -O1 -fsanitize=fuzzer,address,undefined -I. \
 *	    -o fuzz_sfdict t/fuzz/fuzz_sfdict.c common/sfdict.c
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/sfdict.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define CHECK(e)	do { if (!(e)) abort(); } while (0)
#define NSEG		16
#define NMEM		256

struct seen {
	struct sf_member	 m[NMEM];
	size_t			 n;
};

static int
record(const struct sf_member *m, void *arg)
{
	struct seen	*s = arg;
	size_t		 i, kl;

	kl = strlen(m->key);
	CHECK(kl == (m->key_len < SF_KEY_MAX ? m->key_len : SF_KEY_MAX));
	CHECK(kl > 0);
	for (i = 0; i < kl; i++)
		CHECK(strchr("abcdefghijklmnopqrstuvwxyz0123456789_-.*",
		    m->key[i]) != NULL);
	if (m->type == SF_BOOL)
		CHECK(m->value == 0 || m->value == 1);
	if (m->type == SF_INT || m->type == SF_DEC)
		CHECK(m->value >= -999999999999999LL &&
		    m->value <= 999999999999999LL);
	if (s->n < NMEM)
		s->m[s->n] = *m;
	s->n++;
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct seen	 a, b;
	static char		 joined[65536 + 2 * NSEG];
	struct sf_seg		 segs[NSEG], one;
	const char		*p = (const char *)data, *nl;
	size_t			 ns = 0, left = size, jl = 0, i;
	int			 ra, rb;

	while (ns < NSEG) {
		nl = memchr(p, '\n', left);
		segs[ns].p = p;
		segs[ns].n = nl != NULL ? (size_t)(nl - p) : left;
		ns++;
		if (nl == NULL)
			break;
		left -= segs[ns - 1].n + 1;
		p = nl + 1;
	}
	if (ns == NSEG && nl != NULL)
		segs[ns - 1].n = size - (size_t)(segs[ns - 1].p - (const char *)data);
	for (i = 0; i < ns; i++) {
		if (i > 0) {
			memcpy(joined + jl, ", ", 2);
			jl += 2;
		}
		if (jl + segs[i].n > sizeof(joined))
			return 0;
		memcpy(joined + jl, segs[i].p, segs[i].n);
		jl += segs[i].n;
	}
	one.p = joined;
	one.n = jl;
	a.n = b.n = 0;
	ra = sfdict_parse(segs, ns, record, &a);
	rb = sfdict_parse(&one, 1, record, &b);
	CHECK(ra == 0 || ra == -1);
	CHECK(ra == rb);
	CHECK(a.n == b.n);
	for (i = 0; i < a.n && i < NMEM; i++)
		CHECK(memcmp(&a.m[i], &b.m[i], sizeof(a.m[i])) == 0);
	return 0;
}
