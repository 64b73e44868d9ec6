package core

import (
	"fmt"
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
	// Timeout bounds every HTTP request; 0 means DefaultTimeout.
	// In JSON it is "timeout_ms", in milliseconds.
	Timeout time.Duration `json:"-"`
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
		return Config{}, &Error{Kind: KindConfig, Op: "config", Msg: "invalid config JSON", Err: sanitizeJSONError(err)}
	}
	c := Config{
		ClientID:               w.ClientID,
		ClientSecret:           w.ClientSecret,
		AuthorizationServerURL: w.AuthorizationServerURL,
		Audience:               w.Audience,
		Scope:                  w.Scope,
		RESTAddress:            w.RESTAddress,
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

// MarshalJSON writes the JSON form, with client_secret redacted. It exists so
// that logging a Config can never leak the secret.
func (c Config) MarshalJSON() ([]byte, error) {
	w := c.redacted()
	ms := int64(c.Timeout / time.Millisecond)
	return jsonx.Marshal(configJSON{
		ClientID: w.ClientID, ClientSecret: w.ClientSecret,
		AuthorizationServerURL: w.AuthorizationServerURL, Audience: w.Audience,
		Scope: w.Scope, RESTAddress: w.RESTAddress, TimeoutMS: &ms,
	})
}

func (c Config) redacted() Config {
	if c.ClientSecret != "" {
		c.ClientSecret = "[REDACTED]"
	}
	return c
}

// String describes c with the secret redacted.
func (c Config) String() string {
	r := c.redacted()
	return fmt.Sprintf("Config{ClientID:%q ClientSecret:%q AuthorizationServerURL:%q Audience:%q Scope:%q RESTAddress:%q Timeout:%v}",
		r.ClientID, r.ClientSecret, r.AuthorizationServerURL, r.Audience, r.Scope, r.RESTAddress, r.Timeout)
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
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
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
	if len(fields) == 0 {
		return nil
	}
	return &Error{Kind: KindConfig, Op: "config", Msg: "invalid configuration: " + strings.Join(problems, "; "), Fields: fields}
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
