// Package devcluster is an embedded stand-in for a Camunda 8 cluster: an
// OAuth2 token endpoint (client-credentials grant, with client_secret_post,
// client_secret_basic or private_key_jwt client authentication) that issues
// signed JWTs, its OpenID discovery document, and the REST API's topology
// endpoints, which verify the JWTs (or Basic credentials, or nothing, by
// mode). It listens on loopback only.
//
// Tests in every language steer it over HTTP through its /_dev/ control
// endpoints (see docs/dev-cluster.md): inject faults, revoke tokens, change
// the token lifetime, and read request counters.
package devcluster

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zbauth/zbauth/internal/jsonx"
)

// Options configures a Cluster. Zero fields take the defaults shown.
type Options struct {
	Addr          string        // "127.0.0.1:0": a free loopback port
	ClientID      string        // "zbauth-dev"
	ClientSecret  string        // "zbauth-dev-secret"
	Audience      string        // "zeebe.camunda.io"
	TokenLifetime time.Duration // 1h
	Brokers       int           // 3
	Partitions    int           // 3
	Replication   int           // 3
	Version       string        // "8.7.0-dev"

	// Auth is how the REST API authenticates requests: "oauth" (a Bearer
	// token the token endpoint issued, or StaticToken), "basic"
	// (BasicUsername and BasicPassword) or "none" (every request, with or
	// without an Authorization header).
	Auth          string // "oauth"
	BasicUsername string // "zbauth-dev-user"
	BasicPassword string // "zbauth-dev-password"
	StaticToken   string // "zbauth-dev-static-token"
	// TokenAuthMethod is the one client authentication method the token
	// endpoint accepts (client_secret_post, client_secret_basic or
	// private_key_jwt); "" accepts each of them.
	TokenAuthMethod string
	// JWTExp, when positive, makes issued JWTs carry exp = iat + JWTExp
	// while expires_in stays TokenLifetime: the IdPs that hand out cached
	// tokens behave so.
	JWTExp time.Duration
	// AssertionCertPEM, when set, is the client certificate registered for
	// private_key_jwt instead of the generated one (whose files are written
	// all the same).
	AssertionCertPEM string
	// KeystorePassword encrypts the generated client.p12.
	KeystorePassword string // "zbauth-dev-keystore"

	// JWKS mode (jwks.go): with JWKSURL or Issuer set, the cluster issues no
	// tokens (its token endpoint answers an error) and the REST API verifies
	// tokens of an external issuer instead: RS/PS/ES signatures against the
	// issuer's JWKS, exp, nbf, iss (when Issuer is set) and aud, which must
	// contain Audience.
	JWKSURL  string // the issuer's JWKS; "": from Issuer's OpenID discovery
	Issuer   string // the required iss; "": any
	TokenURL string // the issuer's token endpoint, only for Env; "": from discovery
}

// Fault changes how the cluster answers the next requests to one target.
// Faults are consumed in the order they were added.
type Fault struct {
	// Target is "token" (the token endpoint), "discovery" (the OpenID
	// discovery document) or "api" (the REST API).
	Target string `json:"target"`
	// Times is how many requests the fault applies to; 0 means every request
	// until the faults are cleared.
	Times int `json:"times,omitempty"`
	// DelayMS delays the answer.
	DelayMS int `json:"delay_ms,omitempty"`
	// Status, when non-zero, is answered instead of the normal response,
	// with Body (or a matching OAuth error / problem document when Body is
	// empty) and ContentType.
	Status      int    `json:"status,omitempty"`
	Body        string `json:"body,omitempty"`
	ContentType string `json:"content_type,omitempty"`
	// BodyBase64 is Body in standard base64, for bytes a JSON string cannot
	// carry (invalid UTF-8): the control endpoint decodes it into Body.
	BodyBase64 string `json:"body_base64,omitempty"`
	// BodyBytes, when non-zero, streams that many filler bytes as the body.
	BodyBytes int64 `json:"body_bytes,omitempty"`
	// RetryAfter sets the Retry-After header.
	RetryAfter string `json:"retry_after,omitempty"`
	// Location sets the Location header (for redirects).
	Location string `json:"location,omitempty"`
	// Close drops the connection without an answer.
	Close bool `json:"close,omitempty"`
}

