// A minimal consensus-side driver of the Engine API for the EVM tests: the
// calls blockv2's executor makes for one block (spec evm-engine.md §2),
// without ev-node's bookkeeping. Used to test preload.mjs against a real
// ethereumjs; blockv2 itself is tested end to end by the e2e scripts.
import { rpc } from './el.mjs';

const ZERO32 = `0x${'00'.repeat(32)}`;

export class EngineDriver {
  constructor(engineUrl, ethUrl, secret) {
    this.engineUrl = engineUrl;
    this.ethUrl = ethUrl;
    this.secret = secret;
  }

  engine(method, params) {
    return rpc(this.engineUrl, method, params, { jwt: this.secret });
  }

  eth(method, params) {
    return rpc(this.ethUrl, method, params);
  }

  block(tag) {
    return this.eth('eth_getBlockByNumber', [tag, false]);
  }

  async forkchoice(head, attrs = null, { safe = head, finalized = head } = {}) {
    return this.engine('engine_forkchoiceUpdatedV3', [
      { headBlockHash: head, safeBlockHash: safe, finalizedBlockHash: finalized }, attrs,
    ]);
  }

  // Payload attributes on `parent` the way ev-node sends them: timestamp
  // and gasLimit as JSON numbers, plus the tx list (when txs is given).
  attributes(parent, { txs, gasLimit, timestamp, feeRecipient } = {}) {
    const attrs = {
      timestamp: timestamp ?? Number(BigInt(parent.timestamp)) + 1,
      prevRandao: `0x${Number(BigInt(parent.number) + 1n).toString(16).padStart(64, '0')}`,
      suggestedFeeRecipient: feeRecipient ?? `0x${'00'.repeat(20)}`,
      withdrawals: [],
      parentBeaconBlockRoot: ZERO32,
    };
    if (txs !== undefined) attrs.transactions = txs;
    if (gasLimit !== undefined) attrs.gasLimit = gasLimit;
    return attrs;
  }

  // fcU with attributes on parent → getPayloadV4 → newPayloadV4; does not
  // move the head. Returns { payloadId, payload (getPayloadV4's reply) }.
  async build(parentHash, opts = {}) {
    const parent = await this.eth('eth_getBlockByHash', [parentHash, false]);
    const fcu = await this.forkchoice(parentHash, this.attributes(parent, opts));
    if (fcu.payloadStatus.status !== 'VALID' || fcu.payloadId === null) {
      throw new Error(`forkchoiceUpdatedV3 with attributes: ${JSON.stringify(fcu)}`);
    }
    const payload = await this.engine('engine_getPayloadV4', [fcu.payloadId]);
    return { payloadId: fcu.payloadId, payload };
  }

  async submit(payload) {
    const st = await this.engine('engine_newPayloadV4', [
      payload.executionPayload, [], ZERO32, payload.executionRequests ?? [],
    ]);
    return st;
  }

  // One whole block on the current head; returns the new head's payload.
  async next(opts = {}) {
    const head = await this.block('latest');
    const { payload } = await this.build(head.hash, opts);
    const st = await this.submit(payload);
    if (st.status !== 'VALID') throw new Error(`newPayloadV4: ${JSON.stringify(st)}`);
    const fcu = await this.forkchoice(payload.executionPayload.blockHash);
    if (fcu.payloadStatus.status !== 'VALID') throw new Error(`forkchoiceUpdatedV3: ${JSON.stringify(fcu)}`);
    return payload.executionPayload;
  }
}
