#!/usr/bin/env python3
# PROXY protocol v1 and v2 on listeners (proxy_protocol = on), headers
# written by the test on a raw socket: TCP4/TCP6/UNKNOWN (v1), TCP4/TCP6
# with TLVs/LOCAL (v2): the backend's X-Forwarded-For and the access log
# show the header's source address; truncated, oversized, wrong-signature,
# mixed-family and missing headers are refused (closed, no answer, no
# backend request) and counted (status JSON, /metrics) and logged; a
# silent connection is closed after proxy_protocol_timeout; a peer outside
# trusted_proxies is closed; a TLS listener takes the header before the
# handshake.
import json
import os
import re
import socket
import ssl
import struct
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from portico_test import (exchange_to_eof as exchange, tap, main, Backend, subtest_guard, wait_until, hall, free_port, get)
from portico_tls import Certs, TLSPortico, client_ctx, have_openssl

SIG = b"\r\n\r\n\x00\r\nQUIT\n"


def v2(cmd, fam, addrs=b"", tlvs=b"", length=None):
    body = addrs + tlvs
    return SIG + bytes([0x20 | cmd, fam]) + struct.pack("!H", len(body) if length is None
                                                       else length) + body


def v2_4(src, dst="127.0.0.1", sp=40000, dp=80, tlvs=b""):
    return v2(1, 0x11, socket.inet_aton(src) + socket.inet_aton(dst) +
              struct.pack("!HH", sp, dp), tlvs)


def v2_6(src, dst="::1", sp=40000, dp=80):
    return v2(1, 0x21, socket.inet_pton(socket.AF_INET6, src) +
              socket.inet_pton(socket.AF_INET6, dst) + struct.pack("!HH", sp, dp))


def request(path):
    return ("GET %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n" % path).encode()


