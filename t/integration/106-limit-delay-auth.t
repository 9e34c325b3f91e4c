#!/usr/bin/env python3
# Requests that wait without stalling the worker.  A rate limit's delay is
# capped by max_delay: with rate = 1/s, burst = 10 and max_delay = 2s the
# requests that would wait 0, 1 and 2 s are delayed, the next (3 s) gets
# 429 at once with Retry-After, the backend never sees it; without
# max_delay the 30 s default answers rate = 1/m burst = 1000's second
# request at once; max_delay on a concurrency is refused with file:line.
# Basic authentication's password hashes (bcrypt) are checked by the
# worker's hashing thread: while three keep-alive connections hammer
# wrong passwords, a plain proxied request on the same (only) worker is
# answered well within one hash time; the right password gets 200, a
# wrong one 401, the right one again comes from the cache (the status
# JSON's auth counters and /metrics' portico_auth_checks_total); more
# checks at once than the queue holds get 503 with Retry-After, logged;
# a fast stop with checks under way is clean (no crash, no sanitizer
# report); with two workers, the status page of either counts the checks
# of both.
import base64
import ctypes
import ctypes.util
import os
import sys
import threading
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from portico_test import (tap, main, Backend, Portico, subtest_guard, get,
                          run_portico, wait_until, metric)

_crypt = ctypes.CDLL(ctypes.util.find_library("crypt") or "libcrypt.so.1")
_crypt.crypt.restype = ctypes.c_char_p
_crypt.crypt.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
_crypt.crypt_gensalt.restype = ctypes.c_char_p
_crypt.crypt_gensalt.argtypes = [ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p,
                                 ctypes.c_int]


def bcrypt(cost, password):
    """A bcrypt hash of password, and the seconds it took to make."""
    salt = _crypt.crypt_gensalt(b"$2b$", cost, None, 0)
    t0 = time.monotonic()
    h = _crypt.crypt(password.encode(), salt)
    return h.decode(), time.monotonic() - t0


def basic(user, password):
    return [("Authorization", "Basic " + base64.b64encode(
        ("%s:%s" % (user, password)).encode()).decode())]


LIMITS = """
[limit capped]
key = header:X-Key
rate = 1/s
burst = 10
max_delay = 2s

[limit slowm]
key = header:X-Key
rate = 1/m
burst = 1000
"""


def test_delay(p, b):
    def js():
        return get(p.port, "/status").json()["limits"]

    k = [("X-Key", "cap")]
    tap.is_(get(p.port, "/d/1", headers=k).status, 200, "max_delay: the first passes at once")
    t0 = time.monotonic()
    waiting = [p.client(), p.client()]
    for i, c in enumerate(waiting):
        c.send(("GET /d/w%d HTTP/1.1\r\nHost: x\r\nX-Key: cap\r\n\r\n" % i).encode())
    tap.ok(wait_until(lambda: js()["capped"]["delayed"] == 2, 10),
           "the next two are delayed (1 s and 2 s)")
    t1 = time.monotonic()
    r = get(p.port, "/d/4", headers=k)
    quick = time.monotonic() - t1
    tap.is_(r.status, 429, "the one that would wait 3 s > max_delay gets 429")
    tap.ok(quick < 1.0, "at once (%.2f s)" % quick)
    tap.ok(r.header("Retry-After") in ("1", "2"), "with Retry-After (%r)" % r.header("Retry-After"))
    tap.is_(b.requests_for("/d/4"), [], "the backend never sees it")
    times = []
    for c in waiting:
        rr = c.read_response()
        times.append((rr.status, time.monotonic() - t0))
        c.close()
    tap.ok(times[0][0] == 200 and times[1][0] == 200, "the delayed ones are answered 200")
    tap.ok(times[1][1] >= 1.5, "the last one after its delay (%.2f s)" % times[1][1])
    tap.is_(js()["capped"]["rejected"], 1, "status JSON: capped rejected 1")
    # The default cap, 30 s: rate 1/m's second request would wait 60 s.
    k = [("X-Key", "m")]
    tap.is_(get(p.port, "/m/1", headers=k).status, 200, "rate 1/m burst 1000: the first passes")
    t1 = time.monotonic()
    r = get(p.port, "/m/2", headers=k)
    tap.ok(r.status == 429 and time.monotonic() - t1 < 1.0,
           "the second (60 s > the 30 s default max_delay) gets 429 at once (%d)" % r.status)
    ra = int(r.header("Retry-After") or 0)
    tap.ok(25 <= ra <= 31, "Retry-After until a 30 s wait would do (%d)" % ra)


