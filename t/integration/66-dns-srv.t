#!/usr/bin/env python3
# Servers from SRV records: `server = _http._tcp.NAME srv`.  The test's DNS
# server (dnsserver.py) gives two targets at priority 10 with weights 3
# and 1, and one at priority 20.  Requests go to the priority-10 targets
# in the ratio of their weights, never to the priority-20 one while they
# are up; when both stop accepting connections the priority-20 target
# (a backup) answers.  A target that leaves the records stops getting
# requests; the port of each server is the SRV record's.
#
# Scale-out ("Running several portico machines" in the README): three
# identical instances, their backends from the test's DNS (resolve), behind
# a fourth portico as the front, which finds them through SRV records.
# Under an idempotent load, one instance stopped (QUIT) loses no request;
# one killed (SIGKILL to all its processes) loses none that had not
# started to answer (the front retries them elsewhere); at most the 3 in
# flight may be cut mid-response.
import json
import os
import signal
import sys
import threading
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from portico_test import tap, main, Portico, Backend, subtest_guard, wait_until
from dnsserver import DnsServer


class Load:
    """GET requests one after another from a few threads."""

    def __init__(self, p, threads=3):
        self.p = p
        self.ok = 0
        self.failed = []
        self.stopping = False
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._run, daemon=True)
                        for _ in range(threads)]
        for t in self.threads:
            t.start()

    def _run(self):
        while not self.stopping:
            try:
                r = self.p.get("/load", timeout=10)
                good, why = r.status == 200, "status %d" % r.status
            except Exception as e:      # a failed request is what we count
                good, why = False, repr(e)
            with self.lock:
                if good:
                    self.ok += 1
                else:
                    self.failed.append(why)

    def stop(self):
        self.stopping = True
        for t in self.threads:
            t.join(15)


def scale_out(dns):
    b2 = Backend(name="app2", host="127.0.0.2")
    b3 = Backend(name="app3", host="127.0.0.3", port=b2.port)
    g = {"resolver": dns.addr, "resolver_timeout": "1s"}
    inst = [Portico(name="edge%d" % i, workers=1, global_opts=g,
                    upstreams={"app": {"servers": ["app.test:%d resolve" % b2.port]}},
                    routes=[dict(name="app", path="/", upstream="app")])
            for i in (1, 2, 3)]
    table = {"app.test": {"A": ["127.0.0.2", "127.0.0.3"]},
             "_http._tcp.edge.test": {"SRV": [(10, 1, p.port, "edge.test") for p in inst]},
             "edge.test": {"A": ["127.0.0.1"]}}
    dns.set(table)
    front = Portico(name="front", workers=2, global_opts=g,
                    upstreams={"edge": {"servers": ["_http._tcp.edge.test srv"],
                                        "retries": "2", "max_fails": "1",
                                        "fail_timeout": "30s"}},
                    routes=[dict(name="edge", path="/", upstream="edge")])
    for p in inst + [front]:
        p.start()
    with subtest_guard("scale-out: three instances behind a front"):
        st = [front.get("/warm").status for _ in range(30)]
        tap.is_(st, [200] * 30, "the front serves through the instances")
        tap.ok(b2.count() > 0 and b3.count() > 0, "both backends found through DNS serve")

        load = Load(front)
        time.sleep(1)
        before = load.ok
        inst[0].signal(signal.SIGQUIT)      # graceful: finishes what it has
        inst[0].expect_master_exit(0)
        time.sleep(1.5)
        with load.lock:
            lost = list(load.failed)
            load.failed = []
        tap.ok(load.ok - before > 20, "requests went on while an instance stopped")
        tap.is_(lost[:5], [], "an instance stopped (QUIT): no request lost")

        # A hard kill: requests not yet answered are retried by the front;
        # one cut in the middle of its response (the front had passed part
        # of it on) cannot be, so at most the load's 3 in flight may fail,
        # and only that way.
        victim = inst[1]
        pids = [victim.master_pid] + victim.workers() + [c for c in [victim.checker()] if c]
        before = load.ok
        victim.expect_master_exit(-signal.SIGKILL)
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        time.sleep(2)
        load.stop()
        tap.ok(load.ok - before > 20, "requests went on after a kill (%d)" % (load.ok - before))
        other = [f for f in load.failed if "mid-response" not in f]
        tap.is_(other[:5], [], "a killed instance (SIGKILL): no request lost before "
                "its answer started (%d answered)" % load.ok)
        tap.ok(len(load.failed) <= 3, "at most the 3 in flight cut mid-response (%d)"
               % len(load.failed))
    for p in inst + [front]:
        p.stop()


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
    scale_out(dns)


main(test, timeout=120)
