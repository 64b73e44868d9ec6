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
// - cold: single caller / cold burst: time to all / cold burst: token
//   requests: one token call on a fresh client and an empty cache, then
//   1,000 concurrent ones (Promise.all), plain and with every token
//   response delayed 50 ms (as bench/cmd/measure's coldOnce);
// - refresh stall (token endpoint +500 ms): 64 callers, one token call per
//   ms each, from before the refresh window opens until a new token has
//   been issued: the longest call, the calls that took at least 250 ms and
//   the token requests (as bench/cmd/measure's stallOnce).
// The two sides alternate over BENCH_RUNS rounds; the table shows medians.
// BENCH_SMOKE=1: one round, short durations, a 20-caller burst, 8 callers
// and a 100 ms delay in the stall, only to check that the script still runs.
//
// The SDK's getHeaders derives a PBKDF2 key (100,000 iterations, with
// pbkdf2Sync, for the name of its SaaS 401 "tarpit" file) on every call
// that finds no cached token, before it joins the token request in flight,
// blocking the event loop each time: its cold burst pays one PBKDF2 per
// caller, one after another, and its refresh stall lasts until the
// callers' PBKDF2s let the refresh request through (docs/BENCHMARKS.md).
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

const SMOKE = process.env.BENCH_SMOKE === '1';
const ROUNDS = SMOKE ? 1 : Number(process.env.BENCH_RUNS || 5);
const TOKEN_MS = SMOKE ? 50 : Number(process.env.BENCH_TOKEN_MS || 500);
const TOPO_MS = SMOKE ? 100 : Number(process.env.BENCH_TOPOLOGY_MS || 1000);
const WARMUP = SMOKE ? 200 : 2000;
const CONCURRENCY = 64;
const BURST = SMOKE ? 20 : 1000; // callers in the cold burst
const COLD_DELAY = 50; // ms, the delayed variant of the cold burst
const STALL_DELAY = SMOKE ? 100 : 500; // ms added to every token response in the stall
const STALL_CALLERS = SMOKE ? 8 : 64;
// zbauth refreshes in the background from the last quarter of a token's
// life (less a skew allowance of min(1 s, life/10), core/token.go lifetime): a 4 s token
// is refreshed at 2.7 s, and the callers start at half its life.
const STALL_LIFE_OURS = SMOKE ? 2 : 4; // s