def test_config(p):
    bad = os.path.join(p.tmp, "bad.ini")
    text = p.config_text().replace("rate = 1/m\nburst = 1000\n",
                                   "rate = 1/m\nburst = 1000\n\n[limit cc]\nkey = addr\n"
                                   "concurrency = 2\nmax_delay = 5s\n")
    with open(bad, "w") as f:
        f.write(text)
    lines = text.split("\n")
    line = lines.index("max_delay = 5s") + 1
    rc, out, err = run_portico(["-t", "-c", bad])
    tap.ok(rc == 1 and ("bad.ini:%d:" % line) in (out + err) and "max_delay" in (out + err),
           "-t: max_delay on a concurrency is bad.ini:%d (%r)" % (line, (out + err)[-200:]))


def test_auth(p, b, good_hash_s):
    def auth_js():
        return get(p.port, "/status").json()["auth"]

    stop = threading.Event()
    tried = [0]
    errors = []

    def hammer(n):
        c = p.client()
        i = 0
        try:
            while not stop.is_set():
                i += 1
                r = c.request("GET", "/private/x", headers=basic("u", "wrong-%d-%d" % (n, i)))
                if r.status != 401:
                    errors.append(r.status)
                tried[0] += 1
        except Exception as e:   # noqa: BLE001 - reported below
            errors.append(repr(e))
        finally:
            c.close()

    ths = [threading.Thread(target=hammer, args=(n,)) for n in range(3)]
    for t in ths:
        t.start()
    wait_until(lambda: tried[0] >= 3, 30)
    lat = []
    c = p.client()
    for i in range(10):
        t0 = time.monotonic()
        r = c.request("GET", "/plain/%d" % i)
        lat.append(time.monotonic() - t0)
        if r.status != 200:
            lat[-1] = 99
        time.sleep(0.05)
    c.close()
    stop.set()
    for t in ths:
        t.join(30)
    bound = max(0.5 * good_hash_s, 0.05)
    tap.ok(max(lat) < bound,
           "plain requests on the worker while 3 connections hammer bcrypt: slowest %.3f s "
           "(one hash %.3f s; bound %.3f s)" % (max(lat), good_hash_s, bound))
    tap.ok(tried[0] >= 3 and not errors, "the hammered wrong passwords all got 401 "
           "(%d, errors %r)" % (tried[0], errors[:3]))
    before = auth_js()
    c = p.client()
    r1 = c.request("GET", "/private/a", headers=basic("u", "right"))
    r2 = c.request("GET", "/private/b", headers=basic("u", "nope"))
    r3 = c.request("GET", "/private/c", headers=basic("u", "right"))
    c.close()
    tap.is_(r1.status, 200, "the right password: 200")
    tap.is_(r2.status, 401, "a wrong one: 401")
    tap.is_(r3.status, 200, "the right one again: 200")
    after = auth_js()
    tap.is_(after["cache_hits"] - before["cache_hits"], 1,
            "the repeated right password came from the cache (status JSON auth.cache_hits)")
    tap.is_(after["hashed"] - before["hashed"], 2, "two hashes for the three (auth.hashed)")
    tap.is_(len(b.requests_for("/private/b")), 0, "the backend never sees the 401's request")

    # More checks at once than the queue holds (32): 503 with Retry-After.
    cs = [p.client() for _ in range(48)]
    for i, c in enumerate(cs):
        c.send(("GET /private/q%d HTTP/1.1\r\nHost: x\r\nAuthorization: %s\r\n\r\n" %
                (i, basic("q", "bad-%d" % i)[0][1])).encode())
    got = {}
    retry = True
    for c in cs:
        r = c.read_response()
        got[r.status] = got.get(r.status, 0) + 1
        if r.status == 503:
            retry = retry and r.header("Retry-After") == "1"
        c.close()
    tap.ok(set(got) == {401, 503} and got[503] >= 1 and retry,
           "48 checks at once: the queue's overflow gets 503 with Retry-After, "
           "the others 401 (%r)" % got)
    tap.ok(p.wait_log(r"authentication busy \(hashing queue full"), "the 503 is logged")
    tap.ok(auth_js()["busy"] >= got.get(503, 0), "counted as auth.busy")
    js = auth_js()
    text = get(p.port, "/status/metrics").body.decode()
    prom = [metric(text, 'portico_auth_checks_total{result="%s"}' % k)
            for k in ("hashed", "cache_hit", "busy")]
    tap.is_(prom, [js["hashed"], js["cache_hits"], js["busy"]],
            "/metrics: portico_auth_checks_total{result} are the JSON's auth counters")


