//go:build !wasip1

package core

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/zbauth/zbauth/internal/jsonx"
)

// diskCache shares tokens between processes through files in one
// directory (Config.TokenCacheDir). See docs/token-cache.md.
//
// Layout: <dir>/<key>.json holds the token, <dir>/<key>.lock is the flock
// that makes processes starting together share one token request. key is
// the SHA-256 of (token URL, client id, audience, scope). The client secret
// is never written. The directory is 0700 and the files 0600; the token file
// is replaced atomically (temporary file + rename).
type diskCache struct {
	dir  string
	key  string
	warn func(string)

	once     sync.Once
	disabled bool // after the first failure: memory only, one warning
	mu       sync.Mutex
}

// cacheFile is the on-disk format.
type cacheFile struct {
	Format      string `json:"format"` // "zbauth-token-v1"
	Key         string `json:"key"`
	AccessToken string `json:"access_token"`
	RefreshAtMS int64  `json:"refresh_at_unix_ms"`
	ExpiryMS    int64  `json:"expiry_unix_ms"` // 0: no expiry known
}

const cacheFormat = "zbauth-token-v1"

// CacheKey is the hex SHA-256 of the fields that identify a token.
func CacheKey(tokenURL, clientID, audience, scope string) string {
	h := sha256.New()
	for _, s := range []string{tokenURL, clientID, audience, scope} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}

func newDiskCache(cfg Config, warn func(string)) *diskCache {
	if cfg.TokenCacheDir == "" {
		return nil
	}
	return &diskCache{
		dir:  cfg.TokenCacheDir,
		key:  CacheKey(cfg.AuthorizationServerURL, cfg.ClientID, cfg.Audience, cfg.Scope),
		warn: warn,
	}
}

// fetch returns a fresh token from disk, or gets one from network while
// holding the directory's lock for this key and stores it. A stored token
// equal to rejected (refused by the REST API) is replaced, not returned.
func (d *diskCache) fetch(ctx context.Context, network func(context.Context) (*tokenState, error), rejected string) (*tokenState, error) {
	d.mu.Lock()
	off := d.disabled
	d.mu.Unlock()
	if off {
		return network(ctx)
	}
	unlock, err := d.lock(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctxError("token", ctx.Err())
		}
		d.fail(err)
		return network(ctx)
	}
	defer unlock()
	if t := d.read(); t != nil && t.value != rejected && time.Now().Before(t.refreshAt) {
		return t, nil
	}
	t, err := network(ctx)
	if err != nil {
		return nil, err
	}
	if werr := d.write(t); werr != nil {
		d.fail(werr)
	}
	return t, nil
}

// fail switches to memory-only caching with one warning.
func (d *diskCache) fail(err error) {
	d.mu.Lock()
	d.disabled = true
	d.mu.Unlock()
	d.once.Do(func() {
		d.warn("zbauth: warning: token cache directory " + d.dir + " is unusable (" + errText(err) + "); caching tokens in memory only")
	})
}

// errText keeps an OS error's text; paths in it are the cache directory's.
func errText(err error) string {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Op + " " + pe.Path + ": " + pe.Err.Error()
	}
	return err.Error()
}

func (d *diskCache) path(ext string) string { return filepath.Join(d.dir, d.key+ext) }

// lock creates the directory (0700) and takes the key's flock, waiting
// while another process holds it, until ctx ends.
func (d *diskCache) lock(ctx context.Context) (func(), error) {
	if err := os.MkdirAll(d.dir, 0o700); err != nil {
		return nil, err
	}
	if fi, err := os.Stat(d.dir); err != nil {
		return nil, err
	} else if fi.Mode().Perm()&0o077 != 0 {
		if err := os.Chmod(d.dir, 0o700); err != nil {
			return nil, err
		}
	}
	f, err := os.OpenFile(d.path(".lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() {
				syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
				f.Close()
			}, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			f.Close()
			return nil, &os.PathError{Op: "flock", Path: f.Name(), Err: err}
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// read returns the stored token, or nil when the file is missing, corrupt,
// for another key, or expired. A bad file is simply overwritten later.
func (d *diskCache) read() *tokenState {
	b, err := os.ReadFile(d.path(".json"))
	if err != nil || len(b) > MaxTokenBody {
		return nil
	}
	var f cacheFile
	if jsonx.Unmarshal(b, &f) != nil || f.Format != cacheFormat || f.Key != d.key || !validAccessToken(f.AccessToken) {
		return nil
	}
	t := &tokenState{value: f.AccessToken, refreshAt: time.UnixMilli(f.RefreshAtMS)}
	if f.ExpiryMS != 0 {
		t.expiry = time.UnixMilli(f.ExpiryMS)
	}
	if !t.usable(time.Now()) {
		return nil
	}
	return t
}

// write stores t atomically with mode 0600.
func (d *diskCache) write(t *tokenState) error {
	f := cacheFile{Format: cacheFormat, Key: d.key, AccessToken: t.value, RefreshAtMS: t.refreshAt.UnixMilli()}
	if !t.expiry.IsZero() {
		f.ExpiryMS = t.expiry.UnixMilli()
	}
	b, err := jsonx.Marshal(f)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(d.dir, d.key+".*.tmp")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // no-op after a successful rename
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), d.path(".json"))
}
