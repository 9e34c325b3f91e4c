#!/usr/bin/env python3
"""t/fuzz/seeds.py: write the seed corpora of the libFuzzer targets.

    python3 t/fuzz/seeds.py      (from the top of the tree)

rewrites t/fuzz/corpus/fuzz_http/ (requests and responses, heads and
bodies: every shape the integration tests send or answer) and
t/fuzz/corpus/fuzz_cachepol/ (a request head, a NUL byte, a response head)
and t/fuzz/corpus/fuzz_uri/ (a flags byte, then a path) and
t/fuzz/corpus/fuzz_sfdict/ (targeted cache fields, lines split at LF)
and t/fuzz/corpus/fuzz_h2/ (a flags byte, then HTTP/2 frames).
The files are committed; rerun this after changing the lists below.
"""
import hashlib
import os
import shutil

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def req(method="GET", target="/", headers=(), body=b"", version="HTTP/1.1",
        host="example.com"):
    h = ["%s %s %s" % (method, target, version)]
    if host is not None:
        h.append("Host: " + host)
    h += ["%s: %s" % kv for kv in headers]
    return ("\r\n".join(h) + "\r\n\r\n").encode() + body


def resp(status=200, reason="OK", headers=(), body=b"", version="HTTP/1.1"):
    h = ["%s %d %s" % (version, status, reason)] + ["%s: %s" % kv for kv in headers]
    return ("\r\n".join(h) + "\r\n\r\n").encode() + body


def chunked(data, sizes=(1, 7, 100), ext=b"", trailers=b""):
    out, off, i = b"", 0, 0
    while off < len(data):
        k = min(sizes[i % len(sizes)], len(data) - off)
        out += b"%x%s\r\n" % (k, ext) + data[off:off + k] + b"\r\n"
        off += k
        i += 1
    return out + b"0\r\n" + trailers + b"\r\n"


DATE = "Tue, 15 Nov 1994 08:12:31 GMT"
LM = "Mon, 14 Nov 1994 08:12:31 GMT"
BODY = b"hello, world\n"

requests = [
    req(),
    req("GET", "/echo?a=1&b=2", [("User-Agent", "t"), ("Accept", "*/*")]),
    req("HEAD", "/head-test"),
    req("POST", "/echo", [("Content-Length", str(len(BODY))), ("Content-Type", "text/plain")], BODY),
    req("PUT", "/x", [("Content-Length", "0")]),
    req("DELETE", "/x"), req("OPTIONS", "*"), req("PATCH", "/p", [("Content-Length", "1")], b"x"),
    req("PURGE", "/cached"), req("BAN", "/prefix/"), req("TRACE", "/"),
    req("POST", "/echo", [("Transfer-Encoding", "chunked")], chunked(BODY)),
    req("POST", "/echo", [("Transfer-Encoding", "chunked")],
        chunked(BODY, (4,), b";ext=1;q=\"x\"", b"X-Trailer: 1\r\nX-Other: two\r\n")),
    req("POST", "/echo", [("Transfer-Encoding", "gzip, chunked")], chunked(b"")),
    req("POST", "/upload", [("Expect", "100-continue"), ("Content-Length", "5")], b"12345"),
    req("GET", "/", [], b"", "HTTP/1.0", None),
    req("GET", "/", [("Connection", "keep-alive")], b"", "HTTP/1.0"),
    req("GET", "http://example.com:8080/abs?q=1", [], b"", "HTTP/1.1", "other"),
    req("GET", "/", [("Connection", "close, X-Hop"), ("X-Hop", "1"), ("Keep-Alive", "timeout=5"),
                     ("TE", "trailers"), ("Upgrade", "h2c")]),
    req("GET", "/c", [("Cache-Control", "no-cache"), ("Pragma", "no-cache")]),
    req("GET", "/c", [("Cache-Control", "max-age=0, max-stale=10, min-fresh=5, only-if-cached")]),
    req("GET", "/c", [("Cache-Control", "no-store")]),
    req("GET", "/c", [("If-None-Match", "\"abc\", W/\"def\"")]),
    req("GET", "/c", [("If-None-Match", "*")]),
    req("GET", "/c", [("If-Modified-Since", DATE)]),
    req("GET", "/c", [("Range", "bytes=0-99")]),
    req("GET", "/c", [("Range", "bytes=-5, 10-, 3-4")]),
    req("GET", "/c", [("Range", "bytes=100-50")]),
    req("GET", "/c", [("Accept-Encoding", "gzip"), ("Accept-Language", "en"),
                      ("Cookie", "session=1; other=2")]),
    req("GET", "/c", [("Authorization", "Basic dTpw")]),
    req("GET", "/c", [("X-Forwarded-For", "10.0.0.1"), ("Forwarded", "for=10.0.0.1"),
                      ("Via", "1.1 proxy")]),
    req("GET", "/", [], b"", "HTTP/1.1", "[::1]:8080"),
    req("GET", "/a/b/../c/./d%20e", []),
    req("GET", "/p1", []) + req("GET", "/p2", []) + req("POST", "/p3", [("Content-Length", "2")], b"ok"),
]

