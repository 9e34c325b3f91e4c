#!/usr/bin/env python3
# Connections per client address (max_conns_per_ip on a listener) and
# requests at once per key ([limit NAME] with concurrency), both counted
# across the workers: the connection over the limit is closed right
# after the accept, counted and logged; the request over the concurrency
# gets 503 and never reaches the backend; what a request holds is given
# back when its client aborts, and when its worker is killed.
import os
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from portico_test import (tap, main, Backend, Portico, subtest_guard, get, wait_until, free_port,
                          status_json, metric, hold, passes)

LIMITS = """
[limit one]
key = addr
concurrency = 1
"""


def test():
    b = Backend("b1")
    b.script("/conc/slow", body=b"slow", delay=30)
    b.script("/conc/slow2", body=b"slow", delay=30)
    routes = [
        dict(name="status", path="/status", handler="status"),
        dict(name="conc", path="/conc/", upstream="app", limit="one"),
        dict(name="main", path="/", upstream="app"),
    ]
    adm = free_port()
    p = Portico(upstreams={"app": [b.addr]}, routes=routes, workers=2, extra=LIMITS)
    p.listeners = {"web": ["127.0.0.1:%d" % p.port], "adm": ["127.0.0.1:%d" % adm]}
    text = p.config_text().replace("[listener web]\n", "[listener web]\nmax_conns_per_ip = 3\n")
    p.write_config(text)
    p.start()
    w = p.workers()

    # The status page on another listener: web's connections are limited.
    def status():
        return status_json(adm, "/status")

    with subtest_guard("max_conns_per_ip across workers"):
        held = [p.client_on(w[0]), p.client_on(w[1])]
        for i, c in enumerate(held):
            tap.is_(c.request("GET", "/held/%d" % i).status, 200,
                    "connection %d (worker %d) is served" % (i + 1, i + 1))
        third = p.client()
        tap.is_(third.request("GET", "/held/2").status, 200,
                "a third connection is within max_conns_per_ip = 3")
        fourth = p.client()
        tap.ok(fourth.is_closed(5), "a fourth is closed right after the accept")
        tap.is_(b.requests_for("/held/3"), [], "nothing of it reaches the backend")
        tap.is_(status()["max_conns_per_ip"]["web"]["refused"], 1,
                "status JSON: max_conns_per_ip refused 1")
        tap.ok(p.wait_log(r"client 127\.0\.0\.1: connection closed: max_conns_per_ip \(3\) "
                          r"of listener web reached"), "the refusal is logged")
        m = get(adm, "/status/metrics").body.decode()
        tap.is_(metric(m, 'portico_max_conns_per_ip_refused_total{listener="web"}'), 1,
                "/metrics: portico_max_conns_per_ip_refused_total")
        held[0].close()
        fourth.close()

        def again():
            c = p.client()
            try:
                return c.request("GET", "/held/again").status == 200
            except Exception:
                return False
            finally:
                c.close()
        tap.ok(wait_until(again, 10), "a connection closed gives its place back")
        held[1].close()
        third.close()

        def three():
            cs = []
            try:
                for i in range(3):
                    cs.append(p.client())
                return all(c.request("GET", "/held/x").status == 200 for c in cs)
            except Exception:
                return False
            finally:
                for c in cs:
                    c.close()
        tap.ok(wait_until(three, 10), "all closed: three connections at once again")

    with subtest_guard("concurrency: 503, released after a client abort"):
        a = p.client_on(w[0])
        tap.ok(hold(a, b, "/conc/slow"), "a request holds the key's one place (at the backend)")
        c = p.client_on(w[1])
        r = c.request("GET", "/conc/x")
        c.close()
        tap.is_(r.status, 503, "a second at once, on the other worker: 503")
        tap.is_(b.requests_for("/conc/x"), [], "the backend never sees it")
        a.close()       # the client gives up: its exchange ends, 499
        tap.ok(passes(p.port, "/conc/y"), "after the client's abort the place is free again")
        js = status()
        tap.ok(js["limits"]["one"]["rejected"] >= 1, "status JSON: one rejected counted")

    with subtest_guard("concurrency: a killed worker's share is taken back"):
        a = p.client_on(w[0])
        tap.ok(hold(a, b, "/conc/slow2"), "a request on worker 1 holds the place")
        c = p.client_on(w[1])
        tap.is_(c.request("GET", "/conc/z").status, 503, "held: 503 on worker 2")
        c.close()
        p.expect_worker_death(w[0], 9)
        os.kill(w[0], 9)
        a.close()
        tap.ok(passes(p.port, "/conc/after", 15),
               "after the worker holding it was killed, the place is free")
    time.sleep(0.2)
    p.stop()


if __name__ == "__main__":
    main(test, timeout=120, tests=19)
