#!/usr/bin/env python3
# access_log = syslog:server=ADDR[:PORT],facility=...,tag=...,format=...
# (issue 13): every access log line arrives as one UDP datagram at a
# socket the test listens on, with the RFC 3164 header nginx sends
# (<PRI>Mmm dd hh:mm:ss HOST TAG: line) or the RFC 5424 one, the
# priority from the facility (severity info), in access_log_format's
# format; nothing is written to a file; bad targets are file:line errors.
import os
import re
import socket
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from portico_test import (tap, main, Backend, Portico, Client, subtest_guard,
                          run_portico)


def receive(sock, n, timeout=10.0):
    got = []
    sock.settimeout(timeout)
    try:
        while len(got) < n:
            got.append(sock.recv(65536).decode("utf-8", "replace"))
    except socket.timeout:
        pass
    return got


def test():
    b = Backend("b1")
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.bind(("127.0.0.1", 0))
    port = u.getsockname()[1]

    with subtest_guard("RFC 3164, combined"):
        p = Portico(upstreams={"app": [b.addr]}, workers=1, global_opts={
            "access_log": "syslog:server=127.0.0.1:%d,facility=local3,tag=edge" % port,
            "access_log_format": "combined"})
        p.start()
        with Client(p.port) as c:
            c.request("GET", "/s/1", headers=[("User-Agent", "ua1")])
            c.request("GET", "/s/2?x", headers=[("User-Agent", "ua2")])
        got = receive(u, 2)
        tap.is_(len(got), 2, "two datagrams, one per request", repr(got))
        rx = re.compile(r'^<158>[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \S+ edge: '
                        r'127\.0\.0\.1 - - \[[^]]+\] "GET (/s/\d(?:\?x)?) HTTP/1\.1" 200 \d+ '
                        r'"-" "(ua\d)"$')
        m = [rx.match(g) for g in got]
        tap.ok(len(m) == 2 and all(m), "<158> (local3.info), time, host, tag, "
               "then the combined line", repr(got))
        if len(m) == 2 and all(m):
            tap.is_([x.group(1) for x in m], ["/s/1", "/s/2?x"], "in order")
        tap.is_(p.access_lines(), [], "no access log file written")
        p.stop()

    with subtest_guard("RFC 5424, default format, default facility"):
        p = Portico(upstreams={"app": [b.addr]}, workers=1, global_opts={
            "access_log": "syslog:server=127.0.0.1:%d,format=rfc5424" % port})
        p.start()
        with Client(p.port) as c:
            c.request("GET", "/t/1")
        got = receive(u, 1)
        tap.like(got[0] if got else "",
                 r'^<190>1 \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \S+ portico - - - '
                 r'127\.0\.0\.1 - - \[[^]]+\] "GET /t/1 HTTP/1\.1" 200 \d+ .* upstream=',
                 "<190> (local7.info) version 1, timestamp, host, tag portico, "
                 "portico's line")
        p.stop()

    with subtest_guard("bad targets refused with file:line"):
        p = Portico(upstreams={"app": [b.addr]}, workers=1)
        text = p.config_text()
        for val, msg in (("syslog:server=127.0.0.1:99999", r"bad syslog server"),
                         ("syslog:server=127.0.0.1,facility=nope", r"unknown syslog facility 'nope'"),
                         ("syslog:facility=local1", r"bad access_log 'syslog:facility=local1'"),
                         ("syslog:server=127.0.0.1,tag=a-b", r"bad syslog tag 'a-b'")):
            bad = re.sub(r"(?m)^access_log = .*$", "access_log = %s" % val, text, count=1)
            ln = bad.split("\n").index("access_log = %s" % val) + 1
            path = os.path.join(p.tmp, "bad.ini")
            with open(path, "w") as f:
                f.write(bad)
            rc, out, err = run_portico(["-t", "-c", path])
            tap.is_(rc, 1, "-t, access_log = %s: exits 1" % val, err)
            tap.like(err, r"(?m)^%s:%d: .*%s" % (re.escape(path), ln, msg),
                     "-t, access_log = %s: file:line and what is wrong" % val)
    u.close()


if __name__ == "__main__":
    main(test, timeout=120)
