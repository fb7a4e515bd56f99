// Issue 14's js-libp2p interop: real blockv2 processes (an aggregator with
// 100 ms blocks, a P2P-only full node following it) and js-libp2p nodes.
//  - a js node subscribed to both topics receives the aggregator's headers
//    and data, signed by the aggregator's peer ID (StrictSign), and they
//    decode as P2PSignedHeader / P2PData equal to GetBlock;
//  - a js exchange client gets a range, the head and NOT_FOUND right from
//    the aggregator's header-ex server (both networks);
//  - a js node publishing headers signed by another key to the full node:
//    each is rejected (counted), nothing is applied, and it is disconnected
//    after repeated rejects, while the full node keeps following.
// BM_BLOCKV2_EXE is the blockv2 binary (tests/meson.build). Run by meson
// (suite interop) through run.sh.
import { describe, test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createLibp2p } from 'libp2p'
import { tcp } from '@libp2p/tcp'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import { ping } from '@libp2p/ping'
import { floodsub } from '@libp2p/floodsub'
import { generateKeyPairFromSeed, publicKeyToProtobuf } from '@libp2p/crypto/keys'
import { multiaddr } from '@multiformats/multiaddr'
import { uvarint } from './lib/wire.mjs'

const EXE = process.env.BM_BLOCKV2_EXE
const CHAIN = 'gossip-js'
const HEADER_TOPIC = `/${CHAIN}-headerSync/header-sub/v0.0.1`
const DATA_TOPIC = `/${CHAIN}-dataSync/header-sub/v0.0.1`
const HEADER_EX = `/${CHAIN}-headerSync/header-ex/v0.0.3`
const DATA_EX = `/${CHAIN}-dataSync/header-ex/v0.0.3`

const sleep = (ms) => new Promise(resolve => setTimeout(resolve, ms))
// A deadline for Promise.race that does not keep the process alive.
const deadline = (ms, what) => new Promise((resolve, reject) =>
  setTimeout(() => what == null ? resolve(null) : reject(new Error(what)), ms).unref())

async function until (what, fn, timeoutMs = 15_000, stepMs = 50) {
  const deadline = Date.now() + timeoutMs
  let last
  for (;;) {
    try {
      last = await fn()
      if (last) return last
    } catch (err) {
      last = err
    }
    if (Date.now() > deadline) throw new Error(`${what}: not true after ${timeoutMs} ms (last: ${last?.message ?? JSON.stringify(last)})`)
    await sleep(stepMs)
  }
}

function freePort () {
  return new Promise((resolve, reject) => {
    const s = createServer()
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address()
      s.close(() => resolve(port))
    })
    s.on('error', reject)
  })
}

// ------------------------------------------------------------ protobuf

// Fields of one message: [{field, wire, value}], varints as BigInt, bytes
// as Buffer.
function pbFields (buf) {
  const out = []
  let off = 0
  const varint = () => {
    let v = 0n
    for (let shift = 0n; ; shift += 7n) {
      if (off >= buf.length || shift > 63n) throw new Error('bad varint')
      const b = buf[off++]
      v |= BigInt(b & 0x7f) << shift
      if ((b & 0x80) === 0) return v
    }
  }
  while (off < buf.length) {
    const tag = varint()
    const field = Number(tag >> 3n)
    const wire = Number(tag & 7n)
    if (wire === 0) {
      out.push({ field, wire, value: varint() })
    } else if (wire === 2) {
      const n = Number(varint())
      if (off + n > buf.length) throw new Error(`field ${field} overruns`)
      out.push({ field, wire, value: buf.subarray(off, off + n) })
      off += n
    } else {
      throw new Error(`wire type ${wire}`)
    }
  }
  return out
}

const b64 = (b) => Buffer.from(b).toString('base64')

// protojson as blockv2's GetBlock writes it: zero scalars and empty bytes
// omitted, 64-bit integers as decimal strings.
function setU64 (o, k, v) { if (v != null && v !== 0n) o[k] = v.toString() }
function setBytes (o, k, v) { if (v != null && v.length > 0) o[k] = b64(v) }

function headerJson (buf) {
  const h = { version: {} }
  for (const f of pbFields(buf)) {
    switch (f.field) {
      case 1: for (const v of pbFields(f.value)) setU64(h.version, v.field === 1 ? 'block' : 'app', v.value); break
      case 2: setU64(h, 'height', f.value); break
      case 3: setU64(h, 'time', f.value); break
      case 4: setBytes(h, 'lastHeaderHash', f.value); break
      case 6: setBytes(h, 'dataHash', f.value); break
      case 8: setBytes(h, 'appHash', f.value); break
      case 10: setBytes(h, 'proposerAddress', f.value); break
      case 11: setBytes(h, 'validatorHash', f.value); break
      case 12: if (f.value.length > 0) h.chainId = f.value.toString(); break
    }
  }
  return h
}

