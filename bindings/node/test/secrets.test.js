'use strict';
// Neither the client secret nor an access token ever appears in what an
// error shows (zbauth issue 7): every error code the binding produces, each
// triggered with the marker secret configured (this file's dev cluster
// accepts helpers.SECRET) and, past the token endpoint, a marker token in
// flight; servers that echo them back included (secret-scenarios.js).
//
// Checked: the error's message, String(), util.inspect() (stack and every
// property), JSON.stringify() and stack; the client's util.inspect() (also
// with hidden properties), String() and JSON.stringify(); and, in a fresh
// process that runs every scenario and logs each error and client as an
// application would (console.log / console.error), everything written to
// stdout and stderr, the library's own output included. INTERNAL is only
// produced by a bug in the library and cannot be triggered from here. The
// conformance vectors (conformance.test.js) check the same of theirs.

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const util = require('node:util');
const {
  startCluster, clusterOptions, closedPort, runNode, cleanEnv, leaks, shown, SECRET, TOKEN_MARKER,
} = require('./helpers');
const {
  SCENARIOS, DEV_CONFIG, UNUSABLE_TOKENS, UNUSABLE_MESSAGES, STATIC_TOKEN, P12_KEY_WRONG, basic, bearer, keystore,
} = require('./secret-scenarios');

const { Client, ZbauthError } = require('..');

let cluster;
before(async () => { cluster = await startCluster(); });
after(async () => { if (cluster) await cluster.stop(); });

/** Every text a client shows. */
function clientShown(c) {
  return [util.inspect(c), util.inspect(c, { showHidden: true, depth: 10 }), String(c), JSON.stringify(c)].join('\n');
}

/** The markers found in text, and the lines that show them. */
function found(text, more = []) {
  const bad = [...leaks(text), ...more.filter((m) => text.includes(m))];
  const lines = text.split('\n').filter((l) => bad.some((b) => l.includes(b)));
  return { bad, lines };
}

function assertNoLeaks(what, text, more = []) {
  // The dev cluster's keystore password is no marker: looked for as it is.
  const { bad, lines } = found(text, [...more, cluster.env.ZBAUTH_DEV_ASSERTION_KEYSTORE_PASSWORD]);
  assert.deepEqual(bad, [], `${what} shows ${bad.join(', ')}:\n${lines.join('\n').slice(0, 4000)}`);
}

for (const [name, [code, faults, run, more]] of Object.entries(SCENARIOS)) {
  test(name, async () => {
    await cluster.reset();
    if (DEV_CONFIG[name]) await cluster.dev('POST', '/_dev/config', DEV_CONFIG[name]);
    if (faults.length) await cluster.fault(faults);
    const { error, client } = await run({ opts: clusterOptions(cluster.env), closedPort, env: cluster.env });
    try {
      assert.ok(error instanceof ZbauthError);
      assert.equal(error.code, code, error.message);
      assert.match(error.message, /^zbauth: /);
      assertNoLeaks('the error', shown(error), more);
      if (client) assertNoLeaks('the client', clientShown(client), more);
    } finally {
      if (client) client.close();
    }
  });
}

for (const [name, fault] of Object.entries(UNUSABLE_TOKENS)) {
  test(`an unusable token (${name}) is never handed out or cached`, async () => {
    await cluster.reset();
    await cluster.fault(fault);
    const c = new Client(clusterOptions(cluster.env));
    try {
      // The second call is not answered from a cache: it asks again (after
      // the one-per-second limit) and fails the same way.
      for (let i = 0; i < 2; i++) {
        const e = await c.token().then(() => assert.fail('no error'), (x) => x);
        assert.ok(e instanceof ZbauthError, String(e));
        assert.equal(e.code, 'AUTH');
        assert.equal(e.status, 200);
        assert.match(e.message, UNUSABLE_MESSAGES[name]);
        assertNoLeaks('the error', shown(e), ['X-Injected']);
      }
      assert.equal((await cluster.stats()).token_requests, 2);
      await cluster.dev('DELETE', '/_dev/faults');
      assert.ok(!(await c.token()).includes('X-Injected'));
    } finally {
      c.close();
    }
  });
}

