// Benchmark: zbauth's Node binding against the official Camunda 8 SDK
// (@camunda8/sdk's OAuthProvider, plus fetch for the topology), side by
// side against the same dev cluster, in one process.
//
//   zbauth dev-cluster -- node bench/bench.mjs [out.json]
//
// - token cached: the per-call cost of a cached token (ours: await
//   client.token(); the SDK: await provider.getHeaders('ZEEBE')), ns/call;
// - topology sequential / topology 64 workers: GET /v1/topology throughput
//   (ours: client.topology(); the SDK: getHeaders + fetch + res.json()),
//   one caller and 64 concurrent callers, calls/s.
// The two sides alternate over BENCH_RUNS rounds; the table shows medians.
// out.json gets rows in bench/README.md's format (surfaces "node" and
// "node-sdk"), which `make bench-report` merges into docs/BENCHMARKS.md.
import { createRequire } from 'node:module';
import { writeFileSync, mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import os from 'node:os';

const require = createRequire(import.meta.url);
const here = dirname(fileURLToPath(import.meta.url));
const zbauth = require(resolve(here, '..', 'index.js'));

const ROUNDS = Number(process.env.BENCH_RUNS || 5);
const TOKEN_MS = Number(process.env.BENCH_TOKEN_MS || 500);
const TOPO_MS = Number(process.env.BENCH_TOPOLOGY_MS || 1000);
const CONCURRENCY = 64;

for (const k of ['ZEEBE_CLIENT_ID', 'ZEEBE_CLIENT_SECRET', 'ZEEBE_AUTHORIZATION_SERVER_URL', 'ZEEBE_REST_ADDRESS']) {
  if (!process.env[k]) {
    console.error(`bench: ${k} is not set: run under \`zbauth dev-cluster --\``);
    process.exit(2);
  }
}
const env = process.env;

// ---- the two sides ----

const ours = new zbauth.Client();
const oursTopology = () => ours.topology();
const oursToken = () => ours.token();

process.env.CAMUNDA_TOKEN_DISK_CACHE_DISABLE = 'true';
const sdkPkg = require('@camunda8/sdk/package.json');
const { OAuthProvider } = require('@camunda8/sdk/dist/oauth');
const sdk = new OAuthProvider({
  config: {
    CAMUNDA_AUTH_STRATEGY: 'OAUTH',
    CAMUNDA_OAUTH_URL: env.ZEEBE_AUTHORIZATION_SERVER_URL,
    ZEEBE_CLIENT_ID: env.ZEEBE_CLIENT_ID,
    ZEEBE_CLIENT_SECRET: env.ZEEBE_CLIENT_SECRET,
    ZEEBE_TOKEN_AUDIENCE: env.ZEEBE_TOKEN_AUDIENCE || 'zeebe.camunda.io',
    CAMUNDA_TOKEN_DISK_CACHE_DISABLE: true,
  },
});
const topologyURL = env.ZEEBE_REST_ADDRESS.replace(/\/$/, '') + '/v1/topology';
const sdkToken = () => sdk.getHeaders('ZEEBE');
async function sdkTopology() {
  const headers = await sdk.getHeaders('ZEEBE');
  const res = await fetch(topologyURL, { headers: { ...headers, accept: 'application/json' } });
  if (!res.ok) throw new Error(`topology: HTTP ${res.status}`);
  return res.json();
}

// ---- measurement ----

async function tokenRound(fn) {
  let calls = 0;
  const end = Date.now() + TOKEN_MS;
  const t0 = process.hrtime.bigint();
  do {
    for (let i = 0; i < 500; i++) await fn();
    calls += 500;
  } while (Date.now() < end);
  return Number(process.hrtime.bigint() - t0) / calls; // ns per call
}

async function topologyRound(fn, concurrency) {
  let calls = 0;
  const t0 = process.hrtime.bigint();
  const end = Date.now() + TOPO_MS;
  const loop = async () => {
    while (Date.now() < end) {
      const t = await fn();
      if (t.clusterSize !== 3) throw new Error('unexpected topology');
      calls++;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, loop));
  return calls / (Number(process.hrtime.bigint() - t0) / 1e9); // calls per second
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function compare(name, round) {
  const r = { ours: [], sdk: [] };
  for (let i = 0; i < ROUNDS; i++) {
    // alternate which side goes first
    const order = i % 2 ? ['sdk', 'ours'] : ['ours', 'sdk'];
    for (const side of order) r[side].push(await round(side));
  }
  return { name, ours: median(r.ours), sdk: median(r.sdk), rounds: r };
}

// warm up: fetch and cache both tokens, open connections, let the JIT work
for (let i = 0; i < 2000; i++) {
  await oursToken();
  await sdkToken();
}
await Promise.all(Array.from({ length: CONCURRENCY }, () => oursTopology()));
await Promise.all(Array.from({ length: CONCURRENCY }, () => sdkTopology()));

const features = zbauth[Symbol.for('zbauth.internal')].features();
const tokenPath = features.tokenNowait
  ? 'served synchronously when cached (zbauth_client_token_nowait)'
  : 'every call through the thread pool (this libzbauth has no zbauth_client_token_nowait)';
const side = (s, a, b) => (s === 'ours' ? a : b);
const results = [
  {
    ...(await compare('token cached', (s) => tokenRound(side(s, oursToken, sdkToken)))),
    unit: 'ns/call', lowerIsBetter: true,
    target: "no slower than @camunda8/sdk's cached getHeaders", ratio_max: 1,
    note: `await client.token() vs await OAuthProvider.getHeaders('ZEEBE'); token() ${tokenPath}`,
  },
  {
    ...(await compare('topology sequential', (s) => topologyRound(side(s, oursTopology, sdkTopology), 1))),
    unit: 'calls/s', target: "at least @camunda8/sdk's (getHeaders + fetch)", ratio_min: 1,
    note: 'one caller, await client.topology() vs getHeaders + fetch + res.json()',
  },
  {
    ...(await compare(`topology ${CONCURRENCY} workers`, (s) => topologyRound(side(s, oursTopology, sdkTopology), CONCURRENCY))),
    unit: 'calls/s', target: "at least @camunda8/sdk's (getHeaders + fetch)", ratio_min: 1,
    note: `${CONCURRENCY} concurrent callers on one client`,
  },
];

// ---- report ----

const fmt = (x) => (x >= 100 ? Math.round(x).toLocaleString('en-US') : x.toFixed(1));
const rows = results.map((r) => {
  const ratio = r.lowerIsBetter ? r.sdk / r.ours : r.ours / r.sdk;
  return [`${r.name} (${r.unit})`, fmt(r.ours), fmt(r.sdk), `${ratio.toFixed(2)}x`, ratio >= 1 ? 'met' : 'MISSED'];
});
const head = ['', 'zbauth', `@camunda8/sdk ${sdkPkg.version}`, 'zbauth vs sdk', 'target'];
const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
const line = (cells) => cells.map((c, i) => (i ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  ');
console.log(`== Node binding vs @camunda8/sdk (Node ${process.version}, ${os.cpus().length} CPUs, ` +
  `load ${os.loadavg()[0].toFixed(1)}, medians of ${ROUNDS} alternating rounds)`);
console.log(line(head));
for (const r of rows) console.log(line(r));
console.log(`token(): ${tokenPath}`);

const out = process.argv[2];
if (out) {
  const json = [];
  for (const r of results) {
    json.push({
      surface: 'node', name: r.name, unit: r.unit, runs: r.rounds.ours,
      baseline: `node-sdk/${r.name}`, target: r.target,
      ...(r.ratio_max ? { ratio_max: r.ratio_max } : {}), ...(r.ratio_min ? { ratio_min: r.ratio_min } : {}),
      note: r.note,
    });
    json.push({
      surface: 'node-sdk', name: r.name, unit: r.unit, runs: r.rounds.sdk,
      note: `@camunda8/sdk ${sdkPkg.version}, same process and dev cluster, rounds alternating with zbauth's`,
    });
  }
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, JSON.stringify(json, null, 2) + '\n');
  console.log(`wrote ${out}`);
}
ours.close();
process.exit(0);
