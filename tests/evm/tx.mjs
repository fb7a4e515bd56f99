// Signed ETH transfers for the EVM tests, sent to an EL's eth port with
// eth_sendRawTransaction, and the checks on what the EL then holds.
//
//   node tx.mjs address --key HEX
//       The address of a private key.
//   node tx.mjs send --eth URL --key HEX --to ADDR [--value WEI] [--count N]
//       N EIP-1559 transfers (nonces from the pending count); prints one tx
//       hash per line.
//   node tx.mjs wait --eth URL [--timeout S] HASH...
//       Waits for each receipt; fails unless each has status 0x1 and its
//       block holds the tx. Prints "HASH BLOCK_NUMBER BLOCK_HASH" lines.
//   node tx.mjs balance --eth URL ADDR [--block TAG]
//       The balance in wei (decimal).
//   node tx.mjs transfers --eth URL --key HEX --count N [--to ADDR]
//            [--value WEI] [--interval-ms MS] [--timeout S]
//       The acceptance check: sends N transfers (one every MS ms) to ADDR (a
//       fresh address by default), waits for every receipt and checks that
//       each succeeded with 21000 gas in a block that holds it, that the
//       recipient got exactly N * WEI, and that the sender paid exactly
//       N * WEI plus the fees of its receipts. Prints a JSON summary
//       {count, blocks: [...distinct block numbers...], to, first, last}.
//
//   node tx.mjs compare --eth URL --with URL --to N [--from M]
//       Both ELs hold the same canonical blocks M..N (default M = 0): the
//       same hash and state root at every height, each block's parent the
//       one before it. Prints "heights M..N identical (hash of N)".
//
// Defaults: --key is ev-node's EVM test key (funded in
// genesis/evnode-test.json), --value 1000000000000 (1e12 wei), --timeout 60.
// Exit status 1 with a message naming what differs.
import { Hardfork, Mainnet, createCustomCommon } from '@ethereumjs/common';
import { createFeeMarket1559Tx } from '@ethereumjs/tx';
import { bytesToHex, hexToBytes, privateToAddress, randomBytes } from '@ethereumjs/util';
import { pathToFileURL } from 'node:url';

import { cli, rpc } from './el.mjs';

// ev-node's execution/evm/test TEST_PRIVATE_KEY; its address holds a
// genesis balance in genesis/evnode-test.json.
export const TEST_KEY = 'cece4f25ac74deb1468965160c7185e07dff413f23fcadb611b05ca37ab0a52e';
const GWEI = 1000000000n;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const { die, parseArgs } = cli('tx');

function keyBytes(hex) {
  const h = (hex ?? TEST_KEY).replace(/^0x/, '');
  if (!/^[0-9a-fA-F]{64}$/.test(h)) die('--key: not 32 bytes of hex');
  return hexToBytes(`0x${h}`);
}

export function addressOf(key) {
  return bytesToHex(privateToAddress(key));
}

function posInt(v, dflt, name) {
  if (v === undefined) return dflt;
  if (!/^[0-9]+$/.test(v) || Number(v) > 1e9) die(`--${name}: not a non-negative integer: ${v}`);
  return Number(v);
}

function address(v, name) {
  if (!/^0x[0-9a-fA-F]{40}$/.test(v ?? '')) die(`--${name}: not a 0x-prefixed 20-byte address: ${v}`);
  return v.toLowerCase();
}

export async function balance(eth, addr, block = 'latest') {
  return BigInt(await rpc(eth, 'eth_getBalance', [addr, block]));
}

// A signed EIP-1559 transfer (21000 gas) on chain `chainId` (a bigint):
// the tx object of @ethereumjs/tx (serialize() gives the raw bytes).
export function chainCommon(chainId) {
  return createCustomCommon({ chainId: Number(chainId) }, Mainnet, { hardfork: Hardfork.Prague });
}

export function signTransfer(chainId, key, { nonce, to, value, baseFee, tip = GWEI }) {
  const common = chainCommon(chainId);
  return createFeeMarket1559Tx({
    chainId, nonce: BigInt(nonce), to, value: BigInt(value), gasLimit: 21000n,
    maxPriorityFeePerGas: tip,
    maxFeePerGas: 2n * BigInt(baseFee) + tip,
  }, { common }).sign(key);
}

