/*
 * confload.c: loading config text from the Check suites of the config
 * loader (check_conf.c, check_alog.c): a temporary file, its errors
 * searched by file:line.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/conf.h"
#include "t/confload.h"

char		 conf_path[64];

/* Write text to a new temporary file; its name goes to conf_path. */
void
write_conf(const char *text, size_t len)
{
	int	 fd;

	snprintf(conf_path, sizeof(conf_path), "/tmp/check_conf.XXXXXX");
	fd = mkstemp(conf_path);
	ck_assert_int_ne(fd, -1);
	ck_assert_int_eq(write(fd, text, len), (ssize_t)len);
	close(fd);
}

/* Load text; the caller frees both the conf and *errors. */
struct conf *
load_len(const char *text, size_t len, char **errors)
{
	struct conf	*conf;

	write_conf(text, len);
	conf = conf_load(conf_path, errors);
	unlink(conf_path);
	if (conf != NULL)
		ck_assert_ptr_null(*errors);
	else
		ck_assert_ptr_nonnull(*errors);
	return conf;
}

struct conf *
load(const char *text, char **errors)
{
	return load_len(text, strlen(text), errors);
}

struct conf *
load_ok(const char *text)
{
	struct conf	*conf;
	char		*errors = NULL;

	conf = load(text, &errors);
	ck_assert_msg(conf != NULL, "unexpected errors:\n%s", errors);
	return conf;
}

/*
 * Does errors hold a line starting "file:line: " (or "file: " for line 0)
 * that contains word?
 */
int
has_error(const char *errors, int line, const char *word)
{
	char		 prefix[128], msg[1024];
	const char	*p, *nl;
	size_t		 plen, mlen;

	if (line > 0)
		snprintf(prefix, sizeof(prefix), "%s:%d: ", conf_path, line);
	else
		snprintf(prefix, sizeof(prefix), "%s: ", conf_path);
	plen = strlen(prefix);
	for (p = errors; p != NULL && *p != '\0'; p = nl + 1) {
		if ((nl = strchr(p, '\n')) == NULL)
			return 0;
		if (strncmp(p, prefix, plen) != 0)
			continue;
		mlen = (size_t)(nl - p) - plen;
		if (mlen >= sizeof(msg))
			mlen = sizeof(msg) - 1;
		memcpy(msg, p + plen, mlen);
		msg[mlen] = '\0';
		if (strstr(msg, word) != NULL)
			return 1;
	}
	return 0;
}

int
count_lines(const char *s)
{
	int	 n = 0;

	for (; *s != '\0'; s++)
		if (*s == '\n')
			n++;
	return n;
}

/* Expect text to fail with (at least) the given error. */
void
expect_error(const char *text, int line, const char *word)
{
	struct conf	*conf;
	char		*errors = NULL;

	conf = load(text, &errors);
	ck_assert_msg(conf == NULL, "config was accepted:\n%s", text);
	ck_assert_msg(has_error(errors, line, word),
	    "no error at line %d with '%s' in:\n%s", line, word, errors);
	free(errors);
}

/* Expect text to fail with exactly one error. */
void
expect_only_error(const char *text, int line, const char *word)
{
	struct conf	*conf;
	char		*errors = NULL;

	conf = load(text, &errors);
	ck_assert_msg(conf == NULL, "config was accepted:\n%s", text);
	ck_assert_msg(has_error(errors, line, word),
	    "no error at line %d with '%s' in:\n%s", line, word, errors);
	ck_assert_msg(count_lines(errors) == 1, "more than one error:\n%s",
	    errors);
	free(errors);
}
