package core

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/zbauth/zbauth/internal/jsonx"
)

// Defaults, as documented by Camunda for SaaS.
const (
	DefaultAuthorizationServerURL = "https://login.cloud.camunda.io/oauth/token"
	DefaultAudience               = "zeebe.camunda.io"
	DefaultTimeout                = 10 * time.Second
)

// Environment variable names, as documented by Camunda.
const (
	EnvClientID               = "ZEEBE_CLIENT_ID"
	EnvClientSecret           = "ZEEBE_CLIENT_SECRET"
	EnvAuthorizationServerURL = "ZEEBE_AUTHORIZATION_SERVER_URL"
	EnvAudience               = "ZEEBE_TOKEN_AUDIENCE"
	EnvScope                  = "ZEEBE_TOKEN_SCOPE"
	EnvRESTAddress            = "ZEEBE_REST_ADDRESS"
	EnvClusterRegion          = "CAMUNDA_CLUSTER_REGION"
	EnvClusterID              = "CAMUNDA_CLUSTER_ID"
	EnvCACertificatePath      = "ZEEBE_CA_CERTIFICATE_PATH"
	EnvClientCertificatePath  = "ZEEBE_CLIENT_CERTIFICATE_PATH"
	EnvClientKeyPath          = "ZEEBE_CLIENT_KEY_PATH"
	EnvTokenCacheDir          = "ZEEBE_TOKEN_CACHE_DIR"
	EnvAllowInsecureHTTP      = "ZBAUTH_ALLOW_INSECURE_HTTP"
)

// Config says where and how to authenticate. The zero value means "all from
// the environment". Explicit values win over the environment, and the
// environment wins over the defaults; see Resolve.
//
// The JSON form (used by the C, Wasm, Python and Node surfaces) has the
// snake_case keys shown in the struct tags; unknown keys are an error.
type Config struct {
	ClientID               string `json:"client_id,omitempty"`
	ClientSecret           string `json:"client_secret,omitempty"`
	AuthorizationServerURL string `json:"authorization_server_url,omitempty"`
	Audience               string `json:"audience,omitempty"`
	Scope                  string `json:"scope,omitempty"`
	RESTAddress            string `json:"rest_address,omitempty"`
	// Timeout bounds every HTTP request, and a token acquisition with all
	// its retries; 0 means DefaultTimeout. In JSON it is "timeout_ms", in
	// milliseconds.
	Timeout time.Duration `json:"-"`

	// CACertificatePath names a PEM file of CA certificates trusted in
	// addition to the system's (self-managed clusters behind a private CA).
	CACertificatePath string `json:"ca_certificate_path,omitempty"`
	// ClientCertificatePath and ClientKeyPath name a PEM certificate and
	// key presented for mutual TLS, to the token endpoint and the REST API.
	ClientCertificatePath string `json:"client_certificate_path,omitempty"`
	ClientKeyPath         string `json:"client_key_path,omitempty"`
	// AllowInsecureHTTP permits plain http:// to a host other than loopback.
	// Without it such a configuration is refused: the client secret and the
	// tokens would cross the network readable by anyone on the path.
	AllowInsecureHTTP bool `json:"allow_insecure_http,omitempty"`
	// TokenCacheDir, when set, keeps tokens on disk so that processes share
	// them (see docs/token-cache.md). The secret is never written.
	TokenCacheDir string `json:"token_cache_dir,omitempty"`
	// MaxBodyBytes caps REST API response bodies; 0 means DefaultMaxBody.
	MaxBodyBytes int64 `json:"max_body_bytes,omitempty"`
}

// configJSON is Config's wire form.
type configJSON struct {
	ClientID               string `json:"client_id"`
	ClientSecret           string `json:"client_secret"`
	AuthorizationServerURL string `json:"authorization_server_url"`
	Audience               string `json:"audience"`
	Scope                  string `json:"scope"`
	RESTAddress            string `json:"rest_address"`
	TimeoutMS              *int64 `json:"timeout_ms"`
	CACertificatePath      string `json:"ca_certificate_path"`
	ClientCertificatePath  string `json:"client_certificate_path"`
	ClientKeyPath          string `json:"client_key_path"`
	AllowInsecureHTTP      bool   `json:"allow_insecure_http"`
	TokenCacheDir          string `json:"token_cache_dir"`
	MaxBodyBytes           int64  `json:"max_body_bytes"`
}

