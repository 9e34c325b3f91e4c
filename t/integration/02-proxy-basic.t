#!/usr/bin/env python3
# GET/POST through the proxy: forwarded headers, hop-by-hop removal (both
# directions), Expect: 100-continue, HEAD/204/304, status pass-through,
# HTTP/1.0 clients, close-delimited backend responses.
import hashlib
import os
import sys
import socket

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from portico_test import (tap, main, Backend, Portico, Client, build_request, pattern_bytes,
                          pattern_sha256, hget, hall, connection_tokens, subtest_guard,
                          PeerClosed)


def test():
    b = Backend("b1")
    p = Portico(upstreams={"app": [b.addr]})
    p.start()

    with subtest_guard("plain GET"):
        r = p.get("/echo/a%20b?x=%2F&y=1", host="www.example.com")
        tap.is_(r.status, 200, "GET: 200")
        rec = b.last()
        tap.is_(rec["method"], "GET", "GET: method forwarded")
        tap.is_(rec["target"], "/echo/a%20b?x=%2F&y=1", "GET: target forwarded byte for byte")
        tap.is_(rec["version"], "HTTP/1.1", "GET: forwarded as HTTP/1.1")
        tap.is_(r.json()["backend"], "b1", "GET: answer is the backend's body")
        tap.is_(r.header("X-Backend"), "b1", "GET: backend's response headers passed on")
        h = rec["headers"]
        tap.is_(hall(h, "host"), ["www.example.com"], "Host passed through unchanged")
        tap.is_(hall(h, "x-forwarded-for"), ["127.0.0.1"], "X-Forwarded-For: client IP")
        tap.is_(hall(h, "x-forwarded-proto"), ["http"], "X-Forwarded-Proto: http")
        tap.is_(hall(h, "x-forwarded-host"), ["www.example.com"], "X-Forwarded-Host: the Host")
        tap.like(", ".join(hall(h, "via")), r"portico", "Via names portico")

    with subtest_guard("X-Forwarded-For appended"):
        r = p.get("/echo", headers=[("X-Forwarded-For", "10.1.2.3, 10.9.9.9")])
        xff = ", ".join(hall(b.last()["headers"], "x-forwarded-for"))
        tap.is_([x.strip() for x in xff.split(",")], ["10.1.2.3", "10.9.9.9", "127.0.0.1"],
                "X-Forwarded-For: client IP appended to the existing list")
        r = p.get("/echo", headers=[("Via", "1.0 upstream-proxy")])
        via = ", ".join(hall(b.last()["headers"], "via"))
        tap.ok("upstream-proxy" in via and "portico" in via,
               "Via: existing value kept, portico added", via)

    with subtest_guard("hop-by-hop removed"):
        sent = [("Connection", "keep-alive, X-Secret-Hop"), ("X-Secret-Hop", "1"),
                ("Keep-Alive", "timeout=5"), ("TE", "trailers"), ("Trailer", "X-T"),
                ("Upgrade", "foo/2"), ("Proxy-Connection", "keep-alive"),
                ("Proxy-Authorization", "Basic c2VjcmV0OnNlY3JldA=="),
                ("Proxy-Foo", "bar"),
                ("User-Agent", "portico-test/1"), ("Authorization", "Bearer t0k3n"),
                ("Cookie", "a=1; b=2"), ("X-Custom", "one"), ("X-Custom", "two"),
                ("Accept", "*/*")]
        r = p.get("/echo", headers=sent)
        tap.is_(r.status, 200, "hop-by-hop request: 200")
        h = b.last()["headers"]
        for name in ("X-Secret-Hop", "Keep-Alive", "TE", "Trailer", "Upgrade",
                     "Proxy-Connection", "Proxy-Authorization", "Proxy-Foo"):
            tap.is_(hall(h, name), [], "request: %s not forwarded" % name)
        toks = connection_tokens(h)
        tap.ok(all(t in ("keep-alive", "close") for t in toks),
               "request: client's Connection header not forwarded", repr(toks))
        tap.is_(hall(h, "user-agent"), ["portico-test/1"], "request: User-Agent kept")
        tap.is_(hall(h, "authorization"), ["Bearer t0k3n"], "request: Authorization kept")
        tap.is_(hall(h, "cookie"), ["a=1; b=2"], "request: Cookie kept")
        tap.is_(hall(h, "x-custom"), ["one", "two"], "request: repeated field kept, in order")

    with subtest_guard("17 Connection-listed fields removed"):
        names = ["X-Hop-%02d" % i for i in range(17)]
        sent = [("Connection", ", ".join(names[:16]))]
        sent += [(n, "1") for n in names]
        sent += [("Connection", names[16]), ("X-Stays", "1")]
        r = p.get("/echo", headers=sent)
        tap.is_(r.status, 200, "17 Connection tokens: 200")
        h = b.last()["headers"]
        tap.is_([n for n in names if hall(h, n)], [],
                "request: all 17 fields its Connection fields name not forwarded")
        tap.is_(hall(h, "x-stays"), ["1"], "request: unlisted field kept")

    with subtest_guard("response hop-by-hop"):
        r = p.get("/hop")
        tap.is_(r.status, 200, "response with hop-by-hop fields: 200")
        for name in ("X-Hop-Secret", "Keep-Alive", "Upgrade", "Trailer"):
            tap.is_(r.header_all(name), [], "response: %s removed" % name)
        tap.is_(r.header("X-End-To-End"), "yes", "response: end-to-end field kept")
        tap.ok(all(t in ("keep-alive", "close") for t in connection_tokens(r.headers)),
               "response: backend's Connection tokens not passed on",
               repr(r.header_all("connection")))

    with subtest_guard("POST"):
        body = pattern_bytes(100000)
        r = p.get("/echo", method="POST", body=body, headers=[("Content-Type", "application/x-test")])
        tap.is_(r.status, 200, "POST 100 kB: 200")
        rec = b.last()
        tap.is_(rec["method"], "POST", "POST: method")
        tap.ok(rec["body"] == body, "POST: body byte-exact at the backend",
               "got %d bytes" % rec["body_len"])
        tap.is_(hall(rec["headers"], "content-type"), ["application/x-test"], "POST: Content-Type kept")
        r = p.get("/echo", method="POST", body=b"")
        tap.ok(r.status == 200 and b.last()["body_len"] == 0, "POST with Content-Length: 0")
        r = p.get("/echo", method="PUT", body=b"x" * 10)
        tap.ok(r.status == 200 and b.last()["method"] == "PUT" and b.last()["body"] == b"x" * 10,
               "PUT forwarded")
        r = p.get("/echo", method="DELETE")
        tap.ok(r.status == 200 and b.last()["method"] == "DELETE", "DELETE forwarded")
        r = p.get("/echo", method="OPTIONS")
        tap.ok(r.status == 200 and b.last()["method"] == "OPTIONS", "OPTIONS forwarded")

    with subtest_guard("Expect: 100-continue"):
        with Client(p.port, timeout=5) as c:
            c.send(build_request("POST", "/echo", [("Content-Length", "11"),
                                                   ("Expect", "100-continue")]))
            c.settimeout(3)
            try:
                data = c.sock.recv(4096)
            except socket.timeout:
                data = b""
            c.r.buf += data
            tap.like(data, r"^HTTP/1\.1 100 Continue\r\n\r\n", "100 Continue sent before the body")
            c.settimeout(5)
            c.send(b"hello world")
            r = c.read_response()
            tap.is_(r.status, 200, "100-continue: final 200")
            rec = b.last()
            tap.is_(rec["body"], b"hello world", "100-continue: body forwarded")
            tap.is_(hall(rec["headers"], "expect"), [], "Expect not forwarded")

    with subtest_guard("HEAD / 204 / 304"):
        with p.client() as c:
            r = c.request("HEAD", "/head-test")
            tap.ok(r.status == 200 and r.header("Content-Length") == "1234",
                   "HEAD: 200 with the backend's Content-Length", repr(r.headers))
            tap.is_(b.last()["method"], "HEAD", "HEAD forwarded as HEAD")
            r = c.request("GET", "/status/204")
            tap.is_(r.status, 204, "204 passed through")
            r = c.request("GET", "/status/304")
            tap.is_(r.status, 304, "304 passed through")
            tap.ok(r.header("Transfer-Encoding") is None, "304: no Transfer-Encoding")
            r = c.request("GET", "/size/10")
            tap.ok(r.status == 200 and r.body == pattern_bytes(10),
                   "after HEAD/204/304 on the same connection: no stray body bytes")

    with subtest_guard("status pass-through"):
        for code in (201, 404, 418, 500, 503):
            r = p.get("/status/%d" % code)
            tap.ok(r.status == code and r.body == b"status %d\n" % code,
                   "backend status %d and body passed through" % code, repr(r))

    with subtest_guard("HTTP/1.0"):
        with p.client() as c:
            r = c.request("GET", "/chunked/50000", version="HTTP/1.0")
            tap.is_(r.status, 200, "HTTP/1.0: 200")
            tap.ok(r.framing in ("close", "length"), "HTTP/1.0: response not chunked", r.framing)
            tap.ok(r.version in ("HTTP/1.1", "HTTP/1.0"), "HTTP/1.0: status line version")
            tap.is_(hashlib.sha256(r.body).hexdigest(), pattern_sha256(50000),
                    "HTTP/1.0: body complete (from a chunked backend answer)")
            tap.ok(c.is_closed(3), "HTTP/1.0 without keep-alive: connection closed")
        with p.client() as c:
            r = c.request("GET", "/size/1000", version="HTTP/1.0",
                          headers=[("Connection", "keep-alive")])
            tap.ok(r.status == 200 and r.framing == "length" and r.body == pattern_bytes(1000),
                   "HTTP/1.0 keep-alive: Content-Length answer", repr(r))
            tap.ok("keep-alive" in connection_tokens(r.headers),
                   "HTTP/1.0 keep-alive: answer says Connection: keep-alive", repr(r.headers))
            r = c.request("GET", "/size/10", version="HTTP/1.0",
                          headers=[("Connection", "keep-alive")])
            tap.is_(r.status, 200, "HTTP/1.0 keep-alive: second request on the connection")
        with p.client() as c:
            c.send(b"GET /echo HTTP/1.0\r\n\r\n")
            r = c.read_response()
            tap.is_(r.status, 200, "HTTP/1.0 without Host: 200")

    with subtest_guard("close-delimited backend answer"):
        # repeated: the failure seen so far is timing dependent
        results = {"complete": 0, "hung": 0, "short": 0}
        detail = []
        for i in range(8):
            n = (300000, 1000, 70000, 5)[i % 4]
            with p.client(timeout=3) as c:
                try:
                    r = c.request("GET", "/close/%d" % n)
                    good = (r.status == 200 and r.body_len == n and
                            hashlib.sha256(r.body).hexdigest() == pattern_sha256(n))
                    if good and r.framing != "close":
                        # re-framed (chunked / length): the connection may stay
                        good = c.request("GET", "/size/5").status == 200
                    results["complete" if good else "short"] += 1
                    if not good:
                        detail.append("%d: got %r %d bytes" % (n, r, r.body_len))
                except PeerClosed as e:
                    results["short"] += 1
                    detail.append("%d: %s" % (n, e))
                except OSError as e:
                    results["hung"] += 1
                    detail.append("%d: %s after %d bytes: client left waiting" % (n, e, c.r.total))
        tap.is_(results, {"complete": 8, "hung": 0, "short": 0},
                "close-delimited backend answer to a 1.1 client: delivered completely, 8 of 8",
                "\n".join(detail))

    with subtest_guard("1xx from the backend"):
        with p.client() as c:
            r = c.request("GET", "/early")
            tap.ok(r.status == 200 and r.body == b"after early hints\n",
                   "backend sends 103 then 200: client gets the final 200",
                   "interim %r, final %r" % (r.interim, r))
            tap.is_(c.request("GET", "/size/4").body, pattern_bytes(4), "... connection still in step")

    with subtest_guard("half-closed client"):
        with p.client() as c:
            c.send(build_request("GET", "/echo/halfclose", [("Connection", "close")]))
            c.sock.shutdown(socket.SHUT_WR)
            try:
                r = c.read_response()
                tap.ok(r.status == 200 and r.json()["target"] == "/echo/halfclose",
                       "client shuts down its write side after the request: still answered")
            except (PeerClosed, OSError) as e:
                tap.ok(False, "client shuts down its write side after the request: still answered",
                       repr(e))

    with subtest_guard("absolute-form"):
        with p.client() as c:
            c.send(b"GET http://www.example.com/echo?q=1 HTTP/1.1\r\nHost: www.example.com\r\n\r\n")
            r = c.read_response()
            tap.is_(r.status, 200, "absolute-form target: 200")
            tap.is_(b.last()["target"], "/echo?q=1", "absolute-form: forwarded in origin form")

    with subtest_guard("many headers"):
        hs = [("X-H%02d" % i, "v%d" % i) for i in range(60)]
        r = p.get("/echo", headers=hs)
        got = [(k, v) for k, v in b.last()["headers"] if k.startswith("X-H")]
        tap.is_(got, hs, "60 request fields forwarded unchanged, in order")

    p.stop()


main(test, timeout=60, tests=77)
