/*
 * proctitle.c: the process title over argv and the environment.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/proctitle.h"

extern char	**environ;

static char	*title_area;	/* argv[0] .. the end of the last string */
static size_t	 title_len;
static char	*args;		/* the command line, for the master's title */

void
proctitle_init(int argc, char **argv)
{
	char	*end, **env;
	size_t	 i, n, len = 0;

	if (argc <= 0 || argv[0] == NULL || title_area != NULL)
		return;
	for (i = 0; i < (size_t)argc; i++)
		len += strlen(argv[i]) + 1;
	if ((args = malloc(len)) == NULL)
		return;
	args[0] = '\0';
	for (i = 0; i < (size_t)argc; i++) {
		if (i > 0)
			strcat(args, " ");
		strcat(args, argv[i]);
	}
	/* The strings laid end to end: argv's, then the environment's. */
	end = argv[0] + strlen(argv[0]) + 1;
	for (i = 1; i < (size_t)argc; i++)
		if (argv[i] == end)
			end += strlen(argv[i]) + 1;
	for (n = 0; environ[n] != NULL; n++)
		;
	if ((env = calloc(n + 1, sizeof(*env))) == NULL)
		return;
	for (i = 0; i < n; i++) {
		if (environ[i] == end)
			end += strlen(environ[i]) + 1;
		if ((env[i] = strdup(environ[i])) == NULL) {
			while (i > 0)
				free(env[--i]);
			free(env);
			return;
		}
	}
	/* Only now that nothing points into the area any more. */
	environ = env;
	title_area = argv[0];
	title_len = (size_t)(end - argv[0]);
}

void
proctitle_set(const char *fmt, ...)
{
	va_list	 ap;
	int	 n;

	if (title_area == NULL || title_len < 2)
		return;
	va_start(ap, fmt);
	n = vsnprintf(title_area, title_len, fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if ((size_t)n >= title_len)
		n = (int)title_len - 1;
	/* No trace of the longer title or the environment behind it. */
	memset(title_area + n, '\0', title_len - (size_t)n);
}

const char *
proctitle_args(void)
{
	return args != NULL ? args : "";
}
