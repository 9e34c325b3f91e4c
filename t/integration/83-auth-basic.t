#!/usr/bin/env python3
# Basic authentication on routes (auth_basic, auth_basic_file,
# auth_basic_forward): a missing, malformed or wrong Authorization gets
# portico's 401 with WWW-Authenticate and the backend never sees the
# request; good credentials pass for each hash kind libcrypt checks
# (bcrypt $2y$ and $2b$, SHA-crypt $5$ and $6$, yescrypt $y$), and the
# Authorization field is not forwarded unless auth_basic_forward = on; a
# reload reads a changed file; a bad line of the file is a config error
# naming the htpasswd file and its line, weak hashes ($apr1$, $1$, plain
# text) included.
import base64
import ctypes
import ctypes.util
import os
import re
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from portico_test import (tap, main, Backend, Portico, subtest_guard, get, hget,
                          run_portico, wait_until)

_crypt = ctypes.CDLL(ctypes.util.find_library("crypt") or "libcrypt.so.1")
_crypt.crypt.restype = ctypes.c_char_p
_crypt.crypt.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
_crypt.crypt_gensalt.restype = ctypes.c_char_p
_crypt.crypt_gensalt.argtypes = [ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p, ctypes.c_int]


def mkhash(prefix, count, password):
    """A hash of password by libcrypt (the test's own, through ctypes)."""
    salt = _crypt.crypt_gensalt(prefix.encode(), count, None, 0)
    h = _crypt.crypt(password.encode(), salt)
    assert h is not None and not h.startswith(b"*"), prefix
    return h.decode()


USERS = [("bcrypt2y", "$2y$", 5), ("bcrypt2b", "$2b$", 4), ("sha256", "$5$", 0),
         ("sha512", "$6$", 0), ("yescrypt", "$y$", 0)]


def basic(user, password):
    return [("Authorization", "Basic " + base64.b64encode(
        ("%s:%s" % (user, password)).encode()).decode())]


def ask(port, path, headers=None):
    """get(), asked again while the worker's hashing queue is full (503
    with Retry-After)."""
    for _ in range(30):
        r = get(port, path, headers=headers)
        if r.status != 503 or r.header("Retry-After") is None:
            return r
        time.sleep(1.0)
    return r


