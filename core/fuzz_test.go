package core_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/zbauth/zbauth/core"
	"github.com/zbauth/zbauth/internal/jsonx"
	"github.com/zbauth/zbauth/internal/redact"
)

// Seed corpora: f.Add below, plus the files in testdata/fuzz/<FuzzName>/.

// clientSecretValues returns every string value of a "client_secret" key
// (matched case-insensitively, as the decoder does) at any depth, read by
// encoding/json's tokenizer up to the first syntax error.
func clientSecretValues(data []byte) []string {
	dec := json.NewDecoder(bytes.NewReader(data))
	var out []string
	type level struct{ object, wantKey bool }
	var stack []level
	lastKey := ""
	for {
		tok, err := dec.Token()
		if err != nil {
			return out
		}
		top := len(stack) - 1
		isValue := true
		if top >= 0 && stack[top].object {
			if stack[top].wantKey {
				if k, ok := tok.(string); ok {
					stack[top].wantKey = false
					lastKey = k
					continue
				}
				isValue = false // the closing brace
			} else {
				stack[top].wantKey = true
			}
		}
		switch v := tok.(type) {
		case json.Delim:
			if v == '{' || v == '[' {
				stack = append(stack, level{object: v == '{', wantKey: v == '{'})
			} else {
				stack = stack[:top]
			}
		case string:
			if isValue && top >= 0 && stack[top].object && strings.EqualFold(lastKey, "client_secret") {
				out = append(out, v)
			}
		}
	}
}

// configErrorTexts are every fixed message ParseConfigJSON may return; a
// "secret" that is part of one of them cannot be kept out.
var configErrorTexts = []string{
	"zbauth: config: invalid config JSON: malformed JSON",
	"zbauth: config: invalid config JSON: a key or value is invalid",
	"zbauth: config: timeout_ms must be between 0 and 86400000",
	"zbauth: config: config JSON is larger than 1 MiB",
	"zbauth: config: invalid config JSON: a key or value is not valid UTF-8",
	"zbauth: config: invalid config JSON: client_secret is not valid UTF-8",
}

func validUTF8(ss ...string) bool {
	for _, s := range ss {
		if !utf8.ValidString(s) {
			return false
		}
	}
	return true
}

