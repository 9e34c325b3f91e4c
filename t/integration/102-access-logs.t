#!/usr/bin/env python3
# Several access logs (issue 13): access_log = TARGET [FORMAT] in [global],
# [listener] and [route] sections, repeatable; a section's own lines
# replace those above it, "off" none; log_format names a format; a file
# named by several sections is one file; a route's syslog target gets
# its datagrams; USR1 reopens every file; a reload adds one; bad lines
# are file:line errors.
import json
import os
import re
import socket
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from portico_test import (tap, main, Backend, Portico, Client, subtest_guard,
                          run_portico, wait_until, free_port)


def lines(path):
    try:
        with open(path) as f:
            return f.read().splitlines()
    except OSError:
        return []


def has(path, needle):
    return any(needle in l for l in lines(path))


def config(p, b, port2, uport, extra_route=""):
    t = p.tmp
    return """[global]
workers = 1
pid_file = %s
error_log = %s
log_level = info
log_format = js escape=json {"uri":"$request_uri","status":$status,"ua":"$http_user_agent"}
access_log = %s/global.log

[upstream app]
server = %s

[listener web]
listen = 127.0.0.1:%d

[listener two]
listen = 127.0.0.1:%d
access_log = %s/l2.log

[route a]
path = /a
upstream = app
access_log = %s/a.log
access_log = %s/shared.log

[route b]
path = /b
upstream = app
access_log = %s/b.log js
access_log = %s/shared.log

[route quiet]
path = /off
upstream = app
access_log = off

[route sys]
path = /sys
upstream = app
access_log = syslog:server=127.0.0.1:%d,tag=rt
%s
[route main]
path = /
upstream = app
""" % (p.pid_file, p.error_log_path, t, b.addr, p.port, port2, t, t, t, t, t,
       uport, extra_route)


def test():
    b = Backend("b1")
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.bind(("127.0.0.1", 0))
    uport = u.getsockname()[1]
    port2 = free_port()
    p = Portico(upstreams={"app": [b.addr]}, workers=1, raw_config="")
    T = lambda n: os.path.join(p.tmp, n)
    p.raw_config = config(p, b, port2, uport)
    p.write_config()
    p.start()

    with subtest_guard("destinations"):
        with Client(p.port) as c:
            c.request("GET", "/a/1")
            c.request("GET", "/b/1", headers=[("User-Agent", 'q"x')])
            c.request("GET", "/off/1")
            c.request("GET", "/x/1")
            c.request("GET", "/sys/1")
        with Client(port2) as c:
            c.request("GET", "/y/1")
        tap.ok(wait_until(lambda: has(T("a.log"), "/a/1") and
                          has(T("shared.log"), "/b/1") and
                          has(T("l2.log"), "/y/1") and
                          has(T("global.log"), "/x/1")),
               "route, shared, listener and global files written")
        tap.ok(has(T("shared.log"), "/a/1") and not has(T("b.log"), "/a/1")
               and not has(T("global.log"), "/a/1"),
               "route a: its own file and the shared one only")
        bl = lines(T("b.log"))
        try:
            docs = [json.loads(l) for l in bl]
        except ValueError:
            docs = None
        tap.ok(docs is not None and len(docs) == 1 and
               docs[0] == {"uri": "/b/1", "status": 200, "ua": 'q"x'},
               "route b: the named JSON format, valid JSON per line", repr(bl))
        tap.is_(len(lines(T("shared.log"))), 2, "the shared file: one line "
                "from each route", repr(lines(T("shared.log"))))
        allf = [T(n) for n in ("global.log", "a.log", "b.log", "shared.log",
                               "l2.log")]
        tap.ok(not any(has(f, "/off/1") for f in allf),
               "access_log = off on a route: nothing written")
        tap.ok(not has(T("global.log"), "/y/1") and
               not has(T("l2.log"), "/x/1"),
               "listener two's own file replaces [global]'s")
        u.settimeout(10)
        try:
            dg = u.recv(65536).decode("utf-8", "replace")
        except socket.timeout:
            dg = ""
        tap.like(dg, r"^<190>.* rt: 127\.0\.0\.1 .*\"GET /sys/1 ",
                 "route sys: a datagram at its syslog server")
        tap.ok(not any(has(f, "/sys/1") for f in allf),
               "route sys: no file line")

    with subtest_guard("USR1"):
        names = ["global.log", "a.log", "b.log", "shared.log", "l2.log"]
        for n in names:
            os.rename(T(n), T(n + ".1"))
        p.signal("USR1")
        tap.ok(wait_until(lambda: all(os.path.exists(T(n)) for n in names)),
               "USR1: every file made again")
        with Client(p.port) as c:
            c.request("GET", "/a/2")
            c.request("GET", "/b/2")
            c.request("GET", "/x/2")
        with Client(port2) as c:
            c.request("GET", "/y/2")
        tap.ok(wait_until(lambda: has(T("a.log"), "/a/2") and
                          has(T("b.log"), "/b/2") and
                          len(lines(T("shared.log"))) == 2 and
                          has(T("global.log"), "/x/2") and
                          has(T("l2.log"), "/y/2")),
               "after USR1: lines go to the new files")
        tap.ok(not any(has(T(n + ".1"), k) for n in names
                       for k in ("/a/2", "/b/2", "/x/2", "/y/2")),
               "nothing more in the renamed ones")

    with subtest_guard("reload"):
        p.raw_config = config(p, b, port2, uport, "\n[route c]\npath = /c\n"
                              "upstream = app\naccess_log = %s\n" % T("c.log"))
        tap.ok(p.reload(), "reload with a new route and file")
        with Client(p.port) as c:
            c.request("GET", "/c/1")
        tap.ok(wait_until(lambda: has(T("c.log"), "/c/1")),
               "the reload's new file gets its route's lines")
        tap.like(p.error_log(), r"access_log|route c",
                 "the reload summary names the change")
    p.stop()

    with subtest_guard("config errors"):
        path = os.path.join(p.tmp, "bad.ini")
        for bad, msg in (("access_log = logs/a.log",
                          "must be an absolute path"),
                         ("access_log = /tmp/x.log nosuch",
                          "unknown log_format 'nosuch'"),
                         ("\n".join(["access_log = /tmp/x%d.log" % i
                                     for i in range(9)]),
                          "too many access_log lines")):
            text = ("[global]\n[upstream app]\nserver = %s\n[listener web]\n"
                    "listen = 127.0.0.1:%d\n[route r]\nupstream = app\n%s\n"
                    % (b.addr, p.port, bad))
            with open(path, "w") as f:
                f.write(text)
            ln = text.count("\n", 0, text.rfind("access_log")) + 1
            rc, out, err = run_portico(["-t", "-c", path])
            tap.like(err, r"(?m)^%s:%d: .*%s" % (re.escape(path), ln,
                                                   re.escape(msg)),
                     "-t: %s at file:line" % msg)
    u.close()
    b.stop()


main(test, tests=18)
