#!/usr/bin/env python3
# The path a route forwards (path_strip_prefix, path_rewrite): seen by
# the backend after normalization, strip and rewrite, the query kept
# unless the replacement has one; the cache key is the rewritten URL (two
# client paths that rewrite to one backend path share an object); a
# rewrite that makes an invalid path is a 500, logged, never sent; a bad
# regex or replacement is refused at load with file:line.
import os
import re
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from portico_test import (tap, main, Backend, Portico, subtest_guard, run_portico,
                          cache_section, cs, CS_HIT)


def test():
    b = Backend("b1")
    p = Portico(upstreams={"app": [b.addr]},
                routes=[dict(name="api", path="/api", upstream="app",
                             path_strip_prefix="/api"),
                        dict(name="v1", path="/v1/", upstream="app",
                             path_rewrite=r"^/v1/users/(\d+)$ /users?id=$1"),
                        dict(name="img", path="/img/", upstream="app", cache="on",
                             path_rewrite=r"^/img/(?:v\d+/)?(.*)$ /static/images/$1"),
                        dict(name="both", path="/both/", upstream="app",
                             path_strip_prefix="/both",
                             path_rewrite=r"^/x/([a-z]+)/(.*)$ /y/$2/$1"),
                        dict(name="bad", path="/bad/", upstream="app",
                             path_rewrite=r"^/bad/(.*)$ /$1%zz"),
                        dict(name="rel", path="/rel/", upstream="app",
                             path_rewrite=r"^/rel/(.*)$ rel$1"),
                        dict(name="main", path="/", upstream="app")],
                extra=cache_section(size="8m"))
    p.start()
    text = open(p.config_path).read()

    def target(path):
        reqs = b.requests_for(path)
        return reqs[-1]["target"] if reqs else None

    with subtest_guard("path_strip_prefix"):
        for sent, want in [("/api/users?x=1", "/users?x=1"), ("/api", "/"),
                           ("/api/", "/"), ("/api/a/../b", "/b"),
                           ("/apix/y", "/apix/y")]:
            b.reset()
            r = p.get(sent)
            tap.is_(r.status, 200, "%s: answered" % sent)
            got = b.requests[-1]["target"] if b.requests else None
            tap.is_(got, want, "%s: the backend gets %s" % (sent, want))

    with subtest_guard("path_rewrite"):
        b.reset()
        p.get("/v1/users/42?drop=me")
        tap.is_(target("/users?id=42"), "/users?id=42",
                "a replacement with a query replaces the client's")
        p.get("/v1/users/abc?keep=1")
        tap.is_(target("/v1/users/abc?keep=1"), "/v1/users/abc?keep=1",
                "no match: the path goes as it was")
        p.get("/both/x/abc/d/e?q=1")
        tap.is_(target("/y/d/e/abc?q=1"), "/y/d/e/abc?q=1",
                "strip, then rewrite with $1 and $2; the query kept")
        p.get("/v1/users/%37?z")
        tap.is_(target("/users?id=7"), "/users?id=7", "after normalization (%37 is 7)")

    with subtest_guard("the cache key is the rewritten URL"):
        b.script("/static/images/a.png", headers=[("Cache-Control", "max-age=60")], body=b"PNG")
        r1 = p.get("/img/v1/a.png")
        r2 = p.get("/img/v2/a.png")
        r3 = p.get("/img/a.png")
        tap.is_((r1.status, r1.body, r2.body, r3.body), (200, b"PNG", b"PNG", b"PNG"),
                "three client paths, one object")
        tap.is_(len(b.requests_for("/static/images/a.png")), 1,
                "the backend was asked once")
        tap.like(cs(r2), CS_HIT, "the second is a hit")
        tap.like(cs(r3), CS_HIT, "and the third")

    with subtest_guard("an invalid result is a 500, never sent"):
        for path in ("/bad/x", "/rel/x"):
            n = len(b.requests)
            r = p.get(path)
            tap.is_(r.status, 500, "%s: 500" % path)
            tap.is_(len(b.requests), n, "%s: the backend got nothing" % path)
        tap.ok(p.wait_log(r"route bad: the rewritten path is not a valid path: 500"),
               "logged with the route")

    with subtest_guard("bad values refused with file:line"):
        for val, msg in [(r"^/(unclosed /x", r"bad path_rewrite regex '\^/\(unclosed': "
                          r"missing closing parenthesis at offset \d+"),
                         (r"^/(a)$ /$2", r"bad path_rewrite replacement '/\$2': it names a "
                          r"group the regex does not have"),
                         (r"^/a", r"bad path_rewrite '\^/a': expected REGEX REPLACEMENT"),
                         (r"^/a /b$x", r"bad path_rewrite replacement")]:
            bad = text.replace("name = main\n", "name = main\npath_rewrite = %s\n" % val, 1)
            if "name = main\n" not in text:
                bad = text.replace("[route main]\n", "[route main]\npath_rewrite = %s\n" % val, 1)
            line = bad.split("\n").index("path_rewrite = %s" % val) + 1
            path = os.path.join(p.tmp, "bad.ini")
            with open(path, "w") as f:
                f.write(bad)
            rc, out, err = run_portico(["-t", "-c", path])
            tap.is_(rc, 1, "path_rewrite = %s: -t exits 1" % val, err)
            tap.like(err, r"(?m)^%s:%d: %s" % (re.escape(path), line, msg),
                     "path_rewrite = %s: file:line and the message" % val)
        bad = text.replace("[route main]\n", "[route main]\npath_strip_prefix = api\n", 1)
        line = bad.split("\n").index("path_strip_prefix = api") + 1
        with open(path, "w") as f:
            f.write(bad)
        rc, out, err = run_portico(["-t", "-c", path])
        tap.like(err, r"(?m)^%s:%d: bad path_strip_prefix 'api'" % (re.escape(path), line),
                 "path_strip_prefix without '/': file:line")
    p.stop()


if __name__ == "__main__":
    main(test, timeout=120, tests=33)
