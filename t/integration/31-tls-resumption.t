#!/usr/bin/env python3
# TLS session resumption across workers: the ticket keys are shared by all
# workers (and survive a reload), so every reconnect with a saved session
# resumes, whichever worker accepts it.  TLS 1.3 and TLS 1.2.
import os
import ssl
import sys
import threading

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from portico_test import tap, main, Backend, free_port, subtest_guard
from portico_tls import Certs, TLSClient, TLSPortico, client_ctx, have_openssl

WORKERS = 4


def ctxsw(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("voluntary_ctxt_switches:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def session_of(port, ctx):
    with TLSClient(port, ctx, sni="a.test") as c:
        r = c.request("GET", "/first")
        first_resumed = c.sock.session_reused
        return r.status, c.sock.session, first_resumed


def resume_many(port, ctx, sess, n, out):
    for i in range(n):
        try:
            with TLSClient(port, ctx, sni="a.test", session=sess) as c:
                st = c.request("GET", "/again/%d" % i).status
                out.append((c.sock.session_reused, st))
        except Exception as e:          # noqa: BLE001 (recorded as a failure)
            out.append((False, repr(e)))


def check_round(p, port, ctx, label, threads=4, per=25):
    status, sess, first = session_of(port, ctx)
    tap.ok(status == 200 and not first and sess is not None,
           "%s: first connection is a full handshake and yields a session" % label)
    before = {w: ctxsw(w) for w in p.workers()}
    out = []
    ts = [threading.Thread(target=resume_many, args=(port, ctx, sess, per, out))
          for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(60)
    busy = [w for w in before if ctxsw(w) - before[w] >= 5]
    bad = [x for x in out if x != (True, 200)]
    tap.is_((len(out), len(bad)), (threads * per, 0),
            "%s: %d reconnects with the saved session, every one resumed and answered"
            % (label, threads * per), repr(bad[:5]))
    tap.ok(len(busy) >= 2, "%s: several workers took part (%d of %d)"
           % (label, len(busy), len(before)))
    return sess


def test():
    if not have_openssl():
        tap.ok(False, "the openssl command is installed")
        return
    certs = Certs()
    pem, key = certs.issue("a", dns=["a.test"])
    be = Backend("b1")
    port = free_port()
    p = TLSPortico(upstreams={"app": [be.addr]},
                   listeners={"web": ["127.0.0.1:%d" % port]},
                   listener_opts={"web": [("tls_certificate", pem), ("tls_key", key)]},
                   workers=WORKERS)
    p.start()

    with subtest_guard("TLS 1.3"):
        ctx13 = client_ctx(ca=certs.ca)
        sess13 = check_round(p, port, ctx13, "TLS 1.3")
    with subtest_guard("TLS 1.2"):
        ctx12 = client_ctx(ca=certs.ca, max_version=ssl.TLSVersion.TLSv1_2)
        sess12 = check_round(p, port, ctx12, "TLS 1.2")

    with subtest_guard("after a reload"):
        tap.ok(p.reload(), "reload: new workers")
        for label, ctx, sess in (("TLS 1.3", ctx13, sess13),
                                 ("TLS 1.2", ctx12, sess12)):
            out = []
            resume_many(port, ctx, sess, 10, out)
            tap.is_(out, [(True, 200)] * 10,
                    "%s: a session from before the reload resumes with the new workers" % label)

    p.stop()


main(test, timeout=120, tests=10)
