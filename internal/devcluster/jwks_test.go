package devcluster

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// testIssuer is a minimal identity provider: a JWKS and a discovery
// document on loopback, and keys to sign tokens with.
type testIssuer struct {
	t       *testing.T
	srv     *httptest.Server
	fetches atomic.Int64

	mu   sync.Mutex
	keys []map[string]any // the published JWKS entries
}

var (
	rsaKeyOnce sync.Once
	rsaKeys    [2]*rsa.PrivateKey
)

// testRSAKeys generates two RSA keys once for the whole test binary.
func testRSAKeys(t *testing.T) [2]*rsa.PrivateKey {
	rsaKeyOnce.Do(func() {
		for i := range rsaKeys {
			k, err := rsa.GenerateKey(rand.Reader, 2048)
			if err != nil {
				panic(err)
			}
			rsaKeys[i] = k
		}
	})
	return rsaKeys
}

func newTestIssuer(t *testing.T) *testIssuer {
	ti := &testIssuer{t: t}
	mux := http.NewServeMux()
	mux.HandleFunc("/jwks", func(w http.ResponseWriter, r *http.Request) {
		ti.fetches.Add(1)
		ti.mu.Lock()
		b, _ := json.Marshal(map[string]any{"keys": ti.keys})
		ti.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.Write(b)
	})
	mux.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]string{
			"issuer":         ti.srv.URL,
			"jwks_uri":       ti.srv.URL + "/jwks",
			"token_endpoint": ti.srv.URL + "/token",
		})
	})
	ti.srv = httptest.NewServer(mux)
	t.Cleanup(ti.srv.Close)
	return ti
}

func (ti *testIssuer) publish(entries ...map[string]any) {
	ti.mu.Lock()
	defer ti.mu.Unlock()
	ti.keys = append(ti.keys, entries...)
}

func (ti *testIssuer) unpublishAll() {
	ti.mu.Lock()
	defer ti.mu.Unlock()
	ti.keys = nil
}

func rsaJWK(k *rsa.PublicKey, kid, alg string) map[string]any {
	m := map[string]any{"kty": "RSA", "kid": kid, "use": "sig",
		"n": b64.EncodeToString(k.N.Bytes()), "e": b64.EncodeToString(big.NewInt(int64(k.E)).Bytes())}
	if alg != "" {
		m["alg"] = alg
	}
	return m
}

func ecJWK(t *testing.T, k *ecdsa.PublicKey, kid string) map[string]any {
	raw, err := k.Bytes() // 0x04 || X || Y
	if err != nil {
		t.Fatal(err)
	}
	size := (len(raw) - 1) / 2
	crv := map[int]string{32: "P-256", 48: "P-384", 66: "P-521"}[size]
	return map[string]any{"kty": "EC", "kid": kid, "crv": crv,
		"x": b64.EncodeToString(raw[1 : 1+size]), "y": b64.EncodeToString(raw[1+size:])}
}

