#!/usr/bin/env bash
# Kill test (issue 12, "a 202 is durable"): 4 concurrent clients post
# unique k=v txs (single and batch form, keep-alive connections) to an
# aggregator (100 ms blocks, a real `blockv2 da serve`) that is SIGKILLed
# at random moments and restarted, KILLS times (default 10). A client
# whose request fails (connection reset, 503) sends the same txs again
# later, so txs that were durable before the kill come back as 409.
# Afterwards:
#  - every tx answered 202 (or 409 to a retry) is readable through
#    GET /kv/<key> with its value;
#  - none is applied twice: every block 1..height is read through the
#    RPC's GetBlock and each tx is counted; a KV tx is applied once per
#    block that carries it (execute_txs applies each tx of a block once,
#    and a re-executed height applies nothing), so a count of 1 in the
#    blocks is a count of 1 applications. Every acknowledged tx must be
#    there exactly once, and no tx at all may be there twice;
#  - `blockv2 store check` passes after a graceful stop.
#
# usage: tests/e2e/kill.sh [path/to/blockv2]   (or BM_BLOCKV2_EXE)
#        KILLS=20 tests/e2e/kill.sh ...
set -euo pipefail

KILLS=${KILLS:-10}
. "$(dirname "$0")/lib.sh"
e2e_setup kill "${1:-}"
# Every port is chosen up front (the node's P2P listener too: its default,
# 0.0.0.0:7676, is fixed, and port 0 could take a port reserved here).
read -r P_DA P_A P_P2P < <(free_ports 3)
DA="http://127.0.0.1:$P_DA"
RPC="127.0.0.1:$P_A"

PID_A=
start_agg() {
  "$BIN" start --home "$W/a" --evnode.da.address "$DA" \
    --evnode.da.block_time 300ms --evnode.node.block_time 100ms \
    --evnode.log.level info --evnode.rpc.address "$RPC" \
    --evnode.p2p.listen_address "/ip4/127.0.0.1/tcp/$P_P2P" \
    --evnode.signer.passphrase_file "$W/pass" >>"$W/agg.log" 2>&1 &
  PID_A=$!
  PIDS+=("$PID_A")
  wait_until 60 "aggregator RPC" curl -sf -m 2 "http://$RPC/health/live"
}

step "init, da serve, aggregator"
printf 'kill-passphrase\n' >"$W/pass"
"$BIN" init --home "$W/a" --chain-id kill-chain \
  --evnode.signer.passphrase_file "$W/pass" --evnode.node.aggregator true \
  --evnode.da.namespace kill-h --evnode.da.data_namespace kill-d \
  >"$W/init.log"
da_serve "$P_DA" --block-time 200ms
start_agg

step "4 clients post txs while the aggregator is killed $KILLS times"
cat >"$W/client.py" <<'EOF'
import http.client, json, os, random, sys, threading, time

rpc, wdir, nclients = sys.argv[1], sys.argv[2], int(sys.argv[3])
host, port = rpc.split(":")
stop = os.path.join(wdir, "stop")
errors = []

def client(cid):
    rnd = random.Random(cid)
    conn = None
    acked = open(os.path.join(wdir, "acked.%d" % cid), "w")
    pending = []   # txs whose fate is unknown: sent again until answered
    seq = 0
    stopping = False
    while True:
        if not pending:
            if os.path.exists(stop):
                break
            # one tx (raw body) or a batch of 2..8 (JSON)
            k = 1 if rnd.random() < 0.6 else rnd.randint(2, 8)
            for _ in range(k):
                pending.append(("c%d-%d" % (cid, seq), "v%d-%d" % (cid, seq)))
                seq += 1
        batch = pending[:8]
        try:
            if conn is None:
                conn = http.client.HTTPConnection(host, int(port), timeout=10)
            if len(batch) == 1:
                conn.request("POST", "/tx", body="%s=%s" % batch[0],
                             headers={"Content-Type": "text/plain"})
            else:
                body = json.dumps({"txs": ["%s=%s" % t for t in batch]})
                conn.request("POST", "/tx", body=body,
                             headers={"Content-Type": "application/json"})
            resp = conn.getresponse()
            data = resp.read()
            if len(batch) == 1:
                statuses = [resp.status]
            elif resp.status == 200:
                statuses = [r["status"] for r in json.loads(data)["results"]]
            else:
                statuses = [resp.status] * len(batch)
        except (OSError, http.client.HTTPException):
            if conn is not None:
                conn.close()
            conn = None
            time.sleep(0.05)   # the node is down: retry the same txs
            continue
        for t, st in zip(batch, statuses):
            if st in (202, 409):
                acked.write("%s %s %d\n" % (t[0], t[1], st))
                pending.remove(t)
            elif st in (429, 503):
                pass           # not taken now: sent again
            else:
                errors.append("tx %s: HTTP %d %s" % (t[0], st, data[:200]))
                pending.remove(t)
        acked.flush()
        time.sleep(0.002)
    acked.close()

