#!/usr/bin/env python3
# Response cache: requests that wait on the cache are woken, not polled.
# Collapsed misses (waiting for another request's fetch of the same key,
# in any worker) and followers of an object still being stored (waiting
# for more of it) sleep until the object changes: the workers do not
# wake up in between (counted with /proc/PID/status
# voluntary_ctxt_switches: a worker that polls every 5 ms switches some
# 200 times a second, one that sleeps a handful of times), and every
# waiter is answered as soon as the object is there.  After a binary
# upgrade the new master's workers are woken the same way (the region's
# eventfds are handed over with it).
import os
import re
import sys
import threading
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from portico_test import (tap, main, Backend, Portico, subtest_guard, pattern_bytes,
                          cache_section, cache_status, wait_until, cs, become_subreaper)

# Over WINDOW seconds of waiting, a worker may switch at most this many
# times (polling every 5 ms: some 300; sleeping: a few, whatever the load).
WINDOW = 1.5
MAX_SWITCHES = 40


def switches(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("voluntary_ctxt_switches:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def count_during(pids, seconds):
    """Voluntary context switches of each pid over seconds."""
    before = {p: switches(p) for p in pids}
    time.sleep(seconds)
    return {p: (switches(p) - before[p]) if before[p] is not None and switches(p) is not None
            else None for p in pids}


def fetch_all(conns, target, out, done_at):
    """GET target on each connection, each in its own thread; out[i] the
    response or exception, done_at[i] the monotonic time it was complete."""
    def run(i):
        try:
            out[i] = conns[i].request("GET", target)
        except Exception as e:
            out[i] = e
        done_at[i] = time.monotonic()
        conns[i].close()
    th = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(len(conns))]
    for t in th:
        t.start()
    return th


def alive(pid):
    """Whether pid runs (not gone, not a zombie); it may end as we look."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split()[2] != "Z"
    except OSError:
        return False


def upgrade(p):
    """USR2, WINCH, QUIT: the new master's workers serve.  Returns them."""
    old_workers = p.workers()
    new = p.upgrade(30)
    tap.ok(new and re.search(r"\] %d master: binary upgrade: kept the cache" % new,
                             p.error_log()),
           "after USR2 the new master kept the cache", p.error_log()[-3000:])
    p.signal("WINCH")
    wait_until(lambda: not any(alive(w) for w in old_workers), 20)
    p.signal("QUIT")
    tap.is_(p.follow(new), 0, "... and the old master quit")
    return p.workers()


def test():
    become_subreaper()
    b = Backend("b1")
    p = Portico(upstreams={"app": [b.addr]},
                routes=[dict(name="cached", path="/", upstream="app", cache="on")],
                workers=2, extra=cache_section(size="16m", lock_timeout="20s"))
    p.start()
    workers = p.workers()
    tap.is_(len(workers), 2, "two workers")

    with subtest_guard("collapsed misses sleep until the object is stored"):
        body = pattern_bytes(20000)
        sc = b.script("/wake/a", headers=[("Cache-Control", "max-age=60")], body=body,
                      delay=WINDOW + 2.0)
        # The fetch, then 3 waiters on each worker (one of them the fetcher's).
        first = [p.client_on(workers[0], timeout=30)]
        fout, fdone = [None], [None]
        fth = fetch_all(first, "/wake/a", fout, fdone)
        tap.ok(wait_until(lambda: sc.seen >= 1, 5), "the fetch reached the backend")
        conns = [p.client_on(w, timeout=30) for w in workers for _ in range(3)]
        out, done = [None] * len(conns), [None] * len(conns)
        th = fetch_all(conns, "/wake/a", out, done)
        time.sleep(0.4)         # all of them parked
        n = count_during(workers, WINDOW)
        tap.diag("voluntary context switches per worker over %.1f s: %r" % (WINDOW, n))
        tap.ok(all(v is not None and v <= MAX_SWITCHES for v in n.values()),
               "while 6 collapsed misses wait %.1f s, no worker wakes up more than %d "
               "times (no polling)" % (WINDOW, MAX_SWITCHES), repr(n))
        for t in fth + th:
            t.join(30)
        good = [r for r in out if not isinstance(r, Exception) and r.status == 200
                and r.body == body and "collapsed" in cs(r)]
        tap.is_(len(good), 6, "all 6 get the object, collapsed",
                repr([cs(r) if not isinstance(r, Exception) else r for r in out]))
        tap.ok(not isinstance(fout[0], Exception) and cache_status(fout[0]).get("stored"),
               "the first request fetched and stored it", repr(fout[0]))
        late = [round(d - fdone[0], 3) for d in done if d is not None]
        tap.ok(fdone[0] is not None and len(late) == 6 and max(late) < 1.0,
               "... and they are answered as soon as it is stored (within 1 s of the "
               "fetcher's own answer)", repr(late))
        tap.is_(sc.seen, 1, "... from one backend fetch")

    with subtest_guard("followers of a growing object sleep until more of it is stored"):
        piece = 8192
        body = pattern_bytes(3 * piece)
        sc = b.script("/wake/grow", headers=[("Cache-Control", "max-age=60")], body=body,
                      pace=(piece, WINDOW + 1.0))
        first = [p.client_on(workers[0], timeout=30)]
        fout, fdone = [None], [None]
        fth = fetch_all(first, "/wake/grow", fout, fdone)
        tap.ok(wait_until(lambda: sc.seen >= 1, 5), "the fetch reached the backend")
        time.sleep(0.3)         # the head and first piece are stored
        conns = [p.client_on(w, timeout=30) for w in workers for _ in range(2)]
        out, done = [None] * len(conns), [None] * len(conns)
        th = fetch_all(conns, "/wake/grow", out, done)
        time.sleep(0.3)         # they sent what is stored and wait for more
        n = count_during(workers, WINDOW - 0.3)
        tap.diag("voluntary context switches per worker over %.1f s: %r" % (WINDOW - 0.3, n))
        tap.ok(all(v is not None and v <= MAX_SWITCHES for v in n.values()),
               "while 4 followers wait for the next piece, no worker wakes up more "
               "than %d times (no polling)" % MAX_SWITCHES, repr(n))
        for t in fth + th:
            t.join(30)
        good = [r for r in out if not isinstance(r, Exception) and r.status == 200
                and r.body == body]
        tap.is_(len(good), 4, "all 4 followers get the whole object",
                repr([cs(r) if not isinstance(r, Exception) else r for r in out]))
        late = [round(d - fdone[0], 3) for d in done if d is not None]
        tap.ok(fdone[0] is not None and len(late) == 4 and max(late) < 1.0,
               "... within 1 s of the fetcher's own answer", repr(late))
        tap.is_(sc.seen, 1, "... from one backend fetch")

    with subtest_guard("after a binary upgrade, the new workers are woken too"):
        workers = upgrade(p)
        tap.is_(len(workers), 2, "two new workers")
        body = pattern_bytes(20000)
        sc = b.script("/wake/up", headers=[("Cache-Control", "max-age=60")], body=body,
                      delay=WINDOW + 2.0)
        first = [p.client_on(workers[0], timeout=30)]
        fout, fdone = [None], [None]
        fth = fetch_all(first, "/wake/up", fout, fdone)
        tap.ok(wait_until(lambda: sc.seen >= 1, 5), "the fetch reached the backend")
        conns = [p.client_on(w, timeout=30) for w in workers for _ in range(2)]
        out, done = [None] * len(conns), [None] * len(conns)
        th = fetch_all(conns, "/wake/up", out, done)
        time.sleep(0.4)
        n = count_during(workers, WINDOW)
        tap.diag("voluntary context switches per worker over %.1f s: %r" % (WINDOW, n))
        tap.ok(all(v is not None and v <= MAX_SWITCHES for v in n.values()),
               "while 4 collapsed misses wait, no new worker wakes up more than %d times"
               % MAX_SWITCHES, repr(n))
        for t in fth + th:
            t.join(30)
        good = [r for r in out if not isinstance(r, Exception) and r.status == 200
                and r.body == body and "collapsed" in cs(r)]
        tap.is_(len(good), 4, "all 4 get the object, collapsed",
                repr([cs(r) if not isinstance(r, Exception) else r for r in out]))
        late = [round(d - fdone[0], 3) for d in done if d is not None]
        tap.ok(fdone[0] is not None and len(late) == 4 and max(late) < 1.0,
               "... within 1 s of the fetcher's own answer", repr(late))

    p.stop()


if __name__ == "__main__":
    main(test, timeout=150, tests=20)
