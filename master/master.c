/*
 * master.c: the master process.
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
#include <limits.h>
#include <poll.h>
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
#include "common/net.h"
#include "common/proc.h"
#include "common/proctitle.h"
#include "common/shm.h"
#include "common/tls.h"
#include "master/confdiff.h"
#include "master/health.h"
#include "master/master.h"
#include "master/notify.h"
#include "master/runstate.h"
#include "master/upgrade.h"

#define MAX_CHILDREN	SHM_SLOTS
/* How long a new generation of workers has to come up. */
#define READY_TIMEOUT_MS	30000
/* How long -s reload waits for the outcome: loading, then the workers. */
#define RELOAD_WAIT_MS		(READY_TIMEOUT_MS + 30000)

struct child {
	pid_t		 pid;		/* 0: free entry */
	int		 slot;		/* shm stats slot */
	int		 generation;	/* config generation it runs */
	int		 index;		/* position 0..workers-1 in its generation */
	int		 retiring;	/* told to quit */
	struct cache	*cache;		/* the cache region it was given */
	struct timespec	 started;
};

/* A worker position waiting to be started again after a crash. */
struct respawn {
	int		 pending;
	uint64_t	 due_ms;
	uint64_t	 backoff_ms;
	uint64_t	 last_start_ms;
};

static struct conf		*conf;
static const char		*conf_path;
static struct shm_header	*shm;
static struct cache		*cache;		/* NULL: no route caches */
static struct child		 children[MAX_CHILDREN];
static struct respawn		*respawns;
static int			 nrespawns;
static int			 generation;	/* the one serving */
static int			 generations;	/* the last one started */
static int			 startup_fd = -1; /* the daemon's report to its shell */
static int			 parked;	/* WINCH: no workers until HUP */
static int			 ready_rd = -1;	/* read end of proc_ready_fd */
static struct conf		*prev_conf;	/* while a reload starts workers */
/*
 * The checker (health.c): not a worker, it has no stats slot.  After a
 * reload the one of the old config is told to stop and is waited for
 * among the old checkers, while the new one starts.
 */
#define MAX_OLD_CHECKERS	16
static pid_t			 checker;
static pid_t			 old_checkers[MAX_OLD_CHECKERS];
static struct respawn		 checker_rs;


/*
 * Bind every address of conf.  An address that old already has open is
 * taken over (so a reload never closes a listening socket that stays in
 * the config); the rest are bound fresh.  On error the fresh ones are
 * closed and old keeps all of its own.
 */
int
master_bind(struct conf *c, struct conf *old, char *errbuf, size_t errlen)
{
	size_t	 i, j, oi, oj;
	int	 fd;

	for (i = 0; i < c->nlisteners; i++) {
		for (j = 0; j < c->listeners[i].naddrs; j++) {
			fd = -1;
			for (oi = 0; old != NULL && oi < old->nlisteners && fd == -1; oi++)
				for (oj = 0; oj < old->listeners[oi].naddrs; oj++)
					if (old->listeners[oi].fds[oj] != -1 &&
					    net_addr_equal(&old->listeners[oi].addrs[oj],
					    &c->listeners[i].addrs[j])) {
						fd = old->listeners[oi].fds[oj];
						break;
					}
			if (fd == -1)
				fd = upgrade_listener(&c->listeners[i].addrs[j]);
			if (fd == -1) {
				fd = net_listen(&c->listeners[i].addrs[j],
				    c->listeners[i].backlog, errbuf, errlen);
				if (fd == -1)
					goto fail;
			}
			c->listeners[i].fds[j] = fd;
		}
	}
	return 0;
fail:
	/* Close what was opened here; leave what belongs to old. */
	for (i = 0; i < c->nlisteners; i++)
		for (j = 0; j < c->listeners[i].naddrs; j++) {
			fd = c->listeners[i].fds[j];
			if (fd == -1)
				continue;
			for (oi = 0; old != NULL && oi < old->nlisteners; oi++)
				for (oj = 0; oj < old->listeners[oi].naddrs; oj++)
					if (old->listeners[oi].fds[oj] == fd)
						fd = -1;
			if (fd != -1)
				close(fd);
			c->listeners[i].fds[j] = -1;
		}
	return -1;
}

/* Close the listening sockets of old that new does not use. */
static void
close_unused(struct conf *old, struct conf *new)
{
	size_t	 i, j, ni, nj;
	int	 used;

	for (i = 0; i < old->nlisteners; i++)
		for (j = 0; j < old->listeners[i].naddrs; j++) {
			if (old->listeners[i].fds[j] == -1)
				continue;
			used = 0;
			for (ni = 0; new != NULL && ni < new->nlisteners; ni++)
				for (nj = 0; nj < new->listeners[ni].naddrs; nj++)
					if (new->listeners[ni].fds[nj] ==
					    old->listeners[i].fds[j])
						used = 1;
			if (!used)
				close(old->listeners[i].fds[j]);
			old->listeners[i].fds[j] = -1;
		}
}

/*
 * A worker is gone: drop what it was storing, and unmap a cache region
 * that a reload replaced once its last worker has left.
 */
