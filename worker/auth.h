/*
 * auth.h: basic authentication on routes (auth_basic, auth_basic_file):
 * the request's Authorization checked against the route's htpasswd users
 * (worker/auth.c).
 */
#ifndef PORTICO_AUTH_H
#define PORTICO_AUTH_H

struct client;
struct req;

enum auth_result {
	AUTH_OK,	/* good credentials: the request goes on */
	AUTH_DENIED,	/* none, malformed or wrong: 401 */
	AUTH_BUSY,	/* the hashing queue is full: 503 */
	AUTH_PENDING	/* the hashing thread checks it: CS_AUTH */
};

/* Checks remembered per worker, and for how long. */
#define AUTH_CACHE_SLOTS	4096
#define AUTH_CACHE_MS		(60 * 1000)
/* Longest wait for the hashing thread before a 503. */
#define AUTH_WAIT_MS		(10 * 1000)

/*
 * Basic authentication on the route of c's request (auth_users set):
 * good credentials go on (request_routed, r->auth_done set), others get
 * 401 (503 when the hashing queue is full); an uncached check waits in
 * CS_AUTH for the hashing thread.
 */
enum step	 auth_begin(struct client *c);
/* CS_AUTH: the request waits for its check, then goes on or gets 401. */
enum step	 auth_step(struct client *c);
/* The exchange ends: a check still queued for it is dropped. */
void		 auth_release(struct req *r);

#endif /* PORTICO_AUTH_H */
