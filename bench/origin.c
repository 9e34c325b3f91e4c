/*
 * bench/origin.c - minimal HTTP/1.x origin used by bench/run.
 *
 * Why a tiny C origin instead of nginx serving static files: the origin
 * shares CPU 1 with wrk, so every cycle it spends is taken from the load
 * generator.  This server answers from precomputed in-memory responses
 * (headers + body in one buffer, one write() per response, no stat/open,
 * no logging, no Date header formatting), which makes it several times
 * cheaper per request than nginx's static module and keeps the proxy on
 * CPU 0 the bottleneck in every scenario.
 *
 *   GET /1k   -> 200, 1024 byte body
 *   GET /64k  -> 200, 65536 byte body
 *   GET /1m   -> 200, 1048576 byte body
 *   GET /text64k -> 200, 65536 bytes of text/html: words of a 1,000-word
 *                 vocabulary in a fixed pseudo-random order, which gzip -6
 *                 shrinks about 4.7 times (the compression scenario)
 *   GET /count -> 200, body = how many /1k, /64k and /1m requests were answered
 *                 so far (decimal; bench/run uses it to check cache hits)
 *   anything else -> 404
 *
 * HTTP/1.1 keep-alive by default, honours "Connection: close", HTTP/1.0
 * closes unless "Connection: keep-alive".  Pipelined requests are handled.
 * Request bodies are not supported (the benchmark only sends GET).
 *
 * usage: origin PORT [CACHE_CONTROL]
 *        listens on 127.0.0.1:PORT, single thread, epoll.  With
 *        CACHE_CONTROL (e.g. "max-age=3600"), the 200 responses of /1k,
 *        /64k and /1m carry "Cache-Control: CACHE_CONTROL" (cache-hit
 *        scenarios).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define INBUF 16384

enum { KA11, KA10, CLOSE, NVARIANT };

struct resp {
    char *buf;
    size_t len;
};

enum { R1K, R64K, R1M, RTEXT, R404, NRESP, RCOUNT = NRESP };

static struct resp responses[NRESP][NVARIANT]; /* [which][variant] */
static const char *cache_control;          /* NULL: no Cache-Control field */
static unsigned long long served;           /* /1k + /64k + /1m responses */

struct conn {
    int fd;
    size_t inlen;
    const struct resp *out;
    size_t outoff;
    int close_after;
    struct resp dyn;   /* /count answer */
    char dynbuf[160];
    char in[INBUF];
};

static struct conn **conns;
static int maxfd = 1 << 16;
static int ep;

/* A text body that compresses as prose does (not a repeated pattern). */
static void text_fill(char *p, size_t n)
{
    static const char *syl[] = { "an", "ber", "co", "de", "el", "fra", "gi", "ho",
        "in", "ju", "ka", "lo", "mi", "no", "or", "pe", "qua", "ri", "st", "tu",
        "un", "ve", "wa", "xe", "yo", "ze", "th", "ch", "sh", "pl", "gr", "ous" };
    unsigned x = 12345, w;
    size_t i = 0, col = 0;

    while (i < n) {
        x = x * 1103515245u + 12345u;
        w = (x >> 8) % 1000;        /* a word of the vocabulary: its syllables */
        for (unsigned k = 0; k <= w % 3 + 1 && i < n; k++) {
            const char *s = syl[(w * 7 + k * 13) % 32];
            while (*s != '\0' && i < n) {
                p[i++] = *s++;
                col++;
            }
        }
        if (i < n) {
            p[i++] = col > 70 ? '\n' : ' ';
            if (col > 70)
                col = 0;
        }
    }
}

