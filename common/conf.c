/*
 * conf.c: the configuration loader's engine.
 *
 * inih splits "key = value" lines, but it is fed by our own reader.  The
 * reader counts lines, so every message can name file:line; reads whole
 * lines, so nothing is ever truncated silently; rejects continuation
 * lines and syntax errors itself, so that every one of them is reported;
 * and tracks the section headers, so that keys always land in the object
 * of the section they were written in.  Lines it rejects reach inih as
 * empty lines, which keeps inih's line count in step with ours.
 *
 * Every error is reported and parsing goes on, so one run shows them all.
 * References between sections are resolved in a second pass once the
 * whole file is read.
 *
 * This file owns the reader, the inih callback, the error text, the
 * section headers and the typed keys (numbers, sizes, durations, on/off,
 * strings); each section kind (conf_global.c, conf_cache.c,
 * conf_listener.c, conf_upstream.c, conf_route.c) brings its keys and
 * its steps as a struct conf_section (conf_int.h), and conf_value.c the
 * value parsers.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ini.h>

#include "common/conf.h"
#include "common/conf_int.h"
#include "common/waf.h"
#include "common/tls.h"

#ifndef PORTICO_DEFAULT_PID_FILE
#define PORTICO_DEFAULT_PID_FILE	"/run/portico.pid"
#endif

static const struct conf_section *section_of(enum sec_kind);
static const struct conf_section *section_named(const char *);
static void	 set_value(struct loader *, const struct key *, const char *);
static void	 set_duration(struct loader *, const struct key *, const char *,
		    int64_t *);
static void	 set_size(struct loader *, const struct key *, const char *,
		    void *);
static void	 section_end(struct loader *);
static void	 section_begin(struct loader *, char *);
static int	 section_name_ok(struct loader *, const char *, const char *);
static void	 section_open(struct loader *, const struct conf_section *,
		    const char *);
static int	 reader_line(struct loader *, size_t *, int *);
static char	*conf_reader(char *, int, void *);
static int	 conf_handler(void *, const char *, const char *,
		    const char *);
static void	 conf_parse(struct loader *, const char *);
static void	 conf_finish(struct loader *);
static char	*oom_message(const char *);

/* Every section kind, in the order the second pass checks them. */
static const struct conf_section *const sections[] = {
	&conf_sec_global,
	&conf_sec_cache,
	&conf_sec_listener,
	&conf_sec_upstream,
	&conf_sec_limit,
	&conf_sec_route,
};

/*
 * Append "file:line: message\n" to the error text; line 0 leaves the line
 * out.  Running out of memory here is remembered and reported at the end.
 */
void
conf_err(struct loader *ld, int line, const char *fmt, ...)
{
	va_list	 ap;
	char	*msg;
	int	 rc;

	ld->nerrors++;
	va_start(ap, fmt);
	rc = vasprintf(&msg, fmt, ap);
	va_end(ap);
	if (rc == -1) {
		ld->oom = 1;
		return;
	}
	if (conf_errtext_add(&ld->errors, &ld->errlen, &ld->errcap, ld->file,
	    line, msg) == -1)
		ld->oom = 1;
	free(msg);
}

_Static_assert(offsetof(struct conf_listener, name) == 0 &&
    offsetof(struct conf_upstream, name) == 0 &&
    offsetof(struct conf_route, name) == 0,
    "conf_named_find: every named section begins with its name");

const void *
conf_named_find(const void *base, size_t n, size_t size, const char *name)
{
	const char	*p = base;
	const char	*s;
	size_t		 i;

	for (i = 0; i < n; i++, p += size) {
		memcpy(&s, p, sizeof(s));
		if (strcmp(s, name) == 0)
			return p;
	}
	return NULL;
}

