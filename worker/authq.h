/*
 * authq.h: password hashes checked off the event loop (worker/authq.c):
 * one thread per worker, started at the first check, takes jobs from a
 * bounded queue and tells the loop through an eventfd when one is done.
 */
#ifndef PORTICO_AUTHQ_H
#define PORTICO_AUTHQ_H

#include <stddef.h>

struct client;

#define AUTHQ_JOBS	32	/* checks queued or under way, per worker */
#define AUTHQ_KEY_LEN	32	/* the caller's key kept with a job */

/*
 * Queue a check of password (len bytes) against hash for the request of
 * c, with key kept for the caller: the job (>= 0), or -1 when the queue
 * is full or the thread cannot be started.
 */
int	 authq_submit(struct client *c, const unsigned char *key,
	    const char *password, size_t len, const char *hash);
/*
 * The outcome of job: 1 the password is good, 0 not, with its key in
 * key; -1 while it is under way.  A finished job is given back.
 */
int	 authq_result(int job, unsigned char *key);
/* The request waiting for job ends first: the job's outcome is dropped. */
void	 authq_cancel(int job);
/* Stop the thread and wait for it (the worker exits). */
void	 authq_fini(void);

#endif /* PORTICO_AUTHQ_H */
