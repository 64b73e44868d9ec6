'use strict';
// The Node binding against a real dev cluster: success path, configuration,
// every error code, closed clients, concurrency.

const { test, before, after, beforeEach } = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { startCluster, closedPort, runNode, cleanEnv, PKG } = require('./helpers');

const zbauth = require('..');
const { Client, ZbauthError } = zbauth;

let cluster;
let opts; // explicit options for the cluster

before(async () => {
  cluster = await startCluster();
  opts = {
    clientId: cluster.env.ZEEBE_CLIENT_ID,
    clientSecret: cluster.env.ZEEBE_CLIENT_SECRET,
    authorizationServerUrl: cluster.env.ZEEBE_AUTHORIZATION_SERVER_URL,
    audience: cluster.env.ZEEBE_TOKEN_AUDIENCE,
    restAddress: cluster.env.ZEEBE_REST_ADDRESS,
  };
});

after(async () => {
  if (cluster) await cluster.stop();
});

beforeEach(async () => {
  await cluster.reset();
});

/** Asserts that p rejects with a ZbauthError of the given code; returns it. */
async function rejectsWith(p, code) {
  let err;
  try {
    await p;
  } catch (e) {
    err = e;
  }
  assert.ok(err, `expected a ZbauthError ${code}, got a result`);
  assert.ok(err instanceof ZbauthError, `expected a ZbauthError, got ${err && err.stack}`);
  assert.ok(err instanceof Error);
  assert.equal(err.name, 'ZbauthError');
  assert.equal(err.code, code, `code: ${err.message}`);
  assert.match(err.message, /^zbauth: /);
  return err;
}

function throwsWith(fn, code) {
  let err;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof ZbauthError, `expected a ZbauthError ${code}, got ${err}`);
  assert.equal(err.code, code, err.message);
  return err;
}

test('version and library path', () => {
  assert.match(zbauth.version(), /^\d+\.\d+\.\d+/);
  assert.equal(zbauth.version(), require('../package.json').version);
  const lib = zbauth.libraryPath();
  assert.ok(path.isAbsolute(lib));
  assert.ok(lib.startsWith(PKG) || lib === process.env.ZBAUTH_LIBRARY, lib);
});

test('success path with explicit camelCase options', async () => {
  const c = new Client({ ...opts, timeoutMs: 5000 });
  const tok = await c.token();
  assert.equal(typeof tok, 'string');
  assert.ok(tok.length > 20);
  assert.equal(await c.token(), tok, 'cached');

  const topo = await c.topology();
  assert.equal(topo.clusterSize, 3);
  assert.equal(topo.partitionsCount, 3);
  assert.equal(topo.replicationFactor, 3);
  assert.equal(typeof topo.gatewayVersion, 'string');
  assert.equal(topo.brokers.length, 3);
  const b = topo.brokers[0];
  assert.deepEqual(Object.keys(b).sort(), ['host', 'nodeId', 'partitions', 'port', 'version']);
  assert.deepEqual(Object.keys(b.partitions[0]).sort(), ['health', 'partitionId', 'role']);
  assert.ok(topo.brokers.some((x) => x.partitions.some((p) => p.role === 'leader' && p.health === 'healthy')));

  const get = await c.request('GET', '/v2/topology');
  assert.equal(get.status, 200);
  assert.equal(get.body.clusterSize, 3);
  const post = await c.request('POST', '/v2/echo', { hello: [1, 2], s: 'ü' });
  assert.equal(post.status, 200);
  assert.equal(post.body.method, 'POST');
  assert.deepEqual(post.body.body, { hello: [1, 2], s: 'ü' });
  const str = await c.request('POST', '/v2/echo', 'just a string');
  assert.equal(str.body.body, 'just a string');

  assert.equal((await cluster.stats()).token_requests, 1, 'one token for all calls');
  assert.equal(c.closed, false);
  c.close();
  assert.equal(c.closed, true);
});

