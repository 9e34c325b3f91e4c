/*
 * health.h: the checker, a child of the master that decides the health
 * state of every upstream server.
 *
 * It runs active probes (health_check = tcp | GET /path | HEAD /path) and
 * turns the passive failures that workers count in shared memory into
 * state (max_fails within fail_timeout).  It is the only writer of
 * state, changed_ms, probe_ok, probes and last_probe in shm->srv[]; each
 * change of state is one notice line in the error log.  The state lives
 * in shared memory, so a new checker (after a reload or a crash) goes on
 * from where the last one stopped.
 */
#ifndef PORTICO_HEALTH_H
#define PORTICO_HEALTH_H

#include <sys/types.h>

#include "common/conf.h"
#include "common/shm.h"

/* Exit status of a checker whose error a restart cannot fix. */
#define HEALTH_EXIT_FATAL	2

/*
 * Whether conf needs a checker: some upstream has an active check or
 * passive checks (max_fails > 0 and more than one server), or one of its
 * servers is down in shm and needs bringing back.
 */
int	health_needed(const struct conf *conf, const struct shm_header *shm);
/*
 * Fork the checker for conf.  It exits on SIGTERM, SIGINT or SIGQUIT,
 * reopens the error log on SIGUSR1 and dies with the master.  Returns
 * its pid, or -1 (logged) when fork fails.
 */
pid_t	health_start(struct conf *conf, struct shm_header *shm);

#endif /* PORTICO_HEALTH_H */
