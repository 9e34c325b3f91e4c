#!/usr/bin/python3
# Response compression with large bodies: a 20 MB answer is compressed as
# it streams, to a slow reader, with the worker's memory bounded (gzip and
# brotli, decoded and compared whole); a cached object larger than the
# buffers (pinned hit) and one still being stored (a hit on a growing
# object) are compressed from the cache without another fetch; an HTTP/2
# client gets a large compressed body whole.  Needs python3-brotli.
import hashlib
import os
import subprocess
import sys
import threading
import time
import zlib

import brotli

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from portico_test import (tap, main, Backend, Portico, subtest_guard, cache_section,
                          free_port, proc_rss_kb, wait_until, SANITIZED)

BIG = 20 << 20


def text(n, seed=1):
    """n bytes of text of many words (it compresses, but not to nothing)."""
    words = [b"%x" % ((i * 2654435761) & 0xffffff) for i in range(4096)]
    out, x = bytearray(), seed
    while len(out) < n:
        x = (x * 1103515245 + 12345) & 0x7fffffff
        out += words[x % 4096] + (b"\n" if x % 13 == 0 else b" ")
    return bytes(out[:n])


class RssSampler:
    def __init__(self, p):
        self.p, self.max, self.stop_ev = p, 0, threading.Event()
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def run(self):
        while not self.stop_ev.is_set():
            for pid in self.p.workers():
                self.max = max(self.max, proc_rss_kb(pid) or 0)
            self.stop_ev.wait(0.05)

    def stop(self):
        self.stop_ev.set()
        self.t.join(2)
        return self.max


class Decoder:
    def __init__(self, coding, slow=False):
        self.d = (zlib.decompressobj(16 + zlib.MAX_WBITS) if coding == "gzip"
                  else brotli.Decompressor())
        self.coding, self.h, self.n, self.wire, self.slow = coding, hashlib.sha256(), 0, 0, slow

    def __call__(self, b):
        self.wire += len(b)
        out = self.d.decompress(b) if self.coding == "gzip" else self.d.process(b)
        self.h.update(out)
        self.n += len(out)
        if self.slow and self.wire // 32768 != (self.wire - len(b)) // 32768:
            time.sleep(0.01)    # about 3 MB/s

    def end(self):
        if self.coding == "gzip":
            out = self.d.flush()
            self.h.update(out)
            self.n += len(out)
        return self.h.hexdigest()


def fetch(p, path, coding, slow=False, pause=0.0):
    d = Decoder(coding, slow)
    with p.client(timeout=60) as c:
        c.sock.setsockopt(__import__("socket").SOL_SOCKET,
                          __import__("socket").SO_RCVBUF, 16384)
        c.send(b"GET %s HTTP/1.1\r\nHost: localhost\r\nAccept-Encoding: %s\r\n\r\n"
               % (path.encode(), coding.encode()))
        if pause:
            time.sleep(pause)
        r = c.read_response(on_body=d)
    return r, d


