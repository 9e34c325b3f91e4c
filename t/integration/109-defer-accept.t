#!/usr/bin/env python3
# defer_accept (issue 16): TCP_DEFER_ACCEPT on a listener.  A connection
# that sends its request at once is served; one that sends nothing is not
# handed to the worker (the status JSON's "connections" stays put) until its
# request comes, and is then served; a reload that fails (a port taken)
# keeps the running value; a reload to "off" hands silent
# connections over at once again; bad values are refused with file:line.
import json
import os
import socket
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from portico_test import (tap, main, Backend, Portico, Client, free_port, wait_until,
                          run_portico, subtest_guard)

CONFIG = """[global]
workers = 1
pid_file = @TMP@/portico.pid
error_log = @TMP@/error.log
log_level = info
access_log = off

[listener admin]
listen = 127.0.0.1:@PORT@

[listener web]
listen = 127.0.0.1:%(dport)d
defer_accept = %(defer)s

[upstream app]
server = %(backend)s

[route status]
host = *
path = /_portico/
handler = status

[route main]
host = *
path = /
upstream = app
"""


def status(c):
    r = c.request("GET", "/_portico/status")
    return json.loads(r.body)["connections"]


def test():
    b = Backend("b1")
    dport = free_port()
    conf = lambda defer: CONFIG % {"dport": dport, "defer": defer, "backend": b.addr}
    p = Portico(raw_config=conf("10"), workers=1)
    p.start()

    with subtest_guard("a request sent at once is served"):
        with Client(dport) as c:
            r = c.request("GET", "/echo/now")
            tap.is_(r.status, 200, "deferred listener: request sent at once answered 200")

    with subtest_guard("a silent connection is not accepted"):
        admin = Client(p.port)
        c0 = status(admin)
        silent = Client(dport)
        # The kernel holds it for 10 s; the worker must not see it in 1.5 s.
        time.sleep(1.5)
        c1 = status(admin)
        tap.is_(c1, c0, "silent connection: the worker's accepted count stays %d" % c0)
        r = silent.request("GET", "/echo/late")
        tap.is_(r.status, 200, "silent connection: served once its request comes")
        tap.is_(status(admin), c0 + 1, "silent connection: counted once accepted")
        silent.close()
        admin.close()

    with subtest_guard("a failed reload keeps the running value"):
        # The new config turns it off, then fails to bind its extra
        # listener (the port is taken): web must keep defer_accept = 10.
        taken = socket.socket()
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        bad = conf("off") + "\n[listener extra]\nlisten = 127.0.0.1:%d\n" % taken.getsockname()[1]
        p.reload(wait=False, raw_config=bad)
        tap.ok(wait_until(lambda: "reload failed" in p.error_log(), 10),
               "reload with a taken port fails", p.error_log()[-600:])
        p.raw_config = conf("10")
        p.write_config()
        admin = Client(p.port)
        c0 = status(admin)
        silent = Client(dport)
        time.sleep(1.5)
        tap.is_(status(admin), c0, "after the failed reload a silent connection is still held back")
        r = silent.request("GET", "/echo/late2")
        tap.is_(r.status, 200, "... and served once its request comes")
        silent.close()
        admin.close()
        taken.close()

    with subtest_guard("reload to off"):
        tap.ok(p.reload(raw_config=conf("off")), "reload with defer_accept = off")
        admin = Client(p.port)
        d0 = status(admin)
        silent = Client(dport)
        got = []
        ok = wait_until(lambda: got.append(status(admin)) or got[-1] == d0 + 1, 5)
        tap.ok(ok, "after the reload a silent connection is accepted at once",
               "before %d, seen %s" % (d0, got[-5:]))
        silent.close()
        admin.close()
        tap.ok(p.reload(raw_config=conf("on")), "reload with defer_accept = on")
        r = p.get("/echo/x")
        tap.is_(r.status, 200, "admin listener still serves after the reloads")

    with subtest_guard("bad values"):
        for bad in ("banana", "0", "-1", "3601", "5s"):
            path = os.path.join(p.tmp, "bad.ini")
            with open(path, "w") as f:
                f.write("[listener web]\nlisten = 127.0.0.1:%d\n\ndefer_accept = %s\n"
                        "[upstream app]\nserver = 127.0.0.1:1\n[route r]\nhost = *\n"
                        "path = /\nupstream = app\n" % (dport, bad))
            rc, out, err = run_portico(["-t", "-c", path])
            tap.ok(rc != 0 and ("%s:4:" % path) in err and "defer_accept" in err,
                   "defer_accept = %s refused with file:line" % bad, err[-400:])
        with open(path, "w") as f:
            f.write("[listener web]\nlisten = 127.0.0.1:%d\ndefer_accept = on\n"
                    "[upstream app]\nserver = 127.0.0.1:1\n[route r]\nhost = *\n"
                    "path = /\nupstream = app\n" % dport)
        rc, out, err = run_portico(["-t", "-c", path])
        tap.is_(rc, 0, "defer_accept = on accepted by -t", err[-400:])

    p.stop()


main(test, tests=18)
