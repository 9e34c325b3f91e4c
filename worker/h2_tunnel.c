/*
 * h2_tunnel.c: WebSocket over HTTP/2 (RFC 8441, extended CONNECT).  The
 * server announces SETTINGS_ENABLE_CONNECT_PROTOCOL (h2.c); a stream
 * whose :method is CONNECT and whose :protocol names what the route lets
 * upgrade (websocket = on, or upgrade_allow) goes upstream as the
 * HTTP/1.1 upgrade it stands for: GET with Upgrade, Connection: upgrade
 * and, for websocket, a Sec-WebSocket-Key of portico's (the client's
 * Sec-WebSocket-Version, -Protocol and -Extensions pass as they are).
 * The backend's 101, its Sec-WebSocket-Accept checked against that key,
 * is answered :status 200 (tunnel.c's tunnel_begin), and the stream is a
 * tunnel from then on: tunnel.c's step moves the bytes, reading the
 * client's DATA from the stream's buffer here (the stream window opens
 * again as they go upstream) and writing the backend's as DATA through
 * h2_ops.send (a full stream buffer holds the backend back); the
 * backend's close is END_STREAM, the client's END_STREAM the backend's
 * FIN, its RST_STREAM the end of both.
 */
#include "config.h"

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <nghttp2/nghttp2.h>

#include "common/http.h"
#include "common/strbuf.h"
#include "worker/h2.h"
#include "worker/proxy_int.h"

static const char	 ws_guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

static int
proto_is_websocket(const struct h2_stream *s)
{
	return s->x_len == 9 && http_lc_eq(s->hd + s->x_off, "websocket", 9);
}

/*
 * The fields an extended CONNECT adds to its HTTP/1.1 head: the upgrade
 * asked for, and for websocket a fresh key.  Returns 0, or -1.
 */
int
h2_tunnel_head(struct h2_stream *s, struct strbuf *sb)
{
	unsigned char	 raw[16];

	strbuf_field(sb, "Upgrade", 7, s->hd + s->x_off, s->x_len);
	strbuf_str(sb, "Connection: upgrade\r\n");
	s->wskey[0] = '\0';
	if (!proto_is_websocket(s))
		return 0;
	if (RAND_bytes(raw, sizeof(raw)) != 1)
		return -1;
	EVP_EncodeBlock((unsigned char *)s->wskey, raw, sizeof(raw));
	strbuf_str(sb, "Sec-WebSocket-Key: ");
	strbuf_str(sb, s->wskey);
	strbuf_str(sb, "\r\n");
	return 0;
}

/*
 * Whether the backend's 101 accepts the key portico sent (RFC 6455
 * 4.2.2): base64(SHA-1(key GUID)).  A stream with no key passes.
 */
int
h2_tunnel_accept_ok(const struct h2_stream *s, const struct http_response *rs)
{
	const struct http_header	*h;
	unsigned char			 in[24 + sizeof(ws_guid)], md[SHA_DIGEST_LENGTH];
	char				 want[32];
	const char			*v, *e;
	size_t				 i;

	if (s->wskey[0] == '\0')
		return 1;
	memcpy(in, s->wskey, 24);
	memcpy(in + 24, ws_guid, sizeof(ws_guid) - 1);
	SHA1(in, 24 + sizeof(ws_guid) - 1, md);
	EVP_EncodeBlock((unsigned char *)want, md, sizeof(md));
	for (i = 0; i < rs->nheaders; i++) {
		h = &rs->headers[i];
		if (h->name_len != 20 || !http_name_eq(h, "sec-websocket-accept"))
			continue;
		v = h->value;
		e = v + h->value_len;
		while (v < e && (*v == ' ' || *v == '\t'))
			v++;
		while (e > v && (e[-1] == ' ' || e[-1] == '\t'))
			e--;
		return (size_t)(e - v) == strlen(want) &&
		    memcmp(v, want, e - v) == 0;
	}
	return 0;
}

/* The 200 is on its way: the stream carries the tunnel's bytes. */
void
h2_tunnel_begin(struct client *c)
{
	c->h2s->tunnel = 1;
}

/*
 * The tunnel reads what the client sent (tunnel.c, as cl_read): DATA
 * bytes, whose window opens again as they are taken.  0 after
 * END_STREAM; -1 with EAGAIN when none are in yet.
 */
ssize_t
h2_tunnel_read(struct client *c, void *buf, size_t len)
{
	struct h2_stream	*s = c->h2s;
	size_t			 k = s->rb_end - s->rb_pos;

	if (k == 0) {
		if (s->in_eof)
			return 0;
		if (s->reset || s->closed || s->conn->closing) {
			errno = ECONNRESET;
			return -1;
		}
		errno = EAGAIN;
		return -1;
	}
	if (k > len)
		k = len;
	memcpy(buf, s->rb + s->rb_pos, k);
	s->rb_pos += k;
	if (s->rb_pos == s->rb_end)
		s->rb_pos = s->rb_end = 0;
	nghttp2_session_consume(s->conn->s, s->id, k);
	h2_kick(s->conn);
	return (ssize_t)k;
}

/*
 * The backend closed and all it sent is in the stream's buffer: the
 * answer ends there (END_STREAM).  The client's DATA still go upstream
 * until its own END_STREAM.
 */
void
h2_tunnel_shut(struct client *c)
{
	struct h2_stream	*s = c->h2s;

	s->done = 1;
	s->out_eof = 1;
	if (s->deferred && !s->reset && !s->closed && !s->conn->closing) {
		s->deferred = 0;
		nghttp2_session_resume_data(s->conn->s, s->id);
	}
	h2_kick(s->conn);
}
