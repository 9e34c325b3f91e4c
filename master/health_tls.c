/*
 * health_tls.c: TLS for HTTP health probes.  The context is the
 * upstream's (common/tls.c's client_load: tls_ca, tls_verify, ALPN h2
 * or http/1.1), so a probe checks the certificate as a request would;
 * the name sent (SNI) and verified is tls_server_name, else the server
 * line's host name, else its address, as the workers do (worker/tls.c).
 * No session is resumed and no close_notify is sent: a probe is one
 * short connection.
 */
#include "config.h"

#include <sys/epoll.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "common/tls.h"
#include "master/health_tls.h"

static int
is_ip(const char *s)
{
	unsigned char	 b[16];

	return inet_pton(AF_INET, s, b) == 1 || inet_pton(AF_INET6, s, b) == 1;
}

SSL *
htls_new(const struct conf_upstream *up, const struct conf_server *cs, int fd)
{
	SSL		*ssl;
	const char	*name;
	char		 ip[64], *p;
	int		 ok = 1;

	if (up->tls_ctx == NULL || (ssl = SSL_new(up->tls_ctx->ctx)) == NULL)
		return NULL;
	if (SSL_set_fd(ssl, fd) != 1) {
		SSL_free(ssl);
		return NULL;
	}
	SSL_set_connect_state(ssl);
	name = up->tls_server_name != NULL ? up->tls_server_name : cs->host;
	if (name != NULL && !is_ip(name)) {
		ok &= SSL_set_tlsext_host_name(ssl, name);
		if (up->tls_verify)
			ok &= SSL_set1_host(ssl, name);
	} else if (up->tls_verify) {
		if (name != NULL)
			snprintf(ip, sizeof(ip), "%s", name);
		else {
			snprintf(ip, sizeof(ip), "%s", cs->addr.text[0] == '[' ?
			    cs->addr.text + 1 : cs->addr.text);
			if ((p = strrchr(ip, cs->addr.text[0] == '[' ? ']' :
			    ':')) != NULL)
				*p = '\0';
		}
		ok &= X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), ip);
	}
	if (!ok) {
		SSL_free(ssl);
		ERR_clear_error();
		return NULL;
	}
	return ssl;
}

int
htls_handshake(SSL *ssl, uint32_t *events, const char **why)
{
	static char	 buf[160];
	unsigned long	 e;
	long		 v;
	int		 rc;

	ERR_clear_error();
	if ((rc = SSL_do_handshake(ssl)) == 1)
		return 1;
	switch (SSL_get_error(ssl, rc)) {
	case SSL_ERROR_WANT_READ:
		*events = EPOLLIN;
		return 0;
	case SSL_ERROR_WANT_WRITE:
		*events = EPOLLOUT;
		return 0;
	default:
		break;
	}
	if ((v = SSL_get_verify_result(ssl)) != X509_V_OK)
		snprintf(buf, sizeof(buf), "certificate: %s",
		    X509_verify_cert_error_string(v));
	else if ((e = ERR_peek_last_error()) != 0)
		snprintf(buf, sizeof(buf), "%s", ERR_reason_error_string(e) !=
		    NULL ? ERR_reason_error_string(e) : "error");
	else
		snprintf(buf, sizeof(buf), "connection closed");
	ERR_clear_error();
	*why = buf;
	return -1;
}

int
htls_alpn_h2(SSL *ssl)
{
	const unsigned char	*p;
	unsigned int		 n;

	SSL_get0_alpn_selected(ssl, &p, &n);
	return n == 2 && memcmp(p, "h2", 2) == 0;
}

/* An SSL_read or SSL_write result as read(2) or send(2) would give it. */
static ssize_t
io_result(SSL *ssl, int rc)
{
	if (rc > 0)
		return rc;
	switch (SSL_get_error(ssl, rc)) {
	case SSL_ERROR_WANT_READ:
	case SSL_ERROR_WANT_WRITE:
		errno = EAGAIN;
		return -1;
	case SSL_ERROR_ZERO_RETURN:
		return 0;
	default:
		ERR_clear_error();
		errno = ECONNRESET;
		return -1;
	}
}

ssize_t
hio_read(SSL *ssl, int fd, void *buf, size_t n)
{
	if (ssl == NULL)
		return read(fd, buf, n);
	ERR_clear_error();
	return io_result(ssl, SSL_read(ssl, buf, (int)n));
}

ssize_t
hio_send(SSL *ssl, int fd, const void *buf, size_t n, int flags)
{
	if (ssl == NULL)
		return send(fd, buf, n, flags);
	ERR_clear_error();
	return io_result(ssl, SSL_write(ssl, buf, (int)n));
}

uint32_t
hio_events(SSL *ssl, uint32_t dflt)
{
	if (ssl == NULL)
		return dflt;
	if (SSL_want_read(ssl))
		return EPOLLIN;
	if (SSL_want_write(ssl))
		return EPOLLOUT;
	return dflt;
}
