/*
 * htpasswd.c: basic authentication's user files (htpasswd.h), parsed
 * strictly: a line is "user:hash" (a third ":field" is a comment, as
 * Apache and nginx allow), '#' starts a comment line, blank lines and
 * CRLF endings pass.  Each hash must have the shape of a scheme libcrypt
 * verifies and that is not weak; the loader then asks libcrypt
 * (crypt_checksalt) whether it takes the hash as it is.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <sys/stat.h>

#include <crypt.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/htpasswd.h"

static int	 b64_run(const char *, size_t);
static int	 hash_bcrypt(const char *, size_t);
static int	 hash_shacrypt(const char *, size_t);
static int	 hash_fields(const char *, size_t, int);
static const char *hash_check(const char *, size_t);
static int	 user_cmp(const void *, const void *);
static int	 line_take(struct htpasswd *, char *, size_t, int, const char **);

/* crypt(3)'s base-64 alphabet: ./0-9A-Za-z */
static int
b64_char(char ch)
{
	return ch == '.' || ch == '/' || (ch >= '0' && ch <= '9') ||
	    (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z');
}

/* Whether the n bytes at s are all of the alphabet. */
static int
b64_run(const char *s, size_t n)
{
	size_t	 i;

	for (i = 0; i < n; i++)
		if (!b64_char(s[i]))
			return 0;
	return 1;
}

/* $2a$, $2b$, $2y$: a cost of 04 to 31, then 22 salt and 31 hash chars. */
static int
hash_bcrypt(const char *h, size_t n)
{
	int	 cost;

	if (n != 60 || h[4] < '0' || h[4] > '9' || h[5] < '0' || h[5] > '9' ||
	    h[6] != '$')
		return 0;
	cost = (h[4] - '0') * 10 + (h[5] - '0');
	return cost >= 4 && cost <= 31 && b64_run(h + 7, 53);
}

/* $5$, $6$: [rounds=N$] a salt of 1 to 16, then 43 ($5$) or 86 ($6$). */
static int
hash_shacrypt(const char *h, size_t n)
{
	const char	*p = h + 3, *end = h + n, *d;
	size_t		 want = h[1] == '5' ? 43 : 86;

	if ((size_t)(end - p) > 7 && memcmp(p, "rounds=", 7) == 0) {
		p += 7;
		for (d = p; d < end && *d >= '0' && *d <= '9'; d++)
			;
		if (d == p || d - p > 9 || d == end || *d != '$')
			return 0;
		p = d + 1;
	}
	if ((d = memchr(p, '$', (size_t)(end - p))) == NULL || d == p ||
	    d - p > 16 || !b64_run(p, (size_t)(d - p)))
		return 0;
	p = d + 1;
	return (size_t)(end - p) == want && b64_run(p, want);
}

/*
 * $y$, $gy$, $7$: after the prefix, at least min fields of the alphabet
 * separated by '$', then the hash of 43 characters.
 */
static int
hash_fields(const char *h, size_t n, int min)
{
	const char	*p = strchr(h + 1, '$') + 1, *end = h + n, *d;
	int		 fields = 0;

	while ((d = memchr(p, '$', (size_t)(end - p))) != NULL) {
		if (d == p || !b64_run(p, (size_t)(d - p)))
			return 0;
		fields++;
		p = d + 1;
	}
	return fields >= min && end - p == 43 && b64_run(p, 43);
}

/* NULL when the hash (n bytes, NUL-terminated) is taken, else why not. */
static const char *
hash_check(const char *h, size_t n)
{
	if (strncmp(h, "$apr1$", 6) == 0)
		return "Apache MD5 ($apr1$) is weak and libcrypt cannot check "
		    "it: hash the password again with htpasswd -B (bcrypt)";
	if (strncmp(h, "$1$", 3) == 0)
		return "MD5-crypt ($1$) is weak: hash the password again with "
		    "htpasswd -B (bcrypt)";
	if (strncmp(h, "{SHA}", 5) == 0)
		return "unsalted SHA-1 ({SHA}) is weak: hash the password "
		    "again with htpasswd -B (bcrypt)";
	if (strncmp(h, "$2a$", 4) == 0 || strncmp(h, "$2b$", 4) == 0 ||
	    strncmp(h, "$2y$", 4) == 0)
		return hash_bcrypt(h, n) ? NULL : "malformed bcrypt hash";
	if (strncmp(h, "$5$", 3) == 0 || strncmp(h, "$6$", 3) == 0)
		return hash_shacrypt(h, n) ? NULL : "malformed SHA-crypt hash";
	if (strncmp(h, "$y$", 3) == 0 || strncmp(h, "$gy$", 4) == 0)
		return hash_fields(h, n, 2) ? NULL : "malformed yescrypt hash";
	if (strncmp(h, "$7$", 3) == 0)
		return hash_fields(h, n, 1) ? NULL : "malformed scrypt hash";
	return "not a bcrypt, SHA-crypt or yescrypt hash (plain text and "
	    "DES crypt are refused): hash the password with htpasswd -B";
}

/*
 * One line (its n bytes at s, without the newline, NUL-terminated at
 * s[n]): nothing for a comment or a blank line, else a user into
 * h->users[h->nusers].  0, or -1 with *why.
 */
static int
line_take(struct htpasswd *h, char *s, size_t n, int line, const char **why)
{
	struct htpasswd_user	*u;
	char			*colon, *hash, *end;
	size_t			 i;

	if (n > 0 && s[n - 1] == '\r')
		s[--n] = '\0';
	for (i = 0; i < n && (s[i] == ' ' || s[i] == '\t'); i++)
		;
	if (i == n || s[i] == '#')
		return 0;
	if ((colon = memchr(s, ':', n)) == NULL) {
		*why = "expected user:hash";
		return -1;
	}
	if (colon == s) {
		*why = "empty user name";
		return -1;
	}
	if (colon - s > HTPASSWD_NAME_MAX) {
		*why = "user name longer than 255 bytes";
		return -1;
	}
	for (i = 0; s + i < colon; i++) {
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) {
			*why = "control character in the user name";
			return -1;
		}
	}
	hash = colon + 1;
	if ((end = strchr(hash, ':')) == NULL)
		end = s + n;
	*colon = '\0';
	*end = '\0';
	if (end - hash > HTPASSWD_HASH_MAX) {
		*why = "hash longer than 255 bytes";
		return -1;
	}
	if ((*why = hash_check(hash, (size_t)(end - hash))) != NULL)
		return -1;
	u = &h->users[h->nusers++];
	u->name = s;
	u->name_len = (size_t)(colon - s);
	u->hash = hash;
	u->line = line;
	return 0;
}

