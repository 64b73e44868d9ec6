'use strict';
// The scenarios of secrets.test.js (zbauth issue 7): every error code the
// binding can produce, each triggered with the marker secret configured (the
// dev cluster accepts helpers.SECRET) and, past the token endpoint, a marker
// token in flight; servers that echo them back included. Shared with
// secrets-child.js, which runs them all in a fresh process and logs what
// they produce.
//
// Each scenario: [code, faults queued after a reset, run(ctx), more
// markers?], where run resolves to { error, client } and ctx is
// { opts, closedPort, env } (env: the dev cluster's variables); the
// optional markers are texts that must not show either. DEV_CONFIG[name],
// when present, is POSTed to /_dev/config before the faults (as the
// conformance vectors do).
//
// Besides the client secret and tokens (zbauth issue 7), the secrets of
// the other strategies (issue 16): the Basic password (the dev clusters
// accept helpers.BASIC_PASSWORD), a static bearer token, the keystore
// passwords and the contents of key files.

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { Client, ZbauthError } = require('..');
const { SECRET, TOKEN_MARKER, BASIC_PASSWORD, BASIC_CREDENTIALS, pathEscape, queryEscape } = require('./helpers');

const Q = pathEscape(SECRET); // as a URL path segment
const QP = queryEscape(SECRET); // as a query value

/** A fault: the token endpoint always answers status with body (JSON-encoded unless a string). */
const tokenAnswers = (status, body) => ({ target: 'token', status, body: typeof body === 'string' ? body : JSON.stringify(body) });

// The token endpoint issues TOKEN_MARKER (the API rejects it, unless an API fault answers first).
const MARKER_TOKEN = tokenAnswers(200, { access_token: TOKEN_MARKER, token_type: 'Bearer', expires_in: 300 });

/** A fault: the REST API answers with a problem document echoing the token and the secret in every member. */
function echoProblem(status) {
  const echo = `Authorization: Bearer ${TOKEN_MARKER} client_secret=${QP} ${SECRET}`;
  return {
    target: 'api', status, content_type: 'application/problem+json',
    body: JSON.stringify({ type: echo, title: echo, status, detail: echo, instance: echo }),
  };
}

/** Runs fn and returns what it threw or rejected with (a ZbauthError), or fails. */
async function fails(fn, client) {
  try {
    await fn();
  } catch (e) {
    if (!(e instanceof ZbauthError)) throw e;
    return { error: e, client };
  }
  throw new Error('no error');
}

/** Creates a client from the dev cluster's options with overrides (each a
 * value, or a function of ctx) and makes call on it. */
function clientCall(call, overrides = {}) {
  return async (ctx) => {
    const o = { ...ctx.opts };
    for (const [k, v] of Object.entries(overrides)) o[k] = typeof v === 'function' ? await v(ctx) : v;
    const c = new Client(o);
    return fails(() => call(c), c);
  };
}

const token = (c) => c.token();
const topology = (c) => c.topology();
const dead = async (ctx) => `http://127.0.0.1:${await ctx.closedPort()}`;

