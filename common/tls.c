/*
 * tls.c: TLS contexts from the configuration, and the ticket keys.
 *
 * See tls.h.  Everything here runs in the master (or in portico -t); the
 * workers use the contexts it built, and the callbacks installed on them.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <openssl/x509v3.h>

#include "common/shm.h"
#include "common/tls.h"

/* Mozilla's "intermediate" TLS 1.2 list: forward secrecy, AEAD only. */
#define PORTICO_CIPHERS \
	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:" \
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:" \
	"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"
#define PORTICO_CIPHERSUITES \
	"TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:" \
	"TLS_CHACHA20_POLY1305_SHA256"

#define KT_RSA		0x01
#define KT_EC		0x02
#define KT_OTHER	0x04

struct tls_shm		*tls_shm;

static EVP_CIPHER	*ticket_cipher;
static int		 session_idx = -1;

/* Errors collected while loading, as conf_load reports them. */
struct errs {
	const char	*file;
	char		*text;
	size_t		 len, cap;
	int		 n, oom;
};

static void	 err_add(struct errs *, int, const char *, ...)
		    __attribute__((format(printf, 3, 4)));

static void
err_add(struct errs *e, int line, const char *fmt, ...)
{
	char	 msg[1024];
	va_list	 ap;

	e->n++;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (conf_errtext_add(&e->text, &e->len, &e->cap, e->file, line,
	    msg) == -1)
		e->oom = 1;
}

/* The reason of the last OpenSSL error, and an empty error queue. */
static const char *
ssl_reason(char *buf, size_t len)
{
	unsigned long	 e, last = 0;
	const char	*r;

	while ((e = ERR_get_error()) != 0)
		last = e;
	if (last == 0) {
		snprintf(buf, len, "%s", errno ? strerror(errno) : "unknown error");
		return buf;
	}
	if (ERR_GET_LIB(last) == ERR_LIB_SYS) {
		snprintf(buf, len, "%s", strerror(ERR_GET_REASON(last)));
		return buf;
	}
	r = ERR_reason_error_string(last);
	snprintf(buf, len, "%s", r != NULL ? r : "unknown error");
	return buf;
}

/*
 * Session tickets.  Both keys are copied under the seqlock, the lookup
 * works on the copy.  Returns 1 (current key), 2 (previous key: the
 * ticket is renewed), 0 (unknown key: full handshake), -1 on error.
 */
static int
ticket_keys(struct tls_ticket_key *k)
{
	uint64_t	 s1, s2;
	int		 tries;

	if (tls_shm == NULL)
		return -1;
	for (tries = 0; tries < 1000; tries++) {
		s1 = __atomic_load_n(&tls_shm->seq, __ATOMIC_ACQUIRE);
		if (s1 & 1)
			continue;
		memcpy(k, tls_shm->key, sizeof(tls_shm->key));
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		s2 = __atomic_load_n(&tls_shm->seq, __ATOMIC_RELAXED);
		if (s1 == s2)
			return 0;
	}
	return -1;
}

static int
ticket_cb(SSL *ssl, unsigned char *name, unsigned char *iv,
    EVP_CIPHER_CTX *cctx, EVP_MAC_CTX *hctx, int enc)
{
	struct tls_ticket_key	 k[2];
	OSSL_PARAM		 params[3];
	int			 i, rc;

	(void)ssl;
	if (ticket_cipher == NULL || ticket_keys(k) == -1)
		return enc ? 0 : 0;
	if (enc) {
		i = 0;
		if (RAND_bytes(iv, EVP_CIPHER_get_iv_length(ticket_cipher)) != 1)
			return -1;
		memcpy(name, k[0].name, sizeof(k[0].name));
		rc = EVP_EncryptInit_ex(cctx, ticket_cipher, NULL, k[0].aes, iv);
	} else {
		for (i = 0; i < 2; i++)
			if (memcmp(name, k[i].name, sizeof(k[i].name)) == 0)
				break;
		if (i == 2) {
			OPENSSL_cleanse(k, sizeof(k));
			return 0;
		}
		rc = EVP_DecryptInit_ex(cctx, ticket_cipher, NULL, k[i].aes, iv);
	}
	params[0] = OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY,
	    k[i].hmac, sizeof(k[i].hmac));
	params[1] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
	    (char *)"SHA256", 0);
	params[2] = OSSL_PARAM_construct_end();
	if (rc != 1 || EVP_MAC_CTX_set_params(hctx, params) != 1) {
		OPENSSL_cleanse(k, sizeof(k));
		return -1;
	}
	OPENSSL_cleanse(k, sizeof(k));
	return i == 0 ? 1 : 2;
}

