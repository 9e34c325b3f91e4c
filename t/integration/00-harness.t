#!/usr/bin/env python3
# The harness itself, without portico: the test backend answers its
# endpoints correctly over plain sockets, and the client parses all framings.
import os
import sys
import socket
import threading

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from portico_test import (tap, main, Backend, SubprocessBackend, Client, get, build_request,
                          chunk_encode, pattern_bytes, pattern_sha256, hget, PeerClosed,
                          BAD_RESPONSES, free_port)
import hashlib


def test():
    b = Backend("hb")
    port = b.port

    r = get(port, "/echo?x=1", headers=[("X-Test", "a b"), ("X-Test", "c")])
    tap.is_(r.status, 200, "echo: 200")
    j = r.json()
    tap.is_(j["target"], "/echo?x=1", "echo: target")
    tap.is_([v for k, v in j["headers"] if k == "X-Test"], ["a b", "c"], "echo: repeated headers in order")
    tap.is_(r.header("X-Backend"), "hb", "X-Backend header")
    tap.is_(b.count(), 1, "one request recorded")
    tap.is_(b.conn_count(), 1, "one connection counted")

    body = pattern_bytes(100000)
    r = get(port, "/echo", method="POST", body=body)
    tap.is_(r.json()["sha256"], hashlib.sha256(body).hexdigest(), "POST body sha256")
    tap.is_(b.last()["body"], body, "POST body recorded")

    with Client(port) as c:
        c.send(build_request("POST", "/echo", [("Transfer-Encoding", "chunked")], None)
               + chunk_encode(body, trailers=["X-Trail: 1"]))
        r = c.read_response()
        j = r.json()
        tap.ok(j["chunked"] and j["body_len"] == len(body), "chunked request decoded")
        tap.is_(j["trailers"], ["X-Trail: 1"], "request trailers recorded")
        # keep-alive on the same socket
        r = c.request("GET", "/size/70000")
        tap.is_(r.framing, "length", "/size: Content-Length framing")
        tap.is_(r.body, pattern_bytes(70000), "/size content")
        r = c.request("GET", "/chunked/200000")
        tap.is_(r.framing, "chunked", "/chunked: chunked framing")
        tap.is_(hashlib.sha256(r.body).hexdigest(), pattern_sha256(200000), "/chunked content")
        tap.ok(len(set(r.chunk_sizes)) > 3, "varied chunk sizes")
        r = c.request("HEAD", "/head-test")
        tap.ok(r.body_len == 0 and r.header("Content-Length") == "1234", "HEAD: no body")
        r = c.request("GET", "/status/204")
        tap.ok(r.status == 204 and r.framing == "none", "204 no body")
        r = c.request("GET", "/close/5000")
        tap.ok(r.framing == "close" and r.body == pattern_bytes(5000), "close-delimited body")
        tap.ok(c.is_closed(1), "closed after close-delimited")
    tap.is_(b.conn_count(), 3, "keep-alive: one connection for 6 requests")

    # pipelining
    with Client(port) as c:
        c.send(b"".join(build_request("GET", "/echo/%d" % i) for i in range(4)))
        targets = [c.read_response().json()["target"] for i in range(4)]
        tap.is_(targets, ["/echo/0", "/echo/1", "/echo/2", "/echo/3"], "pipelined in order")

    # bad responses: raw
    for kind in ("statusline", "bare-lf"):
        with Client(port) as c:
            c.send(build_request("GET", "/bad/" + kind))
            data = c.read_all_until_close(3)
            tap.is_(data, BAD_RESPONSES[kind], "bad/%s is sent raw" % kind)

    # slow
    import time
    t0 = time.monotonic()
    r = get(port, "/slow/0.3")
    tap.ok(r.status == 200 and time.monotonic() - t0 >= 0.3, "/slow waits")

    # a closed connection before any response byte is reported as such
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(1)

    def closer():
        s, _ = ls.accept()
        s.recv(100)
        s.close()
    th = threading.Thread(target=closer)
    th.start()
    try:
        get(ls.getsockname()[1], "/")
        tap.ok(False, "PeerClosed raised")
    except PeerClosed as e:
        tap.is_(e.received, 0, "PeerClosed.received = 0")
    th.join()
    ls.close()

    # subprocess backend + sink
    sb = SubprocessBackend("sub")
    big = pattern_bytes(3 << 20)
    r = get(sb.port, "/sink", method="POST", body=big)
    j = r.json()
    tap.ok(j["bytes"] == len(big) and j["sha256"] == hashlib.sha256(big).hexdigest(),
           "subprocess sink counts and hashes")
    tap.is_(len(sb.records()), 1, "subprocess records via control endpoint")
    tap.ok(sb.conn_count() >= 1, "subprocess connection count")
    sb.stop()
    b.stop()


main(test, timeout=60, need_binary=False, tests=28)
