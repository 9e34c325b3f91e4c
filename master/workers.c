/*
 * workers.c: the worker processes as the master sees them.  A generation
 * is the set of workers started for one configuration: forked together,
 * each given a shared-memory stats slot and the cache region, and waited
 * for on a readiness pipe until every one said it is up.  Reaping logs
 * how a worker ended and schedules its restart (ever more slowly for a
 * worker that dies young); WINCH during a binary upgrade parks them.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/cache.h"
#include "common/log.h"
#include "common/proc.h"
#include "common/shm.h"
#include "master/master_int.h"
#include "master/upgrade.h"

#define MAX_CHILDREN	SHM_SLOTS
/* How long a new generation of workers has to come up. */
#define READY_TIMEOUT_MS	30000

struct child {
	pid_t		 pid;		/* 0: free entry */
	int		 slot;		/* shm stats slot */
	int		 generation;	/* config generation it runs */
	int		 index;		/* position 0..workers-1 in its generation */
	int		 retiring;	/* told to quit */
	struct cache	*cache;		/* the cache region it was given */
	struct timespec	 started;
};

static struct child		 children[MAX_CHILDREN];
struct respawn			*workers_respawns;
int				 workers_nrespawns;
int				 workers_generation;	/* the one serving */
int				 workers_generations;	/* the last one started */
static int			 parked;	/* WINCH: no workers until HUP */
static int			 ready_rd = -1;	/* read end of proc_ready_fd */
struct conf			*workers_prev_conf;	/* while a reload starts workers */

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
	if (c == master_cache)
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
int
workers_cache_setup(const struct conf *c)
{
	struct cache	*nc;

	if (!c->cache_used) {
		nc = NULL;
	} else if (master_cache != NULL &&
	    cache_size(master_cache) == c->cache.size) {
		return 0;
	} else if ((nc = upgrade_cache(c->cache.size)) == NULL) {
		log_error("cannot create the cache region of %zu bytes",
		    c->cache.size);
		return -1;
	}
	if (master_cache != NULL && nc != NULL)
		log_notice("cache size changed: starting with an empty cache");
	/* The caller drops the old region with workers_cache_drop(). */
	master_cache = nc;
	return 0;
}

/* Unmap region c (not the running one) unless a worker still has it. */
void
workers_cache_drop(struct cache *c)
{
	int	 i;

	if (c == NULL || c == master_cache)
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
	if ((i = shm_slot_claim(master_shm, &stale)) == -1)
		return -1;
	if (stale && master_cache != NULL)
		cache_slot_release(master_cache, i);
	memset(&master_shm->slot[i], 0, sizeof(master_shm->slot[i]));
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
		shm_slot_unclaim(master_shm, slot);
		return -1;
	}
	if (pid == 0) {
		/* What only the master reads or writes. */
		if (ready_rd != -1)
			close(ready_rd);
		if (master_startup_fd != -1)
			close(master_startup_fd);
		/* Not the sockets the new configuration dropped. */
		if (workers_prev_conf != NULL)
			listeners_close_unused(workers_prev_conf, master_conf);
		worker_main(master_conf, master_shm, master_cache, slot,
		    master_pid);
	}
	ch->pid = pid;
	ch->cache = master_cache;
	ch->slot = slot;
	ch->generation = workers_generation;
	ch->index = index;
	ch->retiring = 0;
	clock_gettime(CLOCK_MONOTONIC, &ch->started);
	if (index < workers_nrespawns)
		workers_respawns[index].last_start_ms = proc_now_ms();
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

	r = calloc(master_conf->g.workers, sizeof(*r));
	if (r == NULL) {
		log_errorx("out of memory");
		/* The caller still holds the previous table. */
		workers_respawns = NULL;
		workers_nrespawns = 0;
		return -1;
	}
	workers_respawns = r;
	workers_nrespawns = master_conf->g.workers;
	for (i = 0; i < master_conf->g.workers; i++) {
		workers_respawns[i].backoff_ms = 100;
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
int
workers_start_generation(char *why, size_t whylen)
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
	} else if (n < master_conf->g.workers) {
		snprintf(why, whylen, "only %d of %d workers could be started",
		    n, master_conf->g.workers);
		rc = -1;
	} else
		rc = wait_ready(p[0], n, why, whylen);
	close(p[0]);
	ready_rd = -1;
	return rc;
}

