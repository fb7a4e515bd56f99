// Starts and stops a test execution client: @ethereumjs/client with
// preload.mjs, on 127.0.0.1 only. Run through el.sh (see README.md):
//
//   el.sh start --genesis FILE --jwt FILE --dir DIR [--timeout S]
//       Starts the EL in the background (in the caller's process group)
//       with its data in DIR/data and its log appended to DIR/el.log;
//       returns once both ports answer (the engine port with a JWT made
//       from the --jwt secret) and prints
//           ENGINE_URL=http://127.0.0.1:P1
//           ETH_URL=http://127.0.0.1:P2
//           PID=N
//           GENESIS_HASH=0x…
//       (also written to DIR/el.env). The first start in DIR takes
//       kernel-chosen ports; a later start in the same DIR (a restart)
//       reuses the ports recorded in DIR/el.env, so URLs stay valid.
//       Exits 1 with the log's last lines when the EL dies or does not
//       answer within --timeout seconds (default 120), after killing it.
//   el.sh stop DIR [--timeout S]
//       SIGINT (ethereumjs's clean shutdown, ~8 s), then SIGKILL after S
//       seconds (default 30). Succeeds when nothing runs.
//   el.sh jwt FILE
//       Writes a fresh random 32-byte hex JWT secret to FILE (mode 0600).
import { spawn } from 'node:child_process';
import { createHmac, randomBytes } from 'node:crypto';
import {
  existsSync, mkdirSync, openSync, readFileSync, renameSync, closeSync, writeFileSync, rmSync,
} from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const clientCli = join(here, 'node_modules/@ethereumjs/client/dist/esm/bin/cli.js');
const preload = pathToFileURL(join(here, 'preload.mjs')).href;
// Placeholder ports the preload replaces by kernel-chosen ones.
const ETH_PLACEHOLDER = 1;
const ENGINE_PLACEHOLDER = 2;

// The command-line helpers of el.mjs and tx.mjs: die(msg) prints
// "<name>: msg" and exits 1; parseArgs(argv, spec) takes "--key value" for
// the keys in spec and collects the other words in `_`.
export function cli(name) {
  const die = (msg) => {
    process.stderr.write(`${name}: ${msg}\n`);
    process.exit(1);
  };
  const parseArgs = (argv, spec) => {
    const out = { _: [] };
    for (let i = 0; i < argv.length; i++) {
      const a = argv[i];
      if (!a.startsWith('--')) {
        out._.push(a);
        continue;
      }
      const key = a.slice(2);
      if (!spec.includes(key)) die(`unknown option ${a}`);
      if (i + 1 >= argv.length) die(`option ${a} needs a value`);
      out[key] = argv[++i];
    }
    return out;
  };
  return { die, parseArgs };
}

const { die, parseArgs } = cli('el');

function seconds(v, dflt, name) {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0 || n > 3600) die(`--${name}: not a number of seconds in (0, 3600]: ${v}`);
  return n;
}

// The 32-byte secret of a JWT file: 64 hex digits, optional 0x, spaces.
export function readJwtSecret(file) {
  let text;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new Error(`cannot read JWT secret file '${file}': ${e.code ?? e.message}`);
  }
  const hex = text.trim().replace(/^0x/, '');
  if (!/^[0-9a-fA-F]{64}$/.test(hex)) {
    throw new Error(`JWT secret file '${file}' does not hold 64 hex digits`);
  }
  return Buffer.from(hex, 'hex');
}