responses = [
    resp(200, "OK", [("Content-Length", str(len(BODY)))], BODY),
    resp(200, "OK", [("Content-Type", "text/plain"), ("Transfer-Encoding", "chunked")],
         chunked(BODY * 3, (1, 7, 100))),
    resp(200, "OK", [("Transfer-Encoding", "chunked"), ("Trailer", "X-T")],
         chunked(BODY, (5,), b";name=val", b"X-T: done\r\n")),
    resp(200, "OK", [("Connection", "close")], BODY),
    resp(200, "OK", [("Content-Length", "0")], b"", "HTTP/1.0"),
    resp(204, "No Content"), resp(304, "Not Modified", [("ETag", "\"abc\"")]),
    resp(100, "Continue") + resp(200, "OK", [("Content-Length", "2")], b"ok"),
    resp(103, "Early Hints", [("Link", "</style.css>; rel=preload")]) +
    resp(200, "OK", [("Content-Length", "2")], b"ok"),
    resp(101, "Switching Protocols", [("Upgrade", "websocket"), ("Connection", "Upgrade")]),
    resp(404, "Not Found", [("Content-Length", "4")], b"nope"),
    resp(500, "Internal Server Error", [("Content-Length", "0")]),
    resp(502, "Bad Gateway", [("Content-Length", "0")]),
    resp(503, "Service Unavailable", [("Retry-After", "5"), ("Content-Length", "0")]),
    resp(301, "Moved Permanently", [("Location", "https://example.com/"), ("Content-Length", "0")]),
    resp(206, "Partial Content", [("Content-Range", "bytes 0-1/13"), ("Content-Length", "2")], b"he"),
    resp(416, "Range Not Satisfiable", [("Content-Range", "bytes */13"), ("Content-Length", "0")]),
    resp(200, "OK", [("Set-Cookie", "a=b; Path=/"), ("Content-Length", "2")], b"ok"),
    resp(200, "OK", [("Connection", "X-Hop-Secret"), ("X-Hop-Secret", "1"), ("Keep-Alive", "timeout=5"),
                     ("Proxy-Authenticate", "Basic"), ("Upgrade", "foo/1"), ("Content-Length", "0")]),
]

# Caching-relevant response heads (also used for the cachepol pairs).
cache_heads = [
    [("Cache-Control", "max-age=60")],
    [("Cache-Control", "public, s-maxage=120, max-age=10")],
    [("Cache-Control", "private, max-age=60")],
    [("Cache-Control", "private=\"Set-Cookie\", no-cache=\"X-Foo\", max-age=60")],
    [("Cache-Control", "no-store")],
    [("Cache-Control", "no-cache, must-revalidate, proxy-revalidate")],
    [("Cache-Control", "max-age=60, stale-while-revalidate=30, stale-if-error=600")],
    [("Cache-Control", "max-age=\"60\", immutable, no-transform")],
    [("Date", DATE), ("Expires", "Tue, 15 Nov 1994 09:12:31 GMT")],
    [("Date", DATE), ("Expires", "0")],
    [("Date", DATE), ("Last-Modified", LM)],
    [("Cache-Control", "max-age=60"), ("Age", "30"), ("Date", DATE)],
    [("Cache-Control", "max-age=60"), ("ETag", "\"v1\"")],
    [("Cache-Control", "max-age=60"), ("ETag", "W/\"weak\""), ("Last-Modified", LM)],
    [("Cache-Control", "max-age=60"), ("Vary", "Accept-Encoding")],
    [("Cache-Control", "max-age=60"), ("Vary", "Accept-Encoding, Accept-Language, Cookie")],
    [("Cache-Control", "max-age=60"), ("Vary", "*")],
    [("Cache-Control", "max-age=60"), ("Set-Cookie", "s=1")],
    [("Cache-Control", "max-age=60"), ("Accept-Ranges", "bytes")],
    [("Cache-Control", "max-age=60"), ("Location", "/moved"), ("Content-Location", "/other")],
    [("Date", "Sunday, 06-Nov-94 08:49:37 GMT"), ("Expires", "Sun Nov  6 08:49:37 1994")],
    [("Pragma", "no-cache")],
]
for h in cache_heads:
    responses.append(resp(200, "OK", h + [("Content-Length", str(len(BODY)))], BODY))

