#!/usr/bin/python3
# protocol = h2 for ordinary HTTP: nghttpd (nghttp2-server) as the server,
# prior knowledge and over TLS (ALPN h2).  HTTP/2 and HTTP/1.1 clients,
# a 4 MB answer whole, HEAD, a 404 passed on, a 1 MB request body with
# flow control, an HTTP/1.0 client, the server's trailers to an HTTP/2
# client as a trailing HEADERS frame, a cached answer served again from
# the cache, bad configurations refused with file:line.
import hashlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from portico_test import (tap, main, free_port, register, run_portico, subtest_guard,
                          wait_until, connect_refused)
from portico_tls import Certs, TLSPortico, have_openssl
from h2raw import H2

import threading

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions
import h2.settings


class Nghttpd:
    def __init__(self, docroot, tls=None, trailer=None):
        self.port = free_port()
        args = ["nghttpd", "-a", "127.0.0.1", "-d", docroot]
        if trailer:
            args += ["--trailer", trailer]
        if tls is None:
            args += ["--no-tls", str(self.port)]
        else:
            args += [str(self.port), tls[1], tls[0]]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        register(self)
        wait_until(lambda: not connect_refused(self.port), 10)
        self.addr = "127.0.0.1:%d" % self.port

    def cleanup(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)


class RawH2Server:
    """A python3-h2 server: SETTINGS_MAX_CONCURRENT_STREAMS max_streams, one
    thread per connection answering the requests of what it read, each
    after delay s, with
    "conn=N len=BODY" and a trailer x-done: 1; refuse_first: the next
    request gets RST_STREAM REFUSED_STREAM instead.  Counts connections,
    requests, and the most streams a connection had open at once."""

    def __init__(self, max_streams=2, delay=0.5):
        self.max_streams, self.delay = max_streams, delay
        self.lock = threading.Lock()
        self.conns = 0
        self.requests = []
        self.most_open = 0
        self.refuse_first = False
        self.ls = socket.socket()
        self.ls.bind(("127.0.0.1", 0))
        self.ls.listen(64)
        self.addr = "127.0.0.1:%d" % self.ls.getsockname()[1]
        self.stop = False
        threading.Thread(target=self.accept, daemon=True).start()
        register(self)

    def accept(self):
        while not self.stop:
            try:
                s, _ = self.ls.accept()
            except OSError:
                return
            with self.lock:
                self.conns += 1
                n = self.conns
            threading.Thread(target=self.serve, args=(s, n), daemon=True).start()

    def serve(self, s, n):
        cfg = h2.config.H2Configuration(client_side=False, header_encoding="utf-8")
        c = h2.connection.H2Connection(config=cfg)
        c.local_settings = h2.settings.Settings(client=False, initial_values={
            h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: self.max_streams})
        c.initiate_connection()
        s.sendall(c.data_to_send())
        bodies, paths, open_ = {}, {}, set()
        try:
            while True:
                data = s.recv(65536)
                if not data:
                    return
                ended = []
                for ev in c.receive_data(data):
                    if isinstance(ev, h2.events.RequestReceived):
                        paths[ev.stream_id] = dict(ev.headers).get(":path")
                        bodies[ev.stream_id] = b""
                        open_.add(ev.stream_id)
                        with self.lock:
                            self.most_open = max(self.most_open, len(open_))
                    elif isinstance(ev, h2.events.DataReceived):
                        bodies[ev.stream_id] += ev.data
                        c.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
                    elif isinstance(ev, h2.events.StreamEnded):
                        ended.append(ev.stream_id)
                s.sendall(c.data_to_send())
                for sid in ended:
                    with self.lock:
                        self.requests.append(paths[sid])
                        refuse, self.refuse_first = self.refuse_first, False
                    open_.discard(sid)
                    if refuse:
                        c.reset_stream(sid, h2.errors.ErrorCodes.REFUSED_STREAM)
                        continue
                    time.sleep(self.delay)
                    c.send_headers(sid, [(":status", "200"), ("content-type", "text/plain")])
                    c.send_data(sid, b"conn=%d len=%d" % (n, len(bodies[sid])))
                    c.send_headers(sid, [("x-done", "1")], end_stream=True)
                    s.sendall(c.data_to_send())
                    if paths[sid].endswith("/goaway"):
                        c.close_connection(last_stream_id=sid)
                        s.sendall(c.data_to_send())
                s.sendall(c.data_to_send())
        except OSError:
            pass
        except h2.exceptions.ProtocolError:
            # A stream portico opened before our GOAWAY reached it (the
            # two cross on the wire): h2 refuses it once closed; the
            # connection ends and portico sends that request again.
            pass
        finally:
            s.close()

    def cleanup(self):
        self.stop = True
        self.ls.close()


