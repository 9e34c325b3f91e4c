/*
 * limit.c: the shared table of the limits (layout and rules in limit.h).
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "common/limit.h"
#include "common/log.h"

static struct limit_set	*set_lock(struct limit_table *, uint64_t);
static void		 set_unlock(struct limit_set *);
static struct limit_entry *set_find(struct limit_table *, struct limit_set *,
			    uint64_t, uint64_t);
static uint64_t		 now_ms(void);
static int		 stat_row(struct limit_table *, const char *);

int
limit_table_init(struct limit_table *t)
{
	pthread_mutexattr_t	 a;
	uint64_t		 seed = 0;
	int			 i;

	if (pthread_mutexattr_init(&a) != 0)
		return -1;
	if (pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED) != 0 ||
	    pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST) != 0) {
		pthread_mutexattr_destroy(&a);
		return -1;
	}
	for (i = 0; i < LIMIT_SETS; i++)
		if (pthread_mutex_init(&t->set[i].mu, &a) != 0) {
			pthread_mutexattr_destroy(&a);
			return -1;
		}
	pthread_mutexattr_destroy(&a);
	/* A key an attacker cannot aim at one set; the time will do if no entropy. */
	if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) != sizeof(seed))
		seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
	t->seed = seed | 1;
	t->nsets = 0;		/* sized by the first limit_assign */
	t->init = 1;
	return 0;
}

/*
 * The row named name, or a free one (emptied); -1: none left.  A row
 * never named is taken before one a reload let go: the workers of the
 * configuration before, retiring, may still count into that one.
 */
static int
stat_row(struct limit_table *t, const char *name)
{
	int	 i, free_row = -1;

	for (i = 0; i < LIMIT_STATS; i++) {
		if (strcmp(t->stat[i].name, name) == 0) {
			t->stat[i].used = 1;
			return i;
		}
		if (!t->stat[i].used && (free_row == -1 ||
		    (t->stat[i].name[0] == '\0' &&
		    t->stat[free_row].name[0] != '\0')))
			free_row = i;
	}
	if (free_row == -1)
		return -1;
	memset(&t->stat[free_row], 0, sizeof(t->stat[free_row]));
	snprintf(t->stat[free_row].name, sizeof(t->stat[free_row].name), "%s",
	    name);
	t->stat[free_row].used = 1;
	return free_row;
}

int
limit_assign(struct limit_table *t, struct conf *conf, char *errbuf,
    size_t errlen)
{
	char		 name[CONF_MAX_NAME + 2];
	size_t		 i;
	int		 j;
	uint32_t	 want, cur;

	want = (uint32_t)(conf->g.limit_table_size / LIMIT_WAYS);
	cur = __atomic_load_n(&t->nsets, __ATOMIC_RELAXED);

	/*
	 * The size is set once, at the first start: a key's set is its
	 * hash % nsets, so another size would move every key to another
	 * entry while workers (retiring ones too) hold counts in the old
	 * ones, splitting its rate and concurrency in two.  As nginx does
	 * with a zone's size, a reload (or an upgrade, which keeps the
	 * region) keeps the size, and says so.
	 */
	if (cur == 0)
		__atomic_store_n(&t->nsets, want, __ATOMIC_RELAXED);
	else if (cur != want)
		log_warnx("limit_table_size %u kept: the new size %d takes "
		    "effect at the next start (stop and start, not a reload "
		    "or an upgrade)", cur * LIMIT_WAYS,
		    conf->g.limit_table_size);
	for (j = 0; j < LIMIT_STATS; j++)
		t->stat[j].used = 0;
	/* Pass 1: the names that have a row keep it (and their counts). */
	for (i = 0; i < conf->nlimits; i++) {
		snprintf(name, sizeof(name), "L%s", conf->limits[i].name);
		conf->limits[i].stat_idx = -1;
		for (j = 0; j < LIMIT_STATS; j++)
			if (strcmp(t->stat[j].name, name) == 0) {
				t->stat[j].used = 1;
				conf->limits[i].stat_idx = j;
			}
	}
	for (i = 0; i < conf->nlisteners; i++) {
		snprintf(name, sizeof(name), "C%s", conf->listeners[i].name);
		conf->listeners[i].limit_stat_idx = -1;
		if (conf->listeners[i].max_conns_per_ip == 0)
			continue;
		for (j = 0; j < LIMIT_STATS; j++)
			if (strcmp(t->stat[j].name, name) == 0) {
				t->stat[j].used = 1;
				conf->listeners[i].limit_stat_idx = j;
			}
	}
	/* Pass 2: the new ones. */
	for (i = 0; i < conf->nlimits; i++) {
		if (conf->limits[i].stat_idx != -1)
			continue;
		snprintf(name, sizeof(name), "L%s", conf->limits[i].name);
		if ((conf->limits[i].stat_idx = stat_row(t, name)) == -1)
			goto full;
	}
	for (i = 0; i < conf->nlisteners; i++) {
		if (conf->listeners[i].max_conns_per_ip == 0 ||
		    conf->listeners[i].limit_stat_idx != -1)
			continue;
		snprintf(name, sizeof(name), "C%s", conf->listeners[i].name);
		if ((conf->listeners[i].limit_stat_idx = stat_row(t, name)) == -1)
			goto full;
	}
	return 0;
full:
	snprintf(errbuf, errlen, "more than %d limits and listeners with "
	    "max_conns_per_ip", LIMIT_STATS);
	return -1;
}

