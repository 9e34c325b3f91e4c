#!/usr/bin/env python3
# A request rate limit holds across 4 workers: with rate = 10/s, burst 0
# and nodelay, eight keep-alive connections pinned two to each worker send
# requests of one key as fast as they can for a bounded time; the number
# of 200s stays within what the rate allows for the elapsed time (bounded
# from above, with a small tolerance, and from below only by "some"), the
# rest are 429s, and the backend sees exactly the requests that passed.
# Also: the hardened front-door example of README.md's "Security" section
# (between its security-example markers) is accepted by portico -t, so
# the README cannot drift from the keys portico knows.
import os
import re
import sys
import tempfile
import threading
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from portico_test import tap, main, Backend, Portico, subtest_guard, get, run_portico

RATE = 10
RUN = 2.0

LIMITS = """
[limit ten]
key = header:X-Key
rate = %d/s
burst = 0
nodelay = on
""" % RATE


TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# An htpasswd line (SHA-crypt, "openssl passwd -6 -salt abcdefgh secret").
HTLINE = ("alice:$6$abcdefgh$ltjgWl6579NluT/Vi1nwEvcil.G5Nbc4NiXZaNGStk8PSwGfQv72N2"
          "CKPPrVACtLtip/cZ/1GM/O6IND4WQhG.\n")


def readme_example():
    """The hardened front-door config in README.md, between its markers."""
    with open(os.path.join(TOP, "README.md")) as f:
        text = f.read()
    m = re.search(r"<!-- security-example begin -->\n```ini\n(.*?)```\n"
                  r"<!-- security-example end -->", text, re.S)
    return m.group(1) if m else None


def test_readme():
    with subtest_guard("README's hardened front door loads"):
        cfg = readme_example()
        tap.ok(cfg is not None and "[limit " in cfg and "waf = on" in cfg,
               "README.md has the example between its markers")
        if not os.path.exists("/usr/share/modsecurity-crs/rules"):
            tap.skip("the OWASP CRS (modsecurity-crs) is not installed")
            return
        tmp = tempfile.mkdtemp(prefix="portico-t-")
        with open(os.path.join(tmp, "admin.htpasswd"), "w") as f:
            f.write(HTLINE)
        # Only the two files under /etc/portico move to the test directory.
        cfg = cfg.replace("/etc/portico/admin.htpasswd", os.path.join(tmp, "admin.htpasswd"))
        cfg = cfg.replace("/etc/portico/waf-crs.conf", os.path.join(TOP, "etc", "waf-crs.conf"))
        path = os.path.join(tmp, "front.ini")
        with open(path, "w") as f:
            f.write(cfg)
        rc, out, err = run_portico(["-t", "-c", path], timeout=60)
        tap.is_(rc, 0, "portico -t accepts the README's front door", out + err)
        for n in os.listdir(tmp):
            os.unlink(os.path.join(tmp, n))
        os.rmdir(tmp)


def test():
    test_readme()
    b = Backend("b1")
    routes = [
        dict(name="status", path="/status", handler="status"),
        dict(name="ten", path="/ten/", upstream="app", limit="ten"),
    ]
    p = Portico(upstreams={"app": [b.addr]}, routes=routes, workers=4, extra=LIMITS)
    p.start()
    w = p.workers()
    tap.is_(len(w), 4, "four workers")

    with subtest_guard("rate 10/s, burst 0, nodelay over 4 workers"):
        conns = [p.client_on(w[i % 4]) for i in range(8)]
        tap.is_(sorted(set(p.worker_of(c) for c in conns)), sorted(w),
                "the eight connections are spread over all four workers")
        counts = {}
        errors = []
        lock = threading.Lock()
        go = threading.Event()

        def hammer(i, c):
            n = 0
            go.wait()
            try:
                while time.monotonic() < stop:
                    r = c.request("GET", "/ten/%d-%d" % (i, n), [("X-Key", "one")])
                    n += 1
                    with lock:
                        counts[r.status] = counts.get(r.status, 0) + 1
            except Exception as e:      # noqa: BLE001 (reported below)
                errors.append(repr(e))

        ts = [threading.Thread(target=hammer, args=(i, c)) for i, c in enumerate(conns)]
        for t in ts:
            t.start()
        t0 = time.monotonic()
        stop = t0 + RUN
        go.set()
        for t in ts:
            t.join(30)
        elapsed = time.monotonic() - t0
        for c in conns:
            c.close()
        tap.is_(errors, [], "no connection failed")
        ok, limited = counts.get(200, 0), counts.get(429, 0)
        tap.is_(sorted(counts), [200, 429], "only 200s and 429s", counts)
        # A leaky bucket of 10/s with no burst lets one request through at
        # once and then one per 100 ms: at most rate * elapsed + 1; 2 more
        # as tolerance for the clock steps at the ends.
        allowed = RATE * elapsed + 1 + 2
        tap.ok(ok <= allowed, "200s within the rate's allowance over %.2f s "
               "(at most %.1f)" % (elapsed, allowed), "%d passed, %d limited" % (ok, limited))
        tap.ok(ok >= 2, "some requests pass", "%d passed" % ok)
        tap.ok(limited > ok, "most of the flood gets 429", "%d limited" % limited)
        hits = sum(1 for r in b.requests if r["target"].startswith("/ten/"))
        tap.is_(hits, ok, "the backend saw exactly the requests that passed")
        js = get(p.port, "/status").json()
        tap.is_(js["limits"]["ten"]["rejected"], limited, "status JSON counts every 429")
    p.stop()


if __name__ == "__main__":
    main(test, timeout=90, tests=12)
