/*
 * h2_field.c: one field of an HTTP/2 request head, as nghttp2 decoded
 * and checked it (worker/h2_frames.c's on_header), kept in its stream
 * for worker/h2_stream.c to assemble the HTTP/1.1 head from: the values
 * of :method, :path, :authority, :protocol, Host and Cookie (its crumbs
 * joined) in s->hd, the other fields as "name: value" lines in s->fb.
 * Apart from the rest of the stream side so that t/fuzz/fuzz_h2.c links
 * it with h2_frames.c and feeds it what nghttp2 lets through.
 */
#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "worker/h2.h"
#include "worker/proxy_int.h"

/* Append v to hd; its place in *off, *len.  -1: no room. */
static int
hd_add(struct h2_stream *s, const uint8_t *v, size_t n, uint32_t *off,
    uint32_t *len)
{
	if (n > bufsize - s->hd_len)
		return -1;
	*off = s->hd_len;
	*len = (uint32_t)n;
	memcpy(s->hd + s->hd_len, v, n);
	s->hd_len += n;
	return 0;
}

static int
is(const uint8_t *name, size_t n, const char *lit)
{
	return n == strlen(lit) && memcmp(name, lit, n) == 0;
}

/*
 * One field of a request's head (nghttp2 checked it: lowercase name, no
 * connection-specific field, pseudo-headers first).  Returns 0; a field
 * that does not fit makes the answer a 431.
 */
int
h2_stream_field(struct h2_stream *s, const uint8_t *name, size_t nlen,
    const uint8_t *value, size_t vlen)
{
	uint32_t	 off, len;
	int		 rc = 0;

	if (s->bad)
		return 0;
	if (nlen > 0 && name[0] == ':') {
		if (is(name, nlen, ":method"))
			rc = hd_add(s, value, vlen, &s->m_off, &s->m_len);
		else if (is(name, nlen, ":path"))
			rc = hd_add(s, value, vlen, &s->p_off, &s->p_len);
		else if (is(name, nlen, ":authority")) {
			rc = hd_add(s, value, vlen, &s->a_off, &s->a_len);
			s->has_auth = 1;
		} else if (is(name, nlen, ":protocol")) {
			rc = hd_add(s, value, vlen, &s->x_off, &s->x_len);
			s->has_proto = 1;	/* (nghttp2: on CONNECT only) */
		}
	} else if (s->has_proto && is(name, nlen, "sec-websocket-key")) {
		/* Not an HTTP/2 field (RFC 8441 5): portico makes its own. */
	} else if (is(name, nlen, "host")) {
		rc = hd_add(s, value, vlen, &s->h_off, &s->h_len);
		s->has_host = 1;
	} else if (is(name, nlen, "cookie")) {
		/*
		 * Crumbs are joined with "; " (RFC 9113 8.2.3): the value so
		 * far moves to the end of hd first if a Host came after it.
		 */
		if (!s->has_cookie) {
			rc = hd_add(s, value, vlen, &s->k_off, &s->k_len);
			s->has_cookie = 1;
		} else {
			if (s->k_off + s->k_len != s->hd_len) {
				if (s->k_len > bufsize - s->hd_len)
					rc = -1;
				else {
					memmove(s->hd + s->hd_len, s->hd + s->k_off,
					    s->k_len);
					s->k_off = s->hd_len;
					s->hd_len += s->k_len;
				}
			}
			if (rc == 0)
				rc = hd_add(s, (const uint8_t *)"; ", 2, &off, &len);
			if (rc == 0)
				rc = hd_add(s, value, vlen, &off, &len);
			s->k_len += 2 + (uint32_t)vlen;
		}
	} else {
		if (is(name, nlen, "content-length"))
			s->has_cl = 1;
		if (nlen + vlen + 4 > bufsize - s->fb_len)
			rc = -1;
		else {
			memcpy(s->fb + s->fb_len, name, nlen);
			memcpy(s->fb + s->fb_len + nlen, ": ", 2);
			memcpy(s->fb + s->fb_len + nlen + 2, value, vlen);
			memcpy(s->fb + s->fb_len + nlen + 2 + vlen, "\r\n", 2);
			s->fb_len += nlen + vlen + 4;
		}
	}
	if (rc == -1)
		s->bad = 431;
	return 0;
}
