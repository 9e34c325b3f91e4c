/*
 * sfdict.c: the Dictionary of RFC 8941 (Structured Field Values for
 * HTTP), section 4.2.2, parsed strictly: any byte outside the grammar
 * makes the whole field invalid, as 4.2 asks.  The input may be several
 * field lines, read as one value joined by ", " without copying it: the
 * cursor walks the lines and yields the two joining bytes between them.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "common/sfdict.h"

#define SF_EOF		(-1)

/* A position in the joined value: line si, byte off (n, n + 1: ", "). */
struct cur {
	const struct sf_seg	*s;
	size_t			 ns;
	size_t			 si;
	size_t			 off;
};

static size_t	 seg_span(const struct cur *, size_t);
static void	 cur_norm(struct cur *);
static int	 peek(const struct cur *);
static void	 adv(struct cur *);
static int	 is_lcalpha(int);
static int	 is_alpha(int);
static int	 is_digit(int);
static int	 is_tchar(int);
static int	 is_b64(int);
static void	 skip_sp(struct cur *);
static void	 skip_ows(struct cur *);
static int	 parse_key(struct cur *, struct sf_member *);
static int	 parse_number(struct cur *, struct sf_member *);
static int	 parse_string(struct cur *);
static int	 parse_token(struct cur *);
static int	 parse_bytes(struct cur *);
static int	 parse_bare(struct cur *, struct sf_member *);
static int	 parse_params(struct cur *);
static int	 parse_inner(struct cur *);

/* The bytes of line i with the ", " after it (none after the last). */
static size_t
seg_span(const struct cur *c, size_t i)
{
	return c->s[i].n + (i + 1 < c->ns ? 2 : 0);
}

/* Move past the ends of lines (and over empty last lines). */
static void
cur_norm(struct cur *c)
{
	while (c->si < c->ns && c->off >= seg_span(c, c->si)) {
		c->off = 0;
		c->si++;
	}
}

static int
peek(const struct cur *c)
{
	const struct sf_seg	*g;

	if (c->si >= c->ns)
		return SF_EOF;
	g = &c->s[c->si];
	if (c->off < g->n)
		return (unsigned char)g->p[c->off];
	return c->off == g->n ? ',' : ' ';
}

static void
adv(struct cur *c)
{
	c->off++;
	cur_norm(c);
}

static int
is_lcalpha(int ch)
{
	return ch >= 'a' && ch <= 'z';
}

static int
is_alpha(int ch)
{
	return is_lcalpha(ch) || (ch >= 'A' && ch <= 'Z');
}

static int
is_digit(int ch)
{
	return ch >= '0' && ch <= '9';
}

/* tchar, RFC 9110 5.6.2. */
static int
is_tchar(int ch)
{
	return ch > 0 && (is_alpha(ch) || is_digit(ch) ||
	    strchr("!#$%&'*+-.^_`|~", ch) != NULL);
}

static int
is_b64(int ch)
{
	return ch > 0 && (is_alpha(ch) || is_digit(ch) || ch == '+' ||
	    ch == '/');
}

static void
skip_sp(struct cur *c)
{
	while (peek(c) == ' ')
		adv(c);
}

/* OWS: SP and HTAB, between dictionary members (4.2.2). */
static void
skip_ows(struct cur *c)
{
	while (peek(c) == ' ' || peek(c) == '\t')
		adv(c);
}

/* key = ( lcalpha / "*" ) *( lcalpha / DIGIT / "_" / "-" / "." / "*" ) */
static int
parse_key(struct cur *c, struct sf_member *m)
{
	int	 ch = peek(c);
	size_t	 n = 0;

	if (!is_lcalpha(ch) && ch != '*')
		return -1;
	for (;;) {
		ch = peek(c);
		if (!is_lcalpha(ch) && !is_digit(ch) && ch != '_' &&
		    ch != '-' && ch != '.' && ch != '*')
			break;
		if (m != NULL && n < SF_KEY_MAX)
			m->key[n] = (char)ch;
		n++;
		adv(c);
	}
	if (m != NULL) {
		m->key[n < SF_KEY_MAX ? n : SF_KEY_MAX] = '\0';
		m->key_len = n;
	}
	return 0;
}

/*
 * Integer or Decimal (4.2.4): at most 15 digits, or 12 before the point
 * and 1 to 3 after it.
 */
static int
parse_number(struct cur *c, struct sf_member *m)
{
	int64_t	 v = 0;
	int	 neg = 0, dec = 0, ch;
	size_t	 len = 0, frac = 0;

	if (peek(c) == '-') {
		neg = 1;
		adv(c);
	}
	if (!is_digit(peek(c)))
		return -1;
	for (;;) {
		ch = peek(c);
		if (is_digit(ch)) {
			if (dec)
				frac++;
			else
				v = v * 10 + (ch - '0');
		} else if (!dec && ch == '.') {
			if (len > 12)
				return -1;
			dec = 1;
		} else
			break;
		len++;
		adv(c);
		if ((!dec && len > 15) || (dec && len > 16))
			return -1;
	}
	if (dec && (frac == 0 || frac > 3))
		return -1;
	m->type = dec ? SF_DEC : SF_INT;
	m->value = neg ? -v : v;
	return 0;
}

