# A small HTTP/2 client for the HTTP/2 tests (75-79): python3-h2 (Debian's,
# so the tests run with /usr/bin/python3) over a plain socket, plus raw
# frames for what a well-behaved client library will not send.
import socket
import ssl
import struct
import time

import h2.config
import h2.connection
import h2.events
import h2.settings

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
# Frame types and error codes (RFC 9113).
DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PING, GOAWAY, WINDOW_UPDATE, CONTINUATION = \
    0, 1, 2, 3, 4, 6, 7, 8, 9
NO_ERROR, PROTOCOL_ERROR, REFUSED_STREAM, ENHANCE_YOUR_CALM = 0, 1, 7, 11


def frame(ftype, flags, stream, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + \
        struct.pack(">I", stream) + payload


class H2:
    """One connection: h2 state machine, events collected per stream."""

    def __init__(self, port, host="127.0.0.1", settings=None, validate=True, tls_ctx=None,
                 timeout=10):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        if tls_ctx is not None:
            self.sock = tls_ctx.wrap_socket(self.sock, server_hostname="a.test")
        cfg = h2.config.H2Configuration(client_side=True, header_encoding="utf-8",
                                        validate_outbound_headers=validate,
                                        normalize_outbound_headers=validate,
                                        validate_inbound_headers=False)
        self.c = h2.connection.H2Connection(config=cfg)
        self.c.local_settings = h2.settings.Settings(client=True,
                                                     initial_values=settings or {})
        self.c.initiate_connection()
        self.flush()
        self.streams = {}
        self.goaway = None
        self.closed = False
        self.resets = {}
        self.auto_ack = True

    def flush(self):
        data = self.c.data_to_send()
        if data:
            self.sock.sendall(data)

    def raw(self, data):
        self.sock.sendall(data)

    def request(self, path, method="GET", authority="a.test", headers=(), body=None,
                end=True):
        sid = self.c.get_next_available_stream_id()
        hs = [(":method", method), (":path", path), (":scheme", "http"),
              (":authority", authority)] + list(headers)
        self.c.send_headers(sid, hs, end_stream=body is None and end)
        if body is not None:
            self.c.send_data(sid, body, end_stream=end)
        self.flush()
        self.streams[sid] = {"headers": None, "data": b"", "ended": False}
        return sid

    def pump(self, timeout=10.0, until=None):
        """Read and handle events until until() is true, the peer closes or
        timeout.  Returns until()'s value (or True without until)."""
        end = time.time() + timeout
        while True:
            if until is not None and until():
                return True
            if self.closed:
                return until() if until else True
            left = end - time.time()
            if left <= 0:
                return until() if until else True
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                continue
            except (ConnectionResetError, ssl.SSLError, OSError):
                data = b""
            if not data:
                self.closed = True
                continue
            try:
                events = self.c.receive_data(data)
            except Exception as e:  # a protocol error on our side: stop
                self.error = e
                self.closed = True
                continue
            for ev in events:
                self.handle(ev)
            try:
                self.flush()
            except OSError:
                self.closed = True

    def handle(self, ev):
        st = self.streams.get(getattr(ev, "stream_id", None))
        if isinstance(ev, h2.events.ResponseReceived):
            st["headers"] = [(k.lower() if isinstance(k, str) else k, v) for k, v in ev.headers]
        elif isinstance(ev, h2.events.DataReceived):
            st["data"] += ev.data
            if self.auto_ack:
                self.c.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
        elif isinstance(ev, h2.events.StreamEnded):
            st["ended"] = True
        elif isinstance(ev, h2.events.StreamReset):
            self.resets[ev.stream_id] = ev.error_code
        elif isinstance(ev, h2.events.ConnectionTerminated):
            self.goaway = (int(ev.error_code), ev.last_stream_id)

    def status(self, sid):
        st = self.streams[sid]
        if st["headers"] is None:
            return None
        return int(dict(st["headers"])[":status"])

    def header(self, sid, name):
        return [v for k, v in (self.streams[sid]["headers"] or []) if k == name]

    def done(self, sid):
        return self.streams[sid]["ended"] or sid in self.resets

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def read_goaway(sock, timeout=10.0):
    """Read raw frames until a GOAWAY (its error code) or the close (None)."""
    buf = b""
    end = time.time() + timeout
    while time.time() < end:
        while len(buf) >= 9:
            n = struct.unpack(">I", b"\0" + buf[:3])[0]
            if len(buf) < 9 + n:
                break
            if buf[3] == GOAWAY:
                return struct.unpack(">I", buf[13:17])[0]
            buf = buf[9 + n:]
        sock.settimeout(max(0.05, end - time.time()))
        try:
            data = sock.recv(65536)
        except socket.timeout:
            continue
        except OSError:
            return None
        if not data:
            return None
        buf += data
    return None
