// Command demo prints the cluster topology through the zbauth WebAssembly
// plugin, configured like the CLI from the ZEEBE_* environment:
//
//	zbauth dev-cluster -- go run ./wasm/demo -module build/zbauth.wasm
//
// It is what `make demo-wasm` runs.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/zbauth/zbauth/internal/topotext"
	"github.com/zbauth/zbauth/wasm/host"
)

func main() {
	module := flag.String("module", "build/zbauth.wasm", "path of zbauth.wasm")
	cache := flag.String("cache", "", "wazero compilation cache directory (empty: none)")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var opts []host.Option
	if *cache != "" {
		opts = append(opts, host.WithCompilationCacheDir(*cache))
	}
	if err := run(ctx, *module, opts...); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, module string, opts ...host.Option) error {
	start := time.Now()
	p, err := host.LoadFile(ctx, module, opts...)
	if err != nil {
		return err
	}
	defer p.Close(context.Background())
	loaded := time.Since(start)
	c, err := p.NewClient(ctx, []byte(`{}`)) // everything from ZEEBE_* (passed to the guest)
	if err != nil {
		return err
	}
	defer c.Close()
	t, err := c.Topology(ctx)
	if err != nil {
		return err
	}
	topotext.Write(os.Stdout, t)
	st := p.Stats()
	fmt.Printf("(through %s: module loaded in %v, %d HTTP requests made by the host for the guest)\n",
		module, loaded.Round(time.Millisecond), st.HTTPRequests)
	return nil
}
