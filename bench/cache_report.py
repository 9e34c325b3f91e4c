#!/usr/bin/env python3
"""Render bench/run's cache-hit runs as their own table (medians over rounds).

usage: cache_report.py CACHE.tsv CACHE-HITS.tsv [CACHE-VERIFY.txt]

CACHE.tsv has the columns of results.tsv (one row per wrk run);
CACHE-HITS.tsv has round, scenario, proxy, origin_requests: how many
requests reached the origin during that run (0 when every response was a
hit).  The table is markdown, so it can be pasted as it is.
"""
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from report import fmt, num, read_tsv  # noqa: E402

SCEN_LABEL = {
    "1k-cache": "1k hit, keep-alive",
    "64k-cache": "64k hit, keep-alive",
    "1m-cache": "1m hit, keep-alive",
}


def md_table(headers, rows, right):
    w = [len(h) for h in headers]
    for r in rows:
        for i, c in enumerate(r):
            w[i] = max(w[i], len(c))
    cell = lambda i, c: c.rjust(w[i]) if i in right else c.ljust(w[i])
    out = ["| " + " | ".join(cell(i, h) for i, h in enumerate(headers)) + " |"]
    out.append("|" + "|".join(("-" * (w[i] + 1) + ":") if i in right else ("-" * (w[i] + 2))
                              for i in range(len(headers))) + "|")
    for r in rows:
        out.append("| " + " | ".join(cell(i, c) for i, c in enumerate(r)) + " |")
    return "\n".join(out)


def summarise(rows, hits, s, p):
    allr = [r for r in rows if r["scenario"] == s and r["proxy"] == p and r["round"] != "warmup"]
    retried = sum(1 for r in allr if r["status"].startswith("noisy"))
    rr = [r for r in allr if not r["status"].startswith("noisy")]
    ok = [r for r in rr if r["status"] == "ok"]
    if not ok:
        return {"status": rr[0]["status"] if rr else "missing"}
    m = {"status": "ok"}
    for k in ("req_s", "proxy_cpu_s", "req_per_cpu_s", "lat_p99_ms", "loadcpu_busy_pct", "duration_s"):
        vals = [num(r[k]) for r in ok if num(r[k]) is not None]
        m[k] = statistics.median(vals) if vals else None
    rps = [num(r["req_s"]) for r in ok if num(r["req_s"]) is not None]
    m["spread"] = (100.0 * (max(rps) - min(rps)) / m["req_s"]) if len(rps) > 1 and m["req_s"] else None
    m["errors"] = sum(int(num(r[k]) or 0) for r in rr
                      for k in ("non2xx", "err_connect", "err_read", "err_write", "err_timeout"))
    # requests that reached the origin, over every measured run (noisy ones too)
    o = [num(h["origin_requests"]) for h in hits
         if h["scenario"] == s and h["proxy"] == p and h["round"] != "warmup"]
    o = [x for x in o if x is not None]
    m["origin"] = int(sum(o)) if o else None
    notes = sorted({r["note"] for r in rr if r.get("note")})
    for col, what in (("proxycpu_other_pct", "proxy"), ("loadcpu_other_pct", "load")):
        other = [num(r.get(col)) for r in ok]
        other = [x for x in other if x is not None]
        if other and max(other) >= 15:
            notes.insert(0, "NOISY: up to %.0f%% of the %s core used by others" % (max(other), what))
    if (m["loadcpu_busy_pct"] is not None and m["loadcpu_busy_pct"] >= 97 and m["proxy_cpu_s"]
            and m["duration_s"] and m["proxy_cpu_s"] < 0.9 * m["duration_s"]):
        notes.insert(0, "client-bound (compare req/CPU-s)")
    if m["origin"]:
        notes.insert(0, "NOT ALL HITS: %d requests reached the origin" % m["origin"])
    bad = [r["status"] for r in rr if r["status"] != "ok"]
    if bad:
        notes.insert(0, "%d/%d rounds failed: %s" % (len(bad), len(rr), bad[0]))
    if retried:
        notes.append("%d noisy run(s) redone" % retried)
    m["note"] = "; ".join(notes)
    m["by_round"] = {r["round"]: r for r in ok}
    return m


def rratio(m, base, key):
    """median over rounds of (this proxy / nginx in the same round)"""
    if base.get("status") != "ok":
        return "-"
    rs = []
    for rnd, r in m["by_round"].items():
        b = base["by_round"].get(rnd)
        if b is not None and num(r[key]) is not None and num(b[key]):
            rs.append(num(r[key]) / num(b[key]))
    return "%.2f" % statistics.median(rs) if rs else "-"


def main():
    rows = [r for r in read_tsv(sys.argv[1]) if r["round"] != "warmup"]
    hits = read_tsv(sys.argv[2]) if len(sys.argv) > 2 else []
    if not rows:
        return
    scens, proxies = [], []
    for r in rows:
        if r["scenario"] not in scens:
            scens.append(r["scenario"])
        if r["proxy"] not in proxies:
            proxies.append(r["proxy"])
    headers = ["scenario", "proxy", "req/s", "spread%", "errors", "proxy-CPU-s", "req/CPU-s", "p99-ms",
               "load-CPU%", "origin-reqs", "vs-nginx(req/s)", "vs-nginx(req/CPU-s)", "note"]
    right = set(range(2, 12))
    out = []
    for s in scens:
        med = {p: summarise(rows, hits, s, p) for p in proxies}
        base = med.get("nginx", {})
        for i, p in enumerate(proxies):
            m = med[p]
            label = SCEN_LABEL.get(s, s) if i == 0 else ""
            if m["status"] != "ok":
                out.append([label, p] + [""] * 10 + [m["status"]])
                continue
            out.append([
                label, p, fmt(m["req_s"], ".0f"), fmt(m["spread"], ".0f"), str(m["errors"]),
                fmt(m["proxy_cpu_s"], ".2f"), fmt(m["req_per_cpu_s"], ".0f"), fmt(m["lat_p99_ms"], ".2f"),
                fmt(m["loadcpu_busy_pct"], ".0f"), "-" if m["origin"] is None else str(m["origin"]),
                rratio(m, base, "req_s"), rratio(m, base, "req_per_cpu_s"), m["note"],
            ])
    print("Cache hits (warm caches, keep-alive, one worker each): medians over rounds; spread% = (max-min)/median\n"
          "of req/s; errors = non-2xx + socket errors; origin-reqs = requests that reached the origin during\n"
          "the measured runs (0: all hits); vs-nginx = median over rounds of (proxy / nginx's cache, same round)")
    print()
    print(md_table(headers, out, right))
    if len(sys.argv) > 3:
        try:
            with open(sys.argv[3]) as f:
                lines = [ln.rstrip() for ln in f if ln.strip()]
        except OSError:
            lines = []
        if lines:
            print()
            print("Hit checks before measuring (hit marker on /1k and /64k, origin request count unchanged):")
            for ln in lines:
                print("  " + ln)


if __name__ == "__main__":
    main()
