#!/usr/bin/env python3
# A wrong user or group must never take the site down.  user = nosuchuser
# and group = nosuchgroup: -t fails naming file:line, a start fails non-zero
# with the reason on stderr (foreground and daemonizing), a reload (HUP and
# -s reload) is refused while the old workers keep answering.  A generation
# that fails only after the fork (a master without CAP_SETUID, as in a
# hardened systemd unit, asked for user = nobody): the reload keeps the old
# workers serving without a gap and never respawns the failing ones; at
# start the master exits non-zero and says why.
import os
import re
import signal
import stat
import subprocess
import sys
import threading
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from portico_test import (tap, main, Backend, Portico, subtest_guard, wait_until,
                          run_portico, require_binary, pid_alive, get)

NO_SETUID = ["setpriv", "--inh-caps=-setuid", "--bounding-set=-setuid"]


def line_of(text, key):
    for i, l in enumerate(text.split("\n")):
        if l.startswith(key + " ="):
            return i + 1
    return 0


def wrapper(tmp):
    """A script that runs portico without CAP_SETUID (pid and exe stay portico's)."""
    path = os.path.join(tmp, "portico-nosetuid")
    with open(path, "w") as f:
        f.write("#!/bin/sh\nexec %s %s \"$@\"\n" % (" ".join(NO_SETUID), require_binary()))
    os.chmod(path, 0o755)
    return path


def start_with(p, exe):
    old = os.environ.get("PORTICO")
    os.environ["PORTICO"] = exe
    try:
        p.start()
    finally:
        os.environ["PORTICO"] = old


class Hammer:
    """Requests in a loop on new connections; remembers every failure."""

    def __init__(self, port):
        self.port, self.stop, self.n, self.bad = port, False, 0, []
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def run(self):
        while not self.stop:
            try:
                st = get(self.port, "/h", timeout=5).status
                if st != 200:
                    self.bad.append(st)
            except Exception as e:
                self.bad.append(repr(e))
            self.n += 1
            time.sleep(0.01)

    def end(self):
        self.stop = True
        self.t.join(10)
        return self.n, self.bad


