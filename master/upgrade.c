/*
 * upgrade.c: binary upgrade with the state handed over (see upgrade.h).
 *
 * What the new master inherits is named in one environment variable:
 *
 *	PORTICO_UPGRADE=1 PPID READY SHM TLS CACHE [LISTEN ...]
 *
 * "1" is the format, PPID the old master (the variable is believed only
 * when that is the parent), READY the write end of the report pipe, SHM,
 * TLS and CACHE the memfds of the regions (-1: none), then the listening
 * sockets.  Every descriptor is checked before use: a socket must be
 * listening (and is matched to a listen address by getsockname), a
 * region must carry this binary's magic, version and size.
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/net.h"
#include "common/proc.h"
#include "common/tls.h"
#include "master/upgrade.h"

#define MAX_INHERIT	256	/* listening sockets handed over, at most */

/* How this binary was started, to start it again. */
static char		  exe[PATH_MAX];
static char		**args;
static char		  cwd[PATH_MAX];

/* New master: what the old one handed over. */
static int		  inherited;
static pid_t		  from;		/* the old master */
static char		  ignored[128];	/* why PORTICO_UPGRADE was not used */
static int		  ready_fd = -1;
static int		  shm_in = -1, tls_in = -1, cache_in = -1;
static int		  lfd[MAX_INHERIT];
static int		  nlfd;

/* Old master: the new one while it runs. */
static pid_t		  new_pid;
static int		  new_up;	/* it said it is ready */
static int		  rolled_back;
static int		  report_rd = -1;
static char		  reason[512];	/* the first error it reported */
static char		  rbuf[4096];
static size_t		  rlen;
static char		 *pid_path;	/* the pid file at USR2 */

static int
parse_fd(const char *s, int *out)
{
	char	*end;
	long	 v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || end == s || v < -1 || v > INT_MAX)
		return -1;
	if (v != -1 && fcntl((int)v, F_GETFD) == -1)
		return -1;
	*out = (int)v;
	return 0;
}

/* Parse PORTICO_UPGRADE; -1 with ignored filled when it is not usable. */
static int
parse_env(const char *val)
{
	char	 copy[4096], *tok, *save = NULL;
	int	 n = 0, fd, ppid = 0;

	if (strlen(val) >= sizeof(copy)) {
		snprintf(ignored, sizeof(ignored), "too long");
		return -1;
	}
	snprintf(copy, sizeof(copy), "%s", val);
	for (tok = strtok_r(copy, " ", &save); tok != NULL;
	    tok = strtok_r(NULL, " ", &save), n++) {
		if (n == 0) {
			if (strcmp(tok, "1") != 0) {
				snprintf(ignored, sizeof(ignored),
				    "format %.20s unknown", tok);
				return -1;
			}
			continue;
		}
		if (n == 1) {
			ppid = atoi(tok);
			continue;
		}
		if (parse_fd(tok, &fd) == -1 || (n > 5 && fd == -1)) {
			snprintf(ignored, sizeof(ignored), "bad descriptor "
			    "%.20s", tok);
			return -1;
		}
		switch (n) {
		case 2:
			ready_fd = fd;
			break;
		case 3:
			shm_in = fd;
			break;
		case 4:
			tls_in = fd;
			break;
		case 5:
			cache_in = fd;
			break;
		default:
			if (nlfd == MAX_INHERIT) {
				snprintf(ignored, sizeof(ignored), "too many "
				    "sockets");
				return -1;
			}
			lfd[nlfd++] = fd;
		}
	}
	if (n < 6 || ppid <= 1 || ppid != (int)getppid()) {
		snprintf(ignored, sizeof(ignored), "not from the parent "
		    "process");
		return -1;
	}
	from = ppid;
	return 0;
}

void
upgrade_init(int argc, char *argv[])
{
	const char	*val;
	ssize_t		 n;
	size_t		 len;
	int		 i;

	/*
	 * A copy: setting the process title may write over argv.  Without
	 * memory an upgrade is refused later (upgrade_start).
	 */
	if ((args = calloc((size_t)argc + 1, sizeof(*args))) != NULL)
		for (i = 0; i < argc; i++)
			if ((args[i] = strdup(argv[i])) == NULL) {
				while (i-- > 0)
					free(args[i]);
				free(args);
				args = NULL;
				break;
			}
	if ((n = readlink("/proc/self/exe", exe, sizeof(exe) - 1)) > 0) {
		exe[n] = '\0';
		/* Replaced on disk since: the path names the new binary. */
		len = strlen(exe);
		if (len > 10 && strcmp(exe + len - 10, " (deleted)") == 0)
			exe[len - 10] = '\0';
	} else if (argv[0] == NULL || realpath(argv[0], exe) == NULL)
		exe[0] = '\0';
	if (getcwd(cwd, sizeof(cwd)) == NULL)
		cwd[0] = '\0';
	if ((val = getenv(UPGRADE_ENV)) == NULL)
		return;
	if (parse_env(val) == 0)
		inherited = 1;
	else {
		ready_fd = shm_in = tls_in = cache_in = -1;
		nlfd = 0;
	}
	/* Not for the workers, nor for the binary after this one. */
	unsetenv(UPGRADE_ENV);
}

