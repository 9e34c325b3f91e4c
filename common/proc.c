/*
 * proc.c: small things every portico process needs alike.
 */
#include "config.h"

#include <signal.h>
#include <time.h>

#include "common/proc.h"

uint64_t
proc_now_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * The signals a child of the master takes through a signalfd: block them
 * and fill set with them.
 */
void
proc_block_signals(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGQUIT);
	sigaddset(set, SIGUSR1);
	sigaddset(set, SIGHUP);
	sigaddset(set, SIGUSR2);
	sigaddset(set, SIGWINCH);
	sigprocmask(SIG_BLOCK, set, NULL);
}
