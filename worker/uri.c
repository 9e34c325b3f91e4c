/*
 * uri.c: request-target path normalization.  See uri.h.
 */
#include "config.h"

#include <string.h>

#include "worker/uri.h"

/* Hex digits, stored as their value plus one. */
static const unsigned char hexval[256] = {
	['0'] = 1, ['1'] = 2, ['2'] = 3, ['3'] = 4, ['4'] = 5,
	['5'] = 6, ['6'] = 7, ['7'] = 8, ['8'] = 9, ['9'] = 10,
	['A'] = 11, ['B'] = 12, ['C'] = 13, ['D'] = 14, ['E'] = 15, ['F'] = 16,
	['a'] = 11, ['b'] = 12, ['c'] = 13, ['d'] = 14, ['e'] = 15, ['f'] = 16
};

/* unreserved = ALPHA / DIGIT / "-" / "." / "_" / "~" (RFC 3986 2.3). */
static const unsigned char unreserved[256] = {
	['0' ... '9'] = 1, ['A' ... 'Z'] = 1, ['a' ... 'z'] = 1,
	['-'] = 1, ['.'] = 1, ['_'] = 1, ['~'] = 1
};

static const char	 HEX[] = "0123456789ABCDEF";

static int	 uri_decode(const char *, size_t, unsigned, char *, size_t *,
		    const char **);
static int	 uri_segments(char *, size_t, unsigned, size_t *, const char **);

/*
 * First pass, in to out: decode unreserved escapes, uppercase the others,
 * refuse what has no safe normal form.  out gets at most n bytes.
 */
static int
uri_decode(const char *in, size_t n, unsigned flags, char *out, size_t *outlen,
    const char **why)
{
	size_t		 i, o = 0;
	unsigned char	 ch, v;

	for (i = 0; i < n; i++) {
		ch = (unsigned char)in[i];
		if (ch == '\\' && !(flags & URI_BACKSLASH)) {
			*why = "backslash in path";
			return -1;
		}
		if (ch != '%') {
			out[o++] = (char)ch;
			continue;
		}
		if (n - i < 3 || !hexval[(unsigned char)in[i + 1]] ||
		    !hexval[(unsigned char)in[i + 2]]) {
			*why = "bad percent-encoding in path";
			return -1;
		}
		v = (unsigned char)((hexval[(unsigned char)in[i + 1]] - 1) * 16 +
		    hexval[(unsigned char)in[i + 2]] - 1);
		i += 2;
		if (unreserved[v]) {
			out[o++] = (char)v;
			continue;
		}
		if (v == '/' && !(flags & URI_ENCODED_SLASH)) {
			*why = "encoded slash in path";
			return -1;
		}
		if (v == 0 && !(flags & URI_ENCODED_NUL)) {
			*why = "encoded NUL in path";
			return -1;
		}
		out[o++] = '%';
		out[o++] = HEX[v >> 4];
		out[o++] = HEX[v & 15];
	}
	*outlen = o;
	return 0;
}

/*
 * Second pass, in place on p[0..n) (which starts with '/'): drop empty
 * segments when merging, resolve "." and "..".  The write position never
 * passes the read position.
 */
static int
uri_segments(char *p, size_t n, unsigned flags, size_t *outlen,
    const char **why)
{
	size_t		 i = 0, j, w = 0, sl;
	int		 last;

	while (i < n) {
		/* p[i] is the '/' before the segment p[i + 1 .. j). */
		for (j = i + 1; j < n && p[j] != '/'; j++)
			;
		sl = j - i - 1;
		last = j == n;
		if (sl == 0 && !last && (flags & URI_MERGE_SLASHES)) {
			i = j;
			continue;
		}
		if (sl == 1 && p[i + 1] == '.') {
			if (last)
				p[w++] = '/';
			i = j;
			continue;
		}
		if (sl == 2 && p[i + 1] == '.' && p[i + 2] == '.') {
			if (w == 0 && !(flags & URI_DOT_ABOVE_ROOT)) {
				*why = "dot-segment above the root";
				return -1;
			}
			/* Remove the last output segment and its '/'. */
			while (w > 0 && p[--w] != '/')
				;
			if (last)
				p[w++] = '/';
			i = j;
			continue;
		}
		memmove(p + w, p + i, sl + 1);
		w += sl + 1;
		i = j;
	}
	if (w == 0)
		p[w++] = '/';
	*outlen = w;
	return 0;
}

int
uri_normalize_path(const char *in, size_t n, unsigned flags, char *out,
    size_t *outlen, const char **why)
{
	size_t	 dl;

	if (n == 0 || in[0] != '/') {
		*why = "path does not start with /";
		return -1;
	}
	if (uri_decode(in, n, flags, out, &dl, why) == -1)
		return -1;
	return uri_segments(out, dl, flags, outlen, why);
}
