/*
 * tunnel.c: HTTP/1.1 upgrades (WebSocket): which Upgrade requests pass
 * to the backend (tunnel_request, tunnel_head_end), the 101 that turns
 * the connection into a tunnel (tunnel_begin), and the tunnel itself
 * (CS_TUNNEL, step_tunnel): bytes both ways between the client and the
 * backend through the exchange's two buffers (c->in toward the backend,
 * r->ub toward the client), each side read only while the other can
 * take more, a FIN passed on, and the whole closed once both sides
 * have closed or nothing moved for tunnel_idle_timeout.
 */
#include "config.h"

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "common/http.h"
#include "common/log.h"
#include "common/shm.h"
#include "common/strbuf.h"
#include "worker/event.h"
#include "worker/h2.h"
#include "worker/proxy_int.h"
#include "worker/worker.h"

/* Whether token t[0..n) (any case) is in the route's upgrade_allow. */
static int
upgrade_listed(const char *list, const char *t, size_t n)
{
	const char	*p = list, *e;

	while (list != NULL && *p != '\0') {
		if ((e = strchr(p, ' ')) == NULL)
			e = p + strlen(p);
		if ((size_t)(e - p) == n && http_lc_eq(t, p, n))
			return 1;
		p = *e == ' ' ? e + 1 : e;
	}
	return 0;
}

/*
 * A request head came with Upgrade: pick the protocol that may pass.
 * An upgrade needs HTTP/1.1, Connection: upgrade and no request body;
 * "websocket" passes on GET where the route has websocket = on, other
 * tokens where its upgrade_allow lists them, h2c never.  The first
 * token of the Upgrade list that may pass is forwarded (r->upg); with
 * none the request goes on as an ordinary one without Upgrade, as a
 * server may ignore it (RFC 9110 7.8) and nginx does unless told to
 * pass it.  An HTTP/2 extended CONNECT (RFC 8441, h2_tunnel.c) is such
 * an upgrade too, but one that cannot go on without it: -1, refused.
 */
int
tunnel_request(struct client *c)
{
	struct req			*r = c->r;
	const struct http_request	*rq = &r->rq;
	const struct conf_route		*rt = r->route;
	const struct http_header	*h;
	const char			*p, *e, *t;
	size_t				 i, n;
	int				 xc = c->h2s != NULL && c->h2s->has_proto;

	r->upg = NULL;
	r->upg_len = 0;
	if (!rq->upgrade || (rq->version != 11 && !xc) || !r->req_done ||
	    !http_conn_lists(rq->headers, rq->nheaders, "upgrade", 7))
		return xc ? -1 : 0;
	for (i = 0; i < rq->nheaders; i++) {
		h = &rq->headers[i];
		if (h->name_len != 7 || !http_name_eq(h, "upgrade"))
			continue;
		p = h->value;
		e = h->value + h->value_len;
		while (p < e) {
			while (p < e && (*p == ' ' || *p == '\t' || *p == ','))
				p++;
			for (t = p; p < e && *p != ',' && *p != ' ' &&
			    *p != '\t'; p++)
				;
			if ((n = p - t) == 0)
				continue;
			if ((n == 3 && http_lc_eq(t, "h2c", 3)) ||
			    (n > 3 && http_lc_eq(t, "h2c/", 4)))
				continue;
			if ((n == 9 && http_lc_eq(t, "websocket", 9) &&
			    rt->websocket && rq->method == HTTP_M_GET) ||
			    upgrade_listed(rt->upgrade_allow, t, n)) {
				r->upg = t;
				r->upg_len = (uint32_t)n;
				return 0;
			}
		}
	}
	if (xc) {
		log_info("client %s: HTTP/2 CONNECT :protocol not allowed on "
		    "route %s: refused", client_ip(c), rt->name);
		return -1;
	}
	log_info("client %s: Upgrade not allowed on route %s: forwarded "
	    "without it", client_ip(c), rt->name);
	return 0;
}

/*
 * The fields an upgrading request ends with toward the backend, in place
 * of the connection's keep-alive or close.
 */
void
tunnel_head_end(struct strbuf *b, const struct req *r)
{
	strbuf_field(b, "Upgrade", 7, r->upg, r->upg_len);
	strbuf_str(b, "Connection: upgrade\r\n");
}

/* Whether the 101's Upgrade names the protocol that was asked for. */
static int
tunnel_answer_ok(const struct req *r, const struct http_response *rs)
{
	const struct http_header	*h;
	const char			*v, *e;
	size_t				 i;

	if (!http_conn_lists(rs->headers, rs->nheaders, "upgrade", 7))
		return 0;
	for (i = 0; i < rs->nheaders; i++) {
		h = &rs->headers[i];
		if (h->name_len != 7 || !http_name_eq(h, "upgrade"))
			continue;
		v = h->value;
		e = v + h->value_len;
		while (v < e && (*v == ' ' || *v == '\t'))
			v++;
		while (e > v && (e[-1] == ' ' || e[-1] == '\t'))
			e--;
		return (size_t)(e - v) == r->upg_len &&
		    http_ci_eq(v, r->upg, r->upg_len);
	}
	return 0;
}