def test():
    b = Backend("b1")
    p = Portico(upstreams={"app": [b.addr]}, routes=[])
    htfile = os.path.join(p.tmp, "users.htpasswd")
    lines = ["# portico test users", ""]
    for user, prefix, count in USERS:
        lines.append("%s:%s" % (user, mkhash(prefix, count, "pw-" + user)))
    with open(htfile, "w") as f:
        f.write("\r\n".join(lines) + "\r\n")
    p.routes = [
        dict(name="private", path="/private/", upstream="app",
             auth_basic="Staff only", auth_basic_file=htfile,
             request_header_set="X-Remote-User $remote_user"),
        dict(name="fwd", path="/fwd/", upstream="app", auth_basic='"Fwd"',
             auth_basic_file=htfile, auth_basic_forward="on"),
        dict(name="main", path="/", upstream="app"),
    ]
    p.write_config()
    p.start()

    def refused(path, headers, what):
        r = ask(p.port, path, headers=headers)
        tap.is_(r.status, 401, "%s: 401" % what)
        tap.is_(r.header("WWW-Authenticate"), 'Basic realm="Staff only"',
                "%s: the challenge names the realm" % what)
        tap.is_(b.requests_for(path), [], "%s: the backend never sees it" % what)

    with subtest_guard("missing, malformed and wrong credentials"):
        refused("/private/none", None, "no Authorization")
        refused("/private/wrong", basic("sha512", "nope"), "a wrong password")
        refused("/private/unknown", basic("mallory", "pw-mallory"), "an unknown user")
        refused("/private/user", basic("sha512", "pw-sha256"),
                "another user's password")
        refused("/private/bearer", [("Authorization", "Bearer pw-sha512")],
                "another scheme")
        refused("/private/b64", [("Authorization", "Basic !!!notbase64")],
                "Basic with a malformed token")
        refused("/private/nocolon", [("Authorization", "Basic " +
                base64.b64encode(b"sha512").decode())], "no colon in the credentials")
        two = basic("sha512", "pw-sha512") + basic("sha512", "pw-sha512")
        refused("/private/two", two, "two Authorization fields")
        tap.ok(p.wait_log(r"client 127\.0\.0\.1: authentication failed on route "
                          r"private"), "a failure is logged with address and route")

    with subtest_guard("good credentials, each hash kind"):
        for user, prefix, _ in USERS:
            path = "/private/" + user
            r = ask(p.port, path, headers=basic(user, "pw-" + user))
            tap.is_(r.status, 200, "%s (%s): 200" % (user, prefix))
            seen = b.requests_for(path)
            tap.is_(len(seen), 1, "%s: the backend answers" % user)
            tap.is_(hget(seen[0]["headers"], "authorization") if seen else "x", None,
                    "%s: Authorization is not forwarded" % user)
            tap.is_(hget(seen[0]["headers"], "x-remote-user") if seen else None, user,
                    "%s: $remote_user names the user (a request rule)" % user)
        # The second time comes from the worker's table of checks: same answer.
        r = ask(p.port, "/private/again", headers=basic("bcrypt2y", "pw-bcrypt2y"))
        tap.is_(r.status, 200, "the same good credentials again: 200")
        r = ask(p.port, "/private/again2", headers=basic("bcrypt2y", "pw-wrong"))
        tap.is_(r.status, 401, "then a wrong password for that user: 401")
        r = ask(p.port, "/other", headers=None)
        tap.is_(r.status, 200, "a route without auth_basic needs nothing")
        r = ask(p.port, "/private/x", headers=None)
        tap.is_(r.status, 401, "no credentials: 401")

    with subtest_guard("auth_basic_forward = on"):
        cred = basic("sha256", "pw-sha256")
        r = ask(p.port, "/fwd/1", headers=cred)
        tap.is_(r.status, 200, "forward route: 200")
        seen = b.requests_for("/fwd/1")
        tap.is_(hget(seen[0]["headers"], "authorization") if seen else None,
                cred[0][1], "the backend gets the Authorization field")
        r = ask(p.port, "/fwd/2")
        tap.is_(r.status, 401, "forward route without credentials: 401")
        tap.is_(r.header("WWW-Authenticate"), 'Basic realm="Fwd"',
                "its own realm (written in double quotes, as nginx users do)")

    with subtest_guard("reload reads the changed file"):
        with open(htfile, "w") as f:
            f.write("sha512:%s\n" % mkhash("$6$", 0, "new-password"))
        p.signal("HUP")

        def changed():
            return ask(p.port, "/private/reload",
                       headers=basic("sha512", "new-password")).status == 200
        tap.ok(wait_until(changed, 10), "after HUP the new password is taken")
        tap.is_(ask(p.port, "/private/old", headers=basic("sha512", "pw-sha512")).status,
                401, "the old password is refused")
        tap.is_(ask(p.port, "/private/gone", headers=basic("bcrypt2y", "pw-bcrypt2y")).status,
                401, "a user no longer in the file is refused")

    with subtest_guard("bad files are config errors with the htpasswd file:line"):
        good = mkhash("$2y$", 4, "x")
        for body, bad_line, msg in [
                ("a:%s\nb:$apr1$abcdefgh$IQtUouv7y7Q9dRWkQEPCc.\n" % good, 2, r"\$apr1\$"),
                ("# c\n\nb:$1$abcdefgh$IQtUouv7y7Q9dRWkQEPCc.\n", 3, r"MD5-crypt"),
                ("a:%s\nb:secret\n" % good, 2, r"plain text"),
                ("a:%s\njust-a-name\n" % good, 2, r"expected user:hash"),
                ("a:%s\na:%s\n" % (good, good), 2, r"named twice")]:
            bad = os.path.join(p.tmp, "bad.htpasswd")
            with open(bad, "w") as f:
                f.write(body)
            text = p.config_text().replace(htfile, bad)
            path = os.path.join(p.tmp, "bad.ini")
            with open(path, "w") as f:
                f.write(text)
            rc, out, err = run_portico(["-t", "-c", path])
            tap.is_(rc, 1, "-t with %s: exits 1" % msg, err)
            tap.like(err, r"(?m)^%s:%d: .*%s" % (re.escape(bad), bad_line, msg),
                     "-t with %s: names %s:%d" % (msg, os.path.basename(bad), bad_line))
        text = p.config_text().replace("auth_basic_file = %s\n" % htfile, "", 1)
        path = os.path.join(p.tmp, "bad.ini")
        with open(path, "w") as f:
            f.write(text)
        line = text.split("\n").index("auth_basic = Staff only") + 1
        rc, out, err = run_portico(["-t", "-c", path])
        tap.like(err, r"(?m)^%s:%d: route 'private': auth_basic needs auth_basic_file"
                 % (re.escape(path), line), "auth_basic without a file: file:line")
        text = p.config_text().replace("auth_basic = Staff only", 'auth_basic = Sta"ff', 1)
        with open(path, "w") as f:
            f.write(text)
        rc, out, err = run_portico(["-t", "-c", path])
        tap.like(err, r"(?m)^%s:%d: bad auth_basic 'Sta\"ff'" % (re.escape(path), line),
                 "a realm with a double quote inside: file:line")
        # A reload with a broken file keeps the old users.
        with open(htfile, "a") as f:
            f.write("broken\n")
        p.signal("HUP")
        tap.ok(p.wait_log(r"users\.htpasswd:2: expected user:hash", 10),
               "a reload with a broken file logs its file:line")
        tap.is_(ask(p.port, "/private/kept", headers=basic("sha512", "new-password")).status,
                200, "and the users loaded before stay")
    p.stop()


if __name__ == "__main__":
    main(test, timeout=120, tests=71)
