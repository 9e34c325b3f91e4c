/*
 * conf_listener.c: the [listener NAME] sections: the addresses to listen
 * on (each at most once in the whole file), the backlog, defer_accept,
 * the redirect to
 * HTTPS, and the TLS keys (certificates and keys, protocols, ciphers,
 * client certificates), checked together once the section is read.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <sys/types.h>
#include <netinet/in.h>

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/conf.h"
#include "common/conf_int.h"
#include "common/net.h"

static void	 key_listen(struct loader *, void *, const char *);
static void	 key_tls_certificate(struct loader *, void *, const char *);
static void	 key_tls_key(struct loader *, void *, const char *);
static void	 key_tls_protocols(struct loader *, void *, const char *);
static void	 key_tls_client_ca(struct loader *, void *, const char *);
static void	 key_tls_verify_client(struct loader *, void *, const char *);
static void	 key_redirect(struct loader *, void *, const char *);
static void	 key_defer_accept(struct loader *, void *, const char *);
static void	 key_l_trusted_proxies(struct loader *, void *, const char *);
static void	 key_l_allow(struct loader *, void *, const char *);
static void	 key_l_deny(struct loader *, void *, const char *);
static void	 key_l_real_ip_header(struct loader *, void *, const char *);
static void	 file_add(struct loader *, struct conf_file **, size_t *,
		    const char *);
static void	 listener_defaults(struct conf_listener *);
static int	 listener_taken(struct loader *, const char *, const char **);
static int	 listener_open(struct loader *, char *);
static void	 listener_discard(struct loader *);
static void	 listener_finish(struct loader *);
static void	 listener_tls_finish(struct loader *, struct conf_listener *,
		    const struct meta *);

#define L(f)	offsetof(struct conf_listener, f)

static const struct key listener_keys[] = {
	{ "listen", K_FUNC, 0, 0, 0, 1, key_listen, NULL },
	{ "backlog", K_INT, L(backlog), 1, 65535, 0, NULL, NULL },
	{ "defer_accept", K_FUNC, 0, 0, 0, 0, key_defer_accept, NULL },
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
	{ "trusted_proxies", K_FUNC, 0, 0, 0, 1, key_l_trusted_proxies, NULL },
	{ "allow", K_FUNC, 0, 0, 0, 1, key_l_allow, NULL },
	{ "deny", K_FUNC, 0, 0, 0, 1, key_l_deny, NULL },
	{ "real_ip_header", K_FUNC, 0, 0, 0, 0, key_l_real_ip_header, NULL },
	{ "proxy_protocol", K_ONOFF, L(proxy_protocol), 0, 0, 0, NULL, NULL },
	{ "proxy_protocol_timeout", K_DURATION, L(proxy_protocol_timeout_ms),
	    1, 0, 0, NULL, NULL },
	{ "max_conns_per_ip", K_INT, L(max_conns_per_ip), 0, 1000000, 0, NULL,
	    NULL },
	/* Header rules, before each route's (common/conf_rules.c) */
	{ "request_header_set", K_FUNC, 0, 0, 0, 1,
	    conf_key_l_request_header_set, NULL },
	{ "request_header_add", K_FUNC, 0, 0, 0, 1,
	    conf_key_l_request_header_add, NULL },
	{ "request_header_remove", K_FUNC, 0, 0, 0, 1,
	    conf_key_l_request_header_remove, NULL },
	{ "response_header_set", K_FUNC, 0, 0, 0, 1,
	    conf_key_l_response_header_set, NULL },
	{ "response_header_add", K_FUNC, 0, 0, 0, 1,
	    conf_key_l_response_header_add, NULL },
	{ "response_header_remove", K_FUNC, 0, 0, 0, 1,
	    conf_key_l_response_header_remove, NULL },
	{ "access_log_format", K_FUNC, 0, 0, 0, 0,
	    conf_key_l_access_log_format, NULL },
	{ "access_log", K_FUNC, 0, 0, 0, 1, conf_key_l_access_log, NULL },
	{ "http2", K_ONOFF, L(http2), 0, 0, 0, NULL, NULL },
};

_Static_assert(NKEYS(listener_keys) <= MAX_KEYS, "raise MAX_KEYS");

const struct conf_section conf_sec_listener = {
	"listener", SEC_LISTENER, 1, listener_keys, NKEYS(listener_keys),
	listener_taken, listener_open, listener_discard, listener_finish
};

static void
listener_defaults(struct conf_listener *l)
{
	memset(l, 0, sizeof(*l));
	l->backlog = 511;
	l->tls_protocols = CONF_TLS_V12 | CONF_TLS_V13;
	l->tls_handshake_timeout_ms = 10 * 1000;
	l->redirect_port = 443;
	l->proxy_protocol_timeout_ms = 5 * 1000;
	l->limit_stat_idx = -1;
	l->http2 = -1;		/* listener_finish: on with TLS */
}

void
conf_listener_clear(struct conf_listener *l)
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
	conf_rules_clear(&l->rules);
	vars_free(&l->alog.fmt);
	conf_alogset_clear(&l->alogs);
	free(l->name);
	free(l->addrs);
	free(l->fds);
	free(l->trusted);
	free(l->access);
	memset(l, 0, sizeof(*l));
}

/* allow = CIDR|all [...]; repeatable; one ordered list with deny. */
static void
key_l_allow(struct loader *ld, void *obj, const char *v)
{
	struct conf_listener	*l = obj;

	conf_access_add(ld, "allow", v, 0, &l->access, &l->naccess);
}

/* deny = CIDR|all [...]; repeatable; one ordered list with allow. */
static void
key_l_deny(struct loader *ld, void *obj, const char *v)
{
	struct conf_listener	*l = obj;

	conf_access_add(ld, "deny", v, 1, &l->access, &l->naccess);
}

