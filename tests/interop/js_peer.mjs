// js_peer.mjs: the interop control protocol (docs: tests/interop/README.md)
// on js-libp2p: tcp, noise, yamux, identify, ping, and the two test
// protocols /blockv2/test/echo/1.0.0 and /blockv2/test/sink/1.0.0.
//
//   node --import ./polyfill.mjs js_peer.mjs --key-seed <64 hex> \
//        --listen /ip4/127.0.0.1/tcp/0 [--listen ...]
//
// stdout carries only JSON lines (ready, replies, events); logs go to stderr.
// stdin carries one JSON command per line; EOF means quit.
import { createInterface } from 'node:readline'
import { createLibp2p } from 'libp2p'
import { tcp } from '@libp2p/tcp'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import { ping } from '@libp2p/ping'
import { generateKeyPairFromSeed, publicKeyToProtobuf } from '@libp2p/crypto/keys'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { CHUNK, patternAt, patternMismatch } from './lib/pattern.mjs'

export const ECHO = '/blockv2/test/echo/1.0.0'
export const SINK = '/blockv2/test/sink/1.0.0'
const STREAM_LIMIT = 4096
const DIAL_TIMEOUT_MS = 15_000

function log (...args) {
  process.stderr.write(`js_peer[${process.pid}]: ${args.join(' ')}\n`)
}

function emit (obj) {
  process.stdout.write(JSON.stringify(obj) + '\n')
}

function parseArgs (argv) {
  const out = { seed: null, listen: [] }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    const v = argv[i + 1]
    if (a === '--key-seed' && v != null) { out.seed = v; i++ } else if (a === '--listen' && v != null) { out.listen.push(v); i++ } else {
      throw new Error(`unknown or incomplete argument: ${a}`)
    }
  }
  if (out.seed == null || !/^[0-9a-fA-F]{64}$/.test(out.seed)) {
    throw new Error('--key-seed needs 64 hex characters')
  }
  if (out.listen.length === 0) out.listen.push('/ip4/127.0.0.1/tcp/0')
  return out
}

// Every error name and message in err, its cause chain and AggregateError
// members: dial errors arrive wrapped.
function describeError (err) {
  const parts = []
  const seen = new Set()
  const walk = (e, depth) => {
    if (e == null || depth > 6 || seen.has(e)) return
    seen.add(e)
    parts.push(`${e.name ?? 'Error'}: ${e.message ?? String(e)}`)
    if (Array.isArray(e.errors)) for (const x of e.errors) walk(x, depth + 1)
    walk(e.cause, depth + 1)
  }
  walk(err, 0)
  return parts.join('; ')
}

function hasErrorNamed (err, name, depth = 0) {
  if (err == null || depth > 6) return false
  if (err.name === name) return true
  if (Array.isArray(err.errors) && err.errors.some(e => hasErrorNamed(e, name, depth + 1))) return true
  return hasErrorNamed(err.cause, name, depth + 1)
}

// Writes len bytes of the pattern to stream, honouring backpressure.
async function writePattern (stream, len) {
  let off = 0
  while (off < len) {
    const n = Math.min(CHUNK, len - off)
    if (!stream.send(patternAt(off, n))) await stream.onDrain()
    off += n
  }
}

// Delivers every chunk the remote sends to onData and resolves once the
// remote has half-closed and all its data was delivered; rejects if the
// stream is reset or aborted. Not `for await (const b of stream)`: that
// iterator ends only on a 'remoteCloseWrite' event, which has already fired
// when the remote's FIN came with its first bytes, before the handler ran
// (lazy multistream negotiation, as Go and blockv2 open streams), and then
// it never ends. Nor 'end' alone: js-libp2p emits it at that FIN even
// though multistream-select then pushes the bytes it read ahead back into
// the read buffer. So: done when the remote closed, 'end' has passed and the
// read buffer is empty.
function consume (stream, onData) {
  return new Promise((resolve, reject) => {
    let settled = false
    const finish = (err) => {
      if (settled) return
      settled = true
      stream.removeEventListener('message', onMessage)
      stream.removeEventListener('end', check)
      stream.removeEventListener('close', onClose)
      if (err != null) reject(err)
      else resolve()
    }
    const check = () => {
      if (stream.readableEnded && stream.readBufferLength === 0 && stream.remoteWriteStatus === 'closed') finish()
    }
    const onMessage = (evt) => {
      try {
        onData(evt.data.subarray())
      } catch (err) {
        finish(err)
        return
      }
      check()
    }
    const onClose = (evt) => {
      if (evt.error != null) finish(evt.error)
      else if (stream.readBufferLength === 0) finish()
      else finish(new Error(`stream closed with ${stream.readBufferLength} bytes unread`))
    }
    stream.addEventListener('message', onMessage)
    stream.addEventListener('end', check)
    stream.addEventListener('close', onClose)
    check()
  })
}

