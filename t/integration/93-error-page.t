#!/usr/bin/env python3
# error_page and intercept_errors: portico's own 404, 502 and 503 answers
# carry the operator's page (its bytes, its Content-Type from the
# extension, the status kept); a route's page wins over [global]'s; with
# intercept_errors = on a backend's 500 body is replaced (status kept, the
# backend's connection not reused), without it the backend's body passes;
# a missing file is refused at load with file:line; a reload reads the
# files again.
import os
import re
import sys
import threading

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from portico_test import (tap, main, Backend, Portico, subtest_guard, run_portico,
                          refused_port, wait_until)


def test():
    b = Backend("b1")
    slow = Backend("slow")
    down = refused_port()
    p = Portico(upstreams={"app": [b.addr], "down": ["127.0.0.1:%d" % down],
                           "mc": {"servers": [slow.addr + " max_conns=1"]}},
                routes=[dict(name="api", path="/api/", upstream="app", intercept_errors="on"),
                        dict(name="pass", path="/pass/", upstream="app"),
                        dict(name="down", path="/down/", upstream="down"),
                        dict(name="mc", path="/mc/", upstream="mc"),
                        dict(name="site", path="/site/", upstream="app")],
                workers=1)
    html = os.path.join(p.tmp, "oops.html")
    js = os.path.join(p.tmp, "api.json")
    with open(html, "wb") as f:
        f.write(b"<html><body>Our own sorry page \xe2\x9c\x93</body></html>\n")
    with open(js, "wb") as f:
        f.write(b'{"error": "backend trouble"}\n')
    text = p.config_text()
    text = text.replace("[global]\n", "[global]\nerror_page = 404 502 503 %s\n" % html, 1)
    text = text.replace("[route api]\n", "[route api]\nerror_page = 500 404 %s\n" % js, 1)
    p.write_config(text)
    p.start()
    page = open(html, "rb").read()

    with subtest_guard("portico's own answers"):
        r = p.get("/nowhere")
        tap.is_((r.status, r.body), (404, page), "404 (no route): the operator's page")
        tap.is_(r.header("Content-Type"), "text/html; charset=utf-8", "Content-Type from .html")
        tap.is_(r.header("Content-Length"), str(len(page)), "Content-Length is the file's")
        r = p.get("/down/x")
        tap.is_((r.status, r.body), (502, page), "502 (server refused): the page")
        r = p.get("/down/x", method="HEAD")
        tap.is_((r.status, r.body, r.header("Content-Length")), (502, b"", str(len(page))),
                "HEAD: the head alone, with the page's length")
        held = {}
        t = threading.Thread(target=lambda: held.update(r=p.get("/mc/slow/2")))
        t.start()
        wait_until(lambda: slow.hits("/mc/slow/2") == 1, 5)
        r = p.get("/mc/x")
        tap.is_((r.status, r.body), (503, page), "503 (max_conns): the page")
        tap.ok(r.header("Retry-After") is not None, "503 keeps its Retry-After")
        t.join()

    with subtest_guard("a route's page and intercept_errors"):
        b.script("/api/boom", status=500, headers=[("Content-Type", "text/plain")],
                 body=b"stack trace of the backend")
        b.script("/pass/boom", status=500, headers=[("Content-Type", "text/plain")],
                 body=b"stack trace of the backend")
        c = p.client()
        r = c.request("GET", "/api/boom")
        conns = b.conn_count()
        tap.is_((r.status, r.body), (500, open(js, "rb").read()),
                "intercept_errors: the backend's 500 gets the route's page")
        tap.is_(r.header("Content-Type"), "application/json", "Content-Type from .json")
        r = c.request("GET", "/api/ok/1")
        tap.is_(r.status, 200, "the client's connection goes on")
        tap.ok(b"stack trace" not in r.body, "nothing of the discarded body leaked")
        tap.is_(b.conn_count(), conns + 1, "the backend's connection was not reused after it",
               "%d -> %d" % (conns, b.conn_count()))
        c.close()
        r = p.get("/pass/boom")
        tap.is_((r.status, r.body), (500, b"stack trace of the backend"),
                "without intercept_errors the backend's body passes")
        b.script("/api/gone", status=404, body=b"backend 404")
        r = p.get("/api/gone")
        tap.is_((r.status, r.body), (404, open(js, "rb").read()),
                "the route's 404 page wins over [global]'s")

    with subtest_guard("reload reads the files again"):
        with open(html, "wb") as f:
            f.write(b"<p>new page</p>\n")
        p.signal("HUP")
        tap.ok(wait_until(lambda: p.get("/nowhere").body == b"<p>new page</p>\n", 10),
               "after a reload, the new page")

    with subtest_guard("a missing file is a config error with file:line"):
        for val, msg in [("404 /nonexistent/page.html", r"error_page /nonexistent/page\.html: "
                          r"No such file or directory"),
                         ("404 page.html", r"bad error_page '404 page\.html'"),
                         ("200 %s" % html, r"bad error_page status '200'")]:
            bad = text.replace("[route pass]\n", "[route pass]\nerror_page = %s\n" % val, 1)
            line = bad.split("\n").index("error_page = %s" % val) + 1
            path = os.path.join(p.tmp, "bad.ini")
            with open(path, "w") as f:
                f.write(bad)
            rc, out, err = run_portico(["-t", "-c", path])
            tap.is_(rc, 1, "error_page = %s: -t exits 1" % val, err)
            tap.like(err, r"(?m)^%s:%d: %s" % (re.escape(path), line, msg),
                     "error_page = %s: file:line and what is wrong" % val)
    p.stop()


if __name__ == "__main__":
    main(test, timeout=120, tests=22)
