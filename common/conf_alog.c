/*
 * conf_alog.c: where access log lines go.  access_log = TARGET [FORMAT]
 * in [global], [listener] and [route] sections, repeatable: each line
 * one more destination, a section's own lines replacing those above it
 * (as nginx's access_log does), "off" none.  TARGET is an absolute path
 * or syslog:server=...; FORMAT names a log_format of [global] or a
 * built-in one (portico, combined, common, json).  Every distinct target
 * is kept once in g.alog_targets, so that a process opens it once.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <ctype.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/conf.h"
#include "common/conf_int.h"
#include "common/vars.h"

static int	 target_add(struct loader *, const char *);
static void	 alogset_add(struct loader *, struct conf_alogset *,
		    const char *);
static int	 logfmt_find(const struct conf_global *, const char *);
static int	 logfmt_builtin(struct loader *, const char *);
static void	 alogset_finish(struct loader *, struct conf_alogset *);

static const char *const facilities[] = {
	"kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news",
	"uucp", "cron", "authpriv", "ftp", "ntp", "audit", "alert", "clock",
	"local0", "local1", "local2", "local3", "local4", "local5", "local6",
	"local7", NULL
};

static const char *const builtins[] = {
	"portico", "combined", "common", "json", NULL
};

/*
 * syslog:server=ADDR[:PORT][,facility=F][,tag=T][,format=rfc3164|rfc5424],
 * as nginx writes it, into t: UDP (port 514 by default; facility local7,
 * tag portico, RFC 3164 as nginx sends).  Returns 0, or -1 after
 * conf_err.
 */
int
conf_syslog_parse(struct loader *ld, struct conf_alogtarget *t, const char *v)
{
	char		 copy[512], addr[300], why[160];
	char		*tok, *save, *eq;
	size_t		 i;
	int		 have_server = 0;

	t->syslog_facility = 23;
	snprintf(t->syslog_tag, sizeof(t->syslog_tag), "portico");
	t->syslog_rfc5424 = 0;
	if (strlen(v + 7) >= sizeof(copy)) {
		conf_err(ld, ld->lineno, "access_log: syslog target too long");
		return -1;
	}
	snprintf(copy, sizeof(copy), "%s", v + 7);
	for (tok = strtok_r(copy, ",", &save); tok != NULL;
	    tok = strtok_r(NULL, ",", &save)) {
		if ((eq = strchr(tok, '=')) == NULL)
			goto bad;
		*eq++ = '\0';
		if (strcmp(tok, "server") == 0) {
			/* No port: 514 ("[::1]" or "host" alone). */
			if ((eq[0] == '[' ? strstr(eq, "]:") == NULL :
			    strchr(eq, ':') == NULL))
				snprintf(addr, sizeof(addr), "%s:514", eq);
			else
				snprintf(addr, sizeof(addr), "%s", eq);
			if (conf_addr_parse(addr, 0, &t->syslog_addr, why,
			    sizeof(why)) == -1) {
				conf_err(ld, ld->lineno, "access_log: bad syslog "
				    "server '%s': %s", eq, why);
				return -1;
			}
			have_server = 1;
		} else if (strcmp(tok, "facility") == 0) {
			for (i = 0; facilities[i] != NULL; i++)
				if (strcmp(facilities[i], eq) == 0)
					break;
			if (facilities[i] == NULL) {
				conf_err(ld, ld->lineno, "access_log: unknown "
				    "syslog facility '%s'", eq);
				return -1;
			}
			t->syslog_facility = (int)i;
		} else if (strcmp(tok, "tag") == 0) {
			for (i = 0; eq[i] != '\0'; i++)
				if (!isalnum((unsigned char)eq[i]) && eq[i] != '_')
					break;
			if (eq[i] != '\0' || i == 0 || i > 32) {
				conf_err(ld, ld->lineno, "access_log: bad syslog "
				    "tag '%s' (1 to 32 letters, digits or '_')", eq);
				return -1;
			}
			snprintf(t->syslog_tag, sizeof(t->syslog_tag), "%s", eq);
		} else if (strcmp(tok, "format") == 0 &&
		    (strcmp(eq, "rfc3164") == 0 || strcmp(eq, "rfc5424") == 0))
			t->syslog_rfc5424 = eq[3] == '5';
		else
			goto bad;
	}
	if (!have_server)
		goto bad;
	return 0;
bad:
	conf_err(ld, ld->lineno, "bad access_log '%s': expected syslog:server="
	    "ADDR[:PORT][,facility=F][,tag=T][,format=rfc3164|rfc5424]", v);
	return -1;
}

