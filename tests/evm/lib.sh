# Shared by the EVM end-to-end scripts (source it after tests/e2e/lib.sh
# and e2e_setup): test ELs started with el.sh, blockv2 nodes wired to
# them, and the checks on both.
#   el_start NAME... [--genesis FILE]  starts one EL per NAME in parallel
#       (data in $W/NAME, JWT secret $W/NAME.jwt made on first use) and
#       sets EL_<NAME>_ENGINE_URL, _ETH_URL, _PID, _GENESIS_HASH; a restart
#       in the same dir keeps the URLs. The PIDs join PIDS (killed on exit).
#   el_flags NAME [JWT_FILE [GENESIS_HASH]]  sets EVM_FLAGS: blockv2's
#       --evm.* flags for EL NAME (its own secret and genesis hash unless
#       given).
#   el_height NAME  prints the EL's head block number.
#   height PORT  prints a node's store height (0 when it does not answer).
#   wait_height PORT N SECONDS  waits until the node's height is >= N;
#       fails when it makes no progress for SECONDS.
#   same_blocks PORT_A PORT_B FROM TO  both nodes hold identical blocks
#       FROM..TO (StoreService/GetBlock).
#   app_hashes PORT ETH_URL T  the node's rollup headers carry the EL's
#       state roots: header h's app hash is the EL state root after h - 1
#       (block 0: the genesis), for h in 1..T.
#   tx ARGS...  node tests/evm/tx.mjs ARGS.
#   init_homes CHAIN_ID NS  an aggregator home $W/a and a full node home
#       $W/b on its genesis (namespaces NS-h, NS-d; passphrase $W/pass).
#   start_node NAME PORT EL [flags]  blockv2 start in $W/NAME with the
#       script's COMMON flags and EL's --evm.* flags (EVM_ENGINE, when set,
#       replaces its engine URL), RPC on 127.0.0.1:PORT, P2P on PP_<NAME>;
#       log $W/NAME.log; sets PID_<NAME>; waits for its RPC (up to 300 s: a
#       restarted full node replays into an empty EL first).
EVM_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
EVM_GENESIS=$EVM_DIR/genesis/evnode-test.json

tx() { node "$EVM_DIR/tx.mjs" "$@"; }

init_homes() { # init_homes CHAIN_ID NS
  printf 'evm-passphrase\n' >"$W/pass"
  "$BIN" init --home "$W/a" --chain-id "$1" \
    --evnode.signer.passphrase_file "$W/pass" --evnode.node.aggregator true \
    --evnode.da.namespace "$2-h" --evnode.da.data_namespace "$2-d" >"$W/init.log"
  "$BIN" init --home "$W/b" --genesis "$W/a/config/genesis.json" \
    --evnode.da.namespace "$2-h" --evnode.da.data_namespace "$2-d" >>"$W/init.log"
}

start_node() { # start_node NAME PORT EL [flags]
  local name=$1 port=$2 el=$3 pp="PP_$1"; shift 3
  el_flags "$el"
  [ -z "${EVM_ENGINE:-}" ] || EVM_FLAGS[1]=$EVM_ENGINE
  "$BIN" start --home "$W/$name" "${COMMON[@]}" "${EVM_FLAGS[@]}" \
    --evnode.rpc.address "127.0.0.1:$port" \
    --evnode.p2p.listen_address "/ip4/127.0.0.1/tcp/${!pp}" \
    "$@" >>"$W/$name.log" 2>&1 &
  PIDS+=($!)
  printf -v "PID_$name" '%s' "$!"
  wait_until 300 "$name RPC" curl -sf -m 2 "http://127.0.0.1:$port/health/live"
}