/* sf-string (4.2.5): printable ASCII, escapes of DQUOTE and "\" only. */
static int
parse_string(struct cur *c)
{
	int	 ch;

	adv(c);		/* DQUOTE */
	for (;;) {
		ch = peek(c);
		if (ch == SF_EOF)
			return -1;
		adv(c);
		if (ch == '"')
			return 0;
		if (ch == '\\') {
			ch = peek(c);
			if (ch != '"' && ch != '\\')
				return -1;
			adv(c);
		} else if (ch < 0x20 || ch > 0x7e)
			return -1;
	}
}

/* sf-token (4.2.6): ( ALPHA / "*" ) *( tchar / ":" / "/" ) */
static int
parse_token(struct cur *c)
{
	int	 ch;

	adv(c);
	for (;;) {
		ch = peek(c);
		if (!is_tchar(ch) && ch != ':' && ch != '/')
			return 0;
		adv(c);
	}
}

/* sf-binary (4.2.7): ":" base64 ":", padding only at the end. */
static int
parse_bytes(struct cur *c)
{
	int	 ch, pad = 0;

	adv(c);
	for (;;) {
		ch = peek(c);
		if (ch == SF_EOF)
			return -1;
		adv(c);
		if (ch == ':')
			return 0;
		if (ch == '=') {
			if (++pad > 2)
				return -1;
		} else if (!is_b64(ch) || pad > 0)
			return -1;
	}
}

/* bare-item (4.2.3.1): its type and, for numbers and Booleans, value. */
static int
parse_bare(struct cur *c, struct sf_member *m)
{
	int	 ch = peek(c);

	m->value = 0;
	if (ch == '-' || is_digit(ch))
		return parse_number(c, m);
	if (ch == '"') {
		m->type = SF_STRING;
		return parse_string(c);
	}
	if (ch == '*' || is_alpha(ch)) {
		m->type = SF_TOKEN;
		return parse_token(c);
	}
	if (ch == ':') {
		m->type = SF_BYTES;
		return parse_bytes(c);
	}
	if (ch == '?') {
		adv(c);
		ch = peek(c);
		if (ch != '0' && ch != '1')
			return -1;
		adv(c);
		m->type = SF_BOOL;
		m->value = ch == '1';
		return 0;
	}
	return -1;
}

/* parameters (4.2.3.2): *( ";" *SP key [ "=" bare-item ] ), dropped. */
static int
parse_params(struct cur *c)
{
	struct sf_member	 pm;

	while (peek(c) == ';') {
		adv(c);
		skip_sp(c);
		if (parse_key(c, NULL) == -1)
			return -1;
		if (peek(c) == '=') {
			adv(c);
			if (parse_bare(c, &pm) == -1)
				return -1;
		}
	}
	return 0;
}

/* inner-list (4.2.1.2): "(" *SP [ item *( 1*SP item ) *SP ] ")" parameters */
static int
parse_inner(struct cur *c)
{
	struct sf_member	 im;
	int			 ch;

	adv(c);		/* "(" */
	for (;;) {
		skip_sp(c);
		if (peek(c) == ')') {
			adv(c);
			return parse_params(c);
		}
		if (parse_bare(c, &im) == -1 || parse_params(c) == -1)
			return -1;
		ch = peek(c);
		if (ch != ' ' && ch != ')')
			return -1;
	}
}

int
sfdict_parse(const struct sf_seg *segs, size_t nseg,
    int (*fn)(const struct sf_member *, void *), void *arg)
{
	struct cur		 c = { segs, nseg, 0, 0 };
	struct sf_member	 m;
	int			 rc;

	cur_norm(&c);
	/* Leading and trailing SP are not part of the value (4.2). */
	skip_sp(&c);
	if (peek(&c) == SF_EOF)
		return 0;
	for (;;) {
		memset(&m, 0, sizeof(m));
		if (parse_key(&c, &m) == -1)
			return -1;
		if (peek(&c) == '=') {
			adv(&c);
			if (peek(&c) == '(') {
				m.type = SF_INNER;
				if (parse_inner(&c) == -1)
					return -1;
			} else if (parse_bare(&c, &m) == -1 ||
			    parse_params(&c) == -1)
				return -1;
		} else {
			m.type = SF_BOOL;
			m.value = 1;
			if (parse_params(&c) == -1)
				return -1;
		}
		if (fn != NULL && (rc = fn(&m, arg)) != 0)
			return rc;
		skip_ows(&c);
		if (peek(&c) == SF_EOF)
			return 0;
		if (peek(&c) != ',')
			return -1;
		adv(&c);
		skip_ows(&c);
		if (peek(&c) == SF_EOF)
			return -1;
	}
}
