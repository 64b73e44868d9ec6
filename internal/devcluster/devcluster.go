// Package devcluster is an embedded stand-in for a Camunda 8 cluster: an
// OAuth2 token endpoint (client-credentials grant) that issues signed JWTs,
// and the REST API's topology endpoints, which verify them. It listens on
// loopback only.
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
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
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
	// Target is "token" (the token endpoint) or "api" (the REST API).
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
}

// Cluster is a running dev cluster.
type Cluster struct {
	opts Options
	key  []byte
	jwks *jwksVerifier // non-nil in JWKS mode
	srv  *http.Server
	ln   net.Listener

	lifetimeNS   atomic.Int64
	generation   atomic.Int64 // tokens of older generations are revoked
	tokenReqs    atomic.Int64
	tokensIssued atomic.Int64
	apiReqs      atomic.Int64
	apiRejected  atomic.Int64

	mu       sync.Mutex
	faults   []*Fault
	lastForm map[string]string
	bearer   bool
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
	c := &Cluster{opts: opts, key: make([]byte, 32), ln: ln}
	if opts.JWKSURL != "" || opts.Issuer != "" {
		if c.jwks, err = startJWKS(&c.opts); err != nil {
			ln.Close()
			return nil, err
		}
	}
	if _, err := rand.Read(c.key); err != nil {
		ln.Close()
		return nil, err
	}
	c.lifetimeNS.Store(int64(opts.TokenLifetime))
	mux := http.NewServeMux()
	mux.HandleFunc("/oauth/token", c.handleToken)
	mux.HandleFunc("/v1/topology", c.api(c.handleTopology))
	mux.HandleFunc("/v2/topology", c.api(c.handleTopology))
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

// Options returns the options in effect, defaults filled in.
func (c *Cluster) Options() Options { return c.opts }

// Env returns the environment that points a zbauth client at the cluster,
// as KEY=VALUE strings.
func (c *Cluster) Env() []string {
	if c.jwks != nil {
		return c.jwksEnv()
	}
	return []string{
		"ZEEBE_REST_ADDRESS=" + c.RESTAddress(),
		"ZEEBE_AUTHORIZATION_SERVER_URL=" + c.TokenURL(),
		"ZEEBE_CLIENT_ID=" + c.opts.ClientID,
		"ZEEBE_CLIENT_SECRET=" + c.opts.ClientSecret,
		"ZEEBE_TOKEN_AUDIENCE=" + c.opts.Audience,
	}
}

// Close stops the server.
func (c *Cluster) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := c.srv.Shutdown(ctx); err != nil {
		return c.srv.Close()
	}
	return nil
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

// Reset clears faults and counters and restores the token lifetime.
func (c *Cluster) Reset() {
	c.ClearFaults()
	c.tokenReqs.Store(0)
	c.tokensIssued.Store(0)
	c.apiReqs.Store(0)
	c.apiRejected.Store(0)
	c.lifetimeNS.Store(int64(c.opts.TokenLifetime))
	c.mu.Lock()
	c.lastForm, c.bearer = nil, false
	c.mu.Unlock()
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
	bearer := c.bearer
	c.mu.Unlock()
	return Stats{
		TokenRequests: c.tokenReqs.Load(), TokensIssued: c.tokensIssued.Load(),
		APIRequests: c.apiReqs.Load(), APIRejected: c.apiRejected.Load(),
		LastTokenForm: form, LastAuthHeader: bearer,
	}
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
		if k == "client_secret" {
			form[k] = "(set)"
		} else {
			form[k] = r.PostForm.Get(k)
		}
	}
	c.mu.Lock()
	c.lastForm = form
	c.mu.Unlock()
	if r.PostForm.Get("grant_type") != "client_credentials" {
		oauthError(w, http.StatusBadRequest, "unsupported_grant_type", "only client_credentials is supported")
		return
	}
	id, secret := r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	if !hmac.Equal([]byte(id), []byte(c.opts.ClientID)) || !hmac.Equal([]byte(secret), []byte(c.opts.ClientSecret)) {
		oauthError(w, http.StatusUnauthorized, "invalid_client", "client authentication failed")
		return
	}
	if aud := r.PostForm.Get("audience"); aud != c.opts.Audience {
		oauthError(w, http.StatusBadRequest, "invalid_target", "unknown audience")
		return
	}
	lifetime := time.Duration(c.lifetimeNS.Load())
	now := time.Now()
	tok := c.sign(map[string]any{
		"iss":   c.URL() + "/",
		"sub":   id,
		"aud":   c.opts.Audience,
		"iat":   now.Unix(),
		"exp":   now.Add(lifetime).Unix(),
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

// api wraps a REST handler with fault injection and bearer verification.
func (c *Cluster) api(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c.apiReqs.Add(1)
		auth := r.Header.Get("Authorization")
		c.mu.Lock()
		c.bearer = strings.HasPrefix(auth, "Bearer ")
		c.mu.Unlock()
		if applyFault(w, r, c.takeFault("api"), problemBody) {
			return
		}
		if why := c.verify(auth); why != "" {
			c.apiRejected.Add(1)
			w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
			problem(w, http.StatusUnauthorized, "Unauthorized", why)
			return
		}
		h(w, r)
	}
}

func (c *Cluster) handleTopology(w http.ResponseWriter, r *http.Request) {
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
	writeJSON(w, http.StatusOK, map[string]any{
		"brokers":           brokers,
		"clusterSize":       o.Brokers,
		"partitionsCount":   o.Partitions,
		"replicationFactor": o.Replication,
		"gatewayVersion":    o.Version,
	})
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
			if f.Target != "token" && f.Target != "api" {
				problem(w, http.StatusBadRequest, "Bad Request", `target must be "token" or "api"`)
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
		TokenLifetimeS *float64 `json:"token_lifetime_s"`
	}
	raw, err := readAll(r)
	if err == nil {
		err = jsonx.UnmarshalStrict(raw, &cfg)
	}
	if err != nil {
		problem(w, http.StatusBadRequest, "Bad Request", err.Error())
		return
	}
	if cfg.TokenLifetimeS != nil {
		c.SetTokenLifetime(time.Duration(*cfg.TokenLifetimeS * float64(time.Second)))
	}
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