// P2PSignedHeader -> {header (GetBlock's block.header), hint}.
function decodeP2PHeader (buf) {
  const sh = { signer: {} }
  let hint = null
  for (const f of pbFields(buf)) {
    if (f.field === 1) sh.header = headerJson(f.value)
    else if (f.field === 2) setBytes(sh, 'signature', f.value)
    else if (f.field === 3) {
      for (const s of pbFields(f.value)) setBytes(sh.signer, s.field === 1 ? 'address' : 'pubKey', s.value)
    } else if (f.field === 4) hint = f.value
  }
  return { sh, hint }
}

// P2PData -> {data (GetBlock's block.data), hint}.
function decodeP2PData (buf) {
  const d = {}
  const txs = []
  let hint = null
  for (const f of pbFields(buf)) {
    if (f.field === 1) {
      const m = {}
      for (const v of pbFields(f.value)) {
        if (v.field === 1 && v.value.length > 0) m.chainId = v.value.toString()
        else if (v.field === 2) setU64(m, 'height', v.value)
        else if (v.field === 3) setU64(m, 'time', v.value)
        else if (v.field === 4) setBytes(m, 'lastDataHash', v.value)
      }
      d.metadata = m
    } else if (f.field === 2) txs.push(b64(f.value))
    else if (f.field === 3) hint = f.value
  }
  if (txs.length > 0) d.txs = txs
  return { d, hint }
}

function pbField (field, wire, value) {
  if (wire === 0) return Buffer.concat([uvarint(field * 8), varintBig(value)])
  const b = Buffer.from(value)
  return Buffer.concat([uvarint(field * 8 + 2), uvarint(b.length), b])
}

function varintBig (v) {
  v = BigInt(v)
  const out = []
  do {
    let b = Number(v & 0x7fn)
    v >>= 7n
    if (v !== 0n) b |= 0x80
    out.push(b)
  } while (v !== 0n)
  return Buffer.from(out)
}

// ------------------------------------------------------------ blockv2

class Node {
  constructor (name, home) {
    this.name = name
    this.home = home
    this.proc = null
    this.log = []
  }

  start (args) {
    this.proc = spawn(EXE, ['start', '--home', this.home, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
    const keep = (b) => {
      this.log.push(b.toString())
      if (this.log.length > 400) this.log.shift()
      if (process.env.BM_INTEROP_VERBOSE) process.stderr.write(`[${this.name}] ${b}`)
    }
    this.proc.stdout.on('data', keep)
    this.proc.stderr.on('data', keep)
    this.exited = new Promise(resolve => this.proc.on('exit', (code, sig) => resolve({ code, sig })))
  }

  async stop () {
    if (this.proc == null || this.proc.exitCode != null) return null
    this.proc.kill('SIGTERM')
    const r = await Promise.race([this.exited, deadline(30_000)])
    if (r == null) this.proc.kill('SIGKILL')
    return r
  }
}

// Whether node n's process has ended (an exit code or a signal).
function gone (n) {
  return n.proc != null && (n.proc.exitCode != null || n.proc.signalCode != null)
}

// The last lines of a node's output, and how it ended if it did.
function logTail (n, lines = 20) {
  const state = gone(n) ? `exited ${n.proc.exitCode ?? n.proc.signalCode}` : 'running'
  return `[${n.name}: ${state}]\n${n.log.join('').split('\n').slice(-lines).join('\n')}`
}

// Whether n exited because its address was taken (see before()).
function bindRace (n) {
  return gone(n) && /Address already in use/.test(n.log.join(''))
}

// Runs fn; a failure carries the nodes' log tails.
async function withLogs (nodes, fn) {
  try {
    return await fn()
  } catch (err) {
    err.message += '\n' + nodes.map(n => logTail(n)).join('\n')
    throw err
  }
}

function run (args) {
  const r = spawnSync(EXE, args, { encoding: 'utf8' })
  if (r.status !== 0) throw new Error(`blockv2 ${args.join(' ')}: ${r.stderr}`)
  return r.stdout
}

// Every request has a deadline, so that a wait (until) never hangs on
// one that gets no answer.
const REQ_MS = 5_000

async function rpc (port, path, body) {
  const signal = AbortSignal.timeout(REQ_MS)
  const res = await fetch(`http://127.0.0.1:${port}${path}`, body === undefined
    ? { signal }
    : { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body), signal })
  if (!res.ok) throw new Error(`${path}: HTTP ${res.status}`)
  return path.startsWith('/evnode') || path === '/status' ? res.json() : res.text()
}

async function height (port) { return (await rpc(port, '/status')).height }

async function block (port, h) {
  return (await rpc(port, '/evnode.v1.StoreService/GetBlock', { height: String(h) })).block
}

async function metric (port, re) {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(REQ_MS) })
  const text = await res.text()
  const m = text.match(re)
  return m == null ? 0 : Number(m[1])
}

