#!/usr/bin/env python3
# RFC 9213 targeted cache control: CDN-Cache-Control (by default) and the
# fields a route lists in cache_targeted_fields (first valid one in list
# order) decide portico's caching instead of Cache-Control and Expires;
# an invalid one is ignored as a whole; cache_targeted_fields = none turns
# it off; the fields reach clients unless cache_targeted_strip = on (on a
# miss and on a hit alike); bad values are refused with file:line.
import os
import subprocess
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from portico_test import (tap, main, Backend, Portico, subtest_guard, cache_section,
                          cs, require_binary, CS_HIT, CS_STORED)

CC = "Cache-Control"
CDN = "CDN-Cache-Control"
PCC = "Portico-Cache-Control"


def test():
    b = Backend("b1")
    p = Portico(upstreams={"app": [b.addr]}, routes=[
        dict(name="list", path="/l/", upstream="app", cache="on",
             cache_targeted_fields="Portico-Cache-Control CDN-Cache-Control",
             cache_targeted_strip="on"),
        dict(name="none", path="/n/", upstream="app", cache="on",
             cache_targeted_fields="none"),
        dict(name="plain", path="/p/", upstream="app", cache_targeted_strip="on"),
        dict(name="def", path="/", upstream="app", cache="on"),
    ], workers=2, extra=cache_section(size="16m"))
    p.start()

    def twice(path, **script):
        b.script(path, **script)
        return p.get(path), p.get(path)

    with subtest_guard("CDN-Cache-Control by default"):
        r1, r2 = twice("/d/cdn", headers=[(CDN, "max-age=600"), (CC, "no-store")],
                       body=b"cdn\n")
        tap.like(cs(r1), CS_STORED, "CDN-Cache-Control: max-age=600 beats "
                 "Cache-Control: no-store: stored", cs(r1))
        tap.like(cs(r2), CS_HIT, "... then a hit", cs(r2))
        tap.is_((r2.status, r2.body), (200, b"cdn\n"), "... with the body")
        tap.is_(b.hits("/d/cdn"), 1, "... backend asked once")
        tap.ok(r2.header("Age") is not None, "... the hit has an Age")
        tap.is_((r1.header(CDN), r2.header(CDN)), ("max-age=600", "max-age=600"),
                "... CDN-Cache-Control kept toward clients (strip off by default)")
        tap.is_((r1.header(CC), r2.header(CC)), ("no-store", "no-store"),
                "... Cache-Control reaches them as sent")

        r1, r2 = twice("/d/nostore", headers=[(CDN, "no-store"), (CC, "max-age=600")],
                       body=b"ns\n")
        tap.like(cs(r1), r"^portico; fwd=miss; detail=no-store$",
                 "CDN-Cache-Control: no-store beats Cache-Control: max-age=600", cs(r1))
        tap.is_(b.hits("/d/nostore"), 2, "... both requests reached the backend")

        r1, r2 = twice("/d/lines", headers=[(CDN, "max-age=600"), (CC, "max-age=600"),
                                            (CDN, "private")], body=b"l\n")
        tap.like(cs(r1), r"^portico; fwd=miss; detail=private$",
                 "two CDN-Cache-Control lines are one dictionary (private)", cs(r1))

        r1, r2 = twice("/d/stale", headers=[(CDN, "max-age=1"), (CC, "max-age=600"),
                                            ("Age", "5")], body=b"st\n")
        tap.like(cs(r1), r"^portico; fwd=miss; stored; ttl=-\d+$",
                 "CDN-Cache-Control: max-age=1 with Age: 5: stored stale "
                 "(Cache-Control: max-age=600 ignored)", cs(r1))
        tap.unlike(cs(r2), r"hit", "... the next request is not a hit", cs(r2))
        tap.is_(b.hits("/d/stale"), 2, "... it reached the backend")

        r1, r2 = twice("/d/expires", headers=[(CDN, "public"),
                                              ("Expires", "Thu, 01 Jan 2099 00:00:00 GMT")],
                       body=b"ex\n")
        tap.like(cs(r1), r"^portico; fwd=miss; detail=no-lifetime$",
                 "beside CDN-Cache-Control Expires does not count", cs(r1))
        tap.is_(b.hits("/d/expires"), 2, "... both requests reached the backend")

    with subtest_guard("invalid targeted fields"):
        for i, bad in enumerate(("Max-Age=600", "max-age=600,", "max-age=600 no-store",
                                 'max-age="600', "max-age=600;")):
            path = "/d/invalid%d" % i
            r1, r2 = twice(path, headers=[(CDN, bad), (CC, "no-store")], body=b"i\n")
            tap.like(cs(r1), r"^portico; fwd=miss; detail=no-store$",
                     "CDN-Cache-Control: %s is invalid: Cache-Control applies" % bad, cs(r1))
            tap.is_(b.hits(path), 2, "... both requests reached the backend")
        r1, r2 = twice("/d/badtype", headers=[(CDN, "max-age=?1"), (CC, "max-age=600")],
                       body=b"t\n")
        tap.like(cs(r1), r"^portico; fwd=miss; stored; ttl=0$",
                 "CDN-Cache-Control: max-age=?1 (not an Integer): stored stale", cs(r1))
        tap.unlike(cs(r2), r"hit", "... the next request is not a hit", cs(r2))

    with subtest_guard("cache_targeted_fields order, strip"):
        r1, r2 = twice("/l/order", headers=[(CDN, "no-store"), (PCC, "max-age=600"),
                                            (CC, "no-store")], body=b"o\n")
        tap.like(cs(r1), CS_STORED, "Portico-Cache-Control listed first: it decides", cs(r1))
        tap.like(cs(r2), CS_HIT, "... then a hit", cs(r2))
        tap.is_(b.hits("/l/order"), 1, "... backend asked once")
        for n, r in (("miss", r1), ("hit", r2)):
            tap.is_((r.header(PCC), r.header(CDN), r.header(CC)), (None, None, "no-store"),
                    "cache_targeted_strip = on: neither field reaches the client on the %s"
                    % n)
        r1, r2 = twice("/l/fallback", headers=[(PCC, "max-age=600,"), (CDN, "max-age=600"),
                                               (CC, "no-store")], body=b"f\n")
        tap.like(cs(r2), CS_HIT, "an invalid Portico-Cache-Control: CDN-Cache-Control "
                 "(next on the list) applies", cs(r1) + " / " + cs(r2))
        r1, r2 = twice("/l/xcdn", headers=[(CDN, "max-age=600"), ("X-CDN-Cache-Control", "a"),
                                           (CC, "max-age=600")], body=b"x\n")
        tap.is_(r2.header("X-CDN-Cache-Control"), "a", "... other fields are kept")

    with subtest_guard("none, and routes without cache"):
        r1, r2 = twice("/n/cdn", headers=[(CDN, "max-age=600"), (CC, "no-store")],
                       body=b"n\n")
        tap.like(cs(r1), r"^portico; fwd=miss; detail=no-store$",
                 "cache_targeted_fields = none: Cache-Control decides", cs(r1))
        tap.is_(r1.header(CDN), "max-age=600", "... and CDN-Cache-Control passes")
        b.script("/p/x", headers=[(CDN, "max-age=600")], body=b"p\n")
        r = p.get("/p/x")
        tap.is_(r.header(CDN), "max-age=600",
                "a route without cache passes CDN-Cache-Control even with strip on")

    p.stop()

    with subtest_guard("bad configuration"):
        for val, why in (("Cache-Control", "Cache-Control is not a targeted field"),
                         ("a b a", "named twice"), ("x@y", "not a field name"),
                         ("a b c d e f g h i", "too many")):
            bad = Portico(upstreams={"app": [b.addr]}, routes=[
                dict(name="r", path="/", upstream="app", cache="on",
                     cache_targeted_fields=val)], workers=1, extra=cache_section(size="8m"))
            bad.write_config()
            r = subprocess.run([require_binary(), "-t", "-c", bad.config_path],
                               capture_output=True, text=True, timeout=20)
            tap.ok(r.returncode != 0 and
                   ("portico.ini:" in r.stderr and "bad cache_targeted_fields" in r.stderr
                    and why in r.stderr),
                   "-t: cache_targeted_fields = %s refused with file:line (%s)" % (val, why),
                   r.stderr.strip())
            bad.cleanup()


if __name__ == "__main__":
    main(test, timeout=60, tests=42)
