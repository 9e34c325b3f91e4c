#!/usr/bin/env python3
# Process titles, as ps(1) shows them (/proc/PID/cmdline): "portico:
# master (COMMAND LINE)", "portico: worker N" (N as in the master's
# "started worker N" log line), "portico: checker", "portico: worker N
# (old, draining)" for a worker a reload retired while it finishes a
# request, "portico: worker N (shutting down)" at QUIT.  The environment
# the title overwrites still reaches the master (its error log path).
import os
import re
import sys
import threading

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from portico_test import (tap, main, Backend, Portico, Client, subtest_guard,
                          wait_until, proc_comm)


def title(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read().split(b"\0")[0].decode("utf-8", "replace")
    except OSError:
        return None


def slow_request(p, target):
    out = {}

    def run():
        try:
            with Client(p.port, timeout=30) as c:
                out["resp"] = c.request("GET", target)
        except Exception as e:
            out["error"] = e
    th = threading.Thread(target=run, daemon=True)
    th.start()
    return th, out


def test():
    b = Backend("b1")
    p = Portico(upstreams={"app": {"servers": [b.addr], "health_check": "GET /",
                                   "health_interval": "200ms"}},
                workers=2, name="portico-titles")
    p.start()
    with subtest_guard("titles"):
        tap.like(title(p.master_pid), r"^portico: master \(\S*portico -F -c %s\)$"
                 % re.escape(p.config_path), "master: portico: master (its command line)")
        slots = dict((int(m.group(2)), int(m.group(1))) for m in
                     re.finditer(r"started worker (\d+) \(pid (\d+)\)", p.error_log()))
        ws = p.workers()
        tap.is_(sorted(title(w) for w in ws),
                sorted("portico: worker %d" % slots.get(w, -1) for w in ws),
                "workers: portico: worker N, N as logged")
        ck = wait_until(p.checker, 10)
        tap.is_(title(ck) if ck else None, "portico: checker", "checker: portico: checker")
        tap.is_(proc_comm(ck) if ck else None, "portico-checker", "... its comm unchanged")

    with subtest_guard("draining"):
        sc = b.script("/slow", body=b"done", delay=8)
        old = p.workers()
        th, out = slow_request(p, "/slow")
        wait_until(lambda: sc.seen >= 1, 10)
        tap.ok(p.reload(workers_n=2), "reload while a request is in flight")
        left = [w for w in old if os.path.exists("/proc/%d" % w)]
        tap.ok(len(left) >= 1 and all(re.fullmatch(r"portico: worker \d+ \(old, draining\)",
                                                   title(w) or "") for w in left),
               "the old workers (one finishing a request): portico: worker N (old, draining)",
               repr([(w, title(w)) for w in left]))
        new = [w for w in p.workers() if w not in old]
        tap.ok(len(new) == 2 and all(re.fullmatch(r"portico: worker \d+", title(w) or "")
                                     for w in new), "the new ones: portico: worker N",
               repr([title(w) for w in new]))
        th.join(30)
        tap.is_(out.get("resp").status if out.get("resp") else None, 200,
                "... and the request completes")

    with subtest_guard("shutting down"):
        wait_until(lambda: len(p.workers()) == 2, 20)
        th, out = slow_request(p, "/slow")
        wait_until(lambda: sc.seen >= 2, 10)
        p.signal("QUIT")
        got = wait_until(lambda: [title(w) for w in p.workers()
                                  if "shutting down" in (title(w) or "")], 10)
        tap.ok(got and re.fullmatch(r"portico: worker \d+ \(shutting down\)", got[0]),
               "at QUIT: portico: worker N (shutting down)", repr(got))
        th.join(30)
        tap.ok(p.wait_exit(20) and p.exit_code == 0, "... and the master exits 0")
    p.stop()
    b.stop()


main(test, timeout=120, tests=11)
