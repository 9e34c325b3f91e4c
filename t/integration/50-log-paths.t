#!/usr/bin/env python3
# Log paths: a relative path (access_log = syslog meant as a target, a bare
# file name for error_log or pid_file) and an access or error log that
# cannot be opened (missing directory, a directory in its place) are refused
# with file:line by -t, by a start (non-zero exit, the reason on stderr) and
# by a reload (the old workers keep serving).
import os
import re
import signal
import subprocess
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from portico_test import (tap, main, Backend, Portico, subtest_guard, wait_until,
                          run_portico, require_binary, pid_alive)


def line_of(text, key):
    for i, l in enumerate(text.split("\n")):
        if l.startswith(key + " ="):
            return i + 1
    return 0


def kill_daemon(pid_file):
    """A daemon that should not have started did: stop it (unfixed builds)."""
    try:
        with open(pid_file) as f:
            pid = int(f.read().strip())
        os.kill(pid, signal.SIGTERM)
        wait_until(lambda: not pid_alive(pid), 5)
    except (OSError, ValueError):
        pass


def cases(tmp):
    return [
        ("access_log = syslog (relative)", "access_log", "syslog", r"absolute"),
        ("relative access log file", "access_log", "logs/access.log", r"absolute"),
        ("relative error_log", "error_log", "error.log", r"absolute"),
        ("relative pid_file", "pid_file", "portico.pid", r"absolute"),
        ("access log in a missing directory", "access_log",
         os.path.join(tmp, "nodir", "access.log"), r"No such file or directory"),
        ("access log that is a directory", "access_log", os.path.join(tmp, "adir"),
         r"not a regular file|Is a directory"),
        ("error log in a missing directory", "error_log",
         os.path.join(tmp, "nodir", "error.log"), r"No such file or directory"),
    ]


def test():
    b = Backend("b1")
    p = Portico(upstreams={"app": [b.addr]}, name="portico-logpaths")
    os.mkdir(os.path.join(p.tmp, "adir"))
    p.start()
    good = p.config_text()
    exe = require_binary()

    for desc, key, value, why in cases(p.tmp):
        with subtest_guard(desc):
            q = Portico(upstreams={"app": [b.addr]}, global_opts={key: value},
                        name="bad-" + key)
            os.mkdir(os.path.join(q.tmp, "adir"))
            value_q = value.replace(p.tmp, q.tmp)
            q.global_opts[key] = value_q
            text = q.write_config()
            ln = line_of(text, key)
            loc = re.escape("%s:%d:" % (q.config_path, ln))

            rc, out, err = run_portico(["-t", "-c", q.config_path], cwd=q.tmp)
            tap.ok(rc != 0, "%s: -t fails" % desc, "rc=%s out=%r" % (rc, out))
            tap.like(err, loc + r".*" + key + r".*" + why,
                     "%s: -t names %s:%d and why" % (desc, os.path.basename(q.config_path), ln))

            # A plain start, daemonizing (as an init script would).
            sp = subprocess.run([exe, "-c", q.config_path], cwd=q.tmp, capture_output=True,
                                timeout=20, stdin=subprocess.DEVNULL)
            err = sp.stderr.decode("utf-8", "replace")
            tap.ok(sp.returncode != 0, "%s: start exits non-zero" % desc,
                   "rc=%s" % sp.returncode)
            tap.like(err, loc + r".*" + why, "%s: start says why, with file:line, on stderr"
                     % desc)
            tap.ok(not os.path.exists("/" + value) or value.startswith("/"),
                   "%s: nothing written at /%s" % (desc, value))
            tap.ok(q.read_pid() is None, "%s: no pid file left" % desc)
            if sp.returncode == 0:
                kill_daemon(q.pid_file if key != "pid_file" else "/" + value)

            # A reload of the running portico to the same config.
            p.global_opts[key] = value
            text = p.write_config()
            ln = line_of(text, key)
            old = p.workers()
            p.signal("HUP")
            pat = re.escape("%s:%d:" % (p.config_path, ln)) + r".*" + why
            line = p.wait_log(pat, 5)
            tap.ok(line, "%s: the reload is refused, file:line and why logged" % desc,
                   p.error_log()[-1500:])
            tap.ok(p.wait_log(r"reload failed: keeping the running configuration", 5),
                   "%s: ... and the running configuration is kept" % desc)
            tap.is_(sorted(p.workers()), sorted(old), "%s: the old workers are still there"
                    % desc)
            tap.is_(p.get("/x").status, 200, "%s: and answer requests" % desc)
            rc, out, err = run_portico(["-s", "reload", "-c", p.config_path])
            tap.ok(rc != 0 and re.search(pat, err),
                   "%s: -s reload refuses too, naming the line, and signals nothing" % desc,
                   "rc=%s err=%r" % (rc, err))
            del p.global_opts[key]
            p.write_config(good)
            with open(p.error_log_path, "a") as f:
                f.write("--- next case\n")
            q.cleanup()

    with subtest_guard("devices are fine"):
        # Containers log to /dev/stdout: a link, but under /dev, and a
        # device or a pipe, never chowned.
        q = Portico(upstreams={"app": [b.addr]}, name="q-devices",
                    global_opts={"access_log": "/dev/stdout"})
        rc, out, err = run_portico(["-t", "-c", q.config_path])
        tap.is_(rc, 0, "-t accepts access_log = /dev/stdout", err)
        q.start()
        tap.is_(q.get("/to-stdout").status, 200, "a request with access_log = /dev/stdout")
        tap.ok(wait_until(lambda: "/to-stdout" in q._read(q.stdout_path), 5),
               "... is logged on the daemon's standard output")
        q.stop()

    with subtest_guard("the good config still reloads"):
        old = set(p.workers())
        p.signal("HUP")
        tap.ok(wait_until(lambda: len(set(p.workers()) - old) >= 2, 10),
               "after all that, a good config reloads")
        tap.is_(p.get("/y").status, 200, "and serves")
    p.stop()


main(test, timeout=120)
