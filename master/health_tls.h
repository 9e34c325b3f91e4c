/*
 * health_tls.h: TLS for the checker's HTTP probes of servers with the
 * tls option (the upstream's client context, built by the master at
 * load, common/tls.c), ALPN h2 for protocol = h2, http/1.1 otherwise.
 */
#ifndef PORTICO_HEALTH_TLS_H
#define PORTICO_HEALTH_TLS_H

#include <stdint.h>
#include <sys/types.h>

#include <openssl/ssl.h>

#include "common/conf.h"

/* A client TLS connection on fd for a probe of cs, or NULL. */
SSL	*htls_new(const struct conf_upstream *up, const struct conf_server *cs,
	    int fd);
/*
 * Go on with the handshake: 1 done, 0 again when fd has *events (EPOLLIN
 * or EPOLLOUT), -1 failed (*why says why; a static buffer).
 */
int	 htls_handshake(SSL *ssl, uint32_t *events, const char **why);
/* Whether the server chose h2 by ALPN. */
int	 htls_alpn_h2(SSL *ssl);
/*
 * read(2) and send(2) on the probe's connection, through ssl when it is
 * not NULL: bytes, 0 at the end (reads), -1 with errno (EAGAIN: again).
 */
ssize_t	 hio_read(SSL *ssl, int fd, void *buf, size_t n);
ssize_t	 hio_send(SSL *ssl, int fd, const void *buf, size_t n, int flags);
/*
 * After hio_read or hio_send failed with EAGAIN: the epoll events to wait
 * for (TLS may need to read while sending, or the reverse); dflt for a
 * plain socket.
 */
uint32_t hio_events(SSL *ssl, uint32_t dflt);

#endif /* PORTICO_HEALTH_TLS_H */
