/*
 * conf.c: the configuration loader.
 *
 * inih splits "key = value" lines, but it is fed by our own reader.  The
 * reader counts lines, so every message can name file:line; reads whole
 * lines, so nothing is ever truncated silently; rejects continuation
 * lines and syntax errors itself, so that every one of them is reported;
 * and tracks the section headers, so that keys always land in the object
 * of the section they were written in.  Lines it rejects reach inih as
 * empty lines, which keeps inih's line count in step with ours.
 *
 * Every error is reported and parsing goes on, so one run shows them all.
 * References between sections are resolved in a second pass once the
 * whole file is read.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <ctype.h>
#include <fcntl.h>
#include <grp.h>
#include <libgen.h>
#include <pwd.h>
#include <errno.h>
#include <netdb.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ini.h>

#include "common/conf.h"
#include "common/net.h"
#include "common/tls.h"

#ifndef PORTICO_USER
#define PORTICO_USER	"nobody"
#endif
#ifndef PORTICO_DEFAULT_PID_FILE
#define PORTICO_DEFAULT_PID_FILE	"/run/portico.pid"
#endif

#define RAW_LINE_MAX	4096		/* longest line read, comments included */
#define MAX_KEYS	32		/* keys per section kind, at most */
#define DURATION_MAX_MS	INT32_MAX	/* about 24.8 days; fits an int */
#define WORKERS_MAX	512
#define WHY_MAX		512		/* room for a reason, host name included */

enum sec_kind {
	SEC_NONE = 0,		/* before the first section header */
	SEC_IGNORE,		/* in a section that was rejected */
	SEC_GLOBAL,
	SEC_LISTENER,
	SEC_UPSTREAM,
	SEC_ROUTE,
	SEC_CACHE
};

/* For each key of a section, the line it was first set on (0: unset). */
struct meta {
	int			 seen[MAX_KEYS];
};

/* A listen address already taken, to catch the same address twice. */
struct taken_addr {
	struct conf_addr	 addr;
	int			 line;
};

struct loader {
	struct conf		*conf;
	const char		*file;		/* conf->files[0] */
	FILE			*fp;
	int			 lineno;
	char			 buf[RAW_LINE_MAX];
	int			 read_errno;

	char			*errors;
	size_t			 errlen;
	size_t			 errcap;
	int			 nerrors;
	int			 oom;

	/*
	 * The section being read.  obj points into one of the conf arrays
	 * (which only grow when a new section starts, so the pointer stays
	 * good for the whole section) or, for a duplicate section, to a
	 * scratch object that is checked and then thrown away.
	 */
	enum sec_kind		 kind;
	void			*obj;
	struct meta		*meta;
	int			 scratch;
	char			 label[RAW_LINE_MAX + 8];

	struct meta		 gmeta;
	int			 global_line;
	struct meta		 cmeta;		/* [cache] */
	struct conf_cache	 scache;	/* a duplicate [cache] */
	struct meta		*lmeta;
	struct meta		*umeta;
	struct meta		*rmeta;

	struct conf_global	 sg;
	struct conf_listener	 sl;
	struct conf_upstream	 su;
	struct conf_route	 sr;
	struct meta		 smeta;

	struct taken_addr	*taken;
	size_t			 ntaken;
};

enum key_type {
	K_INT,			/* int in min..max */
	K_DURATION,		/* int64_t milliseconds, at least min */
	K_SIZE,			/* size_t bytes in min..max */
	K_SIZE64,		/* int64_t bytes in min..max */
	K_STRING,		/* malloc'd char * */
	K_FUNC,			/* fn parses and stores */
	K_ONOFF,		/* int: on 1, off 0 */
	K_UNSUPPORTED		/* reserved for later: msg says so */
};

struct key {
	const char		*name;
	enum key_type		 type;
	size_t			 off;
	int64_t			 min;
	int64_t			 max;
	int			 repeat;
	void			(*fn)(struct loader *, void *, const char *);
	const char		*msg;
};

static void	 conf_err(struct loader *, int, const char *, ...)
		    __attribute__((format(printf, 3, 4)));
static char	*xstrdup(struct loader *, const char *);
static void	*grow(struct loader *, void *, size_t, size_t);
static int	 valid_name(const char *);
static int	 parse_number(const char *, int64_t, int64_t, int64_t *);
static void	 fmt_size(int64_t, char *, size_t);
static int	 parse_port(const char *, in_port_t *);
static int	 addr_parse(const char *, int, struct conf_addr *, char *,
		    size_t);
static int	 addr_finish(struct conf_addr *, in_port_t, char *, size_t);
static void	 global_defaults(struct conf_global *);
static void	 listener_defaults(struct conf_listener *);
static void	 upstream_defaults(struct conf_upstream *);
static int	 route_defaults(struct loader *, struct conf_route *);
static void	 global_clear(struct conf_global *);
static void	 listener_clear(struct conf_listener *);
static void	 upstream_clear(struct conf_upstream *);
static void	 route_clear(struct conf_route *);
static void	 key_workers(struct loader *, void *, const char *);
static void	 key_log_level(struct loader *, void *, const char *);
static void	 key_access_log(struct loader *, void *, const char *);
static void	 key_listen(struct loader *, void *, const char *);
static void	 key_server(struct loader *, void *, const char *);
static void	 key_balance(struct loader *, void *, const char *);
static void	 key_hash_key(struct loader *, void *, const char *);
static void	 key_health_check(struct loader *, void *, const char *);
static void	 key_retry_on(struct loader *, void *, const char *);
static void	 key_fail_on_5xx(struct loader *, void *, const char *);
static void	 key_health_status(struct loader *, void *, const char *);
static void	 key_host(struct loader *, void *, const char *);
static void	 key_path(struct loader *, void *, const char *);
static void	 key_cache(struct loader *, void *, const char *);
static void	 key_handler(struct loader *, void *, const char *);
static void	 key_allow(struct loader *, void *, const char *);
static void	 key_purge_allow(struct loader *, void *, const char *);
static void	 key_invalidate_unsafe(struct loader *, void *, const char *);
static int	 parse_onoff(struct loader *, const char *, const char *, int *);
static void	 key_cache_set_cookie(struct loader *, void *, const char *);
static void	 key_cache_request_no_cache(struct loader *, void *, const char *);
static void	 cache_defaults(struct conf_cache *);
static void	 cache_clear(struct conf_cache *);
static int	 server_host(const char *, char **);
static void	 key_tls_certificate(struct loader *, void *, const char *);
static void	 key_tls_key(struct loader *, void *, const char *);
static void	 key_tls_protocols(struct loader *, void *, const char *);
static void	 key_tls_client_ca(struct loader *, void *, const char *);
static void	 key_tls_verify_client(struct loader *, void *, const char *);
static void	 key_redirect(struct loader *, void *, const char *);
static void	 key_upstream_tls(struct loader *, void *, const char *);
static void	 key_tls_verify(struct loader *, void *, const char *);
static void	 key_hsts(struct loader *, void *, const char *);
static void	 key_g_request_buffering(struct loader *, void *, const char *);
static void	 key_request_buffering(struct loader *, void *, const char *);
static void	 key_pass_request_trailers(struct loader *, void *, const char *);
static const struct key *section_keys(enum sec_kind, size_t *);
static int	 key_line(struct loader *, enum sec_kind, const struct meta *,
		    const char *);
static void	 set_value(struct loader *, const struct key *, const char *);
static void	 section_end(struct loader *);
static void	 section_begin(struct loader *, char *);
static char	*conf_reader(char *, int, void *);
static int	 conf_handler(void *, const char *, const char *,
		    const char *);
static void	 conf_finish(struct loader *);
static char	*oom_message(const char *);

static const char *const level_names[] = {
	"debug", "info", "notice", "warn", "error"
};

#define G(f)	offsetof(struct conf_global, f)
#define L(f)	offsetof(struct conf_listener, f)
#define U(f)	offsetof(struct conf_upstream, f)
#define R(f)	offsetof(struct conf_route, f)
#define C(f)	offsetof(struct conf_cache, f)

static const struct key global_keys[] = {
	{ "workers", K_FUNC, 0, 0, 0, 0, key_workers, NULL },
	{ "user", K_STRING, G(user), 0, 0, 0, NULL, NULL },
	{ "group", K_STRING, G(group), 0, 0, 0, NULL, NULL },
	{ "pid_file", K_STRING, G(pid_file), 0, 0, 0, NULL, NULL },
	{ "error_log", K_STRING, G(error_log), 0, 0, 0, NULL, NULL },
	{ "log_level", K_FUNC, 0, 0, 0, 0, key_log_level, NULL },
	{ "access_log", K_FUNC, 0, 0, 0, 0, key_access_log, NULL },
	{ "worker_connections", K_INT, G(worker_connections), 1, 1000000, 0,
	    NULL, NULL },
	{ "shutdown_timeout", K_DURATION, G(shutdown_timeout_ms), 1, 0, 0,
	    NULL, NULL },
	{ "client_header_timeout", K_DURATION, G(client_header_timeout_ms),
	    1, 0, 0, NULL, NULL },
	{ "client_body_timeout", K_DURATION, G(client_body_timeout_ms),
	    1, 0, 0, NULL, NULL },
	{ "keepalive_timeout", K_DURATION, G(keepalive_timeout_ms), 0, 0, 0,
	    NULL, NULL },
	{ "send_timeout", K_DURATION, G(send_timeout_ms), 1, 0, 0,
	    NULL, NULL },
	{ "max_request_line", K_SIZE, G(max_request_line), 256, 1 << 20, 0,
	    NULL, NULL },
	{ "max_header_size", K_SIZE, G(max_header_size), 1 << 10, 1 << 20, 0,
	    NULL, NULL },
	{ "max_headers", K_INT, G(max_headers), 1, 1000, 0, NULL, NULL },
	{ "max_body_size", K_SIZE64, G(max_body_size), 0, INT64_MAX, 0,
	    NULL, NULL },
	{ "buffer_size", K_SIZE, G(buffer_size), 4 << 10, 16 << 20, 0,
	    NULL, NULL },
	/* Request-target normalization and forwarded fields. */
	{ "merge_slashes", K_ONOFF, G(merge_slashes), 0, 0, 0, NULL, NULL },
	{ "allow_encoded_slash", K_ONOFF, G(allow_encoded_slash), 0, 0, 0,
	    NULL, NULL },
	{ "allow_encoded_nul", K_ONOFF, G(allow_encoded_nul), 0, 0, 0,
	    NULL, NULL },
	{ "allow_backslash", K_ONOFF, G(allow_backslash), 0, 0, 0, NULL, NULL },
	{ "allow_dotdot_above_root", K_ONOFF, G(allow_dotdot_above_root),
	    0, 0, 0, NULL, NULL },
	{ "normalize_path", K_ONOFF, G(normalize_path), 0, 0, 0, NULL, NULL },
	{ "pass_client_identity_headers", K_ONOFF,
	    G(pass_client_identity_headers), 0, 0, 0, NULL, NULL },
	{ "request_buffering", K_FUNC, 0, 0, 0, 0, key_g_request_buffering, NULL },
	{ "client_body_buffer_size", K_SIZE, G(client_body_buffer_size), 1 << 10,
	    1 << 30, 0, NULL, NULL },
	{ "client_body_temp_path", K_STRING, G(client_body_temp_path), 0, 0, 0,
	    NULL, NULL },
	{ "client_body_min_rate", K_SIZE64, G(client_body_min_rate), 0, INT64_MAX,
	    0, NULL, NULL },
	{ "pass_request_trailers", K_FUNC, 0, 0, 0, 0, key_pass_request_trailers,
	    NULL },
	/* TLS */
	{ "tls_ticket_rotation", K_DURATION, G(tls_ticket_rotation_ms),
	    60 * 1000, 0, 0, NULL, NULL },
};

static const struct key listener_keys[] = {
	{ "listen", K_FUNC, 0, 0, 0, 1, key_listen, NULL },
	{ "backlog", K_INT, L(backlog), 1, 65535, 0, NULL, NULL },
	/* TLS */
	{ "tls_certificate", K_FUNC, 0, 0, 0, 1, key_tls_certificate, NULL },
	{ "tls_key", K_FUNC, 0, 0, 0, 1, key_tls_key, NULL },
	{ "tls_protocols", K_FUNC, 0, 0, 0, 0, key_tls_protocols, NULL },
	{ "tls_ciphers", K_STRING, L(tls_ciphers), 0, 0, 0, NULL, NULL },
	{ "tls_ciphersuites", K_STRING, L(tls_ciphersuites), 0, 0, 0, NULL,
	    NULL },
	{ "tls_client_ca", K_FUNC, 0, 0, 0, 0, key_tls_client_ca, NULL },
	{ "tls_verify_client", K_FUNC, 0, 0, 0, 0, key_tls_verify_client,
	    NULL },
	{ "tls_handshake_timeout", K_DURATION, L(tls_handshake_timeout_ms),
	    1, 0, 0, NULL, NULL },
	{ "redirect", K_FUNC, 0, 0, 0, 0, key_redirect, NULL },
};

