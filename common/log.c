/*
 * log.c: the error log.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"

enum log_target { TARGET_STDERR, TARGET_FILE, TARGET_SYSLOG };

static enum log_target	 target = TARGET_STDERR;
static enum log_level	 min_level = LOG_LVL_INFO;
static int		 fd = -1;
static char		*path;
static char		 role[32] = "portico";
static int		 report_fd = -1;
static const char	*(*ctx_fn)(void *);	/* log_set_context */
static void		*ctx_arg;
static const char	*report_prefix = "";

static const char *const level_names[] = {
	"debug", "info", "notice", "warn", "error"
};
static const int syslog_prio[] = {
	LOG_DEBUG, LOG_INFO, LOG_NOTICE, LOG_WARNING, LOG_ERR
};

static void	 log_vwrite(enum log_level, int, const char *, va_list);

/*
 * Open the log target.  A file is opened append-only and close-on-exec.
 * Returns 0, or -1 with errbuf filled.
 */
int
log_open(const char *t, enum log_level level, char *errbuf, size_t errlen)
{
	int	 nfd;
	char	*npath;

	min_level = level;
	if (strcmp(t, "stderr") == 0) {
		log_close();
		target = TARGET_STDERR;
		return 0;
	}
	if (strcmp(t, "syslog") == 0) {
		log_close();
		openlog("portico", LOG_PID | LOG_NDELAY, LOG_DAEMON);
		target = TARGET_SYSLOG;
		return 0;
	}
	if ((nfd = conf_open_log(t)) == -1) {
		snprintf(errbuf, errlen, "cannot open error log %s: %s", t,
		    conf_log_strerror(errno));
		return -1;
	}
	if ((npath = strdup(t)) == NULL) {
		close(nfd);
		snprintf(errbuf, errlen, "out of memory");
		return -1;
	}
	log_close();
	fd = nfd;
	path = npath;
	target = TARGET_FILE;
	return 0;
}

/*
 * Reopen a file target by name, so that a file moved away by logrotate
 * is let go.  A symbolic link or something else than conf_open_log()
 * accepts in its place is refused.  Returns 0, or -1 (the old
 * descriptor is kept).
 */
int
log_reopen(void)
{
	int	 nfd;

	if (target != TARGET_FILE)
		return 0;
	if ((nfd = conf_open_log(path)) == -1) {
		log_errorx("cannot reopen error log %s: %s (keeping the old "
		    "file)", path, conf_log_strerror(errno));
		return -1;
	}
	dup2(nfd, fd);
	close(nfd);
	return 0;
}

void
log_close(void)
{
	if (target == TARGET_FILE && fd != -1)
		close(fd);
	if (target == TARGET_SYSLOG)
		closelog();
	fd = -1;
	free(path);
	path = NULL;
	target = TARGET_STDERR;
}

void
log_set_level(enum log_level level)
{
	min_level = level;
}

enum log_level
log_get_level(void)
{
	return min_level;
}

int
log_fd(void)
{
	return target == TARGET_FILE ? fd : -1;
}

void
log_set_role(const char *r)
{
	snprintf(role, sizeof(role), "%s", r);
}

void
log_set_report(int rfd, const char *prefix)
{
	report_fd = rfd;
	report_prefix = prefix != NULL ? prefix : "";
}

void
log_set_context(const char *(*fn)(void *), void *arg)
{
	ctx_fn = fn;
	ctx_arg = arg;
}

/* An error line goes to the report descriptor too, without the stamp. */
static void
log_report(const char *msg, size_t len)
{
	char	 line[2100];
	int	 n;

	n = snprintf(line, sizeof(line), "%s%.*s\n", report_prefix, (int)len,
	    msg);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(line))
		n = sizeof(line) - 1;
	if (write(report_fd, line, n) == -1) {
		/* The reader is gone: nobody to tell. */
	}
}

/*
 * Format one line and write it with a single write(2), so that lines
 * from several processes appending to one file never interleave.
 */
static void
log_vwrite(enum log_level level, int with_errno, const char *fmt, va_list ap)
{
	char		 line[2048];
	int		 saved = errno, n, m, start;
	const char	*ctx;
	struct tm	 tm;
	time_t		 now;

	if (level < min_level)
		return;
	if (target == TARGET_SYSLOG) {
		n = vsnprintf(line, sizeof(line), fmt, ap);
		if (with_errno && n >= 0 && (size_t)n < sizeof(line))
			n += snprintf(line + n, sizeof(line) - n, ": %s",
			    strerror(saved));
		if (ctx_fn != NULL && (ctx = ctx_fn(ctx_arg)) != NULL &&
		    n >= 0 && (size_t)n < sizeof(line))
			snprintf(line + n, sizeof(line) - n, " request_id=%s",
			    ctx);
		syslog(syslog_prio[level], "%s: %s", role, line);
		if (report_fd != -1 && level >= LOG_LVL_ERROR)
			log_report(line, strlen(line));
		errno = saved;
		return;
	}
	now = time(NULL);
	gmtime_r(&now, &tm);
	n = snprintf(line, sizeof(line),
	    "%04d-%02d-%02dT%02d:%02d:%02dZ [%s] %d %s: ",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	    tm.tm_min, tm.tm_sec, level_names[level], (int)getpid(), role);
	start = n;
	m = vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
	if (m < 0)
		m = 0;
	n += m;
	if ((size_t)n > sizeof(line) - 2)
		n = sizeof(line) - 2;
	if (with_errno)
		n += snprintf(line + n, sizeof(line) - n - 1, ": %s",
		    strerror(saved));
	if ((size_t)n > sizeof(line) - 2)
		n = sizeof(line) - 2;
	if (ctx_fn != NULL && (ctx = ctx_fn(ctx_arg)) != NULL)
		n += snprintf(line + n, sizeof(line) - n - 1, " request_id=%s",
		    ctx);
	if ((size_t)n > sizeof(line) - 2)
		n = sizeof(line) - 2;
	if (report_fd != -1 && level >= LOG_LVL_ERROR)
		log_report(line + start, n - start);
	line[n++] = '\n';
	if (write(target == TARGET_FILE ? fd : STDERR_FILENO, line, n) == -1) {
		/* Nowhere left to report it. */
	}
	errno = saved;
}

#define LOG_FN(name, level, with_errno)				\
void								\
name(const char *fmt, ...)					\
{								\
	va_list	 ap;						\
								\
	va_start(ap, fmt);					\
	log_vwrite(level, with_errno, fmt, ap);			\
	va_end(ap);						\
}

LOG_FN(log_debug, LOG_LVL_DEBUG, 0)
LOG_FN(log_info, LOG_LVL_INFO, 0)
LOG_FN(log_notice, LOG_LVL_NOTICE, 0)
LOG_FN(log_warnx, LOG_LVL_WARN, 0)
LOG_FN(log_warn, LOG_LVL_WARN, 1)
LOG_FN(log_errorx, LOG_LVL_ERROR, 0)
LOG_FN(log_error, LOG_LVL_ERROR, 1)

void
log_at(enum log_level level, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	log_vwrite(level, 0, fmt, ap);
	va_end(ap);
}

void
fatal(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	log_vwrite(LOG_LVL_ERROR, 1, fmt, ap);
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	log_vwrite(LOG_LVL_ERROR, 0, fmt, ap);
	va_end(ap);
	exit(1);
}
