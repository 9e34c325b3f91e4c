/*
 * runstate.h: what the running master tells the command line, through
 * small files next to its pid file.
 *
 * For a pid file /run/portico/portico.pid (a trailing ".pid" is dropped,
 * else the names are appended):
 *
 *   /run/portico/portico.state        key=value lines: pid, generation,
 *                                     reload counters and the last result
 *   /run/portico/portico.running.ini  a copy of the configuration file the
 *                                     serving generation was loaded from
 *
 * The master replaces each file whole (write to a temporary name, then
 * rename), so that a reader never sees half of one.  `portico -s reload`
 * reads the state before it signals and waits until the master reports
 * the end of a reload that began after that; `portico -t -d` compares
 * the running copy with the file.
 */
#ifndef PORTICO_RUNSTATE_H
#define PORTICO_RUNSTATE_H

#include <sys/types.h>
#include <stdint.h>

#include "common/conf.h"

struct runstate {
	pid_t		 pid;
	int		 workers;
	uint64_t	 generation;	/* of the serving workers, 1 at start */
	uint64_t	 reloads_begun;	/* HUPs taken */
	uint64_t	 reloads_done;	/* ... and finished, either way */
	uint64_t	 reloads_failed;
	int64_t		 last_reload;	/* Unix time of the last end; 0: none */
	int		 last_ok;	/* the last reload succeeded */
	char		 last_error[512]; /* why it failed; "" */
};

/* The file with suffix ("state", "running.ini") for conf's pid file. */
void	runstate_path(const struct conf *c, const char *suffix, char *out,
	    size_t outlen);
/* Replace the state file.  -1 on error (logged). */
int	runstate_write(const struct conf *c, const struct runstate *rs);
/* Read the state file.  -1 when missing or malformed. */
int	runstate_read(const struct conf *c, struct runstate *rs);
/*
 * Read the config file at path whole (malloc'd, *len its size), before it
 * is loaded, so that the copy kept is the text that was loaded even when
 * the file changes while the workers start.  NULL on error (logged).
 */
char	*runstate_read_conf(const char *path, size_t *len);
/* Replace the running copy with text.  -1 on error (logged). */
int	runstate_save_conf(const struct conf *c, const char *text, size_t len);
/* Remove both files if they are pid's. */
void	runstate_remove(const struct conf *c, pid_t pid);
/*
 * For -s reload: signal pid with SIGHUP and wait until it reports how
 * the reload ended.  Prints the outcome; returns the exit status, 0 for a
 * reload that succeeded, 1 for one that failed or a master that went
 * away or did not answer within timeout_ms.
 */
int	runstate_reload(const struct conf *c, pid_t pid, int timeout_ms);
/*
 * For -t -d: print what differs between the running copy and c (the
 * file, loaded and checked).  Returns the exit status: 1 when there is
 * no running master to compare with.
 */
int	runstate_print_diff(const struct conf *c);

#endif /* PORTICO_RUNSTATE_H */