def test():
    big = text(BIG)
    mid = text(4 << 20, 2)
    grow = text(2 << 20, 3)
    b = Backend("b1")
    ct = [("Content-Type", "text/plain")]
    b.script("/z/big", headers=ct, body=big)
    b.script("/z/chunked", headers=ct, body=big, chunked=True)
    b.script("/c/mid", headers=ct + [("Cache-Control", "max-age=60")], body=mid)
    b.script("/c/first", headers=ct + [("Cache-Control", "max-age=60")], body=mid)
    b.script("/c/grow", headers=ct + [("Cache-Control", "max-age=60")], body=grow,
             pace=(65536, 0.05))
    h2c = free_port()
    p = Portico(upstreams={"app": [b.addr]},
                routes=[dict(name="z", path="/z/", upstream="app", compress="on"),
                        dict(name="c", path="/c/", upstream="app", compress="on", cache="on")],
                workers=1, upstream_opts={"read_timeout": "30s"},
                extra=cache_section(size="32m", max_object_size="8m"))
    p.write_config(p.config_text() + "\n[listener h2c]\nlisten = 127.0.0.1:%d\nhttp2 = on\n" % h2c)
    p.start()
    idle = max(proc_rss_kb(pid) or 0 for pid in p.workers())
    want = hashlib.sha256(big).hexdigest()
    limit = 24 << 10    # kB of growth: less than the body

    with subtest_guard("20 MB, gzip, slow reader"):
        s = RssSampler(p)
        t0 = time.monotonic()
        r, d = fetch(p, "/z/big", "gzip", slow=True, pause=1.0)
        dt = time.monotonic() - t0
        peak = s.stop()
        tap.is_(r.header("Content-Encoding"), "gzip", "gzip answer")
        tap.ok(d.end() == want and d.n == BIG, "decodes to the 20 MB body, byte for byte",
               "%d bytes decoded from %d" % (d.n, d.wire))
        tap.diag("gzip: %d -> %d bytes in %.1f s; worker VmRSS idle %d kB, peak %d kB" % (
            BIG, d.wire, dt, idle, peak))
        tap.ok(peak - idle < limit, "worker memory stayed bounded (+%d kB)" % (peak - idle))

    with subtest_guard("20 MB chunked, brotli"):
        s = RssSampler(p)
        r, d = fetch(p, "/z/chunked", "br")
        peak = s.stop()
        tap.is_(r.header("Content-Encoding"), "br", "br answer")
        tap.ok(d.end() == want and d.n == BIG, "decodes to the 20 MB body, byte for byte",
               "%d bytes decoded from %d" % (d.n, d.wire))
        tap.diag("br: %d -> %d bytes; worker VmRSS peak %d kB" % (BIG, d.wire, peak))
        tap.ok(peak - idle < limit, "worker memory stayed bounded (+%d kB)" % (peak - idle))

    with subtest_guard("cache: a large object and a growing one"):
        r = p.get("/c/mid")
        tap.ok(r.body == mid, "4 MB object stored (identity)")
        wm = hashlib.sha256(mid).hexdigest()
        r, d = fetch(p, "/c/mid", "gzip")
        tap.ok(d.end() == wm and "hit" in (r.header("Cache-Status") or ""),
               "a pinned hit, gzip", r.header("Cache-Status"))
        r, d = fetch(p, "/c/mid", "br", slow=True)
        tap.ok(d.end() == wm, "a pinned hit, br, slow reader")
        tap.is_(b.hits("/c/mid"), 1, "one fetch for all three")
        r, d = fetch(p, "/c/first", "gzip", slow=True)
        tap.ok(d.end() == wm and r.header("Content-Encoding") == "gzip",
               "a gzip client first: compressed while stored", r.header("Cache-Status"))
        r = p.get("/c/first")
        tap.ok(r.body == mid and "hit" in (r.header("Cache-Status") or "") and
               b.hits("/c/first") == 1, "then identity: the stored original, a hit",
               r.header("Cache-Status"))
        first = {}
        t = threading.Thread(target=lambda: first.update(r=p.get("/c/grow", timeout=30)))
        t.start()
        wait_until(lambda: b.hits("/c/grow") == 1, 10)
        time.sleep(0.2)
        r, d = fetch(p, "/c/grow", "gzip")
        t.join(30)
        tap.ok(d.end() == hashlib.sha256(grow).hexdigest(),
               "a hit on an object still being stored, gzip", r.header("Cache-Status"))
        tap.ok(first.get("r") is not None and first["r"].body == grow and
               b.hits("/c/grow") == 1, "the first reader got it whole; one fetch")

    with subtest_guard("HTTP/2"):
        out = subprocess.run(["curl", "-sS", "--max-time", "30", "--http2-prior-knowledge",
                              "--compressed", "-o", "-", "-w", "%{http_version}",
                              "http://127.0.0.1:%d/z/big" % h2c], capture_output=True)
        tap.ok(out.stdout[-1:] == b"2" and hashlib.sha256(out.stdout[:-1]).hexdigest() == want,
               "curl --http2-prior-knowledge --compressed: the 20 MB body", out.stderr[-300:])


main(test, timeout=150, tests=16)
