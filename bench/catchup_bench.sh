#!/usr/bin/env bash
# DA catch-up benchmark (issue 15 item 2): one table from
# bench/catchup_bench (see its header): a chain of BLOCKS blocks on the
# local DA server, then RUNS times a fresh full node catching it up with
# its home on tmpfs and on disk; blocks/s, Ed25519 verifies (and
# repeats of a verification) and durable flushes per block, CPU per
# block, beside the limits measured in the same run (one verify's µs
# and the verifies/s of all threads, the fsync latency of each
# directory). Medians over the runs; the raw runs
# are printed under the table. The machine may be shared: read the
# limits of the same run.
#
#   bench/catchup_bench.sh                    # BLOCKS=10000 RUNS=3
#   BLOCKS=20000 RUNS=5 BUILD=build bench/catchup_bench.sh
#   TMPFS=/dev/shm DISK=/var/tmp bench/catchup_bench.sh
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-3}
BLOCKS=${BLOCKS:-10000}
BUILD=${BUILD:-build-bench}
TMPFS=${TMPFS:-/dev/shm}
DISK=${DISK:-/var/tmp}
THREADS=${THREADS:-$(nproc)}
OUT=$(mktemp -d /tmp/blockv2-catchup-bench.XXXXXX)
trap 'rm -rf "$OUT"' EXIT

if [ ! -d "$BUILD" ]; then
  meson setup "$BUILD" --buildtype=release >/dev/null
fi
ninja -C "$BUILD" bench/catchup_bench >/dev/null
"$BUILD/bench/catchup_bench" --blocks "$BLOCKS" --runs "$RUNS" \
  --threads "$THREADS" --tmpfs "$TMPFS" --disk "$DISK" >"$OUT/raw.txt"
# scripts/bench.sh (the suite) collects every run's figures.
if [ -n "${BM_BENCH_RAW:-}" ]; then
  awk 'NF == 3 {print "catchup\t-\t" $1 "\t" $2 "\t" $3}' "$OUT/raw.txt" \
    >>"$BM_BENCH_RAW"
fi

OUT="$OUT" python3 - <<'EOF'
import os, statistics

vals = {}
for line in open(os.environ["OUT"] + "/raw.txt"):
    parts = line.split()
    if len(parts) == 3:
        try:
            vals.setdefault(parts[0], []).append(float(parts[1]))
        except ValueError:
            pass
med = {k: statistics.median(v) for k, v in vals.items()}
raw = {k: " ".join("%g" % x for x in v) for k, v in vals.items()}
vkey = [k for k in med if k.startswith("limit_verifies_per_s_")][0]
threads = vkey.rsplit("_", 2)[1]

print("chain: %d blocks (%d with %d txs), %d DA heights, %.2f signatures "
      "per block to check" % (med["chain_blocks"],
                               med["chain_blocks_with_txs"],
                               med["chain_txs_per_block_with_txs"],
                               med["chain_da_submissions"],
                               med["chain_signatures_per_block"]))
print("limits (this run): Ed25519 verify %.1f us on one thread, %.0f "
      "verifies/s on %s threads; fsync of 4 KiB %.1f us tmpfs, %.1f us "
      "disk" % (med["limit_verify_us"], med[vkey], threads,
                med["limit_fsync_tmpfs_us"], med["limit_fsync_disk_us"]))
print()
print("| catch-up from DA | blocks/s (median) | runs | target | result "
      "| verifies/block | flushes/block | CPU us/block | limit (same run) |")
