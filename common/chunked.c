/*
 * chunked.c: the chunked transfer coding (RFC 9112 section 7.1), decoded
 * incrementally and strictly: for request bodies, backend answers and
 * health probes alike (declared in common/http.h).
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <stdint.h>
#include <string.h>

#include "common/http.h"

/* Largest trailer section accepted in a chunked body. */
#define HTTP_MAX_TRAILER	16384

/*
 * Longest chunk-size line (size, blanks, extensions, CRLF).  Extensions
 * are never forwarded; this bounds what a body can carry besides data.
 */
#define HTTP_MAX_CHUNK_LINE	4096

/* qdtext, RFC 9110 section 5.6.4. */
static const uint8_t qdtext_tab[256] = {
	['\t'] = 1, [' '] = 1, ['!'] = 1, [0x23 ... 0x5b] = 1,
	[0x5d ... 0x7e] = 1, [0x80 ... 0xff] = 1
};

#define IS_WS(c)	((c) == ' ' || (c) == '\t')

/*
 * Chunked decoding states.  The chunk extensions follow RFC 9112 section
 * 7.1.1: *( BWS ";" BWS ext-name [ BWS "=" BWS ( token / quoted-string ) ] ).
 */
enum {
	CK_SIZE = 0,	/* in chunk-size (nsize digits so far) */
	CK_SIZE_WS,	/* BWS after the size, before ";" */
	CK_EXT_NAME0,	/* after ";" (BWS, then ext-name) */
	CK_EXT_NAME,	/* in ext-name */
	CK_EXT_NAME_WS,	/* BWS after ext-name, before "=" or ";" */
	CK_EXT_VAL0,	/* after "=" (BWS, then the value) */
	CK_EXT_TOKEN,	/* in a token value */
	CK_EXT_VAL_WS,	/* BWS after a value, before ";" */
	CK_EXT_QS,	/* in a quoted-string */
	CK_EXT_QP,	/* after a backslash in a quoted-string */
	CK_EXT_QS_END,	/* after the closing quote */
	CK_SIZE_LF,	/* the LF of the chunk-size line */
	CK_DATA,	/* in chunk-data, ->remaining bytes left */
	CK_DATA_CR,	/* the CRLF after chunk-data */
	CK_DATA_LF,
	CK_TR_LINE,	/* at the start of a trailer line */
	CK_TR_NAME,	/* in a trailer field name */
	CK_TR_VALUE,	/* in a trailer field value */
	CK_TR_LF,	/* the LF of a trailer line */
	CK_END_LF,	/* the LF of the final empty line */
	CK_ERROR	/* a syntax error was found */
};

void
http_chunked_init(struct http_chunked *ck)
{
	memset(ck, 0, sizeof(*ck));
	ck->state = CK_SIZE;
}

/*
 * Consume framing bytes until chunk data is reached, then return with
 * that data: the return value is then *data_off + *data_len, the data run
 * being all the bytes of the current chunk that are in the buffer.  The
 * CRLF after the data is left for the next call.  Without data to give,
 * the whole buffer is consumed (*data_len 0), unless the end of the body
 * comes first: the body's last byte (the LF of the final empty line) is
 * then the last one consumed and ->done is set.  A return of 0 therefore
 * means len was 0 or the body is done.  After -1 every call returns -1.
 * A chunk size may have any number of leading zeros, then at most 16
 * significant hex digits; a chunk-size line (with its extensions) is at
 * most HTTP_MAX_CHUNK_LINE bytes.
 */
