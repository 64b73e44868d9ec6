// The second runtime: zbauth.wasm under Node's WASI, against the dev
// cluster. Run by `make test-wasm` as
//
//	zbauth dev-cluster -- node --test wasm/node/
//
// with ZBAUTH_WASM naming the module; the dev cluster's ZEEBE_* variables
// become the guest's environment, and ZBAUTH_DEV_URL reaches its controls.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
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
    const before = plugin.stats.bodyBytes;
    await assert.rejects(client.topology(), (e) => e.kindName === 'TRANSPORT' && /size limit/.test(e.message));
    assert.ok(written < 64 << 20, `the server wrote ${written >> 20} MiB before the host hung up`);
    assert.ok(plugin.stats.bodyBytes - before < 2 << 20, `the host read ${plugin.stats.bodyBytes - before} body bytes`);
    client.close();
  } finally {
    api.closeAllConnections();
    await new Promise((resolve) => api.close(resolve));
  }
});

// The strategies other than OAUTH, the v2 topology, discovery and
// private_key_jwt (issue 16). Each test starts from the cluster's start
// options and sets the /_dev/config it needs.
const devConfig = async (cfg) => {
  await dev('/_dev/reset', { method: 'POST' });
  const r = await dev('/_dev/config', { method: 'POST', body: JSON.stringify(cfg) });
  assert.ok(r.ok, `/_dev/config: ${r.status} ${await r.text()}`);
};
const restAddress = process.env.ZEEBE_REST_ADDRESS;

test('BASIC: Basic credentials on every call, no token', async () => {
  await devConfig({ auth: 'basic' });
  const password = process.env.ZBAUTH_DEV_BASIC_PASSWORD;
  const basic = { auth_strategy: 'BASIC', basic_auth_username: process.env.ZBAUTH_DEV_BASIC_USERNAME, basic_auth_password: password, rest_address: restAddress };
  const client = await plugin.newClient(basic);
  const t = await client.topology();
  assert.equal(t.brokers.length, 3);
  const s = await stats();
  assert.equal(s.last_api_auth_scheme, 'Basic');
  assert.equal(s.token_requests, 0);
  await assert.rejects(client.token(), (e) => e.kindName === 'CONFIG' && /no access token/.test(e.message));
  client.close();

  const wrong = await plugin.newClient({ ...basic, basic_auth_password: 'not-' + password });
  await assert.rejects(wrong.topology(), (e) => e.kindName === 'AUTH' && e.status === 401 && !e.message.includes(password));
  wrong.close();
});

test('BEARER: the static token as it is, never a token request', async () => {
  await devConfig({});
  const token = process.env.ZBAUTH_DEV_STATIC_TOKEN;
  const client = await plugin.newClient({ auth_strategy: 'BEARER', oauth_token: token, rest_address: restAddress });
  assert.equal((await client.topology()).brokers.length, 3);
  assert.equal(await client.token(), token);
  const s = await stats();
  assert.equal(s.last_api_auth_scheme, 'Bearer');
  assert.equal(s.token_requests, 0);
  client.close();
});

test('v2 topology: clusterId after the fallback from /v1, and with a /v2 address', async () => {
  await devConfig({ v1_topology: false });
  for (const rest of [restAddress, restAddress + '/v2']) {
    const client = await plugin.newClient({ rest_address: rest });
    const t = await client.topology();
    assert.equal(t.clusterId, 'zbauth-dev');
    assert.equal(typeof t.lastCompletedChangeId, 'string');
    assert.equal(t.brokers.length, 3);
    client.close();
  }
});

