// Hand-written libp2p wire pieces for the scripted "Go emulator" (spec
// §12.3): raw node:net sockets, multistream-select lines, the libp2p Noise
// payload and identify protobufs, yamux frames and a small yamux session
// that behaves the way go-yamux and go-libp2p do. Noise's XX state machine is
// XXHandshakeState from @chainsafe/libp2p-noise's dist (independent of
// blockv2's C Noise); everything around it is written here.
import net from 'node:net'
import { EventEmitter } from 'node:events'
import { generateKeyPairFromSeed, publicKeyFromProtobuf, publicKeyToProtobuf } from '@libp2p/crypto/keys'
import { peerIdFromPublicKey } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { Uint8ArrayList } from 'uint8arraylist'
import { defaultCrypto } from '@chainsafe/libp2p-noise/crypto'

// The package's exports map hides dist/src/protocol.js; a file URL reaches it.
const noiseBase = import.meta.resolve('@chainsafe/libp2p-noise')
const { XXHandshakeState, ZEROLEN } = await import(new URL('./protocol.js', noiseBase))
const { wrapCrypto } = await import(new URL('./crypto.js', noiseBase))
const noiseCrypto = wrapCrypto(defaultCrypto)

export const MS_HEADER = '/multistream/1.0.0'
export const YAMUX = '/yamux/1.0.0'
export const ID_PROTO = '/ipfs/id/1.0.0'
export const PING_PROTO = '/ipfs/ping/1.0.0'
export const NOISE_PROTO = '/noise'
const NOISE_NAME = 'Noise_XX_25519_ChaChaPoly_SHA256'
const SIG_PREFIX = Buffer.from('noise-libp2p-static-key:')
const NOISE_MAX_PLAINTEXT = 65519

// ---------------------------------------------------------------- bytes

export function uvarint (n) {
  const out = []
  let v = BigInt(n)
  do {
    let b = Number(v & 0x7fn)
    v >>= 7n
    if (v > 0n) b |= 0x80
    out.push(b)
  } while (v > 0n)
  return Buffer.from(out)
}

// Decodes a minimal uvarint at buf[off]; returns [value, bytes] or null when
// buf ends first. Throws on a varint over 9 bytes.
export function readUvarint (buf, off = 0) {
  let v = 0n
  for (let i = 0; i < 9; i++) {
    if (off + i >= buf.length) return null
    const b = buf[off + i]
    v |= BigInt(b & 0x7f) << BigInt(7 * i)
    if ((b & 0x80) === 0) return [Number(v), i + 1]
  }
  throw new Error('uvarint longer than 9 bytes')
}

// Bytes arriving from a socket (or a decrypted stream), read by exact
// counts with a deadline.
export class ByteQueue {
  constructor () {
    this.buf = Buffer.alloc(0)
    this.ended = false
    this.error = null
    this.waiters = []
  }

  push (b) {
    if (b.length === 0) return
    this.buf = this.buf.length === 0 ? Buffer.from(b) : Buffer.concat([this.buf, b])
    this.wake()
  }

  end (err = null) {
    this.ended = true
    this.error = err
    this.wake()
  }

  wake () {
    const w = this.waiters
    this.waiters = []
    for (const f of w) f()
  }

  get length () { return this.buf.length }

  take (n) {
    const out = this.buf.subarray(0, n)
    this.buf = this.buf.subarray(n)
    return Buffer.from(out)
  }

  takeAll () { return this.take(this.buf.length) }

  // Resolves once at least n bytes are queued; rejects on timeout or when
  // the queue ends first (the error says how many bytes were there).
  async waitBytes (n, timeoutMs = 5000, what = 'bytes') {
    const deadline = Date.now() + timeoutMs
    while (this.buf.length < n) {
      if (this.ended) {
        throw new Error(`${what}: stream ended after ${this.buf.length} of ${n} bytes${this.error ? ` (${this.error.message})` : ''}`)
      }
      const left = deadline - Date.now()
      if (left <= 0) throw new Error(`${what}: timed out after ${timeoutMs} ms with ${this.buf.length} of ${n} bytes`)
      await this.sleep(left)
    }
  }

  sleep (ms) {
    return new Promise((resolve) => {
      const t = setTimeout(resolve, ms)
      this.waiters.push(() => { clearTimeout(t); resolve() })
    })
  }

