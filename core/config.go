package core

import (
	"bytes"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/zbauth/zbauth/internal/jsonx"
	"github.com/zbauth/zbauth/internal/redact"
	"github.com/zbauth/zbauth/internal/urlx"
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

// MaxConfigBytes bounds the JSON form of Config that ParseConfigJSON
// accepts. A real configuration is a few hundred bytes.
const MaxConfigBytes = 1 << 20

// Config says where and how to authenticate. The zero value means "all from
// the environment". Explicit values win over the environment, and the
// environment wins over the defaults; see Resolve.
//
// The JSON form (used by the C, Wasm, Python and Node surfaces) has the
// snake_case keys shown in the struct tags; unknown keys are an error, and
// so is a document larger than MaxConfigBytes (1 MiB). Every string setting
// must be valid UTF-8, from JSON (an escaped lone surrogate such as
// "\ud800" is not) and from the environment alike: a configuration error,
// rather than a replacement character sent in its place.
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
	// MaxBodyBytes caps REST API response bodies; 0 means DefaultMaxBody
	// (16 MiB). At most MaxBodyLimit (1 GiB): a larger value is a
	// configuration error.
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
// white space) yields the zero Config. Input larger than MaxConfigBytes,
// a string that is not valid UTF-8, unknown keys, wrong types and a
// negative timeout_ms are KindConfig errors.
func ParseConfigJSON(data []byte) (Config, error) {
	if len(data) > MaxConfigBytes {
		return Config{}, &Error{Kind: KindConfig, Op: "config", Msg: "config JSON is larger than 1 MiB"}
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return Config{}, nil
	}
	if key, bad := invalidUTF8String(data); bad {
		// Decoders replace such bytes with U+FFFD: the server would be sent
		// a client id, secret or URL that nobody configured.
		e := &Error{Kind: KindConfig, Op: "config", Msg: "invalid config JSON: a key or value is not valid UTF-8"}
		if key != "" {
			e.Msg = "invalid config JSON: " + key + " is not valid UTF-8"
			e.Fields = []string{key}
		}
		return Config{}, e
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
// values: some decoders quote the offending input, which may be a secret,
// and a quoted key or number can be as long as the document.
func sanitizeJSONError(err error) error {
	msg := err.Error()
	if i := strings.Index(msg, "unknown field "); i >= 0 {
		// goccy/go-json quotes the key as Go does, encoding/json as is.
		quoted := msg[i+len("unknown field "):]
		key, uerr := strconv.Unquote(quoted)
		if uerr != nil {
			key = strings.TrimSuffix(strings.TrimPrefix(quoted, `"`), `"`)
		}
		return errors.New("unknown field " + quotePrefix(key))
	}
	// Type errors name the JSON type, the field and the Go type; the
	// literal some decoders put after the JSON type is left out.
	if i := strings.Index(msg, "cannot unmarshal "); i >= 0 {
		rest := msg[i+len("cannot unmarshal "):]
		kind, _, _ := strings.Cut(rest, " ")
		if j := strings.LastIndex(rest, " into "); j >= 0 && len(kind) <= 16 && len(rest)-j <= 200 {
			return errors.New("json: cannot unmarshal " + kind + rest[j:])
		}
		return errors.New("a value has the wrong type")
	}
	return errors.New("malformed JSON")
}

// maxQuotedKey bounds how much of an unknown key an error quotes.
const maxQuotedKey = 64

// quotePrefix quotes s, escaped, or its first maxQuotedKey bytes.
func quotePrefix(s string) string {
	if len(s) <= maxQuotedKey {
		return strconv.Quote(s)
	}
	n := maxQuotedKey
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return strconv.Quote(s[:n]) + " (the first " + strconv.Itoa(n) + " of " + strconv.Itoa(len(s)) + " bytes)"
}

// configKeys are the keys of the JSON form, the only ones an error about
// a value names.
var configKeys = []string{"client_id", "client_secret", "authorization_server_url", "audience", "scope",
	"rest_address", "timeout_ms", "ca_certificate_path", "client_certificate_path", "client_key_path",
	"allow_insecure_http", "token_cache_dir", "max_body_bytes"}

// invalidUTF8String reports whether a string literal of the JSON document
// data holds bytes that are not UTF-8, or an escaped surrogate (\ud800)
// that is not half of a pair; then key is the config key whose value it
// is, or "" when that is no config key (or the literal is a key itself).
// It reads data as JSON's lexer would, even when data is not valid JSON.
func invalidUTF8String(data []byte) (key string, bad bool) {
	lastKey := ""
	for i := 0; i < len(data); i++ {
		if data[i] != '"' {
			continue
		}
		start := i + 1
		i = start
		for i < len(data) && data[i] != '"' {
			if data[i] == '\\' {
				i++
			}
			i++
		}
		lit := data[start:min(i, len(data))]
		isKey := false
		for j := i + 1; j < len(data); j++ {
			if c := data[j]; c != ' ' && c != '\t' && c != '\n' && c != '\r' {
				isKey = c == ':'
				break
			}
		}
		if !utf8.Valid(lit) || !pairedSurrogates(lit) {
			if isKey {
				return "", true
			}
			for _, k := range configKeys {
				if strings.EqualFold(k, lastKey) { // the decoders match keys case-insensitively
					return k, true
				}
			}
			return "", true
		}
		if isKey {
			lastKey = string(lit)
		}
	}
	return "", false
}

// pairedSurrogates reports whether every \uD800-\uDFFF escape in the body
// of a JSON string literal is a high surrogate followed by a low one.
func pairedSurrogates(lit []byte) bool {
	hex4 := func(b []byte) (rune, bool) {
		if len(b) < 6 || b[0] != '\\' || b[1] != 'u' {
			return 0, false
		}
		v, err := strconv.ParseUint(string(b[2:6]), 16, 16)
		return rune(v), err == nil
	}
	for i := 0; i < len(lit); i++ {
		if lit[i] != '\\' {
			continue
		}
		r, ok := hex4(lit[i:])
		if !ok {
			i++ // another escape: skip the escaped byte
			continue
		}
		i += 5
		switch {
		case 0xDC00 <= r && r <= 0xDFFF:
			return false
		case 0xD800 <= r && r <= 0xDBFF:
			lo, ok := hex4(lit[i+1:])
			if !ok || lo < 0xDC00 || lo > 0xDFFF {
				return false
			}
			i += 6
		}
	}
	return true
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
		red := redactor(redact.SecretForms(c.ClientSecret))
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
	for _, f := range []struct{ name, v string }{
		{"client_id", c.ClientID}, {"client_secret", c.ClientSecret},
		{"authorization_server_url", c.AuthorizationServerURL}, {"audience", c.Audience}, {"scope", c.Scope},
		{"rest_address", c.RESTAddress}, {"ca_certificate_path", c.CACertificatePath},
		{"client_certificate_path", c.ClientCertificatePath}, {"client_key_path", c.ClientKeyPath},
		{"token_cache_dir", c.TokenCacheDir},
	} {
		// From the environment (or a Config built in Go) nothing has
		// replaced such bytes yet; they would go out as they are.
		if !utf8.ValidString(f.v) {
			bad(f.name, "is not valid UTF-8")
		}
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
	} else if c.MaxBodyBytes > MaxBodyLimit {
		bad("max_body_bytes", "must be at most 1073741824 (1 GiB)")
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
	return !urlx.IsLoopbackHost(u.Hostname())
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
