#!/usr/bin/env bash
# Disk faults (issue 16 item 4). Needs root: the aggregator's data
# directory is a tmpfs (`mount -t tmpfs -o size=96m`) mounted under the
# scenario's temp dir and unmounted at exit (exit 77 = skipped without
# root or mount).
#  1. Disk full: a local DA server, an aggregator (a, data on the tmpfs)
#     and a DA-only full node (b) under a tx load of 2 KB txs; a filler
#     file takes the tmpfs down to a few MB while a produces. The node
#     must stop by itself, cleanly (exit status 1, not a signal), with a
#     message naming the path (its data directory); `store check` passes
#     on its home; the filler is removed and a restarts and goes on with
#     nothing lost (every acknowledged tx in exactly one block, every node
#     on the same chain, all on DA).
#  2. Corrupted values: copies of b's stopped home with one value replaced
#     by garbage (mdb_load from lmdb-utils): a header below the tip, the
#     tip header, the tip data, the tip state, /0/t. `store check` exits 1
#     naming the key every time; `start` refuses (exit 1, the key named)
#     when the tip, its state or /0/t is bad; with a bad block below the
#     tip the node starts, answers GetBlock at that height with a 500 that
#     names the height, and keeps running. Never a crash (signal).
#  1b. (--full only) The tx queue alone on a full disk: a's queue
#     (data/seq, a compact copy) on its own tmpfs with ~160 KB to spare,
#     so that the queue meets the full disk first under the load: a must
#     stop by itself (exit 1, `fatal actor=seq` naming data/seq and "disk
#     full"), `store check` passes; the tmpfs grows, a restarts and goes
#     on with nothing lost (the chain and DA checks again).
# --short and --full differ in the load's length before the fill, and
# phase 1b.
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
rel_setup disk_faults "$@"
if [ "$(id -u)" -ne 0 ]; then
  echo "disk_faults: needs root to mount a tmpfs; skipped"
  exit 77
fi
command -v mdb_load >/dev/null || { echo "disk_faults: no mdb_load (lmdb-utils); skipped"; exit 77; }
if rel_short; then WARM=20; else WARM=100; fi

step "chain: aggregator a with its data directory on a 96 MiB tmpfs, DA-only full node b"
rel_chain b x
mv "$W/a/data" "$W/a/data.init"
mkdir "$W/a/data"
if ! mount -t tmpfs -o size=96m tmpfs "$W/a/data"; then
  echo "disk_faults: cannot mount a tmpfs; skipped"
  exit 77
fi
REL_MOUNTS+=("$W/a/data")
cp -a "$W/a/data.init/." "$W/a/data/"
rm -rf "$W/a/data.init"
rel_da_start
rel_node_start a agg
rel_node_start b da
rel_monitor_start
rel_load_start --clients 4 --rate 300 --value-size 2000
wait_until 120 "a at height $WARM" bash -c "[ \$(curl -sf -m 5 http://127.0.0.1:$P_a_rpc/status | python3 -c 'import sys,json; print(json.load(sys.stdin)[\"height\"])' 2>/dev/null || echo 0) -ge $WARM ]"

step "1. the disk fills while a produces"
free_kb=$(df -k --output=avail "$W/a/data" | tail -1 | tr -d ' ')
fill_mb=$((free_kb / 1024 - 6))
dd if=/dev/zero of="$W/a/data/filler" bs=1M count="$fill_mb" status=none 2>/dev/null || true
rel_fault
echo "    filler of $fill_mb MB written; $(df -h --output=avail "$W/a/data" | tail -1 | tr -d ' ') left"
pid=$(rel_node_pid a)
wait_until 120 "the aggregator to stop by itself" bash -c "! kill -0 $pid 2>/dev/null"
rc=0; wait "$pid" || rc=$?
echo 0 >"$W/nodes/a/pid"
msg=$(grep -E "fatal|error" "$W/a.log" | grep -v "block committed" | tail -3)
echo "    aggregator exit status $rc; last errors:"
echo "$msg" | sed 's/^/      /' | cut -c1-240
[ "$rc" -eq 1 ] || fail "aggregator exit status $rc on a full disk, want 1 (a clean stop)"
grep -q "$W/a/data" <<<"$msg" ||
  fail "the error does not name the path $W/a/data"
rel_store_check a
h_full=$(python3 -c "import json; print(json.load(open('$W/monitor.json'))['heights'].get('a', 0))")

step "space freed: a restarts and goes on with nothing lost"
rm -f "$W/a/data/filler"
rel_node_start a agg
wait_until 60 "a past height $((h_full + 20))" bash -c "[ \$(curl -sf -m 5 http://127.0.0.1:$P_a_rpc/status | python3 -c 'import sys,json; print(json.load(sys.stdin)[\"height\"])' 2>/dev/null || echo 0) -ge $((h_full + 20)) ]"
rel_run
rel_load_stop
rel_converge 120
rel_check_chain --wait 120
rel_da_check --wait 120
rel_monitor_stop
rel_node_stop a
rel_store_check a

