/*
 * balance.c: server selection: smooth weighted round robin, least
 * connections, power of two random choices and consistent hashing, with
 * backups, max_conns, failure back-off and slow start.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/shm.h"
#include "worker/balance.h"

void
balance_tried_clear(struct balance_tried *t)
{
	memset(t, 0, sizeof(*t));
}

void
balance_tried_set(struct balance_tried *t, size_t i)
{
	t->bits[i / 64] |= (uint64_t)1 << (i % 64);
}

void
balance_tried_unset(struct balance_tried *t, size_t i)
{
	t->bits[i / 64] &= ~((uint64_t)1 << (i % 64));
}

int
balance_tried_has(const struct balance_tried *t, size_t i)
{
	return (t->bits[i / 64] >> (i % 64)) & 1;
}

uint32_t
balance_hash(const void *key, size_t len)
{
	const unsigned char	*p = key;
	uint32_t		 h = 2166136261u;
	size_t			 i;

	for (i = 0; i < len; i++) {
		h ^= p[i];
		h *= 16777619u;
	}
	/* FNV-1a alone clusters on short keys: finish with a mixer. */
	h ^= h >> 16;
	h *= 0x85ebca6bu;
	h ^= h >> 13;
	h *= 0xc2b2ae35u;
	h ^= h >> 16;
	return h;
}

static int
point_cmp(const void *a, const void *b)
{
	const struct balance_point *x = a, *y = b;

	if (x->hash != y->hash)
		return x->hash < y->hash ? -1 : 1;
	return x->server < y->server ? -1 : (x->server > y->server);
}

int
balance_init(struct balance *b, enum balance_kind kind, struct balance_server *s,
    size_t n, uint64_t slow_start_ms, uint64_t seed)
{
	size_t	 i, k, np = 0;
	char	 key[96];
	int	 len;
	double	 scale;

	memset(b, 0, sizeof(*b));
	b->kind = kind;
	b->s = s;
	b->n = n;
	b->slow_start_ms = slow_start_ms;
	b->rnd = seed ? seed : 0x9e3779b97f4a7c15ull;
	if (kind != BALANCE_HASH && kind != BALANCE_IP_HASH)
		return 0;
	for (i = 0; i < n; i++)
		if (!s[i].backup)
			np += (size_t)s[i].weight * BALANCE_RING_POINTS;
	if (np == 0)
		return 0;
	/* Big pools with big weights: fewer points each, same proportions. */
	scale = np > BALANCE_RING_MAX ? (double)BALANCE_RING_MAX / (double)np : 1.0;
	if ((b->ring = calloc(np, sizeof(*b->ring))) == NULL)
		return -1;
	/*
	 * A server's points depend on its name (address) and weight only,
	 * so every worker builds the same ring, and a reload that adds or
	 * removes a server moves only that server's keys.
	 */
	for (i = 0; i < n; i++) {
		size_t	 pts;

		if (s[i].backup)
			continue;
		pts = (size_t)((double)s[i].weight * BALANCE_RING_POINTS * scale);
		if (pts == 0)
			pts = 1;
		for (k = 0; k < pts; k++) {
			if (s[i].name != NULL)
				len = snprintf(key, sizeof(key), "%s-%zu", s[i].name, k);
			else
				len = snprintf(key, sizeof(key), "%zu-%zu", i, k);
			if (len < 0 || (size_t)len >= sizeof(key))
				len = (int)strlen(key);
			b->ring[b->nring].hash = balance_hash(key, (size_t)len);
			b->ring[b->nring].server = (uint32_t)i;
			b->nring++;
		}
	}
	qsort(b->ring, b->nring, sizeof(*b->ring), point_cmp);
	return 0;
}

void
balance_free(struct balance *b)
{
	free(b->ring);
	b->ring = NULL;
	b->nring = 0;
}

static uint64_t
rnd_next(struct balance *b)
{
	uint64_t x = b->rnd;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	b->rnd = x;
	return x;
}

static uint32_t
active_of(const struct balance_server *s)
{
	return s->active ? shm_read32(s->active) : 0;
}

/* A server's weight and backup flag: a DNS slot's come from the resolver. */
static int
weight_of(const struct balance_server *s)
{
	uint32_t	 w;

	if (s->dns == NULL)
		return s->weight;
	w = shm_read32(&s->dns->weight);
	return w < 1 ? 1 : (w > 1000 ? 1000 : (int)w);
}

static int
backup_of(const struct balance_server *s)
{
	if (s->dns == NULL)
		return s->backup;
	return s->backup || shm_read32(&s->dns->backup) != 0;
}

/* The weight in force now: ramped up during slow start. */
static int
eff_weight(const struct balance *b, const struct balance_server *s, uint64_t now)
{
	uint64_t	 w;

	uint64_t	 since = s->up_since, shared;

	if (b->slow_start_ms == 0)
		return weight_of(s);
	/* Back from the shared health state counts too. */
	if (s->changed != NULL && s->state != NULL &&
	    shm_read32(s->state) == 0) {
		shared = shm_read64(s->changed);
		if (shared > since)
			since = shared;
	}
	if (since == 0 || now >= since + b->slow_start_ms)
		return weight_of(s);
	if (now <= since)
		return 1;
	w = (uint64_t)weight_of(s) * (now - since) / b->slow_start_ms;
	return w < 1 ? 1 : (int)w;
}

enum elig { E_OK, E_TRIED, E_DOWN, E_FULL, E_HDOWN };