export function jwtToken(secret) {
  const b64 = (obj) => Buffer.from(JSON.stringify(obj)).toString('base64url');
  const body = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64({ iat: Math.floor(Date.now() / 1000) })}`;
  return `${body}.${createHmac('sha256', secret).update(body).digest('base64url')}`;
}

// One JSON-RPC call; resolves to the result, rejects with an Error whose
// message names the method and the failure. Used by tx.mjs as well.
export async function rpc(url, method, params = [], { jwt, timeoutMs = 10000 } = {}) {
  const headers = { 'content-type': 'application/json' };
  if (jwt !== undefined) headers.authorization = `Bearer ${jwtToken(jwt)}`;
  let res;
  try {
    res = await fetch(url, {
      method: 'POST',
      headers,
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }),
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (e) {
    throw new Error(`${method} at ${url}: ${e.cause?.code ?? e.message}`);
  }
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} at ${url}: HTTP ${res.status} ${text.slice(0, 200)}`);
  let msg;
  try {
    msg = JSON.parse(text);
  } catch {
    throw new Error(`${method} at ${url}: reply is not JSON: ${text.slice(0, 200)}`);
  }
  if (msg.error) {
    const err = new Error(`${method}: ${msg.error.message} (code ${msg.error.code})`);
    err.code = msg.error.code;
    throw err;
  }
  return msg.result;
}

function alive(pid) {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  // A zombie has exited; it only waits for its parent to reap it.
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

function isOurEl(pid, dataDir) {
  try {
    const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    return cmd.includes(clientCli) && cmd.includes(dataDir);
  } catch {
    return false;
  }
}

function readEnv(file) {
  const env = {};
  if (!existsSync(file)) return env;
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const m = /^([A-Z_]+)=(.*)$/.exec(line);
    if (m) env[m[1]] = m[2];
  }
  return env;
}

function writeAtomic(file, text) {
  writeFileSync(`${file}.tmp`, text);
  renameSync(`${file}.tmp`, file);
}

