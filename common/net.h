/*
 * net.h: socket helpers used by the master (binding) and workers
 * (connecting).  They return -1 and fill the caller's error buffer, or set
 * errno; the caller decides where the message goes.
 */
#ifndef PORTICO_NET_H
#define PORTICO_NET_H

#include <stddef.h>
#include <sys/socket.h>
#include "common/conf.h"

/* Bind and listen on a; non-blocking, close-on-exec.  fd or -1. */
int	net_listen(const struct conf_addr *a, int backlog, char *errbuf, size_t errlen);
/*
 * TCP_DEFER_ACCEPT on a listening socket: a connection is handed to accept()
 * only once its first bytes arrived (or after about secs seconds); 0 turns
 * it off.  0 or -1, with the message in errbuf.
 */
int	net_defer_accept(int fd, const struct conf_addr *a, int secs,
	    char *errbuf, size_t errlen);
/* Start a non-blocking connect to a.  fd (connect may be in progress) or -1 with errno. */
int	net_connect(const struct conf_addr *a);
/* Whether two socket addresses are the same (family, address, port). */
int	net_addr_equal(const struct conf_addr *a, const struct conf_addr *b);
/* The peer's IP address as text into buf (no port). */
void	net_ntop(const struct sockaddr *sa, char *buf, size_t len);

#endif /* PORTICO_NET_H */
