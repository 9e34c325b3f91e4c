#!/usr/bin/env python3
# The metrics of the status endpoint (issue 14, Observability): version,
# start time and uptime, open client connections per worker and in total,
# answers per route and status class, request-duration histograms per
# route, upstream response-time histograms, certificate expiry times;
# # HELP and # TYPE on every family, the whole exposition text parsed
# strictly; the JSON with the same numbers; counts kept across reloads and
# the death of a worker.
import json
import math
import os
import re
import socket
import subprocess
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from portico_test import (tap, main, Backend, subtest_guard, free_port, wait_until,
                          portico_path)
from portico_tls import Certs, TLSPortico, have_openssl

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\\\|\\"|\\n)*"'
SAMPLE = re.compile(r"^(%s)(?:\{((?:%s)(?:,%s)*)?\})? (\S+)$" % (NAME, LABEL, LABEL))
LABEL_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\\\|\\"|\\n)*)"')
TYPES = ("counter", "gauge", "histogram", "summary", "untyped")


def unescape(v):
    return re.sub(r"\\(.)", lambda m: "\n" if m.group(1) == "n" else m.group(1), v)


def parse_exposition(text):
    """Parse Prometheus text format 0.0.4 strictly.  Returns (families,
    samples, errors): families {name: {"type", "help"}}, samples
    {(name, frozenset(labels)): value}, errors a list of strings."""
    errors, fams, samples = [], {}, {}
    if not text.endswith("\n"):
        errors.append("the body does not end with a newline")
    cur = None
    done = set()            # families whose group of samples has ended
    for n, line in enumerate(text.split("\n")[:-1], 1):
        if line.startswith("# HELP "):
            parts = line.split(" ", 3)
            if len(parts) < 4 or not re.fullmatch(NAME, parts[2]) or not parts[3]:
                errors.append("line %d: bad HELP: %r" % (n, line))
                continue
            f = fams.setdefault(parts[2], {})
            if "help" in f or "type" in f:
                errors.append("line %d: HELP for %s again or after its TYPE" % (n, parts[2]))
            f["help"] = parts[3]
            continue
        if line.startswith("# TYPE "):
            parts = line.split(" ")
            if len(parts) != 4 or not re.fullmatch(NAME, parts[2]) or parts[3] not in TYPES:
                errors.append("line %d: bad TYPE: %r" % (n, line))
                continue
            f = fams.setdefault(parts[2], {})
            if "type" in f:
                errors.append("line %d: TYPE for %s again" % (n, parts[2]))
            f["type"] = parts[3]
            if cur is not None:
                done.add(cur)
            cur = parts[2]
            continue
        if line.startswith("#") or line == "":
            errors.append("line %d: not a sample, HELP or TYPE: %r" % (n, line))
            continue
        m = SAMPLE.match(line)
        if not m:
            errors.append("line %d: not a valid sample: %r" % (n, line))
            continue
        name, labels, value = m.group(1), m.group(2) or "", m.group(3)
        try:
            v = float(value)
        except ValueError:
            errors.append("line %d: bad value %r" % (n, value))
            continue
        lab = {k: unescape(x) for k, x in LABEL_RE.findall(labels)}
        fam = name
        if cur is not None and fams.get(cur, {}).get("type") == "histogram":
            for suf in ("_bucket", "_sum", "_count"):
                if name == cur + suf:
                    fam = cur
        if fam != cur:
            errors.append("line %d: sample %s outside its family's group (current %s)"
                          % (n, name, cur))
        if fam in done:
            errors.append("line %d: family %s split in two groups" % (n, fam))
        if fam == cur and fams[cur].get("type") == "histogram" and name == fam:
            errors.append("line %d: histogram sample without a suffix" % n)
        if name.endswith("_bucket") and "le" not in lab:
            errors.append("line %d: bucket without le" % n)
        key = (name, frozenset(lab.items()))
        if key in samples:
            errors.append("line %d: duplicate series %s%r" % (n, name, lab))
        samples[key] = v
    for f, d in fams.items():
        if "help" not in d:
            errors.append("family %s has no HELP" % f)
        if "type" not in d:
            errors.append("family %s has no TYPE" % f)
        if d.get("type") == "counter" and not f.endswith("_total"):
            errors.append("counter %s does not end in _total" % f)
    return fams, samples, errors


def value(samples, name, **labels):
    return samples.get((name, frozenset(labels.items())))