const SCENARIOS = {
  // CONFIG (thrown by the constructor)
  'config with the secret in URLs': ['CONFIG', [], () => fails(() => new Client({
    clientId: 'id', clientSecret: SECRET,
    authorizationServerUrl: `https://id:${QP}@login.example/${Q}`,
    restAddress: `ftp://${Q}/x?secret=${QP}`,
  }))],
  'config key named like the secret': ['CONFIG', [], (ctx) => fails(() => new Client({ ...ctx.opts, [SECRET]: 1 }))],
  // a secret shaped like a camelCase name, in any spelling the binding might give it
  'config key named like the secret, camelCase': ['CONFIG', [], (ctx) => fails(() => new Client({
    ...ctx.opts, clientSecret: 'secretMarkerCamel', secretMarkerCamel: 1,
  })), ['secretMarkerCamel', 'secret_marker_camel', 'MarkerCamel', 'marker_camel']],
  'secret as a number option': ['CONFIG', [], (ctx) => fails(() => new Client({ ...ctx.opts, timeoutMs: SECRET }))],
  'secret as a boolean option': ['CONFIG', [], (ctx) => fails(() => new Client({ ...ctx.opts, allowInsecureHttp: SECRET }))],

  // AUTH
  'wrong secret': ['AUTH', [], clientCall(token, { clientSecret: `${SECRET}-wrong` })],
  'wrong secret, refusal remembered': ['AUTH', [], async (ctx) => {
    const c = new Client({ ...ctx.opts, clientSecret: `${SECRET}-wrong` });
    await fails(() => c.token(), c);
    return fails(() => c.token(), c); // served from the remembered refusal
  }],
  'token endpoint echoes the secret': ['AUTH', [tokenAnswers(401, {
    error: SECRET, error_description: `client_secret=${QP}&audience=x ${SECRET}`,
  })], clientCall(token)],
  'token endpoint echoes the secret with control characters inside': ['AUTH', [tokenAnswers(401, {
    error: [...SECRET].join('\x01'), error_description: [...SECRET].join('\x1b[0m\u200b'),
  })], clientCall(token)],
  'token endpoint sends its token with an error': ['AUTH', [tokenAnswers(400, {
    access_token: TOKEN_MARKER, error: TOKEN_MARKER, error_description: TOKEN_MARKER,
  })], clientCall(token)],
  'malformed token response': ['AUTH', [tokenAnswers(200,
    `{"access_token":"${TOKEN_MARKER}","client_secret":${JSON.stringify(SECRET)}`)], clientCall(token)],
  'token_type echoes the secret': ['AUTH', [tokenAnswers(200, { access_token: TOKEN_MARKER, token_type: SECRET })], clientCall(token)],
  'token_type echoes the token': ['AUTH', [tokenAnswers(200, { access_token: TOKEN_MARKER, token_type: TOKEN_MARKER })], clientCall(token)],
  'AUTH through topology()': ['AUTH', [tokenAnswers(401, { error: SECRET })], clientCall(topology)],

  // API
  'API rejects the marker token': ['API', [MARKER_TOKEN], clientCall(topology)],
  'API problem echoes token and secret (topology)': ['API', [MARKER_TOKEN, echoProblem(403)], clientCall(topology)],
  'API problem echoes token and secret (request)': ['API', [MARKER_TOKEN, echoProblem(400)],
    clientCall((c) => c.request('POST', '/v2/echo', { secret: SECRET, token: TOKEN_MARKER }))],
  'API plain-text error echoes token and secret (request)': ['API', [MARKER_TOKEN, {
    target: 'api', status: 500, content_type: 'text/plain', body: `Bearer ${TOKEN_MARKER} ${SECRET}`,
  }], clientCall((c) => c.request('GET', '/v2/topology'))],
  'malformed topology echoing token and secret': ['API', [MARKER_TOKEN, {
    target: 'api', status: 200, body: `{"brokers":"Bearer ${TOKEN_MARKER} ${SECRET}`,
  }], clientCall(topology)],

  // TRANSPORT
  'token endpoint unreachable, secret in its URL': ['TRANSPORT', [], clientCall(token, {
    authorizationServerUrl: async (ctx) => `${await dead(ctx)}/${Q}/token?client_secret=${QP}`, timeoutMs: 300,
  })],
  'REST API unreachable, secret in its URL': ['TRANSPORT', [MARKER_TOKEN], clientCall(topology, {
    restAddress: async (ctx) => `${await dead(ctx)}/${Q}`, timeoutMs: 300,
  })],
  'REST API unreachable (request)': ['TRANSPORT', [MARKER_TOKEN], clientCall((c) => c.request('POST', '/v2/echo', { s: SECRET }), {
    restAddress: async (ctx) => `${await dead(ctx)}/${Q}`, timeoutMs: 300,
  })],
  'huge token response': ['TRANSPORT', [{ target: 'token', status: 200, body_bytes: 2 << 20 }], clientCall(token)],

  // TIMEOUT
  'token endpoint timeout': ['TIMEOUT', [{ target: 'token', delay_ms: 2000 }], clientCall(token, { timeoutMs: 200 })],
  'API timeout, secret in its URL': ['TIMEOUT', [MARKER_TOKEN, { target: 'api', delay_ms: 2000 }], clientCall(topology, {
    restAddress: (ctx) => `${ctx.opts.restAddress}/${Q}`, timeoutMs: 200,
  })],
  'API timeout (request)': ['TIMEOUT', [MARKER_TOKEN, { target: 'api', delay_ms: 2000 }],
    clientCall((c) => c.request('POST', '/v2/echo', { s: SECRET }), { timeoutMs: 200 })],

  // long or re-encoded echoes (library leaks once)
  'token_type echoes token and secret (40-character cut)': ['AUTH', [tokenAnswers(200, {
    access_token: TOKEN_MARKER, token_type: TOKEN_MARKER + SECRET,
  })], clientCall(token)],
  'OAuth error echoes a long token (200-character cut)': ['AUTH', [tokenAnswers(400, {
    access_token: TOKEN_MARKER + 'a'.repeat(900), error: TOKEN_MARKER + 'a'.repeat(900),
  })], clientCall(token)],
  'problem detail with the secret at its 1000-character cut': ['API', [{
    target: 'api', status: 403, content_type: 'application/problem+json',
    body: JSON.stringify({ title: 'Forbidden', detail: 'd'.repeat(980) + SECRET }),
  }], clientCall(topology)],
  'secret fully percent-encoded in the REST address': ['TRANSPORT', [], clientCall(topology, {
    restAddress: async (ctx) => `${await dead(ctx)}/${encodeURIComponent(SECRET)}`, timeoutMs: 300,
  })],

  // ARGUMENT
  'closed client: token()': ['ARGUMENT', [], clientCall(async (c) => { await c.token(); c.close(); return c.token(); })],
  'closed client: topology()': ['ARGUMENT', [MARKER_TOKEN], clientCall(async (c) => { await c.token(); c.close(); return c.topology(); })],
  'closed client: request()': ['ARGUMENT', [MARKER_TOKEN],
    clientCall(async (c) => { await c.token(); c.close(); return c.request('GET', `/v2/x?secret=${QP}`); })],
  'absolute URL refused by the library': ['ARGUMENT', [MARKER_TOKEN], clientCall(async (c) => {
    await c.token();
    return c.request('GET', `http://evil.example/?token=${TOKEN_MARKER}&secret=${QP}`);
  })],
  'malformed method': ['ARGUMENT', [MARKER_TOKEN], clientCall((c) => c.request(`GET ${SECRET}`, '/v2/topology'))],
  'unserialisable body': ['ARGUMENT', [], clientCall((c) => c.request('POST', '/v2/echo', { secret: SECRET, n: 1n }))],
  'option value JSON cannot carry': ['ARGUMENT', [], (ctx) => fails(() => new Client({ ...ctx.opts, [SECRET]: () => SECRET }))],
  'options not an object': ['ARGUMENT', [], () => fails(() => new Client(SECRET))],
};

