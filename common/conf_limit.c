/*
 * conf_limit.c: the [limit NAME] sections (a request rate or a number of
 * requests at once, per key, counted across the workers: common/limit.h,
 * worker/limits.c) and the routes' "limit = NAME..." that applies them.
 *
 *	[limit api]
 *	key = addr | header:NAME | cookie:NAME | route
 *	rate = 10/s | 600/m		(or concurrency = N, not both)
 *	burst = 20
 *	nodelay = on
 *	max_delay = 30s
 *	dry_run = on
 *	status = 429
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/conf.h"
#include "common/conf_int.h"

static void	 key_key(struct loader *, void *, const char *);
static void	 key_rate(struct loader *, void *, const char *);
static void	 key_status(struct loader *, void *, const char *);
static int	 limit_taken(struct loader *, const char *, const char **);
static int	 limit_open(struct loader *, char *);
static void	 limit_discard(struct loader *);
static void	 limit_finish(struct loader *);

#define LM(f)	offsetof(struct conf_limit, f)

static const struct key limit_keys[] = {
	{ "key", K_FUNC, 0, 0, 0, 0, key_key, NULL },
	{ "rate", K_FUNC, 0, 0, 0, 0, key_rate, NULL },
	{ "burst", K_INT, LM(burst), 0, 1000000, 0, NULL, NULL },
	{ "nodelay", K_ONOFF, LM(nodelay), 0, 0, 0, NULL, NULL },
	{ "max_delay", K_DURATION, LM(max_delay_ms), 1, 0, 0, NULL, NULL },
	{ "dry_run", K_ONOFF, LM(dry_run), 0, 0, 0, NULL, NULL },
	{ "concurrency", K_INT, LM(concurrency), 1, 1000000, 0, NULL, NULL },
	{ "status", K_FUNC, 0, 0, 0, 0, key_status, NULL },
};

_Static_assert(NKEYS(limit_keys) <= MAX_KEYS, "raise MAX_KEYS");

const struct conf_section conf_sec_limit = {
	"limit", SEC_LIMIT, 1, limit_keys, NKEYS(limit_keys),
	limit_taken, limit_open, limit_discard, limit_finish
};

void
conf_limit_clear(struct conf_limit *l)
{
	free(l->name);
	free(l->key_name);
	memset(l, 0, sizeof(*l));
}

/* key = addr | header:NAME | cookie:NAME | route */
static void
key_key(struct loader *ld, void *obj, const char *v)
{
	struct conf_limit	*l = obj;
	const char		*name = NULL;

	free(l->key_name);
	l->key_name = NULL;
	if (strcmp(v, "addr") == 0)
		l->key = LIMIT_KEY_ADDR;
	else if (strcmp(v, "route") == 0)
		l->key = LIMIT_KEY_ROUTE;
	else if (strncmp(v, "header:", 7) == 0) {
		l->key = LIMIT_KEY_HEADER;
		name = v + 7;
	} else if (strncmp(v, "cookie:", 7) == 0) {
		l->key = LIMIT_KEY_COOKIE;
		name = v + 7;
	} else {
		conf_err(ld, ld->lineno, "key: '%s' is not addr, header:NAME, "
		    "cookie:NAME or route", v);
		return;
	}
	if (name == NULL)
		return;
	if (!conf_valid_name(name) || strchr(name, '.') != NULL) {
		conf_err(ld, ld->lineno, "key: '%s' is not a valid header or "
		    "cookie name", name);
		return;
	}
	l->key_name = conf_strdup(ld, name);
}

/* rate = N/s or N/m: N requests a second or a minute, N >= 1. */
static void
key_rate(struct loader *ld, void *obj, const char *v)
{
	struct conf_limit	*l = obj;
	const char		*slash = strchr(v, '/');
	char			 num[32];
	int64_t			 n;
	int			 per;

	if (slash == NULL || (size_t)(slash - v) >= sizeof(num) ||
	    (strcmp(slash, "/s") != 0 && strcmp(slash, "/m") != 0)) {
		conf_err(ld, ld->lineno, "rate: '%s' is not N/s or N/m", v);
		return;
	}
	memcpy(num, v, (size_t)(slash - v));
	num[slash - v] = '\0';
	per = slash[1] == 's' ? 1 : 60;
	if (conf_number(num, 1, 1000000, &n) == -1) {
		conf_err(ld, ld->lineno, "rate: '%s' is not a number of "
		    "requests from 1 to 1000000", num);
		return;
	}
	l->rate = n;
	l->rate_per_s = per;
	l->interval_us = (uint64_t)per * 1000000 / (uint64_t)n;
	if (l->interval_us == 0)
		l->interval_us = 1;
}

/* status = the answer over the limit, a 4xx or 5xx. */
static void
key_status(struct loader *ld, void *obj, const char *v)
{
	struct conf_limit	*l = obj;
	int64_t			 n;

	if (conf_number(v, 400, 599, &n) == -1) {
		conf_err(ld, ld->lineno, "status: '%s' is not a status from "
		    "400 to 599", v);
		return;
	}
	l->status = (int)n;
}

static int
limit_taken(struct loader *ld, const char *name, const char **file)
{
	const struct conf_limit	*l;

	if ((l = conf_named_find(ld->conf->limits, ld->conf->nlimits,
	    sizeof(*l), name)) == NULL)
		return 0;
	*file = l->file;
	return l->line;
}