func FuzzParseConfigJSON(f *testing.F) {
	for _, s := range []string{
		``, `{}`, `null`, ` `,
		`{"client_id":"id","client_secret":"secret","authorization_server_url":"https://login.example/oauth/token",` +
			`"audience":"zeebe.camunda.io","scope":"s","rest_address":"https://bru-2.zeebe.camunda.io/abc","timeout_ms":1500,` +
			`"ca_certificate_path":"/ca.pem","client_certificate_path":"/c.pem","client_key_path":"/k.pem",` +
			`"allow_insecure_http":true,"token_cache_dir":"/tmp/c","max_body_bytes":1024}`,
		`{"client_secret":"SECRET-MARKER-abc123","SECRET-MARKER-abc123":1}`,
		`{"client_secret":"98765432109876543210","timeout_ms":98765432109876543210}`,
		`{"client_secret":"SECRET-MARKER-abc123"`,
		`{"client_secret":"SECRET-MARKER-abc123",}`,
		`{"CLIENT_SECRET":"x","clientSecret":"y"}`,
		`{"timeout_ms":-1}`, `{"timeout_ms":1.5}`, `{"timeout_ms":"10"}`,
		`{"client_id":["a"],"client_secret":{"v":"SECRET-MARKER-abc123"}}`,
		`{"a":1} {"b":2}`, `[`, `"\ud800"`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := core.ParseConfigJSON(data)
		if err != nil {
			var e *core.Error
			if !errors.As(err, &e) || e.Kind != core.KindConfig {
				t.Fatalf("error %T %v is not a KindConfig *core.Error", err, err)
			}
			text := err.Error() + "\n" + fmtAll(err)
		secrets:
			for _, s := range clientSecretValues(data) {
				if s == "" {
					continue
				}
				for _, fixed := range configErrorTexts {
					if strings.Contains(fixed, s) {
						continue secrets
					}
				}
				if len(s) < 4 {
					// Short ones may be in our wording: look in the cause only.
					if e.Err != nil && strings.Contains(e.Err.Error(), s) {
						t.Fatalf("error cause contains the client_secret %q:\n%s", s, text)
					}
					continue
				}
				if strings.Contains(text, s) {
					t.Fatalf("error text contains the client_secret %q:\n%s", s, text)
				}
			}
			if cfg != (core.Config{}) {
				t.Fatalf("a Config alongside an error: %v", cfg)
			}
			// Short whatever the input: a key or literal is quoted in part.
			if len(err.Error()) > 300 {
				t.Fatalf("error text of %d bytes: %.300q", len(err.Error()), err)
			}
			return
		}
		if cfg.Timeout < 0 {
			t.Fatalf("negative timeout %v", cfg.Timeout)
		}
		// Invalid UTF-8 and lone surrogates are refused, not replaced.
		all := []string{cfg.ClientID, cfg.ClientSecret, cfg.AuthorizationServerURL, cfg.Audience, cfg.Scope,
			cfg.RESTAddress, cfg.CACertificatePath, cfg.ClientCertificatePath, cfg.ClientKeyPath, cfg.TokenCacheDir}
		if !utf8.Valid(data) || !validUTF8(all...) {
			t.Fatalf("invalid UTF-8 accepted: %#v", cfg)
		}
		if strings.Contains(strings.Join(all, ""), "\uFFFD") && !bytes.Contains(data, []byte("\uFFFD")) &&
			!bytes.Contains(bytes.ToLower(data), []byte(`\ufffd`)) {
			t.Fatalf("a replacement character nobody wrote: %#v", cfg)
		}
		// The JSON form reads back as the same Config, the secret redacted.
		b, err := json.Marshal(cfg)
		if err != nil {
			t.Fatalf("MarshalJSON: %v", err)
		}
		back, err := core.ParseConfigJSON(b)
		if err != nil {
			t.Fatalf("ParseConfigJSON(MarshalJSON(cfg)) = %v\n%s", err, b)
		}
		if cfg.ClientSecret == "" {
			if !reflect.DeepEqual(back, cfg) {
				t.Fatalf("round trip:\n got %#v\nwant %#v", back, cfg)
			}
		} else if back.ClientSecret != "[REDACTED]" || back.Timeout != cfg.Timeout {
			t.Fatalf("round trip: secret %q, timeout %v; want [REDACTED], %v", back.ClientSecret, back.Timeout, cfg.Timeout)
		}
	})
}

// tokenErrorTexts are the fixed parts of ParseTokenResponse's errors.
var tokenErrorTexts = "zbauth: token: [REDACTED] " +
	"token endpoint refused the request; token endpoint sent malformed JSON; " +
	"token response has no access_token; token_type is not Bearer; " +
	"token endpoint returned an unusable access token: it may hold only visible ASCII characters, no spaces or control characters; " +
	"expires_in is not a finite, non-negative number of seconds (at most 1e9); " +
	"token endpoint answered with a redirect, which is not followed because the request carries the client secret; configure the final token URL"

