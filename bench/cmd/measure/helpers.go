package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/zbauth/zbauth/bench/internal/harness"
)

// beside returns the program name beside this one, unless flagged.
func beside(flagged, name string) string {
	if flagged != "" {
		return flagged
	}
	exe, err := os.Executable()
	if err != nil {
		return name
	}
	return filepath.Join(filepath.Dir(exe), name)
}

func missing(path, how string) string {
	if _, err := os.Stat(path); err != nil {
		return "not built (" + how + ")"
	}
	return ""
}

// pythonCmd returns the interpreter for the Python binding, using the
// binding's venv when there is one, and why Python is skipped ("" if not).
func pythonCmd() (string, string) {
	r := *root
	src := filepath.Join(r, "bindings", "python", "src", "zbauth", "__init__.py")
	if why := missing(src, "bindings/python"); why != "" {
		return "", why
	}
	if why := missing(libPath(), "make lib"); why != "" {
		return "", why
	}
	py := filepath.Join(r, "build", "venv-python", "bin", "python")
	if _, err := os.Stat(py); err != nil {
		if py, err = exec.LookPath("python3"); err != nil {
			return "", "not built (no python3)"
		}
	}
	return py, ""
}

func nodeDir() string { abs, _ := filepath.Abs(filepath.Join(*root, "bindings", "node")); return abs }

func nodeCmd() (string, string) {
	dir := nodeDir()
	if why := missing(filepath.Join(dir, "index.js"), "bindings/node"); why != "" {
		return "", why
	}
	addon := filepath.Join(dir, "prebuilds", runtime.GOOS+"-"+map[string]string{"amd64": "x64", "arm64": "arm64"}[runtime.GOARCH], "zbauth.node")
	if why := missing(addon, "the node addon"); why != "" {
		return "", why
	}
	node, err := exec.LookPath("node")
	if err != nil {
		return "", "not built (no node)"
	}
	return node, ""
}

func libPath() string {
	abs, _ := filepath.Abs(filepath.Join(*root, "build", "lib", "libzbauth.so"))
	return abs
}

// childEnv is this process's environment pointed at the cluster, with the
// bindings' package paths.
func childEnv(cl *harness.Cluster) []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "ZEEBE_") || strings.HasPrefix(kv, "ZBAUTH_") || strings.HasPrefix(kv, "CAMUNDA_") || strings.HasPrefix(kv, "PYTHONPATH=") {
			continue
		}
		env = append(env, kv)
	}
	src, _ := filepath.Abs(filepath.Join(*root, "bindings", "python", "src"))
	env = append(env, "PYTHONPATH="+src, "ZBAUTH_LIBRARY="+libPath())
	return append(env, cl.Env()...)
}

func stderrOf(err error) string {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return firstLine(string(ee.Stderr), "")
	}
	return ""
}

func firstLine(s, def string) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return def
	}
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > 200 {
		s = s[:200]
	}
	return s
}

func ms(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e6 }

// rotate returns xs rotated by r, so that no peer always runs first.
func rotate(xs []string, r int) []string {
	k := r % len(xs)
	return append(append([]string(nil), xs[k:]...), xs[:k]...)
}
