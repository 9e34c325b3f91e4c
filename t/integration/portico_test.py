"""
portico_test.py: harness for portico's integration tests.

Every t/integration/NN-name.t script imports this module, starts test
backends and the real daemon on loopback, talks to it with raw sockets and
prints TAP.  Nothing here needs anything beyond the Python standard library.

Environment:
  PORTICO            path of the binary under test (default: ./portico at the
                     top of the source tree)
  PORTICO_SANITIZED  1 for an ASan/UBSan build: sanitizer reports in the
                     daemon's stderr or error log fail the test
  PORTICO_KEEP       1 to keep the temporary directories (for debugging)
  PORTICO_VERBOSE    1 to print the daemon's error log as TAP diagnostics at
                     every stop

Main pieces:
  TAP        TAP output (ok/is_/like/skip/diag), exit status = failures; the
             plan comes first when main() is given tests=N (a file that
             dies or returns early then shows as "planned N ran M"),
             else at the end
  main()     runs a test function with a global deadline and guaranteed
             clean-up of every process and thread started
  Backend    threaded raw-socket HTTP/1.1 test server (in-process, or in a
             subprocess for the big-body tests) recording every request
  Client     raw-socket HTTP client: exact bytes out, full parsing of the
             answer (Content-Length / chunked / close framing, 1xx)
  Portico    writes a config, runs `portico -F -c CONFIG`, signals, reloads,
             finds workers, reads logs, stops (TERM then KILL) and checks
             that nothing crashed: no worker or checker killed by a signal
             or exiting with a non-zero status (but those the test declared
             with expect_worker_death(pid, sig)), no master that exited
             before it was told to, no sanitizer report in its stderr or
             error log
  UpgradeBackend  the plumbing of a backend for upgraded connections
             (WebSocket tests): accept, read and record the request
             head, then the subclass's serve(); ws_accept() the
             Sec-WebSocket-Accept of a key
  status_json(), metric(), hold(), passes()
             the status JSON, one /metrics sample's value, a request
             held at the backend (a limit's place), a GET that passes
  exchange_to_eof()  raw bytes out on a new connection, all bytes answered
             until the peer closes

Crash checks apply to every build: a sanitizer report fails the test whether
or not PORTICO_SANITIZED is set, and so does one printed by a `portico -t`
run (run_portico), whose exit status 1 alone would look like a bad config.
"""

import atexit
import base64
import errno
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))

SANITIZED = os.environ.get("PORTICO_SANITIZED", "0") not in ("", "0")
KEEP = os.environ.get("PORTICO_KEEP", "0") not in ("", "0")
VERBOSE = os.environ.get("PORTICO_VERBOSE", "0") not in ("", "0")

# What t/run sets, for runs by hand: every sanitizer report fatal and shown.
if SANITIZED:
    os.environ.setdefault("ASAN_OPTIONS", "detect_leaks=1:halt_on_error=1:handle_abort=1:"
                          "abort_on_error=0:print_stacktrace=1:print_summary=1")
    os.environ.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1:print_summary=1")

SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "runtime error:", "LeakSanitizer",
                     "AddressSanitizer:DEADLYSIGNAL", "ERROR: UndefinedBehaviorSanitizer",
                     "SUMMARY: AddressSanitizer", "SUMMARY: UndefinedBehaviorSanitizer")
ALERT_RE = re.compile(r"\[(alert|crit)\]")
# What the master logs when a child ends other than by a clean exit
# (master/workers.c: workers_reap; master/checker.c: checker_reaped, checker_died).
DEATH_RE = re.compile(r"\b(worker \d+|checker) \(pid (\d+)\) (?:killed by signal (\d+)"
                      r"|exited with status (\d+)|ended with status (\S+))")
# What the master logs when it gives up on a child or on itself.
FATAL_RE = re.compile(r"hit a fatal error|no workers left|no worker could be started"
                      r"|core dumped|dumped core")


def portico_path():
    p = os.environ.get("PORTICO")
    if p:
        return os.path.abspath(p)
    return os.path.join(TOP, "portico")


# --------------------------------------------------------------------------
# TAP
# --------------------------------------------------------------------------

class TAP:
    def __init__(self):
        self.n = 0
        self.failed = 0
        self.lock = threading.Lock()
        self.done_called = False
        self.planned = None
        self.skipped = 0

    def _emit(self, line):
        sys.stdout.write(line + "\n")
        sys.stdout.flush()

    def plan(self, n):
        """Print the plan first: a file that ends early fails as
        "planned N but ran M" instead of looking complete."""
        with self.lock:
            if self.planned is None and self.n == 0:
                self.planned = n
                self._emit("1..%d" % n)

    def skip(self, desc, n=1):
        """n tests skipped, as TAP '# SKIP' directives: prove and t/run
        count them as skipped, not passed."""
        desc = desc.replace("\n", " ").replace("#", "\\#")
        with self.lock:
            for _ in range(n):
                self.n += 1
                self.skipped += 1
                self._emit("ok %d # SKIP %s" % (self.n, desc))
        return True

    def todo_ok(self, cond, desc, why, diag=None):
        """A test of a known defect, as a TAP '# TODO' directive: its
        failure does not fail the file, but prove and t/tally list it (and
        show when it starts to pass).  Name the issue in why."""
        desc = desc.replace("\n", " ").replace("#", "\\#")
        why = why.replace("\n", " ").replace("#", "\\#")
        with self.lock:
            self.n += 1
            self._emit("%sok %d - %s # TODO %s" % ("" if cond else "not ", self.n, desc, why))
            if not cond and diag:
                self.diag(diag)
        return bool(cond)

    def ok(self, cond, desc, diag=None):
        desc = desc.replace("\n", " ").replace("#", "\\#")
        with self.lock:
            self.n += 1
            if cond:
                self._emit("ok %d - %s" % (self.n, desc))
            else:
                self.failed += 1
                self._emit("not ok %d - %s" % (self.n, desc))
                if diag:
                    self.diag(diag)
        return bool(cond)

    def is_(self, got, want, desc, diag=None):
        good = got == want
        d = None
        if not good:
            d = "     got: %r\nexpected: %r" % (_short(got), _short(want))
            if diag:
                d += "\n" + diag
        return self.ok(good, desc, d)

    def like(self, text, regex, desc, diag=None):
        if isinstance(text, bytes):
            text = text.decode("latin-1")
        good = text is not None and re.search(regex, text) is not None
        d = None
        if not good:
            d = "text: %r\ndoes not match: %r" % (_short(text, 600), regex)
            if diag:
                d += "\n" + diag
        return self.ok(good, desc, d)

    def unlike(self, text, regex, desc, diag=None):
        if isinstance(text, bytes):
            text = text.decode("latin-1")
        m = re.search(regex, text or "")
        d = None
        if m:
            d = "text: %r\nmatches: %r (at %r)" % (_short(text, 600), regex, m.group(0))
            if diag:
                d += "\n" + diag
        return self.ok(m is None, desc, d)

    def diag(self, msg):
        for line in str(msg).splitlines() or [""]:
            self._emit("# " + line)

    def done(self):
        if not self.done_called:
            self.done_called = True
            if self.planned is None:
                self._emit("1..%d" % self.n)
            elif self.n != self.planned:
                self.diag("planned %d tests but ran %d" % (self.planned, self.n))


def _short(v, n=300):
    r = v
    if isinstance(v, (bytes, str)) and len(v) > n:
        r = v[:n] + (b"..." if isinstance(v, bytes) else "...")
    return r


tap = TAP()


class TestTimeout(Exception):
    pass


_cleanups = []          # objects with .cleanup(), newest last
_cleanup_lock = threading.Lock()


def register(obj):
    with _cleanup_lock:
        _cleanups.append(obj)
    return obj


def unregister(obj):
    with _cleanup_lock:
        if obj in _cleanups:
            _cleanups.remove(obj)


def cleanup_all():
    while True:
        with _cleanup_lock:
            if not _cleanups:
                return
            obj = _cleanups.pop()
        try:
            obj.cleanup()
        except Exception:
            tap.diag("clean-up error: " + traceback.format_exc())


atexit.register(cleanup_all)


def _on_alarm(signum, frame):
    raise TestTimeout("test file deadline exceeded")


def _on_term(signum, frame):
    # prove was interrupted or killed us with TERM: clean up on the way out
    raise SystemExit(1)


def require_binary():
    """A missing binary fails the file (CI must not go green without it)."""
    path = portico_path()
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        tap.ok(False, "portico binary exists",
               "portico binary not found or not executable: %s\n"
               "build it, or set PORTICO=/path/to/portico" % path)
        tap.done()
        sys.stderr.write("portico binary not built: %s (set PORTICO)\n" % path)
        sys.exit(1)
    return path


def main(fn, timeout=60, need_binary=True, tests=None):
    """Run fn() as the body of a test file: deadline, clean-up, TAP plan.
    With tests=N the plan "1..N" is printed first (do give it: then a file
    that dies or returns early is seen as such), and a count that does not
    match fails the file."""
    signal.signal(signal.SIGTERM, _on_term)
    signal.signal(signal.SIGALRM, _on_alarm)
    if tests is not None:
        tap.plan(tests)
    if need_binary:
        require_binary()
    signal.alarm(int(timeout))
    try:
        fn()
    except TestTimeout:
        tap.ok(False, "test file finished within %d s" % timeout,
               traceback.format_exc())
    except SystemExit:
        raise
    except BaseException:
        tap.ok(False, "test script ran without an exception", traceback.format_exc())
    finally:
        signal.alarm(0)
        try:
            cleanup_all()
        except BaseException:
            tap.diag("clean-up raised: " + traceback.format_exc())
        tap.done()
    if tap.planned is not None and tap.n != tap.planned:
        sys.exit(255)
    sys.exit(min(tap.failed, 254))


