#!/usr/bin/env python3
# IPv6: a listener on [::1], an IPv6 backend, X-Forwarded-For and the access
# log with an IPv6 client, Host with an IPv6 literal.
import os
import re
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from portico_test import (tap, main, Backend, Portico, Client, free_port, get, ipv6_available,
                          hall, subtest_guard, wait_until)


TESTS = 10    # every test of the file (all skipped without IPv6)


def test():
    if not ipv6_available():
        tap.skip("no IPv6 loopback on this host", TESTS)
        return
    b4 = Backend("v4")
    b6 = Backend("v6", host="::1")
    p4, p6 = free_port(), free_port("::1")
    p = Portico(upstreams={"app": [b4.addr], "six": [b6.addr]},
                listeners={"web": ["[::1]:%d" % p6, "127.0.0.1:%d" % p4]},
                routes=[dict(name="main", path="/", upstream="app"),
                        dict(name="six", path="/six/", upstream="six")])
    p.start()

    with subtest_guard("IPv6 client"):
        with Client(p6, "::1") as c:
            r = c.request("GET", "/echo/v6", host="[::1]:%d" % p6)
        tap.is_(r.status, 200, "request over [::1]: 200")
        rec = b4.last()
        tap.is_(hall(rec["headers"], "x-forwarded-for"), ["::1"], "X-Forwarded-For: ::1")
        tap.is_(hall(rec["headers"], "host"), ["[::1]:%d" % p6], "IPv6 literal Host passed through")
        line = wait_until(lambda: [l for l in p.access_lines() if "/echo/v6" in l], 3)
        tap.ok(line and line[0].startswith("::1 - - ["), "access log client is ::1", repr(line))
        with Client(p6, "::1") as c:
            got = [c.request("GET", "/echo/%d" % i).status for i in range(5)]
        tap.is_(got, [200] * 5, "keep-alive over IPv6")

    with subtest_guard("IPv6 backend"):
        r = get(p4, "/six/echo")
        tap.ok(r.status == 200 and r.header("X-Backend") == "v6",
               "IPv4 client, upstream server [::1]:PORT")
        with Client(p6, "::1") as c:
            r = c.request("GET", "/six/echo")
        tap.ok(r.status == 200 and r.header("X-Backend") == "v6", "IPv6 all the way")
        r = get(p4, "/echo/v4")
        tap.ok(r.status == 200 and hall(b4.last()["headers"], "x-forwarded-for") == ["127.0.0.1"],
               "the IPv4 address of the same listener serves too")

    with subtest_guard("IPv6 error pages"):
        with Client(p6, "::1") as c:
            c.send(b"GET / HTTP/1.1\r\n\r\n")
            r = c.read_response()
        tap.is_(r.status, 400, "missing Host over IPv6: 400")
    p.stop()


main(test, timeout=60, tests=TESTS)
