package bench

// The Go micro-benchmarks (testing.B). `make bench-go` runs them with
// -benchmem, BENCH_RUNS passes of -count 1, under `zbauth dev-cluster --`;
// `go test -bench .` here works too, against an embedded cluster. They
// assert nothing about time.
//
//	CachedToken/{serial,parallel}/{zbauth,xoauth2,zbc}
//	    one call that returns a cached token: core.Client.Token,
//	    x/oauth2 ReuseTokenSource.Token, zbc OAuthCredentialsProvider.ApplyCredentials
//	Topology/{serial,parallel64}/{floor,zbauth,zbauth-do,xoauth2}
//	    GET /v1/topology: the raw net/http floor (fixed bearer, body read),
//	    zbauth Topology (parsed), zbauth Do (body only), and an
//	    oauth2.Transport client (body read); parallel64 is 64 goroutines.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"runtime"
	"testing"

	"github.com/zbauth/zbauth/bench/internal/harness"
	"github.com/zbauth/zbauth/bench/internal/zbcpeer"
	"github.com/zbauth/zbauth/core"
)

var cluster *harness.Cluster

func TestMain(m *testing.M) {
	var err error
	cluster, err = harness.Connect()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
	code := m.Run()
	cluster.Close()
	os.Exit(code)
}

var sinkS string
var sinkB []byte

// tokenCall is one cached-token call. h is the calling goroutine's own
// header map, which only zbc's ApplyCredentials uses (it writes the
// Authorization header into it; zbc's gRPC interceptor makes a new map per
// call, which is not counted here).
type tokenCall func(h map[string]string) string

// tokenCallers returns the cached-token call of each peer, each with a
// token already cached.
func tokenCallers(b *testing.B) map[string]tokenCall {
	ctx := context.Background()
	zc, err := cluster.Zbauth()
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { zc.Close() })
	xs := cluster.XOAuth2(harness.Transport())
	zp, err := zbcpeer.New(cluster, b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	calls := map[string]tokenCall{
		"zbauth": func(map[string]string) string {
			t, err := zc.Token(ctx)
			if err != nil {
				panic(err)
			}
			return t
		},
		"xoauth2": func(map[string]string) string {
			t, err := xs.Token()
			if err != nil {
				panic(err)
			}
			return t.AccessToken
		},
		"zbc": func(h map[string]string) string {
			if err := zp.ApplyCredentials(ctx, h); err != nil {
				panic(err)
			}
			return h["Authorization"]
		},
	}
	for _, f := range calls {
		f(map[string]string{}) // fill the cache
	}
	return calls
}

var peers = []string{"zbauth", "xoauth2", "zbc"}

func BenchmarkCachedToken(b *testing.B) {
	b.Run("serial", func(b *testing.B) {
		calls := tokenCallers(b)
		for _, name := range peers {
			f := calls[name]
			b.Run(name, func(b *testing.B) {
				h := map[string]string{}
				b.ReportAllocs()
				for b.Loop() {
					sinkS = f(h)
				}
			})
		}
	})
	b.Run("parallel", func(b *testing.B) {
		calls := tokenCallers(b)
		for _, name := range peers {
			f := calls[name]
			b.Run(name, func(b *testing.B) {
				b.ReportAllocs()
				b.RunParallel(func(pb *testing.PB) {
					h := map[string]string{}
					var s string
					for pb.Next() {
						s = f(h)
					}
					_ = s
				})
			})
		}
	})
}

// topologyCallers returns one GET /v1/topology per peer, each with a token
// already cached and a connection pool alike.
func topologyCallers(b *testing.B) map[string]func(ctx context.Context) error {
	zc, err := cluster.Zbauth()
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { zc.Close() })
	tok, err := zc.Token(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	frt := harness.Transport()
	b.Cleanup(frt.CloseIdleConnections)
	floor := cluster.Floor(frt, tok)
	xrt := harness.Transport()
	b.Cleanup(xrt.CloseIdleConnections)
	xc := cluster.XOAuth2Client(xrt)
	url := cluster.TopologyURL()
	calls := map[string]func(ctx context.Context) error{
		"floor": func(ctx context.Context) error {
			b, err := floor.Get(ctx)
			sinkB = b
			return err
		},
		"zbauth": func(ctx context.Context) error {
			_, err := zc.Topology(ctx)
			return err
		},
		"zbauth-do": func(ctx context.Context) error {
			_, err := zc.Do(ctx, "GET", "/v1/topology", nil)
			return err
		},
		"xoauth2": func(ctx context.Context) error {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
			if err != nil {
				return err
			}
			req.Header.Set("Accept", "application/json")
			b, err := harness.Get(xc, req)
			sinkB = b
			return err
		},
	}
	for name, f := range calls {
		if err := f(context.Background()); err != nil {
			b.Fatalf("%s: %v", name, err)
		}
	}
	return calls
}

var topologyPeers = []string{"floor", "zbauth", "zbauth-do", "xoauth2"}

// Workers is the concurrency of the parallel topology benchmark.
const Workers = 64

func BenchmarkTopology(b *testing.B) {
	b.Run("serial", func(b *testing.B) {
		calls := topologyCallers(b)
		for _, name := range topologyPeers {
			f := calls[name]
			b.Run(name, func(b *testing.B) {
				b.ReportAllocs()
				ctx := context.Background()
				for b.Loop() {
					if err := f(ctx); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	})
	b.Run(fmt.Sprintf("parallel%d", Workers), func(b *testing.B) {
		calls := topologyCallers(b)
		for _, name := range topologyPeers {
			f := calls[name]
			b.Run(name, func(b *testing.B) {
				b.ReportAllocs()
				b.SetParallelism((Workers + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
				b.RunParallel(func(pb *testing.PB) {
					ctx := context.Background()
					for pb.Next() {
						if err := f(ctx); err != nil {
							panic(err)
						}
					}
				})
			})
		}
	})
}

// BenchmarkParseTopology is the decode a topology call does when the body
// differs from the client's previous one (core.ParseTopology: validation,
// then goccy), against encoding/json alone into the same type. Repeated
// bodies skip it (docs/topology-memo.md).
func BenchmarkParseTopology(b *testing.B) {
	zc, err := cluster.Zbauth()
	if err != nil {
		b.Fatal(err)
	}
	defer zc.Close()
	resp, err := zc.Do(context.Background(), "GET", "/v1/topology", nil)
	if err != nil {
		b.Fatal(err)
	}
	body := resp.Body
	b.Run("core", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			if _, err := core.ParseTopology(body); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			var t core.Topology
			if err := json.Unmarshal(body, &t); err != nil {
				b.Fatal(err)
			}
		}
	})
}
