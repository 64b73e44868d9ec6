package host_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"strings"
	"time"

	"github.com/zbauth/zbauth/core"
	"github.com/zbauth/zbauth/internal/devcluster"
	"github.com/zbauth/zbauth/wasm/host"
)

// Load the module, create a client, and call the REST API through it. A
// dev cluster on loopback stands in for Camunda 8; its environment
// (ZEEBE_CLIENT_ID, ZEEBE_AUTHORIZATION_SERVER_URL, ...) becomes the
// guest's, so the config JSON may stay empty.
func Example() {
	cl, err := devcluster.Start(devcluster.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer cl.Close()
	env := map[string]string{}
	for _, kv := range cl.Env() {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	opts := []host.Option{host.WithEnv(env)}
	if dir := os.Getenv("ZBAUTH_WASM_CACHE"); dir != "" {
		opts = append(opts, host.WithCompilationCacheDir(dir)) // compiled code kept between runs
	}
	p, err := host.LoadFile(ctx, os.Getenv("ZBAUTH_WASM"), opts...) // build/zbauth.wasm (make wasm)
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close(context.Background())

	c, err := p.NewClient(ctx, []byte(`{}`))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	topo, err := c.Topology(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(topo.Brokers), "brokers, gateway", topo.GatewayVersion)

	resp, err := c.Do(ctx, "POST", "/v2/echo", []byte(`{"n":1}`))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(resp.Status, string(resp.Body))

	// Errors are *core.Error; the kind says what went wrong.
	_, err = c.Do(ctx, "GET", "/v2/missing", nil)
	var e *core.Error
	if errors.As(err, &e) {
		fmt.Println(e.Kind == core.KindAPI, e.Status)
	}
	// Output:
	// 3 brokers, gateway 8.7.0-dev
	// 200 {"body":{"n":1},"method":"POST","path":"/v2/echo"}
	// true 404
}
