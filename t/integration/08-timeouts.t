#!/usr/bin/env python3
# Timeouts: read_timeout -> 504 (and a stalled body -> early close),
# connect_timeout -> next server / 502, client_header_timeout -> 408 (or a
# silent close when nothing was sent), client_body_timeout -> 408.
import os
import socket
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from portico_test import (tap, main, Backend, Blackhole, Portico, subtest_guard, PeerClosed,
                          build_request, wait_until)


def test():
    b = Backend("b1")
    hole = Blackhole()
    p = Portico(upstreams={
        "app": [b.addr],
        "hole": [hole.addr, b.addr],
        "holeonly": [hole.addr],
    }, routes=[
        dict(name="main", path="/", upstream="app"),
        dict(name="hole", path="/hole/", upstream="hole"),
        dict(name="holeonly", path="/holeonly/", upstream="holeonly"),
    ], upstream_opts={"read_timeout": "1s", "connect_timeout": "1s"},
        global_opts={"client_header_timeout": "1s", "client_body_timeout": "1s"})
    p.start()

    with subtest_guard("504"):
        with p.client() as c:
            t0 = time.monotonic()
            r = c.request("GET", "/slow/6")
            dt = time.monotonic() - t0
            tap.is_(r.status, 504, "backend slower than read_timeout (1s): 504")
            # Not before read_timeout; the upper bound only tells it from
            # the backend's own 6 s, so that a loaded machine does not fail it.
            tap.ok(0.8 <= dt < 5, "... after read_timeout (1 s), not the backend's 6 s",
                   "after %.2f s" % dt)
            tap.ok(str(b.port).encode() not in r.body + r.raw_head,
                   "504 page does not contain the backend's port")
            tap.like(r.body, r"504", "504: portico's own page")
            try:
                r2 = c.request("GET", "/echo/after")
                tap.ok(r2.status == 200 and r2.json()["target"] == "/echo/after",
                       "same client connection after 504: the next answer is its own")
            except PeerClosed as e:
                # Closing after a 504 is fine, but not with bytes of an
                # answer that is not this request's.
                tap.is_(e.received, 0, "client connection closed after 504, "
                        "without bytes of another answer")
        time.sleep(5.2)   # let the slow backend answer into the void
        r = p.get("/echo/later")
        tap.ok(r.status == 200 and r.json()["target"] == "/echo/later",
               "later requests get their own answer (no stale answer from the slow one)")
        r = p.get("/slow/0.3")
        tap.is_(r.status, 200, "backend faster than read_timeout: 200")

    with subtest_guard("stalled body"):
        with p.client(timeout=10) as c:
            t0 = time.monotonic()
            try:
                r = c.request("GET", "/stall/6")
                tap.ok(False, "backend stalls mid-body longer than read_timeout: early close",
                       "complete answer %r" % r)
            except PeerClosed as e:
                dt = time.monotonic() - t0
                tap.ok(e.received > 0 and dt < 5,
                       "backend stalls mid-body longer than read_timeout: client closed early",
                       "received %d bytes, closed after %.2f s" % (e.received, dt))
            except OSError as e:
                tap.ok(False, "backend stalls mid-body longer than read_timeout: early close",
                       "client connection left hanging: %r" % e)

    with subtest_guard("408"):
        time.sleep(0.3)
        before = b.count()
        with p.client(timeout=10) as c:
            c.send(b"GET /echo HTTP/1.1\r\nHost: x\r\nX-Partial: ")
            t0 = time.monotonic()
            try:
                r = c.read_response()
                dt = time.monotonic() - t0
                tap.is_(r.status, 408, "partial request head, client_header_timeout 1s: 408")
                tap.ok(0.7 <= dt < 6, "... not before client_header_timeout (1 s)",
                       "%.2f s" % dt)
                tap.ok(c.is_closed(2), "... and the connection is closed")
            except (PeerClosed, OSError) as e:
                tap.ok(False, "partial request head: 408", repr(e))
        tap.is_(b.count(), before, "the partial request never reached the backend")

        with p.client(timeout=10) as c:
            t0 = time.monotonic()
            closed = c.is_closed(8)
            dt = time.monotonic() - t0
            tap.ok(closed and c.r.total == 0 and dt < 7,
                   "connection that sends nothing: closed silently after the header timeout",
                   "closed=%s after %.2f s, bytes %d" % (closed, dt, c.r.total))

        # a slow but steady client: each byte well within the timeout
        # (the timeout covers the whole head: 1 s in total)
        with p.client(timeout=6) as c:
            head = build_request("GET", "/echo/steady")
            for i in range(0, len(head), 8):
                c.send(head[i:i + 8])
                time.sleep(0.02)
            r = c.read_response()
            tap.is_(r.status, 200, "request head sent in small pieces within the timeout: 200")

    with subtest_guard("connect timeout"):
        N_CONNECT_TESTS = 6     # the tests of the else branch
        if not hole.works():
            tap.skip("cannot make a loopback connect hang here", N_CONNECT_TESTS)
        else:
            for i in range(2):
                t0 = time.monotonic()
                with p.client(timeout=8) as c:
                    c.send(build_request("GET", "/hole/echo/%d" % i))
                    try:
                        r = c.read_response()
                        dt = time.monotonic() - t0
                        tap.ok(r.status == 200 and r.json()["target"] == "/hole/echo/%d" % i,
                               "first server's connect times out: the next one answers (%d)" % i)
                        tap.ok(dt < 4.5, "... within about connect_timeout (1 s)", "%.2f s" % dt)
                    except (ValueError, PeerClosed, OSError) as e:
                        tap.ok(False, "first server's connect times out: the next one answers (%d)" % i,
                               "%s\nclient received: %r" % (e, bytes(c.r.buf)[:400]))
            t0 = time.monotonic()
            try:
                r = p.get("/holeonly/echo")
                dt = time.monotonic() - t0
                tap.is_(r.status, 504, "only server's connect times out: 504")
                tap.ok(dt < 4.5, "... within about connect_timeout (1 s)", "%.2f s" % dt)
            except (ValueError, PeerClosed, OSError) as e:
                tap.ok(False, "only server's connect times out: 504", str(e))

    with subtest_guard("client body timeout"):
        with p.client(timeout=10) as c:
            c.send(build_request("POST", "/echo", [("Content-Length", "100")]) + b"x" * 10)
            t0 = time.monotonic()
            try:
                r = c.read_response()
                dt = time.monotonic() - t0
                tap.is_(r.status, 408, "body stalls longer than client_body_timeout (1s): 408")
                tap.ok(dt < 6, "... soon (client_body_timeout 1 s)", "%.2f s" % dt)
            except PeerClosed as e:
                tap.ok(False, "stalled body: 408", "closed without an answer: %s" % e)

    tap.is_(p.get("/echo/end").status, 200, "still serving")
    p.stop()


main(test, timeout=60, tests=24)