static void
cache_reaped(struct child *gone)
{
	struct cache	*c = gone->cache;
	int		 i;

	gone->cache = NULL;
	if (c == NULL)
		return;
	cache_slot_release(c, gone->slot);
	if (c == cache)
		return;
	for (i = 0; i < MAX_CHILDREN; i++)
		if (children[i].pid != 0 && children[i].cache == c)
			return;
	cache_destroy(c);
}

/*
 * The cache region for conf c: the running one when its size still fits,
 * so that it stays warm across reloads; a new one when caching starts or
 * the size changed.  Workers of the old config keep the old region until
 * they exit.  -1 when a region is needed and cannot be made.
 */
static int
cache_setup(const struct conf *c)
{
	struct cache	*nc;

	if (!c->cache_used) {
		nc = NULL;
	} else if (cache != NULL && cache_size(cache) == c->cache.size) {
		return 0;
	} else if ((nc = upgrade_cache(c->cache.size)) == NULL) {
		log_error("cannot create the cache region of %zu bytes",
		    c->cache.size);
		return -1;
	}
	if (cache != NULL && nc != NULL)
		log_notice("cache size changed: starting with an empty cache");
	/* The caller drops the old region with cache_drop(). */
	cache = nc;
	return 0;
}

/* Unmap region c (not the running one) unless a worker still has it. */
static void
cache_drop(struct cache *c)
{
	int	 i;

	if (c == NULL || c == cache)
		return;
	for (i = 0; i < MAX_CHILDREN; i++)
		if (children[i].pid != 0 && children[i].cache == c)
			return;
	cache_destroy(c);
}

static int
slot_get(void)
{
	int	 i, stale;

	/* Shared with the other master's workers during an upgrade. */
	if ((i = shm_slot_claim(shm, &stale)) == -1)
		return -1;
	if (stale && cache != NULL)
		cache_slot_release(cache, i);
	memset(&shm->slot[i], 0, sizeof(shm->slot[i]));
	return i;
}

static int
spawn_worker(int index)
{
	struct child	*ch = NULL;
	pid_t		 pid, master_pid;
	int		 i, slot;

	for (i = 0; i < MAX_CHILDREN; i++)
		if (children[i].pid == 0) {
			ch = &children[i];
			break;
		}
	if (ch == NULL || (slot = slot_get()) == -1) {
		log_errorx("too many worker processes");
		return -1;
	}
	master_pid = getpid();
	pid = fork();
	if (pid == -1) {
		log_error("fork");
		shm_slot_unclaim(shm, slot);
		return -1;
	}
	if (pid == 0) {
		/* What only the master reads or writes. */
		if (ready_rd != -1)
			close(ready_rd);
		if (startup_fd != -1)
			close(startup_fd);
		/* Not the sockets the new configuration dropped. */
		if (prev_conf != NULL)
			close_unused(prev_conf, conf);
		worker_main(conf, shm, cache, slot, master_pid);
	}
	ch->pid = pid;
	ch->cache = cache;
	ch->slot = slot;
	ch->generation = generation;
	ch->index = index;
	ch->retiring = 0;
	clock_gettime(CLOCK_MONOTONIC, &ch->started);
	if (index < nrespawns)
		respawns[index].last_start_ms = proc_now_ms();
	log_info("started worker %d (pid %d)", slot, (int)pid);
	return 0;
}

/*
 * Fork conf's workers as generation `generation', with a new respawn
 * table (the caller keeps the previous one).  Returns how many started,
 * -1 when out of memory.
 */
static int
start_workers(void)
{
	int		 i, n = 0;
	struct respawn	*r;

	r = calloc(conf->g.workers, sizeof(*r));
	if (r == NULL) {
		log_errorx("out of memory");
		/* The caller still holds the previous table. */
		respawns = NULL;
		nrespawns = 0;
		return -1;
	}
	respawns = r;
	nrespawns = conf->g.workers;
	for (i = 0; i < conf->g.workers; i++) {
		respawns[i].backoff_ms = 100;
		if (spawn_worker(i) == 0)
			n++;
	}
	return n;
}

/*
 * Read the readiness pipe of a starting generation until every one of
 * its n workers said "R", or all of them have closed it, or the time is
 * up.  The first error a worker reported goes into why.  0 when all of
 * them are up, else -1.
 */
