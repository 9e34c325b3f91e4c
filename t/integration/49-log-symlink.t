#!/usr/bin/env python3
# USR1 (reopen logs) and a worker user who can write the log directory:
# access.log and error.log swapped for symbolic links to root-owned files
# are refused (error logged, old files kept, the targets neither chowned
# nor written); an ordinary rotation still works and the new files belong
# to the worker user.
import os
import pwd
import subprocess
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from portico_test import tap, main, Backend, Portico, subtest_guard, wait_until

SECRET = b"root's own data\n"


def as_user(pw, argv):
    """Run argv as the worker user, as an attacker holding its uid would."""
    def drop():
        os.setgroups([])
        os.setgid(pw.pw_gid)
        os.setuid(pw.pw_uid)
    return subprocess.run(argv, preexec_fn=drop, capture_output=True, timeout=10)


def test():
    if os.geteuid() != 0:
        tap.ok(True, "# SKIP not root")
        return
    nobody = pwd.getpwnam("nobody")
    b = Backend("b1")
    p = Portico(upstreams={"app": [b.addr]}, global_opts={"user": "nobody"},
                name="portico-symlink")
    logs = os.path.join(p.tmp, "logs")
    os.mkdir(logs)
    os.chown(logs, nobody.pw_uid, nobody.pw_gid)     # the worker user may write here
    p.error_log_path = os.path.join(logs, "error.log")
    p.access_log_path = os.path.join(logs, "access.log")
    p.write_config()
    p.start()
    secret_a = os.path.join(p.tmp, "secret-a")
    secret_e = os.path.join(p.tmp, "secret-e")
    for s in (secret_a, secret_e):
        with open(s, "wb") as f:
            f.write(SECRET)
        os.chmod(s, 0o644)

    with subtest_guard("symlink swap"):
        tap.is_(p.get("/before").status, 200, "a request before the swap")
        wait_until(lambda: any("/before" in l for l in p.access_lines()), 5)
        r1 = as_user(nobody, ["mv", p.access_log_path, p.access_log_path + ".1"])
        r2 = as_user(nobody, ["ln", "-s", secret_a, p.access_log_path])
        r3 = as_user(nobody, ["mv", p.error_log_path, p.error_log_path + ".1"])
        r4 = as_user(nobody, ["ln", "-s", secret_e, p.error_log_path])
        tap.ok(all(r.returncode == 0 for r in (r1, r2, r3, r4)),
               "the worker user swapped both logs for symbolic links",
               repr([r.stderr for r in (r1, r2, r3, r4)]))
        p.signal("USR1")
        old_err = p.error_log_path + ".1"
        line = p.wait_log(r"error log .*symbolic link", 5, path=old_err)
        tap.ok(line, "the master refuses the error log link and says so in the old error log",
               p._read(old_err)[-1500:])
        line = p.wait_log(r"access log .*symbolic link", 5, path=old_err)
        tap.ok(line, "... and the access log link", p._read(old_err)[-1500:])
        tap.like(line or "", r"\[error\]", "... at error level")
        tap.is_(p.get("/after").status, 200, "requests are still served")
        wait_until(lambda: any("/after" in l for l in p.access_lines(p.access_log_path + ".1")), 5)
        tap.ok(any("/after" in l for l in p.access_lines(p.access_log_path + ".1")),
               "the workers kept their old access log")
        time.sleep(0.3)
        for s in (secret_a, secret_e):
            st = os.stat(s)
            tap.is_((st.st_uid, st.st_gid), (0, 0), "%s still belongs to root"
                    % os.path.basename(s))
            with open(s, "rb") as f:
                tap.is_(f.read(), SECRET, "%s was not written to" % os.path.basename(s))
        tap.ok(os.path.islink(p.access_log_path) and os.path.islink(p.error_log_path),
               "the links are left alone")

    with subtest_guard("ordinary rotation"):
        os.unlink(p.access_log_path)
        os.unlink(p.error_log_path)
        p.signal("USR1")
        ok = wait_until(lambda: os.path.exists(p.access_log_path)
                        and os.path.exists(p.error_log_path), 5)
        tap.ok(ok, "with the links gone, USR1 creates new logs")
        for path in (p.access_log_path, p.error_log_path):
            st = os.lstat(path) if os.path.exists(path) else None
            tap.ok(st and st.st_uid == nobody.pw_uid and not os.path.islink(path),
                   "%s is a file of the worker user" % os.path.basename(path))
        # A worker that has not read its USR1 yet logs in the old file:
        # ask until one lands in the new one.
        tap.is_(p.get("/rotated").status, 200, "a request after the rotation")
        tap.ok(wait_until(lambda: p.get("/rotated") and
                          any("/rotated" in l for l in p.access_lines()), 10, 0.2),
               "... requests are logged in the new access log")
    p.stop()


main(test, timeout=60)
