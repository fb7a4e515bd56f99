# Helpers of the hostile-input scenarios (scenarios/hostile_*.sh), on top
# of lib.sh (source this after it and after rel_setup):
#   hostile_init                 TOOLS (hostile_forge, rpc_hostile: built
#                                next to $BIN), $W/forged (hashes of every
#                                forged header), the metrics ports
#   hostile_metrics_flags NAME   flags that turn on NAME's /metrics
#   hostile_metric NAME REGEX    sum of NAME's /metrics samples whose
#                                series (name and labels) match REGEX
#   hostile_forge_da KIND FROM COUNT [forge flags]
#                                bad blocks posted to the DA server (items
#                                counted as faults, header hashes kept)
#   hostile_forge_p2p KIND FROM COUNT FILE [forge flags]
#                                the same as gossip items, appended to FILE
#   hostile_forged_check         no running node holds a forged header
#                                (GetBlock by hash); what one does is added
#                                to REL_INVALID_EXTRA
#   hostile_probe NAME SECONDS   a legitimate client's GET /status on NAME
#                                for SECONDS (a new connection every 20 ms);
#                                prints p50/p99/max and fails above
#                                HOSTILE_P99_MS (50) or on any error;
#                                hostile_probe_start NAME SECONDS and
#                                hostile_probe_end: the same in the
#                                background (worst p99: HOSTILE_P99_WORST);
#                                hostile_baseline NAME SECONDS: printed only
#   hostile_keeps_up NAME SECS   NAME's height passes the aggregator's
#                                height at the call (it keeps syncing)

HOSTILE_P99_MS=${HOSTILE_P99_MS:-50}

hostile_init() {
  TOOLS=${BM_RELIABILITY_TOOLS:-$(dirname "$BIN")/../tests/reliability/tools}
  TOOLS=$(readlink -f "$TOOLS")
  [ -x "$TOOLS/hostile_forge" ] && [ -x "$TOOLS/rpc_hostile" ] ||
    { echo "no hostile tools in $TOOLS (build the tree)" >&2; exit 2; }
  : >"$W/forged"
  REL_INVALID_EXTRA=0
  HOSTILE_P99_WORST=0
}

hostile_metrics_flags() { # hostile_metrics_flags NAME
  local p
  eval "p=\${P_${1}_met}"
  echo --evnode.instrumentation.prometheus true \
    --evnode.instrumentation.prometheus_listen_addr "127.0.0.1:$p"
}

hostile_metric() { # hostile_metric NAME REGEX -> integer (0 if unreachable)
  local p page
  eval "p=\${P_${1}_met}"
  page=$(curl -sf -m 10 "http://127.0.0.1:$p/metrics" 2>/dev/null) || page=
  python3 -c '
import re, sys
rx = re.compile(sys.argv[1])
total = 0
for line in sys.stdin:
    if line.startswith("#"):
        continue
    series, _, value = line.rstrip("\n").rpartition(" ")
    if rx.search(series):
        total += int(float(value))
print(total)' "$2" <<<"$page"
}

# The attackers run at a lower priority than the nodes: on a real network
# they are other machines, and their CPU (Argon2 to load the key, TLS-less
# floods) must not count against the node's latency on this shared host.
HOSTILE_NICE=(nice -n 10)

_hostile_forge() { # _hostile_forge KIND FROM COUNT [flags]
  local kind=$1 from=$2 count=$3; shift 3
  "${HOSTILE_NICE[@]}" "$TOOLS/hostile_forge" --genesis "$W/a/config/genesis.json" \
    --signer "$W/a/config/signer.json" --passphrase-file "$W/pass" \
    --kind "$kind" --from "$from" --count "$count" "$@"
}

hostile_forge_da() { # hostile_forge_da KIND FROM COUNT [flags]
  local out n
  out=$(_hostile_forge "$@" --da "$DA_URL" --ns "$REL_NS_H" \
    --data-ns "$REL_NS_D") || fail "hostile_forge $*: $out"
  n=$(grep -c '^da ' <<<"$out" || true)
  rel_fault "$n"
  awk '$5 != "-" { print $5 }' <<<"$out" >>"$W/forged"
  echo "$out" >>"$W/forge.log"
}

hostile_forge_p2p() { # hostile_forge_p2p KIND FROM COUNT FILE [flags]
  local kind=$1 from=$2 count=$3 file=$4 out; shift 4
  out=$(_hostile_forge "$kind" "$from" "$count" --p2p "$@") ||
    fail "hostile_forge $kind: $out"
  awk '$4 != "-" { print $4 }' <<<"$out" >>"$W/forged"
  echo "$out" >>"$file"
}

