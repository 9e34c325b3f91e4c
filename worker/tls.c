/*
 * worker/tls.c: non-blocking TLS connections inside the worker's event
 * loop.  See tls.h.
 *
 * OpenSSL's error queue is emptied after every failure, so that
 * SSL_get_error() never sees a stale entry from another connection.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "common/shm.h"
#include "worker/tls.h"

#define TLS_RECORD	16384	/* plaintext of one full record */

/* An upstream server's session cache: the slot new_session_cb fills. */
struct tls_session {
	SSL_SESSION	*last;
};

static void	 count(uint64_t *);
static void	 fail(struct tls_conn *, int, int);

static void
count(uint64_t *field)
{
	if (tls_shm != NULL)
		shm_count(field);
}

/*
 * Note why the connection failed (rc and err from SSL_get_error), mark it
 * failed, and empty OpenSSL's error queue.
 */
static void
fail(struct tls_conn *t, int rc, int err)
{
	unsigned long	 e, last = 0;
	const char	*r;
	long		 v;
	int		 saved = errno;

	while ((e = ERR_get_error()) != 0)
		last = e;
	t->failed = 1;
	if (!t->server && (v = SSL_get_verify_result(t->ssl)) != X509_V_OK) {
		snprintf(t->why, sizeof(t->why), "certificate verify failed: %s",
		    X509_verify_cert_error_string(v));
		return;
	}
	if (last != 0 && ERR_GET_LIB(last) != ERR_LIB_SYS &&
	    (r = ERR_reason_error_string(last)) != NULL) {
		snprintf(t->why, sizeof(t->why), "%s", r);
		return;
	}
	if (err == SSL_ERROR_SYSCALL && rc <= 0 && saved != 0 && last == 0)
		snprintf(t->why, sizeof(t->why), "%s", strerror(saved));
	else if (last != 0 && ERR_GET_LIB(last) == ERR_LIB_SYS)
		snprintf(t->why, sizeof(t->why), "%s",
		    strerror(ERR_GET_REASON(last)));
	else
		snprintf(t->why, sizeof(t->why), "connection closed by the peer");
}

static struct tls_conn *
conn_new(SSL_CTX *ctx, int fd)
{
	struct tls_conn	*t;

	if ((t = calloc(1, sizeof(*t))) == NULL)
		return NULL;
	if ((t->ssl = SSL_new(ctx)) == NULL || SSL_set_fd(t->ssl, fd) != 1) {
		ERR_clear_error();
		SSL_free(t->ssl);
		free(t);
		return NULL;
	}
	return t;
}

struct tls_conn *
tls_conn_accept(struct tls_server *srv, int fd)
{
	struct tls_conn	*t;

	if (srv == NULL || srv->nctx == 0 || (t = conn_new(srv->ctx[0], fd)) == NULL)
		return NULL;
	t->server = 1;
	SSL_set_accept_state(t->ssl);
	return t;
}

/* Whether s is an IP address literal (no SNI for those). */
static int
is_ip(const char *s)
{
	unsigned char	 b[16];

	return inet_pton(AF_INET, s, b) == 1 || inet_pton(AF_INET6, s, b) == 1;
}

struct tls_conn *
tls_conn_connect(struct tls_client *cl, int fd, const struct conf_server *s,
    struct tls_session **cache)
{
	struct tls_conn	*t;
	const char	*name;
	char		 ip[64], *p;
	int		 ok = 1;

	if (cl == NULL || (t = conn_new(cl->ctx, fd)) == NULL)
		return NULL;
	SSL_set_connect_state(t->ssl);
	name = cl->conf->tls_server_name != NULL ? cl->conf->tls_server_name :
	    s->host;
	if (name != NULL && !is_ip(name)) {
		ok &= SSL_set_tlsext_host_name(t->ssl, name);
		if (cl->conf->tls_verify)
			ok &= SSL_set1_host(t->ssl, name);
	} else if (cl->conf->tls_verify) {
		/* Verify the address itself: "1.2.3.4:443", "[::1]:443". */
		if (name != NULL)
			snprintf(ip, sizeof(ip), "%s", name);
		else {
			snprintf(ip, sizeof(ip), "%s", s->addr.text[0] == '[' ?
			    s->addr.text + 1 : s->addr.text);
			if ((p = strrchr(ip, s->addr.text[0] == '[' ? ']' : ':')) != NULL)
				*p = '\0';
		}
		ok &= X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(t->ssl), ip);
	}
	/* Without memory for the cache, the connection goes without resumption. */
	if (cache != NULL && *cache == NULL)
		*cache = calloc(1, sizeof(**cache));
	if (cache != NULL && *cache != NULL) {
		SSL_set_ex_data(t->ssl, tls_session_index(), &(*cache)->last);
		if ((*cache)->last != NULL)
			ok &= SSL_set_session(t->ssl, (*cache)->last);
	}
	if (!ok) {
		ERR_clear_error();
		SSL_free(t->ssl);
		free(t);
		return NULL;
	}
	return t;
}

