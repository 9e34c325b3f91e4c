/*
 * conf_int.h: what the files of the configuration loader share, and
 * nobody else (the rest of the tree uses common/conf.h).
 *
 *	conf.c		the engine: reader, inih callback, key dispatch,
 *			section headers, second pass, conf_load/conf_free
 *	conf_value.c	value parsers: numbers, sizes, durations, on/off,
 *			addresses, CIDR blocks
 *	conf_global.c	[global]	conf_cache.c	[cache]
 *	conf_listener.c	[listener NAME], its TLS keys
 *	conf_upstream.c	[upstream NAME], its servers, checks, retries, TLS
 *	conf_route.c	[route NAME], references to listeners and upstreams
 *	conf_limit.c	[limit NAME], and the routes' limit = NAME...
 *	conf_check.c	conf_check(): users, directories, log files
 *
 * Each section kind is one struct conf_section: its keys and the steps
 * the engine runs for it (open on a header, discard a duplicate, finish
 * in the second pass).
 */
#ifndef PORTICO_CONF_INT_H
#define PORTICO_CONF_INT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <netinet/in.h>

#include "common/conf.h"

#define RAW_LINE_MAX	4096		/* longest line read, comments included */
#define MAX_KEYS	64		/* keys per section kind, at most */
#define DURATION_MAX_MS	INT32_MAX	/* about 24.8 days; fits an int */
#define WORKERS_MAX	512
#define WHY_MAX		512		/* room for a reason, host name included */

#define NKEYS(a)	(sizeof(a) / sizeof((a)[0]))

enum sec_kind {
	SEC_NONE = 0,		/* before the first section header */
	SEC_IGNORE,		/* in a section that was rejected */
	SEC_GLOBAL,
	SEC_LISTENER,
	SEC_UPSTREAM,
	SEC_ROUTE,
	SEC_CACHE,
	SEC_LIMIT
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
	struct meta		*limmeta;

