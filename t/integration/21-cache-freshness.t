#!/usr/bin/env python3
# Response cache, freshness (RFC 9111 4.2): s-maxage over max-age, Expires
# against Date, Expires in the past / "0", max-age=3 expiring, heuristic
# lifetime from Last-Modified (heuristic_percent) for heuristically
# cacheable statuses only, no lifetime -> not stored, cache_default_ttl,
# Age from upstream in the current age.
import os
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from portico_test import (tap, main, Backend, Portico, subtest_guard, http_date,
                          cache_section, cache_status, cs, CS_HIT, CS_STORED)

HIT = CS_HIT
STORED = CS_STORED



def ttl(r):
    return cache_status(r).get("ttl")


def test():
    b = Backend("b1")
    p = Portico(upstreams={"app": [b.addr]}, routes=[
        dict(name="dttl", path="/dttl/", upstream="app", cache="on", cache_default_ttl="30s"),
        dict(name="cached", path="/", upstream="app", cache="on"),
    ], workers=2, extra=cache_section(size="16m", heuristic_percent="10", heuristic_max="24h"))
    p.start()

    def twice(path, **script):
        b.script(path, **script)
        return p.get(path), p.get(path)

    with subtest_guard("s-maxage over max-age"):
        r1, r2 = twice("/f/smax", headers=[("Cache-Control", "max-age=0, s-maxage=60")],
                       body=b"smax\n")
        tap.like(cs(r1), STORED, "s-maxage=60, max-age=0: stored")
        tap.ok(58 <= (ttl(r1) or -1) <= 60, "... with ttl from s-maxage", cs(r1))
        tap.like(cs(r2), HIT, "... then a hit (a shared cache uses s-maxage)")
        tap.is_(b.hits("/f/smax"), 1, "... backend asked once")
        r1, r2 = twice("/f/smax0", headers=[("Cache-Control", "max-age=60, s-maxage=0")],
                       body=b"smax0\n")
        tap.unlike(cs(r2), r"hit", "s-maxage=0, max-age=60: not fresh for a shared cache",
                   cs(r2))
        tap.is_(b.hits("/f/smax0"), 2, "... second request reached the backend")

    with subtest_guard("Expires"):
        now = time.time()
        r1, r2 = twice("/f/exp", headers=[("Date", http_date(now)),
                                           ("Expires", http_date(now + 60))], body=b"exp\n")
        tap.like(cs(r1), STORED, "Expires = Date + 60: stored")
        tap.ok(57 <= (ttl(r1) or -1) <= 60, "... ttl about 60", cs(r1))
        tap.like(cs(r2), HIT, "... then a hit")
        tap.is_(b.hits("/f/exp"), 1, "... backend asked once")
        # lifetime = Expires - Date; a Date 1000 s behind is also 1000 s of
        # apparent age (RFC 9111 4.2.1, 4.2.3): 2000 - 1000 s left
        r1, r2 = twice("/f/expdate", headers=[("Date", http_date(now - 1000)),
                                               ("Expires", http_date(now + 1000))],
                       body=b"expdate\n")
        tap.ok(cache_status(r1).get("stored") and 996 <= (ttl(r1) or -1) <= 1000,
               "Date 1000 s behind, Expires = Date + 2000: ttl about 1000", cs(r1))
        tap.like(cs(r2), HIT, "... a hit")
        a = r2.header("Age")
        tap.ok(a is not None and a.isdigit() and 1000 <= int(a) <= 1004,
               "... Age counts the apparent age (about 1000)", repr(a))
        r1, r2 = twice("/f/exppast", headers=[("Date", http_date(now)),
                                               ("Expires", http_date(now - 3600))],
                       body=b"exppast\n")
        tap.unlike(cs(r2), r"hit", "Expires in the past: never fresh", cs(r2))
        tap.is_(b.hits("/f/exppast"), 2, "... second request reached the backend")
        r1, r2 = twice("/f/exp0", headers=[("Expires", "0")], body=b"exp0\n")
        tap.unlike(cs(r2), r"hit", "Expires: 0: never fresh", cs(r2))
        tap.is_(b.hits("/f/exp0"), 2, "... second request reached the backend")
        r1, r2 = twice("/f/expmax", headers=[("Date", http_date(now)),
                                              ("Expires", http_date(now - 3600)),
                                              ("Cache-Control", "max-age=60")],
                       body=b"expmax\n")
        tap.like(cs(r2), HIT, "max-age=60 wins over an Expires in the past")

    # Ages are whole seconds: an object stored with max-age=N is fresh for
    # N-1 to N seconds, depending on where in its second it was stored.
    # max-age=3 leaves a loaded machine two seconds between a request and
    # the next one that must still be a hit.
    with subtest_guard("expiry after max-age=3"):
        r1, r2 = twice("/f/one", headers=[("Cache-Control", "max-age=3")],
                       body=lambda n, rec: b"one v%d\n" % n)
        tap.like(cs(r1), STORED, "max-age=3: stored")
        tap.like(cs(r2), HIT, "... immediately after: hit")
        time.sleep(4.2)
        r3 = p.get("/f/one")
        tap.like(cs(r3), r"^portico; fwd=stale\b", "4.2 s later: stale, forwarded (fwd=stale)",
                 cs(r3))
        tap.is_(r3.body, b"one v2\n", "... the backend's new answer")
        tap.is_(b.hits("/f/one"), 2, "... backend asked again")
        tap.like(cs(r3), r"; stored; ttl=\d+", "... and the new answer stored")
        r4 = p.get("/f/one")
        tap.like(cs(r4), HIT, "... then a hit again")
        tap.is_(r4.body, b"one v2\n", "... of the new answer")

    with subtest_guard("heuristic freshness"):
        now = time.time()
        r1, r2 = twice("/f/heur", headers=[("Date", http_date(now)),
                                            ("Last-Modified", http_date(now - 10 * 86400))],
                       body=b"heuristic\n")
        tap.like(cs(r1), STORED, "200 with only Last-Modified (10 days ago): stored (heuristic)")
        tap.ok(86000 <= (ttl(r1) or -1) <= 86400, "... lifetime capped at heuristic_max 24h",
               cs(r1))
        tap.like(cs(r2), HIT, "... then a hit")
        r1, r2 = twice("/f/heur10", headers=[("Date", http_date(now)),
                                              ("Last-Modified", http_date(now - 1000))],
                       body=b"heuristic 10%\n")
        tap.ok(cache_status(r1).get("stored") and 97 <= (ttl(r1) or -1) <= 100,
               "Last-Modified 1000 s before Date: lifetime 10% = 100 s", cs(r1))
        tap.like(cs(r2), HIT, "... a hit")
        r1, r2 = twice("/f/heur404", status=404, headers=[
            ("Date", http_date(now)), ("Last-Modified", http_date(now - 10 * 86400))],
            body=b"gone\n")
        tap.like(cs(r2), HIT, "404 with only Last-Modified: heuristically cacheable, hit")
        tap.is_(r2.status, 404, "... status 404 from the cache")
        r1, r2 = twice("/f/heur302", status=302, reason="Found", headers=[
            ("Location", "/elsewhere"), ("Date", http_date(now)),
            ("Last-Modified", http_date(now - 10 * 86400))], body=b"moved\n")
        tap.like(cs(r1), r"^portico; fwd=miss; detail=no-lifetime$",
                 "302 with only Last-Modified: not heuristically cacheable, not stored", cs(r1))
        tap.is_(b.hits("/f/heur302"), 2, "... second request reached the backend")
        r1, r2 = twice("/f/heur500", status=500, headers=[
            ("Date", http_date(now)), ("Last-Modified", http_date(now - 10 * 86400))],
            body=b"error\n")
        tap.unlike(cs(r1), r"stored", "500 with only Last-Modified: not stored", cs(r1))
        tap.is_(b.hits("/f/heur500"), 2, "... second request reached the backend")

    with subtest_guard("no lifetime"):
        r1, r2 = twice("/f/none", body=b"no lifetime\n")
        tap.like(cs(r1), r"^portico; fwd=miss; detail=no-lifetime$",
                 "200 without lifetime or validators: not stored, detail=no-lifetime", cs(r1))
        tap.like(cs(r2), r"^portico; fwd=miss", "... second: miss again", cs(r2))
        tap.is_(b.hits("/f/none"), 2, "... both reached the backend")
        r1, r2 = twice("/f/etagonly", headers=[("ETag", '"e"')], body=b"etag only\n")
        tap.unlike(cs(r1), r"stored", "200 with only an ETag: no lifetime, not stored", cs(r1))
        tap.is_(b.hits("/f/etagonly"), 2, "... both reached the backend")

    with subtest_guard("cache_default_ttl"):
        r1, r2 = twice("/dttl/a", body=b"default ttl\n")
        tap.like(cs(r1), STORED, "cache_default_ttl = 30s: a 200 without lifetime is stored")
        tap.ok(28 <= (ttl(r1) or -1) <= 30, "... with ttl 30", cs(r1))
        tap.like(cs(r2), HIT, "... then a hit")
        tap.is_(b.hits("/dttl/a"), 1, "... backend asked once")
        r1, r2 = twice("/dttl/b", headers=[("Cache-Control", "max-age=5")], body=b"own\n")
        tap.ok(3 <= (ttl(r1) or -1) <= 5, "cache_default_ttl: an explicit max-age still wins",
               cs(r1))
        r1, r2 = twice("/dttl/c", headers=[("Cache-Control", "no-store")], body=b"ns\n")
        tap.is_(b.hits("/dttl/c"), 2, "cache_default_ttl: no-store still not stored")

    with subtest_guard("Age from upstream"):
        r1, r2 = twice("/f/age", headers=[("Cache-Control", "max-age=120"), ("Age", "100")],
                       body=b"aged\n")
        tap.ok(cache_status(r1).get("stored") and (ttl(r1) if ttl(r1) is not None else 99) <= 20,
               "Age: 100, max-age=120: stored with ttl <= 20", cs(r1))
        tap.like(cs(r2), HIT, "... hit")
        a = r2.header("Age")
        tap.ok(a is not None and a.isdigit() and 100 <= int(a) <= 104, "... Age on the hit >= 100",
               repr(a))
        t = ttl(r2)
        tap.ok(t is not None and 15 <= t <= 20, "... hit ttl <= 20", cs(r2))
        r1, r2 = twice("/f/aged-out", headers=[("Cache-Control", "max-age=120"), ("Age", "200")],
                       body=b"too old\n")
        tap.unlike(cs(r2), r"hit", "Age: 200 > max-age=120: stale at once", cs(r2))
        tap.is_(b.hits("/f/aged-out"), 2, "... second request reached the backend")

    p.stop()


if __name__ == "__main__":
    main(test, timeout=60, tests=55)
