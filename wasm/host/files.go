package host

import (
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/zbauth/zbauth/core"
)

// credentialFS is the guest's whole file system, mounted at "/": read-only
// access to exactly the files that its clients' resolved configurations
// name for private_key_jwt (the client assertion's key, certificate or
// keystore), which the core in the guest reads when it creates the client.
// Any other path, directories included, is refused (EACCES, "permission
// denied"), whether it exists or not, so the guest learns nothing about the host's
// files. An instance's mounts are fixed when it starts, so the one object
// outlives instances and NewClient and Client.Close change its list.
type credentialFS struct {
	mu    sync.Mutex
	paths map[string]int // absolute, clean host path → live clients naming it
}

func newCredentialFS() *credentialFS { return &credentialFS{paths: map[string]int{}} }

// grant lets the guest read paths (absolute and clean) until revoke.
func (f *credentialFS) grant(paths []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, p := range paths {
		f.paths[p]++
	}
}

// revoke undoes one grant of paths.
func (f *credentialFS) revoke(paths []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, p := range paths {
		if f.paths[p]--; f.paths[p] <= 0 {
			delete(f.paths, p)
		}
	}
}

func (f *credentialFS) allowed(abs string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.paths[abs] > 0
}

// Open implements fs.FS. name is the guest's absolute path without its
// leading slash (wazero cleans it).
func (f *credentialFS) Open(name string) (fs.File, error) {
	if name == "." {
		// The mount point itself (wazero opens it for the preopen): a
		// directory that cannot be listed.
		return rootDir{}, nil
	}
	if !fs.ValidPath(name) || !f.allowed("/"+name) {
		return nil, &fs.PathError{Op: "open", Path: name, Err: syscall.EACCES}
	}
	abs := "/" + name
	// A FIFO or device would block the host's export thread in open or
	// read: only its metadata is handed over, and the core refuses it as
	// not a regular file, as it does natively.
	st, err := os.Stat(abs)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: unwrapPathError(err)}
	}
	if !st.Mode().IsRegular() {
		return statOnly{st}, nil
	}
	file, err := os.Open(abs)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: unwrapPathError(err)}
	}
	return readOnly{file}, nil
}

func unwrapPathError(err error) error {
	if pe, ok := err.(*fs.PathError); ok {
		return pe.Err
	}
	return err
}

// readOnly exposes only the reading methods of an open file: wazero would
// otherwise write through an *os.File's Write, or list a directory.
type readOnly struct{ f *os.File }

func (r readOnly) Stat() (fs.FileInfo, error)              { return r.f.Stat() }
func (r readOnly) Read(b []byte) (int, error)              { return r.f.Read(b) }
func (r readOnly) ReadAt(b []byte, off int64) (int, error) { return r.f.ReadAt(b, off) }
func (r readOnly) Seek(off int64, whence int) (int64, error) {
	return r.f.Seek(off, whence)
}
func (r readOnly) Close() error { return r.f.Close() }

// rootDir is "/": a directory without entries to list.
type rootDir struct{}

func (rootDir) Stat() (fs.FileInfo, error) { return rootInfo{}, nil }
func (rootDir) Read([]byte) (int, error)   { return 0, fs.ErrPermission }
func (rootDir) Close() error               { return nil }

type rootInfo struct{}

func (rootInfo) Name() string       { return "/" }
func (rootInfo) Size() int64        { return 0 }
func (rootInfo) Mode() fs.FileMode  { return fs.ModeDir | 0o555 }
func (rootInfo) ModTime() time.Time { return time.Time{} }
func (rootInfo) IsDir() bool        { return true }
func (rootInfo) Sys() any           { return nil }

// statOnly is a file that is not a regular file: its metadata, no data.
type statOnly struct{ info fs.FileInfo }

func (s statOnly) Stat() (fs.FileInfo, error) { return s.info, nil }
func (s statOnly) Read([]byte) (int, error)   { return 0, fs.ErrPermission }
func (s statOnly) Close() error               { return nil }

// credentialPaths are the files the core in the guest reads for rc (a
// resolved configuration): the client assertion's key, certificate or
// keystore when it signs assertions, as absolute clean paths. A relative
// path is taken from wd, the working directory the guest is given (PWD),
// so that host and guest mean the same file.
func credentialPaths(rc core.Config, wd string) []string {
	if rc.AuthStrategy != core.AuthOAuth || rc.TokenAuthMethod != core.MethodPrivateKeyJWT {
		return nil
	}
	var out []string
	for _, p := range []string{rc.ClientAssertionKeyPath, rc.ClientAssertionCertPath, rc.ClientAssertionKeystorePath} {
		switch {
		case p == "":
		case filepath.IsAbs(p):
			out = append(out, filepath.Clean(p))
		case wd != "":
			out = append(out, filepath.Join(wd, p))
		}
	}
	return out
}
