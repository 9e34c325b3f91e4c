/*
 * master.c: the master process: start (bind, shared memory, daemon, pid
 * file, the first generation of workers), the signal loop, and the way
 * out.  What the signals do lives beside it: workers.c, checker.c,
 * reload.c, listeners.c, upgrade.c.
 *
 * All signals the master handles are blocked and taken synchronously with
 * sigtimedwait(), so nothing runs in signal context and no flag can be
 * missed between a check and a sleep.  The master never touches client
 * traffic.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/cache.h"
#include "common/log.h"
#include "common/proc.h"
#include "common/proctitle.h"
#include "common/shm.h"
#include "common/tls.h"
#include "master/master.h"
#include "master/master_int.h"
#include "master/notify.h"
#include "master/runstate.h"
#include "master/resolver.h"
#include "master/upgrade.h"

struct conf			*master_conf;
const char			*master_conf_path;
struct shm_header		*master_shm;
struct cache			*master_cache;	/* NULL: no route caches */
int				 master_startup_fd = -1; /* the daemon's report to its shell */

/*
 * Hand the log files to the worker user, so that workers can reopen
 * them.  Opened without following a symbolic link and only when it is a
 * regular file with no other name: a worker user who can write the log
 * directory must not get root's files by planting a link there.
 */
void
master_chown_logs(struct conf *c)
{
	struct stat	 st;
	const char	*path;
	size_t		 i;
	int		 fd;

	if (!c->g.drop)
		return;
	for (i = 0; i < c->g.nalog_targets; i++) {
		if (c->g.alog_targets[i].syslog_addr.len != 0)
			continue;
		path = c->g.alog_targets[i].path;
		if ((fd = conf_open_log(path)) == -1) {
			log_errorx("access log %s: %s: not handing it to %s",
			    path, conf_log_strerror(errno), c->g.user);
			continue;
		}
		if (fstat(fd, &st) == -1)
			log_warn("fstat %s", path);
		else if (!S_ISREG(st.st_mode))
			;	/* a device or a pipe: not ours to give */
		else if (st.st_nlink != 1)
			log_errorx("access log %s has more than one name: "
			    "not handing it to %s", path, c->g.user);
		else if (fchown(fd, c->g.uid, c->g.gid) == -1)
			log_warn("chown %s", path);
		close(fd);
	}
	if ((fd = log_fd()) != -1) {
		if (fstat(fd, &st) == -1)
			log_warn("fstat error log");
		else if (!S_ISREG(st.st_mode))
			;	/* a device or a pipe: not ours to give */
		else if (st.st_nlink != 1)
			log_errorx("the error log has more than one name: not "
			    "handing it to %s", c->g.user);
		else if (fchown(fd, c->g.uid, c->g.gid) == -1)
			log_warn("chown error log");
	}
}

/* Say whom the workers run as when the config did not. */
void
master_log_user(const struct conf *c)
{
	struct group	*gr;

	if (!c->g.user_default)
		return;
	gr = getgrgid(c->g.gid);
	log_notice("no user set: workers run as %s:%s (uid %d, gid %d)",
	    c->g.user, gr != NULL ? gr->gr_name : "?", (int)c->g.uid,
	    (int)c->g.gid);
}

static int
write_pid_file(const char *path)
{
	FILE	*f;

	if ((f = fopen(path, "w")) == NULL) {
		log_error("cannot write pid file %s", path);
		return -1;
	}
	fprintf(f, "%d\n", (int)getpid());
	if (fclose(f) != 0) {
		log_error("cannot write pid file %s", path);
		return -1;
	}
	return 0;
}

static void
remove_pid_file(const char *path)
{
	FILE	*f;
	int	 pid = 0;

	if ((f = fopen(path, "r")) == NULL)
		return;
	if (fscanf(f, "%d", &pid) != 1)
		pid = 0;
	fclose(f);
	if (pid == (int)getpid())
		unlink(path);
}

/*
 * Rotate the TLS session-ticket keys when tls_ticket_rotation has passed;
 * returns wait_ms, or less when the next rotation comes sooner.
 */
static long
tls_tickets_wait(long wait_ms)
{
	uint64_t	 next;

	if (tls_tickets_tick(proc_now_ms(),
	    (uint64_t)master_conf->g.tls_ticket_rotation_ms, &next))
		log_info("rotated the TLS session ticket keys");
	return (uint64_t)wait_ms > next ? (long)next : wait_ms;
}

