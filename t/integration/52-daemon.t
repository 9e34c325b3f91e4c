#!/usr/bin/env python3
# Daemonizing start and -s.  `portico -c X` returns only once the daemon is
# up: the pid file names the master, the listener answers, every worker is
# up (ten starts in a row); a daemon that fails after the fork makes the
# starting command exit non-zero with the daemon's reason.  `-s` signals
# only a portico master: a pid file naming an unrelated process (a sleep)
# or a worker is refused with a clear error and nothing is signalled.
import os
import re
import signal
import subprocess
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from portico_test import (tap, main, Backend, Portico, subtest_guard, wait_until,
                          run_portico, require_binary, pid_alive, get, register,
                          proc_children)


class Daemon:
    """Stops a daemon started here whatever happens."""

    def __init__(self):
        self.pids = set()
        register(self)

    def cleanup(self):
        for pid in self.pids:
            try:
                os.kill(pid, signal.SIGTERM)
            except OSError:
                continue
            wait_until(lambda: not pid_alive(pid), 5)


def exe_of(pid):
    try:
        return os.path.basename(os.readlink("/proc/%d/exe" % pid))
    except OSError:
        return None


def test():
    b = Backend("b1")
    exe = require_binary()
    d = Daemon()
    p = Portico(upstreams={"app": [b.addr]}, workers=2, name="portico-daemon")

    with subtest_guard("ten daemonizing starts"):
        fails = []
        for i in range(10):
            if os.path.exists(p.pid_file):
                os.unlink(p.pid_file)
            sp = subprocess.run([exe, "-c", p.config_path], capture_output=True, timeout=40,
                                stdin=subprocess.DEVNULL)
            # Everything below is looked at the moment the command returned.
            pid = p.read_pid()
            kids = proc_children(pid) if pid else []
            if pid:
                d.pids.add(pid)
            why = []
            if sp.returncode != 0:
                why.append("rc=%s %r" % (sp.returncode, sp.stderr))
            if pid is None:
                why.append("no pid file")
            elif exe_of(pid) != os.path.basename(exe):
                why.append("pid %s runs %s" % (pid, exe_of(pid)))
            elif len(kids) < 2:
                why.append("%d workers" % len(kids))
            if not why:
                st = get(p.port, "/d%d" % i, timeout=5).status
                if st != 200:
                    why.append("status %s" % st)
            if why:
                fails.append("start %d: %s" % (i, ", ".join(why)))
            if pid:
                rc, out, err = run_portico(["-s", "stop", "-c", p.config_path])
                if rc != 0:
                    fails.append("start %d: -s stop: %s" % (i, err))
                if not wait_until(lambda: not pid_alive(pid), 10):
                    fails.append("start %d: master %d did not stop" % (i, pid))
            else:
                # An unfixed build writes it later: stop that one too.
                late = wait_until(p.read_pid, 3)
                if late:
                    d.pids.add(late)
                    os.kill(late, signal.SIGTERM)
                    wait_until(lambda: not pid_alive(late), 5)
        tap.ok(not fails, "each of 10 daemonizing starts returned 0 with the pid file written, "
               "the master named in it, its workers up and a request answered",
               "\n".join(fails))

    with subtest_guard("a daemon that fails after the fork"):
        pdir = os.path.join(p.tmp, "piddir")
        os.mkdir(pdir)
        q = Portico(upstreams={"app": [b.addr]}, global_opts={"pid_file": pdir},
                    name="q-piddir")
        sp = subprocess.run([exe, "-c", q.config_path], capture_output=True, timeout=40,
                            stdin=subprocess.DEVNULL)
        err = sp.stderr.decode("utf-8", "replace")
        tap.ok(sp.returncode != 0, "pid_file naming a directory: the start exits non-zero",
               "rc=%s" % sp.returncode)
        tap.like(err, r"cannot write pid file %s" % re.escape(pdir),
                 "... with the daemon's reason on stderr")
        tap.ok(wait_until(lambda: not get_ok(q.port), 5), "... and nothing is left listening")
        q.cleanup()

    with subtest_guard("-s and a pid file naming something else"):
        p.start()
        sleeper = subprocess.Popen(["sleep", "60"], start_new_session=True)

        class _K:
            def cleanup(self):
                sleeper.kill()
                sleeper.wait()
        register(_K())
        workers = sorted(p.workers())
        with open(p.pid_file, "w") as f:
            f.write("%d\n" % sleeper.pid)
        for sig in ("reload", "stop", "quit", "reopen"):
            rc, out, err = run_portico(["-s", sig, "-c", p.config_path])
            tap.ok(rc != 0, "-s %s with a sleep's pid in the pid file exits non-zero" % sig)
            tap.like(err, r"process %d .* is not a portico master.*sleep.*not signalling"
                     % sleeper.pid, "... and says the process is not a portico master")
        time.sleep(0.3)
        tap.ok(sleeper.poll() is None, "the sleep was not signalled")
        w = workers[0]
        with open(p.pid_file, "w") as f:
            f.write("%d\n" % w)
        rc, out, err = run_portico(["-s", "stop", "-c", p.config_path])
        tap.ok(rc != 0 and re.search(r"not a portico master", err),
               "-s stop with a worker's pid is refused too", "rc=%s err=%r" % (rc, err))
        time.sleep(0.3)
        tap.is_(sorted(p.workers()), workers, "... and the worker was not stopped")
        with open(p.pid_file, "w") as f:
            f.write("%d\n" % p.master_pid)
        rc, out, err = run_portico(["-s", "reload", "-c", p.config_path])
        tap.is_(rc, 0, "-s reload with the master's pid works")
        tap.ok(wait_until(lambda: not (set(p.workers()) & set(workers))
                          and len(p.workers()) == 2, 10), "... and reloads")
        p.stop()


def get_ok(port):
    try:
        return get(port, "/", timeout=2).status == 200
    except Exception:
        return False


main(test, timeout=150)
