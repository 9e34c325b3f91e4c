/*
 * resolver.h: the servers of resolve and srv lines, found through DNS
 * (c-ares) by the checker process, written to their slots in shared
 * memory (struct shm_dns) for the workers.
 */
#ifndef PORTICO_RESOLVER_H
#define PORTICO_RESOLVER_H

#include <stdint.h>
#include <stdio.h>

#include "common/conf.h"
#include "common/shm.h"

/* Epoll data of the resolver's sockets: this bit, then the fd. */
#define RESOLVER_TAG	((uint64_t)1 << 62)

/* Whether conf has a resolve or srv server. */
int		 resolver_needed(const struct conf *conf);
/*
 * Checker: set up the resolver for conf's names, its sockets to go in
 * epfd; the first queries go out at the first resolver_tick().  The
 * checker's copy of each slot's address is loaded from shm.  0, or -1
 * (logged).
 */
int		 resolver_init(struct conf *conf, struct shm_header *shm, int epfd);
/* A socket of the resolver (data has RESOLVER_TAG) is ready. */
void		 resolver_event(uint64_t data, uint32_t events);
/* Queries due at now go out; timeouts are handled. */
void		 resolver_tick(uint64_t now);
/* best, or sooner when the resolver has something to do sooner. */
uint64_t	 resolver_due(uint64_t best, uint64_t now);
void		 resolver_free(void);
/*
 * One round for every name, waiting at most for the resolver's timeouts:
 * with shm, the slots are filled (the master, before the first workers);
 * without, nothing is written (portico -t).  Each name that does not
 * resolve gets a warning line "file:line: ..." on out (when not NULL) and
 * in the log.  Returns how many did not resolve.
 */
int		 resolver_prime(struct conf *conf, struct shm_header *shm, FILE *out);

#endif /* PORTICO_RESOLVER_H */
