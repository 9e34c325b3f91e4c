/*
 * balance.h: choosing a server of an upstream.
 *
 * Smooth weighted round robin (as in nginx): every pick adds each
 * eligible server's weight to its current value, takes the largest and
 * subtracts the total from it.  Weights 5,1,1 give a a b a c a a, never a
 * burst of five to the heaviest server.
 *
 * A server that failed (connect refused, timed out, reset) is left out
 * until its down_until time passes; servers already tried for this
 * request are left out through the tried bitmap.  When every untried
 * server is marked down, the least recently failed one is picked anyway,
 * so that a whole pool that was briefly down is found again at once.
 */
#ifndef PORTICO_BALANCE_H
#define PORTICO_BALANCE_H

#include <stddef.h>
#include <stdint.h>

#include "common/conf.h"

#define BALANCE_MAX_SERVERS	CONF_MAX_SERVERS

struct balance_server {
	int		 weight;
	int		 current;
	uint64_t	 down_until;	/* ms, 0: up */
};

struct balance_tried {
	uint64_t	 bits[BALANCE_MAX_SERVERS / 64];
};

void	balance_tried_clear(struct balance_tried *t);
void	balance_tried_set(struct balance_tried *t, size_t i);
int	balance_tried_has(const struct balance_tried *t, size_t i);

/* Pick a server index, or -1 when every server was tried. */
int	balance_pick(struct balance_server *s, size_t n, uint64_t now,
	    const struct balance_tried *tried);
/* Record a failure: server i is left out until now + ms. */
void	balance_fail(struct balance_server *s, uint64_t now, uint64_t ms);

#endif /* PORTICO_BALANCE_H */
