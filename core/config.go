package core

import (
	"bytes"
	"errors"
	"fmt"
	"net/url"
	"os"
	"slices"
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

// Environment variable names. Where a setting has several, the first set
// wins: Camunda 8.7+'s CAMUNDA_* name, then the legacy ZEEBE_* one (as
// Camunda's Java client reads them). The Env constants name the legacy
// variable; EnvNames lists every name of a setting in order.
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
	EnvTimeoutMS              = "ZBAUTH_TIMEOUT_MS"
	EnvAuthStrategy           = "CAMUNDA_AUTH_STRATEGY"
	EnvTokenAuthMethod        = "CAMUNDA_TOKEN_AUTH_METHOD"
)

// EnvNames maps each JSON config key that the environment can set to its
// variables, first wins. Explicit configuration wins over all of them.
var EnvNames = map[string][]string{
	"client_id":                              {"CAMUNDA_CLIENT_ID", EnvClientID},
	"client_secret":                          {"CAMUNDA_CLIENT_SECRET", EnvClientSecret},
	"authorization_server_url":               {"CAMUNDA_OAUTH_URL", "CAMUNDA_AUTHORIZATION_SERVER_URL", EnvAuthorizationServerURL},
	"audience":                               {"CAMUNDA_TOKEN_AUDIENCE", EnvAudience},
	"scope":                                  {"CAMUNDA_TOKEN_SCOPE", "CAMUNDA_OAUTH_SCOPE", EnvScope},
	"resource":                               {"CAMUNDA_TOKEN_RESOURCE"},
	"rest_address":                           {"CAMUNDA_REST_ADDRESS", EnvRESTAddress},
	"issuer_url":                             {"CAMUNDA_ISSUER_URL"},
	"well_known_configuration_url":           {"CAMUNDA_WELL_KNOWN_CONFIGURATION_URL"},
	"auth_strategy":                          {EnvAuthStrategy},
	"basic_auth_username":                    {"CAMUNDA_BASIC_AUTH_USERNAME"},
	"basic_auth_password":                    {"CAMUNDA_BASIC_AUTH_PASSWORD"},
	"oauth_token":                            {"CAMUNDA_OAUTH_TOKEN"},
	"token_auth_method":                      {EnvTokenAuthMethod},
	"client_assertion_key_path":              {"CAMUNDA_CLIENT_ASSERTION_KEY_PATH"},
	"client_assertion_cert_path":             {"CAMUNDA_CLIENT_ASSERTION_CERT_PATH"},
	"client_assertion_keystore_path":         {"CAMUNDA_CLIENT_ASSERTION_KEYSTORE_PATH"},
	"client_assertion_keystore_password":     {"CAMUNDA_CLIENT_ASSERTION_KEYSTORE_PASSWORD"},
	"client_assertion_keystore_key_alias":    {"CAMUNDA_CLIENT_ASSERTION_KEYSTORE_KEY_ALIAS"},
	"client_assertion_keystore_key_password": {"CAMUNDA_CLIENT_ASSERTION_KEYSTORE_KEY_PASSWORD"},
	"ca_certificate_path":                    {"CAMUNDA_CA_CERTIFICATE_PATH", EnvCACertificatePath},
	"client_certificate_path":                {EnvClientCertificatePath},
	"client_key_path":                        {EnvClientKeyPath},
	"token_cache_dir":                        {"CAMUNDA_TOKEN_CACHE_DIR", EnvTokenCacheDir},
	"allow_insecure_http":                    {EnvAllowInsecureHTTP},
	"timeout_ms":                             {EnvTimeoutMS},
	"token_timeout_ms":                       {"CAMUNDA_OAUTH_TIMEOUT_MS", "CAMUNDA_AUTH_READ_TIMEOUT"},
}

// SecretConfigKeys are the JSON config keys whose values are secrets: never
// shown by String, MarshalJSON or any error.
var SecretConfigKeys = []string{"client_secret", "basic_auth_password", "oauth_token",
	"client_assertion_keystore_password", "client_assertion_keystore_key_password"}

