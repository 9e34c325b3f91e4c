/*
 * fuzz_h2.c: libFuzzer target for the HTTP/2 front end's frame side
 * (worker/h2_frames.c): portico's nghttp2 server session, its SETTINGS
 * (extended CONNECT on), and its callbacks that turn frames into stream
 * events and enforce the limits (rapid reset, CONTINUATION and control
 * frame floods, the header list size), fed arbitrary bytes after the
 * client preface.
 *
 * Each field goes to the daemon's own h2_stream_field
 * (worker/h2_field.c), which keeps it in its stream's buffers; the
 * link wraps it (-Wl,--wrap=h2_stream_field) to check around each call
 * that the fields come between the stream's h2_stream_new and
 * h2_stream_ready, lowercase (nghttp2's check) and within the header
 * list limit, and that the function kept what it was given: a value
 * of :method, :path, :authority, :protocol, Host or Cookie at its
 * place in s->hd, another field as "name: value" at the end of s->fb,
 * all within buffer_size, or else the stream marked 431.
 *
 * The rest of the stream side (worker/h2_stream.c and the exchange
 * behind it) is a small fake here that records the events and checks
 * their order: nothing comes after h2_stream_gone (ASan sees a use
 * after the free), a violation always ends the reading with a reason,
 * the stream count matches the list.  Like the exchange, it takes DATA
 * bytes (the window opens again) or refuses them.
 *
 * The first input byte picks the fake's answers (refuse a stream's
 * head, refuse its DATA), the limits (the daemon's defaults, or small
 * ones that a short input can exceed, with a buffer_size smaller than
 * the header list limit) and how the rest is cut into reads (the clock
 * advances 7 ms a read, refilling the buckets).
 *
 *	clang -g -O1 -fsanitize=fuzzer,address,undefined -I. -Ibuild/check \
 *	    -o fuzz_h2 t/fuzz/fuzz_h2.c worker/h2_frames.c worker/h2_field.c \
 *	    -Wl,--wrap=h2_stream_field -lnghttp2
 */
#include "config.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <nghttp2/nghttp2.h>

#include "common/log.h"
#include "worker/h2.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);
int	__real_h2_stream_field(struct h2_stream *, const uint8_t *, size_t,
	    const uint8_t *, size_t);
int	__wrap_h2_stream_field(struct h2_stream *, const uint8_t *, size_t,
	    const uint8_t *, size_t);

#define CHECK(e)	do { if (!(e)) abort(); } while (0)

uint64_t	 ev_now;
size_t		 bufsize;	/* buffer_size: s->hd and s->fb are this long */

static int	 refuse_head, refuse_data;
static char	 carrier;	/* a stream with an exchange: s->carrier set */

void
log_info(const char *fmt, ...)
{
	(void)fmt;
}

/* The fake stream side: what h2_stream.c does, reduced to its states. */
struct h2_stream *
h2_stream_new(struct h2_conn *h, int32_t id)
{
	struct h2_stream	*s;

	CHECK(id > 0 && (id & 1) == 1);
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	if ((s->hd = malloc(bufsize)) == NULL ||
	    (s->fb = malloc(bufsize)) == NULL) {
		free(s->hd);
		free(s);
		return NULL;
	}
	s->id = id;
	s->conn = h;
	s->next = h->streams;
	if (h->streams != NULL)
		h->streams->prev = s;
	h->streams = s;
	h->nstreams++;
	return s;
}

void
h2_stream_free(struct h2_stream *s)
{
	struct h2_conn	*h = s->conn;

	if (s->prev != NULL)
		s->prev->next = s->next;
	else
		h->streams = s->next;
	if (s->next != NULL)
		s->next->prev = s->prev;
	h->nstreams--;
	if (!h->closing && !s->closed)
		nghttp2_session_set_stream_user_data(h->s, s->id, NULL);
	free(s->hd);
	free(s->fb);
	free(s);
}

static int
is(const uint8_t *name, size_t n, const char *lit)
{
	return n == strlen(lit) && memcmp(name, lit, n) == 0;
}

/* Where the daemon keeps a field's value in s->hd; 0: in s->fb. */
static int
hd_place(const struct h2_stream *s, const uint8_t *name, size_t nlen,
    uint32_t *off, uint32_t *len)
{
	if (is(name, nlen, ":method"))
		*off = s->m_off, *len = s->m_len;
	else if (is(name, nlen, ":path"))
		*off = s->p_off, *len = s->p_len;
	else if (is(name, nlen, ":authority"))
		*off = s->a_off, *len = s->a_len;
	else if (is(name, nlen, ":protocol"))
		*off = s->x_off, *len = s->x_len;
	else if (is(name, nlen, "host"))
		*off = s->h_off, *len = s->h_len;
	else if (is(name, nlen, "cookie"))
		*off = s->k_off, *len = s->k_len;
	else
		return 0;
	return 1;
}

/*
 * Around the daemon's h2_stream_field (worker/h2_field.c): the order and
 * nghttp2's checks before, what it kept after.
 */
