/*
 * event.h: the worker's event loop: one epoll set, a timer heap and a
 * cached clock.
 *
 * File descriptors are registered once, edge-triggered, for both
 * directions; the owner remembers readiness and works until EAGAIN.  That
 * keeps epoll_ctl off the request path.
 *
 * Timers are lazy: ev_timer_set() to a later time than the one queued only
 * stores the new deadline; when the queued time comes, the timer is
 * re-queued if its deadline moved.  Pushing a deadline forward on every
 * read is therefore a store, not a heap operation.
 */
#ifndef PORTICO_EVENT_H
#define PORTICO_EVENT_H

#include <stdint.h>
#include <time.h>

struct ev_io;
typedef void	(*ev_io_cb)(struct ev_io *io, uint32_t events);

struct ev_io {
	int		 fd;
	ev_io_cb	 cb;
};

struct ev_timer;
typedef void	(*ev_timer_cb)(struct ev_timer *t);

struct ev_timer {
	uint64_t	 deadline;	/* ms, monotonic; 0 = not set */
	uint64_t	 queued;	/* the time it sits in the heap with */
	int		 idx;		/* heap index, -1 when not queued */
	ev_timer_cb	 cb;
};

/* Milliseconds on the monotonic clock, read once per loop turn. */
extern uint64_t	 ev_now;
/* Seconds since the epoch, same turn. */
extern time_t	 ev_wall;

int	ev_init(void);
void	ev_fini(void);
/* Register fd edge-triggered for in, out, rdhup.  -1 on error. */
int	ev_add(struct ev_io *io);
/* Register fd level-triggered for input only (listeners; exclusive). */
int	ev_add_listener(struct ev_io *io);
void	ev_del(struct ev_io *io);
void	ev_timer_init(struct ev_timer *t, ev_timer_cb cb);
void	ev_timer_set(struct ev_timer *t, uint64_t deadline);
void	ev_timer_cancel(struct ev_timer *t);
/* Wait for events (at most max_wait ms, -1 forever) and dispatch them. */
void	ev_run_once(int max_wait);
/* Refresh ev_now and ev_wall. */
void	ev_update_time(void);

#endif /* PORTICO_EVENT_H */
