package main

import (
	"context"
	"encoding/json"
	"io"
	"path/filepath"
	"sync"

	"github.com/zbauth/zbauth/bench/internal/harness"
	"github.com/zbauth/zbauth/wasm/host"
)

func wasmModule() string {
	abs, _ := filepath.Abs(filepath.Join(*root, "build", "zbauth.wasm"))
	return abs
}

// wasmPlugin is zbauth.wasm, loaded once: each Wasm token peer is a new
// client of it (an empty cache).
var wasmPlugin struct {
	once sync.Once
	p    *host.Plugin
	err  error
}

func newWasmPeer(cl *harness.Cluster) (*tokenPeer, error) {
	wasmPlugin.once.Do(func() {
		wasmPlugin.p, wasmPlugin.err = host.LoadFile(context.Background(), wasmModule(),
			host.WithEnv(map[string]string{}), host.WithStderr(io.Discard))
	})
	if wasmPlugin.err != nil {
		return nil, wasmPlugin.err
	}
	cfg, err := json.Marshal(map[string]string{
		"client_id": cl.ClientID, "client_secret": cl.ClientSecret, "audience": cl.Audience,
		"authorization_server_url": cl.TokenURL, "rest_address": cl.RESTAddress,
	})
	if err != nil {
		return nil, err
	}
	c, err := wasmPlugin.p.NewClient(context.Background(), cfg)
	if err != nil {
		return nil, err
	}
	return clientPeer(c), nil
}