static int
wait_ready(int fd, int n, char *why, size_t whylen)
{
	char		 buf[4096], *line, *nl;
	size_t		 len = 0;
	ssize_t		 r;
	int		 ready = 0, left;
	uint64_t	 deadline = proc_now_ms() + READY_TIMEOUT_MS, now;
	struct pollfd	 pfd;

	why[0] = '\0';
	pfd.fd = fd;
	pfd.events = POLLIN;
	while (ready < n) {
		now = proc_now_ms();
		if (now >= deadline) {
			if (why[0] == '\0')
				snprintf(why, whylen, "%d of %d workers were not "
				    "up after %d s", n - ready, n,
				    READY_TIMEOUT_MS / 1000);
			return -1;
		}
		left = (int)(deadline - now);
		if (poll(&pfd, 1, left) == -1) {
			if (errno == EINTR)
				continue;
			snprintf(why, whylen, "poll: %s", strerror(errno));
			return -1;
		}
		if (pfd.revents == 0)
			continue;
		r = read(fd, buf + len, sizeof(buf) - 1 - len);
		if (r == -1 && errno == EINTR)
			continue;
		if (r <= 0)
			break;		/* every worker closed it: the rest died */
		len += (size_t)r;
		buf[len] = '\0';
		line = buf;
		while ((nl = strchr(line, '\n')) != NULL) {
			*nl = '\0';
			if (strcmp(line, "R") == 0)
				ready++;
			else if (strncmp(line, PROC_REPORT_PREFIX,
			    strlen(PROC_REPORT_PREFIX)) == 0 && why[0] == '\0')
				snprintf(why, whylen, "%s",
				    line + strlen(PROC_REPORT_PREFIX));
			line = nl + 1;
		}
		len = strlen(line);
		memmove(buf, line, len);
		if (len == sizeof(buf) - 1)
			len = 0;	/* an endless line: drop it */
	}
	if (ready == n)
		return 0;
	if (why[0] == '\0')
		snprintf(why, whylen, "%d of %d workers exited before they were "
		    "up", n - ready, n);
	return -1;
}

/*
 * Start a generation of workers and wait until each of them is up.
 * -1 with why filled when one of them failed: the caller removes the
 * generation.
 */
static int
start_generation(char *why, size_t whylen)
{
	int	 p[2], n, rc;

	if (pipe2(p, O_CLOEXEC) == -1) {
		snprintf(why, whylen, "pipe: %s", strerror(errno));
		return -1;
	}
	ready_rd = p[0];
	proc_ready_fd = p[1];
	n = start_workers();
	close(p[1]);
	proc_ready_fd = -1;
	if (n <= 0) {
		snprintf(why, whylen, "no worker could be started");
		rc = -1;
	} else if (n < conf->g.workers) {
		snprintf(why, whylen, "only %d of %d workers could be started",
		    n, conf->g.workers);
		rc = -1;
	} else
		rc = wait_ready(p[0], n, why, whylen);
	close(p[0]);
	ready_rd = -1;
	return rc;
}

/* Start the checker if conf has anything for it to do. */
static void
start_checker(void)
{
	pid_t	 pid;

	checker_rs.pending = 0;
	if (!health_needed(conf, shm))
		return;
	checker_rs.last_start_ms = proc_now_ms();
	if ((pid = health_start(conf, shm)) == -1) {
		checker_rs.pending = 1;
		checker_rs.due_ms = proc_now_ms() + 1000;
		return;
	}
	checker = pid;
}

/* Tell every checker to stop with sig; reap() sees them go. */
static void
stop_checker(int sig)
{
	int	 i;

	checker_rs.pending = 0;
	if (checker != 0) {
		for (i = 0; i < MAX_OLD_CHECKERS; i++)
			if (old_checkers[i] == 0) {
				old_checkers[i] = checker;
				break;
			}
		if (i == MAX_OLD_CHECKERS)
			kill(checker, SIGKILL);	/* no room to wait for it */
		checker = 0;
	}
	for (i = 0; i < MAX_OLD_CHECKERS; i++)
		if (old_checkers[i] != 0)
			kill(old_checkers[i], sig);
}

static int
live_checkers(void)
{
	int	 i, n = checker != 0;

	for (i = 0; i < MAX_OLD_CHECKERS; i++)
		n += old_checkers[i] != 0;
	return n;
}

