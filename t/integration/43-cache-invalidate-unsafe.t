#!/usr/bin/env python3
# Response cache, invalidation by unsafe methods (issue 9 item 11).  Method
# names are case-sensitive: "purge /x" is not PURGE; it is forwarded to the
# backend like any unknown (unsafe) method and, answered 2xx, invalidates
# the URI (RFC 9111 4.4) by default.  [cache] invalidate_unsafe =
# purge_allow lets only purge_allow addresses invalidate that way (others
# are still forwarded, the object stays); off turns it off (PURGE and BAN
# still work).
import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from portico_test import (tap, main, Backend, Portico, subtest_guard, cache_section,
                          cache_status, cs)


def test():
    b = Backend("b1")

    def start(name, **cache):
        p = Portico(upstreams={"app": [b.addr]},
                    routes=[dict(name="cached", path="/", upstream="app", cache="on")],
                    workers=1, extra=cache_section(size="4m", **cache), name=name)
        p.start()
        return p

    def store(p, path):
        b.script(path, headers=[("Cache-Control", "max-age=300")],
                 body=lambda n, rec: ("%s %d\n" % (rec["method"], n)).encode())
        p.get(path)
        return cache_status(p.get(path)).get("hit") is True

    def is_hit(p, path):
        return cache_status(p.get(path)).get("hit") is True

    p = start("portico-default")
    with subtest_guard("default: lower-case purge is an unsafe method"):
        tap.ok(store(p, "/lc"), "/lc stored")
        r = p.get("/lc", method="purge")
        tap.is_(r.status, 200, "purge /lc: answered by the backend")
        tap.is_(r.body, b"purge 2\n", "... which saw the method as sent (case kept)")
        tap.ok(not is_hit(p, "/lc"), "... and, as an unsafe method answered 2xx, invalidated /lc")
        tap.ok(store(p, "/po"), "/po stored")
        tap.is_(p.get("/po", method="POST", body=b"x").status, 200, "POST /po: 200")
        tap.ok(not is_hit(p, "/po"), "... invalidated /po")
    p.stop()

    p = start("portico-allow", invalidate_unsafe="purge_allow", purge_allow="10.0.0.0/8")
    with subtest_guard("invalidate_unsafe = purge_allow, client not in purge_allow"):
        tap.ok(store(p, "/lc"), "/lc stored")
        before = b.hits("/lc")
        r = p.get("/lc", method="purge")
        tap.is_(r.status, 200, "purge /lc: still forwarded and answered")
        tap.is_(b.hits("/lc"), before + 1, "... the backend saw it")
        tap.ok(is_hit(p, "/lc"), "... but /lc stays stored")
        tap.ok(store(p, "/po"), "/po stored")
        tap.is_(p.get("/po", method="POST", body=b"x").status, 200, "POST /po: 200")
        tap.ok(is_hit(p, "/po"), "... /po stays stored")
        tap.is_(p.get("/po", method="PURGE").status, 403, "PURGE from outside purge_allow: 403")
    p.stop()

    p = start("portico-allow-lo", invalidate_unsafe="purge_allow")
    with subtest_guard("invalidate_unsafe = purge_allow, client in purge_allow"):
        tap.ok(store(p, "/po"), "/po stored")
        tap.is_(p.get("/po", method="DELETE").status, 200, "DELETE /po from loopback: 200")
        tap.ok(not is_hit(p, "/po"), "... invalidated /po")
    p.stop()

    p = start("portico-off", invalidate_unsafe="off")
    with subtest_guard("invalidate_unsafe = off"):
        tap.ok(store(p, "/po"), "/po stored")
        tap.is_(p.get("/po", method="PUT", body=b"x").status, 200, "PUT /po: 200")
        tap.ok(is_hit(p, "/po"), "... /po stays stored")
        tap.is_(p.get("/po", method="PURGE").status, 200, "PURGE still removes it: 200")
        tap.ok(not is_hit(p, "/po"), "... gone")
    p.stop()


if __name__ == "__main__":
    main(test, timeout=90)