threads = [threading.Thread(target=client, args=(i,)) for i in range(nclients)]
for t in threads:
    t.start()
for t in threads:
    t.join()
if errors:
    print("\n".join(errors[:20]))
    sys.exit(1)
EOF
python3 "$W/client.py" "$RPC" "$W" 4 >"$W/client.log" 2>&1 &
PID_C=$!
PIDS+=("$PID_C")
for i in $(seq 1 "$KILLS"); do
  # A random moment 0.1 .. 2.5 s after the node came up.
  sleep "$(python3 -c 'import random; print(random.uniform(0.1, 2.5))')"
  kill -9 "$PID_A"
  wait "$PID_A" 2>/dev/null || true
  echo "    kill $i ($(grep -c 'block committed' "$W/agg.log") block commits logged so far)"
  start_agg
done
sleep 1
touch "$W/stop"
wait "$PID_C" || fail "a client saw an unexpected status: $(cat "$W/client.log")"

step "every acknowledged tx is readable with its value; none is in a block twice"
cat >"$W/verify.py" <<'EOF'
import base64, glob, http.client, json, os, sys, time

rpc, wdir = sys.argv[1], sys.argv[2]
host, port = rpc.split(":")
acked = {}
n409 = 0
for f in glob.glob(os.path.join(wdir, "acked.*")):
    for line in open(f):
        k, v, st = line.split()
        acked[k] = v
        n409 += st == "409"
conn = http.client.HTTPConnection(host, int(port), timeout=10)

def get(path):
    conn.request("GET", path)
    r = conn.getresponse()
    return r.status, r.read()

# GET /kv/<key>: each acknowledged key, with its value (waiting for the
# queue to drain).
deadline = time.time() + 120
missing = list(acked)
while missing and time.time() < deadline:
    left = []
    for k in missing:
        st, body = get("/kv/" + k)
        if st == 200:
            got = json.loads(body).get("value")
            if got != acked[k]:
                sys.exit("key %s: value %r, want %r" % (k, got, acked[k]))
        elif st == 404:
            left.append(k)
        else:
            sys.exit("GET /kv/%s: HTTP %d" % (k, st))
    missing = left
    if missing:
        time.sleep(0.5)
if missing:
    sys.exit("%d of %d acknowledged txs never became readable, e.g. %s"
             % (len(missing), len(acked), missing[:5]))

# Every block through GetBlock: count each tx.
st, body = get("/status")
height = json.loads(body)["height"]
count = {}
for h in range(1, height + 1):
    conn.request("POST", "/evnode.v1.StoreService/GetBlock",
                 body=json.dumps({"height": str(h)}),
                 headers={"Content-Type": "application/json"})
    r = conn.getresponse()
    b = json.loads(r.read())
    if r.status != 200:
        sys.exit("GetBlock %d: HTTP %d %s" % (h, r.status, b))
    for t in b["block"]["data"].get("txs", []):
        tx = base64.b64decode(t).decode()
        count[tx] = count.get(tx, 0) + 1
twice = [t for t, c in count.items() if c > 1]
if twice:
    sys.exit("%d txs are in more than one block, e.g. %s" % (len(twice),
                                                            twice[:5]))
absent = [k for k, v in acked.items() if count.get("%s=%s" % (k, v)) != 1]
if absent:
    sys.exit("%d acknowledged txs are not in exactly one block, e.g. %s"
             % (len(absent), absent[:5]))
print("    %d txs acknowledged (%d of them as 409 to a retry after a kill), "
      "all readable, each in exactly one of %d blocks; %d txs in blocks"
      % (len(acked), n409, height, sum(count.values())))
EOF
python3 "$W/verify.py" "$RPC" "$W" || fail "verification"

step "graceful stop; store check"
kill -TERM "$PID_A"
wait "$PID_A" || fail "aggregator exited with an error on SIGTERM"
"$BIN" store check --home "$W/a" >"$W/check.log" 2>&1 ||
  fail "store check: $(cat "$W/check.log")"
# A sanitizer build reports into the logs; a report just before a kill
# would otherwise go unnoticed.
if grep -l "ThreadSanitizer\|AddressSanitizer\|LeakSanitizer\|runtime error:" \
    "$W"/*.log; then
  fail "sanitizer report in the logs above"
fi
echo "kill test: OK ($KILLS kills)"
