#!/usr/bin/env python3
# Health probes read the backend's answer with the workers' strict HTTP/1
# parser (common/http.c): a status line ending in a bare LF, a header with
# whitespace before its colon, a bad Content-Length, a body cut short of
# its Content-Length take the server down with the parser's reason in the
# log and in the status JSON; a valid answer sent in many small TCP
# segments, a chunked one whose health_body spans two chunks, and one
# with 190 header fields (workers take 200) keep theirs up.
import json
import os
import socket
import sys
import threading
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from portico_test import tap, main, Portico, subtest_guard, wait_until, register


class Canned:
    """Answers every connection with the same bytes, in pieces: each piece
    is sent on its own (TCP_NODELAY, a pause between them), then the
    connection is closed."""

    def __init__(self, pieces, pause=0.02):
        self.pieces = pieces
        self.pause = pause
        self.conns = 0
        self.stopping = False
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(16)
        self.lsock.settimeout(0.2)
        self.addr = "127.0.0.1:%d" % self.lsock.getsockname()[1]
        threading.Thread(target=self._loop, daemon=True).start()
        register(self)

    def _loop(self):
        while not self.stopping:
            try:
                s, _ = self.lsock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            threading.Thread(target=self._serve, args=(s,), daemon=True).start()

    def _serve(self, s):
        self.conns += 1
        try:
            s.settimeout(2)
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            got = b""
            while b"\r\n\r\n" not in got:
                d = s.recv(4096)
                if not d:
                    return
                got += d
            for i, piece in enumerate(self.pieces):
                if i:
                    time.sleep(self.pause)
                s.sendall(piece)
        except OSError:
            pass
        finally:
            s.close()

    def cleanup(self):
        self.stopping = True
        try:
            self.lsock.close()
        except OSError:
            pass


BAD = {
    "barelf": ([b"HTTP/1.1 200 OK\nContent-Length: 2\n\nok"],
               "bare LF in status line"),
    "wscolon": ([b"HTTP/1.1 200 OK\r\nX-Bad : 1\r\nContent-Length: 2\r\n\r\nok"],
                "whitespace before colon"),
    "badcl": ([b"HTTP/1.1 200 OK\r\nContent-Length: 2x\r\n\r\nok"],
              "bad Content-Length"),
    "cut": ([b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nI am healthy"],
            "body cut short"),
}

SPLIT = [b"HTT", b"P/1.", b"1 2", b"00 O", b"K\r", b"\nContent-Le", b"ngth: 1",
         b"4\r\n", b"\r", b"\nI am ", b"healthy", b"!\n"]

# As many header fields as a worker takes in an answer (200 at least).
MANY = [b"HTTP/1.1 200 OK\r\n" + b"".join(b"X-F%d: %d\r\n" % (i, i) for i in range(190)) +
        b"Content-Length: 14\r\n\r\nI am healthy!\n"]

CHUNKED = [b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
           b"5\r\nI am \r\n", b"7;ext=1\r\nhealthy\r\n", b"0\r\n\r\n"]


def server_state(p, upstream):
    r = p.get("/_portico/status")
    doc = json.loads(r.body)
    for u in doc["upstreams"]:
        if u["name"] == upstream:
            return u["servers"][0]
    return None


def test():
    probe = {"health_interval": "200ms", "health_timeout": "1500ms",
             "health_rise": "1", "health_fall": "2", "max_fails": "0"}
    bad = {name: Canned(pieces) for name, (pieces, _) in BAD.items()}
    split = Canned(SPLIT)
    chunked = Canned(CHUNKED)
    many = Canned(MANY)
    ups = {}
    for name, srv in bad.items():
        ups[name] = dict(probe, servers=[srv.addr], health_check="GET /healthz",
                         health_body="I am healthy" if name == "cut" else None)
        if ups[name]["health_body"] is None:
            del ups[name]["health_body"]
    ups["split"] = dict(probe, servers=[split.addr], health_check="GET /healthz",
                        health_body="I am healthy")
    ups["chunked"] = dict(probe, servers=[chunked.addr], health_check="GET /healthz",
                          health_body="I am healthy")
    ups["many"] = dict(probe, servers=[many.addr], health_check="GET /healthz",
                       health_body="I am healthy")
    routes = [dict(name=n, path="/%s/" % n, upstream=n) for n in ups]
    routes.append(dict(name="status", path="/_portico/", handler="status"))
    p = Portico(upstreams=ups, routes=routes, workers=1)
    p.start()

    for name, (_, why) in BAD.items():
        with subtest_guard("malformed answer: %s" % name):
            line = p.wait_log(r"upstream %s server %s: down \(" % (name, bad[name].addr), 8)
            tap.ok(line, "%s: the server is marked down" % name, p.error_log()[-2000:])
            tap.like(line or "", r"2 probes failed: .*invalid answer: .*%s" % why,
                     "%s: ... the log line names the parser's reason (%s)" % (name, why))
            st = server_state(p, name)
            tap.is_(st and st["state"], "down", "%s: state down in the status JSON" % name)
            tap.like(st and st["last_probe"] or "", r"invalid answer", "%s: last_probe says why"
                     % name)

    for name, srv in (("split", split), ("chunked", chunked), ("many", many)):
        with subtest_guard("valid answer: %s" % name):
            ok = wait_until(lambda: srv.conns >= 3 and (server_state(p, name) or {}).get(
                "probes", 0) >= 3, 8)
            tap.ok(ok, "%s: three probes answered" % name, repr(server_state(p, name)))
            st = server_state(p, name)
            tap.is_(st and st["state"], "up", "%s: the server stays up" % name)
            tap.is_(st and st["last_probe"], "200 OK", "%s: last probe passed: 200 OK" % name)
            tap.unlike(p.error_log(), r"upstream %s server [^:]+:\d+: down" % name,
                       "%s: never marked down" % name)


if __name__ == "__main__":
    main(test, timeout=90, tests=29)
