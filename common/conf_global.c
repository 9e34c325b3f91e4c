/*
 * conf_global.c: the [global] section: process settings (workers, user,
 * pid file, logs), client limits and timeouts, request-target
 * normalization defaults, and their checks once the file is read.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <sys/types.h>
#include <sys/stat.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/conf.h"
#include "common/conf_int.h"
#include "common/http.h"

static void	 key_workers(struct loader *, void *, const char *);
static void	 key_log_level(struct loader *, void *, const char *);
static void	 key_trusted_proxies(struct loader *, void *, const char *);
static void	 key_real_ip_header(struct loader *, void *, const char *);
static void	 key_request_id_header(struct loader *, void *, const char *);
static void	 key_g_request_buffering(struct loader *, void *, const char *);
static void	 key_pass_request_trailers(struct loader *, void *, const char *);
static void	 key_resolver(struct loader *, void *, const char *);
static void	 key_waf_rules(struct loader *, void *, const char *);
static int	 global_taken(struct loader *, const char *, const char **);
static int	 global_open(struct loader *, char *);
static void	 global_discard(struct loader *);
static void	 global_finish(struct loader *);
static void	 global_paths_finish(struct loader *);
static void	 global_temp_path_finish(struct loader *);

static const char *const level_names[] = {
	"debug", "info", "notice", "warn", "error"
};

#define G(f)	offsetof(struct conf_global, f)

static const struct key global_keys[] = {
	{ "workers", K_FUNC, 0, 0, 0, 0, key_workers, NULL },
	{ "user", K_STRING, G(user), 0, 0, 0, NULL, NULL },
	{ "group", K_STRING, G(group), 0, 0, 0, NULL, NULL },
	{ "pid_file", K_STRING, G(pid_file), 0, 0, 0, NULL, NULL },
	{ "error_log", K_STRING, G(error_log), 0, 0, 0, NULL, NULL },
	{ "log_level", K_FUNC, 0, 0, 0, 0, key_log_level, NULL },
	{ "trusted_proxies", K_FUNC, 0, 0, 0, 1, key_trusted_proxies, NULL },
	{ "real_ip_header", K_FUNC, 0, 0, 0, 0, key_real_ip_header, NULL },
	{ "access_log", K_FUNC, 0, 0, 0, 1, conf_key_access_log, NULL },
	{ "log_format", K_FUNC, 0, 0, 0, 1, conf_key_log_format, NULL },
	{ "access_log_format", K_FUNC, 0, 0, 0, 0, conf_key_access_log_format,
	    NULL },
	{ "request_id", K_ONOFF, G(request_id), 0, 0, 0, NULL, NULL },
	{ "request_id_header", K_FUNC, 0, 0, 0, 0, key_request_id_header, NULL },
	{ "trace", K_ONOFF, G(trace), 0, 0, 0, NULL, NULL },
	{ "error_page", K_FUNC, 0, 0, 0, 1, conf_errpage_global, NULL },
	{ "worker_connections", K_INT, G(worker_connections), 1, 1000000, 0,
	    NULL, NULL },
	{ "limit_table_size", K_INT, G(limit_table_size), 8, 16384, 0,
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
	{ "tunnel_idle_timeout", K_DURATION, G(tunnel_idle_timeout_ms), 1, 0, 0,
	    NULL, NULL },
	{ "client_body_buffer_size", K_SIZE, G(client_body_buffer_size), 1 << 10,
	    1 << 30, 0, NULL, NULL },
	{ "client_body_temp_path", K_STRING, G(client_body_temp_path), 0, 0, 0,
	    NULL, NULL },
	{ "client_body_min_rate", K_SIZE64, G(client_body_min_rate), 0, INT64_MAX,
	    0, NULL, NULL },
	{ "pass_request_trailers", K_FUNC, 0, 0, 0, 0, key_pass_request_trailers,
	    NULL },
	/* DNS for the servers of resolve and srv lines. */
	{ "resolver", K_FUNC, 0, 0, 0, 0, key_resolver, NULL },
	{ "resolver_timeout", K_DURATION, G(resolver_timeout_ms), 100, 0, 0,
	    NULL, NULL },
	{ "dns_min_ttl", K_DURATION, G(dns_min_ttl_ms), 100, 0, 0, NULL, NULL },
	{ "dns_max_ttl", K_DURATION, G(dns_max_ttl_ms), 100, 0, 0, NULL, NULL },
	/* HTTP/2 to clients */
	{ "http2_max_concurrent_streams", K_INT,
	    G(http2_max_concurrent_streams), 1, 10000, 0, NULL, NULL },
	{ "http2_max_header_list_size", K_SIZE, G(http2_max_header_list_size),
	    1 << 10, 1 << 24, 0, NULL, NULL },
	{ "http2_max_resets", K_INT, G(http2_max_resets), 1, 1000000, 0,
	    NULL, NULL },
	{ "http2_max_control_frames", K_INT, G(http2_max_control_frames), 1,
	    1000000, 0, NULL, NULL },
	/* TLS */
	{ "tls_ticket_rotation", K_DURATION, G(tls_ticket_rotation_ms),
	    60 * 1000, 0, 0, NULL, NULL },
	/* The web application firewall (common/waf.c, worker/waf.c). */
	{ "waf_rules", K_FUNC, 0, 0, 0, 1, key_waf_rules, NULL },
	{ "waf_body_limit", K_SIZE64, G(waf_body_limit), 1 << 10, 1 << 30, 0,
	    NULL, NULL },
};