function tail(file, n = 25) {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-n).join('\n');
  } catch {
    return '(no log)';
  }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function start(argv) {
  const a = parseArgs(argv, ['genesis', 'jwt', 'dir', 'timeout']);
  for (const k of ['genesis', 'jwt', 'dir']) if (a[k] === undefined) die(`start: --${k} is required`);
  const timeout = seconds(a.timeout, 120, 'timeout');
  const dir = resolve(a.dir);
  const genesis = resolve(a.genesis);
  const jwtFile = resolve(a.jwt);
  if (!existsSync(clientCli)) die(`${clientCli} is missing: run scripts/npm-ci.sh install tests/evm`);
  if (!existsSync(genesis)) die(`genesis file '${genesis}' not found`);
  let secret;
  try {
    secret = readJwtSecret(jwtFile);
  } catch (e) {
    die(e.message);
  }
  mkdirSync(dir, { recursive: true });
  const dataDir = join(dir, 'data');
  const envFile = join(dir, 'el.env');
  const portsFile = join(dir, 'ports');
  const logFile = join(dir, 'el.log');
  const prev = readEnv(envFile);
  const prevPid = Number(prev.PID);
  if (prevPid > 0 && alive(prevPid) && isOurEl(prevPid, dataDir)) {
    die(`an EL already runs in ${dir} (pid ${prevPid}); stop it first`);
  }
  const portOf = (url) => Number(new URL(url).port);
  const ethPort = prev.ETH_URL ? portOf(prev.ETH_URL) : ETH_PLACEHOLDER;
  const enginePort = prev.ENGINE_URL ? portOf(prev.ENGINE_URL) : ENGINE_PLACEHOLDER;
  rmSync(portsFile, { force: true });

  const args = [
    '--import', preload, clientCli,
    '--gethGenesis', genesis, '--dataDir', dataDir,
    '--rpc', '--rpcAddr', '127.0.0.1', '--rpcPort', String(ethPort),
    '--rpcEngine', '--rpcEngineAddr', '127.0.0.1', '--rpcEnginePort', String(enginePort),
    '--jwtSecret', jwtFile,
    '--maxPeers', '0', '--discV4', 'false', '--discDns', 'false',
    '--isSingleNode', '--logFile', 'false',
  ];
  const log = openSync(logFile, 'a');
  writeFileSync(log, `--- el.mjs start ${new Date().toISOString()}\n`);
  // Not detached: the EL stays in the caller's process group, so a test
  // runner that kills the group on a timeout stops it too.
  const child = spawn(process.execPath, args, {
    cwd: dir,
    detached: false,
    stdio: ['ignore', log, log],
    env: { ...process.env, BM_EL_PORTS_FILE: portsFile },
  });
  closeSync(log);
  let exited = null;
  child.on('exit', (code, sig) => { exited = sig ?? code; });
  child.unref();
  const pid = child.pid;
  const fail = (why) => {
    try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
    die(`${why}\n--- last lines of ${logFile}:\n${tail(logFile)}`);
  };

  const deadline = Date.now() + timeout * 1000;
  let ports = {};
  while (ports[ethPort] === undefined || ports[enginePort] === undefined) {
    if (exited !== null) fail(`ethereumjs exited (${exited}) before listening`);
    if (Date.now() > deadline) fail(`ethereumjs did not listen within ${timeout} s`);
    await sleep(100);
    ports = {};
    if (existsSync(portsFile)) {
      for (const line of readFileSync(portsFile, 'utf8').split('\n')) {
        const [req, actual] = line.split(' ').map(Number);
        if (req > 0 && actual > 0) ports[req] = actual;
      }
    }
  }
  const ethUrl = `http://127.0.0.1:${ports[ethPort]}`;
  const engineUrl = `http://127.0.0.1:${ports[enginePort]}`;
  let genesisHash;
  for (;;) {
    if (exited !== null) fail(`ethereumjs exited (${exited}) while starting`);
    try {
      await rpc(engineUrl, 'engine_exchangeCapabilities', [[]], { jwt: secret, timeoutMs: 3000 });
      genesisHash = (await rpc(ethUrl, 'eth_getBlockByNumber', ['0x0', false], { timeoutMs: 3000 })).hash;
      break;
    } catch (e) {
      if (Date.now() > deadline) fail(`ethereumjs did not answer within ${timeout} s: ${e.message}`);
      await sleep(200);
    }
  }
  const env = `ENGINE_URL=${engineUrl}\nETH_URL=${ethUrl}\nPID=${pid}\nGENESIS_HASH=${genesisHash}\n`;
  writeAtomic(envFile, env);
  process.stdout.write(env);
  process.exit(0);
}

async function stop(argv) {
  const a = parseArgs(argv, ['timeout']);
  if (a._.length !== 1) die('usage: el.sh stop DIR [--timeout S]');
  const timeout = seconds(a.timeout, 30, 'timeout');
  const dir = resolve(a._[0]);
  const pid = Number(readEnv(join(dir, 'el.env')).PID);
  if (!(pid > 0) || !alive(pid)) return;
  if (!isOurEl(pid, join(dir, 'data'))) die(`pid ${pid} in ${dir}/el.env is not this EL; not signalling it`);
  process.kill(pid, 'SIGINT');
  const deadline = Date.now() + timeout * 1000;
  while (alive(pid)) {
    if (Date.now() > deadline) {
      process.stderr.write(`el: pid ${pid} still runs ${timeout} s after SIGINT: SIGKILL\n`);
      process.kill(pid, 'SIGKILL');
      break;
    }
    await sleep(100);
  }
}

function jwt(argv) {
  if (argv.length !== 1) die('usage: el.sh jwt FILE');
  writeFileSync(argv[0], `${randomBytes(32).toString('hex')}\n`, { mode: 0o600 });
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const [cmd, ...rest] = process.argv.slice(2);
  if (cmd === 'start') await start(rest);
  else if (cmd === 'stop') await stop(rest);
  else if (cmd === 'jwt') jwt(rest);
  else die('usage: el.sh start --genesis FILE --jwt FILE --dir DIR [--timeout S] | stop DIR [--timeout S] | jwt FILE');
}