/*
 * defer_accept = on | off | SECONDS (1..3600).  on is 1 second, as nginx's
 * "listen ... deferred": the kernel then waits for the first bytes through
 * its SYN-ACK retransmissions, so the wait is longer than the value.
 */
static void
key_defer_accept(struct loader *ld, void *obj, const char *v)
{
	struct conf_listener	*l = obj;
	int64_t			 secs;

	if (strcmp(v, "on") == 0)
		l->defer_accept = 1;
	else if (strcmp(v, "off") == 0)
		l->defer_accept = 0;
	else if (conf_number(v, 1, 3600, &secs) == 0)
		l->defer_accept = (int)secs;
	else
		conf_err(ld, ld->lineno, "bad defer_accept '%s' (on, off or "
		    "seconds from 1 to 3600)", v);
}

/* trusted_proxies = CIDR [CIDR ...]; repeatable; replaces [global]'s. */
static void
key_l_trusted_proxies(struct loader *ld, void *obj, const char *v)
{
	struct conf_listener	*l = obj;

	conf_cidr_list_add(ld, "trusted_proxies", v, &l->trusted, &l->ntrusted);
}

static void
key_l_real_ip_header(struct loader *ld, void *obj, const char *v)
{
	struct conf_listener	*l = obj;

	conf_real_ip_header(ld, v, &l->real_ip_header);
}

static void
key_listen(struct loader *ld, void *obj, const char *v)
{
	struct conf_listener	*l = obj;
	struct conf_addr	 a, *na;
	struct taken_addr	*nt;
	char			 why[WHY_MAX];
	size_t			 i;

	if (conf_addr_parse(v, 1, &a, why, sizeof(why)) == -1) {
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
		if ((nt = conf_grow(ld, ld->taken, ld->ntaken,
		    sizeof(*nt))) == NULL)
			return;
		ld->taken = nt;
		ld->taken[ld->ntaken].addr = a;
		ld->taken[ld->ntaken].line = ld->lineno;
		ld->ntaken++;
	}
	if ((na = conf_grow(ld, l->addrs, l->naddrs, sizeof(*na))) == NULL)
		return;
	l->addrs = na;
	a.line = ld->lineno;
	l->addrs[l->naddrs++] = a;
}

/* Append a file name to a list of them (tls_certificate, tls_key). */
static void
file_add(struct loader *ld, struct conf_file **list, size_t *n, const char *v)
{
	struct conf_file	*nl;
	char			*p;

	if ((p = conf_strdup(ld, v)) == NULL)
		return;
	if ((nl = conf_grow(ld, *list, *n, sizeof(*nl))) == NULL) {
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

	if ((copy = conf_strdup(ld, v)) == NULL)
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

	if ((p = conf_strdup(ld, v)) == NULL)
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
	} else if (strncmp(v, "https:", 6) == 0 && conf_port(v + 6, &port) == 0) {
		l->redirect_https = 1;
		l->redirect_port = port;
	} else
		conf_err(ld, ld->lineno, "bad redirect '%s' (https or "
		    "https:PORT)", v);
}

/* The line of the listener called name, or 0. */
static int
listener_taken(struct loader *ld, const char *name, const char **file)
{
	const struct conf_listener	*l;

	if ((l = conf_named_find(ld->conf->listeners, ld->conf->nlisteners,
	    sizeof(*l), name)) == NULL)
		return 0;
	*file = l->file;
	return l->line;
}

/* A new listener at the end of the array, or the scratch one. */
static int
listener_open(struct loader *ld, char *name)
{
	struct conf		*conf = ld->conf;
	struct conf_listener	*nl;

	if (ld->scratch)
		ld->obj = &ld->sl;
	else {
		if ((nl = conf_append(ld, conf->listeners, &conf->nlisteners,
		    sizeof(*nl), &ld->lmeta)) == NULL)
			return -1;
		conf->listeners = nl;
	}
	listener_defaults(ld->obj);
	nl = ld->obj;
	nl->name = name;
	nl->file = ld->file;
	nl->line = ld->lineno;
	return 0;
}

static void
listener_discard(struct loader *ld)
{
	conf_listener_clear(&ld->sl);
}

/* Every listener listens somewhere; its fds start unbound. */
static void
listener_finish(struct loader *ld)
{
	struct conf		*conf = ld->conf;
	struct conf_listener	*l;
	size_t			 i, j;

	for (i = 0; i < conf->nlisteners; i++) {
		l = &conf->listeners[i];
		if (l->naddrs == 0 && conf_key_line(ld, SEC_LISTENER,
		    &ld->lmeta[i], "listen") == 0)
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
		if (l->http2 == -1)
			l->http2 = l->ntls_cert > 0;
	}
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
			if ((line = conf_key_line(ld, SEC_LISTENER, m,
			    needs_cert[k])) != 0)
				conf_err(ld, line, "listener '%s': %s needs "
				    "tls_certificate", l->name, needs_cert[k]);
		return;
	}
	if (l->redirect_https)
		conf_err(ld, conf_key_line(ld, SEC_LISTENER, m, "redirect"),
		    "listener '%s': redirect = https is for a listener without "
		    "TLS", l->name);
	if (l->tls_verify_client != TLS_VERIFY_OFF && l->tls_client_ca.path == NULL)
		conf_err(ld, conf_key_line(ld, SEC_LISTENER, m,
		    "tls_verify_client"),
		    "listener '%s': tls_verify_client needs tls_client_ca",
		    l->name);
	if (l->tls_verify_client == TLS_VERIFY_OFF && l->tls_client_ca.path != NULL)
		conf_err(ld, l->tls_client_ca.line, "listener '%s': "
		    "tls_client_ca needs tls_verify_client = on or optional",
		    l->name);
}
