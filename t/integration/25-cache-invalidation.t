#!/usr/bin/env python3
# Response cache, invalidation (RFC 9111 4.4): POST/PUT/DELETE answered
# 2xx/3xx drop the stored object of their URI (and of Location /
# Content-Location on the same host), 4xx/5xx answers do not.  PURGE (one
# key) and BAN (a prefix) from purge_allow addresses, 403 from others,
# never forwarded.
import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from portico_test import (tap, main, Backend, Portico, subtest_guard, cache_section, cache_status,
                          cs, CS_HIT, CS_STORED)

HIT = CS_HIT
STORED = CS_STORED



def test():
    b = Backend("b1")
    p = Portico(upstreams={"app": [b.addr]}, routes=[
        dict(name="cached", path="/", upstream="app", cache="on"),
    ], workers=2, extra=cache_section(size="16m"))
    p.start()

    def store(path, **kw):
        kw.setdefault("headers", [("Cache-Control", "max-age=60")])
        kw.setdefault("body", lambda n, rec: ("%s %s %d\n" % (rec["method"], path, n)).encode())
        b.script(path, **kw)
        r1 = p.get(path)
        r2 = p.get(path)
        ok = cache_status(r1).get("stored") is True and cache_status(r2).get("hit") is True
        if not ok:
            tap.diag("store(%s): %r %r / %r %r; backend hits %d" % (
                path, r1, cs(r1), r2, cs(r2), b.hits(path)))
        return ok

    def is_hit(path, **kw):
        return cache_status(p.get(path, **kw)).get("hit") is True

    with subtest_guard("unsafe methods, 2xx"):
        for m, code in (("POST", 200), ("PUT", 201), ("DELETE", 204), ("POST", 303),
                        ("PATCH", 200)):
            path = "/i/%s-%d" % (m.lower(), code)
            tap.ok(store(path, status=lambda n, rec, c=code: 200 if rec["method"] == "GET" else c,
                         body=lambda n, rec: b"" if rec["method"] == "DELETE" else b"body\n"),
                   "%s: stored, hit" % path)
            r = p.get(path, method=m, body=b"x" if m != "DELETE" else None)
            tap.is_(r.status, code, "%s %s answered %d" % (m, path, code))
            tap.like(cs(r), r"^portico; fwd=method", "... Cache-Status fwd=method", cs(r))
            r = p.get(path)
            tap.like(cs(r), r"^portico; fwd=miss", "... next GET is a miss", cs(r))
            tap.is_(b.hits(path, "GET"), 2, "... and reaches the backend")

    with subtest_guard("unsafe methods, 4xx/5xx"):
        for m, code in (("POST", 403), ("PUT", 409), ("DELETE", 500), ("POST", 404)):
            path = "/i/err-%s-%d" % (m.lower(), code)
            tap.ok(store(path, status=lambda n, rec, c=code: 200 if rec["method"] == "GET" else c),
                   "%s: stored, hit" % path)
            r = p.get(path, method=m, body=b"x")
            tap.is_(r.status, code, "%s %s answered %d" % (m, path, code))
            tap.ok(is_hit(path), "... the object stays: next GET is a hit")
            tap.is_(b.hits(path, "GET"), 1, "... backend asked once for GET")

    with subtest_guard("Location / Content-Location"):
        for field in ("Location", "Content-Location"):
            tgt = "/i/target-%s" % field.lower()
            other = "/i/other-%s" % field.lower()
            abs_same = "/i/abs-%s" % field.lower()
            foreign = "/i/foreign-%s" % field.lower()
            for t in (tgt, other, abs_same, foreign):
                tap.ok(store(t), "%s: stored, hit" % t)
            src = "/i/src-%s" % field.lower()
            b.script(src, status=201, headers=[(field, tgt)], body=b"created\n")
            r = p.get(src, method="POST", body=b"new")
            tap.is_(r.status, 201, "POST %s -> 201 with %s: %s" % (src, field, tgt))
            tap.like(cs(p.get(tgt)), r"^portico; fwd=miss",
                     "... the object %s names is invalidated" % field, )
            tap.ok(is_hit(other), "... another object stays")
            b.script(src, status=200, headers=[(field, "http://localhost" + abs_same)],
                     body=b"ok\n")
            p.get(src, method="PUT", body=b"x")
            tap.like(cs(p.get(abs_same)), r"^portico; fwd=miss",
                     "%s as an absolute URI on the same host: invalidated" % field)
            b.script(src, status=200, headers=[(field, "http://elsewhere.example" + foreign)],
                     body=b"ok\n")
            p.get(src, method="PUT", body=b"x")
            tap.ok(is_hit(foreign), "%s naming another host: not invalidated" % field)

    with subtest_guard("PURGE"):
        tap.ok(store("/pg/a"), "/pg/a stored")
        tap.ok(store("/pg/b"), "/pg/b stored")
        with p.client() as c:
            r = c.request("PURGE", "/pg/a")
        tap.is_(r.status, 200, "PURGE /pg/a from loopback: 200")
        r = p.get("/pg/a")
        tap.like(cs(r), r"^portico; fwd=miss", "... next GET is a miss", cs(r))
        tap.is_(b.hits("/pg/a"), 2, "... reaching the backend")
        tap.ok(is_hit("/pg/b"), "... /pg/b stays")
        with p.client() as c:
            r = c.request("PURGE", "/pg/never-stored")
        tap.is_(r.status, 404, "PURGE of an uncached URI: 404")
        # all variants of a key
        b.script("/pg/vary", headers=[("Cache-Control", "max-age=60"), ("Vary", "X-V")],
                 body=lambda n, rec: b"v%d\n" % n)
        for v in ("1", "2", "1", "2"):
            p.get("/pg/vary", headers=[("X-V", v)])
        tap.is_(b.hits("/pg/vary"), 2, "two variants stored")
        r = p.get("/pg/vary", method="PURGE")
        tap.is_(r.status, 200, "PURGE of a key with variants: 200")
        p.get("/pg/vary", headers=[("X-V", "1")])
        p.get("/pg/vary", headers=[("X-V", "2")])
        tap.is_(b.hits("/pg/vary"), 4, "... both variants gone")
        # host is part of the key
        tap.ok(store("/pg/host"), "/pg/host stored (Host localhost)")
        r = p.get("/pg/host", method="PURGE", host="other.example")
        tap.is_(r.status, 404, "PURGE with another Host: 404 (nothing under that key)")
        tap.ok(is_hit("/pg/host"), "... the object stays")

    with subtest_guard("BAN"):
        for t in ("/ban/a", "/ban/b?x=1", "/ban/c/d", "/banner", "/keep/x"):
            tap.ok(store(t), "%s stored" % t)
        r = p.get("/ban/", method="BAN")
        tap.is_(r.status, 200, "BAN /ban/: 200")
        for t in ("/ban/a", "/ban/b?x=1", "/ban/c/d"):
            tap.like(cs(p.get(t)), r"^portico; fwd=miss", "... %s gone" % t)
        for t in ("/banner", "/keep/x"):
            tap.ok(is_hit(t), "... %s stays" % t)

    tap.is_([r["method"] for r in b.requests if r["method"] in ("PURGE", "BAN")], [],
            "PURGE and BAN never reached the backend")
    p.stop()

    # purge_allow excluding loopback
    p = Portico(upstreams={"app": [b.addr]}, routes=[
        dict(name="cached", path="/", upstream="app", cache="on"),
    ], workers=1, extra=cache_section(size="4m", purge_allow="10.0.0.0/8"), name="portico-acl")
    p.start()
    with subtest_guard("purge_allow"):
        tap.ok(store("/acl/a"), "/acl/a stored")
        r = p.get("/acl/a", method="PURGE")
        tap.is_(r.status, 403, "purge_allow = 10.0.0.0/8: PURGE from 127.0.0.1 -> 403")
        r = p.get("/acl/", method="BAN")
        tap.is_(r.status, 403, "... BAN -> 403")
        tap.ok(is_hit("/acl/a"), "... the object stays")
        tap.is_([r["method"] for r in b.requests if r["method"] in ("PURGE", "BAN")], [],
                "... neither reached the backend")
    p.stop()


if __name__ == "__main__":
    main(test, timeout=60, tests=91)
