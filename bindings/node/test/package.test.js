'use strict';
// `npm pack` gives a tarball that installs into a fresh folder (no compiler,
// no network) and runs from CommonJS and ESM.

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { startCluster, runNode, cleanEnv, PKG } = require('./helpers');

let cluster;
let tmp;
before(async () => {
  cluster = await startCluster();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'zbauth-node-pack-'));
});
after(async () => {
  if (cluster) await cluster.stop();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

const npm = (args, cwd) => execFileSync('npm', [...args, '--no-audit', '--no-fund', '--loglevel=error'], {
  cwd, env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'],
}).toString();

test('the packed tarball installs into a fresh folder and runs', async () => {
  const packed = JSON.parse(npm(['pack', '--json', '--pack-destination', tmp], PKG));
  const files = packed[0].files.map((f) => f.path).sort();
  const platform = `${process.platform}-${process.arch}`;
  for (const f of ['package.json', 'index.js', 'index.mjs', 'index.d.ts', 'README.md',
    `prebuilds/${platform}/zbauth.node`, `prebuilds/${platform}/libzbauth.so`]) {
    assert.ok(files.includes(f), `${f} is in the tarball (${files.join(', ')})`);
  }
  assert.ok(!files.some((f) => f.startsWith('test/') || f.startsWith('node_modules/')), files.join(', '));
  const tarball = path.join(tmp, packed[0].filename);

  const app = path.join(tmp, 'app');
  fs.mkdirSync(app);
  fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', private: true }));
  npm(['install', '--offline', tarball], app);
  const installed = path.join(app, 'node_modules', 'zbauth');
  assert.ok(fs.existsSync(path.join(installed, 'index.d.ts')));

  const env = cleanEnv(cluster.env);
  const cjs = await runNode(['-e', `
    const { Client, libraryPath } = require('zbauth');
    const c = new Client();
    c.topology().then((t) => { console.log(t.clusterSize, libraryPath()); c.close(); });
  `], { env, cwd: app });
  assert.equal(cjs.code, 0, cjs.stderr);
  const [size, lib] = cjs.stdout.trim().split(' ');
  assert.equal(size, '3');
  assert.ok(lib.startsWith(installed), `the library inside the installed package: ${lib}`);

  const esm = await runNode(['--input-type=module', '-e', `
    import { Client, ZbauthError } from 'zbauth';
    const c = new Client();
    const tok = await c.token();
    c.close();
    try { await c.token(); } catch (e) { console.log(tok.length > 20, e instanceof ZbauthError, e.code); }
  `], { env, cwd: app });
  assert.equal(esm.code, 0, esm.stderr);
  assert.equal(esm.stdout.trim(), 'true true ARGUMENT');
});