  // Resolves with exactly n bytes.
  async read (n, timeoutMs = 5000, what = 'bytes') {
    await this.waitBytes(n, timeoutMs, what)
    return this.take(n)
  }

  // Resolves when the queue has ended (remote closed), or rejects on timeout.
  async waitEnd (timeoutMs) {
    const deadline = Date.now() + timeoutMs
    while (!this.ended) {
      const left = deadline - Date.now()
      if (left <= 0) throw new Error(`still open after ${timeoutMs} ms`)
      await this.sleep(left)
    }
  }

  async readUvarint (timeoutMs, what) {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const r = readUvarint(this.buf)
      if (r != null) { this.take(r[1]); return r[0] }
      await this.waitBytes(this.buf.length + 1, Math.max(1, deadline - Date.now()), what)
    }
  }
}

// ---------------------------------------------------------- multistream

export function msLine (token) {
  const body = Buffer.from(token + '\n')
  return Buffer.concat([uvarint(body.length), body])
}

export async function readMsLine (q, timeoutMs = 5000) {
  const n = await q.readUvarint(timeoutMs, 'multistream length')
  if (n > 1024) throw new Error(`multistream line of ${n} bytes`)
  const body = await q.read(n, timeoutMs, 'multistream line')
  if (body[n - 1] !== 0x0a) throw new Error(`multistream line without newline: ${body.toString('hex')}`)
  return body.subarray(0, n - 1).toString()
}

// ------------------------------------------------------------ protobuf

// Minimal proto2 decoder: returns [{field, wire, value}], value a Buffer for
// wire type 2 and a Number for wire type 0. Rejects the other wire types.
export function pbDecode (buf) {
  const out = []
  let off = 0
  while (off < buf.length) {
    const t = readUvarint(buf, off)
    if (t == null) throw new Error('truncated protobuf tag')
    off += t[1]
    const field = Math.floor(t[0] / 8)
    const wire = t[0] & 7
    if (wire === 0) {
      const v = readUvarint(buf, off)
      if (v == null) throw new Error('truncated protobuf varint')
      off += v[1]
      out.push({ field, wire, value: v[0] })
    } else if (wire === 2) {
      const l = readUvarint(buf, off)
      if (l == null) throw new Error('truncated protobuf length')
      off += l[1]
      if (off + l[0] > buf.length) throw new Error(`protobuf field ${field} overruns the message`)
      out.push({ field, wire, value: buf.subarray(off, off + l[0]) })
      off += l[0]
    } else {
      throw new Error(`protobuf wire type ${wire} in field ${field}`)
    }
  }
  return out
}

export function pbBytes (field, b) {
  b = Buffer.from(b)
  return Buffer.concat([uvarint(field * 8 + 2), uvarint(b.length), b])
}

// NoiseHandshakePayload{identity_key=1, identity_sig=2, extensions=4
// {stream_muxers=2}}; muxers null leaves extensions out.
export function encodeNoisePayload (identityKey, sig, muxers) {
  const parts = [pbBytes(1, identityKey), pbBytes(2, sig)]
  if (muxers != null) parts.push(pbBytes(4, Buffer.concat(muxers.map(m => pbBytes(2, Buffer.from(m))))))
  return Buffer.concat(parts)
}

export function decodeNoisePayload (buf) {
  const r = { identityKey: null, identitySig: null, muxers: null }
  for (const f of pbDecode(buf)) {
    if (f.field === 1 && f.wire === 2) r.identityKey = f.value
    else if (f.field === 2 && f.wire === 2) r.identitySig = f.value
    else if (f.field === 4 && f.wire === 2) {
      r.muxers = r.muxers ?? []
      for (const e of pbDecode(f.value)) if (e.field === 2 && e.wire === 2) r.muxers.push(e.value.toString())
    }
  }
  return r
}

// Identify, fields in ascending order (the way Go writes them).
export function encodeIdentify (m) {
  const parts = []
  if (m.publicKey) parts.push(pbBytes(1, m.publicKey))
  for (const a of m.listenAddrs ?? []) parts.push(pbBytes(2, a))
  for (const p of m.protocols ?? []) parts.push(pbBytes(3, Buffer.from(p)))
  if (m.observedAddr) parts.push(pbBytes(4, m.observedAddr))
  if (m.protocolVersion != null) parts.push(pbBytes(5, Buffer.from(m.protocolVersion)))
  if (m.agentVersion != null) parts.push(pbBytes(6, Buffer.from(m.agentVersion)))
  return Buffer.concat(parts)
}