// SecretEnvNames are the environment variables that hold secrets, for a
// host that relays text it did not build (the Wasm host, guest stderr).
func SecretEnvNames() []string {
	var names []string
	for _, k := range SecretConfigKeys {
		names = append(names, EnvNames[k]...)
	}
	return names
}

// Authentication strategies (Config.AuthStrategy).
const (
	AuthOAuth  = "OAUTH"  // a bearer token from the token endpoint (client credentials)
	AuthBasic  = "BASIC"  // HTTP Basic credentials on every REST call (Self-Managed)
	AuthBearer = "BEARER" // a fixed bearer token, never refreshed
	AuthNone   = "NONE"   // no Authorization header (C8 Run, docker compose)
)

// Client authentication methods at the token endpoint
// (Config.TokenAuthMethod), as OAuth names them.
const (
	MethodClientSecretPost  = "client_secret_post"  // id and secret in the form body
	MethodClientSecretBasic = "client_secret_basic" // id and secret as HTTP Basic (RFC 6749 §2.3.1)
	MethodPrivateKeyJWT     = "private_key_jwt"     // a signed JWT assertion (RFC 7523)
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
//
// docs/auth-strategies.md says which settings each Camunda set-up needs.
type Config struct {
	// AuthStrategy is AuthOAuth, AuthBasic, AuthBearer or AuthNone (any
	// case). Empty: OAUTH when a client id is set, BASIC when a Basic
	// username is, BEARER when only a token is.
	AuthStrategy string `json:"auth_strategy,omitempty"`

	ClientID               string `json:"client_id,omitempty"`
	ClientSecret           string `json:"client_secret,omitempty"`
	AuthorizationServerURL string `json:"authorization_server_url,omitempty"`
	Audience               string `json:"audience,omitempty"`
	Scope                  string `json:"scope,omitempty"`
	// Resource is sent as the RFC 8707 resource parameter when set.
	Resource    string `json:"resource,omitempty"`
	RESTAddress string `json:"rest_address,omitempty"`

	// IssuerURL or WellKnownConfigurationURL have the token endpoint
	// found by OpenID discovery ({issuer}/.well-known/openid-configuration),
	// fetched once per client. A token URL set at the same level (both
	// explicit, or both from the environment) or above wins over them.
	IssuerURL                 string `json:"issuer_url,omitempty"`
	WellKnownConfigurationURL string `json:"well_known_configuration_url,omitempty"`

	// TokenAuthMethod is how the client authenticates to the token
	// endpoint: MethodClientSecretPost (the default), MethodClientSecretBasic
	// or MethodPrivateKeyJWT. Empty: private_key_jwt when a client-assertion
	// key or keystore is set, else what discovery lists, else post. After
	// Resolve it is empty only when discovery will decide.
	TokenAuthMethod string `json:"token_auth_method,omitempty"`
	// The private_key_jwt credential: a PEM private key (PKCS#8, PKCS#1 or
	// SEC 1) with an optional PEM certificate, or a PKCS#12 keystore that
	// holds one private key and its certificate.
	ClientAssertionKeyPath             string `json:"client_assertion_key_path,omitempty"`
	ClientAssertionCertPath            string `json:"client_assertion_cert_path,omitempty"`
	ClientAssertionKeystorePath        string `json:"client_assertion_keystore_path,omitempty"`
	ClientAssertionKeystorePassword    string `json:"client_assertion_keystore_password,omitempty"`
	ClientAssertionKeystoreKeyAlias    string `json:"client_assertion_keystore_key_alias,omitempty"`
	ClientAssertionKeystoreKeyPassword string `json:"client_assertion_keystore_key_password,omitempty"`

	// BasicAuthUsername and BasicAuthPassword are the BASIC strategy's
	// credentials; OAuthToken is the BEARER strategy's token.
	BasicAuthUsername string `json:"basic_auth_username,omitempty"`
	BasicAuthPassword string `json:"basic_auth_password,omitempty"`
	OAuthToken        string `json:"oauth_token,omitempty"`

	// Timeout bounds every HTTP request, and a token acquisition with all
	// its retries; 0 means DefaultTimeout. In JSON it is "timeout_ms", in
	// milliseconds.
	Timeout time.Duration `json:"-"`
	// TokenTimeout, when set, bounds a token acquisition instead of
	// Timeout ("token_timeout_ms").
	TokenTimeout time.Duration `json:"-"`

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

// plainConfig is Config without its methods, for the JSON codec.
type plainConfig Config

// configJSON is Config's wire form: the struct's keys plus the timeouts
// in milliseconds.
type configJSON struct {
	plainConfig
	TimeoutMS      *int64 `json:"timeout_ms,omitempty"`
	TokenTimeoutMS *int64 `json:"token_timeout_ms,omitempty"`
}

// field is one string setting: its JSON key and where it lives.
type field struct {
	key string
	p   *string
}

// stringFields lists c's string settings, in the JSON form's order.
func (c *Config) stringFields() []field {
	return []field{
		{"auth_strategy", &c.AuthStrategy},
		{"client_id", &c.ClientID}, {"client_secret", &c.ClientSecret},
		{"authorization_server_url", &c.AuthorizationServerURL}, {"audience", &c.Audience},
		{"scope", &c.Scope}, {"resource", &c.Resource}, {"rest_address", &c.RESTAddress},
		{"issuer_url", &c.IssuerURL}, {"well_known_configuration_url", &c.WellKnownConfigurationURL},
		{"token_auth_method", &c.TokenAuthMethod},
		{"client_assertion_key_path", &c.ClientAssertionKeyPath},
		{"client_assertion_cert_path", &c.ClientAssertionCertPath},
		{"client_assertion_keystore_path", &c.ClientAssertionKeystorePath},
		{"client_assertion_keystore_password", &c.ClientAssertionKeystorePassword},
		{"client_assertion_keystore_key_alias", &c.ClientAssertionKeystoreKeyAlias},
		{"client_assertion_keystore_key_password", &c.ClientAssertionKeystoreKeyPassword},
		{"basic_auth_username", &c.BasicAuthUsername}, {"basic_auth_password", &c.BasicAuthPassword},
		{"oauth_token", &c.OAuthToken},
		{"ca_certificate_path", &c.CACertificatePath},
		{"client_certificate_path", &c.ClientCertificatePath}, {"client_key_path", &c.ClientKeyPath},
		{"token_cache_dir", &c.TokenCacheDir},
	}
}

// Secrets returns the secret values c holds (the client secret, the Basic
// password, the static token, the keystore passwords), for redaction.
func (c Config) Secrets() []string {
	var out []string
	for _, f := range c.stringFields() {
		if *f.p != "" && slices.Contains(SecretConfigKeys, f.key) {
			out = append(out, *f.p)
		}
	}
	return out
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
	c := Config(w.plainConfig)
	for _, t := range []struct {
		key string
		ms  *int64
		d   *time.Duration
	}{{"timeout_ms", w.TimeoutMS, &c.Timeout}, {"token_timeout_ms", w.TokenTimeoutMS, &c.TokenTimeout}} {
		if t.ms == nil {
			continue
		}
		if *t.ms < 0 || *t.ms > maxTimeoutMS {
			return Config{}, &Error{Kind: KindConfig, Op: "config", Msg: t.key + " must be between 0 and 86400000", Fields: []string{t.key}}
		}
		*t.d = time.Duration(*t.ms) * time.Millisecond
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

// maxTimeoutMS is the longest timeout accepted: a day.
const maxTimeoutMS = int64(24 * time.Hour / time.Millisecond)

// configKeys are the keys of the JSON form, the only ones an error about
// a value names.
var configKeys = func() []string {
	var keys []string
	for _, f := range new(Config).stringFields() {
		keys = append(keys, f.key)
	}
	return append(keys, "timeout_ms", "token_timeout_ms", "allow_insecure_http", "max_body_bytes")
}()

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

// MarshalJSON writes the JSON form with every secret redacted. It exists
// so that logging a Config can never leak one.
func (c Config) MarshalJSON() ([]byte, error) {
	w := configJSON{plainConfig: plainConfig(c.redacted())}
	ms, tms := int64(c.Timeout/time.Millisecond), int64(c.TokenTimeout/time.Millisecond)
	w.TimeoutMS = &ms
	if tms != 0 {
		w.TokenTimeoutMS = &tms
	}
	return jsonx.Marshal(w)
}

// redacted is c with each secret setting replaced by "[REDACTED]" and every
// other setting cleaned of the secrets: one may also sit in a URL (user
// info, a query parameter), as typed or escaped.
func (c Config) redacted() Config {
	secrets := c.Secrets()
	if len(secrets) == 0 {
		return c
	}
	var forms []string
	for _, s := range secrets {
		forms = append(forms, redact.SecretForms(s)...)
	}
	red := redactor(forms)
	for _, f := range c.stringFields() {
		switch {
		case *f.p == "":
		case slices.Contains(SecretConfigKeys, f.key):
			*f.p = "[REDACTED]"
		default:
			*f.p = red.clean(*f.p)
		}
	}
	return c
}

// String describes c with the secrets redacted: every setting that is set,
// by its JSON key.
func (c Config) String() string {
	r := c.redacted()
	var b strings.Builder
	b.WriteString("Config{")
	for _, f := range r.stringFields() {
		if *f.p != "" {
			fmt.Fprintf(&b, "%s:%q ", f.key, *f.p)
		}
	}
	fmt.Fprintf(&b, "timeout:%v", r.Timeout)
	if r.TokenTimeout != 0 {
		fmt.Fprintf(&b, " token_timeout:%v", r.TokenTimeout)
	}
	if r.AllowInsecureHTTP {
		b.WriteString(" allow_insecure_http:true")
	}
	if r.MaxBodyBytes != 0 {
		fmt.Fprintf(&b, " max_body_bytes:%d", r.MaxBodyBytes)
	}
	b.WriteString("}")
	return b.String()
}

// GoString makes %#v redact too.
func (c Config) GoString() string { return c.String() }

// level says where a setting came from, for the choices between settings
// (strategy, method, token URL or discovery): the higher level decides.
type level int

const (
	unset     level = iota
	fromEnv         // a legacy (ZEEBE_*) or ZBAUTH_* name
	fromEnvC8       // a Camunda 8.7+ (CAMUNDA_*) name
	explicit
)

func envLevel(name string) level {
	if strings.HasPrefix(name, "CAMUNDA_") {
		return fromEnvC8
	}
	return fromEnv
}

// Resolve fills every empty field of c from the environment (read through
// lookup; nil means os.LookupEnv; the names of EnvNames, first set wins)
// and then from the defaults, normalises the strategy, method and REST
// address (no trailing slash) and validates the result. A validation
// failure is one KindConfig error naming every field at fault, and the
// variable to set.
func (c Config) Resolve(lookup func(string) (string, bool)) (Config, error) {
	if lookup == nil {
		lookup = os.LookupEnv
	}
	env := func(key string) (string, string) {
		for _, name := range EnvNames[key] {
			if v, _ := lookup(name); strings.TrimSpace(v) != "" {
				return strings.TrimSpace(v), name
			}
		}
		return "", ""
	}
	var fields, problems []string
	bad := func(field, why string) {
		fields = append(fields, field)
		problems = append(problems, field+" "+why)
	}
	levels := map[string]level{}
	for _, f := range c.stringFields() {
		if *f.p != "" {
			levels[f.key] = explicit
		} else if v, name := env(f.key); v != "" {
			*f.p, levels[f.key] = v, envLevel(name)
		}
	}
	if c.RESTAddress == "" {
		region, cluster := envValue(lookup, EnvClusterRegion), envValue(lookup, EnvClusterID)
		if region != "" && cluster != "" {
			c.RESTAddress = "https://" + region + ".zeebe.camunda.io/" + cluster
		}
	}
	c.RESTAddress = strings.TrimRight(c.RESTAddress, "/")
	if !c.AllowInsecureHTTP {
		if v, _ := env("allow_insecure_http"); truthy(v) {
			c.AllowInsecureHTTP = true
		}
	}
	for _, t := range []struct {
		key string
		d   *time.Duration
	}{{"timeout_ms", &c.Timeout}, {"token_timeout_ms", &c.TokenTimeout}} {
		if *t.d != 0 {
			continue
		}
		if v, name := env(t.key); v != "" {
			d, ok := parseMillis(v)
			if !ok {
				bad(t.key, "must be a number of milliseconds from 0 to 86400000 (set "+name+")")
			}
			*t.d = d
		}
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = DefaultMaxBody
	}

	c.AuthStrategy = strings.ToUpper(strings.TrimSpace(c.AuthStrategy))
	switch c.AuthStrategy {
	case AuthOAuth, AuthBasic, AuthBearer, AuthNone:
	case "":
		// What is set at the highest level decides, so that an explicit
		// Basic username is not overruled by a ZEEBE_CLIENT_ID left in the
		// environment; at one level, in this order.
		c.AuthStrategy = AuthOAuth
		best := unset
		for _, k := range []struct{ key, strategy string }{
			{"client_id", AuthOAuth}, {"basic_auth_username", AuthBasic}, {"oauth_token", AuthBearer},
		} {
			if l := levels[k.key]; l > best {
				best, c.AuthStrategy = l, k.strategy
			}
		}
	default:
		bad("auth_strategy", "must be OAUTH, BASIC, BEARER or NONE (set "+EnvAuthStrategy+")")
	}
	if c.AuthStrategy == AuthOAuth {
		c.resolveOAuth(levels, bad)
	}
	if c.Audience == "" {
		c.Audience = DefaultAudience
	}
	c.validate(bad)
	if len(fields) == 0 {
		return c, nil
	}
	return c, &Error{Kind: KindConfig, Op: "config", Msg: "invalid configuration: " + strings.Join(problems, "; "), Fields: fields}
}

// resolveOAuth settles the token endpoint (a token URL, discovery or the
// SaaS default) and the client authentication method.
func (c *Config) resolveOAuth(levels map[string]level, bad func(field, why string)) {
	discovery := max(levels["issuer_url"], levels["well_known_configuration_url"])
	if discovery > levels["authorization_server_url"] {
		c.AuthorizationServerURL = "" // found by discovery
	} else {
		c.IssuerURL, c.WellKnownConfigurationURL = "", ""
		if c.AuthorizationServerURL == "" {
			c.AuthorizationServerURL = DefaultAuthorizationServerURL
		}
	}
	c.TokenAuthMethod = strings.ToLower(strings.TrimSpace(c.TokenAuthMethod))
	switch c.TokenAuthMethod {
	case MethodClientSecretPost, MethodClientSecretBasic, MethodPrivateKeyJWT:
	case "":
		key := max(levels["client_assertion_key_path"], levels["client_assertion_keystore_path"])
		switch {
		case key != unset && key >= levels["client_secret"]:
			c.TokenAuthMethod = MethodPrivateKeyJWT
		case c.DiscoveryURL() == "":
			c.TokenAuthMethod = MethodClientSecretPost
		}
	default:
		bad("token_auth_method", "must be client_secret_post, client_secret_basic or private_key_jwt (set "+EnvTokenAuthMethod+")")
	}
}

// DiscoveryURL is the OpenID discovery document the client reads its token
// endpoint from, or "" when the token URL is configured.
func (c Config) DiscoveryURL() string {
	if c.WellKnownConfigurationURL != "" {
		return c.WellKnownConfigurationURL
	}
	if c.IssuerURL != "" {
		return strings.TrimRight(c.IssuerURL, "/") + "/.well-known/openid-configuration"
	}
	return ""
}

func envValue(lookup func(string) (string, bool), name string) string {
	v, _ := lookup(name)
	return strings.TrimSpace(v)
}

func truthy(v string) bool {
	switch strings.ToLower(v) {
	case "1", "true", "yes", "on":
		return true
	}
	return false
}

// parseMillis reads a timeout from the environment: milliseconds, or a
// duration with a unit ("5s", "1500ms").
func parseMillis(v string) (time.Duration, bool) {
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n < 0 || n > maxTimeoutMS {
			return 0, false
		}
		return time.Duration(n) * time.Millisecond, true
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 || d > 24*time.Hour {
		return 0, false
	}
	return d, true
}

// need names the variable that sets key, for "is missing" errors.
func need(key string) string {
	if names := EnvNames[key]; len(names) > 0 {
		return " (set " + strings.Join(names, " or ") + ")"
	}
	return ""
}

// validate reports what is wrong with a resolved c through bad.
func (c Config) validate(bad func(field, why string)) {
	for _, f := range c.stringFields() {
		// From the environment (or a Config built in Go) nothing has
		// replaced such bytes yet; they would go out as they are.
		if !utf8.ValidString(*f.p) {
			bad(f.key, "is not valid UTF-8")
		}
	}
	switch c.AuthStrategy {
	case AuthOAuth:
		c.validateOAuth(bad)
	case AuthBasic:
		if c.BasicAuthUsername == "" {
			bad("basic_auth_username", "is missing for the BASIC strategy"+need("basic_auth_username"))
		} else if strings.ContainsRune(c.BasicAuthUsername, ':') {
			bad("basic_auth_username", "must not contain a colon (RFC 7617)")
		}
		if c.BasicAuthPassword == "" {
			bad("basic_auth_password", "is missing for the BASIC strategy"+need("basic_auth_password"))
		}
		for _, f := range []field{{"basic_auth_username", &c.BasicAuthUsername}, {"basic_auth_password", &c.BasicAuthPassword}} {
			if strings.ContainsFunc(*f.p, isControl) {
				bad(f.key, "must not contain control characters")
			}
		}
	case AuthBearer:
		if c.OAuthToken == "" {
			bad("oauth_token", "is missing for the BEARER strategy"+need("oauth_token"))
		} else if !validAccessToken(c.OAuthToken) {
			bad("oauth_token", "may hold only visible ASCII characters, no spaces or control characters")
		}
	}
	if c.RESTAddress == "" {
		bad("rest_address", "is missing (set CAMUNDA_REST_ADDRESS or "+EnvRESTAddress+", or "+EnvClusterRegion+" and "+EnvClusterID+")")
	} else if why := checkHTTPURL(c.RESTAddress); why != "" {
		bad("rest_address", why)
	} else if u, _ := url.Parse(c.RESTAddress); u.RawQuery != "" || u.Fragment != "" {
		bad("rest_address", "must not have a query or fragment")
	}
	if c.Timeout < 0 {
		bad("timeout_ms", "must not be negative")
	}
	if c.TokenTimeout < 0 {
		bad("token_timeout_ms", "must not be negative")
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
		urls := []struct{ name, url string }{{"rest_address", c.RESTAddress}}
		if c.AuthStrategy == AuthOAuth { // the others never contact the token endpoint
			urls = append(urls, struct{ name, url string }{"authorization_server_url", c.AuthorizationServerURL},
				struct{ name, url string }{"issuer_url", c.DiscoveryURL()})
		}
		for _, f := range urls {
			if insecureRemote(f.url) {
				bad(f.name, "uses plain http:// to a host that is not loopback, which would expose "+
					"the credentials; use https://, or opt in with allow_insecure_http / "+EnvAllowInsecureHTTP+"=true")
			}
		}
	}
}

// validateOAuth checks what the OAUTH strategy needs.
func (c Config) validateOAuth(bad func(field, why string)) {
	if c.ClientID == "" {
		bad("client_id", "is missing"+need("client_id"))
	}
	switch c.TokenAuthMethod {
	case MethodPrivateKeyJWT:
		switch {
		case c.ClientAssertionKeyPath == "" && c.ClientAssertionKeystorePath == "":
			bad("client_assertion_key_path", "or client_assertion_keystore_path is needed for private_key_jwt"+need("client_assertion_key_path"))
		case c.ClientAssertionKeyPath != "" && c.ClientAssertionKeystorePath != "":
			bad("client_assertion_key_path", "and client_assertion_keystore_path exclude each other: set one")
		}
	default:
		if c.ClientSecret == "" {
			bad("client_secret", "is missing"+need("client_secret"))
		}
	}
	if c.AuthorizationServerURL != "" {
		if why := checkHTTPURL(c.AuthorizationServerURL); why != "" {
			bad("authorization_server_url", why)
		}
	} else if why := checkHTTPURL(c.DiscoveryURL()); why != "" {
		if c.WellKnownConfigurationURL != "" {
			bad("well_known_configuration_url", why)
		} else {
			bad("issuer_url", why)
		}
	}
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

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
