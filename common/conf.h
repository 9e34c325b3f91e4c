/*
 * conf.h: the configuration model.
 *
 * conf_load() parses one INI file with inih into a fully validated
 * struct conf: every value converted, every reference resolved.  Each
 * object keeps the file and line it came from so that later checks can
 * still name them.  Nothing here touches sockets or processes; the master
 * fills in the runtime fields (listener fds) after a successful load.
 */
#ifndef PORTICO_CONF_H
#define PORTICO_CONF_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "common/vars.h"

enum log_level {
	LOG_LVL_DEBUG = 0,
	LOG_LVL_INFO,
	LOG_LVL_NOTICE,
	LOG_LVL_WARN,
	LOG_LVL_ERROR
};

#define CONF_MAX_SERVERS	256	/* servers per upstream */
#define CONF_MAX_NAME		64	/* section names */

enum balance_kind {
	BALANCE_ROUND_ROBIN = 0,	/* smooth weighted */
	BALANCE_LEAST_CONN,		/* fewest active connections / weight, all workers */
	BALANCE_IP_HASH,		/* consistent hash of the client address */
	BALANCE_HASH,			/* consistent hash of hash_key */
	BALANCE_RANDOM			/* two random choices, less loaded wins */
};

enum hash_key_kind {
	HASH_KEY_URI = 0,		/* the request target */
	HASH_KEY_HEADER,		/* header:NAME */
	HASH_KEY_COOKIE			/* cookie:NAME */
};

struct tls_server;			/* common/tls.h */
struct tls_client;

struct conf_addr {
	struct sockaddr_storage	 ss;
	socklen_t		 len;
	char			 text[64];	/* as written, normalised */
	int			 line;		/* of a listen key; 0 otherwise */
};

enum conf_dns {
	CONF_DNS_NONE = 0,		/* a fixed address */
	CONF_DNS_RESOLVE,		/* every A and AAAA address of a name */
	CONF_DNS_SRV			/* the targets of SRV records */
};

#define CONF_DNS_SLOTS	16	/* max_addresses of a resolve or srv line */

struct conf_server {
	struct conf_addr	 addr;
	int			 weight;	/* 1..1000, default 1 */
	int			 backup;	/* used only when no primary is available */
	int			 max_conns;	/* 0: no limit; else across all workers */
	int			 shm_idx;	/* runtime: its entry in shm, -1 none */
	const char		*file;
	int			 line;
	/* TLS to this server (the "tls" option, or the upstream's tls = on). */
	int			 tls;
	int			 send_proxy;	/* 0, or PROXY protocol 1 or 2 first */
	char			*host;		/* host name as written; NULL for an IP */
	/*
	 * A slot of a resolve or srv line: its address comes from DNS, in
	 * shared memory (struct shm_server); addr is this process's copy.
	 */
	enum conf_dns		 dns;
	char			*dns_name;	/* NAME of the line, as written */
	int			 dns_port;	/* resolve: the port of the line */
	int			 dns_slot;	/* 0..max_addresses-1 */
	int			 dns_slots;	/* max_addresses of the line */
};

#define RETRY_ERROR	0x01	/* connect refused, reset or close before an answer */
#define RETRY_TIMEOUT	0x02	/* connect or read timeout before an answer */
#define RETRY_500	0x04
#define RETRY_502	0x08
#define RETRY_503	0x10
#define RETRY_504	0x20

enum health_kind {
	HEALTH_NONE = 0,		/* passive checks only */
	HEALTH_TCP,			/* connect succeeds */
	HEALTH_HTTP			/* request answered with an expected status */
};

