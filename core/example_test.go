package core_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/zbauth/zbauth/core"
	"github.com/zbauth/zbauth/internal/devcluster"
)

// The examples run against the embedded dev cluster, which listens on a
// free loopback port. A real program leaves the Config empty and sets the
// ZEEBE_* environment variables instead (see Config.Resolve).

func devConfig(cl *devcluster.Cluster) core.Config {
	return core.Config{
		ClientID:               "zbauth-dev",
		ClientSecret:           "zbauth-dev-secret",
		AuthorizationServerURL: cl.TokenURL(), // https://login.cloud.camunda.io/oauth/token by default
		Audience:               "zeebe.camunda.io",
		RESTAddress:            cl.RESTAddress(), // https://${REGION}.zeebe.camunda.io/${CLUSTER_ID}
	}
}

func ExampleNew() {
	cl, err := devcluster.Start(devcluster.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer cl.Close()

	c, err := core.New(devConfig(cl))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tok, err := c.Token(ctx) // one token request; later calls hit the cache
	if err != nil {
		log.Fatal(err)
	}
	again, _ := c.Token(ctx)
	fmt.Println("token acquired:", tok != "")
	fmt.Println("cached:", again == tok)
	fmt.Println("token requests:", cl.Stats().TokenRequests)
	// Output:
	// token acquired: true
	// cached: true
	// token requests: 1
}

// A configuration error names every field at fault.
func ExampleNew_invalidConfig() {
	noEnv := func(string) (string, bool) { return "", false }
	_, err := core.New(core.Config{RESTAddress: "grpc://localhost:26500"}, core.WithLookupEnv(noEnv))
	var e *core.Error
	if errors.As(err, &e) {
		fmt.Println(e.Kind, e.Fields)
	}
	// Output: CONFIG [client_id client_secret rest_address]
}

func ExampleClient_Topology() {
	cl, err := devcluster.Start(devcluster.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer cl.Close()
	c, err := core.New(devConfig(cl))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	top, err := c.Topology(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("Cluster size:", top.ClusterSize)
	fmt.Println("Partitions count:", top.PartitionsCount)
	fmt.Println("Replication factor:", top.ReplicationFactor)
	for _, b := range top.Brokers {
		fmt.Printf("Broker %d - %s:%d\n", b.NodeID, b.Host, b.Port)
		for _, p := range b.Partitions {
			fmt.Printf("  Partition %d : %s\n", p.PartitionID, p.Role)
		}
	}
	// Output:
	// Cluster size: 3
	// Partitions count: 3
	// Replication factor: 3
	// Broker 0 - zeebe-0.dev.local:26501
	//   Partition 1 : leader
	//   Partition 2 : follower
	//   Partition 3 : follower
	// Broker 1 - zeebe-1.dev.local:26501
	//   Partition 1 : follower
	//   Partition 2 : leader
	//   Partition 3 : follower
	// Broker 2 - zeebe-2.dev.local:26501
	//   Partition 1 : follower
	//   Partition 2 : follower
	//   Partition 3 : leader
}

func ExampleClient_Do() {
	cl, err := devcluster.Start(devcluster.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer cl.Close()
	c, err := core.New(devConfig(cl))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()

	// The dev cluster's /v2/echo answers with what it received.
	resp, err := c.Do(ctx, "POST", "/v2/echo", []byte(`{"hello":"world"}`))
	if err != nil {
		log.Fatal(err)
	}
	var echo struct {
		Method string         `json:"method"`
		Path   string         `json:"path"`
		Body   map[string]any `json:"body"`
	}
	if err := json.Unmarshal(resp.Body, &echo); err != nil {
		log.Fatal(err)
	}
	fmt.Println(resp.Status, echo.Method, echo.Path, echo.Body["hello"])

	// An error status comes back as a KindAPI error with the problem document.
	_, err = c.Do(ctx, "GET", "/v2/no-such-endpoint", nil)
	var e *core.Error
	if errors.As(err, &e) && e.Problem != nil {
		fmt.Println(e.Kind, e.Status, e.Problem.Title)
	}
	// Output:
	// 200 POST /v2/echo world
	// API 404 Not Found
}

func ExampleParseConfigJSON() {
	cfg, err := core.ParseConfigJSON([]byte(`{
		"client_id": "my-client",
		"client_secret": "my-secret",
		"rest_address": "https://bru-2.zeebe.camunda.io/0a1b2c3d",
		"timeout_ms": 5000
	}`))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(cfg.ClientID, cfg.RESTAddress, cfg.Timeout)

	// Logging a Config never shows the secret.
	b, _ := json.Marshal(cfg)
	var logged map[string]any
	json.Unmarshal(b, &logged)
	fmt.Println(logged["client_secret"])

	// Unknown keys are an error, so that a typo does not go unnoticed.
	_, err = core.ParseConfigJSON([]byte(`{"clientSecret":"x"}`))
	fmt.Println(err)
	// Output:
	// my-client https://bru-2.zeebe.camunda.io/0a1b2c3d 5s
	// [REDACTED]
	// zbauth: config: invalid config JSON: unknown field "clientSecret"
}