int
upgrade_inherited(void)
{
	return inherited;
}

void
upgrade_adopt(int *rfd)
{
	if (ignored[0] != '\0')
		log_warnx("ignoring %s: %s", UPGRADE_ENV, ignored);
	ignored[0] = '\0';
	if (!inherited)
		return;
	log_notice("binary upgrade: taking over from master %d (%d "
	    "listening sockets)", (int)from, nlfd);
	fcntl(ready_fd, F_SETFD, FD_CLOEXEC);
	*rfd = ready_fd;
	ready_fd = -1;
}

int
upgrade_listener(const struct conf_addr *a)
{
	struct conf_addr	 got;
	int			 i, fd, on;
	socklen_t		 olen;

	for (i = 0; i < nlfd; i++) {
		if ((fd = lfd[i]) == -1)
			continue;
		memset(&got, 0, sizeof(got));
		got.len = sizeof(got.ss);
		if (getsockname(fd, (struct sockaddr *)&got.ss, &got.len) == -1)
			continue;
		olen = sizeof(on);
		if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &on, &olen) == -1 ||
		    !on || !net_addr_equal(&got, a))
			continue;
		lfd[i] = -1;
		/* The next binary gets it anew; nothing else does. */
		fcntl(fd, F_SETFD, FD_CLOEXEC);
		return fd;
	}
	return -1;
}

void
upgrade_close_unused(void)
{
	int	 i;

	for (i = 0; i < nlfd; i++)
		if (lfd[i] != -1) {
			log_notice("binary upgrade: closing an inherited "
			    "socket the configuration no longer lists");
			close(lfd[i]);
			lfd[i] = -1;
		}
	nlfd = 0;
	/* Closing the last reference frees the region. */
	if (cache_in != -1) {
		log_notice("binary upgrade: no route caches any more: the "
		    "cache of the previous binary is dropped");
		close(cache_in);
		cache_in = -1;
	}
	if (shm_in != -1)
		close(shm_in);
	if (tls_in != -1)
		close(tls_in);
	shm_in = tls_in = -1;
}

static void
empty_state(const char *what, const char *why)
{
	log_notice("binary upgrade: the %s of the previous binary has another "
	    "layout (%s): starting with empty state", what, why);
}

struct shm_header *
upgrade_shm(void)
{
	struct shm_header	*shm;
	char			 why[256];
	int			 fd = shm_in;

	shm_in = -1;
	if (fd != -1) {
		if ((shm = shm_attach(fd, why, sizeof(why))) != NULL) {
			fcntl(fd, F_SETFD, FD_CLOEXEC);
			log_info("binary upgrade: kept the shared counters and "
			    "health state");
			return shm;
		}
		empty_state("shared memory", why);
		close(fd);
		/*
		 * The cache counts pins and writers by worker slot, and
		 * the slots are in the region just refused: two workers
		 * could share one.  The cache starts empty too.
		 */
		if (cache_in != -1) {
			log_notice("binary upgrade: starting with an empty "
			    "cache too (its workers' slots are not known)");
			close(cache_in);
			cache_in = -1;
		}
	}
	return shm_create();
}

struct cache *
upgrade_cache(size_t size)
{
	struct cache		*c;
	struct cache_stats	 st;
	char			 why[256];
	int			 fd = cache_in;

	cache_in = -1;
	if (fd == -1)
		return cache_create(size);
	if ((c = cache_attach(fd, why, sizeof(why))) == NULL) {
		empty_state("cache", why);
		close(fd);
		return cache_create(size);
	}
	fcntl(fd, F_SETFD, FD_CLOEXEC);
	if (cache_size(c) != size) {
		log_notice("cache size changed: starting with an empty cache");
		cache_destroy(c);
		return cache_create(size);
	}
	cache_get_stats(c, &st);
	log_info("binary upgrade: kept the cache (%llu objects)",
	    (unsigned long long)st.objects);
	return c;
}

int
upgrade_tls(void)
{
	char	 why[256];
	int	 fd = tls_in;

	tls_in = -1;
	if (fd != -1) {
		if (tls_shm_attach(fd, why, sizeof(why)) == 0) {
			fcntl(fd, F_SETFD, FD_CLOEXEC);
			return 0;
		}
		empty_state("TLS ticket key region", why);
		close(fd);
	}
	return tls_shm_create();
}

