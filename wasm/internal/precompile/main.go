// Command precompile fills a wazero compilation cache directory with
// zbauth.wasm modules, through host.Load and WithCompilationCacheDir
// exactly as an application's first start would.
//
//	go run ./wasm/internal/precompile -dir DIR [-no-watchdog] module.wasm...
//
// The host package's tests run it (as a normal, non-race binary) so that
// their race-instrumented process loads compiled code from the cache
// instead of running wazero's compiler under the race detector, which is
// much slower.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/zbauth/zbauth/wasm/host"
)

func main() {
	dir := flag.String("dir", "", "compilation cache directory")
	noWatchdog := flag.Bool("no-watchdog", false, "also compile the variant without wazero's termination checks (WithExportTimeout(0))")
	flag.Parse()
	if *dir == "" || flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: precompile -dir DIR [-no-watchdog] module.wasm...")
		os.Exit(2)
	}
	variants := [][]host.Option{{}}
	if *noWatchdog {
		variants = append(variants, []host.Option{host.WithExportTimeout(0)})
	}
	ctx := context.Background()
	for _, path := range flag.Args() {
		for _, v := range variants {
			opts := append([]host.Option{host.WithCompilationCacheDir(*dir), host.WithEnv(map[string]string{}), host.WithStderr(io.Discard)}, v...)
			p, err := host.LoadFile(ctx, path, opts...)
			if err != nil {
				fmt.Fprintln(os.Stderr, "precompile:", path+":", err)
				os.Exit(1)
			}
			p.Close(ctx)
		}
	}
}
