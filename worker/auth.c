/*
 * auth.c: basic authentication on routes (RFC 7617).  The route's users
 * were read from its htpasswd file at load (common/htpasswd.c); here the
 * request's one Authorization field is decoded and its password checked
 * with libcrypt's crypt_rn against the stored hash.
 *
 * Hashes like bcrypt are slow on purpose, and the worker's event loop
 * waits while one is checked.  So that a client cannot make a worker
 * spend unbounded time hashing:
 *   - every check's outcome, good or bad, is remembered for
 *     AUTH_CACHE_MS in a small per-worker table keyed by a SHA-256 of a
 *     per-worker secret, the stored hash and "user:password" (no
 *     password is kept); a browser sending the same credentials on every
 *     request costs one hash in five minutes;
 *   - an unknown user costs no hash at all;
 *   - the time spent hashing is counted, and past AUTH_CPU_MS_PER_SEC in
 *     a second further uncached checks get 503 until the next second
 *     (remembered credentials still pass).
 * Rate limits per client address ([limit] sections on the route) combine
 * with this: they bound what one client can try.
 */
#include "config.h"

#include <sys/random.h>

#include <crypt.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include "common/conf.h"
#include "common/htpasswd.h"
#include "common/http.h"
#include "worker/auth.h"
#include "worker/event.h"

#define CRED_MAX	1024		/* longest decoded user:password */

struct auth_slot {
	unsigned char	 key[SHA256_DIGEST_LENGTH];
	uint64_t	 until;		/* ev_now; 0: empty */
	int		 ok;
};

static struct auth_slot		 slots[AUTH_CACHE_SLOTS];
static unsigned char		 secret[32];
static int			 have_secret;
static struct crypt_data	 cdata;
static time_t			 budget_sec;	/* the second being counted */
static uint64_t			 budget_us;	/* hashing time in it */

static int	 b64_value(unsigned char);
static ssize_t	 b64_decode(const char *, size_t, char *, size_t);
static int	 cred_parse(const struct http_request *, char *, size_t *);
static struct auth_slot *slot_find(const char *, const char *, size_t,
		    unsigned char *);
static int	 hash_verify(const char *, const char *);

static int
b64_value(unsigned char ch)
{
	if (ch >= 'A' && ch <= 'Z')
		return ch - 'A';
	if (ch >= 'a' && ch <= 'z')
		return ch - 'a' + 26;
	if (ch >= '0' && ch <= '9')
		return ch - '0' + 52;
	if (ch == '+')
		return 62;
	if (ch == '/')
		return 63;
	return -1;
}

/*
 * Decode standard base64 (RFC 4648 4, padded to a multiple of 4) of n
 * bytes at s into out (cap bytes).  Returns the length, or -1 when
 * malformed or too long.
 */
static ssize_t
b64_decode(const char *s, size_t n, char *out, size_t cap)
{
	size_t	 i, o = 0, pad = 0;
	int	 v[4], k;

	if (n == 0 || n % 4 != 0 || n / 4 * 3 > cap)
		return -1;
	if (s[n - 1] == '=')
		pad = s[n - 2] == '=' ? 2 : 1;
	for (i = 0; i < n; i += 4) {
		for (k = 0; k < 4; k++) {
			if (i + k >= n - pad)
				v[k] = 0;
			else if ((v[k] = b64_value((unsigned char)s[i + k])) == -1)
				return -1;
		}
		out[o++] = (char)(v[0] << 2 | v[1] >> 4);
		out[o++] = (char)((v[1] & 15) << 4 | v[2] >> 2);
		out[o++] = (char)((v[2] & 3) << 6 | v[3]);
	}
	return (ssize_t)(o - pad);
}

/*
 * The request's credentials, "user:password" decoded into cred (CRED_MAX
 * bytes, NUL-terminated), *len bytes.  0, or -1 when there is no
 * Authorization, more than one, or it is not well-formed Basic.
 */
