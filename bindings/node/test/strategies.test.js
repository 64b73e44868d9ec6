'use strict';
// The authentication strategies and token endpoint methods of zbauth issue
// 16 through the binding's camelCase options, against real dev clusters:
// each new option reaches the library and changes what it sends.

const { test, before, after, beforeEach } = require('node:test');
const assert = require('node:assert/strict');
const {
  startCluster, clusterOptions, runNode, cleanEnv, leaks, shown, BASIC_PASSWORD, PKG,
} = require('./helpers');

const { Client, ZbauthError } = require('..');

let cluster; // oauth mode
let basicCluster; // started with --auth basic
before(async () => {
  [cluster, basicCluster] = await Promise.all([startCluster(), startCluster({ args: ['--auth', 'basic'] })]);
});
after(async () => {
  await Promise.all([cluster, basicCluster].filter(Boolean).map((c) => c.stop()));
});
beforeEach(async () => {
  await Promise.all([cluster.reset(), basicCluster.reset()]);
});

const opts = () => clusterOptions(cluster.env);

const basicOptions = (env) => ({
  authStrategy: 'BASIC',
  basicAuthUsername: env.ZBAUTH_DEV_BASIC_USERNAME,
  basicAuthPassword: env.ZBAUTH_DEV_BASIC_PASSWORD,
  restAddress: env.ZEEBE_REST_ADDRESS,
});

async function rejection(p) {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof ZbauthError, String(e && e.stack));
    return e;
  }
  assert.fail('expected a rejection');
}

/** token() rejects with a CONFIG error that says why. */
async function assertNoToken(strategy, c) {
  const e = await rejection(c.token());
  assert.equal(e.code, 'CONFIG');
  assert.deepEqual(e.fields, ['auth_strategy']);
  assert.match(e.message, new RegExp(`^zbauth: .*there is no access token: the auth strategy is ${strategy}`));
  assert.deepEqual(leaks(shown(e)), [], shown(e));
}

test('BASIC against a dev cluster in basic mode', async () => {
  const c = new Client(basicOptions(basicCluster.env));
  try {
    const topo = await c.topology();
    assert.equal(topo.clusterSize, 3);
    assert.equal(topo.clusterId, '');
    assert.equal((await c.request('GET', '/v2/topology')).body.clusterId, 'zbauth-dev');
    await assertNoToken('BASIC', c);
    assert.equal((await c.topology()).clusterSize, 3, 'the refused token() changed nothing');
  } finally {
    c.close();
  }
  const stats = await basicCluster.stats();
  assert.equal(stats.last_api_auth_scheme, 'Basic');
  assert.equal(stats.token_requests, 0);
  assert.equal(stats.api_requests, 3);
});

test('BASIC with a wrong password is an AUTH error', async () => {
  const c = new Client({ ...basicOptions(basicCluster.env), basicAuthPassword: `${BASIC_PASSWORD}-wrong` });
  try {
    const e = await rejection(c.topology());
    assert.equal(e.code, 'AUTH');
    assert.equal(e.status, 401);
    assert.deepEqual(leaks(shown(e)), [], shown(e));
  } finally {
    c.close();
  }
});

test('BASIC from the environment `zbauth dev-cluster --auth basic` prints', async () => {
  assert.equal(basicCluster.env.CAMUNDA_AUTH_STRATEGY, 'BASIC');
  const r = await runNode(['-e', `
    const { Client } = require(${JSON.stringify(PKG)});
    const c = new Client();
    c.topology().then(async (t) => {
      console.log(t.clusterSize);
      await c.token().catch((e) => console.log(e.code, e.fields.join(',')));
      c.close();
    });
  `], { env: cleanEnv(basicCluster.env) });
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(r.stdout.trim().split('\n'), ['3', 'CONFIG auth_strategy']);
  assert.deepEqual(leaks(r.stdout + r.stderr), []);
});

test('NONE sends no credentials and has no token', async () => {
  await cluster.dev('POST', '/_dev/config', { auth: 'none' });
  const c = new Client({ authStrategy: 'NONE', restAddress: cluster.env.ZEEBE_REST_ADDRESS });
  try {
    assert.equal((await c.topology()).clusterSize, 3);
    await assertNoToken('NONE', c);
  } finally {
    c.close();
  }
  assert.equal((await cluster.stats()).last_api_auth_scheme, '');
});

test('BEARER sends the static token, and token() returns it', async () => {
  const token = cluster.env.ZBAUTH_DEV_STATIC_TOKEN;
  const c = new Client({ authStrategy: 'bearer', oauthToken: token, restAddress: cluster.env.ZEEBE_REST_ADDRESS });
  try {
    assert.equal(await c.token(), token);
    assert.equal((await c.topology()).clusterSize, 3);
  } finally {
    c.close();
  }
  const stats = await cluster.stats();
  assert.equal(stats.token_requests, 0);
  assert.equal(stats.last_api_auth_scheme, 'Bearer');
});