// Tokens that must never be handed out (zbauth issue 22, item 4): one that
// would inject a header into "Authorization: Bearer $(zbauth token)", one
// a C string would cut, one that is not UTF-8, and a NaN expires_in (it
// never expired). Each is AUTH with its own message (UNUSABLE_MESSAGES).
const UNUSABLE_TOKENS = {
  'CR/LF': tokenAnswers(200, { access_token: `${TOKEN_MARKER}\r\nX-Injected: ${SECRET}`, expires_in: 300 }),
  NUL: tokenAnswers(200, { access_token: `${TOKEN_MARKER}\u0000X-Injected`, expires_in: 300 }),
  'not UTF-8': {
    target: 'token', status: 200, body_base64: Buffer.concat([
      Buffer.from(`{"access_token":"${TOKEN_MARKER}`), Buffer.from([0xff, 0xfe]), Buffer.from('X-Injected","expires_in":300}'),
    ]).toString('base64'),
  },
  'NaN expires_in': tokenAnswers(200, { access_token: TOKEN_MARKER, expires_in: 'NaN' }),
};
const UNUSABLE_MESSAGES = {
  'CR/LF': /unusable access token/, NUL: /unusable access token/, 'not UTF-8': /unusable access token/,
  'NaN expires_in': /expires_in is not a finite/,
};
for (const [name, fault] of Object.entries(UNUSABLE_TOKENS)) {
  SCENARIOS[`unusable token: ${name}`] = ['AUTH', [fault], clientCall(token), ['X-Injected']];
}

