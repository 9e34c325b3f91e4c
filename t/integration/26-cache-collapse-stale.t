#!/usr/bin/env python3
# Response cache: request collapsing (concurrent misses of one key across
# workers wait for one fetch; a non-storable answer releases them to the
# origin), stale-if-error (directive, route cache_stale_if_error, 503 /
# refused connection / timeout), stale-while-revalidate (stale answer at
# once, one background refresh, then the new object).
import os
import sys
import threading
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from portico_test import (tap, main, Backend, Portico, Client, subtest_guard, pattern_bytes,
                          cache_section, cache_status, wait_until, refused_port,
                          cs, CS_HIT, CS_STORED)

HIT = CS_HIT
STORED = CS_STORED



def parallel(port, target, n, timeout=15, headers=None, conns=None):
    """n concurrent GETs of target, each on its own connection (new ones,
    or conns), released together; returns [(response or exception,
    seconds)]."""
    out = [None] * n
    go = threading.Event()
    conns = conns or [Client(port, timeout=timeout) for _ in range(n)]

    def run(i):
        go.wait()
        t0 = time.monotonic()
        try:
            out[i] = (conns[i].request("GET", target, headers=headers), time.monotonic() - t0)
        except Exception as e:
            out[i] = (e, time.monotonic() - t0)
        finally:
            conns[i].close()
    th = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(n)]
    for t in th:
        t.start()
    go.set()
    for t in th:
        t.join(timeout + 5)
    return out


