/*
 * proc.c: small things every portico process needs alike.
 */
#include "config.h"

#include <grp.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/proc.h"

int	proc_ready_fd = -1;

void
proc_ready(void)
{
	proc_report_ready(&proc_ready_fd);
}

void
proc_report_ready(int *fd)
{
	log_set_report(-1, NULL);
	if (*fd == -1)
		return;
	if (write(*fd, "R\n", 2) == -1) {
		/*
		 * The reader gave up waiting (a master sees the worker in
		 * its next reap) or is gone (the shell): nobody to tell.
		 */
	}
	close(*fd);
	*fd = -1;
}

/*
 * Give up root for the user and group conf_check() resolved.  The
 * supplementary groups go first, the uid last, so that nothing of root
 * is left.
 */
int
proc_drop_privileges(const struct conf *conf)
{
	gid_t	 gid = conf->g.gid;

	if (!conf->g.drop || geteuid() != 0)
		return 0;
	if (setgroups(1, &gid) == -1 || setgid(gid) == -1 ||
	    setuid(conf->g.uid) == -1) {
		log_error("cannot change to user %s (uid %d, gid %d)",
		    conf->g.user, (int)conf->g.uid, (int)gid);
		return -1;
	}
	return 0;
}

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
