/*
 * bodybuf.c: a buffered request body, in memory then in a temporary file.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "worker/bodybuf.h"

void
bodybuf_init(struct bodybuf *bb)
{
	bb->mem = NULL;
	bb->mem_cap = 0;
	bb->fd = -1;
	bb->len = 0;
}

/* Write all of p[0..n) at off.  0, or -1 with errno set. */
static int
write_all(int fd, const char *p, size_t n, uint64_t off)
{
	ssize_t	 w;

	while (n > 0) {
		w = pwrite(fd, p, n, (off_t)off);
		if (w == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (w == 0) {
			errno = ENOSPC;
			return -1;
		}
		p += w;
		n -= (size_t)w;
		off += (uint64_t)w;
	}
	return 0;
}

/*
 * A file in dir that no name refers to: O_TMPFILE where the file system
 * has it, else mkstemp and unlink.  The fd, or -1 with errno set.
 */
static int
tmpfile_open(const char *dir)
{
	char	 path[PATH_MAX];
	int	 fd, saved;

#ifdef O_TMPFILE
	fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd != -1)
		return fd;
	if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL)
		return -1;
#endif
	if (snprintf(path, sizeof(path), "%s/portico-body.XXXXXX", dir) >=
	    (int)sizeof(path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if ((fd = mkostemp(path, O_CLOEXEC)) == -1)
		return -1;
	if (unlink(path) == -1) {
		saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	return fd;
}

int
bodybuf_append(struct bodybuf *bb, const char *dir, size_t mem_max,
    const void *p, size_t n)
{
	size_t	 cap;
	char	*m;

	if (n == 0)
		return 0;
	if (bb->fd == -1 && bb->len + n <= mem_max) {
		if (bb->len + n > bb->mem_cap) {
			cap = bb->mem_cap ? bb->mem_cap : 4096;
			while (cap < bb->len + n)
				cap *= 2;
			if (cap > mem_max)
				cap = mem_max;
			if ((m = realloc(bb->mem, cap)) == NULL)
				return -1;
			bb->mem = m;
			bb->mem_cap = cap;
		}
		memcpy(bb->mem + bb->len, p, n);
		bb->len += n;
		return 0;
	}
	if (bb->fd == -1) {
		/* Over the memory size: move to a file. */
		if ((bb->fd = tmpfile_open(dir)) == -1)
			return -1;
		if (bb->len > 0 && write_all(bb->fd, bb->mem, bb->len, 0) == -1)
			return -1;
		free(bb->mem);
		bb->mem = NULL;
		bb->mem_cap = 0;
	}
	if (write_all(bb->fd, p, n, bb->len) == -1)
		return -1;
	bb->len += n;
	return 0;
}

ssize_t
bodybuf_read(struct bodybuf *bb, uint64_t off, void *dst, size_t n)
{
	ssize_t	 r;

	if (off >= bb->len)
		return 0;
	if (n > bb->len - off)
		n = (size_t)(bb->len - off);
	if (bb->fd == -1) {
		memcpy(dst, bb->mem + off, n);
		return (ssize_t)n;
	}
	do
		r = pread(bb->fd, dst, n, (off_t)off);
	while (r == -1 && errno == EINTR);
	if (r == 0) {
		errno = EIO;	/* the file is shorter than what was written */
		return -1;
	}
	return r;
}

void
bodybuf_free(struct bodybuf *bb)
{
	free(bb->mem);
	if (bb->fd != -1)
		close(bb->fd);
	bodybuf_init(bb);
}