/*
 * The backend answered 101 Switching Protocols (its head is at ub_pos):
 * pass it on with Upgrade and Connection: upgrade, and make the
 * connection a tunnel.  A 101 that was not asked for, or that names
 * another protocol, is a bad answer (502).  An HTTP/2 stream's
 * extended CONNECT is answered 200 instead (RFC 8441 5), once the
 * backend's Sec-WebSocket-Accept matches the key portico sent.
 */
enum step
tunnel_begin(struct client *c, const struct http_response *rs)
{
	struct req		*r = c->r;
	struct strbuf		 b;
	struct http_response	 h2rs;
	const char		*bad = NULL;

	if (r->upg_len == 0)
		bad = "101 to a request without Upgrade";
	else if (!tunnel_answer_ok(r, rs))
		bad = "101 with another Upgrade than asked for";
	else if (c->h2s != NULL && !h2_tunnel_accept_ok(c->h2s, rs))
		bad = "101 with a wrong Sec-WebSocket-Accept";
	if (bad != NULL) {
		log_errorx("upstream %s server %s: invalid response: %s",
		    r->upstream->conf->name,
		    r->upstream->servers[r->server].conf->addr.text, bad);
		shm_stat_inc(&worker.stats->upstream_errors);
		return local_answer(c, 502, 1);
	}
	if (c->h2s != NULL) {
		h2rs = *rs;
		h2rs.status = 200;
		h2rs.reason = "OK";
		h2rs.reason_len = 2;
		rs = &h2rs;
	}
	strbuf_init(&b, r->hb, bufsize);
	/* The fields, the empty line (an interim head's end) replaced. */
	if (response_head_build(r, rs, 0, &b) == -1 || b.len < 2) {
		log_errorx("upstream %s server %s: invalid response: head too large",
		    r->upstream->conf->name,
		    r->upstream->servers[r->server].conf->addr.text);
		return local_answer(c, 502, 1);
	}
	b.len -= 2;
	if (c->h2s == NULL)
		tunnel_head_end(&b, r);
	strbuf_str(&b, "\r\n");
	if (b.over)
		return local_answer(c, 502, 1);
	r->hb_pos = 0;
	r->hb_end = b.len;
	r->ub_pos += rs->head_len;
	r->status = c->h2s != NULL ? 200 : 101;
	r->resp_head = r->resp_started = r->resp_done = 1;
	r->up_reuse = 0;
	r->keep_alive = 0;
	r->tunnel = 1;
	r->t_last = ev_now;
	r->t_up_end = 0;
	/*
	 * The tunnel stays counted on its server (least_conn, max_conns)
	 * until it closes (req_put), as nginx counts it.
	 */
	shm_stat_inc(&worker.stats->tunnels);
	if (c->h2s != NULL)
		h2_tunnel_begin(c);
	c->state = CS_TUNNEL;
	return STEP_ANSWERED;
}

/* The tunnel is over (closed either way): counted. */
void
tunnel_closed(struct req *r)
{
	if (!r->tunnel)
		return;
	r->tunnel = 0;
	shm_stat_inc(&worker.stats->tunnels_closed);
}

/* When an idle tunnel is closed. */
uint64_t
tunnel_deadline(const struct client *c)
{
	return c->r->t_last + c->r->route->tunnel_idle_timeout_ms;
}

/*
 * Backend to client: what is in hb (the 101's head) and ub goes out,
 * then more is read while ub has room.  Returns 1 when bytes moved,
 * 0 when not, -1 when the connection was closed.
 */
