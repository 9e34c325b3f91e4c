#!/usr/bin/env python3
# Certificates on reload: HUP re-reads them (new connections get the new
# certificate while a request in flight on an old connection completes); a
# mismatched or missing key is caught by -t and by the reload check, with
# the file named, and the old configuration keeps running.
import os
import shutil
import sys
import threading
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from portico_test import tap, main, Backend, free_port, run_portico, subtest_guard, wait_until
from portico_tls import Certs, TLSClient, TLSPortico, client_ctx, have_openssl


def test():
    if not have_openssl():
        tap.ok(False, "the openssl command is installed")
        return
    certs = Certs()
    old_pem, old_key = certs.issue("old", dns=["a.test"], cn="old")
    new_pem, new_key = certs.issue("new", dns=["a.test"], cn="new")
    other_pem, other_key = certs.issue("other", dns=["a.test"], cn="other")
    live_pem, live_key = certs.path("live.pem"), certs.path("live.key")
    shutil.copy(old_pem, live_pem)
    shutil.copy(old_key, live_key)
    be = Backend("b1")
    port = free_port()
    p = TLSPortico(upstreams={"app": [be.addr]},
                   listeners={"web": ["127.0.0.1:%d" % port]},
                   listener_opts={"web": [("tls_certificate", live_pem), ("tls_key", live_key)]})
    p.start()
    ctx = client_ctx(ca=certs.ca)

    def cn():
        with TLSClient(port, ctx, sni="a.test") as c:
            name = c.peer_cn()
            st = c.request("GET", "/x").status
        return name, st

    with subtest_guard("certificate swap"):
        tap.is_(cn(), ("old", 200), "serving the old certificate")
        slow = TLSClient(port, ctx, sni="a.test")
        tap.is_(slow.request("GET", "/warm").status, 200, "a kept-alive connection")
        result = {}

        def inflight():
            try:
                result["r"] = slow.request("GET", "/slow/1.5")
            except Exception as e:      # noqa: BLE001
                result["e"] = repr(e)
        th = threading.Thread(target=inflight)
        th.start()
        time.sleep(0.3)
        shutil.copy(new_pem, live_pem)
        shutil.copy(new_key, live_key)
        tap.ok(p.reload(), "HUP: new workers")
        # An old worker accepts until it has read its SIGQUIT: a connection
        # made in that instant may still get the old certificate.
        got = []
        wait_until(lambda: got.append(cn()) or got[-1] == ("new", 200), 5)
        tap.is_(got[-1], ("new", 200), "new connections get the new certificate")
        th.join(10)
        r = result.get("r")
        tap.ok(r is not None and r.status == 200 and r.body == b"slow done\n",
               "the request in flight on the old connection completed", repr(result))
        slow.close()

    with subtest_guard("mismatched key on reload"):
        shutil.copy(other_key, live_key)        # new.pem with other.key
        p.signal("HUP")
        line = p.wait_log(r"tls_key %s does not match tls_certificate %s"
                          % (live_key, live_pem), 5)
        tap.ok(line and "[error]" in line, "reload: the mismatch is logged, naming both files",
               p.error_log()[-1000:])
        tap.ok(p.wait_log(r"reload failed: keeping the running configuration", 3),
               "reload refused")
        tap.is_(cn(), ("new", 200), "the running configuration keeps serving")
        shutil.copy(new_key, live_key)

    with subtest_guard("portico -t"):
        cfg = p.config_text()
        bad = os.path.join(p.tmp, "bad.ini")
        with open(bad, "w") as f:
            f.write(cfg.replace(live_key, other_key))
        rc, out, err = run_portico(["-t", "-c", bad])
        tap.is_(rc, 1, "-t: mismatched key: exit status 1")
        tap.like(err, r"bad\.ini:\d+: tls_key %s does not match tls_certificate %s"
                 % (other_key, live_pem), "-t names the key, the certificate and the line")
        with open(bad, "w") as f:
            f.write(cfg.replace(live_pem, certs.path("missing.pem")))
        rc, out, err = run_portico(["-t", "-c", bad])
        tap.is_(rc, 1, "-t: missing certificate: exit status 1")
        tap.like(err, r"bad\.ini:\d+: tls_certificate %s: cannot load: .*"
                 % certs.path("missing.pem"), "-t names the missing file")
        with open(bad, "w") as f:
            f.write(cfg)
        rc, out, err = run_portico(["-t", "-c", bad])
        tap.is_(rc, 0, "-t: the good file passes", err)

    p.stop()


main(test, timeout=90, tests=14)