test('configuration from the environment as it is when the client is created', async () => {
  const saved = { ...process.env };
  try {
    Object.assign(process.env, cluster.env);
    const c = new Client();
    assert.equal((await c.topology()).clusterSize, 3);
    c.close();
    // explicit options win over the environment
    const wrong = new Client({ clientSecret: 'MARKER-WRONG-SECRET' });
    const e = await rejectsWith(wrong.token(), 'AUTH');
    assert.doesNotMatch(e.message, /MARKER-WRONG-SECRET/);
    wrong.close();
    delete process.env.ZEEBE_CLIENT_ID;
    const e2 = throwsWith(() => new Client(), 'CONFIG');
    assert.deepEqual(e2.fields, ['client_id']);
  } finally {
    for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
    Object.assign(process.env, saved);
  }
});

test('configuration from the environment in a fresh process (CJS and ESM)', async () => {
  const env = cleanEnv(cluster.env);
  const cjs = await runNode(['-e', `
    const { Client } = require(${JSON.stringify(PKG)});
    (async () => {
      const c = new Client();
      const c2 = new Client(null);
      console.log((await c.topology()).brokers.length, (await c2.token()).length > 20);
      c.close();
      c2.close();
      // explicit options win over the environment
      const wrong = new Client({ clientSecret: 'MARKER-WRONG-SECRET' });
      await wrong.token().catch((e) => console.log(e.code, /MARKER/.test(e.message)));
    })();
  `], { env });
  assert.equal(cjs.code, 0, cjs.stderr);
  assert.equal(cjs.stdout.trim(), '3 true\nAUTH false');
  const esm = await runNode(['--input-type=module', '-e', `
    import { Client, ZbauthError } from ${JSON.stringify(path.join(PKG, 'index.mjs'))};
    import zb from ${JSON.stringify(path.join(PKG, 'index.mjs'))};
    const c = new Client();
    console.log((await c.topology()).clusterSize, zb.Client === Client, typeof ZbauthError);
    c.close();
  `], { env });
  assert.equal(esm.code, 0, esm.stderr);
  assert.equal(esm.stdout.trim(), '3 true function');
  // without any configuration: CONFIG, naming the missing fields
  const none = await runNode(['-e', `
    const { Client } = require(${JSON.stringify(PKG)});
    try { new Client(); } catch (e) { console.log(e.code + ' ' + e.message); }
  `], { env: cleanEnv() });
  assert.equal(none.code, 0, none.stderr);
  assert.match(none.stdout, /^CONFIG zbauth: /);
  assert.match(none.stdout, /client_id/);
});

test('CONFIG errors are thrown by the constructor', () => {
  let e = throwsWith(() => new Client({ ...opts, restAddress: 'ftp://nowhere' }), 'CONFIG');
  assert.match(e.message, /rest_address/);
  assert.deepEqual(e.fields, ['rest_address']);
  e = throwsWith(() => new Client({ clientIdd: 'x' }), 'CONFIG');
  assert.match(e.message, /client_idd/);
  throwsWith(() => new Client({ timeoutMs: 'soon' }), 'CONFIG');
  throwsWith(() => new Client({ timeoutMs: -1 }), 'CONFIG');
  e = throwsWith(() => new Client({ ...opts, clientSecret: 'MARKER-SECRET-77', restAddress: 'nope' }), 'CONFIG');
  assert.doesNotMatch(e.message, /MARKER-SECRET-77/);
  throwsWith(() => new Client('client_id=x'), 'ARGUMENT');
  throwsWith(() => new Client([]), 'ARGUMENT');
  // a string can hold a lone surrogate; JSON.stringify escapes it
  // ("\udc80"), and the library refuses it rather than send U+FFFD
  for (const [name, key] of [['clientId', 'client_id'], ['clientSecret', 'client_secret'], ['audience', 'audience']]) {
    e = throwsWith(() => new Client({ ...opts, [name]: 'MARKER-SECRET-77\udc80' }), 'CONFIG');
    assert.deepEqual(e.fields, [key]);
    assert.match(e.message, /UTF-8/);
    assert.doesNotMatch(e.message, /MARKER-SECRET-77/);
  }
});

