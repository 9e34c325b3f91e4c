#!/usr/bin/env python3
# WebSocket and other HTTP/1.1 upgrades through portico, against a small
# WebSocket-ish backend written here (the handshake by hand, then an echo
# of raw bytes):
#   - the handshake reaches the backend with Upgrade: websocket and
#     Connection: upgrade, the 101 (with the right Sec-WebSocket-Accept)
#     reaches the client, and bytes echo both ways: several messages and
#     1 MiB sent while the client does not read (backpressure: it all
#     arrives, in order);
#   - the client's FIN ends the backend side (the backend reads EOF), the
#     backend's close ends the client side (the client reads EOF);
#   - tunnel_idle_timeout closes an idle tunnel;
#   - websocket = off: the request reaches the backend without Upgrade
#     and gets its ordinary answer; an unknown token likewise, but passes
#     where upgrade_allow lists it; h2c is never forwarded; a 101 naming
#     another protocol than asked for is a 502;
#   - one access log line per tunnel, status 101, with the bytes both ways;
#     the status JSON and /metrics count open tunnels and bytes;
#   - a graceful stop (HUP) keeps an open tunnel working until
#     shutdown_timeout, then it is closed.
import base64
import hashlib
import os
import re
import socket
import subprocess
import ssl
import sys
import threading
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from portico_test import (tap, main, Portico, subtest_guard, get, wait_until,
                          proc_rss_kb, require_binary, status_json, ws_accept,
                          UpgradeBackend)
from portico_tls import Certs, TLSPortico, client_ctx, have_openssl

FLOOD = 64 << 20        # bytes the /flood backend pushes after its 101


