/*
 * metrics.h: the worker's side of the metrics region (common/metrics.h):
 * counting into its own slot on the request path, and the sections of
 * the status answer (JSON members, Prometheus families).
 */
#ifndef PORTICO_WORKER_METRICS_H
#define PORTICO_WORKER_METRICS_H

#include <stdint.h>

struct req;
struct sbuf;
struct shm_header;

/* The worker starts: its slot is written from now on (worker_main). */
void	 metrics_worker_start(struct shm_header *shm, int slot);
/* A client connection was accepted / closed (not cache refreshes). */
void	 metrics_conn_opened(void);
void	 metrics_conn_closed(void);
/*
 * One answered request: route row (-1 none), upstream row (-1 none),
 * its status, how long it took, and how long its upstream took (-1 when
 * none was asked).
 */
void	 metrics_record(int route, int upstream, int status, uint64_t dur_us,
	    int64_t up_us);
/* The same, from the request that just ended (access_log calls it). */
void	 metrics_request_done(const struct req *r);
/*
 * The status answer's sections: JSON members (each with a leading
 * comma, inside the top object), or Prometheus families, which also
 * puts a # HELP line before every # TYPE line of the body that lacks one.
 */
void	 metrics_json(struct sbuf *b, const struct shm_header *shm);
void	 metrics_prom(struct sbuf *b, const struct shm_header *shm);

#endif /* PORTICO_WORKER_METRICS_H */