static void build(struct resp *r, int status, size_t bodylen, int variant, int text)
{
    char hdr[512];
    const char *conn = variant == KA11  ? ""
                       : variant == KA10 ? "Connection: keep-alive\r\n"
                                         : "Connection: close\r\n";
    int cc = status == 200 && cache_control;
    int h = snprintf(hdr, sizeof hdr,
                     "HTTP/1.1 %s\r\nServer: bench-origin\r\n"
                     "Content-Type: %s\r\nContent-Length: %zu\r\n%s%s%s%s\r\n",
                     status == 200 ? "200 OK" : "404 Not Found",
                     text ? "text/html; charset=utf-8" : "text/plain", bodylen,
                     cc ? "Cache-Control: " : "", cc ? cache_control : "", cc ? "\r\n" : "", conn);
    if (h < 0 || (size_t)h >= sizeof hdr) {
        fprintf(stderr, "response head too long\n");
        exit(1);
    }
    r->len = (size_t)h + bodylen;
    r->buf = malloc(r->len);
    if (!r->buf) {
        perror("malloc");
        exit(1);
    }
    memcpy(r->buf, hdr, (size_t)h);
    if (text) {
        text_fill(r->buf + h, bodylen);
        return;
    }
    for (size_t i = 0; i < bodylen; i++)
        r->buf[h + i] = (i % 64 == 63) ? '\n' : (char)('a' + i % 26);
}

static void conn_close(struct conn *c)
{
    close(c->fd);
    conns[c->fd] = NULL;
    free(c);
}

static void set_events(struct conn *c, unsigned ev)
{
    struct epoll_event e = {.events = ev, .data.ptr = c};
    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &e);
}

/* case-insensitive search inside [s, s+n) */
static const char *memcasemem(const char *s, size_t n, const char *needle)
{
    size_t m = strlen(needle);
    if (m > n)
        return NULL;
    for (size_t i = 0; i + m <= n; i++)
        if (strncasecmp(s + i, needle, m) == 0)
            return s + i;
    return NULL;
}

/* Parse one complete request at the start of c->in, select the response.
 * Returns request length, 0 if incomplete, -1 on error. */
static long parse(struct conn *c)
{
    char *end = memmem(c->in, c->inlen, "\r\n\r\n", 4);
    if (!end)
        return c->inlen >= INBUF ? -1 : 0;
    size_t reqlen = (size_t)(end - c->in) + 4;
    char *sp1 = memchr(c->in, ' ', reqlen);
    if (!sp1)
        return -1;
    char *path = sp1 + 1;
    char *sp2 = memchr(path, ' ', reqlen - (size_t)(path - c->in));
    if (!sp2)
        return -1;
    size_t plen = (size_t)(sp2 - path);
    int which = R404;
    if (plen == 3 && memcmp(path, "/1k", 3) == 0)
        which = R1K;
    else if (plen == 4 && memcmp(path, "/64k", 4) == 0)
        which = R64K;
    else if (plen == 3 && memcmp(path, "/1m", 3) == 0)
        which = R1M;
    else if (plen == 8 && memcmp(path, "/text64k", 8) == 0)
        which = RTEXT;
    else if (plen == 6 && memcmp(path, "/count", 6) == 0)
        which = RCOUNT;
    int http10 = (sp2 + 9 <= end && memcmp(sp2 + 1, "HTTP/1.0", 8) == 0);
    int variant;
    if (http10)
        variant = memcasemem(c->in, reqlen, "\nconnection: keep-alive") ? KA10 : CLOSE;
    else
        variant = memcasemem(c->in, reqlen, "\nconnection: close") ? CLOSE : KA11;
    if (which == RCOUNT) {
        char num[32];
        int bl = snprintf(num, sizeof num, "%llu\n", served);
        int h = snprintf(c->dynbuf, sizeof c->dynbuf,
                         "HTTP/1.1 200 OK\r\nServer: bench-origin\r\nContent-Type: text/plain\r\n"
                         "Cache-Control: no-store\r\nContent-Length: %d\r\n%s\r\n%s",
                         bl, variant == KA11 ? "" : variant == KA10 ? "Connection: keep-alive\r\n" : "Connection: close\r\n",
                         num);
        c->dyn.buf = c->dynbuf;
        c->dyn.len = (size_t)h;
        c->out = &c->dyn;
    } else {
        if (which != R404)
            served++;
        c->out = &responses[which][variant];
    }
    c->outoff = 0;
    c->close_after = variant == CLOSE;
    return (long)reqlen;
}