_Static_assert(NKEYS(global_keys) <= MAX_KEYS, "raise MAX_KEYS");

const struct conf_section conf_sec_global = {
	"global", SEC_GLOBAL, 0, global_keys, NKEYS(global_keys),
	global_taken, global_open, global_discard, global_finish
};

const char *
conf_log_level_name(enum log_level level)
{
	if ((unsigned)level >= NKEYS(level_names))
		return "unknown";
	return level_names[level];
}

void
conf_global_defaults(struct conf_global *g)
{
	memset(g, 0, sizeof(*g));
	g->workers = 0;			/* auto, resolved at the end */
	g->log_level = LOG_LVL_INFO;
	g->worker_connections = 10000;
	g->limit_table_size = 16384;
	g->shutdown_timeout_ms = 30 * 1000;
	g->client_header_timeout_ms = 30 * 1000;
	g->real_ip_header = REAL_IP_XFF;
	g->client_body_timeout_ms = 60 * 1000;
	g->keepalive_timeout_ms = 75 * 1000;
	g->send_timeout_ms = 60 * 1000;
	g->max_request_line = 8 << 10;
	g->max_header_size = 16 << 10;
	g->max_headers = 100;
	g->max_body_size = 0;
	g->buffer_size = 32 << 10;
	g->request_buffering = 1;
	g->tunnel_idle_timeout_ms = 600 * 1000;
	g->client_body_buffer_size = 16 << 10;
	g->client_body_min_rate = 1 << 10;
	g->http2_max_concurrent_streams = 100;
	g->http2_max_header_list_size = 32 << 10;
	g->http2_max_resets = 200;
	g->http2_max_control_frames = 1000;
	g->tls_ticket_rotation_ms = 60 * 60 * 1000;
	g->resolver_timeout_ms = 5 * 1000;
	g->dns_min_ttl_ms = 1000;
	g->dns_max_ttl_ms = 5 * 60 * 1000;
	g->waf_body_limit = 1 << 20;
	g->merge_slashes = 1;
	g->normalize_path = 1;
}

void
conf_global_clear(struct conf_global *g)
{
	size_t	 i;

	free(g->user);
	free(g->group);
	free(g->pid_file);
	free(g->error_log);
	conf_alog_global_clear(g);
	vars_free(&g->alog_fmt);
	free(g->client_body_temp_path);
	free(g->resolver);
	free(g->trusted);
	for (i = 0; i < g->nwaf_rules; i++)
		free(g->waf_rules[i].path);
	free(g->waf_rules);
	free(g->request_id_header);
	conf_errpage_free(g->error_pages, g->nerror_pages);
	memset(g, 0, sizeof(*g));
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
	if (conf_number(v, 1, WORKERS_MAX, &n) == -1) {
		conf_err(ld, ld->lineno, "bad workers '%s': expected auto or "
		    "a number 1..%d", v, WORKERS_MAX);
		return;
	}
	g->workers = (int)n;
}