static void
raise_fd_limit(void)
{
	struct rlimit	 rl;
	rlim_t		 want;

	want = (rlim_t)master_conf->g.worker_connections * 2 + 64;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1 || rl.rlim_cur >= want)
		return;
	rl.rlim_cur = want;
	if (rl.rlim_max < want)
		rl.rlim_max = want;
	if (setrlimit(RLIMIT_NOFILE, &rl) == 0)
		return;
	/* Not allowed past the hard limit: go as far as it lets us. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
	log_notice("open file limit is %llu, below the %llu that "
	    "worker_connections = %d asks for", (unsigned long long)rl.rlim_cur,
	    (unsigned long long)want, master_conf->g.worker_connections);
}

/*
 * The shell that started the daemon waits here until the daemon is up
 * (pid file written, listeners bound, every worker up: it writes "R")
 * or has failed (it writes its errors as "E message" lines and exits).
 */
static void __attribute__((noreturn))
daemon_parent(pid_t pid, int fd, int quiet)
{
	char	 buf[4096], *line, *nl;
	size_t	 len = 0;
	ssize_t	 n;
	int	 said = 0, status;

	for (;;) {
		n = read(fd, buf + len, sizeof(buf) - 1 - len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
		buf[len] = '\0';
		line = buf;
		while ((nl = strchr(line, '\n')) != NULL) {
			*nl = '\0';
			if (strcmp(line, "R") == 0)
				_exit(0);
			if (strncmp(line, PROC_REPORT_PREFIX,
			    strlen(PROC_REPORT_PREFIX)) == 0) {
				if (!quiet)
					fprintf(stderr, "portico: %s\n",
					    line + strlen(PROC_REPORT_PREFIX));
				said = 1;
			}
			line = nl + 1;
		}
		len = strlen(line);
		memmove(buf, line, len);
		if (len == sizeof(buf) - 1)
			len = 0;
	}
	if (!said)
		fprintf(stderr, "portico: the daemon exited while starting; "
		    "see the error log\n");
	/* Return once it is gone, not while it is still cleaning up. */
	while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
		;
	_exit(1);
}

static void
daemonize(void)
{
	pid_t	 pid;
	int	 fd, p[2];

	if (pipe2(p, O_CLOEXEC) == -1)
		fatal("pipe");
	pid = fork();
	if (pid == -1)
		fatal("fork");
	if (pid > 0) {
		close(p[1]);
		daemon_parent(pid, p[0],
		    strcmp(master_conf->g.error_log, "stderr") == 0);
	}
	close(p[0]);
	master_startup_fd = p[1];
	/* Until it is up, its errors reach the shell too. */
	if (strcmp(master_conf->g.error_log, "stderr") != 0)
		log_set_report(master_startup_fd, PROC_REPORT_PREFIX);
	if (setsid() == -1)
		fatal("setsid");
	if ((fd = open("/dev/null", O_RDWR)) != -1) {
		dup2(fd, STDIN_FILENO);
		dup2(fd, STDOUT_FILENO);
		if (log_fd() != -1 ||
		    strcmp(master_conf->g.error_log, "stderr") != 0)
			dup2(fd, STDERR_FILENO);
		if (fd > STDERR_FILENO)
			close(fd);
	}
	if (chdir("/") == -1)
		log_warn("chdir /");
}

/* The first workers; after an upgrade, the pid file once they are up. */
static int
start_first(char *why, size_t whylen)
{
	if (workers_start_generation(why, whylen) == -1)
		return -1;
	if (upgrade_inherited() &&
	    write_pid_file(master_conf->g.pid_file) == -1) {
		snprintf(why, whylen, "cannot write the pid file");
		return -1;
	}
	return 0;
}

/*
 * Open the error log, bind, map the shared regions: all that must work
 * before the daemon forks.  *foreground is set after a binary upgrade.
 * -1 when the master cannot start (the error is logged).
 */
static int
master_setup(int *foreground)
{
	char	 errbuf[512];

	if (log_open(master_conf->g.error_log, master_conf->g.log_level,
	    errbuf, sizeof(errbuf)) == -1) {
		fprintf(stderr, "portico: %s\n", errbuf);
		return -1;
	}
	/* Until it is up, every error reaches the shell too. */
	if (strcmp(master_conf->g.error_log, "stderr") != 0)
		log_set_report(STDERR_FILENO, "portico: ");
	master_log_user(master_conf);
	raise_fd_limit();
	upgrade_adopt(&master_startup_fd);
	if (upgrade_inherited()) {
		/* Its errors and readiness go to the old master. */
		log_set_report(master_startup_fd, PROC_REPORT_PREFIX);
		*foreground = 1;
	}
	if (master_bind(master_conf, NULL, errbuf, sizeof(errbuf)) == -1) {
		log_errorx("%s", errbuf);
		return -1;
	}
	if ((master_shm = upgrade_shm()) == NULL) {
		log_error("cannot create shared memory");
		return -1;
	}
	if (shm_servers_assign(master_shm, master_conf, errbuf,
	    sizeof(errbuf)) == -1) {
		log_errorx("%s", errbuf);
		return -1;
	}
	/* Servers from DNS: the first workers start with the answers. */
	(void)resolver_prime(master_conf, master_shm, NULL);
	if (workers_cache_setup(master_conf) == -1)
		return -1;
	if (upgrade_tls() == -1) {
		log_error("cannot create the TLS ticket keys");
		return -1;
	}
	upgrade_close_unused();
	master_chown_logs(master_conf);
	return 0;
}

/* Block the signals the loop takes with sigtimedwait(); set gets them. */
static void
master_block_signals(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGQUIT);
	sigaddset(set, SIGHUP);
	sigaddset(set, SIGUSR1);
	sigaddset(set, SIGUSR2);
	sigaddset(set, SIGWINCH);
	sigaddset(set, SIGCHLD);
	sigprocmask(SIG_BLOCK, set, NULL);
	signal(SIGPIPE, SIG_IGN);
}

