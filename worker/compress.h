/*
 * compress.h: response compression (gzip, brotli) at the output of an
 * exchange, after the cache: what the backend sent (and the cache
 * stores) is encoded on its way to each client that accepts it, on the
 * miss path (forward.c) and the hit path (httpcache_hit.c) alike.
 */
#ifndef PORTICO_COMPRESS_H
#define PORTICO_COMPRESS_H

#include <stddef.h>
#include <stdint.h>

struct client;
struct req;
struct strbuf;
struct http_header;
enum step;

void	 compress_request(struct req *r);
int	 compress_answer(struct client *c, const struct http_header *h,
	    size_t nh, int status, int64_t length);
int	 compress_field(struct req *r, struct strbuf *b,
	    const struct http_header *h);
size_t	 compress_head_fix(struct req *r, char *h, size_t hl, size_t cap);
size_t	 compress_hit(struct client *c, char *h, size_t hl, size_t cap,
	    int64_t length);
void	 compress_fields(struct req *r, struct strbuf *b);
void	 compress_head_len(struct req *r, size_t n);
enum step	 compress_end(struct client *c);
void	 compress_free(struct req *r);

#endif /* PORTICO_COMPRESS_H */
