#!/usr/bin/env python3
# Response cache, validation: a stale object with an ETag / Last-Modified is
# revalidated (If-None-Match / If-Modified-Since upstream); a 304 freshens it
# (new headers, same body, backend body count unchanged), a 200 replaces it;
# a client's own validator on a revalidated object gets its 304.  Client
# conditionals on fresh objects (If-None-Match strong/weak/list/*,
# If-Modified-Since) are answered 304 from the cache.
import os
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from portico_test import (tap, main, Backend, Portico, subtest_guard, http_date, cache_section,
                          cache_status, hall,
                          cs, CS_HIT, CS_STORED)

HIT = CS_HIT
STORED = CS_STORED
REVAL304 = r"^portico; fwd=stale; fwd-status=304; stored; ttl=\d+$"



def test():
    b = Backend("b1")
    p = Portico(upstreams={"app": [b.addr]}, routes=[
        dict(name="cached", path="/", upstream="app", cache="on"),
    ], workers=2, extra=cache_section(size="16m"))
    p.start()
    lm = http_date(time.time() - 7200)
    lm_before = http_date(time.time() - 9000)
    lm_after = http_date(time.time() - 3600)

    # --- set up the objects that will go stale, then one sleep for all
    with subtest_guard("setup"):
        sc_e = b.script("/v/etag", headers=[("Cache-Control", "max-age=1"), ("X-Gen", "1")],
                        etag='"e1"', body=b"etag body\n",
                        headers_304=[("Cache-Control", "max-age=60"), ("ETag", '"e1"'),
                                     ("X-Gen", "2"), ("X-New", "yes")])
        sc_l = b.script("/v/lm", headers=[("Cache-Control", "max-age=1")], last_modified=lm,
                        body=b"lm body\n", headers_304=[("Cache-Control", "max-age=60")])
        sc_r = b.script("/v/replace", headers=[("Cache-Control", "max-age=1")], etag='"old"',
                        body=b"old body\n")
        sc_c = b.script("/v/client", headers=[("Cache-Control", "max-age=1")], etag='"c1"',
                        body=b"client body\n",
                        headers_304=[("Cache-Control", "max-age=60"), ("ETag", '"c1"')])
        for t in ("/v/etag", "/v/lm", "/v/replace", "/v/client"):
            r = p.get(t)
            tap.like(cs(r), STORED, "%s: stored" % t, cs(r))
        time.sleep(2.2)

    with subtest_guard("revalidation with ETag, 304"):
        r = p.get("/v/etag")
        reqs = b.requests_for("/v/etag")
        tap.is_(len(reqs), 2, "stale object: backend asked")
        tap.is_(hall(reqs[-1]["headers"], "if-none-match"), ['"e1"'],
                "... with If-None-Match: the stored ETag")
        tap.like(cs(r), REVAL304, "... 304: Cache-Status fwd=stale; fwd-status=304; stored",
                 cs(r))
        tap.ok(55 <= cache_status(r).get("ttl", -1) <= 60, "... ttl from the 304's max-age=60",
               cs(r))
        tap.is_((r.status, r.body), (200, b"etag body\n"), "... client gets the stored 200 body")
        tap.is_(r.header("Content-Length"), "10", "... with its Content-Length")
        tap.is_(r.header("X-Gen"), "2", "... with the 304's fields replacing the stored ones")
        tap.is_(r.header("X-New"), "yes", "... and new fields of the 304 added")
        tap.is_(r.header("Cache-Control"), "max-age=60", "... and the new Cache-Control")
        tap.is_((sc_e.full, sc_e.not_modified), (1, 1), "backend: one full answer, one 304")
        r = p.get("/v/etag")
        tap.like(cs(r), HIT, "then: a hit")
        tap.is_((r.body, r.header("X-Gen")), (b"etag body\n", "2"), "... of the freshened object")
        tap.is_(len(b.requests_for("/v/etag")), 2, "... backend not asked")

    with subtest_guard("revalidation with Last-Modified, 304"):
        r = p.get("/v/lm")
        reqs = b.requests_for("/v/lm")
        tap.is_(len(reqs), 2, "stale object: backend asked")
        tap.is_(hall(reqs[-1]["headers"], "if-modified-since"), [lm],
                "... with If-Modified-Since: the stored Last-Modified")
        tap.is_(hall(reqs[-1]["headers"], "if-none-match"), [], "... no If-None-Match (no ETag)")
        tap.like(cs(r), REVAL304, "... 304: fwd=stale; fwd-status=304; stored", cs(r))
        tap.is_((r.status, r.body), (200, b"lm body\n"), "... client gets the stored body")
        tap.is_(r.header("Last-Modified"), lm, "... with the stored Last-Modified")
        tap.is_((sc_l.full, sc_l.not_modified), (1, 1), "backend: one full answer, one 304")
        r = p.get("/v/lm")
        tap.like(cs(r), HIT, "then: a hit")

    with subtest_guard("revalidation answered 200"):
        b.script("/v/replace", headers=[("Cache-Control", "max-age=60")], etag='"new"',
                 body=b"new body, longer\n")
        r = p.get("/v/replace")
        tap.is_(hall(b.requests_for("/v/replace")[-1]["headers"], "if-none-match"), ['"old"'],
                "stale object: If-None-Match with the old ETag")
        tap.like(cs(r), r"^portico; fwd=stale; stored; ttl=\d+$",
                 "backend sends a new 200: fwd=stale; stored", cs(r))
        tap.is_(r.body, b"new body, longer\n", "... client gets the new body")
        r = p.get("/v/replace")
        tap.like(cs(r), HIT, "then: a hit")
        tap.is_((r.body, r.header("ETag"), r.header("Content-Length")),
                (b"new body, longer\n", '"new"', "17"), "... of the new object (body, ETag, length)")

    with subtest_guard("client validator on a revalidated object"):
        r = p.get("/v/client", headers=[("If-None-Match", '"c1"')])
        tap.is_(r.status, 304, "stale object, client If-None-Match matches, backend 304: client 304")
        tap.is_(r.body, b"", "... no body")
        tap.is_(r.header("ETag"), '"c1"', "... with the ETag")
        tap.is_(sc_c.not_modified, 1, "backend answered 304")
        r = p.get("/v/client")
        tap.like(cs(r), HIT, "the object was freshened: hit")
        tap.is_(r.body, b"client body\n", "... with the body")

    with subtest_guard("client conditionals on a fresh object"):
        b.script("/v/fresh", headers=[("Cache-Control", "max-age=60")], etag='"f1"',
                 last_modified=lm, body=b"fresh body\n")
        r = p.get("/v/fresh")
        tap.like(cs(r), STORED, "stored")
        n0 = b.hits("/v/fresh")
        with p.client() as c:
            r = c.request("GET", "/v/fresh", headers=[("If-None-Match", '"f1"')])
            tap.is_(r.status, 304, "If-None-Match matching: 304 from the cache")
            tap.like(cs(r), r"^portico; hit", "... Cache-Status hit", cs(r))
            tap.is_(r.body, b"", "... no body")
            tap.is_(r.header("ETag"), '"f1"', "... ETag present")
            r = c.request("GET", "/v/fresh", headers=[("If-None-Match", 'W/"f1"')])
            tap.is_(r.status, 304, "If-None-Match W/\"f1\" (weak comparison): 304")
            r = c.request("GET", "/v/fresh", headers=[("If-None-Match", '"zz", "f1"')])
            tap.is_(r.status, 304, "If-None-Match list containing it: 304")
            r = c.request("GET", "/v/fresh", headers=[("If-None-Match", "*")])
            tap.is_(r.status, 304, "If-None-Match *: 304")
            r = c.request("GET", "/v/fresh", headers=[("If-None-Match", '"zz"')])
            tap.is_((r.status, r.body), (200, b"fresh body\n"), "If-None-Match not matching: 200")
            r = c.request("GET", "/v/fresh", headers=[("If-Modified-Since", lm_after)])
            tap.is_(r.status, 304, "If-Modified-Since later than Last-Modified: 304")
            r = c.request("GET", "/v/fresh", headers=[("If-Modified-Since", lm)])
            tap.is_(r.status, 304, "If-Modified-Since equal to Last-Modified: 304")
            r = c.request("GET", "/v/fresh", headers=[("If-Modified-Since", lm_before)])
            tap.is_((r.status, r.body), (200, b"fresh body\n"),
                    "If-Modified-Since before Last-Modified: 200")
            r = c.request("GET", "/v/fresh", headers=[("If-None-Match", '"zz"'),
                                                      ("If-Modified-Since", lm_after)])
            tap.is_(r.status, 200, "If-None-Match not matching wins over If-Modified-Since")
            r = c.request("HEAD", "/v/fresh", headers=[("If-None-Match", '"f1"')])
            tap.is_(r.status, 304, "HEAD + matching If-None-Match: 304")
            r = c.request("GET", "/v/fresh")
            tap.is_((r.status, r.body), (200, b"fresh body\n"),
                    "the connection is intact after the 304s")
        tap.is_(b.hits("/v/fresh"), n0, "backend never asked")

    p.stop()


if __name__ == "__main__":
    main(test, timeout=60, tests=53)