// Signs and sends `count` transfers; returns their hashes in nonce order.
export async function send(eth, key, to, value, count, intervalMs = 0) {
  const from = addressOf(key);
  const chainId = BigInt(await rpc(eth, 'eth_chainId'));
  let nonce = BigInt(await rpc(eth, 'eth_getTransactionCount', [from, 'pending']));
  const hashes = [];
  for (let i = 0; i < count; i++) {
    if (i > 0 && intervalMs > 0) await sleep(intervalMs);
    const latest = await rpc(eth, 'eth_getBlockByNumber', ['latest', false]);
    const tx = signTransfer(chainId, key, { nonce, to, value, baseFee: latest.baseFeePerGas });
    const hash = await rpc(eth, 'eth_sendRawTransaction', [bytesToHex(tx.serialize())]);
    if (hash.toLowerCase() !== bytesToHex(tx.hash())) {
      throw new Error(`eth_sendRawTransaction answered ${hash}, the tx hash is ${bytesToHex(tx.hash())}`);
    }
    hashes.push(hash);
    nonce++;
  }
  return hashes;
}

// Waits for every receipt; checks status and that its block holds the tx.
export async function waitReceipts(eth, hashes, timeoutS = 60) {
  const deadline = Date.now() + timeoutS * 1000;
  const receipts = [];
  for (const h of hashes) {
    let r = null;
    for (;;) {
      r = await rpc(eth, 'eth_getTransactionReceipt', [h]);
      if (r !== null) break;
      if (Date.now() > deadline) throw new Error(`no receipt for ${h} within ${timeoutS} s`);
      await sleep(250);
    }
    if (r.status !== '0x1') throw new Error(`tx ${h} failed: receipt status ${r.status}`);
    const block = await rpc(eth, 'eth_getBlockByHash', [r.blockHash, false]);
    if (block === null) throw new Error(`tx ${h}: receipt names block ${r.blockHash}, which the EL does not have`);
    if (!block.transactions.map((t) => t.toLowerCase()).includes(h.toLowerCase())) {
      throw new Error(`tx ${h}: block ${r.blockHash} does not hold it`);
    }
    const canonical = await rpc(eth, 'eth_getBlockByNumber', [r.blockNumber, false]);
    if (canonical?.hash !== r.blockHash) {
      throw new Error(`tx ${h}: its block ${r.blockHash} is not canonical at ${r.blockNumber} (${canonical?.hash})`);
    }
    receipts.push(r);
  }
  return receipts;
}

// The acceptance check described at the top.
export async function transfers(eth, key, { count, to, value, intervalMs, timeoutS }) {
  const from = addressOf(key);
  const dest = to ?? bytesToHex(randomBytes(20));
  if (dest === from) throw new Error('the recipient is the sender');
  const fromBefore = await balance(eth, from);
  const toBefore = await balance(eth, dest);
  const hashes = await send(eth, key, dest, value, count, intervalMs);
  const receipts = await waitReceipts(eth, hashes, timeoutS);
  let fees = 0n;
  for (const r of receipts) {
    if (BigInt(r.gasUsed) !== 21000n) throw new Error(`tx ${r.transactionHash}: gasUsed ${BigInt(r.gasUsed)}, want 21000`);
    if (r.from.toLowerCase() !== from || r.to?.toLowerCase() !== dest) {
      throw new Error(`tx ${r.transactionHash}: receipt from ${r.from} to ${r.to}, want ${from} to ${dest}`);
    }
    // The price paid per gas: base fee + tip, capped at the max fee.
    // (ethereumjs 0.10.5's receipts report only the tip as
    // effectiveGasPrice, so it is computed from the tx and its block.)
    const [tx, block] = await Promise.all([
      rpc(eth, 'eth_getTransactionByHash', [r.transactionHash]),
      rpc(eth, 'eth_getBlockByHash', [r.blockHash, false]),
    ]);
    const baseFee = BigInt(block.baseFeePerGas);
    const price = baseFee + BigInt(tx.maxPriorityFeePerGas) < BigInt(tx.maxFeePerGas)
      ? baseFee + BigInt(tx.maxPriorityFeePerGas)
      : BigInt(tx.maxFeePerGas);
    fees += BigInt(r.gasUsed) * price;
  }
  // Read both balances at the block of the last receipt: later blocks
  // cannot change them (nothing else spends from these accounts).
  const at = receipts[receipts.length - 1].blockNumber;
  const total = value * BigInt(count);
  const toAfter = await balance(eth, dest, at);
  const fromAfter = await balance(eth, from, at);
  if (toAfter - toBefore !== total) {
    throw new Error(`recipient ${dest} balance grew by ${toAfter - toBefore} wei, want ${total}`);
  }
  if (fromBefore - fromAfter !== total + fees) {
    throw new Error(`sender ${from} balance fell by ${fromBefore - fromAfter} wei, want ${total + fees} (value ${total} + fees ${fees})`);
  }
  const blocks = [...new Set(receipts.map((r) => Number(BigInt(r.blockNumber))))];
  return { count, blocks, to: dest, first: hashes[0], last: hashes[hashes.length - 1] };
}

