#!/usr/bin/env python3
# Response bodies by splice() (issue 16, "Faster where the kernel can do
# the work"): a Content-Length body of 16 KiB or more from a plain backend
# to a plain HTTP/1 client goes backend socket -> pipe -> client socket.
# The status JSON's spliced_bytes proves the path is taken (and not for
# smaller or chunked bodies); every size arrives byte-exact on one
# keep-alive connection, and the upstream connection is reused after a
# spliced body; a backend that closes mid-body truncates the answer with
# the copy path's log line and counter; a client that stops reading holds
# the worker's memory bounded and then completes.
import hashlib
import json
import os
import socket
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from portico_test import (tap, main, Backend, subtest_guard, wait_until, PeerClosed,
                          pattern_sha256, proc_rss_kb)

SIZES = [0, 1, 16 * 1024 - 1, 16 * 1024, 1 << 20, 8 << 20]


def test():
    b = Backend("b1")
    routes = [
        dict(name="status", host="localhost", path="/_portico/", handler="status"),
        dict(name="main", host="*", path="/", upstream="app"),
    ]
    p = Portico_(b, routes)

    def status():
        return json.loads(p.get("/_portico/status", host="localhost").body)

    def spliced():
        return status()["spliced_bytes"]

    def fetch(c, target):
        h = hashlib.sha256()
        r = c.request("GET", target, host="x.test", on_body=h.update)
        return r, h.hexdigest()

    with subtest_guard("Content-Length bodies, keep-alive"):
        conns_before = b.conn_count()
        with p.client(timeout=30) as c:
            for n in SIZES:
                s0 = spliced()
                r, digest = fetch(c, "/size/%d" % n)
                d = spliced() - s0
                tap.ok(r.status == 200 and r.body_len == n and digest == pattern_sha256(n),
                       "%d bytes arrive byte-exact" % n, (r.status, r.body_len))
                if n > 64 * 1024:
                    tap.ok(0 < d <= n, "... by splice (%d of %d bytes spliced)" % (d, n))
                elif n >= 16 * 1024:
                    # What came with the head goes by copy: all of it, maybe.
                    tap.ok(0 <= d <= n, "... by splice or copy (%d spliced)" % d)
                else:
                    tap.is_(d, 0, "... by the copy path (under 16 KiB)")
            r, digest = fetch(c, "/size/%d" % (1 << 20))
            tap.ok(r.status == 200 and digest == pattern_sha256(1 << 20),
                   "the same client connection carries another spliced body")
        ids = set(x["conn_id"] for x in b.requests if x["target"].startswith("/size/"))
        tap.is_(len(ids), 1, "one upstream connection carried all %d answers "
                "(reused after each spliced body)" % (len(SIZES) + 1), (ids, conns_before))

    with subtest_guard("chunked bodies"):
        with p.client(timeout=30) as c:
            s0 = spliced()
            for n in SIZES:
                r, digest = fetch(c, "/chunked/%d" % n)
                tap.ok(r.status == 200 and r.body_len == n and digest == pattern_sha256(n),
                       "chunked %d bytes arrive byte-exact" % n, (r.status, r.body_len))
            tap.is_(spliced() - s0, 0, "chunked answers take the copy path")

    with subtest_guard("backend closes mid-body"):
        errs0 = status()["upstream_errors"]
        s0 = spliced()
        n = 4 << 20
        got = None
        with p.client(timeout=10) as c:
            try:
                c.request("GET", "/truncate/%d" % n, host="x.test",
                          on_body=lambda x: None)
                got = "complete"
            except PeerClosed as e:
                got = e.received
            except OSError as e:
                got = "error %s" % e
        tap.ok(isinstance(got, int) and 0 < got < n,
               "the client sees the connection closed after part of the body", got)
        tap.ok(spliced() - s0 > 0, "... that part came by splice")
        tap.ok(p.wait_log(r"closed the connection in the middle of the body"),
               "error log: the backend closed in the middle of the body")
        tap.ok(wait_until(lambda: status()["upstream_errors"] == errs0 + 1, 5),
               "upstream_errors counts it")
        line = wait_until(lambda: next((l for l in p.access_lines()
                                        if "/truncate/%d" % n in l), None), 5)
        tap.ok(line is not None and " 200 " in line and " %d " % n not in line,
               "access log: the request, with the bytes actually sent", line)
        r, digest = fetch(p.client(timeout=10), "/size/%d" % (1 << 20))
        tap.ok(r.status == 200 and digest == pattern_sha256(1 << 20),
               "the next request is answered whole")

    with subtest_guard("a client that stops reading"):
        n = 64 << 20
        wpid = p.workers()[0]
        rss0 = proc_rss_kb(wpid)
        s = socket.create_connection(p.listen_addr(), timeout=30)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        s.sendall(b"GET /size/%d HTTP/1.1\r\nHost: x.test\r\n\r\n" % n)
        time.sleep(1.0)         # the client reads nothing meanwhile
        rss1 = proc_rss_kb(wpid)
        tap.ok(rss1 - rss0 < 4096, "the worker's memory stays bounded while the client "
               "does not read (%d KiB more)" % (rss1 - rss0))
        h = hashlib.sha256()
        buf = b""
        while b"\r\n\r\n" not in buf:
            buf += s.recv(65536)
        head, rest = buf.split(b"\r\n\r\n", 1)
        h.update(rest)
        got = len(rest)
        slow = 0
        while got < n:
            d = s.recv(1 << 20)
            if not d:
                break
            h.update(d)
            got += len(d)
            if slow < 20:
                slow += 1
                time.sleep(0.05)    # a slow reader at first
        s.close()
        tap.ok(got == n and h.hexdigest() == pattern_sha256(n),
               "the slow reader gets all %d bytes, byte-exact" % n, got)
        tap.ok(proc_rss_kb(wpid) - rss0 < 4096, "the worker's memory is still bounded after")
    p.stop()
    b.stop()


def Portico_(b, routes):
    from portico_test import Portico
    p = Portico(upstreams={"app": [b.addr]}, routes=routes, workers=1,
                upstream_opts={"keepalive": "8"})
    p.start()
    return p


if __name__ == "__main__":
    main(test, timeout=180)
