/*
 * hitfile.h: large cache hits sent by reference, with sendfile(2) from
 * the cache region's memfd, to plain HTTP/1 clients.
 */
#ifndef PORTICO_HITFILE_H
#define PORTICO_HITFILE_H

struct client;
struct req;

/*
 * Bodies shorter than this go through the copy path (as splice.h's
 * SPLICE_MIN_LENGTH): one writev of head and body is cheaper for them.
 */
#define HITFILE_MIN_LENGTH	(16 * 1024)

/* At the worker's start: whether its cache may be sent by reference. */
void	 hitfile_init(void);
/* Whether the hit being answered (pinned, r->coff..r->cend) goes by sendfile. */
int	 hitfile_wanted(const struct client *c, const struct req *r);
/*
 * Send what is left of r->hb, then object bytes by sendfile, until it
 * would block or r->cend.  1: progress (or done), 0: it would block
 * (wr_ready cleared), -1: the client is gone, -2: the object changed.
 */
int	 hitfile_send(struct client *c);

#endif /* PORTICO_HITFILE_H */