static int
user_cmp(const void *a, const void *b)
{
	const struct htpasswd_user	*x = a, *y = b;
	size_t				 n = x->name_len < y->name_len ?
					    x->name_len : y->name_len;
	int				 c;

	if ((c = memcmp(x->name, y->name, n)) != 0)
		return c;
	if (x->name_len != y->name_len)
		return x->name_len < y->name_len ? -1 : 1;
	return x->line - y->line;
}

int
htpasswd_parse(char *text, size_t n, struct htpasswd *h, int *line,
    const char **why)
{
	char	*p, *nl, *end = text + n;
	size_t	 lines = 1, i;

	memset(h, 0, sizeof(*h));
	*line = 0;
	if (memchr(text, '\0', n) != NULL) {
		*why = "a NUL byte in the file";
		return -1;
	}
	for (p = text; (nl = memchr(p, '\n', (size_t)(end - p))) != NULL;
	    p = nl + 1)
		lines++;
	if ((h->users = calloc(lines, sizeof(*h->users))) == NULL) {
		*why = "out of memory";
		return -1;
	}
	for (p = text; p <= end; p = nl + 1) {
		++*line;
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			nl = end;
		*nl = '\0';	/* text has a byte after its n (the caller's) */
		if (line_take(h, p, (size_t)(nl - p), *line, why) == -1)
			return -1;
	}
	if (h->nusers == 0) {
		*line = 0;
		*why = "no user in the file";
		return -1;
	}
	qsort(h->users, h->nusers, sizeof(*h->users), user_cmp);
	for (i = 1; i < h->nusers; i++) {
		if (h->users[i].name_len == h->users[i - 1].name_len &&
		    memcmp(h->users[i].name, h->users[i - 1].name,
		    h->users[i].name_len) == 0) {
			*line = h->users[i].line;
			*why = "the user is named twice";
			return -1;
		}
	}
	return 0;
}

