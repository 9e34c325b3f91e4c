#!/usr/bin/env python3
# ~300 MB streamed through the proxy in both directions (Content-Length and
# chunked), byte-exact (sha256), while every worker's RSS stays under 64 MB.
# The backend runs in its own process so that the client is not slowed by it.
import hashlib
import os
import sys
import threading
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from portico_test import (tap, main, SubprocessBackend, Portico, build_request, pattern_chunks,
                          pattern_sha256, proc_rss_kb, subtest_guard)

BIG = 300 * 1024 * 1024          # 314572800
LIMIT_KB = 64 * 1024   # ASan builds measured at ~7 MB: no separate limit needed


class RssSampler:
    def __init__(self, p):
        self.p = p
        self.max = {}
        self.samples = 0
        self.stop_ev = threading.Event()
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def run(self):
        while not self.stop_ev.is_set():
            for pid in self.p.workers():
                kb = proc_rss_kb(pid)
                if kb is not None:
                    self.max[pid] = max(self.max.get(pid, 0), kb)
            self.samples += 1
            self.stop_ev.wait(0.05)

    def stop(self):
        self.stop_ev.set()
        self.t.join(2)
        return self.max


def check_rss(sampler, what):
    m = sampler.stop()
    worst = max(m.values()) if m else None
    tap.diag("%s: max worker VmRSS %s (per worker: %s; %d samples)" % (
        what, "%d kB" % worst if worst else "?",
        ", ".join("%d: %d kB" % kv for kv in sorted(m.items())), sampler.samples))
    tap.ok(worst is not None and worst < LIMIT_KB,
           "%s: every worker's RSS stayed under %d MB" % (what, LIMIT_KB // 1024))


def test():
    b = SubprocessBackend("big")
    p = Portico(upstreams={"app": [b.addr]}, global_opts={"client_body_timeout": "30s"},
                upstream_opts={"read_timeout": "30s"})
    p.start()
    idle = {pid: proc_rss_kb(pid) for pid in p.workers()}
    tap.diag("idle worker VmRSS: %r kB" % idle)
    expect = pattern_sha256(BIG)

    with subtest_guard("upload"):
        s = RssSampler(p)
        t0 = time.monotonic()
        with p.client(timeout=60) as c:
            c.send(build_request("POST", "/sink", [("Content-Length", str(BIG)),
                                                   ("Content-Type", "application/octet-stream")]))
            for chunk in pattern_chunks(BIG, 256 * 1024):
                c.sock.sendall(chunk)
            r = c.read_response()
        dt = time.monotonic() - t0
        check_rss(s, "300 MB upload")
        j = r.json() if r.status == 200 else {}
        tap.is_(r.status, 200, "300 MB upload: 200")
        tap.is_(j.get("bytes"), BIG, "300 MB upload: the backend got every byte")
        tap.is_(j.get("sha256"), expect, "300 MB upload: sha256 matches")
        tap.diag("upload: %.1f s, %.0f MB/s" % (dt, BIG / dt / 1e6))

    with subtest_guard("download"):
        s = RssSampler(p)
        t0 = time.monotonic()
        h = hashlib.sha256()
        with p.client(timeout=60) as c:
            c.send(build_request("GET", "/size/%d" % BIG))
            # read nothing for 2 s: the proxy must push back, not buffer
            time.sleep(2)
            r = c.read_response(on_body=h.update)
        dt = time.monotonic() - t0
        check_rss(s, "300 MB download")
        tap.is_(r.status, 200, "300 MB download: 200")
        tap.is_(r.body_len, BIG, "300 MB download: every byte arrived")
        tap.is_(h.hexdigest(), expect, "300 MB download: sha256 matches")
        tap.diag("download: %.1f s, %.0f MB/s" % (dt, BIG / dt / 1e6))

    with subtest_guard("chunked upload"):
        n = 100 * 1024 * 1024
        s = RssSampler(p)
        with p.client(timeout=60) as c:
            c.send(build_request("POST", "/sink", [("Transfer-Encoding", "chunked")]))
            for chunk in pattern_chunks(n, 200003):
                c.sock.sendall(b"%x\r\n" % len(chunk))
                c.sock.sendall(chunk)
                c.sock.sendall(b"\r\n")
            c.sock.sendall(b"0\r\n\r\n")
            r = c.read_response()
        check_rss(s, "100 MB chunked upload")
        j = r.json() if r.status == 200 else {}
        tap.ok(r.status == 200 and j.get("bytes") == n and j.get("sha256") == pattern_sha256(n),
               "100 MB chunked upload: byte-exact at the backend", repr(j))

    with subtest_guard("chunked download"):
        n = 100 * 1024 * 1024
        s = RssSampler(p)
        h = hashlib.sha256()
        with p.client(timeout=60) as c:
            c.send(build_request("GET", "/chunked/%d" % n))
            time.sleep(1)
            r = c.read_response(on_body=h.update)
        check_rss(s, "100 MB chunked download")
        tap.ok(r.status == 200 and r.body_len == n and h.hexdigest() == pattern_sha256(n),
               "100 MB chunked download: byte-exact", "%r %d" % (r, r.body_len))

    after = {pid: proc_rss_kb(pid) for pid in p.workers()}
    tap.diag("worker VmRSS afterwards: %r kB" % after)
    tap.is_(sorted(after), sorted(idle), "the same workers served everything (none died)")
    p.stop()


main(test, timeout=120, tests=14)