def test():
    b = Backend("b1")
    b2 = Backend("b2")
    dead = refused_port()
    p = Portico(upstreams={
        "app": [b.addr],
        "down": ["127.0.0.1:%d" % dead],
        "flaky": [b2.addr],
        "slowup": {"servers": [b.addr], "read_timeout": "1s"},
    }, routes=[
        dict(name="sie", path="/rsie/", upstream="app", cache="on", cache_stale_if_error="1m"),
        dict(name="down", path="/down/", upstream="down", cache="on"),
        dict(name="flaky", path="/flaky/", upstream="flaky", cache="on"),
        dict(name="slowup", path="/slowup/", upstream="slowup", cache="on"),
        dict(name="cached", path="/", upstream="app", cache="on"),
    ], workers=3, extra=cache_section(size="16m", lock_timeout="5s"))
    p.start()

    with subtest_guard("collapsing"):
        body = pattern_bytes(50000)
        b.script("/col/a", headers=[("Cache-Control", "max-age=60")], body=body, delay=1.0)
        # 4 connections to each of the 3 workers, on purpose: the waiters
        # must find the fetch of another worker.
        owner = []
        conns = []
        for w in p.workers():
            for i in range(4):
                conns.append(p.client_on(w, timeout=15))
                owner.append(w)
        res = parallel(p.port, "/col/a", 12, conns=conns)
        good = [r for r, _ in res if not isinstance(r, Exception) and r.status == 200
                and r.body == body]
        tap.is_(len(good), 12, "12 concurrent GETs of one slow cacheable key, 4 through each "
                "of 3 workers: all get the whole body", repr([r for r, _ in res]))
        tap.is_(b.hits("/col/a"), 1, "... the backend saw exactly one request")
        col = [r for r in good if "collapsed" in cs(r)]
        tap.ok(len(col) >= 5, "... most of them waited for it (collapsed)",
               repr([cs(r) for r in good]))
        fetcher = [owner[i] for i, (r, _) in enumerate(res)
                   if not isinstance(r, Exception) and cache_status(r).get("stored")]
        other = [owner[i] for i, (r, _) in enumerate(res)
                 if not isinstance(r, Exception) and "collapsed" in cs(r)
                 and owner[i] not in fetcher]
        tap.ok(len(fetcher) == 1 and len(set(other)) == 2,
               "... waiters on both other workers than the fetching one",
               "fetched by %r, collapsed on %r; Cache-Status by worker %r"
               % (fetcher, sorted(set(other)),
                  [(owner[i], cs(r) if not isinstance(r, Exception) else r)
                   for i, (r, _) in enumerate(res)]))
        tap.ok(all(cache_status(r).get("stored") or "collapsed" in cs(r) or cache_status(r).get("hit")
                   for r in good), "... the others: the one stored fetch or hits",
               repr([cs(r) for r in good]))
        tap.ok(max(t for _, t in res) < 4.5, "... all done before lock_timeout (5 s): "
               "nobody waited for the lock to time out", repr([round(t, 2) for _, t in res]))
        r = p.get("/col/a")
        tap.ok(r.status == 200 and r.body == body and cache_status(r).get("hit"),
               "then: a hit", cs(r))

    with subtest_guard("collapsing, answer not storable"):
        b.script("/col/ns", headers=[("Cache-Control", "no-store")],
                 body=lambda n, rec: b"private answer %d\n" % n, delay=1.0)
        t0 = time.monotonic()
        res = parallel(p.port, "/col/ns", 8)
        dt = time.monotonic() - t0
        good = [r for r, _ in res if not isinstance(r, Exception) and r.status == 200
                and r.body.startswith(b"private answer ")]
        tap.is_(len(good), 8, "8 concurrent GETs, answer no-store: all get an answer",
                repr([r for r, _ in res]))
        tap.is_(len(set(r.body for r in good)), 8, "... each its own (nobody got a shared copy)",
                repr([r.body for r in good]))
        tap.is_(b.hits("/col/ns"), 8, "... every one reached the backend")
        tap.ok(dt < 6.0, "... waiters released together once the first answer is not "
               "storable (done within 6 s, not 8 fetches of 1 s one after another)",
               "took %.2f s; per request: %r" % (dt, [round(t, 2) for _, t in res]))

    with subtest_guard("stale-if-error"):
        # set up every object, then one sleep
        sie = b.script("/sie/a", headers=[("Cache-Control", "max-age=1, stale-if-error=60")],
                       body=b"stale but good\n")
        b.script("/sie/none", headers=[("Cache-Control", "max-age=1")], body=b"no sie\n")
        b.script("/rsie/a", headers=[("Cache-Control", "max-age=1")], body=b"route sie\n")
        b.script("/rsie/mr", headers=[("Cache-Control", "max-age=1, must-revalidate")],
                 body=b"must revalidate\n")
        b2.script("/flaky/a", headers=[("Cache-Control", "max-age=1, stale-if-error=60")],
                  body=b"flaky stale\n")
        b.script("/slowup/a", headers=[("Cache-Control", "max-age=1, stale-if-error=60")],
                 body=b"slow stale\n")
        for t in ("/sie/a", "/sie/none", "/rsie/a", "/rsie/mr", "/flaky/a", "/slowup/a"):
            r = p.get(t)
            tap.like(cs(r), STORED, "%s stored" % t, cs(r))
        time.sleep(2.2)
        # origin answers 503
        b.script("/sie/a", status=503, reason="Service Unavailable", body=b"down\n")
        b.script("/sie/none", status=503, reason="Service Unavailable", body=b"down\n")
        b.script("/rsie/a", status=503, reason="Service Unavailable", body=b"down\n")
        b.script("/rsie/mr", status=503, reason="Service Unavailable", body=b"down\n")
        r = p.get("/sie/a")
        tap.is_((r.status, r.body), (200, b"stale but good\n"),
                "stale-if-error=60, origin 503: the stale object instead")
        tap.like(cs(r), r"^portico; fwd=stale; fwd-status=503; ttl=-\d+; detail=stale-if-error$",
                 "... Cache-Status fwd=stale; fwd-status=503; ttl=-N; detail=stale-if-error", cs(r))
        tap.is_(sie.seen, 2, "... after asking the origin")
        r = p.get("/sie/none")
        tap.is_((r.status, r.body), (503, b"down\n"), "without stale-if-error: the 503")
        r = p.get("/rsie/a")
        tap.is_((r.status, r.body), (200, b"route sie\n"),
                "route cache_stale_if_error = 1m, no directive: the stale object")
        tap.like(cs(r), r"detail=stale-if-error", "... detail=stale-if-error", cs(r))
        r = p.get("/rsie/mr")
        tap.is_(r.status, 503, "route cache_stale_if_error, but must-revalidate: the 503")
        # origin unreachable
        b2.stop()
        r = p.get("/flaky/a")
        tap.is_((r.status, r.body), (200, b"flaky stale\n"),
                "origin refuses connections: the stale object")
        tap.like(cs(r), r"^portico; fwd=stale; fwd-status=50[23]; ttl=-\d+; detail=stale-if-error$",
                 "... fwd-status 502/503", cs(r))
        # origin too slow
        b.script("/slowup/a", headers=[("Cache-Control", "max-age=60")], body=b"too late\n",
                 delay=6)
        t0 = time.monotonic()
        r = p.get("/slowup/a")
        dt = time.monotonic() - t0
        tap.is_((r.status, r.body), (200, b"slow stale\n"),
                "origin times out (read_timeout 1s): the stale object")
        tap.like(cs(r), r"^portico; fwd=stale; fwd-status=504; ttl=-\d+; detail=stale-if-error$",
                 "... fwd-status=504", cs(r))
        tap.ok(dt < 5, "... after the read timeout (1 s), not the origin's delay (6 s)",
               "%.2f s" % dt)
        # never stored at all: the error
        r = p.get("/down/never")
        tap.ok(r.status in (502, 503), "nothing stored, origin down: the error", repr(r))

    with subtest_guard("stale-while-revalidate"):
        swr = b.script("/swr/a", headers=[("Cache-Control", "max-age=1, stale-while-revalidate=30")],
                       body=lambda n, rec: b"version %d\n" % n)
        r = p.get("/swr/a")
        tap.is_(r.body, b"version 1\n", "stored version 1")
        time.sleep(2.2)
        b.script("/swr/a", headers=[("Cache-Control", "max-age=60, stale-while-revalidate=30")],
                 body=lambda n, rec: b"version %d\n" % n, delay=2.0)
        r = p.get("/swr/a")
        t_answer = time.time()
        tap.is_((r.status, r.body), (200, b"version 1\n"), "stale within swr: the stale object")
        tap.like(cs(r), r"^portico; hit; ttl=-\d+; detail=stale-while-revalidate$",
                 "... Cache-Status hit; ttl=-N; detail=stale-while-revalidate", cs(r))
        # At once: before the refresh could have been answered (the origin
        # takes 2 s from the arrival of the refresh request).
        refresh = b.requests_for("/swr/a")[1:]
        tap.ok(not refresh or t_answer < refresh[0]["time"] + 2.0,
               "... at once (before the origin answered the refresh)",
               "answer at %.2f, refresh arrived at %r" % (t_answer, [x["time"] for x in refresh]))
        more = []
        for i in range(3):
            more.append(p.get("/swr/a"))
        tap.ok(all(x.body == b"version 1\n" and "stale-while-revalidate" in cs(x) for x in more),
               "more requests during the refresh: stale too", repr([cs(x) for x in more]))
        tap.ok(wait_until(lambda: swr.seen >= 2, 5), "one background request reached the backend")

        def refreshed():
            x = p.get("/swr/a")
            return x if x.body == b"version 2\n" else None
        r = wait_until(refreshed, 15, 0.2) or p.get("/swr/a")
        tap.is_(r.body, b"version 2\n", "then (once the refresh is done): the refreshed object")
        tap.like(cs(r), HIT, "... a fresh hit", cs(r))
        tap.is_(swr.seen, 2, "backend saw exactly one refresh")
        tap.is_(b.hits("/swr/a"), 2, "... (2 requests in all)")

    p.stop()


if __name__ == "__main__":
    main(test, timeout=60, tests=41)
