// Go emulator row R7 (spec §12.3): a Go peer stays idle for 35 s, past its
// 30 s keepalive point, then sends Ping SYN(7); the peer under test must ACK
// with the same value and the session must still be up. A file of its own so
// meson runs its 35 s beside the other interop tests.
//
// BM_INTEROP_KEEPALIVE_MS (the sanitizer builds: their value is the
// sanitizer, not the 30 s constant) runs the same check on a C peer whose
// keepalive interval is that short: idle for two intervals and a half, so
// the C peer's keepalive Ping goes out (at least once: asserted) and is
// answered, and the session stays up. The plain build runs the 35 s form
// with the default interval.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { ControlPeer, seedHex } from './lib/control.mjs'
import { goDial, identityFromSeed, yframe, describeFrame, T_PING, T_GOAWAY, F_SYN, F_ACK } from './lib/wire.mjs'

const REMOTE = process.env.BM_INTEROP_REMOTE ?? 'js'
const XN = REMOTE === 'js' ? 'js' : 'C'
const SHORT_KEEPALIVE_MS = REMOTE === 'c' && process.env.BM_INTEROP_KEEPALIVE_MS
  ? Number(process.env.BM_INTEROP_KEEPALIVE_MS)
  : null
const IDLE_MS = SHORT_KEEPALIVE_MS != null ? Math.round(SHORT_KEEPALIVE_MS * 2.5) : 35_000
const IDLE_TEXT = IDLE_MS % 1000 === 0 ? `${IDLE_MS / 1000} s` : `${IDLE_MS} ms`

let X
let emu
let s

before(async () => {
  emu = await identityFromSeed(0x0c)
  X = await ControlPeer.start(REMOTE, { seed: seedHex(8), name: XN, keepaliveMs: SHORT_KEEPALIVE_MS })
})

after(async () => {
  s?.conn.destroy()
  await X?.stop()
})

test(`R7: ${XN} answers Ping SYN(7) after ${IDLE_TEXT} of idle and keeps the session`, { timeout: IDLE_MS + 20_000 }, async (t) => {
  s = await goDial(X.addr, emu, { firstPlaintext: yframe(T_PING, F_SYN, 0, 0) })
  await s.ys.waitFrame(f => f.type === T_PING && (f.flags & F_ACK) && f.len === 0, 1000, 'Ping ACK(0)')
  const idleFrom = Date.now()
  await new Promise(resolve => setTimeout(resolve, IDLE_MS))
  assert.ok(!s.conn.closed, `${XN} closed the connection while idle; frames: ${s.ys.describeFrames()}`)
  assert.equal(s.ys.frames.find(f => f.type === T_GOAWAY), undefined, 'no GoAway while idle')
  const theirPings = s.ys.frames.filter(f => f.t >= idleFrom && f.type === T_PING && (f.flags & F_SYN))
  t.diagnostic(`while idle ${XN} sent: ${s.ys.frames.filter(f => f.t >= idleFrom).map(f => `${describeFrame(f)} at +${f.t - idleFrom} ms`).join(', ') || 'nothing'}`)
  t.diagnostic(`${XN} keepalive pings while idle: ${theirPings.length}`)
  if (SHORT_KEEPALIVE_MS != null) {
    assert.ok(theirPings.length >= 1, `${XN} sent no keepalive Ping in ${IDLE_MS} ms with a ${SHORT_KEEPALIVE_MS} ms interval`)
  }
  const t0 = Date.now()
  s.ys.ping(7)
  const ack = await s.ys.waitFrame(f => f.t >= t0 && f.type === T_PING && (f.flags & F_ACK), 1000, 'Ping ACK(7)')
  assert.equal(ack.len, 7, 'the ACK carries the SYN value')
  const p = await X.ok('peers')
  assert.ok(p.peers.includes(emu.peerId), `${XN} still lists the emulator: ${JSON.stringify(p.peers)}`)
})

test(`${XN} quits cleanly (exit 0: no leak, no sanitizer report)`, async () => {
  s?.conn.destroy()
  await X.stopClean()
})
