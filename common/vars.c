/*
 * vars.c: strings with variables compiled once into pieces and expanded
 * per exchange (vars.h).
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/strbuf.h"
#include "common/vars.h"

static const struct {
	const char	*name;
	enum var_id	 id;
	unsigned	 ctx;		/* VARS_* where it may be used */
	int		 avail;		/* 0: reserved, refused for now */
} vars_table[] = {
#define ANY	(VARS_REQUEST | VARS_RESPONSE | VARS_LOG)
#define ANS	(VARS_RESPONSE | VARS_LOG)
	{ "remote_addr", VAR_REMOTE_ADDR, ANY, 1 },
	{ "remote_port", VAR_REMOTE_PORT, ANY, 1 },
	{ "scheme", VAR_SCHEME, ANY, 1 },
	{ "host", VAR_HOST, ANY, 1 },
	{ "http_host", VAR_HTTP_HOST, ANY, 1 },
	{ "request_method", VAR_REQUEST_METHOD, ANY, 1 },
	{ "uri", VAR_URI, ANY, 1 },
	{ "args", VAR_ARGS, ANY, 1 },
	{ "query_string", VAR_ARGS, ANY, 1 },
	{ "is_args", VAR_IS_ARGS, ANY, 1 },
	{ "request_uri", VAR_REQUEST_URI, ANY, 1 },
	{ "request", VAR_REQUEST, ANY, 1 },
	{ "server_protocol", VAR_SERVER_PROTOCOL, ANY, 1 },
	{ "ssl_protocol", VAR_SSL_PROTOCOL, ANY, 1 },
	{ "ssl_cipher", VAR_SSL_CIPHER, ANY, 1 },
	{ "ssl_server_name", VAR_SSL_SERVER_NAME, ANY, 1 },
	{ "ssl_client_s_dn", VAR_SSL_CLIENT_S_DN, ANY, 1 },
	{ "upstream_addr", VAR_UPSTREAM_ADDR, ANS, 1 },
	{ "route", VAR_ROUTE, ANY, 1 },
	{ "listener", VAR_LISTENER, ANY, 1 },
	{ "status", VAR_STATUS, ANS, 1 },
	{ "time_local", VAR_TIME_LOCAL, VARS_LOG, 1 },
	{ "time_iso8601", VAR_TIME_ISO8601, VARS_LOG, 1 },
	{ "msec", VAR_MSEC, VARS_LOG, 1 },
	{ "body_bytes_sent", VAR_BODY_BYTES_SENT, VARS_LOG, 1 },
	{ "request_time", VAR_REQUEST_TIME, VARS_LOG, 1 },
	{ "upstream_response_time", VAR_UPSTREAM_RESPONSE_TIME, VARS_LOG, 1 },
	{ "remote_user", VAR_REMOTE_USER, ANY, 1 },
	{ "cache_status", VAR_CACHE_STATUS, VARS_LOG, 1 },
	/* Reserved (vars.h): refused until answered in worker/varsrc.c. */
	{ "request_id", VAR_REQUEST_ID, ANY, 1 },
	{ "proxy_protocol_addr", VAR_PROXY_PROTOCOL_ADDR, ANY, 1 },
	{ "proxy_protocol_port", VAR_PROXY_PROTOCOL_PORT, ANY, 1 },
	{ "proxy_protocol_server_addr", VAR_PROXY_PROTOCOL_SERVER_ADDR, ANY, 1 },
	{ "proxy_protocol_server_port", VAR_PROXY_PROTOCOL_SERVER_PORT, ANY, 1 },
#undef ANY
#undef ANS
};

#define NVARS	(sizeof(vars_table) / sizeof(vars_table[0]))

static int	 name_char(char ch);
static int	 piece_add(struct vars_fmt *f, size_t *cap, enum var_id id,
		    const char *s, size_t n, int field);
static int	 var_lookup(const char *n, size_t len, unsigned ctx,
		    struct vars_fmt *f, size_t *cap, char *err, size_t errcap);
static void	 put_escaped(struct strbuf *b, const char *v, size_t n,
		    enum vars_esc esc);
static void	 put_json(struct strbuf *b, const char *v, size_t n);

const char *
vars_name(enum var_id id)
{
	size_t	 i;

	for (i = 0; i < NVARS; i++)
		if (vars_table[i].id == id)
			return vars_table[i].name;
	return id == VAR_HTTP ? "http_" : id == VAR_SENT_HTTP ? "sent_http_" : "";
}

static int
name_char(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
	    (ch >= '0' && ch <= '9') || ch == '_';
}

/*
 * Append a piece: s[0..n) goes into f->text (a field name lowercased,
 * '_' made '-').  Returns 0 or -1 (out of memory).
 */