struct conf_upstream {
	char			*name;
	const char		*file;
	int			 line;
	struct conf_server	*servers;
	size_t			 nservers;
	enum balance_kind	 balance;
	enum hash_key_kind	 hash_key;	/* for balance = hash */
	char			*hash_key_name;	/* header or cookie name */
	int64_t			 slow_start_ms;	/* weight ramp after a recovery; 0 off */
	int			 keepalive;		/* idle conns per server per worker, default 32 */
	int64_t			 keepalive_timeout_ms;	/* idle pooled conn lifetime, default 60s */
	int64_t			 connect_timeout_ms;	/* default 5s */
	int64_t			 read_timeout_ms;	/* default 60s */
	int64_t			 send_timeout_ms;	/* default 60s */
	/* Active health checks (the master's checker process runs them). */
	enum health_kind	 health;
	char			*health_method;		/* "GET" or "HEAD" */
	char			*health_path;		/* "/healthz" */
	char			*health_host;		/* Host header; NULL: the server address */
	char			*health_body;		/* substring the body must hold; NULL: any */
	int			 health_status_min;	/* default 200 */
	int			 health_status_max;	/* default 399 */
	int64_t			 health_interval_ms;	/* default 2s */
	int64_t			 health_timeout_ms;	/* default 1s */
	int			 health_rise;		/* default 2 */
	int			 health_fall;		/* default 3 */
	int			 queue;			/* requests that may wait per worker when all are at max_conns */
	int64_t			 queue_timeout_ms;	/* default 5s */
	/* Retries: which failures move a request to another server. */
	int			 retries;		/* extra attempts; -1: each server once */
	unsigned		 retry_on;		/* RETRY_ bits, default error timeout */
	int64_t			 retry_timeout_ms;	/* no new attempt after; 0: no limit */
	/* Passive checks (failures seen by workers, all workers together). */
	int			 max_fails;		/* default 1; 0: off */
	int			 fail_on_5xx;		/* 5xx answers count as failures */
	int64_t			 fail_timeout_ms;	/* default 10s */
	/* TLS to the servers (common/tls.c builds the context). */
	int			 tls;			/* tls = on: every server */
	char			*tls_ca;		/* CA file; NULL: the system's */
	char			*tls_server_name;	/* SNI + name to verify */
	int			 tls_verify;		/* default on */
	struct tls_client	*tls_ctx;		/* runtime: NULL without TLS */
	int			 metrics_idx;		/* runtime: its row in common/metrics.h, -1 none */
	int			 protocol;		/* UP_PROTO_HTTP1 (default) or UP_PROTO_H2 */
};

/* [upstream] protocol: what portico speaks to the servers. */
#define UP_PROTO_HTTP1	0
#define UP_PROTO_H2	1	/* HTTP/2: ALPN h2 with tls, else prior knowledge */

/* A file named by a key, with the line that named it. */
struct conf_file {
	char			*path;
	int			 line;
};

#define CONF_TLS_V12	0x01
#define CONF_TLS_V13	0x02

enum tls_verify_client {
	TLS_VERIFY_OFF = 0,
	TLS_VERIFY_ON,			/* a valid client certificate is required */
	TLS_VERIFY_OPTIONAL		/* none is fine; one given must be valid */
};

/* Where the client address comes from behind a trusted proxy. */
enum real_ip_header {
	REAL_IP_INHERIT = 0,	/* a listener's: the [global] one */
	REAL_IP_XFF,		/* X-Forwarded-For (the default) */
	REAL_IP_FORWARDED,	/* Forwarded: for= */
	REAL_IP_X_REAL_IP	/* X-Real-IP */
};

/* A header rule (request_header_set ... response_header_remove). */
enum hdr_op {
	HDR_SET = 0,		/* replace every field of the name */
	HDR_ADD,		/* add one more */
	HDR_REMOVE		/* drop every field of the name */
};

struct conf_hdr_rule {
	enum hdr_op		 op;
	int			 always;	/* response: portico's own answers too */
	char			*name;		/* as written */
	size_t			 name_len;
	struct vars_fmt		 value;		/* empty for HDR_REMOVE */
	int			 line;
};

/*
 * access_log_format of a listener or a route (set 0: the one above it);
 * the global one is in struct conf_global.
 */
struct conf_alogfmt {
	int			 set;
	int			 kind;		/* ALOG_PORTICO, ALOG_FMT */
	int			 json;
	struct vars_fmt		 fmt;
};

#define CONF_ALOG_MAX		8	/* access_log lines per section, at most */
#define CONF_ALOG_TARGETS	64	/* distinct access log targets, at most */

/*
 * An access log target (common/conf_alog.c): a file or a syslog server,
 * opened once per process however many sections name it.
 */
struct conf_alogtarget {
	char			*path;		/* the absolute path or syslog:... */
	struct conf_addr	 syslog_addr;	/* len 0: a file */
	int			 syslog_facility; /* 0..23, default 23 (local7) */
	char			 syslog_tag[33];  /* default "portico" */
	int			 syslog_rfc5424;  /* format=rfc5424; default 3164 */
	int			 line;		/* where first named */
};

