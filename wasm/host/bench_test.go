package host

import (
	"context"
	"io"
	"runtime"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/zbauth/zbauth/core"
	"github.com/zbauth/zbauth/internal/devcluster"
)

// The benchmarks `make bench-wasm` reports. BenchmarkCachedToken runs the
// same call on the native core and through the plugin in one run, so their
// ratio is meaningful.

// nativeClient is the Go core configured like the plugin's clients (no
// environment).
func nativeClient(b *testing.B, cfgJSON []byte) *core.Client {
	cfg, err := core.ParseConfigJSON(cfgJSON)
	if err != nil {
		b.Fatal(err)
	}
	c, err := core.New(cfg, core.WithLookupEnv(func(string) (string, bool) { return "", false }))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	return c
}

func BenchmarkCachedToken(b *testing.B) {
	cl := cluster(b, devcluster.Options{})
	ctx := context.Background()
	b.Run("core", func(b *testing.B) {
		c := nativeClient(b, configFor(cl, ""))
		if _, err := c.Token(ctx); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := c.Token(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
	plugin := func(opts ...Option) func(b *testing.B) {
		return func(b *testing.B) {
			p := load(b, prodModule, opts...)
			c := newClient(b, p, configFor(cl, ""))
			if _, err := c.Token(ctx); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.Token(ctx); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
	b.Run("plugin", plugin())
	b.Run("plugin-nowatchdog", plugin(WithExportTimeout(0)))
	b.Run("plugin-parallel", func(b *testing.B) {
		p := load(b, prodModule)
		c := newClient(b, p, configFor(cl, ""))
		if _, err := c.Token(ctx); err != nil {
			b.Fatal(err)
		}
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := c.Token(ctx); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

// BenchmarkTopology is a whole REST call over loopback (cached token).
func BenchmarkTopology(b *testing.B) {
	cl := cluster(b, devcluster.Options{})
	ctx := context.Background()
	b.Run("core", func(b *testing.B) {
		c := nativeClient(b, configFor(cl, ""))
		for b.Loop() {
			if _, err := c.Topology(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
	sequential := func(opts ...Option) func(b *testing.B) {
		return func(b *testing.B) {
			p := load(b, prodModule, opts...)
			c := newClient(b, p, configFor(cl, ""))
			for b.Loop() {
				if _, err := c.Topology(ctx); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
	b.Run("plugin", sequential())
	// Without the export watchdog's termination checks (on by default).
	b.Run("plugin-nowatchdog", sequential(WithExportTimeout(0)))
	// 64 goroutines sharing one client of one plugin: export calls take
	// turns on the instance, the HTTP exchanges overlap in the host.
	b.Run("plugin-parallel64", func(b *testing.B) {
		p := load(b, prodModule)
		c := newClient(b, p, configFor(cl, ""))
		if _, err := c.Topology(ctx); err != nil {
			b.Fatal(err)
		}
		b.SetParallelism((64 + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := c.Topology(ctx); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

// compileOnce compiles zbauth.wasm in a new runtime, as Load does.
func compileOnce(b *testing.B, cache wazero.CompilationCache) {
	ctx := context.Background()
	rc := wazero.NewRuntimeConfig()
	if cache != nil {
		rc = rc.WithCompilationCache(cache)
	}
	rt := wazero.NewRuntimeWithConfig(ctx, rc)
	defer rt.Close(ctx)
	if _, err := rt.CompileModule(ctx, prodModule); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkCompile: cold is a first start (no cache); cached is a later
// process's start with WithCompilationCacheDir (a new cache object reading
// the directory, as a new process would).
func BenchmarkCompile(b *testing.B) {
	b.Run("cold", func(b *testing.B) {
		for b.Loop() {
			compileOnce(b, nil)
		}
	})
	b.Run("cached", func(b *testing.B) {
		dir := b.TempDir()
		warm, err := wazero.NewCompilationCacheWithDir(dir)
		if err != nil {
			b.Fatal(err)
		}
		compileOnce(b, warm)
		warm.Close(context.Background())
		for b.Loop() {
			c, err := wazero.NewCompilationCacheWithDir(dir)
			if err != nil {
				b.Fatal(err)
			}
			compileOnce(b, c)
			c.Close(context.Background())
		}
	})
}

// BenchmarkInstantiate: a new instance of a compiled module, including the
// Go runtime's start (_initialize), as after a trap.
func BenchmarkInstantiate(b *testing.B) {
	p := load(b, prodModule)
	ctx := context.Background()
	for b.Loop() {
		mod, err := p.rt.InstantiateModule(ctx, p.compiled, p.moduleConfig(io.Discard))
		if err != nil {
			b.Fatal(err)
		}
		mod.Close(ctx)
	}
}

// BenchmarkModuleSize only reports the size of zbauth.wasm.
func BenchmarkModuleSize(b *testing.B) {
	for b.Loop() {
	}
	b.ReportMetric(float64(len(prodModule)), "bytes")
	b.ReportMetric(float64(len(prodModule))/(1<<20), "MiB")
}
