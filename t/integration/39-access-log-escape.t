#!/usr/bin/env python3
# The access log request line (issue 9, item 10): a '"' or '\' in the
# target is escaped as \x22 / \x5C, as in the Referer and User-Agent
# fields (and as nginx writes them), so that every line keeps the
# combined format's three quoted fields.
import os
import re
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from portico_test import tap, main, Backend, Portico, Client, wait_until

# "request" status bytes "referer" "agent" upstream=...
LINE = re.compile(r'^\S+ - - \[[^\]]+\] "((?:[^"\\]|\\x[0-9A-F]{2})*)" (\d{3}) \d+ '
                  r'"((?:[^"\\]|\\x[0-9A-F]{2})*)" "((?:[^"\\]|\\x[0-9A-F]{2})*)" '
                  r'upstream=\S+ upstream_time=[\d.]+ request_time=[\d.]+$')


def test():
    b = Backend("b1")
    p = Portico(upstreams={"app": [b.addr]}, workers=1)
    p.start()
    cases = [
        ('/p?a="b\\c', "GET /p?a=\\x22b\\x5Cc HTTP/1.1", "200"),
        ('/q"-"-"upstream=fake', 'GET /q\\x22-\\x22-\\x22upstream=fake HTTP/1.1', "200"),
        ('/r"', "GET /r\\x22 HTTP/1.1", "200"),
    ]
    for target, want, st in cases:
        with Client(p.port) as c:
            c.send(("GET %s HTTP/1.1\r\nHost: h\r\nUser-Agent: a\"b\r\n\r\n"
                    % target).encode("latin-1"))
            try:
                c.read_response()
            except Exception:
                pass
    tap.ok(wait_until(lambda: len(p.access_lines()) >= len(cases), 5), "every request logged")
    lines = p.access_lines()
    for (target, want, st), line in zip(cases, lines):
        m = LINE.match(line)
        tap.ok(m is not None, "%r: the line keeps the combined format" % target, line)
        tap.ok(m is not None and m.group(1).startswith(want),
               "%r: logged as %s..." % (target, want), line)
        if st is not None:
            tap.ok(m is not None and m.group(2) == st, "%r: status field is %s" % (target, st),
                   line)
        tap.ok(m is not None and m.group(4) == "a\\x22b", "%r: User-Agent escaped too" % target,
               line)


if __name__ == "__main__":
    main(test, timeout=60)
