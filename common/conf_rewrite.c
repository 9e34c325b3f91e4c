/*
 * conf_rewrite.c: the keys of a route that change the path before it is
 * forwarded (worker/rewrite.c applies them): path_strip_prefix and
 * path_rewrite, whose PCRE2 regular expression is compiled here, once,
 * at load (and JIT-compiled when the library can).
 */
#include "config.h"

#define PCRE2_CODE_UNIT_WIDTH 8

#include <pcre2.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/conf.h"
#include "common/conf_int.h"

/* path_strip_prefix = /PREFIX: a path without a query. */
void
conf_rewrite_strip(struct loader *ld, void *obj, const char *v)
{
	struct conf_route	*r = obj;
	size_t			 i, n = strlen(v);

	for (i = 0; i < n; i++)
		if ((unsigned char)v[i] <= 0x20 || (unsigned char)v[i] >= 0x7f ||
		    v[i] == '?' || v[i] == '#')
			break;
	if (n < 2 || v[0] != '/' || i < n) {
		conf_err(ld, ld->lineno, "bad path_strip_prefix '%s': expected "
		    "a path such as /api", v);
		return;
	}
	free(r->strip_prefix);
	r->strip_prefix = conf_strdup(ld, v);
	r->strip_len = r->strip_prefix != NULL ? n : 0;
}

/*
 * Check a replacement: $0..$9 name groups the regex has, "$$" is a '$'.
 * Returns NULL, or what is wrong.
 */
static const char *
repl_check(const char *s, uint32_t ncap)
{
	for (; *s != '\0'; s++) {
		if (*s != '$')
			continue;
		if (s[1] == '$') {
			s++;
			continue;
		}
		if (s[1] < '0' || s[1] > '9')
			return "a '$' not followed by a digit (write $$ for '$')";
		if ((uint32_t)(s[1] - '0') > ncap)
			return "it names a group the regex does not have";
		s++;
	}
	return NULL;
}

/* path_rewrite = REGEX REPLACEMENT (one space or more between). */
void
conf_rewrite_regex(struct loader *ld, void *obj, const char *v)
{
	struct conf_route	*r = obj;
	const char		*sp, *repl, *why;
	char			*src, msg[256];
	pcre2_code		*re;
	int			 err;
	PCRE2_SIZE		 off;
	uint32_t		 ncap = 0;

	sp = strpbrk(v, " \t");
	repl = sp;
	while (repl != NULL && (*repl == ' ' || *repl == '\t'))
		repl++;
	if (sp == NULL || sp == v || *repl == '\0' || strpbrk(repl, " \t") != NULL) {
		conf_err(ld, ld->lineno, "bad path_rewrite '%s': expected REGEX "
		    "REPLACEMENT (no space inside either: write \\s or \\x20)", v);
		return;
	}
	if ((src = strndup(v, (size_t)(sp - v))) == NULL) {
		conf_err(ld, ld->lineno, "out of memory");
		return;
	}
	re = pcre2_compile((PCRE2_SPTR)src, PCRE2_ZERO_TERMINATED, 0, &err, &off,
	    NULL);
	if (re == NULL) {
		pcre2_get_error_message(err, (PCRE2_UCHAR *)msg, sizeof(msg));
		conf_err(ld, ld->lineno, "bad path_rewrite regex '%s': %s at "
		    "offset %zu", src, msg, (size_t)off);
		free(src);
		return;
	}
	(void)pcre2_pattern_info(re, PCRE2_INFO_CAPTURECOUNT, &ncap);
	if ((why = repl_check(repl, ncap)) != NULL) {
		conf_err(ld, ld->lineno, "bad path_rewrite replacement '%s': %s",
		    repl, why);
		pcre2_code_free(re);
		free(src);
		return;
	}
	/* JIT when the library has it; the interpreter otherwise. */
	(void)pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);
	conf_rewrite_clear(r);
	r->rw_src = src;
	r->rw_re = re;
	if ((r->rw_repl = conf_strdup(ld, repl)) == NULL)
		conf_rewrite_clear(r);
}

void
conf_rewrite_clear(struct conf_route *r)
{
	pcre2_code_free(r->rw_re);
	free(r->rw_src);
	free(r->rw_repl);
	r->rw_re = NULL;
	r->rw_src = r->rw_repl = NULL;
}
