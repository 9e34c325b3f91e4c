#!/usr/bin/env python3
# portico -s upgrade: the whole binary upgrade from the command line (USR2,
# wait until the new master is up, WINCH and QUIT to the old one) and its
# exit status: 0 when the new master serves and the old one is gone; 1 when
# the new binary does not come up (with the reason from the error log, the
# old master serving on), when the configuration would be refused (nothing
# is signalled), when an upgrade is already under way, or when no master
# runs.
import os
import re
import shutil
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from portico_test import (tap, main, Backend, Portico, subtest_guard, wait_until,
                          become_subreaper, require_binary, run_portico)


def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test():
    become_subreaper()
    b = Backend("b1")
    p = Portico(upstreams={"app": [b.addr]}, workers=2)
    bindir = os.path.join(p.tmp, "bin")
    os.mkdir(bindir)
    exe = os.path.join(bindir, "portico")
    shutil.copy2(require_binary(), exe)
    p.start(exe=exe)
    good_config = p.config_text()
    ctl = ["-c", p.config_path, "-s", "upgrade"]

    with subtest_guard("success"):
        old = p.master_pid
        rc, out, err = run_portico(ctl, timeout=90)
        tap.is_(rc, 0, "-s upgrade: exit status 0", err)
        m = re.search(r"^portico: upgraded: master (\d+) replaced master %d$" % old, out, re.M)
        tap.ok(m, "... says which master replaced which", out + err)
        new = int(m.group(1)) if m else None
        tap.ok(new and not alive(old), "... the old master is gone when it returns")
        if new:
            p.new_masters.append(new)
            tap.is_(p.follow(new), 0, "... it exited with status 0")
        tap.is_(p.read_pid(), new, "the pid file names the new master")
        tap.ok(not os.path.exists(p.pid_file + ".oldbin"), "no PIDFILE.oldbin left")
        tap.ok(len(p.workers()) == 2 and p.get("/x").status == 200,
               "the new master's workers serve")

    with subtest_guard("a binary that does not start"):
        master = p.master_pid
        workers = sorted(p.workers())
        with open(exe + ".new", "w") as f:
            f.write("#!/bin/sh\nexit 1\n")
        os.chmod(exe + ".new", 0o755)
        os.rename(exe + ".new", exe)
        rc, out, err = run_portico(ctl, timeout=90)
        tap.is_(rc, 1, "-s upgrade to a broken binary: exit status 1", out + err)
        tap.like(err, r"portico: upgrade failed: the new binary did not come up; master %d "
                 r"keeps serving" % master, "... says the old master keeps serving")
        tap.like(err, r"portico: upgrade failed: the new binary exited before it was up; the "
                 r"new master \(pid \d+\) exited with status 1",
                 "... with the reason the master logged")
        tap.ok(alive(master) and sorted(p.workers()) == workers and
               p.get("/x").status == 200 and p.read_pid() == master,
               "... and it does: same master, same workers, its pid file")
        shutil.copy2(require_binary(), exe)

    with subtest_guard("a configuration the master would refuse"):
        p.write_config(good_config.replace("workers = 2", "workers = -1"))
        at = len(p.error_log())
        rc, out, err = run_portico(ctl, timeout=30)
        tap.is_(rc, 1, "-s upgrade with a bad configuration: exit status 1")
        tap.like(err, r"portico\.ini:\d+: bad workers", "... FILE:LINE: why")
        tap.unlike(p.error_log()[at:], r"upgrade", "... the master saw no upgrade")
        p.write_config(good_config)

    with subtest_guard("an upgrade under way"):
        new = p.upgrade(30)
        tap.ok(new, "USR2 by hand: a new master is up")
        rc, out, err = run_portico(ctl, timeout=30)
        tap.is_(rc, 1, "-s upgrade while the old master is still there: exit status 1")
        tap.like(err, r"an upgrade is under way: the old master %d" % p.master_pid,
                 "... says so")
        p.signal("QUIT")
        tap.is_(p.follow(new), 0, "QUIT ends that upgrade")

    with subtest_guard("no master"):
        p.stop()
        rc, out, err = run_portico(ctl, timeout=30)
        tap.is_(rc, 1, "-s upgrade without a running master: exit status 1")
        tap.like(err, r"cannot open pid file", "... says why")


main(test, timeout=240, tests=21)
