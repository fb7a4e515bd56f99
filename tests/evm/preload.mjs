// Test-only preload for @ethereumjs/client 0.10.5: gives a plain ethereumjs
// the two ev-reth extensions blockv2's EVM executor relies on (spec
// evm-engine.md §3), plus two changes that keep a test EL on loopback.
// Loaded with `node --import ./preload.mjs .../cli.js ...` (el.mjs does it);
// nothing under node_modules is modified.
//
// 1. Payload attributes `transactions` and `gasLimit` on
//    engine_forkchoiceUpdatedV3. With either key present the payload is
//    built from exactly the listed raw EIP-2718 txs, in that order, and
//    never from the EL's pool; a tx that does not decode is dropped, and
//    one that fails to execute (bad nonce, no funds, block full) is skipped
//    by the block builder. `gasLimit` (a JSON number or a hex string) is
//    the new block's gas limit. The payload id is a hash of the parent,
//    every attribute and the tx list, so two different lists never share
//    a payload, and the same request twice gives the same id. `timestamp`
//    may be a JSON number (as ev-node's Go client sends it); it is turned
//    into the hex ethereumjs wants. Without either key the call is plain
//    ethereumjs (the block is built from the pool).
// 2. `txpoolExt_getTxs` on the eth port: the pool's executable txs as
//    "0x…" raw EIP-2718 hex, best price first and each sender's txs in
//    nonce order from its account nonce up to its first gap (what the
//    block builder would pick from the pool), cut at the head's gas limit
//    and at MAX_GETTXS_BYTES of encoded txs.
// 3. When BM_EL_PORTS_FILE is set: HTTP servers asked to listen on the
//    placeholder ports 1 (eth) and 2 (engine) listen on a kernel-chosen
//    port instead, and every HTTP listen is recorded in that file as a line
//    "<requested> <actual>" (el.mjs reads it). Other ports are used as
//    given (a restart reuses the ports of the previous run).
// 4. The devp2p server (TCP/UDP on 0.0.0.0) is never started: a test EL is
//    a single node with --maxPeers 0.
import { AsyncLocalStorage } from 'node:async_hooks';
import { createHash } from 'node:crypto';
import { appendFileSync } from 'node:fs';
import http from 'node:http';

import { createTxFromRLP } from '@ethereumjs/tx';
import { bytesToHex, hexToBytes } from '@ethereumjs/util';
import { RPCManager } from '@ethereumjs/client/dist/esm/src/rpc/index.js';
import { Engine } from '@ethereumjs/client/dist/esm/src/rpc/modules/engine/engine.js';
import { RlpxServer } from '@ethereumjs/client/dist/esm/src/net/server/rlpxserver.js';

const INVALID_PARAMS = -32602;
const INTERNAL_ERROR = -32603;
// Bounds on the attributes (the engine port's body limit is 11 MB anyway).
const MAX_ATTR_TXS = 100000;
const MAX_TX_BYTES = 128 * 1024;
// ev-reth's default byte cap for txpoolExt_getTxs (1.98 MB).
const MAX_GETTXS_BYTES = 1980 * 1024;
const PLACEHOLDER_PORTS = { 1: 'eth', 2: 'engine' };

// The exact-tx context of one forkchoiceUpdated call (or of one getPayload
// of a payload built that way), carried across the awaits inside
// ethereumjs: { txs: decoded txs in order, gasLimit: bigint | undefined }.
const exactBuild = new AsyncLocalStorage();
const pendingBlocks = new Set();
const POOL_HOOKED = Symbol('blockv2 preload pool hook');

function invalidParams(message) {
  return { code: INVALID_PARAMS, message };
}

function isHex(s) {
  return typeof s === 'string' && /^0x([0-9a-fA-F]{2})*$/.test(s);
}

// A JSON number or a 0x hex string as a non-negative bigint, or undefined
// when it is neither.
function quantity(v) {
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) {
    return BigInt(v);
  }
  if (typeof v === 'string' && /^0x[0-9a-fA-F]{1,16}$/.test(v)) {
    return BigInt(v);
  }
  return undefined;
}

function lenPrefixed(h, bytes) {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(bytes.length);
  h.update(len);
  h.update(bytes);
}

