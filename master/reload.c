/*
 * reload.c: HUP.  Load and check the new configuration, bind its new
 * listeners, start its generation of workers and retire the old one only
 * once every new worker is up; on any failure the old configuration
 * keeps serving.  Also the reporting of starts and reloads: what the
 * service manager (notify.c), the state file (runstate.c) and the status
 * page (the shm header) learn.
 */
#include "config.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/cache.h"
#include "common/log.h"
#include "common/shm.h"
#include "common/tls.h"
#include "common/waf.h"
#include "master/confdiff.h"
#include "master/master.h"
#include "master/master_int.h"
#include "master/notify.h"
#include "master/runstate.h"

/*
 * Log each line of a conf error text, then why nothing changes; the
 * first line goes into why.
 */
static void
reload_refused(char *errors, char *why, size_t whylen)
{
	char	*line, *save = NULL;

	snprintf(why, whylen, "cannot load the configuration");
	if (errors == NULL)
		log_errorx("cannot load the configuration: out of memory");
	for (line = errors == NULL ? NULL : strtok_r(errors, "\n", &save);
	    line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		if (line == errors)
			snprintf(why, whylen, "%s", line);
		log_errorx("%s", line);
	}
	log_errorx("reload failed: keeping the running configuration");
	free(errors);
}

/* Log, in one line, what a reload changed (confdiff.c). */
static void
reload_summary(const struct conf *old, const struct conf *new)
{
	struct confdiff	 d;
	char		*s;

	if (confdiff_run(old, new, 0, &d) == -1 ||
	    (s = confdiff_join(&d, "; ")) == NULL) {
		log_warnx("reload: cannot list the changes: out of memory");
		confdiff_free(&d);
		return;
	}
	if (d.n == 0)
		log_notice("reload: no changes");
	else
		log_notice("reload: %zu change%s: %s", d.n, d.n == 1 ? "" : "s", s);
	free(s);
	confdiff_free(&d);
}

/*
 * Make the running state fit nc: the servers' shm entries, its listeners
 * (old's are taken over), its cache region.  -1 with why filled when one
 * of them fails: what was done is undone, old keeps serving; the caller
 * frees nc.
 */
static int
reload_prepare(struct conf *nc, struct conf *old, char *why, size_t whylen)
{
	char	 errbuf[512];

	if (shm_servers_assign(master_shm, nc, errbuf, sizeof(errbuf)) == -1) {
		log_errorx("%s", errbuf);
		log_errorx("reload failed: keeping the running configuration");
		snprintf(why, whylen, "%s", errbuf);
		shm_servers_assign(master_shm, old, errbuf, sizeof(errbuf));
		return -1;
	}
	if (master_bind(nc, old, errbuf, sizeof(errbuf)) == -1) {
		shm_servers_assign(master_shm, old, errbuf, sizeof(errbuf));
		log_errorx("%s", errbuf);
		listeners_defer_restore(old);
		log_errorx("reload failed: keeping the running configuration");
		snprintf(why, whylen, "%s", errbuf);
		return -1;
	}
	if (workers_cache_setup(nc) == -1) {
		shm_servers_assign(master_shm, old, errbuf, sizeof(errbuf));
		listeners_close_unused(nc, old);
		listeners_defer_restore(old);
		log_errorx("reload failed: keeping the running configuration");
		snprintf(why, whylen, "cannot create the cache region of %zu "
		    "bytes", nc->cache.size);
		return -1;
	}
	return 0;
}

/* What serves before a reload, to go back to when the new one fails. */
struct reload_saved {
	struct conf	*conf;
	struct cache	*cache;
	struct respawn	*respawns;
	int		 nrespawns;
	int		 generation;
};

/*
 * The new workers did not come up: stop them and serve old (in saved)
 * again.  Frees nc.
 */
static void
reload_rollback(struct conf *nc, const struct reload_saved *saved)
{
	struct conf	*old = saved->conf;
	struct cache	*nc_cache;
	char		 errbuf[512];

	workers_end_generation(workers_generation, 0);
	free(workers_respawns);
	workers_respawns = saved->respawns;
	workers_nrespawns = saved->nrespawns;
	workers_generation = saved->generation;
	master_conf = old;
	/* A new region goes when the last new worker has left. */
	nc_cache = master_cache;
	master_cache = saved->cache;
	workers_cache_drop(nc_cache);
	if (strcmp(nc->g.error_log, old->g.error_log) != 0 &&
	    log_open(old->g.error_log, old->g.log_level, errbuf,
	    sizeof(errbuf)) == -1)
		log_errorx("%s", errbuf);
	log_set_level(old->g.log_level);
	shm_servers_assign(master_shm, old, errbuf, sizeof(errbuf));
	/*
	 * The new workers hold their own copies of the sockets;
	 * close only what the old config does not use.
	 */
	listeners_close_unused(nc, old);
	listeners_defer_restore(old);
	conf_free(nc);
}

/*
 * HUP: load and check the new configuration; switch only if all is well.
 * The old workers are retired only once every new one is up; when the
 * new ones fail, they are stopped and the old configuration keeps
 * serving.  0 when the new configuration serves; -1 with why filled
 * when the old one still does.
 */
