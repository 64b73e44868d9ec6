'use strict';
// The shared conformance vectors (testdata/conformance/vectors.json, see its
// README.md), run through the binding against a dev cluster: the same
// scenarios the Go core, the C library, the Wasm plugin and the Python
// binding run. One subtest per scenario, named after it.

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { startCluster, clusterOptions, leaks, shown, PKG } = require('./helpers');

const { Client, ZbauthError } = require('..');

const VECTORS = path.resolve(PKG, '../../testdata/conformance/vectors.json');
const vectors = JSON.parse(fs.readFileSync(VECTORS, 'utf8'));
assert.equal(vectors.format, 'zbauth-conformance-v1');
assert.ok(vectors.scenarios.length >= 20, 'the vectors hold the scenarios');

const CODES = ['ARGUMENT', 'CONFIG', 'AUTH', 'API', 'TRANSPORT', 'TIMEOUT', 'INTERNAL'];

let cluster;
before(async () => { cluster = await startCluster(); });
after(async () => { if (cluster) await cluster.stop(); });

/** A vector's snake_case config key as the binding's camelCase option name
 * (`timeout_ms` → `timeoutMs`, `client_idd` → `clientIdd`). */
const optionName = (key) => key.replace(/_([a-z0-9])/g, (_, c) => c.toUpperCase());

/**
 * A config value with a leading "$NAME" replaced by the variable's value:
 * from the environment the dev cluster printed (its ZBAUTH_DEV_* key
 * files, Basic credentials, static token), else this process's; any other
 * value as it is.
 */
function expand(v, env = cluster.env) {
  if (typeof v !== 'string') return v;
  return v.replace(/^\$([A-Z][A-Z0-9_]*)/, (_, name) => env[name] ?? process.env[name] ?? '');
}

/** The dev cluster's options overlaid with the scenario's config. */
function options(overlay = {}) {
  const o = clusterOptions(cluster.env);
  for (const [k, v] of Object.entries(overlay)) o[optionName(k)] = expand(v);
  return o;
}

test('$NAME expansion', () => {
  const env = { ZBAUTH_X: '/x' };
  assert.equal(expand('$ZBAUTH_X/v2', env), '/x/v2');
  assert.equal(expand('$ZBAUTH_X', env), '/x');
  assert.equal(expand('$ZBAUTH_UNSET_FOR_SURE/v2', env), '/v2');
  for (const v of ['a$ZBAUTH_X', '$lower', '$', '$1X', 3, null]) assert.equal(expand(v, env), v);
});

async function run(sc) {
  let client;
  try {
    client = new Client(options(sc.config)); // a config error is an outcome too
    switch (sc.op) {
      case 'token':
        return { token: await client.token() };
      case 'topology':
        return { topology: await client.topology() };
      case 'request':
        return { response: await client.request(sc.method, sc.path, sc.body ? JSON.parse(sc.body) : undefined) };
      default:
        throw new Error(`unknown op ${sc.op}`);
    }
  } catch (e) {
    if (!(e instanceof ZbauthError)) throw e;
    return { error: e };
  } finally {
    if (client) client.close();
  }
}

for (const sc of vectors.scenarios) {
  test(sc.name, async () => {
    await cluster.dev('POST', '/_dev/reset', {});
    if (sc.dev_config) await cluster.dev('POST', '/_dev/config', sc.dev_config);
    if (sc.faults) await cluster.dev('POST', '/_dev/faults', sc.faults);

    const { error, token, response, topology } = await run(sc);
    const ex = sc.expect;
    if (ex.ok) {
      assert.equal(error, undefined, `want success, got ${error && `${error.code}: ${error.message}`}`);
      if ('token' in ex) assert.equal(token, ex.token);
      if ('status' in ex) assert.equal(response.status, ex.status);
      if ('body_contains' in ex) {
        // the body as it came: request() parses JSON, so serialise it again
        const text = typeof response.body === 'string' ? response.body : JSON.stringify(response.body);
        assert.ok(text.includes(ex.body_contains), text);
      }
      if ('topology_cluster_id' in ex) assert.equal(topology.clusterId, ex.topology_cluster_id, JSON.stringify(topology));
    } else {
      assert.ok(error, `want ${ex.error}, got success`);
      assert.ok(CODES.includes(ex.error), `the vectors name a known code: ${ex.error}`);
      assert.equal(error.code, ex.error, error.message);
      assert.equal(error.name, 'ZbauthError');
      assert.match(error.message, /^zbauth: /);
      if ('status' in ex) assert.equal(error.status, ex.status, error.message);
      if ('message_contains' in ex) assert.ok(error.message.includes(ex.message_contains), error.message);
      const text = shown(error);
      assert.deepEqual(leaks(text), [], text);
    }
    const stats = await cluster.stats();
    if ('token_requests' in ex) assert.equal(stats.token_requests, ex.token_requests, 'token_requests');
    if ('api_requests' in ex) assert.equal(stats.api_requests, ex.api_requests, 'api_requests');
  });
}
