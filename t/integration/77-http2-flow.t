#!/usr/bin/python3
# HTTP/2 flow control and the end of connections: a client that keeps its
# windows shut (zero-window slow read) has its stream reset after
# send_timeout; a big download whose stream window the client does not open
# does not hold back another stream on the same connection, and arrives
# whole once it does; a reload and a graceful stop send GOAWAY (NO_ERROR) and let the
# open stream finish before the connection closes; an idle connection ends
# with GOAWAY at keepalive_timeout.
import hashlib
import os
import subprocess
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from portico_test import (tap, main, Backend, free_port, subtest_guard, wait_until,
                          pattern_bytes, pattern_sha256)
from portico_tls import TLSPortico
from h2raw import H2, NO_ERROR
import h2.events


def test():
    b = Backend("b1")
    b.script("/big", body=pattern_bytes(4 << 20))
    b.script("/big1", body=pattern_bytes(1 << 20))
    b.script("/slow", delay=2.0, body=b"slow")
    port = free_port()
    p = TLSPortico(upstreams={"app": [b.addr]}, listeners={"h2c": ["127.0.0.1:%d" % port]},
                   listener_opts={"h2c": [("http2", "on")]},
                   global_opts={"send_timeout": "2s", "keepalive_timeout": "3s",
                                "shutdown_timeout": "20s"},
                   workers=1)
    p.start()

    with subtest_guard("zero-window slow read"):
        c = H2(port, settings={h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 0})
        t0 = time.time()
        sid = c.request("/big")
        c.pump(until=lambda: c.done(sid), timeout=30)
        tap.ok(sid in c.resets, "a stream whose window stays shut is reset", c.resets)
        tap.ok(time.time() - t0 < 25, "within send_timeout and some (%.1fs)" % (time.time() - t0))
        tap.is_(c.streams[sid]["data"], b"", "nothing was sent beyond the window")
        tap.ok(wait_until(lambda: "send timed out" in p.error_log()), "info log line")
        c.close()

    with subtest_guard("one download does not block another stream"):
        c = H2(port)
        c.auto_ack = False
        big = c.request("/big1")
        # Connection-level credit only: the big stream's window stays shut.
        orig = c.handle

        def handle(ev):
            orig(ev)
            if isinstance(ev, h2.events.DataReceived) and ev.flow_controlled_length:
                c.c.increment_flow_control_window(ev.flow_controlled_length)
                if ev.stream_id != big:
                    c.c.acknowledge_received_data(0, ev.stream_id)
        c.handle = handle
        c.pump(until=lambda: len(c.streams[big]["data"]) >= 65535, timeout=15)
        got = len(c.streams[big]["data"])
        tap.ok(got <= 65535, "the big stream stops at its window (%d bytes)" % got)
        small = c.request("/echo/small")
        c.pump(until=lambda: c.done(small), timeout=15)
        tap.is_(c.status(small), 200, "another stream on the connection is answered meanwhile")
        c.auto_ack = True
        c.c.increment_flow_control_window(1 << 20, big)
        c.flush()
        c.pump(until=lambda: c.done(big), timeout=60)
        tap.is_(hashlib.sha256(c.streams[big]["data"]).hexdigest(), pattern_sha256(1 << 20),
                "the big download arrives whole once its window opens",
                repr((len(c.streams[big]["data"]), c.resets, c.goaway)))
        c.close()

    with subtest_guard("idle connection"):
        c = H2(port)
        sid = c.request("/echo/i")
        c.pump(until=lambda: c.done(sid))
        t0 = time.time()
        c.pump(until=lambda: c.goaway is not None, timeout=15)
        tap.is_(c.goaway and c.goaway[0], NO_ERROR,
                "idle past keepalive_timeout: GOAWAY NO_ERROR (%.1fs)" % (time.time() - t0))
        c.close()

    for how in ("reload", "graceful stop"):
        with subtest_guard(how):
            c = H2(port)
            sid = c.request("/slow")
            cu = subprocess.Popen(["curl", "-sS", "--max-time", "30", "--http2-prior-knowledge",
                                   "-w", " %{http_code} %{http_version}",
                                   "http://127.0.0.1:%d/slow" % port], stdout=subprocess.PIPE)
            n0 = 0 if how == "reload" else 2
            wait_until(lambda: b.hits_path("/slow") >= n0 + 2, timeout=10)
            if how == "reload":
                p.reload(wait=False)
            else:
                p.signal("QUIT")
            c.pump(until=lambda: c.goaway is not None, timeout=10)
            tap.ok(c.goaway is not None and c.goaway[0] == NO_ERROR and c.goaway[1] >= sid,
                   "%s: GOAWAY NO_ERROR naming the open stream" % how, c.goaway)
            out = cu.communicate(timeout=40)[0]
            tap.is_(out, b"slow 200 2", "%s: an open stream finishes after the GOAWAY" % how)
            c.pump(until=lambda: c.closed, timeout=15)
            tap.ok(c.closed, "%s: then the connection closes" % how)
            c.close()
            if how == "reload":
                tap.is_(subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}",
                                        "--http2-prior-knowledge", "--max-time", "10",
                                        "http://127.0.0.1:%d/echo/after" % port],
                                       capture_output=True).stdout, b"200",
                        "reload: the new worker serves HTTP/2")
            else:
                tap.ok(p.wait_exit(15), "portico exits")
    p.stop()


main(test, timeout=150)
