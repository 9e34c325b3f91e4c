/*
 * fuzz_h2.c: libFuzzer target for the HTTP/2 front end's frame side
 * (worker/h2_frames.c): portico's nghttp2 server session, its SETTINGS
 * (extended CONNECT on), and its callbacks that turn frames into stream
 * events and enforce the limits (rapid reset, CONTINUATION and control
 * frame floods, the header list size), fed arbitrary bytes after the
 * client preface.
 *
 * The stream side (worker/h2_stream.c and the exchange behind it) is a
 * small fake here that records the events and checks their order: a
 * stream's fields come between its h2_stream_new and h2_stream_ready
 * and stay within the header list limit, lowercase, nothing comes after
 * h2_stream_gone (ASan sees a use after the free), a violation always
 * ends the reading with a reason, the stream count matches the list.  Like the
 * exchange, it takes DATA bytes (the window opens again) or refuses them.
 *
 * The first input byte picks the fake's answers (refuse a stream's
 * head, refuse its DATA), the limits (the daemon's defaults, or small
 * ones that a short input can exceed) and how the rest is cut into
 * reads (the clock advances 7 ms a read, refilling the buckets).
 *
 *	clang -g -O1 -fsanitize=fuzzer,address,undefined -I. -Ibuild/check \
 *	    -o fuzz_h2 t/fuzz/fuzz_h2.c worker/h2_frames.c -lnghttp2
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

#define CHECK(e)	do { if (!(e)) abort(); } while (0)

uint64_t	 ev_now;

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
	free(s);
}

int
h2_stream_field(struct h2_stream *s, const uint8_t *name, size_t nlen,
    const uint8_t *value, size_t vlen)
{
	size_t	 i;

	CHECK(s->carrier == NULL && !s->done);	/* before the head's end */
	CHECK(nlen > 0);
	(void)value;
	for (i = 0; i < nlen; i++)
		CHECK(!(name[i] >= 'A' && name[i] <= 'Z'));	/* nghttp2's check */
	if (name[0] == ':' && nlen == 9 && memcmp(name, ":protocol", 9) == 0)
		s->has_proto = 1;
	s->fb_len += (uint32_t)(nlen + vlen);
	CHECK(s->fb_len <= s->conn->lim.max_header_list_size);
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
		h.lim.max_resets = 4;
		h.lim.max_control_frames = 8;
		h.lim.max_header_list_size = 256;
		h.lim.max_concurrent_streams = 3;
	} else {
		/* The daemon's defaults (common/conf.c). */
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
