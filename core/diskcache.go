//go:build !wasip1

package core

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/zbauth/zbauth/internal/jsonx"
)

// diskCache shares tokens between processes through files in one
// directory (Config.TokenCacheDir). See docs/token-cache.md.
//
// Layout: <dir>/<key>.json holds the token, <dir>/<key>.lock is the flock
// that makes processes starting together share one token request. key is
// the SHA-256 of (token URL, client id, audience, scope). The client secret
// is never written. The token file is replaced atomically (temporary file
// <key>.<n>.tmp, mode 0600, + rename).
//
// The directory may be shared with hostile users (a root service pointed
// at /tmp), so: it is used only when it belongs to the effective user and
// nobody else can write to it, and is never chmod'ed (a directory zbauth
// creates is 0700); every file is opened relative to the opened directory
// with O_NOFOLLOW|O_NONBLOCK (no symlinks, no blocking on a FIFO) and must
// be a regular file of the same owner; the token file is read through
// maxTokenBody. Anything else is refused: memory only, one warning.
type diskCache struct {
	dir   string
	key   string
	stale time.Duration // a temporary file older than this is a dead writer's
	warn  func(string)

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

// cacheKey is the hex SHA-256 of the fields that identify a token.
func cacheKey(tokenURL, clientID, audience, scope string, resource ...string) string {
	h := sha256.New()
	// A resource is hashed only when set, so that keys without one stay
	// those of earlier versions.
	for _, s := range append([]string{tokenURL, clientID, audience, scope}, resource...) {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// cacheKey names the token cfg's client obtains: its endpoint (the token
// URL, or the discovery document it comes from) and what it asks for.
func (cfg Config) cacheKey() string {
	endpoint := cfg.AuthorizationServerURL
	if endpoint == "" {
		endpoint = cfg.DiscoveryURL()
	}
	if cfg.Resource != "" {
		return cacheKey(endpoint, cfg.ClientID, cfg.Audience, cfg.Scope, cfg.Resource)
	}
	return cacheKey(endpoint, cfg.ClientID, cfg.Audience, cfg.Scope)
}

func newDiskCache(cfg Config, warn func(string)) *diskCache {
	if cfg.TokenCacheDir == "" {
		return nil
	}
	stale := cfg.Timeout
	if stale <= 0 {
		stale = DefaultTimeout
	}
	return &diskCache{
		dir:   cfg.TokenCacheDir,
		key:   cfg.cacheKey(),
		stale: stale,
		warn:  warn,
	}
}

// fetch returns a fresh token from disk, or gets one from network while
// holding the directory's lock for this key and stores it. A stored token
// equal to rejected (refused by the REST API) is replaced, not returned.
// ctx (the request timeout) bounds the wait for the lock.
func (d *diskCache) fetch(ctx context.Context, network func(context.Context) (*tokenState, error), rejected string) (*tokenState, error) {
	d.mu.Lock()
	off := d.disabled
	d.mu.Unlock()
	if off {
		return network(ctx)
	}
	dir, unlock, err := d.lock(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctxError("token", ctx.Err())
		}
		d.fail(err)
		return network(ctx)
	}
	defer unlock()
	t, err := d.read(dir)
	if err != nil {
		unlock()
		d.fail(err)
		return network(ctx)
	}
	if t != nil && t.value != rejected && time.Now().Before(t.refreshAt) {
		return t, nil
	}
	t, err = network(ctx)
	if err != nil {
		return nil, err
	}
	if werr := d.write(dir, t); werr != nil {
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

var (
	errNotRegular = errors.New("not a regular file")
	errNotDir     = errors.New("not a directory")
	errForeign    = errors.New("owned by another user")
	errWritable   = errors.New("writable by other users")
)

// check refuses f unless it is a directory (dir) or a regular file that
// belongs to the effective user and that group and others cannot write.
func check(f *os.File, dir bool) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	var bad error
	st, ok := fi.Sys().(*syscall.Stat_t)
	switch {
	case dir && !fi.IsDir():
		bad = errNotDir
	case !dir && !fi.Mode().IsRegular():
		bad = errNotRegular
	case !ok || int(st.Uid) != os.Geteuid():
		bad = errForeign
	case fi.Mode().Perm()&0o022 != 0:
		bad = errWritable
	default:
		return nil
	}
	return &os.PathError{Op: "check", Path: f.Name(), Err: bad}
}

// openAt opens name in dir without following a symlink or blocking on a
// FIFO, and checks it like check.
func openAt(dir *os.File, name string, flags int) (*os.File, error) {
	fd, err := unix.Openat(int(dir.Fd()), name, flags|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: filepath.Join(dir.Name(), name), Err: err}
	}
	f := os.NewFile(uintptr(fd), filepath.Join(dir.Name(), name))
	if err := check(f, false); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// openDir opens the directory, creating it (0700) when it is missing. An
// existing one is never chmod'ed: it may be shared, like /tmp.
func (d *diskCache) openDir() (*os.File, error) {
	const flags = unix.O_RDONLY | unix.O_DIRECTORY | unix.O_NONBLOCK | unix.O_CLOEXEC
	fd, err := unix.Open(d.dir, flags, 0)
	if errors.Is(err, unix.ENOENT) {
		if err := os.MkdirAll(d.dir, 0o700); err != nil {
			return nil, err
		}
		fd, err = unix.Open(d.dir, flags, 0)
	}
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: d.dir, Err: err}
	}
	f := os.NewFile(uintptr(fd), d.dir)
	if err := check(f, true); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// lock opens the directory and takes the key's flock, waiting while
// another process holds it, until ctx ends. unlock may be called twice.
func (d *diskCache) lock(ctx context.Context) (dir *os.File, unlock func(), err error) {
	dir, err = d.openDir()
	if err != nil {
		return nil, nil, err
	}
	f, err := openAt(dir, d.key+".lock", unix.O_RDWR|unix.O_CREAT)
	if err != nil {
		dir.Close()
		return nil, nil, err
	}
	release := func() { f.Close(); dir.Close() }
	for {
		err = unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			var once sync.Once
			return dir, func() { once.Do(release) }, nil // closing f unlocks
		}
		if !errors.Is(err, unix.EWOULDBLOCK) && !errors.Is(err, unix.EINTR) {
			release()
			return nil, nil, &os.PathError{Op: "flock", Path: f.Name(), Err: err}
		}
		select {
		case <-ctx.Done():
			release()
			return nil, nil, ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// read returns the stored token, or nil when the file is missing, corrupt,
// for another key, or expired (a bad file is simply overwritten later). An
// error is a file that must not be read: not a regular file of ours.
func (d *diskCache) read(dir *os.File) (*tokenState, error) {
	f, err := openAt(dir, d.key+".json", unix.O_RDONLY)
	if errors.Is(err, unix.ENOENT) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxTokenBody+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxTokenBody {
		return nil, nil
	}
	var c cacheFile
	if jsonx.Unmarshal(b, &c) != nil || c.Format != cacheFormat || c.Key != d.key || !validAccessToken(c.AccessToken) {
		return nil, nil
	}
	// The file's wall-clock times, moved onto now's monotonic reading: the
	// cache compares them with the monotonic clock, which a step of the wall
	// clock (NTP, a resumed VM) must not move. A time implausibly far ahead
	// is a bad file.
	now := time.Now()
	at := func(ms int64) (time.Time, bool) {
		d := time.UnixMilli(ms).Sub(now)
		return now.Add(d), d <= maxFileAhead
	}
	refreshAt, ok := at(c.RefreshAtMS)
	if !ok {
		return nil, nil
	}
	t := &tokenState{value: c.AccessToken, refreshAt: refreshAt}
	if c.ExpiryMS != 0 {
		if t.expiry, ok = at(c.ExpiryMS); !ok {
			return nil, nil
		}
	}
	if !t.usable(now) {
		return nil, nil
	}
	return t, nil
}

// maxFileAhead bounds how far ahead a cache file's times may be: beyond
// the refresh point of a token without expiry (a century), and well inside
// what the monotonic clock can add.
const maxFileAhead = 150 * 365 * 24 * time.Hour

// write stores t atomically with mode 0600, first removing the temporary
// files a killed writer of this key left behind.
func (d *diskCache) write(dir *os.File, t *tokenState) error {
	c := cacheFile{Format: cacheFormat, Key: d.key, AccessToken: t.value, RefreshAtMS: t.refreshAt.UnixMilli()}
	if !t.expiry.IsZero() {
		c.ExpiryMS = t.expiry.UnixMilli()
	}
	b, err := jsonx.Marshal(c)
	if err != nil {
		return err
	}
	d.removeStale(dir)
	var tmp *os.File
	var name string
	for range 100 {
		name = d.key + "." + strconv.FormatUint(uint64(rand.Uint32()), 10) + ".tmp"
		tmp, err = openAt(dir, name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL)
		if !errors.Is(err, unix.EEXIST) {
			break
		}
	}
	if err != nil {
		return err
	}
	ok := false
	defer func() {
		if !ok {
			unix.Unlinkat(int(dir.Fd()), name, 0)
		}
	}()
	// Exactly 0600 whatever the umask.
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
	if err := unix.Renameat(int(dir.Fd()), name, int(dir.Fd()), d.key+".json"); err != nil {
		return &os.PathError{Op: "rename", Path: d.path(".json"), Err: err}
	}
	ok = true
	return nil
}

// removeStale removes this key's temporary files older than the request
// timeout. The caller holds the key's lock, so no live writer of this key
// is using them; the age spares one on a file system where flock is not
// shared between hosts.
func (d *diskCache) removeStale(dir *os.File) {
	entries, err := dir.ReadDir(-1)
	if err != nil {
		return
	}
	prefix := d.key + "."
	for _, e := range entries {
		n := e.Name()
		if !strings.HasPrefix(n, prefix) || !strings.HasSuffix(n, ".tmp") || e.IsDir() {
			continue
		}
		if fi, err := e.Info(); err == nil && time.Since(fi.ModTime()) > d.stale {
			unix.Unlinkat(int(dir.Fd()), n, 0)
		}
	}
}