/*
 * The index in g.alog_targets of the target written v (added when new),
 * or -1 after conf_err.
 */
static int
target_add(struct loader *ld, const char *v)
{
	struct conf_global	*g = &ld->conf->g;
	struct conf_alogtarget	 t, *nt;
	size_t			 i;

	for (i = 0; i < g->nalog_targets; i++)
		if (strcmp(g->alog_targets[i].path, v) == 0)
			return (int)i;
	memset(&t, 0, sizeof(t));
	if (strncmp(v, "syslog:", 7) == 0) {
		if (conf_syslog_parse(ld, &t, v) == -1)
			return -1;
	} else if (v[0] != '/') {
		conf_err(ld, ld->lineno, "access_log '%s' must be an absolute "
		    "path, syslog:server=ADDR or off", v);
		return -1;
	}
	if (g->nalog_targets >= CONF_ALOG_TARGETS) {
		conf_err(ld, ld->lineno, "access_log: too many targets (at "
		    "most %d distinct files and syslog servers)",
		    CONF_ALOG_TARGETS);
		return -1;
	}
	if ((nt = conf_grow(ld, g->alog_targets, g->nalog_targets,
	    sizeof(*nt))) == NULL)
		return -1;
	g->alog_targets = nt;
	if ((t.path = conf_strdup(ld, v)) == NULL)
		return -1;
	t.line = ld->lineno;
	nt[g->nalog_targets] = t;
	return (int)g->nalog_targets++;
}

/* access_log = off | TARGET [FORMAT], one more line of set. */
static void
alogset_add(struct loader *ld, struct conf_alogset *set, const char *v)
{
	struct conf_alogdst	*d;
	char			 tgt[600], name[64], extra[2];
	int			 n, t;

	if (strcmp(v, "off") == 0) {
		if (set->set && !set->off)
			goto mixed;
		set->set = set->off = 1;
		return;
	}
	if (set->off)
		goto mixed;
	name[0] = '\0';
	n = sscanf(v, "%599s %63s %1s", tgt, name, extra);
	if (n < 1 || n > 2 || strlen(tgt) >= sizeof(tgt) - 1 ||
	    strlen(name) >= sizeof(name) - 1) {
		conf_err(ld, ld->lineno, "bad access_log '%s': expected "
		    "off or TARGET [FORMAT_NAME]", v);
		return;
	}
	if (set->n >= CONF_ALOG_MAX) {
		conf_err(ld, ld->lineno, "too many access_log lines in %s "
		    "(at most %d)", ld->label, CONF_ALOG_MAX);
		return;
	}
	if ((t = target_add(ld, tgt)) == -1)
		return;
	d = &set->dst[set->n];
	memset(d, 0, sizeof(*d));
	d->target = t;
	d->fmt = -1;
	d->line = ld->lineno;
	d->text = conf_strdup(ld, v);
	if (name[0] != '\0')
		d->fmt_name = conf_strdup(ld, name);
	set->n++;
	set->set = 1;
	return;
mixed:
	conf_err(ld, ld->lineno, "access_log = off with other access_log "
	    "lines in %s", ld->label);
}

void
conf_key_access_log(struct loader *ld, void *obj, const char *v)
{
	alogset_add(ld, &((struct conf_global *)obj)->alogs, v);
}

void
conf_key_l_access_log(struct loader *ld, void *obj, const char *v)
{
	alogset_add(ld, &((struct conf_listener *)obj)->alogs, v);
}

