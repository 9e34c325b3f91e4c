#!/usr/bin/env python3
# send_proxy=v1|v2 on server lines: a test backend that parses the PROXY
# header itself sees, on each new connection, the client's address and
# port and the listener's address and port (v1 text, v2 binary) before
# the request (on a tls server the header goes before the handshake);
# a second client's request comes on a connection of its
# own with its own header (connections are not pooled across clients);
# health probes send v1 UNKNOWN / v2 LOCAL first and keep the servers up;
# portico as the receiver (proxy_protocol = on) takes the header of an
# IPv6 client relayed over IPv4; a bad send_proxy value is refused by -t
# with file:line.
import json
import os
import socket
import ssl
import struct
import subprocess
import sys
import threading

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from portico_test import (tap, main, Backend, subtest_guard, wait_until, hall,
                          free_port, ipv6_available, Portico, require_binary)
from portico_tls import TLSPortico, Certs, have_openssl

SIG = b"\r\n\r\n\x00\r\nQUIT\n"


def recv_exact(s, n):
    out = b""
    while len(out) < n:
        d = s.recv(n - len(out))
        if not d:
            raise EOFError("closed within the PROXY header")
        out += d
    return out


def read_pp(s):
    """Read and parse one PROXY header from s (byte by byte for v1)."""
    first = recv_exact(s, 6)
    if first == b"PROXY ":
        line = first
        while not line.endswith(b"\r\n"):
            line += recv_exact(s, 1)
            if len(line) > 107:
                raise ValueError("v1 line too long")
        f = line[6:-2].decode().split(" ")
        if f[0] == "UNKNOWN":
            return {"v": 1, "local": True}
        return {"v": 1, "local": False, "fam": f[0], "src": f[1], "dst": f[2],
                "sport": int(f[3]), "dport": int(f[4])}
    head = first + recv_exact(s, 10)
    if head[:12] != SIG:
        raise ValueError("no PROXY header: %r" % head)
    ver_cmd, fam, ln = head[12], head[13], struct.unpack("!H", head[14:16])[0]
    body = recv_exact(s, ln)
    if ver_cmd == 0x20:
        return {"v": 2, "local": True}
    if ver_cmd != 0x21:
        raise ValueError("bad v2 command %#x" % ver_cmd)
    if fam == 0x11:
        a = socket.AF_INET
        src, dst = body[0:4], body[4:8]
        sp, dp = struct.unpack("!HH", body[8:12])
        name = "TCP4"
    elif fam == 0x21:
        a = socket.AF_INET6
        src, dst = body[0:16], body[16:32]
        sp, dp = struct.unpack("!HH", body[32:36])
        name = "TCP6"
    else:
        raise ValueError("bad v2 family %#x" % fam)
    return {"v": 2, "local": False, "fam": name, "src": socket.inet_ntop(a, src),
            "dst": socket.inet_ntop(a, dst), "sport": sp, "dport": dp}


class PPBackend:
    """Reads a PROXY header, then answers HTTP/1.1 keep-alive requests with
    JSON: the header and the connection's number.  Records every header
    (.headers) and every failure (.errors)."""

    def __init__(self, tls_ctx=None):
        self.tls_ctx = tls_ctx          # TLS after the header, as a server
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.addr = "127.0.0.1:%d" % self.sock.getsockname()[1]
        self.headers = []
        self.errors = []
        self.lock = threading.Lock()
        threading.Thread(target=self.loop, daemon=True).start()

    def loop(self):
        while True:
            try:
                s, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.conn, args=(s,), daemon=True).start()

    def conn(self, s):
        s.settimeout(10)
        try:
            h = read_pp(s)
            if self.tls_ctx is not None:
                s = self.tls_ctx.wrap_socket(s, server_side=True)
                h["tls"] = True
            with self.lock:
                n = len(self.headers)
                self.headers.append(h)
            buf = b""
            while True:
                while b"\r\n\r\n" not in buf:
                    d = s.recv(4096)
                    if not d:
                        return
                    buf += d
                head, buf = buf.split(b"\r\n\r\n", 1)
                target = head.split(b" ")[1].decode()
                h2 = dict(h, conn=n, target=target)
                with self.lock:
                    self.headers[n] = h2
                body = json.dumps(h2).encode()
                s.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s"
                          % (len(body), body))
        except (OSError, ValueError, EOFError) as e:
            with self.lock:
                self.errors.append(str(e))
        finally:
            s.close()

    def close(self):
        self.sock.close()


