/*
 * confload.h: config text loaded by the Check suites (t/confload.c).
 */
#ifndef PORTICO_T_CONFLOAD_H
#define PORTICO_T_CONFLOAD_H

#include <stddef.h>

struct conf;

/* The temporary file the last text was written to (for file:line). */
extern char	 conf_path[64];

void		 write_conf(const char *text, size_t len);
/* Load text; the caller frees both the conf and *errors. */
struct conf	*load_len(const char *text, size_t len, char **errors);
struct conf	*load(const char *text, char **errors);
/* Load text that must load without an error. */
struct conf	*load_ok(const char *text);
/* Does errors hold "file:line: ..." (line 0: "file: ...") with word? */
int		 has_error(const char *errors, int line, const char *word);
int		 count_lines(const char *s);
/* Text must fail with (at least) this error / with only this error. */
void		 expect_error(const char *text, int line, const char *word);
void		 expect_only_error(const char *text, int line,
		    const char *word);

#endif
