#!/usr/bin/env python3
# access_log_format (issue 13): json lines parse with Python's json and
# hold the fields (a client field with quotes, backslashes, control and
# non-UTF-8 bytes escaped); combined matches nginx's combined regex;
# common; a custom format with variables (nginx's escaping, "-" for an
# empty value); portico's own line stays the default; a bad format is a
# file:line error.
import json
import os
import re
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from portico_test import (tap, main, Backend, Portico, Client, subtest_guard,
                          wait_until, run_portico)

# nginx's combined format, as log parsers (goaccess, fail2ban) match it.
COMBINED = re.compile(
    r'^(\S+) - (\S+) \[(\d{2}/[A-Z][a-z]{2}/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4})\] '
    r'"((?:[^"\\]|\\.)*)" (\d{3}) (\d+) "((?:[^"\\]|\\.)*)" "((?:[^"\\]|\\.)*)"$')
COMMON = re.compile(
    r'^(\S+) - (\S+) \[(\d{2}/[A-Z][a-z]{2}/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4})\] '
    r'"((?:[^"\\]|\\.)*)" (\d{3}) (\d+)$')


def lines(p, n):
    return wait_until(lambda: p.access_lines() if len(p.access_lines()) >= n else None,
                      10) or p.access_lines()


def raw_request(port, data):
    with Client(port) as c:
        c.send(data)
        return c.read_response()


