#!/usr/bin/env python3
# Routing by listener, Host (exact, *.domain, *) and longest path prefix;
# 404 when no path matches, 421 when no host pattern does.
import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from portico_test import (tap, main, Backend, Portico, Client, free_port, subtest_guard)


def test():
    bk = {n: Backend(n) for n in ("a", "b", "c", "d", "e", "star")}
    web, strict = free_port(), free_port()
    routes = [
        dict(name="www", listener="web", host="www.example.com", path="/", upstream="a"),
        dict(name="www-api", listener="web", host="www.example.com", path="/api/", upstream="b"),
        dict(name="www-api2", listener="web", host="www.example.com", path="/api/v2/", upstream="c"),
        dict(name="wild", listener="web", host="*.example.com", path="/", upstream="d"),
        dict(name="wild-sub", listener="web", host="*.sub.example.com", path="/", upstream="e"),
        dict(name="app", listener="web", host="app.test", path="/app/", upstream="a"),
        dict(name="any", listener="web", host="*", path="/star/", upstream="star"),
        dict(name="s-www", listener="strict", host="www.example.com", path="/", upstream="a"),
        dict(name="s-wild", listener="strict", host="*.example.com", path="/w/", upstream="d"),
    ]
    p = Portico(upstreams={n: [b.addr] for n, b in bk.items()}, routes=routes,
                listeners={"web": ["127.0.0.1:%d" % web], "strict": ["127.0.0.1:%d" % strict]})
    p.start()

    def who(port, host, path, raw=None):
        with Client(port) as c:
            if raw is not None:
                c.send(raw)
                r = c.read_response()
            else:
                r = c.request("GET", path, host=host)
        if r.status == 200:
            return r.header("X-Backend")
        return r.status

    checks = [
        (web, "www.example.com", "/", "a", "exact host, /"),
        (web, "WWW.Example.COM", "/x", "a", "host compared without case"),
        (web, "www.example.com:8080", "/x", "a", "port in Host ignored"),
        (web, "www.example.com.", "/x", "a", "trailing dot in Host ignored"),
        (web, "www.example.com", "/api", "a", "'/api' does not match prefix '/api/'"),
        (web, "www.example.com", "/api/x", "b", "longer prefix /api/ wins over /"),
        (web, "www.example.com", "/api/v2/users", "c", "longest prefix /api/v2/ wins"),
        (web, "www.example.com", "/api/v2", "b", "'/api/v2' matches /api/ only"),
        (web, "www.example.com", "/api/x?next=/api/v2/", "b", "query is not part of the path"),
        (web, "foo.example.com", "/", "d", "wildcard *.example.com"),
        (web, "a.b.example.com", "/", "d", "wildcard matches several labels"),
        (web, "x.sub.example.com", "/", "e", "longest wildcard domain wins"),
        (web, "example.com", "/star/", "star", "*.example.com does not match example.com"),
        (web, "app.test", "/app/x", "a", "exact host with a path prefix"),
        (web, "app.test", "/star/x", 404, "no fall-back to a less specific host: 404"),
        (web, "app.test", "/other", 404, "host matches, no path prefix: 404"),
        (web, "unknown.org", "/star/x", "star", "host * matches any host"),
        (web, "unknown.org", "/", 404, "host * route, path not matched: 404"),
        (strict, "www.example.com", "/x", "a", "listener-specific route"),
        (strict, "unknown.org", "/x", 421, "no host pattern matches: 421"),
        (strict, "example.com", "/x", 421, "bare domain vs *.example.com only: 421"),
        (strict, "foo.example.com", "/w/x", "d", "wildcard on the second listener"),
        (strict, "foo.example.com", "/", 404, "wildcard host, no path: 404"),
        (strict, "x.sub.example.com", "/w/", "d",
         "routes of the other listener are not used"),
    ]
    for port, host, path, want, desc in checks:
        with subtest_guard(desc):
            tap.is_(who(port, host, path), want, "%s (%s%s)" % (desc, host, path))

    with subtest_guard("no Host / absolute-form"):
        tap.is_(who(web, None, None, b"GET /star/1 HTTP/1.0\r\n\r\n"), "star",
                "HTTP/1.0 without Host matches host *")
        tap.is_(who(strict, None, None, b"GET /x HTTP/1.0\r\n\r\n"), 421,
                "HTTP/1.0 without Host, no * route: 421")
        tap.is_(who(web, None, None,
                    b"GET http://www.example.com/api/x HTTP/1.1\r\nHost: www.example.com\r\n\r\n"),
                "b", "absolute-form target routed by its authority")
        tap.is_(who(web, None, None,
                    b"GET http://foo.example.com/x HTTP/1.1\r\nHost: www.example.com\r\n\r\n"),
                "d", "absolute-form authority wins over Host")

    with subtest_guard("error pages"):
        counts = {n: b.count() for n, b in bk.items()}
        with Client(strict) as c:
            r = c.request("GET", "/x", host="nowhere.org")
        tap.is_(r.status, 421, "421 answer")
        tap.like(r.body, r"421", "421: portico's own page")
        with Client(web) as c:
            r = c.request("GET", "/nothing", host="unknown.org")
        tap.is_(r.status, 404, "404 answer")
        tap.ok(r.header("X-Backend") is None and b"404" in r.body, "404: portico's own page")
        tap.is_({n: b.count() for n, b in bk.items()}, counts, "404/421: no backend got a request")

    p.stop()


main(test, timeout=60, tests=34)
