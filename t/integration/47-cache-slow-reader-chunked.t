#!/usr/bin/env python3
# Response cache and slow readers, chunked answers (issue 9 item 6; 42 has
# the answers with a Content-Length).  A cacheable chunked answer is stored
# at the backend's pace, de-chunked, whatever the pace of the client that
# asked first: a client reading a 6 MB chunked answer through a 4 KiB
# receive window does not hold back the others (from one backend fetch,
# in far less time than the slow client takes), a second client gets its
# head (Transfer-Encoding: chunked, collapsed) long before the fetch ends,
# the first client leaving in the middle does not stop the store, and
# once stored it is served with a Content-Length.  The clients' chunked
# streams are well formed and carry the right bytes.  An object that
# stops fitting halfway reaches its first client whole (the rest streams
# through re-chunked).  A backend that breaks off mid-body gets the first
# client and a follower a cut connection, never a last-chunk; a bad chunk
# in the first read still gets 502.  An HTTP/1.0
# client is sent the answer as before (close-delimited when it asked first;
# as a follower it waits for the stored object, sent with its length).  A
# Range request on a growing chunked object gets 200 and all of it.  Over
# TLS too.
import hashlib
import os
import socket
import sys
import threading
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from portico_test import (tap, main, Backend, Portico, Client, free_port, subtest_guard,
                          cache_section, cache_status, cs, pattern_bytes, pattern_sha256)
from slowread import SlowReader, fetch_together
from portico_tls import Certs, TLSClient, TLSPortico, client_ctx, have_openssl

BIG = 6 << 20


def dechunk(data):
    """(body, complete, error) of a chunked stream (or a prefix of one)."""
    out = bytearray()
    pos = 0
    while True:
        i = data.find(b"\r\n", pos)
        if i < 0:
            return bytes(out), False, None
        sz = data[pos:i].split(b";", 1)[0].strip()
        if not sz or not all(c in b"0123456789abcdefABCDEF" for c in sz):
            return bytes(out), False, "bad chunk size line %r" % data[pos:i + 2][:40]
        n = int(sz, 16)
        if n == 0:
            return bytes(out), data[i + 2:i + 4] == b"\r\n", None
        if len(data) < i + 2 + n + 2:
            out += data[i + 2:i + 2 + n]
            return bytes(out), False, None
        out += data[i + 2:i + 2 + n]
        if data[i + 2 + n:i + 4 + n] != b"\r\n":
            return bytes(out), False, "chunk not followed by CRLF"
        pos = i + 4 + n


def split(raw):
    """(head, rest) of raw response bytes."""
    i = raw.find(b"\r\n\r\n")
    return (raw[:i].decode("latin-1"), bytes(raw[i + 4:])) if i >= 0 else ("", b"")


