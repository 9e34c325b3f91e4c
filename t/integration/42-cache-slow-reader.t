#!/usr/bin/env python3
# Response cache and slow readers (issue 9 item 6).  An object being
# stored is filled at the backend's pace, whatever the pace of the client
# that asked first: a client reading a 6 MB cacheable answer through a
# 4 KiB receive window does not hold back the others asking for it (they
# get it in far less time than the slow client takes, from one backend
# fetch, sent the object as it grows: a second client gets its head long
# before the fetch ends), and when it goes away in the middle the store
# goes on: the object ends up stored.  The slow client itself gets correct bytes.  An object
# that stops fitting in the region halfway is still sent whole and correct
# to its first client (it drains what was stored, then the rest streams).
# Over TLS too.
import hashlib
import os
import socket
import sys
import threading
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from portico_test import (tap, main, Backend, Portico, free_port, subtest_guard, cache_section,
                          cache_status, cs, pattern_bytes, pattern_sha256)
from slowread import SlowReader, fetch_together
from portico_tls import Certs, TLSClient, TLSPortico, client_ctx, have_openssl

BIG = 6 << 20


def body_of(raw):
    """(head, body prefix) of raw response bytes."""
    i = raw.find(b"\r\n\r\n")
    return (raw[:i].decode("latin-1"), bytes(raw[i + 4:])) if i >= 0 else ("", b"")


