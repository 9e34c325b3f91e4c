/*
 * notify.c: the sd_notify(3) datagram protocol, without libsystemd.
 *
 * $NOTIFY_SOCKET names an AF_UNIX datagram socket: a path ("/run/...")
 * or an abstract name ("@name").  Each message is one datagram of
 * newline-separated assignments.  The socket is opened per message and
 * closed again, so that no descriptor is left for the workers to inherit;
 * the variable stays set, so that a master started by a binary upgrade
 * can still reach the service manager.
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "master/notify.h"

/* Fill sun from $NOTIFY_SOCKET.  0: none set; -1: unusable; else its length. */
static int
notify_addr(struct sockaddr_un *sun, socklen_t *len)
{
	const char	*e = getenv("NOTIFY_SOCKET");
	size_t		 n;

	if (e == NULL || *e == '\0')
		return 0;
	n = strlen(e);
	if ((e[0] != '/' && e[0] != '@') || n >= sizeof(sun->sun_path))
		return -1;
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	memcpy(sun->sun_path, e, n);
	if (e[0] == '@')
		sun->sun_path[0] = '\0';	/* abstract: no trailing NUL */
	*len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
	return 1;
}

int
notify_send(const char *fmt, ...)
{
	struct sockaddr_un	 sun;
	socklen_t		 len = 0;
	char			 msg[1024];
	va_list			 ap;
	int			 fd, n, rc;

	if ((rc = notify_addr(&sun, &len)) <= 0) {
		if (rc == -1)
			log_warnx("NOTIFY_SOCKET is neither a path nor an "
			    "abstract name: not notifying");
		return rc;
	}
	va_start(ap, fmt);
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n < 0)
		return -1;
	if ((size_t)n >= sizeof(msg))
		n = sizeof(msg) - 1;	/* a long STATUS= is cut short */
	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1) {
		log_warn("notify socket");
		return -1;
	}
	rc = 0;
	if (sendto(fd, msg, (size_t)n, MSG_NOSIGNAL, (struct sockaddr *)&sun,
	    len) == -1) {
		log_warn("cannot notify the service manager");
		rc = -1;
	}
	close(fd);
	return rc;
}

void
notify_ready(const char *status)
{
	notify_send("READY=1\nSTATUS=%s", status);
}

void
notify_reloading(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	notify_send("RELOADING=1\nSTATUS=reloading\nMONOTONIC_USEC=%llu",
	    (unsigned long long)ts.tv_sec * 1000000ULL +
	    (unsigned long long)ts.tv_nsec / 1000);
}

void
notify_stopping(const char *status)
{
	notify_send("STOPPING=1\nSTATUS=%s", status);
}