class Tmp:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="portico-h2up-")
        register(self)

    def cleanup(self):
        shutil.rmtree(self.dir, ignore_errors=True)


class H2T(H2):
    """h2raw's client, keeping trailers too."""

    def handle(self, ev):
        if isinstance(ev, h2.events.TrailersReceived):
            self.streams[ev.stream_id]["trailers"] = [
                (k.lower() if isinstance(k, str) else k, v) for k, v in ev.headers]
            return
        H2.handle(self, ev)


def curl(*args):
    r = subprocess.run(["curl", "-sS", "-i", "--max-time", "20"] + list(args),
                       capture_output=True)
    head, _, body = r.stdout.partition(b"\r\n\r\n")
    while head.startswith(b"HTTP/1.1 100"):
        head, _, body = body.partition(b"\r\n\r\n")
    return r.returncode, head.decode("latin-1"), body


def test():
    t = Tmp()
    doc = os.path.join(t.dir, "doc")
    os.makedirs(os.path.join(doc, "sub"))
    with open(os.path.join(doc, "small.txt"), "wb") as f:
        f.write(b"hello h2\n")
    with open(os.path.join(doc, "sub", "small.txt"), "wb") as f:
        f.write(b"hello tls\n")
    big = os.urandom(4 << 20)
    with open(os.path.join(doc, "big.bin"), "wb") as f:
        f.write(big)
    upload = os.path.join(t.dir, "upload")
    with open(upload, "wb") as f:
        f.write(os.urandom(1 << 20))
    ng = Nghttpd(doc, trailer="x-trailer: yes")
    have_tls = have_openssl()
    raw = RawH2Server()
    ups = {"n": {"servers": [ng.addr], "protocol": "h2"},
           "r": {"servers": [raw.addr], "protocol": "h2"}}
    routes = [dict(name="r", path="/r/", upstream="r"),
              dict(name="c", path="/c/", upstream="n", path_strip_prefix="/c", cache="on"),
              dict(name="n", path="/", upstream="n")]
    if have_tls:
        certs = Certs()
        pem, key = certs.issue("a", dns=["a.test"])
        ngs = Nghttpd(doc, tls=(pem, key))
        ups["s"] = {"servers": [ngs.addr + " tls"], "protocol": "h2", "tls_ca": certs.ca,
                    "tls_server_name": "a.test"}
        routes.insert(0, dict(name="s", path="/sub/", upstream="s"))
    port = free_port()
    p = TLSPortico(upstreams=ups, routes=routes, listeners={"web": ["127.0.0.1:%d" % port]},
                   listener_opts={"web": [("http2", "on")]},
                   extra="[cache]\nsize = 16m\n", workers=1)
    p.start()
    url = "http://127.0.0.1:%d" % port

    with subtest_guard("HTTP/2 and HTTP/1.1 clients"):
        rc, head, body = curl("--http2-prior-knowledge", url + "/small.txt")
        tap.like(head, r"^HTTP/2 200", "curl --http2-prior-knowledge: HTTP/2 200", head)
        tap.is_(body, b"hello h2\n", "... with the server's body")
        rc, head, body = curl("--http1.1", url + "/big.bin")
        tap.like(head, r"^HTTP/1.1 200", "curl --http1.1: HTTP/1.1 200", head)
        tap.is_(hashlib.sha256(body).hexdigest(), hashlib.sha256(big).hexdigest(),
                "... a 4 MB answer arrives whole")
        rc, head, body = curl("--http1.1", "-I", url + "/small.txt")
        tap.like(head, r"(?mi)^content-length: 9\r?$", "HEAD: the server's content-length",
                 head)
        rc, head, body = curl("--http1.1", url + "/nothere")
        tap.like(head, r"^HTTP/1.1 404", "the server's 404 is passed on", head)
        rc, head, body = curl("--http1.1", "--data-binary", "@" + upload, url + "/small.txt")
        tap.like(head, r"^HTTP/1.1 200", "a 1 MB request body goes up (HTTP/1.1 client)",
                 head)
        rc, head, body = curl("--http2-prior-knowledge", "--data-binary", "@" + upload,
                              url + "/small.txt")
        tap.like(head, r"^HTTP/2 200", "a 1 MB request body goes up (HTTP/2 client)", head)

    with subtest_guard("HTTP/1.0 client"):
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        s.sendall(b"GET /small.txt HTTP/1.0\r\nHost: a\r\n\r\n")
        data = b""
        while True:
            d = s.recv(65536)
            if not d:
                break
            data += d
        s.close()
        tap.ok(data.startswith(b"HTTP/1.1 200") and data.endswith(b"\r\n\r\nhello h2\n"),
               "an HTTP/1.0 client gets the answer, unchunked", data[:300])

    with subtest_guard("trailers to an HTTP/2 client"):
        c = H2T(port)
        sid = c.request("/small.txt", authority="127.0.0.1")
        c.pump(10, until=lambda: c.done(sid))
        tap.is_(c.status(sid), 200, "raw HTTP/2 client: 200")
        tap.is_(c.streams[sid].get("trailers"), [("x-trailer", "yes")],
                "the server's trailer field reaches it in a trailing HEADERS frame")
        c.close()

    with subtest_guard("cache"):
        curl("--http1.1", url + "/c/small.txt")
        rc, head, body = curl("--http1.1", url + "/c/small.txt")
        tap.like(head, r"(?mi)^cache-status: .*hit", "an h2 server's answer is cached", head)

    with subtest_guard("TLS with ALPN h2"):
        if have_tls:
            rc, head, body = curl("--http1.1", url + "/sub/small.txt")
            tap.like(head, r"^HTTP/1.1 200", "TLS upstream (ALPN h2): 200", head)
            tap.is_(body, b"hello tls\n", "... with the server's body")
        else:
            tap.skip("no openssl command", 2)

    with subtest_guard("a refused stream, max concurrent streams, trailers to HTTP/1.1"):
        raw.refuse_first = True
        rc, head, body = curl("--http1.1", "--data-binary", "abc", url + "/r/post")
        tap.like(head, r"^HTTP/1.1 200", "a POST whose stream the server refused is "
                 "sent again and answered", head + body.decode("latin-1"))
        tap.is_(raw.requests.count("/r/post"), 2, "... the server saw it twice")
        procs = [subprocess.Popen(["curl", "-sS", "--max-time", "20", "--http1.1",
                                   url + "/r/slow%d" % i], stdout=subprocess.PIPE)
                 for i in range(6)]
        outs = [pr.communicate()[0] for pr in procs]
        tap.ok(all(o.startswith(b"conn=") for o in outs), "6 concurrent requests answered",
               outs)
        tap.ok(1 <= raw.most_open <= 2 and raw.conns >= 2,
               "the server's limit of 2 streams is kept: more connections opened "
               "(%d connections, at most %d streams open on one)" % (raw.conns,
                                                                     raw.most_open))
        rc, head, body = curl("--http1.1", url + "/r/goaway")
        gone = body.split(b" ")[0]
        after = [curl("--http1.1", url + "/r/after%d" % i) for i in range(4)]
        tap.ok(head.startswith("HTTP/1.1 200") and gone.startswith(b"conn=") and
               all(a[1].startswith("HTTP/1.1 200") and a[2].startswith(b"conn=") and
                   a[2].split(b" ")[0] != gone for a in after),
               "after the server's GOAWAY the answer is whole and the connection is not "
               "used again", (head, body, after))
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        s.sendall(b"GET /r/t HTTP/1.1\r\nHost: a\r\nTE: trailers\r\n"
                  b"Connection: close\r\n\r\n")
        data = b""
        while True:
            d = s.recv(65536)
            if not d:
                break
            data += d
        s.close()
        tap.ok(b"transfer-encoding: chunked" in data.lower() and
               data.endswith(b"0\r\nx-done: 1\r\n\r\n"),
               "an HTTP/1.1 client gets the server's trailer in the chunked trailer section",
               data[-300:])

    with subtest_guard("access log"):
        tap.ok(wait_until(lambda: any('"GET /big.bin HTTP/1.1" 200 %d' % len(big) in l and
                                      ng.addr in l for l in p.access_lines()), 5),
               "the access log names the status, size and server")
    p.stop()

    with subtest_guard("bad configurations"):
        base = p.config_text()
        for bad, want, desc in (
                ("protocol = h3", r"portico\.ini:\d+: unknown protocol 'h3'",
                 "protocol = h3 is refused with file:line"),
                ("protocol = h2\nserver = 127.0.0.1:2 send_proxy=v1",
                 r"portico\.ini:\d+: .*cannot send_proxy",
                 "protocol = h2 with send_proxy is refused with file:line")):
            text = base.replace("[upstream n]\n", "[upstream x]\nserver = 127.0.0.1:1\n%s\n\n"
                                "[upstream n]\n" % bad)
            path = os.path.join(t.dir, "portico.ini")
            with open(path, "w") as f:
                f.write(text)
            rc, out, err = run_portico(["-t", "-c", path])
            tap.ok(rc != 0 and any(__import__("re").search(want, l)
                                   for l in (out + err).splitlines()), desc, out + err)


main(test, timeout=90, tests=24)
