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

/* Identity and description of one certificate of a listener. */
struct confdiff_cert {
	char		 fp[65];	/* SHA-256 of the DER, in hex */
	char		 text[320];	/* "CN=a.example, expires 2027-01-31 ..." */
};

/* Leave certificates out (the caller compares them its own way). */
#define CONFDIFF_NO_CERTS	0x01

/*
 * Compare old with new: listeners (added, removed, addresses, TLS on or
 * off, certificates by subject and expiry when the TLS contexts are
 * loaded, else by file), routes, upstreams and their servers, the cache
 * and the global settings.  0 with d filled (d->n == 0: no changes), or
 * -1 when out of memory (d is then empty).
 */
int	 confdiff_run(const struct conf *old, const struct conf *new,
	    int flags, struct confdiff *d);
/*
 * The certificates loaded for listener l (none when its TLS contexts are
 * not loaded) into a malloc'd array.  -1 when out of memory.
 */
int	 confdiff_certs(const struct conf_listener *l,
	    struct confdiff_cert **out, size_t *n);
/* Add one item (printf-like).  -1 when out of memory. */
int	 confdiff_add(struct confdiff *d, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
/* The items joined by sep, or "no changes".  malloc'd; NULL: no memory. */
char	*confdiff_join(const struct confdiff *d, const char *sep);
void	 confdiff_free(struct confdiff *d);

#endif /* PORTICO_CONFDIFF_H */
