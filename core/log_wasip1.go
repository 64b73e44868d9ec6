//go:build wasip1

package core

import "os"

// defaultLog is where warnings go without WithLogger: the guest's stderr,
// one line per message. Package log is left out of the Wasm module, whose
// size is held to its 4 MiB target (docs/wasm-design.md); the host's stderr
// handling adds whatever prefix it wants.
func defaultLog(msg string) { os.Stderr.WriteString(msg + "\n") }
