#!/usr/bin/env python3
# The status endpoint (route handler = status): JSON and Prometheus text,
# counters summed over all workers from shared memory, loopback-only by
# default; route allow lists answer 403 to other clients.
import json
import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from portico_test import tap, main, Backend, Portico, subtest_guard, refused_port, ipv6_available


def test():
    b = Backend("b1")
    down = refused_port()
    listeners = {"web": ["127.0.0.1:%d" % __import__("portico_test").free_port()]}
    v6 = ipv6_available()
    if v6:
        listeners["web"].append("[::1]:%d" % __import__("portico_test").free_port("::1"))
    b2 = Backend("b2")
    dead = "127.0.0.1:%d" % refused_port()
    p = Portico(upstreams={
        "app": ["127.0.0.1:%d" % down, b.addr + " weight=2 max_conns=50"],
        "hc": {"servers": [dead, b.addr], "health_check": "tcp",
               "health_interval": "200ms", "health_fall": "1"},
        "f5": {"servers": [b.addr, b2.addr], "fail_on_5xx": "on", "max_fails": "2"},
    }, listeners=listeners, routes=[
        dict(name="hc", path="/hc/", upstream="hc"),
        dict(name="f5", path="/f5/", upstream="f5"),
        dict(name="main", path="/", upstream="app"),
        dict(name="status", path="/_portico/", handler="status"),
        dict(name="lan", path="/lan/", upstream="app", allow="10.0.0.0/8"),
        dict(name="v6only", path="/v6/", handler="status", allow="::1"),
    ], workers=2)
    p.start()

    with subtest_guard("JSON"):
        # 10 requests on a connection to each worker (chosen on purpose):
        # a count kept per worker would show 10, not 20.
        conns = p.clients_on_workers()
        tap.is_(len(conns), 2, "a connection to each of the 2 workers",
                repr(sorted(conns)))
        for w, c in conns.items():
            for i in range(10):
                c.request("GET", "/echo/%d/%d" % (w, i))
        views = [json.loads(c.request("GET", "/_portico/status").body)
                 for c in conns.values()]
        tap.ok(all(v["requests"] >= 21 for v in views),
               "status: each worker reports the requests of both (10 + 10, not its own 10)",
               repr([v["requests"] for v in views]))
        for c in conns.values():
            c.close()
        r = p.get("/_portico/status")
        tap.is_(r.status, 200, "status: 200")
        tap.like(r.header("Content-Type") or "", r"application/json", "status: JSON")
        doc = json.loads(r.body)
        ups = {u["name"]: u for u in doc["upstreams"]}
        tap.ok("app" in ups, "status: lists upstream app")
        srv = {s["address"]: s for s in ups["app"]["servers"]}
        good = srv.get(b.addr.replace("localhost", "127.0.0.1"))
        bad = srv.get("127.0.0.1:%d" % down)
        tap.ok(good is not None and bad is not None, "status: both servers listed", str(list(srv)))
        tap.ok(good and good["requests"] >= 20, "status: requests counted across both workers",
               str(good))
        tap.ok(good and good["weight"] == 2 and good["max_conns"] == 50 and good["backup"] is False,
               "status: weight, max_conns, backup shown")
        tap.ok(bad and bad["failures"] >= 1, "status: the refusing server has failures", str(bad))
        tap.ok(bad and bad["retries"] >= 1, "status: ... and retries (requests moved on)", str(bad))
        tap.ok(doc["requests"] >= 21 and doc["responses"]["2xx"] >= 20,
               "status: totals over all workers", str({k: doc[k] for k in ("requests", "responses")}))
        tap.ok(all(k in good for k in ("state", "since_ms", "last_probe", "active")),
               "status: state, since, last probe, active connections")

    with subtest_guard("Prometheus"):
        r = p.get("/_portico/metrics")
        tap.is_(r.status, 200, "metrics: 200")
        text = r.body.decode()
        tap.like(r.header("Content-Type") or "", r"text/plain", "metrics: text/plain")
        tap.like(text, r'portico_server_requests_total\{upstream="app",server="127\.0\.0\.1:\d+"\} \d+',
                 "metrics: per-server request counter")
        tap.like(text, r'(?m)^portico_requests_total \d+$', "metrics: total requests")
        fams = [l.split()[2] for l in text.splitlines() if l.startswith("# TYPE")]
        tap.is_(len(fams), len(set(fams)), "metrics: each family declared once")
        # every sample of a family follows its TYPE line (one group per family;
        # a histogram's samples are its _bucket, _sum and _count)
        cur, ok = None, True
        for l in text.splitlines():
            if l.startswith("# TYPE"):
                cur, kind = l.split()[2], l.split()[3]
            elif l and not l.startswith("#"):
                name = l.split("{")[0].split()[0]
                ok = ok and (name == cur or kind == "histogram" and
                             name in (cur + "_bucket", cur + "_sum", cur + "_count"))
        tap.ok(ok, "metrics: samples grouped under their family")

    with subtest_guard("health state in the status"):
        import time
        time.sleep(1.0)
        doc = json.loads(p.get("/_portico/status").body)
        hc = {sv["address"]: sv for u in doc["upstreams"] if u["name"] == "hc"
              for sv in u["servers"]}
        d = hc.get(dead, {})
        tap.is_(d.get("state"), "down", "status: a server failing its tcp probe shows down")
        tap.ok(d.get("probes", 0) >= 1 and d.get("last_probe"), "... with its last probe result",
               str(d))
        text = p.get("/_portico/metrics").body.decode()
        tap.like(text, r'portico_server_up\{upstream="hc",server="%s"\} 0' % dead.replace(".", r"\."),
                 "metrics: portico_server_up 0 for it")
        tap.is_(p.get("/hc/echo/x").status, 200, "its upstream still serves from the live server")

    with subtest_guard("fail_on_5xx"):
        for i in range(6):
            p.get("/f5/status/500")
        tap.ok(p.wait_log(r"upstream f5 server .*: failed \(2 failures within", 3),
               "fail_on_5xx = on: 5xx answers mark a server failed (passive)")

    with subtest_guard("access control"):
        r = p.get("/_portico/status", method="POST", body=b"x")
        tap.is_(r.status, 405, "status: POST gets 405")
        r = p.get("/lan/echo/x")
        tap.is_(r.status, 403, "allow = 10.0.0.0/8: a 127.0.0.1 client gets 403")
        tap.is_(sum(1 for rec in list(b.requests) if rec["target"] == "/lan/echo/x"), 0,
                "... and the backend never sees it")
        r = p.get("/v6/status")
        tap.is_(r.status, 403, "allow = ::1: an IPv4 client gets 403")
        if v6:
            from portico_test import get
            port6 = int(listeners["web"][1].rsplit(":", 1)[1])
            r = get(port6, "/v6/status", addr="::1")
            tap.is_(r.status, 200, "allow = ::1: the ::1 client gets the status")
        else:
            tap.skip("no IPv6 loopback")

    p.stop()


if __name__ == "__main__":
    main(test, timeout=60, tests=29)