def histogram(samples, name, **labels):
    """(buckets [(le, count)] in le order, sum, count) for one label set."""
    b = []
    for (n, lab), v in samples.items():
        d = dict(lab)
        le = d.pop("le", None)
        if n == name + "_bucket" and d == labels:
            b.append((math.inf if le == "+Inf" else float(le), v))
    b.sort()
    return b, value(samples, name + "_sum", **labels), value(samples, name + "_count", **labels)


def histogram_errors(samples, fams):
    """Every histogram series: buckets cumulative, +Inf = _count, the bounds
    the docs promise."""
    want = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, math.inf]
    errs = []
    for f, d in fams.items():
        if d.get("type") != "histogram":
            continue
        sets = {frozenset((k, v) for k, v in lab if k != "le")
                for (n, lab) in samples if n == f + "_bucket"}
        for s in sets:
            b, total, count = histogram(samples, f, **dict(s))
            if [le for le, _ in b] != want:
                errs.append("%s%r: bounds %r" % (f, dict(s), [le for le, _ in b]))
            if any(b[i][1] > b[i + 1][1] for i in range(len(b) - 1)):
                errs.append("%s%r: buckets not cumulative" % (f, dict(s)))
            if not b or count is None or b[-1][1] != count:
                errs.append("%s%r: +Inf bucket != _count" % (f, dict(s)))
            if total is None or total < 0:
                errs.append("%s%r: no _sum" % (f, dict(s)))
    return errs


def not_after(pem):
    out = subprocess.run(["openssl", "x509", "-enddate", "-noout", "-in", pem],
                         capture_output=True, text=True, timeout=30).stdout
    import ssl
    return int(ssl.cert_time_to_seconds(out.strip().split("=", 1)[1]))