ssize_t
http_chunked_parse(struct http_chunked *ck, const char *buf, size_t len,
    size_t *data_off, size_t *data_len)
{
	const unsigned char	*b = (const unsigned char *)buf;
	size_t			 i = 0, n;
	unsigned		 c, x;
	int			 s = ck->state;

	*data_off = 0;
	*data_len = 0;
	if (s == CK_ERROR)
		return -1;
	if (ck->done)
		return 0;

	for (; i < len; i++) {
		c = b[i];
		if (s >= CK_TR_LINE && ++ck->trailer_len > HTTP_MAX_TRAILER)
			goto bad;
		if (s <= CK_SIZE_LF && ++ck->line_len > HTTP_MAX_CHUNK_LINE)
			goto bad;
		if (s > CK_SIZE && s < CK_SIZE_LF)
			ck->padding++;	/* blanks and extensions */
		switch (s) {
		case CK_SIZE:
			if ((x = http_hexval[c]) != 0) {
				/* Leading zeros are valid; 16 digits fill 64 bits. */
				if (x == 1 && ck->remaining == 0 && ck->nsize > 0)
					ck->padding++;	/* a second leading zero */
				ck->nsize++;
				if (ck->remaining >> 60 != 0)
					goto bad;
				ck->remaining = ck->remaining << 4 | (x - 1);
				break;
			}
			if (ck->nsize == 0)
				goto bad;
			if (c == '\r')
				s = CK_SIZE_LF;
			else if (c == ';')
				s = CK_EXT_NAME0;
			else if (IS_WS(c))
				s = CK_SIZE_WS;
			else
				goto bad;
			break;
		case CK_SIZE_WS:
		case CK_EXT_NAME_WS:
		case CK_EXT_VAL_WS:
			if (IS_WS(c))
				break;
			if (c == ';')
				s = CK_EXT_NAME0;
			else if (c == '=' && s == CK_EXT_NAME_WS)
				s = CK_EXT_VAL0;
			else
				goto bad;
			break;
		case CK_EXT_NAME0:
			if (IS_WS(c))
				break;
			if (!http_tchar[c])
				goto bad;
			s = CK_EXT_NAME;
			break;
		case CK_EXT_NAME:
		case CK_EXT_TOKEN:
			if (http_tchar[c])
				break;
			if (c == '\r')
				s = CK_SIZE_LF;
			else if (c == ';')
				s = CK_EXT_NAME0;
			else if (c == '=' && s == CK_EXT_NAME)
				s = CK_EXT_VAL0;
			else if (IS_WS(c))
				s = s == CK_EXT_NAME ? CK_EXT_NAME_WS :
				    CK_EXT_VAL_WS;
			else
				goto bad;
			break;
		case CK_EXT_VAL0:
			if (IS_WS(c))
				break;
			if (c == '"')
				s = CK_EXT_QS;
			else if (http_tchar[c])
				s = CK_EXT_TOKEN;
			else
				goto bad;
			break;
		case CK_EXT_QS:
			if (c == '"')
				s = CK_EXT_QS_END;
			else if (c == '\\')
				s = CK_EXT_QP;
			else if (!qdtext_tab[c])
				goto bad;
			break;
		case CK_EXT_QP:
			if (!http_fvchar[c])
				goto bad;
			s = CK_EXT_QS;
			break;
		case CK_EXT_QS_END:
			if (c == '\r')
				s = CK_SIZE_LF;
			else if (c == ';')
				s = CK_EXT_NAME0;
			else if (IS_WS(c))
				s = CK_EXT_VAL_WS;
			else
				goto bad;
			break;
		case CK_SIZE_LF:
			if (c != '\n')
				goto bad;
			if (ck->remaining == 0) {
				/* last-chunk: the trailer section follows. */
				s = CK_TR_LINE;
				ck->trailer_len = 0;
				break;
			}
			s = CK_DATA;
			break;
		case CK_DATA:
			n = len - i;
			if (n > ck->remaining)
				n = (size_t)ck->remaining;
			ck->remaining -= n;
			if (ck->remaining == 0)
				s = CK_DATA_CR;
			*data_off = i;
			*data_len = n;
			ck->state = s;
			return (ssize_t)(i + n);
		case CK_DATA_CR:
			if (c != '\r')
				goto bad;
			s = CK_DATA_LF;
			break;
		case CK_DATA_LF:
			if (c != '\n')
				goto bad;
			s = CK_SIZE;
			ck->nsize = 0;
			ck->line_len = 0;
			ck->remaining = 0;
			break;
		case CK_TR_LINE:
			if (c == '\r')
				s = CK_END_LF;
			else if (http_tchar[c])
				s = CK_TR_NAME;
			else
				goto bad;
			break;
		case CK_TR_NAME:
			if (c == ':')
				s = CK_TR_VALUE;
			else if (!http_tchar[c])
				goto bad;
			break;
		case CK_TR_VALUE:
			if (c == '\r')
				s = CK_TR_LF;
			else if (!http_fvchar[c])
				goto bad;
			break;
		case CK_TR_LF:
			if (c != '\n')
				goto bad;
			s = CK_TR_LINE;
			break;
		case CK_END_LF:
			if (c != '\n')
				goto bad;
			ck->state = s;
			ck->done = 1;
			return (ssize_t)(i + 1);
		default:
			goto bad;
		}
	}
	ck->state = s;
	return (ssize_t)i;
 bad:
	ck->state = CK_ERROR;
	return -1;
}
