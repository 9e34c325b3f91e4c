/*
 * authq.c: the password hashes of basic authentication, checked by a
 * thread of the worker so that the event loop goes on serving while one
 * takes milliseconds (bcrypt at cost 10 takes about 50 ms, on purpose).
 *
 * The thread is started by the first check a worker makes (so after the
 * fork, and never in the master) and joined when the worker exits.  The
 * jobs are a fixed table of AUTHQ_JOBS under one mutex: the loop fills a
 * free one and queues it, the thread takes the oldest queued one, runs
 * crypt_rn without the mutex, marks it done and writes the eventfd; the
 * loop's callback then sets the timer of the request that waits for it
 * to now, and that request reads the outcome (authq_result) in its step.
 * A request that ends first (its client went away) cancels its job: the
 * thread drops the outcome.  Passwords are wiped from a job once hashed.
 */
#include "config.h"

#include <sys/epoll.h>
#include <sys/eventfd.h>

#include <crypt.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "common/htpasswd.h"
#include "common/log.h"
#include "worker/authq.h"
#include "worker/event.h"
#include "worker/proxy_int.h"

#define PW_MAX	1024		/* longest password (as auth.c's CRED_MAX) */

enum job_state { JOB_FREE, JOB_QUEUED, JOB_RUNNING, JOB_DONE };

struct job {
	enum job_state	 state;
	struct client	*c;		/* to wake; NULL once cancelled */
	int		 ok;
	unsigned char	 key[AUTHQ_KEY_LEN];
	char		 hash[HTPASSWD_HASH_MAX + 1];
	char		 pw[PW_MAX];
};

static struct job	 jobs[AUTHQ_JOBS];
static int		 queue[AUTHQ_JOBS];	/* job numbers, oldest first */
static int		 qhead, qlen;
static pthread_mutex_t	 mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t	 cv = PTHREAD_COND_INITIALIZER;
static pthread_t	 thread;
static int		 started, failed, stopping;
static struct ev_io	 done_io = { -1, NULL };

static void	*authq_thread(void *);
static void	 authq_done_cb(struct ev_io *, uint32_t);
static int	 authq_start(void);

/* The thread: a job at a time until stopping. */
static void *
authq_thread(void *arg)
{
	struct crypt_data	*cd;
	struct job		*j;
	const char		*out;
	uint64_t		 one = 1;
	size_t			 hl;
	int			 n, ok;

	(void)arg;
	if ((cd = calloc(1, sizeof(*cd))) == NULL)
		return NULL;
	pthread_mutex_lock(&mu);
	for (;;) {
		while (qlen == 0 && !stopping)
			pthread_cond_wait(&cv, &mu);
		if (stopping)
			break;
		n = queue[qhead];
		qhead = (qhead + 1) % AUTHQ_JOBS;
		qlen--;
		j = &jobs[n];
		j->state = JOB_RUNNING;
		pthread_mutex_unlock(&mu);

		hl = strlen(j->hash);
		out = crypt_rn(j->pw, j->hash, cd, sizeof(*cd));
		ok = out != NULL && out[0] != '*' && strlen(out) == hl &&
		    CRYPTO_memcmp(out, j->hash, hl) == 0;
		explicit_bzero(cd->input, sizeof(cd->input));
		explicit_bzero(j->pw, sizeof(j->pw));

		pthread_mutex_lock(&mu);
		j->ok = ok;
		if (j->c == NULL)
			j->state = JOB_FREE;	/* cancelled meanwhile */
		else {
			j->state = JOB_DONE;
			/* A full counter (never) only delays a wake-up. */
			ssize_t	 wn = write(done_io.fd, &one, sizeof(one));

			(void)wn;
		}
	}
	pthread_mutex_unlock(&mu);
	explicit_bzero(cd, sizeof(*cd));
	free(cd);
	return NULL;
}

