//go:build wasip1

package core

import "context"

// The WebAssembly guest has no file locks; a configured token cache
// directory falls back to memory with one warning.
type diskCache struct{}

func newDiskCache(cfg Config, warn func(string)) *diskCache {
	if cfg.TokenCacheDir != "" {
		warn("zbauth: warning: token_cache_dir is not supported in the WebAssembly plugin; caching tokens in memory only")
	}
	return nil
}

func (d *diskCache) fetch(ctx context.Context, network func(context.Context) (*tokenState, error), rejected string) (*tokenState, error) {
	return network(ctx)
}
