#!/usr/bin/env python3
# TLS to the backends: verified against tls_ca with tls_server_name, or the
# address (IP SAN); a bad certificate (unknown CA, wrong name) gives 502 and
# an error-log line naming the reason; tls_verify = off; session reuse on
# new connections; bodies both ways; an upstream-wide tls = on.
import hashlib
import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from portico_test import tap, main, Backend, Portico, subtest_guard, wait_until, pattern_sha256
from portico_tls import Certs, TLSBackend, have_openssl


def test():
    if not have_openssl():
        tap.ok(False, "the openssl command is installed")
        return
    certs = Certs()
    rogue = Certs("rogue CA")
    good = TLSBackend(*certs.issue("backend", dns=["backend.test"]), name="good")
    byip = TLSBackend(*certs.issue("byip", ip=["127.0.0.1"], dns=["ip.test"]), name="byip")
    selfs = TLSBackend(*rogue.issue("self", dns=["backend.test"]), name="rogue")
    plainb = Backend("plain")
    ca = certs.ca
    p = Portico(upstreams={
        "good": {"servers": [good.addr + " tls"], "tls_ca": ca, "tls_server_name": "backend.test",
                 "keepalive": "0"},
        "byip": {"servers": [byip.addr + " tls"], "tls_ca": ca},
        "rogue": {"servers": [selfs.addr + " tls"], "tls_ca": ca,
                  "tls_server_name": "backend.test"},
        "wrongname": {"servers": [good.addr + " tls"], "tls_ca": ca,
                      "tls_server_name": "other.test"},
        "noverify": {"servers": [selfs.addr], "tls": "on", "tls_verify": "off"},
        "mixed": {"servers": [plainb.addr, good.addr + " tls"], "tls_ca": ca,
                  "tls_server_name": "backend.test"},
    }, routes=[dict(name=n, path="/%s/" % n, upstream=n)
               for n in ("good", "byip", "rogue", "wrongname", "noverify", "mixed")])
    p.start()

    with subtest_guard("verified"):
        r = p.get("/good/echo/x")
        tap.is_(r.status, 200, "CA + tls_server_name: 200")
        tap.is_(r.json()["backend"], "good", "answered by the TLS backend")
        r = p.get("/byip/echo/x")
        tap.is_(r.status, 200, "no tls_server_name: the address is verified (IP SAN)")
        n = 2 * 1024 * 1024 + 3
        h = hashlib.sha256()
        with p.client() as c:
            r = c.request("GET", "/good/size/%d" % n, on_body=h.update)
            tap.is_((r.status, r.body_len, h.hexdigest()), (200, n, pattern_sha256(n)),
                    "2 MB from a TLS backend, byte-exact")
            body = os.urandom(1024 * 1024 + 7)
            r = c.request("POST", "/good/sink", body=body)
            tap.is_(r.json()["sha256"], hashlib.sha256(body).hexdigest(),
                    "1 MB to a TLS backend, byte-exact")
        got = [p.get("/mixed/echo/%d" % i).json()["backend"] for i in range(4)]
        tap.is_(sorted(set(got)), ["good", "plain"], "one upstream, a plain and a TLS server")

    with subtest_guard("session reuse"):
        good.resumed.clear()
        got = [p.get("/good/r/%d" % i).status for i in range(8)]
        tap.is_(got, [200] * 8, "8 requests, each on a new upstream connection (keepalive = 0)")
        vals = [good.resumed[k] for k in sorted(good.resumed)]
        # each worker does one full handshake, then resumes
        tap.ok(len(vals) >= 8 and sum(vals) >= len(vals) - 2,
               "the new upstream connections resume the TLS session", repr(vals))

    with subtest_guard("bad certificates"):
        r = p.get("/rogue/x")
        tap.is_(r.status, 502, "certificate of an unknown CA: 502")
        tap.ok(p.wait_log(r"upstream rogue server .*certificate verify failed", 3),
               "error log names the reason", p.error_log()[-800:])
        tap.unlike(r.body.decode(), "verify|certificate|127\\.0\\.0\\.1", "the page tells nothing")
        r = p.get("/wrongname/x")
        tap.is_(r.status, 502, "wrong tls_server_name: 502")
        tap.ok(p.wait_log(r"upstream wrongname server .*hostname mismatch", 3),
               "error log: hostname mismatch", p.error_log()[-800:])
        r = p.get("/noverify/echo/x")
        tap.is_((r.status, r.json()["backend"]), (200, "rogue"),
                "tls = on, tls_verify = off: the same server is used")

    p.stop()


main(test, timeout=90, tests=15)
