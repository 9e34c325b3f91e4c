#!/usr/bin/python3
# WebSocket over HTTP/2 (RFC 8441, extended CONNECT) on a plain listener
# with http2 = on, against a WebSocket echo backend written here (the
# HTTP/1.1 handshake by hand; /ws/ echoes WebSocket frames as a server
# does, /raw/ echoes bytes):
#   - the server's SETTINGS carry ENABLE_CONNECT_PROTOCOL = 1;
#   - CONNECT with :protocol websocket goes to the backend as GET with
#     Upgrade: websocket, Connection: upgrade, a Sec-WebSocket-Key of
#     portico's, the client's Sec-WebSocket-Version and -Protocol; the
#     backend's 101 is :status 200, and text and binary frames echo;
#   - 10 MB from the backend to a client that does not read for a while:
#     the worker's memory stays bounded (flow control), all arrives;
#   - several tunnels and an ordinary stream on one connection at once;
#   - the client's END_STREAM and its RST_STREAM end the backend side;
#     the backend's close ends the stream with END_STREAM;
#   - CONNECT without :protocol, :protocol websocket where websocket =
#     off, an unlisted :protocol: refused (the backend sees nothing); a
#     listed one (upgrade_allow) passes; a wrong Sec-WebSocket-Accept is
#     a 502;
#   - the access log line at the close, with the bytes both ways, and
#     the tunnel counters;
#   - a graceful stop (HUP) keeps an HTTP/2 tunnel working until
#     shutdown_timeout, then the connection is closed.
import base64
import os
import socket
import struct
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from portico_test import (tap, main, Portico, subtest_guard, get, wait_until,
                          proc_rss_kb, status_json, ws_accept, UpgradeBackend)
from h2raw import H2, frame, DATA

BIG = 10 << 20


def ws_frame(opcode, payload, mask=True):
    """One final WebSocket frame (client frames are masked)."""
    b0 = 0x80 | opcode
    n = len(payload)
    mbit = 0x80 if mask else 0
    if n < 126:
        hd = bytes([b0, mbit | n])
    elif n < 65536:
        hd = bytes([b0, mbit | 126]) + struct.pack(">H", n)
    else:
        hd = bytes([b0, mbit | 127]) + struct.pack(">Q", n)
    if not mask:
        return hd + payload
    key = os.urandom(4)
    return hd + key + bytes(c ^ key[i & 3] for i, c in enumerate(payload))


def ws_parse(buf):
    """(opcode, payload, rest) of the first whole frame in buf, or None."""
    if len(buf) < 2:
        return None
    op, n, off = buf[0] & 0x0f, buf[1] & 0x7f, 2
    if n == 126:
        if len(buf) < 4:
            return None
        n, off = struct.unpack(">H", buf[2:4])[0], 4
    elif n == 127:
        if len(buf) < 10:
            return None
        n, off = struct.unpack(">Q", buf[2:10])[0], 10
    key = None
    if buf[1] & 0x80:
        key, off = buf[off:off + 4], off + 4
    if len(buf) < off + n:
        return None
    p = buf[off:off + n]
    if key:
        p = bytes(c ^ key[i & 3] for i, c in enumerate(p))
    return op, p, buf[off + n:]


