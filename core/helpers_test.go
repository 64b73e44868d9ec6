package core_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/zbauth/zbauth/core"
	"github.com/zbauth/zbauth/internal/devcluster"
)

// noEnv is a lookup that sees an empty environment, so that tests do not
// depend on the ZEEBE_* variables of whoever runs them.
func noEnv(string) (string, bool) { return "", false }

// envOf returns a lookup over a fixed map.
func envOf(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

// startCluster starts a dev cluster on a free loopback port for one test.
func startCluster(t testing.TB, opts devcluster.Options) *devcluster.Cluster {
	t.Helper()
	cl, err := devcluster.Start(opts)
	if err != nil {
		t.Fatalf("devcluster.Start: %v", err)
	}
	t.Cleanup(func() { cl.Close() })
	return cl
}

// clusterConfig points a Config at cl with cl's own credentials.
func clusterConfig(cl *devcluster.Cluster) core.Config {
	o := cl.Options()
	return core.Config{
		ClientID:               o.ClientID,
		ClientSecret:           o.ClientSecret,
		AuthorizationServerURL: cl.TokenURL(),
		Audience:               o.Audience,
		RESTAddress:            cl.RESTAddress(),
	}
}

// newClient builds a client from cfg with an empty environment and closes
// it when the test ends.
func newClient(t testing.TB, cfg core.Config, opts ...core.Option) *core.Client {
	t.Helper()
	c, err := core.New(cfg, append([]core.Option{core.WithLookupEnv(noEnv)}, opts...)...)
	if err != nil {
		t.Fatalf("core.New: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// clusterClient starts a dev cluster and a client pointed at it.
func clusterClient(t testing.TB, opts ...core.Option) (*devcluster.Cluster, *core.Client) {
	t.Helper()
	cl := startCluster(t, devcluster.Options{})
	return cl, newClient(t, clusterConfig(cl), opts...)
}

// serve starts an httptest server on loopback for one test.
func serve(t testing.TB, h http.HandlerFunc) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// tokenServer answers every token request with tok (no expiry).
func tokenServer(t testing.TB, tok string) *httptest.Server {
	return serve(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"access_token":"` + tok + `","token_type":"Bearer"}`))
	})
}

// deadURL returns an http URL on a loopback port nobody listens on.
func deadURL(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr
}

// asError asserts that err is a *core.Error of kind k and returns it.
func asError(t testing.TB, err error, k core.Kind) *core.Error {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want kind %v", k)
	}
	var e *core.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %T (%v) is not a *core.Error", err, err)
	}
	if e.Kind != k {
		t.Fatalf("error kind = %v, want %v (error: %v)", e.Kind, k, err)
	}
	return e
}

// ctxTimeout returns a context that ends with the test or after d.
func ctxTimeout(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
