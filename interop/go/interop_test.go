// Package interop runs zbauth's Go core against real, independent token
// issuers: Keycloak and oauth2-mock-server, started by interop/run.sh
// (make test-interop). The REST side is the dev cluster in JWKS mode,
// started in-process per test: it verifies the issuer's tokens against the
// issuer's JWKS (signature, aud, exp, iss), so every test proves that the
// token zbauth obtained is one a resource server accepts.
//
// Without ZBAUTH_INTEROP_KIND every test is skipped, so `go test ./...`
// stays fast and offline. The variables (run.sh sets them):
//
//	ZBAUTH_INTEROP_KIND                 keycloak | oauth2-mock-server
//	ZBAUTH_INTEROP_ISSUER               the issuer URL (OpenID discovery)
//	ZBAUTH_INTEROP_CLIENT_ID, _SECRET   a client with the audience
//	ZBAUTH_INTEROP_AUDIENCE             the audience the REST side requires
//	ZBAUTH_INTEROP_WRONG_SECRET_ERROR   the OAuth error a wrong secret gets
//	ZBAUTH_INTEROP_KEYCLOAK_URL         Keycloak's base URL (admin API), and
//	ZBAUTH_INTEROP_KEYCLOAK_ADMIN_USER, _PASSWORD  its bootstrap admin
//
// and for the tests behind the interop16 build tag (interop16_test.go):
//
//	ZBAUTH_INTEROP_BASIC_CLIENT_ID, _SECRET  a client for client_secret_basic
//	ZBAUTH_INTEROP_ASSERTION_DIR        the private_key_jwt keys (run.sh,
//	                                    prepare_assertion_keys)
//	ZBAUTH_INTEROP_P12_PASSWORD, ZBAUTH_INTEROP_KEYTOOL_PASSWORD  of its
//	                                    openssl.p12 and keytool.p12
package interop

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zbauth/zbauth/core"
	"github.com/zbauth/zbauth/internal/devcluster"
)

// Clients of interop/keycloak/camunda-platform-realm.json used by the
// Keycloak-only scenarios.
const (
	disableClientID     = "zeebe-disable" // access.token.lifespan 20 s; disabled mid-run
	disableClientSecret = "zeebe-disable-interop-secret"
	disableLifespan     = 20 * time.Second
	noAudClientID       = "zeebe-no-audience" // no audience mapper
	noAudClientSecret   = "zeebe-no-audience-interop-secret"
	shortRealmLifespan  = 10 // seconds, set on the realm for the short-lifespan scenario
	// An optional client scope of zeebe, zeebe-basic and zeebe-jwt that
	// Keycloak lists in the token's scope claim (interop/keycloak/setup.py).
	keycloakScope = "zeebe-scope"
)

type env struct {
	kind, issuer, clientID, secret, audience, wrongSecretError string
	tokenURL                                                   string // discovered
}

func getenv(t *testing.T) env {
	t.Helper()
	e := env{
		kind:             os.Getenv("ZBAUTH_INTEROP_KIND"),
		issuer:           os.Getenv("ZBAUTH_INTEROP_ISSUER"),
		clientID:         os.Getenv("ZBAUTH_INTEROP_CLIENT_ID"),
		secret:           os.Getenv("ZBAUTH_INTEROP_CLIENT_SECRET"),
		audience:         os.Getenv("ZBAUTH_INTEROP_AUDIENCE"),
		wrongSecretError: os.Getenv("ZBAUTH_INTEROP_WRONG_SECRET_ERROR"),
	}
	if e.kind == "" {
		t.Skip("ZBAUTH_INTEROP_KIND is not set: run make test-interop")
	}
	if e.issuer == "" || e.clientID == "" || e.secret == "" || e.audience == "" {
		t.Fatal("ZBAUTH_INTEROP_ISSUER, _CLIENT_ID, _CLIENT_SECRET and _AUDIENCE must be set")
	}
	return e
}

func keycloakOnly(t *testing.T, e env) {
	t.Helper()
	if e.kind != "keycloak" {
		t.Skip("Keycloak-only scenario")
	}
}

// restSide starts the dev cluster in JWKS mode against the issuer.
func restSide(t *testing.T, e *env) *devcluster.Cluster {
	t.Helper()
	cl, err := devcluster.Start(devcluster.Options{Issuer: e.issuer, Audience: e.audience})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	e.tokenURL = cl.Options().TokenURL
	if e.tokenURL == "" {
		t.Fatal("the issuer's discovery document has no token_endpoint")
	}
	return cl
}

