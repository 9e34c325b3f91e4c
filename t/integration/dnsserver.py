"""A small DNS server for the tests of servers from DNS (resolve and srv).

It answers A, AAAA and SRV questions over UDP on 127.0.0.1 from a table
the test sets (set()), the way a zone file would: a name not in the table
gets NXDOMAIN, a known name without records of the type an empty NOERROR
answer.  down() makes it stop answering (a resolver that is gone) until
up().  Every question is counted per (name, type), for TTL checks.

    dns = DnsServer()
    dns.set({"api.test": {"A": ["127.0.0.1"], "ttl": 1},
             "_http._tcp.api.test": {"SRV": [(10, 5, 8080, "a.test")]}})
    ... resolver = dns.addr ...
"""
import socket
import struct
import threading
import time

from portico_test import register

T_A, T_AAAA, T_SRV = 1, 28, 33
TYPES = {T_A: "A", T_AAAA: "AAAA", T_SRV: "SRV"}


def encode_name(name):
    out = b""
    for label in name.rstrip(".").split("."):
        if label:
            out += bytes([len(label)]) + label.encode()
    return out + b"\0"


def parse_question(msg):
    """(id, flags, name, qtype, end of the question) or None."""
    if len(msg) < 12:
        return None
    qid, flags, qd = struct.unpack("!HHH", msg[:6])
    if qd != 1:
        return None
    pos, labels = 12, []
    while pos < len(msg):
        n = msg[pos]
        pos += 1
        if n == 0:
            break
        if n & 0xC0 or pos + n > len(msg):
            return None
        labels.append(msg[pos:pos + n].decode("ascii", "replace").lower())
        pos += n
    if pos + 4 > len(msg):
        return None
    qtype, _ = struct.unpack("!HH", msg[pos:pos + 4])
    return qid, flags, ".".join(labels), qtype, pos + 4


class DnsServer:
    def __init__(self, port=0):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", port))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.addr = "127.0.0.1:%d" % self.port
        self.lock = threading.Lock()
        self.table = {}
        self.silent = False
        self.asked = {}
        self.times = {}
        self.stopping = False
        threading.Thread(target=self._loop, daemon=True).start()
        register(self)

    def set(self, table):
        """name -> {"A": [ip...], "AAAA": [ip...], "SRV": [(prio, weight,
        port, target)...], "ttl": seconds (default 1)}"""
        with self.lock:
            self.table = {k.lower().rstrip("."): v for k, v in table.items()}

    def down(self):
        self.silent = True

    def up(self):
        self.silent = False

    def count(self, name, qtype="A"):
        with self.lock:
            return self.asked.get((name.lower(), qtype), 0)

    def ask_times(self, name, qtype="A"):
        with self.lock:
            return list(self.times.get((name.lower(), qtype), []))

    def _answer(self, msg):
        q = parse_question(msg)
        if q is None:
            return None
        qid, flags, name, qtype, end = q
        tname = TYPES.get(qtype, str(qtype))
        with self.lock:
            self.asked[(name, tname)] = self.asked.get((name, tname), 0) + 1
            self.times.setdefault((name, tname), []).append(time.monotonic())
            entry = self.table.get(name)
        rcode = 0 if entry is not None else 3
        rrs = []
        if entry is not None:
            ttl = int(entry.get("ttl", 1))
            for rec in entry.get(tname, []):
                if qtype == T_A:
                    rdata = socket.inet_pton(socket.AF_INET, rec)
                elif qtype == T_AAAA:
                    rdata = socket.inet_pton(socket.AF_INET6, rec)
                elif qtype == T_SRV:
                    prio, weight, port, target = rec
                    rdata = struct.pack("!HHH", prio, weight, port) + encode_name(target)
                else:
                    continue
                rrs.append(struct.pack("!HHHIH", 0xC00C, qtype, 1, ttl, len(rdata)) + rdata)
        head = struct.pack("!HHHHHH", qid, 0x8180 | (flags & 0x0100) | rcode, 1,
                           len(rrs), 0, 0)
        return head + msg[12:end] + b"".join(rrs)

    def _loop(self):
        while not self.stopping:
            try:
                msg, peer = self.sock.recvfrom(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            if self.silent:
                continue
            reply = self._answer(msg)
            if reply is not None:
                try:
                    self.sock.sendto(reply, peer)
                except OSError:
                    pass

    def cleanup(self):
        self.stopping = True
        try:
            self.sock.close()
        except OSError:
            pass