// Stats counts requests since the cluster started or was last reset.
type Stats struct {
	TokenRequests  int64             `json:"token_requests"`
	TokensIssued   int64             `json:"tokens_issued"`
	APIRequests    int64             `json:"api_requests"`
	APIRejected    int64             `json:"api_rejected"`
	LastTokenForm  map[string]string `json:"last_token_form,omitempty"`
	LastAuthHeader bool              `json:"last_auth_header_bearer"`

	DiscoveryRequests int64 `json:"discovery_requests"`
	// LastClientAuth is the client authentication method of the last token
	// request ("" when it used none, or more than one).
	LastClientAuth string `json:"last_client_auth"`
	// LastAssertionHeader and LastAssertionClaims are the decoded header and
	// claims of the last token request's client_assertion, when it had one
	// that decodes.
	LastAssertionHeader map[string]any `json:"last_assertion_header,omitempty"`
	LastAssertionClaims map[string]any `json:"last_assertion_claims,omitempty"`
	// LastAPIAuthScheme is the Authorization scheme of the last REST
	// request: "Bearer", "Basic" or "".
	LastAPIAuthScheme string `json:"last_api_auth_scheme"`
}

// settings are what POST /_dev/config changes at run time; Reset restores
// the values the start options gave.
type settings struct {
	auth        string
	tokenMethod string
	jwtExp      time.Duration // < 0: exp = iat + the token lifetime
	v1Topology  bool
	discovery   []string          // nil: derived from tokenMethod
	cert        *x509.Certificate // registered for private_key_jwt
}

// Cluster is a running dev cluster.
type Cluster struct {
	opts Options
	key  []byte
	jwks *jwksVerifier // non-nil in JWKS mode
	keys *keyMaterial  // nil in JWKS mode
	srv  *http.Server
	ln   net.Listener
	init settings

	lifetimeNS   atomic.Int64
	generation   atomic.Int64 // tokens of older generations are revoked
	tokenReqs    atomic.Int64
	tokensIssued atomic.Int64
	apiReqs      atomic.Int64
	apiRejected  atomic.Int64
	discoReqs    atomic.Int64

	mu                  sync.Mutex
	faults              []*Fault
	lastForm            map[string]string
	bearer              bool
	cur                 settings
	seenJTI             map[string]float64 // client_assertion jti -> its exp, forgotten after it
	lastClientAuth      string
	lastAssertionHead   map[string]any
	lastAssertionClaims map[string]any
	lastAPIScheme       string
}

// Start listens and serves until Close.
func Start(opts Options) (*Cluster, error) {
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:0"
	}
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	def(&opts.ClientID, "zbauth-dev")
	def(&opts.ClientSecret, "zbauth-dev-secret")
	def(&opts.Audience, "zeebe.camunda.io")
	def(&opts.Version, "8.7.0-dev")
	def(&opts.Auth, AuthOAuth)
	def(&opts.BasicUsername, "zbauth-dev-user")
	def(&opts.BasicPassword, "zbauth-dev-password")
	def(&opts.StaticToken, "zbauth-dev-static-token")
	def(&opts.KeystorePassword, "zbauth-dev-keystore")
	if !validAuth(opts.Auth) {
		return nil, fmt.Errorf("devcluster: unknown auth mode %q (oauth, basic, none)", opts.Auth)
	}
	if opts.TokenAuthMethod != "" && !validMethod(opts.TokenAuthMethod) {
		return nil, fmt.Errorf("devcluster: unknown token auth method %q (%s)", opts.TokenAuthMethod, strings.Join(Methods, ", "))
	}
	jwksMode := opts.JWKSURL != "" || opts.Issuer != ""
	if jwksMode && opts.Auth != AuthOAuth {
		return nil, errors.New("devcluster: JWKS mode verifies Bearer tokens: the auth mode must be oauth")
	}
	var assertionCert *x509.Certificate
	if opts.AssertionCertPEM != "" {
		var err error
		if assertionCert, err = parseCertPEM(opts.AssertionCertPEM); err != nil {
			return nil, fmt.Errorf("devcluster: AssertionCertPEM: %w", err)
		}
	}
	if opts.TokenLifetime <= 0 {
		opts.TokenLifetime = time.Hour
	}
	for _, p := range []*int{&opts.Brokers, &opts.Partitions, &opts.Replication} {
		if *p <= 0 {
			*p = 3
		}
	}
	if opts.Replication > opts.Brokers {
		opts.Replication = opts.Brokers
	}
	host, _, err := net.SplitHostPort(opts.Addr)
	if err != nil {
		return nil, err
	}
	if !isLoopback(host) {
		return nil, errors.New("devcluster: refusing to listen on a non-loopback address")
	}
	ln, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		return nil, err
	}
	c := &Cluster{opts: opts, key: make([]byte, 32), ln: ln, seenJTI: map[string]float64{}}
	fail := func(err error) (*Cluster, error) {
		ln.Close()
		if c.keys != nil {
			os.RemoveAll(c.keys.dir)
		}
		return nil, err
	}
	if jwksMode {
		if c.jwks, err = startJWKS(&c.opts); err != nil {
			return fail(err)
		}
	} else if c.keys, err = writeKeyMaterial(opts.ClientID, opts.KeystorePassword); err != nil {
		return fail(fmt.Errorf("devcluster: client key material: %w", err))
	}
	if _, err := rand.Read(c.key); err != nil {
		return fail(err)
	}
	c.init = settings{auth: opts.Auth, tokenMethod: opts.TokenAuthMethod, jwtExp: -1, v1Topology: true, cert: assertionCert}
	if opts.JWTExp > 0 {
		c.init.jwtExp = opts.JWTExp
	}
	if c.init.cert == nil && c.keys != nil {
		c.init.cert = c.keys.cert
	}
	c.cur = c.init
	c.lifetimeNS.Store(int64(opts.TokenLifetime))
	mux := http.NewServeMux()
	mux.HandleFunc("/oauth/token", c.handleToken)
	mux.HandleFunc("/.well-known/openid-configuration", c.handleDiscovery)
	mux.HandleFunc("/v1/topology", c.api(c.handleTopologyV1))
	mux.HandleFunc("/v2/topology", c.api(c.handleTopologyV2))
	mux.HandleFunc("/v2/echo", c.api(c.handleEcho))
	mux.HandleFunc("/_dev/faults", c.handleFaults)
	mux.HandleFunc("/_dev/stats", c.handleStats)
	mux.HandleFunc("/_dev/reset", c.handleReset)
	mux.HandleFunc("/_dev/revoke", c.handleRevoke)
	mux.HandleFunc("/_dev/config", c.handleConfig)
	mux.HandleFunc("/", c.api(func(w http.ResponseWriter, r *http.Request) {
		problem(w, http.StatusNotFound, "Not Found", "no such endpoint in the dev cluster: "+r.URL.Path)
	}))
	c.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go c.srv.Serve(ln)
	return c, nil
}

