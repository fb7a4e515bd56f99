// Starts control-protocol peers (the C p2p_peer or js_peer.mjs) as child
// processes and talks to them: one JSON command per line on stdin, replies
// and events as JSON lines on stdout. Every child is killed when this
// process exits, however it exits.
import { spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import path from 'node:path'

const here = path.dirname(fileURLToPath(import.meta.url))
export const INTEROP_DIR = path.resolve(here, '..')

const children = new Set()
function killAll () {
  for (const c of children) {
    try { c.kill('SIGKILL') } catch {}
  }
  children.clear()
}
process.on('exit', killAll)
for (const [sig, num] of [['SIGINT', 2], ['SIGTERM', 15], ['SIGHUP', 1]]) {
  process.on(sig, () => { killAll(); process.exit(128 + num) })
}

// Which kinds of peer can run here: js always; C when BM_P2P_PEER names an
// executable (meson passes build/tests/interop/p2p_peer).
export function cPeerPath () {
  const p = process.env.BM_P2P_PEER
  return p != null && p !== '' ? p : null
}

export function seedHex (byte) {
  return Buffer.alloc(32, byte).toString('hex')
}

export class ControlPeer {
  constructor (kind, child, name) {
    this.kind = kind
    this.name = name
    this.child = child
    this.nextId = 1
    this.pending = new Map()
    this.events = []
    this.eventWaiters = []
    this.stderr = []
    this.exited = null
    this.ready = null
  }

  // kind: 'js' or 'c'. Resolves once the ready line arrived. peers: static
  // peers (p2p_peer's --peer MULTIADDR/p2p/ID), for 'c' only. keepaliveMs:
  // p2p_peer's --keepalive-ms (the yamux keepalive interval), for 'c' only.
  static async start (kind, { seed, listen = ['/ip4/127.0.0.1/tcp/0'], peers = [], name = kind, timeoutMs = 15_000, keepaliveMs = null } = {}) {
    let cmd
    let args = ['--key-seed', seed]
    for (const l of listen) args.push('--listen', l)
    if (peers.length > 0 && kind !== 'c') throw new Error('--peer is p2p_peer\'s only')
    for (const p of peers) args.push('--peer', p)
    if (keepaliveMs != null && kind !== 'c') throw new Error('--keepalive-ms is p2p_peer\'s only')
    if (keepaliveMs != null) args.push('--keepalive-ms', String(keepaliveMs))
    if (kind === 'js') {
      cmd = process.execPath
      args = ['--import', path.join(INTEROP_DIR, 'polyfill.mjs'), path.join(INTEROP_DIR, 'js_peer.mjs'), ...args]
    } else if (kind === 'c') {
      cmd = cPeerPath()
      if (cmd == null) throw new Error('BM_P2P_PEER is not set')
    } else {
      throw new Error(`unknown peer kind ${kind}`)
    }
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] })
    children.add(child)
    const peer = new ControlPeer(kind, child, name)
    child.on('exit', (code, signal) => {
      children.delete(child)
      peer.exited = { code, signal }
      const err = new Error(`${name} exited (code ${code}, signal ${signal}) ${peer.stderrTail()}`)
      for (const [, p] of peer.pending) p.reject(err)
      peer.pending.clear()
      for (const w of peer.eventWaiters) w.reject(err)
      peer.eventWaiters = []
    })
    child.stdin.on('error', () => {})
    createInterface({ input: child.stderr }).on('line', (l) => {
      peer.stderr.push(l)
      if (peer.stderr.length > 200) peer.stderr.shift()
      if (process.env.BM_INTEROP_VERBOSE) process.stderr.write(`[${name}] ${l}\n`)
    })
    const readyP = new Promise((resolve, reject) => {
      peer.readyWaiter = { resolve, reject }
    })
    createInterface({ input: child.stdout }).on('line', (l) => peer.onLine(l))
    const t = setTimeout(() => peer.readyWaiter.reject(new Error(`${name}: no ready line in ${timeoutMs} ms ${peer.stderrTail()}`)), timeoutMs)
    child.on('exit', () => peer.readyWaiter.reject(new Error(`${name} exited before ready ${peer.stderrTail()}`)))
    try {
      peer.ready = await readyP
    } finally {
      clearTimeout(t)
    }
    peer.id = peer.ready.peer_id
    peer.addr = peer.ready.addrs.find(a => a.startsWith('/ip4/127.0.0.1/')) ?? peer.ready.addrs[0]
    return peer
  }

  stderrTail (n = 15) {
    return this.stderr.length === 0 ? '' : `\n--- ${this.name} stderr (last ${n} lines) ---\n${this.stderr.slice(-n).join('\n')}`
  }

  onLine (line) {
    let m
    try {
      m = JSON.parse(line)
    } catch {
      this.stderr.push(`(non-JSON stdout) ${line}`)
      return
    }
    if (m.event === 'ready' && this.ready == null) {
      this.readyWaiter.resolve(m)
      return
    }
    if (m.event != null) {
      this.events.push(m)
      const still = []
      for (const w of this.eventWaiters) {
        if (w.pred(m)) w.resolve(m)
        else still.push(w)
      }
      this.eventWaiters = still
      return
    }
    const p = this.pending.get(m.id)
    if (p != null) {
      this.pending.delete(m.id)
      p.resolve(m)
    }
  }

  // Sends one command and resolves with its reply (ok or not); rejects only
  // on timeout or if the process exits.
  request (cmd, fields = {}, timeoutMs = 15_000) {
    if (this.exited) return Promise.reject(new Error(`${this.name} has exited ${this.stderrTail()}`))
    const id = this.nextId++
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        this.pending.delete(id)
        reject(new Error(`${this.name}: no reply to ${cmd} in ${timeoutMs} ms ${this.stderrTail()}`))
      }, timeoutMs)
      this.pending.set(id, {
        resolve: (m) => { clearTimeout(t); resolve(m) },
        reject: (e) => { clearTimeout(t); reject(e) }
      })
      this.child.stdin.write(JSON.stringify({ id, cmd, ...fields }) + '\n')
    })
  }

  // Like request, but a reply with ok:false is an error naming the command.
  async ok (cmd, fields = {}, timeoutMs) {
    const r = await this.request(cmd, fields, timeoutMs)
    if (r.ok !== true) throw new Error(`${this.name}: ${cmd} ${JSON.stringify(fields)} failed: ${r.error} ${this.stderrTail(8)}`)
    return r
  }

  waitEvent (pred, timeoutMs = 10_000, what = 'event') {
    const found = this.events.find(pred)
    if (found) return Promise.resolve(found)
    return new Promise((resolve, reject) => {
      const w = { pred, resolve: null, reject: null }
      const t = setTimeout(() => {
        this.eventWaiters = this.eventWaiters.filter(x => x !== w)
        reject(new Error(`${this.name}: no ${what} in ${timeoutMs} ms (events: ${JSON.stringify(this.events.slice(-8))})`))
      }, timeoutMs)
      w.resolve = (m) => { clearTimeout(t); resolve(m) }
      w.reject = (e) => { clearTimeout(t); reject(e) }
      this.eventWaiters.push(w)
    })
  }

  // Stops the peer and throws unless it exited 0 by itself: a leak
  // (p2p_peer's allocation count, LeakSanitizer), a sanitizer report or a
  // crash shows up here, with its stderr.
  async stopClean (timeoutMs = 10_000) {
    const r = await this.stop(timeoutMs)
    if (r.code !== 0) throw new Error(`${this.name} exited with ${JSON.stringify(r)}, not 0 ${this.stderrTail(40)}`)
  }

  // Asks the peer to quit (stdin EOF), then kills it if it lingers.
  async stop (timeoutMs = 5000) {
    if (this.exited) return this.exited
    const done = new Promise((resolve) => this.child.once('exit', (code, signal) => resolve({ code, signal })))
    this.child.stdin.end()
    const t = setTimeout(() => { try { this.child.kill('SIGKILL') } catch {} }, timeoutMs)
    const r = await done
    clearTimeout(t)
    return r
  }
}
