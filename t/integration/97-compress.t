#!/usr/bin/python3
# Response compression (compress = on): gzip and brotli bodies decode to the
# backend's bytes; Accept-Encoding q-values pick the coding (br before gzip
# at equal weight, q=0 refuses, "*", identity); Vary: Accept-Encoding is
# added or merged; ETag weakened, Content-Length and Accept-Ranges dropped;
# nothing is compressed for Content-Encoding, no-transform, Range, HEAD,
# small bodies, other types or compress = off; a chunked backend answer;
# the cache stores the backend's bytes once and serves gzip, br and
# identity clients from it without another fetch; backend-compressed
# variants with Vary are stored apart; an HTTP/2 client (curl
# --compressed) gets the right body; bad keys are refused with file:line.
# Needs python3-brotli (Debian), hence /usr/bin/python3.
import gzip
import json
import os
import re
import subprocess
import sys
import zlib

import brotli

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from portico_test import (tap, main, Backend, Portico, subtest_guard, run_portico,
                          cache_section, free_port)

TEXT = b"".join(b"line %d of a compressible text body, said again and again\n" % i
                for i in range(2000))


def gunzip(b):
    return zlib.decompress(b, 16 + zlib.MAX_WBITS)


def ae(p, path, accept, method="GET", extra=()):
    h = [("Accept-Encoding", accept)] if accept is not None else []
    return p.get(path, headers=h + list(extra), method=method)


def curl(*args):
    r = subprocess.run(["curl", "-sS", "-i", "--max-time", "20"] + list(args),
                       capture_output=True)
    head, _, body = r.stdout.partition(b"\r\n\r\n")
    return r.returncode, head.decode("latin-1"), body