int
__wrap_h2_stream_field(struct h2_stream *s, const uint8_t *name,
    size_t nlen, const uint8_t *value, size_t vlen)
{
	uint32_t	 off, len, fb0 = s->fb_len;
	int		 bad0 = s->bad;
	size_t		 i;

	CHECK(s->carrier == NULL && !s->done);	/* before the head's end */
	CHECK(nlen > 0);
	for (i = 0; i < nlen; i++)
		CHECK(!(name[i] >= 'A' && name[i] <= 'Z'));	/* nghttp2's check */
	CHECK(s->list <= s->conn->lim.max_header_list_size);
	CHECK(__real_h2_stream_field(s, name, nlen, value, vlen) == 0);
	CHECK(s->hd_len <= bufsize && s->fb_len <= bufsize);
	CHECK(s->bad == bad0 || (bad0 == 0 && s->bad == 431));
	if (s->bad != 0)
		return 0;
	if (name[0] != ':' && s->has_proto && is(name, nlen, "sec-websocket-key"))
		CHECK(s->fb_len == fb0);	/* dropped (RFC 8441 5) */
	else if (hd_place(s, name, nlen, &off, &len)) {
		/* The value ends its place (a Cookie: the crumbs so far). */
		CHECK(len >= vlen && off + len <= s->hd_len);
		CHECK(memcmp(s->hd + off + len - vlen, value, vlen) == 0);
		CHECK(s->fb_len == fb0);
	} else if (name[0] == ':')
		CHECK(s->fb_len == fb0);	/* another pseudo-header: dropped */
	else {
		CHECK(s->fb_len == fb0 + nlen + vlen + 4);
		CHECK(memcmp(s->fb + fb0, name, nlen) == 0 &&
		    memcmp(s->fb + fb0 + nlen, ": ", 2) == 0 &&
		    memcmp(s->fb + fb0 + nlen + 2, value, vlen) == 0 &&
		    memcmp(s->fb + s->fb_len - 2, "\r\n", 2) == 0);
	}
	return 0;
}

/*
 * A trailer field (a HEADERS frame after the request's DATA): nghttp2
 * hands it over only once the head was ready, under the same limits.
 */
int
h2_stream_trailer(struct h2_stream *s, const uint8_t *name, size_t nlen,
    const uint8_t *value, size_t vlen)
{
	(void)value;
	(void)vlen;
	CHECK(s->carrier != NULL || s->done);	/* after the head's end */
	CHECK(nlen > 0);
	CHECK(s->list <= s->conn->lim.max_header_list_size);
	return 0;
}

int
h2_stream_ready(struct h2_stream *s)
{
	CHECK(s->carrier == NULL && !s->done);
	if (refuse_head) {
		s->done = 1;	/* refused: no exchange */
		return -1;
	}
	s->carrier = (struct client *)&carrier;
	return 0;
}

int
h2_stream_data(struct h2_stream *s, const uint8_t *p, size_t n)
{
	if (n > 0)
		CHECK(p[0] == p[0] && p[n - 1] == p[n - 1]);	/* readable */
	if (s->carrier == NULL || refuse_data)
		return -1;
	s->rb_end += (uint32_t)n;
	nghttp2_session_consume(s->conn->s, s->id, n);	/* taken */
	return 0;
}

void
h2_stream_wake(struct h2_stream *s, int rd, int wr)
{
	CHECK(s->conn != NULL);
	s->run = rd || wr;
}

void
h2_stream_gone(struct h2_stream *s)
{
	CHECK(s->closed);
	s->carrier = NULL;
	h2_stream_free(s);
}

/* What the connection would write: drained and dropped. */
static void
drain(struct h2_conn *h)
{
	const uint8_t	*p;
	ssize_t		 n;
	int		 i;

	for (i = 0; i < 1000; i++)
		if ((n = nghttp2_session_mem_send(h->s, &p)) <= 0)
			break;
}

static void
count_check(const struct h2_conn *h)
{
	const struct h2_stream	*s;
	int			 n = 0;

	for (s = h->streams; s != NULL; s = s->next)
		n++;
	CHECK(n == h->nstreams);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t	 preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
	struct h2_conn		 h;
	struct h2_stream	*s;
	size_t			 off, cut, k;

	if (size < 1)
		return 0;
	refuse_head = data[0] & 1;
	refuse_data = (data[0] >> 1) & 1;
	cut = (data[0] & 0x30) == 0 ? size : (size_t)1 << ((data[0] >> 4) & 3) * 4;
	memset(&h, 0, sizeof(h));
	ev_now = 1000000;
	if (data[0] & 4) {
		/* Small limits: short inputs reach them. */
		bufsize = 128;
		h.lim.max_resets = 4;
		h.lim.max_control_frames = 8;
		h.lim.max_header_list_size = 256;
		h.lim.max_concurrent_streams = 3;
	} else {
		/* The daemon's defaults (common/conf.c). */
		bufsize = 32 << 10;
		h.lim.max_resets = 200;
		h.lim.max_control_frames = 1000;
		h.lim.max_header_list_size = 32768;
		h.lim.max_concurrent_streams = 100;
	}
	h.lim.window = data[0] & 8 ? 16384 : 65536;
	memcpy(h.ip, "192.0.2.1", sizeof("192.0.2.1"));
	if (h2_session_new(&h) == -1)
		return 0;
	drain(&h);
	h2_frames_recv(&h, preface, sizeof(preface) - 1);
	data++;
	size--;
	for (off = 0; off < size && !h.noread; off += k) {
		k = size - off < cut ? size - off : cut;
		h2_frames_recv(&h, data + off, k);
		count_check(&h);
		drain(&h);
		ev_now += 7;
	}
	drain(&h);
	if (h.bad != 0)
		CHECK(h.noread && h.why != NULL);
	count_check(&h);
	/* The connection closes: as h2_conn_closed. */
	h.closing = 1;
	while ((s = h.streams) != NULL)
		h2_stream_free(s);
	nghttp2_session_del(h.s);
	return 0;
}
