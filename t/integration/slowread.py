"""
slowread.py: the slow and the fast clients of the slow-reader cache tests
(42-cache-slow-reader.t, 47-cache-slow-reader-chunked.t).
"""
import socket
import threading
import time


class SlowReader(threading.Thread):
    """A client with a tiny receive window (4 KiB) that reads slowly for
    hold seconds, then closes the connection (mid-body).  It stops early
    once it has `whole` body bytes, or, with last_chunk, the end of a
    chunked body.  data keeps the first `keep` bytes; eof says the server
    closed first."""

    def __init__(self, port, target, hold, keep=256 << 10, whole=None, pause=0.02,
                 version="1.1", last_chunk=False):
        threading.Thread.__init__(self, daemon=True)
        self.port, self.target, self.hold, self.keep = port, target, hold, keep
        self.whole, self.pause, self.version = whole, pause, version
        self.last_chunk = last_chunk
        self.data = bytearray()
        self.received = 0
        self.error = None
        self.eof = False
        self.started = threading.Event()

    def run(self):
        try:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            s.settimeout(20)
            s.connect(("127.0.0.1", self.port))
            s.sendall(("GET %s HTTP/%s\r\nHost: localhost\r\n\r\n"
                       % (self.target, self.version)).encode())
            end = time.monotonic() + self.hold
            while time.monotonic() < end:
                d = s.recv(4096)
                if not d:
                    self.eof = True
                    break
                self.started.set()
                self.received += len(d)
                if len(self.data) < self.keep:
                    self.data += d
                if self.last_chunk and self.data.endswith(b"\r\n0\r\n\r\n"):
                    break
                if self.whole is not None:
                    i = self.data.find(b"\r\n\r\n")
                    if i >= 0 and len(self.data) - i - 4 >= self.whole:
                        break
                time.sleep(self.pause)
            s.close()
        except Exception as e:      # reported by the test
            self.error = repr(e)
        finally:
            self.started.set()


def fetch_together(p, target, n=3, timeout=30):
    """n clients GET target at once through p; [(seconds, response or
    exception)] of those that finished within timeout + 10 s."""
    results = []

    def fetch():
        t0 = time.monotonic()
        try:
            r = p.get(target, timeout=timeout)
            results.append((time.monotonic() - t0, r))
        except Exception as e:
            results.append((time.monotonic() - t0, e))
    ts = [threading.Thread(target=fetch, daemon=True) for _ in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(timeout + 10)
    return results
