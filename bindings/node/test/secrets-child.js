'use strict';
// Run by secrets.test.js in a fresh process pointed at its dev cluster (the
// ZEEBE_* and ZBAUTH_DEV_* variables): every scenario of secret-scenarios.js,
// each error and client logged as an application would log them. The parent
// checks everything this process writes. Prints one JSON line per scenario.

const util = require('node:util');
const { control, clusterOptions, closedPort } = require('./helpers');
const { SCENARIOS, DEV_CONFIG } = require('./secret-scenarios');

(async () => {
  const cluster = control(process.env.ZBAUTH_DEV_URL);
  for (const [name, [, faults, run]] of Object.entries(SCENARIOS)) {
    await cluster.reset();
    if (DEV_CONFIG[name]) await cluster.dev('POST', '/_dev/config', DEV_CONFIG[name]);
    if (faults.length) await cluster.fault(faults);
    const { error, client } = await run({ opts: clusterOptions(process.env), closedPort, env: process.env });
    console.error(error);
    console.error('%s', error);
    console.error(util.inspect(error, { depth: 10 }));
    if (client) console.error(client);
    console.log(JSON.stringify({ name, code: error.code, error }));
    if (client) client.close();
  }
})().catch((e) => {
  console.error('secrets-child failed:', e && e.stack ? e.stack.split('\n')[0] : 'error');
  process.exit(1);
});
