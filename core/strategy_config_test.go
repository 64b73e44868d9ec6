package core_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/zbauth/zbauth/core"
	"github.com/zbauth/zbauth/internal/devcluster"
)

// resolve resolves cfg against env alone.
func resolve(t *testing.T, cfg core.Config, env map[string]string) (core.Config, error) {
	t.Helper()
	return cfg.Resolve(envOf(env))
}

func TestCamundaNamesWinOverZeebeNames(t *testing.T) {
	env := map[string]string{
		"ZEEBE_CLIENT_ID": "zeebe-id", "CAMUNDA_CLIENT_ID": "camunda-id",
		"ZEEBE_CLIENT_SECRET": "zeebe-secret", "CAMUNDA_CLIENT_SECRET": "camunda-secret",
		"ZEEBE_AUTHORIZATION_SERVER_URL": "https://zeebe.example/token", "CAMUNDA_AUTHORIZATION_SERVER_URL": "https://camunda-auth.example/token",
		"CAMUNDA_OAUTH_URL":    "https://camunda-oauth.example/token",
		"ZEEBE_TOKEN_AUDIENCE": "zeebe-aud", "CAMUNDA_TOKEN_AUDIENCE": "camunda-aud",
		"ZEEBE_TOKEN_SCOPE": "zeebe-scope", "CAMUNDA_OAUTH_SCOPE": "oauth-scope", "CAMUNDA_TOKEN_SCOPE": "token-scope",
		"ZEEBE_REST_ADDRESS": "https://zeebe.example/rest", "CAMUNDA_REST_ADDRESS": "https://camunda.example/rest",
		"CAMUNDA_TOKEN_RESOURCE":    "https://camunda.example/api",
		"ZEEBE_CA_CERTIFICATE_PATH": "/zeebe/ca.pem", "CAMUNDA_CA_CERTIFICATE_PATH": "/camunda/ca.pem",
		"ZEEBE_TOKEN_CACHE_DIR": "/zeebe/cache", "CAMUNDA_TOKEN_CACHE_DIR": "/camunda/cache",
	}
	got, err := resolve(t, core.Config{}, env)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{got.ClientID, got.ClientSecret, got.AuthorizationServerURL, got.Audience, got.Scope,
		got.RESTAddress, got.Resource, got.CACertificatePath, got.TokenCacheDir}
	if fmt.Sprint(want) != fmt.Sprint([]string{"camunda-id", "camunda-secret", "https://camunda-oauth.example/token",
		"camunda-aud", "token-scope", "https://camunda.example/rest", "https://camunda.example/api", "/camunda/ca.pem", "/camunda/cache"}) {
		t.Errorf("resolved %v", want)
	}

	// The second name of a setting is read when the first is unset.
	delete(env, "CAMUNDA_OAUTH_URL")
	delete(env, "CAMUNDA_TOKEN_SCOPE")
	got, _ = resolve(t, core.Config{}, env)
	if got.AuthorizationServerURL != "https://camunda-auth.example/token" || got.Scope != "oauth-scope" {
		t.Errorf("second names: token URL %q, scope %q", got.AuthorizationServerURL, got.Scope)
	}
	// Explicit configuration wins over every name.
	got, _ = resolve(t, core.Config{ClientID: "explicit"}, env)
	if got.ClientID != "explicit" {
		t.Errorf("client id %q, want the explicit one", got.ClientID)
	}
}

// The mixed set-up: ZEEBE_* credentials and CAMUNDA_OAUTH_URL must
// not send the credentials to the SaaS default.
func TestMixedNamesUseCamundaOAuthURL(t *testing.T) {
	got, err := resolve(t, core.Config{}, map[string]string{
		"ZEEBE_CLIENT_ID": "id", "ZEEBE_CLIENT_SECRET": "secret",
		"CAMUNDA_OAUTH_URL": "http://127.0.0.1:9/oauth/token", "ZEEBE_REST_ADDRESS": "http://127.0.0.1:9",
	})
	if err != nil {
		t.Fatal(err)
	}
	if got.AuthorizationServerURL != "http://127.0.0.1:9/oauth/token" {
		t.Fatalf("token URL %q", got.AuthorizationServerURL)
	}
}

