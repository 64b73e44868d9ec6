package core_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"

	"github.com/zbauth/zbauth/core"
	"github.com/zbauth/zbauth/internal/devcluster"
)

// The proxy settings come from HTTP_PROXY / HTTPS_PROXY / NO_PROXY, which
// net/http reads once per process: each case runs in a child process of
// this test binary. The client talks to http://zeebe.test (never resolved:
// only the proxy sees the name), and the proxy, on loopback, forwards to
// the dev cluster. All traffic stays on loopback.
func TestProxyFromEnvironment(t *testing.T) {
	if os.Getenv("ZBAUTH_PROXY_CHILD") == "1" {
		proxyChild()
		return
	}
	cl := startCluster(t, devcluster.Options{})
	target, _ := url.Parse(cl.URL())
	var mu sync.Mutex
	var seen []string
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Method+" "+r.URL.Host+r.URL.Path)
		mu.Unlock()
		out, _ := http.NewRequest(r.Method, cl.URL()+r.URL.Path, r.Body)
		out.Header = r.Header.Clone()
		resp, err := http.DefaultTransport.RoundTrip(out)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		io.Copy(w, resp.Body)
	}))
	defer proxy.Close()
	o := cl.Options()
	child := func(extra ...string) (string, error) {
		cmd := exec.Command(os.Args[0], "-test.run", "^TestProxyFromEnvironment$")
		cmd.Env = append(os.Environ(),
			"ZBAUTH_PROXY_CHILD=1",
			"HTTP_PROXY="+proxy.URL, "http_proxy="+proxy.URL,
			"ZEEBE_CLIENT_ID="+o.ClientID, "ZEEBE_CLIENT_SECRET="+o.ClientSecret,
			"ZEEBE_TOKEN_AUDIENCE="+o.Audience,
			"ZEEBE_AUTHORIZATION_SERVER_URL=http://zeebe.test/oauth/token",
			"ZEEBE_REST_ADDRESS=http://zeebe.test",
			"ZBAUTH_ALLOW_INSECURE_HTTP=true",
		)
		cmd.Env = append(cmd.Env, extra...)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}

	out, err := child("NO_PROXY=", "no_proxy=")
	if err != nil || !strings.Contains(out, "CHILD OK clusterSize=3") {
		t.Fatalf("through the proxy: %v\n%s", err, out)
	}
	mu.Lock()
	got := strings.Join(seen, ", ")
	mu.Unlock()
	if !strings.Contains(got, "POST zeebe.test/oauth/token") || !strings.Contains(got, "GET zeebe.test/v1/topology") {
		t.Fatalf("the proxy saw %q; want the token request and the topology call", got)
	}
	if target.Host == "zeebe.test" {
		t.Fatal("unreachable")
	}
	// A loopback host never goes through the proxy, whatever its case:
	// net/http's rule skips "localhost" but not "LOCALHOST".
	mu.Lock()
	seen = nil
	mu.Unlock()
	local := "http://LOCALHOST:" + target.Port()
	out, err = child("NO_PROXY=", "no_proxy=", "ZBAUTH_ALLOW_INSECURE_HTTP=false",
		"ZEEBE_AUTHORIZATION_SERVER_URL="+local+"/oauth/token", "ZEEBE_REST_ADDRESS="+local)
	if err != nil || !strings.Contains(out, "CHILD OK clusterSize=3") {
		t.Fatalf("to LOCALHOST: %v\n%s", err, out)
	}
	mu.Lock()
	got = strings.Join(seen, ", ")
	mu.Unlock()
	if got != "" {
		t.Fatalf("the proxy saw %q for LOCALHOST; want nothing", got)
	}
	// NO_PROXY is net/http's own handling; testing it would need a direct
	// connection to a name other than loopback, i.e. a DNS query, which
	// tests here do not make.

}

// proxyChild runs in the child process: one topology call, reported on
// stdout for the parent.
func proxyChild() {
	c, err := core.New(core.Config{})
	if err != nil {
		fmt.Println("CHILD", core.KindOf(err), err)
		return
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5e9)
	defer cancel()
	topo, err := c.Topology(ctx)
	if err != nil {
		fmt.Println("CHILD", core.KindOf(err), err)
		return
	}
	fmt.Printf("CHILD OK clusterSize=%d\n", topo.ClusterSize)
}
