//go:build interop16

// The issue-16 scenarios: client_secret_basic, private_key_jwt (PEM and
// PKCS#12 keys) and configuration by issuer URL, against the same issuers.
// They use Config fields the core gains with issue 16, hence the build tag
// until then: run.sh builds with -tags interop16 when
// ZBAUTH_INTEROP_ISSUE16=1.

package interop

import (
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zbauth/zbauth/core"
)

// Clients of interop/keycloak/camunda-platform-realm.json whose
// certificates interop/keycloak/setup.py registers.
const (
	jwtClientID      = "zeebe-jwt"       // client-jwt, RS256
	jwtES256ClientID = "zeebe-jwt-es256" // client-jwt, ES256
	keytoolAlias     = "zeebe-jwt-keytool"
	assertionType    = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
	maxAssertionLife = 5 * time.Minute
)

// TestClientSecretBasic: the id and secret go in the Authorization header,
// each form-encoded first (RFC 6749 §2.3.1), and not in the body. The
// Keycloak client's secret has characters that encoding changes ('+', '%',
// ':', '/', '&', '='), and Keycloak decodes the header's parts, so a header
// made without that encoding is refused; oauth2-mock-server decodes them
// too.
func TestClientSecretBasic(t *testing.T) {
	e := getenv(t)
	t.Parallel()
	id, secret := os.Getenv("ZBAUTH_INTEROP_BASIC_CLIENT_ID"), os.Getenv("ZBAUTH_INTEROP_BASIC_CLIENT_SECRET")
	if id == "" || secret == "" {
		t.Fatal("ZBAUTH_INTEROP_BASIC_CLIENT_ID and _SECRET must be set")
	}
	cl := restSide(t, &e)
	cfg := core.Config{ClientID: id, ClientSecret: secret, Audience: e.audience,
		AuthorizationServerURL: e.tokenURL, TokenAuthMethod: "client_secret_basic"}
	c, rec := newClientConfig(t, e, cl, cfg)
	if _, err := c.Topology(ctx(t)); err != nil {
		t.Fatal(err)
	}
	reqs := rec.requests()
	if len(reqs) != 1 {
		t.Fatalf("token requests %v, want one", reqs)
	}
	r := reqs[0]
	gotID, gotSecret, ok := basicCredentials(r.authorization)
	if !ok || gotID != id || gotSecret != secret {
		t.Errorf("Authorization %q does not carry the form-encoded id and secret", redactBasic(r.authorization))
	}
	if r.form.Has("client_secret") {
		t.Error("the secret is in the body too")
	}
	if r.form.Get("grant_type") != "client_credentials" || r.form.Get("audience") != e.audience {
		t.Errorf("form fields %v", keys(r.form))
	}
	if azp := claims(t, r.accessToken)["azp"]; azp != id {
		t.Errorf("the token's azp is %v, want %s", azp, id)
	}
	t.Logf("%s: a token for %s by client_secret_basic; form fields %v", e.kind, id, keys(r.form))

	cfg.ClientSecret = "wrong-secret"
	c2, _ := newClientConfig(t, e, cl, cfg)
	_, err := c2.Topology(ctx(t))
	var ze *core.Error
	if !errors.As(err, &ze) || ze.Kind != core.KindAuth || ze.Status != 401 || ze.OAuthError != e.wrongSecretError {
		t.Fatalf("a wrong secret: want AUTH 401 %s, got %#v", e.wrongSecretError, err)
	}
	if strings.Contains(err.Error(), "wrong-secret") {
		t.Fatalf("the message leaks the secret: %v", err)
	}
}

// basicCredentials decodes "Basic base64(formenc(id):formenc(secret))".
func basicCredentials(h string) (id, secret string, ok bool) {
	b64, found := strings.CutPrefix(h, "Basic ")
	if !found {
		return "", "", false
	}
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return "", "", false
	}
	rawID, rawSecret, found := strings.Cut(string(raw), ":")
	if !found {
		return "", "", false
	}
	id, err1 := url.QueryUnescape(rawID)
	secret, err2 := url.QueryUnescape(rawSecret)
	return id, secret, found && err1 == nil && err2 == nil
}

// redactBasic shows whether a header is Basic, not its credentials.
func redactBasic(h string) string {
	if scheme, _, ok := strings.Cut(h, " "); ok {
		return scheme + " …"
	}
	return h
}

func keys(v url.Values) []string {
	var ks []string
	for k := range v {
		ks = append(ks, k)
	}
	return ks
}

// jwtParts decodes a JWT's header and claims.
func jwtParts(t *testing.T, tok string) (header, claims map[string]any) {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("the client assertion is not a JWS (%d parts)", len(parts))
	}
	for i, out := range []*map[string]any{&header, &claims} {
		b, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			t.Fatalf("client assertion part %d: %v", i, err)
		}
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("client assertion part %d: %v", i, err)
		}
	}
	return header, claims
}

