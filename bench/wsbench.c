/*
 * wsbench.c: the WebSocket scenario of bench/run (bench/README.md).
 *
 *   wsbench origin PORT
 *	a WebSocket echo origin: an HTTP/1.1 handshake (Upgrade: websocket,
 *	Sec-WebSocket-Key) is answered 101 with its Sec-WebSocket-Accept,
 *	then every byte that comes is sent back (a client's frame comes back
 *	as it was sent: the proxies in between see WebSocket traffic both
 *	ways; none of them reads frames).  Other requests get a 200.
 *
 *   wsbench load HOST PORT PATH CONNS SECONDS MSGSIZE
 *	CONNS WebSocket connections through the proxy (the handshake, its
 *	101 checked), each sending a masked binary frame of MSGSIZE payload
 *	bytes and waiting for its whole echo before the next (ping-pong).
 *	Prints "messages N seconds S errors E" after SECONDS.
 *
 *   wsbench idle HOST PORT PATH CONNS STATUSFILE HOLD
 *	CONNS WebSocket handshakes that then stay open and quiet; writes
 *	"READY opened failed" to STATUSFILE, on SIGUSR1 "ALIVE n" (the ones
 *	the proxy did not close), exits after HOLD seconds.
 *
 *	cc -O2 -Wall -o wsbench bench/wsbench.c -lcrypto
 */
#define _GNU_SOURCE
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/sha.h>

#define BUFSZ	65536

struct conn {
	int	 fd;
	int	 up;		/* origin: handshake done; load: 101 seen */
	size_t	 len;		/* bytes in buf */
	size_t	 want;		/* load: echo bytes still to come */
	char	 buf[BUFSZ];
};

