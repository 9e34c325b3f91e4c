/*
 * h2_frames.c: frames in, stream events out.  The nghttp2 server
 * session of an HTTP/2 connection (worker/h2.h) and its callbacks: a
 * request's HEADERS begin a stream (h2_stream_new), its fields go to
 * h2_stream_field, its end of head to h2_stream_ready, DATA to
 * h2_stream_data, END_STREAM and trailers wake the stream
 * (h2_stream_wake), its close or reset ends it (h2_stream_gone); and the
 * limits against abuse that h2.c's comment lists (rapid reset, control
 * frame and CONTINUATION floods, the header list size), whose violation
 * ends the connection with GOAWAY.  It reads no socket and knows no
 * client: h2.c feeds it (h2_frames_recv) and writes what the session
 * has to send; t/fuzz/fuzz_h2.c links it alone with a fake of the
 * stream side.
 */
#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <nghttp2/nghttp2.h>

#include "common/log.h"
#include "worker/event.h"
#include "worker/h2.h"

static nghttp2_session_callbacks	*callbacks;

/*
 * One more event of a kind a client is limited in (a bucket of max
 * tokens that refills by max/10 a second).  Returns 0, or -1 when the
 * bucket is empty: the connection is abusive.
 */
static int
bucket_take(double *level, uint64_t *last, int max)
{
	double	 drain = (double)(ev_now - *last) * max / 10000.0;

	*last = ev_now;
	*level = *level > drain ? *level - drain : 0;
	*level += 1;
	return *level > max ? -1 : 0;
}

/* A violation: the connection ends with GOAWAY code (h2_step). */
static int
h2_abuse(struct h2_conn *h, uint32_t code, const char *why)
{
	if (h->bad == 0) {
		h->bad = code;
		h->why = why;
	}
	return NGHTTP2_ERR_CALLBACK_FAILURE;
}

static int
on_begin_frame(nghttp2_session *ss, const nghttp2_frame_hd *hd, void *arg)
{
	struct h2_conn	*h = arg;
	int		 ctl = 0;

	(void)ss;
	switch (hd->type) {
	case NGHTTP2_HEADERS:
		h->conts = 0;
		break;
	case NGHTTP2_CONTINUATION:
		if (++h->conts > H2_MAX_CONTINUATIONS)
			return h2_abuse(h, NGHTTP2_ENHANCE_YOUR_CALM,
			    "CONTINUATION flood");
		break;
	case NGHTTP2_PING:
	case NGHTTP2_SETTINGS:
		ctl = (hd->flags & NGHTTP2_FLAG_ACK) == 0;
		break;
	case NGHTTP2_PRIORITY:
		ctl = 1;
		break;
	case NGHTTP2_DATA:
		ctl = hd->length == 0 && (hd->flags & NGHTTP2_FLAG_END_STREAM) == 0;
		break;
	default:
		break;
	}
	if (ctl && bucket_take(&h->ctl, &h->ctl_t,
	    h->lim.max_control_frames) == -1)
		return h2_abuse(h, NGHTTP2_ENHANCE_YOUR_CALM,
		    "control frame flood (http2_max_control_frames)");
	return 0;
}

static int
on_begin_headers(nghttp2_session *ss, const nghttp2_frame *f, void *arg)
{
	struct h2_conn		*h = arg;
	struct h2_stream	*s;

	if (f->hd.type != NGHTTP2_HEADERS ||
	    f->headers.cat != NGHTTP2_HCAT_REQUEST)
		return 0;
	if ((s = h2_stream_new(h, f->hd.stream_id)) == NULL)
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	nghttp2_session_set_stream_user_data(ss, f->hd.stream_id, s);
	return 0;
}

static int
on_header(nghttp2_session *ss, const nghttp2_frame *f, const uint8_t *name,
    size_t nlen, const uint8_t *value, size_t vlen, uint8_t flags, void *arg)
{
	struct h2_conn		*h = arg;
	struct h2_stream	*s;

	(void)flags;
	if (f->hd.type != NGHTTP2_HEADERS ||
	    (s = nghttp2_session_get_stream_user_data(ss, f->hd.stream_id)) == NULL)
		return 0;
	s->list += nlen + vlen + 32;
	if (s->list > h->lim.max_header_list_size)
		return h2_abuse(h, NGHTTP2_ENHANCE_YOUR_CALM,
		    "header list over http2_max_header_list_size");
	if (f->headers.cat != NGHTTP2_HCAT_REQUEST)
		return h2_stream_trailer(s, name, nlen, value, vlen);
	return h2_stream_field(s, name, nlen, value, vlen);
}

static int
on_frame_recv(nghttp2_session *ss, const nghttp2_frame *f, void *arg)
{
	struct h2_conn		*h = arg;
	struct h2_stream	*s;

	if (f->hd.stream_id == 0)
		return 0;
	s = nghttp2_session_get_stream_user_data(ss, f->hd.stream_id);
	if (s == NULL)
		return 0;
	switch (f->hd.type) {
	case NGHTTP2_HEADERS:
		if (f->hd.flags & NGHTTP2_FLAG_END_STREAM)
			s->in_eof = 1;
		if (f->headers.cat == NGHTTP2_HCAT_REQUEST) {
			if (h->bad)
				return 0;
			if (h2_stream_ready(s) == -1)
				nghttp2_submit_rst_stream(ss, NGHTTP2_FLAG_NONE,
				    s->id, NGHTTP2_REFUSED_STREAM);
		} else
			h2_stream_wake(s, 1, 0);
		break;
	case NGHTTP2_DATA:
		if (f->hd.flags & NGHTTP2_FLAG_END_STREAM) {
			s->in_eof = 1;
			h2_stream_wake(s, 1, 0);
		}
		break;
	case NGHTTP2_RST_STREAM:
		s->reset = 1;
		if (s->carrier != NULL && !s->done &&
		    bucket_take(&h->resets, &h->resets_t,
		    h->lim.max_resets) == -1)
			return h2_abuse(h, NGHTTP2_ENHANCE_YOUR_CALM,
			    "rapid reset (http2_max_resets)");
		break;
	default:
		break;
	}
	return 0;
}

