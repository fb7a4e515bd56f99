#!/usr/bin/env bash
# Blocks that fit DA, end to end (issue 12 item 1): `blockv2 da serve` and
# an aggregator with 4 s blocks and every DA limit stock (da.max_blob_size
# 1,974,272, da.block_time 6s, the "time" batching strategy), while four
# clients post 2,400 txs of ~4 KB (~4.9 blobs) as fast as they can:
# several blobs' worth per block time.
# The aggregator keeps producing, no block's data exceeds one blob, every
# block reaches DA, and every tx answered 202 is readable once.
#
# usage: tests/e2e/da_load.sh [path/to/blockv2]   (or BM_BLOCKV2_EXE)
set -euo pipefail

. "$(dirname "$0")/lib.sh"
e2e_setup daload "${1:-}"
LIMIT=1974272
LOAD_TXS=${LOAD_TXS:-2400}

# Every port is chosen up front (the node's P2P listener too: its default,
# 0.0.0.0:7676, is fixed, and port 0 could take a port reserved here).
read -r P_DA P_A P_P2P < <(free_ports 3)
DA="http://127.0.0.1:$P_DA"
RPC="http://127.0.0.1:$P_A"

status_field() { # status_field NAME -> value or 0
  curl -sf -m 5 "$RPC/status" |
    python3 -c "import sys,json; print(json.load(sys.stdin)['$1'])" \
      2>/dev/null || echo 0
}

step "da serve (stock blob limit) and an aggregator with 4 s blocks"
printf 'load-passphrase\n' >"$W/pass"
"$BIN" init --home "$W/a" --chain-id load-chain \
  --evnode.signer.passphrase_file "$W/pass" --evnode.node.aggregator true \
  --evnode.da.namespace load-h --evnode.da.data_namespace load-d \
  >"$W/init.log"
da_serve "$P_DA" --block-time 1s
"$BIN" start --home "$W/a" --evnode.signer.passphrase_file "$W/pass" \
  --evnode.da.address "$DA" --evnode.node.block_time 4s \
  --evnode.rpc.address "127.0.0.1:$P_A" \
  --evnode.p2p.listen_address "/ip4/127.0.0.1/tcp/$P_P2P" >"$W/a.log" 2>&1 &
PID_A=$!
PIDS+=($PID_A)
wait_until 30 "aggregator RPC" curl -sf -m 2 "$RPC/health/live"

step "four clients post $LOAD_TXS txs of ~4 KB"
python3 - "$P_A" "$LOAD_TXS" "$W/acked" <<'EOF' || fail "load generator"
import http.client, sys, threading, time
port, total, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
acked, lock = [], threading.Lock()
start = time.time()

def client(cid):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    i = 0
    while i < total // 4:
        key = "c%d-%07d" % (cid, i)
        i += 1
        body = ("%s=%s" % (key, chr(97 + i % 26) * 4000)).encode()
        try:
            conn.request("POST", "/tx", body,
                         {"Content-Type": "text/plain"})
            r = conn.getresponse()
            r.read()
        except Exception:
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            continue
        if r.status == 202:
            with lock:
                acked.append(key)
        elif r.status not in (429, 503):
            print("unexpected status", r.status, file=sys.stderr)
            sys.exit(1)

ts = [threading.Thread(target=client, args=(c,)) for c in range(4)]
for t in ts: t.start()
for t in ts: t.join()
took = time.time() - start
with open(out, "w") as f:
    f.write("\n".join(acked))
print("    %d txs acknowledged in %.1f s (%.1f MB, %.1f blobs per 4 s)" % (
    len(acked), took, len(acked) * 4012 / 1e6,
    len(acked) * 4012 / max(took, 4.0) * 4 / 1974272))
EOF
kill -0 "$PID_A" || fail "the aggregator stopped under load"

step "every acknowledged tx lands in a block"
python3 - "$P_A" "$W/acked" <<'EOF' || fail "acknowledged txs not executed"
import http.client, sys, time
port, keys = int(sys.argv[1]), open(sys.argv[2]).read().split()
conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
deadline = time.time() + 240
for k in keys:
    while True:
        conn.request("GET", "/kv/" + k)
        r = conn.getresponse()
        r.read()
        if r.status == 200:
            break
        if time.time() > deadline:
            print("tx %s not executed" % k, file=sys.stderr)
            sys.exit(1)
        time.sleep(0.5)
EOF
kill -0 "$PID_A" || fail "the aggregator stopped"

step "every block reaches DA"
T=$(status_field height)
wait_until 180 "DA-included height >= $T" \
  bash -c "[ \$(curl -sf -m 5 $RPC/status | python3 -c 'import sys,json; print(json.load(sys.stdin)[\"da_included_height\"])' 2>/dev/null || echo 0) -ge $T ]"

step "no block's data exceeds one blob; the load filled blocks to it"
python3 - "$P_A" "$T" "$LIMIT" "$W/acked" <<'EOF' || fail "block sizes"
import base64, http.client, json, sys
port, top, limit = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
acked = set(open(sys.argv[4]).read().split())
conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

def varint_len(n):
    k = 1
    while n >= 0x80:
        n >>= 7
        k += 1
    return k

full, seen = 0, {}
for h in range(1, top + 1):
    conn.request("POST", "/evnode.v1.StoreService/GetBlock",
                 json.dumps({"height": str(h)}),
                 {"Content-Type": "application/json"})
    r = conn.getresponse()
    b = json.loads(r.read())
    txs = [base64.b64decode(t) for t in b["block"]["data"].get("txs", [])]
    wire = sum(1 + varint_len(len(t)) + len(t) for t in txs)
    # the txs alone must leave room for metadata, signature and signer
    assert wire + 200 <= limit, "block %d: %d bytes of txs" % (h, wire)
    if wire > limit - 16384:
        full += 1
    for t in txs:
        k = t.split(b"=", 1)[0].decode()
        seen[k] = seen.get(k, 0) + 1
missing = [k for k in acked if seen.get(k, 0) != 1]
assert not missing, "%d acked txs not in exactly one block" % len(missing)
print("    %d blocks, %d filled to the limit" % (top, full))
assert full >= 3, "the load did not fill blocks (%d full)" % full
EOF
grep -q "fatal" "$W/a.log" && fail "fatal error in the aggregator log"

step "graceful stop"
kill -TERM "$PID_A"
wait "$PID_A" || fail "aggregator exited with an error"
echo "da_load: OK (height $T)"
