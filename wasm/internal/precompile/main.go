// Command precompile fills a wazero compilation cache directory with
// zbauth.wasm modules, through host.Load and WithCompilationCacheDir
// exactly as an application's first start would.
//
//	go run ./wasm/internal/precompile -dir DIR [-watchdog] module.wasm...
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
	"time"

	"github.com/zbauth/zbauth/wasm/host"
)

func main() {
	dir := flag.String("dir", "", "compilation cache directory")
	watchdog := flag.Bool("watchdog", false, "also compile the variant with wazero's termination checks (WithExportTimeout)")
	flag.Parse()
	if *dir == "" || flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: precompile -dir DIR [-watchdog] module.wasm...")
		os.Exit(2)
	}
	variants := [][]host.Option{{}}
	if *watchdog {
		variants = append(variants, []host.Option{host.WithExportTimeout(time.Minute)})
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