export function decodeIdentify (buf) {
  const m = { publicKey: null, listenAddrs: [], protocols: [], observedAddr: null, protocolVersion: null, agentVersion: null, signedPeerRecord: null }
  for (const f of pbDecode(buf)) {
    if (f.wire !== 2) continue
    if (f.field === 1) m.publicKey = Buffer.from(f.value)
    else if (f.field === 2) m.listenAddrs.push(multiaddr(Uint8Array.from(f.value)).toString())
    else if (f.field === 3) m.protocols.push(f.value.toString())
    else if (f.field === 4) m.observedAddr = multiaddr(Uint8Array.from(f.value)).toString()
    else if (f.field === 5) m.protocolVersion = f.value.toString()
    else if (f.field === 6) m.agentVersion = f.value.toString()
    else if (f.field === 8) m.signedPeerRecord = Buffer.from(f.value)
  }
  return m
}

// ------------------------------------------------------------ identity

export async function identityFromSeed (seedByte) {
  const privateKey = await generateKeyPairFromSeed('Ed25519', Buffer.alloc(32, seedByte))
  return {
    privateKey,
    publicKeyPb: Buffer.from(publicKeyToProtobuf(privateKey.publicKey)),
    peerId: peerIdFromPublicKey(privateKey.publicKey).toString()
  }
}

export function peerIdOfKeyPb (pb) {
  return peerIdFromPublicKey(publicKeyFromProtobuf(pb)).toString()
}

// ----------------------------------------------------------------- TCP

// A TCP connection whose incoming bytes land in a ByteQueue.
export class RawConn {
  constructor (sock) {
    this.sock = sock
    this.q = new ByteQueue()
    this.closed = false
    this.closedAt = null
    sock.setNoDelay(true)
    sock.on('data', (b) => this.q.push(b))
    sock.on('error', (err) => { this.q.end(err) })
    sock.on('close', () => { this.closed = true; this.closedAt = Date.now(); this.q.end(this.q.error) })
  }

  static dial (host, port, timeoutMs = 5000) {
    return new Promise((resolve, reject) => {
      const sock = net.connect({ host, port })
      const t = setTimeout(() => { sock.destroy(); reject(new Error(`connect ${host}:${port} timed out`)) }, timeoutMs)
      sock.once('connect', () => { clearTimeout(t); resolve(new RawConn(sock)) })
      sock.once('error', (err) => { clearTimeout(t); reject(err) })
    })
  }

  write (b) { if (!this.sock.destroyed) this.sock.write(b) }

  destroy () { this.sock.destroy() }

  get localAddr () { return `/ip4/${this.sock.localAddress}/tcp/${this.sock.localPort}` }
}

// A listener on 127.0.0.1, port chosen by the kernel; accepted connections
// are queued as RawConns.
export class RawListener {
  constructor () {
    this.server = net.createServer()
    this.accepted = []
    this.waiters = []
    this.server.on('connection', (sock) => {
      const c = new RawConn(sock)
      c.acceptedAt = Date.now()
      this.accepted.push(c)
      const w = this.waiters
      this.waiters = []
      for (const f of w) f()
    })
  }

  listen () {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject)
      this.server.listen(0, '127.0.0.1', () => resolve(this.server.address().port))
    })
  }

  async accept (timeoutMs) {
    const deadline = Date.now() + timeoutMs
    while (this.accepted.length === 0) {
      const left = deadline - Date.now()
      if (left <= 0) throw new Error(`no connection accepted in ${timeoutMs} ms`)
      await new Promise((resolve) => {
        const t = setTimeout(resolve, left)
        this.waiters.push(() => { clearTimeout(t); resolve() })
      })
    }
    return this.accepted.shift()
  }

  close () {
    for (const c of this.accepted) c.destroy()
    this.server.close()
  }
}

// --------------------------------------------------------------- Noise

function be16 (n) { const b = Buffer.alloc(2); b.writeUInt16BE(n); return b }

