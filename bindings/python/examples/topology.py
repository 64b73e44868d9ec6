"""Prints the cluster topology, like `zbctl status`.

Configuration comes from the ZEEBE_* environment variables; `make
demo-python` runs this against the embedded dev cluster.
"""

import sys

import zbauth


def main() -> int:
    try:
        with zbauth.Client() as client:
            topology = client.topology()
    except zbauth.Error as e:
        print(e, file=sys.stderr)
        return 1
    print("Cluster size:", topology.cluster_size)
    print("Partitions count:", topology.partitions_count)
    print("Replication factor:", topology.replication_factor)
    print("Gateway version:", topology.gateway_version)
    print("Brokers:")
    for broker in topology.brokers:
        print(f"  Broker {broker.node_id} - {broker.host}:{broker.port}")
        print(f"    Version: {broker.version}")
        for p in broker.partitions:
            print(f"    Partition {p.partition_id} : {p.role.capitalize()}, {p.health.capitalize()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
