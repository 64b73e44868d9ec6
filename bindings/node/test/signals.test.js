'use strict';
// Signal handlers that Node installs after the Go runtime loaded must get
// SA_ONSTACK, or a signal that lands on a Go thread crashes the process.
// signal-child.js installs SIGUSR1/SIGUSR2/SIGINT listeners after loading
// the library and keeps calling it while this test sends it those signals
// every millisecond.
//
// To see the failure this guards against, run the child without the
// binding's fix: `ZBAUTH_TEST_UNFIXED=1 node --test test/signals.test.js`
// (from bindings/node, with bin/zbauth built) — the child then dies of
// SIGSEGV/SIGABRT ("fatal error: unexpected signal" / "fault" from the Go
// runtime), and the first test fails.

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const path = require('node:path');
const { execFileSync } = require('node:child_process');
const { startCluster, cleanEnv } = require('./helpers');

let cluster;
before(async () => { cluster = await startCluster(); });
after(async () => { if (cluster) await cluster.stop(); });

function runChild(extraEnv) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(__dirname, 'signal-child.js')], {
      env: cleanEnv({
        ...cluster.env,
        SIGNAL_TEST_SECONDS: '3',
        ZBAUTH_TEST_UNFIXED: process.env.ZBAUTH_TEST_UNFIXED || '',
        ...extraEnv,
      }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    let timer = null;
    let sent = 0;
    const sigs = ['SIGUSR1', 'SIGUSR2', 'SIGINT'];
    child.stderr.on('data', (d) => { err += d; });
    child.stdout.on('data', (d) => {
      out += d;
      if (timer || !out.includes('ready')) return;
      timer = setInterval(() => {
        for (let k = 0; k < 20; k++) {
          try {
            process.kill(child.pid, sigs[sent++ % sigs.length]);
          } catch {
            // the child is gone
          }
        }
      }, 1);
    });
    const kill = setTimeout(() => child.kill('SIGKILL'), 30000);
    child.on('exit', (code, signal) => {
      clearInterval(timer);
      clearTimeout(kill);
      resolve({ code, signal, out, err, sent });
    });
  });
}

test('signals sent while calls run, to handlers installed after loading', async () => {
  const r = await runChild({});
  assert.equal(r.signal, null, `the child died of ${r.signal}: ${r.err.slice(0, 2000)}`);
  assert.equal(r.code, 0, r.err.slice(0, 2000));
  const last = JSON.parse(r.out.trim().split('\n').pop());
  assert.ok(last.calls > 0, 'calls ran');
  for (const s of ['SIGUSR1', 'SIGUSR2', 'SIGINT']) assert.ok(last.counts[s] > 0, `${s} reached the listener`);
  assert.ok(r.sent > 300, `${r.sent} signals sent`);
});

test('handlers Node installs later get SA_ONSTACK', () => {
  // The addon's fixer returns how many handlers lacked SA_ONSTACK. With the
  // binding's hook in place none do; without it, each new one does.
  const pkg = path.resolve(__dirname, '..');
  const addon = path.join(pkg, 'prebuilds', `${process.platform}-${process.arch}`, 'zbauth.node');
  const code = `
    const zb = require(${JSON.stringify(pkg)});
    new zb.Client();
    const native = require(${JSON.stringify(addon)});
    process.on('SIGUSR2', () => {});
    process.on('SIGWINCH', () => {});
    process.once('SIGHUP', () => {});
    const withHook = native.fixSignals();
    for (const f of process.listeners('newListener')) {
      if (f.name === 'zbauthFixSignals') process.removeListener('newListener', f);
    }
    process.on('SIGUSR1', () => {});
    process.on('SIGTERM', () => {});
    console.log(withHook, native.fixSignals());
  `;
  const out = execFileSync(process.execPath, ['-e', code], { env: cleanEnv(cluster.env) }).toString().trim();
  assert.equal(out, '0 2');
});
