#!/usr/bin/env python3
# Binary upgrade (USR2) with the state handed over, under load: a new
# master starts from the same binary with the listening sockets and the
# shared memory of the old one; WINCH makes the old workers finish, QUIT
# the old master leave.  Load runs through it all (keep-alive and new
# connections) with no failed request; the first request after the
# upgrade is a cache hit on an object stored before it (the backend is not
# asked again); a server marked down before is still down right after,
# before any probe of the new checker could have said so; the pid file
# names the new master, PIDFILE.oldbin is gone.
import os
import re
import signal
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from portico_test import (tap, main, Backend, Portico, Load, subtest_guard, wait_until,
                          become_subreaper, cache_section, cs, CS_HIT, CS_STORED, pid_alive)


def state_lines(p, upstream, addr, what):
    rx = re.compile(r"upstream %s server %s: %s \(" % (re.escape(upstream), re.escape(addr),
                                                       what))
    return [l for l in p.error_log().splitlines() if rx.search(l)]


def test():
    become_subreaper()
    b = Backend("b1")
    h1, h2 = Backend("h1"), Backend("h2")
    # h2 fails one probe: down; it needs 5 passed probes 2 s apart to be
    # up again, so for 8 s at least after a checker starts only the state
    # kept in shared memory can say whether it is down.
    p = Portico(upstreams={
        "app": [b.addr],
        "hc": dict(servers=[h1.addr, h2.addr], health_check="GET /healthz",
                   health_interval="2s", health_timeout="1s", health_fall="1",
                   health_rise="5", max_fails="0"),
    }, routes=[
        dict(name="cached", path="/c/", upstream="app", cache="on"),
        dict(name="hc", path="/hc/", upstream="hc"),
        dict(name="main", path="/", upstream="app"),
    ], workers=2, extra=cache_section(size="16m"))
    h2.script("/healthz", status=503, body=b"not yet\n")
    p.start()
    old = p.master_pid
    old_workers = p.workers()

    with subtest_guard("state before the upgrade"):
        b.script("/c/obj", headers=[("Cache-Control", "max-age=300")], body=b"cached object\n")
        r1 = p.get("/c/obj")
        tap.like(cs(r1), CS_STORED, "an object is stored in the cache")
        tap.like(cs(p.get("/c/obj")), CS_HIT, "... and is a hit")
        tap.ok(wait_until(lambda: state_lines(p, "hc", h2.addr, "down"), 10),
               "h2 is marked down by its failed probe", p.error_log()[-2000:])
        h2.script("/healthz", status=200, body=b"fine now\n")
        tap.is_(b.hits("/c/obj"), 1, "the backend was asked once")

    load = Load(p.port, "/load", threads=6, check=lambda r: r.body == b"backend b1 /load\n")
    tap.ok(wait_until(lambda: load.total() >= 100, 20), "load is running", repr(load.errors))

    with subtest_guard("USR2"):
        new = p.upgrade(30)
        tap.ok(new, "USR2: a new master comes up and writes the pid file",
               p.error_log()[-3000:])
        tap.ok(new and os.getppid() != new and
               os.path.exists("/proc/%d" % old) and p.read_pid() == new,
               "... while the old master stays (pid file names the new one)")
        tap.is_(read(p.pid_file + ".oldbin"), "%d" % old, "the old pid file is PIDFILE.oldbin")
        tap.ok(re.search(r"\] %d master: binary upgrade: taking over from master %d"
                         % (new or -1, old), p.error_log()),
               "the new master logs whom it takes over from")
        tap.like(p.error_log(), r"\] %d master: binary upgrade: kept the cache \(1 objects\)"
                 % (new or -1), "... that it kept the cache")

    with subtest_guard("WINCH"):
        p.signal("WINCH")
        gone = wait_until(lambda: not any(pid_alive(w) for w in old_workers), 20)
        tap.ok(gone, "WINCH: the old workers finish and exit", p.error_log()[-3000:])
        tap.ok(os.path.exists("/proc/%d" % old) and not p.workers(),
               "... no new worker replaces them; the old master stays",
               repr(p.workers()))

    with subtest_guard("state after the upgrade"):
        r = p.get("/c/obj")
        tap.like(cs(r), CS_HIT, "the first request after the upgrade is a cache hit", repr(cs(r)))
        tap.is_(r.body, b"cached object\n", "... with the stored body")
        tap.ok(r.header("Age") is not None, "... and an Age", repr(r.header("Age")))
        tap.is_(b.hits("/c/obj"), 1, "... the backend was not asked again")
        backends = [p.get("/hc/x").header("X-Backend") for _ in range(8)]
        tap.is_(backends, ["h1"] * 8, "a server down before the upgrade is still down after",
                repr(backends))
        tap.is_(state_lines(p, "hc", h2.addr, "up"), [],
                "... and no probe had brought it back up yet")

    with subtest_guard("QUIT"):
        p.signal("QUIT")
        code = p.follow(new)
        tap.is_(code, 0, "QUIT: the old master exits with status 0")
        tap.ok(not os.path.exists(p.pid_file + ".oldbin"), "PIDFILE.oldbin is removed")
        tap.is_(p.read_pid(), new, "the pid file names the new master")
        n = load.total()
        tap.ok(wait_until(lambda: load.total() >= n + 100, 20),
               "the load goes on through the new master's workers")
        ok, failed, retried = load.stop()
        tap.is_(failed, 0, "no failed request during the upgrade (%d answered, %d sent again "
                "on a new connection after an idle keep-alive close)" % (ok, retried),
                "\n".join(load.errors))
        tap.ok(ok >= 300, "... out of many (%d)" % ok)
        tap.is_(len(p.workers()), 2, "the new master runs its 2 workers")
        tap.is_(p.get("/load").status, 200, "and serves")
    p.stop()


def read(path):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None


main(test, timeout=150, tests=27)
