#!/usr/bin/env python3
# Command line: -V, -h, -t on good and bad configs, bad options, -s.
import os
import re
import sys
import tempfile
import shutil

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from portico_test import (tap, main, run_portico, Backend, Portico, free_port, wait_until,
                          register)

GOOD = """[global]
workers = 2
pid_file = {tmp}/portico.pid
error_log = {tmp}/error.log
log_level = info
access_log = {tmp}/access.log
shutdown_timeout = 5s

[listener web]
listen = 127.0.0.1:{port}

[upstream app]
server = 127.0.0.1:{bport}
server = 127.0.0.1:{bport2} weight=2
balance = round_robin
keepalive = 32
connect_timeout = 5s
read_timeout = 60s

[route main]
listener = web
host = *
path = /
upstream = app
"""

# (description, replace-this, with-this, text of the line to be named (its
# last occurrence), message regex)
BAD = [
    ("unknown key", "keepalive = 32", "keepalive = 32\nfrobnicate = yes", "frobnicate = yes",
     r"frobnicate"),
    ("bad workers value", "workers = 2", "workers = 0", "workers = 0", r"workers"),
    ("route naming a missing upstream", "upstream = app\n", "upstream = nope\n",
     "upstream = nope", r"nope"),
    ("indented (continuation) line", "log_level = info", "  log_level = info",
     "  log_level = info", r"."),
    ("bad duration", "read_timeout = 60s", "read_timeout = soon", "read_timeout = soon",
     r"read_timeout|soon"),
    ("bad listen address", "listen = 127.0.0.1:{port}", "listen = 127.0.0.1:99999",
     "listen = 127.0.0.1:99999", r"99999|port"),
    ("duplicate key", "balance = round_robin", "balance = round_robin\nbalance = round_robin",
     "balance = round_robin", r"duplicate|balance"),
    ("unknown section", "[route main]", "[frob x]\nfoo = 1\n\n[route main]", "[frob x]",
     r"frob|section"),
    ("listen address that cannot be bound", "listen = 127.0.0.1:{port}",
     "listen = 192.0.2.1:8080", "listen = 192.0.2.1:8080",
     r"cannot listen on 192\.0\.2\.1:8080: Cannot assign requested address"),
    ("access_log = syslog (a relative path)", "access_log = {tmp}/access.log",
     "access_log = syslog", "access_log = syslog", r"access_log 'syslog' must be an absolute"),
    ("unknown user", "workers = 2", "workers = 2\nuser = nosuchuser", "user = nosuchuser",
     r"unknown user nosuchuser"),
]


def line_of(text, line):
    lines = text.split("\n")
    return max(i + 1 for i, l in enumerate(lines) if l == line)


def test():
    tmp = tempfile.mkdtemp(prefix="portico-cli-")

    class _Rm:
        def cleanup(self):
            shutil.rmtree(tmp, ignore_errors=True)
    register(_Rm())

    rc, out, err = run_portico(["-V"])
    tap.is_(rc, 0, "-V exits 0")
    tap.like(out, r"^portico \d+\.\d+(\.\d+)?\S*\n$", "-V prints 'portico VERSION'")

    rc, out, err = run_portico(["-h"])
    tap.is_(rc, 0, "-h exits 0")
    tap.like(out, r"usage: portico", "-h prints the usage on stdout")

    rc, out, err = run_portico(["-Z"])
    tap.is_(rc, 2, "unknown option exits 2")
    rc, out, err = run_portico(["-t", "-c", "/x", "extra"])
    tap.is_(rc, 2, "extra argument exits 2")

    fields = dict(tmp=tmp, port=free_port(), bport=free_port(), bport2=free_port())
    good = GOOD.format(**fields)
    path = os.path.join(tmp, "good.ini")
    with open(path, "w") as f:
        f.write(good)
    rc, out, err = run_portico(["-t", "-c", path])
    tap.is_(rc, 0, "-t on a good config exits 0", err)
    tap.like(out, r"portico: configuration ok", "-t prints 'configuration ok'")
    tap.ok(not os.path.exists(os.path.join(tmp, "portico.pid")), "-t starts nothing (no pid file)")

    for i, (desc, old, new, marker, msg) in enumerate(BAD):
        old = old.format(**fields)
        assert old in good, old
        bad = good.replace(old, new, 1)
        line = line_of(bad, marker)
        bpath = os.path.join(tmp, "bad%d.ini" % i)
        with open(bpath, "w") as f:
            f.write(bad)
        rc, out, err = run_portico(["-t", "-c", bpath])
        tap.is_(rc, 1, "-t, %s: exits 1" % desc, err)
        m = re.search(r"^%s:(\d+): (.*)$" % re.escape(bpath), err, re.M)
        if tap.ok(m, "-t, %s: stderr has FILE:LINE: message" % desc, "stderr: %r" % err):
            tap.is_(int(m.group(1)), line, "-t, %s: right line number" % desc,
                    "stderr: %r" % err)
            tap.like(m.group(2), msg, "-t, %s: message says what is wrong" % desc)
        tap.unlike(out, r"configuration ok", "-t, %s: no 'configuration ok'" % desc)

    # two errors: both reported
    bad = good.replace("workers = 2", "workers = 0").replace("keepalive = 32", "keepalive = lots")
    bpath = os.path.join(tmp, "two.ini")
    with open(bpath, "w") as f:
        f.write(bad)
    rc, out, err = run_portico(["-t", "-c", bpath])
    tap.ok(rc == 1 and re.search(r":%d: " % line_of(bad, "workers = 0"), err)
           and re.search(r":%d: " % line_of(bad, "keepalive = lots"), err),
           "-t reports every error, not only the first", err)

    rc, out, err = run_portico(["-t", "-c", os.path.join(tmp, "missing.ini")])
    tap.is_(rc, 1, "-t on a missing file exits 1")
    tap.like(err, r"missing\.ini", "... and names the file")

    # -s with no master running
    rc, out, err = run_portico(["-s", "reload", "-c", path])
    tap.is_(rc, 1, "-s reload without a running master exits 1", err)
    rc, out, err = run_portico(["-s", "bogus", "-c", path])
    tap.is_(rc, 2, "-s with an unknown signal name exits 2")

    # -s against a running daemon
    b = Backend()
    p = Portico(upstreams={"app": [b.addr]})
    p.start()
    r = p.get("/")
    tap.is_(r.status, 200, "daemon serves")
    old = set(p.workers())
    rc, out, err = run_portico(["-s", "reload", "-c", p.config_path])
    tap.is_(rc, 0, "-s reload exits 0", err)
    tap.ok(wait_until(lambda: set(p.workers()) and not (set(p.workers()) & old), 10),
           "-s reload: new workers replaced the old ones",
           "old %r now %r" % (old, p.workers()))
    tap.is_(p.get("/").status, 200, "serves after -s reload")
    rc, out, err = run_portico(["-s", "stop", "-c", p.config_path])
    tap.is_(rc, 0, "-s stop exits 0", err)
    tap.ok(p.wait_exit(10), "-s stop: master exits")
    tap.is_(p.exit_code, 0, "-s stop: master exit status 0")
    tap.ok(not os.path.exists(p.pid_file), "-s stop: pid file removed")
    p.stop()


main(test, timeout=60, tests=78)