func FuzzParseTokenResponse(f *testing.F) {
	seeds := []struct {
		status int
		body   string
	}{
		{200, `{"access_token":"eyJhbGciOiJIUzI1NiJ9.e30.sig","token_type":"Bearer","expires_in":300}`},
		{200, `{"access_token":"opaque","token_type":"bearer","expires_in":"300"}`},
		{200, `{"access_token":"opaque","expires_in":null}`},
		{200, `{"access_token":"TOKEN-MARKER-xyz789","token_type":"TOKEN-MARKER-xyz789"}`},
		{200, `{"token_type":"Bearer"}`},
		{200, `{"access_token":"t","expires_in":"soon"}`},
		{200, `{"access_token":"t","expires_in":1e400}`},
		{200, `{"access_token":"t","expires_in":"NaN"}`},
		{200, `{"access_token":"t","expires_in":-1}`},
		{200, `{"access_token":"t\r\nX-Injected: 1","expires_in":60}`},
		{200, `{"access_token":"t\u0000x"}`},
		{200, "{\"access_token\":\"t\xff\"}"},
		{200, `not json`},
		{401, `{"error":"invalid_client","error_description":"bad credentials"}`},
		{400, `{"access_token":"TOKEN-MARKER-xyz789","error":"TOKEN-MARKER-xyz789","error_description":"x TOKEN-MARKER-xyz789 y"}`},
		{429, ``},
		{302, ``},
		{503, `<html>`},
		{-1, `{}`},
	}
	for _, s := range seeds {
		f.Add(s.status, []byte(s.body))
	}
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		r, err := core.ParseTokenResponse(status, body)
		if err == nil {
			if status < 200 || status > 299 {
				t.Fatalf("status %d accepted", status)
			}
			if r.AccessToken == "" || r.ExpiresIn < 0 || r.ExpiresIn > 1e9*time.Second {
				t.Fatalf("accepted %#v", r)
			}
			// Nothing that could break an Authorization header or a shell.
			for _, c := range []byte(r.AccessToken) {
				if c < 0x21 || c > 0x7e {
					t.Fatalf("accepted a token with byte %#x", c)
				}
			}
			if tt := r.TokenType; tt != "" && !strings.EqualFold(tt, "bearer") {
				t.Fatalf("token_type %q accepted", tt)
			}
			// Formatting never depends on the token.
			blank := r
			blank.AccessToken = "x"
			if fmtAll(r) != fmtAll(blank) {
				t.Fatalf("formatting a TokenResponse shows the token: %s", fmtAll(r))
			}
			return
		}
		var e *core.Error
		if !errors.As(err, &e) || e.Kind != core.KindAuth || e.Status != status {
			t.Fatalf("error %#v is not a KindAuth error with status %d", err, status)
		}
		if r != (core.TokenResponse{}) {
			t.Fatalf("a TokenResponse alongside an error")
		}
		var w struct {
			AccessToken *string `json:"access_token"`
		}
		if jsonx.Unmarshal(body, &w) != nil || w.AccessToken == nil {
			return
		}
		// The token, and what dropping its control characters leaves (an
		// echo with them inside becomes that), of any length.
		// A short one is looked for in the texts alone, not in %#v's field
		// names and punctuation.
		fixed := tokenErrorTexts + " (HTTP " + strconv.Itoa(status) + ")"
		for _, tok := range []string{*w.AccessToken, redact.StripControl(*w.AccessToken)} {
			if tok == "" || !utf8.ValidString(tok) || strings.ContainsAny(tok, `:()[]" …`) || strings.Contains(fixed, tok) {
				continue // not a plausible token, or part of our own wording
			}
			texts := []string{err.Error(), e.Msg, e.OAuthError, e.OAuthDescription}
			if len(tok) >= 4 {
				texts = append(texts, fmtAll(err))
			}
			for _, text := range texts {
				if strings.Contains(text, tok) {
					t.Fatalf("error text contains the access token %q:\n%s", tok, text)
				}
			}
		}
	})
}

