/*
 * metrics.c: the metrics region (common/metrics.h): its rows keyed by
 * name, the fold of a dead worker's slot, and the sums the status answer
 * reads.  The master writes names and folds; workers add to their slot.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "common/metrics.h"

const uint64_t	 metrics_bounds_us[METRICS_BUCKETS - 1] = {
	5000, 10000, 25000, 50000, 100000, 250000, 500000,
	1000000, 2500000, 5000000, 10000000
};

static uint64_t
load64(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

size_t
metrics_size(void)
{
	return sizeof(struct metrics);
}

void
metrics_init(struct metrics *m)
{
	/* The mapping is zero-filled: only the head is written, so that
	 * the slots take no memory until a worker uses them. */
	m->magic = METRICS_MAGIC;
	m->version = METRICS_VERSION;
	m->started = (int64_t)time(NULL);
}

int
metrics_bucket(uint64_t us)
{
	int	 i;

	for (i = 0; i < METRICS_BUCKETS - 1; i++)
		if (us <= metrics_bounds_us[i])
			break;
	return i;
}

/*
 * Atomic adds: after a binary upgrade two masters may fold slots into
 * retired at once.  (Not on the request path: the status answer and
 * the master only.)
 */
static void
add64(uint64_t *dst, const uint64_t *src)
{
	__atomic_fetch_add(dst, load64(src), __ATOMIC_RELAXED);
}

static void
hist_add(struct metrics_hist *dst, const struct metrics_hist *src)
{
	int	 i;

	for (i = 0; i < METRICS_BUCKETS; i++)
		add64(&dst->bucket[i], &src->bucket[i]);
	add64(&dst->sum_us, &src->sum_us);
}

static void
route_add(struct metrics_route_row *dst, const struct metrics_route_row *src)
{
	int	 i;

	for (i = 0; i < 6; i++)
		add64(&dst->status[i], &src->status[i]);
	hist_add(&dst->duration, &src->duration);
}

/* Row row of every slot and of retired: zeroed (a name takes it over). */
static void
row_clear(struct metrics *m, int route, int row)
{
	int	 s;

	if (route)
		memset(&m->retired.route[row], 0, sizeof(m->retired.route[row]));
	else
		memset(&m->retired.upstream[row], 0, sizeof(m->retired.upstream[row]));
	for (s = 0; s < SHM_SLOTS; s++) {
		if (!m->live[s])
			continue;
		if (route)
			memset(&m->slot[s].route[row], 0, sizeof(m->slot[s].route[row]));
		else
			memset(&m->slot[s].upstream[row], 0,
			    sizeof(m->slot[s].upstream[row]));
	}
}

/*
 * The row for name in tab (n rows, from first): the one it had, else a
 * free one, else one no configuration names now (zeroed).  -1 when
 * every row is taken.
 */
static int
row_for(struct metrics *m, struct metrics_name *tab, int first, int n,
    const char *name, int route)
{
	int	 j;

	for (j = first; j < n; j++)
		if (strcmp(tab[j].name, name) == 0)
			goto found;
	for (j = first; j < n; j++)
		if (tab[j].name[0] == '\0')
			goto found;
	for (j = first; j < n; j++)
		if (!tab[j].used) {
			row_clear(m, route, j);
			goto found;
		}
	return -1;
found:
	snprintf(tab[j].name, sizeof(tab[j].name), "%s", name);
	tab[j].used = 1;
	return j;
}

void
metrics_assign(struct metrics *m, struct conf *conf)
{
	const char	*first = NULL;
	size_t		 i, over;
	int		 j;

	for (j = 0; j < METRICS_ROUTES; j++)
		m->route_name[j].used = 0;
	for (j = 0; j < METRICS_UPSTREAMS; j++)
		m->upstream_name[j].used = 0;
	/* Row 0: the requests answered before a route was found. */
	m->route_name[0].used = 1;
	/* Names kept first, so that a new name never takes a kept one's row. */
	for (i = 0; i < conf->nroutes; i++)
		for (j = 1; j < METRICS_ROUTES; j++)
			if (strcmp(m->route_name[j].name, conf->routes[i].name) == 0)
				m->route_name[j].used = 1;
	for (i = 0; i < conf->nupstreams; i++)
		for (j = 0; j < METRICS_UPSTREAMS; j++)
			if (strcmp(m->upstream_name[j].name, conf->upstreams[i].name) == 0)
				m->upstream_name[j].used = 1;
	for (i = 0, over = 0; i < conf->nroutes; i++)
		if ((conf->routes[i].metrics_idx = row_for(m, m->route_name, 1,
		    METRICS_ROUTES, conf->routes[i].name, 1)) == -1 && over++ == 0)
			first = conf->routes[i].name;
	if (over > 0)
		log_warnx("%zu routes from route %s on are not counted in the "
		    "per-route metrics (at most %d)", over, first,
		    METRICS_ROUTES - 1);
	for (i = 0, over = 0; i < conf->nupstreams; i++)
		if ((conf->upstreams[i].metrics_idx = row_for(m,
		    m->upstream_name, 0, METRICS_UPSTREAMS,
		    conf->upstreams[i].name, 0)) == -1 && over++ == 0)
			first = conf->upstreams[i].name;
	if (over > 0)
		log_warnx("%zu upstreams from upstream %s on are not counted "
		    "in the per-upstream metrics (at most %d)", over, first,
		    METRICS_UPSTREAMS);
}

void
metrics_slot_release(struct metrics *m, int slot)
{
	struct metrics_slot	*s = &m->slot[slot];
	int			 j;

	if (slot < 0 || slot >= SHM_SLOTS || !m->live[slot])
		return;
	for (j = 0; j < METRICS_ROUTES; j++)
		route_add(&m->retired.route[j], &s->route[j]);
	for (j = 0; j < METRICS_UPSTREAMS; j++)
		hist_add(&m->retired.upstream[j].time, &s->upstream[j].time);
	/* Its connections are closed: the gauge is not carried over. */
	memset(s, 0, sizeof(*s));
	m->live[slot] = 0;
}

void
metrics_route_total(const struct metrics *m, int row,
    struct metrics_route_row *out)
{
	int	 s;

	memset(out, 0, sizeof(*out));
	route_add(out, &m->retired.route[row]);
	for (s = 0; s < SHM_SLOTS; s++)
		if (__atomic_load_n(&m->live[s], __ATOMIC_RELAXED))
			route_add(out, &m->slot[s].route[row]);
}

void
metrics_upstream_total(const struct metrics *m, int row,
    struct metrics_upstream_row *out)
{
	int	 s;

	memset(out, 0, sizeof(*out));
	hist_add(&out->time, &m->retired.upstream[row].time);
	for (s = 0; s < SHM_SLOTS; s++)
		if (__atomic_load_n(&m->live[s], __ATOMIC_RELAXED))
			hist_add(&out->time, &m->slot[s].upstream[row].time);
}