// 8-byte payload id over everything that shapes the block.
function exactPayloadId(parentBlock, headerData, withdrawals, ctx) {
  const h = createHash('sha256');
  h.update('blockv2-test-preload/exact-payload/v1');
  lenPrefixed(h, parentBlock.hash());
  for (const k of ['timestamp', 'mixHash', 'coinbase', 'parentBeaconBlockRoot']) {
    lenPrefixed(h, Buffer.from(String(headerData?.[k] ?? ''), 'utf8'));
  }
  lenPrefixed(h, Buffer.from(JSON.stringify(withdrawals ?? null), 'utf8'));
  lenPrefixed(h, Buffer.from(ctx.gasLimit === undefined ? '' : ctx.gasLimit.toString(), 'utf8'));
  lenPrefixed(h, Buffer.from(String(ctx.txs.length), 'utf8'));
  for (const tx of ctx.txs) {
    lenPrefixed(h, tx.serialize());
  }
  return h.digest().subarray(0, 8);
}

function decodeTxs(list, common, logger) {
  const txs = [];
  let dropped = 0;
  list.forEach((raw, i) => {
    try {
      if (!isHex(raw) || raw.length < 4 || (raw.length - 2) / 2 > MAX_TX_BYTES) {
        throw new Error('not a 0x-prefixed hex tx of at most 128 KiB');
      }
      txs.push(createTxFromRLP(hexToBytes(raw), { common }));
    } catch (e) {
      dropped++;
      logger?.warn(`preload: dropping undecodable tx ${i} of the transactions attribute: ${e.message}`);
    }
  });
  return { txs, dropped };
}

function installExactBuild(engine) {
  const logger = engine.config.logger;
  const pending = engine.pendingBlock;
  const pool = pending.txPool;
  const exactIds = new Set();

  // The pool is asked for txs twice per payload: when the build starts and
  // again in getPayload. Under an exact context it answers the given list
  // (start) or nothing (getPayload), and applies the gas limit to the
  // builder of the vm it is asked for.
  // Every Engine instance has its own PendingBlock; they share the pool.
  pendingBlocks.add(pending);
  if (pool[POOL_HOOKED] !== true) {
    pool[POOL_HOOKED] = true;
    const poolTxs = pool.txsByPriceAndNonce.bind(pool);
    pool.txsByPriceAndNonce = async (vm, opts) => {
      const ctx = exactBuild.getStore();
      if (ctx === undefined) return poolTxs(vm, opts);
      if (ctx.gasLimit !== undefined) {
        for (const pb of pendingBlocks) {
          for (const builder of pb.pendingPayloads.values()) {
            if (builder.vm === vm) builder.headerData.gasLimit = ctx.gasLimit;
          }
        }
      }
      return ctx.txs;
    };
  }

  const start = pending.start.bind(pending);
  pending.start = async (vm, parentBlock, headerData, withdrawals) => {
    const ctx = exactBuild.getStore();
    if (ctx === undefined) return start(vm, parentBlock, headerData, withdrawals);
    const id = exactPayloadId(parentBlock, headerData, withdrawals, ctx);
    const idHex = bytesToHex(id);
    if (pending.pendingPayloads.has(idHex)) return id;
    // ethereumjs keys its builders by a hash of the header fields only;
    // move ours to the exact id. A pool-built payload that happens to have
    // the same fields is not ours to take: drop it and build afresh.
    let builders = new Set(pending.pendingPayloads.values());
    let baseId = bytesToHex(await start(vm, parentBlock, headerData, withdrawals));
    if (builders.has(pending.pendingPayloads.get(baseId))) {
      pending.stop(baseId);
      builders = new Set(pending.pendingPayloads.values());
      baseId = bytesToHex(await start(await engine.vm.shallowCopy(), parentBlock, headerData, withdrawals));
      if (builders.has(pending.pendingPayloads.get(baseId))) {
        throw { code: INTERNAL_ERROR, message: 'preload: could not start an exact payload build' };
      }
    }
    const builder = pending.pendingPayloads.get(baseId);
    const bundle = pending.blobsBundles.get(baseId);
    pending.pendingPayloads.delete(baseId);
    pending.blobsBundles.delete(baseId);
    if (builder === undefined) {
      throw { code: INTERNAL_ERROR, message: 'preload: the payload builder vanished' };
    }
    pending.pendingPayloads.set(idHex, builder);
    if (bundle !== undefined) pending.blobsBundles.set(idHex, bundle);
    for (const old of exactIds) {
      if (!pending.pendingPayloads.has(old)) exactIds.delete(old);
    }
    exactIds.add(idHex);
    logger?.info(`preload: exact payload ${idHex} from ${ctx.txs.length} attribute txs on parent ${parentBlock.header.number}`);
    return id;
  };

  const build = pending.build.bind(pending);
  pending.build = async (payloadId) => {
    const idHex = typeof payloadId === 'string' ? payloadId.toLowerCase() : bytesToHex(payloadId);
    if (!exactIds.has(idHex)) return build(payloadId);
    return exactBuild.run({ txs: [], gasLimit: undefined }, () => build(payloadId));
  };

  const fcu = engine.forkchoiceUpdatedV3;
  engine.forkchoiceUpdatedV3 = async (params) => {
    const attrs = Array.isArray(params) ? params[1] : undefined;
    if (attrs === null || typeof attrs !== 'object' || Array.isArray(attrs)) {
      return fcu(params);
    }
    const rest = { ...attrs };
    if (typeof rest.timestamp === 'number') {
      const ts = quantity(rest.timestamp);
      if (ts === undefined) throw invalidParams('invalid payload attribute timestamp: not a uint64');
      rest.timestamp = '0x' + ts.toString(16);
    }
    const exact = 'transactions' in rest || 'gasLimit' in rest;
    if (!exact) return fcu([params[0], rest, ...params.slice(2)]);

    const list = rest.transactions ?? [];
    delete rest.transactions;
    if (!Array.isArray(list)) {
      throw invalidParams('invalid payload attribute transactions: not an array');
    }
    if (list.length > MAX_ATTR_TXS) {
      throw invalidParams(`invalid payload attribute transactions: ${list.length} txs, at most ${MAX_ATTR_TXS}`);
    }
    let gasLimit;
    if ('gasLimit' in rest) {
      if (rest.gasLimit !== null && rest.gasLimit !== undefined) {
        gasLimit = quantity(rest.gasLimit);
        if (gasLimit === undefined || gasLimit === 0n) {
          throw invalidParams('invalid payload attribute gasLimit: not a positive uint64');
        }
      }
      delete rest.gasLimit;
    }
    const { txs, dropped } = decodeTxs(list, engine.config.chainCommon, logger);
    if (dropped > 0) {
      logger?.warn(`preload: ${dropped} of ${list.length} attribute txs dropped`);
    }
    return exactBuild.run({ txs, gasLimit }, () => fcu([params[0], rest, ...params.slice(2)]));
  };
}

