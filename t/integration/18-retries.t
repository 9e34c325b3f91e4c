#!/usr/bin/env python3
# Retries: retry_on (error, timeout, 5xx statuses), retries, retry_timeout,
# and the rule that non-idempotent requests are only retried when nothing
# of them reached a server.
import os
import socket
import sys
import threading
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from portico_test import tap, main, Backend, Portico, subtest_guard, refused_port


class Fixed:
    """A backend that reads a request head and answers the same status,
    or (status None) never answers at all."""

    def __init__(self, status):
        self.status = status
        self.hits = 0
        self.ls = socket.socket()
        self.ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.ls.bind(("127.0.0.1", 0))
        self.ls.listen(64)
        self.port = self.ls.getsockname()[1]
        self.addr = "127.0.0.1:%d" % self.port
        self.conns = []
        threading.Thread(target=self.loop, daemon=True).start()

    def loop(self):
        while True:
            try:
                c, _ = self.ls.accept()
            except OSError:
                return
            self.conns.append(c)
            threading.Thread(target=self.serve, args=(c,), daemon=True).start()

    def serve(self, c):
        data = b""
        try:
            while True:
                while b"\r\n\r\n" not in data:
                    d = c.recv(65536)
                    if not d:
                        return
                    data += d
                head, _, data = data.partition(b"\r\n\r\n")
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        n = int(line.split(b":")[1])
                        while len(data) < n:
                            data += c.recv(65536)
                        data = data[n:]
                self.hits += 1
                if self.status is None:
                    time.sleep(30)
                    return
                body = b"fixed %d\n" % self.status
                c.sendall(b"HTTP/1.1 %d X\r\nContent-Length: %d\r\n\r\n%s" %
                          (self.status, len(body), body))
        except OSError:
            pass


def test():
    good = Backend("good")
    f503 = Fixed(503)
    silent = Fixed(None)
    refused = "127.0.0.1:%d" % refused_port()
    p = Portico(upstreams={
        "s503": {"servers": [f503.addr, good.addr], "retry_on": "error timeout 503",
                 "max_fails": 0},
        "plain": {"servers": [f503.addr, good.addr], "max_fails": 0},
        "slow": {"servers": [silent.addr, good.addr], "read_timeout": "1s", "max_fails": 0},
        "noretry": {"servers": [refused, good.addr], "retries": 0, "max_fails": 0},
        "retry": {"servers": [refused, good.addr], "max_fails": 0},
        "off": {"servers": [refused, good.addr], "retry_on": "off", "max_fails": 0},
    }, routes=[
        dict(name="s503", path="/s503/", upstream="s503"),
        dict(name="plain", path="/plain/", upstream="plain"),
        dict(name="slow", path="/tmo/", upstream="slow"),
        dict(name="noretry", path="/noretry/", upstream="noretry"),
        dict(name="retry", path="/retry/", upstream="retry"),
        dict(name="off", path="/off/", upstream="off"),
    ], workers=1)
    p.start()

    with subtest_guard("retry_on 503"):
        got = [p.get("/s503/echo/%d" % i).status for i in range(6)]
        tap.is_(got, [200] * 6, "retry_on 503: GETs answered by the other server")
        tap.ok(f503.hits >= 2, "... after the 503 server was asked", str(f503.hits))
        got = [p.get("/s503/echo/p%d" % i, method="POST", body=b"data").status for i in range(6)]
        tap.ok(503 in got, "retry_on 503: a POST that reached a server is not sent again",
               str(got))
        got = [p.get("/plain/echo/%d" % i).status for i in range(6)]
        tap.ok(503 in got, "without 503 in retry_on the 503 is passed on", str(got))
        tap.ok(p.wait_log(r"answered 503, retrying", 2), "retry logged")

    with subtest_guard("timeout"):
        t0 = time.monotonic()
        got = [p.get("/tmo/echo/%d" % i, timeout=10).status for i in range(4)]
        dt = time.monotonic() - t0
        tap.is_(got, [200] * 4, "read timeout before an answer: GET retried on the next server")
        tap.ok(dt < 8, "... each within about read_timeout", "%.1fs" % dt)
        got = [p.get("/tmo/echo/q%d" % i, method="POST", body=b"x", timeout=10).status
               for i in range(4)]
        tap.ok(504 in got, "read timeout: a POST is not sent again (504)", str(got))

    with subtest_guard("retries and retry_on off"):
        got = [p.get("/retry/echo/%d" % i).status for i in range(6)]
        tap.is_(got, [200] * 6, "refused server: requests move on (default retries)")
        got = [p.get("/noretry/echo/%d" % i).status for i in range(6)]
        tap.ok(got.count(502) >= 2 and got.count(200) >= 2,
               "retries = 0: a refused attempt is the answer (502)", str(got))
        got = [p.get("/off/echo/%d" % i).status for i in range(6)]
        tap.ok(got.count(502) >= 2, "retry_on = off: no retry (502)", str(got))
        got = [p.get("/retry/echo/p%d" % i, method="POST", body=b"abc").status for i in range(6)]
        tap.is_(got, [200] * 6, "a POST whose connect was refused is safe to retry")

    p.stop()


if __name__ == "__main__":
    main(test, timeout=90, tests=13)