	struct conf_global	 sg;
	struct conf_listener	 sl;
	struct conf_upstream	 su;
	struct conf_route	 sr;
	struct conf_limit	 slim;
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

/*
 * A section kind.  On a header the engine checks the name (for a named
 * kind), asks taken() whether a section of that name (or, unnamed, of
 * that kind) came before, then has open() point ld->obj and ld->meta at
 * the object the keys go to: a new one, or with ld->scratch set the
 * kind's scratch object, which discard() frees when the section ends.
 * finish() runs in the second pass, once the whole file is read.
 */
struct conf_section {
	const char		*name;		/* "listener" in [listener NAME] */
	enum sec_kind		 kind;
	int			 named;
	const struct key	*keys;
	size_t			 nkeys;
	/* The line of an earlier section of this name (and its file), or 0. */
	int			(*taken)(struct loader *, const char *,
				    const char **);
	/* Takes the malloc'd name (NULL: unnamed); -1 when memory ran out. */
	int			(*open)(struct loader *, char *);
	void			(*discard)(struct loader *);
	void			(*finish)(struct loader *);
};

/* In the order the second pass runs them (conf.c holds the list). */
extern const struct conf_section conf_sec_global;
extern const struct conf_section conf_sec_cache;
extern const struct conf_section conf_sec_listener;
extern const struct conf_section conf_sec_upstream;
extern const struct conf_section conf_sec_limit;
extern const struct conf_section conf_sec_route;

/* conf.c: the engine's services to the section files. */
void	 conf_err(struct loader *, int, const char *, ...)
	    __attribute__((format(printf, 3, 4)));
char	*conf_strdup(struct loader *, const char *);
/* conf_rewrite.c: a route's path_strip_prefix and path_rewrite. */
void	 conf_rewrite_strip(struct loader *, void *, const char *);
void	 conf_rewrite_regex(struct loader *, void *, const char *);
void	 conf_rewrite_clear(struct conf_route *);
void	 conf_compress_defaults(struct conf_compress *);
void	 conf_compress_clear(struct conf_compress *);
void	 conf_compress_types(struct loader *, void *, const char *);
void	 conf_compress_algos(struct loader *, void *, const char *);
/* conf_errpage.c: error_page in [global] and [route]. */
void	 conf_errpage_global(struct loader *, void *, const char *);
void	 conf_errpage_route(struct loader *, void *, const char *);
void	 conf_errpage_free(struct conf_errpage *, size_t);
void	*conf_grow(struct loader *, void *, size_t, size_t);
void	*conf_append(struct loader *, void *, size_t *, size_t,
	    struct meta **);
int	 conf_key_line(struct loader *, enum sec_kind, const struct meta *,
	    const char *);

/* conf_value.c: the parsers.  Those taking a loader report errors. */
int	 conf_valid_name(const char *);
int	 conf_number(const char *, int64_t, int64_t, int64_t *);
void	 conf_fmt_size(int64_t, char *, size_t);
int	 conf_port(const char *, in_port_t *);
int	 conf_addr_parse(const char *, int, struct conf_addr *, char *,
	    size_t);
int	 conf_onoff(struct loader *, const char *, const char *, int *);
/* A blank-separated token list key (conf_token_list). */
struct conf_tokens {
	const char	*key;		/* "compress_types" */
	const char	*word;		/* a bad one: "bad KEY WORD 'x' (HINT)" */
	const char	*hint;
	const char	*noun;		/* none: "KEY needs at least one NOUN" */
	int		(*ok)(const char *);	/* the lowercased token */
};
char	*conf_token_list(struct loader *, const struct conf_tokens *,
	    const char *);
/* conf_rules.c: header rules, upstream_host, return, access_log_format. */
void	 conf_key_request_header_set(struct loader *, void *, const char *);
void	 conf_key_request_header_add(struct loader *, void *, const char *);
void	 conf_key_request_header_remove(struct loader *, void *, const char *);
void	 conf_key_response_header_set(struct loader *, void *, const char *);
void	 conf_key_response_header_add(struct loader *, void *, const char *);
void	 conf_key_response_header_remove(struct loader *, void *, const char *);
void	 conf_key_l_request_header_set(struct loader *, void *, const char *);
void	 conf_key_l_request_header_add(struct loader *, void *, const char *);
void	 conf_key_l_request_header_remove(struct loader *, void *, const char *);
void	 conf_key_l_response_header_set(struct loader *, void *, const char *);
void	 conf_key_l_response_header_add(struct loader *, void *, const char *);
void	 conf_key_l_response_header_remove(struct loader *, void *, const char *);
void	 conf_key_upstream_host(struct loader *, void *, const char *);
void	 conf_key_return(struct loader *, void *, const char *);
void	 conf_key_access_log_format(struct loader *, void *, const char *);
void	 conf_key_l_access_log_format(struct loader *, void *, const char *);
void	 conf_key_r_access_log_format(struct loader *, void *, const char *);
void	 conf_rules_clear(struct conf_rules *);
/* A cached route whose request rules send a $http_ field: a warning. */
void	 conf_rules_cache_warn(struct loader *, const struct conf_route *, int);
void	 conf_route_rules_clear(struct conf_route *);
int	 conf_alog_format(struct loader *, const char *, int *, int *,
	    struct vars_fmt *);
/* conf_alog.c: access_log lines, their targets and log_format. */
int	 conf_syslog_parse(struct loader *, struct conf_alogtarget *,
	    const char *);
void	 conf_key_access_log(struct loader *, void *, const char *);
void	 conf_key_l_access_log(struct loader *, void *, const char *);
void	 conf_key_r_access_log(struct loader *, void *, const char *);
void	 conf_key_log_format(struct loader *, void *, const char *);
void	 conf_alog_finish(struct loader *);
void	 conf_alogset_clear(struct conf_alogset *);
void	 conf_alog_global_clear(struct conf_global *);
void	 conf_access_add(struct loader *, const char *, const char *, int,
	    struct conf_cidr **, size_t *);
void	 conf_cidr_list_add(struct loader *, const char *, const char *,
	    struct conf_cidr **, size_t *);
void	 conf_real_ip_header(struct loader *, const char *,
	    enum real_ip_header *);

/* The section files: defaults and freeing, for conf_load and conf_free. */
void	 conf_global_defaults(struct conf_global *);
void	 conf_global_clear(struct conf_global *);
void	 conf_cache_defaults(struct conf_cache *);
void	 conf_cache_clear(struct conf_cache *);
void	 conf_listener_clear(struct conf_listener *);
void	 conf_upstream_clear(struct conf_upstream *);
void	 conf_route_clear(struct conf_route *);
void	 conf_limit_clear(struct conf_limit *);
/* conf_limit.c: a route's limit = NAME..., and its check once all is read. */
void	 conf_route_limit_key(struct loader *, void *, const char *);
void	 conf_route_limit_finish(struct loader *, struct conf_route *,
	    const struct meta *);

#endif /* PORTICO_CONF_INT_H */