func FuzzParseTopology(f *testing.F) {
	for _, s := range []string{
		`{"brokers":[{"nodeId":0,"host":"zeebe-0","port":26501,"version":"8.7.0","partitions":[{"partitionId":1,"role":"leader","health":"healthy"}]}],` +
			`"clusterSize":1,"partitionsCount":1,"replicationFactor":1,"gatewayVersion":"8.7.0"}`,
		`{}`, `null`, `[]`, `{"brokers":null}`, `{"brokers":[null,{"partitions":null}]}`,
		`{"clusterSize":"3"}`, `{"clusterSize":1e3}`, `{"unknown":{"deep":[[[]]]}}`, `{"brokers":[{"nodeId":-1}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		top, err := core.ParseTopology(body)
		if err != nil {
			if top != nil {
				t.Fatalf("a topology alongside an error")
			}
			return
		}
		if top.Brokers == nil {
			t.Fatalf("nil Brokers")
		}
		strs := []string{top.GatewayVersion}
		for _, b := range top.Brokers {
			if b.Partitions == nil {
				t.Fatalf("nil Partitions")
			}
			strs = append(strs, b.Host, b.Version)
			for _, p := range b.Partitions {
				strs = append(strs, p.Role, p.Health)
			}
		}
		out, err := top.JSON()
		if err != nil {
			t.Fatalf("JSON: %v", err)
		}
		if !validUTF8(strs...) {
			return
		}
		again, err := core.ParseTopology(out)
		if err != nil || !reflect.DeepEqual(again, top) {
			t.Fatalf("round trip: %v\n got %+v\nwant %+v\n%s", err, again, top, out)
		}
	})
}

func FuzzParseProblem(f *testing.F) {
	for _, s := range []string{
		`{"type":"about:blank","title":"Forbidden","status":403,"detail":"no","instance":"/v1/topology"}`,
		`{"title":"t"}`, `{"status":500}`, `{}`, `null`, `[]`, `{"title":null,"detail":""}`, `{"title":1}`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		p := core.ParseProblem(body)
		if p == nil {
			return
		}
		if p.Title == "" && p.Detail == "" && p.Type == "" {
			t.Fatalf("an empty problem: %+v", p)
		}
		// An error carrying it renders.
		_ = (&core.Error{Kind: core.KindAPI, Problem: p, Status: p.Status}).Error()
	})
}

func FuzzParseDiscovery(f *testing.F) {
	for _, s := range []string{
		`{"issuer":"https://idp/realms/c","token_endpoint":"https://idp/realms/c/protocol/openid-connect/token",` +
			`"token_endpoint_auth_methods_supported":["client_secret_basic","private_key_jwt"]}`,
		`{"token_endpoint":"http://user:pw@idp/token"}`, `{"token_endpoint":"/relative"}`, `{"token_endpoint":1}`,
		`{"token_endpoint":"ftp://idp/t"}`, `{"token_endpoint_auth_methods_supported":"basic"}`, `[]`, `null`, ``, `{`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		d, err := core.ParseDiscovery(body)
		if err != nil {
			if core.KindOf(err) != core.KindAuth {
				t.Fatalf("kind %v: %v", core.KindOf(err), err)
			}
			return
		}
		u, perr := url.Parse(d.TokenEndpoint)
		if perr != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
			t.Fatalf("accepted token_endpoint %q", d.TokenEndpoint)
		}
	})
}

func FuzzJWTExpiry(f *testing.F) {
	for _, s := range []string{
		"eyJhbGciOiJSUzI1NiJ9.eyJleHAiOjE3MDAwMDAwMDB9.c2ln", "a.b.c", "..", "a..c", "opaque",
		"eyJhbGciOiJSUzI1NiJ9.eyJleHAiOiJub3cifQ.c2ln", "x.eyJleHAiOjFlMzAwfQ.y", "x.eyJleHAiOi0xfQ==.y",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, tok string) {
		exp, ok := core.JWTExpiry(tok)
		if !ok {
			return
		}
		if exp.Unix() < 0 || exp.Unix() > 1e12 {
			t.Fatalf("exp %v accepted", exp)
		}
		// An exp that lies ahead caps the lifetime; one that has passed is
		// an error, never a negative lifetime.
		d, err := core.EffectiveLifetime(tok, time.Hour, "", exp.Add(-time.Minute))
		if err != nil || d != time.Minute {
			t.Fatalf("lifetime %v, %v; want 1m", d, err)
		}
		if d, err := core.EffectiveLifetime(tok, time.Hour, "", exp); err == nil || d != 0 {
			t.Fatalf("a token at its exp: %v, %v", d, err)
		}
	})
}

func FuzzCredentialFile(f *testing.F) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKCS8PrivateKey(key)
	f.Add(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), "pw")
	f.Add(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der[:len(der)/2]}), "")
	f.Add(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: []byte{0x30, 0x03, 0x02, 0x01, 0x01}}), "")
	f.Add(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{0x30, 0x00}}), "")
	f.Add([]byte{0x30, 0x82, 0x01, 0x00, 0x02, 0x01, 0x03}, "pw")
	f.Add([]byte("-----BEGIN PRIVATE KEY-----\n!!!\n-----END PRIVATE KEY-----\n"), "")
	f.Fuzz(func(t *testing.T, data []byte, password string) {
		pemErr, p12Err := core.DecodeCredential(data, password)
		_, p12Other := core.DecodeCredential(data, "\x00")
		// A password that is also a word of the message with another
		// password is vocabulary, not an echo.
		if p12Err != nil && password != "" && strings.Contains(p12Err.Error(), password) &&
			(p12Other == nil || !strings.Contains(p12Other.Error(), password)) {
			t.Fatalf("the password is echoed: %v", p12Err)
		}
		// The PEM reader's texts are its own, never the file's bytes.
		if pemErr != nil && len(data) >= 16 && strings.Contains(pemErr.Error(), string(data)) {
			t.Fatalf("the file is echoed: %v", pemErr)
		}
	})
}
