#!/usr/bin/python3
# HTTP/2 request bodies stream to the backend with backpressure
# (request_buffering = off): while the backend does not read, the client's
# stream window stays shut and the upload stops (portico holds a bounded
# amount); once the backend reads, the whole body arrives, in order, and
# the answer comes back on the stream.  A body without Content-Length goes
# upstream chunked.
import hashlib
import os
import socket
import sys
import threading
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from portico_test import tap, main, free_port, subtest_guard, pattern_bytes, register
from portico_tls import TLSPortico
from h2raw import H2

TOTAL = 12 << 20


class GatedBackend:
    """Reads a request head, waits for go, then reads the body (Content-Length
    or chunked) and answers with its sha256."""

    def __init__(self):
        self.go = threading.Event()
        self.heads = []
        self.ls = socket.socket()
        self.ls.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        self.ls.bind(("127.0.0.1", 0))
        self.ls.listen(8)
        self.port = self.ls.getsockname()[1]
        self.stopping = False
        threading.Thread(target=self.run, daemon=True).start()
        register(self)

    def cleanup(self):
        self.stopping = True
        self.go.set()
        self.ls.close()

    def run(self):
        while not self.stopping:
            try:
                s, _ = self.ls.accept()
            except OSError:
                return
            threading.Thread(target=self.serve, args=(s,), daemon=True).start()

    def serve(self, s):
        buf = b""
        while b"\r\n\r\n" not in buf:
            d = s.recv(4096)
            if not d:
                return
            buf += d
        head, _, rest = buf.partition(b"\r\n\r\n")
        self.heads.append(head.decode("latin-1"))
        self.go.wait(60)
        low = head.lower()
        h = hashlib.sha256()
        n = 0
        if b"content-length:" in low:
            cl = int(low.split(b"content-length:")[1].split(b"\r\n")[0])
            data = rest
            while len(data) < cl:
                d = s.recv(1 << 20)
                if not d:
                    break
                data += d
            h.update(data[:cl])
            n = len(data[:cl])
        else:
            data = rest
            while not data.endswith(b"0\r\n\r\n"):
                d = s.recv(1 << 20)
                if not d:
                    break
                data += d
            while True:
                size, _, data = data.partition(b"\r\n")
                k = int(size, 16)
                if k == 0:
                    break
                h.update(data[:k])
                n += k
                data = data[k + 2:]
        body = ("%d %s" % (n, h.hexdigest())).encode()
        s.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
        s.close()


def upload(c, sid, data, seconds):
    """Send as much of data as the windows let through in seconds."""
    end = time.time() + seconds
    while c.sent < len(data) and time.time() < end:
        w = min(c.c.local_flow_control_window(sid), c.c.max_outbound_frame_size,
                len(data) - c.sent)
        if w > 0:
            c.c.send_data(sid, data[c.sent:c.sent + w],
                          end_stream=c.sent + w == len(data))
            c.sent += w
            c.flush()
        else:
            c.pump(timeout=0.2, until=lambda: c.c.local_flow_control_window(sid) > 0)


def test():
    be = GatedBackend()
    port = free_port()
    p = TLSPortico(upstreams={"app": ["127.0.0.1:%d" % be.port]},
                   listeners={"h2c": ["127.0.0.1:%d" % port]},
                   listener_opts={"h2c": [("http2", "on")]},
                   global_opts={"request_buffering": "off"}, workers=1)
    p.start()
    data = pattern_bytes(TOTAL)
    want = ("%d %s" % (TOTAL, hashlib.sha256(data).hexdigest())).encode()

    for cl in (True, False):
        name = "with Content-Length" if cl else "without Content-Length"
        with subtest_guard(name):
            be.go.clear()
            c = H2(port)
            # Room on our side: the connection window is not what is tested.
            c.c.increment_flow_control_window(1 << 30)
            c.sent = 0
            hs = [("content-length", str(TOTAL))] if cl else []
            sid = c.request("/up", method="POST", headers=hs, end=False)
            upload(c, sid, data, 4)
            first = c.sent
            upload(c, sid, data, 2)
            tap.ok(c.sent < TOTAL and c.sent == first,
                   "%s: the backend does not read, the upload stops (%d of %d bytes "
                   "sent)" % (name, c.sent, TOTAL))
            be.go.set()
            upload(c, sid, data, 60)
            tap.is_(c.sent, TOTAL, "%s: once the backend reads, the rest goes" % name)
            c.pump(until=lambda: c.done(sid), timeout=30)
            tap.is_((c.status(sid), c.streams[sid]["data"]), (200, want),
                    "%s: the backend got the whole body, in order" % name)
            c.close()
    tap.like(be.heads[-1].lower(), r"transfer-encoding: chunked",
             "a body without Content-Length goes upstream chunked")
    p.stop()


main(test, timeout=200)