// certDER reads the first certificate of a PEM file.
func certDER(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "CERTIFICATE" {
		t.Fatalf("%s: no certificate", path)
	}
	return blk.Bytes
}

// TestPrivateKeyJWT: Keycloak's "Signed JWT" client authenticator
// (client-jwt) with the client's registered certificate accepts zbauth's
// RFC 7523 assertion, from PEM keys (PKCS#8, PKCS#1, EC) and from PKCS#12
// files written by OpenSSL and by keytool; it refuses a key it does not
// know. Keycloak itself checks the signature, the algorithm the client is
// configured for, iss/sub, aud, exp and that no jti is used twice.
func TestPrivateKeyJWT(t *testing.T) {
	e := getenv(t)
	keycloakOnly(t, e)
	t.Parallel()
	dir := os.Getenv("ZBAUTH_INTEROP_ASSERTION_DIR")
	if dir == "" {
		t.Fatal("ZBAUTH_INTEROP_ASSERTION_DIR must be set")
	}
	file := func(name string) string { return filepath.Join(dir, name) }
	cl := restSide(t, &e)
	var jtiMu sync.Mutex
	jtis := map[string]bool{}

	for _, tc := range []struct {
		name, clientID, alg, cert string
		cfg                       core.Config
	}{
		{"pem-pkcs8", jwtClientID, "RS256", "cert.pem", core.Config{TokenAuthMethod: "private_key_jwt",
			ClientAssertionKeyPath: file("key.pem"), ClientAssertionCertPath: file("cert.pem"), Scope: keycloakScope}},
		// The method inferred from the key.
		{"pem-pkcs1", jwtClientID, "RS256", "cert.pem", core.Config{
			ClientAssertionKeyPath: file("key-pkcs1.pem"), ClientAssertionCertPath: file("cert.pem")}},
		{"pem-ec", jwtES256ClientID, "ES256", "ec-cert.pem", core.Config{TokenAuthMethod: "private_key_jwt",
			ClientAssertionKeyPath: file("ec-key.pem"), ClientAssertionCertPath: file("ec-cert.pem")}},
		// `openssl pkcs12 -export` defaults: PBES2, AES-256-CBC, SHA-256 MAC.
		{"p12-openssl", jwtClientID, "RS256", "cert.pem", core.Config{
			ClientAssertionKeystorePath: file("openssl.p12"), ClientAssertionKeystorePassword: os.Getenv("ZBAUTH_INTEROP_P12_PASSWORD")}},
		// keytool -importkeystore of it, under another alias and password.
		{"p12-keytool", jwtClientID, "RS256", "cert.pem", core.Config{TokenAuthMethod: "private_key_jwt",
			ClientAssertionKeystorePath: file("keytool.p12"), ClientAssertionKeystorePassword: os.Getenv("ZBAUTH_INTEROP_KEYTOOL_PASSWORD"),
			ClientAssertionKeystoreKeyAlias: keytoolAlias}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			cfg.ClientID, cfg.Audience, cfg.AuthorizationServerURL = tc.clientID, e.audience, e.tokenURL
			c, rec := newClientConfig(t, e, cl, cfg)
			start := time.Now()
			if _, err := c.Topology(ctx(t)); err != nil {
				t.Fatal(err)
			}
			reqs := rec.requests()
			if len(reqs) != 1 || reqs[0].status != 200 {
				t.Fatalf("token requests %v, want one answered 200", reqs)
			}
			r := reqs[0]
			if r.form.Get("grant_type") != "client_credentials" || r.form.Get("client_assertion_type") != assertionType ||
				r.form.Get("client_id") != tc.clientID || r.form.Get("audience") != e.audience {
				t.Errorf("form fields %v", keys(r.form))
			}
			if r.form.Has("client_secret") || r.authorization != "" {
				t.Error("a client secret or an Authorization header was sent along")
			}
			if cfg.Scope != "" {
				if got := scopes(claims(t, r.accessToken)); !strings.Contains(strings.Join(got, " "), cfg.Scope) {
					t.Errorf("the token's scope claim %q lacks %s", got, cfg.Scope)
				}
			}
			if azp := claims(t, r.accessToken)["azp"]; azp != tc.clientID {
				t.Errorf("the token's azp is %v, want %s", azp, tc.clientID)
			}

			h, m := jwtParts(t, r.form.Get("client_assertion"))
			der := certDER(t, file(tc.cert))
			s1, s256 := sha1.Sum(der), sha256.Sum256(der)
			if h["alg"] != tc.alg || h["x5t"] != base64.RawURLEncoding.EncodeToString(s1[:]) ||
				h["x5t#S256"] != base64.RawURLEncoding.EncodeToString(s256[:]) {
				t.Errorf("assertion header %v: want alg %s and the certificate's x5t and x5t#S256", h, tc.alg)
			}
			if m["iss"] != tc.clientID || m["sub"] != tc.clientID || m["aud"] != e.tokenURL {
				t.Errorf("assertion iss %v, sub %v, aud %v: want the client id twice and %s", m["iss"], m["sub"], m["aud"], e.tokenURL)
			}
			iat, nbf, exp := unix(m, "iat"), unix(m, "nbf"), unix(m, "exp")
			if iat.Before(start.Add(-time.Minute)) || nbf.After(start.Add(time.Second)) || !exp.After(time.Now()) ||
				exp.Sub(iat) > maxAssertionLife {
				t.Errorf("assertion iat %v, nbf %v, exp %v (requested at %v)", iat, nbf, exp, r.at)
			}
			jti, _ := m["jti"].(string)
			jtiMu.Lock()
			dup := jtis[jti]
			jtis[jti] = true
			jtiMu.Unlock()
			if len(jti) < 16 || dup {
				t.Errorf("jti %q: want a random one per assertion", jti)
			}
			t.Logf("%s: token for %s; assertion header %v, lifetime %v", tc.name, tc.clientID, h, exp.Sub(iat))
		})
	}

	t.Run("unregistered-key", func(t *testing.T) {
		c, rec := newClientConfig(t, e, cl, core.Config{ClientID: jwtClientID, Audience: e.audience,
			AuthorizationServerURL: e.tokenURL, TokenAuthMethod: "private_key_jwt",
			ClientAssertionKeyPath: file("other-key.pem"), ClientAssertionCertPath: file("other-cert.pem")})
		_, err := c.Topology(ctx(t))
		var ze *core.Error
		// Keycloak: 400 invalid_client, "Signature on JWT token failed validation".
		if !errors.As(err, &ze) || ze.Kind != core.KindAuth || ze.OAuthError != "invalid_client" {
			t.Fatalf("want AUTH invalid_client, got %#v", err)
		}
		if n := len(rec.requests()); n != 1 {
			t.Errorf("%d token requests, want 1", n)
		}
		t.Logf("a key Keycloak does not know: %v", err)
	})

	t.Run("wrong-keystore-password", func(t *testing.T) {
		const wrong = "not-the-keystore-password"
		cfg := core.Config{ClientID: jwtClientID, Audience: e.audience, AuthorizationServerURL: e.tokenURL,
			RESTAddress: cl.RESTAddress(), ClientAssertionKeystorePath: file("openssl.p12"), ClientAssertionKeystorePassword: wrong}
		c, err := core.New(cfg, core.WithLookupEnv(func(string) (string, bool) { return "", false }))
		if err == nil {
			defer c.Close()
			_, err = c.Topology(ctx(t))
		}
		if core.KindOf(err) != core.KindConfig || !strings.Contains(strings.ToLower(err.Error()), "keystore") {
			t.Fatalf("want a configuration error about the keystore, got %v", err)
		}
		if strings.Contains(err.Error(), wrong) {
			t.Fatalf("the message echoes the password: %v", err)
		}
		t.Logf("a wrong keystore password: %v", err)
	})
}

