/*
 * balance.h: choosing a server of an upstream.
 *
 * A server is eligible for a request when it was not tried for it yet,
 * is not backing off after a failure (down_until) and is below its
 * max_conns.  Primaries are chosen among first; backup servers only when
 * no primary is eligible.  Among the eligible ones, the upstream's method
 * decides:
 *
 *   round_robin  smooth weighted round robin (as in nginx): weights 5,1,1
 *                give a a b a c a a, never five in a row to the heaviest
 *   least_conn   fewest active connections per weight, counted across all
 *                workers; ties go round robin
 *   random       two weighted random picks, the less loaded one wins
 *   ip_hash,     consistent hashing: each primary owns 160 x weight points
 *   hash         on a ring; a key goes to the first eligible server
 *                clockwise, so losing or adding one server moves only the
 *                keys that server owned
 *
 * slow_start: for that long after a server comes back from a failure its
 * weight ramps up from 1 to its full weight.
 *
 * When no server is eligible only because of back-off, the one whose
 * back-off ends first is tried anyway, so a pool that was briefly down is
 * found again at once.  Servers whose active probes fail (shared state
 * down) are never picked; servers marked failed by passive checks are
 * treated like backed-off ones; an empty DNS slot counts as down.  A DNS
 * slot's weight and backup flag are read from it (SRV records set them).  When every untried server is at max_conns or down, the
 * answer is -1 and *why says which (the caller says 503).
 */
#ifndef PORTICO_BALANCE_H
#define PORTICO_BALANCE_H

#include <stddef.h>
#include <stdint.h>

#include "common/conf.h"

struct shm_dns;

#define BALANCE_MAX_SERVERS	CONF_MAX_SERVERS
#define BALANCE_RING_POINTS	160	/* ring points per unit of weight */
#define BALANCE_RING_MAX	65536	/* points on one ring at most */

struct balance_server {
	int		 weight;
	int		 current;	/* smooth round robin state */
	int		 backup;
	int		 max_conns;	/* 0: no limit */
	uint64_t	 down_until;	/* ms, 0: up */
	uint64_t	 up_since;	/* ms when it came back, for slow start */
	const uint32_t	*active;	/* connections in use, all workers */
	const uint32_t	*state;		/* shared health (enum shm_health); NULL: up */
	const uint64_t	*changed;	/* when the shared state last changed (ms) */
	const char	*name;		/* ring identity (the address); NULL: index */
	const struct shm_dns *dns;	/* a DNS slot: weight and backup from it */
};

/* Why balance_pick() found no server. */
#define BALANCE_NONE_LEFT	0	/* every server was tried */
#define BALANCE_ALL_FULL	1	/* the rest are at max_conns */
#define BALANCE_ALL_DOWN	2	/* the rest are down (health checks) */

struct balance_point {
	uint32_t	 hash;
	uint32_t	 server;
};

struct balance {
	enum balance_kind	 kind;
	struct balance_server	*s;
	size_t			 n;
	uint64_t		 slow_start_ms;
	struct balance_point	*ring;		/* hash methods */
	size_t			 nring;
	uint64_t		 rnd;		/* xorshift state, random */
	uint32_t		 rr;		/* tie breaker, least_conn */
};

struct balance_tried {
	uint64_t	 bits[BALANCE_MAX_SERVERS / 64];
};

void	balance_tried_clear(struct balance_tried *t);
void	balance_tried_set(struct balance_tried *t, size_t i);
void	balance_tried_unset(struct balance_tried *t, size_t i);
int	balance_tried_has(const struct balance_tried *t, size_t i);

/*
 * Set b up for n servers in s (the caller fills s).  Builds the hash ring
 * for the hash methods.  -1 on allocation failure.
 */
int	balance_init(struct balance *b, enum balance_kind kind,
	    struct balance_server *s, size_t n, uint64_t slow_start_ms, uint64_t seed);
void	balance_free(struct balance *b);
/*
 * Pick a server index.  For the hash methods, keyed says the request has
 * a key and hash is its hash; a request without one goes round robin.
 * On -1, *why is one of the BALANCE_ reasons above.  -1 when none is left; *full says whether max_conns was
 * the reason.
 */
int	balance_pick(struct balance *b, uint64_t now, const struct balance_tried *tried,
	    int keyed, uint32_t hash, int *why);
/* Whether balance_pick() would find a server (without picking one). */
int	balance_left(const struct balance *b, uint64_t now, const struct balance_tried *tried);
/* Record a failure: server i is left out until now + ms. */
void	balance_fail(struct balance *b, size_t i, uint64_t now, uint64_t ms);
/* 32-bit hash of a key (FNV-1a, then mixed), for the hash methods. */
uint32_t	balance_hash(const void *key, size_t len);

#endif /* PORTICO_BALANCE_H */