// URL is the cluster's base URL, such as http://127.0.0.1:41234.
func (c *Cluster) URL() string { return "http://" + c.ln.Addr().String() }

// TokenURL is the token endpoint.
func (c *Cluster) TokenURL() string { return c.URL() + "/oauth/token" }

// RESTAddress is the REST API's base address.
func (c *Cluster) RESTAddress() string { return c.URL() }

// DiscoveryURL is the OpenID discovery document; the issuer is URL().
func (c *Cluster) DiscoveryURL() string { return c.URL() + "/.well-known/openid-configuration" }

// AssertionKeyPath is the generated client key (PEM, PKCS#8) for
// private_key_jwt; "" in JWKS mode, as are the three below.
func (c *Cluster) AssertionKeyPath() string {
	return c.keyFile(func(m *keyMaterial) string { return m.keyPath })
}

// AssertionCertPath is the generated key's self-signed certificate (PEM),
// the one registered unless Options.AssertionCertPEM names another.
func (c *Cluster) AssertionCertPath() string {
	return c.keyFile(func(m *keyMaterial) string { return m.certPath })
}

// AssertionKeystorePath is a PKCS#12 keystore holding the generated key and
// certificate, encrypted with AssertionKeystorePassword.
func (c *Cluster) AssertionKeystorePath() string {
	return c.keyFile(func(m *keyMaterial) string { return m.p12Path })
}

// AssertionKeystorePassword is the PKCS#12 keystore's password.
func (c *Cluster) AssertionKeystorePassword() string {
	if c.keys == nil {
		return ""
	}
	return c.opts.KeystorePassword
}

func (c *Cluster) keyFile(f func(*keyMaterial) string) string {
	if c.keys == nil {
		return ""
	}
	return f(c.keys)
}

// Options returns the options in effect, defaults filled in.
func (c *Cluster) Options() Options { return c.opts }