test('options reach the library as written; only what JSON cannot carry is refused here', async () => {
  // camelCase names are spelled the library's way, any other key as written
  let e = throwsWith(() => new Client({ ...opts, clientIdd: 'x' }), 'CONFIG');
  assert.match(e.message, /client_idd/);
  e = throwsWith(() => new Client({ ...opts, client_idd: 'x' }), 'CONFIG');
  assert.match(e.message, /client_idd/);
  e = throwsWith(() => new Client({ ...opts, RestAddress: 'x' }), 'CONFIG');
  assert.match(e.message, /RestAddress/);
  const { clientId, ...rest } = opts;
  const snake = new Client({ ...rest, client_id: clientId, timeout_ms: 5000 });
  assert.equal((await snake.topology()).clusterSize, 3, 'the library accepts its own key names');
  snake.close();
  e = throwsWith(() => new Client({ ...opts, client_id: 'x' }), 'ARGUMENT');
  assert.match(e.message, /clientId and option client_id name the same setting/);
  // undefined is "not given", null goes to the library (which reads it so too)
  const c = new Client({ ...opts, scope: undefined, audience: null, timeoutMs: 5000n });
  assert.equal((await c.topology()).clusterSize, 3);
  c.close();
  // values JSON cannot carry would be dropped or become null: refused
  for (const v of [NaN, Infinity, () => 1, Symbol('s'), { n: 1n }]) {
    e = throwsWith(() => new Client({ ...opts, timeoutMs: v }), 'ARGUMENT');
    assert.match(e.message, /^zbauth: option timeoutMs: .* cannot be passed on as JSON$/);
  }
  // the library still judges what JSON can carry
  throwsWith(() => new Client({ ...opts, timeoutMs: [1] }), 'CONFIG');
  throwsWith(() => new Client({ ...opts, timeoutMs: 2 ** 60 }), 'CONFIG');
});

test("the library's own option names: index.d.ts, index.js and the library agree", () => {
  const dts = require('node:fs').readFileSync(path.join(PKG, 'index.d.ts'), 'utf8');
  const body = /export interface ClientOptions \{([\s\S]*?)\n\}/.exec(dts)[1];
  const declared = [...body.matchAll(/^ {2}([a-zA-Z]+)\?:/gm)].map((m) => m[1]);
  const known = zbauth[Symbol.for('zbauth.internal')].options;
  assert.deepEqual([...known].sort(), [...declared].sort());
  for (const name of known) {
    // a value of the wrong type: the library names the field, it does not call it unknown
    const e = throwsWith(() => new Client({ ...opts, [name]: [] }), 'CONFIG');
    assert.doesNotMatch(e.message, /unknown field/, `${name}: ${e.message}`);
  }
  // and they are spelled its way even when a value repeats part of the name
  const c = new Client({ ...opts, wellKnownConfigurationUrl: 'http://127.0.0.1:1/.well-known/openid-configuration' });
  c.close();
});

test("a cold client's failing token() is one token request", async () => {
  // token() asks zbauth_client_token_nowait first, which starts the request
  // in the background; the waiting call that follows joins it, or gets its
  // error if it failed quickly, rather than making a second request a
  // second later.
  await cluster.fault({ target: 'token', status: 200, body_bytes: 2 << 20 });
  const c = new Client(opts);
  const t0 = Date.now();
  await rejectsWith(c.token(), 'TRANSPORT');
  assert.ok(Date.now() - t0 < 900, `${Date.now() - t0} ms`);
  assert.equal((await cluster.stats()).token_requests, 1);
  c.close();
});

test('token() calls made while one waits share it, and the next one asks again', async () => {
  // The first flight fails (an oversized answer: not retried, and no
  // refusal, whose cooldown would answer the next call too); every call
  // made meanwhile gets the same outcome from the same call.
  await cluster.fault({ target: 'token', status: 200, body_bytes: 2 << 20, delay_ms: 200, times: 1 });
  const c = new Client(opts);
  const calls = [];
  for (let i = 0; i < 100; i++) calls.push(c.token());
  assert.ok(calls.every((p) => p === calls[0]), 'one promise for the calls made while it waits');
  const outcomes = await Promise.allSettled(calls);
  assert.ok(outcomes.every((o) => o.status === 'rejected' && o.reason.code === 'TRANSPORT'));
  assert.equal((await cluster.stats()).token_requests, 1);
  // Settled: the next call is a new one, which succeeds, and is shared too.
  const again = [c.token(), c.token()];
  assert.notEqual(again[0], calls[0]);
  assert.equal(again[0], again[1]);
  const tok = await again[0];
  assert.ok(tok.length > 20);
  c.close();
  // A call made from a reaction of the shared promise asks the library
  // again (here its cache answers).
  const c2 = new Client(opts);
  let inner;
  const first = c2.token();
  await first.then(() => { inner = c2.token(); });
  assert.notEqual(inner, first);
  assert.equal(await inner, await first);
  c2.close();
});

