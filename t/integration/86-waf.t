#!/usr/bin/env python3
# The web application firewall (libmodsecurity 3 with the OWASP Core Rule
# Set, through the shipped etc/waf-crs.conf): with waf = on, classic
# attacks in the query (SQL injection, XSS, path traversal, command
# injection), a scanner's User-Agent, and attacks in a POST body
# (urlencoded, JSON, multipart; Content-Length and chunked) get 403 from
# portico and never reach the backend; ordinary requests of a web
# application pass; waf = detect forwards and logs; waf = off does not
# look; a body over waf_body_limit gets 413 (on) or passes (detect); a
# cache hit is inspected too; the error log names the rule ids, and the
# status JSON and /metrics count.
import json
import os
import re
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from portico_test import (tap, main, Backend, Portico, subtest_guard, get, Client,
                          chunk_encode, TOP)

CRS = "/usr/share/modsecurity-crs/rules/REQUEST-942-APPLICATION-ATTACK-SQLI.conf"
BROWSER = [("User-Agent", "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 "
            "Firefox/128.0"),
           ("Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"),
           ("Accept-Language", "en-US,en;q=0.5"),
           ("Accept-Encoding", "gzip, deflate, br")]

ATTACKS = [
    ("sql injection in the query", "/on/item?id=1'%20OR%20'1'='1", [], r"rule 942\d+"),
    ("xss in a parameter", "/on/search?q=%3Cscript%3Ealert(document.cookie)%3C/script%3E",
     [], r"rule 941\d+"),
    ("path traversal in a parameter", "/on/download?file=../../../../etc/passwd", [],
     r"rule 930\d+"),
    ("command injection in a parameter", "/on/ping?host=127.0.0.1;cat%20/etc/passwd", [],
     r"rule 932\d+"),
    ("a scanner's User-Agent", "/on/index.html", [("User-Agent", "sqlmap/1.7.2#stable")],
     r"rule 913100"),
    ("sql injection in a header", "/on/profile",
     [("Referer", "http://x/' UNION SELECT password FROM users--")], r"rule 942\d+"),
]


