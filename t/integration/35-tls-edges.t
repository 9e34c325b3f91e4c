#!/usr/bin/env python3
# TLS edge cases: a close_notify that arrives with the request (no FIN) does
# not leave the connection hanging until keepalive_timeout; a
# close-delimited body cut short by the backend ends in a reset, never in a
# close_notify that would make it look whole; a TLS backend's
# close_notify that comes with the last bytes of a response does not stall
# the exchange; redirect = https keeps the query of an absolute-form target.
import os
import socket
import ssl
import sys
import threading
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from portico_test import tap, main, Backend, Client, free_port, subtest_guard, hget
from portico_tls import Certs, TLSPortico, client_ctx, have_openssl


class TLSBackend:
    """A TLS origin on loopback whose answer the test scripts: send(ts)
    writes the response; then, with close, it sends close_notify (with the
    last bytes: one write) and closes; otherwise it stalls for hold s."""

    def __init__(self, pem, key, send, close=False, hold=8.0):
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(pem, key)
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.send, self.close, self.hold = send, close, hold
        self.stop_ev = threading.Event()
        threading.Thread(target=self.loop, daemon=True).start()

    def loop(self):
        while not self.stop_ev.is_set():
            try:
                s, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.serve, args=(s,), daemon=True).start()

    def serve(self, s):
        try:
            s.settimeout(10)
            obj, inc, out = bio_handshake(s, self.ctx, server_side=True)
            buf = b""
            while b"\r\n\r\n" not in buf:
                try:
                    buf += obj.read(65536)
                except ssl.SSLWantReadError:
                    data = s.recv(65536)
                    if not data:
                        return
                    inc.write(data)
            obj.write(self.send)
            if self.close:
                try:
                    obj.unwrap()
                except ssl.SSLWantReadError:
                    pass
            s.sendall(out.read())       # the answer and close_notify together
            self.stop_ev.wait(self.hold)
        except OSError:
            pass
        finally:
            s.close()

    def cleanup(self):
        self.stop_ev.set()
        self.sock.close()


def bio_handshake(raw, ctx, **wrap):
    """A TLS handshake over memory BIOs on socket raw, so that the test
    decides what goes out in which send: (SSLObject, incoming, outgoing)."""
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out, **wrap)
    while True:
        try:
            obj.do_handshake()
            break
        except ssl.SSLWantReadError:
            d = out.read()
            if d:
                raw.sendall(d)
            d = raw.recv(65536)
            if not d:
                raise ConnectionResetError("closed during the handshake")
            inc.write(d)
    d = out.read()
    if d:
        raw.sendall(d)
    return obj, inc, out


def test():
    if not have_openssl():
        tap.ok(False, "the openssl command is installed (apt-get install openssl)")
        return
    certs = Certs()
    a_pem, a_key = certs.issue("a", dns=["a.test"])
    o_pem, o_key = certs.issue("origin", dns=["localhost"])
    be = Backend("b1")
    cut = TLSBackend(o_pem, o_key, b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + b"x" * 5000,
                     close=False, hold=8.0)
    notify = TLSBackend(o_pem, o_key, b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + b"y" * 3000,
                        close=True, hold=8.0)
    tport, plain = free_port(), free_port()
    p = TLSPortico(
        upstreams={"app": [be.addr],
                   "cut": {"servers": ["localhost:%d tls" % cut.port], "tls_ca": certs.ca,
                           "read_timeout": "1s"},
                   "notify": {"servers": ["localhost:%d tls" % notify.port],
                              "tls_ca": certs.ca, "read_timeout": "5s"}},
        listeners={"web": ["127.0.0.1:%d" % tport], "plain": ["127.0.0.1:%d" % plain]},
        listener_opts={"web": [("tls_certificate", a_pem), ("tls_key", a_key)],
                       "plain": [("redirect", "https:8443")]},
        routes=[dict(name="cut", path="/cut", upstream="cut"),
                dict(name="notify", path="/notify", upstream="notify"),
                dict(name="main", path="/", upstream="app")],
        workers=1, global_opts={"keepalive_timeout": "10s"})
    p.listen_addr = lambda: ("127.0.0.1", tport)
    p.start()
    ctx = client_ctx(ca=certs.ca)

    with subtest_guard("close_notify with the request"):
        raw = socket.create_connection(("127.0.0.1", tport))
        obj, inc, out = bio_handshake(raw, ctx, server_hostname="a.test")
        obj.write(b"GET /size/10 HTTP/1.1\r\nHost: a.test\r\n\r\n")
        try:
            obj.unwrap()
        except ssl.SSLWantReadError:
            pass
        raw.sendall(out.read())         # request and close_notify, no FIN
        t0 = time.time()
        raw.settimeout(8)
        got = b""
        closed = False
        try:
            while True:
                d = raw.recv(65536)
                if not d:
                    closed = True
                    break
                inc.write(d)
                try:
                    while True:
                        x = obj.read(65536)
                        if not x:
                            break
                        got += x
                except (ssl.SSLWantReadError, ssl.SSLZeroReturnError, ssl.SSLError):
                    pass
        except socket.timeout:
            pass
        took = time.time() - t0
        tap.ok(b"HTTP/1.1 200" in got, "the request that came with close_notify is answered",
               got[:80])
        tap.ok(closed and took < 3, "... and the connection closes at once, not after "
               "keepalive_timeout (%.2f s)" % took)
        raw.close()

    with subtest_guard("close-delimited body cut short"):
        # suppress_ragged_eofs=False: an end without close_notify raises.
        s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", tport)),
                            server_hostname="a.test", suppress_ragged_eofs=False)
        s.settimeout(10)
        s.sendall(b"GET /cut HTTP/1.1\r\nHost: a.test\r\n\r\n")
        got, ending = b"", None
        try:
            while True:
                d = s.recv(65536)
                if not d:
                    ending = "close_notify"
                    break
                got += d
        except socket.timeout:
            ending = "client timeout (the connection was left open)"
        except (ssl.SSLError, ConnectionResetError, OSError) as e:
            ending = "error: %s" % e.__class__.__name__
        tap.ok(b"HTTP/1.1 200" in got and got.endswith(b"x" * 100),
               "the head and the first bytes of the body arrive", len(got))
        tap.ok(ending is not None and ending.startswith("error"),
               "... and the end is an error, not a close_notify that says complete", ending)
        s.close()

    with subtest_guard("backend close_notify with the last bytes"):
        s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", tport)),
                            server_hostname="a.test")
        s.settimeout(10)
        t0 = time.time()
        before = len(p.error_log())
        s.sendall(b"GET /notify HTTP/1.1\r\nHost: a.test\r\n\r\n")
        got = b""
        try:
            while True:
                d = s.recv(65536)
                if not d:
                    break
                got += d
        except (ssl.SSLError, OSError):
            pass
        took = time.time() - t0
        tap.ok(got.endswith(b"y" * 3000), "the whole close-delimited body arrives", len(got))
        tap.ok(took < 3, "... without waiting for read_timeout (%.2f s)" % took)
        time.sleep(0.2)
        tap.unlike(p.error_log()[before:], r"timed out in the middle of the body",
                   "... and the backend is not blamed for a timeout")
        s.close()

    with subtest_guard("redirect keeps the query of an absolute-form target"):
        c = Client(plain)
        r = c.request("GET", "http://h.test?q=1", host="h.test")
        tap.is_(r.status, 301, "redirect = https answers 301")
        tap.is_(r.header("Location"), "https://h.test:8443/?q=1", "... Location keeps ?q=1")
        c.close()

    cut.cleanup()
    notify.cleanup()
    p.stop()


main(test, timeout=90, tests=10)