// ------------------------------------------------------------ js nodes

async function jsNode (seedByte) {
  const privateKey = await generateKeyPairFromSeed('Ed25519', new Uint8Array(32).fill(seedByte))
  return createLibp2p({
    privateKey,
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: { identify: identify(), ping: ping(), pubsub: floodsub() }
  })
}

// Reads a stream until the remote half-closes (or it closes): the bytes.
function readAll (stream) {
  return new Promise((resolve, reject) => {
    const parts = []
    let done = false
    const end = (err) => {
      if (done) return
      done = true
      if (err != null) reject(err)
      else resolve(Buffer.concat(parts))
    }
    const ended = () => stream.remoteWriteStatus === 'closed' && stream.readBufferLength === 0
    stream.addEventListener('message', (evt) => {
      parts.push(Buffer.from(evt.data.subarray()))
      if (ended()) end()
    })
    stream.addEventListener('end', () => { if (ended()) end() })
    stream.addEventListener('close', (evt) => end(evt.error))
    if (ended()) end()
  })
}

// One go-header exchange request; the HeaderResponses as {status, body}.
async function exchange (node, peer, proto, req) {
  const conn = node.getConnections(peer)[0]
  const stream = await conn.newStream(proto, { signal: AbortSignal.timeout(10_000) })
  const fields = []
  if (req.origin != null) fields.push(pbField(1, 0, req.origin))
  if (req.amount != null) fields.push(pbField(3, 0, req.amount))
  const msg = Buffer.concat(fields)
  const reader = readAll(stream)
  stream.send(Buffer.concat([uvarint(msg.length), msg]))
  await stream.close()
  const raw = await Promise.race([reader, deadline(10_000, 'exchange: no end of replies')])
  const out = []
  let off = 0
  while (off < raw.length) {
    let n = 0
    let shift = 0
    for (;;) {
      const b = raw[off++]
      n |= (b & 0x7f) << shift
      shift += 7
      if ((b & 0x80) === 0) break
    }
    const r = { status: 0, body: Buffer.alloc(0) }
    for (const f of pbFields(raw.subarray(off, off + n))) {
      if (f.field === 1) r.body = f.value
      else if (f.field === 2) r.status = Number(f.value)
    }
    out.push(r)
    off += n
  }
  return out
}

// ------------------------------------------------------------ tests