// Env returns the environment that points a zbauth client at the cluster,
// as KEY=VALUE strings, for the auth mode and token auth method the cluster
// was started with. The ZBAUTH_DEV_* names are read by tests, not by
// zbauth; ZBAUTH_DEV_URL comes last, so that a reader of `zbauth
// dev-cluster`'s output can stop at it.
func (c *Cluster) Env() []string {
	if c.jwks != nil {
		return append(c.jwksEnv(), "ZBAUTH_DEV_URL="+c.URL())
	}
	var env []string
	switch c.opts.Auth {
	case AuthBasic:
		env = []string{
			"CAMUNDA_AUTH_STRATEGY=BASIC",
			"CAMUNDA_BASIC_AUTH_USERNAME=" + c.opts.BasicUsername,
			"CAMUNDA_BASIC_AUTH_PASSWORD=" + c.opts.BasicPassword,
			"ZEEBE_REST_ADDRESS=" + c.RESTAddress(),
		}
	case AuthNone:
		env = []string{"CAMUNDA_AUTH_STRATEGY=NONE", "ZEEBE_REST_ADDRESS=" + c.RESTAddress()}
	default:
		env = []string{
			"ZEEBE_REST_ADDRESS=" + c.RESTAddress(),
			"ZEEBE_AUTHORIZATION_SERVER_URL=" + c.TokenURL(),
			"ZEEBE_CLIENT_ID=" + c.opts.ClientID,
			"ZEEBE_CLIENT_SECRET=" + c.opts.ClientSecret,
			"ZEEBE_TOKEN_AUDIENCE=" + c.opts.Audience,
		}
		// A required method is exported too, or a command run under
		// `zbauth dev-cluster --token-auth-method M --` could not succeed.
		// The generated key is named only when its certificate is the
		// registered one; a caller who registered another has its key.
		switch c.opts.TokenAuthMethod {
		case MethodSecretBasic:
			env = append(env, "CAMUNDA_TOKEN_AUTH_METHOD="+MethodSecretBasic)
		case MethodPrivateKeyJWT:
			env = append(env, "CAMUNDA_TOKEN_AUTH_METHOD="+MethodPrivateKeyJWT)
			if c.opts.AssertionCertPEM == "" {
				env = append(env, "CAMUNDA_CLIENT_ASSERTION_KEY_PATH="+c.AssertionKeyPath(),
					"CAMUNDA_CLIENT_ASSERTION_CERT_PATH="+c.AssertionCertPath())
			}
		}
	}
	return append(env,
		"ZBAUTH_DEV_BASIC_USERNAME="+c.opts.BasicUsername,
		"ZBAUTH_DEV_BASIC_PASSWORD="+c.opts.BasicPassword,
		"ZBAUTH_DEV_STATIC_TOKEN="+c.opts.StaticToken,
		"ZBAUTH_DEV_ASSERTION_KEY_PATH="+c.AssertionKeyPath(),
		"ZBAUTH_DEV_ASSERTION_CERT_PATH="+c.AssertionCertPath(),
		"ZBAUTH_DEV_ASSERTION_KEYSTORE_PATH="+c.AssertionKeystorePath(),
		"ZBAUTH_DEV_ASSERTION_KEYSTORE_PASSWORD="+c.AssertionKeystorePassword(),
		"ZBAUTH_DEV_URL="+c.URL(),
	)
}

// Close stops the server and removes the key material.
func (c *Cluster) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	err := c.srv.Shutdown(ctx)
	if err != nil {
		err = c.srv.Close()
	}
	if c.keys != nil {
		os.RemoveAll(c.keys.dir)
	}
	return err
}

// AddFault queues f.
func (c *Cluster) AddFault(f Fault) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.faults = append(c.faults, &f)
}

// ClearFaults removes every queued fault.
func (c *Cluster) ClearFaults() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.faults = nil
}

// Reset clears faults, counters and remembered assertion ids, and restores
// every setting the start options gave.
func (c *Cluster) Reset() {
	c.ClearFaults()
	c.tokenReqs.Store(0)
	c.tokensIssued.Store(0)
	c.apiReqs.Store(0)
	c.apiRejected.Store(0)
	c.discoReqs.Store(0)
	c.lifetimeNS.Store(int64(c.opts.TokenLifetime))
	c.mu.Lock()
	c.lastForm, c.bearer = nil, false
	c.cur = c.init
	c.seenJTI = map[string]float64{}
	c.lastClientAuth, c.lastAssertionHead, c.lastAssertionClaims, c.lastAPIScheme = "", nil, nil, ""
	c.mu.Unlock()
}

func (c *Cluster) settings() settings {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cur
}

// RevokeAll makes every token issued so far invalid.
func (c *Cluster) RevokeAll() {
	c.generation.Add(1)
	if c.jwks != nil {
		c.jwks.revoke()
	}
}

// SetTokenLifetime changes expires_in for tokens issued from now on.
func (c *Cluster) SetTokenLifetime(d time.Duration) { c.lifetimeNS.Store(int64(d)) }

// Stats returns the counters.
func (c *Cluster) Stats() Stats {
	c.mu.Lock()
	form := make(map[string]string, len(c.lastForm))
	for k, v := range c.lastForm {
		form[k] = v
	}
	st := Stats{
		TokenRequests: c.tokenReqs.Load(), TokensIssued: c.tokensIssued.Load(),
		APIRequests: c.apiReqs.Load(), APIRejected: c.apiRejected.Load(),
		LastTokenForm: form, LastAuthHeader: c.bearer,
		DiscoveryRequests: c.discoReqs.Load(), LastClientAuth: c.lastClientAuth,
		LastAssertionHeader: copyMap(c.lastAssertionHead), LastAssertionClaims: copyMap(c.lastAssertionClaims),
		LastAPIAuthScheme: c.lastAPIScheme,
	}
	c.mu.Unlock()
	return st
}

