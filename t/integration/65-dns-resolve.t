#!/usr/bin/env python3
# Servers from DNS: `server = NAME:PORT resolve`.  A DNS server run by the
# test (dnsserver.py) answers for api.test from a table the test rewrites.
# Under a steady load of requests: an address added gets requests, one
# removed gets none after it is gone (its pooled connections are not
# reused), one changed moves the requests, and no request fails.  The
# status JSON and /metrics name the source and the last result.  A
# resolver that stops answering keeps the last set (logged); a TTL of 30 s
# is respected (no question until it runs out), a TTL of 0 is raised to
# dns_min_ttl.
import json
import os
import sys
import threading
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from portico_test import tap, main, Portico, Backend, subtest_guard, wait_until, free_port
from dnsserver import DnsServer


class Load:
    """Requests one after another from a few threads; counts the answers."""

    def __init__(self, p, target, threads=3):
        self.p = p
        self.target = target
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
                r = self.p.get(self.target, timeout=10)
                good = r.status == 200
                why = "status %d" % r.status
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


def upstream_doc(p, name):
    doc = json.loads(p.get("/_portico/status").body)
    for u in doc["upstreams"]:
        if u["name"] == name:
            return u
    return None


def hits_grow(b, timeout=8):
    """Whether backend b gets new requests within timeout."""
    n = b.count()
    return wait_until(lambda: b.count() > n, timeout)