def test():
    if not have_openssl():
        tap.ok(False, "the openssl command is installed")
        return
    certs = Certs()
    pem, key = certs.issue("pp", dns=["localhost"])
    b = Backend("b1")
    pp, plain, slow, untr, tls = (free_port() for _ in range(5))
    p = TLSPortico(
        upstreams={"app": [b.addr]},
        listeners={"pp": ["127.0.0.1:%d" % pp], "plain": ["127.0.0.1:%d" % plain],
                   "slow": ["127.0.0.1:%d" % slow], "untr": ["127.0.0.1:%d" % untr],
                   "tls": ["127.0.0.1:%d" % tls]},
        listener_opts={"pp": [("proxy_protocol", "on")],
                       "slow": [("proxy_protocol", "on"), ("proxy_protocol_timeout", "1s")],
                       "untr": [("proxy_protocol", "on"), ("trusted_proxies", "10.0.0.0/8")],
                       "tls": [("proxy_protocol", "on"), ("tls_certificate", pem),
                               ("tls_key", key)]},
        routes=[dict(name="status", path="/_portico/", handler="status"),
                dict(name="main", path="/", upstream="app")])
    p.start()

    def xff(path):
        reqs = b.requests_for(path)
        return hall(reqs[-1]["headers"], "X-Forwarded-For") if reqs else None

    def logged(path):
        def f():
            for l in p.access_lines():
                if ('"GET %s HTTP/1.1"' % path) in l:
                    return l.split(" ", 1)[0]
            return None
        return wait_until(f, 5)

    def refused():
        return json.loads(get(plain, "/_portico/status").body)["proxy_protocol_refused"]

    good = [
        ("v1 TCP4", b"PROXY TCP4 198.51.100.1 127.0.0.1 56324 80\r\n", "198.51.100.1"),
        ("v1 TCP6", b"PROXY TCP6 2001:db8::1 ::1 56324 443\r\n", "2001:db8::1"),
        ("v1 UNKNOWN", b"PROXY UNKNOWN\r\n", "127.0.0.1"),
        ("v1 UNKNOWN with addresses", b"PROXY UNKNOWN ffff::1 ::1 1 2\r\n", "127.0.0.1"),
        ("v2 TCP4", v2_4("198.51.100.2"), "198.51.100.2"),
        ("v2 TCP4 with TLVs", v2_4("198.51.100.3", tlvs=b"\x01\x00\x02h2\x04\x00\x00"),
         "198.51.100.3"),
        ("v2 TCP6", v2_6("2001:db8::2"), "2001:db8::2"),
        ("v2 LOCAL", v2(0, 0x00), "127.0.0.1"),
        ("v2 LOCAL with an address block", v2(0, 0x11, b"\0" * 12), "127.0.0.1"),
        ("v2 UNSPEC", v2(1, 0x00), "127.0.0.1"),
    ]
    with subtest_guard("valid headers"):
        for i, (name, hdr, want) in enumerate(good):
            path = "/good/%d" % i
            out = exchange(pp, hdr + request(path))
            tap.like(out.decode("latin-1"), r"^HTTP/1\.1 200 ", "%s: answered" % name)
            tap.is_(xff(path), [want], "%s: backend's X-Forwarded-For" % name)
            tap.is_(logged(path), want, "%s: access log address" % name)
        # A header in pieces, then the request: taken when whole.
        s = socket.create_connection(("127.0.0.1", pp), timeout=10)
        hdr = b"PROXY TCP4 198.51.100.9 127.0.0.1 1 80\r\n"
        for i in range(0, len(hdr), 7):
            s.sendall(hdr[i:i + 7])
            time.sleep(0.05)
        s.sendall(request("/pieces"))
        out = b""
        while True:
            d = s.recv(65536)
            if not d:
                break
            out += d
        s.close()
        tap.like(out.decode("latin-1"), r"^HTTP/1\.1 200 ", "header in 7-byte pieces: answered")
        tap.is_(xff("/pieces"), ["198.51.100.9"], "header in pieces: its address")

    bad = [
        ("missing (plain HTTP)", b"", r"no PROXY protocol signature"),
        ("v1 oversized", b"PROXY TCP4 " + b"1" * 120 + b"\r\n", r"longer than 107"),
        ("v1 mixed family", b"PROXY TCP4 2001:db8::1 127.0.0.1 1 80\r\n", r"family"),
        ("v1 TCP6 with IPv4", b"PROXY TCP6 198.51.100.1 ::1 1 80\r\n", r"family"),
        ("v1 double space", b"PROXY TCP4  198.51.100.1 127.0.0.1 1 80\r\n", r"address"),
        ("v1 port out of range", b"PROXY TCP4 198.51.100.1 127.0.0.1 65536 80\r\n", r"port"),
        ("v1 LF only", b"PROXY TCP4 198.51.100.1 127.0.0.1 1 80\n", r"CRLF"),
        ("v1 UDP4", b"PROXY UDP4 198.51.100.1 127.0.0.1 1 80\r\n", r"TCP4"),
        ("v2 wrong signature", b"\r\n\r\n\x00\r\nQUIZ\n\x21\x11\x00\x0c" + b"\0" * 12,
         r"signature"),
        ("v2 version 1", SIG + b"\x11\x11\x00\x0c" + b"\0" * 12, r"another version"),
        ("v2 command 2", SIG + b"\x22\x11\x00\x0c" + b"\0" * 12, r"command"),
        ("v2 TCP6 with an IPv4 block (mixed family)", v2(1, 0x21, b"\0" * 12), r"too short"),
        ("v2 UDP4", v2(1, 0x12, b"\0" * 12), r"family"),
        ("v2 oversized", v2(1, 0x11, b"\0" * 12, length=4000), r"longer"),
    ]
    with subtest_guard("refused headers"):
        before = refused()
        for i, (name, hdr, why) in enumerate(bad):
            path = "/bad-%d" % i
            time.sleep(1.05)    # the log is rate-limited to a line a second
            out = exchange(pp, hdr + request(path))
            tap.is_(out, b"", "%s: closed without an answer" % name)
            tap.is_(b.requests_for(path), [], "%s: the backend saw nothing" % name)
            tap.ok(p.wait_log(r"PROXY protocol header refused: .*%s" % why),
                   "%s: logged with the reason" % name)
        # Truncated: part of a header, then the client's FIN.
        for name, part in (("v1 truncated", b"PROXY TCP4 198.51.100.1 12"),
                           ("v2 truncated", v2_4("198.51.100.1")[:20])):
            time.sleep(1.05)
            s = socket.create_connection(("127.0.0.1", pp), timeout=10)
            s.sendall(part)
            s.shutdown(socket.SHUT_WR)
            try:
                out = s.recv(100)
            except ConnectionResetError:
                out = b""
            s.close()
            tap.is_(out, b"", "%s: closed without an answer" % name)
        tap.ok(p.wait_log(r"PROXY protocol header refused: closed within the header"),
               "truncated: logged")
        n = len(bad) + 2
        tap.ok(wait_until(lambda: refused() - before == n, 5),
               "status JSON: proxy_protocol_refused counts the %d refusals" % n,
               "%d -> %d" % (before, refused()))
        m = get(plain, "/_portico/metrics").body.decode()
        mm = re.search(r"(?m)^portico_proxy_protocol_refused_total (\d+)$", m)
        tap.ok(mm and int(mm.group(1)) == before + n, "/metrics counts them too",
               mm.group(0) if mm else m[:300])

    with subtest_guard("timeout, untrusted peer"):
        s = socket.create_connection(("127.0.0.1", slow), timeout=15)
        t0 = time.monotonic()
        try:
            out = s.recv(100)
        except ConnectionResetError:
            out = b""
        el = time.monotonic() - t0
        s.close()
        tap.is_(out, b"", "silent client: closed without an answer")
        tap.ok(0.9 <= el < 10, "closed after proxy_protocol_timeout = 1s", "%.2f s" % el)
        tap.ok(p.wait_log(r"refused: none within proxy_protocol_timeout"), "timeout logged")
        time.sleep(1.05)
        out = exchange(untr, b"PROXY TCP4 198.51.100.1 127.0.0.1 1 80\r\n" + request("/untr"))
        tap.is_(out, b"", "peer outside trusted_proxies: closed, even with a good header")
        tap.is_(b.requests_for("/untr"), [], "untrusted: the backend saw nothing")
        tap.ok(p.wait_log(r"refused: peer not in trusted_proxies"), "untrusted: logged")

    with subtest_guard("TLS listener: the header before the handshake"):
        for name, hdr, want in (("v1", b"PROXY TCP4 198.51.100.50 127.0.0.1 1 443\r\n",
                                 "198.51.100.50"),
                                ("v2", v2_6("2001:db8::50"), "2001:db8::50")):
            raw = socket.create_connection(("127.0.0.1", tls), timeout=10)
            raw.sendall(hdr)
            ctx = client_ctx(certs.ca)
            s = ctx.wrap_socket(raw, server_hostname="localhost")
            path = "/tls-%s" % name
            s.sendall(request(path))
            out = b""
            while True:
                try:
                    d = s.recv(65536)
                except (ssl.SSLError, ConnectionResetError):
                    break
                if not d:
                    break
                out += d
            s.close()
            tap.like(out.decode("latin-1"), r"^HTTP/1\.1 200 ", "TLS %s: answered" % name)
            tap.is_(xff(path), [want], "TLS %s: backend's X-Forwarded-For" % name)
            tap.is_(logged(path), want, "TLS %s: access log address" % name)
        raw = socket.create_connection(("127.0.0.1", tls), timeout=10)
        ctx = client_ctx(certs.ca)
        try:
            s = ctx.wrap_socket(raw, server_hostname="localhost")
            s.close()
            ok = False
        except (ssl.SSLError, ConnectionResetError, OSError):
            ok = True
        tap.ok(ok, "TLS without the header: no handshake")
    p.stop()


if __name__ == "__main__":
    main(test, timeout=150, tests=93)
