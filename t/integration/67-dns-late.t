#!/usr/bin/env python3
# A server name that does not resolve at start (test DNS server:
# dnsserver.py): `portico -t` says so as a warning and exits 0; the daemon
# starts, logs the warning, answers 503 for that upstream (and 200 for
# the others), and once the name appears in DNS the upstream serves
# without a reload (and its AAAA address too, when it gets one).  A reload keeps the resolved servers (no 503 in
# between), and a config error in a resolve line names its file:line.
# Health checks follow the slots: an address with nothing listening is
# probed down (and gets no request), and the address that replaces it in
# DNS is probed up, with the name as the probe's Host.
import json
import os
import signal
import sys
import tempfile
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from portico_test import (tap, main, Portico, Backend, subtest_guard, wait_until,
                          run_portico, ipv6_available)
from dnsserver import DnsServer


def test():
    late = Backend(name="late", host="127.0.0.2")
    fixed = Backend(name="fixed")
    hc3 = Backend(name="hc3", host="127.0.0.3")
    hc5 = Backend(name="hc5", host="127.0.0.5", port=hc3.port)
    hc_table = {"hc.test": {"A": ["127.0.0.3", "127.0.0.4"], "ttl": 1}}
    dns = DnsServer()
    dns.set(dict(hc_table))
    ups = {"late": {"servers": ["late.test:%d resolve max_addresses=2" % late.port]},
           "fixed": {"servers": [fixed.addr]},
           "hc": {"servers": ["hc.test:%d resolve" % hc3.port],
                  "health_check": "GET /health", "health_interval": "200ms",
                  "health_rise": "1", "health_fall": "1", "max_fails": "0"}}
    routes = [dict(name="status", path="/_portico/", handler="status"),
              dict(name="fixed", path="/fixed/", upstream="fixed"),
              dict(name="hc", path="/hc/", upstream="hc"),
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

    with subtest_guard("health checks follow the slots"):
        def states():
            doc = json.loads(p.get("/_portico/status").body)
            u = [u for u in doc["upstreams"] if u["name"] == "hc"][0]
            return {s["address"]: s["state"] for s in u["servers"]}
        a3, a4, a5 = ("127.0.0.%d:%d" % (i, hc3.port) for i in (3, 4, 5))
        tap.ok(wait_until(lambda: states() == {a3: "up", a4: "down"}, 8),
               "the address with nothing listening is probed down", str(states()))
        st = [p.get("/hc/x").status for _ in range(10)]
        tap.is_(st, [200] * 10, "requests go to the one that is up")
        # "up" is also a new slot's state before its first probe: wait
        # for a probe to have reached the address
        tap.ok(wait_until(lambda: hc3.requests_for("/health"), 8),
               "the address that is up was probed")
        hosts = {v for r in hc3.requests_for("/health") for k, v in r["headers"]
                 if k.lower() == "host"}
        tap.is_(hosts, {"hc.test"}, "the probe's Host is the name")
        dns.set({"hc.test": {"A": ["127.0.0.3", "127.0.0.5"], "ttl": 1}})
        tap.ok(wait_until(lambda: states() == {a3: "up", a5: "up"} and
                          hc5.hits_path("/health") > 0, 8),
               "the address that replaces it is probed, and up", str(states()))

    with subtest_guard("the name appears"):
        dns.set({"late.test": {"A": ["127.0.0.2"], "ttl": 1},
                 "hc.test": {"A": ["127.0.0.3", "127.0.0.5"], "ttl": 1}})
        tap.ok(wait_until(lambda: p.get("/x").status == 200, 8),
               "once the name resolves the upstream serves, without a reload")
        tap.ok(late.count() >= 1, "... from the resolved address")

    with subtest_guard("AAAA"):
        if ipv6_available():
            v6 = Backend(name="v6", host="::1", port=late.port)
            dns.set({"late.test": {"A": ["127.0.0.2"], "AAAA": ["::1"], "ttl": 1},
                     "hc.test": {"A": ["127.0.0.3", "127.0.0.5"], "ttl": 1}})
            def v6_served():
                for _ in range(4):
                    p.get("/x")
                return v6.count() > 0
            tap.ok(wait_until(v6_served, 8), "an AAAA address of the name gets requests too")
            doc = json.loads(p.get("/_portico/status").body)
            u = [u for u in doc["upstreams"] if u["name"] == "late"][0]
            tap.is_(sorted(s["address"] for s in u["servers"]),
                    sorted(["127.0.0.2:%d" % late.port, "[::1]:%d" % late.port]),
                    "status JSON: the A and the AAAA address")
        else:
            tap.skip("no IPv6 on this machine", 2)

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
