#!/usr/bin/python3
# protocol = h2 gaps (issue 11): request trailers (pass_request_trailers)
# from an HTTP/2 client and from an HTTP/1.1 chunked client reach the h2
# server as a trailing HEADERS frame (a denied field filtered out);
# health_check = GET /path probes an h2 server over HTTP/2 (prior
# knowledge, and TLS with ALPN h2): a wrong status takes it down, the
# right one brings it back; an HTTP/1.1 TLS server's probes pass; a reload that changes an upstream's protocol names it in the
# summary and the next requests use it.  The server is python3-h2 and
# also answers HTTP/1.1, saying which protocol it was asked in.
import os
import re
import socket
import ssl
import sys
import threading

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from portico_test import (exchange_to_eof as exchange, tap, main, register, subtest_guard, wait_until,
                          Portico)
from h2raw import H2
from portico_tls import Certs, have_openssl

import h2.config
import h2.connection
import h2.events
import h2.exceptions

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


class Server:
    """HTTP/2 (prior knowledge) or HTTP/1.1 by the first bytes.  Records,
    per path, the request trailers it got (HTTP/2) and the body; paths
    under /health get self.health_status, others 200 "h2 len=N"
    (HTTP/1.1: "http1")."""

    def __init__(self, tls=None, alpn=("h2",)):
        self.ctx = None
        if tls is not None:
            self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.ctx.load_cert_chain(tls[0], tls[1])
            self.ctx.set_alpn_protocols(list(alpn))
        self.lock = threading.Lock()
        self.trailers = {}
        self.bodies = {}
        self.probes = 0
        self.health_status = 200
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
            threading.Thread(target=self.serve, args=(s,), daemon=True).start()

    def serve(self, s):
        try:
            s.settimeout(30)
            if self.ctx is not None:
                s = self.ctx.wrap_socket(s, server_side=True)
            data = b""
            while len(data) < len(PREFACE) and PREFACE.startswith(data):
                d = s.recv(65536)
                if not d:
                    return
                data += d
            if data.startswith(PREFACE):
                self.serve_h2(s, data)
            else:
                self.serve_h1(s, data)
        except (OSError, ssl.SSLError, h2.exceptions.ProtocolError):
            pass
        finally:
            s.close()

    def serve_h1(self, s, data):
        while b"\r\n\r\n" not in data:
            d = s.recv(65536)
            if not d:
                return
            data += d
        if data.startswith(b"GET /health"):
            with self.lock:
                self.probes += 1
        s.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhttp1")

    def serve_h2(self, s, data):
        cfg = h2.config.H2Configuration(client_side=False, header_encoding="utf-8")
        c = h2.connection.H2Connection(config=cfg)
        c.initiate_connection()
        s.sendall(c.data_to_send())
        paths, bodies = {}, {}
        while True:
            ended = []
            for ev in c.receive_data(data):
                if isinstance(ev, h2.events.RequestReceived):
                    paths[ev.stream_id] = dict(ev.headers).get(":path")
                    bodies[ev.stream_id] = b""
                elif isinstance(ev, h2.events.DataReceived):
                    bodies[ev.stream_id] += ev.data
                    c.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
                elif isinstance(ev, h2.events.TrailersReceived):
                    with self.lock:
                        self.trailers[paths[ev.stream_id]] = list(ev.headers)
                elif isinstance(ev, h2.events.StreamEnded):
                    ended.append(ev.stream_id)
            for sid in ended:
                path = paths[sid]
                with self.lock:
                    self.bodies[path] = bodies[sid]
                if path.startswith("/health"):
                    with self.lock:
                        self.probes += 1
                        st = self.health_status
                    c.send_headers(sid, [(":status", str(st))])
                    c.send_data(sid, b"health", end_stream=True)
                else:
                    c.send_headers(sid, [(":status", "200")])
                    c.send_data(sid, b"h2 len=%d" % len(bodies[sid]), end_stream=True)
            s.sendall(c.data_to_send())
            data = s.recv(65536)
            if not data:
                return

    def cleanup(self):
        self.stop = True
        self.ls.close()


def state_seen(p, ups, addr, what, n):
    rx = re.compile(r"upstream %s server %s: %s \(" % (re.escape(ups), re.escape(addr), what))
    return wait_until(lambda: len([l for l in p.error_log().splitlines()
                                   if rx.search(l)]) >= n, 10)