test('an unusable token cache directory is logged without the secret in its path', async () => {
  // The library logs one warning to stderr, with the secret removed.
  const r = await runNode(['-e', `
    const { Client } = require(${JSON.stringify(path.resolve(__dirname, '..'))});
    const c = new Client({ tokenCacheDir: '/dev/null/' + process.env.ZEEBE_CLIENT_SECRET });
    c.token().then(() => { c.close(); console.log('token'); });
  `], { env: cleanEnv(cluster.env) });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim(), 'token');
  assert.match(r.stderr, /zbauth: warning: token cache directory/);
  assert.deepEqual(found(r.stderr).bad, [], r.stderr);
});

test('the scenarios cover every error code but INTERNAL', () => {
  const covered = new Set(Object.values(SCENARIOS).map(([code]) => code));
  assert.deepEqual([...covered].sort(), ['API', 'ARGUMENT', 'AUTH', 'CONFIG', 'TIMEOUT', 'TRANSPORT']);
});

test('the raw body of an API error is kept, but not shown', async () => {
  await cluster.reset();
  const echo = `Bearer ${TOKEN_MARKER} ${SECRET}`;
  await cluster.fault({ target: 'api', status: 400, content_type: 'text/plain', body: echo });
  const c = new Client(clusterOptions(cluster.env));
  try {
    const e = await c.request('GET', '/v2/topology').then(() => assert.fail('no error'), (x) => x);
    assert.equal(e.code, 'API');
    assert.equal(e.text, echo, 'err.text is the body as the server sent it');
    assert.ok(!Object.keys(e).includes('text'), 'not enumerable');
    assertNoLeaks('the error', shown(e));
  } finally {
    c.close();
  }
});

test('a client holding a token shows neither it nor the secret', async () => {
  await cluster.reset();
  await cluster.fault({ target: 'token', status: 200, body: JSON.stringify({ access_token: TOKEN_MARKER, token_type: 'Bearer', expires_in: 300 }) });
  const c = new Client(clusterOptions(cluster.env));
  try {
    assert.equal(await c.token(), TOKEN_MARKER);
    assert.equal(await c.token(), TOKEN_MARKER, 'cached (served synchronously)');
    assertNoLeaks('the client', clientShown(c));
  } finally {
    c.close();
  }
  assertNoLeaks('the closed client', clientShown(c));
});

test('clients holding each secret, and their options, show none of them', async () => {
  await cluster.reset();
  const ctx = { opts: clusterOptions(cluster.env), closedPort, env: cluster.env };
  const texts = [];
  await cluster.dev('POST', '/_dev/config', { auth: 'basic' });
  const all = [basic(ctx), bearer(ctx), keystore(ctx, undefined, { clientAssertionKeystoreKeyPassword: P12_KEY_WRONG })];
  const written = all.map((o) => JSON.stringify(o));
  for (const o of all) {
    const c = new Client(o);
    if (o.authStrategy === 'BASIC') assert.equal((await c.topology()).clusterSize, 3);
    texts.push(clientShown(c), util.inspect(Object.getOwnPropertyNames(c)), util.inspect(Object.getOwnPropertySymbols(c)));
    c.close();
    texts.push(clientShown(c));
  }
  assertNoLeaks('the clients', texts.join('\n'), [STATIC_TOKEN, P12_KEY_WRONG]);
  // the binding neither changes the options nor hands them on with anything added
  assert.deepEqual(all.map((o) => JSON.stringify(o)), written);
});

test('nothing written to stdout or stderr shows them (every scenario, logged, in a fresh process)', async () => {
  const r = await runNode([path.join(__dirname, 'secrets-child.js')], {
    env: cleanEnv(cluster.env), timeoutMs: 60000,
  });
  assert.equal(r.code, 0, r.stderr.slice(0, 4000));
  const all = r.stdout + r.stderr;
  const more = [...Object.values(SCENARIOS).flatMap(([, , , m]) => m || []), cluster.env.ZBAUTH_DEV_ASSERTION_KEYSTORE_PASSWORD];
  assertNoLeaks('the output', all, more);
  const results = r.stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
  assert.deepEqual(results.map((x) => x.name), Object.keys(SCENARIOS));
  for (const x of results) assert.equal(x.code, SCENARIOS[x.name][0], x.name);
  assert.ok(r.stderr.length > 1000, 'the errors were logged to stderr');
});
