#!/usr/bin/env python3
# Response cache conformance (RFC 9111): an Age field holding a list counts
# by its first member (5.1); final status codes portico does not know
# (299, 499, 599) are stored when they carry explicit freshness (3), kept
# out by must-understand, and go stale like any other; must-understand
# makes an understood status ignore no-store (5.2.2.3); Set-Cookie2 is
# stored and replayed like any other field.
import os
import re
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from portico_test import (tap, main, Backend, Portico, subtest_guard, cache_section,
                          cs, CS_HIT, CS_STORED)


def ttl(r):
    m = re.search(r"ttl=(-?\d+)", cs(r))
    return int(m.group(1)) if m else None


def test():
    b = Backend("b1")
    p = Portico(upstreams={"app": [b.addr]}, routes=[
        dict(name="cached", path="/", upstream="app", cache="on"),
    ], workers=2, extra=cache_section(size="16m"))
    p.start()

    def twice(path, **script):
        b.script(path, **script)
        return p.get(path), p.get(path)

    with subtest_guard("Age list"):
        r1, r2 = twice("/age/stale", headers=[("Cache-Control", "max-age=3600"),
                                               ("Age", "7200, 0")], body=b"old\n")
        tap.like(cs(r1), r"^portico; fwd=miss; stored; ttl=-\d+$",
                 "Age: 7200, 0 with max-age=3600: stored already stale", cs(r1))
        tap.unlike(cs(r2), r"hit", "... the next request is not a hit", cs(r2))
        tap.is_(b.hits("/age/stale"), 2, "... it reached the backend")
        r1, r2 = twice("/age/fresh", headers=[("Cache-Control", "max-age=86400"),
                                               ("Age", "7200, 0")], body=b"aged\n")
        tap.like(cs(r2), CS_HIT, "Age: 7200, 0 with max-age=86400: a hit", cs(r2))
        age = int(r2.header("Age") or -1)
        tap.ok(age >= 7200, "... whose Age counts from 7200 (%d)" % age)
        tap.ok(ttl(r2) is not None and ttl(r2) <= 86400 - 7200,
               "... and whose ttl is the lifetime less 7200 (%s)" % ttl(r2))
        tap.is_(b.hits("/age/fresh"), 1, "... backend asked once")

    with subtest_guard("unknown status codes"):
        for code in (299, 499, 599):
            for cc in ("max-age=60", "s-maxage=60"):
                path = "/st/%d-%s" % (code, cc.split("=")[0])
                body = b"status %d\n" % code
                r1, r2 = twice(path, status=code, reason="Odd",
                               headers=[("Cache-Control", cc)], body=body)
                tap.like(cs(r1), CS_STORED, "%d with %s: stored" % (code, cc), cs(r1))
                tap.like(cs(r2), CS_HIT, "... then a hit", cs(r2))
                tap.is_((r2.status, r2.body), (code, body),
                        "... %d and its body from the cache" % code)
                tap.is_(b.hits(path), 1, "... backend asked once")
        r1, r2 = twice("/st/299-expires", status=299, reason="Odd",
                       headers=[("Expires", "Thu, 01 Jan 2099 00:00:00 GMT")],
                       body=b"exp\n")
        tap.like(cs(r2), CS_HIT, "299 with a future Expires: a hit", cs(r2))
        r1, r2 = twice("/st/299-none", status=299, reason="Odd",
                       headers=[("Cache-Control", "public"),
                                ("Last-Modified", "Sun, 06 Nov 1994 08:49:37 GMT")],
                       body=b"none\n")
        tap.like(cs(r1), r"^portico; fwd=miss; detail=no-lifetime$",
                 "299 without explicit freshness: not stored", cs(r1))
        tap.is_(b.hits("/st/299-none"), 2, "... both requests reached the backend")
        r1, r2 = twice("/st/599-mu", status=599, reason="Odd",
                       headers=[("Cache-Control", "max-age=60, must-understand, no-store")],
                       body=b"mu\n")
        tap.like(cs(r1), r"^portico; fwd=miss; detail=status$",
                 "599 with must-understand, no-store: not stored (status not understood)",
                 cs(r1))
        tap.is_(b.hits("/st/599-mu"), 2, "... both requests reached the backend")
        r1, r2 = twice("/st/200-mu", headers=[
            ("Cache-Control", "max-age=60, must-understand, no-store")], body=b"mu200\n")
        tap.like(cs(r1), CS_STORED,
                 "200 with must-understand, no-store: stored (no-store ignored)", cs(r1))
        tap.like(cs(r2), CS_HIT, "... then a hit", cs(r2))
        # a stale one: revalidated like any other
        b.script("/st/299-stale", status=299, reason="Odd",
                 headers=[("Cache-Control", "max-age=1"), ("Age", "5")],
                 etag='"s1"', body=b"stale 299\n")
        r1 = p.get("/st/299-stale")
        tap.like(cs(r1), r"^portico; fwd=miss; stored; ttl=-\d+$",
                 "299 with max-age=1, Age: 5: stored stale", cs(r1))
        r2 = p.get("/st/299-stale")
        tap.like(cs(r2), r"^portico; fwd=stale; fwd-status=304",
                 "... the next use revalidates (backend said 304)", cs(r2))
        tap.is_((r2.status, r2.body), (299, b"stale 299\n"),
                "... the client gets the stored 299")
        reqs = b.requests_for("/st/299-stale")
        tap.is_([h[1] for h in reqs[-1]["headers"] if h[0].lower() == "if-none-match"],
                ['"s1"'], "... asked with If-None-Match of the stored ETag")

    with subtest_guard("Set-Cookie2"):
        r1, r2 = twice("/sc2", headers=[("Cache-Control", "max-age=60"),
                                        ("Set-Cookie2", 'a="b"; Version="1"')], body=b"c2\n")
        tap.like(cs(r1), CS_STORED, "a response with Set-Cookie2: stored", cs(r1))
        tap.like(cs(r2), CS_HIT, "... then a hit", cs(r2))
        tap.is_(r2.header_all("Set-Cookie2"), ['a="b"; Version="1"'],
                "... which replays Set-Cookie2")
        tap.is_(b.hits("/sc2"), 1, "... backend asked once")

    p.stop()


if __name__ == "__main__":
    main(test, timeout=60, tests=47)
