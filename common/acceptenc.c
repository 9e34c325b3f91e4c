/*
 * acceptenc.c: the Accept-Encoding field (RFC 9110 12.5.3): a list of
 * codings, each with an optional weight (";q=0.xxx").  Only the weights
 * of gzip, br and "*" are kept; a malformed element is skipped, as if
 * the client had not sent it.  Nothing here allocates; every scan is
 * bounded by the length given.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <stddef.h>
#include <strings.h>

#include "common/acceptenc.h"

#define IS_WS(c)	((c) == ' ' || (c) == '\t')

static int	 qvalue(const char *p, size_t n);
static void	 element(struct acceptenc *ae, const char *p, size_t n);

void
acceptenc_init(struct acceptenc *ae)
{
	ae->gzip = ae->br = ae->star = -1;
	ae->seen = 0;
}

/*
 * A qvalue (RFC 9110 12.4.2: "0" [ "." 0*3DIGIT ] / "1" [ "." 0*3("0") ])
 * in thousandths, or -1 when it is not one.
 */
static int
qvalue(const char *p, size_t n)
{
	size_t	 i;
	int	 q, scale = 100;

	if (n == 0 || (p[0] != '0' && p[0] != '1'))
		return -1;
	q = p[0] == '1' ? 1000 : 0;
	if (n == 1)
		return q;
	if (p[1] != '.' || n > 5)
		return -1;
	for (i = 2; i < n; i++, scale /= 10) {
		if (p[i] < '0' || p[i] > '9')
			return -1;
		if (q == 1000 && p[i] != '0')
			return -1;
		q += (p[i] - '0') * scale;
	}
	return q;
}

/* One list element, OWS trimmed: "coding *( OWS ";" OWS param )". */
static void
element(struct acceptenc *ae, const char *p, size_t n)
{
	size_t		 tl, i, j, k;
	int		 q = 1000, v;

	for (tl = 0; tl < n && p[tl] != ';' && !IS_WS(p[tl]); tl++)
		;
	if (tl == 0)
		return;
	for (i = tl; i < n; ) {
		while (i < n && IS_WS(p[i]))
			i++;
		if (i == n)
			break;
		if (p[i] != ';')
			return;		/* junk after the coding */
		i++;
		while (i < n && IS_WS(p[i]))
			i++;
		for (j = i; j < n && p[j] != ';' && !IS_WS(p[j]); j++)
			;
		/* p[i..j) is one parameter: only q is looked at. */
		if (j - i >= 2 && (p[i] == 'q' || p[i] == 'Q') && p[i + 1] == '=') {
			if ((v = qvalue(p + i + 2, j - i - 2)) == -1)
				return;		/* a bad weight: the element goes */
			q = v;
		} else {
			for (k = i; k < j && p[k] != '='; k++)
				;
			if (k == i)
				return;		/* no parameter name */
		}
		i = j;
	}
	if (tl == 4 && strncasecmp(p, "gzip", 4) == 0)
		ae->gzip = q;
	else if (tl == 6 && strncasecmp(p, "x-gzip", 6) == 0) {
		if (ae->gzip == -1)
			ae->gzip = q;
	} else if (tl == 2 && strncasecmp(p, "br", 2) == 0)
		ae->br = q;
	else if (tl == 1 && p[0] == '*')
		ae->star = q;
}

void
acceptenc_parse(struct acceptenc *ae, const char *v, size_t len)
{
	size_t	 i = 0, s, e;

	ae->seen = 1;
	while (i < len) {
		while (i < len && (IS_WS(v[i]) || v[i] == ','))
			i++;
		s = i;
		while (i < len && v[i] != ',')
			i++;
		e = i;
		while (e > s && IS_WS(v[e - 1]))
			e--;
		if (e > s)
			element(ae, v + s, e - s);
	}
}

int
acceptenc_pick(const struct acceptenc *ae, unsigned allowed)
{
	int	 qg, qb;

	qg = ae->gzip != -1 ? ae->gzip : ae->star;
	qb = ae->br != -1 ? ae->br : ae->star;
	if (!(allowed & (1u << CODING_GZIP)))
		qg = -1;
	if (!(allowed & (1u << CODING_BR)))
		qb = -1;
	if (qb > 0 && qb >= qg)
		return CODING_BR;
	if (qg > 0)
		return CODING_GZIP;
	return CODING_IDENTITY;
}