// tokenRequest is one request to the token endpoint, as the client made it.
type tokenRequest struct {
	at            time.Time
	form          url.Values // the request body
	authorization string     // its Authorization header
	status        int        // 0: no answer
	expiresIn     time.Duration
	accessToken   string // the answer's, when it has them
}

// recorder wraps the native transport and records token requests, and the
// method and URL of every request.
type recorder struct {
	inner    core.Transport
	tokenURL string
	mu       sync.Mutex
	reqs     []tokenRequest
	all      []string // "METHOD URL"
}

func loopback(host string) bool {
	ip := net.ParseIP(host)
	return host == "localhost" || (ip != nil && ip.IsLoopback())
}

// header is req's header name, whatever its case.
func header(req *core.Request, name string) string {
	for k, v := range req.Header {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return ""
}

func (r *recorder) RoundTrip(ctx context.Context, req *core.Request) (*core.Response, error) {
	// Only loopback: a client that ignored its issuer URL would otherwise
	// go to the SaaS default token endpoint.
	if u, err := url.Parse(req.URL); err != nil || !loopback(u.Hostname()) {
		return nil, fmt.Errorf("interop: refusing a request to %q: not a loopback address", req.URL)
	}
	at := time.Now()
	resp, err := r.inner.RoundTrip(ctx, req)
	r.mu.Lock()
	r.all = append(r.all, req.Method+" "+req.URL)
	r.mu.Unlock()
	if req.URL == r.tokenURL {
		form, _ := url.ParseQuery(string(req.Body))
		tr := tokenRequest{at: at, form: form, authorization: header(req, "Authorization")}
		if resp != nil {
			tr.status = resp.Status
			var tok struct {
				AccessToken string `json:"access_token"`
				ExpiresIn   int64  `json:"expires_in"`
			}
			if json.Unmarshal(resp.Body, &tok) == nil {
				tr.expiresIn = time.Duration(tok.ExpiresIn) * time.Second
				tr.accessToken = tok.AccessToken
			}
		}
		r.mu.Lock()
		r.reqs = append(r.reqs, tr)
		r.mu.Unlock()
	}
	return resp, err
}

// String shows the requests' statuses and times relative to the first.
func (rs requestList) String() string {
	var b strings.Builder
	for i, r := range rs {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%d at +%.1fs", r.status, r.at.Sub(rs[0].at).Seconds())
	}
	return "[" + b.String() + "]"
}

type requestList []tokenRequest

func (r *recorder) requests() requestList {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.reqs)
}

// urls are the method and URL of every request so far.
func (r *recorder) urls() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.all)
}

// newClient makes a client for the REST side cl, with id and secret, and
// records its token requests. Nothing comes from the environment.
func newClient(t *testing.T, e env, cl *devcluster.Cluster, id, secret, audience string) (*core.Client, *recorder) {
	t.Helper()
	return newClientConfig(t, e, cl, core.Config{ClientID: id, ClientSecret: secret, Audience: audience,
		AuthorizationServerURL: e.tokenURL})
}

// newClientConfig is newClient for any configuration; the REST address is
// cl's.
func newClientConfig(t *testing.T, e env, cl *devcluster.Cluster, cfg core.Config) (*core.Client, *recorder) {
	t.Helper()
	cfg.RESTAddress = cl.RESTAddress()
	inner, err := core.NewHTTPTransport(cfg)
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{inner: inner, tokenURL: e.tokenURL}
	c, err := core.New(cfg, core.WithTransport(rec), core.WithLookupEnv(func(string) (string, bool) { return "", false }))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, rec
}