void
upgrade_report(const char *errors)
{
	const char	*p, *nl;

	if (!inherited || ready_fd == -1)
		return;
	for (p = errors; *p != '\0'; p = nl + 1) {
		if ((nl = strchr(p, '\n')) == NULL)
			nl = p + strlen(p);
		if (nl > p)
			dprintf(ready_fd, "%s%.*s\n", PROC_REPORT_PREFIX,
			    (int)(nl - p), p);
		if (*nl == '\0')
			break;
	}
}

/*
 * Old master side.
 */

/* In the child: hand fd over across exec. */
static int
keep(int fd)
{
	int	 fl;

	if (fd == -1)
		return 0;
	if ((fl = fcntl(fd, F_GETFD)) == -1)
		return -1;
	return fcntl(fd, F_SETFD, fl & ~FD_CLOEXEC);
}

/* In the child: the environment variable that names what it inherits. */
static int
env_value(char *buf, size_t len, const struct conf *c, int wfd,
    struct cache *cache)
{
	size_t	 i, j, off;
	int	 m;

	m = snprintf(buf, len, "1 %d %d %d %d %d", (int)getppid(), wfd,
	    shm_memfd(), tls_shm_memfd(), cache_memfd(cache));
	if (m < 0 || (size_t)m >= len)
		return -1;
	off = (size_t)m;
	for (i = 0; i < c->nlisteners; i++)
		for (j = 0; j < c->listeners[i].naddrs; j++) {
			if (c->listeners[i].fds[j] == -1)
				continue;
			m = snprintf(buf + off, len - off, " %d",
			    c->listeners[i].fds[j]);
			if (m < 0 || (size_t)m >= len - off)
				return -1;
			off += (size_t)m;
		}
	return 0;
}

static void __attribute__((noreturn))
child_exec(const struct conf *c, struct cache *cache, int wfd)
{
	char	 val[4096];
	size_t	 i, j;
	int	 bad = 0;

	for (i = 0; i < c->nlisteners; i++)
		for (j = 0; j < c->listeners[i].naddrs; j++)
			bad |= keep(c->listeners[i].fds[j]);
	bad |= keep(shm_memfd()) | keep(tls_shm_memfd()) |
	    keep(cache_memfd(cache)) | keep(wfd);
	if (bad || env_value(val, sizeof(val), c, wfd, cache) == -1 ||
	    setenv(UPGRADE_ENV, val, 1) == -1) {
		dprintf(wfd, "%scannot pass the sockets and shared memory\n",
		    PROC_REPORT_PREFIX);
		_exit(127);
	}
	if (cwd[0] != '\0' && chdir(cwd) == -1)
		dprintf(wfd, "%scannot change to %s: %s\n", PROC_REPORT_PREFIX,
		    cwd, strerror(errno));
	execv(exe, args);
	dprintf(wfd, "%scannot execute %s: %s\n", PROC_REPORT_PREFIX, exe,
	    strerror(errno));
	_exit(127);
}

static void
oldbin_path(char *buf, size_t len, const char *pid_file)
{
	snprintf(buf, len, "%s.oldbin", pid_file);
}

static pid_t
pid_in(const char *path)
{
	FILE	*f;
	int	 pid = 0;

	if ((f = fopen(path, "re")) == NULL)
		return 0;
	if (fscanf(f, "%d", &pid) != 1)
		pid = 0;
	fclose(f);
	return (pid_t)pid;
}

/*
 * The pid file names this master again: written anew (a new inode tells
 * -s upgrade that the upgrade failed), then PIDFILE.oldbin removed.
 */
static void
pid_file_back(void)
{
	char	 old[PATH_MAX + 8], tmp[PATH_MAX + 8];
	FILE	*f;

	if (pid_path == NULL)
		return;
	oldbin_path(old, sizeof(old), pid_path);
	snprintf(tmp, sizeof(tmp), "%s.new", pid_path);
	if ((f = fopen(tmp, "we")) == NULL) {
		log_error("cannot write pid file %s", tmp);
		return;
	}
	fprintf(f, "%d\n", (int)getpid());
	if (fclose(f) != 0 || rename(tmp, pid_path) == -1) {
		log_error("cannot write pid file %s", pid_path);
		unlink(tmp);
		return;
	}
	if (pid_in(old) == getpid())
		unlink(old);
}

