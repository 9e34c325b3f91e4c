/*
 * h2_data.c: a DATA source's read callback drains a buffer the same way
 * on both HTTP/2 sides (the answer to a client, h2_stream.c; a request
 * to a server, up_h2_msg.c), and trailer fields kept as field lines
 * ("name: value\r\n") go out the same way as a trailing HEADERS frame
 * (an answer's grpc-status; a request's trailers).
 */
#include "config.h"

#include <ctype.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "worker/h2_data.h"

/*
 * Copy what b[*pos, *end) holds, up to len bytes, into nghttp2's buf.
 * Once the buffer is empty: the end of the data (NGHTTP2_DATA_FLAG_EOF
 * in *flags) when eof, else, when nothing was copied, the source waits
 * (NGHTTP2_ERR_DEFERRED; the caller resumes it when bytes come).
 * Returns the bytes copied or NGHTTP2_ERR_DEFERRED.
 */
ssize_t
h2_data_drain(uint8_t *buf, size_t len, const char *b, uint32_t *pos,
    uint32_t *end, int eof, uint32_t *flags)
{
	size_t	 n = *end - *pos;

	if (n > len)
		n = len;
	if (n > 0) {
		memcpy(buf, b + *pos, n);
		*pos += (uint32_t)n;
	}
	if (*pos == *end) {
		*pos = *end = 0;
		if (eof)
			*flags |= NGHTTP2_DATA_FLAG_EOF;
		else if (n == 0)
			return NGHTTP2_ERR_DEFERRED;
	}
	return (ssize_t)n;
}

/* Fields of HTTP/1 connection management that HTTP/2 must not carry. */
int
h2_hop_field(const char *n, size_t len)
{
	static const char *const hop[] = { "connection", "keep-alive",
	    "proxy-connection", "transfer-encoding", "upgrade", "te",
	    "http2-settings" };
	size_t	 i;

	for (i = 0; i < sizeof(hop) / sizeof(hop[0]); i++)
		if (strlen(hop[i]) == len && strncasecmp(hop[i], n, len) == 0)
			return 1;
	return 0;
}

/*
 * Submit the field lines p, n (lowercased in place) as the trailers of
 * stream id.  0, or -1 (none to send, or nghttp2 refused them: the
 * stream then just ends with its last DATA).
 */
int
h2_trailers_submit(nghttp2_session *ss, int32_t id, char *p, size_t n)
{
	nghttp2_nv	 tnv[64];
	size_t		 k = 0, nl, j;
	char		*e = p + n, *colon, *eol, *ve;

	while (p < e && k < sizeof(tnv) / sizeof(tnv[0])) {
		if ((eol = memmem(p, (size_t)(e - p), "\r\n", 2)) == NULL ||
		    (colon = memchr(p, ':', (size_t)(eol - p))) == NULL)
			break;
		nl = (size_t)(colon - p);
		for (j = 0; j < nl; j++)
			p[j] = (char)tolower((unsigned char)p[j]);
		colon++;
		while (colon < eol && (*colon == ' ' || *colon == '\t'))
			colon++;
		ve = eol;	/* no trailing white space (RFC 9110 5.5) */
		while (ve > colon && (ve[-1] == ' ' || ve[-1] == '\t'))
			ve--;
		/*
		 * Not in trailers: an empty or pseudo name, and what frames
		 * or routes the message (RFC 9110 6.5.1).
		 */
		if (nl > 0 && p[0] != ':' && !h2_hop_field(p, nl) &&
		    !(nl == 14 && memcmp(p, "content-length", 14) == 0) &&
		    !(nl == 4 && memcmp(p, "host", 4) == 0)) {
			tnv[k].name = (uint8_t *)p;
			tnv[k].namelen = nl;
			tnv[k].value = (uint8_t *)colon;
			tnv[k].valuelen = (size_t)(ve - colon);
			tnv[k++].flags = NGHTTP2_NV_FLAG_NONE;
		}
		p = eol + 2;
	}
	return k > 0 && nghttp2_submit_trailer(ss, id, tnv, k) == 0 ? 0 : -1;
}