test('resource and tokenAuthMethod reach the token endpoint', async () => {
  const c = new Client({ ...opts(), resource: 'urn:zbauth:node-resource', tokenAuthMethod: 'client_secret_basic' });
  await c.token();
  c.close();
  const stats = await cluster.stats();
  assert.equal(stats.last_client_auth, 'client_secret_basic');
  assert.equal(stats.last_token_form.resource, 'urn:zbauth:node-resource');
  assert.ok(!('client_secret' in stats.last_token_form));
});

for (const how of ['issuerUrl', 'wellKnownConfigurationUrl']) {
  test(`${how} finds the token endpoint by discovery`, async () => {
    const url = how === 'issuerUrl' ? cluster.url : `${cluster.url}/.well-known/openid-configuration`;
    const c = new Client({ ...opts(), authorizationServerUrl: '', [how]: url });
    assert.equal((await c.topology()).clusterSize, 3);
    c.close();
    const stats = await cluster.stats();
    assert.equal(stats.discovery_requests, 1);
    assert.equal(stats.token_requests, 1);
  });
}

for (const form of ['PEM', 'PKCS#12']) {
  test(`private_key_jwt from a ${form} key, inferred from it`, async () => {
    await cluster.dev('POST', '/_dev/config', { token_auth_method: 'private_key_jwt' });
    const env = cluster.env;
    const key = form === 'PEM'
      ? { clientAssertionKeyPath: env.ZBAUTH_DEV_ASSERTION_KEY_PATH, clientAssertionCertPath: env.ZBAUTH_DEV_ASSERTION_CERT_PATH }
      : {
        clientAssertionKeystorePath: env.ZBAUTH_DEV_ASSERTION_KEYSTORE_PATH,
        clientAssertionKeystorePassword: env.ZBAUTH_DEV_ASSERTION_KEYSTORE_PASSWORD,
        clientAssertionKeystoreKeyAlias: '1',
        clientAssertionKeystoreKeyPassword: env.ZBAUTH_DEV_ASSERTION_KEYSTORE_PASSWORD,
      };
    const c = new Client({ ...opts(), clientSecret: '', ...key }); // no secret needed
    assert.equal((await c.topology()).clusterSize, 3);
    c.close();
    const stats = await cluster.stats();
    assert.equal(stats.last_client_auth, 'private_key_jwt');
    assert.equal(stats.last_assertion_claims.iss, env.ZEEBE_CLIENT_ID);
    assert.ok('x5t#S256' in stats.last_assertion_header);
  });
}

test('tokenTimeoutMs bounds the token request only', async () => {
  await cluster.fault({ target: 'token', delay_ms: 3000 });
  const started = Date.now();
  const c = new Client({ ...opts(), timeoutMs: 10000, tokenTimeoutMs: 300 });
  const e = await rejection(c.token());
  c.close();
  assert.equal(e.code, 'TIMEOUT');
  assert.ok(Date.now() - started < 2500, `${Date.now() - started} ms`);
});

test('an unknown strategy, method or option is a CONFIG error naming it', () => {
  for (const [option, key, value] of [['authStrategy', 'auth_strategy', 'KERBEROS'], ['tokenAuthMethod', 'token_auth_method', 'tls_client_auth']]) {
    let e;
    try {
      new Client({ ...opts(), [option]: value });
    } catch (x) {
      e = x;
    }
    assert.ok(e instanceof ZbauthError && e.code === 'CONFIG', String(e));
    assert.deepEqual(e.fields, [key], e.message);
  }
  assert.throws(() => new Client({ ...opts(), authStratgy: 'BASIC' }), (e) => e.code === 'CONFIG' && /auth_stratgy/.test(e.message));
});

test('topology has the v2 fields, "" from a v1 answer', async () => {
  const v2 = new Client({ ...opts(), restAddress: `${cluster.env.ZEEBE_REST_ADDRESS}/v2` });
  const v1 = new Client(opts());
  try {
    const t2 = await v2.topology();
    assert.equal(t2.clusterId, 'zbauth-dev');
    assert.equal(t2.lastCompletedChangeId, '-1');
    const t1 = await v1.topology();
    assert.equal(t1.clusterId, '');
    assert.equal(t1.lastCompletedChangeId, '');
    assert.deepEqual(Object.keys(t1).sort(), Object.keys(t2).sort(), 'the same shape');
  } finally {
    v1.close();
    v2.close();
  }
});