class BrokenBackend(threading.Thread):
    """A backend that answers every request with a cacheable chunked
    answer and closes the connection after part bytes, without the
    last-chunk."""

    def __init__(self, part, raw=None):
        threading.Thread.__init__(self, daemon=True)
        self.part, self.raw = part, raw
        self.hits = 0
        self.ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.ls.bind(("127.0.0.1", 0))
        self.ls.listen(16)
        self.addr = "127.0.0.1:%d" % self.ls.getsockname()[1]
        self.start()

    def run(self):
        while True:
            try:
                s, _ = self.ls.accept()
            except OSError:
                return
            threading.Thread(target=self.serve, args=(s,), daemon=True).start()

    def serve(self, s):
        try:
            s.settimeout(10)
            req = b""
            while b"\r\n\r\n" not in req:
                d = s.recv(4096)
                if not d:
                    return
                req += d
            self.hits += 1
            if self.raw is not None:
                s.sendall(self.raw)
                time.sleep(0.5)
                return
            s.sendall(b"HTTP/1.1 200 OK\r\nCache-Control: max-age=300\r\n"
                      b"Transfer-Encoding: chunked\r\n\r\n")
            body = pattern_bytes(self.part)
            for off in range(0, self.part, 65536):
                piece = body[off:off + 65536]
                s.sendall(b"%x\r\n" % len(piece) + piece + b"\r\n")
                time.sleep(0.1)
        except OSError:
            pass
        finally:
            s.close()

    def close(self):
        self.ls.close()


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

    with subtest_guard("a slow first reader of a chunked answer does not hold the others back"):
        b.script("/big", headers=cc, body=big, chunked=True)
        slow = SlowReader(p.port, last_chunk=True, target="/big", hold=10)
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
        head, rest = split(slow.data)
        tap.like(head, r"^HTTP/1\.1 200 ", "the slow client got a 200", head[:200])
        tap.like(head, r"(?im)^transfer-encoding: chunked", "... chunked", head[:400])
        body, _, err = dechunk(rest)
        tap.ok(err is None and len(body) > 0 and body == big[:len(body)],
               "... well-formed chunks with correct bytes (%d checked, %d received)"
               % (len(body), slow.received), err)
        r = p.get("/big", timeout=30)
        tap.ok(cache_status(r).get("hit") is True, "the object is stored: a hit", cs(r))
        tap.is_(hashlib.sha256(r.body).hexdigest(), want, "... with the whole body")
        tap.is_(r.header("Content-Length"), str(BIG), "... sent with its Content-Length")

    with subtest_guard("others are sent the chunked object as it grows"):
        # the backend sends 6 MB in about 470 chunks over about 2.4 s
        b.script("/grow", headers=cc, body=big, chunked=True, pace=(0, 0.005))
        slow = SlowReader(p.port, last_chunk=True, target="/grow", hold=4)
        slow.start()
        slow.started.wait(10)
        time.sleep(0.3)
        marks = {}

        def second():
            with Client(p.port, timeout=30) as c:
                c.send(b"GET /grow HTTP/1.1\r\nHost: localhost\r\n\r\n")
                t0 = time.monotonic()
                head = c.r.read_until(b"\r\n\r\n")
                marks["head"] = time.monotonic() - t0
                marks["head_text"] = head.decode("latin-1")
                h = hashlib.sha256()
                n = [0]

                def sink(d):
                    h.update(d)
                    n[0] += len(d)
                _, trailers = c.r.read_chunked(sink)
                marks["done"] = time.monotonic() - t0
                marks["sha"] = h.hexdigest()
                marks["len"] = n[0]
                # the connection stays usable: the next answer is a hit
                c.send(b"GET /grow HTTP/1.1\r\nHost: localhost\r\n\r\n")
                marks["next"] = c.read_response("GET")
        def other(name, version, headers):
            try:
                with Client(p.port, timeout=40) as c:
                    marks[name] = c.request("GET", "/grow", headers=headers,
                                            version=version)
            except Exception as e:
                marks[name] = e
        t = threading.Thread(target=second, daemon=True)
        t.start()
        others = [threading.Thread(target=other, args=a, daemon=True) for a in
                  (("old", "HTTP/1.0", None), ("range", "HTTP/1.1", [("Range", "bytes=0-99")]))]
        for o in others:
            o.start()
        t.join(40)
        for o in others:
            o.join(40)
        old = marks.get("old")
        tap.ok(getattr(old, "status", None) == 200 and old.header("Content-Length") == str(BIG)
               and old.header("Transfer-Encoding") is None and
               hashlib.sha256(old.body).hexdigest() == want,
               "an HTTP/1.0 client meanwhile: the whole object with its Content-Length "
               "(it waited for the store)", repr(old))
        rg = marks.get("range")
        tap.ok(getattr(rg, "status", None) == 200 and rg.framing == "chunked" and
               hashlib.sha256(rg.body).hexdigest() == want,
               "a Range request meanwhile: 200 with the whole object, chunked "
               "(its length is not known yet)", repr(rg))
        tap.is_(marks.get("sha"), want, "a second client got the whole object, correct, "
                "in well-formed chunks (%s bytes)" % marks.get("len"))
        tap.like(marks.get("head_text", ""), r"Cache-Status: portico; fwd=miss; collapsed",
                 "... answered from the object being stored")
        tap.like(marks.get("head_text", ""), r"(?im)^transfer-encoding: chunked\r$",
                 "... chunked (its length was not known yet)")
        tap.ok("head" in marks and marks["head"] < 1.5 and marks["done"] - marks["head"] > 0.5,
               "... its head came well before the end of the fetch (head %.2f s, "
               "done %.2f s)" % (marks.get("head", -1), marks.get("done", -1)))
        nx = marks.get("next")
        tap.ok(nx is not None and nx.status == 200 and cache_status(nx).get("hit") is True and
               hashlib.sha256(nx.body).hexdigest() == want,
               "... and its next request on the same connection is a whole hit", repr(nx))
        tap.is_(b.hits("/grow"), 1, "the backend was asked once")
        slow.join(30)

    with subtest_guard("the first client leaves in the middle: the store goes on"):
        b.script("/paced", headers=cc, body=big, chunked=True, pace=(0, 0.005))
        slow = SlowReader(p.port, last_chunk=True, target="/paced", hold=0.5)
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

    with subtest_guard("the first client's connection stays usable"):
        n = 200 << 10
        b.script("/ka", headers=cc, body=pattern_bytes(n), chunked=True)
        with Client(p.port, timeout=20) as c:
            r1 = c.request("GET", "/ka")
            r2 = c.request("GET", "/ka")
        tap.ok(r1.framing == "chunked" and "stored" in cs(r1) and
               hashlib.sha256(r1.body).hexdigest() == pattern_sha256(n),
               "the first answer: chunked, stored, correct", repr(r1) + " " + cs(r1))
        tap.ok(r2.framing == "length" and cache_status(r2).get("hit") is True and
               hashlib.sha256(r2.body).hexdigest() == pattern_sha256(n),
               "... the next one on the same connection: a hit with its length", repr(r2))

    with subtest_guard("an HTTP/1.0 first client: close-delimited, as before"):
        n = 300 << 10
        b.script("/old", headers=cc, body=pattern_bytes(n), chunked=True)
        slow = SlowReader(p.port, last_chunk=True, target="/old", hold=30, keep=n + 4096, pause=0.001, version="1.0")
        slow.start()
        slow.join(40)
        head, body = split(slow.data)
        tap.ok(slow.eof and "Transfer-Encoding" not in head and
               hashlib.sha256(body).hexdigest() == pattern_sha256(n),
               "the whole body, up to the close", "%d bytes, eof %s" % (len(body), slow.eof))
        r = p.get("/old", timeout=30)
        tap.ok(cache_status(r).get("hit") is True, "... and stored", cs(r))
    p.stop()

    with subtest_guard("the backend breaks off mid-body: no last-chunk for anyone"):
        bb = BrokenBackend(1 << 20)
        p = Portico(upstreams={"app": [bb.addr]},
                    routes=[dict(name="cached", path="/", upstream="app", cache="on")],
                    workers=1, extra=cache_section(size="64m", max_object_size="16m"),
                    name="portico-broken")
        p.start()
        out = {}

        def reader(name):
            out[name] = b""
            s = socket.create_connection(("127.0.0.1", p.port), timeout=30)
            s.sendall(b"GET /cut HTTP/1.1\r\nHost: localhost\r\n\r\n")
            data = bytearray()
            try:
                while True:
                    d = s.recv(65536)
                    if not d:
                        break
                    data += d
                    out[name] = bytes(data)
            except OSError:     # a reset is a cut too
                pass
            s.close()
        t1 = threading.Thread(target=reader, args=("first",), daemon=True)
        t1.start()
        time.sleep(0.4)
        t2 = threading.Thread(target=reader, args=("follower",), daemon=True)
        t2.start()
        t1.join(40)
        t2.join(40)
        for name in ("first", "follower"):
            head, rest = split(out.get(name, b""))
            body, complete, err = dechunk(rest)
            tap.ok(head.startswith("HTTP/1.1 200") and err is None and not complete and
                   len(body) > 0 and body == pattern_bytes(len(body)),
                   "%s: correct chunks, then the connection is cut without a last-chunk "
                   "(%d body bytes)" % (name, len(body)), head[:300])
        tap.like(out.get("follower", b"").decode("latin-1"), r"fwd=miss; collapsed",
                 "... the follower was following the object")
        tap.is_(bb.hits, 1, "one backend fetch")
        reader("third")
        tap.ok(bb.hits == 2 and "fwd=miss" in out["third"][:2000].decode("latin-1"),
               "nothing was stored: the next request goes to the backend",
               out["third"][:500].decode("latin-1"))
        p.stop()
        bb.close()

    with subtest_guard("a bad chunk that comes with the head: 502"):
        bb = BrokenBackend(0, raw=b"HTTP/1.1 200 OK\r\nCache-Control: max-age=300\r\n"
                           b"Transfer-Encoding: chunked\r\n\r\nzz\r\nok\r\n0\r\n\r\n")
        p = Portico(upstreams={"app": [bb.addr]},
                    routes=[dict(name="cached", path="/", upstream="app", cache="on")],
                    workers=1, extra=cache_section(size="64m", max_object_size="16m"),
                    name="portico-badchunk")
        p.start()
        with Client(p.port, timeout=10) as c:
            c.send(b"GET /bad HTTP/1.1\r\nHost: localhost\r\n\r\n")
            raw = c.read_all_until_close(timeout=10)
        tap.like(raw.decode("latin-1"), r"^HTTP/1\.1 502 ",
                 "a cacheable chunked answer with a bad chunk in its first read: 502",
                 raw[:300].decode("latin-1"))
        p.stop()
        bb.close()

    # a region of 1 MB: an object may take at most half of it
    p = Portico(upstreams={"app": [b.addr]},
                routes=[dict(name="cached", path="/", upstream="app", cache="on")],
                workers=1, extra=cache_section(size="1m", max_object_size="1m"),
                name="portico-small")
    p.start()
    with subtest_guard("a chunked object that stops fitting halfway"):
        n = 900 << 10
        b.script("/half", headers=cc, body=pattern_bytes(n), chunked=True)
        # it reads the whole of it, slowly: past where the object stopped
        slow = SlowReader(p.port, last_chunk=True, target="/half", hold=60, keep=2 * n, pause=0.005)
        slow.start()
        slow.join(90)
        head, rest = split(slow.data)
        body, complete, err = dechunk(rest)
        tap.ok(slow.error is None, "the slow first client read without error", slow.error)
        tap.ok(err is None and complete, "... well-formed chunks up to the last-chunk", err)
        tap.is_(hashlib.sha256(body).hexdigest(), pattern_sha256(n),
                "... with the whole body, correct (%d bytes)" % len(body))
        tap.ok(p.wait_log(r"\[warn\].*removed while being sent", timeout=0.1) is None,
               "... without a cut")
        r = p.get("/half", timeout=30)
        tap.is_(r.status, 200, "a second client: 200")
        tap.is_(hashlib.sha256(r.body).hexdigest(), pattern_sha256(n),
                "... with the whole 900 KiB body, correct")
        tap.like(cs(r), r"fwd=miss", "... not stored (it does not fit)", cs(r))
    p.stop()

    if not have_openssl():
        tap.ok(False, "the openssl command is installed (apt-get install openssl)")
        return
    with subtest_guard("over TLS: a slow first client and another one, chunked"):
        certs = Certs()
        pem, key = certs.issue("site", dns=["localhost"])
        port = free_port()
        p = TLSPortico(upstreams={"app": [b.addr]}, listeners={"tls": ["127.0.0.1:%d" % port]},
                       listener_opts={"tls": [("tls_certificate", pem), ("tls_key", key)]},
                       routes=[dict(name="cached", path="/", upstream="app", cache="on")],
                       workers=2, extra=cache_section(size="64m", max_object_size="16m"),
                       name="portico-tls")
        p.start()
        b.script("/tls", headers=cc, body=big, chunked=True, pace=(0, 0.003))
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
                if data.endswith(b"\r\n0\r\n\r\n"):
                    break
                time.sleep(0.002)
            s.close()
            body, complete, err = dechunk(split(data)[1])
            res["slow"] = hashlib.sha256(body).hexdigest() if complete and not err else err
        t = threading.Thread(target=slow_tls, daemon=True)
        t.start()
        time.sleep(0.5)
        with TLSClient(port, ctx, sni="localhost") as c:
            r = c.request("GET", "/tls")
        tap.is_(hashlib.sha256(r.body).hexdigest(), want, "a second TLS client: whole and correct")
        tap.like(cs(r), r"^portico; fwd=miss; collapsed", "... from the object being stored", cs(r))
        t.join(120)
        tap.is_(res.get("slow"), want, "the slow TLS client: whole, correct, well-formed chunks")
        tap.is_(b.hits("/tls"), 1, "one backend fetch")
        p.stop()


if __name__ == "__main__":
    main(test, timeout=300)