test('a failed token() that nobody handles is an unhandled rejection, as any failed promise', async () => {
  // The shared promise must not mark a failure as handled for its callers.
  const r = await runNode(['-e', `
    const { Client } = require(${JSON.stringify(PKG)});
    new Client({ clientSecret: 'MARKER-WRONG-SECRET' }).token();
    setTimeout(() => console.log('not reported'), 2000);
  `], { env: cleanEnv(cluster.env) });
  assert.notEqual(r.code, 0, r.stdout);
  assert.doesNotMatch(r.stdout, /not reported/);
  assert.match(r.stderr, /ZbauthError/);
  assert.doesNotMatch(r.stderr, /MARKER-WRONG-SECRET/);
});

test('AUTH: a wrong secret', async () => {
  const c = new Client({ ...opts, clientSecret: 'MARKER-WRONG-SECRET' });
  const e = await rejectsWith(c.token(), 'AUTH');
  assert.match(e.message, /invalid_client/);
  assert.match(e.message, /401/);
  assert.equal(e.status, 401);
  assert.equal(e.oauthError, 'invalid_client');
  assert.doesNotMatch(e.message, /MARKER-WRONG-SECRET/);
  await rejectsWith(c.topology(), 'AUTH');
  c.close();
});

test('API: status, title and detail of a problem document', async () => {
  const c = new Client(opts);
  let e = await rejectsWith(c.request('GET', '/v2/no-such-thing'), 'API');
  assert.equal(e.status, 404);
  assert.equal(e.title, 'Not Found');
  assert.match(e.detail, /no-such-thing/);
  assert.equal(e.problem.status, 404);
  assert.equal(JSON.parse(e.text).title, 'Not Found', 'the raw body');

  await cluster.fault({
    target: 'api', status: 409, times: 1, content_type: 'application/problem+json',
    body: JSON.stringify({ type: 'about:blank', title: 'Conflict', status: 409, detail: 'already exists' }),
  });
  e = await rejectsWith(c.request('POST', '/v2/echo', {}), 'API');
  assert.equal(e.status, 409);
  assert.equal(e.title, 'Conflict');
  assert.equal(e.detail, 'already exists');

  await cluster.fault({ target: 'api', status: 403, times: 1 });
  e = await rejectsWith(c.topology(), 'API');
  assert.equal(e.status, 403);
  assert.match(e.message, /Forbidden/);
  assert.equal(e.title, 'Forbidden');
  assert.equal(e.detail, 'injected fault 403');
  assert.equal(e.text, undefined);

  // a 401 is retried once with a fresh token, then reported
  await cluster.fault({ target: 'api', status: 401 });
  e = await rejectsWith(c.request('GET', '/v1/topology'), 'API');
  assert.equal(e.status, 401);
  await cluster.dev('DELETE', '/_dev/faults');
  // a revoked token is replaced transparently
  await cluster.dev('POST', '/_dev/revoke', {});
  assert.equal((await c.topology()).clusterSize, 3);
  c.close();
});

test('TRANSPORT: nothing listens', async () => {
  const port = await closedPort();
  const c = new Client({ ...opts, timeoutMs: 1500, authorizationServerUrl: `http://127.0.0.1:${port}/oauth/token` });
  const e = await rejectsWith(c.token(), 'TRANSPORT');
  assert.match(e.message, /refused/);
  c.close();
});