if ! rel_short; then
  step "1b. the tx queue alone on a full disk: it meets it first"
  mkdir "$W/seq.compact"
  mdb_copy -c "$W/a/data/seq" "$W/seq.compact"
  mv "$W/a/data/seq" "$W/a/data/seq.before"
  mkdir "$W/a/data/seq"
  kb=$(( $(du -k "$W/seq.compact/data.mdb" | cut -f1) + 160 ))
  mount -t tmpfs -o "size=${kb}k" tmpfs "$W/a/data/seq"
  cp "$W/seq.compact/data.mdb" "$W/a/data/seq/"
  lines=$(wc -l <"$W/a.log")
  rel_node_start a agg
  pid=$(rel_node_pid a)
  rel_load_start --clients 4 --rate 300 --value-size 2000 --prefix q --name q
  rel_fault
  wait_until 120 "the aggregator to stop by itself (queue full)" bash -c "! kill -0 $pid 2>/dev/null"
  rc=0; wait "$pid" || rc=$?
  echo 0 >"$W/nodes/a/pid"
  msg=$(tail -n "+$((lines + 1))" "$W/a.log" | grep -E "fatal|stopped by" | tail -3)
  echo "    aggregator exit status $rc; last errors:"
  echo "$msg" | sed 's/^/      /' | cut -c1-240
  [ "$rc" -eq 1 ] || fail "aggregator exit status $rc on a full queue disk, want 1"
  grep "fatal actor=seq" <<<"$msg" | grep "disk full" | grep -q "$W/a/data/seq" ||
    fail "no 'fatal actor=seq' naming $W/a/data/seq and 'disk full'"
  rel_store_check a
  h_full=$(rel_height b)
  mount -o remount,size=64m "$W/a/data/seq"
  rel_node_start a agg
  wait_until 60 "a past height $((h_full + 20))" bash -c "[ \$(curl -sf -m 5 http://127.0.0.1:$P_a_rpc/status | python3 -c 'import sys,json; print(json.load(sys.stdin)[\"height\"])' 2>/dev/null || echo 0) -ge $((h_full + 20)) ]"
  rel_load_stop
  rel_converge 120
  rel_check_chain --wait 120
  rel_da_check --wait 120
  rel_node_stop a
  rel_store_check a
  umount "$W/a/data/seq"
  rel_run
fi

step "2. corrupted values in a stopped home: store check and start name the key"
rel_node_stop b
rel_store_check b
tip=$(sed -n 's/^ok: height \([0-9]*\),.*/\1/p' "$W/check-b.out")
mid=$((tip / 2))
# x: a scratch home (b's copies), its ports from rel_chain
try_start() { # try_start -> rc of a start bounded to 15 s; log in $W/x.log
  local rc=0
  timeout 15 "$BIN" start --home "$W/x" "${REL_NODE_FLAGS[@]}" \
    --evnode.da.address "" --evnode.p2p.listen_address "" \
    --evnode.rpc.address "127.0.0.1:$P_x_rpc" >"$W/x.log" 2>&1 || rc=$?
  echo "$rc"
}
for key in "/0/h/$mid" "/0/d/$mid" "/0/h/$tip" "/0/d/$tip" "/0/s/$tip" /0/t; do
  rm -rf "$W/x"
  cp -a "$W/b" "$W/x"
  printf '%s\ngarbage-not-a-protobuf\n' "$key" | mdb_load -T "$W/x/data"
  rel_fault
  rc=0
  out=$("$BIN" store check --home "$W/x" 2>&1) || rc=$?
  [ "$rc" -eq 1 ] || fail "store check with a bad $key: exit $rc ($out)"
  grep -qF "$key" <<<"$out" || fail "store check does not name $key: $out"
  case "$key" in
    "/0/h/$mid"|"/0/d/$mid")
      # below the tip: the node starts; that block is answered with a 500
      "$BIN" start --home "$W/x" "${REL_NODE_FLAGS[@]}" \
        --evnode.da.address "" --evnode.p2p.listen_address "" \
        --evnode.rpc.address "127.0.0.1:$P_x_rpc" >"$W/x.log" 2>&1 &
      xpid=$!
      PIDS+=("$xpid")
      wait_until 90 "x RPC" curl -sf -m 2 "http://127.0.0.1:$P_x_rpc/health/live"
      body=$(curl -s -m 5 -w ' HTTP %{http_code}' -H 'Content-Type: application/json' \
        -d "{\"height\":\"$mid\"}" "http://127.0.0.1:$P_x_rpc/evnode.v1.StoreService/GetBlock")
      grep -q "HTTP 500" <<<"$body" || fail "GetBlock $mid with a bad $key: $body"
      grep -q "block $mid" <<<"$body" || fail "GetBlock $mid does not name the block: $body"
      curl -sf -m 5 "http://127.0.0.1:$P_x_rpc/status" >/dev/null ||
        fail "the node stopped answering after GetBlock $mid"
      kill -TERM "$xpid"
      rc=0; wait "$xpid" || rc=$?
      [ "$rc" -eq 0 ] || fail "node with a bad $key: exit $rc on SIGTERM"
      echo "    $key: store check names it; the node runs, GetBlock $mid: $body"
      ;;
    *)
      rc=$(try_start)
      [ "$rc" -eq 1 ] || fail "start with a bad $key: exit $rc, want 1: $(tail -3 "$W/x.log")"
      grep -qF "$key" "$W/x.log" || fail "start does not name $key: $(tail -3 "$W/x.log")"
      echo "    $key: store check names it; start refused: $(grep -F "$key" "$W/x.log" | head -1 | cut -c1-160)"
      ;;
  esac
  rel_run
done
rm -rf "$W/x"
rel_da_stop
rel_result pass