// takeFault consumes the next fault for target, if any.
func (c *Cluster) takeFault(target string) *Fault {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, f := range c.faults {
		if f.Target != target {
			continue
		}
		cp := *f
		if f.Times > 0 {
			f.Times--
			if f.Times == 0 {
				c.faults = append(c.faults[:i], c.faults[i+1:]...)
			}
		}
		return &cp
	}
	return nil
}

// applyFault serves f and reports whether it answered the request.
func applyFault(w http.ResponseWriter, r *http.Request, f *Fault, defaultBody func(int) (string, string)) bool {
	if f == nil {
		return false
	}
	if f.DelayMS > 0 {
		// net/http notices a client hanging up (and cancels r.Context())
		// only once the request body has been read: buffer it first, or a
		// delayed token request outlives its client (and delays Close).
		if body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20)); err == nil {
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		select {
		case <-time.After(time.Duration(f.DelayMS) * time.Millisecond):
		case <-r.Context().Done():
			return true
		}
	}
	if f.Close {
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				conn.Close()
				return true
			}
		}
	}
	if f.Status == 0 && f.Body == "" && f.BodyBytes == 0 {
		return false
	}
	status := f.Status
	if status == 0 {
		status = http.StatusOK
	}
	body, ctype := f.Body, f.ContentType
	if body == "" && f.BodyBytes == 0 {
		body, ctype = defaultBody(status)
	}
	if ctype == "" {
		ctype = "application/json"
	}
	w.Header().Set("Content-Type", ctype)
	if f.RetryAfter != "" {
		w.Header().Set("Retry-After", f.RetryAfter)
	}
	if f.Location != "" {
		w.Header().Set("Location", f.Location)
	}
	if f.BodyBytes > 0 {
		w.Header().Set("Content-Length", strconv.FormatInt(f.BodyBytes, 10))
		w.WriteHeader(status)
		chunk := []byte(strings.Repeat("x", 32<<10))
		for n := f.BodyBytes; n > 0; {
			m := int64(len(chunk))
			if n < m {
				m = n
			}
			if _, err := w.Write(chunk[:m]); err != nil {
				return true
			}
			n -= m
		}
		return true
	}
	w.WriteHeader(status)
	w.Write([]byte(body))
	return true
}

func (c *Cluster) handleToken(w http.ResponseWriter, r *http.Request) {
	c.tokenReqs.Add(1)
	if applyFault(w, r, c.takeFault("token"), oauthErrorBody) {
		return
	}
	if c.jwks != nil {
		oauthError(w, http.StatusBadRequest, "invalid_request", "this dev cluster verifies tokens of an external issuer (JWKS mode): request tokens from that issuer")
		return
	}
	if r.Method != http.MethodPost {
		oauthError(w, http.StatusMethodNotAllowed, "invalid_request", "use POST")
		return
	}
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		oauthError(w, http.StatusBadRequest, "invalid_request", "the body must be application/x-www-form-urlencoded")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_request", "malformed form body")
		return
	}
	form := map[string]string{}
	for k := range r.PostForm {
		if k == "client_secret" || k == "client_assertion" {
			form[k] = "(set)"
		} else {
			form[k] = r.PostForm.Get(k)
		}
	}
	method := ""
	if used := usedMethods(r); len(used) == 1 {
		method = used[0]
	}
	c.mu.Lock()
	c.lastForm, c.lastClientAuth = form, method
	c.lastAssertionHead, c.lastAssertionClaims = nil, nil
	s := c.cur
	c.mu.Unlock()
	if r.PostForm.Get("grant_type") != "client_credentials" {
		oauthError(w, http.StatusBadRequest, "unsupported_grant_type", "only client_credentials is supported")
		return
	}
	if _, f := c.authenticateClient(r, s); f != nil {
		if f.challenge && f.status == http.StatusUnauthorized {
			w.Header().Set("WWW-Authenticate", basicChallenge)
		}
		oauthError(w, f.status, f.code, f.desc)
		return
	}
	if aud := r.PostForm.Get("audience"); aud != c.opts.Audience {
		oauthError(w, http.StatusBadRequest, "invalid_target", "unknown audience")
		return
	}
	lifetime := time.Duration(c.lifetimeNS.Load())
	jwtLife := lifetime
	if s.jwtExp >= 0 {
		jwtLife = s.jwtExp
	}
	now := time.Now()
	tok := c.sign(map[string]any{
		"iss":   c.URL() + "/",
		"sub":   c.opts.ClientID,
		"aud":   c.opts.Audience,
		"iat":   now.Unix(),
		"exp":   now.Add(jwtLife).Unix(),
		"jti":   randomHex(8),
		"gen":   c.generation.Load(),
		"scope": r.PostForm.Get("scope"),
	})
	c.tokensIssued.Add(1)
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token": tok,
		"expires_in":   int64(lifetime / time.Second),
		"token_type":   "Bearer",
		"scope":        r.PostForm.Get("scope"),
	})
}

