#!/usr/bin/python3
# $proxy_protocol_server_addr and $proxy_protocol_server_port: the
# destination a PROXY header (v1, v2; IPv4, IPv6) announced, in a request
# header rule and an access_log_format line; empty ("-" in the log) when the
# header carried no address; an HTTP/2 stream reads its connection's.  And the load-time warning for a cached route
# whose request rules send a $http_ field the cache key leaves out
# (portico -t: stderr, exit 0; none without the cache).
import os
import socket
import struct
import sys
import tempfile

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from portico_test import (exchange_to_eof as exchange, tap, main, Backend, Portico, wait_until, hall, free_port,
                          run_portico)
from h2raw import H2

SIG = b"\r\n\r\n\x00\r\nQUIT\n"


def v2(fam, addrs):
    return SIG + bytes([0x21, fam]) + struct.pack("!H", len(addrs)) + addrs


def request(path):
    return ("GET %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n" % path).encode()


def test_vars():
    b = Backend("b1")
    p = Portico(upstreams={"app": [b.addr]}, workers=1,
                routes=[dict(name="main", path="/", upstream="app",
                             request_header_set="X-PPS $proxy_protocol_server_addr "
                             "$proxy_protocol_server_port")],
                global_opts={"access_log_format":
                             "PPS $proxy_protocol_server_addr $proxy_protocol_server_port "
                             "$proxy_protocol_addr $uri"})
    p.write_config(p.config_text().replace(
        "[listener web]\n", "[listener web]\nproxy_protocol = on\nhttp2 = on\n", 1))
    p.start()
    pp = p.port

    def logged(path):
        def f():
            for l in p.access_lines():
                if l.endswith(" " + path):
                    return l
            return None
        return wait_until(f, 5)

    cases = [
        ("/v1-4", b"PROXY TCP4 198.51.100.7 203.0.113.9 56324 8443\r\n",
         "203.0.113.9 8443", "198.51.100.7"),
        ("/v1-6", b"PROXY TCP6 2001:db8::1 2001:db8::2 40000 443\r\n",
         "2001:db8::2 443", "2001:db8::1"),
        ("/v2-4", v2(0x11, socket.inet_aton("192.0.2.1") + socket.inet_aton("192.0.2.200") +
                     struct.pack("!HH", 41000, 8080)),
         "192.0.2.200 8080", "192.0.2.1"),
        ("/v2-6", v2(0x21, socket.inet_pton(socket.AF_INET6, "2001:db8::a") +
                     socket.inet_pton(socket.AF_INET6, "2001:db8::b") +
                     struct.pack("!HH", 42000, 9443)),
         "2001:db8::b 9443", "2001:db8::a"),
    ]
    for path, hdr, dst, src in cases:
        out = exchange(pp, hdr + request(path))
        tap.like(out.decode("latin-1"), r"^HTTP/1\.1 200 ", "%s: answered" % path)
        reqs = b.requests_for(path)
        tap.is_(hall(reqs[-1]["headers"], "X-PPS") if reqs else None, [dst],
                "%s: request rule sees the PROXY destination" % path)
        tap.is_(logged(path), "PPS %s %s %s" % (dst, src, path),
                "%s: access log has the destination" % path)
    # HTTP/2 (prior knowledge) after the PROXY header: the stream's exchange
    # reads the connection's destination.
    real = socket.create_connection

    def with_pp(*a, **k):
        s = real(*a, **k)
        s.sendall(b"PROXY TCP4 198.51.100.8 203.0.113.10 50000 8444\r\n")
        return s
    socket.create_connection = with_pp
    try:
        c = H2(pp)
    finally:
        socket.create_connection = real
    sid = c.request("/h2")
    c.pump(10, until=lambda: c.done(sid))
    tap.is_(c.status(sid), 200, "HTTP/2 stream after a PROXY header: answered")
    reqs = b.requests_for("/h2")
    tap.is_(hall(reqs[-1]["headers"], "X-PPS") if reqs else None, ["203.0.113.10 8444"],
            "HTTP/2 stream: request rule sees the connection's PROXY destination")
    c.close()
    out = exchange(pp, b"PROXY UNKNOWN\r\n" + request("/u"))
    tap.like(out.decode("latin-1"), r"^HTTP/1\.1 200 ", "v1 UNKNOWN: answered")
    tap.is_(logged("/u"), "PPS - - - /u", "no address announced: empty (logged as -)")


CONF = """[listener web]
listen = 127.0.0.1:%d

[upstream app]
server = 127.0.0.1:%d

[route main]
path = /
upstream = app
%s
request_header_set = X-Lang $http_accept_language
request_header_set = X-Fixed yes
upstream_host = $http_x_tenant.example
"""


def test_warn():
    d = tempfile.mkdtemp(prefix="portico107-")
    for cache in ("cache = on", "cache = off"):
        path = os.path.join(d, "w.ini")
        with open(path, "w") as f:
            f.write(CONF % (free_port(), free_port(), cache))
        rc, out, err = run_portico(["-t", "-c", path])
        tap.is_(rc, 0, "-t with %s: the config is ok (a warning is no error)" % cache)
        warns = [l for l in err.splitlines() if "cache key" in l]
        if cache == "cache = on":
            tap.ok(any(("w.ini:11:" in l and "$http_accept_language" in l and
                        "request_header_set" in l and "Vary: accept-language" in l)
                       for l in warns),
                   "-t: request_header_set's $http_accept_language warned at w.ini:11",
                   err[-2000:])
            tap.ok(any(("w.ini:13:" in l and "$http_x_tenant" in l and "upstream_host" in l)
                       for l in warns),
                   "-t: upstream_host's $http_x_tenant warned at w.ini:13", err[-2000:])
            tap.is_(len(warns), 2, "-t: nothing else warned (X-Fixed has no variable)")
        else:
            tap.is_(warns, [], "-t: no warning without the cache")


def test():
    test_vars()
    test_warn()


main(test, tests=4 * 3 + 2 + 2 + 1 + 2 + 3 + 1)
