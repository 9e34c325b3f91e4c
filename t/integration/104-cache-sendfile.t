#!/usr/bin/env python3
# Large cache hits sent by reference, sendfile() from the cache's memfd
# (issue 16): 64 KiB and 1 MiB hits and one whose blocks are not adjacent
# arrive byte-exact and count in sendfile_bytes (JSON and /metrics); a
# slow client (4 KiB receive window, not reading) that was handed a whole
# hit by sendfile still reads exactly that object after it was purged and
# its blocks refilled by another, and after it was evicted by filling the
# cache; HEAD, small ranges and a TLS listener take the copy path
# (sendfile_bytes unchanged) and are correct, a large range is correct;
# a worker SIGKILLed in the middle of a sendfile hit leaves the cache
# whole (the object is still a hit, byte-exact, and can be purged and
# refilled); with [cache] sendfile = off hits are copied.
import hashlib
import os
import re
import signal
import socket
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from portico_test import (tap, main, Backend, subtest_guard, wait_until, cache_section, cs,
                          status_json, metric)
from portico_tls import Certs, TLSPortico, TLSClient, client_ctx, have_openssl, plain_and_tls

KB = 1 << 10
MB = 1 << 20
NFILL = 100
CC = [("Cache-Control", "max-age=600"), ("Content-Type", "application/octet-stream")]


def body_of(tag, n):
    """n bytes that differ for every tag and every offset (so that a block
    of one object never looks like another's)."""
    seed = hashlib.sha256(tag.encode()).digest()
    out = bytearray()
    i = 0
    while len(out) < n:
        out += hashlib.sha256(seed + i.to_bytes(8, "big")).digest()
        i += 1
    return bytes(out[:n])


def sha(b):
    return hashlib.sha256(b).hexdigest()


class Slow:
    """A client with a 4 KiB receive window that sends a request and then
    reads nothing until told to."""

    def __init__(self, port, target):
        self.s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.s.settimeout(30)
        self.s.connect(("127.0.0.1", port))
        self.s.sendall(b"GET " + target.encode() + b" HTTP/1.1\r\nHost: x.test\r\n"
                       b"Connection: close\r\n\r\n")

    def read_body(self):
        data = bytearray()
        try:
            while True:
                d = self.s.recv(65536)
                if not d:
                    break
                data += d
        except OSError:
            pass
        self.s.close()
        i = data.find(b"\r\n\r\n")
        return bytes(data[:i]), bytes(data[i + 4:]) if i >= 0 else b""


