/*
 * worker.h: one worker process: its event loop, its listeners, its
 * signals and its access log.  Its entry point, worker_main(), is
 * declared in common/proc.h, the one header the master shares with it.
 */
#ifndef PORTICO_WORKER_H
#define PORTICO_WORKER_H

#include <stddef.h>
#include "common/conf.h"
#include "common/proc.h"
#include "common/shm.h"

struct worker_ctx {
	struct conf		*conf;
	struct shm_header	*shm;
	struct shm_stats	*stats;		/* this worker's slot */
	struct cache		*cache;		/* response cache, NULL: none */
	int			 slot;
	int			 quitting;	/* graceful shutdown under way */
};

extern struct worker_ctx	 worker;

/*
 * Stop accepting on every listener for ms milliseconds (out of file
 * descriptors), or until worker_accept_resume(), which a closing
 * connection calls.  Both do nothing when there is nothing to do.
 */
void	worker_accept_pause(uint64_t ms);
void	worker_accept_resume(void);

/* Append one line (with its newline) to the access log buffer. */
int	worker_access_log_enabled(void);

#endif /* PORTICO_WORKER_H */