int
conf_errtext_add(char **text, size_t *len, size_t *cap, const char *file,
    int line, const char *msg)
{
	char	 prefix[64];
	char	*n;
	size_t	 need, ncap;
	int	 plen;

	if (line > 0)
		plen = snprintf(prefix, sizeof(prefix), ":%d: ", line);
	else
		plen = snprintf(prefix, sizeof(prefix), ": ");
	if (plen < 0)
		return -1;
	need = *len + strlen(file) + (size_t)plen + strlen(msg) + 2;
	if (need > *cap) {
		ncap = *cap ? *cap : 256;
		while (ncap < need)
			ncap *= 2;
		if ((n = realloc(*text, ncap)) == NULL)
			return -1;
		*text = n;
		*cap = ncap;
	}
	*len += (size_t)snprintf(*text + *len, *cap - *len, "%s%s%s\n", file,
	    prefix, msg);
	return 0;
}

/* strdup(), remembering a failure as out of memory. */
char *
conf_strdup(struct loader *ld, const char *s)
{
	char	*p;

	if ((p = strdup(s)) == NULL)
		ld->oom = 1;
	return p;
}

/*
 * Make room for one more element in an array of n.  Returns the new array,
 * or NULL (the old one is left alone) when memory runs out.
 */
void *
conf_grow(struct loader *ld, void *p, size_t n, size_t size)
{
	void	*np;

	if ((np = reallocarray(p, n + 1, size)) == NULL)
		ld->oom = 1;
	return np;
}

/*
 * A new named section at the end of the array arr of *n elements of size
 * bytes, and its meta at the end of *meta: grows both, points ld->obj
 * and ld->meta at the new ones (not initialised) and counts it in *n.
 * Returns the new array, or NULL (both arrays usable as they were) when
 * memory runs out.
 */
void *
conf_append(struct loader *ld, void *arr, size_t *n, size_t size,
    struct meta **meta)
{
	struct meta	*nm;
	char		*na;

	/* The meta first: it is stored through meta, so it cannot dangle. */
	if ((nm = conf_grow(ld, *meta, *n, sizeof(*nm))) == NULL)
		return NULL;
	*meta = nm;
	if ((na = conf_grow(ld, arr, *n, size)) == NULL)
		return NULL;
	ld->obj = na + *n * size;
	ld->meta = &nm[*n];
	(*n)++;
	return na;
}

static const struct conf_section *
section_of(enum sec_kind kind)
{
	size_t	 i;

	for (i = 0; i < NKEYS(sections); i++)
		if (sections[i]->kind == kind)
			return sections[i];
	return NULL;
}

static const struct conf_section *
section_named(const char *name)
{
	size_t	 i;

	for (i = 0; i < NKEYS(sections); i++)
		if (strcmp(sections[i]->name, name) == 0)
			return sections[i];
	return NULL;
}

/* The line a key was first set on in a section, or 0. */
int
conf_key_line(struct loader *ld, enum sec_kind kind, const struct meta *m,
    const char *name)
{
	const struct conf_section	*sec;
	size_t				 i;

	(void)ld;
	if ((sec = section_of(kind)) == NULL)
		return 0;
	for (i = 0; i < sec->nkeys; i++)
		if (strcmp(sec->keys[i].name, name) == 0)
			return m->seen[i];
	return 0;
}

/* Convert v by the key's type and store it in the current object. */
static void
set_value(struct loader *ld, const struct key *k, const char *v)
{
	char	*field = (char *)ld->obj + k->off;
	char	*s;
	int64_t	 n;

	switch (k->type) {
	case K_INT:
		if (conf_number(v, k->min, k->max, &n) == -1) {
			conf_err(ld, ld->lineno, "bad %s '%s': expected a "
			    "number %lld..%lld", k->name, v,
			    (long long)k->min, (long long)k->max);
			return;
		}
		*(int *)(void *)field = (int)n;
		break;
	case K_ONOFF:
		(void)conf_onoff(ld, k->name, v, (int *)(void *)field);
		break;
	case K_DURATION:
		set_duration(ld, k, v, (int64_t *)(void *)field);
		break;
	case K_SIZE:
	case K_SIZE64:
		set_size(ld, k, v, field);
		break;
	case K_STRING:
		if ((s = conf_strdup(ld, v)) == NULL)
			return;
		free(*(char **)(void *)field);
		*(char **)(void *)field = s;
		break;
	case K_FUNC:
		k->fn(ld, ld->obj, v);
		break;
	case K_UNSUPPORTED:
		conf_err(ld, ld->lineno, "%s: %s", k->name, k->msg);
		break;
	}
}

