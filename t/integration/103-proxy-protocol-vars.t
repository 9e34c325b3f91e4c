#!/usr/bin/env python3
# $proxy_protocol_addr and $proxy_protocol_port (issue 13): the source a
# PROXY header announced on the connection, in an access_log_format line
# and in a request header rule; empty (nginx's "-" in the log) on a
# connection whose header carried no address (v1 UNKNOWN).
import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from portico_test import (exchange_to_eof as exchange, tap, main, Backend, Portico, wait_until, hall, free_port)


def request(path):
    return ("GET %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n" % path).encode()


def test():
    b = Backend("b1")
    p = Portico(upstreams={"app": [b.addr]}, workers=1,
                routes=[dict(name="main", path="/", upstream="app",
                             request_header_set="X-PP $proxy_protocol_addr:$proxy_protocol_port")],
                global_opts={"access_log_format": "PP $proxy_protocol_addr $proxy_protocol_port $uri"})
    p.write_config(p.config_text().replace(
        "[listener web]\n", "[listener web]\nproxy_protocol = on\n", 1))
    p.start()
    pp = p.port

    def logged(path):
        def f():
            for l in p.access_lines():
                if l.endswith(" " + path):
                    return l
            return None
        return wait_until(f, 5)

    out = exchange(pp, b"PROXY TCP4 198.51.100.7 127.0.0.1 56324 80\r\n" + request("/a"))
    tap.like(out.decode("latin-1"), r"^HTTP/1\.1 200 ", "v1 TCP4: answered")
    reqs = b.requests_for("/a")
    tap.is_(hall(reqs[-1]["headers"], "X-PP") if reqs else None, ["198.51.100.7:56324"],
            "request header rule sees the PROXY source and port")
    tap.is_(logged("/a"), "PP 198.51.100.7 56324 /a", "access log line has them")
    out = exchange(pp, b"PROXY UNKNOWN\r\n" + request("/u"))
    tap.like(out.decode("latin-1"), r"^HTTP/1\.1 200 ", "v1 UNKNOWN: answered")
    tap.is_(logged("/u"), "PP - - /u", "no address announced: empty (logged as -)")


main(test, tests=6)