def test():
    port = free_port()
    backs = {i: Backend(name="b%d" % i, host="127.0.0.%d" % i, port=port) for i in (2, 3, 4, 5)}
    dns = DnsServer()
    dns.set({"api.test": {"A": ["127.0.0.2", "127.0.0.3"], "ttl": 1},
             "slow.test": {"A": ["127.0.0.5"], "ttl": 30},
             "zero.test": {"A": ["127.0.0.5"], "ttl": 0}})
    ups = {"api": {"servers": ["api.test:%d resolve max_addresses=4" % port],
                   "max_fails": "0"},
           "slow": {"servers": ["slow.test:%d resolve" % port]},
           "zero": {"servers": ["zero.test:%d resolve" % port]}}
    routes = [dict(name="status", path="/_portico/", handler="status"),
              dict(name="slow", path="/s/", upstream="slow"),
              dict(name="zero", path="/zero/", upstream="zero"),
              dict(name="api", path="/", upstream="api")]
    p = Portico(upstreams=ups, routes=routes, workers=2,
                global_opts={"resolver": dns.addr, "resolver_timeout": "1s",
                             "dns_min_ttl": "1s", "dns_max_ttl": "1m"})
    p.start()
    t_start = time.monotonic()

    with subtest_guard("both addresses serve"):
        st = [p.get("/x").status for _ in range(20)]
        tap.ok(st == [200] * 20 and backs[2].count() > 0 and backs[3].count() > 0,
               "both addresses of api.test get requests", p.error_log()[-2000:])
        u = upstream_doc(p, "api")
        addrs = sorted(s["address"] for s in u["servers"])
        tap.is_(addrs, ["127.0.0.2:%d" % port, "127.0.0.3:%d" % port],
                "status JSON: the two resolved servers (empty slots not shown)")
        tap.is_({s["source"] for s in u["servers"]}, {"api.test"},
                "status JSON: each server's source name")
        d = u.get("dns", [{}])[0]
        tap.ok(d.get("name") == "api.test" and d.get("result") == "2 addresses" and
               abs(d.get("resolved_at", 0) - time.time()) < 30 and d.get("max_addresses") == 4,
               "status JSON: the name, its last result and time", json.dumps(u.get("dns")))
        m = p.get("/_portico/metrics").body.decode()
        tap.like(m, r'portico_upstream_dns_addresses\{upstream="api",name="api.test"\} 2',
                 "/metrics: addresses of the name")
        tap.like(m, r'portico_server_requests_total\{upstream="api",server="127\.0\.0\.2:%d"\}' % port,
                 "/metrics: a resolved server under its address")

    load = Load(p, "/x")
    with subtest_guard("an address added joins"):
        dns.set({"api.test": {"A": ["127.0.0.2", "127.0.0.3", "127.0.0.4"], "ttl": 1},
                 "slow.test": {"A": ["127.0.0.5"], "ttl": 30},
                 "zero.test": {"A": ["127.0.0.5"], "ttl": 0}})
        tap.ok(p.wait_log(r"upstream api: api.test: server 127.0.0.4:%d from DNS" % port, 8),
               "the new address is logged")
        tap.ok(hits_grow(backs[4]), "the new address gets requests")

    with subtest_guard("an address removed drains"):
        dns.set({"api.test": {"A": ["127.0.0.3", "127.0.0.4"], "ttl": 1},
                 "slow.test": {"A": ["127.0.0.5"], "ttl": 30},
                 "zero.test": {"A": ["127.0.0.5"], "ttl": 0}})
        tap.ok(p.wait_log(r"api.test: server 127.0.0.2:%d is gone from DNS" % port, 8),
               "the removal is logged")
        time.sleep(0.5)
        n = backs[2].count()
        time.sleep(1.5)
        tap.is_(backs[2].count(), n, "the removed address gets no new request "
                "(nor on a pooled connection)")
        tap.ok(hits_grow(backs[3]) and hits_grow(backs[4]), "the others still do")

    with subtest_guard("an address changed"):
        dns.set({"api.test": {"A": ["127.0.0.4", "127.0.0.5"], "ttl": 1},
                 "slow.test": {"A": ["127.0.0.5"], "ttl": 30},
                 "zero.test": {"A": ["127.0.0.5"], "ttl": 0}})
        tap.ok(p.wait_log(r"api.test: server 127.0.0.3:%d is gone" % port, 8),
               "127.0.0.3 goes")
        tap.ok(hits_grow(backs[5]), "127.0.0.5 gets requests")
        time.sleep(0.5)
        n = backs[3].count()
        time.sleep(1.5)
        tap.is_(backs[3].count(), n, "127.0.0.3 gets no new request")

    with subtest_guard("resolver down keeps the last set"):
        dns.down()
        tap.ok(p.wait_log(r"upstream api: api.test does not resolve \(.*\): keeping "
                          r"the last 2 addresses", 10),
               "the failure is logged, the last 2 addresses kept", p.error_log()[-1500:])
        tap.ok(hits_grow(backs[4]) and hits_grow(backs[5]),
               "requests still go to the last addresses")
        d = upstream_doc(p, "api")["dns"][0]
        tap.like(d["result"], r"^failed: ", "status JSON: the last result is a failure")
        m = p.get("/_portico/metrics").body.decode()
        tap.like(m, r'portico_upstream_dns_ok\{upstream="api",name="api.test"\} 0',
                 "/metrics: dns_ok is 0")
        dns.up()
        tap.ok(p.wait_log(r"upstream api: api.test resolves again", 10),
               "answers again: logged")
    load.stop()
    tap.ok(load.ok > 50, "the load ran (%d requests)" % load.ok)
    tap.is_(load.failed[:5], [], "no request of the load failed while the "
            "addresses changed")

    with subtest_guard("TTL"):
        # slow.test (TTL 30 s) was asked at start (the master, then the
        # checker's first round); not again before 30 s are over.
        if time.monotonic() - t_start < 25:
            n = dns.count("slow.test", "A")
            time.sleep(2)
            tap.ok(1 <= n <= 2 and dns.count("slow.test", "A") == n,
                   "a 30 s TTL: no new question (%d so far)" % n)
        else:
            tap.skip("the test ran too long to tell a 30 s TTL")
        times = dns.ask_times("zero.test", "A")
        gaps = [b - a for a, b in zip(times[1:], times[2:])]
        tap.ok(len(gaps) >= 2 and min(gaps) >= 0.9,
               "a 0 TTL is raised to dns_min_ttl (1 s): gaps %s" %
               ["%.2f" % g for g in gaps[:8]])
        tap.is_(p.get("/s/x").status, 200, "slow.test serves")
    p.stop()


main(test, timeout=120)