static int
on_data(nghttp2_session *ss, uint8_t flags, int32_t id, const uint8_t *p,
    size_t n, void *arg)
{
	struct h2_stream	*s;

	(void)flags;
	(void)arg;
	s = nghttp2_session_get_stream_user_data(ss, id);
	if (s == NULL || h2_stream_data(s, p, n) == -1)
		nghttp2_session_consume(ss, id, n);	/* nobody takes it */
	return 0;
}

static int
on_stream_close(nghttp2_session *ss, int32_t id, uint32_t code, void *arg)
{
	struct h2_stream	*s;

	(void)arg;
	if ((s = nghttp2_session_get_stream_user_data(ss, id)) == NULL)
		return 0;
	s->closed = 1;
	if (code != NGHTTP2_NO_ERROR)
		s->reset = 1;
	h2_stream_gone(s);	/* its exchange ends; s is freed */
	return 0;
}

static int
on_frame_send(nghttp2_session *ss, const nghttp2_frame *f, void *arg)
{
	struct h2_conn	*h = arg;

	(void)ss;
	if (f->hd.type == NGHTTP2_GOAWAY &&
	    f->goaway.error_code != NGHTTP2_NO_ERROR)
		log_info("client %s: HTTP/2: %s: GOAWAY %s", h->ip,
		    h->why != NULL ? h->why : "protocol error",
		    nghttp2_http2_strerror(f->goaway.error_code));
	return 0;
}

static int
callbacks_init(void)
{
	nghttp2_session_callbacks	*cb;

	if (callbacks != NULL)
		return 0;
	if (nghttp2_session_callbacks_new(&cb) != 0)
		return -1;
	nghttp2_session_callbacks_set_on_begin_frame_callback(cb, on_begin_frame);
	nghttp2_session_callbacks_set_on_begin_headers_callback(cb,
	    on_begin_headers);
	nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame_recv);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data);
	nghttp2_session_callbacks_set_on_stream_close_callback(cb,
	    on_stream_close);
	nghttp2_session_callbacks_set_on_frame_send_callback(cb, on_frame_send);
	callbacks = cb;
	return 0;
}

/*
 * The session of a new connection, portico's SETTINGS queued (h->lim
 * set by the caller).  Returns 0, or -1 out of memory.
 */
int
h2_session_new(struct h2_conn *h)
{
	nghttp2_option		*opt;
	nghttp2_settings_entry	 set[4];
	int			 rc;
	int64_t			 win;

	if (callbacks_init() == -1 || nghttp2_option_new(&opt) != 0)
		return -1;
	nghttp2_option_set_no_auto_window_update(opt, 1);
	/* portico's own limits act first: these are only a backstop. */
	nghttp2_option_set_max_continuations(opt, 2 * H2_MAX_CONTINUATIONS);
	nghttp2_option_set_stream_reset_rate_limit(opt,
	    2 * (uint64_t)h->lim.max_resets, (uint64_t)h->lim.max_resets);
	rc = nghttp2_session_server_new2(&h->s, callbacks, h, opt);
	nghttp2_option_del(opt);
	if (rc != 0)
		return -1;
	set[0].settings_id = NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS;
	set[0].value = (uint32_t)h->lim.max_concurrent_streams;
	set[1].settings_id = NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE;
	set[1].value = h->lim.window;
	set[2].settings_id = NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE;
	set[2].value = (uint32_t)h->lim.max_header_list_size;
	/* Extended CONNECT, for WebSocket (RFC 8441, h2_tunnel.c). */
	set[3].settings_id = NGHTTP2_SETTINGS_ENABLE_CONNECT_PROTOCOL;
	set[3].value = 1;
	win = (int64_t)h->lim.window * h->lim.max_concurrent_streams;
	if (win > NGHTTP2_MAX_WINDOW_SIZE)
		win = NGHTTP2_MAX_WINDOW_SIZE;
	if (nghttp2_submit_settings(h->s, NGHTTP2_FLAG_NONE, set, 4) != 0 ||
	    nghttp2_session_set_local_window_size(h->s, NGHTTP2_FLAG_NONE, 0,
	    (int32_t)win) != 0) {
		nghttp2_session_del(h->s);
		h->s = NULL;
		return -1;
	}
	h->ctl_t = h->resets_t = ev_now;
	return 0;
}

/*
 * Bytes the client sent, to the session.  A violation (of the protocol,
 * or of a limit) ends the connection: GOAWAY with its code is queued,
 * and nothing more is read (h->noread).
 */
void
h2_frames_recv(struct h2_conn *h, const uint8_t *p, size_t n)
{
	ssize_t	 rv;

	rv = nghttp2_session_mem_recv(h->s, p, n);
	if (rv < 0 || h->bad) {
		if (h->bad == 0) {
			h->bad = rv == NGHTTP2_ERR_FLOODED ?
			    NGHTTP2_ENHANCE_YOUR_CALM : NGHTTP2_PROTOCOL_ERROR;
			h->why = nghttp2_strerror((int)rv);
		}
		nghttp2_session_terminate_session(h->s, h->bad);
		h->noread = 1;
	}
}
