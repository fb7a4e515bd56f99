// Test-only pass-through for an EL's engine port that alters one payload in
// transit, so that a real ethereumjs answers engine_newPayload with INVALID
// (e2e_evm_fault.sh). blockv2 builds each block on its own EL from the
// rollup's txs and passes the EL's own payload back unchanged, and the EL
// skips txs that cannot execute (as ev-reth does): with real inputs a real
// EL never answers INVALID. A payload changed between getPayload and
// newPayload is the one way left to get the real answer.
//
//   node tamper.mjs --upstream URL --port-file FILE --trigger FILE
//
// Every POST is forwarded to URL with its headers (the JWT too) and the
// answer returned as it came. While the trigger file exists, every
// engine_newPayloadV* gets its stateRoot changed and its blockHash
// recomputed (the EL's own INVALID for the hash names the hash of the
// changed header: that one is put in and the payload sent again), so
// ethereumjs executes the block and refuses it for its state root, each
// time it is sent (as a real INVALID would be); the number of the first
// block so changed is written to PORT_FILE.done. Listens on 127.0.0.1, a
// kernel-chosen port written to --port-file. Stops on SIGINT/SIGTERM.
import { existsSync, writeFileSync } from 'node:fs';
import http from 'node:http';

const args = {};
for (let i = 2; i + 1 < process.argv.length; i += 2) {
  args[process.argv[i].replace(/^--/, '')] = process.argv[i + 1];
}
for (const k of ['upstream', 'port-file', 'trigger']) {
  if (args[k] === undefined) {
    console.error(`tamper: --${k} is required`);
    process.exit(2);
  }
}
const MAX_BODY = 64 * 1024 * 1024;

async function forward(headers, body) {
  const res = await fetch(args.upstream, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(headers.authorization ? { authorization: headers.authorization } : {}),
    },
    body,
  });
  return { status: res.status, text: await res.text() };
}

// The payload with another state root; the block hash is the one the EL
// computes for it (taken from its INVALID answer on the first try).
async function tampered(headers, req) {
  const p = req.params[0];
  const last = p.stateRoot.slice(-1) === '0' ? '1' : '0';
  p.stateRoot = p.stateRoot.slice(0, -1) + last;
  const probe = await forward(headers, JSON.stringify(req));
  const m = /received: (0x[0-9a-fA-F]{64})/.exec(probe.text);
  if (m === null) {
    throw new Error(`no recomputed hash in the EL's answer: ${probe.text.slice(0, 300)}`);
  }
  p.blockHash = m[1];
  return JSON.stringify(req);
}

const server = http.createServer((req, res) => {
  const chunks = [];
  let size = 0;
  req.on('data', (c) => {
    size += c.length;
    if (size > MAX_BODY) {
      req.destroy();
      return;
    }
    chunks.push(c);
  });
  req.on('end', async () => {
    let body = Buffer.concat(chunks).toString('utf8');
    try {
      if (existsSync(args.trigger) && body.includes('"engine_newPayloadV')) {
        const r = JSON.parse(body);
        if (/^engine_newPayloadV\d$/.test(r.method)) {
          body = await tampered(req.headers, r);
          if (!existsSync(`${args['port-file']}.done`)) {
            writeFileSync(`${args['port-file']}.done`, `${Number(r.params[0].blockNumber)}\n`);
          }
          console.error(`tamper: block ${Number(r.params[0].blockNumber)} sent with another stateRoot`);
        }
      }
      const out = await forward(req.headers, body);
      res.writeHead(out.status, { 'content-type': 'application/json' });
      res.end(out.text);
    } catch (e) {
      console.error(`tamper: ${e.message}`);
      res.destroy();
    }
  });
});
server.keepAliveTimeout = 60000;
server.listen(0, '127.0.0.1', () => {
  writeFileSync(args['port-file'], `${server.address().port}\n`);
});
for (const s of ['SIGINT', 'SIGTERM']) {
  process.on(s, () => process.exit(0));
}
