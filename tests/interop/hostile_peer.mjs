// hostile_peer: a misbehaving js-libp2p peer for the reliability suite's
// hostile P2P scenario (tests/reliability/scenarios/hostile_p2p.sh).
//
//   node --import ./polyfill.mjs hostile_peer.mjs --mode MODE
//        --target /ip4/127.0.0.1/tcp/P/p2p/ID --chain CHAIN [--seconds S]
//        [--items FILE] [--conns N] [--local-address IP] [--streams N]
//
// Modes (each for at most --seconds, default 10):
//   gossip    publishes every line of --items ("header|data KIND HEIGHT
//             HASH HEX", tools/hostile_forge --p2p) on the chain's header
//             or data topic, --per-peer (8) items per fresh key: the
//             target drops a publisher after 10 rejects, and what was in
//             flight then would be lost uncounted
//   flood     publishes random bytes (1..2,048) on both topics as fast as
//             the target takes them, --per-peer items per fresh key too
//   slowread  --streams exchange streams (header-ex, both networks), each
//             asking for heights 1..256 and never reading the replies
//   conns     --conns raw TCP connections to the target that send nothing
//             (a peer that never starts the handshake), reopened when the
//             target closes one; from --local-address (e.g. 127.0.0.2,
//             another loopback address than the legitimate peers')
// SIGTERM ends the run early (the result line is still printed).
// Last line on stdout:
//   mode=M published=N delivered=N peers=N disconnects=N streams=N
//   conns_peak=N closed_by_target=N errors=N
// Exit 0 unless the tool itself failed (the scenario judges the node).
import { createConnection } from 'node:net'
import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { createLibp2p } from 'libp2p'
import { tcp } from '@libp2p/tcp'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import { floodsub } from '@libp2p/floodsub'
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import { multiaddr } from '@multiformats/multiaddr'
import { uvarint, hostPort } from './lib/wire.mjs'

const args = {}
for (let i = 2; i < process.argv.length; i += 2) {
  args[process.argv[i].replace(/^--/, '')] = process.argv[i + 1]
}
const MODE = args.mode
const TARGET = args.target
const CHAIN = args.chain
const SECONDS = Number(args.seconds ?? 10)
let END = Date.now() + SECONDS * 1000
process.on('SIGTERM', () => { END = Date.now() })
const TOPIC = {
  header: `/${CHAIN}-headerSync/header-sub/v0.0.1`,
  data: `/${CHAIN}-dataSync/header-sub/v0.0.1`
}
const EX = [`/${CHAIN}-headerSync/header-ex/v0.0.3`, `/${CHAIN}-dataSync/header-ex/v0.0.3`]
const c = {
  published: 0, delivered: 0, peers: 0, disconnects: 0, streams: 0,
  conns_peak: 0, closed_by_target: 0, errors: 0
}
const sleep = (ms) => new Promise(resolve => setTimeout(resolve, ms))

if (!['gossip', 'flood', 'slowread', 'conns'].includes(MODE) || TARGET == null || CHAIN == null) {
  console.error('usage: hostile_peer.mjs --mode gossip|flood|slowread|conns --target MA --chain ID [--seconds S] [--items FILE] [--conns N] [--streams N]')
  process.exit(2)
}
const targetId = TARGET.split('/p2p/')[1]

// A js node with a fresh key, connected to the target; with the target's
// subscription to both topics seen (gossip, flood).
async function peer (pubsub) {
  const privateKey = await generateKeyPairFromSeed('Ed25519', randomBytes(32))
  const services = { identify: identify() }
  if (pubsub) services.pubsub = floodsub()
  const node = await createLibp2p({
    privateKey,
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services
  })
  c.peers++
  node.addEventListener('peer:disconnect', (evt) => {
    if (evt.detail.toString() === targetId) c.disconnects++
  })
  await node.dial(multiaddr(TARGET), { signal: AbortSignal.timeout(10_000) })
  if (pubsub) {
    node.services.pubsub.subscribe(TOPIC.header)
    node.services.pubsub.subscribe(TOPIC.data)
    while (Date.now() < END) {
      const subs = node.services.pubsub.getSubscribers(TOPIC.header)
      if (subs.some(p => p.toString() === targetId)) break
      await sleep(50)
    }
  }
  return node
}

