#!/usr/bin/env python3
# Response cache, the key (issue 9 item 2): it holds the route and its
# upstream, the scheme, and the Host as it goes to the backend without the
# scheme's own default port.  Two listeners with their own routes and
# upstreams never share objects (an internal page is never a hit on the
# public listener, nor the reverse); a redirect to https stored over plain
# HTTP is never served to HTTPS clients; Host: x:80 over TLS is not x, while
# x:443 over TLS is.  PURGE and BAN, and invalidation by unsafe methods,
# drop the URL in both schemes of the route the request matches.
import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from portico_test import (tap, main, Backend, Client, free_port, hget, subtest_guard,
                          cache_section, cache_status, cs)
from portico_tls import Certs, TLSClient, TLSPortico, client_ctx, have_openssl


def test():
    if not have_openssl():
        tap.ok(False, "the openssl command is installed (apt-get install openssl)")
        return
    certs = Certs()
    pem, key = certs.issue("site", dns=["localhost", "x", "site.test"])
    pub_b = Backend("public")
    int_b = Backend("internal")
    pub_port, int_port, tls_port = free_port(), free_port(), free_port()
    p = TLSPortico(
        upstreams={"pubapp": [pub_b.addr], "intapp": [int_b.addr]},
        listeners={"pub": ["127.0.0.1:%d" % pub_port],
                   "internal": ["127.0.0.1:%d" % int_port],
                   "tls": ["127.0.0.1:%d" % tls_port]},
        listener_opts={"tls": [("tls_certificate", pem), ("tls_key", key)]},
        routes=[dict(name="int", listener="internal", path="/", upstream="intapp",
                     cache="on"),
                dict(name="pub", path="/", upstream="pubapp", cache="on")],
        workers=2, extra=cache_section(size="8m"))
    p.start()
    ctx = client_ctx(ca=certs.ca)

    def plain(port, target, method="GET", host="localhost", headers=None):
        with Client(port) as c:
            return c.request(method, target, host=host, headers=headers)

    def tls(target, method="GET", host="localhost", headers=None):
        with TLSClient(tls_port, ctx, sni="localhost") as c:
            return c.request(method, target, host=host, headers=headers)

    cc = [("Cache-Control", "max-age=300")]

    with subtest_guard("two listeners, own routes and upstreams"):
        pub_b.script("/page", headers=cc, body=b"public page\n")
        int_b.script("/page", headers=cc, body=b"internal secret\n")
        r = plain(int_port, "/page")
        tap.is_(r.body, b"internal secret\n", "internal listener: the internal page")
        tap.ok(cache_status(r).get("stored") is True, "... stored", cs(r))
        tap.ok(cache_status(plain(int_port, "/page")).get("hit") is True,
               "... and a hit there next")
        r = plain(pub_port, "/page")
        tap.is_(r.body, b"public page\n",
                "public listener, same Host and path: the public page, not the internal one")
        tap.unlike(cs(r), r"hit", "... not a hit", cs(r))
        tap.is_(pub_b.hits("/page"), 1, "... the public backend was asked")
        # the reverse: stored on the public side first
        pub_b.script("/rev", headers=cc, body=b"public rev\n")
        int_b.script("/rev", headers=cc, body=b"internal rev\n")
        tap.is_(plain(pub_port, "/rev").body, b"public rev\n", "public /rev stored first")
        r = plain(int_port, "/rev")
        tap.is_(r.body, b"internal rev\n", "internal listener still gets its own /rev")
        tap.is_(int_b.hits("/rev"), 1, "... from the internal backend")

    with subtest_guard("http and https"):
        def redirect_or_page(n, rec):
            return 301 if hget(rec["headers"], "x-forwarded-proto") == "http" else 200
        pub_b.script("/login", status=redirect_or_page,
                     headers=lambda n, rec: cc + ([("Location", "https://localhost/login")]
                                                  if redirect_or_page(n, rec) == 301 else []),
                     body=lambda n, rec: b"moved\n" if redirect_or_page(n, rec) == 301
                     else b"login form\n")
        r = plain(pub_port, "/login")
        tap.is_(r.status, 301, "plain HTTP: the backend's redirect to https")
        tap.ok(cache_status(r).get("stored") is True, "... stored", cs(r))
        r = tls("/login")
        tap.is_(r.status, 200, "HTTPS client: the page, not the stored redirect (no loop)")
        tap.is_(r.body, b"login form\n", "... its body")
        tap.ok(cache_status(tls("/login")).get("hit") is True, "... then an https hit")
        tap.is_(plain(pub_port, "/login").status, 301, "plain HTTP still gets its redirect")
        tap.is_(pub_b.hits("/login"), 2, "the backend asked once per scheme")

    with subtest_guard("Host and the scheme's default port"):
        pub_b.script("/h", headers=cc,
                     body=lambda n, rec: ("host=%s\n" % hget(rec["headers"], "host")).encode())
        tap.is_(tls("/h", host="x").body, b"host=x\n", "https, Host: x")
        r = tls("/h", host="x:80")
        tap.is_(r.body, b"host=x:80\n", "https, Host: x:80 is not x: its own fetch")
        tap.unlike(cs(r), r"hit", "... not a hit", cs(r))
        r = tls("/h", host="x:443")
        tap.ok(cache_status(r).get("hit") is True, "https, Host: x:443 is x: a hit", cs(r))
        tap.is_(r.body, b"host=x\n", "... with x's object")
        tap.is_(plain(pub_port, "/h", host="x:80").body, b"host=x:80\n",
                "http, Host: x:80 (stored by nobody over http yet): fetched")
        r = plain(pub_port, "/h", host="x")
        tap.ok(cache_status(r).get("hit") is True, "http, Host: x is x:80: a hit", cs(r))
        r = plain(pub_port, "/h", host="x:443")
        tap.unlike(cs(r), r"hit", "http, Host: x:443 is not x", cs(r))

    with subtest_guard("PURGE, BAN and invalidation take both schemes"):
        pub_b.script("/pg", headers=cc, body=b"pg\n")
        plain(pub_port, "/pg")
        tls("/pg")
        tap.ok(cache_status(plain(pub_port, "/pg")).get("hit") is True
               and cache_status(tls("/pg")).get("hit") is True, "/pg stored in both schemes")
        r = plain(pub_port, "/pg", method="PURGE")
        tap.is_(r.status, 200, "PURGE over http: 200")
        tap.unlike(cs(plain(pub_port, "/pg")), r"hit", "... http object gone")
        tap.unlike(cs(tls("/pg")), r"hit", "... https object gone too")
        for t in ("/ban/a", "/ban/b"):
            pub_b.script(t, headers=cc, body=b"ban\n")
            plain(pub_port, t)
            tls(t)
        r = tls("/ban/", method="BAN")
        tap.is_(r.status, 200, "BAN over https: 200")
        tap.ok(all("hit" not in cs(plain(pub_port, t)) and "hit" not in cs(tls(t))
                   for t in ("/ban/a", "/ban/b")), "... both schemes' objects under it gone")
        # PURGE on the internal listener reaches the internal route only
        int_b.script("/both", headers=cc, body=b"int both\n")
        pub_b.script("/both", headers=cc, body=b"pub both\n")
        plain(int_port, "/both")
        plain(pub_port, "/both")
        tap.is_(plain(int_port, "/both", method="PURGE").status, 200,
                "PURGE on the internal listener: 200")
        tap.ok(cache_status(plain(pub_port, "/both")).get("hit") is True,
               "... the public route's object stays")
        tap.unlike(cs(plain(int_port, "/both")), r"hit", "... the internal one is gone")
        # an unsafe method over https invalidates the http object too
        pub_b.script("/post", headers=cc, status=lambda n, rec: 200, body=b"p\n")
        plain(pub_port, "/post")
        tap.ok(cache_status(plain(pub_port, "/post")).get("hit") is True, "/post stored (http)")
        with TLSClient(tls_port, ctx, sni="localhost") as c:
            r = c.request("POST", "/post", body=b"x")
        tap.is_(r.status, 200, "POST /post over https: 200")
        tap.unlike(cs(plain(pub_port, "/post")), r"hit", "... the http object is invalidated")
    p.stop()


if __name__ == "__main__":
    main(test, timeout=90)