def test():
    if not os.path.exists(CRS):
        tap.skip("the OWASP CRS (modsecurity-crs) is not installed", 1)
        return
    b = Backend("b1")
    b.script("/cached/page", headers=[("Cache-Control", "max-age=300")], body=b"cached body")
    routes = [
        dict(name="on", path="/on/", upstream="app", waf="on"),
        dict(name="detect", path="/detect/", upstream="app", waf="detect"),
        dict(name="cached", path="/cached/", upstream="app", waf="on", cache="on"),
        dict(name="status", path="/_portico/", handler="status"),
        dict(name="main", path="/", upstream="app"),
    ]
    p = Portico(upstreams={"app": [b.addr]}, routes=routes,
                global_opts={"waf_rules": os.path.join(TOP, "etc", "waf-crs.conf"),
                             "waf_body_limit": "64k"},
                extra="[cache]\nsize = 8m\n")
    p.start()

    def blocked(what, target, headers=None, method="GET", body=None, rule=None):
        r = get(p.port, target, headers=BROWSER + list(headers or []), method=method,
                body=body)
        tap.is_(r.status, 403, "%s: 403" % what, r.body[:200].decode("latin-1"))
        tap.is_(b.hits(target), 0, "%s: the backend never sees it" % what)
        if rule:
            tap.ok(p.wait_log(r"client 127\.0\.0\.1: waf: route \S+: %s: " % rule),
                   "%s: the error log names the rule" % what)

    def passed(what, target, headers=None, method="GET", body=None):
        r = get(p.port, target, headers=BROWSER + list(headers or []), method=method,
                body=body)
        tap.is_(r.status, 200, "%s: 200" % what, r.body[:200].decode("latin-1"))
        tap.is_(b.hits(target), 1, "%s: the backend answers" % what)
        return r

    with subtest_guard("attacks in the request line and head are blocked"):
        for what, target, headers, rule in ATTACKS:
            blocked(what, target, headers, rule=rule)
        tap.ok(p.wait_log(r"client 127\.0\.0\.1: waf: route on: blocked with 403 "
                          r"\(rule 949110: Inbound Anomaly Score Exceeded"),
               "each block is logged with the blocking rule and its message")

    with subtest_guard("ordinary requests pass"):
        passed("a page with a query", "/on/products?page=2&sort=price&order=asc")
        passed("a static file", "/on/static/app.min.js?v=3.2.1")
        passed("a form post", "/on/login", method="POST",
               headers=[("Content-Type", "application/x-www-form-urlencoded")],
               body="username=jane.doe%40example.com&password=correct+horse&remember=1")
        passed("a JSON post", "/on/api/orders", method="POST",
               headers=[("Content-Type", "application/json")],
               body=json.dumps({"item": "book", "quantity": 2, "note": "gift wrap"}))
        passed("a cookie and an If-None-Match", "/on/account",
               headers=[("Cookie", "session=4f9a0c2e; theme=dark"),
                        ("If-None-Match", '"abc123"')])

    with subtest_guard("attacks in the body are blocked"):
        blocked("urlencoded body, sql injection", "/on/form1", method="POST",
                headers=[("Content-Type", "application/x-www-form-urlencoded")],
                body="user=admin&id=1' OR '1'='1", rule=r"rule 942\d+")
        blocked("JSON body, xss", "/on/api/comment", method="POST",
                headers=[("Content-Type", "application/json")],
                body='{"comment": "<script>alert(1)</script>"}', rule=r"rule 941\d+")
        boundary = "----portico42"
        mp = ("--%s\r\nContent-Disposition: form-data; name=\"q\"\r\n\r\n"
              "1 UNION SELECT username, password FROM users--\r\n--%s--\r\n"
              % (boundary, boundary))
        blocked("multipart body, sql injection", "/on/upload", method="POST",
                headers=[("Content-Type", "multipart/form-data; boundary=%s" % boundary)],
                body=mp, rule=r"rule 942\d+")
        body = b"cmd=;cat /etc/passwd"
        with Client(p.port) as c:
            c.send(("POST /on/chunked HTTP/1.1\r\nHost: localhost\r\n"
                    "Content-Type: application/x-www-form-urlencoded\r\n"
                    "Transfer-Encoding: chunked\r\n\r\n").encode() +
                   chunk_encode(body, sizes=(3, 7)))
            r = c.read_response()
        tap.is_(r.status, 403, "chunked body, command injection: 403")
        tap.is_(b.hits("/on/chunked"), 0, "chunked body: the backend never sees it")

    with subtest_guard("waf_body_limit"):
        big = "a=" + "x" * (70 << 10)
        r = get(p.port, "/on/big", method="POST", body=big, headers=BROWSER +
                [("Content-Type", "application/x-www-form-urlencoded")])
        tap.is_(r.status, 413, "waf = on, a body over waf_body_limit: 413")
        tap.is_(b.hits("/on/big"), 0, "... and the backend never sees it")
        tap.ok(p.wait_log(r"waf: route on: blocked with 413 \(the body is over "
                          r"waf_body_limit\)"), "... logged")
        passed("waf = on, a body of 60k (under the limit)", "/on/big2", method="POST",
               headers=[("Content-Type", "application/x-www-form-urlencoded")],
               body="a=" + "x" * (60 << 10))
        passed("waf = detect, a body over waf_body_limit", "/detect/big", method="POST",
               headers=[("Content-Type", "application/x-www-form-urlencoded")], body=big)

    with subtest_guard("waf_body_limit stops a chunked body as it is read"):
        import select
        import socket
        s = socket.create_connection(("127.0.0.1", p.port), timeout=10)
        s.sendall(b"POST /on/stream HTTP/1.1\r\nHost: localhost\r\n"
                  b"Content-Type: application/x-www-form-urlencoded\r\n"
                  b"Transfer-Encoding: chunked\r\n\r\n")
        chunk = b"2000\r\n" + b"x" * 0x2000 + b"\r\n"
        sent, answer = 0, b""
        deadline = time.time() + 30
        while sent < (16 << 20) and time.time() < deadline:
            if select.select([s], [], [], 0)[0]:
                answer = s.recv(65536)
                break
            try:
                s.sendall(chunk)
            except OSError:
                break
            sent += len(chunk)
        if not answer:
            try:
                s.settimeout(10)
                answer = s.recv(65536)
            except OSError:
                pass
        s.close()
        tap.like(answer.decode("latin-1")[:40], r"^HTTP/1\.1 413 ",
                 "a chunked body over waf_body_limit: 413")
        tap.ok(sent < (4 << 20), "... before the client sent 4 MiB of its 16 (not spooled whole)",
               "sent %d" % sent)
        tap.ok(p.wait_log(r"client 127\.0\.0\.1: request body over waf_body_limit"),
               "... logged with the key that stopped it")
        tap.is_(b.hits("/on/stream"), 0, "... and the backend never sees it")

    with subtest_guard("waf = detect forwards and logs; off does not look"):
        r = get(p.port, "/detect/item?id=1'%20OR%20'1'='1", headers=BROWSER)
        tap.is_(r.status, 200, "detect: the sql injection is forwarded")
        tap.is_(b.hits("/detect/item?id=1'%20OR%20'1'='1"), 1, "detect: the backend sees it")
        tap.ok(p.wait_log(r"client 127\.0\.0\.1: waf \(detect\): route detect: rule 942\d+"),
               "detect: the matching rule is logged")
        tap.ok(p.wait_log(r"waf \(detect\): route detect: would answer 403 \(rule 949110"),
               "detect: what on would have done is logged")
        r = get(p.port, "/plain/item?id=1'%20OR%20'1'='1", headers=BROWSER)
        tap.is_(r.status, 200, "off: the same request is forwarded")
        tap.unlike(p.error_log(), r"route main: rule", "off: nothing inspected")

    with subtest_guard("a cache hit is inspected"):
        r1 = get(p.port, "/cached/page", headers=BROWSER)
        r2 = get(p.port, "/cached/page", headers=BROWSER)
        tap.is_((r1.status, r2.status), (200, 200), "the object is fetched, then a hit")
        tap.is_(b.hits("/cached/page"), 1, "the backend is asked once")
        r3 = get(p.port, "/cached/page", headers=BROWSER +
                 [("User-Agent", "Nikto/2.1.6")])
        tap.is_(r3.status, 403, "a scanner asking for the cached object: 403")
        tap.unlike(r3.body.decode("latin-1"), r"cached body", "not the cached body")

    with subtest_guard("counted in the status JSON and /metrics"):
        st = get(p.port, "/_portico/status").json()
        w = st.get("waf", {})
        tap.ok(w.get("blocked", 0) >= 12, "status: blocked counts the blocks", w)
        tap.ok(w.get("inspected", 0) >= w.get("blocked", 0) + 8,
               "status: inspected counts every inspected request", w)
        tap.is_(w.get("detected"), 1, "status: detected counts the detect-mode match", w)
        m = get(p.port, "/_portico/metrics").body.decode()
        tap.like(m, r"(?m)^portico_waf_blocked_total %d$" % w.get("blocked", -1),
                 "/metrics: portico_waf_blocked_total")
        tap.like(m, r"(?m)^portico_waf_inspected_total \d+$", "/metrics: inspected")
        tap.like(m, r"(?m)^portico_waf_detected_total 1$", "/metrics: detected")
    p.stop()


if __name__ == "__main__":
    main(test, timeout=150)
