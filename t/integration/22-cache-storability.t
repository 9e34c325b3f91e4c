#!/usr/bin/env python3
# Response cache, what may be stored and reused (RFC 9111 3, 3.5, 5.2.1):
# no-store, private, Set-Cookie (and cache_set_cookie = on), requests with
# Authorization (public / s-maxage / must-revalidate; a stored non-public
# object is not served to them), request no-cache / max-age=0 / Pragma
# (fwd=request; cache_request_no_cache = ignore), status codes, POST.
import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from portico_test import (tap, main, Backend, Portico, subtest_guard, cache_section, hall,
                          cs, CS_HIT, CS_STORED)

HIT = CS_HIT
STORED = CS_STORED
AUTH = [("Authorization", "Bearer s3cr3t")]



def test():
    b = Backend("b1")
    p = Portico(upstreams={"app": [b.addr]}, routes=[
        dict(name="cookie", path="/sc/", upstream="app", cache="on", cache_set_cookie="on"),
        dict(name="ign", path="/ign/", upstream="app", cache="on",
             cache_request_no_cache="ignore"),
        dict(name="cached", path="/", upstream="app", cache="on"),
    ], workers=2, extra=cache_section(size="16m"))
    p.start()

    def twice(path, h1=None, h2=None, **script):
        b.script(path, **script)
        return p.get(path, headers=h1), p.get(path, headers=h2)

    with subtest_guard("no-store, private"):
        for i, (cc, why) in enumerate((("no-store, max-age=60", "no-store"),
                                       ("private, max-age=60", "private"),
                                       ("max-age=60, no-store", "no-store"))):
            path = "/s/%s%d" % (why, i)
            r1, r2 = twice(path, headers=[("Cache-Control", cc)], body=b"x\n")
            tap.like(cs(r1), r"^portico; fwd=miss; detail=%s$" % why,
                     "Cache-Control: %s -> not stored, detail=%s" % (cc, why), cs(r1))
            tap.is_((b.hits(path), r2.status, r2.body), (2, 200, b"x\n"),
                    "... second request reached the backend")

    with subtest_guard("Set-Cookie"):
        r1, r2 = twice("/s/cookie", headers=[("Cache-Control", "max-age=60"),
                                              ("Set-Cookie", "id=42; Path=/")], body=b"c\n")
        tap.like(cs(r1), r"^portico; fwd=miss; detail=set-cookie$",
                 "Set-Cookie: not stored, detail=set-cookie", cs(r1))
        tap.is_(r1.header("Set-Cookie"), "id=42; Path=/", "... the cookie reaches the client")
        tap.is_(b.hits("/s/cookie"), 2, "... second request reached the backend")
        r1, r2 = twice("/sc/cookie", headers=[("Cache-Control", "max-age=60"),
                                               ("Set-Cookie", "id=43; Path=/")], body=b"c2\n")
        tap.like(cs(r1), STORED, "cache_set_cookie = on: stored", cs(r1))
        tap.like(cs(r2), HIT, "... then a hit")
        tap.is_(b.hits("/sc/cookie"), 1, "... backend asked once")

    with subtest_guard("Authorization"):
        r1, r2 = twice("/s/auth", h1=AUTH, h2=AUTH, headers=[("Cache-Control", "max-age=60")],
                       body=b"mine\n")
        tap.like(cs(r1), r"^portico; fwd=miss; detail=authorization$",
                 "request with Authorization, max-age only: not stored", cs(r1))
        tap.is_(b.hits("/s/auth"), 2, "... second request reached the backend")
        for cc in ("public, max-age=60", "s-maxage=60", "max-age=60, must-revalidate"):
            path = "/s/auth-%s" % cc.split(",")[0].split("=")[0]
            r1, r2 = twice(path, h1=AUTH, h2=AUTH, headers=[("Cache-Control", cc)],
                           body=b"shared\n")
            tap.like(cs(r1), STORED, "Authorization + %s: stored" % cc, cs(r1))
            tap.like(cs(r2), HIT, "... the next request with Authorization is a hit", cs(r2))
            tap.is_(b.hits(path), 1, "... backend asked once")
        # stored from a request without Authorization, not public
        r1, r2 = twice("/s/auth-later", h2=AUTH, headers=[("Cache-Control", "max-age=60")],
                       body=b"anon\n")
        tap.like(cs(r1), STORED, "non-public object stored for a request without Authorization")
        tap.like(cs(r2), r"^portico; fwd=bypass; detail=authorization",
                 "... a request with Authorization bypasses it", cs(r2))
        tap.is_(b.hits("/s/auth-later"), 2, "... and reaches the backend")
        tap.is_(hall(b.requests_for("/s/auth-later")[-1]["headers"], "authorization"),
                ["Bearer s3cr3t"], "... with its Authorization")
        r3 = p.get("/s/auth-later")
        tap.like(cs(r3), HIT, "... the stored object still serves requests without it")
        # public: may serve requests with Authorization
        r1, r2 = twice("/s/auth-public", h2=AUTH, headers=[("Cache-Control", "public, max-age=60")],
                       body=b"pub\n")
        tap.like(cs(r2), HIT, "public object: served to a request with Authorization")

    with subtest_guard("response no-cache"):
        r1, r2 = twice("/s/resp-nc", headers=[("Cache-Control", "no-cache")], etag='"nc1"',
                       body=b"revalidate me\n")
        tap.like(cs(r1), r"^portico; fwd=miss; stored", "no-cache response: stored", cs(r1))
        tap.like(cs(r2), r"^portico; fwd=stale; fwd-status=304",
                 "... the next use revalidates (backend said 304)", cs(r2))
        reqs = b.requests_for("/s/resp-nc")
        tap.is_(len(reqs), 2, "... backend asked on every use")
        tap.is_(hall(reqs[-1]["headers"], "if-none-match"), ['"nc1"'],
                "... with If-None-Match of the stored ETag")
        tap.is_((r2.status, r2.body), (200, b"revalidate me\n"), "... client gets the stored 200")
        r3 = p.get("/s/resp-nc")
        tap.unlike(cs(r3), r"hit", "... and again the time after", cs(r3))
        tap.is_(len(b.requests_for("/s/resp-nc")), 3, "... (backend asked again)")

    with subtest_guard("request no-cache"):
        b.script("/s/req", headers=[("Cache-Control", "max-age=60")],
                 body=lambda n, rec: b"req v%d\n" % n)
        r = p.get("/s/req")
        tap.like(cs(r), STORED, "stored")
        for i, h in enumerate(([("Cache-Control", "no-cache")], [("Cache-Control", "max-age=0")],
                               [("Pragma", "no-cache")])):
            r = p.get("/s/req", headers=h)
            tap.like(cs(r), r"^portico; fwd=request", "request %s: %s -> fwd=request"
                     % (h[0][0], h[0][1]), cs(r))
            tap.is_(b.hits("/s/req"), 2 + i, "... reached the backend")
        r = p.get("/s/req")
        tap.like(cs(r), HIT, "a plain request afterwards: hit")
        tap.is_(r.body, b"req v4\n", "... of the answer to the last forced request")
        b.script("/ign/req", headers=[("Cache-Control", "max-age=60")], body=b"ign\n")
        p.get("/ign/req")
        for h in ([("Cache-Control", "no-cache")], [("Cache-Control", "max-age=0")],
                  [("Pragma", "no-cache")]):
            r = p.get("/ign/req", headers=h)
            tap.like(cs(r), HIT, "cache_request_no_cache = ignore: %s: %s -> hit" % h[0], cs(r))
        tap.is_(b.hits("/ign/req"), 1, "... backend asked once")

    with subtest_guard("status codes"):
        for code, reason, extra in ((404, "Not Found", []), (410, "Gone", []),
                                    (301, "Moved Permanently", [("Location", "/there")]),
                                    (308, "Permanent Redirect", [("Location", "/there")]),
                                    (204, "No Content", []), (405, "Method Not Allowed", []),
                                    (501, "Not Implemented", [])):
            path = "/s/code%d" % code
            body = b"" if code == 204 else b"status %d body\n" % code
            r1, r2 = twice(path, status=code, reason=reason,
                           headers=[("Cache-Control", "max-age=60")] + extra, body=body)
            tap.like(cs(r2), HIT, "%d with max-age: stored, hit" % code, cs(r1) + " / " + cs(r2))
            tap.is_((r2.status, r2.body), (code, body), "... %d and its body from the cache" % code)
            if extra:
                tap.is_(r2.header("Location"), "/there", "... with Location")
            tap.is_(b.hits(path), 1, "... backend asked once")
        r1, r2 = twice("/s/code206", status=206, reason="Partial Content",
                       headers=[("Cache-Control", "max-age=60"),
                                ("Content-Range", "bytes 0-3/10")], body=b"part")
        tap.is_(b.hits("/s/code206"), 2, "a 206 from the origin is not stored as the object")

    with subtest_guard("POST"):
        b.script("/s/post", headers=[("Cache-Control", "max-age=60")],
                 body=lambda n, rec: b"%s %d\n" % (rec["method"].encode(), n))
        r = p.get("/s/post", method="POST", body=b"data")
        tap.like(cs(r), r"^portico; fwd=method", "POST: fwd=method", cs(r))
        tap.is_(r.body, b"POST 1\n", "POST: the backend's answer")
        r = p.get("/s/post")
        tap.like(cs(r), r"^portico; fwd=miss", "GET after it: a miss (POST answer not stored)",
                 cs(r))
        tap.is_(r.body, b"GET 2\n", "... from the backend")
        r = p.get("/s/post", method="POST", body=b"data")
        tap.is_(r.body, b"POST 3\n", "POST with a stored GET: still forwarded")
        tap.is_(b.hits("/s/post"), 3, "backend: 3 requests")

    p.stop()


if __name__ == "__main__":
    main(test, timeout=60, tests=80)
