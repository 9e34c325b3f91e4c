/*
 * event.c: epoll, the timer heap and the clock.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "worker/event.h"

#define EV_BATCH	256

uint64_t	 ev_now;
time_t		 ev_wall;

static int		 epfd = -1;
static struct ev_timer	**heap;
static int		 nheap, heapcap;

static void	 heap_up(int);
static void	 heap_down(int);
static void	 heap_push(struct ev_timer *, uint64_t);
static void	 heap_remove(struct ev_timer *);
static void	 timers_run(void);
static int	 timers_wait(int);

int
ev_init(void)
{
	epfd = epoll_create1(EPOLL_CLOEXEC);
	if (epfd == -1)
		return -1;
	ev_update_time();
	return 0;
}

void
ev_fini(void)
{
	if (epfd != -1)
		close(epfd);
	epfd = -1;
	free(heap);
	heap = NULL;
	nheap = heapcap = 0;
}

void
ev_update_time(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ev_now = (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	ev_wall = time(NULL);
}

int
ev_add(struct ev_io *io)
{
	struct epoll_event	 ee;

	memset(&ee, 0, sizeof(ee));
	ee.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
	ee.data.ptr = io;
	return epoll_ctl(epfd, EPOLL_CTL_ADD, io->fd, &ee);
}

/*
 * Listening sockets are shared by all workers.  EPOLLEXCLUSIVE wakes one
 * waiting worker per new connection instead of all of them.
 */
int
ev_add_listener(struct ev_io *io)
{
	struct epoll_event	 ee;

	memset(&ee, 0, sizeof(ee));
	ee.events = EPOLLIN | EPOLLEXCLUSIVE;
	ee.data.ptr = io;
	return epoll_ctl(epfd, EPOLL_CTL_ADD, io->fd, &ee);
}

void
ev_del(struct ev_io *io)
{
	if (io->fd != -1)
		(void)epoll_ctl(epfd, EPOLL_CTL_DEL, io->fd, NULL);
}

void
ev_timer_init(struct ev_timer *t, ev_timer_cb cb)
{
	t->deadline = 0;
	t->queued = 0;
	t->idx = -1;
	t->cb = cb;
}

/*
 * Set the deadline.  A later deadline than the queued one is only
 * remembered; an earlier one moves the timer in the heap.
 */
void
ev_timer_set(struct ev_timer *t, uint64_t deadline)
{
	t->deadline = deadline;
	if (t->idx != -1) {
		if (deadline >= t->queued)
			return;
		heap_remove(t);
	}
	heap_push(t, deadline);
}

void
ev_timer_cancel(struct ev_timer *t)
{
	t->deadline = 0;
	if (t->idx != -1)
		heap_remove(t);
}

static void
heap_swap(int a, int b)
{
	struct ev_timer	*t = heap[a];

	heap[a] = heap[b];
	heap[b] = t;
	heap[a]->idx = a;
	heap[b]->idx = b;
}

static void
heap_up(int i)
{
	while (i > 0 && heap[(i - 1) / 2]->queued > heap[i]->queued) {
		heap_swap(i, (i - 1) / 2);
		i = (i - 1) / 2;
	}
}

static void
heap_down(int i)
{
	int	 l, r, m;

	for (;;) {
		l = 2 * i + 1;
		r = l + 1;
		m = i;
		if (l < nheap && heap[l]->queued < heap[m]->queued)
			m = l;
		if (r < nheap && heap[r]->queued < heap[m]->queued)
			m = r;
		if (m == i)
			return;
		heap_swap(i, m);
		i = m;
	}
}

static void
heap_push(struct ev_timer *t, uint64_t when)
{
	struct ev_timer	**n;
	int		  ncap;

	if (nheap == heapcap) {
		ncap = heapcap ? heapcap * 2 : 1024;
		n = realloc(heap, ncap * sizeof(*n));
		if (n == NULL)
			fatalx("out of memory for timers");
		heap = n;
		heapcap = ncap;
	}
	t->queued = when;
	t->idx = nheap;
	heap[nheap++] = t;
	heap_up(t->idx);
}

static void
heap_remove(struct ev_timer *t)
{
	int	 i = t->idx;

	t->idx = -1;
	nheap--;
	if (i == nheap)
		return;
	heap[i] = heap[nheap];
	heap[i]->idx = i;
	heap_up(i);
	heap_down(heap[i]->idx);
}

/* Fire every timer whose deadline has passed; requeue moved ones. */
static void
timers_run(void)
{
	struct ev_timer	*t;

	while (nheap > 0 && heap[0]->queued <= ev_now) {
		t = heap[0];
		heap_remove(t);
		if (t->deadline == 0)
			continue;
		if (t->deadline > ev_now) {
			heap_push(t, t->deadline);
			continue;
		}
		t->deadline = 0;
		t->cb(t);
	}
}

static int
timers_wait(int max_wait)
{
	uint64_t	 d;

	if (nheap == 0)
		return max_wait;
	d = heap[0]->queued > ev_now ? heap[0]->queued - ev_now : 0;
	if (max_wait >= 0 && d > (uint64_t)max_wait)
		return max_wait;
	return d > 60000 ? 60000 : (int)d;
}

void
ev_run_once(int max_wait)
{
	struct epoll_event	 evs[EV_BATCH];
	struct ev_io		*io;
	int			 n, i;

	n = epoll_wait(epfd, evs, EV_BATCH, timers_wait(max_wait));
	ev_update_time();
	if (n == -1) {
		if (errno != EINTR)
			log_error("epoll_wait");
		n = 0;
	}
	for (i = 0; i < n; i++) {
		io = evs[i].data.ptr;
		if (io->fd == -1)
			continue;
		io->cb(io, evs[i].events);
	}
	timers_run();
}
