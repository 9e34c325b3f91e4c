/*
 * balance.c: smooth weighted round robin with failure back-off.
 */
#include "config.h"

#include <string.h>

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

int
balance_tried_has(const struct balance_tried *t, size_t i)
{
	return (t->bits[i / 64] >> (i % 64)) & 1;
}

int
balance_pick(struct balance_server *s, size_t n, uint64_t now,
    const struct balance_tried *tried)
{
	size_t		 i;
	int		 best = -1, total = 0, fallback = -1;
	uint64_t	 oldest = UINT64_MAX;

	for (i = 0; i < n; i++) {
		if (tried != NULL && balance_tried_has(tried, i))
			continue;
		if (s[i].down_until > now) {
			if (s[i].down_until < oldest) {
				oldest = s[i].down_until;
				fallback = (int)i;
			}
			continue;
		}
		s[i].current += s[i].weight;
		total += s[i].weight;
		if (best == -1 || s[i].current > s[best].current)
			best = (int)i;
	}
	if (best == -1)
		return fallback;
	s[best].current -= total;
	return best;
}

void
balance_fail(struct balance_server *s, uint64_t now, uint64_t ms)
{
	s->down_until = now + ms;
}