func TestStrategyInference(t *testing.T) {
	rest := map[string]string{"CAMUNDA_REST_ADDRESS": "http://127.0.0.1:9"}
	with := func(kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range rest {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	for _, tt := range []struct {
		name, strategy, method string
		env                    map[string]string
	}{
		{"client id means OAUTH", core.AuthOAuth, core.MethodClientSecretPost, with("CAMUNDA_CLIENT_ID", "a", "CAMUNDA_CLIENT_SECRET", "b")},
		{"Basic username means BASIC", core.AuthBasic, "", with("CAMUNDA_BASIC_AUTH_USERNAME", "u", "CAMUNDA_BASIC_AUTH_PASSWORD", "p")},
		{"a token alone means BEARER", core.AuthBearer, "", with("CAMUNDA_OAUTH_TOKEN", "tok")},
		{"client id wins over a Basic username", core.AuthOAuth, core.MethodClientSecretPost,
			with("CAMUNDA_CLIENT_ID", "a", "CAMUNDA_CLIENT_SECRET", "b", "CAMUNDA_BASIC_AUTH_USERNAME", "u")},
		{"strategy in any case", core.AuthNone, "", with("CAMUNDA_AUTH_STRATEGY", " none ", "CAMUNDA_CLIENT_ID", "a")},
		{"assertion key means private_key_jwt, no secret needed", core.AuthOAuth, core.MethodPrivateKeyJWT,
			with("CAMUNDA_CLIENT_ID", "a", "CAMUNDA_CLIENT_ASSERTION_KEY_PATH", "/k.pem")},
		{"keystore means private_key_jwt", core.AuthOAuth, core.MethodPrivateKeyJWT,
			with("CAMUNDA_CLIENT_ID", "a", "CAMUNDA_CLIENT_ASSERTION_KEYSTORE_PATH", "/k.p12")},
		{"explicit method wins over a key", core.AuthOAuth, core.MethodClientSecretBasic,
			with("CAMUNDA_CLIENT_ID", "a", "CAMUNDA_CLIENT_SECRET", "b", "CAMUNDA_TOKEN_AUTH_METHOD", "Client_Secret_Basic",
				"CAMUNDA_CLIENT_ASSERTION_KEY_PATH", "/k.pem")},
		{"discovery decides later", core.AuthOAuth, "",
			with("CAMUNDA_CLIENT_ID", "a", "CAMUNDA_CLIENT_SECRET", "b", "CAMUNDA_ISSUER_URL", "http://127.0.0.1:9/realms/x")},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := resolve(t, core.Config{}, tt.env)
			if err != nil {
				t.Fatal(err)
			}
			if got.AuthStrategy != tt.strategy || (tt.strategy == core.AuthOAuth && got.TokenAuthMethod != tt.method) {
				t.Errorf("strategy %q method %q, want %q %q", got.AuthStrategy, got.TokenAuthMethod, tt.strategy, tt.method)
			}
		})
	}
}