/* One access_log line: a target and a format. */
struct conf_alogdst {
	char			*text;		/* the value as written */
	char			*fmt_name;	/* NULL: the access_log_format in effect */
	int			 fmt;		/* resolved in g.logfmts; -1: ditto */
	int			 target;	/* in g.alog_targets */
	int			 line;
};

/*
 * The access_log lines of a section (set 0: those above it; off: none),
 * each line one more destination.
 */
struct conf_alogset {
	int			 set;
	int			 off;
	size_t			 n;
	struct conf_alogdst	 dst[CONF_ALOG_MAX];
};

/* log_format = NAME [escape=json] FORMAT, or a built-in one named. */
struct conf_logfmt {
	char			*name;
	struct conf_alogfmt	 f;
	int			 line;
};

/* A listener's or a route's header rules, in file order. */
struct conf_rules {
	struct conf_hdr_rule	*req;
	size_t			 nreq;
	struct conf_hdr_rule	*resp;
	size_t			 nresp;
	int			 resp_always;	/* some response rule is always */
};

struct conf_listener {
	char			*name;
	const char		*file;
	int			 line;
	struct conf_addr	*addrs;
	size_t			 naddrs;
	int			 backlog;	/* default 511 */
	int			 defer_accept;	/* TCP_DEFER_ACCEPT seconds; 0 off
						   (default), on: 1 */
	int			*fds;		/* runtime: one per addr, -1 until bound */
	/* TLS (common/tls.c loads the files and builds the contexts). */
	struct conf_file	*tls_cert;	/* tls_certificate, in file order */
	size_t			 ntls_cert;
	struct conf_file	*tls_key;	/* tls_key: the Nth goes with the Nth */
	size_t			 ntls_key;
	unsigned		 tls_protocols;	/* CONF_TLS_V12 | CONF_TLS_V13 */
	char			*tls_ciphers;	/* TLS 1.2 list; NULL: the default */
	char			*tls_ciphersuites; /* TLS 1.3; NULL: the default */
	struct conf_file	 tls_client_ca;	/* path NULL: none */
	enum tls_verify_client	 tls_verify_client;
	int64_t			 tls_handshake_timeout_ms; /* default 10s */
	int			 redirect_https;	/* redirect = https */
	int			 redirect_port;		/* https port, default 443 */
	/* The real client address (worker/realip.c); none: the [global] ones. */
	struct conf_cidr	*trusted;	/* trusted_proxies */
	size_t			 ntrusted;
	enum real_ip_header	 real_ip_header;	/* INHERIT: the [global] one */
	int			 proxy_protocol;	/* a PROXY header first; default off */
	struct conf_cidr	*access;	/* allow/deny rules in order; none:
						   everyone */
	size_t			 naccess;
	int64_t			 proxy_protocol_timeout_ms; /* default 5s */
	int			 max_conns_per_ip;	/* all workers; 0: no limit */
	int			 limit_stat_idx;	/* runtime: its counters, -1 none */
	struct conf_rules	 rules;		/* header rules, before the route's */
	struct conf_alogfmt	 alog;		/* access_log_format */
	struct conf_alogset	 alogs;		/* access_log lines */
	int			 http2;		/* h2 by ALPN (TLS) or prior
						   knowledge (plain); default:
						   on for TLS listeners */
	struct tls_server	*tls;		/* runtime: NULL for plain */
};

enum host_kind {
	HOST_ANY = 0,		/* "*" */
	HOST_WILDCARD,		/* "*.example.com": any name ending in ".example.com" */
	HOST_EXACT		/* "www.example.com" */
};

/* A route's web application firewall (worker/waf.c). */
enum waf_mode {
	WAF_OFF = 0,		/* no inspection (the default) */
	WAF_ON,			/* inspect, and answer an intervention */
	WAF_DETECT		/* inspect and log, never block */
};

/* A file a key names, with the line of the key. */
struct conf_file_ref {
	char			*path;
	int			 line;
};

enum route_handler {
	HANDLER_PROXY = 0,	/* forward to the upstream */
	HANDLER_STATUS		/* portico's status: JSON, or Prometheus at .../metrics */
};

/*
 * An address block for address lists: family, network bytes, prefix
 * length; in access rules (allow/deny) also whether it denies.
 */
