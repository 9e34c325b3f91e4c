/*
 * ctl.c: -s, the command line's side of the signals: find the running
 * master through its pid file, make sure it is one, signal it; for
 * -s upgrade, go through the whole binary upgrade and report how it went.
 */
#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/proc.h"
#include "master/ctl.h"
#include "master/runstate.h"

/* A reload has this long: its workers' start, and the old ones' retiring. */
#define RELOAD_WAIT_MS		60000

/* How long -s upgrade waits for the new master to be up. */
#define UPGRADE_UP_MS		90000
/* ... and for the old one to be gone, beyond shutdown_timeout. */
#define UPGRADE_GONE_MS		10000
/*
 * A master that has not taken USR2 by then does not know it (longer than
 * a master may be busy starting the workers of a reload: 30 s).
 */
#define UPGRADE_TAKEN_MS	45000

/*
 * The base name of a program path as /proc shows it, without the
 * " (deleted)" of a binary replaced since it started.
 */
static void
prog_name(const char *path, char *out, size_t outlen)
{
	char	 copy[PATH_MAX], *p;
	size_t	 n;

	snprintf(copy, sizeof(copy), "%s", path);
	n = strlen(copy);
	if (n > 10 && strcmp(copy + n - 10, " (deleted)") == 0)
		copy[n - 10] = '\0';
	p = strrchr(copy, '/');
	snprintf(out, outlen, "%s", p != NULL ? p + 1 : copy);
}

/*
 * Whether pid runs the same program as this one (by the name of its
 * executable, or of its argv[0] when the executable cannot be read) and
 * its parent does not (a worker's parent is its master), unless its
 * parent is oldbin, the old master of an upgrade.  what gets what it
 * runs, for the message.
 */
static int
is_master(pid_t pid, pid_t oldbin, char *what, size_t whatlen)
{
	char	 path[64], buf[PATH_MAX], self[PATH_MAX], mine[256], its[256];
	ssize_t	 n;
	FILE	*f;
	int	 fd, ppid = 0, is;

	snprintf(what, whatlen, "it cannot be identified");
	if ((n = readlink("/proc/self/exe", self, sizeof(self) - 1)) == -1)
		return 1;	/* no /proc here: nothing to check against */
	self[n] = '\0';
	prog_name(self, mine, sizeof(mine));
	snprintf(path, sizeof(path), "/proc/%d/exe", (int)pid);
	if ((n = readlink(path, buf, sizeof(buf) - 1)) == -1) {
		/* Another user's process: its argv[0] is readable. */
		snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
		if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
			return 0;
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (n <= 0)
			return 0;
	}
	buf[n] = '\0';
	prog_name(buf, its, sizeof(its));
	/* Its command line may be a process title (proctitle.c). */
	if (strncmp(buf, "portico: ", 9) == 0) {
		if (strncmp(buf + 9, "master", 6) != 0) {
			snprintf(what, whatlen, "it is a %.200s", buf);
			return 0;
		}
		snprintf(its, sizeof(its), "%s", mine);
	}
	snprintf(what, whatlen, "it runs %s", its);
	if (strcmp(its, mine) != 0)
		return 0;
	/* A worker of it is no master. */
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((f = fopen(path, "re")) == NULL)
		return 0;
	is = fscanf(f, "%*d (%*[^)]) %*c %d", &ppid) == 1;
	fclose(f);
	if (!is)
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/exe", ppid);
	/* The new master of an upgrade is the old master's child. */
	if (ppid > 1 && ppid != oldbin &&
	    (n = readlink(path, buf, sizeof(buf) - 1)) != -1) {
		buf[n] = '\0';
		prog_name(buf, its, sizeof(its));
		if (strcmp(its, mine) == 0) {
			snprintf(what, whatlen, "it is a worker of %d", ppid);
			return 0;
		}
	}
	return 1;
}


/* The pid a pid file names (0: none), and the file's inode. */
static pid_t
pid_file_read(const char *path, ino_t *ino)
{
	struct stat	 st;
	FILE		*f;
	int		 pid = 0;

	*ino = 0;
	if ((f = fopen(path, "re")) == NULL)
		return 0;
	if (fstat(fileno(f), &st) == 0)
		*ino = st.st_ino;
	if (fscanf(f, "%d", &pid) != 1 || pid <= 1)
		pid = 0;
	fclose(f);
	return (pid_t)pid;
}

/* Whether pid runs (a zombie does not). */
static int
alive(pid_t pid)
{
	char	 path[64], buf[512], *p;
	FILE	*f;
	int	 is = 1;

	if (pid <= 0 || kill(pid, 0) == -1)
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((f = fopen(path, "re")) == NULL)
		return 1;
	if (fgets(buf, sizeof(buf), f) != NULL &&
	    (p = strrchr(buf, ')')) != NULL && p[1] == ' ' && p[2] == 'Z')
		is = 0;
	fclose(f);
	return is;
}

/* Print the error log's "upgrade failed" line written after offset off. */
static void
print_reason(const char *log, off_t off)
{
	char	 line[2048], *p;
	FILE	*f;
	int	 said = 0;

	if (log == NULL || log[0] != '/' || (f = fopen(log, "re")) == NULL)
		return;
	if (fseeko(f, off, SEEK_SET) == 0)
		while (fgets(line, sizeof(line), f) != NULL)
			if ((p = strstr(line, "upgrade failed: ")) != NULL) {
				fprintf(stderr, "portico: %s", p);
				said = 1;
			}
	fclose(f);
	if (!said)
		fprintf(stderr, "portico: see the error log %s\n", log);
}

