#!/usr/bin/python3
# gRPC through portico: an HTTP/2 (prior knowledge) listener in front of an
# upstream with protocol = h2 to a grpcio server.  Unary and bidirectional
# streaming calls (20 MB each way), a status the server ends a call with (trailers kept), a
# 20 MB server stream to a slow client in bounded worker memory, concurrent
# calls multiplexed on one upstream connection, and portico's own errors as
# gRPC statuses: UNAVAILABLE with no server, DEADLINE_EXCEEDED when the
# upstream's read_timeout fires.
import os
import sys
import threading
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from portico_test import tap, main, free_port, proc_rss_kb, subtest_guard, wait_until
from portico_tls import TLSPortico
from grpc_backend import GrpcBackend

import grpc


def code_of(call):
    try:
        call()
        return None, None
    except grpc.RpcError as e:
        return e.code(), e.details()


def test():
    g = GrpcBackend()
    dead = free_port()
    port = free_port()
    p = TLSPortico(
        upstreams={"g": {"servers": [g.addr], "protocol": "h2", "max_fails": "0",
                         "read_timeout": "1s"},
                   "dead": {"servers": ["127.0.0.1:%d" % dead], "protocol": "h2"}},
        routes=[dict(name="dead", path="/dead.", upstream="dead"),
                dict(name="main", path="/", upstream="g")],
        listeners={"web": ["127.0.0.1:%d" % port]},
        listener_opts={"web": [("http2", "on")]}, workers=1)
    p.start()
    ch = grpc.insecure_channel("127.0.0.1:%d" % port)

    with subtest_guard("concurrent calls share one upstream connection"):
        res = []
        lock = threading.Lock()

        def one(i):
            r = ch.unary_unary("/t.Echo/Unary")(b"c%d" % i, timeout=20)
            with lock:
                res.append(r)
        ts = [threading.Thread(target=one, args=(i,)) for i in range(8)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(30)
        tap.is_(sorted(res), sorted(b"echo:c%d" % i for i in range(8)),
                "8 concurrent unary calls are answered")
        n = ch.unary_unary("/t.Echo/Peers")(b"", timeout=10)
        tap.is_(n, b"1", "the server saw one connection from portico")

    with subtest_guard("unary and bidirectional streaming"):
        tap.is_(ch.unary_unary("/t.Echo/Unary")(b"hi", timeout=10), b"echo:hi",
                "a unary call is answered")
        msgs = [b"m%03d" % i for i in range(100)]
        out = list(ch.stream_stream("/t.Echo/Bidi")(iter(msgs), timeout=20))
        tap.is_(out, msgs, "a bidirectional stream echoes 100 messages in order")
        big = [bytes([i % 256]) * 65536 for i in range(320)]
        out = list(ch.stream_stream("/t.Echo/Bidi")(iter(big), timeout=60))
        tap.ok(out == big, "a bidirectional stream of 20 MB each way (320 x 64 KiB) echoes "
               "whole", "%d messages back" % len(out))

    with subtest_guard("the server's status"):
        code, details = code_of(lambda: ch.unary_unary("/t.Echo/Abort")(b"x", timeout=10))
        tap.is_(code, grpc.StatusCode.NOT_FOUND, "a call the server aborts ends NOT_FOUND")
        tap.is_(details, "nope", "... with the server's grpc-message")

    with subtest_guard("a big stream to a slow client"):
        pid = p.workers()[0]
        before = proc_rss_kb(pid)
        peak = [before]
        stop = threading.Event()

        def sample():
            while not stop.is_set():
                kb = proc_rss_kb(pid)
                if kb:
                    peak[0] = max(peak[0], kb)
                stop.wait(0.02)
        st = threading.Thread(target=sample)
        st.start()
        total = 0
        it = ch.unary_stream("/t.Echo/Big")(b"320", timeout=60)
        time.sleep(1.0)         # let every buffer on the way fill up
        for i, m in enumerate(it):
            total += len(m)
            if i % 16 == 0:
                time.sleep(0.01)
        stop.set()
        st.join(5)
        tap.is_(total, 320 * 65536, "a 20 MB server stream arrives whole")
        tap.diag("worker VmRSS %d kB before, %d kB at most" % (before, peak[0]))
        tap.ok(peak[0] - before < 12 * 1024,
               "the worker's memory grew by less than 12 MB (%d kB)" % (peak[0] - before))

    with subtest_guard("portico's own errors"):
        code, details = code_of(lambda: ch.unary_unary("/dead.Svc/X")(b"x", timeout=10))
        tap.is_(code, grpc.StatusCode.UNAVAILABLE, "no server up: UNAVAILABLE")
        tap.like(details or "", r"^portico: ", "... with portico's grpc-message, not a page")
        code, details = code_of(lambda: ch.unary_unary("/t.Echo/Slow")(b"x", timeout=20))
        tap.is_(code, grpc.StatusCode.DEADLINE_EXCEEDED,
                "read_timeout fires: DEADLINE_EXCEEDED")
        tap.is_(details, "portico: upstream timed out", "... with portico's grpc-message")
        tap.is_(ch.unary_unary("/t.Echo/Unary")(b"again", timeout=10), b"echo:again",
                "the server is still reached after the reset stream")

    with subtest_guard("access log"):
        tap.ok(wait_until(lambda: any('"POST /t.Echo/Slow HTTP/2.0" 504' in l
                                      for l in p.access_lines()), 5),
               "the timed-out call is logged with 504")
        tap.ok(any('"POST /t.Echo/Bidi HTTP/2.0" 200' in l for l in p.access_lines()),
               "the streaming call is logged with 200")
    ch.close()
    p.stop()


main(test, timeout=90, tests=17)