/*
 * The pid file and the first generation of workers; once they are up,
 * the shell (or the old master, or the service manager) hears that the
 * service is ready, and the checker starts.  -1 when they did not come
 * up: what was started is stopped again.
 */
static int
master_start(void)
{
	char	 errbuf[512];

	/* After an upgrade the pid file says the new master is up. */
	if (!upgrade_inherited() &&
	    write_pid_file(master_conf->g.pid_file) == -1)
		return -1;
	log_notice("portico %s starting: %d workers", PACKAGE_VERSION,
	    master_conf->g.workers);
	workers_generation = ++workers_generations;
	if (start_first(errbuf, sizeof(errbuf)) == -1) {
		log_errorx("the workers did not come up: %s", errbuf);
		report_discard();
		workers_end_generation(workers_generation, 1);
		remove_pid_file(master_conf->g.pid_file);
		log_set_report(-1, NULL);
		if (master_startup_fd != -1)
			close(master_startup_fd);
		return -1;
	}
	log_notice("portico %s started: %d workers", PACKAGE_VERSION,
	    master_conf->g.workers);
	/* The daemon is up: let the shell that started it go. */
	proc_report_ready(&master_startup_fd);
	/*
	 * After a binary upgrade this master is the service's main process
	 * now (the unit has NotifyAccess=all, as the old master started it).
	 */
	if (upgrade_inherited())
		(void)notify_send("MAINPID=%d", (int)getpid());
	report_started();
	checker_start();
	return 0;
}

/* On the way out: what the signal loop knows. */
struct master_stop {
	int		 stopping;	/* QUIT, TERM or INT taken */
	int		 graceful;	/* QUIT */
	uint64_t	 deadline;	/* then whatever is left is killed */
};

/*
 * QUIT (graceful), TERM or INT: stop listening, tell the workers and the
 * checker, and give them until st->deadline.
 */
static void
master_stop_begin(struct master_stop *st, int graceful)
{
	log_notice(graceful ? "graceful shutdown" : "shutting down");
	report_stopping(graceful);
	st->stopping = 1;
	st->graceful = graceful;
	listeners_close_unused(master_conf, NULL);
	workers_signal(graceful ? SIGQUIT : SIGTERM, 0);
	checker_stop(SIGTERM);
	if (graceful)
		st->deadline = proc_now_ms() +
		    master_conf->g.shutdown_timeout_ms + 5000;
	else
		st->deadline = proc_now_ms() + 5000;
}

/*
 * How long the loop may sleep: until the next restart or ticket key
 * rotation; while stopping, 200 ms at most, and what is still running
 * at the deadline is killed.
 */
