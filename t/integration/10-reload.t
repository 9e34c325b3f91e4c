#!/usr/bin/env python3
# Reload (SIGHUP) under load: three reloads, each adding a route, while
# clients hammer the proxy -> no failed request, and the new routes work.
# A broken config on reload: logged with file:line, the old one keeps serving.
# Listeners added and removed by a reload.
import hashlib
import os
import sys
import threading
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from portico_test import (connect_refused, tap, main, Backend, Portico, Client, build_request, subtest_guard,
                          wait_until, PeerClosed, connection_tokens, free_port, pattern_sha256)


class Load:
    """Client threads doing requests in a loop until stopped."""

    def __init__(self, port, n_fresh=4, n_keepalive=3):
        self.port = port
        self.stop_ev = threading.Event()
        self.lock = threading.Lock()
        self.ok = 0
        self.retries = 0
        self.failures = []
        self.threads = [threading.Thread(target=self.fresh, args=(i,), daemon=True)
                        for i in range(n_fresh)]
        self.threads += [threading.Thread(target=self.keepalive, args=(i,), daemon=True)
                         for i in range(n_keepalive)]
        for t in self.threads:
            t.start()

    def fail(self, what):
        with self.lock:
            self.failures.append(what)

    def good(self, r, target):
        if r.status != 200:
            return "status %d for %s" % (r.status, target)
        try:
            j = r.json()
        except ValueError:
            return "not JSON for %s: %r" % (target, r.body[:100])
        if j["target"] != target:
            return "answer for %s instead of %s" % (j["target"], target)
        return None

    def fresh(self, k):
        i = 0
        while not self.stop_ev.is_set():
            i += 1
            target = "/echo/fresh%d/%d" % (k, i)
            body = b"b" * (i % 3000) if i % 2 else None
            try:
                with Client(self.port, timeout=10) as c:
                    r = c.request("POST" if body else "GET", target, body=body)
                err = self.good(r, target)
            except Exception as e:
                err = "%s %s: %s: %s" % ("POST" if body else "GET", target, type(e).__name__, e)
            if err:
                self.fail(err)
            else:
                with self.lock:
                    self.ok += 1

    def keepalive(self, k):
        c = None
        i = 0
        while not self.stop_ev.is_set():
            i += 1
            target = "/echo/ka%d/%d" % (k, i)
            attempts = 0
            while True:
                attempts += 1
                try:
                    if c is None:
                        c = Client(self.port, timeout=10)
                    c.send(build_request("GET", target))
                    r = c.read_response()
                    err = self.good(r, target)
                    if "close" in connection_tokens(r.headers):
                        c.close()
                        c = None
                    break
                except (PeerClosed, ConnectionResetError, BrokenPipeError) as e:
                    received = getattr(e, "received", 0)
                    if c is not None:
                        c.close()
                    c = None
                    if received == 0 and attempts < 3:
                        # closed before any byte of the answer: a browser retries
                        with self.lock:
                            self.retries += 1
                        continue
                    err = "keep-alive %s: %s: %s" % (target, type(e).__name__, e)
                    break
                except Exception as e:
                    if c is not None:
                        c.close()
                    c = None
                    err = "keep-alive %s: %s: %s" % (target, type(e).__name__, e)
                    break
            if err:
                self.fail(err)
            else:
                with self.lock:
                    self.ok += 1
            time.sleep(0.002)
        if c is not None:
            c.close()

    def stop(self):
        self.stop_ev.set()
        for t in self.threads:
            t.join(15)


def routes_with(n):
    rs = [dict(name="main", path="/", upstream="app")]
    for i in range(1, n + 1):
        rs.append(dict(name="new%d" % i, path="/new%d/" % i, upstream="other"))
    return rs


