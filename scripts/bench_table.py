#!/usr/bin/env python3
"""The one table of scripts/bench.sh.

Reads the raw figures the benchmarks appended (section, run, name, value,
unit: one line per run) and the sections' status, and prints every figure
as a row: median (min-max over the runs), target and result, the limit that
bounds it measured in the same run, and the ratio figure / limit.

    python3 scripts/bench_table.py RAW.tsv SECTIONS.tsv
"""
import statistics
import sys


def load(path):
    vals, units = {}, {}
    for line in open(path):
        p = line.rstrip("\n").split("\t")
        if len(p) != 5:
            continue
        sec, _run, name, value, unit = p
        try:
            v = float(value)
        except ValueError:
            continue
        vals.setdefault((sec, name), []).append(v)
        units[(sec, name)] = unit
    return vals, units


VALS, UNITS = load(sys.argv[1])
ROWS = []


def med(sec, name):
    v = VALS.get((sec, name))
    return statistics.median(v) if v else None


def fmt(x):
    if x is None:
        return "n/a"
    a = abs(x)
    if a >= 100000:
        return "{:,.0f}".format(x)
    if a >= 100:
        return "{:,.0f}".format(x)
    if a >= 10:
        return "%.1f" % x
    if a >= 1:
        return "%.2f" % x
    return "%.3g" % x


def row(area, label, sec, name, unit=None, target=None, limit=None,
        ratio=None, value=None):
    """target: (">=" | "<=", number); limit: (text, number or None);
    ratio: True for figure / limit, or a number to print as given."""
    v = VALS.get((sec, name))
    if value is not None:
        m, spread = value, ""
    elif v:
        m = statistics.median(v)
        spread = " (%s-%s)" % (fmt(min(v)), fmt(max(v))) if len(v) > 1 else ""
    else:
        return
    unit = unit or UNITS.get((sec, name), "")
    res, tgt = "", ""
    if target is not None:
        op, t = target
        ok = m >= t if op == ">=" else m <= t
        res = "pass" if ok else "**miss**"
        tgt = "%s %s" % (op, fmt(t))
    lim, rat = "", ""
    if limit is not None:
        text, lv = limit
        lim = text if lv is None else "%s %s" % (fmt(lv), text)
        if ratio is True and lv:
            rat = "%.2f" % (m / lv)
        elif isinstance(ratio, (int, float)) and not isinstance(ratio, bool):
            rat = "%.2f" % ratio
    ROWS.append((area, label, fmt(m) + spread, unit, tgt, res, lim, rat))


# ---- limits of this run
sign, verify = med("limits", "limit_sign_us"), med("limits", "limit_verify_us")
sha = med("limits", "limit_sha256_us_per_kib")
vps = med("limits", "limit_verifies_per_s")
threads = med("limits", "limit_verify_threads") or 0
fs_tmp, fs_disk = med("limits", "limit_fsync_0_us"), med("limits", "limit_fsync_1_us")
row("limit", "Ed25519 sign, one core (CPU time)", "limits", "limit_sign_us")
row("limit", "Ed25519 verify, one core (CPU time)", "limits", "limit_verify_us")
row("limit", "SHA-256 per KiB, one core", "limits", "limit_sha256_us_per_kib")
row("limit", "Ed25519 verifies/s, %d threads at once" % threads, "limits",
    "limit_verifies_per_s")
row("limit", "fsync (pwrite 4 KiB + fdatasync) p50, tmpfs", "limits",
    "limit_fsync_0_us")
row("limit", "fsync p50, disk", "limits", "limit_fsync_1_us")

# ---- store, execution, DA
# Each store row beside raw LMDB doing the same puts/gets of the same keys
# and bytes in the same run (store_bench's floor), wall-clock and per
# CPU-second (which the machine's load changes less).
RAW = "raw LMDB, same keys and bytes, same run"
for label, name, tgt in (
        ("grouped writes (100 blocks per txn)", "store_write_grouped",
         100000),
        ("one durable txn per block", "store_write_durable", 2000),
        ("random reads by height", "store_read_by_height", 1000000)):
    row("store", label, "store", name, target=(">=", tgt),
        limit=("blocks/s " + RAW, med("store", name + "_raw_lmdb")),
        ratio=True)
    row("store", label + ", per CPU-second", "store", name + "_cpu",
        limit=("blocks/cpu-s " + RAW, med("store", name + "_raw_lmdb_cpu")),
        ratio=True)
