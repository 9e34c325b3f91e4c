#!/usr/bin/env python3
# Balancing methods seen from the sockets: least_conn across workers,
# hash by URI / header / cookie and ip_hash (stable and consistent),
# random, backup servers, max_conns (503 when every server is full).
import os
import sys
import threading

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import time
from portico_test import tap, main, Backend, Portico, subtest_guard, refused_port, wait_until


def backend_of(r):
    return r.header("X-Backend")


def test():
    ba, bb, bc = Backend("ba"), Backend("bb"), Backend("bc")
    p = Portico(upstreams={
        "lc": {"servers": [ba.addr, bb.addr], "balance": "least_conn"},
        "uri": {"servers": [ba.addr, bb.addr, bc.addr], "balance": "hash"},
        "hdr": {"servers": [ba.addr, bb.addr, bc.addr], "balance": "hash",
                "hash_key": "header:X-User"},
        "ck": {"servers": [ba.addr, bb.addr, bc.addr], "balance": "hash",
               "hash_key": "cookie:session"},
        "ip": {"servers": [ba.addr, bb.addr, bc.addr], "balance": "ip_hash"},
        "rnd": {"servers": [ba.addr, bb.addr, bc.addr], "balance": "random"},
        "bk": {"servers": ["127.0.0.1:%d" % refused_port(), bc.addr + " backup"]},
        "mc": {"servers": [ba.addr + " max_conns=1"]},
        "mq": {"servers": [bb.addr + " max_conns=1"], "queue": "4", "queue_timeout": "3s"},
        "mqt": {"servers": [bc.addr + " max_conns=1"], "queue": "4", "queue_timeout": "300ms"},
    }, routes=[
        dict(name="lc", path="/lc/", upstream="lc"),
        dict(name="uri", path="/uri/", upstream="uri"),
        dict(name="hdr", path="/hdr/", upstream="hdr"),
        dict(name="ck", path="/ck/", upstream="ck"),
        dict(name="ip", path="/ip/", upstream="ip"),
        dict(name="rnd", path="/rnd/", upstream="rnd"),
        dict(name="bk", path="/bk/", upstream="bk"),
        dict(name="mc", path="/mc/", upstream="mc"),
        dict(name="mq", path="/mq/", upstream="mq"),
        dict(name="mqt", path="/mqt/", upstream="mqt"),
    ], workers=2)
    p.start()

    with subtest_guard("least_conn"):
        # A slow request holds a connection to one server, made through
        # worker A; while it runs, requests through worker B (and through A)
        # all go to the other server: the count of connections is shared.
        wa, wb = p.workers()[:2]
        ca, ca2, cb = p.client_on(wa), p.client_on(wa), p.client_on(wb)
        slow = {}

        def hold():
            slow["r"] = ca.request("GET", "/lc/slow/3")
        t = threading.Thread(target=hold)
        t.start()
        tap.ok(wait_until(lambda: ba.hits("/lc/slow/3") + bb.hits("/lc/slow/3") == 1, 5),
               "least_conn: the slow request reached a server")
        seen = []
        for i in range(6):
            seen.append(("B", backend_of(cb.request("GET", "/lc/echo/b%d" % i))))
            seen.append(("A", backend_of(ca2.request("GET", "/lc/echo/a%d" % i))))
        t.join()
        busy = slow["r"].header("X-Backend")
        tap.ok(busy in ("ba", "bb"), "least_conn: the slow request was served", busy)
        tap.ok(all(s != busy for _, s in seen),
               "least_conn: while one server is busy through worker A, 12 of 12 go to the "
               "other, 6 through worker B and 6 through A",
               "busy=%s seen=%s" % (busy, seen))
        for c in (ca, ca2, cb):
            c.close()

    with subtest_guard("hash by URI"):
        first = {u: backend_of(p.get("/uri/echo/%d" % u)) for u in range(30)}
        again = {u: backend_of(p.get("/uri/echo/%d" % u)) for u in range(30)}
        tap.is_(again, first, "hash uri: the same URI goes to the same server, both workers")
        tap.ok(len(set(first.values())) == 3, "hash uri: 30 URIs spread over all 3 servers",
               str(sorted(first.values())))

    with subtest_guard("hash by header and cookie"):
        users = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi"]
        h1 = [backend_of(p.get("/hdr/echo/%d" % i, headers=[("X-User", u)]))
              for i, u in enumerate(users)]
        h2 = [backend_of(p.get("/hdr/echo/x%d" % i, headers=[("X-User", u)]))
              for i, u in enumerate(users)]
        tap.is_(h2, h1, "hash header:X-User: same user, same server, whatever the path")
        c1 = [backend_of(p.get("/ck/echo/%d" % i, headers=[("Cookie", "a=1; session=%s; b=2" % u)]))
              for i, u in enumerate(users)]
        c2 = [backend_of(p.get("/ck/echo/y%d" % i, headers=[("Cookie", "session=%s" % u)]))
              for i, u in enumerate(users)]
        tap.is_(c2, c1, "hash cookie:session: same session, same server")
        nokey = {backend_of(p.get("/ck/echo/n%d" % i)) for i in range(9)}
        tap.ok(len(nokey) >= 2, "hash: requests without the cookie are spread (round robin)",
               str(nokey))

    with subtest_guard("ip_hash"):
        ips = {backend_of(p.get("/ip/echo/%d" % i)) for i in range(10)}
        tap.is_(len(ips), 1, "ip_hash: one client address, one server", str(ips))

    with subtest_guard("random"):
        seen = [backend_of(p.get("/rnd/echo/%d" % i)) for i in range(60)]
        tap.ok(all(seen.count(n) >= 5 for n in ("ba", "bb", "bc")),
               "random: 60 requests reach all 3 servers",
               str({n: seen.count(n) for n in ("ba", "bb", "bc")}))

    with subtest_guard("backup"):
        seen = {backend_of(p.get("/bk/echo/%d" % i)) for i in range(4)}
        tap.is_(seen, {"bc"}, "backup: used when the only primary refuses")

    with subtest_guard("max_conns"):
        # The one connection allowed is taken through worker A; worker B
        # must see it as taken too.
        wa, wb = p.workers()[:2]
        ca, ca2, cb = p.client_on(wa), p.client_on(wa), p.client_on(wb)
        held = {}

        def hold2():
            held["r"] = ca.request("GET", "/mc/slow/3")
        t = threading.Thread(target=hold2)
        t.start()
        tap.ok(wait_until(lambda: ba.hits("/mc/slow/3") == 1, 5),
               "max_conns: the holding request reached the server (through worker A)")
        r = cb.request("GET", "/mc/echo/x")
        tap.is_(r.status, 503, "max_conns=1 reached through worker A: worker B answers 503")
        tap.ok(r.header("Retry-After") is not None, "... with Retry-After")
        tap.is_(ca2.request("GET", "/mc/echo/x2").status, 503, "... and so does worker A")
        t.join()
        tap.is_(held["r"].status, 200, "the request holding the connection: 200")
        tap.is_(cb.request("GET", "/mc/echo/y").status, 200, "after it ended: 200 again")
        tap.ok(p.wait_log(r"every server is at max_conns", 3), "max_conns: logged")
        for c in (ca, ca2, cb):
            c.close()

    with subtest_guard("max_conns queue"):
        # The queue is per worker: hold the connection and queue behind it
        # on the same worker.  Bounds are from one side only: the queued
        # request reaches the server after the held one was answered.
        wa = p.workers()[0]
        ca, ca2 = p.client_on(wa), p.client_on(wa)
        held = {}

        def hold3():
            held["r"] = ca.request("GET", "/mq/slow/1")
        t = threading.Thread(target=hold3)
        t.start()
        wait_until(lambda: bb.hits("/mq/slow/1") == 1, 5)
        r = ca2.request("GET", "/mq/echo/q")
        t.join()
        tap.is_(r.status, 200, "queue: a request that finds the server full waits and is served")
        t_held = bb.requests_for("/mq/slow/1")[0]["time"]
        t_q = bb.requests_for("/mq/echo/q")[0]["time"] if bb.hits("/mq/echo/q") else 0
        tap.ok(t_q - t_held >= 0.95, "... once the connection is free (%.2f s after the "
               "held request, which takes 1 s)" % (t_q - t_held))

        def hold4():
            held["s"] = ca.request("GET", "/mqt/slow/2")
        t = threading.Thread(target=hold4)
        t.start()
        wait_until(lambda: bc.hits("/mqt/slow/2") == 1, 5)
        t0 = time.monotonic()
        r = ca2.request("GET", "/mqt/echo/q")
        dt = time.monotonic() - t0
        tap.is_(r.status, 503, "queue_timeout over: 503")
        tap.ok(dt >= 0.25, "... after waiting queue_timeout (300 ms): %.2f s" % dt)
        t.join()
        tap.ok(p.wait_log(r"every server is at max_conns \(queue timeout\)", 3),
               "queue timeout logged")
        ca.close()
        ca2.close()

    p.stop()


if __name__ == "__main__":
    main(test, timeout=90, tests=24)