// ParseConfigJSON decodes the JSON form of Config. Empty input (or only
// white space) yields the zero Config. Unknown keys, wrong types and a
// negative timeout_ms are KindConfig errors.
func ParseConfigJSON(data []byte) (Config, error) {
	if len(strings.TrimSpace(string(data))) == 0 {
		return Config{}, nil
	}
	var w configJSON
	if err := jsonx.UnmarshalStrict(data, &w); err != nil {
		e := &Error{Kind: KindConfig, Op: "config", Msg: "invalid config JSON", Err: sanitizeJSONError(err)}
		// The decoder's message quotes an unknown key or a number literal
		// from the document; if that text matches any string value in the
		// document (which may be the client secret), do not show it.
		if echoesValue(e.Error(), e.Err.Error(), data) {
			e.Err = errors.New("a key or value is invalid")
		}
		return Config{}, e
	}
	c := Config{
		ClientID:               w.ClientID,
		ClientSecret:           w.ClientSecret,
		AuthorizationServerURL: w.AuthorizationServerURL,
		Audience:               w.Audience,
		Scope:                  w.Scope,
		RESTAddress:            w.RESTAddress,
		CACertificatePath:      w.CACertificatePath,
		ClientCertificatePath:  w.ClientCertificatePath,
		ClientKeyPath:          w.ClientKeyPath,
		AllowInsecureHTTP:      w.AllowInsecureHTTP,
		TokenCacheDir:          w.TokenCacheDir,
		MaxBodyBytes:           w.MaxBodyBytes,
	}
	if w.TimeoutMS != nil {
		if *w.TimeoutMS < 0 || *w.TimeoutMS > int64(24*time.Hour/time.Millisecond) {
			return Config{}, &Error{Kind: KindConfig, Op: "config", Msg: "timeout_ms must be between 0 and 86400000", Fields: []string{"timeout_ms"}}
		}
		c.Timeout = time.Duration(*w.TimeoutMS) * time.Millisecond
	}
	return c, nil
}

// sanitizeJSONError keeps a decoder's message but never the document's
// values: some decoders quote the offending input, which may be a secret.
func sanitizeJSONError(err error) error {
	msg := err.Error()
	if i := strings.Index(msg, "unknown field"); i >= 0 {
		return fmt.Errorf("%s", msg[i:])
	}
	// Type errors name the field and the Go type, never the value.
	if strings.Contains(msg, "cannot unmarshal") {
		return fmt.Errorf("%s", msg)
	}
	return fmt.Errorf("malformed JSON")
}

// echoesValue reports whether msg repeats a string value of the JSON
// document data: all of it or any 8-byte run of it, which catches a value
// quoted with different escaping. A value of fewer than 4 bytes is looked
// for in the decoder's detail only, where it cannot be our own wording.
func echoesValue(msg, detail string, data []byte) bool {
	const run = 8
	for _, v := range jsonx.StringValues(data) {
		if v == "" {
			continue
		}
		if len(v) < 4 {
			if strings.Contains(detail, v) {
				return true
			}
			continue
		}
		if len(v) <= run {
			if strings.Contains(msg, v) {
				return true
			}
			continue
		}
		for i := 0; i+run <= len(v); i++ {
			if strings.Contains(msg, v[i:i+run]) {
				return true
			}
		}
	}
	return false
}

// MarshalJSON writes the JSON form, with client_secret redacted. It exists so
// that logging a Config can never leak the secret.
func (c Config) MarshalJSON() ([]byte, error) {
	w := c.redacted()
	ms := int64(c.Timeout / time.Millisecond)
	return jsonx.Marshal(configJSON{
		ClientID: w.ClientID, ClientSecret: w.ClientSecret,
		AuthorizationServerURL: w.AuthorizationServerURL, Audience: w.Audience,
		Scope: w.Scope, RESTAddress: w.RESTAddress, TimeoutMS: &ms,
		CACertificatePath: w.CACertificatePath, ClientCertificatePath: w.ClientCertificatePath,
		ClientKeyPath: w.ClientKeyPath, AllowInsecureHTTP: w.AllowInsecureHTTP,
		TokenCacheDir: w.TokenCacheDir, MaxBodyBytes: w.MaxBodyBytes,
	})
}

func (c Config) redacted() Config {
	if c.ClientSecret != "" {
		// The secret may also sit in a URL (user info, a query parameter):
		// remove it wherever it appears, as typed or escaped.
		red := redactor(SecretForms(c.ClientSecret))
		for _, f := range []*string{&c.ClientID, &c.AuthorizationServerURL, &c.Audience, &c.Scope, &c.RESTAddress,
			&c.CACertificatePath, &c.ClientCertificatePath, &c.ClientKeyPath, &c.TokenCacheDir} {
			*f = red.clean(*f)
		}
		c.ClientSecret = "[REDACTED]"
	}
	return c
}

// String describes c with the secret redacted.
func (c Config) String() string {
	r := c.redacted()
	return fmt.Sprintf("Config{ClientID:%q ClientSecret:%q AuthorizationServerURL:%q Audience:%q Scope:%q RESTAddress:%q Timeout:%v"+
		" CACertificatePath:%q ClientCertificatePath:%q ClientKeyPath:%q AllowInsecureHTTP:%v TokenCacheDir:%q MaxBodyBytes:%d}",
		r.ClientID, r.ClientSecret, r.AuthorizationServerURL, r.Audience, r.Scope, r.RESTAddress, r.Timeout,
		r.CACertificatePath, r.ClientCertificatePath, r.ClientKeyPath, r.AllowInsecureHTTP, r.TokenCacheDir, r.MaxBodyBytes)
}

// GoString makes %#v redact too.
func (c Config) GoString() string { return c.String() }

