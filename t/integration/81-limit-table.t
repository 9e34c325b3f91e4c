#!/usr/bin/env python3
# The limits' shared table: a tiny one (limit_table_size = 8) evicts the
# least recently used key, which then starts over; a reload keeps the
# counts of a limit that is still there (and its counters in the status
# JSON); and bad limit configuration is refused by -t with file:line.
import os
import re
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from portico_test import tap, main, Backend, Portico, subtest_guard, get, run_portico

LIMITS = """
[limit keep]
key = header:X-Key
rate = 1/m
"""


def test():
    b = Backend("b1")
    routes = [
        dict(name="status", path="/status", handler="status"),
        dict(name="keep", path="/keep/", upstream="app", limit="keep"),
        dict(name="main", path="/", upstream="app"),
    ]
    p = Portico(upstreams={"app": [b.addr]}, routes=routes, workers=2, extra=LIMITS,
                global_opts={"limit_table_size": "8"})
    p.start()

    def ask(path, key):
        return get(p.port, path, headers=[("X-Key", key)]).status

    def status():
        return get(p.port, "/status").json()

    with subtest_guard("a reload keeps the counts"):
        tap.is_(ask("/keep/1", "ka"), 200, "ka: the first passes")
        tap.is_(ask("/keep/2", "ka"), 429, "ka: the second gets 429")
        routes.append(dict(name="extra", path="/extra/", upstream="app", limit="newer"))
        tap.ok(p.reload(routes=routes, extra=LIMITS + "\n[limit newer]\nkey = route\n"
                        "concurrency = 5\n"), "reloaded (a route and a limit added)")
        tap.ok(p.wait_log(r"reload: .*limit newer added"), "the reload summary names the new limit")
        tap.is_(ask("/keep/3", "ka"), 429, "after the reload, ka is still over its rate")
        tap.is_(b.requests_for("/keep/3"), [], "... and not forwarded")
        js = status()
        tap.is_(js["limits"]["keep"]["rejected"], 2, "the counters survive the reload too")
        tap.is_(js["limit_table"]["size"], 8, "status JSON: the table has 8 entries")

    with subtest_guard("a tiny table evicts the least recently used key"):
        tap.is_(status()["limit_table"]["evictions"], 0, "no eviction yet")
        got = [ask("/keep/e%d" % i, "k%d" % i) for i in range(8)]
        tap.is_(got, [200] * 8, "8 new keys each pass once")
        tap.ok(status()["limit_table"]["evictions"] >= 1,
               "a full table evicted an entry (counted)")
        tap.is_(ask("/keep/4", "ka"), 200, "ka, the least recently used, was evicted: "
                "it starts over and passes")
        tap.is_(ask("/keep/5", "ka"), 429, "... and is counted again")

    with subtest_guard("bad limits refused by -t with file:line"):
        text = p.config_text()
        for what, edit, needle, msg in [
                ("unknown limit on a route", ("[route keep]\n", "[route keep]\nlimit = keep nope\n"),
                 "limit = keep nope", r"route 'keep': no limit named 'nope'"),
                ("bad rate", ("rate = 1/m\n", "rate = 5/h\n"), "rate = 5/h",
                 r"rate: '5/h' is not N/s or N/m"),
                ("zero rate", ("rate = 1/m\n", "rate = 0/s\n"), "rate = 0/s",
                 r"rate: '0' is not a number of requests"),
                ("bad key", ("key = header:X-Key\n", "key = client\n"), "key = client",
                 r"key: 'client' is not addr, header:NAME, cookie:NAME or route"),
                ("rate and concurrency", ("rate = 1/m\n", "rate = 1/m\nconcurrency = 3\n"),
                 "concurrency = 3", r"limit 'keep': a rate or a concurrency, not both"),
                ("bad status", ("rate = 1/m\n", "rate = 1/m\nstatus = 200\n"), "status = 200",
                 r"status: '200' is not a status from 400 to 599"),
                ("bad max_conns_per_ip", ("[listener web]\n",
                                          "[listener web]\nmax_conns_per_ip = -1\n"),
                 "max_conns_per_ip = -1", r"max_conns_per_ip")]:
            bad = text.replace(edit[0], edit[1], 1)
            line = bad.split("\n").index(needle) + 1
            path = os.path.join(p.tmp, "bad.ini")
            with open(path, "w") as f:
                f.write(bad)
            rc, out, err = run_portico(["-t", "-c", path])
            tap.is_(rc, 1, "-t, %s: exits 1" % what, err)
            tap.like(err, r"(?m)^%s:%d: .*%s" % (re.escape(path), line, msg),
                     "-t, %s: file:line and what is wrong" % what)
    p.stop()


if __name__ == "__main__":
    main(test, timeout=120, tests=28)
