#!/usr/bin/env python3
# The real client address behind trusted proxies (trusted_proxies,
# real_ip_header): from a trusted peer the rightmost untrusted address of
# X-Forwarded-For (or Forwarded for=, or X-Real-IP) is the client: the
# backend's X-Real-IP and X-Forwarded-For, the access log, route allow
# lists and ip_hash use it; spoofed leftmost entries, all-trusted chains,
# malformed values (peer kept, counted, logged); an untrusted peer's
# header is ignored; a listener's trusted_proxies overrides [global].
import json
import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import re
from portico_test import (tap, main, Backend, Portico, subtest_guard, wait_until, hget,
                          hall, free_port, run_portico)


def test():
    b = Backend("b1")
    ba, bb = Backend("ba"), Backend("bb")
    p1, p2, p3 = free_port(), free_port(), free_port()
    p = Portico(listeners={"web": ["127.0.0.1:%d" % p1], "edge": ["127.0.0.1:%d" % p2],
                           "fwd": ["127.0.0.1:%d" % p3]},
                upstreams={"app": [b.addr],
                           "ip": {"servers": [ba.addr, bb.addr], "balance": "ip_hash"}},
                routes=[dict(name="status", path="/_portico/", handler="status"),
                        dict(name="adm", path="/adm/", upstream="app",
                             allow="203.0.113.0/24"),
                        dict(name="ip", path="/ip/", upstream="ip"),
                        dict(name="main", path="/", upstream="app")],
                global_opts={"trusted_proxies": "127.0.0.0/8 10.0.0.0/8"})
    text = p.config_text()
    # edge: only 10/8 is trusted there, so the test's 127.0.0.1 is not.
    text = text.replace("[listener edge]\n", "[listener edge]\ntrusted_proxies = 10.0.0.0/8\n")
    text = text.replace("[listener fwd]\n", "[listener fwd]\nreal_ip_header = Forwarded\n")
    p.write_config(text)
    p.start()

    def ask(path, headers, port=p1):
        r = p.get(path, headers=headers, addr="127.0.0.1") if port == p1 else None
        if r is None:
            from portico_test import get
            r = get(port, path, headers=headers)
        return r

    def seen(path):
        reqs = b.requests_for(path)
        return reqs[-1]["headers"] if reqs else []

    def logged(path):
        def f():
            for l in p.access_lines():
                if ('"GET %s HTTP/1.1"' % path) in l:
                    return l.split(" ", 1)[0]
            return None
        return wait_until(f, 5)

    cases = [
        # (name, XFF fields, real address)
        ("one address", ["198.51.100.7"], "198.51.100.7"),
        ("rightmost untrusted wins over spoofed leftmost",
         ["6.6.6.6, 198.51.100.8, 10.1.2.3"], "198.51.100.8"),
        ("two fields are one list", ["6.6.6.6, 198.51.100.9", "10.0.0.5"], "198.51.100.9"),
        ("all trusted: the leftmost", ["10.9.9.9, 10.0.0.1"], "10.9.9.9"),
        ("IPv6 address", ["2001:db8::1, 10.0.0.2"], "2001:db8::1"),
        ("empty elements skipped", ["198.51.100.10,, 10.0.0.3 ,"], "198.51.100.10"),
    ]
    with subtest_guard("bad values refused by -t with file:line"):
        for key, val, sect, msg in [
                ("trusted_proxies", "10.0.0.0/33", "[global]\n", r"bad trusted_proxies address"),
                ("trusted_proxies", "proxy.example", "[listener edge]\n",
                 r"bad trusted_proxies address 'proxy\.example'"),
                ("real_ip_header", "X-Client-IP", "[listener fwd]\n",
                 r"bad real_ip_header 'X-Client-IP'"),
                ("real_ip_header", "True-Client-IP", "[global]\n", r"bad real_ip_header")]:
            bad = text.replace(sect, sect + "%s = %s\n" % (key, val), 1)
            line = bad.split("\n").index("%s = %s" % (key, val)) + 1
            path = os.path.join(p.tmp, "bad.ini")
            with open(path, "w") as f:
                f.write(bad)
            rc, out, err = run_portico(["-t", "-c", path])
            tap.is_(rc, 1, "-t, %s = %s: exits 1" % (key, val), err)
            tap.like(err, r"(?m)^%s:%d: %s" % (re.escape(path), line, msg),
                     "-t, %s = %s: file:line and what is wrong" % (key, val))

    with subtest_guard("X-Forwarded-For from a trusted peer"):
        for i, (name, fields, want) in enumerate(cases):
            path = "/x/%d" % i
            r = ask(path, [("X-Forwarded-For", f) for f in fields])
            tap.is_(r.status, 200, "%s: answered" % name)
            h = seen(path)
            tap.is_(hget(h, "X-Real-IP"), want, "%s: backend's X-Real-IP" % name)
            tap.is_(", ".join(hall(h, "X-Forwarded-For")),
                    ", ".join(fields) + ", 127.0.0.1",
                    "%s: X-Forwarded-For is the chain plus the peer" % name, str(h))
            tap.is_(logged(path), want, "%s: access log address" % name)

    with subtest_guard("malformed values keep the peer"):
        bad = ["198.51.100.1:8080", "not-an-ip", "1.2.3.4 5.6.7.8", "", "[2001:db8::1]",
               "1.2.3.256"]
        for i, v in enumerate(bad):
            path = "/mal/%d" % i
            r = ask(path, [("X-Forwarded-For", v)])
            tap.is_(r.status, 200, "malformed %r: answered" % v)
            tap.is_(hget(seen(path), "X-Real-IP"), "127.0.0.1",
                    "malformed %r: the peer's address" % v)
            tap.is_(logged(path), "127.0.0.1", "malformed %r: logged as the peer" % v)
        tap.ok(p.wait_log(r"client 127\.0\.0\.1: malformed X-Forwarded-For from a trusted "
                          r"proxy: keeping its address"), "malformed value logged at info")
        doc = json.loads(ask("/_portico/status", []).body)
        tap.ok(doc.get("realip_malformed", 0) >= 1, "counted in the status JSON",
               str(doc.get("realip_malformed")))
        m = ask("/_portico/metrics", []).body.decode()
        tap.like(m, r"(?m)^portico_realip_malformed_total [1-9]", "counted in /metrics")

    with subtest_guard("untrusted peer: header ignored"):
        r = ask("/edge/1", [("X-Forwarded-For", "198.51.100.20"), ("X-Real-IP", "6.6.6.6")],
                port=p2)
        tap.is_(r.status, 200, "edge listener answers")
        h = seen("/edge/1")
        tap.is_(hget(h, "X-Real-IP"), "127.0.0.1", "X-Real-IP is the peer, not the claim")
        tap.is_(hall(h, "X-Real-IP"), ["127.0.0.1"], "the client's X-Real-IP is not passed")
        tap.is_(hall(h, "X-Forwarded-For")[-1:], ["198.51.100.20, 127.0.0.1"],
                "X-Forwarded-For: the claim and the peer")
        tap.is_(logged("/edge/1"), "127.0.0.1", "access log: the peer")
        r = ask("/adm/e", [("X-Forwarded-For", "203.0.113.5")], port=p2)
        tap.is_(r.status, 403, "allow list: an untrusted peer's claim does not open it")

    with subtest_guard("Forwarded on a listener with real_ip_header = Forwarded"):
        r = ask("/fwd/1", [("Forwarded", 'for=6.6.6.6, for="[2001:db8::7]:4711";proto=https, '
                                         'for=10.0.0.9')], port=p3)
        tap.is_(hget(seen("/fwd/1"), "X-Real-IP"), "2001:db8::7", "for= IPv6 with port")
        tap.is_(logged("/fwd/1"), "2001:db8::7", "access log: the Forwarded address")
        ask("/fwd/2", [("Forwarded", 'for=198.51.100.30;by=10.0.0.1'),
                       ("X-Forwarded-For", "6.6.6.6")], port=p3)
        tap.is_(hget(seen("/fwd/2"), "X-Real-IP"), "198.51.100.30",
                "X-Forwarded-For is not read there")
        ask("/fwd/3", [("Forwarded", 'for=unknown')], port=p3)
        tap.is_(hget(seen("/fwd/3"), "X-Real-IP"), "127.0.0.1", "for=unknown: the peer")
        ask("/fwd/4", [("Forwarded", 'for="198.51.100.1')], port=p3)
        tap.is_(hget(seen("/fwd/4"), "X-Real-IP"), "127.0.0.1", "unclosed quote: the peer")

    with subtest_guard("allow list and ip_hash use the real address"):
        r = ask("/adm/1", [("X-Forwarded-For", "6.6.6.6, 203.0.113.5")])
        tap.is_(r.status, 200, "allow = 203.0.113.0/24: the real address is allowed")
        r = ask("/adm/2", [("X-Forwarded-For", "203.0.113.5, 6.6.6.6")])
        tap.is_(r.status, 403, "a spoofed leftmost entry does not open it")
        r = ask("/adm/3", [])
        tap.is_(r.status, 403, "without the header: the peer, refused")
        by = {}
        for i in range(40):
            ip = "198.51.100.%d" % (i % 20)
            r = ask("/ip/%d" % i, [("X-Forwarded-For", ip)])
            by.setdefault(ip, set()).add(r.header("X-Backend"))
        tap.ok(all(len(s) == 1 for s in by.values()),
               "ip_hash: each real address stays on one server", str(by))
        used = set().union(*by.values())
        tap.is_(sorted(used), ["ba", "bb"], "ip_hash: 20 real addresses use both servers")

    with subtest_guard("reload: trusted_proxies changed"):
        p.write_config(text.replace("trusted_proxies = 127.0.0.0/8 10.0.0.0/8",
                                    "trusted_proxies = 10.0.0.0/8"))
        p.signal("HUP")
        tap.ok(p.wait_log(r"reload: .*global settings changed", 10),
               "the reload summary names the change")

        def peer_now():
            ask("/rl", [("X-Forwarded-For", "198.51.100.77")])
            return hget(seen("/rl"), "X-Real-IP") == "127.0.0.1"
        tap.ok(wait_until(peer_now, 10), "after it, 127.0.0.1 is no longer trusted")
    p.stop()


if __name__ == "__main__":
    main(test, timeout=120, tests=72)
