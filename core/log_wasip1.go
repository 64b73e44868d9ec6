//go:build wasip1

package core

import "os"

// defaultLog is where warnings go without WithLogger: the guest's stderr,
// one line per message. Package log is left out of the Wasm module, whose
// size is kept under 4 MiB (it adds about 36 KB); the host's stderr
// handling adds whatever prefix it wants.
func defaultLog(msg string) { os.Stderr.WriteString(msg + "\n") }
