/*
 * master_int.h: what the files of the master process share; not an API
 * (master.h is).  The master is one thread that takes its signals
 * synchronously (master.c), so this state is only ever touched from
 * master_run()'s loop and what it calls.
 *
 *	master.c	the process: start, daemon, pid file, the signal loop
 *	listeners.c	listening sockets: bind, take over, close
 *	workers.c	worker processes: generations, readiness, reaping,
 *			respawn, parking for a binary upgrade, the cache region
 *	checker.c	the health checker process: start, stop, restart
 *	reload.c	HUP: load, check, swap generations, and the reporting
 *			(notify, state file, status page) of starts and reloads
 */
#ifndef PORTICO_MASTER_INT_H
#define PORTICO_MASTER_INT_H

#include <sys/types.h>

#include <stdint.h>

#include "common/cache.h"
#include "common/conf.h"
#include "common/shm.h"

/* A worker position (or the checker) waiting to be started again. */
struct respawn {
	int		 pending;
	uint64_t	 due_ms;
	uint64_t	 backoff_ms;
	uint64_t	 last_start_ms;
};

/* master.c */
extern struct conf		*master_conf;	/* the one serving */
extern const char		*master_conf_path;
extern struct shm_header	*master_shm;
extern struct cache		*master_cache;	/* NULL: no route caches */
extern int			 master_startup_fd; /* report to the shell */
/* Hand the log files to the worker user. */
void	 master_chown_logs(struct conf *c);
/* Say whom the workers run as when the config did not. */
void	 master_log_user(const struct conf *c);

/* listeners.c (master_bind() is in master.h) */
/* Close the listening sockets of old that new (NULL: none) does not use. */
void	 listeners_close_unused(struct conf *old, struct conf *new);
void	 listeners_defer_restore(struct conf *c);

/* workers.c */
/* A reload keeps these to go back to them when its workers fail. */
extern struct respawn		*workers_respawns;
extern int			 workers_nrespawns;
extern int			 workers_generation;	/* the one serving */
extern int			 workers_generations;	/* the last started */
extern struct conf		*workers_prev_conf;	/* while a reload starts */
int	 workers_cache_setup(const struct conf *c);
void	 workers_cache_drop(struct cache *c);
/* Start workers_generation; 0 once each worker is up, else -1 and why. */
int	 workers_start_generation(char *why, size_t whylen);
/* Send sig to every worker, or (only_old) to those of older generations. */
void	 workers_signal(int sig, int only_old);
/* How many workers are alive. */
int	 workers_live(void);
/* Stop generation gen: killed and reaped here with wait, else QUIT. */
void	 workers_end_generation(int gen, int wait);
/* WINCH during a binary upgrade, and the way back. */
void	 workers_park(void);
void	 workers_unpark(void);
/* SIGCHLD: reap every child that exited (workers, checkers, new master). */
void	 workers_reap(int stopping);
void	 workers_respawn_due(void);
long	 workers_respawn_wait(void);
int	 workers_none_left(void);

/* checker.c */
void	 checker_start(void);
void	 checker_stop(int sig);
int	 checker_live(void);
void	 checker_end(void);
void	 checker_reaped(pid_t pid, int status, int stopping, uint64_t now);
void	 checker_respawn_due(uint64_t now);
uint64_t checker_due(uint64_t best);
void	 checker_reopen(void);

/* reload.c */
/* HUP: 0 when the new configuration serves, -1 and why when the old does. */
int	 reload_run(char *why, size_t whylen);
/* What the service manager, the state file and the status page learn. */
void	 report_read_conf(void);
void	 report_started(void);
void	 report_reload_begin(void);
void	 report_reload_end(int rc, const char *why);
void	 report_stopping(int graceful);
void	 report_discard(void);

#endif /* PORTICO_MASTER_INT_H */