void
conf_key_r_access_log(struct loader *ld, void *obj, const char *v)
{
	alogset_add(ld, &((struct conf_route *)obj)->alogs, v);
}

static int
logfmt_find(const struct conf_global *g, const char *name)
{
	size_t	 i;

	for (i = 0; i < g->nlogfmts; i++)
		if (strcmp(g->logfmts[i].name, name) == 0)
			return (int)i;
	return -1;
}

/*
 * log_format = NAME [escape=json|default] FORMAT: a named access log
 * format for access_log lines, in [global].  FORMAT is as
 * access_log_format's; escape=json escapes the variables as JSON
 * strings (nginx's escape=json).
 */
void
conf_key_log_format(struct loader *ld, void *obj, const char *v)
{
	struct conf_global	*g = obj;
	struct conf_logfmt	*nf, lf;
	const char		*p = v;
	size_t			 len, i;
	int			 json = -1;

	len = strcspn(p, " \t");
	for (i = 0; i < len; i++)
		if (!isalnum((unsigned char)p[i]) && p[i] != '_' && p[i] != '-')
			break;
	if (i < len || len == 0 || len > 63 || p[len] == '\0') {
		conf_err(ld, ld->lineno, "bad log_format '%s': expected NAME "
		    "[escape=json|default] FORMAT (NAME: letters, digits, "
		    "'_' or '-')", v);
		return;
	}
	memset(&lf, 0, sizeof(lf));
	if ((lf.name = strndup(p, len)) == NULL) {
		ld->oom = 1;
		return;
	}
	for (i = 0; builtins[i] != NULL; i++)
		if (strcmp(builtins[i], lf.name) == 0)
			break;
	if (builtins[i] != NULL || logfmt_find(g, lf.name) != -1) {
		conf_err(ld, ld->lineno, "log_format %s: %s", lf.name,
		    builtins[i] != NULL ? "a built-in format's name" :
		    "defined twice");
		goto fail;
	}
	p += len + strspn(p + len, " \t");
	if (strncmp(p, "escape=", 7) == 0) {
		len = strcspn(p, " \t");
		if (len == 11 && strncmp(p + 7, "json", 4) == 0)
			json = 1;
		else if (len == 14 && strncmp(p + 7, "default", 7) == 0)
			json = 0;
		else {
			conf_err(ld, ld->lineno, "log_format %s: escape must "
			    "be json or default", lf.name);
			goto fail;
		}
		p += len + strspn(p + len, " \t");
	}
	if (*p == '\0') {
		conf_err(ld, ld->lineno, "log_format %s: no format", lf.name);
		goto fail;
	}
	if (conf_alog_format(ld, p, &lf.f.kind, &lf.f.json, &lf.f.fmt) == -1)
		goto fail;
	if (json != -1)
		lf.f.json = json;
	lf.f.set = 1;
	lf.line = ld->lineno;
	if ((nf = conf_grow(ld, g->logfmts, g->nlogfmts, sizeof(*nf))) == NULL)
		goto fail;
	g->logfmts = nf;
	nf[g->nlogfmts++] = lf;
	return;
fail:
	vars_free(&lf.f.fmt);
	free(lf.name);
}

/* A built-in format named name added to g.logfmts: its index, or -1. */
static int
logfmt_builtin(struct loader *ld, const char *name)
{
	struct conf_global	*g = &ld->conf->g;
	struct conf_logfmt	*nf, lf;
	size_t			 i;

	for (i = 0; builtins[i] != NULL; i++)
		if (strcmp(builtins[i], name) == 0)
			break;
	if (builtins[i] == NULL)
		return -1;
	memset(&lf, 0, sizeof(lf));
	if (conf_alog_format(ld, name, &lf.f.kind, &lf.f.json,
	    &lf.f.fmt) == -1)
		return -1;
	lf.f.set = 1;
	if ((lf.name = conf_strdup(ld, name)) == NULL ||
	    (nf = conf_grow(ld, g->logfmts, g->nlogfmts, sizeof(*nf))) == NULL) {
		free(lf.name);
		vars_free(&lf.f.fmt);
		return -1;
	}
	g->logfmts = nf;
	nf[g->nlogfmts] = lf;
	return (int)g->nlogfmts++;
}

