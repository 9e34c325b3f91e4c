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

static int	 ck_size(struct http_chunked *, unsigned);
static int	 ck_ext(int, unsigned);
static int	 ck_crlf(struct http_chunked *, int, unsigned);
static int	 ck_trailer(int, unsigned);

void
http_chunked_init(struct http_chunked *ck)
{
	memset(ck, 0, sizeof(*ck));
	ck->state = CK_SIZE;
}

/*
 * One byte in state CK_SIZE: a hex digit of the chunk-size, or what ends
 * it (CR, ";" or a blank, once there is a digit).  Returns the next
 * state, CK_ERROR on a syntax error or a size over 64 bits.
 */
static int
ck_size(struct http_chunked *ck, unsigned c)
{
	unsigned	 x;

	if ((x = http_hexval[c]) != 0) {
		/* Leading zeros are valid; 16 digits fill 64 bits. */
		if (x == 1 && ck->remaining == 0 && ck->nsize > 0)
			ck->padding++;	/* a second leading zero */
		ck->nsize++;
		if (ck->remaining >> 60 != 0)
			return CK_ERROR;
		ck->remaining = ck->remaining << 4 | (x - 1);
		return CK_SIZE;
	}
	if (ck->nsize == 0)
		return CK_ERROR;
	if (c == '\r')
		return CK_SIZE_LF;
	if (c == ';')
		return CK_EXT_NAME0;
	if (IS_WS(c))
		return CK_SIZE_WS;
	return CK_ERROR;
}

/*
 * One byte after the chunk-size and before the CR of its line, states
 * CK_SIZE_WS to CK_EXT_QS_END: blanks and chunk extensions (RFC 9112
 * 7.1.1), names and token or quoted-string values.  Returns the next
 * state, CK_ERROR on a syntax error.
 */
static int
ck_ext(int s, unsigned c)
{
	switch (s) {
	case CK_SIZE_WS:
	case CK_EXT_NAME_WS:
	case CK_EXT_VAL_WS:
		if (IS_WS(c))
			return s;
		if (c == ';')
			return CK_EXT_NAME0;
		if (c == '=' && s == CK_EXT_NAME_WS)
			return CK_EXT_VAL0;
		return CK_ERROR;
	case CK_EXT_NAME0:
		if (IS_WS(c))
			return s;
		return http_tchar[c] ? CK_EXT_NAME : CK_ERROR;
	case CK_EXT_NAME:
	case CK_EXT_TOKEN:
		if (http_tchar[c])
			return s;
		if (c == '\r')
			return CK_SIZE_LF;
		if (c == ';')
			return CK_EXT_NAME0;
		if (c == '=' && s == CK_EXT_NAME)
			return CK_EXT_VAL0;
		if (IS_WS(c))
			return s == CK_EXT_NAME ? CK_EXT_NAME_WS :
			    CK_EXT_VAL_WS;
		return CK_ERROR;
	case CK_EXT_VAL0:
		if (IS_WS(c))
			return s;
		if (c == '"')
			return CK_EXT_QS;
		return http_tchar[c] ? CK_EXT_TOKEN : CK_ERROR;
	case CK_EXT_QS:
		if (c == '"')
			return CK_EXT_QS_END;
		if (c == '\\')
			return CK_EXT_QP;
		return qdtext_tab[c] ? s : CK_ERROR;
	case CK_EXT_QP:
		return http_fvchar[c] ? CK_EXT_QS : CK_ERROR;
	case CK_EXT_QS_END:
		if (c == '\r')
			return CK_SIZE_LF;
		if (c == ';')
			return CK_EXT_NAME0;
		if (IS_WS(c))
			return CK_EXT_VAL_WS;
		return CK_ERROR;
	}
	return CK_ERROR;
}

/*
 * One byte of a line end around chunk data: the LF of the chunk-size
 * line (CK_SIZE_LF: data follows, or the trailer section after the
 * last-chunk) or the CRLF after chunk-data (CK_DATA_CR, CK_DATA_LF: the
 * next chunk-size line follows).  Returns the next state, CK_ERROR on a
 * syntax error.
 */
static int
ck_crlf(struct http_chunked *ck, int s, unsigned c)
{
	switch (s) {
	case CK_SIZE_LF:
		if (c != '\n')
			return CK_ERROR;
		if (ck->remaining == 0) {
			/* last-chunk: the trailer section follows. */
			ck->trailer_len = 0;
			return CK_TR_LINE;
		}
		return CK_DATA;
	case CK_DATA_CR:
		return c == '\r' ? CK_DATA_LF : CK_ERROR;
	case CK_DATA_LF:
		if (c != '\n')
			return CK_ERROR;
		ck->nsize = 0;
		ck->line_len = 0;
		ck->remaining = 0;
		return CK_SIZE;
	}
	return CK_ERROR;
}

/*
 * One byte of the trailer section, states CK_TR_LINE to CK_TR_LF: field
 * lines (token name, ":", field-value bytes, CRLF) until the CR of the
 * empty line.  Returns the next state, CK_ERROR on a syntax error.
 */
static int
ck_trailer(int s, unsigned c)
{
	switch (s) {
	case CK_TR_LINE:
		if (c == '\r')
			return CK_END_LF;
		return http_tchar[c] ? CK_TR_NAME : CK_ERROR;
	case CK_TR_NAME:
		if (c == ':')
			return CK_TR_VALUE;
		return http_tchar[c] ? s : CK_ERROR;
	case CK_TR_VALUE:
		if (c == '\r')
			return CK_TR_LF;
		return http_fvchar[c] ? s : CK_ERROR;
	case CK_TR_LF:
		return c == '\n' ? CK_TR_LINE : CK_ERROR;
	}
	return CK_ERROR;
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
	unsigned		 c;
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
			s = ck_size(ck, c);
			break;
		case CK_SIZE_WS:
		case CK_EXT_NAME0:
		case CK_EXT_NAME:
		case CK_EXT_NAME_WS:
		case CK_EXT_VAL0:
		case CK_EXT_TOKEN:
		case CK_EXT_VAL_WS:
		case CK_EXT_QS:
		case CK_EXT_QP:
		case CK_EXT_QS_END:
			s = ck_ext(s, c);
			break;
		case CK_SIZE_LF:
		case CK_DATA_CR:
		case CK_DATA_LF:
			s = ck_crlf(ck, s, c);
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
		case CK_TR_LINE:
		case CK_TR_NAME:
		case CK_TR_VALUE:
		case CK_TR_LF:
			s = ck_trailer(s, c);
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
		if (s == CK_ERROR)
			goto bad;
	}
	ck->state = s;
	return (ssize_t)i;
 bad:
	ck->state = CK_ERROR;
	return -1;
}
