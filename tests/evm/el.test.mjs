// The test EL itself (suite evm, test evm_el): ev-node's EVM test genesis
// gives the genesis hash and state root ev-node's test expects, and
// preload.mjs adds ev-reth's extensions correctly. Two real ethereumjs
// processes started with el.sh: A builds, B follows (rebuilding from the
// same attributes, or importing A's payloads by newPayload).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import { createTxFromRLP } from '@ethereumjs/tx';
import { bytesToHex, hexToBytes, randomBytes } from '@ethereumjs/util';

import { readJwtSecret, rpc } from './el.mjs';
import { EngineDriver } from './engine.mjs';
import { TEST_KEY, addressOf, chainCommon, send, signTransfer } from './tx.mjs';

const run = promisify(execFile);
const here = dirname(fileURLToPath(import.meta.url));
const GENESIS = join(here, 'genesis/evnode-test.json');
// ev-node execution/evm/test/execution_test.go GENESIS_HASH, GENESIS_STATEROOT.
const GENESIS_HASH = '0x6699a4ef6e7b76499c6cd68443455a3584e505b1da43cf82e6efaef41f5e1d8a';
const GENESIS_STATEROOT = '0x0373244015ce5fa583ed6e575b7a22c39a542233a62d2bd47c37fd1a2b035366';
const ETH = 10n ** 18n;

const work = mkdtempSync(join(tmpdir(), 'bm-evm-el-'));
const pids = [];
// A runner's timeout (SIGTERM) or Ctrl-C: the exit handler below cleans up.
for (const sig of ['SIGTERM', 'SIGINT']) {
  process.on(sig, () => process.exit(1));
}
process.on('exit', () => {
  for (const pid of pids) {
    try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
  }
  if (process.exitCode && process.env.BM_EVM_KEEP) {
    process.stderr.write(`kept ${work}\n`);
  } else {
    rmSync(work, { recursive: true, force: true });
  }
});

async function startEl(name, jwt, genesis = GENESIS) {
  const dir = join(work, name);
  const { stdout } = await run(join(here, 'el.sh'),
    ['start', '--genesis', genesis, '--jwt', jwt, '--dir', dir], { timeout: 150000 });
  const env = Object.fromEntries(stdout.trim().split('\n').map((l) => l.split('=')));
  pids.push(Number(env.PID));
  return { dir, ...env, driver: new EngineDriver(env.ENGINE_URL, env.ETH_URL, readJwtSecret(jwt)) };
}

async function rejects(promise, code, pattern) {
  await assert.rejects(promise, (e) => {
    assert.equal(e.code, code, e.message);
    assert.match(e.message, pattern);
    return true;
  });
}

