/*
 * conf_check.c: conf_check(), what conf_load() cannot see in the text:
 * that the user and group exist, that the directories of the pid file and
 * the logs exist and that the log files open (conf_open_log(), also used
 * when the logs are reopened), and that the workers may write request
 * bodies to client_body_temp_path.  Each error names the key's file:line.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <sys/types.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <libgen.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/conf.h"

#ifndef PORTICO_USER
#define PORTICO_USER	"nobody"
#endif

static void	 check_err(char **, const char *, int, const char *, ...)
		    __attribute__((format(printf, 4, 5)));
static int	 dir_exists(const char *);
static void	 check_log(char **, const char *, int, const char *,
		    const char *);
static int	 buffering_used(const struct conf *);
static int	 dir_writable_by(const char *, uid_t, gid_t);

/* The error text of conf_check(): like conf_err() without a loader. */
static void
check_err(char **errs, const char *file, int line, const char *fmt, ...)
{
	va_list	 ap;
	char	 msg[1024], *n;
	size_t	 old = *errs != NULL ? strlen(*errs) : 0, need;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	need = old + strlen(file) + strlen(msg) + 24;
	if ((n = realloc(*errs, need)) == NULL) {
		/* Say at least that it failed. */
		if (*errs == NULL)
			*errs = strdup("portico: out of memory\n");
		return;
	}
	if (line > 0)
		snprintf(n + old, need - old, "%s:%d: %s\n", file, line, msg);
	else
		snprintf(n + old, need - old, "%s: %s\n", file, msg);
	*errs = n;
}

int
conf_open_log(const char *path)
{
	struct stat	 st;
	int		 fd, flags;

	/*
	 * No symbolic link, except under /dev, where only root creates
	 * them: /dev/stdout and /dev/stderr are how containers log.
	 */
	flags = O_WRONLY | O_APPEND | O_CREAT | O_NONBLOCK | O_CLOEXEC;
	if (strncmp(path, "/dev/", 5) != 0)
		flags |= O_NOFOLLOW;
	if ((fd = open(path, flags, 0644)) == -1)
		return -1;
	if (fstat(fd, &st) == -1 || !(S_ISREG(st.st_mode) ||
	    S_ISCHR(st.st_mode) || S_ISFIFO(st.st_mode))) {
		close(fd);
		errno = EINVAL;
		return -1;
	}
	/* O_NONBLOCK was only so that a FIFO without a reader fails. */
	if (fcntl(fd, F_SETFL, O_APPEND) == -1) {
		close(fd);
		return -1;
	}
	return fd;
}

const char *
conf_log_strerror(int err)
{
	if (err == ELOOP)
		return "it is a symbolic link";
	if (err == EINVAL)
		return "not a regular file, device or pipe";
	return strerror(err);
}

/* The directory of path exists: 0, else -1 with errno set. */
static int
dir_exists(const char *path)
{
	char		*copy, *dir;
	struct stat	 st;
	int		 rc;

	if ((copy = strdup(path)) == NULL)
		return -1;
	dir = dirname(copy);
	rc = stat(dir, &st);
	if (rc == 0 && !S_ISDIR(st.st_mode)) {
		errno = ENOTDIR;
		rc = -1;
	}
	free(copy);
	return rc;
}

static void
check_log(char **errs, const char *file, int line, const char *key,
    const char *path)
{
	int	 fd;

	if (dir_exists(path) == -1) {
		check_err(errs, file, line, "%s %s: directory: %s", key, path,
		    strerror(errno));
		return;
	}
	if ((fd = conf_open_log(path)) == -1) {
		check_err(errs, file, line, "%s %s: cannot open: %s", key,
		    path, conf_log_strerror(errno));
		return;
	}
	close(fd);
}

/* Whether a route (or the global default) reads request bodies first. */
static int
buffering_used(const struct conf *conf)
{
	size_t	 i;

	for (i = 0; i < conf->nroutes; i++)
		if (conf->routes[i].request_buffering)
			return 1;
	return conf->g.request_buffering;
}

/*
 * Whether uid/gid (the workers: one group, no supplementary ones) may
 * create files in directory dir, by its mode bits.  A directory that
 * cannot be read counts as writable: the workers will say so themselves.
 */
static int
dir_writable_by(const char *dir, uid_t uid, gid_t gid)
{
	struct stat	 st;
	mode_t		 need;

	if (stat(dir, &st) == -1)
		return 1;
	if (st.st_uid == uid)
		need = S_IWUSR | S_IXUSR;
	else if (st.st_gid == gid)
		need = S_IWGRP | S_IXGRP;
	else
		need = S_IWOTH | S_IXOTH;
	return (st.st_mode & need) == need;
}

int
conf_check(struct conf *conf, char **errors)
{
	struct conf_global	*g = &conf->g;
	struct passwd		*pw;
	struct group		*gr;
	char			*errs = NULL;
	const char		*file = conf->path;
	size_t			 i;

	*errors = NULL;
	g->drop = 0;
	if (g->user == NULL && geteuid() == 0) {
		/* Like nginx: a root master never leaves its workers root. */
		free(g->user);
		if ((g->user = strdup(PORTICO_USER)) == NULL) {
			check_err(&errs, file, 0, "out of memory");
			goto out;
		}
		g->user_default = 1;
	}
	if (g->user != NULL) {
		errno = 0;
		if ((pw = getpwnam(g->user)) == NULL) {
			if (g->user_default)
				check_err(&errs, file, 0, "no user set and the "
				    "default user %s does not exist: set user "
				    "in [global]", g->user);
			else
				check_err(&errs, file, g->user_line,
				    "unknown user %s", g->user);
		} else {
			g->uid = pw->pw_uid;
			g->gid = pw->pw_gid;
			g->drop = geteuid() == 0;
		}
	}
	if (g->group != NULL) {
		if ((gr = getgrnam(g->group)) == NULL)
			check_err(&errs, file, g->group_line,
			    "unknown group %s", g->group);
		else
			g->gid = gr->gr_gid;
	}
	if (g->pid_file != NULL && dir_exists(g->pid_file) == -1)
		check_err(&errs, file, g->pid_file_line, "pid_file %s: "
		    "directory: %s", g->pid_file, strerror(errno));
	if (g->error_log != NULL && g->error_log[0] == '/')
		check_log(&errs, file, g->error_log_line, "error_log",
		    g->error_log);
	for (i = 0; i < g->nalog_targets; i++)
		if (g->alog_targets[i].syslog_addr.len == 0)
			check_log(&errs, file, g->alog_targets[i].line,
			    "access_log", g->alog_targets[i].path);
	if (g->drop && buffering_used(conf) &&
	    !dir_writable_by(g->client_body_temp_path, g->uid, g->gid))
		check_err(&errs, file, g->client_body_temp_path_line,
		    "client_body_temp_path %s: the workers (uid %d, gid %d) "
		    "cannot create files there", g->client_body_temp_path,
		    (int)g->uid, (int)g->gid);
out:
	if (errs == NULL)
		return 0;
	g->drop = 0;
	*errors = errs;
	return -1;
}