// TestIssuerURL: with only the issuer URL, the token endpoint comes from
// its discovery document, fetched once; Keycloak's lists
// client_secret_post, oauth2-mock-server's neither method, so the secret is
// posted in both cases.
func TestIssuerURL(t *testing.T) {
	e := getenv(t)
	t.Parallel()
	cl := restSide(t, &e)
	c, rec := newClientConfig(t, e, cl, core.Config{ClientID: e.clientID, ClientSecret: e.secret,
		Audience: e.audience, IssuerURL: e.issuer})
	for range 2 {
		if _, err := c.Topology(ctx(t)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.Token(ctx(t)); err != nil {
		t.Fatal(err)
	}
	discovery := "GET " + strings.TrimSuffix(e.issuer, "/") + "/.well-known/openid-configuration"
	urls := rec.urls()
	n := 0
	for _, u := range urls {
		if u == discovery {
			n++
		}
	}
	if n != 1 || len(urls) == 0 || urls[0] != discovery {
		t.Errorf("requests %v: want the discovery document first and once", urls)
	}
	reqs := rec.requests()
	if len(reqs) != 1 || reqs[0].status != 200 || reqs[0].form.Get("client_secret") != e.secret {
		t.Fatalf("token requests to the discovered %s: %v, want one client_secret_post request", e.tokenURL, reqs)
	}
	if st := cl.Stats(); st.APIRequests != 2 || st.APIRejected != 0 {
		t.Errorf("REST side: %+v", st)
	}
	t.Logf("%s: requests %v", e.kind, urls)
}
