#!/usr/bin/env python3
# Access log: one line per request in the documented format; USR1 after
# renaming the logs makes new files with the old names receive the next lines.
import calendar
import os
import re
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from portico_test import (tap, main, Backend, Portico, Client, raw_exchange, subtest_guard,
                          wait_until)

LINE = re.compile(
    r'^(?P<client>\S+) - - \[(?P<time>\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d) \+0000\] '
    r'"(?P<req>[^"]*)" (?P<status>\d{3}) (?P<bytes>\d+) "(?P<ref>[^"]*)" "(?P<ua>[^"]*)" '
    r'upstream=(?P<up>\S+) upstream_time=(?P<ut>\d+\.\d{3}) request_time=(?P<rt>\d+\.\d{3})$')


def test():
    b = Backend("b1")
    p = Portico(upstreams={"app": [b.addr]},
                routes=[dict(name="main", host="*", path="/echo", upstream="app"),
                        dict(name="slow", host="*", path="/slow/", upstream="app")])
    p.start()

    def find(pred, path=None, timeout=3):
        def f():
            for l in p.access_lines(path):
                if pred(l):
                    return l
            return None
        return wait_until(f, timeout)

    with subtest_guard("format"):
        r = p.get("/echo?q=1", headers=[("Referer", "http://ref.example/page"),
                                        ("User-Agent", "test-agent/1.0")])
        line = find(lambda l: '"GET /echo?q=1 HTTP/1.1"' in l)
        tap.ok(line, "request logged", "access log: %r" % p.access_lines())
        m = LINE.match(line or "")
        tap.ok(m, "line has the documented format", repr(line))
        if m:
            tap.is_(m.group("client"), "127.0.0.1", "client address")
            ts = calendar.timegm(time.strptime(m.group("time"), "%d/%b/%Y:%H:%M:%S"))
            tap.ok(abs(ts - time.time()) < 60, "timestamp is now, in UTC", m.group("time"))
            tap.is_(m.group("status"), "200", "status")
            tap.is_(int(m.group("bytes")), len(r.body), "bytes = body bytes sent")
            tap.is_(m.group("ref"), "http://ref.example/page", "referer")
            tap.is_(m.group("ua"), "test-agent/1.0", "user agent")
            tap.is_(m.group("up"), b.addr, "upstream = backend address")
            tap.ok(float(m.group("rt")) >= float(m.group("ut")) >= 0, "times are sane")

        p.get("/echo/plain")
        line = find(lambda l: '"GET /echo/plain HTTP/1.1"' in l)
        m = LINE.match(line or "")
        tap.ok(m and m.group("ref") == "-" and m.group("ua") == "-",
               "no Referer / User-Agent: \"-\" \"-\"", repr(line))

        p.get("/slow/0.3")
        line = find(lambda l: '"GET /slow/0.3 HTTP/1.1"' in l)
        m = LINE.match(line or "")
        tap.ok(m and 0.25 <= float(m.group("ut")) <= 2 and 0.25 <= float(m.group("rt")) <= 2,
               "upstream_time and request_time measure a 0.3 s backend", repr(line))

        r = p.get("/nothing-here")
        line = find(lambda l: '"GET /nothing-here HTTP/1.1"' in l)
        m = LINE.match(line or "")
        tap.ok(m and m.group("status") == "404" and m.group("up") == "-"
               and m.group("ut") == "0.000",
               "404 without a backend: upstream=- upstream_time=0.000", repr(line))

        p.get("/echo/ua", headers=[("User-Agent", 'evil"agent\\x')])
        line = find(lambda l: '"GET /echo/ua HTTP/1.1"' in l)
        m = LINE.match(line or "")
        tap.ok(m and m.group("ua").lower() == "evil\\x22agent\\x5cx",
               "quotes and backslashes in the user agent written as \\xHH", repr(line))

        p.get("/echo/post", method="POST", body=b"12345")
        tap.ok(find(lambda l: '"POST /echo/post HTTP/1.1" 200 ' in l), "POST logged")

        with Client(p.port) as c:
            c.send(b"GET /echo/ten HTTP/1.0\r\n\r\n")
            c.read_response()
        tap.ok(find(lambda l: '"GET /echo/ten HTTP/1.0" 200 ' in l), "HTTP/1.0 request line logged")

        raw_exchange(p.port, b"GET / HTTP/1.1\r\nHost: a\r\nBad : x\r\n\r\n")
        line = find(lambda l: '"-" 400 ' in l)
        tap.ok(line and LINE.match(line), "unparsable request logged with \"-\" and 400", repr(line))

        with Client(p.port) as c:
            c.send(b"GET /slow/1 HTTP/1.1\r\nHost: x\r\n\r\n")
            time.sleep(0.3)
        line = find(lambda l: '"GET /slow/1 HTTP/1.1"' in l, timeout=4)
        m = LINE.match(line or "")
        tap.ok(m and m.group("status") == "499",
               "client gone before the answer started: logged as 499", repr(line))

        n0 = len(p.access_lines())
        with p.client() as c:
            for i in range(10):
                c.request("GET", "/echo/count%d" % i)
        tap.ok(wait_until(lambda: len(p.access_lines()) == n0 + 10, 3),
               "10 requests: 10 more lines", "%d -> %d" % (n0, len(p.access_lines())))
        bad = [l for l in p.access_lines() if not LINE.match(l)]
        tap.is_(bad, [], "every line has the format")

    with subtest_guard("USR1"):
        old_acc = p.access_log_path + ".1"
        old_err = p.error_log_path + ".1"
        os.rename(p.access_log_path, old_acc)
        os.rename(p.error_log_path, old_err)
        p.get("/echo/before-reopen")
        tap.ok(find(lambda l: "/echo/before-reopen" in l, old_acc),
               "before USR1: lines go to the renamed file")
        p.signal("USR1")
        tap.ok(wait_until(lambda: os.path.exists(p.access_log_path), 3),
               "USR1: a new access log file is created")
        time.sleep(0.5)
        for i in range(6):
            p.get("/echo/after-reopen-%d" % i)
        time.sleep(0.3)
        new = "\n".join(p.access_lines())
        old = "\n".join(p.access_lines(old_acc))
        tap.is_([i for i in range(6) if "/echo/after-reopen-%d " % i in new], list(range(6)),
                "after USR1: the next lines are in the new file (from every worker)",
                "new file:\n%s\nold file tail:\n%s" % (new, old[-800:]))
        tap.ok("after-reopen" not in old, "after USR1: nothing more in the renamed file")
        tap.ok(wait_until(lambda: os.path.exists(p.error_log_path), 3),
               "USR1: a new error log file is created")
    p.stop()


main(test, timeout=60, tests=26)
