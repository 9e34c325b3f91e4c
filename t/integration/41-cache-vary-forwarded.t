#!/usr/bin/env python3
# Response cache, Vary (issue 9 item 3): the fields a response varies on
# are matched against the request portico forwards, not the client's.
# Vary: X-Forwarded-For is per client address (a page made for one client
# is never a hit for another, whatever X-Forwarded-For they send);
# Vary: X-Forwarded-Proto separates http from https (one route on a plain
# and a TLS listener); a field the client lists in Connection is not
# forwarded, so a variant fetched without it is not stored as the variant
# "with" it; Vary on a field portico removes (X-Forwarded-Host sent by the
# client) follows what the backend saw, as does Vary on a field portico
# drops (X-Real-IP) or appends to (Via).
import os
import socket
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from portico_test import (tap, main, Backend, Client, Reader, free_port, hget, subtest_guard,
                          cache_section, cache_status, cs)
from portico_tls import Certs, TLSClient, TLSPortico, client_ctx, have_openssl


def connect_from(src, port):
    """A Client whose connection comes from the loopback address src."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((src, 0))
    s.settimeout(10)
    s.connect(("127.0.0.1", port))
    c = Client.__new__(Client)
    c.host, c.port, c.sock, c.r, c.responses = "127.0.0.1", port, s, Reader(s), 0
    return c


def test():
    if not have_openssl():
        tap.ok(False, "the openssl command is installed (apt-get install openssl)")
        return
    certs = Certs()
    pem, key = certs.issue("site", dns=["localhost"])
    b = Backend("b1")
    v4, tls_port = free_port(), free_port()
    p = TLSPortico(
        upstreams={"app": [b.addr]},
        listeners={"web": ["127.0.0.1:%d" % v4], "tls": ["127.0.0.1:%d" % tls_port]},
        listener_opts={"tls": [("tls_certificate", pem), ("tls_key", key)]},
        routes=[dict(name="main", path="/", upstream="app", cache="on")],
        workers=2, extra=cache_section(size="8m"))
    p.start()
    ctx = client_ctx(ca=certs.ca)

    def plain(target, headers=None, src=None):
        # another loopback address: another client as the backend sees it
        c = Client(v4) if src is None else connect_from(src, v4)
        with c:
            return c.request("GET", target, headers=headers)

    def tls(target, headers=None):
        with TLSClient(tls_port, ctx, sni="localhost") as c:
            return c.request("GET", target, headers=headers)

    def echo_field(name):
        return lambda n, rec: ("%s=%s #%d\n" % (name, hget(rec["headers"], name), n)).encode()

    with subtest_guard("Vary: X-Forwarded-For"):
        b.script("/me", headers=[("Cache-Control", "max-age=300"), ("Vary", "X-Forwarded-For")],
                 body=echo_field("X-Forwarded-For"))
        r = plain("/me")
        tap.is_(r.body, b"X-Forwarded-For=127.0.0.1 #1\n", "client 127.0.0.1: its own page")
        tap.ok(cache_status(r).get("stored") is True, "... stored", cs(r))
        r = plain("/me")
        tap.ok(cache_status(r).get("hit") is True, "the same client again: a hit", cs(r))
        r = plain("/me", src="127.0.0.2")
        tap.is_(r.body, b"X-Forwarded-For=127.0.0.2 #2\n",
                "client 127.0.0.2: its own page, not 127.0.0.1's")
        tap.unlike(cs(r), r"hit", "... not a hit", cs(r))
        # a client claiming the first client's address in the header
        r = plain("/me", src="127.0.0.3", headers=[("X-Forwarded-For", "127.0.0.1")])
        tap.unlike(r.body.decode(), r"^X-Forwarded-For=127.0.0.1 #",
                   "a client sending X-Forwarded-For: 127.0.0.1 does not get 127.0.0.1's page")
        tap.unlike(cs(r), r"hit", "... not a hit", cs(r))
        tap.is_(b.hits("/me"), 3, "the backend saw three distinct clients")

    with subtest_guard("Vary: X-Forwarded-Proto"):
        b.script("/proto", headers=[("Cache-Control", "max-age=300"),
                                    ("Vary", "X-Forwarded-Proto")],
                 body=echo_field("X-Forwarded-Proto"))
        tap.is_(plain("/proto").body, b"X-Forwarded-Proto=http #1\n", "http: the http variant")
        r = tls("/proto")
        tap.is_(r.body, b"X-Forwarded-Proto=https #2\n", "https: the https variant")
        tap.unlike(cs(r), r"hit", "... not the http one as a hit", cs(r))
        # a plain client claiming https gets the http variant (what the backend sees)
        r = plain("/proto", headers=[("X-Forwarded-Proto", "https")])
        tap.is_(r.body, b"X-Forwarded-Proto=http #1\n",
                "http with a forged X-Forwarded-Proto: https: the http variant")
        tap.ok(cache_status(r).get("hit") is True, "... as a hit", cs(r))

    with subtest_guard("Vary on a Connection-listed field"):
        b.script("/lang", headers=[("Cache-Control", "max-age=300"), ("Vary", "Accept-Language")],
                 body=echo_field("Accept-Language"))
        r = plain("/lang", headers=[("Accept-Language", "de"), ("Connection", "Accept-Language")])
        tap.is_(r.body, b"Accept-Language=None #1\n",
                "Accept-Language listed in Connection is not forwarded: the default answer")
        r = plain("/lang", headers=[("Accept-Language", "de")])
        tap.is_(r.body, b"Accept-Language=de #2\n",
                "a real Accept-Language: de client gets the de variant, not the default")
        tap.unlike(cs(r), r"hit", "... not a hit", cs(r))
        r = plain("/lang")
        tap.is_(r.body, b"Accept-Language=None #1\n", "no Accept-Language: the default variant")
        tap.ok(cache_status(r).get("hit") is True, "... a hit", cs(r))

    with subtest_guard("Vary on a field portico replaces"):
        b.script("/xfh", headers=[("Cache-Control", "max-age=300"), ("Vary", "X-Forwarded-Host")],
                 body=echo_field("X-Forwarded-Host"))
        tap.is_(plain("/xfh", headers=[("X-Forwarded-Host", "evil.example")]).body,
                b"X-Forwarded-Host=localhost #1\n", "client X-Forwarded-Host is replaced")
        r = plain("/xfh")
        tap.ok(cache_status(r).get("hit") is True,
               "a client without it selects the same variant (the backend saw the same)", cs(r))

    with subtest_guard("Vary on a field portico drops"):
        # X-Real-IP never reaches the backend: every client is the variant "without"
        b.script("/xri", headers=[("Cache-Control", "max-age=300"), ("Vary", "X-Real-IP")],
                 body=echo_field("X-Real-IP"))
        tap.is_(plain("/xri", headers=[("X-Real-IP", "10.0.0.1")]).body,
                b"X-Real-IP=None #1\n", "client X-Real-IP is not forwarded")
        r = plain("/xri", headers=[("X-Real-IP", "10.9.9.9")])
        tap.is_(r.body, b"X-Real-IP=None #1\n", "another X-Real-IP: the same variant")
        tap.ok(cache_status(r).get("hit") is True, "... as a hit", cs(r))
        tap.ok(cache_status(plain("/xri")).get("hit") is True, "none at all: a hit too")
        tap.is_(b.hits("/xri"), 1, "the backend was asked once")

    with subtest_guard("Vary on a list portico appends to"):
        b.script("/via", headers=[("Cache-Control", "max-age=300"), ("Vary", "Via")],
                 body=echo_field("Via"))
        tap.is_(plain("/via", headers=[("Via", "1.0 a")]).body,
                b"Via=1.0 a, 1.1 portico #1\n", "the client's Via, then portico")
        r = plain("/via", headers=[("Via", "1.0 a")])
        tap.ok(cache_status(r).get("hit") is True, "the same Via: a hit", cs(r))
        r = plain("/via")
        tap.is_(r.body, b"Via=1.1 portico #2\n", "no Via: portico's only, another variant")
        tap.unlike(cs(r), r"hit", "... not a hit", cs(r))
        r = plain("/via")
        tap.ok(cache_status(r).get("hit") is True, "... then a hit", cs(r))
    p.stop()


if __name__ == "__main__":
    main(test, timeout=90)
