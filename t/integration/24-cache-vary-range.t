#!/usr/bin/env python3
# Response cache: Range requests answered from a stored object (206 with
# Content-Range, suffix ranges, 416, several ranges -> 200, If-Range), a
# Range on a miss fetches and stores the whole object; Vary (one variant per
# request field value, absent matches absent, Vary: * never stored).
import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from portico_test import (tap, main, Backend, Portico, subtest_guard, pattern_bytes,
                          cache_section, cache_status, hall, hget,
                          cs, CS_HIT, CS_STORED)

HIT = CS_HIT
STORED = CS_STORED



def test():
    b = Backend("b1")
    p = Portico(upstreams={"app": [b.addr]}, routes=[
        dict(name="cached", path="/", upstream="app", cache="on"),
    ], workers=2, extra=cache_section(size="16m"))
    p.start()
    data = pattern_bytes(1000)

    with subtest_guard("ranges of a stored object"):
        b.script("/r/obj", headers=[("Cache-Control", "max-age=60")], etag='"r1"', body=data)
        r = p.get("/r/obj")
        tap.like(cs(r), STORED, "stored")

        def rng(spec, extra=()):
            return p.get("/r/obj", headers=[("Range", spec)] + list(extra))
        r = rng("bytes=0-9")
        tap.is_(r.status, 206, "bytes=0-9: 206")
        tap.is_(r.header("Content-Range"), "bytes 0-9/1000", "... Content-Range bytes 0-9/1000")
        tap.is_(r.header("Content-Length"), "10", "... Content-Length 10")
        tap.ok(r.body == data[:10], "... exactly those bytes", repr(r.body))
        tap.like(cs(r), HIT, "... from the cache")
        r = rng("bytes=100-199")
        tap.ok(r.status == 206 and r.body == data[100:200] and
               r.header("Content-Range") == "bytes 100-199/1000", "bytes=100-199: 206, those bytes")
        r = rng("bytes=-5")
        tap.ok(r.status == 206 and r.body == data[-5:] and
               r.header("Content-Range") == "bytes 995-999/1000",
               "bytes=-5: the last 5 bytes", "%r %r" % (r, r.headers))
        r = rng("bytes=990-")
        tap.ok(r.status == 206 and r.body == data[990:] and
               r.header("Content-Range") == "bytes 990-999/1000", "bytes=990-: open-ended")
        r = rng("bytes=995-5000")
        tap.ok(r.status == 206 and r.body == data[995:] and
               r.header("Content-Range") == "bytes 995-999/1000", "bytes=995-5000: clamped")
        r = rng("bytes=1000-")
        tap.is_(r.status, 416, "bytes=1000- (past the end): 416")
        tap.is_(r.header("Content-Range"), "bytes */1000", "... Content-Range: bytes */1000")
        r = rng("bytes=0-1,5-6")
        tap.ok(r.status == 200 and r.body == data, "several ranges: the whole 200", repr(r))
        r = rng("bytes=0-9", [("If-Range", '"r1"')])
        tap.ok(r.status == 206 and r.body == data[:10], "If-Range with the ETag: 206", repr(r))
        r = rng("bytes=0-9", [("If-Range", '"other"')])
        tap.ok(r.status == 200 and r.body == data, "If-Range with another ETag: the whole 200",
               repr(r))
        r = p.get("/r/obj")
        tap.ok(r.status == 200 and r.body == data, "a plain GET still gets the whole object")
        tap.is_(b.hits("/r/obj"), 1, "backend asked once")

    with subtest_guard("range on a miss"):
        b.script("/r/miss", headers=[("Cache-Control", "max-age=60")], body=data)
        r = p.get("/r/miss", headers=[("Range", "bytes=0-9")])
        tap.is_(b.hits("/r/miss"), 1, "Range on a miss: forwarded")
        tap.is_(hall(b.last()["headers"], "range"), [],
                "... without the Range (the cache fetches the whole object)")
        tap.ok(r.status == 200 and r.body == data, "... the client gets the whole 200", repr(r))
        tap.like(cs(r), STORED, "... and it is stored", cs(r))
        r = p.get("/r/miss", headers=[("Range", "bytes=10-19")])
        tap.ok(r.status == 206 and r.body == data[10:20], "then a Range is a 206 from the cache",
               repr(r))
        tap.like(cs(r), HIT, "... a hit")
        tap.is_(b.hits("/r/miss"), 1, "backend asked once")

    with subtest_guard("Vary"):
        def by_ae(n, rec):
            return ("enc=%s n=%d\n" % (hget(rec["headers"], "accept-encoding"), n)).encode()
        b.script("/vy/a", headers=[("Cache-Control", "max-age=60"), ("Vary", "Accept-Encoding")],
                 body=by_ae)

        def ae(v):
            return p.get("/vy/a", headers=[("Accept-Encoding", v)] if v is not None else None)
        r = ae("gzip")
        tap.like(cs(r), STORED, "Vary: Accept-Encoding, gzip: stored")
        r = ae("br")
        tap.like(cs(r), STORED, "... br: another variant, miss, stored", cs(r))
        tap.is_(r.body, b"enc=br n=2\n", "... its own answer")
        r = ae("gzip")
        tap.like(cs(r), HIT, "... gzip again: hit")
        tap.is_(r.body, b"enc=gzip n=1\n", "... the gzip variant's body")
        r = ae("br")
        tap.like(cs(r), HIT, "... br again: hit")
        tap.is_(r.body, b"enc=br n=2\n", "... the br variant's body")
        tap.is_(r.header("Vary"), "Accept-Encoding", "... Vary replayed")
        r = ae(None)
        tap.like(cs(r), r"^portico; fwd=miss", "... no Accept-Encoding: a third variant, miss",
                 cs(r))
        tap.is_(r.body, b"enc=None n=3\n", "... its own answer")
        r = ae(None)
        tap.like(cs(r), HIT, "... then a hit")
        tap.is_(r.body, b"enc=None n=3\n", "... of the variant without the field")
        r = ae("gzip")
        tap.is_(r.body, b"enc=gzip n=1\n", "gzip still its own variant")
        tap.is_(b.hits("/vy/a"), 3, "backend asked once per variant")

        b.script("/vy/multi", headers=[("Cache-Control", "max-age=60"),
                                       ("Vary", "Accept-Language, X-Flavour")],
                 body=lambda n, rec: b"multi %d\n" % n)
        h1 = [("Accept-Language", "en"), ("X-Flavour", "a")]
        h2 = [("Accept-Language", "en"), ("X-Flavour", "b")]
        p.get("/vy/multi", headers=h1)
        p.get("/vy/multi", headers=h2)
        r1 = p.get("/vy/multi", headers=h1)
        r2 = p.get("/vy/multi", headers=h2)
        tap.ok(r1.body == b"multi 1\n" and r2.body == b"multi 2\n" and
               cache_status(r1).get("hit") and cache_status(r2).get("hit"),
               "Vary on two fields: one variant per combination", "%r %r" % (r1.body, r2.body))

        b.script("/vy/star", headers=[("Cache-Control", "max-age=60"), ("Vary", "*")],
                 body=b"star\n")
        r = p.get("/vy/star")
        tap.like(cs(r), r"^portico; fwd=miss; detail=vary(-star)?$", "Vary: *: not stored", cs(r))
        r = p.get("/vy/star")
        tap.is_(b.hits("/vy/star"), 2, "... second request reached the backend")

    p.stop()


if __name__ == "__main__":
    main(test, timeout=60, tests=42)
