// Package topotext writes a topology as text, in the layout of zbctl
// status: shared by the CLI and the Wasm demo.
package topotext

import (
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/zbauth/zbauth/core"
	"github.com/zbauth/zbauth/internal/redact"
)

// Write writes t in the layout of zbctl status. The strings come from the
// server: control characters in them are written escaped (redact.EscapeControl),
// so that they can neither add lines nor drive the terminal.
func Write(w io.Writer, t *core.Topology) {
	esc := redact.EscapeControl
	fmt.Fprintf(w, "Cluster size: %d\n", t.ClusterSize)
	fmt.Fprintf(w, "Partitions count: %d\n", t.PartitionsCount)
	fmt.Fprintf(w, "Replication factor: %d\n", t.ReplicationFactor)
	fmt.Fprintf(w, "Gateway version: %s\n", esc(t.GatewayVersion))
	fmt.Fprintln(w, "Brokers:")
	for _, b := range t.Brokers {
		fmt.Fprintf(w, "  Broker %d - %s:%d\n", b.NodeID, esc(b.Host), b.Port)
		fmt.Fprintf(w, "    Version: %s\n", esc(b.Version))
		for _, p := range b.Partitions {
			fmt.Fprintf(w, "    Partition %d : %s, %s\n", p.PartitionID, esc(title(p.Role)), esc(title(p.Health)))
		}
	}
}

// title capitalises s's first character and lowers the rest.
func title(s string) string {
	if s == "" {
		return "Unknown"
	}
	_, n := utf8.DecodeRuneInString(s)
	return strings.ToUpper(s[:n]) + strings.ToLower(s[n:])
}