test('TIMEOUT: a slow token endpoint', async () => {
  await cluster.fault({ target: 'token', delay_ms: 2000, times: 1 });
  const c = new Client({ ...opts, timeoutMs: 200 });
  const t0 = Date.now();
  const e = await rejectsWith(c.token(), 'TIMEOUT');
  assert.match(e.message, /timed out/);
  assert.ok(Date.now() - t0 < 1900, 'the timeout applies');
  c.close();
});

test('ARGUMENT: bad calls', async () => {
  const c = new Client(opts);
  await rejectsWith(c.request('GE T', '/v1/topology'), 'ARGUMENT');
  await rejectsWith(c.request('GET', 'http://evil.example/steal'), 'ARGUMENT');
  await rejectsWith(c.request('GET', '/v1/topology\0/x'), 'ARGUMENT');
  await rejectsWith(c.request('GET', 42), 'ARGUMENT');
  await rejectsWith(c.request(undefined, '/v1/topology'), 'ARGUMENT');
  await rejectsWith(c.request('POST', '/v2/echo', 10n), 'ARGUMENT');
  await rejectsWith(c.request('POST', '/v2/echo', () => 1), 'ARGUMENT');
  const cyclic = {};
  cyclic.self = cyclic;
  await rejectsWith(c.request('POST', '/v2/echo', cyclic), 'ARGUMENT');
  assert.equal((await cluster.stats()).api_requests, 0, 'nothing was sent');
  c.close();
});

test('INTERNAL and unknown status numbers map to codes', () => {
  const makeError = zbauth[Symbol.for('zbauth.internal')].makeError;
  const names = ['OK', 'ARGUMENT', 'CONFIG', 'AUTH', 'API', 'TRANSPORT', 'TIMEOUT', 'INTERNAL'];
  for (let i = 1; i < names.length; i++) {
    const e = makeError(i, `zbauth: x (${i})`, null, null);
    assert.ok(e instanceof ZbauthError);
    assert.equal(e.code, names[i]);
  }
  assert.equal(makeError(99, 'zbauth: new', null, null).code, 'INTERNAL');
  assert.equal(makeError(99, 'zbauth: new', '{"code":"NEWER"}', null).code, 'NEWER');
});

test('a closed client rejects, never crashes', async () => {
  const c = new Client(opts);
  await c.token();
  c.close();
  c.close(); // twice is fine
  for (const p of [c.token(), c.topology(), c.request('GET', '/v1/topology')]) {
    const e = await rejectsWith(p, 'ARGUMENT');
    assert.match(e.message, /closed/);
  }

  // close() while calls are in flight: each settles, none crashes
  const c2 = new Client(opts);
  await cluster.fault({ target: 'api', delay_ms: 100 });
  const calls = [];
  for (let i = 0; i < 20; i++) calls.push(c2.topology(), c2.token(), c2.request('GET', '/v2/topology'));
  c2.close();
  const settled = await Promise.allSettled(calls);
  for (const s of settled) {
    if (s.status === 'rejected') {
      assert.ok(s.reason instanceof ZbauthError, String(s.reason));
      assert.equal(s.reason.code, 'ARGUMENT', s.reason.message);
    }
  }
  await rejectsWith(c2.topology(), 'ARGUMENT');
});

test('200 concurrent topology() calls share one token request; the event loop keeps ticking', async () => {
  // The token endpoint answers after 300 ms: all 200 calls wait on one
  // request, off the main thread, while a timer keeps firing.
  await cluster.fault({ target: 'token', delay_ms: 300, times: 1 });
  const c = new Client(opts);
  let ticks = 0;
  let maxGap = 0;
  let last = Date.now();
  const timer = setInterval(() => {
    const now = Date.now();
    maxGap = Math.max(maxGap, now - last);
    last = now;
    ticks++;
  }, 5);
  const t0 = Date.now();
  const results = await Promise.all(Array.from({ length: 200 }, () => c.topology()));
  const elapsed = Date.now() - t0;
  clearInterval(timer);
  assert.equal(results.length, 200);
  for (const t of results) assert.equal(t.clusterSize, 3);
  const stats = await cluster.stats();
  assert.equal(stats.token_requests, 1);
  assert.equal(stats.api_requests, 200);
  assert.ok(elapsed >= 280, `the token fault delayed the calls (${elapsed} ms)`);
  assert.ok(ticks >= 10, `the timer ticked ${ticks} times in ${elapsed} ms`);
  assert.ok(maxGap < 250, `the event loop stalled for ${maxGap} ms`);
  c.close();
});