/* A K_DURATION key: at least k->min milliseconds. */
static void
set_duration(struct loader *ld, const struct key *k, const char *v,
    int64_t *field)
{
	int64_t	 n;

	if (conf_parse_duration(v, &n) == -1) {
		conf_err(ld, ld->lineno, "bad %s '%s': expected a "
		    "duration such as 500ms, 30s, 5m or 1h", k->name, v);
		return;
	}
	if (n < k->min && k->min > 1) {
		conf_err(ld, ld->lineno, "bad %s '%s': must be at "
		    "least %lldms", k->name, v, (long long)k->min);
		return;
	}
	if (n < k->min) {
		conf_err(ld, ld->lineno, "bad %s '%s': must be more "
		    "than 0", k->name, v);
		return;
	}
	*field = n;
}

/* A K_SIZE (size_t) or K_SIZE64 (int64_t) key: k->min..k->max bytes. */
static void
set_size(struct loader *ld, const struct key *k, const char *v, void *field)
{
	char	 lo[32], hi[32];
	int64_t	 n;

	if (conf_parse_size(v, &n) == -1) {
		conf_err(ld, ld->lineno, "bad %s '%s': expected a "
		    "size such as 512, 16k, 8m or 1g", k->name, v);
		return;
	}
	if (n < k->min || n > k->max) {
		conf_fmt_size(k->min, lo, sizeof(lo));
		conf_fmt_size(k->max, hi, sizeof(hi));
		conf_err(ld, ld->lineno, "bad %s '%s': must be "
		    "%s..%s", k->name, v, lo, hi);
		return;
	}
	if (k->type == K_SIZE)
		*(size_t *)field = (size_t)n;
	else
		*(int64_t *)field = n;
}

/* Throw away the scratch object of a duplicate section. */
static void
section_end(struct loader *ld)
{
	const struct conf_section	*sec;

	if (ld->scratch && (sec = section_of(ld->kind)) != NULL)
		sec->discard(ld);
	ld->scratch = 0;
	ld->kind = SEC_IGNORE;
	ld->obj = NULL;
	ld->meta = NULL;
}

/*
 * Start a section from the text between the brackets: "global", "cache",
 * "listener NAME", "upstream NAME" or "route NAME".
 */
static void
section_begin(struct loader *ld, char *hdr)
{
	const struct conf_section	*sec;
	char				*name, *sp;

	section_end(ld);
	if ((sp = strchr(hdr, ' ')) != NULL) {
		*sp = '\0';
		name = sp + 1;
	} else
		name = NULL;

	if ((sec = section_named(hdr)) == NULL) {
		if (sp != NULL)
			*sp = ' ';
		conf_err(ld, ld->lineno, "unknown section [%s]", hdr);
		return;
	}
	if (!sec->named) {
		if (name != NULL) {
			conf_err(ld, ld->lineno, "[%s] takes no name", hdr);
			return;
		}
		snprintf(ld->label, sizeof(ld->label), "[%s]", hdr);
	} else {
		if (section_name_ok(ld, hdr, name) == -1)
			return;
		snprintf(ld->label, sizeof(ld->label), "[%s %s]", hdr, name);
	}
	section_open(ld, sec, name);
}

