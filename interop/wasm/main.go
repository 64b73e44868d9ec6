// Command interop-wasm runs the zbauth WebAssembly plugin (through the Go
// host package, wasm/host) against a real token issuer, for make
// test-interop. Configuration comes from the ZEEBE_* environment, which
// `zbauth dev-cluster --issuer ...` completes with the REST side.
//
//	interop-wasm -module build/zbauth.wasm success
//	interop-wasm -module build/zbauth.wasm wrong-secret OAUTH_ERROR_CODE
//	interop-wasm -module build/zbauth.wasm refused OAUTH_ERROR_CODE
//
// refused is wrong-secret for the configuration as the environment gives it
// (an unknown scope, an unregistered key).
package main

import (
	"context"
	"encoding/json"
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
		err = refused(ctx, *module, args[1], "wrong-secret")
	case len(args) == 2 && args[0] == "refused":
		err = refused(ctx, *module, args[1], "")
	default:
		fmt.Fprintln(os.Stderr, "usage: interop-wasm [-module PATH] success | wrong-secret|refused OAUTH_ERROR_CODE")
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

// refused expects AUTH carrying code; override, when set, is the client
// secret instead of the environment's.
func refused(ctx context.Context, module, code, override string) error {
	secret, config := override, []byte(`{}`)
	if override != "" {
		config, _ = json.Marshal(map[string]string{"client_secret": override})
	} else if secret = os.Getenv("CAMUNDA_CLIENT_SECRET"); secret == "" {
		secret = os.Getenv("ZEEBE_CLIENT_SECRET")
	}
	p, err := host.LoadFile(ctx, module)
	if err != nil {
		return err
	}
	defer p.Close(context.Background())
	c, err := p.NewClient(ctx, config)
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = c.Topology(ctx)
	if core.KindOf(err) != core.KindAuth {
		return fmt.Errorf("want an AUTH error, got %v (%v)", core.KindOf(err), err)
	}
	fmt.Printf("interop-wasm: AUTH: %v\n", err)
	if !strings.Contains(err.Error(), code) || (secret != "" && strings.Contains(err.Error(), secret)) {
		return fmt.Errorf("the message must carry %s and not the secret", code)
	}
	return nil
}