class WsBackend(UpgradeBackend):
    """Answers an Upgrade with 101 and echoes bytes; others get 200."""

    def __init__(self, sctx=None):
        self.eofs = 0          # tunnels whose client side ended (EOF read)
        UpgradeBackend.__init__(self, sctx)

    def serve(self, s, method, path, fields, rest):
        upg = fields.get("upgrade")
        if upg is None or path.startswith("/plain"):
            body = ("plain %s" % path).encode()
            s.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n"
                      b"Connection: close\r\n\r\n%s" % (len(body), body))
            return
        proto = upg.encode()
        if path.startswith("/wrong"):
            proto = b"other"
        extra = b""
        if upg.lower() == "websocket":
            extra = b"Sec-WebSocket-Accept: " + ws_accept(
                fields.get("sec-websocket-key", "").encode()) + b"\r\n"
        s.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: " + proto +
                  b"\r\nConnection: Upgrade\r\n" + extra + b"\r\n")
        if path.startswith("/hello"):
            s.sendall(b"server-first")
        if path.startswith("/flood"):
            blk = bytes(range(256)) * 256
            for _ in range(FLOOD // len(blk)):
                s.sendall(blk)
        if rest:
            s.sendall(rest)
        while True:
            d = s.recv(65536)
            if not d:
                with self.lock:
                    self.eofs += 1
                return
            if d.endswith(b"CLOSE-NOW"):
                if self.sctx is not None:
                    s.unwrap()     # close_notify, then the close
                return
            s.sendall(d)


class Ws:
    """A client connection: the handshake, then raw bytes."""

    def __init__(self, port, path, upgrade="websocket", conn="Upgrade", extra=b"",
                 ctx=None):
        self.key = base64.b64encode(os.urandom(16))
        self.s = socket.create_connection(("127.0.0.1", port), timeout=10)
        if ctx is not None:
            self.s = ctx.wrap_socket(self.s)
        req = (b"GET " + path.encode() + b" HTTP/1.1\r\nHost: localhost\r\n")
        if upgrade:
            req += b"Upgrade: " + upgrade.encode() + b"\r\n"
        if conn:
            req += b"Connection: " + conn.encode() + b"\r\n"
        req += b"Sec-WebSocket-Key: " + self.key + b"\r\nSec-WebSocket-Version: 13\r\n\r\n"
        self.s.sendall(req + extra)
        buf = b""
        while b"\r\n\r\n" not in buf:
            d = self.s.recv(65536)
            if not d:
                break
            buf += d
        head, _, self.rest = buf.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        self.status = int(lines[0].split(" ")[1]) if lines and " " in lines[0] else 0
        self.fields = {}
        for ln in lines[1:]:
            k, v = ln.split(":", 1)
            self.fields.setdefault(k.strip().lower(), []).append(v.strip())

    def field(self, name):
        v = self.fields.get(name.lower())
        return v[0] if v else None

    def read_exact(self, n):
        out = self.rest[:n]
        self.rest = self.rest[n:]
        while len(out) < n:
            d = self.s.recv(min(65536, n - len(out)))
            if not d:
                break
            out += d
        return out

    def read_eof(self, timeout=10):
        self.s.settimeout(timeout)
        try:
            while True:
                d = self.s.recv(65536)
                if not d:
                    return True
        except socket.timeout:
            return False
        except OSError:
            return True

    def echo(self, msg):
        self.s.sendall(msg)
        return self.read_exact(len(msg)) == msg

    def close(self):
        self.s.close()


def test():
    b = WsBackend()
    p = Portico(upstreams={"app": [b.addr]}, workers=1,
                global_opts={"shutdown_timeout": "4s"},
                routes=[
                    dict(name="status", path="/_portico/", handler="status"),
                    dict(name="nows", path="/nows/", upstream="app", websocket="off"),
                    dict(name="other", path="/other/", upstream="app",
                         upgrade_allow="foo"),
                    dict(name="idle", path="/idle/", upstream="app",
                         tunnel_idle_timeout="1s"),
                    dict(name="main", path="/", upstream="app"),
                ])
    p.start()

    with subtest_guard("handshake and echo"):
        w = Ws(p.port, "/ws/a")
        tap.is_(w.status, 101, "the client gets 101 Switching Protocols")
        tap.is_((w.field("Upgrade") or "").lower(), "websocket", "... with Upgrade: websocket")
        tap.is_((w.field("Connection") or "").lower(), "upgrade", "... and Connection: upgrade")
        tap.is_(w.field("Sec-WebSocket-Accept"), ws_accept(w.key).decode(),
                "... and the backend's Sec-WebSocket-Accept")
        h = b.head("/ws/a")[1]
        tap.is_(h.get("upgrade"), "websocket", "the backend saw Upgrade: websocket")
        tap.like(h.get("connection", ""), r"(?i)\bupgrade\b", "the backend saw Connection: upgrade")
        tap.ok(all(w.echo(("message %d" % i).encode() * (i + 1)) for i in range(5)),
               "five messages echo both ways")
        big = os.urandom(1 << 20)
        sender = threading.Thread(target=w.s.sendall, args=(big,), daemon=True)
        sender.start()
        time.sleep(1.0)        # the client does not read: backpressure
        got = w.read_exact(len(big))
        sender.join(10)
        tap.ok(got == big, "1 MiB sent while not reading comes back whole and in order",
               "got %d bytes" % len(got))
        js = status_json(p.port)
        tap.is_(js.get("tunnels", {}).get("open"), 1, "status JSON: one open tunnel")
        srv = js["upstreams"][0]["servers"][0]
        tap.is_(srv.get("active"), 1, "... which counts as its server's active connection")
        m = get(p.port, "/_portico/metrics").body.decode()
        tap.like(m, r"(?m)^portico_tunnels_open 1$", "/metrics: portico_tunnels_open 1")
        # The client's FIN ends the backend's side, and the tunnel.
        eofs = b.eofs
        w.s.shutdown(socket.SHUT_WR)
        tap.ok(wait_until(lambda: b.eofs > eofs, timeout=10),
               "client half-close: the backend reads EOF")
        tap.ok(w.read_eof(), "... and the client then reads EOF")
        w.close()
        line = p.wait_log(r'"GET /ws/a HTTP/1.1" 101 ', timeout=10, path=p.access_log_path)
        tap.ok(line, "one access log line with status 101", line)
        sent = sum(len(("message %d" % i).encode() * (i + 1)) for i in range(5)) + len(big)
        tap.like(line or "", r'" 101 %d .* tunnel_bytes_in=%d$' % (sent, sent),
                 "... with bytes to the client and tunnel_bytes_in from it")
        tap.ok(wait_until(lambda: status_json(p.port)["tunnels"]["open"] == 0, timeout=5),
               "status JSON: no open tunnel after the close")
        js = status_json(p.port)
        tap.ok(js["tunnels"]["total"] >= 1 and js["tunnels"]["bytes_to_backend"] >= sent
               and js["tunnels"]["bytes_to_client"] >= sent,
               "status JSON counts the tunnel and its bytes both ways", repr(js["tunnels"]))

    with subtest_guard("a client that does not read: bounded memory"):
        pid = p.workers()[0]
        rss0 = proc_rss_kb(pid)
        w = Ws(p.port, "/flood/x")
        tap.is_(w.status, 101, "101")
        time.sleep(2.0)        # the backend pushes 64 MiB; nobody reads
        rss1 = proc_rss_kb(pid)
        tap.ok(rss0 and rss1 and rss1 - rss0 < 8 * 1024,
               "the worker holds the backend back: its memory grew < 8 MiB",
               "rss %s -> %s kB" % (rss0, rss1))
        blk = bytes(range(256)) * 256
        h = hashlib.sha256()
        n = 0
        while n < FLOOD:
            d = w.read_exact(min(len(blk), FLOOD - n))
            if not d:
                break
            h.update(d)
            n += len(d)
        want = hashlib.sha256(blk * (FLOOD // len(blk))).hexdigest()
        tap.is_(h.hexdigest(), want, "then all 64 MiB arrive, in order")
        w.close()

    with subtest_guard("bad configuration"):
        for val, why in (("h2c", "h2c is never allowed"), ("fo@o", "bad upgrade_allow")):
            bad = Portico(upstreams={"app": [b.addr]}, routes=[
                dict(name="r", path="/", upstream="app", upgrade_allow=val)], workers=1)
            bad.write_config()
            r = subprocess.run([require_binary(), "-t", "-c", bad.config_path],
                               capture_output=True, text=True, timeout=20)
            tap.ok(r.returncode != 0 and "portico.ini:" in r.stderr and why in r.stderr,
                   "-t: upgrade_allow = %s refused with file:line" % val, r.stderr.strip())
            bad.cleanup()

    with subtest_guard("backend close and early bytes"):
        w = Ws(p.port, "/hello/x", extra=b"early")
        tap.is_(w.status, 101, "101")
        tap.is_(w.read_exact(len(b"server-first") + 5), b"server-firstearly",
                "bytes the backend sent with its 101 and bytes the client sent "
                "with its request both pass")
        w.s.sendall(b"CLOSE-NOW")
        tap.ok(w.read_eof(), "the backend's close ends the client side (EOF)")
        w.close()

    with subtest_guard("idle timeout"):
        w = Ws(p.port, "/idle/x")
        tap.is_(w.status, 101, "101 on the tunnel_idle_timeout = 1s route")
        tap.ok(w.echo(b"ping"), "it echoes")
        t0 = time.time()
        closed = w.read_eof(timeout=15)
        tap.ok(closed and time.time() - t0 >= 0.8, "idle 1s: closed",
               "after %.1fs" % (time.time() - t0))
        tap.ok(p.wait_log(r"tunnel idle", timeout=5), "logged")
        w.close()

    with subtest_guard("refused upgrades"):
        w = Ws(p.port, "/nows/x")
        tap.is_(w.status, 200, "websocket = off: an ordinary answer")
        h = b.head("/nows/x")[1]
        tap.ok("upgrade" not in h and "upgrade" not in h.get("connection", "").lower(),
               "... the backend saw no Upgrade", repr(h))
        w.close()
        w = Ws(p.port, "/ws/foo", upgrade="foo")
        tap.is_(w.status, 200, "an unknown token: an ordinary answer")
        tap.ok("upgrade" not in b.head("/ws/foo")[1],
               "... forwarded without Upgrade")
        w.close()
        w = Ws(p.port, "/other/foo", upgrade="foo")
        tap.is_(w.status, 101, "upgrade_allow = foo: the foo upgrade passes")
        tap.ok(w.echo(b"foo bytes"), "... and its tunnel echoes")
        w.close()
        w = Ws(p.port, "/other/h2c", upgrade="h2c", conn="Upgrade, HTTP2-Settings")
        tap.is_(w.status, 200, "h2c: an ordinary answer")
        tap.ok("upgrade" not in b.head("/other/h2c")[1], "... no Upgrade forwarded")
        w.close()
        w = Ws(p.port, "/ws/noconn", conn=None)
        tap.is_(w.status, 200, "Upgrade without Connection: upgrade: ordinary")
        w.close()
        w = Ws(p.port, "/wrong/x")
        tap.is_(w.status, 502, "a 101 naming another protocol: 502")
        w.close()

    with subtest_guard("graceful stop"):
        w = Ws(p.port, "/ws/grace")
        tap.is_(w.status, 101, "101")
        old = p.workers()
        time.sleep(0.3)
        t0 = time.time()
        p.signal("HUP")
        tap.ok(p.wait_log(r"graceful stop", timeout=10), "the old worker stops gracefully")
        time.sleep(1.5)
        tap.ok(w.echo(b"still here"), "the tunnel still echoes 1.5s into the stop")
        closed = w.read_eof(timeout=20)
        tap.ok(closed and time.time() - t0 >= 3.0,
               "closed at shutdown_timeout (4s)", "after %.1fs" % (time.time() - t0))
        w.close()
        tap.ok(wait_until(lambda: old[0] not in p.workers(), timeout=10), "the old worker is gone")

    p.stop()

    with subtest_guard("TLS listener and TLS upstream"):
        if not have_openssl():
            tap.skip("no openssl to make certificates", 5)
            return
        certs = Certs()
        cert, key = certs.issue("backend", ip=["127.0.0.1"], dns=["backend.test"])
        sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        sctx.load_cert_chain(cert, key)
        tb = WsBackend(sctx)
        lcert, lkey = certs.issue("front", dns=["localhost"])
        tp = TLSPortico(upstreams={"app": {"servers": [tb.addr + " tls"], "tls_ca": certs.ca}},
                        listener_opts={"web": [("tls_certificate", lcert), ("tls_key", lkey)]},
                        workers=1)
        tp.start()
        w = Ws(tp.port, "/tls/x", ctx=client_ctx())
        tap.is_(w.status, 101, "TLS both sides: 101")
        tap.is_(w.field("Sec-WebSocket-Accept"), ws_accept(w.key).decode(),
                "... with the backend's Sec-WebSocket-Accept")
        tap.ok(all(w.echo(b"tls message %d" % i) for i in range(5)),
               "messages echo through both TLS connections")
        # One thread on the TLS socket (an SSL object is not to be used
        # by two threads at once): 64 KiB out, its echo back, 16 times.
        big = os.urandom(1 << 20)
        got = b""
        for off in range(0, len(big), 1 << 16):
            w.s.sendall(big[off:off + (1 << 16)])
            piece = w.read_exact(1 << 16)
            got += piece
            if len(piece) < 1 << 16:
                break
        tap.ok(got == big, "1 MiB echoes whole over TLS", "got %d" % len(got))
        w.s.sendall(b"CLOSE-NOW")
        tap.ok(w.read_eof(), "the backend's close ends the TLS client side")
        w.close()
        tp.stop()


if __name__ == "__main__":
    main(test, timeout=120, tests=51)
