#!/usr/bin/python3
# HTTP/2 to clients: ALPN h2 on a TLS listener (default on; http/1.1 still
# chosen by clients that only offer it, h2 not offered with http2 = off),
# prior knowledge on a plain listener with http2 = on only; each stream is
# an exchange like an HTTP/1 request: routing, the backend gets HTTP/1.1
# with :authority as Host, bodies both ways, hop-by-hop response fields
# dropped, cache hits, the access log says HTTP/2.0; HTTP/1-only request
# fields are a stream error, a Host other than :authority is a 400.
import hashlib
import os
import re
import ssl
import subprocess
import sys
import tempfile

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from portico_test import (tap, main, Backend, free_port, hall, subtest_guard, wait_until,
                          pattern_bytes, pattern_sha256)
from portico_tls import Certs, TLSPortico, client_ctx, have_openssl
from h2raw import H2, PROTOCOL_ERROR


def curl(*args):
    r = subprocess.run(["curl", "-sS", "-i", "--max-time", "20"] + list(args),
                       capture_output=True)
    head, _, body = r.stdout.partition(b"\r\n\r\n")
    return r.returncode, head.decode("latin-1"), body


def test():
    if not have_openssl():
        tap.ok(False, "the openssl command is installed")
        return
    certs = Certs()
    pem, key = certs.issue("a", dns=["a.test"])
    b = Backend("b1")
    b.script("/hop", headers=[("Keep-Alive", "timeout=5"), ("X-App", "1"),
                              ("Connection", "X-App")], body=b"hop")
    b.script("/big", body=pattern_bytes(3 << 20))
    b.script("/c/obj", headers=[("Cache-Control", "max-age=60")], body=b"cached body")
    tls, plain, h2c = free_port(), free_port(), free_port()
    p = TLSPortico(
        upstreams={"app": [b.addr]},
        routes=[dict(name="c", path="/c/", upstream="app", cache="on"),
                dict(name="lim", path="/lim/", upstream="app", limit="one"),
                dict(name="all", path="/", upstream="app")],
        listeners={"tls": ["127.0.0.1:%d" % tls], "tls1": ["127.0.0.1:%d" % free_port()],
                   "plain": ["127.0.0.1:%d" % plain], "h2c": ["127.0.0.1:%d" % h2c]},
        listener_opts={"tls": [("tls_certificate", pem), ("tls_key", key)],
                       "tls1": [("tls_certificate", pem), ("tls_key", key),
                                ("http2", "off")],
                       "h2c": [("http2", "on")]},
        extra="[cache]\nsize = 16m\n\n[limit one]\nkey = addr\nrate = 1/m\nburst = 1\n"
              "nodelay = on\n", workers=1)
    p.start()
    tls1 = int(p.config_text().split("[listener tls1]")[1].split("listen = ")[1]
               .split("\n")[0].rsplit(":", 1)[1])

    with subtest_guard("ALPN"):
        for port, offer, want, desc in (
                (tls, ("h2", "http/1.1"), "h2", "TLS listener: h2 chosen over http/1.1"),
                (tls, ("h2",), "h2", "a client offering only h2 gets it (no alert)"),
                (tls, ("http/1.1",), "http/1.1", "a client offering http/1.1 keeps it"),
                (tls1, ("h2", "http/1.1"), "http/1.1", "http2 = off: h2 not offered")):
            ctx = client_ctx(ca=certs.ca, alpn=offer)
            import socket
            s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=5),
                                server_hostname="a.test")
            tap.is_(s.selected_alpn_protocol(), want, desc)
            s.close()

    with subtest_guard("curl over TLS and prior knowledge"):
        rc, head, body = curl("--http2", "--cacert", certs.ca, "--resolve",
                              "a.test:%d:127.0.0.1" % tls, "https://a.test:%d/echo/t" % tls)
        tap.like(head, r"^HTTP/2 200", "curl --http2 over TLS: HTTP/2 200", head)
        rec = b.last()
        tap.is_(rec["version"], "HTTP/1.1", "the backend gets HTTP/1.1")
        tap.is_(hall(rec["headers"], "host"), ["a.test:%d" % tls], ":authority becomes Host")
        tap.is_(hall(rec["headers"], "x-forwarded-proto"), ["https"],
                "X-Forwarded-Proto: https for a stream over TLS")
        rc, head, body = curl("--http2-prior-knowledge", "http://127.0.0.1:%d/echo/p" % h2c)
        tap.like(head, r"^HTTP/2 200", "prior knowledge on a plain http2 = on listener", head)
        rc, head, body = curl("--http2-prior-knowledge", "http://127.0.0.1:%d/echo/p" % plain)
        tap.unlike(head, r"^HTTP/2 ", "a plain listener speaks no HTTP/2 by default", head)
        rc, head, body = curl("http://127.0.0.1:%d/echo/h1" % h2c)
        tap.like(head, r"^HTTP/1.1 200", "HTTP/1.1 still works on an http2 = on listener")
        tap.ok(wait_until(lambda: any('"GET /echo/p HTTP/2.0" 200' in l
                                      for l in p.access_lines())),
               "access log line says HTTP/2.0", p.access_lines()[-3:])

    with subtest_guard("limits hold for HTTP/2 streams"):
        # Five streams, rate 1/m with a burst of 1: two
        # pass, three get 429 and never reach the backend.
        urls = ["http://127.0.0.1:%d/lim/%d" % (h2c, i) for i in range(5)]
        # (A connection each, --parallel-immediate: curl 7.88 gets
        # nothing for a second URL on a reused prior-knowledge
        # connection, from nginx too.)
        r = subprocess.run(["curl", "-s", "--max-time", "20", "--http2-prior-knowledge",
                            "--parallel", "--parallel-immediate", "-o", "/dev/null", "-w", "%{http_version} %{http_code}\\n"]
                           + urls, capture_output=True, text=True)
        codes = sorted(l for l in r.stdout.split("\n") if re.match(r"^\d \d{3}$", l))
        tap.is_(codes, ["2 200"] * 2 + ["2 429"] * 3,
                "rate 1/m burst 1 nodelay: 2 streams pass, 3 get 429", r.stdout)
        tap.is_(sum(len(b.requests_for("/lim/%d" % i)) for i in range(5)), 2,
                "... and the refused ones never reach the backend")

    with subtest_guard("bodies and fields"):
        rc, head, body = curl("--http2-prior-knowledge", "http://127.0.0.1:%d/hop" % h2c)
        low = head.lower()
        tap.is_(body, b"hop", "body passed")
        tap.ok("keep-alive:" not in low and "\nconnection:" not in low and
               "x-app:" not in low, "hop-by-hop response fields dropped", head)
        with tempfile.NamedTemporaryFile(dir=p.tmp) as f:
            data = pattern_bytes(1 << 20)
            f.write(data)
            f.flush()
            rc, head, body = curl("--http2-prior-knowledge", "--data-binary", "@" + f.name,
                                  "http://127.0.0.1:%d/echo/up" % h2c)
            tap.like(head, r"^HTTP/2 200", "1 MiB POST: 200", head)
            tap.is_(b.last()["sha256"], hashlib.sha256(data).hexdigest(),
                    "1 MiB request body reaches the backend whole")
        rc, head, body = curl("--http2-prior-knowledge", "http://127.0.0.1:%d/big" % h2c)
        tap.is_(hashlib.sha256(body).hexdigest(), pattern_sha256(3 << 20),
                "3 MiB response body whole")
        c = H2(h2c)
        sid = c.request("/echo/ck", headers=[("cookie", "a=1"), ("cookie", "b=2")])
        c.pump(until=lambda: c.done(sid))
        tap.is_(hall(b.last()["headers"], "cookie"), ["a=1; b=2"], "cookie crumbs joined")
        sid = c.request("/echo/ck2", headers=[("cookie", "a=1"), ("host", "a.test"),
                                              ("cookie", "b=2"), ("x-y", "z"), ("cookie", "c=3")])
        c.pump(until=lambda: c.done(sid))
        tap.is_((c.status(sid), hall(b.last()["headers"], "cookie")), (200, ["a=1; b=2; c=3"]),
                "cookie crumbs with a Host between them joined")
        before = b.count()
        c2 = H2(h2c, validate=False)
        sid = c2.request("/echo/conn", headers=[("connection", "keep-alive")])
        c2.pump(until=lambda: c2.done(sid) or c2.closed)
        tap.is_(c2.resets.get(sid), PROTOCOL_ERROR,
                "Connection in a request: RST_STREAM PROTOCOL_ERROR", c2.resets)
        sid = c2.request("/echo/te", headers=[("transfer-encoding", "chunked")])
        c2.pump(until=lambda: c2.done(sid) or c2.closed)
        tap.is_(c2.resets.get(sid), PROTOCOL_ERROR,
                "Transfer-Encoding in a request: RST_STREAM PROTOCOL_ERROR", c2.resets)
        sid = c2.request("/echo/host", headers=[("host", "other.test")])
        c2.pump(until=lambda: c2.done(sid))
        tap.is_(c2.status(sid), 400, "Host other than :authority: 400")
        tap.is_(b.count(), before, "none of them reached the backend")
        c2.close()
        c.close()

    with subtest_guard("cache"):
        c = H2(h2c)
        s1 = c.request("/c/obj")
        c.pump(until=lambda: c.done(s1))
        s2 = c.request("/c/obj")
        c.pump(until=lambda: c.done(s2))
        tap.is_(c.streams[s2]["data"], b"cached body", "second GET: the body")
        tap.like(" ".join(c.header(s2, "cache-status")), r"hit",
                 "second GET over HTTP/2 is a cache hit", c.streams[s2]["headers"])
        tap.is_(b.hits_path("/c/obj"), 1, "the backend saw one request")
        c.close()

    with subtest_guard("concurrent streams on one connection"):
        c = H2(h2c)
        sids = [c.request("/echo/m%d" % i) for i in range(20)]
        c.pump(until=lambda: all(c.done(s) for s in sids))
        tap.ok(all(c.status(s) == 200 for s in sids), "20 streams at once: all 200")
        c.close()
    p.stop()


main(test, timeout=120)