# No running node holds a block whose header is a forged one.
hostile_forged_check() {
  local bad
  bad=$(python3 - "$W" <<'EOF'
import base64, http.client, json, os, sys
W = sys.argv[1]
hashes = sorted({l.strip() for l in open(os.path.join(W, "forged")) if l.strip()})
found = []
ndir = os.path.join(W, "nodes")
for name in sorted(os.listdir(ndir)):
    d = os.path.join(ndir, name)
    role = open(os.path.join(d, "role")).read().strip()
    pid = open(os.path.join(d, "pid")).read().strip()
    if role in ("", "daserver") or pid in ("", "0"):
        continue
    port = int(open(os.path.join(d, "rpc")).read().strip())
    for h in hashes:
        body = json.dumps({"hash": base64.b64encode(bytes.fromhex(h)).decode()})
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        c.request("POST", "/evnode.v1.StoreService/GetBlock", body,
                  {"Content-Type": "application/json"})
        r = c.getresponse()
        r.read()
        c.close()
        if r.status == 200:
            found.append("%s:%s" % (name, h))
        elif r.status != 404:
            print("GetBlock by hash on %s: HTTP %d" % (name, r.status),
                  file=sys.stderr)
            sys.exit(2)
print(len(found), len(hashes), " ".join(found))
EOF
) || fail "forged-block check: $bad"
  read -r n total rest <<<"$bad"
  echo "    forged headers held by a node: $n of $total ${rest:-}"
  REL_INVALID_EXTRA=$((REL_INVALID_EXTRA + n))
  [ "$n" -eq 0 ] || fail "a node holds a forged block: $rest"
}

# hostile_probe_start NAME SECONDS / hostile_probe_end: the probe in the
# background while the scenario attacks.
hostile_probe_start() {
  HOSTILE_PROBE_NODE=$1
  "$TOOLS/rpc_hostile" --port "$(rel_port "$1")" --attack none \
    --seconds "$2" >"$W/probe.out" 2>&1 &
  HOSTILE_PROBE_PID=$!
  PIDS+=("$HOSTILE_PROBE_PID")
}

hostile_probe_end() {
  local line p99 errs
  wait "$HOSTILE_PROBE_PID" || fail "probe: $(cat "$W/probe.out")"
  line=$(tail -1 "$W/probe.out")
  p99=$(sed -n 's/.* p99_ms=\([0-9.]*\).*/\1/p' <<<"$line")
  errs=$(sed -n 's/.* probe_errors=\([0-9]*\).*/\1/p' <<<"$line")
  echo "    GET /status on $HOSTILE_PROBE_NODE: $(grep -o 'probes=.*max_ms=[0-9.]*' <<<"$line")"
  [ -n "$p99" ] || fail "probe: $line"
  HOSTILE_P99_WORST=$(python3 -c "print(max($HOSTILE_P99_WORST, $p99))")
  [ "${errs:-1}" -eq 0 ] ||
    fail "GET /status on $HOSTILE_PROBE_NODE: $errs probes failed"
  python3 -c "import sys; sys.exit(0 if $p99 <= $HOSTILE_P99_MS else 1)" ||
    fail "GET /status on $HOSTILE_PROBE_NODE: p99 ${p99} ms above ${HOSTILE_P99_MS} ms"
}

hostile_probe() { # hostile_probe NAME SECONDS
  hostile_probe_start "$@"
  hostile_probe_end
}

# hostile_baseline NAME SECONDS: the probe with no attack, printed only
# (what the host gives a client at all; the bound is judged under attack).
hostile_baseline() {
  local line
  line=$("$TOOLS/rpc_hostile" --port "$(rel_port "$1")" --attack none \
    --seconds "$2" | tail -1)
  echo "    baseline GET /status on $1: $(grep -o 'probes=.*max_ms=[0-9.]*' <<<"$line")"
}

hostile_keeps_up() { # hostile_keeps_up NAME SECONDS
  local target
  target=$(($(rel_height a) + 5))
  wait_until "$2" "$1 past height $target" bash -c \
    "[ \$(curl -sf -m 5 http://127.0.0.1:$(rel_port "$1")/status | python3 -c 'import sys,json; print(json.load(sys.stdin)[\"height\"])' 2>/dev/null || echo 0) -ge $target ]"
}