def test():
    b = Backend("b1")
    p = Portico(upstreams={"app": [b.addr]},
                routes=[dict(name="cached", path="/", upstream="app", cache="on")],
                workers=2, extra=cache_section(size="64m", max_object_size="16m",
                                               lock_timeout="30s"))
    p.start()
    big = pattern_bytes(BIG)
    want = pattern_sha256(BIG)
    cc = [("Cache-Control", "max-age=300")]

    with subtest_guard("a slow first reader does not hold the others back"):
        b.script("/big", headers=cc, body=big)
        slow = SlowReader(p.port, "/big", hold=10)
        slow.start()
        slow.started.wait(10)
        time.sleep(0.3)
        results = fetch_together(p, "/big")
        tap.is_(len(results), 3, "three other clients got an answer")
        ok = [r for _, r in results if not isinstance(r, Exception)]
        tap.ok(len(ok) == 3 and all(r.status == 200 and
                                    hashlib.sha256(r.body).hexdigest() == want for r in ok),
               "... each the whole 6 MB, byte for byte",
               repr([(round(t, 2), r if isinstance(r, Exception) else r.status)
                     for t, r in results]))
        slowest = max(t for t, _ in results)
        # The slow client holds its connection 10 s; before, the others
        # waited for it (or lock_timeout).  Bound from above only, generously.
        tap.ok(slowest < 6.0, "... long before the slow client is done (slowest: %.2f s)"
               % slowest)
        tap.is_(b.hits("/big"), 1, "the backend was asked once")
        slow.join(30)
        tap.ok(slow.error is None, "the slow client read without error", slow.error)
        head, prefix = body_of(slow.data)
        tap.like(head, r"^HTTP/1\.1 200 ", "the slow client got a 200", head[:200])
        tap.ok(len(prefix) > 0 and prefix == big[:len(prefix)],
               "... and correct bytes (%d checked, %d received)" % (len(prefix), slow.received))
        r = p.get("/big", timeout=30)
        tap.ok(cache_status(r).get("hit") is True, "the object is stored: a hit", cs(r))
        tap.is_(hashlib.sha256(r.body).hexdigest(), want, "... with the whole body")

    with subtest_guard("others are sent the object as it grows"):
        # the backend sends 6 MB over about 2.4 s
        b.script("/grow", headers=cc, body=big, pace=(256 << 10, 0.1))
        slow = SlowReader(p.port, "/grow", hold=4)
        slow.start()
        slow.started.wait(10)
        time.sleep(0.3)
        marks = {}

        def second():
            from portico_test import Client
            with Client(p.port, timeout=30) as c:
                c.send(b"GET /grow HTTP/1.1\r\nHost: localhost\r\n\r\n")
                t0 = time.monotonic()
                head = c.r.read_until(b"\r\n\r\n")
                marks["head"] = time.monotonic() - t0
                h = hashlib.sha256()
                n = int([l.split(b":", 1)[1] for l in head.split(b"\r\n")
                         if l.lower().startswith(b"content-length:")][0])
                c.r.read_stream(n, h.update)
                marks["done"] = time.monotonic() - t0
                marks["head_text"] = head.decode("latin-1")
                marks["sha"] = h.hexdigest()
        t = threading.Thread(target=second, daemon=True)
        t.start()
        t.join(40)
        tap.is_(marks.get("sha"), want, "a second client got the whole object, correct")
        tap.like(marks.get("head_text", ""), r"Cache-Status: portico; fwd=miss; collapsed",
                 "... answered from the object being stored")
        # its head came while the backend was still sending: the body
        # trickled in at the backend's pace after it
        tap.ok("head" in marks and marks["head"] < 1.5 and marks["done"] - marks["head"] > 0.5,
               "... its head came well before the end of the fetch (head %.2f s, "
               "done %.2f s)" % (marks.get("head", -1), marks.get("done", -1)))
        tap.is_(b.hits("/grow"), 1, "the backend was asked once")
        slow.join(30)

    with subtest_guard("the first client leaves in the middle: the store goes on"):
        # the backend sends 6 MB over about 2.4 s; the client leaves after 0.5 s
        b.script("/paced", headers=cc, body=big, pace=(256 << 10, 0.1))
        slow = SlowReader(p.port, "/paced", hold=0.5)
        slow.start()
        slow.join(20)
        tap.ok(slow.received > 0 and slow.received < BIG,
               "the first client left after %d of %d bytes" % (slow.received, BIG))
        tap.ok(p.wait_log(r"closed the connection; storing the answer goes on", timeout=10),
               "portico logged that the store goes on")

        def stored():
            return b.hits("/paced") == 1 and \
                cache_status(p.get("/paced", method="HEAD")).get("hit") is True
        t0 = time.monotonic()
        while time.monotonic() - t0 < 15 and not stored():
            time.sleep(0.2)
        r = p.get("/paced", timeout=30)
        tap.ok(cache_status(r).get("hit") is True, "the object got stored all the same", cs(r))
        tap.is_(hashlib.sha256(r.body).hexdigest(), want, "... whole")
        tap.is_(b.hits("/paced"), 1, "... from the one backend fetch")
    p.stop()

    # a region of 1 MB: an object may take at most half of it
    p = Portico(upstreams={"app": [b.addr]},
                routes=[dict(name="cached", path="/", upstream="app", cache="on")],
                workers=1, extra=cache_section(size="1m", max_object_size="1m"),
                name="portico-small")
    p.start()
    with subtest_guard("an object that stops fitting halfway"):
        n = 900 << 10
        b.script("/half", headers=cc, body=pattern_bytes(n))
        # it reads the whole of it, slowly: past where the object stopped
        slow = SlowReader(p.port, "/half", hold=60, keep=n + 4096, whole=n, pause=0.005)
        slow.start()
        slow.join(90)
        r = p.get("/half", timeout=30)
        tap.is_(r.status, 200, "a second client: 200")
        tap.is_(hashlib.sha256(r.body).hexdigest(), pattern_sha256(n),
                "... with the whole 900 KiB body, correct")
        tap.like(cs(r), r"fwd=miss", "... not stored (it does not fit)", cs(r))
        head, body = body_of(slow.data)
        tap.ok(slow.error is None, "the slow first client read without error", slow.error)
        tap.is_(hashlib.sha256(body).hexdigest(), pattern_sha256(n),
                "... and got the whole body, correct (%d bytes)" % len(body))
        tap.ok(p.wait_log(r"\[warn\].*removed while being sent", timeout=0.1) is None,
               "... without a cut")
        # a normal reader of the same gets it whole
        r = p.get("/half", timeout=30)
        tap.is_(hashlib.sha256(r.body).hexdigest(), pattern_sha256(n),
                "another reader: whole and correct")
    p.stop()

    if not have_openssl():
        tap.ok(False, "the openssl command is installed (apt-get install openssl)")
        return
    with subtest_guard("over TLS: a slow first client and another one"):
        certs = Certs()
        pem, key = certs.issue("site", dns=["localhost"])
        port = free_port()
        p = TLSPortico(upstreams={"app": [b.addr]}, listeners={"tls": ["127.0.0.1:%d" % port]},
                       listener_opts={"tls": [("tls_certificate", pem), ("tls_key", key)]},
                       routes=[dict(name="cached", path="/", upstream="app", cache="on")],
                       workers=2, extra=cache_section(size="64m", max_object_size="16m"),
                       name="portico-tls")
        p.start()
        b.script("/tls", headers=cc, body=big, pace=(256 << 10, 0.05))
        ctx = client_ctx(ca=certs.ca)
        res = {}

        def slow_tls():
            raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            raw.settimeout(30)
            raw.connect(("127.0.0.1", port))
            s = ctx.wrap_socket(raw, server_hostname="localhost")
            s.sendall(b"GET /tls HTTP/1.1\r\nHost: localhost\r\n\r\n")
            data = bytearray()
            while True:
                d = s.recv(65536)
                if not d:
                    break
                data += d
                i = data.find(b"\r\n\r\n")
                if i >= 0 and len(data) - i - 4 >= BIG:
                    break
                time.sleep(0.002)
            s.close()
            i = data.find(b"\r\n\r\n")
            res["slow"] = hashlib.sha256(bytes(data[i + 4:])).hexdigest()
        t = threading.Thread(target=slow_tls, daemon=True)
        t.start()
        time.sleep(0.5)
        with TLSClient(port, ctx, sni="localhost") as c:
            r = c.request("GET", "/tls")
        tap.is_(hashlib.sha256(r.body).hexdigest(), want, "a second TLS client: whole and correct")
        tap.like(cs(r), r"^portico; fwd=miss; collapsed", "... from the object being stored", cs(r))
        t.join(120)
        tap.is_(res.get("slow"), want, "the slow TLS client: whole and correct")
        tap.is_(b.hits("/tls"), 1, "one backend fetch")
        p.stop()


if __name__ == "__main__":
    main(test, timeout=240)
