#!/usr/bin/env python3
# The web application firewall's configuration: a rule file ModSecurity
# refuses is a config error naming the portico.ini line and the rule
# file's line (-t exits 1, and the daemon does not start); a missing
# rule file, waf = on without waf_rules and a bad waf value too; a rule's
# own status is answered, and its SecAuditLog written; a relative waf_rules is taken from the config's
# directory; a reload with a broken rule file keeps the old rules
# serving, and a reload with changed rules applies them.  With
# waf_response_headers = on a rule on the backend's response head answers
# the client instead (its status, none of the backend's body, the
# connection usable for the next request); without it the rule is not run.
import os
import re
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from portico_test import (tap, main, Backend, Portico, subtest_guard, get, run_portico,
                          wait_until, Client)

GOOD = """# test rules
SecAuditEngine RelevantOnly
SecAuditLogParts ABHZ
SecAuditLogType Serial
SecAuditLog @TMP@/audit.log
SecRule ARGS:block "@streq yes" "id:1001,phase:1,deny,status:403,log,msg:'block asked'"
SecRule REQUEST_HEADERS:X-Legal "@streq yes" "id:1002,phase:1,deny,status:451,log,msg:'legal'"
SecRule RESPONSE_HEADERS:X-Leak "@streq secret" "id:1004,phase:3,deny,status:403,log,msg:'leak'"
"""
NEWER = """# test rules, second generation
SecRule ARGS:block "@streq yes" "id:1001,phase:1,deny,status:403,log,msg:'block asked'"
SecRule ARGS:also "@streq yes" "id:1003,phase:2,deny,status:403,log,msg:'also'"
"""
# ModSecurity refuses a rule without an id, at the line of the rule.
BROKEN = """# broken
SecRule ARGS:block "@streq yes" "id:1001,phase:1,deny,status:403,log"

SecRule ARGS:x "@streq y" "phase:1,deny,log"
"""