struct conf_cidr {
	int			 family;	/* AF_INET or AF_INET6 */
	unsigned char		 addr[16];
	int			 prefix;
	int			 deny;		/* access rules: a deny rule */
};

/* The most field names in a route's cache_targeted_fields. */
#define CONF_TARGETED_MAX	8

/* The key a [limit NAME] counts by (worker/limits.c). */
enum limit_key_kind {
	LIMIT_KEY_ADDR = 0,		/* the client address (the real one) */
	LIMIT_KEY_HEADER,		/* header:NAME */
	LIMIT_KEY_COOKIE,		/* cookie:NAME */
	LIMIT_KEY_ROUTE			/* the route: all its clients share one */
};

/* The most limits one route applies (limit = NAME...). */
#define CONF_ROUTE_LIMITS	8

/*
 * A [limit NAME] section: a request rate (a GCRA token bucket, as nginx
 * limit_req) or, with concurrency set, requests under way at once (as
 * nginx limit_conn), per key, counted across the workers in shared
 * memory (common/limit.h).
 */
#define LIMIT_MAX_DELAY_MS	30000	/* max_delay's default */

struct conf_limit {
	char			*name;
	const char		*file;
	int			 line;
	enum limit_key_kind	 key;
	char			*key_name;	/* header or cookie name */
	int64_t			 rate;		/* requests per rate_per_s; 0: none */
	int			 rate_per_s;	/* 1 (N/s) or 60 (N/m) */
	uint64_t		 interval_us;	/* one request's share: rate_per_s / rate */
	int			 burst;		/* requests beyond the rate, default 0 */
	int			 nodelay;	/* burst passes at once; default off */
	int64_t			 max_delay_ms;	/* longest wait in the burst; 30 s */
	int			 dry_run;	/* only log and count; default off */
	int			 concurrency;	/* requests at once; 0: a rate limit */
	int			 status;	/* answer over it: 429 (rate), 503 */
	int			 stat_idx;	/* runtime: its counters in shm, -1 none */
};
struct htpasswd;

/* error_page = STATUS... FILE: one per status (common/conf_errpage.c). */
struct conf_errpage {
	int			 status;	/* 0: replaced by a later line */
	const char		*type;		/* Content-Type, from the extension */
	char			*body;		/* the file, read at load */
	size_t			 len;
	int			 owner;		/* this entry frees body */
};

/*
 * A route's response compression (common/conf_compress.c, worker/compress.c).
 * types: media types, lowercase, one space between (a type with the
 * subtype "*", and "*" alone, allowed); NULL: the default list.
 */
struct conf_compress {
	int			 on;		/* compress = on; off */
	int			 level;		/* gzip 1..9; 6 */
	int			 br_level;	/* brotli 0..11; 4 */
	int64_t			 min_length;	/* smaller known bodies stay; 256 */
	char			*types;		/* compress_types */
	unsigned		 algos;		/* 1 << CODING_GZIP | 1 << CODING_BR */
};

/*
 * Whether a Content-Type value (its media type; parameters ignored) is
 * one of cc's types.
 */
int	 conf_compress_type_ok(const struct conf_compress *cc, const char *ct,
	    size_t len);