// Secrets inside configured file paths: once quoted in CONFIG messages,
// now left out by the library (it names the field, not the path).
Object.assign(SCENARIOS, {
  'secret in a CA certificate path': ['CONFIG', [], (ctx) => fails(() => new Client({
    ...ctx.opts, caCertificatePath: `/nonexistent/${SECRET}.pem`,
  }))],
  'secret in a client certificate path': ['CONFIG', [], (ctx) => fails(() => new Client({
    ...ctx.opts, clientCertificatePath: `/nonexistent/${SECRET}.pem`, clientKeyPath: '/nonexistent/key.pem',
  }))],
});

// The other strategies' secrets (zbauth issue 16).
const DEV_CONFIG = {};
const STATIC_TOKEN = 'TOKEN-MARKER-node-static-4f0e';
const P12_WRONG = 'SECRET-MARKER-node-p12-wrong s3cr&t';
const P12_KEY_WRONG = 'SECRET-MARKER-node-p12-key-wrong';
const NOT_A_KEY = 'SECRET-MARKER-node-file-contents-not-a-key\n';

/** Options for the BASIC strategy with the marker password. */
const basic = (ctx, more = {}) => ({
  restAddress: ctx.opts.restAddress, authStrategy: 'BASIC',
  basicAuthUsername: ctx.env.ZBAUTH_DEV_BASIC_USERNAME, basicAuthPassword: BASIC_PASSWORD, ...more,
});
const bearer = (ctx, more = {}) => ({ restAddress: ctx.opts.restAddress, authStrategy: 'BEARER', oauthToken: STATIC_TOKEN, ...more });
/** The cluster's options with private_key_jwt from its PKCS#12 keystore (password undefined: the right one). */
const keystore = (ctx, password, more = {}) => ({
  ...ctx.opts, clientAssertionKeystorePath: ctx.env.ZBAUTH_DEV_ASSERTION_KEYSTORE_PATH,
  clientAssertionKeystorePassword: password === undefined ? ctx.env.ZBAUTH_DEV_ASSERTION_KEYSTORE_PASSWORD : password, ...more,
});

/** Creates a client from make(ctx), a CONFIG error from the constructor being the outcome too, and makes call on it. */
function withOptions(make, call) {
  return async (ctx) => {
    let c;
    try {
      c = new Client(await make(ctx));
    } catch (e) {
      if (!(e instanceof ZbauthError)) throw e;
      return { error: e };
    }
    return fails(() => call(c), c);
  };
}

function notAKeyFile() {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'zbauth-node-test-')), 'not-a-key');
  fs.writeFileSync(file, NOT_A_KEY);
  return file;
}

/** A fault: the REST API answers with a problem echoing echo (default: the Basic credentials) in every member. */
function echoBack(status, echo = `Authorization: Basic ${BASIC_CREDENTIALS} password=${BASIC_PASSWORD}`) {
  return {
    target: 'api', status, content_type: 'application/problem+json',
    body: JSON.stringify({ type: echo, title: echo, status, detail: echo, instance: echo }),
  };
}