def subtest_guard(desc):
    """Decorator-free helper: run a block, turn an exception into not ok."""
    class _G:
        def __enter__(self):
            return self

        def __exit__(self, et, ev, tb):
            if et is None:
                return False
            if et in (TestTimeout, SystemExit, KeyboardInterrupt):
                return False
            tap.ok(False, desc + " (raised)", "".join(traceback.format_exception(et, ev, tb)))
            return True
    return _G()


def wait_until(pred, timeout=5.0, interval=0.05):
    """Poll pred() until it returns a true value or timeout; return the value."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() >= deadline:
            return v
        time.sleep(interval)


# --------------------------------------------------------------------------
# Ports and deterministic content
# --------------------------------------------------------------------------

def free_port(host="127.0.0.1"):
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    try:
        s.bind((host, 0))
        return s.getsockname()[1]
    finally:
        s.close()


def ipv6_available():
    try:
        s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        s.bind(("::1", 0))
        s.close()
        return True
    except OSError:
        return False


# 65504 bytes, not a power of two, so that misplaced blocks change the hash
_BLOCK = b"".join(hashlib.sha256(i.to_bytes(4, "big")).digest() for i in range(2047))


def pattern_chunks(n, size=65504):
    """Yield n bytes of deterministic content, in memoryviews of <= size."""
    mv = memoryview(_BLOCK)
    off = 0
    while n > 0:
        take = min(n, len(_BLOCK) - off, size)
        yield mv[off:off + take]
        off = (off + take) % len(_BLOCK)
        n -= take


def pattern_bytes(n):
    return b"".join(bytes(c) for c in pattern_chunks(n))


_sha_cache = {}


def pattern_sha256(n):
    if n not in _sha_cache:
        h = hashlib.sha256()
        for c in pattern_chunks(n):
            h.update(c)
        _sha_cache[n] = h.hexdigest()
    return _sha_cache[n]


# --------------------------------------------------------------------------
# Buffered socket reader shared by the backend and the client
# --------------------------------------------------------------------------

class PeerClosed(Exception):
    """The peer closed the connection; .received says how many bytes of the
    current message had arrived (0: closed before any byte)."""
    def __init__(self, msg, received=0, data=b""):
        Exception.__init__(self, msg)
        self.received = received
        self.data = data


class Reader:
    def __init__(self, sock):
        self.sock = sock
        self.buf = bytearray()
        self.eof = False
        self.total = 0          # bytes received overall

    def _fill(self, maxn=262144):
        if self.eof:
            return False
        d = self.sock.recv(maxn)
        if not d:
            self.eof = True
            return False
        self.total += len(d)
        self.buf += d
        return True

    def read_until(self, sep, limit=1 << 20):
        """Bytes up to and including sep."""
        start = 0
        while True:
            i = self.buf.find(sep, start)
            if i >= 0:
                out = bytes(self.buf[:i + len(sep)])
                del self.buf[:i + len(sep)]
                return out
            if len(self.buf) > limit:
                raise ValueError("no %r within %d bytes" % (sep, limit))
            start = max(0, len(self.buf) - len(sep) + 1)
            if not self._fill():
                raise PeerClosed("closed before %r" % sep, len(self.buf), bytes(self.buf))

    def read_exact(self, n):
        while len(self.buf) < n:
            if not self._fill():
                raise PeerClosed("closed after %d of %d bytes" % (len(self.buf), n),
                                 len(self.buf), bytes(self.buf))
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def read_stream(self, n, sink):
        """Feed exactly n bytes to sink(bytes) without keeping them."""
        left = n
        while left > 0:
            if not self.buf:
                if not self._fill(min(left, 1 << 20) if left > 65536 else 262144):
                    raise PeerClosed("closed with %d of %d body bytes missing" % (left, n),
                                     n - left)
            take = min(left, len(self.buf))
            sink(bytes(self.buf[:take]))
            del self.buf[:take]
            left -= take

    def read_to_eof(self, sink=None):
        out = bytearray()
        while True:
            if self.buf:
                if sink:
                    sink(bytes(self.buf))
                else:
                    out += self.buf
                self.buf = bytearray()
            if not self._fill():
                break
        return bytes(out)

    def read_chunked(self, sink, limit_line=4096):
        """Decode a chunked body; returns (chunk_sizes, trailer_lines)."""
        sizes = []
        while True:
            line = self.read_until(b"\r\n", limit_line)
            sz = line[:-2].split(b";", 1)[0].strip()
            if not sz or not all(c in b"0123456789abcdefABCDEF" for c in sz):
                raise ValueError("bad chunk size line %r" % line)
            n = int(sz, 16)
            sizes.append(n)
            if n == 0:
                break
            self.read_stream(n, sink)
            crlf = self.read_exact(2)
            if crlf != b"\r\n":
                raise ValueError("chunk not followed by CRLF: %r" % crlf)
        trailers = []
        while True:
            line = self.read_until(b"\r\n", limit_line)
            if line == b"\r\n":
                break
            trailers.append(line[:-2])
        return sizes, trailers


def parse_head(head):
    """head: bytes ending in CRLFCRLF -> (start_line, [(name, value)])."""
    lines = head[:-4].split(b"\r\n")
    start = lines[0].decode("latin-1")
    headers = []
    for l in lines[1:]:
        if b":" not in l:
            headers.append((l.decode("latin-1"), None))
            continue
        k, v = l.split(b":", 1)
        headers.append((k.decode("latin-1"), v.strip(b" \t").decode("latin-1")))
    return start, headers


def hget(headers, name, default=None):
    name = name.lower()
    for k, v in headers:
        if k.lower() == name:
            return v
    return default


def hall(headers, name):
    name = name.lower()
    return [v for k, v in headers if k.lower() == name]


def connection_tokens(headers):
    toks = []
    for v in hall(headers, "connection"):
        toks += [t.strip().lower() for t in (v or "").split(",") if t.strip()]
    return toks


# --------------------------------------------------------------------------
# Test backend
# --------------------------------------------------------------------------

BAD_RESPONSES = {
    # kind -> raw response bytes (each one invalid)
    "statusline": b"HTTP/1.1 2x0 OK\r\nContent-Length: 2\r\n\r\nok",
    "garbage": b"hello there, not http\r\n\r\n",
    "cl-conflict": b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 5\r\n\r\nok",
    "cl-bad": b"HTTP/1.1 200 OK\r\nContent-Length: 2x\r\n\r\nok",
    "bare-lf": b"HTTP/1.1 200 OK\nContent-Length: 2\n\nok",
    "nul-header": b"HTTP/1.1 200 OK\r\nX-Bad: a\x00b\r\nContent-Length: 2\r\n\r\nok",
    "ctl-header": b"HTTP/1.1 200 OK\r\nX-Bad: a\x01b\r\nContent-Length: 2\r\n\r\nok",
    "space-colon": b"HTTP/1.1 200 OK\r\nX-Bad : x\r\nContent-Length: 2\r\n\r\nok",
    "obs-fold": b"HTTP/1.1 200 OK\r\nX-Bad: a\r\n b\r\nContent-Length: 2\r\n\r\nok",
    "bad-chunk": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nok\r\n0\r\n\r\n",
}


class Backend:
    """Threaded raw-socket HTTP/1.1 server.

    Records every request in .requests (dicts: method, target, version,
    headers [(k, v)], body (bytes or None for the sink), body_len, sha256,
    chunked, conn_id, raw_head) and counts accepted connections in
    .connections.  Paths:
      /echo...            JSON with the request (headers, body length/sha256)
      /size/N             N bytes of pattern content, Content-Length
      /chunked/N          N bytes of pattern content, chunked (varied sizes)
      /close[/N]          N (default 100000) bytes, close-delimited
      /slow/SECONDS       sleep, then 200 (SECONDS may be fractional)
      /status/CODE        that status (no body for 1xx/204/304)
      /bad/KIND           an invalid response (see BAD_RESPONSES)
      /head-test          Content-Length: 1234 + body, or none for HEAD
      /stall/SECONDS      Content-Length 1000: 500 bytes, sleep, 500 bytes
      /bighead/N          a response field of N bytes
      /manyheaders/N      N response fields
      /early              103 Early Hints, then 200
      /hangup             closes the connection without answering
      /truncate/N         announces N bytes, sends N/2, closes
      /hop                a response with hop-by-hop headers
      /sink               streams the request body: JSON {bytes, sha256}
      /__records, /__connections  (direct control, not recorded)
      anything else       200 "backend NAME PATH\\n"
    Leading path segments before an endpoint name are ignored (/api/echo).
    Every response carries X-Backend: NAME.
    """

    def __init__(self, name="b1", host="127.0.0.1", keepalive=True, port=0, idle_timeout=None):
        self.name = name
        self.idle_timeout = idle_timeout    # close idle keep-alive connections after this
        self.host = host
        self.keepalive = keepalive
        self.requests = []
        self.connections = 0
        self.readers = []       # one per accepted connection, for bytes_in()
        self.lock = threading.Lock()
        self.scripts = {}       # target or path -> Script (see script())
        self.stopping = False
        self.socks = set()
        self.threads = []
        fam = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.lsock = socket.socket(fam, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind((host, port))
        self.lsock.listen(256)
        self.lsock.settimeout(0.2)
        self.port = self.lsock.getsockname()[1]
        self.t = threading.Thread(target=self._accept_loop, daemon=True)
        self.t.start()
        register(self)

    @property
    def addr(self):
        if ":" in self.host:
            return "[%s]:%d" % (self.host, self.port)
        return "%s:%d" % (self.host, self.port)

    # -- bookkeeping
    def reset(self):
        with self.lock:
            self.requests = []
            self.connections = 0
            self.readers = []

    def bytes_in(self):
        """Bytes received from clients over all connections since the last
        reset(), complete requests or not."""
        with self.lock:
            return sum(r.total for r in self.readers)

    def traffic(self):
        """(connections accepted, bytes received) since the last reset():
        what "nothing reached the backend" is about."""
        with self.lock:
            return self.connections, sum(r.total for r in self.readers)

    def count(self):
        with self.lock:
            return len(self.requests)

    def conn_count(self):
        with self.lock:
            return self.connections

    def conn_usage(self):
        """'N connections: requests per connection [..], M without a request'."""
        with self.lock:
            per = {}
            for r in self.requests:
                per[r["conn_id"]] = per.get(r["conn_id"], 0) + 1
            unused = self.connections - len(per)
        return "%d connections; requests per connection %r; %d without any request" % (
            self.connections, [per[k] for k in sorted(per)], unused)

    def last(self):
        with self.lock:
            return self.requests[-1] if self.requests else None

    def hits(self, target, method=None):
        """How many recorded requests had exactly this target (path?query),
        optionally only with this method."""
        with self.lock:
            return sum(1 for r in self.requests if r["target"] == target
                       and (method is None or r["method"] == method))

    def hits_path(self, path, method=None):
        """How many recorded requests had this path (query ignored)."""
        with self.lock:
            return sum(1 for r in self.requests if r["target"].split("?", 1)[0] == path
                       and (method is None or r["method"] == method))

    def requests_for(self, target):
        """The recorded requests with exactly this target, oldest first."""
        with self.lock:
            return [r for r in self.requests if r["target"] == target]

    # -- scripted answers
    def script(self, target, status=200, headers=(), body=b"", delay=0.0, chunked=False,
               etag=None, last_modified=None, headers_304=None, pace=None, reason=None):
        """Answer requests for target with a scripted response, ahead of the
        built-in endpoints.  target with a '?' matches that exact target,
        without one it matches the path with any query (an exact target
        script wins).  Calling it again replaces the answer (the same Script
        object is returned, its counters kept).

          status, headers, body  the answer; each may also be a callable
                                 f(n, rec) with n = 1-based number of requests
                                 this script has seen and rec the request record
                                 (e.g. body=lambda n, rec: b"version %d" % n)
          delay                  seconds to wait before the head is sent
          chunked                send the body chunked (varied chunk sizes)
                                 instead of with Content-Length
          pace                   (piece, seconds): send the body in pieces of
                                 this many bytes with a pause after each
          etag, last_modified    added as ETag / Last-Modified (unless headers
                                 has them); a request whose If-None-Match
                                 matches the ETag (or '*'), or without
                                 If-None-Match whose If-Modified-Since is not
                                 older than last_modified, gets 304 with
                                 headers_304 (default: the ETag/Last-Modified
                                 and any Cache-Control / Expires of headers)
        HEAD gets the head only.  Per script: .seen (requests), .full (non-304
        answers), .not_modified (304 answers).  Returns the Script.
        """
        sc = Script(status, headers, body, delay, chunked, etag, last_modified,
                    headers_304, pace, reason)
        with self.lock:
            old = self.scripts.get(target)
            if old is not None:
                # the same object, so that handles kept by the test stay valid
                sc.seen, sc.full, sc.not_modified = old.seen, old.full, old.not_modified
                old.__dict__.update(sc.__dict__)
                return old
            self.scripts[target] = sc
        return sc

    def unscript(self, target):
        with self.lock:
            self.scripts.pop(target, None)

    def _find_script(self, target):
        with self.lock:
            sc = self.scripts.get(target)
            if sc is None and "?" not in target:
                return None
            if sc is None:
                sc = self.scripts.get(target.split("?", 1)[0])
            if sc is not None:
                sc.seen += 1
                return sc, sc.seen
            return None

    def _script_respond(self, s, rec, sc, n, method, keep):
        def val(v):
            return v(n, rec) if callable(v) else v
        status = val(sc.status)
        headers = list(val(sc.headers) or ())
        body = val(sc.body) or b""
        if isinstance(body, str):
            body = body.encode("latin-1")
        names = {k.lower() for k, _ in headers}
        if sc.etag is not None and "etag" not in names:
            headers.append(("ETag", sc.etag))
        if sc.last_modified is not None and "last-modified" not in names:
            headers.append(("Last-Modified", sc.last_modified))
        if sc.delay:
            time.sleep(sc.delay)
        if self._script_not_modified(sc, rec["headers"]):
            with self.lock:
                sc.not_modified += 1
            h304 = sc.headers_304
            if h304 is None:
                h304 = [kv for kv in headers if kv[0].lower() in
                        ("etag", "last-modified", "cache-control", "expires", "vary")]
            else:
                h304 = list(val(h304))
            self._send_head(s, 304, "Not Modified", h304, keep)
            return keep
        with self.lock:
            sc.full += 1
        reason = sc.reason or REASONS.get(status, "Whatever")
        no_body = status in (204, 304) or status < 200
        if no_body:
            self._send_head(s, status, reason, headers, keep)
            return keep
        if sc.chunked:
            self._send_head(s, status, reason, headers + [("Transfer-Encoding", "chunked")], keep)
            if method == "HEAD":
                return keep
            sizes = [1, 7, 100, 1000, 4096, 16384, 65504]
            off, i = 0, 0
            while off < len(body):
                k = min(sizes[i % len(sizes)], len(body) - off)
                s.sendall(b"%x\r\n" % k + body[off:off + k] + b"\r\n")
                off += k
                i += 1
                if sc.pace:
                    time.sleep(sc.pace[1])
            s.sendall(b"0\r\n\r\n")
            return keep
        if "content-length" not in names:
            headers.append(("Content-Length", str(len(body))))
        self._send_head(s, status, reason, headers, keep)
        if method == "HEAD" or not body:
            return keep
        if sc.pace:
            piece, pause = sc.pace
            for off in range(0, len(body), piece):
                s.sendall(body[off:off + piece])
                time.sleep(pause)
        else:
            s.sendall(body)
        return keep

    @staticmethod
    def _script_not_modified(sc, headers):
        inm = hget(headers, "if-none-match")
        if inm is not None:
            if sc.etag is None:
                return False
            tags = [t.strip() for t in inm.split(",")]
            strip = lambda t: t[2:] if t.startswith("W/") else t
            return "*" in tags or strip(sc.etag) in [strip(t) for t in tags]
        ims = hget(headers, "if-modified-since")
        if ims is not None and sc.last_modified is not None:
            a, b = parse_http_date(ims), parse_http_date(sc.last_modified)
            return a is not None and b is not None and b <= a
        return False

    def cleanup(self):
        self.stop()

    def stop(self):
        if self.stopping:
            return
        self.stopping = True
        try:
            self.lsock.close()
        except OSError:
            pass
        with self.lock:
            socks = list(self.socks)
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.t.join(2)
        unregister(self)

    # -- serving
    def _accept_loop(self):
        cid = 0
        while not self.stopping:
            try:
                s, _ = self.lsock.accept()
            except socket.timeout:
                continue
            except OSError:
                break
            cid += 1
            with self.lock:
                self.connections += 1
                self.socks.add(s)
            th = threading.Thread(target=self._serve, args=(s, cid), daemon=True)
            th.start()

    def _serve(self, s, cid):
        s.settimeout(300)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        r = Reader(s)
        with self.lock:
            self.readers.append(r)
        first = True
        try:
            while not self.stopping:
                if not first and self.idle_timeout is not None and not r.buf:
                    s.settimeout(self.idle_timeout)
                try:
                    head = r.read_until(b"\r\n\r\n", 1 << 20)
                except PeerClosed:
                    return
                except socket.timeout:
                    return
                s.settimeout(300)
                first = False
                keep = self._handle(s, r, head, cid)
                if not keep:
                    return
        except (OSError, ValueError, PeerClosed):
            return
        finally:
            with self.lock:
                self.socks.discard(s)
            try:
                s.close()
            except OSError:
                pass

    def _handle(self, s, r, head, cid):
        start, headers = parse_head(head)
        parts = start.split(" ")
        method, target, version = (parts + ["", "", ""])[:3]
        path = target.split("?", 1)[0]
        te = (hget(headers, "transfer-encoding") or "").lower()
        cl = hget(headers, "content-length")
        chunked = "chunked" in te
        h = hashlib.sha256()
        counter = [0]
        store = not path.startswith("/sink")
        body = bytearray()

        def sink(b):
            h.update(b)
            counter[0] += len(b)
            if store:
                body.extend(b)
        trailers = []
        if chunked:
            _, trailers = r.read_chunked(sink)
        elif cl is not None:
            r.read_stream(int(cl), sink)
        rec = {
            "method": method, "target": target, "version": version,
            "headers": headers, "body": bytes(body) if store else None,
            "body_len": counter[0], "sha256": h.hexdigest(), "chunked": chunked,
            "trailers": [t.decode("latin-1") for t in trailers],
            "conn_id": cid, "raw_head": head, "time": time.time(),
        }
        ctl = path.startswith("/__")
        if not ctl:
            with self.lock:
                self.requests.append(rec)
        toks = connection_tokens(headers)
        if version == "HTTP/1.0":
            keep = "keep-alive" in toks
        else:
            keep = "close" not in toks
        keep = keep and self.keepalive
        return self._respond(s, rec, path, method, keep)

    def _send_head(self, s, status, reason, headers, keep):
        out = ["HTTP/1.1 %d %s" % (status, reason), "X-Backend: " + self.name]
        out += ["%s: %s" % kv for kv in headers]
        if not keep:
            out.append("Connection: close")
        s.sendall(("\r\n".join(out) + "\r\n\r\n").encode("latin-1"))

    def _simple(self, s, status, body, keep, ctype="text/plain", extra=(), method="GET"):
        hdrs = [("Content-Type", ctype), ("Content-Length", str(len(body)))] + list(extra)
        self._send_head(s, status, REASONS.get(status, "Whatever"), hdrs, keep)
        if method != "HEAD" and body:
            s.sendall(body)
        return keep

    def _respond(self, s, rec, path, method, keep):
        seg = path.strip("/").split("/")
        # a route prefix in front of an endpoint name is skipped: /one/bad/x
        for i, name in enumerate(seg):
            if name in ENDPOINTS:
                seg = seg[i:]
                break
        head_only = method == "HEAD"
        if self.scripts and not path.startswith("/__"):
            found = self._find_script(rec["target"])
            if found is not None:
                return self._script_respond(s, rec, found[0], found[1], method, keep)
        if path.startswith("/__records"):
            with self.lock:
                recs = [dict(x, body=None, raw_head=x["raw_head"].decode("latin-1"))
                        for x in self.requests]
            return self._simple(s, 200, json.dumps(recs).encode(), keep, "application/json")
        if path.startswith("/__connections"):
            return self._simple(s, 200, str(self.conn_count()).encode(), keep)
        if seg[0] in ("echo", "sink"):
            j = {
                "backend": self.name, "method": rec["method"], "target": rec["target"],
                "version": rec["version"], "headers": rec["headers"],
                "body_len": rec["body_len"], "sha256": rec["sha256"],
                "bytes": rec["body_len"], "chunked": rec["chunked"],
                "trailers": rec["trailers"], "conn_id": rec["conn_id"],
            }
            return self._simple(s, 200, json.dumps(j).encode(), keep, "application/json",
                                method=method)
        if seg[0] == "size" and len(seg) > 1:
            n = int(seg[1])
            self._send_head(s, 200, "OK", [("Content-Type", "application/octet-stream"),
                                            ("Content-Length", str(n))], keep)
            if not head_only:
                for c in pattern_chunks(n, 262144 if n > 1 << 20 else 65504):
                    s.sendall(c)
            return keep
        if seg[0] == "chunked" and len(seg) > 1:
            n = int(seg[1])
            self._send_head(s, 200, "OK", [("Content-Type", "application/octet-stream"),
                                            ("Transfer-Encoding", "chunked")], keep)
            if head_only:
                return keep
            data = pattern_bytes(n) if n <= (64 << 20) else None
            sizes = [1, 7, 100, 1000, 4096, 16384, 65504]
            off, i = 0, 0
            if data is None:
                for c in pattern_chunks(n):
                    s.sendall(b"%x\r\n" % len(c) + bytes(c) + b"\r\n")
            else:
                while off < n:
                    k = min(sizes[i % len(sizes)], n - off)
                    s.sendall(b"%x\r\n" % k + data[off:off + k] + b"\r\n")
                    off += k
                    i += 1
            s.sendall(b"0\r\n\r\n")
            return keep
        if seg[0] == "close":
            n = int(seg[1]) if len(seg) > 1 else 100000
            s.sendall(b"HTTP/1.1 200 OK\r\nX-Backend: " + self.name.encode() +
                      b"\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n\r\n")
            if not head_only:
                for c in pattern_chunks(n):
                    s.sendall(c)
            return False
        if seg[0] == "slow" and len(seg) > 1:
            time.sleep(float(seg[1]))
            return self._simple(s, 200, b"slow done\n", keep, method=method)
        if seg[0] == "status" and len(seg) > 1:
            code = int(seg[1])
            if code in (204, 304) or code < 200:
                self._send_head(s, code, REASONS.get(code, "X"), [], keep)
                return keep
            return self._simple(s, code, b"status %d\n" % code, keep, method=method)
        if seg[0] == "bad" and len(seg) > 1:
            s.sendall(BAD_RESPONSES[seg[1]])
            return False
        if seg[0] == "stall" and len(seg) > 1:
            self._send_head(s, 200, "OK", [("Content-Length", "1000")], keep)
            s.sendall(b"s" * 500)
            time.sleep(float(seg[1]))
            s.sendall(b"s" * 500)
            return keep
        if seg[0] == "bighead" and len(seg) > 1:
            return self._simple(s, 200, b"bighead\n", keep, extra=[("X-Big", "b" * int(seg[1]))],
                                method=method)
        if seg[0] == "manyheaders" and len(seg) > 1:
            return self._simple(s, 200, b"many\n", keep, extra=[
                ("X-Many-%d" % i, str(i)) for i in range(int(seg[1]))], method=method)
        if seg[0] == "early":
            s.sendall(b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n")
            time.sleep(0.05)
            return self._simple(s, 200, b"after early hints\n", keep, method=method)
        if seg[0] == "hangup":
            return False        # close without a byte of answer
        if seg[0] == "truncate" and len(seg) > 1:
            n = int(seg[1])
            self._send_head(s, 200, "OK", [("Content-Length", str(n))], True)
            s.sendall(pattern_bytes(n // 2))
            return False
        if seg[0] == "head-test":
            self._send_head(s, 200, "OK", [("Content-Length", "1234")], keep)
            if not head_only:
                s.sendall(b"h" * 1234)
            return keep
        if seg[0] == "hop":
            return self._simple(s, 200, b"hop\n", keep, extra=[
                ("Connection", "X-Hop-Secret"), ("X-Hop-Secret", "1"),
                ("Keep-Alive", "timeout=5"), ("Proxy-Authenticate", "Basic"),
                ("Trailer", "X-T"), ("Upgrade", "foo/1"), ("X-End-To-End", "yes")],
                method=method)
        body = ("backend %s %s\n" % (self.name, path)).encode()
        return self._simple(s, 200, body, keep, method=method)


class Script:
    """A scripted answer of a Backend (see Backend.script)."""

    def __init__(self, status, headers, body, delay, chunked, etag, last_modified,
                 headers_304, pace, reason):
        self.status, self.headers, self.body = status, headers, body
        self.delay, self.chunked, self.pace, self.reason = delay, chunked, pace, reason
        self.etag, self.last_modified, self.headers_304 = etag, last_modified, headers_304
        self.seen = 0           # requests answered by this script
        self.full = 0           # ... with a full (non-304) answer
        self.not_modified = 0   # ... with 304


def http_date(t=None):
    """An IMF-fixdate for t (default: now)."""
    import email.utils
    return email.utils.formatdate(time.time() if t is None else t, usegmt=True)


def parse_http_date(s):
    """Seconds since the epoch of an HTTP date, or None."""
    import email.utils
    try:
        d = email.utils.parsedate_to_datetime(s)
    except (TypeError, ValueError, IndexError):
        return None
    if d is None:
        return None
    return d.timestamp()


def cache_section(**opts):
    """A [cache] section for Portico(extra=...): cache_section(size="8m",
    max_object_size="64k", purge_allow="10.0.0.0/8")."""
    return "[cache]\n" + "".join("%s = %s\n" % kv for kv in opts.items())


# Cache-Status values the cache tests expect, and the raw field of a response.
CS_HIT = r"^portico; hit; ttl=\d+$"
CS_STORED = r"^portico; fwd=miss; stored; ttl=\d+$"


def cs(r):
    """The raw Cache-Status of a response ("" without one, or without a response)."""
    return (r.header("Cache-Status") or "") if r is not None else ""


def cache_status(resp):
    """Parse a response's Cache-Status (RFC 9211) -> dict of the first
    member's parameters (e.g. {"cache": "portico", "hit": True, "ttl": 58}
    or {"fwd": "miss", "stored": True, "ttl": 60}; numbers as int), or {}
    without the field.  d["raw"] is the field value."""
    v = resp.header("Cache-Status") if resp is not None else None
    if v is None:
        return {}
    member = v.split(",")[0]
    parts = [x.strip() for x in member.split(";")]
    d = {"cache": parts[0], "raw": v}
    for x in parts[1:]:
        if not x:
            continue
        if "=" in x:
            k, val = x.split("=", 1)
            val = val.strip().strip('"')
            if re.match(r"^-?\d+$", val):
                val = int(val)
            d[k.strip().lower()] = val
        else:
            d[x.lower()] = True
    return d


ENDPOINTS = {"echo", "sink", "size", "chunked", "close", "slow", "status", "bad", "hangup",
             "truncate", "head-test", "hop", "stall", "bighead", "manyheaders", "early"}

REASONS = {100: "Continue", 200: "OK", 201: "Created", 204: "No Content",
           301: "Moved Permanently", 304: "Not Modified", 400: "Bad Request",
           404: "Not Found", 418: "I'm a teapot", 500: "Internal Server Error",
           503: "Service Unavailable"}


class SubprocessBackend:
    """The same Backend, run in its own Python process (no GIL contention
    with the client in big-body tests).  Control data over /__records."""

    def __init__(self, name="b1", host="127.0.0.1"):
        self.name = name
        self.host = host
        self.tmp = tempfile.mkdtemp(prefix="portico-be-")
        pf = os.path.join(self.tmp, "port")
        self.proc = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "backend", name, host, pf],
            stdin=subprocess.DEVNULL, start_new_session=True)
        register(self)
        ok = wait_until(lambda: os.path.exists(pf) and open(pf).read().strip(), 10)
        if not ok:
            raise RuntimeError("subprocess backend did not start")
        self.port = int(open(pf).read())

    @property
    def addr(self):
        return "%s:%d" % (self.host, self.port)

    def records(self):
        c = Client(self.port, self.host)
        try:
            r = c.request("GET", "/__records")
            return json.loads(r.body)
        finally:
            c.close()

    def conn_count(self):
        c = Client(self.port, self.host)
        try:
            return int(c.request("GET", "/__connections").body)
        finally:
            c.close()

    def cleanup(self):
        self.stop()

    def stop(self):
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except OSError:
                pass
            self.proc.wait(5)
        shutil.rmtree(self.tmp, ignore_errors=True)
        unregister(self)


def _backend_subprocess_main(name, host, port_file):
    b = Backend(name, host)
    tmp = port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(b.port))
    os.rename(tmp, port_file)
    signal.signal(signal.SIGTERM, lambda *a: os._exit(0))
    while True:
        time.sleep(3600)


class Blackhole:
    """A loopback address whose connects hang (SYN dropped): a listener with
    a full accept queue that never accepts."""

    def __init__(self):
        self.lsock = socket.socket()
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(0)
        self.port = self.lsock.getsockname()[1]
        self.fillers = []
        register(self)
        for _ in range(8):
            s = socket.socket()
            s.setblocking(False)
            try:
                s.connect(("127.0.0.1", self.port))
            except BlockingIOError:
                pass
            self.fillers.append(s)
        time.sleep(0.1)

    @property
    def addr(self):
        return "127.0.0.1:%d" % self.port

    def works(self):
        """True if a connect really hangs."""
        s = socket.socket()
        s.settimeout(0.5)
        try:
            s.connect(("127.0.0.1", self.port))
            return False
        except socket.timeout:
            return True
        except OSError:
            return False
        finally:
            s.close()

    def cleanup(self):
        for s in self.fillers + [self.lsock]:
            s.close()
        unregister(self)


def refused_port():
    """A loopback port with nothing listening on it."""
    return free_port()


# --------------------------------------------------------------------------
# Client
# --------------------------------------------------------------------------

class Response:
    def __init__(self):
        self.version = None
        self.status = None
        self.reason = None
        self.headers = []
        self.body = b""
        self.raw_head = b""
        self.framing = None         # 'length', 'chunked', 'close', 'none'
        self.chunk_sizes = []
        self.trailers = []
        self.interim = []           # [(status, headers, raw_head)]
        self.body_len = 0

    def header(self, name, default=None):
        return hget(self.headers, name, default)

    def header_all(self, name):
        return hall(self.headers, name)

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return "<Response %s %s %d bytes %s>" % (self.status, self.reason, self.body_len,
                                                  self.framing)


class Client:
    """One raw TCP connection to the proxy."""

    def __init__(self, port, host="127.0.0.1", timeout=10):
        fam = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.host = host
        self.port = port
        self.sock = socket.socket(fam, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect((host, port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.r = Reader(self.sock)
        self.responses = 0

    def settimeout(self, t):
        self.sock.settimeout(t)

    def send(self, data):
        if isinstance(data, str):
            data = data.encode("latin-1")
        self.sock.sendall(data)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()

    def read_response(self, method="GET", on_body=None, head_limit=1 << 20):
        """Read one whole response (after any 1xx).  on_body(bytes) receives
        the body instead of .body when given."""
        resp = Response()
        start_total = self.r.total - len(self.r.buf)
        try:
            while True:
                head = self.r.read_until(b"\r\n\r\n", head_limit)
                start, headers = parse_head(head)
                m = re.match(r"^(HTTP/\d\.\d) (\d\d\d)(?: (.*))?$", start)
                if not m:
                    raise ValueError("bad status line %r; whole head: %r" % (start, head[:400]))
                status = int(m.group(2))
                if 100 <= status < 200 and status != 101:
                    resp.interim.append((status, headers, head))
                    continue
                resp.version, resp.status, resp.reason = m.group(1), status, m.group(3) or ""
                resp.headers, resp.raw_head = headers, head
                break
            body = bytearray()
            cnt = [0]

            def sink(b):
                cnt[0] += len(b)
                if on_body:
                    on_body(b)
                else:
                    body.extend(b)
            te = (resp.header("transfer-encoding") or "").lower()
            cl = resp.header("content-length")
            if method == "HEAD" or resp.status in (204, 304):
                resp.framing = "none"
            elif "chunked" in te:
                resp.framing = "chunked"
                resp.chunk_sizes, resp.trailers = self.r.read_chunked(sink)
            elif cl is not None:
                resp.framing = "length"
                self.r.read_stream(int(cl), sink)
            else:
                resp.framing = "close"
                self.r.read_to_eof(sink)
            resp.body = bytes(body)
            resp.body_len = cnt[0]
        except PeerClosed as e:
            got = self.r.total - start_total
            raise PeerClosed("connection closed mid-response (%d bytes of it received): %s"
                             % (got, e), got, e.data)
        self.responses += 1
        return resp

    def request(self, method="GET", target="/", headers=None, body=None,
                version="HTTP/1.1", host="localhost", on_body=None):
        """Send one request (Host added unless given in headers or host=None)
        and read its response."""
        self.send(build_request(method, target, headers, body, version, host))
        return self.read_response(method, on_body)

    def is_closed(self, timeout=2.0):
        """True if the peer closes (EOF or reset) within timeout with no data."""
        old = self.sock.gettimeout()
        self.sock.settimeout(timeout)
        try:
            if self.r.buf:
                return False
            d = self.sock.recv(1)
            return d == b""
        except socket.timeout:
            return False
        except ConnectionResetError:
            return True
        finally:
            try:
                self.sock.settimeout(old)
            except OSError:
                pass

    def read_all_until_close(self, timeout=5.0):
        self.sock.settimeout(timeout)
        return bytes(self.r.buf) + self.r.read_to_eof()


def build_request(method="GET", target="/", headers=None, body=None,
                  version="HTTP/1.1", host="localhost"):
    headers = list(headers or [])
    names = [k.lower() for k, _ in headers]
    if host is not None and "host" not in names:
        headers.insert(0, ("Host", host))
    if body is not None and "content-length" not in names and "transfer-encoding" not in names:
        headers.append(("Content-Length", str(len(body))))
    out = "%s %s %s\r\n" % (method, target, version)
    out += "".join("%s: %s\r\n" % kv for kv in headers) + "\r\n"
    data = out.encode("latin-1")
    if body:
        data += body if isinstance(body, bytes) else body.encode("latin-1")
    return data


def chunk_encode(data, sizes=(1, 5, 100, 3000), trailers=()):
    out = bytearray()
    off, i = 0, 0
    while off < len(data):
        k = min(sizes[i % len(sizes)], len(data) - off)
        out += b"%x\r\n" % k + data[off:off + k] + b"\r\n"
        off += k
        i += 1
    out += b"0\r\n"
    for t in trailers:
        out += t.encode("latin-1") + b"\r\n"
    out += b"\r\n"
    return bytes(out)


def get(port, target="/", host="localhost", headers=None, timeout=10, addr="127.0.0.1",
        method="GET", body=None):
    """One request on a new connection."""
    with Client(port, addr, timeout) as c:
        return c.request(method, target, headers, body, host=host)


def raw_exchange(port, data, timeout=5.0, addr="127.0.0.1"):
    """Send data in one write; return (Response or None, raw bytes read,
    error string or None).  Reads one response."""
    c = Client(port, addr, timeout)
    try:
        c.send(data)
        try:
            resp = c.read_response()
            return resp, resp.raw_head, None
        except (PeerClosed, ValueError, OSError) as e:
            return None, bytes(c.r.buf), "%s: %s" % (type(e).__name__, e)
    finally:
        c.close()


def exchange_to_eof(port, data, timeout=10):
    """Send data on a new connection and read to EOF: the bytes answered
    (b'' when the connection closed, or was reset, unanswered)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(data)
        out = b""
        while True:
            try:
                d = s.recv(65536)
            except ConnectionResetError:
                break
            if not d:
                break
            out += d
        return out
    finally:
        s.close()