row("store", "grouped writes, tmpfs", "store", "store_tmpfs_write_grouped",
    limit=("blocks/s " + RAW, med("store", "store_tmpfs_write_grouped_raw_lmdb")),
    ratio=True)
row("store", "grouped writes, tmpfs, per CPU-second", "store",
    "store_tmpfs_write_grouped_cpu",
    limit=("blocks/cpu-s " + RAW,
           med("store", "store_tmpfs_write_grouped_raw_lmdb_cpu")),
    ratio=True)
row("store", "random reads, raw LMDB in one read txn (no txn per read)",
    "store", "store_read_by_height_raw_lmdb_one_txn")
for (sec, name) in sorted(VALS):
    if sec == "store" and name.startswith("store_read_by_height_") and \
            name[len("store_read_by_height_"):-1].isdigit() and \
            name.endswith("t"):
        row("store", "random reads, %s threads" % name.rsplit("_", 1)[1][:-1],
            "store", name)
row("exec", "KV executor pipeline (mempool, execute, commit)", "exec",
    "exec_pipeline", target=(">=", 200000),
    limit=("tx per CPU-second", med("exec", "exec_pipeline_cpu")), ratio=True)
for (sec, name) in sorted(VALS):
    if sec == "da" and not name.endswith("_mb"):
        row("da", name.replace("da_roundtrip_", "DA round trip: ").replace(
            "da_getall_decode_", "GetAll answer of a catch-up height, CPU "
            "per blob: "), "da", name)

# ---- block production (bm_manager_produce_block, DA off)
for fs in ("tmpfs", "disk"):
    fsync = fs_tmp if fs == "tmpfs" else fs_disk
    row("produce", "empty block, %s: wall time per block" % fs, "produce",
        "produce_empty_%s_us" % fs, unit="us",
        limit=("us fsync p50 of the same directory", fsync), ratio=True)
    row("produce", "empty block, %s: CPU overhead (minus the crypto)" % fs,
        "produce", "produce_empty_%s_cpu_overhead_us" % fs, unit="us",
        target=("<=", 40) if fs == "tmpfs" else None,
        limit=("us of crypto per empty block (1 sign, SHA-256)",
               sign + 5 * sha if sign and sha else None), ratio=True)
    row("produce", "empty block, %s: context switches per block" % fs,
        "produce", "produce_empty_%s_csw" % fs, unit="switches",
        target=("<=", 4) if fs == "tmpfs" else None)
    row("produce", "100-tx block, %s: wall time per block" % fs, "produce",
        "produce_100tx_%s_us" % fs, unit="us",
        limit=("us fsync p50 of the same directory", fsync), ratio=True)
    row("produce", "block time 5 ms, 1,000-tx blocks, %s: of schedule" % fs,
        "produce", "floor_%s_pct" % fs, unit="%",
        target=(">=", 95) if fs == "tmpfs" else None)

# ---- DA catch-up
for medium, tgt in (("tmpfs", 10000), ("disk", 5000)):
    vpb = med("catchup", "catchup_%s_verifies_per_block" % medium)
    row("catch-up", "DA catch-up of a 10,000-block chain, %s" % medium,
        "catchup", "catchup_%s_blocks_per_s" % medium, target=(">=", tgt),
        limit=("blocks/s verify-bound (verifies/s / verifies per block)",
               vps / vpb if vps and vpb else None), ratio=True)
    row("catch-up", "verifies per block, %s" % medium, "catchup",
        "catchup_%s_verifies_per_block" % medium, target=("<=", 2),
        limit=("signatures per block on the chain (each checked once)",
               med("catchup", "chain_signatures_per_block")), ratio=True)
    row("catch-up", "signatures checked again per block, %s" % medium,
        "catchup", "catchup_%s_repeated_verifies_per_block" % medium,
        target=("<=", 0))
    row("catch-up", "durable flushes per block, %s" % medium, "catchup",
        "catchup_%s_flushes_per_block" % medium, target=("<=", 0.1))
    row("catch-up", "CPU per block, %s" % medium, "catchup",
        "catchup_%s_cpu_us_per_block" % medium, unit="us",
        limit=("us of it signature checks (verifies x verify)",
               vpb * verify if vpb and verify else None), ratio=True)

