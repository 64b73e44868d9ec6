'use strict';
// Test helpers: a real dev cluster (`zbauth dev-cluster --port 0`, started
// here and stopped when the test file ends) and its /_dev/ control API.

const { spawn } = require('node:child_process');
const path = require('node:path');
const fs = require('node:fs');

const PKG = path.resolve(__dirname, '..');
const ZBAUTH_BIN = process.env.ZBAUTH_BIN || path.resolve(PKG, '../../bin/zbauth');

/**
 * Starts a dev cluster and resolves to { env, url, stop, dev, stats, reset }.
 * env holds the ZEEBE_* variables and ZBAUTH_DEV_URL it printed.
 */
function startCluster() {
  if (!fs.existsSync(ZBAUTH_BIN)) {
    throw new Error(`no zbauth binary at ${ZBAUTH_BIN}: run \`make build\` or set ZBAUTH_BIN`);
  }
  return new Promise((resolve, reject) => {
    const proc = spawn(ZBAUTH_BIN, ['dev-cluster', '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
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
      if (done || !/^export ZBAUTH_DEV_URL=.*$/m.test(out)) return;
      done = true;
      clearTimeout(timer);
      const env = {};
      for (const line of out.split('\n')) {
        const m = /^export ([A-Z0-9_]+)=(.*)$/.exec(line);
        if (m) env[m[1]] = m[2].replace(/^'(.*)'$/, '$1').replace(/'\\''/g, "'");
      }
      const url = env.ZBAUTH_DEV_URL;
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
      const stop = () => new Promise((res) => {
        proc.removeAllListeners('exit');
        if (proc.exitCode !== null || proc.signalCode !== null) return res();
        proc.once('exit', () => res());
        proc.kill('SIGTERM');
      });
      resolve({
        env,
        url,
        stop,
        dev,
        stats: () => dev('GET', '/_dev/stats'),
        reset: async () => {
          await dev('DELETE', '/_dev/faults');
          await dev('POST', '/_dev/reset', {});
        },
        fault: (f) => dev('POST', '/_dev/faults', f),
      });
    });
  });
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

/** process.env without any ZEEBE_/CAMUNDA_/ZBAUTH_ variables. */
function cleanEnv(extra) {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!/^(ZEEBE_|CAMUNDA_|ZBAUTH_)/.test(k)) env[k] = v;
  }
  return { ...env, ...extra };
}

module.exports = { PKG, ZBAUTH_BIN, startCluster, closedPort, runNode, cleanEnv };
