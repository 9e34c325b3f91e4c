/*
 * auth.c: basic authentication on routes (RFC 7617).  The route's users
 * were read from its htpasswd file at load (common/htpasswd.c); here the
 * request's one Authorization field is decoded and its password checked
 * with libcrypt's crypt_rn against the stored hash, off the event loop.
 *
 * Hashes like bcrypt are slow on purpose (bcrypt at cost 10 takes some
 * 50 ms), so they are not computed on the event loop: the check goes to
 * the worker's hashing thread (worker/authq.c) and the request waits in
 * CS_AUTH, the worker serving the others, until the thread is done
 * (AUTH_WAIT_MS at most, then 503).  So that a client cannot make a
 * worker spend unbounded time hashing:
 *   - every check's outcome, good or bad, is remembered for
 *     AUTH_CACHE_MS in a small per-worker table keyed by a SHA-256 of a
 *     per-worker secret, the stored hash and "user:password" (no
 *     password is kept), as Apache's authn_socache does; a browser
 *     sending the same credentials on every request costs one hash a
 *     minute; a reload starts new workers, with empty tables, and a
 *     changed hash is another key anyway;
 *   - an unknown user costs no hash at all;
 *   - at most AUTHQ_JOBS checks wait for the thread; beyond them a
 *     request gets 503 with Retry-After (logged).
 * Rate limits per client address ([limit] sections on the route) combine
 * with this: they bound what one client can try.
 */
#include "config.h"

#include <sys/random.h>

#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <openssl/sha.h>

#include "common/conf.h"
#include "common/htpasswd.h"
#include "common/http.h"
#include "common/log.h"
#include "common/shm.h"
#include "worker/auth.h"
#include "worker/authq.h"
#include "worker/event.h"
#include "worker/proxy_int.h"
#include "worker/worker.h"

#define CRED_MAX	1024		/* longest decoded user:password */

struct auth_slot {
	unsigned char	 key[SHA256_DIGEST_LENGTH];
	uint64_t	 until;		/* ev_now; 0: empty */
	int		 ok;
};

static struct auth_slot		 slots[AUTH_CACHE_SLOTS];
static unsigned char		 secret[32];
static int			 have_secret;

static int	 b64_value(unsigned char);
static ssize_t	 b64_decode(const char *, size_t, char *, size_t);
static int	 cred_parse(const struct http_request *, char *, size_t *);
static struct auth_slot *slot_find(const char *, const char *, size_t,
		    unsigned char *);
static void	 slot_store(const unsigned char *, int);

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

/* A check's outcome (1 good, 0 not) remembered for AUTH_CACHE_MS. */
static void
slot_store(const unsigned char *key, int ok)
{
	struct auth_slot	*s;
	uint32_t		 ix;

	memcpy(&ix, key, sizeof(ix));
	s = &slots[ix % AUTH_CACHE_SLOTS];
	memcpy(s->key, key, SHA256_DIGEST_LENGTH);
	s->until = ev_now + AUTH_CACHE_MS;
	s->ok = ok;
}

/*
 * Check rq's Authorization against rt's users: OK or DENIED from the
 * table, BUSY when the queue is full, or PENDING with the check queued
 * for c (*job).  user (cap bytes) gets the user name tried ("" none).
 */
static enum auth_result
auth_check(struct client *c, const struct conf_route *rt,
    const struct http_request *rq, char *user, size_t cap, int *job)
{
	static char		 cred[CRED_MAX];
	unsigned char		 key[SHA256_DIGEST_LENGTH];
	struct auth_slot	*s;
	const char		*hash, *colon;
	size_t			 len, ul;
	enum auth_result	 res;

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
		shm_stat_inc(&worker.stats->auth_cached);
		res = s->ok ? AUTH_OK : AUTH_DENIED;
		goto done;
	}
	*job = authq_submit(c, key, colon + 1, len - ul - 1, hash);
	if (*job == -1) {
		shm_stat_inc(&worker.stats->auth_busy);
		res = AUTH_BUSY;
		goto done;
	}
	shm_stat_inc(&worker.stats->auth_hashed);
	res = AUTH_PENDING;
done:
	explicit_bzero(cred, len);
	return res;
}

/* Refused (401, or 503 busy), logged at most once a second. */
static enum step
auth_refuse(struct client *c, enum auth_result res)
{
	static struct ratelimit	 rl, rl_busy;	/* the busy ones apart */
	struct req		*r = c->r;
	const char		*user = r->auth_user;
	unsigned long		 skipped;

	if (ratelimit_ok(res == AUTH_BUSY ? &rl_busy : &rl, &skipped))
		log_info("client %s: %s on route %s%s%s%s; %lu more since "
		    "the last message", client_ip(c), res == AUTH_BUSY ?
		    "authentication busy (hashing queue full or timed out)" :
		    "authentication failed", r->route->name,
		    user[0] != '\0' ? " (user '" : "", user,
		    user[0] != '\0' ? "')" : "", skipped);
	if (res == AUTH_BUSY) {
		r->retry_after = 1;
		return local_answer(c, 503, BODY_UNREAD(r));
	}
	return local_answer(c, 401, BODY_UNREAD(r));
}

enum step
auth_begin(struct client *c)
{
	struct req	*r = c->r;
	enum auth_result res;
	int		 job = -1;

	res = auth_check(c, r->route, &r->rq, r->auth_user,
	    sizeof(r->auth_user), &job);
	if (res == AUTH_OK) {
		r->auth_done = 1;
		return request_routed(c);
	}
	if (res != AUTH_PENDING)
		return auth_refuse(c, res);
	r->auth_job = job + 1;
	r->auth_until = ev_now + AUTH_WAIT_MS;
	c->state = CS_AUTH;
	c->wait = W_AUTH;
	return STEP_WAIT;
}

enum step
auth_step(struct client *c)
{
	struct req	*r = c->r;
	unsigned char	 key[AUTHQ_KEY_LEN];
	int		 ok;

	/* Gone while it waited (a FIN from a keep-alive client, a reset). */
	if (c->rdhup && r->client_ka) {
		log_info("client %s closed the connection while its password "
		    "was checked", client_ip(c));
		r->status = 499;
		client_close(c);
		return STEP_CLOSED;
	}
	if ((ok = authq_result(r->auth_job - 1, key)) == -1) {
		if (ev_now < r->auth_until) {
			c->wait = W_AUTH;
			return STEP_WAIT;
		}
		authq_cancel(r->auth_job - 1);
		r->auth_job = 0;
		shm_stat_inc(&worker.stats->auth_busy);
		c->state = CS_HEAD;
		return auth_refuse(c, AUTH_BUSY);
	}
	r->auth_job = 0;
	slot_store(key, ok);
	c->state = CS_HEAD;
	if (!ok)
		return auth_refuse(c, AUTH_DENIED);
	r->auth_done = 1;
	return request_routed(c);
}

void
auth_release(struct req *r)
{
	if (r->auth_job != 0) {
		authq_cancel(r->auth_job - 1);
		r->auth_job = 0;
	}
}