// Compares the canonical chains of two ELs over heights from..to.
export async function compare(ethA, ethB, from, to) {
  let parent = null;
  let last = null;
  for (let h = from; h <= to; h++) {
    const tag = `0x${h.toString(16)}`;
    const [a, b] = await Promise.all([
      rpc(ethA, 'eth_getBlockByNumber', [tag, false]),
      rpc(ethB, 'eth_getBlockByNumber', [tag, false]),
    ]);
    if (a === null || b === null) {
      throw new Error(`height ${h}: ${a === null ? ethA : ethB} has no block`);
    }
    if (a.hash !== b.hash || a.stateRoot !== b.stateRoot) {
      throw new Error(`height ${h} differs: ${ethA} has ${a.hash} (state ${a.stateRoot}), ${ethB} has ${b.hash} (state ${b.stateRoot})`);
    }
    if (parent !== null && a.parentHash !== parent) {
      throw new Error(`height ${h}: parent ${a.parentHash} is not block ${h - 1} (${parent})`);
    }
    parent = a.hash;
    last = a;
  }
  return last;
}

async function main(argv) {
  const [cmd, ...rest] = argv;
  const opts = ['eth', 'key', 'to', 'value', 'count', 'timeout', 'block', 'interval-ms', 'with', 'from'];
  const a = parseArgs(rest, opts);
  if (a.value !== undefined && !/^[0-9]{1,38}$/.test(a.value)) die(`--value: not a decimal amount of wei: ${a.value}`);
  const value = a.value === undefined ? 1000000000000n : BigInt(a.value);
  const needEth = () => {
    if (a.eth === undefined) die(`${cmd}: --eth URL is required`);
    return a.eth;
  };
  switch (cmd) {
    case 'address':
      process.stdout.write(`${addressOf(keyBytes(a.key))}\n`);
      break;
    case 'send': {
      const hashes = await send(needEth(), keyBytes(a.key), address(a.to, 'to'), value,
        posInt(a.count, 1, 'count'), posInt(a['interval-ms'], 0, 'interval-ms'));
      process.stdout.write(hashes.map((h) => `${h}\n`).join(''));
      break;
    }
    case 'wait': {
      if (a._.length === 0) die('wait: no tx hashes');
      const rs = await waitReceipts(needEth(), a._, posInt(a.timeout, 60, 'timeout'));
      process.stdout.write(rs.map((r) => `${r.transactionHash} ${Number(BigInt(r.blockNumber))} ${r.blockHash}\n`).join(''));
      break;
    }
    case 'balance':
      if (a._.length !== 1) die('balance: one address');
      process.stdout.write(`${await balance(needEth(), address(a._[0], 'address'), a.block ?? 'latest')}\n`);
      break;
    case 'transfers': {
      const s = await transfers(needEth(), keyBytes(a.key), {
        count: posInt(a.count, 1, 'count'),
        to: a.to === undefined ? undefined : address(a.to, 'to'),
        value,
        intervalMs: posInt(a['interval-ms'], 0, 'interval-ms'),
        timeoutS: posInt(a.timeout, 60, 'timeout'),
      });
      process.stdout.write(`${JSON.stringify(s)}\n`);
      break;
    }
    case 'compare': {
      if (a.with === undefined) die('compare: --with URL is required');
      const from = posInt(a.from, 0, 'from');
      const to = posInt(a.to, undefined, 'to');
      if (to === undefined || to < from) die('compare: --to N (>= --from) is required');
      const last = await compare(needEth(), a.with, from, to);
      process.stdout.write(`heights ${from}..${to} identical (hash of ${to}: ${last.hash})\n`);
      break;
    }
    default:
      die('usage: tx.mjs address|send|wait|balance|transfers|compare ... (see the top of tx.mjs)');
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  try {
    await main(process.argv.slice(2));
  } catch (e) {
    die(e.message);
  }
}