/* The verified client certificate's subject (RFC 2253), printable ASCII. */
static void
take_subject(struct tls_conn *t)
{
	X509	*x;
	BIO	*bio;
	char	*p;
	long	 n;
	long	 i;

	if ((x = SSL_get0_peer_certificate(t->ssl)) == NULL ||
	    SSL_get_verify_result(t->ssl) != X509_V_OK)
		return;
	if ((bio = BIO_new(BIO_s_mem())) == NULL)
		return;
	if (X509_NAME_print_ex(bio, X509_get_subject_name(x), 0,
	    XN_FLAG_RFC2253) >= 0 && (n = BIO_get_mem_data(bio, &p)) > 0 &&
	    n < 4096 && (t->subject = malloc((size_t)n + 1)) != NULL) {
		for (i = 0; i < n; i++)
			t->subject[i] = (p[i] >= 0x20 && p[i] < 0x7f) ? p[i] : '?';
		t->subject[n] = '\0';
	}
	BIO_free(bio);
	ERR_clear_error();
}

int
tls_conn_handshake(struct tls_conn *t)
{
	int	 rc, err;

	if (t->done)
		return 1;
	if (t->failed)
		return -1;
	t->rd_wants_wr = t->wr_wants_rd = 0;
	errno = 0;
	rc = SSL_do_handshake(t->ssl);
	if (rc == 1) {
		t->done = 1;
		if (t->server) {
			count(&tls_shm->handshakes);
			if (SSL_session_reused(t->ssl))
				count(&tls_shm->resumed);
			take_subject(t);
		} else {
			count(&tls_shm->up_handshakes);
			if (SSL_session_reused(t->ssl))
				count(&tls_shm->up_resumed);
		}
		return 1;
	}
	err = SSL_get_error(t->ssl, rc);
	if (err == SSL_ERROR_WANT_READ) {
		t->wr_wants_rd = 1;
		return 0;
	}
	if (err == SSL_ERROR_WANT_WRITE) {
		t->rd_wants_wr = 1;
		return 0;
	}
	fail(t, rc, err);
	if (t->server)
		count(&tls_shm->failed);
	else
		count(&tls_shm->up_failed);
	return -1;
}

void
tls_conn_timed_out(struct tls_conn *t)
{
	snprintf(t->why, sizeof(t->why), "handshake timed out");
	t->failed = 1;
	count(t->server ? &tls_shm->failed : &tls_shm->up_failed);
}

/* The handshake, from inside a read or write: 0 done, -1 with errno set. */
static int
implicit_handshake(struct tls_conn *t)
{
	int	 rc = tls_conn_handshake(t);

	if (rc == 1)
		return 0;
	errno = rc == 0 ? EAGAIN : EPROTO;
	return -1;
}

/* The handshake chose h2 by ALPN. */
int
tls_conn_alpn_h2(const struct tls_conn *t)
{
	const unsigned char	*p;
	unsigned int		 n;

	SSL_get0_alpn_selected(t->ssl, &p, &n);
	return n == 2 && memcmp(p, "h2", 2) == 0;
}

