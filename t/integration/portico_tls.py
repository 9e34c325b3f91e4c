"""
portico_tls.py: TLS helpers for the integration tests (standard library +
the openssl command line tool).

  Certs       a throw-away CA in a temp dir, and certificates it signs
              (RSA or ECDSA, with the DNS names given), made with `openssl`
  TLSBackend  the harness's Backend, speaking TLS (records whether each
              connection resumed a session)
  TLSClient   the harness's Client over TLS: SNI, ALPN, session reuse,
              protocol versions, client certificates
  client_ctx  an ssl.SSLContext for TLSClient
  TLSPortico  the harness's Portico with keys in its listener sections;
              plain_and_tls() makes one with a plain and a TLS listener
"""

import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading

from portico_test import Backend, Client, Reader, register, unregister


def have_openssl():
    return shutil.which("openssl") is not None


def _run(args, cwd):
    p = subprocess.run(["openssl"] + args, cwd=cwd, capture_output=True, timeout=60)
    if p.returncode != 0:
        raise RuntimeError("openssl %s failed: %s" % (" ".join(args), p.stderr.decode()))


class Certs:
    """A CA and the certificates it signs, in a temp dir removed at clean-up."""

    def __init__(self, ca_name="portico test CA"):
        self.dir = tempfile.mkdtemp(prefix="portico-tls-")
        register(self)
        self.ca_key = self.path("ca.key")
        self.ca = self.path("ca.pem")
        _run(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
              "-nodes", "-keyout", self.ca_key, "-out", self.ca, "-days", "30",
              "-subj", "/CN=" + ca_name], self.dir)

    def path(self, name):
        return os.path.join(self.dir, name)

    def key(self, name, kind="ec"):
        """A new private key file: kind 'ec' (P-256) or 'rsa' (2048)."""
        k = self.path(name + ".key")
        if kind == "rsa":
            _run(["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
                  "-out", k], self.dir)
        else:
            _run(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                  "-out", k], self.dir)
        return k

    def issue(self, name, dns=(), kind="ec", cn=None, client=False, chain=True,
              self_signed=False, ip=()):
        """Key + certificate for the DNS names (and IPs): (cert_path, key_path).
        The certificate file holds the full chain (leaf + CA) unless chain=False."""
        k = self.key(name, kind)
        csr = self.path(name + ".csr")
        crt = self.path(name + ".crt")
        ext = self.path(name + ".ext")
        sans = ["DNS:" + d for d in dns] + ["IP:" + i for i in ip]
        with open(ext, "w") as f:
            if sans:
                f.write("subjectAltName=%s\n" % ",".join(sans))
            f.write("extendedKeyUsage=%s\n" % ("clientAuth" if client else "serverAuth"))
            f.write("basicConstraints=CA:FALSE\n")
        subj = "/CN=%s" % (cn or (dns[0] if dns else name))
        if client:
            subj = "/C=XX/O=portico tests/CN=%s" % (cn or name)
        _run(["req", "-new", "-key", k, "-out", csr, "-subj", subj], self.dir)
        if self_signed:
            _run(["x509", "-req", "-in", csr, "-signkey", k, "-out", crt, "-days", "30",
                  "-extfile", ext], self.dir)
        else:
            _run(["x509", "-req", "-in", csr, "-CA", self.ca, "-CAkey", self.ca_key,
                  "-CAcreateserial", "-out", crt, "-days", "30", "-extfile", ext], self.dir)
        pem = self.path(name + ".pem")
        with open(pem, "w") as out:
            out.write(open(crt).read())
            if chain and not self_signed:
                out.write(open(self.ca).read())
        return pem, k

    def cleanup(self):
        unregister(self)
        shutil.rmtree(self.dir, ignore_errors=True)


