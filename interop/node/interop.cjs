// The Node binding against a real token issuer (make test-interop).
//
// Run as `node interop.cjs PACKAGE_DIR success` or
// `node interop.cjs PACKAGE_DIR wrong-secret CODE`, where PACKAGE_DIR is
// the installed zbauth package, under `zbauth dev-cluster --issuer ...`
// (the REST side, which verifies the issuer's tokens against its JWKS).
'use strict';

const [pkg, mode, code] = process.argv.slice(2);
const { Client, ZbauthError, version } = require(pkg);

async function success() {
  const client = new Client();
  try {
    const token = await client.token();
    const topology = await client.topology();
    if (token.split('.').length !== 3) throw new Error('the token is not a JWT');
    if (!topology.brokers || topology.brokers.length === 0) throw new Error('empty topology');
    console.log(`interop-node: zbauth ${version()}: token (${token.length} bytes), ` +
      `${topology.brokers.length} brokers`);
  } finally {
    client.close();
  }
}

async function wrongSecret() {
  const client = new Client({ clientSecret: 'wrong-secret' });
  try {
    await client.topology();
  } catch (e) {
    if (!(e instanceof ZbauthError) || e.code !== 'AUTH') throw new Error(`want a ZbauthError AUTH, got ${e.code}: ${e.message}`);
    console.log(`interop-node: ${e.code}: ${e.message}`);
    if (!e.message.includes(code) || e.message.includes('wrong-secret')) {
      throw new Error(`the message must carry ${code} and not the secret`);
    }
    return;
  } finally {
    client.close();
  }
  throw new Error('a wrong secret got a topology');
}

const run = mode === 'success' ? success : mode === 'wrong-secret' && code ? wrongSecret : null;
if (!run) {
  console.error('usage: node interop.cjs PACKAGE_DIR success | wrong-secret OAUTH_ERROR_CODE');
  process.exit(2);
}
run().catch((e) => {
  console.error(`interop-node: ${e.message}`);
  process.exit(1);
});
