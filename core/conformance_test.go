package core_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/zbauth/zbauth/core"
	"github.com/zbauth/zbauth/internal/devcluster"
)

// conformance mirrors testdata/conformance/vectors.json (see its README).
type conformance struct {
	Format    string `json:"format"`
	Scenarios []struct {
		Name   string            `json:"name"`
		Op     string            `json:"op"`
		Method string            `json:"method"`
		Path   string            `json:"path"`
		Body   string            `json:"body"`
		Config map[string]any    `json:"config"`
		Faults []json.RawMessage `json:"faults"`
		Expect struct {
			OK              bool   `json:"ok"`
			Token           string `json:"token"`
			Status          int    `json:"status"`
			BodyContains    string `json:"body_contains"`
			Error           string `json:"error"`
			MessageContains string `json:"message_contains"`
			TokenRequests   *int64 `json:"token_requests"`
			APIRequests     *int64 `json:"api_requests"`
		} `json:"expect"`
	} `json:"scenarios"`
}

// TestConformance runs the shared vectors against the Go core.
func TestConformance(t *testing.T) {
	raw, err := os.ReadFile("../testdata/conformance/vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var vec conformance
	if err := json.Unmarshal(raw, &vec); err != nil {
		t.Fatal(err)
	}
	if vec.Format != "zbauth-conformance-v1" || len(vec.Scenarios) < 20 {
		t.Fatalf("unexpected vectors file: format %q, %d scenarios", vec.Format, len(vec.Scenarios))
	}
	cl, err := devcluster.Start(devcluster.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	opts := cl.Options()
	control := func(method, path string, body []byte) {
		t.Helper()
		req, _ := http.NewRequest(method, cl.URL()+path, bytes.NewReader(body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			t.Fatalf("%s %s: %s", method, path, resp.Status)
		}
	}
	for _, sc := range vec.Scenarios {
		t.Run(sc.Name, func(t *testing.T) {
			control("POST", "/_dev/reset", nil)
			if len(sc.Faults) > 0 {
				b, _ := json.Marshal(sc.Faults)
				control("POST", "/_dev/faults", b)
			}
			cfg := map[string]any{
				"client_id": opts.ClientID, "client_secret": opts.ClientSecret, "audience": opts.Audience,
				"authorization_server_url": cl.TokenURL(), "rest_address": cl.RESTAddress(),
			}
			for k, v := range sc.Config {
				cfg[k] = v
			}
			cfgJSON, _ := json.Marshal(cfg)

			var (
				gotErr   error
				gotToken string
				resp     *core.Response
			)
			c, err := func() (*core.Client, error) {
				conf, err := core.ParseConfigJSON(cfgJSON)
				if err != nil {
					return nil, err
				}
				return core.New(conf, core.WithLookupEnv(func(string) (string, bool) { return "", false }))
			}()
			if err != nil {
				gotErr = err
			} else {
				defer c.Close()
				ctx := context.Background()
				switch sc.Op {
				case "token":
					gotToken, gotErr = c.Token(ctx)
				case "topology":
					_, gotErr = c.Topology(ctx)
				case "request":
					var body []byte
					if sc.Body != "" {
						body = []byte(sc.Body)
					}
					resp, gotErr = c.Do(ctx, sc.Method, sc.Path, body)
				default:
					t.Fatalf("unknown op %q", sc.Op)
				}
			}

			ex := sc.Expect
			if ex.OK {
				if gotErr != nil {
					t.Fatalf("want success, got %v", gotErr)
				}
				if ex.Token != "" && gotToken != ex.Token {
					t.Errorf("token = %q, want %q", gotToken, ex.Token)
				}
				if ex.Status != 0 && (resp == nil || resp.Status != ex.Status) {
					t.Errorf("response = %+v, want status %d", resp, ex.Status)
				}
				if ex.BodyContains != "" && (resp == nil || !strings.Contains(string(resp.Body), ex.BodyContains)) {
					t.Errorf("body does not contain %q", ex.BodyContains)
				}
			} else {
				if gotErr == nil {
					t.Fatalf("want %s error, got success", ex.Error)
				}
				if k := core.KindOf(gotErr).String(); k != ex.Error {
					t.Errorf("kind = %s, want %s (%v)", k, ex.Error, gotErr)
				}
				var e *core.Error
				if ex.Status != 0 && (!errorsAs(gotErr, &e) || e.Status != ex.Status) {
					t.Errorf("status: want %d in %v", ex.Status, gotErr)
				}
				msg := gotErr.Error()
				if ex.MessageContains != "" && !strings.Contains(msg, ex.MessageContains) {
					t.Errorf("message %q does not contain %q", msg, ex.MessageContains)
				}
				for _, bad := range []string{"SECRET-MARKER", "TOKEN-MARKER", opts.ClientSecret} {
					if strings.Contains(msg, bad) {
						t.Errorf("message leaks %q: %s", bad, msg)
					}
				}
			}
			st := cl.Stats()
			if ex.TokenRequests != nil && st.TokenRequests != *ex.TokenRequests {
				t.Errorf("token requests = %d, want %d", st.TokenRequests, *ex.TokenRequests)
			}
			if ex.APIRequests != nil && st.APIRequests != *ex.APIRequests {
				t.Errorf("api requests = %d, want %d", st.APIRequests, *ex.APIRequests)
			}
		})
	}
}

func errorsAs(err error, target **core.Error) bool {
	e, ok := err.(*core.Error)
	if ok {
		*target = e
	}
	return ok
}
