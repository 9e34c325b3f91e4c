#!/usr/bin/env python3
# The tail of a response head (framing, Connection, the end of the head) is
# the same for every kind of answer: the status endpoint (JSON and
# Prometheus), a local error page (404), a redirect (redirect = https), a
# cache hit and a forwarded answer.  For each one, over a real socket:
#   - HTTP/1.0 with "Connection: keep-alive": the answer says
#     "Connection: keep-alive" (HTTP/1.0 closes by default, so without it
#     the client would close or read to the end of the connection) and a
#     second request on the same connection is answered;
#   - HTTP/1.1 with "Connection: close": "Connection: close", then the close;
#   - HTTP/1.0 without keep-alive: "Connection: close", then the close;
#   - HTTP/1.1: no "Connection: close", and the connection stays open;
#   - the framing: one Content-Length matching the body, no chunking.
# Before the single head-tail writer, the status endpoint lacked
# "Connection: keep-alive" for HTTP/1.0 keep-alive clients.
import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from portico_test import (tap, main, Backend, Portico, Client, subtest_guard, free_port,
                          cache_section, connection_tokens)

KINDS = [
    # name, listener, target, expected status
    ("status JSON", "web", "/_portico/status", 200),
    ("status metrics", "web", "/_portico/metrics", 200),
    ("local 404", "web", "/nowhere", 404),
    ("redirect", "plain", "/r/x?q=1", 301),
    ("cache hit", "web", "/c/obj", 200),
    ("forwarded", "web", "/p/echo/x", 200),
]
CASES = 4
PER_CASE = 3


class RedirectPortico(Portico):
    """A second listener, "plain", that redirects to https."""

    def config_text(self):
        text = super().config_text()
        return text.replace("[listener plain]\n", "[listener plain]\nredirect = https:8443\n")


def conn_tokens(r):
    return [t.lower() for t in connection_tokens(r.headers)]


def framing_ok(r):
    """One Content-Length that matches the body, no chunking."""
    cls = [v for k, v in r.headers if k.lower() == "content-length"]
    te = [v for k, v in r.headers if k.lower() == "transfer-encoding"]
    return len(cls) == 1 and not te and int(cls[0]) == r.body_len


def test():
    b = Backend("b1")
    b.script("/c/obj", headers=[("Cache-Control", "max-age=600")], body=b"cached body\n")
    web, plain = free_port(), free_port()
    p = RedirectPortico(
        upstreams={"app": [b.addr]},
        listeners={"web": ["127.0.0.1:%d" % web], "plain": ["127.0.0.1:%d" % plain]},
        routes=[
            dict(name="status", path="/_portico/", handler="status"),
            dict(name="cached", path="/c/", upstream="app", cache="on"),
            dict(name="plainproxy", path="/p/", upstream="app"),
            dict(name="redir", path="/r/", upstream="app"),
        ], workers=1, extra=cache_section(size="4m"))
    p.listen_addr = lambda: ("127.0.0.1", web)
    p.start()
    ports = {"web": web, "plain": plain}
    # Fill the cache: every later /c/obj is a hit.
    with Client(web) as c:
        r = c.request("GET", "/c/obj")
        r = c.request("GET", "/c/obj")
    tap.like(r.header("Cache-Status") or "", r"hit", "the cached object is a hit")

    for name, ls, target, status in KINDS:
        port = ports[ls]
        with subtest_guard(name + ", HTTP/1.0 keep-alive"):
            with Client(port) as c:
                r = c.request("GET", target, headers=[("Connection", "keep-alive")],
                              version="HTTP/1.0")
                ok1 = r.status == status and "keep-alive" in conn_tokens(r)
                tap.ok(ok1, "%s: HTTP/1.0 keep-alive client gets %d with Connection: "
                       "keep-alive" % (name, status), repr(r.raw_head))
                tap.ok(framing_ok(r), "%s: ... framed by one Content-Length" % name,
                       repr(r.raw_head))
                try:
                    r2 = c.request("GET", target, headers=[("Connection", "keep-alive")],
                                   version="HTTP/1.0")
                    got = r2.status
                except Exception as e:  # the connection was closed
                    got = repr(e)
                tap.is_(got, status, "%s: ... and a second request on the same "
                        "connection is answered" % name)
        with subtest_guard(name + ", HTTP/1.1 close"):
            with Client(port) as c:
                r = c.request("GET", target, headers=[("Connection", "close")])
                tap.ok(r.status == status and "close" in conn_tokens(r),
                       "%s: HTTP/1.1 Connection: close gets Connection: close" % name,
                       repr(r.raw_head))
                tap.ok(framing_ok(r), "%s: ... framed by one Content-Length" % name,
                       repr(r.raw_head))
                tap.ok(c.is_closed(5.0), "%s: ... and the connection is closed" % name)
        with subtest_guard(name + ", HTTP/1.0"):
            with Client(port) as c:
                r = c.request("GET", target, version="HTTP/1.0")
                tap.ok(r.status == status and "close" in conn_tokens(r),
                       "%s: HTTP/1.0 without keep-alive gets Connection: close" % name,
                       repr(r.raw_head))
                tap.ok(framing_ok(r), "%s: ... framed by one Content-Length" % name,
                       repr(r.raw_head))
                tap.ok(c.is_closed(5.0), "%s: ... and the connection is closed" % name)
        with subtest_guard(name + ", HTTP/1.1"):
            with Client(port) as c:
                r = c.request("GET", target)
                toks = conn_tokens(r)
                tap.ok(r.status == status and "close" not in toks and "keep-alive" not in toks,
                       "%s: HTTP/1.1 gets no Connection field" % name, repr(r.raw_head))
                tap.ok(framing_ok(r), "%s: ... framed by one Content-Length" % name,
                       repr(r.raw_head))
                try:
                    got = c.request("GET", target).status
                except Exception as e:
                    got = repr(e)
                tap.is_(got, status, "%s: ... and the connection stays open" % name)
    tap.ok(all("/r/" not in x["target"] for x in b.requests),
           "redirected requests never reach the backend")
    p.stop()


if __name__ == "__main__":
    main(test, timeout=120, tests=1 + len(KINDS) * CASES * PER_CASE + 1 + 1)