uint64_t
limit_hash(const struct limit_table *t, int kind, const char *name,
    const char *key, size_t n)
{
	uint64_t	 h = t->seed ^ 0xcbf29ce484222325ULL;
	size_t		 i;

	/* FNV-1a over the seed, kind, name, NUL and key; then a finalizer. */
	h = (h ^ (uint64_t)(unsigned char)kind) * 0x100000001b3ULL;
	for (; *name != '\0'; name++)
		h = (h ^ (uint64_t)(unsigned char)*name) * 0x100000001b3ULL;
	h *= 0x100000001b3ULL;
	for (i = 0; i < n; i++)
		h = (h ^ (uint64_t)(unsigned char)key[i]) * 0x100000001b3ULL;
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	return h | 1;		/* 0 marks a free entry */
}

static uint64_t
now_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/*
 * Lock the set of hash.  A holder that died leaves the mutex to us with
 * EOWNERDEAD: every store under it leaves the entries valid, so it is
 * marked consistent and used.
 */
static struct limit_set *
set_lock(struct limit_table *t, uint64_t hash)
{
	uint32_t		 n = __atomic_load_n(&t->nsets, __ATOMIC_RELAXED);
	struct limit_set	*s;
	int			 rc;

	if (n == 0 || n > LIMIT_SETS)
		n = LIMIT_SETS;
	s = &t->set[hash % n];
	rc = pthread_mutex_lock(&s->mu);
	if (rc == EOWNERDEAD)
		pthread_mutex_consistent(&s->mu);
	return s;
}

static void
set_unlock(struct limit_set *s)
{
	pthread_mutex_unlock(&s->mu);
}

/*
 * The entry of hash in the locked set s, taken when missing: a free one,
 * else the least recently used one holding nothing.  NULL when all hold
 * something.
 */
static struct limit_entry *
set_find(struct limit_table *t, struct limit_set *s, uint64_t hash,
    uint64_t now)
{
	struct limit_entry	*e, *victim = NULL;
	int			 i;

	for (i = 0; i < LIMIT_WAYS; i++)
		if (s->e[i].hash == hash) {
			s->e[i].used_ms = now;
			return &s->e[i];
		}
	for (i = 0; i < LIMIT_WAYS; i++) {
		e = &s->e[i];
		if (e->hash == 0) {
			victim = e;
			break;
		}
		if (e->conc == 0 && (victim == NULL || e->used_ms < victim->used_ms))
			victim = e;
	}
	if (victim == NULL)
		return NULL;
	if (victim->hash != 0)
		__atomic_add_fetch(&t->evictions, 1, __ATOMIC_RELAXED);
	victim->hash = hash;
	victim->tat_us = 0;
	victim->conc = 0;
	victim->used_ms = now;
	return victim;
}

