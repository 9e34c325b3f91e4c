#!/usr/bin/env python3
# A server name that does not resolve at start (test DNS server:
# dnsserver.py): `portico -t` says so as a warning and exits 0; the daemon
# starts, logs the warning, answers 503 for that upstream (and 200 for
# the others), and once the name appears in DNS the upstream serves
# without a reload.  A reload keeps the resolved servers (no 503 in
# between), and a config error in a resolve line names its file:line.
import json
import os
import signal
import sys
import tempfile
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from portico_test import (tap, main, Portico, Backend, subtest_guard, wait_until,
                          run_portico)
from dnsserver import DnsServer


def test():
    late = Backend(name="late", host="127.0.0.2")
    fixed = Backend(name="fixed")
    dns = DnsServer()
    dns.set({"other.test": {"A": ["127.0.0.9"]}})
    ups = {"late": {"servers": ["late.test:%d resolve max_addresses=2" % late.port]},
           "fixed": {"servers": [fixed.addr]}}
    routes = [dict(name="status", path="/_portico/", handler="status"),
              dict(name="fixed", path="/fixed/", upstream="fixed"),
              dict(name="late", path="/", upstream="late")]
    p = Portico(upstreams=ups, routes=routes, workers=2,
                global_opts={"resolver": dns.addr, "resolver_timeout": "1s",
                             "dns_min_ttl": "1s"})
    p.write_config()

    with subtest_guard("-t"):
        rc, out, err = run_portico(["-t", "-c", p.config_path])
        tap.is_(rc, 0, "-t: a name that does not resolve is no error", err)
        tap.like(err, r"warning: .*portico\.ini:\d+: upstream 'late': late\.test does not "
                 r"resolve \(no address\)", "-t: ... but a warning with file:line")
        tap.like(out, r"configuration ok", "-t: configuration ok")

    with subtest_guard("starts empty"):
        p.start()
        tap.ok(p.wait_log(r"upstream 'late': late\.test does not resolve", 5),
               "the daemon logs the warning")
        tap.is_(p.get("/x").status, 503, "the upstream without servers answers 503")
        tap.is_(p.get("/fixed/x").status, 200, "another upstream serves")
        tap.is_(late.count(), 0, "nothing reached the backend")

    with subtest_guard("the name appears"):
        dns.set({"late.test": {"A": ["127.0.0.2"], "ttl": 1}})
        tap.ok(wait_until(lambda: p.get("/x").status == 200, 8),
               "once the name resolves the upstream serves, without a reload")
        tap.ok(late.count() >= 1, "... from the resolved address")

    with subtest_guard("reload keeps the set"):
        dns.down()          # the new checker cannot ask: the slots must carry over
        p.signal(signal.SIGHUP)
        tap.ok(p.wait_log(r"configuration reloaded", 10) is not None,
               "reloaded", p.error_log()[-1500:])
        st = [p.get("/x").status for _ in range(10)]
        tap.is_(st, [200] * 10, "after a reload, with the resolver silent, "
                "the resolved server still serves")
        dns.up()

    with subtest_guard("bad lines"):
        d = tempfile.mkdtemp(prefix="portico-t-")
        path = os.path.join(d, "bad.ini")
        with open(path, "w") as f:
            f.write("[listener l]\nlisten = 127.0.0.1:1\n[upstream u]\n"
                    "server = 10.0.0.1:80 resolve\n"
                    "server = api.test resolve\n"
                    "server = api.test:80 srv\n"
                    "server = api.test:80 max_addresses=3\n"
                    "server = _x._tcp.api.test srv weight=2\n"
                    "server = api.test:80 resolve max_addresses=0\n"
                    "[global]\nresolver = ns.example\n"
                    "[route r]\npath = /\nupstream = u\n")
        rc, out, err = run_portico(["-t", "-c", path])
        tap.is_(rc, 1, "bad resolve/srv lines: -t fails")
        for line, rx in ((4, "not an IP address"), (5, "resolve needs NAME:PORT"),
                         (6, "srv needs a name like"), (7, "'max_addresses' needs resolve"),
                         (8, "'weight' does not go with srv"),
                         (9, "max_addresses must be 1..256"), (11, "bad resolver 'ns.example'")):
            tap.like(err, r"bad\.ini:%d: .*%s" % (line, rx), "line %d: %s" % (line, rx))
    p.stop()


main(test, timeout=90)
