#!/usr/bin/env python3
# Started as root without `user`, the workers (and the checker) run as the
# default unprivileged user and its group, and the master says so in the
# error log; an explicit user is kept; `user = root` keeps root on purpose.
import os
import pwd
import grp
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from portico_test import tap, main, Backend, Portico, subtest_guard, wait_until


def ids(pid):
    """(real, effective, saved uid), (real, effective, saved gid), groups of pid."""
    uid = gid = groups = None
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            if k == "Uid":
                uid = tuple(int(x) for x in v.split()[:3])
            elif k == "Gid":
                gid = tuple(int(x) for x in v.split()[:3])
            elif k == "Groups":
                groups = [int(x) for x in v.split()]
    return uid, gid, groups


def dropped(pids, uid, timeout=5):
    """Wait until every pid runs as uid: a process forked a moment ago is
    still root until it changes (bounded from one side only)."""
    def done():
        try:
            return all(ids(w)[0] == (uid,) * 3 for w in pids)
        except OSError:
            return False
    return wait_until(done, timeout)


def test():
    if os.geteuid() != 0:
        tap.ok(True, "# SKIP not root: nothing to drop")
        return
    nobody = pwd.getpwnam("nobody")
    group = grp.getgrgid(nobody.pw_gid).gr_name
    b = Backend("b1")

    with subtest_guard("no user"):
        p = Portico(upstreams={"app": {"servers": [b.addr], "health_check": "GET /",
                                       "health_interval": "1s"}},
                    name="portico-nouser")
        p.start()
        ws = p.workers()
        tap.is_(len(ws), 2, "2 workers")
        dropped(ws, nobody.pw_uid)
        for w in ws:
            uid, gid, groups = ids(w)
            tap.is_(uid, (nobody.pw_uid,) * 3, "worker %d: real, effective and saved uid "
                    "are nobody's (%d)" % (w, nobody.pw_uid))
            tap.is_(gid, (nobody.pw_gid,) * 3, "worker %d: gids are nobody's group %s"
                    % (w, group))
            tap.is_(groups, [nobody.pw_gid], "worker %d: no supplementary group of root" % w)
        ck = wait_until(p.checker, 5)
        tap.ok(ck and dropped([ck], nobody.pw_uid), "the health checker runs as nobody too")
        uid, _, _ = ids(p.master_pid)
        tap.is_(uid[0], 0, "the master stays root (it binds, reopens logs, reloads)")
        line = p.wait_log(r"no user set: workers run as nobody:%s" % group, 5)
        tap.ok(line, "the choice is logged: 'no user set: workers run as nobody:%s'" % group,
               p.error_log()[-2000:])
        tap.like(line or "", r"\[notice\]", "... at notice level")
        tap.is_(p.get("/x").status, 200, "requests are served")
        # After a reload too.
        old = set(p.workers())
        p.signal("HUP")
        new = wait_until(lambda: (set(p.workers()) - old) if len(set(p.workers()) - old) >= 2
                         else None, 10)
        tap.ok(new and dropped(new, nobody.pw_uid),
               "the workers of a reload run as nobody too", repr(new))
        p.stop()

    with subtest_guard("explicit user"):
        p = Portico(upstreams={"app": [b.addr]}, global_opts={"user": "daemon"},
                    name="portico-daemon")
        p.start()
        d = pwd.getpwnam("daemon")
        ws = p.workers()
        tap.ok(dropped(ws, d.pw_uid) and all(ids(w)[1][0] == d.pw_gid for w in ws),
               "user = daemon: workers run as daemon and its group")
        tap.unlike(p.error_log(), r"no user set", "... and nothing is said about a default")
        p.stop()

    with subtest_guard("user = root"):
        p = Portico(upstreams={"app": [b.addr]}, global_opts={"user": "root"},
                    name="portico-root")
        p.start()
        tap.ok(all(ids(w)[0][1] == 0 for w in p.workers()),
               "user = root: the operator asked for root workers and gets them")
        p.stop()


main(test, timeout=90)
