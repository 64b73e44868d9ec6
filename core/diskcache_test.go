//go:build !wasip1

package core_test

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
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

// A cache file's times are checked and moved onto the monotonic clock: a
// time implausibly far ahead (which would overflow it) makes the file
// unusable, and a good file's token is handed out as cached.
func TestDiskCacheFileTimes(t *testing.T) {
	t.Parallel()
	cl := startCluster(t, devcluster.Options{})
	cfg := clusterConfig(cl)
	key := core.CacheKey(cfg.AuthorizationServerURL, cfg.ClientID, cfg.Audience, cfg.Scope)
	soon := time.Now().Add(time.Hour).UnixMilli()
	for i, tt := range []struct {
		refresh, expiry int64
		used            bool
	}{
		{soon, soon, true},
		{soon, math.MaxInt64, false},
		{math.MaxInt64, 0, false},
		{soon, math.MinInt64, false},
	} {
		cfg.TokenCacheDir = t.TempDir()
		file := fmt.Sprintf(`{"format":"zbauth-token-v1","key":%q,"access_token":"TOKEN-ON-DISK","refresh_at_unix_ms":%d,"expiry_unix_ms":%d}`, key, tt.refresh, tt.expiry)
		if err := os.WriteFile(filepath.Join(cfg.TokenCacheDir, key+".json"), []byte(file), 0o600); err != nil {
			t.Fatal(err)
		}
		before := cl.Stats().TokenRequests
		c := newClient(t, cfg)
		for range 3 {
			got, err := c.Token(ctxTimeout(t, 20*time.Second))
			if err != nil || (got == "TOKEN-ON-DISK") != tt.used {
				t.Errorf("file %d: Token = %q, %v; want the file's token: %v", i, got, err, tt.used)
			}
		}
		want := int64(1)
		if tt.used {
			want = 0
		}
		if n := cl.Stats().TokenRequests - before; n != want {
			t.Errorf("file %d: %d token requests, want %d", i, n, want)
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

const plantedToken = "ATTACKER-TOKEN"

// plantToken writes a well-formed, fresh cache file holding plantedToken.
func plantToken(t *testing.T, path, key string) {
	t.Helper()
	far := time.Now().Add(time.Hour).UnixMilli()
	b := fmt.Sprintf(`{"format":"zbauth-token-v1","key":%q,"access_token":%q,"refresh_at_unix_ms":%d,"expiry_unix_ms":%d}`,
		key, plantedToken, far, far)
	if err := os.WriteFile(path, []byte(b), 0o600); err != nil {
		t.Fatal(err)
	}
}

// warnings collects what a client logs.
type warnings struct {
	mu   sync.Mutex
	msgs []string
}

func (w *warnings) log(msg string) { w.mu.Lock(); w.msgs = append(w.msgs, msg); w.mu.Unlock() }

func (w *warnings) get() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.msgs...)
}

// refusedDir asks a new client for a token with the cache in dir, which
// zbauth must refuse: the call completes within its timeout with a token
// from the network (not a planted one) and warns once about memory only.
func refusedDir(t *testing.T, cl *devcluster.Cluster, dir string) {
	t.Helper()
	cfg := clusterConfig(cl)
	cfg.TokenCacheDir = dir
	cfg.Timeout = 3 * time.Second
	var w warnings
	c := newClient(t, cfg, core.WithLogger(w.log))
	before := cl.Stats().TokenRequests
	type result struct {
		tok string
		err error
	}
	done := make(chan result, 1)
	go func() {
		tok, err := c.Token(context.Background())
		done <- result{tok, err}
	}()
	var r result
	select {
	case r = <-done:
	case <-time.After(cfg.Timeout + 5*time.Second):
		t.Fatalf("Token still running %v after its timeout", 5*time.Second)
	}
	if r.err != nil {
		t.Fatalf("Token: %v", r.err)
	}
	if r.tok == plantedToken {
		t.Errorf("Token returned the planted token")
	}
	if n := cl.Stats().TokenRequests - before; n != 1 {
		t.Errorf("%d token requests, want 1 (from the network)", n)
	}
	if msgs := w.get(); len(msgs) != 1 || !strings.Contains(msgs[0], "memory only") {
		t.Errorf("warnings = %q, want one about memory only", msgs)
	}
}

// Files in the cache directory that are not plain files of ours are not
// followed, read or written through: the client warns and uses memory.
func TestDiskCacheHostileFiles(t *testing.T) {
	t.Parallel()
	cl := startCluster(t, devcluster.Options{})
	cfg := clusterConfig(cl)
	key := core.CacheKey(cfg.AuthorizationServerURL, cfg.ClientID, cfg.Audience, cfg.Scope)
	for _, tc := range []struct {
		name  string
		plant func(t *testing.T, dir string) (check func(*testing.T))
	}{
		{"token file is a symlink to /dev/zero", func(t *testing.T, dir string) func(*testing.T) {
			// Read whole, this was an out-of-memory crash.
			must(t, os.Symlink("/dev/zero", filepath.Join(dir, key+".json")))
			return nil
		}},
		{"token file is a FIFO", func(t *testing.T, dir string) func(*testing.T) {
			// Opened for reading, this blocked forever with the lock held.
			must(t, syscall.Mkfifo(filepath.Join(dir, key+".json"), 0o600))
			return nil
		}},
		{"lock file is a FIFO", func(t *testing.T, dir string) func(*testing.T) {
			must(t, syscall.Mkfifo(filepath.Join(dir, key+".lock"), 0o600))
			return nil
		}},
		{"token file is a symlink to a planted token", func(t *testing.T, dir string) func(*testing.T) {
			target := filepath.Join(t.TempDir(), "planted.json")
			plantToken(t, target, key)
			must(t, os.Symlink(target, filepath.Join(dir, key+".json")))
			return nil
		}},
		{"token file is writable by others", func(t *testing.T, dir string) func(*testing.T) {
			p := filepath.Join(dir, key+".json")
			plantToken(t, p, key)
			must(t, os.Chmod(p, 0o666))
			return nil
		}},
		{"lock file is a dangling symlink", func(t *testing.T, dir string) func(*testing.T) {
			target := filepath.Join(t.TempDir(), "created-through-symlink")
			must(t, os.Symlink(target, filepath.Join(dir, key+".lock")))
			return func(t *testing.T) {
				if _, err := os.Lstat(target); err == nil {
					t.Errorf("the lock symlink's target was created")
				}
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			check := tc.plant(t, dir)
			refusedDir(t, cl, dir)
			if check != nil {
				check(t)
			}
		})
	}
}

// A directory others can write to (such as /tmp) is refused, and its mode
// is left alone; one only others can read is used as it is.
func TestDiskCacheSharedDirectory(t *testing.T) {
	t.Parallel()
	cl := startCluster(t, devcluster.Options{})
	cfg := clusterConfig(cl)
	key := core.CacheKey(cfg.AuthorizationServerURL, cfg.ClientID, cfg.Audience, cfg.Scope)
	for _, mode := range []os.FileMode{os.ModeSticky | 0o777, 0o770} {
		t.Run(mode.String(), func(t *testing.T) {
			dir := t.TempDir()
			must(t, os.Chmod(dir, mode))
			plantToken(t, filepath.Join(dir, key+".json"), key)
			refusedDir(t, cl, dir)
			if fi, err := os.Stat(dir); err != nil {
				t.Fatal(err)
			} else if fi.Mode()&(os.ModeSticky|os.ModePerm) != mode {
				t.Errorf("directory mode changed from %v to %v", mode, fi.Mode())
			}
		})
	}

	dir := t.TempDir()
	must(t, os.Chmod(dir, 0o755))
	cfg.TokenCacheDir = dir
	var w warnings
	ctx := ctxTimeout(t, 20*time.Second)
	before := cl.Stats().TokenRequests
	tok1, err1 := newClient(t, cfg, core.WithLogger(w.log)).Token(ctx)
	tok2, err2 := newClient(t, cfg, core.WithLogger(w.log)).Token(ctx)
	if err1 != nil || err2 != nil || tok1 != tok2 {
		t.Errorf("two clients with a 0755 cache directory: %v, %v, same token %v", err1, err2, tok1 == tok2)
	}
	if n := cl.Stats().TokenRequests - before; n != 1 || len(w.get()) != 0 {
		t.Errorf("0755 directory: %d token requests, warnings %q; want 1 and none", n, w.get())
	}
	if fi, err := os.Stat(dir); err != nil {
		t.Fatal(err)
	} else if fi.Mode().Perm() != 0o755 {
		t.Errorf("0755 directory chmod'ed to %v", fi.Mode())
	}
}

// Running as root, a directory or file that belongs to another user is
// refused: a token planted there is not used, and nothing is chmod'ed.
func TestDiskCacheForeignOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root, to give files to another user (uid 65534)")
	}
	t.Parallel()
	const nobody = 65534
	cl := startCluster(t, devcluster.Options{})
	cfg := clusterConfig(cl)
	key := core.CacheKey(cfg.AuthorizationServerURL, cfg.ClientID, cfg.Audience, cfg.Scope)
	for _, tc := range []struct {
		name  string
		plant func(t *testing.T, dir string)
	}{
		{"directory", func(t *testing.T, dir string) {
			p := filepath.Join(dir, key+".json")
			plantToken(t, p, key)
			must(t, os.Chown(p, nobody, nobody))
			must(t, os.Chown(dir, nobody, nobody))
		}},
		{"token file", func(t *testing.T, dir string) {
			p := filepath.Join(dir, key+".json")
			plantToken(t, p, key)
			must(t, os.Chown(p, nobody, nobody))
		}},
		{"lock file", func(t *testing.T, dir string) {
			p := filepath.Join(dir, key+".lock")
			must(t, os.WriteFile(p, nil, 0o600))
			must(t, os.Chown(p, nobody, nobody))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			was, err := os.Stat(dir)
			must(t, err)
			tc.plant(t, dir)
			refusedDir(t, cl, dir)
			if fi, err := os.Stat(dir); err != nil {
				t.Fatal(err)
			} else if fi.Mode() != was.Mode() {
				t.Errorf("directory mode changed from %v to %v", was.Mode(), fi.Mode())
			}
		})
	}
}