static void
sleep_ms(long ms)
{
	struct timespec	 ts = { ms / 1000, (ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

/*
 * USR2, then wait: the new master is up once the pid file names it (it
 * writes the file once every worker is up); the upgrade failed when the
 * old master writes its own pid file again (a new file: the inode
 * changes).  Then WINCH and QUIT the old master and wait for it to go.
 */
static int
ctl_upgrade(struct conf *c, pid_t pid)
{
	char		 oldbin[PATH_MAX + 8];
	struct stat	 st;
	off_t		 logoff = 0;
	ino_t		 ino0, ino, oino;
	pid_t		 cur, old;
	uint64_t	 deadline, start;
	int		 taken = 0;

	snprintf(oldbin, sizeof(oldbin), "%s.oldbin", c->g.pid_file);
	if ((old = pid_file_read(oldbin, &oino)) != 0 && alive(old)) {
		fprintf(stderr, "portico: an upgrade is under way: the old "
		    "master %d (%s) is still there; send it QUIT or HUP "
		    "first\n", (int)old, oldbin);
		return 1;
	}
	pid_file_read(c->g.pid_file, &ino0);
	if (c->g.error_log[0] == '/' && stat(c->g.error_log, &st) == 0)
		logoff = st.st_size;
	if (kill(pid, SIGUSR2) == -1) {
		fprintf(stderr, "portico: cannot signal process %d: %s\n",
		    (int)pid, strerror(errno));
		return 1;
	}
	start = proc_now_ms();
	for (deadline = start + UPGRADE_UP_MS;; sleep_ms(50)) {
		cur = pid_file_read(c->g.pid_file, &ino);
		old = pid_file_read(oldbin, &oino);
		taken |= old == pid || ino != ino0;
		if (!taken && proc_now_ms() - start >= UPGRADE_TAKEN_MS) {
			fprintf(stderr, "portico: master %d did not start an "
			    "upgrade (a version without binary upgrade?); "
			    "nothing changed\n", (int)pid);
			return 1;
		}
		if (cur != 0 && cur != pid && old == pid && alive(cur))
			break;
		if (cur == pid && ino != ino0 && old != pid) {
			fprintf(stderr, "portico: upgrade failed: the new binary "
			    "did not come up; master %d keeps serving\n",
			    (int)pid);
			print_reason(c->g.error_log, logoff);
			return 1;
		}
		if (!alive(pid)) {
			fprintf(stderr, "portico: master %d exited during the "
			    "upgrade\n", (int)pid);
			return 1;
		}
		if (proc_now_ms() >= deadline) {
			fprintf(stderr, "portico: no new master after %d s; "
			    "the upgrade may still be going on (see the error "
			    "log)\n", UPGRADE_UP_MS / 1000);
			return 3;
		}
	}
	if (kill(pid, SIGWINCH) == -1 || kill(pid, SIGQUIT) == -1) {
		fprintf(stderr, "portico: cannot signal the old master %d: %s\n",
		    (int)pid, strerror(errno));
		return 1;
	}
	deadline = proc_now_ms() + (uint64_t)c->g.shutdown_timeout_ms +
	    UPGRADE_GONE_MS;
	while (alive(pid)) {
		if (proc_now_ms() >= deadline) {
			fprintf(stderr, "portico: the new master %d is up, but "
			    "the old master %d has not exited\n", (int)cur,
			    (int)pid);
			return 3;
		}
		sleep_ms(50);
	}
	printf("portico: upgraded: master %d replaced master %d\n", (int)cur,
	    (int)pid);
	return 0;
}

int
ctl_signal(struct conf *c, const char *name)
{
	char	 what[300];
	static const struct { const char *name; int sig; } sigs[] = {
		{ "stop", SIGTERM }, { "quit", SIGQUIT },
		{ "reload", SIGHUP }, { "reopen", SIGUSR1 },
		{ "upgrade", SIGUSR2 },
	};
	FILE	*f;
	int	 pid = 0, sig = 0;
	size_t	 i;
	char	 oldbin[PATH_MAX + 8];
	ino_t	 ino;

	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		if (strcmp(sigs[i].name, name) == 0)
			sig = sigs[i].sig;
	if (sig == 0) {
		fprintf(stderr, "portico: unknown signal '%s' (stop, quit, reload, reopen, "
		    "upgrade)\n",
		    name);
		return 2;
	}
	if ((f = fopen(c->g.pid_file, "r")) == NULL) {
		fprintf(stderr, "portico: cannot open pid file %s: %s\n",
		    c->g.pid_file, strerror(errno));
		return 1;
	}
	if (fscanf(f, "%d", &pid) != 1 || pid <= 1) {
		fclose(f);
		fprintf(stderr, "portico: invalid pid file %s\n", c->g.pid_file);
		return 1;
	}
	fclose(f);
	if (kill(pid, 0) == -1) {
		fprintf(stderr, "portico: process %d named in %s: %s\n", pid,
		    c->g.pid_file, strerror(errno));
		return 1;
	}
	snprintf(oldbin, sizeof(oldbin), "%s.oldbin", c->g.pid_file);
	if (!is_master(pid, pid_file_read(oldbin, &ino), what, sizeof(what))) {
		fprintf(stderr, "portico: process %d named in %s is not a portico "
		    "master (%s): not signalling it\n", pid,
		    c->g.pid_file, what);
		return 1;
	}
	if (sig == SIGUSR2)
		return ctl_upgrade(c, pid);
	/* A reload is waited for: its outcome is the exit status. */
	if (sig == SIGHUP)
		return runstate_reload(c, pid, RELOAD_WAIT_MS);
	if (kill(pid, sig) == -1) {
		fprintf(stderr, "portico: cannot signal process %d: %s\n", pid,
		    strerror(errno));
		return 1;
	}
	return 0;
}