static int
piece_add(struct vars_fmt *f, size_t *cap, enum var_id id, const char *s,
    size_t n, int field)
{
	size_t		 tl = 0, i;
	struct var_piece *np;
	char		*nt;

	if (f->n > 0)
		tl = f->p[f->n - 1].off + f->p[f->n - 1].len;
	if (id == VAR_TEXT && f->n > 0 && f->p[f->n - 1].id == VAR_TEXT) {
		/* Joins the text before it. */
		if ((nt = realloc(f->text, tl + n + 1)) == NULL)
			return -1;
		f->text = nt;
		memcpy(f->text + tl, s, n);
		f->p[f->n - 1].len += n;
		return 0;
	}
	if (f->n == *cap) {
		if ((np = reallocarray(f->p, *cap ? *cap * 2 : 8,
		    sizeof(*np))) == NULL)
			return -1;
		f->p = np;
		*cap = *cap ? *cap * 2 : 8;
	}
	if ((nt = realloc(f->text, tl + n + 1)) == NULL)
		return -1;
	f->text = nt;
	for (i = 0; i < n; i++) {
		char ch = s[i];

		if (field && ch >= 'A' && ch <= 'Z')
			ch += 'a' - 'A';
		else if (field && ch == '_')
			ch = '-';
		f->text[tl + i] = ch;
	}
	f->p[f->n].id = (uint8_t)id;
	f->p[f->n].off = (uint32_t)tl;
	f->p[f->n].len = (uint32_t)n;
	f->n++;
	if (id != VAR_TEXT)
		f->uses |= (uint64_t)1 << id;
	return 0;
}

/* The variable n[0..len) as a piece; -1 with err when unknown. */
static int
var_lookup(const char *n, size_t len, unsigned ctx, struct vars_fmt *f,
    size_t *cap, char *err, size_t errcap)
{
	size_t	 i;

	if (len > 5 && memcmp(n, "http_", 5) == 0)
		return piece_add(f, cap, VAR_HTTP, n + 5, len - 5, 1);
	if (len > 10 && memcmp(n, "sent_http_", 10) == 0) {
		if (!(ctx & VARS_RESPONSE)) {
			snprintf(err, errcap, "$%.*s: response fields are "
			    "only known to response header rules", (int)len, n);
			return -1;
		}
		return piece_add(f, cap, VAR_SENT_HTTP, n + 10, len - 10, 1);
	}
	for (i = 0; i < NVARS; i++) {
		if (strlen(vars_table[i].name) != len ||
		    memcmp(vars_table[i].name, n, len) != 0)
			continue;
		if (!vars_table[i].avail) {
			snprintf(err, errcap, "$%.*s is not available yet",
			    (int)len, n);
			return -1;
		}
		if (!(vars_table[i].ctx & ctx)) {
			snprintf(err, errcap, "$%.*s cannot be used here (%s)",
			    (int)len, n, vars_table[i].ctx == VARS_LOG ?
			    "access log formats only" :
			    "not known before the answer");
			return -1;
		}
		return piece_add(f, cap, vars_table[i].id, NULL, 0, 0);
	}
	snprintf(err, errcap, "unknown variable $%.*s", (int)(len > 64 ? 64 :
	    len), n);
	return -1;
}

int
vars_compile(const char *s, unsigned ctx, struct vars_fmt *f, char *err,
    size_t errcap)
{
	size_t	 cap = 0, i = 0, j, lit;

	memset(f, 0, sizeof(*f));
	if (errcap > 0)
		err[0] = '\0';
	while (s[i] != '\0') {
		for (lit = i; s[i] != '\0' && s[i] != '$'; i++)
			;
		if (i > lit && piece_add(f, &cap, VAR_TEXT, s + lit, i - lit,
		    0) == -1)
			goto nomem;
		if (s[i] == '\0')
			break;
		i++;	/* the '$' */
		if (s[i] == '$') {
			/* "$$": a '$'. */
			if (piece_add(f, &cap, VAR_TEXT, "$", 1, 0) == -1)
				goto nomem;
			i++;
			continue;
		}
		if (s[i] == '{') {
			for (j = i + 1; name_char(s[j]); j++)
				;
			if (s[j] != '}' || j == i + 1) {
				snprintf(err, errcap, "'${' without a name and "
				    "its '}'");
				goto bad;
			}
			if (var_lookup(s + i + 1, j - i - 1, ctx, f, &cap, err,
			    errcap) == -1)
				goto bad;
			i = j + 1;
			continue;
		}
		for (j = i; name_char(s[j]); j++)
			;
		if (j == i) {
			snprintf(err, errcap, "'$' without a variable name "
			    "(write $$ for a '$')");
			goto bad;
		}
		if (var_lookup(s + i, j - i, ctx, f, &cap, err, errcap) == -1)
			goto bad;
		i = j;
	}
	return 0;
nomem:
	snprintf(err, errcap, "out of memory");
bad:
	if (err[0] == '\0')
		snprintf(err, errcap, "out of memory");
	vars_free(f);
	return -1;
}