// Temporary files of this key that a killed writer left behind are
// removed by the next write once older than the timeout; others stay.
func TestDiskCacheStaleTemporaryFiles(t *testing.T) {
	t.Parallel()
	cl := startCluster(t, devcluster.Options{})
	cfg := clusterConfig(cl)
	cfg.TokenCacheDir = t.TempDir()
	cfg.Timeout = 5 * time.Second
	key := core.CacheKey(cfg.AuthorizationServerURL, cfg.ClientID, cfg.Audience, cfg.Scope)
	other := core.CacheKey(cfg.AuthorizationServerURL, cfg.ClientID, cfg.Audience, "other")
	path := func(name string) string { return filepath.Join(cfg.TokenCacheDir, name) }
	old := time.Now().Add(-time.Hour)
	for _, name := range []string{key + ".1.tmp", key + ".2.tmp", other + ".3.tmp"} {
		plantToken(t, path(name), key)
		must(t, os.Chtimes(path(name), old, old))
	}
	plantToken(t, path(key+".4.tmp"), key) // a write under way (not older than the timeout)

	if _, err := newClient(t, cfg).Token(ctxTimeout(t, 20*time.Second)); err != nil {
		t.Fatal(err)
	}
	var left []string
	entries, _ := os.ReadDir(cfg.TokenCacheDir)
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".tmp") {
			left = append(left, e.Name())
		}
	}
	want := []string{key + ".4.tmp", other + ".3.tmp"}
	slices.Sort(want)
	if fmt.Sprint(left) != fmt.Sprint(want) {
		t.Errorf("temporary files left: %q, want %q", left, want)
	}
	if fi, err := os.Stat(path(key + ".json")); err != nil {
		t.Fatal(err)
	} else if fi.Mode().Perm() != 0o600 {
		t.Errorf("token file has mode %v, want 0600", fi.Mode())
	}
}

// Another process holding the key's lock for ever makes a token request
// fail with a timeout at the request timeout, not hang.
func TestDiskCacheLockWaitBounded(t *testing.T) {
	t.Parallel()
	cl := startCluster(t, devcluster.Options{})
	cfg := clusterConfig(cl)
	cfg.TokenCacheDir = t.TempDir()
	cfg.Timeout = time.Second
	key := core.CacheKey(cfg.AuthorizationServerURL, cfg.ClientID, cfg.Audience, cfg.Scope)
	f, err := os.OpenFile(filepath.Join(cfg.TokenCacheDir, key+".lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	must(t, syscall.Flock(int(f.Fd()), syscall.LOCK_EX))
	start := time.Now()
	_, err = newClient(t, cfg).Token(ctxTimeout(t, 20*time.Second))
	if el := time.Since(start); core.KindOf(err) != core.KindTimeout || el > cfg.Timeout+2*time.Second {
		t.Errorf("Token with the lock held elsewhere: %v after %v, want a timeout after %v", err, el, cfg.Timeout)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
