#!/usr/bin/env python3
# What a reload changed: each reload logs one line, "reload: no changes"
# or "reload: N changes: ..." naming the listeners, routes, upstream
# servers, cache size and TLS certificates (by subject and expiry, also a
# certificate replaced in place under the same file name) it changed.
# `portico -t -d` prints the differences between the file and the
# configuration the master runs (its copy next to the pid file; the
# certificates it loaded, listed in its state file), and says when there
# is no running master.  The state file records the generation
# and the last result.
import calendar
import os
import re
import shutil
import ssl
import subprocess
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from portico_test import (tap, main, Backend, run_portico, subtest_guard, wait_until,
                          free_port, get)
from portico_tls import Certs, TLSPortico, have_openssl


def expiry(pem):
    out = subprocess.run(["openssl", "x509", "-enddate", "-noout", "-in", pem],
                         capture_output=True, text=True, check=True).stdout
    t = ssl.cert_time_to_seconds(out.strip().split("=", 1)[1])
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(t))


def reload_line(p, n):
    """The n-th (1-based) "reload:" summary line of the master."""
    def find():
        lines = re.findall(r"master: (reload: .*)", p.error_log())
        lines = [l for l in lines if not l.startswith("reload: the new")]
        return lines[n - 1] if len(lines) >= n else None
    return wait_until(find, 20) or ""


def state(p):
    try:
        with open(os.path.join(p.tmp, "portico.state")) as f:
            return dict(l.rstrip("\n").split("=", 1) for l in f if "=" in l)
    except OSError:
        return {}


def test():
    if not have_openssl():
        tap.skip("no openssl tool", 19)
        return
    certs = Certs()
    old_pem, old_key = certs.issue("old", dns=["a.test"], cn="old.a.test")
    new_pem, new_key = certs.issue("new", dns=["a.test"], cn="new.a.test")
    live_pem, live_key = certs.path("live.pem"), certs.path("live.key")
    shutil.copy(old_pem, live_pem)
    shutil.copy(old_key, live_key)
    b1, b2 = Backend("b1"), Backend("b2")
    tls_port = free_port()
    p = TLSPortico(upstreams={"app": [b1.addr]}, workers=1, name="portico-summary",
                   listeners=None,
                   listener_opts={"tls": [("tls_certificate", live_pem),
                                          ("tls_key", live_key)]})
    p.listeners = {"web": ["127.0.0.1:%d" % p.port], "tls": ["127.0.0.1:%d" % tls_port]}
    p.write_config()
    p.start()

    with subtest_guard("unchanged"):
        rc, out, err = run_portico(["-t", "-d", "-c", p.config_path])
        tap.is_(rc, 0, "-t -d on the running file exits 0")
        tap.like(out, r"no changes from the running configuration \(pid %d, generation 1\)"
                 % p.master_pid, "... and says there are no changes", out + err)
        p.reload()
        tap.is_(reload_line(p, 1), "reload: no changes", "a reload of the same file logs "
                "\"reload: no changes\"")

    with subtest_guard("changed"):
        api_port = free_port()
        p.listeners = dict(p.listeners, api=["127.0.0.1:%d" % api_port])
        p.upstreams = {"app": [b1.addr, b2.addr]}
        p.routes = [{"name": "main", "host": "*", "path": "/", "upstream": "app"},
                    {"name": "two", "host": "*", "path": "/two", "upstream": "app"}]
        p.extra = "[cache]\nsize = 32m\n"
        p.write_config()
        rc, out, err = run_portico(["-t", "-d", "-c", p.config_path])
        tap.is_(rc, 0, "-t -d on a changed file exits 0")
        want = ["listener api added (127.0.0.1:%d)" % api_port,
                "route two added (* /two -> app)",
                "upstream app: server %s added" % b2.addr,
                "cache size 256m -> 32m"]
        tap.ok(all(("\n  %s\n" % w) in out for w in want) and
               re.search(r"4 changes from the running configuration", out),
               "... and lists each change, one per line", out + err)
        # Renewed in place: the same file names, another certificate.
        shutil.copy(new_pem, live_pem)
        shutil.copy(new_key, live_key)
        rc, out, err = run_portico(["-t", "-d", "-c", p.config_path])
        tap.ok("\n  listener tls: certificate removed: CN=old.a.test, expires %s\n"
               % expiry(old_pem) in out and
               "\n  listener tls: certificate added: CN=new.a.test, expires %s\n"
               % expiry(new_pem) in out,
               "-t -d: a certificate renewed in place, against the one the master loaded",
               out + err)
        p.signal("HUP")
        line = reload_line(p, 2)
        for w in want:
            tap.ok(w in line, "the reload summary names: %s" % w, line)
        tap.ok("listener tls: certificate removed: CN=old.a.test, expires %s"
               % expiry(old_pem) in line,
               "... the certificate it replaced, by subject and expiry", line)
        tap.ok("listener tls: certificate added: CN=new.a.test, expires %s"
               % expiry(new_pem) in line,
               "... the new one, by subject and expiry", line)
        tap.like(line, r"^reload: 6 changes: ", "... in one line with the count")
        tap.ok(wait_until(lambda: get(api_port, "/").status == 200, 10),
               "the change is live (the new listener answers)")
        st = wait_until(lambda: state(p) if state(p).get("generation") == "3" else None, 10)
        tap.ok(st and st.get("last_result") == "ok" and st.get("reloads_failed") == "0",
               "the state file: generation 3, last result ok", repr(state(p)))
        rc, out, err = run_portico(["-t", "-d", "-c", p.config_path])
        tap.like(out, r"no changes from the running configuration \(pid %d, generation 3\)"
                 % p.master_pid, "-t -d after the reload: no changes", out + err)

    p.stop()
    with subtest_guard("no master"):
        rc, out, err = run_portico(["-t", "-d", "-c", p.config_path])
        tap.is_(rc, 1, "-t -d without a running master exits 1")
        tap.like(err, r"no running master to compare with", "... and says why", err)
    b1.stop()
    b2.stop()


main(test, timeout=120, tests=19)