/* The format names of set's lines resolved, unknown ones refused. */
static void
alogset_finish(struct loader *ld, struct conf_alogset *set)
{
	struct conf_alogdst	*d;
	size_t			 i;

	for (i = 0; i < set->n; i++) {
		d = &set->dst[i];
		if (d->fmt_name == NULL)
			continue;
		if ((d->fmt = logfmt_find(&ld->conf->g, d->fmt_name)) == -1 &&
		    (d->fmt = logfmt_builtin(ld, d->fmt_name)) == -1)
			conf_err(ld, d->line, "access_log: unknown log_format "
			    "'%s'", d->fmt_name);
	}
}

/* The second pass: every access_log line's format found by name. */
void
conf_alog_finish(struct loader *ld)
{
	struct conf	*c = ld->conf;
	size_t		 i;

	alogset_finish(ld, &c->g.alogs);
	for (i = 0; i < c->nlisteners; i++)
		alogset_finish(ld, &c->listeners[i].alogs);
	for (i = 0; i < c->nroutes; i++)
		alogset_finish(ld, &c->routes[i].alogs);
}

void
conf_alogset_clear(struct conf_alogset *set)
{
	size_t	 i;

	for (i = 0; i < set->n; i++) {
		free(set->dst[i].text);
		free(set->dst[i].fmt_name);
	}
	memset(set, 0, sizeof(*set));
}

/* Free [global]'s access log targets, formats and lines. */
void
conf_alog_global_clear(struct conf_global *g)
{
	size_t	 i;

	conf_alogset_clear(&g->alogs);
	for (i = 0; i < g->nalog_targets; i++)
		free(g->alog_targets[i].path);
	free(g->alog_targets);
	for (i = 0; i < g->nlogfmts; i++) {
		free(g->logfmts[i].name);
		vars_free(&g->logfmts[i].f.fmt);
	}
	free(g->logfmts);
	g->alog_targets = NULL;
	g->logfmts = NULL;
	g->nalog_targets = g->nlogfmts = 0;
}

int
conf_alogset_differ(const struct conf_alogset *a, const struct conf_alogset *b)
{
	size_t	 i;

	if (a->set != b->set || a->off != b->off || a->n != b->n)
		return 1;
	for (i = 0; i < a->n; i++)
		if (a->dst[i].text == NULL || b->dst[i].text == NULL ||
		    strcmp(a->dst[i].text, b->dst[i].text) != 0)
			return 1;
	return 0;
}

int
conf_logfmts_differ(const struct conf_global *a, const struct conf_global *b)
{
	size_t	 i;
	int	 j;

	/* Built-ins are added as used: compare the named ones both ways. */
	for (i = 0; i < a->nlogfmts; i++)
		if ((j = logfmt_find(b, a->logfmts[i].name)) == -1 ||
		    a->logfmts[i].f.json != b->logfmts[j].f.json ||
		    a->logfmts[i].f.kind != b->logfmts[j].f.kind ||
		    !vars_equal(&a->logfmts[i].f.fmt, &b->logfmts[j].f.fmt))
			return 1;
	for (i = 0; i < b->nlogfmts; i++)
		if (logfmt_find(a, b->logfmts[i].name) == -1)
			return 1;
	return 0;
}

void
conf_alogset_text(const struct conf_alogset *set, char *buf, size_t len)
{
	size_t	 i, off = 0;
	int	 k;

	snprintf(buf, len, "off");
	for (i = 0; i < set->n && off < len; i++) {
		k = snprintf(buf + off, len - off, "%s%s", i > 0 ? "; " : "",
		    set->dst[i].text != NULL ? set->dst[i].text : "?");
		if (k < 0)
			break;
		off += (size_t)k;
	}
}
