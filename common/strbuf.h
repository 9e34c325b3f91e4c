/*
 * strbuf.h: the string builder of portico: text appended into a buffer the
 * caller owns, bounded by its size.  It never allocates.
 *
 * An append that does not fit writes nothing (strbuf_fmt may leave bytes
 * past ->len, which do not count) and sets ->over; from then on every
 * append is refused, so the contents stay a prefix of what was asked and
 * the caller checks once, at the end (strbuf_result, ->over).  ->need
 * counts every byte asked for, those refused too: a caller whose text has
 * no fixed bound (the status page) can build once into a buffer it has,
 * and when that overflows build again into one of ->need bytes.
 *
 * The buffer is not NUL-terminated by the appends (strbuf_fmt writes a
 * NUL past the text, not counted): a caller that wants a C string keeps
 * one byte out of cap and writes the NUL at ->len.
 */
#ifndef PORTICO_STRBUF_H
#define PORTICO_STRBUF_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

struct strbuf {
	char	*p;
	size_t	 len;		/* bytes of text in p */
	size_t	 cap;		/* size of p */
	size_t	 need;		/* bytes asked for so far, refused ones too */
	int	 over;		/* an append did not fit */
};

/* Start building into p[0..cap), empty. */
void	strbuf_init(struct strbuf *b, char *p, size_t cap);
/*
 * Go on building after the len bytes already in p[0..cap) (len <= cap):
 * e.g. fields added to a head read from the cache.
 */
void	strbuf_init_at(struct strbuf *b, char *p, size_t cap, size_t len);

/* Append s[0..n). */
void	strbuf_add(struct strbuf *b, const char *s, size_t n);
/* Append the C string s. */
void	strbuf_str(struct strbuf *b, const char *s);
/* Append s[0..n) with ASCII upper case letters made lower case. */
void	strbuf_lower(struct strbuf *b, const char *s, size_t n);
/* Append a header field line: name ": " value CRLF. */
void	strbuf_field(struct strbuf *b, const char *name, size_t nl,
	    const char *value, size_t vl);
/* Append v in decimal, with a '-' when negative: no printf needed. */
void	strbuf_num(struct strbuf *b, int64_t v);
/*
 * Append printf-style.  vsnprintf needs room for its NUL too, so text
 * that would fill the buffer to the last byte is refused.
 */
void	strbuf_fmt(struct strbuf *b, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
void	strbuf_vfmt(struct strbuf *b, const char *fmt, va_list ap)
	    __attribute__((format(printf, 2, 0)));

/* The length built, or -1 if an append did not fit or it exceeds INT_MAX. */
int	strbuf_result(const struct strbuf *b);

#endif /* PORTICO_STRBUF_H */
