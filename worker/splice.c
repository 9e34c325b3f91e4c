/*
 * splice.c: a response body moved from the backend socket to the client
 * socket through a pipe with splice(2), as HAProxy's splice-response
 * does: the bytes never enter the worker's memory.
 *
 * Only where nothing needs them (splice_wanted): a plain HTTP/1 client,
 * a plain backend connection, a body of known length (Content-Length, at
 * least SPLICE_MIN_LENGTH), nothing stored in the cache.  The head and
 * the body bytes that came with it go through the copy path first
 * (forward.c); splice_body takes over once they are out.
 *
 * The pipes are the worker's, pooled (SPLICE_PIPES_MAX at most): an
 * exchange takes one for its body and gives it back empty (req_put); one
 * that still holds bytes (the client went away) is closed.  With none
 * free the body takes the copy path.
 *
 * One pipeful at a time: a read from the backend only into an empty
 * pipe, then writes to the client until it is empty again.  So at most a
 * pipeful is in flight per exchange, a client that does not read stops
 * the reads from its backend (backpressure through the event loop:
 * W_CL_WRITE, W_UP_READ, with the same timeouts as the copy path), and
 * an EAGAIN from the read can only be the socket's (an empty pipe always
 * has room).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "common/cache.h"
#include "common/log.h"
#include "common/shm.h"
#include "worker/bodybuf.h"
#include "worker/cachepol.h"
#include "worker/event.h"
#include "common/http.h"
#include "worker/proxy.h"
#include "worker/proxy_int.h"
#include "worker/splice.h"
#include "worker/tls.h"
#include "worker/worker.h"

struct spipe {
	int		 fd[2];		/* read end, write end */
	struct spipe	*next;		/* idle list */
};

static struct spipe	*idle_pipes;
static int		 npipes;	/* open: in use and idle */

/*
 * Nothing between the backend and the client needs the body's bytes: the
 * one place that says so.  A feature that reads or rewrites response
 * bodies (compression, inspection) adds its condition here.
 */
int
splice_wanted(const struct client *c, const struct req *r)
{
	/* The cheapest test first: most answers are small. */
	if (r->resp_left < SPLICE_MIN_LENGTH || r->resp_chunked ||
	    r->resp_eof || r->resp_done)
		return 0;
	if (r->fe != &h1_ops || client_https(c) || r->up == NULL ||
	    r->up->tls != NULL || r->up->h2s != NULL)
		return 0;
	if (r->c_store || r->c_ahead || r->c_chunk || cache_writing(&r->cw))
		return 0;
	if (r->cz != NULL)
		return 0;	/* compressed: the body goes through compress.c */
	return 1;
}

/* A pipe from the pool, or a new one; NULL when none can be had. */
static struct spipe *
spipe_get(void)
{
	struct spipe	*p;

	if ((p = idle_pipes) != NULL) {
		idle_pipes = p->next;
		return p;
	}
	if (npipes >= SPLICE_PIPES_MAX || (p = malloc(sizeof(*p))) == NULL)
		return NULL;
	if (pipe2(p->fd, O_NONBLOCK | O_CLOEXEC) == -1) {
		free(p);
		return NULL;
	}
	/* Fewer, larger moves; the default size stays if this fails. */
	(void)fcntl(p->fd[1], F_SETPIPE_SZ, SPLICE_PIPE_SIZE);
	npipes++;
	return p;
}

/* The exchange is over: its pipe back to the pool, or closed if not empty. */
void
splice_put(struct req *r)
{
	struct spipe	*p = r->sp;

	if (p == NULL)
		return;
	r->sp = NULL;
	if (r->sp_len == 0) {
		p->next = idle_pipes;
		idle_pipes = p;
		return;
	}
	close(p->fd[0]);
	close(p->fd[1]);
	free(p);
	npipes--;
}

/*
 * Move the rest of the body (r->resp_left bytes) from the backend to the
 * client.  STEP_NEXT when it is all out (r->resp_done) or the body goes
 * on through the copy path (no pipe: r->splice cleared); STEP_WAIT; or
 * how the exchange ends when a side failed (as on the copy path).
 */
enum step
splice_body(struct client *c)
{
	struct req	*r = c->r;
	struct upconn	*u = r->up;
	ssize_t		 n;
	size_t		 want;

	if (r->sp == NULL && (r->sp = spipe_get()) == NULL) {
		r->splice = 0;
		return STEP_NEXT;
	}
	for (;;) {
		if (r->sp_len > 0) {
			if (!c->wr_ready) {
				c->wait = W_CL_WRITE;
				return STEP_WAIT;
			}
			n = splice(r->sp->fd[0], NULL, c->io.fd, NULL, r->sp_len,
			    SPLICE_F_MOVE | SPLICE_F_NONBLOCK |
			    (r->resp_left > 0 ? SPLICE_F_MORE : 0));
			if (n == -1) {
				if (errno == EINTR)
					continue;
				if (errno == EAGAIN) {
					c->wr_ready = 0;
					continue;
				}
				client_close(c);	/* gone, as fe_send2 */
				return STEP_CLOSED;
			}
			r->sp_len -= n;
			r->body_bytes += n;
			shm_stat_add(&worker.stats->spliced_bytes, n);
			continue;
		}
		if (r->resp_left == 0) {
			r->resp_done = 1;
			return STEP_NEXT;
		}
		if (!u->rd_ready) {
			c->wait = W_UP_READ;
			return STEP_WAIT;
		}
		want = (size_t)r->resp_left;
		if (want > SPLICE_PIPE_SIZE)
			want = SPLICE_PIPE_SIZE;	/* (less may fit: fine) */
		n = splice(u->io.fd, NULL, r->sp->fd[1], NULL, want,
		    SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				u->rd_ready = 0;
				continue;
			}
			return upstream_broke(c, "connection reset in the "
			    "middle of the response");
		}
		if (n == 0)
			return upstream_broke(c,
			    "closed the connection in the middle of the body");
		r->sp_len += n;
		r->resp_left -= n;
	}
}
