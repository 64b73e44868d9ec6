package core_test

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"runtime"
	"testing"
	"time"

	"github.com/zbauth/zbauth/core"
)

// A REST API that declares a huge body and sends little or none of it
// costs the client what arrives, not what was declared: the declared
// length is never allocated up front. Within max_body_bytes the call fails
// with the short read; above it, before reading.
//
// Not parallel: it measures allocation.
func TestDeclaredBodyLengthIsNotAllocated(t *testing.T) {
	tok := tokenServer(t, "tok")
	for _, tt := range []struct {
		name     string
		declared int64
		sent     string
		tooLarge bool
	}{
		{"1 GiB declared, nothing sent", core.MaxBodyLimit, "", false},
		{"1 GiB declared, a short body sent", core.MaxBodyLimit, `{"brokers":[]}`, false},
		{"512 GiB declared, nothing sent", 549755813888, "", true},
	} {
		api := serve(t, func(w http.ResponseWriter, r *http.Request) {
			// net/http would not send a Content-Length it cannot honour.
			conn, bw, err := w.(http.Hijacker).Hijack()
			if err != nil {
				t.Error(err)
				return
			}
			defer conn.Close()
			fmt.Fprintf(bw, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", tt.declared, tt.sent)
			bw.Flush()
		})
		c := newClient(t, core.Config{ClientID: "id", ClientSecret: "secret", AuthorizationServerURL: tok.URL,
			RESTAddress: api.URL, MaxBodyBytes: core.MaxBodyLimit})
		ctx := ctxTimeout(t, 20*time.Second)
		if _, err := c.Token(ctx); err != nil {
			t.Fatal(err)
		}
		var m0, m1 runtime.MemStats
		runtime.ReadMemStats(&m0)
		start := time.Now()
		_, err := c.Do(ctx, "GET", "/v2/topology", nil)
		took := time.Since(start)
		runtime.ReadMemStats(&m1)
		e := asError(t, err, core.KindTransport)
		if errors.Is(e, core.ErrBodyTooLarge) != tt.tooLarge {
			t.Errorf("%s: error %v; want ErrBodyTooLarge: %v", tt.name, e, tt.tooLarge)
		}
		if alloc := m1.TotalAlloc - m0.TotalAlloc; alloc > 4<<20 {
			t.Errorf("%s: the call allocated %d MiB", tt.name, alloc>>20)
		}
		if took > 5*time.Second {
			t.Errorf("%s: the call took %v", tt.name, took)
		}
	}
}

// A body limit of MaxInt64 given to the transport reads bodies whole
// (max+1 used to overflow, and every body came back empty).
func TestTransportBodyLimitDoesNotOverflow(t *testing.T) {
	t.Parallel()
	const body = `{"brokers":[],"clusterSize":1}`
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(body)) })
	tr, err := core.NewHTTPTransport(core.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.CloseIdleConnections()
	for _, limit := range []int64{math.MaxInt64, math.MaxInt64 - 1, core.MaxBodyLimit + 1} {
		resp, err := tr.RoundTrip(ctxTimeout(t, 10*time.Second), &core.Request{Method: "GET", URL: srv.URL, MaxBody: limit})
		if err != nil || string(resp.Body) != body {
			t.Errorf("MaxBody %d: %v, %+v", limit, err, resp)
		}
	}
}