pairs = []
cache_reqs = [r for r in requests if b"/c " in r or r.startswith(b"GET / ")][:14] + [
    req("PURGE", "/c"), req("POST", "/c", [("Content-Length", "0")]), req("HEAD", "/c")]
statuses = [(200, "OK"), (203, "OK"), (206, "Partial Content"), (301, "Moved"), (304, "Not Modified"),
            (404, "Not Found"), (410, "Gone"), (500, "Error"), (503, "Unavailable")]
for i, r in enumerate(cache_reqs):
    for j, h in enumerate(cache_heads):
        if (i + j) % 3:
            continue
        st = statuses[(i + j) % len(statuses)] if (i + j) % 2 else (200, "OK")
        pairs.append(r.split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n" + b"\0" +
                     resp(st[0], st[1], h + [("Content-Length", "13")]))


def write(name, items):
    d = os.path.join(TOP, "t", "fuzz", "corpus", name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    for data in items:
        with open(os.path.join(d, hashlib.sha1(data).hexdigest()[:16]), "wb") as f:
            f.write(data)
    return len(items)


# Paths for the normalizer: the bypass spellings of issue 9, the RFC 3986
# 5.4 reference results and ordinary ones, each under a few flag bytes.
paths = [b"/", b"/admin/", b"/%61dmin/", b"/admin%2Fx", b"//admin/",
         b"/x/%2e%2e/admin/", b"/%2e/admin/", b"/%2E%2E/admin/", b"/admin%00/",
         b"/a/b/c/./../../g", b"/mid/content=5/../6", b"/a/./b/../c/",
         b"/..", b"/../a", b"/a\\b", b"/%7Euser/%7e/x", b"/caf%C3%A9/",
         b"/static/app.js", b"/a//b///c", b"/a/%2F/b", b"/.%2e/x", b"/%zz"]
uris = [bytes([f]) + p for f in (0, 1, 2, 31) for p in paths]

# Targeted cache fields (RFC 9213) as RFC 8941 Dictionaries, valid and not.
sfdicts = [b"max-age=60", b"max-age=60, no-store", b"s-maxage=600, must-revalidate",
           b"no-cache, private", b"private=\"set-cookie\"", b"max-age=?1",
           b"max-age=1.5", b"max-age=-1", b"a=(1 2 \"x\");p=?0, b=:aGk=:;q",
           b"max-age=60\nno-store", b"max-age=60,\n", b"Max-Age=60",
           b"stale-while-revalidate=30, stale-if-error=600, max-age=5",
           b"must-understand, no-store, max-age=60", b"a=tok/en:x*, b=*",
           b"a=\"x\nb\"", b"  max-age=60  ", b"max-age=60,,no-store"]

# Client address fields from trusted proxies (worker/realip.c): the first
# byte picks X-Forwarded-For (0), Forwarded (1) or X-Real-IP (2), and 10/8
# trusted (+0), everything (+3) or nothing (+6).
realips = [bytes([m]) + v for m in (0, 3, 6) for v in (
    b"192.0.2.1", b"6.6.6.6, 192.0.2.1, 10.0.0.1", b"10.9.9.9, 10.0.0.1",
    b"2001:db8::1, fd00::2", b" 192.0.2.1 ,, 10.0.0.1,", b"192.0.2.1:80",
    b"6.6.6.6\n10.0.0.5", b"", b"unknown")] + \
    [bytes([m]) + v for m in (1, 4, 7) for v in (
        b"for=192.0.2.60;proto=http;by=203.0.113.43",
        b"for=6.6.6.6, for=\"[2001:db8::7]:4711\", for=10.0.0.9",
        b"for=unknown", b"for=_hidden, for=10.0.0.1", b"for=\"192.0.2.1",
        b"for=10.0.0.2;host=\"a;b,c\", for=10.0.0.1", b"For=\"\\192.0.2.9\"")] + \
    [bytes([m]) + v for m in (2, 5, 8) for v in (b"192.0.2.3", b"192.0.2.3, 10.0.0.1")]

# PROXY protocol headers, v1 and v2, valid and not, some with a request.
import struct
V2SIG = b"\r\n\r\n\x00\r\nQUIT\n"


def v2hdr(cmd, fam, body):
    return V2SIG + bytes([0x20 | cmd, fam]) + struct.pack("!H", len(body)) + body


pps = [b"PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n",
       b"PROXY TCP6 2001:db8::1 ::1 0 65535\r\nGET / HTTP/1.1\r\n\r\n",
       b"PROXY UNKNOWN\r\n", b"PROXY UNKNOWN ::1 ::1 1 2\r\n",
       b"PROXY TCP4 ::1 1.2.3.4 1 2\r\n", b"PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n",
       b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n", b"GET / HTTP/1.1\r\n\r\n",
       v2hdr(1, 0x11, bytes(range(12))), v2hdr(1, 0x11, bytes(12) + b"\x01\x00\x02h2"),
       v2hdr(1, 0x21, bytes(range(36))), v2hdr(0, 0x00, b""), v2hdr(1, 0x00, b""),
       v2hdr(0, 0x31, bytes(216)), v2hdr(1, 0x21, bytes(12)), v2hdr(1, 0x12, bytes(12)),
       V2SIG + b"\x21\x11\x02\x00" + bytes(12),
       v2hdr(1, 0x11, bytes(12) + b"\x01\x00\x02h2\x02\x00\x03a.b\x05\x00\x01Z"
             b"\x20\x00\x17\x01\x00\x00\x00\x00\x21\x00\x07TLSv1.3\x23\x00\x05C-AES"),
       v2hdr(1, 0x21, bytes(36) + b"\x20\x00\x08\x01\x00\x00\x00\x00\x21\x00\x05ABCDE"),
       v2hdr(1, 0x11, bytes(12) + b"\x01\x00\x02h2\x01\x00\x02h3"),
       v2hdr(1, 0x11, bytes(12) + b"\x05\x00\x09Z")]

BC = b"$2y$05$abcdefghijklmnopqrstuuhBFXJDV6yx5nTCwFTS8uPt0axQ4dFla"
YS = b"$y$j9T$3zPz7zEXGrlFIybYZ3Z8m1$874w/kdvbl4dIPUd2NPx.4P5qRkBrl.0B8DpFWi22aD"
htpasswds = [b"alice:" + BC + b"\n", b"# users\r\n\r\nalice:" + BC + b"\r\nbob:" + YS,
             b"bob:$5$saltsalt$7ZGWkmUoUVzqZ5kmo8BWDCBQyOt9XhvsyWd9nBiCp.B:comment\n",
             b"c:$6$rounds=5000$saltsalt$" + b"a" * 86 + b"\n",
             b"c:$7$CU..../....abcdefgh$874w/kdvbl4dIPUd2NPx.4P5qRkBrl.0B8DpFWi22aD\n",
             b"bob:$apr1$abcdefgh$IQtUouv7y7Q9dRWkQEPCc.\n", b"bob:plain\n",
             b"bob:" + BC + b"\nbob:" + YS + b"\n", b"\n#\n"]

# Accept-Encoding fields (common/acceptenc.c), lines split at LF.
acceptencs = [b"gzip", b"gzip, deflate, br", b"br;q=0.5, gzip;q=1", b"gzip;q=0, br;q=0",
              b"*", b"*;q=0.1, gzip;q=0.2", b"identity", b"x-gzip", b"GZIP ; Q=0.9",
              b"gzip;q=2", b"gzip;q=0.1234", b"gzip;level=1;q=0.2", b"gzip;q=0.5\nbr;q=0.8",
              b",,, br ,", b"br;q=", b"gzip;=1", b"deflate, compress;q=0.5"]
# fuzz_h2: a flags byte (fuzz_h2.c), then frames as h2raw.py builds
# them after the preface, their header blocks in HPACK by hand (indexed
# static fields and literals without indexing).
def h2f(ftype, flags, stream, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + \
        struct.pack(">I", stream) + payload


def hpack(fields):
    out = b""
    for n, v in fields:
        n, v = n.encode(), v.encode()
        out += b"\x00" + bytes([len(n)]) + n + bytes([len(v)]) + v
    return out


H2GET = [(":method", "GET"), (":scheme", "http"), (":path", "/"), (":authority", "a.test")]
H2WS = [(":method", "CONNECT"), (":protocol", "websocket"), (":scheme", "http"),
        (":path", "/ws"), (":authority", "a.test"), ("sec-websocket-version", "13"),
        ("sec-websocket-protocol", "chat")]
SET = h2f(4, 0, 0, struct.pack(">HI", 3, 100) + struct.pack(">HI", 4, 65535) +
          struct.pack(">HI", 8, 1))
ACK = h2f(4, 1, 0)
h2s = []
for flags in (0, 1, 2, 4, 0x14, 0x2c):
    h2s += [
        bytes([flags]) + SET + ACK + h2f(1, 5, 1, b"\x82\x86\x84\x41\x06a.test"),
        bytes([flags]) + SET + h2f(1, 5, 1, hpack(H2GET + [("cookie", "a=1"), ("cookie", "b=2")])),
        bytes([flags]) + SET + h2f(1, 4, 1, hpack([(":method", "POST")] + H2GET[1:]))
        + h2f(0, 0, 1, b"hello") + h2f(0, 1, 1, b"world"),
        bytes([flags]) + SET + h2f(1, 4, 1, hpack(H2WS)) + h2f(0, 0, 1, b"\x81\x85abcd" + b"x" * 5)
        + h2f(3, 0, 1, struct.pack(">I", 8)),
        bytes([flags]) + SET + h2f(1, 4, 1, hpack(H2WS)) + h2f(0, 1, 1, b"bye"),
        bytes([flags]) + SET + h2f(1, 4, 1, hpack([(":method", "CONNECT"), (":authority", "a:443")])),
        bytes([flags]) + SET + h2f(1, 0, 1, hpack(H2GET)[:10]) + h2f(9, 0, 1, hpack(H2GET)[10:20])
        + h2f(9, 4, 1, hpack(H2GET)[20:]),
        bytes([flags]) + SET + h2f(1, 4, 1, hpack(H2GET)) + h2f(0, 0, 1, b"body")
        + h2f(1, 5, 1, hpack([("x-trailer", "1")])),
        bytes([flags]) + SET + b"".join(h2f(1, 5, i, hpack(H2GET)) + h2f(3, 0, i, struct.pack(">I", 8))
                                        for i in range(1, 40, 2)),
        bytes([flags]) + SET + b"".join(h2f(6, 0, 0, b"12345678") for _ in range(20)),
        bytes([flags]) + SET + h2f(2, 0, 1, struct.pack(">IB", 0, 16)) + h2f(8, 0, 0, struct.pack(">I", 1000))
        + h2f(7, 0, 0, struct.pack(">II", 0, 0)),
        bytes([flags]) + SET + h2f(1, 5, 1, hpack(H2GET + [("x-big", "v" * 120)] * 40)),
        # The fields worker/h2_field.c keeps apart: Cookie crumbs with a
        # Host between them (the crumbs move), Sec-WebSocket-Key dropped
        # on an extended CONNECT, pseudo-headers longer than the small buffer.
        bytes([flags]) + SET + h2f(1, 5, 1, hpack(H2GET[:3] + [("cookie", "a=1"), ("host", "a.test"),
                                                 ("cookie", "b=2"), ("cookie", "c=3")])),
        bytes([flags]) + SET + h2f(1, 4, 1, hpack(H2WS + [("sec-websocket-key", "x" * 24)])),
        bytes([flags]) + SET + h2f(1, 5, 1, hpack([(":method", "GET"), (":scheme", "http"),
                                                  (":path", "/" + "p" * 120),
                                                  (":authority", "a.test")])),
    ]

n1 = write("fuzz_http", requests + responses)
n2 = write("fuzz_cachepol", pairs)
n3 = write("fuzz_uri", uris)
n4 = write("fuzz_sfdict", sfdicts)
n5 = write("fuzz_realip", realips)
n6 = write("fuzz_proxyproto", pps)
n7 = write("fuzz_htpasswd", htpasswds)
n8 = write("fuzz_acceptenc", acceptencs)
n9 = write("fuzz_h2", h2s)
print("fuzz_http: %d seeds, fuzz_cachepol: %d seeds, fuzz_uri: %d seeds, "
      "fuzz_sfdict: %d seeds, fuzz_realip: %d seeds, fuzz_proxyproto: %d seeds, "
      "fuzz_htpasswd: %d seeds, fuzz_acceptenc: %d seeds, fuzz_h2: %d seeds"
      % (n1, n2, n3, n4, n5, n6, n7, n8, n9))
