/*
 * proc.h: the interface between the master and the worker processes it
 * forks.  The master knows a worker only through this header: what to
 * call in the child, and what its exit status means.
 */
#ifndef PORTICO_PROC_H
#define PORTICO_PROC_H

#include <sys/types.h>
#include <signal.h>
#include <stdint.h>

#include "common/cache.h"
#include "common/conf.h"
#include "common/shm.h"

/* Exit status of a worker whose error a restart cannot fix: not respawned. */
#define WORKER_EXIT_FATAL	2

/*
 * The worker's entry point, called in the child right after fork():
 * conf is the configuration it serves, slot its counters in shm,
 * cache the response cache region (NULL when no route caches),
 * master_pid the parent it must not outlive.  It never returns.
 */
void	worker_main(struct conf *conf, struct shm_header *shm, struct cache *cache,
	    int slot, pid_t master_pid) __attribute__((noreturn));

/*
 * Readiness.  While the master starts a generation of workers, each of
 * them inherits the write end of a pipe in proc_ready_fd (-1 otherwise):
 * an error it logs goes there as a line "E message", and once it is up
 * (privileges dropped, listeners in its event loop) it writes the line
 * "R" with proc_ready() and closes the pipe.  The master waits for one
 * "R" per worker before it retires the previous generation.
 */
extern int	proc_ready_fd;
#define PROC_REPORT_PREFIX	"E "
/* In a worker: say it is up, and stop copying errors to the master. */
void		proc_ready(void);
/*
 * The same on any such report pipe (the daemon's to the shell that
 * started it too): stop copying errors to it, write "R", close *fd and
 * set it to -1.  Nothing when *fd is -1.
 */
void		proc_report_ready(int *fd);
/* Change to the user and group resolved by conf_check(), if any.  -1 on error. */
int		proc_drop_privileges(const struct conf *conf);

/* Milliseconds on the monotonic clock (the same in every process). */
uint64_t	proc_now_ms(void);
/* Block the signals a child takes through a signalfd; set gets them. */
void		proc_block_signals(sigset_t *set);

#endif /* PORTICO_PROC_H */