// api wraps a REST handler with fault injection and authentication.
func (c *Cluster) api(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c.apiReqs.Add(1)
		auth := r.Header.Get("Authorization")
		scheme, _, _ := strings.Cut(auth, " ")
		switch {
		case strings.EqualFold(scheme, "Bearer"):
			scheme = "Bearer"
		case strings.EqualFold(scheme, "Basic"):
			scheme = "Basic"
		default:
			scheme = ""
		}
		c.mu.Lock()
		c.bearer = strings.HasPrefix(auth, "Bearer ")
		c.lastAPIScheme = scheme
		s := c.cur
		c.mu.Unlock()
		if applyFault(w, r, c.takeFault("api"), problemBody) {
			return
		}
		if why, challenge := c.authorize(r, s.auth); why != "" {
			c.apiRejected.Add(1)
			w.Header().Set("WWW-Authenticate", challenge)
			problem(w, http.StatusUnauthorized, "Unauthorized", why)
			return
		}
		h(w, r)
	}
}

// authorize checks a REST request under the auth mode and explains what is
// wrong, with the WWW-Authenticate challenge to answer, or returns "".
func (c *Cluster) authorize(r *http.Request, mode string) (why, challenge string) {
	switch mode {
	case AuthNone:
		return "", ""
	case AuthBasic:
		user, pass, ok := r.BasicAuth()
		if !ok {
			return "missing Basic credentials", basicChallenge
		}
		userOK := subtle.ConstantTimeCompare([]byte(user), []byte(c.opts.BasicUsername))
		passOK := subtle.ConstantTimeCompare([]byte(pass), []byte(c.opts.BasicPassword))
		if userOK&passOK != 1 {
			return "wrong Basic credentials", basicChallenge
		}
		return "", ""
	}
	auth := r.Header.Get("Authorization")
	if tok, ok := strings.CutPrefix(auth, "Bearer "); ok && c.jwks == nil &&
		subtle.ConstantTimeCompare([]byte(tok), []byte(c.opts.StaticToken)) == 1 {
		return "", ""
	}
	if why := c.verify(auth); why != "" {
		return why, `Bearer error="invalid_token"`
	}
	return "", ""
}

// handleDiscovery serves the OpenID discovery document (OpenID Connect
// Discovery 1.0 §4; RFC 8414 names the same fields).
func (c *Cluster) handleDiscovery(w http.ResponseWriter, r *http.Request) {
	c.discoReqs.Add(1)
	if applyFault(w, r, c.takeFault("discovery"), oauthErrorBody) {
		return
	}
	if r.Method != http.MethodGet {
		problem(w, http.StatusMethodNotAllowed, "Method Not Allowed", "use GET")
		return
	}
	if c.jwks != nil {
		problem(w, http.StatusNotFound, "Not Found", "this dev cluster issues no tokens (JWKS mode): use the external issuer's discovery document")
		return
	}
	s := c.settings()
	methods := s.discovery
	switch {
	case methods != nil:
	case s.tokenMethod != "":
		methods = []string{s.tokenMethod}
	default:
		methods = Methods
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                c.URL(),
		"token_endpoint":                        c.TokenURL(),
		"grant_types_supported":                 []string{"client_credentials"},
		"token_endpoint_auth_methods_supported": methods,
		"token_endpoint_auth_signing_alg_values_supported": []string{"RS256", "PS256", "ES256"},
	})
}

func (c *Cluster) handleTopologyV1(w http.ResponseWriter, r *http.Request) {
	if !c.settings().v1Topology {
		problem(w, http.StatusNotFound, "Not Found", "no such endpoint in the dev cluster: "+r.URL.Path)
		return
	}
	c.handleTopology(w, r, false)
}

func (c *Cluster) handleTopologyV2(w http.ResponseWriter, r *http.Request) {
	c.handleTopology(w, r, true)
}

