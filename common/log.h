/*
 * log.h: the error log, shared by master and workers.
 *
 * Lines look like "2026-11-24T18:42:06Z [notice] 1234: message".  The
 * target is a file (opened for append), stderr or syslog.  log_warn and
 * log_error append ": strerror(errno)"; the x variants do not.  fatal()
 * and fatalx() log at error level and exit with status 1.
 */
#ifndef PORTICO_LOG_H
#define PORTICO_LOG_H

#include <stdarg.h>
#include "common/conf.h"

#define PRINTF(a, b)	__attribute__((format(printf, a, b)))

/* Open target (path, "stderr" or "syslog").  -1 on error, errbuf filled. */
int	log_open(const char *target, enum log_level level, char *errbuf, size_t errlen);
/* Reopen the current file target (after logrotate moved it).  -1 on error. */
int	log_reopen(void);
void	log_close(void);
void	log_set_level(enum log_level level);
enum log_level	log_get_level(void);
/* The current file descriptor of a file target, -1 for stderr/syslog. */
int	log_fd(void);
/* Tag every line with this process role, e.g. "master", "worker 1". */
void	log_set_role(const char *role);
/*
 * While fd is not -1, copy every error-level message to it too, as one
 * line "PREFIX message\n" without the time stamp: how a starting daemon
 * tells the shell that started it, and a new worker its master, why it
 * failed.  The caller owns fd.
 */
void	log_set_report(int fd, const char *prefix);
/*
 * While fn is set, every line ends in " request_id=ID" when fn(arg)
 * returns an ID (a worker sets it around the steps of one client: the
 * lines about its request name the request).  NULL: none.
 */
void	log_set_context(const char *(*fn)(void *), void *arg);

void	log_debug(const char *fmt, ...) PRINTF(1, 2);
void	log_info(const char *fmt, ...) PRINTF(1, 2);
void	log_notice(const char *fmt, ...) PRINTF(1, 2);
void	log_warnx(const char *fmt, ...) PRINTF(1, 2);
void	log_warn(const char *fmt, ...) PRINTF(1, 2);
void	log_errorx(const char *fmt, ...) PRINTF(1, 2);
void	log_error(const char *fmt, ...) PRINTF(1, 2);
void	log_at(enum log_level level, const char *fmt, ...) PRINTF(2, 3);
void	fatal(const char *fmt, ...) PRINTF(1, 2) __attribute__((noreturn));
void	fatalx(const char *fmt, ...) PRINTF(1, 2) __attribute__((noreturn));

#endif /* PORTICO_LOG_H */