def test():
    b1, b2 = Backend("b1"), Backend("b2")
    p = Portico(upstreams={"app": [b1.addr], "other": [b2.addr]}, routes=routes_with(0),
                global_opts={"shutdown_timeout": "10s"})
    p.start()

    with subtest_guard("reload under load"):
        tap.is_(p.get("/new1/echo").header("X-Backend"), "b1", "before: /new1/ goes to the / route")
        load = Load(p.port)
        time.sleep(0.7)
        for n in range(1, 4):
            old = set(p.workers())
            p.routes = routes_with(n)
            p.write_config()
            p.signal("HUP")
            def probe():
                try:
                    return p.get("/new%d/echo" % n).header("X-Backend") == "b2"
                except Exception as e:
                    load.fail("probe GET /new%d/echo: %s: %s" % (n, type(e).__name__, e))
                    return False
            switched = wait_until(probe, 8, 0.1)
            tap.ok(switched, "reload %d: new route /new%d/ serves from the new upstream" % (n, n))
            gone = wait_until(lambda: not (set(p.workers()) & old), 12, 0.1)
            tap.ok(gone, "reload %d: old workers exited" % n,
                   "old %r, now %r" % (sorted(old), p.workers()))
            time.sleep(0.5)
        time.sleep(0.5)
        load.stop()
        tap.diag("under load: %d good requests, %d keep-alive retries (closed before any byte)"
                 % (load.ok, load.retries))
        tap.ok(load.ok > 100, "load ran (%d requests)" % load.ok)
        tap.is_(load.failures[:10], [], "3 reloads under load: zero failed requests",
                "%d failures" % len(load.failures))
        for n in range(1, 4):
            tap.is_(p.get("/new%d/echo" % n).header("X-Backend"), "b2",
                    "after the reloads: /new%d/ works" % n)
        tap.ok(wait_until(lambda: len(p.workers()) == 2, 5), "2 workers after the reloads",
               repr(p.workers()))
        tap.is_(p.read_pid(), p.master_pid, "same master, pid file unchanged")

    with subtest_guard("download across a reload"):
        n = 40 * 1024 * 1024
        h = hashlib.sha256()
        with p.client(timeout=20) as c:
            c.send(build_request("GET", "/size/%d" % n))
            first = c.sock.recv(65536)
            c.r.buf += first
            c.r.total += len(first)
            old = set(p.workers())
            p.signal("HUP")
            wait_until(lambda: len(set(p.workers()) - old) >= 2, 5)
            time.sleep(0.3)
            try:
                r = c.read_response(on_body=h.update)
                tap.ok(r.status == 200 and r.body_len == n and h.hexdigest() == pattern_sha256(n),
                       "40 MB download started before a reload completes byte-exact",
                       "%r %d bytes" % (r, r.body_len))
            except Exception as e:
                tap.ok(False, "40 MB download started before a reload completes", repr(e))
        tap.ok(wait_until(lambda: not (set(p.workers()) & old), 10),
               "the old worker exits once its download is done")

    with subtest_guard("rapid reloads"):
        for i in range(3):
            p.signal("HUP")
            time.sleep(0.05)
        time.sleep(0.5)
        tap.ok(wait_until(lambda: len(p.workers()) == 2, 10), "3 HUPs in a row: 2 workers in the end",
               repr(p.workers()))
        got = [p.get("/echo/r%d" % i).status for i in range(10)]
        tap.is_(got, [200] * 10, "3 HUPs in a row: serving")
        tap.ok(p.running(), "3 HUPs in a row: master still running")

    with subtest_guard("broken config"):
        good = p.config_text()
        broken = good.replace("[route new3]", "[route new3]\nfrobnicate = yes")
        line = broken.split("\n").index("frobnicate = yes") + 1
        workers = set(p.workers())
        p.write_config(broken)
        p.signal("HUP")
        logged = p.wait_log(r"%s:%d:" % (p.config_path.replace(".", r"\."), line), 5)
        tap.ok(logged, "broken config: error log names file:line (%s:%d)" % (p.config_path, line),
               p.error_log()[-1500:])
        tap.ok(p.wait_log(r"reload failed", 3), "broken config: 'reload failed' logged")
        time.sleep(0.5)
        tap.is_(set(p.workers()), workers, "broken config: the workers were left alone")
        r = p.get("/new3/echo")
        tap.is_(r.header("X-Backend"), "b2", "broken config: the old config keeps serving")
        tap.ok(p.running(), "broken config: master still running")

        # a dangling reference is just as broken
        broken2 = good.replace("upstream = other", "upstream = nosuch", 1)
        line2 = broken2.split("\n").index("upstream = nosuch") + 1
        p.write_config(broken2)
        p.signal("HUP")
        tap.ok(p.wait_log(r"%s:%d:.*nosuch" % (p.config_path.replace(".", r"\."), line2), 5),
               "route to a missing upstream: error log names file:line")
        tap.is_(p.get("/new1/echo").header("X-Backend"), "b2", "... old config keeps serving")

        p.write_config(good)
        p.routes = routes_with(3)
        tap.ok(p.reload(), "good config again: reload succeeds")
        tap.is_(p.get("/new2/echo").status, 200, "serving after the good reload")

    with subtest_guard("listeners on reload"):
        port2 = free_port()
        p.listeners = {"web": ["127.0.0.1:%d" % p.port, "127.0.0.1:%d" % port2]}
        tap.ok(p.reload(), "reload adding a listen address")
        r = wait_until(lambda: _try_get(port2), 5)
        tap.ok(r and r.status == 200, "the new address serves")
        p.listeners = {"web": ["127.0.0.1:%d" % p.port]}
        tap.ok(p.reload(), "reload removing it")
        closed = wait_until(lambda: connect_refused(port2), 5)
        d = None
        if not closed:
            r = _try_get(port2)
            d = "connect to the removed address still succeeds; a request there %s" % (
                "is answered %d" % r.status if r else "gets no answer")
        tap.ok(closed, "the removed address is closed", d)
        tap.is_(p.get("/echo").status, 200, "the kept address still serves")

    p.stop()


def _try_get(port):
    try:
        with Client(port, timeout=3) as c:
            return c.request("GET", "/echo")
    except OSError:
        return None


main(test, timeout=90, tests=34)
