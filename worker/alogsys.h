/*
 * alogsys.h: the access log sent to a syslog server over UDP
 * (access_log = syslog:server=..., in any section), one datagram per line, never
 * blocking: a line the socket cannot take at once is dropped, as nginx
 * does.
 */
#ifndef PORTICO_ALOGSYS_H
#define PORTICO_ALOGSYS_H

#include <stddef.h>

#include "common/conf.h"

/* A non-blocking UDP socket connected to g's server; -1 on failure. */
int	 alogsys_open(const struct conf_alogtarget *g);
/* Send one access log line (its newline dropped) with g's header. */
void	 alogsys_send(int fd, const struct conf_alogtarget *g, const char *line,
	    size_t len);

#endif /* PORTICO_ALOGSYS_H */
