// The deterministic test data of the control protocol: byte i of a message is
// (i*31 + 7) mod 251. The sequence repeats every 251 bytes, so any window of
// it is a subarray of one precomputed table.

const PERIOD = 251
export const CHUNK = 64 * 1024

const table = new Uint8Array(CHUNK + PERIOD)
for (let i = 0; i < table.length; i++) table[i] = (i * 31 + 7) % PERIOD

// Returns a view (valid until never: the table is immutable by convention) of
// the len bytes at offset off of the pattern; len <= CHUNK.
export function patternAt (off, len) {
  if (len > CHUNK) throw new RangeError(`pattern window ${len} > ${CHUNK}`)
  const s = off % PERIOD
  return table.subarray(s, s + len)
}

// Returns the first index in buf whose byte differs from the pattern at
// offset off + index, or -1 when all of buf matches.
export function patternMismatch (off, buf) {
  let done = 0
  while (done < buf.length) {
    const n = Math.min(CHUNK, buf.length - done)
    const want = patternAt(off + done, n)
    const got = buf.subarray(done, done + n)
    if (Buffer.compare(want, got) !== 0) {
      for (let i = 0; i < n; i++) if (want[i] !== got[i]) return done + i
    }
    done += n
  }
  return -1
}