describe('gossip and exchange: js-libp2p <-> blockv2', { timeout: 150_000 }, () => {
  let dir, agg, full, jsSub, jsBad
  const ports = {}
  let idAgg

  before(async () => {
    assert.ok(EXE, 'BM_BLOCKV2_EXE names the blockv2 binary')
    dir = mkdtempSync(join(tmpdir(), 'bm-gossip-js-'))
    writeFileSync(join(dir, 'pass'), 'gossip-js-passphrase\n')
    run(['init', '--home', join(dir, 'a'), '--chain-id', CHAIN, '--evnode.node.aggregator', 'true',
      '--evnode.signer.passphrase_file', join(dir, 'pass'), '--evnode.da.namespace', 'gj'])
    run(['init', '--home', join(dir, 'f'), '--genesis', join(dir, 'a/config/genesis.json'),
      '--evnode.da.namespace', 'gj'])
    idAgg = JSON.parse(run(['keys', 'show', '--home', join(dir, 'a')])).node_id
    const common = ['--evnode.da.address', '', '--evnode.node.block_time', '100ms', '--evnode.log.level', 'info']
    // A port from freePort can be taken by another process (an outgoing
    // connection's ephemeral port, tests run in parallel) before the node
    // binds it: the node then exits 1 saying "Address already in use".
    // Such a start is tried again on fresh ports; any other early exit,
    // or a node that does not get going, fails with the nodes' logs.
    for (let attempt = 1; ; attempt++) {
      for (const k of ['aRpc', 'aP2p', 'fRpc', 'fP2p', 'fMetrics']) ports[k] = await freePort()
      agg = new Node('aggregator', join(dir, 'a'))
      agg.start([...common, '--evnode.signer.passphrase_file', join(dir, 'pass'),
        '--evnode.rpc.address', `127.0.0.1:${ports.aRpc}`,
        '--evnode.p2p.listen_address', `/ip4/127.0.0.1/tcp/${ports.aP2p}`])
      full = new Node('full', join(dir, 'f'))
      full.start([...common, '--evnode.rpc.address', `127.0.0.1:${ports.fRpc}`,
        '--evnode.p2p.listen_address', `/ip4/127.0.0.1/tcp/${ports.fP2p}`,
        '--evnode.p2p.peers', `/ip4/127.0.0.1/tcp/${ports.aP2p}/p2p/${idAgg}`,
        '--evnode.instrumentation.prometheus', 'true',
        '--evnode.instrumentation.prometheus_listen_addr', `127.0.0.1:${ports.fMetrics}`])
      const exited = () => gone(agg) || gone(full)
      await withLogs([agg, full], () => until('the aggregator makes blocks',
        async () => exited() || (await height(ports.aRpc)) >= 5))
      await withLogs([agg, full], () => until('the full node follows',
        async () => exited() || (await height(ports.fRpc)) >= 5))
      if (!exited()) break
      await Promise.all([agg.stop(), full.stop()])
      if (attempt >= 3 || !(bindRace(agg) || bindRace(full))) {
        throw new Error(`a node exited at start\n${logTail(agg)}\n${logTail(full)}`)
      }
    }
    ;[jsSub, jsBad] = await Promise.all([jsNode(11), jsNode(12)])
  })

  after(async () => {
    await Promise.all([jsSub?.stop(), jsBad?.stop()])
    const codes = await Promise.all([agg?.stop(), full?.stop()])
    if (dir) rmSync(dir, { recursive: true, force: true })
    for (const [i, r] of codes.entries()) {
      if (r != null) assert.equal(r.code, 0, `${['aggregator', 'full node'][i]} exits 0 on SIGTERM (${JSON.stringify(r)})`)
    }
  })

  test('a js subscriber gets signed headers and data equal to GetBlock', async (t) => {
    const got = { header: new Map(), data: new Map() }
    jsSub.services.pubsub.addEventListener('message', (evt) => {
      const m = evt.detail
      const kind = m.topic === HEADER_TOPIC ? 'header' : m.topic === DATA_TOPIC ? 'data' : null
      if (kind == null) return
      const dec = kind === 'header' ? decodeP2PHeader(Buffer.from(m.data)) : decodeP2PData(Buffer.from(m.data))
      const h = kind === 'header' ? dec.sh.header.height : dec.d.metadata?.height
      got[kind].set(h, { m, dec })
    })
    jsSub.services.pubsub.subscribe(HEADER_TOPIC)
    jsSub.services.pubsub.subscribe(DATA_TOPIC)
    await jsSub.dial(multiaddr(`/ip4/127.0.0.1/tcp/${ports.aP2p}/p2p/${idAgg}`))
    await until('five blocks received on both topics', () =>
      [...got.header.keys()].filter(h => got.data.has(h)).length >= 5)
    const heights = [...got.header.keys()].filter(h => got.data.has(h)).slice(0, 5)
    for (const h of heights) {
      const { m: hm, dec: hd } = got.header.get(h)
      const { m: dm, dec: dd } = got.data.get(h)
      for (const m of [hm, dm]) {
        assert.equal(m.type, 'signed', 'StrictSign')
        assert.equal(m.from.toString(), idAgg, 'signed by the aggregator\'s peer ID')
      }
      assert.equal(hd.hint, 0n, 'da_height_hint present (0: not on DA)')
      assert.equal(dd.hint, 0n)
      const b = await block(ports.aRpc, h)
      assert.deepEqual(hd.sh, b.header, `header ${h} equals GetBlock`)
      assert.deepEqual(dd.d, b.data, `data ${h} equals GetBlock`)
    }
    t.diagnostic(`heights ${heights.join(', ')} checked`)
  })

  test('a js exchange client: a range, the head, NOT_FOUND', async () => {
    const peer = jsSub.getConnections().find(c => c.remotePeer.toString() === idAgg).remotePeer
    const range = await exchange(jsSub, peer, HEADER_EX, { origin: 2, amount: 5 })
    assert.equal(range.length, 5)
    for (const [i, r] of range.entries()) {
      assert.equal(r.status, 1, 'OK')
      const { sh } = decodeP2PHeader(r.body)
      assert.deepEqual(sh, (await block(ports.aRpc, 2 + i)).header, `range item ${2 + i}`)
    }
    const data = await exchange(jsSub, peer, DATA_EX, { origin: 3, amount: 2 })
    assert.equal(data.length, 2)
    assert.deepEqual(decodeP2PData(data[1].body).d, (await block(ports.aRpc, 4)).data)
    const tip = await height(ports.aRpc)
    const head = await exchange(jsSub, peer, HEADER_EX, { origin: 0, amount: 1 })
    assert.equal(head.length, 1)
    assert.equal(head[0].status, 1)
    const hh = Number(decodeP2PHeader(head[0].body).sh.header.height)
    assert.ok(hh >= tip, `head ${hh} >= the height ${tip} read before`)
    const none = await exchange(jsSub, peer, HEADER_EX, { origin: hh + 100_000, amount: 1 })
    assert.equal(none.length, 1, 'one reply')
    assert.equal(none[0].status, 2, 'NOT_FOUND')
    assert.equal(none[0].body.length, 0, 'no body')
  })

  test('headers signed by another key: rejected, nothing applied, publisher disconnected', async (t) => {
    const fullId = JSON.parse(run(['keys', 'show', '--home', join(dir, 'f')])).node_id
    const pubsub = jsBad.services.pubsub
    pubsub.subscribe(HEADER_TOPIC)
    const disconnected = new Promise(resolve => jsBad.addEventListener('peer:disconnect', (evt) => {
      if (evt.detail.toString() === fullId) resolve()
    }))
    await jsBad.dial(multiaddr(`/ip4/127.0.0.1/tcp/${ports.fP2p}/p2p/${fullId}`))
    await until('the full node subscribed', () => pubsub.getSubscribers(HEADER_TOPIC).some(p => p.toString() === fullId))
    // A header for the next height, proposed and signed by our own key:
    // ValidateBasic holds, the expected proposer does not.
    const key = await generateKeyPairFromSeed('Ed25519', new Uint8Array(32).fill(99))
    const pubPb = publicKeyToProtobuf(key.publicKey)
    const address = createHash('sha256').update(key.publicKey.raw).digest()
    const tip = await height(ports.fRpc)
    const prev = await block(ports.fRpc, tip)
    let sent = 0
    for (let i = 0; i < 14; i++) {
      const header = Buffer.concat([
        pbField(1, 2, pbField(1, 0, 11n)),
        pbField(2, 0, BigInt(tip + 1)),
        pbField(3, 0, BigInt(Date.now()) * 1_000_000n + BigInt(i)),
        pbField(4, 2, Buffer.from(prev.header.header.lastHeaderHash ?? '', 'base64')),
        pbField(10, 2, address),
        pbField(12, 2, Buffer.from(CHAIN))
      ])
      const sig = await key.sign(header)
      const msg = Buffer.concat([pbField(1, 2, header), pbField(2, 2, sig),
        pbField(3, 2, Buffer.concat([pbField(1, 2, address), pbField(2, 2, pubPb)])), pbField(4, 0, 0n)])
      try {
        await pubsub.publish(HEADER_TOPIC, msg)
        sent++
      } catch (err) {
        break // disconnected: no subscriber left
      }
      await sleep(20)
    }
    await Promise.race([disconnected, deadline(10_000, 'the publisher was not disconnected')])
    const rejected = await metric(ports.fMetrics, /^blockv2_p2p_gossip_rejected_total\{chain_id="[^"]*",topic="header",reason="proposer"\} (\d+)$/m)
    const dropped = await metric(ports.fMetrics, /^blockv2_p2p_floodsub_peers_disconnected_total\{chain_id="[^"]*"\} (\d+)$/m)
    t.diagnostic(`${sent} published, ${rejected} rejected (proposer), ${dropped} peer(s) disconnected`)
    assert.ok(rejected >= 10, 'every forged header rejected with its reason')
    assert.ok(dropped >= 1, 'the publisher was disconnected')
    // Nothing applied: the full node still has the aggregator's blocks.
    await until('the full node moves on', async () => (await height(ports.fRpc)) >= tip + 3)
    for (const h of [tip, tip + 1, tip + 2]) {
      assert.deepEqual(await block(ports.fRpc, h), await block(ports.aRpc, h), `block ${h} is the aggregator's`)
    }
  })
})
