/*
 * master.h: the master process: binding, shared memory, the workers and
 * the signals that steer them.
 */
#ifndef PORTICO_MASTER_H
#define PORTICO_MASTER_H

#include "common/conf.h"

/*
 * Run the daemon on a loaded configuration: bind, daemonize unless
 * foreground, fork the workers and supervise them until told to stop.
 * Returns the process exit status.  Takes ownership of conf.
 */
int	master_run(struct conf *conf, const char *conf_path, int foreground);
/* Bind every listen address of conf, reusing matching fds of old. -1 on error. */
int	master_bind(struct conf *conf, struct conf *old, char *errbuf, size_t errlen);

#endif /* PORTICO_MASTER_H */