def ask(port, path, host="127.0.0.1"):
    """GET path on a new connection; (status line, JSON body, client port)."""
    s = socket.create_connection((host, port), timeout=10)
    try:
        cport = s.getsockname()[1]
        s.sendall(("GET %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
                   % path).encode())
        out = b""
        while True:
            d = s.recv(65536)
            if not d:
                break
            out += d
    finally:
        s.close()
    head, _, body = out.partition(b"\r\n\r\n")
    status = head.split(b"\r\n")[0].decode()
    try:
        j = json.loads(body)
    except ValueError:
        j = None
    return status, j, cport


def test():
    pb = PPBackend()
    tls_ok = have_openssl()
    ups_tls = {}
    if tls_ok:
        certs = Certs()
        pem, key = certs.issue("backend", dns=["backend.test"])
        sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        sctx.load_cert_chain(pem, key)
        pbt = PPBackend(sctx)
        ups_tls = {"tls": {"servers": [pbt.addr + " tls send_proxy=v1"],
                           "tls_ca": certs.ca, "tls_server_name": "backend.test"}}
    probe = {"health_check": "GET /healthz", "health_interval": "300ms",
             "health_timeout": "2s", "health_rise": "1", "health_fall": "2",
             "keepalive": "8"}
    p = Portico(upstreams={
        "one": dict(probe, servers=[pb.addr + " send_proxy=v1"]),
        "two": dict(probe, servers=[pb.addr + " send_proxy=v2"]),
        "tcp": {"servers": [pb.addr + " send_proxy=v2"], "health_check": "tcp",
                "health_interval": "300ms", "health_fall": "1"},
        **ups_tls,
    }, routes=[dict(name="v1", path="/v1/", upstream="one"),
               dict(name="tls", path="/tls/", upstream="tls" if tls_ok else "one"),
               dict(name="tcp", path="/tcp/", upstream="tcp"),
               dict(name="v2", path="/", upstream="two")])
    p.start()
    try:
        for ver, prefix in ((1, "/v1/"), (2, "/v2/")):
            with subtest_guard("v%d header" % ver):
                st, j, cport = ask(p.port, prefix + "a")
                tap.ok("200" in st and j is not None, "v%d: answered through the "
                       "header-reading backend" % ver, st)
                j = j or {}
                tap.is_(j.get("v"), ver, "v%d: the header is version %d" % (ver, ver))
                tap.is_(j.get("fam"), "TCP4", "v%d: TCP4" % ver)
                tap.is_(j.get("src"), "127.0.0.1", "v%d: source is the client" % ver)
                tap.is_(j.get("sport"), cport, "v%d: source port is the client's "
                        "port" % ver)
                tap.is_((j.get("dst"), j.get("dport")), ("127.0.0.1", p.port),
                        "v%d: destination is the listener's address and port" % ver)
                st2, j2, cport2 = ask(p.port, prefix + "b")
                j2 = j2 or {}
                tap.ok(cport2 != cport and j2.get("sport") == cport2,
                       "v%d: a second client's request carries its own port" % ver,
                       "%s vs %s" % (j2.get("sport"), cport2))
                tap.ok(j2.get("conn") is not None and j2.get("conn") != j.get("conn"),
                       "v%d: on a connection of its own (not pooled)" % ver,
                       "%s %s" % (j.get("conn"), j2.get("conn")))
        with subtest_guard("TLS upstream"):
            if not tls_ok:
                tap.skip("no openssl command", 3)
            else:
                st, j, cport = ask(p.port, "/tls/x")
                j = j or {}
                tap.ok("200" in st and j.get("tls") is True, "tls server: the "
                       "answer came over TLS begun after the header", st)
                tap.is_((j.get("v"), j.get("src"), j.get("sport")),
                        (1, "127.0.0.1", cport), "tls server: the v1 header before "
                        "the handshake names the client")
                with pbt.lock:
                    errs = list(pbt.errors)
                tap.is_(errs, [], "tls server: no failed connection")
        with subtest_guard("health probes"):
            def locals_seen():
                with pb.lock:
                    hs = list(pb.headers)
                return (any(h.get("local") and h.get("v") == 1 and
                            h.get("target") == "/healthz" for h in hs) and
                        any(h.get("local") and h.get("v") == 2 and
                            h.get("target") == "/healthz" for h in hs))
            tap.ok(wait_until(locals_seen, 10), "health probes start with v1 "
                   "UNKNOWN and v2 LOCAL and are answered")
            st, j, _ = ask(p.port, "/v2/after")
            tap.ok("200" in st, "the servers stay up under header-sending probes", st)
            st, j, _ = ask(p.port, "/tcp/x")
            tap.ok("200" in st, "a tcp probe sending LOCAL keeps its server up", st)
            tap.ok("down" not in p.error_log(), "no server taken down",
                   p.error_log()[-1500:])
            with pb.lock:
                errs = list(pb.errors)
            tap.is_(errs, [], "every connection to the backend started with a "
                    "valid header")
    finally:
        p.stop()

    with subtest_guard("portico as the receiver"):
        if not ipv6_available():
            tap.skip("no IPv6 loopback")
        else:
            b = Backend("b1")
            back_port = free_port()
            back = TLSPortico(upstreams={"app": [b.addr]},
                              listeners={"web": ["127.0.0.1:%d" % back_port]},
                              listener_opts={"web": [("proxy_protocol", "on")]},
                              name="back")
            back.port = back_port
            back.start()
            for ver in ("v1", "v2"):
                fport = free_port("::1")
                front = Portico(upstreams={"app": ["127.0.0.1:%d send_proxy=%s"
                                                   % (back_port, ver)]},
                                listeners={"web": ["[::1]:%d" % fport]}, name="front")
                front.port = fport
                front.start()
                try:
                    s = socket.create_connection(("::1", fport), timeout=10)
                    s.sendall(b"GET /relay-%s HTTP/1.1\r\nHost: localhost\r\n"
                              b"Connection: close\r\n\r\n" % ver.encode())
                    out = b""
                    while True:
                        d = s.recv(65536)
                        if not d:
                            break
                        out += d
                    s.close()
                    tap.ok(out.startswith(b"HTTP/1.1 200"), "%s relayed: 200" % ver,
                           out[:200])
                    reqs = b.requests_for("/relay-%s" % ver)
                    xff = hall(reqs[-1]["headers"], "X-Forwarded-For") if reqs else None
                    # The front adds ::1; the back appends its peer as
                    # the header says it: ::1, not its real 127.0.0.1.
                    tap.is_(xff, ["::1, ::1"], "%s: the receiving portico takes "
                            "the IPv6 client from the header (its peer is "
                            "127.0.0.1)" % ver)
                finally:
                    front.stop()
            back.stop()

    with subtest_guard("bad value"):
        bad = Portico(upstreams={"app": ["127.0.0.1:9 send_proxy=v3"]})
        r = subprocess.run([require_binary(), "-t", "-c", bad.config_path],
                           capture_output=True, text=True, timeout=30)
        tap.ok(r.returncode != 0 and "portico.ini:" in r.stderr and
               "send_proxy must be v1 or v2" in r.stderr,
               "send_proxy=v3 refused by -t with file:line", r.stderr)
        bad.stop()
    pb.close()


if __name__ == "__main__":
    main(test, timeout=120)
