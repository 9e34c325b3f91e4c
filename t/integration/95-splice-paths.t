#!/usr/bin/env python3
# Where splice() is not used, and where it shows (issue 16): a TLS
# listener sends large bodies byte-exact by the copy path (spliced_bytes
# does not move); a cached route's answers (stored on the way) are not
# spliced, and hits of them are whole; an HTTP/1.0 client on the plain
# listener is spliced to; /metrics has portico_spliced_bytes_total with
# the JSON's value.
import hashlib
import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from portico_test import (tap, main, Backend, subtest_guard, pattern_sha256, status_json,
                          metric)
from portico_tls import Certs, TLSClient, client_ctx, have_openssl, plain_and_tls

MB = 1 << 20


def test():
    if not have_openssl():
        tap.ok(False, "the openssl command is installed (apt-get install openssl)")
        return
    b = Backend("b1")
    routes = [
        dict(name="status", host="localhost", path="/_portico/", handler="status"),
        dict(name="cached", host="*", path="/cached/", upstream="app", cache="on"),
        dict(name="main", host="*", path="/", upstream="app"),
    ]
    b.script("/cached/big", headers=[("Cache-Control", "max-age=300"),
                                     ("Content-Type", "application/octet-stream")],
             body=b"c" * (2 * MB))
    p, port, tport = plain_and_tls(Certs(), {"app": [b.addr]}, routes,
                                   extra="[cache]\nsize = 64m\n")
    p.start()

    def spliced():
        return status_json(port)["spliced_bytes"]

    def fetch(c, target, version="HTTP/1.1"):
        h = hashlib.sha256()
        r = c.request("GET", target, host="x.test", on_body=h.update, version=version)
        return r, h.hexdigest()

    with subtest_guard("TLS listener"):
        s0 = spliced()
        with TLSClient(tport, client_ctx(), sni="a.test", timeout=30) as c:
            for n in (16 * 1024, MB, 8 * MB):
                r, digest = fetch(c, "/size/%d" % n)
                tap.ok(r.status == 200 and r.body_len == n and digest == pattern_sha256(n),
                       "TLS: %d bytes arrive byte-exact" % n, (r.status, r.body_len))
        tap.is_(spliced() - s0, 0, "TLS: nothing spliced (the copy path encrypts)")

    with subtest_guard("plain HTTP/1.0 client"):
        s0 = spliced()
        with p.client(timeout=30) as c:
            r, digest = fetch(c, "/size/%d" % MB, version="HTTP/1.0")
        tap.ok(r.status == 200 and digest == pattern_sha256(MB), "HTTP/1.0: 1 MiB byte-exact")
        tap.ok(spliced() - s0 > 0, "... spliced")

    with subtest_guard("cached route"):
        s0 = spliced()
        want = hashlib.sha256(b"c" * (2 * MB)).hexdigest()
        for i in range(2):
            with p.client(timeout=30) as c:
                r, digest = fetch(c, "/cached/big")
            tap.ok(r.status == 200 and digest == want,
                   "cached route, request %d: 2 MiB byte-exact" % (i + 1), r.status)
        tap.is_(b.hits("/cached/big"), 1, "the second was a cache hit")
        tap.is_(spliced() - s0, 0, "an answer being stored is not spliced")

    with subtest_guard("metrics"):
        js = spliced()
        text = p.get("/_portico/metrics").body.decode()
        m = metric(text, "portico_spliced_bytes_total")
        tap.ok(m == js and js > 0,
               "/metrics: portico_spliced_bytes_total is the JSON's spliced_bytes", (m, js))
        tap.like(text, r"# TYPE portico_spliced_bytes_total counter", "... a counter")
    p.stop()
    b.stop()


if __name__ == "__main__":
    main(test, timeout=180)
