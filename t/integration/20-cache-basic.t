#!/usr/bin/env python3
# Response cache, basics: a cacheable GET is stored on the miss and answered
# from shared memory afterwards (Cache-Status, Age, stored headers,
# Content-Length, identical bytes, no backend request), on any worker and on
# a keep-alive connection; the query string and the Host are part of the key;
# HEAD is answered from a stored GET; a route without cache = on never
# caches; a hit sends no hop-by-hop field the miss did not forward
# (Proxy-*, fields named in Connection); the status endpoint counts hits.
import json
import os
import re
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from portico_test import (tap, main, Backend, Portico, subtest_guard, pattern_bytes, http_date,
                          cache_section, cache_status, cs, CS_HIT, CS_STORED)

HIT = CS_HIT
STORED = CS_STORED



def test():
    b = Backend("b1")
    p = Portico(upstreams={"app": [b.addr]}, routes=[
        dict(name="status", path="/_portico/", handler="status"),
        dict(name="nocache", path="/nc/", upstream="app"),
        dict(name="cached", path="/", upstream="app", cache="on"),
    ], workers=2, extra=cache_section(size="16m"))
    p.start()

    with subtest_guard("miss then hit"):
        body = pattern_bytes(3000)
        date = http_date()
        b.script("/b/one", headers=[("Cache-Control", "max-age=60"), ("Date", date),
                                    ("ETag", '"one-1"'), ("X-Custom", "kept"),
                                    ("Content-Type", "application/octet-stream")], body=body)
        r1 = p.get("/b/one")
        tap.is_(r1.status, 200, "miss: 200")
        tap.like(cs(r1), STORED, "miss: Cache-Status fwd=miss; stored; ttl")
        d1 = cache_status(r1)
        tap.ok(58 <= d1.get("ttl", -1) <= 60, "miss: stored ttl is about max-age (60)", cs(r1))
        tap.is_(b.hits("/b/one"), 1, "miss: reached the backend once")
        tap.ok(r1.body == body, "miss: body passed through")
        r2 = p.get("/b/one")
        tap.is_(r2.status, 200, "hit: 200")
        tap.like(cs(r2), HIT, "hit: Cache-Status hit; ttl")
        d2 = cache_status(r2)
        tap.ok(57 <= d2.get("ttl", -1) <= 60, "hit: ttl = remaining freshness", cs(r2))
        tap.is_(b.hits("/b/one"), 1, "hit: backend not asked again")
        tap.ok(r2.body == body, "hit: body identical byte for byte",
               "%d bytes vs %d" % (len(r2.body), len(body)))
        tap.is_(r2.header("Content-Length"), str(len(body)), "hit: Content-Length of the object")
        tap.is_(r2.framing, "length", "hit: Content-Length framing")
        age = r2.header("Age")
        tap.ok(age is not None and re.match(r"^\d+$", age) and int(age) <= 3,
               "hit: Age present, small", repr(age))
        tap.is_(r2.header("Date"), date, "hit: the original Date")
        tap.is_(r2.header("ETag"), '"one-1"', "hit: stored ETag")
        tap.is_(r2.header("X-Custom"), "kept", "hit: stored end-to-end field")
        tap.is_(r2.header("X-Backend"), "b1", "hit: stored backend field")
        tap.is_(r2.header("Cache-Control"), "max-age=60", "hit: stored Cache-Control")
        tap.is_(r2.header_all("Content-Length"), [str(len(body))], "hit: one Content-Length")
        tap.is_(r2.header_all("Transfer-Encoding"), [], "hit: no Transfer-Encoding")
        # 5 more through each worker, on purpose: the cache is shared
        codes = []
        for w, c in p.clients_on_workers().items():
            for i in range(5):
                r = c.request("GET", "/b/one")
                codes.append((r.status, r.body == body, bool(re.match(HIT, cs(r)))))
            c.close()
        tap.is_(codes, [(200, True, True)] * 10, "5 more requests through each of the 2 "
                "workers: all hits")
        tap.is_(b.hits("/b/one"), 1, "... backend still asked once")

    with subtest_guard("stored before the client has the answer"):
        # once a client has the whole stored response, the object is in the
        # cache: the very next request (new connection, any worker) is a hit
        outcomes = {}
        bad = []
        for i in range(40):
            t = "/b/race/%d" % i
            b.script(t, headers=[("Cache-Control", "max-age=60")], body=pattern_bytes(2000 + i))
            r1 = p.get(t)
            r2 = p.get(t)
            k = re.sub(r"ttl=-?\d+", "ttl=N", cs(r2))
            outcomes[k] = outcomes.get(k, 0) + 1
            if not re.match(HIT, cs(r2)) or b.hits(t) != 1:
                bad.append("%s: first %r, second %r, backend asked %d times"
                           % (t, cs(r1), cs(r2), b.hits(t)))
        tap.ok(not bad, "40 x (miss, then at once the same GET): every second one a hit "
               "with no second backend request", "%d bad; Cache-Status of the second "
               "requests: %r\n%s" % (len(bad), outcomes, "\n".join(bad[:8])))

    with subtest_guard("keep-alive"):
        b.script("/b/ka", headers=[("Cache-Control", "max-age=60")], body=b"keep-alive body\n")
        with p.client() as c:
            seq = []
            for t in ("/b/ka", "/b/ka", "/b/one", "/b/ka2", "/b/ka", "/b/one"):
                if t == "/b/ka2":
                    b.script("/b/ka2", headers=[("Cache-Control", "max-age=60")], body=b"x" * 5000)
                r = c.request("GET", t)
                seq.append((t, r.status, cache_status(r).get("hit", False) is True))
        tap.is_(seq, [("/b/ka", 200, False), ("/b/ka", 200, True), ("/b/one", 200, True),
                      ("/b/ka2", 200, False), ("/b/ka", 200, True), ("/b/one", 200, True)],
                "one keep-alive connection: misses and hits interleaved, each framed right")

    with subtest_guard("query string in the key"):
        b.script("/b/q", headers=[("Cache-Control", "max-age=60")],
                 body=lambda n, rec: ("q body for %s\n" % rec["target"]).encode())
        r = p.get("/b/q?x=1")
        tap.like(cs(r), STORED, "?x=1: miss, stored")
        r = p.get("/b/q?x=1")
        tap.like(cs(r), HIT, "?x=1 again: hit")
        tap.is_(r.body, b"q body for /b/q?x=1\n", "... its own body")
        r = p.get("/b/q?x=2")
        tap.like(cs(r), STORED, "?x=2: another key, miss")
        tap.is_(r.body, b"q body for /b/q?x=2\n", "... its own body")
        r = p.get("/b/q")
        tap.like(cs(r), STORED, "no query: another key, miss")
        tap.is_((b.hits("/b/q?x=1"), b.hits("/b/q?x=2"), b.hits("/b/q")), (1, 1, 1),
                "backend: once per distinct target")

    with subtest_guard("Host in the key"):
        b.script("/b/host", headers=[("Cache-Control", "max-age=60")],
                 body=lambda n, rec: ("host %s\n" % [v for k, v in rec["headers"]
                                                     if k.lower() == "host"][0]).encode())
        r = p.get("/b/host", host="a.example")
        tap.like(cs(r), STORED, "Host a.example: miss")
        r = p.get("/b/host", host="b.example")
        tap.like(cs(r), STORED, "Host b.example: miss too (Host is part of the key)")
        tap.is_(r.body, b"host b.example\n", "... with its own answer")
        r = p.get("/b/host", host="a.example")
        tap.like(cs(r), HIT, "Host a.example again: hit")
        tap.is_(r.body, b"host a.example\n", "... a.example's body, not b.example's")
        r = p.get("/b/host", host="A.Example")
        tap.like(cs(r), HIT, "Host A.Example: hit (host names are case-insensitive)")
        tap.is_(b.hits("/b/host"), 2, "backend asked once per host")

    with subtest_guard("HEAD from a stored GET"):
        body = pattern_bytes(4321)
        b.script("/b/head", headers=[("Cache-Control", "max-age=60"), ("ETag", '"h"')], body=body)
        r = p.get("/b/head")
        tap.like(cs(r), STORED, "GET stored")
        with p.client() as c:
            r = c.request("HEAD", "/b/head")
            tap.is_(r.status, 200, "HEAD: 200")
            tap.like(cs(r), HIT, "HEAD: answered from the cache")
            tap.is_(r.header("Content-Length"), "4321", "HEAD: Content-Length of the GET")
            tap.is_(r.header("ETag"), '"h"', "HEAD: stored fields")
            # no body bytes: the next response on the connection must parse
            r2 = c.request("GET", "/b/head")
            tap.ok(r2.status == 200 and r2.body == body,
                   "HEAD sent no body (next response on the connection is intact)", repr(r2))
        tap.is_(b.hits_path("/b/head"), 1, "backend saw only the first GET")
        tap.is_(b.hits_path("/b/head", method="HEAD"), 0, "backend saw no HEAD")

    with subtest_guard("route without cache"):
        b.script("/nc/x", headers=[("Cache-Control", "max-age=60")], body=b"not cached\n")
        r1 = p.get("/nc/x")
        r2 = p.get("/nc/x")
        tap.ok(r1.status == 200 and r2.status == 200 and r2.body == b"not cached\n",
               "uncached route: answers")
        tap.is_(b.hits("/nc/x"), 2, "uncached route: every request reaches the backend")
        tap.is_((r1.header("Cache-Status"), r2.header("Cache-Status")), (None, None),
                "uncached route: no Cache-Status")
        tap.is_(r2.header("Age"), None, "uncached route: no Age added")

    with subtest_guard("hop-by-hop fields: a hit sends what the miss sent"):
        # One hop-by-hop list for forwarding and storing: any Proxy-* field,
        # and the fields Connection names, split at blanks as well as commas.
        b.script("/b/hop", headers=[("Cache-Control", "max-age=60"), ("Proxy-Status", "b1"),
                                    ("X-A", "1"), ("X-B", "2"), ("X-C", "3"),
                                    ("Connection", "X-A X-B")], body=b"hop body\n")
        names = ("Proxy-Status", "X-A", "X-B", "X-C")
        r1 = p.get("/b/hop")
        r2 = p.get("/b/hop")
        tap.ok(re.match(HIT, cs(r2)), "the second request is a hit", cs(r2))
        miss = [(n, r1.header(n)) for n in names]
        hit = [(n, r2.header(n)) for n in names]
        tap.is_(miss, [("Proxy-Status", None), ("X-A", None), ("X-B", None), ("X-C", "3")],
                "miss: Proxy-Status and the fields Connection names are not forwarded")
        tap.is_(hit, miss, "hit: the same fields as the miss (none stored that the miss dropped)")

    with subtest_guard("status endpoint counters"):
        r = p.get("/_portico/status")
        tap.is_(r.status, 200, "status: 200")
        doc = json.loads(r.body)
        c0 = doc.get("cache")
        keys = ("hits", "misses", "stale", "stored", "evictions", "objects", "used", "size")
        tap.ok(isinstance(c0, dict) and all(isinstance(c0.get(k), int) for k in keys),
               "status JSON: a \"cache\" object with %s" % ", ".join(keys), repr(doc))
        c0 = c0 if isinstance(c0, dict) else {}
        for i in range(5):
            p.get("/b/one")
        c1 = json.loads(p.get("/_portico/status").body).get("cache") or {}
        tap.ok(c1.get("hits", -1) >= c0.get("hits", 0) + 5,
               "status: cache hits grew by at least 5", "%r -> %r" % (c0, c1))
        tap.ok(c1.get("misses", -1) >= 5, "status: cache misses counted", repr(c1))
        tap.ok(c1.get("stored", -1) >= 5, "status: stored objects counted", repr(c1))
        m = p.get("/_portico/metrics").body.decode()
        tap.like(m, r"(?m)^portico_cache_requests_total\{result=\"hit\"\} [1-9]\d*$",
                 "metrics: portico_cache_requests_total{result=\"hit\"} counted")
        tap.like(m, r"(?m)^portico_cache_stored_total [1-9]\d*$",
                 "metrics: portico_cache_stored_total counted")

    p.stop()


if __name__ == "__main__":
    main(test, timeout=60, tests=61)