// signJWT signs claims with key (RSA: RS256 or PS256; ECDSA: ES256).
func signJWT(t *testing.T, alg, kid string, key crypto.Signer, claims map[string]any) string {
	t.Helper()
	head := map[string]any{"alg": alg, "typ": "JWT"}
	if kid != "" {
		head["kid"] = kid
	}
	hb, _ := json.Marshal(head)
	cb, _ := json.Marshal(claims)
	msg := b64.EncodeToString(hb) + "." + b64.EncodeToString(cb)
	digest := sha256.Sum256([]byte(msg))
	var sig []byte
	var err error
	switch k := key.(type) {
	case *rsa.PrivateKey:
		if strings.HasPrefix(alg, "PS") {
			sig, err = rsa.SignPSS(rand.Reader, k, crypto.SHA256, digest[:], &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
		} else {
			sig, err = rsa.SignPKCS1v15(rand.Reader, k, crypto.SHA256, digest[:])
		}
	case *ecdsa.PrivateKey:
		var r, s *big.Int
		r, s, err = ecdsa.Sign(rand.Reader, k, digest[:])
		if err == nil {
			sig = make([]byte, 64)
			r.FillBytes(sig[:32])
			s.FillBytes(sig[32:])
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	return msg + "." + b64.EncodeToString(sig)
}

func claimsFor(iss string, aud any, lifetime time.Duration) map[string]any {
	now := time.Now()
	return map[string]any{"iss": iss, "aud": aud, "sub": "service-account-zeebe",
		"iat": now.Unix(), "exp": now.Add(lifetime).Unix()}
}

// call GETs /v1/topology with tok and returns the status and the problem's
// detail.
func call(t *testing.T, c *Cluster, tok string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", c.RESTAddress()+"/v1/topology", nil)
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var p struct {
		Detail string `json:"detail"`
	}
	json.NewDecoder(resp.Body).Decode(&p)
	return resp.StatusCode, p.Detail
}

func startJWKSCluster(t *testing.T, opts Options) *Cluster {
	t.Helper()
	c, err := Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestJWKSModeVerifiesTokens(t *testing.T) {
	keys := testRSAKeys(t)
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ti := newTestIssuer(t)
	ti.publish(
		rsaJWK(&keys[0].PublicKey, "rsa-1", "RS256"),
		map[string]any{"kty": "RSA", "kid": "enc-1", "use": "enc", "alg": "RSA-OAEP", "n": "AQAB", "e": "AQAB"}, // skipped
		map[string]any{"kty": "oct", "kid": "hmac", "k": "c2VjcmV0"},                                            // skipped
		ecJWK(t, &ec.PublicKey, "ec-1"),
		rsaJWK(&keys[1].PublicKey, "pss-1", ""),
	)
	iss := ti.srv.URL + "/realms/camunda-platform"
	c := startJWKSCluster(t, Options{JWKSURL: ti.srv.URL + "/jwks", Issuer: iss, Audience: "zeebe-api"})

	for _, tc := range []struct {
		name   string
		tok    string
		status int
		why    string
	}{
		{"RS256, aud array", signJWT(t, "RS256", "rsa-1", keys[0], claimsFor(iss, []string{"zeebe-api", "account"}, time.Minute)), 200, ""},
		{"RS256, aud string", signJWT(t, "RS256", "rsa-1", keys[0], claimsFor(iss, "zeebe-api", time.Minute)), 200, ""},
		{"ES256", signJWT(t, "ES256", "ec-1", ec, claimsFor(iss, "zeebe-api", time.Minute)), 200, ""},
		{"PS256", signJWT(t, "PS256", "pss-1", keys[1], claimsFor(iss, "zeebe-api", time.Minute)), 200, ""},
		{"wrong audience", signJWT(t, "RS256", "rsa-1", keys[0], claimsFor(iss, []string{"account"}, time.Minute)), 401, "wrong audience"},
		{"no audience", signJWT(t, "RS256", "rsa-1", keys[0], claimsFor(iss, nil, time.Minute)), 401, "wrong audience"},
		{"wrong issuer", signJWT(t, "RS256", "rsa-1", keys[0], claimsFor(iss+"x", "zeebe-api", time.Minute)), 401, "wrong issuer"},
		{"expired", signJWT(t, "RS256", "rsa-1", keys[0], claimsFor(iss, "zeebe-api", -time.Second)), 401, "expired"},
		{"no exp", signJWT(t, "RS256", "rsa-1", keys[0], map[string]any{"iss": iss, "aud": "zeebe-api"}), 401, "no exp"},
		{"not yet valid", signJWT(t, "RS256", "rsa-1", keys[0], func() map[string]any {
			m := claimsFor(iss, "zeebe-api", time.Hour)
			m["nbf"] = time.Now().Add(time.Minute).Unix()
			return m
		}()), 401, "not valid yet"},
		{"signed by another key under a known kid", signJWT(t, "RS256", "rsa-1", keys[1], claimsFor(iss, "zeebe-api", time.Minute)), 401, "signature is invalid"},
		{"alg of the key differs", signJWT(t, "PS256", "rsa-1", keys[0], claimsFor(iss, "zeebe-api", time.Minute)), 401, "not in the issuer's JWKS"},
		{"ES256 under an RSA key's kid", signJWT(t, "ES256", "rsa-1", ec, claimsFor(iss, "zeebe-api", time.Minute)), 401, "not in the issuer's JWKS"},
		{"garbage", "x.y.z", 401, "not a JWT"},
		{"unknown kid", signJWT(t, "RS256", "nope", keys[0], claimsFor(iss, "zeebe-api", time.Minute)), 401, "not in the issuer's JWKS"},
		{"encryption key", signJWT(t, "RS256", "enc-1", keys[0], claimsFor(iss, "zeebe-api", time.Minute)), 401, "not in the issuer's JWKS"},
		{"HS256 is refused", func() string {
			parts := strings.Split(signJWT(t, "RS256", "hmac", keys[0], claimsFor(iss, "zeebe-api", time.Minute)), ".")
			return b64.EncodeToString([]byte(`{"alg":"HS256","kid":"hmac"}`)) + "." + parts[1] + "." + parts[2]
		}(), 401, "not accepted"},
		{"alg none is refused", b64.EncodeToString([]byte(`{"alg":"none"}`)) + "." + b64.EncodeToString([]byte(`{"aud":"zeebe-api","exp":9999999999}`)) + ".", 401, "not accepted"},
		{"missing token", "", 401, "missing bearer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, why := call(t, c, tc.tok)
			if status != tc.status || !strings.Contains(why, tc.why) {
				t.Fatalf("got %d %q, want %d %q", status, why, tc.status, tc.why)
			}
		})
	}
	if st := c.Stats(); st.APIRejected == 0 || st.TokensIssued != 0 {
		t.Fatalf("stats: %+v", st)
	}
}

func TestJWKSModeRefetchesOnUnknownKid(t *testing.T) {
	keys := testRSAKeys(t)
	ti := newTestIssuer(t)
	ti.publish(rsaJWK(&keys[0].PublicKey, "old", "RS256"))
	c := startJWKSCluster(t, Options{JWKSURL: ti.srv.URL + "/jwks", Audience: "zeebe-api"})
	c.jwks.minRefetch = time.Hour // no refetch until we say so

	old := signJWT(t, "RS256", "old", keys[0], claimsFor("any", "zeebe-api", time.Minute))
	for i := 0; i < 3; i++ {
		if status, why := call(t, c, old); status != 200 {
			t.Fatalf("old key: %d %s", status, why)
		}
	}
	if n := ti.fetches.Load(); n != 1 {
		t.Fatalf("the JWKS was fetched %d times, want once (cached)", n)
	}

	// The issuer rotates its key. Unknown kids do not refetch more often
	// than minRefetch allows...
	ti.unpublishAll()
	ti.publish(rsaJWK(&keys[1].PublicKey, "new", "RS256"))
	rotated := signJWT(t, "RS256", "new", keys[1], claimsFor("any", "zeebe-api", time.Minute))
	if status, _ := call(t, c, rotated); status != 401 {
		t.Fatalf("refetched within minRefetch: %d", status)
	}
	if n := ti.fetches.Load(); n != 1 {
		t.Fatalf("fetches = %d, want 1", n)
	}
	// ...and do once it has passed.
	c.jwks.minRefetch = 0
	if status, why := call(t, c, rotated); status != 200 {
		t.Fatalf("rotated key: %d %s", status, why)
	}
	if n := ti.fetches.Load(); n != 2 {
		t.Fatalf("fetches = %d, want 2", n)
	}
	// The old key is gone from the set, so its tokens are refused.
	if status, why := call(t, c, old); status != 401 || !strings.Contains(why, "not in the issuer's JWKS") {
		t.Fatalf("old key after rotation: %d %s", status, why)
	}
}

func TestJWKSModeKidlessToken(t *testing.T) {
	keys := testRSAKeys(t)
	ti := newTestIssuer(t)
	ti.publish(rsaJWK(&keys[0].PublicKey, "only", ""))
	c := startJWKSCluster(t, Options{JWKSURL: ti.srv.URL + "/jwks", Audience: "zeebe-api"})
	if status, why := call(t, c, signJWT(t, "RS256", "", keys[0], claimsFor("x", "zeebe-api", time.Minute))); status != 200 {
		t.Fatalf("kid-less token, one key: %d %s", status, why)
	}
	ti.publish(rsaJWK(&keys[1].PublicKey, "second", ""))
	c.jwks.mu.Lock()
	err := c.jwks.refresh()
	c.jwks.mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	if status, why := call(t, c, signJWT(t, "RS256", "", keys[0], claimsFor("x", "zeebe-api", time.Minute))); status != 401 || !strings.Contains(why, "no kid") {
		t.Fatalf("kid-less token, two keys: %d %s", status, why)
	}
}

func TestJWKSModeDiscoveryEnvAndTokenEndpoint(t *testing.T) {
	keys := testRSAKeys(t)
	ti := newTestIssuer(t)
	ti.publish(rsaJWK(&keys[0].PublicKey, "k", "RS256"))
	c := startJWKSCluster(t, Options{Issuer: ti.srv.URL, Audience: "zeebe-api"})
	if o := c.Options(); o.JWKSURL != ti.srv.URL+"/jwks" || o.TokenURL != ti.srv.URL+"/token" {
		t.Fatalf("discovery: %+v", o)
	}
	env := strings.Join(c.Env(), "\n")
	for _, want := range []string{"ZEEBE_REST_ADDRESS=" + c.RESTAddress(), "ZEEBE_TOKEN_AUDIENCE=zeebe-api", "ZEEBE_AUTHORIZATION_SERVER_URL=" + ti.srv.URL + "/token"} {
		if !strings.Contains(env, want) {
			t.Fatalf("env lacks %s:\n%s", want, env)
		}
	}
	if strings.Contains(env, "CLIENT_ID") || strings.Contains(env, "CLIENT_SECRET") {
		t.Fatalf("JWKS mode must not set client credentials:\n%s", env)
	}
	if status, why := call(t, c, signJWT(t, "RS256", "k", keys[0], claimsFor(ti.srv.URL, "zeebe-api", time.Minute))); status != 200 {
		t.Fatalf("%d %s", status, why)
	}

	// The own token endpoint refuses: tokens come from the issuer.
	resp, err := http.PostForm(c.TokenURL(), map[string][]string{"grant_type": {"client_credentials"}})
	if err != nil {
		t.Fatal(err)
	}
	var oe struct{ Error, ErrorDescription string }
	json.NewDecoder(resp.Body).Decode(&oe)
	resp.Body.Close()
	if resp.StatusCode != 400 || oe.Error != "invalid_request" {
		t.Fatalf("token endpoint in JWKS mode: %d %+v", resp.StatusCode, oe)
	}

	// Revocation rejects every token issued up to now.
	tok := signJWT(t, "RS256", "k", keys[0], claimsFor(ti.srv.URL, "zeebe-api", time.Minute))
	c.RevokeAll()
	if status, why := call(t, c, tok); status != 401 || !strings.Contains(why, "revoked") {
		t.Fatalf("after revoke: %d %s", status, why)
	}
}

func TestJWKSModeStartErrors(t *testing.T) {
	ti := newTestIssuer(t)
	for _, tc := range []struct {
		name string
		opts Options
		want string
	}{
		{"issuer mismatch", Options{Issuer: ti.srv.URL + "/other"}, "OpenID discovery"},
		{"issuer names another issuer", Options{Issuer: strings.Replace(ti.srv.URL, "127.0.0.1", "localhost", 1)}, "names issuer"},
		{"plain http to a remote host", Options{JWKSURL: "http://192.0.2.1/jwks"}, "loopback"},
		{"not a URL", Options{JWKSURL: "jwks.json"}, "not an absolute URL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Start(tc.opts)
			if err == nil {
				c.Close()
				t.Fatal("Start succeeded")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q lacks %q", err, tc.want)
			}
		})
	}
}

func TestJWKSModeUnreachableIssuer(t *testing.T) {
	keys := testRSAKeys(t)
	ti := newTestIssuer(t)
	url := ti.srv.URL + "/jwks"
	ti.srv.Close()
	c := startJWKSCluster(t, Options{JWKSURL: url, Audience: "zeebe-api"})
	status, why := call(t, c, signJWT(t, "RS256", "k", keys[0], claimsFor("x", "zeebe-api", time.Minute)))
	if status != 401 || !strings.Contains(why, "cannot fetch the issuer's JWKS") {
		t.Fatalf("%d %s", status, why)
	}
}

func TestParseJWKSSkipsWeakAndMalformedKeys(t *testing.T) {
	weak, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(map[string]any{"keys": []any{
		rsaJWK(&weak.PublicKey, "weak", "RS256"),
		map[string]any{"kty": "EC", "kid": "off-curve", "crv": "P-256", "x": b64.EncodeToString(make([]byte, 32)), "y": b64.EncodeToString(make([]byte, 32))},
		map[string]any{"kty": "EC", "kid": "bad-crv", "crv": "secp256k1", "x": "AA", "y": "AA"},
	}})
	keys, err := parseJWKS(body)
	if err != nil || len(keys) != 0 {
		t.Fatalf("keys %v, err %v", keys, err)
	}
	if _, err := parseJWKS([]byte(`{"nokeys":1}`)); err == nil {
		t.Fatal("a document without keys was accepted")
	}
}
