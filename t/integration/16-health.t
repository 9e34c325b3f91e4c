#!/usr/bin/env python3
# Health checks: the checker process.  An HTTP probe takes a killed backend
# out under continuous load (no failed request, one "down (" line) and
# brings it back on the same port; all servers down -> 503 + Retry-After,
# then 200 again; a tcp probe on a refused port; passive checks only
# (max_fails within fail_timeout, up again when fail_timeout is over);
# health_body mismatch; probes go on while the workers are busy; the
# checker is restarted when it dies and replaced on reload, with the state
# kept.
import os
import re
import signal
import sys
import threading
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from portico_test import (tap, main, Backend, Portico, subtest_guard, wait_until,
                          refused_port, pid_alive, proc_children)

INTERVAL = 0.3          # health_interval of the probed upstreams, seconds


class Load:
    """One thread doing GETs in a loop through portico until stopped."""

    def __init__(self, p, prefix):
        self.p = p
        self.prefix = prefix
        self.stop_ev = threading.Event()
        self.lock = threading.Lock()
        self.seen = []          # (time, backend)
        self.failures = []
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def run(self):
        i = 0
        while not self.stop_ev.is_set():
            i += 1
            try:
                r = self.p.get("%s/echo/%d" % (self.prefix, i), timeout=5)
                with self.lock:
                    if r.status == 200:
                        self.seen.append((time.monotonic(), r.header("X-Backend")))
                    else:
                        self.failures.append("request %d: status %s" % (i, r.status))
            except Exception as e:
                with self.lock:
                    self.failures.append("request %d: %s: %s" % (i, type(e).__name__, e))
            time.sleep(0.005)

    def since(self, t0):
        with self.lock:
            return [b for t, b in self.seen if t >= t0]

    def stop(self):
        self.stop_ev.set()
        self.t.join(10)


def state_lines(p, upstream, addr, what):
    rx = re.compile(r"upstream %s server %s: %s \(" % (re.escape(upstream), re.escape(addr),
                                                       what))
    return [l for l in p.error_log().splitlines() if rx.search(l)]


def wait_state(p, upstream, addr, what, timeout, n=1):
    return wait_until(lambda: len(state_lines(p, upstream, addr, what)) >= n, timeout)