ssize_t
tls_conn_read(struct tls_conn *t, void *buf, size_t len)
{
	size_t	 got = 0, n;
	int	 rc, err;

	if (t->eof)
		return 0;
	if (t->failed) {
		errno = ECONNRESET;
		return -1;
	}
	if (!t->done && implicit_handshake(t) == -1)
		return -1;
	t->rd_wants_wr = 0;
	/* Until the buffer is full or the socket is drained. */
	while (got < len) {
		errno = 0;
		rc = SSL_read_ex(t->ssl, (char *)buf + got, len - got, &n);
		if (rc == 1) {
			got += n;
			continue;
		}
		err = SSL_get_error(t->ssl, rc);
		switch (err) {
		case SSL_ERROR_WANT_READ:
			break;
		case SSL_ERROR_WANT_WRITE:
			t->rd_wants_wr = 1;
			break;
		case SSL_ERROR_ZERO_RETURN:
			t->eof = 1;
			return (ssize_t)got;
		default:
			fail(t, rc, err);
			if (got > 0)
				return (ssize_t)got;
			errno = ECONNRESET;
			return -1;
		}
		break;
	}
	if (got > 0)
		return (ssize_t)got;
	errno = EAGAIN;
	return -1;
}

/*
 * Write the pieces in records.  A small first piece (a response head) is
 * sent in one record with the start of the next (the body), in a scratch
 * copy: one record and one syscall instead of two.  After EAGAIN the
 * caller comes back with the same bytes at the same place (it has not
 * been told they went out), which is what OpenSSL needs to finish a
 * record it began; the scratch copy is rebuilt identically then.
 */
ssize_t
tls_conn_writev(struct tls_conn *t, const struct iovec *iov, int niov)
{
	static char	 scratch[TLS_RECORD];
	size_t		 total = 0, off = 0, n, w, m;
	int		 i = 0, j, rc, err;

	if (t->failed) {
		errno = EPIPE;
		return -1;
	}
	if (!t->done && implicit_handshake(t) == -1)
		return -1;
	t->wr_wants_rd = 0;
	if (niov > 1 && iov[0].iov_len < TLS_RECORD) {
		m = 0;
		for (j = 0; j < niov && m < TLS_RECORD; j++) {
			n = iov[j].iov_len < TLS_RECORD - m ? iov[j].iov_len :
			    TLS_RECORD - m;
			memcpy(scratch + m, iov[j].iov_base, n);
			m += n;
		}
		errno = 0;
		rc = SSL_write_ex(t->ssl, scratch, m, &w);
		if (rc != 1)
			goto error;
		/* Skip what went out. */
		total = w;
		for (n = w; i < niov && n >= iov[i].iov_len; i++)
			n -= iov[i].iov_len;
		off = n;
	}
	for (; i < niov; i++, off = 0) {
		while (off < iov[i].iov_len) {
			errno = 0;
			rc = SSL_write_ex(t->ssl, (char *)iov[i].iov_base + off,
			    iov[i].iov_len - off, &w);
			if (rc != 1)
				goto error;
			off += w;
			total += w;
		}
	}
	return (ssize_t)total;
error:
	err = SSL_get_error(t->ssl, rc);
	if (err == SSL_ERROR_WANT_WRITE || err == SSL_ERROR_WANT_READ) {
		if (err == SSL_ERROR_WANT_READ)
			t->wr_wants_rd = 1;
		if (total > 0)
			return (ssize_t)total;
		errno = EAGAIN;
		return -1;
	}
	fail(t, rc, err);
	if (total > 0)
		return (ssize_t)total;
	errno = EPIPE;
	return -1;
}

void
tls_session_free(struct tls_session **cache)
{
	if (*cache == NULL)
		return;
	if ((*cache)->last != NULL)
		SSL_SESSION_free((*cache)->last);
	free(*cache);
	*cache = NULL;
}

int
tls_conn_want_write(struct tls_conn *t)
{
	return SSL_want_write(t->ssl);
}

int
tls_conn_pending(struct tls_conn *t)
{
	return SSL_has_pending(t->ssl);
}

int
tls_conn_resumed(struct tls_conn *t)
{
	return t->done && SSL_session_reused(t->ssl);
}

void
tls_conn_shutdown(struct tls_conn *t)
{
	if (t->shut || !t->done || t->failed)
		return;
	t->shut = 1;
	if (SSL_shutdown(t->ssl) < 0)
		ERR_clear_error();
}

void
tls_conn_free(struct tls_conn *t)
{
	if (t == NULL)
		return;
	tls_conn_shutdown(t);
	SSL_free(t->ssl);
	free(t->subject);
	free(t);
}