def test():
    if os.geteuid() != 0:
        tap.ok(True, "# SKIP not root")
        return
    b = Backend("b1")
    exe = require_binary()

    # --- nosuchuser / nosuchgroup, seen before anything forks
    for key, opts in (("user", {"user": "nosuchuser"}),
                      ("group", {"user": "nobody", "group": "nosuchgroup"})):
        what = opts[key]
        with subtest_guard("%s = %s" % (key, what)):
            q = Portico(upstreams={"app": [b.addr]}, global_opts=opts, name="q-" + what)
            text = q.write_config()
            loc = re.escape("%s:%d:" % (q.config_path, line_of(text, key)))
            rc, out, err = run_portico(["-t", "-c", q.config_path])
            tap.ok(rc != 0, "%s = %s: -t fails" % (key, what), "out=%r" % out)
            tap.like(err, loc + r" unknown %s %s" % (key, what),
                     "%s = %s: -t says 'file:line: unknown %s %s'" % (key, what, key, what))
            for args, how in ((["-F"], "in the foreground"), ([], "daemonizing")):
                sp = subprocess.run([exe] + args + ["-c", q.config_path], capture_output=True,
                                    timeout=20, stdin=subprocess.DEVNULL)
                err = sp.stderr.decode("utf-8", "replace")
                tap.ok(sp.returncode != 0, "%s = %s: a start %s exits non-zero"
                       % (key, what, how), "rc=%s" % sp.returncode)
                tap.like(err, loc + r" unknown %s %s" % (key, what),
                         "%s = %s: ... with file:line and the reason on stderr" % (key, what))
                if sp.returncode == 0:     # an unfixed build: stop what it left
                    pid = q.read_pid()
                    if pid:
                        os.kill(pid, signal.SIGTERM)
                        wait_until(lambda: not pid_alive(pid), 5)
            tap.ok(q.read_pid() is None, "%s = %s: no pid file" % (key, what))
            q.cleanup()

    with subtest_guard("reload to a wrong user and group"):
        p = Portico(upstreams={"app": [b.addr]}, name="portico-reload")
        p.start()
        for opts, key in (({"user": "nosuchuser"}, "user"),
                          ({"user": "nobody", "group": "nosuchgroup"}, "group")):
            what = opts[key]
            old = sorted(p.workers())
            h = Hammer(p.port)
            p.global_opts.update(opts)
            text = p.write_config()
            loc = re.escape("%s:%d:" % (p.config_path, line_of(text, key)))
            rc, out, err = run_portico(["-s", "reload", "-c", p.config_path])
            tap.ok(rc != 0, "%s = %s: -s reload exits non-zero" % (key, what))
            tap.like(err, loc + r" unknown %s" % key, "... naming file:line")
            p.signal("HUP")
            line = p.wait_log(loc + r" unknown %s %s" % (key, what), 5)
            tap.ok(line, "%s = %s: HUP: the master logs file:line: unknown %s" % (key, what, key),
                   p.error_log()[-1500:])
            time.sleep(1)
            n, bad = h.end()
            tap.ok(p.running(), "%s = %s: the master is still running" % (key, what))
            tap.is_(sorted(p.workers()), old, "%s = %s: the old workers are still there"
                    % (key, what))
            tap.ok(n > 0 and not bad, "%s = %s: all %d requests during the reload answered 200"
                   % (key, what, n), repr(bad[:5]))
            tap.is_(get(p.port, "/after").status, 200, "... and after it")
            for k in opts:
                del p.global_opts[k]
            p.write_config()
        p.stop()

    # --- a generation that fails after the fork
    with subtest_guard("new workers that cannot come up"):
        p = Portico(upstreams={"app": [b.addr]}, global_opts={"user": "root"},
                    name="portico-nosetuid")
        start_with(p, wrapper(p.tmp))
        p.allow_worker_exit(2)      # the new generation's workers, on purpose
        old = sorted(p.workers())
        tap.is_(len(old), 2, "without CAP_SETUID, user = root: 2 workers up")
        h = Hammer(p.port)
        time.sleep(0.3)
        p.global_opts["user"] = "nobody"
        p.write_config()
        rc, out, err = run_portico(["-t", "-c", p.config_path])
        tap.is_(rc, 0, "user = nobody: -t passes (nobody exists; the capability is missing)")
        p.signal("HUP")
        line = p.wait_log(r"new workers did not come up: .*nobody", 10)
        tap.ok(line, "the master logs why the new workers did not come up", p.error_log()[-2000:])
        tap.like(line or "", r"Operation not permitted", "... with the worker's own reason")
        tap.ok(p.wait_log(r"old workers keep serving", 5), "... and that the old ones keep serving")
        time.sleep(1.5)
        n, bad = h.end()
        tap.ok(p.running(), "the master is still running")
        tap.ok(wait_until(lambda: sorted(p.workers()) == old, 10),
               "the old workers are the ones left", "%r -> %r" % (old, p.workers()))
        tap.ok(n > 0 and not bad, "all %d requests before, during and after the failed reload "
               "answered 200" % n, repr(bad[:5]))
        started = len(re.findall(r"started worker", p.error_log()))
        time.sleep(1.5)
        tap.is_(len(re.findall(r"started worker", p.error_log())), started,
                "no failing worker is started again")
        # The master still reloads a good config.
        p.global_opts["user"] = "root"
        p.global_opts["workers"] = "3"
        p.workers_n = 3
        p.write_config()
        o = set(p.workers())
        p.signal("HUP")
        tap.ok(wait_until(lambda: len(set(p.workers()) - o) >= 3 and not (set(p.workers()) & o),
                          10), "a good config after it reloads: 3 new workers, old ones gone",
               repr(p.workers()))
        tap.is_(get(p.port, "/good").status, 200, "and serves")
        p.stop()

    with subtest_guard("start with workers that cannot come up"):
        q = Portico(upstreams={"app": [b.addr]}, global_opts={"user": "nobody"},
                    name="q-nosetuid")
        w = wrapper(q.tmp)
        for args, how in ((["-F"], "in the foreground"), ([], "daemonizing")):
            sp = subprocess.run([w] + args + ["-c", q.config_path], capture_output=True,
                                timeout=40, stdin=subprocess.DEVNULL)
            err = sp.stderr.decode("utf-8", "replace")
            tap.ok(sp.returncode not in (0, None), "a start %s exits non-zero" % how,
                   "rc=%s" % sp.returncode)
            tap.like(err, r"workers did not come up: cannot change to user nobody.*"
                     r"Operation not permitted", "... with the reason on stderr")
            if sp.returncode == 0:
                pid = q.read_pid()
                if pid:
                    os.kill(pid, signal.SIGTERM)
                    wait_until(lambda: not pid_alive(pid), 5)
            tap.ok(q.read_pid() is None, "... and no pid file left")
            tap.ok(not any(q.config_path in open("/proc/%s/cmdline" % d, "rb").read().decode(
                "utf-8", "replace") for d in os.listdir("/proc") if d.isdigit()
                and os.path.exists("/proc/%s/cmdline" % d)),
                "... and no process left")
        q.cleanup()


main(test, timeout=150)
