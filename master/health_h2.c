/*
 * health_h2.c: the HTTP health probe of a protocol = h2 upstream.  The
 * checker (health.c) connects and moves the bytes; here a fresh nghttp2
 * client session per probe makes the request (the connection preface,
 * SETTINGS and one HEADERS frame on stream 1, END_STREAM) and takes the
 * answer apart: its :status, up to HH2_BODY bytes of DATA and the end
 * of the stream.  The whole answer is then written out as HTTP/1.1 so
 * that the checker judges it as it judges any other (the status range,
 * health_body); a reset stream (or one a GOAWAY left out) fails it.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nghttp2/nghttp2.h>

#include "common/http.h"
#include "master/health_h2.h"

#define HH2_BODY	8192	/* answer body bytes kept at most */
#define HH2_OUT		16384	/* bytes the probe sends at once at most */

struct hh2 {
	nghttp2_session	*ss;
	int		 status;
	int		 ended;		/* END_STREAM on stream 1 */
	int		 full;		/* HH2_BODY bytes kept: judge on them */
	const char	*err;		/* why the probe failed, or NULL */
	char		 body[HH2_BODY];
	size_t		 blen;
	char		 out[HH2_OUT];	/* what the session sends next */
};

/*
 * Everything the session has to send, into x->out (nghttp2 hands it out
 * a frame at a time).  Its length, or -1.
 */
static ssize_t
drain(struct hh2 *x)
{
	const uint8_t	*data;
	ssize_t		 n;
	size_t		 len = 0;

	while ((n = nghttp2_session_mem_send(x->ss, &data)) > 0) {
		if ((size_t)n > HH2_OUT - len)
			return -1;
		memcpy(x->out + len, data, (size_t)n);
		len += (size_t)n;
	}
	return n < 0 ? -1 : (ssize_t)len;
}

static int
on_header(nghttp2_session *ss, const nghttp2_frame *f, const uint8_t *name,
    size_t nl, const uint8_t *value, size_t vl, uint8_t flags, void *arg)
{
	struct hh2	*x = arg;
	char		 v[4];

	(void)ss;
	(void)flags;
	if (f->hd.type != NGHTTP2_HEADERS || f->hd.stream_id != 1 ||
	    nl != 7 || memcmp(name, ":status", 7) != 0)
		return 0;
	if (vl != 3)
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	memcpy(v, value, 3);
	v[3] = '\0';
	/* A 1xx head is informational: the final one replaces it. */
	x->status = atoi(v);
	return 0;
}

static int
on_data(nghttp2_session *ss, uint8_t flags, int32_t id, const uint8_t *p,
    size_t n, void *arg)
{
	struct hh2	*x = arg;

	(void)ss;
	(void)flags;
	if (id != 1)
		return 0;
	if (n > HH2_BODY - x->blen)
		n = HH2_BODY - x->blen;
	memcpy(x->body + x->blen, p, n);
	x->blen += n;
	/*
	 * The session sends no window updates: a body past the first
	 * window would stall, so the probe is judged on what was kept.
	 */
	if (x->blen == HH2_BODY)
		x->full = 1;
	return 0;
}

static int
on_frame(nghttp2_session *ss, const nghttp2_frame *f, void *arg)
{
	struct hh2	*x = arg;

	(void)ss;
	if (f->hd.stream_id == 1 && (f->hd.flags & NGHTTP2_FLAG_END_STREAM) &&
	    (f->hd.type == NGHTTP2_HEADERS || f->hd.type == NGHTTP2_DATA))
		x->ended = 1;
	return 0;
}

static int
on_close(nghttp2_session *ss, int32_t id, uint32_t code, void *arg)
{
	struct hh2	*x = arg;

	(void)ss;
	if (id == 1 && !x->ended && x->err == NULL)
		x->err = code == NGHTTP2_REFUSED_STREAM ? "stream refused" :
		    "stream reset";
	return 0;
}

struct hh2 *
hh2_new(const char *method, const char *path, const char *authority,
    int tls, const char **out, size_t *outlen)
{
	nghttp2_session_callbacks	*cb;
	nghttp2_option			*opt;
	struct hh2			*x;
	nghttp2_nv			 nv[5];
	ssize_t				 n;
	int				 rc;
	size_t				 i;
	const char			*kv[] = { ":method", method, ":scheme",
	    tls ? "https" : "http", ":authority", authority, ":path", path, "user-agent",
	    "portico-health" };

	if ((x = calloc(1, sizeof(*x))) == NULL)
		return NULL;
	if (nghttp2_session_callbacks_new(&cb) != 0) {
		free(x);
		return NULL;
	}
	nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame);
	nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_close);
	if (nghttp2_option_new(&opt) != 0) {
		nghttp2_session_callbacks_del(cb);
		free(x);
		return NULL;
	}
	/* The checker reads what it needs and closes: no window updates. */
	nghttp2_option_set_no_auto_window_update(opt, 1);
	rc = nghttp2_session_client_new2(&x->ss, cb, x, opt);
	nghttp2_option_del(opt);
	nghttp2_session_callbacks_del(cb);
	if (rc != 0) {
		free(x);
		return NULL;
	}
	for (i = 0; i < 5; i++) {
		nv[i].name = (uint8_t *)kv[2 * i];
		nv[i].namelen = strlen(kv[2 * i]);
		nv[i].value = (uint8_t *)kv[2 * i + 1];
		nv[i].valuelen = strlen(kv[2 * i + 1]);
		nv[i].flags = NGHTTP2_NV_FLAG_NONE;
	}
	if (nghttp2_submit_settings(x->ss, NGHTTP2_FLAG_NONE, NULL, 0) != 0 ||
	    nghttp2_submit_request(x->ss, NULL, nv, 5, NULL, NULL) != 1 ||
	    (n = drain(x)) <= 0) {
		hh2_free(x);
		return NULL;
	}
	*out = x->out;
	*outlen = (size_t)n;
	return x;
}

int
hh2_recv(struct hh2 *x, const char *p, size_t n, char *buf, size_t cap,
    size_t *len, const char **out, size_t *outlen, const char **why)
{
	const char	*reason;
	ssize_t		 k;
	int		 hl;

	*outlen = 0;
	*why = NULL;
	k = nghttp2_session_mem_recv(x->ss, (const uint8_t *)p, n);
	if (k < 0) {
		*why = nghttp2_strerror((int)k);
		return -1;
	}
	if (!x->ended && x->err != NULL) {
		*why = x->err;
		return -1;
	}
	if ((k = drain(x)) < 0) {
		*why = "more to send than the probe holds";
		return -1;
	}
	if (k > 0) {
		*out = x->out;
		*outlen = (size_t)k;
	}
	if (!x->ended && !x->full)
		return 0;
	if (x->status < 200) {
		*why = "no final status";
		return -1;
	}
	reason = http_status_reason(x->status);
	hl = snprintf(buf, cap, "HTTP/1.1 %d %s\r\nContent-Length: %zu\r\n\r\n",
	    x->status, reason != NULL && *reason != '\0' ? reason : "Unknown",
	    x->blen);
	if (hl < 0 || (size_t)hl >= cap) {
		*why = "answer too large";
		return -1;
	}
	if (x->blen > cap - (size_t)hl)
		x->blen = cap - (size_t)hl;
	memcpy(buf + hl, x->body, x->blen);
	*len = (size_t)hl + x->blen;
	return 1;
}

void
hh2_free(struct hh2 *x)
{
	if (x == NULL)
		return;
	nghttp2_session_del(x->ss);
	free(x);
}