print("|---|---|---|---|---|---|---|---|---|")
for medium, target in (("tmpfs", 10000), ("disk", 5000)):
    p = "catchup_%s_" % medium
    bps = med[p + "blocks_per_s"]
    vpb = med[p + "verifies_per_block"]
    fpb = med[p + "flushes_per_block"]
    ok = bps >= target and vpb <= 2 and fpb <= 0.1
    vlim = med[vkey] / vpb if vpb > 0 else float("inf")
    fl = med["limit_fsync_%s_us" % medium]
    flim = 1e6 / (fl * fpb) if fpb > 0 and fl > 0 else float("inf")
    print("| %s | %.0f | %s | >= %d blocks/s, <= 2 verifies, <= 0.1 "
          "flush | %s | %.3f | %.4f | %.0f | verify-bound %.0f blocks/s; "
          "fsync-bound %.0f blocks/s |" %
          (medium, bps, raw[p + "blocks_per_s"], target,
           "pass" if ok else "miss", vpb, fpb,
           med[p + "cpu_us_per_block"], vlim, flim))
print()
print("context switches per block (voluntary / involuntary): tmpfs %.2f / "
      "%.2f, disk %.2f / %.2f" % (med["catchup_tmpfs_vcsw_per_block"],
                                  med["catchup_tmpfs_ivcsw_per_block"],
                                  med["catchup_disk_vcsw_per_block"],
                                  med["catchup_disk_ivcsw_per_block"]))
print("the bench's own poll of the store height (not in CPU us/block): "
      "tmpfs %.1f, disk %.1f us per block" %
      (med.get("catchup_tmpfs_poll_cpu_us_per_block", float("nan")),
       med.get("catchup_disk_poll_cpu_us_per_block", float("nan"))))
print("the block lane thread (bm:block: Sync, State, KV executor, store "
      "commit), CPU us per block: tmpfs %.1f, disk %.1f" %
      (med.get("catchup_tmpfs_lane_cpu_us_per_block", float("nan")),
       med.get("catchup_disk_lane_cpu_us_per_block", float("nan"))))
for medium in ("tmpfs", "disk"):
    p = "catchup_%s_thread_" % medium
    per = sorted((k[len(p):-len("_cpu_us_per_block")], med[k])
                 for k in med
                 if k.startswith(p) and k.endswith("_cpu_us_per_block"))
    print("%s, CPU us per block by thread (medians): %s" % (medium, ", ".join(
        "%s %.1f" % kv for kv in per if kv[1] >= 0.5)))
    print("%s: the machine's CPUs idle %.1f %% of the window, stolen by "
          "the hypervisor %.1f %% (on a quiet machine: the node's idle); first block stored after "
          "%.0f ms" %
          (medium, med.get("catchup_%s_machine_idle_pct" % medium,
                           float("nan")),
           med.get("catchup_%s_machine_steal_pct" % medium, float("nan")),
           med.get("catchup_%s_first_block_ms" % medium, float("nan"))))
    print("%s: the node's threads on a CPU %.1f %% of (wall x CPUs), "
          "runnable but waiting for one %.1f %%; page faults per block "
          "%.2f" % (medium,
                    med.get("catchup_%s_cores_busy_pct" % medium,
                            float("nan")),
                    med.get("catchup_%s_rq_wait_pct" % medium,
                            float("nan")),
                    med.get("catchup_%s_minflt_per_block" % medium,
                            float("nan"))))
print("a fresh node's seen window (200,000 hashes), 10,000 blocks' lookups "
      "and inserts in a fresh process: backed at once (as the node does) "
      "%.2f us and %.3f page faults per block, faulted lazily %.2f us and "
      "%.3f" % (med.get("seen_window_prefault_cpu_us_per_block", float("nan")),
                med.get("seen_window_prefault_faults_per_block", float("nan")),
                med.get("seen_window_lazy_cpu_us_per_block", float("nan")),
                med.get("seen_window_lazy_faults_per_block", float("nan"))))
print("signatures checked again (a repeat of a verification) per block: "
      "tmpfs %.4f, disk %.4f (0: each signature checked once)" %
      (med.get("catchup_tmpfs_repeated_verifies_per_block", float("nan")),
       med.get("catchup_disk_repeated_verifies_per_block", float("nan"))))
print("raw runs: " + "; ".join("%s %s" % (k, raw[k]) for k in sorted(raw)
                               if k.startswith("catchup_")))
EOF
