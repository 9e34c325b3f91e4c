/*
 * conf_errpage.c: error_page = STATUS... FILE ([global] and [route]):
 * the operator's page for portico's own answers of those statuses (and
 * for a backend's, with intercept_errors = on on the route).  Each file
 * is read here, at load and at every reload, and kept in memory; its
 * Content-Type comes from its extension.
 */
#include "config.h"

#include <sys/stat.h>
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/conf.h"
#include "common/conf_int.h"

#define ERRPAGE_MAX	(1 << 20)	/* largest page file */

/* The Content-Type of a page, from its file name's extension. */
static const char *
errpage_type(const char *path)
{
	static const struct {
		const char	*ext, *type;
	} types[] = {
		{ ".html", "text/html; charset=utf-8" },
		{ ".htm", "text/html; charset=utf-8" },
		{ ".txt", "text/plain; charset=utf-8" },
		{ ".json", "application/json" },
		{ ".xml", "application/xml" },
		{ ".svg", "image/svg+xml" },
		{ ".png", "image/png" },
		{ ".gif", "image/gif" },
		{ ".jpg", "image/jpeg" },
		{ ".jpeg", "image/jpeg" },
	};
	const char	*dot = strrchr(path, '.');
	size_t		 i;

	for (i = 0; dot != NULL && i < sizeof(types) / sizeof(types[0]); i++)
		if (strcasecmp(dot, types[i].ext) == 0)
			return types[i].type;
	return "application/octet-stream";
}

/* Read a page file whole: 0, or -1 with *why set. */
static int
errpage_read(const char *path, char **body, size_t *len, const char **why)
{
	struct stat	 st;
	char		*b;
	ssize_t		 n;
	size_t		 off = 0;
	int		 fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		*why = strerror(errno);
		return -1;
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) ||
	    st.st_size > ERRPAGE_MAX) {
		*why = "not a regular file of 1 MiB at most";
		close(fd);
		return -1;
	}
	if ((b = malloc((size_t)st.st_size + 1)) == NULL) {
		*why = "out of memory";
		close(fd);
		return -1;
	}
	while (off < (size_t)st.st_size) {
		n = read(fd, b + off, (size_t)st.st_size - off);
		if (n <= 0) {
			*why = n == 0 ? "file shrank while read" : strerror(errno);
			free(b);
			close(fd);
			return -1;
		}
		off += (size_t)n;
	}
	close(fd);
	*body = b;
	*len = off;
	return 0;
}

/* error_page = STATUS [STATUS ...] /ABSOLUTE/FILE; repeatable. */
static void
errpage_add(struct loader *ld, struct conf_errpage **pages, size_t *np,
    const char *v)
{
	char			*copy, *tok, *save = NULL, *file = NULL;
	int			 st[64], ns = 0, i;
	int64_t			 n;
	char			*body;
	size_t			 len, j;
	const char		*why;
	struct conf_errpage	*p;

	if ((copy = strdup(v)) == NULL) {
		conf_err(ld, ld->lineno, "out of memory");
		return;
	}
	for (tok = strtok_r(copy, " \t", &save); tok != NULL;
	    tok = strtok_r(NULL, " \t", &save)) {
		if (file != NULL) {
			if (conf_number(file, 300, 599, &n) == -1 ||
			    ns == (int)(sizeof(st) / sizeof(st[0]))) {
				conf_err(ld, ld->lineno, "bad error_page status "
				    "'%s': expected 300..599", file);
				free(copy);
				return;
			}
			st[ns++] = (int)n;
		}
		file = tok;
	}
	if (ns == 0 || file == NULL || file[0] != '/') {
		conf_err(ld, ld->lineno, "bad error_page '%s': expected STATUS... "
		    "/ABSOLUTE/FILE", v);
		free(copy);
		return;
	}
	if (errpage_read(file, &body, &len, &why) == -1) {
		conf_err(ld, ld->lineno, "error_page %s: %s", file, why);
		free(copy);
		return;
	}
	p = realloc(*pages, (*np + ns) * sizeof(**pages));
	if (p == NULL) {
		conf_err(ld, ld->lineno, "out of memory");
		free(body);
		free(copy);
		return;
	}
	*pages = p;
	for (i = 0; i < ns; i++) {
		/* A later line for the same status replaces the earlier. */
		for (j = 0; j < *np; j++)
			if (p[j].status == st[i])
				p[j].status = 0;
		p[*np].status = st[i];
		p[*np].type = errpage_type(file);
		p[*np].body = body;
		p[*np].len = len;
		p[*np].owner = i == 0;	/* the first frees the body */
		(*np)++;
	}
	free(copy);
}

void
conf_errpage_global(struct loader *ld, void *obj, const char *v)
{
	struct conf_global	*g = obj;

	errpage_add(ld, &g->error_pages, &g->nerror_pages, v);
}

void
conf_errpage_route(struct loader *ld, void *obj, const char *v)
{
	struct conf_route	*r = obj;

	errpage_add(ld, &r->error_pages, &r->nerror_pages, v);
}

void
conf_errpage_free(struct conf_errpage *p, size_t n)
{
	size_t	 i;

	for (i = 0; i < n; i++)
		if (p[i].owner)
			free(p[i].body);
	free(p);
}

const struct conf_errpage *
conf_errpage_find(const struct conf *cf, const struct conf_route *rt,
    int status)
{
	size_t	 i;

	for (i = 0; rt != NULL && i < rt->nerror_pages; i++)
		if (rt->error_pages[i].status == status)
			return &rt->error_pages[i];
	for (i = 0; i < cf->g.nerror_pages; i++)
		if (cf->g.error_pages[i].status == status)
			return &cf->g.error_pages[i];
	return NULL;
}

/* Whether two lists of pages differ (statuses, files' bytes). */
int
conf_errpage_differ(const struct conf_errpage *a, size_t na,
    const struct conf_errpage *b, size_t nb)
{
	size_t	 i;

	if (na != nb)
		return 1;
	for (i = 0; i < na; i++)
		if (a[i].status != b[i].status || a[i].len != b[i].len ||
		    strcmp(a[i].type, b[i].type) != 0 ||
		    memcmp(a[i].body, b[i].body, a[i].len) != 0)
			return 1;
	return 0;
}