int
reload_run(char *why, size_t whylen)
{
	struct conf		*nc;
	char			*errors = NULL, errbuf[512];
	struct conf		*old = master_conf;
	struct reload_saved	 saved;
	int			 rc;

	log_notice("reloading configuration from %s", master_conf_path);
	nc = conf_load(master_conf_path, &errors);
	if (nc != NULL && (tls_conf_load(nc, &errors) == -1 ||
	    waf_conf_load(nc, &errors) == -1 ||
	    conf_check(nc, &errors) == -1)) {
		/* A missing certificate, user or log: nothing changes. */
		conf_free(nc);
		nc = NULL;
	}
	if (nc == NULL) {
		reload_refused(errors, why, whylen);
		return -1;
	}
	saved.conf = old;
	saved.cache = master_cache;
	saved.respawns = workers_respawns;
	saved.nrespawns = workers_nrespawns;
	saved.generation = workers_generation;
	if (reload_prepare(nc, old, why, whylen) == -1) {
		conf_free(nc);
		return -1;
	}
	if (strcmp(nc->g.error_log, old->g.error_log) != 0) {
		if (log_open(nc->g.error_log, nc->g.log_level, errbuf,
		    sizeof(errbuf)) == -1)
			log_errorx("%s (keeping the old error log)", errbuf);
	}
	log_set_level(nc->g.log_level);
	master_conf = nc;
	master_log_user(master_conf);
	master_chown_logs(master_conf);
	workers_generation = ++workers_generations;
	workers_prev_conf = old;
	rc = workers_start_generation(errbuf, sizeof(errbuf));
	workers_prev_conf = NULL;
	if (rc == -1) {
		log_errorx("reload: the new workers did not come up: %s", errbuf);
		log_errorx("reload failed: the old workers keep serving the "
		    "previous configuration");
		snprintf(why, whylen, "the new workers did not come up: %.400s",
		    errbuf);
		reload_rollback(nc, &saved);
		return -1;
	}
	free(saved.respawns);
	workers_cache_drop(saved.cache);
	/*
	 * Every new worker is up: retire the old ones, and close the sockets
	 * the new config dropped (the old workers hold their own copies
	 * until they finish).
	 */
	workers_signal(SIGQUIT, 1);
	listeners_close_unused(old, nc);
	/* The checker probes what the new config names. */
	checker_stop(SIGTERM);
	checker_start();
	reload_summary(old, master_conf);
	conf_free(old);
	log_notice("configuration reloaded: %d workers",
	    master_conf->g.workers);
	return 0;
}

/*
 * Reporting: what the service manager (notify.c), the state file
 * (runstate.c) and the status page (the shm header) learn about the
 * serving generation and the reloads.
 */
static struct runstate	 rstate;
static char		*conf_text;	/* the file as the last load read it */
static size_t		 conf_text_len;

/* Read the config file, just before it is loaded. */
void
report_read_conf(void)
{
	free(conf_text);
	conf_text = runstate_read_conf(master_conf_path, &conf_text_len);
}

/* The text loaded is what serves now: keep it for -t -d. */
static void
report_save_conf(void)
{
	if (conf_text != NULL)
		(void)runstate_save_conf(master_conf, conf_text, conf_text_len);
	free(conf_text);
	conf_text = NULL;
}

/* The STATUS= line: "3 workers, generation 2, 0 failed reloads". */
static void
report_status(char *buf, size_t len)
{
	int	 n;

	n = snprintf(buf, len, "%d worker%s, generation %llu, %llu failed "
	    "reload%s", master_conf->g.workers,
	    master_conf->g.workers == 1 ? "" : "s",
	    (unsigned long long)rstate.generation,
	    (unsigned long long)rstate.reloads_failed,
	    rstate.reloads_failed == 1 ? "" : "s");
	if (n > 0 && (size_t)n < len && rstate.last_reload != 0 &&
	    !rstate.last_ok)
		snprintf(buf + n, len - (size_t)n, "; last reload failed: %s",
		    rstate.last_error);
}

/* Publish rstate: the state file and the shm header. */
static void
report_publish(void)
{
	rstate.pid = getpid();
	rstate.workers = master_conf->g.workers;
	shm_write64(&master_shm->generation, rstate.generation);
	shm_write64(&master_shm->reloads, rstate.reloads_done);
	shm_write64(&master_shm->reloads_failed, rstate.reloads_failed);
	shm_write64((uint64_t *)&master_shm->last_reload,
	    (uint64_t)rstate.last_reload);
	shm_write32(&master_shm->last_reload_ok, (uint32_t)rstate.last_ok);
	(void)runstate_write(master_conf, &rstate);
}

/* The first generation is up: the service is ready. */
void
report_started(void)
{
	char	 status[700];

	memset(&rstate, 0, sizeof(rstate));
	rstate.generation = 1;
	report_save_conf();
	report_publish();
	report_status(status, sizeof(status));
	notify_ready(status);
}

/* HUP taken: say so before anything is read. */
void
report_reload_begin(void)
{
	rstate.reloads_begun++;
	(void)runstate_write(master_conf, &rstate);
	report_read_conf();
	notify_reloading();
}

/* A reload ended, with why it failed (rc -1) or the new config serving. */
void
report_reload_end(int rc, const char *why)
{
	char	 status[700];

	rstate.reloads_done = rstate.reloads_begun;
	rstate.last_reload = (int64_t)time(NULL);
	rstate.last_ok = rc == 0;
	if (rc == 0) {
		rstate.generation++;
		rstate.last_error[0] = '\0';
		report_save_conf();
	} else {
		free(conf_text);
		conf_text = NULL;
		rstate.reloads_failed++;
		snprintf(rstate.last_error, sizeof(rstate.last_error), "%s", why);
	}
	report_publish();
	report_status(status, sizeof(status));
	notify_ready(status);
}

/* On the way out (QUIT, TERM, INT). */
void
report_stopping(int graceful)
{
	/* Workers told to quit now are not the old ones of a reload. */
	shm_write32(&master_shm->stopping, 1);
	notify_stopping(graceful ? "stopping gracefully" : "stopping");
}

/* Drop the config text read for a start that failed, or on the way out. */
void
report_discard(void)
{
	free(conf_text);
	conf_text = NULL;
}
