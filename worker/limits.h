/*
 * limits.h: the limits applied in the worker (worker/limits.c): a
 * route's [limit NAME]s on each request, a listener's max_conns_per_ip
 * on each connection, counted in the shared table (common/limit.h).
 */
#ifndef PORTICO_LIMITS_H
#define PORTICO_LIMITS_H

#include "common/strbuf.h"

struct client;
struct req;

/*
 * The route's limits on the request of c (routed, allowed): over one,
 * its answer (429 with Retry-After, or its status); within a burst, the
 * request waits in CS_DELAY; else request_routed().
 */
enum step	 limits_apply(struct client *c);
/* CS_DELAY: the request waits out its delay, then goes on. */
enum step	 limits_step_delay(struct client *c);
/* The exchange ends: give back the concurrency it held. */
void		 limits_release(struct req *r);
/* A connection begins: 0, or -1 over max_conns_per_ip (close it). */
int		 limits_conn_open(struct client *c);
/* ... and ends. */
void		 limits_conn_close(struct client *c);
/* The limits' counters, into the status page (JSON, or Prometheus). */
void		 limits_status(struct strbuf *b, int prom);

#endif /* PORTICO_LIMITS_H */
