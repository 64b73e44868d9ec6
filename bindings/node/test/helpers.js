'use strict';
// Test helpers: a real dev cluster (`zbauth dev-cluster --port 0`, started
// here and stopped when the test file ends) and its /_dev/ control API.
//
// Every cluster accepts a marker secret (SECRET), with characters that need
// escaping in a form, a URL, JSON and a shell; `shown(err)` is all the text
// an error shows, and `leaks(text)` the secrets and markers found in it.

const { spawn } = require('node:child_process');
const path = require('node:path');
const fs = require('node:fs');

const util = require('node:util');

const PKG = path.resolve(__dirname, '..');
const ZBAUTH_BIN = process.env.ZBAUTH_BIN || path.resolve(PKG, '../../bin/zbauth');

/** The client secret the dev clusters accept. */
const SECRET = 'SECRET-MARKER-node-4c9e s3cr&t+/=%?#"x\'';
/** A token the dev cluster's token endpoint can be made to issue. */
const TOKEN_MARKER = 'TOKEN-MARKER-node-b7f0';
/** The Basic password the dev clusters accept: a marker too. */
const BASIC_PASSWORD = 'SECRET-MARKER-node-basic-2e8a p4ss:w&rd+/=%';
/** The dev cluster's Basic credentials as an Authorization header carries them. */
const BASIC_CREDENTIALS = Buffer.from(`zbauth-dev-user:${BASIC_PASSWORD}`).toString('base64');

// URL escapings of a string: fully (encodeURIComponent), and as Go's
// url.PathEscape and url.QueryEscape do.
const escapeAll = (s) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());
const pathEscape = (s) => escapeAll(s).replace(/%(24|26|2B|3A|3D|40)/g, (m) => decodeURIComponent(m));
const queryEscape = (s) => escapeAll(s).replace(/%20/g, '+');

/**
 * The secrets and markers found in text: any string starting SECRET-MARKER
 * or TOKEN-MARKER, the dev cluster's secret (also URL-escaped) and its
 * Basic credentials as a header carries them.
 */
function leaks(text, secret = SECRET) {
  const bad = ['SECRET-MARKER', 'TOKEN-MARKER', secret, encodeURIComponent(secret), escapeAll(secret), pathEscape(secret), queryEscape(secret),
    BASIC_CREDENTIALS];
  return [...new Set(bad.filter((b) => b && text.includes(b)))];
}

/** Every text an error shows: message, String(), util.inspect (stack and
 * properties), JSON.stringify and the stack. */
function shown(err) {
  return [err.message, String(err), util.inspect(err, { depth: 10 }), JSON.stringify(err), err.stack].join('\n');
}

/**
 * Starts a dev cluster that accepts clientSecret (default: SECRET) and the
 * Basic password BASIC_PASSWORD, with more command-line args (such as
 * `['--auth', 'basic']`), and resolves to { env, url, stop, dev, stats,
 * reset, fault }. env holds the variables it printed: its ZEEBE_* or
 * CAMUNDA_* settings and the ZBAUTH_DEV_* ones (URL, key files, Basic
 * credentials, static token).
 */
function startCluster({ clientSecret = SECRET, args = [] } = {}) {
  if (!fs.existsSync(ZBAUTH_BIN)) {
    throw new Error(`no zbauth binary at ${ZBAUTH_BIN}: run \`make build\` or set ZBAUTH_BIN`);
  }
  return new Promise((resolve, reject) => {
    const proc = spawn(ZBAUTH_BIN, ['dev-cluster', '--port', '0', '--client-secret', clientSecret, '--basic-password', BASIC_PASSWORD, ...args],
      { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let errText = '';
    let done = false;
    const timer = setTimeout(() => fail(new Error('dev cluster did not start within 15 s')), 15000);
    function fail(e) {
      if (done) return;
      done = true;
      clearTimeout(timer);
      proc.kill('SIGTERM');
      reject(e);
    }
    proc.stderr.on('data', (d) => { errText += d; });
    proc.on('exit', (code) => fail(new Error(`dev cluster exited (${code}): ${errText}`)));
    proc.stdout.on('data', (d) => {
      out += d;
      // ZBAUTH_DEV_URL is the last line: wait for all of it.
      if (done || !/^export ZBAUTH_DEV_URL=.*\n/m.test(out)) return;
      done = true;
      clearTimeout(timer);
      const env = {};
      for (const line of out.split('\n')) {
        const m = /^export ([A-Z0-9_]+)=(.*)$/.exec(line);
        if (m) env[m[1]] = m[2].replace(/^'(.*)'$/, '$1').replace(/'\\''/g, "'");
      }
      const oauth = !args.includes('--auth') || args[args.indexOf('--auth') + 1] === 'oauth';
      if ((oauth && env.ZEEBE_CLIENT_SECRET !== clientSecret) || env.ZBAUTH_DEV_BASIC_PASSWORD !== BASIC_PASSWORD) {
        proc.kill('SIGTERM');
        reject(new Error('the dev cluster does not use the given client secret and Basic password'));
        return;
      }
      resolve({
        env,
        url: env.ZBAUTH_DEV_URL,
        ...control(env.ZBAUTH_DEV_URL),
        stop: () => new Promise((res) => {
          proc.removeAllListeners('exit');
          if (proc.exitCode !== null || proc.signalCode !== null) return res();
          proc.once('exit', () => res());
          proc.kill('SIGTERM');
        }),
      });
    });
  });
}

/** The dev cluster's /_dev/ control API at url. */
function control(url) {
  const dev = async (method, p, body) => {
    const r = await fetch(url + p, {
      method,
      headers: { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await r.text();
    if (!r.ok) throw new Error(`dev cluster ${method} ${p}: ${r.status} ${text}`);
    return text ? JSON.parse(text) : null;
  };
  return {
    dev,
    stats: () => dev('GET', '/_dev/stats'),
    reset: () => dev('POST', '/_dev/reset', {}), // faults too
    fault: (f) => dev('POST', '/_dev/faults', f),
  };
}

/** A loopback port with no listener. */
async function closedPort() {
  const net = require('node:net');
  const srv = net.createServer();
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address();
  await new Promise((r) => srv.close(r));
  return port;
}

/** Runs `node args...` and resolves to { code, signal, stdout, stderr }. */
function runNode(args, { env, cwd, timeoutMs = 30000 } = {}) {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, args, { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => { stdout += d; });
    p.stderr.on('data', (d) => { stderr += d; });
    const t = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.on('exit', (code, signal) => {
      clearTimeout(t);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** process.env without any ZEEBE_/CAMUNDA_/ZBAUTH_ variables, plus extra. */
function cleanEnv(extra) {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!/^(ZEEBE_|CAMUNDA_|ZBAUTH_)/.test(k)) env[k] = v;
  }
  return { ...env, ...extra };
}

/** The dev cluster's settings as the binding's options. */
function clusterOptions(env) {
  return {
    clientId: env.ZEEBE_CLIENT_ID,
    clientSecret: env.ZEEBE_CLIENT_SECRET,
    authorizationServerUrl: env.ZEEBE_AUTHORIZATION_SERVER_URL,
    audience: env.ZEEBE_TOKEN_AUDIENCE,
    restAddress: env.ZEEBE_REST_ADDRESS,
  };
}

module.exports = {
  PKG, ZBAUTH_BIN, SECRET, TOKEN_MARKER, BASIC_PASSWORD, BASIC_CREDENTIALS, startCluster, control, clusterOptions, closedPort, runNode, cleanEnv,
  leaks, shown, pathEscape, queryEscape,
};
