#!/usr/bin/env python3
# Keep-alive on both sides (backend connections counted at the backend),
# pipelining, client keepalive_timeout, Connection: close.
import os
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from portico_test import (tap, main, wait_until, Backend, Portico, Client, build_request, pattern_bytes,
                          hall, connection_tokens, subtest_guard, PeerClosed)


def test():
    b = Backend("b1")
    p = Portico(upstreams={"app": [b.addr]}, workers=1,
                global_opts={"keepalive_timeout": "2s"}, name="portico-ka")
    p.start()

    with subtest_guard("one client connection"):
        b.reset()
        statuses = []
        closes = 0
        with p.client() as c:
            for i in range(50):
                r = c.request("GET", "/echo/%d" % i)
                statuses.append(r.status)
                closes += "close" in connection_tokens(r.headers)
        tap.is_(statuses, [200] * 50, "50 requests on one client connection: all 200")
        tap.is_(closes, 0, "no answer said Connection: close")
        tap.is_(b.count(), 50, "backend saw 50 requests")
        tap.ok(b.conn_count() <= 2, "50 sequential requests used <= 2 backend connections",
               b.conn_usage())

    with subtest_guard("new client connection per request"):
        b.reset()
        statuses = [p.get("/echo/n%d" % i).status for i in range(50)]
        tap.is_(statuses, [200] * 50, "50 requests, one client connection each: all 200")
        tap.ok(b.conn_count() <= 2, "... used <= 2 backend connections",
               b.conn_usage())

    with subtest_guard("interleaved clients"):
        b.reset()
        cs = [p.client() for _ in range(3)]
        ok = 0
        for i in range(30):
            r = cs[i % 3].request("POST", "/echo", body=b"x" * (i + 1))
            ok += r.status == 200 and r.json()["body_len"] == i + 1
        for c in cs:
            c.close()
        tap.is_(ok, 30, "3 client connections taking turns: 30 good answers")
        tap.ok(b.conn_count() <= 3, "... used <= 3 backend connections",
               b.conn_usage())

    with subtest_guard("backend closing idle connections"):
        b2 = Backend("idle", idle_timeout=0.2)
        tap.ok(p.reload(upstreams={"app": [b2.addr]}),
               "reload to the idle-closing backend: a new set of workers")
        tap.ok(wait_until(lambda: p.get("/echo/probe").header("X-Backend") == "idle", 5),
               "... answering from it")
        time.sleep(0.3)
        bad = []
        for i in range(8):
            try:
                r = p.get("/echo/idle%d" % i)
                if r.status != 200 or r.header("X-Backend") != "idle":
                    bad.append((i, r.status, r.header("X-Backend")))
            except Exception as e:
                bad.append((i, repr(e)))
            time.sleep(0.35)
        tap.is_(bad, [], "backend closes pooled connections when idle: no failed request")
        b3 = Backend("noka", keepalive=False)
        tap.ok(p.reload(upstreams={"app": [b3.addr]}),
               "reload to the Connection: close backend: a new set of workers")
        tap.ok(wait_until(lambda: p.get("/echo/probe").header("X-Backend") == "noka", 5),
               "... answering from it")
        n0 = b3.conn_count()
        with p.client() as c:
            got = [(lambda r: (r.status, r.header("X-Backend")))(
                c.request("GET", "/echo/%d" % i)) for i in range(10)]
        tap.is_(got, [(200, "noka")] * 10,
                "backend answering Connection: close each time: all 200, from it")
        tap.is_(b3.conn_count() - n0, 10, "... one backend connection per request")
        tap.ok(p.reload(upstreams={"app": [b.addr]}), "reload back to the first backend")
        tap.ok(wait_until(lambda: p.get("/echo/probe").header("X-Backend") == "b1", 5),
               "... answering from it")

    with subtest_guard("pipelining"):
        wire = (build_request("GET", "/slow/0.3") + build_request("GET", "/size/10") +
                build_request("POST", "/echo/post", body=b"pipelined body") +
                build_request("HEAD", "/head-test") + build_request("GET", "/chunked/3000") +
                build_request("GET", "/echo/last"))
        with p.client() as c:
            c.send(wire)
            rs = []
            for m in ("GET", "GET", "POST", "HEAD", "GET", "GET"):
                rs.append(c.read_response(m))
            tap.is_([r.status for r in rs], [200] * 6, "6 pipelined requests in one write: all 200")
            tap.is_(rs[0].body, b"slow done\n", "pipelined 1 (slow) answered first")
            tap.is_(rs[1].body, pattern_bytes(10), "pipelined 2 in order")
            j = rs[2].json()
            tap.ok(j["target"] == "/echo/post" and j["body_len"] == 14, "pipelined 3 (POST) in order")
            tap.ok(rs[3].header("Content-Length") == "1234" and rs[3].body_len == 0,
                   "pipelined 4 (HEAD): no body")
            tap.is_(rs[4].body, pattern_bytes(3000), "pipelined 5 (chunked answer) in order")
            tap.is_(rs[5].json()["target"], "/echo/last", "pipelined 6 in order")
            tap.ok(not c.is_closed(0.3), "connection open after pipelined requests")

        n = 20
        wire = b"".join(build_request("GET", "/echo/%d" % i) for i in range(n - 1))
        wire += build_request("GET", "/echo/%d" % (n - 1), headers=[("Connection", "close")])
        with p.client() as c:
            c.send(wire)
            targets = []
            try:
                for i in range(n):
                    targets.append(c.read_response().json()["target"])
            except (PeerClosed, ValueError) as e:
                tap.diag("after %d answers: %s" % (len(targets), e))
            tap.is_(targets, ["/echo/%d" % i for i in range(n)],
                    "20 pipelined requests answered in order")
            tap.ok(c.is_closed(3), "last pipelined request had Connection: close: closed after")

    with subtest_guard("Connection: close"):
        with p.client() as c:
            r = c.request("GET", "/echo", headers=[("Connection", "close")])
            tap.ok(r.status == 200 and "close" in connection_tokens(r.headers),
                   "Connection: close request: answer says Connection: close")
            tap.ok(c.is_closed(3), "Connection: close request: connection closed")

    with subtest_guard("keepalive_timeout"):
        with p.client() as c:
            r = c.request("GET", "/echo")
            t0 = time.monotonic()
            closed = c.is_closed(6)
            dt = time.monotonic() - t0
            tap.ok(closed, "idle client connection closed (keepalive_timeout = 2s)")
            tap.ok(1.5 <= dt <= 5, "... after about 2 s", "after %.2f s" % dt)
            tap.is_(bytes(c.r.buf), b"", "... silently (no bytes sent)")

    p.stop()

    b.reset()
    q = Portico(upstreams={"app": [b.addr]}, workers=1, upstream_opts={"keepalive": "0"},
                name="portico-noka")
    q.start()
    with subtest_guard("upstream keepalive = 0"):
        with q.client() as c:
            got = [c.request("GET", "/echo/%d" % i).status for i in range(10)]
        tap.is_(got, [200] * 10, "upstream keepalive = 0: 10 requests on one client connection")
        tap.is_(b.conn_count(), 10, "upstream keepalive = 0: one backend connection per request")
        tap.ok(all("close" in connection_tokens(r["headers"]) for r in b.requests),
               "upstream keepalive = 0: requests carry Connection: close")
    q.stop()


main(test, timeout=60, tests=37)
