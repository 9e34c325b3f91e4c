#!/usr/bin/env python3
"""Render bench/run's raw TSV files as tables (medians over rounds).

usage: report.py RESULTS.tsv MEMORY.tsv [ENV.txt]
"""
import csv
import statistics
import sys

SCEN_LABEL = {
    "1k-keepalive": "1k keep-alive",
    "64k-keepalive": "64k keep-alive",
    "1m-keepalive": "1m keep-alive",
    "1k-close": "1k conn/request",
    "64k-close": "64k conn/request",
    "tls-full-ec": "TLS full handshake ECDSA P-256 (1k, conn/request)",
    "tls-full-rsa": "TLS full handshake RSA 2048 (1k, conn/request)",
    "tls-resume": "TLS resumed handshake (ticket, 1k, conn/request)",
    "tls-64k-keepalive": "TLS 64k keep-alive",
    "waf-1k-keepalive": "WAF (CRS PL1) 1k keep-alive, browser head",
    "gzip-64k": "gzip 64k text keep-alive (compress / gzip on)",
}
# Scenarios whose proxies are compared with another nginx instance.
SCEN_BASE = {"gzip-64k": "nginx-gz"}
# Proxies compared with another nginx instance in every scenario: the
# deferred-accept instances of bench/run --defer-accept.
PROXY_BASE = {"portico-da": "nginx-da"}
# Input bytes per request of the compression scenarios (MB per CPU-second).
SCEN_INPUT = {"gzip-64k": 65536}