// Publishes next() (a [topic, bytes] or null when done) until END, on a
// new peer whenever the target drops the current one.
// perPeer > 0: a fresh peer after that many items (below the target's
// reject limit, so that none is lost with a dropped connection).
// publish() counts a recipient once the message is queued on its stream,
// before it is on the wire: a peer stopped at once can take queued items
// down with its connection, items the target never saw (the flood step
// counted 296 delivered against 286 refusals once). So a peer that leaves
// in good order stays RETIRE_MS first, for its queue to reach the target,
// while the next peer goes on publishing (the pace is not slowed).
const RETIRE_MS = 200
async function retire (node) {
  if (node.getConnections().length > 0) await sleep(RETIRE_MS)
  await node.stop()
}

async function publishAll (next, perPeer = 0) {
  let node = null
  let onNode = 0
  let item = next()
  const leaving = []
  while (item != null && Date.now() < END) {
    try {
      if (node == null || node.getConnections().length === 0 ||
          (perPeer > 0 && onNode >= perPeer)) {
        if (node != null) leaving.push(retire(node).catch(() => {}))
        node = null // a failing peer() must not stop the one leaving
        node = await peer(true)
        onNode = 0
      }
      onNode++
      const r = await node.services.pubsub.publish(TOPIC[item[0]], item[1])
      c.published++
      if ((r?.recipients?.length ?? 0) > 0) c.delivered++
      item = next()
    } catch (err) {
      c.errors++
      if (node != null) { await node.stop().catch(() => {}); node = null }
      await sleep(100)
    }
  }
  if (node != null) leaving.push(retire(node).catch(() => {}))
  await Promise.all(leaving)
}

async function gossip () {
  const lines = readFileSync(args.items, 'utf8').split('\n').filter(l => l.trim() !== '')
  let i = 0
  await publishAll(() => {
    if (i >= lines.length) return null
    const f = lines[i++].split(' ')
    return [f[0], Buffer.from(f[4], 'hex')]
  }, Number(args['per-peer'] ?? 8))
}

async function flood () {
  let i = 0
  await publishAll(() => {
    i++
    const n = 1 + Math.floor(Math.random() * 2048)
    return [i % 2 === 0 ? 'header' : 'data', randomBytes(n)]
  }, Number(args['per-peer'] ?? 8))
}

async function slowread () {
  const want = Number(args.streams ?? 64)
  const node = await peer(false)
  const conn = node.getConnections()[0]
  // HeaderRequest { origin = 1 (field 1), amount = 256 (field 3) }
  const req = Buffer.from([0x08, 0x01, 0x18, 0x80, 0x02])
  const held = []
  for (let i = 0; i < want && Date.now() < END; i++) {
    try {
      const s = await conn.newStream(EX[i % 2], { signal: AbortSignal.timeout(10_000) })
      if (typeof s.pause === 'function') s.pause() // never drain
      s.send(Buffer.concat([uvarint(req.length), req]))
      held.push(s)
      c.streams++
    } catch (err) {
      c.errors++
      await sleep(100)
    }
  }
  while (Date.now() < END) await sleep(200)
  for (const s of held) s.abort?.(new Error('done'))
  await node.stop()
}

async function conns () {
  const want = Number(args.conns ?? 1000)
  const [host, port] = hostPort(TARGET)
  let open = 0
  let ending = false
  const socks = new Set()
  const one = () => {
    if (ending || Date.now() >= END) return
    const s = createConnection({ host, port, localAddress: args['local-address'] })
    socks.add(s)
    let up = false
    s.on('connect', () => {
      up = true
      open++
      if (open > c.conns_peak) c.conns_peak = open
    })
    s.on('data', () => {}) // a multistream header is read and ignored
    s.on('error', () => {})
    s.on('close', () => {
      socks.delete(s)
      if (ending) return
      if (up) { open--; c.closed_by_target++ } else c.errors++
      setTimeout(one, 100) // keep the pressure on
    })
  }
  for (let i = 0; i < want; i++) one()
  while (Date.now() < END) await sleep(200)
  ending = true
  for (const s of socks) s.destroy()
}

const run = { gossip, flood, slowread, conns }[MODE]
try {
  await run()
} catch (err) {
  console.error(`hostile_peer ${MODE}: ${err.stack ?? err}`)
  process.exit(1)
}
console.log(`mode=${MODE} ` + Object.entries(c).map(([k, v]) => `${k}=${v}`).join(' '))
process.exit(0)
