package host

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/tetratelabs/wazero/api"
	"github.com/zbauth/zbauth/core"
	"github.com/zbauth/zbauth/internal/devcluster"
)

// TestCallIDMustBePositive: the guest refuses call ids 0 and below with
// ARGUMENT, reported for that id within the export, and starts nothing.
func TestCallIDMustBePositive(t *testing.T) {
	cl := cluster(t, devcluster.Options{})
	p := load(t, prodModule)
	c := newClient(t, p, configFor(cl, ""))
	if _, err := c.Token(context.Background()); err != nil { // a cached token: the fast path too
		t.Fatal(err)
	}
	for _, call := range []int32{0, -1} {
		for _, op := range []string{"config", "token", "topology", "request"} {
			p.mu.Lock()
			in, h, err := c.acquire(context.Background(), op)
			if err != nil {
				p.mu.Unlock()
				t.Fatal(err)
			}
			w := &waiter{ch: make(chan result, 1)}
			in.calls[call] = w
			id, client := api.EncodeI32(call), api.EncodeI32(h)
			switch op {
			case "config":
				_, err = in.callRaw(in.f.clientNew, id, 0, 0)
			case "token":
				_, err = in.callRaw(in.f.token, id, client, 0)
			case "topology":
				_, err = in.callRaw(in.f.topology, id, client, 0)
			case "request":
				_, err = in.callRaw(in.f.request, id, client, 0, 0, 0, 0, 0, 0, api.EncodeI32(-1))
			}
			delete(in.calls, call)
			p.mu.Unlock()
			if err != nil {
				t.Fatalf("%s with call %d: %v", op, call, err)
			}
			select {
			case r := <-w.ch:
				var d struct{ Code, Message string }
				json.Unmarshal(r.payload, &d)
				if r.status != int32(core.KindArgument) || !strings.Contains(d.Message, "call id must be positive") {
					t.Errorf("%s with call %d: status %d, %s", op, call, r.status, r.payload)
				}
			default:
				t.Errorf("%s with call %d: no call_done within the export", op, call)
			}
		}
	}
	if st := p.Stats(); st.HTTPRequests != 1 || st.Instances != 1 {
		t.Errorf("stats %+v", st)
	}
}

// TestEmptyRequestBody: a zb_request body of length 0 is an empty body,
// which is not JSON: ARGUMENT, as the core answers on every surface
// (body_len -1 is "no body").
func TestEmptyRequestBody(t *testing.T) {
	cl := cluster(t, devcluster.Options{})
	p := load(t, prodModule)
	c := newClient(t, p, configFor(cl, ""))
	_, err := c.Do(context.Background(), "POST", "/v2/echo", []byte{})
	if e := asCoreError(t, err); e.Kind != core.KindArgument || !strings.Contains(e.Error(), "not valid JSON") {
		t.Fatalf("want ARGUMENT (not valid JSON), got %v", err)
	}
	if _, err := c.Do(context.Background(), "POST", "/v2/echo", nil); err != nil {
		t.Fatal(err)
	}
}

// TestCompressedResponse: a response the host's HTTP stack asked to have
// compressed reaches the guest decoded, without the encoded body's
// Content-Encoding (wasm/ABI.md, Encodings).
func TestCompressedResponse(t *testing.T) {
	cl := cluster(t, devcluster.Options{})
	api := serve(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if !strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
			w.Write([]byte(`{"plain":true}`))
			return
		}
		w.Header().Set("Content-Encoding", "gzip")
		zw := gzip.NewWriter(w)
		zw.Write([]byte(`{"compressed":true}`))
		zw.Close()
	})
	o := cl.Options()
	cfg, _ := json.Marshal(map[string]any{"client_id": o.ClientID, "client_secret": o.ClientSecret,
		"authorization_server_url": cl.TokenURL(), "rest_address": api.URL, "allow_insecure_http": true})
	p := load(t, prodModule)
	c := newClient(t, p, cfg)
	resp, err := c.Do(context.Background(), "GET", "/v2/anything", nil)
	if err != nil {
		t.Fatal(err)
	}
	if string(resp.Body) != `{"compressed":true}` || resp.Header["Content-Encoding"] != "" {
		t.Fatalf("body %q, headers %v", resp.Body, resp.Header)
	}
}