def num(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def read_tsv(path):
    try:
        with open(path, newline="") as f:
            return list(csv.DictReader(f, delimiter="\t"))
    except FileNotFoundError:
        return []


def fmt(v, spec):
    return "-" if v is None else format(v, spec)


def ratio(a, b):
    if a is None or b is None or b == 0:
        return "-"
    return "%.2f" % (a / b)


def table(headers, rows, right):
    w = [len(h) for h in headers]
    for r in rows:
        for i, c in enumerate(r):
            w[i] = max(w[i], len(c))
    out = []
    line = lambda cells: "  ".join(
        (c.rjust(w[i]) if i in right else c.ljust(w[i])) for i, c in enumerate(cells)).rstrip()
    out.append(line(headers))
    out.append(line(["-" * x for x in w]))
    for r in rows:
        out.append(line(r))
    return "\n".join(out)


def throughput(rows):
    if not rows:
        return
    scens, proxies = [], []
    for r in rows:
        if r["round"] == "warmup":
            continue
        if r["scenario"] not in scens:
            scens.append(r["scenario"])
        if r["proxy"] not in proxies:
            proxies.append(r["proxy"])
    headers = ["scenario", "proxy", "req/s", "spread%", "errors", "proxy-CPU-s", "req/CPU-s",
               "p99-ms", "load-CPU%", "ratio-vs-nginx(req/s)", "ratio-vs-nginx(req/CPU-s)", "note"]
    right = {2, 3, 4, 5, 6, 7, 8, 9, 10}
    out = []
    for s in scens:
        med = {}
        for p in proxies:
            allr = [r for r in rows if r["scenario"] == s and r["proxy"] == p and r["round"] != "warmup"]
            retried = sum(1 for r in allr if r["status"].startswith("noisy"))
            rr = [r for r in allr if not r["status"].startswith("noisy")]
            ok = [r for r in rr if r["status"] == "ok"]
            if not ok:
                st = rr[0]["status"] if rr else "missing"
                med[p] = {"status": st}
                continue
            m = {"status": "ok", "n": len(ok), "of": len(rr)}
            for k in ("req_s", "proxy_cpu_s", "req_per_cpu_s", "lat_p99_ms", "loadcpu_busy_pct", "duration_s"):
                vals = [num(r[k]) for r in ok if num(r[k]) is not None]
                m[k] = statistics.median(vals) if vals else None
            rps = [num(r["req_s"]) for r in ok if num(r["req_s"]) is not None]
            m["spread"] = (100.0 * (max(rps) - min(rps)) / m["req_s"]) if len(rps) > 1 and m["req_s"] else None
            errs = 0
            for r in rr:
                for k in ("non2xx", "err_connect", "err_read", "err_write", "err_timeout"):
                    errs += int(num(r[k]) or 0)
            m["errors"] = errs
            notes = sorted({r["note"] for r in rr if r.get("note")})
            other = [num(r.get("proxycpu_other_pct")) for r in ok]
            other = [o for o in other if o is not None]
            if other and max(other) >= 15:
                notes.insert(0, "NOISY: up to %.0f%% of the proxy core used by others" % max(other))
            other = [num(r.get("loadcpu_other_pct")) for r in ok]
            other = [o for o in other if o is not None]
            if other and max(other) >= 15:
                notes.insert(0, "NOISY: up to %.0f%% of the load core used by others" % max(other))
            # the load-generator core (wrk + origin) saturated while the proxy
            # still had idle CPU: req/s is then the client's limit, not the proxy's
            if (m["loadcpu_busy_pct"] is not None and m["loadcpu_busy_pct"] >= 97 and m["proxy_cpu_s"]
                    and m["duration_s"] and m["proxy_cpu_s"] < 0.9 * m["duration_s"]):
                notes.insert(0, "client-bound (compare req/CPU-s)")
            bad = [r["status"] for r in rr if r["status"] != "ok"]
            if bad:
                notes.insert(0, "%d/%d rounds failed: %s" % (len(bad), len(rr), bad[0]))
            if retried:
                notes.append("%d noisy run(s) redone" % retried)
            m["note"] = "; ".join(notes)
            m["by_round"] = {r["round"]: r for r in ok}
            med[p] = m
        def rratio(m, key, p):
            """median over rounds of (this proxy / nginx in the same round)"""
            base = med.get(PROXY_BASE.get(p) or SCEN_BASE.get(s, "nginx"), {})
            if base.get("status") != "ok":
                return "-"
            rs = []
            for rnd, r in m["by_round"].items():
                b = base["by_round"].get(rnd)
                if b is not None and num(r[key]) is not None and num(b[key]):
                    rs.append(num(r[key]) / num(b[key]))
            if rs:
                return "%.2f" % statistics.median(rs)
            return ratio(m[key], base.get(key))

        for i, p in enumerate(proxies):
            m = med[p]
            label = SCEN_LABEL.get(s, s) if i == 0 else ""
            if m["status"] != "ok":
                st = m["status"]
                out.append([label, p, "%s: %s" % (p, st) if st.startswith("not built") else st] + [""] * 9)
                continue
            out.append([
                label, p, fmt(m["req_s"], ".0f"), fmt(m["spread"], ".0f"), str(m["errors"]), fmt(m["proxy_cpu_s"], ".2f"),
                fmt(m["req_per_cpu_s"], ".0f"), fmt(m["lat_p99_ms"], ".2f"), fmt(m["loadcpu_busy_pct"], ".0f"),
                rratio(m, "req_s", p),
                rratio(m, "req_per_cpu_s", p),
                m["note"],
            ])
    # a failed row carries its status in the req/s column; let it overflow
    print("Throughput: medians over rounds; spread% = (max-min)/median of req/s; errors = non-2xx + socket\n"
          "errors summed over all rounds; ratios = median over rounds of (proxy / nginx in the same round;\n"
          "portico-da / nginx-da, both with deferred accept)")
    print(table(headers, out, right))
    compression(rows)


def compression(rows):
    """The compression scenarios: MB of input compressed per proxy CPU-second."""
    out = []
    for s, size in SCEN_INPUT.items():
        for p in sorted({r["proxy"] for r in rows if r["scenario"] == s}):
            vals = [num(r["req_per_cpu_s"]) for r in rows if r["scenario"] == s and
                    r["proxy"] == p and r["round"] != "warmup" and r["status"] == "ok" and
                    num(r["req_per_cpu_s"]) is not None]
            if vals:
                mb = statistics.median(vals) * size / 1e6
                out.append([SCEN_LABEL.get(s, s), p, "%.1f" % mb, "%.2f" % (1e3 / mb)])
    if out:
        print()
        print("Compression: MB of input compressed per proxy CPU-second (median over rounds), "
              "and CPU-ms per MB")
        print(table(["scenario", "proxy", "MB/CPU-s", "CPU-ms/MB"], out, {2, 3}))


def memory(rows):
    if not rows:
        return
    headers = ["proxy", "idle-conns", "RSS-before-KiB", "RSS-after-KiB", "KiB/conn(RSS)",
               "KiB/conn(Pss)", "ratio-vs-nginx(RSS)", "ratio-vs-nginx(Pss)", "note"]
    right = {1, 2, 3, 4, 5, 6, 7}
    base = next((r for r in rows if r["proxy"] == "nginx" and r["status"] == "ok"), None)
    out = []
    for r in rows:
        if r["status"] != "ok":
            st = r["status"]
            out.append([r["proxy"], "%s: %s" % (r["proxy"], st) if st.startswith("not built") else st] + [""] * 7)
            continue
        conns = r["idle_conns_opened"]
        if r["idle_conns_alive_at_end"] not in ("-", conns):
            conns += " (%s alive at end)" % r["idle_conns_alive_at_end"]
        out.append([
            r["proxy"], conns, r["rss_before_kib"], r["rss_after_kib"], r["rss_kib_per_conn"],
            r["pss_kib_per_conn"],
            ratio(num(r["rss_kib_per_conn"]), num(base["rss_kib_per_conn"])) if base else "-",
            ratio(num(r["pss_kib_per_conn"]), num(base["pss_kib_per_conn"])) if base else "-",
            r.get("note", ""),
        ])
    print("Memory per idle keep-alive client connection (proxy worker process(es); after one request each)")
    print(table(headers, out, right))


def main():
    if len(sys.argv) > 3:
        try:
            with open(sys.argv[3]) as f:
                print(f.read().rstrip())
            print()
        except OSError:
            pass
    throughput(read_tsv(sys.argv[1]))
    print()
    memory(read_tsv(sys.argv[2]))


if __name__ == "__main__":
    main()