/* The NAME of [what NAME]: there, of the right letters, not too long. */
static int
section_name_ok(struct loader *ld, const char *what, const char *name)
{
	if (name == NULL) {
		conf_err(ld, ld->lineno, "[%s] needs a name, as in [%s NAME]",
		    what, what);
		return -1;
	}
	if (!conf_valid_name(name)) {
		conf_err(ld, ld->lineno, "bad %s name '%s': use one name of "
		    "letters, digits, '_', '.' and '-'", what, name);
		return -1;
	}
	if (strlen(name) > CONF_MAX_NAME) {
		conf_err(ld, ld->lineno, "%s name '%.20s...' is longer than %d "
		    "characters", what, name, CONF_MAX_NAME);
		return -1;
	}
	return 0;
}

/*
 * Point the loader at the object a checked header opens: a new one, or
 * after an error for a duplicate, a scratch one whose keys are still
 * checked.  Memory running out leaves the section ignored.
 */
static void
section_open(struct loader *ld, const struct conf_section *sec,
    const char *name)
{
	const char	*file = NULL;
	char		*dup = NULL;
	int		 first;

	first = sec->taken(ld, name, &file);
	if (first != 0 && sec->named)
		conf_err(ld, ld->lineno, "duplicate %s '%s' (first at %s:%d)",
		    sec->name, name, file, first);
	else if (first != 0)
		conf_err(ld, ld->lineno, "duplicate [%s] section (first at "
		    "%s:%d)", sec->name, file, first);
	if (sec->named && (dup = conf_strdup(ld, name)) == NULL)
		return;
	memset(&ld->smeta, 0, sizeof(ld->smeta));
	ld->meta = &ld->smeta;
	ld->scratch = first != 0;
	if (sec->open(ld, dup) == -1) {
		free(dup);
		ld->obj = NULL;
		ld->meta = NULL;
		ld->scratch = 0;
		return;
	}
	memset(ld->meta, 0, sizeof(*ld->meta));
	ld->kind = sec->kind;
}

/*
 * Read one raw line into ld->buf (without its newline; *len bytes kept,
 * *bad set for a NUL byte, 2 added for an overflow).  Returns 1 for a
 * line, 0 at the end of the file, -1 on a read error.
 */
static int
reader_line(struct loader *ld, size_t *len, int *bad)
{
	size_t	 got = 0;
	int	 c;

	*len = 0;
	*bad = 0;
	while ((c = getc(ld->fp)) != EOF) {
		got++;
		if (c == '\n')
			break;
		if (c == '\0')
			*bad |= 1;
		if (*len < sizeof(ld->buf) - 1)
			ld->buf[(*len)++] = (char)c;
		else
			*bad |= 2;
	}
	if (c == EOF && ferror(ld->fp)) {
		ld->read_errno = errno ? errno : EIO;
		return -1;
	}
	if (got == 0)
		return 0;
	ld->lineno++;
	ld->buf[*len] = '\0';
	return 1;
}

/*
 * The ini_reader: hand inih one line at a time, after checking it.  See
 * the comment at the top of the file.
 */