// Resolve fills every empty field of c from the environment (read through
// lookup; nil means os.LookupEnv) and then from the defaults, normalises the
// REST address (no trailing slash) and validates the result. A validation
// failure is one KindConfig error naming every field at fault.
func (c Config) Resolve(lookup func(string) (string, bool)) (Config, error) {
	if lookup == nil {
		lookup = os.LookupEnv
	}
	env := func(k string) string {
		v, _ := lookup(k)
		return strings.TrimSpace(v)
	}
	pick := func(explicit, envKey, def string) string {
		if explicit != "" {
			return explicit
		}
		if v := env(envKey); v != "" {
			return v
		}
		return def
	}
	c.ClientID = pick(c.ClientID, EnvClientID, "")
	c.ClientSecret = pick(c.ClientSecret, EnvClientSecret, "")
	c.AuthorizationServerURL = pick(c.AuthorizationServerURL, EnvAuthorizationServerURL, DefaultAuthorizationServerURL)
	c.Audience = pick(c.Audience, EnvAudience, DefaultAudience)
	c.Scope = pick(c.Scope, EnvScope, "")
	c.RESTAddress = pick(c.RESTAddress, EnvRESTAddress, "")
	if c.RESTAddress == "" {
		region, cluster := env(EnvClusterRegion), env(EnvClusterID)
		if region != "" && cluster != "" {
			c.RESTAddress = "https://" + region + ".zeebe.camunda.io/" + cluster
		}
	}
	c.RESTAddress = strings.TrimRight(c.RESTAddress, "/")
	c.CACertificatePath = pick(c.CACertificatePath, EnvCACertificatePath, "")
	c.ClientCertificatePath = pick(c.ClientCertificatePath, EnvClientCertificatePath, "")
	c.ClientKeyPath = pick(c.ClientKeyPath, EnvClientKeyPath, "")
	c.TokenCacheDir = pick(c.TokenCacheDir, EnvTokenCacheDir, "")
	if !c.AllowInsecureHTTP {
		switch strings.ToLower(env(EnvAllowInsecureHTTP)) {
		case "1", "true", "yes", "on":
			c.AllowInsecureHTTP = true
		}
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = DefaultMaxBody
	}
	return c, c.validate()
}

func (c Config) validate() error {
	var fields, problems []string
	bad := func(field, why string) {
		fields = append(fields, field)
		problems = append(problems, field+" "+why)
	}
	if c.ClientID == "" {
		bad("client_id", "is missing (set "+EnvClientID+")")
	}
	if c.ClientSecret == "" {
		bad("client_secret", "is missing (set "+EnvClientSecret+")")
	}
	if why := checkHTTPURL(c.AuthorizationServerURL); why != "" {
		bad("authorization_server_url", why)
	}
	if c.Audience == "" {
		bad("audience", "is empty")
	}
	if c.RESTAddress == "" {
		bad("rest_address", "is missing (set "+EnvRESTAddress+", or "+EnvClusterRegion+" and "+EnvClusterID+")")
	} else if why := checkHTTPURL(c.RESTAddress); why != "" {
		bad("rest_address", why)
	} else if u, _ := url.Parse(c.RESTAddress); u.RawQuery != "" || u.Fragment != "" {
		bad("rest_address", "must not have a query or fragment")
	}
	if c.Timeout < 0 {
		bad("timeout_ms", "must not be negative")
	}
	if c.MaxBodyBytes < 0 {
		bad("max_body_bytes", "must not be negative")
	}
	if (c.ClientCertificatePath == "") != (c.ClientKeyPath == "") {
		bad("client_certificate_path", "and client_key_path must be set together")
	}
	if !c.AllowInsecureHTTP {
		for _, f := range []struct{ name, url string }{
			{"authorization_server_url", c.AuthorizationServerURL},
			{"rest_address", c.RESTAddress},
		} {
			if insecureRemote(f.url) {
				bad(f.name, "uses plain http:// to a host that is not loopback, which would expose "+
					"the credentials; use https://, or opt in with allow_insecure_http / "+EnvAllowInsecureHTTP+"=true")
			}
		}
	}
	if len(fields) == 0 {
		return nil
	}
	return &Error{Kind: KindConfig, Op: "config", Msg: "invalid configuration: " + strings.Join(problems, "; "), Fields: fields}
}

// insecureRemote reports whether s is a plain http:// URL to a host other
// than loopback.
func insecureRemote(s string) bool {
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "http" {
		return false
	}
	return !IsLoopbackHost(u.Hostname())
}

// IsLoopbackHost reports whether host (without port) is a loopback IP
// address (127.0.0.0/8, ::1) or exactly "localhost" (in any case), which
// the native transport dials on loopback without asking a resolver.
// "localhost." and "*.localhost" are not: a resolver (DNS) would answer
// for them, and whoever answers would get the credentials over plain http.
func IsLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}

// checkHTTPURL explains what is wrong with an absolute http(s) URL, or
// returns "". The URL itself is never quoted: it could carry credentials.
func checkHTTPURL(s string) string {
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return "is not a valid URL"
	case u.Scheme != "http" && u.Scheme != "https":
		return "must be an absolute http:// or https:// URL"
	case u.Host == "":
		return "must include a host"
	case u.User != nil:
		return "must not contain user info"
	}
	return ""
}
