/*
 * h2_data.h: what both HTTP/2 sides (the client's, h2_stream.c, and the
 * server's, up_h2_msg.c) hand to nghttp2 the same way: DATA bytes from
 * a buffer, and trailer fields kept as field lines.
 */
#ifndef PORTICO_H2_DATA_H
#define PORTICO_H2_DATA_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <nghttp2/nghttp2.h>

ssize_t	 h2_data_drain(uint8_t *buf, size_t len, const char *b,
	    uint32_t *pos, uint32_t *end, int eof, uint32_t *flags);
int	 h2_hop_field(const char *n, size_t len);
int	 h2_trailers_submit(nghttp2_session *ss, int32_t id, char *p,
	    size_t n);

#endif /* PORTICO_H2_DATA_H */
