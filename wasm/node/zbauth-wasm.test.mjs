// The second runtime: zbauth.wasm under Node's WASI, against the dev
// cluster. Run by `make test-wasm` as
//
//	zbauth dev-cluster -- node --test wasm/node/
//
// with ZBAUTH_WASM naming the module; the dev cluster's ZEEBE_* variables
// become the guest's environment, and ZBAUTH_DEV_URL reaches its controls.

import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, test } from 'node:test';
import { Plugin, ZbauthError } from './zbauth-wasm.mjs';

const wasmPath = process.env.ZBAUTH_WASM;
const devURL = process.env.ZBAUTH_DEV_URL;
if (!wasmPath || !devURL) throw new Error('run under `zbauth dev-cluster --` with ZBAUTH_WASM set');

const guestEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith('ZEEBE_')));
const dev = async (path, init) => fetch(devURL + path, init);
const stats = async () => (await dev('/_dev/stats')).json();

let plugin;
before(async () => {
  plugin = await Plugin.load(wasmPath, { env: guestEnv });
  await dev('/_dev/reset', { method: 'POST' });
});
after(() => plugin.close());

test('topology through the plugin', async () => {
  const client = await plugin.newClient({}); // everything from ZEEBE_*
  const t = await client.topology();
  assert.equal(t.clusterSize, 3);
  assert.equal(t.brokers.length, 3);
  assert.equal(t.gatewayVersion, '8.7.0-dev');
  assert.ok(t.brokers.every((b) => b.partitions.length === 3));
  console.log(`topology via node:wasi: ${t.brokers.length} brokers, gateway ${t.gatewayVersion}`);
  client.close();
});

test('cached token, one token request for 16 concurrent calls', async () => {
  await dev('/_dev/reset', { method: 'POST' });
  await dev('/_dev/faults', { method: 'POST', body: JSON.stringify({ target: 'token', delay_ms: 200, times: 1 }) });
  const client = await plugin.newClient({});
  const results = await Promise.all(Array.from({ length: 16 }, () => client.topology()));
  assert.equal(results.length, 16);
  const t1 = await client.token();
  const t2 = await client.token();
  assert.equal(t1, t2);
  const s = await stats();
  assert.equal(s.token_requests, 1);
  assert.equal(s.api_requests, 16);
  client.close();
});

test('request and error kinds', async () => {
  const client = await plugin.newClient({});
  const r = await client.request('POST', '/v2/echo', '{"n":1}');
  assert.equal(r.status, 200);
  assert.match(r.headers['Content-Type'], /^application\/json/);
  assert.deepEqual(JSON.parse(new TextDecoder().decode(r.body)), { method: 'POST', path: '/v2/echo', body: { n: 1 } });

  await assert.rejects(client.request('GET', '/v2/missing'), (e) => {
    assert.ok(e instanceof ZbauthError);
    assert.equal(e.kind, 4);
    assert.equal(e.kindName, 'API');
    assert.equal(e.status, 404);
    assert.match(e.message, /^zbauth: request: REST API returned an error \(HTTP 404\)/);
    return true;
  });
  await assert.rejects(plugin.newClient({ client_idd: 'x' }), (e) => e.kind === 2 && /unknown field/.test(e.message));
  const bad = await plugin.newClient({ client_secret: 'wrong' });
  await assert.rejects(bad.token(), (e) => e.kind === 3 && e.kindName === 'AUTH' && e.status === 401 && !e.message.includes('wrong') &&
    e.oauthError === 'invalid_client' && e.oauthErrorDescription === 'client authentication failed');
  client.close();
});

test('an endless REST body is cut off at max_body_bytes, not read to its end', async () => {
  let written = 0;
  const api = http.createServer((req, res) => {
    res.writeHead(200, { 'Content-Type': 'application/json' });
    const chunk = Buffer.alloc(64 << 10, 0x20);
    const pump = () => {
      while (written < 256 << 20) {
        written += chunk.length;
        if (!res.write(chunk)) return;
      }
      res.end();
    };
    res.on('drain', pump);
    pump();
  });
  await new Promise((resolve) => api.listen(0, '127.0.0.1', resolve));
  try {
    const client = await plugin.newClient({ rest_address: `http://127.0.0.1:${api.address().port}`, max_body_bytes: 1 << 20 });
    await assert.rejects(client.topology(), (e) => e.kindName === 'TRANSPORT' && /size limit/.test(e.message));
    assert.ok(written < 64 << 20, `the server wrote ${written >> 20} MiB before the host hung up`);
    client.close();
  } finally {
    api.closeAllConnections();
    await new Promise((resolve) => api.close(resolve));
  }
});