# ---- tx ingress
http = med("tx", "http_get_acked")
row("tx", "acknowledged (durable) txs, single form", "tx", "tx_single_acked",
    target=(">=", 30000),
    limit=("req/s of GET /health/live, same server", http), ratio=True)
bcpu = med("tx", "tx_batch_node_cpu")
row("tx", "acknowledged (durable) txs, batch of 100", "tx", "tx_batch_acked",
    target=(">=", 100000),
    limit=("tx/s = all cores / the node's CPU per tx",
           threads * 1e6 / bcpu if bcpu and threads else None), ratio=True)
# The tx limiter the node ran with (rpc.tx_rate_limit, derived from the
# blocks when not given).
tx_limit = ("tx/s rpc.tx_rate_limit (derived: what blocks carry per second)",
            med("tx", "tx_rate_limit"))
row("tx", "acknowledged (durable) txs, batch, against the tx limiter",
    "tx", "tx_batch_acked", limit=tx_limit, ratio=True)
row("tx", "txs into blocks meanwhile, single", "tx", "tx_single_included")
row("tx", "txs into blocks meanwhile, batch", "tx", "tx_batch_included")
row("tx", "POST to visible p99, single (100 ms blocks)", "tx",
    "tx_single_visible_p99", target=("<=", 200),
    limit=("ms = 2 block times", 200), ratio=True)
row("tx", "POST to visible p99, batch (100 ms blocks)", "tx",
    "tx_batch_visible_p99", target=("<=", 200),
    limit=("ms = 2 block times", 200), ratio=True)
row("tx", "request latency p99, single", "tx", "tx_single_latency_p99",
    limit=("ms fsync p50 of the node's disk", med("tx", "fsync_p50")))
row("tx", "node CPU per acknowledged tx, single", "tx", "tx_single_node_cpu",
    limit=("us per trivial request", med("tx", "http_get_node_cpu")),
    ratio=True)
row("tx", "node CPU per acknowledged tx, batch", "tx", "tx_batch_node_cpu")
row("tx", "txs refused (409/429/503), single", "tx", "tx_single_not_acked")
row("tx", "txs refused (409/429/503), batch", "tx", "tx_batch_not_acked")
row("tx", "of them in requests refused for now (429/503), single", "tx",
    "tx_single_backed_off")
row("tx", "of them in requests refused for now (429/503), batch", "tx",
    "tx_batch_backed_off")
row("tx", "of them answered 429, single (offered below the limit)", "tx",
    "tx_single_rate_limited", target=("<=", 0), limit=tx_limit)
row("tx", "of them answered 429, batch (offered above the limit)", "tx",
    "tx_batch_rate_limited", limit=tx_limit)

# ---- actor runtime vs CAF and Erlang
for bench, key, peer_key, tgt, unit in (
        ("pingpong", "actor_pingpong", "rate", 1.5, "round trips/s"),
        ("fanin", "actor_fanin", "rate", 1.5, "msgs/s"),
        ("spawn", "actor_spawn", "rate", 1.0, "actors/s")):
    ours = med("actors", "ours_%s_%s" % (bench, key))
    peers = [(p, med("actors", "%s_%s_%s" % (p, bench, peer_key)))
             for p in ("caf", "erlang")]
    peers = [(p, x) for p, x in peers if x]
    if ours is None:
        continue
    best = max(peers, key=lambda t: t[1]) if peers else (None, None)
    row("actors", "%s (target: >= %gx the better peer)" % (bench, tgt),
        "actors", "ours_%s_%s" % (bench, key), unit=unit,
        target=(">=", tgt * best[1]) if best[1] else None,
        limit=("%s/s, the better peer (%s)" % (unit.split("/")[0], best[0]),
               best[1]) if best[1] else None, ratio=True)

bound = med("actors", "ours_overload_actor_overload_rss_bound")
peer_rss = [x for x in (med("actors", "caf_overload_maxrss_kb"),
                        med("actors", "erlang_overload_maxrss_kb")) if x]
row("actors", "overload, 10M messages at one actor: peak RSS", "actors",
    "ours_overload_actor_overload_peak_rss", unit="MiB",
    target=("<=", bound) if bound else None,
    limit=("MiB, the leaner peer's peak RSS",
           min(peer_rss) / 1024 if peer_rss else None), ratio=True)