void
vars_free(struct vars_fmt *f)
{
	free(f->p);
	free(f->text);
	memset(f, 0, sizeof(*f));
}

int
vars_equal(const struct vars_fmt *a, const struct vars_fmt *b)
{
	size_t	 i, tl = 0;

	if (a->n != b->n)
		return 0;
	for (i = 0; i < a->n; i++) {
		if (a->p[i].id != b->p[i].id || a->p[i].len != b->p[i].len)
			return 0;
		tl += a->p[i].len;
	}
	return tl == 0 || memcmp(a->text, b->text, tl) == 0;
}

int
vars_constant(const struct vars_fmt *f)
{
	return f->uses == 0;
}

/* Append v[0..n) to b as esc says. */
static void
put_escaped(struct strbuf *b, const char *v, size_t n, enum vars_esc esc)
{
	static const char hex[] = "0123456789abcdef";
	char		 e[8];
	size_t		 i, s;
	unsigned char	 ch;

	for (i = s = 0; i < n; i++) {
		ch = (unsigned char)v[i];
		switch (esc) {
		case VARS_ESC_HEADER:
			if (ch >= 0x20 && ch != 0x7f)
				continue;
			if (ch == '\t')
				continue;
			strbuf_add(b, v + s, i - s);
			s = i + 1;	/* dropped */
			continue;
		case VARS_ESC_LOG:
			if (ch >= 0x20 && ch < 0x7f && ch != '"' && ch != '\\')
				continue;
			e[0] = '\\';
			e[1] = 'x';
			e[2] = "0123456789ABCDEF"[ch >> 4];
			e[3] = "0123456789ABCDEF"[ch & 15];
			strbuf_add(b, v + s, i - s);
			strbuf_add(b, e, 4);
			s = i + 1;
			continue;
		case VARS_ESC_JSON:
			if (ch >= 0x20 && ch != '"' && ch != '\\' && ch != 0x7f)
				continue;
			strbuf_add(b, v + s, i - s);
			s = i + 1;
			if (ch == '"' || ch == '\\') {
				e[0] = '\\';
				e[1] = (char)ch;
				strbuf_add(b, e, 2);
			} else if (ch == '\n')
				strbuf_add(b, "\\n", 2);
			else if (ch == '\r')
				strbuf_add(b, "\\r", 2);
			else if (ch == '\t')
				strbuf_add(b, "\\t", 2);
			else {
				memcpy(e, "\\u00", 4);
				e[4] = hex[ch >> 4];
				e[5] = hex[ch & 15];
				strbuf_add(b, e, 6);
			}
			continue;
		}
	}
	strbuf_add(b, v + s, n - s);
}

/*
 * Bytes over 0x7f in a JSON log go as they are: a request's fields may
 * hold any bytes, and a JSON reader wants UTF-8.  Those that do not
 * make UTF-8 are \u00XX (Latin-1), so the line always parses.
 */
static void
put_json(struct strbuf *b, const char *v, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	size_t		 i, s, k, len;
	unsigned char	 ch;
	char		 e[6];

	for (i = s = 0; i < n; i++) {
		ch = (unsigned char)v[i];
		if (ch < 0x80)
			continue;
		len = ch >= 0xf0 && ch < 0xf5 ? 4 : ch >= 0xe0 ? 3 :
		    ch >= 0xc2 && ch < 0xe0 ? 2 : 0;
		if (ch >= 0xf5)
			len = 0;
		for (k = 1; len > 0 && k < len; k++)
			if (i + k >= n || ((unsigned char)v[i + k] & 0xc0) != 0x80)
				len = 0;
		if (len > 0) {
			i += len - 1;
			continue;
		}
		put_escaped(b, v + s, i - s, VARS_ESC_JSON);
		memcpy(e, "\\u00", 4);
		e[4] = hex[ch >> 4];
		e[5] = hex[ch & 15];
		strbuf_add(b, e, 6);
		s = i + 1;
	}
	put_escaped(b, v + s, n - s, VARS_ESC_JSON);
}

void
vars_expand(const struct vars_fmt *f, vars_get_fn get, void *arg,
    enum vars_esc esc, struct strbuf *b)
{
	const struct var_piece	*p;
	const char		*v;
	size_t			 i, vl;
	char			 scratch[256];

	for (i = 0; i < f->n; i++) {
		p = &f->p[i];
		if (p->id == VAR_TEXT) {
			strbuf_add(b, f->text + p->off, p->len);
			continue;
		}
		v = NULL;
		vl = 0;
		if (get(arg, (enum var_id)p->id, f->text + p->off, p->len, &v,
		    &vl, scratch, sizeof(scratch)) == -1 || v == NULL)
			vl = 0;
		if (vl == 0) {
			if (esc == VARS_ESC_LOG)
				strbuf_add(b, "-", 1);
			continue;
		}
		if (esc == VARS_ESC_JSON)
			put_json(b, v, vl);
		else
			put_escaped(b, v, vl, esc);
	}
}
