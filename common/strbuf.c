/*
 * strbuf.c: the bounded string builder (see strbuf.h).  Heads sent to
 * clients and backends, cache keys, stored heads and the status page are
 * all built with it.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/strbuf.h"

static int	 strbuf_room(struct strbuf *, size_t);

/*
 * Count n more bytes asked for; 1 when they fit after ->len, else 0 with
 * ->over set (and kept).
 */
static int
strbuf_room(struct strbuf *b, size_t n)
{
	if (b->over || n > b->cap - b->len) {
		strbuf_refuse(b, n);
		return 0;
	}
	b->need += n;	/* == ->len + n while nothing was refused */
	return 1;
}

void
strbuf_refuse(struct strbuf *b, size_t n)
{
	b->need = n > SIZE_MAX - b->need ? SIZE_MAX : b->need + n;
	b->over = 1;
}

void
strbuf_lower(struct strbuf *b, const char *s, size_t n)
{
	size_t		 i;
	unsigned char	 c;

	if (!strbuf_room(b, n))
		return;
	for (i = 0; i < n; i++) {
		c = (unsigned char)s[i];
		b->p[b->len + i] = (char)((unsigned char)(c - 'A') < 26 ?
		    c | 0x20 : c);
	}
	b->len += n;
}

void
strbuf_num(struct strbuf *b, int64_t v)
{
	/* Two digits a division: every head has a status and a length. */
	static const char digits2[] =
	    "00010203040506070809101112131415161718192021222324252627282930"
	    "31323334353637383940414243444546474849505152535455565758596061"
	    "62636465666768697071727374757677787980818283848586878889909192"
	    "93949596979899";
	char		 d[24];
	size_t		 n = sizeof(d);
	uint64_t	 u = v < 0 ? -(uint64_t)v : (uint64_t)v;
	unsigned	 k;

	while (u >= 100) {
		k = (unsigned)(u % 100) * 2;
		u /= 100;
		n -= 2;
		memcpy(d + n, digits2 + k, 2);
	}
	if (u >= 10) {
		n -= 2;
		memcpy(d + n, digits2 + u * 2, 2);
	} else
		d[--n] = (char)('0' + u);
	if (v < 0)
		d[--n] = '-';
	strbuf_add(b, d + n, sizeof(d) - n);
}

void
strbuf_vfmt(struct strbuf *b, const char *fmt, va_list ap)
{
	size_t	 room = b->over ? 0 : b->cap - b->len;
	int	 n;

	n = vsnprintf(room > 0 ? b->p + b->len : NULL, room, fmt, ap);
	if (n < 0) {
		b->over = 1;
		return;
	}
	/* The NUL vsnprintf writes must fit too. */
	if (!strbuf_room(b, (size_t)n))
		return;
	if ((size_t)n >= room) {
		b->over = 1;
		return;
	}
	b->len += (size_t)n;
}

void
strbuf_fmt(struct strbuf *b, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	strbuf_vfmt(b, fmt, ap);
	va_end(ap);
}