def test():
    b = Backend("b1")

    with subtest_guard("json"):
        p = Portico(upstreams={"app": [b.addr]}, workers=1,
                    global_opts={"access_log_format": "json"})
        p.start()
        with Client(p.port) as c:
            r = c.request("GET", "/j/a?x=1", host="json.example",
                          headers=[("User-Agent", 'ag"ent\\1\t2'),
                                   ("Referer", "http://r.example/\xe9")])
            r2 = c.request("GET", "/nothing", host="json.example",
                           headers=[("User-Agent", "caf\xc3\xa9")])
        tap.is_(r.status, 200, "proxied")
        got = lines(p, 2)
        tap.is_(len(got), 2, "two lines", repr(got))
        objs = []
        for l in got:
            try:
                objs.append(json.loads(l))
            except ValueError as e:
                tap.ok(False, "json.loads: %s" % e, repr(l))
        tap.is_(len(objs), 2, "every line parses as JSON")
        if len(objs) == 2:
            o = objs[0]
            tap.is_(o.get("remote_addr"), "127.0.0.1", "remote_addr")
            tap.is_(o.get("request_method"), "GET", "request_method")
            tap.is_(o.get("host"), "json.example", "host")
            tap.is_(o.get("request_uri"), "/j/a?x=1", "request_uri")
            tap.is_(o.get("status"), 200, "status, a number")
            tap.is_(o.get("body_bytes_sent"), len(r.body), "body_bytes_sent, a number")
            tap.ok(isinstance(o.get("request_time"), float), "request_time, a number")
            tap.is_(o.get("upstream_addr"), b.addr, "upstream_addr")
            tap.is_(o.get("route"), "main", "route")
            tap.is_(o.get("http_user_agent"), 'ag"ent\\1\t2',
                    "a field with quote, backslash and tab round-trips")
            tap.is_(o.get("http_referer"), "http://r.example/\xe9",
                    "a byte that is not UTF-8 comes as \\u00XX")
            tap.like(o.get("time", ""), r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00$",
                     "time in ISO 8601")
            tap.is_(objs[1].get("http_user_agent"), "caf\u00e9", "UTF-8 goes as it is")
        p.stop()

    with subtest_guard("combined and common"):
        for fmt, rx in (("combined", COMBINED), ("common", COMMON)):
            p = Portico(upstreams={"app": [b.addr]}, workers=1,
                        global_opts={"access_log_format": fmt})
            p.start()
            with Client(p.port) as c:
                c.request("GET", "/c/1", headers=[("User-Agent", 'curl/8 "x"'),
                                                  ("Referer", "http://ref/")])
                c.request("POST", "/c/2", body=b"abc")
            got = lines(p, 2)
            m = [rx.match(l) for l in got]
            tap.ok(len(got) == 2 and all(m), "%s: every line matches nginx's regex" % fmt,
                   repr(got))
            if all(m) and len(m) == 2:
                tap.is_(m[0].group(4), "GET /c/1 HTTP/1.1", "%s: the request line" % fmt)
                tap.is_(m[0].group(5), "200", "%s: the status" % fmt)
                if fmt == "combined":
                    tap.is_(m[0].group(7), "http://ref/", "combined: the referer")
                    tap.is_(m[0].group(8), 'curl/8 \\x22x\\x22',
                            "combined: the agent, quotes escaped as nginx does")
                    tap.is_(m[1].group(7), "-", "combined: no referer: -")
            p.stop()

    with subtest_guard("a custom format"):
        p = Portico(upstreams={"app": [b.addr]}, workers=1,
                    global_opts={"access_log_format":
                                 "$remote_addr $request_method $uri [$args] st=$status "
                                 "h=$http_x_thing ${scheme}://$host route=$route"})
        p.start()
        with Client(p.port) as c:
            c.request("GET", "/z?q=1", host="cust.example", headers=[("X-Thing", 'a"b')])
            c.request("GET", "/y", host="cust.example")
        got = lines(p, 2)
        tap.is_(got, ['127.0.0.1 GET /z [q=1] st=200 h=a\\x22b http://cust.example route=main',
                      '127.0.0.1 GET /y [-] st=200 h=- http://cust.example route=main'],
                "variables expanded, escaped as nginx does, '-' when empty")
        p.stop()

    with subtest_guard("per route and per listener"):
        p = Portico(upstreams={"app": [b.addr]}, workers=1, routes=[
            dict(name="j", path="/j/", upstream="app", access_log_format="json"),
            dict(name="p", path="/p/", upstream="app", access_log_format="portico"),
            dict(name="main", path="/", upstream="app"),
        ], global_opts={"access_log_format": "common"})
        text = p.config_text().replace(
            "[listener web]\n", "[listener web]\naccess_log_format = L $uri $status\n", 1)
        p.write_config(text)
        p.start()
        with Client(p.port) as c:
            for t in ("/j/1", "/p/2", "/x/3"):
                c.request("GET", t)
        got = lines(p, 3)
        tap.is_(len(got), 3, "three lines", repr(got))
        if len(got) == 3:
            try:
                tap.is_(json.loads(got[0]).get("request_uri"), "/j/1",
                        "the route's json format")
            except ValueError:
                tap.ok(False, "the route's json format", got[0])
            tap.like(got[1], r'"GET /p/2 HTTP/1\.1" 200 \d+ .* upstream=',
                     "the route's portico format")
            tap.is_(got[2], "L /x/3 200", "a route without one: the listener's")
        p.stop()

    with subtest_guard("default: portico's line; bad formats refused"):
        p = Portico(upstreams={"app": [b.addr]}, workers=1)
        p.start()
        with Client(p.port) as c:
            c.request("GET", "/d")
        got = lines(p, 1)
        tap.like(got[0] if got else "", r' upstream=\S+ upstream_time=[\d.]+ request_time=',
                 "without access_log_format: portico's format")
        text = p.config_text()
        for val, msg in (("$remote_addr $nosuch", r"unknown variable \$nosuch"),
                         ("$sent_http_server", r"only known to response header rules"),
                         ("${status", r"'\$\{' without a name")):
            bad = text.replace("[global]\n", "[global]\naccess_log_format = %s\n" % val, 1)
            ln = bad.split("\n").index("access_log_format = %s" % val) + 1
            path = os.path.join(p.tmp, "bad.ini")
            with open(path, "w") as f:
                f.write(bad)
            rc, out, err = run_portico(["-t", "-c", path])
            tap.is_(rc, 1, "-t, access_log_format = %s: exits 1" % val, err)
            tap.like(err, r"(?m)^%s:%d: access_log_format: .*%s" % (re.escape(path), ln, msg),
                     "-t, access_log_format = %s: file:line and what is wrong" % val)
        p.stop()


if __name__ == "__main__":
    main(test, timeout=120)
