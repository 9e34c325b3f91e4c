/*
 * waf.c: the web application firewall's rules: waf_rules compiled with
 * libmodsecurity into one rules set per configuration (conf->waf), in
 * the master before the workers fork (see waf.h).
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <modsecurity/modsecurity.h>
#include <modsecurity/rules_set.h>

#include "common/conf.h"
#include "common/waf.h"

/*
 * What every rules set starts with: the rules run and see the body.
 * Whether an intervention blocks is the route's waf key (worker/waf.c),
 * so a rule file need not say SecRuleEngine; one that does wins.
 */
static const char waf_defaults[] =
    "SecRuleEngine On\n"
    "SecRequestBodyAccess On\n";

static ModSecurity	*engine;

static void	 waf_engine_free(void);
static char	*waf_error(const struct conf *, const struct conf_file_ref *,
		    const char *);

void *
waf_engine(void)
{
	return engine;
}

/* At exit: the engine goes after the last rules set (conf_free). */
static void
waf_engine_free(void)
{
	if (engine != NULL)
		msc_cleanup(engine);
	engine = NULL;
}

/*
 * The error text for a rule file ModSecurity refused: its message (the
 * first line), with the file and line it names ("File: F. Line: N", or
 * "at line: N" for the file given) in front, after the configuration's
 * file and the line of the waf_rules key.
 */
static char *
waf_error(const struct conf *conf, const struct conf_file_ref *f,
    const char *msg)
{
	const char	*file = f->path, *p, *e;
	char		*out, first[512];
	size_t		 fl = strlen(f->path), cap;
	long		 line = 0;

	if (msg == NULL)
		msg = "cannot load the rules";
	snprintf(first, sizeof(first), "%.*s", (int)strcspn(msg, "\r\n"), msg);
	if ((p = strstr(first, "File: ")) != NULL && p[6] == '/' &&
	    (e = strstr(p + 6, ". Line: ")) != NULL) {
		file = p + 6;
		fl = (size_t)(e - file);
	}
	if ((p = strstr(first, "Line: ")) != NULL ||
	    (p = strstr(first, "line: ")) != NULL)
		line = strtol(p + 6, NULL, 10);
	cap = strlen(conf->files[0]) + fl + strlen(first) + 64;
	if ((out = malloc(cap)) == NULL)
		return NULL;
	if (line > 0)
		snprintf(out, cap, "%s:%d: waf_rules %.*s:%ld: %s\n",
		    conf->files[0], f->line, (int)fl, file, line, first);
	else
		snprintf(out, cap, "%s:%d: waf_rules %.*s: %s\n",
		    conf->files[0], f->line, (int)fl, file, first);
	return out;
}

int
waf_conf_load(struct conf *conf, char **errors)
{
	RulesSet	*rules;
	const char	*err = NULL;
	size_t		 i;

	*errors = NULL;
	if (conf->g.nwaf_rules == 0)
		return 0;
	if (engine == NULL) {
		if ((engine = msc_init()) == NULL)
			goto oom;
		msc_set_connector_info(engine, "portico/" PACKAGE_VERSION);
		atexit(waf_engine_free);
	}
	if ((rules = msc_create_rules_set()) == NULL)
		goto oom;
	if (msc_rules_add(rules, waf_defaults, &err) < 0) {
		*errors = waf_error(conf, &conf->g.waf_rules[0], err);
		free((char *)err);	/* strdup'd by libmodsecurity */
		goto fail;
	}
	for (i = 0; i < conf->g.nwaf_rules; i++) {
		err = NULL;
		if (msc_rules_add_file(rules, conf->g.waf_rules[i].path,
		    &err) < 0) {
			*errors = waf_error(conf, &conf->g.waf_rules[i], err);
			free((char *)err);
			goto fail;
		}
	}
	conf->waf = rules;
	return 0;
fail:
	msc_rules_cleanup(rules);
	if (*errors == NULL)
		goto oom;
	return -1;
oom:
	if ((*errors = strdup("portico: out of memory loading waf_rules\n")) ==
	    NULL)
		return -1;
	return -1;
}

void
waf_conf_free(struct conf *conf)
{
	if (conf->waf != NULL)
		msc_rules_cleanup(conf->waf);
	conf->waf = NULL;
}
