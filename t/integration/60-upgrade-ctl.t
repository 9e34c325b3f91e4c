#!/usr/bin/env python3
# portico -s upgrade: the whole binary upgrade from the command line (USR2,
# wait until the new master is up, WINCH and QUIT to the old one) and its
# exit status: 0 when the new master serves and the old one is gone; 1 when
# the new binary does not come up (with the reason from the error log, the
# old master serving on), when the configuration would be refused (nothing
# is signalled), when an upgrade is already under way, when the master does
# not take USR2 (an older version: here, a stopped one), or when no master
# runs.  TLS sessions made before the upgrade resume after it (the ticket
# keys are handed over), TLS 1.3 and 1.2.
import os
import re
import shutil
import signal
import ssl
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from portico_test import (tap, main, Backend, Portico, subtest_guard, wait_until,
                          become_subreaper, require_binary, run_portico, free_port)
from portico_tls import Certs, TLSClient, TLSPortico, client_ctx, have_openssl


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

    with subtest_guard("a master that does not take USR2"):
        os.kill(p.master_pid, signal.SIGSTOP)
        try:
            rc, out, err = run_portico(ctl, timeout=60)
        finally:
            os.kill(p.master_pid, signal.SIGCONT)
        tap.is_(rc, 1, "-s upgrade to a master that does not start an upgrade: exit status 1")
        tap.like(err, r"master %d did not start an upgrade \(a version without binary "
                 r"upgrade\?\); nothing changed" % p.master_pid, "... says so")
        # It takes the USR2 once it runs again: let that upgrade finish.
        new = wait_until(lambda: p.read_pid() != p.master_pid and p.read_pid(), 30)
        if new:
            p.new_masters.append(new)
            tap.ok(p.wait_log(r"\] %d master: portico \S+ started:" % new, 30),
                   "(the late USR2 then starts a new master)")
            p.signal("QUIT")
            tap.is_(p.follow(new), 0, "(which takes over)")
        else:
            tap.ok(False, "(the late USR2 then starts a new master)")
            tap.ok(False, "(which takes over)")

    with subtest_guard("an upgrade under way"):
        new = p.upgrade(30)
        tap.ok(new, "USR2 by hand: a new master is up")
        rc, out, err = run_portico(ctl, timeout=30)
        tap.is_(rc, 1, "-s upgrade while the old master is still there: exit status 1")
        tap.like(err, r"an upgrade is under way: the old master %d" % p.master_pid,
                 "... says so")
        p.signal("QUIT")
        tap.is_(p.follow(new), 0, "QUIT ends that upgrade")

    with subtest_guard("TLS sessions resume across the upgrade"):
        tls_upgrade(b)

    with subtest_guard("no master"):
        p.stop()
        rc, out, err = run_portico(ctl, timeout=30)
        tap.is_(rc, 1, "-s upgrade without a running master: exit status 1")
        tap.like(err, r"cannot open pid file", "... says why")


def session(port, ctx, sess=None):
    with TLSClient(port, ctx, sni="a.test", session=sess) as c:
        st = c.request("GET", "/tls").status
        return st, c.sock.session, c.sock.session_reused


def tls_upgrade(b):
    if not have_openssl():
        tap.skip("no openssl command", 7)
        return
    certs = Certs()
    pem, key = certs.issue("a", dns=["a.test"])
    port = free_port()
    t = TLSPortico(upstreams={"app": [b.addr]}, listeners={"web": ["127.0.0.1:%d" % port]},
                   listener_opts={"web": [("tls_certificate", pem), ("tls_key", key)]},
                   workers=2, name="portico-tls")
    t.start()
    ctxs = {"TLS 1.3": client_ctx(ca=certs.ca),
            "TLS 1.2": client_ctx(ca=certs.ca, max_version=ssl.TLSVersion.TLSv1_2)}
    sessions = {}
    for label, ctx in ctxs.items():
        st, sess, reused = session(port, ctx)
        st2, _, reused2 = session(port, ctx, sess)
        tap.ok(st == 200 and st2 == 200 and not reused and reused2,
               "%s: a session made before the upgrade resumes" % label)
        sessions[label] = sess
    old = t.master_pid
    rc, out, err = run_portico(["-c", t.config_path, "-s", "upgrade"], timeout=90)
    m = re.search(r"master (\d+) replaced master %d" % old, out)
    tap.ok(rc == 0 and m, "-s upgrade of a TLS listener: exit status 0", out + err)
    if m:
        t.new_masters.append(int(m.group(1)))
    tap.is_(t.follow(int(m.group(1))) if m else None, 0,
            "... the old master exited with status 0")
    for label, ctx in ctxs.items():
        res = [session(port, ctx, sessions[label])[::2] for _ in range(4)]
        tap.is_(res, [(200, True)] * 4,
                "%s: after the upgrade the session still resumes (ticket keys kept)" % label)
    t.stop()


main(test, timeout=300, tests=32)