void
workers_signal(int sig, int only_old)
{
	int	 i;

	for (i = 0; i < MAX_CHILDREN; i++) {
		if (children[i].pid == 0)
			continue;
		if (only_old && children[i].generation == workers_generation)
			continue;
		if (sig == SIGQUIT)
			children[i].retiring = 1;
		kill(children[i].pid, sig);
	}
}

int
workers_live(void)
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
	shm_slot_release(master_shm, ch->slot);
	cache_reaped(ch);
	/* Its tunnels are closed now, whatever it had time to count. */
	shm_write64(&master_shm->slot[ch->slot].tunnels_closed,
	    shm_read64(&master_shm->slot[ch->slot].tunnels));
	shm_stats_add(&master_shm->retired, &master_shm->slot[ch->slot]);
	memset(&master_shm->slot[ch->slot], 0,
	    sizeof(master_shm->slot[ch->slot]));
	shm_slot_unclaim(master_shm, ch->slot);
	ch->pid = 0;
}

/*
 * A generation that did not come up: stop what is left of it.  With
 * wait (at start, on the way out) they are killed and reaped here; else
 * they are told to quit like retired workers and workers_reap() sees them go.
 */
void
workers_end_generation(int gen, int wait)
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
void
workers_park(void)
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
	for (i = 0; i < workers_nrespawns; i++)
		workers_respawns[i].pending = 0;
	workers_signal(SIGQUIT, 0);
	checker_stop(SIGTERM);
}

/* Roll back, or the new master is gone: start the workers again. */
void
workers_unpark(void)
{
	char	 why[512];

	if (!parked)
		return;
	parked = 0;
	free(workers_respawns);
	workers_respawns = NULL;
	workers_nrespawns = 0;
	workers_generation = ++workers_generations;
	if (workers_start_generation(why, sizeof(why)) == -1) {
		log_errorx("the workers did not come up again: %s", why);
		workers_end_generation(workers_generation, 0);
	} else
		log_notice("upgrade: workers started again: %d",
		    master_conf->g.workers);
	checker_start();
}

/* Reap exited workers; log how each one ended; schedule replacements. */
void
workers_reap(int stopping)
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
				workers_unpark();
			continue;
		}
		if (ch == NULL) {
			checker_reaped(pid, status, stopping, now);
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
		if (stopping || ch->retiring ||
		    ch->generation != workers_generation)
			continue;
		if (WIFEXITED(status) && WEXITSTATUS(status) == WORKER_EXIT_FATAL) {
			log_errorx("worker %d hit a fatal error: not restarting it",
			    ch->slot);
			continue;
		}
		if (ch->index >= workers_nrespawns)
			continue;
		rs = &workers_respawns[ch->index];
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

/* Start the workers (and the checker) whose restart is due. */
void
workers_respawn_due(void)
{
	int		 i;
	uint64_t	 now = proc_now_ms();

	if (parked)
		return;
	for (i = 0; i < workers_nrespawns; i++)
		if (workers_respawns[i].pending &&
		    workers_respawns[i].due_ms <= now) {
			workers_respawns[i].pending = 0;
			if (spawn_worker(i) == -1) {
				workers_respawns[i].pending = 1;
				workers_respawns[i].due_ms = now + 1000;
			}
		}
	checker_respawn_due(now);
}

/* How long until the next restart is due, 1000 ms at most. */
long
workers_respawn_wait(void)
{
	int		 i;
	uint64_t	 now = proc_now_ms(), best = UINT64_MAX;

	for (i = 0; i < workers_nrespawns; i++)
		if (workers_respawns[i].pending &&
		    workers_respawns[i].due_ms < best)
			best = workers_respawns[i].due_ms;
	best = checker_due(best);
	if (best == UINT64_MAX)
		return 1000;
	return best <= now ? 0 : (long)(best - now);
}

/*
 * Whether the master has no worker left and none coming: none alive,
 * none waiting to be restarted, and not parked for an upgrade.
 */
int
workers_none_left(void)
{
	int	 i, pending = 0;

	if (parked || workers_live() != 0 || workers_nrespawns <= 0)
		return 0;
	for (i = 0; i < workers_nrespawns; i++)
		pending |= workers_respawns[i].pending;
	return !pending;
}
