//go:build !wasip1

package core_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zbauth/zbauth/core"
	"github.com/zbauth/zbauth/internal/devcluster"
)

// Clients (standing in for processes) sharing a cache directory share one
// token; the secret never reaches the disk; files are private.
func TestDiskCacheShared(t *testing.T) {
	t.Parallel()
	cl := startCluster(t, devcluster.Options{ClientSecret: secretMarker})
	dir := filepath.Join(t.TempDir(), "cache")
	cfg := clusterConfig(cl)
	cfg.TokenCacheDir = dir
	ctx := ctxTimeout(t, 20*time.Second)

	toks := make([]string, 5)
	var wg sync.WaitGroup
	for i := range toks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := core.New(cfg, core.WithLookupEnv(noEnv))
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			if toks[i], err = c.Token(ctx); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	for _, tok := range toks {
		if tok == "" || tok != toks[0] {
			t.Fatalf("clients sharing a cache got different tokens: %q", toks)
		}
	}
	if n := cl.Stats().TokenRequests; n != 1 {
		t.Errorf("token requests = %d, want 1 for 5 clients sharing a cache", n)
	}

	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o700 {
		t.Errorf("cache directory mode %v, want 0700", fi.Mode().Perm())
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) == 0 {
		t.Fatal("nothing cached")
	}
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		info, _ := os.Stat(p)
		if info.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s has mode %v; others may read it", e.Name(), info.Mode().Perm())
		}
		b, _ := os.ReadFile(p)
		if strings.Contains(string(b), secretMarker) {
			t.Errorf("%s holds the client secret", e.Name())
		}
		if strings.HasSuffix(e.Name(), ".tmp") {
			t.Errorf("a temporary file was left behind: %s", e.Name())
		}
	}

	// A different scope is a different token.
	cfg2 := cfg
	cfg2.Scope = "other"
	c2 := newClient(t, cfg2)
	tok2, err := c2.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if tok2 == toks[0] {
		t.Errorf("a client with another scope got the cached token")
	}
}

// A corrupt cache file is ignored and replaced; an unusable directory
// degrades to memory with a warning.
func TestDiskCacheDegrades(t *testing.T) {
	t.Parallel()
	cl := startCluster(t, devcluster.Options{})
	ctx := ctxTimeout(t, 20*time.Second)

	dir := t.TempDir()
	cfg := clusterConfig(cl)
	cfg.TokenCacheDir = dir
	key := core.CacheKey(cfg.AuthorizationServerURL, cfg.ClientID, cfg.Audience, cfg.Scope)
	if err := os.WriteFile(filepath.Join(dir, key+".json"), []byte(`{"format":"zbauth-token-v1","access_token":`), 0o600); err != nil {
		t.Fatal(err)
	}
	c := newClient(t, cfg)
	tok, err := c.Token(ctx)
	if err != nil {
		t.Fatalf("Token with a corrupt cache file: %v", err)
	}
	if a := newClient(t, cfg); true {
		if tok2, err := a.Token(ctx); err != nil || tok2 != tok {
			t.Errorf("the corrupt file was not replaced: %q, %v", tok2, err)
		}
	}

	// A file where the directory should be.
	notDir := filepath.Join(t.TempDir(), "file")
	os.WriteFile(notDir, nil, 0o600)
	cfg.TokenCacheDir = notDir
	var mu sync.Mutex
	var warnings []string
	logf := func(msg string) { mu.Lock(); warnings = append(warnings, msg); mu.Unlock() }
	c3 := newClient(t, cfg, core.WithLogger(logf))
	if _, err := c3.Token(ctx); err != nil {
		t.Fatalf("Token with an unusable cache directory: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(warnings) != 1 || !strings.Contains(warnings[0], "memory") {
		t.Errorf("warnings = %q, want one about falling back to memory", warnings)
	}
}

// A cache file whose token could not be sent (CR/LF, NUL, a space, not
// ASCII) is ignored like a corrupt one: the client asks the endpoint.
func TestDiskCacheUnusableToken(t *testing.T) {
	t.Parallel()
	cl := startCluster(t, devcluster.Options{})
	cfg := clusterConfig(cl)
	key := core.CacheKey(cfg.AuthorizationServerURL, cfg.ClientID, cfg.Audience, cfg.Scope)
	far := time.Now().Add(time.Hour).UnixMilli()
	for i, tok := range []string{`TOKEN-MARKER\r\nX-Injected: 1`, `TOKEN-MARKER\u0000`, `TOKEN-MARKER x`, `TOKEN-MARKER\u00e9`, "TOKEN-MARKER\xff"} {
		cfg.TokenCacheDir = t.TempDir()
		file := fmt.Sprintf(`{"format":"zbauth-token-v1","key":%q,"access_token":"%s","refresh_at_unix_ms":%d,"expiry_unix_ms":%d}`, key, tok, far, far)
		if err := os.WriteFile(filepath.Join(cfg.TokenCacheDir, key+".json"), []byte(file), 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := newClient(t, cfg).Token(ctxTimeout(t, 20*time.Second))
		if err != nil || strings.Contains(got, "TOKEN-MARKER") {
			t.Errorf("cache file %d: Token = %q, %v; want a new token from the endpoint", i, got, err)
		}
		if n := cl.Stats().TokenRequests; n != int64(i+1) {
			t.Errorf("cache file %d: %d token requests, want %d", i, n, i+1)
		}
	}
}

// An expired token on disk is not used.
func TestDiskCacheExpiry(t *testing.T) {
	t.Parallel()
	cl := startCluster(t, devcluster.Options{})
	cl.SetTokenLifetime(time.Second)
	cfg := clusterConfig(cl)
	cfg.TokenCacheDir = t.TempDir()
	ctx := ctxTimeout(t, 20*time.Second)
	before := time.Now()
	old, err := newClient(t, cfg).Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Until(before.Add(1100 * time.Millisecond)))
	tok, err := newClient(t, cfg).Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if tok == old {
		t.Errorf("an expired token was read from the cache")
	}
}

// A token the REST API rejected is not read back from the cache: the
// retry after a 401 gets a new one.
func TestDiskCacheRevokedToken(t *testing.T) {
	t.Parallel()
	cl := startCluster(t, devcluster.Options{})
	cfg := clusterConfig(cl)
	cfg.TokenCacheDir = t.TempDir()
	c := newClient(t, cfg)
	ctx := ctxTimeout(t, 20*time.Second)
	if _, err := c.Topology(ctx); err != nil {
		t.Fatal(err)
	}
	cl.RevokeAll()
	if _, err := c.Topology(ctx); err != nil {
		t.Fatalf("Topology after revocation, with a disk cache: %v", err)
	}
	// Another process starting now gets the new token from the cache.
	if _, err := newClient(t, cfg).Topology(ctx); err != nil {
		t.Errorf("a new client read a revoked token from the cache: %v", err)
	}
	if n := cl.Stats().TokenRequests; n != 2 {
		t.Errorf("token requests = %d, want 2", n)
	}
}