void
upgrade_start(const struct conf *c, struct cache *cache)
{
	char	 old[PATH_MAX + 8];
	int	 p[2];
	pid_t	 pid;

	if (new_pid != 0) {
		log_warnx("upgrade: ignoring USR2: the new master (pid %d) is "
		    "still there; QUIT or HUP (roll back) this master first",
		    (int)new_pid);
		return;
	}
	if (from != 0 && getppid() == from) {
		log_warnx("upgrade: ignoring USR2: the previous master (pid %d) "
		    "is still there; send it QUIT or HUP first", (int)from);
		return;
	}
	if (exe[0] == '\0' || args == NULL) {
		log_errorx("upgrade failed: the path or the arguments of this "
		    "binary are unknown");
		return;
	}
	free(pid_path);
	if ((pid_path = strdup(c->g.pid_file)) == NULL) {
		log_errorx("upgrade failed: out of memory");
		return;
	}
	oldbin_path(old, sizeof(old), pid_path);
	if (pipe2(p, O_CLOEXEC) == -1) {
		log_error("upgrade failed: pipe");
		return;
	}
	if (rename(pid_path, old) == -1) {
		log_error("upgrade failed: cannot rename %s to %s", pid_path, old);
		close(p[0]);
		close(p[1]);
		return;
	}
	if ((pid = fork()) == -1) {
		log_error("upgrade failed: fork");
		close(p[0]);
		close(p[1]);
		pid_file_back();
		return;
	}
	if (pid == 0) {
		close(p[0]);
		child_exec(c, cache, p[1]);
	}
	close(p[1]);
	fcntl(p[0], F_SETFL, O_NONBLOCK);
	report_rd = p[0];
	rlen = 0;
	reason[0] = '\0';
	new_pid = pid;
	new_up = rolled_back = 0;
	log_notice("upgrade: starting %s as the new master (pid %d); pid file "
	    "renamed to %s", exe, (int)pid, old);
}

/* One line the new master reported: "R" (up) or "E message". */
static void
report_line(const char *line)
{
	size_t	 plen = strlen(PROC_REPORT_PREFIX);

	if (strcmp(line, "R") == 0) {
		new_up = 1;
		log_notice("upgrade: the new master (pid %d) is up; send WINCH "
		    "and QUIT to this master (pid %d) to finish, HUP to roll "
		    "back", (int)new_pid, (int)getpid());
	} else if (strncmp(line, PROC_REPORT_PREFIX, plen) == 0) {
		log_errorx("upgrade: new master (pid %d): %s", (int)new_pid,
		    line + plen);
		if (reason[0] == '\0')
			snprintf(reason, sizeof(reason), "%s", line + plen);
	}
}

void
upgrade_poll(void)
{
	char	*line, *nl;
	ssize_t	 n;

	while (report_rd != -1) {
		n = read(report_rd, rbuf + rlen, sizeof(rbuf) - 1 - rlen);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN)
			return;
		if (n <= 0) {
			close(report_rd);
			report_rd = -1;
			return;
		}
		rlen += (size_t)n;
		rbuf[rlen] = '\0';
		for (line = rbuf; (nl = strchr(line, '\n')) != NULL;
		    line = nl + 1) {
			*nl = '\0';
			report_line(line);
		}
		rlen = strlen(line);
		memmove(rbuf, line, rlen);
		if (rlen == sizeof(rbuf) - 1)
			rlen = 0;	/* an endless line: drop it */
	}
}

long
upgrade_wait(long wait_ms)
{
	if (report_rd != -1 && wait_ms > 100)
		return 100;
	return wait_ms;
}

int
upgrade_reaped(pid_t pid, int status)
{
	char	 how[64];

	if (new_pid == 0 || pid != new_pid)
		return 0;
	upgrade_poll();
	if (report_rd != -1) {
		close(report_rd);
		report_rd = -1;
	}
	if (WIFSIGNALED(status))
		snprintf(how, sizeof(how), "was killed by signal %d",
		    WTERMSIG(status));
	else
		snprintf(how, sizeof(how), "exited with status %d",
		    WEXITSTATUS(status));
	if (rolled_back)
		log_notice("upgrade: the new master (pid %d) %s after the roll "
		    "back", (int)pid, how);
	else if (!new_up)
		log_errorx("upgrade failed: %s; the new master (pid %d) %s: "
		    "the old master keeps serving",
		    reason[0] != '\0' ? reason :
		    "the new binary exited before it was up",
		    (int)pid, how);
	else
		log_warnx("upgrade: the new master (pid %d) %s: this master "
		    "(pid %d) serves on", (int)pid, how, (int)getpid());
	pid_file_back();
	new_pid = 0;
	new_up = rolled_back = 0;
	return 1;
}

int
upgrade_pending(void)
{
	return new_pid != 0;
}

void
upgrade_rollback(void)
{
	if (new_pid == 0 || rolled_back)
		return;
	log_notice("upgrade: rolling back: the new master (pid %d) is told to "
	    "quit", (int)new_pid);
	rolled_back = 1;
	kill(new_pid, SIGQUIT);
	pid_file_back();
}

void
upgrade_end(const char *pid_file)
{
	char	 old[PATH_MAX + 8];

	oldbin_path(old, sizeof(old), pid_path != NULL ? pid_path : pid_file);
	if (pid_in(old) == getpid())
		unlink(old);
	free(pid_path);
	pid_path = NULL;
}
