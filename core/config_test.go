package core_test

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"net"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/zbauth/zbauth/core"
	"github.com/zbauth/zbauth/internal/devcluster"
)

func TestConfigResolve(t *testing.T) {
	fullEnv := map[string]string{
		core.EnvClientID:               "env-id",
		core.EnvClientSecret:           "env-secret",
		core.EnvAuthorizationServerURL: "https://env.example/oauth/token",
		core.EnvAudience:               "env-audience",
		core.EnvScope:                  "env-scope",
		core.EnvRESTAddress:            "https://env.example/rest",
		core.EnvClusterRegion:          "bru-2",
		core.EnvClusterID:              "env-cluster",
	}
	explicit := core.Config{
		ClientID:               "my-id",
		ClientSecret:           "my-secret",
		AuthorizationServerURL: "http://127.0.0.1:1/token",
		Audience:               "my-audience",
		Scope:                  "my-scope",
		RESTAddress:            "http://127.0.0.1:2/rest",
		Timeout:                3 * time.Second,
	}
	tests := []struct {
		name string
		cfg  core.Config
		env  map[string]string
		want core.Config
	}{
		{
			name: "explicit wins over environment",
			cfg:  explicit,
			env:  fullEnv,
			want: explicit,
		},
		{
			name: "environment fills every empty field",
			env:  fullEnv,
			want: core.Config{
				ClientID: "env-id", ClientSecret: "env-secret",
				AuthorizationServerURL: "https://env.example/oauth/token",
				Audience:               "env-audience", Scope: "env-scope",
				RESTAddress: "https://env.example/rest", Timeout: core.DefaultTimeout,
			},
		},
		{
			name: "explicit and environment mix per field",
			cfg:  core.Config{ClientID: "my-id", RESTAddress: "http://127.0.0.1:2"},
			env:  fullEnv,
			want: core.Config{
				ClientID: "my-id", ClientSecret: "env-secret",
				AuthorizationServerURL: "https://env.example/oauth/token",
				Audience:               "env-audience", Scope: "env-scope",
				RESTAddress: "http://127.0.0.1:2", Timeout: core.DefaultTimeout,
			},
		},
		{
			name: "defaults for authorization server, audience and timeout",
			env: map[string]string{
				core.EnvClientID: "id", core.EnvClientSecret: "secret",
				core.EnvRESTAddress: "https://rest.example",
			},
			want: core.Config{
				ClientID: "id", ClientSecret: "secret",
				AuthorizationServerURL: core.DefaultAuthorizationServerURL,
				Audience:               core.DefaultAudience,
				RESTAddress:            "https://rest.example", Timeout: core.DefaultTimeout,
			},
		},
		{
			name: "REST address built from region and cluster id",
			env: map[string]string{
				core.EnvClientID: "id", core.EnvClientSecret: "secret",
				core.EnvClusterRegion: "bru-2", core.EnvClusterID: "0a1b2c3d-cluster",
			},
			want: core.Config{
				ClientID: "id", ClientSecret: "secret",
				AuthorizationServerURL: core.DefaultAuthorizationServerURL,
				Audience:               core.DefaultAudience,
				RESTAddress:            "https://bru-2.zeebe.camunda.io/0a1b2c3d-cluster",
				Timeout:                core.DefaultTimeout,
			},
		},
		{
			name: "ZEEBE_REST_ADDRESS wins over region and cluster id",
			env: map[string]string{
				core.EnvClientID: "id", core.EnvClientSecret: "secret",
				core.EnvRESTAddress:   "https://explicit.example",
				core.EnvClusterRegion: "bru-2", core.EnvClusterID: "c",
			},
			want: core.Config{
				ClientID: "id", ClientSecret: "secret",
				AuthorizationServerURL: core.DefaultAuthorizationServerURL,
				Audience:               core.DefaultAudience,
				RESTAddress:            "https://explicit.example", Timeout: core.DefaultTimeout,
			},
		},
		{
			name: "explicit REST address wins over region and cluster id",
			cfg:  core.Config{RESTAddress: "https://mine.example/"},
			env: map[string]string{
				core.EnvClientID: "id", core.EnvClientSecret: "secret",
				core.EnvClusterRegion: "bru-2", core.EnvClusterID: "c",
			},
			want: core.Config{
				ClientID: "id", ClientSecret: "secret",
				AuthorizationServerURL: core.DefaultAuthorizationServerURL,
				Audience:               core.DefaultAudience,
				RESTAddress:            "https://mine.example", Timeout: core.DefaultTimeout,
			},
		},
		{
			name: "environment values are trimmed",
			env: map[string]string{
				core.EnvClientID: "  id\n", core.EnvClientSecret: "\tsecret ",
				core.EnvRESTAddress: " https://rest.example/ \n",
			},
			want: core.Config{
				ClientID: "id", ClientSecret: "secret",
				AuthorizationServerURL: core.DefaultAuthorizationServerURL,
				Audience:               core.DefaultAudience,
				RESTAddress:            "https://rest.example", Timeout: core.DefaultTimeout,
			},
		},
		{
			name: "blank environment values count as unset",
			cfg:  core.Config{ClientID: "id", ClientSecret: "secret", RESTAddress: "https://rest.example"},
			env:  map[string]string{core.EnvAudience: "   ", core.EnvAuthorizationServerURL: ""},
			want: core.Config{
				ClientID: "id", ClientSecret: "secret",
				AuthorizationServerURL: core.DefaultAuthorizationServerURL,
				Audience:               core.DefaultAudience,
				RESTAddress:            "https://rest.example", Timeout: core.DefaultTimeout,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.cfg.Resolve(envOf(tt.env))
			if err != nil {
				t.Fatalf("Resolve: %v", err)
			}
			if coreFields(got) != coreFields(tt.want) {
				t.Errorf("Resolve =\n  %+v\nwant\n  %+v", coreFields(got), coreFields(tt.want))
			}
		})
	}
}