# ---- P2P host
aead = med("p2p", "noise_aead_limit")
c_mb, js_mb = med("p2p", "c_send_mb_s"), med("p2p", "js_send_mb_s")
row("p2p", "one yamux stream, blockv2 <-> blockv2", "p2p", "c_send_mb_s",
    unit="MB/s", target=(">=", max(500, 3 * js_mb) if js_mb else 500),
    limit=("MB/s ChaCha20-Poly1305 seal, one core", aead), ratio=True)
row("p2p", "one yamux stream, js-libp2p <-> js-libp2p", "p2p", "js_send_mb_s",
    unit="MB/s", limit=("= blockv2 / js", None),
    ratio=c_mb / js_mb if c_mb and js_mb else None)
row("p2p", "the busier C peer's MB per CPU-second", "p2p", "c_cpu_send_mb_s",
    unit="MB/s")
c_hs, js_hs = med("p2p", "c_handshakes_per_s"), med("p2p", "js_handshakes_per_s")
row("p2p", "handshakes (TCP + Noise XX + yamux)", "p2p", "c_handshakes_per_s",
    unit="/s", target=(">=", 3 * js_hs) if js_hs else None,
    limit=("/s in-memory XX, one core", med("p2p", "noise_handshake")),
    ratio=True)
row("p2p", "handshakes, js-libp2p", "p2p", "js_handshakes_per_s", unit="/s",
    limit=("= blockv2 / js", None),
    ratio=c_hs / js_hs if c_hs and js_hs else None)

# ---- P2P sync
pvps = med("p2psync", "verifies_per_s")
row("p2p sync", "gossip publish -> follower's stores p99 (100 ms blocks)",
    "p2psync", "gossip_p99_ms", target=("<=", 20))
row("p2p sync", "gossip p50", "p2psync", "gossip_p50_ms")
row("p2p sync", "catch-up by exchange into the P2P stores", "p2psync",
    "catchup_blocks_per_s", target=(">=", 10000),
    limit=("blocks/s = verifies/s (1 per block)", pvps), ratio=True)
row("p2p sync", "catch-up incl. apply, real processes", "p2psync",
    "apply_blocks_per_s", target=(">=", 10000),
    limit=("blocks/s = verifies/s (1 per block)", pvps), ratio=True)
row("p2p sync", "catch-up incl. apply, first to last group commit",
    "p2psync", "apply_commit_blocks_per_s",
    limit=("blocks/s = verifies/s (1 per block)", pvps), ratio=True)
row("p2p sync", "the follower's CPU per block during the apply", "p2psync",
    "apply_cpu_us_per_block", unit="us",
    limit=("us of it one signature check (1 verify per block)", verify),
    ratio=True)

# ---- EVM
kinds = sorted({n[len("evm_"):-len("_total_us")] for (s, n) in VALS
                if s == "evm" and n.endswith("_total_us")})
for k in kinds:
    txs = med("evm", "evm_%s_txs" % k)
    row("evm", "blockv2's part per EVM block, %s (%d txs)" % (k, txs or 0),
        "evm", "evm_%s_overhead_us" % k, unit="us", target=("<=", 5000),
        limit=("us the execution client took (same calls)",
               med("evm", "evm_%s_el_us" % k)))
    row("evm", "blockv2's CPU per EVM block, %s (reaper apart)" % k, "evm",
        "evm_%s_cpu_us" % k, unit="us", target=("<=", 5000))

# ---- HA
for size in ("1024", "65536"):
    row("ha", "guarded write per block, %s-byte record" % size, "ha",
        "ha_guarded_write_%s_us" % size, unit="us",
        limit=("us etcd's own put of the same bytes",
               med("ha", "ha_etcd_put_%s_us" % size)), ratio=True)

print("| area | figure | median (min-max) | unit | target | result | "
      "limit (same run) | figure / limit |")
print("|---|---|---|---|---|---|---|---|")
for r in ROWS:
    print("| " + " | ".join(r) + " |")
print()
sections = [l.rstrip("\n").split("\t") for l in open(sys.argv[2])]
print("Sections: " + "; ".join("%s %s (%s s)" % (n, st, s)
                               for n, st, s in sections))
misses = sum(1 for r in ROWS if r[5] == "**miss**")
passes = sum(1 for r in ROWS if r[5] == "pass")
print("Targets: %d pass, %d miss." % (passes, misses))
