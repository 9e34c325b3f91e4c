#!/usr/bin/env python3
# Chunked request bodies are forwarded byte-exact; chunked answers come back
# byte-exact; bodies split over many small writes survive.
import hashlib
import os
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from portico_test import (tap, main, Backend, Portico, Client, build_request, chunk_encode,
                          pattern_bytes, pattern_sha256, hall, subtest_guard)


def chunked_post(p, body_bytes, target="/echo", extra=()):
    c = p.client()
    try:
        c.send(build_request("POST", target, [("Transfer-Encoding", "chunked")] + list(extra))
               + body_bytes)
        return c.read_response()
    finally:
        c.close()


def test():
    b = Backend("b1")
    p = Portico(upstreams={"app": [b.addr]})
    p.start()

    with subtest_guard("chunked upload"):
        body = pattern_bytes(1 << 20)
        r = chunked_post(p, chunk_encode(body, sizes=(1, 2, 3, 1000, 7, 65536, 12345)))
        tap.is_(r.status, 200, "chunked POST 1 MiB: 200")
        rec = b.last()
        tap.ok(rec["body"] == body, "chunked POST: body byte-exact at the backend",
               "got %d bytes, sha %s" % (rec["body_len"], rec["sha256"]))
        te = hall(rec["headers"], "transfer-encoding")
        cl = hall(rec["headers"], "content-length")
        tap.ok((te and te[-1].lower() == "chunked" and not cl) or (cl == [str(len(body))] and not te),
               "chunked POST: forwarded chunked (or with the right Content-Length)",
               "TE %r CL %r" % (te, cl))

    with subtest_guard("chunk syntax variants"):
        data = b"0123456789abcdefXYZ"
        raw = (b"000a\r\n" + data[:10] + b"\r\n" +        # leading zeros
               b"6;ext=1;name=\"v\"\r\n" + data[10:16] + b"\r\n" +   # extensions
               b"3\r\n" + data[16:] + b"\r\n" +
               b"0\r\nX-Trailer: t\r\n\r\n")
        r = chunked_post(p, raw)
        tap.is_(r.status, 200, "chunk extensions, leading zeros, trailer: 200")
        tap.is_(b.last()["body"], data, "... body exact")
        raw = b"A\r\n" + data[:10] + b"\r\n0\r\n\r\n"
        r = chunked_post(p, raw)
        tap.ok(r.status == 200 and b.last()["body"] == data[:10], "upper-case hex chunk size")
        r = chunked_post(p, b"0\r\n\r\n")
        tap.ok(r.status == 200 and b.last()["body_len"] == 0, "empty chunked body")

    with subtest_guard("trickled chunked upload"):
        body = pattern_bytes(20000)
        wire = build_request("POST", "/echo", [("Transfer-Encoding", "chunked")]) + \
            chunk_encode(body, sizes=(1, 500, 17, 4096))
        with p.client() as c:
            # head and body in pieces that cut every syntactic element somewhere
            i = 0
            step = [1, 2, 3, 5, 8, 13, 700]
            k = 0
            while i < len(wire):
                n = step[k % len(step)]
                c.send(wire[i:i + n])
                i += n
                k += 1
                if k % 40 == 0:
                    time.sleep(0.001)
            r = c.read_response()
            tap.is_(r.status, 200, "chunked upload in tiny writes: 200")
            tap.ok(b.last()["body"] == body, "chunked upload in tiny writes: body exact")
            # same connection, keep going
            r = c.request("GET", "/size/3")
            tap.is_(r.status, 200, "keep-alive after a chunked upload")

    with subtest_guard("chunked downloads"):
        for n in (0, 1, 4095, 70000, 3 << 20):
            with p.client() as c:
                r = c.request("GET", "/chunked/%d" % n)
                tap.ok(r.status == 200 and r.body_len == n and
                       hashlib.sha256(r.body).hexdigest() == pattern_sha256(n),
                       "chunked answer of %d bytes: byte-exact" % n,
                       "got %r, %d bytes" % (r, r.body_len))
                tap.ok(r.framing == "chunked",
                       "chunked answer of %d bytes: sent to a 1.1 client chunked" % n, r.framing)
                r = c.request("GET", "/size/7")
                tap.ok(r.status == 200 and r.body == pattern_bytes(7),
                       "next request on the connection after a chunked answer of %d" % n)

    with subtest_guard("pipelined after chunked body"):
        data = b"abc"
        wire = (build_request("POST", "/echo", [("Transfer-Encoding", "chunked")]) +
                b"3\r\nabc\r\n0\r\n\r\n" + build_request("GET", "/echo/second"))
        with p.client() as c:
            c.send(wire)
            r1 = c.read_response()
            r2 = c.read_response()
            tap.ok(r1.status == 200 and r1.json()["body_len"] == 3, "chunked POST then ...")
            tap.ok(r2.status == 200 and r2.json()["target"] == "/echo/second",
                   "... the request right behind its last chunk")

    p.stop()


main(test, timeout=60, tests=28)
