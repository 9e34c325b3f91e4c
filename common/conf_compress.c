/*
 * conf_compress.c: a route's response compression keys (compress,
 * compress_types, compress_min_length, compress_level,
 * compress_brotli_level, compress_algorithms; the simple ones are in
 * conf_route.c's table) and the media type match the worker uses
 * (worker/compress.c).
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/acceptenc.h"
#include "common/conf.h"
#include "common/conf_int.h"

/* As nginx's gzip_types, with what is commonly added to it. */
static const char default_types[] = "text/html text/plain text/css "
    "text/javascript text/xml text/csv text/markdown application/javascript "
    "application/json application/xml application/xhtml+xml "
    "application/rss+xml application/atom+xml application/ld+json "
    "application/manifest+json application/wasm image/svg+xml "
    "image/x-icon font/ttf font/otf application/vnd.ms-fontobject";

#define TCHAR(c) (((c) >= 'a' && (c) <= 'z') || ((c) >= '0' && (c) <= '9') || \
	strchr("!#$%&'*+-.^_`|~", (c)) != NULL)

void
conf_compress_defaults(struct conf_compress *cc)
{
	memset(cc, 0, sizeof(*cc));
	cc->level = 6;
	cc->br_level = 4;
	cc->min_length = 256;
	cc->algos = 1u << CODING_GZIP | 1u << CODING_BR;
}

void
conf_compress_clear(struct conf_compress *cc)
{
	free(cc->types);
	cc->types = NULL;
}

/*
 * One media type or pattern, lowercase: "type/sub", the type with the
 * subtype "*", or "*".
 */
static int
type_ok(const char *t)
{
	const char	*sl, *p;

	if (strcmp(t, "*") == 0)
		return 1;
	if ((sl = strchr(t, '/')) == NULL || sl == t || sl[1] == '\0' ||
	    strchr(sl + 1, '/') != NULL)
		return 0;
	if (strcmp(sl + 1, "*") == 0)
		sl = sl + 1;	/* a subtype "*": the type's tokens alone */
	for (p = t; *p != '\0'; p++)
		if (*p != '/' && !(p == sl && *p == '*') && (*p == '*' || !TCHAR(*p)))
			return 0;
	return 1;
}

/* compress_types = TYPE...: replaces the default list. */
void
conf_compress_types(struct loader *ld, void *obj, const char *v)
{
	static const struct conf_tokens tk = { "compress_types", "entry",
	    "media types such as text/html, text/* or *", "type", type_ok };
	struct conf_route	*r = obj;
	char			*out;

	if ((out = conf_token_list(ld, &tk, v)) == NULL)
		return;
	free(r->compress.types);
	r->compress.types = out;
}

/* compress_algorithms = br gzip: the codings the route may answer with. */
void
conf_compress_algos(struct loader *ld, void *obj, const char *v)
{
	struct conf_route	*r = obj;
	char			*copy, *tok, *save;
	unsigned		 a = 0;

	if ((copy = conf_strdup(ld, v)) == NULL)
		return;
	for (tok = strtok_r(copy, " \t", &save); tok != NULL;
	    tok = strtok_r(NULL, " \t", &save)) {
		if (strcasecmp(tok, "gzip") == 0)
			a |= 1u << CODING_GZIP;
		else if (strcasecmp(tok, "br") == 0)
			a |= 1u << CODING_BR;
		else {
			conf_err(ld, ld->lineno, "bad compress_algorithms entry "
			    "'%s' (gzip, br)", tok);
			free(copy);
			return;
		}
	}
	free(copy);
	if (a == 0) {
		conf_err(ld, ld->lineno, "compress_algorithms needs gzip, br "
		    "or both (compress = off turns compression off)");
		return;
	}
	r->compress.algos = a;
}

int
conf_compress_type_ok(const struct conf_compress *cc, const char *ct,
    size_t len)
{
	const char	*list = cc->types != NULL ? cc->types : default_types;
	const char	*p, *e, *sl;
	size_t		 n, tl;

	for (n = 0; n < len && ct[n] != ';' && ct[n] != ' ' && ct[n] != '\t'; n++)
		;
	if (n == 0)
		return 0;
	if ((sl = memchr(ct, '/', n)) == NULL)
		return 0;
	tl = (size_t)(sl - ct);
	for (p = list; *p != '\0'; p = *e == '\0' ? e : e + 1) {
		if ((e = strchr(p, ' ')) == NULL)
			e = p + strlen(p);
		if (e - p == 1 && *p == '*')
			return 1;
		if ((size_t)(e - p) == tl + 2 && p[tl] == '/' && p[tl + 1] == '*' &&
		    strncasecmp(p, ct, tl) == 0)
			return 1;
		if ((size_t)(e - p) == n && strncasecmp(p, ct, n) == 0)
			return 1;
	}
	return 0;
}