// resolved is the part of a Config that TestConfigResolve checks.
type resolved struct {
	ClientID, ClientSecret, AuthorizationServerURL, Audience, Scope, RESTAddress string
	Timeout                                                                      time.Duration
}

func coreFields(c core.Config) resolved {
	return resolved{c.ClientID, c.ClientSecret, c.AuthorizationServerURL, c.Audience, c.Scope, c.RESTAddress, c.Timeout}
}

func TestConfigResolveTrailingSlash(t *testing.T) {
	base := core.Config{ClientID: "id", ClientSecret: "secret"}
	var got []string
	for _, addr := range []string{
		"https://rest.example/cluster",
		"https://rest.example/cluster/",
		"https://rest.example/cluster///",
	} {
		c := base
		c.RESTAddress = addr
		r, err := c.Resolve(noEnv)
		if err != nil {
			t.Fatalf("Resolve(%q): %v", addr, err)
		}
		got = append(got, r.RESTAddress)
		// The same holds when the address comes from the environment.
		r2, err := base.Resolve(envOf(map[string]string{core.EnvRESTAddress: addr}))
		if err != nil {
			t.Fatalf("Resolve(env %q): %v", addr, err)
		}
		got = append(got, r2.RESTAddress)
	}
	for _, g := range got {
		if g != "https://rest.example/cluster" {
			t.Errorf("REST address resolved to %q, want https://rest.example/cluster", g)
		}
	}
}

// A client configured with a trailing slash reaches the same endpoints.
func TestTrailingSlashReachesSameEndpoint(t *testing.T) {
	cl := startCluster(t, devcluster.Options{})
	cfg := clusterConfig(cl)
	cfg.RESTAddress += "/"
	c := newClient(t, cfg)
	top, err := c.Topology(ctxTimeout(t, 10*time.Second))
	if err != nil {
		t.Fatalf("Topology with trailing slash: %v", err)
	}
	if top.ClusterSize != cl.Options().Brokers {
		t.Errorf("ClusterSize = %d, want %d", top.ClusterSize, cl.Options().Brokers)
	}
}

