'use strict';
// Run by signals.test.js: loads zbauth, then installs signal listeners (so
// Node installs its handlers after the Go runtime loaded) and keeps calling
// the library while the parent sends those signals. Prints one JSON line.
//
// With ZBAUTH_TEST_UNFIXED=1 it removes the binding's signal fix first, to
// show what happens without it (expected: the process crashes).
const { Client } = require('..');

const seconds = Number(process.env.SIGNAL_TEST_SECONDS || 3);
const client = new Client();
const counts = { SIGUSR1: 0, SIGUSR2: 0, SIGINT: 0 };

(async () => {
  await client.topology(); // the library (and the Go runtime) is loaded
  if (process.env.ZBAUTH_TEST_UNFIXED === '1') {
    for (const f of process.listeners('newListener')) {
      if (f.name === 'zbauthFixSignals') process.removeListener('newListener', f);
    }
  }
  for (const sig of Object.keys(counts)) process.on(sig, () => { counts[sig]++; });
  process.stdout.write('ready\n');
  let calls = 0;
  const end = Date.now() + seconds * 1000;
  const worker = async () => {
    while (Date.now() < end) {
      await client.topology();
      await client.token();
      calls += 2;
    }
  };
  await Promise.all(Array.from({ length: 16 }, worker));
  client.close();
  process.stdout.write(JSON.stringify({ calls, counts }) + '\n');
  process.exit(0);
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