def test():
    b = Backend("b1")
    html = [("Content-Type", "text/html; charset=utf-8")]
    b.script("/t/text", headers=html + [("ETag", '"v1"'), ("Accept-Ranges", "bytes")],
             body=TEXT)
    b.script("/t/vary", headers=html + [("Vary", "Cookie")], body=TEXT)
    b.script("/t/varyae", headers=html + [("Vary", "accept-encoding")], body=TEXT)
    b.script("/t/encoded", headers=html + [("Content-Encoding", "gzip")],
             body=gzip.compress(TEXT))
    b.script("/t/notrans", headers=html + [("Cache-Control", "no-transform")], body=TEXT)
    b.script("/t/small", headers=html, body=b"tiny body")
    b.script("/t/binary", headers=[("Content-Type", "application/octet-stream")], body=TEXT)
    b.script("/t/chunked", headers=[("Content-Type", "application/json")], body=TEXT,
             chunked=True)
    b.script("/t/err", status=404, headers=html, body=TEXT)
    b.script("/t/svc", status=503, headers=html, body=TEXT)
    b.script("/c/obj", headers=html + [("Cache-Control", "max-age=60")], body=TEXT)
    b.script("/c/small", headers=html + [("Cache-Control", "max-age=60"), ("ETag", '"s1"')],
             body=TEXT[:3000])
    b.script("/c/pre", headers=lambda n, rec: html + [
        ("Cache-Control", "max-age=60"), ("Vary", "Accept-Encoding")] +
        ([("Content-Encoding", "gzip")] if "gzip" in dict(
            (k.lower(), v) for k, v in rec["headers"]).get("accept-encoding", "") else []),
        body=lambda n, rec: gzip.compress(TEXT) if "gzip" in dict(
            (k.lower(), v) for k, v in rec["headers"]).get("accept-encoding", "") else TEXT)
    h2c = free_port()
    p = Portico(upstreams={"app": [b.addr]},
                routes=[dict(name="t", path="/t/", upstream="app", compress="on",
                             compress_min_length="100"),
                        dict(name="c", path="/c/", upstream="app", compress="on", cache="on"),
                        dict(name="status", path="/_portico/", handler="status"),
                        dict(name="off", path="/", upstream="app")],
                workers=1, extra=cache_section(size="16m"))
    text = p.config_text()
    text += "\n[listener h2c]\nlisten = 127.0.0.1:%d\nhttp2 = on\n" % h2c
    p.write_config(text)
    p.start()

    with subtest_guard("gzip and brotli"):
        r = ae(p, "/t/text", "gzip")
        tap.is_((r.status, r.header("Content-Encoding")), (200, "gzip"), "gzip: Content-Encoding")
        tap.ok(gunzip(r.body) == TEXT, "gzip: the body decodes to the backend's bytes",
               "%d bytes" % len(r.body))
        tap.ok(len(r.body) < len(TEXT) // 5, "gzip: it is smaller",
               "%d of %d" % (len(r.body), len(TEXT)))
        tap.is_(r.header("Content-Length"), None, "no Content-Length")
        tap.is_(r.header("Transfer-Encoding"), "chunked", "HTTP/1.1: chunked")
        tap.is_(r.header("Vary"), "Accept-Encoding", "Vary: Accept-Encoding added")
        tap.is_(r.header("ETag"), 'W/"v1"', "ETag weakened")
        tap.is_(r.header("Accept-Ranges"), None, "Accept-Ranges dropped")
        r = ae(p, "/t/text", "br")
        tap.is_(r.header("Content-Encoding"), "br", "br: Content-Encoding")
        tap.ok(brotli.decompress(r.body) == TEXT, "br: the body decodes to the backend's bytes")
        r = ae(p, "/t/chunked", "gzip")
        tap.ok(r.header("Content-Encoding") == "gzip" and gunzip(r.body) == TEXT,
               "a chunked backend answer (application/json) is compressed whole")
        r = ae(p, "/t/err", "gzip")
        tap.ok(r.status == 404 and r.header("Content-Encoding") == "gzip" and
               gunzip(r.body) == TEXT, "404 is compressed (as nginx)")
        r = ae(p, "/t/svc", "gzip")
        tap.ok(r.status == 503 and r.header("Content-Encoding") is None and r.body == TEXT,
               "503 is not")

    with subtest_guard("Accept-Encoding"):
        for accept, want, desc in (
                ("gzip, br", "br", "br before gzip at equal weight"),
                ("br;q=0.5, gzip;q=1", "gzip", "br;q=0.5 vs gzip;q=1: gzip"),
                ("gzip;q=0, br;q=0", None, "q=0 refuses both"),
                ("gzip;q=0, *", "br", "* covers br, gzip refused"),
                ("*;q=0.1, gzip;q=0.2", "gzip", "* weaker than gzip"),
                ("identity", None, "identity alone"),
                ("x-gzip", "gzip", "x-gzip is gzip"),
                ("GZIP ; Q=0.9", "gzip", "case and spaces"),
                ("deflate, compress", None, "codings portico does not make"),
                (None, None, "no Accept-Encoding")):
            r = ae(p, "/t/text", accept)
            body = r.body
            if want == "gzip":
                body = gunzip(body)
            elif want == "br":
                body = brotli.decompress(body)
            tap.ok(r.header("Content-Encoding") == want and body == TEXT,
                   "%s: %s" % (desc, want or "identity"),
                   "got %r" % r.header("Content-Encoding"))
        r = ae(p, "/t/text", None)
        tap.ok(r.header("Vary") == "Accept-Encoding" and r.header("Content-Length") ==
               str(len(TEXT)) and r.header("ETag") == '"v1"',
               "identity: Vary added, length and strong ETag kept")

    with subtest_guard("Vary merged"):
        r = ae(p, "/t/vary", "gzip")
        tap.is_(sorted(v.lower() for v in r.header_all("Vary")), ["accept-encoding", "cookie"],
                "Vary: Cookie gets Accept-Encoding beside it")
        r = ae(p, "/t/varyae", "gzip")
        tap.is_([v.lower() for v in r.header_all("Vary")], ["accept-encoding"],
                "a Vary naming it already is left alone")

    with subtest_guard("not compressed"):
        r = ae(p, "/t/encoded", "gzip, br")
        tap.ok(r.header("Content-Encoding") == "gzip" and gunzip(r.body) == TEXT,
               "already encoded: passed as it is (not twice)")
        r = ae(p, "/t/notrans", "gzip")
        tap.ok(r.header("Content-Encoding") is None and r.body == TEXT,
               "Cache-Control: no-transform")
        r = ae(p, "/t/text", "gzip", extra=[("Range", "bytes=0-9")])
        tap.ok(r.header("Content-Encoding") is None, "a Range request")
        r = ae(p, "/t/text", "gzip", method="HEAD")
        tap.ok(r.header("Content-Encoding") is None and r.body == b"", "HEAD")
        r = ae(p, "/t/small", "gzip")
        tap.ok(r.header("Content-Encoding") is None and r.body == b"tiny body",
               "a body under compress_min_length")
        r = ae(p, "/t/binary", "gzip")
        tap.ok(r.header("Content-Encoding") is None and r.body == TEXT,
               "a type not listed")
        r = ae(p, "/text", "gzip")
        tap.ok(r.header("Content-Encoding") is None, "a route without compress")
        with p.client() as c:
            c.send(b"GET /t/text HTTP/1.0\r\nHost: x\r\nAccept-Encoding: gzip\r\n\r\n")
            r = c.read_response()
        tap.ok(r.header("Content-Encoding") is None and r.body == TEXT, "an HTTP/1.0 client")

    with subtest_guard("keep-alive after a compressed answer"):
        with p.client() as c:
            ok = True
            for accept in ("gzip", "br", "gzip", None):
                r = c.request("GET", "/t/text", [("Accept-Encoding", accept)] if accept else [])
                body = {"gzip": gunzip, "br": brotli.decompress}.get(accept, bytes)(r.body)
                ok = ok and r.status == 200 and body == TEXT
        tap.ok(ok, "four answers on one connection, compressed and not")

    with subtest_guard("cache"):
        r = ae(p, "/c/obj", None)
        tap.ok(r.body == TEXT and r.header("Content-Encoding") is None,
               "first request (identity): the original")
        seen = b.hits("/c/obj")
        r = ae(p, "/c/obj", "gzip")
        tap.ok(r.header("Content-Encoding") == "gzip" and gunzip(r.body) == TEXT and
               "hit" in (r.header("Cache-Status") or ""),
               "a gzip client: a hit, compressed", r.header("Cache-Status"))
        r = ae(p, "/c/obj", "br")
        tap.ok(r.header("Content-Encoding") == "br" and brotli.decompress(r.body) == TEXT,
               "a br client: compressed from the same object")
        r = ae(p, "/c/obj", "identity")
        tap.ok(r.header("Content-Encoding") is None and r.body == TEXT and
               r.header("Content-Length") == str(len(TEXT)), "identity: the original again")
        tap.is_(b.hits("/c/obj"), seen, "no other fetch from the backend")
        ae(p, "/c/small", None)
        r = ae(p, "/c/small", "gzip")
        r2 = ae(p, "/c/small", "br")
        tap.ok(gunzip(r.body) == TEXT[:3000] and r.header("ETag") == 'W/"s1"' and
               brotli.decompress(r2.body) == TEXT[:3000] and b.hits("/c/small") == 1,
               "a small stored object (sent from behind the head): gzip and br hits")
        r = ae(p, "/c/obj", "gzip", extra=[("Range", "bytes=10-19")])
        tap.ok(r.status == 206 and r.body == TEXT[10:20], "a range of the stored object")
        r1 = ae(p, "/c/pre", "gzip")
        r2 = ae(p, "/c/pre", None)
        r3 = ae(p, "/c/pre", "gzip")
        r4 = ae(p, "/c/pre", None)
        tap.ok(r1.header("Content-Encoding") == "gzip" and gunzip(r1.body) == TEXT and
               r2.header("Content-Encoding") is None and r2.body == TEXT,
               "backend-compressed variant and plain variant (Vary: Accept-Encoding)")
        tap.ok(r3.body == r1.body and r4.body == TEXT and
               b.hits("/c/pre") == 2, "each stored apart, each a hit after",
               "backend saw %d" % b.hits("/c/pre"))

    with subtest_guard("HTTP/2"):
        rc, head, body = curl("--http2-prior-knowledge", "--compressed",
                              "http://127.0.0.1:%d/t/text" % h2c)
        tap.ok(re.search(r"^HTTP/2 200", head) is not None and
               re.search(r"(?im)^content-encoding: (br|gzip)", head) is not None and
               body == TEXT, "curl --http2-prior-knowledge --compressed: decoded body", head)
        rc, head, body = curl("--http2-prior-knowledge", "-H", "Accept-Encoding: gzip",
                              "http://127.0.0.1:%d/c/obj" % h2c)
        tap.ok(re.search(r"(?im)^content-encoding: gzip", head) is not None and
               gunzip(body) == TEXT, "HTTP/2 cache hit, gzip", head)

    with subtest_guard("counters"):
        j = json.loads(p.get("/_portico/status").body)["compress"]
        tap.ok(j["answers"] >= 15 and 0 < j["bytes_out"] < j["bytes_in"] // 5,
               "status JSON: compressed answers, bytes in and out", repr(j))
        m = p.get("/_portico/metrics").body.decode()
        tap.like(m, r'(?m)^portico_compress_bytes_total\{direction="out"\} [1-9]',
                 "/metrics: portico_compress_bytes_total")

    with subtest_guard("config errors"):
        for key, bad in (("compress_level", "10"), ("compress_brotli_level", "12"),
                         ("compress_types", "text"), ("compress_types", "text/html/x"),
                         ("compress_algorithms", "deflate"), ("compress", "maybe")):
            cfg = os.path.join(p.tmp, "bad.ini")
            t = p.config_text().replace("[route t]\n", "[route t]\n%s = %s\n" % (key, bad), 1)
            with open(cfg, "w") as f:
                f.write(t)
            line = t.split("\n").index("%s = %s" % (key, bad)) + 1
            rc, out, err = run_portico(["-t", "-c", cfg])
            tap.ok(rc != 0 and ("bad.ini:%d:" % line) in err,
                   "%s = %s refused with file:line" % (key, bad), err.strip())


main(test, tests=55)
