/*
 * sfdict.h: a strict parser for the Dictionary type of RFC 8941
 * (Structured Field Values for HTTP), the form of the targeted cache
 * control fields of RFC 9213 (CDN-Cache-Control).  It checks the whole
 * grammar (keys, Integers, Decimals, Strings, Tokens, Byte Sequences,
 * Booleans, Inner Lists, Parameters) and hands each member to a callback
 * with its type and, for Integers and Booleans, its value; parameters are
 * checked and dropped.  No allocation, no state.
 */
#ifndef PORTICO_SFDICT_H
#define PORTICO_SFDICT_H

#include <stddef.h>
#include <stdint.h>

/* The longest key kept whole (RFC 8941 asks for at least 64). */
#define SF_KEY_MAX	64

enum sf_type {
	SF_BOOL,	/* ?0 ?1, or a bare key (true) */
	SF_INT,		/* -999999999999999..999999999999999 */
	SF_DEC,		/* a Decimal: value holds its integer part */
	SF_STRING,
	SF_TOKEN,
	SF_BYTES,
	SF_INNER	/* an Inner List */
};

struct sf_member {
	char		 key[SF_KEY_MAX + 1];	/* NUL-terminated; cut when longer */
	size_t		 key_len;		/* the whole key's length */
	enum sf_type	 type;
	int64_t		 value;			/* SF_BOOL 0/1, SF_INT, SF_DEC */
};

/* One field line's value; several are one value joined by ", " (RFC 8941 4.2). */
struct sf_seg {
	const char	*p;
	size_t		 n;
};

/*
 * Parse the Dictionary made of segs[0..nseg) joined by ", ".  fn is
 * called for each member in order (a key given again comes again: its
 * last value is the one that counts); a non-zero return from fn stops
 * the parse, which then returns it.  Returns 0 for a valid dictionary,
 * -1 for a syntax error anywhere (the whole field is invalid; fn may
 * have been called for the members before it).  An empty input is a
 * valid empty dictionary.
 */
int	 sfdict_parse(const struct sf_seg *segs, size_t nseg,
	    int (*fn)(const struct sf_member *, void *), void *arg);

#endif /* PORTICO_SFDICT_H */
