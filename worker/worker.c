/*
 * worker.c: a worker process.  It inherits the listening sockets and the
 * configuration from the master, drops privileges, and runs its event
 * loop until told to stop.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "common/log.h"
#include "common/proctitle.h"
#include "worker/alogsink.h"
#include "worker/authq.h"
#include "worker/event.h"
#include "worker/hitfile.h"
#include "worker/metrics.h"
#include "worker/proxy.h"
#include "worker/worker.h"

struct worker_ctx	 worker;

static struct proxy_listener	*listeners;
static size_t			 nlisteners;
static struct ev_io		 sig_io;
static int			 stop_now;
static uint64_t			 quit_deadline;
static struct ev_timer		 accept_timer;	/* ends an accept pause */
static int			 accept_paused;

int
worker_access_log_enabled(void)
{
	return alogsink_any();
}

/*
 * Out of file descriptors: a level-triggered listener would wake us again
 * at once for the connection we cannot take, spinning a core.  So take
 * the listeners out of epoll for a while, as nginx does for 500 ms; the
 * kernel queues new connections in the backlog meanwhile.
 */
void
worker_accept_pause(uint64_t ms)
{
	size_t	 i;

	if (accept_paused || worker.quitting)
		return;
	for (i = 0; i < nlisteners; i++)
		ev_del(&listeners[i].io);
	accept_paused = 1;
	ev_timer_set(&accept_timer, ev_now + ms);
}

void
worker_accept_resume(void)
{
	size_t	 i;

	if (!accept_paused)
		return;
	accept_paused = 0;
	ev_timer_cancel(&accept_timer);
	if (worker.quitting)
		return;		/* the listeners are closed */
	for (i = 0; i < nlisteners; i++)
		if (listeners[i].io.fd != -1 &&
		    ev_add_listener(&listeners[i].io) == -1)
			log_warn("epoll_ctl listener");
}

static void
accept_timer_cb(struct ev_timer *t)
{
	(void)t;
	worker_accept_resume();
}

static void
close_listeners(void)
{
	size_t	 i;

	if (accept_paused) {
		accept_paused = 0;
		ev_timer_cancel(&accept_timer);
	}
	for (i = 0; i < nlisteners; i++) {
		if (listeners[i].io.fd != -1) {
			ev_del(&listeners[i].io);
			close(listeners[i].io.fd);
			listeners[i].io.fd = -1;
		}
	}
}

static void
begin_quit(void)
{
	if (worker.quitting)
		return;
	log_info("graceful stop: %zu connections open", proxy_active());
	/* Told to quit while the master goes on: a reload retired us. */
	if (shm_read32(&worker.shm->stopping))
		proctitle_set("portico: worker %d (shutting down)", worker.slot);
	else
		proctitle_set("portico: worker %d (old, draining)", worker.slot);
	close_listeners();
	quit_deadline = ev_now + worker.conf->g.shutdown_timeout_ms;
	proxy_quit();
}

static void
signal_cb(struct ev_io *io, uint32_t events)
{
	struct signalfd_siginfo	 si;

	while (read(io->fd, &si, sizeof(si)) == sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGTERM:
		case SIGINT:
			stop_now = 1;
			break;
		case SIGQUIT:
			begin_quit();
			break;
		case SIGUSR1:
			alogsink_flush();
			log_reopen();
			alogsink_reopen();
			break;
		default:
			break;
		}
	}
}

void
worker_main(struct conf *conf, struct shm_header *shm, struct cache *cache,
    int slot, pid_t master_pid)
{
	sigset_t	 set;
	size_t		 i, j, k;
	char		 role[32];

	memset(&worker, 0, sizeof(worker));
	worker.conf = conf;
	worker.slot = slot;
	worker.shm = shm;
	worker.cache = cache;
	worker.stats = &shm->slot[slot];
	metrics_worker_start(shm, slot);
	hitfile_init();
	snprintf(role, sizeof(role), "worker %d", slot);
	log_set_role(role);
	proctitle_set("portico: worker %d", slot);
	/* Until it is up, its errors go to the master too. */
	log_set_report(proc_ready_fd, PROC_REPORT_PREFIX);

	signal(SIGPIPE, SIG_IGN);
	proc_block_signals(&set);

	if (alogsink_open(worker.conf) == -1)
		exit(WORKER_EXIT_FATAL);
	/*
	 * Give up root: the listeners are bound already.  A failure here is
	 * fatal for every worker alike, so the master must not respawn.
	 */
	if (proc_drop_privileges(worker.conf) == -1)
		exit(WORKER_EXIT_FATAL);
	/*
	 * After the uid change, which clears it: die with the master.  If it
	 * is gone already (our parent is no longer it), stop now.
	 */
	(void)prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() != master_pid)
		exit(0);

	if (ev_init() == -1)
		fatal("epoll_create");
	if (proxy_init(conf) == -1)
		fatalx("out of memory");
	sig_io.fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	sig_io.cb = signal_cb;
	if (sig_io.fd == -1 || ev_add(&sig_io) == -1)
		fatal("signalfd");

	for (i = 0; i < conf->nlisteners; i++)
		nlisteners += conf->listeners[i].naddrs;
	listeners = calloc(nlisteners, sizeof(*listeners));
	if (listeners == NULL)
		fatalx("out of memory");
	ev_timer_init(&accept_timer, accept_timer_cb);
	for (i = 0, k = 0; i < conf->nlisteners; i++) {
		for (j = 0; j < conf->listeners[i].naddrs; j++, k++) {
			listeners[k].io.fd = conf->listeners[i].fds[j];
			listeners[k].io.cb = proxy_accept;
			listeners[k].conf = &conf->listeners[i];
			if (ev_add_listener(&listeners[k].io) == -1)
				fatal("epoll_ctl listener");
		}
	}
	log_debug("started");
	proc_ready();

	while (!stop_now) {
		int	 wait = -1;

		if (worker.quitting) {
			if (proxy_active() == 0)
				break;
			if (ev_now >= quit_deadline) {
				log_notice("shutdown_timeout reached: closing %zu connections",
				    proxy_active());
				break;
			}
			wait = (int)(quit_deadline - ev_now);
		}
		ev_run_once(wait);
		proxy_recycle();
		alogsink_flush();
	}
	alogsink_flush();
	close_listeners();
	proxy_fini();
	authq_fini();
	ev_fini();
	close(sig_io.fd);
	free(listeners);
	alogsink_close();
	log_debug("exiting");
	conf_free(conf);
	exit(0);
}
