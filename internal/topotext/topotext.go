// Package topotext writes a topology as text, in the layout of zbctl
// status: shared by the CLI and the Wasm demo.
package topotext

import (
	"fmt"
	"io"
	"strings"

	"github.com/zbauth/zbauth/core"
)

// Write writes t in the layout of zbctl status.
func Write(w io.Writer, t *core.Topology) {
	fmt.Fprintf(w, "Cluster size: %d\n", t.ClusterSize)
	fmt.Fprintf(w, "Partitions count: %d\n", t.PartitionsCount)
	fmt.Fprintf(w, "Replication factor: %d\n", t.ReplicationFactor)
	fmt.Fprintf(w, "Gateway version: %s\n", t.GatewayVersion)
	fmt.Fprintln(w, "Brokers:")
	for _, b := range t.Brokers {
		fmt.Fprintf(w, "  Broker %d - %s:%d\n", b.NodeID, b.Host, b.Port)
		fmt.Fprintf(w, "    Version: %s\n", b.Version)
		for _, p := range b.Partitions {
			fmt.Fprintf(w, "    Partition %d : %s, %s\n", p.PartitionID, title(p.Role), title(p.Health))
		}
	}
}

func title(s string) string {
	if s == "" {
		return "Unknown"
	}
	return strings.ToUpper(s[:1]) + strings.ToLower(s[1:])
}