func TestConfigResolveErrors(t *testing.T) {
	ok := core.Config{ClientID: "id", ClientSecret: "secret", RESTAddress: "https://rest.example"}
	with := func(f func(*core.Config)) core.Config {
		c := ok
		f(&c)
		return c
	}
	tests := []struct {
		name   string
		cfg    core.Config
		env    map[string]string
		fields []string
	}{
		{
			name:   "nothing configured",
			fields: []string{"client_id", "client_secret", "rest_address"},
		},
		{
			name:   "only the secret",
			cfg:    core.Config{ClientSecret: "secret"},
			fields: []string{"client_id", "rest_address"},
		},
		{
			name:   "region without cluster id",
			cfg:    core.Config{ClientID: "id", ClientSecret: "secret"},
			env:    map[string]string{core.EnvClusterRegion: "bru-2"},
			fields: []string{"rest_address"},
		},
		{
			name:   "cluster id without region",
			cfg:    core.Config{ClientID: "id", ClientSecret: "secret"},
			env:    map[string]string{core.EnvClusterID: "abc"},
			fields: []string{"rest_address"},
		},
		{
			name: "non-http URLs",
			cfg: with(func(c *core.Config) {
				c.AuthorizationServerURL = "ftp://login.example/token"
				c.RESTAddress = "grpc://cluster.example:26500"
			}),
			fields: []string{"authorization_server_url", "rest_address"},
		},
		{
			name:   "relative REST address",
			cfg:    with(func(c *core.Config) { c.RESTAddress = "cluster.example/rest" }),
			fields: []string{"rest_address"},
		},
		{
			name:   "URL without host",
			cfg:    with(func(c *core.Config) { c.AuthorizationServerURL = "https:///token" }),
			fields: []string{"authorization_server_url"},
		},
		{
			name:   "unparsable URL",
			cfg:    with(func(c *core.Config) { c.AuthorizationServerURL = "http://[::1" }),
			fields: []string{"authorization_server_url"},
		},
		{
			name:   "user info in URL",
			cfg:    with(func(c *core.Config) { c.AuthorizationServerURL = "https://user:pw@login.example/token" }),
			fields: []string{"authorization_server_url"},
		},
		{
			name:   "REST address with query",
			cfg:    with(func(c *core.Config) { c.RESTAddress = "https://rest.example/?x=1" }),
			fields: []string{"rest_address"},
		},
		{
			name:   "negative timeout",
			cfg:    with(func(c *core.Config) { c.Timeout = -time.Second }),
			fields: []string{"timeout_ms"},
		},
		{
			name: "plain http to a remote host",
			cfg: with(func(c *core.Config) {
				c.RESTAddress = "http://rest.example"
				c.AuthorizationServerURL = "http://login.example/token"
			}),
			fields: []string{"authorization_server_url", "rest_address"},
		},
		{
			name:   "plain http opt-in from the environment must be truthy",
			cfg:    with(func(c *core.Config) { c.RESTAddress = "http://rest.example" }),
			env:    map[string]string{core.EnvAllowInsecureHTTP: "false"},
			fields: []string{"rest_address"},
		},
		{
			name:   "client certificate without key",
			cfg:    with(func(c *core.Config) { c.ClientCertificatePath = "/nonexistent/cert.pem" }),
			fields: []string{"client_certificate_path"},
		},
		{
			name:   "negative body limit",
			cfg:    with(func(c *core.Config) { c.MaxBodyBytes = -1 }),
			fields: []string{"max_body_bytes"},
		},
		{
			name:   "body limit above the maximum",
			cfg:    with(func(c *core.Config) { c.MaxBodyBytes = 1 << 40 }),
			fields: []string{"max_body_bytes"},
		},
		{
			// max+1 used to overflow: every body came back empty.
			name:   "body limit of MaxInt64",
			cfg:    with(func(c *core.Config) { c.MaxBodyBytes = math.MaxInt64 }),
			fields: []string{"max_body_bytes"},
		},
		{
			name:   "invalid UTF-8 from the environment",
			env:    map[string]string{core.EnvClientID: "id\xff", core.EnvClientSecret: "s\xc3cret", core.EnvRESTAddress: "https://rest.example"},
			fields: []string{"client_id", "client_secret"},
		},
		{
			name: "invalid UTF-8 in every string field",
			cfg: core.Config{
				ClientID: "\xff", ClientSecret: "\xff", AuthorizationServerURL: "https://login.example/\xff",
				Audience: "\xff", Scope: "\xff", RESTAddress: "https://rest.example/\xed\xa0\x80",
				CACertificatePath: "\xff", ClientCertificatePath: "\xff", ClientKeyPath: "\xff", TokenCacheDir: "\xff",
			},
			fields: []string{"client_id", "client_secret", "authorization_server_url", "audience", "scope",
				"rest_address", "ca_certificate_path", "client_certificate_path", "client_key_path", "token_cache_dir"},
		},
		{
			name: "every field at once",
			cfg: core.Config{
				AuthorizationServerURL: "mailto:x@example.com",
				RESTAddress:            "file:///etc/passwd",
				Timeout:                -1,
			},
			fields: []string{"client_id", "client_secret", "authorization_server_url", "rest_address", "timeout_ms"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.cfg.Resolve(envOf(tt.env))
			e := asError(t, err, core.KindConfig)
			got := append([]string(nil), e.Fields...)
			want := append([]string(nil), tt.fields...)
			sort.Strings(got)
			sort.Strings(want)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("Fields = %q, want %q", e.Fields, tt.fields)
			}
			for _, f := range tt.fields {
				if !strings.Contains(err.Error(), f) {
					t.Errorf("error %q does not name %s", err, f)
				}
			}
			if !errors.Is(err, &core.Error{Kind: core.KindConfig}) {
				t.Errorf("errors.Is(err, KindConfig) = false")
			}
		})
	}
}

