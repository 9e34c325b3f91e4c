/*
 * uri.h: request-target path normalization (RFC 3986 sections 2.3, 5.2.4
 * and 6.2.2), so that routes, allow lists and the backend all see the
 * same path however a client spells it.
 *
 * The normalizer never allocates: the caller gives an output buffer at
 * least as large as the input (a normalized path is never longer).
 */
#ifndef PORTICO_URI_H
#define PORTICO_URI_H

#include <stddef.h>

/* Relaxations; 0 is the strict default but for URI_MERGE_SLASHES. */
#define URI_MERGE_SLASHES	0x01	/* "//" is "/" (merge_slashes = on) */
#define URI_ENCODED_SLASH	0x02	/* keep "%2F" in a segment */
#define URI_BACKSLASH		0x04	/* keep '\' as an ordinary byte */
#define URI_ENCODED_NUL		0x08	/* keep "%00" */
#define URI_DOT_ABOVE_ROOT	0x10	/* drop ".." at the root (RFC 3986) */

/*
 * Normalize the absolute path in[0..n) (it starts with '/'; no query)
 * into out, which has room for n bytes (at least 1):
 *   - a percent-encoded unreserved character is decoded, and the hex
 *     digits of the other escapes are uppercased;
 *   - empty segments are dropped with URI_MERGE_SLASHES ("/a//b" is
 *     "/a/b"; a final "/" stays);
 *   - "." and ".." segments, literal or encoded, are resolved.
 * Refused (returns -1 with *why set to a few words for the log): a bad
 * escape, "%2F" (unless URI_ENCODED_SLASH), "%00" (unless
 * URI_ENCODED_NUL), '\' (unless URI_BACKSLASH), a ".." above the root
 * (unless URI_DOT_ABOVE_ROOT), and a path not starting with '/'.
 * Returns 0 with the normalized length in *outlen.
 */
int	uri_normalize_path(const char *in, size_t n, unsigned flags, char *out,
	    size_t *outlen, const char **why);

#endif /* PORTICO_URI_H */
