/*
 * conf_cache.c: the [cache] section: the shared-memory region every
 * caching route stores into (size, object limits, heuristics) and who may
 * remove objects from it (purge_allow, invalidate_unsafe), and whether
 * large hits go by sendfile.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/conf.h"
#include "common/conf_int.h"

static void	 key_purge_allow(struct loader *, void *, const char *);
static void	 key_invalidate_unsafe(struct loader *, void *, const char *);
static int	 cache_taken(struct loader *, const char *, const char **);
static int	 cache_open(struct loader *, char *);
static void	 cache_discard(struct loader *);
static void	 cache_finish(struct loader *);

#define C(f)	offsetof(struct conf_cache, f)

static const struct key cache_keys[] = {
	{ "size", K_SIZE, C(size), 1 << 20, (size_t)1 << 40, 0, NULL, NULL },
	{ "max_object_size", K_SIZE64, C(max_object_size), 1, (int64_t)1 << 36, 0,
	    NULL, NULL },
	{ "lock_timeout", K_DURATION, C(lock_timeout_ms), 0, 0, 0, NULL, NULL },
	{ "heuristic_max", K_DURATION, C(heuristic_max_ms), 0, 0, 0, NULL, NULL },
	{ "heuristic_percent", K_INT, C(heuristic_percent), 0, 100, 0, NULL, NULL },
	{ "purge_allow", K_FUNC, 0, 0, 0, 1, key_purge_allow, NULL },
	{ "invalidate_unsafe", K_FUNC, 0, 0, 0, 0, key_invalidate_unsafe, NULL },
	{ "sendfile", K_ONOFF, C(sendfile), 0, 0, 0, NULL, NULL },
};

_Static_assert(NKEYS(cache_keys) <= MAX_KEYS, "raise MAX_KEYS");

const struct conf_section conf_sec_cache = {
	"cache", SEC_CACHE, 0, cache_keys, NKEYS(cache_keys),
	cache_taken, cache_open, cache_discard, cache_finish
};

void
conf_cache_defaults(struct conf_cache *c)
{
	memset(c, 0, sizeof(*c));
	c->size = (size_t)256 << 20;
	c->max_object_size = 8 << 20;
	c->lock_timeout_ms = 5 * 1000;
	c->heuristic_max_ms = 24 * 3600 * 1000;
	c->heuristic_percent = 10;
	c->sendfile = 1;
}

void
conf_cache_clear(struct conf_cache *c)
{
	free(c->purge_allow);
	memset(c, 0, sizeof(*c));
}

/* [cache] purge_allow = CIDR [CIDR ...]; repeatable. */
static void
key_purge_allow(struct loader *ld, void *obj, const char *v)
{
	struct conf_cache	*c = obj;

	conf_cidr_list_add(ld, "purge_allow", v, &c->purge_allow,
	    &c->npurge_allow);
}

/* [cache] invalidate_unsafe = on | purge_allow | off */
static void
key_invalidate_unsafe(struct loader *ld, void *obj, const char *v)
{
	struct conf_cache	*c = obj;

	if (strcmp(v, "on") == 0)
		c->invalidate_unsafe = CACHE_UNSAFE_ON;
	else if (strcmp(v, "purge_allow") == 0)
		c->invalidate_unsafe = CACHE_UNSAFE_PURGE_ALLOW;
	else if (strcmp(v, "off") == 0)
		c->invalidate_unsafe = CACHE_UNSAFE_OFF;
	else
		conf_err(ld, ld->lineno, "bad invalidate_unsafe '%s': "
		    "expected on, purge_allow or off", v);
}

/* The line of the first [cache], or 0. */
static int
cache_taken(struct loader *ld, const char *name, const char **file)
{
	(void)name;
	*file = ld->file;
	return ld->conf->cache.line;
}

static int
cache_open(struct loader *ld, char *name)
{
	(void)name;
	if (ld->scratch) {
		conf_cache_defaults(&ld->scache);
		ld->obj = &ld->scache;
		return 0;
	}
	ld->conf->cache.line = ld->lineno;
	ld->obj = &ld->conf->cache;
	ld->meta = &ld->cmeta;
	return 0;
}

static void
cache_discard(struct loader *ld)
{
	conf_cache_clear(&ld->scache);
}

static void
cache_finish(struct loader *ld)
{
	struct conf_cache	*c = &ld->conf->cache;

	if (c->npurge_allow == 0 &&
	    conf_key_line(ld, SEC_CACHE, &ld->cmeta, "purge_allow") == 0)
		/* PURGE is for the operator: loopback only by default. */
		conf_cidr_list_add(ld, "purge_allow", "127.0.0.0/8 ::1",
		    &c->purge_allow, &c->npurge_allow);
}