def test():
    b = Backend("b1")
    p = Portico(upstreams={"app": [b.addr]},
                routes=[dict(name="resp", path="/resp/", upstream="app", waf="on",
                             waf_response_headers="on"),
                        dict(name="main", path="/", upstream="app", waf="on")],
                global_opts={"waf_rules": "rules.conf"})
    rules = os.path.join(p.tmp, "rules.conf")
    with open(rules, "w") as f:
        f.write(GOOD.replace("@TMP@", p.tmp))
    text = p.config_text()

    def check(bad, what, regex, line_of):
        path = os.path.join(p.tmp, "bad.ini")
        with open(path, "w") as f:
            f.write(bad)
        line = bad.split("\n").index(line_of) + 1
        rc, out, err = run_portico(["-t", "-c", path])
        tap.is_(rc, 1, "-t, %s: exits 1" % what, err)
        tap.like(err, r"(?m)^%s:%d: %s" % (re.escape(path), line, regex),
                 "-t, %s: file:line and what is wrong" % what)
        return path

    with subtest_guard("config errors"):
        with open(os.path.join(p.tmp, "broken.conf"), "w") as f:
            f.write(BROKEN)
        bad = text.replace("waf_rules = rules.conf", "waf_rules = rules.conf broken.conf")
        path = check(bad, "a rule without an id",
                     r"waf_rules %s:4: Rules must have an ID" %
                     re.escape(os.path.join(p.tmp, "broken.conf")),
                     "waf_rules = rules.conf broken.conf")
        rc, out, err = run_portico(["-F", "-c", path], timeout=20)
        tap.is_(rc, 1, "the daemon does not start with it: exit 1", err)
        tap.like(err, r"Rules must have an ID", "... and says why")
        check(text.replace("waf_rules = rules.conf", "waf_rules = /nonexistent/x.conf"),
              "a missing rule file",
              r"waf_rules /nonexistent/x\.conf: Failed to open the file",
              "waf_rules = /nonexistent/x.conf")
        check(text.replace("waf_rules = rules.conf\n", ""), "waf = on without waf_rules",
              r"route 'resp': waf needs waf_rules in \[global\]", "waf = on")
        check(text.replace("waf = on", "waf = block"), "a bad waf value",
              r"bad waf 'block': expected on, detect or off", "waf = block")
        bad = text.replace("waf_rules = rules.conf\n", "waf_rules = rules.conf\n"
                           "waf_body_limit = 2g\n")
        check(bad, "waf_body_limit over 1g", r"bad waf_body_limit '2g'",
              "waf_body_limit = 2g")

    p.start()
    with subtest_guard("the rules apply, with their status"):
        tap.is_(get(p.port, "/a?block=yes").status, 403, "rule 1001: 403")
        tap.is_(get(p.port, "/b", headers=[("X-Legal", "yes")]).status, 451,
                "rule 1002 says status:451: 451")
        tap.is_(b.hits("/a?block=yes") + b.hits("/b"), 0, "the backend saw neither")
        tap.is_(get(p.port, "/c?block=no").status, 200, "a request no rule matches: 200")
        tap.ok(p.wait_log(r"client 127\.0\.0\.1: waf: route main: blocked with 451 "
                          r"\(rule 1002: legal\)"),
               "the block is logged with the rule's id and message")

        def audited():
            try:
                with open(os.path.join(p.tmp, "audit.log")) as f:
                    a = f.read()
            except OSError:
                return False
            return 'GET /b HTTP/1.1' in a and '[id "1002"]' in a
        tap.ok(wait_until(audited, 5), "the rules' audit log (SecAuditLog) has the "
               "request and the rule, written by a worker")

    with subtest_guard("waf_response_headers: a rule on the backend's head"):
        secret = b"BACKEND-BODY-" * 4000
        for path in ("/resp/leak", "/leak"):
            b.script(path, headers=[("X-Leak", "secret")], body=secret)
        with Client(p.port, "127.0.0.1", 10) as c:
            r = c.request("GET", "/resp/leak")
            tap.is_(r.status, 403, "rule 1004 on the response head: the client gets 403")
            tap.ok(b"BACKEND-BODY" not in r.body and r.header("X-Leak") is None,
                   "... and nothing of the backend's answer")
            tap.is_(b.hits("/resp/leak"), 1, "the backend was asked (phase 3)")
            r2 = c.request("GET", "/resp/ok")
            tap.ok(r2.status == 200 and b"BACKEND-BODY" not in r2.body,
                   "the next request on the connection gets its own answer",
                   (r2.status, r2.body[:40]))
        tap.ok(p.wait_log(r"client 127\.0\.0\.1: waf: route resp: blocked with 403 "
                          r"\(rule 1004: leak\)"), "the block is logged with the rule")
        r = get(p.port, "/leak")
        tap.ok(r.status == 200 and r.body == secret,
               "a route without waf_response_headers: the backend's answer, whole")
        tap.is_(get(p.port, "/resp/fine").status, 200, "a response no rule matches: 200")

    with subtest_guard("a reload with a broken rule file keeps the old rules"):
        with open(rules, "w") as f:
            f.write(BROKEN)
        p.signal("HUP")
        tap.ok(p.wait_log(r"%s:4: Rules must have an ID" % re.escape(rules), 10),
               "the reload is refused: the rule file and line are logged")
        tap.ok(p.wait_log(r"reload failed: keeping the running configuration", 10),
               "... and the running configuration kept")
        tap.is_(get(p.port, "/d?block=yes").status, 403, "the old rules still block")
        tap.is_(get(p.port, "/e", headers=[("X-Legal", "yes")]).status, 451,
                "... all of them")
        tap.is_(get(p.port, "/f").status, 200, "and still serve")

    with subtest_guard("a reload with changed rules applies them"):
        with open(rules, "w") as f:
            f.write(NEWER)
        p.signal("HUP")
        tap.ok(p.wait_log(r"configuration reloaded", 10), "the reload is done")

        def new_rules():
            return get(p.port, "/g", headers=[("X-Legal", "yes")]).status == 200
        tap.ok(wait_until(new_rules, 10), "rule 1002 is gone")
        tap.is_(get(p.port, "/h?also=yes").status, 403, "rule 1003 (phase 2) blocks")

    with subtest_guard("a reload from on to detect"):
        p.write_config(text.replace("waf = on", "waf = detect"))
        p.signal("HUP")
        tap.ok(p.wait_log(r"reload: .*route main: waf changed", 10),
               "the reload summary names the route's waf")

        def detecting():
            return get(p.port, "/i?block=yes").status == 200
        tap.ok(wait_until(detecting, 10), "the rule's match is forwarded now")
        tap.ok(p.wait_log(r"client 127\.0\.0\.1: waf \(detect\): route main: would "
                          r"answer 403 \(rule 1001: block asked\); forwarded"),
               "... and logged")
    p.stop()


if __name__ == "__main__":
    main(test, timeout=120)