static char *
conf_reader(char *str, int num, void *stream)
{
	struct loader	*ld = stream;
	char		*line = ld->buf, *p, *end, *q;
	size_t		 len;
	int		 bad, overflow, cut = 0;

	if (num < 1 || reader_line(ld, &len, &bad) != 1)
		return NULL;
	overflow = (bad & 2) != 0;
	str[0] = '\0';

	if (bad & 1) {
		conf_err(ld, ld->lineno, "line contains a NUL byte");
		return str;
	}
	if (len > 0 && line[len - 1] == '\r' && !overflow)
		line[--len] = '\0';
	if (ld->lineno == 1 && strncmp(line, "\xef\xbb\xbf", 3) == 0)
		line += 3;

	for (p = line; isspace((unsigned char)*p); p++)
		;
	/* Blank lines and comments. */
	if (*p == '\0' || *p == ';' || *p == '#')
		return str;
	if (p != line) {
		conf_err(ld, ld->lineno, "continuation lines are not "
		    "supported (remove the leading blanks)");
		return str;
	}

	/* Drop an inline comment: ';' after a blank, as inih does. */
	for (q = p + 1; *q != '\0'; q++) {
		if (*q == ';' && isspace((unsigned char)q[-1])) {
			*q = '\0';
			cut = 1;
			break;
		}
	}
	end = p + strlen(p);
	while (end > p && isspace((unsigned char)end[-1]))
		*--end = '\0';
	if ((overflow && !cut) || end - p > num - 1) {
		conf_err(ld, ld->lineno, "line too long (at most %d "
		    "characters before any comment)", num - 1);
		return str;
	}

	if (*p == '[') {
		if ((q = strchr(p, ']')) == NULL) {
			conf_err(ld, ld->lineno, "syntax error: missing ']'");
			return str;
		}
		if (q[1] != '\0') {
			conf_err(ld, ld->lineno, "syntax error: text after "
			    "']'");
			return str;
		}
		memcpy(str, p, (size_t)(end - p) + 1);
		*q = '\0';
		section_begin(ld, p + 1);
		return str;
	}
	if (strpbrk(p, "=:") == NULL) {
		conf_err(ld, ld->lineno, "syntax error: expected "
		    "'key = value' or '[section]'");
		return str;
	}
	memcpy(str, p, (size_t)(end - p) + 1);
	return str;
}

static int
conf_handler(void *user, const char *section, const char *name,
    const char *value)
{
	struct loader			*ld = user;
	const struct conf_section	*sec;
	const struct key		*keys;
	size_t				 i, n;

	(void)section;		/* The reader keeps the real one. */
	if (name == NULL || value == NULL)
		return 1;
	if (ld->kind == SEC_NONE) {
		conf_err(ld, ld->lineno, "key '%s' outside of any section "
		    "(add [global] or another section above it)", name);
		return 1;
	}
	if (ld->kind == SEC_IGNORE || ld->obj == NULL ||
	    (sec = section_of(ld->kind)) == NULL)
		return 1;
	if (*name == '\0') {
		conf_err(ld, ld->lineno, "missing key name before '='");
		return 1;
	}
	keys = sec->keys;
	n = sec->nkeys;
	for (i = 0; i < n; i++)
		if (strcmp(keys[i].name, name) == 0)
			break;
	if (i == n) {
		conf_err(ld, ld->lineno, "unknown key '%s' in %s", name,
		    ld->label);
		return 1;
	}
	if (keys[i].type != K_UNSUPPORTED) {
		if (ld->meta->seen[i] != 0 && !keys[i].repeat) {
			conf_err(ld, ld->lineno, "duplicate key '%s' in %s "
			    "(first at %s:%d)", name, ld->label, ld->file,
			    ld->meta->seen[i]);
			return 1;
		}
		if (ld->meta->seen[i] == 0)
			ld->meta->seen[i] = ld->lineno;
		if (*value == '\0') {
			conf_err(ld, ld->lineno, "empty value for '%s'", name);
			return 1;
		}
	}
	set_value(ld, &keys[i], value);
	return 1;
}

/*
 * The second pass: required keys, references, and checks that need the
 * whole file, section kind by section kind.
 */
static void
conf_finish(struct loader *ld)
{
	size_t	 i;

	section_end(ld);
	for (i = 0; i < NKEYS(sections); i++)
		sections[i]->finish(ld);
	conf_alog_finish(ld);
	if (ld->conf->nlisteners == 0)
		conf_err(ld, 0, "no [listener] section");
	if (ld->conf->nroutes == 0)
		conf_err(ld, 0, "no [route] section");
}

/* The error text when memory ran out: may itself be NULL. */
static char *
oom_message(const char *path)
{
	size_t	 len = strlen(path) + sizeof(": out of memory\n");
	char	*s;

	if ((s = malloc(len)) != NULL)
		snprintf(s, len, "%s: out of memory\n", path);
	return s;
}