struct conf_route {
	char			*name;
	const char		*file;
	int			 line;
	char			*listener_name;	/* NULL: every listener */
	struct conf_listener	*listener;	/* resolved, NULL: every listener */
	char			*host;		/* lowercased; for wildcard: ".example.com" */
	enum host_kind		 host_kind;
	char			*path;		/* prefix, starts with '/', default "/" */
	size_t			 path_len;
	char			*upstream_name;
	struct conf_upstream	*upstream;	/* resolved; NULL for status */
	enum route_handler	 handler;
	struct conf_cidr	*allow;		/* allow/deny rules in order; none:
						   everyone (status: loopback) */
	size_t			 nallow;
	/* Response cache (needs the [cache] region; see struct conf_cache). */
	int			 cache;			/* cache = on */
	int			 cache_set_cookie;	/* store responses with Set-Cookie */
	int			 cache_ignore_no_cache;	/* request no-cache/max-age=0 ignored */
	int64_t			 cache_default_ttl_ms;	/* lifetime when the response gives none; 0 */
	int64_t			 cache_stale_if_error_ms; /* stale-if-error when the response gives none; 0 */
	char			*cache_targeted[CONF_TARGETED_MAX]; /* RFC 9213 target list,
						   lower case, in order; default
						   cdn-cache-control */
	size_t			 ncache_targeted;
	int			 cache_targeted_strip;	/* remove them toward clients; off */
	char			*hsts;		/* Strict-Transport-Security value; NULL: none */
	int			 normalize_path;	/* forward the normalized path */
	int			 pass_client_identity_headers;	/* keep Forwarded etc. */
	int			 request_buffering; /* resolved: the global's when not set */
	int			 websocket;	/* Upgrade: websocket passes; on */
	char			*upgrade_allow;	/* other Upgrade tokens that pass:
						   lowercase, one space between;
						   NULL: none */
	int64_t			 tunnel_idle_timeout_ms; /* resolved: the global's */
	/* Basic authentication (worker/auth.c, common/htpasswd.h). */
	char			*auth_realm;	/* auth_basic; NULL: off */
	char			*auth_file;	/* auth_basic_file */
	struct htpasswd		*auth_users;	/* its users, read at load */
	int			 auth_forward;	/* Authorization goes upstream; off */
	enum waf_mode		 waf;		/* default off */
	int			 waf_resp;	/* waf_response_headers; off */
	int			 metrics_idx;	/* runtime: its row in common/metrics.h, -1 none */
	char			*limit_names[CONF_ROUTE_LIMITS]; /* limit = NAME... */
	struct conf_limit	*limits[CONF_ROUTE_LIMITS];	/* resolved */
	size_t			 nlimits;
	struct conf_rules	 rules;		/* header rules */
	struct conf_alogfmt	 alog;		/* access_log_format */
	struct conf_alogset	 alogs;		/* access_log lines */
	struct vars_fmt		 upstream_host;	/* n 0: the client's Host */
	int			 ret_status;	/* return = STATUS ...; 0: none */
	struct vars_fmt		 ret_text;	/* its text or URL */
	/* The path forwarded (common/conf_rewrite.c, worker/rewrite.c). */
	char			*strip_prefix;	/* path_strip_prefix; NULL: none */
	size_t			 strip_len;
	char			*rw_src;	/* path_rewrite's regex; NULL: none */
	void			*rw_re;		/* ... compiled (pcre2_code) */
	char			*rw_repl;	/* ... and its replacement */
	struct conf_errpage	*error_pages;	/* error_page; before [global]'s */
	size_t			 nerror_pages;
	int			 intercept_errors; /* a backend's error body too; off */
	struct conf_compress	 compress;	/* response compression (worker/compress.c) */
};

/* [cache] invalidate_unsafe: which unsafe requests invalidate (RFC 9111 4.4). */
enum cache_unsafe {
	CACHE_UNSAFE_ON = 0,		/* every successful one (the default) */
	CACHE_UNSAFE_PURGE_ALLOW,	/* only from purge_allow addresses */
	CACHE_UNSAFE_OFF		/* none: only PURGE/BAN remove objects */
};

/* The [cache] section: one shared-memory region for every caching route. */
struct conf_cache {
	int			 line;			/* of the section header; 0: none */
	size_t			 size;			/* region bytes, default 256m */
	int64_t			 max_object_size;	/* default 8m */
	int64_t			 lock_timeout_ms;	/* collapsed misses wait this long, 5s */
	int64_t			 heuristic_max_ms;	/* cap on heuristic lifetimes, 24h */
	int			 heuristic_percent;	/* of Date - Last-Modified, 10 */
	struct conf_cidr	*purge_allow;		/* who may PURGE/BAN; loopback */
	size_t			 npurge_allow;
	enum cache_unsafe	 invalidate_unsafe;	/* who invalidates by an unsafe method */
	int			 sendfile;		/* large hits by sendfile(), on */
};

