/*
 * fuzz_vars.c: libFuzzer target for the variable compiler and expander
 * (common/vars.c), the parser of header rule values, upstream_host,
 * return and access_log_format.
 *
 * The first input byte picks where the string is used (VARS_* bits) and
 * the escaping; the rest, up to a NUL, is the string; what follows is
 * every variable's value.  Besides the sanitizers, it checks: a refused
 * string leaves nothing allocated and says why; an accepted one has its
 * pieces inside its text; expanded for a header it holds no control
 * byte but tab, in a log line none at all (when the string has none
 * itself: the operator's text goes as written); and a
 * buffer too small is marked over, never overrun.
 *
 *	clang -g -O1 -fsanitize=fuzzer,address,undefined -I. -Ibuild/check \
 *	    -o fuzz_vars t/fuzz/fuzz_vars.c common/vars.c common/strbuf.c
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/strbuf.h"
#include "common/vars.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define CHECK(e)	do { if (!(e)) abort(); } while (0)

static const char	*val;
static size_t		 val_len;

static int
get(void *arg, enum var_id id, const char *name, size_t nlen, const char **v,
    size_t *vl, char *scratch, size_t scap)
{
	(void)arg;
	(void)name;
	(void)nlen;
	if (id == VAR_STATUS) {
		CHECK(scap >= 4);
		memcpy(scratch, "200", 3);
		*v = scratch;
		*vl = 3;
		return 0;
	}
	if (id % 3 == 0)
		return -1;
	*v = val;
	*vl = val_len;
	return 0;
}

static void
check_out(const char *p, size_t n, enum vars_esc esc)
{
	size_t	 i;

	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)p[i];

		if (esc == VARS_ESC_HEADER)
			CHECK(ch >= 0x20 || ch == '\t');
		if (esc != VARS_ESC_HEADER)
			CHECK(ch >= 0x20);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vars_fmt	 f;
	struct strbuf	 b;
	char		*s, err[160], big[4096], small[16];
	const uint8_t	*nul;
	size_t		 sl, i, tl;
	unsigned	 ctx;
	enum vars_esc	 esc;

	if (size < 1)
		return 0;
	ctx = (data[0] & 7) | VARS_REQUEST;
	esc = (enum vars_esc)((data[0] >> 3) % 3);
	data++;
	size--;
	nul = memchr(data, '\0', size);
	sl = nul != NULL ? (size_t)(nul - data) : size;
	if ((s = malloc(sl + 1)) == NULL)
		return 0;
	memcpy(s, data, sl);
	s[sl] = '\0';
	val = nul != NULL ? (const char *)nul + 1 : "";
	val_len = nul != NULL ? size - sl - 1 : 0;
	if (vars_compile(s, ctx, &f, err, sizeof(err)) == -1) {
		CHECK(f.p == NULL && f.text == NULL && f.n == 0);
		CHECK(err[0] != '\0');
		free(s);
		return 0;
	}
	tl = 0;
	for (i = 0; i < f.n; i++) {
		CHECK(f.p[i].id < VAR_MAX);
		CHECK(f.p[i].off == tl);
		tl += f.p[i].len;
	}
	CHECK(tl <= sl);
	strbuf_init(&b, big, sizeof(big));
	vars_expand(&f, get, NULL, esc, &b);
	CHECK(b.len <= sizeof(big));
	/* The operator's own text goes as written: only values are checked. */
	for (i = 0; i < sl && (unsigned char)s[i] >= 0x20; i++)
		;
	if (!b.over && i == sl)
		check_out(big, b.len, esc);
	strbuf_init(&b, small, sizeof(small));
	vars_expand(&f, get, NULL, esc, &b);
	CHECK(b.len <= sizeof(small));
	vars_free(&f);
	free(s);
	return 0;
}
