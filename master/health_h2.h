/*
 * health_h2.h: an HTTP health probe over HTTP/2 (protocol = h2, prior
 * knowledge), for the checker (health.c): one nghttp2 client session per
 * probe, its bytes moved by the checker's own non-blocking socket.
 */
#ifndef PORTICO_HEALTH_H2_H
#define PORTICO_HEALTH_H2_H

#include <stddef.h>

struct hh2;

/*
 * A probe's session, its request submitted: *out, *outlen are the bytes
 * to send first (the preface, SETTINGS, HEADERS), valid until the next
 * call on it.  NULL: no memory.
 */
struct hh2	*hh2_new(const char *method, const char *path,
		    const char *authority, int tls, const char **out,
		    size_t *outlen);
/*
 * Take n bytes the server sent.  Returns 1 when the answer is whole (an
 * HTTP/1.1 rendering of it, status line, Content-Length and body, is
 * then written to buf, at most cap bytes, *len), 0 to read on, -1 when
 * the server broke the protocol or reset the stream (*why says how).
 * *out, *outlen: bytes the session has to send now (SETTINGS ACK), or 0.
 */
int		 hh2_recv(struct hh2 *x, const char *p, size_t n, char *buf,
		    size_t cap, size_t *len, const char **out, size_t *outlen,
		    const char **why);
void		 hh2_free(struct hh2 *x);

#endif /* PORTICO_HEALTH_H2_H */