def test():
    srv, hsrv, psrv = Server(), Server(), Server()
    ups = {"t": {"servers": [srv.addr], "protocol": "h2"},
           "h": {"servers": [hsrv.addr], "protocol": "h2", "health_check": "GET /health",
                 "health_interval": "100ms", "health_timeout": "2s",
                 "health_rise": "1", "health_fall": "1", "health_body": "health"},
           "p": {"servers": [psrv.addr], "protocol": "http1"}}
    have_tls = have_openssl()
    if have_tls:
        certs = Certs()
        pem, key = certs.issue("a", dns=["a.test"])
        tsrv, t1srv = Server(tls=(pem, key)), Server(tls=(pem, key), alpn=("http/1.1",))
        for name, srvx, proto in (("hs", tsrv, "h2"), ("hs1", t1srv, "http1")):
            ups[name] = {"servers": [srvx.addr + " tls"], "protocol": proto,
                         "tls_ca": certs.ca, "tls_server_name": "a.test",
                         "health_check": "GET /health", "health_interval": "100ms",
                         "health_timeout": "2s", "health_rise": "1", "health_fall": "1"}
    routes = [dict(name="h", path="/hc/", upstream="h"),
              dict(name="p", path="/p/", upstream="p"),
              dict(name="t", path="/", upstream="t")]
    p = Portico(upstreams=ups, routes=routes,
                global_opts={"pass_request_trailers": "on"}, workers=1)
    port = p.port
    p.raw_config = p.config_text().replace("listen = 127.0.0.1:%d\n" % port,
                                           "listen = 127.0.0.1:%d\nhttp2 = on\n" % port)
    p.write_config()
    p.start()

    with subtest_guard("request trailers from an HTTP/2 client"):
        c = H2(port)
        sid = c.request("/t/a", method="POST", authority="127.0.0.1", body=b"hello",
                        end=False)
        c.c.send_headers(sid, [("x-checksum", "abc"), ("grpc-timeout", "1S")],
                         end_stream=True)
        c.flush()
        c.pump(10, until=lambda: c.done(sid))
        tap.is_(c.status(sid), 200, "HTTP/2 client with trailers: 200")
        tap.is_(c.streams[sid]["data"], b"h2 len=5", "... the body reached the h2 server")
        tap.is_(srv.trailers.get("/t/a"), [("x-checksum", "abc"), ("grpc-timeout", "1S")],
                "... its trailers reached it as a trailing HEADERS frame")
        c.close()

    with subtest_guard("request trailers from an HTTP/1.1 chunked client"):
        data = exchange(port, b"POST /t/b HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
                        b"Connection: close\r\n\r\n3\r\nabc\r\n4\r\ndefg\r\n0\r\n"
                        b"X-Sum: 42 \t\r\nX-Forwarded-For: 6.6.6.6\r\nContent-Length: 5\r\n\r\n")
        tap.ok(data.startswith(b"HTTP/1.1 200") and b"\r\nh2 len=7\r\n" in data,
               "HTTP/1.1 chunked body with trailers: 200, the body whole", data[-200:])
        tap.is_(srv.trailers.get("/t/b"), [("x-sum", "42")],
                "... the allowed trailer reached the h2 server without its trailing white space; "
                "X-Forwarded-For and Content-Length did not")
        data = exchange(port, b"POST /t/c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
                        b"Connection: close\r\n\r\n3\r\nabc\r\n0\r\n\r\n")
        tap.ok(b"\r\nh2 len=3\r\n" in data and "/t/c" not in srv.trailers,
               "a chunked body without trailers: no trailing HEADERS", data[-200:])

    with subtest_guard("HTTP health checks over HTTP/2"):
        tap.ok(wait_until(lambda: hsrv.probes >= 2, 10),
               "health_check = GET /health with protocol = h2: probes reach the server "
               "over HTTP/2 (%d)" % hsrv.probes)
        hsrv.health_status = 503
        tap.ok(state_seen(p, "h", hsrv.addr, "down", 1),
               "a probe answered 503 takes the server down", p.error_log()[-1500:])
        tap.like(p.error_log(), r"upstream h server %s: down \(.*status 503"
                 % re.escape(hsrv.addr), "... the log says the status")
        tap.is_(p.get("/hc/x").status, 503, "a request to the down upstream: 503")
        hsrv.health_status = 200
        tap.ok(state_seen(p, "h", hsrv.addr, "up", 1),
               "the server answering 200 again comes back up", p.error_log()[-1500:])
        tap.ok(wait_until(lambda: p.get("/hc/y").status == 200, 5),
               "... and serves again")

    with subtest_guard("HTTP health checks over TLS"):
        if have_tls:
            tap.ok(wait_until(lambda: tsrv.probes >= 2, 10),
                   "TLS with ALPN h2: probes reach the server over HTTP/2 (%d)" % tsrv.probes,
                   p.error_log()[-1500:])
            tsrv.health_status = 503
            tap.ok(state_seen(p, "hs", tsrv.addr, "down", 1),
                   "... a 503 takes it down", p.error_log()[-1500:])
            tsrv.health_status = 200
            tap.ok(state_seen(p, "hs", tsrv.addr, "up", 1),
                   "... a 200 brings it back up", p.error_log()[-1500:])
            tap.ok(wait_until(lambda: t1srv.probes >= 2, 10) and
                   "server %s: down" % t1srv.addr not in p.error_log(),
                   "TLS with HTTP/1.1 (protocol = http1): the probes pass (%d)" % t1srv.probes,
                   p.error_log()[-1500:])
        else:
            tap.skip("no openssl command", 4)

    with subtest_guard("reload: protocol changed"):
        r = p.get("/p/x")
        tap.is_(r.body, b"http1", "protocol = http1: the server is asked in HTTP/1.1")
        p.raw_config = p.raw_config.replace("protocol = http1", "protocol = h2")
        p.write_config()
        old = set(p.workers())
        p.signal("HUP")
        tap.ok(wait_until(lambda: re.search(r"reload: .*upstream p: protocol http1 -> h2",
                                            p.error_log()), 20),
               "the reload summary names the protocol change",
               [l for l in p.error_log().splitlines() if "reload" in l])
        wait_until(lambda: len(set(p.workers()) - old) >= 1, 10)
        tap.ok(wait_until(lambda: p.get("/p/y").body == b"h2 len=0", 10),
               "... and the next requests go to the server over HTTP/2")
    p.stop()


main(test, timeout=90, tests=20)