el_start() { # el_start NAME... [--genesis FILE]
  local genesis=$EVM_GENESIS names=() n pids=() k v
  while [ $# -gt 0 ]; do
    case "$1" in
      --genesis) genesis=$2; shift 2 ;;
      *) names+=("$1"); shift ;;
    esac
  done
  for n in "${names[@]}"; do
    [ -f "$W/$n.jwt" ] || "$EVM_DIR/el.sh" jwt "$W/$n.jwt"
    mkdir -p "$W/$n"
    ln -sf "$W/$n/el.log" "$W/el-$n.log"
    "$EVM_DIR/el.sh" start --genesis "$genesis" --jwt "$W/$n.jwt" --dir "$W/$n" \
      >"$W/$n.start" 2>&1 &
    pids+=($!)
  done
  local i=0
  for n in "${names[@]}"; do
    wait "${pids[$i]}" || { cat "$W/$n.start" >&2; fail "EL $n did not start"; }
    i=$((i + 1))
    while IFS='=' read -r k v; do
      [ -n "$k" ] && printf -v "EL_${n}_$k" '%s' "$v"
    done <"$W/$n/el.env"
    k="EL_${n}_PID"
    PIDS+=("${!k}")
  done
}

el_flags() { # el_flags NAME [JWT_FILE [GENESIS_HASH]]
  local e="EL_$1_ENGINE_URL" t="EL_$1_ETH_URL" g="EL_$1_GENESIS_HASH"
  EVM_FLAGS=(--evm.engine-url "${!e}" --evm.eth-url "${!t}"
             --evm.jwt-secret-file "${2:-$W/$1.jwt}"
             --evm.genesis-hash "${3:-${!g}}")
}

el_height() { # el_height NAME
  local t="EL_$1_ETH_URL"
  curl -sf -m 5 -H 'Content-Type: application/json' \
    -d '{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber","params":[]}' "${!t}" |
    python3 -c 'import sys,json; print(int(json.load(sys.stdin)["result"], 16))'
}

height() { # height PORT
  curl -sf -m 5 "http://127.0.0.1:$1/status" 2>/dev/null |
    python3 -c 'import sys,json; print(json.load(sys.stdin)["height"])' 2>/dev/null ||
    echo 0
}

# A catch-up on a loaded machine is slow (ethereumjs took 4-6 s a block at
# load 60), so the deadline is for progress: it fails only when the height
# stays the same for SECONDS.
wait_height() { # wait_height PORT N SECONDS
  local h last=-1 since=$SECONDS
  while h=$(height "$1"); [ "$h" -lt "$2" ]; do
    if [ "$h" != "$last" ]; then
      last=$h
      since=$SECONDS
    fi
    [ $((SECONDS - since)) -lt "$3" ] ||
      fail "node on port $1 stayed at height $h for ${3}s (waiting for $2)"
    sleep 0.2
  done
}

same_blocks() { # same_blocks PORT_A PORT_B FROM TO
  python3 - "$@" <<'PY'
import json, sys, urllib.request
pa, pb, lo, hi = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
def block(port, h):
    req = urllib.request.Request(
        "http://127.0.0.1:%s/evnode.v1.StoreService/GetBlock" % port,
        data=json.dumps({"height": str(h)}).encode(),
        headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.load(r)["block"]
for h in range(lo, hi + 1):
    a, b = block(pa, h), block(pb, h)
    if a != b:
        sys.exit("rollup block %d differs between ports %s and %s" % (h, pa, pb))
print("rollup blocks %d..%d identical on ports %s and %s" % (lo, hi, pa, pb))
PY
}

app_hashes() { # app_hashes PORT ETH_URL T
  python3 - "$@" <<'PY'
import base64, json, sys, urllib.request
port, eth, top = sys.argv[1], sys.argv[2], int(sys.argv[3])
def post(url, body):
    req = urllib.request.Request(url, data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.load(r)
def root(h):
    b = post(eth, {"jsonrpc": "2.0", "id": 1, "method": "eth_getBlockByNumber",
                   "params": [hex(h), False]})["result"]
    return b["stateRoot"]
def app_hash(h):
    blk = post("http://127.0.0.1:%s/evnode.v1.StoreService/GetBlock" % port,
               {"height": str(h)})["block"]
    return "0x" + base64.b64decode(blk["header"]["header"]["appHash"]).hex()
for h in range(1, top + 1):
    if app_hash(h) != root(h - 1):
        sys.exit("height %d: header app hash %s is not the EL state root %s after %d"
                 % (h, app_hash(h), root(h - 1), h - 1))
print("headers 1..%d carry the EL state roots of blocks 0..%d" % (top, top - 1))
PY
}
