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
extern int			 master_startup_fd; /* the daemon's report to its shell */
void	master_chown_logs(struct conf *);
void	master_log_user(const struct conf *);

/* listeners.c (master_bind() is in master.h) */
void	listeners_close_unused(struct conf *, struct conf *);

/* workers.c */
extern struct respawn		*workers_respawns;
extern int			 workers_nrespawns;
extern int			 workers_generation;	/* the one serving */
extern int			 workers_generations;	/* the last one started */
extern int			 workers_parked;	/* WINCH: no workers until HUP */
extern struct conf		*workers_prev_conf;	/* while a reload starts workers */
int	workers_cache_setup(const struct conf *);
void	workers_cache_drop(struct cache *);
int	workers_start_generation(char *, size_t);
void	workers_signal(int, int);
int	workers_live(void);
void	workers_end_generation(int, int);
void	workers_park(void);
void	workers_unpark(void);
void	workers_reap(int);
void	workers_respawn_due(void);
long	workers_respawn_wait(void);

/* checker.c */
#define MAX_OLD_CHECKERS	16
extern pid_t			 checker_pid;
extern pid_t			 checker_old[MAX_OLD_CHECKERS];
extern struct respawn		 checker_rs;
void	checker_start(void);
void	checker_stop(int);
int	checker_live(void);
void	checker_end(void);
void	checker_died(pid_t, int, uint64_t);

/* reload.c */
extern char			*report_conf_text;
int	reload_run(char *, size_t);
void	report_read_conf(void);
void	report_started(void);
void	report_reload_begin(void);
void	report_reload_end(int, const char *);
void	report_stopping(int);

#endif /* PORTICO_MASTER_INT_H */
