#!/usr/bin/env python3
# Chunked request framing: a chunk-size line over 4 KiB (a huge extension)
# is refused with 400 before anything reaches the backend; extensions count
# toward max_body_size; chunk extensions are never forwarded (chunks are encoded
# again); request trailers are dropped by default, and with
# pass_request_trailers = on only the fields portico does not set or vouch
# for pass; chunk sizes with many leading zeros are valid (RFC 9112 7.1).
# Each case runs with request_buffering on and off.
import os
import socket
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from portico_test import (tap, main, Portico, build_request, parse_head, hget, subtest_guard)
from raw_backend import RawBackend

ROUTES = [{"name": "main", "host": "*", "path": "/", "upstream": "app"},
          {"name": "stream", "host": "*", "path": "/stream/", "upstream": "app",
           "request_buffering": "off"}]


def post(p, path, wire, timeout=10):
    """Send a chunked POST whose body is wire; (status, headers) or None."""
    s = socket.create_connection(("127.0.0.1", p.port), timeout=timeout)
    try:
        try:
            s.sendall(build_request("POST", path, [("Transfer-Encoding", "chunked")]) + wire)
        except OSError:
            pass
        buf = b""
        while b"\r\n\r\n" not in buf:
            d = s.recv(65536)
            if not d:
                return None
            buf += d
        start, headers = parse_head(buf.partition(b"\r\n\r\n")[0] + b"\r\n\r\n")
        return int(start.split(" ")[1]), headers
    except (socket.timeout, OSError):
        return None
    finally:
        s.close()


def hdr(q, name):
    return [v for k, v in q["headers"] if k.lower() == name]


