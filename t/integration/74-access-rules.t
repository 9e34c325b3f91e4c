#!/usr/bin/env python3
# Access rules: allow and deny on routes and listeners, one ordered list,
# the first matching rule wins; when none matches, refused if the list has
# an allow rule, else let in.  Clients from 127.0.0.1 and ::1 (two
# addresses the test controls), the real address behind a trusted proxy,
# 403 from portico with the backend never asked, the reload summary, and
# bad values refused by -t with file:line.
import os
import re
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from portico_test import (tap, main, Backend, Portico, subtest_guard, free_port, get,
                          run_portico, ipv6_available)

V4, V6 = "127.0.0.1", "::1"


def test():
    if not ipv6_available():
        tap.skip("no IPv6 loopback", 1)
        return
    b = Backend("b1")
    p4, p6 = free_port(V4), free_port(V6)
    l4, l6 = free_port(V4), free_port(V6)
    o4, o6 = free_port(V4), free_port(V6)
    routes = [
        dict(name="ordered", listener="web", path="/ordered/", upstream="app"),
        dict(name="inside", listener="web", path="/inside/", upstream="app"),
        dict(name="reversed", listener="web", path="/reversed/", upstream="app"),
        dict(name="denyonly", listener="web", path="/denyonly/", upstream="app"),
        dict(name="denyall", listener="web", path="/denyall/", upstream="app"),
        dict(name="real", listener="web", path="/real/", upstream="app"),
        dict(name="main", path="/", upstream="app"),
    ]
    p = Portico(listeners={"web": ["%s:%d" % (V4, p4), "[%s]:%d" % (V6, p6)],
                           "lsn": ["%s:%d" % (V4, l4), "[%s]:%d" % (V6, l6)],
                           "only": ["%s:%d" % (V4, o4), "[%s]:%d" % (V6, o6)]},
                upstreams={"app": [b.addr]}, routes=routes,
                global_opts={"trusted_proxies": "127.0.0.1"})
    text = p.config_text()
    rules = {
        "[route ordered]\n": "allow = 127.0.0.1\ndeny = all\n",
        "[route inside]\n": "deny = 127.0.0.1\nallow = 127.0.0.0/8 ::1\n",
        "[route reversed]\n": "allow = 127.0.0.0/8\ndeny = 127.0.0.1\n",
        "[route denyonly]\n": "deny = ::1\n",
        "[route denyall]\n": "deny = all\n",
        "[route real]\n": "deny = 198.51.100.7\nallow = 198.51.100.0/24, ::1\n",
        "[listener lsn]\n": "deny = 127.0.0.1\nallow = all\n",
        "[listener only]\n": "allow = ::1\n",
    }
    for sect, r in rules.items():
        text = text.replace(sect, sect + r)
    p.write_config(text)
    p.start()

    def ask(port, addr, path, headers=None):
        return get(port, path, addr=addr, headers=headers).status

    def refused(port, addr, path, what, headers=None):
        tap.is_(ask(port, addr, path, headers), 403, "%s: 403" % what)
        tap.is_(b.requests_for(path), [], "%s: the backend is not asked" % what)

    def answered(port, addr, path, what, headers=None):
        tap.is_(ask(port, addr, path, headers), 200, "%s: 200" % what)
        tap.is_(len(b.requests_for(path)), 1, "%s: the backend answers" % what)

    with subtest_guard("route rules in the order written"):
        answered(p4, V4, "/ordered/1", "allow 127.0.0.1, deny all: from 127.0.0.1")
        refused(p6, V6, "/ordered/2", "allow 127.0.0.1, deny all: from ::1")
        refused(p4, V4, "/inside/1", "deny 127.0.0.1 inside an allowed 127/8: from 127.0.0.1")
        answered(p6, V6, "/inside/2", "deny 127.0.0.1, allow 127/8 ::1: from ::1")
        answered(p4, V4, "/reversed/1", "allow 127/8 before deny 127.0.0.1: the allow wins")
        refused(p6, V6, "/reversed/2", "allow 127/8 then deny: ::1 matches none, refused")
        answered(p4, V4, "/denyonly/1", "deny ::1 only: 127.0.0.1 let in")
        refused(p6, V6, "/denyonly/2", "deny ::1 only: from ::1")
        refused(p4, V4, "/denyall/1", "deny all: from 127.0.0.1")
        refused(p6, V6, "/denyall/2", "deny all: from ::1")
        answered(p4, V4, "/main/1", "no rules: from 127.0.0.1")
        answered(p6, V6, "/main/2", "no rules: from ::1")
        tap.ok(p.wait_log(r"client ::1: not allowed on route ordered"),
               "the refusal is logged with the address and route")

    with subtest_guard("the real address behind a trusted proxy"):
        refused(p4, V4, "/real/1", "XFF 198.51.100.7 denied inside the allowed /24",
                [("X-Forwarded-For", "198.51.100.7")])
        answered(p4, V4, "/real/2", "XFF 198.51.100.8 allowed",
                 [("X-Forwarded-For", "198.51.100.8")])
        refused(p4, V4, "/real/3", "the peer 127.0.0.1 itself is not in the list")

    with subtest_guard("listener rules"):
        refused(l4, V4, "/l/1", "listener deny 127.0.0.1, allow all: from 127.0.0.1")
        answered(l6, V6, "/l/2", "listener deny 127.0.0.1, allow all: from ::1")
        refused(o4, V4, "/o/1", "listener allow ::1 only: from 127.0.0.1")
        answered(o6, V6, "/o/2", "listener allow ::1 only: from ::1")
        tap.ok(p.wait_log(r"client 127\.0\.0\.1: not allowed on listener lsn"),
               "the listener refusal is logged")

    with subtest_guard("bad values refused by -t with file:line"):
        for key, val, sect, msg in [
                ("deny", "10.0.0.0/33", "[route ordered]\n", r"bad deny address '10\.0\.0\.0/33'"),
                ("allow", "everyone", "[listener lsn]\n", r"bad allow address 'everyone'"),
                ("deny", "10.0.0.0/8 nobody", "[listener only]\n",
                 r"bad deny address 'nobody' \(expected an address, address/prefix or all\)"),
                ("deny", ",", "[route inside]\n", r"deny lists no address")]:
            bad = text.replace(sect, sect + "%s = %s\n" % (key, val), 1)
            line = bad.split("\n").index("%s = %s" % (key, val)) + 1
            path = os.path.join(p.tmp, "bad.ini")
            with open(path, "w") as f:
                f.write(bad)
            rc, out, err = run_portico(["-t", "-c", path])
            tap.is_(rc, 1, "-t, %s = %s: exits 1" % (key, val), err)
            tap.like(err, r"(?m)^%s:%d: %s" % (re.escape(path), line, msg),
                     "-t, %s = %s: file:line and what is wrong" % (key, val))

    with subtest_guard("reload: the summary names the changed lists"):
        new = text.replace("allow = 127.0.0.1\ndeny = all\n", "deny = 127.0.0.1\nallow = all\n")
        new = new.replace("[listener only]\nallow = ::1\n", "[listener only]\nallow = ::1 127.0.0.1\n")
        p.write_config(new)
        p.signal("HUP")
        tap.ok(p.wait_log(r"reload: .*route ordered: allow/deny changed", 10),
               "route ordered: allow/deny changed")
        tap.ok(p.wait_log(r"reload: .*listener only: allow/deny changed", 10),
               "listener only: allow/deny changed")

        def flipped():
            return ask(p6, V6, "/ordered/9") == 200 and ask(o4, V4, "/o/9") == 200
        from portico_test import wait_until
        tap.ok(wait_until(flipped, 10), "after it, the new rules apply")
        tap.is_(ask(p4, V4, "/ordered/10"), 403, "the reversed rule now refuses 127.0.0.1")
    p.stop()


if __name__ == "__main__":
    main(test, timeout=120, tests=53)
