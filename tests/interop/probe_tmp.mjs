import { ControlPeer, seedHex } from './lib/control.mjs'
import { goDial, identityFromSeed, msLine, describeFrame, MS_HEADER, ID_PROTO, PING_PROTO, yframe, T_PING, F_SYN } from './lib/wire.mjs'
const X = await ControlPeer.start(process.env.KIND ?? 'c', { seed: seedHex(8) })
const emu = await identityFromSeed(0x0b)
const s = await goDial(X.addr, emu, {})
// log noise frames as they arrive
const origPush = s.sc.q.push.bind(s.sc.q)
let n = 0
s.sc.q.push = (b) => { console.log(`noise frame ${++n}: ${b.length} plaintext bytes at ${Date.now() % 100000}`); origPush(b) }
await new Promise(r => setTimeout(r, 300))
console.log('--- frames so far:', s.ys.describeFrames(50))
const t0 = s.ys.frames.length
const which = process.argv[2] ?? 'id'
const st = s.ys.open()
if (which === 'id') {
  st.write(Buffer.concat([msLine(MS_HEADER), msLine(ID_PROTO)]))
} else {
  st.write(Buffer.concat([msLine(MS_HEADER), msLine(PING_PROTO)]))
  await new Promise(r => setTimeout(r, 200))
  st.write(Buffer.alloc(32, 1)); st.fin()
}
await new Promise(r => setTimeout(r, 500))
for (const f of s.ys.frames.slice(t0)) console.log(describeFrame(f), f.t % 100000, f.payload ? f.payload.subarray(0, 40).toString('hex') : '')
s.conn.destroy()
await X.stop()