/* request_id_header = NAME: a field name (RFC 9110 token), 64 bytes at most. */
static void
key_request_id_header(struct loader *ld, void *obj, const char *v)
{
	struct conf_global	*g = obj;
	size_t			 i, n = strlen(v);

	for (i = 0; i < n; i++)
		if (!http_tchar[(unsigned char)v[i]])
			break;
	if (n == 0 || n > 64 || i < n) {
		conf_err(ld, ld->lineno, "bad request_id_header '%s': expected "
		    "a field name of 1 to 64 token characters", v);
		return;
	}
	free(g->request_id_header);
	if ((g->request_id_header = strdup(v)) == NULL)
		conf_err(ld, ld->lineno, "out of memory");
}

/* trusted_proxies = CIDR [CIDR ...]; repeatable. */
static void
key_trusted_proxies(struct loader *ld, void *obj, const char *v)
{
	struct conf_global	*g = obj;

	conf_cidr_list_add(ld, "trusted_proxies", v, &g->trusted, &g->ntrusted);
}

static void
key_real_ip_header(struct loader *ld, void *obj, const char *v)
{
	struct conf_global	*g = obj;

	conf_real_ip_header(ld, v, &g->real_ip_header);
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
key_g_request_buffering(struct loader *ld, void *obj, const char *v)
{
	(void)conf_onoff(ld, "request_buffering", v,
	    &((struct conf_global *)obj)->request_buffering);
}

static void
key_pass_request_trailers(struct loader *ld, void *obj, const char *v)
{
	(void)conf_onoff(ld, "pass_request_trailers", v,
	    &((struct conf_global *)obj)->pass_request_trailers);
}

/*
 * resolver = ADDR[:PORT] ...: name servers for the resolve and srv
 * servers, IP addresses (IPv6 in brackets), port 53 by default.  Kept as
 * the comma-separated list c-ares takes.
 */
static void
key_resolver(struct loader *ld, void *obj, const char *v)
{
	struct conf_global	*g = obj;
	struct conf_addr	 a;
	struct in_addr		 in;
	char			*copy, *tok, *save, *out, *colon;
	char			 why[WHY_MAX], one[80], host[64];
	size_t			 len, pos = 0;
	int			 n;

	if ((copy = conf_strdup(ld, v)) == NULL)
		return;
	len = strlen(v) * 2 + 16;
	if ((out = calloc(1, len)) == NULL) {
		ld->oom = 1;
		free(copy);
		return;
	}
	for (tok = strtok_r(copy, " \t,", &save); tok != NULL;
	    tok = strtok_r(NULL, " \t,", &save)) {
		/* Without a port: 53 (brackets for IPv6 as in listen). */
		if ((tok[0] == '[' && strstr(tok, "]:") == NULL) ||
		    (tok[0] != '[' && strchr(tok, ':') == NULL))
			n = snprintf(one, sizeof(one), "%s:53", tok);
		else
			n = snprintf(one, sizeof(one), "%s", tok);
		host[0] = '\0';
		if (tok[0] != '[' && (colon = strrchr(one, ':')) != NULL &&
		    (size_t)(colon - one) < sizeof(host)) {
			memcpy(host, one, (size_t)(colon - one));
			host[colon - one] = '\0';
		}
		if (n < 0 || (size_t)n >= sizeof(one) ||
		    (tok[0] != '[' && inet_pton(AF_INET, host, &in) != 1) ||
		    conf_addr_parse(one, 0, &a, why, sizeof(why)) == -1) {
			conf_err(ld, ld->lineno, "bad resolver '%s': an IP "
			    "address with an optional port, as in 10.0.0.2 or "
			    "[::1]:5353", tok);
			goto out;
		}
		n = snprintf(out + pos, len - pos, "%s%s", pos > 0 ? "," : "", one);
		pos += (size_t)n;
	}
	if (pos == 0) {
		conf_err(ld, ld->lineno, "empty value for 'resolver'");
		goto out;
	}
	free(g->resolver);
	g->resolver = out;
	out = NULL;
out:
	free(out);
	free(copy);
}

/* The line of the first [global], or 0. */
static int
global_taken(struct loader *ld, const char *name, const char **file)
{
	(void)name;
	*file = ld->file;
	return ld->global_line;
}

static int
global_open(struct loader *ld, char *name)
{
	(void)name;
	if (ld->scratch) {
		conf_global_defaults(&ld->sg);
		ld->obj = &ld->sg;
		return 0;
	}
	ld->global_line = ld->lineno;
	ld->obj = &ld->conf->g;
	ld->meta = &ld->gmeta;
	return 0;
}

static void
global_discard(struct loader *ld)
{
	conf_global_clear(&ld->sg);
}

/*
 * waf_rules = FILE [FILE ...]; repeatable: ModSecurity rule files, loaded
 * in order (common/waf.c).  A relative name is taken from the directory
 * of the configuration file, so that a reload finds the same files.
 */
static void
key_waf_rules(struct loader *ld, void *obj, const char *v)
{
	struct conf_global	*g = obj;
	struct conf_file_ref	*nr;
	const char		*slash;
	char			*copy, *tok, *save, *path;
	size_t			 dl;

	if ((copy = conf_strdup(ld, v)) == NULL)
		return;
	slash = strrchr(ld->file, '/');
	dl = slash != NULL ? (size_t)(slash - ld->file) + 1 : 0;
	for (tok = strtok_r(copy, " \t", &save); tok != NULL;
	    tok = strtok_r(NULL, " \t", &save)) {
		if (tok[0] == '/' || dl == 0)
			path = strdup(tok);
		else if ((path = malloc(dl + strlen(tok) + 1)) != NULL) {
			memcpy(path, ld->file, dl);
			strcpy(path + dl, tok);
		}
		nr = path != NULL ? reallocarray(g->waf_rules,
		    g->nwaf_rules + 1, sizeof(*nr)) : NULL;
		if (nr == NULL) {
			free(path);
			ld->oom = 1;
			break;
		}
		g->waf_rules = nr;
		nr[g->nwaf_rules].path = path;
		nr[g->nwaf_rules++].line = ld->lineno;
	}
	free(copy);
}

/* Resolve workers = auto, then check what needs the whole section. */
static void
global_finish(struct loader *ld)
{
	struct conf_global	*g = &ld->conf->g;
	long			 ncpu;
	int			 line;

	if (g->workers == 0) {
		ncpu = sysconf(_SC_NPROCESSORS_ONLN);
		if (ncpu < 1)
			ncpu = 1;
		if (ncpu > WORKERS_MAX)
			ncpu = WORKERS_MAX;
		g->workers = (int)ncpu;
	}
	global_paths_finish(ld);
	if (g->buffer_size < g->max_header_size + 1024) {
		line = conf_key_line(ld, SEC_GLOBAL, &ld->gmeta, "buffer_size");
		if (line == 0)
			line = conf_key_line(ld, SEC_GLOBAL, &ld->gmeta,
			    "max_header_size");
		conf_err(ld, line, "buffer_size must be at least "
		    "max_header_size + 1k");
	}
	global_temp_path_finish(ld);
	if (g->dns_min_ttl_ms > g->dns_max_ttl_ms) {
		line = conf_key_line(ld, SEC_GLOBAL, &ld->gmeta, "dns_min_ttl");
		if (line == 0)
			line = conf_key_line(ld, SEC_GLOBAL, &ld->gmeta,
			    "dns_max_ttl");
		conf_err(ld, line, "dns_min_ttl must not be above dns_max_ttl");
	}
}

/* The user, the group, the pid file and the logs: lines kept, paths checked. */
static void
global_paths_finish(struct loader *ld)
{
	struct conf_global	*g = &ld->conf->g;

	g->user_line = conf_key_line(ld, SEC_GLOBAL, &ld->gmeta, "user");
	g->group_line = conf_key_line(ld, SEC_GLOBAL, &ld->gmeta, "group");
	g->pid_file_line = conf_key_line(ld, SEC_GLOBAL, &ld->gmeta,
	    "pid_file");
	g->error_log_line = conf_key_line(ld, SEC_GLOBAL, &ld->gmeta,
	    "error_log");
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
}

/* client_body_temp_path: /var/tmp, or an existing directory. */
static void
global_temp_path_finish(struct loader *ld)
{
	struct conf_global	*g = &ld->conf->g;
	struct stat		 st;
	int			 line;

	if (g->client_body_temp_path == NULL) {
		g->client_body_temp_path = conf_strdup(ld, "/var/tmp");
		return;
	}
	line = conf_key_line(ld, SEC_GLOBAL, &ld->gmeta,
	    "client_body_temp_path");
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