/*
 * ALPN: h2 (the listener's http2, arg non-NULL) and http/1.1, in the
 * server's order.  A client that offers none of them gets an alert.
 */
static int
alpn_cb(SSL *ssl, const unsigned char **out, unsigned char *outlen,
    const unsigned char *in, unsigned int inlen, void *arg)
{
	static const unsigned char	 protos[] = "\x02h2\x08http/1.1";
	const unsigned char		*p = protos;
	unsigned int			 plen = sizeof(protos) - 1;
	unsigned char			*sel;

	(void)ssl;
	if (arg == NULL) {
		p += 3;		/* http/1.1 only */
		plen -= 3;
	}
	if (SSL_select_next_proto(&sel, outlen, p, plen,
	    in, inlen) != OPENSSL_NPN_NEGOTIATED)
		return SSL_TLSEXT_ERR_ALERT_FATAL;
	*out = sel;
	return SSL_TLSEXT_ERR_OK;
}

SSL_CTX *
tls_server_pick(const struct tls_server *srv, const char *name)
{
	char		 low[256];
	const char	*dot;
	size_t		 i, n;

	n = strlen(name);
	if (n == 0 || n >= sizeof(low))
		return NULL;
	for (i = 0; i < n; i++)
		low[i] = (char)tolower((unsigned char)name[i]);
	if (low[n - 1] == '.')
		n--;
	low[n] = '\0';
	for (i = 0; i < srv->nnames; i++)
		if (!srv->names[i].wildcard && strcmp(srv->names[i].name, low) == 0)
			return srv->ctx[srv->names[i].ctx];
	/* *.example.com covers exactly one label in front of example.com. */
	if ((dot = strchr(low, '.')) == NULL || dot == low)
		return NULL;
	for (i = 0; i < srv->nnames; i++)
		if (srv->names[i].wildcard && strcmp(srv->names[i].name, dot) == 0)
			return srv->ctx[srv->names[i].ctx];
	return NULL;
}

/* SNI: switch to the context whose certificate names the host. */
static int
servername_cb(SSL *ssl, int *al, void *arg)
{
	const struct tls_server	*srv = arg;
	const char		*name;
	SSL_CTX			*ctx;

	(void)al;
	if (srv == NULL || srv->nctx < 2)
		return SSL_TLSEXT_ERR_OK;
	name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
	if (name == NULL)
		return SSL_TLSEXT_ERR_OK;
	ctx = tls_server_pick(srv, name);
	if (ctx != NULL && ctx != SSL_get_SSL_CTX(ssl))
		SSL_set_SSL_CTX(ssl, ctx);
	return SSL_TLSEXT_ERR_OK;
}

/* Upstream side: keep the newest session of a server for the next connection. */
static int
new_session_cb(SSL *ssl, SSL_SESSION *sess)
{
	SSL_SESSION	**slot;

	if (session_idx < 0 || (slot = SSL_get_ex_data(ssl, session_idx)) == NULL)
		return 0;
	if (*slot != NULL)
		SSL_SESSION_free(*slot);
	*slot = sess;
	return 1;
}

int
tls_session_index(void)
{
	return session_idx;
}

static unsigned
key_type(X509 *x)
{
	EVP_PKEY	*k = X509_get0_pubkey(x);

	if (k == NULL)
		return KT_OTHER;
	if (EVP_PKEY_is_a(k, "RSA"))
		return KT_RSA;
	if (EVP_PKEY_is_a(k, "EC"))
		return KT_EC;
	return KT_OTHER;
}