struct conf_global {
	int			 workers;		/* resolved: "auto" -> CPUs */
	char			*user;			/* NULL: keep the master's */
	char			*group;
	char			*pid_file;
	char			*error_log;		/* path, "stderr" or "syslog" */
	enum log_level		 log_level;
	struct conf_alogset	 alogs;			/* access_log lines */
	/* Every access log target of the file, each once (common/conf_alog.c). */
	struct conf_alogtarget	*alog_targets;
	size_t			 nalog_targets;
	struct conf_logfmt	*logfmts;		/* log_format, and built-ins used */
	size_t			 nlogfmts;
	/* access_log_format: 0 portico (built in), else alog_fmt */
	int			 alog_kind;		/* ALOG_PORTICO, ALOG_FMT */
	int			 alog_json;		/* alog_fmt is escaped as JSON */
	struct vars_fmt		 alog_fmt;
	int			 worker_connections;	/* default 10000 */
	int			 limit_table_size;	/* limit entries in shm, default 16384 */
	int64_t			 shutdown_timeout_ms;	/* default 30s */
	int64_t			 client_header_timeout_ms; /* default 30s */
	int64_t			 client_body_timeout_ms;   /* default 60s */
	int64_t			 keepalive_timeout_ms;	/* default 75s; 0: no keep-alive */
	int64_t			 send_timeout_ms;	/* default 60s */
	size_t			 max_request_line;	/* default 8k -> 414 */
	size_t			 max_header_size;	/* default 16k -> 431 */
	int			 max_headers;		/* default 100 -> 431 */
	int64_t			 max_body_size;		/* default 0 = unlimited -> 413 */
	size_t			 buffer_size;		/* default 32k, >= max_header_size + 1k */
	int			 request_buffering;	/* default on: read the body first */
	size_t			 client_body_buffer_size; /* default 16k, then a temp file */
	char			*client_body_temp_path;	/* default /var/tmp */
	int			 client_body_temp_path_line;	/* 0: the default */
	int64_t			 client_body_min_rate;	/* bytes/s, default 1k; 0: off */
	int			 pass_request_trailers;	/* default off */
	int64_t			 tls_ticket_rotation_ms;	/* default 1h */
	/* DNS for servers with the resolve or srv option (master/resolver.c). */
	char			*resolver;		/* "ADDR:PORT,..."; NULL: resolv.conf */
	int64_t			 resolver_timeout_ms;	/* default 5s */
	int64_t			 dns_min_ttl_ms;	/* default 1s */
	int64_t			 dns_max_ttl_ms;	/* default 5m */
	/* Request-target normalization (worker/uri.h); see portico.ini(5). */
	int			 merge_slashes;		/* default on */
	int			 allow_encoded_slash;	/* keep %2F; default off: 400 */
	int			 allow_encoded_nul;	/* keep %00; default off: 400 */
	int			 allow_backslash;	/* keep '\'; default off: 400 */
	int			 allow_dotdot_above_root; /* drop it; default off: 400 */
	int			 normalize_path;	/* default for routes, on */
	int			 pass_client_identity_headers;	/* default for routes, off */
	int64_t			 tunnel_idle_timeout_ms;	/* default for routes, 10 min */
	/* HTTP/2 to clients (worker/h2.c). */
	int			 http2_max_concurrent_streams;	/* default 100 */
	size_t			 http2_max_header_list_size;	/* default 32 KiB */
	int			 http2_max_resets;		/* default 200 */
	int			 http2_max_control_frames;	/* default 1000 */
	/* Peers whose word on the client address is taken (worker/realip.c). */
	struct conf_cidr	*trusted;	/* trusted_proxies; none: no one */
	size_t			 ntrusted;
	enum real_ip_header	 real_ip_header;	/* default X-Forwarded-For */
	/* The web application firewall's rules (common/waf.c). */
	struct conf_file_ref	*waf_rules;	/* ModSecurity rule files, in order */
	size_t			 nwaf_rules;
	int64_t			 waf_body_limit;	/* default 1m: bytes inspected */
	/* Following a request (worker/reqid.c). */
	int			 request_id;		/* default off */
	char			*request_id_header;	/* NULL: X-Request-ID */
	int			 trace;			/* start/continue W3C traces; off */
	struct conf_errpage	*error_pages;		/* error_page */
	size_t			 nerror_pages;
	/* Lines of the keys that name users and files; 0: not set. */
	int			 user_line;
	int			 group_line;
	int			 pid_file_line;
	int			 error_log_line;
	/* Resolved by conf_check(): whom the workers run as. */
	int			 user_default;		/* user was not set */
	int			 drop;			/* change to uid/gid */
	uid_t			 uid;
	gid_t			 gid;
};

#define ALOG_PORTICO	0	/* the built-in line (worker/accesslog.c) */
#define ALOG_FMT	1	/* combined, common, json or a custom format */