/* returns 0 to keep, -1 when conn was closed */
static int do_write(struct conn *c)
{
    for (;;) {
        while (c->out && c->outoff < c->out->len) {
            ssize_t n = write(c->fd, c->out->buf + c->outoff, c->out->len - c->outoff);
            if (n < 0) {
                if (errno == EINTR)
                    continue;
                if (errno == EAGAIN) {
                    set_events(c, EPOLLOUT);
                    return 0;
                }
                conn_close(c);
                return -1;
            }
            c->outoff += (size_t)n;
        }
        if (c->out) {
            c->out = NULL;
            if (c->close_after) {
                conn_close(c);
                return -1;
            }
        }
        /* pipelined request already buffered? */
        long r = parse(c);
        if (r < 0) {
            conn_close(c);
            return -1;
        }
        if (r == 0) {
            set_events(c, EPOLLIN);
            return 0;
        }
        memmove(c->in, c->in + r, c->inlen - (size_t)r);
        c->inlen -= (size_t)r;
    }
}

static void do_read(struct conn *c)
{
    for (;;) {
        if (c->inlen >= INBUF) {
            conn_close(c);
            return;
        }
        ssize_t n = read(c->fd, c->in + c->inlen, INBUF - c->inlen);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN)
                break;
            conn_close(c);
            return;
        }
        if (n == 0) {
            conn_close(c);
            return;
        }
        c->inlen += (size_t)n;
        if ((size_t)n < INBUF)
            break;
    }
    if (!c->out)
        do_write(c);
}

int main(int argc, char **argv)
{
    if (argc != 2 && argc != 3) {
        fprintf(stderr, "usage: %s PORT [CACHE_CONTROL]\n", argv[0]);
        return 2;
    }
    if (argc == 3)
        cache_control = argv[2];
    signal(SIGPIPE, SIG_IGN);
    size_t sizes[NRESP] = {1024, 65536, 1048576, 65536, 10};
    for (int w = 0; w < NRESP; w++)
        for (int v = 0; v < NVARIANT; v++)
            build(&responses[w][v], w == R404 ? 404 : 200, sizes[w], v, w == RTEXT);
    conns = calloc((size_t)maxfd, sizeof *conns);

    int ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    int one = 1;
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((unsigned short)atoi(argv[1]))};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(ls, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(ls, 4096) < 0) {
        perror("bind/listen");
        return 1;
    }
    ep = epoll_create1(0);
    struct epoll_event le = {.events = EPOLLIN, .data.ptr = NULL};
    epoll_ctl(ep, EPOLL_CTL_ADD, ls, &le);

    struct epoll_event evs[256];
    for (;;) {
        int n = epoll_wait(ep, evs, 256, -1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            perror("epoll_wait");
            return 1;
        }
        for (int i = 0; i < n; i++) {
            struct conn *c = evs[i].data.ptr;
            if (!c) {
                for (;;) {
                    int fd = accept4(ls, NULL, NULL, SOCK_NONBLOCK);
                    if (fd < 0)
                        break;
                    if (fd >= maxfd) {
                        close(fd);
                        continue;
                    }
                    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    c = calloc(1, sizeof *c);
                    if (!c) {
                        close(fd);
                        continue;
                    }
                    c->fd = fd;
                    conns[fd] = c;
                    struct epoll_event e = {.events = EPOLLIN, .data.ptr = c};
                    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e);
                }
                continue;
            }
            if (c->out)
                do_write(c);
            else
                do_read(c);
        }
    }
}