// listen starts a loopback server for one test; returns its base URL.
const listen = async (handler) => {
  const srv = http.createServer(handler);
  await new Promise((resolve) => srv.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${srv.address().port}`, close: () => new Promise((resolve) => { srv.closeAllConnections(); srv.close(resolve); }) };
};

test('discovery: the token endpoint from the issuer URL, on its own origin too', async () => {
  await devConfig({});
  const client = await plugin.newClient({ issuer_url: devURL, authorization_server_url: '' });
  assert.equal((await client.topology()).brokers.length, 3);
  const s = await stats();
  assert.equal(s.discovery_requests, 1);
  assert.equal(s.token_requests, 1);
  client.close();

  // The document on one origin, the token endpoint (the dev cluster's) on
  // another, the REST API on a third: the host learns the token
  // endpoint's origin from the document.
  const idp = await listen((req, res) => {
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ issuer: 'x', token_endpoint: process.env.ZEEBE_AUTHORIZATION_SERVER_URL }));
  });
  const api = await listen((req, res) => {
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ brokers: [], clusterSize: 1, partitionsCount: 1, replicationFactor: 1, gatewayVersion: 'stub' }));
  });
  try {
    const c = await plugin.newClient({ issuer_url: idp.url, authorization_server_url: '', rest_address: api.url });
    assert.equal((await c.topology()).gatewayVersion, 'stub');
    assert.equal((await stats()).token_requests, 2);
    c.close();
  } finally {
    await idp.close();
    await api.close();
  }
});

test('private_key_jwt: the key files through preopens, none without', async () => {
  const key = process.env.ZBAUTH_DEV_ASSERTION_KEY_PATH;
  const keystore = process.env.ZBAUTH_DEV_ASSERTION_KEYSTORE_PATH;
  const dir = key.slice(0, key.lastIndexOf('/'));
  assert.equal(keystore.slice(0, keystore.lastIndexOf('/')), dir);
  const pem = { token_auth_method: 'private_key_jwt', client_assertion_key_path: key, client_assertion_cert_path: process.env.ZBAUTH_DEV_ASSERTION_CERT_PATH };
  const p12 = { client_assertion_keystore_path: keystore, client_assertion_keystore_password: process.env.ZBAUTH_DEV_ASSERTION_KEYSTORE_PASSWORD };

  // The plugin loaded without preopens has no files.
  await assert.rejects(plugin.newClient(pem), (e) => e.kindName === 'CONFIG' && /client_assertion_key_path cannot be read/.test(e.message));

  const withKeys = await Plugin.load(wasmPath, { env: guestEnv, preopens: { [dir]: dir } });
  try {
    for (const cred of [pem, p12]) {
      await devConfig({ token_auth_method: 'private_key_jwt' });
      const client = await withKeys.newClient(cred);
      assert.equal((await client.topology()).brokers.length, 3);
      const s = await stats();
      assert.equal(s.last_client_auth, 'private_key_jwt');
      assert.equal(s.last_assertion_claims.iss, guestEnv.ZEEBE_CLIENT_ID);
      client.close();
    }
  } finally {
    withKeys.close();
  }
});

// TLS (wasm/ABI.md, zb_client_new's "tls"): the host reads the files and
// applies them to every origin. A private CA (made with the openssl CLI,
// which `make test-wasm` installs) signs an HTTPS front for the dev cluster
// on 127.0.0.1 and a client certificate; token endpoint and REST API are
// both reached through it.
const pki = () => {
  const dir = mkdtempSync(join(tmpdir(), 'zbauth-node-tls-'));
  const f = (n) => join(dir, n);
  const ossl = (...a) => execFileSync('openssl', a, { stdio: 'pipe' });
  ossl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1',
    '-subj', '/CN=zbauth node test CA', '-keyout', f('ca.key'), '-out', f('ca.pem'));
  const issue = (name, ext) => {
    writeFileSync(f(`${name}.ext`), ext);
    ossl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', `/CN=${name}`,
      '-keyout', f(`${name}.key`), '-out', f(`${name}.csr`));
    ossl('x509', '-req', '-in', f(`${name}.csr`), '-CA', f('ca.pem'), '-CAkey', f('ca.key'), '-CAcreateserial',
      '-days', '1', '-extfile', f(`${name}.ext`), '-out', f(`${name}.pem`));
  };
  issue('server', 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
  issue('client', 'extendedKeyUsage=clientAuth\n');
  return { dir, f };
};

// httpsFront serves the dev cluster over HTTPS with the server certificate;
// with mtls it requires a client certificate signed by the CA.
const httpsFront = async ({ f }, mtls) => {
  const target = new URL(devURL);
  const srv = https.createServer({
    key: readFileSync(f('server.key')), cert: readFileSync(f('server.pem')),
    ca: readFileSync(f('ca.pem')), requestCert: mtls, rejectUnauthorized: mtls,
  }, (req, res) => {
    const up = http.request({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers }, (ur) => {
      res.writeHead(ur.statusCode, ur.headers);
      ur.pipe(res);
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  await new Promise((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const url = `https://127.0.0.1:${srv.address().port}`;
  return { url, close: () => new Promise((resolve) => { srv.closeAllConnections(); srv.close(resolve); }) };
};

test('TLS: a private CA through ca_certificate_path, mutual TLS through the client certificate', async () => {
  await dev('/_dev/reset', { method: 'POST' });
  const p = pki();
  const tokenPath = new URL(process.env.ZEEBE_AUTHORIZATION_SERVER_URL).pathname;
  for (const mtls of [false, true]) {
    const front = await httpsFront(p, mtls);
    try {
      const base = { authorization_server_url: front.url + tokenPath, rest_address: front.url };
      // Without the CA the server's certificate is not trusted, on the
      // first origin reached (the token endpoint).
      const untrusted = await plugin.newClient(base);
      const requests = plugin.stats.httpRequests, t0 = performance.now();
      await assert.rejects(untrusted.topology(), (e) => e.kindName === 'TRANSPORT' && /certificate/i.test(e.message));
      // A TLS failure is final (zb_http_fail code 4): one request, no back-off.
      assert.equal(plugin.stats.httpRequests - requests, 1);
      assert.ok(performance.now() - t0 < 900, `the TLS failure took ${performance.now() - t0} ms`);
      untrusted.close();

      const withCA = await plugin.newClient({ ...base, ca_certificate_path: p.f('ca.pem') });
      if (mtls) {
        // The server wants a client certificate: the CA alone is not enough.
        await assert.rejects(withCA.topology(), (e) => e.kindName === 'TRANSPORT');
      } else {
        assert.equal((await withCA.topology()).brokers.length, 3);
      }
      withCA.close();

      const client = await plugin.newClient({ ...base, ca_certificate_path: p.f('ca.pem'),
        client_certificate_path: p.f('client.pem'), client_key_path: p.f('client.key') });
      assert.equal((await client.topology()).brokers.length, 3);
      assert.match(await client.token(), /\./);
      client.close();
    } finally {
      await front.close();
    }
  }
  // A TLS file the host cannot read is a CONFIG error at newClient.
  await assert.rejects(plugin.newClient({ ca_certificate_path: p.f('missing.pem') }),
    (e) => e.kindName === 'CONFIG' && /ca_certificate_path/.test(e.message));
  rmSync(p.dir, { recursive: true, force: true });
});

test('zb_client_new names the origins and the TLS settings the host enforces', async () => {
  const client = await plugin.newClient({ rest_address: 'https://API.example:443/base', authorization_server_url: 'https://login.example/oauth/token', ca_certificate_path: '/nonexistent-is-not-read-by-the-guest' })
    .catch((e) => e);
  // The host reads the CA: a missing file fails here, after the guest
  // accepted the configuration.
  assert.ok(client instanceof ZbauthError && client.kindName === 'CONFIG');
  const ok = await plugin.newClient({ rest_address: 'https://API.example/base', authorization_server_url: 'https://login.example:8443/oauth/token' });
  assert.deepEqual([...plugin.originsOf(ok)], ['https://api.example:443', 'https://login.example:8443']);
  ok.close();
});

test('a 64 MiB body with a Content-Length over max_body is refused unread', async () => {
  await dev('/_dev/reset', { method: 'POST' });
  await dev('/_dev/faults', { method: 'POST', body: JSON.stringify({ target: 'api', body_bytes: 64 << 20 }) });
  const client = await plugin.newClient({ max_body_bytes: 1 << 20 });
  const before = plugin.stats.bodyBytes;
  const t0 = performance.now();
  await assert.rejects(client.topology(), (e) => e.kindName === 'TRANSPORT' && /size limit/.test(e.message));
  const read = plugin.stats.bodyBytes - before;
  assert.ok(read < 2 << 20, `the host read ${read} body bytes`);
  assert.ok(performance.now() - t0 < 5000);
  client.close();
  await dev('/_dev/reset', { method: 'POST' });
});

test('a refusal by the host ends the call at once, with its reason', async () => {
  await devConfig({});
  const p = await Plugin.load(wasmPath, { env: guestEnv });
  const client = await p.newClient({ timeout_ms: 3000 });
  const before = (await stats()).token_requests;
  p.close(); // shutting down: http_start answers 4
  const start = performance.now();
  await assert.rejects(client.token(3000), (e) => e.kindName === 'TRANSPORT' && /the host is shutting down/.test(e.message));
  const ms = performance.now() - start;
  assert.ok(ms < 500, `the refusal was reported after ${ms} ms`);
  const { httpRequests, refused, aborted, instances, traps } = p.stats;
  assert.deepEqual({ httpRequests, refused, aborted, instances, traps }, { httpRequests: 0, refused: 1, aborted: 0, instances: 1, traps: 0 }); // one http_start, refused, never retried
  assert.equal((await stats()).token_requests, before);
});

test('a shared token fetch outlives its callers, and its token is cached', async () => {
  await devConfig({});
  await dev('/_dev/faults', { method: 'POST', body: JSON.stringify({ target: 'token', delay_ms: 600, times: 1 }) });
  const p = await Plugin.load(wasmPath, { env: guestEnv });
  try {
    const client = await p.newClient({});
    // Every caller waiting on the token request leaves before it is answered.
    const calls = [client.topology(150), client.token(150)];
    for (const c of calls) await assert.rejects(c, (e) => e.kindName === 'TIMEOUT');
    // The host keeps driving the instance: the request is not aborted, its
    // answer is delivered, and the token is cached for the next caller.
    await new Promise((resolve) => setTimeout(resolve, 800));
    assert.equal(p.stats.aborted, 0);
    assert.equal(p.stats.httpRequests, 1);
    assert.ok(await client.token(1000));
    assert.equal((await stats()).token_requests, 1);
    assert.equal(p.stats.httpRequests, 1);
  } finally {
    p.close();
  }
});

test('a trap fails the calls in progress with INTERNAL and the instance is replaced', async () => {
  await devConfig({});
  const p = await Plugin.load(wasmPath, { env: guestEnv, stderr: openSync('/dev/null', 'w') }); // the crash report
  try {
    const client = await p.newClient({});
    const first = await client.token();
    await dev('/_dev/faults', { method: 'POST', body: JSON.stringify({ target: 'api', delay_ms: 10000, times: 1 }) });
    const pending = client.topology(); // waiting on the network when the trap comes
    await new Promise((resolve) => setTimeout(resolve, 100));
    // Running the guest out of memory (wasm32 ends at 4 GiB) traps: the Go
    // runtime aborts. The pages are never touched, so this costs no RAM.
    const trapped = (e) => e instanceof ZbauthError && e.kindName === 'INTERNAL' && /instance trapped/.test(e.message);
    assert.throws(() => { for (let i = 0; i < 8; i++) p.unsafeExport('zb_alloc', 1 << 30); }, trapped);
    await assert.rejects(pending, trapped);
    // The next call runs on a new instance, the client recreated (its token lost).
    assert.equal((await client.topology()).brokers.length, 3);
    assert.notEqual(await client.token(), '');
    assert.equal(p.stats.instances, 2);
    assert.equal(p.stats.traps, 1);
    assert.equal(p.stats.aborted, 0);
    assert.ok(first);
  } finally {
    p.close();
  }
});

test('a compressed response reaches the guest decoded, without Content-Encoding', async () => {
  await devConfig({});
  const api = await listen((req, res) => {
    if (!/gzip/.test(req.headers['accept-encoding'] || '')) { res.writeHead(200, { 'Content-Type': 'application/json' }); res.end('{"plain":true}'); return; }
    res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Encoding': 'gzip' });
    res.end(gzipSync('{"compressed":true}'));
  });
  try {
    const client = await plugin.newClient({ rest_address: api.url });
    const r = await client.request('GET', '/v2/anything');
    assert.equal(new TextDecoder().decode(r.body), '{"compressed":true}');
    assert.equal(r.headers['Content-Encoding'], undefined);
    client.close();
  } finally {
    await api.close();
  }
});

// Driving exports return the delay until the guest's next timer (ABI v3):
// the host sleeps exactly that long, or until an HTTP answer arrives.
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

test('an idle client with a cached token makes no export calls', async () => {
  await dev('/_dev/reset', { method: 'POST' });
  const client = await plugin.newClient({});
  await client.token();
  await client.topology();
  const before = plugin.stats.exportCalls;
  await sleep(2000);
  assert.equal(plugin.stats.exportCalls - before, 0, 'export calls over 2 s of idleness');
  await client.token();
  assert.equal((await stats()).token_requests, 1);
  client.close();
});

test('waiting on a slow token endpoint costs no calls; a back-off wakes the guest on time', async () => {
  await dev('/_dev/reset', { method: 'POST' });
  await dev('/_dev/faults', { method: 'POST', body: JSON.stringify({ target: 'token', delay_ms: 1500, times: 1 }) });
  const client = await plugin.newClient({});
  let calls = plugin.stats.exportCalls, steps = plugin.stats.steps;
  let t0 = Date.now();
  await client.token();
  assert.ok(Date.now() - t0 >= 1400, 'the token came before the endpoint answered');
  assert.ok(plugin.stats.exportCalls - calls <= 6, `${plugin.stats.exportCalls - calls} export calls while waiting`);
  assert.equal(plugin.stats.steps - steps, 0);
  client.close();

  // 503 with Retry-After: 1: the core retries a second later, on a guest timer.
  await dev('/_dev/reset', { method: 'POST' });
  await dev('/_dev/faults', { method: 'POST', body: JSON.stringify({ target: 'token', status: 503, retry_after: '1', times: 1 }) });
  const c2 = await plugin.newClient({});
  steps = plugin.stats.steps;
  t0 = Date.now();
  await c2.token();
  const took = Date.now() - t0;
  assert.ok(took >= 950 && took < 3000, `the retry came after ${took} ms`);
  const n = plugin.stats.steps - steps;
  assert.ok(n >= 1 && n <= 4, `${n} zb_step calls for one back-off timer`);
  assert.equal((await stats()).token_requests, 2);
  c2.close();
});

test('a module speaking another ABI version is refused, naming both', async () => {
  // A hand-encoded module: _initialize, zb_abi_version() = 2, a memory.
  const str = (s) => [s.length, ...new TextEncoder().encode(s)];
  const section = (id, body) => [id, body.length, ...body];
  const bytes = new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, [2, 0x60, 0, 0, 0x60, 0, 1, 0x7f]),
    ...section(3, [2, 0, 1]),
    ...section(5, [1, 0, 1]),
    ...section(7, [3, ...str('_initialize'), 0, 0, ...str('zb_abi_version'), 0, 1, ...str('memory'), 2, 0]),
    ...section(10, [2, 2, 0, 0x0b, 4, 0, 0x41, 2, 0x0b]),
  ]);
  await assert.rejects(Plugin.load(bytes), /ABI version 2, this host 3/);
});
