/*
 * confdiff.h: what changed between two configurations, in words an
 * operator reads in the reload log or from `portico -t -d`.
 */
#ifndef PORTICO_CONFDIFF_H
#define PORTICO_CONFDIFF_H

#include <stddef.h>

#include "common/conf.h"

/* A list of changes, one sentence fragment each ("route api added"). */
struct confdiff {
	char	**items;
	size_t	  n;
};

/*
 * Compare old with new: listeners (added, removed, addresses, TLS on or
 * off, certificates by subject and expiry when the TLS contexts are
 * loaded, else by file), routes, upstreams and their servers, the cache
 * and the global settings.  0 with d filled (d->n == 0: no changes), or
 * -1 when out of memory (d is then empty).
 */
int	 confdiff_run(const struct conf *old, const struct conf *new,
	    struct confdiff *d);
/* The items joined by sep, or "no changes".  malloc'd; NULL: no memory. */
char	*confdiff_join(const struct confdiff *d, const char *sep);
void	 confdiff_free(struct confdiff *d);

#endif /* PORTICO_CONFDIFF_H */