describe('test EL: ethereumjs + preload', { timeout: 300000 }, () => {
  const jwt = join(work, 'jwt.hex');
  let A;
  let B;
  let chainId;
  const key1 = hexToBytes(`0x${TEST_KEY}`);
  const key2 = randomBytes(32);
  const nonces = new Map([[addressOf(key1), 0n], [addressOf(key2), 0n]]);
  // A signed transfer from `key` with the next nonce on the builder's
  // chain (not sent to any pool).
  const transfer = async (key, { tip, value = 1000n, to = `0x${'ab'.repeat(20)}` } = {}) => {
    const from = addressOf(key);
    const nonce = nonces.get(from);
    nonces.set(from, nonce + 1n);
    const head = await A.driver.block('latest');
    return signTransfer(chainId, key, {
      nonce, to, value, baseFee: head.baseFeePerGas, tip,
    });
  };
  const raw = (tx) => bytesToHex(tx.serialize());
  // A builds one block from exactly `txs`; B rebuilds it from the same
  // attributes; both make it their head. Returns A's payload.
  const bothBuild = async (txs, opts = {}) => {
    const head = await A.driver.block('latest');
    const a = await A.driver.build(head.hash, { txs, ...opts });
    const b = await B.driver.build(head.hash, { txs, ...opts });
    assert.equal(b.payload.executionPayload.blockHash, a.payload.executionPayload.blockHash,
      'B rebuilt a different block from the same attributes');
    for (const [el, p] of [[A, a], [B, b]]) {
      assert.equal((await el.driver.submit(p.payload)).status, 'VALID');
      const fcu = await el.driver.forkchoice(p.payload.executionPayload.blockHash);
      assert.equal(fcu.payloadStatus.status, 'VALID');
    }
    return a.payload.executionPayload;
  };

  before(async () => {
    await run(join(here, 'el.sh'), ['jwt', jwt]);
    [A, B] = await Promise.all([startEl('a', jwt), startEl('b', jwt)]);
    chainId = BigInt(await rpc(A.ETH_URL, 'eth_chainId'));
  });

  after(async () => {
    // A through el.sh stop (SIGINT, clean shutdown); B is killed on exit.
    if (A) await run(join(here, 'el.sh'), ['stop', A.dir], { timeout: 60000 });
  });

  test("ev-node's EVM test genesis: genesis hash and state root", async () => {
    for (const el of [A, B]) {
      const g = await el.driver.block('0x0');
      assert.equal(g.hash, GENESIS_HASH);
      assert.equal(g.stateRoot, GENESIS_STATEROOT);
      assert.equal(el.GENESIS_HASH, GENESIS_HASH, 'el.sh printed another GENESIS_HASH');
    }
    assert.equal(chainId, 1234n);
    const funded = await rpc(A.ETH_URL, 'eth_getBalance', [addressOf(key1), 'latest']);
    assert.equal(BigInt(funded), 0x4a47e3c12448f4ad000000n);
    for (const el of [A, B]) {
      const fcu = await el.driver.forkchoice(GENESIS_HASH);
      assert.equal(fcu.payloadStatus.status, 'VALID');
    }
  });

  test('exact build: the listed txs in that order, undecodable ones dropped, failing ones skipped', async () => {
    // Fund key2 first (block 1), then mix both senders with tips that the
    // pool would order the other way round.
    const fund = await transfer(key1, { value: 10n * ETH, to: addressOf(key2) });
    const fund2 = bytesToHex(fund.serialize());
    const p1 = await bothBuild([fund2]);
    assert.deepEqual(p1.transactions, [fund2]);

    const low = await transfer(key2, { tip: 1n });
    const high = await transfer(key1, { tip: 5n * 1000000000n });
    const stale = fund2; // nonce 0 of key1 again: fails, skipped
    const p2 = await bothBuild([raw(low), '0x02zz', stale, raw(high), '0x', 'not hex', 42]);
    assert.deepEqual(p2.transactions, [raw(low), raw(high)]);
    assert.equal(BigInt(p2.blockNumber), 2n);

    const empty = await bothBuild([]);
    assert.deepEqual(empty.transactions, []);
  });

  test('payload id: follows the tx list and gas limit, repeats for the same request', async () => {
    const head = await A.driver.block('latest');
    const tx = raw(await transfer(key1));
    nonces.set(addressOf(key1), nonces.get(addressOf(key1)) - 1n); // not built on
    const attrs = (o) => A.driver.attributes(head, { timestamp: Number(BigInt(head.timestamp)) + 5, ...o });
    const id = async (o) => (await A.driver.forkchoice(head.hash, attrs(o))).payloadId;
    // ethereumjs keeps the last few payloads only: ask for each right away.
    const txsOf = async (payloadId) =>
      (await A.driver.engine('engine_getPayloadV4', [payloadId])).executionPayload.transactions;
    const withTx = await id({ txs: [tx] });
    assert.match(withTx, /^0x[0-9a-f]{16}$/);
    assert.equal(await id({ txs: [tx] }), withTx);
    assert.deepEqual(await txsOf(withTx), [tx]);
    const none = await id({ txs: [] });
    assert.notEqual(none, withTx);
    assert.deepEqual(await txsOf(none), []);
    assert.notEqual(await id({ txs: [tx], gasLimit: Number(BigInt(head.gasLimit)) - 1 }), withTx);
    const pool = await id({});
    assert.notEqual(pool, none, 'a pool-built payload shares its id with an exact one');
    assert.equal(await id({ txs: [] }), none);
    assert.deepEqual(await txsOf(none), []);
  });

  test('gasLimit attribute sets the block gas limit; number timestamps accepted', async () => {
    const head = await A.driver.block('latest');
    const gasLimit = Number(BigInt(head.gasLimit)) - 1000;
    const p = await bothBuild([], { gasLimit, timestamp: Number(BigInt(head.timestamp)) + 2 });
    assert.equal(BigInt(p.gasLimit), BigInt(gasLimit));
    assert.equal(BigInt(p.timestamp), BigInt(head.timestamp) + 2n);
    // Hex gasLimit too, the parent's: ev-node sends the parent's limit.
    const p2 = await bothBuild([], { gasLimit: `0x${gasLimit.toString(16)}` });
    assert.equal(BigInt(p2.gasLimit), BigInt(gasLimit));
  });

  test('malformed extension attributes are refused with -32602 naming the field', async () => {
    const head = await A.driver.block('latest');
    const fcu = (o) => A.driver.forkchoice(head.hash, { ...A.driver.attributes(head), ...o });
    await rejects(fcu({ transactions: '0x00' }), -32602, /transactions/);
    await rejects(fcu({ transactions: [], gasLimit: 'lots' }), -32602, /gasLimit/);
    await rejects(fcu({ transactions: [], gasLimit: 0 }), -32602, /gasLimit/);
    await rejects(fcu({ timestamp: -1 }), -32602, /timestamp/);
  });

  test('txpoolExt_getTxs: executable pool txs as raw hex, each sender in nonce order', async () => {
    // Sent through A's pool: three from key1, one from key2 and one from
    // key2 with a nonce gap (not executable, so not returned).
    const sent1 = await send(A.ETH_URL, key1, `0x${'cd'.repeat(20)}`, 7n, 3);
    const sent2 = await send(A.ETH_URL, key2, `0x${'cd'.repeat(20)}`, 7n, 1);
    const gapNonce = BigInt(await rpc(A.ETH_URL, 'eth_getTransactionCount', [addressOf(key2), 'pending'])) + 3n;
    const head = await A.driver.block('latest');
    const gap = signTransfer(chainId, key2, { nonce: gapNonce, to: `0x${'cd'.repeat(20)}`, value: 7n, baseFee: head.baseFeePerGas });
    await rpc(A.ETH_URL, 'eth_sendRawTransaction', [raw(gap)]);

    const txs = await rpc(A.ETH_URL, 'txpoolExt_getTxs');
    assert.ok(txs.every((t) => /^0x([0-9a-f]{2})+$/.test(t)), 'not 0x hex');
    const decoded = txs.map((t) => createTxFromRLP(hexToBytes(t), { common: chainCommon(chainId) }));
    const hashes = decoded.map((t) => bytesToHex(t.hash()));
    assert.deepEqual([...hashes].sort(), [...sent1, ...sent2].sort());
    assert.deepEqual(hashes.filter((h) => sent1.includes(h)), sent1, 'key1 txs out of nonce order');
    // Not on the engine port.
    await rejects(rpc(A.ENGINE_URL, 'txpoolExt_getTxs', [], { jwt: readJwtSecret(jwt) }), -32601, /not found/i);

    // A builds them (exactly, from the list), B imports A's block by
    // newPayload alone, like any plain ethereumjs would.
    const { payload } = await A.driver.build(head.hash, { txs });
    assert.deepEqual(payload.executionPayload.transactions, txs);
    for (const el of [A, B]) {
      assert.equal((await el.driver.submit(payload)).status, 'VALID');
      assert.equal((await el.driver.forkchoice(payload.executionPayload.blockHash)).payloadStatus.status, 'VALID');
    }
    const after = await rpc(A.ETH_URL, 'txpoolExt_getTxs');
    assert.deepEqual(after, [], 'included or gapped txs returned after the block');
    const [ha, hb] = await Promise.all([A.driver.block('latest'), B.driver.block('latest')]);
    assert.equal(hb.hash, ha.hash);
    assert.equal(hb.stateRoot, ha.stateRoot);
  });

  test('el.sh refuses a bad JWT secret file and a second EL in the same dir, naming the cause', async () => {
    const bad = join(work, 'bad.hex');
    writeFileSync(bad, 'not-a-secret\n');
    await assert.rejects(run(join(here, 'el.sh'), ['start', '--genesis', GENESIS, '--jwt', bad, '--dir', join(work, 'c')]),
      (e) => /JWT secret file .*bad\.hex.* 64 hex digits/.test(e.stderr));
    await assert.rejects(run(join(here, 'el.sh'), ['start', '--genesis', GENESIS, '--jwt', jwt, '--dir', A.dir]),
      (e) => /already runs/.test(e.stderr));
    assert.equal(readFileSync(join(A.dir, 'el.env'), 'utf8').includes(`PID=${A.PID}\n`), true);
  });
});