// The limits' edges are accepted, and so is UTF-8 beyond ASCII.
func TestConfigResolveAcceptsEdges(t *testing.T) {
	cfg := core.Config{ClientID: "clïent-ü", ClientSecret: "sécret-😀", RESTAddress: "https://rest.example",
		Scope: "日本", MaxBodyBytes: core.MaxBodyLimit}
	got, err := cfg.Resolve(noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if got.MaxBodyBytes != 1<<30 || got.ClientID != cfg.ClientID || got.ClientSecret != cfg.ClientSecret {
		t.Errorf("Resolve = %v", got)
	}
}

// Plain http:// is fine on loopback, and elsewhere only when opted in.
func TestConfigInsecureHTTPOptIn(t *testing.T) {
	base := core.Config{ClientID: "id", ClientSecret: "secret"}
	for _, addr := range []string{"http://127.0.0.1:8080", "http://localhost:8080", "http://[::1]:8080", "http://127.8.9.10", "http://LOCALHOST:1"} {
		c := base
		c.RESTAddress = addr
		c.AuthorizationServerURL = addr + "/token"
		if _, err := c.Resolve(noEnv); err != nil {
			t.Errorf("loopback %s refused: %v", addr, err)
		}
	}
	for _, addr := range []string{"http://rest.example", "http://localhost.:8080", "http://zeebe.localhost", "http://127.0.0.1.nip.io"} {
		c := base
		c.RESTAddress = addr
		if _, err := c.Resolve(noEnv); err == nil {
			t.Errorf("plain http to %s (resolved by DNS) accepted without opt-in", addr)
		}
	}
	remote := base
	remote.RESTAddress = "http://rest.example"
	for _, v := range []string{"1", "true", "TRUE", "yes", "on"} {
		if _, err := remote.Resolve(envOf(map[string]string{core.EnvAllowInsecureHTTP: v})); err != nil {
			t.Errorf("%s=%s: %v", core.EnvAllowInsecureHTTP, v, err)
		}
	}
	remote.AllowInsecureHTTP = true
	if _, err := remote.Resolve(noEnv); err != nil {
		t.Errorf("AllowInsecureHTTP: %v", err)
	}
}

// New refuses a bad configuration with the same error, before any request.
func TestNewRejectsBadConfig(t *testing.T) {
	_, err := core.New(core.Config{ClientID: "id"}, core.WithLookupEnv(noEnv))
	e := asError(t, err, core.KindConfig)
	if len(e.Fields) != 2 {
		t.Errorf("Fields = %q, want client_secret and rest_address", e.Fields)
	}
}

// With no lookup, Resolve and New read the process environment.
func TestConfigResolveProcessEnv(t *testing.T) {
	for _, k := range []string{core.EnvClientID, core.EnvClientSecret, core.EnvAuthorizationServerURL,
		core.EnvAudience, core.EnvScope, core.EnvRESTAddress, core.EnvClusterRegion, core.EnvClusterID} {
		t.Setenv(k, "")
	}
	t.Setenv(core.EnvClientID, "proc-id")
	t.Setenv(core.EnvClientSecret, "proc-secret")
	t.Setenv(core.EnvClusterRegion, "syd-1")
	t.Setenv(core.EnvClusterID, "proc-cluster")
	got, err := core.Config{}.Resolve(nil)
	if err != nil {
		t.Fatal(err)
	}
	if got.ClientID != "proc-id" || got.ClientSecret != "proc-secret" ||
		got.RESTAddress != "https://syd-1.zeebe.camunda.io/proc-cluster" {
		t.Errorf("Resolve(nil) = %v", got)
	}
	c, err := core.New(core.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.Config().RESTAddress != got.RESTAddress {
		t.Errorf("New used REST address %q, want %q", c.Config().RESTAddress, got.RESTAddress)
	}
}

func TestParseConfigJSON(t *testing.T) {
	in := `{
		"client_id": "id",
		"client_secret": "secret",
		"authorization_server_url": "http://127.0.0.1:1/oauth/token",
		"audience": "aud",
		"scope": "s1 s2",
		"rest_address": "http://127.0.0.1:2",
		"timeout_ms": 1500,
		"ca_certificate_path": "/etc/ca.pem",
		"client_certificate_path": "/etc/cert.pem",
		"client_key_path": "/etc/key.pem",
		"allow_insecure_http": true,
		"token_cache_dir": "/var/cache/zbauth",
		"max_body_bytes": 4096
	}`
	got, err := core.ParseConfigJSON([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	want := core.Config{
		ClientID: "id", ClientSecret: "secret",
		AuthorizationServerURL: "http://127.0.0.1:1/oauth/token",
		Audience:               "aud", Scope: "s1 s2", RESTAddress: "http://127.0.0.1:2",
		Timeout:           1500 * time.Millisecond,
		CACertificatePath: "/etc/ca.pem", ClientCertificatePath: "/etc/cert.pem", ClientKeyPath: "/etc/key.pem",
		AllowInsecureHTTP: true, TokenCacheDir: "/var/cache/zbauth", MaxBodyBytes: 4096,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ParseConfigJSON =\n  %#v\nwant\n  %#v", got, want)
	}
}

func TestParseConfigJSONPartialAndEmpty(t *testing.T) {
	for _, in := range []string{"", "   ", "\n\t", "{}"} {
		got, err := core.ParseConfigJSON([]byte(in))
		if err != nil {
			t.Errorf("ParseConfigJSON(%q): %v", in, err)
		}
		if !reflect.DeepEqual(got, core.Config{}) {
			t.Errorf("ParseConfigJSON(%q) = %v, want the zero Config", in, got)
		}
	}
	got, err := core.ParseConfigJSON([]byte(`{"client_id":"only-id","timeout_ms":0}`))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, core.Config{ClientID: "only-id"}) {
		t.Errorf("partial config = %v", got)
	}
}

func TestParseConfigJSONErrors(t *testing.T) {
	tests := []struct {
		name, in string
		mention  string // the message must mention this
	}{
		{"unknown key", `{"client_id":"id","clientSecret":"x"}`, "clientSecret"},
		{"wrong type", `{"client_id":42}`, ""},
		{"timeout as string", `{"timeout_ms":"1000"}`, ""},
		{"negative timeout", `{"timeout_ms":-1}`, "timeout_ms"},
		{"huge timeout", `{"timeout_ms":86400001}`, "timeout_ms"},
		{"not an object", `["client_id"]`, ""},
		{"trailing data", `{"client_id":"id"} {"client_id":"other"}`, ""},
		{"truncated", `{"client_id":"id"`, ""},
		{"escape at end of input", `{"\`, ""},
		{"nul is not null", `nul`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := core.ParseConfigJSON([]byte(tt.in))
			e := asError(t, err, core.KindConfig)
			if tt.mention != "" && !strings.Contains(e.Error(), tt.mention) {
				t.Errorf("error %q does not mention %q", e, tt.mention)
			}
		})
	}
}

// Hostile config JSON: bytes that are not UTF-8, lone surrogates, a huge
// document, key or number. Each is a short KindConfig error that names the
// field when it can and never quotes a value.
func TestParseConfigJSONHostile(t *testing.T) {
	const s = "SECRET-MARKER-abc123"
	tests := []struct {
		name, in string
		fields   []string
		mention  string
	}{
		{"invalid UTF-8 in client_id", "{\"client_id\":\"id\xff\"}", []string{"client_id"}, "UTF-8"},
		{"invalid UTF-8 in the secret", "{\"client_secret\":\"" + s + "\xc3\"}", []string{"client_secret"}, "UTF-8"},
		{"encoded surrogate", "{\"audience\":\"\xed\xa0\x80\"}", []string{"audience"}, "UTF-8"},
		{"lone high surrogate", `{"client_secret":"` + s + `\ud800"}`, []string{"client_secret"}, "UTF-8"},
		{"lone low surrogate", `{"scope":"\udc00"}`, []string{"scope"}, "UTF-8"},
		{"surrogates in the wrong order", `{"rest_address":"\udc00\ud800"}`, []string{"rest_address"}, "UTF-8"},
		{"high surrogate and another escape", `{"token_cache_dir":"\ud800\u0041"}`, []string{"token_cache_dir"}, "UTF-8"},
		{"high surrogate at the end", `{"ca_certificate_path":"x\uD800"}`, []string{"ca_certificate_path"}, "UTF-8"},
		{"after an escaped backslash", `{"client_key_path":"\\\ud800"}`, []string{"client_key_path"}, "UTF-8"},
		{"key in another case", "{\"Client_ID\":\"\xff\"}", []string{"client_id"}, "UTF-8"},
		{"in a key", "{\"client_i\xff\":\"x\"}", nil, "UTF-8"},
		{"in an unknown key's value", "{\"other\":\"\xff\"}", nil, "UTF-8"},
		{"in a nested value", `{"client_id":["\ud800"]}`, []string{"client_id"}, "UTF-8"},
		{"over 1 MiB", `{"client_id":"` + strings.Repeat("x", 1<<20) + `"}`, nil, "1 MiB"},
		{"1 MiB unknown key", `{"` + strings.Repeat("k", 1<<20-10) + `":1}`, nil, `"kkkkkkkk`},
		{"1 MiB number", `{"max_body_bytes":` + strings.Repeat("9", 1<<20-20) + `}`, nil, "cannot unmarshal number into"},
		{"1 MiB number as a string", `{"timeout_ms":"` + strings.Repeat("9", 1<<20-20) + `"}`, nil, ""},
		{"control character in a key", "{\"key\u202e\":1}", nil, `"key\u202e"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := core.ParseConfigJSON([]byte(tt.in))
			e := asError(t, err, core.KindConfig)
			if !reflect.DeepEqual(e.Fields, tt.fields) {
				t.Errorf("Fields = %q, want %q", e.Fields, tt.fields)
			}
			text := e.Error()
			if !strings.Contains(text, tt.mention) {
				t.Errorf("error %q does not mention %q", text, tt.mention)
			}
			if len(text) > 200 || strings.Contains(text, s) || !utf8.ValidString(text) || strings.Contains(text, "\u202e") {
				t.Errorf("error text (%d bytes) is long, leaks the secret or holds raw input: %.300q", len(text), text)
			}
		})
	}
}

// What is fine: a valid surrogate pair, and a document of exactly
// MaxConfigBytes.
func TestParseConfigJSONEdges(t *testing.T) {
	cfg, err := core.ParseConfigJSON([]byte(`{"client_id":"\ud83d\ude00 \\ud800","scope":"\u00e9"}`))
	if err != nil || cfg.ClientID != "😀 \\ud800" || cfg.Scope != "é" {
		t.Errorf("valid escapes: %v, %v", cfg, err)
	}
	doc := `{"client_id":"id"}`
	doc += strings.Repeat(" ", core.MaxConfigBytes-len(doc))
	if cfg, err := core.ParseConfigJSON([]byte(doc)); err != nil || cfg.ClientID != "id" {
		t.Errorf("a document of MaxConfigBytes: %v, %v", cfg, err)
	}
	if _, err := core.ParseConfigJSON([]byte(doc + " ")); err == nil {
		t.Error("a document of MaxConfigBytes+1 was accepted")
	}
}

// However the JSON around it is broken, the secret never reaches the error.
func TestParseConfigJSONNeverEchoesSecret(t *testing.T) {
	const s = "SECRET-MARKER-abc123"
	const n = "98765432109876543210123" // a secret that is also a valid number
	inputs := []string{
		`{"client_secret":"` + s + `"`,
		`{"client_secret":"` + s + `}`,
		`{"client_secret":` + s + `}`,
		`{"client_secret":'` + s + `'}`,
		`{"client_secret":"` + s + `",}`,
		`{"client_secret":"` + s + `" "audience":"a"}`,
		`{"client_secret":"` + s + `","` + s + `":1}`,
		`{"` + s + `":"x","client_secret":"` + s + `"}`,
		`{"client_secret":["` + s + `"]}`,
		`{"client_secret":{"v":"` + s + `"}}`,
		`{"client_secret":"` + s + `","timeout_ms":"` + s + `"}`,
		`{"client_secret":"` + s + `","timeout_ms":` + s + `}`,
		`{"client_secret":"` + s + `"} ` + s,
		`{"client_secret":"` + s + `"}{"client_secret":"` + s + `"}`,
		`{"client_secret":"` + s + "\x00" + `"}`,
		`{"client_secret":"` + n + `","timeout_ms":` + n + `}`,
		`{"client_secret":"` + n + `","timeout_ms":-` + n + `}`,
		`{"client_secret":"` + n + `","client_id":` + n + `}`,
	}
	for _, in := range inputs {
		_, err := core.ParseConfigJSON([]byte(in))
		e := asError(t, err, core.KindConfig)
		for _, text := range []string{e.Error(), fmtAll(e)} {
			if strings.Contains(text, s) || strings.Contains(text, n) {
				t.Errorf("ParseConfigJSON(%s): error leaks the secret: %s", in, text)
			}
		}
	}
}

// MarshalJSON writes the same JSON form, minus the secret, so a logged
// config can be read back.
func TestConfigJSONRoundTrip(t *testing.T) {
	cfg := core.Config{
		ClientID: "id", ClientSecret: "SECRET-MARKER-abc123",
		AuthorizationServerURL: "https://login.example/token", Audience: "aud",
		Scope: "scope", RESTAddress: "https://rest.example", Timeout: 2500 * time.Millisecond,
		CACertificatePath: "/ca.pem", ClientCertificatePath: "/c.pem", ClientKeyPath: "/k.pem",
		AllowInsecureHTTP: true, TokenCacheDir: "/cache", MaxBodyBytes: 123,
	}
	b, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), cfg.ClientSecret) {
		t.Fatalf("MarshalJSON leaks the secret: %s", b)
	}
	back, err := core.ParseConfigJSON(b)
	if err != nil {
		t.Fatalf("ParseConfigJSON(MarshalJSON): %v\n%s", err, b)
	}
	want := cfg
	want.ClientSecret = back.ClientSecret // redacted, but present
	if back.ClientSecret == "" || !reflect.DeepEqual(back, want) {
		t.Errorf("round trip = %v, want %v", back, want)
	}
}

// "localhost" passes the plain-http check because the transport dials it
// on loopback itself: 127.0.0.1, then ::1, never a resolver's answer.
func TestLocalhostDialedOnLoopback(t *testing.T) {
	for addr, want := range map[string]string{
		"LocalHost:8080":   "127.0.0.1:8080 [::1]:8080",
		"localhost:1":      "127.0.0.1:1 [::1]:1",
		"localhost.:80":    "localhost.:80", // refused by Resolve over plain http; resolved for https
		"zeebe.example:80": "zeebe.example:80",
		"127.0.0.2:80":     "127.0.0.2:80",
	} {
		var dialed []string
		dial := core.DialLocalhost(func(_ context.Context, _, a string) (net.Conn, error) {
			dialed = append(dialed, a)
			return nil, errors.New("refused")
		})
		if _, err := dial(context.Background(), "tcp", addr); err == nil {
			t.Errorf("%s: no error", addr)
		}
		if got := strings.Join(dialed, " "); got != want {
			t.Errorf("%s dialed %q, want %q", addr, got, want)
		}
	}
	// And a client reaches a cluster on 127.0.0.1 as http://LOCALHOST:port.
	cl := startCluster(t, devcluster.Options{})
	cfg := clusterConfig(cl)
	cfg.AuthorizationServerURL = strings.Replace(cfg.AuthorizationServerURL, "127.0.0.1", "LOCALHOST", 1)
	cfg.RESTAddress = strings.Replace(cfg.RESTAddress, "127.0.0.1", "LOCALHOST", 1)
	if _, err := newClient(t, cfg).Topology(ctxTimeout(t, 10*time.Second)); err != nil {
		t.Fatalf("topology through LOCALHOST: %v", err)
	}
}
