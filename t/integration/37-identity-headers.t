#!/usr/bin/env python3
# Client-supplied "trusted" fields (issue 9, item 4, the header part): the
# fields portico sets (X-Forwarded-Proto, X-Forwarded-Host,
# X-Client-Cert-Subject) never come from the client, in any spelling (dash
# or underscore, any case); the underscore spelling of X-Forwarded-For is
# dropped (the dash one is appended to); the other identity fields
# (Forwarded, X-Real-IP, True-Client-IP, X-Original-URL, ...) are removed
# unless the route has pass_client_identity_headers = on.  On a caching
# route a spoofed Forwarded never reaches the backend.
import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from portico_test import (tap, main, Backend, Portico, Client, subtest_guard, hall,
                          cache_section)

OURS = [
    ("X-Forwarded-Proto", "https"), ("x_forwarded_proto", "https"),
    ("X_FORWARDED_PROTO", "https"), ("X-Forwarded-Host", "evil.example"),
    ("X_Forwarded_Host", "evil.example"), ("x-forwarded_host", "evil.example"),
    ("X-Client-Cert-Subject", "CN=admin"), ("X_Client_Cert_Subject", "CN=admin"),
    ("X_Forwarded_For", "6.6.6.6"), ("x_forwarded_for", "6.6.6.6"),
]
IDENTITY = [
    ("Forwarded", "for=6.6.6.6;host=evil.example;proto=https"),
    ("forwarded", "for=7.7.7.7"),
    ("X-Real-IP", "6.6.6.6"), ("X_Real_IP", "6.6.6.6"),
    ("True-Client-IP", "6.6.6.6"), ("true_client_ip", "6.6.6.6"),
    ("X-Client-IP", "6.6.6.6"), ("X-Cluster-Client-IP", "6.6.6.6"),
    ("X-Forwarded-Port", "443"), ("X_Forwarded_Port", "443"),
    ("X-Forwarded-Ssl", "on"), ("X-FORWARDED-SSL", "on"),
    ("X-Forwarded-Scheme", "https"), ("X_Forwarded_Scheme", "https"),
    ("X-Forwarded-Protocol", "https"), ("X-Url-Scheme", "https"),
    ("Front-End-Https", "on"), ("X-Forwarded-Server", "evil"),
    ("X-Forwarded-Prefix", "/admin"),
    ("X-Original-URL", "/admin/"), ("x_original_url", "/admin/"),
    ("X-Rewrite-URL", "/admin/"), ("X-Original-Host", "evil.example"),
    ("X-Host", "evil.example"),
]


def canon(name):
    return name.lower().replace("_", "-")


def sent(backend):
    last = backend.last()
    return last["headers"] if last is not None else []


def test():
    b = Backend("b1")
    p = Portico(upstreams={"app": [b.addr]}, routes=[
        dict(name="keep", path="/keep/", upstream="app", pass_client_identity_headers="on"),
        dict(name="cached", path="/c/", upstream="app", cache="on"),
        dict(name="main", path="/", upstream="app"),
    ], workers=1, extra=cache_section(size="4m"))
    p.start()
    ident_names = {canon(n) for n, _ in IDENTITY}
    our_names = {canon(n) for n, _ in OURS}

    with subtest_guard("default: removed in every spelling"):
        b.reset()
        with Client(p.port) as c:
            r = c.request("GET", "/x", host="www.example.com",
                          headers=OURS + IDENTITY + [("X-Forwarded-For", "1.2.3.4"),
                                                     ("X-Other", "kept")])
        tap.is_(r.status, 200, "request answered")
        h = sent(b)
        left = [(k, v) for k, v in h if canon(k) in ident_names or
                (canon(k) in our_names and k.lower() not in
                 ("x-forwarded-proto", "x-forwarded-host", "x-forwarded-for"))]
        tap.is_(left, [], "no identity field and no underscore spelling reached the backend")
        tap.is_(hall(h, "X-Forwarded-Proto"), ["http"], "X-Forwarded-Proto: http, portico's only")
        tap.is_(hall(h, "X-Forwarded-Host"), ["www.example.com"],
                "X-Forwarded-Host: the Host, portico's only")
        tap.is_(hall(h, "X-Client-Cert-Subject"), [], "no X-Client-Cert-Subject without TLS")
        tap.is_(hall(h, "X-Forwarded-For"), ["1.2.3.4, 127.0.0.1"],
                "X-Forwarded-For: the client's list plus the peer")
        tap.is_(hall(h, "X-Other"), ["kept"], "other fields pass")

    with subtest_guard("pass_client_identity_headers = on"):
        b.reset()
        with Client(p.port) as c:
            r = c.request("GET", "/keep/x", host="www.example.com", headers=OURS + IDENTITY)
        tap.is_(r.status, 200, "request answered")
        h = sent(b)
        got = {(canon(k), v) for k, v in h}
        missing = [(k, v) for k, v in IDENTITY if (canon(k), v) not in got]
        tap.is_(missing, [], "every identity field passes")
        tap.is_(len([1 for k, _ in h if canon(k) == "forwarded"]), 2,
                "both Forwarded fields pass")
        tap.is_(hall(h, "X-Forwarded-Proto"), ["http"], "X-Forwarded-Proto still portico's only")
        tap.is_(hall(h, "X-Forwarded-Host"), ["www.example.com"],
                "X-Forwarded-Host still portico's only")
        tap.is_([k for k, _ in h if canon(k) in our_names and "_" in k], [],
                "underscore spellings of portico's fields still removed")

    with subtest_guard("a cached page never sees a spoofed Forwarded"):
        b.reset()
        b.script("/c/page", headers=[("Cache-Control", "max-age=60")], body=b"page")
        with Client(p.port) as c:
            r = c.request("GET", "/c/page", host="www.example.com",
                          headers=[("Forwarded", "host=evil.example"),
                                   ("X_Forwarded_Host", "evil.example")])
        tap.is_(r.status, 200, "first request answered")
        h = sent(b)
        tap.ok(b.count() == 1 and hall(h, "Forwarded") == [] and
               hall(h, "X_Forwarded_Host") == [],
               "the backend did not get Forwarded: host=evil.example", str(h))
        tap.is_(hall(h, "X-Forwarded-Host"), ["www.example.com"], "only the real host")


if __name__ == "__main__":
    main(test, timeout=60)
