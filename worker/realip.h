/*
 * realip.h: the client address a trusted proxy vouches for, from
 * X-Forwarded-For, Forwarded or X-Real-IP (worker/realip.c).
 */
#ifndef PORTICO_REALIP_H
#define PORTICO_REALIP_H

#include <sys/types.h>
#include <sys/socket.h>

#include <stddef.h>

#include "common/conf.h"
#include "common/http.h"

/* The most addresses of a chain looked at; a longer one is malformed. */
#define REALIP_MAX_HOPS	64

/* Whether an address is one of the trusted proxies. */
typedef int	(*realip_trusted_fn)(const struct sockaddr *, void *);

/*
 * Pick the client address from the fields h[0..nh) of the kind asked:
 * the rightmost address of the chain that is not trusted (every field
 * of the name, in order, is one list), or the leftmost when all are;
 * X-Real-IP holds one address and is taken as it is.  The address is
 * written to out (text, as inet_ntop() writes it).  Returns 1 with out
 * set, 0 when there is no such field or the chain names no address
 * where the client is ("unknown" or an obfuscated Forwarded node), -1
 * when a value is malformed (out is then untouched).
 */
int	 realip_pick(enum real_ip_header kind, const struct http_header *h,
	    size_t nh, realip_trusted_fn trusted, void *arg, char *out,
	    size_t cap);

#endif
