/*
 * main.c: the command line.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/conf.h"
#include "common/net.h"
#include "common/proctitle.h"
#include "common/tls.h"
#include "common/waf.h"
#include "master/ctl.h"
#include "master/master.h"
#include "master/resolver.h"
#include "master/upgrade.h"
#include "master/runstate.h"

#ifndef PORTICO_DEFAULT_CONF
#define PORTICO_DEFAULT_CONF	SYSCONFDIR "/portico/portico.ini"
#endif

/*
 * For -t: whether each listen address can be bound.  One that is in use
 * passes, since it is most often the running portico's own; the start
 * says so when it is not.
 */
static int
check_listen(struct conf *c, char **errors)
{
	char	 errbuf[256], *n;
	size_t	 i, j, len = 0;
	int	 fd, rc = 0, m;

	*errors = NULL;
	for (i = 0; i < c->nlisteners; i++)
		for (j = 0; j < c->listeners[i].naddrs; j++) {
			errno = 0;
			fd = net_listen(&c->listeners[i].addrs[j], 1, errbuf,
			    sizeof(errbuf));
			if (fd != -1) {
				close(fd);
				continue;
			}
			if (errno == EADDRINUSE)
				continue;
			rc = -1;
			m = snprintf(NULL, 0, "%s:%d: %s\n", c->path,
			    c->listeners[i].addrs[j].line, errbuf);
			if (m < 0 || (n = realloc(*errors, len + m + 1)) == NULL)
				continue;
			snprintf(n + len, m + 1, "%s:%d: %s\n", c->path,
			    c->listeners[i].addrs[j].line, errbuf);
			len += m;
			*errors = n;
		}
	return rc;
}

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: portico [-FhtV] [-d] [-c file] [-s stop|quit|reload|reopen|upgrade]\n"
	    "  -c file    configuration file (default %s)\n"
	    "  -F         stay in the foreground (for systemd and tests)\n"
	    "  -t         test the configuration and exit\n"
	    "  -d         with -t: print what differs from the running configuration\n"
	    "  -s signal  send signal to the running master: stop, quit, reload,\n"
	    "             reopen, upgrade (the whole binary upgrade)\n"
	    "  -V         print the version and exit\n"
	    "  -h         print this help and exit\n",
	    PORTICO_DEFAULT_CONF);
}

int
main(int argc, char *argv[])
{
	const char	*path = PORTICO_DEFAULT_CONF, *signame = NULL;
	int		 ch, test = 0, foreground = 0, diff = 0, rc;
	struct conf	*conf;
	char		*errors = NULL, *abspath = NULL;

	upgrade_init(argc, argv);
	while ((ch = getopt(argc, argv, "c:dFhs:tV")) != -1) {
		switch (ch) {
		case 'c':
			path = optarg;
			break;
		case 'd':
			diff = 1;
			break;
		case 'F':
			foreground = 1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 's':
			signame = optarg;
			break;
		case 't':
			test = 1;
			break;
		case 'V':
			printf("portico %s\n", PACKAGE_VERSION);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc || (diff && !test)) {
		usage(stderr);
		return 2;
	}

	/* The master leaves its working directory: remember where the file is. */
	if (!test && signame == NULL && (abspath = realpath(path, NULL)) != NULL)
		path = abspath;
	conf = conf_load(path, &errors);
	if (conf == NULL)
		goto fail;
	/* Certificates and keys are checked (and loaded) here, -t included. */
	if (signame == NULL && tls_conf_load(conf, &errors) == -1)
		goto fail;
	/* The firewall's rules too: compiled once, before the workers fork. */
	if (signame == NULL && waf_conf_load(conf, &errors) == -1)
		goto fail;
	/*
	 * Users, groups, log files and their directories: what can be seen
	 * before anything forks.  -s reload and upgrade check too, so that
	 * a config the master would refuse is refused here, with the reasons.
	 */
	if ((signame == NULL || strcmp(signame, "reload") == 0 ||
	    strcmp(signame, "upgrade") == 0) &&
	    (conf_check(conf, &errors) == -1 ||
	    (test && check_listen(conf, &errors) == -1)))
		goto fail;
	if (test) {
		/* A name that does not resolve: a warning, not an error. */
		(void)resolver_prime(conf, NULL, stderr);
		printf("portico: configuration ok (%s)\n", path);
		rc = diff ? runstate_print_diff(conf) : 0;
		conf_free(conf);
		return rc;
	}
	if (signame != NULL) {
		rc = ctl_signal(conf, signame);
		conf_free(conf);
		return rc;
	}
	/* From here on argv's strings hold the process title. */
	if (abspath == NULL && (abspath = strdup(path)) == NULL) {
		fputs("portico: out of memory\n", stderr);
		conf_free(conf);
		return 1;
	}
	proctitle_init(argc, argv);
	rc = master_run(conf, abspath, foreground);
	free(abspath);
	return rc;

fail:
	fputs(errors != NULL ? errors : "portico: cannot load the configuration\n",
	    stderr);
	/* Started by a binary upgrade: the old master logs why. */
	upgrade_report(errors != NULL ? errors : "cannot load the configuration");
	if (test)
		fprintf(stderr, "portico: configuration %s test failed\n", path);
	else if (signame != NULL && conf != NULL)
		fprintf(stderr, "portico: not signalling the master: it "
		    "would refuse this configuration\n");
	free(errors);
	conf_free(conf);
	free(abspath);
	return 1;
}
