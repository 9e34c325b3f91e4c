#!/usr/bin/env python3
# Signals: QUIT (graceful: in-flight request completes, master exits, pid
# file removed), TERM/INT (fast), a worker killed with SIGKILL is logged and
# replaced, WINCH without a binary upgrade ignored (USR2, the upgrade:
# 58-60).
import os
import signal
import sys
import threading
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from portico_test import (connect_refused, tap, main, Backend, Portico, Client, build_request, subtest_guard,
                          wait_until, PeerClosed, connection_tokens, pid_alive)


def background_request(port, target, timeout=15):
    out = {}

    def run():
        try:
            with Client(port, timeout=timeout) as c:
                out["resp"] = c.request("GET", target)
                out["closed_after"] = c.is_closed(2)
        except Exception as e:
            out["error"] = e
        out["t"] = time.monotonic()
    th = threading.Thread(target=run, daemon=True)
    th.start()
    return th, out


def test():
    b = Backend("b1")

    # --- SIGKILL of a worker
    p = Portico(upstreams={"app": [b.addr]}, name="portico-kill")
    p.start()
    with subtest_guard("worker killed"):
        old = p.workers()
        tap.is_(len(old), 2, "2 workers running")
        victim = old[0]
        p.expect_worker_death(victim, signal.SIGKILL)
        os.kill(victim, signal.SIGKILL)
        line = p.wait_log(r"killed by signal", 5)
        tap.like(line or "", r"killed by signal 9\b",
                 "worker killed with SIGKILL: 'killed by signal 9' logged")
        tap.like(line or "", r"\b%d\b" % victim, "... the line names the dead worker's pid")
        new = wait_until(lambda: len(p.workers()) == 2 and victim not in p.workers()
                         and p.workers(), 5)
        tap.ok(new, "a replacement worker was started", repr(p.workers()))
        tap.ok(new and len(set(new) - set(old)) == 1, "... exactly one new worker pid",
               "%r -> %r" % (old, new))
        got = [p.get("/echo/%d" % i).status for i in range(20)]
        tap.is_(got, [200] * 20, "requests keep being served after the kill")
        tap.is_(p.read_pid(), p.master_pid, "master unchanged")
    with subtest_guard("WINCH"):
        ws = p.workers()
        p.signal("WINCH")
        tap.ok(p.wait_log(r"ignoring WINCH: no new binary's master runs", 5),
               "WINCH without an upgrade: ignored, and logged")
        tap.ok(p.running() and p.workers() == ws, "WINCH: master and workers unchanged")
        tap.is_(p.get("/echo").status, 200, "... still serving")
    p.stop()

    # --- QUIT with an in-flight request
    p = Portico(upstreams={"app": [b.addr]}, global_opts={"shutdown_timeout": "10s"},
                name="portico-quit")
    p.start()
    with subtest_guard("QUIT"):
        idle = p.client()
        tap.is_(idle.request("GET", "/echo").status, 200, "idle keep-alive connection set up")
        n0 = b.count()
        th, out = background_request(p.port, "/slow/2")
        tap.ok(wait_until(lambda: b.count() > n0, 3), "in-flight /slow/2 reached the backend")
        workers = p.workers()
        t0 = time.monotonic()
        p.signal("QUIT")
        tap.ok(idle.is_closed(3), "QUIT: idle keep-alive connection closed")
        idle.close()
        tap.ok(wait_until(lambda: connect_refused(p.port), 2), "QUIT: listener closed (connect refused)")
        th.join(10)
        r = out.get("resp")
        tap.ok(r is not None and r.status == 200 and r.body == b"slow done\n",
               "QUIT: the in-flight request completed with 200", repr(out))
        tap.ok(r is not None and "close" in connection_tokens(r.headers),
               "QUIT: ... its answer carries Connection: close", repr(r and r.headers))
        exited = p.wait_exit(10)
        dt = time.monotonic() - t0
        tap.ok(exited, "QUIT: master exited", "after %.1f s" % dt)
        tap.ok(exited and dt >= 1.5, "QUIT: ... not before the in-flight request finished",
               "after %.2f s" % dt)
        tap.is_(p.exit_code, 0, "QUIT: exit status 0")
        tap.ok(not os.path.exists(p.pid_file), "QUIT: pid file removed")
        tap.ok(not any(pid_alive(w) for w in workers), "QUIT: no worker left")
    p.stop()

    # --- QUIT with a request longer than shutdown_timeout
    p = Portico(upstreams={"app": [b.addr]}, global_opts={"shutdown_timeout": "1s"},
                name="portico-quit-timeout")
    p.start()
    with subtest_guard("QUIT + shutdown_timeout"):
        n0 = b.count()
        th, out = background_request(p.port, "/slow/8")
        tap.ok(wait_until(lambda: b.count() > n0, 5), "in-flight /slow/8 reached the backend")
        # The worker still busy at shutdown_timeout is killed by the master.
        for w in p.workers():
            p.expect_worker_death(w, signal.SIGKILL, required=False)
        t0 = time.monotonic()
        p.signal("QUIT")
        exited = p.wait_exit(9)
        dt = time.monotonic() - t0
        tap.ok(exited and dt < 6.5, "QUIT, request longer than shutdown_timeout (1s): "
               "master exits within shutdown_timeout + 5 s", "after %.2f s" % dt)
        th.join(8)
        tap.ok(isinstance(out.get("error"), (PeerClosed, ConnectionResetError)),
               "... the unfinished request's connection was closed", repr(out))
        tap.ok(not os.path.exists(p.pid_file), "... pid file removed")
    p.stop()

    # --- TERM: fast
    for sig in ("TERM", "INT"):
        p = Portico(upstreams={"app": [b.addr]}, global_opts={"shutdown_timeout": "10s"},
                    name="portico-%s" % sig.lower())
        p.start()
        with subtest_guard(sig):
            n0 = b.count()
            th, out = background_request(p.port, "/slow/8")
            tap.ok(wait_until(lambda: b.count() > n0, 5),
                   "%s: the in-flight /slow/8 reached the backend" % sig)
            workers = p.workers()
            t0 = time.monotonic()
            p.signal(sig)
            exited = p.wait_exit(12)
            dt = time.monotonic() - t0
            # At once: before the in-flight request (8 s) could end and well
            # before shutdown_timeout (10 s); only this side is bounded, as
            # an exit under LeakSanitizer takes its time on a loaded machine.
            tap.ok(exited and dt < 6, "%s: master exits without waiting for the "
                   "in-flight request" % sig, "after %.2f s" % dt)
            tap.is_(p.exit_code, 0, "%s: exit status 0" % sig)
            tap.ok(not os.path.exists(p.pid_file), "%s: pid file removed" % sig)
            th.join(12)
            # A refused connect would mean the request never was in flight.
            tap.ok(isinstance(out.get("error"), (PeerClosed, ConnectionResetError)),
                   "%s: in-flight request's connection closed without an answer" % sig, repr(out))
            tap.ok(not any(pid_alive(w) for w in workers), "%s: no worker left" % sig)
        p.stop()


main(test, timeout=60, tests=42)