func (c *Cluster) handleTopology(w http.ResponseWriter, r *http.Request, v2 bool) {
	if r.Method != http.MethodGet {
		problem(w, http.StatusMethodNotAllowed, "Method Not Allowed", "use GET")
		return
	}
	o := c.opts
	type part struct {
		PartitionID int    `json:"partitionId"`
		Role        string `json:"role"`
		Health      string `json:"health"`
	}
	type broker struct {
		NodeID     int    `json:"nodeId"`
		Host       string `json:"host"`
		Port       int    `json:"port"`
		Version    string `json:"version"`
		Partitions []part `json:"partitions"`
	}
	brokers := make([]broker, o.Brokers)
	for b := range brokers {
		brokers[b] = broker{NodeID: b, Host: fmt.Sprintf("zeebe-%d.dev.local", b), Port: 26501, Version: o.Version, Partitions: []part{}}
	}
	// Partition p lives on Replication consecutive brokers; the first leads.
	for p := 1; p <= o.Partitions; p++ {
		for k := 0; k < o.Replication; k++ {
			b := (p - 1 + k) % o.Brokers
			role := "follower"
			if k == 0 {
				role = "leader"
			}
			brokers[b].Partitions = append(brokers[b].Partitions, part{PartitionID: p, Role: role, Health: "healthy"})
		}
	}
	doc := map[string]any{
		"brokers":           brokers,
		"clusterSize":       o.Brokers,
		"partitionsCount":   o.Partitions,
		"replicationFactor": o.Replication,
		"gatewayVersion":    o.Version,
	}
	if v2 {
		// Camunda 8.8's /v2/topology: the id of the last completed cluster
		// change ("-1" before any) and the cluster id, both strings.
		doc["lastCompletedChangeId"] = "-1"
		doc["clusterId"] = "zbauth-dev"
	}
	writeJSON(w, http.StatusOK, doc)
}

func (c *Cluster) handleEcho(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
	var body any
	if r.ContentLength != 0 {
		if err := jsonDecode(r, &body); err != nil {
			problem(w, http.StatusBadRequest, "Bad Request", "body is not JSON")
			return
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"method": r.Method, "path": r.URL.Path, "body": body})
}

// verify checks an Authorization header and explains what is wrong, or
// returns "".
func (c *Cluster) verify(auth string) string {
	tok, ok := strings.CutPrefix(auth, "Bearer ")
	if !ok || tok == "" {
		return "missing bearer token"
	}
	if c.jwks != nil {
		return c.jwks.verify(tok)
	}
	claims, why := c.parse(tok)
	if why != "" {
		return why
	}
	if aud, _ := claims["aud"].(string); aud != c.opts.Audience {
		return "token has the wrong audience"
	}
	if exp, _ := claims["exp"].(float64); time.Now().Unix() >= int64(exp) {
		return "token has expired"
	}
	if gen, _ := claims["gen"].(float64); int64(gen) < c.generation.Load() {
		return "token has been revoked"
	}
	return ""
}

var b64 = base64.RawURLEncoding