static double
now(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void
accept_key(const char *key, size_t n, char *out)
{
	static const char	 guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
	unsigned char		 in[256], md[SHA_DIGEST_LENGTH];

	if (n > sizeof(in) - sizeof(guid))
		n = sizeof(in) - sizeof(guid);
	memcpy(in, key, n);
	memcpy(in + n, guid, sizeof(guid) - 1);
	SHA1(in, n + sizeof(guid) - 1, md);
	EVP_EncodeBlock((unsigned char *)out, md, sizeof(md));
}

static int
writeall(int fd, const char *p, size_t n)
{
	ssize_t	 k;

	while (n > 0) {
		if ((k = write(fd, p, n)) == -1) {
			if (errno == EAGAIN || errno == EINTR) {
				usleep(100);
				continue;
			}
			return -1;
		}
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

/* Origin: the handshake in c->buf is whole: answer it. */
static int
origin_answer(struct conn *c)
{
	char	 out[512], acc[64];
	char	*k, *e;

	c->buf[c->len] = '\0';
	k = strcasestr(c->buf, "\nSec-WebSocket-Key:");
	if (k == NULL || strcasestr(c->buf, "\nUpgrade:") == NULL) {
		static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

		c->len = 0;
		return writeall(c->fd, ok, sizeof(ok) - 1);
	}
	k += 19;
	while (*k == ' ')
		k++;
	for (e = k; *e != '\r' && *e != '\n' && *e != ' ' && *e != '\0'; e++)
		;
	accept_key(k, (size_t)(e - k), acc);
	snprintf(out, sizeof(out), "HTTP/1.1 101 Switching Protocols\r\n"
	    "Upgrade: websocket\r\nConnection: Upgrade\r\n"
	    "Sec-WebSocket-Accept: %s\r\n\r\n", acc);
	c->up = 1;
	c->len = 0;
	return writeall(c->fd, out, strlen(out));
}

static int
origin(int port)
{
	struct sockaddr_in	 sa;
	struct epoll_event	 ev, evs[256];
	struct conn		*c;
	int			 ls, ep, i, n, fd, one = 1;
	ssize_t			 k;

	signal(SIGPIPE, SIG_IGN);
	ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons(port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(ls, (struct sockaddr *)&sa, sizeof(sa)) == -1 ||
	    listen(ls, 4096) == -1) {
		perror("wsbench origin");
		return 1;
	}
	ep = epoll_create1(0);
	ev.events = EPOLLIN;
	ev.data.ptr = NULL;
	epoll_ctl(ep, EPOLL_CTL_ADD, ls, &ev);
	for (;;) {
		n = epoll_wait(ep, evs, 256, -1);
		for (i = 0; i < n; i++) {
			if ((c = evs[i].data.ptr) == NULL) {
				while ((fd = accept4(ls, NULL, NULL,
				    SOCK_NONBLOCK)) != -1) {
					setsockopt(fd, IPPROTO_TCP, TCP_NODELAY,
					    &one, sizeof(one));
					c = calloc(1, sizeof(*c));
					c->fd = fd;
					ev.events = EPOLLIN;
					ev.data.ptr = c;
					epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
				}
				continue;
			}
			k = read(c->fd, c->buf + c->len, BUFSZ - 1 - c->len);
			if (k == -1 && (errno == EAGAIN || errno == EINTR))
				continue;
			if (k <= 0)
				goto drop;
			if (c->up) {
				if (writeall(c->fd, c->buf, (size_t)k) == -1)
					goto drop;
				continue;
			}
			c->len += (size_t)k;
			c->buf[c->len] = '\0';
			if (strstr(c->buf, "\r\n\r\n") != NULL &&
			    origin_answer(c) == -1)
				goto drop;
			if (c->len >= BUFSZ - 1)
				goto drop;
			continue;
drop:
			close(c->fd);
			free(c);
		}
	}
}

static int
dial(const char *host, int port)
{
	struct sockaddr_in	 sa;
	int			 fd, one = 1;

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons(port);
	inet_pton(AF_INET, host, &sa.sin_addr);
	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) == -1)
		return -1;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == -1) {
		close(fd);
		return -1;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

/* A blocking handshake; returns the fd (then non-blocking), or -1. */
static int
handshake(const char *host, int port, const char *path)
{
	char	 req[512], buf[4096];
	size_t	 len = 0;
	ssize_t	 k;
	int	 fd;

	if ((fd = dial(host, port)) == -1)
		return -1;
	snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: bench\r\n"
	    "Upgrade: websocket\r\nConnection: Upgrade\r\n"
	    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
	    "Sec-WebSocket-Version: 13\r\n\r\n", path);
	if (writeall(fd, req, strlen(req)) == -1)
		goto fail;
	while (len < sizeof(buf) - 1) {
		if ((k = read(fd, buf + len, sizeof(buf) - 1 - len)) <= 0)
			goto fail;
		len += (size_t)k;
		buf[len] = '\0';
		if (strstr(buf, "\r\n\r\n") != NULL)
			break;
	}
	if (strncmp(buf, "HTTP/1.1 101", 12) != 0 ||
	    strstr(buf, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=") == NULL)
		goto fail;
	fcntl(fd, F_SETFL, O_NONBLOCK);
	return fd;
fail:
	close(fd);
	return -1;
}

static int
load(const char *host, int port, const char *path, int nconn, int secs,
    int msgsize)
{
	struct epoll_event	 ev, evs[256];
	struct conn		*cs;
	char			*frame, sink[BUFSZ];
	size_t			 flen, hl;
	unsigned long long	 msgs = 0, errs = 0;
	double			 t0, t1;
	ssize_t			 k;
	int			 ep, i, n;

	signal(SIGPIPE, SIG_IGN);
	hl = msgsize < 126 ? 2 : msgsize < 65536 ? 4 : 10;
	flen = hl + 4 + (size_t)msgsize;
	frame = calloc(1, flen);
	frame[0] = (char)0x82;
	if (msgsize < 126)
		frame[1] = (char)(0x80 | msgsize);
	else if (msgsize < 65536) {
		frame[1] = (char)(0x80 | 126);
		frame[2] = (char)(msgsize >> 8);
		frame[3] = (char)msgsize;
	} else {
		frame[1] = (char)(0x80 | 127);
		for (i = 0; i < 8; i++)
			frame[2 + i] = (char)((unsigned long long)msgsize >> (56 - 8 * i));
	}
	memcpy(frame + hl, "\x11\x22\x33\x44", 4);
	ep = epoll_create1(0);
	cs = calloc((size_t)nconn, sizeof(*cs));
	for (i = 0; i < nconn; i++) {
		if ((cs[i].fd = handshake(host, port, path)) == -1) {
			errs++;
			continue;
		}
		ev.events = EPOLLIN;
		ev.data.ptr = &cs[i];
		epoll_ctl(ep, EPOLL_CTL_ADD, cs[i].fd, &ev);
	}
	t0 = now();
	for (i = 0; i < nconn; i++)
		if (cs[i].fd != -1) {
			cs[i].want = flen;
			if (writeall(cs[i].fd, frame, flen) == -1)
				errs++;
		}
	while ((t1 = now()) - t0 < secs) {
		n = epoll_wait(ep, evs, 256, 100);
		for (i = 0; i < n; i++) {
			struct conn *c = evs[i].data.ptr;

			k = read(c->fd, sink, sizeof(sink));
			if (k == -1 && (errno == EAGAIN || errno == EINTR))
				continue;
			if (k <= 0 || (size_t)k > c->want) {
				errs++;
				epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
				close(c->fd);
				continue;
			}
			c->want -= (size_t)k;
			if (c->want == 0) {
				msgs++;
				c->want = flen;
				if (writeall(c->fd, frame, flen) == -1)
					errs++;
			}
		}
	}
	printf("messages %llu seconds %.3f errors %llu\n", msgs, t1 - t0, errs);
	return 0;
}

static volatile sig_atomic_t	 usr1;

static void
on_usr1(int sig)
{
	(void)sig;
	usr1 = 1;
}

static void
status(const char *path, const char *text)
{
	char	 tmp[4096];
	FILE	*f;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	if ((f = fopen(tmp, "w")) == NULL)
		return;
	fprintf(f, "%s\n", text);
	fclose(f);
	rename(tmp, path);
}

static int
idle(const char *host, int port, const char *path, int nconn,
    const char *st, int hold)
{
	char	 text[128], b;
	int	*fds, i, opened = 0, failed = 0, alive = 0;
	double	 end = now() + hold;

	signal(SIGPIPE, SIG_IGN);
	signal(SIGUSR1, on_usr1);
	fds = calloc((size_t)nconn, sizeof(*fds));
	for (i = 0; i < nconn; i++) {
		if ((fds[i] = handshake(host, port, path)) == -1)
			failed++;
		else
			opened++;
	}
	snprintf(text, sizeof(text), "READY %d %d", opened, failed);
	status(st, text);
	while (!usr1 && now() < end)
		usleep(50000);
	for (i = 0; i < nconn; i++)
		if (fds[i] != -1 && recv(fds[i], &b, 1, MSG_DONTWAIT | MSG_PEEK) == -1 &&
		    errno == EAGAIN)
			alive++;
	snprintf(text, sizeof(text), "ALIVE %d", alive);
	status(st, text);
	return 0;
}

int
main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "origin") == 0)
		return origin(atoi(argv[2]));
	if (argc == 8 && strcmp(argv[1], "load") == 0)
		return load(argv[2], atoi(argv[3]), argv[4], atoi(argv[5]),
		    atoi(argv[6]), atoi(argv[7]));
	if (argc == 8 && strcmp(argv[1], "idle") == 0)
		return idle(argv[2], atoi(argv[3]), argv[4], atoi(argv[5]),
		    argv[6], atoi(argv[7]));
	fprintf(stderr, "usage: wsbench origin PORT | load HOST PORT PATH "
	    "CONNS SECONDS MSGSIZE | idle HOST PORT PATH CONNS STATUSFILE HOLD\n");
	return 2;
}
