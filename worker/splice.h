/*
 * splice.h: response bodies from the backend socket to the client socket
 * through a pipe (splice(2)), with no copy through user space, when
 * nothing in portico needs the bytes.
 */
#ifndef PORTICO_SPLICE_H
#define PORTICO_SPLICE_H

#include <stdint.h>

struct client;
struct req;
struct spipe;
enum step;

/*
 * Bodies shorter than this (their Content-Length) go through the copy
 * path: for them the pipe's two extra syscalls cost more than the copy.
 */
#define SPLICE_MIN_LENGTH	(16 * 1024)
/* The bytes a pipe holds at most (F_SETPIPE_SZ; Linux's default is 64 KiB). */
#define SPLICE_PIPE_SIZE	(256 * 1024)
/* Pipes one worker has at most (in use and idle together). */
#define SPLICE_PIPES_MAX	64

int		 splice_wanted(const struct client *c, const struct req *r);
enum step	 splice_body(struct client *c);
void		 splice_put(struct req *r);

#endif /* PORTICO_SPLICE_H */
