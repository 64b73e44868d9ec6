package core_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/zbauth/zbauth/core"
)

// A client-assertion path naming a FIFO must fail as a configuration
// error, not block New forever (os.Open of a FIFO waits for a writer).
func TestAssertionKeyFIFODoesNotBlockNew(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "key.pem")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skip(err)
	}
	cfg := core.Config{ClientID: "id", ClientAssertionKeyPath: fifo, AuthorizationServerURL: "http://127.0.0.1:1/token", RESTAddress: "http://127.0.0.1:1"}
	done := make(chan error, 1)
	go func() { _, err := core.New(cfg, core.WithLookupEnv(noEnv)); done <- err }()
	select {
	case err := <-done:
		if core.KindOf(err) != core.KindConfig {
			t.Fatalf("want KindConfig, got %v", err)
		}
	case <-time.After(2 * time.Second):
		// unblock the goroutine
		if f, err := os.OpenFile(fifo, os.O_WRONLY, 0); err == nil {
			f.Close()
		}
		t.Fatal("core.New blocked on a FIFO named by client_assertion_key_path")
	}
}

// Explicit settings win over the environment: explicit Basic credentials
// must not be overridden by a ZEEBE_CLIENT_ID left in the environment.
func TestExplicitBasicBeatsEnvClientID(t *testing.T) {
	env := map[string]string{"ZEEBE_CLIENT_ID": "old-id", "ZEEBE_CLIENT_SECRET": "old-secret"}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	got, err := core.Config{BasicAuthUsername: "u", BasicAuthPassword: "p", RESTAddress: "http://127.0.0.1:8080"}.Resolve(lookup)
	if err != nil {
		t.Fatal(err)
	}
	if got.AuthStrategy != core.AuthBasic {
		t.Fatalf("explicit basic_auth_username, env ZEEBE_CLIENT_ID: strategy %s (credentials from the env would go to %s)", got.AuthStrategy, got.AuthorizationServerURL)
	}
}

// The client assertion is a credential (valid for its lifetime); a token
// endpoint that echoes the form must not get it into an error text.
func TestAssertionNotEchoedInErrors(t *testing.T) {
	ek, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKCS8PrivateKey(ek)
	keyPath := filepath.Join(t.TempDir(), "ec.pem")
	os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600)
	var assertion atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		a := r.PostForm.Get("client_assertion")
		assertion.Store(a)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(400)
		json.NewEncoder(w).Encode(map[string]string{"error": "invalid_client", "error_description": "bad assertion " + a})
	}))
	defer srv.Close()
	cfg := core.Config{ClientID: "id", ClientAssertionKeyPath: keyPath,
		AuthorizationServerURL: srv.URL + "/token", RESTAddress: srv.URL}
	c := newClient(t, cfg)
	_, err := c.Token(t.Context())
	a, _ := assertion.Load().(string)
	if a == "" || err == nil {
		t.Fatalf("no assertion sent / no error: %v", err)
	}
	if strings.Contains(err.Error(), a) {
		t.Fatalf("the signed client assertion is in the error: %v", err)
	}
	if e, ok := err.(*core.Error); ok {
		t.Logf("err=%v desc=%q", err, e.OAuthDescription)
	}
}

// CAMUNDA_* names win over ZEEBE_* ones: a CAMUNDA_ISSUER_URL must not be
// dropped without a word for a legacy ZEEBE_AUTHORIZATION_SERVER_URL left
// in the environment (the mixed set-up, with discovery).
func TestCamundaIssuerBeatsLegacyTokenURL(t *testing.T) {
	env := map[string]string{"ZEEBE_CLIENT_ID": "id", "ZEEBE_CLIENT_SECRET": "s",
		"ZEEBE_AUTHORIZATION_SERVER_URL": "https://login.cloud.camunda.io/oauth/token",
		"CAMUNDA_ISSUER_URL":             "https://idp.example/realms/camunda", "CAMUNDA_REST_ADDRESS": "http://127.0.0.1:8080"}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	got, err := core.Config{}.Resolve(lookup)
	if err != nil {
		t.Fatal(err)
	}
	if got.DiscoveryURL() == "" {
		t.Fatalf("CAMUNDA_ISSUER_URL ignored for ZEEBE_AUTHORIZATION_SERVER_URL: token URL %s", got.AuthorizationServerURL)
	}
}

// Date has whole seconds, truncated: read against it, a JWT's remaining
// life is overestimated by up to a second, which for a short-lived token
// outlasts lifetime's skew (expires_in/10), so the token is kept past exp.
func TestDateTruncationDoesNotOverestimateExp(t *testing.T) {
	base := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	exp := base.Add(3 * time.Second)
	payload := strings.TrimRight(base64url(`{"exp":`+strconv.FormatInt(exp.Unix(), 10)+`}`), "=")
	tok := "eyJhbGciOiJSUzI1NiJ9." + payload + ".sig"
	now := base.Add(900 * time.Millisecond) // the server's Date still says base
	got, err := core.EffectiveLifetime(tok, time.Hour, base.Format(http.TimeFormat), now)
	if err != nil {
		t.Fatal(err)
	}
	if left := exp.Sub(now); got > left {
		t.Fatalf("lifetime %v, but only %v are left before exp", got, left)
	}
}

func base64url(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