def status_json(port, target="/_portico/status"):
    """The status page's JSON, from the status route at target."""
    return get(port, target).json()


def metric(text, sample):
    """The value (int) of one sample line of /metrics text: its name and
    labels as written, e.g. 'portico_tunnels_total' or
    'portico_responses_total{class="2xx"}'; None when it is not there."""
    m = re.search(r"(?m)^%s (\d+)$" % re.escape(sample), text)
    return int(m.group(1)) if m else None


def hold(c, backend, target, timeout=10):
    """Send a GET for target (one the backend answers late) on client c
    and wait until the backend has it: the request then holds whatever
    portico counts for it (a limit's place).  True if it arrived."""
    c.send(b"GET " + target.encode() + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    return wait_until(lambda: len(backend.requests_for(target)) == 1, timeout)


def passes(port, target, timeout=10):
    """Wait until a GET for target on a new connection gets 200."""
    return wait_until(lambda: get(port, target).status == 200, timeout)


# --------------------------------------------------------------------------
# Upgraded connections (WebSocket)
# --------------------------------------------------------------------------

WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def ws_accept(key):
    """The Sec-WebSocket-Accept (bytes) for a Sec-WebSocket-Key (bytes),
    RFC 6455 4.2.2."""
    return base64.b64encode(hashlib.sha1(key + WS_GUID).digest())


class UpgradeBackend:
    """A backend for upgraded connections, on 127.0.0.1: each connection
    (TLS with sctx) has its request head read and recorded, then goes to
    serve(sock, method, path, fields, rest), which a test's subclass
    writes (fields: lowercase names, last one wins; rest: bytes after the
    head).  The connection is closed when serve returns or raises
    OSError."""

    def __init__(self, sctx=None):
        self.sctx = sctx
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.addr = "127.0.0.1:%d" % self.sock.getsockname()[1]
        self.heads = []         # (method, path, fields), as they came
        self.lock = threading.Lock()
        self.stopped = False
        threading.Thread(target=self._loop, daemon=True).start()
        register(self)

    def _loop(self):
        while not self.stopped:
            try:
                s, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._conn, args=(s,), daemon=True).start()

    def _conn(self, s):
        buf = b""
        try:
            if self.sctx is not None:
                s.settimeout(10)
                s = self.sctx.wrap_socket(s, server_side=True)
            while b"\r\n\r\n" not in buf:
                d = s.recv(65536)
                if not d:
                    return
                buf += d
            head, rest = buf.split(b"\r\n\r\n", 1)
            lines = head.decode("latin-1").split("\r\n")
            method, path = lines[0].split(" ")[:2]
            fields = {}
            for ln in lines[1:]:
                k, v = ln.split(":", 1)
                fields[k.strip().lower()] = v.strip()
            with self.lock:
                self.heads.append((method, path, fields))
            self.serve(s, method, path, fields, rest)
        except OSError:
            pass
        finally:
            s.close()

    def serve(self, s, method, path, fields, rest):
        raise NotImplementedError

    def head(self, path):
        """(method, fields) of the last request for path; (None, {})."""
        with self.lock:
            for m, p, f in reversed(self.heads):
                if p == path:
                    return m, f
        return None, {}

    def stop(self):
        self.stopped = True
        try:
            self.sock.close()
        except OSError:
            pass

    def cleanup(self):
        self.stop()