struct conf {
	char			*path;
	struct conf_global	 g;
	struct conf_cache	 cache;
	int			 cache_used;	/* some route has cache = on */
	struct conf_listener	*listeners;
	size_t			 nlisteners;
	struct conf_upstream	*upstreams;
	size_t			 nupstreams;
	struct conf_route	*routes;
	size_t			 nroutes;
	struct conf_limit	*limits;	/* [limit NAME] sections */
	size_t			 nlimits;
	char			**files;	/* file names that file fields point to */
	size_t			 nfiles;
	void			*waf;		/* the compiled waf_rules (common/waf.h);
						   NULL: none */
};

/*
 * Parse and validate the file at path.  On success return a new conf and
 * leave *errors NULL.  On failure return NULL and set *errors to a
 * malloc'd string of one or more lines "file:line: message\n" (every
 * error found, not just the first); the caller frees it.
 */
struct conf	*conf_load(const char *path, char **errors);
void		 conf_free(struct conf *conf);
/*
 * Check what conf_load() cannot see in the text: that the user and the
 * group exist (when started as root without a user, the built-in default
 * user is set here), that the directories of the pid file and the logs
 * exist and that the log files can be opened (they are created when
 * missing; a symbolic link or anything but a regular file is refused).
 * Returns 0, or -1 with *errors set like conf_load() does.
 */
int		 conf_check(struct conf *conf, char **errors);
/*
 * Every named section (struct conf_listener, conf_upstream, conf_route)
 * begins with its name, file and line.  The one of the n sections of
 * size bytes at base called name, or NULL; a struct conf_listener *, an
 * upstream or a route as base is.
 */
/*
 * The error_page of route rt (NULL: none) for status, else [global]'s;
 * NULL when neither has one.
 */
const struct conf_errpage *conf_errpage_find(const struct conf *cf,
		    const struct conf_route *rt, int status);
int		 conf_errpage_differ(const struct conf_errpage *a, size_t na,
		    const struct conf_errpage *b, size_t nb);
const void	*conf_named_find(const void *base, size_t n, size_t size,
		    const char *name);
/*
 * Append "file:line: msg\n" (line 0: "file: msg\n") to the error text
 * *text, NUL-terminated, *len bytes used of *cap, growing it: the text
 * of every "file:line: what is wrong" list (the loader's, the TLS
 * files').  -1 when out of memory, the text as it was.
 */
int		 conf_errtext_add(char **text, size_t *len, size_t *cap,
		    const char *file, int line, const char *msg);
/*
 * Open a log file for appending as portico does: created 0644 when
 * missing, never through a symbolic link (but under /dev), and only a
 * regular file, a character device or a pipe.  Returns the descriptor,
 * or -1 with errno set (ELOOP for a link, EINVAL for anything else).
 */
int		 conf_open_log(const char *path);
/*
 * Whether two sections' access_log lines differ, as written; whether
 * [global]'s log_format sets do; the lines as text ("off": none) for
 * the reload summary (common/conf_alog.c).
 */
int		 conf_alogset_differ(const struct conf_alogset *a,
		    const struct conf_alogset *b);
int		 conf_logfmts_differ(const struct conf_global *a,
		    const struct conf_global *b);
void		 conf_alogset_text(const struct conf_alogset *set, char *buf,
		    size_t len);
/* Why conf_open_log() failed, from its errno. */
const char	*conf_log_strerror(int err);

/*
 * Value parsers, exported for the tests.  Each returns 0 on success and
 * -1 on a bad value.
 */
int	 conf_parse_duration(const char *s, int64_t *ms);	/* 500ms 5s 2m 1h; bare = s */
int	 conf_parse_size(const char *s, int64_t *bytes);	/* 16k 1m 1g; bare = bytes */
int	 conf_parse_addr(const char *s, int passive, struct conf_addr *a);
int	 conf_parse_cidr(const char *s, struct conf_cidr *c);	/* ADDR[/PREFIX] */

const char	*conf_log_level_name(enum log_level level);
/* Whether the address (AF_INET/AF_INET6 sockaddr) is in one of the blocks. */
int		 conf_cidr_match(const struct conf_cidr *c, size_t n,
		    const struct sockaddr *sa);
/* Whether access rules (allow/deny, first match wins) let the address in. */
int		 conf_access_check(const struct conf_cidr *c, size_t n,
		    const struct sockaddr *sa);

#endif /* PORTICO_CONF_H */