static const struct key upstream_keys[] = {
	{ "server", K_FUNC, 0, 0, 0, 1, key_server, NULL },
	{ "balance", K_FUNC, 0, 0, 0, 0, key_balance, NULL },
	{ "hash_key", K_FUNC, 0, 0, 0, 0, key_hash_key, NULL },
	{ "slow_start", K_DURATION, U(slow_start_ms), 0, 0, 0, NULL, NULL },
	{ "keepalive", K_INT, U(keepalive), 0, 10000, 0, NULL, NULL },
	{ "keepalive_timeout", K_DURATION, U(keepalive_timeout_ms), 0, 0, 0,
	    NULL, NULL },
	{ "connect_timeout", K_DURATION, U(connect_timeout_ms), 1, 0, 0,
	    NULL, NULL },
	{ "read_timeout", K_DURATION, U(read_timeout_ms), 1, 0, 0,
	    NULL, NULL },
	{ "send_timeout", K_DURATION, U(send_timeout_ms), 1, 0, 0,
	    NULL, NULL },
	{ "health_check", K_FUNC, 0, 0, 0, 0, key_health_check, NULL },
	{ "health_interval", K_DURATION, U(health_interval_ms), 100, 0, 0,
	    NULL, NULL },
	{ "health_timeout", K_DURATION, U(health_timeout_ms), 10, 0, 0,
	    NULL, NULL },
	{ "health_rise", K_INT, U(health_rise), 1, 100, 0, NULL, NULL },
	{ "health_fall", K_INT, U(health_fall), 1, 100, 0, NULL, NULL },
	{ "health_status", K_FUNC, 0, 0, 0, 0, key_health_status, NULL },
	{ "health_body", K_STRING, U(health_body), 0, 0, 0, NULL, NULL },
	{ "health_host", K_STRING, U(health_host), 0, 0, 0, NULL, NULL },
	{ "retries", K_INT, U(retries), 0, 100, 0, NULL, NULL },
	{ "queue", K_INT, U(queue), 0, 100000, 0, NULL, NULL },
	{ "queue_timeout", K_DURATION, U(queue_timeout_ms), 1, 0, 0, NULL, NULL },
	{ "retry_on", K_FUNC, 0, 0, 0, 0, key_retry_on, NULL },
	{ "retry_timeout", K_DURATION, U(retry_timeout_ms), 0, 0, 0, NULL, NULL },
	{ "max_fails", K_INT, U(max_fails), 0, 1000, 0, NULL, NULL },
	{ "fail_on_5xx", K_FUNC, 0, 0, 0, 0, key_fail_on_5xx, NULL },
	{ "fail_timeout", K_DURATION, U(fail_timeout_ms), 1, 0, 0, NULL, NULL },
	/* TLS */
	{ "tls", K_FUNC, 0, 0, 0, 0, key_upstream_tls, NULL },
	{ "tls_ca", K_STRING, U(tls_ca), 0, 0, 0, NULL, NULL },
	{ "tls_server_name", K_STRING, U(tls_server_name), 0, 0, 0, NULL, NULL },
	{ "tls_verify", K_FUNC, 0, 0, 0, 0, key_tls_verify, NULL },
};

static const struct key route_keys[] = {
	{ "listener", K_STRING, R(listener_name), 0, 0, 0, NULL, NULL },
	{ "host", K_FUNC, 0, 0, 0, 0, key_host, NULL },
	{ "path", K_FUNC, 0, 0, 0, 0, key_path, NULL },
	{ "upstream", K_STRING, R(upstream_name), 0, 0, 0, NULL, NULL },
	{ "cache", K_FUNC, 0, 0, 0, 0, key_cache, NULL },
	{ "handler", K_FUNC, 0, 0, 0, 0, key_handler, NULL },
	{ "allow", K_FUNC, 0, 0, 0, 1, key_allow, NULL },
	{ "cache_set_cookie", K_FUNC, 0, 0, 0, 0, key_cache_set_cookie, NULL },
	{ "cache_request_no_cache", K_FUNC, 0, 0, 0, 0,
	    key_cache_request_no_cache, NULL },
	{ "cache_default_ttl", K_DURATION, R(cache_default_ttl_ms), 0, 0, 0,
	    NULL, NULL },
	{ "cache_stale_if_error", K_DURATION, R(cache_stale_if_error_ms), 0, 0, 0,
	    NULL, NULL },
	{ "normalize_path", K_ONOFF, R(normalize_path), 0, 0, 0, NULL, NULL },
	{ "pass_client_identity_headers", K_ONOFF,
	    R(pass_client_identity_headers), 0, 0, 0, NULL, NULL },
	/* TLS */
	{ "hsts", K_FUNC, 0, 0, 0, 0, key_hsts, NULL },
	{ "request_buffering", K_FUNC, 0, 0, 0, 0, key_request_buffering, NULL },
};

static const struct key cache_keys[] = {
	{ "size", K_SIZE, C(size), 1 << 20, (size_t)1 << 40, 0, NULL, NULL },
	{ "max_object_size", K_SIZE64, C(max_object_size), 1, (int64_t)1 << 36, 0,
	    NULL, NULL },
	{ "lock_timeout", K_DURATION, C(lock_timeout_ms), 0, 0, 0, NULL, NULL },
	{ "heuristic_max", K_DURATION, C(heuristic_max_ms), 0, 0, 0, NULL, NULL },
	{ "heuristic_percent", K_INT, C(heuristic_percent), 0, 100, 0, NULL, NULL },
	{ "purge_allow", K_FUNC, 0, 0, 0, 1, key_purge_allow, NULL },
	{ "invalidate_unsafe", K_FUNC, 0, 0, 0, 0, key_invalidate_unsafe, NULL },
};

#define NKEYS(a)	(sizeof(a) / sizeof((a)[0]))

_Static_assert(NKEYS(global_keys) <= MAX_KEYS &&
    NKEYS(listener_keys) <= MAX_KEYS && NKEYS(upstream_keys) <= MAX_KEYS &&
    NKEYS(route_keys) <= MAX_KEYS && NKEYS(cache_keys) <= MAX_KEYS,
    "raise MAX_KEYS");

/*
 * Append "file:line: message\n" to the error text; line 0 leaves the line
 * out.  Running out of memory here is remembered and reported at the end.
 */
static void
conf_err(struct loader *ld, int line, const char *fmt, ...)
{
	va_list	 ap;
	char	 prefix[64];
	int	 plen, mlen;
	size_t	 need, ncap;
	char	*n;

	ld->nerrors++;
	if (line > 0)
		plen = snprintf(prefix, sizeof(prefix), ":%d: ", line);
	else
		plen = snprintf(prefix, sizeof(prefix), ": ");
	va_start(ap, fmt);
	mlen = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (plen < 0 || mlen < 0) {
		ld->oom = 1;
		return;
	}
	need = ld->errlen + strlen(ld->file) + (size_t)plen + (size_t)mlen + 2;
	if (need > ld->errcap) {
		ncap = ld->errcap ? ld->errcap : 256;
		while (ncap < need)
			ncap *= 2;
		if ((n = realloc(ld->errors, ncap)) == NULL) {
			ld->oom = 1;
			return;
		}
		ld->errors = n;
		ld->errcap = ncap;
	}
	ld->errlen += (size_t)snprintf(ld->errors + ld->errlen,
	    ld->errcap - ld->errlen, "%s%s", ld->file, prefix);
	va_start(ap, fmt);
	ld->errlen += (size_t)vsnprintf(ld->errors + ld->errlen,
	    ld->errcap - ld->errlen, fmt, ap);
	va_end(ap);
	ld->errors[ld->errlen++] = '\n';
	ld->errors[ld->errlen] = '\0';
}

static char *
xstrdup(struct loader *ld, const char *s)
{
	char	*p;

	if ((p = strdup(s)) == NULL)
		ld->oom = 1;
	return p;
}

/*
 * Make room for one more element in an array of n.  Returns the new array,
 * or NULL (the old one is left alone) when memory runs out.
 */
static void *
grow(struct loader *ld, void *p, size_t n, size_t size)
{
	void	*np;

	if ((np = reallocarray(p, n + 1, size)) == NULL)
		ld->oom = 1;
	return np;
}

/* Section names: one or more of [A-Za-z0-9_.-]. */
static int
valid_name(const char *s)
{
	if (*s == '\0')
		return 0;
	for (; *s != '\0'; s++)
		if (!isalnum((unsigned char)*s) && *s != '_' && *s != '.' &&
		    *s != '-')
			return 0;
	return 1;
}

/*
 * A plain decimal number in min..max: digits only, no sign, no blanks.
 */
