#!/usr/bin/env python3
# systemd notification (the sd_notify datagram protocol) and `-s reload`:
# with NOTIFY_SOCKET set to a datagram socket the test binds, the master
# sends READY=1 only once its workers accept (a request made on it is
# answered), RELOADING=1 with MONOTONIC_USEC then READY=1 around a HUP,
# READY=1 with a STATUS naming the failure after a reload it refused (the
# old workers keep serving), STOPPING=1 at QUIT and TERM.  `portico -s reload`
# waits for the outcome: 0 and "reloaded" for a good config, 1 and the
# reason for one the master could not apply (a listen address in use).
import os
import re
import signal
import socket
import sys
import threading
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from portico_test import (tap, main, Backend, Portico, get, run_portico,
                          subtest_guard, wait_until, free_port)


class Notify:
    """The service manager's end: a datagram socket recording each message
    with what the test saw at that moment."""

    def __init__(self, path, on_ready=None):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.sock.settimeout(0.2)
        self.msgs = []          # (monotonic usec at receipt, {key: value}, extra)
        self.lock = threading.Lock()
        self.on_ready = on_ready
        self.stop_ev = threading.Event()
        self.th = threading.Thread(target=self.run, daemon=True)
        self.th.start()

    def run(self):
        while not self.stop_ev.is_set():
            try:
                data = self.sock.recv(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            kv = dict(l.split("=", 1) for l in data.decode().split("\n") if "=" in l)
            extra = None
            if kv.get("READY") == "1" and self.on_ready is not None:
                try:
                    extra = self.on_ready()
                except Exception as e:
                    extra = e
            with self.lock:
                self.msgs.append((time.clock_gettime(time.CLOCK_MONOTONIC) * 1e6, kv, extra))

    def wait(self, pred, start=0, timeout=20):
        """The first message from index start on that pred accepts: (i, kv, extra)."""
        def find():
            with self.lock:
                for i in range(start, len(self.msgs)):
                    if pred(self.msgs[i][1]):
                        return (i,) + self.msgs[i][1:]
            return None
        return wait_until(find, timeout)

    def count(self):
        with self.lock:
            return len(self.msgs)

    def close(self):
        self.stop_ev.set()
        self.th.join(2)
        self.sock.close()


def test():
    b = Backend("b1")
    p = Portico(upstreams={"app": [b.addr]}, workers=2, name="portico-notify")
    seen = {}

    def at_ready():
        # What a client and an operator see the moment READY=1 arrives.
        log = p.error_log()
        r = get(p.port, "/at-ready", timeout=5)
        return (log, r.status)

    n = Notify(os.path.join(p.tmp, "notify.sock"), at_ready)
    os.environ["NOTIFY_SOCKET"] = n.path
    try:
        p.start()
    finally:
        del os.environ["NOTIFY_SOCKET"]

    with subtest_guard("READY at start"):
        got = n.wait(lambda kv: kv.get("READY") == "1")
        tap.ok(got is not None, "READY=1 sent at start")
        i, kv, extra = got
        tap.ok(i == 0, "... as the first message", repr(n.msgs[:i + 1]))
        log, status = extra
        tap.like(log, r"master: portico \S+ started: 2 workers",
                 "... only after every worker said it is up (the master logged it)")
        tap.is_(status, 200, "... and a request made right then is answered")
        tap.is_(kv.get("STATUS"), "2 workers, generation 1, 0 failed reloads",
                "... with STATUS=\"2 workers, generation 1, 0 failed reloads\"")

    with subtest_guard("HUP"):
        start = n.count()
        before = time.clock_gettime(time.CLOCK_MONOTONIC) * 1e6
        p.reload(routes=[{"name": "main", "host": "*", "path": "/", "upstream": "app"},
                         {"name": "two", "host": "*", "path": "/two", "upstream": "app"}])
        rl = n.wait(lambda kv: kv.get("RELOADING") == "1", start)
        tap.ok(rl is not None, "HUP: RELOADING=1 sent")
        usec = int(rl[1].get("MONOTONIC_USEC", "0")) if rl else 0
        tap.ok(rl is not None and before <= usec <= n.msgs[rl[0]][0],
               "... with MONOTONIC_USEC= the CLOCK_MONOTONIC time of the reload",
               "before %d, sent %d, received %d" % (before, usec, n.msgs[rl[0]][0] if rl else 0))
        rd = n.wait(lambda kv: kv.get("READY") == "1", rl[0] + 1 if rl else start)
        tap.ok(rd is not None, "... then READY=1")
        tap.is_(rd[1].get("STATUS") if rd else None, "2 workers, generation 2, 0 failed reloads",
                "... with the new generation in STATUS")

    with subtest_guard("failed reload"):
        wait_until(lambda: len(p.workers()) == 2, 20)
        old = sorted(p.workers())
        start = n.count()
        good = p.write_config()
        p.write_config(good + "\n[route broken]\nupstream = nowhere\n")
        p.signal("HUP")
        rl = n.wait(lambda kv: kv.get("RELOADING") == "1", start)
        rd = n.wait(lambda kv: kv.get("READY") == "1", rl[0] + 1 if rl else start)
        tap.ok(rl is not None and rd is not None,
               "refused reload: RELOADING=1 then READY=1 (the old generation serves)")
        st = rd[1].get("STATUS", "") if rd else ""
        tap.like(st, r"^2 workers, generation 2, 1 failed reload; last reload failed: "
                 r".*portico\.ini:\d+: .*nowhere",
                 "... with a STATUS naming the failure (file:line)")
        tap.is_(sorted(p.workers()), old, "... the old workers are still there")
        tap.is_(get(p.port, "/two/x").status, 200, "... and keep serving")
        p.write_config(good)

    with subtest_guard("-s reload"):
        rc, out, err = run_portico(["-c", p.config_path, "-s", "reload"], timeout=60)
        tap.is_(rc, 0, "-s reload of a good config exits 0 once it is done")
        tap.like(out, r"reloaded: generation 3, 2 workers", "... and says so",
                 out + err)
        # A listen address in use by someone else: only the master finds out.
        busy = socket.socket()
        busy.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        p.listeners = {"web": ["127.0.0.1:%d" % p.port],
                       "extra": ["127.0.0.1:%d" % busy.getsockname()[1]]}
        p.write_config()
        # The workers the good reload retired may still be finishing.
        wait_until(lambda: len(p.workers()) == 2, 20)
        old = sorted(p.workers())
        rc, out, err = run_portico(["-c", p.config_path, "-s", "reload"], timeout=60)
        tap.is_(rc, 1, "-s reload that the master refuses exits 1")
        tap.like(err, r"reload failed: .*127\.0\.0\.1:%d.*[Aa]ddress already in use"
                 % busy.getsockname()[1], "... with the master's reason", err)
        tap.is_(sorted(p.workers()), old, "... and the running workers stay")
        tap.is_(get(p.port, "/").status, 200, "... serving")
        busy.close()
        tap.like(n.msgs[-1][1].get("STATUS", ""), r"generation 3, 2 failed reloads; "
                 r"last reload failed: .*in use", "... STATUS says so too")

    with subtest_guard("QUIT"):
        start = n.count()
        p.signal("QUIT")
        st = n.wait(lambda kv: kv.get("STOPPING") == "1", start)
        tap.ok(st is not None, "QUIT: STOPPING=1 sent")
        tap.ok(p.wait_exit(20) and p.exit_code == 0, "... and the master exits 0")
    p.stop()
    n.close()

    # A fast stop says so too.
    r = Portico(upstreams={"app": [b.addr]}, workers=1, name="portico-notify-term")
    m = Notify(os.path.join(r.tmp, "notify.sock"))
    os.environ["NOTIFY_SOCKET"] = m.path
    try:
        r.start()
    finally:
        del os.environ["NOTIFY_SOCKET"]
    with subtest_guard("TERM"):
        tap.is_(m.wait(lambda kv: kv.get("READY") == "1")[1].get("STATUS"),
                "1 worker, generation 1, 0 failed reloads", "one worker: READY=1, \"1 worker\"")
        start = m.count()
        r.signal("TERM")
        tap.ok(m.wait(lambda kv: kv.get("STOPPING") == "1", start) is not None,
               "TERM: STOPPING=1 sent")
    r.stop()
    m.close()

    # Without NOTIFY_SOCKET nothing changes (every other test runs so).
    q = Portico(upstreams={"app": [b.addr]}, workers=1, name="portico-nonotify")
    q.start()
    tap.is_(get(q.port, "/").status, 200, "without NOTIFY_SOCKET: serves as usual")
    q.stop()
    b.stop()


main(test, timeout=150, tests=28)
