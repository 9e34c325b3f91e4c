/*
 * ctl.h: -s, signalling the running master from the command line.
 */
#ifndef PORTICO_CTL_H
#define PORTICO_CTL_H

#include "common/conf.h"

/*
 * Send the signal named name (stop, quit, reload, reopen, upgrade) to the
 * master named in conf's pid_file.  upgrade goes through the whole binary
 * upgrade: 0 when the new master serves and the old one has exited, 1
 * when the new binary did not come up (the old master keeps serving) or
 * nothing could be signalled, 2 for an unknown name, 3 when no outcome
 * came in time.  Returns the exit status.
 */
int	ctl_signal(struct conf *conf, const char *name);

#endif /* PORTICO_CTL_H */
