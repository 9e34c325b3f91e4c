#!/usr/bin/env python3
# Malformed, ambiguous and oversized requests: each gets its own status code
# from portico and never reaches the backend.  Every request is sent in one
# write on a new connection.
import os
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from portico_test import (tap, main, Backend, Portico, raw_exchange, build_request, subtest_guard,
                          wait_until)

H = b"Host: www.example.com\r\n"


def req(line=b"GET / HTTP/1.1", headers=H, body=b""):
    return line + b"\r\n" + headers + b"\r\n" + body


CASES = [
    # (description, bytes, expected status)
    ("obs-fold (continuation line)", req(headers=H + b"X-Foo: a\r\n b\r\n"), 400),
    ("obs-fold with a tab", req(headers=H + b"X-Foo: a\r\n\tb\r\n"), 400),
    ("bare CR in a header value", req(headers=H + b"X-Foo: a\rb\r\n"), 400),
    ("bare LF line endings", b"GET / HTTP/1.1\nHost: www.example.com\n\n", 400),
    ("one bare LF among CRLFs", b"GET / HTTP/1.1\r\nHost: www.example.com\nX-A: b\r\n\r\n", 400),
    ("NUL in a header value", req(headers=H + b"X-Foo: a\x00b\r\n"), 400),
    ("CTL 0x01 in a header value", req(headers=H + b"X-Foo: a\x01b\r\n"), 400),
    ("DEL in a header value", req(headers=H + b"X-Foo: a\x7fb\r\n"), 400),
    ("space before the colon", req(headers=H + b"X-Foo : a\r\n"), 400),
    ("space before the colon of Host", req(headers=b"Host : www.example.com\r\n"), 400),
    ("tab before the colon", req(headers=H + b"X-Foo\t: a\r\n"), 400),
    ("bad character in a field name", req(headers=H + b"X(Foo): a\r\n"), 400),
    ("empty field name", req(headers=H + b": a\r\n"), 400),
    ("line without a colon", req(headers=H + b"NoColonHere\r\n"), 400),
    ("Content-Length and Transfer-Encoding",
     req(b"POST / HTTP/1.1", H + b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
         b"0\r\n\r\n"), 400),
    ("two different Content-Lengths",
     req(b"POST / HTTP/1.1", H + b"Content-Length: 5\r\nContent-Length: 6\r\n", b"helloo"), 400),
    ("Content-Length list with different values",
     req(b"POST / HTTP/1.1", H + b"Content-Length: 5, 6\r\n", b"helloo"), 400),
    ("negative Content-Length", req(b"POST / HTTP/1.1", H + b"Content-Length: -1\r\n"), 400),
    ("non-numeric Content-Length", req(b"POST / HTTP/1.1", H + b"Content-Length: 5x\r\n",
                                       b"hello"), 400),
    ("Transfer-Encoding: gzip",
     req(b"POST / HTTP/1.1", H + b"Transfer-Encoding: gzip\r\n", b"abc"), 501),
    ("bad chunk size 'zz'",
     req(b"POST / HTTP/1.1", H + b"Transfer-Encoding: chunked\r\n", b"zz\r\nhello\r\n0\r\n\r\n"),
     400),
    ("chunk data longer than its size",
     req(b"POST / HTTP/1.1", H + b"Transfer-Encoding: chunked\r\n", b"3\r\nhello\r\n0\r\n\r\n"),
     400),
    ("chunked not the final coding",
     req(b"POST / HTTP/1.1", H + b"Transfer-Encoding: chunked, gzip\r\n", b"0\r\n\r\n"),
     (400, 501)),
    ("chunk size overflowing 64 bits",
     req(b"POST / HTTP/1.1", H + b"Transfer-Encoding: chunked\r\n",
         b"fffffffffffffffff1\r\nabc\r\n0\r\n\r\n"), (400, 413)),
    ("bare LF in the chunked framing",
     req(b"POST / HTTP/1.1", H + b"Transfer-Encoding: chunked\r\n", b"3\nabc\n0\n\n"), 400),
    ("Content-Length with a plus sign",
     req(b"POST / HTTP/1.1", H + b"Content-Length: +5\r\n", b"hello"), 400),
    ("Transfer-Encoding with a vertical tab",
     req(b"POST / HTTP/1.1", H + b"Transfer-Encoding: \x0bchunked\r\n", b"0\r\n\r\n"), 400),
    ("missing Host in HTTP/1.1", req(headers=b"X-Foo: a\r\n"), 400),
    ("two Host fields", req(headers=H + b"Host: other.example.com\r\n"), 400),
    ("HTTP/2.0 version", req(b"GET / HTTP/2.0"), 505),
    ("HTTP/3.0 version", req(b"GET / HTTP/3.0"), 505),
    ("Expect: foo", req(headers=H + b"Expect: foo\r\n"), 417),
    ("invalid method characters", req(b"G(T / HTTP/1.1"), 400),
    ("method with a NUL", req(b"GE\x00T / HTTP/1.1"), 400),
    ("two spaces in the request line", req(b"GET  / HTTP/1.1"), 400),
    ("lower-case version", req(b"GET / http/1.1"), 400),
    ("garbage request line", b"HELLO\r\n\r\n", 400),
    ("target without a leading slash", req(b"GET foo HTTP/1.1"), 400),
    ("dot-segment above the root /../a", req(b"GET /../a HTTP/1.1"), 400),
    ("dot-segment above the root /a/../../b", req(b"GET /a/../../b HTTP/1.1"), 400),
    ("encoded dot-segment above the root /%2e%2e/a", req(b"GET /%2e%2e/a HTTP/1.1"), 400),
    ("encoded slash /a%2fb", req(b"GET /a%2fb HTTP/1.1"), 400),
    ("non-ASCII byte in the target", req(b"GET /caf\xe9 HTTP/1.1"), 400),
    ("space inside the target", req(b"GET /a b HTTP/1.1"), 400),
    ("CTL in the target", req(b"GET /a\x01b HTTP/1.1"), 400),
    ("request line longer than max_request_line (1k)",
     req(b"GET /" + b"a" * 1500 + b" HTTP/1.1"), 414),
    ("head larger than max_header_size (4k)",
     req(headers=H + b"".join(b"X-Big-%d: %s\r\n" % (i, b"v" * 900) for i in range(6))), 431),
    ("more fields than max_headers (20)",
     req(headers=H + b"".join(b"X-N%d: v\r\n" % i for i in range(25))), 431),
    ("Content-Length over max_body_size (1k)",
     req(b"POST / HTTP/1.1", H + b"Content-Length: 2000\r\n", b"x" * 2000), 413),
]


