/*
 * alogsys.c: access log lines as syslog messages over UDP (alogsys.h):
 * RFC 3164 ("<PRI>Mmm dd hh:mm:ss HOST TAG: line", as nginx sends) or
 * RFC 5424 ("<PRI>1 TIMESTAMP HOST TAG - - - line"), severity info.
 */
#include "config.h"

#include <sys/socket.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/conf.h"
#include "common/log.h"
#include "worker/alogsys.h"
#include "worker/event.h"

#define SYSLOG_MAX	8192	/* bytes of a datagram, at most */

int
alogsys_open(const struct conf_alogtarget *g)
{
	int	 fd;

	if ((fd = socket(g->syslog_addr.ss.ss_family, SOCK_DGRAM |
	    SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) == -1) {
		log_warn("access log: syslog socket");
		return -1;
	}
	if (connect(fd, (const struct sockaddr *)&g->syslog_addr.ss,
	    g->syslog_addr.len) == -1) {
		log_warn("access log: syslog server %s", g->syslog_addr.text);
		close(fd);
		return -1;
	}
	return fd;
}

void
alogsys_send(int fd, const struct conf_alogtarget *g, const char *line,
    size_t len)
{
	static char	 host[256];
	static char	 tbuf[40];
	static time_t	 tlast = -1;
	static int	 last5424 = -1;
	char		 msg[SYSLOG_MAX];
	struct tm	 tm;
	int		 n;
	size_t		 room;

	if (host[0] == '\0' && (gethostname(host, sizeof(host) - 1) == -1 ||
	    host[0] == '\0'))
		strcpy(host, "-");
	if (ev_wall != tlast || last5424 != g->syslog_rfc5424) {
		tlast = ev_wall;
		last5424 = g->syslog_rfc5424;
		if (g->syslog_rfc5424) {
			gmtime_r(&tlast, &tm);
			strftime(tbuf, sizeof(tbuf), "%Y-%m-%dT%H:%M:%SZ", &tm);
		} else {
			localtime_r(&tlast, &tm);
			strftime(tbuf, sizeof(tbuf), "%b %e %H:%M:%S", &tm);
		}
	}
	if (len > 0 && line[len - 1] == '\n')
		len--;
	n = snprintf(msg, sizeof(msg), g->syslog_rfc5424 ?
	    "<%d>1 %s %s %s - - - " : "<%d>%s %s %s: ",
	    g->syslog_facility * 8 + 6, tbuf, host, g->syslog_tag);
	if (n < 0 || (size_t)n >= sizeof(msg))
		return;
	room = sizeof(msg) - (size_t)n;
	if (len > room)
		len = room;
	memcpy(msg + n, line, len);
	/* Non-blocking: a line the socket cannot take now is lost. */
	while (send(fd, msg, (size_t)n + len, MSG_DONTWAIT) == -1 &&
	    errno == EINTR)
		;
}
