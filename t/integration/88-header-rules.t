#!/usr/bin/env python3
# Header rules, upstream_host and return (issue 13): request_header_set/
# add/remove reach the backend as written, with variables expanded (the
# client address, the host, the path, a request field); response_header_*
# change what the client gets from the backend and from the cache (on
# delivery: a hit does not carry a rule's field twice), and the "always"
# ones also portico's own answers (a 404 of no route); upstream_host is
# the backend's Host; return answers a text or a redirect (Location with
# variables) without a backend; framing fields, Host and unknown
# variables are refused at load with file:line.
import os
import re
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from portico_test import (tap, main, Backend, Portico, Client, subtest_guard, hall,
                          cache_section, run_portico, wait_until)
from portico_tls import Certs, TLSClient, TLSPortico, client_ctx, have_openssl


def test():
    b = Backend("b1")
    p = Portico(upstreams={"app": [b.addr]}, routes=[
        dict(name="rules", path="/r/", upstream="app"),
        dict(name="cached", path="/c/", upstream="app", cache="on"),
        dict(name="ret", path="/ret/"),
        dict(name="redir", path="/old/"),
        dict(name="nocontent", path="/beacon/"),
    ], workers=1, extra=cache_section(size="4m"))
    text = p.config_text()
    text = text.replace("[listener web]\n", "[listener web]\n"
                        "response_header_set = X-Frame-Options DENY always\n"
                        "response_header_add = X-Proxied yes\n", 1)
    text = text.replace("[route rules]\n", "[route rules]\n"
                        "request_header_set = X-Who ip=$remote_addr host=$host "
                        "uri=$uri args=$args ua=${http_user_agent} route=$route\n"
                        "request_header_add = X-Add one\n"
                        "request_header_add = X-Add two\n"
                        "request_header_remove = X-Drop\n"
                        "request_header_set = X-Replace new\n"
                        "upstream_host = backend.internal\n"
                        "response_header_set = X-Status st=$status up=$upstream_addr\n"
                        "response_header_add = X-Resp-Add added\n"
                        "response_header_remove = X-Secret\n"
                        "response_header_set = X-Keep replaced $sent_http_x_keep\n", 1)
    text = text.replace("[route cached]\n", "[route cached]\n"
                        "response_header_add = X-Rule yes\n", 1)
    text = text.replace("[route ret]\n", "[route ret]\n"
                        "return = 200 hello $remote_addr on $host\n", 1)
    text = text.replace("[route nocontent]\n", "[route nocontent]\nreturn = 204\n", 1)
    text = text.replace("[route redir]\n", "[route redir]\n"
                        "return = 301 https://$host/new$uri$is_args$args\n", 1)
    p.write_config(text)
    p.start()

    with subtest_guard("request rules: what the backend received"):
        b.script("/r/a", headers=[("X-Secret", "s3cret"), ("X-Keep", "k1")], body=b"ok")
        with Client(p.port) as c:
            r = c.request("GET", "/r/a?x=1", host="www.example.com:8080",
                          headers=[("User-Agent", "agent/1.0"), ("X-Drop", "gone"),
                                   ("X-Replace", "old"), ("X-Add", "client")])
        tap.is_(r.status, 200, "proxied")
        h = b.last()["headers"]
        tap.is_(hall(h, "X-Who"), ["ip=127.0.0.1 host=www.example.com uri=/r/a args=x=1 "
                                   "ua=agent/1.0 route=rules"],
                "request_header_set with variables expanded")
        tap.is_(hall(h, "X-Add"), ["client", "one", "two"],
                "request_header_add: the client's, then both rules' in order")
        tap.is_(hall(h, "X-Drop"), [], "request_header_remove: the client's field is gone")
        tap.is_(hall(h, "X-Replace"), ["new"], "request_header_set replaces the client's")
        tap.is_(hall(h, "Host"), ["backend.internal"], "upstream_host: the backend's Host")
        tap.is_(hall(h, "X-Forwarded-Host"), ["www.example.com:8080"],
                "X-Forwarded-Host is still the client's")
        tap.is_(r.header_all("X-Status"), ["st=200 up=%s" % b.addr],
                "response_header_set with $status and $upstream_addr")
        tap.is_(r.header_all("X-Resp-Add"), ["added"], "response_header_add")
        tap.is_(r.header_all("X-Secret"), [], "response_header_remove")
        tap.is_(r.header_all("X-Keep"), ["replaced k1"],
                "response_header_set with $sent_http_x_keep (the backend's value)")
        tap.is_(r.header_all("X-Frame-Options"), ["DENY"], "the listener's rule")
        tap.is_(r.header_all("X-Proxied"), ["yes"], "the listener's non-always rule")
        tap.is_(r.body, b"ok", "the body is the backend's")

    with subtest_guard("always: portico's own 404"):
        with Client(p.port) as c:
            r = c.request("GET", "/nothing/here")
        tap.is_(r.status, 404, "no route: 404 from portico")
        tap.is_(r.header_all("X-Frame-Options"), ["DENY"], "the always rule is on the 404")
        tap.is_(r.header_all("X-Proxied"), [], "a rule without always is not")

    with subtest_guard("cache: rules on delivery, not on what is stored"):
        b.script("/c/obj", headers=[("Cache-Control", "max-age=60")], body=b"cached")
        got = []
        for _ in range(2):
            with Client(p.port) as c:
                got.append(c.request("GET", "/c/obj"))
        tap.is_(b.hits("/c/obj"), 1, "the second request is a hit")
        tap.is_(got[0].header_all("X-Rule"), ["yes"], "the miss has the rule's field once")
        tap.is_(got[1].header_all("X-Rule"), ["yes"], "the hit has it once too")
        tap.is_(got[1].header_all("X-Frame-Options"), ["DENY"], "and the listener's")

    with subtest_guard("return: text and redirect"):
        n = b.count()
        with Client(p.port) as c:
            r = c.request("GET", "/ret/x", host="ret.example")
            r2 = c.request("GET", "/old/page?a=b", host="old.example")
            r3 = c.request("HEAD", "/old/p2", host="old.example")
        tap.is_(r.status, 200, "return 200")
        tap.is_(r.body, b"hello 127.0.0.1 on ret.example", "its text, variables expanded")
        tap.is_(r.header("Content-Type"), "text/plain", "as text/plain")
        tap.is_(r.header_all("X-Frame-Options"), ["DENY"], "the listener's rules apply")
        tap.is_(r2.status, 301, "return 301")
        tap.is_(r2.header("Location"), "https://old.example/new/old/page?a=b",
                "Location with variables expanded")
        tap.is_(r3.status, 301, "HEAD: 301 too")
        tap.is_(r3.header("Location"), "https://old.example/new/old/p2",
                "no '?' without a query ($is_args)")
        tap.is_(b.count(), n, "no request reached the backend")

    with subtest_guard("return = 204: no body, no Content-Length, keep-alive intact"):
        import socket
        s = socket.create_connection(("127.0.0.1", p.port), timeout=10)
        s.sendall(b"GET /beacon/a HTTP/1.1\r\nHost: x\r\n\r\n"
                  b"GET /beacon/b HTTP/1.1\r\nHost: x\r\n\r\n")
        got = b""
        deadline = time.time() + 10
        while got.count(b"\r\n\r\n") < 2 and time.time() < deadline:
            d = s.recv(65536)
            if not d:
                break
            got += d
        time.sleep(0.2)
        s.setblocking(False)
        try:
            got += s.recv(65536)
        except OSError:
            pass
        s.close()
        heads = got.split(b"\r\n\r\n")
        tap.is_(got.count(b"HTTP/1.1 204 No Content\r\n"), 2,
                "two pipelined requests: two 204 answers", repr(got[:300]))
        tap.ok(got.endswith(b"\r\n\r\n") and len(heads) == 3 and heads[2] == b"",
               "... each a head with nothing after it", repr(got[-200:]))
        tap.ok(b"content-length" not in got.lower(), "... and no Content-Length (RFC 9110 8.6)")

    with subtest_guard("refused at load with file:line"):
        for sect, line, msg in [
                ("[route rules]\n", "request_header_set = Content-Length 5",
                 r"request_header_set: cannot change Content-Length"),
                ("[route rules]\n", "response_header_add = Transfer-Encoding chunked",
                 r"response_header_add: cannot change Transfer-Encoding"),
                ("[listener web]\n", "response_header_remove = Connection always",
                 r"response_header_remove: cannot change Connection"),
                ("[route rules]\n", "request_header_set = Host evil",
                 r"cannot change Host: the backend's Host is set by upstream_host"),
                ("[route rules]\n", "request_header_add = X-Forwarded-For 1.2.3.4",
                 r"cannot change X-Forwarded-For: portico writes it itself"),
                ("[route rules]\n", "request_header_set = X-A $nosuch",
                 r"request_header_set: unknown variable \$nosuch"),
                ("[route rules]\n", "request_header_set = X-A $status",
                 r"\$status cannot be used here"),
                ("[route rules]\n", "upstream_host = ${host",
                 r"upstream_host: '\$\{' without a name"),
                ("[route ret]\n", "return = 302", r"return 302 needs the URL"),
                ("[route ret]\n", "return = 304 x", r"bad return '304 x'"),
                ("[route ret]\n", "return = 204 gone", r"return 204 has no body")]:
            bad = text.replace(sect, sect + line + "\n", 1)
            ln = bad.split("\n").index(line) + 1
            path = os.path.join(p.tmp, "bad.ini")
            with open(path, "w") as f:
                f.write(bad)
            rc, out, err = run_portico(["-t", "-c", path])
            tap.is_(rc, 1, "-t, %s: exits 1" % line, err)
            tap.like(err, r"(?m)^%s:%d: .*%s" % (re.escape(path), ln, msg),
                     "-t, %s: file:line and what is wrong" % line)

    with subtest_guard("reload: the summary names the rules, the new ones apply"):
        new = text.replace("request_header_add = X-Add two\n",
                           "request_header_add = X-Add three\n", 1)
        new = new.replace("response_header_set = X-Frame-Options DENY always\n",
                          "response_header_set = X-Frame-Options SAMEORIGIN always\n", 1)
        new = new.replace("upstream_host = backend.internal\n",
                          "upstream_host = other.internal\n", 1)
        p.write_config(new)
        p.signal("HUP")
        tap.ok(p.wait_log(r"reload: .*route rules: header rules, upstream_host changed", 10),
               "route rules: header rules, upstream_host changed")
        tap.ok(p.wait_log(r"reload: .*listener web: header rules changed", 10),
               "listener web: header rules changed")

        def fresh():
            with Client(p.port) as c:
                r = c.request("GET", "/r/a")
            return r if r.header("X-Frame-Options") == "SAMEORIGIN" else None
        r = wait_until(fresh, 10)
        tap.ok(r is not None, "the new listener rule applies after the reload")
        h = b.last()["headers"]
        tap.is_(hall(h, "X-Add"), ["one", "three"], "the new request rule")
        tap.is_(hall(h, "Host"), ["other.internal"], "the new upstream_host")

    p.stop()
    with subtest_guard("TLS variables"):
        if not have_openssl():
            tap.ok(False, "the openssl command is installed")
            return
        certs = Certs()
        pem, key = certs.issue("a", dns=["a.test"])
        alice = certs.issue("alice", client=True, cn="alice")
        t = TLSPortico(upstreams={"app": [b.addr]}, workers=1,
                       listener_opts={"web": [("tls_certificate", pem), ("tls_key", key),
                                              ("tls_client_ca", certs.ca),
                                              ("tls_verify_client", "optional")]},
                       routes=[dict(name="main", path="/", upstream="app")])
        text = t.config_text().replace("[route main]\n", "[route main]\n"
                                       "request_header_set = X-TLS $scheme|$ssl_protocol|"
                                       "$ssl_cipher|$ssl_server_name|$ssl_client_s_dn\n", 1)
        t.write_config(text)
        t.start()
        with TLSClient(t.port, client_ctx(ca=certs.ca, cert=alice), sni="a.test") as c:
            r = c.request("GET", "/tls")
            cipher = c.sock.cipher()
        tap.is_(r.status, 200, "proxied over TLS")
        got = hall(b.last()["headers"], "X-TLS")
        tap.is_(got, ["https|%s|%s|a.test|CN=alice,O=portico tests,C=XX"
                      % (cipher[1], cipher[0])],
                "$scheme, $ssl_protocol, $ssl_cipher, $ssl_server_name, $ssl_client_s_dn")


if __name__ == "__main__":
    main(test, timeout=90)