static int
cred_parse(const struct http_request *rq, char *cred, size_t *len)
{
	const struct http_header	*h, *found = NULL;
	const char			*v;
	size_t				 i, vl;
	ssize_t				 n;

	for (i = 0; i < rq->nheaders; i++) {
		h = &rq->headers[i];
		if (h->name_len != 13 || !http_name_eq(h, "authorization"))
			continue;
		if (found != NULL)
			return -1;
		found = h;
	}
	if (found == NULL || found->value_len < 6 ||
	    !http_lc_eq(found->value, "basic", 5) ||
	    (found->value[5] != ' ' && found->value[5] != '\t'))
		return -1;
	v = found->value + 6;
	vl = found->value_len - 6;
	while (vl > 0 && (*v == ' ' || *v == '\t')) {
		v++;
		vl--;
	}
	if ((n = b64_decode(v, vl, cred, CRED_MAX - 1)) <= 0 ||
	    memchr(cred, '\0', (size_t)n) != NULL ||
	    memchr(cred, ':', (size_t)n) == NULL)
		return -1;
	cred[n] = '\0';
	*len = (size_t)n;
	return 0;
}

/*
 * The table's slot for (hash, cred), with the key in key: its entry when
 * it holds these credentials (key equal, not expired), else where they
 * would go (its until is 0 or past, or its key differs).
 */
static struct auth_slot *
slot_find(const char *hash, const char *cred, size_t len, unsigned char *key)
{
	unsigned char	 in[sizeof(secret) + HTPASSWD_HASH_MAX + 1 + CRED_MAX];
	size_t		 hl = strlen(hash), n = 0;
	uint32_t	 ix;

	if (!have_secret) {
		if (getrandom(secret, sizeof(secret), 0) != sizeof(secret))
			memset(secret, 0x5a, sizeof(secret)); /* still keyed by hash */
		have_secret = 1;
	}
	memcpy(in, secret, sizeof(secret));
	n += sizeof(secret);
	memcpy(in + n, hash, hl + 1);
	n += hl + 1;
	memcpy(in + n, cred, len);
	n += len;
	SHA256(in, n, key);
	explicit_bzero(in, n);
	memcpy(&ix, key, sizeof(ix));
	return &slots[ix % AUTH_CACHE_SLOTS];
}

/* 1 when password matches hash, 0 when not; timed into the budget. */
static int
hash_verify(const char *password, const char *hash)
{
	struct timespec	 t0, t1;
	const char	*out;
	size_t		 hl = strlen(hash);
	int64_t		 us;
	int		 ok;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	out = crypt_rn(password, hash, &cdata, sizeof(cdata));
	ok = out != NULL && out[0] != '*' && strlen(out) == hl &&
	    CRYPTO_memcmp(out, hash, hl) == 0;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	us = (int64_t)(t1.tv_sec - t0.tv_sec) * 1000000 +
	    (t1.tv_nsec - t0.tv_nsec) / 1000;
	budget_us += us > 0 ? (uint64_t)us : 0;
	explicit_bzero(cdata.input, sizeof(cdata.input));
	return ok;
}

enum auth_result
auth_check(const struct conf_route *rt, const struct http_request *rq,
    char *user, size_t cap)
{
	static char		 cred[CRED_MAX];
	unsigned char		 key[SHA256_DIGEST_LENGTH];
	struct auth_slot	*s;
	const char		*hash, *colon;
	size_t			 len, ul;
	enum auth_result	 res;
	int			 ok;

	user[0] = '\0';
	if (cred_parse(rq, cred, &len) == -1)
		return AUTH_DENIED;
	colon = memchr(cred, ':', len);
	ul = (size_t)(colon - cred);
	if (cap > 0) {
		/* Printable bytes only: it goes into the error log. */
		size_t	 i, o = 0;

		for (i = 0; i < ul && o + 1 < cap; i++)
			user[o++] = cred[i] > 0x20 && cred[i] < 0x7f ? cred[i] : '?';
		user[o] = '\0';
	}
	if ((hash = htpasswd_find(rt->auth_users, cred, ul)) == NULL) {
		res = AUTH_DENIED;
		goto done;
	}
	s = slot_find(hash, cred, len, key);
	if (s->until > ev_now && memcmp(s->key, key, sizeof(key)) == 0) {
		res = s->ok ? AUTH_OK : AUTH_DENIED;
		goto done;
	}
	if (budget_sec != ev_wall) {
		budget_sec = ev_wall;
		budget_us = 0;
	}
	if (budget_us >= (uint64_t)AUTH_CPU_MS_PER_SEC * 1000) {
		res = AUTH_BUSY;
		goto done;
	}
	ok = hash_verify(colon + 1, hash);
	memcpy(s->key, key, sizeof(key));
	s->until = ev_now + AUTH_CACHE_MS;
	s->ok = ok;
	res = ok ? AUTH_OK : AUTH_DENIED;
done:
	explicit_bzero(cred, len);
	return res;
}
