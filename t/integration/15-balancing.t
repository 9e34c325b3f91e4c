#!/usr/bin/env python3
# Balancing methods seen from the sockets: least_conn across workers,
# hash by URI / header / cookie and ip_hash (stable and consistent),
# random, backup servers, max_conns (503 when every server is full).
import os
import sys
import threading

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from portico_test import tap, main, Backend, Portico, subtest_guard, refused_port


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
        # A slow request holds a connection to one server; while it runs,
        # every other request (from any worker) goes to the other server.
        slow = {}

        def hold():
            slow["r"] = p.get("/lc/slow/2")
        t = threading.Thread(target=hold)
        t.start()
        import time
        time.sleep(0.5)
        seen = [backend_of(p.get("/lc/echo/%d" % i)) for i in range(12)]
        t.join()
        busy = slow["r"].header("X-Backend")
        tap.ok(busy in ("ba", "bb"), "least_conn: the slow request was served", busy)
        tap.ok(all(s != busy for s in seen),
               "least_conn: while one server is busy, 12 of 12 go to the other (both workers)",
               "busy=%s seen=%s" % (busy, seen))

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
        held = {}

        def hold2():
            held["r"] = p.get("/mc/slow/2")
        t = threading.Thread(target=hold2)
        t.start()
        time.sleep(0.5)
        r = p.get("/mc/echo/x")
        tap.is_(r.status, 503, "max_conns=1 reached (across workers): 503")
        tap.ok(r.header("Retry-After") is not None, "... with Retry-After")
        t.join()
        tap.is_(held["r"].status, 200, "the request holding the connection: 200")
        tap.is_(p.get("/mc/echo/y").status, 200, "after it ended: 200 again")
        tap.ok(p.wait_log(r"every server is at max_conns", 3), "max_conns: logged")

    with subtest_guard("max_conns queue"):
        # workers = 2 but the queue is per worker: use one client connection
        # per request and accept either worker; the held request blocks both.
        held = {}

        def hold3():
            held["r"] = p.get("/mq/slow/1")
        t = threading.Thread(target=hold3)
        t.start()
        time.sleep(0.3)
        t0 = time.monotonic()
        r = p.get("/mq/echo/q")
        dt = time.monotonic() - t0
        t.join()
        tap.is_(r.status, 200, "queue: a request that finds the server full waits and is served")
        tap.ok(0.4 < dt < 2.5, "... once the connection is free (%.2fs)" % dt)

        def hold4():
            held["s"] = p.get("/mqt/slow/2")
        t = threading.Thread(target=hold4)
        t.start()
        time.sleep(0.3)
        t0 = time.monotonic()
        r = p.get("/mqt/echo/q")
        dt = time.monotonic() - t0
        tap.is_(r.status, 503, "queue_timeout over: 503")
        tap.ok(0.2 < dt < 1.5, "... after about queue_timeout (%.2fs)" % dt)
        t.join()
        tap.ok(p.wait_log(r"every server is at max_conns \(queue timeout\)", 3),
               "queue timeout logged")

    p.stop()


if __name__ == "__main__":
    main(test, timeout=90)