static enum elig
eligible(const struct balance *b, size_t i, uint64_t now,
    const struct balance_tried *tried)
{
	const struct balance_server	*s = &b->s[i];

	if (tried != NULL && balance_tried_has(tried, i))
		return E_TRIED;
	if (s->state != NULL) {
		switch (shm_read32(s->state)) {
		case 0:
			break;
		case SHM_DOWN:
		case SHM_EMPTY:
			return E_HDOWN;		/* probes failed, no address: never */
		default:
			return E_DOWN;		/* passive: last resort */
		}
	}
	if (s->down_until > now)
		return E_DOWN;
	if (s->max_conns > 0 && active_of(s) >= (uint32_t)s->max_conns)
		return E_FULL;
	return E_OK;
}

/* Load per weight: is a less loaded than b?  (a_active/a_w < b_active/b_w) */
static int
less_loaded(uint32_t aa, int aw, uint32_t ba, int bw)
{
	return (uint64_t)aa * (uint64_t)bw < (uint64_t)ba * (uint64_t)aw;
}

/* Pick among the servers with ok[i] set, by the upstream's method. */
static int
pick_among(struct balance *b, const unsigned char *ok, uint64_t now, uint32_t hash,
    int allow_ring)
{
	size_t		 i, lo, hi, mid, k;
	int		 best = -1, total = 0, w, bw = 0, c1, c2;
	uint32_t	 a, ba = 0;
	uint64_t	 r;

	switch (b->kind) {
	case BALANCE_IP_HASH:
	case BALANCE_HASH:
		if (allow_ring && b->nring > 0) {
			lo = 0;
			hi = b->nring;
			while (lo < hi) {
				mid = (lo + hi) / 2;
				if (b->ring[mid].hash < hash)
					lo = mid + 1;
				else
					hi = mid;
			}
			for (k = 0; k < b->nring; k++) {
				i = b->ring[(lo + k) % b->nring].server;
				if (ok[i])
					return (int)i;
			}
			return -1;
		}
		/* Backups (not on the ring): round robin. */
		goto rr;
	case BALANCE_LEAST_CONN:
		b->rr++;
		for (k = 0; k < b->n; k++) {
			i = (b->rr + k) % b->n;
			if (!ok[i])
				continue;
			a = active_of(&b->s[i]);
			w = eff_weight(b, &b->s[i], now);
			if (best == -1 || less_loaded(a, w, ba, bw)) {
				best = (int)i;
				ba = a;
				bw = w;
			}
		}
		return best;
	case BALANCE_RANDOM:
		for (i = 0; i < b->n; i++)
			if (ok[i])
				total += eff_weight(b, &b->s[i], now);
		if (total == 0)
			return -1;
		c1 = c2 = -1;
		for (k = 0; k < 2; k++) {
			r = rnd_next(b) % (uint64_t)total;
			for (i = 0; i < b->n; i++) {
				if (!ok[i])
					continue;
				w = eff_weight(b, &b->s[i], now);
				if (r < (uint64_t)w)
					break;
				r -= w;
			}
			if (k == 0)
				c1 = (int)i;
			else
				c2 = (int)i;
		}
		if (less_loaded(active_of(&b->s[c2]), eff_weight(b, &b->s[c2], now),
		    active_of(&b->s[c1]), eff_weight(b, &b->s[c1], now)))
			return c2;
		return c1;
	case BALANCE_ROUND_ROBIN:
	default:
	rr:
		for (i = 0; i < b->n; i++) {
			if (!ok[i])
				continue;
			w = eff_weight(b, &b->s[i], now);
			b->s[i].current += w;
			total += w;
			if (best == -1 || b->s[i].current > b->s[best].current)
				best = (int)i;
		}
		if (best != -1)
			b->s[best].current -= total;
		return best;
	}
}

int
balance_pick(struct balance *b, uint64_t now, const struct balance_tried *tried,
    int keyed, uint32_t hash, int *why)
{
	unsigned char	 ok[BALANCE_MAX_SERVERS];
	size_t		 i;
	int		 pass, any, nfull = 0, ndown = 0, fallback = -1, pick;
	uint64_t	 oldest = UINT64_MAX;
	enum elig	 e;

	*why = BALANCE_NONE_LEFT;
	for (pass = 0; pass < 2; pass++) {	/* primaries, then backups */
		any = 0;
		for (i = 0; i < b->n; i++) {
			ok[i] = 0;
			if (backup_of(&b->s[i]) != pass)
				continue;
			e = eligible(b, i, now, tried);
			if (e == E_OK)
				ok[i] = any = 1;
			else if (e == E_FULL)
				nfull++;
			else if (e == E_HDOWN)
				ndown++;
			else if (e == E_DOWN && b->s[i].down_until < oldest) {
				/* Shared passive marks count as failed long ago. */
				oldest = b->s[i].down_until;
				fallback = (int)i;
			}
		}
		if (any && (pick = pick_among(b, ok, now, hash,
		    pass == 0 && keyed)) != -1)
			return pick;
	}
	if (fallback != -1 && (b->s[fallback].max_conns == 0 ||
	    active_of(&b->s[fallback]) < (uint32_t)b->s[fallback].max_conns))
		return fallback;
	if (nfull > 0)
		*why = BALANCE_ALL_FULL;
	else if (ndown > 0)
		*why = BALANCE_ALL_DOWN;
	return -1;
}

int
balance_left(const struct balance *b, uint64_t now, const struct balance_tried *tried)
{
	size_t		 i;
	enum elig	 e;

	for (i = 0; i < b->n; i++) {
		e = eligible(b, i, now, tried);
		if (e == E_OK || e == E_DOWN)
			return 1;
	}
	return 0;
}

void
balance_fail(struct balance *b, size_t i, uint64_t now, uint64_t ms)
{
	b->s[i].down_until = now + ms;
	b->s[i].up_since = now + ms;
}
