/*
 * htpasswd.h: the user files of basic authentication (auth_basic_file on
 * a route), in Apache's htpasswd format: "user:hash" lines, '#' comments
 * and blank lines.  Only hashes libcrypt verifies and that are not weak
 * are taken: bcrypt ($2y$, $2b$, $2a$), SHA-crypt ($5$, $6$), yescrypt
 * ($y$, $gy$) and scrypt ($7$).  Apache's MD5 ($apr1$), MD5-crypt ($1$),
 * unsalted SHA-1 ({SHA}), DES crypt and plain text are refused with the
 * line that holds them (common/htpasswd.c).
 */
#ifndef PORTICO_HTPASSWD_H
#define PORTICO_HTPASSWD_H

#include <stddef.h>

#define HTPASSWD_FILE_MAX	(16 << 20)	/* largest file read */
#define HTPASSWD_NAME_MAX	255		/* longest user name */
#define HTPASSWD_HASH_MAX	255		/* longest hash */

struct htpasswd_user {
	const char	*name;		/* NUL-terminated, in text */
	const char	*hash;
	size_t		 name_len;
	int		 line;		/* in the file */
};

struct htpasswd {
	char			*text;	/* the file's bytes, names and hashes cut out */
	struct htpasswd_user	*users;	/* sorted by name */
	size_t			 nusers;
};

/*
 * Parse the n bytes at text (with room for one byte more: the parse cuts
 * names and hashes out of it in place, and h points into it; text stays
 * the caller's) into h, h->text NULL.  Returns 0, or -1 with *line the
 * line at fault (0: the file as a whole) and *why a static string saying
 * what is wrong; h->users is to be freed either way (htpasswd_clear).
 */
int	 htpasswd_parse(char *text, size_t n, struct htpasswd *h, int *line,
	    const char **why);
/*
 * Read and parse the file at path, then have libcrypt check each hash.
 * Returns a new htpasswd, or NULL with "line: why" or "why" in err
 * (errlen bytes; *line the line at fault, 0 for the whole file).
 */
struct htpasswd *htpasswd_load(const char *path, int *line, char *err,
	    size_t errlen);
/* The hash of user (len bytes), or NULL when there is no such user. */
const char	*htpasswd_find(const struct htpasswd *h, const char *user,
	    size_t len);
/* Free what h holds (users, and text when set); h itself stays. */
void		 htpasswd_clear(struct htpasswd *h);
/* Free a htpasswd_load() result (NULL is fine). */
void		 htpasswd_free(struct htpasswd *h);

#endif /* PORTICO_HTPASSWD_H */
