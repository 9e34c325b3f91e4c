/*
 * runstate.c: the state and config-copy files next to the pid file, and
 * `portico -s reload`, which waits on them for the outcome.
 */
#include "config.h"

#include <sys/stat.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/tls.h"
#include "master/confdiff.h"
#include "master/runstate.h"

void
runstate_path(const struct conf *c, const char *suffix, char *out,
    size_t outlen)
{
	const char	*p = c->g.pid_file;
	size_t		 n = strlen(p);

	if (n > 4 && strcmp(p + n - 4, ".pid") == 0)
		n -= 4;
	snprintf(out, outlen, "%.*s.%s", (int)n, p, suffix);
}

/* Write len bytes of buf as the file path, whole or not at all. */
static int
replace_file(const char *path, const char *buf, size_t len, mode_t mode)
{
	char	 tmp[4200];
	int	 fd, rc = -1;
	ssize_t	 w;
	size_t	 off = 0;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp)) {
		log_errorx("%s: name too long", path);
		return -1;
	}
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC |
	    O_NOFOLLOW, mode)) == -1) {
		log_error("cannot write %s", tmp);
		return -1;
	}
	while (off < len) {
		w = write(fd, buf + off, len - off);
		if (w == -1 && errno == EINTR)
			continue;
		if (w <= 0) {
			log_error("cannot write %s", tmp);
			goto out;
		}
		off += (size_t)w;
	}
	if (fchmod(fd, mode) == -1 || close(fd) == -1) {
		fd = -1;
		log_error("cannot write %s", tmp);
		goto out;
	}
	fd = -1;
	if (rename(tmp, path) == -1) {
		log_error("cannot rename %s to %s", tmp, path);
		goto out;
	}
	rc = 0;
out:
	if (fd != -1)
		close(fd);
	if (rc == -1)
		unlink(tmp);
	return rc;
}

