/*
 * bodybuf.h: a request body held whole before it is forwarded (request
 * buffering): in memory up to a size, then in an unlinked temporary file.
 *
 * The file is written and read with plain pwrite/pread in the event loop,
 * as nginx does with its client body temp files: writes of a few KiB to a
 * local file do not wait on the network.
 */
#ifndef PORTICO_BODYBUF_H
#define PORTICO_BODYBUF_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct bodybuf {
	char		*mem;		/* NULL until the first byte */
	size_t		 mem_cap;
	int		 fd;		/* -1: the body is all in mem */
	uint64_t	 len;		/* bytes stored */
};

void	bodybuf_init(struct bodybuf *bb);
/*
 * Append p[0..n): in memory while the body fits mem_max bytes, else in a
 * temporary file created in dir (opened with O_TMPFILE, or mkstemp and
 * unlinked at once), which then takes the bytes held in memory too.
 * Returns 0, or -1 with errno set.
 */
int	bodybuf_append(struct bodybuf *bb, const char *dir, size_t mem_max,
	    const void *p, size_t n);
/* Copy up to n bytes from offset off into dst.  Bytes copied, or -1. */
ssize_t	bodybuf_read(struct bodybuf *bb, uint64_t off, void *dst, size_t n);
/* Free the memory and close (so delete) the file. */
void	bodybuf_free(struct bodybuf *bb);

#endif /* PORTICO_BODYBUF_H */
