#!/usr/bin/env python3
# Following a request (request_id, request_id_header, trace): the id is
# made by portico (32 lowercase hex digits, unique across 4 workers and a
# restart), or taken from a trusted proxy's X-Request-ID when sane; it
# reaches the backend and the client, the access log line and the error
# log lines about the request.  W3C trace context: a valid traceparent
# passes (with tracestate), an invalid one is dropped with its
# tracestate; with trace = on portico starts a trace or sends a child
# span, and logs trace_id and span_id.  PROXY v2 TLVs (ALPN, AUTHORITY,
# UNIQUE_ID, SSL version and cipher) are written in the access log line;
# a TLV longer than its header is refused.
import os
import re
import socket
import struct
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from portico_test import (tap, main, Backend, Portico, subtest_guard, wait_until, hget,
                          hall, free_port, get, refused_port, run_portico, cache_section, cs,
                          CS_HIT)

HEX32 = re.compile(r"^[0-9a-f]{32}$")
TP = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")


def test():
    b = Backend("b1")
    p1, p2 = free_port(), free_port()
    down = refused_port()
    p = Portico(listeners={"web": ["127.0.0.1:%d" % p1], "edge": ["127.0.0.1:%d" % p2]},
                upstreams={"app": [b.addr], "down": ["127.0.0.1:%d" % down]},
                routes=[dict(name="down", path="/down/", upstream="down"),
                        dict(name="c", path="/c/", upstream="app", cache="on"),
                        dict(name="main", path="/", upstream="app")],
                workers=4, extra=cache_section(size="8m"),
                global_opts={"trusted_proxies": "127.0.0.0/8", "request_id": "on"})
    text = p.config_text()
    text = text.replace("[listener edge]\n", "[listener edge]\ntrusted_proxies = 10.0.0.0/8\n")
    p.write_config(text)
    p.start()

    def seen(path):
        reqs = b.requests_for(path)
        return reqs[-1]["headers"] if reqs else []

    def logged(path):
        def f():
            for l in p.access_lines():
                if ('"GET %s HTTP/1.1"' % path) in l:
                    return l
            return None
        return wait_until(f, 5) or ""

    with subtest_guard("bad request_id_header refused with file:line"):
        bad = text.replace("[global]\n", "[global]\nrequest_id_header = X Id\n", 1)
        line = bad.split("\n").index("request_id_header = X Id") + 1
        path = os.path.join(p.tmp, "bad.ini")
        with open(path, "w") as f:
            f.write(bad)
        rc, out, err = run_portico(["-t", "-c", path])
        tap.is_(rc, 1, "-t exits 1", err)
        tap.like(err, r"(?m)^%s:%d: bad request_id_header" % (re.escape(path), line),
                 "file:line and what is wrong")

    with subtest_guard("generated ids"):
        r = get(p1, "/g/1")
        rid = r.header("X-Request-ID") or ""
        tap.like(rid, HEX32.pattern, "the client gets a 128-bit id in hex")
        tap.is_(hall(seen("/g/1"), "X-Request-ID"), [rid], "the backend gets the same id, once")
        tap.like(logged("/g/1"), r" request_id=%s$" % rid, "the access log line ends with it")
        ids = set()
        for i in range(400):
            ids.add(get(p1, "/u/%d" % i).header("X-Request-ID"))
        tap.is_(len(ids), 400, "400 requests on 400 connections to 4 workers: 400 ids")
        tap.ok(all(HEX32.match(i or "") for i in ids), "all 32 lowercase hex digits")
        prefixes = {i[:16] for i in ids}
        tap.ok(len(prefixes) >= 2, "more than one worker made them",
               "%d worker prefixes" % len(prefixes))

    with subtest_guard("taken from a trusted proxy only, and only when sane"):
        r = get(p1, "/t/1", headers=[("X-Request-ID", "lb-7f3a:42")])
        tap.is_(r.header("X-Request-ID"), "lb-7f3a:42", "trusted peer: the client gets its id")
        tap.is_(hall(seen("/t/1"), "X-Request-ID"), ["lb-7f3a:42"], "and the backend")
        tap.like(logged("/t/1"), r" request_id=lb-7f3a:42$", "and the access log")
        r = get(p2, "/t/2", headers=[("X-Request-ID", "lb-7f3a:43")])
        rid = r.header("X-Request-ID") or ""
        tap.like(rid, HEX32.pattern, "untrusted peer: replaced by a generated id")
        tap.is_(hall(seen("/t/2"), "X-Request-ID"), [rid], "the backend sees only ours")
        for i, v in enumerate(["a" * 65, "has space", "semi;colon", "quote\"d"]):
            path = "/t/bad%d" % i
            r = get(p1, path, headers=[("X-Request-ID", v)])
            got = r.header("X-Request-ID") or ""
            tap.like(got, HEX32.pattern, "trusted peer, insane %r: replaced" % v[:12])
            tap.is_(hall(seen(path), "X-Request-ID"), [got], "insane %r: not forwarded" % v[:12])

    with subtest_guard("error log lines about the request"):
        r = get(p1, "/down/x")
        rid = r.header("X-Request-ID") or ""
        tap.is_(r.status, 502, "a refused server: 502")
        tap.like(rid, HEX32.pattern, "portico's own answer carries the id")
        tap.ok(p.wait_log(r"upstream down .* request_id=%s$" % rid),
               "the error log line about it ends with request_id=ID", p.error_log()[-600:])
        tap.like(logged("/down/x"), r" request_id=%s$" % rid, "the access log has the same")
        b.script("/echo", headers=[("X-Request-ID", "backend-says")], body=b"x")
        r = get(p1, "/echo", headers=[("X-Request-ID", "cli-1")])
        tap.is_(r.header_all("X-Request-ID"), ["cli-1"],
                "a backend's own X-Request-ID is replaced, not doubled")

    with subtest_guard("a cache hit has its own id"):
        b.script("/c/obj", headers=[("Cache-Control", "max-age=60"),
                                    ("X-Request-ID", "backend-id")], body=b"o")
        r1 = get(p1, "/c/obj")
        r2 = get(p1, "/c/obj")
        tap.like(cs(r2), CS_HIT, "the second is a hit")
        ids2 = r2.header_all("X-Request-ID")
        tap.ok(len(ids2) == 1 and HEX32.match(ids2[0]) and
               ids2[0] != r1.header("X-Request-ID"),
               "one id, the hit's own (not the stored backend's nor the first's)", str(ids2))

    with subtest_guard("traceparent passed through and validated (trace off)"):
        good = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        r = get(p1, "/tp/good", headers=[("traceparent", good), ("tracestate", "congo=t61rcWkgMzE")])
        h = seen("/tp/good")
        tap.is_(hall(h, "traceparent"), [good], "a valid traceparent passes unchanged")
        tap.is_(hall(h, "tracestate"), ["congo=t61rcWkgMzE"], "with its tracestate")
        tap.like(logged("/tp/good"), r" trace_id=4bf92f3577b34da6a3ce929d0e0e4736 "
                 r"span_id=00f067aa0ba902b7$", "the access log has trace_id and span_id")
        bads = ["00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
                "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
                "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
                "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x",
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
                "00_4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7_01"]
        for i, v in enumerate(bads):
            path = "/tp/bad%d" % i
            r = get(p1, path, headers=[("traceparent", v), ("tracestate", "a=b")])
            tap.is_(r.status, 200, "invalid %d: still answered" % i)
            h = seen(path)
            tap.is_((hall(h, "traceparent"), hall(h, "tracestate")), ([], []),
                    "invalid %d: traceparent and tracestate dropped" % i)
        get(p1, "/tp/two", headers=[("traceparent", good), ("traceparent", good)])
        tap.is_(hall(seen("/tp/two"), "traceparent"), [], "two traceparent fields: dropped")
        later = "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-the-future-says"
        get(p1, "/tp/later", headers=[("traceparent", later)])
        tap.is_(hall(seen("/tp/later"), "traceparent"), [later], "a later version passes")
    p.stop()

    with subtest_guard("ids after a restart are new"):
        p.start()
        again = {get(p1, "/r/%d" % i).header("X-Request-ID") for i in range(50)}
        tap.is_(len(again & ids), 0, "none of 50 ids after a restart was seen before")
        p.stop()

    with subtest_guard("trace = on"):
        q = Portico(upstreams={"app": [b.addr]}, global_opts={"trace": "on"})
        q.start()
        r = q.get("/tr/new")
        tp = hall(b.requests_for("/tr/new")[-1]["headers"], "traceparent")
        m = TP.match(tp[0] if tp else "")
        tap.ok(m is not None and m.group(3) == "01", "no traceparent: one is started (sampled)",
               str(tp))
        tap.is_(r.header("X-Request-ID"), None, "request_id off (the default): no id field")
        line = wait_until(lambda: [l for l in q.access_lines() if "/tr/new" in l], 5)
        if m:
            tap.like(line[0] if line else "", r" trace_id=%s span_id=%s$" % (m.group(1), m.group(2)),
                     "the access log has the new trace and portico's span")
        else:
            tap.ok(False, "the access log has the new trace and portico's span")
        good = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"
        q.get("/tr/child", headers=[("traceparent", good), ("tracestate", "k=v")])
        h = b.requests_for("/tr/child")[-1]["headers"]
        tp = hall(h, "traceparent")
        m = TP.match(tp[0] if len(tp) == 1 else "")
        tap.ok(m is not None and m.group(1) == "4bf92f3577b34da6a3ce929d0e0e4736" and
               m.group(2) != "00f067aa0ba902b7" and m.group(3) == "00",
               "a client's trace: the backend gets a child span (same trace, new parent, "
               "same flags)", str(tp))
        tap.is_(hall(h, "tracestate"), ["k=v"], "its tracestate passes")
        q.get("/tr/bad", headers=[("traceparent", "00-xyz"), ("tracestate", "k=v")])
        h = b.requests_for("/tr/bad")[-1]["headers"]
        tap.ok(len(hall(h, "traceparent")) == 1 and TP.match(hall(h, "traceparent")[0]) and
               "xyz" not in hall(h, "traceparent")[0] and hall(h, "tracestate") == [],
               "an invalid one: a new trace, its tracestate dropped", str(h))
        q.stop()

    with subtest_guard("PROXY v2 TLVs in the access log"):
        pp_port = free_port()
        w = Portico(listeners={"pp": ["127.0.0.1:%d" % pp_port]},
                    upstreams={"app": [b.addr]})
        w.write_config(w.config_text().replace("[listener pp]\n",
                                               "[listener pp]\nproxy_protocol = on\n"))
        w.start()
        sig = b"\r\n\r\n\x00\r\nQUIT\n"

        def tlv(t, v):
            return bytes([t]) + struct.pack("!H", len(v)) + v

        def send(tlvs, path):
            body = (socket.inet_aton("198.51.100.9") + socket.inet_aton("127.0.0.1") +
                    struct.pack("!HH", 40000, 443) + tlvs)
            hdr = sig + bytes([0x21, 0x11]) + struct.pack("!H", len(body)) + body
            s = socket.create_connection(("127.0.0.1", pp_port), timeout=5)
            s.sendall(hdr + ("GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                             % path).encode())
            data = b""
            while True:
                try:
                    d = s.recv(65536)
                except OSError:
                    break
                if not d:
                    break
                data += d
            s.close()
            return data

        ssl = tlv(0x20, b"\x01\x00\x00\x00\x00" + tlv(0x21, b"TLSv1.3") +
                  tlv(0x22, b"client") + tlv(0x23, b"TLS_AES_128_GCM_SHA256"))
        tl = (tlv(0x01, b"h2") + tlv(0x02, b"shop.example") + tlv(0x04, b"\x00\x00") + ssl +
              tlv(0x05, b"lb-id 1"))
        out = send(tl, "/pp/tlv")
        tap.like(out.decode("latin-1"), r"^HTTP/1\.1 200", "a header with TLVs: answered")
        line = wait_until(lambda: [l for l in w.access_lines() if "/pp/tlv" in l], 5)
        tap.like(line[0] if line else "", r"^198\.51\.100\.9 .* pp_alpn=h2 "
                 r"pp_authority=shop\.example pp_unique_id=lb-id\\x201 pp_ssl_version=TLSv1\.3 "
                 r"pp_ssl_cipher=TLS_AES_128_GCM_SHA256$",
                 "the access log has the TLVs, escaped", line)
        send(b"", "/pp/none")
        line = wait_until(lambda: [l for l in w.access_lines() if "/pp/none" in l], 5)
        tap.ok(line and "pp_" not in line[0], "without TLVs: no pp_ field", line)
        out = send(b"\x01\x00\x09h2", "/pp/bad")
        tap.ok(not out.startswith(b"HTTP/1.1 200"), "a TLV longer than its header: refused")
        bad_ssl = tlv(0x20, b"\x01\x00\x00\x00\x00" + b"\x21\x00\x40TLS")
        out = send(bad_ssl, "/pp/bad2")
        tap.ok(not out.startswith(b"HTTP/1.1 200"), "an SSL sub-TLV past its TLV: refused")
        # The message is written once a second at most per worker (the
        # harness's own probe may have taken this second's): send again
        # until it shows.
        rx = r"PROXY protocol header refused: version 2 TLV longer than the header"
        tap.ok(wait_until(lambda: w.wait_log(rx, 0.3) or send(b"\x01\x00\x09h2", "/pp/b") and
                          None, 10),
               "the refusal is logged with the reason", w.error_log()[-1500:])
        w.stop()


if __name__ == "__main__":
    main(test, timeout=120, tests=63)