for (const k of ['ZEEBE_CLIENT_ID', 'ZEEBE_CLIENT_SECRET', 'ZEEBE_AUTHORIZATION_SERVER_URL', 'ZEEBE_REST_ADDRESS', 'ZBAUTH_DEV_URL']) {
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
const newSdk = () => new OAuthProvider({
  config: {
    CAMUNDA_AUTH_STRATEGY: 'OAUTH',
    CAMUNDA_OAUTH_URL: env.ZEEBE_AUTHORIZATION_SERVER_URL,
    ZEEBE_CLIENT_ID: env.ZEEBE_CLIENT_ID,
    ZEEBE_CLIENT_SECRET: env.ZEEBE_CLIENT_SECRET,
    ZEEBE_TOKEN_AUDIENCE: env.ZEEBE_TOKEN_AUDIENCE || 'zeebe.camunda.io',
    CAMUNDA_TOKEN_DISK_CACHE_DISABLE: true,
  },
});
const sdk = newSdk();
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

// ---- the dev cluster's control API (bindings/node/test/helpers.js) ----

const { dev, stats: devStats, reset: devReset, fault } = require('../test/helpers.js').control(env.ZBAUTH_DEV_URL.replace(/\/$/, ''));
// reset clears faults, counters and the token lifetime
const devDelay = (ms) => fault({ target: 'token', delay_ms: ms });
const sleep = (ms) => new Promise((r) => setTimeout(r, Math.max(0, ms)));
const elapsedMs = (t0) => Number(process.hrtime.bigint() - t0) / 1e6;

// ---- cold cache and refresh: fresh clients of either side ----

// A fresh client and its token call; close() releases it.
function fresh(s) {
  if (s === 'ours') {
    const c = new zbauth.Client();
    return { tok: () => c.token(), close: () => c.close() };
  }
  const p = newSdk();
  return { tok: () => p.getHeaders('ZEEBE'), close: () => {} };
}

// One cold run (bench/cmd/measure coldOnce): a single caller on a fresh
// client, then BURST callers started at once on another fresh client; the
// dev cluster is reset (and the token endpoint delayed by delay ms) before
// each. Returns { single, all, requests } (ms, ms, token requests).
async function coldOnce(s, delay) {
  const prepare = async () => {
    await devReset();
    if (delay > 0) await devDelay(delay);
  };
  await prepare();
  let c = fresh(s);
  let t0 = process.hrtime.bigint();
  await c.tok();
  const single = elapsedMs(t0);
  c.close();

  await prepare();
  c = fresh(s);
  const calls = new Array(BURST);
  t0 = process.hrtime.bigint();
  for (let i = 0; i < BURST; i++) calls[i] = c.tok();
  await Promise.all(calls);
  const all = elapsedMs(t0);
  c.close();
  const st = await devStats();
  return { single, all, requests: st.token_requests };
}

// watch runs callers async loops, each calling f about once a millisecond
// until stop() is true, and returns the longest single call (ms), the
// calls that took at least slowMs, and the calls made (bench/cmd/measure
// watch).
async function watch(f, callers, stop, slowMs) {
  let worst = 0;
  let blocked = 0;
  let n = 0;
  const loop = async () => {
    while (!stop()) {
      const t = process.hrtime.bigint();
      await f();
      const e = elapsedMs(t);
      if (e > worst) worst = e;
      if (e >= slowMs) blocked++;
      n++;
      await sleep(1);
    }
  };
  await Promise.all(Array.from({ length: callers }, loop));
  return { worst, blocked, n };
}

// One refresh-stall run (bench/cmd/measure stallOnce): a token of life
// seconds fills a fresh client's cache, every later token response is
// delayed by STALL_DELAY, and from enter seconds after the fill
// STALL_CALLERS callers ask for tokens until the dev cluster has issued a
// new one (and STALL_DELAY/5 more).
async function stallOnce(s, life, enter) {
  await devReset();
  await dev('POST', '/_dev/config', { token_lifetime_s: life });
  const c = fresh(s);
  try {
    const filled = Date.now();
    await c.tok();
    await devDelay(STALL_DELAY);
    await sleep(filled + enter * 1000 - Date.now());
    const before = await devStats();
    const t0 = process.hrtime.bigint();
    let stopped = false;
    const refreshed = (async () => {
      // Until the token expires, as bench/cmd/measure, and then some: the
      // SDK's own callers hold its refresh back (see the top of the file).
      const limit = Date.now() + (life - enter) * 1000 + 30000;
      try {
        while (Date.now() < limit) {
          await sleep(10);
          const st = await devStats();
          if (st.tokens_issued > before.tokens_issued) {
            await sleep(STALL_DELAY / 5);
            return true;
          }
        }
        return false;
      } finally {
        stopped = true;
      }
    })();
    const w = await watch(c.tok, STALL_CALLERS, () => stopped, STALL_DELAY / 2);
    const watched = elapsedMs(t0);
    if (!(await refreshed)) throw new Error(`refresh stall (${s}): no new token was issued within 30 s after the token expired`);
    await dev('DELETE', '/_dev/faults');
    const after = await devStats();
    return { ...w, watched, requests: after.token_requests - before.token_requests };
  } finally {
    c.close();
  }
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
for (let i = 0; i < WARMUP; i++) {
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
    unit: 'ns/call', lowerIsBetter: true, // its target is the report's
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

// cold burst, plain and with the token endpoint delayed
const coldTag = (d) => (d > 0 ? ` (token endpoint +${d} ms)` : '');
const extra = []; // { name, unit, note, baseline?, sdkNote?, runs: { ours: [], sdk: [] } }
const extraRow = (name, unit, fields = {}) => {
  const r = { name, unit, ...fields, runs: { ours: [], sdk: [] } };
  extra.push(r);
  return r;
};
for (const d of [0, COLD_DELAY]) {
  const tag = coldTag(d);
  const single = extraRow('cold: single caller' + tag, 'ms', {
    note: 'one token call on a fresh client, empty cache (connection set-up included)',
  });
  const all = extraRow('cold burst: time to all' + tag, 'ms', {
    baseline: single.name,
    note: `${BURST} token calls started at once on a fresh client's empty cache (Promise.all), until the last resolves; ratio vs the same library's single caller`,
    sdkNote: `${BURST} getHeaders calls started at once on a fresh provider's empty cache (Promise.all), until the last resolves; ` +
      'each call that finds no cached token runs pbkdf2Sync (100,000 iterations, for its SaaS 401 tarpit file name) before joining the request in flight',
  });
  const reqs = extraRow('cold burst: token requests' + tag, 'requests', {
    note: `${BURST} concurrent callers, empty cache: token requests the dev cluster received`,
  });
  for (let i = 0; i < ROUNDS; i++) {
    for (const s of i % 2 ? ['sdk', 'ours'] : ['ours', 'sdk']) {
      const r = await coldOnce(s, d);
      single.runs[s].push(r.single);
      all.runs[s].push(r.all);
      reqs.runs[s].push(r.requests);
    }
  }
}

// refresh stall. The SDK refreshes in the caller's path once a token has
// less than CAMUNDA_OAUTH_TOKEN_REFRESH_THRESHOLD_MS (refreshWindow, 1000 ms
// by default) left before its JWT exp, which is whole seconds, rounded
// down: a token of life margin+3 s (margin+2 in smoke mode) is refreshed 2
// to 3 s (1 to 2 s) after it was fetched, so its callers start at 1 s
// (0.5 s), surely before the window opens.
const sdkMarginS = Math.ceil((Number(sdk.refreshWindow) || 0) / 1000);
const stallSides = {
  ours: { life: STALL_LIFE_OURS, enter: STALL_LIFE_OURS / 2 },
  sdk: { life: sdkMarginS + (SMOKE ? 2 : 3), enter: SMOKE ? 0.5 : 1 },
};
const stallTag = ` (token endpoint +${STALL_DELAY} ms)`;
const stallNote = (s) => {
  const { life, enter } = stallSides[s];
  const when = s === 'ours'
    ? 'zbauth refreshes in the background from the last quarter of its life'
    : `the SDK refreshes in getHeaders once less than its refreshWindow (${sdk.refreshWindow} ms) is left before the JWT's exp`;
  return `${STALL_CALLERS} callers, one call per ms each, from ${enter} s after the fill until a new token has been issued (and ${STALL_DELAY / 5} ms more); ` +
    `token lifetime ${life} s (${when})`;
};
const worst = extraRow('refresh stall: longest wait' + stallTag, 'ms', {
  note: stallNote('ours'),
  sdkNote: stallNote('sdk') + '; while no token is cached every getHeaders call runs pbkdf2Sync (100,000 iterations) first, ' +
    'which blocks the event loop and delays the refresh request itself',
});
const blocked = extraRow('refresh stall: calls blocked' + stallTag, 'calls', {
  note: `calls that took at least half the delay (${STALL_DELAY / 2} ms)`,
});
const made = extraRow('refresh stall: calls made' + stallTag, 'calls');
const watched = extraRow('refresh stall: time watched' + stallTag, 'ms');
const stallReqs = extraRow('refresh stall: token requests' + stallTag, 'requests');
for (let i = 0; i < ROUNDS; i++) {
  for (const s of i % 2 ? ['sdk', 'ours'] : ['ours', 'sdk']) {
    const r = await stallOnce(s, stallSides[s].life, stallSides[s].enter);
    worst.runs[s].push(r.worst);
    blocked.runs[s].push(r.blocked);
    made.runs[s].push(r.n);
    watched.runs[s].push(r.watched);
    stallReqs.runs[s].push(r.requests);
  }
}
await devReset();

// ---- report ----

const fmt = (x) => (x >= 100 ? Math.round(x).toLocaleString('en-US') : Number.isInteger(x) ? String(x) : x.toFixed(1));
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
const xrows = extra.map((r) => [`${r.name} (${r.unit})`, fmt(median(r.runs.ours)), fmt(median(r.runs.sdk))]);
const xhead = ['', 'zbauth', `@camunda8/sdk ${sdkPkg.version}`];
const xwidths = xhead.map((h, i) => Math.max(h.length, ...xrows.map((r) => r[i].length)));
const xline = (cells) => cells.map((c, i) => (i ? c.padStart(xwidths[i]) : c.padEnd(xwidths[i]))).join('  ');
console.log(`== cold cache and refresh stall (fresh clients, medians of ${ROUNDS} alternating rounds${SMOKE ? ', smoke mode' : ''})`);
console.log(xline(xhead));
for (const r of xrows) console.log(xline(r));

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
  const sdkSame = `@camunda8/sdk ${sdkPkg.version} OAuthProvider.getHeaders('ZEEBE'), same process and dev cluster, rounds alternating with zbauth's`;
  for (const r of extra) {
    const base = { name: r.name, unit: r.unit, ...(r.baseline ? { baseline: r.baseline } : {}) };
    json.push({ surface: 'node', ...base, runs: r.runs.ours, ...(r.note ? { note: `${r.note}; await client.token()` } : {}) });
    json.push({ surface: 'node-sdk', ...base, runs: r.runs.sdk, note: [r.sdkNote ?? r.note, sdkSame].filter(Boolean).join('; ') });
  }
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, JSON.stringify(json, null, 2) + '\n');
  console.log(`wrote ${out}`);
}
ours.close();
process.exit(0);
