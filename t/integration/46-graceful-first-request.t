#!/usr/bin/env python3
# Graceful stop (reload): a connection that an old worker accepted before it
# began to stop, and whose first request comes later, gets a full answer
# with Connection: close; an idle keep-alive connection that already had a
# request is closed after the short grace, as before (and as nginx does).
import os
import socket
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from portico_test import (tap, main, Backend, Portico, Client, build_request, wait_until,
                          subtest_guard)


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def test():
    b = Backend("b1")
    p = Portico(upstreams={"app": [b.addr]}, workers=1)
    p.start()

    with subtest_guard("first request after the graceful stop began"):
        old = p.workers()
        tap.is_(len(old), 1, "one worker before the reload")
        fresh = Client(p.port)                 # connected, nothing sent yet
        served = Client(p.port)
        r = served.request("GET", "/echo/first")
        tap.is_(r.status, 200, "a keep-alive connection had one request")
        # Both are in the old worker (the only one): wait until it counts them.
        time.sleep(0.3)
        p.signal("HUP")
        line = p.wait_log(r"graceful stop", timeout=10)
        tap.ok(line, "the old worker began its graceful stop", line)
        tap.ok(wait_until(lambda: set(p.workers()) - set(old), timeout=10),
               "a new worker is up")
        # Longer than the grace that idle keep-alive connections get.
        time.sleep(1.5)
        fresh.send(build_request("GET", "/echo/late"))
        try:
            r = fresh.read_response()
            ok = r.status == 200 and r.json()["target"] == "/echo/late"
            conn = (r.header("Connection") or "").lower()
        except Exception as e:       # closed without an answer
            ok, conn = False, repr(e)
        tap.ok(ok, "connection accepted before the stop, request sent 1.5s after it: "
               "answered", conn)
        tap.is_(conn, "close", "... with Connection: close")
        try:
            rest = fresh.sock.recv(10)
        except OSError:
            rest = b""
        tap.is_(rest, b"", "... and then closed")
        fresh.close()
        try:
            served.sock.settimeout(5)
            gone = served.sock.recv(10) == b""
        except OSError:
            gone = True
        tap.ok(gone, "the idle keep-alive connection with a request behind it was closed")
        served.close()
        tap.ok(wait_until(lambda: not pid_alive(old[0]), timeout=10),
               "the old worker exited")

    p.stop()


main(test, timeout=60)