async function readNoiseMsg (q, timeoutMs, what) {
  const len = (await q.read(2, timeoutMs, `${what} length`)).readUInt16BE(0)
  return q.read(len, timeoutMs, what)
}

async function makePayload (identity, staticPub, muxers) {
  const sig = await identity.privateKey.sign(Buffer.concat([SIG_PREFIX, staticPub]))
  return encodeNoisePayload(identity.publicKeyPb, Buffer.from(sig), muxers)
}

// Checks the remote payload the way go-libp2p does (spec §4.5) and returns
// {peerId, identityKey, muxers}.
async function checkPayload (plain, rs) {
  const p = decodeNoisePayload(Buffer.from(plain.subarray()))
  if (p.identityKey == null || p.identitySig == null) throw new Error('noise payload without identity key or signature')
  const key = publicKeyFromProtobuf(p.identityKey)
  if (!(await key.verify(Buffer.concat([SIG_PREFIX, Buffer.from(rs.subarray())]), p.identitySig))) {
    throw new Error('noise payload signature does not verify')
  }
  return { peerId: peerIdFromPublicKey(key).toString(), identityKey: Buffer.from(p.identityKey), muxers: p.muxers }
}

function newHandshake (initiator) {
  return new XXHandshakeState({
    crypto: noiseCrypto,
    protocolName: NOISE_NAME,
    prologue: ZEROLEN,
    initiator,
    s: noiseCrypto.generateKeypair()
  })
}

// Runs multistream (/noise) and the XX handshake as the dialer, the way Go
// does. opts: offerTls (header ‖ /tls/1.0.0 in one write first), muxers
// (list or null), firstPlaintext (bytes sent in the same TCP write as
// message 3, as Go's yamux does with its first Ping), expectPeerId.
export async function secureOutbound (conn, identity, opts = {}) {
  const t = opts.timeoutMs ?? 5000
  const q = conn.q
  const trace = []
  if (opts.offerTls) {
    conn.write(Buffer.concat([msLine(MS_HEADER), msLine('/tls/1.0.0')]))
    const h = await readMsLine(q, t)
    trace.push(h)
    if (h !== MS_HEADER) throw new Error(`expected the multistream header, got ${JSON.stringify(h)}`)
    const a = await readMsLine(q, t)
    trace.push(a)
    if (a !== 'na') throw new Error(`/tls/1.0.0 answered ${JSON.stringify(a)}, not na`)
    conn.write(msLine(NOISE_PROTO))
  } else {
    conn.write(Buffer.concat([msLine(MS_HEADER), msLine(NOISE_PROTO)]))
    const h = await readMsLine(q, t)
    trace.push(h)
    if (h !== MS_HEADER) throw new Error(`expected the multistream header, got ${JSON.stringify(h)}`)
  }
  const echo = await readMsLine(q, t)
  trace.push(echo)
  if (echo !== NOISE_PROTO) throw new Error(`/noise answered ${JSON.stringify(echo)}`)

  const hs = newHandshake(true)
  const m1 = Buffer.from(hs.writeMessageA(ZEROLEN).subarray())
  conn.write(Buffer.concat([be16(m1.length), m1]))
  const m2 = await readNoiseMsg(q, t, 'noise message 2')
  const p2 = hs.readMessageB(new Uint8ArrayList(m2))
  const remote = await checkPayload(p2, hs.rs)
  if (opts.expectPeerId != null && remote.peerId !== opts.expectPeerId) {
    throw new Error(`remote proved ${remote.peerId}, dialled ${opts.expectPeerId}`)
  }
  const payload = await makePayload(identity, hs.s.publicKey, opts.muxers === undefined ? [YAMUX] : opts.muxers)
  const m3 = Buffer.from(hs.writeMessageC(payload).subarray())
  const [send, recv] = hs.ss.split()
  const sc = new SecureConn(conn, send, recv)
  const first = opts.firstPlaintext != null ? sc.seal(opts.firstPlaintext) : Buffer.alloc(0)
  conn.write(Buffer.concat([be16(m3.length), m3, first]))
  sc.start()
  return { sc, remote, trace }
}

