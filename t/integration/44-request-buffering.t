#!/usr/bin/env python3
# Request body buffering (request_buffering = on, the default): slow uploads
# hold no backend worker, a body over client_body_buffer_size goes through an
# unlinked temporary file and arrives byte-exact with a Content-Length, and
# request_buffering = off streams as before.  client_body_timeout with
# client_body_min_rate ends a trickling body with 408.  Bad
# client_body_temp_path values are refused with file:line.
import hashlib
import os
import select
import shutil
import socket
import sys
import tempfile
import threading
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from portico_test import (tap, main, Portico, Client, build_request, chunk_encode, pattern_bytes,
                          parse_head, hget, run_portico, wait_until, subtest_guard, proc_rss_kb)
from raw_backend import RawBackend


def connect(p):
    s = socket.create_connection(("127.0.0.1", p.port), timeout=10)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def read_response(s, timeout=10):
    """(status, headers, body) of one Content-Length response, or None.
    Bytes after it are dropped: one response per connection."""
    s.settimeout(timeout)
    buf = b""
    try:
        while b"\r\n\r\n" not in buf:
            d = s.recv(65536)
            if not d:
                return None
            buf += d
        head, _, rest = buf.partition(b"\r\n\r\n")
        start, headers = parse_head(head + b"\r\n\r\n")
        n = int(hget(headers, "content-length", "0"))
        while len(rest) < n:
            d = s.recv(65536)
            if not d:
                break
            rest += d
        return int(start.split(" ")[1]), headers, rest[:n]
    except (socket.timeout, OSError):
        return None


def worker_fds_in(p, d):
    """Targets of the workers' open fds that lie in directory d."""
    out = []
    for pid in p.workers():
        fdd = "/proc/%d/fd" % pid
        try:
            names = os.listdir(fdd)
        except OSError:
            continue
        for n in names:
            try:
                t = os.readlink(os.path.join(fdd, n))
            except OSError:
                continue
            if t.startswith(d + "/"):
                out.append(t)
    return out


def slow_uploads(p, b):
    """Eight POSTs trickling their bodies hold no backend slot."""
    stop = threading.Event()
    socks = []

    def trickle(s):
        try:
            s.sendall(build_request("POST", "/upload", [("Content-Length", "100")]))
            while not stop.wait(0.4):
                s.sendall(b"x")
        except OSError:
            pass

    ths = []
    for _ in range(8):
        s = connect(p)
        socks.append(s)
        t = threading.Thread(target=trickle, args=(s,), daemon=True)
        t.start()
        ths.append(t)
    time.sleep(1.0)
    t0 = time.time()
    s = connect(p)
    s.sendall(build_request("GET", "/plain"))
    r = read_response(s, timeout=6)
    dt = time.time() - t0
    s.close()
    tap.ok(r is not None and r[0] == 200,
           "8 slow uploads on a backend with 2 workers: a GET is answered",
           "got %r after %.1fs" % (r and r[0], dt))
    stop.set()
    for t in ths:
        t.join(2)
    for s in socks:
        s.close()
    time.sleep(0.5)
    posts = [q["start"] for q in b.requests() if q["start"].startswith("POST")]
    tap.is_(posts, [], "... no part of a slow upload reached the backend")
    tap.is_(b.partial(), [], "... and the backend never saw a partial request")


def test():
    b = RawBackend(slots=2)
    tmpdir = tempfile.mkdtemp(prefix="portico-body-")
    try:
        run(b, tmpdir)
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)


