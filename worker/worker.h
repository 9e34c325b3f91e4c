/*
 * worker.h: one worker process: its event loop, its listeners, its
 * signals and its access log.  The master calls worker_main() in the
 * child right after fork(); it never returns.
 */
#ifndef PORTICO_WORKER_H
#define PORTICO_WORKER_H

#include <stddef.h>
#include "common/conf.h"
#include "common/shm.h"

/* Exit status for an error that a respawn cannot fix (master: do not retry). */
#define WORKER_EXIT_FATAL	2

struct worker_ctx {
	struct conf		*conf;
	struct shm_stats	*stats;		/* this worker's slot */
	int			 slot;
	int			 quitting;	/* graceful shutdown under way */
};

extern struct worker_ctx	 worker;

void	worker_main(struct conf *conf, struct shm_header *shm, int slot)
	    __attribute__((noreturn));
/* Append one line (with its newline) to the access log buffer. */
void	worker_access_log(const char *line, size_t len);
int	worker_access_log_enabled(void);

#endif /* PORTICO_WORKER_H */
