/*
 * checker.c: the health checker process (health.c) as the master sees
 * it: started when the configuration has anything for it to do, told to
 * stop on reload and on the way out, restarted after a crash.  It is not
 * a worker and has no stats slot.  After a reload the one of the old
 * config is told to stop and is waited for among the old checkers, while
 * the new one starts.
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/log.h"
#include "common/proc.h"
#include "master/health.h"
#include "master/master_int.h"

#define MAX_OLD_CHECKERS	16
static pid_t			 checker_pid;
static pid_t			 checker_old[MAX_OLD_CHECKERS];
static struct respawn		 checker_rs;

/* Start the checker if conf has anything for it to do. */
void
checker_start(void)
{
	pid_t	 pid;

	checker_rs.pending = 0;
	if (!health_needed(master_conf, master_shm))
		return;
	checker_rs.last_start_ms = proc_now_ms();
	if ((pid = health_start(master_conf, master_shm)) == -1) {
		checker_rs.pending = 1;
		checker_rs.due_ms = proc_now_ms() + 1000;
		return;
	}
	checker_pid = pid;
}

/* Tell every checker to stop with sig; workers_reap() sees them go. */
void
checker_stop(int sig)
{
	int	 i;

	checker_rs.pending = 0;
	if (checker_pid != 0) {
		for (i = 0; i < MAX_OLD_CHECKERS; i++)
			if (checker_old[i] == 0) {
				checker_old[i] = checker_pid;
				break;
			}
		if (i == MAX_OLD_CHECKERS)
			kill(checker_pid, SIGKILL);	/* no room to wait for it */
		checker_pid = 0;
	}
	for (i = 0; i < MAX_OLD_CHECKERS; i++)
		if (checker_old[i] != 0)
			kill(checker_old[i], sig);
}

int
checker_live(void)
{
	int	 i, n = checker_pid != 0;

	for (i = 0; i < MAX_OLD_CHECKERS; i++)
		n += checker_old[i] != 0;
	return n;
}

/* On the way out: stop the checkers and wait for them, 2 s at most. */
void
checker_end(void)
{
	pid_t	 pid;
	int	 i, status, tries;

	checker_stop(SIGTERM);
	for (tries = 0; checker_live() > 0; tries++) {
		if (tries == 20)
			checker_stop(SIGKILL);
		for (i = 0; i < MAX_OLD_CHECKERS; i++) {
			if (checker_old[i] == 0)
				continue;
			pid = waitpid(checker_old[i], &status,
			    tries > 20 ? 0 : WNOHANG);
			if (pid == checker_old[i] || (pid == -1 && errno == ECHILD))
				checker_old[i] = 0;
		}
		if (checker_live() > 0)
			usleep(100000);
	}
}

/* The checker died on its own: log how, and start another one later. */
static void
checker_died(pid_t pid, int status, uint64_t now)
{
	if (WIFSIGNALED(status))
		log_warnx("checker (pid %d) killed by signal %d%s", (int)pid,
		    WTERMSIG(status), WCOREDUMP(status) ? " (core dumped)" : "");
	else
		log_warnx("checker (pid %d) exited with status %d", (int)pid,
		    WEXITSTATUS(status));
	if (WIFEXITED(status) && WEXITSTATUS(status) == HEALTH_EXIT_FATAL) {
		log_errorx("the checker hit a fatal error: not restarting it");
		return;
	}
	if (checker_rs.backoff_ms == 0)
		checker_rs.backoff_ms = 100;
	/* A checker that dies young is restarted ever more slowly. */
	if (now - checker_rs.last_start_ms < 5000) {
		checker_rs.due_ms = now + checker_rs.backoff_ms;
		checker_rs.backoff_ms = checker_rs.backoff_ms * 2 > 30000 ?
		    30000 : checker_rs.backoff_ms * 2;
	} else {
		checker_rs.due_ms = now;
		checker_rs.backoff_ms = 100;
	}
	checker_rs.pending = 1;
	if (checker_rs.due_ms > now)
		log_notice("starting a new checker in %llu ms",
		    (unsigned long long)(checker_rs.due_ms - now));
	else
		log_notice("starting a new checker");
}

/*
 * A child that is no worker was reaped: if it was a checker, log how it
 * ended and, when it died on its own, schedule another one.
 */
void
checker_reaped(pid_t pid, int status, int stopping, uint64_t now)
{
	int	 i;

	for (i = 0; i < MAX_OLD_CHECKERS; i++)
		if (checker_old[i] == pid) {
			checker_old[i] = 0;
			log_info("checker (pid %d) exited", (int)pid);
		}
	if (pid != checker_pid)
		return;
	checker_pid = 0;
	if (stopping && WIFEXITED(status) && WEXITSTATUS(status) == 0)
		log_info("checker (pid %d) exited", (int)pid);
	else if (!stopping)
		checker_died(pid, status, now);
	else
		log_warnx("checker (pid %d) ended with status 0x%x", (int)pid,
		    status);
}

/* Start the checker again if it is due at now. */
void
checker_respawn_due(uint64_t now)
{
	if (checker_rs.pending && checker_rs.due_ms <= now && checker_pid == 0)
		checker_start();
}

/* best, or sooner when a restart of the checker is due sooner. */
uint64_t
checker_due(uint64_t best)
{
	if (checker_rs.pending && checker_rs.due_ms < best)
		return checker_rs.due_ms;
	return best;
}

/* USR1: the checker reopens its log files too. */
void
checker_reopen(void)
{
	if (checker_pid != 0)
		kill(checker_pid, SIGUSR1);
}
