#!/usr/bin/env python3
"""Open N idle HTTP/1.1 keep-alive connections to a proxy (bench/run helper).

Each connection first completes one full request (GET PATH, response read up
to Content-Length), so the proxy sees a real keep-alive connection that is
idle between requests, not a half-open connect.  Then all connections are
held open.

Protocol with the caller:
  * writes "READY <opened> <failed>" (one line) to STATUS_FILE once all
    connections have been tried;
  * on SIGUSR1 checks how many connections are still open (not closed by the
    proxy), writes "ALIVE <n>" to STATUS_FILE and exits;
  * exits by itself after HOLD seconds in any case (bounded run time).

usage: idleconns.py HOST PORT N STATUS_FILE [PATH] [HOLD]
"""
import errno
import os
import resource
import signal
import socket
import sys
import time


def read_response(s):
    buf = b""
    while b"\r\n\r\n" not in buf:
        d = s.recv(65536)
        if not d:
            raise ConnectionError("closed before headers")
        buf += d
    head, _, body = buf.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1])
    clen = None
    for l in lines[1:]:
        k, _, v = l.partition(b":")
        if k.strip().lower() == b"content-length":
            clen = int(v.strip())
        if k.strip().lower() == b"connection" and v.strip().lower() == b"close":
            raise ConnectionError("server wants to close")
    if clen is None:
        raise ConnectionError("no content-length")
    while len(body) < clen:
        d = s.recv(65536)
        if not d:
            raise ConnectionError("closed in body")
        body += d
    if status != 200:
        raise ConnectionError("status %d" % status)


def write_status(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text + "\n")
    os.rename(tmp, path)


def main():
    host, port, n, status_file = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    path = sys.argv[5] if len(sys.argv) > 5 else "/1k"
    hold = float(sys.argv[6]) if len(sys.argv) > 6 else 120.0
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, n + 64) if hard != resource.RLIM_INFINITY else n + 64
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))

    req = ("GET %s HTTP/1.1\r\nHost: %s:%d\r\nUser-Agent: bench-idle\r\n\r\n" % (path, host, port)).encode()
    socks, failed = [], 0
    deadline = time.monotonic() + hold
    for _ in range(n):
        if time.monotonic() > deadline:
            break
        s = None
        try:
            s = socket.create_connection((host, port), timeout=5)
            s.sendall(req)
            read_response(s)
            socks.append(s)
        except (OSError, ValueError, IndexError, ConnectionError):
            failed += 1
            if s is not None:
                s.close()
    for s in socks:
        s.setblocking(False)

    checked = {"v": False}

    def on_usr1(signum, frame):
        checked["v"] = True

    signal.signal(signal.SIGUSR1, on_usr1)
    write_status(status_file, "READY %d %d" % (len(socks), failed))
    while not checked["v"] and time.monotonic() < deadline:
        time.sleep(0.05)
    alive = 0
    for s in socks:
        try:
            d = s.recv(1, socket.MSG_PEEK)
            # readable: EOF (b"") or unexpected data -> not an idle open conn
        except BlockingIOError:
            alive += 1
        except OSError:
            pass
    write_status(status_file, "ALIVE %d" % alive)
    for s in socks:
        s.close()


if __name__ == "__main__":
    main()