const BASIC_MODE = { auth: 'basic' };
const STRATEGIES = {
  'BASIC: wrong password': ['AUTH', [], withOptions((ctx) => basic(ctx, { basicAuthPassword: `${BASIC_PASSWORD}-wrong` }), topology), BASIC_MODE],
  'BASIC: token() has none': ['CONFIG', [], withOptions(basic, token), BASIC_MODE],
  'BASIC: API problem echoes the credentials': ['API', [echoBack(403)], withOptions(basic, topology), BASIC_MODE],
  'BASIC: API problem echoes the credentials (request)': ['API', [echoBack(400)],
    withOptions(basic, (c) => c.request('POST', '/v2/echo', { password: BASIC_PASSWORD })), BASIC_MODE],
  'BASIC: REST API unreachable': ['TRANSPORT', [], withOptions(async (ctx) => basic(ctx, { restAddress: await dead(ctx), timeoutMs: 300 }), topology)],
  'BASIC: API timeout': ['TIMEOUT', [{ target: 'api', delay_ms: 2000 }], withOptions((ctx) => basic(ctx, { timeoutMs: 200 }), topology), BASIC_MODE],
  'BASIC: no user name': ['CONFIG', [], withOptions((ctx) => basic(ctx, { basicAuthUsername: '' }), topology)],
  'BASIC: password with a newline': ['CONFIG', [], withOptions((ctx) => basic(ctx, { basicAuthPassword: `${BASIC_PASSWORD}\r\nX-Injected: 1` }), topology)],
  'BASIC: closed client': ['ARGUMENT', [], withOptions(basic, async (c) => { c.close(); return c.topology(); })],
  'BEARER: token rejected': ['AUTH', [], withOptions(bearer, topology)],
  'BEARER: API problem echoes the token': ['API', [echoBack(403, `Bearer ${STATIC_TOKEN}`)], withOptions(bearer, topology)],
  'BEARER: token with a newline': ['CONFIG', [], withOptions((ctx) => bearer(ctx, { oauthToken: `${STATIC_TOKEN}\r\nX-Injected: 1` }), topology)],
  'BEARER: token with a space and the secret': ['CONFIG', [], withOptions((ctx) => bearer(ctx, { oauthToken: `${STATIC_TOKEN} ${SECRET}` }), topology)],
  'keystore: wrong password': ['CONFIG', [], withOptions((ctx) => keystore(ctx, P12_WRONG), token)],
  'keystore: wrong password and key password': ['CONFIG', [], withOptions((ctx) => keystore(ctx, P12_WRONG, {
    clientAssertionKeystoreKeyPassword: P12_KEY_WRONG,
  }), token)],
  'keystore: not a keystore': ['CONFIG', [], withOptions((ctx) => keystore(ctx, P12_WRONG, { clientAssertionKeystorePath: notAKeyFile() }), token)],
  'PEM key: not a key': ['CONFIG', [], withOptions((ctx) => ({
    ...ctx.opts, tokenAuthMethod: 'private_key_jwt', clientAssertionKeyPath: notAKeyFile(),
  }), token)],
  'keystore: right password, token endpoint refuses': ['AUTH', [tokenAnswers(401, { error: 'invalid_client', error_description: SECRET })],
    withOptions((ctx) => keystore(ctx), token), { token_auth_method: 'private_key_jwt' }],
  'keystore: right password, key password, API rejects': ['API', [MARKER_TOKEN], withOptions((ctx) => keystore(ctx, undefined, {
    clientAssertionKeystoreKeyPassword: P12_KEY_WRONG,
  }), topology), { token_auth_method: 'private_key_jwt' }],
};
for (const [name, [code, faults, run, devConfig]] of Object.entries(STRATEGIES)) {
  SCENARIOS[name] = [code, faults, run, ['X-Injected']];
  if (devConfig) DEV_CONFIG[name] = devConfig;
}

module.exports = {
  SCENARIOS, DEV_CONFIG, UNUSABLE_TOKENS, UNUSABLE_MESSAGES, STATIC_TOKEN, P12_KEY_WRONG, basic, bearer, keystore,
};