func TestStrategyErrorsNameTheVariable(t *testing.T) {
	rest := "http://127.0.0.1:9"
	for _, tt := range []struct {
		name  string
		env   map[string]string
		field string
		words string
	}{
		{"unknown strategy", map[string]string{"CAMUNDA_AUTH_STRATEGY": "KERBEROS", "CAMUNDA_REST_ADDRESS": rest},
			"auth_strategy", "CAMUNDA_AUTH_STRATEGY"},
		{"unknown method", map[string]string{"CAMUNDA_CLIENT_ID": "a", "CAMUNDA_CLIENT_SECRET": "b",
			"CAMUNDA_TOKEN_AUTH_METHOD": "tls_client_auth", "CAMUNDA_REST_ADDRESS": rest}, "token_auth_method", "CAMUNDA_TOKEN_AUTH_METHOD"},
		{"BASIC without a password", map[string]string{"CAMUNDA_AUTH_STRATEGY": "BASIC", "CAMUNDA_BASIC_AUTH_USERNAME": "u",
			"CAMUNDA_REST_ADDRESS": rest}, "basic_auth_password", "CAMUNDA_BASIC_AUTH_PASSWORD"},
		{"BASIC without a username", map[string]string{"CAMUNDA_AUTH_STRATEGY": "BASIC", "CAMUNDA_REST_ADDRESS": rest},
			"basic_auth_username", "CAMUNDA_BASIC_AUTH_USERNAME"},
		{"BEARER without a token", map[string]string{"CAMUNDA_AUTH_STRATEGY": "BEARER", "CAMUNDA_REST_ADDRESS": rest},
			"oauth_token", "CAMUNDA_OAUTH_TOKEN"},
		{"BEARER token with a newline", map[string]string{"CAMUNDA_AUTH_STRATEGY": "BEARER", "CAMUNDA_OAUTH_TOKEN": "a\nb",
			"CAMUNDA_REST_ADDRESS": rest}, "oauth_token", "visible ASCII"},
		{"private_key_jwt without a key", map[string]string{"CAMUNDA_CLIENT_ID": "a", "CAMUNDA_TOKEN_AUTH_METHOD": "private_key_jwt",
			"CAMUNDA_REST_ADDRESS": rest}, "client_assertion_key_path", "CAMUNDA_CLIENT_ASSERTION_KEY_PATH"},
		{"no client id", map[string]string{"CAMUNDA_CLIENT_SECRET": "b", "CAMUNDA_REST_ADDRESS": rest}, "client_id", "CAMUNDA_CLIENT_ID"},
		{"timeout not a number", map[string]string{"CAMUNDA_CLIENT_ID": "a", "CAMUNDA_CLIENT_SECRET": "b", "CAMUNDA_REST_ADDRESS": rest,
			"CAMUNDA_OAUTH_TIMEOUT_MS": "soon"}, "token_timeout_ms", "CAMUNDA_OAUTH_TIMEOUT_MS"},
		{"plain http issuer to a remote host", map[string]string{"CAMUNDA_CLIENT_ID": "a", "CAMUNDA_CLIENT_SECRET": "b", "CAMUNDA_REST_ADDRESS": rest,
			"CAMUNDA_ISSUER_URL": "http://idp.example/realms/camunda"}, "issuer_url", "allow_insecure_http"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := resolve(t, core.Config{}, tt.env)
			var e *core.Error
			if !errors.As(err, &e) || e.Kind != core.KindConfig || !slices.Contains(e.Fields, tt.field) || !strings.Contains(e.Error(), tt.words) {
				t.Fatalf("err = %v (fields %v), want KindConfig naming %s and %q", err, fieldsOf(err), tt.field, tt.words)
			}
		})
	}
}

func fieldsOf(err error) []string {
	var e *core.Error
	if errors.As(err, &e) {
		return e.Fields
	}
	return nil
}

func TestDiscoveryPrecedence(t *testing.T) {
	base := map[string]string{"CAMUNDA_CLIENT_ID": "a", "CAMUNDA_CLIENT_SECRET": "b", "CAMUNDA_REST_ADDRESS": "http://127.0.0.1:9"}
	env := func(kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	issuer := "http://127.0.0.1:9/realms/camunda/"
	for _, tt := range []struct {
		name               string
		cfg                core.Config
		env                map[string]string
		tokenURL, discover string
	}{
		{"issuer alone", core.Config{}, env("CAMUNDA_ISSUER_URL", issuer), "", "http://127.0.0.1:9/realms/camunda/.well-known/openid-configuration"},
		{"well-known URL wins over issuer", core.Config{}, env("CAMUNDA_ISSUER_URL", issuer,
			"CAMUNDA_WELL_KNOWN_CONFIGURATION_URL", "http://127.0.0.1:9/wk"), "", "http://127.0.0.1:9/wk"},
		{"token URL at the same level wins", core.Config{}, env("CAMUNDA_ISSUER_URL", issuer, "CAMUNDA_OAUTH_URL", "http://127.0.0.1:9/t"),
			"http://127.0.0.1:9/t", ""},
		{"explicit issuer wins over an env token URL", core.Config{IssuerURL: issuer}, env("ZEEBE_AUTHORIZATION_SERVER_URL", "http://127.0.0.1:9/t"),
			"", "http://127.0.0.1:9/realms/camunda/.well-known/openid-configuration"},
		{"neither: the SaaS default", core.Config{}, env(), core.DefaultAuthorizationServerURL, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := resolve(t, tt.cfg, tt.env)
			if err != nil {
				t.Fatal(err)
			}
			if got.AuthorizationServerURL != tt.tokenURL || got.DiscoveryURL() != tt.discover {
				t.Errorf("token URL %q, discovery %q; want %q, %q", got.AuthorizationServerURL, got.DiscoveryURL(), tt.tokenURL, tt.discover)
			}
		})
	}
}

