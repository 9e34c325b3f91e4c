#!/usr/bin/env python3
# Binary upgrade that does not go through, and roll back: when the new
# binary cannot start (a broken binary, a missing one, a configuration it
# refuses, a listen address it cannot bind) the old master logs "upgrade
# failed: WHY; the new master (pid N) exited with status S", keeps its pid
# file and its workers, and serves on.  WINCH without a new master is
# ignored.  HUP after WINCH rolls back: the old master starts its workers
# again and the new master quits; a new master that dies after WINCH makes
# the old one start its workers again too.
import os
import re
import shutil
import signal
import socket
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from portico_test import (tap, main, Backend, Portico, subtest_guard, wait_until,
                          become_subreaper, require_binary, free_port)


def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def failed_line(p, after):
    """The old master's "upgrade failed" line logged after offset after."""
    return wait_until(lambda: re.search(r"\] %d master: upgrade failed: (.*)$"
                                        % p.master_pid, p.error_log()[after:], re.M), 20)


def still_serving(p, workers, what):
    tap.ok(alive(p.master_pid) and sorted(p.workers()) == sorted(workers) and
           p.get("/x").status == 200,
           "%s: the old master and its workers serve on" % what,
           "workers %r, before %r" % (p.workers(), workers))
    tap.ok(p.read_pid() == p.master_pid and not os.path.exists(p.pid_file + ".oldbin"),
           "%s: its pid file is back, no PIDFILE.oldbin" % what)


def test():
    become_subreaper()
    b = Backend("b1")
    p = Portico(upstreams={"app": [b.addr]}, workers=2)
    bindir = os.path.join(p.tmp, "bin")
    os.mkdir(bindir)
    exe = os.path.join(bindir, "portico")
    shutil.copy2(require_binary(), exe)
    p.start(exe=exe)
    workers = p.workers()
    good_config = p.config_text()

    with subtest_guard("WINCH without an upgrade"):
        p.signal("WINCH")
        tap.ok(p.wait_log(r"ignoring WINCH: no new binary's master runs", 5),
               "WINCH without a new master is ignored, and says so")
        tap.ok(sorted(p.workers()) == sorted(workers) and p.get("/x").status == 200,
               "... the workers serve on")

    with subtest_guard("a broken binary"):
        with open(exe + ".new", "w") as f:
            f.write("#!/bin/sh\necho 'this binary is broken' >&2\nexit 1\n")
        os.chmod(exe + ".new", 0o755)
        os.rename(exe + ".new", exe)
        at = len(p.error_log())
        p.signal("USR2")
        m = failed_line(p, at)
        tap.ok(m and re.search(r"the new master \(pid \d+\) exited with status 1: the old "
                               r"master keeps serving", m.group(1)),
               "a binary that exits 1: 'upgrade failed', with the pid and exit status",
               p.error_log()[at:])
        still_serving(p, workers, "broken binary")

    with subtest_guard("a missing binary"):
        os.unlink(exe)
        at = len(p.error_log())
        p.signal("USR2")
        m = failed_line(p, at)
        tap.ok(m and ("cannot execute %s: No such file or directory" % exe) in m.group(1) and
               "exited with status 127" in m.group(1),
               "a missing binary: 'upgrade failed: cannot execute PATH: No such file ...; "
               "... exited with status 127'", p.error_log()[at:])
        still_serving(p, workers, "missing binary")

    shutil.copy2(require_binary(), exe)
    with subtest_guard("a configuration the new binary refuses"):
        p.write_config(good_config.replace("workers = 2", "workers = many"))
        at = len(p.error_log())
        p.signal("USR2")
        m = failed_line(p, at)
        tap.ok(m and re.search(r"^%s:\d+: .*workers.*; the new master \(pid \d+\) exited "
                               r"with status 1" % re.escape(p.config_path), m.group(1)),
               "a bad configuration: 'upgrade failed: FILE:LINE: what is wrong; ... status 1'",
               p.error_log()[at:])
        still_serving(p, workers, "bad configuration")

    with subtest_guard("a listen address the new binary cannot bind"):
        busy = socket.socket()
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        p.write_config(good_config.replace("listen = 127.0.0.1:%d" % p.port,
                                           "listen = 127.0.0.1:%d\nlisten = 127.0.0.1:%d"
                                           % (p.port, port)))
        at = len(p.error_log())
        p.signal("USR2")
        m = failed_line(p, at)
        tap.ok(m and re.search(r"^cannot listen on 127\.0\.0\.1:%d: Address already in use; "
                               r"the new master \(pid \d+\) exited with status 1" % port,
                               m.group(1)),
               "an address in use: 'upgrade failed: cannot listen on ...: Address already "
               "in use; ...'", p.error_log()[at:])
        still_serving(p, workers, "address in use")
        busy.close()
        p.write_config(good_config)

    with subtest_guard("HUP rolls back"):
        new = p.upgrade(30)
        tap.ok(new, "a good binary: the new master is up", p.error_log()[-3000:])
        at = len(p.error_log())
        p.signal("USR2")
        tap.ok(p.wait_log(r"\] %d master: upgrade: ignoring USR2: the new master \(pid %d\) "
                          r"is still there" % (p.master_pid, new or -1), 5),
               "a second USR2 while the new master is there is ignored, and says so")
        p.signal("WINCH")
        tap.ok(wait_until(lambda: not any(alive(w) for w in workers), 20),
               "WINCH: the old workers exit")
        p.signal("HUP")
        tap.ok(wait_until(lambda: len(p.workers()) == 2, 20) and
               p.wait_log(r"\] %d master: upgrade: workers started again: 2" % p.master_pid, 5),
               "HUP: the old master starts its workers again", p.error_log()[at:])
        tap.ok(wait_until(lambda: not alive(new), 20) and
               p.wait_log(r"\] %d master: upgrade: the new master \(pid %d\) exited with "
                          r"status 0 after the roll back" % (p.master_pid, new), 5),
               "... and the new master quits", p.error_log()[at:])
        p.new_masters.remove(new)
        tap.ok(p.read_pid() == p.master_pid and not os.path.exists(p.pid_file + ".oldbin"),
               "... the pid file names the old master again")
        tap.is_(p.get("/x").status, 200, "... which serves")
        workers = p.workers()

    with subtest_guard("the new master dies after WINCH"):
        new = p.upgrade(30)
        tap.ok(new, "another upgrade: the new master is up")
        p.signal("WINCH")
        tap.ok(wait_until(lambda: not any(alive(w) for w in workers), 20),
               "WINCH: the old workers exit")
        at = len(p.error_log())
        os.kill(new, signal.SIGKILL)
        tap.ok(p.wait_log(r"\] %d master: upgrade: the new master \(pid %d\) was killed by "
                          r"signal 9: this master \(pid %d\) serves on"
                          % (p.master_pid, new, p.master_pid), 10),
               "the old master sees the new one die and says so", p.error_log()[at:])
        p.new_masters.remove(new)
        tap.ok(wait_until(lambda: len(p.workers()) == 2, 20) and
               wait_until(lambda: p.get("/x").status == 200, 10),
               "... starts its workers again and serves")
        tap.ok(p.read_pid() == p.master_pid, "... with its pid file back")
    p.stop()


main(test, timeout=180, tests=27)