static int
limit_open(struct loader *ld, char *name)
{
	struct conf		*conf = ld->conf;
	struct conf_limit	*nl;

	if (ld->scratch)
		ld->obj = &ld->slim;
	else {
		if ((nl = conf_append(ld, conf->limits, &conf->nlimits,
		    sizeof(*nl), &ld->limmeta)) == NULL)
			return -1;
		conf->limits = nl;
	}
	nl = ld->obj;
	memset(nl, 0, sizeof(*nl));
	nl->name = name;
	nl->file = ld->file;
	nl->line = ld->lineno;
	nl->stat_idx = -1;
	nl->max_delay_ms = LIMIT_MAX_DELAY_MS;
	return 0;
}

static void
limit_discard(struct loader *ld)
{
	conf_limit_clear(&ld->slim);
}

/* A limit has a rate or a concurrency (not both), and a key. */
static void
limit_finish(struct loader *ld)
{
	struct conf		*conf = ld->conf;
	struct conf_limit	*l;
	struct meta		*m;
	size_t			 i;

	for (i = 0; i < conf->nlimits; i++) {
		l = &conf->limits[i];
		m = &ld->limmeta[i];
		if (conf_key_line(ld, SEC_LIMIT, m, "key") == 0)
			conf_err(ld, l->line, "limit '%s' has no key (addr, "
			    "header:NAME, cookie:NAME or route)", l->name);
		if (l->rate == 0 && l->concurrency == 0 &&
		    conf_key_line(ld, SEC_LIMIT, m, "rate") == 0)
			conf_err(ld, l->line, "limit '%s' has neither a rate "
			    "nor a concurrency", l->name);
		if (conf_key_line(ld, SEC_LIMIT, m, "rate") != 0 &&
		    conf_key_line(ld, SEC_LIMIT, m, "concurrency") != 0)
			conf_err(ld, conf_key_line(ld, SEC_LIMIT, m,
			    "concurrency"), "limit '%s': a rate or a "
			    "concurrency, not both", l->name);
		if (l->concurrency > 0 && (conf_key_line(ld, SEC_LIMIT, m,
		    "burst") != 0 || conf_key_line(ld, SEC_LIMIT, m,
		    "nodelay") != 0))
			conf_err(ld, conf_key_line(ld, SEC_LIMIT, m,
			    "concurrency"), "limit '%s': burst and nodelay "
			    "go with a rate, not a concurrency", l->name);
		if (l->concurrency > 0 && conf_key_line(ld, SEC_LIMIT, m,
		    "max_delay") != 0)
			conf_err(ld, conf_key_line(ld, SEC_LIMIT, m,
			    "max_delay"), "limit '%s': max_delay goes with a "
			    "rate, not a concurrency", l->name);
		if (l->status == 0)
			l->status = l->concurrency > 0 ? 503 : 429;
	}
}

/* limit = NAME... on a route: up to CONF_ROUTE_LIMITS names. */
void
conf_route_limit_key(struct loader *ld, void *obj, const char *v)
{
	struct conf_route	*r = obj;
	const char		*p = v, *e;
	char			 name[CONF_MAX_NAME + 1];
	size_t			 i, n;

	for (i = 0; i < r->nlimits; i++) {
		free(r->limit_names[i]);
		r->limit_names[i] = NULL;
	}
	r->nlimits = 0;
	for (;;) {
		p += strspn(p, " \t,");
		if (*p == '\0')
			break;
		n = strcspn(p, " \t,");
		e = p + n;
		if (n > CONF_MAX_NAME) {
			conf_err(ld, ld->lineno, "limit: name '%.*s...' is "
			    "too long", 16, p);
			return;
		}
		memcpy(name, p, n);
		name[n] = '\0';
		if (r->nlimits == CONF_ROUTE_LIMITS) {
			conf_err(ld, ld->lineno, "limit: more than %d names",
			    CONF_ROUTE_LIMITS);
			return;
		}
		if ((r->limit_names[r->nlimits] = conf_strdup(ld, name)) == NULL)
			return;
		r->nlimits++;
		p = e;
	}
	if (r->nlimits == 0)
		conf_err(ld, ld->lineno, "limit: no limit named");
}

/* The route's limit names name [limit] sections. */
void
conf_route_limit_finish(struct loader *ld, struct conf_route *r,
    const struct meta *m)
{
	struct conf	*conf = ld->conf;
	size_t		 i, j;

	for (i = 0; i < r->nlimits; i++) {
		r->limits[i] = NULL;
		for (j = 0; j < conf->nlimits; j++)
			if (strcmp(conf->limits[j].name, r->limit_names[i]) == 0)
				r->limits[i] = &conf->limits[j];
		if (r->limits[i] == NULL)
			conf_err(ld, conf_key_line(ld, SEC_ROUTE, m, "limit"),
			    "route '%s': no limit named '%s'", r->name,
			    r->limit_names[i]);
		for (j = 0; j < i; j++)
			if (r->limits[i] != NULL && r->limits[j] == r->limits[i])
				conf_err(ld, conf_key_line(ld, SEC_ROUTE, m,
				    "limit"), "route '%s': limit '%s' named "
				    "twice", r->name, r->limit_names[i]);
	}
}