/* Add name (from a certificate) to srv's list, for context ci. */
static int
name_add(struct tls_server *srv, const char *name, size_t len, size_t ci)
{
	struct tls_name	*nn;
	char		*p;
	size_t		 i;
	int		 wild = 0;

	if (len >= 2 && name[0] == '*' && name[1] == '.') {
		wild = 1;
		name++;
		len--;
	}
	if (len == 0 || len > 253 || memchr(name, '*', len) != NULL ||
	    memchr(name, '\0', len) != NULL)
		return 0;	/* not a name we can match */
	if ((p = malloc(len + 1)) == NULL)
		return -1;
	for (i = 0; i < len; i++)
		p[i] = (char)tolower((unsigned char)name[i]);
	p[len] = '\0';
	if (len > 1 && p[len - 1] == '.')
		p[len - 1] = '\0';
	/* The first certificate that names a host keeps it. */
	for (i = 0; i < srv->nnames; i++)
		if (srv->names[i].wildcard == wild &&
		    strcmp(srv->names[i].name, p) == 0) {
			free(p);
			return 0;
		}
	if ((nn = reallocarray(srv->names, srv->nnames + 1, sizeof(*nn))) == NULL) {
		free(p);
		return -1;
	}
	srv->names = nn;
	nn[srv->nnames].name = p;
	nn[srv->nnames].wildcard = wild;
	nn[srv->nnames].ctx = ci;
	srv->nnames++;
	return 0;
}

/*
 * The DNS names of a certificate, sorted into one text ("a b c") so that
 * two certificates can be compared; the subject CN when it has none.
 * malloc'd, or NULL when memory runs out.
 */
static char *
cert_names(X509 *x)
{
	GENERAL_NAMES		*gens;
	const GENERAL_NAME	*g;
	X509_NAME		*subj;
	char			 cn[256];
	char			**v = NULL, *out, *tmp;
	size_t			 n = 0, total = 1, i, j;
	int			 k;

	gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	for (k = 0; gens != NULL && k < sk_GENERAL_NAME_num(gens); k++) {
		g = sk_GENERAL_NAME_value(gens, k);
		if (g->type != GEN_DNS)
			continue;
		if ((tmp = strndup((const char *)ASN1_STRING_get0_data(g->d.dNSName),
		    (size_t)ASN1_STRING_length(g->d.dNSName))) == NULL)
			break;
		if ((v = reallocarray(v, n + 1, sizeof(*v))) == NULL) {
			free(tmp);
			break;
		}
		v[n++] = tmp;
	}
	GENERAL_NAMES_free(gens);
	if (n == 0 && (subj = X509_get_subject_name(x)) != NULL &&
	    X509_NAME_get_text_by_NID(subj, NID_commonName, cn, sizeof(cn)) > 0 &&
	    (v = malloc(sizeof(*v))) != NULL && (v[0] = strdup(cn)) != NULL)
		n = 1;
	for (i = 0; i < n; i++) {
		for (j = 0; v[i][j] != '\0'; j++)
			v[i][j] = (char)tolower((unsigned char)v[i][j]);
		total += j + 1;
	}
	for (i = 1; i < n; i++)		/* insertion sort: few names */
		for (j = i; j > 0 && strcmp(v[j - 1], v[j]) > 0; j--) {
			tmp = v[j];
			v[j] = v[j - 1];
			v[j - 1] = tmp;
		}
	if ((out = malloc(total)) != NULL) {
		out[0] = '\0';
		for (i = 0; i < n; i++) {
			if (i > 0)
				strcat(out, " ");
			strcat(out, v[i]);
		}
	}
	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
	return out;
}

/* The notAfter time of x, Unix seconds; -1 when it cannot be read. */
static int64_t
cert_expiry(const X509 *x)
{
	const ASN1_TIME	*t;
	struct tm	 tm;

	memset(&tm, 0, sizeof(tm));
	if (x == NULL || (t = X509_get0_notAfter(x)) == NULL ||
	    ASN1_TIME_to_tm(t, &tm) != 1)
		return -1;
	return (int64_t)timegm(&tm);
}