/* Read the file through inih, then run the second pass. */
static void
conf_parse(struct loader *ld, const char *path)
{
	int	 rc;

	if ((ld->fp = fopen(path, "re")) == NULL) {
		conf_err(ld, 0, "cannot open: %s", strerror(errno));
		return;
	}
	rc = ini_parse_stream(conf_reader, ld, conf_handler, ld);
	if (ld->read_errno != 0)
		conf_err(ld, 0, "read error: %s", strerror(ld->read_errno));
	else if (rc > 0 && ld->nerrors == 0)
		conf_err(ld, rc, "syntax error");
	else if (rc < 0)
		conf_err(ld, 0, "cannot parse (error %d)", rc);
	fclose(ld->fp);
	if (ld->read_errno == 0)
		conf_finish(ld);
}

struct conf *
conf_load(const char *path, char **errors)
{
	struct loader	*ld;
	struct conf	*conf;
	char		*ret_err = NULL;
	int		 failed;

	if (errors != NULL)
		*errors = NULL;
	if (path == NULL)
		return NULL;
	if ((ld = calloc(1, sizeof(*ld))) == NULL ||
	    (conf = calloc(1, sizeof(*conf))) == NULL) {
		free(ld);
		goto oom;
	}
	ld->conf = conf;
	conf_global_defaults(&conf->g);
	conf_cache_defaults(&conf->cache);
	if ((conf->path = strdup(path)) == NULL ||
	    (conf->files = calloc(1, sizeof(*conf->files))) == NULL ||
	    (conf->files[0] = strdup(path)) == NULL ||
	    (conf->g.pid_file = strdup(PORTICO_DEFAULT_PID_FILE)) == NULL ||
	    (conf->g.error_log = strdup("stderr")) == NULL) {
		if (conf->files != NULL && conf->files[0] != NULL)
			conf->nfiles = 1;
		conf_free(conf);
		free(ld);
		goto oom;
	}
	conf->nfiles = 1;
	ld->file = conf->files[0];
	ld->kind = SEC_NONE;

	conf_parse(ld, path);

	/* Drop whatever a duplicate section left behind. */
	section_end(ld);
	failed = ld->nerrors > 0 || ld->oom;
	if (ld->oom) {
		free(ld->errors);
		ld->errors = NULL;
		ret_err = oom_message(path);
	} else
		ret_err = ld->errors;
	free(ld->taken);
	free(ld->lmeta);
	free(ld->umeta);
	free(ld->rmeta);
	free(ld->limmeta);
	free(ld);
	if (failed) {
		conf_free(conf);
		if (errors != NULL)
			*errors = ret_err;
		else
			free(ret_err);
		return NULL;
	}
	free(ret_err);
	return conf;
oom:
	if (errors != NULL)
		*errors = oom_message(path);
	return NULL;
}

void
conf_free(struct conf *conf)
{
	size_t	 i;

	if (conf == NULL)
		return;
	tls_conf_free(conf);
	waf_conf_free(conf);
	for (i = 0; i < conf->nlisteners; i++)
		conf_listener_clear(&conf->listeners[i]);
	free(conf->listeners);
	for (i = 0; i < conf->nupstreams; i++)
		conf_upstream_clear(&conf->upstreams[i]);
	free(conf->upstreams);
	for (i = 0; i < conf->nroutes; i++)
		conf_route_clear(&conf->routes[i]);
	free(conf->routes);
	for (i = 0; i < conf->nlimits; i++)
		conf_limit_clear(&conf->limits[i]);
	free(conf->limits);
	conf_global_clear(&conf->g);
	conf_cache_clear(&conf->cache);
	for (i = 0; i < conf->nfiles; i++)
		free(conf->files[i]);
	free(conf->files);
	free(conf->path);
	free(conf);
}