test('many clients and calls: nothing leaks into the event loop', async () => {
  // Every pending call keeps the process alive; once all settle, nothing
  // does (the process could exit). Checked by running to completion in a
  // child without an explicit exit.
  const r = await runNode(['-e', `
    const { Client } = require(${JSON.stringify(PKG)});
    (async () => {
      for (let i = 0; i < 5; i++) {
        const c = new Client();
        await Promise.all([c.topology(), c.token(), c.request('GET', '/v2/topology')]);
        if (i % 2) c.close(); // the others are left to the garbage collector
      }
      console.log('done');
    })();
  `], { env: cleanEnv(cluster.env), timeoutMs: 20000 });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.signal, null);
  assert.equal(r.stdout.trim(), 'done');
});

test('worker threads load the binding too', async () => {
  const { Worker } = require('node:worker_threads');
  const w = new Worker(`
    const { parentPort, workerData } = require('node:worker_threads');
    const { Client } = require(${JSON.stringify(PKG)});
    const c = new Client(workerData);
    c.topology().then((t) => parentPort.postMessage(t.clusterSize));
  `, { eval: true, workerData: opts });
  const size = await new Promise((resolve, reject) => {
    w.once('message', resolve);
    w.once('error', reject);
  });
  assert.equal(size, 3);
  await w.terminate();
  // the main thread's clients still work after the worker is gone
  const c = new Client(opts);
  assert.equal((await c.topology()).clusterSize, 3);
  c.close();
});

test('the library is found at ZBAUTH_LIBRARY; a missing one says where it looked', async () => {
  const missing = path.join(PKG, 'no-such-dir', 'libzbauth.so');
  const r = await runNode(['-e', `
    const { Client, ZbauthError } = require(${JSON.stringify(PKG)});
    try { new Client(); console.log('no error'); }
    catch (e) { console.log(JSON.stringify({ ok: e instanceof ZbauthError, code: e.code, message: e.message })); }
  `], { env: cleanEnv({ ...cluster.env, ZBAUTH_LIBRARY: missing }) });
  assert.equal(r.code, 0, r.stderr);
  const e = JSON.parse(r.stdout);
  assert.equal(e.ok, true);
  assert.ok(e.message.includes(missing), e.message);
  assert.match(e.message, /ZBAUTH_LIBRARY/);

  const lib = zbauth.libraryPath();
  const ok = await runNode(['-e', `
    const zb = require(${JSON.stringify(PKG)});
    new zb.Client().topology().then(() => console.log(zb.libraryPath()));
  `], { env: cleanEnv({ ...cluster.env, ZBAUTH_LIBRARY: lib }) });
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal(ok.stdout.trim(), lib);
});

test('cached tokens are served synchronously when the library can say so without waiting', async (t) => {
  const internal = zbauth[Symbol.for('zbauth.internal')];
  if (!internal.features().tokenNowait) {
    // The library in this package has it (capi/zbauth.h); an older one
    // given through ZBAUTH_LIBRARY may not, and then every token() goes
    // through zbauth_client_token_async.
    assert.ok(process.env.ZBAUTH_LIBRARY, "the package's libzbauth exports zbauth_client_token_nowait");
    t.skip('this libzbauth has no zbauth_client_token_nowait: every token() is asynchronous');
    return;
  }
  await cluster.fault({ target: 'token', delay_ms: 200, times: 1 });
  const c = new Client(opts);
  let first = false;
  c.token().then(() => { first = true; });
  await new Promise((r) => setImmediate(r));
  assert.equal(first, false, 'the first token waits for the network, off the main thread');
  const tok = await c.token();
  // now cached: the promise is already resolved when token() returns
  let sync = false;
  const p = c.token().then((x) => { sync = true; return x; });
  await null;
  await null;
  assert.equal(sync, true);
  assert.equal(await p, tok);
  assert.equal((await cluster.stats()).token_requests, 1);
  c.close();
});
