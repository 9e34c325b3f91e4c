#!/usr/bin/env python3
# Response cache: max_object_size (a larger answer streams through whole but
# is not stored, with or without Content-Length; a smaller one is), chunked
# answers stored and replayed with Content-Length, and objects surviving a
# HUP reload (while [cache] size is unchanged; a new size starts empty).
import hashlib
import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from portico_test import (tap, main, Backend, Portico, subtest_guard, pattern_bytes,
                          pattern_sha256, cache_section, cache_status, wait_until,
                          cs, CS_HIT, CS_STORED)

HIT = CS_HIT
STORED = CS_STORED



def sha(b):
    return hashlib.sha256(b).hexdigest()


def test():
    b = Backend("b1")
    routes = [dict(name="cached", path="/", upstream="app", cache="on")]
    p = Portico(upstreams={"app": [b.addr]}, routes=routes, workers=2,
                extra=cache_section(size="8m", max_object_size="64k"))
    p.start()
    cc = [("Cache-Control", "max-age=60")]

    with subtest_guard("max_object_size"):
        big = pattern_bytes(200 * 1024)
        b.script("/m/big", headers=cc, body=big)
        r = p.get("/m/big")
        tap.ok(r.status == 200 and len(r.body) == len(big) and sha(r.body) == pattern_sha256(len(big)),
               "200 KiB cacheable answer, max_object_size 64k: complete and byte-exact", repr(r))
        tap.like(cs(r), r"^portico; fwd=miss; detail=too-large$", "... detail=too-large", cs(r))
        r = p.get("/m/big")
        tap.ok(r.status == 200 and sha(r.body) == pattern_sha256(len(big)), "... again: byte-exact")
        tap.is_(b.hits("/m/big"), 2, "... not stored: the second request reached the backend")

        small = pattern_bytes(10 * 1024)
        b.script("/m/small", headers=cc, body=small)
        r = p.get("/m/small")
        tap.like(cs(r), STORED, "10 KiB: stored", cs(r))
        r = p.get("/m/small")
        tap.like(cs(r), HIT, "... hit")
        tap.ok(r.body == small, "... byte-exact")
        tap.is_(b.hits("/m/small"), 1, "... backend asked once")

        edge = pattern_bytes(64 * 1024)
        b.script("/m/edge", headers=cc, body=edge)
        p.get("/m/edge")
        r = p.get("/m/edge")
        tap.ok(r.body == edge and cache_status(r).get("hit"),
               "exactly max_object_size (64 KiB): stored", cs(r))

        b.script("/m/bigchunked", headers=cc, body=big, chunked=True)
        r = p.get("/m/bigchunked")
        tap.ok(r.status == 200 and len(r.body) == len(big) and sha(r.body) == pattern_sha256(len(big)),
               "200 KiB chunked (size unknown up front): complete and byte-exact", repr(r))
        r = p.get("/m/bigchunked")
        tap.ok(r.status == 200 and sha(r.body) == pattern_sha256(len(big)), "... again: byte-exact")
        tap.is_(b.hits("/m/bigchunked"), 2, "... not stored (too large once counted)")
        tap.unlike(cs(r), r"^portico; hit", "... never a hit", cs(r))

    with subtest_guard("chunked answer stored"):
        data = pattern_bytes(30000)
        b.script("/m/chunked", headers=cc, body=data, chunked=True)
        r = p.get("/m/chunked")
        tap.ok(r.status == 200 and r.body == data and r.framing == "chunked",
               "30000 bytes chunked from the backend: passed through chunked", repr(r))
        tap.like(cs(r), STORED, "... stored", cs(r))
        r = p.get("/m/chunked")
        tap.like(cs(r), HIT, "... then a hit")
        tap.is_(r.framing, "length", "... served with Content-Length")
        tap.is_(r.header("Content-Length"), "30000", "... Content-Length: 30000")
        tap.ok(r.body == data, "... identical bytes")
        tap.is_(r.header_all("Transfer-Encoding"), [], "... no Transfer-Encoding")
        with p.client() as c:
            r = c.request("HEAD", "/m/chunked")
            tap.is_(r.header("Content-Length"), "30000", "HEAD from the stored chunked answer: "
                    "Content-Length 30000")
        b.script("/m/chunked-empty", headers=cc, body=b"", chunked=True)
        p.get("/m/chunked-empty")
        r = p.get("/m/chunked-empty")
        tap.ok(r.status == 200 and r.body == b"" and r.header("Content-Length") == "0"
               and cache_status(r).get("hit"), "empty chunked answer: stored, hit with "
               "Content-Length: 0", "%r %r" % (r, r.headers))

    with subtest_guard("reload"):
        body = pattern_bytes(5000)
        b.script("/m/reload", headers=[("Cache-Control", "max-age=120")], body=body)
        r = p.get("/m/reload")
        tap.like(cs(r), STORED, "stored before the reload")
        old = set(p.workers())
        ok = p.reload(routes=routes + [dict(name="extra", path="/extra/", upstream="app")])
        tap.ok(ok, "HUP reload (a route added): new workers", repr(p.workers()))
        tap.ok(wait_until(lambda: not (set(p.workers()) & old), 10),
               "... all workers replaced")
        for i in range(4):
            r = p.get("/m/reload")
            tap.ok(r.body == body and cache_status(r).get("hit"),
                   "after the reload: hit %d" % (i + 1), cs(r))
        tap.is_(b.hits("/m/reload"), 1, "... backend not asked again")
        r = p.get("/m/small")
        tap.ok(r.body == small and cache_status(r).get("hit"), "... older objects too", cs(r))
        before = set(p.workers())
        ok = p.reload(extra=cache_section(size="12m", max_object_size="64k"))
        # The old workers (old region) may still take a connection until
        # they have seen their SIGQUIT: wait until they are gone.
        ok = ok and wait_until(lambda: not (before & set(p.workers())), 10)
        tap.ok(ok, "reload with another [cache] size")
        r = p.get("/m/reload")
        tap.like(cs(r), r"^portico; fwd=miss", "... the cache starts empty", cs(r))
        tap.is_(b.hits("/m/reload"), 2, "... the backend is asked again")
        tap.ok(r.body == body, "... and answers")
        r = p.get("/m/reload")
        tap.like(cs(r), HIT, "... then hits again in the new cache", cs(r))

    p.stop()


if __name__ == "__main__":
    main(test, timeout=60, tests=37)