// The listener side: answers na to anything but /noise, then the XX
// handshake as responder.
export async function secureInbound (conn, identity, opts = {}) {
  const t = opts.timeoutMs ?? 5000
  const q = conn.q
  conn.write(msLine(MS_HEADER))
  const h = await readMsLine(q, t)
  if (h !== MS_HEADER) throw new Error(`expected the multistream header, got ${JSON.stringify(h)}`)
  for (let i = 0; ; i++) {
    const p = await readMsLine(q, t)
    if (p === NOISE_PROTO) { conn.write(msLine(NOISE_PROTO)); break }
    if (i > 16) throw new Error('too many proposals')
    conn.write(msLine('na'))
  }
  const hs = newHandshake(false)
  const m1 = await readNoiseMsg(q, t, 'noise message 1')
  hs.readMessageA(new Uint8ArrayList(m1))
  const payload = await makePayload(identity, hs.s.publicKey, opts.muxers === undefined ? [YAMUX] : opts.muxers)
  const m2 = Buffer.from(hs.writeMessageB(payload).subarray())
  conn.write(Buffer.concat([be16(m2.length), m2]))
  const m3 = await readNoiseMsg(q, t, 'noise message 3')
  const p3 = hs.readMessageC(new Uint8ArrayList(m3))
  const remote = await checkPayload(p3, hs.rs)
  const [recv, send] = hs.ss.split()
  const sc = new SecureConn(conn, send, recv)
  sc.start()
  return { sc, remote }
}

// The transport phase: BE16 length ‖ ChaChaPoly frames both ways; the
// plaintext byte stream arrives in this.q.
export class SecureConn {
  constructor (conn, send, recv) {
    this.conn = conn
    this.send = send
    this.recv = recv
    this.q = new ByteQueue()
    this.framesIn = 0
  }

  seal (plain) {
    const parts = []
    for (let off = 0; off < plain.length || (off === 0 && plain.length === 0); off += NOISE_MAX_PLAINTEXT) {
      const ct = Buffer.from(this.send.encryptWithAd(ZEROLEN, plain.subarray(off, off + NOISE_MAX_PLAINTEXT)).subarray())
      parts.push(be16(ct.length), ct)
      if (plain.length === 0) break
    }
    return Buffer.concat(parts)
  }

  write (plain) { this.conn.write(this.seal(plain)) }

  start () {
    const pump = async () => {
      const raw = this.conn.q
      try {
        for (;;) {
          const len = (await raw.read(2, 24 * 3600 * 1000, 'noise frame length')).readUInt16BE(0)
          const ct = await raw.read(len, 24 * 3600 * 1000, 'noise frame')
          const pt = this.recv.decryptWithAd(ZEROLEN, ct)
          this.framesIn++
          this.q.push(Buffer.from(pt.subarray()))
        }
      } catch (err) {
        this.q.end(raw.ended ? null : err)
      }
    }
    pump()
  }

  get closed () { return this.conn.closed }
}

// --------------------------------------------------------------- yamux

export const T_DATA = 0
export const T_WINDOW = 1
export const T_PING = 2
export const T_GOAWAY = 3
export const F_SYN = 1
export const F_ACK = 2
export const F_FIN = 4
export const F_RST = 8
const WINDOW = 256 * 1024

export function yframe (type, flags, id, len, payload = null) {
  const h = Buffer.alloc(12)
  h[0] = 0
  h[1] = type
  h.writeUInt16BE(flags, 2)
  h.writeUInt32BE(id, 4)
  h.writeUInt32BE(len, 8)
  return payload == null ? h : Buffer.concat([h, payload])
}

export function ydata (id, payload, flags = 0) { return yframe(T_DATA, flags, id, payload.length, payload) }

const TYPE_NAMES = ['Data', 'WindowUpdate', 'Ping', 'GoAway']
export function describeFrame (f) {
  const fl = []
  if (f.flags & F_SYN) fl.push('SYN')
  if (f.flags & F_ACK) fl.push('ACK')
  if (f.flags & F_FIN) fl.push('FIN')
  if (f.flags & F_RST) fl.push('RST')
  return `${TYPE_NAMES[f.type] ?? `type${f.type}`}(${fl.join('|') || '-'}) id=${f.id} len=${f.len}`
}

class YStream {
  constructor (session, id) {
    this.session = session
    this.id = id
    this.q = new ByteQueue()
    this.acked = false
    this.synSeen = false
    this.finIn = false
    this.rstIn = null
    this.sendWindow = WINDOW
    this.unacked = 0
  }

