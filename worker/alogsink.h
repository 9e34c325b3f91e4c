/*
 * alogsink.h: the access log targets of a worker (struct conf's
 * g.alog_targets), each opened once however many sections write to it:
 * a file with its own buffer, written at the end of every loop turn and
 * when nearly full, or a syslog socket (alogsys.h).
 */
#ifndef PORTICO_ALOGSINK_H
#define PORTICO_ALOGSINK_H

#include <stddef.h>

#include "common/conf.h"

/* Open every target of conf; -1 when one cannot be opened (logged). */
int	 alogsink_open(const struct conf *conf);
/* Reopen the files (USR1), after writing out what is buffered. */
void	 alogsink_reopen(void);
/* Whether some target is open. */
int	 alogsink_any(void);
/* One line (ending in a newline) for target t: buffered, never blocking. */
void	 alogsink_write(int t, const char *line, size_t len);
/* Write out every buffer. */
void	 alogsink_flush(void);
/* Flush, then close every target. */
void	 alogsink_close(void);

#endif /* PORTICO_ALOGSINK_H */
