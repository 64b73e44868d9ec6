package host

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/zbauth/zbauth/core"
	"github.com/zbauth/zbauth/internal/devcluster"
)

// The tests need two modules: zbauth.wasm itself (ZBAUTH_WASM, as `make`
// passes it, or built here) and a build with the test-only exports of
// wasm/guest/testexports.go. Building them here keeps `go test ./...` on a
// clean checkout working; the go command caches the builds.
var (
	prodModule []byte
	testModule []byte
	// testCacheDir holds both modules precompiled by a non-race process
	// (wasm/internal/precompile); testCache reads it. Each test's Load then
	// finds compiled code instead of compiling the whole module again,
	// which is slow under -race.
	testCacheDir string
	testCache    wazero.CompilationCache
)

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	flag.Parse()
	// Benchmarks only (-test.run '^$', as `make bench-wasm`): no test
	// module, no precompiling; the benchmarks share an in-memory cache.
	benchOnly := flag.Lookup("test.run").Value.String() == "^$"
	dir, err := os.MkdirTemp("", "zbauth-wasm-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	fail := func(err error) int {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	prodPath := os.Getenv("ZBAUTH_WASM")
	if prodPath == "" {
		prodPath = filepath.Join(dir, "zbauth.wasm")
		if err := buildGuest(prodPath, ""); err != nil {
			return fail(err)
		}
	} else if prodPath, err = filepath.Abs(prodPath); err != nil {
		return fail(err)
	}
	if prodModule, err = os.ReadFile(prodPath); err != nil {
		return fail(err)
	}
	if benchOnly {
		testCache = wazero.NewCompilationCache()
		defer testCache.Close(context.Background())
		return m.Run()
	}
	testPath := filepath.Join(dir, "zbauth-test.wasm")
	if err := buildGuest(testPath, "zbauth_testexports"); err != nil {
		return fail(err)
	}
	if testModule, err = os.ReadFile(testPath); err != nil {
		return fail(err)
	}
	testCacheDir = filepath.Join(dir, "wazero-cache")
	// wazero files its cache under its own version, which it reads from
	// the binary's build information; a test binary has none and says
	// "dev". The helper is told to say the same.
	ldflags := "-ldflags=-X github.com/tetratelabs/wazero/internal/version.version=" + wazeroVersion()
	if err := goCommand("run", ldflags, "github.com/zbauth/zbauth/wasm/internal/precompile",
		"-dir", testCacheDir, prodPath, testPath).Run(); err != nil {
		return fail(fmt.Errorf("precompiling the modules: %w", err))
	}
	if testCache, err = wazero.NewCompilationCacheWithDir(testCacheDir); err != nil {
		return fail(err)
	}
	defer testCache.Close(context.Background())
	// The package's examples (example_test.go) find the module and its
	// precompiled code as a program would, by name.
	os.Setenv("ZBAUTH_WASM", prodPath)
	os.Setenv("ZBAUTH_WASM_CACHE", testCacheDir)
	return m.Run()
}

// wazeroVersion is the version wazero finds for itself in this binary
// (internal/version.GetWazeroVersion): its module's version in the build
// information, else "dev".
func wazeroVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if strings.Contains(d.Path, "github.com/tetratelabs/wazero") && d.Version != "" && d.Version != "(devel)" {
				return d.Version
			}
		}
	}
	return "dev"
}

func goCommand(args ...string) *exec.Cmd {
	goCmd, err := exec.LookPath("go")
	if err != nil {
		goCmd = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	cmd := exec.Command(goCmd, args...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	return cmd
}

// buildGuest builds wasm/guest for wasip1 as a reactor, as `make wasm`.
func buildGuest(out, tags string) error {
	args := []string{"build", "-buildmode=c-shared", "-trimpath", "-ldflags=-s -w", "-o", out}
	if tags != "" {
		args = append(args, "-tags", tags)
	}
	cmd := goCommand(append(args, "github.com/zbauth/zbauth/wasm/guest")...)
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("building the guest module (tags %q): %w", tags, err)
	}
	return nil
}

// cluster starts a dev cluster for one test.
func cluster(t testing.TB, opts devcluster.Options) *devcluster.Cluster {
	t.Helper()
	cl, err := devcluster.Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	return cl
}

// configFor is the config JSON pointing at cl; extra adds or replaces keys
// (a JSON fragment such as `"timeout_ms":300`).
func configFor(cl *devcluster.Cluster, extra string) []byte {
	o := cl.Options()
	s := fmt.Sprintf(`{"client_id":%q,"client_secret":%q,"authorization_server_url":%q,"rest_address":%q`,
		o.ClientID, o.ClientSecret, cl.TokenURL(), cl.RESTAddress())
	if extra != "" {
		s += "," + extra
	}
	return []byte(s + "}")
}

// load loads a module with the tests' defaults: the shared compilation
// cache, an empty environment, guest stderr discarded.
func load(t testing.TB, module []byte, opts ...Option) *Plugin {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	all := append([]Option{WithCompilationCache(testCache), WithEnv(map[string]string{}), WithStderr(io.Discard)}, opts...)
	p, err := Load(ctx, module, all...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close(context.Background()) })
	return p
}

func newClient(t testing.TB, p *Plugin, cfg []byte) *Client {
	t.Helper()
	c, err := p.NewClient(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// kindOf asserts err is a *core.Error and returns it.
func asCoreError(t testing.TB, err error) *core.Error {
	t.Helper()
	var e *core.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not a *core.Error", err, err)
	}
	return e
}

// eventually polls cond for up to d.
func eventually(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
