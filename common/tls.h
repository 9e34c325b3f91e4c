/*
 * tls.h: TLS contexts built from the configuration, and the shared
 * session-ticket keys.
 *
 * The master loads every certificate, key and CA file when it loads a
 * configuration (at start, on reload, and for -t), so that a bad or
 * mismatched file is reported with the line that names it before anything
 * changes, and so that the workers, which may run as an unprivileged
 * user, never read a private key themselves: they inherit the finished
 * contexts with fork().
 *
 * Session tickets are encrypted with keys that the master generates and
 * rotates (tls_ticket_rotation) in a small shared region of their own, so
 * a ticket issued by one worker resumes on any other, and across reloads.
 * Layout (types only; the master writes the keys, workers read them):
 *
 *   +-----------------------------+
 *   | magic, version              |
 *   | seq                         |  odd while the master writes the keys
 *   | rotated_ms                  |  when key[0] became current
 *   | key[0]                      |  current: encrypts new tickets
 *   | key[1]                      |  previous: still decrypts (and renews)
 *   | counters                    |  handshakes, added to by every worker
 *   +-----------------------------+
 *
 * Readers copy both keys and retry if seq was odd or changed (a seqlock),
 * so a worker never takes a lock on the handshake path.
 */
#ifndef PORTICO_TLS_H
#define PORTICO_TLS_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "common/conf.h"

#define TLS_SHM_MAGIC	0x544c5331u	/* "TLS1" */
/* Bump on any change to struct tls_shm: a new binary then makes new keys. */
#define TLS_SHM_VERSION	2

struct tls_ticket_key {
	unsigned char	 name[16];
	unsigned char	 aes[32];	/* AES-256-CBC */
	unsigned char	 hmac[32];	/* HMAC-SHA256 */
};

struct tls_shm {
	uint32_t		 magic;
	uint32_t		 version;
	uint64_t		 size;		/* sizeof(struct tls_shm) */
	uint64_t		 seq;
	uint64_t		 rotated_ms;
	struct tls_ticket_key	 key[2];
	/* Counters, all workers (atomic adds). */
	uint64_t		 handshakes;	/* client handshakes completed */
	uint64_t		 resumed;	/* ... of them resumed */
	uint64_t		 failed;	/* failed or timed out */
	uint64_t		 up_handshakes;	/* to TLS upstream servers */
	uint64_t		 up_resumed;
	uint64_t		 up_failed;
};

/* A name from a certificate, for choosing by SNI. */
struct tls_name {
	char		*name;		/* lowercase; a wildcard as ".example.com" */
	int		 wildcard;
	size_t		 ctx;		/* index in tls_server.ctx */
};

/* A TLS listener: one context per certificate (RSA + ECDSA pairs for the
 * same names share one), ctx[0] for clients whose name matches none. */
struct tls_server {
	SSL_CTX			**ctx;
	unsigned		 *ktypes;	/* per ctx: key types held (bits) */
	size_t			  nctx;
	struct tls_name		 *names;
	size_t			  nnames;
	const struct conf_listener *conf;
	int64_t			 *not_after;	/* per tls_certificate (file order):
						   its notAfter, Unix time */
};

/* TLS towards the servers of an upstream. */
struct tls_client {
	SSL_CTX			*ctx;
	const struct conf_upstream *conf;
};

/* The ticket-key region (NULL until tls_shm_create). */
extern struct tls_shm	*tls_shm;

/*
 * Build the TLS contexts of every TLS listener and upstream of conf.
 * Returns 0, or -1 with *errors set to malloc'd "file:line: message\n"
 * lines naming each file that could not be used; conf is left without
 * contexts then.
 */
int		 tls_conf_load(struct conf *conf, char **errors);
/* Free the contexts of conf (conf_free calls it). */
void		 tls_conf_free(struct conf *conf);
/* Pick the context for a server name (SNI), or NULL for the default. */
SSL_CTX		*tls_server_pick(const struct tls_server *srv, const char *name);
/*
 * The notAfter time (Unix seconds) of certificate i of a TLS listener,
 * in tls_certificate order, as loaded; -1 when it cannot be read.
 */
int64_t		 tls_cert_not_after(const struct tls_server *srv, size_t i);
/* ex_data index of the SSL_SESSION ** an upstream connection saves into. */
int		 tls_session_index(void);

/* Master: map the ticket-key region (a memfd) with fresh keys.  -1 on error. */
int		 tls_shm_create(void);
/*
 * Master: map the ticket-key region a previous binary handed over in fd
 * if its layout is this one's (tls_shm_check); fd is then the region's.
 * -1 with why filled, fd left to the caller.
 */
int		 tls_shm_attach(int fd, char *why, size_t whylen);
/* 0 when a region of maplen bytes has this binary's layout; else -1, why. */
int		 tls_shm_check(const struct tls_shm *s, size_t maplen, char *why,
		    size_t whylen);
/* The memfd of the region; -1 when there is none. */
int		 tls_shm_memfd(void);
/* Unmap (the region lives on while another process maps it). */
void		 tls_shm_destroy(void);
/*
 * Master: rotate the ticket keys when period_ms has passed since the last
 * rotation.  Returns 1 if it rotated, 0 if not; *next_ms gets the time
 * until the next rotation is due.
 */
int		 tls_tickets_tick(uint64_t now_ms, uint64_t period_ms,
		    uint64_t *next_ms);

#endif /* PORTICO_TLS_H */