def run(b, tmpdir):
    # user = root: the test reads the worker's /proc/PID/fd, which a
    # non-dumpable worker of another user does not show.
    p = Portico(upstreams={"app": [b.addr]}, workers=1,
                global_opts={"client_body_buffer_size": "16k",
                             "client_body_temp_path": tmpdir, "user": "root"},
                routes=[{"name": "main", "host": "*", "path": "/", "upstream": "app"},
                        {"name": "stream", "host": "*", "path": "/stream/", "upstream": "app",
                         "request_buffering": "off"}])
    p.start()

    with subtest_guard("slow uploads"):
        slow_uploads(p, b)

    with subtest_guard("a body over the memory buffer goes through a temp file"):
        body = pattern_bytes(3 << 20)
        wire = chunk_encode(body, sizes=(65536, 1, 30000))
        raw0 = b.raw_total()
        s = connect(p)
        s.sendall(build_request("POST", "/big", [("Transfer-Encoding", "chunked")]))
        half = len(wire) // 2
        s.sendall(wire[:half])
        seen = wait_until(lambda: worker_fds_in(p, tmpdir), timeout=5)
        tap.ok(seen and all(t.endswith("(deleted)") for t in seen),
               "during the upload a worker holds an unlinked file in client_body_temp_path",
               repr(seen))
        tap.is_(os.listdir(tmpdir), [], "... and no file in that directory has a name")
        tap.is_(b.raw_total() - raw0, 0, "... nothing reached the backend before the body is whole")
        s.sendall(wire[half:])
        r = read_response(s, timeout=20)
        s.close()
        q = b.requests()[-1] if b.requests() else None
        tap.ok(r is not None and r[0] == 200 and q is not None and q["body"] == body,
               "3 MiB chunked body through the temp file: byte-exact at the backend",
               "status %r, backend got %r bytes" % (r and r[0], q and len(q["body"])))
        hd = dict((k.lower(), v) for k, v in q["headers"]) if q else {}
        tap.ok(hd.get("content-length") == str(len(body)) and "transfer-encoding" not in hd,
               "... sent with Content-Length, not chunked", repr(hd))
        tap.ok(wait_until(lambda: not worker_fds_in(p, tmpdir), timeout=5),
               "... the temp file is closed after the request")
        tap.is_(os.listdir(tmpdir), [], "... nothing left in the temp directory")

    with subtest_guard("a small body stays in memory"):
        s = connect(p)
        s.sendall(build_request("PUT", "/small", body=b"hello"))
        r = read_response(s)
        s.close()
        q = b.requests()[-1]
        tap.ok(r is not None and r[0] == 200 and q["body"] == b"hello" and
               q["start"].startswith("PUT /small"), "small PUT forwarded whole")

    with subtest_guard("request_buffering = off streams"):
        body = pattern_bytes(50000)
        for path, streams in (("/stream/up", True), ("/buffered/up", False)):
            n0 = b.conn_count()
            s = connect(p)
            s.sendall(build_request("POST", path, [("Content-Length", str(len(body)))]) +
                      body[:1000])
            if streams:
                got = wait_until(lambda: b.conn_count() > n0 and b.raw_total() > 0, timeout=5)
                tap.ok(got, "request_buffering = off: the head reaches the backend "
                       "before the body is whole")
            else:
                time.sleep(1.0)
                tap.is_(b.conn_count(), n0, "request_buffering = on: no backend "
                        "connection while the body is incomplete")
            s.sendall(body[1000:])
            r = read_response(s)
            s.close()
            q = b.requests()[-1]
            tap.ok(r is not None and r[0] == 200 and q["body"] == body,
                   "%s: body byte-exact" % path)

    with subtest_guard("memory stays bounded, buffered or streamed"):
        chunk = pattern_bytes(1 << 20)
        for path in ("/mem", "/stream/mem"):
            peak = [0]
            s = connect(p)
            s.sendall(build_request("POST", path, [("Content-Length", str(64 << 20))]))
            for i in range(64):
                s.sendall(chunk)
                if i % 8 == 0:
                    for pid in p.workers():
                        peak[0] = max(peak[0], proc_rss_kb(pid) or 0)
            r = read_response(s, timeout=30)
            s.close()
            q = b.requests()[-1]
            tap.ok(r is not None and r[0] == 200 and len(q["body"]) == 64 << 20,
                   "%s: 64 MiB body forwarded whole" % path)
            tap.ok(0 < peak[0] < 64 * 1024, "... worker RSS stayed under 64 MB",
                   "peak %d kB" % peak[0])

    with subtest_guard("pipelined request after a buffered body"):
        with Client(p.port) as c:
            c.send(build_request("POST", "/one", body=b"abc") + build_request("GET", "/two"))
            r1 = c.read_response("POST")
            r2 = c.read_response("GET")
        tap.ok(r1.status == 200 and r2.status == 200,
               "POST with a buffered body, then the request behind it: both answered")
        starts = [q["start"] for q in b.requests()[-2:]]
        tap.is_(starts, ["POST /one HTTP/1.1", "GET /two HTTP/1.1"], "... in order")

    p.stop()

    with subtest_guard("a buffered body can be sent again to another server"):
        # A server that takes 64 KiB of the body, then resets the connection.
        bl = socket.socket()
        bl.bind(("127.0.0.1", 0))
        bl.listen(16)
        bl.settimeout(0.2)
        broke = []
        stop = threading.Event()

        def breaker():
            while not stop.is_set():
                try:
                    c, _ = bl.accept()
                except socket.timeout:
                    continue
                except OSError:
                    return
                got = 0
                c.settimeout(5)
                try:
                    while got < 65536 + 200:
                        d = c.recv(65536)
                        if not d:
                            break
                        got += len(d)
                except OSError:
                    pass
                broke.append(got)
                c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\0\0\0\0\0\0\0")
                c.close()
        bt = threading.Thread(target=breaker, daemon=True)
        bt.start()
        b3 = RawBackend(slots=2)
        p4 = Portico(upstreams={"app": ["127.0.0.1:%d" % bl.getsockname()[1], b3.addr]},
                     workers=1)
        p4.start()
        body = pattern_bytes(1 << 20)
        res = []
        for i in range(2):
            s = connect(p4)
            s.sendall(build_request("PUT", "/retry%d" % i, body=body))
            res.append(read_response(s, timeout=20))
            s.close()
        stop.set()
        bt.join(2)
        bl.close()
        tap.ok(broke and max(broke) >= 65536,
               "a server broke in the middle of a 1 MiB PUT body", repr(broke))
        tap.ok(all(r is not None and r[0] == 200 for r in res) and
               [q["body"] == body for q in b3.requests()] == [True, True],
               "... the PUT went again, whole, to the other server",
               repr([r and r[0] for r in res]))
        p4.stop()

    with subtest_guard("client_body_timeout bounds a trickling body"):
        b2 = RawBackend(slots=2)
        p2 = Portico(upstreams={"app": [b2.addr]}, workers=1,
                     global_opts={"client_body_timeout": "1s"})
        p2.start()
        s = connect(p2)
        s.sendall(build_request("POST", "/trickle", [("Content-Length", "100")]))
        t0 = time.time()
        r = None
        sent = 0
        while time.time() - t0 < 12 and sent < 60:
            try:
                s.sendall(b"y")
            except OSError:
                break
            sent += 1
            rd, _, _ = select.select([s], [], [], 0.25)
            if rd:
                r = read_response(s, timeout=2)
                break
        dt = time.time() - t0
        s.close()
        tap.ok(r is not None and r[0] == 408,
               "a body trickling 4 bytes a second (gaps 0.25s < client_body_timeout 1s): 408",
               "got %r after %.1fs and %d bytes" % (r and r[0], dt, sent))
        tap.is_(b2.raw_total(), 0, "... and nothing reached the backend")
        p2.stop()

    with subtest_guard("client_body_temp_path is checked at load"):
        afile = os.path.join(tmpdir, "not-a-dir")
        with open(afile, "w") as f:
            f.write("x")
        for val, want in (("relative/dir", "not an absolute path"),
                          (tmpdir + "/nonexistent", "No such file"),
                          (afile, "not a directory")):
            p3 = Portico(upstreams={"app": [b.addr]},
                         global_opts={"client_body_temp_path": val})
            rc, out, err = run_portico(["-t", "-c", p3.config_path])
            tap.ok(rc != 0 and ("%s:" % p3.config_path) in err and want in err,
                   "client_body_temp_path = %s: refused with file:line" % val, err.strip())
        os.unlink(afile)
        # A directory the workers (nobody, the default user of a root
        # master) cannot write: refused at load, not a 500 per upload.
        closed = os.path.join(tmpdir, "root-only")
        os.mkdir(closed, 0o700)
        p3 = Portico(upstreams={"app": [b.addr]},
                     global_opts={"client_body_temp_path": closed})
        rc, out, err = run_portico(["-t", "-c", p3.config_path])
        tap.ok(rc != 0 and ("%s:" % p3.config_path) in err and "cannot create files" in err,
               "client_body_temp_path the workers cannot write: refused with file:line",
               err.strip())
        p3 = Portico(upstreams={"app": [b.addr]},
                     global_opts={"client_body_temp_path": closed, "request_buffering": "off"})
        rc, out, err = run_portico(["-t", "-c", p3.config_path])
        tap.is_(rc, 0, "... but accepted when no route buffers bodies", err.strip())
        os.chmod(closed, 0o1777)
        p3 = Portico(upstreams={"app": [b.addr]},
                     global_opts={"client_body_temp_path": closed})
        rc, out, err = run_portico(["-t", "-c", p3.config_path])
        tap.is_(rc, 0, "... and once it is writable for all (mode 1777, as /var/tmp)", err.strip())
        os.rmdir(closed)
        p3 = Portico(upstreams={"app": [b.addr]}, global_opts={"request_buffering": "maybe"})
        rc, out, err = run_portico(["-t", "-c", p3.config_path])
        tap.ok(rc != 0 and "request_buffering" in err, "request_buffering = maybe: refused",
               err.strip())


main(test, timeout=120)
