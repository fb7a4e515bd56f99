// js-libp2p's figures for bench/p2p_bench.sh: two js_peer.mjs processes on
// 127.0.0.1 (tests/interop), measured through the control protocol the same
// way as the C peers: `send` (MB/s of payload over one yamux stream into the
// sink protocol) and `handshakes` (new TCP connection + multistream + Noise
// + yamux, then closed, in sequence). Prints one JSON object: the median of
// each figure over --runs runs, and every run.
//
//   node bench/p2p_js_bench.mjs [--bytes 67108864] [--handshakes 200] [--runs 3]
//
// Needs tests/interop/node_modules (tests/interop/install.sh); the peers
// load tests/interop/polyfill.mjs themselves. With --kind c and BM_P2P_PEER
// set to build/tests/interop/p2p_peer it measures two C peers the same way,
// for a cross-check of bench/p2p_bench.sh's C figures.
import { ControlPeer, seedHex } from '../tests/interop/lib/control.mjs'

function args () {
  const o = { bytes: 64 * 1024 * 1024, handshakes: 200, runs: 3, kind: 'js' }
  const a = process.argv.slice(2)
  for (let i = 0; i < a.length; i += 2) {
    const k = a[i].replace(/^--/, '')
    if (k === 'kind' && (a[i + 1] === 'js' || a[i + 1] === 'c')) { o.kind = a[i + 1]; continue }
    const v = Number(a[i + 1])
    if (!(k in o) || !Number.isSafeInteger(v) || v <= 0) throw new Error(`bad argument ${a[i]} ${a[i + 1]}`)
    o[k] = v
  }
  return o
}

const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2 }

const o = args()
const [a, b] = await Promise.all([
  ControlPeer.start(o.kind, { seed: seedHex(0x21), name: 'bench-a' }),
  ControlPeer.start(o.kind, { seed: seedHex(0x22), name: 'bench-b' })
])
try {
  const send = []
  const hs = []
  await a.ok('dial', { addr: b.addr })
  // Warm-up: JIT and the first window growth.
  await a.ok('send', { peer: b.id, bytes: 8 * 1024 * 1024 }, 60_000)
  await a.ok('handshakes', { addr: b.addr, count: 20 }, 60_000)
  for (let r = 0; r < o.runs; r++) {
    send.push((await a.ok('send', { peer: b.id, bytes: o.bytes }, 600_000)).mb_s)
    hs.push((await a.ok('handshakes', { addr: b.addr, count: o.handshakes }, 600_000)).per_s)
  }
  process.stdout.write(JSON.stringify({
    impl: o.kind === 'js' ? 'js-libp2p' : 'blockv2',
    node: process.version,
    send_bytes: o.bytes,
    send_mb_s: median(send),
    handshakes: o.handshakes,
    handshakes_per_s: median(hs),
    runs: { send_mb_s: send, handshakes_per_s: hs }
  }) + '\n')
} finally {
  await Promise.all([a.stop(), b.stop()])
}