int64_t
tls_cert_not_after(const struct tls_server *srv, size_t i)
{
	if (srv == NULL || srv->not_after == NULL || srv->conf == NULL ||
	    i >= srv->conf->ntls_cert)
		return -1;
	return srv->not_after[i];
}

/* A server context with portico's settings for listener l. */
static SSL_CTX *
server_ctx_new(const struct conf *conf, const struct conf_listener *l,
    struct tls_server *srv, struct errs *e)
{
	SSL_CTX		*ctx;
	char		 why[256];
	unsigned char	 sid[SHA256_DIGEST_LENGTH];
	int		 mode;

	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL) {
		err_add(e, l->line, "listener '%s': cannot create a TLS "
		    "context: %s", l->name, ssl_reason(why, sizeof(why)));
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, (l->tls_protocols & CONF_TLS_V12) ?
	    TLS1_2_VERSION : TLS1_3_VERSION);
	SSL_CTX_set_max_proto_version(ctx, (l->tls_protocols & CONF_TLS_V13) ?
	    TLS1_3_VERSION : TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE |
	    SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
	    SSL_OP_IGNORE_UNEXPECTED_EOF);
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS |
	    SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	SSL_CTX_set_read_ahead(ctx, 1);
	if (SSL_CTX_set_cipher_list(ctx, l->tls_ciphers != NULL ?
	    l->tls_ciphers : PORTICO_CIPHERS) != 1) {
		err_add(e, l->line, "listener '%s': tls_ciphers '%s': %s",
		    l->name, l->tls_ciphers ? l->tls_ciphers : PORTICO_CIPHERS,
		    ssl_reason(why, sizeof(why)));
		goto fail;
	}
	if (SSL_CTX_set_ciphersuites(ctx, l->tls_ciphersuites != NULL ?
	    l->tls_ciphersuites : PORTICO_CIPHERSUITES) != 1) {
		err_add(e, l->line, "listener '%s': tls_ciphersuites '%s': %s",
		    l->name, l->tls_ciphersuites ? l->tls_ciphersuites :
		    PORTICO_CIPHERSUITES, ssl_reason(why, sizeof(why)));
		goto fail;
	}
	/*
	 * Resumption by tickets only (stateless: no per-worker cache), with
	 * the shared keys; a session lives as long as one rotation period,
	 * so that every ticket still in use finds its key.
	 */
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SHA256((const unsigned char *)l->name, strlen(l->name), sid);
	SSL_CTX_set_session_id_context(ctx, sid, sizeof(sid));
	SSL_CTX_set_timeout(ctx, (long)(conf->g.tls_ticket_rotation_ms / 1000));
	SSL_CTX_set_num_tickets(ctx, 1);
	SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, ticket_cb);
	SSL_CTX_set_alpn_select_cb(ctx, alpn_cb, l->http2 > 0 ? (void *)1 : NULL);
	SSL_CTX_set_tlsext_servername_callback(ctx, servername_cb);
	SSL_CTX_set_tlsext_servername_arg(ctx, srv);
	if (l->tls_verify_client != TLS_VERIFY_OFF) {
		STACK_OF(X509_NAME)	*names;

		if (SSL_CTX_load_verify_locations(ctx, l->tls_client_ca.path,
		    NULL) != 1) {
			err_add(e, l->tls_client_ca.line, "tls_client_ca %s: "
			    "cannot load: %s", l->tls_client_ca.path,
			    ssl_reason(why, sizeof(why)));
			goto fail;
		}
		if ((names = SSL_load_client_CA_file(l->tls_client_ca.path)) == NULL) {
			err_add(e, l->tls_client_ca.line, "tls_client_ca %s: "
			    "no CA certificate in it: %s", l->tls_client_ca.path,
			    ssl_reason(why, sizeof(why)));
			goto fail;
		}
		SSL_CTX_set_client_CA_list(ctx, names);
		mode = SSL_VERIFY_PEER;
		if (l->tls_verify_client == TLS_VERIFY_ON)
			mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
		SSL_CTX_set_verify(ctx, mode, NULL);
	}
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

/*
 * Load certificate pair i of listener l into ctx.  0, or -1 with the
 * error reported (naming the file).
 */
