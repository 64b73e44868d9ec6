// Prints the cluster topology. Configuration comes from the environment
// (ZEEBE_CLIENT_ID, ZEEBE_CLIENT_SECRET, ZEEBE_AUTHORIZATION_SERVER_URL,
// ZEEBE_REST_ADDRESS, ...), e.g. under `zbauth dev-cluster -- node topology.mjs`.
import { Client, ZbauthError, version } from 'zbauth';

const client = new Client();
try {
  const topology = await client.topology();
  console.log(`zbauth ${version()} (Node ${process.version}): cluster of ${topology.clusterSize} brokers, ` +
    `${topology.partitionsCount} partitions, replication factor ${topology.replicationFactor}, ` +
    `gateway ${topology.gatewayVersion}`);
  for (const b of topology.brokers) {
    const parts = b.partitions.map((p) => `${p.partitionId}:${p.role}/${p.health}`).join(' ');
    console.log(`  broker ${b.nodeId} ${b.host}:${b.port} (${b.version})  ${parts}`);
  }
  const token = await client.token();
  console.log(`  token: ${token.length} characters, cached for the next call`);
} catch (e) {
  if (e instanceof ZbauthError) {
    console.error(`${e.code}: ${e.message}`);
    process.exitCode = 1;
  } else {
    throw e;
  }
} finally {
  client.close();
}