static long
master_wait_ms(struct master_stop *st)
{
	long	 wait_ms;

	if (st->stopping) {
		if (proc_now_ms() >= st->deadline) {
			log_warnx("workers did not stop in time: killing them");
			workers_signal(SIGKILL, 0);
			checker_stop(SIGKILL);
			st->deadline = proc_now_ms() + 5000;
		}
		wait_ms = (long)(st->deadline - proc_now_ms());
		if (wait_ms > 200)
			wait_ms = 200;
	} else {
		wait_ms = workers_respawn_wait();
		wait_ms = tls_tickets_wait(wait_ms);
	}
	wait_ms = upgrade_wait(wait_ms);
	if (wait_ms < 0)
		wait_ms = 0;
	return wait_ms;
}

/* Act on signal sig.  -1 when the master has to exit now: no workers. */
static int
master_signal(int sig, struct master_stop *st)
{
	char	 errbuf[512];

	switch (sig) {
	case SIGCHLD:
		workers_reap(st->stopping);
		if (!st->stopping && workers_none_left()) {
			log_errorx("no workers left: exiting");
			return -1;
		}
		break;
	case SIGHUP:
		if (st->stopping)
			break;
		if (!upgrade_pending()) {
			report_reload_begin();
			report_reload_end(reload_run(errbuf, sizeof(errbuf)),
			    errbuf);
			break;
		}
		/* Roll back: workers first, then the new master goes. */
		workers_unpark();
		upgrade_rollback();
		break;
	case SIGUSR2:
		if (!st->stopping)
			upgrade_start(master_conf, master_cache);
		break;
	case SIGWINCH:
		if (!st->stopping)
			workers_park();
		break;
	case SIGUSR1:
		log_notice("reopening log files");
		log_reopen();
		master_chown_logs(master_conf);
		workers_signal(SIGUSR1, 0);
		checker_reopen();
		break;
	case SIGQUIT:
		if (!st->stopping)
			master_stop_begin(st, 1);
		break;
	case SIGTERM:
	case SIGINT:
		master_stop_begin(st, 0);
		break;
	default:
		log_info("ignoring signal %d", sig);
		break;
	}
	return 0;
}

/*
 * The signal loop, until every child is gone after QUIT, TERM or INT
 * (returns 0), or no worker is left (returns 1).
 */
static int
master_loop(const sigset_t *set, struct master_stop *st)
{
	siginfo_t	 si;
	struct timespec	 ts;
	long		 wait_ms;
	int		 sig;

	for (;;) {
		upgrade_poll();
		if (!st->stopping)
			workers_respawn_due();
		if (st->stopping && workers_live() == 0 && checker_live() == 0)
			return 0;
		wait_ms = master_wait_ms(st);
		ts.tv_sec = wait_ms / 1000;
		ts.tv_nsec = (wait_ms % 1000) * 1000000;
		sig = sigtimedwait(set, &si, &ts);
		if (sig == -1)
			continue;
		if (master_signal(sig, st) == -1)
			return 1;
	}
}

/* Every child is gone (or must go): log the totals and clean up. */
static void
master_exit(int graceful)
{
	struct shm_stats tot;

	checker_end();
	shm_stats_total(master_shm, &tot);
	log_notice("%s: %llu connections, %llu requests, %llu upstream errors",
	    graceful ? "stopped gracefully" : "stopped",
	    (unsigned long long)tot.connections,
	    (unsigned long long)tot.requests,
	    (unsigned long long)tot.upstream_errors);
	runstate_remove(master_conf, getpid());
	remove_pid_file(master_conf->g.pid_file);
	upgrade_end(master_conf->g.pid_file);
	listeners_close_unused(master_conf, NULL);
	shm_destroy(master_shm);
	if (master_cache != NULL)
		cache_destroy(master_cache);
	tls_shm_destroy();
	free(workers_respawns);
	report_discard();
	conf_free(master_conf);
	log_close();
}

int
master_run(struct conf *c, const char *path, int foreground)
{
	sigset_t		 set;
	struct master_stop	 st;
	int			 rc;

	master_conf = c;
	master_conf_path = path;
	log_set_role("master");
	proctitle_set("portico: master (%s)", proctitle_args());
	/* main() loaded it a moment ago: the closest to that text. */
	report_read_conf();
	if (master_setup(&foreground) == -1)
		return 1;
	master_block_signals(&set);
	if (!foreground)
		daemonize();
	if (master_start() == -1)
		return 1;
	memset(&st, 0, sizeof(st));
	rc = master_loop(&set, &st);
	master_exit(st.graceful);
	return rc;
}
