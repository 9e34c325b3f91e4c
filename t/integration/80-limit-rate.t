#!/usr/bin/env python3
# Request rate limits ([limit NAME] with a rate, on routes by limit =),
# counted across the workers in shared memory: a request over the rate
# and burst gets 429 with Retry-After from portico and never reaches the
# backend, whichever worker it lands on; burst with nodelay lets the
# burst through at once; without nodelay the burst is delayed (the
# answer comes at least the rate's interval later) and the worker serves
# others meanwhile; dry_run lets everything through but counts and logs;
# the hits are in the status JSON and /metrics per limit.
import os
import socket
import sys
import threading
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from portico_test import tap, main, Backend, Portico, subtest_guard, get, wait_until

LIMITS = """
[limit strict]
key = header:X-Key
rate = 1/m

[limit nb]
key = header:X-Key
rate = 1/m
burst = 3
nodelay = on

[limit slow]
key = header:X-Key
rate = 1/m
burst = 5
max_delay = 2m

[limit pace]
key = header:X-Key
rate = 4/s
burst = 5

[limit dry]
key = addr
rate = 1/m
dry_run = on
"""


def test():
    b = Backend("b1")
    routes = [
        dict(name="status", path="/status", handler="status"),
        dict(name="strict", path="/strict/", upstream="app", limit="strict"),
        dict(name="nb", path="/nb/", upstream="app", limit="nb"),
        dict(name="slow", path="/slow/", upstream="app", limit="slow"),
        dict(name="pace", path="/pace/", upstream="app", limit="pace"),
        dict(name="dry", path="/dry/", upstream="app", limit="dry"),
        dict(name="main", path="/", upstream="app"),
    ]
    p = Portico(upstreams={"app": [b.addr]}, routes=routes, workers=2, extra=LIMITS)
    p.start()
    w = p.workers()
    tap.is_(len(w), 2, "two workers")

    def on(pid, target, key=None):
        c = p.client_on(pid)
        try:
            return c.request("GET", target, [("X-Key", key)] if key else None)
        finally:
            c.close()

    def status():
        return get(p.port, "/status").json()

    with subtest_guard("over the rate: 429 with Retry-After, from any worker"):
        r1 = on(w[0], "/strict/1", "k1")
        tap.is_(r1.status, 200, "the first request of the key passes (worker 1)")
        r2 = on(w[1], "/strict/2", "k1")
        tap.is_(r2.status, 429, "the second, on the other worker, gets 429")
        ra = r2.header("Retry-After")
        tap.ok(ra is not None and ra.isdigit() and 1 <= int(ra) <= 60,
               "429 has Retry-After in seconds (1..60 for 1/m)", ra)
        tap.is_(b.requests_for("/strict/2"), [], "the backend never sees the 429'd request")
        r3 = on(w[0], "/strict/3", "k1")
        tap.is_(r3.status, 429, "a third on the first worker: 429 too")
        tap.is_(on(w[1], "/strict/4", "k2").status, 200, "another key has its own bucket")
        tap.is_([get(p.port, "/strict/n%d" % i).status for i in range(3)], [200] * 3,
                "no X-Key: the limit does not apply")
        js = status()
        tap.is_(js["limits"]["strict"]["rejected"], 2, "status JSON: strict rejected 2")
        tap.ok(js["limits"]["strict"]["passed"] >= 2, "status JSON: strict passed counted")
        m = get(p.port, "/status/metrics").body.decode()
        tap.like(m, r'(?m)^portico_limit_rejected_total\{limit="strict"\} 2$',
                 "/metrics: portico_limit_rejected_total per limit")
        tap.ok(p.wait_log(r"client 127\.0\.0\.1: limit strict: over the rate and burst: "
                          r"rejected"), "the rejection is logged at info")

    with subtest_guard("burst with nodelay"):
        got = [on(w[i % 2], "/nb/%d" % i, "kb").status for i in range(4)]
        tap.is_(got, [200] * 4, "rate 1/m + burst 3, nodelay: 4 pass, across workers")
        tap.is_(on(w[0], "/nb/4", "kb").status, 429, "the 5th is beyond the burst: 429")
        tap.is_(len(b.requests_for("/nb/4")), 0, "... and not forwarded")
        tap.is_(status()["limits"]["nb"]["delayed"], 0, "nodelay: nothing was delayed")

    with subtest_guard("delay within the burst, the worker serving others"):
        t0 = time.monotonic()
        res = []

        def one(i):
            r = get(p.port, "/pace/%d" % i, headers=[("X-Key", "kp")])
            res.append((r.status, time.monotonic() - t0))
        ts = [threading.Thread(target=one, args=(i,)) for i in range(3)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(20)
        tap.is_(sorted(s for s, _ in res), [200] * 3, "rate 4/s burst 5: all three pass")
        last = max(t for _, t in res) if res else 0
        tap.ok(last >= 0.4, "the third is answered at least 0.4 s later (delays 0, "
               "0.25, 0.5 s)", "%.3f s" % last)
        tap.ok(status()["limits"]["pace"]["delayed"] >= 2, "status JSON: pace delayed >= 2")

        # rate 1/m: the second request of a key waits a minute, parked.
        tap.is_(on(w[0], "/slow/1", "ks").status, 200, "slow: the first passes")
        c = p.client_on(w[0])
        c.send(b"GET /slow/2 HTTP/1.1\r\nHost: x\r\nX-Key: ks\r\n\r\n")
        tap.ok(wait_until(lambda: status()["limits"]["slow"]["delayed"] == 1, 5),
               "the second is delayed")
        t1 = time.monotonic()
        r = on(w[0], "/other", None)
        tap.is_(r.status, 200, "the same worker answers another request meanwhile")
        tap.ok(time.monotonic() - t1 < 5, "... at once, not after the delay")
        c.sock.settimeout(0.5)
        try:
            early = c.sock.recv(100)
        except socket.timeout:
            early = None
        tap.is_(early, None, "the delayed request has no answer yet")
        c.close()
        tap.ok(p.wait_log(r"closed the connection while its request was delayed"),
               "the client's abort during the delay is seen and logged")
        tap.is_(b.requests_for("/slow/2"), [], "the aborted request never reaches the backend")

    with subtest_guard("dry_run: all pass, counted and logged"):
        time.sleep(1.1)     # the limit log lines are once a second at most
        got = [on(w[i % 2], "/dry/%d" % i).status for i in range(3)]
        tap.is_(got, [200] * 3, "dry_run: every request passes")
        tap.is_(len(b.requests_for("/dry/0")) + len(b.requests_for("/dry/1")) +
                len(b.requests_for("/dry/2")), 3, "... and reaches the backend")
        js = status()
        tap.is_(js["limits"]["dry"]["dry_run"], 2, "status JSON: 2 would have been rejected")
        tap.is_(js["limits"]["dry"]["rejected"], 0, "... and none was")
        tap.ok(p.wait_log(r"limit dry: over the rate and burst \(dry run: let through\)"),
               "the dry-run hit is logged")
        m = get(p.port, "/status/metrics").body.decode()
        tap.like(m, r'(?m)^portico_limit_dry_run_total\{limit="dry"\} 2$',
                 "/metrics: portico_limit_dry_run_total")
    p.stop()


if __name__ == "__main__":
    main(test, timeout=120, tests=33)