def test():
    ba, bb = Backend("ba"), Backend("bb")
    bc = Backend("bc")
    bd = Backend("bd")
    be = Backend("be")
    bf = Backend("bf")
    bs = Backend("bs")
    dead_tcp = "127.0.0.1:%d" % refused_port()
    dead_pas = "127.0.0.1:%d" % refused_port()
    probe = {"health_interval": "300ms", "health_timeout": "250ms",
             "health_rise": "2", "health_fall": "3", "max_fails": "0"}
    p = Portico(upstreams={
        "app": dict(probe, servers=[ba.addr, bb.addr], health_check="GET /healthz"),
        "solo": dict(probe, servers=[bc.addr], health_check="GET /healthz",
                     health_fall="2"),
        "tcp": dict(probe, servers=[dead_tcp, bd.addr], health_check="tcp",
                    health_fall="2"),
        "pas": {"servers": [dead_pas, bd.addr], "max_fails": "2", "fail_timeout": "2s"},
        "body": dict(probe, servers=[be.addr], health_check="GET /healthz",
                     health_body="I am healthy", health_fall="2"),
        "bodyok": dict(probe, servers=[be.addr], health_check="HEAD /healthz",
                       health_body="never looked at for HEAD"),
        "bodyok2": dict(probe, servers=[be.addr], health_check="GET /healthz",
                        health_body="backend be /healthz", health_status="200"),
        "busy": dict(probe, servers=[bf.addr], health_check="GET /healthz",
                     health_fall="2"),
        "slow": {"servers": [bs.addr], "max_fails": "0", "read_timeout": "30s"},
    }, routes=[
        dict(name="app", path="/", upstream="app"),
        dict(name="solo", path="/solo/", upstream="solo"),
        dict(name="tcp", path="/tcp/", upstream="tcp"),
        dict(name="pas", path="/pas/", upstream="pas"),
        dict(name="body", path="/body/", upstream="body"),
        dict(name="bodyok", path="/bodyok/", upstream="bodyok"),
        dict(name="bodyok2", path="/bodyok2/", upstream="bodyok2"),
        dict(name="busy", path="/busy/", upstream="busy"),
        dict(name="hold", path="/hold/", upstream="slow"),
    ], workers=2, global_opts={"worker_connections": "1000"})
    p.start()

    with subtest_guard("checker process"):
        line = p.wait_log(r"started checker \(pid \d+\)", 5)
        tap.ok(line, "the master started a checker process", p.error_log()[-2000:])
        cpid = int(re.search(r"pid (\d+)", line).group(1)) if line else None
        tap.ok(cpid is not None and cpid in proc_children(p.master_pid),
               "the checker is a child of the master", "%r %r" % (cpid, p.workers()))
        comm = open("/proc/%d/comm" % cpid).read().strip() if cpid else None
        tap.is_(comm, "portico-checker", "... named portico-checker (/proc/PID/comm, ps)")
        tap.ok(p.wait_log(r"\] %d checker: started: \d+ servers to watch" % (cpid or -1), 3),
               "the checker logs under its own role and pid ('PID checker: started: ...')",
               p.error_log()[-2000:])

    with subtest_guard("tcp check"):
        tap.ok(wait_state(p, "tcp", dead_tcp, "down", INTERVAL * 2 + 2),
               "tcp check: the refused server is marked down", p.error_log()[-2000:])
        lines = state_lines(p, "tcp", dead_tcp, "down")
        tap.ok(lines and "connect refused" in lines[0] and "2 probes failed" in lines[0],
               "... the line says why: 2 probes failed: connect refused", repr(lines))
        tap.is_(state_lines(p, "tcp", bd.addr, "down"), [], "... the live server stays up")

    with subtest_guard("health_body"):
        tap.ok(wait_state(p, "body", be.addr, "down", INTERVAL * 2 + 2),
               "health_body not in the answer: down", p.error_log()[-2000:])
        lines = state_lines(p, "body", be.addr, "down")
        tap.like(lines[0] if lines else "", r"2 probes failed: 200 OK, body mismatch",
                 "... 'body' in the log line")
        tap.is_(state_lines(p, "bodyok", be.addr, "down") +
                state_lines(p, "bodyok2", be.addr, "down"), [],
                "HEAD probe (body not read) and a matching body: up")

    with subtest_guard("HTTP check: a backend killed under load"):
        load = Load(p, "")
        wait_until(lambda: set(load.since(0)) >= {"ba", "bb"}, 10)
        before = set(load.since(0))
        tap.is_(before, {"ba", "bb"}, "before: traffic reaches both servers")
        port_a = ba.port
        t_kill = time.monotonic()
        ba.stop()
        got = wait_state(p, "app", ba.addr, "down", INTERVAL * 1.1 * 3 + 5)
        took = time.monotonic() - t_kill
        tap.ok(got, "killed server marked down within interval x fall (+ slack): %.2fs" % took,
               p.error_log()[-2000:])
        lines = state_lines(p, "app", ba.addr, "down")
        tap.like(lines[0] if lines else "", r"\[notice\].*down \(3 probes failed: connect refused\)",
                 "... one notice line with the reason")
        time.sleep(0.5)
        t_down = time.monotonic()
        time.sleep(0.7)
        after = load.since(t_down)
        tap.ok(after and set(after) == {"bb"}, "while down: only the live server gets traffic",
               repr(sorted(set(after))))
        ba2 = Backend("ba", port=port_a)
        t_back = time.monotonic()
        got = wait_state(p, "app", ba2.addr, "up", INTERVAL * 1.1 * 2 + 5)
        took = time.monotonic() - t_back
        tap.ok(got, "back on the same port: marked up after rise probes: %.2fs" % took,
               p.error_log()[-2000:])
        lines = state_lines(p, "app", ba2.addr, "up")
        tap.like(lines[0] if lines else "", r"\[notice\].*up \(2 probes passed\)",
                 "... one notice line: 2 probes passed")
        back = wait_until(lambda: ba2.count() > 0, 5)
        tap.ok(back, "traffic returns to it", repr(sorted(set(load.since(t_back)))))
        load.stop()
        tap.is_(load.failures, [], "zero failed client requests throughout")
        tap.is_(len(state_lines(p, "app", ba.addr, "down")), 1, "exactly one 'down (' line")
        tap.is_(len(state_lines(p, "app", bb.addr, "down")), 0, "none for the other server")

    with subtest_guard("all servers down"):
        tap.is_(p.get("/solo/echo/1").status, 200, "solo upstream: 200")
        port_c = bc.port
        bc.stop()
        tap.ok(wait_state(p, "solo", bc.addr, "down", INTERVAL * 1.1 * 2 + 5),
               "its only server is marked down")
        r = p.get("/solo/echo/2")
        tap.is_(r.status, 503, "every server of the upstream down: 503")
        tap.ok(r.header("Retry-After") is not None, "... with Retry-After", repr(r.headers))
        bc2 = Backend("bc", port=port_c)
        tap.ok(wait_state(p, "solo", bc2.addr, "up", INTERVAL * 1.1 * 2 + 5),
               "back: marked up")
        tap.is_(p.get("/solo/echo/3").status, 200, "recovery: 200")

    with subtest_guard("passive checks only"):
        t_start = time.monotonic()
        for i in range(6):
            p.get("/pas/echo/%d" % i)
        # Passive marks are soft: "failed" (avoided, but used if nothing else is up).
        got = wait_state(p, "pas", dead_pas, "failed", 5)
        tap.ok(got, "max_fails = 2 connect failures: the server is marked failed (passive)",
               p.error_log()[-2000:])
        lines = state_lines(p, "pas", dead_pas, "failed")
        tap.like(lines[0] if lines else "", r"failed \(2 failures within 2s: passive\)",
                 "... the line says so")
        if got:
            up = wait_state(p, "pas", dead_pas, "up", 10)
            took = time.monotonic() - t_start
            # From one side: not before fail_timeout (2 s) since the first
            # failing request; how much later depends on the machine's load.
            tap.ok(up and took >= 1.9,
                   "... and up again when fail_timeout (2 s) is over (%.2f s after the "
                   "first failure)" % took)
            lines = state_lines(p, "pas", dead_pas, "up")
            tap.like(lines[0] if lines else "", r"up \(fail_timeout over\)", "... logged so")
        else:
            tap.ok(False, "... up again when fail_timeout is over (never went down)")
        tap.is_(state_lines(p, "pas", bd.addr, "down"), [], "the live server stays up")

    with subtest_guard("probes while the workers are busy"):
        held = []

        def slow():
            try:
                held.append(p.get("/hold/slow/6", timeout=20).status)
            except Exception as e:
                held.append(repr(e))
        ths = [threading.Thread(target=slow, daemon=True) for _ in range(40)]
        for t in ths:
            t.start()
        n_hold = lambda: sum(1 for r in list(bs.requests) if r["target"].startswith("/hold/"))
        wait_until(lambda: n_hold() >= 40, 10)
        t0 = time.monotonic()
        bf.stop()
        got = wait_state(p, "busy", bf.addr, "down", INTERVAL * 1.1 * 2 + 5)
        took = time.monotonic() - t0
        busy = len(held) < 40
        tap.ok(got and busy,
               "with 40 slow requests in flight, a stopped server is still marked down "
               "in %.2fs" % took, "done early: %d" % len(held))
        for t in ths:
            t.join(15)
        tap.is_(held, [200] * 40, "the slow requests all ended 200")

    with subtest_guard("checker restart"):
        line = p.wait_log(r"started checker \(pid \d+\)", 1)
        cpid = int(re.search(r"pid (\d+)", line).group(1))
        p.expect_checker_death(cpid, signal.SIGKILL)
        os.kill(cpid, signal.SIGKILL)
        tap.ok(p.wait_log(r"checker \(pid %d\) killed by signal 9" % cpid, 3),
               "a killed checker is logged")
        again = wait_until(lambda: len(re.findall(r"started checker \(pid \d+\)",
                                                  p.error_log())) >= 2, 5)
        tap.ok(again, "... and started again")
        time.sleep(INTERVAL * 4)
        tap.is_(len(state_lines(p, "tcp", dead_tcp, "down")), 1,
                "the state survives: no second 'down (' line for a server still down")

    with subtest_guard("reload"):
        n0 = len(re.findall(r"started checker \(pid \d+\)", p.error_log()))
        pids = [int(x) for x in re.findall(r"started checker \(pid (\d+)\)", p.error_log())]
        p.reload()
        tap.ok(wait_until(lambda: len(re.findall(r"started checker \(pid \d+\)",
                                                 p.error_log())) > n0, 5),
               "reload: a new checker is started")
        tap.ok(p.wait_log(r"checker \(pid %d\) exited" % pids[-1], 5),
               "... and the old one stopped")
        tap.ok(wait_until(lambda: not pid_alive(pids[-1]), 3), "... it is gone")
        time.sleep(INTERVAL * 4)
        tap.is_(len(state_lines(p, "tcp", dead_tcp, "down")), 1,
                "state kept across the reload: still one 'down (' line")
        tap.is_(p.get("/tcp/echo/1").status, 200, "the upstream with a down server serves")

    p.stop()
    tap.unlike(p.error_log(), r"checker.*(killed by signal (?!9)|exited with status)",
               "the checker never died on its own")


if __name__ == "__main__":
    main(test, timeout=90, tests=43)
