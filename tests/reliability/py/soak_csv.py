#!/usr/bin/env python3
"""The soak's CSV (tests/reliability/scenarios/soak.sh): one row a second.

Reads DIR/monitor.csv (one row per process per sampling round),
DIR/load/latency.csv (POST /tx round trips a second), DIR/load/probe.csv
(probe txs: submission to applied) and DIR/faults.csv, and writes to OUT:
  soak.csv: t (seconds since T0), rss_kb_<p> and fds_<p> for every
    process p (a, b, c, da), height_a, lag_b, lag_c, tx_mean_ms and
    tx_p99_ms (POST /tx -> 202), applied_ms (the probe tx of that second:
    submission to applied); an empty cell where nothing was sampled (a
    process down, a second without acks);
  soak-faults.csv: t,fault.
Prints the drift: each process's RSS and fds over the first and the last
minute (medians).
"""
import argparse, csv, os, statistics

ap = argparse.ArgumentParser()
ap.add_argument("--dir", required=True)
ap.add_argument("--t0", type=float, required=True)
ap.add_argument("--out", required=True)
args = ap.parse_args()

PROCS = ["a", "b", "c", "da"]
rows = {}


def row(t):
    s = int(t - args.t0)
    if s < 0:
        return None
    return rows.setdefault(s, {})


with open(os.path.join(args.dir, "monitor.csv")) as f:
    for r in csv.DictReader(f):
        x = row(float(r["time"]))
        if x is None or r["name"] not in PROCS:
            continue
        p = r["name"]
        x["rss_kb_" + p] = r["rss_kb"]
        x["fds_" + p] = r["fds"]
        if p == "a" and r["height"]:
            x["height_a"] = r["height"]
        if p in ("b", "c") and r["lag"] != "":
            x["lag_" + p] = r["lag"]


def read_rows(path):
    try:
        with open(path) as f:
            return [line.strip().split(",") for line in f if line.strip()]
    except OSError:
        return []


for t, n, mean, p99 in read_rows(os.path.join(args.dir, "load",
                                              "latency.csv")):
    x = row(float(t))
    if x is not None and n != "0":
        x["tx_mean_ms"], x["tx_p99_ms"] = mean, p99
for t, ms in read_rows(os.path.join(args.dir, "load", "probe.csv")):
    x = row(float(t))
    if x is not None:
        x["applied_ms"] = ms

cols = (["t"] + ["rss_kb_" + p for p in PROCS] + ["fds_" + p for p in PROCS]
        + ["height_a", "lag_b", "lag_c", "tx_mean_ms", "tx_p99_ms",
           "applied_ms"])
with open(os.path.join(args.out, "soak.csv"), "w") as f:
    f.write(",".join(cols) + "\n")
    for s in sorted(rows):
        x = rows[s]
        f.write(",".join([str(s)] + [str(x.get(c, "")) for c in cols[1:]])
                + "\n")
with open(os.path.join(args.out, "soak-faults.csv"), "w") as f:
    f.write("t,fault\n")
    for r in read_rows(os.path.join(args.dir, "faults.csv"))[1:]:
        f.write("%d,%s\n" % (int(float(r[0]) - args.t0), r[1]))

last = max(rows) if rows else 0


def med(p, key, lo, hi):
    xs = [int(rows[s][key + p]) for s in rows
          if lo <= s < hi and rows[s].get(key + p, "") != ""]
    return int(statistics.median(xs)) if xs else 0


for p in PROCS:
    print("    %-2s RSS %6d -> %6d kB, fds %3d -> %3d (medians of the first "
          "and last minute)" % (p, med(p, "rss_kb_", 0, 60),
                                med(p, "rss_kb_", last - 60, last + 1),
                                med(p, "fds_", 0, 60),
                                med(p, "fds_", last - 60, last + 1)))
ap_ms = sorted(float(r["applied_ms"]) for r in rows.values()
               if r.get("applied_ms"))
if ap_ms:
    print("    probe tx submission to applied: median %.0f ms, p99 %.0f ms, "
          "max %.0f ms (%d probes)" % (
              statistics.median(ap_ms), ap_ms[int(len(ap_ms) * 0.99)],
              ap_ms[-1], len(ap_ms)))