enum limit_rc
limit_rate(struct limit_table *t, uint64_t hash, uint64_t now_us,
    uint64_t interval_us, uint64_t burst, uint64_t max_wait_us, int commit,
    uint64_t *wait_us)
{
	struct limit_set	*s;
	struct limit_entry	*e;
	enum limit_rc		 rc;
	uint64_t		 tat, bound;

	*wait_us = 0;
	s = set_lock(t, hash);
	if ((e = set_find(t, s, hash, now_ms())) == NULL) {
		set_unlock(s);
		__atomic_add_fetch(&t->full, 1, __ATOMIC_RELAXED);
		return LIMIT_FULL;
	}
	tat = e->tat_us > now_us ? e->tat_us : now_us;
	bound = burst * interval_us;
	if (bound > max_wait_us)
		bound = max_wait_us;
	if (tat - now_us > bound) {
		/* Passes once tat - bound is reached. */
		*wait_us = tat - now_us - bound;
		set_unlock(s);
		return LIMIT_REJECT;
	}
	*wait_us = tat - now_us;
	rc = *wait_us > 0 ? LIMIT_DELAY : LIMIT_PASS;
	if (commit)
		e->tat_us = tat + interval_us;
	set_unlock(s);
	return rc;
}

int
limit_acquire(struct limit_table *t, int slot, uint64_t hash, uint32_t max,
    int *idx)
{
	struct limit_set	*s;
	struct limit_entry	*e;
	uint16_t		*held;

	s = set_lock(t, hash);
	if ((e = set_find(t, s, hash, now_ms())) == NULL) {
		set_unlock(s);
		__atomic_add_fetch(&t->full, 1, __ATOMIC_RELAXED);
		return -1;
	}
	*idx = (int)((s - t->set) * LIMIT_WAYS + (e - s->e));
	held = &t->held[slot][*idx];
	if (e->conc >= max || *held == UINT16_MAX) {
		set_unlock(s);
		return 0;
	}
	/* The worker's row first: a death between leaves no extra count. */
	__atomic_store_n(held, (uint16_t)(*held + 1), __ATOMIC_RELEASE);
	e->conc++;
	set_unlock(s);
	return 1;
}

void
limit_release(struct limit_table *t, int slot, int idx)
{
	struct limit_set	*s = &t->set[idx / LIMIT_WAYS];
	struct limit_entry	*e = &s->e[idx % LIMIT_WAYS];
	uint16_t		*held = &t->held[slot][idx];

	if (pthread_mutex_lock(&s->mu) == EOWNERDEAD)
		pthread_mutex_consistent(&s->mu);
	if (e->conc > 0)
		e->conc--;
	if (*held > 0)
		__atomic_store_n(held, (uint16_t)(*held - 1), __ATOMIC_RELEASE);
	pthread_mutex_unlock(&s->mu);
}

void
limit_slot_release(struct limit_table *t, int slot)
{
	struct limit_set	*s;
	struct limit_entry	*e;
	int			 i;
	uint16_t		 h;

	if (!t->init)
		return;
	for (i = 0; i < LIMIT_ENTRIES; i++) {
		if ((h = t->held[slot][i]) == 0)
			continue;
		s = &t->set[i / LIMIT_WAYS];
		e = &s->e[i % LIMIT_WAYS];
		if (pthread_mutex_lock(&s->mu) == EOWNERDEAD)
			pthread_mutex_consistent(&s->mu);
		e->conc -= h < e->conc ? h : e->conc;
		t->held[slot][i] = 0;
		pthread_mutex_unlock(&s->mu);
	}
}
