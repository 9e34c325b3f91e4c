/*
 * auth.h: basic authentication on routes (auth_basic, auth_basic_file):
 * the request's Authorization checked against the route's htpasswd users
 * (worker/auth.c).
 */
#ifndef PORTICO_AUTH_H
#define PORTICO_AUTH_H

struct conf_route;
struct http_request;

enum auth_result {
	AUTH_OK,	/* good credentials: the request goes on */
	AUTH_DENIED,	/* none, malformed or wrong: 401 */
	AUTH_BUSY	/* the worker's hashing budget is spent: 503 */
};

/* Hashing time a worker spends on uncached checks, per second, at most. */
#define AUTH_CPU_MS_PER_SEC	500
/* Checks remembered per worker, and for how long. */
#define AUTH_CACHE_SLOTS	4096
#define AUTH_CACHE_MS		(5 * 60 * 1000)

/*
 * Check rq's Authorization against rt's users (rt->auth_users set).
 * user (cap bytes) gets the user name tried, for the log ("" none).
 */
enum auth_result auth_check(const struct conf_route *rt,
		    const struct http_request *rq, char *user, size_t cap);

#endif /* PORTICO_AUTH_H */
