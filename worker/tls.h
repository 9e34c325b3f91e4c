/*
 * worker/tls.h: one TLS connection in a worker's event loop, client side
 * (a TLS listener) or upstream side (a server with the tls option).
 *
 * Everything is non-blocking.  The read and write functions behave like
 * read(2) and writev(2): -1 with errno EAGAIN when they would block.  A
 * read returns short only when the socket is drained (OpenSSL said it
 * wants more input), never while decrypted bytes wait inside OpenSSL, so
 * the proxy's edge-triggered readiness flags keep their meaning.  When
 * OpenSSL needs the other direction (a write that waits for input, a read
 * that must send), rd_wants_wr / wr_wants_rd say so and the event
 * callback turns that readiness into the one the caller waits for.
 */
#ifndef PORTICO_WORKER_TLS_H
#define PORTICO_WORKER_TLS_H

#include <sys/types.h>
#include <sys/uio.h>

#include <openssl/ssl.h>

#include "common/conf.h"
#include "common/tls.h"

struct tls_conn {
	SSL		*ssl;
	unsigned	 server:1;	/* accepted from a client */
	unsigned	 done:1;	/* handshake complete */
	unsigned	 failed:1;	/* fatal error: no close_notify */
	unsigned	 eof:1;		/* the peer closed */
	unsigned	 shut:1;	/* close_notify sent */
	unsigned	 rd_wants_wr:1;	/* a read waits for writability */
	unsigned	 wr_wants_rd:1;	/* a write (or handshake) waits for input */
	char		*subject;	/* verified client certificate's subject */
	char		 why[160];	/* what went wrong, for the log */
};

/*
 * The session cache of one upstream server: its newest TLS session, for
 * resumption on the next connection.  Opaque: the proxy holds a pointer
 * (NULL until the first connection) and frees it with tls_session_free.
 */
struct tls_session;

/* The handshake of an accepted connection chose h2 by ALPN. */
int		 tls_conn_alpn_h2(const struct tls_conn *t);
/* Server side of an accepted connection on a TLS listener.  NULL: no memory. */
struct tls_conn	*tls_conn_accept(struct tls_server *srv, int fd);
/*
 * Client side towards server s of an upstream; *cache is that server's
 * session cache (made on first use): its session is offered, and a newer
 * one the server sends replaces it.
 */
struct tls_conn	*tls_conn_connect(struct tls_client *cl, int fd,
		    const struct conf_server *s, struct tls_session **cache);
/* Free a server's session cache (NULL is fine) and set *cache to NULL. */
void		 tls_session_free(struct tls_session **cache);
/* Drive the handshake: 1 done, 0 again later, -1 failed (t->why). */
int		 tls_conn_handshake(struct tls_conn *t);
/* A handshake that took too long (counted as failed). */
void		 tls_conn_timed_out(struct tls_conn *t);
ssize_t		 tls_conn_read(struct tls_conn *t, void *buf, size_t len);
ssize_t		 tls_conn_writev(struct tls_conn *t, const struct iovec *iov,
		    int niov);
/*
 * Whether a record of an earlier write still waits inside OpenSSL for
 * the socket: it goes out before anything written next.
 */
int		 tls_conn_want_write(struct tls_conn *t);
/* Whether bytes wait inside OpenSSL (a pooled connection must hold none). */
int		 tls_conn_pending(struct tls_conn *t);
/* Send close_notify (best effort, once). */
void		 tls_conn_shutdown(struct tls_conn *t);
/* Free; sends close_notify first unless the connection failed. */
void		 tls_conn_free(struct tls_conn *t);
/* Whether the connection's session was resumed. */
int		 tls_conn_resumed(struct tls_conn *t);

#endif /* PORTICO_WORKER_TLS_H */
