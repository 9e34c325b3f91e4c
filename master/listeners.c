/*
 * listeners.c: the listening sockets of the master: bind every address of
 * a configuration, taking over the sockets a running configuration (or,
 * after a binary upgrade, the old master) already has open, and close the
 * ones a configuration no longer uses.  The workers inherit them.
 */
#include "config.h"

#include <stddef.h>
#include <unistd.h>

#include "common/conf.h"
#include "common/net.h"
#include "common/log.h"
#include "master/master.h"
#include "master/master_int.h"
#include "master/upgrade.h"

/*
 * Bind every address of conf.  An address that old already has open is
 * taken over (so a reload never closes a listening socket that stays in
 * the config); the rest are bound fresh.  defer_accept is set on both, so
 * a reload changes it on the sockets it keeps.  On error the fresh ones are
 * closed and old keeps all of its own.
 */
int
master_bind(struct conf *c, struct conf *old, char *errbuf, size_t errlen)
{
	size_t	 i, j, oi, oj;
	int	 fd, fresh;

	for (i = 0; i < c->nlisteners; i++) {
		for (j = 0; j < c->listeners[i].naddrs; j++) {
			fd = -1;
			for (oi = 0; old != NULL && oi < old->nlisteners && fd == -1; oi++)
				for (oj = 0; oj < old->listeners[oi].naddrs; oj++)
					if (old->listeners[oi].fds[oj] != -1 &&
					    net_addr_equal(&old->listeners[oi].addrs[oj],
					    &c->listeners[i].addrs[j])) {
						fd = old->listeners[oi].fds[oj];
						break;
					}
			if (fd == -1)
				fd = upgrade_listener(&c->listeners[i].addrs[j]);
			fresh = fd == -1;
			if (fresh) {
				fd = net_listen(&c->listeners[i].addrs[j],
				    c->listeners[i].backlog, errbuf, errlen);
				if (fd == -1)
					goto fail;
			}
			c->listeners[i].fds[j] = fd;
			/* A socket taken over may carry another value. */
			if ((!fresh || c->listeners[i].defer_accept > 0) &&
			    net_defer_accept(fd, &c->listeners[i].addrs[j],
			    c->listeners[i].defer_accept, errbuf, errlen) == -1)
				goto fail;
		}
	}
	return 0;
fail:
	/* Close what was opened here; leave what belongs to old. */
	for (i = 0; i < c->nlisteners; i++)
		for (j = 0; j < c->listeners[i].naddrs; j++) {
			fd = c->listeners[i].fds[j];
			if (fd == -1)
				continue;
			for (oi = 0; old != NULL && oi < old->nlisteners; oi++)
				for (oj = 0; oj < old->listeners[oi].naddrs; oj++)
					if (old->listeners[oi].fds[oj] == fd)
						fd = -1;
			if (fd != -1)
				close(fd);
			c->listeners[i].fds[j] = -1;
		}
	return -1;
}

/* Close the listening sockets of old that new does not use. */
void
listeners_close_unused(struct conf *old, struct conf *new)
{
	size_t	 i, j, ni, nj;
	int	 used;

	for (i = 0; i < old->nlisteners; i++)
		for (j = 0; j < old->listeners[i].naddrs; j++) {
			if (old->listeners[i].fds[j] == -1)
				continue;
			used = 0;
			for (ni = 0; new != NULL && ni < new->nlisteners; ni++)
				for (nj = 0; nj < new->listeners[ni].naddrs; nj++)
					if (new->listeners[ni].fds[nj] ==
					    old->listeners[i].fds[j])
						used = 1;
			if (!used)
				close(old->listeners[i].fds[j]);
			old->listeners[i].fds[j] = -1;
		}
}

/*
 * A reload failed after master_bind set the new defer_accept on the
 * sockets it took over: give c's sockets c's value back.
 */
void
listeners_defer_restore(struct conf *c)
{
	char	 errbuf[256];
	size_t	 i, j;

	for (i = 0; i < c->nlisteners; i++)
		for (j = 0; j < c->listeners[i].naddrs; j++)
			if (c->listeners[i].fds[j] != -1 &&
			    net_defer_accept(c->listeners[i].fds[j],
			    &c->listeners[i].addrs[j], c->listeners[i].defer_accept,
			    errbuf, sizeof(errbuf)) == -1)
				log_warnx("%s", errbuf);
}
