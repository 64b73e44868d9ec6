package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/zbauth/zbauth/bench/internal/harness"
	"github.com/zbauth/zbauth/bench/internal/result"
	"github.com/zbauth/zbauth/bench/internal/zbcpeer"
)

// A token peer is a fresh client of one library; tok is its token call.
// The C peer's callers are threads of its own process: it sets timed (one
// call, timed there), burst and watch, which then replace the goroutines
// of this process.
type tokenPeer struct {
	tok   func(ctx context.Context) error
	close func()
	timed func() (time.Duration, error)
	burst func(n int) (time.Duration, int, error)
	// release, when set, times releasing n callers that make no call: the
	// part of a burst's time no library can save.
	release func(n int) (time.Duration, error)
	watch   func(callers int, stop <-chan struct{}, slow time.Duration) (worst time.Duration, blocked, n, failed int, err error)
}

// The token peers, and the floor: a hand-made single flight (cold burst)
// or a token that is never refreshed (refresh stall). tokenPeersFor adds
// the C library and the Wasm plugin when they are built.
var tokenPeers = []string{"zbauth", "xoauth2", "zbc", "floor"}

var surfaceOf = map[string]string{"zbauth": "go", "zbauth-do": "go", "xoauth2": "go-xoauth2", "zbc": "go-zbc", "floor": "go-floor", "c": "c", "c-async": "c", "c-tokens": "c", "wasm": "wasm"}

// tokenPeersFor returns the token peers to measure: the Go ones, and C and
// Wasm when built (otherwise their rows say "not built").
func tokenPeersFor(names ...string) []string {
	peers := append([]string(nil), tokenPeers...)
	for _, extra := range []struct{ name, why string }{
		{"c-tokens", cWhy()},
		{"wasm", missing(wasmModule(), "make wasm")},
	} {
		if extra.why == "" {
			peers = append(peers, extra.name)
			continue
		}
		for _, n := range names {
			set.Get(result.Row{Surface: surfaceOf[extra.name], Name: n}).Note = extra.why
		}
	}
	return peers
}

// clientPeer is the token peer of a zbauth client (the Go core's, or the
// Wasm plugin's).
func clientPeer(c interface {
	Token(context.Context) (string, error)
	Close() error
}) *tokenPeer {
	return &tokenPeer{
		tok:   func(ctx context.Context) error { _, err := c.Token(ctx); return err },
		close: func() { c.Close() },
	}
}

func newTokenPeer(cl *harness.Cluster, name string) (*tokenPeer, error) {
	switch name {
	case "zbauth":
		c, err := cl.Zbauth()
		if err != nil {
			return nil, err
		}
		return clientPeer(c), nil
	case "floor":
		// The ideal single flight, by hand: the first caller starts one raw
		// token request, every caller waits for it on a channel.
		rt := harness.Transport()
		hc := &http.Client{Transport: rt}
		var once sync.Once
		done := make(chan struct{})
		var ferr error
		return &tokenPeer{
			tok: func(ctx context.Context) error {
				once.Do(func() {
					go func() { _, ferr = cl.FetchToken(hc); close(done) }()
				})
				select {
				case <-done:
					return ferr
				case <-ctx.Done():
					return ctx.Err()
				}
			},
			close: rt.CloseIdleConnections,
		}, nil
	case "xoauth2":
		rt := harness.Transport()
		ts := cl.XOAuth2(rt)
		return &tokenPeer{
			tok:   func(context.Context) error { _, err := ts.Token(); return err },
			close: rt.CloseIdleConnections,
		}, nil
	case "zbc":
		dir, err := os.MkdirTemp("", "zbauth-bench-zbc-")
		if err != nil {
			return nil, err
		}
		zp, err := zbcpeer.New(cl, dir)
		if err != nil {
			return nil, err
		}
		return &tokenPeer{
			// zbc's gRPC interceptor passes a new map per call, as here.
			tok: func(ctx context.Context) error { return zp.ApplyCredentials(ctx, map[string]string{}) },
			close: func() {
				http.DefaultTransport.(*http.Transport).CloseIdleConnections() // zbc uses it
				os.RemoveAll(dir)
			},
		}, nil
	case "c-tokens":
		return newCTokenPeer(cl)
	case "wasm":
		return newWasmPeer(cl)
	}
	return nil, fmt.Errorf("unknown peer %q", name)
}
