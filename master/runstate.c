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

/*
 * Append "cert=LISTENER<TAB>SHA256<TAB>subject, expires ..." lines for the
 * certificates c serves, so that -t -d compares certificates with those
 * loaded, not with the files as they are now.  -1 when out of room.
 */
static int
certs_text(const struct conf *c, char *buf, size_t len, size_t *off)
{
	struct confdiff_cert	*certs;
	size_t			 i, j, n;
	int			 k;

	for (i = 0; i < c->nlisteners; i++) {
		if (confdiff_certs(&c->listeners[i], &certs, &n) == -1)
			return -1;
		for (j = 0; j < n; j++) {
			k = snprintf(buf + *off, len - *off, "cert=%s\t%s\t%s\n",
			    c->listeners[i].name, certs[j].fp, certs[j].text);
			if (k < 0 || (size_t)k >= len - *off) {
				free(certs);
				return -1;
			}
			*off += (size_t)k;
		}
		free(certs);
	}
	return 0;
}

int
runstate_write(const struct conf *c, const struct runstate *rs)
{
	char	 path[4096], buf[65536], err[sizeof(rs->last_error)], *p;
	int	 n;
	size_t	 off;

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
	off = (size_t)n;
	if (certs_text(c, buf, sizeof(buf), &off) == -1)
		log_warnx("too many certificates to list them all in the state "
		    "file");
	runstate_path(c, "state", path, sizeof(path));
	return replace_file(path, buf, off, 0644);
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
	printf("portico: reloaded: generation %" PRIu64 ", %d worker%s\n",
	    now.generation, now.workers, now.workers == 1 ? "" : "s");
	return 0;
}

/* Whether the state file lists certificate fp for listener name. */
static int
state_has_cert(const struct conf *c, const char *name, const char *fp)
{
	char	 path[4096], line[1024], want[200];
	FILE	*f;
	int	 found = 0;

	snprintf(want, sizeof(want), "cert=%s\t%s\t", name, fp);
	runstate_path(c, "state", path, sizeof(path));
	if ((f = fopen(path, "re")) == NULL)
		return 0;
	while (!found && fgets(line, sizeof(line), f) != NULL)
		found = strncmp(line, want, strlen(want)) == 0;
	fclose(f);
	return found;
}

/*
 * The certificates of each listener TLS in both: the file's (loaded)
 * against the master's (in the state file).  -1 when out of memory.
 */
static int
diff_running_certs(const struct conf *run, const struct conf *c,
    struct confdiff *d)
{
	struct confdiff_cert	*certs;
	const struct conf_listener *l;
	char			 path[4096], line[1024], *name, *fp, *text, *nl;
	size_t			 i, j, n;
	FILE			*f;
	int			 found;

	for (i = 0; i < c->nlisteners; i++) {
		l = &c->listeners[i];
		for (j = 0; j < run->nlisteners; j++)
			if (strcmp(run->listeners[j].name, l->name) == 0)
				break;
		if (j == run->nlisteners || l->ntls_cert == 0 ||
		    run->listeners[j].ntls_cert == 0)
			continue;
		if (confdiff_certs(l, &certs, &n) == -1)
			return -1;
		/* What the master serves and the file has not. */
		runstate_path(c, "state", path, sizeof(path));
		if ((f = fopen(path, "re")) != NULL) {
			while (fgets(line, sizeof(line), f) != NULL) {
				if (strncmp(line, "cert=", 5) != 0)
					continue;
				if ((nl = strchr(line, '\n')) != NULL)
					*nl = '\0';
				name = line + 5;
				if ((fp = strchr(name, '\t')) == NULL ||
				    (text = strchr(fp + 1, '\t')) == NULL)
					continue;
				*fp++ = '\0';
				*text++ = '\0';
				if (strcmp(name, l->name) != 0)
					continue;
				for (j = 0, found = 0; j < n && !found; j++)
					found = strcmp(certs[j].fp, fp) == 0;
				if (!found && confdiff_add(d, "listener %s: "
				    "certificate removed: %s", l->name, text) == -1) {
					fclose(f);
					free(certs);
					return -1;
				}
			}
			fclose(f);
		}
		for (j = 0; j < n; j++)
			if (!state_has_cert(c, l->name, certs[j].fp) &&
			    confdiff_add(d, "listener %s: certificate added: %s",
			    l->name, certs[j].text) == -1) {
				free(certs);
				return -1;
			}
		free(certs);
	}
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
	/*
	 * Certificates: those the master loaded (listed in the state file)
	 * against those of the file, loaded by -t.
	 */
	if (confdiff_run(run, c, CONFDIFF_NO_CERTS, &d) == -1 ||
	    diff_running_certs(run, c, &d) == -1) {
		fprintf(stderr, "portico: out of memory\n");
		confdiff_free(&d);
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
