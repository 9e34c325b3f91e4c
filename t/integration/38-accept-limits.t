#!/usr/bin/env python3
# Accept under pressure (issue 9, items 13 and 14).
#  - Out of file descriptors (the worker's RLIMIT_NOFILE lowered with
#    prlimit, more idle connections than fds): the worker pauses accepting
#    instead of spinning on the listener: little CPU over 2 s, at most a
#    handful of "out of file descriptors" lines; after the idle
#    connections close it serves again.
#  - Over worker_connections: the connection gets a 503 and a prompt
#    close, a (rate-limited) log line, and connections_refused in the
#    status JSON and /metrics.
import json
import os
import resource
import socket
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from portico_test import (tap, main, Backend, Portico, Client, subtest_guard, wait_until,
                          PeerClosed)

FD_LIMIT = 32
IDLE = 60


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # utime and stime are fields 14 and 15 of stat(5); [0] here is field 3.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test():
    b = Backend("b1")

    with subtest_guard("out of file descriptors"):
        # user = root: lowering a worker's limit with prlimit(2) needs the
        # worker to be ours (a non-dumpable worker of another user is not).
        p = Portico(upstreams={"app": [b.addr]}, workers=1, global_opts={"user": "root"})
        p.start()
        w = p.workers()[0]
        tap.is_(p.get("/before").status, 200, "serves before")
        resource.prlimit(w, resource.RLIMIT_NOFILE, (FD_LIMIT, FD_LIMIT))
        idle = []
        for _ in range(IDLE):
            idle.append(socket.create_connection(("127.0.0.1", p.port), timeout=5))
        tap.ok(p.wait_log(r"accept.*(Too many open files|out of file descriptors)", 5) is not None,
               "the worker ran out of fds", p.error_log()[-2000:])
        c0 = cpu_seconds(w)
        time.sleep(2)
        used = cpu_seconds(w) - c0
        tap.ok(used < 0.5, "worker CPU time over 2 s while out of fds: %.2f s (< 0.5)" % used)
        n = len([l for l in p.error_log().splitlines() if "accept" in l])
        tap.ok(n <= 6, "at most a handful of accept lines in the log: %d" % n,
               p.error_log()[-1500:])
        for s in idle:
            s.close()
        ok = wait_until(lambda: _status(p) == 200, 10, 0.2)
        tap.ok(ok, "after the idle connections close it serves again")
        p.stop()

    with subtest_guard("over worker_connections"):
        p = Portico(upstreams={"app": [b.addr]}, workers=1,
                    global_opts={"worker_connections": "4"},
                    routes=[dict(name="status", path="/_portico/", handler="status"),
                            dict(name="main", path="/", upstream="app")])
        p.start()
        b.reset()
        held = []
        for i in range(4):
            c = Client(p.port)
            r = c.request("GET", "/held/%d" % i)
            tap.is_(r.status, 200, "connection %d of 4 served and kept open" % (i + 1))
            held.append(c)
        got = []
        for i in range(3):
            t0 = time.monotonic()
            c = Client(p.port, timeout=5)
            try:
                c.send(b"GET /over HTTP/1.1\r\nHost: h\r\n\r\n")
                data = c.read_all_until_close(5)
            except (OSError, PeerClosed) as e:
                data = ("error: %s" % e).encode()
            finally:
                c.close()
            got.append((time.monotonic() - t0, data))
        tap.ok(all(t < 3 for t, _ in got), "each refused connection is closed promptly",
               str([round(t, 2) for t, _ in got]))
        tap.ok(any(d.startswith(b"HTTP/1.1 503 ") for _, d in got),
               "a refused plain-HTTP client gets a 503", str([d[:40] for _, d in got]))
        tap.ok(p.wait_log(r"connection refused: worker_connections \(4\) reached", 5)
               is not None, "the refusal is logged", p.error_log()[-1500:])
        n = len([l for l in p.error_log().splitlines() if "worker_connections (4)" in l])
        tap.ok(1 <= n <= 3, "... at most once a second: %d lines for 3 refusals" % n)
        tap.is_(b.count(), 4, "no refused request reached the backend")
        for c in held:
            c.close()

        def status():
            try:
                r = p.get("/_portico/status")
                return r if r.status == 200 else None
            except OSError:
                return None
        r = wait_until(status, 10, 0.2)
        doc = json.loads(r.body) if r else {}
        tap.ok(doc.get("connections_refused", 0) >= 3,
               "status JSON: connections_refused = %s" % doc.get("connections_refused"))
        r = p.get("/_portico/metrics")
        m = [l for l in r.body.decode().splitlines()
             if l.startswith("portico_connections_refused_total ")]
        tap.ok(m and int(m[0].split()[1]) >= 3, "metrics: %s" % m)
        p.stop()


def _status(p):
    try:
        return p.get("/after", timeout=3).status
    except OSError:
        return None


if __name__ == "__main__":
    main(test, timeout=90)