static int
parse_number(const char *s, int64_t min, int64_t max, int64_t *out)
{
	long long	 v;
	char		*end;

	if (!isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

/* Write a byte count the way a user would: "16k" rather than "16384". */
static void
fmt_size(int64_t v, char *buf, size_t len)
{
	if (v != 0 && v % (1 << 30) == 0)
		snprintf(buf, len, "%lldg", (long long)(v >> 30));
	else if (v != 0 && v % (1 << 20) == 0)
		snprintf(buf, len, "%lldm", (long long)(v >> 20));
	else if (v != 0 && v % (1 << 10) == 0)
		snprintf(buf, len, "%lldk", (long long)(v >> 10));
	else
		snprintf(buf, len, "%lld", (long long)v);
}

int
conf_parse_duration(const char *s, int64_t *ms)
{
	int64_t		 v = 0, mult;
	const char	*p = s;

	if (s == NULL || !isdigit((unsigned char)*p))
		return -1;
	for (; isdigit((unsigned char)*p); p++) {
		if (v > (INT64_MAX - (*p - '0')) / 10)
			return -1;
		v = v * 10 + (*p - '0');
	}
	if (*p == '\0' || strcmp(p, "s") == 0)
		mult = 1000;
	else if (strcmp(p, "ms") == 0)
		mult = 1;
	else if (strcmp(p, "m") == 0)
		mult = 60 * 1000;
	else if (strcmp(p, "h") == 0)
		mult = 60 * 60 * 1000;
	else
		return -1;
	if (v > DURATION_MAX_MS / mult)
		return -1;
	*ms = v * mult;
	return 0;
}

int
conf_parse_size(const char *s, int64_t *bytes)
{
	int64_t		 v = 0;
	int		 shift;
	const char	*p = s;

	if (s == NULL || !isdigit((unsigned char)*p))
		return -1;
	for (; isdigit((unsigned char)*p); p++) {
		if (v > (INT64_MAX - (*p - '0')) / 10)
			return -1;
		v = v * 10 + (*p - '0');
	}
	switch (*p) {
	case '\0':
		shift = 0;
		break;
	case 'k':
	case 'K':
		shift = 10;
		break;
	case 'm':
	case 'M':
		shift = 20;
		break;
	case 'g':
	case 'G':
		shift = 30;
		break;
	default:
		return -1;
	}
	if (shift != 0 && p[1] != '\0')
		return -1;
	if (v > (INT64_MAX >> shift))
		return -1;
	*bytes = v << shift;
	return 0;
}

static int
parse_port(const char *s, in_port_t *port)
{
	int64_t	 v;

	if (parse_number(s, 1, 65535, &v) == -1)
		return -1;
	*port = (in_port_t)v;
	return 0;
}

/*
 * Set the port and build the normalised text: "1.2.3.4:80", "[::1]:80".
 */
static int
addr_finish(struct conf_addr *a, in_port_t port, char *why, size_t whylen)
{
	char	 host[NI_MAXHOST];
	int	 n;

	if (a->ss.ss_family == AF_INET)
		((struct sockaddr_in *)&a->ss)->sin_port = htons(port);
	else
		((struct sockaddr_in6 *)&a->ss)->sin6_port = htons(port);
	if (getnameinfo((struct sockaddr *)&a->ss, a->len, host, sizeof(host),
	    NULL, 0, NI_NUMERICHOST) != 0) {
		snprintf(why, whylen, "cannot format address");
		return -1;
	}
	if (a->ss.ss_family == AF_INET)
		n = snprintf(a->text, sizeof(a->text), "%s:%u", host,
		    (unsigned)port);
	else
		n = snprintf(a->text, sizeof(a->text), "[%s]:%u", host,
		    (unsigned)port);
	if (n < 0 || (size_t)n >= sizeof(a->text)) {
		snprintf(why, whylen, "address too long");
		return -1;
	}
	return 0;
}

/*
 * The work behind conf_parse_addr(), with a reason for the caller's
 * message in why on failure.
 */
static int
addr_parse(const char *s, int passive, struct conf_addr *a, char *why,
    size_t whylen)
{
	struct addrinfo		 hints, *res;
	struct sockaddr_in	*sin;
	char			 host[256];
	const char		*colon, *end, *port_s, *p;
	size_t			 hlen;
	in_port_t		 port;
	int			 rc, numeric;

	memset(a, 0, sizeof(*a));
	sin = (struct sockaddr_in *)&a->ss;

	/* A bare port: every IPv4 address. */
	if (passive && isdigit((unsigned char)*s) && strchr(s, ':') == NULL &&
	    strchr(s, '.') == NULL) {
		if (parse_port(s, &port) == -1) {
			snprintf(why, whylen, "port must be 1..65535");
			return -1;
		}
		sin->sin_family = AF_INET;
		sin->sin_addr.s_addr = htonl(INADDR_ANY);
		a->len = sizeof(*sin);
		return addr_finish(a, port, why, whylen);
	}

	if (*s == '[') {
		if ((end = strchr(s, ']')) == NULL) {
			snprintf(why, whylen, "missing ']'");
			return -1;
		}
		if (end[1] != ':') {
			snprintf(why, whylen, "missing port after ']'");
			return -1;
		}
		port_s = end + 2;
		hlen = (size_t)(end - (s + 1));
		if (hlen == 0 || hlen >= sizeof(host)) {
			snprintf(why, whylen, "bad IPv6 address");
			return -1;
		}
		memcpy(host, s + 1, hlen);
		host[hlen] = '\0';
		if (parse_port(port_s, &port) == -1) {
			snprintf(why, whylen, "port must be 1..65535");
			return -1;
		}
		memset(&hints, 0, sizeof(hints));
		hints.ai_family = AF_INET6;
		hints.ai_socktype = SOCK_STREAM;
		hints.ai_flags = AI_NUMERICHOST;
		if (getaddrinfo(host, NULL, &hints, &res) != 0) {
			snprintf(why, whylen, "bad IPv6 address '%s'", host);
			return -1;
		}
		if (res->ai_addrlen > sizeof(a->ss)) {
			freeaddrinfo(res);
			snprintf(why, whylen, "bad IPv6 address '%s'", host);
			return -1;
		}
		memcpy(&a->ss, res->ai_addr, res->ai_addrlen);
		a->len = res->ai_addrlen;
		freeaddrinfo(res);
		return addr_finish(a, port, why, whylen);
	}

	if ((colon = strrchr(s, ':')) == NULL) {
		snprintf(why, whylen, "missing ':PORT'");
		return -1;
	}
	if (memchr(s, ':', (size_t)(colon - s)) != NULL) {
		snprintf(why, whylen, "write IPv6 addresses in brackets, "
		    "as in [::1]:80");
		return -1;
	}
	hlen = (size_t)(colon - s);
	if (hlen == 0) {
		snprintf(why, whylen, "missing host before ':'");
		return -1;
	}
	if (hlen >= sizeof(host)) {
		snprintf(why, whylen, "host name too long");
		return -1;
	}
	memcpy(host, s, hlen);
	host[hlen] = '\0';
	if (parse_port(colon + 1, &port) == -1) {
		snprintf(why, whylen, "port must be 1..65535");
		return -1;
	}

	if (passive && strcmp(host, "*") == 0) {
		sin->sin_family = AF_INET;
		sin->sin_addr.s_addr = htonl(INADDR_ANY);
		a->len = sizeof(*sin);
		return addr_finish(a, port, why, whylen);
	}
	if (inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		a->len = sizeof(*sin);
		return addr_finish(a, port, why, whylen);
	}

	/* Anything else must be a host name. */
	numeric = 1;
	for (p = host; *p != '\0'; p++) {
		if (!isalnum((unsigned char)*p) && *p != '.' && *p != '-') {
			snprintf(why, whylen, "bad host '%s'", host);
			return -1;
		}
		if (!isdigit((unsigned char)*p) && *p != '.')
			numeric = 0;
	}
	if (numeric) {
		snprintf(why, whylen, "bad IPv4 address '%s'", host);
		return -1;
	}
	if (passive) {
		snprintf(why, whylen, "use an IP address, '*' or a bare port, "
		    "not a host name");
		return -1;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	if ((rc = getaddrinfo(host, NULL, &hints, &res)) != 0) {
		snprintf(why, whylen, "cannot resolve '%s': %s", host,
		    gai_strerror(rc));
		return -1;
	}
	if ((res->ai_family != AF_INET && res->ai_family != AF_INET6) ||
	    res->ai_addrlen > sizeof(a->ss)) {
		freeaddrinfo(res);
		snprintf(why, whylen, "cannot resolve '%s': no IP address",
		    host);
		return -1;
	}
	memcpy(&a->ss, res->ai_addr, res->ai_addrlen);
	a->len = res->ai_addrlen;
	freeaddrinfo(res);
	return addr_finish(a, port, why, whylen);
}

int
conf_parse_addr(const char *s, int passive, struct conf_addr *a)
{
	char	 why[WHY_MAX];

	if (s == NULL || a == NULL)
		return -1;
	return addr_parse(s, passive, a, why, sizeof(why));
}


const char *
conf_log_level_name(enum log_level level)
{
	if ((unsigned)level >= NKEYS(level_names))
		return "unknown";
	return level_names[level];
}

static void
global_defaults(struct conf_global *g)
{
	memset(g, 0, sizeof(*g));
	g->workers = 0;			/* auto, resolved at the end */
	g->log_level = LOG_LVL_INFO;
	g->worker_connections = 10000;
	g->shutdown_timeout_ms = 30 * 1000;
	g->client_header_timeout_ms = 30 * 1000;
	g->client_body_timeout_ms = 60 * 1000;
	g->keepalive_timeout_ms = 75 * 1000;
	g->send_timeout_ms = 60 * 1000;
	g->max_request_line = 8 << 10;
	g->max_header_size = 16 << 10;
	g->max_headers = 100;
	g->max_body_size = 0;
	g->buffer_size = 32 << 10;
	g->request_buffering = 1;
	g->client_body_buffer_size = 16 << 10;
	g->client_body_min_rate = 1 << 10;
	g->tls_ticket_rotation_ms = 60 * 60 * 1000;
	g->merge_slashes = 1;
	g->normalize_path = 1;
}

static void
listener_defaults(struct conf_listener *l)
{
	memset(l, 0, sizeof(*l));
	l->backlog = 511;
	l->tls_protocols = CONF_TLS_V12 | CONF_TLS_V13;
	l->tls_handshake_timeout_ms = 10 * 1000;
	l->redirect_port = 443;
}

static void
upstream_defaults(struct conf_upstream *u)
{
	memset(u, 0, sizeof(*u));
	u->balance = BALANCE_ROUND_ROBIN;
	u->keepalive = 32;
	u->keepalive_timeout_ms = 60 * 1000;
	u->connect_timeout_ms = 5 * 1000;
	u->read_timeout_ms = 60 * 1000;
	u->send_timeout_ms = 60 * 1000;
	u->health_status_min = 200;
	u->health_status_max = 399;
	u->health_interval_ms = 2000;
	u->health_timeout_ms = 1000;
	u->health_rise = 2;
	u->health_fall = 3;
	u->max_fails = 1;
	u->fail_timeout_ms = 10 * 1000;
	u->retries = -1;
	u->retry_on = RETRY_ERROR | RETRY_TIMEOUT;
	u->queue_timeout_ms = 5000;
	u->tls_verify = 1;
}

static int
route_defaults(struct loader *ld, struct conf_route *r)
{
	memset(r, 0, sizeof(*r));
	r->request_buffering = -1;	/* the global's */
	r->host_kind = HOST_ANY;
	r->host = xstrdup(ld, "*");
	r->path = xstrdup(ld, "/");
	r->path_len = 1;
	r->normalize_path = -1;			/* [global]'s */
	r->pass_client_identity_headers = -1;
	return r->host != NULL && r->path != NULL ? 0 : -1;
}

static void
global_clear(struct conf_global *g)
{
	free(g->user);
	free(g->group);
	free(g->pid_file);
	free(g->error_log);
	free(g->access_log);
	free(g->client_body_temp_path);
	memset(g, 0, sizeof(*g));
}

static void
cache_defaults(struct conf_cache *c)
{
	memset(c, 0, sizeof(*c));
	c->size = (size_t)256 << 20;
	c->max_object_size = 8 << 20;
	c->lock_timeout_ms = 5 * 1000;
	c->heuristic_max_ms = 24 * 3600 * 1000;
	c->heuristic_percent = 10;
}

static void
cache_clear(struct conf_cache *c)
{
	free(c->purge_allow);
	memset(c, 0, sizeof(*c));
}

static void
listener_clear(struct conf_listener *l)
{
	size_t	 i;

	for (i = 0; i < l->ntls_cert; i++)
		free(l->tls_cert[i].path);
	for (i = 0; i < l->ntls_key; i++)
		free(l->tls_key[i].path);
	free(l->tls_cert);
	free(l->tls_key);
	free(l->tls_ciphers);
	free(l->tls_ciphersuites);
	free(l->tls_client_ca.path);
	free(l->name);
	free(l->addrs);
	free(l->fds);
	memset(l, 0, sizeof(*l));
}

static void
upstream_clear(struct conf_upstream *u)
{
	size_t	 i;

	for (i = 0; i < u->nservers; i++)
		free(u->servers[i].host);
	free(u->tls_ca);
	free(u->tls_server_name);
	free(u->name);
	free(u->hash_key_name);
	free(u->health_method);
	free(u->health_path);
	free(u->health_host);
	free(u->health_body);
	free(u->servers);
	memset(u, 0, sizeof(*u));
}

static void
route_clear(struct conf_route *r)
{
	free(r->name);
	free(r->listener_name);
	free(r->host);
	free(r->path);
	free(r->upstream_name);
	free(r->allow);
	free(r->hsts);
	memset(r, 0, sizeof(*r));
}

static void
key_workers(struct loader *ld, void *obj, const char *v)
{
	struct conf_global	*g = obj;
	int64_t			 n;

	if (strcmp(v, "auto") == 0) {
		g->workers = 0;
		return;
	}
	if (parse_number(v, 1, WORKERS_MAX, &n) == -1) {
		conf_err(ld, ld->lineno, "bad workers '%s': expected auto or "
		    "a number 1..%d", v, WORKERS_MAX);
		return;
	}
	g->workers = (int)n;
}

static void
key_log_level(struct loader *ld, void *obj, const char *v)
{
	struct conf_global	*g = obj;
	size_t			 i;

	for (i = 0; i < NKEYS(level_names); i++) {
		if (strcmp(v, level_names[i]) == 0) {
			g->log_level = (enum log_level)i;
			return;
		}
	}
	conf_err(ld, ld->lineno, "bad log_level '%s': expected debug, info, "
	    "notice, warn or error", v);
}

static void
key_access_log(struct loader *ld, void *obj, const char *v)
{
	struct conf_global	*g = obj;

	free(g->access_log);
	g->access_log = NULL;
	if (strcmp(v, "off") != 0)
		g->access_log = xstrdup(ld, v);
}

static void
key_listen(struct loader *ld, void *obj, const char *v)
{
	struct conf_listener	*l = obj;
	struct conf_addr	 a, *na;
	struct taken_addr	*nt;
	char			 why[WHY_MAX];
	size_t			 i;

	if (addr_parse(v, 1, &a, why, sizeof(why)) == -1) {
		conf_err(ld, ld->lineno, "bad listen address '%s': %s", v, why);
		return;
	}
	if (!ld->scratch) {
		for (i = 0; i < ld->ntaken; i++) {
			if (net_addr_equal(&ld->taken[i].addr, &a)) {
				conf_err(ld, ld->lineno, "duplicate listen "
				    "address %s (first at %s:%d)", a.text,
				    ld->file, ld->taken[i].line);
				return;
			}
		}
		if ((nt = grow(ld, ld->taken, ld->ntaken, sizeof(*nt))) == NULL)
			return;
		ld->taken = nt;
		ld->taken[ld->ntaken].addr = a;
		ld->taken[ld->ntaken].line = ld->lineno;
		ld->ntaken++;
	}
	if ((na = grow(ld, l->addrs, l->naddrs, sizeof(*na))) == NULL)
		return;
	l->addrs = na;
	a.line = ld->lineno;
	l->addrs[l->naddrs++] = a;
}

static void
key_server(struct loader *ld, void *obj, const char *v)
{
	struct conf_upstream	*u = obj;
	struct conf_server	 s, *ns;
	char			*copy, *tok, *save, *addr;
	char			 why[WHY_MAX];
	int64_t			 n;
	int			 bad = 0, have_weight = 0;

	if ((copy = xstrdup(ld, v)) == NULL)
		return;
	memset(&s, 0, sizeof(s));
	s.weight = 1;
	s.shm_idx = -1;
	s.file = ld->file;
	s.line = ld->lineno;

	addr = strtok_r(copy, " \t", &save);
	if (addr == NULL) {
		conf_err(ld, ld->lineno, "empty value for 'server'");
		free(copy);
		return;
	}
	if (addr_parse(addr, 0, &s.addr, why, sizeof(why)) == -1) {
		conf_err(ld, ld->lineno, "bad server address '%s': %s", addr,
		    why);
		bad = 1;
	}
	while ((tok = strtok_r(NULL, " \t", &save)) != NULL) {
		if (strncmp(tok, "weight=", 7) == 0) {
			if (have_weight) {
				conf_err(ld, ld->lineno, "server option "
				    "'weight' given twice");
				bad = 1;
			} else if (parse_number(tok + 7, 1, 1000, &n) == -1) {
				conf_err(ld, ld->lineno, "bad server option "
				    "'%s': weight must be 1..1000", tok);
				bad = 1;
			} else
				s.weight = (int)n;
			have_weight = 1;
		} else if (strcmp(tok, "backup") == 0) {
			if (s.backup) {
				conf_err(ld, ld->lineno, "server option "
				    "'backup' given twice");
				bad = 1;
			}
			s.backup = 1;
		} else if (strncmp(tok, "max_conns=", 10) == 0) {
			if (s.max_conns) {
				conf_err(ld, ld->lineno, "server option "
				    "'max_conns' given twice");
				bad = 1;
			} else if (parse_number(tok + 10, 1, 1000000, &n) == -1) {
				conf_err(ld, ld->lineno, "bad server option "
				    "'%s': max_conns must be 1..1000000", tok);
				bad = 1;
			} else
				s.max_conns = (int)n;
		} else if (strcmp(tok, "tls") == 0) {
			if (s.tls) {
				conf_err(ld, ld->lineno, "server option "
				    "'tls' given twice");
				bad = 1;
			}
			s.tls = 1;
		} else {
			conf_err(ld, ld->lineno, "unknown server option '%s' "
			    "(expected weight=N, backup, max_conns=N or tls)", tok);
			bad = 1;
		}
	}
	if (!bad && server_host(addr, &s.host) == -1)
		ld->oom = 1;
	free(copy);
	if (bad)
		return;
	for (size_t k = 0; k < u->nservers; k++)
		if (net_addr_equal(&u->servers[k].addr, &s.addr)) {
			conf_err(ld, ld->lineno, "server %s is already in upstream "
			    "'%s' (line %d); use weight=N", s.addr.text, u->name,
			    u->servers[k].line);
			free(s.host);
			return;
		}
	if (u->nservers >= CONF_MAX_SERVERS) {
		conf_err(ld, ld->lineno, "upstream '%s' has more than %d servers",
		    u->name, CONF_MAX_SERVERS);
		free(s.host);
		return;
	}
	if ((ns = grow(ld, u->servers, u->nservers, sizeof(*ns))) == NULL) {
		free(s.host);
		return;
	}
	u->servers = ns;
	u->servers[u->nservers++] = s;
}

/*
 * The host of a server address as written, lowercased, when it is a name
 * (for TLS: SNI and the name to verify); NULL for an IP address.  -1 when
 * memory runs out.
 */
static int
server_host(const char *addr, char **host)
{
	const char	*colon;
	char		 buf[256];
	struct in_addr	 in;
	size_t		 i, n;

	*host = NULL;
	if (*addr == '[' || (colon = strrchr(addr, ':')) == NULL)
		return 0;
	n = (size_t)(colon - addr);
	if (n == 0 || n >= sizeof(buf))
		return 0;
	for (i = 0; i < n; i++)
		buf[i] = (char)tolower((unsigned char)addr[i]);
	buf[n] = '\0';
	if (inet_pton(AF_INET, buf, &in) == 1)
		return 0;
	if ((*host = strdup(buf)) == NULL)
		return -1;
	return 0;
}

static void
key_balance(struct loader *ld, void *obj, const char *v)
{
	struct conf_upstream	*u = obj;
	static const struct {
		const char		*name;
		enum balance_kind	 kind;
	} kinds[] = {
		{ "round_robin", BALANCE_ROUND_ROBIN },
		{ "least_conn", BALANCE_LEAST_CONN },
		{ "ip_hash", BALANCE_IP_HASH },
		{ "hash", BALANCE_HASH },
		{ "random", BALANCE_RANDOM },
	};
	size_t			 i;

	for (i = 0; i < NKEYS(kinds); i++) {
		if (strcmp(v, kinds[i].name) == 0) {
			u->balance = kinds[i].kind;
			return;
		}
	}
	conf_err(ld, ld->lineno, "unknown balance '%s' (round_robin, "
	    "least_conn, ip_hash, hash or random)", v);
}

/* hash_key = uri | header:NAME | cookie:NAME */
static void
key_hash_key(struct loader *ld, void *obj, const char *v)
{
	struct conf_upstream	*u = obj;
	const char		*name = NULL;

	if (strcmp(v, "uri") == 0)
		u->hash_key = HASH_KEY_URI;
	else if (strncmp(v, "header:", 7) == 0) {
		u->hash_key = HASH_KEY_HEADER;
		name = v + 7;
	} else if (strncmp(v, "cookie:", 7) == 0) {
		u->hash_key = HASH_KEY_COOKIE;
		name = v + 7;
	} else {
		conf_err(ld, ld->lineno, "bad hash_key '%s' (uri, header:NAME "
		    "or cookie:NAME)", v);
		return;
	}
	if (name != NULL) {
		if (*name == '\0' || !valid_name(name)) {
			conf_err(ld, ld->lineno, "bad hash_key '%s': the name "
			    "must be a header or cookie name", v);
			return;
		}
		free(u->hash_key_name);
		u->hash_key_name = xstrdup(ld, name);
	}
}

static int
parse_onoff(struct loader *ld, const char *key, const char *v, int *out)
{
	if (strcmp(v, "on") == 0)
		*out = 1;
	else if (strcmp(v, "off") == 0)
		*out = 0;
	else {
		conf_err(ld, ld->lineno, "bad %s '%s' (on or off)", key, v);
		return -1;
	}
	return 0;
}

/* fail_on_5xx = on | off */
static void
key_fail_on_5xx(struct loader *ld, void *obj, const char *v)
{
	(void)parse_onoff(ld, "fail_on_5xx", v,
	    &((struct conf_upstream *)obj)->fail_on_5xx);
}

/* retry_on = off | list of error timeout 500 502 503 504 */
static void
key_retry_on(struct loader *ld, void *obj, const char *v)
{
	static const struct {
		const char	*name;
		unsigned	 bit;
	} names[] = {
		{ "error", RETRY_ERROR }, { "timeout", RETRY_TIMEOUT },
		{ "500", RETRY_500 }, { "502", RETRY_502 },
		{ "503", RETRY_503 }, { "504", RETRY_504 },
	};
	struct conf_upstream	*u = obj;
	char			*copy, *tok, *save;
	unsigned		 mask = 0;
	size_t			 i;

	if (strcmp(v, "off") == 0) {
		u->retry_on = 0;
		return;
	}
	if ((copy = xstrdup(ld, v)) == NULL)
		return;
	for (tok = strtok_r(copy, " \t,", &save); tok != NULL;
	    tok = strtok_r(NULL, " \t,", &save)) {
		for (i = 0; i < NKEYS(names); i++)
			if (strcmp(tok, names[i].name) == 0)
				break;
		if (i == NKEYS(names)) {
			conf_err(ld, ld->lineno, "bad retry_on '%s' (off, or any of "
			    "error timeout 500 502 503 504)", tok);
			free(copy);
			return;
		}
		mask |= names[i].bit;
	}
	free(copy);
	u->retry_on = mask;
}

/* health_check = tcp | GET /path | HEAD /path */
static void
key_health_check(struct loader *ld, void *obj, const char *v)
{
	struct conf_upstream	*u = obj;
	const char		*sp, *p;

	if (strcmp(v, "tcp") == 0) {
		u->health = HEALTH_TCP;
		return;
	}
	sp = strchr(v, ' ');
	if (sp == NULL || (((size_t)(sp - v) != 3 || strncmp(v, "GET", 3) != 0) &&
	    ((size_t)(sp - v) != 4 || strncmp(v, "HEAD", 4) != 0))) {
		conf_err(ld, ld->lineno, "bad health_check '%s' (tcp, GET /path "
		    "or HEAD /path)", v);
		return;
	}
	while (*sp == ' ')
		sp++;
	if (*sp != '/') {
		conf_err(ld, ld->lineno, "bad health_check '%s': the path must "
		    "start with /", v);
		return;
	}
	for (p = sp; *p != '\0'; p++)
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f) {
			conf_err(ld, ld->lineno, "bad health_check '%s': invalid "
			    "character in the path", v);
			return;
		}
	free(u->health_method);
	free(u->health_path);
	u->health_method = xstrdup(ld, v[0] == 'G' ? "GET" : "HEAD");
	u->health_path = xstrdup(ld, sp);
	u->health = HEALTH_HTTP;
}

/* health_status = 200 | 200-399 */
static void
key_health_status(struct loader *ld, void *obj, const char *v)
{
	struct conf_upstream	*u = obj;
	char			 a[8], b[8];
	int64_t			 lo, hi;
	const char		*dash = strchr(v, '-');

	if (dash == NULL) {
		if (parse_number(v, 100, 599, &lo) == -1)
			goto bad;
		u->health_status_min = u->health_status_max = (int)lo;
		return;
	}
	if ((size_t)(dash - v) >= sizeof(a) || strlen(dash + 1) >= sizeof(b))
		goto bad;
	memcpy(a, v, dash - v);
	a[dash - v] = '\0';
	snprintf(b, sizeof(b), "%s", dash + 1);
	if (parse_number(a, 100, 599, &lo) == -1 ||
	    parse_number(b, 100, 599, &hi) == -1 || lo > hi)
		goto bad;
	u->health_status_min = (int)lo;
	u->health_status_max = (int)hi;
	return;
bad:
	conf_err(ld, ld->lineno, "bad health_status '%s' (a status 100..599 "
	    "or a range like 200-399)", v);
}

/* handler = proxy | status */
static void
key_handler(struct loader *ld, void *obj, const char *v)
{
	struct conf_route	*r = obj;

	if (strcmp(v, "proxy") == 0)
		r->handler = HANDLER_PROXY;
	else if (strcmp(v, "status") == 0)
		r->handler = HANDLER_STATUS;
	else
		conf_err(ld, ld->lineno, "bad handler '%s' (proxy or status)", v);
}

/* One "ADDR[/PREFIX]" into c.  0, or -1. */
static int
cidr_parse(const char *s, struct conf_cidr *c)
{
	char		 buf[64];
	const char	*slash = strchr(s, '/');
	int64_t		 n;
	size_t		 len = slash ? (size_t)(slash - s) : strlen(s);
	int		 max;

	if (len == 0 || len >= sizeof(buf))
		return -1;
	memcpy(buf, s, len);
	buf[len] = '\0';
	memset(c, 0, sizeof(*c));
	if (inet_pton(AF_INET, buf, c->addr) == 1) {
		c->family = AF_INET;
		max = 32;
	} else if (inet_pton(AF_INET6, buf, c->addr) == 1) {
		c->family = AF_INET6;
		max = 128;
	} else
		return -1;
	c->prefix = max;
	if (slash != NULL) {
		if (parse_number(slash + 1, 0, max, &n) == -1)
			return -1;
		c->prefix = (int)n;
	}
	return 0;
}

static void	 cidr_list_add(struct loader *, const char *, const char *,
		    struct conf_cidr **, size_t *);

/* allow = CIDR [CIDR ...]; repeatable. */
static void
key_allow(struct loader *ld, void *obj, const char *v)
{
	struct conf_route	*r = obj;

	cidr_list_add(ld, "allow", v, &r->allow, &r->nallow);
}

/* [cache] purge_allow = CIDR [CIDR ...]; repeatable. */
static void
key_purge_allow(struct loader *ld, void *obj, const char *v)
{
	struct conf_cache	*c = obj;

	cidr_list_add(ld, "purge_allow", v, &c->purge_allow, &c->npurge_allow);
}

/* [cache] invalidate_unsafe = on | purge_allow | off */
static void
key_invalidate_unsafe(struct loader *ld, void *obj, const char *v)
{
	struct conf_cache	*c = obj;

	if (strcmp(v, "on") == 0)
		c->invalidate_unsafe = CACHE_UNSAFE_ON;
	else if (strcmp(v, "purge_allow") == 0)
		c->invalidate_unsafe = CACHE_UNSAFE_PURGE_ALLOW;
	else if (strcmp(v, "off") == 0)
		c->invalidate_unsafe = CACHE_UNSAFE_OFF;
	else
		conf_err(ld, ld->lineno, "bad invalidate_unsafe '%s': "
		    "expected on, purge_allow or off", v);
}

static void
cidr_list_add(struct loader *ld, const char *what, const char *v,
    struct conf_cidr **list, size_t *n)
{
	struct conf_cidr	 c, *nc;
	char			*copy, *tok, *save;
	int			 added = 0, bad = 0;

	if ((copy = xstrdup(ld, v)) == NULL)
		return;
	for (tok = strtok_r(copy, " \t,", &save); tok != NULL;
	    tok = strtok_r(NULL, " \t,", &save)) {
		if (cidr_parse(tok, &c) == -1) {
			conf_err(ld, ld->lineno, "bad %s address '%s' "
			    "(expected an address or address/prefix)", what, tok);
			bad = 1;
			continue;
		}
		if ((nc = grow(ld, *list, *n, sizeof(*nc))) == NULL)
			break;
		*list = nc;
		(*list)[(*n)++] = c;
		added++;
	}
	free(copy);
	if (added == 0 && !bad)
		conf_err(ld, ld->lineno, "%s lists no address", what);
}

int
conf_cidr_match(const struct conf_cidr *c, size_t n, const struct sockaddr *sa)
{
	const unsigned char	*a;
	size_t			 i;
	int			 fam = sa->sa_family, bits, full, rest;

	if (fam == AF_INET)
		a = (const unsigned char *)&((const struct sockaddr_in *)sa)->sin_addr;
	else if (fam == AF_INET6)
		a = (const unsigned char *)&((const struct sockaddr_in6 *)sa)->sin6_addr;
	else
		return 0;
	for (i = 0; i < n; i++) {
		if (c[i].family != fam)
			continue;
		bits = c[i].prefix;
		full = bits / 8;
		rest = bits % 8;
		if (memcmp(a, c[i].addr, full) != 0)
			continue;
		if (rest != 0 && ((a[full] ^ c[i].addr[full]) &
		    (0xff << (8 - rest)) & 0xff) != 0)
			continue;
		return 1;
	}
	return 0;
}

/*
 * Host patterns: "*", "*.example.com" or an exact name, of [a-z0-9.-]
 * after lowercasing, with no empty labels and no port.
 */
static void
key_host(struct loader *ld, void *obj, const char *v)
{
	struct conf_route	*r = obj;
	enum host_kind		 kind;
	const char		*name, *p;
	char			*h, *q;
	size_t			 len;

	if (strcmp(v, "*") == 0) {
		if ((h = xstrdup(ld, "*")) == NULL)
			return;
		free(r->host);
		r->host = h;
		r->host_kind = HOST_ANY;
		return;
	}
	if (strchr(v, ':') != NULL) {
		conf_err(ld, ld->lineno, "bad host '%s': a host must not "
		    "include a port", v);
		return;
	}
	if (strncmp(v, "*.", 2) == 0) {
		kind = HOST_WILDCARD;
		name = v + 2;
	} else {
		kind = HOST_EXACT;
		name = v;
	}
	len = strlen(name);
	if (len == 0 || len > 253 || name[0] == '.' || name[len - 1] == '.' ||
	    strstr(name, "..") != NULL) {
		conf_err(ld, ld->lineno, "bad host '%s': expected *, "
		    "*.example.com or a host name", v);
		return;
	}
	for (p = name; *p != '\0'; p++) {
		if (!isalnum((unsigned char)*p) && *p != '.' && *p != '-') {
			conf_err(ld, ld->lineno, "bad host '%s': only "
			    "letters, digits, '.' and '-' are allowed", v);
			return;
		}
	}
	/* A wildcard keeps its leading dot: "*.example.com" -> ".example.com". */
	if ((h = xstrdup(ld, kind == HOST_WILDCARD ? v + 1 : v)) == NULL)
		return;
	for (q = h; *q != '\0'; q++)
		*q = (char)tolower((unsigned char)*q);
	free(r->host);
	r->host = h;
	r->host_kind = kind;
}

static void
key_path(struct loader *ld, void *obj, const char *v)
{
	struct conf_route	*r = obj;
	const unsigned char	*p;
	char			*np;

	if (*v != '/') {
		conf_err(ld, ld->lineno, "bad path '%s': must start with '/'",
		    v);
		return;
	}
	for (p = (const unsigned char *)v; *p != '\0'; p++) {
		if (*p < 0x21 || *p > 0x7e) {
			conf_err(ld, ld->lineno, "bad path '%s': only "
			    "printable ASCII without blanks is allowed", v);
			return;
		}
	}
	if ((np = xstrdup(ld, v)) == NULL)
		return;
	free(r->path);
	r->path = np;
	r->path_len = strlen(np);
}

static void
key_cache(struct loader *ld, void *obj, const char *v)
{
	(void)parse_onoff(ld, "cache", v, &((struct conf_route *)obj)->cache);
}

static void
key_g_request_buffering(struct loader *ld, void *obj, const char *v)
{
	(void)parse_onoff(ld, "request_buffering", v,
	    &((struct conf_global *)obj)->request_buffering);
}

static void
key_request_buffering(struct loader *ld, void *obj, const char *v)
{
	(void)parse_onoff(ld, "request_buffering", v,
	    &((struct conf_route *)obj)->request_buffering);
}

static void
key_pass_request_trailers(struct loader *ld, void *obj, const char *v)
{
	(void)parse_onoff(ld, "pass_request_trailers", v,
	    &((struct conf_global *)obj)->pass_request_trailers);
}

static void
key_cache_set_cookie(struct loader *ld, void *obj, const char *v)
{
	(void)parse_onoff(ld, "cache_set_cookie", v,
	    &((struct conf_route *)obj)->cache_set_cookie);
}

/* cache_request_no_cache = honor | ignore */
static void
key_cache_request_no_cache(struct loader *ld, void *obj, const char *v)
{
	struct conf_route	*r = obj;

	if (strcmp(v, "honor") == 0)
		r->cache_ignore_no_cache = 0;
	else if (strcmp(v, "ignore") == 0)
		r->cache_ignore_no_cache = 1;
	else
		conf_err(ld, ld->lineno, "bad cache_request_no_cache '%s': "
		    "expected honor or ignore", v);
}

/*
 * TLS keys.
 */

/* Append a file name to a list of them (tls_certificate, tls_key). */
static void
file_add(struct loader *ld, struct conf_file **list, size_t *n, const char *v)
{
	struct conf_file	*nl;
	char			*p;

	if ((p = xstrdup(ld, v)) == NULL)
		return;
	if ((nl = grow(ld, *list, *n, sizeof(*nl))) == NULL) {
		free(p);
		return;
	}
	*list = nl;
	nl[*n].path = p;
	nl[*n].line = ld->lineno;
	(*n)++;
}

static void
key_tls_certificate(struct loader *ld, void *obj, const char *v)
{
	struct conf_listener	*l = obj;

	file_add(ld, &l->tls_cert, &l->ntls_cert, v);
}

static void
key_tls_key(struct loader *ld, void *obj, const char *v)
{
	struct conf_listener	*l = obj;

	file_add(ld, &l->tls_key, &l->ntls_key, v);
}

/* tls_protocols = TLSv1.2 TLSv1.3 (one or both) */
static void
key_tls_protocols(struct loader *ld, void *obj, const char *v)
{
	struct conf_listener	*l = obj;
	char			*copy, *tok, *save;
	unsigned		 p = 0;

	if ((copy = xstrdup(ld, v)) == NULL)
		return;
	for (tok = strtok_r(copy, " \t", &save); tok != NULL;
	    tok = strtok_r(NULL, " \t", &save)) {
		if (strcmp(tok, "TLSv1.2") == 0)
			p |= CONF_TLS_V12;
		else if (strcmp(tok, "TLSv1.3") == 0)
			p |= CONF_TLS_V13;
		else if (strcmp(tok, "TLSv1") == 0 || strcmp(tok, "TLSv1.1") == 0 ||
		    strncmp(tok, "SSL", 3) == 0) {
			conf_err(ld, ld->lineno, "tls_protocols: %s is not "
			    "supported (insecure); use TLSv1.2 and TLSv1.3", tok);
			p = 0;
			break;
		} else {
			conf_err(ld, ld->lineno, "bad tls_protocols '%s' "
			    "(TLSv1.2, TLSv1.3 or both)", tok);
			p = 0;
			break;
		}
	}
	free(copy);
	if (p != 0)
		l->tls_protocols = p;
}

static void
key_tls_client_ca(struct loader *ld, void *obj, const char *v)
{
	struct conf_listener	*l = obj;
	char			*p;

	if ((p = xstrdup(ld, v)) == NULL)
		return;
	free(l->tls_client_ca.path);
	l->tls_client_ca.path = p;
	l->tls_client_ca.line = ld->lineno;
}

/* tls_verify_client = off | on | optional */
static void
key_tls_verify_client(struct loader *ld, void *obj, const char *v)
{
	struct conf_listener	*l = obj;

	if (strcmp(v, "off") == 0)
		l->tls_verify_client = TLS_VERIFY_OFF;
	else if (strcmp(v, "on") == 0)
		l->tls_verify_client = TLS_VERIFY_ON;
	else if (strcmp(v, "optional") == 0)
		l->tls_verify_client = TLS_VERIFY_OPTIONAL;
	else
		conf_err(ld, ld->lineno, "bad tls_verify_client '%s' (off, on "
		    "or optional)", v);
}

/* redirect = https | https:PORT */
static void
key_redirect(struct loader *ld, void *obj, const char *v)
{
	struct conf_listener	*l = obj;
	in_port_t		 port;

	if (strcmp(v, "https") == 0) {
		l->redirect_https = 1;
		l->redirect_port = 443;
	} else if (strncmp(v, "https:", 6) == 0 && parse_port(v + 6, &port) == 0) {
		l->redirect_https = 1;
		l->redirect_port = port;
	} else
		conf_err(ld, ld->lineno, "bad redirect '%s' (https or "
		    "https:PORT)", v);
}

static void
key_upstream_tls(struct loader *ld, void *obj, const char *v)
{
	struct conf_upstream	*u = obj;

	(void)parse_onoff(ld, "tls", v, &u->tls);
}

static void
key_tls_verify(struct loader *ld, void *obj, const char *v)
{
	struct conf_upstream	*u = obj;

	(void)parse_onoff(ld, "tls_verify", v, &u->tls_verify);
}

/* An HSTS max-age: seconds, or a number with s, m, h or d; up to 10 years. */
static int
hsts_age(const char *s, int64_t *secs)
{
	int64_t		 mult;
	const char	*p;

	if (!isdigit((unsigned char)*s))
		return -1;
	for (p = s; isdigit((unsigned char)*p); p++)
		if (p - s > 9)
			return -1;
	if (*p == '\0' || strcmp(p, "s") == 0)
		mult = 1;
	else if (strcmp(p, "m") == 0)
		mult = 60;
	else if (strcmp(p, "h") == 0)
		mult = 3600;
	else if (strcmp(p, "d") == 0)
		mult = 86400;
	else
		return -1;
	*secs = strtoll(s, NULL, 10) * mult;
	return *secs >= 1 && *secs <= 10LL * 366 * 86400 ? 0 : -1;
}

/* hsts = off | MAX-AGE [includeSubDomains] [preload] */
static void
key_hsts(struct loader *ld, void *obj, const char *v)
{
	struct conf_route	*r = obj;
	char			*copy, *tok, *save, buf[128];
	int64_t			 secs;
	int			 sub = 0, pre = 0, bad = 0;

	free(r->hsts);
	r->hsts = NULL;
	if (strcmp(v, "off") == 0)
		return;
	if ((copy = xstrdup(ld, v)) == NULL)
		return;
	tok = strtok_r(copy, " \t", &save);
	if (tok == NULL || hsts_age(tok, &secs) == -1)
		bad = 1;
	while (!bad && (tok = strtok_r(NULL, " \t", &save)) != NULL) {
		if (strcmp(tok, "includeSubDomains") == 0)
			sub = 1;
		else if (strcmp(tok, "preload") == 0)
			pre = 1;
		else
			bad = 1;
	}
	free(copy);
	if (bad) {
		conf_err(ld, ld->lineno, "bad hsts '%s' (off, or a max-age such "
		    "as 31536000, 180d or 12h, then includeSubDomains and "
		    "preload if wanted)", v);
		return;
	}
	snprintf(buf, sizeof(buf), "max-age=%lld%s%s", (long long)secs,
	    sub ? "; includeSubDomains" : "", pre ? "; preload" : "");
	r->hsts = xstrdup(ld, buf);
}

static const struct key *
section_keys(enum sec_kind kind, size_t *n)
{
	switch (kind) {
	case SEC_GLOBAL:
		*n = NKEYS(global_keys);
		return global_keys;
	case SEC_LISTENER:
		*n = NKEYS(listener_keys);
		return listener_keys;
	case SEC_UPSTREAM:
		*n = NKEYS(upstream_keys);
		return upstream_keys;
	case SEC_ROUTE:
		*n = NKEYS(route_keys);
		return route_keys;
	case SEC_CACHE:
		*n = NKEYS(cache_keys);
		return cache_keys;
	default:
		*n = 0;
		return NULL;
	}
}

/* The line a key was first set on in a section, or 0. */
static int
key_line(struct loader *ld, enum sec_kind kind, const struct meta *m,
    const char *name)
{
	const struct key	*keys;
	size_t			 i, n;

	keys = section_keys(kind, &n);
	for (i = 0; i < n; i++)
		if (strcmp(keys[i].name, name) == 0)
			return m->seen[i];
	return 0;
}

static void
set_value(struct loader *ld, const struct key *k, const char *v)
{
	char	*field = (char *)ld->obj + k->off;
	char	 lo[32], hi[32];
	char	*s;
	int64_t	 n;

	switch (k->type) {
	case K_INT:
		if (parse_number(v, k->min, k->max, &n) == -1) {
			conf_err(ld, ld->lineno, "bad %s '%s': expected a "
			    "number %lld..%lld", k->name, v,
			    (long long)k->min, (long long)k->max);
			return;
		}
		*(int *)(void *)field = (int)n;
		break;
	case K_ONOFF:
		(void)parse_onoff(ld, k->name, v, (int *)(void *)field);
		break;
	case K_DURATION:
		if (conf_parse_duration(v, &n) == -1) {
			conf_err(ld, ld->lineno, "bad %s '%s': expected a "
			    "duration such as 500ms, 30s, 5m or 1h", k->name, v);
			return;
		}
		if (n < k->min && k->min > 1) {
			conf_err(ld, ld->lineno, "bad %s '%s': must be at "
			    "least %lldms", k->name, v, (long long)k->min);
			return;
		}
		if (n < k->min) {
			conf_err(ld, ld->lineno, "bad %s '%s': must be more "
			    "than 0", k->name, v);
			return;
		}
		*(int64_t *)(void *)field = n;
		break;
	case K_SIZE:
	case K_SIZE64:
		if (conf_parse_size(v, &n) == -1) {
			conf_err(ld, ld->lineno, "bad %s '%s': expected a "
			    "size such as 512, 16k, 8m or 1g", k->name, v);
			return;
		}
		if (n < k->min || n > k->max) {
			fmt_size(k->min, lo, sizeof(lo));
			fmt_size(k->max, hi, sizeof(hi));
			conf_err(ld, ld->lineno, "bad %s '%s': must be "
			    "%s..%s", k->name, v, lo, hi);
			return;
		}
		if (k->type == K_SIZE)
			*(size_t *)(void *)field = (size_t)n;
		else
			*(int64_t *)(void *)field = n;
		break;
	case K_STRING:
		if ((s = xstrdup(ld, v)) == NULL)
			return;
		free(*(char **)(void *)field);
		*(char **)(void *)field = s;
		break;
	case K_FUNC:
		k->fn(ld, ld->obj, v);
		break;
	case K_UNSUPPORTED:
		conf_err(ld, ld->lineno, "%s: %s", k->name, k->msg);
		break;
	}
}

/* Throw away the scratch object of a duplicate section. */
static void
section_end(struct loader *ld)
{
	if (ld->scratch) {
		switch (ld->kind) {
		case SEC_GLOBAL:
			global_clear(&ld->sg);
			break;
		case SEC_LISTENER:
			listener_clear(&ld->sl);
			break;
		case SEC_UPSTREAM:
			upstream_clear(&ld->su);
			break;
		case SEC_ROUTE:
			route_clear(&ld->sr);
			break;
		case SEC_CACHE:
			cache_clear(&ld->scache);
			break;
		default:
			break;
		}
	}
	ld->scratch = 0;
	ld->kind = SEC_IGNORE;
	ld->obj = NULL;
	ld->meta = NULL;
}

/*
 * Start a section from the text between the brackets: "global",
 * "listener NAME", "upstream NAME" or "route NAME".
 */
static void
section_begin(struct loader *ld, char *hdr)
{
	struct conf		*conf = ld->conf;
	struct conf_listener	*nl;
	struct conf_upstream	*nu;
	struct conf_route	*nr;
	struct meta		*nm;
	enum sec_kind		 kind;
	const char		*what, *file = NULL;
	char			*name, *sp, *dup;
	int			 first = 0;
	size_t			 i;

	section_end(ld);
	if ((sp = strchr(hdr, ' ')) != NULL) {
		*sp = '\0';
		name = sp + 1;
	} else
		name = NULL;

	if (strcmp(hdr, "global") == 0) {
		if (name != NULL) {
			conf_err(ld, ld->lineno, "[global] takes no name");
			return;
		}
		snprintf(ld->label, sizeof(ld->label), "[global]");
		ld->kind = SEC_GLOBAL;
		if (ld->global_line != 0) {
			conf_err(ld, ld->lineno, "duplicate [global] section "
			    "(first at %s:%d)", ld->file, ld->global_line);
			global_defaults(&ld->sg);
			memset(&ld->smeta, 0, sizeof(ld->smeta));
			ld->obj = &ld->sg;
			ld->meta = &ld->smeta;
			ld->scratch = 1;
			return;
		}
		ld->global_line = ld->lineno;
		ld->obj = &conf->g;
		ld->meta = &ld->gmeta;
		return;
	}
	if (strcmp(hdr, "cache") == 0) {
		if (name != NULL) {
			conf_err(ld, ld->lineno, "[cache] takes no name");
			return;
		}
		snprintf(ld->label, sizeof(ld->label), "[cache]");
		ld->kind = SEC_CACHE;
		if (conf->cache.line != 0) {
			conf_err(ld, ld->lineno, "duplicate [cache] section "
			    "(first at %s:%d)", ld->file, conf->cache.line);
			cache_defaults(&ld->scache);
			memset(&ld->smeta, 0, sizeof(ld->smeta));
			ld->obj = &ld->scache;
			ld->meta = &ld->smeta;
			ld->scratch = 1;
			return;
		}
		conf->cache.line = ld->lineno;
		ld->obj = &conf->cache;
		ld->meta = &ld->cmeta;
		return;
	}
	if (strcmp(hdr, "listener") == 0)
		kind = SEC_LISTENER;
	else if (strcmp(hdr, "upstream") == 0)
		kind = SEC_UPSTREAM;
	else if (strcmp(hdr, "route") == 0)
		kind = SEC_ROUTE;
	else {
		if (sp != NULL)
			*sp = ' ';
		conf_err(ld, ld->lineno, "unknown section [%s]", hdr);
		return;
	}
	what = hdr;
	if (name == NULL) {
		conf_err(ld, ld->lineno, "[%s] needs a name, as in [%s NAME]",
		    what, what);
		return;
	}
	if (!valid_name(name)) {
		conf_err(ld, ld->lineno, "bad %s name '%s': use one name of "
		    "letters, digits, '_', '.' and '-'", what, name);
		return;
	}
	if (strlen(name) > CONF_MAX_NAME) {
		conf_err(ld, ld->lineno, "%s name '%.20s...' is longer than %d "
		    "characters", what, name, CONF_MAX_NAME);
		return;
	}
	snprintf(ld->label, sizeof(ld->label), "[%s %s]", what, name);

	/* Is the name taken? */
	switch (kind) {
	case SEC_LISTENER:
		for (i = 0; i < conf->nlisteners; i++)
			if (strcmp(conf->listeners[i].name, name) == 0) {
				file = conf->listeners[i].file;
				first = conf->listeners[i].line;
			}
		break;
	case SEC_UPSTREAM:
		for (i = 0; i < conf->nupstreams; i++)
			if (strcmp(conf->upstreams[i].name, name) == 0) {
				file = conf->upstreams[i].file;
				first = conf->upstreams[i].line;
			}
		break;
	default:
		for (i = 0; i < conf->nroutes; i++)
			if (strcmp(conf->routes[i].name, name) == 0) {
				file = conf->routes[i].file;
				first = conf->routes[i].line;
			}
		break;
	}
	if (first != 0)
		conf_err(ld, ld->lineno, "duplicate %s '%s' (first at %s:%d)",
		    what, name, file, first);

	if ((dup = xstrdup(ld, name)) == NULL)
		return;
	memset(&ld->smeta, 0, sizeof(ld->smeta));
	ld->meta = &ld->smeta;
	ld->scratch = first != 0;

	switch (kind) {
	case SEC_LISTENER:
		if (ld->scratch)
			ld->obj = &ld->sl;
		else {
			if ((nl = grow(ld, conf->listeners, conf->nlisteners,
			    sizeof(*nl))) == NULL)
				goto fail;
			conf->listeners = nl;
			if ((nm = grow(ld, ld->lmeta, conf->nlisteners,
			    sizeof(*nm))) == NULL)
				goto fail;
			ld->lmeta = nm;
			ld->obj = &conf->listeners[conf->nlisteners];
			ld->meta = &ld->lmeta[conf->nlisteners];
			conf->nlisteners++;
		}
		listener_defaults(ld->obj);
		nl = ld->obj;
		nl->name = dup;
		nl->file = ld->file;
		nl->line = ld->lineno;
		break;
	case SEC_UPSTREAM:
		if (ld->scratch)
			ld->obj = &ld->su;
		else {
			if ((nu = grow(ld, conf->upstreams, conf->nupstreams,
			    sizeof(*nu))) == NULL)
				goto fail;
			conf->upstreams = nu;
			if ((nm = grow(ld, ld->umeta, conf->nupstreams,
			    sizeof(*nm))) == NULL)
				goto fail;
			ld->umeta = nm;
			ld->obj = &conf->upstreams[conf->nupstreams];
			ld->meta = &ld->umeta[conf->nupstreams];
			conf->nupstreams++;
		}
		upstream_defaults(ld->obj);
		nu = ld->obj;
		nu->name = dup;
		nu->file = ld->file;
		nu->line = ld->lineno;
		break;
	default:
		if (ld->scratch)
			ld->obj = &ld->sr;
		else {
			if ((nr = grow(ld, conf->routes, conf->nroutes,
			    sizeof(*nr))) == NULL)
				goto fail;
			conf->routes = nr;
			if ((nm = grow(ld, ld->rmeta, conf->nroutes,
			    sizeof(*nm))) == NULL)
				goto fail;
			ld->rmeta = nm;
			ld->obj = &conf->routes[conf->nroutes];
			ld->meta = &ld->rmeta[conf->nroutes];
			conf->nroutes++;
		}
		nr = ld->obj;
		(void)route_defaults(ld, nr);
		nr->name = dup;
		nr->file = ld->file;
		nr->line = ld->lineno;
		break;
	}
	memset(ld->meta, 0, sizeof(*ld->meta));
	ld->kind = kind;
	return;
fail:
	free(dup);
	ld->obj = NULL;
	ld->meta = NULL;
	ld->scratch = 0;
}

/*
 * The ini_reader: hand inih one line at a time, after checking it.  See
 * the comment at the top of the file.
 */
static char *
conf_reader(char *str, int num, void *stream)
{
	struct loader	*ld = stream;
	char		*line = ld->buf, *p, *end, *q;
	size_t		 len = 0, got = 0;
	int		 c, nul = 0, overflow = 0, cut = 0;

	if (num < 1)
		return NULL;
	while ((c = getc(ld->fp)) != EOF) {
		got++;
		if (c == '\n')
			break;
		if (c == '\0')
			nul = 1;
		if (len < sizeof(ld->buf) - 1)
			line[len++] = (char)c;
		else
			overflow = 1;
	}
	if (c == EOF && ferror(ld->fp)) {
		ld->read_errno = errno ? errno : EIO;
		return NULL;
	}
	if (got == 0)
		return NULL;
	ld->lineno++;
	line[len] = '\0';
	str[0] = '\0';

	if (nul) {
		conf_err(ld, ld->lineno, "line contains a NUL byte");
		return str;
	}
	if (len > 0 && line[len - 1] == '\r' && !overflow)
		line[--len] = '\0';
	if (ld->lineno == 1 && strncmp(line, "\xef\xbb\xbf", 3) == 0)
		line += 3;

	for (p = line; isspace((unsigned char)*p); p++)
		;
	/* Blank lines and comments. */
	if (*p == '\0' || *p == ';' || *p == '#')
		return str;
	if (p != line) {
		conf_err(ld, ld->lineno, "continuation lines are not "
		    "supported (remove the leading blanks)");
		return str;
	}

	/* Drop an inline comment: ';' after a blank, as inih does. */
	for (q = p + 1; *q != '\0'; q++) {
		if (*q == ';' && isspace((unsigned char)q[-1])) {
			*q = '\0';
			cut = 1;
			break;
		}
	}
	end = p + strlen(p);
	while (end > p && isspace((unsigned char)end[-1]))
		*--end = '\0';
	if ((overflow && !cut) || end - p > num - 1) {
		conf_err(ld, ld->lineno, "line too long (at most %d "
		    "characters before any comment)", num - 1);
		return str;
	}

	if (*p == '[') {
		if ((q = strchr(p, ']')) == NULL) {
			conf_err(ld, ld->lineno, "syntax error: missing ']'");
			return str;
		}
		if (q[1] != '\0') {
			conf_err(ld, ld->lineno, "syntax error: text after "
			    "']'");
			return str;
		}
		memcpy(str, p, (size_t)(end - p) + 1);
		*q = '\0';
		section_begin(ld, p + 1);
		return str;
	}
	if (strpbrk(p, "=:") == NULL) {
		conf_err(ld, ld->lineno, "syntax error: expected "
		    "'key = value' or '[section]'");
		return str;
	}
	memcpy(str, p, (size_t)(end - p) + 1);
	return str;
}

static int
conf_handler(void *user, const char *section, const char *name,
    const char *value)
{
	struct loader		*ld = user;
	const struct key	*keys;
	size_t			 i, n;

	(void)section;		/* The reader keeps the real one. */
	if (name == NULL || value == NULL)
		return 1;
	if (ld->kind == SEC_NONE) {
		conf_err(ld, ld->lineno, "key '%s' outside of any section "
		    "(add [global] or another section above it)", name);
		return 1;
	}
	if (ld->kind == SEC_IGNORE || ld->obj == NULL)
		return 1;
	if (*name == '\0') {
		conf_err(ld, ld->lineno, "missing key name before '='");
		return 1;
	}
	keys = section_keys(ld->kind, &n);
	for (i = 0; i < n; i++)
		if (strcmp(keys[i].name, name) == 0)
			break;
	if (i == n) {
		conf_err(ld, ld->lineno, "unknown key '%s' in %s", name,
		    ld->label);
		return 1;
	}
	if (keys[i].type != K_UNSUPPORTED) {
		if (ld->meta->seen[i] != 0 && !keys[i].repeat) {
			conf_err(ld, ld->lineno, "duplicate key '%s' in %s "
			    "(first at %s:%d)", name, ld->label, ld->file,
			    ld->meta->seen[i]);
			return 1;
		}
		if (ld->meta->seen[i] == 0)
			ld->meta->seen[i] = ld->lineno;
		if (*value == '\0') {
			conf_err(ld, ld->lineno, "empty value for '%s'", name);
			return 1;
		}
	}
	set_value(ld, &keys[i], value);
	return 1;
}

/* The TLS keys of a listener, once its section is read. */
static void
listener_tls_finish(struct loader *ld, struct conf_listener *l,
    const struct meta *m)
{
	static const char *const needs_cert[] = {
		"tls_protocols", "tls_ciphers", "tls_ciphersuites",
		"tls_client_ca", "tls_verify_client", "tls_handshake_timeout"
	};
	size_t	 k;
	int	 line;

	if (l->ntls_cert != l->ntls_key) {
		line = l->ntls_cert > l->ntls_key ?
		    l->tls_cert[l->ntls_key].line : l->tls_key[l->ntls_cert].line;
		conf_err(ld, line, "listener '%s': %zu tls_certificate but %zu "
		    "tls_key (each certificate needs its key, in the same order)",
		    l->name, l->ntls_cert, l->ntls_key);
	}
	if (l->ntls_cert == 0) {
		for (k = 0; k < NKEYS(needs_cert); k++)
			if ((line = key_line(ld, SEC_LISTENER, m, needs_cert[k])) != 0)
				conf_err(ld, line, "listener '%s': %s needs "
				    "tls_certificate", l->name, needs_cert[k]);
		return;
	}
	if (l->redirect_https)
		conf_err(ld, key_line(ld, SEC_LISTENER, m, "redirect"),
		    "listener '%s': redirect = https is for a listener without "
		    "TLS", l->name);
	if (l->tls_verify_client != TLS_VERIFY_OFF && l->tls_client_ca.path == NULL)
		conf_err(ld, key_line(ld, SEC_LISTENER, m, "tls_verify_client"),
		    "listener '%s': tls_verify_client needs tls_client_ca",
		    l->name);
	if (l->tls_verify_client == TLS_VERIFY_OFF && l->tls_client_ca.path != NULL)
		conf_err(ld, l->tls_client_ca.line, "listener '%s': "
		    "tls_client_ca needs tls_verify_client = on or optional",
		    l->name);
}

/* The TLS keys of an upstream: tls = on makes every server speak TLS. */
static void
upstream_tls_finish(struct loader *ld, struct conf_upstream *u,
    const struct meta *m)
{
	static const char *const needs_tls[] = {
		"tls_ca", "tls_server_name", "tls_verify"
	};
	size_t	 k;
	int	 any = 0, line;

	for (k = 0; k < u->nservers; k++) {
		if (u->tls)
			u->servers[k].tls = 1;
		any |= u->servers[k].tls;
	}
	if (any && u->health == HEALTH_HTTP)
		conf_err(ld, key_line(ld, SEC_UPSTREAM, m, "health_check"),
		    "upstream '%s': HTTP health checks do not speak TLS yet; "
		    "use health_check = tcp for TLS servers", u->name);
	if (any)
		return;
	for (k = 0; k < NKEYS(needs_tls); k++)
		if ((line = key_line(ld, SEC_UPSTREAM, m, needs_tls[k])) != 0)
			conf_err(ld, line, "upstream '%s': %s needs tls = on or "
			    "a server with the tls option", u->name, needs_tls[k]);
}

/*
 * The second pass: required keys, references, and checks that need the
 * whole file.
 */
static void
conf_finish(struct loader *ld)
{
	struct conf		*conf = ld->conf;
	struct conf_global	*g = &conf->g;
	struct conf_listener	*l;
	struct conf_upstream	*u;
	struct conf_route	*r, *r2;
	size_t			 i, j;
	long			 ncpu;
	int			 line;

	section_end(ld);

	if (g->workers == 0) {
		ncpu = sysconf(_SC_NPROCESSORS_ONLN);
		if (ncpu < 1)
			ncpu = 1;
		if (ncpu > WORKERS_MAX)
			ncpu = WORKERS_MAX;
		g->workers = (int)ncpu;
	}
	g->user_line = key_line(ld, SEC_GLOBAL, &ld->gmeta, "user");
	g->group_line = key_line(ld, SEC_GLOBAL, &ld->gmeta, "group");
	g->pid_file_line = key_line(ld, SEC_GLOBAL, &ld->gmeta, "pid_file");
	g->error_log_line = key_line(ld, SEC_GLOBAL, &ld->gmeta, "error_log");
	g->access_log_line = key_line(ld, SEC_GLOBAL, &ld->gmeta,
	    "access_log");
	if (g->group != NULL && g->user == NULL)
		conf_err(ld, g->group_line, "group needs user to be set too");
	/*
	 * The daemon runs from /: a relative path would land there, so a
	 * log target misspelled as a file name is refused rather than
	 * written to /syslog.
	 */
	if (g->pid_file != NULL && g->pid_file[0] != '/')
		conf_err(ld, g->pid_file_line, "pid_file '%s' must be an "
		    "absolute path", g->pid_file);
	if (g->error_log != NULL && g->error_log[0] != '/' &&
	    strcmp(g->error_log, "stderr") != 0 &&
	    strcmp(g->error_log, "syslog") != 0)
		conf_err(ld, g->error_log_line, "error_log '%s' must be an "
		    "absolute path, stderr or syslog", g->error_log);
	if (g->access_log != NULL && g->access_log[0] != '/')
		conf_err(ld, g->access_log_line, "access_log '%s' must be an "
		    "absolute path or off", g->access_log);
	if (g->buffer_size < g->max_header_size + 1024) {
		line = key_line(ld, SEC_GLOBAL, &ld->gmeta, "buffer_size");
		if (line == 0)
			line = key_line(ld, SEC_GLOBAL, &ld->gmeta,
			    "max_header_size");
		conf_err(ld, line, "buffer_size must be at least "
		    "max_header_size + 1k");
	}
	if (g->client_body_temp_path == NULL)
		g->client_body_temp_path = xstrdup(ld, "/var/tmp");
	else {
		struct stat	 st;

		line = key_line(ld, SEC_GLOBAL, &ld->gmeta, "client_body_temp_path");
		g->client_body_temp_path_line = line;
		if (g->client_body_temp_path[0] != '/')
			conf_err(ld, line, "client_body_temp_path '%s' is not an "
			    "absolute path", g->client_body_temp_path);
		else if (stat(g->client_body_temp_path, &st) == -1)
			conf_err(ld, line, "client_body_temp_path '%s': %s",
			    g->client_body_temp_path, strerror(errno));
		else if (!S_ISDIR(st.st_mode))
			conf_err(ld, line, "client_body_temp_path '%s' is not a "
			    "directory", g->client_body_temp_path);
	}
	for (i = 0; i < conf->nroutes; i++)
		if (conf->routes[i].request_buffering == -1)
			conf->routes[i].request_buffering = g->request_buffering;

	if (conf->cache.npurge_allow == 0 &&
	    key_line(ld, SEC_CACHE, &ld->cmeta, "purge_allow") == 0)
		/* PURGE is for the operator: loopback only by default. */
		cidr_list_add(ld, "purge_allow", "127.0.0.0/8 ::1",
		    &conf->cache.purge_allow, &conf->cache.npurge_allow);

	for (i = 0; i < conf->nlisteners; i++) {
		l = &conf->listeners[i];
		if (l->naddrs == 0 &&
		    key_line(ld, SEC_LISTENER, &ld->lmeta[i], "listen") == 0)
			conf_err(ld, l->line, "listener '%s' has no listen "
			    "address", l->name);
		if (l->naddrs > 0) {
			if ((l->fds = reallocarray(NULL, l->naddrs,
			    sizeof(*l->fds))) == NULL) {
				ld->oom = 1;
				continue;
			}
			for (j = 0; j < l->naddrs; j++)
				l->fds[j] = -1;
		}
		listener_tls_finish(ld, l, &ld->lmeta[i]);
	}
	for (i = 0; i < conf->nupstreams; i++) {
		u = &conf->upstreams[i];
		if (u->nservers == 0 &&
		    key_line(ld, SEC_UPSTREAM, &ld->umeta[i], "server") == 0)
			conf_err(ld, u->line, "upstream '%s' has no server",
			    u->name);
		if (key_line(ld, SEC_UPSTREAM, &ld->umeta[i], "hash_key") != 0 &&
		    u->balance != BALANCE_HASH)
			conf_err(ld, key_line(ld, SEC_UPSTREAM, &ld->umeta[i],
			    "hash_key"), "upstream '%s': hash_key needs "
			    "balance = hash", u->name);
		upstream_tls_finish(ld, u, &ld->umeta[i]);
	}
	for (i = 0; i < conf->nroutes; i++) {
		r = &conf->routes[i];
		if (r->normalize_path == -1)
			r->normalize_path = g->normalize_path;
		if (r->pass_client_identity_headers == -1)
			r->pass_client_identity_headers =
			    g->pass_client_identity_headers;
		if (r->listener_name != NULL) {
			for (j = 0; j < conf->nlisteners; j++)
				if (strcmp(conf->listeners[j].name,
				    r->listener_name) == 0)
					r->listener = &conf->listeners[j];
			if (r->listener == NULL)
				conf_err(ld, key_line(ld, SEC_ROUTE,
				    &ld->rmeta[i], "listener"), "route '%s': "
				    "no listener named '%s'", r->name,
				    r->listener_name);
		}
		if (r->cache) {
			if (r->handler == HANDLER_STATUS)
				conf_err(ld, key_line(ld, SEC_ROUTE, &ld->rmeta[i],
				    "cache"), "route '%s': a status route cannot "
				    "be cached", r->name);
			conf->cache_used = 1;
		}
		if (r->handler == HANDLER_STATUS) {
			if (r->upstream_name != NULL)
				conf_err(ld, key_line(ld, SEC_ROUTE, &ld->rmeta[i],
				    "upstream"), "route '%s': a status route has "
				    "no upstream", r->name);
			if (r->nallow == 0 && key_line(ld, SEC_ROUTE,
			    &ld->rmeta[i], "allow") == 0) {
				/* Status is for the operator: loopback only by default. */
				key_allow(ld, r, "127.0.0.0/8 ::1");
			}
		} else if (r->upstream_name == NULL) {
			if (key_line(ld, SEC_ROUTE, &ld->rmeta[i],
			    "upstream") == 0)
				conf_err(ld, r->line, "route '%s' has no "
				    "upstream", r->name);
		} else {
			for (j = 0; j < conf->nupstreams; j++)
				if (strcmp(conf->upstreams[j].name,
				    r->upstream_name) == 0)
					r->upstream = &conf->upstreams[j];
			if (r->upstream == NULL)
				conf_err(ld, key_line(ld, SEC_ROUTE,
				    &ld->rmeta[i], "upstream"), "route '%s': "
				    "no upstream named '%s'", r->name,
				    r->upstream_name);
		}
		if (r->host == NULL || r->path == NULL)
			continue;
		for (j = 0; j < i; j++) {
			r2 = &conf->routes[j];
			if (r2->host == NULL || r2->path == NULL)
				continue;
			if ((r->listener_name == NULL) !=
			    (r2->listener_name == NULL))
				continue;
			if (r->listener_name != NULL &&
			    strcmp(r->listener_name, r2->listener_name) != 0)
				continue;
			if (r->host_kind != r2->host_kind ||
			    strcmp(r->host, r2->host) != 0 ||
			    strcmp(r->path, r2->path) != 0)
				continue;
			conf_err(ld, r->line, "duplicate route: '%s' has the "
			    "same listener, host and path as '%s' (%s:%d)",
			    r->name, r2->name, r2->file, r2->line);
			break;
		}
	}
	if (conf->nlisteners == 0)
		conf_err(ld, 0, "no [listener] section");
	if (conf->nroutes == 0)
		conf_err(ld, 0, "no [route] section");
}

/* The error text when memory ran out: may itself be NULL. */
static char *
oom_message(const char *path)
{
	size_t	 len = strlen(path) + sizeof(": out of memory\n");
	char	*s;

	if ((s = malloc(len)) != NULL)
		snprintf(s, len, "%s: out of memory\n", path);
	return s;
}

struct conf *
conf_load(const char *path, char **errors)
{
	struct loader	*ld;
	struct conf	*conf;
	char		*ret_err = NULL;
	int		 rc, failed;

	if (errors != NULL)
		*errors = NULL;
	if (path == NULL)
		return NULL;
	if ((ld = calloc(1, sizeof(*ld))) == NULL ||
	    (conf = calloc(1, sizeof(*conf))) == NULL) {
		free(ld);
		goto oom;
	}
	ld->conf = conf;
	global_defaults(&conf->g);
	cache_defaults(&conf->cache);
	if ((conf->path = strdup(path)) == NULL ||
	    (conf->files = calloc(1, sizeof(*conf->files))) == NULL ||
	    (conf->files[0] = strdup(path)) == NULL ||
	    (conf->g.pid_file = strdup(PORTICO_DEFAULT_PID_FILE)) == NULL ||
	    (conf->g.error_log = strdup("stderr")) == NULL) {
		if (conf->files != NULL && conf->files[0] != NULL)
			conf->nfiles = 1;
		conf_free(conf);
		free(ld);
		goto oom;
	}
	conf->nfiles = 1;
	ld->file = conf->files[0];
	ld->kind = SEC_NONE;

	if ((ld->fp = fopen(path, "re")) == NULL) {
		conf_err(ld, 0, "cannot open: %s", strerror(errno));
	} else {
		rc = ini_parse_stream(conf_reader, ld, conf_handler, ld);
		if (ld->read_errno != 0)
			conf_err(ld, 0, "read error: %s",
			    strerror(ld->read_errno));
		else if (rc > 0 && ld->nerrors == 0)
			conf_err(ld, rc, "syntax error");
		else if (rc < 0)
			conf_err(ld, 0, "cannot parse (error %d)", rc);
		fclose(ld->fp);
		if (ld->read_errno == 0)
			conf_finish(ld);
	}

	/* Drop whatever a duplicate section left behind. */
	section_end(ld);
	failed = ld->nerrors > 0 || ld->oom;
	if (ld->oom) {
		free(ld->errors);
		ld->errors = NULL;
		ret_err = oom_message(path);
	} else
		ret_err = ld->errors;
	free(ld->taken);
	free(ld->lmeta);
	free(ld->umeta);
	free(ld->rmeta);
	free(ld);
	if (failed) {
		conf_free(conf);
		if (errors != NULL)
			*errors = ret_err;
		else
			free(ret_err);
		return NULL;
	}
	free(ret_err);
	return conf;
oom:
	if (errors != NULL)
		*errors = oom_message(path);
	return NULL;
}

/* The error text of conf_check(): like conf_err() without a loader. */
static void
check_err(char **errs, const char *file, int line, const char *fmt, ...)
{
	va_list	 ap;
	char	 msg[1024], *n;
	size_t	 old = *errs != NULL ? strlen(*errs) : 0, need;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	need = old + strlen(file) + strlen(msg) + 24;
	if ((n = realloc(*errs, need)) == NULL) {
		/* Say at least that it failed. */
		if (*errs == NULL)
			*errs = strdup("portico: out of memory\n");
		return;
	}
	if (line > 0)
		snprintf(n + old, need - old, "%s:%d: %s\n", file, line, msg);
	else
		snprintf(n + old, need - old, "%s: %s\n", file, msg);
	*errs = n;
}

int
conf_open_log(const char *path)
{
	struct stat	 st;
	int		 fd, flags;

	/*
	 * No symbolic link, except under /dev, where only root creates
	 * them: /dev/stdout and /dev/stderr are how containers log.
	 */
	flags = O_WRONLY | O_APPEND | O_CREAT | O_NONBLOCK | O_CLOEXEC;
	if (strncmp(path, "/dev/", 5) != 0)
		flags |= O_NOFOLLOW;
	if ((fd = open(path, flags, 0644)) == -1)
		return -1;
	if (fstat(fd, &st) == -1 || !(S_ISREG(st.st_mode) ||
	    S_ISCHR(st.st_mode) || S_ISFIFO(st.st_mode))) {
		close(fd);
		errno = EINVAL;
		return -1;
	}
	/* O_NONBLOCK was only so that a FIFO without a reader fails. */
	if (fcntl(fd, F_SETFL, O_APPEND) == -1) {
		close(fd);
		return -1;
	}
	return fd;
}

const char *
conf_log_strerror(int err)
{
	if (err == ELOOP)
		return "it is a symbolic link";
	if (err == EINVAL)
		return "not a regular file, device or pipe";
	return strerror(err);
}

/* The directory of path exists: 0, else -1 with errno set. */
static int
dir_exists(const char *path)
{
	char		*copy, *dir;
	struct stat	 st;
	int		 rc;

	if ((copy = strdup(path)) == NULL)
		return -1;
	dir = dirname(copy);
	rc = stat(dir, &st);
	if (rc == 0 && !S_ISDIR(st.st_mode)) {
		errno = ENOTDIR;
		rc = -1;
	}
	free(copy);
	return rc;
}

static void
check_log(char **errs, const char *file, int line, const char *key,
    const char *path)
{
	int	 fd;

	if (dir_exists(path) == -1) {
		check_err(errs, file, line, "%s %s: directory: %s", key, path,
		    strerror(errno));
		return;
	}
	if ((fd = conf_open_log(path)) == -1) {
		check_err(errs, file, line, "%s %s: cannot open: %s", key,
		    path, conf_log_strerror(errno));
		return;
	}
	close(fd);
}

/* Whether a route (or the global default) reads request bodies first. */
static int
buffering_used(const struct conf *conf)
{
	size_t	 i;

	for (i = 0; i < conf->nroutes; i++)
		if (conf->routes[i].request_buffering)
			return 1;
	return conf->g.request_buffering;
}

/*
 * Whether uid/gid (the workers: one group, no supplementary ones) may
 * create files in directory dir, by its mode bits.  A directory that
 * cannot be read counts as writable: the workers will say so themselves.
 */
static int
dir_writable_by(const char *dir, uid_t uid, gid_t gid)
{
	struct stat	 st;
	mode_t		 need;

	if (stat(dir, &st) == -1)
		return 1;
	if (st.st_uid == uid)
		need = S_IWUSR | S_IXUSR;
	else if (st.st_gid == gid)
		need = S_IWGRP | S_IXGRP;
	else
		need = S_IWOTH | S_IXOTH;
	return (st.st_mode & need) == need;
}

int
conf_check(struct conf *conf, char **errors)
{
	struct conf_global	*g = &conf->g;
	struct passwd		*pw;
	struct group		*gr;
	char			*errs = NULL;
	const char		*file = conf->path;

	*errors = NULL;
	g->drop = 0;
	if (g->user == NULL && geteuid() == 0) {
		/* Like nginx: a root master never leaves its workers root. */
		free(g->user);
		if ((g->user = strdup(PORTICO_USER)) == NULL) {
			check_err(&errs, file, 0, "out of memory");
			goto out;
		}
		g->user_default = 1;
	}
	if (g->user != NULL) {
		errno = 0;
		if ((pw = getpwnam(g->user)) == NULL) {
			if (g->user_default)
				check_err(&errs, file, 0, "no user set and the "
				    "default user %s does not exist: set user "
				    "in [global]", g->user);
			else
				check_err(&errs, file, g->user_line,
				    "unknown user %s", g->user);
		} else {
			g->uid = pw->pw_uid;
			g->gid = pw->pw_gid;
			g->drop = geteuid() == 0;
		}
	}
	if (g->group != NULL) {
		if ((gr = getgrnam(g->group)) == NULL)
			check_err(&errs, file, g->group_line,
			    "unknown group %s", g->group);
		else
			g->gid = gr->gr_gid;
	}
	if (g->pid_file != NULL && dir_exists(g->pid_file) == -1)
		check_err(&errs, file, g->pid_file_line, "pid_file %s: "
		    "directory: %s", g->pid_file, strerror(errno));
	if (g->error_log != NULL && g->error_log[0] == '/')
		check_log(&errs, file, g->error_log_line, "error_log",
		    g->error_log);
	if (g->access_log != NULL)
		check_log(&errs, file, g->access_log_line, "access_log",
		    g->access_log);
	if (g->drop && buffering_used(conf) &&
	    !dir_writable_by(g->client_body_temp_path, g->uid, g->gid))
		check_err(&errs, file, g->client_body_temp_path_line,
		    "client_body_temp_path %s: the workers (uid %d, gid %d) "
		    "cannot create files there", g->client_body_temp_path,
		    (int)g->uid, (int)g->gid);
out:
	if (errs == NULL)
		return 0;
	g->drop = 0;
	*errors = errs;
	return -1;
}

void
conf_free(struct conf *conf)
{
	size_t	 i;

	if (conf == NULL)
		return;
	tls_conf_free(conf);
	for (i = 0; i < conf->nlisteners; i++)
		listener_clear(&conf->listeners[i]);
	free(conf->listeners);
	for (i = 0; i < conf->nupstreams; i++)
		upstream_clear(&conf->upstreams[i]);
	free(conf->upstreams);
	for (i = 0; i < conf->nroutes; i++)
		route_clear(&conf->routes[i]);
	free(conf->routes);
	global_clear(&conf->g);
	cache_clear(&conf->cache);
	for (i = 0; i < conf->nfiles; i++)
		free(conf->files[i]);
	free(conf->files);
	free(conf->path);
	free(conf);
}
