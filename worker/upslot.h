/*
 * upslot.h: the worker's side of servers from DNS (resolve and srv
 * lines): a slot's address is read from shared memory when the worker
 * connects, pooled connections to an address that changed are not
 * reused, and the status page shows what DNS gave.
 */
#ifndef PORTICO_UPSLOT_H
#define PORTICO_UPSLOT_H

#include "common/conf.h"
#include "common/shm.h"
#include "common/strbuf.h"

struct server_rt;
struct upconn;

/*
 * Before connecting to server s: a DNS slot's address now, into
 * s->conf->addr; its pooled connections to an older address are closed.
 * 0, or -1 with errno EHOSTUNREACH when the slot is empty.
 */
int		 upslot_sync(struct server_rt *s);
/* Whether u goes to an address its DNS slot no longer has. */
int		 upslot_stale(const struct upconn *u);
/*
 * The address of a server for the status page, into buf (64 bytes): a
 * DNS slot's from shared memory; NULL for an empty slot (not shown).
 */
const char	*upslot_addr(const struct conf_server *cs,
		    const struct shm_server *ss, char *buf);
/* The JSON member ,"dns":[...] of an upstream: each name and its result. */
void		 upslot_json(struct strbuf *b, const struct conf_upstream *cu,
		    const struct shm_header *shm);
/* The Prometheus families about the names of every upstream. */
void		 upslot_prom(struct strbuf *b, const struct conf *cf,
		    const struct shm_header *shm);

#endif /* PORTICO_UPSLOT_H */