/* Jobs are done: the requests that wait for them look on this turn. */
static void
authq_done_cb(struct ev_io *io, uint32_t events)
{
	uint64_t	 n;
	int		 i;

	if (!(events & EPOLLIN))
		return;
	while (read(io->fd, &n, sizeof(n)) == sizeof(n))
		;
	pthread_mutex_lock(&mu);
	for (i = 0; i < AUTHQ_JOBS; i++)
		if (jobs[i].state == JOB_DONE && jobs[i].c != NULL)
			ev_timer_set(&jobs[i].c->timer, ev_now);
	pthread_mutex_unlock(&mu);
}

/* The eventfd and the thread, at the first check.  -1 on failure. */
static int
authq_start(void)
{
	sigset_t	 all, old;
	int		 rc;

	if (started)
		return 0;
	if (failed)
		return -1;
	done_io.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	done_io.cb = authq_done_cb;
	if (done_io.fd == -1 || ev_add(&done_io) == -1) {
		log_warn("auth: cannot make the hashing thread's eventfd");
		goto fail;
	}
	/* The worker takes its signals through a signalfd: none here. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&thread, NULL, authq_thread, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		errno = rc;
		log_warn("auth: cannot start the hashing thread");
		goto fail;
	}
	started = 1;
	return 0;
fail:
	if (done_io.fd != -1) {
		ev_del(&done_io);
		close(done_io.fd);
	}
	done_io.fd = -1;
	failed = 1;
	return -1;
}

int
authq_submit(struct client *c, const unsigned char *key, const char *password,
    size_t len, const char *hash)
{
	struct job	*j = NULL;
	int		 i;

	if (len >= PW_MAX || strlen(hash) > HTPASSWD_HASH_MAX ||
	    authq_start() == -1)
		return -1;
	pthread_mutex_lock(&mu);
	for (i = 0; i < AUTHQ_JOBS; i++)
		if (jobs[i].state == JOB_FREE) {
			j = &jobs[i];
			break;
		}
	if (j == NULL) {
		pthread_mutex_unlock(&mu);
		return -1;
	}
	j->state = JOB_QUEUED;
	j->c = c;
	j->ok = 0;
	memcpy(j->key, key, AUTHQ_KEY_LEN);
	strcpy(j->hash, hash);
	memcpy(j->pw, password, len);
	j->pw[len] = '\0';
	queue[(qhead + qlen) % AUTHQ_JOBS] = i;
	qlen++;
	pthread_cond_signal(&cv);
	pthread_mutex_unlock(&mu);
	return i;
}

int
authq_result(int job, unsigned char *key)
{
	struct job	*j = &jobs[job];
	int		 ok = -1;

	pthread_mutex_lock(&mu);
	if (j->state == JOB_DONE) {
		ok = j->ok;
		memcpy(key, j->key, AUTHQ_KEY_LEN);
		j->c = NULL;
		j->state = JOB_FREE;
	}
	pthread_mutex_unlock(&mu);
	return ok;
}

void
authq_cancel(int job)
{
	struct job	*j = &jobs[job];
	int		 i;

	pthread_mutex_lock(&mu);
	j->c = NULL;
	if (j->state == JOB_QUEUED) {
		/* Out of the queue: the thread need not hash it. */
		for (i = 0; i < qlen; i++)
			if (queue[(qhead + i) % AUTHQ_JOBS] == job)
				break;
		for (; i + 1 < qlen; i++)
			queue[(qhead + i) % AUTHQ_JOBS] =
			    queue[(qhead + i + 1) % AUTHQ_JOBS];
		qlen--;
		explicit_bzero(j->pw, sizeof(j->pw));
		j->state = JOB_FREE;
	} else if (j->state == JOB_DONE)
		j->state = JOB_FREE;
	/* JOB_RUNNING: the thread frees it when done. */
	pthread_mutex_unlock(&mu);
}

void
authq_fini(void)
{
	int	 i;

	if (!started)
		return;
	pthread_mutex_lock(&mu);
	stopping = 1;
	pthread_cond_signal(&cv);
	pthread_mutex_unlock(&mu);
	/* At most one hash to finish. */
	pthread_join(thread, NULL);
	started = 0;
	for (i = 0; i < AUTHQ_JOBS; i++)
		explicit_bzero(jobs[i].pw, sizeof(jobs[i].pw));
	ev_del(&done_io);
	close(done_io.fd);
	done_io.fd = -1;
}