def test():
    if not have_openssl():
        tap.ok(False, "the openssl command is installed (apt-get install openssl)")
        return
    b = Backend("b1")
    routes = [
        dict(name="status", host="localhost", path="/_portico/", handler="status"),
        dict(name="cached", host="*", path="/", upstream="app", cache="on"),
    ]
    bodies = {}

    def script(target, n):
        bodies[target] = body_of(target, n)
        b.script(target, headers=CC, body=bodies[target])

    for t, n in (("/s1", 100), ("/s2", 100), ("/k64", 64 * KB), ("/nc", 40 * KB),
                 ("/m1", MB), ("/a", 256 * KB), ("/b", 256 * KB), ("/e", 256 * KB),
                 ("/d", 768 * KB), ("/t", 512 * KB)):
        script(t, n)
    for i in range(NFILL):
        script("/f/%d" % i, 256 * KB)
    # 8 MiB: 2 MiB may be pinned, so a 1 MiB object is pinned (and sent
    # by reference) while being sent.
    p, port, tport = plain_and_tls(Certs(), {"app": [b.addr]}, routes,
                                   extra=cache_section(size="8m", max_object_size="2m",
                                                       purge_allow="127.0.0.1/32"))
    p.start()

    def status():
        return status_json(p.listen_addr()[1])

    def sent():
        return status()["sendfile_bytes"]

    def fetch(target, method="GET", headers=None):
        with p.client(timeout=30) as c:
            return c.request(method, target, host="x.test", headers=headers)

    def hit_ok(target, what):
        r = fetch(target)
        tap.ok(r.status == 200 and r.body == bodies[target] and
               re.match(r"^portico; hit", cs(r) or ""),
               "%s: a hit, byte-exact" % what, (r.status, len(r.body), cs(r)))

    with subtest_guard("sendfile hits"):
        # The free list is in block order at first: s1 takes block 0,
        # k64 the next 17, s2 the one after.  Purged, s1's and s2's blocks
        # go back to the front of the list (s2's first), so nc (11 blocks)
        # gets s2's block, then s1's, then the run after s2: three runs.
        for t in ("/s1", "/k64", "/s2"):
            fetch(t)
        tap.is_(fetch("/s1", "PURGE").status, 200, "PURGE /s1")
        tap.is_(fetch("/s2", "PURGE").status, 200, "PURGE /s2")
        fetch("/nc")
        fetch("/m1")
        for t, what in (("/k64", "64 KiB"), ("/m1", "1 MiB"),
                        ("/nc", "40 KiB over three runs of blocks")):
            s0 = sent()
            hit_ok(t, what)
            tap.is_(sent() - s0, len(bodies[t]), "... its body went by sendfile")
        m = metric(p.get("/_portico/metrics").body.decode(), "portico_sendfile_bytes_total")
        tap.ok(m is not None and m == sent(),
               "/metrics: portico_sendfile_bytes_total is the JSON's sendfile_bytes", m)

    with subtest_guard("copy path"):
        s0 = sent()
        r = fetch("/m1", "HEAD")
        tap.ok(r.status == 200 and r.body == b"", "HEAD of a large object: no body",
               r.status)
        r = fetch("/m1", headers=[("Range", "bytes=1000-2999")])
        tap.ok(r.status == 206 and r.body == bodies["/m1"][1000:3000],
               "a 2000-byte range: 206, byte-exact", (r.status, len(r.body)))
        tap.is_(sent() - s0, 0, "... neither went by sendfile")
        r = fetch("/m1", headers=[("Range", "bytes=5000-700000")])
        tap.ok(r.status == 206 and r.body == bodies["/m1"][5000:700001],
               "a 680 KiB range: 206, byte-exact", (r.status, len(r.body)))
        s0 = sent()
        with TLSClient(tport, client_ctx(), sni="a.test", timeout=30) as c:
            for t in ("/m1", "/k64"):
                c.request("GET", t, host="x.test")    # https has its own key
                r = c.request("GET", t, host="x.test")
                tap.ok(r.status == 200 and r.body == bodies[t] and
                       re.match(r"^portico; hit", cs(r) or ""),
                       "TLS listener: %s hit byte-exact" % t, (r.status, len(r.body)))
        tap.is_(sent() - s0, 0, "TLS: nothing by sendfile (the copy path encrypts)")

    def handed_over(target, n):
        """The slow client's hit is finished on the worker's side: the
        whole object is in the kernel (access log line, status 200)."""
        return wait_until(lambda: sum(1 for l in p.access_lines()
                                      if ('"GET %s ' % target) in l) >= n, 15)

    with subtest_guard("reuse after a purge"):
        fetch("/a")
        hit_ok("/a", "/a stored")
        s0 = sent()
        slow = Slow(port, "/a")
        tap.ok(handed_over("/a", 3), "the slow client's hit of /a was handed to the kernel "
               "whole while it reads nothing", p.access_lines()[-3:])
        tap.ok(sent() - s0 == len(bodies["/a"]), "... by sendfile", sent() - s0)
        tap.is_(fetch("/a", "PURGE").status, 200, "PURGE /a")
        r = fetch("/b")
        tap.ok(r.status == 200 and r.body == bodies["/b"],
               "/b stored (into /a's freed blocks)", cs(r))
        hit_ok("/b", "/b")
        head, body = slow.read_body()
        tap.ok(head.startswith(b"HTTP/1.1 200") and sha(body) == sha(bodies["/a"]),
               "the slow client then reads exactly /a's bytes", (head[:20], len(body)))
        tap.ok(bodies["/b"][:4096] not in body, "... none of /b's")

    with subtest_guard("reuse after eviction"):
        fetch("/e")
        slow = Slow(port, "/e")
        tap.ok(handed_over("/e", 2), "the slow client's hit of /e was handed over whole")
        ev0 = status()["cache"]["evictions"]
        bad = 0
        for i in range(NFILL):
            r = fetch("/f/%d" % i)
            bad += r.body != bodies["/f/%d" % i]
        tap.is_(bad, 0, "%d objects of 256 KiB through an 8 MiB cache: all byte-exact" % NFILL)
        tap.ok(status()["cache"]["evictions"] - ev0 >= NFILL - 32, "... evicting",
               status()["cache"]["evictions"] - ev0)
        r = fetch("/e")
        tap.ok(r.body == bodies["/e"] and re.match(r"^portico; fwd=miss", cs(r) or ""),
               "/e was evicted (a miss now): its blocks were refilled", cs(r))
        head, body = slow.read_body()
        tap.ok(head.startswith(b"HTTP/1.1 200") and sha(body) == sha(bodies["/e"]),
               "the slow client then reads exactly /e's bytes", len(body))

    with subtest_guard("worker killed mid-send"):
        fetch("/d")
        fetch("/t")
        # Several slow clients, so that the worker cannot hand them all
        # over: it is in the middle of sending when it dies.
        slows = [Slow(port, "/d") for _ in range(8)]
        time.sleep(0.3)
        victim = p.workers()[0]
        p.expect_worker_death(victim, signal.SIGKILL)
        os.kill(victim, signal.SIGKILL)
        tap.ok(wait_until(lambda: len(p.workers()) == 1 and victim not in p.workers(), 10),
               "the worker was replaced", p.workers())
        cut = 0
        for s in slows:
            head, body = s.read_body()
            if len(body) != len(bodies["/d"]):
                cut += 1
            elif body != bodies["/d"]:
                cut = -100
        tap.ok(cut >= 0, "no slow client got a whole body of wrong bytes", cut)
        hits = b.hits("/d")
        hit_ok("/d", "/d after the kill")
        tap.is_(b.hits("/d"), hits, "... not fetched again")
        hit_ok("/t", "/t after the kill")
        tap.is_(fetch("/d", "PURGE").status, 200, "PURGE /d")
        for i in range(12):
            fetch("/f/%d" % i)
        tap.ok(all(fetch("/f/%d" % i).body == bodies["/f/%d" % i] for i in range(12)),
               "objects refilling the cache after the kill: byte-exact")
    p.stop()

    with subtest_guard("sendfile = off"):
        p = TLSPortico(upstreams={"app": [b.addr]}, routes=routes, workers=1,
                       extra=cache_section(size="8m", max_object_size="2m", sendfile="off"),
                       name="portico-off")
        p.start()
        fetch("/m1")
        hit_ok("/m1", "sendfile = off: 1 MiB")
        tap.is_(sent(), 0, "... nothing by sendfile")
        p.stop()
    b.stop()


if __name__ == "__main__":
    main(test, timeout=180)
