//go:build wasip1

package core

// The WebAssembly guest has no sockets: Options.Transport must be set.
func defaultTransport(Config) (Transport, error) { return nil, nil }