func TestTimeoutsFromEnvironment(t *testing.T) {
	base := map[string]string{"CAMUNDA_CLIENT_ID": "a", "CAMUNDA_CLIENT_SECRET": "b", "CAMUNDA_REST_ADDRESS": "http://127.0.0.1:9",
		"ZBAUTH_TIMEOUT_MS": "2500", "CAMUNDA_AUTH_READ_TIMEOUT": "4000"}
	got, err := resolve(t, core.Config{}, base)
	if err != nil {
		t.Fatal(err)
	}
	if got.Timeout != 2500*time.Millisecond || got.TokenTimeout != 4*time.Second {
		t.Errorf("timeout %v, token timeout %v", got.Timeout, got.TokenTimeout)
	}
	base["CAMUNDA_OAUTH_TIMEOUT_MS"] = "1s"
	if got, _ = resolve(t, core.Config{}, base); got.TokenTimeout != time.Second {
		t.Errorf("CAMUNDA_OAUTH_TIMEOUT_MS does not win: %v", got.TokenTimeout)
	}
	c, err := core.ParseConfigJSON([]byte(`{"token_timeout_ms": 1500}`))
	if err != nil || c.TokenTimeout != 1500*time.Millisecond {
		t.Errorf("token_timeout_ms: %v, %v", c.TokenTimeout, err)
	}
}

// Every secret setting is redacted by String, GoString and MarshalJSON,
// and removed from the other settings where it appears.
func TestEverySecretRedacted(t *testing.T) {
	cfg := core.Config{
		ClientID: "id", ClientSecret: "SECRET-MARKER-client",
		BasicAuthUsername: "user", BasicAuthPassword: "SECRET-MARKER-basic",
		OAuthToken:                         "TOKEN-MARKER-static",
		ClientAssertionKeystorePassword:    "SECRET-MARKER-store",
		ClientAssertionKeystoreKeyPassword: "SECRET-MARKER-key",
		RESTAddress:                        "https://host/SECRET-MARKER-basic",
	}
	b, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, text := range []string{cfg.String(), fmt.Sprintf("%#v %v %+v", cfg, cfg, cfg), string(b)} {
		if strings.Contains(text, "MARKER") {
			t.Errorf("leaks a secret: %s", text)
		}
	}
	if n := len(cfg.Secrets()); n != 5 {
		t.Errorf("Secrets() has %d values, want 5", n)
	}
	for _, name := range []string{"CAMUNDA_BASIC_AUTH_PASSWORD", "CAMUNDA_OAUTH_TOKEN", "ZEEBE_CLIENT_SECRET", "CAMUNDA_CLIENT_SECRET",
		"CAMUNDA_CLIENT_ASSERTION_KEYSTORE_PASSWORD", "CAMUNDA_CLIENT_ASSERTION_KEYSTORE_KEY_PASSWORD"} {
		if !slices.Contains(core.SecretEnvNames(), name) {
			t.Errorf("SecretEnvNames lacks %s", name)
		}
	}
	back, err := core.ParseConfigJSON(b)
	if err != nil {
		t.Fatalf("the JSON form does not read back: %v\n%s", err, b)
	}
	if back.BasicAuthPassword != "[REDACTED]" || back.BasicAuthUsername != "user" {
		t.Errorf("read back %+v", back)
	}
}

func TestRESTAddressNamesVersion(t *testing.T) {
	cl := startCluster(t, devcluster.Options{})
	for _, tt := range []struct{ suffix, path, want string }{
		{"/v2", "/v2/echo", "/v2/echo"},
		{"/v2", "/echo", "/v2/echo"},
		{"/v2/", "echo", "/v2/echo"},
		{"", "/v2/echo", "/v2/echo"},
	} {
		cfg := clusterConfig(cl)
		cfg.RESTAddress += tt.suffix
		c := newClient(t, cfg)
		resp, err := c.Do(t.Context(), "GET", tt.path, nil)
		if err != nil {
			t.Fatalf("%s + %s: %v", tt.suffix, tt.path, err)
		}
		if !strings.Contains(string(resp.Body), `"path":"`+tt.want+`"`) {
			t.Errorf("%s + %s reached %s, want %s", tt.suffix, tt.path, resp.Body, tt.want)
		}
	}
}
