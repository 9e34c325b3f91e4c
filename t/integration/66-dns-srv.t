#!/usr/bin/env python3
# Servers from SRV records: `server = _http._tcp.NAME srv`.  The test's DNS
# server (dnsserver.py) gives two targets at priority 10 with weights 3
# and 1, and one at priority 20.  Requests go to the priority-10 targets
# in the ratio of their weights, never to the priority-20 one while they
# are up; when both stop accepting connections the priority-20 target
# (a backup) answers.  A target that leaves the records stops getting
# requests; the port of each server is the SRV record's.
import json
import os
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from portico_test import tap, main, Portico, Backend, subtest_guard, wait_until
from dnsserver import DnsServer


def test():
    a = Backend(name="a", host="127.0.0.2")
    b = Backend(name="b", host="127.0.0.3")
    c = Backend(name="c", host="127.0.0.4")
    dns = DnsServer()
    table = {"_http._tcp.svc.test": {"SRV": [(10, 3, a.port, "a.test"),
                                             (10, 1, b.port, "b.test"),
                                             (20, 1, c.port, "c.test")], "ttl": 1},
             "a.test": {"A": ["127.0.0.2"]},
             "b.test": {"A": ["127.0.0.3"]},
             "c.test": {"A": ["127.0.0.4"]}}
    dns.set(table)
    ups = {"svc": {"servers": ["_http._tcp.svc.test srv max_addresses=8"],
                   "retries": "3"}}
    routes = [dict(name="status", path="/_portico/", handler="status"),
              dict(name="svc", path="/", upstream="svc")]
    # One worker: its smooth round robin gives exact proportions.
    p = Portico(upstreams=ups, routes=routes, workers=1,
                global_opts={"resolver": dns.addr, "resolver_timeout": "1s"})
    p.start()

    with subtest_guard("weights and priorities"):
        st = [p.get("/w").status for _ in range(80)]
        tap.is_(st, [200] * 80, "80 requests answered")
        tap.is_((a.count(), b.count(), c.count()), (60, 20, 0),
                "priority 10 in the ratio 3:1 of the SRV weights, priority 20 unused")
        doc = json.loads(p.get("/_portico/status").body)
        srv = {s["address"]: s for s in doc["upstreams"][0]["servers"]}
        tap.is_(sorted(srv), sorted([a.addr, b.addr, c.addr]),
                "status JSON: the three targets, each with its SRV port")
        tap.ok(srv.get(c.addr, {}).get("backup") is True and
               srv.get(a.addr, {}).get("weight") == 3 and
               srv.get(a.addr, {}).get("backup") is False,
               "status JSON: weight 3 for a, the priority-20 target a backup",
               json.dumps(srv))
        tap.is_(doc["upstreams"][0]["dns"][0]["type"], "srv", "status JSON: type srv")

    with subtest_guard("backups take over"):
        a.cleanup()
        b.cleanup()
        time.sleep(0.3)
        st = [p.get("/x").status for _ in range(10)]
        tap.is_(st, [200] * 10, "with both priority-10 targets gone, requests are answered")
        tap.ok(c.count() >= 10, "... by the priority-20 target (%d)" % c.count())

    with subtest_guard("a target leaves the records"):
        d = Backend(name="d", host="127.0.0.5")
        dns.set({"_http._tcp.svc.test": {"SRV": [(10, 1, d.port, "d.test")], "ttl": 1},
                 "d.test": {"A": ["127.0.0.5"]}})
        tap.ok(p.wait_log(r"upstream svc: _http._tcp.svc.test: server 127.0.0.4:%d is "
                          r"gone from DNS" % c.port, 8), "c goes")
        n = c.count()
        st = [p.get("/y").status for _ in range(10)]
        tap.is_(st, [200] * 10, "requests answered")
        tap.is_((d.count(), c.count() - n), (10, 0), "all by the new target d")
    p.stop(check=False)
    bad = [l for l in p.error_log().splitlines() if "[alert]" in l or "[crit]" in l]
    tap.is_(bad, [], "no alert in the log")


main(test, timeout=90)