int
runstate_write(const struct conf *c, const struct runstate *rs)
{
	char	 path[4096], buf[2048], err[sizeof(rs->last_error)], *p;
	int	 n;

	/* One line per key: no newline may hide in the message. */
	snprintf(err, sizeof(err), "%s", rs->last_error);
	for (p = err; *p != '\0'; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	n = snprintf(buf, sizeof(buf),
	    "pid=%d\nworkers=%d\ngeneration=%" PRIu64 "\n"
	    "reloads_begun=%" PRIu64 "\nreloads_done=%" PRIu64 "\n"
	    "reloads_failed=%" PRIu64 "\nlast_reload=%" PRId64 "\n"
	    "last_result=%s\nlast_error=%s\n",
	    (int)rs->pid, rs->workers, rs->generation, rs->reloads_begun,
	    rs->reloads_done, rs->reloads_failed, rs->last_reload,
	    rs->last_reload == 0 ? "none" : rs->last_ok ? "ok" : "failed", err);
	if (n < 0 || (size_t)n >= sizeof(buf))
		return -1;
	runstate_path(c, "state", path, sizeof(path));
	return replace_file(path, buf, (size_t)n, 0644);
}

int
runstate_read(const struct conf *c, struct runstate *rs)
{
	char		 path[4096], line[1024], *v, *nl;
	FILE		*f;
	int		 seen = 0;

	memset(rs, 0, sizeof(*rs));
	runstate_path(c, "state", path, sizeof(path));
	if ((f = fopen(path, "re")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL) {
		if ((nl = strchr(line, '\n')) != NULL)
			*nl = '\0';
		if ((v = strchr(line, '=')) == NULL)
			continue;
		*v++ = '\0';
		if (strcmp(line, "pid") == 0) {
			rs->pid = (pid_t)strtol(v, NULL, 10);
			seen |= 1;
		} else if (strcmp(line, "workers") == 0)
			rs->workers = (int)strtol(v, NULL, 10);
		else if (strcmp(line, "generation") == 0)
			rs->generation = strtoull(v, NULL, 10);
		else if (strcmp(line, "reloads_begun") == 0) {
			rs->reloads_begun = strtoull(v, NULL, 10);
			seen |= 2;
		} else if (strcmp(line, "reloads_done") == 0) {
			rs->reloads_done = strtoull(v, NULL, 10);
			seen |= 4;
		} else if (strcmp(line, "reloads_failed") == 0)
			rs->reloads_failed = strtoull(v, NULL, 10);
		else if (strcmp(line, "last_reload") == 0)
			rs->last_reload = strtoll(v, NULL, 10);
		else if (strcmp(line, "last_result") == 0)
			rs->last_ok = strcmp(v, "ok") == 0;
		else if (strcmp(line, "last_error") == 0)
			snprintf(rs->last_error, sizeof(rs->last_error), "%s", v);
	}
	fclose(f);
	return seen == 7 ? 0 : -1;
}

char *
runstate_read_conf(const char *path, size_t *lenp)
{
	char	*buf = NULL, *nb;
	size_t	 len = 0, cap = 0;
	ssize_t	 r;
	int	 fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		log_error("cannot read %s to keep a copy", path);
		return NULL;
	}
	for (;;) {
		if (len == cap) {
			cap = cap == 0 ? 16384 : cap * 2;
			if ((nb = realloc(buf, cap)) == NULL) {
				log_errorx("out of memory");
				goto fail;
			}
			buf = nb;
		}
		r = read(fd, buf + len, cap - len);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1) {
			log_error("cannot read %s to keep a copy", path);
			goto fail;
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	close(fd);
	*lenp = len;
	return buf;
fail:
	close(fd);
	free(buf);
	return NULL;
}

int
runstate_save_conf(const struct conf *c, const char *text, size_t len)
{
	char	 out[4096];

	runstate_path(c, "running.ini", out, sizeof(out));
	/* It may name secrets' paths: for root's eyes, as the file often is. */
	return replace_file(out, text, len, 0600);
}

void
runstate_remove(const struct conf *c, pid_t pid)
{
	struct runstate	 rs;
	char		 path[4096];

	if (runstate_read(c, &rs) == -1 || rs.pid != pid)
		return;
	runstate_path(c, "running.ini", path, sizeof(path));
	unlink(path);
	runstate_path(c, "state", path, sizeof(path));
	unlink(path);
}

int
runstate_reload(const struct conf *c, pid_t pid, int timeout_ms)
{
	struct runstate	 before, now;
	struct timespec	 ts = { 0, 50 * 1000000L };
	char		 path[4096];
	int		 waited = 0;

	runstate_path(c, "state", path, sizeof(path));
	if (runstate_read(c, &before) == -1 || before.pid != pid) {
		/* A master that keeps no state file: tell what is known. */
		if (kill(pid, SIGHUP) == -1) {
			fprintf(stderr, "portico: cannot signal process %d: %s\n",
			    (int)pid, strerror(errno));
			return 1;
		}
		fprintf(stderr, "portico: reload signalled to process %d; it "
		    "keeps no state in %s, so its outcome is in the error log\n",
		    (int)pid, path);
		return 0;
	}
	if (kill(pid, SIGHUP) == -1) {
		fprintf(stderr, "portico: cannot signal process %d: %s\n",
		    (int)pid, strerror(errno));
		return 1;
	}
	/*
	 * The first reload to begin after `before` was read reads the file
	 * as it is now: wait for it to end.
	 */
	for (;;) {
		if (runstate_read(c, &now) == 0 && now.pid == pid &&
		    now.reloads_done > before.reloads_begun)
			break;
		if (kill(pid, 0) == -1 && errno == ESRCH) {
			fprintf(stderr, "portico: the master (pid %d) exited "
			    "during the reload\n", (int)pid);
			return 1;
		}
		if (waited >= timeout_ms) {
			fprintf(stderr, "portico: the master (pid %d) did not "
			    "finish the reload within %d s; see the error log\n",
			    (int)pid, timeout_ms / 1000);
			return 1;
		}
		nanosleep(&ts, NULL);
		waited += 50;
	}
	if (!now.last_ok) {
		fprintf(stderr, "portico: reload failed: %s; the previous "
		    "configuration keeps serving (generation %" PRIu64 ")\n",
		    now.last_error[0] != '\0' ? now.last_error : "see the error log",
		    now.generation);
		return 1;
	}
	printf("portico: reloaded: generation %" PRIu64 ", %d workers\n",
	    now.generation, now.workers);
	return 0;
}

int
runstate_print_diff(const struct conf *c)
{
	struct runstate	 rs;
	struct confdiff	 d;
	struct conf	*run;
	char		 path[4096], *errors = NULL;
	size_t		 i;

	runstate_path(c, "running.ini", path, sizeof(path));
	if (runstate_read(c, &rs) == -1 || (kill(rs.pid, 0) == -1 &&
	    errno == ESRCH)) {
		fprintf(stderr, "portico: no running master to compare with "
		    "(none has left its state next to the pid file %s)\n",
		    c->g.pid_file);
		return 1;
	}
	if ((run = conf_load(path, &errors)) == NULL) {
		fprintf(stderr, "portico: cannot read the running configuration "
		    "%s:\n%s", path, errors != NULL ? errors : "out of memory\n");
		free(errors);
		return 1;
	}
	/* Certificates by content when they load; else by file name. */
	if (tls_conf_load(run, &errors) == -1) {
		free(errors);
		errors = NULL;
	}
	if (confdiff_run(run, c, &d) == -1) {
		fprintf(stderr, "portico: out of memory\n");
		conf_free(run);
		return 1;
	}
	if (d.n == 0)
		printf("portico: no changes from the running configuration "
		    "(pid %d, generation %llu)\n", (int)rs.pid,
		    (unsigned long long)rs.generation);
	else
		printf("portico: %zu change%s from the running configuration "
		    "(pid %d, generation %llu):\n", d.n, d.n == 1 ? "" : "s",
		    (int)rs.pid, (unsigned long long)rs.generation);
	for (i = 0; i < d.n; i++)
		printf("  %s\n", d.items[i]);
	confdiff_free(&d);
	conf_free(run);
	return 0;
}
