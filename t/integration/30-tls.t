#!/usr/bin/env python3
# TLS listeners: SNI picks the certificate (exact, wildcard, unknown name and
# no SNI get the default), RSA + ECDSA for the same names, TLS 1.0/1.1
# refused, ALPN (h2 first, then http/1.1), X-Forwarded-Proto: https, bodies both ways,
# keep-alive and pipelining, garbage and plain HTTP on the TLS port, a
# stalled handshake timed out, counters in the status endpoint, redirect =
# https on a plain listener, HSTS on a route.
import hashlib
import json
import os
import socket
import ssl
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from portico_test import (tap, main, Backend, Client, free_port, hall, hget, subtest_guard,
                          wait_until, pattern_sha256)
from portico_tls import Certs, TLSClient, TLSPortico, client_ctx, have_openssl


def test():
    if not have_openssl():
        tap.ok(False, "the openssl command is installed (apt-get install openssl)")
        return
    certs = Certs()
    a_pem, a_key = certs.issue("a", dns=["a.test", "www.a.test"])            # default, ECDSA
    w_pem, w_key = certs.issue("w", dns=["*.w.test"])                       # wildcard
    b_pem, b_key = certs.issue("b-rsa", dns=["b.test"], kind="rsa", cn="b.test rsa")
    be_pem, be_key = certs.issue("b-ec", dns=["b.test"], kind="ec", cn="b.test ecdsa")
    be = Backend("b1")
    plain = free_port()
    p = TLSPortico(
        upstreams={"app": [be.addr]},
        listeners={"web": ["127.0.0.1:%d" % free_port()], "plain": ["127.0.0.1:%d" % plain]},
        listener_opts={
            "web": [("tls_certificate", a_pem), ("tls_key", a_key),
                    ("tls_certificate", w_pem), ("tls_key", w_key),
                    ("tls_certificate", b_pem), ("tls_key", b_key),
                    ("tls_certificate", be_pem), ("tls_key", be_key),
                    ("tls_handshake_timeout", "1s")],
            "plain": [("redirect", "https:8443")],
        },
        routes=[dict(name="main", path="/", upstream="app", hsts="180d includeSubDomains"),
                dict(name="status", path="/_portico/", handler="status")],
        workers=2)
    port = int(p.listeners["web"][0].split(":")[1])
    p.listen_addr = lambda: ("127.0.0.1", port)
    p.start()
    ctx = client_ctx(ca=certs.ca)

    with subtest_guard("SNI"):
        for sni, want in (("a.test", "a.test"), ("www.a.test", "a.test"), ("WWW.A.Test", "a.test"),
                          ("x.w.test", "*.w.test"), ("other.w.test", "*.w.test"),
                          ("deep.x.w.test", "a.test"), ("w.test", "a.test"),
                          ("unknown.example", "a.test"), (None, "a.test")):
            with TLSClient(port, ctx, sni=sni) as c:
                cn = c.peer_cn()
                r = c.request("GET", "/echo/sni", host=sni or "localhost")
            tap.is_(cn, want, "SNI %r gets the certificate of %s" % (sni, want))
            tap.is_(r.status, 200, "SNI %r: request answered" % (sni,))

    with subtest_guard("RSA and ECDSA for the same name"):
        tls12 = dict(ca=certs.ca, max_version=ssl.TLSVersion.TLSv1_2)
        with TLSClient(port, client_ctx(ciphers="ECDHE-RSA-AES128-GCM-SHA256", **tls12),
                       sni="b.test") as c:
            tap.is_(c.peer_cn(), "b.test rsa", "an RSA-only client gets the RSA certificate")
        with TLSClient(port, client_ctx(ciphers="ECDHE-ECDSA-AES128-GCM-SHA256", **tls12),
                       sni="b.test") as c:
            tap.is_(c.peer_cn(), "b.test ecdsa", "an ECDSA-only client gets the ECDSA one")

    with subtest_guard("protocol versions"):
        with TLSClient(port, ctx, sni="a.test") as c:
            tap.is_(c.sock.version(), "TLSv1.3", "TLS 1.3 by default")
        with TLSClient(port, client_ctx(ca=certs.ca, max_version=ssl.TLSVersion.TLSv1_2),
                       sni="a.test") as c:
            tap.is_(c.sock.version(), "TLSv1.2", "TLS 1.2 accepted")
            tap.ok(c.sock.cipher()[0].startswith("ECDHE-"), "TLS 1.2 with forward secrecy",
                   repr(c.sock.cipher()))
        for ver in (ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1):
            old = client_ctx(min_version=ver, max_version=ver, ciphers="DEFAULT:@SECLEVEL=0")
            err = None
            try:
                with TLSClient(port, old, sni="a.test"):
                    pass
            except (ssl.SSLError, OSError) as e:
                err = str(e)
            tap.ok(err is not None, "%s refused" % ver.name, "handshake succeeded")
        tap.ok(p.wait_log(r"\[info\].*TLS handshake failed: .*(unsupported protocol|version)", 3),
               "refused versions logged at info", p.error_log()[-1500:])

    with subtest_guard("ALPN"):
        with TLSClient(port, client_ctx(ca=certs.ca, alpn=("h2", "http/1.1")), sni="a.test") as c:
            tap.is_(c.sock.selected_alpn_protocol(), "h2",
                    "ALPN h2,http/1.1 -> h2 (http2 is on by default with TLS)")
        with TLSClient(port, client_ctx(ca=certs.ca, alpn=None), sni="a.test") as c:
            tap.is_(c.request("GET", "/x").status, 200, "a client without ALPN is served")
        err = None
        try:
            with TLSClient(port, client_ctx(ca=certs.ca, alpn=("spdy/3",)), sni="a.test"):
                pass
        except (ssl.SSLError, OSError) as e:
            err = str(e)
        tap.like(err or "", "(?i)no.application.protocol|alert", "a client offering neither h2 nor http/1.1 is refused")

    with subtest_guard("forwarded headers"):
        with TLSClient(port, ctx, sni="a.test") as c:
            r = c.request("GET", "/echo/h", host="a.test",
                          headers=[("X-Forwarded-Proto", "http"),
                                   ("X-Client-Cert-Subject", "CN=forged")])
        h = r.json()["headers"]
        tap.is_(hall(h, "x-forwarded-proto"), ["https"], "X-Forwarded-Proto: https")
        tap.is_(hall(h, "x-client-cert-subject"), [], "a client's X-Client-Cert-Subject is dropped")
        tap.is_(r.header("strict-transport-security"), "max-age=15552000; includeSubDomains",
                "the route's HSTS header")

    with subtest_guard("bodies and keep-alive"):
        with TLSClient(port, ctx, sni="a.test") as c:
            n = 5 * 1024 * 1024 + 17
            h = hashlib.sha256()
            r = c.request("GET", "/size/%d" % n, on_body=h.update)
            tap.is_((r.status, r.body_len, h.hexdigest()), (200, n, pattern_sha256(n)),
                    "5 MB download over TLS, byte-exact")
            body = os.urandom(3 * 1024 * 1024 + 5)
            r = c.request("POST", "/sink", body=body)
            tap.is_(r.json()["sha256"], hashlib.sha256(body).hexdigest(),
                    "3 MB upload over TLS, byte-exact (same connection)")
            r = c.request("GET", "/chunked/300000")
            tap.is_((r.status, r.framing, len(r.body)), (200, "chunked", 300000),
                    "chunked answer over TLS")
            got = [c.request("GET", "/k/%d" % i).status for i in range(20)]
            tap.is_(got, [200] * 20, "20 more requests on the same connection")
        with TLSClient(port, ctx, sni="a.test") as c:
            c.send(b"".join(b"GET /p/%d HTTP/1.1\r\nHost: a.test\r\n\r\n" % i for i in range(10)))
            got = [c.read_response().status for _ in range(10)]
            tap.is_(got, [200] * 10, "10 pipelined requests in one TLS write")

    with subtest_guard("garbage and plain HTTP on the TLS port"):
        before = p.error_log().count("TLS handshake failed")
        for junk in (b"\x16\x03\x01\x00\x05hello-not-tls" + os.urandom(300), os.urandom(4096),
                     b"GET / HTTP/1.1\r\nHost: a.test\r\n\r\n", b"\x00" * 100):
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            try:
                s.sendall(junk)
                s.settimeout(3)
                closed = False
                try:
                    while s.recv(4096):
                        pass
                    closed = True
                except ConnectionResetError:
                    closed = True
                except socket.timeout:
                    closed = False
            finally:
                s.close()
            tap.ok(closed, "junk %r...: connection closed" % junk[:12])
        tap.ok(wait_until(lambda: p.error_log().count("TLS handshake failed") >= before + 4, 10),
               "each logged as a failed handshake",
               "\n".join(p.error_log().splitlines()[-8:]))
        tap.unlike(p.error_log(), r"\[(error|crit|alert)\].*TLS", "none of it above info")
        with TLSClient(port, ctx, sni="a.test") as c:
            tap.is_(c.request("GET", "/after-junk").status, 200, "still serving after the junk")
        tap.is_(len(p.workers()), 2, "no worker died")

    with subtest_guard("stalled handshake"):
        t0 = time.monotonic()
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")   # a ClientHello, cut short
        try:
            closed = s.recv(100) == b""
        except ConnectionResetError:
            closed = True
        except socket.timeout:
            closed = False
        el = time.monotonic() - t0
        s.close()
        tap.ok(closed and 0.8 < el < 3.5, "a stalled handshake is closed after "
               "tls_handshake_timeout (1s): %.2fs" % el)
        tap.ok(p.wait_log(r"\[info\].*TLS handshake timed out", 3), "and logged at info")
        s = socket.create_connection(("127.0.0.1", port), timeout=5)   # silent client
        t0 = time.monotonic()
        try:
            closed = s.recv(100) == b""
        except (ConnectionResetError, socket.timeout):
            closed = False
        tap.ok(closed and time.monotonic() - t0 < 3.5, "a silent client too")
        s.close()

    with subtest_guard("status counters"):
        with TLSClient(port, ctx, sni="a.test") as c:
            st = c.request("GET", "/_portico/status").json()
        tls = st.get("tls", {})
        tap.ok(tls.get("handshakes", 0) >= 20, "status: handshakes counted", repr(tls))
        tap.ok(tls.get("failed", 0) >= 6, "status: failed handshakes counted", repr(tls))
        with TLSClient(port, ctx, sni="a.test") as c:
            m = c.request("GET", "/_portico/metrics").body.decode()
        tap.like(m, r"(?m)^portico_tls_handshakes_total \d+$", "metrics: portico_tls_handshakes_total")

    with subtest_guard("redirect = https"):
        with Client(plain) as c:
            r = c.request("GET", "/some/path?q=1", host="site.test:%d" % plain)
            tap.is_(r.status, 301, "plain listener with redirect = https: 301")
            tap.is_(r.header("location"), "https://site.test:8443/some/path?q=1",
                    "Location: same host and target, on https")
            r = c.request("HEAD", "/x", host="[::1]:80")
            tap.is_(r.header("location"), "https://[::1]:8443/x", "IPv6 literal host")
        tap.is_(be.count() > 0 and all("/some/path" not in x["target"] for x in be.requests), True,
                "redirected requests never reach the backend")
        with Client(plain) as c:
            r = c.request("GET", "/x", host=None, version="HTTP/1.0")
        tap.is_(r.status, 400, "no Host to redirect to: 400")

    p.stop()


main(test, timeout=120, tests=57)
