// Command interop-wasm runs the zbauth WebAssembly plugin (through the Go
// host package, wasm/host) against a real token issuer, for make
// test-interop. Configuration comes from the ZEEBE_* environment, which
// `zbauth dev-cluster --issuer ...` completes with the REST side.
//
//	interop-wasm -module build/zbauth.wasm success
//	interop-wasm -module build/zbauth.wasm wrong-secret OAUTH_ERROR_CODE
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/zbauth/zbauth/core"
	"github.com/zbauth/zbauth/wasm/host"
)

func main() {
	module := flag.String("module", "build/zbauth.wasm", "path of zbauth.wasm")
	flag.Parse()
	args := flag.Args()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var err error
	switch {
	case len(args) == 1 && args[0] == "success":
		err = success(ctx, *module)
	case len(args) == 2 && args[0] == "wrong-secret":
		err = wrongSecret(ctx, *module, args[1])
	default:
		fmt.Fprintln(os.Stderr, "usage: interop-wasm [-module PATH] success | wrong-secret OAUTH_ERROR_CODE")
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "interop-wasm:", err)
		os.Exit(1)
	}
}

func success(ctx context.Context, module string) error {
	p, err := host.LoadFile(ctx, module)
	if err != nil {
		return err
	}
	defer p.Close(context.Background())
	c, err := p.NewClient(ctx, []byte(`{}`))
	if err != nil {
		return err
	}
	defer c.Close()
	tok, err := c.Token(ctx)
	if err != nil {
		return err
	}
	if strings.Count(tok, ".") != 2 {
		return errors.New("the token is not a JWT")
	}
	t, err := c.Topology(ctx)
	if err != nil {
		return err
	}
	if len(t.Brokers) == 0 {
		return errors.New("empty topology")
	}
	fmt.Printf("interop-wasm: token (%d bytes), %d brokers, gateway %s (%d HTTP requests made by the host)\n",
		len(tok), len(t.Brokers), t.GatewayVersion, p.Stats().HTTPRequests)
	return nil
}

func wrongSecret(ctx context.Context, module, code string) error {
	p, err := host.LoadFile(ctx, module)
	if err != nil {
		return err
	}
	defer p.Close(context.Background())
	c, err := p.NewClient(ctx, []byte(`{"client_secret":"wrong-secret"}`))
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = c.Topology(ctx)
	if core.KindOf(err) != core.KindAuth {
		return fmt.Errorf("want an AUTH error, got %v (%v)", core.KindOf(err), err)
	}
	fmt.Printf("interop-wasm: AUTH: %v\n", err)
	if !strings.Contains(err.Error(), code) || strings.Contains(err.Error(), "wrong-secret") {
		return fmt.Errorf("the message must carry %s and not the secret", code)
	}
	return nil
}