static int
tunnel_down(struct client *c)
{
	struct req	*r = c->r;
	struct upconn	*u = r->up;
	size_t		 hl = r->hb_end - r->hb_pos, ul = r->ub_end - r->ub_pos;
	ssize_t		 n;
	int		 moved = 0;

	if (hl + ul > 0 && c->wr_ready) {
		if ((n = fe_send2(c, hl > 0 ? r->hb + r->hb_pos : NULL, hl,
		    r->ub + r->ub_pos, ul)) == -1)
			return -1;
		if ((size_t)n <= hl)
			r->hb_pos += n;
		else {
			r->hb_pos = r->hb_end;
			r->ub_pos += n - hl;
			r->body_bytes += n - hl;
			shm_stat_add(&worker.stats->tunnel_bytes_out, n - hl);
		}
		moved = n > 0;
	}
	if (r->hb != NULL && r->hb_pos == r->hb_end) {
		/* The 101 is out: an idle tunnel holds two buffers, not three. */
		buf_put(r->hb);
		r->hb = NULL;
		r->hb_pos = r->hb_end = 0;
	}
	if (r->ub_pos == r->ub_end)
		r->ub_pos = r->ub_end = 0;
	if (!r->t_up_eof && u->rd_ready && r->ub_end < bufsize) {
		n = up_read(u, r->ub + r->ub_end, bufsize - r->ub_end);
		if (n > 0) {
			if ((size_t)n < bufsize - r->ub_end && !u->rdhup)
				u->rd_ready = 0;
			r->ub_end += n;
			moved = 1;
		} else if (n == 0) {
			r->t_up_eof = 1;
			moved = 1;
		} else if (errno == EAGAIN || errno == EINTR)
			u->rd_ready = 0;
		else {
			log_info("client %s: tunnel: backend connection reset",
			    client_ip(c));
			client_abort(c);
			return -1;
		}
	}
	if (r->t_up_eof && !r->t_cl_shut && r->hb_pos == r->hb_end &&
	    r->ub_pos == r->ub_end) {
		if (c->h2s != NULL)
			h2_tunnel_shut(c);	/* END_STREAM */
		else
			cl_shutdown_wr(c);	/* the backend's FIN, passed on */
		r->t_cl_shut = 1;
		moved = 1;
	}
	return moved;
}

/* Client to backend, as tunnel_down the other way (c->in the buffer). */
static int
tunnel_up(struct client *c)
{
	struct req	*r = c->r;
	struct upconn	*u = r->up;
	struct iovec	 iov;
	ssize_t		 n;
	int		 moved = 0;

	if (c->in_pos < c->in_end && u->wr_ready) {
		iov.iov_base = c->in + c->in_pos;
		iov.iov_len = c->in_end - c->in_pos;
		n = up_writev(u, &iov, 1);
		if (n == -1 && errno != EAGAIN && errno != EINTR) {
			/*
			 * The backend is gone (after its close, the client's
			 * last words find no reader): the client has had, or
			 * gets, the end of what the backend sent.
			 */
			log_info("client %s: tunnel: backend write failed", client_ip(c));
			if (r->t_up_eof)
				client_close(c);
			else
				client_abort(c);
			return -1;
		}
		if (n < (ssize_t)iov.iov_len)
			u->wr_ready = 0;
		if (n > 0) {
			c->in_pos += n;
			r->t_in += n;
			shm_stat_add(&worker.stats->tunnel_bytes_in, n);
			moved = 1;
		}
	}
	if (c->in_pos == c->in_end)
		c->in_pos = c->in_end = 0;
	if (!r->t_cl_eof && c->rd_ready && c->in_end < bufsize) {
		n = c->h2s != NULL ?
		    h2_tunnel_read(c, c->in + c->in_end, bufsize - c->in_end) :
		    cl_read(c, c->in + c->in_end, bufsize - c->in_end);
		if (n > 0) {
			if ((size_t)n < bufsize - c->in_end && !c->rdhup)
				c->rd_ready = 0;
			c->in_end += n;
			moved = 1;
		} else if (n == 0) {
			r->t_cl_eof = 1;
			moved = 1;
		} else if (errno == EAGAIN || errno == EINTR)
			c->rd_ready = 0;
		else {
			log_info("client %s: tunnel: client connection reset",
			    client_ip(c));
			client_close(c);
			return -1;
		}
	}
	if (r->t_cl_eof && !r->t_up_shut && c->in_pos == c->in_end) {
		if (u->tls != NULL)
			tls_conn_shutdown(u->tls);
		shutdown(u->io.fd, SHUT_WR);	/* the client's FIN */
		r->t_up_shut = 1;
		moved = 1;
	}
	return moved;
}

/*
 * CS_TUNNEL: move bytes both ways as long as they move; the tunnel ends
 * (logged, both connections closed) when each side has closed and what
 * it sent is out.  STEP_WAIT or STEP_CLOSED.
 */
enum step
step_tunnel(struct client *c)
{
	struct req	*r = c->r;
	int		 d, u;

	if (c->in == NULL) {
		if ((c->in = buf_get()) == NULL) {
			client_close(c);
			return STEP_CLOSED;
		}
		c->in_pos = c->in_end = 0;
	}
	for (;;) {
		if ((d = tunnel_down(c)) == -1)
			return STEP_CLOSED;
		if ((u = tunnel_up(c)) == -1)
			return STEP_CLOSED;
		if (d || u)
			r->t_last = ev_now;
		if (r->t_cl_shut && r->t_up_shut) {
			r->t_up_end = ev_now;
			client_close(c);
			return STEP_CLOSED;
		}
		if (!d && !u) {
			c->wait = W_TUNNEL;
			return STEP_WAIT;
		}
	}
}
