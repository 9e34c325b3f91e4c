/*
 * proxy.h: client connections, upstream connections and the proxy state
 * machine between them.
 */
#ifndef PORTICO_PROXY_H
#define PORTICO_PROXY_H

#include <stddef.h>
#include "common/conf.h"
#include "worker/event.h"

struct proxy_listener {
	struct ev_io		 io;
	struct conf_listener	*conf;
};

/* Build the per-worker runtime state for conf.  -1 on error (logged). */
int	proxy_init(struct conf *conf);
/* Accept every pending connection on a listener. */
void	proxy_accept(struct ev_io *io, uint32_t events);
/*
 * Begin a graceful stop: idle connections close now, busy ones after
 * their current response.  Returns the number of busy client connections.
 */
size_t	proxy_quit(void);
size_t	proxy_active(void);
/* End of a loop turn: let objects closed in it be reused. */
void	proxy_recycle(void);
/* Close everything and free all memory (fast stop, or after quit). */
void	proxy_fini(void);

#endif /* PORTICO_PROXY_H */