// txpoolExt_getTxs: the pool's txs the builder would pick now, as raw hex.
function getTxsMethod(client) {
  return async () => {
    const service = client.service;
    const head = await service.chain.blockchain.getIteratorHead();
    const vm = await service.execution.vm.shallowCopy();
    await vm.stateManager.setStateRoot(head.header.stateRoot);
    const baseFee = head.header.common.isActivatedEIP(1559) ? head.header.calcNextBaseFee() : undefined;
    // Not under an exact context: this is the pool's own ordering.
    const txs = await service.txPool.txsByPriceAndNonce(vm, { baseFee, allowedBlobs: 0 });
    const out = [];
    let bytes = 0;
    let gas = 0n;
    // ethereumjs's selection checks only each sender's first nonce: stop a
    // sender at its first gap (a later tx there cannot execute).
    const next = new Map();
    for (const tx of txs) {
      const sender = tx.getSenderAddress().toString();
      const want = next.get(sender);
      if (want !== undefined && tx.nonce !== want) {
        next.set(sender, -1n);
        continue;
      }
      next.set(sender, tx.nonce + 1n);
      const raw = tx.serialize();
      if (bytes + raw.length > MAX_GETTXS_BYTES || gas + tx.gasLimit > head.header.gasLimit) break;
      bytes += raw.length;
      gas += tx.gasLimit;
      out.push(bytesToHex(raw));
    }
    return out;
  };
}

const initValidators = Engine.prototype.initValidators;
Engine.prototype.initValidators = function () {
  initValidators.call(this);
  installExactBuild(this);
};

const getMethods = RPCManager.prototype.getMethods;
RPCManager.prototype.getMethods = function (engine = false, rpcDebug = false) {
  const methods = getMethods.call(this, engine, rpcDebug);
  if (!engine) methods.txpoolExt_getTxs = getTxsMethod(this._client);
  return methods;
};

RlpxServer.prototype.start = async function () {
  this.config.logger?.info('preload: devp2p server not started (single test node)');
  return false;
};
RlpxServer.prototype.bootstrap = async function () {};

const portsFile = process.env.BM_EL_PORTS_FILE;
if (portsFile) {
  const listen = http.Server.prototype.listen;
  http.Server.prototype.listen = function (...args) {
    const requested = typeof args[0] === 'number' ? args[0] : Number(args[0]);
    if (PLACEHOLDER_PORTS[requested] !== undefined) args[0] = 0;
    this.once('listening', () => {
      const { address, port } = this.address();
      appendFileSync(portsFile, `${requested} ${port}\n`);
      // ethereumjs logs the port it asked for; say where it listens.
      process.stderr.write(`preload: HTTP port ${requested} listens on ${address}:${port}\n`);
    });
    return listen.apply(this, args);
  };
}
