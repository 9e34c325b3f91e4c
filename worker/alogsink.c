/*
 * alogsink.c: a worker's access log targets (alogsink.h).  A file target
 * gets a buffer of ALOG_BUF bytes, allocated when the worker starts;
 * writing a line is a copy into it.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "worker/alogsink.h"
#include "worker/alogsys.h"

#define ALOG_BUF	65536
#define ALOG_FLUSH	49152

struct alog_sink {
	const struct conf_alogtarget *t;
	int			 fd;
	int			 sys;	/* a syslog socket */
	char			*buf;	/* files only */
	size_t			 len;
};

static struct alog_sink	*sinks;
static size_t		 nsinks;
static size_t		 ndirty;	/* sinks with buffered bytes */

static int	 sink_open_file(struct alog_sink *);
static void	 sink_flush(struct alog_sink *);

/* Never through a symbolic link: see conf_open_log(). */
static int
sink_open_file(struct alog_sink *s)
{
	int	 fd;

	if ((fd = conf_open_log(s->t->path)) == -1) {
		log_error("cannot open access log %s", s->t->path);
		return -1;
	}
	if (s->fd != -1)
		close(s->fd);
	s->fd = fd;
	return 0;
}

int
alogsink_open(const struct conf *conf)
{
	struct alog_sink	*s;
	size_t			 i;

	if (conf->g.nalog_targets == 0)
		return 0;
	if ((sinks = calloc(conf->g.nalog_targets, sizeof(*sinks))) == NULL) {
		log_error("access log: out of memory");
		return -1;
	}
	for (i = 0; i < conf->g.nalog_targets; i++) {
		nsinks = i + 1;
		s = &sinks[i];
		s->t = &conf->g.alog_targets[i];
		s->fd = -1;
		if (s->t->syslog_addr.len > 0) {
			s->sys = 1;
			if ((s->fd = alogsys_open(s->t)) == -1)
				return -1;
			continue;
		}
		if ((s->buf = malloc(ALOG_BUF)) == NULL) {
			log_error("access log: out of memory");
			return -1;
		}
		if (sink_open_file(s) == -1)
			return -1;
	}
	return 0;
}

static void
sink_flush(struct alog_sink *s)
{
	size_t	 off = 0;
	ssize_t	 n;

	while (off < s->len && s->fd != -1) {
		n = write(s->fd, s->buf + off, s->len - off);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			log_warn("access log write %s", s->t->path);
			break;
		}
		off += n;
	}
	if (s->len > 0)
		ndirty--;
	s->len = 0;
}

void
alogsink_flush(void)
{
	size_t	 i;

	for (i = 0; ndirty > 0 && i < nsinks; i++)
		if (sinks[i].len > 0)
			sink_flush(&sinks[i]);
}

/* A syslog socket needs no reopening: it names no file. */
void
alogsink_reopen(void)
{
	size_t	 i;

	alogsink_flush();
	for (i = 0; i < nsinks; i++)
		if (!sinks[i].sys)
			(void)sink_open_file(&sinks[i]);
}

int
alogsink_any(void)
{
	return nsinks > 0;
}

void
alogsink_write(int t, const char *line, size_t len)
{
	struct alog_sink	*s;

	if (t < 0 || (size_t)t >= nsinks || sinks[t].fd == -1)
		return;
	s = &sinks[t];
	if (s->sys) {
		alogsys_send(s->fd, s->t, line, len);
		return;
	}
	if (s->len + len > ALOG_BUF)
		sink_flush(s);
	if (len > ALOG_BUF)
		len = ALOG_BUF;
	if (s->len == 0)
		ndirty++;
	memcpy(s->buf + s->len, line, len);
	s->len += len;
	if (s->len >= ALOG_FLUSH)
		sink_flush(s);
}

void
alogsink_close(void)
{
	size_t	 i;

	alogsink_flush();
	for (i = 0; i < nsinks; i++) {
		if (sinks[i].fd != -1)
			close(sinks[i].fd);
		free(sinks[i].buf);
	}
	free(sinks);
	sinks = NULL;
	nsinks = ndirty = 0;
}