static int
load_pair(SSL_CTX *ctx, const struct conf_listener *l, size_t i, struct errs *e)
{
	const struct conf_file	*cf = &l->tls_cert[i], *kf = &l->tls_key[i];
	char			 why[256];
	unsigned long		 err;

	ERR_clear_error();
	if (SSL_CTX_use_certificate_chain_file(ctx, cf->path) != 1) {
		err_add(e, cf->line, "tls_certificate %s: cannot load: %s",
		    cf->path, ssl_reason(why, sizeof(why)));
		return -1;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, kf->path, SSL_FILETYPE_PEM) != 1) {
		err = ERR_peek_last_error();
		if (ERR_GET_LIB(err) == ERR_LIB_X509 &&
		    ERR_GET_REASON(err) == X509_R_KEY_VALUES_MISMATCH) {
			ERR_clear_error();
			err_add(e, kf->line, "tls_key %s does not match "
			    "tls_certificate %s", kf->path, cf->path);
		} else
			err_add(e, kf->line, "tls_key %s: cannot load: %s",
			    kf->path, ssl_reason(why, sizeof(why)));
		return -1;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		ERR_clear_error();
		err_add(e, kf->line, "tls_key %s does not match tls_certificate %s",
		    kf->path, cf->path);
		return -1;
	}
	return 0;
}

static void
server_free(struct tls_server *srv)
{
	size_t	 i;

	if (srv == NULL)
		return;
	for (i = 0; i < srv->nctx; i++)
		SSL_CTX_free(srv->ctx[i]);
	for (i = 0; i < srv->nnames; i++)
		free(srv->names[i].name);
	free(srv->ctx);
	free(srv->ktypes);
	free(srv->names);
	free(srv->not_after);
	free(srv);
}

/*
 * The contexts of a TLS listener: one per certificate pair, except that a
 * pair naming exactly the hosts of an earlier one with another key type
 * (RSA beside ECDSA) joins that context, where the client's signature
 * algorithms choose between them.
 */
static struct tls_server *
server_load(const struct conf *conf, const struct conf_listener *l,
    struct errs *e)
{
	struct tls_server	*srv;
	SSL_CTX			*ctx;
	X509			*x;
	char			**sets = NULL, *set;
	unsigned		 kt;
	size_t			 i, j;
	int			 bad = 0;

	if ((srv = calloc(1, sizeof(*srv))) == NULL ||
	    (srv->ctx = calloc(l->ntls_cert, sizeof(*srv->ctx))) == NULL ||
	    (srv->ktypes = calloc(l->ntls_cert, sizeof(*srv->ktypes))) == NULL ||
	    (srv->not_after = calloc(l->ntls_cert, sizeof(*srv->not_after))) == NULL ||
	    (sets = calloc(l->ntls_cert, sizeof(*sets))) == NULL) {
		e->oom = 1;
		goto fail;
	}
	srv->conf = l;
	for (i = 0; i < l->ntls_cert; i++) {
		if ((ctx = server_ctx_new(conf, l, srv, e)) == NULL)
			goto fail;
		if (load_pair(ctx, l, i, e) == -1) {
			SSL_CTX_free(ctx);
			bad = 1;
			continue;
		}
		x = SSL_CTX_get0_certificate(ctx);
		srv->not_after[i] = cert_expiry(x);
		kt = key_type(x);
		if ((set = cert_names(x)) == NULL) {
			SSL_CTX_free(ctx);
			e->oom = 1;
			goto fail;
		}
		for (j = 0; j < srv->nctx; j++)
			if (strcmp(sets[j], set) == 0 && (srv->ktypes[j] & kt) == 0)
				break;
		if (j < srv->nctx) {
			/* Same names, other key type: both in one context. */
			SSL_CTX_free(ctx);
			free(set);
			if (load_pair(srv->ctx[j], l, i, e) == -1) {
				bad = 1;
				continue;
			}
			srv->ktypes[j] |= kt;
			continue;
		}
		srv->ctx[srv->nctx] = ctx;
		srv->ktypes[srv->nctx] = kt;
		sets[srv->nctx] = set;
		srv->nctx++;
	}
	if (bad)
		goto fail;
	/* The names each context answers for, from its certificate. */
	for (j = 0; j < srv->nctx; j++) {
		char	*p, *save;

		for (p = strtok_r(sets[j], " ", &save); p != NULL;
		    p = strtok_r(NULL, " ", &save))
			if (name_add(srv, p, strlen(p), j) == -1) {
				e->oom = 1;
				goto fail;
			}
	}
	for (j = 0; j < l->ntls_cert; j++)
		free(sets[j]);
	free(sets);
	return srv;
fail:
	if (sets != NULL)
		for (j = 0; j < l->ntls_cert; j++)
			free(sets[j]);
	free(sets);
	server_free(srv);
	return NULL;
}