class WsBackend(UpgradeBackend):
    """HTTP/1.1 upgrades: 101, then a WebSocket or byte echo."""

    def __init__(self):
        self.eofs = []
        UpgradeBackend.__init__(self)

    def serve(self, s, method, path, fields, rest):
        if fields.get("upgrade") is None or path.startswith("/plain"):
            body = ("plain %s" % path).encode()
            s.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s"
                      % (len(body), body))
            return
        acc = ws_accept(fields.get("sec-websocket-key", "").encode())
        if path.startswith("/badaccept"):
            acc = ws_accept(b"something else")
        extra = b""
        if "sec-websocket-protocol" in fields:
            extra = b"Sec-WebSocket-Protocol: chat\r\n"
        s.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: " +
                  fields["upgrade"].encode() + b"\r\nConnection: Upgrade\r\n"
                  b"Sec-WebSocket-Accept: " + acc + b"\r\n" + extra + b"\r\n")
        if path.startswith("/big"):
            blk = bytes(range(256)) * 256
            for _ in range(BIG // len(blk)):
                s.sendall(blk)
        if path.startswith("/ws"):
            self._ws_echo(s, rest)
        else:
            self._raw_echo(s, rest)
        with self.lock:
            self.eofs.append(path)

    def _raw_echo(self, s, d):
        while True:
            if d:
                if d.endswith(b"CLOSE-NOW"):
                    raise OSError("asked to close")
                s.sendall(d)
            d = s.recv(65536)
            if not d:
                return

    def _ws_echo(self, s, buf):
        while True:
            f = ws_parse(buf)
            while f is not None:
                op, p, buf = f
                s.sendall(ws_frame(op, p, mask=False))
                f = ws_parse(buf)
            d = s.recv(65536)
            if not d:
                return
            buf += d

    def saw(self, path):
        return self.head(path)[0] is not None

    def eof(self, path):
        with self.lock:
            return path in self.eofs


class H2Portico(Portico):
    """The default listener with http2 = on (prior knowledge)."""

    def config_text(self):
        t = super().config_text()
        ln = "listen = 127.0.0.1:%d\n" % self.port
        return t.replace(ln, ln + "http2 = on\n", 1)


def xconnect(h, path, proto="websocket", headers=()):
    """An extended CONNECT stream (RFC 8441 4)."""
    hs = [(":method", "CONNECT"), (":protocol", proto), (":scheme", "http"),
          (":path", path), (":authority", "a.test"),
          ("sec-websocket-version", "13")] + list(headers)
    sid = h.c.get_next_available_stream_id()
    h.c.send_headers(sid, hs, end_stream=False)
    h.flush()
    h.streams[sid] = {"headers": None, "data": b"", "ended": False}
    return sid


def send(h, sid, data, end=False):
    """DATA within the windows, pumping for WINDOW_UPDATEs as needed."""
    off = 0
    while off < len(data):
        room = min(h.c.local_flow_control_window(sid), h.c.max_outbound_frame_size)
        if room <= 0:
            h.pump(0.2)
            continue
        h.c.send_data(sid, data[off:off + room])
        off += room
        h.flush()
    if end:
        h.c.end_stream(sid)
        h.flush()


def echo_frames(h, sid, frames):
    """Send WebSocket frames, return the frames that come back."""
    want = len(frames)
    start = len(h.streams[sid]["data"])
    send(h, sid, b"".join(ws_frame(op, p) for op, p in frames))
    got = []

    def parsed():
        got.clear()
        buf = h.streams[sid]["data"][start:]
        while True:
            f = ws_parse(buf)
            if f is None:
                break
            got.append((f[0], f[1]))
            buf = f[2]
        return len(got) >= want
    h.pump(15, until=parsed)
    return list(got)


def raw_data(sock, sid, want, timeout):
    """Raw frames: stream sid's DATA until it is want (or the close)."""
    buf = got = b""
    end = time.time() + timeout
    while time.time() < end and (want is None or got != want):
        while len(buf) >= 9:
            n = struct.unpack(">I", b"\0" + buf[:3])[0]
            if len(buf) < 9 + n:
                break
            if buf[3] == DATA and struct.unpack(">I", buf[5:9])[0] & 0x7fffffff == sid:
                got += buf[9:9 + n]
            buf = buf[9 + n:]
        sock.settimeout(max(0.05, end - time.time()))
        try:
            d = sock.recv(65536)
        except socket.timeout:
            continue
        except OSError:
            return got, True
        if not d:
            return got, True
        buf += d
    return got, False


def test():
    b = WsBackend()
    p = H2Portico(upstreams={"app": [b.addr]}, workers=1,
                  global_opts={"shutdown_timeout": "4s"},
                  routes=[
                      dict(name="status", path="/_portico/", handler="status"),
                      dict(name="nows", path="/nows/", upstream="app", websocket="off"),
                      dict(name="other", path="/other/", upstream="app",
                           upgrade_allow="foo"),
                      dict(name="main", path="/", upstream="app"),
                  ])
    p.start()

    with subtest_guard("handshake and frames"):
        h = H2(p.port, validate=False)
        h.pump(5, until=lambda: h.c.remote_settings.enable_connect_protocol == 1)
        tap.is_(h.c.remote_settings.enable_connect_protocol, 1,
                "SETTINGS_ENABLE_CONNECT_PROTOCOL = 1 from the server")
        sid = xconnect(h, "/ws/a", headers=[("sec-websocket-protocol", "chat")])
        h.pump(10, until=lambda: h.status(sid) is not None)
        tap.is_(h.status(sid), 200, "extended CONNECT :protocol websocket: :status 200")
        tap.is_(h.header(sid, "sec-websocket-protocol"), ["chat"],
                "... with the backend's Sec-WebSocket-Protocol")
        m, f = b.head("/ws/a")
        key = f.get("sec-websocket-key", "")
        tap.ok(m == "GET" and f.get("upgrade") == "websocket" and
               "upgrade" in f.get("connection", "").lower() and
               f.get("sec-websocket-version") == "13" and
               f.get("sec-websocket-protocol") == "chat" and
               len(base64.b64decode(key)) == 16,
               "the backend got GET, Upgrade: websocket, Connection: upgrade, "
               "a 16-byte key, version 13, the subprotocol", repr((m, f)))
        frames = [(1, ("text message %d" % i).encode() * (i + 1)) for i in range(5)]
        frames += [(2, os.urandom(300)), (2, os.urandom(70000))]
        got = echo_frames(h, sid, frames)
        tap.ok(got == frames, "text and binary frames (up to 70000 bytes) echo",
               "%d of %d frames" % (len(got), len(frames)))
        js = status_json(p.port)
        tap.is_(js.get("tunnels", {}).get("open"), 1, "status JSON: one open tunnel")
        m = get(p.port, "/_portico/metrics").body.decode()
        tap.like(m, r"(?m)^portico_tunnels_open 1$", "/metrics: portico_tunnels_open 1")
        h.c.end_stream(sid)
        h.flush()
        tap.ok(wait_until(lambda: b.eof("/ws/a"), timeout=10),
               "the client's END_STREAM: the backend reads EOF")
        tap.ok(h.pump(10, until=lambda: h.streams[sid]["ended"]) and sid not in h.resets,
               "... and its close ends the stream with END_STREAM")
        sent = sum(len(ws_frame(op, pl)) for op, pl in frames)
        back = sum(len(ws_frame(op, pl, mask=False)) for op, pl in frames)
        line = p.wait_log(r'"GET /ws/a HTTP/2.0" 200 ', timeout=10, path=p.access_log_path)
        tap.like(line or "", r'" 200 %d .* tunnel_bytes_in=%d$' % (back, sent),
                 "one access log line at the close, with the bytes both ways", line)
        tap.ok(wait_until(lambda: status_json(p.port)["tunnels"]["open"] == 0, timeout=5),
               "status JSON: no open tunnel after the close")
        h.close()

    with subtest_guard("10 MB to a slow reader"):
        pid = p.workers()[0]
        h = H2(p.port, validate=False)
        h.auto_ack = False
        rss0 = proc_rss_kb(pid)
        sid = xconnect(h, "/big/x")
        h.pump(3)              # takes what the windows allow, acks nothing
        rss1 = proc_rss_kb(pid)
        tap.ok(h.status(sid) == 200 and rss0 and rss1 and rss1 - rss0 < 4 * 1024,
               "a reader that does not read: the worker's memory grew < 4 MiB",
               "status %s, rss %s -> %s kB, %d bytes in" % (
                   h.status(sid), rss0, rss1, len(h.streams[sid]["data"])))
        h.auto_ack = True
        n = len(h.streams[sid]["data"])
        h.c.acknowledge_received_data(n, sid)
        h.flush()
        h.pump(60, until=lambda: len(h.streams[sid]["data"]) >= BIG)
        blk = bytes(range(256)) * 256
        tap.ok(h.streams[sid]["data"] == blk * (BIG // len(blk)),
               "then all 10 MB arrive, in order", "%d bytes" % len(h.streams[sid]["data"]))
        h.close()

    with subtest_guard("several tunnels and a stream beside them"):
        h = H2(p.port, validate=False)
        sids = [xconnect(h, "/raw/m%d" % i) for i in range(4)]
        plain = h.request("/plain/beside")
        h.pump(10, until=lambda: all(h.status(s) is not None for s in sids))
        for i, s in enumerate(sids):
            send(h, s, (b"tunnel %d " % i) * 1000)
        want = {s: (b"tunnel %d " % i) * 1000 for i, s in enumerate(sids)}
        h.pump(15, until=lambda: all(h.streams[s]["data"] == want[s] for s in sids)
               and h.done(plain))
        tap.ok(all(h.streams[s]["data"] == want[s] for s in sids),
               "four tunnels on one connection each echo their own bytes")
        tap.ok(h.status(plain) == 200 and h.streams[plain]["data"] == b"plain /plain/beside",
               "... and an ordinary stream beside them is answered")

        # The client's RST_STREAM ends the backend's side.
        h.c.reset_stream(sids[0])
        h.flush()
        tap.ok(wait_until(lambda: b.eof("/raw/m0"), timeout=10),
               "RST_STREAM from the client: the backend's connection closes")
        send(h, sids[1], b"still")
        h.pump(10, until=lambda: h.streams[sids[1]]["data"].endswith(b"still"))
        tap.ok(h.streams[sids[1]]["data"].endswith(b"still"),
               "... the other tunnels go on")

        # The backend's close ends the stream.
        send(h, sids[2], b"CLOSE-NOW")
        h.pump(10, until=lambda: h.done(sids[2]))
        tap.ok(h.streams[sids[2]]["ended"] and sids[2] not in h.resets,
               "the backend's close ends its stream with END_STREAM")
        h.close()

    with subtest_guard("refused"):
        h = H2(p.port, validate=False)
        sid = h.c.get_next_available_stream_id()
        h.c.send_headers(sid, [(":method", "CONNECT"), (":authority", "a.test:443")],
                         end_stream=False)
        h.flush()
        h.streams[sid] = {"headers": None, "data": b"", "ended": False}
        h.pump(10, until=lambda: h.done(sid))
        tap.ok(h.status(sid) in (405, 501), "CONNECT without :protocol: refused",
               "status %s" % h.status(sid))
        sid = xconnect(h, "/nows/x")
        h.pump(10, until=lambda: h.done(sid))
        tap.ok(h.status(sid) == 501 and not b.saw("/nows/x"),
               "websocket = off: refused (501), the backend sees nothing",
               "status %s" % h.status(sid))
        sid = xconnect(h, "/raw/foo", proto="foo")
        h.pump(10, until=lambda: h.done(sid))
        tap.ok(h.status(sid) == 501 and not b.saw("/raw/foo"),
               "an unlisted :protocol: refused", "status %s" % h.status(sid))
        sid = xconnect(h, "/other/foo", proto="foo")
        h.pump(10, until=lambda: h.status(sid) is not None)
        send(h, sid, b"foo bytes")
        h.pump(10, until=lambda: h.streams[sid]["data"] == b"foo bytes")
        tap.ok(h.status(sid) == 200 and h.streams[sid]["data"] == b"foo bytes",
               "upgrade_allow = foo: :protocol foo passes and echoes")
        sid = xconnect(h, "/badaccept/x")
        h.pump(10, until=lambda: h.done(sid))
        tap.is_(h.status(sid), 502, "a wrong Sec-WebSocket-Accept from the backend: 502")
        h.close()

    with subtest_guard("graceful stop"):
        h = H2(p.port, validate=False)
        sid = xconnect(h, "/raw/grace")
        h.pump(10, until=lambda: h.status(sid) is not None)
        old = p.workers()
        t0 = time.time()
        p.signal("HUP")
        tap.ok(p.wait_log(r"graceful stop", timeout=10), "the old worker stops gracefully")
        time.sleep(1.5)
        # python3-h2 takes any GOAWAY as the end: raw frames from here.
        h.raw(frame(DATA, 0, sid, b"still here"))
        got, closed = raw_data(h.sock, sid, b"still here", 10)
        tap.is_(got, b"still here", "the HTTP/2 tunnel still echoes 1.5s into the stop")
        got, closed = raw_data(h.sock, sid, None, 20)
        tap.ok(closed and time.time() - t0 >= 3.0, "closed at shutdown_timeout (4s)",
               "after %.1fs" % (time.time() - t0))
        tap.ok(wait_until(lambda: old[0] not in p.workers(), timeout=10),
               "the old worker is gone")
        h.close()

    p.stop()


if __name__ == "__main__":
    main(test, timeout=120, tests=28)
