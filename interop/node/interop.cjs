// The Node binding against a real token issuer (make test-interop).
//
// Run as `node interop.cjs PACKAGE_DIR success`,
// `node interop.cjs PACKAGE_DIR wrong-secret CODE` (AUTH with the issuer's
// OAuth error CODE) or `node interop.cjs PACKAGE_DIR refused CODE` (the same
// for the configuration the environment gives), where PACKAGE_DIR is
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

async function refused(override) {
  const secret = override || process.env.CAMUNDA_CLIENT_SECRET || process.env.ZEEBE_CLIENT_SECRET;
  const client = new Client(override ? { clientSecret: override } : {});
  try {
    await client.topology();
  } catch (e) {
    if (!(e instanceof ZbauthError) || e.code !== 'AUTH') throw new Error(`want a ZbauthError AUTH, got ${e.code}: ${e.message}`);
    console.log(`interop-node: ${e.code}: ${e.message}`);
    if (!e.message.includes(code) || (secret && e.message.includes(secret))) {
      throw new Error(`the message must carry ${code} and not the secret`);
    }
    return;
  } finally {
    client.close();
  }
  throw new Error('got a topology');
}

const run = mode === 'success' ? success
  : mode === 'wrong-secret' && code ? () => refused('wrong-secret')
  : mode === 'refused' && code ? () => refused()
  : null;
if (!run) {
  console.error('usage: node interop.cjs PACKAGE_DIR success | wrong-secret|refused OAUTH_ERROR_CODE');
  process.exit(2);
}
run().catch((e) => {
  console.error(`interop-node: ${e.message}`);
  process.exit(1);
});