def test():
    b = RawBackend(slots=4)
    p = Portico(upstreams={"app": [b.addr]}, workers=1, routes=ROUTES,
                global_opts={"max_body_size": "8k"})
    p.start()

    for prefix, mode in (("/", "buffered"), ("/stream/", "streamed")):
        with subtest_guard("huge chunk extension (%s)" % mode):
            n0, raw0 = b.conn_count(), b.raw_total()
            wire = b"1;ext=" + b"e" * (4 << 20) + b"\r\nx\r\n0\r\n\r\n"
            r = post(p, prefix + "ext", wire)
            tap.ok(r is not None and r[0] == 400,
                   "%s: 1-byte body with a 4 MiB chunk extension: 400" % mode, repr(r and r[0]))
            tap.is_(b.raw_total() - raw0, 0, "... not one byte reached the backend")
            if mode == "buffered":
                tap.is_(b.conn_count() - n0, 0, "... nor a connection")

        with subtest_guard("extensions are not forwarded (%s)" % mode):
            wire = (b"3;a=1;b=\"x y\"\r\nabc\r\n" + b"2 ; c\r\nde\r\n" +
                    b"1;" + b"z" * 4000 + b"\r\nf\r\n0;last=1\r\n\r\n")
            r = post(p, prefix + "ext2", wire)
            q = b.requests()[-1] if b.requests() else None
            tap.ok(r is not None and r[0] == 200 and q is not None and q["body"] == b"abcdef",
                   "%s: chunks with extensions (one line of 4 KiB): body exact" % mode)
            if q is not None:
                tap.is_(q["extensions"], [], "... no extension reached the backend")
                tap.ok(b";" not in q["raw_body"], "... not one ';' in the body bytes sent",
                       repr(q["raw_body"][:200]))
                if mode == "buffered":
                    tap.is_(hdr(q, "content-length"), ["6"], "... sent with Content-Length")
                else:
                    tap.is_(hdr(q, "transfer-encoding"), ["chunked"], "... sent chunked")

        with subtest_guard("leading zeros in chunk sizes (%s)" % mode):
            wire = b"00000000000000001\r\nx\r\n" + b"0" * 40 + b"3\r\nyzw\r\n0000\r\n\r\n"
            r = post(p, prefix + "zeros", wire)
            q = b.requests()[-1]
            tap.ok(r is not None and r[0] == 200 and q["body"] == b"xyzw",
                   "%s: 17 and 43 hex digits with leading zeros, a 0000 last chunk: 200, "
                   "body exact" % mode, repr(r and r[0]))

        with subtest_guard("max_body_size counts data and extensions (%s)" % mode):
            wire = b"2000\r\n" + b"a" * 8192 + b"\r\n1\r\nb\r\n0\r\n\r\n"
            r = post(p, prefix + "big", wire)
            tap.ok(r is not None and r[0] == 413, "%s: 8193 data bytes over max_body_size 8k: 413"
                   % mode, repr(r and r[0]))
            n0, raw0 = b.conn_count(), b.raw_total()
            wire = b"".join(b"1;e=" + b"x" * 1000 + b"\r\nz\r\n" for _ in range(10)) + \
                b"0\r\n\r\n"
            r = post(p, prefix + "manyext", wire)
            tap.ok(r is not None and r[0] == 413,
                   "%s: 10 data bytes in chunks with 1000-byte extensions (10k in all) "
                   "over max_body_size 8k: 413" % mode, repr(r and r[0]))
            if mode == "buffered":
                tap.ok(b.conn_count() == n0 and b.raw_total() == raw0,
                       "... nothing reached the backend")

        with subtest_guard("trailers dropped by default (%s)" % mode):
            wire = (b"3\r\nabc\r\n0\r\nX-Client-Cert-Subject: CN=admin\r\n"
                    b"X-Forwarded-For: 10.6.6.6\r\nX-Checksum: 42\r\n\r\n")
            r = post(p, prefix + "tr", wire)
            q = b.requests()[-1]
            tap.ok(r is not None and r[0] == 200 and q["body"] == b"abc",
                   "%s: body with trailers: 200, body exact" % mode)
            tap.is_(q["trailers"], [], "... no trailer field reached the backend")
            tap.ok(b"10.6.6.6" not in q["raw_body"] and b"CN=admin" not in q["raw_body"],
                   "... nor any of their bytes")

    p.stop()

    p = Portico(upstreams={"app": [b.addr]}, workers=1, routes=ROUTES,
                global_opts={"pass_request_trailers": "on"})
    p.start()
    for prefix, mode in (("/", "buffered"), ("/stream/", "streamed")):
        with subtest_guard("pass_request_trailers = on (%s)" % mode):
            wire = (b"3\r\nabc\r\n0\r\n"
                    b"X-Client-Cert-Subject: CN=admin\r\n"
                    b"x_client_cert_subject: CN=admin\r\n"
                    b"X-Forwarded-For: 10.6.6.6\r\n"
                    b"X_FORWARDED_PROTO: https\r\n"
                    b"Forwarded: for=10.6.6.6\r\n"
                    b"X-REAL-IP: 10.6.6.6\r\n"
                    b"Content-Length: 9\r\n"
                    b"X-Checksum: 42\r\n"
                    b"Server-Timing: total;dur=1\r\n\r\n")
            r = post(p, prefix + "tr", wire)
            q = b.requests()[-1]
            tap.ok(r is not None and r[0] == 200 and q["body"] == b"abc",
                   "%s: body with trailers: 200, body exact" % mode)
            tap.is_(q["trailers"], ["X-Checksum: 42", "Server-Timing: total;dur=1"],
                    "... only the harmless trailer fields reach the backend")
            tap.is_(hdr(q, "transfer-encoding"), ["chunked"], "... sent chunked to carry them")
        with subtest_guard("pass_request_trailers = on, none allowed (%s)" % mode):
            wire = b"3\r\nabc\r\n0\r\nX-Forwarded-Host: evil\r\n\r\n"
            r = post(p, prefix + "tr2", wire)
            q = b.requests()[-1]
            tap.ok(r is not None and r[0] == 200 and q["body"] == b"abc" and q["trailers"] == [],
                   "%s: only forbidden trailers: none forwarded" % mode, repr(q["trailers"]))
    p.stop()


main(test, timeout=120)