async function echoHandler (stream) {
  try {
    // Backpressure: stop reading while the echo waits for the remote's
    // window, so the remote's sends stall on ours instead of piling up here.
    await consume(stream, (buf) => {
      if (!stream.send(buf) && stream.readStatus === 'readable') {
        stream.pause()
        stream.onDrain().then(() => { if (stream.readStatus === 'paused') stream.resume() }, () => {})
      }
    })
    await stream.close()
  } catch (err) {
    log('echo stream failed:', describeError(err))
    stream.abort(err)
  }
}

async function sinkHandler (stream) {
  try {
    let count = 0n
    await consume(stream, (buf) => { count += BigInt(buf.byteLength) })
    const reply = new Uint8Array(8)
    new DataView(reply.buffer).setBigUint64(0, count, false)
    stream.send(reply)
    await stream.close()
  } catch (err) {
    log('sink stream failed:', describeError(err))
    stream.abort(err)
  }
}

const stats = {
  connections_inbound: 0,
  connections_outbound: 0,
  disconnects: 0,
  dials_ok: 0,
  dials_failed: 0,
  handshakes_ok: 0,
  handshakes_failed: 0,
  echo_streams: 0,
  sink_streams: 0,
  bytes_sent: 0,
  bytes_received: 0
}

async function main () {
  const args = parseArgs(process.argv.slice(2))
  const privateKey = await generateKeyPairFromSeed('Ed25519', Buffer.from(args.seed, 'hex'))
  const node = await createLibp2p({
    privateKey,
    addresses: { listen: args.listen },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionManager: {
      // Loopback dialers are not rate-limited (the handshake benchmark dials
      // in a tight loop), and the bench's handshakes may overlap closes.
      allow: ['/ip4/127.0.0.0/ipcidr/8', '/ip6/::1/ipcidr/128'],
      maxConnections: 1000,
      dialTimeout: DIAL_TIMEOUT_MS
    },
    services: {
      identify: identify({ agentVersion: 'blockv2-interop-js/0.1.0' }),
      ping: ping()
    }
  })

  const opts = { maxInboundStreams: STREAM_LIMIT, maxOutboundStreams: STREAM_LIMIT }
  await node.handle(ECHO, (stream) => { stats.echo_streams++; echoHandler(stream) }, opts)
  await node.handle(SINK, (stream) => { stats.sink_streams++; sinkHandler(stream) }, opts)

  node.addEventListener('connection:open', (evt) => {
    const c = evt.detail
    if (c.direction === 'inbound') stats.connections_inbound++
    else stats.connections_outbound++
    emit({ event: 'connected', peer: c.remotePeer.toString(), direction: c.direction })
  })
  node.addEventListener('connection:close', (evt) => {
    stats.disconnects++
    emit({ event: 'disconnected', peer: evt.detail.remotePeer.toString(), reason: evt.detail.status ?? 'closed' })
  })

  const connectionTo = (peer) => {
    const id = peerIdFromString(peer)
    const open = node.getConnections(id).filter(c => c.status === 'open')
    if (open.length === 0) throw new Error(`not connected to ${peer}`)
    return open[0]
  }

  const commands = {
    async dial (cmd) {
      const ma = multiaddr(cmd.addr)
      try {
        const conn = await node.dial(ma, { signal: AbortSignal.timeout(DIAL_TIMEOUT_MS) })
        stats.dials_ok++
        return { peer_id: conn.remotePeer.toString() }
      } catch (err) {
        stats.dials_failed++
        // js-libp2p's upgrader rewraps noise's UnexpectedPeerError as an
        // EncryptionFailedError that keeps only the message.
        if (hasErrorNamed(err, 'UnexpectedPeerError') || /does not match expected remote identity key/.test(describeError(err))) {
          throw new Error(`peer id mismatch: the remote did not prove ${ma.getComponents().find(c => c.name === 'p2p')?.value} (${describeError(err)})`)
        }
        throw new Error(`dial failed: ${describeError(err)}`)
      }
    },

    async ping (cmd) {
      const conn = connectionTo(cmd.peer)
      const count = cmd.count ?? 1
      const rtt = []
      for (let i = 0; i < count; i++) {
        rtt.push(await node.services.ping.ping(conn.remotePeer, { signal: AbortSignal.timeout(10_000) }))
      }
      return { rtt_ms: rtt }
    },

    async identify (cmd) {
      const conn = connectionTo(cmd.peer)
      // _identify returns the merged message as received, before the peer
      // store digests it; the automatic identify on connect fills the store.
      const m = await node.services.identify._identify(conn, { signal: AbortSignal.timeout(10_000) })
      const ma = (b) => { try { return multiaddr(b).toString() } catch { return `invalid:${Buffer.from(b).toString('hex')}` } }
      return {
        protocols: m.protocols ?? [],
        agent_version: m.agentVersion ?? '',
        protocol_version: m.protocolVersion ?? '',
        listen_addrs: (m.listenAddrs ?? []).map(ma),
        observed_addr: m.observedAddr != null ? ma(m.observedAddr) : '',
        public_key_hex: m.publicKey != null ? Buffer.from(m.publicKey).toString('hex') : ''
      }
    },

    // js only: what js's peer store learnt of the peer (identify on connect).
    async peerstore (cmd) {
      const p = await node.peerStore.get(peerIdFromString(cmd.peer))
      return {
        protocols: p.protocols,
        addrs: p.addresses.map(a => a.multiaddr.toString()),
        public_key_hex: p.id.publicKey != null ? Buffer.from(publicKeyToProtobuf(p.id.publicKey)).toString('hex') : ''
      }
    },

    async echo (cmd) {
      const conn = connectionTo(cmd.peer)
      const bytes = cmd.bytes ?? 0
      const streams = cmd.streams ?? 1
      const t0 = performance.now()
      for (let s = 0; s < streams; s++) {
        const stream = await conn.newStream(ECHO, { signal: AbortSignal.timeout(10_000) })
        try {
          let got = 0
          const reader = consume(stream, (buf) => {
            const bad = patternMismatch(got, buf)
            if (bad >= 0) throw new Error(`stream ${s}: echo differs at byte ${got + bad}`)
            got += buf.length
            if (got > bytes) throw new Error(`stream ${s}: echo longer than ${bytes} bytes`)
          })
          await writePattern(stream, bytes)
          await stream.close()
          await reader
          if (got !== bytes) throw new Error(`stream ${s}: echo ended after ${got} of ${bytes} bytes`)
          stats.bytes_sent += bytes
          stats.bytes_received += got
        } catch (err) {
          stream.abort(err)
          throw err
        }
      }
      return { elapsed_ms: performance.now() - t0 }
    },

    async send (cmd) {
      const conn = connectionTo(cmd.peer)
      const bytes = cmd.bytes ?? 0
      const t0 = performance.now()
      const stream = await conn.newStream(SINK, { signal: AbortSignal.timeout(10_000) })
      try {
        const parts = []
        const reader = consume(stream, (buf) => { parts.push(Buffer.from(buf)) })
        await writePattern(stream, bytes)
        await stream.close()
        await reader
        const reply = Buffer.concat(parts)
        if (reply.length !== 8) throw new Error(`sink replied ${reply.length} bytes, not 8`)
        const count = reply.readBigUInt64BE(0)
        if (count !== BigInt(bytes)) throw new Error(`sink counted ${count} bytes, sent ${bytes}`)
        stats.bytes_sent += bytes
      } catch (err) {
        stream.abort(err)
        throw err
      }
      const elapsed = performance.now() - t0
      return { elapsed_ms: elapsed, mb_s: bytes / 1e6 / (elapsed / 1000) }
    },

    async handshakes (cmd) {
      const ma = multiaddr(cmd.addr)
      const count = cmd.count ?? 1
      const t0 = performance.now()
      for (let i = 0; i < count; i++) {
        let conn
        try {
          conn = await node.dial(ma, { force: true, signal: AbortSignal.timeout(DIAL_TIMEOUT_MS) })
        } catch (err) {
          stats.handshakes_failed++
          throw new Error(`handshake ${i} failed: ${describeError(err)}`)
        }
        stats.handshakes_ok++
        // Tear down at once: the automatic identify streams are cut short,
        // as they would be for any connection closed right after its upgrade.
        conn.abort(new Error('handshake benchmark: done'))
      }
      const elapsed = performance.now() - t0
      return { elapsed_ms: elapsed, per_s: count / (elapsed / 1000) }
    },

    async peers () {
      return { peers: [...new Set(node.getConnections().map(c => c.remotePeer.toString()))] }
    },

    async disconnect (cmd) {
      await node.hangUp(peerIdFromString(cmd.peer))
      return {}
    },

    async stats () {
      return { ...stats, connections_open: node.getConnections().length }
    }
  }

  let quitting = false
  const quit = async (code) => {
    if (quitting) return
    quitting = true
    try {
      await Promise.race([node.stop(), new Promise(resolve => setTimeout(resolve, 3000))])
    } finally {
      process.exit(code)
    }
  }

  const run = async (line) => {
    let cmd
    try {
      cmd = JSON.parse(line)
    } catch {
      emit({ id: null, ok: false, error: `not JSON: ${line.slice(0, 80)}` })
      return
    }
    if (cmd.cmd === 'quit') {
      emit({ id: cmd.id, ok: true })
      await quit(0)
      return
    }
    const fn = Object.hasOwn(commands, cmd.cmd) ? commands[cmd.cmd] : null
    if (fn == null) {
      emit({ id: cmd.id, ok: false, error: `unknown command: ${cmd.cmd}` })
      return
    }
    try {
      emit({ id: cmd.id, ok: true, ...(await fn(cmd)) })
    } catch (err) {
      emit({ id: cmd.id, ok: false, error: err.message ?? String(err) })
    }
  }

  const rl = createInterface({ input: process.stdin, crlfDelay: Infinity })
  rl.on('line', (line) => { if (line.trim() !== '') run(line) })
  rl.on('close', () => { quit(0) })

  emit({
    event: 'ready',
    peer_id: node.peerId.toString(),
    addrs: node.getMultiaddrs().map(a => a.toString())
  })
}

main().catch((err) => {
  log('fatal:', describeError(err))
  process.exit(1)
})