def test():
    if not have_openssl():
        tap.ok(False, "the openssl command is installed (apt-get install openssl)")
        return
    t0 = int(time.time())
    certs = Certs()
    a_pem, a_key = certs.issue("a", dns=["a.test"])
    # A second one, with a quote and a backslash in its file name: label
    # values must be escaped.
    b_pem0, b_key = certs.issue("b", dns=["b.test"], kind="rsa")
    b_pem = os.path.join(certs.dir, 'odd "name\\.pem')
    os.rename(b_pem0, b_pem)
    app, api = Backend("app"), Backend("api")
    port = free_port()
    routes = [
        dict(name="status", host="localhost", path="/_portico/", handler="status"),
        dict(name="api", host="localhost", path="/api/", upstream="api"),
        dict(name="main", host="localhost", path="/", upstream="app"),
    ]
    p = TLSPortico(
        upstreams={"app": [app.addr], "api": [api.addr]},
        listeners={"web": ["127.0.0.1:%d" % port], "secure": ["127.0.0.1:%d" % free_port()]},
        listener_opts={"secure": [("tls_certificate", a_pem), ("tls_key", a_key),
                                  ("tls_certificate", b_pem), ("tls_key", b_key)]},
        routes=routes, workers=2)
    p.listen_addr = lambda: ("127.0.0.1", port)
    p.start()

    def scrape():
        r = p.get("/_portico/metrics")
        return r, parse_exposition(r.body.decode())

    def status():
        return json.loads(p.get("/_portico/status").body)

    # The known set of requests.
    want = {"main": {"2xx": 3, "4xx": 2, "5xx": 1}, "api": {"2xx": 4, "5xx": 1}}
    for t in ("/echo/1", "/echo/2", "/echo/3", "/status/404", "/status/403", "/status/503"):
        p.get(t)
    for t in ("/api/echo/1", "/api/echo/2", "/api/status/500", "/api/slow/0.3",
              "/api/slow/0.3"):
        p.get(t)
    noroute = p.get("/echo/x", host="nowhere.test").status

    with subtest_guard("exposition format"):
        r, (fams, samples, errs) = scrape()
        tap.is_(r.status, 200, "metrics: 200")
        tap.is_(r.header("Content-Type"), "text/plain; version=0.0.4",
                "metrics: text format 0.0.4")
        tap.is_(errs, [], "metrics: every line valid, every family has HELP and TYPE, "
                "one group per family, no duplicate series", "\n".join(errs[:20]))
        old = ["portico_connections_total", "portico_requests_total", "portico_responses_total",
               "portico_upstream_errors_total", "portico_server_up",
               "portico_server_requests_total", "portico_tls_handshakes_total",
               "portico_connections_refused_total"]
        tap.ok(all(fams.get(f, {}).get("help") for f in old),
               "metrics: the families that were there before have HELP too",
               str({f: fams.get(f) for f in old}))
        herrs = histogram_errors(samples, fams)
        tap.is_(herrs, [], "metrics: every histogram cumulative, +Inf = _count, "
                "buckets 5ms .. 10s", "\n".join(herrs))

    with subtest_guard("requests per route and class"):
        for route, classes in want.items():
            got = {c: value(samples, "portico_route_responses_total", route=route,
                            **{"class": c}) for c in ("1xx", "2xx", "3xx", "4xx", "5xx")}
            exp = {c: float(classes.get(c, 0)) for c in got}
            tap.is_(got, exp, "route %s: answers per class exactly as sent" % route)
            b, total, count = histogram(samples, "portico_route_request_duration_seconds",
                                        route=route)
            tap.is_(count, float(sum(classes.values())),
                    "route %s: duration _count = its requests" % route)
        b, total, count = histogram(samples, "portico_route_request_duration_seconds",
                                    route="api")
        le = dict(b)
        tap.ok(le[0.25] <= count - 2 and total >= 0.6,
               "route api: the two 0.3 s requests are above the 0.25 s bucket, sum >= 0.6 s",
               repr((b, total)))
        cls = "%dxx" % (noroute // 100)
        tap.is_(value(samples, "portico_route_responses_total", route="(none)",
                      **{"class": cls}), 1.0,
                "a request no route took (%d) counts under route=\"(none)\"" % noroute)
        ub, utotal, ucount = histogram(samples, "portico_upstream_response_duration_seconds",
                                       upstream="api")
        tap.ok(ucount == 5 and dict(ub)[0.25] <= 3 and utotal >= 0.6,
               "upstream api: 5 response times, the two slow ones above 0.25 s",
               repr((ub, utotal)))
        ub, utotal, ucount = histogram(samples, "portico_upstream_response_duration_seconds",
                                       upstream="app")
        tap.is_(ucount, 6.0, "upstream app: 6 response times")

    with subtest_guard("version, uptime, certificates"):
        ver = subprocess.run([portico_path(), "-V"], capture_output=True, text=True,
                             timeout=10)
        vers = [dict(lab)["version"] for (n, lab) in samples if n == "portico_build_info"]
        tap.ok(len(vers) == 1 and vers[0] in ver.stdout + ver.stderr,
               "portico_build_info{version} is the binary's version",
               repr((vers, ver.stdout, ver.stderr)))
        st = value(samples, "portico_start_time_seconds")
        up = value(samples, "portico_uptime_seconds")
        now = time.time()
        tap.ok(st is not None and t0 - 2 <= st <= now + 1 and up is not None and
               0 <= up <= now - t0 + 2,
               "start time is when the master started, uptime since then", repr((t0, st, up)))
        exp = {(os.path.realpath(a_pem), not_after(a_pem)),
               (os.path.realpath(b_pem), not_after(b_pem))}
        got = {(dict(lab)["certificate"], v) for (n, lab), v in samples.items()
               if n == "portico_tls_certificate_expiry_timestamp_seconds" and
               dict(lab).get("listener") == "secure"}
        got = {(os.path.realpath(c), int(v)) for c, v in got}
        tap.is_(got, exp, "certificate expiry: each listener certificate's notAfter "
                "(file names escaped)")

    with subtest_guard("JSON has the same numbers"):
        doc = status()
        routes_j = {r["name"]: r for r in doc.get("routes", [])}
        same = True
        for route in ("main", "api", "(none)"):
            j = routes_j.get(route, {})
            for c in ("1xx", "2xx", "3xx", "4xx", "5xx"):
                same = same and j.get("responses", {}).get(c) == value(
                    samples, "portico_route_responses_total", route=route, **{"class": c})
            b, total, count = histogram(samples, "portico_route_request_duration_seconds",
                                        route=route)
            d = j.get("duration", {})
            same = same and d.get("count") == count and j.get("requests") == count
            same = same and abs(d.get("sum", -1) - total) < 1e-6
            same = same and [d.get("buckets", {}).get(k) for k in
                             ("0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1",
                              "2.5", "5", "10", "+Inf")] == [v for _, v in b]
        tap.ok(same, "JSON routes: the same classes, counts, sums and buckets",
               json.dumps(doc.get("routes"))[:1500])
        ut = {u["name"]: u["time"] for u in doc.get("upstream_times", [])}
        tap.ok(ut.get("api", {}).get("count") == 5 and ut.get("app", {}).get("count") == 6,
               "JSON upstream_times: the same counts", json.dumps(ut)[:600])
        tap.is_(doc.get("version"), vers[0] if vers else None, "JSON version")
        tap.ok(doc.get("started") == st and doc.get("uptime", -1) >= 0, "JSON started, uptime")
        certs_j = {(os.path.realpath(c["file"]), c["not_after"]) for c in
                   doc.get("certificates", []) if c.get("listener") == "secure"}
        tap.is_(certs_j, exp, "JSON certificates: file and notAfter")

    with subtest_guard("open connections"):
        def gauges():
            _, (f, s, e) = scrape()
            per = {dict(lab)["worker"]: v for (n, lab), v in s.items()
                   if n == "portico_worker_connections_open"}
            return value(s, "portico_connections_open"), per
        # The scraping connection itself is open while it is answered.
        tap.ok(wait_until(lambda: gauges()[0] == 1, 10),
               "connections_open is 1 (the scrape's own) when idle", repr(gauges()))
        idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(5)]
        tap.ok(wait_until(lambda: gauges()[0] == 6, 10),
               "5 idle connections open: the gauge shows 6", repr(gauges()))
        total, per = gauges()
        tap.ok(len(per) == 2 and sum(per.values()) == total,
               "per worker: one series per worker, summing to the total", repr((total, per)))
        # (a previous scrape's connection may not be seen closed yet: wait)
        docs = []
        wait_until(lambda: docs.append(status()) or docs[-1].get("connections_open") == 6, 10)
        doc = docs[-1]
        tap.ok(doc.get("connections_open") == 6 and
               sum(w["connections"] for w in doc.get("workers", [])) == 6 and
               sorted(w["pid"] for w in doc.get("workers", [])) == sorted(p.workers()),
               "JSON: connections_open and each worker (pid, connections)",
               json.dumps(doc.get("workers")))
        for s in idle:
            s.close()
        tap.ok(wait_until(lambda: gauges()[0] == 1, 10),
               "closed again: the gauge goes back down", repr(gauges()))

    with subtest_guard("a killed worker: its connections go, its counts stay"):
        pid = p.workers()[0]
        held = [p.client_on(pid) for _ in range(3)]
        tap.ok(wait_until(lambda: gauges()[0] >= 4, 10), "3 connections held on one worker",
               repr(gauges()))
        p.expect_worker_death(pid, 9)
        os.kill(pid, 9)
        tap.ok(wait_until(lambda: len(p.workers()) == 2 and pid not in p.workers(), 10),
               "the master replaced it")
        tap.ok(wait_until(lambda: gauges()[0] == 1, 10),
               "its connections no longer counted", repr(gauges()))
        for c in held:
            c.close()
        _, (fams, samples2, errs) = scrape()
        tap.is_(value(samples2, "portico_route_responses_total", route="main",
                      **{"class": "2xx"}), 3.0,
                "its answers per route are kept (folded into the retired counts)")

    with subtest_guard("reloads"):
        p.reload(routes=[routes[0], routes[2]])
        _, (fams, s3, errs) = scrape()
        tap.ok(not any(n == "portico_route_responses_total" and dict(lab)["route"] == "api"
                       for (n, lab) in s3),
               "a route removed by a reload is no longer listed")
        tap.is_(value(s3, "portico_route_request_duration_seconds_count", route="main"),
                6.0, "route main keeps its counts across the reload (old workers retired)")
        p.reload(routes=routes)
        _, (fams, s4, errs) = scrape()
        tap.is_(value(s4, "portico_route_responses_total", route="api", **{"class": "2xx"}),
                4.0, "the route put back resumes its counts (rows are keyed by name)")
        tap.is_(errs, [], "still valid exposition after the reloads", "\n".join(errs[:10]))
        # A certificate replaced by a reload: the new one's notAfter (a
        # self-signed one valid for 400 days, not the 30 of the others).
        c_key = os.path.join(certs.dir, "c.key")
        c_pem = os.path.join(certs.dir, "c.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-nodes", "-keyout", c_key, "-out", c_pem,
                        "-days", "400", "-subj", "/CN=c.test"], check=True,
                       capture_output=True, timeout=60)
        p.reload(listener_opts={"secure": [("tls_certificate", c_pem), ("tls_key", c_key)]})
        _, (fams, s5, errs) = scrape()
        got = {(os.path.realpath(dict(lab)["certificate"]), int(v))
               for (n, lab), v in s5.items()
               if n == "portico_tls_certificate_expiry_timestamp_seconds"}
        tap.is_(got, {(os.path.realpath(c_pem), not_after(c_pem))},
                "after a reload with another certificate: its notAfter, the old ones gone")

    p.stop()


if __name__ == "__main__":
    main(test, timeout=120, tests=36)
