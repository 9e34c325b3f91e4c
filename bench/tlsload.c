/*
 * tlsload.c: TLS handshake load for bench/run.
 *
 *   tlsload HOST PORT PATH CONNS SECONDS full|resume
 *
 * Keeps CONNS connections going at once (one epoll loop, non-blocking).
 * Each connection: TCP connect, TLS handshake, one "GET PATH" with
 * Connection: close, read the answer to the end, close; then the next one.
 * In "resume" mode every connection offers the session saved from a first
 * full handshake (session tickets), and counts whether it was resumed.
 * Certificates are not verified (both proxies are measured alike).
 * Prints one line:
 *   handshakes N resumed N errors N seconds S rate R
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

enum phase { P_CONNECT, P_HANDSHAKE, P_WRITE, P_READ };

struct conn {
	int		 fd;
	SSL		*ssl;
	enum phase	 ph;
	size_t		 sent;
};

static struct sockaddr_in	 addr;
static SSL_CTX			*ctx;
static SSL_SESSION		*saved;
static char			 req[512];
static size_t			 reqlen;
static int			 ep, resume;
static unsigned long		 done, resumed, errors;

static double
now(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void
conn_start(struct conn *c)
{
	struct epoll_event	 ee;
	int			 on = 1;

	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
	c->ssl = SSL_new(ctx);
	SSL_set_fd(c->ssl, c->fd);
	SSL_set_connect_state(c->ssl);
	SSL_set_tlsext_host_name(c->ssl, "bench");
	if (resume && saved != NULL)
		SSL_set_session(c->ssl, saved);
	c->ph = P_CONNECT;
	c->sent = 0;
	memset(&ee, 0, sizeof(ee));
	ee.events = EPOLLIN | EPOLLOUT | EPOLLET;
	ee.data.ptr = c;
	epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ee);
	if (connect(c->fd, (struct sockaddr *)&addr, sizeof(addr)) == -1 &&
	    errno != EINPROGRESS)
		c->ph = P_CONNECT;	/* the error shows on the first event */
}

static void
conn_end(struct conn *c, int ok)
{
	if (ok) {
		done++;
		if (SSL_session_reused(c->ssl))
			resumed++;
		if (resume && saved == NULL)
			saved = SSL_get1_session(c->ssl);
		/* A clean end: SSL_free must not mark the session bad. */
		SSL_set_shutdown(c->ssl, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
	} else
		errors++;
	SSL_free(c->ssl);
	close(c->fd);
	ERR_clear_error();
}

/* Advance c as far as it goes; 1 when it finished (ok or not). */
static int
conn_step(struct conn *c)
{
	char	 buf[16384];
	int	 rc, err, soerr;
	socklen_t sl = sizeof(soerr);
	size_t	 n;

	for (;;) {
		switch (c->ph) {
		case P_CONNECT:
			if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == -1 ||
			    soerr != 0) {
				conn_end(c, 0);
				return 1;
			}
			c->ph = P_HANDSHAKE;
			continue;
		case P_HANDSHAKE:
			rc = SSL_do_handshake(c->ssl);
			if (rc == 1) {
				c->ph = P_WRITE;
				continue;
			}
			break;
		case P_WRITE:
			rc = SSL_write_ex(c->ssl, req + c->sent, reqlen - c->sent, &n);
			if (rc == 1) {
				c->sent += n;
				if (c->sent == reqlen)
					c->ph = P_READ;
				continue;
			}
			break;
		case P_READ:
			rc = SSL_read_ex(c->ssl, buf, sizeof(buf), &n);
			if (rc == 1)
				continue;
			err = SSL_get_error(c->ssl, rc);
			if (err == SSL_ERROR_ZERO_RETURN ||
			    (err == SSL_ERROR_SYSCALL && ERR_peek_error() == 0)) {
				conn_end(c, 1);
				return 1;
			}
			break;
		}
		err = SSL_get_error(c->ssl, rc);
		if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE)
			return 0;
		conn_end(c, 0);
		return 1;
	}
}

int
main(int argc, char *argv[])
{
	struct epoll_event	 evs[256];
	struct conn		*conns;
	double			 t0, t1, dur;
	int			 nconns, i, n;

	if (argc != 7) {
		fprintf(stderr, "usage: tlsload HOST PORT PATH CONNS SECONDS full|resume\n");
		return 2;
	}
	memset(&addr, 0, sizeof(addr));
	addr.sin_family = AF_INET;
	addr.sin_port = htons((unsigned short)atoi(argv[2]));
	if (inet_pton(AF_INET, argv[1], &addr.sin_addr) != 1)
		return 2;
	reqlen = (size_t)snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: bench\r\n"
	    "Connection: close\r\n\r\n", argv[3]);
	nconns = atoi(argv[4]);
	dur = atof(argv[5]);
	resume = strcmp(argv[6], "resume") == 0;
	if (nconns < 1 || dur <= 0)
		return 2;
	ctx = SSL_CTX_new(TLS_client_method());
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	ep = epoll_create1(0);
	conns = calloc((size_t)nconns, sizeof(*conns));
	if (resume) {
		/* One full handshake first, for the session. */
		conn_start(&conns[0]);
		while (saved == NULL && errors == 0) {
			n = epoll_wait(ep, evs, 256, 1000);
			for (i = 0; i < n; i++)
				if (conn_step(evs[i].data.ptr) && saved == NULL)
					conn_start(&conns[0]);
		}
		if (saved == NULL) {
			fprintf(stderr, "tlsload: no session from the first connection\n");
			return 1;
		}
		done = resumed = errors = 0;
	}
	t0 = now();
	for (i = 0; i < nconns; i++)
		conn_start(&conns[i]);
	for (;;) {
		t1 = now();
		if (t1 - t0 >= dur)
			break;
		n = epoll_wait(ep, evs, 256, 100);
		for (i = 0; i < n; i++) {
			struct conn *c = evs[i].data.ptr;

			if (conn_step(c))
				conn_start(c);
		}
	}
	printf("handshakes %lu resumed %lu errors %lu seconds %.3f rate %.1f\n",
	    done, resumed, errors, t1 - t0, done / (t1 - t0));
	return 0;
}
