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

void
strbuf_init(struct strbuf *b, char *p, size_t cap)
{
	strbuf_init_at(b, p, cap, 0);
}

void
strbuf_init_at(struct strbuf *b, char *p, size_t cap, size_t len)
{
	b->p = p;
	b->cap = cap;
	b->len = len <= cap ? len : cap;
	b->need = b->len;
	b->over = len > cap;
}

/*
 * Count n more bytes asked for; 1 when they fit after ->len, else 0 with
 * ->over set (and kept).
 */
static int
strbuf_room(struct strbuf *b, size_t n)
{
	b->need = n > SIZE_MAX - b->need ? SIZE_MAX : b->need + n;
	if (b->over)
		return 0;
	if (n > b->cap - b->len) {
		b->over = 1;
		return 0;
	}
	return 1;
}

void
strbuf_add(struct strbuf *b, const char *s, size_t n)
{
	if (!strbuf_room(b, n) || n == 0)
		return;
	memcpy(b->p + b->len, s, n);
	b->len += n;
}

void
strbuf_str(struct strbuf *b, const char *s)
{
	strbuf_add(b, s, strlen(s));
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
strbuf_field(struct strbuf *b, const char *name, size_t nl, const char *value,
    size_t vl)
{
	char	*o;

	/* All of the line or nothing of it. */
	if (!strbuf_room(b, vl > SIZE_MAX - 4 || nl > SIZE_MAX - 4 - vl ?
	    SIZE_MAX : nl + vl + 4))
		return;
	o = b->p + b->len;
	memcpy(o, name, nl);
	o += nl;
	*o++ = ':';
	*o++ = ' ';
	if (vl > 0)
		memcpy(o, value, vl);
	o += vl;
	*o++ = '\r';
	*o++ = '\n';
	b->len += nl + vl + 4;
}

void
strbuf_num(struct strbuf *b, int64_t v)
{
	char		 d[24];
	size_t		 n = sizeof(d);
	uint64_t	 u = v < 0 ? -(uint64_t)v : (uint64_t)v;

	do {
		d[--n] = (char)('0' + u % 10);
		u /= 10;
	} while (u > 0);
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

int
strbuf_result(const struct strbuf *b)
{
	if (b->over || b->len > INT_MAX)
		return -1;
	return (int)b->len;
}
