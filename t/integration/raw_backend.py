# A backend for request-body tests: a fixed number of serving threads, each
# taking one connection at a time (like a prefork server with N workers), and
# a record of the raw bytes every connection received, so that tests can see
# chunk framing, extensions and trailers as they arrived, and partial bodies.
import hashlib
import json
import socket
import threading
import time

from portico_test import register


class RawBackend:
    def __init__(self, slots=2, name="raw", close=True):
        self.name = name
        self.close = close      # answer every request with Connection: close
        self.lock = threading.Lock()
        self.conns = []         # dicts: raw (bytearray), requests (list), t_accept
        self.stopping = False
        self.active = 0         # connections being served now
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(64)
        self.lsock.settimeout(0.2)
        self.port = self.lsock.getsockname()[1]
        self.threads = [threading.Thread(target=self._slot, daemon=True) for _ in range(slots)]
        for t in self.threads:
            t.start()
        register(self)

    @property
    def addr(self):
        return "127.0.0.1:%d" % self.port

    def requests(self):
        with self.lock:
            return [q for c in self.conns for q in c["requests"]]

    def raw_total(self):
        with self.lock:
            return sum(c["bytes"] for c in self.conns)

    def conn_count(self):
        with self.lock:
            return len(self.conns)

    def partial(self):
        """Connections that received bytes beyond their last whole request."""
        with self.lock:
            return [bytes(c["raw"][c["used"]:])[:200] for c in self.conns
                    if len(c["raw"]) > c["used"]]

    def cleanup(self):
        self.stop()

    def stop(self):
        self.stopping = True
        try:
            self.lsock.close()
        except OSError:
            pass

    def _slot(self):
        while not self.stopping:
            try:
                s, _ = self.lsock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            rec = {"raw": bytearray(), "bytes": 0, "requests": [], "used": 0, "t_accept": time.time(),
                   "head_time": None}
            with self.lock:
                self.conns.append(rec)
                self.active += 1
            try:
                self._serve(s, rec)
            except (OSError, ValueError):
                pass
            finally:
                with self.lock:
                    self.active -= 1
                s.close()

    def _serve(self, s, rec):
        s.settimeout(60)
        buf = bytearray()
        pos = [0]

        def more():
            d = s.recv(65536)
            if not d:
                raise ValueError("closed")
            with self.lock:
                rec["raw"] += d
                rec["bytes"] += len(d)
            buf.extend(d)

        def line():
            while True:
                i = buf.find(b"\r\n", pos[0])
                if i >= 0:
                    ln = bytes(buf[pos[0]:i])
                    pos[0] = i + 2
                    return ln
                more()

        def exact(n):
            while len(buf) - pos[0] < n:
                more()
            d = bytes(buf[pos[0]:pos[0] + n])
            pos[0] += n
            return d

        while not self.stopping:
            start = line()
            if start == b"":
                continue
            headers = []
            while True:
                ln = line()
                if ln == b"":
                    break
                k, _, v = ln.decode("latin-1").partition(":")
                headers.append((k.strip(), v.strip()))
            with self.lock:
                if rec["head_time"] is None:
                    rec["head_time"] = time.time()
            lower = {k.lower(): v for k, v in headers}
            body = bytearray()
            exts = []
            trailers = []
            chunked = "chunked" in lower.get("transfer-encoding", "").lower()
            body_start = pos[0]
            if chunked:
                while True:
                    ln = line()
                    size, _, ext = ln.partition(b";")
                    if ext or size != size.strip():
                        exts.append(ln)
                    n = int(size.strip(), 16)
                    if n == 0:
                        break
                    body += exact(n)
                    if line() != b"":
                        raise ValueError("bad chunk end")
                while True:
                    ln = line()
                    if ln == b"":
                        break
                    trailers.append(ln.decode("latin-1"))
            elif "content-length" in lower:
                body += exact(int(lower["content-length"]))
            q = {"start": start.decode("latin-1"), "headers": headers, "body": bytes(body),
                 "chunked": chunked, "extensions": exts, "trailers": trailers,
                 "raw_body": bytes(buf[body_start:pos[0]]), "time": time.time()}
            with self.lock:
                rec["requests"].append(q)
                rec["used"] = pos[0]
            out = json.dumps({"len": len(body), "sha256": hashlib.sha256(body).hexdigest()})
            close = self.close or "close" in lower.get("connection", "").lower()
            s.sendall(("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                       "Content-Length: %d\r\n%s\r\n" % (len(out), "Connection: close\r\n" if close else "")
                       ).encode() + out.encode())
            if close:
                return
            del buf[:pos[0]]
            with self.lock:
                rec["used"] -= pos[0]
                del rec["raw"][:pos[0]]
            pos[0] = 0
