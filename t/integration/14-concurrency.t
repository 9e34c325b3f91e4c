#!/usr/bin/env python3
# Many clients at once, mixing uploads, chunked bodies, downloads, slow
# answers and keep-alive: every answer byte-exact and for its own request.
import hashlib
import os
import random
import sys
import threading
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from portico_test import (tap, main, Backend, Portico, Client, build_request, chunk_encode,
                          pattern_bytes, pattern_sha256, subtest_guard)


def worker(port, k, n, results, lock):
    rnd = random.Random(k)
    fails = []
    good = 0
    c = None
    for i in range(n):
        kind = rnd.choice(["get", "post", "chunked", "size", "chunkdl", "slow"])
        tag = "/echo/c%d/%d" % (k, i)
        try:
            if c is None or rnd.random() < 0.2:
                if c is not None:
                    c.close()
                c = Client(port, timeout=15)
            if kind == "get":
                r = c.request("GET", tag)
                ok = r.status == 200 and r.json()["target"] == tag
            elif kind == "post":
                body = os.urandom(rnd.randint(0, 200000))
                r = c.request("POST", tag, body=body)
                j = r.json()
                ok = (r.status == 200 and j["target"] == tag and
                      j["sha256"] == hashlib.sha256(body).hexdigest())
            elif kind == "chunked":
                body = os.urandom(rnd.randint(1, 100000))
                c.send(build_request("POST", tag, [("Transfer-Encoding", "chunked")]) +
                       chunk_encode(body, sizes=(rnd.randint(1, 5000), 3, 17)))
                r = c.read_response()
                j = r.json()
                ok = (r.status == 200 and j["target"] == tag and
                      j["sha256"] == hashlib.sha256(body).hexdigest())
            elif kind == "size":
                m = rnd.randint(0, 500000)
                r = c.request("GET", "/size/%d" % m)
                ok = r.status == 200 and r.body == pattern_bytes(m)
            elif kind == "chunkdl":
                m = rnd.randint(0, 300000)
                r = c.request("GET", "/chunked/%d" % m)
                ok = r.status == 200 and hashlib.sha256(r.body).hexdigest() == pattern_sha256(m)
            else:
                r = c.request("GET", "/slow/0.%d" % rnd.randint(0, 3))
                ok = r.status == 200 and r.body == b"slow done\n"
            if ok:
                good += 1
            else:
                fails.append("%s %s: %r" % (kind, tag, r))
        except Exception as e:
            fails.append("%s %s: %s: %s" % (kind, tag, type(e).__name__, e))
            if c is not None:
                c.close()
            c = None
    if c is not None:
        c.close()
    with lock:
        results["good"] += good
        results["fails"] += fails


def test():
    backends = [Backend("b%d" % i) for i in range(3)]
    p = Portico(upstreams={"app": [b.addr for b in backends]})
    p.start()
    with subtest_guard("concurrency"):
        results = {"good": 0, "fails": []}
        lock = threading.Lock()
        n_clients, n_req = 40, 25
        t0 = time.monotonic()
        ths = [threading.Thread(target=worker, args=(p.port, k, n_req, results, lock), daemon=True)
               for k in range(n_clients)]
        for t in ths:
            t.start()
        for t in ths:
            t.join(50)
        dt = time.monotonic() - t0
        tap.diag("%d requests from %d clients in %.1f s" % (n_clients * n_req, n_clients, dt))
        tap.is_(results["fails"][:10], [], "%d concurrent clients x %d mixed requests: no failure"
                % (n_clients, n_req), "%d failures" % len(results["fails"]))
        tap.is_(results["good"], n_clients * n_req, "every answer byte-exact and for its request")
        counts = [b.count() for b in backends]
        tap.ok(min(counts) > 0, "all three backends were used", repr(counts))
        tap.is_(len(p.workers()), 2, "both workers still alive")
    p.stop()


main(test, timeout=90, tests=5)