func (c *Cluster) sign(claims map[string]any) string {
	head := b64.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`))
	body, _ := jsonx.Marshal(claims)
	msg := head + "." + b64.EncodeToString(body)
	m := hmac.New(sha256.New, c.key)
	m.Write([]byte(msg))
	return msg + "." + b64.EncodeToString(m.Sum(nil))
}

func (c *Cluster) parse(tok string) (map[string]any, string) {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return nil, "token is not a JWT"
	}
	m := hmac.New(sha256.New, c.key)
	m.Write([]byte(parts[0] + "." + parts[1]))
	sig, err := b64.DecodeString(parts[2])
	if err != nil || !hmac.Equal(sig, m.Sum(nil)) {
		return nil, "token signature is invalid"
	}
	body, err := b64.DecodeString(parts[1])
	if err != nil {
		return nil, "token is not a JWT"
	}
	var claims map[string]any
	if jsonx.Unmarshal(body, &claims) != nil {
		return nil, "token is not a JWT"
	}
	return claims, ""
}

func (c *Cluster) handleFaults(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodDelete:
		c.ClearFaults()
		w.WriteHeader(http.StatusNoContent)
	case http.MethodPost:
		var list []Fault
		r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
		raw, err := readAll(r)
		if err == nil {
			if strings.HasPrefix(strings.TrimSpace(string(raw)), "[") {
				err = jsonx.UnmarshalStrict(raw, &list)
			} else {
				var f Fault
				err = jsonx.UnmarshalStrict(raw, &f)
				list = []Fault{f}
			}
		}
		if err != nil {
			problem(w, http.StatusBadRequest, "Bad Request", "fault must be a JSON object or array: "+err.Error())
			return
		}
		for i, f := range list {
			if f.Target != "token" && f.Target != "api" && f.Target != "discovery" {
				problem(w, http.StatusBadRequest, "Bad Request", `target must be "token", "discovery" or "api"`)
				return
			}
			if f.BodyBase64 != "" {
				b, err := base64.StdEncoding.DecodeString(f.BodyBase64)
				if err != nil || f.Body != "" {
					problem(w, http.StatusBadRequest, "Bad Request", "body_base64 must be standard base64, and excludes body")
					return
				}
				list[i].Body, list[i].BodyBase64 = string(b), ""
			}
		}
		for _, f := range list {
			c.AddFault(f)
		}
		w.WriteHeader(http.StatusNoContent)
	default:
		problem(w, http.StatusMethodNotAllowed, "Method Not Allowed", "use POST or DELETE")
	}
}

func (c *Cluster) handleStats(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, c.Stats())
}

func (c *Cluster) handleReset(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		problem(w, http.StatusMethodNotAllowed, "Method Not Allowed", "use POST")
		return
	}
	c.Reset()
	w.WriteHeader(http.StatusNoContent)
}

func (c *Cluster) handleRevoke(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		problem(w, http.StatusMethodNotAllowed, "Method Not Allowed", "use POST")
		return
	}
	c.RevokeAll()
	w.WriteHeader(http.StatusNoContent)
}

func (c *Cluster) handleConfig(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		problem(w, http.StatusMethodNotAllowed, "Method Not Allowed", "use POST")
		return
	}
	var cfg struct {
		TokenLifetimeS       *float64  `json:"token_lifetime_s"`
		JWTExpS              *float64  `json:"jwt_exp_s"`
		Auth                 *string   `json:"auth"`
		TokenAuthMethod      *string   `json:"token_auth_method"`
		V1Topology           *bool     `json:"v1_topology"`
		DiscoveryMethods     *[]string `json:"discovery_methods"`
		ClientCertificatePEM *string   `json:"client_certificate_pem"`
	}
	r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
	raw, err := readAll(r)
	if err == nil {
		err = jsonx.UnmarshalStrict(raw, &cfg)
	}
	if err != nil {
		problem(w, http.StatusBadRequest, "Bad Request", err.Error())
		return
	}
	// Everything is checked before anything changes: a refused document
	// leaves the cluster as it was.
	bad := func(detail string) { problem(w, http.StatusBadRequest, "Bad Request", detail) }
	if cfg.Auth != nil && (!validAuth(*cfg.Auth) || c.jwks != nil && *cfg.Auth != AuthOAuth) {
		bad(`auth must be "oauth", "basic" or "none" ("oauth" in JWKS mode)`)
		return
	}
	if cfg.TokenAuthMethod != nil && *cfg.TokenAuthMethod != "" && !validMethod(*cfg.TokenAuthMethod) {
		bad("token_auth_method must be \"\" or one of " + strings.Join(Methods, ", "))
		return
	}
	var cert *x509.Certificate
	if cfg.ClientCertificatePEM != nil {
		if cert, err = parseCertPEM(*cfg.ClientCertificatePEM); err != nil {
			bad("client_certificate_pem: " + err.Error())
			return
		}
	}
	if cfg.TokenLifetimeS != nil {
		c.SetTokenLifetime(time.Duration(*cfg.TokenLifetimeS * float64(time.Second)))
	}
	c.mu.Lock()
	if cfg.JWTExpS != nil {
		c.cur.jwtExp = -1
		if *cfg.JWTExpS >= 0 {
			c.cur.jwtExp = time.Duration(*cfg.JWTExpS * float64(time.Second))
		}
	}
	if cfg.Auth != nil {
		c.cur.auth = *cfg.Auth
	}
	if cfg.TokenAuthMethod != nil {
		c.cur.tokenMethod = *cfg.TokenAuthMethod
	}
	if cfg.V1Topology != nil {
		c.cur.v1Topology = *cfg.V1Topology
	}
	if cfg.DiscoveryMethods != nil {
		c.cur.discovery = append([]string{}, *cfg.DiscoveryMethods...)
	}
	if cert != nil {
		c.cur.cert = cert
	}
	c.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func oauthErrorBody(status int) (string, string) {
	code := "server_error"
	switch {
	case status == 401:
		code = "invalid_client"
	case status == 429:
		code = "slow_down"
	case status >= 400 && status < 500:
		code = "invalid_request"
	}
	b, _ := jsonx.Marshal(map[string]string{"error": code, "error_description": "injected fault " + strconv.Itoa(status)})
	return string(b), "application/json"
}

func problemBody(status int) (string, string) {
	b, _ := jsonx.Marshal(map[string]any{"type": "about:blank", "title": http.StatusText(status), "status": status, "detail": "injected fault " + strconv.Itoa(status)})
	return string(b), "application/problem+json"
}

func oauthError(w http.ResponseWriter, status int, code, desc string) {
	writeJSON(w, status, map[string]string{"error": code, "error_description": desc})
}

func problem(w http.ResponseWriter, status int, title, detail string) {
	b, _ := jsonx.Marshal(map[string]any{"type": "about:blank", "title": title, "status": status, "detail": detail})
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	w.Write(b)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, _ := jsonx.Marshal(v)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(b)
}

func readAll(r *http.Request) ([]byte, error) { return io.ReadAll(r.Body) }

func copyMap(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func jsonDecode(r *http.Request, v any) error {
	raw, err := readAll(r)
	if err != nil {
		return err
	}
	return jsonx.Unmarshal(raw, v)
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