# --------------------------------------------------------------------------
# The daemon
# --------------------------------------------------------------------------

def proc_comm(pid):
    try:
        with open("/proc/%d/comm" % pid) as f:
            return f.read().strip()
    except OSError:
        return ""


def proc_stats():
    """(pid, state, ppid, pgrp) of every process, from /proc/*/stat."""
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                st = f.read()
        except OSError:
            continue
        rest = st[st.rfind(")") + 2:].split()
        if len(rest) > 2:
            yield int(d), rest[0], int(rest[1]), int(rest[2])


def proc_children(pid):
    """Live PIDs whose parent is pid."""
    return sorted(p for p, state, ppid, _ in proc_stats() if ppid == pid and state != "Z")


def connect_refused(port, host="127.0.0.1"):
    """Whether a connect to host:port is refused (nothing listens)."""
    try:
        s = socket.create_connection((host, port), timeout=1)
        s.close()
        return False
    except ConnectionRefusedError:
        return True
    except OSError:
        return False


def proc_rss_kb(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def socket_inode(local_port, remote_port, host="127.0.0.1"):
    """Inode of the TCP socket host:local_port <-> host:remote_port (IPv4
    loopback), from /proc/net/tcp, or None."""
    a = "".join("%02X" % int(x) for x in reversed(host.split(".")))
    want_l, want_r = "%s:%04X" % (a, local_port), "%s:%04X" % (a, remote_port)
    try:
        with open("/proc/net/tcp") as f:
            for line in f.readlines()[1:]:
                parts = line.split()
                if parts[1] == want_l and parts[2] == want_r:
                    return parts[9]
    except OSError:
        pass
    return None


def pid_with_socket(pids, inode):
    """Which of pids has the socket inode open, or None."""
    target = "socket:[%s]" % inode
    for pid in pids:
        d = "/proc/%d/fd" % pid
        try:
            for fd in os.listdir(d):
                try:
                    if os.readlink(os.path.join(d, fd)) == target:
                        return pid
                except OSError:
                    pass
        except OSError:
            pass
    return None


def pid_alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            st = f.read()
        return st[st.rfind(")") + 2] != "Z"
    except OSError:
        return False


class Portico:
    """One daemon under test.

    p = Portico(upstreams={"app": [backend.addr]})     # one listener 'web',
    p.start()                                           # one route / -> app
    p.port, p.url, p.master_pid, p.workers(), p.error_log(), p.access_lines()
    p.reload(**new_settings) / p.signal("HUP") / p.stop()
    """

    def __init__(self, upstreams=None, routes=None, listeners=None, workers=2,
                 global_opts=None, upstream_opts=None, extra="", raw_config=None,
                 name="portico"):
        self.tmp = tempfile.mkdtemp(prefix="portico-t-")
        # Started as root without `user`, the workers run as nobody: they
        # must reach their logs here to reopen them.
        os.chmod(self.tmp, 0o755)
        self.name = name
        self.config_path = os.path.join(self.tmp, "portico.ini")
        self.pid_file = os.path.join(self.tmp, "portico.pid")
        self.error_log_path = os.path.join(self.tmp, "error.log")
        self.access_log_path = os.path.join(self.tmp, "access.log")
        self.stdout_path = os.path.join(self.tmp, "stdout")
        self.stderr_path = os.path.join(self.tmp, "stderr")
        self.port = free_port()
        self.upstreams = upstreams if upstreams is not None else {}
        self.routes = routes
        self.listeners = listeners
        self.workers_n = workers
        self.global_opts = dict(global_opts or {})
        self.upstream_opts = dict(upstream_opts or {})
        self.extra = extra
        self.raw_config = raw_config
        self.proc = None
        self.master_pid = None
        self.exit_code = None
        self.checked = False
        self.expected_deaths = {}       # pid -> [signal number, required, seen]
        self.allowed_exit_statuses = set()  # worker exit statuses a test causes
        self.exit_expected = False      # the test made the master exit
        self.expected_exit_code = 0
        self.pgid = None                # the process group of every master
        self.new_masters = []           # masters started by upgrade() (USR2)
        register(self)
        self.write_config()

    # -- configuration
    def config_text(self):
        if self.raw_config is not None:
            return self.raw_config.replace("@TMP@", self.tmp).replace("@PORT@", str(self.port))
        g = {
            "workers": str(self.workers_n),
            "pid_file": self.pid_file,
            "error_log": self.error_log_path,
            "log_level": "info",
            "access_log": self.access_log_path,
        }
        g.update(self.global_opts)
        lines = ["[global]"] + ["%s = %s" % kv for kv in g.items() if kv[1] is not None]
        listeners = self.listeners or {"web": ["127.0.0.1:%d" % self.port]}
        for name, addrs in listeners.items():
            lines += ["", "[listener %s]" % name] + ["listen = %s" % a for a in addrs]
        for name, servers in self.upstreams.items():
            opts = dict(self.upstream_opts)
            if isinstance(servers, dict):
                servers = dict(servers)
                sl = servers.pop("servers")
                opts.update(servers)
                servers = sl
            lines += ["", "[upstream %s]" % name] + ["server = %s" % s for s in servers]
            lines += ["%s = %s" % kv for kv in opts.items()]
        routes = self.routes
        if routes is None:
            first = next(iter(self.upstreams), "app")
            routes = [{"name": "main", "host": "*", "path": "/", "upstream": first}]
        for r in routes:
            r = dict(r)
            lines += ["", "[route %s]" % r.pop("name")]
            lines += ["%s = %s" % kv for kv in r.items()]
        text = "\n".join(lines) + "\n"
        if self.extra:
            text += "\n" + self.extra + "\n"
        return text

    def write_config(self, text=None):
        text = text if text is not None else self.config_text()
        tmpf = self.config_path + ".new"
        with open(tmpf, "w") as f:
            f.write(text)
        os.rename(tmpf, self.config_path)
        return text

    # -- running
    def start(self, wait_workers=True, timeout=10, exe=None):
        """Run the daemon (exe: another binary, e.g. a copy that a binary
        upgrade test replaces)."""
        exe = exe or require_binary()
        self.stdout_f = open(self.stdout_path, "wb")
        self.stderr_f = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen([exe, "-F", "-c", self.config_path],
                                     stdin=subprocess.DEVNULL, stdout=self.stdout_f,
                                     stderr=self.stderr_f, start_new_session=True,
                                     cwd=self.tmp)
        self.master_pid = self.proc.pid
        self.pgid = self.proc.pid
        deadline = time.monotonic() + timeout
        listening = False
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("portico exited at start with status %s\nstderr:\n%s\n"
                                   "error log:\n%s" % (self.proc.returncode, self.stderr(),
                                                       self.error_log()))
            if not listening:
                try:
                    s = socket.create_connection(self.listen_addr(), timeout=0.5)
                    s.close()
                    listening = True
                except OSError:
                    pass
            if listening and self.read_pid() == self.master_pid:
                # Started means every worker reported that it is up (the
                # master logs it): a worker killed before that makes the
                # start fail, by design.
                if not wait_workers or (len(self.workers()) >= self.workers_n and
                                        re.search(r"\] %d master: portico \S+ started:"
                                                  % self.master_pid, self.error_log())):
                    return self
            time.sleep(0.05)
        raise RuntimeError("portico did not come up within %ds (listening=%s, pid file=%r, "
                           "workers=%r)\nstderr:\n%s\nerror log:\n%s"
                           % (timeout, listening, self.read_pid(), self.workers(),
                              self.stderr(), self.error_log()))

    def listen_addr(self):
        if self.listeners:
            a = next(iter(self.listeners.values()))[0]
            m = re.match(r"^\[(.*)\]:(\d+)$", a) or re.match(r"^(.*):(\d+)$", a)
            return (m.group(1), int(m.group(2)))
        return ("127.0.0.1", self.port)

    def read_pid(self):
        try:
            with open(self.pid_file) as f:
                return int(f.read().strip())
        except (OSError, ValueError):
            return None

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def workers(self):
        """The worker processes: children of the master but the checker."""
        if not self.running():
            return []
        return [p for p in proc_children(self.master_pid)
                if proc_comm(p) != "portico-checker" and p not in self.new_masters]

    def checker(self):
        """The health checker's pid, or None."""
        if not self.running():
            return None
        for p in proc_children(self.master_pid):
            if proc_comm(p) == "portico-checker":
                return p
        return None

    def worker_of(self, client, timeout=3.0):
        """The pid of the worker that accepted client's connection (an IPv4
        loopback Client), or None."""
        lport = client.sock.getsockname()[1]
        host, port = self.listen_addr()

        def find():
            inode = socket_inode(port, lport, host)
            return pid_with_socket(self.workers(), inode) if inode else None
        return wait_until(find, timeout, 0.02)

    def client_on(self, pid, timeout=10):
        """A new connection accepted by worker pid: the other workers are
        stopped (SIGSTOP) until it has been accepted.  All workers share
        the listening sockets and EPOLLEXCLUSIVE wakes one of them, so
        connections made one after the other mostly land on one worker;
        this is how a test spreads its requests over workers on purpose."""
        others = [w for w in self.workers() if w != pid]
        for w in others:
            os.kill(w, signal.SIGSTOP)
        try:
            c = self.client(timeout)
            got = self.worker_of(c)
        finally:
            for w in others:
                os.kill(w, signal.SIGCONT)
        if got != pid:
            c.close()
            raise RuntimeError("connection accepted by %r, not by worker %d" % (got, pid))
        return c

    def clients_on_workers(self, timeout=10):
        """{worker pid: a Client connected to that worker}, one per worker."""
        return {w: self.client_on(w, timeout) for w in self.workers()}

    def signal(self, sig):
        if isinstance(sig, str):
            sig = getattr(signal, "SIG" + sig)
        if sig in (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT):
            self.exit_expected = True
        os.kill(self.master_pid, sig)

    def expect_worker_death(self, pid, sig=9, required=True):
        """Declare that child pid (a worker or the checker) is to die of
        signal sig, e.g. because the test kills it.  The check at stop then
        wants the master's "killed by signal" line for pid with exactly that
        signal (a SIGABRT from an assertion is not the SIGKILL sent), and,
        unless required is false, wants it to be there at all.  Any other
        child that dies of a signal or exits non-zero fails the test."""
        self.expected_deaths[int(pid)] = [int(sig), required, False]

    expect_checker_death = expect_worker_death

    def allow_worker_exit(self, status):
        """Declare that workers of this daemon may exit with this status
        (e.g. a generation the test makes fail to start: its workers exit
        with the fatal code 2).  Deaths by signal still fail the test."""
        self.allowed_exit_statuses.add(int(status))

    def expect_master_exit(self, status=0):
        """Declare that the master is to exit before stop() (e.g. after
        `portico -s stop`), with this status."""
        self.exit_expected = True
        self.expected_exit_code = status

    # -- binary upgrade (USR2): a second master, forked by the first
    def upgrade(self, timeout=30):
        """Send USR2 and wait until the new binary's master is up: the pid
        file names it (it writes it once its workers are up) and it logged
        that it started.  Returns its pid, or None.  Call
        become_subreaper() first, so that it can be reaped when it outlives
        the old master; stop() stops it too."""
        old = self.master_pid
        os.kill(old, signal.SIGUSR2)

        def up():
            pid = self.read_pid()
            if pid and pid != old and re.search(r"\] %d master: portico \S+ started:" % pid,
                                                self.error_log()):
                return pid
            return None
        pid = wait_until(up, timeout)
        if pid:
            self.new_masters.append(pid)
        return pid

    def new_master_children(self, pid):
        """Workers of a master started by upgrade()."""
        return [p for p in proc_children(pid) if proc_comm(p) != "portico-checker"]

    def follow(self, pid, timeout=15):
        """The old master was told to quit (QUIT after an upgrade): wait for
        it to exit, then go on with pid as this daemon's master.  Returns
        the old master's exit status (None if it did not exit)."""
        self.exit_expected = True
        if not self.wait_exit(timeout):
            return None
        code = self.exit_code
        self.proc = AdoptedProc(pid)
        self.master_pid = pid
        if pid in self.new_masters:
            self.new_masters.remove(pid)
        self.exit_expected = False
        self.exit_code = None
        return code

    def _stop_new_masters(self, timeout):
        """TERM every master started by upgrade() that is not the one
        followed; True when each of them exited in time."""
        good = True
        for pid in list(self.new_masters):
            h = AdoptedProc(pid)
            if h.poll() is not None:
                continue
            try:
                os.kill(pid, signal.SIGTERM)
            except OSError:
                continue
            try:
                h.wait(timeout)
            except subprocess.TimeoutExpired:
                good = False
                tap.diag("%s: new master %d still running %ds after TERM: SIGKILL"
                         % (self.name, pid, timeout))
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
        return good

    def reload(self, wait=True, timeout=10, **changes):
        """Rewrite the config with changes (attributes of self) and send HUP.
        With wait, wait for a new full set of workers."""
        for k, v in changes.items():
            setattr(self, k, v)
        self.write_config()
        old = set(self.workers())
        self.signal("HUP")
        if not wait:
            return True
        if not wait_until(lambda: len(set(self.workers()) - old) >= self.workers_n, timeout):
            return False
        # The old workers are told to quit only once every new one is up,
        # and they may accept until they have read that: wait until each
        # has begun its graceful stop (or is gone), so that a connection
        # made after reload() returns reaches a new worker.
        def retired(pid):
            if not os.path.exists("/proc/%d" % pid):
                return True
            return re.search(r"\] %d worker \d+: graceful stop" % pid,
                             self.error_log()) is not None
        return wait_until(lambda: all(retired(w) for w in old), timeout)

    def wait_exit(self, timeout):
        self.exit_expected = True
        try:
            self.exit_code = self.proc.wait(timeout)
            return True
        except subprocess.TimeoutExpired:
            return False

    def stop(self, sig=None, timeout=10, check=True):
        """Stop with sig (TERM), then SIGKILL the whole group after timeout.
        Emits one TAP line about the logs unless check=False.
        Returns the exit status (None if it had to be killed)."""
        clean_exit = True
        self.stop_problems = []
        if sig is None:
            sig = signal.SIGTERM
        clean_exit = self._stop_new_masters(timeout) and clean_exit
        if self.proc is not None:
            if self.proc.poll() is not None and not self.exit_expected:
                clean_exit = False
                self.stop_problems.append(
                    "master %d exited on its own before the test stopped it: %s"
                    % (self.master_pid, _status_text(self.proc.returncode)))
            elif self.proc.poll() is not None and \
                    self.proc.returncode != self.expected_exit_code:
                clean_exit = False
                self.stop_problems.append("master %d ended: %s (expected status %d)"
                                          % (self.master_pid,
                                             _status_text(self.proc.returncode),
                                             self.expected_exit_code))
            if self.proc.poll() is None:
                try:
                    os.kill(self.master_pid, sig)
                except OSError:
                    pass
                if not self.wait_exit(timeout):
                    clean_exit = False
                    tap.diag("%s: master %d still running %ds after signal %d: SIGKILL"
                             % (self.name, self.master_pid, timeout, sig))
                elif self.exit_code != 0:
                    clean_exit = False
                    self.stop_problems.append("master exited after signal %d: %s"
                                              % (sig, _status_text(self.exit_code)))
            else:
                self.exit_code = self.proc.returncode
            # mop up anything left in the process group (workers)
            left = self._group_members()
            if left:
                time.sleep(0.5)
                left = self._group_members()
            if left:
                clean_exit = False
                tap.diag("%s: processes left after the master exited: %r" % (self.name, left))
            try:
                os.killpg(self.pgid, signal.SIGKILL)
            except OSError:
                pass
            if self.proc.poll() is None:
                self.proc.wait(5)
                self.exit_code = None
            for f in (getattr(self, "stdout_f", None), getattr(self, "stderr_f", None)):
                if f:
                    f.close()
        if check and not self.checked and self.proc is not None:
            self.checked = True
            self.check_logs(extra_ok=clean_exit)
        return self.exit_code

    def _group_members(self):
        return [p for p, state, _, pgrp in proc_stats()
                if pgrp == self.pgid and state != "Z"]

    def log_problems(self):
        """Lines of the error log / stderr that must fail a test: a child
        that died (but as declared with expect_worker_death), a fatal error,
        a sanitizer report; and declared deaths that did not happen as
        declared."""
        bad = []
        for d in self.expected_deaths.values():
            d[2] = False
        for src, text in (("error log", self.error_log()), ("stderr", self.stderr())):
            for line in text.splitlines():
                m = DEATH_RE.search(line)
                if m:
                    pid = int(m.group(2))
                    exp = self.expected_deaths.get(pid)
                    if exp is None and m.group(4) is not None and \
                            int(m.group(4)) in self.allowed_exit_statuses:
                        continue
                    if exp is not None and m.group(3) is not None and \
                            int(m.group(3)) == exp[0]:
                        exp[2] = True
                        continue
                    if exp is not None:
                        bad.append("%s: %s (expected: killed by signal %d)"
                                   % (src, line, exp[0]))
                    else:
                        bad.append("%s: %s" % (src, line))
                elif ALERT_RE.search(line) or FATAL_RE.search(line):
                    bad.append("%s: %s" % (src, line))
                elif any(m in line for m in SANITIZER_MARKERS):
                    bad.append("%s: %s" % (src, line))
        for pid, (sig, required, seen) in sorted(self.expected_deaths.items()):
            if required and not seen:
                bad.append("pid %d was to die of signal %d: no such line in the error log"
                           % (pid, sig))
        return bad

    def check_logs(self, extra_ok=True):
        bad = list(getattr(self, "stop_problems", [])) + self.log_problems()
        what = "no crash, no unexpected exit, no sanitizer report"
        d = None
        if bad:
            d = "\n".join(bad[:40])
            d += "\n--- stderr tail:\n" + self.stderr()[-6000:]
        ok = tap.ok(not bad and extra_ok, "%s: stopped cleanly, %s" % (self.name, what), d)
        if VERBOSE or not ok:
            tap.diag("--- %s error log (tail):\n%s" % (self.name, self.error_log()[-4000:]))
        return ok

    def cleanup(self):
        try:
            self.stop()
        finally:
            unregister(self)
            if not KEEP:
                shutil.rmtree(self.tmp, ignore_errors=True)
            else:
                tap.diag("kept %s" % self.tmp)

    # -- logs
    def _read(self, path):
        try:
            with open(path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def error_log(self):
        return self._read(self.error_log_path)

    def stderr(self):
        return self._read(self.stderr_path)

    def access_lines(self, path=None):
        return [l for l in self._read(path or self.access_log_path).splitlines() if l]

    def wait_log(self, regex, timeout=5.0, path=None):
        """Wait for a line of the error log (or path) matching regex."""
        rx = re.compile(regex)

        def find():
            text = self._read(path) if path else self.error_log()
            for line in text.splitlines():
                if rx.search(line):
                    return line
            return None
        return wait_until(find, timeout)

    # -- convenience
    def get(self, target="/", **kw):
        """One request on a new connection to the first listen address."""
        host, port = self.listen_addr()
        kw.setdefault("addr", host)
        return get(port, target, **kw)

    def client(self, timeout=10):
        host, port = self.listen_addr()
        return Client(port, host, timeout)


def become_subreaper():
    """Make this test process the reaper of the orphans it started
    (prctl PR_SET_CHILD_SUBREAPER): the master that a binary upgrade
    starts is the old master's child and outlives it; the test must still
    be able to wait for it.  Only for tests that upgrade: a daemon started
    without -F would otherwise stay a zombie of the test."""
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(36, 1, 0, 0, 0) != 0:     # PR_SET_CHILD_SUBREAPER
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")


class AdoptedProc:
    """A Popen-like handle on a process the test did not fork (a master
    started by a binary upgrade): reaped with waitpid once it is the test's
    child (see become_subreaper); one that another process reaped counts
    as exited with status 0 (the old master logs its status)."""

    def __init__(self, pid):
        self.pid = pid
        self.returncode = None

    def poll(self):
        if self.returncode is not None:
            return self.returncode
        try:
            pid, st = os.waitpid(self.pid, os.WNOHANG)
        except ChildProcessError:
            if not os.path.exists("/proc/%d" % self.pid):
                self.returncode = 0
            return self.returncode
        if pid == self.pid:
            self.returncode = os.waitstatus_to_exitcode(st)
        return self.returncode

    def wait(self, timeout=None):
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() >= deadline:
                raise subprocess.TimeoutExpired("master %d" % self.pid, timeout)
            time.sleep(0.02)
        return self.returncode


class Load:
    """A load generator: threads sending GET target in a loop until
    stop(), half of them on one keep-alive connection each, half on a new
    connection per request.  A request on a reused keep-alive connection
    that the server closed before any byte of the answer is sent again on
    a new connection, as HTTP clients do for idempotent requests (RFC 9112
    9.3.1), and counted in .retried; anything else (a refused or reset
    connection, a cut answer, a status other than 200, a body check that
    fails) counts in .failed, with the first errors in .errors."""

    def __init__(self, port, target="/", threads=4, host="127.0.0.1", check=None):
        self.port, self.target, self.host, self.check = port, target, host, check
        self.ok = self.failed = self.retried = 0
        self.errors = []
        self.lock = threading.Lock()
        self.stopping = False
        self.threads = [threading.Thread(target=self._run, args=(i % 2 == 0,), daemon=True)
                        for i in range(threads)]
        register(self)
        for t in self.threads:
            t.start()

    def _count(self, what, err=None):
        with self.lock:
            setattr(self, what, getattr(self, what) + 1)
            if err and len(self.errors) < 10:
                self.errors.append(err)

    def _one(self, c):
        r = c.request("GET", self.target)
        if r.status != 200 or (self.check and not self.check(r)):
            self._count("failed", "status %d body %r" % (r.status, r.body[:80]))
        else:
            self._count("ok")
        if (r.header("connection") or "").lower() == "close":
            c.close()
            return None
        return c

    def _run(self, keepalive):
        c = None
        while not self.stopping:
            reused = c is not None
            before = c.r.total if c is not None else 0
            try:
                if c is None:
                    c = Client(self.port, self.host, 10)
                c = self._one(c)
                if not keepalive and c is not None:
                    c.close()
                    c = None
            except (PeerClosed, ConnectionResetError, BrokenPipeError) as e:
                # Not one byte of the answer: the server closed the idle
                # connection as the request went out.
                got = c.r.total - before if c is not None else 0
                if c is not None:
                    c.close()
                c = None
                if reused and got == 0:
                    self._count("retried")
                    continue
                self._count("failed", "%s: %s" % (type(e).__name__, e))
            except (OSError, ValueError) as e:
                if c is not None:
                    c.close()
                c = None
                self._count("failed", "%s: %s" % (type(e).__name__, e))
        if c is not None:
            c.close()

    def total(self):
        with self.lock:
            return self.ok + self.failed

    def stop(self):
        self.stopping = True
        for t in self.threads:
            t.join(15)
        return self.ok, self.failed, self.retried

    def cleanup(self):
        self.stop()
        unregister(self)


def _status_text(code):
    """A Popen returncode in words."""
    if code is None:
        return "still running"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = "?"
        return "killed by signal %d (%s)" % (-code, name)
    return "exit status %d" % code


def run_portico(args, timeout=10, cwd=None):
    """Run the binary with args (no daemon): (exit code, stdout, stderr).
    A run killed by a signal or printing a sanitizer report adds a failing
    TAP line (ASan's exit status 1 is also what a bad config gives)."""
    exe = require_binary()
    p = subprocess.run([exe] + list(args), stdin=subprocess.DEVNULL, capture_output=True,
                       timeout=timeout, cwd=cwd)
    out = p.stdout.decode("utf-8", "replace")
    err = p.stderr.decode("utf-8", "replace")
    bad = [l for l in (out + err).splitlines() if any(m in l for m in SANITIZER_MARKERS)]
    if bad or p.returncode < 0:
        tap.ok(False, "portico %s: no crash and no sanitizer report" % " ".join(args),
               "%s\n%s" % (_status_text(p.returncode), err[-6000:]))
    return p.returncode, out, err


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "backend":
        _backend_subprocess_main(sys.argv[2], sys.argv[3], sys.argv[4])
    else:
        sys.stderr.write("usage: portico_test.py backend NAME HOST PORTFILE\n")
        sys.exit(2)