// claims decodes a JWT's payload without verifying it (the REST side did).
func claims(t *testing.T, tok string) map[string]any {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT (%d parts)", len(parts))
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func unix(m map[string]any, k string) time.Time {
	f, _ := m[k].(float64)
	return time.Unix(int64(f), 0)
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

func TestTopology(t *testing.T) {
	e := getenv(t)
	t.Parallel()
	cl := restSide(t, &e)
	c, rec := newClient(t, e, cl, e.clientID, e.secret, e.audience)
	topo, err := c.Topology(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(topo.Brokers) == 0 {
		t.Fatalf("empty topology: %+v", topo)
	}
	tok, err := c.Token(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	m := claims(t, tok)
	if m["iss"] != e.issuer {
		t.Errorf("iss = %v, want %s", m["iss"], e.issuer)
	}
	t.Logf("%s token: iss %v, aud %v, lifetime %v", e.kind, m["iss"], m["aud"], unix(m, "exp").Sub(unix(m, "iat")))
	if n := len(rec.requests()); n != 1 {
		t.Errorf("%d token requests, want 1 (the token is cached)", n)
	}
	if st := cl.Stats(); st.APIRequests != 1 || st.APIRejected != 0 {
		t.Errorf("REST side: %+v", st)
	}
}

func TestWrongSecret(t *testing.T) {
	e := getenv(t)
	t.Parallel()
	if e.wrongSecretError == "" {
		t.Fatal("ZBAUTH_INTEROP_WRONG_SECRET_ERROR is not set")
	}
	cl := restSide(t, &e)
	c, rec := newClient(t, e, cl, e.clientID, "wrong-secret", e.audience)
	_, err := c.Topology(ctx(t))
	var ze *core.Error
	if !errors.As(err, &ze) || ze.Kind != core.KindAuth || ze.Status != 401 || ze.OAuthError != e.wrongSecretError {
		t.Fatalf("want AUTH 401 %s, got %#v", e.wrongSecretError, err)
	}
	if strings.Contains(err.Error(), "wrong-secret") {
		t.Fatalf("the message leaks the secret: %v", err)
	}
	t.Logf("%s: %v", e.kind, err)
	// The refusal is remembered: a second call fails the same way without
	// asking the issuer again, and nothing reached the REST API.
	if _, err2 := c.Topology(ctx(t)); core.KindOf(err2) != core.KindAuth {
		t.Fatalf("second call: %v", err2)
	}
	if n := len(rec.requests()); n != 1 {
		t.Errorf("%d token requests, want 1", n)
	}
	if st := cl.Stats(); st.APIRequests != 0 {
		t.Errorf("the REST API was called: %+v", st)
	}
}

// TestAudienceEnforced shows the REST side really checks aud on the
// issuer's tokens: a validly signed token for another audience is refused.
func TestAudienceEnforced(t *testing.T) {
	e := getenv(t)
	t.Parallel()
	cl := restSide(t, &e)
	var c *core.Client
	if e.kind == "keycloak" {
		c, _ = newClient(t, e, cl, noAudClientID, noAudClientSecret, e.audience) // no audience mapper
	} else {
		c, _ = newClient(t, e, cl, e.clientID, e.secret, "another-api") // aud is the requested audience
	}
	_, err := c.Topology(ctx(t))
	var ze *core.Error
	if !errors.As(err, &ze) || ze.Kind != core.KindAPI || ze.Status != 401 || ze.Problem == nil || !strings.Contains(ze.Problem.Detail, "audience") {
		t.Fatalf("want API 401 (wrong audience), got %v", err)
	}
	t.Logf("%s: %v", e.kind, err)
}

// scopes is a token's scope claim, split.
func scopes(m map[string]any) []string {
	s, _ := m["scope"].(string)
	return strings.Fields(s)
}

// TestScope: the configured scope reaches Keycloak, which then lists the
// optional client scope zeebe-scope in the token's scope claim (it is not
// there unasked); a scope the client does not have is refused with
// invalid_scope, as an authentication error.
func TestScope(t *testing.T) {
	e := getenv(t)
	keycloakOnly(t, e)
	t.Parallel()
	cl := restSide(t, &e)
	for _, tc := range []struct{ scope, want string }{{"", ""}, {keycloakScope, keycloakScope}} {
		c, rec := newClientConfig(t, e, cl, core.Config{ClientID: e.clientID, ClientSecret: e.secret,
			Audience: e.audience, AuthorizationServerURL: e.tokenURL, Scope: tc.scope})
		if _, err := c.Topology(ctx(t)); err != nil {
			t.Fatalf("scope %q: %v", tc.scope, err)
		}
		tok, err := c.Token(ctx(t))
		if err != nil {
			t.Fatal(err)
		}
		got := scopes(claims(t, tok))
		reqs := rec.requests()
		if len(reqs) != 1 {
			t.Fatalf("scope %q: token requests %v, want one", tc.scope, reqs)
		}
		if f := reqs[0].form.Get("scope"); f != tc.scope {
			t.Errorf("the form's scope is %q, want %q", f, tc.scope)
		}
		if has := slices.Contains(got, keycloakScope); has != (tc.want != "") {
			t.Errorf("scope %q requested: the token's scope claim is %q", tc.scope, got)
		}
		t.Logf("scope %q requested: the token's scope claim %q", tc.scope, got)
	}
	c, _ := newClientConfig(t, e, cl, core.Config{ClientID: e.clientID, ClientSecret: e.secret,
		Audience: e.audience, AuthorizationServerURL: e.tokenURL, Scope: "not-a-zeebe-scope"})
	_, err := c.Topology(ctx(t))
	var ze *core.Error
	if !errors.As(err, &ze) || ze.Kind != core.KindAuth || ze.Status != 400 || ze.OAuthError != "invalid_scope" {
		t.Fatalf("an unknown scope: want AUTH 400 invalid_scope, got %#v", err)
	}
	t.Logf("an unknown scope: %v", err)
	if st := cl.Stats(); st.APIRequests != 2 || st.APIRejected != 0 {
		t.Errorf("REST side: %+v", st)
	}
}

// keycloakAdmin drives Keycloak's admin REST API as the bootstrap admin.
type keycloakAdmin struct {
	t                *testing.T
	base, user, pass string
	token            string
	tokenAt          time.Time
}

func newAdmin(t *testing.T) *keycloakAdmin {
	a := &keycloakAdmin{t: t, base: os.Getenv("ZBAUTH_INTEROP_KEYCLOAK_URL"),
		user: os.Getenv("ZBAUTH_INTEROP_KEYCLOAK_ADMIN_USER"), pass: os.Getenv("ZBAUTH_INTEROP_KEYCLOAK_ADMIN_PASSWORD")}
	if a.base == "" || a.user == "" || a.pass == "" {
		t.Fatal("ZBAUTH_INTEROP_KEYCLOAK_URL, _ADMIN_USER and _ADMIN_PASSWORD must be set")
	}
	return a
}

// login gets an admin token (master realm, admin-cli: valid 60 s), reused
// for 30 s.
func (a *keycloakAdmin) login() string {
	a.t.Helper()
	if a.token != "" && time.Since(a.tokenAt) < 30*time.Second {
		return a.token
	}
	at := time.Now()
	resp, err := http.PostForm(a.base+"/realms/master/protocol/openid-connect/token", url.Values{
		"grant_type": {"password"}, "client_id": {"admin-cli"}, "username": {a.user}, "password": {a.pass}})
	if err != nil {
		a.t.Fatal(err)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	if tok.AccessToken == "" {
		a.t.Fatalf("admin login: HTTP %d", resp.StatusCode)
	}
	a.token, a.tokenAt = tok.AccessToken, at
	return a.token
}

func (a *keycloakAdmin) do(method, path string, body any, out any) {
	a.t.Helper()
	token := a.login()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = strings.NewReader(string(b))
	}
	req, _ := http.NewRequest(method, a.base+"/admin/realms/camunda-platform"+path, rd)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		b, _ := io.ReadAll(resp.Body)
		a.t.Fatalf("%s %s: HTTP %d %s", method, path, resp.StatusCode, b)
	}
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			a.t.Fatal(err)
		}
	}
}

// clientUUID is the internal id of clientID, which the admin API wants.
func (a *keycloakAdmin) clientUUID(clientID string) string {
	a.t.Helper()
	var list []struct {
		ID string `json:"id"`
	}
	a.do("GET", "/clients?clientId="+url.QueryEscape(clientID), nil, &list)
	if len(list) != 1 {
		a.t.Fatalf("client %s: %d matches", clientID, len(list))
	}
	return list[0].ID
}

func (a *keycloakAdmin) setClientEnabled(uuid string, enabled bool) {
	a.t.Helper()
	a.do("PUT", "/clients/"+uuid, map[string]any{"enabled": enabled}, nil)
}

func (a *keycloakAdmin) realmLifespan() int {
	var r struct {
		AccessTokenLifespan int `json:"accessTokenLifespan"`
	}
	a.do("GET", "", nil, &r)
	return r.AccessTokenLifespan
}

func (a *keycloakAdmin) setRealmLifespan(seconds int) {
	a.do("PUT", "", map[string]any{"accessTokenLifespan": seconds}, nil)
}

// rawTokenStatus asks the token endpoint directly, bypassing zbauth.
func rawTokenStatus(t *testing.T, tokenURL, id, secret string) (int, string) {
	resp, err := http.PostForm(tokenURL, url.Values{"grant_type": {"client_credentials"}, "client_id": {id}, "client_secret": {secret}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var oe struct {
		Error string `json:"error"`
	}
	json.NewDecoder(resp.Body).Decode(&oe)
	return resp.StatusCode, oe.Error
}

// TestClientDisabledMidRun: a client whose token is cached is disabled in
// Keycloak. The background refresh (due at 3/4 of the 20 s lifetime) is
// refused, yet calls keep succeeding with the cached token until it
// expires; then they fail cleanly with AUTH and Keycloak's error, without
// hammering the token endpoint.
func TestClientDisabledMidRun(t *testing.T) {
	e := getenv(t)
	keycloakOnly(t, e)
	t.Parallel()
	admin := newAdmin(t)
	cl := restSide(t, &e)
	c, rec := newClient(t, e, cl, disableClientID, disableClientSecret, e.audience)
	uuid := admin.clientUUID(disableClientID) // logs in, too: disabling is then one request

	t0 := time.Now()
	if _, err := c.Topology(ctx(t)); err != nil {
		t.Fatal(err)
	}
	admin.setClientEnabled(uuid, false)
	t.Cleanup(func() { admin.setClientEnabled(uuid, true) })
	if d := time.Since(t0); d > disableLifespan/2 {
		t.Fatalf("the first call and disabling the client took %v, more than half the token lifetime: the machine is too slow for this scenario", d)
	}
	if status, code := rawTokenStatus(t, e.tokenURL, disableClientID, disableClientSecret); status < 400 {
		t.Fatalf("Keycloak still issues tokens to the disabled client (HTTP %d)", status)
	} else {
		t.Logf("Keycloak refuses the disabled client: HTTP %d %s", status, code)
	}

	var okCalls, okAfterFailedRefresh int
	var firstErr error
	var firstErrAt time.Time
	deadline := t0.Add(2*disableLifespan + 5*time.Second)
	for time.Now().Before(deadline) {
		_, err := c.Topology(ctx(t))
		if err != nil {
			firstErr, firstErrAt = err, time.Now()
			break
		}
		okCalls++
		if slices.ContainsFunc(rec.requests(), func(r tokenRequest) bool { return r.status >= 400 }) {
			okAfterFailedRefresh++
		}
		time.Sleep(200 * time.Millisecond)
	}
	reqs := rec.requests()
	t.Logf("%d successful calls, %d of them after the refused refresh; first failure after %v: %v; token requests %v",
		okCalls, okAfterFailedRefresh, firstErrAt.Sub(t0).Round(time.Millisecond), firstErr, reqs)

	if len(reqs) != 2 || reqs[0].status != 200 || reqs[1].status != 401 {
		t.Fatalf("want two token requests (200, then the refused refresh 401), got %v", reqs)
	}
	if refresh := reqs[1].at.Sub(t0); refresh < disableLifespan/2 || refresh > disableLifespan {
		t.Errorf("the refresh was attempted after %v, want in the refresh window before expiry", refresh)
	}
	if okAfterFailedRefresh == 0 {
		t.Error("no call succeeded with the cached token after the refresh was refused")
	}
	if firstErr == nil {
		t.Fatal("calls kept succeeding past the token's expiry")
	}
	// The token is good for expires_in from when it was requested, less
	// up to a second because exp has whole seconds. Keycloak's expires_in
	// is exp minus its clock's whole second at the time it answers, so it
	// is 19 rather than 20 when the request straddles a second boundary.
	if reqs[0].expiresIn < disableLifespan-time.Second || reqs[0].expiresIn > disableLifespan {
		t.Errorf("expires_in %v, want the client's %v (or a second less)", reqs[0].expiresIn, disableLifespan)
	}
	if d, min := firstErrAt.Sub(reqs[0].at), reqs[0].expiresIn-1100*time.Millisecond; d < min {
		t.Errorf("calls failed %v after the token request, before the cached token expired (expires_in %v)", d, reqs[0].expiresIn)
	}
	var ze *core.Error
	if !errors.As(firstErr, &ze) || ze.Kind != core.KindAuth || ze.Status != 401 ||
		(ze.OAuthError != "invalid_client" && ze.OAuthError != "unauthorized_client") {
		t.Fatalf("want AUTH 401 with Keycloak's error, got %#v", firstErr)
	}
	// Still refused from memory, with no new token request.
	if _, err := c.Topology(ctx(t)); core.KindOf(err) != core.KindAuth {
		t.Fatalf("after expiry: %v", err)
	}
	if n := len(rec.requests()); n != 2 {
		t.Errorf("%d token requests after expiry, want still 2", n)
	}

	// Enabled again, the client works again (a new client: the old one
	// remembers the refusal for its cooldown).
	admin.setClientEnabled(uuid, true)
	c2, _ := newClient(t, e, cl, disableClientID, disableClientSecret, e.audience)
	if _, err := c2.Topology(ctx(t)); err != nil {
		t.Fatalf("after re-enabling: %v", err)
	}
}

// TestShortLifespanRefreshesEarly sets the realm's access token lifespan
// to 10 s and calls the topology for about 2.5 lifetimes: no call may fail,
// and each new token must have arrived before the previous one expired.
func TestShortLifespanRefreshesEarly(t *testing.T) {
	e := getenv(t)
	keycloakOnly(t, e)
	t.Parallel()
	admin := newAdmin(t)
	old := admin.realmLifespan()
	admin.setRealmLifespan(shortRealmLifespan)
	t.Cleanup(func() { admin.setRealmLifespan(old) })
	cl := restSide(t, &e)
	c, rec := newClient(t, e, cl, e.clientID, e.secret, e.audience)

	life := time.Duration(shortRealmLifespan) * time.Second
	start := time.Now()
	type seen struct {
		tok string
		at  time.Time
	}
	var tokens []seen
	var calls, failures int
	for time.Since(start) < life*5/2 {
		calls++
		if _, err := c.Topology(ctx(t)); err != nil {
			failures++
			t.Errorf("call %d after %v failed: %v", calls, time.Since(start).Round(time.Millisecond), err)
		}
		tok, err := c.Token(ctx(t))
		if err != nil {
			t.Fatal(err)
		}
		if len(tokens) == 0 || tokens[len(tokens)-1].tok != tok {
			tokens = append(tokens, seen{tok, time.Now()})
		}
		time.Sleep(100 * time.Millisecond)
	}
	reqs := rec.requests()
	t.Logf("%d calls over %v, %d failed; %d tokens; token requests %v; REST side %+v",
		calls, time.Since(start).Round(time.Millisecond), failures, len(tokens), reqs, cl.Stats())
	if len(tokens) < 3 {
		t.Fatalf("%d distinct tokens over %v, want at least 3", len(tokens), time.Since(start))
	}
	if len(reqs) != len(tokens) {
		t.Fatalf("%d token requests for %d tokens", len(reqs), len(tokens))
	}
	// Each refresh was sent before the previous token expired. (When it
	// arrived also depends on the issuer's latency; calls in between use the
	// old token while it is valid and wait for the new one after.)
	for i, s := range tokens {
		m := claims(t, s.tok)
		if got := unix(m, "exp").Sub(unix(m, "iat")); got != life {
			t.Errorf("token %d lifetime %v, want the realm's %v", i, got, life)
		}
		if i > 0 {
			prevExp := unix(claims(t, tokens[i-1].tok), "exp")
			sent, arrived := prevExp.Sub(reqs[i].at), prevExp.Sub(s.at)
			if sent <= 0 {
				t.Errorf("token %d was requested %v after its predecessor expired", i, -sent)
			}
			t.Logf("token %d: requested %v and first used %v before its predecessor's exp", i,
				sent.Round(time.Millisecond), arrived.Round(time.Millisecond))
		}
	}
	for i, r := range reqs {
		if r.status != 200 {
			t.Errorf("token request %d: HTTP %d", i, r.status)
		}
		if i > 0 && r.at.Sub(reqs[i-1].at) < time.Second {
			t.Errorf("token requests %d and %d less than a second apart", i-1, i)
		}
	}
	if st := cl.Stats(); st.APIRejected != 0 {
		t.Errorf("the REST side rejected %d calls: a token was used past its expiry", st.APIRejected)
	}
	if failures > 0 {
		t.Fatalf("%d of %d calls failed", failures, calls)
	}
}