/* On the way out: stop the checkers and wait for them, 2 s at most. */
static void
end_checkers(void)
{
	pid_t	 pid;
	int	 i, status, tries;

	stop_checker(SIGTERM);
	for (tries = 0; live_checkers() > 0; tries++) {
		if (tries == 20)
			stop_checker(SIGKILL);
		for (i = 0; i < MAX_OLD_CHECKERS; i++) {
			if (old_checkers[i] == 0)
				continue;
			pid = waitpid(old_checkers[i], &status,
			    tries > 20 ? 0 : WNOHANG);
			if (pid == old_checkers[i] || (pid == -1 && errno == ECHILD))
				old_checkers[i] = 0;
		}
		if (live_checkers() > 0)
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

static void
signal_workers(int sig, int only_old)
{
	int	 i;

	for (i = 0; i < MAX_CHILDREN; i++) {
		if (children[i].pid == 0)
			continue;
		if (only_old && children[i].generation == generation)
			continue;
		if (sig == SIGQUIT)
			children[i].retiring = 1;
		kill(children[i].pid, sig);
	}
}

static int
live_children(void)
{
	int	 i, n = 0;

	for (i = 0; i < MAX_CHILDREN; i++)
		if (children[i].pid != 0)
			n++;
	return n;
}

/* A worker has been reaped: give back its slot and its cache hold. */
static void
child_release(struct child *ch)
{
	shm_slot_release(shm, ch->slot);
	cache_reaped(ch);
	shm_stats_add(&shm->retired, &shm->slot[ch->slot]);
	memset(&shm->slot[ch->slot], 0, sizeof(shm->slot[ch->slot]));
	shm_slot_unclaim(shm, ch->slot);
	ch->pid = 0;
}

/*
 * A generation that did not come up: stop what is left of it.  With
 * wait (at start, on the way out) they are killed and reaped here; else
 * they are told to quit like retired workers and reap() sees them go.
 */
static void
end_generation(int gen, int wait)
{
	int	 i, status;

	for (i = 0; i < MAX_CHILDREN; i++) {
		if (children[i].pid == 0 || children[i].generation != gen)
			continue;
		children[i].retiring = 1;
		kill(children[i].pid, wait ? SIGKILL : SIGQUIT);
		if (!wait)
			continue;
		while (waitpid(children[i].pid, &status, 0) == -1 &&
		    errno == EINTR)
			;
		child_release(&children[i]);
	}
}

/*
 * WINCH, while a new binary's master runs (upgrade.c): the workers
 * finish gracefully and none is started until HUP rolls back or the new
 * master exits.  Without one it is ignored: under -F in a terminal
 * WINCH is a window resize.
 */
static void
park_workers(void)
{
	int	 i;

	upgrade_poll();
	if (parked)
		return;
	if (!upgrade_pending()) {
		log_notice("ignoring WINCH: no new binary's master runs");
		return;
	}
	log_notice("upgrade: stopping the workers gracefully (WINCH)");
	parked = 1;
	for (i = 0; i < nrespawns; i++)
		respawns[i].pending = 0;
	signal_workers(SIGQUIT, 0);
	stop_checker(SIGTERM);
}

/* Roll back, or the new master is gone: start the workers again. */
static void
unpark_workers(void)
{
	char	 why[512];

	if (!parked)
		return;
	parked = 0;
	free(respawns);
	respawns = NULL;
	nrespawns = 0;
	generation = ++generations;
	if (start_generation(why, sizeof(why)) == -1) {
		log_errorx("the workers did not come up again: %s", why);
		end_generation(generation, 0);
	} else
		log_notice("upgrade: workers started again: %d",
		    conf->g.workers);
	start_checker();
}

/* Reap exited workers; log how each one ended; schedule replacements. */
static void
reap(int stopping)
{
	pid_t		 pid;
	int		 status, i;
	struct child	*ch;
	struct respawn	*rs;
	uint64_t	 now = proc_now_ms();

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		ch = NULL;
		for (i = 0; i < MAX_CHILDREN; i++)
			if (children[i].pid == pid) {
				ch = &children[i];
				break;
			}
		if (ch == NULL && upgrade_reaped(pid, status)) {
			if (parked && !stopping)
				unpark_workers();
			continue;
		}
		if (ch == NULL) {
			for (i = 0; i < MAX_OLD_CHECKERS; i++)
				if (old_checkers[i] == pid) {
					old_checkers[i] = 0;
					log_info("checker (pid %d) exited", (int)pid);
				}
			if (pid == checker) {
				checker = 0;
				if (stopping && WIFEXITED(status) &&
				    WEXITSTATUS(status) == 0)
					log_info("checker (pid %d) exited", (int)pid);
				else if (!stopping)
					checker_died(pid, status, now);
				else
					log_warnx("checker (pid %d) ended with "
					    "status 0x%x", (int)pid, status);
			}
			continue;
		}
		child_release(ch);
		if (WIFEXITED(status) && WEXITSTATUS(status) == 0 &&
		    (ch->retiring || stopping)) {
			log_info("worker %d (pid %d) exited", ch->slot, (int)pid);
			continue;
		}
		if (WIFSIGNALED(status))
			log_warnx("worker %d (pid %d) killed by signal %d%s",
			    ch->slot, (int)pid, WTERMSIG(status),
			    WCOREDUMP(status) ? " (core dumped)" : "");
		else
			log_warnx("worker %d (pid %d) exited with status %d",
			    ch->slot, (int)pid, WEXITSTATUS(status));
		if (stopping || ch->retiring || ch->generation != generation)
			continue;
		if (WIFEXITED(status) && WEXITSTATUS(status) == WORKER_EXIT_FATAL) {
			log_errorx("worker %d hit a fatal error: not restarting it",
			    ch->slot);
			continue;
		}
		if (ch->index >= nrespawns)
			continue;
		rs = &respawns[ch->index];
		/* A worker that dies young is restarted ever more slowly. */
		if (now - rs->last_start_ms < 5000) {
			rs->due_ms = now + rs->backoff_ms;
			rs->backoff_ms = rs->backoff_ms * 2 > 30000 ? 30000 :
			    rs->backoff_ms * 2;
		} else {
			rs->due_ms = now;
			rs->backoff_ms = 100;
		}
		rs->pending = 1;
		if (rs->due_ms > now)
			log_notice("starting a new worker in %llu ms",
			    (unsigned long long)(rs->due_ms - now));
		else
			log_notice("starting a new worker");
	}
}

static void
run_respawns(void)
{
	int		 i;
	uint64_t	 now = proc_now_ms();

	for (i = 0; i < nrespawns; i++)
		if (respawns[i].pending && respawns[i].due_ms <= now) {
			respawns[i].pending = 0;
			if (spawn_worker(i) == -1) {
				respawns[i].pending = 1;
				respawns[i].due_ms = now + 1000;
			}
		}
	if (checker_rs.pending && checker_rs.due_ms <= now && checker == 0)
		start_checker();
}

static long
next_respawn_wait(void)
{
	int		 i;
	uint64_t	 now = proc_now_ms(), best = UINT64_MAX;

	for (i = 0; i < nrespawns; i++)
		if (respawns[i].pending && respawns[i].due_ms < best)
			best = respawns[i].due_ms;
	if (checker_rs.pending && checker_rs.due_ms < best)
		best = checker_rs.due_ms;
	if (best == UINT64_MAX)
		return 1000;
	return best <= now ? 0 : (long)(best - now);
}

/*
 * Hand the log files to the worker user, so that workers can reopen
 * them.  Opened without following a symbolic link and only when it is a
 * regular file with no other name: a worker user who can write the log
 * directory must not get root's files by planting a link there.
 */
static void
chown_logs(struct conf *c)
{
	struct stat	 st;
	int		 fd;

	if (!c->g.drop)
		return;
	if (c->g.access_log != NULL) {
		if ((fd = conf_open_log(c->g.access_log)) == -1)
			log_errorx("access log %s: %s: not handing it to %s",
			    c->g.access_log, conf_log_strerror(errno),
			    c->g.user);
		else {
			if (fstat(fd, &st) == -1)
				log_warn("fstat %s", c->g.access_log);
			else if (!S_ISREG(st.st_mode))
				;	/* a device or a pipe: not ours to give */
			else if (st.st_nlink != 1)
				log_errorx("access log %s has more than one name: "
				    "not handing it to %s", c->g.access_log,
				    c->g.user);
			else if (fchown(fd, c->g.uid, c->g.gid) == -1)
				log_warn("chown %s", c->g.access_log);
			close(fd);
		}
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
static void
log_user(const struct conf *c)
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
 * Log each line of a conf error text, then why nothing changes; the
 * first line goes into why.
 */
static void
reload_refused(char *errors, char *why, size_t whylen)
{
	char	*line, *save = NULL;

	snprintf(why, whylen, "cannot load the configuration");
	if (errors == NULL)
		log_errorx("cannot load the configuration: out of memory");
	for (line = errors == NULL ? NULL : strtok_r(errors, "\n", &save);
	    line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		if (line == errors)
			snprintf(why, whylen, "%s", line);
		log_errorx("%s", line);
	}
	log_errorx("reload failed: keeping the running configuration");
	free(errors);
}

/* Log, in one line, what a reload changed (confdiff.c). */
static void
reload_summary(const struct conf *old, const struct conf *new)
{
	struct confdiff	 d;
	char		*s;

	if (confdiff_run(old, new, 0, &d) == -1 ||
	    (s = confdiff_join(&d, "; ")) == NULL) {
		log_warnx("reload: cannot list the changes: out of memory");
		confdiff_free(&d);
		return;
	}
	if (d.n == 0)
		log_notice("reload: no changes");
	else
		log_notice("reload: %zu change%s: %s", d.n, d.n == 1 ? "" : "s", s);
	free(s);
	confdiff_free(&d);
}

/*
 * HUP: load and check the new configuration; switch only if all is well.
 * The old workers are retired only once every new one is up; when the
 * new ones fail, they are stopped and the old configuration keeps
 * serving.  0 when the new configuration serves; -1 with why filled
 * when the old one still does.
 */
static int
reload(char *why, size_t whylen)
{
	struct conf	*nc;
	char		*errors = NULL, errbuf[512];
	struct conf	*old = conf;
	struct cache	*old_cache = cache;
	struct respawn	*old_respawns = respawns;
	struct cache	*nc_cache;
	int		 old_nrespawns = nrespawns, old_gen = generation, rc;

	log_notice("reloading configuration from %s", conf_path);
	nc = conf_load(conf_path, &errors);
	if (nc != NULL && (tls_conf_load(nc, &errors) == -1 ||
	    conf_check(nc, &errors) == -1)) {
		/* A missing certificate, user or log: nothing changes. */
		conf_free(nc);
		nc = NULL;
	}
	if (nc == NULL) {
		reload_refused(errors, why, whylen);
		return -1;
	}
	if (shm_servers_assign(shm, nc, errbuf, sizeof(errbuf)) == -1) {
		log_errorx("%s", errbuf);
		log_errorx("reload failed: keeping the running configuration");
		snprintf(why, whylen, "%s", errbuf);
		shm_servers_assign(shm, old, errbuf, sizeof(errbuf));
		conf_free(nc);
		return -1;
	}
	if (master_bind(nc, old, errbuf, sizeof(errbuf)) == -1) {
		shm_servers_assign(shm, old, errbuf, sizeof(errbuf));
		log_errorx("%s", errbuf);
		log_errorx("reload failed: keeping the running configuration");
		snprintf(why, whylen, "%s", errbuf);
		conf_free(nc);
		return -1;
	}
	if (cache_setup(nc) == -1) {
		shm_servers_assign(shm, old, errbuf, sizeof(errbuf));
		close_unused(nc, old);
		log_errorx("reload failed: keeping the running configuration");
		snprintf(why, whylen, "cannot create the cache region of %zu "
		    "bytes", nc->cache.size);
		conf_free(nc);
		return -1;
	}
	if (strcmp(nc->g.error_log, old->g.error_log) != 0) {
		if (log_open(nc->g.error_log, nc->g.log_level, errbuf,
		    sizeof(errbuf)) == -1)
			log_errorx("%s (keeping the old error log)", errbuf);
	}
	log_set_level(nc->g.log_level);
	conf = nc;
	log_user(conf);
	chown_logs(conf);
	generation = ++generations;
	prev_conf = old;
	rc = start_generation(errbuf, sizeof(errbuf));
	prev_conf = NULL;
	if (rc == -1) {
		log_errorx("reload: the new workers did not come up: %s", errbuf);
		log_errorx("reload failed: the old workers keep serving the "
		    "previous configuration");
		snprintf(why, whylen, "the new workers did not come up: %.400s",
		    errbuf);
		end_generation(generation, 0);
		free(respawns);
		respawns = old_respawns;
		nrespawns = old_nrespawns;
		generation = old_gen;
		conf = old;
		/* A new region goes when the last new worker has left. */
		nc_cache = cache;
		cache = old_cache;
		cache_drop(nc_cache);
		if (strcmp(nc->g.error_log, old->g.error_log) != 0 &&
		    log_open(old->g.error_log, old->g.log_level, errbuf,
		    sizeof(errbuf)) == -1)
			log_errorx("%s", errbuf);
		log_set_level(old->g.log_level);
		shm_servers_assign(shm, old, errbuf, sizeof(errbuf));
		/*
		 * The new workers hold their own copies of the sockets;
		 * close only what the old config does not use.
		 */
		close_unused(nc, old);
		conf_free(nc);
		return -1;
	}
	free(old_respawns);
	cache_drop(old_cache);
	/*
	 * Every new worker is up: retire the old ones, and close the sockets
	 * the new config dropped (the old workers hold their own copies
	 * until they finish).
	 */
	signal_workers(SIGQUIT, 1);
	close_unused(old, nc);
	/* The checker probes what the new config names. */
	stop_checker(SIGTERM);
	start_checker();
	reload_summary(old, conf);
	conf_free(old);
	log_notice("configuration reloaded: %d workers", conf->g.workers);
	return 0;
}

/*
 * Rotate the TLS session-ticket keys when tls_ticket_rotation has passed;
 * returns wait_ms, or less when the next rotation comes sooner.
 */
static long
tls_tickets_wait(long wait_ms)
{
	uint64_t	 next;

	if (tls_tickets_tick(proc_now_ms(), (uint64_t)conf->g.tls_ticket_rotation_ms,
	    &next))
		log_info("rotated the TLS session ticket keys");
	return (uint64_t)wait_ms > next ? (long)next : wait_ms;
}

static void
raise_fd_limit(void)
{
	struct rlimit	 rl;
	rlim_t		 want = (rlim_t)conf->g.worker_connections * 2 + 64;

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
	    (unsigned long long)want, conf->g.worker_connections);
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
		daemon_parent(pid, p[0], strcmp(conf->g.error_log, "stderr") == 0);
	}
	close(p[0]);
	startup_fd = p[1];
	/* Until it is up, its errors reach the shell too. */
	if (strcmp(conf->g.error_log, "stderr") != 0)
		log_set_report(startup_fd, PROC_REPORT_PREFIX);
	if (setsid() == -1)
		fatal("setsid");
	if ((fd = open("/dev/null", O_RDWR)) != -1) {
		dup2(fd, STDIN_FILENO);
		dup2(fd, STDOUT_FILENO);
		if (log_fd() != -1 || strcmp(conf->g.error_log, "stderr") != 0)
			dup2(fd, STDERR_FILENO);
		if (fd > STDERR_FILENO)
			close(fd);
	}
	if (chdir("/") == -1)
		log_warn("chdir /");
}

/* The daemon is up: let the shell that started it go. */
static void
startup_done(void)
{
	log_set_report(-1, NULL);
	if (startup_fd == -1)
		return;
	if (write(startup_fd, "R\n", 2) == -1) {
		/* The shell is gone: nobody to tell. */
	}
	close(startup_fd);
	startup_fd = -1;
}

/* The first workers; after an upgrade, the pid file once they are up. */
static int
start_first(char *why, size_t whylen)
{
	if (start_generation(why, whylen) == -1)
		return -1;
	if (upgrade_inherited() && write_pid_file(conf->g.pid_file) == -1) {
		snprintf(why, whylen, "cannot write the pid file");
		return -1;
	}
	return 0;
}

/*
 * Reporting: what the service manager (notify.c), the state file
 * (runstate.c) and the status page (the shm header) learn about the
 * serving generation and the reloads.
 */
static struct runstate	 rstate;
static char		*conf_text;	/* the file as the last load read it */
static size_t		 conf_text_len;

/* Read the config file, just before it is loaded. */
static void
report_read_conf(void)
{
	free(conf_text);
	conf_text = runstate_read_conf(conf_path, &conf_text_len);
}

/* The text loaded is what serves now: keep it for -t -d. */
static void
report_save_conf(void)
{
	if (conf_text != NULL)
		(void)runstate_save_conf(conf, conf_text, conf_text_len);
	free(conf_text);
	conf_text = NULL;
}

/* The STATUS= line: "3 workers, generation 2, 0 failed reloads". */
static void
report_status(char *buf, size_t len)
{
	int	 n;

	n = snprintf(buf, len, "%d worker%s, generation %llu, %llu failed "
	    "reload%s", conf->g.workers, conf->g.workers == 1 ? "" : "s",
	    (unsigned long long)rstate.generation,
	    (unsigned long long)rstate.reloads_failed,
	    rstate.reloads_failed == 1 ? "" : "s");
	if (n > 0 && (size_t)n < len && rstate.last_reload != 0 &&
	    !rstate.last_ok)
		snprintf(buf + n, len - (size_t)n, "; last reload failed: %s",
		    rstate.last_error);
}

/* Publish rstate: the state file and the shm header. */
static void
report_publish(void)
{
	rstate.pid = getpid();
	rstate.workers = conf->g.workers;
	__atomic_store_n(&shm->generation, rstate.generation, __ATOMIC_RELAXED);
	__atomic_store_n(&shm->reloads, rstate.reloads_done, __ATOMIC_RELAXED);
	__atomic_store_n(&shm->reloads_failed, rstate.reloads_failed,
	    __ATOMIC_RELAXED);
	__atomic_store_n(&shm->last_reload, rstate.last_reload, __ATOMIC_RELAXED);
	__atomic_store_n(&shm->last_reload_ok, (uint32_t)rstate.last_ok,
	    __ATOMIC_RELAXED);
	(void)runstate_write(conf, &rstate);
}

/* The first generation is up: the service is ready. */
static void
report_started(void)
{
	char	 status[700];

	memset(&rstate, 0, sizeof(rstate));
	rstate.generation = 1;
	report_save_conf();
	report_publish();
	report_status(status, sizeof(status));
	notify_ready(status);
}

/* HUP taken: say so before anything is read. */
static void
report_reload_begin(void)
{
	rstate.reloads_begun++;
	(void)runstate_write(conf, &rstate);
	report_read_conf();
	notify_reloading();
}

/* A reload ended, with why it failed (rc -1) or the new config serving. */
static void
report_reload_end(int rc, const char *why)
{
	char	 status[700];

	rstate.reloads_done = rstate.reloads_begun;
	rstate.last_reload = (int64_t)time(NULL);
	rstate.last_ok = rc == 0;
	if (rc == 0) {
		rstate.generation++;
		rstate.last_error[0] = '\0';
		report_save_conf();
	} else {
		free(conf_text);
		conf_text = NULL;
		rstate.reloads_failed++;
		snprintf(rstate.last_error, sizeof(rstate.last_error), "%s", why);
	}
	report_publish();
	report_status(status, sizeof(status));
	notify_ready(status);
}

/* On the way out (QUIT, TERM, INT). */
static void
report_stopping(int graceful)
{
	/* Workers told to quit now are not the old ones of a reload. */
	__atomic_store_n(&shm->stopping, 1, __ATOMIC_RELAXED);
	notify_stopping(graceful ? "stopping gracefully" : "stopping");
}

int
master_run(struct conf *c, const char *path, int foreground)
{
	sigset_t	 set;
	siginfo_t	 si;
	struct timespec	 ts;
	char		 errbuf[512];
	int		 sig, stopping = 0, graceful = 0, rc = 0;
	uint64_t	 stop_deadline = 0;
	long		 wait_ms;
	struct shm_stats tot;

	conf = c;
	conf_path = path;
	log_set_role("master");
	proctitle_set("portico: master (%s)", proctitle_args());
	/* main() loaded it a moment ago: the closest to that text. */
	report_read_conf();
	if (log_open(conf->g.error_log, conf->g.log_level, errbuf, sizeof(errbuf)) == -1) {
		fprintf(stderr, "portico: %s\n", errbuf);
		return 1;
	}
	/* Until it is up, every error reaches the shell too. */
	if (strcmp(conf->g.error_log, "stderr") != 0)
		log_set_report(STDERR_FILENO, "portico: ");
	log_user(conf);
	raise_fd_limit();
	upgrade_adopt(&startup_fd);
	if (upgrade_inherited()) {
		/* Its errors and readiness go to the old master. */
		log_set_report(startup_fd, PROC_REPORT_PREFIX);
		foreground = 1;
	}
	if (master_bind(conf, NULL, errbuf, sizeof(errbuf)) == -1) {
		log_errorx("%s", errbuf);
		return 1;
	}
	if ((shm = upgrade_shm()) == NULL) {
		log_error("cannot create shared memory");
		return 1;
	}
	if (shm_servers_assign(shm, conf, errbuf, sizeof(errbuf)) == -1) {
		log_errorx("%s", errbuf);
		return 1;
	}
	if (cache_setup(conf) == -1)
		return 1;
	if (upgrade_tls() == -1) {
		log_error("cannot create the TLS ticket keys");
		return 1;
	}
	upgrade_close_unused();
	chown_logs(conf);

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGQUIT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGUSR2);
	sigaddset(&set, SIGWINCH);
	sigaddset(&set, SIGCHLD);
	sigprocmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (!foreground)
		daemonize();
	/* After an upgrade the pid file says the new master is up. */
	if (!upgrade_inherited() && write_pid_file(conf->g.pid_file) == -1)
		return 1;
	log_notice("portico %s starting: %d workers", PACKAGE_VERSION, conf->g.workers);
	generation = ++generations;
	if (start_first(errbuf, sizeof(errbuf)) == -1) {
		log_errorx("the workers did not come up: %s", errbuf);
		free(conf_text);
		conf_text = NULL;
		end_generation(generation, 1);
		remove_pid_file(conf->g.pid_file);
		log_set_report(-1, NULL);
		if (startup_fd != -1)
			close(startup_fd);
		return 1;
	}
	log_notice("portico %s started: %d workers", PACKAGE_VERSION, conf->g.workers);
	startup_done();
	/*
	 * After a binary upgrade this master is the service's main process
	 * now (the unit has NotifyAccess=all, as the old master started it).
	 */
	if (upgrade_inherited())
		(void)notify_send("MAINPID=%d", (int)getpid());
	report_started();
	start_checker();

	for (;;) {
		upgrade_poll();
		if (!stopping && !parked)
			run_respawns();
		if (stopping) {
			if (live_children() == 0 && live_checkers() == 0)
				break;
			if (proc_now_ms() >= stop_deadline) {
				log_warnx("workers did not stop in time: killing them");
				signal_workers(SIGKILL, 0);
				stop_checker(SIGKILL);
				stop_deadline = proc_now_ms() + 5000;
			}
			wait_ms = (long)(stop_deadline - proc_now_ms());
			if (wait_ms > 200)
				wait_ms = 200;
		} else {
			wait_ms = next_respawn_wait();
			wait_ms = tls_tickets_wait(wait_ms);
		}
		wait_ms = upgrade_wait(wait_ms);
		if (wait_ms < 0)
			wait_ms = 0;
		ts.tv_sec = wait_ms / 1000;
		ts.tv_nsec = (wait_ms % 1000) * 1000000;
		sig = sigtimedwait(&set, &si, &ts);
		if (sig == -1)
			continue;
		switch (sig) {
		case SIGCHLD:
			reap(stopping);
			if (!stopping && !parked && live_children() == 0 &&
			    nrespawns > 0) {
				int i, pending = 0;
				for (i = 0; i < nrespawns; i++)
					pending |= respawns[i].pending;
				if (!pending) {
					log_errorx("no workers left: exiting");
					rc = 1;
					goto out;
				}
			}
			break;
		case SIGHUP:
			if (stopping)
				break;
			if (!upgrade_pending()) {
				report_reload_begin();
				report_reload_end(reload(errbuf,
				    sizeof(errbuf)), errbuf);
				break;
			}
			/* Roll back: workers first, then the new master goes. */
			unpark_workers();
			upgrade_rollback();
			break;
		case SIGUSR2:
			if (!stopping)
				upgrade_start(conf, cache);
			break;
		case SIGWINCH:
			if (!stopping)
				park_workers();
			break;
		case SIGUSR1:
			log_notice("reopening log files");
			log_reopen();
			chown_logs(conf);
			signal_workers(SIGUSR1, 0);
			if (checker != 0)
				kill(checker, SIGUSR1);
			break;
		case SIGQUIT:
			if (stopping)
				break;
			log_notice("graceful shutdown");
			report_stopping(1);
			stopping = graceful = 1;
			close_unused(conf, NULL);
			signal_workers(SIGQUIT, 0);
			stop_checker(SIGTERM);
			stop_deadline = proc_now_ms() + conf->g.shutdown_timeout_ms + 5000;
			break;
		case SIGTERM:
		case SIGINT:
			log_notice("shutting down");
			report_stopping(0);
			stopping = 1;
			graceful = 0;
			close_unused(conf, NULL);
			signal_workers(SIGTERM, 0);
			stop_checker(SIGTERM);
			stop_deadline = proc_now_ms() + 5000;
			break;
		default:
			log_info("ignoring signal %d", sig);
			break;
		}
	}
out:
	end_checkers();
	shm_stats_total(shm, &tot);
	log_notice("%s: %llu connections, %llu requests, %llu upstream errors",
	    graceful ? "stopped gracefully" : "stopped",
	    (unsigned long long)tot.connections,
	    (unsigned long long)tot.requests,
	    (unsigned long long)tot.upstream_errors);
	runstate_remove(conf, getpid());
	remove_pid_file(conf->g.pid_file);
	upgrade_end(conf->g.pid_file);
	close_unused(conf, NULL);
	shm_destroy(shm);
	if (cache != NULL)
		cache_destroy(cache);
	tls_shm_destroy();
	free(respawns);
	free(conf_text);
	conf_free(conf);
	log_close();
	return rc;
}
