#!/usr/bin/env python3
# Request-target normalization (issue 9, item 1): routes and allow lists
# see the normalized path, so encoded, doubled-slash and dot-segment
# spellings of a protected prefix get 400 or 403 and never reach its
# backend; the normalized path is what goes upstream (normalize_path = off
# forwards the raw one); each relax key; invalid Host syntax gets 400.
import os
import subprocess
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from portico_test import (tap, main, Backend, Portico, raw_exchange, subtest_guard,
                          require_binary)


def req(target, host="h"):
    return ("GET %s HTTP/1.1\r\nHost: %s\r\n\r\n" % (target, host)).encode("latin-1")


def status(port, data):
    resp, raw, err = raw_exchange(port, data)
    return resp.status if resp is not None else err


def test():
    admin, app, raw = Backend("admin"), Backend("app"), Backend("raw")
    routes = [
        dict(name="admin", path="/admin/", upstream="admin", allow="10.0.0.0/8"),
        dict(name="raw", path="/raw/", upstream="raw", normalize_path="off"),
        dict(name="main", path="/", upstream="app"),
    ]
    ups = {"admin": [admin.addr], "app": [app.addr], "raw": [raw.addr]}
    p = Portico(upstreams=ups, routes=routes, workers=1)
    p.start()

    with subtest_guard("bypasses of a protected prefix"):
        bypass = [
            ("/admin/", 403),
            ("/%61dmin/", 403),
            ("/%61%64%6D%69%6E/x", 403),
            ("//admin/", 403),
            ("///admin//x", 403),
            ("/x/%2e%2e/admin/", 403),
            ("/x/../admin/", 403),
            ("/%2e/admin/", 403),
            ("/./admin/", 403),
            ("/x/.%2E/admin/", 403),
            ("/admin%2Fx", 400),
            ("/admin%2fx", 400),
            ("/%2E%2E/admin/", 400),
            ("/../admin/", 400),
            ("/x/../../admin/", 400),
            ("/admin%00/", 400),
            ("/admin\\x", 400),
            ("/..\\admin/", 400),
            ("/%zz/admin/", 400),
            ("/admin%", 400),
        ]
        for target, want in bypass:
            tap.is_(status(p.port, req(target)), want, "%s -> %d" % (target, want))
        tap.is_(status(p.port, req("http://h/%61dmin/")), 403,
                "absolute-form http://h/%61dmin/ -> 403")
        tap.is_(status(p.port, req("http://h//admin/x")), 403,
                "absolute-form http://h//admin/x -> 403")
        tap.is_(admin.count(), 0, "no bypass reached the admin backend",
                str([r["target"] for r in admin.requests]))
        tap.is_(app.count(), 0, "none was forwarded to the catch-all route either",
                str([r["target"] for r in app.requests]))

    with subtest_guard("the normalized path goes upstream"):
        fwd = [
            ("/p/%7euser//x/./y/../z?q=%2e%2e//a%2f", "/p/~user/x/z?q=%2e%2e//a%2f"),
            ("/p/%3a%7b", "/p/%3A%7B"),
            ("/a/../b", "/b"),
            ("/p/.", "/p/"),
            ("/x/%2e%2e/p?", "/p?"),
            ("http://h/p//q", "/p/q"),
            ("/.well-known/x", "/.well-known/x"),
            ("/p/%25%2e", "/p/%25."),
        ]
        for target, want in fwd:
            app.reset()
            st = status(p.port, req(target))
            last = app.last()
            tap.ok(st == 200 and last is not None and last["target"] == want,
                   "%s forwarded as %s" % (target, want),
                   "status %s, backend saw %r" % (st, last and last["target"]))

    with subtest_guard("normalize_path = off forwards the raw target"):
        for target, want in [("/raw//x/%7e/../y?a=%2e", "/raw//x/%7e/../y?a=%2e"),
                             ("/%72aw/x", "/%72aw/x"),
                             ("http://h/raw/./%7e", "/raw/./%7e")]:
            raw.reset()
            st = status(p.port, req(target))
            last = raw.last()
            tap.ok(st == 200 and last is not None and last["target"] == want,
                   "off: %s routed on its normalized path, forwarded raw" % target,
                   "status %s, backend saw %r" % (st, last and last["target"]))
        tap.is_(status(p.port, req("/raw/%2e%2e/admin/")), 403,
                "off: the allow list still sees the normalized path")

    with subtest_guard("invalid hosts"):
        for host in ["admin.example.com..", "%61dmin.example.com", "admin..example.com",
                     ".example.com", "a%2eb", "h..:80"]:
            tap.is_(status(p.port, req("/", host)), 400, "Host: %s -> 400" % host)
        for target in ["http://h../", "http://%68/", "http://a..b/"]:
            tap.is_(status(p.port, req(target)), 400, "%s -> 400" % target)
        tap.is_(status(p.port, req("/", "admin.example.com.")), 200,
                "Host with one final dot is the same name: 200")
    p.stop()

    with subtest_guard("relax keys"):
        admin.reset(), app.reset()
        q = Portico(upstreams=ups, routes=routes, workers=1, global_opts={
            "merge_slashes": "off", "allow_encoded_slash": "on",
            "allow_encoded_nul": "on", "allow_backslash": "on",
            "allow_dotdot_above_root": "on"})
        q.start()
        for target, want in [("/p//x", "/p//x"), ("/p/a%2fb", "/p/a%2Fb"),
                             ("/p/a%00b", "/p/a%00b"), ("/p/a\\b", "/p/a\\b"),
                             ("/../p/x", "/p/x"), ("/%2E%2E/p", "/p")]:
            app.reset()
            st = status(q.port, req(target))
            last = app.last()
            tap.ok(st == 200 and last is not None and last["target"] == want,
                   "relaxed: %s forwarded as %s" % (target, want),
                   "status %s, backend saw %r" % (st, last and last["target"]))
        tap.is_(status(q.port, req("/../admin/")), 403,
                "allow_dotdot_above_root: /../admin/ is /admin/ (403)")
        tap.is_(admin.count(), 0, "relaxed: still nothing reached the admin backend")
        q.stop()
        bad = Portico(upstreams=ups, routes=routes, workers=1,
                      global_opts={"merge_slashes": "maybe"})
        bad.write_config()
        r = subprocess.run([require_binary(), "-t", "-c", bad.config_path],
                           capture_output=True, text=True, timeout=20)
        tap.ok(r.returncode != 0, "-t: merge_slashes = maybe refused")
        tap.like(r.stderr, r"portico\.ini:\d+: bad merge_slashes 'maybe'",
                 "-t: file:line names the key")
        bad.cleanup()


if __name__ == "__main__":
    main(test, timeout=120)
