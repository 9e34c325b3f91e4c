/*
 * upgrade.h: binary upgrade (USR2) with the state handed over, as nginx
 * users know it.
 *
 * The running ("old") master, on USR2, renames its pid file to
 * PIDFILE.oldbin and starts the binary it was itself started from, with
 * the same arguments, environment and working directory.  The new master
 * inherits the listening sockets and the memfds of the shared regions
 * (counters and health state, cache, TLS ticket keys), named in the
 * environment variable PORTICO_UPGRADE, and a pipe on which it reports
 * its errors and, once every worker is up, that it is ready; it writes
 * the pid file then.  Both masters serve until the old one is told:
 *
 *	WINCH	its workers finish gracefully and are not replaced
 *	QUIT	it exits: the upgrade is complete
 *	HUP	roll back: it starts its workers again (when WINCH stopped
 *		them) and tells the new master to quit
 *
 * When the new master fails to start, or exits later, the old master
 * logs why, puts its pid file back and starts its workers again if WINCH
 * had stopped them.  A region whose layout the new binary does not know
 * (another version) is not used: the new master starts with empty state.
 */
#ifndef PORTICO_UPGRADE_H
#define PORTICO_UPGRADE_H

#include <sys/types.h>

#include "common/cache.h"
#include "common/conf.h"
#include "common/shm.h"

#define UPGRADE_ENV	"PORTICO_UPGRADE"

/* main(): remember how this binary was started; take PORTICO_UPGRADE. */
void		 upgrade_init(int argc, char *argv[]);

/* New master side. */
/* Whether this master was started by an upgrade (its parent's). */
int		 upgrade_inherited(void);
/*
 * Log where it comes from; *ready_fd gets the pipe to report on (as a
 * daemon reports to its shell).  No-op unless upgrade_inherited().
 */
void		 upgrade_adopt(int *ready_fd);
/* An inherited listening socket bound to a, or -1. */
int		 upgrade_listener(const struct conf_addr *a);
/*
 * Once bound and mapped: close what was inherited and not taken (sockets
 * of addresses the configuration dropped, a cache no route uses).
 */
void		 upgrade_close_unused(void);
/* The inherited region when its layout is this binary's, else a new one. */
struct shm_header *upgrade_shm(void);
struct cache	*upgrade_cache(size_t size);
int		 upgrade_tls(void);
/* Before exiting on a bad configuration: tell the old master why. */
void		 upgrade_report(const char *errors);

/* Old master side. */
/* USR2: start the new binary (pid file, sockets and regions of c). */
void		 upgrade_start(const struct conf *c, struct cache *cache);
/* Read what the new master reported; call at each turn of the loop. */
void		 upgrade_poll(void);
/* wait_ms, or less while the new master's report is awaited. */
long		 upgrade_wait(long wait_ms);
/* A child was reaped: 1 if it was the new master (logged, pid file back). */
int		 upgrade_reaped(pid_t pid, int status);
/* Whether a new master runs (starting or up). */
int		 upgrade_pending(void);
/* HUP: tell the new master to quit; the pid file is this master's again. */
void		 upgrade_rollback(void);
/* On the way out: remove PIDFILE.oldbin if it names this master. */
void		 upgrade_end(const char *pid_file);

#endif /* PORTICO_UPGRADE_H */