struct htpasswd *
htpasswd_load(const char *path, int *line, char *err, size_t errlen)
{
	struct htpasswd	*h;
	struct stat	 st;
	const char	*why;
	char		*text;
	ssize_t		 k;
	size_t		 n = 0, i;
	int		 fd, rc;

	*line = 0;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		snprintf(err, errlen, "cannot open: %s", strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) ||
	    st.st_size > HTPASSWD_FILE_MAX) {
		snprintf(err, errlen, "not a regular file of at most 16 MiB");
		close(fd);
		return NULL;
	}
	if ((h = calloc(1, sizeof(*h))) == NULL ||
	    (text = malloc((size_t)st.st_size + 1)) == NULL) {
		free(h);
		snprintf(err, errlen, "out of memory");
		close(fd);
		return NULL;
	}
	while (n < (size_t)st.st_size && (k = read(fd, text + n,
	    (size_t)st.st_size - n)) != 0) {
		if (k == -1 && errno == EINTR)
			continue;
		if (k == -1) {
			snprintf(err, errlen, "cannot read: %s",
			    strerror(errno));
			close(fd);
			free(text);
			free(h);
			return NULL;
		}
		n += (size_t)k;
	}
	close(fd);
	text[n] = '\0';
	if (htpasswd_parse(text, n, h, line, &why) == -1) {
		snprintf(err, errlen, "%s", why);
		h->text = text;
		htpasswd_free(h);
		return NULL;
	}
	h->text = text;
	for (i = 0; i < h->nusers; i++) {
		/*
		 * The shape is checked and weak schemes are out: Debian's
		 * libxcrypt calls SHA-crypt "legacy", which is fine here.
		 */
		rc = crypt_checksalt(h->users[i].hash);
		if (rc == CRYPT_SALT_INVALID || rc == CRYPT_SALT_METHOD_DISABLED) {
			*line = h->users[i].line;
			snprintf(err, errlen, "libcrypt does not take this "
			    "hash (%s)", rc == CRYPT_SALT_INVALID ?
			    "malformed" : "method disabled in this libcrypt");
			htpasswd_free(h);
			return NULL;
		}
	}
	return h;
}

const char *
htpasswd_find(const struct htpasswd *h, const char *user, size_t len)
{
	const struct htpasswd_user	*u;
	size_t				 lo = 0, hi, mid, m;
	int				 c;

	if (h == NULL || len == 0 || len > HTPASSWD_NAME_MAX)
		return NULL;
	hi = h->nusers;
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		u = &h->users[mid];
		m = len < u->name_len ? len : u->name_len;
		if ((c = memcmp(user, u->name, m)) == 0 && len != u->name_len)
			c = len < u->name_len ? -1 : 1;
		if (c == 0)
			return u->hash;
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

void
htpasswd_clear(struct htpasswd *h)
{
	free(h->users);
	free(h->text);
	memset(h, 0, sizeof(*h));
}

void
htpasswd_free(struct htpasswd *h)
{
	if (h == NULL)
		return;
	htpasswd_clear(h);
	free(h);
}