static struct tls_client *
client_load(const struct conf_upstream *u, struct errs *e)
{
	struct tls_client	*cl;
	char			 why[256];
	static const unsigned char alpn[] = "\x08http/1.1";
	static const unsigned char alpn_h2[] = "\x02h2";

	if ((cl = calloc(1, sizeof(*cl))) == NULL) {
		e->oom = 1;
		return NULL;
	}
	cl->conf = u;
	if ((cl->ctx = SSL_CTX_new(TLS_client_method())) == NULL) {
		err_add(e, u->line, "upstream '%s': cannot create a TLS context: %s",
		    u->name, ssl_reason(why, sizeof(why)));
		free(cl);
		return NULL;
	}
	SSL_CTX_set_min_proto_version(cl->ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(cl->ctx, SSL_OP_NO_RENEGOTIATION |
	    SSL_OP_NO_COMPRESSION | SSL_OP_IGNORE_UNEXPECTED_EOF);
	SSL_CTX_set_mode(cl->ctx, SSL_MODE_RELEASE_BUFFERS |
	    SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	SSL_CTX_set_read_ahead(cl->ctx, 1);
	if (u->protocol == UP_PROTO_H2)
		SSL_CTX_set_alpn_protos(cl->ctx, alpn_h2, sizeof(alpn_h2) - 1);
	else
		SSL_CTX_set_alpn_protos(cl->ctx, alpn, sizeof(alpn) - 1);
	SSL_CTX_set_session_cache_mode(cl->ctx, SSL_SESS_CACHE_CLIENT |
	    SSL_SESS_CACHE_NO_INTERNAL_STORE);
	SSL_CTX_sess_set_new_cb(cl->ctx, new_session_cb);
	if (u->tls_verify) {
		SSL_CTX_set_verify(cl->ctx, SSL_VERIFY_PEER, NULL);
		if (u->tls_ca != NULL) {
			if (SSL_CTX_load_verify_locations(cl->ctx, u->tls_ca,
			    NULL) != 1) {
				err_add(e, u->line, "upstream '%s': tls_ca %s: "
				    "cannot load: %s", u->name, u->tls_ca,
				    ssl_reason(why, sizeof(why)));
				SSL_CTX_free(cl->ctx);
				free(cl);
				return NULL;
			}
		} else if (SSL_CTX_set_default_verify_paths(cl->ctx) != 1)
			ERR_clear_error();	/* no system store: nothing verifies */
	} else
		SSL_CTX_set_verify(cl->ctx, SSL_VERIFY_NONE, NULL);
	return cl;
}

int
tls_conf_load(struct conf *conf, char **errors)
{
	struct errs		 e;
	struct conf_listener	*l;
	struct conf_upstream	*u;
	size_t			 i, k;
	int			 any;

	*errors = NULL;
	memset(&e, 0, sizeof(e));
	e.file = conf->files != NULL && conf->nfiles > 0 ? conf->files[0] :
	    conf->path;
	if (ticket_cipher == NULL &&
	    (ticket_cipher = EVP_CIPHER_fetch(NULL, "AES-256-CBC", NULL)) == NULL)
		err_add(&e, 0, "TLS: AES-256-CBC is not available for "
		    "session tickets");
	if (session_idx < 0)
		session_idx = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
	for (i = 0; i < conf->nlisteners; i++) {
		l = &conf->listeners[i];
		if (l->ntls_cert == 0 || l->ntls_cert != l->ntls_key)
			continue;
		l->tls = server_load(conf, l, &e);
	}
	for (i = 0; i < conf->nupstreams; i++) {
		u = &conf->upstreams[i];
		for (k = 0, any = 0; k < u->nservers; k++)
			any |= u->servers[k].tls;
		if (any)
			u->tls_ctx = client_load(u, &e);
	}
	if (e.oom && e.n == 0)
		err_add(&e, 0, "out of memory");
	if (e.n == 0 && !e.oom)
		return 0;
	tls_conf_free(conf);
	if (e.oom) {
		free(e.text);
		e.text = strdup("out of memory loading TLS files\n");
	}
	*errors = e.text;
	return -1;
}

void
tls_conf_free(struct conf *conf)
{
	size_t	 i;

	for (i = 0; i < conf->nlisteners; i++) {
		server_free(conf->listeners[i].tls);
		conf->listeners[i].tls = NULL;
	}
	for (i = 0; i < conf->nupstreams; i++) {
		if (conf->upstreams[i].tls_ctx == NULL)
			continue;
		SSL_CTX_free(conf->upstreams[i].tls_ctx->ctx);
		free(conf->upstreams[i].tls_ctx);
		conf->upstreams[i].tls_ctx = NULL;
	}
}

static int
key_new(struct tls_ticket_key *k)
{
	return RAND_bytes((unsigned char *)k, sizeof(*k)) == 1 ? 0 : -1;
}

/* The memfd behind tls_shm, for a binary upgrade. */
static int		 tls_shm_fd = -1;

int
tls_shm_create(void)
{
	struct tls_shm	*s;
	int		 fd;

	if (tls_shm != NULL)
		return 0;
	if ((s = shm_map_new("portico-tls", sizeof(*s), &fd)) == NULL)
		return -1;
	s->magic = TLS_SHM_MAGIC;
	s->version = TLS_SHM_VERSION;
	s->size = sizeof(*s);
	if (key_new(&s->key[0]) == -1 || key_new(&s->key[1]) == -1) {
		munmap(s, sizeof(*s));
		close(fd);
		errno = EIO;
		return -1;
	}
	tls_shm = s;
	tls_shm_fd = fd;
	return 0;
}

int
tls_shm_check(const struct tls_shm *s, size_t maplen, char *why,
    size_t whylen)
{
	if (maplen < sizeof(s->magic) + sizeof(s->version) ||
	    s->magic != TLS_SHM_MAGIC) {
		snprintf(why, whylen, "not a portico ticket key region");
		return -1;
	}
	if (s->version != TLS_SHM_VERSION || s->size != sizeof(*s) ||
	    maplen != sizeof(*s)) {
		snprintf(why, whylen, "ticket key layout version %u of %zu "
		    "bytes, this binary has %u of %zu", s->version, maplen,
		    TLS_SHM_VERSION, sizeof(*s));
		return -1;
	}
	return 0;
}

int
tls_shm_attach(int fd, char *why, size_t whylen)
{
	struct tls_shm	*s;
	size_t		 len;

	if (tls_shm != NULL) {
		snprintf(why, whylen, "ticket keys already mapped");
		return -1;
	}
	if ((s = shm_map_fd(fd, &len)) == NULL) {
		snprintf(why, whylen, "cannot map it: %s", strerror(errno));
		return -1;
	}
	if (tls_shm_check(s, len, why, whylen) == -1) {
		munmap(s, len);
		return -1;
	}
	tls_shm = s;
	tls_shm_fd = fd;
	return 0;
}

int
tls_shm_memfd(void)
{
	return tls_shm_fd;
}

/*
 * Only unmapped, not wiped: after a binary upgrade the new master still
 * uses the keys.  The kernel frees (and clears) the pages once the last
 * process has unmapped them.
 */
void
tls_shm_destroy(void)
{
	if (tls_shm != NULL)
		munmap(tls_shm, sizeof(*tls_shm));
	tls_shm = NULL;
	if (tls_shm_fd != -1)
		close(tls_shm_fd);
	tls_shm_fd = -1;
}

int
tls_tickets_tick(uint64_t now_ms, uint64_t period_ms, uint64_t *next_ms)
{
	struct tls_ticket_key	 k;
	uint64_t		 seq;
	int			 rotated = 0;

	*next_ms = period_ms;
	if (tls_shm == NULL || period_ms == 0)
		return 0;
	if (tls_shm->rotated_ms == 0)
		tls_shm->rotated_ms = now_ms;
	/*
	 * During a binary upgrade two masters share the keys: the one that
	 * makes the sequence odd writes, the other sees the new time.
	 */
	seq = __atomic_load_n(&tls_shm->seq, __ATOMIC_RELAXED);
	if (now_ms - tls_shm->rotated_ms >= period_ms && (seq & 1) == 0 &&
	    key_new(&k) == 0) {
		if (__atomic_compare_exchange_n(&tls_shm->seq, &seq, seq + 1, 0,
		    __ATOMIC_ACQ_REL, __ATOMIC_RELAXED)) {
			if (now_ms - tls_shm->rotated_ms >= period_ms) {
				tls_shm->key[1] = tls_shm->key[0];
				tls_shm->key[0] = k;
				tls_shm->rotated_ms = now_ms;
				rotated = 1;
			}
			__atomic_store_n(&tls_shm->seq, seq + 2,
			    __ATOMIC_RELEASE);
		}
		OPENSSL_cleanse(&k, sizeof(k));
	}
	*next_ms = tls_shm->rotated_ms + period_ms - now_ms;
	return rotated;
}

/* Identity (SHA-256) and description (subject, expiry) of a certificate. */
static void
cert_describe(X509 *x, struct tls_cert_id *id)
{
	BIO		*b;
	struct tm	 tm;
	unsigned char	 md[EVP_MAX_MD_SIZE];
	unsigned	 mdlen = 0, i;
	char		 subj[256] = "?", exp[32] = "?";
	int		 n;

	id->fp[0] = '\0';
	if (X509_digest(x, EVP_sha256(), md, &mdlen) == 1 && mdlen == 32)
		for (i = 0; i < mdlen; i++)
			snprintf(id->fp + 2 * i, 3, "%02x", md[i]);
	if ((b = BIO_new(BIO_s_mem())) != NULL) {
		if (X509_NAME_print_ex(b, X509_get_subject_name(x), 0,
		    XN_FLAG_RFC2253) >= 0 &&
		    (n = BIO_read(b, subj, sizeof(subj) - 1)) > 0)
			subj[n] = '\0';
		BIO_free(b);
	}
	memset(&tm, 0, sizeof(tm));
	if (ASN1_TIME_to_tm(X509_get0_notAfter(x), &tm) == 1)
		strftime(exp, sizeof(exp), "%Y-%m-%d %H:%M:%S UTC", &tm);
	snprintf(id->text, sizeof(id->text), "%s, expires %s", subj, exp);
}

int
tls_server_cert_ids(const struct tls_server *srv, struct tls_cert_id **out,
    size_t *n)
{
	struct tls_cert_id	*ids = NULL, *nids;
	SSL_CTX		*ctx;
	X509		*x;
	size_t		 i;
	int		 more;

	*out = NULL;
	*n = 0;
	for (i = 0; i < srv->nctx; i++) {
		ctx = srv->ctx[i];
		/* An RSA and an ECDSA pair may share a context. */
		more = SSL_CTX_set_current_cert(ctx, SSL_CERT_SET_FIRST);
		while (more == 1) {
			if ((x = SSL_CTX_get0_certificate(ctx)) != NULL) {
				nids = realloc(ids, (*n + 1) * sizeof(*ids));
				if (nids == NULL) {
					free(ids);
					*n = 0;
					return -1;
				}
				ids = nids;
				cert_describe(x, &ids[(*n)++]);
			}
			more = SSL_CTX_set_current_cert(ctx, SSL_CERT_SET_NEXT);
		}
		(void)SSL_CTX_set_current_cert(ctx, SSL_CERT_SET_FIRST);
	}
	*out = ids;
	return 0;
}
