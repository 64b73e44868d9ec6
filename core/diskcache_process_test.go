package core_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zbauth/zbauth/core"
	"github.com/zbauth/zbauth/internal/devcluster"
)

// N processes that start together with one token cache directory make one
// token request between them (the flock in core/diskcache.go). Each process
// is a child of this test binary.
func TestDiskCacheSharedBetweenProcesses(t *testing.T) {
	if os.Getenv("ZBAUTH_CACHE_CHILD") == "1" {
		c, err := core.New(core.Config{})
		if err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			var tok string
			if tok, err = c.Token(ctx); err == nil {
				fmt.Println("CHILD TOKEN", len(tok), tok[len(tok)-12:])
			}
			c.Close()
		}
		if err != nil {
			fmt.Println("CHILD ERROR", err)
		}
		return
	}
	cl := startCluster(t, devcluster.Options{})
	o := cl.Options()
	dir := filepath.Join(t.TempDir(), "cache")
	const procs = 6
	outs := make([]string, procs)
	var wg sync.WaitGroup
	for i := range outs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := exec.Command(os.Args[0], "-test.run", "^TestDiskCacheSharedBetweenProcesses$")
			cmd.Env = append(os.Environ(), "ZBAUTH_CACHE_CHILD=1",
				"ZEEBE_CLIENT_ID="+o.ClientID, "ZEEBE_CLIENT_SECRET="+o.ClientSecret,
				"ZEEBE_TOKEN_AUDIENCE="+o.Audience, "ZEEBE_AUTHORIZATION_SERVER_URL="+cl.TokenURL(),
				"ZEEBE_REST_ADDRESS="+cl.RESTAddress(), "ZEEBE_TOKEN_CACHE_DIR="+dir)
			out, _ := cmd.CombinedOutput()
			outs[i] = string(out)
		}()
	}
	wg.Wait()
	var first string
	for i, out := range outs {
		line := ""
		for _, l := range strings.Split(out, "\n") {
			if strings.HasPrefix(l, "CHILD ") {
				line = l
			}
		}
		if !strings.HasPrefix(line, "CHILD TOKEN") {
			t.Fatalf("process %d: %s", i, out)
		}
		if first == "" {
			first = line
		} else if line != first {
			t.Errorf("process %d got another token: %q vs %q", i, line, first)
		}
	}
	if n := cl.Stats().TokenRequests; n != 1 {
		t.Fatalf("%d processes made %d token requests, want 1", procs, n)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		info, _ := e.Info()
		if strings.HasSuffix(e.Name(), ".json") && info.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", e.Name(), info.Mode().Perm())
		}
		b, _ := os.ReadFile(filepath.Join(dir, e.Name()))
		if strings.Contains(string(b), o.ClientSecret) {
			t.Errorf("%s contains the client secret", e.Name())
		}
	}
}