  write (b, flags = 0) { this.session.sc.write(ydata(this.id, b, flags)) }
  fin () { this.session.sc.write(yframe(T_WINDOW, F_FIN, this.id, 0)) }
  reset (code = 0) { this.session.sc.write(yframe(T_WINDOW, F_RST, this.id, code)) }
}

// A yamux session on a SecureConn, acting the way go-yamux and go-libp2p do:
// Ping SYNs answered at once, inbound streams ACKed and served by
// multistream (identify and ping; na to anything else, or to what
// opts.refuse lists), window updates sent as data is read. Every frame
// received is logged with its arrival time.
export class YamuxSession extends EventEmitter {
  constructor (sc, opts) {
    super()
    this.sc = sc
    this.client = opts.client
    this.nextId = opts.client ? 1 : 2
    this.streams = new Map()
    this.frames = []
    this.goAway = null
    this.protocolError = null
    this.answerPings = opts.answerPings ?? true
    this.serve = opts.serve ?? {}
    this.served = []
    this.on('error', () => {})
  }

  start () {
    this.loop().catch((err) => { this.protocolError = err; this.emit('error', err) })
    return this
  }

  async loop () {
    const q = this.sc.q
    for (;;) {
      let h
      try {
        h = await q.read(12, 24 * 3600 * 1000, 'yamux header')
      } catch (err) {
        this.emit('end')
        return
      }
      const f = { t: Date.now(), version: h[0], type: h[1], flags: h.readUInt16BE(2), id: h.readUInt32BE(4), len: h.readUInt32BE(8) }
      if (f.version !== 0 || f.type > 3) {
        this.frames.push(f)
        throw new Error(`bad yamux header ${h.toString('hex')}`)
      }
      if (f.type === T_DATA) f.payload = await q.read(f.len, 30_000, 'yamux data')
      this.frames.push(f)
      this.emit('frame', f)
      this.handle(f)
    }
  }

  handle (f) {
    if (f.type === T_PING) {
      if ((f.flags & F_SYN) && this.answerPings) this.sc.write(yframe(T_PING, F_ACK, 0, f.len))
      return
    }
    if (f.type === T_GOAWAY) { this.goAway = f.len; return }
    let s = this.streams.get(f.id)
    if (f.flags & F_SYN) {
      if (s == null) {
        s = new YStream(this, f.id)
        s.synSeen = true
        this.streams.set(f.id, s)
        this.sc.write(yframe(T_WINDOW, F_ACK, f.id, 0))
        s.acked = true
        this.serveInbound(s)
      }
    }
    if (s == null) return
    if (f.flags & F_ACK) s.acked = true
    if (f.type === T_WINDOW && !(f.flags & F_RST)) s.sendWindow += f.len
    if (f.type === T_DATA && f.len > 0) {
      s.q.push(f.payload)
      s.unacked += f.len
      if (s.unacked >= WINDOW / 2) {
        this.sc.write(yframe(T_WINDOW, 0, f.id, s.unacked))
        s.unacked = 0
      }
    }
    if (f.flags & F_FIN) { s.finIn = true; s.q.end() }
    if (f.flags & F_RST) { s.rstIn = f.len; s.q.end(new Error(`stream ${f.id} reset, code ${f.len}`)) }
  }

  // Go's multistream responder on an inbound stream: header at once, then
  // echo a supported protocol or answer na.
  async serveInbound (s) {
    try {
      s.write(msLine(MS_HEADER))
      const h = await readMsLine(s.q, 10_000)
      if (h !== MS_HEADER) throw new Error(`stream ${s.id}: header ${JSON.stringify(h)}`)
      for (;;) {
        const p = await readMsLine(s.q, 10_000)
        const handler = this.serve[p]
        this.served.push({ id: s.id, protocol: p, answered: handler != null ? 'echo' : 'na' })
        this.emit('proposal', { id: s.id, protocol: p })
        if (handler == null) { s.write(msLine('na')); continue }
        s.write(msLine(p))
        await handler(s)
        return
      }
    } catch (err) {
      this.emit('stream-error', { id: s.id, err })
    }
  }

