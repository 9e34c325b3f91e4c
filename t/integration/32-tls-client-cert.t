#!/usr/bin/env python3
# Client certificates: tls_verify_client = on (required) and optional, the
# verified subject in X-Client-Cert-Subject, certificates of another CA
# refused, and resumed sessions keep the subject.
import os
import ssl
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from portico_test import tap, main, Backend, free_port, hall, subtest_guard
from portico_tls import Certs, TLSClient, TLSPortico, client_ctx, have_openssl


def attempt(port, ctx, path="/echo/cc"):
    """(status, subject headers) or (None, error text)."""
    try:
        with TLSClient(port, ctx, sni="a.test") as c:
            r = c.request("GET", path)
            return r.status, hall(r.json()["headers"], "x-client-cert-subject")
    except (ssl.SSLError, OSError, ValueError) as e:
        return None, str(e)
    except Exception as e:          # noqa: BLE001 (PeerClosed and the like)
        return None, repr(e)


def test():
    if not have_openssl():
        tap.ok(False, "the openssl command is installed")
        return
    certs = Certs()
    rogue = Certs("rogue CA")
    pem, key = certs.issue("a", dns=["a.test"])
    alice = certs.issue("alice", client=True, cn="alice")
    mallory = rogue.issue("mallory", client=True, cn="mallory")
    be = Backend("b1")
    req_port, opt_port = free_port(), free_port()
    common = [("tls_certificate", pem), ("tls_key", key), ("tls_client_ca", certs.ca)]
    p = TLSPortico(upstreams={"app": [be.addr]},
                   listeners={"req": ["127.0.0.1:%d" % req_port],
                              "opt": ["127.0.0.1:%d" % opt_port]},
                   listener_opts={"req": common + [("tls_verify_client", "on")],
                                  "opt": common + [("tls_verify_client", "optional")]})
    p.listen_addr = lambda: ("127.0.0.1", req_port)
    p.start()
    subject = "CN=alice,O=portico tests,C=XX"

    with subtest_guard("required"):
        for ver in (None, ssl.TLSVersion.TLSv1_2):
            tag = "TLS 1.2" if ver else "TLS 1.3"
            st, h = attempt(req_port, client_ctx(ca=certs.ca, cert=alice, max_version=ver))
            tap.is_((st, h), (200, [subject]), "%s: valid client certificate: 200, subject "
                    "passed to the backend" % tag)
            st, err = attempt(req_port, client_ctx(ca=certs.ca, max_version=ver))
            tap.ok(st is None, "%s: no client certificate: refused" % tag, repr(err))
            st, err = attempt(req_port, client_ctx(ca=certs.ca, cert=mallory, max_version=ver))
            tap.ok(st is None, "%s: certificate of another CA: refused" % tag, repr(err))
        tap.ok(p.wait_log(r"\[info\].*TLS handshake failed", 3), "refusals logged at info")

    with subtest_guard("optional"):
        st, h = attempt(opt_port, client_ctx(ca=certs.ca))
        tap.is_((st, h), (200, []), "optional, no certificate: 200 without the header")
        st, h = attempt(opt_port, client_ctx(ca=certs.ca, cert=alice))
        tap.is_((st, h), (200, [subject]), "optional, valid certificate: subject passed")
        st, err = attempt(opt_port, client_ctx(ca=certs.ca, cert=mallory))
        tap.ok(st is None, "optional, certificate of another CA: refused", repr(err))
        # A forged subject never reaches the backend, in either spelling.
        with TLSClient(opt_port, client_ctx(ca=certs.ca), sni="a.test") as c:
            r = c.request("GET", "/echo/forged", headers=[
                ("X-Client-Cert-Subject", "CN=admin"), ("X_Client_Cert_Subject", "CN=admin")])
            hs = r.json()["headers"]
            tap.is_((hall(hs, "x-client-cert-subject"), hall(hs, "x_client_cert_subject")),
                    ([], []), "a client's own X-Client-Cert-Subject / X_Client_Cert_Subject "
                    "is removed")

    with subtest_guard("resumed session keeps the subject"):
        ctx = client_ctx(ca=certs.ca, cert=alice)
        with TLSClient(req_port, ctx, sni="a.test") as c:
            c.request("GET", "/x")
            sess = c.sock.session
        with TLSClient(req_port, ctx, sni="a.test", session=sess) as c:
            r = c.request("GET", "/echo/again")
            tap.ok(c.sock.session_reused, "session resumed")
            tap.is_(hall(r.json()["headers"], "x-client-cert-subject"), [subject],
                    "subject still passed on the resumed session")

    p.stop()


main(test, timeout=90, tests=14)