def test():
    b = Backend("b1")
    good, good_s = bcrypt(11, "right")
    qhash, _ = bcrypt(10, "right-q")
    p = Portico(upstreams={"app": [b.addr]}, routes=[], workers=1, extra=LIMITS)
    htfile = os.path.join(p.tmp, "users.htpasswd")
    with open(htfile, "w") as f:
        f.write("u:%s\nq:%s\n" % (good, qhash))
    p.routes = [
        dict(name="status", path="/status", handler="status"),
        dict(name="d", path="/d/", upstream="app", limit="capped"),
        dict(name="m", path="/m/", upstream="app", limit="slowm"),
        dict(name="private", path="/private/", upstream="app",
             auth_basic="Staff", auth_basic_file=htfile),
        dict(name="main", path="/", upstream="app"),
    ]
    p.write_config()
    p.start()
    with subtest_guard("max_delay"):
        test_delay(p, b)
    with subtest_guard("max_delay config"):
        test_config(p)
    with subtest_guard("auth off the loop"):
        test_auth(p, b, good_s)
    with subtest_guard("a fast stop with hashes under way"):
        # The stop below (TERM) closes them, drops their jobs and joins
        # the thread: its check wants no crash and no sanitizer report.
        n0 = get(p.port, "/status").json()["auth"]["hashed"]
        inflight = [p.client() for _ in range(4)]
        for i, c in enumerate(inflight):
            c.send(("GET /private/s%d HTTP/1.1\r\nHost: x\r\nAuthorization: %s\r\n\r\n" %
                    (i, basic("u", "stop-%d" % i)[0][1])).encode())
        tap.ok(wait_until(lambda: get(p.port, "/status").json()["auth"]["hashed"] >= n0 + 4, 10),
               "four checks given to the thread, then TERM")
    p.stop()
    with subtest_guard("auth counters summed over the workers"):
        # Each worker's counts are in its own slot of shared memory: the
        # status page of either worker shows both workers' checks.
        p2 = Portico(upstreams={"app": [b.addr]}, workers=2, name="portico-2", routes=[
            dict(name="status", path="/status", handler="status"),
            dict(name="private", path="/private/", upstream="app",
                 auth_basic="Staff", auth_basic_file=htfile)])
        p2.start()
        st = []
        for i, w in enumerate(p2.workers()):
            with p2.client_on(w) as c:
                st.append(c.request("GET", "/private/w%d" % i,
                                    headers=basic("u", "right")).status)
        tap.is_(st, [200, 200], "the right password on each of the two workers: 200")
        seen = []
        for w in p2.workers():
            with p2.client_on(w) as c:
                seen.append(c.request("GET", "/status").json()["auth"]["hashed"])
            with p2.client_on(w) as c:
                seen.append(metric(c.request("GET", "/status/metrics").body.decode(),
                                   'portico_auth_checks_total{result="hashed"}'))
        tap.is_(seen, [2, 2, 2, 2], "the status JSON and /metrics of either worker: auth.hashed 2")
        p2.stop()


if __name__ == "__main__":
    main(test, timeout=120, tests=30)