  // Opens a stream the way Go does: WindowUpdate SYN, len 0, then Data.
  // With sendSyn false the caller writes the SYN itself (to put it in one
  // TCP write with what follows).
  open ({ sendSyn = true } = {}) {
    const id = this.nextId
    this.nextId += 2
    const s = new YStream(this, id)
    this.streams.set(id, s)
    if (sendSyn) this.sc.write(yframe(T_WINDOW, F_SYN, id, 0))
    return s
  }

  ping (value) { this.sc.write(yframe(T_PING, F_SYN, 0, value)) }

  async waitFrame (pred, timeoutMs, what) {
    const found = this.frames.find(pred)
    if (found) return found
    return new Promise((resolve, reject) => {
      const onFrame = (f) => { if (pred(f)) { cleanup(); resolve(f) } }
      const onEnd = () => { cleanup(); reject(new Error(`${what}: session ended first (frames: ${this.describeFrames()})`)) }
      const t = setTimeout(() => { cleanup(); reject(new Error(`${what}: not seen in ${timeoutMs} ms (frames: ${this.describeFrames()})`)) }, timeoutMs)
      const cleanup = () => { clearTimeout(t); this.off('frame', onFrame); this.off('end', onEnd) }
      this.on('frame', onFrame)
      this.on('end', onEnd)
    })
  }

  describeFrames (last = 12) {
    return this.frames.slice(-last).map(describeFrame).join(', ') || 'none'
  }
}

// Go's identify responder: one message, then FIN.
export function identifyHandler (identity, protocols) {
  return async (s) => {
    const msg = encodeIdentify({ publicKey: identity.publicKeyPb, protocols, protocolVersion: 'ipfs/0.1.0', agentVersion: 'go-emulator/0.1.0' })
    s.write(Buffer.concat([uvarint(msg.length), msg]))
    s.fin()
  }
}

// Go's ping responder: echo 32-byte rounds until EOF, then FIN.
export async function pingHandler (s) {
  for (;;) {
    let b
    try { b = await s.q.read(32, 30_000, 'ping') } catch { break }
    s.write(b)
  }
  s.fin()
}

// ------------------------------------------------------------ sessions

export function hostPort (addr) {
  const m = /^\/ip4\/([\d.]+)\/tcp\/(\d+)/.exec(addr)
  if (m == null) throw new Error(`not an /ip4/.../tcp/... address: ${addr}`)
  return [m[1], Number(m[2])]
}

// Dials addr (/ip4/.../tcp/.../p2p/ID) the way go-libp2p does: multistream
// /noise, Noise XX with the muxer list, then a yamux client session that
// serves identify and ping. opts as secureOutbound, plus serve (protocol ->
// handler) and answerPings.
export async function goDial (addr, identity, opts = {}) {
  const [host, port] = hostPort(addr)
  const expectPeerId = /\/p2p\/([^/]+)$/.exec(addr)?.[1]
  const conn = await RawConn.dial(host, port)
  try {
    const { sc, remote, trace } = await secureOutbound(conn, identity, { expectPeerId, ...opts })
    // raw: the caller runs whatever comes between Noise and yamux itself and
    // then calls startYamux.
    const startYamux = () => new YamuxSession(sc, { client: true, serve: opts.serve ?? goServes(identity), answerPings: opts.answerPings }).start()
    const ys = opts.raw ? null : startYamux()
    return { conn, sc, ys, remote, trace, startYamux }
  } catch (err) {
    conn.destroy()
    throw err
  }
}

// What a go-libp2p host answers on an inbound stream here.
export function goServes (identity) {
  return {
    [ID_PROTO]: identifyHandler(identity, [ID_PROTO, PING_PROTO]),
    [PING_PROTO]: pingHandler
  }
}

// Accepts one connection on listener and answers it the way go-libp2p does
// when dialled: multistream (na to all but /noise), Noise as responder,
// then a yamux server session (even stream IDs).
export async function goAccept (listener, identity, opts = {}) {
  const conn = await listener.accept(opts.acceptTimeoutMs ?? 10_000)
  try {
    const { sc, remote } = await secureInbound(conn, identity, opts)
    const ys = new YamuxSession(sc, { client: false, serve: opts.serve ?? goServes(identity), answerPings: opts.answerPings }).start()
    return { conn, sc, ys, remote }
  } catch (err) {
    conn.destroy()
    throw err
  }
}