def client_ctx(ca=None, alpn=("http/1.1",), min_version=None, max_version=None,
               cert=None, ciphers=None):
    """A client context that verifies against ca (or verifies nothing)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    if ca:
        ctx.load_verify_locations(ca)
        ctx.verify_mode = ssl.CERT_REQUIRED
    else:
        ctx.verify_mode = ssl.CERT_NONE
    if alpn:
        ctx.set_alpn_protocols(list(alpn))
    if min_version is not None:
        ctx.minimum_version = min_version
    if max_version is not None:
        ctx.maximum_version = max_version
    if ciphers:
        ctx.set_ciphers(ciphers)
    if cert:
        ctx.load_cert_chain(cert[0], cert[1])
    return ctx


class TLSClient(Client):
    """Client over TLS.  ctx from client_ctx(); sni None sends no SNI."""

    def __init__(self, port, ctx, sni=None, session=None, host="127.0.0.1", timeout=10):
        fam = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.host = host
        self.port = port
        raw = socket.socket(fam, socket.SOCK_STREAM)
        raw.settimeout(timeout)
        raw.connect((host, port))
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            self.sock = ctx.wrap_socket(raw, server_hostname=sni, session=session)
        except BaseException:
            raw.close()
            raise
        self.r = Reader(self.sock)
        self.responses = 0

    def peer_cn(self):
        """The CN of the certificate the server sent (verified contexts only)."""
        cert = self.sock.getpeercert()
        for rdn in cert.get("subject", ()):
            for k, v in rdn:
                if k == "commonName":
                    return v
        return None

    def peer_der(self):
        return self.sock.getpeercert(binary_form=True)


class TLSBackend(Backend):
    """Backend over TLS with (cert, key); .resumed[conn_id] says whether that
    connection resumed a session, .alpn[conn_id] what it negotiated."""

    def __init__(self, cert, key, name="tb1", **kw):
        self.sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.sctx.load_cert_chain(cert, key)
        self.resumed = {}
        self.handshake_errors = []
        self.tls_lock = threading.Lock()
        Backend.__init__(self, name=name, **kw)

    def _serve(self, s, cid):
        try:
            s.settimeout(10)
            ts = self.sctx.wrap_socket(s, server_side=True)
        except (OSError, ssl.SSLError) as e:
            with self.tls_lock:
                self.handshake_errors.append(str(e))
            with self.lock:
                self.socks.discard(s)
            try:
                s.close()
            except OSError:
                pass
            return
        with self.tls_lock:
            self.resumed[cid] = ts.session_reused
        with self.lock:
            self.socks.discard(s)
            self.socks.add(ts)
        Backend._serve(self, ts, cid)


from portico_test import Portico, free_port  # noqa: E402


class TLSPortico(Portico):
    """Portico with keys added to listener sections:
    listener_opts = {"web": [("tls_certificate", path), ("tls_key", path), ...]}."""

    def __init__(self, listener_opts=None, **kw):
        self.listener_opts = dict(listener_opts or {})
        Portico.__init__(self, **kw)

    def config_text(self):
        text = Portico.config_text(self)
        if self.raw_config is not None:
            return text
        out = []
        lines = text.split("\n")
        i = 0
        while i < len(lines):
            out.append(lines[i])
            name = None
            if lines[i].startswith("[listener ") and lines[i].endswith("]"):
                name = lines[i][len("[listener "):-1]
            i += 1
            if name is not None:
                while i < len(lines) and lines[i].startswith("listen = "):
                    out.append(lines[i])
                    i += 1
                out += ["%s = %s" % kv for kv in self.listener_opts.get(name, [])]
        return "\n".join(out)


def plain_and_tls(certs, upstreams, routes, extra="", name="a", dns=("a.test",)):
    """A TLSPortico (one worker) with two listeners: web, plain, and
    secure, TLS with a certificate from certs for the names dns; p.get and
    p.client use web.  Returns (p, web's port, secure's port); p is not
    started."""
    pem, key = certs.issue(name, dns=list(dns))
    port, tport = free_port(), free_port()
    p = TLSPortico(upstreams=upstreams, routes=routes, workers=1,
                   listeners={"web": ["127.0.0.1:%d" % port],
                              "secure": ["127.0.0.1:%d" % tport]},
                   listener_opts={"secure": [("tls_certificate", pem), ("tls_key", key)]},
                   extra=extra)
    p.listen_addr = lambda: ("127.0.0.1", port)
    return p, port, tport
