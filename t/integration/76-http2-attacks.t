#!/usr/bin/python3
# HTTP/2 attacks, each reproduced from a socket: rapid reset (CVE-2023-44487),
# CONTINUATION flood, HPACK bomb / header list over
# http2_max_header_list_size, SETTINGS, PING and empty DATA floods, more
# streams than http2_max_concurrent_streams.  Each ends in what RFC 9113
# and the docs say (GOAWAY ENHANCE_YOUR_CALM with an info log line, or
# REFUSED_STREAM for the stream over the limit), the work of reset streams
# is cancelled, and the daemon goes on serving other connections.
import os
import socket
import subprocess
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from portico_test import tap, main, Backend, free_port, subtest_guard, wait_until
from portico_tls import TLSPortico
from h2raw import (H2, PREFACE, frame, read_goaway, HEADERS, CONTINUATION, SETTINGS,
                   PING, DATA, RST_STREAM, ENHANCE_YOUR_CALM, REFUSED_STREAM)
import hpack


def still_serves(port):
    r = subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code} %{http_version}",
                        "--max-time", "30", "--http2-prior-knowledge",
                        "http://127.0.0.1:%d/echo/ok" % port], capture_output=True)
    out = r.stdout.decode()
    if out != "200 2":
        sys.stderr.write("# still_serves: curl: %s\n" % r.stderr.decode().strip())
    return out


def raw_conn(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(PREFACE + frame(SETTINGS, 0, 0))
    return s


def req_block(path, enc=None):
    enc = enc or hpack.Encoder()
    return enc.encode([(":method", "GET"), (":path", path), (":scheme", "http"),
                       (":authority", "a.test")])


def test():
    b = Backend("b1")
    b.script("/slow", delay=3.0, body=b"slow")
    port = free_port()
    p = TLSPortico(upstreams={"app": [b.addr]}, listeners={"h2c": ["127.0.0.1:%d" % port]},
                   listener_opts={"h2c": [("http2", "on")]},
                   global_opts={"http2_max_concurrent_streams": 5,
                                "http2_max_resets": 50,
                                "http2_max_control_frames": 200,
                                "http2_max_header_list_size": "8k"},
                   workers=1)
    p.start()

    def logged(what):
        return wait_until(lambda: what in p.error_log() and "ENHANCE_YOUR_CALM" in
                          p.error_log().split(what, 1)[1].split("\n", 1)[0], timeout=5)

    with subtest_guard("rapid reset"):
        before = b.count()
        s = raw_conn(port)
        enc = hpack.Encoder()
        out = b""
        for i in range(400):
            sid = 1 + 2 * i
            out += frame(HEADERS, 0x5, sid, req_block("/slow?%d" % i, enc))
            out += frame(RST_STREAM, 0, sid, (8).to_bytes(4, "big"))  # CANCEL
        try:
            s.sendall(out)
        except OSError:
            pass
        tap.is_(read_goaway(s), ENHANCE_YOUR_CALM, "streams opened and reset in a loop: "
                "GOAWAY ENHANCE_YOUR_CALM")
        s.close()
        tap.ok(logged("rapid reset"), "info log line names the rapid reset",
               p.error_log()[-600:])
        time.sleep(0.5)
        tap.ok(b.count() - before <= 60, "the reset streams' work was cancelled: %d of 400 "
               "reached the backend" % (b.count() - before))
        tap.is_(still_serves(port), "200 2", "another connection is still served")

    with subtest_guard("CONTINUATION flood"):
        s = raw_conn(port)
        blk = req_block("/echo/cont")
        out = frame(HEADERS, 0x1, 1, blk[:3])  # END_STREAM, no END_HEADERS
        for i in range(200):
            out += frame(CONTINUATION, 0, 1, b"")
        try:
            s.sendall(out)
        except OSError:
            pass
        tap.is_(read_goaway(s), ENHANCE_YOUR_CALM, "CONTINUATION flood: GOAWAY "
                "ENHANCE_YOUR_CALM")
        s.close()
        tap.ok(logged("CONTINUATION flood"), "info log line names the CONTINUATION flood")
        tap.is_(still_serves(port), "200 2", "another connection is still served")

    with subtest_guard("HPACK bomb"):
        s = raw_conn(port)
        enc = hpack.Encoder()
        hs = [(":method", "GET"), (":path", "/echo/bomb"), (":scheme", "http"),
              (":authority", "a.test")] + [("x-bomb", "b" * 3000)] * 40
        blk = enc.encode(hs)  # the big field once, then 39 one-byte references
        tap.ok(len(blk) < 4000, "the header block is small on the wire (%d bytes) and "
               "decodes to 120 KB" % len(blk))
        try:
            s.sendall(frame(HEADERS, 0x5, 1, blk))
        except OSError:
            pass
        tap.is_(read_goaway(s), ENHANCE_YOUR_CALM, "header list over "
                "http2_max_header_list_size: GOAWAY ENHANCE_YOUR_CALM")
        s.close()
        tap.ok(logged("header list over http2_max_header_list_size"), "info log line")
        tap.is_(still_serves(port), "200 2", "another connection is still served")

    for name, fr in (("SETTINGS", frame(SETTINGS, 0, 0)),
                     ("PING", frame(PING, 0, 0, b"12345678")),
                     ("empty DATA", frame(DATA, 0, 1, b""))):
        with subtest_guard(name + " flood"):
            s = raw_conn(port)
            first = b""
            if name == "empty DATA":
                first = frame(HEADERS, 0x4, 1, req_block("/slow"))
            try:
                s.sendall(first + fr * 2000)
            except OSError:
                pass
            tap.is_(read_goaway(s), ENHANCE_YOUR_CALM, "%s flood: GOAWAY ENHANCE_YOUR_CALM"
                    % name)
            s.close()
            tap.ok(logged("control frame flood"), "info log line names the flood")
            tap.is_(still_serves(port), "200 2", "another connection is still served")

    with subtest_guard("too many concurrent streams"):
        c = H2(port)
        sids = [c.request("/slow?c%d" % i) for i in range(6)]
        c.pump(until=lambda: all(c.done(s) for s in sids), timeout=20)
        tap.is_(c.resets.get(sids[5]), REFUSED_STREAM,
                "the 6th stream over http2_max_concurrent_streams = 5: REFUSED_STREAM",
                c.resets)
        tap.ok(all(c.status(s) == 200 for s in sids[:5]), "the first 5 are answered")
        c.close()
    p.stop()


main(test, timeout=150)