# Cases where portico used to open an upstream connection (sending nothing)
# before it had read the bad chunked body; request buffering ended that.
OPENS_CONNECTION = {"chunk data longer than its size", "chunk size overflowing 64 bits",
                    "bare LF in the chunked framing"}


def test():
    b = Backend("b1")
    p = Portico(upstreams={"app": [b.addr]},
                global_opts={"max_request_line": "1k", "max_header_size": "4k",
                             "max_headers": "20", "max_body_size": "1k"})
    p.start()

    r = p.get("/", host="www.example.com")
    tap.ok(r.status == 200 and b.count() == 1, "a good request reaches the backend")
    c0, n0 = b.traffic()
    tap.ok(c0 == 1 and n0 > 0, "... and the backend counts its connection and bytes",
           repr((c0, n0)))
    b.reset()

    port_s = str(b.port).encode()
    pages = []
    for desc, data, want in CASES:
        with subtest_guard(desc):
            before = b.count()
            t_before = b.traffic()
            resp, raw, err = raw_exchange(p.port, data, timeout=5)
            time.sleep(0.05)
            after = b.count()
            t_after = b.traffic()
            got = resp.status if resp else None
            d = []
            if err:
                d.append("no complete answer: %s; bytes: %r" % (err, raw[:200]))
            if after != before:
                d.append("the backend got %d request(s): %r" %
                         (after - before, [x["raw_head"][:200] for x in b.requests[before:]]))
            if t_after != t_before:
                d.append("the backend saw traffic: (connections, bytes) %r -> %r"
                         % (t_before, t_after))
            wants = want if isinstance(want, tuple) else (want,)
            wdesc = " or ".join(str(w) for w in wants)
            if got not in wants:
                d.append("expected %s, got %s" % (wdesc, got))
            if desc in OPENS_CONNECTION:
                tap.ok(t_after[0] == t_before[0], "%s: no upstream connection opened" % desc,
                       "\n".join(d))
            tap.ok(got in wants and after == before and t_after == t_before,
                   "%s: %s, not forwarded" % (desc, wdesc), "\n".join(d) + "\nsent: %r" % data[:300])
            if resp is not None:
                pages.append((desc, resp))

    with subtest_guard("chunked body over max_body_size"):
        body = b"400\r\n" + b"y" * 1024 + b"\r\n" + b"400\r\n" + b"y" * 1024 + b"\r\n0\r\n\r\n"
        resp, raw, err = raw_exchange(p.port, req(b"POST / HTTP/1.1",
                                                  H + b"Transfer-Encoding: chunked\r\n", body))
        tap.is_(resp.status if resp else err, 413, "chunked body growing past max_body_size: 413")

    with subtest_guard("error pages"):
        leaks = [d for d, r in pages if port_s in r.body or port_s in r.raw_head]
        tap.is_(leaks, [], "no error page contains the backend's port")
        bad = [d for d, r in pages
               if not (r.header("Content-Type") or "").startswith("text/html")
               or str(r.status).encode() not in r.body]
        tap.is_(bad, [], "error pages are HTML naming their status code")

    # the backend saw nothing at all (no request, no connection, no byte),
    # and still works
    tap.is_(b.count(), 0, "the backend received none of the bad requests",
            repr([x["raw_head"][:200] for x in b.requests]))
    conns, nbytes = b.traffic()
    tap.is_(nbytes, 0, "... not a byte")
    tap.is_(conns, 0, "... not a connection")
    r = p.get("/", host="www.example.com")
    tap.ok(r.status == 200 and b.count() == 1, "good requests still served afterwards")
    p.stop()


main(test, timeout=60, tests=62)
